"""Decoding photos safely: what the user gives is checked, never trusted.

Every image becomes uint8 HxWx3 BGR (OpenCV's order, the one deployment code starts from). 16-bit images are
reduced to 8 bits, CMYK and palette images converted, alpha dropped; a decompression bomb, a 1-pixel image or a
file that is not an image is refused with one line naming the file.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np

from ferry.errors import FerryError

MAX_PIXELS = 50_000_000  # ~7000x7000: beyond any photo a check needs, far below a decompression bomb
MIN_SIDE = 2
MAX_FILE_BYTES = 256 << 20  # a larger file is not read whole: PIL reads its header from disk and refuses it or not
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif"}


def load_image(path: str | Path) -> np.ndarray:
    """Decode one image file to uint8 HxWx3 BGR."""
    p = Path(path)
    if not p.is_file():
        raise FerryError(f"{p}: no such image file")
    data = p.read_bytes() if p.stat().st_size <= MAX_FILE_BYTES else None
    size = _common_photo_size(data) if data is not None else None
    arr = None
    if size is not None:
        _refuse_too_many_pixels(p, *size)
        arr = _decode_fast(data, size)
    if arr is None:
        arr = _decode_pil(p, data)
    if min(arr.shape[:2]) < MIN_SIDE:
        raise FerryError(f"{p}: {arr.shape[1]}x{arr.shape[0]} pixels is too small to check a model with")
    return arr


def _refuse_too_many_pixels(p: Path, w: int, h: int) -> None:
    """The size guard, from the header, before any pixel is decoded."""
    if w * h > MAX_PIXELS:
        raise FerryError(f"{p}: {w}x{h} pixels is over ferry's limit of {MAX_PIXELS}; downscale it")


def _decode_pil(p: Path, data: bytes | None) -> np.ndarray:
    """Everything but the common photo: PIL reads the header (the size guard runs before any pixel is decoded)."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data) if data is not None else p) as im:
                _refuse_too_many_pixels(p, *im.size)
                im.load()
                return _to_bgr(im)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise FerryError(f"{p}: too many pixels (over {MAX_PIXELS}, a decompression bomb guard); downscale it") \
            from None
    except UnidentifiedImageError:
        raise FerryError(f"{p}: not an image ferry can decode (PNG, JPEG, BMP, TIFF, WebP)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise FerryError(f"{p}: corrupt or truncated image ({exc})") from None


def _common_photo_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a common photo (a complete 8-bit gray or colour JPEG, a complete 8-bit RGB PNG without
    transparency or animation), read from its header; None for anything else, which PIL then decodes.

    Why by hand (issue 7): PIL's `Image.open` parses every JPEG table into Python objects to learn the size and
    mode, 0.2 ms a photo, a tenth of what the decode itself costs and the largest part of `ferry check`'s own time
    on a small model; OpenCV has no header-only reader, and `imagesize` (another dependency) reports neither the
    component count nor the bit depth nor an MPO's second picture, which decide whether OpenCV's bytes are PIL's.
    The walk reads marker lengths only; any doubt returns None."""
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return _png_size(data)
    return None


_SOF_SUPPORTED = (0xC0, 0xC1, 0xC2)  # baseline, extended, progressive Huffman: what both libjpeg builds decode alike


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    if not data.endswith(b"\xff\xd9"):  # EOI: libjpeg pads a truncated scan with a warning; PIL refuses the file
        return None
    i, n, size = 2, len(data), None
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if length < 2:
            return None
        body = data[i + 4:i + 2 + length]
        if marker == 0xDA:  # start of scan: the header is complete
            return size
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start of frame (DHT, JPG, DAC are not)
            if marker not in _SOF_SUPPORTED or size is not None or len(body) < 6 or body[0] != 8:
                return None  # lossless, arithmetic, 12-bit, or two frames
            h, w, components = int.from_bytes(body[1:3], "big"), int.from_bytes(body[3:5], "big"), body[5]
            if components not in (1, 3) or not h or not w:  # CMYK/YCCK; a height given later by DNL
                return None
            size = (w, h)
        elif marker == 0xE2 and body.startswith(b"MPF\x00"):  # a multi-picture file: PIL opens it as MPO
            return None
        elif marker == 0xEE and body.startswith(b"Adobe"):  # a colour transform flag: leave it to PIL
            return None
        i += 2 + length
    return None


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[12:16] != b"IHDR" or data[24:26] != b"\x08\x02" or not data.endswith(b"IEND\xaeB`\x82"):
        return None  # 8-bit truecolour only (no palette, gray, alpha or 16-bit), and complete
    w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    i, n = 8, len(data)
    while i + 8 <= n:
        kind = data[i + 4:i + 8]
        if kind in (b"tRNS", b"acTL"):  # a transparent colour, an animation: PIL's way
            return None
        if kind == b"IDAT":
            return (w, h) if w and h else None
        i += 12 + int.from_bytes(data[i:i + 4], "big")
    return None


def _decode_fast(data: bytes, size: tuple[int, int]) -> np.ndarray | None:
    """The common photo decoded by OpenCV straight to BGR, or None (no OpenCV, or it disagrees on the size).

    Why (issue 7): PIL's decode plus its array interface and the RGB->BGR swap cost 1.6 ms a photo against
    cv2.imdecode's 1.0 ms, the largest part of what `ferry check` spent beyond its runtimes. Only files whose result
    is byte-identical to PIL's are taken (`_common_photo_size`; both link libjpeg-turbo and libpng with their
    default settings; tests/test_images.py holds them equal over subsamplings, progressive, gray, restart markers,
    PNG filters and interlacing); anything else (16-bit, palette, CMYK, alpha or tRNS, MPO, a file cut short, which
    OpenCV would pad with grey where PIL refuses it) goes the PIL way. EXIF orientation is ignored as PIL's decode
    ignores it."""
    try:
        import cv2
    except ImportError:
        return None
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if arr is None or arr.shape[:2] != (size[1], size[0]):
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
            if (p / "reference.json").is_file():
                raise FerryError(f"{p}: a saved reference, not photos; give it as the SOURCE: "
                                 "`ferry check DIR TARGET... --images PHOTOS`")
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                _not_a_model(p)
                raise FerryError(f"{p}: a directory with no image files in it")
            files.extend(found)
        else:
            files.append(p)
    if not files:
        raise FerryError("no images given: pass --images PHOTO [PHOTO ...]")
    for f in files:
        if not f.is_file():
            raise FerryError(f"{f}: no such image file")
        if f.suffix.lower() not in IMAGE_SUFFIXES:
            _not_a_model(f)
    return files


def _not_a_model(p: Path) -> None:
    """A model given where photos are expected (`--images model.onnx`, a SavedModel folder) is named as a model,
    before any model loads, rather than failing later as an undecodable image or a photo a reference lacks."""
    from ferry.formats import detect_format

    try:
        fmt = detect_format(p)
    except FerryError:
        return  # not a model either: the decoder says what it is
    raise FerryError(f"{p}: a model ({fmt}), not a photo; models go before --images, photos after it")

