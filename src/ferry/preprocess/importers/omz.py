"""Open Model Zoo accuracy-checker YAML (`accuracy-check.yml`, `models.lst` entries)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ferry.preprocess.contract import Preprocess, Resize
from ferry.preprocess.importers._common import (
    _MAX_TEXT,
    Imported,
    _bool,
    _build,
    _crop_fraction,
    _fail,
    _looks_like_path,
    _mapping,
    _nonzero,
    _num,
    _pixels,
    _read_text,
    _resize,
    _short,
)

# ---- Open Model Zoo accuracy checker -----------------------------------------------------------------------
# accuracy_checker/preprocessor/normalization.py: the precomputed values, as written there (the 'imagenet' std
# preset repeats the mean preset's numbers).
_OMZ_PRESET_MEANS = {
    "imagenet": (104.00698793, 116.66876762, 122.67891434),
    "cifar10": (125.307, 122.961, 113.8575),
}
_OMZ_PRESET_STDS = dict(_OMZ_PRESET_MEANS)
_OMZ_INTERP = {
    "NEAREST": "nearest",
    "LINEAR": "bilinear",
    "BILINEAR": "bilinear",
    "CUBIC": "bicubic",
    "BICUBIC": "bicubic",
    "AREA": "area",
    "BOX": "area",
}
_OMZ_FRAMEWORK_LAUNCHERS = ("dlsdk", "openvino")
_OMZ_READERS = {"opencv_imread": "BGR", "pillow_imread": "RGB"}


@dataclass
class _OmzStep:
    """One geometric step of an accuracy-checker preprocessing list, as read."""

    kind: str  # resize | auto_resize | crop | central_crop | padding
    height: int | None = None
    width: int | None = None
    aspect: str | None = None
    fraction: float | None = None
    interpolation: str = "bilinear"
    semantics: str = "opencv"
    pad_value: float = 0.0


def from_omz_accuracy_check(config: Any, framework: str | None = None, model: str | None = None) -> Imported:
    """An Open Model Zoo `accuracy-check.yml` (YAML text, path, or the parsed dict) -> a contract.

    The entry is chosen by `model` name and launcher `framework`; without `framework` the first entry whose
    launcher is the original framework (not dlsdk/openvino, whose IR usually has the mean folded in) is taken.

    Semantics read in openvinotoolkit/open_model_zoo tools/accuracy_checker/.../preprocessor/:
    - images come from the dataset `reader` (default opencv_imread: BGR, 0..255; pillow_imread: RGB);
    - normalization.py: `data - mean` then `/ std`, mean/std a number, "a, b, c" / "(a, b, c)" text, a list,
      or the precomputed names 'imagenet' / 'cifar10' (whose std preset repeats the mean numbers);
    - color_space_conversion.py: bgr_to_rgb / rgb_to_bgr swap, bgr_to_gray / rgb_to_gray;
    - resize.py: size or dst_height/dst_width, interpolation (opencv LINEAR default, pillow BILINEAR),
      aspect_ratio_scale 'greater' = the shorter side to the size, 'fit_to_window' = fit inside;
      use_pillow / resize_realization choose the library;
    - crop.py: centre crop of size (offset (H - h) // 2, Pillow round()) or of central_fraction.
    Steps compose in order, so several normalization steps fold into one affine.
    """
    source = "omz accuracy-check"
    if isinstance(config, Path) or (isinstance(config, str) and _looks_like_path(config)):
        source = str(config)
        config = _read_text(source, Path(config))
    if isinstance(config, str):
        import yaml

        if len(config) > _MAX_TEXT:
            raise _fail(source, "the text is too large to be an accuracy-check config")
        try:
            config = yaml.safe_load(config)
        except (yaml.YAMLError, RecursionError, ValueError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise _fail(source, f"not valid YAML ({first})") from None
    cfg = _mapping(source, config, "an accuracy-check config")
    entries = _omz_entries(source, cfg)
    if model is not None:
        entries = [e for e in entries if e[0] == model]
        if not entries:
            raise _fail(source, f"no model named {model!r}; check models[].name")
    if framework is not None:
        chosen = [e for e in entries if framework in e[1]]
        if not chosen:
            frameworks = sorted({f for e in entries for f in e[1]})
            raise _fail(source, f"no launcher with framework {framework!r}; the config has {frameworks}")
    else:
        chosen = [e for e in entries if not set(e[1]) & set(_OMZ_FRAMEWORK_LAUNCHERS)] or entries
    name, frameworks, dataset = chosen[0]
    notes: list[str] = []
    if len(entries) > 1:
        notes.append(
            f"took the entry for {name or 'the model'} with launcher {', '.join(frameworks) or '?'} "
            f"({len(entries)} entries; pass framework= to pick another)"
        )
    pre, more = _omz_steps(source, dataset)
    notes.extend(more)
    return Imported(pre, notes, source)


def _omz_entries(source: str, cfg: dict) -> list[tuple[str, list[str], dict]]:
    """(model name, launcher frameworks, first dataset) of every model in models[] or evaluations[]."""
    models = cfg.get("models")
    if models is None and isinstance(cfg.get("evaluations"), list):
        models = []
        for ev in cfg["evaluations"]:
            if isinstance(ev, Mapping) and isinstance(ev.get("module_config"), Mapping):
                models.append({"name": ev.get("name"), **ev["module_config"]})
    if not isinstance(models, list) or not models:
        raise _fail(source, "no models list; an accuracy-check config has models: [{launchers, datasets}]")
    out = []
    for i, m in enumerate(models):
        if not isinstance(m, Mapping):
            raise _fail(source, f"models[{i}] must be a mapping, got {type(m).__name__}")
        launchers = m.get("launchers") or []
        if not isinstance(launchers, list):
            raise _fail(source, f"models[{i}].launchers must be a list")
        frameworks = [str(la.get("framework")) for la in launchers if isinstance(la, Mapping)]
        datasets = m.get("datasets")
        if not isinstance(datasets, list) or not datasets or not isinstance(datasets[0], Mapping):
            raise _fail(source, f"models[{i}].datasets must be a list of mappings with a preprocessing list")
        name = m.get("name")
        out.append((name if isinstance(name, str) else "", frameworks, dict(datasets[0])))
    return out


def _omz_values(source: str, name: str, value: Any, presets: dict[str, tuple[float, ...]]) -> list[float]:
    """accuracy_checker utils.get_or_parse_value: a preset name, "a, b, c" text, a number or a list."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in presets:
            return list(presets[text])
        parts = text.replace(" ", "").replace("(", "").replace(")", "").replace("[", "").replace("]", "")
        try:
            out = [float(p) for p in parts.split(",")]
        except ValueError:
            raise _fail(
                source, f"{name} {_short(value)} is neither {' nor '.join(presets)} nor a list of numbers"
            ) from None
        values = out
    elif isinstance(value, int | float) and not isinstance(value, bool):
        values = [value]
    elif isinstance(value, list | tuple):
        values = list(value)
    else:
        raise _fail(source, f"{name} must be a number, a list or a preset name, got {_short(value)}")
    if len(values) not in (1, 3):
        raise _fail(source, f"{name} has {len(values)} values; give one or one per channel (3)")
    return [_num(source, f"{name}[{i}]", v) for i, v in enumerate(values)]


def _omz_size(source: str, step: Mapping, what: str, required: bool) -> tuple[int | None, int | None]:
    if step.get("size") is not None:
        s = _pixels(source, f"{what}.size", step["size"])
        return s, s
    h, w = step.get("dst_height"), step.get("dst_width")
    if h is None and w is None and not required:
        return None, None
    if h is None or w is None:
        raise _fail(source, f"{what} needs size, or both dst_height and dst_width")
    return _pixels(source, f"{what}.dst_height", h), _pixels(source, f"{what}.dst_width", w)


def _omz_steps(source: str, dataset: dict) -> tuple[Preprocess, list[str]]:
    notes: list[str] = []
    reader = dataset.get("reader", "opencv_imread")
    reader_name = reader.get("type") if isinstance(reader, Mapping) else reader
    if reader_name is None:
        reader_name = "opencv_imread"
    if not isinstance(reader_name, str):
        raise _fail(source, f"reader must be a name or {{type: name}}, got {_short(reader)}")
    color = _OMZ_READERS.get(reader_name)
    if color is None:
        color = "BGR"
        notes.append(f"reader {reader_name!r}: assumed to give BGR like opencv_imread")
    steps = dataset.get("preprocessing") or []
    if not isinstance(steps, list):
        raise _fail(source, "datasets[].preprocessing must be a list of {type: ...} steps")

    scale = 1.0
    mean = [0.0, 0.0, 0.0]
    std = [1.0, 1.0, 1.0]
    geometry: list[_OmzStep] = []
    for i, step in enumerate(steps):
        if not isinstance(step, Mapping) or not isinstance(step.get("type"), str):
            raise _fail(source, f"preprocessing[{i}] must be a mapping with a type, got {_short(step)}")
        kind = step["type"]
        what = f"preprocessing[{i}] ({kind})"
        if kind in ("bgr_to_rgb", "rgb_to_bgr"):
            want = "BGR" if kind == "bgr_to_rgb" else "RGB"
            if color == "GRAY":
                raise _fail(source, f"{what} after a gray conversion; remove one of them")
            if color != want:
                notes.append(f"{what} is applied to {color} data")
            color = "RGB" if color == "BGR" else "BGR"
            mean, std = mean[::-1], std[::-1]
        elif kind in ("bgr_to_gray", "rgb_to_gray"):
            if mean != [0.0] * len(mean) or std != [1.0] * len(std) or scale != 1.0:
                raise _fail(
                    source, f"{what} after a normalization cannot be expressed; ferry converts to gray first"
                )
            if kind[:3].upper() != color:
                notes.append(f"{what} is applied to {color} data")
            color, mean, std = "GRAY", [0.0], [1.0]
        elif kind == "normalization":
            n = 1 if color == "GRAY" else 3
            m = step.get("mean")
            s = step.get("std")
            if m is None and s is None:
                raise _fail(source, f"{what} needs mean or std")
            mv = _omz_values(source, f"{what}.mean", m, _OMZ_PRESET_MEANS) if m is not None else [0.0]
            sv = _omz_values(source, f"{what}.std", s, _OMZ_PRESET_STDS) if s is not None else [1.0]
            if isinstance(s, str) and s.strip().lower() in _OMZ_PRESET_STDS:
                notes.append(
                    f"{what}: std {s!r} is accuracy_checker's preset, whose numbers repeat the mean "
                    "preset's; reproduced as written"
                )
            mv = mv * n if len(mv) == 1 else mv
            sv = sv * n if len(sv) == 1 else sv
            if len(mv) != n or len(sv) != n:
                raise _fail(source, f"{what} has 3 values for a gray image; give one")
            _nonzero(source, f"{what}.std", tuple(sv))
            untouched = all(v == 0 for v in mean) and all(v == 1 for v in std)
            if untouched and all(v == 0 for v in mv) and len(set(sv)) == 1:
                scale /= sv[0]  # a plain "divide by 255" step: keep it as the scale, as people write it
            else:
                mean = [a + b * c for a, b, c in zip(mean, mv, std, strict=True)]
                std = [a * b for a, b in zip(std, sv, strict=True)]
        elif kind == "resize":
            h, w = _omz_size(source, step, what, required=True)
            geometry.append(_omz_resize(source, step, what, h, w, notes))
        elif kind == "auto_resize":
            geometry.append(_OmzStep("auto_resize"))
        elif kind == "crop":
            geometry.append(_omz_crop(source, step, what, notes))
        elif kind == "padding":
            h, w = _omz_size(source, step, what, required=False)
            pad = step.get("pad_value", "0,0,0")
            values = _omz_values(source, f"{what}.pad_value", pad, {})
            pad_value = sum(values) / len(values)
            if len(set(values)) > 1:
                notes.append(f"{what} pads with {values}; ferry pads one value, {pad_value:g}")
            if step.get("pad_type", "center") != "center":
                notes.append(f"{what} pads {step.get('pad_type')!r}; ferry's letterbox pads centred")
            geometry.append(_OmzStep("padding", h, w, pad_value=min(255.0, max(0.0, pad_value))))
        else:
            notes.append(f"{what} is not understood by ferry and is left out of the contract")
    n = 1 if color == "GRAY" else 3
    size, resize = _omz_geometry(source, geometry, notes)
    pre = _build(
        source,
        color=color,
        size=size,
        resize=resize,
        scale=scale,
        mean=tuple(mean[:n]),
        std=tuple(std[:n]),
        dtype="float32",
    )
    return pre, notes


def _omz_resize(
    source: str, step: Mapping, what: str, h: int | None, w: int | None, notes: list[str]
) -> _OmzStep:
    realization = step.get("resize_realization")
    use_pillow = _bool(source, f"{what}.use_pillow", step.get("use_pillow"), False)
    use_tf = _bool(source, f"{what}.use_tensorflow", step.get("use_tensorflow"), False)
    if realization is not None and realization not in ("opencv", "pillow", "tf"):
        raise _fail(
            source, f"{what}.resize_realization must be opencv, pillow or tf, got {_short(realization)}"
        )
    lib = realization or ("pillow" if use_pillow else "tf" if use_tf else "opencv")
    semantics = "pil" if lib == "pillow" else "opencv"
    if lib == "tf":
        notes.append(f"{what} resizes with TensorFlow; the contract names OpenCV's resize")
    interp = step.get("interpolation") or ("BILINEAR" if lib != "opencv" else "LINEAR")
    if not isinstance(interp, str):
        raise _fail(source, f"{what}.interpolation must be a name like LINEAR, got {_short(interp)}")
    interpolation = _OMZ_INTERP.get(interp.upper())
    if interpolation is None:
        interpolation = (
            "bicubic" if "LANCZOS" in interp.upper() or interp.upper() == "ANTIALIAS" else "bilinear"
        )
        notes.append(f"{what} interpolation {interp!r} has no ferry equivalent; using {interpolation}")
    aspect = step.get("aspect_ratio_scale")
    if aspect is not None and not isinstance(aspect, str):
        raise _fail(source, f"{what}.aspect_ratio_scale must be a name like greater, got {_short(aspect)}")
    return _OmzStep("resize", h, w, aspect=aspect, interpolation=interpolation, semantics=semantics)


def _omz_crop(source: str, step: Mapping, what: str, notes: list[str]) -> _OmzStep:
    if step.get("central_fraction") is not None:
        f = _num(source, f"{what}.central_fraction", step["central_fraction"])
        if not 0 < f <= 1:
            raise _fail(source, f"{what}.central_fraction must be in (0, 1], got {f}")
        return _OmzStep("central_crop", fraction=f)
    if _bool(source, f"{what}.max_square", step.get("max_square"), False):
        return _OmzStep("central_crop", fraction=None)
    h, w = _omz_size(source, step, what, required=True)
    pillow = _bool(source, f"{what}.use_pillow", step.get("use_pillow"), False)
    return _OmzStep("crop", h, w, semantics="pil" if pillow else "opencv")


def _omz_geometry(
    source: str, steps: list[_OmzStep], notes: list[str]
) -> tuple[tuple[int, int] | None, Resize]:
    """Match the geometric steps against the shapes ferry can say; anything else becomes a note."""
    kinds = [s.kind for s in steps]
    if not steps:
        notes.append("no resize step: the image is fed at its own size")
        return None, _resize(source, mode="none")
    first = steps[0]
    if kinds == ["auto_resize"]:
        return None, _resize(source, mode="stretch")
    if kinds == ["resize"] and first.aspect is None:
        return (first.height, first.width), _resize(
            source, mode="stretch", interpolation=first.interpolation, semantics=first.semantics
        )
    if kinds == ["resize", "crop"] and first.aspect in (None, "greater"):
        crop = steps[1]
        if crop.semantics != first.semantics:
            notes.append("resize and crop use different libraries; the contract follows the resize's")
        if crop.height > first.height or crop.width > first.width:
            raise _fail(
                source, "the crop is larger than the resize; accuracy_checker would upscale, ferry cannot"
            )
        cf = _crop_fraction(crop.height, first.height)
        if first.aspect is not None and first.height != first.width:
            notes.append(
                "a non-square resize before the crop: ferry's crop fraction is taken from the height"
            )
        elif first.aspect is None and math.floor(crop.width / cf) != first.width:
            notes.append(
                f"a resize to {first.height}x{first.width} then a {crop.height}x{crop.width} crop: ferry's crop "
                f"fraction is one number, taken from the height"
            )
        return (crop.height, crop.width), _resize(
            source,
            mode="stretch" if first.aspect is None else "shorter_side_crop",
            crop_fraction=cf,
            interpolation=first.interpolation,
            semantics=first.semantics,
        )
    if kinds == ["central_crop", "resize"] and steps[1].aspect is None:
        r = steps[1]
        notes.append(
            "a central crop before the resize is not expressible: the contract stretches the whole "
            "image (the crop is dropped), so borders the model never saw reach it"
        )
        return (r.height, r.width), _resize(
            source, mode="stretch", interpolation=r.interpolation, semantics=r.semantics
        )
    if kinds[:1] == ["resize"] and first.aspect == "fit_to_window":
        pad = steps[1].pad_value if kinds == ["resize", "padding"] else 0.0
        if kinds != ["resize", "padding"]:
            notes.append("fit_to_window without a padding step gives a varying size; imported as letterbox")
        return (first.height, first.width), _resize(
            source,
            mode="letterbox",
            pad_value=pad,
            interpolation=first.interpolation,
            semantics=first.semantics,
        )
    if kinds == ["resize"] and first.aspect == "greater":
        notes.append(
            f"the shorter side goes to {first.height} with no crop, so the size varies; the contract "
            "feeds the image at its own size"
        )
        return None, _resize(source, mode="none")
    resizes = [s for s in steps if s.kind == "resize"]
    notes.append(
        f"the steps {kinds} have no ferry equivalent; the contract stretches to the last resize size"
    )
    if not resizes:
        return None, _resize(source, mode="stretch")
    last = resizes[-1]
    return (last.height, last.width), _resize(
        source, mode="stretch", interpolation=last.interpolation, semantics=last.semantics
    )
