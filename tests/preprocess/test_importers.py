"""Importers: real configs from timm, Hugging Face, Keras, Open Model Zoo, OpenVINO Model API and Caffe give the
exact contract numbers, and no input whatever makes them raise anything but a FerryError."""

from __future__ import annotations

import json
import math
import os

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from ferry.errors import ContractError, FerryError
from ferry.preprocess.contract import Preprocess, Resize
from ferry.preprocess.importers import (
    Imported,
    from_caffe_mean_binaryproto,
    from_hf,
    from_keras,
    from_mmdeploy,
    from_omz_accuracy_check,
    from_openvino_rt_info,
    from_paddle,
    from_timm,
    import_contract,
    to_openvino_rt_info,
)
from ferry.preprocess.presets import PRESETS

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


# ---- timm ------------------------------------------------------------------------------------------------------
# timm/models/resnet.py: 'resnet50.a1_in1k': _rcfg(...) = _cfg + bicubic, crop_pct 0.95, test (3, 288, 288) @ 1.0
RESNET50_A1_IN1K = {
    "url": "https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-rsb-weights/"
    "resnet50_a1_0-14fe96d1.pth",
    "hf_hub_id": "timm/",
    "num_classes": 1000,
    "input_size": [3, 224, 224],
    "pool_size": [7, 7],
    "crop_pct": 0.95,
    "interpolation": "bicubic",
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
    "first_conv": "conv1",
    "classifier": "fc",
    "test_input_size": [3, 288, 288],
    "test_crop_pct": 1.0,
    "origin_url": "https://github.com/huggingface/pytorch-image-models",
    "paper_ids": "arXiv:2110.00476",
}


def test_timm_resnet50_a1():
    imp = from_timm(RESNET50_A1_IN1K)
    assert isinstance(imp, Imported)
    p = imp.preprocess
    assert p.color == "RGB" and p.layout == "NCHW" and p.dtype == "float32"
    assert p.size == (224, 224)
    assert p.resize == Resize(mode="shorter_side_crop", crop_fraction=0.95, interpolation="bicubic", semantics="pil")
    assert p.scale == 1 / 255
    assert p.mean == IMAGENET_MEAN and p.std == IMAGENET_STD
    assert any("288" in n for n in imp.notes)


def test_timm_test_size():
    p = from_timm(RESNET50_A1_IN1K, use_test_size=True).preprocess
    assert p.size == (288, 288)
    assert p.resize.crop_fraction == 1.0


def test_timm_vit_augreg_and_defaults():
    # vit_base_patch16_224.augreg2_in21k_ft_in1k: inception mean/std, crop_pct 0.9, bicubic
    cfg = {"input_size": (3, 224, 224), "crop_pct": 0.9, "interpolation": "bicubic", "mean": (0.5, 0.5, 0.5),
           "std": (0.5, 0.5, 0.5), "num_classes": 1000}
    p = from_timm(cfg).preprocess
    assert p.mean == (0.5, 0.5, 0.5) and p.std == (0.5, 0.5, 0.5) and p.resize.crop_fraction == 0.9
    # resolve_data_config defaults: 224, bicubic, imagenet, crop_pct 0.875
    imp = from_timm({})
    assert imp.preprocess.size == (224, 224)
    assert imp.preprocess.resize.interpolation == "bicubic"
    assert imp.preprocess.resize.crop_fraction == 0.875
    assert imp.preprocess.mean == IMAGENET_MEAN
    assert any("input_size is missing" in n for n in imp.notes)


def test_timm_crop_modes():
    squash = from_timm({**RESNET50_A1_IN1K, "crop_mode": "squash", "crop_pct": 1.0})
    assert squash.preprocess.resize.mode == "stretch"
    assert not [n for n in squash.notes if "squash" in n]
    # timm's squash with crop_pct 0.95: Resize((235, 235)) then CenterCrop(224), ferry's stretch with a crop
    # fraction (pixels against PIL in tests/preprocess/test_reference.py); nothing approximated, no note
    squeezed = from_timm({**RESNET50_A1_IN1K, "crop_mode": "squash"})
    r = squeezed.preprocess.resize
    assert (r.mode, r.crop_fraction) == ("stretch", 0.95)
    assert math.floor(224 / r.crop_fraction) == 235
    assert not [n for n in squeezed.notes if "squash" in n]
    border = from_timm({**RESNET50_A1_IN1K, "crop_mode": "border", "crop_pct": 1.0})
    assert border.preprocess.resize.mode == "letterbox"
    assert border.preprocess.resize.pad_value == round((124 + 116 + 104) / 3)  # round(255 * mean) per channel
    assert any("border" in n for n in border.notes)
    # non-square 'center': timm's ResizeKeepRatio(scale_size) resizes bilinear whatever the config says
    wide = from_timm({**RESNET50_A1_IN1K, "input_size": [3, 224, 320]})
    assert wide.preprocess.size == (224, 320) and wide.preprocess.resize.interpolation == "bilinear"
    assert any("ResizeKeepRatio" in n for n in wide.notes)


@pytest.mark.parametrize(
    ("cfg", "words"),
    [
        ({"std": [0.229, 0.0, 0.225]}, "std[1] is 0"),
        ({"crop_mode": "zoom"}, "crop_mode"),
        ({"input_size": [4, 224, 224]}, "channels"),
        ({"input_size": 224}, "input_size"),
        ({"interpolation": "magic"}, "interpolation"),
        ({"mean": [0.5, 0.5]}, "mean has 2 values"),
        ({"crop_pct": "0.9"}, "crop_pct must be a number"),
    ],
)
def test_timm_errors(cfg, words):
    with pytest.raises(ContractError) as exc:
        from_timm(cfg)
    assert words in one_line(exc) and "timm" in str(exc.value)


def test_timm_not_a_dict():
    with pytest.raises(ContractError, match="timm pretrained_cfg: the pretrained_cfg must be a mapping"):
        from_timm(["input_size"])


