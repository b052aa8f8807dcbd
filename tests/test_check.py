"""`ferry check` from the raw image: correct deployments pass, each injected preprocessing bug fails (exit 1),
bad input exits 2 with one line. Real runtimes only: onnxruntime, OpenVINO, OpenCV DNN, torch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ferry.cli import main
from ferry.preprocess import preset


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def check_json(capsys, *args) -> tuple[int, dict]:
    code, out, err = run_cli(capsys, "check", *args, "--json")
    assert code in (0, 1), err
    return code, json.loads(out)


@pytest.fixture(scope="module")
def imagenet_ir(classifier_onnx, tmp_path_factory) -> Path:
    from ferry.runtimes import openvino

    out = tmp_path_factory.mktemp("ir") / "classifier.xml"
    return openvino.embed(classifier_onnx, preset("imagenet").replace(size=(48, 64), layout="NCHW"), out)


def test_correct_deployments_pass_in_every_runtime(capsys, classifier_onnx, photos):
    code, data = check_json(capsys, classifier_onnx, classifier_onnx, "--images", *photos,
                            "--preprocess", "imagenet")
    assert code == 0 and data["passed"] is True
    assert [t["runtime"] for t in data["targets"]] == ["onnxruntime", "openvino", "opencv"]
    for t in data["targets"]:
        (out,) = t["outputs"]
        assert set(out) >= {"name", "max_abs", "max_rel", "mean_abs", "cosine", "passed"}
        assert out["name"] == "logits" and out["passed"]
        assert out["max_abs"] < 1e-5 and out["cosine"] > 0.999999


def test_segmenter_passes(capsys, segmenter_onnx, photos):
    code, data = check_json(capsys, segmenter_onnx, segmenter_onnx, "--images", *photos[:4],
                            "--preprocess", "imagenet", "--runtimes", "openvino,opencv")
    assert code == 0, data
    assert all(t["passed"] for t in data["targets"])


def test_embedded_openvino_ir_takes_raw_bgr_pixels(capsys, classifier_onnx, imagenet_ir, photos):
    from ferry.runtimes import load

    model = load(imagenet_ir)
    assert model.image_input.dtype == "uint8" and model.image_input.shape[1:] == (48, 64, 3)
    assert model.embedded is not None and model.embedded.color == "RGB"
    code, data = check_json(capsys, classifier_onnx, imagenet_ir, "--images", *photos, "--preprocess", "imagenet")
    assert code == 0 and data["targets"][0]["preprocess_path"] == "embedded"


def test_embedded_onnx_reads_back_and_passes(capsys, classifier_onnx, photos, tmp_path):
    from ferry.runtimes import onnxruntime

    contract = preset("imagenet").replace(size=(48, 64), layout="NCHW")
    out = onnxruntime.embed(classifier_onnx, contract, tmp_path / "embedded.onnx")
    back = onnxruntime.read_preprocess(out)
    assert back is not None and back.same_function(contract)
    code, data = check_json(capsys, classifier_onnx, out, "--images", *photos[:3], "--preprocess", "imagenet")
    assert code == 0 and {t["runtime"] for t in data["targets"]} == {"onnxruntime", "openvino", "opencv"}


def test_target_preprocess_on_an_embedded_target_says_what_it_cannot_change(capsys, classifier_onnx, imagenet_ir,
                                                                            photos):
    """A file that embeds its preprocessing takes uint8 pixels: --target-preprocess reaches only its resize. It was
    ignored silently (a 0..1 "what my app feeds" PASSed with no word); now each such row says so, and whether the
    file computes what --target-preprocess gives."""
    args = ("--images", *photos[:2], "--preprocess", "imagenet", "--runtimes", "openvino")
    code, data = check_json(capsys, classifier_onnx, imagenet_ir, *args, "--target-preprocess", "unit")
    (row,) = data["targets"]
    assert code == 0 and row["preprocess_path"] == "embedded"
    said = [n for n in row["notes"] if "--target-preprocess applies only its size and resize" in n]
    assert said and "is not the one --target-preprocess gives" in said[0], row["notes"]
    code, data = check_json(capsys, classifier_onnx, imagenet_ir, *args, "--target-preprocess", "imagenet")
    said = [n for n in data["targets"][0]["notes"] if "--target-preprocess" in n]
    assert code == 0 and said and "is not the one" not in said[0]


def test_torchscript_source_against_onnx_targets(capsys, photos, tmp_path):
    import torch_models

    ts = torch_models.torchscript_path("classifier")
    onnx_file = torch_models.onnx_path("classifier")
    spec = tmp_path / "contract.yaml"
    spec.write_text("preset: imagenet\nsize: [48, 64]\n")  # TorchScript records no input size
    code, data = check_json(capsys, ts, onnx_file, "--images", *photos[:3], "--preprocess", spec,
                            "--runtimes", "onnxruntime")
    assert code == 0, data
    assert "matched by position" in " ".join(data["targets"][0]["notes"])


# ---- each injected bug makes the check fail ------------------------------------------------------------------
BUGGY_APPS = {
    "rgb_bgr_swapped": {"preset": "imagenet", "color": "BGR"},
    "std_left_out": {"preset": "imagenet", "std": [1, 1, 1]},
    "0_255_for_0_1": {"preset": "imagenet", "scale": 1.0},  # the app forgets the /255
    "raw_for_unit": {"preset": "raw"},
    "nhwc_fed_as_nchw": {"preset": "imagenet", "layout": "NHWC"},
}


@pytest.mark.parametrize("bug", sorted(BUGGY_APPS))
def test_native_call_with_wrong_parameters_fails(capsys, classifier_onnx, photos, tmp_path, bug):
    spec = tmp_path / f"{bug}.yaml"
    spec.write_text(json.dumps(BUGGY_APPS[bug]))
    code, data = check_json(capsys, classifier_onnx, classifier_onnx, "--images", *photos[:4],
                            "--preprocess", "imagenet", "--target-preprocess", spec, "--runtimes", "opencv")
    assert code == 1, data
    (out,) = data["targets"][0]["outputs"]
    assert not out["passed"] and out["max_abs"] > 1e-2


def test_same_function_split_differently_passes(capsys, classifier_onnx, photos, tmp_path):
    """0..255 with mean and std scaled by 255 is the same function as imagenet: no false failure."""
    spec = tmp_path / "scaled.yaml"
    spec.write_text(json.dumps({"color": "RGB", "scale": 1.0, "mean": [123.675, 116.28, 103.53],
                                "std": [58.395, 57.12, 57.375]}))
    code, _ = check_json(capsys, classifier_onnx, classifier_onnx, "--images", *photos[:4],
                         "--preprocess", "imagenet", "--target-preprocess", spec, "--runtimes", "opencv")
    assert code == 0


def test_raw_for_unit_fails_on_unit_model(capsys, classifier_onnx, photos, tmp_path):
    spec = tmp_path / "raw.yaml"
    spec.write_text("preset: raw\n")
    code, _ = check_json(capsys, classifier_onnx, classifier_onnx, "--images", *photos[:2],
                         "--preprocess", "unit", "--target-preprocess", spec, "--runtimes", "onnxruntime")
    assert code == 1


def _buggy_ir(src: Path, dest: Path, order: str) -> Path:
    """An app developer's own PrePostProcessor code with one mistake, written with the real OpenVINO API."""
    import openvino as ov
    from openvino.preprocess import ColorFormat, PrePostProcessor

    model = ov.Core().read_model(str(src))
    ppp = PrePostProcessor(model)
    ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC")).set_color_format(
        ColorFormat.BGR).set_shape([1, 48, 64, 3])
    ppp.input().model().set_layout(ov.Layout("NCHW"))
    steps = ppp.input().preprocess().convert_element_type(ov.Type.f32)
    mean = [0.485 * 255, 0.456 * 255, 0.406 * 255]
    scale = [0.229 * 255, 0.224 * 255, 0.225 * 255]
    if order == "mean_before_swap":  # mean/scale in RGB order applied to BGR data, swap afterwards
        steps.mean(mean).scale(scale).reverse_channels()
    elif order == "no_swap":
        steps.mean(mean).scale(scale)
    elif order == "correct":
        steps.convert_color(ColorFormat.RGB).mean(mean).scale(scale)
    ov.save_model(ppp.build(), str(dest), compress_to_fp16=False)
    return dest


