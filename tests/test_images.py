"""Photos are decoded safely: odd formats converted, hostile or useless files refused with one line."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ferry.errors import FerryError
from ferry.images import load_image


def test_16bit_cmyk_gray_and_alpha_become_bgr(tmp_path):
    rgb = np.zeros((6, 8, 3), np.uint8)
    rgb[..., 0] = 200  # red
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=100)
    Image.fromarray(np.arange(48, dtype=np.uint16).reshape(6, 8) * 1000).save(tmp_path / "deep.png")
    Image.fromarray(rgb).convert("RGBA").save(tmp_path / "alpha.png")
    cmyk = load_image(tmp_path / "cmyk.jpg")
    assert cmyk.shape == (6, 8, 3) and cmyk.dtype == np.uint8
    assert cmyk[..., 2].mean() > 150 and cmyk[..., 0].mean() < 60  # red lands in the R slot of BGR
    deep = load_image(tmp_path / "deep.png")
    assert deep.shape == (6, 8, 3) and deep.max() == round(47000 * 255 / 65535)
    alpha = load_image(tmp_path / "alpha.png")
    assert (alpha[..., 2] == 200).all() and (alpha[..., 0] == 0).all()


def test_hostile_and_useless_files_are_refused(tmp_path):
    bomb = tmp_path / "bomb.png"
    Image.new("1", (12000, 12000)).save(bomb)  # 144 Mpixel, a few KB on disk
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (1, 1)).save(tiny)
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    cut = tmp_path / "cut.png"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(cut)
    cut.write_bytes(cut.read_bytes()[:60])
    for path, needle in [(bomb, "pixels"), (tiny, "too small"), (text, "not an image"), (cut, "truncated"),
                         (tmp_path / "absent.png", "no such")]:
        with pytest.raises(FerryError) as info:
            load_image(path)
        msg = str(info.value)
        assert str(path) in msg and needle in msg and "\n" not in msg
