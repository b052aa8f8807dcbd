"""ferry convert over the matrix of sources x targets, the seed-000 detector to OpenVINO, and what convert must
never do (overwrite, leave partial files, pass a wrong model)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tf_models
import torch_models

from ferry.cli import main
from ferry.convert import convert
from ferry.convert.core import TARGETS

ROOT = Path(__file__).resolve().parents[2]
SEG_CONTRACT = {"preset": "imagenet", "size": [torch_models.HEIGHT, torch_models.WIDTH]}
CLS_FACTORY = f"{ROOT / 'tests' / 'models' / 'torch_models.py'}:classifier"

# (source, contract, targets that must be unreachable -> the op named, or None when no op is involved).
# Every other target must be reached and pass.
MATRIX = {
    "torch-factory-classifier": (lambda: CLS_FACTORY, SEG_CONTRACT, {}),
    "torchscript-segmenter": (lambda: torch_models.torchscript_path("segmenter"), SEG_CONTRACT, {}),
    "onnx-classifier": (lambda: torch_models.onnx_path("classifier"), "imagenet", {"coreml": None, "tflite": None}),
    "keras-cnn": (lambda: tf_models.tf_cnn() / "cnn.keras", {"preset": "unit", "layout": "NHWC"}, {}),
    "savedmodel-detector": (tf_models.detector_savedmodel, tf_models.DETECTOR_CONTRACT,
                            {"opencv": "NonMaxSuppression", "tflite": "CropAndResize", "coreml": None}),
}


@pytest.fixture(scope="module", params=sorted(MATRIX))
def converted(request, tmp_path_factory, photos):
    make_source, contract, unreachable = MATRIX[request.param]
    out = tmp_path_factory.mktemp(request.param)
    manifest = convert(make_source(), preprocess=contract, outdir=out, images=photos)
    return request.param, out, manifest, unreachable


def test_every_reachable_pair_converts_and_passes(converted, photos):
    name, out, manifest, unreachable = converted
    assert [t.format for t in manifest.targets] == list(TARGETS)
    for t in manifest.targets:
        if t.reachable:
            assert t.passed, f"{name} -> {t.format}: {t.reason}"
            assert Path(t.path).exists() and t.route
            worst = max(o["max_abs"] for o in t.check["outputs"])
            assert worst < 1e-3, f"{name} -> {t.format} drifts by {worst}"
            assert t.check["passed"] and len(manifest.images) == len(photos) >= 8
        else:
            assert t.path is None and t.reason and not t.passed
    for fmt, op in unreachable.items():
        entry = next(t for t in manifest.targets if t.format == fmt)
        assert not entry.reachable, f"{name} -> {fmt} should be unreachable"
        if op:
            assert entry.op == op and op in entry.reason, entry.reason
    reached = {t.format for t in manifest.targets if t.reachable}
    assert reached == set(TARGETS) - set(unreachable), f"{name}: reached {sorted(reached)}"


def test_manifest_records_source_routes_and_versions(converted):
    name, out, manifest, _ = converted
    data = json.loads((out / "ferry.json").read_text())
    assert set(data) >= {"preprocess", "source", "targets"}
    assert set(data["source"]) >= {"path", "sha256"}
    for t in data["targets"]:
        assert set(t) >= {"format", "path", "route", "passed", "versions"}
        if t["path"]:
            assert t["versions"]["ferry"] and all(v != "not installed" for v in t["versions"].values())
    assert data["preprocess"] == manifest.preprocess.to_dict()
    src = Path(data["source"]["path"].rpartition(":")[0] if name == "torch-factory-classifier"
               else data["source"]["path"])
    if src.is_file():
        assert data["source"]["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()


def test_inspect_shows_the_contract_of_every_written_file(converted, capsys):
    _, out, manifest, _ = converted
    for t in manifest.targets:
        if not t.path:
            continue
        capsys.readouterr()
        assert main(["inspect", t.path, "--json"]) == 0
        info = json.loads(capsys.readouterr().out)
        contract = info["preprocess"] or info["declared_preprocess"]
        assert contract is not None, f"{t.path}: inspect shows no contract"
        assert contract["color"] == manifest.preprocess.color
        assert np.allclose(contract["mean"], manifest.preprocess.mean) or t.format in ("onnx", "openvino")


def test_output_names_survive_every_target(converted):
    from ferry.runtimes import load

    name, _, manifest, _ = converted
    want = {o.name for o in load(manifest.source["path"]).outputs}
    for t in manifest.targets:
        if t.path and t.format != "tflite":
            assert {o.name for o in load(t.path).outputs} == want, t.format
        elif t.path:  # TFLite keeps names only in its signature; ferry matches its outputs by position and says so
            assert len(load(t.path).outputs) == len(want)
            assert len(want) == 1 or {o.name for o in load(t.path).outputs} == want


def test_seed_detector_to_openvino_keeps_names_dynamic_shape_and_contract(tmp_path, photos):
    """Seed 000: the Mask R-CNN-signature SavedModel to IR, colour order embedded, names kept, parity with TF."""
    import openvino as ov

    code = main(["convert", str(tf_models.detector_savedmodel()), "--to", "openvino", "-o", str(tmp_path),
                 "--preprocess", _write_contract(tmp_path, tf_models.DETECTOR_CONTRACT), "--images",
                 *map(str, photos), "--json"])
    assert code == 0
    xml = next(tmp_path.glob("*.xml"))
    model = ov.Core().read_model(xml)
    assert [i.get_any_name() for i in model.inputs] == ["image_tensor"]
    assert str(model.inputs[0].get_partial_shape()) == "[1,?,?,3]"  # dynamic height/width kept
    assert model.inputs[0].get_element_type() == ov.Type.u8
    assert model.get_rt_info(["model_info", "reverse_input_channels"]).astype(str) == "True"
    # detections agree with TensorFlow on every photo, matched by IoU, masks by IoU
    from ferry.images import load_image
    from ferry.preprocess.contract import load_contract
    from ferry.runtimes import load

    src, tgt = load(tf_models.detector_savedmodel()), load(xml)
    contract = src.resolve(load_contract(tf_models.DETECTOR_CONTRACT))
    for photo in photos:
        img = [load_image(photo)]
        ref, out = src.run_reference(img, contract), tgt.run_image(img, contract)
        n = int(ref["num_detections"][0])
        assert int(out["num_detections"][0]) == n and n > 0
        ious = _iou(ref["detection_boxes"][0, :n], out["detection_boxes"][0, :n])
        match = ious.argmax(axis=1)
        assert np.all(ious.max(axis=1) > 0.99)
        assert np.array_equal(ref["detection_classes"][0, :n], out["detection_classes"][0, match])
        assert np.allclose(ref["detection_scores"][0, :n], out["detection_scores"][0, match], atol=1e-4)
        rm, om = ref["detection_masks"][0, :n] > 0.5, out["detection_masks"][0, match] > 0.5
        inter, union = (rm & om).sum(axis=(1, 2)), (rm | om).sum(axis=(1, 2))
        assert np.all(inter[union > 0] / union[union > 0] > 0.98)


def test_a_plain_ir_of_a_uint8_model_is_fed_as_its_contract_says(tmp_path, photos):
    """An IR converted without PrePostProcessor from a model that takes uint8 RGB itself (the OD API detector):
    the front of its graph is the model's own normalisation, not embedded preprocessing; fed RGB as the contract
    says it passes, and the BGR slip fails by task."""
    import openvino as ov

    from ferry.check import check

    ov.save_model(ov.convert_model(str(tf_models.detector_savedmodel())), str(tmp_path / "plain.xml"),
                  compress_to_fp16=False)
    good = check(tf_models.detector_savedmodel(), [tmp_path / "plain.xml"], photos[:4],
                 preprocess=tf_models.DETECTOR_CONTRACT)
    assert good.passed and good.targets[0].preprocess_path == "native"
    bgr = {**tf_models.DETECTOR_CONTRACT, "color": "BGR"}
    bad = check(tf_models.detector_savedmodel(), [tmp_path / "plain.xml"], photos[:4],
                preprocess=tf_models.DETECTOR_CONTRACT, target_preprocess=bgr)
    assert not bad.passed


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=2)
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=1)  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter + 1e-12)


def _write_contract(d: Path, contract: dict) -> str:
    p = d / "contract.json"
    p.write_text(json.dumps(contract))
    return str(p)


def test_seed_mean_values_on_an_od_api_model_is_refused_and_caught(tmp_path, photos, capsys):
    """The seed's mo command adds --mean_values/--scale_values to a model that normalises its uint8 input itself.
    ferry refuses to embed that (exit 2, one line), and an IR a user built that way fails ferry check."""
    import openvino as ov
    from openvino.preprocess import PrePostProcessor

    bad = {**tf_models.DETECTOR_CONTRACT, "mean": [123.68, 116.779, 103.939], "std": [58.393, 57.12, 57.375]}
    code = main(["convert", str(tf_models.detector_savedmodel()), "--to", "openvino", "-o", str(tmp_path / "o"),
                 "--preprocess", _write_contract(tmp_path, bad), "--images", str(photos[0])])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "normalises them itself" in err[0], err
    assert not list((tmp_path / "o").glob("*.xml"))
    # what mo --mean_values --scale_values --reverse_input_channels does, written with OpenVINO's own API
    model = ov.convert_model(str(tf_models.detector_savedmodel()))
    ppp = PrePostProcessor(model)
    ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
    ppp.input().preprocess().convert_element_type(ov.Type.f32).reverse_channels() \
        .mean([123.68, 116.779, 103.939]).scale([58.393, 57.12, 57.375])
    ov.save_model(ppp.build(), str(tmp_path / "mo_style.xml"), compress_to_fp16=False)
    code = main(["check", str(tf_models.detector_savedmodel()), str(tmp_path / "mo_style.xml"),
                 "--preprocess", _write_contract(tmp_path, tf_models.DETECTOR_CONTRACT), "--images",
                 *map(str, photos[:3])])
    assert code == 1


def test_existing_outputs_are_never_replaced_without_force(tmp_path, photos, capsys):
    src = torch_models.onnx_path("classifier")
    args = ["convert", str(src), "--to", "onnx,opencv", "--preprocess", "imagenet", "-o", str(tmp_path),
            "--images", str(photos[0])]
    assert main(args) == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "exists" in err[0] and "--force" in err[0]
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert main([*args, "--force", "--preprocess", "unit"]) == 0
    assert (tmp_path / "classifier.onnx").read_bytes() != before["classifier.onnx"]


def test_the_source_is_never_overwritten(tmp_path, photos, capsys):
    src = tmp_path / "classifier.onnx"
    src.write_bytes(torch_models.onnx_path("classifier").read_bytes())
    before = src.read_bytes()
    assert main(["convert", str(src), "--to", "onnx", "--preprocess", "imagenet", "-o", str(tmp_path),
                 "--images", str(photos[0]), "--force"]) == 2
    assert "overwrite the source" in capsys.readouterr().err
    assert src.read_bytes() == before


@pytest.mark.parametrize("args, says", [
    (["--to", "onnx,bogus"], "targets are"),
    ([], "--images"),
])
def test_bad_usage_is_one_line_exit_2(tmp_path, args, says, capsys):
    code = main(["convert", str(torch_models.onnx_path("classifier")), "--preprocess", "imagenet",
                 "-o", str(tmp_path / "o"), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and says in err[0]
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_truncated_source_is_one_line_exit_2(tmp_path, photos, capsys):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(torch_models.onnx_path("classifier").read_bytes()[:300])
    code = main(["convert", str(bad), "--preprocess", "imagenet", "-o", str(tmp_path / "o"),
                 "--images", str(photos[0])])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "broken.onnx" in err[0]
    assert not list((tmp_path / "o").glob("*.onnx")) if (tmp_path / "o").exists() else True


def test_a_convert_killed_midway_leaves_no_partial_file(tmp_path, photos):
    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "ferry.cli", "convert", str(tf_models.detector_savedmodel()), "--to",
           "onnx,openvino", "-o", str(out), "--preprocess", _write_contract(tmp_path, tf_models.DETECTOR_CONTRACT),
           "--images", str(photos[0])]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (out.exists() and any(out.glob(".ferry-convert-*"))):
            time.sleep(0.05)
        assert any(out.glob(".ferry-convert-*")), "convert never started staging"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    visible = [p.name for p in out.iterdir() if not p.name.startswith(".")]
    assert visible == [], f"partial outputs after a kill: {visible}"


def test_assert_parity_passes_a_good_target_and_raises_with_the_table_for_a_bad_one(tmp_path, photos):
    from ferry.testing import ParityError, assert_parity

    manifest = convert(torch_models.onnx_path("classifier"), to="openvino", preprocess="imagenet",
                       outdir=tmp_path / "good", images=photos[:2])
    good = manifest.targets[0].path
    result = assert_parity(torch_models.onnx_path("classifier"), good, photos[:3], preprocess="imagenet")
    assert result.passed
    bgr = {"preset": "imagenet", "color": "BGR"}  # the classic slip: the deployed model was given BGR
    bad = convert(torch_models.onnx_path("classifier"), to="openvino", preprocess=bgr, outdir=tmp_path / "bad",
                  check=False).targets[0].path
    with pytest.raises(ParityError) as info:
        assert_parity(torch_models.onnx_path("classifier"), bad, photos[:3], preprocess="imagenet")
    assert "FAIL" in str(info.value) and "max abs" in str(info.value)
    assert not info.value.result.passed


def test_one_target_failing_while_it_runs_is_that_targets_failure_only(tmp_path, photos, monkeypatch):
    """All targets are checked in one `check`; when one of them raises while running (fault injected into
    OpenCV's run), the others still get their own verdicts and only that target records the failure."""
    from ferry.errors import FerryError
    from ferry.runtimes import opencv

    def broken(self, images, preprocess):
        raise FerryError(f"{self.path}: OpenCV DNN failed (injected)")

    monkeypatch.setattr(opencv.CvModel, "run_image", broken)
    manifest = convert(torch_models.onnx_path("classifier"), to="onnx,openvino,opencv", preprocess="imagenet",
                       outdir=tmp_path, images=photos[:3])
    verdicts = {t.format: (t.passed, t.reason) for t in manifest.targets}
    assert verdicts["onnx"] == (True, None) and verdicts["openvino"] == (True, None)
    assert verdicts["opencv"][0] is False and "injected" in verdicts["opencv"][1]
