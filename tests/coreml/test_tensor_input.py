"""Core ML files that are not ferry's own conversions: an ML Program with a tensor input (ct.TensorType: the host
preprocesses) and a neuralNetwork with a custom layer whose weights are a repeated field (kraken's blla.mlmodel).
Before: check refused the first ("no image input; feed tensors with run()") and inspect crashed on the second."""

from __future__ import annotations

import pytest

ct = pytest.importorskip("coremltools")
torch = pytest.importorskip("torch")

from ferry.check import check  # noqa: E402
from ferry.cli import main  # noqa: E402

CONTRACT = {"color": "RGB", "scale": 1 / 255, "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3], "size": [24, 32],
            "layout": "NCHW"}


def _net():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(6, 5))
    return net.eval()


@pytest.fixture(scope="module")
def tensor_input_pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("tensor_input")
    net = _net()
    x = torch.randn(1, 3, 24, 32)
    onnx_path = d / "net.onnx"
    torch.onnx.export(net, x, str(onnx_path), dynamo=False, opset_version=17, input_names=["x"],
                      output_names=["logits"])
    ml = ct.convert(torch.jit.trace(net, x), inputs=[ct.TensorType(name="x", shape=x.shape)],
                    outputs=[ct.TensorType(name="logits")], convert_to="mlprogram",
                    compute_precision=ct.precision.FLOAT32)
    path = d / "net.mlpackage"
    ml.save(str(path))
    return onnx_path, path


def test_an_ml_program_with_a_tensor_input_is_checked_on_the_hosts_tensor(tensor_input_pair, photos):
    onnx_path, mlpackage = tensor_input_pair
    ok = check(onnx_path, [(mlpackage, "coreml")], images=photos[:3], preprocess=CONTRACT)
    assert ok.passed, [t.error or t.reason for t in ok.targets]
    bgr = {**CONTRACT, "color": "BGR"}
    bad = check(onnx_path, [(mlpackage, "coreml")], images=photos[:3], preprocess=CONTRACT, target_preprocess=bgr)
    assert not bad.passed  # the app feeding the channels swapped: red


def test_a_neuralnetwork_with_a_custom_layer_is_inspected_and_refused_in_one_line(tmp_path, photos, capsys):
    from coremltools.models import datatypes
    from coremltools.models.neural_network import NeuralNetworkBuilder

    shape = datatypes.Array(1, 3, 16, 16)
    builder = NeuralNetworkBuilder([("input", shape)], [("output", shape)], disable_rank5_shape_mapping=True)
    builder.add_custom("custom", ["input"], ["output"], ct.proto.NeuralNetwork_pb2.CustomLayerParams(
        className="KrakenLike", weights=[ct.proto.NeuralNetwork_pb2.WeightParams(floatValue=[1.0, 2.0, 3.0])]))
    path = tmp_path / "custom.mlmodel"
    ct.utils.save_spec(builder.spec, str(path))
    assert main(["inspect", str(path), "--json"]) == 0
    import json

    info = json.loads(capsys.readouterr().out)
    assert info["precision"]["kind"] == "fp32" and info["precision"]["weights"] == {"float32": 1.0}
    code = main(["check", str(path), str(path), "--images", str(photos[0]), "--preprocess", "unit"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "neuralNetwork model; ferry runs ML Programs only" in err[0], err
