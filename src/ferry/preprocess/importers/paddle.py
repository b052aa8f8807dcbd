"""PaddlePaddle's exported inference configs: the `inference.yml` that PaddleOCR, PaddleClas and PaddleX write
beside `inference.pdmodel` / `inference.json` (kept beside the ONNX file paddle2onnx makes of it), and
PaddleDetection's `infer_cfg.yml`.

Semantics read in PaddlePaddle's code:
- PaddleOCR tools/export_model.py `dump_infer_config`: `PreProcess: {transform_ops: <the Eval dataset's
  transforms>}`, a list of one-key mappings (`DecodeImage: {img_mode: BGR}`, `NormalizeImage: {...}`...).
- PaddleOCR ppocr/data/imaug/operators.py `DecodeImage` (img_mode BGR by default, RGB swaps, GRAY one channel) and
  `NormalizeImage`: scale (a number or a string such as "1./255.", default 1/255), mean and std (default
  ImageNet's), (x * scale - mean) / std on the channels as they lie. PaddleClas' `DecodeImage` says `to_rgb`
  (default true) instead of img_mode, and its NormalizeImage reads the same keys.
- PaddleDetection deploy: `infer_cfg.yml` `Preprocess:` a list of `{type: ..., ...}`; NormalizeImage `is_scale`
  (default true: /255 first), `norm_type` (`mean_std` or `none`), mean, std.
The colour order is stated only where a DecodeImage step is (PaddleDetection's file has none: RGB assumed, as its
deploy code decodes); the resize steps
(DetResizeForTest, ResizeImage, CropImage, Resize) are not translated: the model's input shape sets the size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ferry.preprocess.importers._common import (
    Imported,
    _bool,
    _build,
    _channels,
    _fail,
    _looks_like_path,
    _mapping,
    _nonzero,
    _num,
    _read_text,
)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_LAYOUT_STEPS = ("ToCHWImage", "Permute", "KeepKeys", "ToTensor")


def _scale(source: str, value: Any) -> float:
    """A number, or the expression PaddleOCR configs write ("1./255.", "0.00392157")."""
    if isinstance(value, str):
        parts = value.strip().split("/")
        try:
            nums = [float(p) for p in parts]
        except ValueError:
            raise _fail(source, f"NormalizeImage.scale {value!r} is not a number or a/b") from None
        if len(nums) > 2 or (len(nums) == 2 and nums[1] == 0):
            raise _fail(source, f"NormalizeImage.scale {value!r} is not a number or a/b")
        value = nums[0] / nums[1] if len(nums) == 2 else nums[0]
    out = _num(source, "NormalizeImage.scale", value)
    if out == 0:
        raise _fail(source, "NormalizeImage.scale is 0: it would erase the image")
    return out


def _steps(source: str, cfg: dict) -> list[tuple[str, dict]]:
    """(op name, its arguments) in order, from either file's layout."""
    if isinstance(cfg.get("PreProcess"), dict):
        ops = cfg["PreProcess"].get("transform_ops")
        if not isinstance(ops, list):
            raise _fail(source, "PreProcess.transform_ops is not a list")
        out = []
        for op in ops:
            if isinstance(op, str):
                out.append((op, {}))
            elif isinstance(op, dict) and len(op) == 1:
                name, args = next(iter(op.items()))
                out.append((str(name), dict(args) if isinstance(args, dict) else {}))
            else:
                raise _fail(source, f"a transform op must be one name with its arguments, got {op!r}"[:200])
        return out
    if isinstance(cfg.get("Preprocess"), list):
        return [(str(op.get("type", "")), {k: v for k, v in op.items() if k != "type"})
                for op in cfg["Preprocess"] if isinstance(op, dict)]
    raise _fail(source, "neither PreProcess.transform_ops (inference.yml) nor Preprocess (infer_cfg.yml): "
                        "not a PaddlePaddle inference config")


def paddle_config(config: Any) -> tuple[Imported, bool]:
    """The contract, and whether the file states the colour order (a DecodeImage step)."""
    import yaml

    source = "paddle inference config"
    if isinstance(config, Path) or (isinstance(config, str) and _looks_like_path(config)):
        source = str(config)
        config = _read_text(source, Path(config))
    if isinstance(config, str):
        try:
            config = yaml.safe_load(config)
        except yaml.YAMLError as exc:
            raise _fail(source, f"not valid YAML ({str(exc).splitlines()[0] if str(exc) else exc})") from None
    cfg = _mapping(source, config, "a PaddlePaddle inference config")
    steps = _steps(source, cfg)
    notes: list[str] = []
    # PaddleDetection's deploy/python/preprocess.py decode_image converts OpenCV's BGR to RGB; PaddleOCR's and
    # PaddleClas' DecodeImage say their order. Only a DecodeImage step states it.
    color, color_stated = ("RGB" if isinstance(cfg.get("Preprocess"), list) else "BGR"), False
    scale, mean, std = 1.0, None, None
    normalised = False
    for name, args in steps:
        if name == "DecodeImage":
            color_stated = True
            if "img_mode" in args:
                mode = str(args["img_mode"]).upper()
                if mode not in ("BGR", "RGB", "GRAY"):
                    raise _fail(source, f"DecodeImage.img_mode {mode!r} is not BGR, RGB or GRAY")
                color = mode
            else:
                color = "RGB" if _bool(source, "DecodeImage.to_rgb", args.get("to_rgb"), True) else "BGR"
        elif name == "NormalizeImage":
            normalised = True
            n = 1 if color == "GRAY" else 3
            if "is_scale" in args or "norm_type" in args:  # PaddleDetection
                scale = 1 / 255 if _bool(source, "NormalizeImage.is_scale", args.get("is_scale"), True) else 1.0
                if str(args.get("norm_type", "mean_std")) == "none":
                    continue
            else:
                scale = _scale(source, args["scale"]) if args.get("scale") is not None else 1 / 255
            mean_v = args.get("mean") if args.get("mean") is not None else list(IMAGENET_MEAN)
            std_v = args.get("std") if args.get("std") is not None else list(IMAGENET_STD)
            if n == 1 and isinstance(mean_v, list) and len(set(mean_v)) == 1 and isinstance(std_v, list) \
                    and len(set(std_v)) == 1:
                mean_v, std_v = mean_v[:1], std_v[:1]
            mean = _channels(source, "NormalizeImage.mean", mean_v, n)
            std = _nonzero(source, "NormalizeImage.std", _channels(source, "NormalizeImage.std", std_v, n))
        elif name not in _LAYOUT_STEPS:
            notes.append(f"{name} is not translated")
    if not normalised:
        notes.append("no NormalizeImage step: the model takes 0..255 values as they are")
    if not color_stated:
        notes.append(f"no DecodeImage step: the colour order is not stated ({color} assumed)")
    n = 1 if color == "GRAY" else 3
    # Paddle computes (x * scale - mean) / std: ferry's (x * scale - mean) / std is the same contract.
    pp = _build(source, color=color, scale=scale, mean=mean or (0.0,) * n, std=std or (1.0,) * n, layout="NCHW")
    return Imported(pp, notes, source), color_stated


def from_paddle(config: Any) -> Imported:
    """A PaddleOCR / PaddleClas / PaddleX `inference.yml` or a PaddleDetection `infer_cfg.yml` (path, YAML text or
    mapping) -> the contract it states."""
    return paddle_config(config)[0]
