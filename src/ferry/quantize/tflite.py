"""Reduced-precision TFLite, with the converter each source already goes through (ferry.convert.exporters).

TF / Keras: tf.lite.TFLiteConverter post-training quantization.
    int8  full integer: `optimizations=[DEFAULT]`, a representative dataset of the photos through the contract,
          `supported_ops=[TFLITE_BUILTINS_INT8]` (a float op left over fails the conversion instead of silently
          staying float). The input is int8 where the contract is exactly an int8 image (below), else float32
          with QUANTIZE at the edge; the output stays float32 (DEQUANTIZE).
    fp16  `supported_types=[tf.float16]`: float16 weights, DEQUANTIZE to float32 at load, float32 compute.
torch: litert_torch to a float32 file (ferry[tflite-torch]), then ai_edge_quantizer (quantize_int8 below).
    int8  static int8 weights and activations, calibrated with a running min/max on the photos through the
          contract; the file's input and output are int8 with scale/zero point.
    fp16  refused (see torch_to_tflite).

The contract in an int8 input's scale/zero point: real = scale * (q - zero_point) equals the contract
(x * s - m) / sd only when one scale and mean serve all channels (no per-channel std) and m / s is a whole pixel
level (pixel_range). Both routes make the input's parameters the contract there (torch: the input's range is set
in ai_edge_quantizer's calibration; TF: TFLiteConverter takes its min/max from the representative dataset, which
carries the contract's image of 0 and 255); elsewhere the input keeps calibrated parameters (torch) or float32 (TF),
and the app applies the contract as for a float32 file (`ferry native tflite`).
"""

from __future__ import annotations

from pathlib import Path

from ferry.convert.manifest import package_version
from ferry.errors import require
from ferry.op_errors import ConversionError, explain
from ferry.preprocess.contract import Preprocess
from ferry.quantize.calibration import Calibration
from ferry.runtimes.base import Model


def tf_to_tflite(source: Model, dest: Path, precision: str, calib: Calibration | None,
                 pixels: tuple[float, float] | None = None) -> list[str]:
    """SavedModel or Keras -> a reduced-precision TFLite file at `dest`.

    int8 is TFLiteConverter's full-integer route (a representative dataset of the photos through the contract).
    Where the contract's int8 image is exact (`pixels`, pixel_range) the input is int8 and its scale and zero point
    are the contract: TFLiteConverter cannot be told an input's parameters, but it takes them from the calibrated
    min/max of the input (scale (max - min) / 255, zero point -128 - min / scale), so the first calibration tensor
    carries the contract's image of pixel 0 and pixel 255 in two of its values (the other values, and every other
    photo, are the photos as they are; a photo need not reach 0 and 255). The parameters are read back from the
    written file and the route says so only when they are the contract. Elsewhere the input and output stay float32
    (QUANTIZE/DEQUANTIZE at the edges); the output stays float32 in both.

    Rejected: TFLiteConverter to float32 then quantize_int8 (ai_edge_quantizer, the torch route): it makes a file
    OpenVINO 2026.4's TFLite frontend cannot read (an assertion in decoder_flatbuffer.h:40, measured on the seeded
    Keras CNN, whose Flatten is a SHAPE/STRIDED_SLICE/PACK/RESHAPE chain), while LiteRT runs it and agrees."""
    from ferry.convert.exporters import convert_tflite, quiet

    tf = require("tensorflow", "tensorflow")

    def reduced(conv) -> None:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        if precision == "fp16":
            conv.target_spec.supported_types = [tf.float16]
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        else:
            assert calib is not None
            conv.representative_dataset = lambda: ([x] for x in _marked(calib.tensors, pixels))
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            if pixels is not None:
                conv.inference_input_type = tf.int8

    try:
        with quiet():
            data, frozen = convert_tflite(tf, source, reduced)
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, "tf.lite.TFLiteConverter", source.path) from None
    dest.write_bytes(data)
    tfv = package_version("tensorflow")
    if precision == "fp16":
        return [f"tf.lite.TFLiteConverter (TensorFlow {tfv}, float16 weights, float32 compute)", *frozen]
    io = "float32 input and output"
    if pixels is not None:
        interpreter_mod = require("ai_edge_litert.interpreter", "tflite")
        exact = _input_takes_pixels(interpreter_mod.Interpreter(model_path=str(dest)), pixels)
        io = (exact or "int8 input with calibrated scale/zero point") + ", float32 output"
    return [f"tf.lite.TFLiteConverter (TensorFlow {tfv}, full integer: int8 ops, representative dataset of "
            f"{len(calib)} photos through the contract, {io})", *frozen]


