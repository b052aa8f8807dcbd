"""`ferry convert`: one source, every target, the contract embedded where the runtime can hold it, each result
checked against the source from the raw image before it is called done.

Routes (ferry picks one per target and says which in the manifest):

    target    torch source                      TF SavedModel / Keras                 ONNX source
    onnx      torch.onnx -> ferry_pre nodes     tf2onnx -> ferry_pre nodes            the file -> ferry_pre nodes
    openvino  torch.onnx -> convert_model+PPP   convert_model(SavedModel/Keras)+PPP   convert_model+PPP
    opencv    torch.onnx (float in) + params    tf2onnx (float in) + params           the file + params
    coreml    coremltools (ferry.runtimes.coreml.convert)                              unreachable (no frontend)
    tflite    litert_torch.convert (extra)      TFLiteConverter (builtin ops)         unreachable (TFLITE_FROM: onnx2tf)

    target    TFLite source (.tflite)
    onnx      tf2onnx.convert.from_tflite (NHWC kept, signature input names) -> ferry_pre nodes
    openvino  convert_model on the .tflite (OpenVINO's TFLite frontend) + PPP
    opencv    tf2onnx.convert.from_tflite (float in) + params
    coreml    unreachable: coremltools has no TFLite frontend (COREML_FROM_TFLITE)
    tflite    the file copied, the contract in its metadata

    target    OpenVINO IR source (.xml + .bin)
    openvino  the IR read as it is + PPP (what ferry embed does, then checked against the source)
    others    unreachable: no maintained converter writes ONNX, TFLite or Core ML from IR (IR_TO_OTHERS)

    A TFLite source runs in LiteRT for the check, outputs named by its signature. One whose custom op LiteRT cannot
    run (MediaPipe's) is still handed to each converter, and every target is unreachable naming the op
    (_convert_unrunnable); an op LiteRT runs but one converter lacks (TFLite_Detection_PostProcess in OpenVINO's
    TFLite frontend) makes that target alone unreachable, naming the op and its operator in the flatbuffer.

OpenCV DNN has no place in the file for preprocessing, so its target is the plain ONNX model plus the exact
blobFromImageWithParams parameters (in ferry.json and its metadata); a file OpenCV DNN refuses (a dynamic shape it
cannot work out) gets the remedies of ferry.convert.opencv_remedies, each checked. TFLite keeps the contract as a
flatbuffer metadata entry; the app applies it (ferry native tflite prints the lines).

Each target's output names are bound by value on a probe image before it is written (ferry.convert.binding): a
name on the wrong tensor is renamed, or the target refused, naming both outputs.

Nothing is written at the destination until it is complete: every file is built in a hidden staging folder inside
OUTDIR and renamed into place; a convert killed midway leaves at most that staging folder, never a partial model.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ferry.convert import binding, exporters
from ferry.convert.manifest import MANIFEST_NAME, Manifest, TargetEntry, accuracy_cost, source_digest, versions
from ferry.errors import FerryError
from ferry.formats import (
    EXPORTED_PROGRAM,
    KERAS,
    ONNX,
    OPENVINO,
    SAVED_MODEL,
    TFLITE,
    TORCH_MODULE,
    TORCHSCRIPT,
    is_factory_spec,
)
from ferry.io import atomic_write_text, replace_dir
from ferry.op_errors import ConversionError, opencv_blockers
from ferry.preprocess.contract import Preprocess

TARGETS = ("onnx", "openvino", "opencv", "coreml", "tflite")
RUNTIME_OF = {"onnx": "onnxruntime", "openvino": "openvino", "opencv": "opencv", "coreml": "coreml",
              "tflite": "tflite"}
TORCH_FORMATS = (TORCHSCRIPT, EXPORTED_PROGRAM, TORCH_MODULE)
TF_FORMATS = (SAVED_MODEL, KERAS)

TFLITE_FROM = (
    "ferry makes TFLite from a TensorFlow/Keras source (TFLiteConverter), a torch source (litert-torch) or a TFLite "
    "source (a copy with the contract); from {src} the one converter, onnx2tf (ONNX -> TF -> TFLite), downloads "
    "calibration data and overwrites its input (see README, Limitations): convert the model's torch or TensorFlow "
    "source, or deploy the ONNX or OpenVINO target"
)
TFLITE_FROM_TORCH_MISSING = ("torch -> TFLite needs litert-torch, an optional extra (about 1 GB with jax): "
                             "pip install 'ferry[tflite-torch]'")
COREML_FROM_ONNX = ("coremltools 7+ has no ONNX frontend; convert from the torch or TensorFlow source "
                    "(ferry convert model.py:factory --to coreml)")
IR_TO_OTHERS = ("OpenVINO writes IR only and no maintained converter reads IR into ONNX, Core ML or TFLite: convert "
                "the model's torch, TensorFlow or ONNX source (the one this IR was made from), or deploy the "
                "openvino target (this IR with the contract embedded: ferry convert MODEL.xml --to openvino)")
COREML_FROM_TFLITE = ("coremltools has no TFLite frontend (it converts TensorFlow, torch and MIL); convert from the "
                      "model's TensorFlow or torch source (ferry convert saved_model/ --to coreml)")


@dataclass
class Outputs:
    """Where each target's files go."""

    outdir: Path
    name: str

    def path(self, target: str, precision: str = "fp32") -> Path:
        """NAME.onnx for fp32; NAME.int8.onnx, NAME.fp16.xml... for a reduced precision (--precision)."""
        name = self.name if precision == "fp32" else f"{self.name}.{precision}"
        return self.outdir / {
            "onnx": f"{name}.onnx", "openvino": f"{name}.xml", "opencv": f"{name}.opencv.onnx",
            "coreml": f"{name}.mlpackage", "tflite": f"{name}.tflite"}[target]

    def files(self, target: str, precision: str = "fp32") -> list[Path]:
        p = self.path(target, precision)
        return [p, p.with_suffix(".bin")] if target == "openvino" else [p]


