"""Keras applications' `preprocess_input` modes (keras/src/applications/imagenet_utils.py)."""

from __future__ import annotations

import re
from typing import Any

from ferry.preprocess.importers._common import Imported, _build, _fail, _short
from ferry.preprocess.presets import CAFFE_MEAN_BGR, IMAGENET_MEAN, IMAGENET_STD

# ---- Keras -------------------------------------------------------------------------------------------------
_KERAS_MODES = ("caffe", "tf", "torch")
# keras/src/applications/*.py: which imagenet_utils.preprocess_input mode each application's own calls.
_KERAS_EXACT = {
    "resnet": "caffe",
    "resnet50": "caffe",
    "resnet101": "caffe",
    "resnet152": "caffe",
    "vgg16": "caffe",
    "vgg19": "caffe",
    "resnetv2": "tf",
    "resnet50v2": "tf",
    "resnet101v2": "tf",
    "resnet152v2": "tf",
    "mobilenet": "tf",
    "mobilenetv2": "tf",
    "inceptionv3": "tf",
    "inceptionresnetv2": "tf",
    "xception": "tf",
    "nasnet": "tf",
    "nasnetlarge": "tf",
    "nasnetmobile": "tf",
}
_KERAS_PREFIX = {"densenet": "torch"}
# Applications whose model starts with its own Rescaling/Normalization: preprocess_input returns x unchanged.
_KERAS_RAW_PREFIX = ("efficientnet", "convnext", "regnet", "mobilenetv3", "resnetrs")


_MODEL_NAME_SUFFIX = re.compile(r"^(mobilenet(?:v2)?)_\d+\.\d+_\d+$")  # keras names MobileNet(V2) by alpha, rows


def application_of(model_name: str) -> str | None:
    """The Keras application a built model's `name` is (keras/src/applications/*.py name their models:
    "resnet50", "vgg16", "mobilenetv2_1.00_224", "inception_v3", "densenet121", "efficientnetb0"...), or None."""
    name = model_name.strip().lower()
    m = _MODEL_NAME_SUFFIX.match(name)
    if m:
        name = m.group(1)
    key = re.sub(r"[^a-z0-9]", "", name)
    if key in _KERAS_EXACT or any(key.startswith(p) and key[len(p):].isdigit() for p in _KERAS_PREFIX):
        return name
    if key.startswith(_KERAS_RAW_PREFIX) and re.fullmatch(r"[a-z0-9]+", key):
        return name
    return None


def from_keras(mode_or_app: Any) -> Imported:
    """A Keras `preprocess_input` mode ("caffe", "tf", "torch") or an application name.

    Semantics read in keras-team/keras keras/src/applications/imagenet_utils.py `_preprocess_numpy_input`:
    caffe = RGB->BGR then subtract [103.939, 116.779, 123.68], no scaling; tf = x / 127.5 - 1; torch =
    x / 255 then ImageNet mean/std. The per-application mode is each module's `preprocess_input`
    (resnet, vgg16/19: caffe; resnet_v2, mobilenet, mobilenet_v2, inception_v3, inception_resnet_v2, xception,
    nasnet: tf; densenet: torch). efficientnet, efficientnet_v2, convnext, mobilenet_v3 (and keras 2's regnet,
    resnet_rs) build Rescaling/Normalization layers into the model, and their preprocess_input returns x: the
    model takes raw 0..255. Layout NHWC, Keras' default image_data_format.
    """
    source = "keras preprocess_input"
    if not isinstance(mode_or_app, str) or not mode_or_app.strip():
        raise _fail(
            source, f"give a mode (caffe, tf, torch) or an application name, got {_short(mode_or_app)}"
        )
    name = mode_or_app.strip().lower()
    for prefix in ("tf.keras.applications.", "keras.applications."):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    name = name.removesuffix(".preprocess_input")
    key = re.sub(r"[^a-z0-9]", "", name)
    notes: list[str] = []
    mode: str | None = None
    if name in _KERAS_MODES:
        mode = name
    elif key in _KERAS_EXACT:
        mode = _KERAS_EXACT[key]
    elif any(key.startswith(p) for p in _KERAS_PREFIX):
        mode = next(v for p, v in _KERAS_PREFIX.items() if key.startswith(p))
    elif key.startswith(_KERAS_RAW_PREFIX):
        mode = "raw"
        notes.append(
            f"{mode_or_app.strip()} rescales inside the model (its preprocess_input returns x): the "
            "model takes raw 0..255 RGB"
        )
    if mode is None:
        raise _fail(
            source,
            f"unknown mode or application {_short(mode_or_app)}; the modes are caffe, tf, torch, "
            "or name an application such as resnet50, mobilenet_v2, densenet121, efficientnetb0",
        )
    notes.append(
        "Keras' preprocess_input does not resize: size is left to the model input, and ferry's "
        "default resize is kept (keras.utils.load_img resizes with PIL nearest by default)"
    )
    if mode == "caffe":
        pre = _build(source, color="BGR", scale=1.0, mean=CAFFE_MEAN_BGR, std=(1.0, 1.0, 1.0), layout="NHWC")
    elif mode == "tf":
        pre = _build(
            source, color="RGB", scale=1 / 127.5, mean=(1.0, 1.0, 1.0), std=(1.0, 1.0, 1.0), layout="NHWC"
        )
    elif mode == "torch":
        pre = _build(source, color="RGB", scale=1 / 255, mean=IMAGENET_MEAN, std=IMAGENET_STD, layout="NHWC")
    else:
        pre = _build(source, color="RGB", scale=1.0, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), layout="NHWC")
    return Imported(pre, notes, f"{source} ({mode})")
