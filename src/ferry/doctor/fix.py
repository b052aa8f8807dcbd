"""The fix in the user's own terms: what differs from what they feed, in words, and how to feed each runtime.

OpenCV and OpenVINO lines come from each runtime module's `native(contract)` (the same code `ferry native`
prints); Core ML from ferry.runtimes.coreml.native when that module has one, else the ImageType arguments are
written here (Core ML has one scale for all channels: per-channel std cannot be expressed, and this says so).
"""

from __future__ import annotations

import math
from typing import Any

from ferry.preprocess.contract import Preprocess


def _range(pp: Preprocess) -> tuple[float, float]:
    gain, offset = pp.affine()
    lo = min(min(o, g * 255 + o) for g, o in zip(gain, offset, strict=True))
    hi = max(max(o, g * 255 + o) for g, o in zip(gain, offset, strict=True))
    return lo + 0.0, hi + 0.0  # + 0.0: no "-0" in the sentence


def _close(a: tuple[float, ...], b: tuple[float, ...], rtol: float = 1e-4) -> bool:
    return all(abs(x - y) <= rtol * max(abs(x), abs(y), 1e-9) for x, y in zip(a, b, strict=True))


def differences(yours: Preprocess, wanted: Preprocess) -> list[str]:
    """What the user does against what the model wants, one sentence each."""
    out: list[str] = []
    if yours.color != wanted.color:
        out.append(f"your input is {yours.color}; the model wants {wanted.color}")
    elif yours.color == "GRAY" and yours.gray_zero_is != wanted.gray_zero_is:
        out.append(f"your gray image has 0 = {yours.gray_zero_is}; the model wants 0 = {wanted.gray_zero_is}")
    if not yours.same_function(wanted.replace(color=yours.color, gray_zero_is=yours.gray_zero_is,
                                              layout=yours.layout, size=yours.size, resize=yours.resize,
                                              dtype=yours.dtype)):
        (gy, oy), (gw, ow) = yours.affine(), wanted.affine()
        ly, hy = _range(yours)
        lw, hw = _range(wanted)
        out.append(f"you feed values in [{ly:.4g}, {hy:.4g}]; the model wants [{lw:.4g}, {hw:.4g}]")
        if len(yours.mean) == 3 and _close(yours.mean, tuple(reversed(wanted.mean))) and not _close(
                yours.mean, wanted.mean):
            out.append("your mean/std are in the other channel order (the channels were swapped after the "
                       "mean was subtracted)")
        elif _close(gy, tuple(g * g for g in gw)) and all(abs(gw[i]) != 1 for i in range(len(gw))):
            out.append("you apply the normalisation twice")
        elif all(s == 1 for s in yours.std) and any(s != 1 for s in wanted.std) and _close(
                tuple(m / yours.scale for m in yours.mean), tuple(m / wanted.scale for m in wanted.mean)):
            out.append("you subtract the mean but do not divide by std")
        elif _close(tuple(yours.scale / s for s in yours.std), tuple(wanted.scale / s for s in wanted.std)):
            out.append(f"your scale and std are right but the mean is off: you subtract "
                       f"{[round(-o / g, 4) for g, o in zip(gy, oy, strict=True)]} pixel levels, the model wants "
                       f"{[round(-o / g, 4) for g, o in zip(gw, ow, strict=True)]}")
        else:
            out.append(f"the model wants scale {wanted.scale:.6g}, mean {list(wanted.mean)}, std {list(wanted.std)} "
                       f"(out = (x * scale - mean) / std, x in 0..255); you use scale {yours.scale:.6g}, mean "
                       f"{list(yours.mean)}, std {list(yours.std)}")
    if yours.layout and wanted.layout and yours.layout != wanted.layout:
        out.append(f"your tensor is {yours.layout}; the model reads {wanted.layout}")
    if yours.size and wanted.size and tuple(yours.size) != tuple(wanted.size):
        out.append(f"you resize to {yours.size[0]}x{yours.size[1]} (HxW); the model wants "
                   f"{wanted.size[0]}x{wanted.size[1]}")
    if yours.resize != wanted.resize:
        out.append(f"you resize with {_resize_words(yours)}; the model wants {_resize_words(wanted)}")
    return out


