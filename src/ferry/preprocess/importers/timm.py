"""timm's `pretrained_cfg` (timm/data/config.py resolve_data_config, transforms_factory.py)."""

from __future__ import annotations

from typing import Any

from ferry.preprocess.importers._common import (
    Imported,
    _build,
    _channels,
    _fail,
    _mapping,
    _nonzero,
    _num,
    _pixels,
    _resize,
    _short,
)
from ferry.preprocess.presets import IMAGENET_MEAN, IMAGENET_STD

# ---- timm --------------------------------------------------------------------------------------------------
_TIMM_DEFAULT_CROP_PCT = 0.875  # timm/data/constants.py DEFAULT_CROP_PCT
_TIMM_INTERP = {"nearest": "nearest", "bilinear": "bilinear", "bicubic": "bicubic", "box": "area"}
_TIMM_CLOSEST = {"lanczos": "bicubic", "hamming": "bilinear", "random": "bilinear"}


def from_timm(pretrained_cfg: Any, use_test_size: bool = False) -> Imported:
    """timm's `pretrained_cfg` (or the `resolve_data_config` dict) -> the evaluation transform as a contract.

    Semantics read in huggingface/pytorch-image-models:
    - timm/data/config.py `resolve_data_config`: defaults input_size (3, 224, 224), interpolation 'bicubic',
      IMAGENET_DEFAULT_MEAN/STD, crop_pct DEFAULT_CROP_PCT (0.875), crop_mode 'center'; `use_test_size` takes
      test_input_size / test_crop_pct; a mean/std of one value is repeated for every channel.
    - timm/data/transforms_factory.py `transforms_imagenet_eval`: scale_size = floor(size / crop_pct);
      'center' = torchvision Resize(shorter side to scale_size) + CenterCrop (for a non-square size it uses
      `ResizeKeepRatio(scale_size)`, whose interpolation defaults to bilinear whatever the config says);
      'squash' = Resize to scale_size both sides + CenterCrop; 'border' = ResizeKeepRatio(longest) +
      CenterCropOrPad filled with round(255 * mean); then ToTensor (x / 255) and Normalize(mean, std).
    timm runs torchvision on PIL images, hence semantics "pil", RGB, NCHW.
    """
    source = "timm pretrained_cfg"
    cfg = _mapping(source, pretrained_cfg, "the pretrained_cfg")
    notes: list[str] = []

    size_key, crop_key = ("input_size", "crop_pct")
    if use_test_size and cfg.get("test_input_size") is not None:
        size_key = "test_input_size"
    if use_test_size and cfg.get("test_crop_pct"):
        crop_key = "test_crop_pct"
    if not use_test_size and cfg.get("test_input_size") is not None:
        notes.append(
            f"timm also names a test size {cfg.get('test_input_size')!r} (test_crop_pct "
            f"{cfg.get('test_crop_pct')!r}); the contract uses input_size (use_test_size=True: the other)"
        )

    input_size = cfg.get(size_key)
    if input_size is None:
        input_size = (3, 224, 224)
        notes.append("input_size is missing: assumed (3, 224, 224), timm's default")
    if not isinstance(input_size, list | tuple) or len(input_size) != 3:
        raise _fail(source, f"{size_key} must be [channels, height, width], got {_short(input_size)}")
    chans = _pixels(source, f"{size_key}[0]", input_size[0])
    height = _pixels(source, f"{size_key}[1]", input_size[1])
    width = _pixels(source, f"{size_key}[2]", input_size[2])
    if chans not in (1, 3):
        raise _fail(source, f"{size_key} has {chans} channels; ferry contracts take 1 (gray) or 3 (colour)")
    color = "RGB" if chans == 3 else "GRAY"
    if chans == 1:
        notes.append(
            "a 1-channel timm model: timm's eval transform does not convert to gray itself; assumed gray"
        )

    interp_name = cfg.get("interpolation") or "bicubic"
    if not isinstance(interp_name, str):
        raise _fail(source, f"interpolation must be a name like 'bicubic', got {_short(interp_name)}")
    interp_name = interp_name.lower()
    if interp_name in _TIMM_INTERP:
        interpolation = _TIMM_INTERP[interp_name]
    elif interp_name in _TIMM_CLOSEST:
        interpolation = _TIMM_CLOSEST[interp_name]
        notes.append(f"interpolation {interp_name!r} has no ferry equivalent; using {interpolation!r}")
    else:
        raise _fail(
            source, f"unknown interpolation {interp_name!r}; timm names nearest, bilinear, bicubic, box"
        )

    mean = _channels(source, "mean", cfg.get("mean") or IMAGENET_MEAN, chans)
    std = _nonzero(source, "std", _channels(source, "std", cfg.get("std") or IMAGENET_STD, chans))

    crop_pct_raw = cfg.get(crop_key) or _TIMM_DEFAULT_CROP_PCT
    crop_pct = _num(source, crop_key, crop_pct_raw)
    if crop_pct <= 0:
        raise _fail(source, f"{crop_key} must be above 0, got {crop_pct}")
    if crop_pct > 1:
        notes.append(
            f"{crop_key} {crop_pct} > 1 makes timm pad the resized image; ferry crops at 1.0 instead"
        )
        crop_pct = 1.0

    crop_mode = cfg.get("crop_mode") or "center"
    if crop_mode == "center":
        if height != width and interpolation != "bilinear":
            notes.append(
                f"non-square size: timm's ResizeKeepRatio ignores interpolation {interpolation!r}, resizes "
                "bilinear; the contract says bilinear too"
            )
            interpolation = "bilinear"
        resize = _resize(
            source,
            mode="shorter_side_crop",
            crop_fraction=crop_pct,
            interpolation=interpolation,
            semantics="pil",
        )
    elif crop_mode == "squash":
        # timm: Resize((floor(h / crop_pct), floor(w / crop_pct))) then CenterCrop, as ferry's stretch with a
        # crop fraction.
        resize = _resize(
            source, mode="stretch", crop_fraction=crop_pct, interpolation=interpolation, semantics="pil"
        )
    elif crop_mode == "border":
        fills = [min(255, max(0, round(255 * m))) for m in mean]
        pad = float(round(sum(fills) / len(fills)))
        if len(set(fills)) > 1:
            notes.append(f"timm pads 'border' with the mean colour {fills}; ferry pads one value, {pad:g}")
        notes.append(
            "crop_mode 'border' resizes the longer side and pads (timm ResizeKeepRatio + CenterCropOrPad); "
            "imported as letterbox, whose rounding of the resized size can differ by a pixel"
            + (f", and crop_pct {crop_pct} (a further centre crop) is dropped" if crop_pct < 1.0 else "")
        )
        resize = _resize(
            source, mode="letterbox", pad_value=pad, interpolation=interpolation, semantics="pil"
        )
    else:
        raise _fail(source, f"unknown crop_mode {_short(crop_mode)}; timm knows center, squash and border")

    pre = _build(
        source,
        color=color,
        size=(height, width),
        resize=resize,
        scale=1 / 255,
        mean=mean,
        std=std,
        layout="NCHW",
        dtype="float32",
    )
    return Imported(pre, notes, source)
