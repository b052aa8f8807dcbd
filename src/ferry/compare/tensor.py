"""Tensor-level comparison, accumulated image by image so memory stays flat over thousands of photos.

An element passes when |target - reference| <= max(atol * peak, FLOAT32_FLOOR) + rtol * |reference|, where peak
is the largest |reference| of that output on that image. The absolute part scales with the output's own magnitude,
both ways:
float32 error grows with the magnitude of what is summed (logits of 30 need more room than logits of 1), and an
output that lives far below 1 must not be judged on an absolute scale. The mutation suite found the second the
hard way: PP-OCRv4's text map on a photo without text peaks near 1e-5, and with a fixed floor of atol (the first
version used atol * max(1, peak)) a missing crop (cosine 0.005), a missing std (cosine 0.12) and a 1% weight error
all passed. FLOAT32_FLOOR (1e-6, about 8 float32 ulps at 1.0) is the noise every float32 pipeline with O(1)
intermediates carries: on PP-OCRv4, onnxruntime, OpenVINO and OpenCV differ by up to 1.2e-7 on images whose whole
map is below 1e-5 (no text: the output is noise), so a per-image scale alone would fail correct conversions there.
Defaults (atol 1e-4, rtol 1e-3) sit two to three orders of magnitude above the float32 drift measured
between these runtimes on the same ONNX file (1e-8..2e-7 on seeded models, 2e-4 relative at worst on a real OCR
model) and orders of magnitude below what any preprocessing mistake produces (a BGR/RGB swap moves logits by 1e-1
or more). NaN or Inf never passes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

DEFAULT_ATOL = 1e-4
DEFAULT_RTOL = 1e-3
FLOAT32_FLOOR = 1e-6
# Float drift in a few elements of an ill-conditioned output passes, said in the reason, when at most DRIFT_SHARE of
# its values are beyond the element tolerance, none by more than DRIFT_RATIO times it, and the whole output is within
# DRIFT_SPREAD of its spread (spread_error). Measured (2026-12-04): MediaPipe's pose_landmark_full (mediapipe-rpi4
# 0.8.8), whose segmentation logits span -1680..268, to ONNX/IR/OpenCV: 15, 23 and 46 of 196,608 values beyond (at
# most 2.3e-4 of them), by at most 2.8x, spread error 4-6e-5; the same ONNX file in onnxruntime and in OpenCV: 4
# values beyond. Every preprocessing mistake and damaged weight of the mutation suite moves far more values than
# 0.1% (a colour swap, a missing std, a 1% weight error), so each still fails. --atol/--rtol given by the user judge
# every element, with no allowance.
DRIFT_SHARE = 1e-3
DRIFT_RATIO = 4.0
DRIFT_SPREAD = 1e-3
ROWS_MAX_VALUES = 65536  # `add_batch` stacks outputs up to this many values an image (a 1000-class head, a small map)


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Sum of a * b without BLAS. Why (issue 7): np.dot hands a 307k-element dot to OpenBLAS's thread pool, whose
    threads then spin on the cores onnxruntime and OpenVINO need for the next photo; on PP-OCRv4 at --batch 1 that
    made each comparison 25 ms instead of 4 and the runtimes themselves up to 2x slower (OPENBLAS_NUM_THREADS=1 showed
    it). numpy's own einsum loop is single-threaded and faster here; only the last bits of the cosine move."""
    return float(np.einsum("i,i->", a, b))


def _exact_add(partials: list[float], x: float) -> None:
    """Add x to an exact running sum kept as non-overlapping partials (Shewchuk; math.fsum of them is the correctly
    rounded total). Why (issue 16): a float `+=` depends on the order of the additions, so `check --workers` / `--ray`,
    which sum each shard and then the shards, gave a cosine one ulp from one process's; with exact sums of the same
    per-photo values every grouping gives the same bits."""
    i = 0
    for y in partials:
        if abs(x) < abs(y):
            x, y = y, x
        hi = x + y
        lo = y - (hi - x)
        if lo:
            partials[i] = lo
            i += 1
        x = hi
    partials[i:] = [x]


