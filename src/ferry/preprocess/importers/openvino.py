"""OpenVINO Model API `rt_info['model_info']`, both ways."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ferry.preprocess.contract import Preprocess
from ferry.preprocess.importers._common import (
    Imported,
    _bool,
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

# ---- OpenVINO Model API rt_info ----------------------------------------------------------------------------
_MODEL_API_RESIZE = {
    "standard": "stretch",
    "fit_to_window": "letterbox",
    "fit_to_window_letterbox": "letterbox",
    "crop": "shorter_side_crop",
}


def _plain(value: Any) -> Any:
    """openvino's rt_info gives OVAny objects; everything else passes through."""
    if value is None or isinstance(value, str | int | float | bool | list | tuple | Mapping):
        return value
    if callable(getattr(value, "items", None)):  # openvino RTMap: a mapping that is not a Mapping
        try:
            return dict(value.items())
        except (TypeError, ValueError):
            return str(value)
    inner = getattr(value, "value", None)
    if inner is not None:
        return inner
    return str(value)


def _ov_values(source: str, name: str, value: Any) -> list[float]:
    """mean_values / scale_values: "123.675 116.28 103.53" (Model API ListValue), commas, or a list."""
    value = _plain(value)
    if value is None or value == "" or value == []:
        return []
    if isinstance(value, str):
        parts = [p for p in re.split(r"[\s,]+", value.strip().strip("[]()")) if p]
        try:
            return [_num(source, name, float(p)) for p in parts]
        except ValueError:
            raise _fail(source, f"{name} must be numbers separated by spaces, got {_short(value)}") from None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [_num(source, name, value)]
    if isinstance(value, list | tuple):
        out = []
        for i, v in enumerate(value):
            v = _plain(v)
            if isinstance(v, str):
                try:
                    v = float(v)
                except ValueError:
                    raise _fail(source, f"{name}[{i}] must be a number, got {_short(v)}") from None
            out.append(_num(source, f"{name}[{i}]", v))
        return out
    raise _fail(source, f"{name} must be numbers separated by spaces, got {_short(value)}")


def _ov_int(source: str, name: str, value: Any) -> int:
    value = _plain(value)
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise _fail(source, f"{name} must be a whole number, got {_short(value)}") from None
    return _pixels(source, name, value)


def from_openvino_rt_info(model_info: Any) -> Imported:
    """The OpenVINO Model API keys of an IR's rt_info['model_info'] (or the whole rt_info) -> a contract.

    Semantics read in openvinotoolkit/model_api model_api/python/model_api/models/image_model.py (parameters
    mean_values, scale_values, reverse_input_channels, resize_type, pad_value, orig_height/orig_width,
    embedded_processing) and adapters/utils.py: `InputTransform` does BGR2RGB when reverse_input_channels,
    then (x - mean_values) / scale_values on 0..255 pixels, so the model takes BGR unless reverse is set and
    the values are in the model's channel order; RESIZE_TYPES: standard = cv2.resize stretch, fit_to_window =
    keep aspect and pad right/bottom, fit_to_window_letterbox = keep aspect, round() the size, pad centred,
    crop = centre-crop to the aspect ratio then resize; interpolation LINEAR.
    """
    source = "openvino rt_info model_info"
    info = _plain(model_info)
    if isinstance(info, Mapping) and "model_info" in info:
        info = _plain(info["model_info"])
    info = _mapping(source, info, "model_info")
    info = {str(k): _plain(v) for k, v in info.items()}
    notes: list[str] = []

    reverse = _bool(source, "reverse_input_channels", info.get("reverse_input_channels"), False)
    color = "RGB" if reverse else "BGR"
    mean = _ov_values(source, "mean_values", info.get("mean_values")) or [0.0]
    std = _ov_values(source, "scale_values", info.get("scale_values")) or [1.0]
    mean_t = _channels(source, "mean_values", mean, 3)
    std_t = _nonzero(source, "scale_values", _channels(source, "scale_values", std, 3))

    resize_type = info.get("resize_type") or "standard"
    if not isinstance(resize_type, str) or resize_type not in _MODEL_API_RESIZE:
        raise _fail(source, f"resize_type {_short(resize_type)} is not one of {', '.join(_MODEL_API_RESIZE)}")
    pad = info.get("pad_value")
    pad_list = [] if pad is None else _ov_values(source, "pad_value", pad)
    if len(pad_list) > 1 or (pad_list and (pad_list[0] != int(pad_list[0]) or not 0 <= pad_list[0] <= 255)):
        raise _fail(source, f"pad_value must be one whole number 0..255, got {_short(pad)}")
    pad_value = int(pad_list[0]) if pad_list else 0
    if resize_type == "fit_to_window":
        notes.append("resize_type fit_to_window pads right and bottom; ferry's letterbox pads centred")
    elif resize_type == "fit_to_window_letterbox":
        notes.append("Model API rounds the letterboxed size (round()), ferry truncates: a pixel may differ")
    elif resize_type == "crop":
        notes.append(
            "resize_type crop centre-crops to the aspect ratio then resizes; ferry resizes then crops "
            "(the same region, resampled in the other order)"
        )
    resize = _resize(
        source,
        mode=_MODEL_API_RESIZE[resize_type],
        pad_value=float(pad_value) if resize_type.startswith("fit_to_window") else 0.0,
        interpolation="bilinear",
        semantics="opencv",
    )

    size = None
    if info.get("orig_height") is not None and info.get("orig_width") is not None:
        size = (
            _ov_int(source, "orig_height", info["orig_height"]),
            _ov_int(source, "orig_width", info["orig_width"]),
        )
    layout = info.get("layout")
    if layout is not None:
        text = str(layout).strip().strip("[]").replace(",", "").upper()
        text = text.rsplit(":", 1)[-1]
        if text not in ("NCHW", "NHWC"):
            raise _fail(source, f"layout {_short(layout)} must be NCHW or NHWC")
        layout = text
    if _bool(source, "embedded_processing", info.get("embedded_processing"), False):
        notes.append(
            "embedded_processing is true: the IR already does this preprocessing; the contract "
            "describes it, the host feeds raw uint8 images"
        )
    pre = _build(
        source,
        color=color,
        size=size,
        resize=resize,
        scale=1.0,
        mean=mean_t,
        std=std_t,
        layout=layout,
        dtype="float32",
    )
    return Imported(pre, notes, source)


