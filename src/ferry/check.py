"""`ferry check`: the same raw photos through the source (reference contract) and through each target's own path.

    image --reference contract--> source model --> outputs_ref
    image --target's own path---> target model --> outputs_tgt    (embedded preprocessing or native call)

Feeding the target a tensor ferry preprocessed would prove nothing about the deployment, so every target starts
from the decoded image. Models load once; photos stream through in small batches so memory stays flat.

Next to the tensor comparison, the task comparison (`ferry.compare.task`) decodes both sides' answers. The verdict:
- classify / segment: the target must pass both. The tensor check catches what keeps the answer for now (a BGR
  swap that keeps the top-1 class); the task check says what a user would see change.
- detect: the detection outputs (boxes, scores, classes, masks, count) are judged by task only, because runtimes
  may return the same detections in another order or pad differently, which a tensor diff calls a failure; any
  other output of a detector is still judged by tensor.
- none (or nothing recognised by auto): tensor only, as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ferry.compare import fair
from ferry.compare.task import TASKS, TaskComparison, TaskPlan, pick_task, task_accumulator
from ferry.compare.tensor import (
    DEFAULT_ATOL,
    DEFAULT_RTOL,
    Accumulator,
    OutputComparison,
    compare_arrays,
    match_outputs,
)
from ferry.errors import RUN_FAILED, FerryError
from ferry.preprocess.contract import Preprocess, load_contract
from ferry.runtimes import available_runtimes, get_runtime, load
from ferry.runtimes.base import Model, fixed_batch, padded


@dataclass
class TargetResult:
    path: str
    runtime: str
    passed: bool
    outputs: list[OutputComparison] = field(default_factory=list)
    preprocess_path: str = ""  # "embedded" or "native"
    notes: list[str] = field(default_factory=list)
    task: TaskComparison | None = None
    tensor_passed: bool = True  # every output within tensor tolerance (detection outputs included)
    bisect: dict[str, Any] | None = None  # ferry.bisect's finding, with --bisect on a failing ONNX/OpenVINO pair
    error: str | None = None  # this runtime could not load the target (the others still report)
    precision: dict[str, Any] | None = None  # what the file computes in (ferry.precision), and the rule it was held to
    calibration_overlap: dict[str, int] | None = None  # int8 from ferry convert: check photos it was calibrated on

    def to_dict(self) -> dict[str, Any]:
        d = {"path": self.path, "runtime": self.runtime, "passed": self.passed,
             "preprocess_path": self.preprocess_path,
             "outputs": [o.to_dict() for o in self.outputs], "notes": self.notes,
             "tensor_passed": self.tensor_passed, "task": self.task.to_dict() if self.task else None}
        if self.bisect is not None:
            d["bisect"] = self.bisect
        if self.error is not None:
            d["error"] = self.error
        if self.precision is not None:
            d["precision"] = self.precision
        if self.calibration_overlap is not None:
            d["calibration_overlap"] = self.calibration_overlap
        return d


@dataclass
class Sample:
    """One photo kept for the report: what the model saw (resized u8 BGR) and every side's outputs."""

    image: str
    view: np.ndarray
    source: dict[str, np.ndarray]
    targets: list[dict[str, np.ndarray]]  # per target, keyed by the reference's output names
    first: bool = True  # one of the first `keep` photos (else kept because a target first fails on it)


@dataclass
class CheckResult:
    passed: bool
    source: str
    source_runtime: str
    preprocess: Preprocess
    images: list[str]
    targets: list[TargetResult]
    notes: list[str] = field(default_factory=list)
    plan: TaskPlan | None = None
    threshold: float = 0.5
    labels: list[str] | None = None
    samples: list[Sample] = field(default_factory=list)  # kept photos (keep=N), for the report; not in JSON

    def to_dict(self) -> dict[str, Any]:
        task = None
        if self.plan is not None:
            task = {**self.plan.to_dict(), "threshold": self.threshold}
        return {"passed": self.passed, "source": self.source, "source_runtime": self.source_runtime,
                "preprocess": self.preprocess.to_dict(), "images": self.images,
                "targets": [t.to_dict() for t in self.targets], "notes": self.notes, "task": task}


