"""Seeded models whose *answers* depend on colour, for the task-level tests, exported once to ONNX and cached.

Random-weight models are enough for tensor parity, but their answers are degenerate: the seeded segmenter in
torch_models labels every pixel of every photo with one class and the seeded classifier's probabilities move by
< 0.01 under an RGB/BGR swap, so no task-level check could see a colour bug on them (measured). A trained model
cares what colour a thing is; these models do too, by construction: a fixed 1x1 "colour" head (red, green, blue,
grey scores) plus a seeded random 3x3 conv for texture. Inputs are 48x64 like torch_models.

    colour_segmenter   input [N,3,48,64] -> out [N,4,48,64]       (per-pixel class logits)
    colour_classifier  input [N,3,48,64] -> logits [N,4]          (the pooled colour head)
    detector           input [N,3,48,64] -> boxes [N,48,4], scores [N,48,3]   raw candidates, NMS needed
                       (one anchor per 8x8 cell, x1 y1 x2 y2 in 0..1; class = dominant colour of the cell)
    detector_reordered the same detector with its candidates in reverse order: the same detections after NMS
"""

from __future__ import annotations

from pathlib import Path

HEIGHT, WIDTH = 48, 64


def cache_dir() -> Path:
    from torch_models import keyed_cache_dir

    return keyed_cache_dir("detect", __file__)


def _colour_head(torch, nn, classes: int = 4):
    """1x1 conv: class c (R, G, B) scores its channel minus the mean of the others; class 3 (grey) scores low
    saturation. Inputs are ImageNet-normalised RGB."""
    head = nn.Conv2d(3, classes, 1)
    w = torch.tensor([[2.0, -1.0, -1.0], [-1.0, 2.0, -1.0], [-1.0, -1.0, 2.0], [0.0, 0.0, 0.0]])[:classes]
    head.weight.data.copy_(w[:, :, None, None] * 1.5)
    head.bias.data.copy_(torch.tensor([0.0, 0.0, 0.0, 0.8])[:classes])
    return head


def colour_segmenter():
    import torch
    from torch import nn

    class Seg(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = _colour_head(torch, nn)
            self.texture = nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x):
            return self.head(x) + 0.3 * self.texture(x)

    torch.manual_seed(6)
    return Seg().eval()


def colour_classifier():
    from torch import nn

    class Cls(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.seg = colour_segmenter()

        def forward(self, x):
            return self.seg(x).mean(dim=(2, 3)) * 4.0

    return Cls().eval()


def detector(reverse: bool = False):
    import torch
    from torch import nn

    class Det(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = _colour_head(torch, nn, 3)
            self.box = nn.Conv2d(3, 4, 8, stride=8)
            torch.manual_seed(7)
            nn.init.normal_(self.box.weight, 0.0, 0.02)
            nn.init.zeros_(self.box.bias)
            gy, gx = torch.meshgrid((torch.arange(HEIGHT // 8) + 0.5) / (HEIGHT // 8),
                                    (torch.arange(WIDTH // 8) + 0.5) / (WIDTH // 8), indexing="ij")
            self.register_buffer("centres", torch.stack([gx, gy], -1).reshape(1, -1, 2))

        def forward(self, x):
            cell = nn.functional.avg_pool2d(self.head(x), 8)  # [N, 3, 6, 8]
            scores = torch.sigmoid(3.0 * cell - 4.0).flatten(2).transpose(1, 2)  # [N, 48, 3]
            d = self.box(x).flatten(2).transpose(1, 2)  # [N, 48, 4]
            half = 0.12 * torch.exp(torch.clamp(d[..., 2:], -1, 1))
            ctr = self.centres + 0.1 * torch.tanh(d[..., :2])
            boxes = torch.cat([ctr - half, ctr + half], -1).clamp(0, 1)
            if reverse:
                boxes, scores = boxes.flip(1), scores.flip(1)
            return boxes, scores

    return Det().eval()


BUILDERS = {
    "colour_segmenter": (colour_segmenter, ["out"]),
    "colour_classifier": (colour_classifier, ["logits"]),
    "detector": (detector, ["boxes", "scores"]),
    "detector_reordered": (lambda: detector(reverse=True), ["boxes", "scores"]),
}


def onnx_path(name: str) -> Path:
    """The model exported with torch.onnx (TorchScript exporter, opset 17, dynamic batch), cached."""
    from torch_models import cached_onnx

    build, outs = BUILDERS[name]
    return cached_onnx(cache_dir() / f"{name}.onnx", build, outs)
