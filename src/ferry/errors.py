"""Errors ferry raises on purpose.

A `FerryError` is the user's problem to fix (a bad file, a bad contract, a missing runtime): the CLI prints its
one-line message and exits 2, without a traceback. Anything else is ferry's bug and keeps its traceback.
"""

from __future__ import annotations


class FerryError(Exception):
    """Bad input or usage: one line that names the file or field and the fix. CLI exit code 2."""


class ContractError(FerryError, ValueError):
    """A preprocessing contract that cannot be right (std of 0, two means for three channels, ...)."""


class MissingRuntime(FerryError, ImportError):
    """An optional runtime is not installed; the message names the extra to install."""


def require(module: str, extra: str):
    """Import an optional heavy dependency, or raise `MissingRuntime` naming the ferry extra that brings it."""
    import importlib
    import sys

    loaded = sys.modules.get(module)
    if loaded is not None:  # None in sys.modules is Python's mark for "blocked": import_module raises below
        return loaded
    from ferry.runtimes.quiet import quiet_load

    try:
        with quiet_load():  # TensorFlow's C++ import chatter (oneDNN, absl) is not the answer: runtimes/quiet.py
            return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingRuntime(
            f"{module} is not installed: pip install 'ferry[{extra}]' ({exc.__class__.__name__}: {exc})"
        ) from exc


# A check row whose runtime loaded the target and then failed to run it: its error says so (ferry.check), and the
# tables say "loads, fails to run" rather than "cannot load" (ferry.report.terminal).
RUN_FAILED = "it loaded, then failed to run"
