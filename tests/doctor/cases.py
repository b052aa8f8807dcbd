"""Wrong contracts a user might feed each test model, and the true contract each model wants.

Each wrong contract is a real mistake: a convention of another framework, a colour swap, half a normalisation,
a normalisation applied twice, std used as 1/std, a wrong layout or resize."""

from __future__ import annotations

IMAGENET = {"color": "RGB", "scale": 1 / 255, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
CAFFE_BGR = {"color": "BGR", "scale": 1.0, "mean": [103.939, 116.779, 123.68], "std": [1, 1, 1]}
TF = {"color": "RGB", "scale": 1 / 127.5, "mean": [1, 1, 1], "std": [1, 1, 1]}
UNIT = {"color": "RGB", "scale": 1 / 255}
RAW = {"color": "RGB", "scale": 1.0}


def _with(base: dict, **kw) -> dict:
    return {**base, **kw}


EFFNET_TRUE = {"color": "RGB", "scale": 1.0, "mean": [127.0] * 3, "std": [128.0] * 3, "layout": "NCHW",
               "size": [224, 224]}
EFFNET_WRONG = {
    "imagenet": IMAGENET,
    "caffe": CAFFE_BGR,
    "tf BGR": _with(TF, color="BGR"),
    "0..1": UNIT,
    "0..255": RAW,
    "BGR, right numbers": _with(EFFNET_TRUE, color="BGR"),
    "no std": _with(EFFNET_TRUE, std=[1, 1, 1]),
    "std as 1/std": _with(EFFNET_TRUE, std=[1 / 128] * 3),
    "twice": {"color": "RGB", "scale": 1 / 128 ** 2, "mean": [127 / 128 ** 2 + 127 / 128] * 3},
    "mean not scaled": {"color": "RGB", "scale": 1 / 255, "mean": [127.0] * 3, "std": [128 / 255] * 3},
    "imagenet BGR": _with(IMAGENET, color="BGR"),
    "no mean": _with(EFFNET_TRUE, mean=[0, 0, 0]),
}

PPOCR_SIZE = [256, 256]
PPOCR_TRUE = {"color": "BGR", "scale": 1 / 255, "mean": [0.5] * 3, "std": [0.5] * 3, "layout": "NCHW",
              "size": PPOCR_SIZE}
# What PP-OCRv4 det was trained on (PaddleOCR configs/det/ch_PP-OCRv4/ch_PP-OCRv4_det_student.yml, Train and Eval):
# DecodeImage img_mode BGR, then NormalizeImage scale 1/255 with ImageNet's mean/std in RGB order applied to the BGR
# channels as they lie ("order: hwc"). RapidOCR feeds (x/255-0.5)/0.5 instead (PPOCR_TRUE): the model tolerates it,
# and a reference-based diagnosis names it, but label-free evidence can only find what the weights were trained on.
PPOCR_TRAINED = {"color": "BGR", "scale": 1 / 255, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                 "layout": "NCHW", "size": PPOCR_SIZE}
PPOCR_WRONG = {k: _with(v, size=PPOCR_SIZE) for k, v in {
    "imagenet": IMAGENET,
    "caffe": CAFFE_BGR,
    "RGB, right numbers": _with(PPOCR_TRUE, color="RGB"),
    "0..1 BGR": _with(UNIT, color="BGR"),
    "0..255 BGR": _with(RAW, color="BGR"),
    "no std": _with(PPOCR_TRUE, std=[1, 1, 1]),
    "std as 1/std": _with(PPOCR_TRUE, std=[2.0] * 3),
    "twice": {"color": "BGR", "scale": 4 / 255 ** 2 * 255 / 255, "mean": [3.0] * 3},
    "mean not scaled": _with(PPOCR_TRUE, mean=[127.5] * 3),
    "imagenet BGR": _with(IMAGENET, color="BGR"),
    "tf": TF,
}.items()}

# PP-OCR's direction classifier: PaddleOCR's ClsResizeImg decodes BGR and normalises (x/255-0.5)/0.5, as RapidOCR
# does; the wrong contracts are PP-OCR det's at its size.
PPOCR_CLS_SIZE = [48, 192]
PPOCR_CLS_TRUE = {**PPOCR_TRUE, "size": PPOCR_CLS_SIZE}
PPOCR_CLS_WRONG = {k: {**v, "size": PPOCR_CLS_SIZE} for k, v in PPOCR_WRONG.items()}

# Seeded random-weight models (tests/models/torch_models.py): diagnosed with a reference only.
SEEDED_TRUE = {"classifier": _with(IMAGENET, size=[48, 64]), "segmenter": _with(CAFFE_BGR, size=[48, 64])}
SEEDED_WRONG = {
    "imagenet": IMAGENET, "caffe": CAFFE_BGR, "tf": TF, "0..1": UNIT, "0..255": RAW,
    "imagenet BGR": _with(IMAGENET, color="BGR"), "caffe RGB": _with(CAFFE_BGR, color="RGB"),
    "imagenet no std": _with(IMAGENET, std=[1, 1, 1]),
    "imagenet std as 1/std": _with(IMAGENET, std=[1 / 0.229, 1 / 0.224, 1 / 0.225]),
    "imagenet swap after mean": _with(IMAGENET, mean=[0.406, 0.456, 0.485], std=[0.225, 0.224, 0.229]),
    "imagenet twice": {"color": "RGB", "scale": 1 / 255 / 0.229 ** 2, "mean": [0.485 / 0.229 ** 2 + 0.485 / 0.229] * 3},
    "NHWC buffer": _with(IMAGENET, layout="NHWC"),
    "letterbox": _with(IMAGENET, resize={"mode": "letterbox"}),
}