# ---- Hugging Face ------------------------------------------------------------------------------------------------
# google/vit-base-patch16-224 preprocessor_config.json
VIT = {"do_normalize": True, "do_resize": True, "feature_extractor_type": "ViTFeatureExtractor",
       "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "resample": 2, "size": 224}
# facebook/convnext-tiny-224 preprocessor_config.json
CONVNEXT = {"crop_pct": 0.875, "do_normalize": True, "do_resize": True,
            "feature_extractor_type": "ConvNextFeatureExtractor", "image_mean": [0.485, 0.456, 0.406],
            "image_std": [0.229, 0.224, 0.225], "resample": 3, "size": 224}
# openai/clip-vit-base-patch32 preprocessor_config.json
CLIP = {"crop_size": 224, "do_center_crop": True, "do_normalize": True, "do_resize": True,
        "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "size": 224}
# nvidia/segformer-b0-finetuned-ade-512-512 preprocessor_config.json
SEGFORMER = {"do_normalize": True, "do_resize": True, "feature_extractor_type": "SegformerFeatureExtractor",
             "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225], "reduce_labels": True,
             "resample": 2, "size": 512}
# facebook/detr-resnet-50 preprocessor_config.json
DETR = {"do_normalize": True, "do_resize": True, "feature_extractor_type": "DetrFeatureExtractor",
        "format": "coco_detection", "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225],
        "max_size": 1333, "size": 800}


def test_hf_vit():
    imp = from_hf(VIT)
    p = imp.preprocess
    assert p.size == (224, 224)
    assert p.resize == Resize(mode="stretch", interpolation="bilinear", semantics="pil")
    assert p.scale == 1 / 255 and p.mean == (0.5, 0.5, 0.5) and p.std == (0.5, 0.5, 0.5)
    assert p.color == "RGB" and p.layout == "NCHW"


def test_hf_new_style_processor():
    cfg = {"image_processor_type": "ViTImageProcessor", "do_resize": True, "size": {"height": 384, "width": 384},
           "resample": 2, "do_rescale": True, "rescale_factor": 0.00392156862745098, "do_normalize": True,
           "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}
    p = from_hf(cfg).preprocess
    assert p.size == (384, 384) and p.scale == 0.00392156862745098 and p.resize.mode == "stretch"


def test_hf_convnext_crop_pct():
    imp = from_hf(CONVNEXT)
    p = imp.preprocess
    assert p.size == (224, 224)
    assert p.resize == Resize(mode="shorter_side_crop", crop_fraction=0.875, interpolation="bicubic",
                              semantics="pil")
    assert p.mean == IMAGENET_MEAN and p.std == IMAGENET_STD and p.scale == 1 / 255
    # at 384 and above ConvNeXT warps to a square, no crop (facebook/convnext-base-384)
    big = from_hf({**CONVNEXT, "size": 384}).preprocess
    assert big.size == (384, 384) and big.resize.mode == "stretch"


def test_hf_clip_shortest_edge_and_crop():
    p = from_hf(CLIP).preprocess
    assert p.size == (224, 224)
    assert p.resize == Resize(mode="shorter_side_crop", crop_fraction=1.0, interpolation="bicubic",
                              semantics="pil")
    assert p.mean == (0.48145466, 0.4578275, 0.40821073)
    assert p.std == (0.26862954, 0.26130258, 0.27577711)
    new = {"image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 256},
           "crop_size": {"height": 224, "width": 224}, "do_center_crop": True, "resample": 3,
           "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}
    p2 = from_hf(new).preprocess
    assert p2.size == (224, 224) and p2.resize.crop_fraction == 0.875
    # size {height, width} then a crop: HF stretches, then takes the centre (ferry's stretch with a crop fraction)
    fixed = from_hf({**new, "size": {"height": 256, "width": 256}})
    assert fixed.preprocess.resize.mode == "stretch" and fixed.preprocess.resize.crop_fraction == 0.875
    assert not [n for n in fixed.notes if "same only for square" in n or "one number" in n]
    uneven = from_hf({**new, "size": {"height": 256, "width": 320}})
    assert any("one number" in n for n in uneven.notes)


def test_hf_segformer_and_detr():
    seg = from_hf(SEGFORMER).preprocess
    assert seg.size == (512, 512) and seg.resize.mode == "stretch" and seg.resize.interpolation == "bilinear"
    detr = from_hf(DETR)
    assert detr.preprocess.size is None and detr.preprocess.resize.mode == "none"
    assert any("longest_edge 1333" in n and "shortest_edge 800" in n for n in detr.notes)
    lanczos = from_hf({**VIT, "resample": 1})
    assert lanczos.preprocess.resize.interpolation == "bicubic"
    assert any("lanczos" in n for n in lanczos.notes)


def test_hf_from_path_and_text(tmp_path):
    path = tmp_path / "preprocessor_config.json"
    path.write_text(json.dumps(VIT))
    assert from_hf(path).preprocess == from_hf(VIT).preprocess
    assert from_hf(str(path)).source == str(path)
    assert from_hf(json.dumps(VIT)).preprocess == from_hf(VIT).preprocess
    with pytest.raises(ContractError, match="no such file"):
        from_hf(tmp_path / "missing.json")
    path.write_text("{not json")
    with pytest.raises(ContractError, match="not valid JSON"):
        from_hf(path)


@pytest.mark.parametrize(
    ("cfg", "words"),
    [
        ({**VIT, "image_std": [0.5, 0, 0.5]}, "image_std[1] is 0"),
        ({**VIT, "size": {"height": 224}}, "size keys"),
        ({**VIT, "resample": "sinc"}, "resample"),
        ({**VIT, "image_mean": None}, "image_mean"),
        ({**VIT, "do_resize": "perhaps"}, "do_resize must be true or false"),
        ({**CLIP, "crop_size": 300}, "larger than shortest_edge"),
        ({**VIT, "size": -3}, "size must be between"),
    ],
)
def test_hf_errors(cfg, words):
    with pytest.raises(ContractError) as exc:
        from_hf(cfg)
    assert words in one_line(exc)


# ---- Keras -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "preset"),
    [
        ("caffe", "caffe"), ("resnet50", "caffe"), ("ResNet101", "caffe"), ("vgg16", "caffe"), ("vgg19", "caffe"),
        ("tf", "tf"), ("mobilenet_v2", "tf"), ("MobileNetV2", "tf"), ("inception_v3", "tf"), ("xception", "tf"),
        ("resnet50v2", "tf"), ("inception_resnet_v2", "tf"), ("nasnet", "tf"),
        ("keras.applications.mobilenet_v2.preprocess_input", "tf"),
        ("torch", "imagenet"), ("densenet", "imagenet"), ("DenseNet121", "imagenet"),
        ("efficientnet", "raw"), ("EfficientNetB0", "raw"), ("efficientnet_v2", "raw"), ("convnext", "raw"),
        ("ConvNeXtTiny", "raw"), ("regnet", "raw"), ("RegNetX002", "raw"), ("mobilenet_v3", "raw"),
    ],
)
def test_keras(name, preset):
    p = from_keras(name).preprocess
    assert p.layout == "NHWC" and p.size is None
    assert p.same_function(PRESETS[preset].replace(layout="NHWC"))
    assert (p.color, p.scale, p.mean, p.std) == (PRESETS[preset].color, PRESETS[preset].scale,
                                                 PRESETS[preset].mean, PRESETS[preset].std)


def test_keras_exact_numbers():
    caffe = from_keras("resnet50").preprocess
    assert caffe.color == "BGR" and caffe.mean == (103.939, 116.779, 123.68) and caffe.std == (1.0, 1.0, 1.0)
    tf = from_keras("mobilenet_v2").preprocess
    assert tf.scale == 1 / 127.5 and tf.mean == (1.0, 1.0, 1.0)
    assert any("rescales inside the model" in n for n in from_keras("efficientnetb3").notes)


@pytest.mark.parametrize("bad", ["", "alexnet", None, 3, ["caffe"]])
def test_keras_errors(bad):
    with pytest.raises(ContractError) as exc:
        from_keras(bad)
    assert "keras" in one_line(exc)


# ---- Open Model Zoo ----------------------------------------------------------------------------------------------
# open_model_zoo models/public/resnet-50-tf/accuracy-check.yml
RESNET50_TF_YML = """\
models:
  - name: resnet-50-tf
    launchers:
      - framework: tf
        model: public/resnet-50-tf/resnet_v1-50.pb
        adapter: classification
        inputs:
          - name: map/TensorArrayStack/TensorArrayGatherV3
            type: INPUT

    datasets:
      - name: imagenet_1001_classes
        preprocessing:
          - type: bgr_to_rgb
          - type: normalization
            mean: [123.68, 116.78, 103.94]
          - type: resize
            size: 256
            aspect_ratio_scale: greater
          - type: crop
            size: 224
        metrics:
          - name: accuracy@top1
            type: accuracy
            top_k: 1
            reference: 0.7645

  - name: resnet-50-tf
    launchers:
      - framework: dlsdk
        adapter: classification

    datasets:
      - name: imagenet_1001_classes
        preprocessing:
          - type: resize
            size: 256
            aspect_ratio_scale: greater
          - type: crop
            size: 224
"""

# open_model_zoo models/public/mobilenet-v2-pytorch/accuracy-check.yml
MOBILENET_V2_PYTORCH_YML = """\
models:
  - name: mobilenet-v2-pytorch
    launchers:
      - framework: onnx_runtime
        model: mobilenet-v2.onnx
        adapter: classification
        inputs:
          - name: data
            type: INPUT
            shape: 1,3,224,224
    datasets:
      - name: imagenet_1000_classes
        reader: pillow_imread
        preprocessing:
          - type: resize
            size: 256
            aspect_ratio_scale: greater
            use_pillow: true
            interpolation: BILINEAR
          - type: crop
            size: 224
            use_pillow: true
          - type: normalization
            std: 255
          - type: normalization
            mean: (0.485, 0.456, 0.406)
            std: (0.229, 0.224, 0.225)
  - name: mobilenet-v2-pytorch
    launchers:
      - framework: dlsdk
        adapter: classification
    datasets:
      - name: imagenet_1000_classes
        reader: pillow_imread
        preprocessing:
          - type: resize
            size: 256
            aspect_ratio_scale: greater
            use_pillow: true
            interpolation: BILINEAR
          - type: crop
            size: 224
            use_pillow: true
          - type: rgb_to_bgr
"""


def test_omz_resnet50_tf():
    imp = from_omz_accuracy_check(RESNET50_TF_YML)
    p = imp.preprocess
    assert p.color == "RGB"
    assert p.scale == 1.0 and p.mean == (123.68, 116.78, 103.94) and p.std == (1.0, 1.0, 1.0)
    assert p.size == (224, 224)
    assert p.resize == Resize(mode="shorter_side_crop", crop_fraction=0.875, interpolation="bilinear",
                              semantics="opencv")
    ir = from_omz_accuracy_check(RESNET50_TF_YML, framework="dlsdk").preprocess
    assert ir.color == "BGR" and ir.mean == (0.0, 0.0, 0.0) and ir.size == (224, 224)


def test_omz_mobilenet_v2_pytorch():
    p = from_omz_accuracy_check(MOBILENET_V2_PYTORCH_YML).preprocess
    assert p.color == "RGB"  # pillow_imread
    assert p.scale == 1 / 255
    assert p.mean == pytest.approx(IMAGENET_MEAN, abs=1e-12) and p.std == pytest.approx(IMAGENET_STD, abs=1e-12)
    assert p.resize == Resize(mode="shorter_side_crop", crop_fraction=0.875, interpolation="bilinear",
                              semantics="pil")
    assert p.same_function(PRESETS["imagenet"].replace(size=(224, 224), resize=p.resize))
    ir = from_omz_accuracy_check(MOBILENET_V2_PYTORCH_YML, framework="dlsdk").preprocess
    assert ir.color == "BGR" and ir.scale == 1.0


def test_omz_normalization_forms_and_order():
    def one(steps: list, reader: str | None = None) -> Imported:
        ds = {"name": "d", "preprocessing": steps}
        if reader:
            ds["reader"] = reader
        return from_omz_accuracy_check({"models": [{"name": "m", "launchers": [{"framework": "openvino"}],
                                                    "datasets": [ds]}]})

    # a normalization before the channel swap is in BGR order and follows the swap
    p = one([{"type": "normalization", "mean": "104, 117, 123", "std": 2}, {"type": "bgr_to_rgb"}]).preprocess
    assert p.color == "RGB" and p.mean == (123.0, 117.0, 104.0) and p.std == (2.0, 2.0, 2.0)
    preset = one([{"type": "normalization", "mean": "imagenet", "std": "imagenet"}])
    assert preset.preprocess.mean == (104.00698793, 116.66876762, 122.67891434)
    assert preset.preprocess.std == (104.00698793, 116.66876762, 122.67891434)
    assert any("preset" in n for n in preset.notes)
    tf_style = one([{"type": "crop", "central_fraction": 0.875}, {"type": "resize", "size": 299}])
    assert tf_style.preprocess.size == (299, 299) and tf_style.preprocess.resize.mode == "stretch"
    assert any("central crop" in n for n in tf_style.notes)
    # a resize without aspect_ratio_scale stretches; the crop after it is ferry's stretch with a crop fraction
    caffe = one([{"type": "resize", "size": 256}, {"type": "crop", "size": 224}])
    assert caffe.preprocess.resize.mode == "stretch" and caffe.preprocess.resize.crop_fraction == 0.875
    assert not [n for n in caffe.notes if "crop" in n]
    uneven = one([{"type": "resize", "dst_height": 256, "dst_width": 320}, {"type": "crop", "size": 224}])
    assert uneven.preprocess.resize.mode == "stretch" and any("taken from the height" in n for n in uneven.notes)
    letterbox = one([{"type": "resize", "size": 416, "aspect_ratio_scale": "fit_to_window"},
                     {"type": "padding", "size": 416, "pad_value": "114,114,114"}]).preprocess
    assert letterbox.resize.mode == "letterbox" and letterbox.resize.pad_value == 114.0
    gray = one([{"type": "bgr_to_gray"}, {"type": "resize", "dst_height": 32, "dst_width": 128},
                {"type": "normalization", "std": 255}]).preprocess
    assert gray.color == "GRAY" and gray.size == (32, 128) and gray.scale == 1 / 255


def test_omz_from_path(tmp_path):
    path = tmp_path / "accuracy-check.yml"
    path.write_text(RESNET50_TF_YML)
    assert from_omz_accuracy_check(path).preprocess == from_omz_accuracy_check(RESNET50_TF_YML).preprocess
    assert from_omz_accuracy_check(str(path)).source == str(path)


@pytest.mark.parametrize(
    ("cfg", "words"),
    [
        ("models: [", "not valid YAML"),
        ({"models": []}, "no models list"),
        ({"models": [{"datasets": []}]}, "datasets must be a list"),
        ({"models": [{"datasets": [{"preprocessing": [{"type": "normalization", "std": "1, 0, 1"}]}]}]},
         "std[1] is 0"),
        ({"models": [{"datasets": [{"preprocessing": [{"type": "normalization", "mean": "zebra"}]}]}]},
         "neither imagenet nor cifar10"),
        ({"models": [{"datasets": [{"preprocessing": [{"type": "resize"}]}]}]}, "needs size"),
        ({"models": [{"datasets": [{"preprocessing": "resize"}]}]}, "preprocessing must be a list"),
    ],
)
def test_omz_errors(cfg, words):
    with pytest.raises(ContractError) as exc:
        from_omz_accuracy_check(cfg)
    assert words in one_line(exc)
    with pytest.raises(ContractError, match="no launcher with framework 'caffe'"):
        from_omz_accuracy_check(RESNET50_TF_YML, framework="caffe")


# ---- OpenVINO Model API -------------------------------------------------------------------------------------------
# What OpenVINO Training Extensions writes into an exported classification IR's rt_info['model_info'].
OTX_CLS = {"model_type": "Classification", "mean_values": "123.675 116.28 103.53",
           "scale_values": "58.395 57.12 57.375", "reverse_input_channels": "True", "resize_type": "standard",
           "pad_value": "0", "labels": "cat dog", "confidence_threshold": "0.5"}


def test_openvino_model_info():
    imp = from_openvino_rt_info(OTX_CLS)
    p = imp.preprocess
    assert p.color == "RGB" and p.scale == 1.0
    assert p.mean == (123.675, 116.28, 103.53) and p.std == (58.395, 57.12, 57.375)
    assert p.resize == Resize(mode="stretch", interpolation="bilinear", semantics="opencv")
    assert imp.notes == []
    assert p.same_function(PRESETS["imagenet"], rtol=1e-4)
    bgr = from_openvino_rt_info({"mean_values": [104, 117, 123]}).preprocess
    assert bgr.color == "BGR" and bgr.mean == (104.0, 117.0, 123.0) and bgr.std == (1.0, 1.0, 1.0)
    yolo = from_openvino_rt_info({"model_info": {"resize_type": "fit_to_window_letterbox", "pad_value": 114,
                                                 "reverse_input_channels": True, "scale_values": "255",
                                                 "orig_height": "640", "orig_width": "640", "layout": "NCHW"}})
    assert yolo.preprocess.resize.mode == "letterbox" and yolo.preprocess.resize.pad_value == 114.0
    assert yolo.preprocess.size == (640, 640) and yolo.preprocess.std == (255.0, 255.0, 255.0)
    assert yolo.preprocess.layout == "NCHW"


def test_openvino_round_trip():
    info = {"mean_values": "123.675 116.28 103.53", "scale_values": "58.395 57.12 57.375",
            "reverse_input_channels": "True", "resize_type": "fit_to_window_letterbox", "pad_value": "114",
            "orig_height": "640", "orig_width": "640", "layout": "NCHW"}
    assert to_openvino_rt_info(from_openvino_rt_info(info).preprocess) == info
    for contract in (PRESETS["imagenet"], PRESETS["caffe"], PRESETS["tf"],
                     Preprocess(color="BGR", size=(300, 300), resize=Resize(mode="shorter_side_crop"), scale=2.0,
                                mean=(1.0, 2.0, 3.0), std=(4.0, 5.0, 6.0), layout="NHWC")):
        info = to_openvino_rt_info(contract)
        assert all(isinstance(v, str) for v in info.values())
        assert from_openvino_rt_info(info).preprocess.same_function(contract, rtol=1e-6)


@pytest.mark.parametrize(
    ("contract", "words"),
    [
        (PRESETS["imagenet"].replace(color="GRAY", mean=0.5, std=0.5), "GRAY"),
        (PRESETS["imagenet"].replace(resize=Resize(semantics="pil")), "semantics pil"),
        (PRESETS["imagenet"].replace(resize=Resize(interpolation="bicubic")), "bicubic"),
        (PRESETS["imagenet"].replace(resize=Resize(mode="shorter_side_crop", crop_fraction=0.875)), "crop_fraction"),
        (PRESETS["imagenet"].replace(resize=Resize(mode="letterbox", pad_value=0.5)), "pad_value"),
        (PRESETS["imagenet"].replace(resize=Resize(mode="stretch", crop_fraction=0.875)), "after a stretch"),
    ],
)
def test_to_openvino_refuses(contract, words):
    with pytest.raises(ContractError) as exc:
        to_openvino_rt_info(contract)
    assert words in one_line(exc)


@pytest.mark.parametrize(
    ("info", "words"),
    [
        ({"scale_values": "58.4 0 57.4"}, "scale_values[1] is 0"),
        ({"mean_values": "1 2"}, "mean_values has 2 values"),
        ({"mean_values": "a b c"}, "numbers separated by spaces"),
        ({"reverse_input_channels": "maybe"}, "reverse_input_channels"),
        ({"resize_type": "zoom"}, "resize_type"),
        ({"pad_value": "300"}, "pad_value"),
        ("mean_values=1", "model_info must be a mapping"),
    ],
)
def test_openvino_errors(info, words):
    with pytest.raises(ContractError) as exc:
        from_openvino_rt_info(info)
    assert words in one_line(exc)


def test_openvino_real_rt_info():
    ov = pytest.importorskip("openvino")
    import numpy as np
    import openvino.opset13 as ops

    x = ops.parameter([1, 3, 8, 8], np.float32, name="x")
    model = ov.Model([ops.relu(x)], [x], "m")
    for key, value in OTX_CLS.items():
        model.set_rt_info(value, ["model_info", key])
    assert from_openvino_rt_info(model.get_rt_info()).preprocess == from_openvino_rt_info(OTX_CLS).preprocess


# ---- Caffe -----------------------------------------------------------------------------------------------------
def blob_proto_class(packed: bool = True):
    """caffe.proto's BlobShape/BlobProto, built with protobuf's descriptor API (not with ferry's reader)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fdp = descriptor_pb2.FileDescriptorProto(name=f"caffe_test_{packed}.proto", package=f"caffe{int(packed)}",
                                             syntax="proto2")
    F = descriptor_pb2.FieldDescriptorProto
    shape = fdp.message_type.add(name="BlobShape")
    dim = shape.field.add(name="dim", number=1, type=F.TYPE_INT64, label=F.LABEL_REPEATED)
    dim.options.packed = packed
    blob = fdp.message_type.add(name="BlobProto")
    blob.field.add(name="shape", number=7, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL,
                   type_name=f".caffe{int(packed)}.BlobShape")
    for name, number, kind in (("data", 5, F.TYPE_FLOAT), ("diff", 6, F.TYPE_FLOAT),
                               ("double_data", 8, F.TYPE_DOUBLE)):
        f = blob.field.add(name=name, number=number, type=kind, label=F.LABEL_REPEATED)
        f.options.packed = packed
    for name, number in (("num", 1), ("channels", 2), ("height", 3), ("width", 4)):
        blob.field.add(name=name, number=number, type=F.TYPE_INT32, label=F.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"caffe{int(packed)}.BlobProto"))


def mean_image(h: int = 4, w: int = 5) -> list[float]:
    """A BGR mean image whose per-channel means are 104, 117, 123 and whose pixels vary around them."""
    out = []
    for base in (104.0, 117.0, 123.0):
        out += [base + ((i % 3) - 1) * 0.5 for i in range(h * w - (h * w) % 3)] + [base] * ((h * w) % 3)
    return out


def test_caffe_legacy_fields(tmp_path):
    Blob = blob_proto_class()
    msg = Blob(num=1, channels=3, height=4, width=5)
    msg.data.extend(mean_image())
    path = tmp_path / "mean.binaryproto"
    path.write_bytes(msg.SerializeToString())
    imp = from_caffe_mean_binaryproto(path)
    p = imp.preprocess
    assert p.color == "BGR" and p.scale == 1.0 and p.std == (1.0, 1.0, 1.0) and p.layout == "NCHW"
    assert p.mean == pytest.approx((104.0, 117.0, 123.0), abs=1e-5)
    assert any("per-pixel mean of 3x4x5 reduced to per-channel" in n for n in imp.notes)
    assert imp.source == str(path)


def test_caffe_shape_unpacked_double_and_gray():
    Blob = blob_proto_class(packed=False)
    msg = Blob()
    msg.shape.dim.extend([1, 3, 2, 2])
    msg.data.extend([10.0] * 4 + [20.0] * 4 + [30.0, 31.0, 29.0, 30.0])
    p = from_caffe_mean_binaryproto(msg.SerializeToString()).preprocess
    assert p.mean == (10.0, 20.0, 30.0)
    gray = Blob(channels=1, height=2, width=2)
    gray.double_data.extend([1.0, 2.0, 3.0, 4.0])
    g = from_caffe_mean_binaryproto(gray.SerializeToString()).preprocess
    assert g.color == "GRAY" and g.mean == (2.5,)


def test_caffe_errors(tmp_path):
    Blob = blob_proto_class()
    msg = Blob(num=1, channels=3, height=4, width=5)
    msg.data.extend(mean_image())
    data = msg.SerializeToString()
    with pytest.raises(ContractError) as exc:
        from_caffe_mean_binaryproto(data[:-7])
    assert "truncated" in one_line(exc)
    short = Blob(num=1, channels=3, height=4, width=5)
    short.data.extend([1.0] * 59)
    with pytest.raises(ContractError, match="60 values but holds 59"):
        from_caffe_mean_binaryproto(short.SerializeToString())
    four = Blob(num=1, channels=4, height=1, width=1)
    four.data.extend([1.0] * 4)
    with pytest.raises(ContractError, match="4 channels"):
        from_caffe_mean_binaryproto(four.SerializeToString())
    with pytest.raises(ContractError, match="no such file"):
        from_caffe_mean_binaryproto(tmp_path / "nope.binaryproto")
    with pytest.raises(ContractError, match="not a Caffe BlobProto"):
        from_caffe_mean_binaryproto(b"\x07\x01")  # wire type 7 does not exist
    with pytest.raises(ContractError, match="not num x channels"):
        from_caffe_mean_binaryproto(b"")
    with pytest.raises(ContractError, match="give a path or the file's bytes"):
        from_caffe_mean_binaryproto(3.5)


# ---- dispatcher ------------------------------------------------------------------------------------------------
def test_import_contract_dispatch():
    assert import_contract("timm", RESNET50_A1_IN1K).preprocess == from_timm(RESNET50_A1_IN1K).preprocess
    assert import_contract("hf", VIT).preprocess == from_hf(VIT).preprocess
    assert import_contract("keras", "resnet50").preprocess == from_keras("resnet50").preprocess
    assert import_contract("omz", RESNET50_TF_YML, framework="dlsdk").preprocess.color == "BGR"
    assert import_contract("openvino", OTX_CLS).preprocess == from_openvino_rt_info(OTX_CLS).preprocess
    assert import_contract("timm", RESNET50_A1_IN1K, use_test_size=True).preprocess.size == (288, 288)
    with pytest.raises(ContractError, match="unknown importer 'onnx'"):
        import_contract("onnx", {})
    with pytest.raises(ContractError, match="timm: .*unexpected keyword"):
        import_contract("timm", {}, colour="RGB")


# ---- fuzzing ---------------------------------------------------------------------------------------------------
SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12) | st.sampled_from(["1/0", "0/0", "nan", "inf", "1/255", "True", "NCHW", "imagenet",
                                             "123.675 116.28 103.53", "(0.5, 0.5, 0.5)", "bicubic", "greater"])
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=8) | st.integers(), inner, max_size=4), max_leaves=12)
NUMS = st.lists(st.integers(-3, 600) | st.floats(-1.0, 2.0), min_size=0, max_size=4)


def fuzz_dict(keys: dict) -> st.SearchStrategy:
    """Dicts with the importer's real keys, each holding a plausible or a junk value, plus junk keys."""
    return st.fixed_dictionaries({}, optional={k: v | VALUES for k, v in keys.items()}).flatmap(
        lambda d: st.dictionaries(st.text(max_size=6), VALUES, max_size=2).map(lambda extra: {**extra, **d}))


TIMM_KEYS = {"input_size": NUMS, "interpolation": st.sampled_from(["bicubic", "bilinear", "lanczos", "x"]),
             "mean": NUMS, "std": NUMS, "crop_pct": st.floats(-1, 2), "crop_mode": st.sampled_from(
                 ["center", "squash", "border", "x"]), "test_input_size": NUMS, "test_crop_pct": st.floats(0, 2)}
HF_KEYS = {"do_resize": st.booleans(), "size": st.integers(-1, 2000) | st.fixed_dictionaries(
    {}, optional={"height": st.integers(-1, 900), "width": st.integers(-1, 900),
                  "shortest_edge": st.integers(-1, 900), "longest_edge": st.integers(-1, 1400)}),
           "resample": st.integers(-1, 6), "do_center_crop": st.booleans(), "crop_size": st.integers(-1, 600),
           "do_rescale": st.booleans(), "rescale_factor": st.floats(-1, 1), "do_normalize": st.booleans(),
           "image_mean": NUMS, "image_std": NUMS, "crop_pct": st.floats(-1, 2), "max_size": st.integers(-1, 2000),
           "image_processor_type": st.sampled_from(["ConvNextImageProcessor", "CLIPImageProcessor",
                                                    "ViTImageProcessor", "DetrImageProcessor"])}
OV_KEYS = {"mean_values": st.text(" 0123456789.,-e", max_size=20) | NUMS,
           "scale_values": st.text(" 0123456789.,-e", max_size=20) | NUMS,
           "reverse_input_channels": st.sampled_from(["True", "False", "YES", "x", True]),
           "resize_type": st.sampled_from(["standard", "crop", "fit_to_window", "fit_to_window_letterbox", "x"]),
           "pad_value": st.integers(-2, 300) | st.text("0123456789", max_size=4),
           "orig_height": st.integers(-1, 20000), "orig_width": st.text("0123456789", max_size=6),
           "layout": st.sampled_from(["NCHW", "NHWC", "data:NCHW", "[N,C,H,W]", "CHW"]),
           "embedded_processing": st.booleans()}
OMZ_STEP = st.fixed_dictionaries(
    {"type": st.sampled_from(["resize", "crop", "normalization", "bgr_to_rgb", "rgb_to_bgr", "bgr_to_gray",
                              "padding", "auto_resize", "pyramid"]) | VALUES},
    optional={"size": st.integers(-1, 600), "dst_width": st.integers(-1, 600), "dst_height": st.integers(0, 600),
              "mean": st.sampled_from(["imagenet", "1,2,3", "(1, 2)", "x"]) | NUMS | VALUES,
              "std": st.sampled_from(["cifar10", "255", "0", "1,0,1"]) | NUMS | VALUES,
              "aspect_ratio_scale": st.sampled_from(["greater", "fit_to_window", "width"]) | VALUES,
              "interpolation": st.sampled_from(["LINEAR", "CUBIC", "LANCZOS4", "x"]) | VALUES,
              "central_fraction": st.floats(-1, 2) | VALUES, "use_pillow": VALUES,
              "pad_value": st.sampled_from(["0,0,0", "114", "a"]) | VALUES,
              "resize_realization": st.sampled_from(["opencv", "pillow", "tf", "x"])})
OMZ_CONFIG = st.fixed_dictionaries({"models": st.lists(st.fixed_dictionaries(
    {"datasets": st.lists(st.fixed_dictionaries({"preprocessing": st.lists(OMZ_STEP, max_size=5) | VALUES},
                                                optional={"reader": st.sampled_from(["pillow_imread", "x"])}),
                          max_size=2) | VALUES},
    optional={"name": VALUES, "launchers": st.lists(st.fixed_dictionaries(
        {"framework": st.sampled_from(["dlsdk", "tf", "onnx_runtime"])}), max_size=2) | VALUES}), max_size=2)
    | VALUES})

# A seeded 200 per target in `make test`; by hand: FERRY_FUZZ_EXAMPLES=10000 pytest tests/preprocess -k fuzz
# (random, not derandomised, so every run by hand explores new cases).
_BY_HAND = int(os.environ.get("FERRY_FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=_BY_HAND or 200, derandomize=not _BY_HAND, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def only_ferry_errors(fn, *args, **kwargs) -> None:
    try:
        result = fn(*args, **kwargs)
    except FerryError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(result, Imported) and isinstance(result.preprocess, Preprocess)
    assert all(isinstance(n, str) for n in result.notes)


@FUZZ
@seed(20261122)
@given(fuzz_dict(TIMM_KEYS) | VALUES, st.booleans())
def test_fuzz_timm(cfg, test_size):
    only_ferry_errors(from_timm, cfg, use_test_size=test_size)


@FUZZ
@seed(20261122)
@given(fuzz_dict(HF_KEYS) | VALUES | st.text(max_size=40))
def test_fuzz_hf(cfg):
    only_ferry_errors(from_hf, cfg)


@FUZZ
@seed(20261122)
@given(st.text(max_size=30) | VALUES)
def test_fuzz_keras(name):
    only_ferry_errors(from_keras, name)


@FUZZ
@seed(20261122)
@given(OMZ_CONFIG | VALUES | st.text(max_size=60), st.sampled_from([None, "dlsdk", "tf"]))
def test_fuzz_omz(cfg, framework):
    only_ferry_errors(from_omz_accuracy_check, cfg, framework=framework)


@FUZZ
@seed(20261122)
@given(fuzz_dict(OV_KEYS) | VALUES)
def test_fuzz_openvino(info):
    try:
        imported = from_openvino_rt_info(info)
    except FerryError:
        return
    try:
        info2 = to_openvino_rt_info(imported.preprocess)
    except FerryError:
        return
    assert from_openvino_rt_info(info2).preprocess.same_function(imported.preprocess, rtol=1e-6)


def _caffe_blob() -> bytes:
    msg = blob_proto_class()(num=1, channels=3, height=4, width=5)
    msg.data.extend(mean_image())
    return msg.SerializeToString()


@FUZZ
@seed(20261122)
@given(st.binary(max_size=300) | st.integers(0, 300).map(lambda n: _caffe_blob()[:n])
       | st.tuples(st.integers(0, 299), st.integers(0, 255)).map(
           lambda t: (b := bytearray(_caffe_blob())).__setitem__(t[0] % len(b), t[1]) or bytes(b)))
def test_fuzz_caffe(data):
    only_ferry_errors(from_caffe_mean_binaryproto, data)


# Inputs that once escaped contract.py as non-FerryError (found by this file's fuzzing, fixed there).
CONTRACT_EDGE_CASES = (
    {"size": [math.inf, 224]}, {"size": math.nan}, {"scale": "1/0"}, {"resize": {"pad_value": "0/0"}},
    {"scale": 10**400}, {"mean": [10**400, 0, 0]}, {"resize": {"crop_fraction": 10**400}},
    {1: 0, "x": 0}, {"resize": {1: 0, "x": 0}},
)


@pytest.mark.parametrize("data", CONTRACT_EDGE_CASES)
def test_contract_from_dict_edge_cases_are_contract_errors(data):
    with pytest.raises(FerryError) as info:
        Preprocess.from_dict(data, source="edge.yaml")
    assert "edge.yaml" in str(info.value) and "\n" not in str(info.value)


CONTRACT_KEYS = {"color": st.sampled_from(["RGB", "BGR", "GRAY", "rgb"]), "gray_zero_is": st.sampled_from(
    ["black", "white"]), "size": NUMS | st.integers(-1, 20000), "resize": st.sampled_from(
    ["stretch", "letterbox"]) | st.fixed_dictionaries({}, optional={
        "mode": st.sampled_from(["stretch", "shorter_side_crop", "x"]), "crop_fraction": st.floats(-1, 2) | VALUES,
        "pad_value": st.floats(-1, 300) | VALUES, "interpolation": st.sampled_from(["area", "x"]),
        "semantics": st.sampled_from(["pil", "opencv"])}),
    "scale": st.sampled_from(["1/255", "1/0", 0, 1]) | VALUES, "mean": NUMS, "std": NUMS,
    "layout": st.sampled_from(["NCHW", "NHWC", None, "x"]), "dtype": st.sampled_from(["float32", "uint8", "x"]),
    "preset": st.sampled_from(["imagenet", "caffe", "nope"])}


@FUZZ
@seed(20261122)
@given(fuzz_dict(CONTRACT_KEYS) | VALUES)
def test_fuzz_contract_from_dict(data):
    try:
        Preprocess.from_dict(data, source="fuzz.yaml")
    except FerryError as exc:
        assert "\n" not in str(exc)
    except Exception as exc:  # noqa: BLE001 - the point is to see every escape
        raise AssertionError(f"contract.py escape: {type(exc).__name__}: {exc} for {data!r}") from exc


def test_importers_survive_the_known_contract_bugs():
    """The inputs that break contract.py, fed through the importers, come out as ContractError."""
    for value in (math.inf, math.nan, 10**400, "1/0"):
        for call in (
            lambda v: from_timm({"input_size": [3, v, 224]}),
            lambda v: from_timm({"crop_pct": v}),
            lambda v: from_hf({**VIT, "size": v}),
            lambda v: from_hf({**VIT, "rescale_factor": v}),
            lambda v: from_openvino_rt_info({"mean_values": [v, 0, 0]}),
            lambda v: from_omz_accuracy_check({"models": [{"datasets": [{"preprocessing": [
                {"type": "normalization", "std": v}]}]}]}),
        ):
            with pytest.raises(ContractError):
                call(value)


@pytest.mark.parametrize("app", ["resnet50", "mobilenet_v2", "densenet", "efficientnet"])
def test_keras_contract_matches_real_preprocess_input(app):
    """The imported numbers give what keras.applications.<app>.preprocess_input gives, on a real array."""
    pytest.importorskip("keras")
    import importlib

    import numpy as np

    from ferry.preprocess.reference import normalize

    module = importlib.import_module(f"keras.applications.{app}")
    rgb = np.random.default_rng(0).integers(0, 256, size=(1, 6, 7, 3), dtype=np.uint8)
    expected = module.preprocess_input(rgb.astype(np.float32).copy())
    contract = from_keras(app).preprocess
    pixels = rgb[..., ::-1] if contract.color == "BGR" else rgb
    np.testing.assert_allclose(normalize(pixels, contract), np.asarray(expected), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("fn, arg", [
    (from_hf, "\n"),  # found by the 10,000-case run: a newline in the source name broke the one-line rule
    (from_caffe_mean_binaryproto, b'"\x00'),  # found by the 10,000-case run: an empty packed int field crashed
])
def test_fuzz_regressions_are_one_line_errors(fn, arg):
    with pytest.raises(FerryError) as info:
        fn(arg)
    assert "\n" not in str(info.value)


def test_ultralytics_metadata_states_rgb_unit_letterbox_114_at_imgsz():
    from ferry.preprocess.importers import from_ultralytics

    imp = from_ultralytics({"author": "Ultralytics", "imgsz": "[320, 640]", "task": "detect", "stride": "32"})
    pp = imp.preprocess
    assert (pp.color, pp.size, pp.layout, pp.resize.mode, pp.resize.pad_value) == ("RGB", (320, 640), "NCHW",
                                                                                   "letterbox", 114.0)
    assert pp.affine() == ((1 / 255,) * 3, (0.0,) * 3)
    assert from_ultralytics({"author": "Ultralytics", "imgsz": 416}).preprocess.size == (416, 416)
    with pytest.raises(ContractError, match="not an Ultralytics export"):
        from_ultralytics({"author": "someone"})
    with pytest.raises(ContractError, match="imgsz"):
        from_ultralytics({"author": "Ultralytics", "imgsz": "[640, "})


# ---- MMDeploy pipeline.json ------------------------------------------------------------------------------------
def mmdeploy_pipeline(to_rgb=True, mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375), gray=False) -> dict:
    """The shape `tools/deploy.py --dump-info` writes for an mmdet 3.x detector (export_info.get_pipeline and
    object_detection.get_preprocess: Normalize from data_preprocessor, Pad and DefaultFormatBundle inserted)."""
    load = {"type": "LoadImageFromFile", "backend_args": None}
    if gray:
        load["color_type"] = "grayscale"
    norm = {"type": "Normalize", "to_rgb": to_rgb, "mean": list(mean), "std": list(std)}
    if to_rgb is None:
        del norm["to_rgb"]
    return {"pipeline": {"input": ["img"], "output": ["post_output"], "tasks": [
        {"type": "Task", "module": "Transform", "name": "Preprocess", "input": ["img"], "output": ["prep_output"],
         "transforms": [load, {"type": "Resize", "keep_ratio": True, "size": [1333, 800]}, norm,
                        {"type": "Pad", "size_divisor": 32}, {"type": "DefaultFormatBundle"},
                        {"type": "Collect", "meta_keys": ["img_shape", "scale_factor"], "keys": ["img"]}]},
        {"name": "retinanet", "type": "Task", "module": "Net", "input": ["prep_output"], "output": ["infer_output"],
         "input_map": {"img": "input"}},
        {"type": "Task", "module": "mmdet", "name": "postprocess", "component": "ResizeBBox", "params": {},
         "output": ["post_output"], "input": ["prep_output", "infer_output"]}]}}


def test_mmdeploy_pipeline_json_is_rgb_imagenet_on_pixels(tmp_path):
    path = tmp_path / "pipeline.json"
    path.write_text(json.dumps(mmdeploy_pipeline()))
    imp = from_mmdeploy(path)
    pp = imp.preprocess
    assert pp.color == "RGB" and pp.scale == 1.0 and pp.layout == "NCHW"
    assert pp.mean == pytest.approx((123.675, 116.28, 103.53)) and pp.std == pytest.approx((58.395, 57.12, 57.375))
    assert any("Pad" in n for n in imp.notes) and any("Resize" in n for n in imp.notes)


@pytest.mark.parametrize(("to_rgb", "color"), [(False, "BGR"), (None, "RGB"), (True, "RGB")])
def test_mmdeploy_to_rgb_defaults_to_true_as_the_sdk_does(to_rgb, color):
    assert from_mmdeploy(mmdeploy_pipeline(to_rgb=to_rgb)).preprocess.color == color


def test_mmdeploy_grayscale_and_bad_pipelines():
    pp = from_mmdeploy(mmdeploy_pipeline(mean=[127.5], std=[127.5], gray=True)).preprocess
    assert pp.color == "GRAY" and pp.mean == pytest.approx((127.5,))
    for bad, words in (({"pipeline": {}}, "pipeline.tasks"), ({"tasks": []}, "pipeline"),
                       ({"pipeline": {"tasks": [{"module": "Net"}]}}, "no Transform task"), ("{nope", "JSON")):
        with pytest.raises(ContractError, match=words):
            from_mmdeploy(bad)
    cfg = mmdeploy_pipeline()
    cfg["pipeline"]["tasks"][0]["transforms"][2]["std"] = [0, 1, 1]
    with pytest.raises(ContractError, match="Normalize.std"):
        from_mmdeploy(cfg)
    assert import_contract("mmdeploy", mmdeploy_pipeline()).preprocess.color == "RGB"


# ---- PaddlePaddle inference.yml / infer_cfg.yml -----------------------------------------------------------------
PPOCR_DET_INFERENCE_YML = """Global:
  model_name: PP-OCRv4_mobile_det
PreProcess:
  transform_ops:
  - DecodeImage:
      channel_first: false
      img_mode: BGR
  - DetLabelEncode: null
  - DetResizeForTest:
      limit_side_len: 960
      limit_type: max
  - NormalizeImage:
      mean: [0.485, 0.456, 0.406]
      order: hwc
      scale: 1./255.
      std: [0.229, 0.224, 0.225]
  - ToCHWImage: null
  - KeepKeys:
      keep_keys: [image, shape, polys, ignore_tags]
PostProcess:
  name: DBPostProcess
  thresh: 0.3
"""

PPDET_INFER_CFG_YML = """mode: paddle
draw_threshold: 0.5
metric: COCO
arch: PicoDet
Preprocess:
- interp: 2
  keep_ratio: false
  target_size: [800, 608]
  type: Resize
- is_scale: true
  mean: [0.485, 0.456, 0.406]
  std: [0.229, 0.224, 0.225]
  type: NormalizeImage
- type: Permute
label_list: [Text, Title, Figure]
"""


def test_paddleocr_inference_yml_is_bgr_with_imagenet_numbers(tmp_path):
    """PP-OCR det's exported inference.yml: BGR decode, ImageNet's RGB-order numbers on the BGR channels, scale
    written as the string "1./255."."""
    path = tmp_path / "inference.yml"
    path.write_text(PPOCR_DET_INFERENCE_YML)
    imp = from_paddle(path)
    pp = imp.preprocess
    assert pp.color == "BGR" and pp.scale == pytest.approx(1 / 255) and pp.layout == "NCHW"
    assert pp.mean == pytest.approx((0.485, 0.456, 0.406)) and pp.std == pytest.approx((0.229, 0.224, 0.225))
    assert any("DetResizeForTest" in n for n in imp.notes)


def test_paddle_configs_other_layouts_and_defaults():
    det = from_paddle(PPDET_INFER_CFG_YML)
    assert det.preprocess.scale == pytest.approx(1 / 255) and any("DecodeImage" in n for n in det.notes)
    cls = from_paddle({"PreProcess": {"transform_ops": [{"DecodeImage": {"to_rgb": True}}, {"ResizeImage": {}},
                                                        {"NormalizeImage": {"scale": 0.00392157}}]}})
    assert cls.preprocess.color == "RGB" and cls.preprocess.mean == pytest.approx((0.485, 0.456, 0.406))
    rec = from_paddle({"PreProcess": {"transform_ops": [{"DecodeImage": {"img_mode": "GRAY"}},
                                                        {"NormalizeImage": {"scale": "1/255", "mean": [0.5, 0.5, 0.5],
                                                                            "std": [0.5, 0.5, 0.5]}}]}})
    assert rec.preprocess.color == "GRAY" and rec.preprocess.affine()[1] == pytest.approx((-1.0,))
    raw = from_paddle({"Preprocess": [{"type": "NormalizeImage", "is_scale": False, "norm_type": "none"}]})
    assert raw.preprocess.keeps_values()
    for bad, words in (({"Global": {}}, "not a PaddlePaddle"), ("a: [", "YAML"),
                       ({"PreProcess": {"transform_ops": [{"NormalizeImage": {"scale": "1/0"}}]}}, "scale"),
                       ({"PreProcess": {"transform_ops": [{"DecodeImage": {"img_mode": "HSV"}}]}}, "img_mode")):
        with pytest.raises(ContractError, match=words):
            from_paddle(bad)


@pytest.mark.parametrize("mode", ["letterbox", "none"])
def test_a_crop_fraction_without_a_crop_is_refused(mode):
    """A crop_fraction ferry would ignore is refused: a stretch's used to be read without its crop, silently."""
    with pytest.raises(ContractError, match="has no crop"):
        Resize(mode=mode, crop_fraction=0.875)
    assert Resize(mode="stretch", crop_fraction=0.875).crop_fraction == 0.875
