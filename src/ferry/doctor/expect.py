"""Photos with known answers: the mode between label-free and a reference.

A handful of labelled photos settles what label-free evidence cannot (colour order on a folded model, range on a
model without BatchNorm). Two ways to give them:
- `--expect FILE`: YAML or JSON mapping a photo's file name to its class, as an index or, with `--labels`, a name;
- `--images DIR` laid out as torchvision's ImageFolder (one folder per class), with `--labels` to map the folder
  names to the model's class indices (folders named by index need none).
"""

from __future__ import annotations

from pathlib import Path

from ferry.errors import FerryError


def _index(value, labels: list[str] | None, where: str) -> int:
    if isinstance(value, bool):
        raise FerryError(f"{where}: {value!r} is not a class")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    if labels is None:
        raise FerryError(f"{where}: class {text!r} is a name; pass --labels FILE to map names to indices")
    stripped = [n.strip() for n in labels]
    if text not in stripped:
        close = [n for n in stripped if text.lower() in n.lower()][:3]
        raise FerryError(f"{where}: class {text!r} is not in the labels" + (f" (close: {close})" if close else ""))
    return stripped.index(text)


def load_expect(path: str | Path, labels: list[str] | None) -> dict[str, int]:
    """photo file name -> class index, from a YAML or JSON file."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise FerryError(f"{p}: no such --expect file; give YAML or JSON mapping photo file names to classes")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise FerryError(f"{p}: not YAML/JSON ({type(exc).__name__}); write `photo.jpg: 281` one a line") from None
    if not isinstance(data, dict) or not data:
        raise FerryError(f"{p}: --expect must map photo file names to classes, e.g. `cat.jpg: 281`")
    return {Path(str(k)).name: _index(v, labels, f"{p} ({k})") for k, v in data.items()}


def is_image_folder(paths: list[str | Path]) -> bool:
    """One directory whose entries are class folders of photos (no photos of its own)."""
    if len(paths) != 1 or not Path(paths[0]).is_dir():
        return False
    entries = list(Path(paths[0]).iterdir())
    return bool(entries) and all(e.is_dir() for e in entries if not e.name.startswith("."))


def image_folder(root: str | Path, labels: list[str] | None) -> tuple[list[Path], list[str], dict[str, int]]:
    """(photo files, their keys "class/file", key -> class index) of an ImageFolder tree."""
    from ferry.images import IMAGE_SUFFIXES

    files, keys, expect = [], [], {}
    for folder in sorted(d for d in Path(root).iterdir() if d.is_dir() and not d.name.startswith(".")):
        cls = _index(folder.name, labels, f"{root}/{folder.name}")
        for f in sorted(folder.iterdir()):
            if f.suffix.lower() in IMAGE_SUFFIXES:
                key = f"{folder.name}/{f.name}"
                files.append(f)
                keys.append(key)
                expect[key] = cls
    if not files:
        raise FerryError(f"{root}: an ImageFolder with no photos in its class folders")
    return files, keys, expect
