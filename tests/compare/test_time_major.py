"""Time-major recogniser outputs [T, N, C] (a CRNN's LSTM left batch_first=False, ddddocr's [32, 1, 8210]): read as
per-position class rankings (rule sequence) and split per photo on their batch axis, the second.

Before: `check --task auto` compared ddddocr's output as a bare tensor ("no output looks like class scores"), and a
batch of N photos through a time-major model was split on the time axis or shared whole with every photo."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

from ferry.check import check, run_per_image
from ferry.compare.task import ClassifyAccumulator, pick_task
from ferry.preprocess.contract import Preprocess
from ferry.runtimes import load

_MODELS = str(Path(__file__).resolve().parents[1] / "models")
if _MODELS not in sys.path:
    sys.path.insert(0, _MODELS)
sequence_models = importlib.import_module("sequence_models")

RNG = np.random.default_rng(4)
GRAY = {"color": "GRAY", "scale": 1 / 255, "size": [sequence_models.HEIGHT, sequence_models.WIDTH],
        "layout": "NCHW"}
INVERTED = {**GRAY, "gray_zero_is": "white"}


def test_time_major_logits_are_a_sequence_and_a_moved_position_fails():
    logits = RNG.standard_normal((24, 1, 11)) * 3
    plan = pick_task("auto", {"logits": logits})
    assert plan.task == "classify" and plan.per_anchor and "time-major" in plan.why and plan.row_unit == "position"
    assert not pick_task("auto", {"logits": logits.reshape(1, 24, 11)}).per_anchor  # batch first: not this rule
    assert "time-major" not in pick_task("auto", {"x": RNG.standard_normal((3, 1, 11))}).why  # 3 steps: too few
    acc = ClassifyAccumulator(plan, 0.5)
    moved = logits.copy()
    moved[5, 0] = moved[5, 0][::-1]  # one position reads another symbol
    assert acc.add({"logits": logits}, {"logits": logits.copy()})
    assert not acc.add({"logits": logits}, {"logits": moved})
    reason = acc.result().reason
    assert "position(s)" in reason
    # each criterion with its own count: one position of 24 flips, 1 of the 2 photos fails (it read "(1 of 2 image(s))"
    # as though the flips spanned the photos)
    assert reason.startswith("top-1 class differs on 1 of 48 position(s); 1 of 2 image(s) fail"), reason


def test_a_batch_through_a_time_major_model_is_split_on_its_second_axis(photos):
    model = load(sequence_models.crnn_onnx(), "onnxruntime")
    contract = Preprocess.from_dict(GRAY)
    from ferry.images import load_image
    from ferry.preprocess.reference import preprocess_image

    images = [preprocess_image(load_image(p), contract) for p in photos[:5]]

    def run(chunk):
        return model.run({"image": np.concatenate(chunk)})

    one = run_per_image(run, model, images, batch=1)
    four = run_per_image(run, model, images, batch=4)  # a call of 4 photos, then one of 1
    assert [o["logits"].shape for o in four] == [(sequence_models.STEPS, 1, sequence_models.CLASSES)] * 5
    for a, b in zip(one, four, strict=True):
        np.testing.assert_allclose(b["logits"], a["logits"], rtol=1e-5, atol=1e-5)


def test_check_compares_a_time_major_recogniser_per_position_and_fails_a_wrong_feed(photos):
    src = sequence_models.crnn_onnx()
    ok = check(src, [(src, "openvino")], images=photos[:6], preprocess=GRAY, batch=4)
    assert ok.passed and "time-major" in ok.plan.why
    assert ok.targets[0].task.metrics["anchors"] == 6 * sequence_models.STEPS
    bad = check(src, [(src, "openvino")], images=photos[:6], preprocess=GRAY, target_preprocess=INVERTED, batch=4)
    assert not bad.passed and "position(s)" in bad.targets[0].task.reason


@pytest.mark.slow
def test_ddddocr_recogniser_is_a_sequence_and_an_inverted_feed_fails(photos):
    """The real recogniser (ddddocr 1.6.1, common.onnx) on gray 64x256 crops: the right feed passes per position in
    OpenVINO; 0 = white (polarity inverted) fails by the positions' rankings."""
    import pretrained

    src = pretrained.ddddocr_ocr_onnx()
    contract = {"color": "GRAY", "scale": 1 / 255, "size": [64, 256], "layout": "NCHW"}
    text = [p for p in photos if p.stem.startswith("text")] + [p for p in photos if not p.stem.startswith("text")]
    ok = check(src, [(src, "openvino")], images=text[:3], preprocess=contract)
    assert ok.passed and "time-major" in ok.plan.why, ok.plan.why
    bad = check(src, [(src, "openvino")], images=text[:3], preprocess=contract,
                target_preprocess={**contract, "gray_zero_is": "white"})
    assert not bad.passed and not bad.targets[0].task.passed  # measured: a probability moves 0.93 (> 0.01)
