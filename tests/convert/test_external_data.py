"""An ONNX source whose weights live in a file beside it (external data, as torch.onnx's dynamo exporter writes and
every model over 2 GB must): each target is one self-contained file. Before, convert copied the .onnx alone and every
target failed as "truncated or not an ONNX model"."""

from __future__ import annotations

import shutil

import pytest

from ferry.convert import convert


@pytest.fixture(scope="module")
def external_onnx(classifier_onnx, tmp_path_factory):
    import onnx

    d = tmp_path_factory.mktemp("ext")
    onnx.save_model(onnx.load(str(classifier_onnx)), str(d / "cls.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="cls.onnx.data", size_threshold=0)
    assert (d / "cls.onnx").stat().st_size < 4096 < (d / "cls.onnx.data").stat().st_size
    return d / "cls.onnx"


def test_external_data_source_converts_to_self_contained_targets(external_onnx, photos, tmp_path):
    manifest = convert(external_onnx, to=["onnx", "opencv", "openvino"], preprocess="imagenet",
                       outdir=tmp_path / "out", images=photos[:4])
    for t in manifest.targets:
        assert t.passed, (t.format, t.reason)
        assert max(o["max_abs"] for o in t.check["outputs"]) < 1e-4
        assert "external data taken into the one file" in t.route
    moved = tmp_path / "elsewhere"  # the targets load without the source's data file beside them
    moved.mkdir()
    for name in ("cls.onnx", "cls.opencv.onnx"):
        shutil.copy(tmp_path / "out" / name, moved / name)
        import onnxruntime as ort

        sess = ort.InferenceSession(str(moved / name), providers=["CPUExecutionProvider"])
        assert sess.get_inputs()


def test_source_digest_covers_the_weights_beside_the_file(external_onnx, classifier_onnx, tmp_path):
    """A changed weight file changes the source's recorded sha256 (ferry.json), for ONNX external data and an IR's .bin;
    a single-file model keeps its plain sha256."""
    import hashlib

    import openvino as ov

    from ferry.convert.manifest import source_digest

    assert source_digest(classifier_onnx) == hashlib.sha256(classifier_onnx.read_bytes()).hexdigest()
    d = tmp_path / "copy"
    shutil.copytree(external_onnx.parent, d)
    before = source_digest(d / "cls.onnx")
    data = bytearray((d / "cls.onnx.data").read_bytes())
    data[100] ^= 0xFF
    (d / "cls.onnx.data").write_bytes(bytes(data))
    assert source_digest(d / "cls.onnx") != before
    xml = tmp_path / "m.xml"
    ov.save_model(ov.convert_model(str(classifier_onnx)), str(xml), compress_to_fp16=False)
    before = source_digest(xml)
    b = bytearray(xml.with_suffix(".bin").read_bytes())
    b[100] ^= 0xFF
    xml.with_suffix(".bin").write_bytes(bytes(b))
    assert source_digest(xml) != before


def test_over_one_file_limit_every_target_says_how_in_one_line(external_onnx, photos, tmp_path, monkeypatch):
    """A real 2 GB model is too big to build here: the limit is lowered below this model's size, the rest is real."""
    from ferry.runtimes import onnx_graph

    monkeypatch.setattr(onnx_graph, "ONE_FILE_LIMIT", 1000)
    manifest = convert(external_onnx, to=["onnx", "opencv", "openvino"], preprocess="imagenet",
                       outdir=tmp_path / "out", images=photos[:2])
    for t in manifest.targets:
        assert not t.reachable and "2 GB" in t.reason and "ovc cls.onnx" in t.reason, t.reason
        assert "\n" not in t.reason


def test_opencv_runs_an_external_data_file_from_memory(external_onnx, classifier_onnx):
    """OpenCV DNN 4.14 dies of SIGFPE (the whole process) on the path of such a file: ferry hands it the bytes."""
    import numpy as np

    from ferry.runtimes import load

    cv = load(external_onnx, "opencv")
    assert any("external data" in n for n in cv.notes)
    x = np.random.default_rng(1).normal(size=(1, 3, 48, 64)).astype(np.float32)
    name = cv.inputs[0].name
    (got,) = cv.run({name: x}).values()
    (want,) = load(classifier_onnx, "onnxruntime").run({name: x}).values()
    assert np.abs(got - want).max() < 1e-4


def test_bench_times_opencv_on_an_external_data_file(external_onnx, photos):
    from ferry.bench import bench

    result = bench([external_onnx], photos[:2], runtimes=["opencv"], preprocess="imagenet", warmup=1, iterations=2,
                   isolate=False)
    paths = result.models[0].paths
    assert paths and all(p.error is None and p.parity_passed for p in paths), [(p.id, p.error) for p in paths]


def test_missing_or_short_external_data_is_one_line_naming_the_file(external_onnx, tmp_path, capsys):
    """onnx 1.23 raises a ValidationError for a missing data file, which ferry read as "truncated or not an ONNX
    model"; a short data file raised a ValueError with a traceback."""
    from ferry.cli import main

    d = tmp_path / "moved"
    d.mkdir()
    shutil.copy(external_onnx, d / "cls.onnx")  # the .onnx alone
    assert main(["inspect", str(d / "cls.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert "cls.onnx.data beside it, which is missing" in err and "\n" not in err
    (d / "cls.onnx.data").write_bytes((external_onnx.parent / "cls.onnx.data").read_bytes()[:1000])
    assert main(["inspect", str(d / "cls.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot read its external data" in err and "Traceback" not in err and "\n" not in err
