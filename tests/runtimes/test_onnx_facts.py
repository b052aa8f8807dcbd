"""An ONNX file's facts (embedded contract, inputs, outputs) are parsed once per version of the file (issue 7)."""

from __future__ import annotations

import shutil

from ferry.check import check
from ferry.preprocess.contract import load_contract
from ferry.runtimes import load, onnx_graph


def test_one_parse_per_file_for_a_whole_check_and_a_new_parse_when_the_file_changes(
        monkeypatch, classifier_onnx, photos, tmp_path):
    plain = tmp_path / "model.onnx"
    shutil.copy(classifier_onnx, plain)
    parses = []
    real = onnx_graph.load_onnx
    monkeypatch.setattr(onnx_graph, "load_onnx", lambda p, *a, **k: parses.append(str(p)) or real(p, *a, **k))
    res = check(plain, [plain], photos[:2], preprocess="imagenet", runtimes=["onnxruntime", "openvino", "opencv"])
    assert res.passed and len(res.targets) == 3
    assert parses == [str(plain)]  # it was 4: the contract read and three loaders
    loaded = [load(plain, r) for r in ("onnxruntime", "openvino", "opencv")]
    assert parses == [str(plain)] and all(m.embedded is None for m in loaded)
    assert [i.name for i in loaded[2].inputs] == [i.name for i in loaded[0].inputs]  # OpenCV's from the facts
    # The same path, now with a contract embedded (a new file moved over it): read anew, the contract seen.
    embedded = tmp_path / "embedded.onnx"
    onnx_graph.embed_onnx(plain, load_contract("imagenet").replace(size=(48, 64), layout="NCHW"), embedded)
    embedded.replace(plain)
    again = load(plain, "opencv")
    assert parses[-1] == str(plain) and len(parses) >= 2
    assert again.embedded is not None and again.embedded.color == "RGB"
