"""OpenCV DNN files that load: `convert --to opencv` tries the remedies in order, each checked against onnxruntime
(ferry.convert.opencv_remedies), and `check` says "cannot load" for a file OpenCV never loaded.

The models are real exports with dynamic axes (torch.onnx, TorchScript exporter) and the real ddddocr recognisers
from the registry; every remedy runs for real in cv2.dnn 4.14, onnx and onnxsim. The faults the checks must catch are
injected: a remedy that breaks the numbers, an OpenCV file whose weights were changed after it was made.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from ferry.convert import convert
from ferry.convert.opencv_remedies import NO_LAYER_OPS, fix_input, make_loadable
from ferry.errors import FerryError
from ferry.op_errors import ConversionError, opencv_log
from ferry.preprocess.contract import load_contract

SIZE = [32, 48]
CONTRACT = {"color": "BGR", "size": SIZE, "scale": 1 / 255, "mean": [0.5] * 3, "std": [0.25] * 3, "layout": "NCHW"}
# rapidocr's rec preprocessing: BGR, height 48 (width 320 fixed here), (x/255 - 0.5)/0.5.
PPOCR_REC_CONTRACT = {"color": "BGR", "size": [48, 320], "scale": 1 / 255, "mean": [0.5] * 3, "std": [0.5] * 3,
                      "layout": "NCHW"}
# ddddocr/core/ocr_engine.py: height 64, gray, /255, no mean or std; a width of 256 fixed for the OpenCV file.
DDDDOCR_CONTRACT = {"color": "GRAY", "size": [64, 256], "scale": 1 / 255, "mean": [0.0], "std": [1.0],
                    "layout": "NCHW"}


def _flatten_model():
    """A conv then a reshape to a shape computed from the input (Shape -> Gather -> Concat -> Reshape)."""
    import torch

    class Flatten(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x):
            y = self.conv(x)
            return y.reshape(y.shape[0], y.shape[1], -1).softmax(-1)

    return Flatten()


def _dfl_head_model():
    """A YOLOv8-style head: DFL softmax over 16 bins, anchors from a meshgrid of the feature map's computed size,
    boxes decoded from them. With its input fixed OpenCV DNN still refuses it (a broadcast of the anchor grid);
    onnxsim folds the grid to a constant and then it loads, like the Ultralytics YOLOv8n of issue 15."""
    import torch

    class Head(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 64, 3, stride=8, padding=1)
            self.dfl = torch.nn.Conv2d(16, 1, 1, bias=False)
            self.dfl.weight.data[:] = torch.arange(16, dtype=torch.float32).view(1, 16, 1, 1)

        def forward(self, x):
            y = self.conv(x)
            b, _, h, w = y.shape
            a = h * w
            d = self.dfl(y.view(b, 4, 16, a).transpose(2, 1).softmax(1)).view(b, 4, a)
            sy, sx = torch.meshgrid(torch.arange(h, dtype=torch.float32) + 0.5,
                                    torch.arange(w, dtype=torch.float32) + 0.5, indexing="ij")
            anchors = torch.stack((sx, sy), -1).view(-1, 2).transpose(0, 1).unsqueeze(0)
            lt, rb = d.chunk(2, 1)
            return torch.cat(((anchors - lt + anchors + rb) / 2, rb + lt), 1) * 8

    return Head()


def _reversed_sequence_model():
    """A CRNN's bidirectional read done by hand: the column sequence and its reverse (`flip`, a Slice of step -1)
    concatenated, as captcha-whisperer 0.1.0's unrolled LSTM does. OpenCV DNN 4.14 gets the reversed shape wrong
    and refuses the Concat."""
    import torch

    class Reverse(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, stride=2, padding=1)

        def forward(self, x):
            y = self.conv(x)  # [N, 4, H/2, W/2]
            seq = y.permute(3, 0, 1, 2).flatten(2)  # [W/2, N, 4 * H/2], time first
            return torch.cat((seq, seq.flip(0).tanh()), 2)

    return Reverse()


def _export(build, path: Path) -> Path:
    import torch

    torch.manual_seed(0)
    net = build().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, torch.randn(1, 3, *SIZE), str(path), dynamo=False, opset_version=17,
                          input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "N", 2: "H", 3: "W"}, "y": {0: "N"}})
    return path


@pytest.fixture(scope="module")
def flatten_onnx(tmp_path_factory) -> Path:
    return _export(_flatten_model, tmp_path_factory.mktemp("flatten") / "flatten.onnx")


@pytest.fixture(scope="module")
def dfl_onnx(tmp_path_factory) -> Path:
    return _export(_dfl_head_model, tmp_path_factory.mktemp("dfl") / "dfl.onnx")


def _opencv_error(path: Path) -> str:
    from ferry.runtimes import opencv

    with pytest.raises(FerryError) as exc:
        opencv.load(path)
    return str(exc.value)


def test_opencv_refuses_the_dynamic_exports_and_names_the_node(flatten_onnx, dfl_onnx):
    for path in (flatten_onnx, dfl_onnx):
        err = _opencv_error(path)
        op, node, detail = opencv_log(err)
        assert (op, "isDynamicShape" in detail) == ("Shape", True), err
        assert f"node {node} (Shape)" in err and node in {n.name for n in _onnx(path).graph.node}


def _onnx(path: Path):
    import onnx

    return onnx.load(str(path))


def _opencv_entry(manifest):
    (entry,) = [t for t in manifest.targets if t.format == "opencv"]
    return entry


def test_fixing_the_input_makes_a_dynamic_reshape_load(flatten_onnx, tmp_path, photos):
    m = convert(flatten_onnx, to="opencv", preprocess=CONTRACT, outdir=tmp_path, images=photos[:3])
    t = _opencv_entry(m)
    assert t.reachable and t.passed, t.reason
    assert "input x fixed to [1, 3, 32, 48]" in t.route and "simplified" not in t.route, t.route
    assert "refused the file as exported at node" in t.route
    assert any("takes only that input shape" in n for n in t.notes), t.notes
    dims = [d.dim_value for d in _onnx(Path(t.path)).graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 32, 48]
    assert max(o["max_abs"] for o in t.check["outputs"]) < 1e-5
    assert _onnx(Path(t.path)).metadata_props, "the contract's metadata is kept"


def test_a_yolo_style_head_needs_the_simplifier(dfl_onnx, tmp_path, photos):
    m = convert(dfl_onnx, to="opencv", preprocess=CONTRACT, outdir=tmp_path, images=photos[:3])
    t = _opencv_entry(m)
    assert t.reachable and t.passed, t.reason
    assert "graph simplified by onnxsim 0.8.1" in t.route and "input x fixed to" in t.route, t.route
    assert t.versions.get("onnxsim") == "0.8.1"
    assert max(o["max_abs"] for o in t.check["outputs"]) < 1e-3


def _break_weights(model, contract, work):
    """An injected bad remedy: fixes the input like the real one, then scales the first conv's weights."""
    import onnx
    from onnx import numpy_helper

    fixed, what = fix_input(model, contract, work)
    w = fixed.graph.initializer[0]
    w.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(w) * 1.5, w.name))
    assert isinstance(fixed, onnx.ModelProto)
    return fixed, "an injected remedy that scales a weight"


