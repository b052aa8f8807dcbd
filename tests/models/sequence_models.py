"""A seeded small CRNN for the tests: conv features, columns as time steps, an LSTM left time-major (torch's
nn.LSTM default, batch_first=False), so the output is [T, N, C] as in crnn.pytorch and ddddocr's recogniser.
Exported once with torch.onnx (dynamic batch: on axis 0 of the input, axis 1 of the output) and cached."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
torch_models = importlib.import_module("torch_models")

HEIGHT, WIDTH = 32, 96
STEPS, CLASSES = 24, 11  # WIDTH / 4 columns; a blank and ten symbols


def crnn():
    import torch
    from torch import nn

    class CRNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Sequential(
                nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            )
            self.rnn = nn.LSTM(32, 24)
            self.fc = nn.Linear(24, CLASSES)

        def forward(self, x):
            f = self.conv(x).mean(2).permute(2, 0, 1)  # [T, N, 32]: columns as time steps
            f = (f - f.mean(0, keepdim=True)) * 4  # what changes along the line, so the steps differ
            y, _ = self.rnn(f)
            return self.fc(y)  # [T, N, C] logits

    gen = torch.Generator().manual_seed(7)
    torch.manual_seed(7)
    net = CRNN()
    torch_models._randomise_bn(net, gen)
    with torch.no_grad():  # LSTM outputs lie in -1..1: a wide head and no bias, so positions read different symbols
        net.fc.weight.copy_(torch.randn(net.fc.weight.shape, generator=gen) * 2)
        net.fc.bias.zero_()
    return net.eval()


def crnn_onnx() -> Path:
    dest = torch_models.keyed_cache_dir("sequence", __file__) / "crnn.onnx"
    if dest.is_file():
        return dest
    import os
    import tempfile

    import torch

    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=dest.parent)
    os.close(fd)
    torch.onnx.export(crnn(), torch.randn(1, 1, HEIGHT, WIDTH), tmp, dynamo=False, opset_version=17,
                      input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "N"}, "logits": {1: "N"}})
    os.replace(tmp, dest)
    return dest
