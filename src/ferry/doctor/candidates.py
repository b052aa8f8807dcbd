"""Candidate contracts: the contracts models are trained with, never a user's slip.

What the model wants is chosen among
- the conventions (`CONVENTIONS`): ImageNet mean/std on 0..1, Caffe means on 0..255, -1..1, (x-127.5)/128,
  (x-127)/128, 0..1, 0..255, each in RGB and BGR (gray: each polarity), and PaddleOCR's ImageNet mean/std in RGB order
  on BGR pixels, a contract real OCR models are trained with;
- the contract the file itself states (ferry.doctor.stated), when it states one;
- with a reference: the reference's contract and every one-step change of it (`reference_neighbourhood`): colour
  swapped with the means kept or reversed, scale x255 or /255, the output x255 or /255, mean dropped, std dropped,
  layout swapped, each resize mode. A model converted from the reference differs from it by one such step, and
  only the neighbourhood finds a non-convention contract exactly (BGR 104/117/123 read as RGB is RGB 123/117/104,
  not the ImageNet-derived RGB 123.68/116.78/103.94).

The slips (`SLIPS`: mean not scaled, swap after mean, twice, std as 1/std, no std, no mean) are what users do
wrong. They explain the distance from what the user feeds to the answer (`explain`), and are never candidates: each
one feeds a model inputs far from any training distribution, often 100-1000x larger, and output confidence grows
with input magnitude in ReLU networks, so a slip can look better than the truth without labels.

Candidates that compute the same function (`Preprocess.same_function`) are merged; the first name wins.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from ferry.preprocess.contract import Preprocess, Resize
from ferry.preprocess.presets import CAFFE_MEAN_BGR, IMAGENET_MEAN, IMAGENET_STD

# name -> (scale, mean, std), mean/std in RGB order and in the units after `scale`.
CONVENTIONS: dict[str, tuple[float, tuple[float, ...], tuple[float, ...]]] = {
    "imagenet": (1 / 255, IMAGENET_MEAN, IMAGENET_STD),
    "caffe": (1.0, tuple(reversed(CAFFE_MEAN_BGR)), (1.0,) * 3),
    "-1..1": (1 / 127.5, (1.0,) * 3, (1.0,) * 3),
    "(x-127.5)/128": (1.0, (127.5,) * 3, (128.0,) * 3),  # MTCNN, face models
    "(x-127)/128": (1.0, (127.0,) * 3, (128.0,) * 3),  # TF Lite image classifiers (EfficientNet-Lite)
    "0..1": (1 / 255, (0.0,) * 3, (1.0,) * 3),
    "0..255": (1.0, (0.0,) * 3, (1.0,) * 3),
}
# Conventions whose mean/std apply to the channels as they lie, not per colour: PaddleOCR decodes BGR and applies
# ImageNet's RGB-order numbers to it (configs/det/ch_PP-OCRv4/ch_PP-OCRv4_det_student.yml, NormalizeImage).
AS_LAID: dict[str, tuple[str, float, tuple[float, ...], tuple[float, ...]]] = {
    "imagenet, RGB-order numbers (PaddleOCR)": ("BGR", 1 / 255, IMAGENET_MEAN, IMAGENET_STD),
}


@dataclass(frozen=True)
class Candidate:
    """A contract the model might want, with where it came from (for the report)."""

    name: str
    preprocess: Preprocess
    origin: str = "convention"  # convention | stated | reference | yours | layout | resize

    def to_dict(self) -> dict:
        return {"name": self.name, "origin": self.origin, "preprocess": self.preprocess.to_dict()}


def _in_order(values: tuple[float, ...], color: str) -> tuple[float, ...]:
    return tuple(reversed(values)) if color == "BGR" and len(values) == 3 else values


def _merge(out: list[Candidate], cand: Candidate) -> None:
    if not any(c.preprocess.same_function(cand.preprocess) for c in out):
        out.append(cand)


def conventions(base: Preprocess, channels: int = 3) -> list[Candidate]:
    """Every convention in each colour order (gray: each polarity), at `base`'s size, resize, layout and dtype."""
    out: list[Candidate] = []
    colors = ("RGB", "BGR") if channels == 3 else ("GRAY",)
    polarities = ("black", "white") if channels == 1 else ("black",)
    for color in colors:
        for name, (scale, mean, std) in CONVENTIONS.items():
            if channels == 1:
                mean, std = (sum(mean) / 3,), (sum(std) / 3,)
            for zero in polarities:
                pp = replace(base, color=color, gray_zero_is=zero, scale=scale, mean=_in_order(mean, color),
                             std=_in_order(std, color))
                _merge(out, Candidate(f"{color}{' inverted' if zero == 'white' else ''} {name}", pp))
    if channels == 3:
        for name, (color, scale, mean, std) in AS_LAID.items():
            _merge(out, Candidate(f"{color} {name}", replace(base, color=color, scale=scale, mean=mean, std=std)))
    return out


