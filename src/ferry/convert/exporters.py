"""The real converters, called the way that works (see ../shared/stack.md), one function per edge of the graph.

    torch   -> ONNX      torch.onnx.export, the TorchScript exporter (dynamo=False, opset 17): its ONNX runs in
                         OpenCV DNN, OpenVINO and onnxruntime; the dynamo exporter emits opset 18 files OpenCV
                         misreads (all-zero Linear biases dropped, Concat after Resize unparsed).
    TF      -> ONNX      tf2onnx: SavedModel through tf2onnx.tf_loader (which freezes the variables; calling
                         from_function on a restored signature leaves them as extra inputs), Keras with from_keras.
    TF      -> TFLite    tf.lite.TFLiteConverter, builtin ops only (the Flex delegate is not in ai-edge-litert).
    TFLite  -> ONNX      tf2onnx.convert.from_tflite; the file keeps the TFLite layout (NHWC). tf2onnx leaves an op
                         it cannot translate (a custom op: MediaPipe's, MaxPoolWithArgmax) in the graph as TFL_<op>
                         and returns without error, so every node is checked against ONNX's schemas after.
    TFLite  -> OpenVINO  openvino.convert_model on the .tflite path (OpenVINO's TFLite frontend).
                         For both, MediaPipe's Convolution2DTransposeBias is first rewritten as builtin
                         TRANSPOSE_CONV in a copy (ferry.convert.tflite_rewrite).
    *       -> OpenVINO  openvino.convert_model, then PrePostProcessor (ferry.runtimes.openvino.embed_model).

Each writes a plain model (float tensor in, the source's outputs out, the source's output names kept); the
preprocessing is embedded afterwards by the target's own means. A converter's failure becomes a FerryError that
names the op and the way around it (ferry.op_errors), not a stack trace.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

from ferry.convert.manifest import package_version
from ferry.convert.tflite_rewrite import op_code, with_builtin_equivalents
from ferry.errors import require
from ferry.formats import KERAS, SAVED_MODEL, TFLITE
from ferry.op_errors import ConversionError, explain
from ferry.preprocess.contract import Preprocess
from ferry.runtimes.base import Model

ONNX_OPSET = 17


@contextlib.contextmanager
def quiet():
    """Converters print pages of progress, MLIR locations and deprecation chatter, some of it from C++ straight to
    file descriptors 1 and 2; keep the user's terminal for ferry's answer. The text still reaches the exception
    that a failing converter raises, which is what explain() reads."""
    import os
    import sys
    import tempfile

    loggers = [logging.getLogger(n) for n in ("tensorflow", "tf2onnx", "absl", "torch.onnx")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    saved: list[tuple[int, int]] = []
    sink = tempfile.TemporaryFile()
    try:
        for fd, stream in ((1, sys.stdout), (2, sys.stderr)):
            try:
                stream.flush()
                saved.append((fd, os.dup(fd)))
                os.dup2(sink.fileno(), fd)
            except (OSError, ValueError, AttributeError):
                continue
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)
        sink.close()
        for lg, lv in zip(loggers, levels, strict=True):
            lg.setLevel(lv)


def example_shape(contract: Preprocess) -> tuple[int, ...]:
    channels = 1 if contract.color == "GRAY" else 3
    h, w = contract.size
    return (1, channels, h, w) if (contract.layout or "NCHW") == "NCHW" else (1, h, w, channels)


def torch_to_onnx(source: Model, contract: Preprocess, dest: Path) -> list[str]:
    """Export a loaded torch model (TorchScript, ExportedProgram or factory module) to ONNX, dynamic in batch,
    with the source's input and output names."""
    torch = require("torch", "torch")
    import numpy as np

    module = source._module  # type: ignore[attr-defined]
    shape = example_shape(contract)
    example = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32))
    in_name = source.inputs[0].name
    with torch.inference_mode():
        probe = module(example)
    n_out = len(probe) if isinstance(probe, list | tuple) else (len(probe) if isinstance(probe, dict) else 1)
    names = [o.name for o in source.outputs]
    if isinstance(probe, dict):
        names = [str(k) for k in probe]
    elif len(names) != n_out:
        names = [f"output{i}" for i in range(n_out)]
    # Batch only: torch modules declare no shapes, and OpenCV DNN fails to import reshapes over dynamic
    # height/width (measured on the seeded classifier), so height and width stay the contract's.
    dynamic = {in_name: {0: "batch"}, **{n: {0: "batch"} for n in names}}
    try:
        with quiet():
            torch.onnx.export(module, (example,), str(dest), dynamo=False, opset_version=ONNX_OPSET,
                              input_names=[in_name], output_names=names, dynamic_axes=dynamic,
                              do_constant_folding=True)
    except Exception as exc:  # noqa: BLE001 - the exporter raises anything; explain() names the op
        first = exc
    else:
        return [f"torch.onnx.export (TorchScript exporter, opset {ONNX_OPSET}), dynamic batch"]
    try:
        how = _dynamo_export(torch, module, example, dest, in_name, names)
    except Exception:  # noqa: BLE001 - the first exporter's reason is the one to show
        raise explain(first, "torch.onnx.export", source.path) from None
    why = (str(first).strip().splitlines() or [type(first).__name__])[0].split(". ")[0].rstrip(".")[:160]
    return [f"torch.onnx.export: the TorchScript exporter failed ({why}); {how}"]


