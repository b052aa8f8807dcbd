"""BGR to gray as the reference computes it, in integer arithmetic an embedded graph can reproduce bit for bit.

The reference (`reference.to_color`) converts with `cv2.cvtColor(img, COLOR_BGR2GRAY)` under `semantics: opencv`
and with PIL's `convert("L")` under `semantics: pil`. Both are fixed-point sums rounded to uint8:

    gray = (B*wb + G*wg + R*wr + 2**(shift-1)) >> shift

OpenCV 4.14 uses 15-bit weights (3735, 19235, 9798), not the 14-bit (1868, 9617, 4899) of older releases: measured
equal to cv2.cvtColor on all 2**24 colours, and to PIL 13's convert("L") for PIL's 16-bit weights (the test
`tests/runtimes/test_gray_embed.py` holds both). Every partial sum stays below 2**24, so float32 computes it
exactly in any order, and floor((sum + half) / 2**shift) is the shift: an ONNX or OpenVINO graph made of Cast, a
weighted sum, Add, Mul and Floor gives the reference's gray levels exactly, where OpenVINO's own
`convert_color(GRAY)` leaves them unrounded (up to 0.5 of a level off).
"""

from __future__ import annotations

import numpy as np

# semantics -> ((weight of B, of G, of R), shift): in the order ferry's pixels come, BGR.
GRAY_WEIGHTS: dict[str, tuple[tuple[int, int, int], int]] = {
    "opencv": ((3735, 19235, 9798), 15),
    "pil": ((7471, 38470, 19595), 16),
}


def gray_weights(semantics: str) -> tuple[np.ndarray, float, float]:
    """(float32 BGR weights, rounding term, 1 / 2**shift): the constants of the in-graph conversion."""
    weights, shift = GRAY_WEIGHTS[semantics]
    return np.asarray(weights, dtype=np.float32), float(2 ** (shift - 1)), float(2.0 ** -shift)


def gray_levels(bgr: np.ndarray, semantics: str) -> np.ndarray:
    """uint8 ...x3 BGR pixels -> the reference's gray levels (int64), computed with integers (no OpenCV, no PIL):
    what the read-back compares an embedded graph against."""
    (wb, wg, wr), shift = GRAY_WEIGHTS[semantics]
    px = np.asarray(bgr, dtype=np.int64)
    return (px[..., 0] * wb + px[..., 1] * wg + px[..., 2] * wr + (1 << (shift - 1))) >> shift
