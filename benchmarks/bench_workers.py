"""`ferry check --workers N`: wall time by worker count, the one-machine scaling a larger plan rests on.

    .venv/bin/python benchmarks/bench_workers.py [PHOTOS]

EfficientNet-Lite0 (ONNX) in onnxruntime and OpenVINO against onnxruntime, on PHOTOS copies of the bundled photos
(default 120). Each runtime is told nothing about threads: both use every core by default, which is what a user
gets. Alternated runs, median of 3.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "models"))

import pretrained  # noqa: E402

from ferry.check import check  # noqa: E402


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 120
    model = pretrained.efficientnet_lite0_onnx()
    bundled = sorted((ROOT / "examples" / "images").glob("*.jpg"))
    with tempfile.TemporaryDirectory() as d:
        photos = []
        for i in range(n):
            dest = Path(d) / f"{i:05d}.jpg"
            shutil.copy(bundled[i % len(bundled)], dest)
            photos.append(dest)
        times: dict[int, list[float]] = {1: [], 2: [], 4: []}
        for _ in range(3):
            for w in times:
                t = time.perf_counter()
                r = check(model, [model], photos, preprocess=pretrained.EFFNET_CONTRACT,
                          runtimes=["onnxruntime", "openvino"], workers=w)
                times[w].append(time.perf_counter() - t)
                assert r.passed
        base = statistics.median(times[1])
        print(f"| workers | wall ({n} photos) | speed-up |\n|---|---|---|")
        for w, ts in times.items():
            m = statistics.median(ts)
            print(f"| {w} | {m:.1f} s | {base / m:.2f}x |")


if __name__ == "__main__":
    main()
