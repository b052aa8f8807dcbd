"""Ultralytics YOLO heads (v8 and later, as `yolo export format=onnx` writes them), decoded to detections.

    detect   output0 [1, 4 + nc, N]: per candidate cx, cy, w, h (input pixels) and nc class scores, already
             sigmoided; no objectness column (YOLOv5's [1, N, 5 + nc] has one: `objectness=True`, which
             ferry.compare.task sets for a YOLOv5-family export)
    segment  output0 [1, 4 + nc + P, N] (P mask coefficients, 32) and output1 protos [1, P, H/4, W/4]:
             mask = sigmoid(coefficients @ protos), cropped to the box, upsampled to the input (what
             ultralytics/utils/ops.py process_mask does)

Candidates go through class-aware NMS (Ultralytics' is class-aware unless `agnostic_nms`), at its predict default
IoU 0.7 when the file's metadata says it is an Ultralytics export, else at ferry's 0.5. Boxes stay in the model's
input pixels, the letterboxed view: ferry compares a source and a target fed the same letterbox, so both sides'
boxes share those coordinates; `unletterbox` maps them to the photo for an app that draws on it.

Why a decoder here rather than comparing output0 as a tensor: a contract mistake that moves a few scores across
the threshold, or a box by a few pixels, is what the app sees; the tensor check reports max abs over 8400 x 84
numbers, most of them background. Pose (keypoints after the class scores) and OBB (an angle) heads are not
decoded: ferry compares them as tensors and says so.
"""

from __future__ import annotations

import numpy as np

from ferry.decode.answers import DetAnswer, nms

PROTO_STRIDE = 4  # Ultralytics' prototype masks are at 1/4 of the input (P3 at stride 8, upsampled twice)
NMS_IOU = 0.7  # ultralytics/cfg/default.yaml iou: 0.7
MAX_DET = 300  # ultralytics/cfg/default.yaml max_det: 300


def candidate_rows(a: np.ndarray) -> np.ndarray:
    """[1, 4 + C, N] (what the export writes) or [1, N, 4 + C] as N rows of 4 + C, float64."""
    a = np.asarray(a, np.float64)
    a = a.reshape(a.shape[-2:]) if a.ndim == 3 else a
    return a.T if a.shape[0] < a.shape[1] else a


def mask_coefficients(rows: int, protos: np.ndarray | None) -> int:
    """How many trailing columns of a candidate row are mask coefficients: the prototypes' channel count."""
    return 0 if protos is None else int(np.asarray(protos).shape[-3])


def decode(candidates: np.ndarray, min_score: float, protos: np.ndarray | None = None,
           iou: float = 0.5, objectness: bool = False) -> DetAnswer:
    """Detections with score >= min_score after NMS, boxes (x1, y1, x2, y2) in input pixels, best first; with
    `protos`, each detection's mask (bool, the input's size, zero outside its box). `objectness`: column 4 is
    YOLOv5's objectness and a class's score is objectness x class score (yolov5 utils/general.py
    non_max_suppression), the classes from column 5."""
    rows = candidate_rows(candidates)
    p = mask_coefficients(rows.shape[1], protos)
    first = 5 if objectness else 4
    nc = rows.shape[1] - first - p
    if nc < 1:
        raise ValueError(f"a YOLO head of {rows.shape[1]} columns with {p} mask coefficients has no class scores")
    c = rows[:, :4]
    boxes = np.concatenate([c[:, :2] - c[:, 2:] / 2, c[:, :2] + c[:, 2:] / 2], axis=1)
    cls = rows[:, first:first + nc] * (rows[:, 4:5] if objectness else 1.0)
    classes, scores = np.argmax(cls, 1), np.max(cls, 1)
    keep = nms(boxes, scores, classes, min_score, iou=iou, top_k=MAX_DET)
    masks: list[np.ndarray | None] = []
    if protos is not None and len(keep):
        masks = list(proto_masks(rows[keep, first + nc:], np.asarray(protos, np.float64), boxes[keep]))
    normalized = bool(np.abs(boxes).max(initial=0.0) <= 1.5)  # an export with normalised boxes (rare) draws so
    return DetAnswer(boxes[keep], scores[keep], classes[keep].astype(np.int64), masks, normalized)


def proto_masks(coeffs: np.ndarray, protos: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(K, H, W) bool masks at the input's size: sigmoid(coeffs @ protos) cropped to each box (in prototype
    pixels), then upsampled bilinearly by PROTO_STRIDE and taken at 0.5, as Ultralytics' process_mask does."""
    import cv2

    p, h, w = protos.shape[-3:]
    logits = (coeffs @ protos.reshape(p, h * w)).reshape(-1, h, w)
    with np.errstate(over="ignore"):
        probs = 1.0 / (1.0 + np.exp(-logits))
    b = boxes / PROTO_STRIDE
    xs, ys = np.arange(w)[None, None, :], np.arange(h)[None, :, None]
    inside = ((xs >= b[:, 0, None, None]) & (xs < b[:, 2, None, None])
              & (ys >= b[:, 1, None, None]) & (ys < b[:, 3, None, None]))
    probs = np.where(inside, probs, 0.0).astype(np.float32)
    size = (w * PROTO_STRIDE, h * PROTO_STRIDE)
    return np.stack([cv2.resize(m, size, interpolation=cv2.INTER_LINEAR) > 0.5 for m in probs])


def unletterbox(boxes: np.ndarray, photo_hw: tuple[int, int], input_hw: tuple[int, int]) -> np.ndarray:
    """Boxes from the letterboxed input back to the photo: minus the centred padding, over the one scale, clipped
    (ultralytics/utils/ops.py scale_boxes)."""
    ph, pw = photo_hw
    ih, iw = input_hw
    gain = min(ih / ph, iw / pw)
    pad_x, pad_y = (iw - pw * gain) / 2, (ih - ph * gain) / 2
    out = (np.asarray(boxes, np.float64) - [pad_x, pad_y, pad_x, pad_y]) / gain
    return np.clip(out, 0, [pw, ph, pw, ph])
