"""Evidence in the file: contracts a model file (or the folder it ships in) states, with the questions each settles.

A stated contract is a strong prior: the doctor takes its answer on every question it covers, and says when the
BatchNorm evidence disagrees. Sources, strongest first:
- the file's metadata (`Model.declared`): ferry's own, an Ultralytics export's (`author` Ultralytics, `imgsz`),
  OpenVINO Model API `model_info`, TFLite's: the whole contract;
- a timm or Hugging Face config beside the file (`preprocessor_config.json`, a `config.json` holding a
  `pretrained_cfg`): range, colour order and resize;
- normalisation in the graph's first ops (ONNX: Mul/Div/Sub/Add with constants on the image input; Keras:
  a Rescaling or Normalization layer first): the model normalises itself, so it wants pixel values, 0..255 or 0..1
  by the size of the gain it applies. Only the range is settled: the ops say nothing about colour order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
        out.append(Stated(model.declared, model.declared_source,
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
    from ferry.preprocess.importers import from_hf, from_timm

    folder = Path(model.path).parent if Path(model.path).is_file() else Path(model.path)
    hf = folder / "preprocessor_config.json"
    if hf.is_file():
        imp = from_hf(hf)
        return Stated(imp.preprocess, f"{hf.name} beside the model (Hugging Face)",
                      frozenset({"range", "color", "resize"}))
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
    from ferry.formats import KERAS, ONNX

    if model.format == ONNX:
        return _onnx_front(model)
    if model.format == KERAS:
        return _keras_front(model)
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
    gain = 1.0
    arith = []
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
        value = consts[other].astype(np.float64)
        if value.size == 0 or not np.all(np.isfinite(value)):
            break
        if n.op_type == "Mul":
            gain *= float(np.mean(value))
        elif n.op_type == "Div":
            if np.any(value == 0) or n.input[0] == other:  # c / x is no normalisation
                break
            gain /= float(np.mean(value))
        elif n.op_type == "Sub" and n.input[0] == other:
            gain = -gain
        arith.append(n.op_type)
        name = n.output[0]
    if not arith or arith == ["Sub"] or arith == ["Add"]:
        return None  # no gain applied: a lone mean subtraction says nothing about the range here
    return _pixel_range(gain, f"the graph normalises its input first ({', '.join(arith)})")


def _keras_front(model: Model) -> Stated | None:
    keras_model = model._model  # type: ignore[attr-defined]
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
