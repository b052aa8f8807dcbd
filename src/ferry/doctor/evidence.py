"""Evidence about a candidate contract: agreement with a reference model, or label-free signals.

Label-free signals, each computed from outputs only, so they work on exported models whose BatchNorm is folded:

    confidence   mean max-softmax (classifier), or how far a [0,1] map sits from 0.5 (maps). Measured pitfall: it
                 rewards inputs that are simply larger (MobileNetV2 preferred 0..255 with Caffe means), so it only
                 compares candidates of the same range (colour orders), never ranges.
    flip         how well the answer for each photo's mirror image tracks the answer for the photo. What the mirror
                 does to an output depends on its kind (`output_kind`):
                 - a dense map (an edge, text or segmentation map as wide as the photo, in proportion) is mirrored
                   back, then compared by the cosine between the centred outputs of each photo and its mirror;
                 - a per-photo vector (class scores, box or landmark regressions, a 1x1 map) is compared per
                   coordinate: |correlation over the photos| between coordinate j of the photo's answer and of its
                   mirror's. A class score is mirror-invariant (+1); an x-coordinate flips (x -> 1 - x, with the
                   left/right landmarks swapped: about -1, since both move with the object), a y-coordinate stays
                   (+1). The per-photo cosine the maps use cancels on regressions (measured: it ranked MTCNN O-Net's
                   and MediaPipe's landmark models' training range 6th-8th of 10), and the correlation is scale-free
                   per coordinate (larger logits do not help);
                 - an anchor list or a sequence ([N, anchors, values], YOLO's [N, 4+classes, boxes], CTC steps): the
                   mirror sends a position to another position no shape tells, so it does not vote; where no output
                   of a model is a map or a vector, every output is compared as before (per-photo cosine).
    separation   maps: 1 - (distance between a photo's outputs and its mirror's) / (mean distance between different
                 photos' outputs). Scale-free, so larger logits do not help; collapsed outputs (every photo the
                 same answer) score low. Vectors: the per-coordinate correlation above, which is already relative to
                 the spread between photos.

The combined label-free score is the mean of the three signals' percentile ranks (confidence's within its range).
"""

from __future__ import annotations

import numpy as np

from ferry.compare.tensor import Accumulator, match_outputs
from ferry.decode.answers import softmax

BATCHNORM_WEIGHT = 0.8  # BatchNorm evidence against the three output signals together


def _mirror(y: np.ndarray) -> np.ndarray:
    """Mirror a spatial output back: the last axis of an NCHW map, axis 2 of an NHWC one (few channels last)."""
    if y.ndim == 4:
        return y[:, :, ::-1, :] if y.shape[-1] <= 4 < y.shape[2] else y[..., ::-1]
    if y.ndim == 3:
        return y[..., ::-1]
    return y


def confidence(y: np.ndarray) -> float:
    y = y.astype(np.float64)
    if y.ndim == 2 and y.shape[1] > 1:
        probs = y if np.all(y >= 0) and np.allclose(y.sum(1), 1, atol=1e-3) else softmax(y, 1)
        return float(probs.max(1).mean())
    if y.ndim == 4 and y.shape[1] > 1 and y.shape[1] < y.shape[2]:
        return float(softmax(y, 1).max(1).mean())
    if np.all((y >= 0) & (y <= 1)):
        return float(np.abs(2 * y - 1).mean())
    return float(np.abs(np.tanh(y)).mean())


def flip_agreement(y: np.ndarray, y_flip: np.ndarray) -> float:
    a = y.reshape(len(y), -1).astype(np.float64)
    b = _mirror(y_flip).reshape(len(y), -1).astype(np.float64)
    centre = a.mean(0)
    a, b = a - centre, b - centre
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cos = np.where(den > 0, (a * b).sum(1) / np.where(den > 0, den, 1), 0.0)
    return float(cos.mean())


def separation(y: np.ndarray, y_flip: np.ndarray) -> float:
    a = y.reshape(len(y), -1).astype(np.float64)
    b = _mirror(y_flip).reshape(len(y), -1).astype(np.float64)
    if len(a) < 2:
        return 0.0
    diff = a - b
    within = np.sqrt(np.einsum("ij,ij->i", diff, diff)).mean()
    # Pairwise distances from the Gram matrix: the (N, N, D) difference tensor took 3 s per candidate on ddddocr's
    # OCR output (10 photos x 1.6 M values), 90% of a label-free diagnosis.
    sq = np.einsum("ij,ij->i", a, a)
    d = np.sqrt(np.maximum(sq[:, None] + sq[None] - 2 * (a @ a.T), 0.0))
    between = d[np.triu_indices(len(a), 1)].mean()
    return float(1 - within / between) if between > 0 else 0.0


