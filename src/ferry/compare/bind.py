"""Which source output a target output carries, by value: the rule behind ferry's output-name binding (issue 15).

Converters bind names by position, by sorted dict key or by internal tensor name, so a name is evidence only
when the values under it agree. `bind` pairs every target output with the source output whose values it
reproduces on one image (same element count, within VALUE_TOL of the source output's own peak): bound (its own
name), swapped (another source output's name), or unnamed (a name no source output has: a tensor name, `output_0`).
A pairing is taken only when it is one to one; an unnamed output that no source output reproduces is paired by
size where one source output and one target output have that size (reduced precision drifts past VALUE_TOL).
Used by `ferry convert` before a file is written (ferry.convert.binding) and by `ferry check` to pair and to flag
outputs (ferry.compare.tensor.match_outputs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Largest difference, relative to the source output's peak, at which a target output still "carries" a source
# output's values. Conversions measured here differ by 1e-8..2e-4 relative (../shared/stack.md, fp16 TFLite 4e-5);
# two different heads of a random-weight model differ by 1e-1 or more. 1e-2 separates them by two orders each way.
VALUE_TOL = 1e-2


@dataclass
class Binding:
    """Target output name -> the source output whose values it carries, and what had to change."""

    carries: dict[str, str] = field(default_factory=dict)
    swapped: dict[str, str] = field(default_factory=dict)  # target name (a source name) -> the source it carries
    unnamed: dict[str, str] = field(default_factory=dict)  # target name (no source name) -> the source it carries
    by_size: set[str] = field(default_factory=set)  # unnamed outputs paired as the one of their size, not by value

    @property
    def renames(self) -> dict[str, str]:
        return {**self.swapped, **self.unnamed}

    def describe(self) -> str:
        parts = [f"the target's {t} carries the source's {s}" for t, s in self.swapped.items()]
        parts += [f"the target's {t} is the source's {s}" + (" (the one output of its size; its values are the "
                                                           "check's to judge)" if t in self.by_size else "")
                  for t, s in self.unnamed.items()]
        return "; ".join(parts)


def _flat(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return a.reshape(-1)


def _carries(src: np.ndarray, tgt: np.ndarray) -> bool:
    """Whether `tgt` holds `src`'s values (shape by element count: converters add or drop dimensions of 1)."""
    if np.size(src) != np.size(tgt) or np.size(src) == 0:  # before any conversion: most pairs stop here
        return False
    try:
        s, t = _flat(src), _flat(tgt)
    except (TypeError, ValueError):  # strings, objects: not values ferry can compare; names stay as they are
        return False
    fin = np.isfinite(s) & np.isfinite(t)
    if not np.array_equal(np.isfinite(s), np.isfinite(t)):
        return False
    peak = float(np.abs(s[fin]).max(initial=0.0))
    return bool(np.all(np.abs(s[fin] - t[fin]) <= VALUE_TOL * peak + 1e-6))


def bind(src_outs: dict[str, np.ndarray], tgt_outs: dict[str, np.ndarray]) -> Binding:
    """Pair each target output with the source output whose values it carries (see the module docstring).

    A target output that carries its own name's values is bound even when another output has equal values; a
    pairing is taken only when it is one-to-one, so outputs that are equal on the probe never cause a rename."""
    fits = {t: [s for s in src_outs if _carries(src_outs[s], tv)] for t, tv in tgt_outs.items()}
    b = Binding()
    claimed: set[str] = set()
    for t, cands in fits.items():
        if t in src_outs and t in cands:
            b.carries[t] = t
            claimed.add(t)
    for t, cands in fits.items():
        if t in b.carries:
            continue
        free = [s for s in cands if s not in claimed]
        if len(free) != 1 or sum(free[0] in c for u, c in fits.items() if u not in b.carries) != 1:
            continue  # nothing, or more than one output, carries these values: left to the check
        s = free[0]
        b.carries[t] = s
        claimed.add(s)
        (b.swapped if t in src_outs else b.unnamed)[t] = s
    _bind_by_size(src_outs, tgt_outs, b, claimed)
    return b


def _bind_by_size(src_outs: dict, tgt_outs: dict, b: Binding, claimed: set[str]) -> None:
    """An unnamed output (`output_0`: no source name) that reproduces no source output within VALUE_TOL, as an int8
    file's box head does (2e-2 of its peak: mtcnn's ONet), is paired with the one unclaimed source output of its
    element count when it is also the one such target output: one to one by size, never for a name the source has
    (a swap needs values), and the check then judges its values under the name an app will read."""
    left = [t for t in tgt_outs if t not in b.carries and t not in src_outs]
    free = [s for s in src_outs if s not in claimed]
    for t in left:
        n = np.size(tgt_outs[t])
        same = [s for s in free if np.size(src_outs[s]) == n]
        if n and len(same) == 1 and sum(np.size(tgt_outs[u]) == n for u in left) == 1:
            b.carries[t] = b.unnamed[t] = same[0]
            b.by_size.add(t)
            claimed.add(same[0])
