"""What a model file computes in: fp32, fp16, int8 weights only, or int8 throughout, read from the file itself.

Why: a quantised or half-precision deployment drifts from its float source by design, so `ferry check` must know the
precision of every target before it can judge it fairly (ferry.compare.precision_rules), and `ferry inspect` says
it so a user knows what they ship. The answer is read from the graph, not from the file name or metadata:

    fp32          every weight float32, float compute (a framework source is taken as fp32, said in the evidence)
    fp16          weights stored in float16 (and/or compute in float16): ONNX float16 tensors and Casts, TFLite
                  float16 weights behind DEQUANTIZE ops, OpenVINO f16 constants behind Convert (what
                  `ov.save_model` writes by default: the compute stays f32, the weights were rounded), Core ML
                  fp16 consts/ops (FLOAT16 compute precision) or fp16 neuralnetwork weights
    int8-weights  integer weights dequantised for float (or dynamically quantised) compute: ONNX
                  DynamicQuantizeLinear/ConvInteger/MatMulInteger/DynamicQuantizeLSTM (quantize_dynamic), weight-only
                  DequantizeLinear; TFLite dynamic range (int8 weights, float activations); OpenVINO i8/u8 weight
                  constants (NNCF weight compression); Core ML constexpr dequantise / palettised weights
    int4-weights  as int8-weights with 4-bit weights (OpenVINO u4/i4, ONNX MatMulNBits); judged by the int8 rule
    int8          activations quantised too: ONNX QDQ on activations, QLinear* ops; TFLite int8/uint8 activation
                  tensors with quantisation parameters (full integer); OpenVINO FakeQuantize (NNCF/POT, or a QDQ ONNX)

`detect(path)` returns a `Precision` with the kind, the evidence in words (which ops, which tensor types, what share
of the weights) and the weight share by dtype. It parses the file only (protobuf/flatbuffer/XML): no runtime
session, so `inspect` and `check` pay milliseconds for it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ferry.errors import FerryError

FP32 = "fp32"
FP16 = "fp16"
INT8_WEIGHTS = "int8-weights"
INT4_WEIGHTS = "int4-weights"
INT8 = "int8"
KINDS = (FP32, FP16, INT8_WEIGHTS, INT4_WEIGHTS, INT8)


@dataclass
class Precision:
    """What a file computes in (`kind`, one of KINDS), with the evidence read from it."""

    kind: str
    evidence: list[str] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)  # share of weight elements by dtype name
    compute: str = "fp32"  # what the arithmetic runs in as the file says it: fp32, fp16, int8

    @property
    def reduced(self) -> bool:
        """Anything below fp32: the target is judged by the reduced-precision rule."""
        return self.kind != FP32

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "compute": self.compute,
                "weights": {k: round(v, 4) for k, v in self.weights.items()}, "evidence": self.evidence}

    def summary(self) -> str:
        """One line: the kind and the strongest evidence."""
        return f"{self.kind} ({self.evidence[0]})" if self.evidence else self.kind


def detect(path: str | Path | Any) -> Precision:
    """The precision of a model file (or a loaded `ferry.runtimes.base.Model`: its file is read)."""
    from ferry.formats import COREML, ONNX, OPENVINO, TFLITE, detect_format

    loaded = not isinstance(path, str | Path)
    p = path.path if loaded else path
    fmt = path.format if loaded else detect_format(p)
    if fmt == ONNX:
        return _onnx(Path(p))
    if fmt == TFLITE:
        return _tflite(Path(p))
    if fmt == OPENVINO:
        return _openvino(Path(p))
    if fmt == COREML:
        return _coreml(Path(p))
    if fmt == "ferry-reference":
        return Precision(FP32, ["a saved reference: the source's float outputs"])
    return Precision(FP32, [f"a {fmt} source: taken as float32 (its parameters' dtype is not read)"])


def _dtype_name(names: dict[int, str], code: int) -> str:
    name = names.get(code, str(code))
    return "float32" if name == "float" else name


# Weights stored as float32 whose values are all float16 numbers: an fp16 model whose weights a converter widened
# back (OpenVINO folds an fp16 ONNX's Casts into f32 constants when it saves an IR; found by the mutation suite).
# A float32 weight of a trained or random model is exactly a float16 number with odds of about 2^-13 (its low 13
# mantissa bits zero), so a share above FP16_EXACT is no accident.
FP16_EXACT = 0.99
MIN_WEIGHTS = 4096
_SAMPLE = 1 << 20


def _fp16_exact(arrays) -> float:
    """The share of nonzero float32 weight values that are exactly float16 numbers (up to _SAMPLE values read)."""
    import numpy as np

    seen = exact = 0
    for a in arrays:
        v = np.asarray(a, np.float32).ravel()[:_SAMPLE - seen]
        v = v[v != 0]
        seen += v.size
        with np.errstate(over="ignore"):
            exact += int(np.count_nonzero(v.astype(np.float16).astype(np.float32) == v))
        if seen >= _SAMPLE:
            break
    return exact / seen if seen >= MIN_WEIGHTS else 0.0  # a few hand-set weights (1.0, 0.5) prove nothing


def _widened(share: float, shares: dict[str, float]) -> Precision:
    return Precision(FP16, [f"float32 weights whose values are float16 numbers ({_pct(share)} of them): an fp16 "
                            "model widened back to float32 (its weights were rounded to float16)"], shares, "fp32")


def _shares(counts: Counter) -> dict[str, float]:
    total = sum(counts.values())
    return {k: v / total for k, v in counts.most_common() if v / total >= 1e-3} if total else {}


def _pct(share: float) -> str:
    return f"{share:.0%}" if share >= 0.01 or share == 0 else f"{share:.2%}"


# -- ONNX ----------------------------------------------------------------------------------------------------
_ONNX_INT8_FULL = re.compile(r"^QLinear|^QGemm$|^QAttention$")
_ONNX_DYNAMIC = {"DynamicQuantizeLinear", "DynamicQuantizeLSTM", "DynamicQuantizeMatMul", "ConvInteger",
                 "MatMulInteger", "MatMulIntegerToFloat"}
_ONNX_INT4 = {"MatMulNBits", "MatMulBnb4", "GatherBlockQuantized"}


def _onnx(path: Path) -> Precision:
    """From the facts `ferry.runtimes.onnxruntime.file_facts` keeps for this version of the file when a loader has
    parsed it already (a check parses each ONNX file once, issue 7), else from a parse of its own."""
    from ferry.runtimes.onnx_graph import load_onnx
    from ferry.runtimes.onnxruntime import cached_facts

    facts = cached_facts(path)
    if facts is not None and facts.precision is not None:
        return facts.precision
    return onnx_precision(load_onnx(path, load_external=False))


def onnx_precision(model) -> Precision:
    """The precision of a parsed ONNX ModelProto."""
    from onnx import TensorProto

    g = model.graph
    names = {v: TensorProto.DataType.Name(v).lower() for v in TensorProto.DataType.values()}
    counts: Counter = Counter()
    consts: set[str] = set()
    for t in g.initializer:
        n = 1
        for d in t.dims:
            n *= d
        counts[_dtype_name(names, t.data_type)] += n
        consts.add(t.name)
    ops: Counter = Counter()
    for node in g.node:
        ops[node.op_type] += 1
        if node.op_type == "Constant":
            consts.update(node.output)
            for a in node.attribute:
                if a.name == "value" and a.t.dims:
                    n = 1
                    for d in a.t.dims:
                        n *= d
                    counts[_dtype_name(names, a.t.data_type)] += n
    shares = _shares(counts)
    # QDQ: a QuantizeLinear fed by something computed (an activation) quantises activations; one fed only by
    # constants is a weight pre-quantised in the graph (weight-only)
    q_on_act = sum(1 for n in g.node if n.op_type == "QuantizeLinear" and n.input and n.input[0] not in consts)
    dq = ops["DequantizeLinear"]
    casts16 = sum(1 for n in g.node if n.op_type == "Cast"
                  and any(a.name == "to" and a.i == TensorProto.FLOAT16 for a in n.attribute))
    io16 = [v.name for v in (*g.input, *g.output) if v.type.tensor_type.elem_type == TensorProto.FLOAT16]
    listed = lambda keys: ", ".join(f"{k} x{ops[k]}" for k in sorted(keys) if ops[k])  # noqa: E731
    weights = f"weights {', '.join(f'{k} {_pct(v)}' for k, v in list(shares.items())[:3])}" if shares else ""
    full = {k for k in ops if _ONNX_INT8_FULL.search(k)}
    if full or q_on_act:
        ev = [listed(full) if full else f"QuantizeLinear on {q_on_act} activation(s), DequantizeLinear x{dq} (QDQ)"]
        return Precision(INT8, [*ev, weights] if weights else ev, shares, "int8")
    if ops.keys() & _ONNX_INT4:
        return Precision(INT4_WEIGHTS, [listed(_ONNX_INT4), weights], shares, "fp32")
    if ops.keys() & _ONNX_DYNAMIC:
        ev = [f"{listed(_ONNX_DYNAMIC)} (dynamic quantisation: int8 weights, activations quantised per call)"]
        return Precision(INT8_WEIGHTS, [*ev, weights] if weights else ev, shares, "int8")
    int_w = sum(v for k, v in shares.items() if k in ("int8", "uint8", "int4", "uint4"))
    if dq and int_w > 0:
        return Precision(INT8_WEIGHTS, [f"DequantizeLinear x{dq} on constant weights only (weight-only QDQ)",
                                        weights], shares, "fp32")
    if shares.get("float16", 0) > 0.5 or io16 or casts16:
        ev = [weights] if shares.get("float16", 0) > 0 else []
        if casts16:
            ev.append(f"Cast to float16 x{casts16}")
        if io16:
            ev.append(f"float16 inputs/outputs: {', '.join(io16[:4])}")
        return Precision(FP16, ev, shares, "fp16")
    from onnx import numpy_helper

    big = [t for t in g.initializer if t.data_type == TensorProto.FLOAT and not t.external_data
           and len(t.dims) >= 2]
    share = _fp16_exact(numpy_helper.to_array(t) for t in big) if big else 0.0
    if share > FP16_EXACT:
        return _widened(share, shares)
    return Precision(FP32, [weights or "no weights"], shares, "fp32")


# -- TFLite --------------------------------------------------------------------------------------------------
def _tflite(path: Path) -> Precision:
    import numpy as np

    from ferry.errors import require

    interpreter_mod = require("ai_edge_litert.interpreter", "tflite")
    try:
        it = interpreter_mod.Interpreter(model_path=str(path))
    except (ValueError, RuntimeError) as exc:
        raise FerryError(f"{path}: LiteRT cannot read it ({str(exc).splitlines()[0]}); re-convert it") from None
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    ops = it._get_ops_details()
    produced = {o for op in ops for o in op["outputs"]}
    inputs = {d["index"] for d in it.get_input_details()}
    consumed = {i for op in ops for i in op["inputs"] if i >= 0}
    constants = consumed - produced - inputs
    op_names = Counter(op["op_name"] for op in ops)
    counts: Counter = Counter()
    for i in constants:
        t = tensors.get(i)
        if t is not None and len(t["shape"]) >= 1:
            counts[np.dtype(t["dtype"]).name] += int(np.prod(t["shape"]))
    shares = _shares(counts)
    weights = f"weights {', '.join(f'{k} {_pct(v)}' for k, v in list(shares.items())[:3])}" if shares else ""
    quantised_act = [i for i in produced | inputs if i in tensors
                     and np.dtype(tensors[i]["dtype"]).name in ("int8", "uint8", "int16")
                     and tensors[i]["quantization_parameters"]["scales"].size]
    if quantised_act:
        io = [d for d in (*it.get_input_details(), *it.get_output_details())
              if np.dtype(d["dtype"]).name in ("int8", "uint8")]
        ev = [f"{len(quantised_act)} activation tensors int8/uint8 with quantisation parameters (full integer)"]
        if op_names["QUANTIZE"] or op_names["DEQUANTIZE"]:
            ev.append(f"QUANTIZE x{op_names['QUANTIZE']}, DEQUANTIZE x{op_names['DEQUANTIZE']}")
        if io:
            ev.append("integer inputs/outputs: " + ", ".join(f"{d['name']} {np.dtype(d['dtype']).name}" for d in io))
        return Precision(INT8, [*ev, weights], shares, "int8")
    int_w = sum(v for k, v in shares.items() if k in ("int8", "uint8"))
    if int_w > 0.5:
        return Precision(INT8_WEIGHTS, ["int8 weights with float activations (dynamic range quantisation)",
                                        weights], shares, "fp32")
    if shares.get("float16", 0) > 0.5:
        return Precision(FP16, [f"float16 weights behind DEQUANTIZE x{op_names['DEQUANTIZE']}", weights], shares,
                         "fp32")
    return Precision(FP32, [weights or "no weights"], shares, "fp32")


# -- OpenVINO IR ---------------------------------------------------------------------------------------------
def _openvino(path: Path) -> Precision:
    import xml.etree.ElementTree as ET

    xml = path if path.suffix == ".xml" else path.with_suffix(".xml")
    try:
        root = ET.parse(xml).getroot()
    except (OSError, ET.ParseError) as exc:
        raise FerryError(f"{xml}: not a readable OpenVINO IR ({type(exc).__name__}); save it again") from None
    layers: dict[str, tuple[str, dict]] = {}
    for layer in root.iter("layer"):
        data = layer.find("data")
        layers[layer.get("id", "")] = (layer.get("type", ""), dict(data.attrib) if data is not None else {})
    into: dict[str, list[str]] = {}
    for e in root.iter("edge"):
        into.setdefault(e.get("from-layer", ""), []).append(e.get("to-layer", ""))
    counts: Counter = Counter()
    compressed: Counter = Counter()
    f32_blobs: list[tuple[int, int]] = []  # (offset, size) of f32 weight constants in the .bin
    for lid, (kind, data) in layers.items():
        if kind != "Const":
            continue
        et = data.get("element_type", "")
        shape = [int(s) for s in data.get("shape", "").split(",") if s.strip().isdigit()]
        n = 1
        for s in shape:
            n *= s
        if et in ("i64", "i32", "boolean"):  # shapes, axes, indices: not weights
            continue
        counts[et] += n
        if et == "f32" and len(shape) >= 2 and data.get("offset", "").isdigit() and data.get("size", "").isdigit():
            f32_blobs.append((int(data["offset"]), int(data["size"])))
        if et in ("f16", "bf16", "i8", "u8", "i4", "u4", "nf4") and any(
                layers.get(t, ("",))[0] == "Convert" for t in into.get(lid, [])):
            compressed[et] += n
    fq = sum(1 for k, _ in layers.values() if k == "FakeQuantize")
    shares = _shares(counts)
    weights = f"weights {', '.join(f'{k} {_pct(v)}' for k, v in list(shares.items())[:3])}" if shares else ""
    if fq:
        return Precision(INT8, [f"FakeQuantize x{fq} (int8 activations and weights)", weights], shares, "int8")
    low = sum(compressed[k] for k in ("i4", "u4", "nf4"))
    int8 = compressed["i8"] + compressed["u8"]
    total = sum(counts.values()) or 1
    if low / total > 0.1:
        return Precision(INT4_WEIGHTS, [f"4-bit weight constants behind Convert ({_pct(low / total)} of weights)",
                                        weights], shares, "fp32")
    if int8 / total > 0.1:
        return Precision(INT8_WEIGHTS, [f"int8 weight constants behind Convert ({_pct(int8 / total)} of weights: "
                                        "weight compression)", weights], shares, "fp32")
    if (compressed["f16"] + compressed["bf16"]) / total > 0.5:
        return Precision(FP16, [f"f16 weight constants behind Convert to f32 ({_pct(compressed['f16'] / total)} of "
                                "weights: ov.save_model's default compress_to_fp16; compute stays f32)", weights],
                         shares, "fp32")
    if counts["f16"] / total > 0.5:
        return Precision(FP16, [f"f16 weight constants feeding f16 ops ({_pct(counts['f16'] / total)} of weights: "
                                "the IR computes in f16 as written)", weights], shares, "fp16")
    share = _bin_fp16_exact(xml.with_suffix(".bin"), f32_blobs)
    if share > FP16_EXACT:
        return _widened(share, shares)
    return Precision(FP32, [weights or "no weights"], shares, "fp32")


def _bin_fp16_exact(bin_path: Path, blobs: list[tuple[int, int]]) -> float:
    import numpy as np

    if not blobs or not bin_path.is_file():
        return 0.0
    data = np.memmap(bin_path, dtype=np.uint8, mode="r")
    arrays = (data[o:o + n].view(np.float32) for o, n in sorted(blobs, key=lambda b: -b[1]) if o + n <= data.size
              and n % 4 == 0)
    return _fp16_exact(arrays)


# -- Core ML -------------------------------------------------------------------------------------------------
_COREML_COMPRESSED = re.compile(r"^constexpr_")


def _coreml(path: Path) -> Precision:
    from ferry.coreml.spec import read

    spec = read(path).spec
    kind = spec.WhichOneof("Type")
    if kind == "mlProgram":
        ops: Counter = Counter()
        dtypes: Counter = Counter()
        for fn in spec.mlProgram.functions.values():
            for block in fn.block_specializations.values():
                for op in block.operations:
                    ops[op.type] += 1
                    for out in op.outputs:
                        tt = out.type.tensorType
                        if out.type.WhichOneof("type") == "tensorType":
                            dtypes[_mil_dtype(tt.dataType)] += 1
        packed = {k: v for k, v in ops.items() if _COREML_COMPRESSED.search(k)}
        tensors = sum(dtypes.values()) or 1
        if packed:
            ev = ", ".join(f"{k} x{v}" for k, v in sorted(packed.items()))
            return Precision(INT8_WEIGHTS, [f"{ev} (compressed weights, dequantised at load)"], {}, "fp16"
                             if dtypes["fp16"] / tensors > 0.5 else "fp32")
        if dtypes["fp16"] / tensors > 0.3:
            return Precision(FP16, [f"{_pct(dtypes['fp16'] / tensors)} of op outputs fp16 (FLOAT16 compute "
                                    f"precision), cast x{ops['cast']}"], {}, "fp16")
        return Precision(FP32, [f"{_pct(dtypes['fp32'] / tensors)} of op outputs fp32"], {}, "fp32")
    if kind == "neuralNetwork" or kind == "neuralNetworkClassifier" or kind == "neuralNetworkRegressor":
        nn = getattr(spec, kind)
        f16 = q = f32 = 0
        for layer in nn.layers:
            for _, w in layer.WhichOneof("layer") and _weights(getattr(layer, layer.WhichOneof("layer"))) or []:
                if len(w.float16Value):
                    f16 += len(w.float16Value) // 2
                elif len(w.rawValue) and w.HasField("quantization"):
                    q += len(w.rawValue)
                else:
                    f32 += len(w.floatValue)
        total = (f16 + q + f32) or 1
        shares = {k: v / total for k, v in (("float32", f32), ("float16", f16), ("int8", q)) if v}
        if q / total > 0.5:
            return Precision(INT8_WEIGHTS, [f"quantised neuralnetwork weights ({_pct(q / total)})"], shares, "fp32")
        if f16 / total > 0.5:
            return Precision(FP16, [f"float16 neuralnetwork weights ({_pct(f16 / total)})"], shares, "fp16")
        return Precision(FP32, [f"float32 neuralnetwork weights ({_pct(f32 / total)})"], shares, "fp32")
    return Precision(FP32, [f"a Core ML {kind}: taken as float32"], {}, "fp32")


def _mil_dtype(code: int) -> str:
    from ferry.coreml.spec import coremltools

    coremltools()  # imported the quiet way first
    from coremltools.proto import MIL_pb2

    return {MIL_pb2.FLOAT16: "fp16", MIL_pb2.FLOAT32: "fp32", MIL_pb2.INT8: "int8",
            MIL_pb2.UINT8: "uint8"}.get(code, "other")


def _weights(layer_params) -> list:
    """The WeightParams fields of a neuralnetwork layer's parameters (weights, bias, ...); a repeated one (a custom
    layer's `weights`, as kraken's blla.mlmodel has) gives each of its entries."""
    out = []
    for desc, value in layer_params.ListFields():
        if desc.message_type is not None and desc.message_type.name == "WeightParams":
            if not hasattr(value, "ListFields"):  # a repeated field: its container, not a message
                out.extend((desc.name, v) for v in value)
            else:
                out.append((desc.name, value))
    return out
