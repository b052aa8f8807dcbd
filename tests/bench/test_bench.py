"""`ferry bench`: real runtimes, real paths, tiny iteration counts (the numbers themselves are for benchmarks/)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from ferry.bench import PathSpec, bench, recommend
from ferry.bench.core import synthetic_frame
from ferry.bench.timing import time_calls
from ferry.cli import main
from ferry.preprocess.contract import Resize, load_contract

ONNX_PATHS = {"onnxruntime/host", "onnxruntime/in-graph", "openvino/host", "openvino/in-graph",
              "openvino/in-graph+resize", "opencv/host", "opencv/native"}


def test_time_calls_measures_what_the_call_takes() -> None:
    stats = time_calls(lambda i: time.sleep(0.004), images_per_call=2, warmup=1, iterations=15)
    assert 4.0 <= stats.p50_ms < 12.0  # sleep never returns early; 8 ms of slack for a busy machine
    assert stats.min_ms <= stats.p50_ms <= stats.p90_ms <= stats.p99_ms
    assert stats.throughput_ips == pytest.approx(2 * 1000 / stats.mean_ms)
    assert stats.per_image_ms == pytest.approx(stats.p50_ms / 2)


@pytest.fixture(scope="module")
def classifier_run(classifier_onnx, photos):
    return bench([classifier_onnx], photos[:4], preprocess="imagenet", batch=2, warmup=1, iterations=3,
                 isolate=False)


def test_every_onnx_path_is_measured_with_parity(classifier_run) -> None:
    mb = classifier_run.models[0]
    assert {p.id for p in mb.paths} == ONNX_PATHS
    assert mb.reference == "onnxruntime/host"
    for p in mb.paths:
        assert p.error is None, (p.id, p.error)
        s = p.stats
        assert s.calls == 3 and s.images_per_call == 2
        assert 0 < s.min_ms <= s.p50_ms <= s.p90_ms <= s.p99_ms
        assert p.load_ms > 0 and p.first_ms > 0
        assert p.parity and all(o["max_abs"] is not None for o in p.parity)
    by_id = {p.id: p for p in mb.paths}
    assert by_id["onnxruntime/host"].parity[0]["max_abs"] == 0.0  # the reference path itself
    for pid in ONNX_PATHS - {"openvino/in-graph+resize"}:  # same file, same tensor: float32 drift only
        assert by_id[pid].parity_passed, (pid, by_id[pid].parity)
        assert by_id[pid].parity[0]["max_abs"] < 1e-5
    # OpenVINO's in-graph RESIZE_LINEAR samples differently from cv2.resize: measured, not assumed equal
    assert by_id["openvino/in-graph+resize"].parity[0]["max_abs"] > 1e-6
    rec = mb.recommendation
    passing = [p for p in mb.paths if p.parity_passed]
    assert rec.path == min(passing, key=lambda p: p.stats.per_image_ms).id


def test_json_shape(classifier_run) -> None:
    d = json.loads(json.dumps(classifier_run.to_dict()))
    assert {"warmup", "iterations", "batch", "threads", "timed", "load", "parity", "memory", "atol",
            "rtol"} <= set(d["method"])
    model = d["models"][0]
    assert {"model", "format", "preprocess", "reference", "images", "paths", "memory", "recommended"} <= set(model)
    path = model["paths"][0]
    assert {"id", "runtime", "preprocess", "resize", "load_ms", "first_ms", "p50_ms", "p90_ms", "p99_ms",
            "throughput_ips", "parity", "error"} <= set(path)
    assert model["recommended"]["path"] in {p["id"] for p in model["paths"]}


def test_recommendation_never_picks_a_fast_path_that_fails_parity(classifier_onnx) -> None:
    """The true contract resizes like PIL (antialiased: slow on a 1080p frame); the injected path resizes with
    OpenCV and leaves std out: far faster, and wrong. It must fail parity and not be recommended."""
    right = load_contract("imagenet").replace(resize=Resize(semantics="pil"))
    wrong = right.replace(resize=Resize(semantics="opencv"), std=(1.0, 1.0, 1.0))
    injected = PathSpec("onnxruntime/host+wrong", "onnxruntime", "host", "host", contract=wrong)
    result = bench([classifier_onnx], None, runtimes=["onnxruntime"], preprocess=right, warmup=1, iterations=5,
                   isolate=False, extra_paths=[injected])
    mb = result.models[0]
    by_id = {p.id: p for p in mb.paths}
    bad = by_id["onnxruntime/host+wrong"]
    assert not bad.parity_passed and bad.parity[0]["cosine"] < 0.999
    passing = [p for p in mb.paths if p.parity_passed]
    assert passing
    # the setup really makes the wrong path the fastest (measured, so the next assertion means something)
    assert bad.stats.per_image_ms < min(p.stats.per_image_ms for p in passing)
    assert mb.recommendation.path in {p.id for p in passing}
    assert mb.recommendation.path != bad.id
    assert bad.id in mb.recommendation.why  # named as faster but failing
    # with only failing paths there is no recommendation at all
    none = recommend([bad])
    assert none.path is None and "no path passes parity" in none.why


def test_isolated_children_report_their_own_memory(classifier_onnx, photos) -> None:
    big = np.zeros((4096, 4096, 16), dtype=np.uint8) + 1  # 256 MiB in this process: no child may count it
    result = bench([classifier_onnx], photos[:2], runtimes=["onnxruntime", "opencv"], preprocess="imagenet",
                   warmup=0, iterations=2, isolate=True)
    mb = result.models[0]
    assert {m.runtime for m in mb.memory} == {"onnxruntime", "opencv"}
    for m in mb.memory:
        assert m.isolated and 0 < m.base_rss_mb < m.peak_rss_mb < 256, m
    assert all(p.error is None and p.parity_passed for p in mb.paths)
    assert big.sum() > 0


def test_embedded_model_runs_its_own_graph(classifier_onnx, photos, tmp_path) -> None:
    from ferry.runtimes.openvino import embed

    ir = embed(classifier_onnx, load_contract("imagenet"), tmp_path / "cls.xml")
    result = bench([ir], photos[:2], warmup=0, iterations=2, isolate=False)
    mb = result.models[0]
    assert [p.id for p in mb.paths] == ["openvino/in-graph"] and mb.reference == "openvino/in-graph"
    assert mb.paths[0].parity_passed and mb.recommendation.path == "openvino/in-graph"


def test_cli_json_and_bad_input(classifier_onnx, photos, tmp_path, capsys) -> None:
    code = main(["bench", str(classifier_onnx), "--images", str(photos[0]), "--preprocess", "imagenet",
                 "--runtimes", "opencv", "--warmup", "0", "--iterations", "2", "--no-isolate", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {p["id"] for p in out["models"][0]["paths"]} == {"opencv/host", "opencv/native"}
    assert main(["bench", str(tmp_path / "missing.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.onnx" in err[0]
    assert main(["bench", str(classifier_onnx), "--preprocess", "imagenet", "--batch", "0"]) == 2


def test_cli_table_names_the_method_and_the_choice(classifier_onnx, capsys) -> None:
    code = main(["bench", str(classifier_onnx), "--preprocess", "imagenet", "--runtimes", "onnxruntime",
                 "--warmup", "1", "--iterations", "2", "--no-isolate"])
    out = capsys.readouterr().out
    assert code == 0
    assert "1 warm-up calls, then 2 timed calls" in out and "recommended: onnxruntime/" in out
    assert "synthetic 1920x1080" in out


def test_synthetic_frame_is_the_same_every_time() -> None:
    a, b = synthetic_frame(), synthetic_frame()
    assert a.shape == (1080, 1920, 3) and a.dtype == np.uint8 and np.array_equal(a, b) and a.std() > 20
