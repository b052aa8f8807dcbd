"""What a model's outputs mean: a class ranking, a label map, a set of detections.

Decoding is shared by the task comparison (`ferry.compare.task`), `ferry show` and the HTML report, so the answer
a user sees drawn is exactly the answer the verdict was computed on. Only numpy here; NMS uses OpenCV.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class ClassAnswer:
    """Probabilities over classes (softmax applied when the output holds logits) and the ranking."""

    probs: np.ndarray
    softmaxed: bool

    def top(self, k: int = 5) -> list[tuple[int, float]]:
        order = np.argsort(-self.probs, kind="stable")[:k]
        return [(int(i), float(self.probs[i])) for i in order]


@dataclass
class SegAnswer:
    """A label map (H, W) of class ids; binary maps (one channel at a threshold) have classes 0 and 1."""

    labels: np.ndarray
    n_classes: int
    binary: bool
    class_axis: int | None = None  # the axis the argmax ran over, in the per-image output (None: 1-channel)
    channels: int = 0  # > 0: independent score maps, label = the bits of the channels at or above the threshold

    def label_names(self) -> list[str] | None:
        """For independent maps: "none", "ch0", "ch1", "ch0+ch1", ... (label i has channel c where bit c is set)."""
        if not self.channels:
            return None
        return ["+".join(f"ch{c}" for c in range(self.channels) if i >> c & 1) or "none"
                for i in range(self.n_classes)]


@dataclass
class DetAnswer:
    """Detections kept at or above a score, boxes as (x1, y1, x2, y2); `normalized` when in 0..1 of the input."""

    boxes: np.ndarray  # (K, 4) float64
    scores: np.ndarray  # (K,)
    classes: np.ndarray  # (K,) int
    masks: list[np.ndarray | None] = field(default_factory=list)  # per box: probability mask in box coordinates
    normalized: bool = True


@dataclass
class PointsAnswer:
    """Landmarks read from regression heads: per output, (K, 2) points in the model input's pixels, and how each was
    read ("x,y,z triples in pixels", "x,y pairs in 0..1")."""

    points: dict[str, np.ndarray]
    how: dict[str, str]


def decode_points(outs: dict[str, np.ndarray], input_hw: tuple[int, int]) -> PointsAnswer:
    """Each per-photo output read as interleaved points (x, y, z triples, else x, y pairs: MediaPipe's landmarks,
    most torch landmark heads), in the input's pixels or in 0..1 of it, whichever holds 90% of the points inside the
    frame with a spread of more than a pixel; outputs none of these fit (flags, scores) are left out. Planar layouts
    (MTCNN's five x's then five y's) are not told apart from pairs: their points land wrong, and say so by being
    outside the face."""
    h, w = input_hw
    points: dict[str, np.ndarray] = {}
    how: dict[str, str] = {}
    for name, v in outs.items():
        flat = np.asarray(v, dtype=np.float64).reshape(-1)
        for d in (3, 2):
            if flat.size < 2 * d or flat.size % d:
                continue
            xy = flat.reshape(-1, d)[:, :2]
            for scale, unit in ((np.array([1.0, 1.0]), "pixels"), (np.array([w, h], dtype=np.float64), "0..1")):
                p = xy * scale
                inside = np.mean((p[:, 0] >= 0) & (p[:, 0] <= w) & (p[:, 1] >= 0) & (p[:, 1] <= h))
                if inside >= 0.9 and float(np.ptp(p, axis=0).max()) > 1.0:
                    points[name] = p
                    how[name] = f"{'x,y,z triples' if d == 3 else 'x,y pairs'} in {unit}"
                    break
            if name in points:
                break
    return PointsAnswer(points, how)


@dataclass
class SeqAnswer:
    """A recogniser's reading: each position's top-1 class and its probability, and the greedy CTC decoding (runs
    of one class collapsed, the blank dropped). The blank is class 0 (PaddleOCR, ddddocr, crnn.pytorch, EasyOCR)
    unless the last class is the top-1 at more positions than class 0 (TensorFlow's CTC puts it last): a CTC
    output is mostly blanks."""

    top1: np.ndarray  # (T,) int
    probs: np.ndarray  # (T,) the top-1's probability
    blank: int
    n_classes: int

    @property
    def classes(self) -> list[int]:
        out: list[int] = []
        prev = None
        for c in self.top1.tolist():
            if c != prev and c != self.blank:
                out.append(c)
            prev = c
        return out

    def text(self, names: list[str] | None = None) -> str:
        """The decoding in the charset's characters: `names` of n_classes entries (the blank's included, as
        ddddocr's charset), of n_classes - 1 (the blank left out), or of n_classes - 2 (PaddleOCR's dict: the blank
        and a space added around it); else the ids."""
        if names and self.blank == 0 and len(names) == self.n_classes - 2:
            names = [*names, " "]  # PaddleOCR's CTCLabelDecode: blank + dict + a space (use_space_char)
        shift = 0 if names is not None and len(names) == self.n_classes else 1 if self.blank == 0 else 0
        if names and len(names) in (self.n_classes, self.n_classes - 1):
            return "".join(names[c - shift] if 0 <= c - shift < len(names) else "?" for c in self.classes)
        return " ".join(str(c) for c in self.classes)


def decode_sequence(rows: np.ndarray) -> SeqAnswer:
    """[T, C] rows of class scores (logits or probabilities) as a SeqAnswer."""
    r = np.asarray(rows, dtype=np.float64)
    probs = r if r.size and r.min() >= 0 and np.all(np.abs(r.sum(1) - 1) < 1e-2) else softmax(r, 1)
    top1 = probs.argmax(1)
    n = r.shape[1]
    blank = n - 1 if n > 1 and np.sum(top1 == n - 1) > np.sum(top1 == 0) else 0
    return SeqAnswer(top1, probs[np.arange(len(top1)), top1], blank, n)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def looks_like_probs(x: np.ndarray) -> bool:
    # min/max reductions, not two boolean temporaries: this runs once per photo per output in `ferry check`
    return bool(x.size and x.min() >= 0 and x.max() <= 1 and abs(float(x.sum()) - 1.0) < 1e-3)


def decode_classify(out: np.ndarray, like: ClassAnswer | None = None) -> ClassAnswer:
    """Probabilities from class scores: softmax unless they already are probabilities. `like`: the reference's
    answer for the same photo, whose reading (probabilities or logits) the target follows: an int8 file's quantised
    probabilities sum to 0.996 and would be softmaxed again (ferry.compare.task.classify)."""
    v = np.asarray(out, dtype=np.float64).reshape(-1)
    if (not like.softmaxed) if like is not None else looks_like_probs(v):
        return ClassAnswer(v, softmaxed=False)
    return ClassAnswer(softmax(v), softmaxed=True)


def class_axis(shape: tuple[int, ...]) -> int | None:
    """The class axis of a per-image segmentation output [1, C, H, W] / [1, H, W, C] / [C, H, W] / [H, W].

    The class axis is the short one at either end; the two spatial dims are the long ones in the middle or the
    end. None means there is no class axis (a single map)."""
    dims = list(shape)
    off = 0
    if len(dims) == 4:
        if dims[0] != 1:
            raise ValueError(f"not one image's segmentation output: shape {dims}")
        dims, off = dims[1:], 1
    if len(dims) == 2:
        return None
    if len(dims) != 3:
        raise ValueError(f"not a segmentation output: shape {list(shape)}")
    a, b, c = dims
    if c < a and c < b:  # channels last
        return off + 2 if c > 1 else None
    return off if a > 1 else None


# Independent score maps: at most this many channels (2**C labels) are read as bits of one label map.
MAX_INDEPENDENT_CHANNELS = 8
# A class map's argmax is decided: its two best channels are closer than DECIDED_MARGIN of the map's value span
# (1st to 99th percentile) only at class boundaries. Independent maps tie wherever both are off. Measured
# (2026-12-04): Gaussian logits, 2 to 21 classes, white or smoothed, are decided at 91-98% of the pixels; CRAFT's
# region/affinity maps at 26% (rendered pages), 61% (text.jpg), 71% (coffee.jpg with a line of text).
DECIDED_MARGIN = 0.01
DECIDED_SHARE = 0.75


def decided_share(out: np.ndarray) -> float:
    """Share of pixels whose argmax over the class axis is decided by at least DECIDED_MARGIN of the value span.

    Why (found on EasyOCR's CRAFT, [1, H, W, 2] region and affinity scores): two score maps that are both near 0
    on the background tie there, so an argmax of them is noise: 0.1% of the span in added noise moved 17% of the
    labels of a page, where each map thresholded moved 0.01%. On a photo with no text at all both maps are flat and
    the argmax is decided again (100% on astronaut.jpg): the plan reads the first photo, so put one with the
    model's subject first."""
    a = np.asarray(out, np.float64)
    squeezed = a[0] if a.ndim == 4 and a.shape[0] == 1 else a
    axis = class_axis(squeezed.shape) if squeezed.ndim == 3 else None
    if axis is None:
        return 1.0
    top = np.sort(squeezed, axis=axis)
    best, second = np.take(top, -1, axis=axis), np.take(top, -2, axis=axis)
    finite = np.isfinite(best) & np.isfinite(second)
    if not finite.any():
        return 1.0
    lo, hi = np.percentile(squeezed[np.isfinite(squeezed)], [1, 99])
    span = hi - lo
    if not span > 0:
        return 0.0
    return float(np.mean((best - second)[finite] >= DECIDED_MARGIN * span))


def independent_maps(out: np.ndarray) -> bool:
    """A multi-channel map whose channels are separate score maps (not exclusive classes): see `decided_share`."""
    a = np.asarray(out)
    squeezed = a[0] if a.ndim == 4 and a.shape[0] == 1 else a
    if squeezed.ndim != 3:
        return False
    axis = class_axis(squeezed.shape)
    if axis is None or squeezed.shape[axis] > MAX_INDEPENDENT_CHANNELS or np.issubdtype(a.dtype, np.integer):
        return False
    return decided_share(out) < DECIDED_SHARE


def decode_segment(out: np.ndarray, threshold: float = 0.5, independent: bool = False) -> SegAnswer:
    """A label map: argmax over the class axis, a one-channel map at `threshold`, or, for `independent` score maps,
    each channel at `threshold` as one bit of the label (2**C labels, so pixel agreement and IoU read every map)."""
    a4 = np.asarray(out)
    squeezed = a4[0] if a4.ndim in (3, 4) and a4.shape[0] == 1 else a4  # drop the batch of one
    if squeezed.ndim == 2:
        if np.issubdtype(squeezed.dtype, np.integer):
            return SegAnswer(squeezed.astype(np.int64), int(squeezed.max(initial=0)) + 1, binary=False)
        return SegAnswer((squeezed >= threshold).astype(np.int64), 2, binary=True)
    axis = class_axis(squeezed.shape)
    if axis is None:
        single = squeezed.reshape([d for d in squeezed.shape if d != 1] or [1])
        return SegAnswer((single >= threshold).astype(np.int64), 2, binary=True)
    n = squeezed.shape[axis]
    if independent and n <= MAX_INDEPENDENT_CHANNELS:
        on = np.moveaxis(squeezed >= threshold, axis, 0)
        bits = np.zeros(on.shape[1:], np.int64)
        for c in range(n):
            bits |= on[c].astype(np.int64) << c
        return SegAnswer(bits, 1 << n, binary=False, class_axis=axis + (a4.ndim - squeezed.ndim), channels=n)
    return SegAnswer(np.argmax(squeezed, axis=axis).astype(np.int64), n, binary=False,
                     class_axis=axis + (a4.ndim - squeezed.ndim))


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix between (N, 4) and (M, 4) boxes in (x1, y1, x2, y2) (or consistently (y1, x1, y2, x2)).

    A pair where either box is degenerate (zero or negative width or height: an untrained head's y2 < y1, a box
    clipped to a line at the image border) has no area to overlap, so plain IoU calls two copies of it 0 and
    identical answers failed to match (issue 15: 9 reference detections "missing" and 9 "extra" on a target equal
    to 6e-8). Such a pair is scored by `_closeness` of its corners instead; identical boxes (NaN included) are 1."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    flat_a, flat_b = ~(area_a > 0), ~(area_b > 0)  # NaN coordinates count as degenerate too
    degenerate = flat_a[:, None] | flat_b[None, :]
    if degenerate.any():
        iou = np.where(degenerate, _closeness(a, b), iou)
    same = np.all((a[:, None, :] == b[None, :, :]) | (np.isnan(a[:, None, :]) & np.isnan(b[None, :, :])), axis=2)
    return np.where(same, 1.0, iou)


def _closeness(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 - (summed coordinate distance) / (the pair's size), clipped to 0..1: an IoU stand-in for boxes without area.

    The size is the longest side of either box (|x2 - x1|, |y2 - y1|, signs ignored), at least 1e-3 of the
    coordinates' scale (1 for normalised boxes, the largest coordinate for pixels) so two points compare too.
    Summing the four distances makes it track IoU where both exist: a square box of side s moved by d along one
    axis has IoU (s - d) / (s + d), about 1 - 2d/s, and closeness 1 - 2d/s. Float noise (1e-7) gives 0.9999."""
    d = np.abs(a[:, None, :] - b[None, :, :]).sum(axis=2)
    side_a = np.abs(a[:, 2:] - a[:, :2]).max(axis=1)
    side_b = np.abs(b[:, 2:] - b[:, :2]).max(axis=1)
    finite = np.concatenate([a[np.isfinite(a)], b[np.isfinite(b)]])
    floor = 1e-3 * max(1.0, float(np.abs(finite).max(initial=0.0)))
    size = np.maximum(np.maximum(side_a[:, None], side_b[None, :]), floor)
    with np.errstate(invalid="ignore"):
        close = np.clip(1.0 - d / size, 0.0, 1.0)
    return np.where(np.isnan(close), 0.0, close)


def nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, score_min: float, iou: float = 0.5,
        top_k: int = 300) -> np.ndarray:
    """Class-aware NMS through OpenCV (cv2.dnn.NMSBoxesBatched), indices kept, best first.

    Hand-writing NMS was rejected: OpenCV's is maintained and is what an OpenCV deployment would run; torchvision
    is not a ferry dependency."""
    from ferry.errors import require

    cv2 = require("cv2", "opencv")
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1).astype(np.float64)
    scale = 1.0
    if np.abs(xywh).max(initial=0.0) <= 2.0:  # NMSBoxes works in any unit, but rounds Rect2d widths poorly near 0
        scale = 1000.0
    keep = cv2.dnn.NMSBoxesBatched((xywh * scale).tolist(), [float(s) for s in scores],
                                   [int(c) for c in classes], float(score_min), float(iou), top_k=top_k)
    keep = np.asarray(keep, dtype=np.int64).reshape(-1)
    return keep[np.argsort(-scores[keep], kind="stable")]
