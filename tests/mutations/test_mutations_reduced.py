"""The mutation suite on reduced-precision targets: the fair verdict (ferry.compare.fair) passes quantisation drift
and still fails every injected bug.

One subject, the real EfficientNet-Lite0 (a trained classifier, so its answers mean something), as an int8 QDQ ONNX
and an fp16 ONNX made by onnxruntime's own tools (tests/models/precision_models.py, cached). Bugs, each injected
the way a user makes it into the reduced-precision deployment: the IR built with RGB/BGR swapped or std left out
(`openvino.embed` of the quantised file with the wrong contract), the app feeding the photo inverted (255 - x), and a
damaged weight (the float model's classifier scaled before it is quantised: a wrong checkpoint). The damaged weight
is x1.1 for fp16 and x1.5 for int8: a 1% damage is inside int8 drift (spread error 0.149 against 0.146 for the
correct file, README "Reduced precision"), so no comparison with the float source can tell it from quantisation.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))

import precision_models as pm  # noqa: E402

DAMAGE = {"int8": 1.5, "fp16": 1.1}


def _flip(c):
    return c.replace(color="BGR" if c.color == "RGB" else "RGB")


def _inverted(c):
    """255 - x as one contract: (255 - x) * s - m = x * (-s) - (m - 255 s)."""
    return c.replace(scale=-c.scale, mean=tuple(m - 255 * c.scale for m in c.mean))


@pytest.mark.parametrize("precision", ["int8", "fp16"])
def test_reduced_precision_passes_drift_and_fails_every_bug(precision, tmp_path):
    from ferry.check import check
    from ferry.preprocess.contract import load_contract
    from ferry.runtimes import openvino

    c = load_contract(pm.contract())
    make = pm.int8 if precision == "int8" else pm.fp16
    source, target = pm.fp32(), make()
    rows: dict[str, object] = {}
    good_ir = openvino.embed(target, c, tmp_path / "good.xml")
    for name, tgt, runtime, fed in (
        ("correct (onnxruntime)", target, "onnxruntime", None),
        ("correct (embedded IR)", good_ir, "openvino", None),
        ("rgb-bgr", openvino.embed(target, _flip(c), tmp_path / "bgr.xml"), "openvino", None),
        ("no-std", openvino.embed(target, c.replace(std=(1.0,) * 3), tmp_path / "nostd.xml"), "openvino", None),
        ("inverted", target, "onnxruntime", _inverted(c)),
        (f"weight x{DAMAGE[precision]}", make(DAMAGE[precision]), "onnxruntime", None),
    ):
        res = check(source, [(tgt, runtime)], pm.PHOTOS, preprocess=c, target_preprocess=fed)
        rows[name] = t = res.targets[0]
        o = t.outputs[0]
        print(f"{precision} {name}: {'pass' if t.passed else 'FAIL'} precision {t.precision['kind']}, "
              f"top-1 {t.task.metrics['top1_agreement']:.0%}, prob move {t.task.metrics['max_prob_delta']:.3g}, "
              f"spread error {o.spread_error:.3g}: {t.task.reason or o.reason}")
    for name, t in rows.items():
        assert t.precision["kind"] == precision, name  # the IR built from the file keeps its precision
        if name.startswith("correct"):
            assert t.passed, f"{precision} {name} failed: drift judged as a bug"
            assert any("quantization drift" in n for n in t.notes)
        else:
            assert not t.passed, f"{precision}: ferry passed the bug {name}"
    ok = rows["correct (onnxruntime)"].outputs[0]
    assert not ok.within == 1.0  # held to the float tolerance it would have failed: the rule is what passed it
    assert ok.spread_error < (0.25 if precision == "int8" else 0.03)