GENERIC_FACTORY_NAMES = {"build", "model", "make", "create", "create_model", "get_model", "main", "net", "load"}


def default_name(source: str | Path) -> str:
    spec = str(source)
    if is_factory_spec(spec):
        module, _, fn = spec.rpartition(":")
        if fn in GENERIC_FACTORY_NAMES:  # examples/efficientnet_lite0.py:build -> efficientnet_lite0
            return Path(module).stem if module.endswith(".py") else module.rpartition(".")[2]
        return fn
    p = Path(spec)
    if p.is_dir() and p.name in ("saved_model", "1") and p.parent.name:
        return p.parent.name
    return p.stem if p.suffix else p.name


def parse_targets(to: str | list[str] | None) -> list[str]:
    if to is None:
        return list(TARGETS)
    items = [t.strip().lower() for t in (to.split(",") if isinstance(to, str) else to) if t.strip()]
    aliases = {"ir": "openvino", "openvino-ir": "openvino", "mlpackage": "coreml", "litert": "tflite",
               "cv2": "opencv", "ort": "onnx"}
    items = [aliases.get(t, t) for t in items]
    bad = [t for t in items if t not in TARGETS]
    if bad or not items:
        raise FerryError(f"--to {','.join(bad) or '(empty)'}: the targets are {','.join(TARGETS)}")
    return list(dict.fromkeys(items))


