"""fp32 beside int8 (and fp16) of one real model, made by `ferry convert --precision` and timed by `ferry bench` in one
run (run by hand; results in benchmarks/README.md, "Reduced precision: made and timed").

    .venv/bin/python benchmarks/bench_quantized.py [--iterations 50] [--out DIR] [--calibration]

EfficientNet-Lite0 (real ImageNet weights, examples/efficientnet_lite0.py:build, its contract RGB (x-127)/128) is
converted to ONNX, OpenVINO, OpenCV, TFLite and Core ML at fp32 and int8 (Core ML fp16 too), calibrated and checked
on the 10 bundled photos; the accuracy cost of each target comes from its check against torch (ferry.json). Then
every fp32/int8 file is benched in its own runtime, batch 1, on the bundled photos: ratios of median latency per
image, not absolute claims (the machine is shared).

--calibration: how many photos int8 needs. ONNX QDQ calibrated on the first N photos (N = 1, 2, 4, 6, 8, 10),
scored on all 10 and on the held-out ones: top-1 agreement with the float model and the largest logit error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
SOURCE = f"{ROOT / 'examples' / 'efficientnet_lite0.py'}:build"
CONTRACT = ROOT / "examples" / "efficientnet_lite0.yaml"
RUNTIME_OF = {".onnx": "onnxruntime", ".xml": "openvino", ".tflite": "tflite"}


def photos() -> list[Path]:
    return sorted((ROOT / "examples" / "images").glob("*.jpg"))


ALL_TARGETS = "onnx,openvino,opencv,tflite,coreml"


def make(out: Path, targets: str = ALL_TARGETS) -> dict:
    from ferry.convert import convert

    m = convert(SOURCE, to=targets, preprocess=CONTRACT, outdir=out, images=photos(),
                precision="fp32,int8,fp16", force=True, name="effnet")
    return {f"{t.format}/{t.precision}": {"path": t.path, "reachable": t.reachable, "passed": t.passed,
                                          "accuracy": t.accuracy, "reason": t.reason, "route": t.route}
            for t in m.targets}


def timed(made: dict, iterations: int, targets: str = ALL_TARGETS) -> list[dict]:
    from ferry.bench import bench

    rows = []
    for fmt, runtime in (("onnx", "onnxruntime"), ("openvino", "openvino"), ("opencv", "opencv"),
                         ("tflite", "tflite")):
        if fmt not in targets.split(","):
            continue
        files = [made[f"{fmt}/{p}"]["path"] for p in ("fp32", "int8", "fp16")
                 if made.get(f"{fmt}/{p}", {}).get("path")]
        result = bench(files, photos(), runtimes=[runtime], warmup=5, iterations=iterations, preprocess=CONTRACT)
        for mb in result.models:
            best = next((p for p in mb.paths if p.id == mb.recommendation.path), None)
            rows.append({"target": fmt, "runtime": runtime, "file": Path(mb.model).name,
                         "precision": mb.verdict.precision, "path": best.id if best else None,
                         "p50_ms": best.stats.per_image_ms if best and best.stats else None,
                         "verdict": mb.verdict.to_dict()})
        rows.append({"target": fmt, "runtime": runtime, "across": result.recommended.to_dict()
                     if result.recommended else None})
    return rows


def calibration_sweep() -> list[dict]:
    import numpy as np
    import onnxruntime as ort

    from ferry.images import image_files
    from ferry.preprocess import load_contract
    from ferry.quantize.calibration import calibration
    from ferry.quantize.onnx import quantize_int8

    sys.path.insert(0, str(ROOT / "tests" / "models"))
    import pretrained

    plain = pretrained.efficientnet_lite0_onnx()
    contract = load_contract(CONTRACT)
    cal = calibration(image_files(photos()), contract)
    s0 = ort.InferenceSession(str(plain))
    name = s0.get_inputs()[0].name
    ref = [s0.run(None, {name: x})[0] for x in cal.tensors]
    rows = []
    for n in (1, 2, 4, 6, 8, 10):
        dest = Path(os.environ.get("TMPDIR", "/tmp")) / f"effnet-calib-{n}.onnx"
        sub = type(cal)(cal.tensors[:n], cal.photos[:n])
        quantize_int8(Path(plain), dest, sub)
        s = ort.InferenceSession(str(dest))
        out = [s.run(None, {name: x})[0] for x in cal.tensors]
        agree = [int(o.argmax() == r.argmax()) for o, r in zip(out, ref, strict=True)]
        err = [float(np.abs(o - r).max()) for o, r in zip(out, ref, strict=True)]
        rows.append({"photos": n, "top1_all": sum(agree) / 10, "max_abs_all": max(err),
                     "top1_held_out": (sum(agree[n:]) / (10 - n)) if n < 10 else None,
                     "max_abs_held_out": max(err[n:]) if n < 10 else None})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=50)
    ap.add_argument("--out", default=str(ROOT / "out" / "bench-quantized"))
    ap.add_argument("--calibration", action="store_true")
    ap.add_argument("--reuse", action="store_true", help="time the files a previous run made in --out")
    ap.add_argument("--targets", default=ALL_TARGETS, help="a subset: the other targets' results are kept")
    args = ap.parse_args()
    results = ROOT / "benchmarks" / "results"
    if args.calibration:
        (results / "quantized_calibration.json").write_text(json.dumps(calibration_sweep(), indent=2) + "\n")
        return
    if args.reuse:
        data = json.loads((Path(args.out) / "ferry.json").read_text())
        made = {f"{t['format']}/{t['precision']}": {k: t.get(k) for k in ("path", "reachable", "passed", "accuracy",
                                                                          "reason", "route")}
                for t in data["targets"]}
    else:
        made = make(Path(args.out), args.targets)
    for k, v in made.items():
        print(k, json.dumps({x: v[x] for x in ("passed", "reachable", "accuracy")}), (v["reason"] or "")[:160],
              flush=True)
    rows = timed(made, args.iterations, args.targets)
    for r in rows:
        print(json.dumps(r), flush=True)
    dest = results / "quantized.json"
    if args.targets != ALL_TARGETS and dest.is_file():  # keep the other targets' rows of the last full run
        old = json.loads(dest.read_text())
        fmts = args.targets.split(",")
        made = {k: v for k, v in old["made"].items() if k.split("/")[0] not in fmts} | made
        rows = [r for r in old["timed"] if r["target"] not in fmts] + rows
    dest.write_text(json.dumps({"made": made, "timed": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
