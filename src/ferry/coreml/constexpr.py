"""Compile-time (constexpr) MIL ops: compressed weights that Core ML expands when it loads the model.

What `ct.optimize.coreml` writes (int8 linear weight quantization, palettization) and what the interpreter must
expand before any op reads the weight. Each is computed once per program, like a const, by the formula its
coremltools definition documents (coremltools/converters/mil/mil/ops/defs/iOS16/constexpr_ops.py and
iOS18/compression.py); tests/coreml/test_constexpr.py holds each against coremltools' own `decompress`.

    constexpr_affine_dequantize (iOS16)   scale * (quantized_data - zero_point), scale/zero_point scalars or vectors
                                           along `axis`
    constexpr_cast (iOS16)                 source_val cast to output_dtype (fp16 weights stored, fp32 used)
    constexpr_lut_to_dense (iOS16)         lut[indices], indices packed n-bit little-endian, to `shape`
    constexpr_blockwise_shift_scale (iOS18) scale * (data - offset), scale/offset broadcast per block
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

CONSTEXPR: dict[str, Callable[[dict[str, Any]], np.ndarray]] = {}

_DTYPE_NAMES = {"fp16": np.float16, "fp32": np.float32, "int8": np.int8, "uint8": np.uint8, "int32": np.int32}


def _register(name: str):
    def add(fn):
        CONSTEXPR[name] = fn
        return fn
    return add


@_register("constexpr_affine_dequantize")
def affine_dequantize(v: dict[str, Any]) -> np.ndarray:
    q = np.asarray(v["quantized_data"])
    scale = np.asarray(v["scale"])
    zp = np.asarray(v["zero_point"])
    axis = int(np.asarray(v["axis"]))
    shape = [1] * q.ndim
    shape[axis] = -1

    def along(a: np.ndarray) -> np.ndarray:
        return a.reshape(shape) if a.ndim == 1 and a.size > 1 else a.reshape(()) if a.size == 1 else a

    out = along(scale).astype(np.float32) * (q.astype(np.float32) - along(zp).astype(np.float32))
    return out.astype(scale.dtype)


@_register("constexpr_cast")
def cast(v: dict[str, Any]) -> np.ndarray:
    dtype = v["output_dtype"]
    dtype = dtype if not isinstance(dtype, np.ndarray) else dtype.item()
    return np.asarray(v["source_val"]).astype(_DTYPE_NAMES[str(dtype)])


@_register("constexpr_lut_to_dense")
def lut_to_dense(v: dict[str, Any]) -> np.ndarray:
    lut = np.asarray(v["lut"])
    shape = [int(s) for s in np.asarray(v["shape"]).reshape(-1)]
    size = int(np.prod(shape))
    nbits = int(np.log2(lut.shape[0]))
    bits = np.unpackbits(np.asarray(v["indices"], dtype=np.uint8), bitorder="little")[: size * nbits]
    indices = (bits.reshape(size, nbits) * (1 << np.arange(nbits))).sum(axis=1)
    return lut[indices].reshape(shape)


@_register("constexpr_blockwise_shift_scale")
def blockwise_shift_scale(v: dict[str, Any]) -> np.ndarray:
    data = np.asarray(v["data"])
    scale = np.asarray(v["scale"])
    offset = v.get("offset")
    x = data.astype(np.float32)
    if offset is not None:
        x = x - _blocks(np.asarray(offset).astype(np.float32), data.shape)
    return (x * _blocks(scale.astype(np.float32), data.shape)).astype(scale.dtype)


def _blocks(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Repeat each element of `a` over its block: data.shape[i] / a.shape[i] elements along axis i."""
    for axis, (n, m) in enumerate(zip(shape, a.shape, strict=True)):
        if m != n:
            a = np.repeat(a, n // m, axis=axis)
    return a
