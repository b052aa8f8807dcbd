"""Evidence in the file: contracts a model file (or the folder it ships in) states, with the questions each settles.

A stated contract is a strong prior: the doctor takes its answer on every question it covers, and says when the
BatchNorm evidence disagrees. Sources, strongest first:
- the file's metadata (`Model.declared`): ferry's own, an Ultralytics export's (`author` Ultralytics, `imgsz`),
  OpenVINO Model API `model_info`, TFLite's: the whole contract;
- a timm or Hugging Face config beside the file (`preprocessor_config.json`, a `config.json` holding a
  `pretrained_cfg`): range, colour order and resize; MMDeploy's SDK `pipeline.json` (written beside end2end.onnx
  by `tools/deploy.py --dump-info`): range and colour order (its keep-ratio resize pads one side: not ferry's);
  PaddlePaddle's `inference.yml` (PaddleOCR, PaddleClas, PaddleX) or `infer_cfg.yml` (PaddleDetection): the range,
  and the colour order where a DecodeImage step states it;
- a Keras model named as a Keras application, or holding one as its first sub-model (transfer learning): that
  application's preprocess_input, range and colour order;
- normalisation in the graph's first ops (ONNX and OpenVINO IR: Mul/Div/Sub/Add with constants on the image
  input; Keras: a Rescaling or Normalization layer first): the model normalises itself, so it wants pixel values,
  0..255 or 0..1 by the size of the gain it applies, or of the mean it subtracts where a converter fused the gain
  into the first convolution. Only the range is settled: the ops say nothing about colour order (a file made for
  BGR may hold RGB-ordered means: PaddleOCR's do).

Not read: TFLite graph fronts (TFLiteConverter folds a Keras Rescaling into the first convolution's weights and
bias, leaving no op to read, measured with TensorFlow 2.x on a Rescaling -> Conv2D model).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ferry.errors import FerryError
from ferry.preprocess.contract import Preprocess
from ferry.runtimes.base import Model

QUESTIONS = ("range", "color", "layout", "resize")
_FRONT_OPS = ("Mul", "Div", "Sub", "Add")
_PASS_OPS = ("Cast", "Transpose", "Identity")


@dataclass(frozen=True)
class Stated:
    """A contract the file states, where it says so, and which questions it settles."""

    preprocess: Preprocess
    source: str
    covers: frozenset[str]

    def to_dict(self) -> dict:
        return {"source": self.source, "covers": sorted(self.covers), "preprocess": self.preprocess.to_dict()}


def stated(model: Model) -> list[Stated]:
    """Every statement found, strongest first. Reading is best effort: a config that cannot be read is no
    statement (the doctor must still diagnose the model)."""
    out: list[Stated] = []
    if model.declared is not None:
        declared = model.declared
        if declared.size is None:  # a YOLOv5-family export states no size: it is the model's input
            try:
                declared = model.resolve(declared)
            except Exception:  # noqa: BLE001 - a dynamic input: the candidates' size is used (_within_statements)
                pass
        out.append(Stated(declared, model.declared_source,
                          model.declared_covers if model.declared_covers is not None else frozenset(QUESTIONS)))
    for reader in (_config_beside, _graph_front):
        try:
            found = reader(model)
        except Exception:  # noqa: BLE001 - evidence is optional: an unreadable config states nothing
            found = None
        if found is not None:
            out.append(found)
    return out


def _config_beside(model: Model) -> Stated | None:
    from ferry.preprocess.importers import from_hf, from_mmdeploy, from_timm
    from ferry.preprocess.importers.paddle import paddle_config

    folder = Path(model.path).parent if Path(model.path).is_file() else Path(model.path)
    hf = folder / "preprocessor_config.json"
    if hf.is_file():
        imp = from_hf(hf)
        return Stated(imp.preprocess, f"{hf.name} beside the model (Hugging Face)",
                      frozenset({"range", "color", "resize"}))
    mm = folder / "pipeline.json"
    if mm.is_file():
        try:
            imp = from_mmdeploy(mm)
            return Stated(imp.preprocess, f"{mm.name} beside the model (MMDeploy SDK)", frozenset({"range", "color"}))
        except FerryError:
            pass  # another tool's pipeline.json: the next source may still state the contract
    for name in ("inference.yml", "infer_cfg.yml"):
        paddle = folder / name
        if paddle.is_file():
            try:
                imp, colour = paddle_config(paddle)
            except FerryError:
                continue
            return Stated(imp.preprocess, f"{paddle.name} beside the model (PaddlePaddle)",
                          frozenset({"range", "color"} if colour else {"range"}))
    cfg = folder / "config.json"
    if cfg.is_file() and cfg.stat().st_size < 10_000_000:
        data = json.loads(cfg.read_text())
        pretrained = data.get("pretrained_cfg") if isinstance(data, dict) else None
        if isinstance(pretrained, dict) and "mean" in pretrained:
            imp = from_timm(pretrained)
            return Stated(imp.preprocess, f"{cfg.name} beside the model (timm pretrained_cfg)",
                          frozenset({"range", "color", "resize"}))
    return None


def _pixel_range(gain: float, what: str) -> Stated | None:
    """The graph applies `gain` to its input first: a gain of about 1/255..1/50 makes 0..255 pixels O(1), so the
    model wants 0..255; a gain of about 1..10 (ImageNet's 1/std) wants 0..1."""
    g = abs(gain)
    if 1 / 300 <= g <= 1 / 50:
        pp = Preprocess(scale=1.0)
        return Stated(pp, f"{what} (gain {gain:.4g}: it takes 0..255 pixels)", frozenset({"range"}))
    if 0.5 <= g <= 10:
        pp = Preprocess(scale=1 / 255)
        return Stated(pp, f"{what} (gain {gain:.4g}: it takes 0..1 values)", frozenset({"range"}))
    return None


def _graph_front(model: Model) -> Stated | None:
    from ferry.formats import KERAS, ONNX, OPENVINO

    if model.format == ONNX:
        return _onnx_front(model)
    if model.format == OPENVINO:
        return _openvino_front(model)
    if model.format == KERAS:
        return _keras_front(model)
    return None


@dataclass(frozen=True)
class _Step:
    """One elementwise op met walking forward from the image input: `const` is its other (constant) operand;
    `const_first` when the constant is the left operand (c - x, c / x)."""

    op: str  # "Mul", "Div", "Sub", "Add"
    const: np.ndarray
    const_first: bool


def _front_statement(steps: list[_Step]) -> Stated | None:
    """What a chain of constant arithmetic at the graph's front says about the input range.

    A gain (Mul/Div) says it by its size (_pixel_range). A mean subtraction alone says it by the mean's size: a
    converter that fuses the scale into the first convolution leaves only the subtraction (OpenVINO does so with
    PrePostProcessor's or Model Optimizer's mean/scale values: `Subtract [123.7, 116.3, 103.5]` before the
    convolution, the 1/std inside its weights), and a photo's channel means are mid-range whatever the scale, so
    means of 50..205 are subtracted from 0..255 pixels and means of 0.2..0.8 from 0..1 values."""
    gain, offset, arith = 1.0, 0.0, []
    for st in steps:
        value = st.const.astype(np.float64)
        if value.size == 0 or not np.all(np.isfinite(value)):
            break
        v = float(np.mean(value))
        if st.op == "Mul":
            gain, offset = gain * v, offset * v
        elif st.op == "Div":
            if np.any(value == 0) or st.const_first:  # c / x is no normalisation
                break
            gain, offset = gain / v, offset / v
        elif st.op == "Sub":
            gain, offset = (-gain, v - offset) if st.const_first else (gain, offset - v)
        elif st.op == "Add":
            offset += v
        arith.append(st.op)
    if not arith:
        return None
    what = f"the graph normalises its input first ({', '.join(arith)})"
    if any(op in ("Mul", "Div") for op in arith):
        return _pixel_range(gain, what)
    if gain < 0:
        return None  # c - x: an inversion, not a mean
    mean = -offset  # the graph computes x - mean
    if 50 <= mean <= 205:
        return Stated(Preprocess(scale=1.0), f"{what}: it subtracts a mean of {mean:.4g}, a mean of 0..255 pixels",
                      frozenset({"range"}))
    if 0.2 <= mean <= 0.8:
        return Stated(Preprocess(scale=1 / 255), f"{what}: it subtracts a mean of {mean:.4g}, a mean of 0..1 values",
                      frozenset({"range"}))
    return None


def _onnx_front(model: Model) -> Stated | None:
    import onnx

    from ferry.doctor.batchnorm import _onnx_constants

    proto = onnx.load(str(model.path), load_external_data=False)
    g = proto.graph
    consts = _onnx_constants(g)
    consumers: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    name = model.image_input.name
    steps: list[_Step] = []
    for _ in range(8):
        nodes = consumers.get(name, [])
        if len(nodes) != 1:
            break
        n = nodes[0]
        if n.op_type in _PASS_OPS:
            name = n.output[0]
            continue
        if n.op_type not in _FRONT_OPS or len(n.input) != 2:
            break
        other = n.input[1] if n.input[0] == name else n.input[0]
        if other not in consts:
            break
        steps.append(_Step(n.op_type, consts[other], n.input[0] == other))
        name = n.output[0]
    return _front_statement(steps)


_OV_OPS = {"Multiply": "Mul", "Divide": "Div", "Subtract": "Sub", "Add": "Add"}
_OV_PASS = ("Convert", "Transpose", "Gather")  # Gather: a channel reversal (reverse_input_channels) leaves the range


def _openvino_front(model: Model) -> Stated | None:
    """The IR's first ops after the image Parameter, read with OpenVINO's own graph API."""
    from ferry.runtimes import openvino as ov_rt

    ir = ov_rt.read_model(model.path)
    params = [p for p in ir.get_parameters() if model.image_input.name in p.output(0).get_names()]
    if not params and len(ir.get_parameters()) == 1:
        params = list(ir.get_parameters())
    if len(params) != 1:
        return None
    out = params[0].output(0)
    steps: list[_Step] = []
    for _ in range(8):
        targets = list(out.get_target_inputs())
        if len(targets) != 1:
            break
        node, port = targets[0].get_node(), targets[0].get_index()
        kind = node.get_type_name()
        if kind in _OV_PASS and port == 0:
            out = node.output(0)
            continue
        if kind not in _OV_OPS or node.get_input_size() != 2:
            break
        const = ov_rt.constant_node(node.input_value(1 - port).get_node())
        if const is None:
            break
        steps.append(_Step(_OV_OPS[kind], np.asarray(const.get_data()), port == 1))
        out = node.output(0)
    return _front_statement(steps)


def _keras_application(keras_model) -> Stated | None:
    """A model named as a Keras application (or holding one as its first sub-model, as transfer learning does:
    Sequential([MobileNetV2(include_top=False), Dense])) states that application's preprocess_input: VGG16's caffe
    BGR means, MobileNetV2's -1..1, DenseNet's ImageNet mean/std. Range and colour order."""
    from ferry.preprocess.importers import from_keras
    from ferry.preprocess.importers.keras import application_of

    names = [keras_model.name] + [layer.name for layer in keras_model.layers[:3]
                                  if type(layer).__name__ in ("Functional", "Model", "Sequential")]
    for name in names:
        app = application_of(str(name))
        if app is not None:
            imp = from_keras(app)
            return Stated(imp.preprocess, f"the Keras application {name!r} inside the file ({imp.source})",
                          frozenset({"range", "color"}))
    return None


def _keras_front(model: Model) -> Stated | None:
    keras_model = model._model  # type: ignore[attr-defined]
    app = _keras_application(keras_model)
    if app is not None:
        return app
    for layer in keras_model.layers[:4]:
        kind = type(layer).__name__
        if kind == "Rescaling":
            return _pixel_range(float(np.mean(layer.scale)), "the model's first layers rescale (Rescaling)")
        if kind == "Normalization":
            var = np.asarray(layer.variance, dtype=np.float64)
            return _pixel_range(float(np.mean(1 / np.sqrt(np.maximum(var, 1e-12)))),
                                "the model's first layers normalise (Normalization)")
        if kind not in ("InputLayer", "Resizing", "CenterCrop"):
            break
    return None
