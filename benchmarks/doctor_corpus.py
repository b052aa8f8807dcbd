"""Issue 14's proof: `ferry doctor` over every real pretrained model of the corpus (benchmarks/corpus.py), each fed
its wrong contracts, in three modes, scored per question (range, colour, layout) as right / not sure / confidently
wrong, split tuning vs held-out. Run by hand, not in CI:

    .venv/bin/python benchmarks/doctor_corpus.py [--models a,b] [--modes label-free,reference,expect]
        [--photos N] [--wrong N] [--out benchmarks/results]

Modes:
- reference: the model diagnosed against a source that gives the right answers under its true contract, once per
  wrong contract given as `preprocess=`; plus, for every 3-channel model, a copy of its ONNX that wants the other
  colour order (corpus.swapped_copy) diagnosed against the original: its truth is the exact swap.
- label-free: no reference, once per wrong contract; the truth is what the model was trained on.
- expect: classifiers only, `expect={photo file name: class index}` with the true contract's top-1 as the labels.
  Reported as not run where `diagnose` does not take `expect` yet.

Scoring, per question: the best answer is right when it equals the truth (range: the affine up to colour order,
within 10% of the span, as ferry.doctor.candidates.indistinguishable measures it; colour: the order, and for GRAY
which end is 0; layout: equal). A question is "right" when right and sure, "not sure" when not sure (whatever the
best), "confidently wrong" when wrong and sure. Sure is `d.sure[question]` where the Diagnosis has it, else
`d.confident`. The best answer's correctness regardless of sureness is kept too ("best right").
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import inspect
import json
import os
import platform
import re
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402

QUESTIONS = ("range", "colour", "layout")
OUTCOMES = ("right", "not sure", "confidently wrong")
RANGE_TOLERANCE = 0.10  # of the span, as LABEL_FREE_RESOLUTION: a range closer than this is the same answer
MODES = ("label-free", "reference", "expect")


@dataclass
class Record:
    """One diagnosis, scored."""

    model: str
    split: str
    mode: str
    case: str  # the wrong contract fed (or "channel-swapped copy")
    best: str  # the winning candidate's name
    best_contract: dict
    truth: dict
    right: dict[str, bool]
    sure: dict[str, bool]
    outcome: dict[str, str]
    confident: bool
    margin: float
    seconds: float
    error: str = ""
    notes: list[str] = field(default_factory=list)


# ---- scoring -------------------------------------------------------------------------------------------------
def _rgb_order(pp) -> tuple[list[float], list[float]]:
    gain, offset = (list(v) for v in pp.affine())
    if pp.color == "BGR":
        gain, offset = gain[::-1], offset[::-1]
    return gain, offset


def range_right(best, truth, tolerance: float = RANGE_TOLERANCE) -> bool:
    """The best's normalisation computes the truth's function, channels aligned to RGB order."""
    (gb, ob), (gt, ot) = _rgb_order(best), _rgb_order(truth)
    if len(gb) != len(gt):
        return False
    for g1, o1, g2, o2 in zip(gb, ob, gt, ot, strict=True):
        span = max(abs(g1), abs(g2)) * 255
        if max(abs(o1 - o2), abs(g1 * 255 + o1 - g2 * 255 - o2)) > tolerance * span:
            return False
    return True


def score(best, truth) -> dict[str, bool]:
    colour = best.color == truth.color and (best.color != "GRAY" or best.gray_zero_is == truth.gray_zero_is)
    return {"range": range_right(best, truth), "colour": colour, "layout": best.layout == truth.layout}


def sureness(d) -> dict[str, bool]:
    sure = getattr(d, "sure", None)
    if isinstance(sure, dict):
        return {q: bool(sure.get("color" if q == "colour" else q, d.confident)) for q in QUESTIONS}
    return dict.fromkeys(QUESTIONS, bool(d.confident))


def outcomes(right: dict[str, bool], sure: dict[str, bool]) -> dict[str, str]:
    return {q: ("right" if right[q] else "confidently wrong") if sure[q] else "not sure" for q in QUESTIONS}


# ---- running -------------------------------------------------------------------------------------------------
def _record(cm, mode: str, case: str, truth: dict, run) -> Record:
    from ferry.preprocess.contract import Preprocess

    t0 = time.perf_counter()
    try:
        d = run()
    except Exception as exc:  # noqa: BLE001 - one failed diagnosis is a row of the table, not the end of the run
        return Record(cm.name, cm.split, mode, case, "", {}, truth, {}, {}, {}, False, 0.0,
                      round(time.perf_counter() - t0, 3),
                      f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}",
                      [traceback.format_exc()[-2000:]])
    dt = time.perf_counter() - t0
    right = score(d.best, Preprocess.from_dict(truth))
    sure = sureness(d)
    return Record(cm.name, cm.split, mode, case, d.candidates[0].candidate.name, d.best.to_dict(), truth, right,
                  sure, outcomes(right, sure), bool(d.confident), float(d.margin), round(dt, 3),
                  notes=list(d.notes))


def _images(paths: list[Path]):
    from ferry.images import load_image

    return [load_image(p) for p in paths]


def _reference_outputs(reference: str, truth: dict, images, batch: int = 8):
    """The reference source's outputs under the true contract, computed once per model and photo set."""
    import numpy as np

    from ferry.preprocess.contract import Preprocess
    from ferry.runtimes import load

    ref = load(reference)
    pp = ref.resolve(Preprocess.from_dict(truth))
    shape = ref.image_input.shape
    batch = 1 if shape and shape[0] == 1 else batch
    per = [ref.run_reference(images[i:i + batch], pp) for i in range(0, len(images), batch)]
    return {k: np.concatenate([p[k] for p in per]) for k in per[0]}