def _marked(tensors, pixels: tuple[float, float] | None):
    """The calibration tensors, the first with pixels[0] and pixels[1] (the contract's image of 0 and 255) in its
    first two values, so the input's calibrated min/max is the contract's (per tensor: any layout)."""
    import numpy as np

    for i, x in enumerate(tensors):
        if i == 0 and pixels is not None:
            x = np.array(x, copy=True)
            x.flat[0], x.flat[1] = pixels
        yield x


def torch_to_tflite(source: Model, contract: Preprocess, dest: Path, precision: str,
                    calib: Calibration | None) -> list[str]:
    """A torch model -> float32 TFLite (litert_torch, ferry.convert.exporters) -> int8 with ai_edge_quantizer,
    Google's post-training quantizer for LiteRT files.

    No fp16: litert_torch has no float16 route, and ai_edge_quantizer's float_casting file (float16 weights behind
    DEQUANTIZE) runs in LiteRT (EfficientNet-Lite0: top-1 100%, max abs 0.029) but OpenVINO 2026.4's TFLite
    frontend cannot read it (an assertion in decoder_flatbuffer.h:40, measured on the seeded colour CNN), so a
    file ferry makes would fail one of the runtimes it is checked in."""
    from ferry.convert import exporters

    if precision != "int8":
        raise ConversionError(f"{source.path}: ferry makes float32 or int8 TFLite from a torch module, not float16: "
                              "convert --precision int8, or fp16 from the TensorFlow source", tool="litert_torch")
    assert calib is not None  # int8 is calibrated: ferry.quantize.targets makes the calibration first
    plain = dest.with_name(f".{dest.stem}.fp32-step.tflite")  # a step, not an output: removed whatever happens
    try:
        notes = exporters.torch_to_tflite(source, contract, plain)
        notes.append(quantize_int8(plain, dest, calib, source.path, pixel_range(contract)))
    finally:
        plain.unlink(missing_ok=True)
    return notes


def pixel_range(contract: Preprocess) -> tuple[float, float] | None:
    """(contract(0), contract(255)) when the contract's int8 image is exact: one gain g > 0 and one offset o for
    every channel, and o / g a whole number of pixel levels with -128 - o / g a valid int8 zero point. Then an int8
    input with scale g and zero point -128 - o / g takes q = pixel - 128 and computes exactly the contract's
    tensor: (x - 127) / 128 -> scale 1/128, zero point -1; x / 255 -> 1/255, -128; raw 0..255 -> 1, -128.
    ImageNet's per-channel mean/std, (x - 127.5) / 127.5 (half a level) and an inverted gray photo are not."""
    if contract.color == "GRAY" and contract.gray_zero_is != "black":
        return None
    gain, offset = contract.affine()
    g, o = gain[0], offset[0]
    if g <= 0 or any(abs(x - g) > 1e-9 * g for x in gain) or any(abs(x - o) > 1e-9 * max(1.0, abs(o)) for x in offset):
        return None
    levels = o / g
    zero_point = -128 - levels
    if abs(levels - round(levels)) > 1e-6 or not -128 <= round(zero_point) <= 127:
        return None
    return o, o + 255 * g