def stated_labels(source: Model) -> list[str] | None:
    """Class names the source file records (an Ultralytics export's `names`), used when --labels is not given."""
    from ferry.formats import ONNX

    if source.format != ONNX:
        return None
    from ferry.runtimes.onnxruntime import file_facts

    labels = file_facts(source.path).labels
    return list(labels) if labels else None


def stated_task(source: Model) -> str | None:
    """The task the source file records (an Ultralytics export's `task`), which --task auto follows first."""
    from ferry.formats import ONNX

    if getattr(source, "format", None) != ONNX:
        return None
    from ferry.runtimes.onnxruntime import file_facts

    return file_facts(source.path).task


def task_hint(source: Model) -> str | None:
    """What --task auto follows first: the task the file states, else its exporter's family ("yolov5": a head with
    an objectness column)."""
    from ferry.formats import ONNX

    if getattr(source, "format", None) != ONNX:
        return None
    from ferry.runtimes.onnxruntime import file_facts

    facts = file_facts(source.path)
    return facts.task or facts.family


def resolve_contract(source: Model, preprocess: str | Path | dict | Preprocess | None) -> Preprocess:
    """--preprocess if given, else the contract embedded in SOURCE, else a clear request for one."""
    if preprocess is not None:
        return load_contract(preprocess)
    if source.embedded is not None:
        return source.embedded
    if source.declared is not None:
        return source.declared
    declared = get_runtime(source.runtime).read_preprocess(source.path)
    if declared is not None:
        return declared
    recorded = _manifest_contract(Path(source.path))
    if recorded is not None:
        return recorded
    raise FerryError(f"{source.path}: carries no preprocessing contract; pass --preprocess PRESET_OR_FILE "
                     "(imagenet, caffe, tf, unit, raw, or a YAML file)")


def _manifest_contract(path: Path) -> Preprocess | None:
    """The contract `ferry convert` recorded in the ferry.json beside `path` when it lists `path` as one of its
    targets (ferry.convert.manifest.find_entry): a file that cannot carry its contract (the opencv target's plain
    ONNX) is still benched and checked as convert made it. The layout is left to the file (a TFLite source's NHWC
    contract, an ONNX target's own input)."""
    from ferry.convert.manifest import find_entry

    try:
        found = find_entry(path)
    except (OSError, FerryError):  # an unreadable ferry.json states nothing: the one-line request for a contract
        return None
    return None if found is None else found[0].replace(layout=None)


# Photos decoded and compared together, whatever `batch` (photos per runtime call) says: comparing them as rows of
# one array is what keeps a tiny model's check near its bare inference (issue 7: at --batch 1 the classifier's
# comparisons, photo by photo, cost 1.26x bare). Eight decoded photos is the memory check always held at its default.
PHOTOS_PER_GROUP = 8


def _chunk_size(model: Model, batch: int) -> int:
    """Images per run. OpenCV DNN 4.14 gets batches wrong on real models (EfficientNet-Lite0: a Gemm shape error
    at 8 images; torch's flatten(2).transpose(1, 2): wrong values at 8), and apps feed it one frame at a time, so
    it gets one image per run: a batch bug in OpenCV must not read as a conversion bug."""
    shape = model.image_input.shape
    if model.runtime == "opencv":
        return 1
    fixed = fixed_batch(model)
    if fixed:
        return fixed
    return 1 if shape and shape[0] == 1 else batch


def split_outputs(out: dict[str, np.ndarray], n: int) -> list[dict[str, np.ndarray]]:
    """Per-image outputs from one call on n images (an output without a batch of n is shared). A time-major output
    [T, n, C] (a CRNN's, torch's nn.LSTM default) is split on its second axis: slicing the first cut it into time
    steps, or shared the whole batch with every photo."""
    def part(v: np.ndarray, j: int) -> np.ndarray:
        if v.ndim and v.shape[0] == n:
            return v[j:j + 1]
        if n > 1 and v.ndim == 3 and v.shape[1] == n:
            return v[:, j:j + 1]
        return v

    return [{k: part(v, j) for k, v in out.items()} for j in range(n)]


