"""The reference implementation of the contract: the ground truth every runtime's path is compared against.

Images come in as OpenCV decodes them: uint8, HxWx3 in BGR order (or HxW gray). Resizing follows the contract's
`semantics`: "opencv" reproduces cv2.dnn.blobFromImage's geometry (fx/fy resize factors, truncated crop
offsets), "pil" reproduces torchvision/timm on PIL images (antialiased resize, rounded centre crop). The tests
prove both against the real libraries on real photos.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from ferry.errors import ContractError
from ferry.preprocess.contract import Preprocess

_CV_INTER = {"nearest": 0, "bilinear": 1, "bicubic": 2, "area": 3}  # cv2.INTER_* values


_CV2 = None


def _cv2():
    global _CV2
    if _CV2 is None:  # imported once: this sits on the per-image path (issue 7 counts microseconds here)
        from ferry.errors import require

        _CV2 = require("cv2", "opencv")
    return _CV2


def _pil_resample(name: str) -> int:
    from PIL import Image

    return {
        "nearest": Image.Resampling.NEAREST,
        "bilinear": Image.Resampling.BILINEAR,
        "bicubic": Image.Resampling.BICUBIC,
        "area": Image.Resampling.BOX,
    }[name]


def _resize_to(img: np.ndarray, width: int, height: int, contract: Preprocess) -> np.ndarray:
    if img.shape[1] == width and img.shape[0] == height:
        return img
    if contract.resize.semantics == "pil":
        from PIL import Image

        mode = "L" if img.ndim == 2 else "RGB"
        pil = Image.fromarray(img if img.ndim == 2 else img[:, :, ::-1], mode=mode)
        out = np.asarray(pil.resize((width, height), resample=_pil_resample(contract.resize.interpolation)))
        return out if out.ndim == 2 else out[:, :, ::-1]
    return _cv2().resize(img, (width, height), interpolation=_CV_INTER[contract.resize.interpolation])


def _centre_offsets(margin_h: int, margin_w: int, semantics: str) -> tuple[int, int]:
    """Where a centre crop starts: cv2.dnn.blobFromImage truncates half the margin, torchvision's CenterCrop
    rounds it."""
    if semantics == "opencv":
        return int(0.5 * margin_h), int(0.5 * margin_w)
    return int(round(margin_h / 2.0)), int(round(margin_w / 2.0))


def resize_image(img: np.ndarray, contract: Preprocess) -> np.ndarray:
    """Resize (and crop or pad) one decoded image to the contract's size. Returns uint8, channels unchanged."""
    r = contract.resize
    if r.mode == "none" or contract.size is None:
        if contract.size is not None and tuple(img.shape[:2]) != tuple(contract.size):
            raise ContractError(
                f"resize.mode is none but the image is {img.shape[1]}x{img.shape[0]} and size is "
                f"{contract.size[1]}x{contract.size[0]}; set a resize mode"
            )
        return img
    th, tw = contract.size
    h, w = img.shape[:2]
    if r.mode == "stretch":
        if r.crop_fraction >= 1.0:
            return _resize_to(img, tw, th, contract)
        # Caffe's classify.py, timm's crop_mode 'squash', a Hugging Face size {height, width} with a crop_size:
        # stretch to size / crop_fraction, aspect ratio not kept, then take the centre.
        sh, sw = math.floor(th / r.crop_fraction), math.floor(tw / r.crop_fraction)
        stretched = _resize_to(img, sw, sh, contract)
        y0, x0 = _centre_offsets(sh - th, sw - tw, r.semantics)
        return np.ascontiguousarray(stretched[y0:y0 + th, x0:x0 + tw])
    if r.mode == "shorter_side_crop":
        ch, cw = (th, tw) if r.crop_fraction >= 1.0 else (math.floor(th / r.crop_fraction),
                                                         math.floor(tw / r.crop_fraction))
        if r.semantics == "opencv":
            # cv2.dnn.blobFromImage(crop=True): one float factor, cv2.resize(fx, fy), crop offset truncated.
            f = max(np.float32(cw) / np.float32(w), np.float32(ch) / np.float32(h))
            cv2 = _cv2()
            resized = cv2.resize(img, None, fx=float(f), fy=float(f),
                                 interpolation=_CV_INTER[r.interpolation])
            y0, x0 = _centre_offsets(resized.shape[0] - th, resized.shape[1] - tw, "opencv")
        else:
            # torchvision Resize(shorter side) + CenterCrop: the limiting side gets its size exactly.
            if ch / h >= cw / w:
                nh, nw = ch, max(cw, int(ch * w / h))
            else:
                nh, nw = max(ch, int(cw * h / w)), cw
            resized = _resize_to(img, nw, nh, contract)
            y0, x0 = _centre_offsets(nh - th, nw - tw, "pil")
        return np.ascontiguousarray(resized[y0:y0 + th, x0:x0 + tw])
    # letterbox: fit inside, keep aspect, pad centred (cv2.dnn DNN_PMODE_LETTERBOX geometry)
    f = min(np.float32(tw) / np.float32(w), np.float32(th) / np.float32(h))
    rh, rw = max(1, int(h * f)), max(1, int(w * f))
    resized = _resize_to(img, rw, rh, contract)
    top, left = (th - rh) // 2, (tw - rw) // 2
    out = np.full((th, tw) + img.shape[2:], np.uint8(round(r.pad_value)), dtype=np.uint8)
    out[top:top + rh, left:left + rw] = resized
    return out


