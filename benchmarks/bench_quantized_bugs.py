"""Issue 17's proof that the fair verdict still fails real bugs in quantized files of a real model (run by hand;
results in benchmarks/README.md, "Reduced precision: the bugs still fail", and benchmarks/results/quantized_bugs.json).

    .venv/bin/python benchmarks/bench_quantized_bugs.py [--out DIR] [--targets onnx,openvino,tflite,coreml]

EfficientNet-Lite0 (examples/efficientnet_lite0.py:build, its contract RGB (x-127)/128) is converted by `ferry
convert --precision` to int8 (ONNX QDQ, OpenVINO NNCF, TFLite full integer) and fp16 (Core ML, ONNX, OpenVINO) as
a user would make it, then with each bug a user makes:
- the contract built in wrong: RGB/BGR swapped, std left out, the photo inverted (255 - x: a polarity slip), each
  given to convert as `--preprocess` so the wrong contract is embedded in (or recorded with) the file;
- a damaged weight: the classifier's weight x1.5 in the torch source before it is converted (the smallest damage the
  mutation suite injects on int8; x1.1 on fp16 targets too).
Every file is then checked against the correct torch source under the true contract (`ferry check`, the fair verdict
of its precision). A correct file must pass and every bugged one must fail.
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
CONTRACT = {"color": "RGB", "size": [224, 224], "scale": 1.0, "mean": [127.0] * 3, "std": [128.0] * 3,
            "layout": "NCHW"}
BUGS = {
    "correct": CONTRACT,
    "RGB/BGR swapped": {**CONTRACT, "color": "BGR"},
    "std left out": {**CONTRACT, "std": [1.0] * 3},
    "photo inverted": {**CONTRACT, "scale": -1.0, "mean": [127.0 - 255.0] * 3},
}
PRECISIONS = {"onnx": ("int8", "fp16"), "openvino": ("int8", "fp16"), "tflite": ("int8",), "coreml": ("fp16", "int8")}


def photos() -> list[Path]:
    return sorted((ROOT / "examples" / "images").glob("*.jpg"))


def damaged(factor: float):
    """The real model with its classifier weight scaled: a wrong checkpoint deployed as the model."""
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location("effnet", ROOT / "examples" / "efficientnet_lite0.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    module, example = mod.build()
    linear = [m for m in module.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        linear.weight.mul_(factor)
    return module, example


def made(out: Path, case: str, contract: dict, targets: list[str], source: str) -> list:
    from ferry.convert import convert

    precisions = sorted({p for t in targets for p in PRECISIONS[t]})
    m = convert(source, to=",".join(targets), preprocess=contract, outdir=out, images=photos(),
                precision=",".join(precisions), force=True, name="effnet", check=False)
    return [t for t in m.targets if t.path and t.reachable and t.precision in PRECISIONS[t.format]]


HOST_APPLIED = ("tflite",)  # the contract is metadata the app reads, not part of the graph


def judged(target, case: str, contract: dict) -> dict:
    """The file checked against the torch source under the true contract. A TFLite file's contract is applied by
    the app, which feeds what convert was told (the wrong contract of the case): its check is fed that, as
    tests/quantize does; an embedded contract (ONNX nodes, OpenVINO PPP, Core ML ImageType) is in the file."""
    from ferry.check import check

    host = contract if target.format in HOST_APPLIED and contract != CONTRACT else None
    res = check(SOURCE, [(target.path, target.runtime)], photos(), preprocess=CONTRACT, target_preprocess=host)
    row = res.targets[0]
    m = row.task.metrics if row.task else {}
    worst = max((o.spread_error for o in row.outputs if o.spread_error == o.spread_error), default=None)
    return {"case": case, "format": target.format, "precision": target.precision, "runtime": target.runtime,
            "kind": (row.precision or {}).get("kind"), "passed": row.passed, "top1": m.get("top1_agreement"),
            "prob_delta": m.get("max_prob_delta"), "spread_error": worst,
            "reason": (row.task.reason if row.task and row.task.reason else None)
            or next((o.reason for o in row.outputs if not o.passed), None) or row.error}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "out" / "bench-quantized-bugs"))
    ap.add_argument("--targets", default="onnx,openvino,tflite,coreml")
    args = ap.parse_args()
    targets = args.targets.split(",")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    rows = []
    cases = [(case, c, SOURCE) for case, c in BUGS.items()]
    here = Path(__file__).resolve()
    cases += [(f"weight x{f}", CONTRACT, f"{here}:damaged_{str(f).replace('.', '_')}") for f in (1.1, 1.5)]
    for case, contract, source in cases:
        out = Path(args.out) / case.replace("/", "-").replace(" ", "_")
        for t in made(out, case, contract, targets, source):
            r = judged(t, case, contract)
            print(json.dumps(r), flush=True)
            rows.append(r)
    dest = ROOT / "benchmarks" / "results" / "quantized_bugs.json"
    if dest.is_file():  # a run on some targets keeps the other targets' rows of the last run
        rows = [r for r in json.loads(dest.read_text()) if r["format"] not in targets] + rows
    dest.write_text(json.dumps(rows, indent=2) + "\n")
    print(table(rows))


def damaged_1_1():
    return damaged(1.1)


def damaged_1_5():
    return damaged(1.5)


def table(rows: list[dict]) -> str:
    cases = list(dict.fromkeys(r["case"] for r in rows))
    files = list(dict.fromkeys((r["format"], r["precision"]) for r in rows))
    lines = ["| file | " + " | ".join(cases) + " |", "|---|" + "---|" * len(cases)]
    for fmt, prec in files:
        cells = []
        for c in cases:
            r = next((x for x in rows if x["case"] == c and (x["format"], x["precision"]) == (fmt, prec)), None)
            if r is None:
                cells.append("-")
                continue
            top1 = f"{r['top1']:.0%}" if r["top1"] is not None else "-"
            err = f"{r['spread_error']:.3g}" if r["spread_error"] is not None else "-"
            cells.append(f"{'pass' if r['passed'] else 'FAIL'} ({err}, {top1})")
        lines.append(f"| {fmt} {prec} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
