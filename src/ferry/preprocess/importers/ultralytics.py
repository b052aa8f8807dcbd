"""Ultralytics YOLO exports' metadata (`author`, `imgsz`, `names`)."""

from __future__ import annotations

from typing import Any

from ferry.preprocess.importers._common import Imported, _build, _fail, _mapping, _pixels, _resize, _short


# ---- Ultralytics YOLO exports ---------------------------------------------------------------------------------
def from_ultralytics(metadata: Any) -> Imported:
    """The contract an Ultralytics export states in its metadata (ONNX `metadata_props`, the OpenVINO/TFLite
    `metadata.yaml`): `author` names Ultralytics, `imgsz` is "[h, w]" (or one number). Ultralytics' predictor feeds
    RGB, /255, no mean/std, letterboxed to imgsz with pad 114 (ultralytics/data/augment.py LetterBox, centred), NCHW.
    `task`, `stride` and `names` are read by the task and label code, not here."""
    import ast

    source = "Ultralytics metadata"
    meta = _mapping(source, metadata, "metadata")
    if "ultralytics" not in str(meta.get("author", "")).lower():
        raise _fail(source, "author does not name Ultralytics; this is not an Ultralytics export")
    raw = meta.get("imgsz")
    try:
        imgsz = ast.literal_eval(raw) if isinstance(raw, str) else raw
    except (ValueError, SyntaxError):
        raise _fail(source, f"imgsz {_short(raw)} is not a size like [640, 640]") from None
    if isinstance(imgsz, int | float) and not isinstance(imgsz, bool):
        imgsz = [imgsz, imgsz]
    size = None
    notes: list[str] = []
    if isinstance(imgsz, list | tuple) and len(imgsz) == 2:
        size = (_pixels(source, "imgsz[0]", imgsz[0]), _pixels(source, "imgsz[1]", imgsz[1]))
    else:
        notes.append("imgsz missing or not [h, w]: the size is taken from the model's input")
    pp = _build(source, color="RGB", size=size, scale=1 / 255, layout="NCHW",
                resize=_resize(source, mode="letterbox", pad_value=114.0, interpolation="bilinear",
                               semantics="opencv"))
    return Imported(pp, notes, source)


def ultralytics_names(metadata: Any) -> list[str] | None:
    """The class names an Ultralytics export records (`names`: "{0: 'person', 1: 'bicycle', ...}"), in index order,
    or None when there are none or they do not parse."""
    import ast

    if not isinstance(metadata, dict) or "ultralytics" not in str(metadata.get("author", "")).lower():
        return None
    raw = metadata.get("names")
    try:
        names = ast.literal_eval(raw) if isinstance(raw, str) else raw
    except (ValueError, SyntaxError):
        return None
    if isinstance(names, dict) and names and all(isinstance(k, int) and k >= 0 for k in names):
        out = [""] * (max(names) + 1)
        for k, v in names.items():
            out[k] = str(v)
        return out
    if isinstance(names, list | tuple) and names:
        return [str(v) for v in names]
    return None
