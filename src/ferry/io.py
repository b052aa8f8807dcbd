"""Atomic writes (a file ferry writes is either the old one or the complete new one, never half) and the one JSON
serialiser every command's --json goes through."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ferry.errors import FerryError


def sha256_file(path: str | Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks (photos, models, reference outputs)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _tmp_beside(dest: Path, suffix: str = ".tmp") -> Path:
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=suffix, dir=dest.parent)
    except OSError as exc:
        raise FerryError(f"{dest.parent}: cannot write here ({exc.strerror}); choose a writable output path") from None
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(name, 0o666 & ~umask)  # mkstemp makes 0600; the file ferry writes is an ordinary file
    return Path(name)


def atomic_write_bytes(dest: str | Path, data: bytes) -> None:
    atomic_write_with(Path(dest), lambda tmp: tmp.write_bytes(data))


def atomic_write_text(dest: str | Path, text: str) -> None:
    atomic_write_with(Path(dest), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_with(dest: Path, write: Callable[[Path], object], suffix: str = ".tmp") -> None:
    """Call write(tmp) on a temporary file beside `dest`, then rename it over `dest` in one step."""
    tmp = _tmp_beside(dest, suffix)
    try:
        write(tmp)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_files(dests: list[Path], write: Callable[[list[Path]], object]) -> None:
    """Several files that belong together (an OpenVINO .xml and .bin): all written to temporaries first, then
    renamed one after the other. The suffixes are kept because some writers infer the format from them."""
    tmps = [_tmp_beside(d, d.suffix) for d in dests]
    try:
        write(tmps)
        for tmp, dest in zip(tmps, dests, strict=True):
            os.replace(tmp, dest)
    except BaseException:
        for tmp in tmps:
            tmp.unlink(missing_ok=True)
        raise


def replace_dir(built: Path, dest: Path) -> None:
    """Rename the finished folder `built` (an .mlpackage) to `dest`. A folder cannot be renamed over another in one
    step, so an existing `dest` is first moved aside beside it and deleted once the new one is in place: at every
    moment `dest` is either the old folder, absent for an instant, or the new one, never half written."""
    import shutil

    aside = None
    if dest.exists():
        aside = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        os.replace(dest, aside)
    os.replace(built, dest)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


def _plain(obj: Any) -> Any:
    """numpy scalars and arrays, paths, sets and dataclass-like objects as JSON values; NaN and Inf as null."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [_plain(v) for v in obj]
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "to_dict"):
        return _plain(obj.to_dict())
    return obj


def to_json(obj: Any, indent: int | None = 2) -> str:
    """The one serialiser behind every command's --json: it knows numpy scalars and arrays (a numpy bool from a
    comparison crashed `json.dumps` in `ferry doctor --json`), and writes NaN/Inf as null so the output parses
    with strict JSON readers."""
    return json.dumps(_plain(obj), indent=indent, allow_nan=False)