def run_per_image(run, model: Model, images: list[np.ndarray], batch: int) -> list[dict[str, np.ndarray]]:
    """Per-image outputs, running as many images at once as the model's batch dimension allows."""
    step = _chunk_size(model, batch)  # a batch fixed above 1 is the step (OpenCV aside): the last call padded to it
    fixed = fixed_batch(model) if model.runtime != "opencv" else None
    per_image: list[dict[str, np.ndarray]] = []
    for i in range(0, len(images), step):
        chunk = images[i:i + step]
        full = padded(chunk, fixed)
        per_image.extend(split_outputs(run(full), len(full))[:len(chunk)])
    return per_image


def check(
    source: str | Path,
    targets: list[str | Path | tuple[str | Path, str]],
    images: list[str | Path],
    preprocess: str | Path | dict | Preprocess | None = None,
    target_preprocess: str | Path | dict | Preprocess | None = None,
    runtimes: list[str] | None = None,
    atol: dict[str, float] | None = None,
    rtol: dict[str, float] | None = None,
    batch: int = 8,
    progress=None,
    task: str | None = "auto",
    threshold: float = 0.5,
    labels: str | Path | list[str] | None = None,
    keep: int = 0,
    bisect: bool = False,
    workers: int = 1,
    ray: bool = False,
    ray_photos: str = "auto",
    save_reference: str | Path | None = None,
    force: bool = False,
    _collect: bool = False,
) -> CheckResult:
    """Compare every output of every (target, runtime) with the source on the same photos, as tensors and as
    answers (`task`: auto, classify, segment, detect, none; `threshold`: binary masks and detection scores).

    A target is a path (checked in every installed runtime that loads it, or those in `runtimes`) or a
    (path, runtime) pair (checked in that runtime only).

    `keep` photos are kept with every side's outputs for `ferry.report.html`; `labels` (a file or a list) names
    classes there. `bisect` looks for the first layer that parts on each failing ONNX/OpenVINO target.
    `workers` > 1 splits the photos into that many contiguous shards, each checked in its own process (spawned, so
    no runtime's threads are forked), and merges the accumulators: the same verdict and metrics as one process.
    `ray` runs those shards as Ray tasks instead (`ferry.ray_check`: the cluster RAY_ADDRESS names, else a local Ray
    started for the call); `ray_photos` says how the tasks get the photos (auto, paths, send)."""
    from ferry.decode.labels import load_labels
    from ferry.images import image_files, load_image

    if not 0.0 <= float(threshold) <= 1.0:
        raise FerryError(f"--threshold {threshold}: must be between 0 and 1")
    names = list(labels) if isinstance(labels, list) else load_labels(labels)
    if (task or "auto").lower() not in TASKS:  # bad input before any model loads
        raise FerryError(f"--task {task}: unknown task; use one of {', '.join(TASKS)}")
    atol = atol or {}
    rtol = rtol or {}
    files = image_files(list(images))  # cheap: a missing photo is reported before any model loads
    if workers < 1:
        raise FerryError(f"--workers {workers}: give 1 or more")
    from ferry import reference_store as store

    saved = store.is_reference(source)
    src = store.open_reference(source) if saved else load(source)
    if names is None:
        names = src.labels if saved else stated_labels(src)
    if saved and (bisect or save_reference):
        raise FerryError(f"{source}: a saved reference has no model to bisect or save again; drop --bisect "
                         "and --save-reference")
    if save_reference and (workers > 1 or ray):
        raise FerryError("--save-reference writes from one process: drop --workers and --ray for it")
    if saved and not _collect:
        said = store.subset_note(src, files)  # a photo not in DIR: exit 2 naming it, before any target loads
        if said:
            src.notes.append(said)
    if saved:
        store.refuse_other_contract(src, preprocess)  # the saved outputs were made with DIR's contract
    contract = src.resolve(resolve_contract(src, preprocess))
    tgt_contract_spec = load_contract(target_preprocess) if target_preprocess is not None else None
    if ray or (workers > 1 and len(files) > 1):
        if keep or bisect:
            raise FerryError("--report and --bisect need the photos in one process: drop --workers and --ray for them")
        shared = CheckOptions(source=source, targets=targets, contract=contract, tgt_contract=tgt_contract_spec,
                              runtimes=runtimes, atol=atol, rtol=rtol, batch=batch, task=task, threshold=threshold)
        if ray:
            from ferry.ray_check import ray_runner

            runner = ray_runner(ray_photos)
        else:
            runner = _process_pool
        return _check_parallel(shared, files, names, min(workers, len(files)), progress, src, runner)
    pairs: list[Model] = []
    unloadable: list[TargetResult] = []
    for target in targets:
        t, only = (target[0], [target[1]]) if isinstance(target, tuple) else (target, runtimes)
        can = available_runtimes(t)
        chosen = [r for r in can if only is None or r in only]
        if not chosen:
            want = ", ".join(only) if only else "any installed runtime"
            runs_in = ", ".join(can) or "no installed runtime"
            raise FerryError(f"{t}: none of {want} can load it; it runs in {runs_in}")
        for r in chosen:
            if r == src.runtime and Path(t).resolve() == Path(src.path).resolve():
                pairs.append(src)  # one load per (file, runtime): the source's own session serves this row too
                continue
            try:
                pairs.append(load(t, r))
            except FerryError as exc:  # e.g. an op one runtime lacks: the runtimes that can run it still report
                unloadable.append(_error_row(t, r, str(exc), preprocess))
    if unloadable and not pairs:
        raise FerryError(unloadable[0].error)
    same_as_source = {k for k, m in enumerate(pairs) if _same_run(m, src, tgt_contract_spec)}
    accs: list[dict[str, Accumulator] | None] = [None] * len(pairs)
    notes: list[list[str]] = [[] for _ in pairs]
    if tgt_contract_spec is not None:
        for k, m in enumerate(pairs):
            if m.embedded is not None:  # the file takes uint8 pixels: only the host resize is the app's to get wrong
                given = m.resolve(tgt_contract_spec)  # the layout is the file's (it takes NHWC pixels)
                same = m.embedded.same_function(given.replace(layout=m.embedded.layout))
                notes[k].append(f"--target-preprocess applies only its size and resize to {Path(m.path).name}: the "
                                "file embeds its own colour order and normalisation and takes uint8 pixels"
                                + ("" if same else ", so what it computes is not the one --target-preprocess gives"))
    plan: TaskPlan | None = None
    tasks: list = [None] * len(pairs)
    samples: list[Sample] = []
    first_bad: list[int | None] = [None] * len(pairs)  # the first photo each target fails on (for --bisect)
    host: dict = {}  # the current batch's host tensors, made once per chunk and resolved contract (_host_run)
    tcontract = tgt_contract_spec or contract
    src_run = _host_run(src, contract, host)
    steps = [_images_per_run(src, contract, batch)] + [_images_per_run(m, tcontract, batch) for m in pairs]
    runs = [None if k in same_as_source else _host_run(m, tcontract, host) if _on_host(m)
            else (lambda ch, m=m: m.run_image(ch, tcontract)) for k, m in enumerate(pairs)]
    group = max(batch, PHOTOS_PER_GROUP)  # photos decoded, run (`batch` a call) and compared together
    broken: dict[int, str] = {}  # target index -> why its runtime failed to run it (the other rows still report)
    writer = store.ReferenceWriter(save_reference, force) if save_reference else None
    try:  # a run that fails midway (a bad photo, Ctrl-C) leaves no partial DIR and no temporary folder
        for start in range(0, len(files), group):
            pixels = [load_image(f) for f in files[start:start + group]]
            host.clear()
            ref = (src.outputs_for(files[start:start + group]) if saved
                   else run_per_image(src_run, src, pixels, steps[0]))
            if writer is not None:
                writer.add(files[start:start + group], ref)
            if plan is None:
                plan = pick_task(task, ref[0], stated=None if saved else task_hint(src))
            outs: list[list[dict[str, np.ndarray]] | None] = []  # per target, per photo
            for k, model in enumerate(pairs):
                run = runs[k]  # None: the source's own run, to the byte: not run twice
                if k in broken:
                    outs.append(None)
                    continue
                try:
                    outs.append(ref if run is None else run_per_image(run, model, pixels, steps[k + 1]))
                except FerryError as exc:  # the file loaded but this runtime cannot run it: its row says so
                    broken[k] = f"{exc} ({RUN_FAILED} on {files[start].name})"
                    outs.append(None)
                    continue
                if accs[k] is None:
                    mapping, matched = match_outputs(list(ref[0]), list(outs[k][0]), ref[0], outs[k][0])
                    notes[k] = notes[k] + matched
                    accs[k] = {t: Accumulator(t, atol.get(t, atol.get("*", DEFAULT_ATOL)),
                                              rtol.get(t, rtol.get("*", DEFAULT_RTOL)), reference_name=r,
                                              user_tolerance=fair.user_set(atol, rtol, t))
                               for t, r in mapping.items()}
                    tasks[k] = task_accumulator(plan, threshold,
                                                **fair.task_tolerances(model.path, plan.task, source=src.path))
                    if tasks[k] is not None and not set(plan.outputs) <= set(mapping.values()):
                        notes[k].append(f"task {plan.task} needs outputs {', '.join(plan.outputs)}; the target lacks "
                                        "some: compared by tensor only")
                        tasks[k] = None
            host.clear()
            batch_outs: list[list[dict[str, np.ndarray]]] = [[] for _ in pixels]  # per photo, per target
            memo: dict = {}  # each reference answer decoded once for all targets (compare.task._decoded)
            for k in range(len(pairs)):  # target by target, the batch's photos as rows (issue 7: per-call overhead)
                col = outs[k]
                if col is None:
                    continue
                for t, acc in accs[k].items():
                    acc.add_batch([r_out[acc.reference_name] for r_out in ref], [t_out[t] for t_out in col])
                by_ref = [{acc.reference_name: t_out[t] for t, acc in accs[k].items()} for t_out in col]
                oks = tasks[k].add_batch(ref, by_ref, memo) if tasks[k] is not None else [True] * len(ref)
                for i, ok in enumerate(oks):
                    if bisect and ok and first_bad[k] is None:  # --bisect wants the first photo that fails at all
                        by_task = set(plan.outputs) if tasks[k] is not None and plan.task == "detect" else set()
                        ok = all(compare_arrays(t, ref[i][a.reference_name], col[i][t], a.atol, a.rtol).passed
                                 for t, a in accs[k].items() if a.reference_name not in by_task)
                    if not ok and first_bad[k] is None:
                        first_bad[k] = start + i
                    batch_outs[i].append(by_ref[i])
            del memo
            if keep:
                _keep_samples(samples, keep, start, files, pixels, ref, batch_outs, first_bad, contract)
            if progress:
                progress(min(start + group, len(files)), len(files))
    except BaseException:
        if writer is not None:
            writer.abandon()
        raise
    for k in same_as_source:
        notes[k].append("the source itself, in the same runtime and path: its outputs are the source's run, reused")
    if broken:  # a target that failed to run is reported like one that failed to load: a row with the reason
        unloadable += [_error_row(pairs[k].path, pairs[k].runtime, broken[k], preprocess) for k in sorted(broken)]
        keep_k = [k for k in range(len(pairs)) if k not in broken]
        if not keep_k:
            raise FerryError(unloadable[0].error)
        pairs, accs, tasks, notes, first_bad = ([xs[k] for k in keep_k]
                                                for xs in (pairs, accs, tasks, notes, first_bad))
    shard = _Shard([(str(m.path), m.runtime, m.embedded is not None, list(m.notes)) for m in pairs], accs, tasks,
                   notes, unloadable, plan, list(src.notes), str(src.path))
    if writer is not None:
        writer.finish(src, contract, plan, names)
        shard.source_notes.append(f"saved reference written: {save_reference}")
    if _collect:
        return shard  # type: ignore[return-value]  # a worker's half-made result, merged by _check_parallel
    results = _results(shard)
    if bisect:
        _bisect_failures(src, pairs, results, files, first_bad, contract, tgt_contract_spec, atol, rtol)
    return _check_result(shard, results, src, contract, files, threshold, names, samples=samples)


