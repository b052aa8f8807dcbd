"""A torch module the TorchScript ONNX exporter refuses: nn.AdaptiveAvgPool2d((None, 1)) collapses the height and keeps
the width, as EasyOCR's CRNN recognisers do before their BiLSTM ("Unsupported: ONNX export of operator adaptive
pooling, since output_size is not constant"). Small and seeded; a factory for `ferry convert FILE:build`."""

from __future__ import annotations

import torch
from torch import nn

ferry_preprocess = {"color": "GRAY", "size": [32, 64], "scale": 0.00392156862745098, "mean": [0.5], "std": [0.5],
                    "layout": "NCHW"}


class Reader(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d((None, 1))
        self.rnn = nn.LSTM(16, 12, bidirectional=True, batch_first=True)
        self.head = nn.Linear(24, 11)

    def forward(self, x):
        f = self.pool(self.conv(x).permute(0, 3, 1, 2)).squeeze(3)  # [N, W, C]
        y, _ = self.rnn(f)
        return self.head(y).softmax(2)


def build():
    torch.manual_seed(13)
    return Reader().eval(), torch.zeros(1, 1, 32, 64)
