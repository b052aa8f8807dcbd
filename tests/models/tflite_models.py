"""Seeded TFLite sources for `ferry convert model.tflite` (issue 15 item 5), built once and cached on disk.

    cnn.tflite          tf_models.build_cnn (NHWC 32x32x3 -> 10 logits, randomised BatchNorm) by TFLiteConverter
    cnn_perturbed.tflite  the same with one conv weight moved by 0.5: a source the converted targets must not match
    custom_op.tflite    conv -> tf.nn.max_pool_with_argmax, converted with allow_custom_ops: the op stays a TFLite
                        custom op (MaxPoolWithArgmax), as MediaPipe's files carry theirs; LiteRT cannot run it
    multi.tflite        multi_output's five-output tf.Module signature (boxes [K,4], classes [K], masks [K,M,M],
                        scores [K], num_detections [], declared in another order) by TFLiteConverter.from_saved_model:
                        the signature keeps the names, the interpreter lists the tensors in its own order
    ssd_post.tflite     an SSD-style head (box encodings [1,N,4], class scores [1,N,C+1], anchors) ending in
                        TFLite_Detection_PostProcess, the op TF Object Detection API SSD files end in, made as that
                        API's exporter makes it (a tf.function with experimental_implements): LiteRT runs it

Cached as tf_models does (its _cached, keyed here by this file and the TF versions).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import multi_output
import numpy as np
import tf_models

CONTRACT = {"preset": "unit", "size": [32, 32], "layout": "NHWC"}
CUSTOM_CONTRACT = {"preset": "unit", "size": [16, 16], "layout": "NHWC"}
MULTI_CONTRACT = multi_output.TF_CONTRACT
SSD_CONTRACT = {"preset": "unit", "size": [32, 40], "layout": "NHWC"}
SSD_ANCHORS, SSD_CLASSES, SSD_MAX = 48, 3, 10
POSTPROCESS = " ".join([  # the attributes object_detection/export_tflite_graph_lib_tf2.py writes
    'name: "TFLite_Detection_PostProcess"',
    f'attr {{ key: "max_detections" value {{ i: {SSD_MAX} }} }}',
    'attr { key: "max_classes_per_detection" value { i: 1 } }',
    'attr { key: "use_regular_nms" value { b: false } }',
    'attr { key: "nms_score_threshold" value { f: 0.000000 } }',
    'attr { key: "nms_iou_threshold" value { f: 0.600000 } }',
    'attr { key: "y_scale" value { f: 10.000000 } }', 'attr { key: "x_scale" value { f: 10.000000 } }',
    'attr { key: "h_scale" value { f: 5.000000 } }', 'attr { key: "w_scale" value { f: 5.000000 } }',
    f'attr {{ key: "num_classes" value {{ i: {SSD_CLASSES} }} }}'])


def _ssd_post(tf, d: Path) -> None:
    n, c = SSD_ANCHORS, SSD_CLASSES
    rng = np.random.default_rng(tf_models.SEED)
    centres = np.stack(np.meshgrid(np.linspace(0.1, 0.9, 8), np.linspace(0.1, 0.9, 6)), -1).reshape(-1, 2)
    anchors = np.concatenate([centres, np.full((n, 2), 0.2)], 1).astype(np.float32)  # y, x, h, w

    class SSD(tf.Module):
        def __init__(self) -> None:
            self.w = tf.Variable(rng.normal(0, 0.3, (3, 3, 3, 8)).astype(np.float32))
            self.wb = tf.Variable(rng.normal(0, 0.3, (8, n * 4)).astype(np.float32))
            self.wc = tf.Variable(rng.normal(0, 0.3, (8, n * (c + 1))).astype(np.float32))

        @tf.function(experimental_implements=POSTPROCESS)
        def post(self, boxes, scores, anchors):  # a placeholder body: the converter fuses the op in its place
            return (tf.constant(0.0, name="boxes"), tf.constant(0.0, name="classes"),
                    tf.constant(0.0, name="scores"), tf.constant(0.0, name="num_detections"))

        @tf.function(input_signature=[tf.TensorSpec([1, 32, 40, 3], tf.float32, name="image")])
        def serve(self, image):
            f = tf.reduce_mean(tf.nn.relu(tf.nn.conv2d(image, self.w, 2, "SAME")), axis=[1, 2])
            boxes = tf.reshape(f @ self.wb, [1, n, 4])
            scores = tf.sigmoid(tf.reshape(f @ self.wc, [1, n, c + 1]))
            b, k, s, num = self.post(boxes, scores, tf.constant(anchors))
            return {"detection_boxes": b, "detection_classes": k, "detection_scores": s, "num_detections": num}

    m = SSD()
    tf.saved_model.save(m, str(d / "ssd_post_sm"), signatures={"serving_default": m.serve})
    (d / "ssd_post.tflite").write_bytes(tf.lite.TFLiteConverter.from_saved_model(str(d / "ssd_post_sm")).convert())
    shutil.rmtree(d / "ssd_post_sm")


def _build(d: Path) -> None:
    tf, keras = tf_models._tf()
    model = tf_models.build_cnn(keras)
    (d / "cnn.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    weights = model.get_weights()
    weights[0] = weights[0].copy()
    weights[0][0, 0, 0, 0] += 0.5
    model.set_weights(weights)
    (d / "cnn_perturbed.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())

    class Custom(tf.Module):
        def __init__(self) -> None:
            self.w = tf.Variable(np.random.default_rng(tf_models.SEED).normal(0, 0.3, (3, 3, 3, 4)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([1, 16, 16, 3], tf.float32, name="image")])
        def __call__(self, x):
            pooled, idx = tf.nn.max_pool_with_argmax(tf.nn.conv2d(x, self.w, 1, "SAME"), 2, 2, "SAME")
            return {"pooled": pooled, "argmax": tf.cast(idx, tf.float32)}

    m = Custom()
    conv = tf.lite.TFLiteConverter.from_concrete_functions([m.__call__.get_concrete_function()], m)
    conv.allow_custom_ops = True
    (d / "custom_op.tflite").write_bytes(conv.convert())
    sig = str(multi_output.keras_dir() / "multi_sm_sig")
    (d / "multi.tflite").write_bytes(tf.lite.TFLiteConverter.from_saved_model(sig).convert())
    _ssd_post(tf, d)


def tflite_sources() -> Path:
    """The folder with the files above."""
    key = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:8]
    return tf_models._cached(f"tflite-src-{key}", _build)
