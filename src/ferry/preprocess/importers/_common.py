"""Shared by every importer: the `Imported` result and the validation that turns bad values into one-line errors."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ferry.errors import ContractError
from ferry.preprocess.contract import Preprocess, Resize

_MAX_TEXT = 10_000_000  # a config file bigger than this is not a config file


@dataclass(frozen=True)
class Imported:
    """An imported contract, what was lost or assumed on the way (`notes`), and where it came from."""

    preprocess: Preprocess
    notes: list[str] = field(default_factory=list)
    source: str = ""

    @property
    def exact(self) -> bool:
        """True when nothing was lost or assumed."""
        return not self.notes


# ---- shared validation -------------------------------------------------------------------------------------
def _fail(source: str, message: str) -> ContractError:
    """One line, whatever the source name holds (a config's text can stand where a path was expected)."""
    name = source if source.isprintable() and len(source) <= 200 else repr(source[:200])
    return ContractError(f"{name}: {message}".replace("\n", " "))


def _num(source: str, name: str, value: Any) -> float:
    """A finite number. Strings are not numbers here: configs that quote numbers are handled by the caller."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(source, f"{name} must be a number, got {_short(value)}")
    try:
        out = float(value)
    except OverflowError:
        raise _fail(
            source, f"{name} is too large to be a number of pixels or a scale: {_short(value)}"
        ) from None
    if not math.isfinite(out):
        raise _fail(source, f"{name} must be finite, got {out}")
    return out


def _pixels(source: str, name: str, value: Any) -> int:
    """A positive whole number of pixels ferry accepts (the contract's own limit is 16384)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(source, f"{name} must be a whole number of pixels, got {_short(value)}")
    if isinstance(value, float) and (not math.isfinite(value) or value != int(value)):
        raise _fail(source, f"{name} must be a whole number of pixels, got {_short(value)}")
    if not 1 <= value <= 16384:
        raise _fail(source, f"{name} must be between 1 and 16384 pixels, got {_short(value)}")
    return int(value)


def _channels(source: str, name: str, value: Any, n: int) -> tuple[float, ...]:
    """One number per channel; a single number (or a list of one) means the same for every channel."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (_num(source, name, value),) * n
    if not isinstance(value, list | tuple):
        raise _fail(source, f"{name} must be a number or a list of {n} numbers, got {_short(value)}")
    if len(value) == 1:
        return (_num(source, f"{name}[0]", value[0]),) * n
    if len(value) != n:
        raise _fail(source, f"{name} has {len(value)} values for {n} channel{'s' if n > 1 else ''}")
    return tuple(_num(source, f"{name}[{i}]", v) for i, v in enumerate(value))


def _nonzero(source: str, name: str, values: tuple[float, ...]) -> tuple[float, ...]:
    for i, v in enumerate(values):
        if v == 0:
            raise _fail(source, f"{name}[{i}] is 0: dividing by it gives infinity; use 1 for no division")
    return values


def _bool(source: str, name: str, value: Any, default: bool) -> bool:
    """Configs spell booleans as true/false, "True"/"False", "YES"/"NO" or 1/0."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "y", "1", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "no", "n", "0", "off"):
        return False
    raise _fail(source, f"{name} must be true or false, got {_short(value)}")


def _mapping(source: str, value: Any, what: str) -> dict:
    if not isinstance(value, Mapping):
        raise _fail(source, f"{what} must be a mapping of keys, got {type(value).__name__}")
    return dict(value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _build(source: str, **kwargs: Any) -> Preprocess:
    """Construct the contract, with every failure as one ContractError naming the source.

    The importers validate their numbers before this point; the broad except is a second line that keeps any
    future contract.py validation gap from escaping as a traceback.
    """
    try:
        return Preprocess(**kwargs)
    except ContractError as exc:
        raise _fail(source, str(exc)) from None
    except (ArithmeticError, ValueError, TypeError) as exc:  # pragma: no cover - defensive
        raise _fail(source, f"not a valid contract ({type(exc).__name__}: {exc})") from None


def _resize(source: str, **kwargs: Any) -> Resize:
    try:
        return Resize(**kwargs)
    except ContractError as exc:
        raise _fail(source, str(exc)) from None
    except (ArithmeticError, ValueError, TypeError) as exc:  # pragma: no cover - defensive
        raise _fail(source, f"not a valid resize ({type(exc).__name__}: {exc})") from None


def _crop_fraction(crop: int, resized: int) -> float:
    """crop / resized, nudged (only when needed) so that floor(crop / fraction) == resized, which is how both
    timm and ferry's reference recover the resize size from the fraction."""
    cf = crop / resized
    if cf >= 1.0:
        return 1.0
    if math.floor(crop / cf) != resized:
        cf = crop / (resized + 0.5)
    return cf


def _read_text(source: str, path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > _MAX_TEXT:
            raise _fail(source, f"a file of {size} bytes is not a preprocessing config")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _fail(source, "no such file; give the path of the config or its contents") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise _fail(
            source, f"cannot read it ({type(exc).__name__}); give a readable UTF-8 text file"
        ) from None


def _json_config(config: Any, source: str) -> tuple[str, Any]:
    """(source name, parsed value) for a config given as a path, JSON text or an already parsed value."""
    import json

    if isinstance(config, str | Path) and not (isinstance(config, str) and config.lstrip().startswith("{")):
        source = str(config)
        text: str | None = _read_text(source, Path(config))
    elif isinstance(config, str):
        text = config
    else:
        return source, config
    try:
        return source, json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise _fail(source, f"not valid JSON ({str(exc).splitlines()[0] if str(exc) else exc})") from None


def _looks_like_path(text: str) -> bool:
    """A short one-line string naming an existing file (or a config file name) is a path, else text."""
    if "\n" in text or len(text) > 4096 or "\x00" in text:
        return False
    try:
        p = Path(text)
        return p.is_file() or p.suffix.lower() in (".json", ".yml", ".yaml", ".binaryproto")
    except (OSError, ValueError):
        return False
