"""What LiteRT runs in a .tflite file but no converter here reads, rewritten into what they read, in a copy.

Two spellings, both found on MediaPipe's files (mediapipe-rpi4 0.8.8), both rewritten before tf2onnx and OpenVINO's
TFLite frontend see the file:

- **Convolution2DTransposeBias**, the custom op MediaPipe's segmentation models (selfie_segmentation and its kin)
  end in: a transposed convolution with a bias, inputs (input, weights OHWI, bias), options the raw bytes of TFLite's
  C struct `TfLiteTransposeConvParams` (padding 1 SAME / 2 VALID, stride_width, stride_height). LiteRT runs it
  through XNNPACK, which knows MediaPipe's ops; tf2onnx leaves `TFL_Convolution2DTransposeBias` in the graph and
  OpenVINO's frontend has no translator. TFLite's builtin TRANSPOSE_CONV takes the same weights layout and, from its
  version 3, a bias as fourth input (output_shape, weights, input, bias): the custom op is that builtin with its inputs
  reordered and its output shape as a constant, the same arithmetic (LiteRT: the same outputs to 1e-12 on
  selfie_segmentation, XNNPACK or not).
- **DENSIFY**: weights stored sparse (TFLite's sparsity format: traversal order, block map, CSR dimensions), densified
  by LiteRT when the model is prepared (MediaPipe's pose detector, its sparse face and hand models). tf2onnx 1.17
  reads every constant buffer as dense and fails ('cannot reshape array'). The dense values are read back from
  LiteRT itself (its DENSIFY kernel, run once on the reference kernels with every tensor kept) and stored as the
  DENSIFY output's constant, the op dropped: no sparse decoder written here, LiteRT's is the one the file was made for.

The edit uses TensorFlow's own flatbuffer_utils (read_model/write_model over the generated schema's object API) on a
copy: the user's file is never touched. Rejected: PINTO's tflite2tensorflow (rebuilds the whole model in TensorFlow
through its own pinned stack, to fix one op), a tf2onnx handler for the op (fixes ONNX only, not OpenVINO's
frontend). MediaPipe's other custom ops (MaxPoolingWithArgmax2D, MaxUnpooling2D, TransformLandmarks,
TransformTensorBilinear, Landmarks2TransformMatrix) have no builtin equivalent and stay unreachable, named as such.
"""

from __future__ import annotations

import atexit
import shutil
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

TRANSPOSE_CONV_BIAS = "Convolution2DTransposeBias"
DENSIFY = "DENSIFY"
TFLITE_PADDING = {1: "SAME", 2: "VALID"}  # TfLitePadding: 0 unknown, 1 same, 2 valid
TRANSPOSE_CONV_WITH_BIAS_VERSION = 3  # TRANSPOSE_CONV's version that takes a bias input


@dataclass
class Rewrite:
    """A copy of a .tflite file with what converters cannot read rewritten, and what was rewritten (for the route)."""
    path: Path
    replaced: dict[str, int] = field(default_factory=dict)  # op -> how many

    def note(self) -> str:
        parts = []
        if n := self.replaced.get(TRANSPOSE_CONV_BIAS):
            parts.append(f"MediaPipe's custom op {TRANSPOSE_CONV_BIAS} x{n} rewritten as builtin TRANSPOSE_CONV with "
                         "its bias (the same arithmetic)")
        if n := self.replaced.get(DENSIFY):
            parts.append(f"{n} sparse weight tensor(s) densified by LiteRT's own DENSIFY and stored dense")
        return "; ".join(parts) + " in a copy, so the converter can translate it"


def _transpose_conv_params(op) -> tuple[str, int, int] | None:
    raw = bytes(op.customOptions) if op.customOptions is not None else b""
    if len(raw) < 12:
        return None
    padding, stride_w, stride_h = struct.unpack("<iii", raw[:12])
    if padding not in TFLITE_PADDING or stride_w < 1 or stride_h < 1:
        return None
    return TFLITE_PADDING[padding], stride_w, stride_h


def op_code(model, op) -> tuple[str | None, int]:
    """An operator's (custom op name or None, builtin number) in flatbuffer_utils' object model."""
    code = model.operatorCodes[op.opcodeIndex]
    custom = code.customCode.decode(errors="replace") if code.customCode is not None else None
    return custom, max(int(code.builtinCode), int(code.deprecatedBuiltinCode))


def with_builtin_equivalents(path: Path) -> Rewrite | None:
    """A rewritten copy of `path` (in a temporary folder that lives as long as the process) when it holds something
    above that can be rewritten (a static output shape and a known padding; DENSIFY in the main graph, where LiteRT
    can run it); None when it holds none, or cannot be read (the converter then gives its own verdict on the
    original). Callers hold exporters.quiet(): TensorFlow's import chatter stays off the terminal."""
    try:
        import numpy as np
        from tensorflow.lite.python import schema_py_generated as schema
        from tensorflow.lite.tools import flatbuffer_utils

        model = flatbuffer_utils.read_model(str(path))
    except Exception:  # noqa: BLE001 - no TensorFlow, or not a flatbuffer: nothing to rewrite
        return None
    kinds = {op_code(model, op) for g in model.subgraphs for op in g.operators}
    has_transpose = any(custom == TRANSPOSE_CONV_BIAS for custom, _ in kinds)
    has_densify = any(custom is None and number == schema.BuiltinOperator.DENSIFY for custom, number in kinds)
    if not (has_transpose or has_densify):
        return None
    rewrite = Rewrite(path)
    if has_transpose:
        _transpose_conv(model, schema, np, rewrite)
    if has_densify:
        _densify(path, model, schema, np, rewrite)
    if not rewrite.replaced:
        return None
    folder = Path(tempfile.mkdtemp(prefix="ferry-tflite-"))
    _FOLDERS.append(folder)
    rewrite.path = folder / path.name
    flatbuffer_utils.write_model(model, str(rewrite.path))
    return rewrite


