"""Reference preprocessing against cv2.dnn.blobFromImage, side by side in one run (run by hand).

    .venv/bin/python benchmarks/bench_preprocess.py [--repeat 50]

A 1920x1080 frame (a bundled photo upscaled with cv2.INTER_CUBIC) is resized to 224x224 and 513x513 and
normalised with ImageNet mean/std (RGB, NCHW). blobFromImageWithParams does the same in one C++ call; ferry's
reference must compute the identical tensor (asserted) and is timed in the same loop order, interleaved.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from ferry.preprocess import preset
from ferry.preprocess.reference import preprocess_batch
from ferry.runtimes.opencv import blob_params, native

ROOT = Path(__file__).resolve().parent.parent


def frame() -> np.ndarray:
    img = cv2.imread(str(ROOT / "examples" / "images" / "coffee.jpg"))
    return cv2.resize(img, (1920, 1080), interpolation=cv2.INTER_CUBIC)


def timed(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=50)
    args = ap.parse_args()
    img = frame()
    print(f"{'size':>8} {'blobFromImageWithParams ms':>28} {'ferry reference ms':>20} {'ratio (ferry/cv2)':>18}")
    for side in (224, 513):
        contract = preset("imagenet").replace(size=(side, side), layout="NCHW")
        params = blob_params(native(contract).params)
        ref = preprocess_batch([img], contract)
        blob = cv2.dnn.blobFromImageWithParams(img, params)
        assert np.abs(ref - blob).max() < 1e-5
        cv_ms, ferry_ms = [], []
        for _ in range(3):  # interleave to share the machine's noise
            cv_ms.append(timed(lambda p=params: cv2.dnn.blobFromImageWithParams(img, p), args.repeat))
            ferry_ms.append(timed(lambda c=contract: preprocess_batch([img], c), args.repeat))
        c, f = min(cv_ms), min(ferry_ms)
        print(f"{side:>8} {c:>28.3f} {f:>20.3f} {f / c:>18.2f}")


if __name__ == "__main__":
    main()