@pytest.mark.parametrize("order,expected", [("correct", 0), ("mean_before_swap", 1), ("no_swap", 1)])
def test_ir_with_wrong_embedded_preprocessing_fails(capsys, classifier_onnx, photos, tmp_path, order, expected):
    ir = _buggy_ir(classifier_onnx, tmp_path / f"{order}.xml", order)
    code, data = check_json(capsys, classifier_onnx, ir, "--images", *photos[:4], "--preprocess", "imagenet")
    assert code == expected, data


def test_embedded_ir_with_wrong_contract_fails(capsys, classifier_onnx, photos, tmp_path):
    from ferry.runtimes import openvino

    wrong = preset("imagenet").replace(size=(48, 64), layout="NCHW", color="BGR")
    ir = openvino.embed(classifier_onnx, wrong, tmp_path / "wrong.xml")
    code, data = check_json(capsys, classifier_onnx, ir, "--images", *photos[:4], "--preprocess", "imagenet")
    assert code == 1
    assert data["targets"][0]["outputs"][0]["cosine"] < 0.9999


def test_nan_outputs_never_pass():
    from ferry.compare.tensor import compare_arrays

    ref = np.ones((1, 10), np.float32)
    tgt = ref.copy()
    tgt[0, 3] = np.nan
    result = compare_arrays("x", ref, tgt)
    assert not result.passed and "NaN" in result.reason
    assert not compare_arrays("x", ref, np.full_like(ref, np.inf)).passed