MAP, VECTOR, OTHER = "map", "vector", "other"


def output_kind(y: np.ndarray, input_hw: tuple[int, int] | None) -> str:
    """What a horizontal mirror of the photo does to an output of shape `y.shape` (batch first): a dense MAP whose
    last spatial axis is the photo's width (NCHW or NHWC, [N, H, W]; its aspect within 15% of the input's), a
    per-photo VECTOR ([N, K], or a map of 1x1), or OTHER (anchor lists, sequences, anything else)."""
    dims = y.shape[1:]
    if len(dims) == 1 or (len(dims) == 3 and sum(d > 1 for d in dims) <= 1):
        return VECTOR  # [N, K], [N, 1, 1, K], [N, K, 1, 1]
    if input_hw is None or not all(input_hw):
        return OTHER
    aspect = input_hw[0] / input_hw[1]

    def spatial(h: int, w: int) -> bool:
        return h > 1 and w > 1 and abs((h / w) / aspect - 1) <= 0.15

    if len(dims) == 2:
        return MAP if spatial(*dims) else OTHER
    if len(dims) == 3:
        if spatial(dims[1], dims[2]) or spatial(dims[0], dims[1]):
            return MAP  # NCHW or NHWC; _mirror picks the width axis by the few channels
    return OTHER


def coordinate_agreement(y: np.ndarray, y_flip: np.ndarray) -> float:
    """Mean over a VECTOR output's coordinates of |correlation over the photos| between the photo's value and its
    mirror's (coordinates that do not vary over the photos are left out; 0 when none varies or under 3 photos)."""
    a = y.reshape(len(y), -1).astype(np.float64)
    b = y_flip.reshape(len(y), -1).astype(np.float64)
    if len(a) < 3:
        return 0.0
    a, b = a - a.mean(0), b - b.mean(0)
    sa, sb = np.sqrt((a * a).mean(0)), np.sqrt((b * b).mean(0))
    scale = max(float(np.abs(y).max()), 1e-30)
    varies = (sa > 1e-9 * scale) & (sb > 1e-9 * scale)
    if not varies.any():
        return 0.0
    return float(np.abs((a * b).mean(0)[varies] / (sa * sb)[varies]).mean())


def label_free(outs: dict[str, np.ndarray], outs_flip: dict[str, np.ndarray],
               input_hw: tuple[int, int] | None = None) -> dict[str, float]:
    """The three signals, averaged over the model's outputs that a mirror maps to themselves (maps and vectors; see
    the module docstring); over every output where none does. `input_hw` is the model input's height and width."""
    usable = {k: y for k, y in outs.items() if np.issubdtype(y.dtype, np.floating) and y.size > 0}
    kinds = {k: output_kind(y, input_hw) for k, y in usable.items()}
    mirrored = any(v != OTHER for v in kinds.values())
    sig = {"confidence": [], "flip": [], "separation": []}
    for name, y in usable.items():
        if not np.all(np.isfinite(y)):
            sig["confidence"].append(0.0), sig["flip"].append(-1.0), sig["separation"].append(-1.0)
            continue
        sig["confidence"].append(confidence(y))
        kind = kinds[name]
        if mirrored and kind == OTHER:
            continue
        if kind == VECTOR:
            agree = coordinate_agreement(y, outs_flip[name])
            sig["flip"].append(agree), sig["separation"].append(agree)
        else:
            sig["flip"].append(flip_agreement(y, outs_flip[name]))
            sig["separation"].append(separation(y, outs_flip[name]))
    return {k: float(np.mean(v)) if v else 0.0 for k, v in sig.items()}


def _ranks(vals: np.ndarray) -> np.ndarray:
    """Percentile rank in 0..1 (1 = the largest); ties share their mean rank."""
    n = len(vals)
    order = vals.argsort(kind="stable")
    ranks = np.empty(n)
    ranks[order] = np.arange(n)
    for v in np.unique(vals):
        same = vals == v
        ranks[same] = ranks[same].mean()
    return ranks / (n - 1)


