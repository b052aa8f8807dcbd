"""ferry.runtimes.tensorflow on a real seeded Keras CNN: SavedModel, .keras and .h5 against Keras's own predict.

Tolerance: the SavedModel signature and the reloaded Keras model run the same TensorFlow kernels as the
in-memory model's predict(), and measure exactly 0 apart (20 seeds x 8 images). TOL_TF = 1e-6 relative to the
largest logit leaves room for a different CPU picking another kernel, and is still ~1e5 times below what a
different input changes (measured 0.44 on logits up to 0.86).
"""

from __future__ import annotations

import importlib
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

_MODELS = str(Path(__file__).resolve().parents[1] / "models")
if _MODELS not in sys.path:
    sys.path.insert(0, _MODELS)
tf_models = importlib.import_module("tf_models")

from ferry import runtimes  # noqa: E402
from ferry.errors import FerryError  # noqa: E402
from ferry.formats import KERAS, SAVED_MODEL, TFLITE, detect_format  # noqa: E402
from ferry.preprocess.contract import Preprocess  # noqa: E402
from ferry.runtimes import tensorflow as tfr  # noqa: E402
from ferry.runtimes.base import TensorInfo  # noqa: E402

TOL_TF = 1e-6  # relative to max |logit|; measured 0.0
IMAGE = TensorInfo("image", (None, 32, 32, 3), "float32")


@pytest.fixture(scope="module")
def cnn() -> Path:
    return tf_models.tf_cnn()


@pytest.fixture(scope="module")
def ref(cnn) -> tuple[np.ndarray, np.ndarray]:
    data = np.load(cnn / "reference.npz")
    return data["x"], data["y"]


@pytest.fixture(scope="module")
def models(cnn) -> dict[str, runtimes.Model]:
    return {f: tfr.load(cnn / f) for f in ("cnn_savedmodel", "cnn.keras", "cnn.h5")}


def _close(out: np.ndarray, y: np.ndarray, tol: float) -> float:
    err = float(np.abs(out - y).max())
    assert out.shape == y.shape and out.dtype == np.float32
    assert err <= tol * float(np.abs(y).max()), f"max abs error {err}"
    return err


def test_detect_format(cnn):
    assert detect_format(cnn / "cnn.keras") == KERAS
    assert detect_format(cnn / "cnn.h5") == KERAS
    assert detect_format(cnn / "cnn_savedmodel") == SAVED_MODEL
    assert detect_format(cnn / "cnn.tflite") == TFLITE


def test_load_dispatches_here(cnn):
    sm = runtimes.load(cnn / "cnn_savedmodel")
    assert isinstance(sm, tfr.SavedModelModel)
    assert (sm.runtime, sm.format, sm.path) == ("tensorflow", SAVED_MODEL, cnn / "cnn_savedmodel")
    for name in ("cnn.keras", "cnn.h5"):
        k = runtimes.load(cnn / name)
        assert isinstance(k, tfr.KerasModel) and (k.runtime, k.format) == ("tensorflow", KERAS)
    assert runtimes.available_runtimes(cnn / "cnn_savedmodel")[0] == "tensorflow"


def test_savedmodel_describes_its_signature(models):
    m = models["cnn_savedmodel"]
    assert m.inputs == [IMAGE]
    assert m.outputs == [TensorInfo("output_0", (None, 10), "float32")]
    assert m.signature == "serving_default"
    assert m.image_input.image_layout == "NHWC" and m.image_input.image_size == (32, 32)
    assert m.embedded is None


@pytest.mark.parametrize("name", ["cnn.keras", "cnn.h5"])
def test_keras_describes_its_layers(models, name):
    m = models[name]
    assert m.inputs == [IMAGE]
    assert m.outputs == [TensorInfo("logits", (None, 10), "float32")]
    assert m.embedded is None and tfr.read_preprocess(m.path) is None


