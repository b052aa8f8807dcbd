"""MediaPipe custom ops that are a TFLite builtin in another spelling, rewritten as that builtin before converting.

MediaPipe's segmentation models (selfie_segmentation, hair_segmentation and their kin) end in
`Convolution2DTransposeBias`: a transposed convolution with a bias, stored as a custom op whose options are the raw
bytes of TFLite's C struct `TfLiteTransposeConvParams` (padding, stride_width, stride_height; padding 1 SAME, 2
VALID) and whose inputs are (input, weights OHWI, bias). LiteRT runs it through XNNPACK, which knows MediaPipe's ops,
but no converter here translates it: tf2onnx leaves `TFL_Convolution2DTransposeBias` in the graph and OpenVINO's
TFLite frontend has no translator. TFLite's builtin TRANSPOSE_CONV takes the same weights layout and, since its
version 3, a bias as fourth input (output_shape, weights, input, bias), so the custom op is that builtin with its
inputs reordered and the output shape as a constant: the same arithmetic (LiteRT gives the same outputs to 1e-12 on
selfie_segmentation, XNNPACK or not), and both converters translate it.

The edit is made with TensorFlow's own flatbuffer_utils (read_model/write_model over the generated schema's object
API), on a copy: the user's file is never touched. Rejected: PINTO's tflite2tensorflow (rebuilds the whole model in
TensorFlow through its own pinned stack, to fix one op), a tf2onnx handler for the op (fixes ONNX only, not
OpenVINO's frontend). MediaPipe's other custom ops (MaxPoolingWithArgmax2D, MaxUnpooling2D, TransformLandmarks,
TransformTensorBilinear, Landmarks2TransformMatrix) have no builtin equivalent and stay unreachable, named as such.
"""

from __future__ import annotations

import atexit
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

TRANSPOSE_CONV_BIAS = "Convolution2DTransposeBias"
TFLITE_PADDING = {1: "SAME", 2: "VALID"}  # TfLitePadding: 0 unknown, 1 same, 2 valid
TRANSPOSE_CONV_WITH_BIAS_VERSION = 3  # TRANSPOSE_CONV's version that takes a bias input


@dataclass
class Rewrite:
    """A copy of a .tflite file with custom ops replaced by builtins, and what was replaced (for the route line)."""
    path: Path
    replaced: dict[str, int]  # custom op -> how many

    def note(self) -> str:
        ops = ", ".join(f"{op} x{n}" for op, n in self.replaced.items())
        return (f"MediaPipe's custom op {ops} rewritten as builtin TRANSPOSE_CONV with its bias (the same arithmetic) "
                "in a copy, so the converter can translate it")


def _transpose_conv_params(op) -> tuple[str, int, int] | None:
    raw = bytes(op.customOptions) if op.customOptions is not None else b""
    if len(raw) < 12:
        return None
    padding, stride_w, stride_h = struct.unpack("<iii", raw[:12])
    if padding not in TFLITE_PADDING or stride_w < 1 or stride_h < 1:
        return None
    return TFLITE_PADDING[padding], stride_w, stride_h


def with_builtin_equivalents(path: Path) -> Rewrite | None:
    """A rewritten copy of `path` (in a temporary folder that lives as long as the process) when it holds a custom
    op with a builtin equivalent that can be rewritten (static output shape, known padding); None when it holds
    none, or cannot be read (the converter then gives its own verdict on the original). Callers hold
    exporters.quiet(): TensorFlow's import chatter stays off the terminal."""
    try:
        import numpy as np
        from tensorflow.lite.python import schema_py_generated as schema
        from tensorflow.lite.tools import flatbuffer_utils

        model = flatbuffer_utils.read_model(str(path))
    except Exception:  # noqa: BLE001 - no TensorFlow, or not a flatbuffer: nothing to rewrite
        return None
    custom = {i for i, c in enumerate(model.operatorCodes)
              if c.customCode is not None and c.customCode.decode(errors="replace") == TRANSPOSE_CONV_BIAS}
    if not custom:
        return None
    opcode = _builtin_opcode(model, schema, schema.BuiltinOperator.TRANSPOSE_CONV, TRANSPOSE_CONV_WITH_BIAS_VERSION)
    count = 0
    for graph in model.subgraphs:
        for op in graph.operators:
            if op.opcodeIndex not in custom or len(op.inputs) != 3 or len(op.outputs) != 1:
                continue
            params = _transpose_conv_params(op)
            out = graph.tensors[op.outputs[0]]
            signature = out.shapeSignature if out.shapeSignature is not None else out.shape
            if params is None or out.shape is None or any(int(d) < 1 for d in signature):
                continue  # an unknown padding or a dynamic output size: left as it is, the converter names it
            padding, stride_w, stride_h = params
            model.buffers.append(schema.BufferT())
            model.buffers[-1].data = np.asarray(out.shape, dtype=np.int32).tobytes()
            shape = schema.TensorT()
            shape.shape = np.array([len(out.shape)], dtype=np.int32)
            shape.type = schema.TensorType.INT32
            shape.buffer = len(model.buffers) - 1
            shape.name = (out.name or b"transpose_conv") + b"/output_shape"
            graph.tensors.append(shape)
            options = schema.TransposeConvOptionsT()
            options.padding = getattr(schema.Padding, padding)
            options.strideW, options.strideH = stride_w, stride_h
            x, weights, bias = (int(i) for i in op.inputs)
            op.opcodeIndex = opcode
            op.inputs = np.array([len(graph.tensors) - 1, weights, x, bias], dtype=np.int32)
            op.builtinOptionsType = schema.BuiltinOptions.TransposeConvOptions
            op.builtinOptions = options
            op.customOptions = None
            count += 1
    if not count:
        return None
    folder = Path(tempfile.mkdtemp(prefix="ferry-tflite-"))
    _FOLDERS.append(folder)
    dest = folder / path.name
    flatbuffer_utils.write_model(model, str(dest))
    return Rewrite(dest, {TRANSPOSE_CONV_BIAS: count})


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
