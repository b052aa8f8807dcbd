"""How `ferry check` grows with photo count and model size, against bare load + inference, and its peak memory
(run by hand).

    .venv/bin/python benchmarks/bench_scaling.py [--counts 10,40] [--memory 10,100,1000]

Time: for each model (seeded classifier 48x64, EfficientNet-Lite0 224, PP-OCRv4 det 480x640) and photo count N,
`ferry check MODEL MODEL` at its default `--batch 8` (`--batch 1` with BENCH_BATCH=1; OpenCV DNN gets one photo a
call either way) (source in onnxruntime; targets onnxruntime, OpenVINO, OpenCV DNN)
against a bare script
that decodes each photo with cv2.imread, preprocesses it once with numpy and runs the three runtimes (loads
included in both). Each is a fresh child process (imports excluded: timed from after the imports), alternated,
median of 3. Fit T(N) = fixed + per_photo * N from the two counts, so a large run can be predicted.

Memory: the peak RSS (VmHWM) of a child running check() on 10, 100 and 1,000 photos (the bundled photos resized
to 640x480, 800x600 and 1024x768 in turn, written to a temp dir): flat if photos stream.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "models"))

CHILD = r'''
import json, os, sys, time
os.environ["ORT_DISABLE_TELEMETRY"] = "1"
mode, model, photos_file, contract_json = sys.argv[1:5]
photos = json.load(open(photos_file))
contract = json.loads(contract_json)
import numpy as np, cv2, onnxruntime, openvino
from ferry.check import check
from ferry.preprocess.contract import load_contract
from ferry.bench.memory import peak_rss_mb
t0 = time.perf_counter()
if mode == "ferry":
    res = check(model, [model], photos, preprocess=contract, batch=int(os.environ.get("BENCH_BATCH", "8")))
    ok = res.passed
else:
    import onnxruntime as ort, openvino as ov
    c = load_contract(contract)
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    net = cv2.dnn.readNetFromONNX(model)
    gain, offset = c.affine()
    g, o = np.float32(gain), np.float32(offset)
    h, w = c.size
    for p in photos:
        img = cv2.imread(p)
        x = cv2.resize(img, (w, h))
        x = x[:, :, ::-1] if c.color == "RGB" else x
        x = (x.astype(np.float32) * g + o).transpose(2, 0, 1)[None].copy()
        sess.run(None, {name: x}); compiled(x); net.setInput(x); net.forward()
    ok = True
print(json.dumps({"s": time.perf_counter() - t0, "peak_mb": peak_rss_mb(), "ok": ok}))
'''


def child(mode: str, model: Path, photos: list[Path], contract, work: Path) -> dict:
    pf = work / "photos.json"
    pf.write_text(json.dumps([str(p) for p in photos]))
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(model), str(pf), json.dumps(contract)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def synthetic_photos(dest: Path, n: int) -> list[Path]:
    import cv2

    src = [cv2.imread(str(p)) for p in sorted((ROOT / "examples" / "images").glob("*.jpg"))]
    sizes = [(640, 480), (800, 600), (1024, 768)]
    out = []
    for i in range(n):
        f = dest / f"p{i:05d}.jpg"
        if not f.exists():
            cv2.imwrite(str(f), cv2.resize(src[i % len(src)], sizes[i % 3], interpolation=cv2.INTER_CUBIC))
        out.append(f)
    return out


def models():
    import pretrained
    import torch_models

    ppocr = {**pretrained.PPOCR_DET_CONTRACT, "size": [480, 640]}
    return [("seeded classifier 48x64", torch_models.onnx_path("classifier"),
             {"preset": "imagenet", "size": [48, 64]}),
            ("EfficientNet-Lite0 224", pretrained.efficientnet_lite0_onnx(), pretrained.EFFNET_CONTRACT),
            ("PP-OCRv4 det 480x640", pretrained.ppocr_det_onnx(), ppocr)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--counts", default="10,40")
    ap.add_argument("--memory", default="10,100,1000")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    counts = [int(c) for c in args.counts.split(",") if c]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pool = synthetic_photos(work, max(counts + [int(m) for m in args.memory.split(",") if m]))
        if counts:
            print("| model | photos | bare s | ferry check s | ratio | ferry peak MiB |")
            print("|---|---|---|---|---|---|")
        for name, model, contract in models() if counts else []:
            fits = {}
            for n in counts:
                b, f, peak = [], [], 0.0
                for _ in range(args.repeat):
                    b.append(child("bare", model, pool[:n], contract, work)["s"])
                    r = child("ferry", model, pool[:n], contract, work)
                    assert r["ok"], f"{name}: check did not pass"
                    f.append(r["s"])
                    peak = max(peak, r["peak_mb"])
                mb, mf = statistics.median(b), statistics.median(f)
                fits[n] = (mb, mf)
                print(f"| {name} | {n} | {mb:.3f} | {mf:.3f} | {mf / mb:.2f} | {peak:.0f} |")
            if len(counts) >= 2:
                lo, hi = counts[0], counts[-1]
                for label, k in (("bare", 0), ("ferry check", 1)):
                    per = (fits[hi][k] - fits[lo][k]) / (hi - lo)
                    fixed = fits[lo][k] - per * lo
                    print(f"|   fit {label} | T(N) = {fixed:.3f} s + {per * 1e3:.2f} ms x N | | | | |")
        mem_counts = [int(m) for m in args.memory.split(",") if m]
        if mem_counts:
            name, model, contract = models()[0]
            print(f"\npeak memory of check() on {name}, photos 640x480..1024x768:")
            print("| photos | wall s | peak RSS MiB |")
            print("|---|---|---|")
            for n in mem_counts:
                r = child("ferry", model, pool[:n], contract, work)
                print(f"| {n} | {r['s']:.2f} | {r['peak_mb']:.0f} |")


if __name__ == "__main__":
    main()
