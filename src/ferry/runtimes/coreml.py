"""Core ML: convert to an ML Program with an exact ImageType, read the contract back, and run it anywhere.

Core ML predicts only on macOS. On Linux ferry still runs a converted model end to end from the raw image:

    decoded image --host resize (contract)--> pixels --ImageType colour layout--> float (1, C, H, W) in 0..255
                  --the ML Program (ImageType scale/bias ops, ferry's std fold, the network)--> outputs

The program is executed by ferry's numpy MIL interpreter (`ferry.coreml.mil`); on macOS `run_image` also runs the
real Core ML and reports how far the two are apart. In an ML Program the ImageType's scale and bias are the first
`mul`/`add` ops on the image input (the spec has no preprocessing field for them), so `read_preprocess` reads
them, and any per-channel multiply after them, from the program itself; for a neuralnetwork .mlmodel it reads
the `preprocessing[].scaler` fields.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ferry.coreml import imagetype
from ferry.coreml import spec as specmod
from ferry.errors import FerryError
from ferry.formats import COREML, EXPORTED_PROGRAM, KERAS, SAVED_MODEL, TORCH_MODULE, TORCHSCRIPT, detect_format
from ferry.preprocess.contract import Preprocess, load_contract
from ferry.runtimes.base import Model, NativeRecipe, TensorInfo

RUNTIME = "coreml"
FOLD_OP = "ferry_std_fold"  # the name of the per-channel multiply ferry inserts after the image input
_ARRAY_DTYPES = {65568: "float32", 65600: "float64", 131104: "int32", 65552: "float16"}  # ArrayDataType


@dataclass
class CoreMLModel(Model):
    program: Any = field(default=None, repr=False, compare=False)  # ferry.coreml.mil.Program (ML Programs)
    image: specmod.ImageInput | None = None
    kind: str = "mlProgram"

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Feeds as the program takes them (an image input: float (N, C, H, W) 0..255 in its colour layout)."""
        if self.program is None:
            raise FerryError(f"{self.path}: a Core ML {self.kind} model; ferry runs ML Programs only on Linux "
                             "(convert with convert_to='mlprogram')")
        fixed = [i for i in self.program.inputs if i.shape and i.shape[0] == 1]
        n = {np.shape(v)[0] for v in feeds.values() if np.ndim(v)}
        if fixed and n and max(n) > 1:  # Core ML image inputs take one image: run one at a time
            parts = [self.program.run({k: np.asarray(v)[i:i + 1] for k, v in feeds.items()}) for i in range(max(n))]
            return {k: np.concatenate([p[k] for p in parts], axis=0) for k in parts[0]}
        return self.program.run(feeds)

    def pixels(self, images: list[np.ndarray], preprocess: Preprocess) -> np.ndarray:
        """What Core ML hands the program for these images: the host resizes as the contract says, then the
        image input's colour layout, as float32 (N, C, H, W) in 0..255."""
        from ferry.preprocess.reference import resize_batch, to_color

        if self.image is None:
            raise FerryError(f"{self.path}: no image input; feed tensors with run()")
        contract = self.resolve(preprocess)
        resized = resize_batch(images, contract)
        if self.image.color_space == "RGB":
            chw = resized[..., ::-1]
        elif self.image.color_space == "BGR":
            chw = resized
        elif self.image.color_space == "GRAYSCALE":
            gray = Preprocess(color="GRAY", resize=contract.resize)  # Core ML's grayscale: 0 is black
            chw = np.stack([to_color(img, gray) for img in resized])
        else:
            raise FerryError(f"{self.path}: image input {self.image.name} has color layout "
                             f"{self.image.color_space}, which ferry does not simulate")
        return np.ascontiguousarray(chw.transpose(0, 3, 1, 2), dtype=np.float32)

    def run_image(self, images: list[np.ndarray], preprocess: Preprocess) -> dict[str, np.ndarray]:
        if self.image is None:  # a tensor input (ct.TensorType): the host's tensor, as for any runtime
            return Model.run_reference(self, images, preprocess)
        x = self.pixels(images, preprocess)
        out = self.run({self.image.name: x})  # type: ignore[union-attr]
        if sys.platform == "darwin":
            self._compare_with_core_ml(x, out)
        return out

    def run_reference(self, images: list[np.ndarray], preprocess: Preprocess) -> dict[str, np.ndarray]:
        return self.run_image(images, preprocess)

    def _compare_with_core_ml(self, x: np.ndarray, ours: dict[str, np.ndarray]) -> None:
        """macOS: the real Core ML on the same pixels; the largest difference from the interpreter goes in the
        notes (ferry's verdict stays on the interpreter, which is what Linux users get)."""
        from PIL import Image

        ct = specmod.coremltools()
        try:
            model = ct.models.MLModel(str(self.path), compute_units=ct.ComputeUnit.CPU_ONLY)
            worst = 0.0
            for i in range(x.shape[0]):
                px = x[i].transpose(1, 2, 0).astype(np.uint8)
                if self.image.color_space == "BGR":  # type: ignore[union-attr]
                    px = px[..., ::-1]  # PIL images are RGB; Core ML reorders to the input's layout
                img = Image.fromarray(px[..., 0] if px.shape[-1] == 1 else px)
                real = model.predict({self.image.name: img})  # type: ignore[union-attr]
                for k, v in ours.items():
                    worst = max(worst, float(np.max(np.abs(np.asarray(real[k]) - v[i:i + 1]))))
            self.notes.append(f"macOS: the real Core ML (CPU) differs from ferry's interpreter by {worst:.3g} "
                              "at most")
        except Exception as exc:  # noqa: BLE001 - report, do not fail the check on the second opinion
            self.notes.append(f"macOS: the real Core ML could not run ({type(exc).__name__}: {str(exc)[:120]})")


