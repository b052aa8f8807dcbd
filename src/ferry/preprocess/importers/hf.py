"""Hugging Face `preprocessor_config.json` (transformers' image processors)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ferry.preprocess.importers._common import (
    Imported,
    _bool,
    _build,
    _channels,
    _crop_fraction,
    _fail,
    _json_config,
    _mapping,
    _nonzero,
    _num,
    _pixels,
    _resize,
    _short,
)

# ---- Hugging Face ------------------------------------------------------------------------------------------
# PIL.Image.Resampling values, as stored in preprocessor_config.json's "resample".
_PIL_RESAMPLE = {0: "nearest", 2: "bilinear", 3: "bicubic", 4: "area"}
_PIL_CLOSEST = {1: ("lanczos", "bicubic"), 5: ("hamming", "bilinear")}
_PIL_NAMES = {"nearest": 0, "lanczos": 1, "bilinear": 2, "bicubic": 3, "box": 4, "hamming": 5}
# Processors that call get_size_dict(size, default_to_square=False): an int size is the shortest edge.
_HF_SHORTEST_EDGE_CLASSES = (
    "CLIP",
    "ChineseCLIP",
    "ConvNext",
    "Bit",
    "MobileNetV1",
    "MobileNetV2",
    "MobileViT",
    "Levit",
    "Detr",
    "ConditionalDetr",
    "DeformableDetr",
    "Yolos",
    "DeiT",
    "OwlViT",
)


def _hf_class(cfg: dict) -> str:
    name = cfg.get("image_processor_type") or cfg.get("feature_extractor_type") or ""
    return name if isinstance(name, str) else ""


def from_hf(config: Any) -> Imported:
    """A Hugging Face image processor config (dict, preprocessor_config.json path, or its JSON text).

    Semantics read in huggingface/transformers:
    - image_processing_utils.py `get_size_dict`/`convert_to_size_dict`: an int `size` is {"height", "width"}
      unless the processor passes default_to_square=False (CLIP, ConvNeXT, BiT, MobileNet, DETR...), where it
      is {"shortest_edge"} (plus "longest_edge" from DETR's old `max_size`).
    - models/convnext/image_processing_convnext.py `resize`: shortest_edge < 384 resizes the shorter side to
      int(shortest_edge / crop_pct) and centre-crops shortest_edge square; >= 384 warps to a square.
    - image_transforms.py `resize` (PIL resize) and `center_crop` (offset (H - h) // 2), then `rescale`
      (x * rescale_factor) and `normalize` ((x - mean) / std) on channels-first RGB (`do_convert_rgb`).
    - DETR: shortest/longest edge resize keeps the aspect ratio and pads the batch: the input size varies.
    """
    source, config = _json_config(config, "hf preprocessor_config")
    cfg = _mapping(source, config, "an image processor config")
    notes: list[str] = []
    cls = _hf_class(cfg)

    # -- values
    do_rescale = _bool(source, "do_rescale", cfg.get("do_rescale"), True)
    scale = 1.0
    if do_rescale:
        factor = cfg.get("rescale_factor", 1 / 255)
        scale = _num(source, "rescale_factor", factor)
        if scale == 0:
            raise _fail(
                source, "rescale_factor is 0: it would erase the image; use 1/255 or do_rescale false"
            )
    do_normalize = _bool(source, "do_normalize", cfg.get("do_normalize"), True)
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    if do_normalize:
        if cfg.get("image_mean") is None or cfg.get("image_std") is None:
            raise _fail(
                source,
                "do_normalize is true but image_mean or image_std is missing; copy them from the "
                "processor class defaults into the config",
            )
        mean = _channels(source, "image_mean", cfg["image_mean"], 3)
        std = _nonzero(source, "image_std", _channels(source, "image_std", cfg["image_std"], 3))
    if cfg.get("do_convert_rgb") is not None:
        _bool(source, "do_convert_rgb", cfg.get("do_convert_rgb"), True)

    # -- interpolation
    resample = cfg.get("resample")
    if isinstance(resample, str) and resample.lower() in _PIL_NAMES:
        resample = _PIL_NAMES[resample.lower()]
    if resample is None:
        interpolation = "bilinear"
        notes.append("resample is missing: assumed bilinear (the default differs by processor class)")
    elif isinstance(resample, bool) or not isinstance(resample, int):
        raise _fail(
            source,
            f"resample must be a PIL filter number (0 nearest, 2 bilinear, 3 bicubic), "
            f"got {_short(resample)}",
        )
    elif resample in _PIL_RESAMPLE:
        interpolation = _PIL_RESAMPLE[resample]
    elif resample in _PIL_CLOSEST:
        pil_name, interpolation = _PIL_CLOSEST[resample]
        notes.append(f"resample {resample} is PIL {pil_name}, which ferry has not; using {interpolation}")
    else:
        raise _fail(source, f"resample {resample} is not a PIL filter (0..5)")

    # -- geometry
    do_resize = _bool(source, "do_resize", cfg.get("do_resize"), True)
    size_dict = _hf_size(source, cfg.get("size"), cls, cfg.get("max_size"), notes) if do_resize else None
    do_crop = _bool(source, "do_center_crop", cfg.get("do_center_crop"), False)
    crop = _hf_crop(source, cfg.get("crop_size")) if do_crop else None
    if do_crop and crop is None:
        raise _fail(source, "do_center_crop is true but crop_size is missing; add crop_size {height, width}")

    size: tuple[int, int] | None = None
    mode = "none"
    crop_fraction = 1.0
    if size_dict is None:
        if crop is not None:
            size = crop
            notes.append("a centre crop without a resize: the contract resizes to the crop size instead")
            mode = "stretch"
        else:
            notes.append("do_resize is false: the image is fed at its own size")
    elif "height" in size_dict:
        size = (size_dict["height"], size_dict["width"])
        mode = "stretch"
        if crop is not None and crop != size:
            if crop[0] > size[0] or crop[1] > size[1]:
                raise _fail(
                    source, f"crop_size {crop} is larger than size {size}; HF would pad, ferry cannot"
                )
            crop_fraction = _crop_fraction(crop[0], size[0])
            if math.floor(crop[1] / crop_fraction) != size[1]:
                notes.append(
                    f"HF stretches to {size[0]}x{size[1]} then centre-crops {crop[0]}x{crop[1]}; ferry's crop "
                    f"fraction is one number, so the contract stretches to "
                    f"{size[0]}x{math.floor(crop[1] / crop_fraction)} before the crop"
                )
            size = crop
    elif set(size_dict) == {"shortest_edge"}:
        edge = size_dict["shortest_edge"]
        if cls.startswith("ConvNext"):
            crop_pct = cfg.get("crop_pct")
            crop_pct = 224 / 256 if crop_pct is None else _num(source, "crop_pct", crop_pct)
            if not 0 < crop_pct <= 1:
                raise _fail(source, f"crop_pct must be in (0, 1], got {crop_pct}")
            size = (edge, edge)
            if edge < 384:
                mode, crop_fraction = "shorter_side_crop", crop_pct
                if math.floor(edge / crop_pct) != int(
                    edge / crop_pct
                ):  # pragma: no cover - same for positives
                    notes.append("crop_pct rounding differs from ConvNeXT's int()")
            else:
                mode = "stretch"
        elif crop is not None:
            if crop[0] > edge or crop[1] > edge:
                raise _fail(
                    source,
                    f"crop_size {crop} is larger than shortest_edge {edge}; HF would pad, ferry cannot",
                )
            size, mode = crop, "shorter_side_crop"
            crop_fraction = _crop_fraction(crop[0], edge)
            if crop[0] != crop[1]:
                notes.append(
                    f"a non-square crop {crop} after a shortest-edge resize: ferry's crop fraction "
                    "is taken from the height"
                )
        else:
            notes.append(
                f"shortest_edge {edge} without a crop keeps the aspect ratio, so the input size varies; the "
                "contract feeds the image at its own size (resize it beforehand)"
            )
        if cfg.get("crop_pct") is not None and not cls.startswith("ConvNext"):
            notes.append(f"crop_pct is only understood for ConvNeXT; {cls or 'this processor'}'s is ignored")
    else:
        keys = ", ".join(f"{k} {v}" for k, v in sorted(size_dict.items()))
        notes.append(
            f"size ({keys}) keeps the aspect under a limit, so the input size varies; ferry cannot express "
            "it and the contract feeds the image at its own size"
        )
    if mode == "shorter_side_crop" or crop_fraction < 1.0:
        notes.append(
            "HF centre-crops at (H - h) // 2 and ferry's pil semantics at round((H - h) / 2): an odd "
            "margin shifts the crop by one pixel"
        )
    if _bool(source, "do_pad", cfg.get("do_pad"), False):
        notes.append(
            "do_pad: HF pads images to the largest in the batch (and returns a pixel_mask); not in the "
            "contract"
        )
    if mode != "none":
        notes.append(
            "HF 'fast' (torchvision) processors resize tensors with antialiasing, close to but not "
            "bit-identical with the PIL resize this contract names"
        )

    resize = _resize(
        source, mode=mode, crop_fraction=crop_fraction, interpolation=interpolation, semantics="pil"
    )
    pre = _build(
        source,
        color="RGB",
        size=size,
        resize=resize,
        scale=scale,
        mean=mean,
        std=std,
        layout="NCHW",
        dtype="float32",
    )
    return Imported(pre, notes, source)


def _hf_size(source: str, size: Any, cls: str, max_size: Any, notes: list[str]) -> dict[str, int] | None:
    """HF's get_size_dict, with the processor class deciding what an int means."""
    if size is None:
        raise _fail(
            source, "do_resize is true but size is missing; add size {height, width} or {shortest_edge}"
        )
    if isinstance(size, int | float) and not isinstance(size, bool):
        edge = _pixels(source, "size", size)
        if not cls:
            notes.append(f"size {edge} is an int and the processor class is not named: read as {edge}x{edge}")
        if cls and cls.startswith(_HF_SHORTEST_EDGE_CLASSES):
            out = {"shortest_edge": edge}
            if max_size is not None:
                out["longest_edge"] = _pixels(source, "max_size", max_size)
            return out
        return {"height": edge, "width": edge}
    if isinstance(size, list | tuple):
        if len(size) != 2:
            raise _fail(source, f"size must be [height, width], got {_short(size)}")
        return {"height": _pixels(source, "size[0]", size[0]), "width": _pixels(source, "size[1]", size[1])}
    if not isinstance(size, Mapping):
        raise _fail(source, f"size must be an int or a mapping like {{height, width}}, got {_short(size)}")
    keys = set(size)
    allowed = (
        {"height", "width"},
        {"shortest_edge"},
        {"shortest_edge", "longest_edge"},
        {"longest_edge"},
        {"max_height", "max_width"},
    )
    if keys not in allowed:
        raise _fail(
            source,
            f"size keys {sorted(map(str, keys))} are not one of HF's: height+width, "
            "shortest_edge, shortest_edge+longest_edge, longest_edge, max_height+max_width",
        )
    return {str(k): _pixels(source, f"size.{k}", v) for k, v in size.items()}


def _hf_crop(source: str, crop: Any) -> tuple[int, int] | None:
    if crop is None:
        return None
    if isinstance(crop, int | float) and not isinstance(crop, bool):
        edge = _pixels(source, "crop_size", crop)
        return edge, edge
    if isinstance(crop, list | tuple) and len(crop) == 2:
        return _pixels(source, "crop_size[0]", crop[0]), _pixels(source, "crop_size[1]", crop[1])
    if isinstance(crop, Mapping) and set(crop) == {"height", "width"}:
        return _pixels(source, "crop_size.height", crop["height"]), _pixels(
            source, "crop_size.width", crop["width"]
        )
    raise _fail(source, f"crop_size must be an int or {{height, width}}, got {_short(crop)}")