@pytest.mark.parametrize("name", ["cnn_savedmodel", "cnn.keras", "cnn.h5"])
def test_run_equals_keras_predict(models, ref, name):
    x, y = ref
    m = models[name]
    assert x.shape[0] == 3  # a batch of 3
    out = m.run({"image": x})
    assert list(out) == [o.name for o in m.outputs]
    _close(out[m.outputs[0].name], y, TOL_TF)
    one = m.run({"image": x[1:2].astype(np.float64)})  # float64 feeds are converted
    _close(one[m.outputs[0].name], y[1:2], TOL_TF)


@pytest.mark.parametrize("name", ["cnn_savedmodel", "cnn.keras"])
def test_other_input_gives_other_outputs(models, ref, name):
    x, y = ref
    m = models[name]
    other = m.run({"image": tf_models.images(tf_models.SEED + 1)})[m.outputs[0].name]
    assert float(np.abs(other - y).max()) > 1e3 * TOL_TF * float(np.abs(y).max())


def test_bad_feeds(models, ref):
    x, _ = ref
    m = models["cnn_savedmodel"]
    with pytest.raises(FerryError, match="no input named 'pixels'"):
        m.run({"pixels": x})
    with pytest.raises(FerryError, match=r"takes shape \[None, 32, 32, 3\], got \[3, 3, 32, 32\]"):
        m.run({"image": x.transpose(0, 3, 1, 2)})
    with pytest.raises(FerryError, match="no feed for input image"):
        models["cnn.keras"].run({})


def _one_line(exc: pytest.ExceptionInfo, path: Path) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and str(path) in msg
    return msg


