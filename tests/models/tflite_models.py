"""Seeded TFLite sources for `ferry convert model.tflite` (issue 15 item 5), built once and cached on disk.

    cnn.tflite          tf_models.build_cnn (NHWC 32x32x3 -> 10 logits, randomised BatchNorm) by TFLiteConverter
    cnn_perturbed.tflite  the same with one conv weight moved by 0.5: a source the converted targets must not match
    custom_op.tflite    conv -> tf.nn.max_pool_with_argmax, converted with allow_custom_ops: the op stays a TFLite
                        custom op (MaxPoolWithArgmax), as MediaPipe's files carry theirs; LiteRT cannot run it

Cached as tf_models does (its _cached, keyed here by this file and the TF versions).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import tf_models

CONTRACT = {"preset": "unit", "size": [32, 32], "layout": "NHWC"}
CUSTOM_CONTRACT = {"preset": "unit", "size": [16, 16], "layout": "NHWC"}


def _build(d: Path) -> None:
    tf, keras = tf_models._tf()
    model = tf_models.build_cnn(keras)
    (d / "cnn.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    weights = model.get_weights()
    weights[0] = weights[0].copy()
    weights[0][0, 0, 0, 0] += 0.5
    model.set_weights(weights)
    (d / "cnn_perturbed.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())

    class Custom(tf.Module):
        def __init__(self) -> None:
            self.w = tf.Variable(np.random.default_rng(tf_models.SEED).normal(0, 0.3, (3, 3, 3, 4)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([1, 16, 16, 3], tf.float32, name="image")])
        def __call__(self, x):
            pooled, idx = tf.nn.max_pool_with_argmax(tf.nn.conv2d(x, self.w, 1, "SAME"), 2, 2, "SAME")
            return {"pooled": pooled, "argmax": tf.cast(idx, tf.float32)}

    m = Custom()
    conv = tf.lite.TFLiteConverter.from_concrete_functions([m.__call__.get_concrete_function()], m)
    conv.allow_custom_ops = True
    (d / "custom_op.tflite").write_bytes(conv.convert())


def tflite_sources() -> Path:
    """The folder with the three files above."""
    key = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:8]
    return tf_models._cached(f"tflite-src-{key}", _build)
