"""ferry doctor on real models: seeded torch models, EfficientNet-Lite0 (real ImageNet weights) and PP-OCRv4 det.

With a reference, the true contract must come first for every wrong contract (parity is the only confident
answer). Without one, the issue asks for >= 90% on the pretrained classifier and segmenter; measured here, and
where it is not reached the test says so (xfail strict) instead of being weakened."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import cases  # noqa: E402

from ferry.doctor import LABEL_FREE_RESOLUTION, Runner, agrees, diagnose  # noqa: E402
from ferry.doctor.candidates import (  # noqa: E402
    explain,
    indistinguishable,
    normalisation_candidates,
    reference_neighbourhood,
)
from ferry.doctor.fix import differences  # noqa: E402
from ferry.images import load_image  # noqa: E402
from ferry.preprocess.contract import Preprocess  # noqa: E402
from ferry.runtimes import load  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = ROOT / "examples" / "images"


def _photos(*names: str) -> list[np.ndarray]:
    return [load_image(PHOTOS / n) for n in names]


def _reference_outputs(path, contract, images) -> dict[str, np.ndarray]:
    ref = load(path)
    return ref.run_reference(images, ref.resolve(Preprocess.from_dict(contract)))


def _seeded(name: str):
    import torch_models

    images = _photos("astronaut.jpg", "chelsea.jpg", "coffee.jpg", "rocket.jpg")
    ref = _reference_outputs(torch_models.torchscript_path(name), cases.SEEDED_TRUE[name], images)
    return torch_models.onnx_path(name), Runner(load(torch_models.onnx_path(name)), images), ref


# ---- candidates ---------------------------------------------------------------------------------------------
def _twice(pp: Preprocess) -> Preprocess:
    """The contract applied to its own output: gain g*g, offset g*o + o."""
    gain, offset = pp.affine()
    return pp.replace(scale=1.0, std=tuple(1 / (g * g) for g in gain),
                      mean=tuple(-(g * o + o) / (g * g) for g, o in zip(gain, offset, strict=True)))


def test_candidates_are_conventions_and_never_a_slip():
    base = Preprocess(size=(224, 224), layout="NCHW")
    yours = Preprocess.from_dict({**cases.IMAGENET, "size": [224, 224], "layout": "NCHW"})
    cands = normalisation_candidates(base, yours)
    assert len(cands) >= 14
    for i, a in enumerate(cands):
        assert not any(a.preprocess.same_function(b.preprocess) for b in cands[:i]), a.name
    pps = [c.preprocess for c in cands]
    for want in (Preprocess.from_dict(cases.EFFNET_TRUE), yours.replace(color="BGR"),
                 Preprocess.from_dict({**cases.CAFFE_BGR, "size": [224, 224], "layout": "NCHW"}),
                 Preprocess.from_dict({**cases.PPOCR_TRAINED, "size": [224, 224]})):
        assert any(p.same_function(w) for p in pps for w in [want]), want
    # each slip of a convention explains what the user feeds, and none of them is a candidate
    slipped = {"swap after mean": yours.replace(mean=(0.406, 0.456, 0.485), std=(0.225, 0.224, 0.229)),
               "no std": yours.replace(std=(1.0, 1.0, 1.0)),
               "std as 1/std": yours.replace(std=tuple(1 / s for s in yours.std)),
               "mean not scaled": yours.replace(mean=tuple(m * 255 for m in yours.mean)),
               "twice": _twice(yours)}
    words = {"swap after mean": "swapped after the mean", "no std": "std is left out",
             "std as 1/std": "1/std", "mean not scaled": "not scaled", "twice": "twice"}
    for label, pp in slipped.items():
        assert not any(p.same_function(pp) for p in pps), label
        said = explain(pp, yours)
        assert said is not None and words[label] in said, (label, said)
    assert explain(yours, yours) is None or yours.same_function(yours)


def test_reference_neighbourhood_holds_the_exact_swap_of_a_non_convention_contract():
    """BGR 104/117/123 read as RGB is RGB 123/117/104 exactly, not the ImageNet-derived 123.68/116.78/103.94."""
    ref = Preprocess(color="BGR", mean=(104.0, 117.0, 123.0), size=(64, 64), layout="NCHW")
    near = reference_neighbourhood(ref, can_swap_layout=True)
    assert near[0].name == "the reference's contract" and near[0].preprocess.same_function(ref)
    exact = Preprocess(color="RGB", mean=(123.0, 117.0, 104.0), size=(64, 64), layout="NCHW")
    hits = [c.name for c in near if c.preprocess.same_function(exact)]
    assert hits == ["the reference's contract, read as RGB, means reversed"]
    assert any(c.preprocess.same_function(ref.replace(mean=(0.0, 0.0, 0.0))) for c in near)
    assert any(c.preprocess.same_function(ref.replace(layout="NHWC")) for c in near)
    assert any(c.preprocess.resize.mode == "letterbox" for c in near)
    # Caffe's stretch to 256x256 then the centre 224: one resize step from a plain stretch
    squash = [c for c in near if c.preprocess.resize.mode == "stretch" and c.preprocess.resize.crop_fraction < 1]
    assert [c.name for c in squash] == ["the reference's contract, resize stretch then crop 0.875"]
    assert "you resize with stretch, bilinear (opencv); the model wants stretch then centre crop (crop fraction " \
        "0.875), bilinear (opencv)" in differences(ref, squash[0].preprocess)


def test_differences_in_words():
    rgb = Preprocess.from_dict(cases.IMAGENET)
    assert "your input is BGR; the model wants RGB" in differences(rgb.replace(color="BGR"), rgb)
    assert "you subtract the mean but do not divide by std" in differences(rgb.replace(std=(1, 1, 1)), rgb)
    assert differences(rgb, rgb) == []


# ---- with a reference: every case ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["classifier", "segmenter"])
def test_seeded_with_reference_names_the_true_contract(name):
    path, runner, ref = _seeded(name)
    true = Preprocess.from_dict(cases.SEEDED_TRUE[name])
    tried = 0
    for label, wrong in cases.SEEDED_WRONG.items():
        if Preprocess.from_dict(wrong).replace(size=true.size).same_function(true):
            continue
        d = diagnose(path, [], preprocess=wrong, runner=runner, reference_outputs=ref)
        best = d.candidates[0]
        assert d.confident, label
        assert best.evidence["parity"], label
        assert d.best.replace(layout=true.layout or d.best.layout, size=d.best.size).same_function(
            true.replace(layout=d.best.layout, size=d.best.size)), (label, best.candidate.name)
        assert d.best.layout == "NCHW" and d.best.resize.mode == "stretch", label
        assert d.differences, label
        assert not d.candidates[1].evidence["parity"], label
        tried += 1
    assert tried >= 10


def test_injected_bug_in_the_weights_is_not_blamed_on_preprocessing(tmp_path):
    """A model that is really wrong (one conv scaled by 1.05) must not get a confident preprocessing diagnosis."""
    import torch
    import torch_models

    net = torch_models.classifier()
    with torch.no_grad():
        net[3].weight.mul_(1.05)
    bad = tmp_path / "bad.onnx"
    torch.onnx.export(net, torch.randn(1, 3, 48, 64), bad, dynamo=False, opset_version=17,
                      input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "N"}})
    _, runner, ref = _seeded("classifier")
    d = diagnose(bad, [], preprocess=cases.CAFFE_BGR, runner=Runner(load(bad), runner.images),
                 reference_outputs=ref)
    assert not d.confident
    assert not d.candidates[0].evidence["parity"]
    assert any("not (only) preprocessing" in n for n in d.notes)


@pytest.fixture(scope="module")
def effnet():
    import pretrained

    images = _photos("astronaut.jpg", "chelsea.jpg", "coffee.jpg", "rocket.jpg", "camera.jpg")
    path = pretrained.efficientnet_lite0_onnx()
    return path, Runner(load(path), images), images


@pytest.fixture(scope="module")
def ppocr():
    import pretrained

    images = _photos("text.jpg", "astronaut.jpg", "coffee.jpg")
    path = pretrained.ppocr_det_onnx()
    return path, Runner(load(path), images), images


@pytest.mark.slow
def test_effnet_with_reference_names_the_true_contract(effnet):
    import pretrained

    path, runner, images = effnet
    ref = _reference_outputs(pretrained.efficientnet_lite0_torchscript(), cases.EFFNET_TRUE, images[:3])
    runner3 = Runner(runner.model, images[:3])
    true = Preprocess.from_dict(cases.EFFNET_TRUE)
    for label, wrong in cases.EFFNET_WRONG.items():
        d = diagnose(path, [], preprocess=wrong, runner=runner3, reference_outputs=ref)
        assert d.confident and d.best.same_function(true), (label, d.candidates[0].candidate.name)


@pytest.mark.slow
def test_ppocr_with_reference_names_the_true_contract(ppocr):
    path, runner, images = ppocr
    ref = _reference_outputs(path, cases.PPOCR_TRUE, images)
    true = Preprocess.from_dict(cases.PPOCR_TRUE)
    for label, wrong in cases.PPOCR_WRONG.items():
        d = diagnose(path, [], preprocess=wrong, runner=runner, reference_outputs=ref)
        assert d.confident and d.best.same_function(true), (label, d.candidates[0].candidate.name)


# ---- without a reference ---------------------------------------------------------------------------------------
def _label_free_rate(path, runner, true_spec, wrong_cases):
    """Share of wrong contracts after which label-free doctor names `true_spec` first (within the label-free
    resolution, LABEL_FREE_RESOLUTION), the questions it was sure of and wrong (label: question), and how many
    times each question was sure."""
    true = Preprocess.from_dict(true_spec)
    hits, confident_wrong, sure = 0, [], {"range": 0, "color": 0, "layout": 0}
    for label, wrong in wrong_cases.items():
        d = diagnose(path, [], preprocess=wrong, runner=runner)
        hits += indistinguishable(d.best, true.replace(size=d.best.size, layout=d.best.layout,
                                                      resize=d.best.resize), LABEL_FREE_RESOLUTION)
        assert d.confident == all(d.sure.values())
        for q in sure:
            sure[q] += d.sure[q]
            if d.sure[q] and not agrees(q, d.best, true.replace(layout=true.layout or d.best.layout),
                                        LABEL_FREE_RESOLUTION):
                confident_wrong.append(f"{label}: {q}")
    return hits / len(wrong_cases), confident_wrong, sure


@pytest.mark.slow
def test_effnet_label_free_names_the_true_contract(effnet):
    """Measured: 12 of 12 (the winning group holds (x-127)/128 with (x-127.5)/127.5, which differ by 0.4%)."""
    path, runner, _ = effnet
    rate, confident_wrong, _ = _label_free_rate(path, runner, cases.EFFNET_TRUE, cases.EFFNET_WRONG)
    assert rate >= 0.9
    assert confident_wrong == []


@pytest.mark.slow
def test_ppocr_label_free_names_the_contract_it_was_trained_on(ppocr):
    """Measured: 11 of 11 name BGR with ImageNet mean/std (PaddleOCR's training contract), confident on the
    BatchNorm evidence of the backbone's stem (1.5x closer than any other answer); the output signals alone named it
    with a margin of only 0.02-0.04. Not RapidOCR's (x/255-0.5)/0.5: that is a deployment choice the weights do
    not record."""
    path, runner, _ = ppocr
    rate, confident_wrong, sure = _label_free_rate(path, runner, cases.PPOCR_TRAINED, cases.PPOCR_WRONG)
    assert rate >= 0.9
    assert confident_wrong == []
    assert sure["range"] == sure["layout"] == len(cases.PPOCR_WRONG)
    d = diagnose(path, [], preprocess=cases.PPOCR_TRUE, runner=runner)
    assert "batchnorm" in d.candidates[0].evidence
    assert not indistinguishable(d.best, Preprocess.from_dict(cases.PPOCR_TRUE), LABEL_FREE_RESOLUTION)
    assert d.sure["range"] and d.sure["color"] and "BatchNorm" in d.why["range"]
    # the evidence taken away (no BatchNorm probe): the same photos leave range and colour open
    bare = Runner(runner.model, runner.images)
    bare.memo["batchnorm probe"] = None
    d2 = diagnose(path, [], preprocess=cases.PPOCR_TRUE, runner=bare)
    assert not d2.sure["range"] and not d2.sure["color"] and not d2.confident


@pytest.mark.slow
def test_ppocr_cls_label_free_names_the_contract_but_is_not_sure_of_the_colour_order():
    """Measured: 11 of 11 name BGR -1..1 first; never confident, rightly: on these photos its stem BatchNorms find
    RGB only 1.07x further (text crops are nearly grey), and the output signals' margin is 0.03."""
    import pretrained

    path = pretrained.ppocr_cls_onnx()
    images = _photos("text.jpg", "astronaut.jpg", "coffee.jpg", "chelsea.jpg", "rocket.jpg")
    rate, confident_wrong, _ = _label_free_rate(path, Runner(load(path), images), cases.PPOCR_CLS_TRUE,
                                                cases.PPOCR_CLS_WRONG)
    assert rate >= 0.9
    assert confident_wrong == []


# ---- command line ------------------------------------------------------------------------------------------------
def _ferry(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ferry.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def test_cli_json_and_exit_codes(tmp_path):
    import torch_models

    contract = tmp_path / "ref.yaml"
    Preprocess.from_dict(cases.SEEDED_TRUE["classifier"]).save(contract)
    photos = [str(PHOTOS / "chelsea.jpg"), str(PHOTOS / "coffee.jpg")]
    done = _ferry("doctor", str(torch_models.onnx_path("classifier")), "--images", *photos, "--preprocess", "caffe",
                  "--reference", str(torch_models.torchscript_path("classifier")), "--reference-preprocess",
                  str(contract), "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert set(out) >= {"confident", "best", "candidates"}
    assert out["confident"] is True
    assert set(out["best"]) == set(Preprocess().to_dict())
    assert Preprocess.from_dict(out["best"]).same_function(
        Preprocess.from_dict({**cases.SEEDED_TRUE["classifier"], "layout": "NCHW"}))
    assert all(set(c) >= {"preprocess", "score", "evidence"} for c in out["candidates"])
    text = _ferry("doctor", str(torch_models.onnx_path("classifier")), "--images", *photos, "--preprocess", "caffe",
                  "--reference", str(torch_models.torchscript_path("classifier")), "--reference-preprocess",
                  str(contract))
    assert text.returncode == 0
    assert "your input is BGR; the model wants RGB" in text.stdout
    assert "blobFromImageWithParams" in text.stdout and "PrePostProcessor" in text.stdout
    assert "ImageType" in text.stdout
    bad = _ferry("doctor", str(torch_models.onnx_path("classifier")), "--images", str(tmp_path / "nope.jpg"))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_a_layout_candidate_the_model_cannot_take_is_noted_without_advice_to_the_user(tmp_path, photos):
    """A model whose height and width are free cannot be fed an NHWC buffer as NCHW; the doctor made that candidate
    itself, and its note told the user to "fix the contract's size or layout" (found on PP-OCRv2's recogniser)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from ferry.doctor import diagnose

    w = numpy_helper.from_array(np.random.default_rng(0).normal(size=(4, 3, 3, 3)).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "H", "W"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "free.onnx"
    onnx.save(model, str(path))
    contract = {"color": "RGB", "scale": 1 / 255, "size": [24, 32], "layout": "NCHW"}
    d = diagnose(path, photos[:2], reference=path, reference_preprocess=contract, preprocess=contract)
    layout = [n for n in d.notes if "not tried" in n]
    assert layout and not any("fix the contract" in n for n in layout), d.notes