def test_bad_files(cnn, tmp_path):
    empty = tmp_path / "empty.keras"
    empty.write_bytes(b"")
    with pytest.raises(FerryError) as e:
        tfr.load(empty)
    _one_line(e, empty)

    garbage = tmp_path / "garbage.keras"
    garbage.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    with pytest.raises(FerryError, match="truncated or corrupt") as e:
        tfr.load(garbage)
    _one_line(e, garbage)

    truncated = tmp_path / "truncated.keras"
    data = (cnn / "cnn.keras").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(FerryError, match="truncated or corrupt") as e:
        tfr.load(truncated)
    _one_line(e, truncated)

    bad_zip = tmp_path / "bad_config.keras"  # a valid zip whose config is garbage
    with zipfile.ZipFile(bad_zip, "w") as z:
        z.writestr("metadata.json", "{}")
        z.writestr("config.json", "{not json")
        z.writestr("model.weights.h5", b"junk")
    with pytest.raises(FerryError, match="truncated or corrupt.*re-export it") as e:
        tfr.load(bad_zip)
    _one_line(e, bad_zip)

    h5 = tmp_path / "truncated.h5"
    data = (cnn / "cnn.h5").read_bytes()
    h5.write_bytes(data[: len(data) // 2])
    with pytest.raises(FerryError, match="truncated or corrupt.*re-export it") as e:
        tfr.load(h5)
    _one_line(e, h5)

    no_vars = tmp_path / "no_vars"
    shutil.copytree(cnn / "cnn_savedmodel", no_vars)
    shutil.rmtree(no_vars / "variables")
    with pytest.raises(FerryError, match="truncated or corrupt.*variables.*re-export it") as e:
        tfr.load(no_vars)
    _one_line(e, no_vars)
    with pytest.raises(FerryError) as e:  # through the registry too
        runtimes.load(no_vars)
    _one_line(e, no_vars)

    bad_pb = tmp_path / "bad_pb"
    shutil.copytree(cnn / "cnn_savedmodel", bad_pb)
    pb = bad_pb / "saved_model.pb"
    pb.write_bytes(pb.read_bytes()[:100])
    with pytest.raises(FerryError, match="truncated or corrupt") as e:
        tfr.load(bad_pb)
    _one_line(e, bad_pb)

    with pytest.raises(FerryError, match="not a TensorFlow SavedModel or Keras"):
        tfr.load(cnn / "cnn.tflite")


@pytest.mark.parametrize("name", ["lambda.keras", "lambda.h5"])
def test_lambda_layer_is_refused(cnn, name):
    with pytest.raises(FerryError, match="Lambda layer") as e:
        tfr.load(cnn / name)
    _one_line(e, cnn / name)


def test_keras_file_named_otherwise(cnn, tmp_path):
    odd = tmp_path / "model.bin"
    shutil.copyfile(cnn / "cnn.keras", odd)
    assert tfr.load(odd).outputs[0].name == "logits"


def test_embedded_asset(cnn, tmp_path):
    sm = tmp_path / "with_contract"
    shutil.copytree(cnn / "cnn_savedmodel", sm)
    contract = Preprocess.from_dict(tf_models.META_CONTRACT)
    (sm / "assets" / tfr.ASSET_NAME).write_text(contract.to_json())
    assert tfr.read_preprocess(sm) == contract
    assert tfr.load(sm).embedded == contract
    assert tfr.read_preprocess(cnn / "cnn_savedmodel") is None


def test_native_recipe_is_the_reference(models):
    from ferry.preprocess.presets import preset
    from ferry.preprocess.reference import preprocess_batch

    m = models["cnn_savedmodel"]
    contract = m.resolve(preset("imagenet"))
    recipe = tfr.native(contract)
    assert recipe.exact and recipe.runtime == "tensorflow"
    assert "serving_default" in recipe.code
    img = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    ns = {"np": np, "img": img}
    exec("\n".join(line for line in recipe.code.splitlines()[:-1] if "cv2.resize" not in line), ns)
    np.testing.assert_array_equal(ns["x"], preprocess_batch([img], contract))


def test_openvino_reads_the_savedmodel(cnn, ref):
    ov = pytest.importorskip("openvino")
    x, y = ref
    model = ov.convert_model(str(cnn / "cnn_savedmodel"))
    assert model.inputs[0].get_any_name() == "image" and model.outputs[0].get_any_name() == "output_0"
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    out = compiled(x)[0]
    # OpenVINO's CPU kernels sum in another order: measured 9e-8 on logits up to 0.86, as TFLite does
    _close(out, y, 1e-5)


def test_one_input_held_as_a_list_runs_without_keras_warning(tmp_path):
    """A model saved by Keras 2 with one input holds it as a list (fer's emotion_model.hdf5 does); the bare array
    made Keras 3 warn "The structure of `inputs` doesn't match" on every call, in check and in the doctor."""
    import warnings

    import keras

    x = keras.Input((8, 8, 1), name="input_1")
    y = keras.layers.Dense(3)(keras.layers.Flatten()(keras.layers.BatchNormalization()(x)))
    path = tmp_path / "listed.keras"
    keras.Model([x], y).save(path)
    model = runtimes.load(path, "tensorflow")
    feed = np.random.default_rng(0).random((2, 8, 8, 1), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = next(iter(model.run({"input_1": feed}).values()))
    want = keras.models.load_model(path, compile=False).predict(feed, verbose=0)
    np.testing.assert_allclose(out, want, rtol=1e-6, atol=1e-6)
    assert tfr.keras_inputs(keras.Model(x, y), [feed]) is feed  # a bare-input model still gets the bare array


def test_a_keras_2_file_keras_3_cannot_read_says_so(tmp_path):
    """EmoPy 0.0.5's models (Keras 2.0.6 HDF5, a Sequential config as a list) fail in Keras 3 with "pop expected at
    most 1 argument": named as the version gap, with the way out, not as a corrupt file."""
    import h5py
    import keras

    x = keras.Input((4,))
    path = tmp_path / "old.h5"
    keras.Model(x, keras.layers.Dense(2)(x)).save(path)
    with h5py.File(path, "r+") as f:
        f.attrs["keras_version"] = "2.0.6"
        f.attrs["model_config"] = '{"class_name": "Sequential", "config": [{"class_name": "Dense", "config": {}}]}'
    with pytest.raises(FerryError, match=r"written by Keras 2\.0\.6, whose model config Keras 3\.\S+ cannot read"):
        runtimes.load(path, "tensorflow")
    with h5py.File(path, "r+") as f:
        f.attrs["keras_version"] = keras.__version__
    with pytest.raises(FerryError, match="truncated or corrupt"):
        runtimes.load(path, "tensorflow")