def _declared_copy(src: Path, dest: Path) -> Path:
    dest.write_bytes(src.read_bytes())
    return dest


def test_a_remedy_that_loads_but_computes_wrong_is_refused(flatten_onnx, tmp_path):
    contract = load_contract(CONTRACT)
    dest = _declared_copy(flatten_onnx, tmp_path / "f.opencv.onnx")
    first = _opencv_error(dest)
    done = make_loadable(dest, flatten_onnx, contract, tmp_path, dest, first,
                         steps=[("bad", _break_weights), ("fixed input", fix_input)])
    bad = done.attempts[1]
    assert bad.loaded and not bad.matched and "differs from onnxruntime" in bad.detail, bad
    assert done.how.startswith("input x fixed to") and "refused" in done.note
    # and with only the bad remedy, nothing is accepted: the convert says why
    dest2 = _declared_copy(flatten_onnx, tmp_path / "g.opencv.onnx")
    with pytest.raises(ConversionError) as exc:
        make_loadable(dest2, flatten_onnx, contract, tmp_path, dest2, first, steps=[("bad", _break_weights)])
    assert "differs from onnxruntime" in str(exc.value) and "refused" in str(exc.value)
    assert dest2.read_bytes() == flatten_onnx.read_bytes(), "a refused remedy never replaces the file"