def convert(
    source: str | Path,
    to: str | list[str] | None = None,
    preprocess: str | Path | dict | Preprocess | None = None,
    outdir: str | Path = "ferry-out",
    images: list[str | Path] | None = None,
    force: bool = False,
    check: bool = True,
    name: str | None = None,
    task: str | None = None,
    progress: Callable[[str], None] | None = None,
    precision: str | list[str] | None = None,
    check_progress: Callable[[int, int], None] | None = None,
) -> Manifest:
    """Convert SOURCE to every target in `to`, check each against SOURCE on `images`, write OUTDIR/ferry.json.

    Raises FerryError (exit 2) for bad input before anything is written: an unreadable source, a bad contract,
    existing outputs without `force`, an output that would overwrite the source, no images while `check`, fewer
    than ferry.quantize.calibration.MIN_PHOTOS photos for int8.
    A target that cannot be produced is recorded as unreachable with the reason; the others still convert.
    `precision` ("fp32" by default; "fp16", "int8", or several: "fp32,int8") makes each target in each precision
    (ferry.quantize): int8 calibrated on `images` through the contract, every file checked against the source.
    `progress(message)` hears each step; `check_progress(done, total)` counts the check's photos (the CLI's bar).
    """
    from ferry.check import resolve_contract
    from ferry.images import image_files
    from ferry.quantize import parse_precisions
    from ferry.quantize.calibration import require_enough
    from ferry.runtimes import load

    say = progress or (lambda msg: None)
    targets = parse_targets(to)
    precisions = parse_precisions(precision)
    if check and not images:
        raise FerryError("give --images PHOTOS (a few of your own photos) to check each target, or --no-check")
    files = image_files(list(images)) if images and (check or "int8" in precisions) else []
    require_enough(files, precisions)
    out = Outputs(Path(outdir), name or default_name(source))
    if out.outdir.exists() and not out.outdir.is_dir():
        raise FerryError(f"{out.outdir}: exists and is not a directory; choose another -o OUTDIR")
    _refuse_clobber(source, out, [(t, p) for t in targets for p in precisions], force)
    try:
        src = load(source)
    except FerryError as exc:
        custom = _unresolved_custom_op(source, exc)
        if custom is None:
            raise
        return _convert_unrunnable(source, custom, targets, preprocess, out, files, check)
    contract = src.resolve(resolve_contract(src, preprocess))
    fmt = src.format
    digest = source_digest(source)
    try:
        out.outdir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".ferry-convert-", dir=out.outdir))
    except OSError as exc:
        raise FerryError(f"{out.outdir}: cannot write here ({exc.strerror}); choose a writable -o OUTDIR") from None
    entries: list[TargetEntry] = []
    try:
        @functools.cache
        def plain_onnx(precision: str = "fp32") -> tuple[Path, str]:
            """The intermediate float-input ONNX (in `precision`), made once, when a target first needs it."""
            if precision == "fp32":
                return _plain_onnx(src, contract, staging / "plain.onnx")
            plain, route = plain_onnx()
            from ferry.quantize import onnx as q_onnx

            dest = staging / f"plain.{precision}.onnx"
            how = q_onnx.quantize_int8(plain, dest, calib()) if precision == "int8" else q_onnx.convert_fp16(plain,
                                                                                                          dest)
            return dest, f"{route} -> {how}"

        @functools.cache
        def calib():
            """The photos through the contract (ferry.quantize.calibration), once, for every int8 target."""
            from ferry.quantize.calibration import calibration

            return calibration(files, contract)

        for target in targets:
            for prec in precisions:
                say(f"converting to {target}" + ("" if prec == "fp32" else f" ({prec})"))
                entry = _convert_one(target, source, src, fmt, contract, out, staging, plain_onnx, force, prec,
                                     calib)
                entries.append(entry)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if any(e.precision == "int8" and e.reachable and e.path for e in entries):
        from ferry.quantize.calibration import record

        calibrated = record(files)
        for e in entries:
            if e.precision == "int8" and e.reachable and e.path:
                e.calibration = calibrated
    manifest = Manifest(preprocess=contract, source={"path": str(source), "sha256": digest, "format": fmt},
                        targets=entries, images=[str(f) for f in files], checked=check)
    if check:
        say("checking " + ", ".join(f"{e.format} in {e.runtime}" for e in entries if e.reachable and e.path))
        _check_entries([e for e in entries if e.reachable and e.path], source, contract, files, task,
                       check_progress)
    atomic_write_text(out.outdir / MANIFEST_NAME, manifest.to_json() + "\n")
    return manifest


def _refuse_clobber(source: str | Path, out: Outputs, targets: list[tuple[str, str]], force: bool) -> None:
    src_real = Path(str(source)).resolve() if not is_factory_spec(str(source)) else None
    dests = [f for t, p in targets for f in out.files(t, p)] + [out.outdir / MANIFEST_NAME]
    for d in dests:
        if src_real is not None and (d.resolve() == src_real or src_real in d.resolve().parents):
            raise FerryError(f"{d}: would overwrite the source; choose another -o OUTDIR or --name")
    existing = [str(d) for d in dests if d.exists()]
    if existing and not force:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise FerryError(f"{existing[0]}: exists{more}; pass --force to replace, or choose another -o OUTDIR")


