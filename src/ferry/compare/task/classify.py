"""Task-aware parity for classifiers: top-1 / top-k agreement and the largest probability delta."""

from __future__ import annotations

import numpy as np

from ferry.compare.task import PROB_TOL, Memo, _anchor_rows, _Base, _decoded
from ferry.decode.answers import (
    decode_classify,
    softmax,
)


class ClassifyAccumulator(_Base):
    def __init__(self, plan, threshold, prob_tol: float = PROB_TOL, k: int = 5, top1_min: float = 1.0):
        tol = {"prob_delta": prob_tol} if top1_min >= 1.0 else {"prob_delta": prob_tol, "top1_agreement": top1_min}
        super().__init__(plan, threshold, tol)  # top1_min < 1: a reduced-precision rule (ferry.compare.fair)
        self.k = k
        self.top1 = 0
        self.ties = 0
        self.topk = 0
        self.max_delta = 0.0
        self.anchors = 0  # per-anchor plans: rows compared (top1, ties, topk count these instead of photos)

    def _add(self, ref, tgt, memo) -> bool:
        name = self.plan.roles["out"]
        if self.plan.per_anchor:
            return self._add_anchors(ref[name], tgt[name])
        r = _decoded("classify", ref[name], 0.0, memo)
        t = r if tgt[name] is ref[name] else decode_classify(tgt[name], like=r)  # read as the reference (_rows)
        if r.probs.shape != t.probs.shape:
            raise ValueError(f"{t.probs.size} classes where the reference has {r.probs.size}")
        rp = r.probs.reshape(1, -1)
        tp = rp if t is r else t.probs.reshape(1, -1)
        return bool(self._tally(rp, self._top(rp), tp, self._top(tp))[0])

    def _add_anchors(self, ref: np.ndarray, tgt: np.ndarray) -> bool:
        """A raw SSD class head (rule ssd-raw): each anchor's row is a classification held to the same rule as a
        photo's (`_tally`); the photo passes when every anchor does. Counts are of anchors."""
        if np.shape(ref) != np.shape(tgt):
            raise ValueError(f"class scores {list(np.shape(tgt))} where the reference's are {list(np.shape(ref))}")
        rp, _, probs = self._rows(list(_anchor_rows(ref)[:, None, :]), None)
        tp = rp if tgt is ref else self._rows(list(_anchor_rows(tgt)[:, None, :]), None, probs)[0]
        self.anchors += len(rp)
        return bool(self._tally(rp, self._top(rp), tp, self._top(tp)).all())

    def add_batch(self, refs, tgts, memo=None) -> list[bool]:
        """The batch as rows of one array. Why (issue 7): on a small classifier the per-photo decoding and ranking
        (softmax, argsort, sets) cost as much as the three inferences; as rows it is a few numpy calls a batch.
        `_tally` is the one rule for both ways; outputs of unequal shapes, or missing, go one by one (their reasons
        are written there)."""
        name = self.plan.roles["out"]
        if self.plan.per_anchor or any(name not in d for d in (*refs, *tgts)):
            return super().add_batch(refs, tgts, memo)  # one by one, where a missing output is the reason given
        r_arrs = [r[name] for r in refs]
        t_arrs = [t[name] for t in tgts]
        shape = np.shape(r_arrs[0]) if r_arrs else ()
        if len(r_arrs) < 2 or any(np.shape(a) != shape for a in (*r_arrs, *t_arrs)) or not shape \
                or np.prod(shape) == 0 or shape[0] != 1:
            return super().add_batch(refs, tgts, memo)
        rp, rk, probs = self._rows(r_arrs, memo)
        same = all(t is r for t, r in zip(t_arrs, r_arrs, strict=True))
        tp, tk, _ = (rp, rk, probs) if same else self._rows(t_arrs, None, probs)
        ok = self._tally(rp, rk, tp, tk)
        self.failing += [self.n + int(i) for i in np.flatnonzero(~ok)]
        self.n += len(refs)
        return [bool(v) for v in ok]

    def _tally(self, rp: np.ndarray, rk: np.ndarray, tp: np.ndarray, tk: np.ndarray) -> np.ndarray:
        """Count rows of probabilities (one photo each, `rk`/`tk` their sorted top-k ids) and say which pass: the
        same top-1, or a flip between two classes the reference holds within the tolerance (a tie); and no
        probability moving beyond it. A row equal to the reference's passes, NaN where the reference has NaN
        included (issue 15: identical answers always match; the tensor check still fails a NaN, and says where).
        A NaN anywhere else never passes (argmax picks it, every comparison with it is false)."""
        if tp is rp:  # check's reused source run: the same answer
            self.top1 += len(rp)
            self.topk += len(rp)
            return np.ones(len(rp), bool)
        rows = np.arange(len(rp))
        ri, ti = rp.argmax(axis=1), tp.argmax(axis=1)
        both_nan = np.isnan(rp) & np.isnan(tp)
        delta = np.where(both_nan, 0.0, np.abs(rp - tp)).max(axis=1)
        known = delta[~np.isnan(delta)]  # a NaN photo fails below; the worst delta is over the others
        if known.size:
            self.max_delta = max(self.max_delta, float(known.max()))
        tol = self.tol["prob_delta"]
        same = ri == ti
        tie = ~same & (np.abs(rp[rows, ri] - rp[rows, ti]) < tol)
        self.top1 += int(same.sum())
        self.ties += int(tie.sum())
        self.topk += int((rk == tk).all(axis=1).sum())
        return (same | tie) & (delta <= tol)

    def _top(self, v: np.ndarray) -> np.ndarray:
        """Each row's top-k class ids (stable order, as `ClassAnswer.top`), sorted: compared as a set."""
        return np.sort(np.argsort(-v, axis=1, kind="stable")[:, :min(self.k, v.shape[1])], axis=1)

    def _rows(self, arrs: list[np.ndarray], memo: Memo | None,
              probs: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Probabilities (one row per photo, softmax where a row is not already probabilities, as
        `decode_classify`), each row's top-k ids (`_top`) and which rows were read as probabilities.

        `probs`: the reference's reading of the same photos, which the target's rows follow. Why: an int8 model
        whose softmax is inside the file returns quantised probabilities that no longer sum to 1 within 1e-3
        (PaddleClas' orientation classifier: 0.998), and a softmax of those gave [0.47, 0.18, ...] for
        [0.96, 0.01, ...]: a probability "moved" by 0.48 at a logit-free error of 0.03, a false FAIL of every
        such model (measured on three real softmax-output models at int8: MTCNN O-Net, PP-OCR cls, PaddleClas)."""
        key = (tuple(id(a) for a in arrs), "classify-rows", self.k)
        if probs is None and memo is not None and key in memo:
            return memo[key][1]
        v = np.concatenate([np.reshape(a, (1, -1)) for a in arrs], dtype=np.float64)
        is_probs = ((v.min(axis=1) >= 0) & (v.max(axis=1) <= 1) & (np.abs(v.sum(axis=1) - 1.0) < 1e-3)
                    if probs is None else probs)
        if not is_probs.all():
            soft = softmax(v, axis=1)
            v = np.where(is_probs[:, None], v, soft)
        top = self._top(v)
        if memo is not None and probs is None:
            memo[key] = (arrs, (v, top, is_probs))
        return v, top, is_probs

    def _merge(self, other) -> None:
        self.top1 += other.top1
        self.ties += other.ties
        self.topk += other.topk
        self.max_delta = max(self.max_delta, other.max_delta)
        self.anchors += other.anchors

    def _metrics(self):
        rows, what = (self.anchors, f"{self.plan.row_unit}(s)") if self.plan.per_anchor else (self.n, "image(s)")
        n = max(rows, 1)
        m = {"top1_agreement": self.top1 / n, "topk_agreement": self.topk / n, "k": self.k,
             "max_prob_delta": self.max_delta, "ties": self.ties}
        if self.plan.per_anchor:
            m["anchors"] = self.anchors
        reason = None
        flips = rows - self.top1 - self.ties
        allowed = self.tol.get("top1_agreement", 1.0)
        if flips and allowed < 1.0 and (self.top1 + self.ties) / n < allowed:
            reason = f"top-1 class differs on {flips} of {rows} {what} (agreement below {allowed:g})"
        elif flips and allowed >= 1.0:
            reason = f"top-1 class differs on {flips} of {rows} {what}"
            if self.plan.per_anchor:  # an image fails on either criterion: say both, each with its own count
                reason += f"; {len(self.failing)} of {self.n} image(s) fail"
                if self.max_delta > self.tol["prob_delta"]:
                    reason += (f", a class probability moving by up to {self.max_delta:.3g} "
                               f"(> {self.tol['prob_delta']:g})")
        elif self.max_delta > self.tol["prob_delta"]:
            reason = f"a class probability moves by {self.max_delta:.3g} (> {self.tol['prob_delta']:g})"
        return m, reason
