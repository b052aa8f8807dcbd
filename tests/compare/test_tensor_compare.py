"""The tensor accumulator's fast paths (issue 7) give exactly the numbers of the general, masked path."""

from __future__ import annotations

import numpy as np

from ferry.compare.tensor import Accumulator


def _general(ref: np.ndarray, tgt: np.ndarray, atol: float, rtol: float):
    """The path every value took before the fast paths: each array masked for NaN/Inf, in float64."""
    acc = Accumulator("y", atol, rtol)
    acc._add_nonfinite(ref.astype(np.float64).ravel(), tgt.astype(np.float64).ravel())
    return acc


def test_fast_paths_give_the_general_paths_exact_numbers():
    rng = np.random.default_rng(3)
    cases = []
    for scale in (1e-5, 1.0, 30.0):
        ref = (rng.standard_normal((1, 1, 48, 64)) * scale).astype(np.float32)
        near = ref + (rng.standard_normal(ref.shape) * scale * 1e-5).astype(np.float32)  # within tolerance
        far = ref + (rng.standard_normal(ref.shape) * max(scale * 1e-2, 1e-5)).astype(np.float32)  # beyond it
        cases += [(ref, near), (ref, far), (ref, ref)]
    for ref, tgt in cases:
        for atol, rtol in ((1e-4, 1e-3), (0.0, 0.0)):
            fast, slow = Accumulator("y", atol, rtol), _general(ref, tgt, atol, rtol)
            fast.add(ref, tgt)
            fast.add(ref, tgt)
            slow._add_nonfinite(ref.astype(np.float64).ravel(), tgt.astype(np.float64).ravel())
            assert fast.result() == slow.result()
    # outcomes the cases above must cover, or the equality proves little
    results = []
    for ref, tgt in cases:
        acc = Accumulator("y")
        acc.add(ref, tgt)
        results.append(acc.result())
    assert [r.passed for r in results] == [True, False, True] * 3
    assert results[1].max_abs > 0 and results[1].cosine < 1 and results[2].max_abs == 0


def test_nan_on_either_side_never_passes_and_is_named():
    ref = np.ones((1, 4), np.float32)
    bad = ref.copy()
    bad[0, 2] = np.nan
    for r, t, side in ((ref, bad, "target"), (bad, ref, "reference"), (bad, bad, "target")):
        acc = Accumulator("y")
        acc.add(r, t)
        res = acc.result()
        assert not res.passed and res.reason == f"1 NaN/Inf values in the {side} output"
