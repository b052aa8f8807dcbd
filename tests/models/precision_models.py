"""Reduced-precision copies of the real EfficientNet-Lite0 for the fair-verdict and mutation tests, made once by the
runtimes' own tools and cached (FERRY_TEST_CACHE/precision-<hash of this file>):

    fp16         onnxruntime.transformers.float16.convert_float_to_float16 (keep_io_types)
    int8         onnxruntime.quantization.quantize_static: QDQ, per-channel int8 weights, uint8 activations,
                 calibrated on the bundled photos through the model's contract
    damaged(f)   the float model with its largest weight tensor (the 1280x1000 classifier) scaled by f, then
                 converted the same way: a wrong checkpoint deployed as the model
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = sorted(p for p in (ROOT / "examples" / "images").iterdir() if p.suffix == ".jpg")
CROP = {"mode": "shorter_side_crop", "crop_fraction": 0.875}


def contract() -> dict:
    import pretrained

    return dict(pretrained.EFFNET_CONTRACT, resize=CROP)


def _dir() -> Path:
    from torch_models import keyed_cache_dir

    return keyed_cache_dir("precision", __file__)


def _atomic(dest: Path, write) -> Path:
    if dest.is_file():
        return dest
    fd, tmp = tempfile.mkstemp(suffix=dest.suffix, dir=dest.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def fp32(damage: float = 1.0) -> Path:
    """The float ONNX (torch.onnx export of the real weights), its classifier scaled by `damage` when not 1."""
    import pretrained

    src = pretrained.efficientnet_lite0_onnx()
    if damage == 1.0:
        return src

    def write(tmp: Path) -> None:
        import onnx
        from onnx import numpy_helper

        m = onnx.load(str(src))
        big = max((t for t in m.graph.initializer if t.data_type == onnx.TensorProto.FLOAT),
                  key=lambda t: int(np.prod(t.dims)))
        arr = numpy_helper.to_array(big) * np.float32(damage)
        big.CopyFrom(numpy_helper.from_array(arr.astype(np.float32), big.name))
        onnx.save(m, str(tmp))

    return _atomic(_dir() / f"effnet.w{damage}.onnx", write)


def fp16(damage: float = 1.0) -> Path:
    def write(tmp: Path) -> None:
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16

        onnx.save(convert_float_to_float16(onnx.load(str(fp32(damage))), keep_io_types=True), str(tmp))

    return _atomic(_dir() / f"effnet.w{damage}.fp16.onnx", write)


def int8(damage: float = 1.0) -> Path:
    def write(tmp: Path) -> None:
        import onnx
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

        from ferry.images import load_image
        from ferry.preprocess.contract import load_contract
        from ferry.preprocess.reference import preprocess_batch

        src = fp32(damage)
        name = onnx.load(str(src), load_external_data=False).graph.input[0].name
        c = load_contract(contract())
        feeds = iter([{name: preprocess_batch([load_image(p)], c)} for p in PHOTOS])

        class Reader(CalibrationDataReader):
            def get_next(self):
                return next(feeds, None)

        quantize_static(str(src), str(tmp), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)

    return _atomic(_dir() / f"effnet.w{damage}.int8.onnx", write)


def int8_weights_ir(damage: float = 1.0) -> Path:
    """Weight-only int8: `nncf.compress_weights` (INT8_ASYM, per channel) on the float ONNX's IR, saved in f32."""
    dest = _dir() / f"effnet.w{damage}.int8w.xml"
    if dest.is_file() and dest.with_suffix(".bin").is_file():
        return dest
    import nncf
    import openvino as ov

    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        xml = Path(tmp) / dest.name
        ov.save_model(nncf.compress_weights(ov.convert_model(str(fp32(damage))),
                                            mode=nncf.CompressWeightsMode.INT8_ASYM), str(xml), compress_to_fp16=False)
        os.replace(xml.with_suffix(".bin"), dest.with_suffix(".bin"))  # the .xml last: it marks the pair complete
        os.replace(xml, dest)
    return dest