def _quantized(flatten_onnx: Path, tmp_path: Path) -> Path:
    """onnxruntime's dynamic quantisation of the dynamic export: ConvInteger, like ddddocr's common_old.onnx."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = tmp_path / "flatten.int8.onnx"
    quantize_dynamic(str(flatten_onnx), str(out), weight_type=QuantType.QUInt8, op_types_to_quantize=["Conv"])
    return out


def test_when_no_remedy_works_the_node_op_and_runtimes_are_named(flatten_onnx, tmp_path, photos):
    q = _quantized(flatten_onnx, tmp_path)
    m = convert(q, to="opencv", preprocess=CONTRACT, outdir=tmp_path / "out", images=photos[:2])
    t = _opencv_entry(m)
    assert not t.reachable and t.path is None
    assert t.op and t.node, t.reason  # from OpenCV's own log
    assert f"node {t.node} ({t.op})" in t.reason
    assert "input x fixed to [1, 3, 32, 48]" in t.reason and "onnxsim" in t.reason
    assert "ConvInteger" in t.reason and "It loads in onnxruntime" in t.reason, t.reason
    assert not (tmp_path / "out" / "flatten.int8.opencv.onnx").exists()


@pytest.mark.parametrize("op", NO_LAYER_OPS)
def test_opencv_really_has_no_layer_for_the_ops_ferry_names(op, tmp_path):
    import cv2
    import onnx
    from onnx import TensorProto, helper

    f, u8, i32 = TensorProto.FLOAT, TensorProto.UINT8, TensorProto.INT32
    domain = "com.microsoft" if op == "DynamicQuantizeLSTM" else ""
    ins, outs = {
        "ConvInteger": ([("x", u8, [1, 1, 4, 4]), ("w", u8, [1, 1, 1, 1])], [("y", i32, [1, 1, 4, 4])]),
        "MatMulInteger": ([("a", u8, [2, 2]), ("b", u8, [2, 2])], [("y", i32, [2, 2])]),
        "DynamicQuantizeLinear": ([("x", f, [2, 2])], [("y", u8, [2, 2]), ("s", f, []), ("z", u8, [])]),
        "DynamicQuantizeLSTM": ([("x", f, [1, 1, 2])], [("y", f, [1, 1, 1, 2])]),
    }[op]
    node = helper.make_node(op, [i[0] for i in ins], [o[0] for o in outs], name=f"the_{op}", domain=domain)
    graph = helper.make_graph([node], op, [helper.make_tensor_value_info(*i) for i in ins],
                              [helper.make_tensor_value_info(*o) for o in outs])
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    path = tmp_path / f"{op}.onnx"
    onnx.save(helper.make_model(graph, opset_imports=opsets), str(path))
    with pytest.raises(cv2.error) as exc:
        cv2.dnn.readNetFromONNX(str(path))
    assert opencv_log(str(exc.value))[:2] == (op, f"the_{op}")


def _ferry(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ferry.cli", *args], capture_output=True, text=True,
                          env={"ORT_DISABLE_TELEMETRY": "1", "COLUMNS": "250", "PATH": "/usr/bin:/bin"})


def _contract_file(tmp_path: Path) -> str:
    path = tmp_path / "contract.json"
    path.write_text(json.dumps(CONTRACT))
    return str(path)


def test_check_says_cannot_load_names_the_node_and_suggests_convert(flatten_onnx, tmp_path, photos):
    contract = _contract_file(tmp_path)
    done = _ferry("check", str(flatten_onnx), str(flatten_onnx), "--runtimes", "onnxruntime,opencv",
                  "--preprocess", contract, "--images", *map(str, photos[:2]))
    assert done.returncode == 2, done.stdout + done.stderr
    out = done.stdout
    assert "cannot load it: node" in out and "(Shape)" in out, out
    assert "cannot load" in out.splitlines()[-1] and "differ" not in out.splitlines()[-1], out
    assert f"ferry convert {flatten_onnx} --to opencv --preprocess {contract}" in done.stderr, done.stderr
    assert "node /Shape (Shape)" in done.stderr


def test_check_catches_an_opencv_file_that_loads_but_computes_wrong(flatten_onnx, tmp_path, photos):
    from onnx import numpy_helper

    m = convert(flatten_onnx, to="opencv", preprocess=CONTRACT, outdir=tmp_path, images=photos[:2])
    good = Path(_opencv_entry(m).path)
    model = _onnx(good)
    w = model.graph.initializer[0]
    w.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(w) * np.float32(1.5), w.name))
    bad = tmp_path / "bad.opencv.onnx"
    bad.write_bytes(model.SerializeToString())
    args = ["--runtimes", "opencv", "--preprocess", _contract_file(tmp_path), "--images", *map(str, photos[:2])]
    assert _ferry("check", str(flatten_onnx), str(good), *args).returncode == 0
    done = _ferry("check", str(flatten_onnx), str(bad), *args)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "differ from the source" in done.stdout.splitlines()[-1]


# --- the real models (tests/models/pretrained.py fetches them once from ddddocr's wheel) -------------------------

@pytest.mark.slow
def test_ddddocr_recogniser_loads_in_opencv_after_fixing_its_width(tmp_path, photos):
    import pretrained

    src = pretrained.ddddocr_ocr_onnx()
    assert "isDynamicShape" in _opencv_error(src)  # as shipped, OpenCV DNN 4.14 refuses it
    m = convert(src, to="opencv", preprocess=DDDDOCR_CONTRACT, outdir=tmp_path, images=photos[:4])
    t = _opencv_entry(m)
    assert t.reachable and t.passed, t.reason
    assert "input input1 fixed to [1, 1, 64, 256]" in t.route and "onnxsim" not in t.route, t.route
    assert "node Shape_83 (Shape)" in t.route
    worst = max(o["max_abs"] for o in t.check["outputs"])
    assert worst < 1e-3, worst  # measured 5.3e-5 on logits up to about 18


@pytest.mark.slow
def test_ddddocr_quantised_recogniser_is_unreachable_with_opencvs_node(tmp_path, photos):
    import pretrained

    m = convert(pretrained.ddddocr_ocr_old_onnx(), to="opencv", preprocess=DDDDOCR_CONTRACT, outdir=tmp_path,
                images=photos[:2])
    t = _opencv_entry(m)
    assert not t.reachable
    assert (t.op, t.node) == ("Div", "392_tmp_qaunt"), t.reason  # OpenCV's own log names this node
    assert "findCommonShape" in t.reason and "graph simplified by onnxsim" in t.reason
    assert "ConvInteger x21" in t.reason and "DynamicQuantizeLSTM (com.microsoft) x1" in t.reason
    assert "It loads in onnxruntime and openvino" in t.reason, t.reason


@pytest.mark.slow
def test_ppocrv6_recogniser_loads_in_opencv_only_after_onnxsim(tmp_path, photos):
    import pretrained

    src = pretrained.ppocrv6_rec_onnx()
    assert "node Reshape.71 (Reshape)" in _opencv_error(src)
    m = convert(src, to="opencv", preprocess=PPOCR_REC_CONTRACT, outdir=tmp_path, images=photos[:3])
    t = _opencv_entry(m)
    assert t.reachable and t.passed, t.reason
    assert "input x fixed to [1, 3, 48, 320]" in t.route and "graph simplified by onnxsim 0.8.1" in t.route, t.route
    worst = max(o["max_abs"] for o in t.check["outputs"])
    assert worst < 1e-3, worst  # measured 8.5e-5 on 10 photos (softmax probabilities)


def test_bench_times_opencv_on_the_file_convert_would_write(flatten_onnx, photos):
    """NudeNet's Ultralytics export (dynamic size) made both OpenCV paths of `ferry bench` rows of "cannot load";
    they are timed on the remedied copy `convert --to opencv` writes, with parity against the original, and said."""
    from ferry.bench import bench

    run = bench([flatten_onnx], images=photos[:2], runtimes=["onnxruntime", "opencv"], preprocess=CONTRACT,
                warmup=1, iterations=2, isolate=False)
    mb = run.models[0]
    by_id = {p.id: p for p in mb.paths}
    for pid in ("opencv/host", "opencv/native"):
        assert by_id[pid].error is None and by_id[pid].parity_passed, (pid, by_id[pid].error, by_id[pid].parity)
        assert by_id[pid].file and by_id[pid].file.endswith(".opencv.onnx")
    assert any(n.startswith("opencv: timed on the file `ferry convert --to opencv` writes") and "fixed" in n
               for n in mb.notes), mb.notes


def test_a_reversing_slice_is_written_as_a_gather(tmp_path, photos):
    src = _export(_reversed_sequence_model, tmp_path / "reverse.onnx")
    assert any(n.op_type == "Slice" for n in _onnx(src).graph.node)
    m = convert(src, to="opencv", preprocess=CONTRACT, outdir=tmp_path / "out", images=photos[:3])
    t = _opencv_entry(m)
    assert t.reachable and t.passed, t.reason
    assert "1 reversing Slice written as Gather" in t.route and "simplified" not in t.route, t.route
    gathers = [n for n in _onnx(Path(t.path)).graph.node if n.name.endswith("_as_gather")]
    assert len(gathers) == 1 and gathers[0].op_type == "Gather"
    assert max(o["max_abs"] for o in t.check["outputs"]) < 1e-5