# ---- bad input: one line, exit 2 -----------------------------------------------------------------------------
def test_bad_inputs_exit_2_with_one_line(capsys, classifier_onnx, photos, tmp_path):
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(classifier_onnx.read_bytes()[:700])
    text = tmp_path / "notes.onnx"
    text.write_text("this is not a model\n")
    pickle_file = tmp_path / "weights.pt"
    pickle_file.write_bytes(b"\x80\x04\x95" + b"\x00" * 32)
    cases = [
        (["check", truncated, classifier_onnx, "--images", photos[0], "--preprocess", "imagenet"], "truncated"),
        (["check", classifier_onnx, classifier_onnx, "--images", tmp_path / "missing.jpg", "--preprocess",
          "imagenet"], "missing.jpg"),
        (["check", text, classifier_onnx, "--images", photos[0], "--preprocess", "imagenet"], "notes.onnx"),
        (["inspect", pickle_file], "pickle"),
        (["check", classifier_onnx, classifier_onnx, "--images", photos[0]], "--preprocess"),
        (["check", classifier_onnx, classifier_onnx, "--images", photos[0], "--preprocess", "nosuch"], "nosuch"),
    ]
    for args, needle in cases:
        before = {p: p.read_bytes() for p in (truncated, text, pickle_file)}
        code, out, err = run_cli(capsys, *args)
        assert code == 2, (args, out, err)
        lines = [line for line in err.strip().splitlines() if line]
        assert len(lines) == 1 and needle in lines[0], err
        assert "Traceback" not in err
        assert {p: p.read_bytes() for p in before} == before


def test_contract_with_bad_field_exits_2(capsys, classifier_onnx, photos, tmp_path):
    spec = tmp_path / "bad.yaml"
    for text, needle in [("std: [0.2, 0, 0.2]\n", "std[1]"), ("mean: [1, 2]\n", "mean has 2 values"),
                         ("color: RGBA\n", "color"), ("scale: fast\n", "scale")]:
        spec.write_text(text)
        code, _, err = run_cli(capsys, "check", classifier_onnx, classifier_onnx, "--images", photos[0],
                               "--preprocess", spec)
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err


def test_openvino_ir_without_its_bin_and_unwritable_output(capsys, imagenet_ir, photos, tmp_path):
    import shutil

    lone = tmp_path / "lone.xml"
    shutil.copy(imagenet_ir, lone)
    code, _, err = run_cli(capsys, "inspect", lone)
    assert code == 2 and "lone.bin" in err and len(err.strip().splitlines()) == 1
    cut = tmp_path / "cut.xml"
    shutil.copy(imagenet_ir, cut)
    cut.with_suffix(".bin").write_bytes(imagenet_ir.with_suffix(".bin").read_bytes()[:1000])
    code, _, err = run_cli(capsys, "inspect", cut)
    assert code == 2 and "cut.xml" in err and "Traceback" not in err