def _plain_onnx(src, contract: Preprocess, dest: Path) -> tuple[Path, str]:
    if src.format in TORCH_FORMATS:
        notes = exporters.torch_to_onnx(src, contract, dest)
        return dest, "torch -> onnx: " + "; ".join(notes)
    if src.format in TF_FORMATS:
        notes = exporters.tf_to_onnx(src, contract, dest)
        return dest, "tensorflow -> onnx: " + "; ".join(notes)
    if src.format == ONNX:
        from ferry.runtimes import onnx_graph

        model, external = onnx_graph.load_onnx_whole(src.path)  # one parse: the weights and where they were
        if onnx_graph.preprocessing_subgraph(model) is not None:
            raise ConversionError(f"{src.path}: already holds ferry preprocessing nodes; convert the file it was "
                                  "made from, so the contract is not applied twice")
        if not external:
            shutil.copyfile(src.path, dest)
            return dest, "onnx (the source file)"
        _save_whole(model, src.path, dest)
        return dest, "onnx (the source file, its external data taken into the one file)"
    if src.format == TFLITE:
        notes = exporters.tflite_to_onnx(src.path, dest, _signature_input_names(src), _signature_output_names(src))
        return dest, "tflite -> " + "; ".join(notes)
    if src.format == OPENVINO:
        raise ConversionError(f"{src.path}: {IR_TO_OTHERS}")
    raise ConversionError(f"{src.path}: ferry cannot convert a {src.format} source")


def _save_whole(model, source, dest: Path) -> None:
    """The model with its external data read in, as one file: every target ferry writes is one file a runtime
    loads by itself. Over protobuf's 2 GB limit that cannot be one file, and ferry says so."""
    from ferry.errors import require
    from ferry.runtimes.onnx_graph import ONE_FILE_LIMIT

    onnx = require("onnx", "onnx")
    if model.ByteSize() >= ONE_FILE_LIMIT:
        raise ConversionError(f"{source}: its weights (external data) are over protobuf's 2 GB limit for one ONNX "
                              "file, and ferry builds every target from one: make an IR with OpenVINO's `ovc "
                              f"{Path(str(source)).name}` (IR keeps weights in its .bin) and convert that (ferry "
                              "convert MODEL.xml --to openvino), or export an fp16 model")
    onnx.save(model, str(dest))


def _plain_ir(src):
    """An IR source read as it is, for the openvino target: one that already takes ferry's uint8 BGR pixels would
    get the contract twice."""
    from ferry.runtimes import openvino as ov_rt

    model = ov_rt.read_model(src.path)
    if ov_rt.model_preprocess(model) is not None:
        raise ConversionError(f"{src.path}: already holds preprocessing ferry embedded (rt_info model_info); "
                              "convert the file it was made from, so the contract is not applied twice")
    return model, "openvino IR (the source file)"


def _convert_one(target, source, src, fmt, contract, out: Outputs, staging: Path, plain_onnx, force,
                 precision: str = "fp32", calib=None) -> TargetEntry:
    runtime = RUNTIME_OF[target]
    entry = TargetEntry(format=target, path=None, route=None, passed=False, runtime=runtime, precision=precision)
    try:
        if fmt == OPENVINO and target != "openvino":
            raise ConversionError(f"{source}: {IR_TO_OTHERS}")
        if precision == "fp32":
            route, vers, staged, extra = _produce(target, source, src, fmt, contract, out, staging, plain_onnx)
        else:
            from ferry.quantize.targets import produce

            route, vers, staged, extra = produce(target, precision, source, src, fmt, contract, out, staging,
                                                 plain_onnx, calib)
        extra["notes"] = [*extra.get("notes", []),
                          *binding.verify(staged[0], runtime, src, contract, out.path(target, precision))]
    except ConversionError as exc:
        entry.reachable = False
        entry.reason, entry.op, entry.node = str(exc), exc.op, exc.node
        return entry
    dest = out.path(target, precision)
    _move_into_place(staged, out.files(target, precision), force)
    entry.path, entry.route, entry.versions = str(dest), route, vers
    entry.native = extra.get("native")
    entry.notes = extra.get("notes", [])
    return entry


