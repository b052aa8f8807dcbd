"""ferry.precision reads what a file computes in, from files the runtimes' own tools made (cached, seeded)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import quant_models as qm

from ferry.precision import detect


@pytest.fixture(scope="module")
def made(photos) -> Path:
    """The seeded colour CNN through `ferry convert --precision int8,fp16` (ONNX QDQ, NNCF, TFLite full integer,
    Core ML): the same cached folder the quantize tests use."""
    return qm.made("right", qm.FACTORY, qm.CONTRACT, "onnx,openvino,coreml,tflite", "int8,fp16", photos)


@pytest.mark.parametrize(("name", "kind", "says"), [
    ("cnn.int8.onnx", "int8", "QuantizeLinear on"),
    ("cnn.fp16.onnx", "fp16", "float16"),
    ("cnn.int8.xml", "int8", "FakeQuantize"),
    ("cnn.fp16.xml", "fp16", "f16 weight constants behind Convert"),
    ("cnn.int8.tflite", "int8", "activation tensors int8"),
])
def test_each_format_made_reduced_says_so(made, name, kind, says):
    p = detect(made / name)
    assert p.kind == kind, p
    assert any(says in e for e in p.evidence), p.evidence
    assert p.reduced


def test_core_ml_fp16_and_int8_weights(made):
    assert detect(made / "cnn.fp16.mlpackage").kind == "fp16"
    p = detect(made / "cnn.int8.mlpackage")
    assert p.kind == "int8-weights" and "constexpr_affine_dequantize" in p.evidence[0]


def test_float_files_are_fp32_and_dynamic_quantisation_is_int8_weights(classifier_onnx, tmp_path):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    assert detect(classifier_onnx).kind == "fp32"
    dyn = tmp_path / "dyn.onnx"
    quantize_dynamic(str(classifier_onnx), str(dyn), weight_type=QuantType.QInt8)
    p = detect(dyn)
    assert p.kind == "int8-weights" and "DynamicQuantizeLinear" in p.evidence[0]
    assert p.weights["int8"] > 0.9


def test_fp16_widened_back_to_float32_is_still_fp16(classifier_onnx, tmp_path):
    """An fp16 ONNX embedded into an IR: OpenVINO keeps f16 constants and ops (this seeded classifier) or folds the
    Casts into f32 constants whose values are float16 numbers (EfficientNet-Lite0, found by the mutation suite: its
    embedded IR read as fp32); both are fp16. Widening by hand shows the second."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    from ferry.preprocess.contract import load_contract
    from ferry.runtimes import openvino

    half = tmp_path / "half.onnx"
    onnx.save(convert_float_to_float16(onnx.load(str(classifier_onnx)), keep_io_types=True), str(half))
    ir = openvino.embed(half, load_contract("imagenet"), tmp_path / "half.xml")
    assert detect(ir).kind == "fp16"
    import numpy as np
    from onnx import numpy_helper

    widened = onnx.load(str(classifier_onnx))
    for t in widened.graph.initializer:
        if t.data_type == onnx.TensorProto.FLOAT:
            a = numpy_helper.to_array(t).astype(np.float16).astype(np.float32)
            t.CopyFrom(numpy_helper.from_array(a, t.name))
    onnx.save(widened, str(tmp_path / "widened.onnx"))
    p = detect(tmp_path / "widened.onnx")
    assert p.kind == "fp16" and "float16 numbers" in p.evidence[0], p
    plain = openvino.embed(classifier_onnx, load_contract("imagenet"), tmp_path / "plain.xml")
    assert detect(plain).kind == "fp32"  # random float32 weights are not float16 numbers


def test_tflite_dynamic_range_and_fp16_weights(tmp_path):
    import tensorflow as tf
    import tf_models

    model = tf.keras.models.load_model(tf_models.tf_cnn() / "cnn.keras")
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]  # dynamic range: int8 weights, float activations
    (tmp_path / "dyn.tflite").write_bytes(conv.convert())
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.target_spec.supported_types = [tf.float16]
    (tmp_path / "f16.tflite").write_bytes(conv.convert())
    assert detect(tmp_path / "dyn.tflite").kind == "int8-weights"
    p = detect(tmp_path / "f16.tflite")
    assert p.kind == "fp16" and "DEQUANTIZE" in p.evidence[0], p
    assert detect(tf_models.tf_cnn() / "cnn.tflite").kind == "fp32"


def test_inspect_json_has_precision(made):
    out = subprocess.run([str(Path(sys.executable).parent / "ferry"), "inspect", str(made / "cnn.int8.onnx"), "--json"],
                         capture_output=True, text=True, check=True)
    info = json.loads(out.stdout)
    assert info["precision"]["kind"] == "int8" and info["precision"]["evidence"]
    text = subprocess.run([str(Path(sys.executable).parent / "ferry"), "inspect", str(made / "cnn.fp16.xml")],
                          capture_output=True, text=True, check=True).stdout
    assert "precision: fp16" in text