def quantize_int8(plain: Path, dest: Path, calib: Calibration, origin,
                  pixels: tuple[float, float] | None = None) -> str:
    """A float32 .tflite -> `dest`, int8, with ai_edge_quantizer; returns the route text.

    Recipe static_wi8_ai8 (int8 weights symmetric per output channel, int8 activations per tensor, integer
    compute), calibrated on the photos through the contract with a plain running min/max. ai_edge_quantizer's
    Quantizer.calibrate smooths each tensor's range with a moving average (factor 0.95), so ten photos give
    ranges fitted mostly to the first one: measured on EfficientNet-Lite0 over the 10 bundled photos, top-1
    agreement with the float model 0.6 and largest logit error 4.28 with the moving average, 0.9 and 0.86 with
    min/max (the same as onnxruntime's MinMax QDQ, 0.9 and 0.83). The calibrator is therefore built here with
    qsv_utils.min_max_update. The file's input and output are int8 with scale/zero point: ferry's runtimes
    quantise the contract's float tensor with the input's parameters, as an app does. `pixels` (pixel_range)
    replaces the input's calibrated range by the contract's image of 0..255, so the input's scale and zero
    point are the contract itself and an app feeds q = pixel - 128 with no float step; the route says so only
    when the written file's parameters are read back equal to it.

    Rejected: PT2E (torchao prepare_pt2e/convert_pt2e with litert_torch's PT2EQuantizer, lowered by
    litert_torch.convert) gave top-1 agreement 0.6 on the same photos with MinMax observers, 0.5 with its
    HistogramObserver.
    """
    import os

    aeq = require("ai_edge_quantizer", "tflite-torch")
    interpreter_mod = require("ai_edge_litert.interpreter", "tflite")
    from ai_edge_quantizer import calibrator, quantizer
    from ai_edge_quantizer.utils import qsv_utils

    from ferry.convert.exporters import quiet

    recipe = [{"regex": ".*", "operation": "*", "algorithm_key": "min_max_uniform_quantize", "op_config": {
        "activation_tensor_config": {"num_bits": 8, "symmetric": False, "granularity": "TENSORWISE", "dtype": "INT"},
        "weight_tensor_config": {"num_bits": 8, "symmetric": True, "granularity": "CHANNELWISE", "dtype": "INT"},
        "compute_precision": "INTEGER", "skip_checks": False, "min_weight_elements": 0}}]
    float_file = interpreter_mod.Interpreter(model_path=str(plain))  # read by every step below
    float_file.allocate_tensors()
    key, name = _signature_input(float_file, plain)
    try:
        with quiet():
            q = quantizer.Quantizer(str(plain), recipe)
            cal = calibrator.Calibrator(q._float_model_buffer, num_threads=min(4, os.cpu_count() or 1),
                                        qsv_update_func=qsv_utils.min_max_update)
            cal.calibrate({key: [{name: x} for x in calib.tensors]}, q._recipe_manager)
            qsvs = cal.get_model_qsvs()
            if pixels is not None:  # calibration is keyed by the signature's name, ranges by the tensor's
                _set_input_range(float_file, float_file.get_input_details()[0]["name"], qsvs, pixels)
            data, fixed = _quantize_keeping_biases(q, qsvs, float_file)
    except Exception as exc:  # noqa: BLE001 - the quantizer raises anything; its first line names the op
        raise explain(exc, "ai_edge_quantizer", origin) from None
    dest.write_bytes(data)
    version = package_version("ai-edge-quantizer") or getattr(aeq, "__version__", "?")
    exact = _input_takes_pixels(interpreter_mod.Interpreter(model_path=str(dest)), pixels) if pixels else None
    dead = f"; {fixed} dead filter{'s' if fixed != 1 else ''} kept their bias" if fixed else ""
    return (f"ai_edge_quantizer {version} static_wi8_ai8 (int8 weights per channel, int8 activations, min/max "
            f"on {len(calib)} photos through the contract{dead}" + (f"; {exact}" if exact else "") + ")")


_BIAS_STEPS = 2**24  # a bias of this many steps keeps 7 significant digits, far inside int32's 2**31


def _quantize_keeping_biases(q, qsvs: dict, it) -> tuple[bytes, int]:
    """ai_edge_quantizer's quantized file, with every int32 bias kept in range; returns (file, channels fixed).

    A dead filter (all-zero weights, as pruning or a collapsed BatchNorm leaves: EfficientNet-Lite0 has 1-4 per
    convolution, weights under 1e-5 beside a typical 0.1-1) gets a per-channel weight scale near zero, and its
    bias, quantized at input scale x weight scale, saturates int32. With a negative bias before a ReLU that is
    harmless; with a positive one the channel outputs the clip's ceiling instead of its bias: on the seeded colour
    CNN (tests/models/quant_models.py, a zero "grey" filter with bias 0.8) the bias became -2**31 and the class
    logit moved by 3.2 (top-1 agreement 0.7). Such a channel's weight scale is raised until its bias takes at most
    2**24 steps, and its weights and bias are quantized again at that scale: the weights (tiny beside the bias)
    round to what they were, the bias is exact to 1e-7. Rejected: one weight scale for the whole layer where a
    bias saturates (costs every live channel its precision: EfficientNet-Lite0 top-1 agreement 0.9 -> 0.7)."""
    import dataclasses

    import numpy as np

    params = q._get_quantization_params(qsvs)

    def consumer(tensor: int, op_id: int):
        entry = params.get(it._get_tensor_details(tensor, 0)["name"])
        return next((c for c in (entry.consumers or []) if c.subgraph_op_id == op_id), None) if entry else None

    def replace(tensor: int, old, **changes) -> None:  # the params are frozen dataclasses in a mutable list
        consumers = params[it._get_tensor_details(tensor, 0)["name"]].consumers
        consumers[consumers.index(old)] = dataclasses.replace(old, parameters=dataclasses.replace(
            old.parameters, **changes))

    fixed = 0
    for op in it._get_ops_details():
        ins = list(op["inputs"])
        if op["op_name"] not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") or len(ins) < 3 or min(ins[:3]) < 0:
            continue
        x_c, w_c, b_c = (consumer(t, op["index"]) for t in ins[:3])
        if not all(c is not None and c.parameters is not None for c in (x_c, w_c, b_c)):
            continue
        wp, bp = w_c.parameters, b_c.parameters
        if wp.quantized_data is None or bp.quantized_data is None or np.size(x_c.parameters.scale) != 1:
            continue
        in_scale = float(np.ravel(x_c.parameters.scale)[0])
        w, b = it.get_tensor(ins[1]).astype(np.float64), it.get_tensor(ins[2]).astype(np.float64).ravel()
        axis = wp.quantized_dimension or 0
        full = np.moveaxis(np.broadcast_to(np.asarray(wp.scale, np.float64), w.shape), axis, 0)
        scale = full.reshape(full.shape[0], -1)[:, 0]
        if scale.shape != b.shape:
            continue
        need = np.abs(b) / (in_scale * _BIAS_STEPS)
        bad = np.abs(b) / (in_scale * np.maximum(scale, 1e-38)) > 2**30
        if not bad.any():
            continue
        new = np.where(bad, np.maximum(scale, need), scale)
        shape = [1] * w.ndim
        shape[axis] = -1
        wq = np.clip(np.round(w / new.reshape(shape)), -127, 127).astype(wp.quantized_data.dtype)
        keep = np.broadcast_to(~bad.reshape(shape), w.shape)
        wq = np.where(keep, wp.quantized_data, wq)
        bq = np.where(bad, np.round(b / (in_scale * new)), bp.quantized_data.ravel()).astype(bp.quantized_data.dtype)
        w_dtype = np.asarray(wp.scale).dtype
        replace(ins[1], w_c, scale=new.reshape(np.shape(wp.scale)).astype(w_dtype), quantized_data=wq)
        replace(ins[2], b_c, scale=(in_scale * new).reshape(np.shape(bp.scale)).astype(np.asarray(bp.scale).dtype),
                quantized_data=bq.reshape(bp.quantized_data.shape))
        fixed += int(bad.sum())
    return bytes(q._get_quantized_model(params)), fixed