DYNAMO_OPSET = 18  # the torch.export-based exporter's lowest


def _dynamo_export(torch, module, example, dest: Path, in_name: str, names: list[str]) -> str:
    """The torch.export-based exporter (torch.onnx.export(dynamo=True)), tried where the TorchScript exporter fails:
    it lowers what that one cannot, such as EasyOCR's nn.AdaptiveAvgPool2d((None, 1)) ('adaptive pooling, since
    output_size is not constant'). It may write the weights as external data beside the file; they are taken into
    the one file, as every ferry target is one file. Batch dynamic where torch.export can keep it so, else fixed."""
    import onnx

    from ferry.runtimes import onnx_graph

    tmp = dest.with_name(dest.stem + ".dynamo.onnx")
    batch = torch.export.Dim("batch", min=1, max=1024)
    # torch.export specialises a dimension of size 1, so the dynamic try traces a batch of two
    tries = ((torch.cat([example, example]), ({0: batch},), "dynamic batch"),  # by position: forward's own names
             (example, None, "batch fixed at 1 (torch.export could not keep it dynamic)"))
    last: Exception | None = None
    said = ""
    for x, shapes, label in tries:
        try:
            with quiet():
                torch.onnx.export(module, (x,), str(tmp), dynamo=True, opset_version=DYNAMO_OPSET,
                                  input_names=[in_name], output_names=names, dynamic_shapes=shapes,
                                  external_data=True)
        except Exception as exc:  # noqa: BLE001
            last = exc
            continue
        said, last = label, None
        break
    if last is not None:
        raise last
    model, _ = onnx_graph.load_onnx_whole(tmp)
    onnx.save(model, str(dest))
    for f in tmp.parent.glob(tmp.name + "*"):
        f.unlink(missing_ok=True)
    return f"retried with the torch.export-based exporter (dynamo=True, opset {DYNAMO_OPSET}), {said}"


def tf_to_onnx(source: Model, contract: Preprocess, dest: Path) -> list[str]:
    """SavedModel or Keras to ONNX with tf2onnx, keeping the signature's input and output names."""
    tf = require("tensorflow", "tensorflow")
    tf2onnx = require("tf2onnx", "tensorflow")
    try:
        with quiet():
            if source.format == SAVED_MODEL:
                from tf2onnx import tf_loader

                graph_def, inputs, outputs, rename = tf_loader.from_saved_model(
                    str(source.path), None, None, tag="serve", signatures=[source.signature],  # type: ignore
                    return_tensors_to_rename=True)
                tf2onnx.convert.from_graph_def(graph_def, input_names=inputs, output_names=outputs,
                                               opset=ONNX_OPSET, output_path=str(dest), tensors_to_rename=rename)
            elif source.format == KERAS:
                model = source._model  # type: ignore[attr-defined]
                spec = [tf.TensorSpec(tuple(i.shape or ()), i.dtype, name=i.name) for i in source.inputs]
                tf2onnx.convert.from_keras(model, input_signature=spec, opset=ONNX_OPSET, output_path=str(dest))
            else:
                raise ConversionError(f"{source.path}: tf2onnx takes a SavedModel or Keras model, not {source.format}")
    except ConversionError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, "tf2onnx", source.path) from None
    _rename_onnx_outputs(dest, [o.name for o in source.outputs])
    return [f"tf2onnx {package_version('tf2onnx')} (opset {ONNX_OPSET})"]


