"""Multi-output TFLite sources (issue 15, items 1 and 5): a five-output signature model (MediaPipe / Object
Detection API style: several outputs of different shapes, two of them [1, 4], declared out of alphabetical order)
and an SSD head ending in TFLite_Detection_PostProcess, converted from the .tflite with the real converters.
Every target keeps each output's name on the tensor that carries it, checked by value; a swapped binding is
caught; the post-processing op gets each target's honest answer (tests/models/tflite_models)."""

from __future__ import annotations

import json

import multi_output as mo
import numpy as np
import pytest
import tflite_models

from ferry.cli import main
from ferry.convert import binding, convert
from ferry.runtimes import load

pytest.importorskip("tf2onnx")
pytest.importorskip("openvino")

TARGETS = "openvino,onnx,opencv,tflite"


def _values(model, contract, img) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, np.float64).reshape(-1) for k, v in model.run_image([img], contract).items()}


@pytest.fixture(scope="module")
def multi(tmp_path_factory, photos):
    src = tflite_models.tflite_sources() / "multi.tflite"
    out = tmp_path_factory.mktemp("tflite-multi") / "out"
    manifest = convert(src, to=TARGETS, preprocess=tflite_models.MULTI_CONTRACT, outdir=out, images=photos[:3])
    return src, manifest


def test_the_source_reads_its_outputs_by_signature_name():
    src = load(tflite_models.tflite_sources() / "multi.tflite")
    assert sorted(o.name for o in src.outputs) == sorted(mo.OUTPUTS)
    assert [o.name for o in src.outputs] != list(mo.OUTPUTS)  # LiteRT lists them in its own order


def test_every_target_binds_each_output_to_its_name_by_value(multi):
    """Each named target output equals the same-named source output (LiteRT) on a probe photo ferry did not use;
    no name needed repairing (the routes bind by the signature's names)."""
    source, manifest = multi
    src = load(source)
    img = np.random.default_rng(5).integers(0, 256, (mo.H, mo.W, 3), dtype=np.uint8)
    want = _values(src, manifest.preprocess, img)
    assert {t.format for t in manifest.targets if t.reachable} == set(TARGETS.split(","))
    for t in manifest.targets:
        assert t.passed, f"{t.format}: {t.reason}"
        assert not [n for n in t.notes if "repaired" in n], (t.format, t.notes)
        got = _values(load(t.path, t.runtime), manifest.preprocess, img)
        assert sorted(got) == sorted(mo.OUTPUTS), (t.format, sorted(got))
        for name in mo.OUTPUTS:
            peak = np.abs(want[name]).max()
            assert got[name].shape == want[name].shape, (t.format, name)
            assert np.abs(got[name] - want[name]).max() <= 1e-4 * peak + 1e-6, f"{t.format}: {name} misbound"
        assert {o["name"] for o in t.check["outputs"]} == set(mo.OUTPUTS), t.format


def test_a_swap_injected_into_the_onnx_and_ir_is_repaired_naming_both(tmp_path, photos, monkeypatch):
    """The real converters' files with classes and scores (both [1, 4]) trading names: caught by value before the
    file is written, and renamed back."""
    from ferry.convert import core

    real = core._produce
    swap = {"detection_classes": "detection_scores", "detection_scores": "detection_classes"}

    def produce(target, *args):
        route, vers, staged, extra = real(target, *args)
        if target in ("onnx", "opencv"):
            binding.rename_onnx_outputs(staged[0], swap)
        elif target == "openvino":
            binding._rename_openvino(staged[0], swap)
        return route, vers, staged, extra

    monkeypatch.setattr(core, "_produce", produce)
    manifest = convert(tflite_models.tflite_sources() / "multi.tflite", to="onnx,openvino,opencv",
                       preprocess=tflite_models.MULTI_CONTRACT, outdir=tmp_path, images=photos[:2])
    for t in manifest.targets:
        assert t.passed, f"{t.format}: {t.reason}"
        note = next(n for n in t.notes if "repaired" in n)
        assert "detection_classes carries the source's detection_scores" in note, note
        assert "detection_scores carries the source's detection_classes" in note, note


