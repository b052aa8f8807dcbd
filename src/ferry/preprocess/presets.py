"""Named contracts for the conventions users name by habit.

Presets fix colour order and normalisation only. Size and layout are left to the model (filled from its input),
and the resize is a plain OpenCV bilinear stretch unless the user says otherwise (add `resize:` next to
`preset:` in a contract file).
"""

from __future__ import annotations

from ferry.errors import ContractError
from ferry.preprocess.contract import Preprocess

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

PRESETS: dict[str, Preprocess] = {
    # torchvision / timm default: RGB, 0..1, ImageNet mean/std
    "imagenet": Preprocess(color="RGB", scale=1 / 255, mean=IMAGENET_MEAN, std=IMAGENET_STD),
    # Keras "caffe" mode and the original Caffe models: BGR, 0..255, BGR mean subtracted, no std
    "caffe": Preprocess(color="BGR", scale=1.0, mean=CAFFE_MEAN_BGR, std=(1.0, 1.0, 1.0)),
    # Keras "tf" mode, Inception, MobileNet (TF): RGB, -1..1
    "tf": Preprocess(color="RGB", scale=1 / 127.5, mean=(1.0, 1.0, 1.0), std=(1.0, 1.0, 1.0)),
    # 0..1
    "unit": Preprocess(color="RGB", scale=1 / 255, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)),
    # 0..255 as decoded
    "raw": Preprocess(color="RGB", scale=1.0, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)),
}
PRESETS["inception"] = PRESETS["tf"]


def preset(name: str) -> Preprocess:
    try:
        return PRESETS[name]
    except KeyError:
        raise ContractError(f"unknown preset {name!r}; the presets are {', '.join(PRESETS)}") from None