def _rename_onnx_outputs(path: Path, names: list[str]) -> None:
    """tf2onnx names Keras outputs after internal tensors; give them the source's names when they differ. By
    position, a first guess only: ferry.convert.binding checks every name by value before the file is written."""
    onnx = require("onnx", "onnx")
    model = onnx.load(str(path))
    have = [o.name for o in model.graph.output]
    if have == names or sorted(have) == sorted(names) or len(have) != len(names):
        return
    mapping = dict(zip(have, names, strict=True))
    for node in model.graph.node:
        node.output[:] = [mapping.get(o, o) for o in node.output]
        node.input[:] = [mapping.get(i, i) for i in node.input]
    for o in model.graph.output:
        o.name = mapping[o.name]
    onnx.save(model, str(path))


def tflite_converter(tf, source: Model):
    """TensorFlow's TFLiteConverter for a SavedModel (its signature) or a loaded Keras model; float and reduced
    precision routes (ferry.quantize.tflite) set their options on it."""
    if source.format == SAVED_MODEL:
        return tf.lite.TFLiteConverter.from_saved_model(str(source.path),
                                                        signature_keys=[source.signature])  # type: ignore
    return tf.lite.TFLiteConverter.from_keras_model(source._model)  # type: ignore[attr-defined]


FROZEN_NOTE = ("the SavedModel's variables came out of TFLiteConverter as resource variables with no initialiser "
               "(LiteRT reads them uninitialised: NaN or a READ_VARIABLE error), so it was converted again from its "
               "signature with the variables frozen to constants")


def convert_tflite(tf, source: Model, configure) -> tuple[bytes, list[str]]:
    """TFLiteConverter on the source with `configure(converter)` applied: the flatbuffer and notes.

    A SavedModel written by tf.saved_model.save of a tf.Module holding a Keras 3 model (as TensorFlow's guide
    writes one; mtcnn 1.0.0's ONet exported so) converts with every weight left as a VAR_HANDLE/READ_VARIABLE pair
    and no CALL_ONCE initialiser: LiteRT runs it on uninitialised memory (XNNPACK gives NaN, the builtin kernels
    fail). Such a file is converted again from the signature's concrete function with its variables frozen
    (convert_to_constants.convert_variables_to_constants_v2, what TF 1's freeze_graph did); its outputs lose the
    signature's names (output_0, ...), which ferry.convert.binding puts back by value."""
    conv = tflite_converter(tf, source)
    configure(conv)
    try:
        data = conv.convert()
    except Exception as exc:  # noqa: BLE001 - int8 calibration runs the file, and fails on the first READ_VARIABLE
        if source.format != SAVED_MODEL or "READ_VARIABLE" not in str(exc):
            raise
    else:
        if source.format != SAVED_MODEL or not uninitialised_variables(data):
            return data, []
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    loaded = tf.saved_model.load(str(source.path))
    frozen = convert_variables_to_constants_v2(loaded.signatures[source.signature])  # type: ignore[attr-defined]
    conv = tf.lite.TFLiteConverter.from_concrete_functions([frozen], loaded)
    configure(conv)
    return conv.convert(), [FROZEN_NOTE]


