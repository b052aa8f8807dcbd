"""A label-free range signal that input magnitude should not fool, measured: how selective the network's units are.

Under the contract a network was trained on, its rectified units are selective: each channel is on at some places
and photos and off at others. Feed it 255x too much and the first convolution's output is dominated by its
weights' sum times the photo's mean, so a channel is on everywhere or off everywhere; feed it 255x too little and
the biases dominate, with the same result. The question is whether the share of selective channels peaks at the
training range among the conventions closer than that (0..1, -1..1, ImageNet's mean/std), where the output
signals cannot tell. Run by hand (ONNX files; a .tflite goes through tf2onnx first):

    .venv/bin/python benchmarks/doctor_selectivity.py corpus
    .venv/bin/python benchmarks/doctor_selectivity.py FILE.onnx TRUTH.yaml [FILE.onnx TRUTH.yaml ...]

Printed per model: each range's selectivity (mean over rectifier layers of the share of channels on at between
1% and 99% of positions) and the rank of the true range. Measured 2026-12-04 and rejected (benchmarks/README.md):
selectivity grows with input magnitude (small inputs let the biases decide every unit; large ones let the weights),
so it ranks Caffe's 0..255 first on most models, like the output confidence it was meant to replace.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402

from ferry.doctor.candidates import conventions, same_range  # noqa: E402
from ferry.images import load_image  # noqa: E402
from ferry.preprocess.contract import load_contract  # noqa: E402
from ferry.preprocess.reference import preprocess_batch  # noqa: E402
from ferry.runtimes import load  # noqa: E402

RECTIFIERS = {"Relu": 0.0, "Clip": 0.0, "LeakyRelu": 0.0, "PRelu": 0.0, "HardSwish": -3.0}


def _rectifier_inputs(model) -> list[tuple[str, float]]:
    """(tensor, threshold) at the input of each rectifier whose input a Conv (or a BatchNorm after one) makes."""
    made_by = {o: n for n in model.graph.node for o in n.output}
    out = []
    for n in model.graph.node:
        if n.op_type in RECTIFIERS:
            src = made_by.get(n.input[0])
            if src is not None and src.op_type in ("Conv", "BatchNormalization", "Add"):
                out.append((n.input[0], RECTIFIERS[n.op_type]))
    return list(dict.fromkeys(out))


def selectivity(path: str, contracts: list, images: list[np.ndarray], lo: float = 0.01) -> list[dict]:
    import onnx
    import onnxruntime as ort

    m = onnx.load(path)
    taps = _rectifier_inputs(m)
    if not taps:
        raise ValueError(f"{path}: no rectifier reads a convolution (SiLU and x*HardSigmoid are not taps)")
    names = {o.name for o in m.graph.output}
    for t, _ in taps:
        if t not in names:
            m.graph.output.append(onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None))
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    feed = session.get_inputs()[0].name
    rows = []
    for c in contracts:
        x = preprocess_batch(images, c).astype(np.float32)
        on = {t: [] for t, _ in taps}
        for i in range(len(x)):
            ys = session.run([t for t, _ in taps], {feed: x[i:i + 1]})
            for (t, thr), y in zip(taps, ys, strict=True):
                if y.ndim == 4:
                    on[t].append((y[0] > thr).reshape(y.shape[1], -1))
                elif y.ndim == 3:
                    on[t].append((y[0] > thr).reshape(y.shape[1], -1))
        per_layer, first = [], None
        for t, _ in taps:
            if not on[t]:
                continue
            p = np.concatenate(on[t], axis=1).mean(axis=1)
            share = float(np.mean((p > lo) & (p < 1 - lo)))
            per_layer.append(share)
            first = share if first is None else first
        rows.append({"all": float(np.mean(per_layer)) if per_layer else float("nan"),
                     "first": first if first is not None else float("nan"),
                     "first3": float(np.mean(per_layer[:3])) if per_layer else float("nan"),
                     "layers": len(per_layer)})
    return rows


def report(name: str, path: str, truth: dict, photos: list[Path]) -> dict[str, int]:
    model = load(path)
    fields = {k: truth[k] for k in ("size", "layout", "resize") if k in truth}
    if truth.get("color") == "GRAY":
        fields["color"] = "GRAY"
    base = model.resolve(load_contract(fields))
    cands = conventions(base, 1 if base.color == "GRAY" else 3)
    # one colour order per range: the range question alone
    keep = [c for c in cands if c.preprocess.color in (truth.get("color", "RGB"), "GRAY")]
    true = model.resolve(load_contract({**base.to_dict(), **{k: truth[k] for k in ("color", "scale", "mean", "std")
                                                             if k in truth}}))
    images = [load_image(p) for p in photos]
    rows = selectivity(str(path), [c.preprocess for c in keep], images)
    ranks = {}
    print(f"{name} (layers {rows[0]['layers']})")
    for key in ("first", "first3", "all"):
        vals = np.array([r[key] for r in rows])
        order = np.argsort(-vals, kind="stable")
        ranks[key] = next(i for i, j in enumerate(order) if same_range(keep[j].preprocess, true, 0.1)) + 1
    for c, r in zip(keep, rows, strict=True):
        mark = " <- truth" if same_range(c.preprocess, true, 0.1) else ""
        print(f"  {c.name:40s} first {r['first']:.3f}  first3 {r['first3']:.3f}  all {r['all']:.3f}{mark}")
    print("RANK", name, " ".join(f"{k} {v}/{len(keep)}" for k, v in ranks.items()), flush=True)
    return ranks


def main(argv: list[str]) -> int:
    if argv and argv[0] == "corpus":
        for key, loader in corpus.LOADERS.items():
            cm = loader()
            try:
                report(key, str(cm.model), cm.label_free_truth, cm.photos)
            except Exception as exc:  # noqa: BLE001 - one model's failure is reported, the rest still run
                print("ERR", key, type(exc).__name__, str(exc)[:200])
        return 0
    import yaml

    for path, truth in zip(argv[::2], argv[1::2], strict=True):
        report(Path(path).stem, path, yaml.safe_load(Path(truth).read_text()), corpus.natural(8))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
