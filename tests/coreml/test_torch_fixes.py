"""ferry.coreml.torch_fixes: a per-channel PReLU after a Linear layer (MTCNN's R-Net and O-Net) converts to Core ML
and matches torch; coremltools 9.0 alone refuses it. A seeded module, the real coremltools, ferry's MIL runner."""

from __future__ import annotations

import pytest

from ferry.convert import convert

pytest.importorskip("coremltools")
CONTRACT = {"preset": "unit", "size": [16, 16], "layout": "NCHW"}


def prelu_net():
    """conv -> PReLU(8) -> flatten -> Linear -> PReLU(32) (rank 2: the case coremltools refused) -> two heads."""
    import torch
    from torch import nn

    torch.manual_seed(5)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.act1 = nn.Conv2d(3, 8, 3, 2), nn.PReLU(8)
            self.fc, self.act2 = nn.Linear(8 * 7 * 7, 32), nn.PReLU(32)
            self.box, self.prob = nn.Linear(32, 4), nn.Linear(32, 2)
            with torch.no_grad():  # distinct slopes per channel, negative inputs common: the PReLU matters
                self.act2.weight.copy_(torch.linspace(-0.5, 0.9, 32))
                self.fc.bias.sub_(0.2)

        def forward(self, x):
            f = self.act2(self.fc(self.act1(self.conv(x)).flatten(1)))
            return self.box(f), torch.softmax(self.prob(f), dim=1)

    return Net().eval(), torch.zeros(1, 3, 16, 16)


SPEC = f"{__file__}:prelu_net"


def test_rank_2_per_channel_prelu_converts_and_matches(tmp_path, photos):
    manifest = convert(SPEC, to="coreml", preprocess=CONTRACT, outdir=tmp_path, images=photos[:4])
    (t,) = manifest.targets
    assert t.reachable and t.passed, t.reason
    assert max(o["max_abs"] for o in t.check["outputs"]) < 1e-5, t.check["outputs"]


def test_without_the_fix_coremltools_refuses_it(tmp_path, photos, monkeypatch):
    """Red on purpose: with the override switched off the target is unreachable with coremltools' own refusal."""
    import coremltools.converters.mil.frontend.torch.ops as ops
    from coremltools.converters.mil.frontend.torch.torch_op_registry import register_torch_op

    from ferry.coreml import torch_fixes

    monkeypatch.setattr(torch_fixes, "register", lambda: None)
    register_torch_op(ops.prelu, override=True)  # coremltools' own translation back
    try:
        manifest = convert(SPEC, to="coreml", preprocess=CONTRACT, outdir=tmp_path, images=photos[:2])
    finally:
        monkeypatch.undo()
        torch_fixes._REGISTERED = False
        torch_fixes.register()
    (t,) = manifest.targets
    assert not t.reachable and "prelu" in t.reason and "alpha" in t.reason, t.reason