def uninitialised_variables(data: bytes) -> bool:
    """Whether a flatbuffer reads resource variables that nothing initialises: VAR_HANDLE ops and no CALL_ONCE (the
    op that runs a session-initialiser subgraph)."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(data, 0)
    codes = {max(model.OperatorCodes(i).BuiltinCode(), model.OperatorCodes(i).DeprecatedBuiltinCode())
             for i in range(model.OperatorCodesLength())}
    ops = schema.BuiltinOperator
    return ops.VAR_HANDLE in codes and ops.CALL_ONCE not in codes


def tf_to_tflite(source: Model, dest: Path) -> list[str]:
    """SavedModel or Keras to a float32 TFLite flatbuffer, builtin ops only."""
    tf = require("tensorflow", "tensorflow")

    def builtin_only(conv) -> None:
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]

    try:
        with quiet():
            data, notes = convert_tflite(tf, source, builtin_only)
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, "tf.lite.TFLiteConverter", source.path) from None
    dest.write_bytes(data)
    return [f"tf.lite.TFLiteConverter (TensorFlow {package_version('tensorflow')}, builtin ops, float32)", *notes]


TFLITE_TORCH_EXTRA = "tflite-torch"


def torch_to_tflite(source: Model, contract: Preprocess, dest: Path) -> list[str]:
    """A loaded torch model to a float32 TFLite flatbuffer with litert_torch.convert (formerly ai-edge-torch),
    which lowers the torch.export graph to TFLite builtin ops without going through ONNX or TensorFlow.

    Rejected: onnx2tf (ONNX -> TF -> TFLite) downloads calibration data and overwrites its input file.
    The file keeps the torch layout (NCHW in, as the contract says) and a fixed batch of 1: litert_torch
    cannot lower AdaptiveAvgPool/Flatten with a dynamic batch (measured on the seeded classifier), and
    ferry's TFLite runtime runs a larger batch one image at a time. The signature keeps the source's input and
    output names (tensor names get a `serving_default_` prefix). A TorchScript module is first turned into an
    ExportedProgram with torch's TS2EPConverter (torch.export cannot trace a ScriptModule).
    """
    torch = require("torch", "torch")
    import numpy as np

    with quiet():
        litert_torch = require("litert_torch", TFLITE_TORCH_EXTRA)
    module = source._module  # type: ignore[attr-defined]
    shape = (1, *example_shape(contract)[1:])
    example = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32))
    notes = [f"litert_torch.convert {package_version('litert-torch')} (float32, builtin ops), input layout "
             f"{contract.layout or 'NCHW'}, batch fixed at 1"]
    try:
        with quiet():
            if isinstance(module, torch.jit.ScriptModule):
                from torch._export.converter import TS2EPConverter

                module = TS2EPConverter(module, (example,)).convert().module()
                notes.append("TorchScript -> ExportedProgram (torch TS2EPConverter)")
            with torch.inference_mode():
                probe = module(example)
            in_name = _identifier(source.inputs[0].name, "input")
            named = _named_io(module, in_name, _output_names(source, probe), torch)
            data = litert_torch.convert(named, (), {in_name: example}).model_content()
    except Exception as exc:  # noqa: BLE001 - the converter raises anything; explain() keeps its first line
        raise _litert_error(exc, source.path) from None
    dest.write_bytes(data)
    return notes


def _litert_error(exc: BaseException, path) -> ConversionError:
    """litert_torch names an aten op it has no lowering for ("Lowering not found: aten.histc.default")."""
    import re

    m = re.search(r"Lowering not found: aten\.(?P<op>\w+)", str(exc))
    if not m:
        return explain(exc, "litert_torch.convert", path)
    op = m.group("op")
    return ConversionError(f"{path}: litert_torch.convert has no TFLite lowering for torch op {op}: deploy this "
                           "model to OpenVINO or ONNX Runtime, or replace the op in the model", op=op,
                           tool="litert_torch.convert")


def _output_names(source: Model, probe) -> list[str]:
    if isinstance(probe, dict):
        return [str(k) for k in probe]
    n_out = len(probe) if isinstance(probe, list | tuple) else 1
    names = [o.name for o in source.outputs]
    names = names if len(names) == n_out else [f"output{i}" for i in range(n_out)]
    return [_identifier(n, f"output{i}") for i, n in enumerate(names)]


def _identifier(name: str, fallback: str) -> str:
    """litert_torch takes the signature names from Python keyword arguments and dict keys."""
    import re

    clean = re.sub(r"\W", "_", name)
    return clean if clean.isidentifier() else fallback


def _named_io(module, in_name: str, out_names: list[str], torch):
    """Wrap `module` so its input is a keyword argument and its outputs a dict: litert_torch writes those names
    into the TFLite signature, where positional ones become args_0 / output_0."""

    class NamedIO(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = module

        def forward(self, **feeds):
            out = self.inner(feeds[in_name])
            if isinstance(out, dict):
                return {str(k): v for k, v in out.items()}
            outs = out if isinstance(out, list | tuple) else [out]
            return dict(zip(out_names, outs, strict=True))

    wrapper = NamedIO()
    wrapper.training = False  # not eval(): an ExportedProgram's module refuses it, and the source is in eval mode
    return wrapper


def to_openvino_model(source: Model, onnx_file: Path | None):
    """An ov.Model: straight from a SavedModel or Keras model (OpenVINO's TF frontend keeps signature names),
    else from the ONNX file."""
    ov = require("openvino", "openvino")
    from ferry.runtimes.openvino import py313_tf_frontend_fix

    py313_tf_frontend_fix()
    try:
        with quiet():
            if source.format == SAVED_MODEL:
                return ov.convert_model(str(source.path)), "openvino.convert_model(SavedModel)"
            if source.format == KERAS:
                return ov.convert_model(source._model), "openvino.convert_model(Keras model)"  # type: ignore
            if source.format == TFLITE:
                return tflite_to_openvino(source.path)
            assert onnx_file is not None
            return ov.convert_model(str(onnx_file)), "openvino.convert_model(ONNX)"
    except ConversionError:  # tflite_to_openvino's own verdict, with the op and node: not wrapped again
        raise
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, "openvino.convert_model", source.path) from None


TFLITE_CUSTOM_WAY = ("it is not a TFLite builtin (a custom op, as MediaPipe's models carry), and no converter here has "
                     "it: convert the model's TensorFlow or torch source, or implement the op for the runtime")
TFLITE_BUILTIN_WAY = ("a TFLite builtin that LiteRT runs but OpenVINO's TFLite frontend does not translate: deploy the "
                      "tflite target, or the onnx one where tf2onnx converts the op")
TFLITE_SPARSE_WAY = ("the file stores weights sparse, densified at load (MediaPipe's pose detector does), and tf2onnx "
                     "decodes every constant as dense (tf2onnx 1.17: 'cannot reshape array'): deploy "
                     "the tflite or openvino target (LiteRT and OpenVINO read sparse weights), or export ONNX from "
                     "the model's TensorFlow or torch source")
TFLITE_POSTPROCESS_WAY = (
    "TFLite_Detection_PostProcess (the SSD box decoding and NMS TF Object Detection API files end in) is built into "
    "LiteRT but OpenVINO's TFLite frontend has no translator for it: deploy the tflite target (LiteRT runs the file), "
    "or export the model without its post-processing (raw box encodings and class scores) and decode in the app")


def tflite_op_node(path: Path, op: str) -> tuple[str | None, bool]:
    """Where op `op` sits in a .tflite file, 'operator I (first output tensor's name)', and whether it is a custom
    op (MediaPipe's, TFLite_Detection_PostProcess) rather than a builtin (UNSORTED_SEGMENT_MAX), read from the
    flatbuffer: OpenVINO's refusal names the op only. (None, False) when the file cannot be read or lacks it."""
    try:
        with quiet():
            from tensorflow.lite.python import schema_py_generated as schema
            from tensorflow.lite.tools import flatbuffer_utils

            model = flatbuffer_utils.read_model(str(path))
    except Exception:  # noqa: BLE001 - only a nicer message is lost
        return None, False
    builtin = {v: k for k, v in vars(schema.BuiltinOperator).items() if isinstance(v, int)}
    for graph in model.subgraphs:
        for i, node in enumerate(graph.operators):
            custom, number = op_code(model, node)
            if op not in (custom, builtin.get(number)):
                continue
            first = graph.tensors[node.outputs[0]].name if len(node.outputs) else b""
            name = first.decode(errors="replace") if isinstance(first, bytes) else str(first or "")
            return (f"operator {i} ({name})" if name else f"operator {i}"), custom is not None
    return None, False


def tflite_to_openvino(path: Path):
    """(ov.Model, route) from a .tflite file through OpenVINO's TFLite frontend. Takes the path, not a loaded model:
    a file whose custom op LiteRT cannot run is still handed to the converter, so its own verdict names the op."""
    ov = require("openvino", "openvino")
    try:
        with quiet():
            rewrite = with_builtin_equivalents(path)
            model = ov.convert_model(str(rewrite.path if rewrite else path))
    except Exception as exc:  # noqa: BLE001 - "No translator found for MaxPoolWithArgmax node": explain() names it
        err = explain(exc, "openvino.convert_model", path)
        if err.op:
            node, custom = tflite_op_node(path, err.op)
            way = (TFLITE_POSTPROCESS_WAY if err.op == "TFLite_Detection_PostProcess" else TFLITE_CUSTOM_WAY
                   if custom or node is None else TFLITE_BUILTIN_WAY)
            raise ConversionError(f"{path}: OpenVINO's TFLite frontend has no translator for op {err.op}"
                                  f"{f' (node {node})' if node else ''}: {way}", op=err.op, node=node,
                                  tool="openvino.convert_model") from None
        raise err from None
    route = "tflite -> openvino convert_model (OpenVINO's TFLite frontend)"
    return model, f"{route}; {rewrite.note()}" if rewrite else route


def tflite_to_onnx(path: Path, dest: Path, input_names: dict[str, str] | None = None,
                   output_names: dict[str, str] | None = None) -> list[str]:
    """A .tflite file to ONNX with tf2onnx's TFLite path, in the file's own layout (no inputs_as_nchw: the contract's
    layout is the source's, so the ONNX file must take what the .tflite takes). `input_names` renames the inputs
    from LiteRT's tensor names (`serving_default_image:0`) to the signature's (`image`), what an app calls them;
    `output_names` the outputs likewise (`StatefulPartitionedCall:0` -> `detection_boxes`: a first guess by tensor
    name, which binding.verify checks by value).
    Raises ConversionError naming the op when tf2onnx left a TFLite op untranslated."""
    tf2onnx = require("tf2onnx", "tensorflow")
    try:
        with quiet():
            rewrite = with_builtin_equivalents(path)
            tf2onnx.convert.from_tflite(str(rewrite.path if rewrite else path), opset=ONNX_OPSET,
                                        output_path=str(dest))
    except Exception as exc:  # noqa: BLE001
        node, _ = tflite_op_node(path, "DENSIFY")
        if node is not None:  # tf2onnx reads every constant buffer as dense: a sparse one fails to reshape
            raise ConversionError(f"{path}: tf2onnx cannot read sparse weights (op DENSIFY, node {node}): "
                                  f"{TFLITE_SPARSE_WAY}", op="DENSIFY", node=node, tool="tf2onnx") from None
        raise explain(exc, "tf2onnx", path) from None
    _refuse_untranslated(dest, path)
    if input_names:
        _rename_onnx_inputs(dest, input_names)
    if output_names:
        _rename_onnx_graph_outputs(dest, output_names)
    route = f"tf2onnx {package_version('tf2onnx')} from_tflite (opset {ONNX_OPSET}, the file's own layout)"
    return [route, rewrite.note()] if rewrite else [route]


def _refuse_untranslated(onnx_path: Path, source: Path) -> None:
    """tf2onnx's TFLite path runs with continue_on_error: an op it has no handler for stays in the graph as
    TFL_<op>, a node no ONNX runtime loads. Name the first such op and its node."""
    onnx = require("onnx", "onnx")
    model = onnx.load(str(onnx_path))
    bad = [n for n in model.graph.node
           if n.domain in ("", "ai.onnx") and not onnx.defs.has(n.op_type)]
    if bad:
        op = bad[0].op_type.removeprefix("TFL_")
        more = f", and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise ConversionError(f"{source}: tf2onnx cannot convert op {op} (node {bad[0].name}{more}): "
                              f"{TFLITE_CUSTOM_WAY}", op=op, node=bad[0].name, tool="tf2onnx")


