"""TensorFlow: a SavedModel directory (its serving_default signature) or a Keras .keras / .h5 file.

SavedModel: inputs and outputs are the serving_default signature's keys (what `model.export()` and
`tf.saved_model.save(..., signatures=...)` name them), and `run` calls that signature. Embedded
preprocessing is the asset file `assets/ferry_preprocess.json`.

Keras: loaded with `keras.models.load_model(compile=False, safe_mode=True)`; safe mode refuses to
deserialise a Lambda layer's Python code (that would run code from the file) and ferry turns the refusal
into a FerryError. Inputs are named after the model's Input layers, outputs after its output layers
(`model.output_names`), or the keys of a dict of outputs, bound by key; `run` calls the model in inference mode
(`training=False`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ferry.errors import FerryError, require
from ferry.formats import KERAS, SAVED_MODEL, detect_format
from ferry.preprocess.contract import Preprocess
from ferry.runtimes.base import Model, NativeRecipe, TensorInfo
from ferry.runtimes.tflite import _first_line, coerce, numpy_preprocess

RUNTIME = "tensorflow"
ASSET_NAME = "ferry_preprocess.json"
_KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return require("tensorflow", "tensorflow")


def _keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    require("tensorflow", "tensorflow")
    return require("keras", "tensorflow")


@dataclass
class SavedModelModel(Model):
    signature: str = "serving_default"
    _loaded: Any = field(default=None, repr=False, compare=False)  # keeps the variables alive
    _fn: Any = field(default=None, repr=False, compare=False)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        tf = _tf()
        arrays = _check_feeds(self, feeds)
        try:
            out = self._fn(**{k: tf.constant(v) for k, v in arrays.items()})
        except (ValueError, TypeError, tf.errors.OpError) as exc:
            raise FerryError(f"{self.path}: TensorFlow cannot run signature {self.signature} on shapes "
                             f"{_shapes(arrays)} ({_first_line(exc)})") from None
        return {o.name: np.asarray(out[o.name]) for o in self.outputs}


def keras_inputs(model: Any, args: list) -> Any:
    """The arrays in the structure the Keras model was built with: a model saved by Keras 2 with one input holds
    it as a list, and Keras 3 warns ("The structure of `inputs` doesn't match") when given the bare array."""
    struct = getattr(model, "_inputs_struct", None)
    if len(args) == 1 and not isinstance(struct, list | tuple):
        return args[0]
    return list(args)


@dataclass
class KerasModel(Model):
    _model: Any = field(default=None, repr=False, compare=False)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        keras = _keras()
        tf = _tf()
        arrays = _check_feeds(self, feeds)
        args = [arrays[i.name] for i in self.inputs]
        try:
            out = self._model(keras_inputs(self._model, args), training=False)
        except (ValueError, TypeError, tf.errors.OpError) as exc:
            raise FerryError(f"{self.path}: Keras cannot run the model on shapes {_shapes(arrays)} "
                             f"({_first_line(exc)})") from None
        if isinstance(out, dict) and all(o.name in out for o in self.outputs):  # bound by key, never position
            return {o.name: keras.ops.convert_to_numpy(out[o.name]) for o in self.outputs}
        values = list(keras.tree.flatten(out))
        return {o.name: keras.ops.convert_to_numpy(v) for o, v in zip(self.outputs, values, strict=True)}


def load(path: str | Path) -> Model:
    p = Path(path)
    fmt = detect_format(p)
    if fmt == SAVED_MODEL:
        return _load_saved_model(p)
    if fmt == KERAS:
        return _load_keras(p)
    raise FerryError(f"{p}: a {fmt} model, not a TensorFlow SavedModel or Keras file; load it with its own "
                     "runtime")


def read_preprocess(path: str | Path) -> Preprocess | None:
    """A SavedModel's `assets/ferry_preprocess.json`; None for a Keras file or a SavedModel without it."""
    p = Path(path)
    asset = p / "assets" / ASSET_NAME
    if not p.is_dir() or not asset.is_file():
        return None
    try:
        text = asset.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FerryError(f"{asset}: cannot read the embedded contract ({exc.__class__.__name__}); embed it "
                         "again") from None
    return Preprocess.from_json(text, source=str(asset))


def native(preprocess: Preprocess) -> NativeRecipe:
    """Numpy preprocessing (bit-exact with ferry's reference), then the SavedModel signature or Keras call."""
    lines, params, notes = numpy_preprocess(preprocess)
    lines += [
        "outputs = model.signatures['serving_default'](**{input_name: tf.constant(x)})"
        "  # Keras: model(x, training=False)",
    ]
    return NativeRecipe(runtime=RUNTIME, params=params, code="\n".join(lines), exact=True, notes=tuple(notes))