def _produce(target, source, src, fmt, contract: Preprocess, out: Outputs, staging: Path, plain_onnx):
    """Build the target in staging: (route, versions, staged files in Outputs.files order, extras)."""
    from ferry.runtimes import get_runtime

    base = versions("ferry")
    if fmt in TORCH_FORMATS:
        base |= versions("torch")
    elif fmt in TF_FORMATS:
        base |= versions("tensorflow")
    elif fmt == TFLITE:
        base |= versions("ai-edge-litert")
    if target == "onnx":
        plain, route = plain_onnx()
        dest = staging / out.path("onnx").name
        get_runtime("onnxruntime").embed(plain, contract, dest)
        _loads_in("onnxruntime", dest, out.path("onnx"))
        return (f"{route} -> contract embedded as ferry_pre_* nodes (uint8 NHWC BGR in)",
                base | versions("onnx", "onnxruntime", *(["tf2onnx"] if fmt in (*TF_FORMATS, TFLITE) else [])),
                [dest], {})
    if target == "openvino":
        from ferry.runtimes import openvino as ov_rt

        if fmt == OPENVINO:
            model, route = _plain_ir(src)
        elif fmt in (*TF_FORMATS, TFLITE):
            model, how = exporters.to_openvino_model(src, None)
            route = how
            if fmt == TFLITE:
                _keep_input_names(model, _signature_input_names(src))
        else:
            plain, route = plain_onnx()
            model, how = exporters.to_openvino_model(src, plain)
            route = f"{route} -> {how}"
        _keep_output_names(model, [o.name for o in src.outputs])
        dest = staging / out.path("openvino").name
        ov_rt.embed_model(model, contract, dest, origin=source)
        _loads_in("openvino", dest, out.path("openvino"))
        return (f"{route} -> PrePostProcessor (uint8 NHWC BGR in; rt_info model_info)",
                base | versions("openvino"), [dest, dest.with_suffix(".bin")], {})
    if target == "opencv":
        plain, route = plain_onnx()
        blockers = opencv_blockers(plain)
        if blockers:
            op, node = blockers[0]
            raise ConversionError(
                f"{source}: OpenCV DNN cannot run op {op} (node {node}"
                f"{', and ' + str(len(blockers) - 1) + ' more' if len(blockers) > 1 else ''}): it has no layer for "
                "it; run this model with ONNX Runtime or OpenVINO, or cut the graph before the op and do that step "
                "in your app", op=op, node=node, tool="opencv")
        dest = staging / out.path("opencv").name
        _write_declared_onnx(plain, contract, dest)
        remedy, tools = opencv_loadable(dest, plain, contract, staging, out.path("opencv"))
        recipe = get_runtime("opencv").native(contract)
        return (f"{route}{remedy.how if remedy else ''} (float input) + cv2.dnn.blobFromImageWithParams parameters",
                base | versions("onnx", "opencv-python-headless", *tools), [dest],
                {"native": recipe.to_dict(), "notes": ([remedy.note] if remedy else []) + list(recipe.notes)})
    if target == "coreml":
        if fmt in (ONNX, TFLITE):
            why = COREML_FROM_ONNX if fmt == ONNX else COREML_FROM_TFLITE
            raise ConversionError(f"{source}: {why}", tool="coremltools")
        try:
            coreml = get_runtime("coreml")
        except FerryError as exc:
            raise ConversionError(f"{source}: {exc}", tool="coremltools") from None
        dest = staging / out.path("coreml").name
        try:
            coreml.convert(source, contract, dest)
        except ConversionError:
            raise
        except FerryError as exc:
            raise ConversionError(str(exc), tool="coremltools") from None
        return ("coremltools.convert -> mlprogram, ImageType input (scale, bias, colour layout)",
                base | versions("coremltools"), [dest], {})
    if target == "tflite":
        if fmt == TFLITE:
            return _tflite_copy(src, contract, staging / out.path("tflite").name, out.path("tflite"), base)
        if fmt not in TF_FORMATS + TORCH_FORMATS:
            raise ConversionError(f"{source}: {TFLITE_FROM.format(src=fmt)}", tool="tflite")
        dest = staging / out.path("tflite").name
        if fmt in TORCH_FORMATS:
            from ferry.errors import MissingRuntime

            try:
                notes = exporters.torch_to_tflite(src, contract, dest)
            except MissingRuntime:  # an optional extra: the other targets still convert
                raise ConversionError(f"{source}: {TFLITE_FROM_TORCH_MISSING}", tool="litert_torch") from None
            what, tools = "torch", ("litert-torch", "ai-edge-litert")
        else:
            notes, what, tools = exporters.tf_to_tflite(src, dest), "tensorflow", ("ai-edge-litert",)
        _add_tflite_contract(dest, contract)
        _loads_in("tflite", dest, out.path("tflite"))
        return (f"{what} -> " + "; ".join(notes) + " + contract in metadata 'ferry_preprocess' (host applies it)",
                base | versions(*tools), [dest], {})
    raise FerryError(f"unknown target {target}")


