"""Conversion time per route: ferry convert (without its check, then with it) next to the bare converter calls.

    .venv/bin/python benchmarks/bench_convert.py

The bare column is what a user's own script does for the same file: the converter call and the save, nothing else.
ferry's overhead is the difference: loading the source to resolve the contract, embedding the contract, reading the
file back in its runtime, hashing the source, the manifest. The check column adds `ferry check` on 4 photos.
Medians of 3 runs, ferry and bare alternated.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "models"))

import tf_models  # noqa: E402
import torch_models  # noqa: E402

PHOTOS = sorted((ROOT / "examples" / "images").glob("*.jpg"))[:4]
SEG = {"preset": "imagenet", "size": [torch_models.HEIGHT, torch_models.WIDTH]}


def bare_torch_onnx(d: Path) -> None:
    import torch

    m = torch_models.segmenter()
    torch.onnx.export(m, (torch.zeros(1, 3, 48, 64),), str(d / "b.onnx"), dynamo=False, opset_version=17)


def bare_torch_openvino(d: Path) -> None:
    import openvino as ov

    bare_torch_onnx(d)
    ov.save_model(ov.convert_model(str(d / "b.onnx")), str(d / "b.xml"), compress_to_fp16=False)


def bare_savedmodel_openvino(d: Path) -> None:
    import openvino as ov

    ov.save_model(ov.convert_model(str(tf_models.detector_savedmodel())), str(d / "b.xml"), compress_to_fp16=False)


def bare_savedmodel_onnx(d: Path) -> None:
    import tf2onnx
    from tf2onnx import tf_loader

    g, i, o, r = tf_loader.from_saved_model(str(tf_models.detector_savedmodel()), None, None, tag="serve",
                                             signatures=["serving_default"], return_tensors_to_rename=True)
    tf2onnx.convert.from_graph_def(g, input_names=i, output_names=o, opset=17, output_path=str(d / "b.onnx"),
                                   tensors_to_rename=r)


def bare_keras_tflite(d: Path) -> None:
    import keras
    import tensorflow as tf

    model = keras.models.load_model(tf_models.tf_cnn() / "cnn.keras", compile=False)
    (d / "b.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())


CASES = [
    ("torch segmenter -> onnx", f"{ROOT}/tests/models/torch_models.py:segmenter", SEG, "onnx", bare_torch_onnx),
    ("torch segmenter -> openvino", f"{ROOT}/tests/models/torch_models.py:segmenter", SEG, "openvino",
     bare_torch_openvino),
    ("SavedModel detector -> openvino", None, tf_models.DETECTOR_CONTRACT, "openvino", bare_savedmodel_openvino),
    ("SavedModel detector -> onnx", None, tf_models.DETECTOR_CONTRACT, "onnx", bare_savedmodel_onnx),
    ("Keras cnn -> tflite", None, {"preset": "unit"}, "tflite", bare_keras_tflite),
]


def timed(fn, *args, **kwargs) -> float:
    t = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - t


def main() -> None:
    from ferry.convert import convert

    sources = {"SavedModel detector -> openvino": tf_models.detector_savedmodel(),
               "SavedModel detector -> onnx": tf_models.detector_savedmodel(),
               "Keras cnn -> tflite": tf_models.tf_cnn() / "cnn.keras"}
    print("| route | bare converter | ferry convert --no-check | overhead | ferry convert (check on 4 photos) |")
    print("|---|---|---|---|---|")
    for label, src, contract, target, bare in CASES:
        src = src or sources[label]
        b, f, c = [], [], []
        for _ in range(3):
            with tempfile.TemporaryDirectory() as d:
                b.append(timed(bare, Path(d)))
            with tempfile.TemporaryDirectory() as d:
                f.append(timed(convert, src, to=target, preprocess=contract, outdir=d, check=False))
            with tempfile.TemporaryDirectory() as d:
                c.append(timed(convert, src, to=target, preprocess=contract, outdir=d, images=PHOTOS))
        mb, mf, mc = statistics.median(b), statistics.median(f), statistics.median(c)
        print(f"| {label} | {mb:.2f} s | {mf:.2f} s | {mf / mb:.2f}x | {mc:.2f} s |", flush=True)


if __name__ == "__main__":
    main()
