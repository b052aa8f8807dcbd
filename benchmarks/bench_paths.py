"""Every deployment path of three models of different size, timed from a 1080p photo, twice (run by hand).

    .venv/bin/python benchmarks/bench_paths.py [--iterations 30] [--photos 4] [--json out.json]

Models: the seeded classifier (48x64, 7k parameters), EfficientNet-Lite0 (224x224, 4.7 M, real weights) and the
PP-OCRv4 text detector (480x640 here, 3.8 M, real weights). Photos: the bundled ones upscaled to 1920x1080
(INTER_CUBIC), what a camera app hands over. Each runtime's paths run in a child process of their own
(`ferry.bench`). The whole bench runs twice: the recommendation of run 1 is then compared with the fastest
passing path of run 2 (goal, issue 7: within 5%), which says whether the choice survives the machine's noise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "models"))


def photos_1080p(dest: Path, count: int) -> list[Path]:
    import cv2

    src = sorted((ROOT / "examples" / "images").glob("*.jpg"))[:count]
    out = []
    for p in src:
        img = cv2.resize(cv2.imread(str(p)), (1920, 1080), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(dest / p.name), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
        out.append(dest / p.name)
    return out


def models() -> list[tuple[str, Path, object]]:
    import pretrained
    import torch_models

    from ferry.preprocess.contract import load_contract

    ppocr = load_contract(pretrained.PPOCR_DET_CONTRACT).replace(size=(480, 640))
    return [("seeded classifier 48x64", torch_models.onnx_path("classifier"), "imagenet"),
            ("EfficientNet-Lite0 224x224", pretrained.efficientnet_lite0_onnx(), pretrained.EFFNET_CONTRACT),
            ("PP-OCRv4 det 480x640", pretrained.ppocr_det_onnx(), ppocr)]


def main() -> None:
    from ferry.bench import bench

    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--photos", type=int, default=4)
    ap.add_argument("--json")
    args = ap.parse_args()
    report = []
    with tempfile.TemporaryDirectory() as tmp:
        photos = photos_1080p(Path(tmp), args.photos)
        for name, path, contract in models():
            runs = [bench([path], photos, preprocess=contract, warmup=args.warmup, iterations=args.iterations)
                    .models[0] for _ in range(2)]
            first, second = runs
            print(f"\n## {name} ({len(photos)} photos 1920x1080, batch 1)")
            print("| path | load ms | first ms | p50 ms | p90 ms | p99 ms | img/s | parity (max abs) | run 2 p50 ms |")
            print("|---|---|---|---|---|---|---|---|---|")
            again = {p.id: p for p in second.paths}
            for p in first.paths:
                if p.error:
                    print(f"| {p.id} | error: {p.error[:80]} |")
                    continue
                s, worst = p.stats, max(o["max_abs"] or 0.0 for o in p.parity)
                mark = " **(recommended)**" if p.id == first.recommendation.path else ""
                q = again[p.id].stats
                print(f"| {p.id}{mark} | {p.load_ms:.0f} | {p.first_ms:.1f} | {s.p50_ms:.2f} | {s.p90_ms:.2f} | "
                      f"{s.p99_ms:.2f} | {s.throughput_ips:.0f} | {'pass' if p.parity_passed else 'FAIL'} "
                      f"({worst:.2g}) | {q.p50_ms:.2f} |" if q else "")
            mem = ", ".join(f"{m.runtime} {m.peak_rss_mb:.0f} MiB (base {m.base_rss_mb:.0f})" for m in first.memory)
            print(f"\npeak RSS per runtime: {mem}")
            rec = first.recommendation.path
            passing2 = [p for p in second.paths if p.parity_passed and p.stats]
            best2 = min(passing2, key=lambda p: p.stats.per_image_ms)
            ratio = again[rec].stats.per_image_ms / best2.stats.per_image_ms if rec else float("nan")
            print(f"recommended (run 1): {rec}; run 2 fastest passing: {best2.id}; run 1's choice in run 2: "
                  f"{ratio:.3f}x the fastest passing ({'within' if ratio <= 1.05 else 'NOT within'} 5%)")
            for note in first.notes:
                print(f"note: {note}")
            report.append({"model": name, "runs": [r.to_dict() for r in runs], "ratio_run2": ratio})
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