def load(path: str | Path) -> CoreMLModel:
    p = Path(path)
    fmt = detect_format(p)
    if fmt != COREML:
        raise FerryError(f"{p}: a {fmt} model, not Core ML; load it with its own runtime")
    f = specmod.read(p)
    images = specmod.image_inputs(f.spec)
    inputs = []
    for feat in f.spec.description.input:
        if feat.type.WhichOneof("Type") == "imageType":
            im = next(i for i in images if i.name == feat.name)
            inputs.append(TensorInfo(feat.name, (1, im.channels, im.height, im.width), "float32"))
        else:
            inputs.append(TensorInfo(feat.name, *_array_info(feat)))
    outputs = [TensorInfo(feat.name, *_array_info(feat)) for feat in f.spec.description.output]
    program = None
    notes: list[str] = []
    if f.kind == "mlProgram":
        from ferry.coreml.mil import program_of

        program = program_of(f)
        missing = program.unsupported()
        if missing:
            notes.append(f"ferry's interpreter lacks MIL op {missing[0][0]} (op {missing[0][1]}); running this "
                         "model on Linux will fail")
    else:
        notes.append(f"a {f.kind} model: ferry reads its image parameters but runs ML Programs only")
    embedded = _read_preprocess(f, program)
    if embedded is not None:
        notes.append("Core ML ImageType input simulated exactly (host resize, colour layout, then the program's "
                     "scale/bias ops) and the program run by ferry's numpy MIL interpreter")
    return CoreMLModel(runtime=RUNTIME, path=p, format=COREML, inputs=inputs, outputs=outputs, embedded=embedded,
                       notes=notes, program=program, image=images[0] if images else None, kind=f.kind)


def _array_info(feat: Any) -> tuple[tuple[int | None, ...] | None, str]:
    t = feat.type
    if t.WhichOneof("Type") != "multiArrayType":
        return None, "float32"
    ma = t.multiArrayType
    # a 0 is a size the file leaves open (kraken's blla.mlmodel: [1, 3, 1800, 0], any width): unknown, as ONNX's
    shape = tuple(int(s) or None for s in ma.shape) or None
    return shape, _ARRAY_DTYPES.get(int(ma.dataType), "float32")


# -- reading the contract back -----------------------------------------------------------------------------------
def read_preprocess(path: str | Path) -> Preprocess | None:
    """The contract the file's first image input computes (None when it has no image input)."""
    f = specmod.read(path)
    program = None
    if f.kind == "mlProgram":
        from ferry.coreml.mil import program_of

        program = program_of(f)
    return _read_preprocess(f, program)


