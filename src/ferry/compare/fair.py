"""The fair verdict for reduced-precision targets: quantisation drift is judged by its own measured rule.

Why: an fp16 or int8 deployment differs from its float source by design. Held to float32's tolerance (atol 1e-4 of
the output's peak) every quantised file fails ("41 of 49 values beyond tolerance") and a user cannot tell drift from
a bug. For a target whose precision (`ferry.precision.detect`) is below fp32, `ferry check` therefore holds:

- the task answers, first (what a user sees): top-1 agreement and the largest class-probability move; pixel
  agreement and mIoU; matched boxes, IoU and score moves, against the rule of that precision (RULES below);
- every output's tensor statistics, as evidence and as a guard: the pooled RMS error relative to the output's
  spread (`OutputComparison.spread_error`: sqrt(sum (t - r)^2 / sum (r - mean_photo(r))^2) over the photos) must
  stay within the precision's `spread_error`. This is what still fails a colour swap that keeps the top-1 class.

One rule per precision, measured on real models (benchmarks/bench_precision.py; the table is in README.md,
"Reduced precision"), never tuned per model. `--atol`/`--rtol` given for an output (or `*`) replace the spread rule
for it with the float rule at the user's numbers; `task_tolerances` given to `check` replace the task numbers.
fp32 targets are judged exactly as before.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ferry.compare.tensor import OutputComparison


@dataclass(frozen=True)
class Rule:
    """The drift a correct conversion to one precision shows at most (measured: see RULES)."""

    spread_error: float  # pooled RMS error / RMS spread of each output
    prob_delta: float  # classify: largest class-probability move (also the tie margin for a top-1 flip)
    top1: float  # classify: least share of photos whose top-1 agrees (a tie counts as agreeing)
    pixel_agreement: float  # segment: least pixel agreement on every photo
    miou: float  # segment: least mIoU (overall, and per photo unless image_miou says otherwise)
    box_iou: float  # detect: least IoU of a matched box
    score_delta: float  # detect: largest score move of a matched box
    mask_iou: float  # detect: least mask IoU
    image_miou: float | None = None  # segment: least mIoU of one photo, when not `miou`

    def task_tolerances(self, task: str) -> dict[str, float]:
        """Keyword arguments for ferry.compare.task's accumulator of `task`."""
        if task == "classify":
            return {"prob_tol": self.prob_delta, "top1_min": self.top1}
        if task == "segment":
            tol = {"pixel_tol": self.pixel_agreement, "miou_tol": self.miou}
            return tol if self.image_miou is None else {**tol, "image_miou_tol": self.image_miou}
        if task == "detect":
            return {"box_iou_tol": self.box_iou, "score_tol": self.score_delta, "mask_iou_tol": self.mask_iou}
        return {}

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


