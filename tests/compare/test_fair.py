"""The fair verdict (ferry.compare.fair): a reduced-precision target is held to its precision's measured rule, the
user's --atol/--rtol still override it, fp32 targets are judged as before, and JSON says the precision."""

from __future__ import annotations

import json

import precision_models as pm

from ferry.check import check
from ferry.compare.fair import RULES
from ferry.io import to_json


def test_int8_target_passes_its_rule_and_user_tolerance_overrides():
    c = pm.contract()
    src, q = pm.fp32(), pm.int8()
    fair = check(src, [(q, "onnxruntime")], pm.PHOTOS, preprocess=c)
    t = fair.targets[0]
    assert fair.passed and t.passed
    assert t.task.metrics["top1_agreement"] >= RULES["int8"].top1
    assert t.task.tolerances["prob_delta"] == RULES["int8"].prob_delta
    o = t.outputs[0]
    assert o.within < 0.05 and 0.05 < o.spread_error < RULES["int8"].spread_error  # beyond float, within int8
    assert "quantization drift" in o.reason
    d = json.loads(to_json(fair.to_dict()))["targets"][0]
    assert d["precision"]["kind"] == "int8" and d["precision"]["rule"]["spread_error"] == 0.25
    assert d["outputs"][0]["spread_error"] == o.spread_error
    # --atol given: the float rule at the user's number decides that output (0.05 of the peak: int8 drift fails it)
    strict = check(src, [(q, "onnxruntime")], pm.PHOTOS, preprocess=c, atol={"*": 0.05})
    assert not strict.passed and "beyond tolerance" in strict.targets[0].outputs[0].reason
    loose = check(src, [(q, "onnxruntime")], pm.PHOTOS, preprocess=c, atol={"*": 1.0})
    assert loose.passed


def test_fp32_target_keeps_the_float_rule():
    c = pm.contract()
    res = check(pm.fp32(), [(pm.fp32(1.01), "onnxruntime")], pm.PHOTOS, preprocess=c)
    t = res.targets[0]
    assert t.precision["kind"] == "fp32" and "rule" not in t.precision
    assert not t.passed  # a 1% damaged weight in float32 fails, as it always has
    assert t.task.tolerances == {"prob_delta": 0.01}
