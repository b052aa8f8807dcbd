"""Where the doctor's evidence comes from besides a reference: contracts the file states (Ultralytics metadata,
normalisation ops at the graph's front), photos with known answers, and the reference's neighbourhood; each
question's `sure` flag, and the flag turning false when the evidence is taken away."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import cases  # noqa: E402

from ferry.doctor import Runner, diagnose  # noqa: E402
from ferry.images import load_image  # noqa: E402
from ferry.preprocess.contract import Preprocess  # noqa: E402
from ferry.runtimes import load  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = ROOT / "examples" / "images"
NAMES = ("astronaut.jpg", "chelsea.jpg", "coffee.jpg", "rocket.jpg")


def _images() -> list[np.ndarray]:
    return [load_image(PHOTOS / n) for n in NAMES]


def _export(net, dest: Path, size=(64, 64), metadata: dict[str, str] | None = None) -> Path:
    import onnx
    import torch

    torch.onnx.export(net, torch.randn(1, 3, *size), dest, dynamo=False, opset_version=17, input_names=["images"],
                      output_names=["output0"])
    if metadata:
        proto = onnx.load(str(dest))
        for k, v in metadata.items():
            proto.metadata_props.add(key=k, value=v)
        onnx.save(proto, str(dest))
    return dest


ULTRALYTICS = {"author": "Ultralytics", "task": "detect", "imgsz": "[64, 64]", "stride": "32",
               "names": "{0: 'person', 1: 'bicycle'}", "batch": "1"}


@pytest.fixture(scope="module")
def yolo_like(tmp_path_factory):
    """The seeded classifier exported with an Ultralytics export's metadata keys, and without them."""
    import torch_models

    d = tmp_path_factory.mktemp("ultra")
    net = torch_models.classifier()
    return _export(net, d / "yolo.onnx", metadata=ULTRALYTICS), _export(net, d / "plain.onnx")


def test_ultralytics_metadata_is_the_stated_contract_and_settles_every_question(yolo_like):
    yolo, plain = yolo_like
    m = load(yolo)
    want = Preprocess.from_dict({"color": "RGB", "scale": 1 / 255, "size": [64, 64], "layout": "NCHW",
                                 "resize": {"mode": "letterbox", "pad_value": 114}})
    assert m.declared is not None and m.declared.same_function(want)
    d = diagnose(yolo, [PHOTOS / n for n in NAMES], preprocess="imagenet")
    assert d.best.same_function(want), d.name
    assert d.candidates[0].candidate.origin == "stated"
    assert d.candidates[0].candidate.name.startswith("RGB 0..1, stated by ")  # named by what it is
    assert d.sure == {"range": True, "color": True, "layout": True, "resize": True}
    assert d.confident
    assert any("metadata" in n for n in d.notes)
    # the evidence taken away: the same weights without the metadata are not sure of range or colour
    d2 = diagnose(plain, [PHOTOS / n for n in NAMES], preprocess="imagenet")
    assert not d2.sure["range"] and not d2.sure["color"] and not d2.sure["resize"]
    assert d2.sure["layout"]
    assert not d2.confident


def test_normalisation_at_the_graph_front_states_the_range_only(tmp_path):
    """A graph that starts with x * (1/255) wants 0..255 pixels: range sure, colour order not (the ops do not say)."""
    import torch
    import torch_models

    class Scaled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch_models.classifier()

        def forward(self, x):
            return self.net(x * (1 / 255.0))

    path = _export(Scaled().eval(), tmp_path / "scaled.onnx")
    d = diagnose(path, [PHOTOS / n for n in NAMES], preprocess="imagenet")
    assert any("normalises its input first" in s.source for s in d.stated)
    gain, offset = d.best.affine()
    assert np.allclose(gain, 1.0) and np.allclose(offset, 0.0), d.name
    assert d.sure["range"] and not d.sure["color"]
    assert "stated" in d.why["range"]