def _top1(outputs: dict) -> list[int]:
    import numpy as np

    for v in outputs.values():
        if v.ndim == 2 and v.shape[1] > 1:
            return [int(i) for i in np.argmax(v, axis=1)]
    raise ValueError("no [N, classes] output")


def run_model(cm, modes: list[str], wrong: dict[str, dict], log) -> tuple[list[Record], list[str]]:
    from ferry.doctor import Runner, diagnose
    from ferry.preprocess.contract import Preprocess
    from ferry.runtimes import load

    records: list[Record] = []
    skipped: list[str] = []
    images = _images(cm.photos)
    # One runner for every diagnosis of this model on these photos (its outputs are memoised by contract); it
    # carries the photos' file names where Runner takes them (what `expect` matches).
    named = {"names": [p.name for p in cm.photos]} if "names" in inspect.signature(Runner).parameters else {}
    runner = Runner(load(cm.model), images, **named)

    def add(rec: Record) -> None:
        records.append(rec)
        o = rec.outcome
        log(f"  {rec.mode:10s} {rec.case[:34]:34s} -> {rec.best[:44]:44s} {rec.seconds:6.1f}s "
            + (f"ERROR {rec.error}" if rec.error else " ".join(f"{q}:{o[q]}" for q in QUESTIONS)))

    if "label-free" in modes:
        for label, w in wrong.items():
            add(_record(cm, "label-free", label, cm.label_free_truth,
                        lambda w=w: diagnose(cm.model, [], preprocess=w, runner=runner)))
    if "reference" in modes:
        t0 = time.perf_counter()
        ref_out = _reference_outputs(cm.reference, cm.truth, images)
        log(f"  reference outputs from {cm.reference}: {time.perf_counter() - t0:.1f}s")
        for label, w in wrong.items():
            add(_record(cm, "reference", label, cm.truth,
                        lambda w=w: diagnose(cm.model, [], reference=cm.reference, reference_preprocess=cm.truth,
                                             preprocess=w, runner=runner, reference_outputs=ref_out)))
        if Preprocess.from_dict(cm.truth).channels == 3:
            swapped, swapped_truth = corpus.swapped_copy(cm)
            sw_runner = Runner(load(swapped), images, **named)
            sw_ref = _reference_outputs(str(cm.model), cm.truth, images)
            add(_record(cm, "reference", "channel-swapped copy", swapped_truth,
                        lambda: diagnose(swapped, [], reference=str(cm.model), reference_preprocess=cm.truth,
                                         preprocess=cm.truth, runner=sw_runner, reference_outputs=sw_ref)))
    if "expect" in modes:
        if cm.task != "classifier":
            pass
        elif "expect" not in inspect.signature(diagnose).parameters:
            skipped.append(f"{cm.name}: expect mode not run (diagnose takes no `expect` yet)")
        else:
            labels = dict(zip([p.name for p in cm.photos],
                              _top1(runner.outputs([runner.model.resolve(Preprocess.from_dict(cm.truth))])[0]),
                              strict=True))
            for label, w in wrong.items():
                add(_record(cm, "expect", label, cm.truth,
                            lambda w=w: diagnose(cm.model, list(cm.photos), preprocess=w, runner=runner,
                                                 expect=labels)))
    return records, skipped


# ---- tables --------------------------------------------------------------------------------------------------
def _counts(recs: list[Record], q: str) -> str:
    ok = [r for r in recs if not r.error]
    c = {o: sum(r.outcome[q] == o for r in ok) for o in OUTCOMES}
    best = sum(r.right[q] for r in ok)
    return f"{c['right']} / {c['not sure']} / **{c['confidently wrong']}** ({best})"


