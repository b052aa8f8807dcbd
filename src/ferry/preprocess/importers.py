"""Importers: read the preprocessing another project already wrote down and turn it into a ferry contract.

Users rarely know their model's preprocessing by heart, but the project they got the model from recorded it:
timm's `pretrained_cfg`, a Hugging Face `preprocessor_config.json`, a Keras application's `preprocess_input`
mode, an Open Model Zoo `accuracy-check.yml`, the OpenVINO Model API `rt_info['model_info']` of an IR, or a
Caffe `mean.binaryproto`. Each importer returns an `Imported`:

    Imported(preprocess=Preprocess(...), notes=["...", ...], source="...")

`notes` says, in plain words, everything the source describes that the contract cannot say exactly (a
resize ferry has no mode for, an assumed default, a per-pixel mean reduced to per-channel). An empty list
means the translation is exact. Bad input raises `ContractError` with one line naming the source and the fix;
no KeyError or TypeError escapes.

The semantics of each source were read from that project's own code (named in each importer's docstring),
not from its documentation alone.
"""

from __future__ import annotations

import inspect
import json
import math
import re
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ferry.errors import ContractError
from ferry.preprocess.contract import Preprocess, Resize
from ferry.preprocess.presets import CAFFE_MEAN_BGR, IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "Imported",
    "IMPORTERS",
    "from_caffe_mean_binaryproto",
    "from_hf",
    "from_keras",
    "from_omz_accuracy_check",
    "from_openvino_rt_info",
    "from_timm",
    "from_ultralytics",
    "import_contract",
    "to_openvino_rt_info",
]

_MAX_TEXT = 10_000_000  # a config file bigger than this is not a config file


@dataclass(frozen=True)
class Imported:
    """An imported contract, what was lost or assumed on the way (`notes`), and where it came from."""

    preprocess: Preprocess
    notes: list[str] = field(default_factory=list)
    source: str = ""

    @property
    def exact(self) -> bool:
        """True when nothing was lost or assumed."""
        return not self.notes


# ---- shared validation -------------------------------------------------------------------------------------
def _fail(source: str, message: str) -> ContractError:
    """One line, whatever the source name holds (a config's text can stand where a path was expected)."""
    name = source if source.isprintable() and len(source) <= 200 else repr(source[:200])
    return ContractError(f"{name}: {message}".replace("\n", " "))


