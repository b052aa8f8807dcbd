"""`ferry check` wall time against the bare load + inference of the runtimes it involves (issue 7; run by hand).

    .venv/bin/python benchmarks/bench_check.py [--models classifier,effnet,ppocr] [--images 100,100,20]
                                               [--repeat 3] [--before SRC_DIR] [--profile]

For each model (seeded classifier 48x64, EfficientNet-Lite0 224, PP-OCRv4 det 480x640, all ONNX), `check(model,
[model])`: the source in onnxruntime and the file as a target in onnxruntime, OpenVINO and OpenCV DNN.

Bare, what a hand-written script must do for the same answers: load each (file, runtime) the check involves once
(onnxruntime once: the source and its onnxruntime row are one file in one runtime, and check now loads it once too;
OpenVINO; OpenCV DNN), decode each photo with cv2.imread, preprocess it once with numpy (cv2.resize, channel order,
x * gain + offset, NCHW), and run each runtime once on it (3 inferences a photo, as check makes: the onnxruntime row
reuses the source's run). It compares nothing. Loads are inside both timings, imports outside both.

Each model is timed in a child process that imports everything, warms up both sides on one photo, then alternates
bare and ferry `--repeat` times: medians, and the ratio of the fastest run of each (on a machine shared with other
jobs the fastest runs are the least disturbed). With `--before SRC_DIR` (the `src` folder of another ferry, e.g.
`git archive COMMIT src | tar -x -C DIR`) a second child times that ferry the same way, right before this one for
each model, so before and after ratios come from one run. `--profile` prints a pyinstrument profile of one ferry
check per model (pyinstrument is optional: `pip install pyinstrument`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "models"))

CHILD = r'''
import json, os, statistics, sys, time
os.environ["ORT_DISABLE_TELEMETRY"] = "1"
src, model, photos_file, contract_json, repeat, batch, profile = sys.argv[1:8]
sys.path.insert(0, src)
photos = json.load(open(photos_file))
contract = json.loads(contract_json)
import numpy as np, cv2, onnxruntime as ort, openvino as ov
import ferry
assert ferry.__file__.startswith(src), (ferry.__file__, src)
from ferry.check import check
from ferry.preprocess.contract import load_contract

def bare(photos):
    c = load_contract(contract)
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    h, w = c.size or inp.shape[2:4]
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    net = cv2.dnn.readNetFromONNX(model)
    gain, offset = c.affine()
    g, o = np.float32(gain), np.float32(offset)
    for p in photos:
        x = cv2.resize(cv2.imread(p), (w, h))
        x = x[:, :, ::-1] if c.color == "RGB" else x
        x = (x.astype(np.float32) * g + o).transpose(2, 0, 1)[None].copy()
        sess.run(None, {inp.name: x})
        compiled(x)
        net.setInput(x)
        net.forward()

def with_ferry(photos):
    res = check(model, [model], photos, preprocess=contract, batch=int(batch))
    assert res.passed, [(t.runtime, t.passed) for t in res.targets]

bare(photos[:1]); with_ferry(photos[:1])
if profile == "1":
    from pyinstrument import Profiler
    prof = Profiler(interval=0.001)
    prof.start(); with_ferry(photos); prof.stop()
    print(prof.output_text(unicode=False, color=False), file=sys.stderr)
b, f = [], []
for _ in range(int(repeat)):
    t0 = time.perf_counter(); bare(photos); b.append(time.perf_counter() - t0)
    t0 = time.perf_counter(); with_ferry(photos); f.append(time.perf_counter() - t0)
print(json.dumps({"bare": statistics.median(b), "ferry": statistics.median(f), "bare_min": min(b),
                  "ferry_min": min(f)}))
'''


def models() -> dict[str, tuple[str, Path, dict]]:
    import pretrained
    import torch_models

    return {"classifier": ("seeded classifier 48x64", torch_models.onnx_path("classifier"),
                           {"preset": "imagenet", "size": [48, 64]}),
            "effnet": ("EfficientNet-Lite0 224", pretrained.efficientnet_lite0_onnx(), pretrained.EFFNET_CONTRACT),
            "ppocr": ("PP-OCRv4 det 480x640", pretrained.ppocr_det_onnx(),
                      {**pretrained.PPOCR_DET_CONTRACT, "size": [480, 640]})}


def child(src: Path, model: Path, photos: list[Path], contract: dict, args, work: Path) -> dict:
    pf = work / "photos.json"
    pf.write_text(json.dumps([str(p) for p in photos]))
    out = subprocess.run([sys.executable, "-c", CHILD, str(src), str(model), str(pf), json.dumps(contract),
                          str(args.repeat), str(args.batch), "1" if args.profile else "0"],
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"child failed ({src}):\n{out.stderr[-3000:]}")
    if args.profile:
        print(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="classifier,effnet,ppocr")
    ap.add_argument("--images", default="100,100,20", help="photos per model, in --models order")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8, help="check's --batch (its default: 8)")
    ap.add_argument("--before", type=Path, help="the src folder of another ferry, timed alternately")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    pool = sorted((ROOT / "examples" / "images").glob("*.jpg"))
    known = models()
    names = [m for m in args.models.split(",") if m]
    counts = [int(c) for c in args.images.split(",")]
    sides = [("after", ROOT / "src")] + ([("before", args.before.resolve())] if args.before else [])
    print("| model | photos | ferry | bare s | ferry check s | ratio | ratio of fastest runs |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, n in zip(names, counts + counts[-1:] * len(names), strict=False):
            label, model, contract = known[name]
            photos = (pool * (n // len(pool) + 1))[:n]
            for side, src in sides[::-1]:  # before first, when given: the order is the same for every model
                r = child(src, model, photos, contract, args, Path(tmp))
                print(f"| {label} | {n} | {side} | {r['bare']:.3f} | {r['ferry']:.3f} | "
                      f"{r['ferry'] / r['bare']:.2f} | {r['ferry_min'] / r['bare_min']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