def normalisation_candidates(base: Preprocess, yours: Preprocess | None = None, channels: int = 3) -> list[Candidate]:
    """The conventions at `base`'s geometry, and, when given, what the user feeds (`yours`): a user who feeds the
    right contract must be able to hear so. `yours` is only ever ranked where parity with a reference or photos
    with known answers judge it; label-free ranking uses the conventions alone."""
    out = conventions(base, channels)
    if yours is not None and yours.channels == channels:
        mine = replace(base, color=yours.color, gray_zero_is=yours.gray_zero_is, scale=yours.scale, mean=yours.mean,
                       std=yours.std)
        _merge(out, Candidate("what you feed", mine, "yours"))
    return out


def other_color(color: str) -> str:
    """RGB for BGR and BGR for RGB; GRAY stays."""
    return {"RGB": "BGR", "BGR": "RGB"}.get(color, color)


def reference_neighbourhood(ref: Preprocess, can_swap_layout: bool) -> list[Candidate]:
    """The reference's contract and each one-step change of it: what a converted copy of the reference can want."""
    steps: list[tuple[str, dict]] = [("", {})]
    if ref.color in ("RGB", "BGR"):
        other = other_color(ref.color)
        steps.append((f"read as {other}, means reversed", {"color": other, "mean": tuple(reversed(ref.mean)),
                                                           "std": tuple(reversed(ref.std))}))
        steps.append((f"read as {other}, means kept", {"color": other}))
    else:
        steps.append(("gray polarity inverted",
                      {"gray_zero_is": "white" if ref.gray_zero_is == "black" else "black"}))
    steps += [("scale x255", {"scale": ref.scale * 255}), ("scale /255", {"scale": ref.scale / 255}),
              ("values x255", {"std": tuple(s / 255 for s in ref.std)}),
              ("values /255", {"std": tuple(s * 255 for s in ref.std)})]
    if any(m != 0 for m in ref.mean):
        steps.append(("mean dropped", {"mean": (0.0,) * len(ref.mean)}))
    if any(s != 1 for s in ref.std):
        steps.append(("std dropped", {"std": (1.0,) * len(ref.std)}))
    out: list[Candidate] = []
    for label, change in steps:
        _merge(out, Candidate("the reference's contract" + (f", {label}" if label else ""), replace(ref, **change),
                              "reference"))
    for c in geometry_candidates(ref, can_swap_layout)[1:]:
        _merge(out, Candidate(f"the reference's contract, {c.name}", c.preprocess, c.origin))
    return out


# ---- slips: what users do wrong, to explain the distance from what they feed to the answer ------------------------
def _slips(scale: float, mean: tuple[float, ...], std: tuple[float, ...]) -> Iterator[tuple[str, float, tuple, tuple]]:
    """(slip, scale, mean, std) for each known slip of one normalisation."""
    if scale != 1.0:
        yield "the mean is not scaled with the pixels", scale, tuple(m / scale for m in mean), std
        yield "the mean is scaled twice", scale, tuple(m * scale for m in mean), std
    if len(set(mean)) > 1 or len(set(std)) > 1:
        yield "the channels are swapped after the mean is subtracted", scale, tuple(reversed(mean)), tuple(
            reversed(std))
    gain = [scale / s for s in std]
    offset = [-m / s for m, s in zip(mean, std, strict=True)]
    # twice: y = g*(g*x + o) + o = g*g*x + (g*o + o)  ->  scale 1, std 1/(g*g), mean -(g*o + o)/(g*g)
    yield "the normalisation is applied twice", 1.0, tuple(-(g * o + o) / (g * g) for g, o in zip(
        gain, offset, strict=True)), tuple(1 / (g * g) for g in gain)
    if any(s != 1.0 for s in std):
        yield "std is used as 1/std (multiplied where it should divide)", scale, mean, tuple(1 / s for s in std)
        yield "std is left out", scale, mean, (1.0,) * len(std)
    if any(m != 0.0 for m in mean):
        yield "the mean is left out", scale, (0.0,) * len(mean), std


