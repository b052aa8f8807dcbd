"""Seeded small models with five named outputs of Mask R-CNN's kinds, in every source format, cached on disk.

Why (issue 15): converters bind output names by position, by sorted key or by internal tensor name, and a
swapped binding gives a file whose `detection_scores` holds the boxes. These models make the swap visible: the
outputs are declared in a non-alphabetical order (boxes, classes, masks, scores, num_detections: `num_*` breaks
the order, and a Keras dict is flattened sorted), four of them have different shapes, and two (classes, scores)
have the same shape, so only their values tell them apart.

    OUTPUTS (name -> per-image shape)   detection_boxes [K, 4], detection_classes [K], detection_masks [K, M, M],
                                        detection_scores [K], num_detections []   (K = 4, M = 6)
    keras_dir()/multi.keras, multi.h5   a functional Keras model whose outputs are a dict in that order
    keras_dir()/multi_list.keras        the same layers with a list of outputs (named after their layers)
    keras_dir()/multi_savedmodel/       the same model, model.export() (the Keras 3 way)
    keras_dir()/pair_savedmodel/        the issue's two-output untrained detector, model.export()
    keras_dir()/multi_sm_sig/           the same weights, tf.saved_model.save of a tf.Module whose signature
                                        returns the dict in another order
    TORCH_DICT / TORCH_TUPLE            module:factory specs of a torch module returning a dict / a tuple
    torch_onnx()                        the tuple module exported with torch.onnx, outputs named OUTPUTS

The input is 32x40 RGB (NHWC for TF, NCHW for torch); every output depends on the image.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import tf_models
import torch_models

K, M = 4, 6
H, W = 32, 40
OUTPUTS = {"detection_boxes": (K, 4), "detection_classes": (K,), "detection_masks": (K, M, M),
           "detection_scores": (K,), "num_detections": ()}
TF_CONTRACT = {"preset": "unit", "size": [H, W], "layout": "NHWC"}
TORCH_CONTRACT = {"preset": "unit", "size": [H, W], "layout": "NCHW"}
HERE = Path(__file__).resolve().parent
TORCH_DICT = f"{HERE / 'multi_output.py'}:torch_dict"
TORCH_TUPLE = f"{HERE / 'multi_output.py'}:torch_tuple"


def _keras_model(keras):
    keras.utils.set_random_seed(7)
    inp = keras.Input(shape=(H, W, 3), name="image")
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv")(inp)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    boxes = keras.layers.Reshape((K, 4), name="detection_boxes")(keras.layers.Dense(K * 4, name="boxes")(x))
    classes = keras.layers.Dense(K, name="detection_classes")(x)
    masks = keras.layers.Reshape((K, M, M), name="detection_masks")(
        keras.layers.Dense(K * M * M, activation="sigmoid", name="masks")(x))
    scores = keras.layers.Dense(K, activation="sigmoid", name="detection_scores")(x)
    num = keras.layers.Reshape((), name="num_detections")(keras.layers.Dense(1, name="num")(x))
    heads = [boxes, classes, masks, scores, num]
    # the dict's keys are not its output layers' names (as in the issue's model): only the keys are the names
    as_dict = keras.Model(inp, {k: keras.layers.Identity(name=f"{k[:3]}_{i}")(h)
                                for i, (k, h) in enumerate(zip(OUTPUTS, heads, strict=True))}, name="multi")
    return as_dict, keras.Model(inp, heads, name="multi_list")  # the same layers, a list of outputs


def _issue_pair(keras):
    """The issue's model: dict outputs {'detection_boxes': [1, 4, 4], 'detection_scores': [1, 4]}, an untrained
    head, so its boxes are degenerate (zero area, y2 < y1, about half of them); its scores sit near
    sigmoid(1) = 0.73, above the 0.5 threshold, so every box is a detection."""
    keras.utils.set_random_seed(11)
    inp = keras.Input(shape=(H, W, 3), name="image")
    f = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inp))
    boxes = keras.layers.Reshape((K, 4))(keras.layers.Dense(K * 4)(f))
    scores = keras.layers.Dense(K, activation="sigmoid", bias_initializer=keras.initializers.Constant(1.0))(f)
    return keras.Model(inp, {"detection_boxes": boxes, "detection_scores": scores}, name="pair")


def _tf_module(tf, model):
    """The Keras model's weights in a plain tf.Module whose signature returns the dict in a third order.
    Plain tf.Variables and ops, not the Keras model inside: TFLiteConverter.from_saved_model on a
    tf.saved_model.save'd Keras 3 model gave NaN/1e28 garbage, different on every run (measured here, TF 2.21;
    ferry's check catches it), which is not what this model is for."""
    w = {layer.name: [tf.Variable(v) for v in layer.get_weights()] for layer in model.layers if layer.weights}

    class Serve(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = w

        @tf.function(input_signature=[tf.TensorSpec([None, H, W, 3], tf.float32, name="image")])
        def serve(self, image):
            k, b = self.w["conv"]  # the layers' names: see _keras_model
            f = tf.reduce_mean(tf.nn.relu(tf.nn.conv2d(image, k, 2, "SAME") + b), axis=[1, 2])

            def dense(name):
                return tf.matmul(f, self.w[name][0]) + self.w[name][1]

            n = tf.shape(image)[0]
            return {"num_detections": tf.reshape(dense("num"), [n]),
                    "detection_scores": tf.sigmoid(dense("detection_scores")),
                    "detection_masks": tf.reshape(tf.sigmoid(dense("masks")), [n, K, M, M]),
                    "detection_boxes": tf.reshape(dense("boxes"), [n, K, 4]),
                    "detection_classes": dense("detection_classes")}

    return Serve()


def keras_dir() -> Path:
    """The folder with the Keras model in every TF format (see the module docstring)."""

    def build(d: Path) -> None:
        tf, keras = tf_models._tf()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model, as_list = _keras_model(keras)
            as_list.save(d / "multi_list.keras")
            model.save(d / "multi.keras")
            model.save(d / "multi.h5")
            model.export(str(d / "multi_savedmodel"), verbose=False)

            _issue_pair(keras).export(str(d / "pair_savedmodel"), verbose=False)
            module = _tf_module(tf, model)
            tf.saved_model.save(module, str(d / "multi_sm_sig"), signatures={"serving_default": module.serve})

    tag = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:8]  # editing this file rebuilds
    return tf_models._cached(f"multi-output-{tag}", build)


