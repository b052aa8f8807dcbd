"""Seeded TFLite files spelled as MediaPipe's segmentation models are: transposed convolutions stored as the custom
op Convolution2DTransposeBias (inputs input, weights OHWI, bias; options the raw bytes of TfLiteTransposeConvParams:
padding 1 SAME / 2 VALID, stride_w, stride_h), which LiteRT runs through XNNPACK and no converter translates.

    transpose_bias.tflite      NHWC 8x8x3 -> conv 3x3 -> ReLU -> transposed conv 2x2 stride 2 SAME (-> 16x16x4)
                               -> transposed conv 3x3 stride 2 VALID (-> 33x33x2) -> sigmoid; both transposed convs
                               custom ops. Made by TFLiteConverter from a Keras model (builtin TRANSPOSE_CONV with its
                               bias) and respelled with TensorFlow's flatbuffer_utils, as MediaPipe's exporter spells it
    transpose_bias_unknown_padding.tflite  the same with the first op's padding 0 (TfLitePadding unknown): a file
                               ferry must not guess at
    sparse.tflite              NHWC 8x8x3 -> conv 3x3 (80% of weights zero) -> ReLU -> conv 1x1 -> mean -> dense 4,
                               converted with Optimize.EXPERIMENTAL_SPARSITY: the first conv's weights stored sparse
                               behind a DENSIFY op, as MediaPipe's pose detector stores its own (tf2onnx 1.17: 'cannot
                               reshape array of size 88 into shape (16,3,3,3)')

Cached as tf_models does (its _cached, keyed by this file and the TF versions).
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import numpy as np
import tf_models

CONTRACT = {"preset": "unit", "size": [8, 8], "layout": "NHWC"}
SPARSE_CONTRACT = {"preset": "imagenet", "size": [8, 8], "layout": "NHWC"}
CUSTOM = b"Convolution2DTransposeBias"


def _respell(src: Path, dest: Path, padding_override: int | None = None) -> None:
    """Builtin TRANSPOSE_CONV (output_shape, weights, input, bias) -> custom op (input, weights, bias)."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(src))
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    code.customCode = CUSTOM
    code.version = 1
    model.operatorCodes.append(code)
    custom = len(model.operatorCodes) - 1
    first = True
    for graph in model.subgraphs:
        for op in graph.operators:
            c = model.operatorCodes[op.opcodeIndex]
            if max(int(c.builtinCode), int(c.deprecatedBuiltinCode)) != schema.BuiltinOperator.TRANSPOSE_CONV:
                continue
            assert len(op.inputs) == 4, "the converter left the bias out of TRANSPOSE_CONV"
            _, weights, x, bias = (int(i) for i in op.inputs)
            opts = op.builtinOptions
            padding = 1 if opts.padding == schema.Padding.SAME else 2
            if first and padding_override is not None:
                padding = padding_override
            first = False
            op.opcodeIndex = custom
            op.inputs = np.array([x, weights, bias], dtype=np.int32)
            op.builtinOptionsType, op.builtinOptions = schema.BuiltinOptions.NONE, None
            op.customOptions = np.frombuffer(struct.pack("<iii", padding, opts.strideW, opts.strideH), np.uint8)
            op.customOptionsFormat = schema.CustomOptionsFormat.FLEXBUFFERS  # what MediaPipe's files say (0)
    flatbuffer_utils.write_model(model, str(dest))


def _build(d: Path) -> None:
    tf, keras = tf_models._tf()
    keras.utils.set_random_seed(tf_models.SEED)
    x = keras.Input((8, 8, 3), batch_size=1, name="image")
    y = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    y = keras.layers.Conv2DTranspose(4, 2, strides=2, padding="same")(y)
    y = keras.layers.Conv2DTranspose(2, 3, strides=2, padding="valid")(y)
    y = keras.layers.Activation("sigmoid", name="mask")(y)
    model = keras.Model(x, y)
    for layer in model.layers:  # biases away from zero, so a dropped bias shows
        w = layer.get_weights()
        if len(w) == 2:
            layer.set_weights([w[0], np.random.default_rng(tf_models.SEED).normal(0, 0.5, w[1].shape)
                               .astype(np.float32)])
    builtin = d / "builtin.tflite"
    builtin.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    _respell(builtin, d / "transpose_bias.tflite")
    _respell(builtin, d / "transpose_bias_unknown_padding.tflite", padding_override=0)
    builtin.unlink()
    _sparse(tf, keras, d / "sparse.tflite")


def _sparse(tf, keras, dest: Path) -> None:
    keras.utils.set_random_seed(tf_models.SEED)
    x = keras.Input((8, 8, 3), batch_size=1, name="image")
    y = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    y = keras.layers.Conv2D(16, 1)(y)
    y = keras.layers.GlobalAveragePooling2D()(y)
    model = keras.Model(x, keras.layers.Dense(4, name="logits")(y))
    rng = np.random.default_rng(tf_models.SEED)
    for layer in model.layers:
        w = layer.get_weights()
        if w:
            layer.set_weights([w[0] * (rng.random(w[0].shape) < 0.2), rng.normal(0, 0.5, w[1].shape)
                               .astype(np.float32)])
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    dest.write_bytes(conv.convert())


def mediapipe_files() -> Path:
    """The folder with the files above."""
    key = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:8]
    return tf_models._cached(f"mediapipe-ops-{key}", _build)
