"""The MIL program of a Core ML ML Program, read from the package's spec and weight file, and run with numpy.

Core ML cannot predict on Linux (coremltools' `predict` is macOS only), so ferry executes the program itself:
the `main` function's block of operations, in order, each op by its numpy definition in `ferry.coreml.ops`.
Constants come from the spec (`immediateValue`) or from `weights/weight.bin` (`blobFileValue`), read with
coremltools' own blob reader (`libmilstoragepython._BlobStorageReader`), not by hand.

An op the interpreter does not know is a one-line FerryError naming its type and its output name; it never
guesses. Control flow (cond, while_loop) and stateful ops are outside what vision models need and are refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ferry.coreml import spec as specmod
from ferry.coreml.constexpr import CONSTEXPR
from ferry.coreml.ops import OPS, Args, Unsupported
from ferry.errors import FerryError

# MIL DataType enum values (MIL.proto) -> numpy
_DTYPES: dict[int, Any] = {1: np.bool_, 10: np.float16, 11: np.float32, 12: np.float64, 21: np.int8, 22: np.int16,
                           23: np.int32, 24: np.int64, 31: np.uint8, 32: np.uint16, 33: np.uint32, 34: np.uint64}
_BLOB_READERS = {np.float32: "read_float_data", np.float16: "read_fp16_data", np.int8: "read_int8_data",
                 np.uint8: "read_uint8_data", np.int16: "read_int16_data", np.uint16: "read_uint16_data",
                 np.int32: "read_int32_data", np.uint32: "read_uint32_data"}


@dataclass(frozen=True)
class Var:
    """A function input or an op output: name, numpy dtype name, shape (None for an unknown dimension)."""

    name: str
    dtype: str
    shape: tuple[int | None, ...] | None


@dataclass
class Program:
    """The `main` function of an ML Program, ready to run."""

    path: Path
    inputs: list[Var]
    outputs: list[str]
    operations: list[Any]  # MILSpec.Operation, in program order (consts included)
    opset: str
    model_dir: Path
    _consts: dict[str, Any] = field(default_factory=dict, repr=False)
    _readers: dict[str, Any] = field(default_factory=dict, repr=False)

    # -- structure -----------------------------------------------------------------------------------------
    def op_types(self) -> list[str]:
        return [op.type for op in self.operations]

    def unsupported(self) -> list[tuple[str, str]]:
        """(op type, output name) of every op the interpreter has no definition for."""
        return [(op.type, _op_name(op)) for op in self.operations
                if op.type != "const" and op.type not in OPS and op.type not in CONSTEXPR]

    def producers(self) -> dict[str, Any]:
        return {o.name: op for op in self.operations for o in op.outputs}

    def consumers(self, name: str) -> list[Any]:
        return [op for op in self.operations
                if any(b.name == name for arg in op.inputs.values() for b in arg.arguments)]

    def const(self, name: str) -> Any | None:
        """The value of a const op's output (or None if `name` is not a constant)."""
        if name in self._consts:
            return self._consts[name]
        op = self.producers().get(name)
        if op is None or op.type != "const":
            return None
        value = self._value(op.attributes["val"], name)
        self._consts[name] = value
        return value

    # -- execution -----------------------------------------------------------------------------------------
    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        missing = self.unsupported()
        if missing:
            op_type, name = missing[0]
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise FerryError(f"{self.path}: ferry's Core ML interpreter does not implement MIL op {op_type} "
                             f"(op {name}){more}; it cannot check this model on Linux (run it on macOS)")
        env: dict[str, Any] = {}
        for var in self.inputs:
            if var.name not in feeds:
                raise FerryError(f"{self.path}: no feed for input {var.name}; the inputs are "
                                 f"{', '.join(v.name for v in self.inputs)}")
            value = np.asarray(feeds[var.name])
            if var.shape is not None and (len(var.shape) != value.ndim or any(
                    s is not None and s != v for s, v in zip(var.shape, value.shape, strict=False))):
                raise FerryError(f"{self.path}: input {var.name} takes shape {list(var.shape)}, got "
                                 f"{list(value.shape)}")
            env[var.name] = value.astype(var.dtype, copy=False)
        for op in self.operations:
            if op.type == "const":
                name = op.outputs[0].name
                if name not in self._consts:
                    self._consts[name] = self._value(op.attributes["val"], name)
                env[name] = self._consts[name]
                continue
            if op.type in CONSTEXPR:  # compressed weights: expanded once, then a constant like any other
                name = op.outputs[0].name
                if name not in self._consts:
                    self._consts[name] = _as_declared(self._constexpr(op, env), op.outputs[0].type)
                env[name] = self._consts[name]
                continue
            args = Args({key: [_widen(self._binding(b, env, op)) for b in arg.arguments]
                         for key, arg in op.inputs.items()})
            try:
                result = OPS[op.type](args)
            except Unsupported as exc:
                raise FerryError(f"{self.path}: ferry's Core ML interpreter does not implement {exc} "
                                 f"(op {_op_name(op)}, type {op.type}); it cannot check this model on Linux") from None
            except (ValueError, IndexError, TypeError, KeyError) as exc:
                raise FerryError(f"{self.path}: MIL op {op.type} ({_op_name(op)}) failed in ferry's interpreter: "
                                 f"{type(exc).__name__}: {str(exc)[:200]}") from None
            results = result if isinstance(result, tuple) else (result,)
            if len(results) != len(op.outputs):
                raise FerryError(f"{self.path}: MIL op {op.type} ({_op_name(op)}) gave {len(results)} outputs, "
                                 f"the program declares {len(op.outputs)}")
            for out, value in zip(op.outputs, results, strict=True):
                env[out.name] = _as_declared(value, out.type)
        return {name: np.asarray(env[name]) for name in self.outputs}

    # -- values --------------------------------------------------------------------------------------------
    def _constexpr(self, op: Any, env: dict[str, Any]) -> np.ndarray:
        """A constexpr op's output: its parameters are attributes (iOS16) or const inputs (iOS18)."""
        values = {k: self._value(v, _op_name(op)) for k, v in op.attributes.items() if k != "name"}
        for key, arg in op.inputs.items():
            values[key] = self._binding(arg.arguments[0], env, op)
        try:
            return CONSTEXPR[op.type](values)
        except (ValueError, IndexError, TypeError, KeyError) as exc:
            raise FerryError(f"{self.path}: MIL op {op.type} ({_op_name(op)}) failed in ferry's interpreter: "
                             f"{type(exc).__name__}: {str(exc)[:200]}") from None

    def _binding(self, b: Any, env: dict[str, Any], op: Any) -> Any:
        if b.WhichOneof("binding") == "name":
            if b.name not in env:
                raise FerryError(f"{self.path}: op {_op_name(op)} reads {b.name}, which nothing before it "
                                 "defines; the program is malformed")
            return env[b.name]
        return self._value(b.value, _op_name(op))

    def _value(self, value: Any, where: str) -> Any:
        kind = value.WhichOneof("value")
        vtype = value.type
        if vtype.WhichOneof("type") != "tensorType":
            raise FerryError(f"{self.path}: constant {where} is a {vtype.WhichOneof('type')}; ferry's interpreter "
                             "reads tensor constants only")
        tt = vtype.tensorType
        shape = [int(d.constant.size) for d in tt.dimensions]
        dtype = _DTYPES.get(tt.dataType)
        if kind == "immediateValue":
            return _immediate(value.immediateValue, tt.dataType, dtype, shape, self.path, where)
        if kind == "blobFileValue":
            if dtype not in _BLOB_READERS:
                raise FerryError(f"{self.path}: constant {where} is stored as MIL data type {tt.dataType}, which "
                                 "ferry's interpreter does not read (compressed/palettised weights)")
            return self._blob(value.blobFileValue, dtype, shape, where)
        raise FerryError(f"{self.path}: constant {where} has no value")

    def _blob(self, blob: Any, dtype: Any, shape: list[int], where: str) -> np.ndarray:
        name = blob.fileName
        rel = name.split("@model_path/", 1)[1] if name.startswith("@model_path/") else name
        file = (self.model_dir / rel).resolve()
        if not file.is_relative_to(self.model_dir.resolve()):
            raise FerryError(f"{self.path}: weight file {name} of {where} leaves the package")
        reader = self._readers.get(str(file))
        if reader is None:
            if not file.is_file():
                raise FerryError(f"{file}: missing weight file of {self.path}; copy the whole .mlpackage")
            specmod.coremltools()
            from coremltools.libmilstoragepython import _BlobStorageReader

            reader = self._readers[str(file)] = _BlobStorageReader(str(file))
        try:
            data = getattr(reader, _BLOB_READERS[dtype])(int(blob.offset))
        except Exception as exc:  # noqa: BLE001 - the C++ reader raises RuntimeError/ValueError
            raise FerryError(f"{file}: cannot read the weights of {where} at offset {blob.offset} "
                             f"({str(exc)[:120]}); the package is truncated or corrupt") from None
        arr = np.asarray(data)
        if dtype is np.float16 and arr.dtype != np.float16:
            arr = arr.view(np.float16)
        arr = arr.astype(dtype, copy=False)
        if arr.size != int(np.prod(shape)):
            raise FerryError(f"{file}: {where} holds {arr.size} values for shape {shape}; the package is corrupt")
        return arr.reshape(shape)