def _keep_output_names(model, names: list[str]) -> None:
    """OpenVINO names a Keras model's outputs after internal tensors (keras_tensor_15); give them the source's
    names, by position, when the count matches and the set differs (a first guess: binding.verify checks it)."""
    have = [o.get_any_name() if o.get_names() else "" for o in model.outputs]
    if len(have) == len(names) and set(have) != set(names):
        for port, name in zip(model.outputs, names, strict=True):
            port.get_tensor().set_names({name})


def _signature_input_names(src) -> dict[str, str]:
    """LiteRT tensor name -> the signature's key (`serving_default_image:0` -> `image`), for each input the
    signature names once: the names an app passes to the signature runner, so the targets take the same."""
    keys: dict[str, list[str]] = {}
    for key, tensor in getattr(src, "signature_inputs", {}).items():
        keys.setdefault(tensor, []).append(key)
    return {tensor: names[0] for tensor, names in keys.items() if len(names) == 1}


def _signature_output_names(src) -> dict[str, str]:
    """LiteRT tensor name -> the name ferry's runtime gives that output (the signature's key, or ferry's own map),
    where they differ: tf2onnx names the ONNX outputs after the tensors (`StatefulPartitionedCall:0`)."""
    it, outs = getattr(src, "_interpreter", None), getattr(src, "_out", None)
    if it is None or not outs:
        return {}
    by_index = {int(d["index"]): d["name"] for d in outs}
    return {d["name"]: by_index[int(d["index"])] for d in it.get_output_details()
            if int(d["index"]) in by_index and by_index[int(d["index"])] != d["name"]}


def _keep_input_names(model, names: dict[str, str]) -> None:
    """OpenVINO's TFLite frontend names inputs after LiteRT's tensors; give them the signature's keys."""
    for port in model.inputs:
        new = names.get(port.get_any_name()) if port.get_names() else None
        if new:
            port.get_tensor().set_names({new})


def _tflite_copy(src, contract: Preprocess, dest: Path, final: Path, base: dict[str, str]):
    """tflite -> tflite: the source's bytes with the contract in its 'ferry_preprocess' entry. Nothing converts, so
    the check compares LiteRT with itself: it confirms the copy and the contract entry, not a conversion (said in
    the notes). The entry is read back before the file counts as made."""
    from ferry.runtimes.tflite import read_preprocess

    shutil.copyfile(src.path, dest)
    _add_tflite_contract(dest, contract)
    if read_preprocess(dest) != contract:
        raise ConversionError(f"{final}: the contract written to metadata 'ferry_preprocess' does not read back as "
                              "given; report this with the contract", tool="tflite")
    _loads_in("tflite", dest, final)
    note = ("the source is TFLite already: this file is its copy (same graph and weights) with the contract in "
            "metadata; its check runs the same model in LiteRT, so it confirms the copy, not a conversion")
    return ("tflite (the source file, copied) + contract in metadata 'ferry_preprocess' (host applies it)",
            base | versions("ai-edge-litert"), [dest], {"notes": [note]})


