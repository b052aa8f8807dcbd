"""Reduced-precision deployments in `ferry bench`: which precision each benched file computes in, whether it
passed its check against the float source, what that costs, and the one recommendation across precisions.

A bench path's parity is measured against the same file in its own runtime, so it cannot see what quantization
costs: that is the float source's job, done by `ferry check` (in `ferry convert`, whose ferry.json keeps the
verdict and the accuracy cost per target). bench reads them from the ferry.json beside each file, and benches
the other precisions convert made of the same target beside it ("when convert made them"). The recommendation
across files is the fastest path whose own parity passes AND whose file passed its precision's verdict against the
float source; a faster file that failed it is named, never chosen; a reduced-precision file with no verdict (no
ferry.json) is timed but not recommended over fp32 (bench says to check it against its source).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ferry.bench.recommend import TIE, Recommendation


@dataclass
class Verdict:
    """What the file computes in and how it fared against its float source."""

    precision: str  # fp32, fp16, int8, ... (ferry.json's, else read from the file, else "unknown")
    passed: bool | None  # the check against the float source (ferry.json); None: not checked
    accuracy: dict[str, Any] | None  # ferry.json's accuracy cost
    source: str  # where this comes from

    def to_dict(self) -> dict[str, Any]:
        return {"precision": self.precision, "passed": self.passed, "accuracy": self.accuracy, "from": self.source}

    @property
    def eligible(self) -> bool:
        """Can this file be recommended against other precisions?"""
        return self.passed is True or (self.passed is None and self.precision == "fp32")

    def cost(self) -> str:
        a = self.accuracy or {}
        parts = []
        if "top1_agreement" in a:
            parts.append(f"top-1 agreement {a['top1_agreement']:.0%}")
            if a.get("max_prob_delta") is not None:
                parts.append(f"largest probability change {a['max_prob_delta']:.3g}")
        if "miou" in a:
            parts.append(f"mIoU {a['miou']:.4f}")
        if "matched" in a:
            parts.append(f"{a['matched']} of {a.get('ref_detections')} detections matched")
        if a.get("max_abs") is not None:
            parts.append(f"max abs {a['max_abs']:.3g}")
        n = f" on {a['images']} photos" if a.get("images") else ""
        return (", ".join(parts) + f" against the float source{n} ({self.source})") if parts else "not measured"


def verdict_of(model: Path) -> Verdict:
    from ferry.convert.manifest import find_entry
    from ferry.errors import FerryError

    try:
        found = find_entry(model)
    except FerryError:
        found = None
    if found is not None:
        _, entry = found
        return Verdict(entry.precision, entry.passed if entry.check is not None else None, entry.accuracy,
                       f"{model.parent / 'ferry.json'}")
    try:
        from ferry.precision import detect  # read from the file itself, where that module is present

        return Verdict(detect(model).kind, None, None, "read from the file")
    except Exception:  # noqa: BLE001 - a file that cannot be read for it is still benched
        return Verdict("unknown", None, None, "not known")


def siblings(model: Path) -> list[Path]:
    """The other precisions `ferry convert` made of the same target as `model` (from the ferry.json beside it)."""
    import json

    from ferry.convert.manifest import MANIFEST_NAME

    manifest = model.parent / MANIFEST_NAME
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        targets = data["targets"]
        me = next(t for t in targets if t.get("path") and Path(t["path"]).name == model.name)
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        return []
    out = []
    for t in targets:
        if t is me or not t.get("path") or t.get("format") != me.get("format") or not t.get("reachable", True):
            continue
        if t.get("precision", "fp32") == me.get("precision", "fp32"):
            continue
        p = model.parent / Path(t["path"]).name
        if p.exists():
            out.append(p)
    return out


def recommend_across(models: list[Any]) -> Recommendation | None:
    """The fastest path over every benched file whose path passes parity and whose file passes its precision's
    verdict (Verdict.eligible). None when fewer than two files were benched (each model's own recommendation says
    it all)."""
    if len(models) < 2:
        return None
    timed = [(mb, p) for mb in models for p in mb.paths if p.error is None and p.stats is not None
             and p.parity_passed]
    ok = sorted(((mb, p) for mb, p in timed if mb.verdict.eligible), key=lambda x: x[1].stats.per_image_ms)
    if not ok:
        return Recommendation(None, "no file passes both its path's parity and its precision's verdict against the "
                                    "float source", [])
    best_mb, best = ok[0]
    ms = best.stats.per_image_ms
    label = f"{Path(best_mb.model).name} {best.id}"
    why = f"fastest that passes: {best_mb.verdict.precision}, {ms:.3f} ms per image (p50)"
    fp32 = [(mb, p) for mb, p in ok if mb.verdict.precision == "fp32"]
    if best_mb.verdict.precision != "fp32":
        if fp32:
            f_mb, f_p = fp32[0]
            why += (f", {f_p.stats.per_image_ms / ms:.2f}x the fastest fp32 path ({Path(f_mb.model).name} "
                    f"{f_p.id}, {f_p.stats.per_image_ms:.3f} ms)")
        why += f"; it costs: {best_mb.verdict.cost()}"
    failing = [(mb, p) for mb, p in timed if not mb.verdict.eligible and p.stats.per_image_ms < ms]
    seen: set[str] = set()
    for mb, p in failing:
        name = Path(mb.model).name
        if name in seen:
            continue
        seen.add(name)
        what = ("failed its check against the float source: " + mb.verdict.cost()) if mb.verdict.passed is False \
            else "not checked against its float source (run ferry check SOURCE on it)"
        why += f"; faster but not chosen: {name} ({mb.verdict.precision}, {p.stats.per_image_ms:.3f} ms) {what}"
    ties = [f"{Path(mb.model).name} {p.id}" for mb, p in ok[1:] if p.stats.per_image_ms <= ms * (1 + TIE)]
    if ties:
        why += f"; within {TIE:.0%}: " + ", ".join(ties)
    return Recommendation(label, why, ties)