def _read_preprocess(f: specmod.CoreMLFile, program: Any) -> Preprocess | None:
    images = specmod.image_inputs(f.spec)
    if not images:
        return None
    im = images[0]
    size = (im.height, im.width) if im.height and im.width else None
    if program is not None:
        gain, offset, split = _affine_chain(program, im)
        return imagetype.to_contract(im.color_space, gain, offset, size, split)
    nn = getattr(f.spec, f.kind, None)
    scaler = None
    for pre in getattr(nn, "preprocessing", []):
        if pre.featureName in ("", im.name) and pre.WhichOneof("preprocessor") == "scaler":
            scaler = pre.scaler
    if scaler is None:
        gain, offset = (1.0,) * im.channels, (0.0,) * im.channels
    else:
        s = scaler.channelScale if scaler.channelScale != 0 else 1.0  # unset (0) means 1 in Core ML
        gain = (float(s),) * im.channels
        if im.channels == 1:
            offset = (float(scaler.grayBias),)
        elif im.color_space == "BGR":
            offset = (float(scaler.blueBias), float(scaler.greenBias), float(scaler.redBias))
        else:
            offset = (float(scaler.redBias), float(scaler.greenBias), float(scaler.blueBias))
    return imagetype.to_contract(im.color_space, gain, offset, size)


def _affine_chain(program: Any, im: specmod.ImageInput):
    """Follow the image input through the elementwise affine ops that only it feeds (the ImageType's mul and add,
    ferry's std fold): per-channel gain and offset, and the (scale, bias, fold) split when it is exactly that."""
    c = im.channels
    gain, offset = np.ones(c), np.zeros(c)
    steps: list[tuple[str, np.ndarray]] = []
    current = im.name
    while True:
        users = program.consumers(current)
        if len(users) != 1 or users[0].type not in ("mul", "add", "sub", "real_div"):
            break
        op = users[0]
        names = {k: [b.name for b in op.inputs[k].arguments] for k in ("x", "y") if k in op.inputs}
        mine = "x" if names.get("x") == [current] else "y" if names.get("y") == [current] else None
        other = "y" if mine == "x" else "x"
        k = _per_channel_const(program, op, other, c)
        if mine is None or k is None or (op.type == "real_div" and mine == "y"):
            break
        if op.type == "mul":
            gain, offset = gain * k, offset * k
        elif op.type == "add":
            offset = offset + k
        elif op.type == "real_div":
            gain, offset = gain / k, offset / k
        elif mine == "x":  # x - k
            offset = offset - k
        else:  # k - x
            gain, offset = -gain, k - offset
        steps.append((op.type, k))
        current = op.outputs[0].name
    split = None
    kinds = [s[0] for s in steps]
    if kinds == ["mul", "add", "mul"] and np.all(steps[0][1] == steps[0][1][0]):
        split = (float(steps[0][1][0]), tuple(float(v) for v in steps[1][1]), tuple(float(v) for v in steps[2][1]))
    return tuple(float(v) for v in gain), tuple(float(v) for v in offset), split


def _per_channel_const(program: Any, op: Any, key: str, c: int) -> np.ndarray | None:
    if key not in op.inputs or len(op.inputs[key].arguments) != 1:
        return None
    b = op.inputs[key].arguments[0]
    value = program.const(b.name) if b.WhichOneof("binding") == "name" else program._value(b.value, b.name)
    if value is None:
        return None
    arr = np.asarray(value, dtype=np.float64)
    if arr.size == 1:
        return np.full(c, float(arr.reshape(-1)[0]))
    if arr.size == c and (arr.ndim < 3 or arr.shape[-3] == c):  # [C,1,1] or [1,C,1,1]
        return arr.reshape(c)
    return None


# -- native ------------------------------------------------------------------------------------------------------
def native(preprocess: Preprocess) -> NativeRecipe:
    """The exact coremltools ImageType for the contract (and what it cannot say: a per-channel std)."""
    pre = load_contract(preprocess)
    p = imagetype.from_contract(pre)
    c = pre.channels
    shape = (1, c, *pre.size) if pre.size else (1, c, "H", "W")
    code = p.code("input", shape).replace("'H', 'W'", "H, W")
    params: dict[str, Any] = {"color_layout": p.color_layout, "scale": p.scale, "bias": p.ct_bias(),
                              "std_fold": list(p.std_fold) if p.std_fold else None}
    notes: list[str] = ["Core ML computes x * scale + bias: the bias is the contract's -mean/std, already "
                        "multiplied through by the scale (the scale is applied first)"]
    if pre.color == "GRAY" and pre.gray_zero_is == "white":
        notes.append("0 is white: the inversion is in the negative scale and the bias (255 * scale - mean)")
    exact = p.std_fold is None
    if not exact:
        avg = sum(pre.std) / len(pre.std)
        off = max(abs(avg / s - 1.0) for s in pre.std)
        notes.append(f"ImageType has one scalar scale: per-channel std {list(pre.std)} cannot be expressed by it "
                     f"alone (the average-std workaround is off by up to {off:.2%}). `ferry convert --to coreml` "
                     f"folds 1/std into an explicit multiply after the image input ({FOLD_OP}), which is exact; "
                     "the ImageType above is the part before that multiply")
        code += f"\n# then multiply the image by {[round(v, 9) for v in p.std_fold]} per channel (ferry convert does)"
    return NativeRecipe(runtime=RUNTIME, params=params, code=code, exact=exact, notes=tuple(notes))


