"""check on an Ultralytics-style export: the contract and the class names come from its metadata."""

from __future__ import annotations

import sys
from pathlib import Path

import onnx

sys.path.insert(0, str(Path(__file__).parent / "models"))

from ferry.check import check, stated_labels  # noqa: E402
from ferry.runtimes import load  # noqa: E402

PHOTOS = Path(__file__).resolve().parent.parent / "examples" / "images"


def test_ultralytics_metadata_gives_check_its_contract_and_labels(tmp_path):
    import torch
    import torch_models

    path = tmp_path / "yolo.onnx"
    torch.onnx.export(torch_models.classifier(), torch.randn(1, 3, 64, 64), path, dynamo=False, opset_version=17,
                      input_names=["images"], output_names=["output0"])
    proto = onnx.load(str(path))
    names = {i: f"class{i}" for i in range(10)}
    for k, v in {"author": "Ultralytics", "task": "classify", "imgsz": "[64, 64]", "names": str(names)}.items():
        proto.metadata_props.add(key=k, value=v)
    onnx.save(proto, str(path))
    src = load(path)
    assert stated_labels(src) == [f"class{i}" for i in range(10)]
    assert src.declared is not None and src.declared.resize.mode == "letterbox"
    result = check(path, [path], images=[PHOTOS / "chelsea.jpg", PHOTOS / "coffee.jpg"])  # no --preprocess needed
    assert result.passed
    assert result.preprocess.resize.pad_value == 114.0 and result.preprocess.size == (64, 64)
    assert result.labels == [f"class{i}" for i in range(10)]
    plain = tmp_path / "plain.onnx"
    torch.onnx.export(torch_models.classifier(), torch.randn(1, 3, 64, 64), plain, dynamo=False, opset_version=17)
    assert stated_labels(load(plain)) is None
