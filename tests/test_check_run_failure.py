"""A target that loads in a runtime and then fails to run there gets its own row with the reason, like one that
cannot load; the other runtimes' rows still report (it used to end the whole check with exit 2 and no table)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ferry.check import check
from ferry.errors import RUN_FAILED

PHOTOS = [str(Path(__file__).resolve().parents[1] / "examples" / "images" / n) for n in ("coffee.jpg", "chelsea.jpg")]


@pytest.fixture(scope="module")
def std_model(tmp_path_factory) -> Path:
    """A conv then a spatial std: OpenCV DNN 4.14 loads it and fails at forward ((flags & FIXED_TYPE) != 0)."""
    import torch

    torch.manual_seed(0)

    class Std(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)

        def forward(self, x):
            return self.conv(x).std(dim=(2, 3))

    path = tmp_path_factory.mktemp("std") / "std.onnx"
    torch.onnx.export(Std().eval(), torch.randn(1, 3, 32, 32), str(path), dynamo=False, opset_version=17,
                      input_names=["x"], output_names=["y"])
    return path


def test_a_run_failure_is_a_row_and_the_others_report(std_model):
    result = check(std_model, [std_model], PHOTOS, preprocess="imagenet", runtimes=["onnxruntime", "opencv"])
    rows = {t.runtime: t for t in result.targets}
    assert rows["onnxruntime"].passed and rows["onnxruntime"].error is None
    assert not rows["opencv"].passed and RUN_FAILED in rows["opencv"].error and "coffee.jpg" in rows["opencv"].error
    assert not result.passed


def test_cli_says_it_loads_but_fails_to_run(std_model):
    done = subprocess.run([sys.executable, "-m", "ferry.cli", "check", str(std_model), str(std_model), "--images",
                           *PHOTOS, "--preprocess", "imagenet", "--runtimes", "onnxruntime,opencv"],
                          capture_output=True, text=True, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2
    assert "load but fail to run" in done.stdout and "onnxruntime" in done.stdout
    assert [ln for ln in done.stderr.splitlines() if ln.strip()] == [
        ln for ln in done.stderr.splitlines() if ln.startswith("ferry: opencv:")]
