"""The recommendation: the fastest deployment path whose outputs pass parity with the reference path.

Speed is the median latency per image (p50 of a call divided by the images in it): the median, not the mean,
so one descheduled call does not reorder paths. A path that failed parity, or could not run, is never
recommended however fast it is; when no path passes there is no recommendation, and the reason says so.
Paths within `TIE` of the winner are named beside it: on a shared machine their order can flip between runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TIE = 0.05


@dataclass
class Recommendation:
    path: str | None
    why: str
    ties: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "why": self.why, "ties": self.ties}


def recommend(paths: list[Any]) -> Recommendation:
    """`paths`: PathResult-like objects with `id`, `error`, `parity_passed` and `stats` (None when not timed)."""
    timed = [p for p in paths if p.error is None and p.stats is not None]
    passing = [p for p in timed if p.parity_passed]
    if not passing:
        failed = ", ".join(p.id for p in timed) or "none ran"
        return Recommendation(None, f"no path passes parity with the reference ({failed}): fix the model or the "
                                    "contract before choosing a runtime", [])
    passing.sort(key=lambda p: p.stats.per_image_ms)
    best = passing[0]
    ties = [p.id for p in passing[1:] if p.stats.per_image_ms <= best.stats.per_image_ms * (1 + TIE)]
    why = f"fastest of {len(passing)} paths that pass parity: {best.stats.per_image_ms:.3f} ms per image (p50)"
    faster = [p for p in timed if not p.parity_passed and p.stats.per_image_ms < best.stats.per_image_ms]
    if faster:
        why += "; faster but failing parity: " + ", ".join(p.id for p in faster)
    if ties:
        why += f"; within {TIE:.0%} (a tie on a busy machine): " + ", ".join(ties)
    return Recommendation(best.id, why, ties)