def test_embed_never_overwrites_and_writes_atomically(capsys, classifier_onnx, tmp_path):
    out = tmp_path / "model.onnx"
    out.write_bytes(b"keep me")
    code, _, err = run_cli(capsys, "embed", classifier_onnx, "--to", "onnx", "--preprocess", "imagenet", "-o", out)
    assert code == 2 and "--force" in err and out.read_bytes() == b"keep me"
    code, _, err = run_cli(capsys, "embed", classifier_onnx, "--to", "onnx", "--preprocess", "imagenet", "-o",
                           classifier_onnx, "--force")
    assert code == 2 and "never overwrites" in err
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, _, err = run_cli(capsys, "embed", classifier_onnx, "--to", "onnx", "--preprocess", "imagenet",
                               "-o", locked / "x.onnx")
        import os

        if os.geteuid() != 0:  # root writes anywhere; the check only means something for a user
            assert code == 2 and "cannot write" in err
    finally:
        locked.chmod(0o700)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# -- task-level parity (issue 6) --------------------------------------------------------------------------------
BGR_APP = {"preset": "imagenet", "color": "BGR"}
JSON_KEYS = {"passed", "source", "source_runtime", "preprocess", "images", "targets", "notes", "task"}
TARGET_KEYS = {"path", "runtime", "passed", "preprocess_path", "outputs", "notes", "task", "tensor_passed"}


@pytest.mark.parametrize("name,task", [("colour_classifier", "classify"), ("colour_segmenter", "segment"),
                                       ("detector", "detect")])
def test_correct_passes_by_task_and_bgr_fails_by_task(capsys, photos, tmp_path, name, task):
    import detect_models

    m = detect_models.onnx_path(name)
    code, data = check_json(capsys, m, m, "--images", *photos, "--preprocess", "imagenet",
                            "--runtimes", "onnxruntime,openvino")
    assert code == 0 and set(data) == JSON_KEYS and data["task"]["task"] == task
    assert data["task"]["why"].startswith("auto: ")
    for t in data["targets"]:
        assert set(t) >= TARGET_KEYS and t["task"]["passed"] and t["task"]["task"] == task
        assert t["task"]["tolerances"] and t["task"]["metrics"]
    app = tmp_path / "app.json"
    app.write_text(json.dumps(BGR_APP))
    code, data = check_json(capsys, m, m, "--images", *photos, "--preprocess", "imagenet",
                            "--target-preprocess", app, "--runtimes", "onnxruntime,openvino")
    assert code == 1
    for t in data["targets"]:
        assert not t["passed"] and not t["task"]["passed"] and t["task"]["reason"]
        assert len(t["task"]["failing_images"]) >= 5  # the colourful photos; the greyscale ones cannot show it


def test_reordered_detections_pass_by_task_though_tensors_differ(capsys, photos):
    import detect_models

    src, tgt = detect_models.onnx_path("detector"), detect_models.onnx_path("detector_reordered")
    code, data = check_json(capsys, src, tgt, "--images", *photos, "--preprocess", "imagenet",
                            "--runtimes", "onnxruntime,openvino")
    assert code == 0
    for t in data["targets"]:
        assert not t["tensor_passed"] and t["task"]["passed"] and t["passed"]
        assert t["task"]["metrics"]["matched"] >= 50 and t["task"]["metrics"]["unmatched_ref"] == 0
    code, data = check_json(capsys, src, tgt, "--images", *photos, "--preprocess", "imagenet",
                            "--runtimes", "onnxruntime", "--task", "none")
    assert code == 1 and data["targets"][0]["task"] is None  # by tensor, the same detections look wrong


def test_tf_object_detection_api_detector_in_openvino_passes_by_task(capsys, photos, tmp_path):
    """The seed-000 Mask R-CNN-shaped SavedModel against its IR from `ferry convert` (BGR pixels in, the channel
    swap embedded): auto reads the TF OD API names, masks compared by IoU. A plain `ov.convert_model` IR takes RGB
    itself; an app that feeds it BGR fails by task."""
    import openvino as ov
    import tf_models

    sm = tf_models.detector_savedmodel()
    photos = photos[:5]
    contract = tmp_path / "c.json"
    contract.write_text(json.dumps(tf_models.DETECTOR_CONTRACT))
    assert main(["convert", str(sm), "--to", "openvino", "-o", str(tmp_path / "out"), "--preprocess",
                 str(contract), "--images", str(photos[0]), "--no-check", "--name", "det"]) == 0
    capsys.readouterr()
    code, data = check_json(capsys, sm, tmp_path / "out" / "det.xml", "--images", *photos, "--preprocess", contract)
    plan = data["task"]
    assert plan["task"] == "detect" and "TF Object Detection API" in plan["why"]
    assert set(plan["roles"]) == {"boxes", "scores", "classes", "masks", "num"}
    t = data["targets"][0]
    m = t["task"]["metrics"]
    assert code == 0 and t["task"]["passed"] and m["matched"] > 0 and m["min_mask_iou"] > 0.9
    plain = tmp_path / "plain.xml"
    ov.save_model(ov.convert_model(str(sm)), str(plain), compress_to_fp16=False)
    bgr = tmp_path / "bgr.json"
    bgr.write_text(json.dumps({**tf_models.DETECTOR_CONTRACT, "color": "BGR"}))
    code, data = check_json(capsys, sm, plain, "--images", *photos, "--preprocess", contract,
                            "--target-preprocess", bgr)
    t = data["targets"][0]
    assert code == 1 and not t["task"]["passed"] and t["task"]["metrics"]["unmatched_ref"] > 0


