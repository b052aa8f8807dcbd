"""The table-lookup reference preprocessing (issue 7's speed work) gives the same bits as the per-pixel formula.

`_formula` below is the straightforward computation the reference used before: colour order by a reversed view,
then x * gain + offset in float32 (multiply, then add), per pixel. The lookup must equal it exactly, for every
layout, colour order and dtype, with OpenCV's cv2.LUT and with the numpy fallback, on real photos.
"""

from __future__ import annotations

import numpy as np
import pytest

from ferry.images import load_image
from ferry.preprocess import reference
from ferry.preprocess.contract import Preprocess, Resize
from ferry.preprocess.presets import PRESETS
from ferry.preprocess.reference import preprocess_batch, resize_image, to_color


def _formula(images: list[np.ndarray], contract: Preprocess) -> np.ndarray:
    pixels = np.stack([to_color(resize_image(img, contract), contract) for img in images])
    if contract.dtype in ("uint8", "int8"):
        x = pixels.astype(contract.dtype)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2) if contract.layout == "NCHW" else x)
    gain, offset = contract.affine()
    x = pixels.astype(np.float32)
    x *= np.asarray(gain, dtype=np.float32)
    x += np.asarray(offset, dtype=np.float32)
    if contract.layout == "NCHW":
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return x.astype(np.float16) if contract.dtype == "float16" else x


CONTRACTS = {
    "imagenet-nchw": PRESETS["imagenet"].replace(size=(48, 64), layout="NCHW"),
    "imagenet-nhwc": PRESETS["imagenet"].replace(size=(48, 64), layout="NHWC"),
    "caffe-nchw": PRESETS["caffe"].replace(size=(40, 40), layout="NCHW"),
    "tf-nhwc-crop": PRESETS["tf"].replace(size=(32, 48), layout="NHWC",
                                          resize=Resize(mode="shorter_side_crop", crop_fraction=0.875)),
    "gray-white-nchw": Preprocess(color="GRAY", gray_zero_is="white", size=(30, 50), scale=1 / 255, mean=(0.5,),
                                  std=(0.25,), layout="NCHW"),
    "gray-nhwc-pil": Preprocess(color="GRAY", size=(30, 50), scale=1 / 255, layout="NHWC",
                                resize=Resize(semantics="pil")),
    "fp16-letterbox": PRESETS["imagenet"].replace(size=(64, 64), layout="NCHW", dtype="float16",
                                                  resize=Resize(mode="letterbox", pad_value=114)),
    "uint8-rgb-nchw": Preprocess(color="RGB", size=(48, 64), layout="NCHW", dtype="uint8"),
}


@pytest.mark.parametrize("opencv", [True, False], ids=["cv2.LUT", "numpy"])
@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_lookup_equals_formula_bit_for_bit(photos, name: str, opencv: bool, monkeypatch) -> None:
    if not opencv:
        monkeypatch.setattr(reference, "_opencv", lambda: None)
    images = [load_image(p) for p in photos[:3]]
    images.append(images[0][:, :, 0].copy())  # a gray decoded image among colour ones
    contract = CONTRACTS[name]
    got = preprocess_batch(images, contract)
    want = _formula(images, contract)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(got.view(np.uint8), want.view(np.uint8)), np.abs(got.astype(float) - want).max()


def test_every_pixel_value_maps_like_the_formula() -> None:
    """All 256 values in every channel, through the public normalize (strided input views included)."""
    contract = PRESETS["imagenet"].replace(size=(16, 16), layout="NCHW")
    ramp = np.arange(256, dtype=np.uint8).reshape(16, 16)
    pixels = np.stack([ramp, 255 - ramp, ramp.T], axis=-1)[None]
    got = reference.normalize(pixels[:, :, :, ::-1], contract)  # a reversed view, as callers may hand it
    gain, offset = contract.affine()
    want = pixels[:, :, :, ::-1].astype(np.float32) * np.float32(gain) + np.float32(offset)
    assert np.array_equal(got, np.ascontiguousarray(want.transpose(0, 3, 1, 2)))


def test_lookup_catches_a_wrong_table(photos, monkeypatch) -> None:
    """The equality above is not vacuous: a table off by one float32 ulp in one entry is caught."""
    contract = CONTRACTS["imagenet-nchw"]
    images = [load_image(p) for p in photos[:2]]

    def off_by_one_ulp(gain: float, offset: float) -> np.ndarray:
        table = reference._lut_cached(gain, offset).copy()
        table[128] = np.nextafter(table[128], np.float32(np.inf))
        return table

    monkeypatch.setattr(reference, "_lut", off_by_one_ulp)
    assert not np.array_equal(preprocess_batch(images, contract), _formula(images, contract))
