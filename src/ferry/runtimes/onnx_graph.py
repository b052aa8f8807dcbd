"""ONNX files: safe loading, and the contract embedded as graph nodes.

Embedding puts the contract in front of the graph, so the model takes what an app has: uint8 NHWC BGR pixels
at the model's size. The nodes are Cast -> Gather (BGR->RGB) -> Mul -> Add -> Transpose, all named `ferry_pre_*`,
and the contract is also kept as metadata (`ferry_preprocess`). A GRAY contract replaces the Gather with the
reference's BGR->gray conversion (MatMul by cv2's or PIL's fixed-point weights, Add, Mul, Floor: bit-exact, see
`ferry.preprocess.gray`) and, for `gray_zero_is: white`, a Sub from 255 (`ferry_pre_invert`). Resizing stays
on the host: an ONNX Resize does not match OpenCV's or PIL's pixels (see README), and an app resizes anyway.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ferry.errors import FerryError, require
from ferry.preprocess.contract import Preprocess
from ferry.runtimes.base import TensorInfo

METADATA_KEY = "ferry_preprocess"
HOST_METADATA_KEY = "ferry_host_preprocess"  # a plain model's contract that the host applies (OpenCV)
NODE_PREFIX = "ferry_pre_"
_ONNX_TYPES = {1: "float32", 2: "uint8", 3: "int8", 6: "int32", 7: "int64", 10: "float16", 11: "float64"}


def load_onnx(path: str | Path, load_external: bool = True):
    """onnx.ModelProto, or a one-line FerryError for a truncated or foreign file."""
    onnx = require("onnx", "onnx")
    p = Path(path)
    try:
        model = onnx.load(str(p), load_external_data=load_external)
    except FileNotFoundError as exc:
        raise FerryError(f"{p}: missing file {exc.filename}; keep the .onnx and its external data together") from None
    except Exception as exc:  # protobuf DecodeError and friends carry no stable type
        if load_external:  # onnx 1.23 says ValidationError for a data file that is not beside it: name it
            load_onnx_whole(p)
        raise FerryError(f"{p}: truncated or not an ONNX model ({type(exc).__name__}); re-export it") from None
    if not model.graph.node:
        raise FerryError(f"{p}: an ONNX file with an empty graph (truncated or not ONNX); re-export it")
    return model


ONE_FILE_LIMIT = 2**31 - 2**20  # protobuf's 2 GB for one message, less a margin for the graph around the weights


def external_locations(model) -> list[str]:
    """The files beside an ONNX file (as named in it) that hold its external data; [] when it keeps its weights."""
    return sorted({e.value for t in model.graph.initializer if t.data_location == 1  # TensorProto.EXTERNAL
                   for e in t.external_data if e.key == "location"})


def load_onnx_whole(path: str | Path):
    """(the model with its weights, whether they were external data), from one parse of the file: the loaders'
    facts need both (OpenCV DNN is handed such a file as bytes, see ferry.runtimes.opencv)."""
    from onnx.external_data_helper import load_external_data_for_model

    p = Path(path)
    model = load_onnx(p, load_external=False)
    places = external_locations(model)
    if places:
        missing = [n for n in places if not (p.parent / n).is_file()]
        if missing:  # onnx 1.23 raises a ValidationError here, which read as "truncated"
            raise FerryError(f"{p}: its weights are in {missing[0]} beside it, which is missing; keep the .onnx and "
                             "its external data together")
        try:
            load_external_data_for_model(model, str(p.parent))
        except Exception as exc:  # noqa: BLE001 - a short or unreadable data file
            raise FerryError(f"{p}: cannot read its external data ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0][:160]}); copy the data file again") from None
    return model, bool(places)


def value_info(vi) -> TensorInfo:
    """A graph input's or output's name, shape (None for a dynamic dim) and dtype, as the runtimes report them."""
    t = vi.type.tensor_type
    shape = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in t.shape.dim)
    return TensorInfo(vi.name, shape if t.HasField("shape") else None, _ONNX_TYPES.get(t.elem_type, "unknown"))


def declared_preprocess(model) -> Preprocess | None:
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            return Preprocess.from_json(prop.value, source=f"metadata {METADATA_KEY}")
    return None


def stated_labels(model) -> list[str] | None:
    """Class names an export records in its metadata (Ultralytics `names`; a PaddleOCR recogniser's `character`,
    one character a line without the CTC blank, as PaddleX and RapidOCR export them), else None."""
    from ferry.preprocess.importers import ultralytics_names

    props = {prop.key: prop.value for prop in model.metadata_props}
    chars = props.get("character")
    if chars and "names" not in props:
        return chars.split("\n")
    return ultralytics_names(props)


def stated_task(model) -> str | None:
    """The task an Ultralytics export records (`task`: detect, segment, classify, pose, obb), else None."""
    props = {prop.key: prop.value for prop in model.metadata_props}
    if "ultralytics" not in props.get("author", "").lower():
        return None
    task = props.get("task", "").strip().lower()
    return task or None


def stated_family(model) -> str | None:
    """"yolov5" when the metadata is exactly `stride` and `names`, as ultralytics/yolov5's export.py writes it: its
    head [1, N, 5 + nc] has an objectness column, which the v8 decoding would read as a class."""
    from ferry.preprocess.importers.ultralytics import is_yolov5_metadata

    return "yolov5" if is_yolov5_metadata({prop.key: prop.value for prop in model.metadata_props}) else None


def stated_preprocess(model) -> Preprocess | None:
    """A contract another tool's export records for the host to apply: an Ultralytics export's metadata
    (`author` Ultralytics, `imgsz`: RGB, /255, letterbox pad 114, NCHW), or a YOLOv5-family export's (exactly
    `stride` and `names`: the same contract at the model's input size). None when the file states none or states
    it unreadably (an export's metadata must not stop the model from loading)."""
    props = {prop.key: prop.value for prop in model.metadata_props}
    from ferry.errors import FerryError
    from ferry.preprocess.importers.ultralytics import from_ultralytics, from_yolov5, is_yolov5_metadata

    try:
        if "ultralytics" in props.get("author", "").lower():
            return from_ultralytics(props).preprocess
        if is_yolov5_metadata(props):
            return from_yolov5(props).preprocess
    except FerryError:
        return None
    return None


def embed_onnx(src: str | Path, preprocess: Preprocess, dest: str | Path) -> Path:
    """Write a copy of `src` whose image input takes uint8 NHWC BGR pixels with `preprocess` applied in-graph."""
    onnx = require("onnx", "onnx")
    from onnx import TensorProto, helper, numpy_helper

    from ferry.io import atomic_write_bytes

    model = load_onnx(src)
    graph = model.graph
    initializers = {i.name for i in graph.initializer}
    image = next((i for i in graph.input if i.name not in initializers
                  and len(i.type.tensor_type.shape.dim) == 4), None)
    if image is None:
        raise FerryError(f"{src}: no 4-D image input to embed preprocessing in front of")
    dims = [d.dim_value if d.HasField("dim_value") else None for d in image.type.tensor_type.shape.dim]
    layout = preprocess.layout or ("NCHW" if dims[1] in (1, 3) else "NHWC")
    size = preprocess.size or ((dims[2], dims[3]) if layout == "NCHW" else (dims[1], dims[2]))
    channels = dims[1] if layout == "NCHW" else dims[3]
    if isinstance(channels, int) and channels > 0 and channels != preprocess.channels:
        raise FerryError(
            f"{src}: input {image.name} takes {channels} channel{'s' if channels > 1 else ''}, the contract "
            f"({preprocess.color}) makes {preprocess.channels}; set color: "
            f"{'GRAY' if channels == 1 else 'RGB or BGR'} in the contract")
    elem = image.type.tensor_type.elem_type
    integer_input = elem not in (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16)
    if integer_input and not preprocess.keeps_values():
        raise FerryError(
            f"{src}: the model takes {TensorProto.DataType.Name(elem).lower()} pixels and normalises them "
            "itself; a contract with mean/scale would normalise twice: use scale 1, mean 0, std 1")
    name = image.name
    normalized = f"{name}__ferry_normalized"
    for node in graph.node:  # the old input becomes an internal tensor
        node.input[:] = [normalized if i == name else i for i in node.input]
    gain, offset = preprocess.affine()
    nodes, consts = [], []
    cur = f"{NODE_PREFIX}float"
    nodes.append(helper.make_node("Cast", [name], [cur], to=TensorProto.FLOAT, name=f"{NODE_PREFIX}cast"))
    if preprocess.color == "RGB":
        consts.append(numpy_helper.from_array(np.array([2, 1, 0], dtype=np.int64), f"{NODE_PREFIX}bgr2rgb_idx"))
        nodes.append(helper.make_node("Gather", [cur, f"{NODE_PREFIX}bgr2rgb_idx"], [f"{NODE_PREFIX}rgb"],
                                      axis=3, name=f"{NODE_PREFIX}bgr2rgb"))
        cur = f"{NODE_PREFIX}rgb"
    elif preprocess.color == "GRAY":
        cur = _gray_nodes(cur, preprocess, nodes, consts)
    consts.append(numpy_helper.from_array(np.asarray(gain, dtype=np.float32), f"{NODE_PREFIX}gain"))
    consts.append(numpy_helper.from_array(np.asarray(offset, dtype=np.float32), f"{NODE_PREFIX}offset"))
    nodes.append(helper.make_node("Mul", [cur, f"{NODE_PREFIX}gain"], [f"{NODE_PREFIX}scaled"],
                                  name=f"{NODE_PREFIX}mul"))
    last = normalized if layout == "NHWC" and not integer_input else f"{NODE_PREFIX}nhwc"
    nodes.append(helper.make_node("Add", [f"{NODE_PREFIX}scaled", f"{NODE_PREFIX}offset"], [last],
                                  name=f"{NODE_PREFIX}add"))
    if layout == "NCHW":
        target = normalized if not integer_input else f"{NODE_PREFIX}nchw"
        nodes.append(helper.make_node("Transpose", [last], [target], perm=[0, 3, 1, 2],
                                      name=f"{NODE_PREFIX}to_nchw"))
        last = target
    if integer_input:  # back to the model's own pixel type (exact: the map is a permutation of whole values)
        nodes.append(helper.make_node("Cast", [last], [normalized], to=elem, name=f"{NODE_PREFIX}cast_back"))
    new_nodes = nodes + list(graph.node)
    del graph.node[:]
    graph.node.extend(new_nodes)
    graph.initializer.extend(consts)
    batch = dims[0] if isinstance(dims[0], int) and dims[0] > 0 else "N"
    hw = (dims[2], dims[3]) if layout == "NCHW" else (dims[1], dims[2])
    spatial = [d if isinstance(d, int) and d > 0 else n for d, n in zip(hw, ("height", "width"), strict=True)]
    new_input = helper.make_tensor_value_info(name, TensorProto.UINT8, [batch, *spatial, 3])
    idx = list(graph.input).index(image)
    graph.input.remove(image)
    graph.input.insert(idx, new_input)
    set_metadata(model, METADATA_KEY, preprocess.replace(size=tuple(size), layout=layout).to_json())
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:  # the file was invalid before ferry's nodes: say so, in one line
        first = (str(exc).strip().splitlines() or ["invalid"])[0][:240]
        raise FerryError(f"{src}: not a valid ONNX model with the preprocessing in front ({first}); run "
                         "onnx.checker.check_model on the file itself") from None
    out = Path(dest)
    atomic_write_bytes(out, model.SerializeToString())
    return out


def _gray_nodes(cur: str, preprocess: Preprocess, nodes: list, consts: list) -> str:
    """Append the BGR->gray nodes (and the polarity) after float NHWC BGR tensor `cur`; return the gray tensor.

    Why a MatMul and Floor rather than float weights 0.114/0.587/0.299: the reference rounds to uint8 with
    fixed-point weights, and an unrounded gray is up to half a level off. Integer-valued float32 sums below 2**24
    are exact, so this graph gives the reference's levels bit for bit (`ferry.preprocess.gray`)."""
    from onnx import helper, numpy_helper

    from ferry.preprocess.gray import gray_weights

    weights, half, inv = gray_weights(preprocess.resize.semantics)
    for suffix, value in (("gray_weights", weights.reshape(3, 1)), ("gray_half", np.float32(half)),
                          ("gray_shift", np.float32(inv))):
        consts.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), f"{NODE_PREFIX}{suffix}"))
    steps = [("MatMul", "gray_weights", "gray_sum"), ("Add", "gray_half", "gray_rounded"),
             ("Mul", "gray_shift", "gray_scaled"), ("Floor", None, "gray")]
    for op, const, out in steps:
        inputs = [cur] + ([f"{NODE_PREFIX}{const}"] if const else [])
        nodes.append(helper.make_node(op, inputs, [f"{NODE_PREFIX}{out}"], name=f"{NODE_PREFIX}{out}"))
        cur = f"{NODE_PREFIX}{out}"
    if preprocess.gray_zero_is == "white":
        consts.append(numpy_helper.from_array(np.asarray(255.0, dtype=np.float32), f"{NODE_PREFIX}white"))
        nodes.append(helper.make_node("Sub", [f"{NODE_PREFIX}white", cur], [f"{NODE_PREFIX}inverted"],
                                      name=f"{NODE_PREFIX}invert"))
        cur = f"{NODE_PREFIX}inverted"
    return cur


