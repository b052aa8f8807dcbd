"""Colours for any number of classes.

The Pascal VOC colour map (bits of the class id spread over R, G and B, high bits first) gives every id below
2**24 its own colour, neighbouring ids very different colours, and is the palette most segmentation tools draw
with, so a user's VOC/ADE masks look familiar. Fixed 16- or 20-entry tables repeat after their length, which
would paint two different classes the same: this one never does.
"""

from __future__ import annotations

import numpy as np


def palette(n: int) -> np.ndarray:
    """(n, 3) uint8 RGB colours, all distinct; class 0 is black (background in VOC)."""
    if n < 0:
        raise ValueError("n must be >= 0")
    ids = np.arange(n, dtype=np.int64)
    rgb = np.zeros((n, 3), np.int64)
    c = ids.copy()
    for j in range(8):
        for ch in range(3):
            rgb[:, ch] |= ((c >> ch) & 1) << (7 - j)
        c >>= 3
    return rgb.astype(np.uint8)


def color_for(i: int) -> tuple[int, int, int]:
    """A bright colour for box/label i (class 0 is black in the VOC map, so boxes use id + 1)."""
    r, g, b = palette(int(i) + 2)[int(i) + 1]
    if int(r) + int(g) + int(b) < 200:  # dark VOC colours vanish on photos: lift them
        r, g, b = (min(255, int(v) + 110) for v in (r, g, b))
    return int(r), int(g), int(b)