def _row_dots(a: np.ndarray, b: np.ndarray) -> list[float]:
    """Per-row sums of a * b, a photo's value the same bits whatever batch it came in. einsum over a 2-D array
    gives each row what that row alone gives while a row fits numpy's buffer (np.getbufsize(), 8192 values; measured:
    at 8193 the rows' sums depend on the batch), so longer rows are summed one by one."""
    if a.shape[1] <= np.getbufsize():
        return np.einsum("ij,ij->i", a, b).tolist()
    return [_dot(a[i], b[i]) for i in range(a.shape[0])]


@dataclass
class OutputComparison:
    name: str
    max_abs: float = 0.0
    max_rel: float = 0.0
    mean_abs: float = 0.0
    cosine: float = 1.0
    within: float = 1.0  # share of elements within tolerance
    passed: bool = True
    atol: float = DEFAULT_ATOL
    rtol: float = DEFAULT_RTOL
    reference_name: str | None = None
    reason: str | None = None
    # RMS error over the RMS spread of the reference about each photo's own mean, pooled over photos: the statistic
    # the reduced-precision rule holds (ferry.compare.fair); 0 for identical outputs, ~1 for unrelated ones. An
    # output with no spread within a photo (one score per photo) is measured against its spread across the photos
    spread_error: float = 0.0

    def to_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in asdict(self).items()}


