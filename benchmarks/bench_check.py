"""`ferry check` wall time against the bare load + inference of the same runtimes, in one run (by hand).

    .venv/bin/python benchmarks/bench_check.py [--images N]

Bare: a hand-written script that loads the ONNX file in onnxruntime, OpenVINO and OpenCV DNN, preprocesses
each photo once with numpy, and runs every runtime on it. ferry: `ferry.check.check` on the same file and
photos (the same work plus its own path per runtime, comparison and bookkeeping). Both in-process, after one
warm-up of each (imports and first-load costs are excluded from both), alternated 5 times; medians reported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "models"))


def bare(model: Path, photos: list[Path]) -> None:
    import cv2
    import numpy as np
    import onnxruntime as ort
    import openvino as ov

    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    compiled = ov.Core().compile_model(str(model), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    net = cv2.dnn.readNetFromONNX(str(model))
    mean = np.float32([0.485, 0.456, 0.406]) * 255
    std = np.float32([0.229, 0.224, 0.225]) * 255
    for p in photos:
        img = cv2.imread(str(p))
        x = cv2.resize(img, (64, 48))[:, :, ::-1].astype(np.float32)
        x = ((x - mean) / std).transpose(2, 0, 1)[None].copy()
        sess.run(None, {"input": x})
        compiled(x)
        net.setInput(x)
        net.forward()


def with_ferry(model: Path, photos: list[Path]) -> None:
    from ferry.check import check

    assert check(model, [model], photos, preprocess="imagenet").passed


def main() -> None:
    import torch_models

    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=10)
    args = ap.parse_args()
    photos = sorted((ROOT / "examples" / "images").glob("*.jpg"))
    photos = (photos * (args.images // len(photos) + 1))[: args.images]
    model = torch_models.onnx_path("classifier")
    bare(model, photos[:1])
    with_ferry(model, photos[:1])
    b, f = [], []
    for _ in range(5):
        t0 = time.perf_counter()
        bare(model, photos)
        b.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with_ferry(model, photos)
        f.append(time.perf_counter() - t0)
    mb, mf = statistics.median(b), statistics.median(f)
    print(f"images={len(photos)} bare={mb * 1e3:.1f} ms ferry check={mf * 1e3:.1f} ms ratio={mf / mb:.2f}")


if __name__ == "__main__":
    main()
