"""A SavedModel written by tf.saved_model.save of a tf.Module holding a Keras 3 model (TensorFlow's guide writes one
so; mtcnn 1.0.0's ONet exported that way) comes out of TFLiteConverter with its weights as resource variables and no
initialiser: LiteRT ran it on uninitialised memory (NaN under XNNPACK) and int8 calibration failed on READ_VARIABLE.
ferry converts such a file again with its variables frozen."""

from __future__ import annotations

import numpy as np
import pytest

from ferry.convert import convert
from ferry.convert.exporters import FROZEN_NOTE, uninitialised_variables

CONTRACT = {"color": "RGB", "size": [12, 12], "scale": 1.0, "mean": [127.5] * 3, "std": [128.0] * 3,
            "layout": "NHWC"}


@pytest.fixture(scope="module")
def module_savedmodel(tmp_path_factory):
    import tensorflow as tf

    layers = tf.keras.layers

    class Net(tf.keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = layers.Conv2D(8, 3, name="conv")
            self.prelu = layers.PReLU(shared_axes=[1, 2])
            self.flat = layers.Flatten()
            self.boxes = layers.Dense(4, name="boxes")
            self.face = layers.Dense(2, activation="softmax", name="face")

        def call(self, x):
            h = self.flat(self.prelu(self.conv(x)))
            return self.boxes(h), self.face(h)

    tf.keras.utils.set_random_seed(7)
    net = Net()
    net(np.zeros((1, 12, 12, 3), "float32"))

    class Serving(tf.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        @tf.function(input_signature=[tf.TensorSpec([None, 12, 12, 3], tf.float32, name="input")])
        def serve(self, x):
            boxes, face = self.m(x)
            return {"boxes": boxes, "face": face}

    d = tmp_path_factory.mktemp("module_sm") / "sm"
    s = Serving(net)
    tf.saved_model.save(s, str(d), signatures={"serving_default": s.serve})
    return d


def test_plain_conversion_of_such_a_savedmodel_keeps_uninitialised_variables(module_savedmodel):
    """The trap is TFLiteConverter's, measured here so the test says when a TensorFlow release removes it."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_saved_model(str(module_savedmodel), signature_keys=["serving_default"])
    assert uninitialised_variables(conv.convert())


def test_tflite_target_is_frozen_and_passes_at_fp32_and_int8(module_savedmodel, photos, tmp_path):
    manifest = convert(module_savedmodel, to="tflite", preprocess=CONTRACT, outdir=tmp_path / "out", images=photos,
                       precision="fp32,int8")
    by = {t.precision: t for t in manifest.targets}
    assert by["fp32"].passed, by["fp32"].reason
    assert max(o["max_abs"] for o in by["fp32"].check["outputs"]) < 1e-4
    assert FROZEN_NOTE in by["fp32"].route and FROZEN_NOTE in by["int8"].route
    assert by["int8"].reachable and by["int8"].passed, by["int8"].reason
    assert not uninitialised_variables((tmp_path / "out" / "sm.tflite").read_bytes())