# -- SavedModel ---------------------------------------------------------------------------------------------
def _load_saved_model(p: Path) -> SavedModelModel:
    tf = _tf()
    try:
        loaded = tf.saved_model.load(str(p))
    except Exception as exc:  # noqa: BLE001 - TF raises many types for a damaged directory
        why = _first_line(exc)
        if not (p / "variables").is_dir():
            why = "no variables/ folder"
        raise FerryError(f"{p}: the SavedModel is truncated or corrupt ({why}); re-export it") from None
    sigs = dict(getattr(loaded, "signatures", {}) or {})
    notes: list[str] = []
    if "serving_default" in sigs:
        key = "serving_default"
    elif len(sigs) == 1:
        key = next(iter(sigs))
        notes.append(f"no serving_default signature; using the only one, {key}")
    else:
        have = ", ".join(sorted(sigs)) or "none"
        raise FerryError(f"{p}: no serving_default signature (signatures: {have}); export with "
                         "model.export(dir) or tf.saved_model.save(m, dir, signatures=...)")
    fn = sigs[key]
    _, kwargs = fn.structured_input_signature
    outs = fn.structured_outputs
    if not isinstance(outs, dict):
        outs = {f"output_{i}": s for i, s in enumerate(tf.nest.flatten(outs))}
    return SavedModelModel(
        runtime=RUNTIME,
        path=p,
        format=SAVED_MODEL,
        inputs=[_info(name, spec) for name, spec in kwargs.items()],
        outputs=[_info(name, spec) for name, spec in outs.items()],
        embedded=read_preprocess(p),
        notes=notes,
        signature=key,
        _loaded=loaded,
        _fn=fn,
    )


def _info(name: str, spec: Any) -> TensorInfo:
    shape = None if spec.shape.rank is None else tuple(None if d is None else int(d) for d in spec.shape)
    return TensorInfo(name, shape, spec.dtype.name)


