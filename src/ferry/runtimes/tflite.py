"""TFLite / LiteRT: run a .tflite flatbuffer with ai_edge_litert's Interpreter (tf.lite's is deprecated).

Names: inputs and outputs are the interpreter's tensor names (`serving_default_image:0`), what
`get_input_details()` reports and what OpenVINO's TFLite frontend shows; `run` also takes the
signature's input keys (`image`) for the same tensors.

Batches: a model whose input's shape_signature leaves the batch free (-1, what the converter writes for
a Keras model) is resized with `resize_tensor_input` + `allocate_tensors` when a feed's shape differs
(once per new shape, so repeated batches of one size pay nothing). A model whose batch is fixed in the
file (often 1) cannot be resized safely (reshapes inside it may hard-code the batch), so a larger batch
runs one slice of the fixed batch size at a time and the outputs are concatenated.

Quantised models: an integer input with quantisation parameters (`quantization[name] = (scale,
zero_point)`) takes the integer tensor as given when the contract makes integers (raw uint8/int8 pixels). A
float contract tensor fed to such an input (a full-integer file with int8 input, what ferry's torch route,
litert_torch + ai_edge_quantizer, writes) is quantised the way TFLite documents for apps,
q = clip(round(x / scale) + zero_point), in `feed_tensor`, and a note says so; `run` itself never
requantises. Quantised integer outputs come back dequantised to float32, `(q - zero_point) * scale`, so
they compare with a float model's outputs;
their TensorInfo dtype is float32.

Preprocessing: TFLite has no place for it in the graph, so a "ferry_preprocess" flatbuffer metadata entry holds
the contract JSON for the host to apply; it is the model's `declared` contract (never `embedded`: the file takes a
ready tensor).
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ferry.errors import FerryError, require
from ferry.formats import TFLITE, detect_format
from ferry.preprocess.contract import Preprocess
from ferry.runtimes import tflite_metadata
from ferry.runtimes.base import Model, NativeRecipe, TensorInfo
from ferry.runtimes.flatbuffer import FlatBuffer

RUNTIME = "tflite"
METADATA_NAME = "ferry_preprocess"
NAMES_METADATA = "ferry_output_names"  # JSON {name in the file: the source's name}, written by ferry convert


@dataclass
class TFLiteModel(Model):
    quantization: dict[str, tuple[float, int]] = field(default_factory=dict)
    signature_inputs: dict[str, str] = field(default_factory=dict)  # signature key -> tensor name
    _interpreter: Any = field(default=None, repr=False, compare=False)
    _in: list[dict] = field(default_factory=list, repr=False, compare=False)
    _out: list[dict] = field(default_factory=list, repr=False, compare=False)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        arrays = self._arrays(feeds)
        n = _common_batch(self.path, arrays, self._in)
        if all(_signature_fits(d, a.shape) for d, a in zip(self._in, arrays, strict=True)):
            return self._invoke(arrays)
        # The batch is fixed in the file: run slices of that size and concatenate.
        fixed = [(_shape(d) or (None,))[0] for d in self._in]
        step = fixed[0]
        if n is None or step is None or any(f != step for f in fixed) or n % step != 0 or not all(
            _signature_fits(d, (step, *a.shape[1:])) for d, a in zip(self._in, arrays, strict=True)
        ):
            d, a = next((d, a) for d, a in zip(self._in, arrays, strict=True)
                        if not _signature_fits(d, a.shape))
            raise FerryError(
                f"{self.path}: input {d['name']} takes shape {_sig(d)}, got {list(a.shape)}; fix the "
                "contract's size or layout"
            )
        parts = [self._invoke([a[i:i + step] for a in arrays]) for i in range(0, n, step)]
        return {k: np.concatenate([p[k] for p in parts], axis=0) for k in parts[0]}

    def feed_tensor(self, tensor: np.ndarray) -> dict[str, np.ndarray]:
        """A float contract tensor for a quantised integer input is quantised with the input's own scale and
        zero point, as an app feeding a full-integer TFLite model does; everything else as for any model."""
        return super().feed_tensor(quantize_feed(tensor, self.image_input, self.quantization))

    # -- internals ------------------------------------------------------------------------------------------
    def _arrays(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        byname = {}
        for key, value in feeds.items():
            name = self.signature_inputs.get(key, key)
            if name not in {d["name"] for d in self._in}:
                known = ", ".join(d["name"] for d in self._in)
                raise FerryError(f"{self.path}: no input named {key!r}; the inputs are {known}")
            byname[name] = value
        missing = [d["name"] for d in self._in if d["name"] not in byname]
        if missing:
            raise FerryError(f"{self.path}: no feed for input {missing[0]}; feed every input")
        return [
            coerce(self.path, d["name"], byname[d["name"]], np.dtype(d["dtype"]),
                   self.quantization.get(d["name"]))
            for d in self._in
        ]

    def _invoke(self, arrays: list[np.ndarray]) -> dict[str, np.ndarray]:
        it = self._interpreter
        resized = False
        current = {d["index"]: tuple(int(v) for v in d["shape"]) for d in it.get_input_details()}
        for d, a in zip(self._in, arrays, strict=True):
            if current[d["index"]] != a.shape:
                try:
                    it.resize_tensor_input(d["index"], list(a.shape), strict=True)
                except (ValueError, RuntimeError) as exc:
                    raise FerryError(f"{self.path}: cannot resize input {d['name']} to {list(a.shape)} "
                                     f"({_first_line(exc)})") from None
                resized = True
        if resized:
            try:
                it.allocate_tensors()
            except (ValueError, RuntimeError) as exc:
                raise FerryError(f"{self.path}: cannot run a batch of shape {list(arrays[0].shape)} "
                                 f"({_first_line(exc)})") from None
        for d, a in zip(self._in, arrays, strict=True):
            it.set_tensor(d["index"], np.ascontiguousarray(a))
        try:
            it.invoke()
        except (ValueError, RuntimeError) as exc:
            raise FerryError(f"{self.path}: LiteRT failed to run the model ({_first_line(exc)})") from None
        return {d["name"]: _dequantize(it.get_tensor(d["index"]), d) for d in self._out}


def _dynamic_input(it) -> bool:
    """Whether an input's signature leaves a dimension past the batch open (-1): its shape (1 there) is only a
    placeholder until resized, and `_invoke` allocates when it resizes. A dynamic batch alone allocates at 1."""
    return any(int(v) < 0 for d in it.get_input_details() for v in list(d.get("shape_signature", []))[1:])


def load(path: str | Path) -> TFLiteModel:
    p = Path(path)
    fmt = detect_format(p)
    if fmt != TFLITE:
        raise FerryError(f"{p}: a {fmt} model, not a TFLite flatbuffer; load it with its own runtime")
    interpreter_mod = require("ai_edge_litert.interpreter", "tflite")
    try:
        it = interpreter_mod.Interpreter(model_path=str(p))
        if not _dynamic_input(it):
            # a dynamic input is allocated at the size it is fed (_invoke): at its placeholder shape, 1x1,
            # XNNPACK fails to reshape a fully convolutional net (mtcnn's P-Net: a 3x3 conv of a 1x1 image)
            it.allocate_tensors()
    except ValueError as exc:
        raise FerryError(
            f"{p}: the TFLite file is truncated or corrupt ({_first_line(exc)}); re-export it"
        ) from None
    except RuntimeError as exc:
        why = _first_line(exc)
        fix = ("the app that made the file registers that op itself (MediaPipe does its own), LiteRT has no such "
               "op, so ferry cannot run it: run it where the op is registered, or export the model with builtin ops "
               "only" if "custom op" in why else "convert it with builtin ops only (no Flex/custom ops)")
        raise FerryError(f"{p}: LiteRT cannot prepare the model ({why}); {fix}") from None
    meta = read_metadata(p)  # every metadata entry, read once for the contract, the stated one and the names
    declared = _ferry_contract(p, meta)
    ins, outs = list(it.get_input_details()), list(it.get_output_details())
    inputs = [TensorInfo(d["name"], _shape(d), np.dtype(d["dtype"]).name) for d in ins]
    stated = None if declared is not None else metadata_contract(meta, inputs)
    if stated is not None:
        declared = stated[0]
    named = _names(meta)  # ferry's own map, where the signature's names are no source's (output_0)
    outs = [{**d, "name": named.get(name, name)}
            for d, name in zip(outs, signature_output_names(it, outs), strict=True)]
    quant: dict[str, tuple[float, int]] = {}
    notes: list[str] = []
    for d in ins + outs:
        if _is_quantized(d):
            scale, zp = d["quantization"]
            quant[d["name"]] = (float(scale), int(zp))
    for d in outs:
        if _is_quantized(d):
            notes.append(f"output {d['name']} is {np.dtype(d['dtype']).name}-quantised; run() returns it "
                         "dequantised to float32")
    for d in ins:
        if _is_quantized(d):
            scale, zp = quant[d["name"]]
            notes.append(f"input {d['name']} is {np.dtype(d['dtype']).name}-quantised (scale {scale:.6g}, "
                         f"zero point {zp}): the contract's float tensor is quantised with them, "
                         "q = clip(round(x / scale) + zero_point), as an app feeding it does")
    signature_inputs: dict[str, str] = {}
    names = {d["name"] for d in ins}
    try:
        for key in it.get_signature_list():
            for sig_name, det in it.get_signature_runner(key).get_input_details().items():
                if det["name"] in names and sig_name not in names:
                    signature_inputs.setdefault(sig_name, det["name"])
    except (ValueError, RuntimeError, KeyError):  # signature keys are a convenience only
        signature_inputs = {}
    return TFLiteModel(
        runtime=RUNTIME,
        path=p,
        format=TFLITE,
        inputs=inputs,
        outputs=[
            TensorInfo(d["name"], _shape(d), "float32" if _is_quantized(d) else np.dtype(d["dtype"]).name)
            for d in outs
        ],
        declared=declared,
        notes=notes,
        declared_source=f"{tflite_metadata.ENTRY} NormalizationOptions" if stated else "the file's metadata",
        declared_covers=stated[1] if stated else None,
        quantization=quant,
        signature_inputs=signature_inputs,
        _interpreter=it,
        _in=ins,
        _out=outs,
    )


def signature_output_names(it: Any, outs: list[dict]) -> list[str]:
    """Each output tensor's name in the model's signature (`detection_boxes`), bound by tensor index; the tensor
    names (`StatefulPartitionedCall_1:0`) where the file has no one signature that names every output once.

    Why (issue 15): the converter's tensor names say nothing, and the interpreter lists the outputs in neither the
    source's order nor the signature's (a Keras dict model: `..._1:4, :0, :1, :3, :2`), so matching them to the
    source by position bound every name to the wrong tensor. The signature runner's names are the source's own
    (the SavedModel signature's keys, a Keras dict's keys, litert_torch's dict keys)."""
    tensor_names = [d["name"] for d in outs]
    try:
        sigs = it.get_signature_list()
        key = "serving_default" if "serving_default" in sigs else (next(iter(sigs)) if len(sigs) == 1 else None)
        if key is None:
            return tensor_names
        by_index = {int(d["index"]): name for name, d in it.get_signature_runner(key).get_output_details().items()}
    except (ValueError, RuntimeError, KeyError, StopIteration):
        return tensor_names
    named = [by_index.get(int(d["index"])) for d in outs]
    if None in named or len(set(named)) != len(named) or len(by_index) != len(outs):
        return tensor_names
    return [str(n) for n in named]


def output_names_map(path: Path) -> dict[str, str]:
    """The "ferry_output_names" metadata entry: the source's name for each output the file names otherwise
    (a Keras list model's TFLite signature says `output_0`). ferry convert writes it after binding the outputs by
    value (ferry.convert.binding); a TFLite signature cannot be renamed in place. Malformed: ignored."""
    return _names(read_metadata(path))


def _names(meta: dict[str, bytes]) -> dict[str, str]:
    import json

    data = meta.get(NAMES_METADATA)
    try:
        named = json.loads(data.decode("utf-8")) if data else {}
    except (UnicodeDecodeError, ValueError):
        return {}
    return {str(k): str(v) for k, v in named.items()} if isinstance(named, dict) else {}


def read_preprocess(path: str | Path) -> Preprocess | None:
    """The contract in the flatbuffer's "ferry_preprocess" metadata entry, or None when there is none."""
    p = Path(path)
    return _ferry_contract(p, read_metadata(p))


def _ferry_contract(p: Path, meta: dict[str, bytes]) -> Preprocess | None:
    data = meta.get(METADATA_NAME)
    if data is None:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise FerryError(
            f"{p}: metadata {METADATA_NAME} is not UTF-8 JSON; embed the contract again"
        ) from None
    return Preprocess.from_json(text, source=f"{p}:{METADATA_NAME}")


def metadata_contract(meta: dict[str, bytes], inputs: list[TensorInfo]) -> tuple[Preprocess, frozenset[str]] | None:
    """The contract a TFLite model metadata entry (MediaPipe, TF Hub, Model Maker) states for the image input (the
    first 4-D one, as `Model.image_input` takes it), with the questions it settles; None when the file has none, the
    image input is not float (a quantised input's normalisation is folded into its quantisation), its shape does not
    say where the channels are, or the entry cannot be read (it is evidence, not the model)."""
    data = meta.get(tflite_metadata.ENTRY)
    four_d = [(i, t) for i, t in enumerate(inputs) if t.shape is not None and len(t.shape) == 4]
    if not data or not four_d:
        return None
    index, info = four_d[0]
    if np.dtype(info.dtype).kind != "f" or info.image_layout is None:
        return None
    try:
        metas = tflite_metadata.read_inputs(data)
    except (ValueError, IndexError, struct.error):
        return None
    if index >= len(metas):
        return None
    return tflite_metadata.contract(metas[index], info.channels, info.image_layout, info.image_size)


def native(preprocess: Preprocess) -> NativeRecipe:
    """Numpy preprocessing that reproduces ferry's reference bit for bit, then the interpreter call."""
    lines, params, notes = numpy_preprocess(preprocess)
    lines += [
        "inp = interpreter.get_input_details()[0]",
        "if np.issubdtype(inp['dtype'], np.integer) and x.dtype != inp['dtype']:  # full integer: TFLite's way, "
        "q = clip(round(x / scale) + zero point)",
        "    scale, zero = inp['quantization']",
        "    lim = np.iinfo(inp['dtype'])",
        "    x = np.clip(np.rint(x / scale) + zero, lim.min, lim.max).astype(inp['dtype'])",
        "interpreter.set_tensor(inp['index'], x)",
        "interpreter.invoke()",
        "out = interpreter.get_output_details()[0]",
        "y = interpreter.get_tensor(out['index'])",
        "if np.issubdtype(y.dtype, np.integer) and out['quantization'][0]:  # an integer output: back to float",
        "    y = (y.astype(np.float32) - out['quantization'][1]) * out['quantization'][0]",
    ]
    notes = [*notes, "an int8/uint8 input (a full-integer file) takes the float tensor quantised with the input's "
             "scale and zero point, as the lines do; where ferry made the file from a contract that is exactly an "
             "int8 image (its route says 'q = pixel - 128'), that is the uint8 pixels minus 128 in the contract's "
             "colour order and layout, with no float step"]
    return NativeRecipe(runtime=RUNTIME, params=params, code="\n".join(lines), exact=True, notes=tuple(notes))


# -- the flatbuffer, read by hand (no tflite schema package needed) -----------------------------------------
def write_metadata(path: Path, name: str, data: bytes) -> None:
    """Add (or replace) a metadata entry in a TFLite flatbuffer, atomically. Uses TensorFlow's own flatbuffer
    schema bindings, so it needs TensorFlow (ferry only writes TFLite files when converting from TF)."""
    require("tensorflow", "tensorflow")
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    from ferry.io import atomic_write_with

    model = flatbuffer_utils.read_model(str(path))
    buf = schema.BufferT()
    buf.data = np.frombuffer(data, dtype=np.uint8)
    model.buffers.append(buf)
    meta = schema.MetadataT()
    meta.name = name
    meta.buffer = len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name not in (name, name.encode())] + [meta]
    atomic_write_with(Path(path), lambda tmp: flatbuffer_utils.write_model(model, str(tmp)), suffix=".tflite")