def _error_row(target: str | Path, runtime: str, error: str, preprocess) -> TargetResult:
    """The row of a target this runtime could not load, or loaded and could not run: failed, with the reason."""
    return TargetResult(str(target), runtime, False, notes=[], preprocess_path="-",
                        error=error + _load_hint(target, runtime, preprocess))


def _load_hint(target: str | Path, runtime: str, preprocess=None) -> str:
    """What to do about a file this runtime cannot load. OpenCV DNN refuses many dynamic-shape ONNX files that
    `ferry convert --to opencv` makes loadable (ferry.convert.opencv_remedies), so that is named (issue 15), with
    the --preprocess the user gave when it was a preset or a file."""
    if runtime != "opencv":
        return ""
    spec = preprocess if isinstance(preprocess, str | Path) else "CONTRACT"
    return (f"; `ferry convert {target} --to opencv --preprocess {spec}` fixes the input to the contract's size, "
            "infers shapes and simplifies the graph until OpenCV DNN loads it, each step checked")


def _check_result(shard: _Shard, results: list[TargetResult], src: Model, contract: Preprocess, files,
                  threshold: float, names, samples=(), notes=()) -> CheckResult:
    results = [*results, *shard.unloadable]
    for r in results:
        _calibration_overlap(r, files)
    return CheckResult(
        passed=bool(results) and all(r.passed for r in results), source=str(src.path),
        source_runtime=src.runtime, preprocess=contract, images=[str(f) for f in files], targets=results,
        notes=[*shard.source_notes, *notes], plan=shard.plan, threshold=float(threshold), labels=names,
        samples=list(samples),
    )


