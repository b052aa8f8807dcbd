"""GRAY contracts embedded in ONNX and OpenVINO (issue 15, item 4): the in-graph BGR->gray is the reference's on
every one of the 2**24 colours, both polarities and both gray conventions; the embedding reads back as GRAY with its
polarity; a grayscale Keras .hdf5 converts to all five targets and passes; a flipped polarity fails `ferry check`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("openvino")
cv2 = pytest.importorskip("cv2")
onnx = pytest.importorskip("onnx")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from ferry.cli import main  # noqa: E402
from ferry.images import load_image  # noqa: E402
from ferry.preprocess.contract import load_contract  # noqa: E402
from ferry.preprocess.gray import gray_levels  # noqa: E402
from ferry.preprocess.reference import preprocess_batch, resize_batch  # noqa: E402
from ferry.runtimes import onnx_graph  # noqa: E402
from ferry.runtimes import onnxruntime as ort_rt  # noqa: E402
from ferry.runtimes import openvino as ov_rt  # noqa: E402

ALL = 4096  # a 4096x4096 BGR image holds every colour once


@pytest.fixture(scope="module")
def every_colour() -> np.ndarray:
    v = np.arange(ALL * ALL, dtype=np.uint32)
    return np.stack([(v >> 16) & 255, (v >> 8) & 255, v & 255], axis=-1).astype(np.uint8).reshape(ALL, ALL, 3)


def _identity_onnx(path: Path) -> Path:
    """A 1-channel model with dynamic height and width that returns its input: the embedded graph's output is
    the preprocessing itself, at any size."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, "H", "W"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1, "H", "W"])
    one = numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one")
    graph = helper.make_graph([helper.make_node("Mul", ["x", "one"], ["y"])], "identity", [x], [y], [one])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_gray_weights_are_cv2s_and_pils(every_colour):
    """The fixed-point weights ferry embeds give cv2.cvtColor's and PIL's levels on all 2**24 colours (a new
    OpenCV with other weights turns this red before any embedded model drifts)."""
    from PIL import Image

    assert np.array_equal(gray_levels(every_colour, "opencv"), cv2.cvtColor(every_colour, cv2.COLOR_BGR2GRAY))
    pil = np.asarray(Image.fromarray(np.ascontiguousarray(every_colour[:, :, ::-1]), "RGB").convert("L"))
    assert np.array_equal(gray_levels(every_colour, "pil"), pil)


@pytest.mark.parametrize("semantics", ["opencv", "pil"])
@pytest.mark.parametrize("zero", ["black", "white"])
def test_embedded_gray_is_the_reference_on_every_colour(tmp_path, every_colour, semantics, zero):
    """onnxruntime and OpenVINO, fed every colour as uint8 BGR, give exactly ferry's reference (cv2.cvtColor or
    PIL, then the polarity), and the files read back as GRAY with that polarity and those weights."""
    src = _identity_onnx(tmp_path / "identity.onnx")
    contract = load_contract({"color": "GRAY", "gray_zero_is": zero, "resize": {"semantics": semantics},
                              "size": [ALL, ALL], "layout": "NCHW"})
    ref = preprocess_batch([every_colour], contract)
    onnx_file = onnx_graph.embed_onnx(src, contract, tmp_path / "gray.onnx")
    got = ort_rt.session(onnx_file).run(None, {"x": every_colour[None]})[0]
    assert np.array_equal(got, ref), f"onnxruntime: max abs {np.abs(got - ref).max()}"
    xml = ov_rt.embed(src, contract, tmp_path / "gray.xml")
    ov_model = ov_rt.load(xml)
    got = next(iter(ov_model.run({ov_model.inputs[0].name: every_colour[None]}).values()))
    assert np.array_equal(got, ref), f"openvino: max abs {np.abs(got - ref).max()}"
    for read in (ort_rt.read_preprocess(onnx_file), ov_model.embedded):
        assert (read.color, read.gray_zero_is, read.resize.semantics) == ("GRAY", zero, semantics)


# -- a real grayscale model: Keras .hdf5 -> every target ---------------------------------------------------------
@pytest.fixture(scope="module")
def gray_converted(tmp_path_factory, photos):
    pytest.importorskip("tensorflow")
    import gray_models

    from ferry.convert import convert

    out = tmp_path_factory.mktemp("gray")
    contract = out / "contract.json"
    contract.write_text(json.dumps(gray_models.CONTRACT))
    manifest = convert(str(gray_models.gray_hdf5()), preprocess=str(contract), outdir=out / "deploy",
                       images=photos, to=["onnx", "openvino", "opencv", "coreml", "tflite"])
    return out, contract, manifest


