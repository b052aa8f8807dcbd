"""Where two runs part: the first layer whose output differs beyond tolerance, by name, op type and error.

Both sides run one photo with every intermediate tensor marked as an output (ONNX: each node's outputs added to
the graph outputs, run in onnxruntime; OpenVINO: `Model.add_outputs` on every op's float outputs, compiled at
f32; OpenCV DNN: `net.forward` of every layer, fusion off). Tensors are matched by name (ONNX tensor names survive
OpenVINO's ONNX frontend and IR serialisation), or, when fewer than half match by name, by position: in graph order,
the next target tensor with the same shape.
Walking the source's graph in order, the first matched tensor beyond tolerance names the layer.

Polygraphy's `--onnx-outputs mark all` / `--trt-outputs mark all` does the marking for ONNX and TensorRT and
compares run by run, but it has no OpenVINO runner, matches by name only, and leaves finding the first
divergence in topological order to the reader: the little this module adds is that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ferry.compare.tensor import DEFAULT_ATOL, DEFAULT_RTOL, compare_arrays
from ferry.errors import FerryError
from ferry.preprocess.contract import Preprocess
from ferry.runtimes.base import Model

RUNTIMES = ("onnxruntime", "openvino", "opencv")
_SKIP_OV = {"Parameter", "Constant", "Result", "ShapeOf", "Convert", "ReadValue", "Assign"}


@dataclass
class Traced:
    """One intermediate tensor of one run, in graph order."""

    names: set[str]
    node: str
    op_type: str
    value: np.ndarray = field(repr=False)

    @property
    def name(self) -> str:
        return sorted(self.names)[0] if self.names else self.node


def _feeds(model: Model, image: np.ndarray, contract: Preprocess) -> dict[str, np.ndarray]:
    """What the model is fed for this photo, the same way check feeds it (embedded: resized pixels)."""
    from ferry.preprocess.reference import preprocess_batch, resize_batch
    from ferry.runtimes.base import fixed_batch, padded

    c = model.resolve(contract)
    images = padded([image], fixed_batch(model))  # a batch fixed above 1 takes that many: the photo repeated
    if model.embedded is not None:
        return model.feed_tensor(resize_batch(images, c))
    return model.feed_tensor(preprocess_batch(images, c))


def trace_onnx(path, feeds: dict[str, np.ndarray]) -> list[Traced]:
    """Every node output of an ONNX file whose type shape inference knows, through onnxruntime."""
    import onnx

    from ferry.runtimes import onnx_graph
    from ferry.runtimes.onnxruntime import session

    model = onnx_graph.load_onnx(path)
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - shape inference is best effort; unknown tensors are just not traced
        inferred = model
    types = {v.name: v.type for v in [*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input]}
    existing = {o.name for o in model.graph.output}
    order: list[tuple[str, str, str]] = []
    for node in model.graph.node:
        if node.op_type == "Constant":
            continue
        for out in node.output:
            t = types.get(out)
            if not out or t is None or t.tensor_type.elem_type not in (onnx.TensorProto.FLOAT,
                                                                        onnx.TensorProto.FLOAT16,
                                                                        onnx.TensorProto.DOUBLE):
                continue
            order.append((out, node.name or out, node.op_type))
            if out not in existing:
                vi = onnx.ValueInfoProto()
                vi.name = out
                vi.type.CopyFrom(t)
                model.graph.output.append(vi)
                existing.add(out)
    sess = session(model)
    names = [n for n, _, _ in order]
    try:
        values = sess.run(names, feeds)
    except Exception as exc:  # noqa: BLE001
        raise FerryError(f"{path}: onnxruntime cannot run it with every tensor marked: {str(exc).splitlines()[0]}"
                         ) from None
    return [Traced({n}, node, op, np.asarray(v)) for (n, node, op), v in zip(order, values, strict=True)]


def trace_openvino(path, feeds: dict[str, np.ndarray]) -> list[Traced]:
    """Every float output of every op (constants and shape plumbing left out), through OpenVINO at f32."""
    from ferry.runtimes.openvino import F32_CONFIG, core, read_model

    model = read_model(path)
    ports = []
    for op in model.get_ordered_ops():
        if op.get_type_name() in _SKIP_OV:
            continue
        for out in op.outputs():
            if out.get_element_type().is_real():
                ports.append((op, out))
    added = model.add_outputs([out for _, out in ports])
    index = {(o.get_node().get_friendly_name(), o.get_index()): i for i, o in enumerate(model.outputs)}
    compiled = core().compile_model(model, "CPU", F32_CONFIG)
    try:
        result = compiled.create_infer_request().infer(feeds)
    except Exception as exc:  # noqa: BLE001
        raise FerryError(f"{path}: OpenVINO cannot run it with every tensor marked: {str(exc).splitlines()[0]}"
                         ) from None
    traced = []
    for (op, out), port in zip(ports, added, strict=True):
        i = index.get((port.get_node().get_friendly_name(), port.get_index()))
        if i is None:
            continue
        value = result[compiled.outputs[i]]
        traced.append(Traced(set(out.get_names()), op.get_friendly_name(), op.get_type_name(),
                             np.array(value, copy=True)))
    return traced


def trace_opencv(path, feeds: dict[str, np.ndarray]) -> list[Traced]:
    """Every layer's first output, through OpenCV DNN with layer fusion off, so each ONNX node keeps a layer of its
    own (a BatchNorm is still folded into its convolution at import: `_fused` takes that). OpenCV 4.14's importer
    names a layer `onnx_node!NODE` (`onnx_node_output_0!TENSOR` for an unnamed node), so tensors match by name."""
    from ferry.runtimes.opencv import _cv2, load, quiet

    cv2 = _cv2()
    net = load(path)._net  # a fresh net, read as check reads it; no forward has run, so fusion can still be off
    net.enableFusion(False)
    for name, x in feeds.items():
        net.setInput(np.ascontiguousarray(x), name)
    layers = [n for n in net.getLayerNames() if net.getLayer(n).type not in ("Const", "Identity")]
    try:
        with quiet():
            values = net.forward(layers)
    except cv2.error as exc:
        raise FerryError(f"{path}: OpenCV DNN cannot run it with every layer's output requested: "
                         f"{str(exc).strip().splitlines()[-1]}") from None
    from ferry.runtimes import onnx_graph

    graph = onnx_graph.load_onnx(path).graph
    first_output = {n.name: n.output[0] for n in graph.node if n.name and n.output}
    traced = []
    for name, value in zip(layers, values, strict=True):
        kind, _, rest = name.partition("!")
        # "onnx_node!NODE" for a named node, "onnx_node_output_0!TENSOR" for an unnamed one, else the tensor itself
        tensor = first_output.get(rest, rest) if kind == "onnx_node" else (rest or name)
        traced.append(Traced({tensor}, rest or name, net.getLayer(name).type, np.array(value, copy=True)))
    return traced


def trace(model: Model, feeds: dict[str, np.ndarray]) -> list[Traced]:
    if model.runtime == "onnxruntime":
        return trace_onnx(model.path, feeds)
    if model.runtime == "openvino":
        return trace_openvino(model.path, feeds)
    if model.runtime == "opencv":
        return trace_opencv(model.path, feeds)
    raise FerryError(f"{model.path}: --bisect runs ONNX (onnxruntime, OpenCV DNN) and OpenVINO models; this one "
                     f"runs in {model.runtime}")


def _shape(a: np.ndarray) -> tuple[int, ...]:
    return tuple(d for d in a.shape if d != 1)


def match(src: list[Traced], tgt: list[Traced]) -> tuple[list[tuple[Traced, Traced]], str]:
    """Pairs in source order: by tensor name when at least half the source matches that way, else by position."""
    by_name: dict[str, Traced] = {}
    for t in tgt:
        for n in t.names:
            by_name.setdefault(n, t)
    pairs = []
    for s in src:
        hit = next((by_name[n] for n in s.names if n in by_name), None)
        if hit is not None and _shape(hit.value) == _shape(s.value):
            pairs.append((s, hit))
    if len(pairs) * 2 >= len(src) and pairs:
        return pairs, "name"
    pairs, j = [], 0
    for s in src:
        k = next((k for k in range(j, len(tgt)) if _shape(tgt[k].value) == _shape(s.value)), None)
        if k is not None:
            pairs.append((s, tgt[k]))
            j = k + 1
    return pairs, "position"


def _fused(t: Traced, following: list[Traced], atol: float, rtol: float) -> bool:
    """Whether the target's tensor is one of the next source tensors instead (same size, within tolerance)."""
    return any(f.value.size == t.value.size and compare_arrays(f.name, f.value, t.value.reshape(f.value.shape),
                                                               atol, rtol).passed for f in following)