def read_metadata(path: Path) -> dict[str, bytes]:
    """name -> bytes of every entry of the Model table's `metadata` vector.

    A light reader: it bounds-checks what it reads (FerryError when that is cut off or corrupt) but does not
    verify the rest of the file; `load` has LiteRT verify the whole flatbuffer."""
    try:
        with path.open("rb") as f:
            if path.stat().st_size < 8:
                raise struct.error("too short")
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                return _metadata(buf)
    except (struct.error, IndexError, ValueError):
        raise FerryError(f"{path}: the TFLite file is truncated or corrupt; re-export it") from None
    except OSError as exc:
        raise FerryError(f"{path}: cannot read ({exc.strerror})") from None


def _metadata(buf) -> dict[str, bytes]:
    if bytes(buf[4:8]) != b"TFL3":
        raise ValueError("not a TFLite flatbuffer")
    f = FlatBuffer(buf)
    root = f.table(0)
    buffers = f.tables(f.field(root, 4))  # Model.buffers
    out: dict[str, bytes] = {}
    for meta in f.tables(f.field(root, 6)):  # Model.metadata: name, buffer index
        name_pos, buf_pos = f.field(meta, 0), f.field(meta, 1)
        if name_pos is None or buf_pos is None:
            continue
        name = f.string(name_pos)
        index = f.u32(buf_pos)
        if index >= len(buffers):
            raise IndexError(index)
        b = buffers[index]
        data_pos, off_pos, size_pos = f.field(b, 0), f.field(b, 1), f.field(b, 2)
        if data_pos is not None:
            out[name] = f.bytes_at(data_pos)
        elif off_pos is not None and size_pos is not None and f.u64(off_pos) > 1:
            start, n = f.u64(off_pos), f.u64(size_pos)  # large models keep buffers after the flatbuffer
            if start + n > len(buf):
                raise IndexError(start)
            out[name] = bytes(buf[start:start + n])
        else:
            out[name] = b""
    return out


