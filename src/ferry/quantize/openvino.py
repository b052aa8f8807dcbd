"""int8 OpenVINO: NNCF post-training quantization (`nncf.quantize`) of the ov.Model, before the PrePostProcessor.

NNCF inserts FakeQuantize ops on the float model (weights per channel, activations from the calibration set,
its default symmetric "performance" preset and fast bias correction); the IR's CPU plugin runs them as int8
kernels. The calibration tensors are the photos through the contract, what the model input gets once the PPP
has normalised the uint8 pixels, so the PPP is added after quantization and stays float.

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
            q = nncf.quantize(model, nncf.Dataset(list(calib.tensors)), subset_size=len(calib))
    except Exception as exc:  # noqa: BLE001
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ConversionError(f"{where}: nncf.quantize failed: {first}", tool="nncf") from None
    return q, (f"nncf.quantize {package_version('nncf')} (FakeQuantize int8, weights per channel, activations "
               f"from {len(calib)} photos through the contract)")
