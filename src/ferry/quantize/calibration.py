"""The representative dataset: the user's photos through the contract, exactly what the target is fed.

Static int8 quantization fixes every activation's range from the calibration tensors, so those must be what the
deployed model sees: the same decode (ferry.images.load_image, what `check` decodes), the same resize, colour
order, normalisation and layout (ferry.preprocess.reference.preprocess_batch, what `check` feeds the source). A
calibration on noise or on another contract (a BGR swap) sets ranges for inputs the model never gets.

Too few photos give ranges from a handful of activations and a model that agrees on those photos only.
MIN_PHOTOS, measured on EfficientNet-Lite0 (benchmarks/bench_quantized.py --calibration; ONNX QDQ calibrated on the
first N bundled photos, scored on all 10 against the float model): N = 1 gives a largest logit error of 4.9 and
top-1 agreement 0.6; N = 2, 4, 6, 8, 10 give 0.86, 0.88, 0.82, 0.76, 0.83 and 0.9 (the one photo that flips is the
same near tie each time). The knee is at 2; ferry asks for twice that. On photos a file was not calibrated on, and
on three real models MIN_PHOTOS was not chosen on (RECOMMENDED_PHOTOS below), 4 photos are not always enough.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ferry.errors import FerryError
from ferry.preprocess.contract import Preprocess

MIN_PHOTOS = 4
# Below this, convert says the file may fit its calibration photos only. Measured 2026-12-03 on photos each file was
# NOT calibrated on (benchmarks/bench_calibration_photos.py: ONNX QDQ on N photos drawn at random, 3 draws, judged by
# check's int8 rule; EfficientNet-Lite0, and three real models held out of MIN_PHOTOS: MTCNN O-Net, PP-OCR cls,
# PaddleClas orientation): N = 4 passed 9 of 12 draws (MTCNN O-Net's box and landmark heads 1 of 3, error up to 0.38
# of their spread), N = 8 passed 6 of 6 (the two models with 10 photos).
RECOMMENDED_PHOTOS = 8


@dataclass(frozen=True)
class Calibration:
    """Batch-of-one model input tensors, one per photo, in the contract's layout and dtype."""

    tensors: tuple[np.ndarray, ...]
    photos: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.tensors)


def require_enough(files: list[Path], precisions: list[str]) -> None:
    """int8 needs MIN_PHOTOS photos; say how many, before anything is converted (exit 2, one line)."""
    if "int8" in precisions and len(files) < MIN_PHOTOS:
        raise FerryError(f"--precision int8: {len(files)} photo{'s' if len(files) != 1 else ''} given; int8 is "
                         f"calibrated on your photos and needs at least {MIN_PHOTOS} (activation ranges from fewer "
                         f"fit those photos only): pass --images with {MIN_PHOTOS} or more photos like the ones the "
                         "model will see")


def photo_digest(path: str | Path) -> str:
    """sha256 of a photo file's bytes: the same photo under another name or folder is the same photo."""
    from ferry.io import sha256_file

    return sha256_file(path)


def record(files: list[Path]) -> dict:
    """What ferry.json keeps of an int8 target's calibration: how many photos and their digests, so a later `check`
    can say when it runs on the photos the file was calibrated on (its agreement there is optimistic)."""
    return {"photos": len(files), "sha256": [photo_digest(f) for f in files]}


def overlap(calibrated: dict | None, files: list[Path]) -> dict | None:
    """{"photos": how many of `files` were calibration photos, "of": len(files)}; None without a record."""
    if not calibrated or not calibrated.get("sha256"):
        return None
    known = set(calibrated["sha256"])
    return {"photos": sum(photo_digest(f) in known for f in files), "of": len(files)}


def overlap_note(ov: dict) -> str | None:
    """The words for a check row whose photos include calibration photos."""
    if not ov or not ov["photos"]:
        return None
    share = "all" if ov["photos"] == ov["of"] else f"{ov['photos']} of {ov['of']}"
    return (f"{share} of the photos checked calibrated this int8 file: its agreement there is optimistic (the "
            "activation ranges were fitted to them); check it on photos it was not calibrated on")


def few_photos_note(n: int) -> str | None:
    """The words for an int8 file calibrated on fewer than RECOMMENDED_PHOTOS photos."""
    if n >= RECOMMENDED_PHOTOS:
        return None
    return (f"calibrated on {n} photos: on photos it was not calibrated on, files from 4 photos failed the int8 "
            f"rule in 3 of 12 trials over four real models (benchmarks/README.md); calibrate on "
            f"{RECOMMENDED_PHOTOS} or more and check on others")


def calibration(files: list[Path], contract: Preprocess) -> Calibration:
    """Each photo decoded and preprocessed as `check` feeds the source."""
    from ferry.images import load_image
    from ferry.preprocess.reference import preprocess_batch

    tensors = tuple(preprocess_batch([load_image(f)], contract) for f in files)
    return Calibration(tensors, tuple(str(f) for f in files))