def _calibration_overlap(row: TargetResult, files) -> None:
    """An int8 file ferry convert made records its calibration photos in the ferry.json beside it: say how many of
    this check's photos were among them (agreement on calibration photos is optimistic)."""
    from ferry.convert.manifest import find_entry
    from ferry.quantize.calibration import overlap, overlap_note

    if row.error is not None:
        return
    manifest = Path(row.path).parent / "ferry.json"
    try:  # ferry convert writes ferry.json after its files: one older than the file is another run's
        if not manifest.is_file() or manifest.stat().st_mtime < Path(row.path).stat().st_mtime:
            return
        found = find_entry(row.path)
    except (FerryError, OSError):  # a ferry.json that is not ours: nothing recorded
        return
    ov = overlap(found[1].calibration, [Path(f) for f in files]) if found else None
    if ov is None:
        return
    row.calibration_overlap = ov
    note = overlap_note(ov)
    if note:
        row.notes.append(note)


@dataclass
class _Shard:
    """What one process accumulated over its photos: everything needed to merge and then build the results."""

    pairs: list[tuple[str, str, bool, list[str]]]  # (path, runtime, embedded?, the model's notes)
    accs: list[dict[str, Accumulator] | None]
    tasks: list
    notes: list[list[str]]
    unloadable: list[TargetResult]
    plan: TaskPlan | None
    source_notes: list[str]
    source: str | None = None  # the source's file: a quantised source makes every row drift (ferry.compare.fair)

    def merge(self, other: _Shard) -> None:
        if [p[:2] for p in other.pairs] != [p[:2] for p in self.pairs]:
            raise FerryError("the worker processes loaded different runtimes; run without --workers")
        for k in range(len(self.pairs)):
            if self.accs[k] is None:
                self.accs[k], self.tasks[k], self.notes[k] = other.accs[k], other.tasks[k], other.notes[k]
                continue
            for name, acc in (other.accs[k] or {}).items():
                if name in self.accs[k]:
                    self.accs[k][name].merge(acc)
            if self.tasks[k] is not None and other.tasks[k] is not None:
                self.tasks[k].merge(other.tasks[k])
        self.plan = self.plan or other.plan


