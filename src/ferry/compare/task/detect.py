"""Task-aware parity for detectors: detections matched by IoU, class agreement, score and mask deltas."""

from __future__ import annotations

import numpy as np

from ferry.compare.task import BOX_IOU_TOL, MASK_IOU_TOL, MATCH_IOU, SCORE_TOL, _Base, decode_detect
from ferry.decode.answers import (
    DetAnswer,
    box_iou,
)


def _mask_iou(a: np.ndarray | None, b: np.ndarray | None, threshold: float) -> float | None:
    if a is None or b is None:
        return None
    ma, mb = np.asarray(a) >= threshold, np.asarray(b) >= threshold
    if ma.shape != mb.shape:
        return 0.0
    union = np.count_nonzero(ma | mb)
    return 1.0 if union == 0 else float(np.count_nonzero(ma & mb) / union)


def match_detections(r: DetAnswer, t: DetAnswer) -> list[tuple[int, int, float]]:
    """Greedy one-to-one matching by IoU, best pair first; pairs below MATCH_IOU stay unmatched.

    Pairs whose IoU ties to 3 decimals (duplicate boxes: an untrained head's, or one box with two classes) go same
    class first, then closest score: by IoU alone float noise chose among them and identical answers reported
    class mismatches (issue 15)."""
    if len(r.boxes) == 0 or len(t.boxes) == 0:
        return []
    iou = box_iou(r.boxes, t.boxes)
    other_class = np.asarray(r.classes)[:, None] != np.asarray(t.classes)[None, :]
    with np.errstate(invalid="ignore"):
        score_gap = np.abs(np.asarray(r.scores, np.float64)[:, None] - np.asarray(t.scores, np.float64)[None, :])
    score_gap = np.where(np.isnan(score_gap), np.inf, score_gap)
    order = np.lexsort((-iou.ravel(), score_gap.ravel(), other_class.ravel(), -np.round(iou, 3).ravel()))
    pairs: list[tuple[int, int, float]] = []
    used_r, used_t = set(), set()
    for flat in order:
        i, j = np.unravel_index(flat, iou.shape)
        if iou[i, j] < MATCH_IOU:
            if np.round(iou[i, j], 3) < MATCH_IOU:
                break
            continue
        if i in used_r or j in used_t:
            continue
        used_r.add(int(i))
        used_t.add(int(j))
        pairs.append((int(i), int(j), float(iou[i, j])))
    return pairs


def _equal_outputs(ref: dict[str, np.ndarray], tgt: dict[str, np.ndarray], names: list[str]) -> bool:
    """Whether the target's outputs are the reference's, value for value (NaN where NaN): the same answer whatever
    the boxes hold. Why: a detector's matching is a heuristic (IoU, NMS, thresholds) that must never fail an answer
    equal to the reference; an untrained head's zero-area boxes and NaN scores did (issue 15)."""
    for n in names:
        a, b = ref.get(n), tgt.get(n)
        if a is None or b is None:
            return False
        if a is not b and (np.shape(a) != np.shape(b) or not _same_values(a, b)):
            return False
    return True


def _same_values(a: np.ndarray, b: np.ndarray) -> bool:
    try:
        return bool(np.array_equal(a, b, equal_nan=True))
    except TypeError:  # strings or objects have no NaN
        return bool(np.array_equal(a, b))