def test_reference_neighbourhood_finds_an_exact_swap_of_a_non_convention_contract(tmp_path):
    """Issue 14: reference Caffe-style BGR 104/117/123; a copy whose first convolution reads RGB wants exactly RGB
    123/117/104 (not RapidOCR's or ImageNet-derived numbers), confidently. Without the reference's contract the
    neighbourhood is not built and the exact contract is not found."""
    import onnx
    import torch_models
    from onnx import numpy_helper

    src = torch_models.onnx_path("classifier")
    proto = onnx.load(str(src))
    first = next(n for n in proto.graph.node if n.op_type == "Conv")
    init = next(i for i in proto.graph.initializer if i.name == first.input[1])
    w = numpy_helper.to_array(init)[:, ::-1].copy()
    init.CopyFrom(numpy_helper.from_array(w, init.name))
    swapped = tmp_path / "reads_rgb.onnx"
    onnx.save(proto, str(swapped))

    contract = {"color": "BGR", "scale": 1.0, "mean": [104, 117, 123], "size": [48, 64], "layout": "NCHW"}
    images = _images()
    ref = load(torch_models.torchscript_path("classifier"))
    ref_out = ref.run_reference(images, ref.resolve(Preprocess.from_dict(contract)))
    runner = Runner(load(swapped), images)
    d = diagnose(swapped, [], preprocess=cases.CAFFE_BGR, runner=runner, reference_outputs=ref_out,
                 reference_preprocess=contract)
    exact = Preprocess(color="RGB", scale=1.0, mean=(123.0, 117.0, 104.0), size=(48, 64), layout="NCHW")
    assert d.best.same_function(exact), d.name
    assert d.name == "the reference's contract, read as RGB, means reversed"
    assert d.confident and all(d.sure.values()), d.why
    assert "your input is BGR; the model wants RGB" in d.differences
    # the unmodified model gets the reference's own contract, by that name
    plain = diagnose(src, [], preprocess=cases.CAFFE_BGR, runner=Runner(load(src), images),
                     reference_outputs=ref_out, reference_preprocess=contract)
    assert plain.name == "the reference's contract" and plain.confident


def test_a_slip_is_never_the_answer_but_explains_what_you_feed(yolo_like):
    """Label-free: every candidate is a convention or a stated contract; the user's slip is named as the
    explanation of the distance instead."""
    _, plain = yolo_like
    twice = {"color": "RGB", "scale": 1 / 255 / 0.229 ** 2,
             "mean": [0.485 / 0.229 ** 2 + 0.485 / 0.229] * 3}
    runner = Runner(load(plain), _images())
    for wrong in (cases.SEEDED_WRONG["imagenet no std"], cases.SEEDED_WRONG["imagenet std as 1/std"],
                  cases.SEEDED_WRONG["imagenet swap after mean"], twice):
        d = diagnose(plain, [], preprocess=wrong, runner=runner)
        assert {s.candidate.origin for s in d.candidates} <= {"convention", "stated"}
        yours = Preprocess.from_dict(wrong)
        assert not any(s.candidate.preprocess.same_function(yours.replace(size=(64, 64), layout="NCHW"))
                       for s in d.candidates)
    imagenet = Preprocess.from_dict({**cases.IMAGENET, "size": [64, 64], "layout": "NCHW"})
    ref_out = Runner(load(plain), _images()).outputs([imagenet])[0]  # the model itself, fed right
    d = diagnose(plain, [], preprocess=cases.SEEDED_WRONG["imagenet std as 1/std"], runner=Runner(
        load(plain), _images()), reference_outputs=ref_out)
    assert d.best.same_function(imagenet) and "1/std" in (d.explanation or ""), d.explanation


def _ferry(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ferry.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)


def test_every_doctor_path_prints_json_that_parses(yolo_like, tmp_path):
    """label-free (not sure, exit 1), stated (sure, exit 0), expect, ImageFolder, reference: one serialiser."""
    import torch_models

    yolo, plain = yolo_like
    photos = [str(PHOTOS / n) for n in NAMES]
    runs = {
        "label-free": (_ferry("doctor", str(plain), "--images", *photos, "--preprocess", "caffe", "--json"), 1),
        "stated": (_ferry("doctor", str(yolo), "--images", *photos, "--json"), 0),
    }
    expect = tmp_path / "expect.yaml"
    expect.write_text("chelsea.jpg: 3\ncoffee.jpg: cls7\n")
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"cls{i}" for i in range(10)) + "\n")
    runs["expect"] = (_ferry("doctor", str(plain), "--images", *photos, "--expect", str(expect), "--labels",
                             str(labels), "--json"), None)
    folder = tmp_path / "folder"
    for i, n in enumerate(NAMES):
        (folder / f"cls{i % 2}").mkdir(parents=True, exist_ok=True)
        (folder / f"cls{i % 2}" / n).write_bytes((PHOTOS / n).read_bytes())
    runs["imagefolder"] = (_ferry("doctor", str(plain), "--images", str(folder), "--labels", str(labels),
                                  "--json"), None)
    contract = tmp_path / "ref.yaml"
    Preprocess.from_dict(cases.SEEDED_TRUE["classifier"]).save(contract)
    runs["reference"] = (_ferry("doctor", str(torch_models.onnx_path("classifier")), "--images", *photos,
                                "--reference", str(torch_models.torchscript_path("classifier")),
                                "--reference-preprocess", str(contract), "--json"), 0)
    for mode, (done, code) in runs.items():
        assert "Traceback" not in done.stderr, (mode, done.stderr[-800:])
        out = json.loads(done.stdout)
        assert set(out) >= {"confident", "best", "candidates", "sure", "name", "why"}, mode
        assert set(out["sure"]) == {"range", "color", "layout", "resize"}, mode
        assert out["confident"] == all(out["sure"].values()), mode
        if code is not None:
            assert done.returncode == code, (mode, done.returncode, done.stderr[-400:])
    assert json.loads(runs["expect"][0].stdout)["mode"] == "expect"
    assert json.loads(runs["imagefolder"][0].stdout)["mode"] == "expect"
    bad = _ferry("doctor", str(plain), "--images", *photos, "--expect", str(tmp_path / "none.yaml"))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "none.yaml" in bad.stderr


