"""`ferry doctor`: why are the outputs wrong, and how to fix it in the user's runtime.

Candidates (ferry.doctor.candidates) are generated from colour orders, normalisations and known slips, merged
when they compute the same function, run through the model in batches with each distinct input computed once
(ferry.doctor.runner), and ranked:

- with a reference model: by agreement with the reference's outputs on the same photos (parity at `ferry check`'s
  tolerances is the only confident answer); then, around the winner, resize modes and layout are tried too;
- without one: by label-free evidence (ferry.doctor.evidence, ferry.doctor.batchnorm), each signal shown, combined
  into one ranking with the margin to the runner-up; "not sure" when the margin is small, unless the model's first
  BatchNorm layers decide it (their input statistics 1.5x closer to training for the winner than for any other
  answer). Candidates whose tensors differ by under LABEL_FREE_RESOLUTION of their span cannot be told apart
  without a reference and are reported as one group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ferry.doctor.candidates import Candidate, geometry_candidates, indistinguishable, normalisation_candidates
from ferry.doctor.evidence import agreement, combine, label_free
from ferry.doctor.runner import Runner, function_key
from ferry.errors import FerryError
from ferry.preprocess.contract import Preprocess, load_contract

LABEL_FREE_MARGIN = 0.05  # combined-score margin below which the label-free answer is "not sure"
# Without a reference, contracts whose tensors differ by under this fraction of their span are one answer: PaddleOCR
# applies ImageNet's RGB-order means to BGR pixels, 8% of the span from the same numbers in BGR order, and no
# label-free evidence on natural photos resolves that (the BatchNorm divergence differs by 1.5x between the two
# and reverses with the photos); a reference does.
LABEL_FREE_RESOLUTION = 0.10
BATCHNORM_DECISIVE = 1.5  # divergence ratio, runner-up over winner, that makes the BatchNorm evidence decisive


def _finite(v: Any) -> Any:
    """JSON has no NaN or Infinity: a non-finite number is written as null."""
    return None if isinstance(v, float) and not np.isfinite(v) else v


@dataclass
class Scored:
    candidate: Candidate
    score: float
    evidence: dict[str, Any]
    same_as: list[str] = field(default_factory=list)  # indistinguishable candidates folded into this one

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.candidate.name, "origin": self.candidate.origin,
                "preprocess": self.candidate.preprocess.to_dict(), "score": _finite(self.score),
                "evidence": {k: _finite(v) for k, v in self.evidence.items()},
                "same_as": self.same_as}


@dataclass
class Diagnosis:
    confident: bool
    best: Preprocess
    candidates: list[Scored]
    mode: str  # "reference" or "label-free"
    margin: float
    yours: Preprocess | None = None
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    model_calls: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"confident": self.confident, "best": self.best.to_dict(), "mode": self.mode, "margin": self.margin,
                "differences": self.differences, "notes": self.notes,
                "candidates": [c.to_dict() for c in self.candidates]}


def _reference_outputs(ref, spec, images: list[np.ndarray], batch: int) -> dict[str, np.ndarray]:
    from ferry.check import resolve_contract, run_per_image

    contract = ref.resolve(resolve_contract(ref, spec))
    per = run_per_image(lambda chunk: ref.run_reference(chunk, contract), ref, images, batch)
    return {k: np.concatenate([p[k] for p in per]) for k in per[0]}


def _reference_contract(ref, runner: Runner, preprocess, batch: int, notes: list[str]):
    """The reference's own contract: embedded or declared if it has one (None: check's resolution finds it), else
    diagnosed label-free on the reference itself, which is where BatchNorm evidence lives (a torch or Keras source
    keeps its BatchNorm; the exported MODEL has it folded). Only a confident answer is used."""
    from ferry.check import resolve_contract

    reference = ref.path
    try:
        resolve_contract(ref, None)
        return None
    except FerryError:
        pass
    d = diagnose(ref.path, [], preprocess=preprocess, runner=Runner(ref, runner.images, batch=batch))
    if not d.confident:
        raise FerryError(f"{reference}: carries no preprocessing contract and label-free evidence on it is not sure "
                         f"(best guess {d.candidates[0].candidate.name}, margin {d.margin:.3f}); pass "
                         "--reference-preprocess PRESET_OR_FILE")
    notes.append(f"{reference} carries no preprocessing contract: diagnosed without labels as "
                 f"{d.candidates[0].candidate.name} (margin {d.margin:.3f}"
                 + (", BatchNorm evidence" if "batchnorm" in d.candidates[0].evidence else "") + ")")
    return d.best


def _base_contract(model, yours: Preprocess | None, ref_spec) -> Preprocess:
    """Where candidates start: size and resize from what the user feeds (else the reference's contract), layout
    from the model's input shape when it tells (a wrong layout is a slip tried around the winner)."""
    layout = model.image_input.image_layout
    if yours is not None:
        return yours.replace(layout=layout or yours.layout)
    if ref_spec is not None:
        base = load_contract(ref_spec)
    else:
        base = model.embedded or model.declared or Preprocess()
    return model.resolve(base)


def _rank_reference(runner: Runner, cands: list[Candidate], ref_out: dict[str, np.ndarray]) -> list[Scored]:
    outs = runner.outputs([c.preprocess for c in cands])
    scored = []
    for c, o in zip(cands, outs, strict=True):
        ev = agreement(ref_out, o)
        scored.append(Scored(c, round(1.0 - float(ev["relative_error"]), 6), ev))
    scored.sort(key=lambda s: (not s.evidence["parity"], -s.score))
    return scored


def _add(runner: Runner, ranked: list[Scored], more: list[Candidate], ref_out, notes: list[str]) -> list[Scored]:
    new: list[Candidate] = []
    for c in more:
        if not any(c.preprocess.same_function(s.candidate.preprocess) for s in ranked) and not any(
                c.preprocess.same_function(n.preprocess) for n in new):
            new.append(c)
    if not new:
        return ranked
    try:
        scored = _rank_reference(runner, new, ref_out)
    except FerryError as exc:
        notes.append(f"resize/layout variants not tried: {exc}")
        return ranked
    return sorted(ranked + scored, key=lambda s: (not s.evidence["parity"], -s.score))


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


def _batchnorm_decides(ranked: list[Scored], notes: list[str]) -> bool:
    """The BatchNorm evidence alone is decisive when the winner also has the lowest divergence and every other
    answer's is at least BATCHNORM_DECISIVE times larger (measured: 2.0x on EfficientNet-Lite0, 1.56-2.35x on
    PP-OCRv4 det, where the output signals' margin is 0.02-0.04)."""
    if len(ranked) < 2 or "batchnorm" not in ranked[0].evidence:
        return False
    best = ranked[0].evidence["batchnorm"]
    other = min(s.evidence["batchnorm"] for s in ranked[1:])
    if not np.isfinite(best) or best <= 0:
        return False
    ratio = other / best
    notes.append(f"BatchNorm evidence: the first layers' input statistics are {ratio:.2f}x closer to training for "
                 f"{ranked[0].candidate.name} than for any other answer")
    return bool(ratio >= BATCHNORM_DECISIVE)


def _rank_label_free(runner: Runner, cands: list[Candidate], notes: list[str]) -> list[Scored]:
    groups: list[list[Candidate]] = []
    for c in cands:
        for g in groups:
            if indistinguishable(g[0].preprocess, c.preprocess, LABEL_FREE_RESOLUTION):
                g.append(c)
                break
        else:
            groups.append([c])
    reps = [g[0].preprocess for g in groups]
    outs = runner.outputs(reps)
    flips = runner.outputs(reps, flip=True)
    evidence = [label_free(o, f) for o, f in zip(outs, flips, strict=True)]
    bn = _batchnorm_scores(runner, reps, notes)
    for e, b in zip(evidence, bn or [], strict=False):
        e["batchnorm"] = b
    scores = combine(evidence)
    scored = [Scored(g[0], round(s, 6), {k: round(v, 6) for k, v in e.items()}, [c.name for c in g[1:]])
              for g, s, e in zip(groups, scores, evidence, strict=True)]
    scored.sort(key=lambda s: -s.score)
    return scored


def diagnose(model: str | Path, images: list, reference: str | Path | None = None, reference_preprocess=None,
             preprocess=None, runtime: str | None = None, batch: int = 16, runner: Runner | None = None,
             reference_outputs: dict[str, np.ndarray] | None = None) -> Diagnosis:
    """Rank candidate contracts for MODEL on the photos. `runner` and `reference_outputs` may be passed back in to
    reuse outputs across diagnoses of the same model on the same photos."""
    from ferry.images import image_files, load_image
    from ferry.runtimes import load

    if runner is None:
        files = image_files(list(images))
        m = load(model, runtime)
        if m.embedded is not None:
            raise FerryError(f"{model}: the file embeds its own preprocessing (it takes uint8 pixels); diagnose the "
                             "model before embedding, or compare it with `ferry check SOURCE {model}`")
        decoded = [load_image(f) for f in files]
        runner = Runner(m, decoded, batch=batch)
    m = runner.model
    notes: list[str] = []
    ref = load(reference) if reference is not None and reference_outputs is None else None  # loaded once
    if ref is not None and reference_preprocess is None:
        reference_preprocess = _reference_contract(ref, runner, preprocess, batch, notes)
    yours = m.resolve(load_contract(preprocess)) if preprocess is not None else None
    base = _base_contract(m, yours, reference_preprocess)
    cands = normalisation_candidates(base, yours, channels=m.image_input.channels or 3)
    if reference is not None or reference_outputs is not None:
        ref_out = reference_outputs if reference_outputs is not None else _reference_outputs(
            ref, reference_preprocess, runner.images, batch)
        ranked = _rank_reference(runner, cands, ref_out)
        shape = m.image_input.shape
        can_swap = bool(shape and len(shape) == 4)
        # Around the three best normalisations: resize modes and layout. If still nothing reaches parity, the
        # normalisations again at the best geometry found (a wrong resize can hide the right normalisation).
        geo: list[Candidate] = []
        for s in ranked[:3]:
            geo += geometry_candidates(s.candidate.preprocess, can_swap)[1:]
        ranked = _add(runner, ranked, geo, ref_out, notes)
        if not ranked[0].evidence["parity"]:
            at = ranked[0].candidate.preprocess
            if (at.resize, at.layout) != (base.resize, base.layout):
                more = normalisation_candidates(base.replace(resize=at.resize, layout=at.layout), yours,
                                                channels=m.image_input.channels or 3)
                ranked = _add(runner, ranked, more, ref_out, notes)
        best, second = ranked[0], ranked[1] if len(ranked) > 1 else None
        margin = best.score - (second.score if second else 0.0)
        also = [s for s in ranked[1:] if s.evidence["parity"]]
        # Several candidates at parity: confident only when they are all within 1% of the winner's input (the
        # model's outputs cannot tell them apart at the tolerances), and the runner-up list names them.
        bp = best.candidate.preprocess
        same = [s for s in also if runner.same_input(s.candidate.preprocess, bp)]
        confident = bool(best.evidence["parity"]) and all(
            indistinguishable(s.candidate.preprocess, bp) or s in same for s in also)
        if same:
            notes.append("these photos give the very same tensor for: " + ", ".join(s.candidate.name for s in same)
                         + " (photos with the model's aspect ratio cannot tell resize modes apart: add others)")
        if best.evidence["parity"] and len(also) > len(same):
            notes.append("also at parity on these photos (the closest first): "
                         + ", ".join(s.candidate.name for s in also if s not in same)[:400])
        if not best.evidence["parity"]:
            notes.append("no candidate reproduces the reference: what differs is not (only) preprocessing, or the "
                         "contract is outside the candidates (give --preprocess with your own values)")
        mode = "reference"
    else:
        ranked = _rank_label_free(runner, cands, notes)
        best, second = ranked[0], ranked[1] if len(ranked) > 1 else None
        margin = best.score - (second.score if second else 0.0)
        decisive = _batchnorm_decides(ranked, notes)  # first: its note is worth reading either way
        confident = margin >= LABEL_FREE_MARGIN or decisive
        mode = "label-free"
        notes.append("without a reference the resize mode and layout are not diagnosed (label-free evidence cannot "
                     "tell a crop from a stretch); give --reference for those")
    diffs = differences(yours, best.candidate.preprocess) if yours is not None else []
    return Diagnosis(confident, best.candidate.preprocess, ranked, mode, round(margin, 6), yours, diffs, notes,
                     runner.model_calls)


from ferry.doctor.fix import differences  # noqa: E402  (fix imports nothing heavy; kept last for readability)

__all__ = ["Diagnosis", "Scored", "Runner", "diagnose", "differences"]