def _fmt(value: float) -> str:
    text = f"{value:.9g}"
    return text if text not in ("-0",) else "0"


def to_openvino_rt_info(preprocess: Preprocess) -> dict[str, str]:
    """The Model API rt_info['model_info'] keys (all strings, as rt_info stores them) for a contract.

    mean_values = mean / scale and scale_values = std / scale, since (x * scale - mean) / std equals
    (x - mean / scale) / (std / scale). A contract the Model API cannot state raises ContractError naming the
    field: gray input, a crop fraction below 1, a non-bilinear or PIL resize, a non-integer pad value.
    `resize.mode: none` is written as "standard" (a no-op when the image already has the model's size).
    """
    source = "to_openvino_rt_info"
    if not isinstance(preprocess, Preprocess):
        raise _fail(source, f"give a Preprocess, got {type(preprocess).__name__}")
    p = preprocess
    if p.color == "GRAY":
        raise _fail(
            source, "color GRAY: the Model API only reverses channels; convert to gray before the model"
        )
    r = p.resize
    if r.semantics != "opencv":
        raise _fail(
            source,
            "resize.semantics pil: the Model API resizes with OpenCV/OpenVINO; set semantics "
            "opencv to accept the difference",
        )
    if r.interpolation != "bilinear":
        raise _fail(
            source,
            f"resize.interpolation {r.interpolation}: the Model API resizes linearly; set "
            "bilinear to accept the difference",
        )
    out: dict[str, str] = {
        "mean_values": " ".join(_fmt(m / p.scale) for m in p.mean),
        "scale_values": " ".join(_fmt(s / p.scale) for s in p.std),
        "reverse_input_channels": "True" if p.color == "RGB" else "False",
    }
    if r.mode == "shorter_side_crop":
        if r.crop_fraction < 1.0:
            raise _fail(
                source,
                f"resize.crop_fraction {r.crop_fraction}: the Model API crop keeps the whole "
                "shorter side; use crop_fraction 1 or resize the image beforehand",
            )
        out["resize_type"] = "crop"
    elif r.mode == "letterbox":
        if r.pad_value != int(r.pad_value):
            raise _fail(
                source, f"resize.pad_value {r.pad_value}: the Model API pads with a whole number 0..255"
            )
        out["resize_type"] = "fit_to_window_letterbox"
        out["pad_value"] = str(int(r.pad_value))
    else:
        if r.crop_fraction < 1.0:
            raise _fail(
                source,
                f"resize.crop_fraction {r.crop_fraction} after a stretch: the Model API has no centre crop "
                "after a standard resize; resize and crop the image beforehand",
            )
        out["resize_type"] = "standard"
    if p.size is not None:
        out["orig_height"], out["orig_width"] = str(p.size[0]), str(p.size[1])
    if p.layout is not None:
        out["layout"] = p.layout
    return out