# -- helpers shared with ferry.runtimes.tensorflow and openvino ----------------------------------------------
def quantize_feed(tensor: np.ndarray, info: TensorInfo, quantization: dict[str, tuple[float, int]]) -> np.ndarray:
    """A float tensor for a quantised integer input -> q = clip(round(x / scale) + zero_point), TFLite's documented
    way for apps; any other tensor as it is."""
    quant = quantization.get(info.name)
    try:
        dtype = np.dtype(info.dtype)
    except TypeError:
        return tensor
    if not quant or not np.issubdtype(np.asarray(tensor).dtype, np.floating) or dtype.kind not in "iu":
        return tensor
    scale, zp = quant
    lim = np.iinfo(dtype)
    q = np.clip(np.rint(np.asarray(tensor, dtype=np.float32) / scale) + zp, lim.min, lim.max)
    return q.astype(dtype)


def io_quantization(path: Path) -> dict[str, tuple[float, int]]:
    """(scale, zero point) of each quantised integer input and output of a .tflite file, by tensor name (what
    OpenVINO's TFLite frontend names them); {} when LiteRT is not installed or the file has none."""
    try:
        interpreter_mod = require("ai_edge_litert.interpreter", "tflite")
        it = interpreter_mod.Interpreter(model_path=str(path))
    except (FerryError, ValueError, RuntimeError):
        return {}
    return {d["name"]: (float(d["quantization"][0]), int(d["quantization"][1]))
            for d in [*it.get_input_details(), *it.get_output_details()] if _is_quantized(d)}


