"""Core ML conversions the way a user writes them by hand with coremltools, right or (seed 002) wrong, and a small
seeded grayscale model.

The bugs are not a hidden switch in ferry's API: each is the ImageType a user would really write, passed to the
real `ct.convert`, so `ferry check` is tested on the files people really produce.
"""

from __future__ import annotations

import logging
from pathlib import Path

HEIGHT, WIDTH = 48, 64
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def gray_classifier():
    """A 1-channel conv-bn-relu classifier (8 logits), seeded, BatchNorm statistics randomised; returned with an
    example input so ferry knows its shape."""
    import torch
    from torch import nn

    gen = torch.Generator().manual_seed(5)
    torch.manual_seed(5)
    net = nn.Sequential(
        nn.Conv2d(1, 12, 3, stride=2, padding=1), nn.BatchNorm2d(12), nn.ReLU(),
        nn.Conv2d(12, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 8),
    )
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) * 2 + 0.5)
            m.weight.data.copy_(torch.randn(m.num_features, generator=gen) * 0.5 + 1)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.3)
    return net.eval(), torch.zeros(1, 1, HEIGHT, WIDTH)


# Each seed-002 bug: (contract the model was trained with, the ImageType a user wrote).
BUGS = {
    # (x - 127.5) / 127.5 wanted; the user sets bias = -127.5 without multiplying it by the scale
    "bias_unscaled": ({"preset": "tf"}, {"scale": 2 / 255, "bias": [-127.5] * 3, "color_layout": "RGB"}),
    # a 0..1 model fed 0..255: the scale is missing
    "scale_missing": ({"preset": "unit"}, {"scale": 1.0, "bias": [0.0] * 3, "color_layout": "RGB"}),
    # RGB model, BGR colour layout
    "rgb_bgr_swapped": (
        {"color": "RGB", "scale": 1 / 255, "mean": list(IMAGENET_MEAN), "std": [0.226] * 3},
        {"scale": 1 / 255 / 0.226, "bias": [-m / 0.226 for m in IMAGENET_MEAN], "color_layout": "BGR"},
    ),
    # per-channel std replaced by its average (the workaround in coremltools' docs)
    "std_averaged": (
        {"preset": "imagenet"},
        {"scale": 1 / 255 / (sum(IMAGENET_STD) / 3),
         "bias": [-m / (sum(IMAGENET_STD) / 3) for m in IMAGENET_MEAN], "color_layout": "RGB"},
    ),
    # the model expects 0 = white; the user converts with Core ML's default grayscale (0 = black)
    "gray_polarity_inverted": (
        {"color": "GRAY", "gray_zero_is": "white", "scale": 1 / 255, "mean": [0.2], "std": [0.3]},
        {"scale": 1 / 255 / 0.3, "bias": -0.2 / 0.3, "color_layout": "GRAYSCALE"},
    ),
}


def convert_as_user(module, dest: Path, image_type: dict, channels: int = 3) -> Path:
    """torch.export + ct.convert with the user's own ImageType, output named like ferry's torch source."""
    import torch

    logging.getLogger("coremltools").setLevel(logging.ERROR)
    import coremltools as ct

    shape = (1, channels, HEIGHT, WIDTH)
    program = torch.export.export(module, (torch.randn(*shape),)).run_decompositions({})
    kwargs = dict(image_type)
    kwargs["color_layout"] = getattr(ct.colorlayout, kwargs["color_layout"])
    model = ct.convert(program, inputs=[ct.ImageType(name="input", shape=shape, **kwargs)],
                       outputs=[ct.TensorType(name="output0")], convert_to="mlprogram",
                       compute_precision=ct.precision.FLOAT32)
    model.save(str(dest))
    return dest