def test_the_fixes_print_whole_when_piped_at_80_columns(yolo_like):
    """Issue 18: piped output wrapped the OpenVINO line mid-call; every code block the doctor prints must parse."""
    import ast
    import os

    yolo, _ = yolo_like
    env = {**os.environ, "COLUMNS": "80"}
    done = subprocess.run([sys.executable, "-m", "ferry.cli", "doctor", str(yolo), "--images",
                           *[str(PHOTOS / n) for n in NAMES]], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-500:]
    text = done.stdout.split("How to feed it", 1)[1]
    blocks: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line in ("# opencv", "# openvino", "# onnxruntime", "# coreml"):
            current = line[2:]
            blocks[current] = []
        elif current and not line.startswith("#"):
            blocks[current].append(line)
    assert set(blocks) >= {"opencv", "openvino", "onnxruntime", "coreml"}
    for name, lines in blocks.items():
        ast.parse("\n".join(lines)), name
    assert any(len(line) > 80 for lines in blocks.values() for line in lines)  # long lines left whole


def test_a_hugging_face_config_beside_the_file_is_a_stated_contract(yolo_like, tmp_path):
    """preprocessor_config.json next to the model states range, colour and resize; the statement taken away (the
    same file alone), range and colour are open again."""
    _, plain = yolo_like
    folder = tmp_path / "hf"
    folder.mkdir()
    model = folder / "model.onnx"
    model.write_bytes(plain.read_bytes())
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "ViTImageProcessor", "do_resize": True, "size": {"height": 64, "width": 64},
        "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}))
    d = diagnose(model, [PHOTOS / n for n in NAMES], preprocess="caffe")
    assert any("preprocessor_config.json" in s.source for s in d.stated)
    gain, offset = d.best.affine()
    assert np.allclose(gain, 2 / 255) and np.allclose(offset, -1.0) and d.best.color == "RGB", d.name
    assert d.sure["range"] and d.sure["color"] and "preprocessor_config.json" in d.why["color"]
    alone = diagnose(plain, [PHOTOS / n for n in NAMES], preprocess="caffe")
    assert not alone.sure["range"] and not alone.sure["color"]


def test_a_keras_rescaling_layer_first_states_the_range(tmp_path):
    """A Keras model whose first layer is Rescaling(1/255) wants 0..255 pixels: range sure from the file."""
    from ferry.runtimes.tensorflow import _keras

    keras = _keras()
    keras.utils.set_random_seed(0)
    inp = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inp)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    out = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x))
    path = tmp_path / "rescaled.keras"
    keras.Model(inp, out).save(path)
    d = diagnose(path, [PHOTOS / n for n in NAMES], preprocess="imagenet")
    assert any("Rescaling" in s.source for s in d.stated), d.notes
    gain, offset = d.best.affine()
    assert np.allclose(gain, 1.0) and np.allclose(offset, 0.0), d.name
    assert d.sure["range"] and d.best.layout == "NHWC"


def _ir_with_mean_scale(onnx_path: Path, dest: Path, mean=None, scale=None) -> Path:
    """An OpenVINO IR as Model Optimizer's --mean_values/--scale_values (PrePostProcessor mean/scale) make it."""
    import openvino as ov
    from openvino.preprocess import PrePostProcessor

    ir = ov.convert_model(str(onnx_path))
    if mean is not None:
        ppp = PrePostProcessor(ir)
        ppp.input().tensor().set_layout(ov.Layout("NCHW"))
        ppp.input().preprocess().mean(mean).scale(scale)
        ir = ppp.build()
    ov.save_model(ir, str(dest))
    return dest


