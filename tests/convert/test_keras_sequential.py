"""A Keras Sequential model in a .h5 (every Keras 2 model was saved so: cifar-10-model 7.4.0's CNN) loads in Keras 3
without output names: tf2onnx's from_keras failed (KeyError: 'keras_tensor_230'), openvino.convert_model could not
trace it, and ferry named its output after a counter that changes each load. ferry rewraps it as a functional
model: the output is named after its layer and every target converts."""

from __future__ import annotations

import pytest

from ferry.convert import convert
from ferry.runtimes import load

CONTRACT = {"color": "RGB", "size": [16, 16], "scale": 1.0, "layout": "NHWC"}


@pytest.fixture(scope="module")
def sequential_h5(tmp_path_factory):
    import keras

    keras.utils.set_random_seed(5)
    model = keras.Sequential([
        keras.Input((16, 16, 3)),
        keras.layers.Conv2D(8, 3, activation="relu", name="conv"),
        keras.layers.BatchNormalization(name="bn"),
        keras.layers.Flatten(name="flat"),
        keras.layers.Dense(5, activation="softmax", name="scores"),
    ])
    path = tmp_path_factory.mktemp("seq") / "seq.h5"
    model.save(str(path))
    return path


def test_sequential_output_is_named_by_its_layer_on_every_load(sequential_h5):
    assert [o.name for o in load(sequential_h5).outputs] == ["scores"]
    assert [o.name for o in load(sequential_h5).outputs] == ["scores"]  # not a counter that moves between loads


def test_sequential_h5_converts_to_onnx_openvino_and_opencv(sequential_h5, photos, tmp_path):
    manifest = convert(sequential_h5, to=["onnx", "openvino", "opencv"], preprocess=CONTRACT,
                       outdir=tmp_path / "out", images=photos[:4])
    for t in manifest.targets:
        assert t.passed, (t.format, t.reason)
        assert [o["name"] for o in t.check["outputs"]] == ["scores"]
        assert max(o["max_abs"] for o in t.check["outputs"]) < 1e-4
