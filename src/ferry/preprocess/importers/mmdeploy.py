"""MMDeploy's SDK pipeline: the `pipeline.json` that `tools/deploy.py --dump-info` writes beside end2end.onnx
(or end2end.xml, .engine...), the preprocessing OpenMMLab models (mmdet, mmpretrain, mmseg, mmocr, mmpose) deploy
with.

Semantics read in open-mmlab/mmdeploy:
- mmdeploy/backend/sdk/export_info.py `get_pipeline`: `pipeline.tasks` holds a Transform task ("module":
  "Transform") whose `transforms` list starts with LoadImageFromFile; the codebases' `get_preprocess` insert
  `{"type": "Normalize", "to_rgb": data_preprocessor.bgr_to_rgb, "mean": [...], "std": [...]}` (mmdet,
  mmdet3.x configs) or copy the test pipeline's Normalize.
- csrc/mmdeploy/preprocess/transform/normalize.cpp: `mean`/`std` are required, `to_rgb` defaults to true; the
  image is converted BGR -> RGB first, then (x - mean) / std per channel on 0..255 values (the mean in the
  converted order).
- LoadImageFromFile decodes with OpenCV: BGR, or one channel for `color_type: grayscale`.
Resize (`keep_ratio`, `size`), CenterCrop and Pad are not translated: the model's input shape gives the size,
and mmdet's keep-ratio resize pads the bottom and right, which ferry's centred letterbox is not (noted).
"""

from __future__ import annotations

from typing import Any

from ferry.preprocess.importers._common import (
    Imported,
    _bool,
    _build,
    _channels,
    _fail,
    _json_config,
    _mapping,
    _nonzero,
    _short,
)

_TENSOR_STEPS = ("ImageToTensor", "DefaultFormatBundle", "Collect", "PackDetInputs", "PackClsInputs",
                 "PackSegInputs", "PackTextDetInputs", "PackTextRecogInputs", "PackPoseInputs", "ToTensor",
                 "Transpose", "ImageToTensorSDK")


def _transforms(source: str, cfg: dict) -> list[dict]:
    pipeline = _mapping(source, cfg.get("pipeline"), "pipeline")
    tasks = pipeline.get("tasks")
    if not isinstance(tasks, list):
        raise _fail(source, "pipeline.tasks is missing: not an MMDeploy pipeline.json")
    for task in tasks:
        if isinstance(task, dict) and task.get("module") == "Transform":
            steps = task.get("transforms")
            if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
                raise _fail(source, "the Transform task has no list of transforms")
            return steps
    raise _fail(source, "no Transform task in pipeline.tasks: not an MMDeploy SDK pipeline")


def from_mmdeploy(pipeline: Any) -> Imported:
    """An MMDeploy pipeline.json (path, JSON text or dict) -> the contract its SDK feeds the model."""
    source, pipeline = _json_config(pipeline, "mmdeploy pipeline.json")
    steps = _transforms(source, _mapping(source, pipeline, "an MMDeploy pipeline"))
    notes: list[str] = []
    gray, color = False, "BGR"
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    for step in steps:
        kind = str(step.get("type", ""))
        if kind == "LoadImageFromFile":
            gray = str(step.get("color_type", "color")).lower() in ("grayscale", "gray", "unchanged_gray")
            if str(step.get("channel_order", "bgr")).lower() == "rgb":
                color = "RGB"
        elif kind == "Normalize":
            n = 1 if gray else 3
            if step.get("mean") is None or step.get("std") is None:
                raise _fail(source, "Normalize has no mean or std (MMDeploy's SDK requires both)")
            mean = _channels(source, "Normalize.mean", step["mean"], n)
            std = _nonzero(source, "Normalize.std", _channels(source, "Normalize.std", step["std"], n))
            if not gray and _bool(source, "Normalize.to_rgb", step.get("to_rgb"), True):
                color = "RGB" if color == "BGR" else "BGR"
        elif kind in ("Resize", "CenterCrop", "Pad", "LetterResize", "ResizeEdge"):
            keep = {k: v for k, v in step.items() if k != "type"}
            notes.append(f"{kind} {_short(keep)} is not translated: the model's input shape sets the size"
                         + (", and a keep-ratio resize pads the bottom and right, not both sides"
                            if kind == "Pad" or step.get("keep_ratio") else ""))
        elif kind not in _TENSOR_STEPS:
            notes.append(f"{kind} is not translated")
    if mean is None:
        notes.append("no Normalize step: the model takes 0..255 values as they are")
    n = 1 if gray else 3
    pp = _build(source, color="GRAY" if gray else color, scale=1.0, mean=mean or (0.0,) * n,
                std=std or (1.0,) * n, layout="NCHW")
    return Imported(pp, notes, source)
