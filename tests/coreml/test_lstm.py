"""A CRNN (convolutions, then a bidirectional nn.LSTM over the width, time-major logits) to Core ML: coremltools'
torch.export frontend refuses nn.LSTM ("Unsupported fx node lstm"), so a module goes through torch.jit.trace when
that route fails, and ferry's MIL interpreter runs the `lstm` op (gate order input, forget, output, cell) to check
it on Linux. Found on khmer-ocr-ocm's CRNN, a real model nobody here built."""

from __future__ import annotations

import numpy as np
import pytest

from ferry.convert import convert

pytest.importorskip("coremltools")
CONTRACT = {"color": "GRAY", "scale": 1 / 255, "mean": [0.5], "std": [0.5], "size": [16, 48], "layout": "NCHW"}


def crnn():
    import torch
    from torch import nn

    torch.manual_seed(3)

    class CRNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cnn = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d((4, 2)),
                                     nn.Conv2d(8, 12, 3, padding=1), nn.ReLU(), nn.MaxPool2d((4, 1)))
            self.rnn = nn.LSTM(12, 10, num_layers=2, bidirectional=True)
            self.fc = nn.Linear(20, 7)

        def forward(self, x):
            f = self.cnn(x).squeeze(2).permute(2, 0, 1)  # [W, N, C]: time-major
            return self.fc(self.rnn(f)[0])  # [T, N, 7]

    return CRNN().eval(), torch.zeros(1, 1, 16, 48)


SPEC = f"{__file__}:crnn"


def test_a_bidirectional_lstm_converts_to_core_ml_and_is_checked(tmp_path, photos):
    manifest = convert(SPEC, to="coreml", preprocess=CONTRACT, outdir=tmp_path, images=photos[:3])
    (t,) = manifest.targets
    assert t.reachable and t.passed, t.reason
    assert max(o["max_abs"] for o in t.check["outputs"]) < 1e-4, t.check["outputs"]


def test_the_interpreters_lstm_is_torchs(tmp_path):
    """The op alone against torch.nn.LSTM, each direction and the final states; a gate order swapped is caught."""
    import torch

    from ferry.coreml.ops import OPS, Args

    torch.manual_seed(0)
    lstm = torch.nn.LSTM(5, 4, bidirectional=True).eval()
    x = torch.randn(6, 2, 5)
    with torch.no_grad():
        want, (h, c) = lstm(x)

    def gates(w):  # torch's order input, forget, cell, output -> MIL's input, forget, output, cell
        i, f, g, o = np.split(w.detach().numpy(), 4)
        return np.concatenate([i, f, o, g])

    def args(order=gates):
        return Args({"x": [x.numpy()], "initial_h": [np.zeros((2, 8), np.float32)],
                     "initial_c": [np.zeros((2, 8), np.float32)],
                     "weight_ih": [order(lstm.weight_ih_l0)], "weight_hh": [order(lstm.weight_hh_l0)],
                     "bias": [order(lstm.bias_ih_l0 + lstm.bias_hh_l0)],
                     "weight_ih_back": [order(lstm.weight_ih_l0_reverse)],
                     "weight_hh_back": [order(lstm.weight_hh_l0_reverse)],
                     "bias_back": [order(lstm.bias_ih_l0_reverse + lstm.bias_hh_l0_reverse)],
                     "direction": ["bidirectional"], "output_sequence": [True]})

    seq, h_last, c_last = OPS["lstm"](args())
    np.testing.assert_allclose(seq, want.numpy(), atol=1e-5)
    np.testing.assert_allclose(h_last, np.concatenate([h[0], h[1]], axis=-1), atol=1e-5)
    np.testing.assert_allclose(c_last, np.concatenate([c[0], c[1]], axis=-1), atol=1e-5)
    torch_order = lambda w: w.detach().numpy()  # noqa: E731 - the gates left in torch's order: wrong
    assert np.abs(OPS["lstm"](args(torch_order))[0] - want.numpy()).max() > 1e-2