def _resize_words(pp: Preprocess) -> str:
    r = pp.resize
    if r.mode == "shorter_side_crop":
        what = f"shorter side then centre crop (crop fraction {r.crop_fraction:g})"
    elif r.mode == "stretch" and r.crop_fraction < 1.0:
        what = f"stretch then centre crop (crop fraction {r.crop_fraction:g})"
    elif r.mode == "letterbox":
        what = f"letterbox padded with {r.pad_value:g}"
    else:
        what = r.mode
    return f"{what}, {r.interpolation} ({r.semantics})"


def coreml_image_type(pp: Preprocess) -> dict[str, Any]:
    """ct.ImageType arguments: y = scale * x + bias, one scale for every channel, bias in color_layout order."""
    gain, offset = pp.affine()
    exact = len(set(round(g, 12) for g in gain)) == 1
    layout = {"RGB": "ct.colorlayout.RGB", "BGR": "ct.colorlayout.BGR", "GRAY": "ct.colorlayout.GRAYSCALE"}[pp.color]
    scale = sum(gain) / len(gain)
    bias = [round(o, 6) for o in offset]
    code = f"ct.ImageType(name=INPUT, scale={scale:.8g}, bias={bias}, color_layout={layout})"
    notes = [] if exact else ["Core ML has one scale for all channels: this std differs per channel, so divide "
                              "by std in the model (ferry convert does) or the result is approximate"]
    if pp.color == "GRAY" and pp.gray_zero_is == "white":
        notes.append("Core ML does not invert gray images: invert in the app")
        exact = False
    return {"runtime": "coreml", "code": code, "exact": exact, "notes": notes}


def timm_hf_config(pp: Preprocess) -> dict[str, Any]:
    """The keys timm's pretrained_cfg and a Hugging Face preprocessor_config.json use (see preprocess/importers)."""
    mean01 = [m / pp.scale / 255 for m in pp.mean]
    std01 = [s / pp.scale / 255 for s in pp.std]
    size = list(pp.size) if pp.size else None
    timm = {"input_size": [pp.channels, *(size or [224, 224])], "mean": [round(v, 6) for v in mean01],
            "std": [round(v, 6) for v in std01], "interpolation": pp.resize.interpolation,
            "crop_pct": pp.resize.crop_fraction if pp.resize.mode in ("shorter_side_crop", "stretch") else 1.0}
    if pp.resize.mode == "stretch" and pp.resize.crop_fraction < 1.0:
        timm["crop_mode"] = "squash"
    hf = {"do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
          "image_mean": timm["mean"], "image_std": timm["std"],
          "size": {"height": size[0], "width": size[1]} if size else None}
    r = pp.resize
    if size and r.mode in ("shorter_side_crop", "stretch") and r.crop_fraction < 1.0:
        big = [math.floor(v / r.crop_fraction) for v in size]
        hf["size"] = ({"shortest_edge": min(big)} if r.mode == "shorter_side_crop"
                      else {"height": big[0], "width": big[1]})
        hf["do_center_crop"] = True
        hf["crop_size"] = {"height": size[0], "width": size[1]}
    notes = []
    if pp.color != "RGB":
        notes.append(f"timm and Hugging Face feed RGB; this model wants {pp.color}: swap channels in the model")
    return {"timm": timm, "hf": hf, "notes": notes}


def fixes(pp: Preprocess) -> dict[str, Any]:
    """Every runtime's recipe for `pp`; a runtime that cannot say is left out with its reason."""
    from ferry.runtimes import get_runtime

    out: dict[str, Any] = {}
    for name in ("opencv", "openvino", "onnxruntime"):
        try:
            out[name] = get_runtime(name).native(pp).to_dict()
        except Exception as exc:  # noqa: BLE001 - a missing runtime must not hide the other fixes
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
    try:
        coreml = get_runtime("coreml")
        out["coreml"] = coreml.native(pp).to_dict() if hasattr(coreml, "native") else coreml_image_type(pp)
    except Exception:  # noqa: BLE001 - Core ML's module is optional
        out["coreml"] = coreml_image_type(pp)
    out["timm_hf"] = timm_hf_config(pp)
    return out