def _rename_onnx_graph_outputs(path: Path, names: dict[str, str]) -> None:
    """Rename graph outputs named in `names` whose new name no other tensor of the file has."""
    from ferry.convert.binding import rename_onnx_outputs

    onnx = require("onnx", "onnx")
    graph = onnx.load(str(path)).graph
    have = {o.name for o in graph.output}
    taken = {i.name for i in graph.input} | {o for n in graph.node for o in n.output} | {i.name for i in
                                                                                         graph.initializer}
    mapping = {old: new for old, new in names.items() if old in have and new not in taken}
    if mapping:
        rename_onnx_outputs(path, mapping)


def _rename_onnx_inputs(path: Path, names: dict[str, str]) -> None:
    """Rename graph inputs (and the node edges that read them) of an ONNX file in place."""
    onnx = require("onnx", "onnx")
    model = onnx.load(str(path))
    have = {i.name for i in model.graph.input}
    taken = have | {o.name for o in model.graph.output} | {o for n in model.graph.node for o in n.output}
    mapping = {old: new for old, new in names.items() if old in have and new not in taken}
    if not mapping:
        return
    for node in model.graph.node:
        node.input[:] = [mapping.get(i, i) for i in node.input]
    for i in model.graph.input:
        i.name = mapping.get(i.name, i.name)
    onnx.save(model, str(path))
