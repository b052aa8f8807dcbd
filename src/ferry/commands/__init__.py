"""One module per command. Each has `add_parser(sub)` (its flags) and `run(args) -> int` (its exit code).

The CLI imports only the command being run, so `ferry inspect` never pays for what `ferry convert` imports.
To add a command: write ferry/commands/<name>.py and list it in COMMANDS (the order is the --help order).
"""

from __future__ import annotations

import argparse
import importlib
from types import ModuleType

from ferry.errors import FerryError

EXIT_PASS, EXIT_DIFF, EXIT_BAD = 0, 1, 2

COMMANDS = ["inspect", "check", "convert", "native", "embed", "show", "doctor", "bench"]


def command_module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"ferry.commands.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"ferry.commands.{name}":
            return None  # not built yet
        raise


def tolerances(values: list[str] | None, flag: str) -> dict[str, float]:
    """--atol 1e-3 (every output) or --atol NAME:1e-3 (one output)."""
    out: dict[str, float] = {}
    for v in values or []:
        name, _, num = v.rpartition(":")
        try:
            out[name or "*"] = float(num)
        except ValueError:
            raise FerryError(f"{flag} {v!r}: give a number or NAME:NUMBER") from None
    return out


def split_list(value: str | None) -> list[str] | None:
    """'a,b, c' -> ['a', 'b', 'c']; None stays None."""
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
