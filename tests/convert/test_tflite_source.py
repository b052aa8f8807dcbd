"""`ferry convert model.tflite` (issue 15 item 5): a TFLite source to OpenVINO (convert_model on the file), ONNX
and OpenCV (tf2onnx's TFLite path), each checked against the source run in LiteRT; Core ML refused, TFLite a copy
with the contract; a custom op named as unreachable. Real converters, seeded models (tests/models/tflite_models)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tflite_models

from ferry.cli import main

pytest.importorskip("tf2onnx")
pytest.importorskip("openvino")

TARGETS = "openvino,onnx,opencv"


def _contract(tmp: Path, contract: dict) -> Path:
    path = tmp / "contract.json"
    path.write_text(json.dumps(contract))
    return path


@pytest.fixture(scope="module")
def converted(tmp_path_factory, photos):
    tmp = tmp_path_factory.mktemp("tflite-src")
    src = tflite_models.tflite_sources() / "cnn.tflite"
    out = tmp / "out"
    rc = main(["convert", str(src), "--to", f"{TARGETS},tflite", "--preprocess",
               str(_contract(tmp, tflite_models.CONTRACT)), "-o", str(out), "--images", *map(str, photos),
               "--json"])
    return rc, out, json.loads((out / "ferry.json").read_text())


def test_tflite_source_converts_and_passes(converted):
    rc, out, data = converted
    assert rc == 0
    by = {t["format"]: t for t in data["targets"]}
    assert data["source"]["format"] == "tflite"
    assert by["openvino"]["route"].startswith("tflite -> openvino convert_model")
    assert by["onnx"]["route"].startswith("tflite -> tf2onnx")
    assert by["opencv"]["route"].startswith("tflite -> tf2onnx")
    for fmt in ("openvino", "onnx", "opencv", "tflite"):
        t = by[fmt]
        assert t["passed"], (fmt, t["reason"])
        assert [o["name"] for o in t["check"]["outputs"]] == ["output_0"]  # the source's signature name
        assert max(o["max_abs"] for o in t["check"]["outputs"]) < 1e-5, fmt
    assert "copied" in by["tflite"]["route"] and by["tflite"]["notes"]


def test_targets_take_the_signature_input_name_and_nhwc(converted):
    import onnx

    _, out, data = converted
    by = {t["format"]: t for t in data["targets"]}
    model = onnx.load(by["opencv"]["path"])
    (inp,) = [i for i in model.graph.input]
    assert inp.name == "image"
    assert [d.dim_value for d in inp.type.tensor_type.shape.dim][1:] == [32, 32, 3]  # NHWC kept, as the file


def test_a_perturbed_source_fails_every_target(converted, photos):
    """The check behind the pass is not vacuous: the same targets against a source with one weight moved by 0.5
    must fail (exit 1), while against the true source they pass (exit 0)."""
    _, out, data = converted
    contract = str(out / "ferry.json")
    paths = [t["path"] for t in data["targets"] if t["format"] in ("openvino", "onnx", "opencv")]
    pre = json.dumps(data["preprocess"])
    tmp = out.parent / "c.json"
    tmp.write_text(pre)
    good = tflite_models.tflite_sources() / "cnn.tflite"
    bad = tflite_models.tflite_sources() / "cnn_perturbed.tflite"
    assert contract
    assert main(["check", str(good), *paths, "--images", *map(str, photos), "--preprocess", str(tmp)]) == 0
    assert main(["check", str(bad), *paths, "--images", *map(str, photos), "--preprocess", str(tmp)]) == 1


def test_coreml_from_tflite_is_refused_in_one_line(tmp_path, photos):
    src = tflite_models.tflite_sources() / "cnn.tflite"
    rc = main(["convert", str(src), "--to", "coreml", "--preprocess", str(_contract(tmp_path, tflite_models.CONTRACT)),
               "-o", str(tmp_path / "out"), "--images", *map(str, photos)])
    entry = json.loads((tmp_path / "out" / "ferry.json").read_text())["targets"][0]
    assert rc == 1 and not entry["reachable"] and "no TFLite frontend" in entry["reason"]


def test_custom_op_is_unreachable_naming_the_op(tmp_path, photos):
    src = tflite_models.tflite_sources() / "custom_op.tflite"
    out = tmp_path / "out"
    rc = main(["convert", str(src), "--to", TARGETS, "--preprocess",
               str(_contract(tmp_path, tflite_models.CUSTOM_CONTRACT)), "-o", str(out), "--images",
               *map(str, photos)])
    data = json.loads((out / "ferry.json").read_text())
    assert rc == 1
    for t in data["targets"]:
        assert not t["reachable"] and t["path"] is None
        assert t["op"] == "MaxPoolWithArgmax" and "MaxPoolWithArgmax" in t["reason"], t
    assert sorted(p.name for p in out.iterdir()) == ["ferry.json"]  # nothing unchecked written


def test_nothing_made_is_no_pass_without_to_either(tmp_path, photos, capsys):
    """With the default targets an unreachable one is allowed (Core ML off a Mac), but none reached at all is a
    failure: before, `PASSED: 0 target(s) give the source's outputs` and exit 0 (MediaPipe's
    face_landmark_with_attention, whose custom op every route lacks)."""
    src = tflite_models.tflite_sources() / "custom_op.tflite"
    out = tmp_path / "out"
    rc = main(["convert", str(src), "--preprocess", str(_contract(tmp_path, tflite_models.CUSTOM_CONTRACT)),
               "-o", str(out), "--images", *map(str, photos)])
    printed = capsys.readouterr().out
    assert rc == 1 and "no target could be made" in printed and "PASSED" not in printed
    assert json.loads((out / "ferry.json").read_text())["passed"] is False


def test_a_custom_op_file_is_refused_in_one_line_naming_the_op(capsys):
    """`ferry inspect` of a file with a custom op LiteRT lacks (MediaPipe's face_landmark_with_attention needs its
    Landmarks2TransformMatrix): one line, exit 2, the op named and no advice to re-convert a file the user did not
    make as the only way out."""
    src = tflite_models.tflite_sources() / "custom_op.tflite"
    rc = main(["inspect", str(src)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert "MaxPoolWithArgmax" in err and "ferry cannot run it" in err and "where the op is registered" in err
