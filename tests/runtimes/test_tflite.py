"""ferry.runtimes.tflite on real LiteRT: the seeded Keras CNN converted to float32, uint8 and fixed-batch .tflite.

Tolerance: LiteRT (XNNPACK) sums the convolutions and the 1024-wide dense layer in another order than
TensorFlow's kernels. Measured over 20 seeds x 8 images, inputs up to 4x the unit range: max error 6.6e-6 on
logits up to ~4, i.e. 1.5e-6 of the largest logit (5.7e-7 absolute on the reference batch, logits up to
0.86). TOL_TFLITE = 1e-5 relative to the largest logit is ~7x the worst measured, and ~1e4 times below what
a different input changes.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert")

_MODELS = str(Path(__file__).resolve().parents[1] / "models")
if _MODELS not in sys.path:
    sys.path.insert(0, _MODELS)
tf_models = importlib.import_module("tf_models")

from ferry import runtimes  # noqa: E402
from ferry.errors import FerryError  # noqa: E402
from ferry.formats import TFLITE  # noqa: E402
from ferry.preprocess.contract import Preprocess  # noqa: E402
from ferry.runtimes import tflite  # noqa: E402
from ferry.runtimes.base import TensorInfo  # noqa: E402

TOL_TFLITE = 1e-5  # relative to max |logit|; measured worst 1.5e-6
IN = "serving_default_image:0"
OUT = "output_0"  # the signature's name for the output (issue 15: outputs are read through the signature runner)
TENSOR_OUT = "StatefulPartitionedCall_1:0"  # the output tensor's own name, what OpenVINO's TFLite frontend shows


@pytest.fixture(scope="module")
def cnn() -> Path:
    try:
        return tf_models.tf_cnn()
    except ImportError as exc:  # building (not loading) needs TensorFlow
        pytest.skip(f"building the test models needs TensorFlow: {exc}")


@pytest.fixture(scope="module")
def ref(cnn) -> tuple[np.ndarray, np.ndarray]:
    data = np.load(cnn / "reference.npz")
    return data["x"], data["y"]


@pytest.fixture(scope="module")
def fp32(cnn) -> tflite.TFLiteModel:
    return tflite.load(cnn / "cnn.tflite")


@pytest.fixture(scope="module")
def u8(cnn) -> tflite.TFLiteModel:
    return tflite.load(cnn / "cnn_uint8.tflite")


def _close(out: np.ndarray, y: np.ndarray, tol: float = TOL_TFLITE) -> float:
    err = float(np.abs(out - y).max())
    assert out.shape == y.shape and out.dtype == np.float32
    assert err <= tol * float(np.abs(y).max()), f"max abs error {err}"
    return err


def test_describes_the_interpreter_tensors(fp32, cnn):
    assert (fp32.runtime, fp32.format, fp32.path) == ("tflite", TFLITE, cnn / "cnn.tflite")
    assert fp32.inputs == [TensorInfo(IN, (None, 32, 32, 3), "float32")]
    assert fp32.outputs == [TensorInfo(OUT, (None, 10), "float32")]
    assert fp32.image_input.image_layout == "NHWC" and fp32.image_input.image_size == (32, 32)
    assert fp32.quantization == {} and fp32.embedded is None
    assert fp32.signature_inputs == {"image": IN}


def test_load_dispatches_here(cnn):
    m = runtimes.load(cnn / "cnn.tflite")
    assert isinstance(m, tflite.TFLiteModel) and m.runtime == "tflite"
    assert runtimes.available_runtimes(cnn / "cnn.tflite")[0] == "tflite"


def test_run_equals_keras_predict(fp32, ref):
    x, y = ref
    out = fp32.run({IN: x})  # batch 3: the input is resized from the file's [1, 32, 32, 3]
    assert list(out) == [OUT]
    _close(out[OUT], y)
    _close(fp32.run({IN: x[2:3]})[OUT], y[2:3])  # back to 1
    _close(fp32.run({"image": x})[OUT], y)  # the signature key names the same input, and back to 3


def test_fixed_batch_runs_slices(cnn, ref):
    x, y = ref
    m = tflite.load(cnn / "cnn_b1.tflite")
    assert m.inputs[0].shape == (1, 32, 32, 3)
    _close(m.run({m.inputs[0].name: x})[m.outputs[0].name], y)
    with pytest.raises(FerryError, match=r"takes shape \[1, 32, 32, 3\], got \[3, 32, 32, 4\]"):
        m.run({m.inputs[0].name: np.zeros((3, 32, 32, 4), np.float32)})


def test_other_input_gives_other_outputs(fp32, ref):
    _, y = ref
    other = fp32.run({IN: tf_models.images(tf_models.SEED + 1)})[OUT]
    assert float(np.abs(other - y).max()) > 1e3 * TOL_TFLITE * float(np.abs(y).max())


def test_bad_feeds(fp32, ref):
    x, _ = ref
    with pytest.raises(FerryError, match="no input named 'pixels'"):
        fp32.run({"pixels": x})
    with pytest.raises(FerryError, match="no feed for input"):
        fp32.run({})
    with pytest.raises(FerryError, match=r"takes shape \[None, 32, 32, 3\], got \[3, 3, 32, 32\]"):
        fp32.run({IN: x.transpose(0, 3, 1, 2)})
    with pytest.raises(FerryError, match="takes shape"):
        fp32.run({IN: x[0]})


def _quantize(x: np.ndarray, scale: float, zp: int) -> np.ndarray:
    return np.clip(np.round(x / scale + zp), 0, 255).astype(np.uint8)


def test_quantized_model(u8, cnn, ref):
    from ai_edge_litert.interpreter import Interpreter

    x, y = ref
    assert u8.inputs == [TensorInfo(IN, (None, 32, 32, 3), "uint8")]
    assert u8.outputs == [TensorInfo(OUT, (None, 10), "float32")]  # run() dequantises
    assert set(u8.quantization) == {IN, OUT}
    (s_in, z_in), (s_out, z_out) = u8.quantization[IN], u8.quantization[OUT]
    assert s_in > 0 and 0 <= z_in <= 255 and s_out > 0
    assert any("dequantised" in n for n in u8.notes)

    xq = _quantize(x, s_in, z_in)
    out = u8.run({IN: xq})[OUT]
    # the uint8 tensor goes in as given and the output is (q - zero_point) * scale of the raw interpreter's
    raw = Interpreter(model_path=str(cnn / "cnn_uint8.tflite"))
    raw.allocate_tensors()
    for i in range(len(xq)):
        raw.set_tensor(raw.get_input_details()[0]["index"], xq[i:i + 1])
        raw.invoke()
        q = raw.get_tensor(raw.get_output_details()[0]["index"])
        np.testing.assert_array_equal(out[i:i + 1], (q.astype(np.float32) - z_out) * np.float32(s_out))
    # and it is the float model, up to 8-bit quantisation (measured 0.19 of logits up to 0.86 over 160 images)
    assert float(np.abs(out - y).max()) <= 0.35 * float(np.abs(y).max())
    assert np.corrcoef(out.ravel(), y.ravel())[0, 1] > 0.9

    with pytest.raises(FerryError, match="uint8-quantised .*got float32"):
        u8.run({IN: x})


def test_embedded_contract(cnn):
    expected = Preprocess.from_dict(tf_models.META_CONTRACT)
    assert tflite.read_preprocess(cnn / "cnn_meta.tflite") == expected
    assert tflite.load(cnn / "cnn_meta.tflite").declared == expected
    assert tflite.load(cnn / "cnn_meta.tflite").embedded is None  # metadata only: the host applies it
    assert tflite.read_preprocess(cnn / "cnn.tflite") is None
    assert {"min_runtime_version", "ferry_preprocess"} <= set(tflite.read_metadata(cnn / "cnn_meta.tflite"))


@pytest.mark.parametrize("cut", [0, 7, 100, 0.5, -64, -8])
def test_truncated_file(cnn, tmp_path, cut):
    data = (cnn / "cnn.tflite").read_bytes()
    n = cut if isinstance(cut, int) and cut >= 0 else (int(len(data) * cut) if isinstance(cut, float)
                                                       else len(data) + cut)
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(data[:n])
    for call in (tflite.load, runtimes.load):
        with pytest.raises(FerryError) as e:
            call(bad)
        msg = str(e.value)
        assert str(bad) in msg and "\n" not in msg
        if n >= 8:
            assert "truncated or corrupt" in msg and "re-export it" in msg
    # read_preprocess reads only the metadata (load verifies the whole file): None, or the same FerryError
    try:
        assert tflite.read_preprocess(bad) is None
    except FerryError as exc:
        assert str(bad) in str(exc) and "\n" not in str(exc)


def test_not_tflite(cnn):
    with pytest.raises(FerryError, match="not a TFLite flatbuffer"):
        tflite.load(cnn / "cnn.keras")


def test_native_recipe_runs_the_interpreter(fp32):
    from ferry.preprocess.presets import preset
    from ferry.preprocess.reference import preprocess_batch

    contract = fp32.resolve(preset("imagenet"))
    recipe = tflite.native(contract)
    assert recipe.exact and recipe.runtime == "tflite" and "set_tensor" in recipe.code
    img = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    x = preprocess_batch([img], contract)
    fresh = tflite.load(fp32.path)
    ns = {"np": np, "img": img, "interpreter": fresh._interpreter}
    exec("\n".join(line for line in recipe.code.splitlines() if "cv2.resize" not in line), ns)
    np.testing.assert_array_equal(ns["x"], x)
    np.testing.assert_array_equal(fresh._interpreter.get_tensor(fresh._out[0]["index"]), fp32.run({IN: x})[OUT])


def test_native_recipe_feeds_a_full_integer_file(cnn):
    """The pasted lines quantise the contract's float tensor with the uint8 input's scale and zero point and
    dequantise the uint8 output, as ferry's runtime does: the same input bytes and the same outputs."""
    from ferry.preprocess.presets import preset
    from ferry.preprocess.reference import preprocess_batch

    q = tflite.load(cnn / "cnn_uint8.tflite")
    contract = q.resolve(preset("imagenet"))
    img = np.random.default_rng(2).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    x = preprocess_batch([img], contract)
    fresh = tflite.load(q.path)
    ns = {"np": np, "img": img, "interpreter": fresh._interpreter}
    exec("\n".join(line for line in tflite.native(contract).code.splitlines() if "cv2.resize" not in line), ns)
    assert ns["x"].dtype == np.uint8
    fed = tflite.quantize_feed(x, q.image_input, q.quantization)
    assert fed.dtype == np.uint8 and len(np.unique(fed)) > 10
    np.testing.assert_array_equal(ns["x"], fed)
    want = q.run({q.image_input.name: fed})
    (name,) = want
    assert ns["y"].dtype == np.float32 and np.array_equal(ns["y"], want[name])


def test_openvino_reads_the_tflite(cnn, ref, fp32):
    ov = pytest.importorskip("openvino")
    x, y = ref
    model = ov.Core().read_model(str(cnn / "cnn.tflite"))
    # OpenVINO names the tensors as LiteRT's tensors are named (ferry's TFLite runtime uses the signature's names)
    assert model.inputs[0].get_any_name() == IN and model.outputs[0].get_any_name() == TENSOR_OUT
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    out = compiled(x)[0]
    _close(out, y)
    _close(out, fp32.run({IN: x})[OUT])
