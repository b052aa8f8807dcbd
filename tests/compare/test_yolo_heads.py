"""Ultralytics YOLO heads decoded (issue 15 item 6): the export's metadata `task` picks the comparison, a detect
head ([1, 4 + nc, N], no objectness) and a segment head (plus prototypes [1, 32, H/4, W/4]) are decoded to boxes
and masks, and the check compares matched boxes and mask IoU, not the raw tensors. Seeded exports with the
metadata keys Ultralytics writes (tests/models/yolo_models.py)."""

from __future__ import annotations

import numpy as np
import pytest
import yolo_models

from ferry.check import check, stated_task
from ferry.compare.task import pick_task
from ferry.convert import convert
from ferry.decode import yolo
from ferry.runtimes import load

WRONG = {  # the user's mistakes, everything else as the metadata says
    "BGR": {"color": "BGR", "scale": 1 / 255},
    "0..255": {"color": "RGB", "scale": 1.0},
}


def _contract(**kw) -> dict:
    return {"size": [yolo_models.SIZE] * 2, "layout": "NCHW",
            "resize": {"mode": "letterbox", "pad_value": 114}, **kw}


@pytest.fixture(scope="module", params=["detect", "segment"])
def converted(request, tmp_path_factory, photos):
    src = yolo_models.export(request.param)
    manifest = convert(src, to="onnx,openvino,opencv", outdir=tmp_path_factory.mktemp(request.param),
                       images=photos[:6])  # no --preprocess: the metadata is the contract
    return request.param, src, manifest


def test_metadata_task_picks_the_decoder(converted):
    task, src, manifest = converted
    model = load(src)
    assert stated_task(model) == task
    outs = model.run_image([np.full((64, 96, 3), 90, np.uint8)], model.resolve(model.declared))
    plan = pick_task("auto", outs, stated=stated_task(model))
    assert plan.task == "detect" and plan.yolo and plan.why.startswith(f"auto: Ultralytics metadata task {task}")
    assert ("protos" in plan.roles) == (task == "segment")
    assert manifest.preprocess.resize.mode == "letterbox" and manifest.preprocess.color == "RGB"


def test_every_target_passes_by_matched_boxes_and_masks(converted, photos):
    task, _, manifest = converted
    for t in manifest.targets:
        assert t.passed, (t.format, t.reason)
        cmp = t.check["task"]
        m = cmp["metrics"]
        assert cmp["task"] == "detect" and cmp["passed"], (t.format, cmp)
        assert m["ref_detections"] >= 3 * len(photos[:6]), m  # the model detects things: not a vacuous pass
        assert m["unmatched_ref"] == m["unmatched_target"] == 0 and m["min_box_iou"] > 0.9, (t.format, m)
        if task == "segment":
            assert m["min_mask_iou"] is not None and m["min_mask_iou"] > 0.9, (t.format, m)
        else:
            assert m["min_mask_iou"] is None


@pytest.mark.parametrize("mistake", sorted(WRONG))
def test_a_target_fed_the_wrong_contract_fails_naming_boxes(converted, photos, mistake):
    """The file itself under the metadata contract against the same file fed BGR, or 0..255: the task comparison
    fails and says how many boxes matched and how many are missing (and, for segment, the mask IoU)."""
    task, src, _ = converted
    result = check(src, [src], images=photos[:6], runtimes=["onnxruntime"],
                   target_preprocess=_contract(**WRONG[mistake]))
    t = result.targets[0]
    assert not result.passed and not t.passed
    cmp = t.task.to_dict()
    assert not cmp["passed"] and "reference detection(s) missing in the target" in cmp["reason"], cmp
    assert cmp["metrics"]["unmatched_ref"] > 0 and cmp["metrics"]["matched"] < cmp["metrics"]["ref_detections"]
    if task == "segment":
        assert "mask IoU down to" in cmp["reason"], cmp["reason"]