def _unresolved_custom_op(source, exc: FerryError) -> str | None:
    """The custom op that stops LiteRT from loading a TFLite source ("Encountered unresolved custom op: X"), else
    None (any other load failure stays the exit-2 error it is)."""
    import re

    if is_factory_spec(str(source)) or not Path(str(source)).is_file():
        return None
    m = re.search(r"unresolved custom op: (?P<op>[\w.]+?)\.?\)", str(exc))
    return m.group("op") if m else None


def _convert_unrunnable(source, op: str, targets: list[str], preprocess, out: Outputs, files: list[Path],
                        check: bool) -> Manifest:
    """A TFLite source whose custom op LiteRT cannot run: each target is handed to its real converter so the
    reason is the converter's own, yet none is written (nothing could check it), and each is unreachable naming
    the op. ferry.json records them; exit 1 with --to, as for every unreachable target."""
    from ferry.check import load_contract
    from ferry.runtimes.tflite import read_preprocess

    contract = load_contract(preprocess) if preprocess is not None else read_preprocess(Path(str(source)))
    if contract is None:
        raise FerryError(f"{source}: carries no preprocessing contract; pass --preprocess PRESET_OR_FILE")
    out.outdir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".ferry-convert-", dir=out.outdir))
    try:
        entries = [_unrunnable_entry(t, Path(str(source)), op, staging) for t in targets]
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    manifest = Manifest(preprocess=contract, source={"path": str(source), "sha256": source_digest(source),
                                                     "format": TFLITE},
                        targets=entries, images=[str(f) for f in files], checked=check)
    atomic_write_text(out.outdir / MANIFEST_NAME, manifest.to_json() + "\n")
    return manifest


def _unrunnable_entry(target: str, path: Path, op: str, staging: Path) -> TargetEntry:
    litert = (f"LiteRT cannot run the source's custom op {op} (not a TFLite builtin), so ferry cannot check any "
              "target made from it")
    entry = TargetEntry(format=target, path=None, route=None, passed=False, runtime=RUNTIME_OF[target],
                        reachable=False, op=op)
    try:
        if target == "openvino":
            exporters.tflite_to_openvino(path)
        elif target in ("onnx", "opencv"):
            exporters.tflite_to_onnx(path, staging / f"{target}.onnx")
        elif target == "coreml":
            raise ConversionError(f"{path}: {COREML_FROM_TFLITE}", tool="coremltools")
        raise ConversionError(f"{path}: {litert}; convert the model's TensorFlow or torch source", op=op)
    except ConversionError as exc:
        entry.reason, entry.node = str(exc), exc.node
        entry.op = exc.op if target == "coreml" else (exc.op or op)  # Core ML stops before any op: no frontend
    return entry


def _loads_in(runtime: str, path: Path, final: Path) -> None:
    """A converted file must load in its runtime; if not, say which op (the runtime's own message names it)."""
    from ferry.op_errors import explain
    from ferry.runtimes import get_runtime
    from ferry.runtimes.quiet import quiet_load

    try:
        with quiet_load():  # LiteRT's "Created TensorFlow Lite XNNPACK delegate" is not the answer (runtimes/quiet.py)
            get_runtime(runtime).load(path)
    except FerryError as exc:
        raise explain(RuntimeError(str(exc).replace(str(path), str(final))), runtime, final) from None