class DetectAccumulator(_Base):
    def __init__(self, plan, threshold, box_iou_tol: float = BOX_IOU_TOL, score_tol: float = SCORE_TOL,
                 mask_iou_tol: float = MASK_IOU_TOL):
        super().__init__(plan, threshold, {"box_iou": box_iou_tol, "score_delta": score_tol,
                                           "mask_iou": mask_iou_tol, "threshold": threshold})
        self.ref_boxes = self.tgt_boxes = self.matched = 0
        self.unmatched_ref = self.unmatched_tgt = self.class_mismatch = 0
        self.min_iou = 1.0
        self.max_score_delta = 0.0
        self.min_mask_iou: float | None = None

    def _add(self, ref, tgt, memo) -> bool:
        # Candidates down to threshold - score_tol on both sides, so a box just under the threshold on one side
        # still matches its twin just over it on the other; only boxes at or above the threshold count as missing.
        low = max(self.threshold - self.tol["score_delta"], 0.0)
        r = decode_detect(self.plan, ref, low)
        if _equal_outputs(ref, tgt, self.plan.outputs):  # identical answers always match (issue 15)
            t, pairs = r, [(i, i, 1.0) for i in range(len(r.scores))]
        else:
            t = decode_detect(self.plan, tgt, low)
            pairs = match_detections(r, t)
        ok = True
        mr = {i for i, _, _ in pairs}
        mt = {j for _, j, _ in pairs}
        miss_r = [i for i in range(len(r.scores)) if i not in mr and r.scores[i] >= self.threshold]
        miss_t = [j for j in range(len(t.scores)) if j not in mt and t.scores[j] >= self.threshold]
        self.ref_boxes += int(np.count_nonzero(r.scores >= self.threshold))
        self.tgt_boxes += int(np.count_nonzero(t.scores >= self.threshold))
        self.unmatched_ref += len(miss_r)
        self.unmatched_tgt += len(miss_t)
        ok &= not miss_r and not miss_t
        for i, j, iou in pairs:
            self.matched += 1
            self.min_iou = min(self.min_iou, iou)
            d = abs(float(r.scores[i]) - float(t.scores[j]))
            self.max_score_delta = max(self.max_score_delta, d)
            cls_ok = r.classes[i] == t.classes[j]
            self.class_mismatch += int(not cls_ok)
            ok &= bool(cls_ok) and iou >= self.tol["box_iou"] and d <= self.tol["score_delta"]
            if r.masks and t.masks:
                m = _mask_iou(r.masks[i], t.masks[j], self.threshold)
                if m is not None:
                    self.min_mask_iou = m if self.min_mask_iou is None else min(self.min_mask_iou, m)
                    ok &= m >= self.tol["mask_iou"]
        return bool(ok)

    def _merge(self, other) -> None:
        for name in ("ref_boxes", "tgt_boxes", "matched", "unmatched_ref", "unmatched_tgt", "class_mismatch"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.min_iou = min(self.min_iou, other.min_iou)
        self.max_score_delta = max(self.max_score_delta, other.max_score_delta)
        masks = [m for m in (self.min_mask_iou, other.min_mask_iou) if m is not None]
        self.min_mask_iou = min(masks) if masks else None

    def _metrics(self):
        m = {"ref_detections": self.ref_boxes, "target_detections": self.tgt_boxes, "matched": self.matched,
             "unmatched_ref": self.unmatched_ref, "unmatched_target": self.unmatched_tgt,
             "class_mismatches": self.class_mismatch, "min_box_iou": self.min_iou if self.matched else None,
             "max_score_delta": self.max_score_delta, "min_mask_iou": self.min_mask_iou}
        problems = []
        if self.unmatched_ref:
            problems.append(f"{self.unmatched_ref} reference detection(s) missing in the target")
        if self.unmatched_tgt:
            problems.append(f"{self.unmatched_tgt} extra detection(s) in the target")
        if self.class_mismatch:
            problems.append(f"{self.class_mismatch} matched box(es) with another class")
        if self.matched and self.min_iou < self.tol["box_iou"]:
            problems.append(f"box IoU down to {self.min_iou:.3f} (< {self.tol['box_iou']:g})")
        if self.max_score_delta > self.tol["score_delta"]:
            problems.append(f"score moves by {self.max_score_delta:.3g} (> {self.tol['score_delta']:g})")
        if self.min_mask_iou is not None and self.min_mask_iou < self.tol["mask_iou"]:
            problems.append(f"mask IoU down to {self.min_mask_iou:.3f} (< {self.tol['mask_iou']:g})")
        return m, "; ".join(problems) or None