# -- helpers shared with ferry.runtimes.tensorflow ----------------------------------------------------------
def coerce(path: Path, name: str, value: Any, dtype: np.dtype,
           quant: tuple[float, int] | None = None) -> np.ndarray:
    """The feed as the input's dtype: float widths convert, integers convert when they fit, floats never
    turn into integers (a quantised input takes its integer tensor, ferry does not requantise)."""
    a = np.asarray(value)
    if a.dtype == dtype:
        return a
    if dtype.kind == "f" and a.dtype.kind in "fiub":
        return a.astype(dtype)
    if dtype.kind in "iu" and a.dtype.kind in "iub":
        info = np.iinfo(dtype)
        if a.size == 0 or (int(a.min()) >= info.min and int(a.max()) <= info.max):
            return a.astype(dtype)
    what = f"{dtype.name}-quantised (scale {quant[0]:.6g}, zero point {quant[1]})" if quant else dtype.name
    raise FerryError(
        f"{path}: input {name} is {what}, got {a.dtype.name} values; feed {dtype.name} "
        f"(contract dtype: {dtype.name})"
    )


def numpy_preprocess(pre: Preprocess) -> tuple[list[str], dict[str, Any], list[str]]:
    """Lines that turn `img` (a decoded BGR uint8 HxWx3 image, as cv2.imread gives) into `x`, the batch-of-one
    input tensor, with the same float32 operations as ferry's reference; and the parameters they use."""
    gain, offset = pre.affine()
    r = pre.resize
    lines: list[str] = []
    notes: list[str] = []
    if pre.size is None or r.mode == "none":
        lines.append("# img is already at the model's input size (resize.mode none)")
    elif r.mode == "stretch" and r.semantics == "opencv" and r.crop_fraction >= 1.0:
        inter = {"nearest": "INTER_NEAREST", "bilinear": "INTER_LINEAR", "bicubic": "INTER_CUBIC",
                 "area": "INTER_AREA"}[r.interpolation]
        lines.append(f"img = cv2.resize(img, ({pre.size[1]}, {pre.size[0]}), interpolation=cv2.{inter})")
    else:
        lines.append("img = ferry.preprocess.reference.resize_image(img, contract)  "
                     f"# {r.mode}, {r.semantics} {r.interpolation} to {pre.size[0]}x{pre.size[1]}")
        notes.append(f"resize {r.mode} with {r.semantics} semantics: ferry's resize_image gives the exact "
                     "pixels")
    if pre.color == "GRAY":
        if r.semantics == "pil":
            lines.append("img = np.asarray(PIL.Image.fromarray(img[..., ::-1]).convert('L'))[..., None]")
        else:
            lines.append("img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[..., None]")
        if pre.gray_zero_is == "white":
            lines.append("img = 255 - img")
        pixels = "img"
    else:
        pixels = "img[..., ::-1]" if pre.color == "RGB" else "img"
    if pre.dtype in ("uint8", "int8"):
        expr = f"{pixels}.astype(np.{pre.dtype})"
    else:
        g = ", ".join(repr(float(v)) for v in gain)
        o = ", ".join(repr(float(v)) for v in offset)
        expr = f"{pixels}.astype(np.float32) * np.array([{g}], np.float32) + np.array([{o}], np.float32)"
        if pre.dtype == "float16":
            expr = f"({expr}).astype(np.float16)"
    if pre.layout == "NCHW":
        expr = f"({expr}).transpose(2, 0, 1)"
    lines.append(f"x = np.ascontiguousarray(({expr})[None])")
    params = {
        "color": pre.color,
        "size": list(pre.size) if pre.size else None,
        "resize": pre.resize.to_dict(),
        "gain": list(gain),
        "offset": list(offset),
        "layout": pre.layout,
        "dtype": pre.dtype,
    }
    return lines, params, notes


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0].strip() if text else type(exc).__name__
    return line if len(line) <= 200 else line[:197] + "..."