def _immediate(imm: Any, data_type: int, dtype: Any, shape: list[int], path: Path, where: str) -> Any:
    if imm.WhichOneof("value") != "tensor":
        raise FerryError(f"{path}: constant {where} is not a tensor; ferry's interpreter reads tensor constants")
    t = imm.tensor
    which = t.WhichOneof("value")
    if data_type == 2:  # STRING
        values = list(t.strings.values)
        return values[0] if not shape and len(values) == 1 else np.asarray(values)
    if which == "bytes":
        if dtype is None:
            raise FerryError(f"{path}: constant {where} has MIL data type {data_type}, unknown to ferry")
        arr = np.frombuffer(t.bytes.values, dtype=dtype).copy()
    elif which is None:
        arr = np.zeros(0, dtype=dtype or np.float32)
    else:
        arr = np.asarray(list(getattr(t, which).values))
        arr = arr.astype(dtype) if dtype is not None else arr
    return arr.reshape(shape) if arr.size == int(np.prod(shape)) else arr


def _widen(value: Any) -> Any:
    """float16 operands are computed in float32; the op's output is rounded back to the float16 the program
    declares (_as_declared). So a FLOAT16 program runs as float16 storage between ops with float32 arithmetic inside
    each op, what Core ML's GPU does, and numpy's float16 kernels (no BLAS, float16 running sums in the depthwise
    taps) are avoided: they were slower and rounded every partial sum."""
    if isinstance(value, np.ndarray) and value.dtype == np.float16:
        return value.astype(np.float32)
    return value