def test_gray_hdf5_converts_to_all_five_targets(gray_converted):
    _, _, manifest = gray_converted
    assert {t.format for t in manifest.targets} == {"onnx", "openvino", "opencv", "coreml", "tflite"}
    for t in manifest.targets:
        assert t.reachable and t.passed, f"{t.format}: {t.reason}"
        assert max(o["max_abs"] for o in t.check["outputs"]) < 1e-5, t.format
    assert manifest.passed


def _photo_pixels(photos, contract):
    images = [load_image(p) for p in photos]
    return resize_batch(images, contract), preprocess_batch(images, contract)


def test_embedded_gray_matches_the_reference_on_photos(gray_converted, photos):
    """The preprocessing part of each embedded file, run alone on the photos' uint8 BGR pixels, gives the
    reference tensor (0.0 max abs measured in onnxruntime and OpenVINO), and the whole embedded model gives the
    plain model's outputs on the reference tensor."""
    out, contract_file, _ = gray_converted
    deploy = out / "deploy"
    contract = ort_rt.load(deploy / "gray.onnx").resolve(load_contract(str(contract_file)))
    pixels, ref = _photo_pixels(photos, contract)
    sub = onnx_graph.preprocessing_subgraph(onnx_graph.load_onnx(deploy / "gray.onnx"))
    sess = ort_rt.session(sub)
    got = np.concatenate([sess.run(None, {sess.get_inputs()[0].name: pixels[i:i + 1]})[0]
                          for i in range(len(pixels))])
    assert np.array_equal(got, ref), f"onnxruntime: max abs {np.abs(got - ref).max()}"

    model = ov_rt.read_model(deploy / "gray.xml")
    param = model.get_parameters()[0]
    end = ov_rt._preprocessing_end(param)
    compiled = ov_rt.core().compile_model(ov_rt._ov().Model([end.output(0)], [param], "pre"), "CPU",
                                          ov_rt.F32_CONFIG)
    got = np.concatenate([compiled(pixels[i:i + 1])[0] for i in range(len(pixels))])
    if got.shape != ref.shape:  # the read-back's chain takes in the Transpose OpenVINO puts before Keras's convs
        got = got.transpose(0, 2, 3, 1)
    assert np.array_equal(got, ref), f"openvino: max abs {np.abs(got - ref).max()}"

    plain = ort_rt.load(deploy / "gray.opencv.onnx")
    want = plain.run(plain.feed_tensor(ref))
    for path in ("gray.onnx", "gray.xml"):
        m = (ort_rt if path.endswith(".onnx") else ov_rt).load(deploy / path)
        have = m.run({m.inputs[0].name: pixels})
        worst = max(float(np.abs(have[k] - want[k]).max()) for k in want)
        assert worst < 1e-5, f"{path}: {worst}"


