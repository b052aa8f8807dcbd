"""Task-aware parity for segmenters: pixel agreement, per-class IoU and mIoU of the two label maps."""

from __future__ import annotations

import numpy as np

from ferry.compare.task import MIOU_TOL, PIXEL_TOL, _Base, _decoded


def _label_range_known(answer) -> bool:
    """Labels certainly in 0..n_classes-1: a thresholded mask or an argmax (a model's own integer map may not be)."""
    return answer.binary or answer.class_axis is not None


def _overlap(rl: np.ndarray, tl: np.ndarray, n: int, fast: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """Per class: pixels both label it (intersection), either does (union); and pixels that agree.

    Fast (issue 7): one bincount of the pair (r, t) gives the n x n confusion matrix, from which all three follow;
    the same integers as the six passes of the general way (a PP-OCRv4 map is 307k pixels a photo)."""
    if fast and n * n <= 1 << 16:
        pair = rl * n
        pair += tl
        conf = np.bincount(pair, minlength=n * n).reshape(n, n)
        inter = np.diagonal(conf).copy()
        return inter, conf.sum(axis=1) + conf.sum(axis=0) - inter, int(inter.sum())
    agree = rl == tl
    inter = np.bincount(rl[agree], minlength=n)[:n]
    union = (np.bincount(rl, minlength=n) + np.bincount(tl, minlength=n))[:n] - inter
    return inter, union, int(np.count_nonzero(agree))


class SegmentAccumulator(_Base):
    def __init__(self, plan, threshold, pixel_tol: float = PIXEL_TOL, miou_tol: float = MIOU_TOL,
                 image_miou_tol: float | None = None):
        """`image_miou_tol`: the least mIoU of one photo, when not `miou_tol` (a photo with little foreground has
        an unstable mIoU: ferry.compare.fair's int8-weights rule)."""
        tol = {"pixel_agreement": pixel_tol, "miou": miou_tol, "threshold": threshold}
        if image_miou_tol is not None:
            tol["image_miou"] = image_miou_tol
        super().__init__(plan, threshold, tol)
        self.inter: np.ndarray | None = None
        self.union: np.ndarray | None = None
        self.same = 0
        self.total = 0
        self.worst = 1.0
        self.worst_miou = 1.0
        self.binary = False

    def _add(self, ref, tgt, memo) -> bool:
        name = self.plan.roles["out"]
        r = _decoded("segment", ref[name], self.threshold, memo, self.plan.independent)
        t = _decoded("segment", tgt[name], self.threshold, memo, self.plan.independent)
        if r.labels.shape != t.labels.shape:
            raise ValueError(f"label map {list(t.labels.shape)} where the reference's is {list(r.labels.shape)}")
        if r.n_classes != t.n_classes:
            raise ValueError(f"{t.n_classes} classes where the reference has {r.n_classes}")
        n = r.n_classes
        self.binary = r.binary
        if self.inter is None:
            self.inter, self.union = np.zeros(n, np.int64), np.zeros(n, np.int64)
        rl, tl = r.labels.ravel(), t.labels.ravel()
        if t is r:  # check's reused source run: every pixel agrees, intersection = union = the class counts
            inter = union = np.bincount(rl, minlength=n)[:n]
            same = rl.size
        else:
            inter, union, same = _overlap(rl, tl, n, fast=_label_range_known(r) and _label_range_known(t))
        self.inter += inter
        self.union += union
        self.same += same
        self.total += rl.size
        agree = same / rl.size if rl.size else 1.0
        self.worst = min(self.worst, agree)
        image_miou = float(np.mean(inter[union > 0] / union[union > 0])) if (union > 0).any() else 1.0
        self.worst_miou = min(self.worst_miou, image_miou)
        return agree >= self.tol["pixel_agreement"] and image_miou >= self.tol.get("image_miou", self.tol["miou"])

    def _merge(self, other) -> None:
        if other.inter is not None:
            if self.inter is None:
                self.inter, self.union = other.inter.copy(), other.union.copy()
            elif len(self.inter) == len(other.inter):
                self.inter += other.inter
                self.union += other.union
            else:
                self.problem = self.problem or "the shards of photos decoded different class counts"
        self.same += other.same
        self.total += other.total
        self.worst = min(self.worst, other.worst)
        self.worst_miou = min(self.worst_miou, other.worst_miou)
        self.binary = self.binary or other.binary

    def _metrics(self):
        if self.inter is None:
            return {}, "no images compared"
        present = self.union > 0
        iou = np.where(present, self.inter / np.maximum(self.union, 1), np.nan)
        miou = float(np.nanmean(iou)) if present.any() else 1.0
        agree = self.same / self.total if self.total else 1.0
        m = {"pixel_agreement": agree, "worst_image_pixel_agreement": self.worst, "miou": miou,
             "worst_image_miou": self.worst_miou,
             "per_class_iou": [None if np.isnan(v) else float(v) for v in iou], "binary": self.binary}
        reason = None
        if self.failing:
            reason = (f"{len(self.failing)} image(s) with pixel agreement below {self.tol['pixel_agreement']:g} "
                      f"or mIoU below {self.tol.get('image_miou', self.tol['miou']):g} (worst {self.worst:.4f}, "
                      f"mIoU {self.worst_miou:.4f})")
        elif miou < self.tol["miou"]:
            reason = f"mIoU {miou:.4f} below {self.tol['miou']:g}"
        return m, reason
