"""torch sources: ExportedProgram and nn.Module factories load, run, and match the ONNX export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ferry.errors import FerryError
from ferry.runtimes import load


@pytest.fixture(scope="module")
def program_path(tmp_path_factory):
    import torch
    import torch_models

    path = tmp_path_factory.mktemp("ep") / "classifier.pt2"
    ep = torch.export.export(torch_models.classifier(), (torch.randn(1, 3, 48, 64),))
    torch.export.save(ep, str(path))
    return path


def test_exported_program_matches_onnx(program_path, classifier_onnx):
    model = load(program_path)
    assert model.format == "torch-exported-program"
    assert model.image_input.shape == (1, 3, 48, 64)
    x = np.random.default_rng(0).standard_normal((1, 3, 48, 64)).astype(np.float32)
    got = next(iter(model.run({model.image_input.name: x}).values()))
    ref = load(classifier_onnx).run({"input": x})["logits"]
    assert np.abs(got - ref).max() < 1e-4
    assert np.abs(got - load(classifier_onnx).run({"input": x + 0.1})["logits"]).max() > 1e-3


def test_factory_spec_loads_module_with_example_input(tmp_path):
    factory = tmp_path / "my_model.py"
    factory.write_text(
        "import torch\n"
        "def build():\n"
        "    torch.manual_seed(0)\n"
        "    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten()), torch.zeros(1, 3, 8, 8)\n"
    )
    model = load(f"{factory}:build")
    assert model.image_input.shape == (1, 3, 8, 8)
    out = model.run({"input": np.ones((1, 3, 8, 8), np.float32)})
    assert out["output0"].shape == (1, 4 * 6 * 6)
    assert [(o.name, o.shape) for o in model.outputs] == [("output0", (1, 4 * 6 * 6))]  # from the example's run
    with pytest.raises(FerryError, match="has no nosuch"):
        load(f"{factory}:nosuch")


_NET_BESIDE = ("import torch\n"
               "class Net(torch.nn.Module):\n"
               "    def __init__(self):\n"
               "        super().__init__()\n"
               "        self.conv = torch.nn.Conv2d(3, 2, 3)\n"
               "    def forward(self, x):\n"
               "        return self.conv(x).mean((2, 3))\n")


def test_a_factory_file_imports_the_model_class_beside_it(tmp_path):
    """deep-sort-realtime ships `mobilenetv2_bottle.py` beside the code that builds it: a factory file written next
    to that class imports it as `python factory.py` would (the file's folder first on the path), and its
    `ferry_preprocess` (YAML text or a dict) is the contract check reads when --preprocess is not given."""
    from ferry.check import resolve_contract

    (tmp_path / "netdef_beside_ferry_factory.py").write_text(_NET_BESIDE)
    factory = tmp_path / "factory.py"
    factory.write_text("from netdef_beside_ferry_factory import Net\n"
                       "ferry_preprocess = 'color: BGR\\nsize: [16, 16]\\nscale: 1/255\\n'\n"
                       "def build():\n    return Net().eval(), __import__('torch').zeros(1, 3, 16, 16)\n")
    model = load(f"{factory}:build")
    assert [(o.name, o.shape) for o in model.outputs] == [("output0", (1, 2))]
    contract = resolve_contract(model, None)
    assert (contract.color, tuple(contract.size), round(contract.scale * 255, 6)) == ("BGR", (16, 16), 1.0)


def test_a_module_factory_is_found_in_the_working_folder(tmp_path):
    """`ferry inspect mymodule:build` run where mymodule.py lies: the console script, unlike `python -m`, does not
    put the working folder on the path, so ferry does (it said "No module named 'mymodule'")."""
    import os
    import subprocess
    import sys

    (tmp_path / "ferry_cwd_factory.py").write_text(
        _NET_BESIDE + "def build():\n    return Net().eval(), torch.zeros(1, 3, 16, 16)\n")
    ferry = Path(sys.executable).with_name("ferry")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([str(ferry), "inspect", "ferry_cwd_factory:build", "--json"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["outputs"][0]["shape"] == [1, 2]


def test_a_factory_that_raises_is_one_line_exit_2(tmp_path, capsys):
    """The user's factory failing (a missing import of theirs, a wrong path) is bad input, not a ferry crash."""
    from ferry.cli import main

    factory = tmp_path / "model.py"
    factory.write_text("def build():\n    import no_such_module_here  # noqa: F401\n")
    out = tmp_path / "out"
    code = main(["convert", f"{factory}:build", "--to", "onnx", "--preprocess", "imagenet", "-o", str(out),
                 "--no-check"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "build() raised ModuleNotFoundError" in err and "no_such_module_here" in err and str(factory) in err
    assert not out.exists()


def test_a_gray_torchscript_takes_one_channel_and_is_checked(tmp_path, photos):
    """TorchScript records no input shape, and ferry took every such file for 3 channels: a GRAY model (khmer-ocr-ocm's
    CRNN, traced) was refused with "the contract makes [4, 1, 48, 512]; fix the contract's size or layout" though
    its contract was right. The channels come from the first convolution's weight."""
    import torch

    from ferry.check import check

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 6, 3, padding=1), torch.nn.BatchNorm2d(6), torch.nn.ReLU(),
                              torch.nn.Conv2d(6, 4, 3, padding=1), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    with torch.no_grad():
        net[1].running_mean.uniform_(-0.2, 0.2)
        net[1].running_var.uniform_(0.5, 2.0)
    net.eval()
    ts = tmp_path / "gray.ts.pt"
    torch.jit.trace(net, torch.zeros(1, 1, 32, 32)).save(str(ts))
    onnx_path = tmp_path / "gray.onnx"
    torch.onnx.export(net, torch.zeros(1, 1, 32, 32), str(onnx_path), dynamo=False, input_names=["input"],
                      output_names=["out"], dynamic_axes={"input": {0: "n"}})
    model = load(ts)
    assert model.image_input.shape == (None, 1, None, None)
    contract = {"color": "GRAY", "scale": 1 / 255, "mean": [0.5], "std": [0.5], "size": [32, 32], "layout": "NCHW"}
    ok = check(ts, [onnx_path], images=photos[:3], preprocess=contract)
    assert ok.passed
    bad = check(ts, [onnx_path], images=photos[:3], preprocess=contract,
                target_preprocess={**contract, "gray_zero_is": "white"})
    assert not bad.passed