def _transpose_conv(model, schema, np, rewrite: Rewrite) -> None:
    opcode = None
    for graph in model.subgraphs:
        for op in graph.operators:
            if op_code(model, op)[0] != TRANSPOSE_CONV_BIAS or len(op.inputs) != 3 or len(op.outputs) != 1:
                continue
            params = _transpose_conv_params(op)
            out = graph.tensors[op.outputs[0]]
            signature = out.shapeSignature if out.shapeSignature is not None else out.shape
            if params is None or out.shape is None or any(int(d) < 1 for d in signature):
                continue  # an unknown padding or a dynamic output size: left as it is, the converter names it
            if opcode is None:
                opcode = _builtin_opcode(model, schema, schema.BuiltinOperator.TRANSPOSE_CONV,
                                         TRANSPOSE_CONV_WITH_BIAS_VERSION)
            padding, stride_w, stride_h = params
            shape = _constant(model, graph, schema, np, np.asarray(out.shape, dtype=np.int32),
                              (out.name or b"transpose_conv") + b"/output_shape", schema.TensorType.INT32)
            options = schema.TransposeConvOptionsT()
            options.padding = getattr(schema.Padding, padding)
            options.strideW, options.strideH = stride_w, stride_h
            x, weights, bias = (int(i) for i in op.inputs)
            op.opcodeIndex = opcode
            op.inputs = np.array([shape, weights, x, bias], dtype=np.int32)
            op.builtinOptionsType = schema.BuiltinOptions.TransposeConvOptions
            op.builtinOptions = options
            op.customOptions = None
            rewrite.replaced[TRANSPOSE_CONV_BIAS] = rewrite.replaced.get(TRANSPOSE_CONV_BIAS, 0) + 1


def _densify(path: Path, model, schema, np, rewrite: Rewrite) -> None:
    """DENSIFY ops of the main graph: their outputs read from LiteRT, stored as constants, the ops dropped."""
    graph = model.subgraphs[0]
    ops = [op for op in graph.operators
           if op_code(model, op) == (None, schema.BuiltinOperator.DENSIFY) and len(op.outputs) == 1]
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        interp = Interpreter(str(path), experimental_preserve_all_tensors=True,
                             experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        for d in interp.get_input_details():
            interp.resize_tensor_input(d["index"], [max(int(v), 1) for v in d["shape_signature"]])
        interp.allocate_tensors()
        for d in interp.get_input_details():
            interp.set_tensor(d["index"], np.zeros(d["shape"], dtype=d["dtype"]))
        interp.invoke()
        dense = {int(op.outputs[0]): np.ascontiguousarray(interp.get_tensor(int(op.outputs[0]))) for op in ops}
    except Exception:  # noqa: BLE001 - LiteRT cannot run the file: the converter names what stops it
        return
    for op in ops:
        out_index = int(op.outputs[0])
        values = dense[out_index]
        out = graph.tensors[out_index]
        if list(values.shape) != [int(d) for d in out.shape]:
            continue
        model.buffers.append(schema.BufferT())
        model.buffers[-1].data = np.frombuffer(values.tobytes(), dtype=np.uint8)
        out.buffer = len(model.buffers) - 1
        sparse = graph.tensors[int(op.inputs[0])]  # left unread by any op; made dense too, as some readers walk all
        sparse.buffer, sparse.sparsity, sparse.shape = out.buffer, None, out.shape
        graph.operators.remove(op)
        rewrite.replaced[DENSIFY] = rewrite.replaced.get(DENSIFY, 0) + 1


def _constant(model, graph, schema, np, values, name: bytes, dtype: int) -> int:
    """A new constant tensor in `graph` holding `values`; its index."""
    model.buffers.append(schema.BufferT())
    model.buffers[-1].data = np.frombuffer(values.tobytes(), dtype=np.uint8)
    tensor = schema.TensorT()
    tensor.shape = np.array(values.shape, dtype=np.int32)
    tensor.type = dtype
    tensor.buffer = len(model.buffers) - 1
    tensor.name = name
    graph.tensors.append(tensor)
    return len(graph.tensors) - 1


def _builtin_opcode(model, schema, builtin: int, version: int) -> int:
    for i, code in enumerate(model.operatorCodes):
        if code.customCode is None and max(int(code.builtinCode), int(code.deprecatedBuiltinCode)) == builtin:
            code.version = max(int(code.version), version)
            return i
    code = schema.OperatorCodeT()
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = min(builtin, schema.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES)
    code.version = version
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


_FOLDERS: list[Path] = []  # the copies' folders, removed when the process ends (an ov.Model read from one is in memory)


@atexit.register
def _clean() -> None:
    for folder in _FOLDERS:
        shutil.rmtree(folder, ignore_errors=True)
