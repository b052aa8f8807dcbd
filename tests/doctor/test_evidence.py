"""The label-free signals of ferry.doctor.evidence on outputs whose answers are known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from ferry.doctor.evidence import (
    MAP,
    OTHER,
    VECTOR,
    combine,
    coordinate_agreement,
    flip_agreement,
    label_free,
    output_kind,
)


@pytest.mark.parametrize(
    ("shape", "hw", "kind"),
    [
        ((4, 1000), (224, 224), VECTOR),  # class scores
        ((4, 1, 1, 1001), (224, 224), VECTOR),  # a 1x1 map of class scores, NHWC
        ((4, 10, 1, 1), None, VECTOR),  # NCHW, size unknown: still a vector
        ((4, 1, 224, 224), (224, 224), MAP),  # an edge map
        ((4, 1, 160, 160), (640, 640), MAP),  # a text map at a quarter of the input
        ((4, 112, 112, 21), (224, 224), MAP),  # segmentation, NHWC
        ((4, 48, 192), (48, 192), MAP),  # [N, H, W]
        ((4, 896, 16), (128, 128), OTHER),  # BlazeFace's anchors
        ((4, 22, 2100), (320, 320), OTHER),  # YOLO's [N, 4 + classes, boxes]
        ((4, 64, 6000), (64, 256), OTHER),  # CTC steps x alphabet
        ((4, 1, 224, 224), None, OTHER),  # a map, but the input's size is not known
    ],
)
def test_output_kind(shape, hw, kind):
    assert output_kind(np.zeros(shape, np.float32), hw) == kind


def _landmarks(rng: np.random.Generator, n: int = 12, points: int = 5):
    """A landmark regressor's answer for n photos and for their mirrors: x -> 1 - x with left and right points
    swapped (the last point is on the axis), y unchanged, a little noise."""
    x = rng.uniform(0.2, 0.8, (n, 1)) + rng.normal(0, 0.05, (n, points))
    y = rng.uniform(0.2, 0.8, (n, 1)) + rng.normal(0, 0.05, (n, points))
    perm = [1, 0, 3, 2, 4][:points]
    noise = lambda: rng.normal(0, 0.01, (n, points))  # noqa: E731
    ans = np.concatenate([x, y], 1)
    mirror = np.concatenate([1 - x[:, perm] + noise(), y[:, perm] + noise()], 1)
    return ans.astype(np.float32), mirror.astype(np.float32)


def test_coordinate_agreement_sees_a_regressor_follow_its_mirror_where_the_per_photo_cosine_cancels():
    rng = np.random.default_rng(0)
    ans, mirror = _landmarks(rng)
    agree = coordinate_agreement(ans, mirror)
    assert agree > 0.9
    # the per-photo cosine the maps use: x moves against the centre, y with it; they cancel
    assert abs(flip_agreement(ans, mirror)) < 0.5
    # unrelated answers (a model fed what it was not trained on answers the mirror at random)
    assert coordinate_agreement(ans, rng.permutation(mirror)) < 0.5


def test_coordinate_agreement_is_scale_free_and_needs_three_photos():
    rng = np.random.default_rng(1)
    ans, mirror = _landmarks(rng)
    assert coordinate_agreement(1000 * ans, 1000 * mirror) == pytest.approx(coordinate_agreement(ans, mirror))
    assert coordinate_agreement(ans[:2], mirror[:2]) == 0.0
    const = np.ones((6, 3), np.float32)
    assert coordinate_agreement(const, const) == 0.0  # nothing varies over the photos: no evidence


def test_label_free_leaves_out_outputs_a_mirror_does_not_map_to_themselves():
    rng = np.random.default_rng(2)
    ans, mirror = _landmarks(rng)
    anchors = rng.normal(size=(len(ans), 896, 16)).astype(np.float32)
    alone = label_free({"lm": ans}, {"lm": mirror}, (128, 128))
    both = label_free({"lm": ans, "anchors": anchors}, {"lm": mirror, "anchors": anchors[::-1]}, (128, 128))
    assert both["flip"] == alone["flip"] and both["separation"] == alone["separation"]
    # a model with anchors alone is still judged, on every output, the old way
    only = label_free({"anchors": anchors}, {"anchors": anchors[..., ::-1]}, (128, 128))  # mirrored back, as before
    assert only["flip"] == pytest.approx(1.0)


def test_combine_lets_confidence_order_candidates_of_one_range_only():
    """Confidence grows with input magnitude where BatchNorm is folded away, so it must not move a range: a range's
    lone candidate, however confident, gets the middle confidence rank, and the scale-free signals decide."""
    evidence = [
        {"flip": 0.9, "separation": 0.8, "confidence": 0.2},  # range 0, its only candidate: flips best
        {"flip": 0.6, "separation": 0.7, "confidence": 0.99},  # range 1, its only candidate: the most confident
    ]
    assert combine(evidence, [0, 1])[0] > combine(evidence, [0, 1])[1]
    swapped = [{**evidence[0], "confidence": 0.99}, {**evidence[1], "confidence": 0.2}]
    assert combine(swapped, [0, 1]) == combine(evidence, [0, 1])  # confidence moved nothing across ranges
    # the same two in one range: now confidence votes, and it is a tie broken by nothing else
    both = combine(evidence, [0, 0])
    assert both[0] == pytest.approx(2 / 3) and both[1] == pytest.approx(1 / 3)
    # two colour orders of one range that the scale-free signals cannot part: the more confident wins
    tie = [{"flip": 0.6, "separation": 0.9, "confidence": 0.3}, {"flip": 0.9, "separation": 0.6, "confidence": 0.8}]
    assert combine(tie, [0, 0])[1] > combine(tie, [0, 0])[0]
