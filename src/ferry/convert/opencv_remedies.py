"""An ONNX file OpenCV DNN can load, when it cannot load the one it is given: the known remedies in order, each
checked.

OpenCV DNN 4.14 works out every tensor's shape once, when it reads the file, and refuses what it cannot work out
there: a Shape of a dynamic input (`!isDynamicShape`), a Reshape to a computed shape, a broadcast of two unknown
shapes (`findCommonShape`). Real models exported with a dynamic batch or size hit this (ddddocr's recognisers, an
Ultralytics YOLOv8n, PP-OCRv5's detector). The remedies, applied one on top of the other, cheapest and smallest change
first:

    1. fixed input     the image input's dynamic dims set to batch 1 and the contract's size (the file then takes
                       only that size, which the contract's resize gives anyway)
    2. shapes inferred onnx.shape_inference with data propagation, so every intermediate carries a static shape
    3. reversals       a Slice reversing a whole axis (step -1) becomes a Gather of n-1..0: OpenCV DNN 4.14 gets
                       the negative-step Slice's shape wrong (a hand-unrolled backward LSTM, torch.flip)
    4. simplified      onnxsim folds the shape arithmetic and other constant subgraphs away (see README: why onnxsim,
                       not onnxslim). It runs in a child process: it imports torch and onnxruntime (1,900 modules)
                       and a crash in its C++ must not end the convert

Each result must load in cv2.dnn AND give onnxruntime's outputs, on the file before any remedy, on a probe image fed
through the contract; a remedy whose file loads but computes something else is refused with the reason and the next
one is tried. When none loads, the error names the node and op from OpenCV's own log and the runtimes that do load
the file.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ferry.errors import FerryError
from ferry.op_errors import ConversionError, opencv_log
from ferry.preprocess.contract import Preprocess

SIMPLIFIER = "onnxsim"
SIMPLIFY_TIMEOUT_S = 600
# onnxsim's own numeric check is off (check_n=0): ferry checks the result itself, in OpenCV, against onnxruntime.
_SIMPLIFY = (
    "import sys, onnx, onnxsim\n"
    "model, ok = onnxsim.simplify(onnx.load(sys.argv[1]), check_n=0)\n"
    "if not ok:\n"
    "    sys.exit('onnxsim could not validate the simplified model')\n"
    "onnx.save(model, sys.argv[2])\n"
)
# Ops OpenCV DNN 4.14 has no layer for that the remedies cannot remove (checked one by one in
# tests/convert/test_opencv_remedies.py): named in the error so the user knows no remedy will do.
NO_LAYER_OPS = ("ConvInteger", "MatMulInteger", "DynamicQuantizeLSTM")  # it does load DynamicQuantizeLinear


@dataclass
class Attempt:
    """One remedy tried: what it did, whether OpenCV loaded the result, whether it matched onnxruntime."""

    remedy: str
    loaded: bool = False
    matched: bool = False
    detail: str = ""  # OpenCV's refusal, the comparison that failed, or why the remedy could not be applied
    op: str | None = None
    node: str | None = None

    def line(self) -> str:
        if self.matched:
            return f"{self.remedy}: loads and matches onnxruntime"
        return f"{self.remedy}: {self.detail}"


@dataclass
class Remedied:
    """The remedy that made the file load (the file is at the path given to make_loadable) and what came before."""

    how: str
    attempts: list[Attempt] = field(default_factory=list)
    note: str = ""


Step = Callable[[object, Preprocess, Path], tuple[object | None, str]]  # (model, contract, work) -> (model, what)


def make_loadable(dest: Path, reference: Path, contract: Preprocess, work: Path, final: Path,
                  first_error: str, steps: list[tuple[str, Step]] | None = None) -> Remedied:
    """Replace `dest` (an ONNX file OpenCV refused with `first_error`) by the first remedied version that loads in
    cv2.dnn and matches onnxruntime on `reference` (the file before any remedy). `final` is the name the user will
    see. Raises ConversionError naming OpenCV's node and op when none does."""
    import onnx

    op, node, detail = opencv_log(first_error)
    attempts = [Attempt("as exported", detail=_refusal(op, node, detail), op=op, node=node)]
    expected = _reference_outputs(reference, contract)
    base = onnx.load(str(dest))
    model = base
    applied: list[str] = []  # the remedies in the current model, cumulative
    for k, (name, step) in enumerate(steps if steps is not None else STEPS):
        try:
            changed, what = step(model, contract, work)
        except FerryError as exc:  # the remedy could not be applied here: say why, try the next
            attempts.append(Attempt(name, detail=str(exc)))
            continue
        if changed is None:
            attempts.append(Attempt(name, detail=what))
            continue
        _keep_metadata(changed, base)
        path = work / f"opencv-remedy-{k}.onnx"
        _save(changed, path)
        attempt = _try(path, what, expected, contract)
        attempts.append(attempt)
        if attempt.loaded and not attempt.matched:  # it broke the numbers: dropped, the next builds without it
            path.unlink(missing_ok=True)
            continue
        model = changed
        applied.append(what)
        if attempt.matched:
            os.replace(path, dest)
            refused = [a.line() for a in attempts[1:-1] if a.loaded]
            note = (f"OpenCV DNN could not load the file as exported ({attempts[0].detail}); it loads after "
                    + " + ".join(applied) + ", and gives onnxruntime's outputs on a probe image"
                    + (f" (refused: {'; '.join(refused)})" if refused else ""))
            if any(" fixed to " in a for a in applied):
                note += ". The OpenCV file takes only that input shape: one image at a time, at the contract's size"
            return Remedied(" + ".join(applied), attempts, note)
        path.unlink(missing_ok=True)
    raise _none_worked(attempts, reference, final, model)