def _same_run(model: Model, src: Model, tgt_contract) -> bool:
    """A target that is the source file in the source's runtime, fed the same way (no embedded or native path of
    its own, no other contract): its outputs are the source's by construction, so they are reused, not recomputed
    (`check model.onnx model.onnx` then costs one inference per photo for that row, not two)."""
    return (tgt_contract is None and model.runtime == src.runtime and model.embedded is None
            and Path(model.path).resolve() == Path(src.path).resolve()
            and type(model).run_image is Model.run_image)


# Images per runtime call, by the size of one image's input tensor (issue 7). Measured on this 2-core machine:
# EfficientNet-Lite0 (224x224x3 = 150k values an image) runs 8 images per call 1.5x faster per image than one by one
# in onnxruntime and OpenVINO; PP-OCRv4 det (480x640x3 = 921k) runs 8 per call 1.4x slower in onnxruntime (its
# activations no longer fit the caches) and 2 per call no faster than one. So a call takes at most this many values.
MAX_VALUES_PER_RUN = 1_500_000


def _images_per_run(model: Model, contract: Preprocess, batch: int) -> int:
    """`batch`, or fewer when that many images of this model's input size would make a slower call (above)."""
    try:
        size = model.resolve(contract).size
    except FerryError:
        return batch  # the run itself reports it, where it always has
    if not size:
        return batch
    return max(1, min(batch, MAX_VALUES_PER_RUN // (size[0] * size[1] * 3)))


def _on_host(model: Model) -> bool:
    """The target is fed by ferry's own host preprocessing (no native call of its runtime's): the base run_image."""
    return type(model).run_image is Model.run_image and type(model).run_reference is Model.run_reference


def _host_run(model: Model, contract: Preprocess, made: dict):
    """`model.run_reference` with the host tensor made once per chunk of photos and resolved contract (issue 7: the
    source and every target fed by the host made the same tensor each; onnxruntime and OpenVINO on one ONNX file
    now share it). `made` is cleared every batch; the images are keyed by identity, which holds while they live."""
    if type(model).run_reference is not Model.run_reference:
        return lambda chunk: model.run_reference(chunk, contract)
    resolved = model.resolve(contract)
    how = (model.embedded is not None, resolved)

    def run(chunk: list[np.ndarray]) -> dict[str, np.ndarray]:
        key = (tuple(id(img) for img in chunk), how)
        if key not in made:
            made[key] = model.host_tensor(chunk, resolved)
        return model.run(model.feed_tensor(made[key]))

    return run


def _results(shard: _Shard) -> list[TargetResult]:
    results: list[TargetResult] = []
    for (path, runtime, embedded, model_notes), acc, extra, tacc in zip(shard.pairs, shard.accs, shard.notes,
                                                                        shard.tasks, strict=True):
        outs = [a.result() for a in (acc or {}).values()]
        precision, fair_notes = fair.apply(path, outs, list((acc or {}).values()),  # reduced precision: its rule
                                           source=shard.source)
        tensor_ok = bool(outs) and all(o.passed for o in outs)
        tres = tacc.result() if tacc is not None else None
        passed = _verdict(outs, tres, shard.plan)
        how = "embedded" if embedded else "native"
        results.append(TargetResult(path, runtime, passed, outs, how, model_notes + extra + fair_notes, task=tres,
                                    precision=precision,
                                    tensor_passed=tensor_ok))
    return results


@dataclass(frozen=True)
class CheckOptions:
    """What every shard of one `check --workers` / `--ray` run shares, as one picklable value (Polygraphy groups its
    arguments the same way): the shards get it whole instead of ten arguments each through the pool and Ray."""

    source: str | Path
    targets: list
    contract: Preprocess  # the source's contract, resolved once by the driver
    tgt_contract: Preprocess | None
    runtimes: list[str] | None
    atol: dict[str, float]
    rtol: dict[str, float]
    batch: int
    task: str | None
    threshold: float


def _check_shard(opts: CheckOptions, files: list[Path], threads: int) -> _Shard:
    """One shard of `check --workers` / `--ray`: its photos, with its share of the cores (FERRY_THREADS), the models
    loaded once. The process pool and the Ray tasks both call this, so their shards are the same computation."""
    from ferry.runtimes.base import set_thread_budget

    set_thread_budget(threads)
    return check(opts.source, opts.targets, files, preprocess=opts.contract, target_preprocess=opts.tgt_contract,
                 runtimes=opts.runtimes, atol=opts.atol, rtol=opts.rtol, batch=opts.batch, task=opts.task,
                 threshold=opts.threshold, _collect=True)


def split_shards(files: list[Path], workers: int) -> list[list[Path]]:
    """`workers` contiguous shards, sizes within one of each other: photo indices stay in order when folded."""
    bounds = [len(files) * i // workers for i in range(workers + 1)]
    return [files[bounds[i]:bounds[i + 1]] for i in range(workers)]


def _process_pool(shared: CheckOptions, shards: list[list[Path]], progress) -> tuple[list[_Shard], str]:
    """The shards in spawned local processes (no runtime's threads are forked), cores / N threads each."""
    import concurrent.futures as cf
    import multiprocessing as mp
    import os

    threads = max(1, (os.cpu_count() or 1) // len(shards))
    total, done = sum(map(len, shards)), 0
    with cf.ProcessPoolExecutor(len(shards), mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(_check_shard, shared, shard, threads) for shard in shards]
        parts: list[_Shard] = []
        for future, shard in zip(futures, shards, strict=True):  # in shard order: photo indices stay in order
            parts.append(future.result())
            done += len(shard)
            if progress:
                progress(done, total)
    return parts, f"checked in {len(shards)} processes ({', '.join(str(len(x)) for x in shards)} photos)"


def _check_parallel(shared: CheckOptions, files, names, workers, progress, src, runner) -> CheckResult:
    """Split, run the shards with `runner` (the process pool or Ray), fold them in shard order with _Shard.merge."""
    shards = split_shards(files, workers)
    parts, how = runner(shared, shards, progress)
    merged = parts[0]
    for part in parts[1:]:
        merged.merge(part)
    return _check_result(merged, _results(merged), src, shared.contract, files, shared.threshold, names,
                         notes=[how])


def _keep_samples(samples, keep, start, files, pixels, ref, batch_outs, first_bad, contract) -> None:
    """Keep the first `keep` photos for the report, and also the first photo each target fails on by task (so a
    report always pictures a failure), at most `keep` more."""
    from ferry.preprocess.reference import resize_batch

    first_fails = {b - start for b in first_bad if b is not None and b >= start}
    base = len([s for s in samples if s.first])
    chosen = [i for i in range(len(pixels)) if base + i < keep or (i in first_fails and len(samples) < 2 * keep)]
    if not chosen:
        return
    views = resize_batch([pixels[i] for i in chosen], contract)
    for v, i in zip(views, chosen, strict=True):
        samples.append(Sample(str(files[start + i]), v, ref[i], batch_outs[i], first=base + i < keep))


def _verdict(outs, tres: TaskComparison | None, plan: TaskPlan | None) -> bool:
    """Tensor and task parity combined (module docstring): detection outputs by task, everything else by tensor."""
    if not outs:
        return False
    if tres is None or plan is None:
        return all(o.passed for o in outs)
    if plan.task == "detect":
        rest = [o for o in outs if (o.reference_name or o.name) not in plan.outputs]
        return tres.passed and all(o.passed for o in rest)
    return tres.passed and all(o.passed for o in outs)


def _bisect_failures(src, pairs, results, files, first_bad, contract, tcontract, atol, rtol) -> None:
    """Run ferry.bisect on each failing target, on the first photo it fails on."""
    from ferry.bisect import bisect_models
    from ferry.images import load_image

    for k, (model, res) in enumerate(zip(pairs, results, strict=True)):
        if res.passed:
            continue
        idx = first_bad[k]
        if idx is None:
            bad = [o for o in res.outputs if not o.passed]
            idx = 0 if bad else None
        if idx is None:
            continue
        try:
            found = bisect_models(src, model, load_image(files[idx]), contract, tcontract or contract,
                                  atol=atol.get("*", DEFAULT_ATOL), rtol=rtol.get("*", DEFAULT_RTOL))
        except FerryError as exc:
            res.bisect = {"found": False, "reason": str(exc)}
            continue
        found["image"] = str(files[idx])
        res.bisect = found
