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


def _pil_decode(path) -> np.ndarray:
    """What load_image returned before OpenCV took the common files: PIL's decode, converted to BGR."""
    from ferry.images import _to_bgr

    with Image.open(path) as im:
        im.load()
        return _to_bgr(im)


def test_opencv_decodes_the_common_photos_to_pils_exact_bytes(tmp_path):
    """The OpenCV fast path (issue 7) must give the bytes PIL gave, over the encodings photos come in; the files it
    must not take (cut short, EXIF-rotated is still unrotated, CMYK, alpha, 16-bit) keep PIL's behaviour."""
    import cv2

    from ferry.images import _common_photo_size

    rng = np.random.default_rng(7)
    smooth = cv2.resize(rng.integers(0, 256, (9, 13, 3), dtype=np.uint8), (317, 211), interpolation=cv2.INTER_CUBIC)
    photo = np.clip(smooth.astype(int) + rng.integers(-20, 21, smooth.shape), 0, 255).astype(np.uint8)  # odd sides
    rgb = Image.fromarray(photo)
    files = {}
    for sub in (0, 1, 2):
        for q in (50, 95):
            files[f"pil_s{sub}_q{q}.jpg"] = lambda f, s=sub, q=q: rgb.save(f, quality=q, subsampling=s)
    files["progressive.jpg"] = lambda f: rgb.save(f, quality=90, progressive=True, optimize=True)
    files["gray.jpg"] = lambda f: rgb.convert("L").save(f, quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90": PIL's decode ignores it, and so must OpenCV's
    files["exif_rotated.jpg"] = lambda f: rgb.save(f, quality=90, exif=exif.tobytes())
    for name, flags in {"cv_420.jpg": [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420],
                        "cv_422.jpg": [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422],
                        "cv_411.jpg": [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_411],
                        "cv_restart.jpg": [cv2.IMWRITE_JPEG_RST_INTERVAL, 3],
                        "cv_png_filtered.png": [cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_FILTERED],
                        "cv_png_fast.png": [cv2.IMWRITE_PNG_COMPRESSION, 1]}.items():
        files[name] = lambda f, fl=flags: cv2.imwrite(str(f), photo[:, :, ::-1], fl)
    files["pil.png"] = lambda f: rgb.save(f)
    taken = 0
    for name, write in files.items():
        f = tmp_path / name
        write(f)
        want = _pil_decode(f)
        got = load_image(f)
        assert got.dtype == np.uint8 and got.shape == want.shape and np.array_equal(got, want), name
        taken += _common_photo_size(f.read_bytes()) is not None
    assert taken == len(files)  # every one of them went the OpenCV way
    # Not taken: a JPEG cut short (OpenCV would pad it with grey; PIL refuses it), CMYK, alpha, 16-bit, palette.
    cut = tmp_path / "cut.jpg"
    cut.write_bytes((tmp_path / "pil_s0_q95.jpg").read_bytes()[:3000])
    with pytest.raises(FerryError, match="truncated"):
        load_image(cut)
    others = {"cmyk.jpg": rgb.convert("CMYK"), "alpha.png": rgb.convert("RGBA"), "palette.png": rgb.quantize(16),
              "deep.png": Image.fromarray(photo[:, :, 0].astype(np.uint16) * 257)}
    for name, im in others.items():
        im.save(tmp_path / name)
        assert _common_photo_size((tmp_path / name).read_bytes()) is None, name
        assert np.array_equal(load_image(tmp_path / name), _pil_decode(tmp_path / name)), name
    # Nor what PIL reads otherwise: an MPO's pictures, an animated PNG, a PNG with a transparent colour, an Adobe
    # JPEG (its colour transform flag).
    second = Image.fromarray(photo[::-1].copy())
    rgb.save(tmp_path / "two.mpo", format="MPO", save_all=True, append_images=[second])
    rgb.save(tmp_path / "anim.png", save_all=True, append_images=[second])
    rgb.save(tmp_path / "trns.png", transparency=(1, 2, 3))
    adobe = bytearray((tmp_path / "pil_s0_q95.jpg").read_bytes())
    adobe[2:2] = b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00\x01"  # APP14, transform 1 (YCbCr)
    (tmp_path / "adobe.jpg").write_bytes(bytes(adobe))
    for name in ("two.mpo", "anim.png", "trns.png", "adobe.jpg"):
        assert _common_photo_size((tmp_path / name).read_bytes()) is None, name
        assert np.array_equal(load_image(tmp_path / name), _pil_decode(tmp_path / name)), name


def test_the_size_guard_reads_a_common_photos_header_before_decoding(tmp_path):
    """A JPEG whose frame header claims 20000x20000 is refused from its header, OpenCV never decodes it."""
    from ferry.images import _common_photo_size

    Image.new("RGB", (40, 30), (9, 8, 7)).save(tmp_path / "small.jpg", quality=90)
    data = bytearray((tmp_path / "small.jpg").read_bytes())
    assert _common_photo_size(bytes(data)) == (40, 30)
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = (20000).to_bytes(2, "big") * 2
    (tmp_path / "claims.jpg").write_bytes(bytes(data))
    assert _common_photo_size(bytes(data)) == (20000, 20000)
    with pytest.raises(FerryError, match=r"claims.jpg: 20000x20000 pixels is over ferry's limit"):
        load_image(tmp_path / "claims.jpg")