def _as_declared(value: Any, vtype: Any) -> Any:
    """Keep the dtype the program declares for an op output (numpy would widen int32 + int32 consts, etc.)."""
    if vtype.WhichOneof("type") != "tensorType" or isinstance(value, str):
        return value
    dtype = _DTYPES.get(vtype.tensorType.dataType)
    arr = np.asarray(value)
    return arr.astype(dtype, copy=False) if dtype is not None and arr.dtype != dtype else arr


def _op_name(op: Any) -> str:
    return op.outputs[0].name if op.outputs else op.type


def _var(nvt: Any) -> Var:
    vt = nvt.type
    if vt.WhichOneof("type") != "tensorType":
        return Var(nvt.name, "float32", None)
    tt = vt.tensorType
    shape = tuple(int(d.constant.size) if d.WhichOneof("dimension") == "constant" else None for d in tt.dimensions)
    return Var(nvt.name, np.dtype(_DTYPES.get(tt.dataType, np.float32)).name, shape)


def load_program(path: str | Path, function: str = "main") -> Program:
    """The `main` function of an ML Program (.mlpackage). FerryError for a neuralnetwork model or no program."""
    f = specmod.read(path)
    return program_of(f, function)


def program_of(f: specmod.CoreMLFile, function: str = "main") -> Program:
    if f.kind != "mlProgram":
        raise FerryError(f"{f.path}: a Core ML {f.kind} model; ferry interprets ML Programs (mlprogram) only: "
                         "convert with convert_to='mlprogram'")
    prog = f.spec.mlProgram
    if function not in prog.functions:
        raise FerryError(f"{f.path}: the ML Program has no function {function!r} (it has "
                         f"{', '.join(prog.functions) or 'none'})")
    fn = prog.functions[function]
    opset = fn.opset if fn.opset in fn.block_specializations else next(iter(fn.block_specializations), "")
    if not opset:
        raise FerryError(f"{f.path}: function {function} has no block; the program is malformed")
    block = fn.block_specializations[opset]
    for op in block.operations:
        if len(op.blocks):
            raise FerryError(f"{f.path}: MIL op {op.type} ({_op_name(op)}) has nested blocks (control flow); "
                             "ferry's interpreter runs straight-line programs only")
    return Program(path=f.path, inputs=[_var(i) for i in fn.inputs], outputs=list(block.outputs),
                   operations=list(block.operations), opset=opset, model_dir=f.model_dir)
