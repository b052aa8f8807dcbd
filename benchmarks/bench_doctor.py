"""Time to a diagnosis with a reference, and how it grows with candidates and photos.

Model: EfficientNet-Lite0 (4.7 M parameters, MobileNet-size, real weights; tests/models/pretrained.py) exported
to ONNX, run in onnxruntime; reference: the same weights as TorchScript with the true contract. Two timings:

- end to end: `diagnose()` as `ferry doctor --reference` runs it (both models loaded, photos decoded, the reference
  run, every generated candidate, resize/layout variants around the three best), wrong contract "imagenet";
- scaling: ranking the first K generated candidates on N photos with a fresh runner (no memoised outputs);
- label-free (no reference), end to end, on the models of tests/doctor: the output signals only (EfficientNet-Lite0
  ONNX), and with BatchNorm evidence (EfficientNet-Lite0 as a torch module, PP-OCRv4 det's ONNX).

Run: .venv/bin/python benchmarks/bench_doctor.py [--label-free | --speed]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "models"), str(ROOT / "tests" / "doctor")]

import cases  # noqa: E402
import pretrained  # noqa: E402

from ferry.doctor import Runner, _rank_reference, diagnose  # noqa: E402
from ferry.doctor.candidates import normalisation_candidates  # noqa: E402
from ferry.images import load_image  # noqa: E402
from ferry.preprocess.contract import Preprocess  # noqa: E402
from ferry.runtimes import load  # noqa: E402

PHOTOS = sorted((ROOT / "examples" / "images").glob("*.jpg"))


def main() -> None:
    onnx, ts = pretrained.efficientnet_lite0_onnx(), pretrained.efficientnet_lite0_torchscript()
    import yaml

    contract = Path("/tmp/ferry_bench_effnet.yaml")
    contract.write_text(yaml.safe_dump(cases.EFFNET_TRUE))
    print("## end to end: diagnose(--reference), wrong contract imagenet")
    print("| photos | candidates ranked | model calls | wall s |")
    for n in (2, 4, 8):
        t = time.perf_counter()
        d = diagnose(onnx, [str(p) for p in PHOTOS[:n]], reference=ts, reference_preprocess=str(contract),
                     preprocess=cases.IMAGENET)
        wall = time.perf_counter() - t
        assert d.confident and d.best.same_function(Preprocess.from_dict(cases.EFFNET_TRUE))
        print(f"| {n} | {len(d.candidates)} | {d.model_calls} | {wall:.2f} |")

    print("\n## scaling: rank K candidates on N photos (fresh runner, models loaded)")
    model, ref = load(onnx), load(ts)
    true = ref.resolve(Preprocess.from_dict(cases.EFFNET_TRUE))
    all_cands = normalisation_candidates(model.resolve(Preprocess.from_dict(cases.IMAGENET)),
                                         model.resolve(Preprocess.from_dict(cases.IMAGENET)))
    print(f"| photos | K=24 s | K=48 s | K={len(all_cands)} s |")
    for n in (2, 4, 8):
        images = [load_image(p) for p in PHOTOS[:n]]
        ref_out = ref.run_reference(images, true)
        row = []
        for k in (24, 48, len(all_cands)):
            runner = Runner(model, images)
            t = time.perf_counter()
            _rank_reference(runner, all_cands[:k], ref_out, [])
            row.append(time.perf_counter() - t)
        print(f"| {n} | " + " | ".join(f"{v:.2f}" for v in row) + " |")


def label_free() -> None:
    print("\n## label-free: diagnose() without a reference, wrong contract imagenet, 3 photos")
    print("| model | candidates | BatchNorm evidence | wall s | of which the BatchNorm probe s |")
    rows = [("EfficientNet-Lite0 ONNX", pretrained.efficientnet_lite0_onnx(), cases.EFFNET_TRUE),
            ("EfficientNet-Lite0 torch module", f"{ROOT}/examples/efficientnet_lite0.py:efficientnet_lite0",
             cases.EFFNET_TRUE),
            ("PP-OCRv4 det ONNX", pretrained.ppocr_det_onnx(), cases.PPOCR_TRUE)]
    from ferry.doctor import batchnorm

    for name, path, true in rows:
        spent = [0.0]
        score = batchnorm.Probe.score

        def timed(self, feeds, _score=score, spent=spent):
            t = time.perf_counter()
            try:
                return _score(self, feeds)
            finally:
                spent[0] += time.perf_counter() - t

        batchnorm.Probe.score = timed
        try:
            t = time.perf_counter()
            d = diagnose(path, [str(p) for p in PHOTOS[:3]], preprocess={**cases.IMAGENET, "size": true["size"]})
            wall = time.perf_counter() - t
        finally:
            batchnorm.Probe.score = score
        has_bn = "batchnorm" in d.candidates[0].evidence
        print(f"| {name} | {len(d.candidates)} groups | {'yes' if has_bn else 'no'} | {wall:.2f} | {spent[0]:.2f} |")


def speed() -> None:
    """Issue 14's goals, end to end with a reference: <= 5 s for a MobileNet-size model, <= 15 s for a 640x640
    detector on 7 photos. Runs against whichever ferry is on sys.path (PYTHONPATH=OLD/src for the earlier code)."""
    import yaml

    print("| case | photos | candidates ranked | model calls | wall s | winner |")
    contract = Path("/tmp/ferry_bench_effnet.yaml")
    contract.write_text(yaml.safe_dump(cases.EFFNET_TRUE))
    onnx, ts = pretrained.efficientnet_lite0_onnx(), pretrained.efficientnet_lite0_torchscript()
    for n in (4, 8):
        t = time.perf_counter()
        d = diagnose(onnx, [str(p) for p in PHOTOS[:n]], reference=ts, reference_preprocess=str(contract),
                     preprocess=cases.IMAGENET)
        wall = time.perf_counter() - t
        ok = d.confident and d.best.same_function(Preprocess.from_dict(cases.EFFNET_TRUE))
        print(f"| EfficientNet-Lite0 ONNX vs TorchScript | {n} | {len(d.candidates)} | {d.model_calls} | {wall:.2f} "
              f"| {d.candidates[0].candidate.name}{'' if ok else ' (WRONG)'} |")
    det = Path("/tmp/ferry_bench_ppocr640.yaml")
    det.write_text(yaml.safe_dump({**cases.PPOCR_TRAINED, "size": [640, 640]}))
    path = pretrained.ppocr_det_onnx()
    t = time.perf_counter()
    d = diagnose(path, [str(p) for p in PHOTOS[:7]], reference=path, reference_preprocess=str(det),
                 preprocess={**cases.IMAGENET, "size": [640, 640]})
    wall = time.perf_counter() - t
    print(f"| PP-OCRv4 det 640x640 vs itself | 7 | {len(d.candidates)} | {d.model_calls} | {wall:.2f} "
          f"| {d.candidates[0].candidate.name} |")


if __name__ == "__main__":
    if sys.argv[1:] == ["--label-free"]:
        label_free()
    elif sys.argv[1:] == ["--speed"]:
        speed()
    else:
        main()