_PASS_THROUGH = ("TRANSPOSE", "RESHAPE", "PAD", "SQUEEZE", "EXPAND_DIMS")


def _set_input_range(it, name: str, qsvs: dict, pixels: tuple[float, float]) -> None:
    """The input's range (`name`: the input tensor's name, the key of `qsvs`), and that of every tensor that only
    moves its values (a layout transpose, a zero pad), set to the contract's image of 0..255: a pass-through op's
    output range is its input's, so no requantisation step is left between them. Measured on the seeded colour
    CNN calibrated on photos dimmed to 40..215: without this the input's scale is 0.00536 (the calibrated
    range), with it 1/128; setting the graph input alone gave the same file check there (input -> TRANSPOSE)."""
    import numpy as np

    names = {d["index"]: d["name"] for d in it.get_tensor_details()}
    moved, grew = {name}, True
    while grew:
        grew = False
        for op in it._get_ops_details():
            if op["op_name"] in _PASS_THROUGH and op["inputs"][0] >= 0 and names.get(op["inputs"][0]) in moved:
                for t in op["outputs"]:
                    if t >= 0 and names.get(t) not in moved:
                        moved.add(names[t])
                        grew = True
    for n in moved:
        if "min" in qsvs.get(n, {}):
            shape = np.shape(qsvs[n]["min"])
            qsvs[n] = {**qsvs[n], "min": np.full(shape, pixels[0], np.float32),
                       "max": np.full(shape, pixels[1], np.float32)}


def _input_takes_pixels(written, pixels: tuple[float, float]) -> str | None:
    """The words for an int8 input whose scale and zero point, read back from the written file, are the contract."""
    import numpy as np

    inp = written.get_input_details()[0]
    scale, zero = inp["quantization"]
    lo, hi = pixels
    if np.dtype(inp["dtype"]).name != "int8" or not scale:
        return None
    if abs(scale - (hi - lo) / 255) > 1e-6 * scale or abs(scale * (-128 - zero) - lo) > 1e-5 * max(1.0, abs(lo)):
        return None
    return (f"int8 input scale {scale:.6g}, zero point {zero}: the contract exactly, an app feeds q = pixel - 128 "
            "with no float step")


def _signature_input(it, path: Path) -> tuple[str, str]:
    """The file's one signature and its one input name, the keys ai_edge_quantizer calibrates by."""
    sigs = it.get_signature_list()
    key = next(iter(sigs))
    inputs = sigs[key]["inputs"]
    if len(inputs) != 1:
        raise ConversionError(f"{path}: int8 calibration feeds one image input; this model has {len(inputs)} "
                              f"({', '.join(inputs)})", tool="ai_edge_quantizer")
    return key, inputs[0]