@dataclass
class Accumulator:
    """Running metrics for one output across images."""

    name: str
    atol: float = DEFAULT_ATOL
    rtol: float = DEFAULT_RTOL
    reference_name: str | None = None
    user_tolerance: bool = False  # atol/rtol were given by the user (even at the defaults' values): ferry.compare.fair
    _max_abs: float = 0.0
    _max_rel: float = 0.0
    # exact sums over photos (_exact_add), each photo's own sum computed alone: equal in any shard split
    _sum_abs: list[float] = field(default_factory=list)
    _count: int = 0
    _dot: list[float] = field(default_factory=list)
    _nr: list[float] = field(default_factory=list)
    _nt: list[float] = field(default_factory=list)
    _within: int = 0
    _worst_ratio: float = 0.0  # the largest |difference| over its element's tolerance
    _atol_eff: float = 0.0
    _reason: str | None = None
    _sq_err: list[float] = field(default_factory=list)  # sum of squared differences (spread_error's numerator)
    _sq_spread: list[float] = field(default_factory=list)  # sum of squared deviations of r from each row's mean
    _sum_r: list[float] = field(default_factory=list)  # sum of r and of r^2 over every photo: the spread across
    _sum_r2: list[float] = field(default_factory=list)  # photos, for outputs with no spread within one (a score)

    def add(self, ref: np.ndarray, tgt: np.ndarray) -> None:
        ref = np.asarray(ref)
        tgt = np.asarray(tgt)
        if ref.shape != tgt.shape:
            if ref.size == tgt.size and np.squeeze(ref).shape == np.squeeze(tgt).shape:
                tgt = tgt.reshape(ref.shape)
            else:
                self._reason = self._reason or f"shape {list(tgt.shape)} where the reference has {list(ref.shape)}"
                return
        r = np.asarray(ref, np.float64).ravel()
        if tgt is ref:  # a target whose run is the source's own (check's reused run): nothing differs
            if np.isfinite(r).all():
                self._add_identical(r[None])
                return
            t = r
        else:
            t = np.asarray(tgt, np.float64).ravel()
        if np.isfinite(r).all() and np.isfinite(t).all():
            self._add_finite(r[None], t[None])
        else:
            self._add_nonfinite(r, t)

    def add_batch(self, refs: list[np.ndarray], tgts: list[np.ndarray]) -> None:
        """Several images' outputs (each with its batch of one), the same as `add` on each in turn: each image keeps
        its own peak and so its own absolute tolerance. Why (issue 7): on a small model the per-call overhead of
        `add` (a dozen numpy calls on a few values) cost as much as the inference; as rows of one array it is paid
        once a batch. Only small outputs go as rows (a big map gains nothing and would multiply the temporaries);
        outputs of unequal shapes, or with NaN/Inf, go one by one, where the reasons are written."""
        shape = np.shape(refs[0]) if refs else ()
        size = int(np.prod(shape)) if shape else 0
        if (len(refs) < 2 or not 0 < size <= ROWS_MAX_VALUES or shape[0] != 1
                or any(np.shape(a) != shape for a in (*refs, *tgts))):
            for r, t in zip(refs, tgts, strict=True):
                self.add(r, t)
            return
        r = np.concatenate(refs, dtype=np.float64).reshape(len(refs), -1)
        same = all(t is a for t, a in zip(tgts, refs, strict=True))
        t = r if same else np.concatenate(tgts, dtype=np.float64).reshape(len(tgts), -1)
        if not (np.isfinite(r).all() and np.isfinite(t).all()):
            for a, b in zip(refs, tgts, strict=True):
                self.add(a, b)
        elif same:
            self._add_identical(r)
        else:
            self._add_finite(r, t)

    def _add_identical(self, r: np.ndarray) -> None:
        """`_add_finite(r, r)` without the arithmetic whose result is known: every difference is 0. Rows as there."""
        peak = np.abs(r).max(axis=1, initial=0.0)
        self._atol_eff = max(self._atol_eff, float(np.maximum(self.atol * peak, FLOAT32_FLOOR).max()))
        self._within += r.size
        self._count += r.size
        self._add_spread(r)
        for sq in _row_dots(r, r):
            for acc in (self._dot, self._nr, self._nt):
                _exact_add(acc, sq)

    def _add_finite(self, r: np.ndarray, t: np.ndarray) -> None:
        """The common case: one row per image (each row's own peak sets its absolute tolerance), in float64 with
        in-place temporaries (issue 7: the version below, which masks every array for NaN/Inf, cost 17 ms per pair
        of 307k-element maps). Same formulas, same order, same numbers."""
        d = np.subtract(t, r)
        np.abs(d, out=d)
        absr = np.abs(r)
        atol_eff = np.maximum(self.atol * absr.max(axis=1, initial=0.0), FLOAT32_FLOOR)
        self._atol_eff = max(self._atol_eff, float(atol_eff.max()))
        bound = np.multiply(absr, self.rtol)
        bound += atol_eff[:, None]
        self._within += int(np.count_nonzero(d <= bound))
        np.divide(d, bound, out=bound)
        self._worst_ratio = max(self._worst_ratio, float(bound.max(initial=0.0)))
        self._max_abs = max(self._max_abs, float(d.max(initial=0.0)))
        for v in _row_dots(d, d):
            _exact_add(self._sq_err, v)
        self._add_spread(r)
        np.maximum(absr, 1e-6, out=absr)
        np.divide(d, absr, out=absr)
        self._max_rel = max(self._max_rel, float(absr.max(initial=0.0)))
        for v in d.sum(axis=1).tolist():  # per row: numpy's pairwise sum of a row does not depend on the batch
            _exact_add(self._sum_abs, v)
        self._count += r.size
        for acc, (a, b) in ((self._dot, (r, t)), (self._nr, (r, r)), (self._nt, (t, t))):
            for v in _row_dots(a, b):
                _exact_add(acc, v)

    def _add_spread(self, r: np.ndarray) -> None:
        """Each row's squared deviation from its own mean (an output's spread on that photo), summed exactly."""
        dev = r - r.mean(axis=1, keepdims=True)
        for v in _row_dots(dev, dev):
            _exact_add(self._sq_spread, v)
        for v in r.sum(axis=1).tolist():
            _exact_add(self._sum_r, v)
        for v in _row_dots(r, r):
            _exact_add(self._sum_r2, v)

    def _add_nonfinite(self, r: np.ndarray, t: np.ndarray) -> None:
        """NaN or Inf on either side: every value is masked, and the reason says which side (never passes)."""
        if not np.all(np.isfinite(t)):
            bad = int(np.count_nonzero(~np.isfinite(t)))
            self._reason = self._reason or f"{bad} NaN/Inf values in the target output"
        if not np.all(np.isfinite(r)):
            bad = int(np.count_nonzero(~np.isfinite(r)))
            self._reason = self._reason or f"{bad} NaN/Inf values in the reference output"
        d = np.abs(t - r)
        d = np.where(np.isfinite(d), d, np.inf)
        peak = float(np.max(np.abs(r[np.isfinite(r)]), initial=0.0))
        atol_eff = max(self.atol * peak, FLOAT32_FLOOR)
        self._atol_eff = max(self._atol_eff, atol_eff)
        self._within += int(np.count_nonzero(d <= atol_eff + self.rtol * np.abs(r)))
        self._max_abs = max(self._max_abs, float(d.max(initial=0.0)))
        rel = d / np.maximum(np.abs(r), 1e-6)
        self._max_rel = max(self._max_rel, float(rel.max(initial=0.0)))
        _exact_add(self._sum_abs, float(d[np.isfinite(d)].sum()))
        self._count += r.size
        fin = np.isfinite(r) & np.isfinite(t)
        df = d[fin]
        _exact_add(self._sq_err, _dot(df, df))
        rf = r[fin]
        dev = rf - rf.mean() if rf.size else rf
        _exact_add(self._sq_spread, _dot(dev, dev))
        _exact_add(self._sum_r, float(rf.sum()))
        _exact_add(self._sum_r2, _dot(rf, rf))
        _exact_add(self._dot, _dot(r[fin], t[fin]))
        _exact_add(self._nr, _dot(r[fin], r[fin]))
        _exact_add(self._nt, _dot(t[fin], t[fin]))

    def merge(self, other: Accumulator) -> None:
        """Fold in the same output's accumulator from another shard of the photos (check --workers)."""
        self._max_abs = max(self._max_abs, other._max_abs)
        self._max_rel = max(self._max_rel, other._max_rel)
        self._worst_ratio = max(self._worst_ratio, other._worst_ratio)
        self._atol_eff = max(self._atol_eff, other._atol_eff)
        self._count += other._count
        self._within += other._within
        for name in ("_sum_abs", "_dot", "_nr", "_nt", "_sq_err", "_sq_spread", "_sum_r", "_sum_r2"):
            for v in getattr(other, name):
                _exact_add(getattr(self, name), v)
        self._reason = self._reason or other._reason

    def result(self) -> OutputComparison:
        within_count = self._within
        within = within_count / self._count if self._count else 0.0
        dot, nr, nt, sum_abs = (math.fsum(p) for p in (self._dot, self._nr, self._nt, self._sum_abs))
        if nr == 0 and nt == 0:
            cosine = 1.0
        elif nr == 0 or nt == 0:
            cosine = 0.0
        else:
            cosine = dot / np.sqrt(nr * nt)
        passed = self._reason is None and self._count > 0 and within_count == self._count
        err, spread = math.fsum(self._sq_err), math.fsum(self._sq_spread)
        if spread == 0 and self._count > 1:  # one value per photo (a score, a [1, 1] output): spread across photos
            s1 = math.fsum(self._sum_r)
            spread = max(math.fsum([*self._sum_r2, -s1 * s1 / self._count]), 0.0)
        spread_error = (math.sqrt(err / spread) if spread > 0 else 0.0 if err == 0 else float("inf"))
        if self._reason is not None:
            spread_error = float("inf")  # NaN/Inf or a shape mismatch: no statistic stands for it
        reason = self._reason
        outside = self._count - within_count
        if (reason is None and not passed and self._count and not self.user_tolerance
                and outside <= DRIFT_SHARE * self._count and self._worst_ratio <= DRIFT_RATIO
                and spread_error <= DRIFT_SPREAD):
            passed = True
            reason = (f"float drift: {outside} of {self._count} values beyond the element tolerance, by at most "
                      f"{self._worst_ratio:.1f}x, the whole output within {spread_error:.1e} of its spread (an "
                      "ill-conditioned output; --atol/--rtol judge every element)")
        if reason is None and not passed:
            reason = (f"{outside} of {self._count} values beyond tolerance"
                      if self._count else "no values compared")
        return OutputComparison(
            name=self.name, max_abs=self._max_abs, max_rel=self._max_rel,
            mean_abs=sum_abs / self._count if self._count else float("nan"),
            cosine=float(cosine), within=within, passed=passed, atol=self._atol_eff or self.atol, rtol=self.rtol,
            reference_name=self.reference_name, reason=reason, spread_error=spread_error,
        )