def bisect_models(src: Model, tgt: Model, image: np.ndarray, contract: Preprocess,
                  target_contract: Preprocess | None = None, atol: float = DEFAULT_ATOL,
                  rtol: float = DEFAULT_RTOL) -> dict[str, Any]:
    """The first source layer whose matched target tensor differs beyond tolerance on this photo."""
    for m in (src, tgt):
        if m.runtime not in RUNTIMES:
            raise FerryError(f"{m.path}: --bisect runs ONNX and OpenVINO models (onnxruntime, openvino, opencv); "
                             f"this one runs in {m.runtime}: convert it to ONNX or OpenVINO to bisect")
    s_tr = trace(src, _feeds(src, image, contract))
    t_tr = trace(tgt, _feeds(tgt, image, target_contract or contract))
    pairs, how = match(s_tr, t_tr)
    if not pairs:
        return {"found": False, "reason": "no intermediate tensor of the target matches the source's by name or "
                "shape: the graphs differ too much to bisect", "compared": 0, "matched_by": how}
    last_ok = None
    for k, (s, t) in enumerate(pairs):
        c = compare_arrays(s.name, s.value, t.value.reshape(s.value.shape) if t.value.size == s.value.size
                           else t.value, atol, rtol)
        if not c.passed and _fused(t, [p for p, _ in pairs[k + 1:k + 4]], atol, rtol):
            continue  # the target's layer holds the next ops too (OpenCV folds a BatchNorm into its conv)
        if not c.passed:
            return {"found": True, "node": s.node, "op_type": s.op_type, "tensor": s.name,
                    "target_node": t.node, "target_op_type": t.op_type, "max_abs": c.max_abs,
                    "max_rel": c.max_rel, "cosine": c.cosine, "within": c.within,
                    "after": last_ok, "compared": len(pairs), "matched_by": how,
                    "first_layer": s is pairs[0][0],
                    "hint": ("the first traced layer already differs: the inputs (preprocessing) or this layer's "
                             "weights (e.g. fp16-compressed IR) differ" if s is pairs[0][0] else
                             f"{last_ok} agrees; {s.node} is where the two runs part: check its weights/attributes")}
        last_ok = s.name
    return {"found": False, "reason": f"all {len(pairs)} matched intermediate tensors agree (matched by {how}); "
            "the difference arises in tensors that could not be matched", "compared": len(pairs),
            "matched_by": how}