def metadata(model) -> dict[str, str]:
    """The model's metadata_props as a dict."""
    return {p.key: p.value for p in model.metadata_props}


def set_metadata(model, key: str, value: str) -> None:
    """Set one metadata_props entry, keeping the others (ONNX keeps them as a list that may repeat a key)."""
    meta = metadata(model)
    meta[key] = value
    del model.metadata_props[:]
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)


def preprocessing_subgraph(model):
    """A model made of the `ferry_pre_*` nodes only (pixels in, normalised tensor out), or None."""
    require("onnx", "onnx")
    from onnx import TensorProto, helper

    pre = [n for n in model.graph.node if n.name.startswith(NODE_PREFIX)]
    if not pre:
        return None
    produced = {o for n in pre for o in n.output}
    consumed = {i for n in pre for i in n.input}
    final = [o for o in produced if o not in consumed]
    inputs = [i for i in model.graph.input if i.name in consumed]
    inits = [t for t in model.graph.initializer if t.name in consumed]
    if len(final) != 1 or len(inputs) != 1:
        return None
    last = next(n for n in pre if final[0] in n.output)
    elem = next((a.i for a in last.attribute if a.name == "to"), TensorProto.FLOAT) if last.op_type == "Cast" \
        else TensorProto.FLOAT
    out = helper.make_tensor_value_info(final[0], elem, None)
    graph = helper.make_graph(pre, "ferry_preprocess_probe", inputs, [out], initializer=inits)
    sub = helper.make_model(graph, opset_imports=list(model.opset_import))
    sub.ir_version = model.ir_version
    return sub


def quiet_ort() -> None:
    """onnxruntime 1.31 sends telemetry when imported first; ferry reaches no network."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