# Measured 2026-12-02 on the 10 bundled photos (benchmarks/bench_precision.py), sources in float32 onnxruntime:
# see README.md "Reduced precision" for the per-model table and the margins to the mutation suite's bugs.
RULES: dict[str, Rule] = {
    # fp16: correct conversions (float16 ONNX in onnxruntime, f16-compressed IR in OpenVINO) drift by a spread error
    # of 0.0058 (EfficientNet-Lite0), 0.0049 (PP-OCR cls), 0.019 (PP-OCRv4 det IR: a near-binary map), move class
    # probabilities by <= 0.0043 and keep every top-1; PP-OCRv4 det keeps >= 99.98% of pixels, mIoU 0.997. The
    # smallest bug above them: one weight tensor x1.1 (0.054 on PP-OCR cls, 0.10 on EfficientNet-Lite0). mIoU 0.95:
    # on the PP-OCRv4 det IR one photo with little text falls to mIoU 0.9655 (overall 0.997).
    "fp16": Rule(spread_error=0.03, prob_delta=0.02, top1=1.0, pixel_agreement=0.995, miou=0.95, box_iou=0.85,
                 score_delta=0.03, mask_iou=0.85),
    # int8: EfficientNet-Lite0 static QDQ (per-channel, calibrated on the photos): spread error 0.146, probability
    # moves 0.145, top-1 9 of 10; PP-OCR cls dynamic: 0.128, 0.07, 10 of 10. Bugs above: a colour swap 0.40-0.43,
    # the photo inverted 0.41-0.64, std left out 0.37-0.77, one weight tensor x1.5 0.33-0.57. Segment and detect
    # numbers are the float ones loosened, not measured on a correct int8 model: PP-OCRv4 det's QDQ copy is not one
    # (mIoU 0.67) and fails.
    "int8": Rule(spread_error=0.25, prob_delta=0.25, top1=0.9, pixel_agreement=0.98, miou=0.85, box_iou=0.7,
                 score_delta=0.1, mask_iou=0.7),
}
# int8-weights: weight-only int8 with float compute (NNCF `compress_weights` INT8_ASYM per channel on the float IR;
# dynamic quantisation, whose activations are quantised per call, is held to the int8 rule: `rule_key`). Measured
# 2026-12-02 (benchmarks/bench_precision.py --kinds=int8-weights-ir --bugs), chosen on EfficientNet-Lite0 and
# PP-OCRv4 det, PP-OCR cls held out. Correct files: spread error 0.096 / 0.273 / 0.037 (a near-binary text map
# drifts most: the int8 rule's 0.25 failed that correct IR), top-1 10 of 10 on both classifiers, probability moves
# 0.094 / 0.019, PP-OCRv4 det worst-photo pixels 0.9966, mIoU 0.950. The bugs: colour swapped 0.43 / 0.55 / 0.31
# (PP-OCR cls: top-1 9 of 10, probability move 0.17: the task answers catch it), photo inverted 0.41 / 0.50 / 0.58,
# std left out 1.2 / 0.90 / 0.45, one weight x1.1 0.145 (probability move 0.20: caught) / 0.52 / 0.086 (missed),
# x1.5 0.52 / 0.76 / 0.30 (PP-OCR cls: missed, probability move 0.148). PP-OCRv4 det per photo: the correct IR's
# worst photo (little text) has mIoU 0.74 while the overall mIoU is 0.950; the bugs' overall mIoU is 0.69-0.88 (the
# colour swap 0.87, the photo inverted 0.88, x1.1 0.88), so the overall 0.9 decides and one photo needs 0.6 (a photo
# that loses its foreground). Margins are thin on both sides: README.
RULES["int8-weights"] = Rule(spread_error=0.35, prob_delta=0.15, top1=1.0, pixel_agreement=0.99, miou=0.9,
                             box_iou=0.7, score_delta=0.1, mask_iou=0.7, image_miou=0.6)
RULES["int4-weights"] = RULES["int8"]  # not measured separately: 4-bit weights drift at least as much as int8


def rule_for(kind: str) -> Rule | None:
    """The reduced-precision rule of a precision kind (ferry.precision.KINDS); None for fp32. Judging a file, use
    `judged` (dynamic quantisation is held to the int8 rule)."""
    return RULES.get(kind)


def user_set(atol: dict[str, float] | None, rtol: dict[str, float] | None, name: str) -> bool:
    """The user gave --atol/--rtol for this output (or for every output): then their float rule decides."""
    return any(name in d or "*" in d for d in (atol or {}, rtol or {}))


def judge_output(o: OutputComparison, rule: Rule, kind: str, user: bool) -> OutputComparison:
    """The output judged by the precision's spread rule (unless the user set its tolerance), with the float-rule
    evidence kept in the reason. Returns `o` itself, changed."""
    if user:
        return o
    err = o.spread_error
    within_float = o.passed
    finite = err is not None and math.isfinite(err)
    # within the float tolerance is within any looser rule (a [1, 1] score 6e-8 off failed on an infinite ratio)
    o.passed = within_float or (finite and err <= rule.spread_error
                                and (o.reason is None or "beyond tolerance" in o.reason))
    if o.passed:
        o.reason = o.reason if within_float else (
            f"quantization drift: error {err:.3g} of the output's spread (<= {rule.spread_error:g}, the {kind} rule); "
            f"{o.within:.0%} of values within the float tolerance")
    elif finite and (o.reason is None or "beyond tolerance" in o.reason):
        o.reason = (f"error {err:.3g} of the output's spread (> {rule.spread_error:g}, the {kind} rule): more than "
                    "quantization drift")
    return o