def _inspect(path: Path, capsys) -> dict:
    capsys.readouterr()
    assert main(["inspect", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_read_back_names_gray_and_its_polarity(gray_converted, capsys):
    out, contract_file, _ = gray_converted
    want = load_contract(str(contract_file))
    for name in ("gray.onnx", "gray.xml"):
        info = _inspect(out / "deploy" / name, capsys)
        read = load_contract(info["preprocess"])
        assert (read.color, read.gray_zero_is) == ("GRAY", "white"), name
        assert read.same_function(want.replace(size=read.size)), (name, info["preprocess"])
        assert not any("does not match" in n for n in info.get("notes", [])), info["notes"]


def test_read_back_from_the_graph_alone(gray_converted, tmp_path, capsys):
    """Without ferry's metadata the polarity still comes from what the graph computes."""
    out, contract_file, _ = gray_converted
    model = onnx_graph.load_onnx(out / "deploy" / "gray.onnx")
    kept = [p for p in model.metadata_props if p.key != onnx_graph.METADATA_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    bare = tmp_path / "bare.onnx"
    onnx.save(model, str(bare))
    info = _inspect(bare, capsys)
    read = load_contract(info["preprocess"])
    assert (read.color, read.gray_zero_is) == ("GRAY", "white")
    assert read.same_function(load_contract(str(contract_file)).replace(size=read.size, layout=read.layout))


def _without_invert(src: Path, dest: Path) -> Path:
    """The embedded file with its `255 - g` node bypassed (a polarity flipped in the graph; metadata untouched)."""
    model = onnx_graph.load_onnx(src)
    invert = next(n for n in model.graph.node if n.name == f"{onnx_graph.NODE_PREFIX}invert")
    for node in model.graph.node:
        node.input[:] = [invert.input[1] if i == invert.output[0] else i for i in node.input]
    model.graph.node.remove(invert)
    onnx.save(model, str(dest))
    return dest


def _check(source: Path, targets: list[Path], contract: Path, photos) -> int:
    return main(["check", str(source), *map(str, targets), "--preprocess", str(contract),
                 "--images", *map(str, photos)])


def test_flipped_polarity_fails_check(gray_converted, tmp_path, photos, capsys):
    """Exit 1 for an ONNX and an IR embedded with the other polarity, and for the embedded ONNX with its
    inversion removed (which reads back as 0 = black, against its metadata); the right files pass (exit 0)."""
    out, contract_file, _ = gray_converted
    deploy = out / "deploy"
    source = deploy / "gray.opencv.onnx"  # the plain model, fed ferry's reference tensor
    assert _check(source, [deploy / "gray.onnx", deploy / "gray.xml"], contract_file, photos) == 0
    black = load_contract(str(contract_file)).replace(gray_zero_is="black")
    wrong = [onnx_graph.embed_onnx(source, black, tmp_path / "black.onnx"),
             ov_rt.embed(source, black, tmp_path / "black.xml")]
    for path in wrong:
        assert _check(source, [path], contract_file, photos) == 1, path
    edited = _without_invert(deploy / "gray.onnx", tmp_path / "edited.onnx")
    info = _inspect(edited, capsys)
    assert info["preprocess"]["gray_zero_is"] == "black"
    assert any("does not match what its graph computes" in n for n in info["notes"])
    assert _check(source, [edited], contract_file, photos) == 1


def test_other_single_channel_maps_are_not_read_as_gray(tmp_path, capsys):
    """A graph that keeps only the green channel is not a BGR->gray conversion: the read-back says so."""
    src = _identity_onnx(tmp_path / "identity.onnx")
    contract = load_contract({"color": "GRAY", "size": [8, 8], "layout": "NCHW"})
    model = onnx_graph.load_onnx(onnx_graph.embed_onnx(src, contract, tmp_path / "gray.onnx"))
    weights = next(t for t in model.graph.initializer if t.name == f"{onnx_graph.NODE_PREFIX}gray_weights")
    weights.CopyFrom(numpy_helper.from_array(np.array([[0], [32768], [0]], dtype=np.float32), weights.name))
    onnx.save(model, str(tmp_path / "green.onnx"))
    capsys.readouterr()
    assert main(["inspect", str(tmp_path / "green.onnx")]) == 2
    assert "not as cv2.cvtColor's BGR2GRAY" in capsys.readouterr().err


@pytest.mark.parametrize("to", ["onnx", "openvino"])
def test_gray_contract_on_a_colour_model_is_refused(classifier_onnx, tmp_path, capsys, to):
    out = tmp_path / ("x.onnx" if to == "onnx" else "x.xml")
    contract = tmp_path / "gray.json"
    contract.write_text(json.dumps({"color": "GRAY"}))
    capsys.readouterr()
    code = main(["embed", str(classifier_onnx), "--to", to, "--preprocess", str(contract), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert str(classifier_onnx) in err and "takes 3 channels" in err and "set color" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("to", ["onnx", "openvino"])
def test_embed_cli_reads_the_gray_back(gray_converted, tmp_path, capsys, to):
    """`ferry embed` reads what it wrote back from the graph and says it: GRAY, the polarity, the map."""
    out, contract_file, _ = gray_converted
    dest = tmp_path / ("gray.onnx" if to == "onnx" else "gray.xml")
    capsys.readouterr()
    assert main(["embed", str(out / "deploy" / "gray.opencv.onnx"), "--to", to, "--preprocess", str(contract_file),
                 "-o", str(dest)]) == 0
    assert "read back from the graph: GRAY, 0 = white" in capsys.readouterr().out
