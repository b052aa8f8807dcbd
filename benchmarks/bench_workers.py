"""`ferry check --workers N` and `--ray`: wall time by worker count, process pool and Ray side by side.

    .venv/bin/python benchmarks/bench_workers.py [PHOTOS]

EfficientNet-Lite0 (ONNX) in onnxruntime and OpenVINO against onnxruntime, on PHOTOS copies of the bundled photos
(default 120). Rows: one process; the process pool at 2 workers; Ray at 1 and 2 tasks
on a local Ray started once before the timed runs (`ray.init(num_cpus=cores, include_dashboard=False)`, what
`--ray` starts when RAY_ADDRESS is unset), photos read by path, and at 2 tasks with the photos sent through the
object store. "again" repeats the row before it at once: Ray keeps a task's worker process (its imports of ferry,
onnxruntime and OpenVINO) for the next task with the same environment, which the first 2-task row of a round may
not find (the 1-task row's tasks have another FERRY_THREADS). Starting the local Ray is timed on its own, as is one
cold `ferry check --ray` (start, check, shutdown) in a fresh process. Alternated runs, median of 3; every run's
JSON must equal one process's.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "models"))

import pretrained  # noqa: E402

from ferry.check import check  # noqa: E402

MODES = {  # label: check() keyword arguments
    "one process": dict(workers=1),
    "process pool, 2 workers": dict(workers=2),
    "Ray, 1 task": dict(workers=1, ray=True),
    "Ray, 2 tasks": dict(workers=2, ray=True),
    "Ray, 2 tasks, again": dict(workers=2, ray=True),
    "Ray, 2 tasks, photos sent": dict(workers=2, ray=True, ray_photos="send"),
}


def _plain(result) -> str:
    d = result.to_dict()
    d["notes"] = [n for n in d["notes"] if not n.startswith("checked in ")]
    return json.dumps(d)


def _run(model, photos, kwargs):
    t = time.perf_counter()
    r = check(model, [model], photos, preprocess=pretrained.EFFNET_CONTRACT, runtimes=["onnxruntime", "openvino"],
              **kwargs)
    return r, time.perf_counter() - t


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 120
    model = pretrained.efficientnet_lite0_onnx()
    bundled = sorted((ROOT / "examples" / "images").glob("*.jpg"))
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    with tempfile.TemporaryDirectory() as d:
        photos = []
        for i in range(n):
            dest = Path(d) / f"{i:05d}.jpg"
            shutil.copy(bundled[i % len(bundled)], dest)
            photos.append(dest)
        cold = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "ferry.cli", "check", str(model), str(model), "--images",
                               *map(str, photos[:8]), "--preprocess", "imagenet", "--runtimes", "onnxruntime",
                               "--ray", "--workers", "2", "--json"], capture_output=True, text=True,
                              env={k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"})
        cold = time.perf_counter() - cold
        assert proc.returncode in (0, 1), proc.stderr
        import ray

        t = time.perf_counter()
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
        start = time.perf_counter() - t
        times: dict[str, list[float]] = {m: [] for m in MODES}
        want = None
        for _ in range(3):
            for label, kwargs in MODES.items():
                r, dt = _run(model, photos, kwargs)
                assert r.passed, label
                want = want or _plain(r)
                assert _plain(r) == want, f"{label}: JSON differs from one process's"
                times[label].append(dt)
        ray.shutdown()
    base = statistics.median(times["one process"])
    print(f"{os.cpu_count()} cores; local Ray start {start:.1f} s; a cold `ferry check --ray --workers 2` on 8 photos "
          f"(start, check, shutdown) {cold:.1f} s\n")
    print(f"| how | wall ({n} photos) | vs one process | runs |\n|---|---|---|---|")
    for label, ts in times.items():
        m = statistics.median(ts)
        print(f"| {label} | {m:.2f} s | {base / m:.2f}x | {', '.join(f'{x:.2f}' for x in ts)} |")


if __name__ == "__main__":
    main()
