"""ferry's constexpr MIL ops (compressed Core ML weights) against coremltools' own `decompress`, and the int8
program `linear_quantize_weights` writes, run end to end against the float program it came from."""

from __future__ import annotations

import logging

import numpy as np
import pytest

logging.getLogger("coremltools").setLevel(logging.ERROR)
ct = pytest.importorskip("coremltools")

from coremltools.converters.mil.mil.ops.defs.iOS16 import constexpr_ops as ios16  # noqa: E402
from coremltools.converters.mil.mil.ops.defs.iOS18 import compression as ios18  # noqa: E402

from ferry.coreml.constexpr import CONSTEXPR  # noqa: E402

RNG = np.random.default_rng(3)


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("zp_dtype", [np.int8, np.uint8])
def test_affine_dequantize_per_channel_and_scalar(axis, zp_dtype):
    lo, hi = (-128, 127) if zp_dtype == np.int8 else (0, 255)
    q = RNG.integers(lo, hi + 1, (6, 5, 3, 3)).astype(zp_dtype)
    n = q.shape[axis]
    for scale, zp in ((RNG.uniform(0.01, 0.1, n).astype(np.float32), RNG.integers(lo, hi, n).astype(zp_dtype)),
                      (np.float32(0.05), zp_dtype(3))):
        want = ios16.constexpr_affine_dequantize.decompress(q, np.asarray(zp), np.asarray(scale), axis)
        got = CONSTEXPR["constexpr_affine_dequantize"](
            {"quantized_data": q, "zero_point": np.asarray(zp), "scale": np.asarray(scale), "axis": np.int32(axis)})
        assert got.dtype == np.float32 and got.shape == q.shape
        np.testing.assert_array_equal(got, want.astype(np.float32))
        assert np.abs(got).max() > 0.5  # not a degenerate case


def test_affine_dequantize_fp16_scale_keeps_fp16():
    q = RNG.integers(-128, 128, (4, 8)).astype(np.int8)
    scale = np.full(4, 0.03, np.float16)
    got = CONSTEXPR["constexpr_affine_dequantize"](
        {"quantized_data": q, "zero_point": np.zeros(4, np.int8), "scale": scale, "axis": np.int32(0)})
    assert got.dtype == np.float16
    np.testing.assert_allclose(got, q * np.float32(scale[0]), rtol=1e-3)


def test_blockwise_shift_scale_and_cast_and_lut():
    data = RNG.integers(-128, 128, (4, 8)).astype(np.int8)
    scale = RNG.uniform(0.01, 0.1, (4, 2)).astype(np.float32)
    offset = RNG.integers(-5, 5, (4, 2)).astype(np.int8)
    want = ios18.constexpr_blockwise_shift_scale.decompress(data, scale, offset)
    got = CONSTEXPR["constexpr_blockwise_shift_scale"]({"data": data, "scale": scale, "offset": offset})
    np.testing.assert_allclose(got, want, rtol=1e-6)
    src = RNG.normal(size=(3, 3)).astype(np.float16)
    np.testing.assert_array_equal(CONSTEXPR["constexpr_cast"]({"source_val": src, "output_dtype": "fp32"}),
                                  src.astype(np.float32))
    lut = RNG.normal(size=16).astype(np.float32)
    idx = RNG.integers(0, 16, 30)
    packed = np.packbits(((idx[:, None] >> np.arange(4)) & 1).astype(np.uint8).reshape(-1), bitorder="little")
    want = ios16.constexpr_lut_to_dense.decompress(lut, packed, np.array([5, 6]))
    got = CONSTEXPR["constexpr_lut_to_dense"]({"lut": lut, "indices": packed, "shape": np.array([5, 6])})
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got.reshape(-1), lut[idx])


def test_int8_weight_program_runs_as_its_dequantized_float_twin(tmp_path):
    """The program linear_quantize_weights writes equals the float program with every weight replaced by its
    dequantized value: ferry's run of the int8 file against torch with those weights, to float32 noise."""
    torch = pytest.importorskip("torch")
    from ferry.coreml.mil import load_program

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 32, 3), torch.nn.ReLU(), torch.nn.Conv2d(32, 16, 3)).eval()
    x = torch.randn(1, 3, 16, 16)
    ml = ct.convert(torch.jit.trace(net, x), inputs=[ct.TensorType(name="x", shape=x.shape)],
                    convert_to="mlprogram", minimum_deployment_target=ct.target.iOS16,
                    compute_precision=ct.precision.FLOAT32)
    cfg = ct.optimize.coreml.OptimizationConfig(global_config=ct.optimize.coreml.OpLinearQuantizerConfig(
        mode="linear_symmetric", dtype="int8", granularity="per_channel", weight_threshold=0))
    q = ct.optimize.coreml.linear_quantize_weights(ml, config=cfg)
    path = tmp_path / "q.mlpackage"
    q.save(str(path))
    prog = load_program(path)
    assert prog.op_types().count("constexpr_affine_dequantize") == 2
    out = next(iter(prog.run({"x": x.numpy()}).values()))
    with torch.no_grad():
        for conv in (net[0], net[2]):  # the weights as the file holds them: symmetric int8 per output channel
            w = conv.weight
            s = w.abs().amax(dim=(1, 2, 3), keepdim=True) / 127
            conv.weight.copy_(torch.clamp(torch.round(w / s), -127, 127) * s)
        want = net(x).numpy()
    np.testing.assert_allclose(out, want, atol=1e-5)
    assert np.abs(out - want).max() < 1e-5 < np.abs(want).max()