def opencv_loadable(dest: Path, plain: Path, contract: Preprocess, staging: Path, final: Path):
    """(None, ()) when OpenCV DNN loads DEST as it is; else the remedy that made it load (ferry.convert.
    opencv_remedies: input fixed, shapes inferred, onnxsim, each checked against onnxruntime), said in the route as
    " -> WHAT", and the tools it used. Raises ConversionError with OpenCV's node and op when none does."""
    from ferry.convert import opencv_remedies
    from ferry.runtimes import get_runtime
    from ferry.runtimes.quiet import quiet_load

    try:
        with quiet_load():
            get_runtime("opencv").load(dest)
        return None, ()
    except FerryError as exc:
        first = str(exc)
    remedy = opencv_remedies.make_loadable(dest, plain, contract, staging, final, first)
    first_try = remedy.attempts[0]
    at = f" at node {first_try.node} ({first_try.op})" if first_try.node else ""
    remedy.how = f" -> {remedy.how} (what made OpenCV DNN load it: it refused the file as exported{at})"
    used = ("onnxsim",) if opencv_remedies.SIMPLIFIER in remedy.how else ()
    return remedy, used


def _write_declared_onnx(plain: Path, contract: Preprocess, dest: Path) -> None:
    """The plain model with the contract as metadata ("ferry_host_preprocess": the host applies it)."""
    from ferry.io import atomic_write_bytes
    from ferry.runtimes.onnx_graph import HOST_METADATA_KEY, load_onnx, set_metadata

    model = load_onnx(plain)
    set_metadata(model, HOST_METADATA_KEY, contract.to_json())
    atomic_write_bytes(dest, model.SerializeToString())


def _add_tflite_contract(path: Path, contract: Preprocess) -> None:
    from ferry.runtimes.tflite import METADATA_NAME, write_metadata

    write_metadata(path, METADATA_NAME, contract.to_json().encode())


def _move_into_place(staged: list[Path], dests: list[Path], force: bool) -> None:
    """Rename each staged file (or .mlpackage folder, see ferry.io.replace_dir) over its destination."""
    for s, d in zip(staged, dests, strict=True):
        if d.exists() and not force:
            raise FerryError(f"{d}: appeared while converting; pass --force to replace it")
        if s.is_dir():
            replace_dir(s, d)
        else:
            os.replace(s, d)


def _check_entries(entries: list[TargetEntry], source, contract: Preprocess, files: list[Path],
                   task: str | None, progress: Callable[[int, int], None] | None = None) -> None:
    """Every converted target against the source in one `check`, so the source is loaded and run once per photo
    for all of them. If that run fails (one target's runtime raises while running), each target is checked on its
    own, so that failure is recorded against its target only."""
    from ferry.check import check

    kwargs = {"task": task} if task else {}
    kwargs["progress"] = progress
    try:
        result = check(source, [(e.path, e.runtime) for e in entries], files, preprocess=contract, **kwargs)
    except FerryError:
        for entry in entries:
            try:
                one = check(source, [(entry.path, entry.runtime)], files, preprocess=contract, **kwargs)
            except FerryError as exc:
                entry.passed = False
                entry.reason = f"check failed to run: {exc}"
                continue
            _record(entry, one.targets[0])
    else:
        by_target = {(t.path, t.runtime): t for t in result.targets}
        for entry in entries:
            _record(entry, by_target[(entry.path, entry.runtime)])
    for entry in entries:  # the convert's own check runs on the calibration photos: said, in ferry.json too
        if entry.calibration and entry.accuracy is not None:
            from ferry.quantize.calibration import few_photos_note, overlap, overlap_note

            ov = overlap(entry.calibration, files)
            entry.accuracy["calibration_overlap"] = ov
            for note in (overlap_note(ov), few_photos_note(int(entry.calibration.get("photos") or 0))):
                if note and note not in entry.notes:
                    entry.notes.append(note)


def _record(entry: TargetEntry, t) -> None:
    """A target's check result in its manifest entry."""
    if t.error:
        entry.passed = False
        entry.reason = f"check failed to run: {t.error}"
        return
    entry.passed = t.passed
    entry.check = t.to_dict()
    entry.accuracy = accuracy_cost(entry.check)
    entry.notes = list(dict.fromkeys([*entry.notes, *t.notes]))
    if not t.passed:
        bad = [o for o in t.outputs if not o.passed]
        task = t.task if t.task is not None and not t.task.passed else None
        entry.reason = "; ".join(f"{o.name}: {o.reason or f'max abs diff {o.max_abs:.3g}'}" for o in bad[:3]) \
            or (f"task {task.task}: {task.reason}" if task else "outputs differ")
