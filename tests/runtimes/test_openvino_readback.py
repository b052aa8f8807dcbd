"""An IR's embedded preprocessing read back from its graph, with and without PrePostProcessor's resize in the chain
(`embed(..., resize_in_graph=True)`, bench's openvino/in-graph+resize path): the read-back walked the chain only up
to the Interpolate op and reported "no normalisation", a mismatch with the IR's own metadata."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from ferry.errors import FerryError
from ferry.preprocess.contract import load_contract
from ferry.runtimes import openvino as ov_rt


def _conv_model(path, layout: str, hw=(16, 16)) -> None:
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "w")
    shape = [1, 3, *hw] if layout == "NCHW" else [1, *hw, 3]
    nodes = [] if layout == "NCHW" else [helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 3, 1, 2])]
    nodes.append(helper.make_node("Conv", ["x" if layout == "NCHW" else "xt", "w"], ["y"]))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    import onnx

    onnx.save(model, str(path))


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("resize_in_graph", [False, True])
def test_the_embedded_contract_reads_back_with_the_resize_in_the_graph(tmp_path, layout, resize_in_graph):
    src = tmp_path / "m.onnx"
    _conv_model(src, layout)
    contract = load_contract({"color": "RGB", "scale": 1 / 255, "mean": [0.485, 0.456, 0.406],
                              "std": [0.229, 0.224, 0.225]})
    xml = ov_rt.embed(src, contract, tmp_path / "m.xml", resize_in_graph=resize_in_graph)
    back, notes = ov_rt._embedded(ov_rt.read_model(xml))
    assert back is not None and not any("does not match" in n for n in notes), notes  # the swap may be folded
    assert back.color == "RGB" and back.layout == layout
    for got, want in zip(back.affine(), contract.affine(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_an_in_graph_resize_fixes_a_dynamic_input_size_at_the_contracts(tmp_path):
    """An export with dynamic height and width (Ultralytics' dynamic=True, NudeNet's 320n.onnx) made PPP fail with
    "Check 'model_shape().is_static()' failed": the input is fixed at the contract's size first, the batch left."""
    import openvino as ov

    src = tmp_path / "dyn.onnx"
    _conv_model(src, "NCHW", hw=("H", "W"))
    contract = load_contract({"color": "RGB", "scale": 1 / 255, "size": [16, 16]})
    xml = ov_rt.embed(src, contract, tmp_path / "dyn.xml", resize_in_graph=True)
    fixed = ov_rt.embed(src, contract, tmp_path / "fixed.xml")
    core = ov.Core()
    img = np.empty((1, 40, 24, 3), np.uint8)
    img[...] = (10, 200, 90)  # one colour: every resize algorithm gives the same 16x16 pixels
    out = core.compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})(img)[0]  # any size goes in
    assert out.shape == (1, 4, 14, 14)  # 16x16 in, 3x3 conv, no padding: fixed at the contract's size
    same = core.compile_model(str(fixed), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})(img[:, :16, :16])[0]
    np.testing.assert_allclose(out, same, rtol=1e-5, atol=1e-5)
    with pytest.raises(FerryError, match="contract gives no size"):
        ov_rt.embed(src, load_contract({"color": "RGB", "scale": 1 / 255}), tmp_path / "n.xml", resize_in_graph=True)


def test_an_in_graph_resize_is_refused_for_a_letterbox_contract(tmp_path):
    src = tmp_path / "m.onnx"
    _conv_model(src, "NCHW")
    contract = load_contract({"color": "RGB", "scale": 1 / 255, "size": [16, 16],
                              "resize": {"mode": "letterbox", "pad_value": 114}})
    with pytest.raises(FerryError, match="stretches to the model's size; the contract resizes by letterbox"):
        ov_rt.embed(src, contract, tmp_path / "m.xml", resize_in_graph=True)
    assert not (tmp_path / "m.xml").exists()
    squash = load_contract({"color": "RGB", "scale": 1 / 255, "size": [16, 16],
                            "resize": {"mode": "stretch", "crop_fraction": 0.875}})
    with pytest.raises(FerryError, match=r"resizes by stretch then a centre crop \(0.875\)"):
        ov_rt.embed(src, squash, tmp_path / "m.xml", resize_in_graph=True)
    assert not (tmp_path / "m.xml").exists()


def test_check_feeds_an_in_graph_resize_ir_whole_photos_and_fails_a_wrong_resize(tmp_path, segmenter_onnx, photos):
    """`check` fed an IR made by `embed --resize-in-graph` pixels already resized on the host, so the graph's resize
    saw its own size and was never compared (PP-OCRv2's recogniser: 4e-6 that way, 0.03 on whole photos). It is fed
    each photo at its own size now: an IR whose resize is nearest-neighbour where the contract says bilinear FAILs."""
    from ferry.check import check
    from ferry.images import load_image
    from ferry.runtimes import load

    contract = {"color": "RGB", "scale": 1 / 255, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                "layout": "NCHW"}
    xml = ov_rt.embed(segmenter_onnx, load_contract(contract), tmp_path / "resizing.xml", resize_in_graph=True)
    model = load(xml)
    assert type(model).__name__ == "OvResizingModel"
    assert any("resizes in its graph" in n for n in model.notes)
    pixels = load_image(photos[0])
    whole = model.run_image([pixels], model.resolve(load_contract(contract)))
    direct = model.run(model.feed_tensor(pixels[None]))
    for name in direct:
        np.testing.assert_array_equal(whole[name], direct[name])  # the photo as it is, not resized by the host
    ok = check(segmenter_onnx, [xml], images=photos[:4], preprocess=contract, atol={"*": 0.05}, rtol={"*": 0.05})
    assert ok.passed, [t.outputs for t in ok.targets]
    nearest = tmp_path / "nearest.xml"
    text = xml.read_text()
    at = text.index('mode="linear"', text.index('type="Interpolate"'))  # the first: PPP's, right after the input
    nearest.write_text(text[:at] + 'mode="nearest"' + text[at + len('mode="linear"'):])
    nearest.with_suffix(".bin").write_bytes(xml.with_suffix(".bin").read_bytes())
    assert type(load(nearest)).__name__ == "OvResizingModel"
    bad = check(segmenter_onnx, [nearest], images=photos[:4], preprocess=contract, atol={"*": 0.05},
                rtol={"*": 0.05})
    assert not bad.passed
    # bench times such an IR both ways, the host-resize path as the reference (it timed only that one)
    from ferry.bench import bench

    run = bench([xml], images=photos[:3], runtimes=["openvino"], preprocess=contract, warmup=1, iterations=2,
                isolate=False)
    paths = {p.id: p for p in run.models[0].paths}
    assert set(paths) == {"openvino/in-graph", "openvino/in-graph+resize"}, set(paths)
    assert paths["openvino/in-graph"].parity_passed and paths["openvino/in-graph+resize"].error is None
