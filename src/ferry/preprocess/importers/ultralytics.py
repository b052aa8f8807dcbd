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


def is_yolov5_metadata(metadata: Any) -> bool:
    """Metadata keys exactly `stride` and `names`: what ultralytics/yolov5's export.py (and yolov3's, YOLOv9's)
    writes, `d = {"stride": int(max(model.stride)), "names": model.names}`, and nothing else does."""
    return isinstance(metadata, dict) and set(metadata) == {"stride", "names"}


def from_yolov5(metadata: Any) -> Imported:
    """The contract of a YOLOv5-family ONNX export (ultralytics/yolov5 and yolov3 export.py, YOLOv9's, and the
    repositories copied from them): `metadata_props` holds exactly `stride` (a number) and `names` (a dict or list of
    class names), no `author`. Their detect.py feeds RGB, /255, letterboxed with pad 114 and centred
    (utils/augmentations.py letterbox, `dw /= 2`), NCHW; the size is the model's input."""
    import ast

    source = "YOLOv5-family metadata"
    meta = _mapping(source, metadata, "metadata")
    if not is_yolov5_metadata(meta):
        raise _fail(source, f"keys {sorted(meta)} are not exactly stride and names: not a YOLOv5-family export")
    try:
        stride = ast.literal_eval(meta["stride"]) if isinstance(meta["stride"], str) else meta["stride"]
        names = ast.literal_eval(meta["names"]) if isinstance(meta["names"], str) else meta["names"]
    except (ValueError, SyntaxError):
        raise _fail(source, "stride or names does not parse: not a YOLOv5-family export") from None
    if isinstance(stride, bool) or not isinstance(stride, int | float) or not isinstance(names, dict | list) \
            or not names:
        raise _fail(source, "stride is not a number or names not a list of classes: not a YOLOv5-family export")
    pp = _build(source, color="RGB", scale=1 / 255, layout="NCHW",
                resize=_resize(source, mode="letterbox", pad_value=114.0, interpolation="bilinear",
                               semantics="opencv"))
    return Imported(pp, ["the size is the model's input (the metadata does not state it)"], source)


def ultralytics_names(metadata: Any) -> list[str] | None:
    """The class names an Ultralytics or YOLOv5-family export records (`names`: "{0: 'person', 1: 'bicycle', ...}"),
    in index order, or None when there are none or they do not parse."""
    import ast

    if not isinstance(metadata, dict):
        return None
    if "ultralytics" not in str(metadata.get("author", "")).lower() and not is_yolov5_metadata(metadata):
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