def _refusal(op: str | None, node: str | None, detail: str) -> str:
    return f"node {node} ({op}): {detail}" if node else detail


def _save(model, path: Path) -> None:
    from ferry.io import atomic_write_bytes

    atomic_write_bytes(path, model.SerializeToString())


def _keep_metadata(model, base) -> None:
    """The contract travels as metadata; a simplifier may drop metadata_props, so they are copied back."""
    have = {p.key for p in model.metadata_props}
    for prop in base.metadata_props:
        if prop.key not in have:
            model.metadata_props.add(key=prop.key, value=prop.value)


# --- the remedies ------------------------------------------------------------------------------------------------

def fix_input(model, contract: Preprocess, work: Path):
    """The image input's dynamic dims -> batch 1 and the contract's size (in its layout)."""
    model = _copy(model)
    inits = {i.name for i in model.graph.initializer}
    four_d = [i for i in model.graph.input if i.name not in inits and len(i.type.tensor_type.shape.dim) == 4]
    if not four_d:
        raise FerryError("no 4-D image input to fix")
    inp = four_d[0]
    h, w = contract.size if contract.size else (None, None)
    c = contract.channels
    want = [1, c, h, w] if (contract.layout or "NCHW") == "NCHW" else [1, h, w, c]
    dims = inp.type.tensor_type.shape.dim
    fixed = False
    for d, v in zip(dims, want, strict=True):
        if d.HasField("dim_value") and d.dim_value > 0:
            continue
        if v is None:
            raise FerryError(f"input {inp.name} has a dynamic size and the contract none: give the contract a "
                             "size: [height, width]")
        d.Clear()
        d.dim_value = int(v)
        fixed = True
    shape = [d.dim_value for d in dims]
    if not fixed:
        return None, f"input {inp.name} is already static {shape}"
    del model.graph.value_info[:]  # shapes computed for the dynamic input would contradict the fixed one
    return model, f"input {inp.name} fixed to {shape}"


