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
    from ferry.runtimes.tflite import write_metadata

    shutil.copyfile(src, dest)
    write_metadata(dest, name, data)


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


# -- the seed-000 detector ------------------------------------------------------------------------------------
DETECTOR_CLASSES = 4
DETECTOR_MAX = 10
DETECTOR_MASK = 14
# What the TF Object Detection API's exported models take: RGB uint8 pixels, normalised inside the graph.
DETECTOR_CONTRACT = {"color": "RGB", "size": [96, 128], "scale": 1.0, "layout": "NHWC", "dtype": "uint8"}


def build_detector(tf):
    """A seeded detector with the TF Object Detection API Mask R-CNN signature and the ops that make the real one
    hard to convert: dynamic height and width, NonMaxSuppressionV4, CropAndResize on the feature map, outputs
    padded to a fixed count with num_detections saying how many are real.

        image_tensor uint8 [1, H, W, 3]  ->  detection_boxes [1, 10, 4] (ymin, xmin, ymax, xmax in 0..1),
        detection_scores [1, 10], detection_classes [1, 10] (float, 1-based), detection_masks [1, 10, 14, 14],
        num_detections [1]
    """
    rng = np.random.default_rng(SEED)
    anchors = 3

    def var(*shape, std=0.3):
        return tf.Variable(rng.normal(0.0, std, shape).astype(np.float32))

    class Detector(tf.Module):
        def __init__(self):
            super().__init__(name="mask_rcnn_like")
            self.w1, self.w2, self.w3 = var(3, 3, 3, 16), var(3, 3, 16, 32, std=0.15), var(3, 3, 32, 32, std=0.12)
            self.w_cls = var(1, 1, 32, anchors * DETECTOR_CLASSES, std=0.3)
            self.b_cls = tf.Variable(np.full(anchors * DETECTOR_CLASSES, -0.3, np.float32))
            self.w_box = var(1, 1, 32, anchors * 4, std=0.05)
            self.w_m1, self.w_m2 = var(3, 3, 32, 16, std=0.15), var(1, 1, 16, 1, std=0.4)
            self.sizes = tf.constant([[0.25, 0.25], [0.4, 0.2], [0.2, 0.4]], tf.float32)

        @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.uint8, name="image_tensor")])
        def __call__(self, image_tensor):
            x = tf.cast(image_tensor, tf.float32) * (2.0 / 255.0) - 1.0  # the model's own normalisation
            f = tf.nn.relu(tf.nn.conv2d(x, self.w1, 2, "SAME"))
            f = tf.nn.relu(tf.nn.conv2d(f, self.w2, 2, "SAME"))
            f = tf.nn.relu(tf.nn.conv2d(f, self.w3, 2, "SAME"))
            fh, fw = tf.shape(f)[1], tf.shape(f)[2]
            centred = f - tf.reduce_mean(f, -1, keepdims=True)  # so no class wins everywhere by construction
            logits = tf.reshape(tf.nn.conv2d(centred, self.w_cls, 1, "SAME") + self.b_cls, [-1, DETECTOR_CLASSES])
            deltas = tf.reshape(tf.nn.conv2d(f, self.w_box, 1, "SAME"), [-1, anchors, 4])
            cy = (tf.cast(tf.range(fh), tf.float32) + 0.5) / tf.cast(fh, tf.float32)
            cx = (tf.cast(tf.range(fw), tf.float32) + 0.5) / tf.cast(fw, tf.float32)
            gy, gx = tf.meshgrid(cy, cx, indexing="ij")
            centres = tf.reshape(tf.stack([gy, gx], -1), [-1, 1, 2])
            ctr = centres + deltas[..., :2] * self.sizes
            size = self.sizes * tf.exp(tf.clip_by_value(deltas[..., 2:], -2.0, 2.0))
            boxes = tf.clip_by_value(tf.reshape(tf.concat([ctr - size / 2, ctr + size / 2], -1), [-1, 4]), 0.0, 1.0)
            probs = tf.sigmoid(logits)
            best = tf.reduce_max(probs, -1)
            classes = tf.cast(tf.argmax(probs, -1), tf.float32) + 1.0
            # NonMaxSuppressionV4 padded to a fixed count with the number of valid boxes, as the TF Object
            # Detection API's post-processing does. (Counting with tf.shape(nms_output)[0] cast to float instead
            # gives garbage in OpenVINO 2026.4's CPU plugin; README, Findings.)
            keep, valid = tf.raw_ops.NonMaxSuppressionV4(
                boxes=boxes, scores=best, max_output_size=DETECTOR_MAX, iou_threshold=0.5, score_threshold=0.5,
                pad_to_max_output_size=True)
            real = tf.cast(tf.range(DETECTOR_MAX) < valid, tf.float32)
            det_boxes = tf.gather(boxes, keep) * real[:, None]
            crops = tf.image.crop_and_resize(f, det_boxes, tf.zeros([DETECTOR_MAX], tf.int32),
                                             [DETECTOR_MASK, DETECTOR_MASK])
            m = tf.nn.relu(tf.nn.conv2d(crops, self.w_m1, 1, "SAME"))
            masks = tf.sigmoid(tf.nn.conv2d(m, self.w_m2, 1, "SAME"))[..., 0] * real[:, None, None]
            return {
                "detection_boxes": det_boxes[None],
                "detection_scores": (tf.gather(best, keep) * real)[None],
                "detection_classes": (tf.gather(classes, keep) * real)[None],
                "detection_masks": masks[None],
                "num_detections": tf.cast(valid, tf.float32)[None],
            }

    return Detector()


def detector_savedmodel() -> Path:
    """The seed-000 detector as a SavedModel directory (serving_default signature, see build_detector)."""

    def build(d: Path) -> None:
        tf, _ = _tf()
        module = build_detector(tf)
        tf.saved_model.save(module, str(d / "saved_model"), signatures={"serving_default": module.__call__})

    return _cached("tf-detector", build) / "saved_model"
