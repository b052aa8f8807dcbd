"""Reduced-precision TFLite, with the converter each source already goes through (ferry.convert.exporters).

TF / Keras: tf.lite.TFLiteConverter post-training quantization.
    int8  full integer: `optimizations=[DEFAULT]`, a representative dataset of the photos through the contract,
          `supported_ops=[TFLITE_BUILTINS_INT8]` (a float op left over fails the conversion instead of silently
          staying float). Input and output stay float32: the converter puts QUANTIZE/DEQUANTIZE at the edges.
    fp16  `supported_types=[tf.float16]`: float16 weights, DEQUANTIZE to float32 at load, float32 compute.
torch: litert_torch (ferry[tflite-torch]).
    int8  PT2E: torch.export, `prepare_pt2e` with litert_torch's PT2EQuantizer (int8 weights symmetric per
          channel, int8 activations with MinMax observers), the photos run through the observers, `convert_pt2e`,
          then litert_torch.convert lowers the quantize/dequantize pairs to int8 TFLite kernels. The file's
          input and output are int8 with scale/zero point (litert_torch folds the edge quantize ops into them):
          ferry's runtimes quantise the contract's float tensor with the input's parameters, as an app does.
    fp16  not offered by litert_torch's converter for a torch module: unreachable, said.

Why float input, not uint8 with the contract in the input's scale/zero point: an int8/uint8 TFLite input means
real = scale * (q - zero_point), which equals the contract (x * s - m) / sd only when one scale and mean serve all
channels (no per-channel std) and m / s is an integer pixel level; TFLiteConverter picks the input's parameters
from the calibrated range itself and has no way to be told them. ferry keeps float input (the app applies the
contract as for a float32 TFLite file, `ferry native tflite`), which is exact for every contract.
"""

from __future__ import annotations

from pathlib import Path

from ferry.convert.manifest import package_version
from ferry.errors import require
from ferry.op_errors import ConversionError, explain
from ferry.preprocess.contract import Preprocess
from ferry.quantize.calibration import Calibration
from ferry.runtimes.base import Model


def tf_to_tflite(source: Model, dest: Path, precision: str, calib: Calibration | None) -> list[str]:
    """SavedModel or Keras -> a reduced-precision TFLite file at `dest`."""
    from ferry.convert.exporters import quiet, tflite_converter

    tf = require("tensorflow", "tensorflow")
    try:
        with quiet():
            conv = tflite_converter(tf, source)
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            if precision == "fp16":
                conv.target_spec.supported_types = [tf.float16]
                conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
            else:
                assert calib is not None
                conv.representative_dataset = lambda: ([x] for x in calib.tensors)
                conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            data = conv.convert()
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, "tf.lite.TFLiteConverter", source.path) from None
    dest.write_bytes(data)
    tfv = package_version("tensorflow")
    if precision == "fp16":
        return [f"tf.lite.TFLiteConverter (TensorFlow {tfv}, float16 weights, float32 compute)"]
    return [f"tf.lite.TFLiteConverter (TensorFlow {tfv}, full integer: int8 ops, representative dataset of "
            f"{len(calib)} photos through the contract, float32 input and output)"]


def torch_to_tflite(source: Model, contract: Preprocess, dest: Path, precision: str,
                    calib: Calibration | None) -> list[str]:
    """A torch model -> int8 TFLite through PT2E and litert_torch (fp16 is refused: see the module docstring)."""
    from ferry.convert import exporters

    if precision != "int8":
        raise ConversionError(f"{source.path}: litert_torch converts a torch module to float32 or int8 (PT2E) "
                              "TFLite, not float16: convert --precision int8, or fp16 from the TensorFlow source",
                              tool="litert_torch")
    assert calib is not None
    torch = require("torch", "torch")
    import numpy as np

    with exporters.quiet():
        litert_torch = require("litert_torch", exporters.TFLITE_TORCH_EXTRA)
        from litert_torch.quantize import pt2e_quantizer
        from litert_torch.quantize.quant_config import QuantConfig
        from torchao.quantization.pt2e import quantize_pt2e
    module = source._module  # type: ignore[attr-defined]
    shape = (1, *exporters.example_shape(contract)[1:])
    example = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32))
    try:
        with exporters.quiet():
            if isinstance(module, torch.jit.ScriptModule):
                from torch._export.converter import TS2EPConverter

                module = TS2EPConverter(module, (example,)).convert().module()
            with torch.inference_mode():
                probe = module(example)
            in_name = exporters._identifier(source.inputs[0].name, "input")
            named = exporters._named_io(module, in_name, exporters._output_names(source, probe), torch)
            quantizer = pt2e_quantizer.PT2EQuantizer().set_global(_minmax_config(pt2e_quantizer))
            exported = torch.export.export(named, (), {in_name: example}).module()
            prepared = quantize_pt2e.prepare_pt2e(exported, quantizer)
            with torch.no_grad():
                for x in calib.tensors:
                    prepared(**{in_name: torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))})
            quantized = quantize_pt2e.convert_pt2e(prepared, fold_quantize=False)
            data = litert_torch.convert(quantized, (), {in_name: example},
                                        quant_config=QuantConfig(pt2e_quantizer=quantizer)).model_content()
    except Exception as exc:  # noqa: BLE001
        raise exporters._litert_error(exc, source.path) from None
    dest.write_bytes(data)
    return [f"PT2E (torchao prepare_pt2e/convert_pt2e, litert_torch PT2EQuantizer: int8 weights symmetric per "
            f"channel, int8 activations MinMax on {len(calib)} photos through the contract) -> litert_torch.convert "
            f"{package_version('litert-torch')}, input layout {contract.layout or 'NCHW'}, batch fixed at 1"]


def _minmax_config(pt2e_quantizer):
    """litert_torch's symmetric config with MinMax activation observers instead of its HistogramObserver.
    Measured on EfficientNet-Lite0 over the 10 bundled photos (torch fake-quant, before lowering): top-1 agreement
    with the float model 0.5 with HistogramObserver (its L2-optimal clipping fits 10 photos' histograms), 0.8 with
    MinMax, the observer onnxruntime's quantize_static uses by default."""
    import dataclasses

    from torchao.quantization.pt2e import MinMaxObserver

    cfg = pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False)
    act = dataclasses.replace(cfg.input_activation, observer_or_fake_quant_ctr=MinMaxObserver.with_args(eps=2**-12))
    return dataclasses.replace(cfg, input_activation=act, output_activation=act)