def _seconds(recs: list[Record]) -> str:
    if not recs:
        return "-"
    s = [r.seconds for r in recs]
    return f"{sum(s) / len(s):.1f} (max {max(s):.1f})"


def goals(records: list[Record]) -> list[str]:
    """Issue 14's goals, each met or not, from the records (a failed diagnosis is never "right")."""
    def cw(recs: list[Record]) -> int:
        return sum("confidently wrong" in r.outcome.values() for r in recs)

    out = ["| goal | measured | met |", "|---|---|---|"]
    for mode in MODES:
        recs = [r for r in records if r.mode == mode]
        if recs:
            n = cw(recs)
            out.append(f"| {mode}: 0 diagnoses confidently wrong | {n} of {len(recs)} | {'yes' if n == 0 else 'no'} |")
    ref = [r for r in records if r.mode == "reference"]
    if ref:
        exact = sum(not r.error and all(o == "right" for o in r.outcome.values()) for r in ref)
        out.append(f"| reference: 100% exact (every question right and sure) | {exact} of {len(ref)} | "
                   f"{'yes' if exact == len(ref) else 'no'} |")
    free = [r for r in records if r.mode == "label-free"]
    if free:
        bad = sorted({r.model for r in free if r.error or "confidently wrong" in r.outcome.values()})
        out.append(f"| label-free: right or not sure on every model | "
                   f"{'every model' if not bad else 'not on ' + ', '.join(bad)} | {'yes' if not bad else 'no'} |")
        rng = sum(not r.error and r.outcome["range"] == "right" for r in free)
        out.append(f"| label-free: range right on >= 90% | {rng} of {len(free)} ({100 * rng / len(free):.0f}%) | "
                   f"{'yes' if rng >= 0.9 * len(free) else 'no'} |")
    return out


def tables(records: list[Record]) -> str:
    out = [*goals(records), "",
           "Each cell: right / not sure / **confidently wrong** (best answer right, sure or not), diagnoses "
           "scored per question. Time: seconds per diagnosis, mean (max); diagnoses of one model share one "
           "runner, so the first pays the model runs.", "",
           "| mode | split | diagnoses | range | colour | layout | errors | s per diagnosis |",
           "|---|---|---|---|---|---|---|---|"]
    for mode in MODES:
        for split in ("tuning", "held-out", "all"):
            recs = [r for r in records if r.mode == mode and (split == "all" or r.split == split)]
            if not recs:
                continue
            out.append(f"| {mode} | {split} | {len(recs)} | " + " | ".join(_counts(recs, q) for q in QUESTIONS)
                       + f" | {sum(bool(r.error) for r in recs)} | {_seconds(recs)} |")
    out += ["", "Per model:", "", "| model | split | mode | diagnoses | range | colour | layout | errors | s per "
            "diagnosis |", "|---|---|---|---|---|---|---|---|---|"]
    for name in dict.fromkeys(r.model for r in records):
        for mode in MODES:
            recs = [r for r in records if r.model == name and r.mode == mode]
            if recs:
                out.append(f"| {name} | {recs[0].split} | {mode} | {len(recs)} | "
                           + " | ".join(_counts(recs, q) for q in QUESTIONS)
                           + f" | {sum(bool(r.error) for r in recs)} | {_seconds(recs)} |")
    bad = [r for r in records if r.error or "confidently wrong" in r.outcome.values()]
    if bad:
        out += ["", "Confidently wrong or failed:", ""]
        for r in bad:
            what = r.error or ", ".join(q for q in QUESTIONS if r.outcome[q] == "confidently wrong")
            out.append(f"- {r.model} / {r.mode} / fed {r.case!r}: {what}; answered {r.best!r}")
    return "\n".join(out)


def contract_text(c: dict) -> str:
    """A contract in one short line: colour, the normalisation as written, layout, size and resize."""
    def nums(v) -> str:
        return f"{v[0]:.6g}" if len(set(v)) == 1 else "[" + ", ".join(f"{x:.6g}" for x in v) + "]"

    scale = c.get("scale", 1.0)
    inv = 1 / scale
    x = "x" if scale == 1 else f"x/{inv:.6g}" if abs(inv - round(inv)) < 1e-6 else f"x*{scale:.6g}"
    if any(c.get("mean", [0])):
        x = f"({x} - {nums(c['mean'])})"
    if any(v != 1 for v in c.get("std", [1])):
        x = f"{x} / {nums(c['std'])}"
    parts = [c.get("color", "RGB") + (" (0 is white)" if c.get("gray_zero_is") == "white" else ""), x]
    parts.append(c.get("layout", ""))
    if c.get("size"):
        r = c.get("resize", {})
        extra = ", ".join(f"{k} {v}" for k, v in r.items() if k != "mode")
        parts.append(f"{c['size'][0]}x{c['size'][1]} {r.get('mode', 'stretch')}" + (f" ({extra})" if extra else ""))
    return " ".join(p for p in parts if p)