SLIPS = ("the mean is not scaled with the pixels", "the mean is scaled twice",
         "the channels are swapped after the mean is subtracted", "the normalisation is applied twice",
         "std is used as 1/std (multiplied where it should divide)", "std is left out", "the mean is left out")


def explain(yours: Preprocess, wanted: Preprocess) -> str | None:
    """The one slip (with or without a colour swap) that turns the contract the model wants into what the user
    feeds, or None when no single slip does."""
    if same_range(yours, wanted, 1e-6):
        return None  # the same normalisation per colour: what differs is colour order or geometry, said elsewhere
    geometry = {"layout": yours.layout, "size": yours.size, "resize": yours.resize, "dtype": yours.dtype}
    for swapped in (False, True):
        color = other_color(wanted.color) if swapped else wanted.color
        if swapped and color == wanted.color:
            continue
        for slip, s2, m2, d2 in _slips(wanted.scale, wanted.mean, wanted.std):
            try:
                slipped = replace(wanted, color=color, scale=s2, mean=m2, std=d2, **geometry)
            except Exception:  # noqa: BLE001 - a slip that makes no valid contract explains nothing
                continue
            if slipped.same_function(yours):
                return slip + (f", and the channels are {color} where the model wants {wanted.color}"
                               if swapped else "")
    return None


RESIZES = (
    Resize(mode="stretch"),
    Resize(mode="stretch", crop_fraction=0.875),  # Caffe's 256x256 -> 224, whatever the photo's aspect
    Resize(mode="shorter_side_crop", crop_fraction=0.875),
    Resize(mode="shorter_side_crop", crop_fraction=1.0),
    Resize(mode="letterbox", pad_value=0.0),
    Resize(mode="letterbox", pad_value=114.0),
)


def geometry_candidates(best: Preprocess, can_swap_layout: bool) -> list[Candidate]:
    """Around a winning normalisation: the other resize modes (same interpolation and semantics) and layout."""
    out = [Candidate("as found", best, "convention")]
    for r in RESIZES:
        r = replace(r, interpolation=best.resize.interpolation, semantics=best.resize.semantics)
        label = r.mode + (f" {r.crop_fraction:g}" if r.mode == "shorter_side_crop" else "") + (
            f" then crop {r.crop_fraction:g}" if r.mode == "stretch" and r.crop_fraction < 1.0 else "") + (
            f" pad {r.pad_value:g}" if r.mode == "letterbox" else "")
        _merge(out, Candidate(f"resize {label}", replace(best, resize=r), "resize"))
    if can_swap_layout and best.layout is not None and best.channels > 1:  # one channel: the same buffer
        other = "NHWC" if best.layout == "NCHW" else "NCHW"
        _merge(out, Candidate(f"layout {other} (buffer in the wrong order)", replace(best, layout=other), "layout"))
    return out


def per_colour(pp: Preprocess) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(gain, offset) per colour in R, G, B order (gray: one channel): the normalisation, whatever the channel
    order, so that the range question can be asked apart from the colour question."""
    gain, offset = pp.affine()
    if pp.color == "BGR":
        return tuple(reversed(gain)), tuple(reversed(offset))
    return gain, offset


def same_range(a: Preprocess, b: Preprocess, tolerance: float = 0.01) -> bool:
    """True when both contracts normalise each colour the same way, to `tolerance` of the span (colour order,
    layout and resize aside)."""
    if a.channels != b.channels:
        return False
    (ga, oa), (gb, ob) = per_colour(a), per_colour(b)
    for g1, o1, g2, o2 in zip(ga, oa, gb, ob, strict=True):
        span = max(abs(g1), abs(g2)) * 255
        if max(abs(o1 - o2), abs(g1 * 255 + o1 - g2 * 255 - o2)) > tolerance * span:
            return False
    return True


def indistinguishable(a: Preprocess, b: Preprocess, tolerance: float = 0.01) -> bool:
    """True when the two contracts' tensors differ by at most `tolerance` of their span for every pixel value:
    (x-127)/128 and (x-127.5)/127.5 differ by 0.4%, which no label-free evidence can resolve."""
    if (a.color, a.layout, a.size, a.resize, a.dtype) != (b.color, b.layout, b.size, b.resize, b.dtype):
        return False
    if a.color == "GRAY" and a.gray_zero_is != b.gray_zero_is:
        return False
    return same_range(a, b, tolerance)
