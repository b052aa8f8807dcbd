"""The preprocessing contract: one exact description of the function from a decoded image to the model's input.

Every runtime spells preprocessing differently (OpenCV `(x - mean) * scalefactor`, OpenVINO `(x - mean) / scale`,
Core ML `x * scale + bias`). ferry keeps ONE spelling and translates it into each runtime's terms:

    out_c = (x_c * scale - mean_c) / std_c        x_c in 0..255, channels in the order of `color`

The YAML/JSON keys of `Preprocess.to_dict()` are a public format: users write them by hand.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ferry.errors import ContractError

COLORS = ("RGB", "BGR", "GRAY")
GRAY_ZERO = ("black", "white")
RESIZE_MODES = ("stretch", "shorter_side_crop", "letterbox", "none")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "area")
SEMANTICS = ("opencv", "pil")
LAYOUTS = ("NCHW", "NHWC")
DTYPES = ("float32", "float16", "uint8", "int8")
_FLOAT32_MAX = 3.4028234663852886e38


@dataclass(frozen=True)
class Resize:
    """How the decoded image becomes `size`.

    - stretch: resize to exactly (height, width), aspect ratio not kept; with crop_fraction < 1, stretch to
      size / crop_fraction and centre-crop `size` (Caffe's classify.py 256x256 -> 224, timm's crop_mode 'squash').
    - shorter_side_crop: resize so the image covers size / crop_fraction, then centre-crop `size`
      (crop_fraction 0.875 is the classic 256 -> 224 ImageNet evaluation).
    - letterbox: resize to fit inside `size` keeping the aspect ratio, pad the rest with `pad_value` (0..255 units).
    - none: the image is fed at its own size (the model must accept it).

    `semantics` says whose resize it is: OpenCV's cv2.resize (no antialiasing when shrinking) and PIL's
    Image.resize (antialiased) give different pixels for the same name.
    """

    mode: str = "stretch"
    crop_fraction: float = 1.0
    pad_value: float = 0.0
    interpolation: str = "bilinear"
    semantics: str = "opencv"

    def __post_init__(self) -> None:
        _one_of("resize.mode", self.mode, RESIZE_MODES)
        _one_of("resize.interpolation", self.interpolation, INTERPOLATIONS)
        _one_of("resize.semantics", self.semantics, SEMANTICS)
        cf = _number("resize.crop_fraction", self.crop_fraction)
        if not 0.0 < cf <= 1.0:
            raise ContractError(f"resize.crop_fraction must be in (0, 1], got {cf}")
        if cf < 1.0 and self.mode not in ("stretch", "shorter_side_crop"):
            raise ContractError(f"resize.crop_fraction {cf} crops after a stretch or a shorter-side resize; "
                                f"resize.mode {self.mode} has no crop: leave crop_fraction out (1)")
        object.__setattr__(self, "crop_fraction", cf)
        pad = _number("resize.pad_value", self.pad_value)
        if not 0.0 <= pad <= 255.0:
            raise ContractError(f"resize.pad_value is in 0..255 pixel units, got {pad}")
        object.__setattr__(self, "pad_value", pad)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Preprocess:
    """The function from a decoded image to the model's input tensor.

    Defaults (what a missing YAML key means): RGB, 0 is black, size taken from the model, stretch with OpenCV
    bilinear, scale 1, mean 0, std 1 (so raw 0..255 values), layout taken from the model, float32.
    """

    color: str = "RGB"
    gray_zero_is: str = "black"
    size: tuple[int, int] | None = None  # (height, width); None: the model's fixed input size
    resize: Resize = field(default_factory=Resize)
    scale: float = 1.0
    mean: tuple[float, ...] | None = None  # None: 0 for every channel
    std: tuple[float, ...] | None = None  # None: 1 for every channel
    layout: str | None = None  # None: the model's layout, guessed from its input shape
    dtype: str = "float32"

    def __post_init__(self) -> None:
        _one_of("color", self.color, COLORS)
        _one_of("gray_zero_is", self.gray_zero_is, GRAY_ZERO)
        if self.layout is not None:
            _one_of("layout", self.layout, LAYOUTS)
        _one_of("dtype", self.dtype, DTYPES)
        if not isinstance(self.resize, Resize):
            raise ContractError(f"resize must be a mapping, got {self.resize!r}")
        if self.size is not None:
            size = self.size
            if isinstance(size, int | float) and not isinstance(size, bool):
                size = (size, size)
            if not isinstance(size, list | tuple) or len(size) != 2:
                raise ContractError(f"size must be [height, width], got {self.size!r}")
            size = tuple(_positive_int(f"size[{i}]", v) for i, v in enumerate(size))
            object.__setattr__(self, "size", size)
        scale = _number("scale", self.scale)
        if scale == 0:
            raise ContractError("scale must not be 0 (it would erase the image)")
        object.__setattr__(self, "scale", scale)
        n = self.channels
        object.__setattr__(self, "mean", _per_channel("mean", 0.0 if self.mean is None else self.mean, n))
        std = _per_channel("std", 1.0 if self.std is None else self.std, n)
        mean = self.mean
        for i, s in enumerate(std):
            if s == 0:
                raise ContractError(f"std[{i}] is 0: the model input would be infinite; use 1 for no division")
            # the largest value the map makes must be a float32: std 1e-40 overflowed in numpy with a warning
            peak = max(abs(255 * scale), abs(mean[i])) / abs(s)
            if not peak < _FLOAT32_MAX:
                raise ContractError(f"std[{i}] is {s:g}: (x * scale - mean) / std would overflow float32 "
                                    f"(up to {peak:.3g}); std is in the units after scale, e.g. 0.229 for 0..1")
        object.__setattr__(self, "std", std)

    # ---- derived facts -------------------------------------------------------------------------------------
    @property
    def channels(self) -> int:
        return 1 if self.color == "GRAY" else 3

    def affine(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(gain, offset) per channel, so that out_c = x_c * gain_c + offset_c. Two contracts with equal color,
        affine, layout and resize are the same function."""
        gain = tuple(self.scale / s for s in self.std)
        offset = tuple(-m / s for m, s in zip(self.mean, self.std, strict=True))
        return gain, offset

    def keeps_values(self) -> bool:
        """True when the map leaves every pixel value as it is (gain 1, offset 0 per channel): the only contract
        a model that takes integer pixels and normalises them itself can be given, in any colour order."""
        gain, offset = self.affine()
        return all(abs(g - 1) <= 1e-12 for g in gain) and all(abs(o) <= 1e-12 for o in offset)

    def same_function(self, other: Preprocess, rtol: float = 1e-5) -> bool:
        """True when both contracts compute the same tensor (whatever split of scale/mean/std they use)."""
        if (self.color, self.layout, self.size, self.resize, self.dtype) != (
            other.color,
            other.layout,
            other.size,
            other.resize,
            other.dtype,
        ):
            return False
        if self.color == "GRAY" and self.gray_zero_is != other.gray_zero_is:
            return False
        (ga, oa), (gb, ob) = self.affine(), other.affine()
        return all(math.isclose(a, b, rel_tol=rtol, abs_tol=1e-6) for a, b in zip(ga + oa, gb + ob, strict=True))

    def with_model_defaults(self, size: tuple[int, int] | None, layout: str | None) -> Preprocess:
        """Fill what the contract left to the model (size, layout) from the model's input."""
        if self.size and self.layout:
            return self  # nothing left to fill: no re-validating copy (issue 7: runtimes resolve per call, 0.4 ms)
        return replace(self, size=self.size or size, layout=self.layout or layout)

    def replace(self, **changes: Any) -> Preprocess:
        return replace(self, **changes)

    # ---- serialisation -------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "color": self.color,
            "gray_zero_is": self.gray_zero_is,
            "size": list(self.size) if self.size else None,
            "resize": self.resize.to_dict(),
            "scale": self.scale,
            "mean": list(self.mean),
            "std": list(self.std),
            "layout": self.layout,
            "dtype": self.dtype,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, data: Any, source: str = "contract") -> Preprocess:
        """Build from the public YAML/JSON keys. `preset: NAME` starts from a preset; other keys override it."""
        if not isinstance(data, dict):
            raise ContractError(f"{source}: a contract is a mapping of keys, got {type(data).__name__}")
        data = dict(data)
        base: dict[str, Any] = {}
        if "preset" in data:
            from ferry.preprocess.presets import preset

            base = preset(str(data.pop("preset"))).to_dict()
        known = {f.name for f in fields(cls)}
        unknown = sorted(map(str, set(data) - known))
        if unknown:
            raise ContractError(f"{source}: unknown key {unknown[0]!r}; the keys are {', '.join(sorted(known))}")
        merged = {**base, **data}
        resize = merged.get("resize") or {}
        if isinstance(resize, str):
            resize = {"mode": resize}
        if not isinstance(resize, dict):
            raise ContractError(f"{source}: resize must be a mapping, got {resize!r}")
        base_resize = base.get("resize", {}) if isinstance(base.get("resize"), dict) else {}
        resize = {**base_resize, **resize}
        rknown = {f.name for f in fields(Resize)}
        runknown = sorted(map(str, set(resize) - rknown))
        if runknown:
            raise ContractError(f"{source}: unknown key resize.{runknown[0]}; the keys are {', '.join(sorted(rknown))}")
        try:
            merged["resize"] = Resize(**resize)
        except ContractError as exc:
            raise ContractError(f"{source}: {exc}") from None
        color = merged.get("color", "RGB")
        n = 1 if color == "GRAY" else 3
        merged.setdefault("mean", (0.0,) * n)
        merged.setdefault("std", (1.0,) * n)
        if merged.get("mean") is None:
            merged["mean"] = (0.0,) * n
        if merged.get("std") is None:
            merged["std"] = (1.0,) * n
        if merged.get("scale") is None:
            merged["scale"] = 1.0
        for key in ("color", "gray_zero_is", "resize", "dtype"):
            if key in merged and merged[key] is None:
                del merged[key]
        try:
            return cls(**merged)
        except ContractError as exc:
            raise ContractError(f"{source}: {exc}") from None
        except TypeError as exc:
            raise ContractError(f"{source}: {exc}") from None

    @classmethod
    def from_json(cls, text: str, source: str = "contract") -> Preprocess:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ContractError(f"{source}: not valid JSON ({exc})") from None
        return cls.from_dict(data, source)

    @classmethod
    def from_yaml(cls, text: str, source: str = "contract") -> Preprocess:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ContractError(f"{source}: not valid YAML ({first})") from None
        return cls.from_dict(data, source)

    @classmethod
    def load(cls, path: str | Path) -> Preprocess:
        """Read a YAML or JSON contract file (JSON is YAML, so one parser reads both)."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ContractError(f"{p}: no such contract file; give a preset name or a YAML/JSON file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ContractError(f"{p}: cannot read the contract ({exc.__class__.__name__})") from None
        if len(text) > 1_000_000:
            raise ContractError(f"{p}: a contract file of {len(text)} characters is not a contract")
        return cls.from_yaml(text, source=str(p))

    def save(self, path: str | Path) -> None:
        """Write YAML (or JSON for a .json path) atomically."""
        from ferry.io import atomic_write_text

        p = Path(path)
        text = json.dumps(self.to_dict(), indent=2) if p.suffix == ".json" else self.to_yaml()
        atomic_write_text(p, text)


def load_contract(spec: str | Path | dict | Preprocess) -> Preprocess:
    """A preset name, a YAML/JSON file path, a dict or a Preprocess: whatever a user passes as --preprocess."""
    if isinstance(spec, Preprocess):
        return spec
    if isinstance(spec, dict):
        return Preprocess.from_dict(spec)
    from ferry.preprocess.presets import PRESETS, preset

    text = str(spec)
    if text in PRESETS:
        return preset(text)
    p = Path(text)
    if p.exists() or p.suffix.lower() in (".yaml", ".yml", ".json"):
        return Preprocess.load(p)
    raise ContractError(
        f"{text}: neither a preset ({', '.join(PRESETS)}) nor a contract file; write a YAML file with the keys "
        "color, size, resize, scale, mean, std, layout, dtype"
    )


# ---- validation helpers ------------------------------------------------------------------------------------
def _one_of(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ContractError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        if isinstance(value, str):
            try:
                value = _fraction(value)
            except ValueError:
                raise ContractError(f"{name} must be a number, got {value!r}") from None
        else:
            raise ContractError(f"{name} must be a number, got {value!r}")
    try:
        value = float(value)
    except OverflowError:
        raise ContractError(f"{name} is too large, got {value!r:.40}") from None
    if not math.isfinite(value):
        raise ContractError(f"{name} must be finite, got {value}")
    return value


def _fraction(text: str) -> float:
    """Accept '1/255' as users write it in YAML."""
    if "/" in text:
        num, den = text.split("/", 1)
        if float(den) == 0:
            raise ValueError("division by zero")
        return float(num) / float(den)
    return float(text)


def _positive_int(name: str, value: Any) -> int:
    if (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
            or int(value) != value or value < 1):
        raise ContractError(f"{name} must be a positive whole number of pixels, got {value!r}")
    if value > 16384:
        raise ContractError(f"{name} of {value} pixels is beyond what ferry accepts (16384)")
    return int(value)


def _per_channel(name: str, value: Any, n: int) -> tuple[float, ...]:
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return (_number(name, value),) * n
    if not isinstance(value, list | tuple):
        raise ContractError(f"{name} must be a number or a list of {n}, got {value!r}")
    if len(value) != n:
        raise ContractError(f"{name} has {len(value)} values for {n} channel{'s' if n > 1 else ''}")
    return tuple(_number(f"{name}[{i}]", v) for i, v in enumerate(value))
