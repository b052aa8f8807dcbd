"""`ferry bench`: every deployment path of a model, timed the way an app runs it, with parity and a choice.

For each model: the reference outputs come from the model in its own runtime with ferry's reference
preprocessing (what `ferry check` calls the source side), computed once here. Then each runtime's paths run in a
child process of their own (see worker.py): load, first inference, parity against the reference on every photo,
warm-up, timed calls, RSS high-water mark. The recommendation is the fastest path that passes parity.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ferry.bench.paths import PathSpec, plan_paths
from ferry.bench.precision import Verdict, recommend_across, siblings, verdict_of
from ferry.bench.recommend import Recommendation, recommend
from ferry.bench.timing import Method, Stats
from ferry.compare.tensor import DEFAULT_ATOL, DEFAULT_RTOL
from ferry.errors import FerryError
from ferry.preprocess.contract import Preprocess
from ferry.runtimes.base import fixed_batch

Progress = Callable[[str, int, int], None]  # (path id, done, total)


@dataclass
class PathResult:
    id: str
    runtime: str
    preprocess: str
    resize: str
    file: str | None
    what: str
    load_ms: float | None
    first_ms: float | None
    stats: Stats | None
    parity_passed: bool
    parity: list[dict[str, Any]]
    error: str | None
    notes: list[str]
    threads: str | None
    contract: dict[str, Any] | None = None  # set when the path is fed another contract than the bench's

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "runtime": self.runtime, "preprocess": self.preprocess, "resize": self.resize,
                "file": self.file, "what": self.what, "load_ms": self.load_ms, "first_ms": self.first_ms,
                **({k: v for k, v in self.stats.to_dict().items()} if self.stats else {}),
                "parity": {"passed": self.parity_passed, "outputs": self.parity}, "error": self.error,
                "notes": self.notes, "threads": self.threads, "contract": self.contract}


@dataclass
class RuntimeMemory:
    runtime: str
    import_ms: float | None
    base_rss_mb: float | None  # the child before the runtime is imported (Python, numpy, ferry)
    peak_rss_mb: float | None  # its high-water mark after every path of this runtime ran
    isolated: bool

    def to_dict(self) -> dict[str, Any]:
        return {"runtime": self.runtime, "import_ms": self.import_ms, "base_rss_mb": self.base_rss_mb,
                "peak_rss_mb": self.peak_rss_mb, "isolated": self.isolated}


@dataclass
class ModelBench:
    model: str
    format: str
    contract: Preprocess
    reference: str
    images: list[str]
    paths: list[PathResult]
    memory: list[RuntimeMemory]
    recommendation: Recommendation
    notes: list[str] = field(default_factory=list)
    verdict: Verdict = field(default_factory=lambda: Verdict("unknown", None, None, "not known"))

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "format": self.format, "preprocess": self.contract.to_dict(),
                "reference": self.reference, "images": self.images, "paths": [p.to_dict() for p in self.paths],
                "memory": [m.to_dict() for m in self.memory], "recommended": self.recommendation.to_dict(),
                "notes": self.notes, "precision": self.verdict.precision, "verdict": self.verdict.to_dict()}


@dataclass
class BenchResult:
    method: Method
    models: list[ModelBench]
    atol: float
    rtol: float
    machine: dict[str, Any]
    recommended: Recommendation | None = None  # across the benched files (precisions), when there are several

    def to_dict(self) -> dict[str, Any]:
        return {"method": {**self.method.to_dict(), "load": LOAD_NOTE, "parity": PARITY_NOTE,
                           "memory": MEMORY_NOTE, "atol": self.atol, "rtol": self.rtol},
                "machine": self.machine, "models": [m.to_dict() for m in self.models],
                "recommended": self.recommended.to_dict() if self.recommended else None}


LOAD_NOTE = ("load: ferry.runtimes.load in a fresh process after the runtime is imported (the runtime's read/"
             "compile, plus ferry reading embedded preprocessing back from the graph); first: the first call")
PARITY_NOTE = ("every photo through the path, compared with the reference path by ferry's tensor tolerance "
               "(|t - r| <= max(atol * peak|r|, 1e-6) + rtol * |r|)")
MEMORY_NOTE = ("RSS high-water mark (VmHWM) of the child process that ran this runtime's paths; base: that child "
               "with Python, numpy, OpenCV and ferry imported, before the runtime")


def synthetic_frame(seed: int = 0) -> np.ndarray:
    """A 1920x1080 BGR frame with smooth structure (gradients, a few discs) and noise, the same on every call:
    what `ferry bench` times when no photos are given (parity on it is weak; give --images)."""
    rng = np.random.default_rng(seed)
    h, w = 1080, 1920
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([xx / w * 255, yy / h * 255, (xx + yy) / (w + h) * 255], axis=-1)
    for _ in range(6):
        cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(60, 300)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.integers(0, 256, 3)
    img += rng.normal(0, 8, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _machine() -> dict[str, Any]:
    import platform

    return {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}


def bench(
    models: list[str | Path],
    images: list[str | Path] | None = None,
    runtimes: list[str] | None = None,
    batch: int = 1,
    threads: int = 0,
    preprocess: str | Path | dict | Preprocess | None = None,
    warmup: int = 5,
    iterations: int = 50,
    isolate: bool = True,
    progress: Progress | None = None,
    extra_paths: list[PathSpec] | None = None,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
) -> BenchResult:
    """Measure every deployment path of each model (see ferry.bench.paths) and recommend one per model.

    `extra_paths` are measured beside the planned ones (e.g. a path fed a wrong contract: it must fail parity and
    never be recommended). `isolate=False` runs every runtime in this process: faster, but no per-runtime memory."""
    from ferry.images import image_files, load_image

    if batch < 1 or warmup < 0 or iterations < 1 or threads < 0:
        raise FerryError("--batch and --iterations must be at least 1, --warmup and --threads at least 0")
    method = Method(warmup=warmup, iterations=iterations, batch=batch, threads=threads)
    files = image_files(list(images)) if images else []
    pixels = [load_image(f) for f in files] if files else [synthetic_frame()]
    names = [str(f) for f in files] or ["synthetic 1920x1080 frame (seed 0)"]
    given = [f for m in models for f in (convert_output(Path(m)) or [Path(m)])]
    seen = {p.resolve() for p in given}
    added: dict[Path, Path] = {}  # the other precisions convert made of a given file (ferry.json), benched beside it
    for m in given:
        for sib in siblings(m):
            if sib.resolve() not in seen:
                seen.add(sib.resolve())
                added[sib] = m
    results = []
    for m in [*given, *added]:
        verdict = verdict_of(m)
        mb = _bench_model(m, pixels, names, runtimes, method, preprocess, isolate, progress, extra_paths or [],
                          atol, rtol, verdict.precision)
        mb.verdict = verdict
        if m in added:
            mb.notes.append(f"benched beside {added[m].name}: ferry convert made it ({mb.verdict.precision}), "
                            "ferry.json lists it")
        results.append(mb)
    return BenchResult(method, results, atol, rtol, _machine(), recommend_across(results))


def convert_output(folder: Path) -> list[Path]:
    """The files `ferry convert` wrote into `folder` (its ferry.json's reachable targets, each file once, in the
    manifest's order), so `ferry bench ferry-out` benches what convert made; [] when `folder` is not such a folder
    (a SavedModel or .mlpackage directory is a model, not a convert output)."""
    from ferry.convert.manifest import MANIFEST_NAME
    from ferry.runtimes import available_runtimes

    manifest = folder / MANIFEST_NAME
    if not folder.is_dir() or not manifest.is_file() or (folder / "saved_model.pb").exists():
        return []
    try:
        targets = json.loads(manifest.read_text(encoding="utf-8"))["targets"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FerryError(f"{manifest}: not a readable ferry.json ({type(exc).__name__}); convert again") from None
    out: list[Path] = []
    for t in targets:
        if not isinstance(t, dict) or not t.get("path") or not t.get("reachable", True):
            continue
        f = folder / Path(t["path"]).name
        if f.exists() and f.resolve() not in {o.resolve() for o in out}:
            try:
                if available_runtimes(f):
                    out.append(f)
            except FerryError:
                continue  # a file no installed runtime reads (a Core ML package on Linux) is not benched
    if not out:
        raise FerryError(f"{folder}: ferry.json lists no file an installed runtime can run; bench the files by name")
    return out


def _bench_model(model: Path, pixels, names, runtimes, method, preprocess, isolate, progress, extra, atol,
                 rtol, precision: str | None = None) -> ModelBench:
    from ferry.check import resolve_contract
    from ferry.formats import detect_format
    from ferry.runtimes import available_runtimes, load

    fmt = detect_format(model)
    src = load(model)
    contract = src.resolve(resolve_contract(src, preprocess))
    can = available_runtimes(model)
    chosen = [r for r in can if runtimes is None or r in runtimes]
    if not chosen:
        raise FerryError(f"{model}: none of {', '.join(runtimes or [])} can load it; it runs in {', '.join(can)}")
    embedded = src.embedded is not None
    reference_id = f"{src.runtime}/{'in-graph' if embedded else 'host'}"
    notes: list[str] = []
    fixed = fixed_batch(src)
    if fixed and method.batch != fixed:  # the runtime refuses any other count
        method = replace(method, batch=fixed)
        notes.append(f"the model's batch is fixed at {fixed}: timed {fixed} photos a call (--batch ignored)")
    if not names[0] or names[0].startswith("synthetic"):
        notes.append("no --images: timed on a synthetic 1920x1080 frame, parity checked on it alone")
    with tempfile.TemporaryDirectory(prefix="ferry-bench-") as tmp:
        work = Path(tmp)
        specs, plan_notes = plan_paths(model, fmt, embedded, chosen, contract, work)
        notes.extend(plan_notes)
        specs.extend(extra)
        ref = _reference_outputs(src, pixels, contract, method.batch)
        ref_names = list(ref[0])
        np.savez(work / "images.npz", **{str(i): p for i, p in enumerate(pixels)})
        np.savez(work / "reference.npz", **{f"{i}_{k}": o[n] for i, o in enumerate(ref)
                                             for k, n in enumerate(ref_names)})
        del src
        groups: dict[str, list[PathSpec]] = {}
        for s in specs:
            groups.setdefault(s.runtime, []).append(s)
        paths: list[PathResult] = []
        memory: list[RuntimeMemory] = []
        for runtime, group in groups.items():
            job = {"runtime": runtime, "paths": [s.to_dict() for s in group], "model": str(model),
                   "images": str(work / "images.npz"), "reference": str(work / "reference.npz"),
                   "ref_names": ref_names, "contract": contract.to_dict(), "method": method.to_dict(),
                   "atol": atol, "rtol": rtol, "out": str(work / f"result-{runtime}.json"),
                   "precision": precision}
            out = _run_isolated(job, work, progress) if isolate else _run_here(job, progress)
            memory.append(RuntimeMemory(runtime, out.get("import_ms"), out.get("base_rss_mb") if isolate else None,
                                        out.get("peak_rss_mb") if isolate else None, isolate))
            paths.extend(_path_result(d) for d in out["paths"])
    return ModelBench(str(model), fmt, contract, reference_id, names, paths, memory, recommend(paths), notes)


def _reference_outputs(src, pixels, contract, batch) -> list[dict[str, np.ndarray]]:
    from ferry.check import run_per_image

    return run_per_image(lambda chunk: src.run_reference(chunk, contract), src, pixels, batch)


def _path_result(d: dict[str, Any]) -> PathResult:
    stats = None
    if d.get("stats"):
        s = dict(d["stats"])
        s.pop("per_image_ms", None)
        stats = Stats(**s)
    parity = d.get("parity") or {"passed": False, "outputs": []}
    return PathResult(d["id"], d["runtime"], d["preprocess"], d["resize"], d.get("file"), d.get("what", ""),
                      d.get("load_ms"), d.get("first_ms"), stats, bool(parity["passed"]) and not d.get("error"),
                      parity["outputs"], d.get("error"), d.get("notes", []), d.get("threads"), d.get("contract"))


def _run_here(job: dict[str, Any], progress: Progress | None) -> dict[str, Any]:
    from ferry.bench.worker import run_group

    return run_group(job, progress or (lambda *a: None))


def _run_isolated(job: dict[str, Any], work: Path, progress: Progress | None) -> dict[str, Any]:
    job_file = work / f"job-{job['runtime']}.json"
    job_file.write_text(json.dumps(job))
    env = {**os.environ, "ORT_DISABLE_TELEMETRY": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "ferry.bench.worker", str(job_file)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            continue  # a runtime printing to stdout
        if isinstance(msg, list) and msg and msg[0] == "progress" and progress:
            progress(msg[1], msg[2], msg[3])
    err = proc.stderr.read() if proc.stderr else ""
    code = proc.wait()
    out_file = Path(job["out"])
    if code != 0 or not out_file.is_file():
        tail = (err.strip().splitlines() or [f"exit {code}"])[-1][:300]
        why = f"the {job['runtime']} child process failed (exit {code}): {tail}"
        return {"paths": [{**p, "error": why, "parity": None, "stats": None} for p in job["paths"]]}
    return json.loads(out_file.read_text())
