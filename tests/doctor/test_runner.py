"""The doctor's Runner: outputs per photo equal one call per photo, whatever axis the output's batch is on."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ferry.doctor import Runner
from ferry.images import load_image
from ferry.preprocess.contract import Preprocess
from ferry.runtimes import load

PHOTOS = Path(__file__).resolve().parents[2] / "examples" / "images"


def test_a_time_major_output_is_kept_whole_one_image_a_call(tmp_path):
    """A CTC recogniser's output is [T, 1, classes] (ddddocr): the batch is axis 1, so the runner must not slice
    axis 0 (it kept one time step of 16 and no candidate reached parity with the reference)."""
    import torch

    class TimeMajor(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.conv = torch.nn.Conv2d(1, 5, 3, padding=1)

        def forward(self, x):  # [1, 1, 8, 16] -> [16, 1, 5]
            return self.conv(x).mean(2).permute(2, 0, 1)

    path = tmp_path / "ctc.onnx"
    torch.onnx.export(TimeMajor().eval(), torch.randn(1, 1, 8, 16), path, dynamo=False, opset_version=17,
                      input_names=["x"], output_names=["y"])
    m = load(path)
    images = [load_image(PHOTOS / n) for n in ("text.jpg", "coffee.jpg", "chelsea.jpg")]
    pp = m.resolve(Preprocess(color="GRAY", scale=1 / 255))
    runner = Runner(m, images)
    got = runner.outputs([pp])[0]["y"]
    x = runner.tensor(pp)
    want = np.concatenate([m.run(m.feed_tensor(x[i:i + 1]))["y"] for i in range(len(images))])
    assert got.shape == want.shape == (48, 1, 5)
    assert np.array_equal(got, want)
