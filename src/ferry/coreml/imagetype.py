"""ferry's contract <-> Core ML's ImageType, exactly.

Core ML feeds an image input as `y_c = x_c * scale + bias_c` (x in 0..255, channels in `color_layout` order):
the scale comes FIRST, so a contract's mean must be multiplied by the scale before it becomes a bias (the classic
mistake: `bias = -mean` with `scale = 1/255` shifts every pixel by 255 times too much). The contract

    out_c = (x_c * scale - mean_c) / std_c  =  x_c * gain_c + offset_c

maps to `scale = gain`, `bias_c = offset_c` when every channel has the same gain. ImageType has one scalar scale,
so a per-channel std cannot be expressed by it: ferry then keeps `scale = scale` and `bias_c = -mean_c` in the
ImageType and folds `1 / std_c` into an explicit per-channel multiply right after the image input (the `std_fold`),
which is exact; the average-std workaround from coremltools' docs is off by up to 1.3% on ImageNet's std.

Grayscale: Core ML's GRAYSCALE is 0 = black. A model that expects 0 = white gets the inversion folded into the
same affine map: `(255 - x) * g + o = x * (-g) + (255 g + o)`, a negative scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ferry.errors import FerryError
from ferry.preprocess.contract import Preprocess, Resize

LAYOUTS = {"RGB": "RGB", "BGR": "BGR", "GRAY": "GRAYSCALE"}


@dataclass(frozen=True)
class ImageTypeParams:
    """What goes into `ct.ImageType(...)`, plus the per-channel multiply ferry adds after it (None: not needed)."""

    color_layout: str  # RGB | BGR | GRAYSCALE (ct.colorlayout member names)
    scale: float
    bias: tuple[float, ...]  # one per channel
    std_fold: tuple[float, ...] | None = None  # 1/std_c, multiplied after the image input

    def ct_bias(self) -> float | list[float]:
        return self.bias[0] if self.color_layout == "GRAYSCALE" else list(self.bias)

    def code(self, name: str, shape: tuple[int, ...]) -> str:
        bias = repr(self.ct_bias())
        return (f"ct.ImageType(name={name!r}, shape={tuple(shape)!r}, scale={self.scale!r}, bias={bias}, "
                f"color_layout=ct.colorlayout.{self.color_layout})")


def _uniform(values: tuple[float, ...]) -> bool:
    return all(math.isclose(v, values[0], rel_tol=1e-12, abs_tol=0.0) for v in values)


def from_contract(pre: Preprocess) -> ImageTypeParams:
    """The exact ImageType parameters for a contract (and the std fold when the gains differ per channel)."""
    if pre.dtype not in ("float32", "float16"):
        raise FerryError(f"a Core ML image input gives the model floats; the contract's dtype is {pre.dtype} "
                         "(a model that takes raw integers cannot take a Core ML ImageType)")
    gain, offset = pre.affine()
    flip = pre.color == "GRAY" and pre.gray_zero_is == "white"
    if flip:  # (255 - x) * g + o
        gain, offset = tuple(-g for g in gain), tuple(o + 255.0 * g for g, o in zip(gain, offset, strict=True))
    layout = LAYOUTS[pre.color]
    if _uniform(gain):
        return ImageTypeParams(layout, float(gain[0]), tuple(float(o) for o in offset))
    # Per-channel gains: ImageType keeps the common scale, the fold divides by std after it.
    s = -pre.scale if flip else pre.scale
    bias = tuple((255.0 * pre.scale - m) if flip else -m for m in pre.mean)  # (x * s - mean) before the fold
    return ImageTypeParams(layout, float(s), tuple(float(b) for b in bias), tuple(1.0 / d for d in pre.std))


def to_contract(color_layout: str, gain: tuple[float, ...], offset: tuple[float, ...],
                size: tuple[int, int] | None, split: tuple[float, tuple[float, ...], tuple[float, ...]] | None = None
                ) -> Preprocess:
    """The contract a Core ML image input computes: `x * gain_c + offset_c` in `color_layout` order.

    `split` = (scale, bias, fold) when the file has the ImageType mul/add followed by a per-channel multiply, so
    the contract reads back as scale/mean/std the way it was written (ImageNet's std, not 1/gain)."""
    color = {"RGB": "RGB", "BGR": "BGR", "GRAYSCALE": "GRAY", "GRAYSCALE_FLOAT16": "GRAY"}.get(color_layout)
    if color is None:
        raise FerryError(f"Core ML color layout {color_layout} has no ferry contract")
    base = dict(size=size, resize=Resize(), layout="NCHW", dtype="float32")
    if color == "GRAY":
        g, o = gain[0], offset[0]
        if g < 0:  # x * g + o = (255 - x) * (-g) + (o + 255 g): 0 is white
            return Preprocess(color="GRAY", gray_zero_is="white", scale=-g, mean=(-(o + 255.0 * g),), **base)
        return Preprocess(color="GRAY", scale=g, mean=(-o,), **base)
    if split is not None:
        s, b, k = split
        return Preprocess(color=color, scale=s, mean=tuple(-v for v in b), std=tuple(1.0 / v for v in k), **base)
    if _uniform(gain):
        return Preprocess(color=color, scale=gain[0], mean=tuple(-v for v in offset), **base)
    return Preprocess(color=color, scale=1.0, std=tuple(1.0 / g for g in gain),
                      mean=tuple(-o / g for g, o in zip(gain, offset, strict=True)), **base)