def infer_shapes(model, contract: Preprocess, work: Path):
    """Static shapes for every intermediate tensor, with data propagation through the shape arithmetic."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
    except Exception as exc:  # noqa: BLE001 (onnx raises many kinds; the remedy is skipped with the reason)
        raise FerryError(f"onnx shape inference failed: {str(exc).splitlines()[0][:200]}") from None
    known = sum(1 for v in inferred.graph.value_info if _static(v))
    return inferred, f"shapes inferred ({known} static intermediate shapes)"


def simplify(model, contract: Preprocess, work: Path):
    """onnxsim in a child process (module docstring): constant folding, shape arithmetic folded away."""
    import onnx

    if importlib.util.find_spec(SIMPLIFIER) is None:
        raise FerryError(f"{SIMPLIFIER} is not installed: pip install 'ferry[opencv]'")
    src, out = work / "opencv-simplify-in.onnx", work / "opencv-simplify-out.onnx"
    _save(model, src)
    env = {**os.environ, "ORT_DISABLE_TELEMETRY": "1"}
    try:
        done = subprocess.run([sys.executable, "-c", _SIMPLIFY, str(src), str(out)], capture_output=True,
                              text=True, timeout=SIMPLIFY_TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        raise FerryError(f"{SIMPLIFIER} ran past {SIMPLIFY_TIMEOUT_S} s") from None
    finally:
        src.unlink(missing_ok=True)
    if done.returncode != 0 or not out.is_file():
        lines = [ln for ln in (done.stderr or "").strip().splitlines() if ln.strip()] or [f"exit {done.returncode}"]
        raise FerryError(f"{SIMPLIFIER} failed: {lines[-1][:200]}")
    simplified = onnx.load(str(out))
    out.unlink()
    before, after = len(model.graph.node), len(simplified.graph.node)
    version = importlib.metadata.version(SIMPLIFIER)
    return simplified, f"graph simplified by {SIMPLIFIER} {version} ({before} -> {after} nodes)"


def reversals_as_gather(model, contract: Preprocess, work: Path):
    """A Slice that reverses a whole axis (step -1 from the end past the start: how torch.flip and a hand-written
    backward LSTM's `[::-1]` export) becomes a Gather of the indices n-1..0. OpenCV DNN 4.14 gets the shape of a
    negative-step Slice wrong and refuses the Concat after it (captcha-whisperer 0.1.0's CRNN); the Gather is the
    same function wherever the axis's length is static."""
    import onnx
    from onnx import helper, numpy_helper

    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
    except Exception as exc:  # noqa: BLE001 (onnx raises many kinds; the remedy is skipped with the reason)
        raise FerryError(f"onnx shape inference failed: {str(exc).splitlines()[0][:200]}") from None
    const = {i.name: numpy_helper.to_array(i) for i in inferred.graph.initializer}
    for n in inferred.graph.node:
        if n.op_type == "Constant" and len(n.attribute) == 1 and n.attribute[0].name == "value":
            const[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    shapes = {v.name: [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
              for v in [*inferred.graph.value_info, *inferred.graph.input]}
    nodes, rewritten = [], 0
    for n in inferred.graph.node:
        axis_len = _reversed_axis(n, const, shapes)
        if axis_len is None:
            nodes.append(n)
            continue
        axis, length = axis_len
        idx = f"{n.name or n.output[0]}_ferry_reversed"
        inferred.graph.initializer.append(numpy_helper.from_array(np.arange(length - 1, -1, -1, dtype=np.int64), idx))
        nodes.append(helper.make_node("Gather", [n.input[0], idx], list(n.output), name=f"{n.name}_as_gather",
                                      axis=axis))
        rewritten += 1
    if not rewritten:
        return None, "no Slice reverses a whole axis of static length"
    del inferred.graph.node[:]
    inferred.graph.node.extend(nodes)
    return inferred, f"{rewritten} reversing Slice{'s' if rewritten > 1 else ''} written as Gather"


def _reversed_axis(node, const: dict, shapes: dict) -> tuple[int, int] | None:
    """(axis, length) when `node` is a Slice reversing one whole axis of static length, else None."""
    if node.op_type != "Slice" or len(node.input) != 5 or not all(i in const for i in node.input[1:]):
        return None
    starts, ends, axes, steps = (np.asarray(const[i]).reshape(-1) for i in node.input[1:])
    shape = shapes.get(node.input[0])
    if len(axes) != 1 or len(steps) != 1 or int(steps[0]) != -1 or not shape:
        return None
    axis = int(axes[0]) + (len(shape) if int(axes[0]) < 0 else 0)
    length = shape[axis] if 0 <= axis < len(shape) else None
    if not length:
        return None
    start, end = int(starts[0]), int(ends[0])
    start = start + length if start < 0 else start
    if start < length - 1 or end > -length - 1:  # from the last element, past the first (ONNX clamps both)
        return None
    return axis, length


STEPS: list[tuple[str, Step]] = [("fixed input", fix_input), ("shapes inferred", infer_shapes),
                                 ("reversals as Gather", reversals_as_gather), ("simplified", simplify)]


def _copy(model):
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return copy


def _static(value_info) -> bool:
    t = value_info.type.tensor_type
    return t.HasField("shape") and all(d.HasField("dim_value") for d in t.shape.dim)


# --- the check of each result --------------------------------------------------------------------------------------

PROBE_SEED = 0


def probe_image(contract: Preprocess) -> np.ndarray:
    """A seeded noise photo (u8 BGR) at twice the contract's size, so its resize runs too."""
    h, w = contract.size if contract.size else (64, 64)
    return np.random.default_rng(PROBE_SEED).integers(0, 256, (2 * h, 2 * w, 3), dtype=np.uint8)


def _reference_outputs(reference: Path, contract: Preprocess) -> dict[str, np.ndarray]:
    """onnxruntime's outputs on the file before any remedy: what every remedied file must reproduce."""
    from ferry.runtimes import load

    try:
        ref = load(reference, "onnxruntime")
    except FerryError as exc:
        raise ConversionError(f"{reference}: the OpenCV remedies are checked against onnxruntime, which cannot "
                              f"run the file: {exc}", tool="opencv") from None
    return ref.run(ref.feed_tensor(_probe_tensor(contract)))


def _probe_tensor(contract: Preprocess) -> np.ndarray:
    from ferry.preprocess.reference import preprocess_image

    return preprocess_image(probe_image(contract), contract)


def _try(path: Path, what: str, expected: dict[str, np.ndarray], contract: Preprocess) -> Attempt:
    """Does the file load in cv2.dnn, and give onnxruntime's outputs on the probe?"""
    from ferry.compare.tensor import compare_arrays, match_outputs
    from ferry.runtimes import opencv

    attempt = Attempt(what)
    try:
        net = opencv.load(path)
    except FerryError as exc:
        attempt.op, attempt.node, detail = opencv_log(str(exc))
        attempt.detail = "OpenCV DNN still cannot load it: " + _refusal(attempt.op, attempt.node, detail)
        return attempt
    attempt.loaded = True
    try:
        with opencv.quiet():
            got = net.run(net.feed_tensor(_probe_tensor(contract)))
    except FerryError as exc:
        attempt.detail = f"loads, but OpenCV DNN fails to run it: {str(exc).split(': ', 1)[-1]}"
        return attempt
    mapping, _ = match_outputs(list(expected), list(got))
    if len(mapping) != len(expected):
        attempt.detail = (f"loads, but gives outputs {', '.join(got)} where onnxruntime gives "
                          f"{', '.join(expected)}: refused")
        return attempt
    for t, r in mapping.items():
        cmp = compare_arrays(t, expected[r], got[t])
        if not cmp.passed:
            attempt.detail = (f"loads, but output {t} differs from onnxruntime on the probe image "
                              f"({cmp.reason or f'max abs diff {cmp.max_abs:.3g}'}): refused")
            return attempt
    attempt.matched = True
    return attempt


# --- when none works ---------------------------------------------------------------------------------------------

def _none_worked(attempts: list[Attempt], reference: Path, final: Path, model) -> ConversionError:
    """The last refusal OpenCV logged (node and op), what each remedy gave, the ops no remedy can remove, and the
    runtimes that do load the file."""
    last = next((a for a in reversed(attempts) if a.node or a.op), attempts[0])
    where = f"node {last.node} ({last.op})" if last.node else (f"op {last.op}" if last.op else "its graph")
    refusal = _strip(last.detail)
    tried = []
    for a in attempts[1:]:
        same = not a.loaded and a.node == last.node and a.op == last.op and _strip(a.detail) == refusal
        tried.append(f"{a.remedy} (the same refusal)" if same and a.node else a.line())
    counts = Counter((n.op_type, n.domain or "ai.onnx") for n in model.graph.node if n.op_type in NO_LAYER_OPS)
    no_layer = ", ".join(f"{op}{'' if dom == 'ai.onnx' else f' ({dom})'} x{n}" for (op, dom), n in counts.items())
    runs_in = _runtimes_that_load(reference)
    msg = (f"{final}: OpenCV DNN cannot load it: node {last.node} ({last.op}) stops it: {refusal}" if last.node
           else f"{final}: OpenCV DNN cannot load it ({where}): {refusal}")
    msg += ". Tried: " + "; ".join(tried)
    if no_layer:
        msg += f". It holds ops OpenCV DNN has no layer for, which no remedy removes: {no_layer}"
    msg += (f". It loads in {' and '.join(runs_in)}: deploy it there" if runs_in else ". Deploy it elsewhere")
    msg += ", or cut the graph before the op and do that step in your app"
    return ConversionError(msg, op=last.op, node=last.node, tool="opencv")


def _strip(detail: str) -> str:
    """The refusal without the words and node already said in front of it."""
    detail = detail.removeprefix("OpenCV DNN still cannot load it: ")
    return detail.split("): ", 1)[-1] if detail.startswith("node ") else detail


def _runtimes_that_load(path: Path) -> list[str]:
    from ferry.runtimes import is_installed, load

    found = []
    for runtime in ("onnxruntime", "openvino"):
        if not is_installed(runtime):
            continue
        try:
            load(path, runtime)
        except FerryError:
            continue
        found.append(runtime)
    return found
