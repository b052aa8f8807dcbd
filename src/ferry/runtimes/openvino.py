"""OpenVINO: loads IR (.xml + .bin), ONNX, TFLite and SavedModel; holds preprocessing with PrePostProcessor.

Embedding makes the IR take what an app has: uint8 NHWC BGR pixels. PPP computes (x - mean) / scale; the contract
(x * s - m) / d is the same map with PPP mean = m / s and PPP scale = d / s. The contract is also written to
rt_info (`model_info/ferry_preprocess`, plus the `mean_values`/`scale_values`/`reverse_input_channels` keys that
Intel's Model API reads). Reading back runs the PPP ops alone on probe images, so a hand-made or stale IR is
described by what it computes, not by its metadata.

A GRAY contract is a PPP custom step: PPP's own `convert_color(GRAY)` leaves the levels unrounded (measured up to
0.499 of a level from cv2.cvtColor), so ferry builds the reference's fixed-point conversion (Multiply by the
weights, ReduceSum, Add, Multiply, Floor; bit-exact, see `ferry.preprocess.gray`) and, for 0 = white, 255 - g;
PPP's mean/scale and layout steps follow as for colour.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ferry.errors import FerryError, require
from ferry.formats import ONNX, OPENVINO, SAVED_MODEL, TFLITE, detect_format, runtimes_for
from ferry.preprocess.contract import Preprocess
from ferry.runtimes.base import Model, NativeRecipe, TensorInfo, fixed_batch, padded
from ferry.runtimes.probe import probe_affine, verify_embedded

NAME = "openvino"
RT_KEY = ["model_info", "ferry_preprocess"]
# CPUs with AMX/AVX512-BF16 make OpenVINO default to bf16 inference: 1e-2 drift that hides real bugs.
F32_CONFIG = {"INFERENCE_PRECISION_HINT": "f32"}
_PPP_OPS = {"Convert", "Gather", "Subtract", "Multiply", "Divide", "Add", "Transpose", "Concat", "Split",
            "Slice", "StridedSlice", "ReduceSum", "Floor",  # these two: ferry's gray step
            "Interpolate"}  # PPP's resize (resize_in_graph): without it the read-back stopped before the mean/scale


def _ov():
    ov = require("openvino", "openvino")
    py313_tf_frontend_fix()
    return ov


def py313_tf_frontend_fix() -> None:
    """Make OpenVINO 2026.4.1's TensorFlow frontend work on Python 3.13.

    Its `openvino.frontend.tensorflow.utils.get_environment_setup` (telemetry data, called by `convert_model` on every
    Keras or TF object) runs `exec("import tensorflow")` then `exec("del tensorflow")` inside a function. Since Python
    3.13 (PEP 667) exec no longer writes a function's locals, so the `del` raises NameError and every Keras model fails
    to convert (measured: 9 tests red on 3.13.0, none on 3.11/3.12). The replacement returns the same dict without
    exec. Only on 3.13 and newer, and only that one function; a version of OpenVINO without it is left alone."""
    if sys.version_info < (3, 13):
        return
    try:
        from openvino.frontend.tensorflow import utils
    except ImportError:
        return
    original = getattr(utils, "get_environment_setup", None)
    if original is None or getattr(original, "_ferry_fix", False):
        return

    def get_environment_setup(framework):
        v = sys.version_info
        env = {"python_version": f"{v.major}.{v.minor}.{v.micro}"}
        if framework == "tf":
            try:
                import tensorflow

                env["tensorflow"] = utils.get_imported_module_version(tensorflow)
            except (AttributeError, ImportError):
                pass
        env["sys_platform"] = sys.platform
        return env

    get_environment_setup._ferry_fix = True  # type: ignore[attr-defined]
    utils.get_environment_setup = get_environment_setup


_CORE = None


def core():
    global _CORE
    if _CORE is None:
        _CORE = _ov().Core()
    return _CORE


def read_model(path: str | Path):
    """An ov.Model from IR, ONNX, TFLite or a SavedModel directory, with one-line errors."""
    p = Path(path)
    fmt = detect_format(p)
    if fmt == OPENVINO:
        bin_path = p.with_suffix(".bin")
        if not bin_path.is_file():
            raise FerryError(f"{p}: its weights file {bin_path.name} is missing; keep the .xml and .bin together")
    if fmt not in (OPENVINO, ONNX, TFLITE, SAVED_MODEL):
        raise FerryError(f"{p}: OpenVINO cannot read a {fmt} file")
    try:
        if fmt == SAVED_MODEL:
            return _ov().convert_model(str(p))
        return core().read_model(str(p))
    except Exception as exc:
        from ferry.op_errors import find_op

        op, node = find_op(str(exc))
        if op:
            where = f" (node {node})" if node else ""
            raise FerryError(f"{p}: OpenVINO's {fmt} frontend has no conversion for op {op}{where}: run this file in "
                             f"its own runtime ({runtimes_for(fmt)[0]}), or replace the op in the model") from None
        first = str(exc).strip().splitlines()
        msg = next((line for line in first if "Check" in line or "ailed" in line or "rror" in line),
                   first[0] if first else type(exc).__name__)
        fix = "check it and the .bin beside it are whole, or export it again" if p.suffix == ".xml" else \
            "check the file is whole, or export it again"
        raise FerryError(f"{p}: OpenVINO cannot read it: {msg.strip().rstrip(':')[:300]}; {fix}") from None


def _info(port) -> TensorInfo:
    ps = port.get_partial_shape()
    shape = None if ps.rank.is_dynamic else tuple(d.get_length() if d.is_static else None for d in ps)
    try:
        dtype = np.dtype(port.get_element_type().to_dtype()).name
    except Exception:
        dtype = str(port.get_element_type())
    names = port.get_names()
    return TensorInfo(port.get_any_name() if names else f"output{port.get_index()}", shape, dtype)


@dataclass
class OvModel(Model):
    _compiled: Any = None
    _request: Any = None
    # a full-integer .tflite read by OpenVINO's TFLite frontend keeps int8 I/O: (scale, zero point) by name, so a
    # float contract tensor is quantised in and the outputs dequantised out, as ferry's LiteRT runtime does
    quantization: dict[str, tuple[float, int]] = field(default_factory=dict)

    def feed_tensor(self, tensor: np.ndarray) -> dict[str, np.ndarray]:
        if self.quantization:
            from ferry.runtimes.tflite import quantize_feed

            tensor = quantize_feed(tensor, self.image_input, self.quantization)
        return super().feed_tensor(tensor)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            result = self._request.infer(feeds)
        except Exception as exc:
            raise FerryError(f"{self.path}: OpenVINO inference failed: {str(exc).splitlines()[0][:300]}") from None
        outs = {}
        for info, port in zip(self.outputs, self._compiled.outputs, strict=True):
            outs[info.name] = np.array(result[port], copy=True)
            if info.name in self.quantization and outs[info.name].dtype.kind in "iu":
                scale, zp = self.quantization[info.name]
                outs[info.name] = ((outs[info.name].astype(np.float32) - zp) * scale).astype(np.float32)
        return outs


class OvResizingModel(OvModel):
    """An IR that resizes in its graph (`embed --resize-in-graph`): as a target (`run_image`) it is fed each photo at
    its own size, as an app does, so check and bench compare its resize too (fed host-resized pixels, it passed at
    4e-6 where whole photos differ by 0.03: PP-OCRv2's recogniser). Its `run_reference` stays the base one, the
    contract's host resize: what bench takes as its reference path."""

    def resolve(self, preprocess: Preprocess) -> Preprocess:
        """The size the graph resizes to fills a contract that gives none (the input itself takes any size)."""
        if preprocess.size is None and self.embedded is not None and self.embedded.size:
            preprocess = replace(preprocess, size=tuple(self.embedded.size))
        return super().resolve(preprocess)

    def run_image(self, images: list[np.ndarray], preprocess: Preprocess) -> dict[str, np.ndarray]:
        return self.run_whole(images)

    def run_whole(self, images: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Each photo at its own size, one call each (photos of different sizes share no tensor; a batch fixed at
        N gets the photo N times), the outputs joined on the batch axis (the second of a time-major [T, 1, C])."""
        from ferry.check import split_outputs

        n = fixed_batch(self)
        per = [split_outputs(self.run(self.feed_tensor(np.stack(padded([img], n)))), n or 1)[0] for img in images]

        def joined(name: str) -> np.ndarray:
            parts = [p[name] for p in per]
            if parts[0].ndim and parts[0].shape[0] == 1:
                return np.concatenate(parts, axis=0)
            if parts[0].ndim == 3 and parts[0].shape[1] == 1:
                return np.concatenate(parts, axis=1)
            return parts[0]
        return {name: joined(name) for name in per[0]} if per else {}


def load(path: str | Path) -> OvModel:
    p = Path(path)
    model = read_model(p)
    if detect_format(p) == ONNX:  # ferry's ONNX embedding lives in the ONNX graph, read it from there
        from ferry.runtimes.onnxruntime import file_facts

        facts = file_facts(p)
        embedded, notes = facts.embedded, list(facts.notes)
    else:
        embedded, notes = _embedded(model)
    resizes = embedded is not None and resizes_in_graph(model)
    if resizes:
        notes.append("the IR resizes in its graph (PrePostProcessor, linear): fed each photo at its own size, as an "
                     "app would, so its resize is compared too; it interpolates in float where cv2.resize rounds to "
                     "uint8 (under one level), which a sensitive model shows: raise --atol if the task answers agree")
    try:
        from ferry.runtimes.base import thread_budget

        threads = thread_budget()
        config = {**F32_CONFIG, "INFERENCE_NUM_THREADS": threads} if threads else F32_CONFIG
        compiled = core().compile_model(model, "CPU", config)
    except Exception as exc:
        raise FerryError(f"{p}: OpenVINO cannot compile it: {str(exc).splitlines()[0][:300]}") from None
    hint = core().get_property("CPU", "INFERENCE_PRECISION_HINT")
    default_precision = hint.get_type_name() if hasattr(hint, "get_type_name") else str(hint)
    if "f32" not in default_precision and "float32" not in default_precision:
        notes.append(f"this CPU runs OpenVINO in {default_precision} by default (about 1e-2 off float32); ferry "
                     "checks at f32: compile with {'INFERENCE_PRECISION_HINT': 'f32'} in your app to get these numbers")
    fmt = detect_format(p)
    quant: dict[str, tuple[float, int]] = {}
    if fmt == TFLITE:
        from ferry.runtimes.tflite import io_quantization

        quant = io_quantization(p)
        if quant:
            notes.append("int8 inputs/outputs of the TFLite file: the float tensor is quantised with its scale and "
                         "zero point, and the outputs dequantised, as for LiteRT")
    outputs = [_info(o) for o in compiled.outputs]
    outputs = [replace(o, dtype="float32") if o.name in quant else o for o in outputs]
    return (OvResizingModel if resizes else OvModel)(
        runtime=NAME, path=p, format=fmt,
        inputs=[_info(i) for i in compiled.inputs], outputs=outputs,
        embedded=embedded, notes=notes, _compiled=compiled, _request=compiled.create_infer_request(),
        quantization=quant,
    )


def _declared(model) -> Preprocess | None:
    if not model.has_rt_info(RT_KEY):
        return None
    raw = model.get_rt_info(RT_KEY).astype(str)
    return Preprocess.from_json(raw, source="rt_info model_info/ferry_preprocess")


def _preprocessing_chain(param) -> list:
    """The preprocessing ops after `param`, in order: unnamed elementwise/permute ops with constant operands, as
    PrePostProcessor inserts them. Empty when the parameter feeds the model directly."""
    chain: list = []
    node = param
    while True:
        targets = list(node.output(0).get_target_inputs())
        if len(targets) != 1:
            return chain
        nxt = targets[0].get_node()
        if nxt.get_type_name() not in _PPP_OPS or nxt.output(0).get_names():
            return chain
        others = [nxt.input_value(i).get_node() for i in range(nxt.get_input_size()) if i != targets[0].get_index()]
        if not all(_constant(o) for o in others):
            return chain
        chain.append(nxt)
        node = nxt
        if nxt.get_type_name() == "Convert" and not nxt.get_output_element_type(0).is_real():
            return chain  # PPP's cast back to an integer model input: what follows is the model's own graph


def _preprocessing_end(param):
    """The last op of the preprocessing chain after `param`, or None when the parameter feeds the model directly."""
    chain = _preprocessing_chain(param)
    return chain[-1] if chain else None


def resizes_in_graph(model) -> bool:
    """True for an IR whose uint8 image input takes any height and width and whose PrePostProcessor chain resizes
    (`embed --resize-in-graph`): it is fed photos at their own size, and its resize is part of what is checked."""
    params = [p for p in model.get_parameters() if len(p.get_partial_shape()) == 4]
    if not params or params[0].get_element_type() != _ov().Type.u8:
        return False
    ps = params[0].get_partial_shape()
    if not (ps[1].is_dynamic and ps[2].is_dynamic):
        return False
    return any(n.get_type_name() == "Interpolate" for n in _preprocessing_chain(params[0]))


def constant_node(node):
    """The Constant `node` is, or the Constant behind it when it is a Convert: what `save_model(compress_to_fp16=
    True)` makes of the PPP's mean and scale (f16 constants converted to f32; an fp16 IR read as having no
    normalisation without this). None for anything else."""
    if node.get_type_name() == "Convert":
        node = node.input_value(0).get_node()
    return node if node.get_type_name() == "Constant" else None


def _constant(node) -> bool:
    return constant_node(node) is not None


def _embedded(model) -> tuple[Preprocess | None, list[str]]:
    """Read back the preprocessing an IR performs on a u8 image input."""
    declared = _declared(model)
    params = [p for p in model.get_parameters() if len(p.get_partial_shape()) == 4]
    if not params or params[0].get_element_type() != _ov().Type.u8:
        if declared is not None:
            return None, ["rt_info declares ferry preprocessing but the input is not uint8 pixels; ignored"]
        return None, []
    if declared is None and str(params[0].get_layout()) in ("", "[...]"):
        # uint8 in, but no PrePostProcessor built this input (PPP always sets the tensor layout) and no ferry
        # rt_info: the model takes integer pixels itself (a TF Object Detection API export); what follows the
        # input is the model's own normalisation, fed as the contract says, not ferry's BGR convention.
        return None, []
    clone = model.clone()
    param = [p for p in clone.get_parameters() if len(p.get_partial_shape()) == 4][0]
    end = _preprocessing_end(param)
    if end is None:
        return None, []
    ps = param.get_partial_shape()
    if ps[1].is_dynamic or ps[2].is_dynamic:
        h, w = (declared.size if declared and declared.size else (16, 16))
    else:
        h, w = ps[1].get_length(), ps[2].get_length()
    fixed = ps[0].get_length() if ps[0].is_static and ps[0].get_length() > 1 else 0  # a batch fixed above 1
    ov = _ov()
    sub = ov.Model([end.output(0)], [param], "ferry_preprocess_probe")
    try:
        compiled = core().compile_model(sub, "CPU", F32_CONFIG)
        probed = probe_affine(lambda x: compiled(np.stack(padded(list(x), fixed)))[0][:len(x)], h, w)
    except (RuntimeError, FerryError) as exc:
        note = f"could not read back the embedded preprocessing ({str(exc).splitlines()[0][:200]})"
        return declared, [note]
    return verify_embedded(declared, probed)


def read_preprocess(path: str | Path) -> Preprocess | None:
    return model_preprocess(read_model(path))


def model_preprocess(model) -> Preprocess | None:
    """The preprocessing an ov.Model already in memory performs on a uint8 image input, else None."""
    return _embedded(model)[0]


def ppp_values(p: Preprocess) -> tuple[list[float], list[float]]:
    """(mean, scale) for PrePostProcessor's (x - mean) / scale, from the contract's (x * s - m) / d."""
    return [m / p.scale for m in p.mean], [d / p.scale for d in p.std]


def embed(path: str | Path, preprocess: Preprocess, dest: str | Path, resize_in_graph: bool = False,
          compress_to_fp16: bool = False) -> Path:
    """Write an IR (dest .xml + .bin) that takes uint8 NHWC BGR pixels and applies `preprocess` in-graph.

    With `resize_in_graph`, PPP also resizes from any input size (RESIZE_LINEAR): convenient, but it samples
    differently from cv2.resize (about 1e-4 in normalised units, more when shrinking a lot) and is slower than
    a host resize on large frames; ferry's check measures the difference.
    """
    return embed_model(read_model(path), preprocess, dest, resize_in_graph, compress_to_fp16, origin=path)


def embed_model(model, preprocess: Preprocess, dest: str | Path, resize_in_graph: bool = False,
                compress_to_fp16: bool = False, origin: str | Path = "") -> Path:
    """`embed` for an ov.Model already in memory (what openvino.convert_model returned)."""
    ov = _ov()
    from openvino.preprocess import ColorFormat, PrePostProcessor, ResizeAlgorithm

    from ferry.io import atomic_write_files

    path = origin or dest
    params = [p for p in model.get_parameters() if len(p.get_partial_shape()) == 4]
    if not params:
        raise FerryError(f"{path}: no 4-D image input to put preprocessing in front of")
    if not params[0].get_element_type().is_real() and not preprocess.keeps_values():
        raise FerryError(
            f"{path}: the model takes {params[0].get_element_type()} pixels and normalises them itself; a "
            "contract with mean/scale would normalise twice and round to integers (mo's --mean_values/"
            "--scale_values on a TF Object Detection API model): use scale 1, mean 0, std 1 with its colour order")
    name = params[0].get_friendly_name()
    ps = params[0].get_partial_shape()
    layout = preprocess.layout or ("NCHW" if ps[1].is_static and ps[1].get_length() in (1, 3) else "NHWC")
    _same_channels(path, name, ps, layout, preprocess)
    r = preprocess.resize
    if resize_in_graph and (r.mode not in ("stretch", "none") or r.crop_fraction < 1.0):
        how = r.mode if r.crop_fraction >= 1.0 else f"{r.mode} then a centre crop ({r.crop_fraction:g})"
        raise FerryError(f"{path}: OpenVINO's PrePostProcessor resize stretches to the model's size; the contract "
                         f"resizes by {how}, so an in-graph resize would feed other pixels: "
                         "resize on the host (leave the resize out of the graph)")
    if resize_in_graph and _size(ps, layout) is None:
        ps = _fix_spatial(model, params[0], ps, layout, preprocess, path)
    ppp = PrePostProcessor(model)
    inp = ppp.input(params[0].output(0).get_any_name()) if params[0].output(0).get_names() else ppp.input(name)
    tensor = inp.tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
    tensor.set_color_format(ColorFormat.BGR)
    if resize_in_graph:
        tensor.set_spatial_dynamic_shape()
    inp.model().set_layout(ov.Layout(layout))
    steps = inp.preprocess().convert_element_type(ov.Type.f32)
    if preprocess.color == "RGB":
        steps.convert_color(ColorFormat.RGB)
    if resize_in_graph:
        steps.resize(ResizeAlgorithm.RESIZE_LINEAR)
    if preprocess.color == "GRAY":  # after the resize, as the reference: resize the BGR image, then gray
        steps.custom(_gray_step(preprocess))
    mean, scale = ppp_values(preprocess)
    if any(m != 0 for m in mean):
        steps.mean(mean)
    if any(s != 1 for s in scale):
        steps.scale(scale)
    model = ppp.build()
    declared = preprocess.replace(layout=layout, size=preprocess.size or _size(ps, layout))
    model.set_rt_info(declared.to_json(), RT_KEY)
    model.set_rt_info(" ".join(f"{v:.9g}" for v in mean), ["model_info", "mean_values"])
    model.set_rt_info(" ".join(f"{v:.9g}" for v in scale), ["model_info", "scale_values"])
    model.set_rt_info(str(preprocess.color == "RGB"), ["model_info", "reverse_input_channels"])
    model.set_rt_info(json.dumps(list(declared.size or [])), ["model_info", "ferry_input_size"])
    xml = Path(dest).with_suffix(".xml")
    atomic_write_files([xml, xml.with_suffix(".bin")],
                       lambda tmps: _save(model, tmps[0], compress_to_fp16, tmps[1]))
    return xml


def _fix_spatial(model, param, ps, layout: str, preprocess: Preprocess, path):
    """An input of dynamic height or width fixed at the contract's size (the batch left as it is): PPP resizes to
    the model's own size and refuses a dynamic one ("Check 'model_shape().is_static()' failed"), as an Ultralytics
    export with dynamic axes has."""
    ov = _ov()
    if not preprocess.size:
        raise FerryError(f"{path}: the model's input size is dynamic ({ps}) and the contract gives no size, so an "
                         "in-graph resize has no size to resize to; set size: [H, W] in the contract")
    h, w = preprocess.size
    dims = [ps[i] for i in range(4)]
    hi, wi, ci = (2, 3, 1) if layout == "NCHW" else (1, 2, 3)
    dims[hi], dims[wi] = ov.Dimension(h), ov.Dimension(w)
    if dims[ci].is_dynamic:
        dims[ci] = ov.Dimension(preprocess.channels)
    model.reshape({param.output(0): ov.PartialShape(dims)})
    return param.get_partial_shape()


def _same_channels(path, name: str, ps, layout: str, preprocess: Preprocess) -> None:
    """A GRAY contract in front of a 3-channel input (or colour in front of 1) is refused here, in one line,
    rather than as PPP's shape error at build time."""
    axis = 1 if layout == "NCHW" else 3
    if ps[axis].is_static and ps[axis].get_length() != preprocess.channels:
        channels = ps[axis].get_length()
        raise FerryError(
            f"{path}: input {name} takes {channels} channel{'s' if channels > 1 else ''}, the contract "
            f"({preprocess.color}) makes {preprocess.channels}; set color: "
            f"{'GRAY' if channels == 1 else 'RGB or BGR'} in the contract")


def _gray_step(preprocess: Preprocess):
    """The PPP custom step: float NHWC BGR -> the reference's gray levels (NHWC, one channel), then the polarity.
    Why not convert_color(GRAY): see the module docstring."""
    import openvino.opset13 as ops

    from ferry.preprocess.gray import gray_weights

    weights, half, inv = gray_weights(preprocess.resize.semantics)

    def step(node):
        total = ops.reduce_sum(ops.multiply(node, ops.constant(weights)),
                               ops.constant(np.array([3], dtype=np.int64)), True)
        gray = ops.floor(ops.multiply(ops.add(total, ops.constant(np.float32(half))),
                                      ops.constant(np.float32(inv))))
        if preprocess.gray_zero_is == "white":
            gray = ops.subtract(ops.constant(np.float32(255.0)), gray)
        return gray.output(0)

    return step


def _save(model, xml_tmp: Path, compress: bool, bin_tmp: Path) -> None:
    ov = _ov()
    ov.save_model(model, str(xml_tmp), compress_to_fp16=compress)
    written_bin = xml_tmp.with_suffix(".bin")
    if written_bin != bin_tmp:
        written_bin.replace(bin_tmp)
    # the .xml names its .bin implicitly (same stem), so rename pairs keep working after the final rename


def _size(ps, layout: str) -> tuple[int, int] | None:
    hi, wi = (2, 3) if layout == "NCHW" else (1, 2)
    if ps[hi].is_static and ps[wi].is_static:
        return (ps[hi].get_length(), ps[wi].get_length())
    return None


def native(preprocess: Preprocess) -> NativeRecipe:
    """The PrePostProcessor calls that embed the contract (what the user pastes before compile_model)."""
    mean, scale = ppp_values(preprocess)
    layout = preprocess.layout or "NCHW"
    lines = [
        "from openvino.preprocess import PrePostProcessor, ColorFormat",
        *(_gray_recipe(preprocess) if preprocess.color == "GRAY" else []),
        "ppp = PrePostProcessor(model)",
        "ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout('NHWC'))"
        ".set_color_format(ColorFormat.BGR)",
        f"ppp.input().model().set_layout(ov.Layout('{layout}'))",
        "ppp.input().preprocess().convert_element_type(ov.Type.f32)"
        + (".convert_color(ColorFormat.RGB)" if preprocess.color == "RGB" else "")
        + (".custom(gray)" if preprocess.color == "GRAY" else "")
        + f".mean({[round(m, 6) for m in mean]}).scale({[round(s, 6) for s in scale]})",
        "model = ppp.build()  # then feed cv2.imread(...) resized to the model size, as uint8 [1,H,W,3]",
        "compiled = core.compile_model(model, 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})",
    ]
    return NativeRecipe(NAME, {"mean_values": mean, "scale_values": scale,
                               "reverse_input_channels": preprocess.color == "RGB", "layout": layout},
                        "\n".join(lines))


def _gray_recipe(p: Preprocess) -> list[str]:
    """The custom PPP step ferry embeds for GRAY, as lines to paste (PPP's convert_color(GRAY) does not round)."""
    from ferry.preprocess.gray import GRAY_WEIGHTS

    weights, shift = GRAY_WEIGHTS[p.resize.semantics]
    invert = "; g = ops.subtract(ops.constant(np.float32(255)), g)" if p.gray_zero_is == "white" else ""
    return [
        "import openvino.opset13 as ops",
        "def gray(x):  # BGR -> gray exactly as " + ("cv2.cvtColor" if p.resize.semantics == "opencv"
                                                     else "PIL convert('L')") + " rounds it",
        f"    s = ops.reduce_sum(ops.multiply(x, ops.constant(np.float32({list(weights)}))), "
        "ops.constant(np.int64([3])), True)",
        f"    g = ops.floor(ops.multiply(ops.add(s, ops.constant(np.float32({2 ** (shift - 1)}))), "
        f"ops.constant(np.float32(1 / {2 ** shift}))))" + invert,
        "    return g.output(0)",
    ]
