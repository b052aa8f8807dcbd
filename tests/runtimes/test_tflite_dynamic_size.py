"""A TFLite file whose input size is open ([-1, -1, -1, 3]: a fully convolutional net, mtcnn's P-Net) stores a 1x1
placeholder shape; at that size XNNPACK cannot reshape a 3x3 convolution, and ferry refused the file at load ("LiteRT
cannot prepare the model"). It is allocated at the size it is fed."""

from __future__ import annotations

import numpy as np
import pytest

from ferry.runtimes import tflite


@pytest.fixture(scope="module")
def fully_convolutional(tmp_path_factory):
    import tensorflow as tf

    tf.keras.utils.set_random_seed(3)
    x = tf.keras.Input((None, None, 3))
    h = tf.keras.layers.Conv2D(8, 3, activation="relu")(x)
    h = tf.keras.layers.MaxPooling2D(2)(h)
    h = tf.keras.layers.Conv2D(4, 3)(h)
    model = tf.keras.Model(x, h)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    path = tmp_path_factory.mktemp("fcn") / "fcn.tflite"
    path.write_bytes(conv.convert())
    return path, model


def test_open_size_file_loads_and_runs_at_the_size_fed(fully_convolutional):
    path, model = fully_convolutional
    from ai_edge_litert.interpreter import Interpreter

    with pytest.raises(RuntimeError):  # the trap, measured: LiteRT itself cannot allocate at the placeholder 1x1
        Interpreter(model_path=str(path)).allocate_tensors()
    m = tflite.load(path)
    for shape in ((1, 30, 40, 3), (2, 24, 24, 3)):
        x = np.random.default_rng(0).random(shape, dtype=np.float32)
        (out,) = m.run({m.inputs[0].name: x}).values()
        want = model(x).numpy()
        assert out.shape == want.shape and np.abs(out - want).max() < 1e-4