def compare_arrays(name: str, ref: np.ndarray, tgt: np.ndarray, atol: float = DEFAULT_ATOL,
                   rtol: float = DEFAULT_RTOL) -> OutputComparison:
    acc = Accumulator(name, atol, rtol)
    acc.add(ref, tgt)
    return acc.result()


def match_outputs(ref_names: list[str], tgt_names: list[str], ref: dict[str, np.ndarray] | None = None,
                  tgt: dict[str, np.ndarray] | None = None) -> tuple[dict[str, str], list[str]]:
    """Map each target output to a reference output: by name, else by position when the counts agree.

    Given one image's outputs of both sides (`ref`, `tgt`), outputs whose names are no reference output's
    (`StatefulPartitionedCall_1:0`, `output_0`) are paired by value instead when that pairs every one of them one to
    one (ferry.compare.bind; issue 15: a converter's output order is no contract, LiteRT lists a Keras dict model's
    outputs 4, 0, 1, 3, 2); one against one stays positional, nothing else could be meant. A named output whose
    values are another reference output's is still compared by its name, as an app reading the name gets it, and a
    note names both."""
    mapping, notes = _by_name_or_position(ref_names, tgt_names)
    if ref is None or tgt is None:
        return mapping, notes
    from ferry.compare.bind import bind

    b = bind(ref, tgt)
    unnamed = [t for t in tgt_names if t not in ref_names]
    paired = {b.unnamed.get(t) for t in unnamed}
    if len(unnamed) > 1 and None not in paired and len(paired) == len(unnamed) and not paired & set(tgt_names):
        mapping = {**{t: t for t in tgt_names if t in ref_names}, **{t: b.unnamed[t] for t in unnamed}}
        notes = ["output names differ between source and target; matched by value on the first photo: "
                 + ", ".join(f"{mapping[t]} <-> {t}" for t in unnamed)]
    wrong = {t: s for t, s in b.carries.items() if mapping.get(t) not in (None, s)}
    if wrong:
        notes.append("output names bound to the wrong tensors: " + "; ".join(
            f"the target's {t} (compared with the source's {mapping[t]}) carries the source's {s}"
            for t, s in wrong.items()))
    return mapping, notes


def _by_name_or_position(ref_names: list[str], tgt_names: list[str]) -> tuple[dict[str, str], list[str]]:
    notes: list[str] = []
    mapping = {t: t for t in tgt_names if t in ref_names}
    if len(mapping) == len(ref_names):
        return mapping, notes
    if len(ref_names) == len(tgt_names):
        # the names both sides have are kept; only the others pair by position, among themselves (OpenVINO names an
        # ONNX output after the tensor an Identity fed it: [output_0, face] against [face, boxes] paired face with
        # boxes and output_0 with face, and a right model failed on shapes)
        left = dict(zip([t for t in tgt_names if t not in mapping], [r for r in ref_names if r not in mapping],
                        strict=True))
        notes.append("output names differ between source and target; matched by position: "
                     + ", ".join(f"{r} <-> {t}" for t, r in left.items()))
        return {**mapping, **left}, notes
    missing = [r for r in ref_names if r not in mapping.values()]
    notes.append(f"target has no output named {', '.join(missing)}; compared the {len(mapping)} that match")
    return mapping, notes
