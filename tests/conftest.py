"""Shared fixtures: seeded models built once and cached (FERRY_TEST_CACHE or ~/.cache/ferry-tests), photos."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).parent / "models"))

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ROOT / "examples" / "images"


@pytest.fixture(scope="session")
def photos() -> list[Path]:
    files = sorted(p for p in PHOTOS.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    assert len(files) >= 8, "examples/images must hold the bundled photos"
    return files


@pytest.fixture(scope="session")
def classifier_onnx() -> Path:
    import torch_models

    return torch_models.onnx_path("classifier")


@pytest.fixture(scope="session")
def segmenter_onnx() -> Path:
    import torch_models

    return torch_models.onnx_path("segmenter")