def test_segment_masks_are_prototypes_times_coefficients_cropped_to_the_box():
    """The decoder against the formula done by hand on one candidate: sigmoid(c @ protos) inside the box / 4."""
    rng = np.random.default_rng(0)
    protos = rng.normal(0, 1, (4, 8, 8))
    row = np.zeros(4 + 1 + 4)
    row[:4] = [12, 10, 8, 12]  # cx, cy, w, h in input pixels: x 8..16, y 4..16
    row[4] = 0.9
    row[5:] = rng.normal(0, 2, 4)
    head = np.zeros((1, 9, 12))  # [1, 4 + nc + P, N]: one candidate, eleven with score 0
    head[0, :, 0] = row
    ans = yolo.decode(head, 0.5, protos)
    assert len(ans.scores) == 1 and np.allclose(ans.boxes[0], [8, 4, 16, 16])
    mask = ans.masks[0]
    assert mask.shape == (32, 32)
    assert not mask[:, :8].any() and not mask[:, 16:].any() and not mask[:4].any() and not mask[16:].any()
    want = 1 / (1 + np.exp(-(row[5:] @ protos.reshape(4, -1)).reshape(8, 8))) > 0.5
    assert mask[4:16, 8:16].any() == want[1:4, 2:4].any()


def test_unletterbox_maps_boxes_back_to_the_photo():
    # a 200x100 photo letterboxed into 128x128: scale 0.64, padded 32 above and below
    boxes = yolo.unletterbox(np.array([[0.0, 32.0, 128.0, 96.0], [64, 64, 64, 64]]), (100, 200), (128, 128))
    assert np.allclose(boxes, [[0, 0, 200, 100], [100, 50, 100, 50]])


def test_pose_and_obb_are_compared_as_tensors_and_say_so():
    outs = {"output0": np.zeros((1, 56, 2100), np.float32)}
    for task, what in (("pose", "keypoints"), ("obb", "rotated boxes")):
        plan = pick_task("auto", outs, stated=task)
        assert plan.task == "none" and what in plan.why and "tensor comparison only" in plan.why, plan.why


def test_without_metadata_the_segment_head_is_found_by_shape():
    outs = {"output0": np.zeros((1, 4 + 3 + 32, 336), np.float32), "output1": np.zeros((1, 32, 32, 32), np.float32)}
    plan = pick_task("auto", outs)
    assert plan.task == "detect" and plan.roles == {"candidates": "output0", "protos": "output1"}, plan.why
    assert "rule yolo-seg" in plan.why


def test_objectness_scales_the_class_scores_in_a_yolov5_head():
    """Two candidates: class 1 at 0.9 with objectness 0.1 (YOLOv5: 0.09, below the threshold), class 0 at 0.8 with
    objectness 0.9 (0.72). Read as a v8 head, objectness would be a class and both boxes 0.9 hits."""
    rows = np.zeros((1, 12, 7), np.float32)  # candidates first, more candidates than columns, as a real head
    rows[0, :2] = [[50, 50, 20, 20, 0.1, 0.05, 0.9], [20, 20, 10, 10, 0.9, 0.8, 0.1]]
    v5 = yolo.decode(rows, 0.25, objectness=True)
    assert v5.classes.tolist() == [0] and v5.scores.tolist() == pytest.approx([0.72])
    v8 = yolo.decode(rows, 0.25)
    assert len(v8.scores) == 2 and v8.scores.min() > 0.85  # read as v8: objectness taken for a class, two hits


def test_a_yolov5_export_is_decoded_with_its_objectness(photos):
    """metadata exactly stride and names: the contract is Ultralytics' and the head [1, N, 5 + NC] is decoded with
    objectness at YOLOv5's IoU 0.45; its OpenVINO conversion passes and a BGR feed fails by boxes."""
    from ferry.check import task_hint

    src = yolo_models.export("yolov5")
    model = load(src)
    assert task_hint(model) == "yolov5" and stated_task(model) is None and model.declared is not None
    r = check(src, [(src, "onnxruntime"), (src, "openvino")], images=photos[:4])
    assert r.plan.task == "detect" and r.plan.objectness and r.plan.nms_iou == 0.45, r.plan.why
    assert "YOLOv5-family" in r.plan.why and r.passed
    bad = check(src, [(src, "openvino")], images=photos[:4], target_preprocess=_contract(color="BGR",
                                                                                          scale=1 / 255))
    assert not bad.passed