# -- convert -----------------------------------------------------------------------------------------------------
def convert(source: str | Path, contract: str | Path | dict | Preprocess, dest: str | Path,
            force: bool = False, precision: str = "fp32") -> Path:
    """Convert a torch or TensorFlow source to an ML Program .mlpackage whose image input computes `contract`.

    ImageType scale and bias come from the contract exactly (bias pre-multiplied by the scale); a per-channel std
    is folded into an explicit per-channel multiply right after the image input; 0 = white grayscale becomes a
    negative scale. Float32 compute precision: fp16 moved the seeded classifier's logits by 1e-4 (5e-4 of their
    peak), five times the check's tolerance, for no model bug.
    `precision` "fp16" converts with compute_precision FLOAT16 (the user asked for it: ferry.quantize.coreml);
    "int8" keeps float32 compute and quantizes the weights to int8 (ct.optimize.coreml, iOS16 constexpr ops).
    Written atomically: built in a temporary folder beside `dest` and renamed into place; an existing `dest`
    is replaced only with `force`.
    """
    from ferry.runtimes import load as load_any

    dest = Path(dest)
    if dest.suffix.lower() != ".mlpackage":
        raise FerryError(f"{dest}: an ML Program is saved as a .mlpackage directory; name the output *.mlpackage")
    if dest.exists() and not force:
        raise FerryError(f"{dest}: already exists; pass --force to replace it")
    src = load_any(source)
    if Path(str(source)).resolve() == dest.resolve():
        raise FerryError(f"{dest}: is the source; write the Core ML model elsewhere")
    pre = src.resolve(load_contract(contract))
    if pre.size is None:
        raise FerryError(f"{source}: no input size; give the contract a size: [height, width]")
    params = imagetype.from_contract(pre)
    ct = specmod.coremltools()
    from ferry.convert.exporters import quiet
    from ferry.quantize import coreml as reduced

    options = reduced.convert_options(ct, precision)
    if src.format in (TORCHSCRIPT, EXPORTED_PROGRAM, TORCH_MODULE):
        mlmodel, in_name = _from_torch(src, pre, params, ct, quiet, options)
    elif src.format in (SAVED_MODEL, KERAS):
        mlmodel, in_name = _from_tf(src, pre, params, ct, quiet, options)
    else:
        raise FerryError(f"{source}: coremltools converts torch and TensorFlow models, not {src.format} (coremltools "
                         "7+ has no ONNX frontend); convert the model's torch or TensorFlow source")
    mlmodel = reduced.after_convert(ct, mlmodel, precision, src.path)
    spec = mlmodel.get_spec()
    if params.std_fold is not None:
        insert_std_fold(spec, in_name, params.std_fold)
    _save_atomic(ct, spec, mlmodel.weights_dir, dest, force)
    return dest


def _image_type(ct, name: str, shape: tuple[int, ...], params: imagetype.ImageTypeParams):
    return ct.ImageType(name=name, shape=shape, scale=params.scale, bias=params.ct_bias(),
                        color_layout=getattr(ct.colorlayout, params.color_layout))


def _output_names(src: Model, n: int) -> list[str] | None:
    names = [o.name for o in src.outputs]
    return names if len(names) == n else None


def _torch_output_names(src: Model, n: int) -> list[str]:
    """The names the torch runtime gives a module's outputs (`output0`.. for a tuple it does not know), so the
    Core ML file names them as the source does; coremltools' own are its graph's (`view`, `linear_1`)."""
    return _output_names(src, n) or [f"output{i}" for i in range(n)]