def _short(name: str) -> str:
    """A cached export's name without its key (corpus._export prefixes 10 hex digits)."""
    return re.sub(r"^[0-9a-f]{10}-", "", name)


def describe(models: list) -> str:
    """The corpus as a markdown table: what each model is diagnosed on, against what, and its truth."""
    out = ["| model | split | doctor file | reference | photos | truth | label-free truth | wrong contracts |",
           "|---|---|---|---|---|---|---|---|"]
    for cm in models:
        src, _, fn = cm.reference.partition(":")
        ref = "the same file" if cm.reference == str(cm.model) else _short(Path(src).name) + (f":{fn}" if fn else "")
        lf = contract_text(cm.truth_label_free) if cm.truth_label_free else "same"
        out.append(f"| {cm.name} | {cm.split} | {_short(cm.model.name)} | {ref} | {len(cm.photos)} | "
                   f"{contract_text(cm.truth)} | {lf} | {', '.join(cm.wrong)} |")
    out += ["", *[f"- {cm.name}: {cm.where}" + ("; " + "; ".join(cm.notes) if cm.notes else "") for cm in models]]
    return "\n".join(out)


def _commit(path: str) -> str:
    """The last commit of `path`, and when the working tree differs from it, a hash of the files as measured (the
    doctor is edited while the corpus runs: the hash tells two runs on the same uncommitted code apart)."""
    import hashlib

    def git(*a: str) -> str:
        return subprocess.run(["git", *a], capture_output=True, text=True, cwd=corpus.ROOT).stdout.strip()

    try:
        head = git("log", "-1", "--format=%h", "--", path)
        if not git("status", "--porcelain", "--", path):
            return head
    except OSError:
        return "?"
    h = hashlib.sha256()
    for f in sorted((corpus.ROOT / path).rglob("*.py")):
        h.update(f.name.encode() + f.read_bytes())
    return f"{head} + uncommitted changes (files hash {h.hexdigest()[:10]})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(corpus.LOADERS), help="comma-separated, of: "
                    + ", ".join(corpus.LOADERS))
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--photos", type=int, default=None, help="the first N photos of each model (default all)")
    ap.add_argument("--wrong", type=int, default=None, help="the first N wrong contracts of each model")
    ap.add_argument("--out", type=Path, default=corpus.ROOT / "benchmarks" / "results")
    args = ap.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for m in modes:
        if m not in MODES:
            ap.error(f"unknown mode {m!r}; the modes are {', '.join(MODES)}")

    def log(s: str) -> None:
        print(s, flush=True)

    records: list[Record] = []
    skipped: list[str] = []
    per_model: dict[str, float] = {}
    loaded = []
    for name in [n.strip() for n in args.models.split(",") if n.strip()]:
        t0 = time.perf_counter()
        cm = corpus.LOADERS[name]()
        if args.photos:
            cm = dataclasses.replace(cm, photos=cm.photos[:args.photos])
        wrong = dict(list(cm.wrong.items())[:args.wrong]) if args.wrong else cm.wrong
        loaded.append(dataclasses.replace(cm, wrong=wrong))
        log(f"{name} ({cm.split}): {cm.model.name}, {len(cm.photos)} photos, {len(wrong)} wrong contracts")
        recs, skip = run_model(cm, modes, wrong, log)
        records += recs
        skipped += skip
        per_model[name] = round(time.perf_counter() - t0, 1)
        log(f"  {name}: {per_model[name]:.0f}s")
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    head = (f"`{' '.join(['benchmarks/doctor_corpus.py', *(argv if argv is not None else sys.argv[1:])])}`, "
            f"{stamp}, src/ferry/doctor at {_commit('src/ferry/doctor')}, {platform.machine()} "
            f"{os.cpu_count()} cores, Python {platform.python_version()}")
    text = "\n".join([head, "", tables(records), "", "The corpus as run:", "", describe(loaded), "",
                      "Wall time per model (load, export if not cached, all its diagnoses): "
                      + ", ".join(f"{k} {v:.0f} s" for k, v in per_model.items()),
                      *(["", *skipped] if skipped else [])])
    print("\n" + text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "doctor_corpus.md").write_text(text + "\n")
    (args.out / "doctor_corpus.json").write_text(json.dumps(
        {"header": head, "per_model_seconds": per_model, "skipped": skipped,
         "records": [asdict(r) for r in records]}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