def _torch_net():
    import torch
    from torch import nn

    torch.manual_seed(7)

    class Multi(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
            self.boxes = nn.Linear(8, K * 4)
            self.classes = nn.Linear(8, K)
            self.masks = nn.Linear(8, K * M * M)
            self.scores = nn.Linear(8, K)
            self.num = nn.Linear(8, 1)

        def heads(self, x):
            f = torch.relu(self.conv(x)).mean(dim=(2, 3))
            n = x.shape[0]
            return (self.boxes(f).reshape(n, K, 4), self.classes(f),
                    torch.sigmoid(self.masks(f)).reshape(n, K, M, M), torch.sigmoid(self.scores(f)),
                    self.num(f).reshape(n))

    return Multi()


def torch_dict():
    """A module whose forward returns a dict in OUTPUTS' order (not sorted)."""
    import torch

    net = _torch_net()

    class AsDict(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x):
            return dict(zip(OUTPUTS, self.net.heads(x), strict=True))

    return AsDict().eval()


def torch_tuple():
    """The same weights returning a tuple in OUTPUTS' order."""
    import torch

    net = _torch_net()

    class AsTuple(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net.heads(x)

    return AsTuple().eval()


def torch_onnx() -> Path:
    """torch_tuple exported to ONNX with OUTPUTS as the output names, cached."""
    dest = torch_models.keyed_cache_dir("multi", __file__) / "multi.onnx"
    if dest.is_file():
        return dest
    import torch

    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=dest.parent)
    os.close(fd)
    try:
        torch.onnx.export(torch_tuple(), torch.rand(1, 3, H, W), tmp, dynamo=False, opset_version=17,
                          input_names=["input"], output_names=list(OUTPUTS),
                          dynamic_axes={"input": {0: "N"}, **{o: {0: "N"} for o in OUTPUTS}})
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dest


def image(seed: int = 0, layout: str = "NHWC") -> np.ndarray:
    x = np.random.default_rng(seed).uniform(0, 1, (1, H, W, 3)).astype(np.float32)
    return x if layout == "NHWC" else np.ascontiguousarray(x.transpose(0, 3, 1, 2))

