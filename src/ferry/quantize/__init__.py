"""Reduced-precision targets made by `ferry convert --precision fp16|int8`, each with its runtime's own tool.

    target    int8                                                        fp16
    onnx      onnxruntime.quantization.quantize_static, QDQ, per-channel  onnxruntime float16 converter, float I/O
    opencv    the int8 ONNX (whether cv2.dnn loads it is its own answer)  the fp16 ONNX
    openvino  nncf.quantize on the ov.Model (before the PrePostProcessor)  save_model(compress_to_fp16=True)
    tflite    TFLiteConverter full-integer (TF) / litert_torch, then      TFLiteConverter supported_types float16 (TF);
              ai_edge_quantizer static_wi8_ai8 with min/max (torch)       none from torch (refused, said)
    coreml    ct.optimize.coreml.linear_quantize_weights (int8 weights)   ct.convert compute_precision FLOAT16

int8 is calibrated on the user's own photos passed through the contract (ferry.quantize.calibration): the
representative dataset is the very tensor the target is fed in deployment, not noise or another data set. Each
made file is checked against the float source like every target; ferry.json says its precision and what it costs.
"""

from __future__ import annotations

from ferry.errors import FerryError

PRECISIONS = ("fp32", "fp16", "int8")


def parse_precisions(value: str | list[str] | None) -> list[str]:
    """`--precision fp16,int8` -> ["fp16", "int8"]; default ["fp32"]. Bad names are one line, exit 2."""
    if value is None:
        return ["fp32"]
    items = [p.strip().lower() for p in (value.split(",") if isinstance(value, str) else value) if p.strip()]
    aliases = {"float32": "fp32", "float16": "fp16", "half": "fp16", "f16": "fp16", "f32": "fp32", "i8": "int8"}
    items = [aliases.get(p, p) for p in items]
    bad = [p for p in items if p not in PRECISIONS]
    if bad or not items:
        raise FerryError(f"--precision {','.join(bad) or '(empty)'}: the precisions are {','.join(PRECISIONS)} "
                         "(several with commas: fp32,int8)")
    return list(dict.fromkeys(items))
