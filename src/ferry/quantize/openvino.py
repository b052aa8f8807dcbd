"""int8 OpenVINO: NNCF post-training quantization (`nncf.quantize`) of the ov.Model, before the PrePostProcessor.

NNCF inserts FakeQuantize ops on the float model (weights per channel, its default symmetric "performance"
preset and fast bias correction); the IR's CPU plugin runs them as int8 kernels. Activation ranges are the
global min/max over the photos (RangeEstimatorParametersSet.MINMAX), not NNCF's default mean of each photo's
min/max: on a handful of the user's photos the default clips the photos at the extremes. Measured on the seeded
colour CNN (tests/models/quant_models.py), 10 photos: max abs logit error 10.7 (peak 18.9) with the default,
0.37 with MINMAX (onnxruntime's MinMax QDQ: 0.20). The calibration tensors are the photos through the contract,
what the model input gets once the PPP has normalised the uint8 pixels, so the PPP is added after quantization
and stays float.

NNCF (optional extra `ferry[quantize]`, nncf 3.4.0) depends on openvino-telemetry: ferry sets NNCF_CI=1 before
importing it, the switch NNCF reads to use its telemetry stub (nncf/telemetry/wrapper.py), so nothing is sent.
fp16 needs no tool: `ov.save_model(compress_to_fp16=True)` stores the weights in float16.
"""

from __future__ import annotations

import os

from ferry.errors import MissingRuntime, require
from ferry.op_errors import ConversionError
from ferry.quantize.calibration import Calibration

NNCF_EXTRA = "quantize"


def _nncf():
    os.environ.setdefault("NNCF_CI", "1")  # nncf's telemetry stub: ferry reaches no network
    return require("nncf", NNCF_EXTRA)


def quantize_int8(model, calib: Calibration, where: str):
    """(quantized ov.Model, route text)."""
    import logging

    from ferry.convert.exporters import quiet
    from ferry.convert.manifest import package_version

    try:
        nncf = _nncf()
    except MissingRuntime as exc:
        raise ConversionError(f"{where}: OpenVINO int8 needs NNCF: {exc}", tool="nncf") from None
    logging.getLogger("nncf").setLevel(logging.ERROR)
    if len(model.inputs) != 1:
        raise ConversionError(f"{where}: int8 calibration feeds one image input; the model has "
                              f"{len(model.inputs)}", tool="nncf")
    try:
        with quiet():
            from nncf.quantization.range_estimator import RangeEstimatorParametersSet

            adv = nncf.AdvancedQuantizationParameters(
                activations_range_estimator_params=RangeEstimatorParametersSet.MINMAX)
            q = nncf.quantize(model, nncf.Dataset(list(calib.tensors)), subset_size=len(calib),
                              advanced_parameters=adv)
    except Exception as exc:  # noqa: BLE001
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ConversionError(f"{where}: nncf.quantize failed: {first}", tool="nncf") from None
    return q, (f"nncf.quantize {package_version('nncf')} (FakeQuantize int8, weights per channel, activation "
               f"ranges min/max over {len(calib)} photos through the contract)")