def _is_quantized(d: dict) -> bool:
    scale, _ = d.get("quantization", (0.0, 0))
    return np.dtype(d["dtype"]).kind in "iu" and float(scale) != 0.0


def _dequantize(q: np.ndarray, d: dict) -> np.ndarray:
    if not _is_quantized(d):
        return q
    qp = d.get("quantization_parameters") or {}
    scales = np.asarray(qp.get("scales", []), dtype=np.float32)
    zps = np.asarray(qp.get("zero_points", []), dtype=np.float32)
    if scales.size > 1:  # per-channel
        shape = [1] * q.ndim
        shape[int(qp.get("quantized_dimension", 0))] = scales.size
        return (q.astype(np.float32) - zps.reshape(shape)) * scales.reshape(shape)
    scale, zp = d["quantization"]
    return (q.astype(np.float32) - np.float32(zp)) * np.float32(scale)


def _shape(d: dict) -> tuple[int | None, ...]:
    sig = d.get("shape_signature")
    dims = sig if sig is not None and len(sig) == len(d["shape"]) else d["shape"]
    return tuple(None if int(v) < 0 else int(v) for v in dims)


def _sig(d: dict) -> list[int | None]:
    return list(_shape(d))


def _signature_fits(d: dict, shape: tuple[int, ...]) -> bool:
    want = _shape(d)
    return len(want) == len(shape) and all(w is None or w == s for w, s in zip(want, shape, strict=True))


def _common_batch(path: Path, arrays: list[np.ndarray], ins: list[dict]) -> int | None:
    batches = {a.shape[0] for a in arrays if a.ndim > 0}
    if len(batches) > 1:
        raise FerryError(f"{path}: the feeds have different batch sizes {sorted(batches)}; feed one "
                         "batch size")
    for d, a in zip(ins, arrays, strict=True):
        if a.ndim != len(d["shape"]):
            raise FerryError(f"{path}: input {d['name']} takes shape {_sig(d)}, got {list(a.shape)}; fix the "
                             "contract's size or layout")
    return batches.pop() if batches else None