def _tf_graph_order(src: Model, names: list[str] | None) -> list[str] | None:
    """The source's output names in the order TensorFlow lays the graph's outputs out (Identity, Identity_1..):
    tf.nest flattens a dict by sorted key. Why (issue 15): renaming them in the signature's order named a Keras
    dict model's [1, 4, 4] boxes `detection_scores`. (ferry.convert.binding still checks the result by value.)"""
    if names is None:
        return None
    struct = getattr(getattr(src, "_model", None), "output", None)
    return sorted(names) if src.format == SAVED_MODEL or isinstance(struct, dict) else names


def _from_torch(src: Model, pre: Preprocess, params, ct, quiet, options: dict | None = None):
    """TorchScript straight into coremltools; a module or ExportedProgram through torch.export (ATEN dialect), a
    module that route fails on traced to TorchScript (coremltools' TorchScript frontend converts nn.LSTM).
    A TorchScript that coremltools' TorchScript frontend cannot take (a traced interpolate to the input's size
    fails in its int cast) goes through torch's TS2EPConverter to an ExportedProgram first."""
    import torch

    from ferry.op_errors import explain

    if (pre.layout or "NCHW") != "NCHW":
        raise FerryError(f"{src.path}: a torch model takes NCHW; the contract says layout {pre.layout}")
    shape = (1, pre.channels, *pre.size)  # type: ignore[misc]
    example = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32))
    module = src._module  # type: ignore[attr-defined]
    with torch.inference_mode():
        probe = module(example)
    n_out = len(probe) if isinstance(probe, list | tuple | dict) else 1
    names = [str(k) for k in probe] if isinstance(probe, dict) else _torch_output_names(src, n_out)
    outputs = [ct.TensorType(name=n) for n in names] if names else None
    in_name = src.inputs[0].name if src.inputs else "input"

    from ferry.coreml import torch_fixes

    torch_fixes.register()  # per-channel PReLU after a Linear layer (MTCNN's R-Net and O-Net)

    def go(model):
        with quiet():
            return ct.convert(model, inputs=[_image_type(ct, in_name, shape, params)], outputs=outputs,
                              convert_to="mlprogram", **(options or {"compute_precision": ct.precision.FLOAT32}))

    try:
        if src.format == TORCHSCRIPT:
            try:
                return go(module), in_name
            except Exception:  # noqa: BLE001 - retry through torch.export; that error is the one reported
                from torch._export.converter import TS2EPConverter

                with quiet():
                    program = TS2EPConverter(module, (example,)).convert()
        elif src.format == EXPORTED_PROGRAM:
            program = torch.export.load(str(src.path))
        else:
            try:
                with quiet():
                    program = torch.export.export(module, (example,)).run_decompositions({})
                return go(program), in_name
            except Exception as first:  # noqa: BLE001 - coremltools' torch.export frontend lacks ops its
                # TorchScript frontend has (nn.LSTM: "Unsupported fx node lstm"; khmer-ocr-ocm's CRNN): traced
                try:
                    with quiet(), torch.inference_mode():
                        traced = torch.jit.trace(module, example)
                    return go(traced), in_name
                except Exception:  # noqa: BLE001 - the torch.export error is the one reported
                    raise first from None
        with quiet():
            program = program.run_decompositions({})
        return go(program), in_name
    except FerryError:
        raise
    except Exception as exc:  # noqa: BLE001 - the converter raises anything; explain() names the op
        raise explain(exc, "coremltools.convert", src.path) from None


def _from_tf(src: Model, pre: Preprocess, params, ct, quiet, options: dict | None = None):
    """A SavedModel directory (its serving signature) or a Keras model (traced as one concrete function)."""
    from ferry.op_errors import explain

    layout = pre.layout or "NHWC"
    h, w = pre.size  # type: ignore[misc]
    shape = (1, h, w, pre.channels) if layout == "NHWC" else (1, pre.channels, h, w)
    in_name = src.inputs[0].name
    n_out = len(src.outputs)
    names = _tf_graph_order(src, _output_names(src, n_out))
    try:
        # coremltools takes one concrete function ("Only a single concrete function is supported" for a
        # SavedModel that holds several, and for Keras 3's model.export), so hand it exactly the served one.
        import tensorflow as tf

        if src.format == KERAS:
            spec = tf.TensorSpec(shape, tf.float32, name=in_name)
            keras_model = src._model  # type: ignore[attr-defined]
            fn = tf.function(lambda x: keras_model(x, training=False), input_signature=[spec])
            target: Any = [fn.get_concrete_function()]
        else:
            loaded = tf.saved_model.load(str(src.path))
            target = [loaded.signatures[getattr(src, "signature", "serving_default")]]
        with quiet():
            mlmodel = ct.convert(target, source="tensorflow",
                                 inputs=[_image_type(ct, in_name, shape, params)],
                                 convert_to="mlprogram",
                                 **(options or {"compute_precision": ct.precision.FLOAT32}))
        # TF names its graph outputs Identity, Identity_1, ...; give them the source's names, in graph order
        spec = mlmodel.get_spec()
        have = [o.name for o in spec.description.output]
        if names and len(have) == len(names) and have != names:
            for old_name, new_name in zip(have, names, strict=True):
                ct.utils.rename_feature(spec, old_name, new_name)
            mlmodel = ct.models.MLModel(spec, weights_dir=mlmodel.weights_dir)
        return mlmodel, in_name
    except FerryError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, "coremltools.convert", src.path) from None