def to_color(img_bgr: np.ndarray, contract: Preprocess) -> np.ndarray:
    """BGR (or gray) uint8 image -> HxWxC uint8 in the contract's channel order and gray polarity."""
    if contract.color == "GRAY":
        if img_bgr.ndim == 3:
            if contract.resize.semantics == "pil":
                from PIL import Image

                gray = np.asarray(Image.fromarray(img_bgr[:, :, ::-1], "RGB").convert("L"))
            else:
                gray = _cv2().cvtColor(img_bgr, 6)  # cv2.COLOR_BGR2GRAY
        else:
            gray = img_bgr
        if contract.gray_zero_is == "white":
            gray = 255 - gray
        return gray[:, :, None]
    if img_bgr.ndim == 2:
        img_bgr = np.repeat(img_bgr[:, :, None], 3, axis=2)
    return img_bgr[:, :, ::-1] if contract.color == "RGB" else img_bgr


def _lut(gain: float, offset: float) -> np.ndarray:
    """The 256 values x * gain + offset for x in 0..255, in float32, computed with the very numpy operations
    (float32 multiply, then float32 add) that the per-pixel formula uses, so a table lookup gives the same bits."""
    return _lut_cached(float(gain), float(offset))


@lru_cache(maxsize=64)
def _lut_cached(gain: float, offset: float) -> np.ndarray:
    table = np.arange(256, dtype=np.float32) * np.float32(gain)
    table += np.float32(offset)
    table = table.reshape(256, 1)  # the shape cv2.LUT takes; np.take reads it flat
    table.setflags(write=False)
    return table


def _opencv():
    try:
        return _cv2()
    except ImportError:  # ferry's base install has no OpenCV: numpy does the same lookup, a little slower
        return None


def _lookup_plane(img: np.ndarray, channel: int, table: np.ndarray, out: np.ndarray) -> None:
    """out[...] = table[img[:, :, channel]], `out` a contiguous float32 HxW plane. cv2.LUT when OpenCV is there
    (about half the time of np.take); the bits are the same either way: it is a lookup."""
    cv2 = _opencv()
    if cv2 is None:
        np.take(table, img[:, :, channel], out=out)
        return
    cv2.LUT(cv2.extractChannel(img, channel), table, dst=out)


def normalize(pixels: np.ndarray, contract: Preprocess) -> np.ndarray:
    """NxHxWxC uint8 in contract channel order -> the model tensor in the contract's layout and dtype."""
    return _normalize_planes([pixels[i] for i in range(pixels.shape[0])], contract, reverse=False)


def _normalize_planes(images: list[np.ndarray], contract: Preprocess, reverse: bool) -> np.ndarray:
    """HxWxC uint8 images (channel order reversed when `reverse`: BGR pixels for an RGB contract) -> the tensor.

    Speed (issue 7): a uint8 pixel has 256 values, so x * gain_c + offset_c is a 256-entry float32 table per
    channel, looked up plane by plane straight into the output: no strided reads of a reversed-channel view,
    no float temporaries, the same bits as computing the formula per pixel (the table is made by that formula).
    """
    gain, offset = contract.affine()
    if contract.dtype in ("uint8", "int8"):
        if any(g != 1.0 for g in gain) or any(o != 0.0 for o in offset):
            raise ContractError(
                f"dtype {contract.dtype} takes raw pixels: scale must be 1, mean 0 and std 1 (quantised inputs "
                "are not supported yet)"
            )
        x = np.stack([img[:, :, ::-1] if reverse else img for img in images]).astype(contract.dtype)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2) if contract.layout == "NCHW" else x)
    h, w, c = images[0].shape
    n = len(images)
    x = np.empty((n, c, h, w) if contract.layout == "NCHW" else (n, h, w, c), dtype=np.float32)
    tables = [_lut(gain[k], offset[k]) for k in range(c)]
    for i, img in enumerate(images):
        if contract.layout == "NCHW":
            for k in range(c):
                _lookup_plane(img, c - 1 - k if reverse else k, tables[k], x[i, k])
        else:  # NHWC: one lookup per channel into the interleaved output (numpy: no contiguous plane to write)
            src = img[:, :, ::-1] if reverse else img
            for k in range(c):
                np.take(tables[k], src[:, :, k], out=x[i, :, :, k])
    return x.astype(np.float16) if contract.dtype == "float16" else x


def resize_batch(images: list[np.ndarray], contract: Preprocess) -> np.ndarray:
    """Images resized per the contract, stacked as uint8 NxHxWx3 BGR: what a model with embedded preprocessing
    takes from the host."""
    resized = [resize_image(img if img.ndim == 3 else np.repeat(img[:, :, None], 3, axis=2), contract)
               for img in images]
    _same_size(resized)
    return np.stack(resized)


def preprocess_batch(images: list[np.ndarray], contract: Preprocess) -> np.ndarray:
    """Decoded BGR uint8 images -> the model's input tensor (N first) under `contract`."""
    resized = [resize_image(img, contract) for img in images]
    if contract.color == "GRAY" or any(img.ndim != 3 for img in resized):
        colored = [to_color(img, contract) for img in resized]
        _same_size(colored)
        return _normalize_planes(colored, contract, reverse=False)
    _same_size(resized)  # BGR pixels: the RGB order is taken by reading the planes in reverse
    return _normalize_planes(resized, contract, reverse=contract.color == "RGB")


def preprocess_image(image: np.ndarray, contract: Preprocess) -> np.ndarray:
    """One image -> a batch-of-one tensor."""
    return preprocess_batch([image], contract)


def _same_size(arrays: list[np.ndarray]) -> None:
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ContractError(
            f"the images come out in different sizes {sorted(shapes)}; set size and a resize mode in the contract"
        )
