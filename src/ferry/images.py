"""Decoding photos safely: what the user gives is checked, never trusted.

Every image becomes uint8 HxWx3 BGR (OpenCV's order, the one deployment code starts from). 16-bit images are
reduced to 8 bits, CMYK and palette images converted, alpha dropped; a decompression bomb, a 1-pixel image or a
file that is not an image is refused with one line naming the file.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ferry.errors import FerryError

MAX_PIXELS = 50_000_000  # ~7000x7000: beyond any photo a check needs, far below a decompression bomb
MIN_SIDE = 2
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif"}


def load_image(path: str | Path) -> np.ndarray:
    """Decode one image file to uint8 HxWx3 BGR."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise FerryError(f"{p}: no such image file")
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                w, h = im.size
                if w * h > MAX_PIXELS:
                    raise FerryError(f"{p}: {w}x{h} pixels is over ferry's limit of {MAX_PIXELS}; downscale it")
                arr = _decode_fast(p, im)
                if arr is None:
                    im.load()
                    arr = _to_bgr(im)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise FerryError(f"{p}: too many pixels (over {MAX_PIXELS}, a decompression bomb guard); downscale it") \
            from None
    except UnidentifiedImageError:
        raise FerryError(f"{p}: not an image ferry can decode (PNG, JPEG, BMP, TIFF, WebP)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise FerryError(f"{p}: corrupt or truncated image ({exc})") from None
    if min(arr.shape[:2]) < MIN_SIDE:
        raise FerryError(f"{p}: {arr.shape[1]}x{arr.shape[0]} pixels is too small to check a model with")
    return arr


def _decode_fast(p: Path, im) -> np.ndarray | None:
    """The common photo (8-bit RGB or gray JPEG, 8-bit RGB PNG, complete) decoded by OpenCV, else None.

    Why (issue 7): PIL's decode plus its array interface and the RGB->BGR swap cost 1.6 ms a photo against
    cv2.imdecode's 1.0 ms straight to BGR, the largest part of what `ferry check` spent beyond its runtimes. Only
    files whose result is byte-identical to PIL's are taken (both link libjpeg-turbo and libpng with their default
    settings; tests/test_images.py holds them equal over subsamplings, progressive, gray, restart markers, PNG
    filters and interlacing): PIL has already read the header, so the size guard has run, and anything else (16-bit,
    palette, CMYK, alpha or tRNS, MPO, a file cut short, which OpenCV would pad with grey where PIL refuses it) goes
    the PIL way. EXIF orientation is ignored as PIL's decode ignores it."""
    if im.format == "JPEG" and im.mode in ("RGB", "L"):
        tail = b"\xff\xd9"  # EOI: libjpeg pads a truncated scan with a warning; PIL refuses the file
    elif im.format == "PNG" and im.mode == "RGB" and "transparency" not in im.info:
        tail = b"IEND\xaeB`\x82"
    else:
        return None
    try:
        import cv2
    except ImportError:
        return None
    data = p.read_bytes()
    if not data.endswith(tail) or (im.format == "PNG" and data[24:26] != b"\x08\x02"):  # IHDR: 8-bit truecolour
        return None
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if arr is None or arr.shape[:2] != (im.size[1], im.size[0]):
        return None
    return arr


def _to_bgr(im) -> np.ndarray:
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "I;16N"):
        a = np.asarray(im).astype(np.float64)
        peak = 65535.0 if a.max() > 255 else 255.0
        gray = np.clip(np.round(a * (255.0 / peak)), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "F":
        a = np.asarray(im).astype(np.float64)
        gray = np.clip(np.round(a * (255.0 if a.max() <= 1.0 else 1.0)), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode != "RGB":
        im = im.convert("RGB")
    rgb = np.asarray(im)
    if rgb.dtype != np.uint8:
        rgb = rgb.astype(np.uint8)
    try:  # issue 7: the strided numpy copy of the reversed view took 0.9 ms a photo, 40% of `ferry check`
        import cv2

        return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)  # the same bytes, one C++ pass
    except ImportError:
        return np.ascontiguousarray(rgb[:, :, ::-1])


def image_files(paths: list[str | Path]) -> list[Path]:
    """Expand directories into their image files (sorted); every path must exist."""
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise FerryError(f"{p}: a directory with no image files in it")
            files.extend(found)
        else:
            files.append(p)
    if not files:
        raise FerryError("no images given: pass --images PHOTO [PHOTO ...]")
    for f in files:
        if not f.is_file():
            raise FerryError(f"{f}: no such image file")
    return files