def insert_std_fold(spec: Any, image_name: str, fold: tuple[float, ...]) -> None:
    """Insert `x * (1/std_c)` (op FOLD_OP) after the ImageType's scale/bias ops of `image_name`, rewiring every
    later reader to it. Exact: no approximation of the per-channel std by one scale."""
    from coremltools.proto import MIL_pb2

    fn = spec.mlProgram.functions["main"]
    block = fn.block_specializations[fn.opset]
    ops = list(block.operations)
    # The ImageType's ops: a mul and/or an add that the image input feeds, in that order.
    current, last = image_name, -1
    for i, op in enumerate(ops):
        reads = [b.name for arg in op.inputs.values() for b in arg.arguments]
        if op.type in ("mul", "add") and current in reads and i > last:
            current, last = op.outputs[0].name, i
        elif current in reads:
            break
    const_name, out_name = f"{FOLD_OP}_y", FOLD_OP
    c = len(fold)
    const = MIL_pb2.Operation(type="const")
    const.attributes["name"].CopyFrom(_string_value(MIL_pb2, const_name))
    val = const.attributes["val"]
    val.type.tensorType.dataType = MIL_pb2.FLOAT32
    val.type.tensorType.rank = 4
    for d in (1, c, 1, 1):
        val.type.tensorType.dimensions.add().constant.size = d
    val.immediateValue.tensor.floats.values.extend([float(np.float32(v)) for v in fold])
    const.outputs.add().CopyFrom(_named_type(MIL_pb2, const_name, val.type))
    mul = MIL_pb2.Operation(type="mul")
    mul.attributes["name"].CopyFrom(_string_value(MIL_pb2, out_name))
    mul.inputs["x"].arguments.add().name = current
    mul.inputs["y"].arguments.add().name = const_name
    image_var = next(v for v in fn.inputs if v.name == image_name)
    mul.outputs.add().CopyFrom(_named_type(MIL_pb2, out_name, image_var.type))
    for op in ops[last + 1:]:
        for arg in op.inputs.values():
            for b in arg.arguments:
                if b.WhichOneof("binding") == "name" and b.name == current:
                    b.name = out_name
    block.outputs[:] = [out_name if o == current else o for o in block.outputs]
    del block.operations[:]
    block.operations.extend(ops[:last + 1] + [const, mul] + ops[last + 1:])


def _string_value(MIL_pb2, text: str):
    v = MIL_pb2.Value()
    v.type.tensorType.dataType = MIL_pb2.STRING
    v.immediateValue.tensor.strings.values.append(text)
    return v


def _named_type(MIL_pb2, name: str, vtype):
    nv = MIL_pb2.NamedValueType(name=name)
    nv.type.CopyFrom(vtype)
    return nv


def _save_atomic(ct, spec: Any, weights_dir: str | Path, dest: Path, force: bool) -> None:
    from ferry.io import replace_dir

    dest.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        built = stage / dest.name
        with _quiet_ct():
            ct.models.MLModel(spec, weights_dir=str(weights_dir), skip_model_load=True).save(str(built))
        for p in [built, *built.rglob("*")]:  # tempfile makes 0700 folders; give normal permissions
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        if dest.exists() and not force:
            raise FerryError(f"{dest}: already exists; pass --force to replace it")
        replace_dir(built, dest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _quiet_ct():
    from ferry.convert.exporters import quiet

    return quiet()

