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

from ferry.compare.tensor import DEFAULT_ATOL, DEFAULT_RTOL, OutputComparison


@dataclass(frozen=True)
class Rule:
    """The drift a correct conversion to one precision shows at most (measured: see RULES)."""

    spread_error: float  # pooled RMS error / RMS spread of each output
    prob_delta: float  # classify: largest class-probability move (also the tie margin for a top-1 flip)
    top1: float  # classify: least share of photos whose top-1 agrees (a tie counts as agreeing)
    pixel_agreement: float  # segment: least pixel agreement on every photo
    miou: float  # segment: least mIoU (overall and per photo)
    box_iou: float  # detect: least IoU of a matched box
    score_delta: float  # detect: largest score move of a matched box
    mask_iou: float  # detect: least mask IoU

    def task_tolerances(self, task: str) -> dict[str, float]:
        """Keyword arguments for ferry.compare.task's accumulator of `task`."""
        if task == "classify":
            return {"prob_tol": self.prob_delta, "top1_min": self.top1}
        if task == "segment":
            return {"pixel_tol": self.pixel_agreement, "miou_tol": self.miou}
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
RULES["int8-weights"] = RULES["int8"]
RULES["int4-weights"] = RULES["int8"]  # not measured separately: 4-bit weights drift at least as much as int8


def rule_for(kind: str) -> Rule | None:
    """The reduced-precision rule of a precision kind (ferry.precision.KINDS); None for fp32."""
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
    o.passed = finite and err <= rule.spread_error and (o.reason is None or "beyond tolerance" in o.reason)
    if o.passed:
        o.reason = None if within_float else (
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


DEFAULTS = (DEFAULT_ATOL, DEFAULT_RTOL)


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


def task_tolerances(path, task: str) -> dict[str, float]:
    """The task accumulator's tolerances for a target file: its precision's rule, or {} (the float defaults)."""
    rule = rule_for(precision_of(path).kind)
    return rule.task_tolerances(task) if rule is not None else {}


def apply(path, outs: list[OutputComparison], accs) -> tuple[dict, list[str]]:
    """Judge a target's outputs by its precision's rule (in place). Returns its precision as JSON and the notes.
    `accs` are the outputs' accumulators: a tolerance other than the default is one the user gave."""
    prec = precision_of(path)
    info = prec.to_dict()
    rule = rule_for(prec.kind)
    if rule is None:
        return info, []
    user_any = False
    for o, acc in zip(outs, accs, strict=True):
        user = (acc.atol, acc.rtol) != DEFAULTS
        user_any = user_any or user
        judge_output(o, rule, prec.kind, user)
    info["rule"] = rule.to_dict()
    return info, [f"precision {prec.summary()}: " + note(prec.kind, rule, all(o.passed for o in outs), user_any)]
