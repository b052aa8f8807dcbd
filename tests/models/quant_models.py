"""A seeded colour-aware CNN for the reduced-precision tests (tests/quantize), a torch factory for `ferry convert`.

It must be worth quantizing and its answers must care about colour: a colour head (tests/models/detect_models.py's
fixed 1x1 conv: red, green, blue and grey scores) beside a small seeded conv-BN-ReLU stack, pooled to 4 logits.
Quantization then has real work (BatchNorm folding, ReLU ranges, per-channel weights) and an RGB/BGR swap moves
the top-1 class on colour photos. `damaged` is the same model with one filter of the colour head scaled by DAMAGE: a
wrong or corrupted checkpoint deployed as if it were the model.

    colour_cnn          input [N,3,48,64] -> logits [N,4]
    colour_cnn_damaged  the same, the colour head's first filter x DAMAGE
"""

from __future__ import annotations

from pathlib import Path

HEIGHT, WIDTH = 48, 64
DAMAGE = 1.5
CONTRACT = {"preset": "imagenet", "size": [HEIGHT, WIDTH]}


def _build(damage: float = 1.0):
    import torch
    from detect_models import _colour_head
    from torch import nn

    class ColourCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = _colour_head(torch, nn)
            self.stack = nn.Sequential(
                nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                nn.Conv2d(16, 16, 3, padding=1, stride=2), nn.BatchNorm2d(16), nn.ReLU(),
                nn.Conv2d(16, 4, 1))

        def forward(self, x):
            colour = self.head(x).mean(dim=(2, 3))
            texture = self.stack(x).mean(dim=(2, 3))
            return 4.0 * colour + texture

    gen = torch.Generator().manual_seed(17)
    torch.manual_seed(17)
    net = ColourCNN()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.3)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
    with torch.no_grad():  # one colour-head filter (class "red") off by 50%; the int8 rule misses 10% (README)
        net.head.weight[0].mul_(damage)
    return net.eval()


def colour_cnn():
    import torch

    return _build(), torch.zeros(1, 3, HEIGHT, WIDTH)


def colour_cnn_damaged():
    import torch

    return _build(DAMAGE), torch.zeros(1, 3, HEIGHT, WIDTH)


FACTORY = str(Path(__file__).resolve()) + ":colour_cnn"
DAMAGED_FACTORY = str(Path(__file__).resolve()) + ":colour_cnn_damaged"


def made(name: str, source: str, contract: dict, to: str, precision: str, photos) -> Path:
    """`ferry convert source --to to --precision precision --no-check` into a cached folder, once: TFLite full-int
    conversion and NNCF take seconds each, the checks that the tests run on the files take a fraction of that.
    Keyed by this file, every source file of ferry.quantize and ferry.convert (a change there rebuilds) and the
    photos."""
    import hashlib
    import os
    import shutil
    import tempfile

    from torch_models import keyed_cache_dir

    import ferry

    pkg = Path(ferry.__file__).parent
    h = hashlib.sha256()
    for f in sorted([*(pkg / "quantize").glob("*.py"), *(pkg / "convert").glob("*.py")]):
        h.update(f.read_bytes())
    h.update(f"{source}|{contract}|{to}|{precision}|{[Path(p).name for p in photos]}".encode())
    dest = keyed_cache_dir("quant", __file__) / f"{name}-{h.hexdigest()[:12]}"
    if (dest / "ferry.json").is_file():
        return dest
    from ferry.convert import convert

    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=dest.parent))
    convert(source, to=to, preprocess=contract, outdir=tmp, images=photos, check=False, precision=precision,
            name="cnn")
    try:
        os.rename(tmp, dest)
    except OSError:  # another worker made it first
        shutil.rmtree(tmp, ignore_errors=True)
    return dest