def test_an_openvino_ir_that_subtracts_pixel_means_states_the_range(tmp_path):
    """OpenVINO fuses the IR's 1/std into the first convolution and keeps only `Subtract [123.7, 116.3, 103.5]`
    at its front: a mean of 0..255 pixels, so the file takes raw pixels. Without the ops nothing is stated."""
    import torch_models

    onnx_path = _export(torch_models.classifier(), tmp_path / "plain.onnx")
    normalising = _ir_with_mean_scale(onnx_path, tmp_path / "mo.xml", [123.675, 116.28, 103.53],
                                      [58.395, 57.12, 57.375])
    import openvino as ov

    fronts = [op.get_type_name() for op in ov.Core().read_model(str(normalising)).get_ordered_ops()
              if op.get_type_name() in ("Subtract", "Add", "Multiply", "Divide")][:2]
    assert fronts[0] in ("Subtract", "Add"), fronts  # the gain went into the convolution: only the mean is left
    photos = [PHOTOS / n for n in NAMES]
    d = diagnose(normalising, photos, preprocess="imagenet")
    assert any("subtracts a mean of 114.5" in s.source for s in d.stated), [s.source for s in d.stated]
    gain, offset = d.best.affine()
    assert np.allclose(gain, 1.0) and np.allclose(offset, 0.0), d.name
    assert d.sure["range"] and not d.sure["color"]

    bare = diagnose(_ir_with_mean_scale(onnx_path, tmp_path / "bare.xml"), photos, preprocess="imagenet")
    assert not any("normalises" in s.source for s in bare.stated)
    assert not bare.sure["range"]


@pytest.mark.parametrize(("mean", "scale"), [(127.5, 1.0), (0.45, 1 / 255), (5.0, None), (-127.5, None)])
def test_a_lone_mean_subtraction_states_the_range_by_the_means_size(tmp_path, mean, scale):
    """x - 127.5 is a mean of 0..255 pixels, x - 0.45 of 0..1 values; x - 5 and x + 127.5 are no photo's mean."""
    import torch
    import torch_models

    class Centred(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch_models.classifier()

        def forward(self, x):
            return self.net(x - mean)

    m = load(_export(Centred().eval(), tmp_path / "centred.onnx"))
    from ferry.doctor.stated import stated

    found = [s for s in stated(m) if "normalises" in s.source]
    if scale is None:
        assert not found, found[0].source
    else:
        assert len(found) == 1 and found[0].covers == {"range"}
        assert found[0].preprocess.scale == pytest.approx(scale)


@pytest.mark.parametrize(("to_rgb", "color"), [(False, "BGR"), (True, "RGB")])
def test_an_mmdeploy_pipeline_beside_the_file_states_range_and_colour(yolo_like, tmp_path, to_rgb, color):
    """MMDeploy's pipeline.json beside end2end.onnx: Normalize mean/std on 0..255 pixels and to_rgb settle range
    and colour (BGR when to_rgb is false: the SDK decodes with OpenCV); resize stays open (its keep-ratio resize pads
    one side). A pipeline.json that is not MMDeploy's states nothing."""
    sys.path.insert(0, str(ROOT / "tests" / "preprocess"))
    from test_importers import mmdeploy_pipeline

    _, plain = yolo_like
    folder = tmp_path / "mm"
    folder.mkdir()
    model = folder / "end2end.onnx"
    model.write_bytes(plain.read_bytes())
    (folder / "pipeline.json").write_text(json.dumps(mmdeploy_pipeline(to_rgb=to_rgb, mean=[103.53, 116.28, 123.675],
                                                                       std=[57.375, 57.12, 58.395])))
    d = diagnose(model, [PHOTOS / n for n in NAMES], preprocess="unit")
    assert any("MMDeploy" in s.source for s in d.stated), [s.source for s in d.stated]
    gain, offset = d.best.affine()
    assert d.best.color == color and np.allclose(gain, 1 / np.array([57.375, 57.12, 58.395]))
    assert np.allclose(offset, -np.array([103.53, 116.28, 123.675]) * gain), d.name
    assert d.sure["range"] and d.sure["color"] and not d.sure["resize"] and "pipeline.json" in d.why["color"]
    (folder / "pipeline.json").write_text(json.dumps({"pipeline": {"steps": ["not", "mmdeploy"]}}))
    other = diagnose(model, [PHOTOS / n for n in NAMES], preprocess="unit")
    assert not other.stated and not other.sure["range"] and not other.sure["color"]
    # another tool's pipeline.json does not hide a config that does state the contract
    (folder / "config.json").write_text(json.dumps({"pretrained_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
                                                                       "input_size": [3, 64, 64]}}))
    assert any("timm" in s.source for s in diagnose(model, [PHOTOS / n for n in NAMES], preprocess="unit").stated)


