"""ferry.quantize.tflite: the int8 input that is the contract itself, where that is exact (a unique basename:
tests/runtimes/test_tflite.py exists and the suite has no packages)."""

from __future__ import annotations

import numpy as np
import pytest

from ferry.preprocess import load_contract
from ferry.quantize.tflite import pixel_range


@pytest.mark.parametrize(("contract", "want"), [
    ({"mean": [127.0] * 3, "std": [128.0] * 3, "scale": 1.0}, (-127 / 128, 1.0)),  # EfficientNet-Lite0
    ("unit", (0.0, 1.0)),
    ({"preset": "unit", "scale": 1.0}, (0.0, 255.0)),  # raw pixels
    ("imagenet", None),  # per-channel mean/std: no one scale and zero point
    ({"mean": [127.5] * 3, "std": [127.5] * 3, "scale": 1.0}, None),  # zero point 0.5: half a level off
    ({"mean": [127.0] * 3, "std": [-128.0] * 3, "scale": 1.0}, None),  # negative gain
])
def test_pixel_range_only_where_int8_is_exact(contract, want):
    got = pixel_range(load_contract(contract))
    if want is None:
        assert got is None
    else:
        assert got is not None and np.allclose(got, want, atol=1e-9), got
        lo, hi = got
        scale = (hi - lo) / 255
        zero = -128 - lo / scale
        assert abs(zero - round(zero)) < 1e-9 and -128 <= round(zero) <= 127


def _dimmed(photos, tmp_path) -> list:
    """The photos squeezed into 40..215: a calibrated input range would not be the contract's."""
    from PIL import Image

    dim = []
    for p in photos:
        arr = np.asarray(Image.open(p).convert("RGB"), dtype=np.float64)
        dest = tmp_path / f"dim_{p.stem}.png"
        Image.fromarray(np.round(40 + arr * (175 / 255)).astype(np.uint8)).save(dest)
        dim.append(dest)
    return dim


def _int8_input_is_one_over_128(folder, tool: str):
    """The made file's int8 input has scale 1/128 and zero point -1, read back; its route (by `tool`) says so."""
    import json

    from ai_edge_litert.interpreter import Interpreter

    f = folder / "cnn.int8.tflite"
    (inp,) = Interpreter(model_path=str(f)).get_input_details()
    assert np.dtype(inp["dtype"]).name == "int8"
    assert inp["quantization"][0] == pytest.approx(1 / 128, rel=1e-6) and inp["quantization"][1] == -1
    route = next(t for t in json.loads((folder / "ferry.json").read_text())["targets"]
                 if t["format"] == "tflite")["route"]
    assert tool in route and "q = pixel - 128" in route, route
    return f


@pytest.mark.slow
def test_made_int8_input_is_the_contract_and_checks(photos, tmp_path):
    """Calibration photos need not reach 0 and 255 (here dimmed to 40..215, so a calibrated input range would give
    another scale): the input's range is set to the contract's image of 0..255, read back from the file (scale
    1/128, zero point -1), and the file passes its check against torch."""
    import quant_models as qm

    from ferry.check import check

    dim = _dimmed(photos, tmp_path)
    contract = {"mean": [127.0] * 3, "std": [128.0] * 3, "scale": 1.0, "size": [qm.HEIGHT, qm.WIDTH]}
    f = _int8_input_is_one_over_128(qm.made("pixels", qm.FACTORY, contract, "tflite", "int8", dim), "ai_edge_quantizer")
    row = check(qm.FACTORY, [f], dim, preprocess=contract).targets[0].to_dict()
    assert row["passed"], row["outputs"]


def test_keras_int8_input_is_the_contract_and_checks(photos, tmp_path):
    """From Keras (TFLiteConverter): (x - 127) / 128 on photos dimmed to 40..215 gives an int8 input of scale 1/128,
    zero point -1 (the calibrated range alone would give 175/128/255 and another zero point), read back from the
    file, and the file passes its check in LiteRT and OpenVINO; ImageNet's per-channel std is no int8 image, so
    that file keeps a float32 input."""

    import quant_models as qm
    import tf_models
    from ai_edge_litert.interpreter import Interpreter

    from ferry.check import check

    keras = str(tf_models.tf_cnn() / "cnn.keras")
    dim = _dimmed(photos, tmp_path)
    contract = {"mean": [127.0] * 3, "std": [128.0] * 3, "scale": 1.0, "layout": "NHWC"}
    f = _int8_input_is_one_over_128(qm.made("keras-pixels", keras, contract, "tflite", "int8", dim), "TFLiteConverter")
    rows = check(keras, [(f, "tflite"), (f, "openvino")], dim, preprocess=contract).targets
    assert [r.runtime for r in rows] == ["tflite", "openvino"]
    for r in rows:
        assert r.passed, r.to_dict()["outputs"]
    imagenet = {"preset": "imagenet", "layout": "NHWC"}
    g = qm.made("keras-imagenet", keras, imagenet, "tflite", "int8", photos) / "cnn.int8.tflite"
    (inp,) = Interpreter(model_path=str(g)).get_input_details()
    assert np.dtype(inp["dtype"]).name == "float32"
