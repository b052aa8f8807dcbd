"""Tasks picked from the shapes people export (issue 15 item 7), end to end: real Keras models, the real
TFLiteConverter, `ferry check` in LiteRT. An NHWC one-channel mask is a segmentation (it was "no task"); a raw SSD
head (box encodings beside per-anchor class scores) is tensors plus per-anchor classifications (the encodings were
"a one-channel binary mask"). Each passes its own TFLite file and fails a file made from other weights."""

from __future__ import annotations

import pytest
import tf_models

from ferry.check import check
from ferry.convert.exporters import quiet

H, W = 32, 40
CONTRACT = {"preset": "unit", "size": [H, W], "layout": "NHWC"}


def _mask_model(keras, seed: int):
    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape=(H, W, 3), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    return keras.Model(inp, keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid", name="mask")(x))


def _ssd_model(keras, seed: int, classes: int = 6):
    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape=(H, W, 3), name="image")
    f = keras.layers.Conv2D(8, 3, strides=4, padding="same", activation="relu")(inp)  # 8 x 10 cells
    anchors = 8 * 10 * 3
    boxes = keras.layers.Reshape((anchors, 4), name="box_encodings")(keras.layers.Conv2D(12, 1)(f))
    scores = keras.layers.Reshape((anchors, classes), name="class_predictions")(
        keras.layers.Conv2D(3 * classes, 1)(f))
    return keras.Model(inp, [boxes, scores])


def _files(tmp_path, build):
    """The model (.keras), its TFLite file, and a TFLite file of the same architecture with other weights."""
    tf, keras = tf_models._tf()
    model, other = build(keras, 3), build(keras, 4)
    src = tmp_path / "model.keras"
    model.save(src)
    paths = []
    for name, m in (("same.tflite", model), ("other.tflite", other)):
        with quiet():
            data = tf.lite.TFLiteConverter.from_keras_model(m).convert()
        (tmp_path / name).write_bytes(data)
        paths.append(tmp_path / name)
    return src, *paths


@pytest.mark.parametrize("kind", ["nhwc-mask", "ssd-raw"])
def test_exported_shapes_get_their_task(kind, tmp_path, photos):
    src, same, other = _files(tmp_path, _mask_model if kind == "nhwc-mask" else _ssd_model)
    good = check(src, [(same, "tflite")], photos[:4], preprocess=CONTRACT)
    plan = good.plan
    if kind == "nhwc-mask":
        assert plan.task == "segment" and "rule map-nhwc" in plan.why and "binary mask" in plan.why
    else:
        assert plan.task == "classify" and plan.per_anchor and "rule ssd-raw" in plan.why, plan.why
        assert plan.outputs == ["class_predictions"]  # the encodings are left to the tensor check
    target = good.targets[0]
    assert good.passed and target.task is not None and target.task.passed, target.task
    if kind == "ssd-raw":
        assert target.task.metrics["anchors"] == 4 * 240
        assert {o.reference_name or o.name for o in target.outputs} == {"box_encodings", "class_predictions"}
    bad = check(src, [(other, "tflite")], photos[:4], preprocess=CONTRACT)
    assert not bad.passed and not bad.targets[0].task.passed, bad.targets[0].task