def _ranks_within(vals: np.ndarray, groups: list[int]) -> np.ndarray:
    """Percentile rank of each value within its group (0.5 for a group of one)."""
    out = np.full(len(vals), 0.5)
    g = np.asarray(groups)
    for k in set(groups):
        idx = np.flatnonzero(g == k)
        if len(idx) > 1:
            out[idx] = _ranks(vals[idx])
    return out


def combine(evidence: list[dict[str, float]], ranges: list[int] | None = None) -> list[float]:
    """Mean percentile rank of the output signals among the candidates (1 = best on every signal). Confidence is
    ranked only among candidates of the same range (`ranges`: a group index per candidate): it grows with input
    magnitude in ReLU networks whose BatchNorm is folded away (measured: a folded ImageNet classifier preferred
    0..255 inputs with a slip), so it may choose a colour order, never a range. Where every candidate has BatchNorm
    evidence (ferry.doctor.batchnorm: lower divergence is better) it weighs four times as much as the output signals
    together: it measures the inputs against the training statistics directly.

    Measured and rejected (2026-12-02): ranking the ranges first by their best member's flip and separation, then
    the candidates within a range. On 10 corpus models and 11 held-out real models (open-nsfw, MediaPipe's face,
    hand, palm, pose and selfie models) it lowered the true range's rank on 9 models and raised it on 2."""
    n = len(evidence)
    if n == 1:
        return [1.0]
    groups = ranges if ranges is not None else [0] * n
    conf = _ranks_within(np.array([e["confidence"] for e in evidence]), groups)
    outputs = np.mean([_ranks(np.array([e[k] for e in evidence])) for k in ("flip", "separation")] + [conf],
                      axis=0)
    if all("batchnorm" in e for e in evidence):
        bn = np.array([e["batchnorm"] for e in evidence], dtype=np.float64)
        bn = np.where(np.isfinite(bn), bn, np.inf)
        total = (1 - BATCHNORM_WEIGHT) * outputs + BATCHNORM_WEIGHT * _ranks(-np.log(np.maximum(bn, 1e-12)))
        return list(total)
    return list(outputs)


def agreement(ref: dict[str, np.ndarray], tgt: dict[str, np.ndarray], rule=None) -> dict[str, float | bool]:
    """How close a candidate's outputs are to the reference's on the same photos: relative error, cosine,
    parity at `ferry check`'s tolerances (with `rule`, (kind, Rule) of ferry.compare.fair, a reduced-precision
    file's), and top-1 agreement for classifier outputs."""
    pairs, _ = match_outputs(list(ref), list(tgt))
    rels, coss, top1 = [], [], []
    parity = bool(pairs)
    max_abs = 0.0
    for tname, rname in pairs.items():
        r = ref[rname].astype(np.float64)
        t = tgt[tname].astype(np.float64)
        if r.shape != t.shape:
            rels.append(1.0), coss.append(0.0)
            parity = False
            continue
        norm = np.linalg.norm(r)
        diff = np.linalg.norm(np.nan_to_num(t - r, nan=1e30, posinf=1e30, neginf=1e30))
        rel = min(1.0, float(diff / norm)) if norm > 0 else float(diff > 0)
        rels.append(rel)
        if rel < 0.05:  # only a near candidate can be at parity: the element-wise check is run for those alone
            acc = Accumulator(rname)
            acc.add_batch([ref[rname][i:i + 1] for i in range(len(r))], [tgt[tname][i:i + 1] for i in range(len(r))])
            res = acc.result()
            if rule is not None:
                from ferry.compare.fair import judge_output

                res = judge_output(res, rule[1], rule[0], user=False)
            parity = parity and res.passed
            max_abs = max(max_abs, float(np.nan_to_num(res.max_abs, nan=np.inf)))
            coss.append(float(res.cosine) if np.isfinite(res.cosine) else 0.0)
        else:
            parity = False
            max_abs = max(max_abs, float(np.nan_to_num(np.abs(t - r).max(), nan=np.inf)))
            den = np.linalg.norm(r) * np.linalg.norm(t)
            coss.append(float(np.nan_to_num((r * t).sum() / den)) if den > 0 else 0.0)
        if r.ndim == 2 and r.shape[1] > 1:
            top1.append(float((r.argmax(1) == t.argmax(1)).mean()))
    ev: dict[str, float | bool] = {"relative_error": float(np.mean(rels)) if rels else 1.0,
                                   "cosine": float(np.mean(coss)) if coss else 0.0,
                                   "max_abs": max_abs, "parity": parity}
    if top1:
        ev["top1_agreement"] = float(np.mean(top1))
    return ev
