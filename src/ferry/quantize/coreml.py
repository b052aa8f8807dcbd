"""Reduced-precision Core ML, with coremltools' own switches (ferry.runtimes.coreml.convert calls these).

    fp16  ct.convert(compute_precision=FLOAT16): weights and activations float16 in the ML Program (casts
          from the float32 image input), what Core ML runs on the GPU and Neural Engine anyway.
    int8  float32 compute, weights int8: ct.optimize.coreml.linear_quantize_weights (linear symmetric, per
          output channel), which writes iOS16 `constexpr_affine_dequantize` ops, so the program is converted
          with minimum_deployment_target iOS16. Activations stay float: Core ML has no calibrated activation
          quantization for a converted model without its training-time tools (coremltools' activation
          quantization, `linear_quantize_activations`, is experimental and needs iOS17+ and a Mac to run).

ferry's MIL interpreter (ferry.coreml) runs both on Linux: float16 operands are computed in float32 inside each op
and the output rounded to the float16 the program declares (ferry.coreml.mil._widen), constexpr dequantize ops by
their documented formula (ferry.coreml.constexpr). The Neural Engine's own float16 accumulation may differ from that
by more: only a Mac can say.
"""

from __future__ import annotations

from typing import Any

from ferry.op_errors import ConversionError


def convert_options(ct, precision: str) -> dict[str, Any]:
    """ct.convert keyword arguments for `precision`."""
    if precision == "fp16":
        return {"compute_precision": ct.precision.FLOAT16}
    if precision == "int8":
        return {"compute_precision": ct.precision.FLOAT32, "minimum_deployment_target": ct.target.iOS16}
    return {"compute_precision": ct.precision.FLOAT32}


def after_convert(ct, mlmodel, precision: str, where) -> Any:
    """int8: the converted float32 program's weights quantized to int8; else the model as it is."""
    if precision != "int8":
        return mlmodel
    from ferry.convert.exporters import quiet

    try:
        with quiet():
            config = ct.optimize.coreml.OptimizationConfig(
                global_config=ct.optimize.coreml.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8",
                                                                         granularity="per_channel"))
            return ct.optimize.coreml.linear_quantize_weights(mlmodel, config=config)
    except Exception as exc:  # noqa: BLE001
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ConversionError(f"{where}: ct.optimize.coreml.linear_quantize_weights failed: {first}",
                              tool="coremltools") from None


def route(precision: str) -> str:
    if precision == "fp16":
        return "coremltools.convert (compute_precision FLOAT16) -> mlprogram, ImageType input"
    if precision == "int8":
        return ("coremltools.convert (float32, iOS16) -> ct.optimize.coreml.linear_quantize_weights (int8 weights "
                "per channel, constexpr_affine_dequantize; float activations) -> mlprogram, ImageType input")
    return "coremltools.convert -> mlprogram, ImageType input (scale, bias, colour layout)"