def test_a_paddle_inference_yml_beside_the_file_states_what_it_says(yolo_like, tmp_path):
    """PaddleOCR's inference.yml (DecodeImage BGR, NormalizeImage) settles range and colour; PaddleDetection's
    infer_cfg.yml, which has no DecodeImage step, the range only."""
    sys.path.insert(0, str(ROOT / "tests" / "preprocess"))
    from test_importers import PPDET_INFER_CFG_YML, PPOCR_DET_INFERENCE_YML

    _, plain = yolo_like
    photos = [PHOTOS / n for n in NAMES]
    for name, text, colour in (("inference.yml", PPOCR_DET_INFERENCE_YML, True),
                               ("infer_cfg.yml", PPDET_INFER_CFG_YML, False)):
        folder = tmp_path / name.split(".")[0]
        folder.mkdir()
        model = folder / "inference.onnx"
        model.write_bytes(plain.read_bytes())
        (folder / name).write_text(text)
        d = diagnose(model, photos, preprocess="raw")
        assert any("PaddlePaddle" in s.source for s in d.stated), [s.source for s in d.stated]
        gain, offset = d.best.affine()
        assert np.allclose(gain, 1 / 255 / np.array([0.229, 0.224, 0.225])), d.name
        assert np.allclose(offset, -np.array([0.485, 0.456, 0.406]) / np.array([0.229, 0.224, 0.225])), d.name
        assert d.sure["range"] and d.sure["color"] == colour, (name, d.why)
        if colour:
            assert d.best.color == "BGR"


def test_a_yolov5_family_export_states_the_ultralytics_contract(tmp_path):
    """ultralytics/yolov5's export.py writes exactly `stride` and `names` into metadata_props (no author): RGB, /255,
    centred letterbox pad 114 at the model's input size, in check and doctor alike. One more key: not that export."""
    import torch_models

    net = torch_models.classifier()
    v5 = _export(net, tmp_path / "yolov5s.onnx", metadata={"stride": "32", "names": "{0: 'person', 1: 'bicycle'}"})
    m = load(v5)
    want = Preprocess.from_dict({"color": "RGB", "scale": 1 / 255, "size": [64, 64], "layout": "NCHW",
                                 "resize": {"mode": "letterbox", "pad_value": 114}})
    assert m.declared is not None and m.resolve(m.declared).same_function(want)
    from ferry.runtimes.onnxruntime import file_facts

    assert file_facts(v5).labels == ("person", "bicycle")
    d = diagnose(v5, [PHOTOS / n for n in NAMES], preprocess="imagenet")
    assert d.best.same_function(want) and d.sure["range"] and d.sure["color"], d.name
    other = _export(net, tmp_path / "other.onnx", metadata={"stride": "32", "names": "['a', 'b']", "version": "1"})
    assert load(other).declared is None


def test_a_keras_application_inside_the_file_states_its_preprocess_input(tmp_path):
    """Transfer learning keeps the application as the first sub-model: Sequential([MobileNetV2(include_top=False),
    pooling, Dense]) states MobileNetV2's preprocess_input (tf mode: RGB -1..1); the same layers under a name no
    application has state nothing."""
    from ferry.runtimes.tensorflow import _keras

    keras = _keras()
    keras.utils.set_random_seed(0)

    def build(name: str | None):
        base = keras.applications.MobileNetV2(input_shape=(64, 64, 3), alpha=0.35, include_top=False,
                                              weights=None, name=name) if name else \
            keras.applications.MobileNetV2(input_shape=(64, 64, 3), alpha=0.35, include_top=False, weights=None)
        return keras.Sequential([keras.Input((64, 64, 3)), base, keras.layers.GlobalAveragePooling2D(),
                                 keras.layers.Dense(3)])

    path = tmp_path / "finetuned.keras"
    build(None).save(path)
    d = diagnose(path, [PHOTOS / n for n in NAMES], preprocess="caffe")
    assert any("Keras application 'mobilenetv2_0.35_64'" in s.source for s in d.stated), [s.source for s in d.stated]
    gain, offset = d.best.affine()
    assert np.allclose(gain, 1 / 127.5) and np.allclose(offset, -1.0) and d.best.color == "RGB", d.name
    assert d.sure["range"] and d.sure["color"]
    other = tmp_path / "renamed.keras"
    build("backbone").save(other)
    assert not any("Keras application" in s.source for s in diagnose(other, [PHOTOS / n for n in NAMES],
                                                                       preprocess="caffe").stated)
