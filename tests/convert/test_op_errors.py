"""The op names ferry reports come from the tools' real messages: each pattern is triggered for real here."""

from __future__ import annotations

import pytest
from onnx import TensorProto, helper

from ferry.op_errors import OPENCV_MISSING_ONNX_OPS, explain, find_op, opencv_blockers


def _one_node_model(op: str):
    f = TensorProto.FLOAT
    if op == "NonMaxSuppression":
        node = helper.make_node("NonMaxSuppression", ["boxes", "scores"], ["sel"], name="nms")
        ins = [helper.make_tensor_value_info("boxes", f, [1, 8, 4]),
               helper.make_tensor_value_info("scores", f, [1, 1, 8])]
        outs = [helper.make_tensor_value_info("sel", TensorProto.INT64, [None, 3])]
    elif op == "RoiAlign":
        node = helper.make_node("RoiAlign", ["x", "rois", "idx"], ["y"], name="roi", output_height=2, output_width=2)
        ins = [helper.make_tensor_value_info("x", f, [1, 2, 8, 8]), helper.make_tensor_value_info("rois", f, [3, 4]),
               helper.make_tensor_value_info("idx", TensorProto.INT64, [3])]
        outs = [helper.make_tensor_value_info("y", f, [3, 2, 2, 2])]
    elif op == "If":
        def branch(value):
            c = helper.make_node("Constant", [], ["out"], value=helper.make_tensor("v", f, [1], [value]))
            return helper.make_graph([c], f"b{value}", [], [helper.make_tensor_value_info("out", f, [1])])
        node = helper.make_node("If", ["cond"], ["y"], name="if", then_branch=branch(1.0), else_branch=branch(0.0))
        ins = [helper.make_tensor_value_info("cond", TensorProto.BOOL, [])]
        outs = [helper.make_tensor_value_info("y", f, [1])]
    elif op == "Loop":
        body = helper.make_graph(
            [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
             helper.make_node("Add", ["v_in", "v_in"], ["v_out"])],
            "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                     helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
                     helper.make_tensor_value_info("v_in", f, [1])],
            [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
             helper.make_tensor_value_info("v_out", f, [1])])
        node = helper.make_node("Loop", ["n", "c", "v"], ["y"], name="loop", body=body)
        ins = [helper.make_tensor_value_info("n", TensorProto.INT64, []),
               helper.make_tensor_value_info("c", TensorProto.BOOL, []), helper.make_tensor_value_info("v", f, [1])]
        outs = [helper.make_tensor_value_info("y", f, [1])]
    return _model(helper.make_graph([node], op, ins, outs))


def _model(graph):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # onnx 1.23 writes IR 14 by default; onnxruntime 1.31 reads up to 13
    return model


@pytest.mark.parametrize("op", OPENCV_MISSING_ONNX_OPS)
def test_opencv_really_lacks_each_op_ferry_says_it_lacks(op, tmp_path):
    import cv2
    import onnx
    import onnxruntime as ort

    path = tmp_path / f"{op}.onnx"
    onnx.save(_one_node_model(op), str(path))
    ort.InferenceSession(str(path))  # a valid model: onnxruntime loads it
    with pytest.raises(cv2.error):
        net = cv2.dnn.readNetFromONNX(str(path))
        if op in ("If", "Loop"):  # some importers defer control flow to the first forward
            net.forward()
    assert opencv_blockers(path) == [(op, _one_node_model(op).graph.node[0].name)]


def test_tflite_message_names_the_op_and_node():
    text = ('loc(callsite(fused["CropAndResize:", "CropAndResize@__inference___call___217"] at x)): error: '
            "'tf.CropAndResize' op is neither a custom op nor a flex op\nTF Select ops: CropAndResize")
    assert find_op(text, "tf.lite.TFLiteConverter") == ("CropAndResize", "CropAndResize")
    err = explain(RuntimeError(text), "tf.lite.TFLiteConverter", "m")
    assert err.op == "CropAndResize" and "OpenVINO or ONNX Runtime" in str(err) and "\n" not in str(err)


def test_onnxruntime_missing_kernel_names_op_and_node(tmp_path):
    """A real onnxruntime refusal: a valid op with no CPU kernel for its type (Relu on bfloat16)."""
    import onnx
    import onnxruntime as ort

    node = helper.make_node("Relu", ["x"], ["y"], name="the_relu")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.BFLOAT16, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.BFLOAT16, [2])])
    path = tmp_path / "relu_bf16.onnx"
    onnx.save(_model(graph), str(path))
    with pytest.raises(Exception) as info:
        ort.InferenceSession(str(path))
    op, node_name = find_op(str(info.value))
    assert (op, node_name) == ("Relu", "the_relu")
    assert "Relu" in str(explain(info.value, "onnxruntime", path))


def test_unknown_failure_is_still_one_line():
    err = explain(ValueError("Traceback (most recent call last):\n  File x\nboom: it broke\nmore"), "tf2onnx", "m.pb")
    assert str(err) == "m.pb: tf2onnx failed: ValueError: boom: it broke" and err.op is None


def test_sparse_tflite_weights_are_named_and_the_remedy_is_true(tmp_path):
    """A TFLite file with sparse weights (DENSIFY ops, as MediaPipe's pose detector has): tf2onnx fails on it with
    'cannot reshape array'; ferry's tflite_to_onnx densifies a copy first (tests/convert/test_tflite_rewrite), and
    LiteRT, OpenVINO and the ONNX file all give the Keras model's outputs."""
    import numpy as np

    from ferry.convert import exporters
    from ferry.runtimes import load
    from ferry.runtimes.tensorflow import _keras

    keras = _keras()
    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(32, 3, activation="relu")(inp)
    model = keras.Model(inp, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x)))
    kernel, bias = model.layers[1].get_weights()
    kernel[np.abs(kernel) < np.quantile(np.abs(kernel), 0.9)] = 0  # 90% zeros: the converter stores it sparse
    model.layers[1].set_weights([kernel, bias])
    tf = pytest.importorskip("tensorflow")
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    path = tmp_path / "sparse.tflite"
    path.write_bytes(conv.convert())
    assert exporters.tflite_op_node(path, "DENSIFY")[0] is not None
    tf2onnx = pytest.importorskip("tf2onnx")
    with pytest.raises(ValueError, match="cannot reshape"):  # tf2onnx on the file itself
        tf2onnx.convert.from_tflite(str(path), output_path=str(tmp_path / "raw.onnx"))
    notes = exporters.tflite_to_onnx(path, tmp_path / "sparse.onnx")  # ferry densifies in a copy first
    assert any("densified" in n for n in notes), notes
    x = np.random.default_rng(0).random((1, 16, 16, 3), dtype=np.float32)
    want = model(x).numpy()
    for runtime in ("tflite", "openvino"):
        m = load(path, runtime=runtime)
        got = next(iter(m.run(m.feed_tensor(x)).values()))
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-3)
    m = load(tmp_path / "sparse.onnx", runtime="onnxruntime")
    np.testing.assert_allclose(next(iter(m.run(m.feed_tensor(x)).values())), want, atol=1e-4, rtol=1e-3)
