"""Seeded small torch models for the tests, exported once and cached on disk.

Random weights are enough for parity, as long as BatchNorm statistics are randomised too (otherwise outputs
are small and every mistake looks like float noise). Inputs are 48x64 (H != W) so a layout mistake cannot hide.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

HEIGHT, WIDTH = 48, 64


def keyed_cache_dir(prefix: str, builder_file: str) -> Path:
    """FERRY_TEST_CACHE/<prefix>-<hash of the builder's source>: editing a builder rebuilds its models."""
    tag = hashlib.sha256(Path(builder_file).read_bytes()).hexdigest()[:12]
    root = Path(os.environ.get("FERRY_TEST_CACHE", Path.home() / ".cache" / "ferry-tests"))
    d = root / f"{prefix}-{tag}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def cache_dir() -> Path:
    return keyed_cache_dir("torch", __file__)


def _randomise_bn(module, gen) -> None:
    import torch

    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) * 2 + 0.5)
            m.weight.data.copy_(torch.randn(m.num_features, generator=gen) * 0.5 + 1)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.3)


def classifier():
    """conv-bn-relu x3, global pool, linear: 10 logits."""
    import torch
    from torch import nn

    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
    )
    _randomise_bn(net, gen)
    return net.eval()




def segmenter():
    """DeepLab-like: a strided backbone, a 1x1 classifier, logits upsampled bilinearly to the input size."""
    import torch
    from torch import nn

    class Seg(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = nn.Sequential(
                nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                nn.Conv2d(16, 24, 3, stride=2, padding=1), nn.BatchNorm2d(24), nn.ReLU(),
                nn.Conv2d(24, 24, 3, padding=2, dilation=2), nn.BatchNorm2d(24), nn.ReLU(),
            )
            self.head = nn.Conv2d(24, 5, 1)

        def forward(self, x):
            y = self.head(self.backbone(x))
            return nn.functional.interpolate(y, size=x.shape[2:], mode="bilinear", align_corners=False)

    gen = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    net = Seg()
    _randomise_bn(net, gen)
    return net.eval()


BUILDERS = {"classifier": (classifier, "logits"), "segmenter": (segmenter, "out")}


def cached_onnx(dest: Path, build, output_names: list[str]) -> Path:
    """`build()` exported with torch.onnx (TorchScript exporter, opset 17, dynamic batch) to `dest`, once."""
    if dest.is_file():
        return dest
    import torch

    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=dest.parent)
    os.close(fd)
    torch.onnx.export(build(), torch.randn(1, 3, HEIGHT, WIDTH), tmp, dynamo=False, opset_version=17,
                      input_names=["input"], output_names=output_names,
                      dynamic_axes={"input": {0: "N"}, **{o: {0: "N"} for o in output_names}})
    os.replace(tmp, dest)
    return dest


def onnx_path(name: str) -> Path:
    """The model exported with torch.onnx (TorchScript exporter, opset 17, dynamic batch), cached."""
    build, out_name = BUILDERS[name]
    return cached_onnx(cache_dir() / f"{name}.onnx", build, [out_name])


def torchscript_path(name: str) -> Path:
    dest = cache_dir() / f"{name}.torchscript.pt"
    if dest.is_file():
        return dest
    import torch

    build, _ = BUILDERS[name]
    fd, tmp = tempfile.mkstemp(suffix=".pt", dir=dest.parent)
    os.close(fd)
    torch.jit.save(torch.jit.trace(build(), torch.randn(1, 3, HEIGHT, WIDTH)), tmp)
    os.replace(tmp, dest)
    return dest
