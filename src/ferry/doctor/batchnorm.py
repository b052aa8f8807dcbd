"""BatchNorm evidence: do a candidate's tensors give the model's first BatchNorm layers the statistics it was
trained on?

A BatchNorm layer stores the running mean and variance of its input over the training set, per channel. Feed the
model photos preprocessed the way it was trained and the first layers' inputs have about those statistics; feed
0..255 where it wants -1..1 and the variance is off by four orders of magnitude; swap R and B and the first
convolution's colour filters answer differently, so the means move. The score is the Gaussian KL divergence of the
batch statistics from the running ones, averaged over channels, then the geometric mean over the first layers
(lower is better). Unlike output confidence it cannot be won by larger inputs: too large is as wrong as too small.

Measured on EfficientNet-Lite0 (real ImageNet weights, 10 photos, 64 candidates): each of the first three layers
alone ranks the true contract first, and the nearest other colour order scores 1.6x worse. Only early layers are
used (at most MAX_CONVS_BEFORE convolutions before them): deep ones see the photos' own domain (PP-OCR's three
BatchNorms sit in its head, after about 50 convolutions of text-specific features, and ranked its contract 7th on
natural photos, so PP-OCR gets no BatchNorm evidence).

Where the layers are found:
- ONNX files that keep BatchNormalization nodes (paddle2onnx, torch.onnx in training-preserving mode): the nodes'
  inputs become the outputs of a second onnxruntime session. torch.onnx's default export folds them away.
- torch nn.Module factories: forward pre-hooks on the first BatchNorm modules to run, and the forward pass stops
  after the last one.
- TorchScript: hooks are not supported on ScriptModules, so the file is exported by torch.onnx with
  TrainingMode.PRESERVE (BatchNorm kept, eval statistics) and read as ONNX.
- Keras models: a sub-model whose outputs are the first BatchNormalization layers' inputs.
OpenVINO IR, TFLite and Core ML files have their BatchNorms fused at conversion: no evidence (None).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ferry.runtimes.base import Model

FIRST_LAYERS = 3
DEAD_SHARE = 1e-3  # a channel whose running variance is below this share of its layer's median is a dead unit
MAX_CONVS_BEFORE = 8  # a BatchNorm deeper than this many convolutions sees the photos' domain, not the contract
_CONV_OPS = ("Conv", "ConvTranspose", "ConvInteger", "QLinearConv")


@dataclass
class Layer:
    """One BatchNorm layer: its stored statistics, the channel axis of its input, and what the photos gave."""

    name: str
    running_mean: np.ndarray
    running_var: np.ndarray
    axis: int = 1
    _sum: np.ndarray | None = None
    _sumsq: np.ndarray | None = None
    _count: int = 0

    def reset(self) -> None:
        self._sum, self._sumsq, self._count = None, None, 0

    def add(self, x: np.ndarray) -> None:
        x = np.moveaxis(np.asarray(x, dtype=np.float64), self.axis, -1).reshape(-1, len(self.running_mean))
        s, q = x.sum(0), (x * x).sum(0)
        self._sum = s if self._sum is None else self._sum + s
        self._sumsq = q if self._sumsq is None else self._sumsq + q
        self._count += len(x)

    def divergence(self, eps: float = 1e-5) -> float:
        """Mean over channels of KL(N(batch mean, batch var) || N(running mean, running var)).

        Both variances are floored at DEAD_SHARE of the layer's median running variance: a unit that (almost) never
        fired in training (a dead ReLU channel, running variance 1e-8 where its layer's median is 35) says only
        that it is off, and a photo unlike the training set that wakes it a little under the true contract made
        its KL 1e3-1e4 and the layer's mean follow it, so the smaller input won. Measured on cifar-10-model 7.4.0's
        Keras CNN (trained on 0..255): the mean KL put 0..1 1.3x closer (5.7 against 257, four such channels); with
        the floor 0..255 is 3.4x closer than 0..1 and 4x closer than -1..1."""
        if not self._count:
            return float("inf")
        mb = self._sum / self._count
        rv = np.maximum(self.running_var.astype(np.float64), 0.0)
        floor = max(eps, DEAD_SHARE * float(np.median(rv))) if rv.size else eps
        vb = np.maximum(self._sumsq / self._count - mb * mb, floor)
        vr = np.maximum(rv, floor)
        kl = 0.5 * ((mb - self.running_mean) ** 2 / vr + vb / vr - 1.0 - np.log(vb / vr))
        return float(np.mean(kl)) if np.all(np.isfinite(kl)) else float("inf")


@dataclass
class Probe:
    """Runs fed tensors up to the first BatchNorm layers and scores how far their inputs are from training."""

    layers: list[Layer]
    run: Callable[[dict[str, np.ndarray]], list[np.ndarray]]  # feeds -> the layers' inputs, in `layers` order

    def score(self, feeds: list[dict[str, np.ndarray]]) -> float:
        """Geometric mean over the layers of their divergence (lower: closer to the training statistics)."""
        for layer in self.layers:
            layer.reset()
        for f in feeds:
            xs = self.run(f)
            for layer, x in zip(self.layers, xs, strict=True):
                layer.add(x)
        d = np.array([layer.divergence() for layer in self.layers])
        if not np.all(np.isfinite(d)):
            return float("inf")
        return float(np.exp(np.mean(np.log(np.maximum(d, 1e-12)))))


def probe(model: Model, example: dict[str, np.ndarray] | None = None, layers: int = FIRST_LAYERS) -> Probe | None:
    """A probe for MODEL's first BatchNorm layers, or None when the file keeps none (or its runtime is missing).
    `example` (one fed batch) is needed to export TorchScript."""
    from ferry.formats import KERAS, ONNX, TORCH_MODULE, TORCHSCRIPT

    try:
        if model.format == ONNX:
            import onnx

            return _onnx_probe(onnx.load(str(model.path)), layers)
        if model.format == TORCH_MODULE and example is not None:
            return _torch_probe(model._module, layers, example)  # type: ignore[attr-defined]
        if model.format == TORCHSCRIPT and example is not None:
            return _torchscript_probe(model, example, layers)
        if model.format == KERAS:
            return _keras_probe(model._model, layers)  # type: ignore[attr-defined]
    except ImportError:
        return None
    return None


def _onnx_constants(graph) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    values = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for n in graph.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            values[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    return values


def _onnx_probe(proto, layers: int) -> Probe | None:
    import onnx
    import onnxruntime as ort

    consts = _onnx_constants(proto.graph)
    found: list[tuple[str, Layer]] = []
    convs = 0
    for n in proto.graph.node:  # ONNX nodes are stored in topological order: the first found run first
        convs += n.op_type in _CONV_OPS
        if convs > MAX_CONVS_BEFORE:
            break
        if n.op_type != "BatchNormalization" or len(n.input) < 5:
            continue
        mean, var = consts.get(n.input[3]), consts.get(n.input[4])
        if mean is None or var is None or mean.ndim != 1:
            continue
        found.append((n.input[0], Layer(n.name or n.input[0], mean.astype(np.float64), var.astype(np.float64))))
        if len(found) == layers:
            break
    if not found:
        return None
    _keep_only_ancestors(proto.graph, [name for name, _ in found])
    del proto.graph.output[:]
    for name, _ in found:
        proto.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [name for name, _ in found]
    inputs = {i.name for i in sess.get_inputs()}

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return sess.run(names, {k: v for k, v in feeds.items() if k in inputs})

    return Probe([layer for _, layer in found], run)


def _keep_only_ancestors(graph, outputs: list[str]) -> None:
    """Drop every node the layers' inputs do not depend on: onnxruntime runs the whole graph whatever outputs are
    asked for (measured on PP-OCRv4 det: 0.11 s a batch for the stem BatchNorm's input, as much as the full model).
    Graphs with subgraphs (If, Loop) keep every node: their implicit inputs are not in `node.input`."""
    if any(a.type in (5, 10) for n in graph.node for a in n.attribute):  # GRAPH, GRAPHS
        return
    needed = set(outputs)
    keep = []
    for n in reversed(graph.node):
        if any(o in needed for o in n.output):
            keep.append(n)
            needed.update(n.input)
    kept = list(reversed(keep))
    del graph.node[:]
    graph.node.extend(kept)


class _Stop(Exception):
    """Raised by the last hook: nothing after the first BatchNorm layers needs computing."""


def _torch_probe(module, layers: int, example: dict[str, np.ndarray]) -> Probe | None:
    import torch

    bns = [(n, m) for n, m in module.named_modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
           and m.track_running_stats and m.running_mean is not None]
    convs = [m for m in module.modules() if isinstance(m, torch.nn.modules.conv._ConvNd)]
    if not bns:
        return None
    seen: list[tuple[str, np.ndarray]] = []
    convs_run = [0]

    def on_conv(_mod, _args):
        convs_run[0] += 1

    def hook(name):
        def pre(_mod, args):
            if convs_run[0] > MAX_CONVS_BEFORE:
                raise _Stop
            if len(seen) < layers:
                seen.append((name, args[0].detach().cpu().numpy()))
            if len(seen) == layers:
                raise _Stop
        return pre

    def forward(feeds: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
        seen.clear()
        convs_run[0] = 0
        # hooks only while probing: the model's own runs must not stop at the first layers
        handles = [m.register_forward_pre_hook(hook(n)) for n, m in bns]
        handles += [m.register_forward_pre_hook(on_conv) for m in convs]
        try:
            with torch.inference_mode():
                module(*[torch.from_numpy(np.ascontiguousarray(v)) for v in feeds.values()])
        except _Stop:
            pass
        finally:
            for h in handles:
                h.remove()
        return list(seen)

    by_name = dict(bns)
    order = [n for n, _ in forward(example)]  # the layers in the order they run, not the order they were defined
    if not order:
        return None

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        got = forward(feeds)
        if [n for n, _ in got] != order:
            raise RuntimeError("the model ran its BatchNorm layers in another order")
        return [x for _, x in got]

    return Probe([Layer(n, by_name[n].running_mean.double().numpy(), by_name[n].running_var.double().numpy())
                  for n in order], run)


def _torchscript_probe(model: Model, example: dict[str, np.ndarray], layers: int) -> Probe | None:
    import onnx
    import torch

    x = next(iter(example.values()))[:1]
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model._module, torch.from_numpy(np.ascontiguousarray(x)), buf,  # type: ignore[attr-defined]
                              dynamo=False, opset_version=17, training=torch.onnx.TrainingMode.PRESERVE,
                              do_constant_folding=False, input_names=[model.inputs[0].name],
                              dynamic_axes={model.inputs[0].name: {0: "N"}})
    except Exception:  # noqa: BLE001 - a module torch.onnx cannot export gives no BatchNorm evidence, not an error
        return None
    return _onnx_probe(onnx.load_from_string(buf.getvalue()), layers)


def _keras_probe(keras_model, layers: int) -> Probe | None:
    from ferry.runtimes.tensorflow import _keras, keras_inputs

    keras = _keras()
    bns = [lay for lay in keras_model.layers if isinstance(lay, keras.layers.BatchNormalization)][:layers]
    if not bns:
        return None
    try:
        sub = keras.Model(keras_model.inputs, [lay.input for lay in bns])
    except Exception:  # noqa: BLE001 - a subclassed model has no graph to cut: no evidence
        return None
    found = []
    for lay in bns:
        axis = lay.axis[0] if isinstance(lay.axis, list | tuple) else lay.axis
        found.append(Layer(lay.name, np.asarray(lay.moving_mean, np.float64), np.asarray(lay.moving_variance,
                                                                                         np.float64), axis))

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        out = sub(keras_inputs(sub, list(feeds.values())), training=False)
        out = out if isinstance(out, list | tuple) else [out]
        return [np.asarray(o) for o in out]

    return Probe(found, run)