# -- Keras --------------------------------------------------------------------------------------------------
def _load_keras(p: Path) -> KerasModel:
    keras = _keras()
    tmp: Path | None = None
    src = p
    if p.suffix.lower() not in _KERAS_SUFFIXES:  # Keras picks its reader by the name; ferry by content
        tmp = Path(tempfile.mkdtemp(prefix="ferry-keras-"))
        with p.open("rb") as f:
            is_h5 = f.read(4) == b"\x89HDF"
        src = tmp / ("model.h5" if is_h5 else "model.keras")
        try:
            src.symlink_to(p.resolve())
        except OSError:
            shutil.copyfile(p, src)
    try:
        model = keras.models.load_model(src, compile=False, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 - Keras raises many types for a damaged file
        raise _keras_error(p, exc) from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    try:
        model_inputs = list(model.inputs or [])
        model_outputs = list(model.outputs or [])
    except (AttributeError, ValueError):
        model_inputs, model_outputs = [], []
    if not model_inputs or not model_outputs:
        raise FerryError(f"{p}: a Keras model without defined inputs (a subclassed model); save a functional "
                         "model or export a SavedModel with model.export(dir)")
    if not getattr(model, "output_names", None) and isinstance(model, keras.Sequential):
        # Keras 3 reads a Keras 2 .h5 Sequential model (cifar-10-model 7.4.0's) without output names: tf2onnx's
        # from_keras then fails (KeyError: 'keras_tensor_230') and openvino.convert_model cannot trace it. The same
        # layers as a functional model have the names and convert; its outputs are the Sequential's own tensors.
        try:
            model = keras.Model(model_inputs, model_outputs, name=model.name)
            model_inputs, model_outputs = list(model.inputs), list(model.outputs)
        except Exception:  # noqa: BLE001 - a model Keras cannot rewrap stays as it loaded
            pass
    out_names = list(getattr(model, "output_names", None) or [])
    if len(out_names) != len(model_outputs) or len(set(out_names)) != len(out_names):
        out_names = _layer_names(model_outputs)
    struct = getattr(model, "output", None)
    if isinstance(struct, dict) and len(struct) == len(model_outputs):
        # A dict of outputs: its keys are the names the model is called with and that model.export(), tf2onnx
        # and the TFLite signature carry (issue 15: the layer names, `boxes_r`, were used, and bound by position)
        out_names, model_outputs = [str(k) for k in struct], list(struct.values())
    return KerasModel(
        runtime=RUNTIME,
        path=p,
        format=KERAS,
        inputs=[_keras_info(t.name, t) for t in model_inputs],
        outputs=[_keras_info(n, t) for n, t in zip(out_names, model_outputs, strict=True)],
        embedded=None,
        _model=model,
    )


def _layer_names(tensors: list) -> list[str]:
    """Output names from the layers that make them. A Sequential model (every Keras 2 .h5 one: cifar-10-model 7.4.0's)
    has no output_names in Keras 3, and its tensors are named by a process-wide counter (`keras_tensor_230`, then
    `keras_tensor_461` when the same file is loaded again): a name that changes between loads cannot pair a source
    with its targets. The layer's name (`dense_2`) is in the file; a layer with several outputs numbers them."""
    ops = []
    for t in tensors:
        history = getattr(t, "_keras_history", None)
        op = getattr(history, "operation", None) or (history[0] if isinstance(history, tuple) and history else None)
        ops.append(getattr(op, "name", None))
    if any(not isinstance(n, str) or not n for n in ops):
        return [t.name for t in tensors]
    counts = {n: ops.count(n) for n in ops}
    seen: dict[str, int] = {}
    names = []
    for n in ops:
        if counts[n] > 1:
            seen[n] = seen.get(n, -1) + 1
            n = f"{n}_{seen[n]}"
        names.append(n)
    return names if len(set(names)) == len(names) else [t.name for t in tensors]


def _keras_info(name: str, t: Any) -> TensorInfo:
    shape = None if t.shape is None else tuple(None if d is None else int(d) for d in t.shape)
    return TensorInfo(name, shape, np.dtype(str(t.dtype)).name if str(t.dtype) != "string" else "string")


def _keras_error(p: Path, exc: BaseException) -> FerryError:
    text = str(exc)
    if "Lambda" in text and "safe_mode" in text:
        return FerryError(
            f"{p}: the model has a Lambda layer holding Python code, which ferry does not deserialise (it "
            "would run code from the file); replace it with a registered layer or export a SavedModel "
            "(model.export)"
        )
    if isinstance(exc, TypeError) and ("Could not locate" in text or "Unknown" in text):
        return FerryError(f"{p}: uses a custom Keras class that is not registered ({_first_line(exc)}); "
                          "export a SavedModel with model.export(dir) instead")
    written = _h5_keras_version(p)
    keras = _keras()
    if written and written.split(".")[0] != str(keras.__version__).split(".")[0]:
        return FerryError(f"{p}: written by Keras {written}, whose model config Keras {keras.__version__} cannot "
                          f"read ({_first_line(exc)}); load it where Keras {written.split('.')[0]} runs (tf_keras) "
                          "and save a SavedModel with model.export(dir) or tf.saved_model.save")
    return FerryError(f"{p}: the Keras file is truncated or corrupt ({_first_line(exc)}); re-export it")


def _h5_keras_version(p: Path) -> str | None:
    """The `keras_version` an HDF5 Keras file records (Keras 2.0.6 for EmoPy's models), else None."""
    try:
        import h5py

        with h5py.File(p, "r") as f:
            v = f.attrs.get("keras_version")
    except Exception:  # noqa: BLE001 - not HDF5, or unreadable: the generic message stands
        return None
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    return str(v) if v else None


# -- shared -------------------------------------------------------------------------------------------------
def _check_feeds(model: Model, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    names = [i.name for i in model.inputs]
    for key in feeds:
        if key not in names:
            raise FerryError(f"{model.path}: no input named {key!r}; the inputs are {', '.join(names)}")
    out: dict[str, np.ndarray] = {}
    for info in model.inputs:
        if info.name not in feeds:
            raise FerryError(f"{model.path}: no feed for input {info.name}; feed every input")
        try:
            dtype = np.dtype(info.dtype)
        except TypeError:  # string, bfloat16...: TensorFlow checks these itself
            a = np.asarray(feeds[info.name])
        else:
            a = coerce(model.path, info.name, feeds[info.name], dtype)
        if info.shape is not None and (
            a.ndim != len(info.shape)
            or any(w is not None and w != s for w, s in zip(info.shape, a.shape, strict=True))
        ):
            raise FerryError(f"{model.path}: input {info.name} takes shape {list(info.shape)}, got "
                             f"{list(a.shape)}; fix the contract's size or layout")
        out[info.name] = a
    return out


def _shapes(arrays: dict[str, np.ndarray]) -> str:
    return ", ".join(f"{k}{list(v.shape)}" for k, v in arrays.items())