def _num(source: str, name: str, value: Any) -> float:
    """A finite number. Strings are not numbers here: configs that quote numbers are handled by the caller."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(source, f"{name} must be a number, got {_short(value)}")
    try:
        out = float(value)
    except OverflowError:
        raise _fail(
            source, f"{name} is too large to be a number of pixels or a scale: {_short(value)}"
        ) from None
    if not math.isfinite(out):
        raise _fail(source, f"{name} must be finite, got {out}")
    return out


def _pixels(source: str, name: str, value: Any) -> int:
    """A positive whole number of pixels ferry accepts (the contract's own limit is 16384)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(source, f"{name} must be a whole number of pixels, got {_short(value)}")
    if isinstance(value, float) and (not math.isfinite(value) or value != int(value)):
        raise _fail(source, f"{name} must be a whole number of pixels, got {_short(value)}")
    if not 1 <= value <= 16384:
        raise _fail(source, f"{name} must be between 1 and 16384 pixels, got {_short(value)}")
    return int(value)


def _channels(source: str, name: str, value: Any, n: int) -> tuple[float, ...]:
    """One number per channel; a single number (or a list of one) means the same for every channel."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (_num(source, name, value),) * n
    if not isinstance(value, list | tuple):
        raise _fail(source, f"{name} must be a number or a list of {n} numbers, got {_short(value)}")
    if len(value) == 1:
        return (_num(source, f"{name}[0]", value[0]),) * n
    if len(value) != n:
        raise _fail(source, f"{name} has {len(value)} values for {n} channel{'s' if n > 1 else ''}")
    return tuple(_num(source, f"{name}[{i}]", v) for i, v in enumerate(value))


def _nonzero(source: str, name: str, values: tuple[float, ...]) -> tuple[float, ...]:
    for i, v in enumerate(values):
        if v == 0:
            raise _fail(source, f"{name}[{i}] is 0: dividing by it gives infinity; use 1 for no division")
    return values


def _bool(source: str, name: str, value: Any, default: bool) -> bool:
    """Configs spell booleans as true/false, "True"/"False", "YES"/"NO" or 1/0."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "y", "1", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "no", "n", "0", "off"):
        return False
    raise _fail(source, f"{name} must be true or false, got {_short(value)}")


def _mapping(source: str, value: Any, what: str) -> dict:
    if not isinstance(value, Mapping):
        raise _fail(source, f"{what} must be a mapping of keys, got {type(value).__name__}")
    return dict(value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _build(source: str, **kwargs: Any) -> Preprocess:
    """Construct the contract, with every failure as one ContractError naming the source.

    The importers validate their numbers before this point; the broad except is a second line that keeps any
    future contract.py validation gap from escaping as a traceback.
    """
    try:
        return Preprocess(**kwargs)
    except ContractError as exc:
        raise _fail(source, str(exc)) from None
    except (ArithmeticError, ValueError, TypeError) as exc:  # pragma: no cover - defensive
        raise _fail(source, f"not a valid contract ({type(exc).__name__}: {exc})") from None


def _resize(source: str, **kwargs: Any) -> Resize:
    try:
        return Resize(**kwargs)
    except ContractError as exc:
        raise _fail(source, str(exc)) from None
    except (ArithmeticError, ValueError, TypeError) as exc:  # pragma: no cover - defensive
        raise _fail(source, f"not a valid resize ({type(exc).__name__}: {exc})") from None


def _crop_fraction(crop: int, resized: int) -> float:
    """crop / resized, nudged (only when needed) so that floor(crop / fraction) == resized, which is how both
    timm and ferry's reference recover the resize size from the fraction."""
    cf = crop / resized
    if cf >= 1.0:
        return 1.0
    if math.floor(crop / cf) != resized:
        cf = crop / (resized + 0.5)
    return cf


def _read_text(source: str, path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > _MAX_TEXT:
            raise _fail(source, f"a file of {size} bytes is not a preprocessing config")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _fail(source, "no such file; give the path of the config or its contents") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise _fail(
            source, f"cannot read it ({type(exc).__name__}); give a readable UTF-8 text file"
        ) from None


def _looks_like_path(text: str) -> bool:
    """A short one-line string naming an existing file (or a config file name) is a path, else text."""
    if "\n" in text or len(text) > 4096 or "\x00" in text:
        return False
    try:
        p = Path(text)
        return p.is_file() or p.suffix.lower() in (".json", ".yml", ".yaml", ".binaryproto")
    except (OSError, ValueError):
        return False


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
        resize = _resize(source, mode="stretch", interpolation=interpolation, semantics="pil")
        if crop_pct < 1.0:
            notes.append(
                f"crop_mode 'squash' with crop_pct {crop_pct}: timm stretches to size / crop_pct, crops the "
                "centre; ferry's stretch resizes straight to size (the border is kept)"
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
    source = "hf preprocessor_config"
    if isinstance(config, str | Path) and not (isinstance(config, str) and config.lstrip().startswith("{")):
        source = str(config)
        text = _read_text(source, Path(config))
    elif isinstance(config, str):
        text = config
    else:
        text = None
    if text is not None:
        try:
            config = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise _fail(source, f"not valid JSON ({str(exc).splitlines()[0] if str(exc) else exc})") from None
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
            notes.append(
                f"HF stretches to {size[0]}x{size[1]} then centre-crops {crop[0]}x{crop[1]}; imported as a "
                "shorter-side resize + crop, which is the same only for square images"
            )
            crop_fraction = _crop_fraction(crop[0], size[0])
            size, mode = crop, "shorter_side_crop"
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
    if mode == "shorter_side_crop":
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


# ---- Keras -------------------------------------------------------------------------------------------------
_KERAS_MODES = ("caffe", "tf", "torch")
# keras/src/applications/*.py: which imagenet_utils.preprocess_input mode each application's own calls.
_KERAS_EXACT = {
    "resnet": "caffe",
    "resnet50": "caffe",
    "resnet101": "caffe",
    "resnet152": "caffe",
    "vgg16": "caffe",
    "vgg19": "caffe",
    "resnetv2": "tf",
    "resnet50v2": "tf",
    "resnet101v2": "tf",
    "resnet152v2": "tf",
    "mobilenet": "tf",
    "mobilenetv2": "tf",
    "inceptionv3": "tf",
    "inceptionresnetv2": "tf",
    "xception": "tf",
    "nasnet": "tf",
    "nasnetlarge": "tf",
    "nasnetmobile": "tf",
}
_KERAS_PREFIX = {"densenet": "torch"}
# Applications whose model starts with its own Rescaling/Normalization: preprocess_input returns x unchanged.
_KERAS_RAW_PREFIX = ("efficientnet", "convnext", "regnet", "mobilenetv3", "resnetrs")


def from_keras(mode_or_app: Any) -> Imported:
    """A Keras `preprocess_input` mode ("caffe", "tf", "torch") or an application name.

    Semantics read in keras-team/keras keras/src/applications/imagenet_utils.py `_preprocess_numpy_input`:
    caffe = RGB->BGR then subtract [103.939, 116.779, 123.68], no scaling; tf = x / 127.5 - 1; torch =
    x / 255 then ImageNet mean/std. The per-application mode is each module's `preprocess_input`
    (resnet, vgg16/19: caffe; resnet_v2, mobilenet, mobilenet_v2, inception_v3, inception_resnet_v2, xception,
    nasnet: tf; densenet: torch). efficientnet, efficientnet_v2, convnext, mobilenet_v3 (and keras 2's regnet,
    resnet_rs) build Rescaling/Normalization layers into the model, and their preprocess_input returns x: the
    model takes raw 0..255. Layout NHWC, Keras' default image_data_format.
    """
    source = "keras preprocess_input"
    if not isinstance(mode_or_app, str) or not mode_or_app.strip():
        raise _fail(
            source, f"give a mode (caffe, tf, torch) or an application name, got {_short(mode_or_app)}"
        )
    name = mode_or_app.strip().lower()
    for prefix in ("tf.keras.applications.", "keras.applications."):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    name = name.removesuffix(".preprocess_input")
    key = re.sub(r"[^a-z0-9]", "", name)
    notes: list[str] = []
    mode: str | None = None
    if name in _KERAS_MODES:
        mode = name
    elif key in _KERAS_EXACT:
        mode = _KERAS_EXACT[key]
    elif any(key.startswith(p) for p in _KERAS_PREFIX):
        mode = next(v for p, v in _KERAS_PREFIX.items() if key.startswith(p))
    elif key.startswith(_KERAS_RAW_PREFIX):
        mode = "raw"
        notes.append(
            f"{mode_or_app.strip()} rescales inside the model (its preprocess_input returns x): the "
            "model takes raw 0..255 RGB"
        )
    if mode is None:
        raise _fail(
            source,
            f"unknown mode or application {_short(mode_or_app)}; the modes are caffe, tf, torch, "
            "or name an application such as resnet50, mobilenet_v2, densenet121, efficientnetb0",
        )
    notes.append(
        "Keras' preprocess_input does not resize: size is left to the model input, and ferry's "
        "default resize is kept (keras.utils.load_img resizes with PIL nearest by default)"
    )
    if mode == "caffe":
        pre = _build(source, color="BGR", scale=1.0, mean=CAFFE_MEAN_BGR, std=(1.0, 1.0, 1.0), layout="NHWC")
    elif mode == "tf":
        pre = _build(
            source, color="RGB", scale=1 / 127.5, mean=(1.0, 1.0, 1.0), std=(1.0, 1.0, 1.0), layout="NHWC"
        )
    elif mode == "torch":
        pre = _build(source, color="RGB", scale=1 / 255, mean=IMAGENET_MEAN, std=IMAGENET_STD, layout="NHWC")
    else:
        pre = _build(source, color="RGB", scale=1.0, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), layout="NHWC")
    return Imported(pre, notes, f"{source} ({mode})")


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
        if first.aspect is None:
            notes.append(
                f"a stretch to {first.height}x{first.width} then a centre crop: imported as a "
                "shorter-side resize + crop, the same only for square images"
            )
        if first.height != first.width:
            notes.append(
                "a non-square resize before the crop: ferry's crop fraction is taken from the height"
            )
        if crop.height > first.height or crop.width > first.width:
            raise _fail(
                source, "the crop is larger than the resize; accuracy_checker would upscale, ferry cannot"
            )
        cf = _crop_fraction(crop.height, first.height)
        return (crop.height, crop.width), _resize(
            source,
            mode="shorter_side_crop",
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
        out["resize_type"] = "standard"
    if p.size is not None:
        out["orig_height"], out["orig_width"] = str(p.size[0]), str(p.size[1])
    if p.layout is not None:
        out["layout"] = p.layout
    return out


# ---- Caffe mean.binaryproto --------------------------------------------------------------------------------
class _Truncated(Exception):
    """The protobuf bytes end inside a field."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise _Truncated
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("a varint longer than 10 bytes")


def _fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) of one message: value is an int for varint/fixed, bytes for length-
    delimited. Groups (wire types 3/4) are not used by caffe.proto and are refused."""
    out = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError("field number 0")
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            if pos + 8 > len(buf):
                raise _Truncated
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > len(buf):
                raise _Truncated
            value, pos = buf[pos : pos + length], pos + length
        elif wire == 5:
            if pos + 4 > len(buf):
                raise _Truncated
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"wire type {wire}")
        out.append((number, wire, value))
    return out


def _floats(wire: int, value: Any, width: int) -> list[float]:
    fmt = "<f" if width == 4 else "<d"
    if wire == 2:
        if len(value) % width:
            raise _Truncated
        return [v[0] for v in struct.iter_unpack(fmt, value)]
    if (width == 4 and wire == 5) or (width == 8 and wire == 1):
        return [struct.unpack(fmt, value)[0]]
    raise ValueError(f"wire type {wire} for a float field")


def _ints(wire: int, value: Any) -> list[int]:
    if wire == 0:
        return [value]
    if wire == 2:
        out, pos = [], 0
        while pos < len(value):
            v, pos = _varint(value, pos)
            out.append(v)
        return out
    raise ValueError(f"wire type {wire} for an integer field")


def _int32(v: int) -> int:
    v &= 0xFFFFFFFFFFFFFFFF
    return v - (1 << 64) if v >= 1 << 63 else v


def from_caffe_mean_binaryproto(path: Any) -> Imported:
    """A Caffe mean file (`mean.binaryproto`: one BlobProto) -> a BGR, 0..255, per-channel mean contract.

    Read with a minimal protobuf wire-format reader, because caffe is not installable from PyPI in a usable
    form and pulling protobuf + caffe.proto in for five fields is not worth it. caffe.proto's BlobProto:
    num=1, channels=2, height=3, width=4 (int32), data=5 (packed float), shape=7 (BlobShape: dim=1 packed
    int64), double_data=8 (packed double). Both packed and unpacked encodings are accepted.

    Caffe's mean image is per pixel (C x H x W); ferry's contract is per channel, so the mean is reduced to
    one value per channel and the notes say by how much the pixels differed. Caffe images are loaded by
    OpenCV: BGR in 0..255, NCHW. `path` may also be the file's bytes.
    """
    if isinstance(path, bytes | bytearray):
        source, data = "caffe mean.binaryproto", bytes(path)
    elif isinstance(path, str | Path):
        source = str(path)
        try:
            p = Path(path)
            if p.stat().st_size > 1 << 30:
                raise _fail(source, "a mean file over 1 GiB is not a mean file")
            data = p.read_bytes()
        except FileNotFoundError:
            raise _fail(source, "no such file; give the path of the mean.binaryproto") from None
        except (OSError, ValueError) as exc:
            raise _fail(source, f"cannot read it ({type(exc).__name__})") from None
    else:
        raise _fail("caffe mean.binaryproto", f"give a path or the file's bytes, got {type(path).__name__}")

    try:
        legacy: dict[int, int] = {}
        dims: list[int] = []
        values: list[float] = []
        for number, wire, value in _fields(data):
            if number in (1, 2, 3, 4):
                ints = _ints(wire, value)
                if not ints:
                    raise ValueError(f"field {number} holds no integer")
                legacy[number] = _int32(ints[-1])
            elif number == 5:
                values.extend(_floats(wire, value, 4))
            elif number == 8:
                values.extend(_floats(wire, value, 8))
            elif number == 7:
                if wire != 2:
                    raise ValueError("shape is not a message")
                for n2, w2, v2 in _fields(value):
                    if n2 == 1:
                        dims.extend(_int32(d) for d in _ints(w2, v2))
    except _Truncated:
        raise _fail(
            source, "the file ends inside a field (truncated download?); fetch the mean file again"
        ) from None
    except (ValueError, struct.error) as exc:
        raise _fail(
            source, f"not a Caffe BlobProto ({exc}); give the mean.binaryproto of the model"
        ) from None

    if not dims:
        dims = [legacy.get(1, 0), legacy.get(2, 0), legacy.get(3, 0), legacy.get(4, 0)]
        if dims[0] == 0 and all(d > 0 for d in dims[1:]):
            dims[0] = 1
    if len(dims) == 3:
        dims = [1, *dims]
    if len(dims) != 4 or any(d <= 0 for d in dims):
        raise _fail(source, f"the blob shape {dims} is not num x channels x height x width")
    num, chans, height, width = dims
    if math.prod(dims) != len(values):
        raise _fail(
            source,
            f"the blob says {'x'.join(map(str, dims))} = {math.prod(dims)} values but holds "
            f"{len(values)}; the file is damaged",
        )
    if chans not in (1, 3):
        raise _fail(source, f"a mean of {chans} channels; ferry contracts take 1 (gray) or 3 (BGR)")
    if not all(math.isfinite(v) for v in values):
        raise _fail(source, "the mean holds NaN or infinite values; the file is damaged")

    import numpy as np

    blob = np.asarray(values, dtype=np.float64).reshape(num, chans, height * width)
    per_channel = blob.mean(axis=(0, 2))
    spread = float(np.abs(blob - per_channel[None, :, None]).max())
    names = "B, G, R" if chans == 3 else "gray"
    notes = [
        f"per-pixel mean of {chans}x{height}x{width} reduced to per-channel ({names}) = "
        f"({', '.join(f'{v:.3f}' for v in per_channel)}); the pixels differed from it by up to {spread:.2f}"
    ]
    if num > 1:
        notes.append(f"the blob holds {num} means; they were averaged")
    if height > 1 or width > 1:
        notes.append(
            f"the mean image is {height}x{width}: Caffe models usually resize to it and crop their input "
            "size; size and resize are left to the model and to you"
        )
    pre = _build(
        source,
        color="BGR" if chans == 3 else "GRAY",
        scale=1.0,
        mean=tuple(float(v) for v in per_channel),
        std=(1.0,) * chans,
        layout="NCHW",
        dtype="float32",
    )
    return Imported(pre, notes, source)


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


# ---- dispatcher --------------------------------------------------------------------------------------------
IMPORTERS: dict[str, Callable[..., Imported]] = {
    "timm": from_timm,
    "hf": from_hf,
    "huggingface": from_hf,
    "keras": from_keras,
    "omz": from_omz_accuracy_check,
    "openvino": from_openvino_rt_info,
    "caffe": from_caffe_mean_binaryproto,
    "ultralytics": from_ultralytics,
}


def import_contract(kind: str, source: Any, **options: Any) -> Imported:
    """Import by the source's name: timm, hf, keras, omz, openvino or caffe (options go to that importer)."""
    if not isinstance(kind, str) or kind.lower() not in IMPORTERS:
        raise ContractError(f"unknown importer {_short(kind)}; the importers are {', '.join(IMPORTERS)}")
    importer = IMPORTERS[kind.lower()]
    try:
        inspect.signature(importer).bind(source, **options)
    except TypeError as exc:
        raise ContractError(f"{kind}: {exc}; see the docstring of {importer.__name__}") from None
    return importer(source, **options)