def note(kind: str, rule: Rule, passed: bool, user: bool) -> str:
    """What the row was held to, in words."""
    held = (f"judged by the {kind} rule: task answers first (ferry.compare.fair), each output's error within "
            f"{rule.spread_error:g} of its spread")
    if user:
        held += "; --atol/--rtol given: those outputs held to the float rule at your numbers"
    return held + ("; the differences are quantization drift" if passed else
                   "; the differences exceed quantization drift for this precision")


_SEEN: dict[tuple[str, float], object] = {}


def precision_of(path) -> object:
    """`ferry.precision.detect(path)`, once per file and version (check asks for every runtime row of a file)."""
    from pathlib import Path

    from ferry.errors import FerryError
    from ferry.precision import FP32, Precision, detect

    p = Path(str(path))
    try:
        key = (str(p.resolve()), p.stat().st_mtime)
    except OSError:
        key = (str(p), 0.0)
    if key not in _SEEN:
        try:
            _SEEN[key] = detect(path)
        except (FerryError, ImportError, ValueError, OSError) as exc:  # a file the reader cannot parse: float rule
            _SEEN[key] = Precision(FP32, [f"precision not read ({str(exc).splitlines()[0][:120]}): float rule"])
    return _SEEN[key]


# How far each rule lets a row drift, least first: a row is held to the looser of its target's and its source's
RULE_ORDER = ("fp16", "int8-weights", "int4-weights", "int8")


def rule_key(prec) -> str | None:
    """The RULES key a Precision is judged by: its kind, except that dynamic quantisation (int8 weights, activations
    quantised per call: `compute` int8) drifts as full int8 does, not as weight-only files do. None for fp32."""
    if prec.kind == "int8-weights" and prec.compute == "int8":
        return "int8"
    return prec.kind if prec.kind in RULES else None


def judged(path, source=None) -> tuple[object, str | None, str | None]:
    """(the target's Precision, the RULES key its row is held to, why when that comes from the source). A quantised
    source drifts from every runtime that runs it otherwise (OpenVINO's own arithmetic for an ONNX's dynamically
    quantised ops; an IR convert_model made from it with the weights dequantised to f32): the row is held to the
    looser of the two files' rules."""
    prec = precision_of(path)
    key = rule_key(prec)
    if source is None:
        return prec, key, None
    sprec = precision_of(source)
    skey = rule_key(sprec)
    if key is not None and key == skey and prec.compute == sprec.compute == "fp32":
        # the same reduced weights on both sides, dequantised and computed in float32 (a float16-weight TFLite and
        # the IR made from it): nothing was rounded between them, so float32's tolerance holds, not drift's
        return prec, None, None
    rank = lambda k: -1 if k is None else RULE_ORDER.index(k)  # noqa: E731
    if rank(skey) > rank(key):
        return prec, skey, f"the source computes in {sprec.summary()}"
    return prec, key, None


def task_tolerances(path, task: str, source=None) -> dict[str, float]:
    """The task accumulator's tolerances for a target file: its rule's (ferry.compare.fair.judged), or {} (the float
    defaults)."""
    _, key, _ = judged(path, source)
    return RULES[key].task_tolerances(task) if key is not None else {}


def apply(path, outs: list[OutputComparison], accs, source=None) -> tuple[dict, list[str]]:
    """Judge a target's outputs by its precision's rule (in place; `source`: the source's file, whose own reduced
    precision also loosens the rule). Returns its precision as JSON and the notes. `accs` are the outputs'
    accumulators: their `user_tolerance` says the user gave --atol/--rtol for that output, even at the defaults'
    values, and then the float rule at those numbers decides it."""
    prec, key, why = judged(path, source)
    info = prec.to_dict()
    if key is None:
        return info, []
    rule = RULES[key]
    user_any = False
    for o, acc in zip(outs, accs, strict=True):
        user = bool(getattr(acc, "user_tolerance", False))
        user_any = user_any or user
        judge_output(o, rule, key, user)
    info["rule"] = rule.to_dict()
    info["rule_kind"] = key
    if why:
        info["rule_from"] = why
    held = f"precision {prec.summary()}" + (f" ({why})" if why else "")
    return info, [f"{held}: " + note(key, rule, all(o.passed for o in outs), user_any)]