def test_check_of_a_swapped_file_against_the_tflite_source_exits_1_naming_both(multi, tmp_path, photos, capsys):
    source, manifest = multi
    good = next(t.path for t in manifest.targets if t.format == "onnx")
    swapped = tmp_path / "swapped.onnx"
    swapped.write_bytes(open(good, "rb").read())
    binding.rename_onnx_outputs(swapped, {"detection_classes": "detection_scores",
                                          "detection_scores": "detection_classes"})
    contract = tmp_path / "c.json"
    contract.write_text(json.dumps(tflite_models.MULTI_CONTRACT))
    args = ["--preprocess", str(contract), "--task", "none", "--images", *map(str, photos[:2])]
    assert main(["check", str(source), good, *args]) == 0
    capsys.readouterr()
    code = main(["check", str(source), str(swapped), *args])
    text = " ".join(capsys.readouterr().out.split())
    assert code == 1
    assert "the target's detection_classes (compared with the source's detection_classes) carries the source's " \
           "detection_scores" in text, text


# -- TFLite_Detection_PostProcess: what each target does with it --------------------------------------------------
@pytest.fixture(scope="module")
def ssd(tmp_path_factory, photos):
    src = tflite_models.tflite_sources() / "ssd_post.tflite"
    out = tmp_path_factory.mktemp("tflite-ssd") / "out"
    manifest = convert(src, to=TARGETS, preprocess=tflite_models.SSD_CONTRACT, outdir=out, images=photos)
    return src, {t.format: t for t in manifest.targets}, manifest.preprocess


def test_postprocess_op_openvino_unreachable_naming_op_and_node(ssd):
    _, by, _ = ssd
    ov = by["openvino"]
    assert not ov.reachable and ov.path is None
    assert ov.op == "TFLite_Detection_PostProcess", ov
    assert ov.node and ov.node.startswith("operator "), ov.node  # found in the flatbuffer: OpenVINO names no node
    assert "deploy the tflite target" in ov.reason, ov.reason


def test_postprocess_op_opencv_unreachable_on_the_nms_tf2onnx_makes_of_it(ssd):
    _, by, _ = ssd
    cv = by["opencv"]
    assert not cv.reachable and cv.op == "NonMaxSuppression" and "NonMaxSuppression" in (cv.node or ""), cv


def test_postprocess_op_tflite_copy_passes_with_every_detection(ssd, photos):
    _, by, _ = ssd
    t = by["tflite"]
    assert t.passed, t.reason
    m = t.check["task"]["metrics"]
    assert t.check["task"]["task"] == "detect" and m["matched"] == m["ref_detections"] == \
        tflite_models.SSD_MAX * len(photos), m


def test_postprocess_op_onnx_converts_but_its_nms_is_not_tflites_and_the_check_says_so(ssd, photos):
    """tf2onnx translates the op into ONNX NonMaxSuppression per class ("ONNX will approximate with standard NMS",
    its own warning): with max_classes_per_detection 1 an anchor can come out under two classes, where LiteRT's fast
    NMS keeps each anchor's best class once. The check must fail it by detections (not pass it on the 10 that
    happen to agree), and the cause is visible in the file's own outputs."""
    import cv2

    source, by, contract = ssd
    t = by["onnx"]
    assert t.reachable and t.path and not t.passed, t.reason
    task = t.check["task"]
    assert task["task"] == "detect" and not task["passed"] and "missing" in task["reason"], task
    assert task["metrics"]["matched"] > 0  # most detections agree: the difference is the NMS, not the boxes
    repeated = {}
    for side, model in (("source", load(source)), ("onnx", load(t.path, t.runtime))):
        boxes = [model.run_image([cv2.imread(str(p))], contract)["detection_boxes"][0] for p in photos]
        repeated[side] = sum(len(b) - len(np.unique(np.round(b, 5), axis=0)) for b in boxes)
    assert repeated["source"] == 0 and repeated["onnx"] > 0, repeated
