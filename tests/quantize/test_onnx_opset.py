"""int8 ONNX from a file at an old opset: quantize_static writes per-channel DequantizeLinear with `axis` (opset 13)
into the file's own opset, an invalid model at 11 (paddle2onnx's PP-OCRv6 recogniser: a traceback from
onnx.checker in ferry's embedding step). The opset is raised first; an invalid file is one line, not a crash."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ferry.errors import FerryError
from ferry.quantize.calibration import Calibration
from ferry.quantize.onnx import quantize_int8


def _opset11_cnn(path):
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.normal(0, 0.1, 8).astype(np.float32), "b"),
             numpy_helper.from_array(rng.normal(0, 0.3, (8, 4)).astype(np.float32), "fc")]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("MatMul", ["f", "fc"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 7
    onnx.save(model, str(path))


def test_an_opset_11_model_is_raised_to_13_and_quantized_per_channel(tmp_path):
    plain = tmp_path / "old.onnx"
    _opset11_cnn(plain)
    rng = np.random.default_rng(1)
    calib = Calibration(tuple(rng.random((1, 3, 16, 16), dtype=np.float32) for _ in range(4)), ("a", "b", "c", "d"))
    route = quantize_int8(plain, tmp_path / "old.int8.onnx", calib)
    assert "opset 11 raised to 13" in route
    q = onnx.load(str(tmp_path / "old.int8.onnx"))
    onnx.checker.check_model(q)  # valid: per-channel DequantizeLinear at an opset that has `axis`
    assert next(o.version for o in q.opset_import if o.domain in ("", "ai.onnx")) >= 13
    assert any(a.name == "axis" for n in q.graph.node if n.op_type == "DequantizeLinear" for a in n.attribute)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.int8.onnx", "old.onnx"]  # the step file is gone


def test_embedding_into_an_invalid_file_is_one_line(tmp_path):
    """What the old route made: per-channel DequantizeLinear (axis) in an opset-11 file."""
    from ferry.preprocess.contract import load_contract
    from ferry.runtimes.onnx_graph import embed_onnx

    bad = tmp_path / "bad.onnx"
    _opset11_cnn(bad)
    m = onnx.load(str(bad))
    scale = numpy_helper.from_array(np.full(8, 0.01, np.float32), "s")
    zp = numpy_helper.from_array(np.zeros(8, np.int8), "z")
    wq = numpy_helper.from_array(np.zeros((8, 3, 3, 3), np.int8), "wq")
    m.graph.initializer.extend([scale, zp, wq])
    m.graph.node.insert(0, helper.make_node("DequantizeLinear", ["wq", "s", "z"], ["w2"], axis=0, name="dq"))
    m.graph.node[1].input[1] = "w2"
    onnx.save(m, str(bad))
    with pytest.raises(FerryError) as err:
        embed_onnx(bad, load_contract("imagenet"), tmp_path / "out.onnx")
    assert "not a valid ONNX model" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "out.onnx").exists()
