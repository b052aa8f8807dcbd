"""int8 ONNX: onnxruntime.quantization.quantize_static, QDQ format, calibrated on the photos through the contract.

QDQ (QuantizeLinear/DequantizeLinear pairs around float ops) rather than QOperator (QLinearConv...): it is the
format onnxruntime recommends for CPU, OpenVINO reads it as FakeQuantize, and the graph keeps its float op names.
Weights int8 per output channel (a per-tensor scale loses the small channels of depthwise convolutions), activations
uint8 (onnxruntime's U8S8 CPU kernels), MinMax calibration. The plain float-input model is quantized; ferry's
preprocessing nodes go in front afterwards, so the uint8 pixels -> float step stays exact.

fp16: onnxruntime's float16 converter (onnxruntime.transformers.float16) with float32 inputs and outputs kept, so
the same feeds work; onnxruntime's CPU provider computes most float16 ops in float32 (see README, Limitations).
"""

from __future__ import annotations

import logging
from pathlib import Path

from ferry.errors import require
from ferry.op_errors import ConversionError
from ferry.quantize.calibration import Calibration


def quantize_int8(plain: Path, dest: Path, calib: Calibration) -> str:
    """`plain` (float input) -> `dest`, QDQ int8. Returns the route text."""
    require("onnxruntime", "onnx")
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from ferry.runtimes.onnx_graph import load_onnx

    model = load_onnx(plain)
    inputs = [i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    if len(inputs) != 1:
        raise ConversionError(f"{plain}: int8 calibration feeds one image input; this model has {len(inputs)} "
                              f"({', '.join(inputs)})", tool="onnxruntime.quantization")
    name = inputs[0]

    class Photos(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(calib.tensors)

        def get_next(self):
            x = next(self._it, None)
            return None if x is None else {name: x}

    from ferry.convert.exporters import quiet

    source, upgraded = _at_least_opset(plain, model, PER_CHANNEL_OPSET)
    logging.getLogger("root").setLevel(logging.ERROR)
    try:
        with quiet():  # onnxruntime's calibration session logs every unused initializer to stderr
            quantize_static(str(source), str(dest), Photos(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            nodes_to_exclude=_reads_constant_nodes(model))
    except Exception as exc:  # noqa: BLE001 - the quantizer raises anything; its first line names the node
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ConversionError(f"{plain}: onnxruntime.quantization.quantize_static failed: {first}",
                              tool="onnxruntime.quantization") from None
    finally:
        if source != plain:
            source.unlink(missing_ok=True)
    return (f"onnxruntime.quantization.quantize_static (QDQ, int8 weights per channel, uint8 activations, MinMax "
            f"on {len(calib)} photos through the contract)" + (f"; {upgraded}" if upgraded else ""))


PER_CHANNEL_OPSET = 13  # DequantizeLinear's `axis` (per-channel weights) is opset 13


def _at_least_opset(plain: Path, model, opset: int) -> tuple[Path, str | None]:
    """`plain`, or a copy beside it at `opset` (onnx.version_converter) when its default-domain opset is older:
    quantize_static writes per-channel DequantizeLinear with `axis` into the file's own opset, and at 11 (paddle2onnx's
    PP-OCRv6 recogniser) that is an invalid model. Returns (file to quantize, what was done or None)."""
    import onnx
    from onnx import version_converter

    have = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), opset)
    if have >= opset:
        return plain, None
    try:
        newer = version_converter.convert_version(model, opset)
    except Exception as exc:  # noqa: BLE001 - the converter lacks an adapter for some op
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ConversionError(f"{plain}: opset {have} is too old for per-channel int8 (DequantizeLinear axis needs "
                              f"opset {opset}) and onnx.version_converter cannot raise it ({first}); export the "
                              f"model at opset {opset} or later", tool="onnx.version_converter") from None
    step = plain.with_name(f".{plain.stem}.opset{opset}.onnx")
    onnx.save(newer, str(step))
    return step, f"the model's opset {have} raised to {opset} first (onnx.version_converter)"


def _reads_constant_nodes(model) -> list[str]:
    """Nodes that read a float `Constant` node's output (a Pad's fill value, a Mul by a scalar): left float.
    quantize_static quantizes such constants as activations (QuantizeLinear on a Constant), which OpenCV DNN 4.14
    refuses ("ERROR during processing node [QuantizeLinear] /_conv_stem/static_padding/Constant_8_output_0_
    QuantizeLinear" on EfficientNet-Lite0); excluded, cv2.dnn loads the file (measured: benchmarks/README.md)."""
    from onnx import TensorProto

    consts = {o for n in model.graph.node if n.op_type == "Constant"
              for a in n.attribute if a.name == "value" and a.t.data_type in (TensorProto.FLOAT, TensorProto.FLOAT16)
              for o in n.output}
    # Clip reads its bounds from constants too, but the quantizer folds Clip into the producer's output range
    # (ReLU6: 0..6) and never quantizes the bounds; leaving Clip float cost EfficientNet-Lite0 its accuracy
    # (max abs 4.1, top-1 agreement 0.7), so it stays quantized.
    return [n.name for n in model.graph.node
            if n.name and n.op_type != "Clip" and any(i in consts for i in n.input)]


def convert_fp16(plain: Path, dest: Path) -> str:
    """`plain` -> `dest` with float16 weights and compute, float32 inputs and outputs."""
    onnx = require("onnx", "onnx")
    from onnxruntime.transformers.float16 import convert_float_to_float16

    from ferry.runtimes.onnx_graph import load_onnx

    model = convert_float_to_float16(load_onnx(plain), keep_io_types=True)
    _toposort(model.graph)  # the converter appends its input Casts after the nodes that read them
    onnx.save(model, str(dest))
    return "onnxruntime float16 converter (float16 weights and ops, float32 inputs and outputs kept)"


def _toposort(graph) -> None:
    """Order the graph's nodes so every node comes after the producers of its inputs (ONNX requires it)."""
    known = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(i in known for i in n.input)]
        if not ready:  # a cycle or an input nothing makes: leave the rest as they were, the checker will say
            ordered.extend(pending)
            break
        for n in ready:
            ordered.append(n)
            known.update(n.output)
        pending = [n for n in pending if n not in ready]
    del graph.node[:]
    graph.node.extend(ordered)