def test_real_ppocr_text_map_passes_by_task_and_rgb_fails_with_a_picture(capsys, photos, tmp_path):
    """PP-OCRv4 (real weights): its single-channel text map is a mask at 0.5. Measured on these photos: the
    runtimes agree on every pixel; feeding RGB instead of BGR drops text IoU to ~0.67 on text.jpg's neighbours."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    from fetch_models import fetch

    from ferry.check import check
    from ferry.preprocess import load_contract

    model = fetch("ppocr_det")
    photos = [p for p in photos if p.stem in ("camera", "chelsea", "coffee", "text")]  # text, and colour
    contract = load_contract(str(Path(__file__).resolve().parents[1] / "examples" / "ppocr_det.yaml"))
    contract = contract.replace(size=(480, 640))
    ok = check(model, [model], photos, preprocess=contract, runtimes=["openvino", "opencv"])
    assert ok.plan.task == "segment" and "binary mask" in ok.plan.why
    assert ok.passed and all(t.task.passed and t.task.metrics["miou"] == 1.0 for t in ok.targets)
    bad = check(model, [model], photos, preprocess=contract, target_preprocess=contract.replace(color="RGB"),
                runtimes=["onnxruntime"], keep=len(photos))
    t = bad.targets[0]
    assert not bad.passed and not t.task.passed and t.task.metrics["per_class_iou"][1] < 0.9
    # the picture shows it: on a failing photo the difference image paints the changed text pixels red
    from ferry.compare.task import decode
    from ferry.decode.draw import diff_picture

    s = bad.samples[t.task.failing_images[0]]
    pic = np.asarray(diff_picture(s.view, decode(bad.plan, s.source), decode(bad.plan, s.targets[0])))
    assert np.count_nonzero(np.all(pic == (255, 0, 0), axis=-1)) > 500


def test_task_flags_bad_input(capsys, classifier_onnx, photos):
    base = [classifier_onnx, classifier_onnx, "--images", photos[0], "--preprocess", "imagenet"]
    for extra, words in ((["--task", "pose"], "unknown task"), (["--threshold", "1.5"], "between 0 and 1"),
                         (["--task", "detect"], "no boxes and scores"), (["--labels", "nope.txt"], "labels")):
        code, _, err = run_cli(capsys, "check", *base, *extra)
        assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err


def test_assert_parity_passes_task_through(photos):
    import detect_models

    from ferry.testing import ParityError, assert_parity

    src, tgt = detect_models.onnx_path("detector"), detect_models.onnx_path("detector_reordered")
    result = assert_parity(src, tgt, photos[:3], preprocess="imagenet", task="detect", runtimes=["onnxruntime"])
    assert result.plan.task == "detect" and not result.targets[0].tensor_passed
    with pytest.raises(ParityError):
        assert_parity(src, tgt, photos[:3], preprocess="imagenet", task="none", runtimes=["onnxruntime"])


def test_opencv_gets_one_image_per_run_so_its_batch_bugs_do_not_read_as_conversion_bugs(photos):
    """OpenCV DNN 4.14 fails EfficientNet-Lite0 with 8 images in one blob (Gemm shape error); ferry feeds it one
    frame at a time, as apps do, and the real model passes in OpenCV beside onnxruntime and OpenVINO."""
    import pretrained

    from ferry.check import check

    model = pretrained.efficientnet_lite0_onnx()
    result = check(model, [model], photos, preprocess=pretrained.EFFNET_CONTRACT, batch=8)
    assert {t.runtime: t.passed for t in result.targets} == {"onnxruntime": True, "openvino": True, "opencv": True}


def test_each_file_loads_once_per_runtime_and_each_host_tensor_is_made_once(classifier_onnx, photos, monkeypatch):
    """Issue 7: the source and its onnxruntime row share one session, and the source, onnxruntime and OpenVINO (all
    fed by ferry's host preprocessing) share one tensor per chunk: 3 photos at --batch 2 are 2 chunks, so 2
    preprocess_batch calls (it was 4) and 1 onnxruntime session (it was 2). The verdicts and numbers do not move."""
    from ferry.check import check
    from ferry.preprocess import reference
    from ferry.runtimes import onnxruntime

    calls = {"pre": 0, "sessions": 0}
    pre, sess = reference.preprocess_batch, onnxruntime.session

    def counting_pre(*a, **k):
        calls["pre"] += 1
        return pre(*a, **k)

    def counting_session(*a, **k):
        calls["sessions"] += 1
        return sess(*a, **k)

    monkeypatch.setattr(reference, "preprocess_batch", counting_pre)
    monkeypatch.setattr(onnxruntime, "session", counting_session)
    res = check(classifier_onnx, [(classifier_onnx, "onnxruntime"), (classifier_onnx, "openvino")], photos[:3],
                preprocess="imagenet", batch=2)
    assert calls == {"pre": 2, "sessions": 1}
    assert res.passed and [t.runtime for t in res.targets] == ["onnxruntime", "openvino"]
    ort_row, ov_row = (t.outputs[0] for t in res.targets)
    assert ort_row.max_abs == 0.0 and 0.0 < ov_row.max_abs < 1e-5 and ov_row.cosine > 0.999999


def test_large_inputs_run_one_image_per_call(classifier_onnx):
    """Issue 7: 8 PP-OCRv4-sized images per onnxruntime call ran 1.4x slower per image than one at a time, 8
    EfficientNet-sized ones 1.5x faster: a call takes at most MAX_VALUES_PER_RUN input values."""
    from ferry.check import MAX_VALUES_PER_RUN, _images_per_run
    from ferry.runtimes import load

    model = load(classifier_onnx)
    sizes = {(48, 64): 8, (224, 224): 8, (320, 320): 4, (480, 640): 1}
    for (h, w), want in sizes.items():
        assert _images_per_run(model, preset("imagenet").replace(size=(h, w), layout="NCHW"), 8) == want
    assert _images_per_run(model, preset("imagenet").replace(size=(48, 64), layout="NCHW"), 3) == 3
    assert 8 * 224 * 224 * 3 <= MAX_VALUES_PER_RUN < 2 * 480 * 640 * 3


def test_batch_is_photos_per_call_and_photos_are_still_compared_in_groups(classifier_onnx, photos, monkeypatch):
    """--batch 1 runs one photo a call (as an app does), yet the photos are compared as rows of a group
    (check.PHOTOS_PER_GROUP): the verdict and numbers are those of --batch 8."""
    from ferry import check as check_mod
    from ferry.compare.tensor import Accumulator
    from ferry.runtimes.onnxruntime import OrtModel

    sizes, rows = [], []
    run, add_batch = OrtModel.run, Accumulator.add_batch
    monkeypatch.setattr(OrtModel, "run", lambda self, feeds: sizes.append(len(next(iter(feeds.values()))))
                        or run(self, feeds))
    monkeypatch.setattr(Accumulator, "add_batch", lambda self, r, t: rows.append(len(r)) or add_batch(self, r, t))
    one = check_mod.check(classifier_onnx, [classifier_onnx], photos, preprocess="imagenet", batch=1)
    assert sizes and set(sizes) == {1}
    assert rows and max(rows) == min(check_mod.PHOTOS_PER_GROUP, len(photos))
    eight = check_mod.check(classifier_onnx, [classifier_onnx], photos, preprocess="imagenet", batch=8)
    assert max(sizes) == min(8, len(photos))
    for a, b in zip(one.targets, eight.targets, strict=True):
        assert (a.runtime, a.passed) == (b.runtime, b.passed) and a.task.metrics["top1_agreement"] == 1.0
        for oa, ob in zip(a.outputs, b.outputs, strict=True):
            assert oa.within == ob.within == 1.0 and abs(oa.max_abs - ob.max_abs) < 1e-6
