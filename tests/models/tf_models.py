"""Seeded small TensorFlow models for the tests, built once and cached on disk.

`tf_cnn()` returns the directory that holds one small Keras CNN classifier (NHWC 32x32x3 -> conv, batch
norm with randomised moving statistics, relu, max pool, conv, max pool, dense 10 logits) in every
TensorFlow format:

    cnn.keras             Keras v3 zip
    cnn.h5                legacy Keras HDF5
    cnn_savedmodel/       model.export(): a SavedModel with a serving_default signature
    cnn.tflite            TFLiteConverter.from_keras_model, float32
    cnn_b1.tflite         the same with the batch fixed at 1 in the file
    cnn_uint8.tflite      full-integer quantised, uint8 input and output
    cnn_meta.tflite       cnn.tflite with a "ferry_preprocess" metadata entry holding META_CONTRACT
    lambda.keras, lambda.h5   a model with a Python Lambda layer (safe_mode must refuse it)
    reference.npz         x (3x32x32x3, seeded), y = the in-memory Keras model's own predict(x)

The cache lives in $FERRY_TEST_CACHE (else ~/.cache/ferry-tests), in a folder named by a hash of this
file and the TensorFlow/Keras versions, so editing a builder rebuilds. It is written atomically (built in
a temporary folder, then os.replace), so two pytest-xdist workers building at once both end up with one
complete folder.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

SEED = 1234
META_CONTRACT = {
    "color": "BGR",
    "size": [32, 32],
    "scale": 1 / 255,
    "mean": [0.5, 0.5, 0.5],
    "std": [0.25, 0.25, 0.25],
    "layout": "NHWC",
    "dtype": "float32",
}


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def cache_root() -> Path:
    env = os.environ.get("FERRY_TEST_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "ferry-tests"


def _key() -> str:
    h = hashlib.sha256(Path(__file__).read_bytes())
    for dist in ("tensorflow-cpu", "tensorflow", "keras", "ai-edge-litert"):
        h.update(f"{dist}={_version(dist)};".encode())
    return h.hexdigest()[:16]


def _cached(name: str, build) -> Path:
    """`build(tmpdir)` once per key; concurrent builders race harmlessly, the first complete folder wins."""
    final = cache_root() / f"{name}-{_key()}"
    if (final / "DONE").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=final.parent))
    try:
        tmp.chmod(0o755)
        build(tmp)
        (tmp / "DONE").write_text("ok\n")
        try:
            os.replace(tmp, final)
        except OSError:  # another worker got there first (a non-empty folder is not replaced)
            if not (final / "DONE").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import tensorflow as tf

    return tf, keras


def build_cnn(keras, batch_size: int | None = None):
    keras.utils.set_random_seed(SEED)
    inp = keras.Input(shape=(32, 32, 3), batch_size=batch_size, name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv")(inp)
    bn = keras.layers.BatchNormalization(name="bn")
    x = bn(x)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.MaxPooling2D(name="pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    out = keras.layers.Dense(10, name="logits")(x)
    model = keras.Model(inp, out, name="tiny_cnn")
    rng = np.random.default_rng(SEED)
    bn.set_weights([
        rng.uniform(0.5, 1.5, 8).astype(np.float32),   # gamma
        rng.normal(0.0, 0.2, 8).astype(np.float32),    # beta
        rng.normal(0.0, 0.5, 8).astype(np.float32),    # moving mean
        rng.uniform(0.5, 2.0, 8).astype(np.float32),   # moving variance
    ])
    return model


def images(seed: int, n: int = 3) -> np.ndarray:
    """Seeded inputs in the model's range (what a unit-scaled image looks like, plus some spread)."""
    return np.random.default_rng(seed).uniform(-1.0, 1.0, (n, 32, 32, 3)).astype(np.float32)


def _add_tflite_metadata(src: Path, dest: Path, name: str, data: bytes) -> None:
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(src))
    buf = schema.BufferT()
    buf.data = np.frombuffer(data, dtype=np.uint8)
    model.buffers.append(buf)
    meta = schema.MetadataT()
    meta.name = name
    meta.buffer = len(model.buffers) - 1
    model.metadata = [*(model.metadata or []), meta]
    flatbuffer_utils.write_model(model, str(dest))


def _build_cnn_dir(d: Path) -> None:
    tf, keras = _tf()
    model = build_cnn(keras)
    x = images(SEED)
    y = model.predict(x, verbose=0)
    np.savez(d / "reference.npz", x=x, y=y)
    model.save(d / "cnn.keras")
    model.save(d / "cnn.h5")
    model.export(str(d / "cnn_savedmodel"), verbose=False)

    (d / "cnn.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())

    # The same weights with the batch fixed at 1 in the file (shape_signature [1, 32, 32, 3]).
    fixed = build_cnn(keras, batch_size=1)
    fixed.set_weights(model.get_weights())
    (d / "cnn_b1.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(fixed).convert())

    def representative():
        for i in range(16):
            yield [images(SEED + 100 + i, 1)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.uint8
    conv.inference_output_type = tf.uint8
    (d / "cnn_uint8.tflite").write_bytes(conv.convert())

    _add_tflite_metadata(d / "cnn.tflite", d / "cnn_meta.tflite", "ferry_preprocess",
                         json.dumps(META_CONTRACT).encode())

    inp = keras.Input(shape=(4,), name="v")
    lam = keras.Model(inp, keras.layers.Lambda(lambda t: t * 2.0, name="double")(inp))
    lam.save(d / "lambda.keras")
    lam.save(d / "lambda.h5")


def tf_cnn() -> Path:
    """The folder with the CNN in every format (see the module docstring)."""

    def build(d: Path) -> None:
        with warnings.catch_warnings():  # legacy-HDF5 and converter chatter, once per build
            warnings.simplefilter("ignore")
            _build_cnn_dir(d)

    return _cached("tf-cnn", build)
