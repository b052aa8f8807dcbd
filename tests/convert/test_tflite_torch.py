"""torch -> TFLite through litert-torch (the optional ferry[tflite-torch] extra): parity with torch on the photos
and on wide random inputs, the layout and names the file keeps, a colour-swapped model caught, an op litert-torch
cannot lower named, and what ferry says when the extra is missing or the source is ONNX."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch_models

from ferry.check import check
from ferry.convert import convert

pytest.importorskip("torch", reason="torch sources need the ferry[torch] extra")

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "tests" / "models" / "torch_models.py"
CONTRACT = {"preset": "imagenet", "size": [torch_models.HEIGHT, torch_models.WIDTH]}
needs_litert = pytest.mark.skipif(
    importlib.util.find_spec("litert_torch") is None,
    reason="torch -> TFLite needs litert-torch: pip install 'ferry[tflite-torch]'")


def _exported_program(tmp: Path) -> Path:
    import torch

    dest = tmp / "classifier.pt2"
    example = torch.zeros(1, 3, torch_models.HEIGHT, torch_models.WIDTH)
    torch.export.save(torch.export.export(torch_models.classifier(), (example,)), str(dest))
    return dest


SOURCES = {
    "factory-classifier": (lambda tmp: f"{MODELS}:classifier", torch_models.classifier),
    "torchscript-segmenter": (lambda tmp: torch_models.torchscript_path("segmenter"), torch_models.segmenter),
    "exportedprogram-classifier": (_exported_program, torch_models.classifier),
}


@pytest.fixture(scope="module", params=sorted(SOURCES))
def tflite(request, tmp_path_factory, photos):
    make, build = SOURCES[request.param]
    out = tmp_path_factory.mktemp(request.param)
    manifest = convert(make(out), to="tflite", preprocess=CONTRACT, outdir=out, images=photos)
    return request.param, manifest, build


@needs_litert
def test_torch_to_tflite_matches_torch_on_the_photos(tflite):
    name, manifest, _ = tflite
    entry = manifest.targets[0]
    assert entry.reachable and entry.passed, f"{name}: {entry.reason}"
    assert entry.route.startswith("torch -> litert_torch.convert")
    assert entry.versions["litert-torch"] == "0.10.0"
    worst = max(o["max_abs"] for o in entry.check["outputs"])
    assert worst < 1e-5, f"{name}: TFLite drifts from torch by {worst}"


@needs_litert
def test_file_keeps_nchw_batch_one_names_and_matches_torch_on_wide_inputs(tflite):
    """Read the file with LiteRT's own Interpreter, not ferry's runtime: NCHW in, the signature names kept."""
    import torch
    from ai_edge_litert.interpreter import Interpreter

    from ferry.runtimes import load

    name, manifest, build = tflite
    it = Interpreter(model_path=manifest.targets[0].path)
    it.allocate_tensors()
    (inp,), (out,) = it.get_input_details(), it.get_output_details()
    assert list(inp["shape"]) == [1, 3, torch_models.HEIGHT, torch_models.WIDTH]
    sig = it.get_signature_list()["serving_default"]
    assert sig["inputs"] == [load(manifest.source["path"]).inputs[0].name]
    assert sig["outputs"] == ["output0"]
    net = build()
    for seed in range(3):
        x = np.random.default_rng(seed).uniform(-3, 3, inp["shape"]).astype(np.float32)
        it.set_tensor(inp["index"], x)
        it.invoke()
        with torch.no_grad():
            ref = net(torch.from_numpy(x)).numpy()
        assert np.abs(ref).max() > 0.05  # outputs large enough that a wrong model cannot hide in float noise
        assert np.abs(it.get_tensor(out["index"]) - ref).max() < 1e-5


@needs_litert
def test_a_colour_swapped_model_converts_but_fails_the_check(tmp_path, photos):
    """Seed-001's bug on this route: the file takes the channels in the other order. It converts and runs; the
    check against the original model must go red."""
    factory = tmp_path / "swapped.py"
    factory.write_text(
        f"import sys\nsys.path.insert(0, {str(MODELS.parent)!r})\nimport torch\nimport torch_models\n\n"
        "class Swap(torch.nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.net = torch_models.classifier()\n"
        "    def forward(self, x):\n        return self.net(x.flip(1))\n\n"
        "def swapped():\n    return Swap().eval()\n")
    manifest = convert(f"{factory}:swapped", to="tflite", preprocess=CONTRACT, outdir=tmp_path / "out",
                       check=False)
    entry = manifest.targets[0]
    assert entry.reachable, entry.reason
    result = check(f"{MODELS}:classifier", [entry.path], photos, preprocess=CONTRACT, runtimes=["tflite"])
    assert not result.passed
    assert max(o.max_abs for o in result.targets[0].outputs) > 1e-2


@needs_litert
def test_an_op_litert_cannot_lower_is_named(tmp_path):
    factory = tmp_path / "hist.py"
    factory.write_text(
        "import torch\n\nclass Hist(torch.nn.Module):\n"
        "    def forward(self, x):\n        return torch.histc(x, bins=8, min=-3, max=3)[None]\n\n"
        "def hist():\n    return Hist().eval()\n")
    manifest = convert(f"{factory}:hist", to="tflite", preprocess=CONTRACT, outdir=tmp_path / "out", check=False)
    tfl = manifest.targets[0]
    assert not tfl.reachable and tfl.op == "histc" and tfl.path is None
    assert "litert_torch.convert has no TFLite lowering for torch op histc" in tfl.reason
    assert not list((tmp_path / "out").glob("*.tflite"))


def test_without_the_extra_the_target_is_unreachable_and_names_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "litert_torch", None)  # what `import litert_torch` meets when not installed
    manifest = convert(f"{MODELS}:classifier", to="tflite,onnx", preprocess=CONTRACT, outdir=tmp_path,
                       check=False)
    tfl, onnx = manifest.targets
    assert not tfl.reachable and "pip install 'ferry[tflite-torch]'" in tfl.reason
    assert onnx.reachable and Path(onnx.path).exists()
    assert not (tmp_path / "classifier.tflite").exists()


def test_an_onnx_source_stays_unreachable_and_says_why(tmp_path):
    manifest = convert(torch_models.onnx_path("classifier"), to="tflite", preprocess="imagenet", outdir=tmp_path,
                       check=False)
    entry = manifest.targets[0]
    assert not entry.reachable and entry.path is None
    assert "onnx2tf" in entry.reason and "torch or TensorFlow source" in entry.reason
