"""Candidate contracts, generated from the conventions people use and the slips they make, never listed by hand.

Every candidate is colour order x normalisation (pixel range with a mean/std set) x slip, then, around the
winner, layout x resize mode. A slip is a function of a normalisation, so it applies to every convention and to
the user's own contract alike:

    mean not scaled      the mean is given in pixel units (0..255) but the pixels were scaled first, or the reverse
    swap after mean      the channels were swapped after the per-channel mean/std: mean/std in the wrong order
    twice                the normalisation applied twice (e.g. in the app and again in an embedded graph)
    std as 1/std         multiplied by std where it should divide (OpenCV's scalefactor vs OpenVINO's scale)
    no std / no mean     half of the normalisation forgotten

Candidates that compute the same function (`Preprocess.same_function`) are merged; the first name wins.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ferry.preprocess.contract import Preprocess, Resize
from ferry.preprocess.presets import CAFFE_MEAN_BGR, IMAGENET_MEAN, IMAGENET_STD

# name -> (scale, mean, std), mean/std in RGB order and in the units after `scale`.
NORMALISATIONS: dict[str, tuple[float, tuple[float, ...], tuple[float, ...]]] = {
    "imagenet": (1 / 255, IMAGENET_MEAN, IMAGENET_STD),
    "-1..1": (1 / 127.5, (1.0,) * 3, (1.0,) * 3),
    "0..1": (1 / 255, (0.0,) * 3, (1.0,) * 3),
    "0..255": (1.0, (0.0,) * 3, (1.0,) * 3),
    "caffe": (1.0, tuple(reversed(CAFFE_MEAN_BGR)), (1.0,) * 3),
    "(x-127)/128": (1.0, (127.0,) * 3, (128.0,) * 3),  # TF Lite image classifiers (EfficientNet-Lite)
    "(x-127.5)/128": (1.0, (127.5,) * 3, (128.0,) * 3),  # MTCNN, some face models
    "imagenet mean only": (1 / 255, IMAGENET_MEAN, (1.0,) * 3),
    "imagenet in 0..255": (1.0, tuple(m * 255 for m in IMAGENET_MEAN), tuple(s * 255 for s in IMAGENET_STD)),
}


@dataclass(frozen=True)
class Candidate:
    """A contract the model might want, with where it came from (for the report)."""

    name: str
    preprocess: Preprocess
    origin: str = "convention"  # convention | slip | yours | layout | resize

    def to_dict(self) -> dict:
        return {"name": self.name, "origin": self.origin, "preprocess": self.preprocess.to_dict()}


def _in_order(values: tuple[float, ...], color: str) -> tuple[float, ...]:
    return tuple(reversed(values)) if color == "BGR" and len(values) == 3 else values


def _slips(scale: float, mean: tuple[float, ...], std: tuple[float, ...]):
    """(slip name, scale, mean, std) for each known slip of one normalisation."""
    if scale != 1.0:
        yield "mean not scaled", scale, tuple(m / scale for m in mean), std
        yield "mean scaled twice", scale, tuple(m * scale for m in mean), std
    if len(set(mean)) > 1 or len(set(std)) > 1:
        yield "swap after mean", scale, tuple(reversed(mean)), tuple(reversed(std))
    gain = [scale / s for s in std]
    offset = [-m / s for m, s in zip(mean, std, strict=True)]
    # twice: y = g*(g*x + o) + o  ->  scale g*g, mean -(g*o + o), std 1
    yield "twice", 1.0, tuple(-(g * o + o) for g, o in zip(gain, offset, strict=True)), tuple(
        1 / (g * g) for g in gain)
    if any(s != 1.0 for s in std):
        yield "std as 1/std", scale, mean, tuple(1 / s for s in std)
        yield "no std", scale, mean, (1.0,) * len(std)
    if any(m != 0.0 for m in mean):
        yield "no mean", scale, (0.0,) * len(mean), std


def _merge(out: list[Candidate], cand: Candidate) -> None:
    if not any(c.preprocess.same_function(cand.preprocess) for c in out):
        out.append(cand)


def normalisation_candidates(base: Preprocess, yours: Preprocess | None = None, slips: bool = True,
                             channels: int = 3) -> list[Candidate]:
    """Colour order x normalisation x slip, at `base`'s size, resize, layout and dtype. `yours` (what the user
    feeds today) and its slips join the space."""
    out: list[Candidate] = []
    norms: list[tuple[str, str, float, tuple[float, ...], tuple[float, ...]]] = []
    colors = ("RGB", "BGR") if channels == 3 else ("GRAY",)
    for color in colors:
        for name, (scale, mean, std) in NORMALISATIONS.items():
            if channels == 1:
                mean, std = (sum(mean) / 3,), (sum(std) / 3,)
            norms.append((color, name, scale, _in_order(mean, color), _in_order(std, color)))
    if yours is not None and yours.channels == channels:
        for color in colors:
            swap = color != yours.color and channels == 3
            mean = tuple(reversed(yours.mean)) if swap else yours.mean
            std = tuple(reversed(yours.std)) if swap else yours.std
            norms.insert(0, (color, "yours" if color == yours.color else "yours, colours swapped",
                             yours.scale, mean, std))
    polarities = ("black", "white") if channels == 1 else ("black",)
    for color, name, scale, mean, std in norms:
        for zero in polarities:
            pp = replace(base, color=color, gray_zero_is=zero, scale=scale, mean=mean, std=std)
            label = f"{color}{' inverted' if zero == 'white' else ''} {name}"
            _merge(out, Candidate(label, pp, "yours" if name.startswith("yours") else "convention"))
    if slips:
        for color, name, scale, mean, std in norms:
            for slip, s2, m2, d2 in _slips(scale, mean, std):
                for zero in polarities:
                    try:
                        pp = replace(base, color=color, gray_zero_is=zero, scale=s2, mean=m2, std=d2)
                    except Exception:  # noqa: BLE001 - a slip that makes no valid contract is no candidate
                        continue
                    _merge(out, Candidate(f"{color} {name}, {slip}", pp, "slip"))
    return out


RESIZES = (
    Resize(mode="stretch"),
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
            f" pad {r.pad_value:g}" if r.mode == "letterbox" else "")
        _merge(out, Candidate(f"resize {label}", replace(best, resize=r), "resize"))
    if can_swap_layout and best.layout is not None:
        other = "NHWC" if best.layout == "NCHW" else "NCHW"
        _merge(out, Candidate(f"layout {other} (buffer in the wrong order)", replace(best, layout=other), "layout"))
    return out


def indistinguishable(a: Preprocess, b: Preprocess, tolerance: float = 0.01) -> bool:
    """True when the two contracts' tensors differ by at most `tolerance` of their span for every pixel value:
    (x-127)/128 and (x-127.5)/127.5 differ by 0.4%, which no label-free evidence can resolve."""
    if (a.color, a.layout, a.size, a.resize, a.dtype) != (b.color, b.layout, b.size, b.resize, b.dtype):
        return False
    if a.color == "GRAY" and a.gray_zero_is != b.gray_zero_is:
        return False
    (ga, oa), (gb, ob) = a.affine(), b.affine()
    for g1, o1, g2, o2 in zip(ga, oa, gb, ob, strict=True):
        span = max(abs(g1), abs(g2)) * 255
        diff = max(abs(o1 - o2), abs(g1 * 255 + o1 - g2 * 255 - o2))
        if diff > tolerance * span:
            return False
    return True
