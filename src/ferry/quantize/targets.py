"""One reduced-precision target built in convert's staging folder: the fp32 route of ferry.convert.core with the
runtime's own quantizer or half-precision switch at the one point where it belongs (ferry.quantize docstring).

Returns what ferry.convert.core._produce returns: (route, versions, staged files, extras). A precision a route
cannot make is a ConversionError naming why, so the target is unreachable and the others still convert.
"""

from __future__ import annotations

from pathlib import Path

from ferry.convert.manifest import versions
from ferry.errors import FerryError
from ferry.op_errors import ConversionError
from ferry.preprocess.contract import Preprocess


def produce(target: str, precision: str, source, src, fmt: str, contract: Preprocess, out, staging: Path,
            plain_onnx, calib):
    from ferry.convert import core

    base = versions("ferry")
    if fmt in core.TORCH_FORMATS:
        base |= versions("torch")
    elif fmt in core.TF_FORMATS:
        base |= versions("tensorflow")
    elif fmt == core.TFLITE:
        base |= versions("ai-edge-litert")
    final = out.path(target, precision)
    dest = staging / final.name
    if target == "onnx":
        return _onnx(precision, contract, staging, plain_onnx, dest, final, base, fmt)
    if target == "opencv":
        return _opencv(precision, source, contract, staging, plain_onnx, dest, final, base)
    if target == "openvino":
        return _openvino(precision, source, src, fmt, contract, plain_onnx, dest, final, base, calib)
    if target == "coreml":
        return _coreml(precision, source, src, fmt, contract, dest, base)
    if target == "tflite":
        return _tflite(precision, source, src, fmt, contract, dest, final, base, calib)
    raise FerryError(f"unknown target {target}")


def _onnx(precision, contract, staging, plain_onnx, dest, final, base, fmt):
    from ferry.convert import core
    from ferry.runtimes import get_runtime

    plain, route = plain_onnx(precision)
    try:
        get_runtime("onnxruntime").embed(plain, contract, dest)
    except ConversionError:
        raise
    except FerryError as exc:  # the quantized file is invalid: a target that cannot be made, not a crash
        raise ConversionError(f"{final}: {str(exc).split(': ', 1)[-1]}", tool="onnx") from None
    core._loads_in("onnxruntime", dest, final)
    tools = ["onnx", "onnxruntime", *(["tf2onnx"] if fmt in (*core.TF_FORMATS, core.TFLITE) else [])]
    return (f"{route} -> contract embedded as ferry_pre_* nodes (uint8 NHWC BGR in)", base | versions(*tools),
            [dest], {})


def _opencv(precision, source, contract, staging, plain_onnx, dest, final, base):
    """The reduced-precision plain ONNX with the blob parameters. OpenCV DNN 4.14 reads QDQ ONNX as its own int8
    layers or not at all: whether it loads, and what it computes, is the answer the check gives."""
    from ferry.convert import core
    from ferry.runtimes import get_runtime

    plain, route = plain_onnx(precision)
    core._write_declared_onnx(plain, contract, dest)
    try:
        get_runtime("opencv").load(dest)
    except FerryError as exc:
        first = (str(exc).replace(f"{dest}: ", "").strip().splitlines() or ["refused"])[0]
        raise ConversionError(f"{final}: OpenCV DNN cannot load the {precision} ONNX ({first[:240]}); deploy the "
                              f"{precision} ONNX in onnxruntime or the OpenVINO IR, or the fp32 file in OpenCV",
                              tool="opencv") from None
    recipe = get_runtime("opencv").native(contract)
    return (f"{route} (float input) + cv2.dnn.blobFromImageWithParams parameters",
            base | versions("onnx", "onnxruntime", "opencv-python-headless"), [dest],
            {"native": recipe.to_dict(), "notes": list(recipe.notes)})


def _openvino(precision, source, src, fmt, contract, plain_onnx, dest, final, base, calib):
    from ferry.convert import core, exporters
    from ferry.runtimes import openvino as ov_rt

    if fmt in (*core.TF_FORMATS, core.TFLITE):
        model, route = exporters.to_openvino_model(src, None)
        if fmt == core.TFLITE:
            core._keep_input_names(model, core._signature_input_names(src))
    else:
        plain, route = plain_onnx()
        model, how = exporters.to_openvino_model(src, plain)
        route = f"{route} -> {how}"
    core._keep_output_names(model, [o.name for o in src.outputs])
    tools = ["openvino"]
    if precision == "int8":
        from ferry.quantize import openvino as q_ov

        model, how = q_ov.quantize_int8(model, calib(), str(source))
        route, tools = f"{route} -> {how}", ["openvino", "nncf"]
    else:
        route += " -> save_model(compress_to_fp16=True): float16 weights"
    ov_rt.embed_model(model, contract, dest, compress_to_fp16=precision == "fp16", origin=source)
    core._loads_in("openvino", dest, final)
    return (f"{route} -> PrePostProcessor (uint8 NHWC BGR in; rt_info model_info)", base | versions(*tools),
            [dest, dest.with_suffix(".bin")], {})


def _coreml(precision, source, src, fmt, contract, dest, base):
    from ferry.convert import core
    from ferry.quantize import coreml as q_coreml
    from ferry.runtimes import get_runtime

    if fmt in (core.ONNX, core.TFLITE):
        why = core.COREML_FROM_ONNX if fmt == core.ONNX else core.COREML_FROM_TFLITE
        raise ConversionError(f"{source}: {why}", tool="coremltools")
    try:
        get_runtime("coreml").convert(source, contract, dest, precision=precision)
    except ConversionError:
        raise
    except FerryError as exc:
        raise ConversionError(str(exc), tool="coremltools") from None
    return q_coreml.route(precision), base | versions("coremltools"), [dest], {}


def _tflite(precision, source, src, fmt, contract, dest, final, base, calib):
    from ferry.convert import core
    from ferry.errors import MissingRuntime
    from ferry.quantize import tflite as q_tflite

    if fmt not in core.TF_FORMATS + core.TORCH_FORMATS:
        raise ConversionError(f"{source}: ferry makes {precision} TFLite from a TensorFlow/Keras or torch source "
                              f"(TFLiteConverter, litert_torch); a {fmt} source cannot be re-quantized here",
                              tool="tflite")
    c = calib() if precision == "int8" else None
    if fmt in core.TORCH_FORMATS:
        try:
            notes = q_tflite.torch_to_tflite(src, contract, dest, precision, c)
        except MissingRuntime:
            raise ConversionError(f"{source}: {core.TFLITE_FROM_TORCH_MISSING}", tool="litert_torch") from None
        what, tools = "torch", ("litert-torch", "ai-edge-litert")
    else:
        notes = q_tflite.tf_to_tflite(src, dest, precision, c, q_tflite.pixel_range(contract))
        what, tools = "tensorflow", ("ai-edge-litert",)
    core._add_tflite_contract(dest, contract)
    core._loads_in("tflite", dest, final)
    return (f"{what} -> " + "; ".join(notes) + " + contract in metadata 'ferry_preprocess' (host applies it)",
            base | versions(*tools), [dest], {})
