"""Palette, labels, drawing, and `ferry show` on the seeded colour models."""

from __future__ import annotations

import json

import detect_models
import numpy as np
import pytest
from PIL import Image

from ferry.cli import main
from ferry.decode.answers import ClassAnswer, DetAnswer, SegAnswer
from ferry.decode.draw import diff_picture, draw_answer
from ferry.decode.labels import load_labels
from ferry.decode.palette import palette
from ferry.errors import FerryError


def test_palette_is_voc_and_distinct_for_any_class_count():
    p = palette(1000)
    assert p.shape == (1000, 3) and p.dtype == np.uint8
    assert len({tuple(c) for c in p}) == 1000  # no two classes share a colour (a 16-entry table would repeat)
    # the Pascal VOC colour map's first entries
    assert [tuple(int(v) for v in c) for c in p[:4]] == [(0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0)]
    assert tuple(int(v) for v in p[15]) == (192, 128, 128)  # VOC "person"


def test_labels_files(tmp_path):
    (tmp_path / "a.txt").write_text("cat\ndog\n\n")
    assert load_labels(tmp_path / "a.txt") == ["cat", "dog"]
    (tmp_path / "b.json").write_text(json.dumps({"id2label": {"1": "dog", "0": "cat"}}))
    assert load_labels(tmp_path / "b.json") == ["cat", "dog"]
    (tmp_path / "c.json").write_text("[1, 2")
    with pytest.raises(FerryError, match="c.json: not valid JSON"):
        load_labels(tmp_path / "c.json")
    with pytest.raises(FerryError, match="no such labels file"):
        load_labels(tmp_path / "missing.txt")


def _count(img: Image.Image, rgb) -> int:
    a = np.asarray(img.convert("RGB")).reshape(-1, 3)
    return int(np.count_nonzero(np.all(a == rgb, axis=1)))


def test_drawing_shows_the_answer():
    view = np.full((48, 64, 3), 128, np.uint8)
    det = DetAnswer(np.array([[0.1, 0.1, 0.5, 0.6]]), np.array([0.9]), np.array([2]), [], True)
    img = draw_answer(view, det, ["a", "b", "c"], title="t")
    assert img.height > 240 and _count(img, (0, 128, 0)) == 0  # class 2 is VOC (0, 128, 0), lifted for photos
    from ferry.decode.palette import color_for

    assert _count(img, color_for(2)) > 100  # the box outline and label background
    labels = np.zeros((48, 64), np.int64)
    labels[:, 32:] = 1
    seg = draw_answer(view, SegAnswer(labels, 2, binary=True))
    arr = np.asarray(seg)
    assert arr[100, 10].tolist() == [128, 128, 128] and arr[100, 300].tolist() != [128, 128, 128]
    other = labels.copy()
    other[:24] = 0
    diff = diff_picture(view, SegAnswer(labels, 2, True), SegAnswer(other, 2, True))
    assert _count(diff, (255, 0, 0)) == 24 * 32 * 25  # the differing quarter, enlarged 5x5
    cls = draw_answer(view, ClassAnswer(np.array([0.1, 0.9]), False), ["cat", "dog"])
    assert cls.height > 240


def test_show_draws_each_task(tmp_path, photos):
    for name in ("colour_classifier", "colour_segmenter", "detector"):
        out = tmp_path / f"{name}.png"
        code = main(["show", str(detect_models.onnx_path(name)), str(photos[0]), "--preprocess", "imagenet",
                     "-o", str(out), "--runtime", "onnxruntime"])
        assert code == 0
        img = Image.open(out)
        assert img.size[1] > 240
    # never overwrite, bad threshold, bad output name: exit 2 with one line
    assert main(["show", str(detect_models.onnx_path("detector")), str(photos[0]), "--preprocess", "imagenet",
                 "-o", str(tmp_path / "detector.png")]) == 2
    assert main(["show", str(detect_models.onnx_path("detector")), str(photos[0]), "--preprocess", "imagenet",
                 "--threshold", "2", "-o", str(tmp_path / "x.png")]) == 2
    assert not (tmp_path / "x.png").exists()


def test_show_colour_segmenter_sees_the_red_suit(tmp_path, photos):
    """The astronaut's suit is orange-red: the colour head labels it red (class 0) in the source's contract and
    blue (class 2) when fed BGR, so a wrong channel order is visible in the picture."""
    from ferry.commands.show import render

    astronaut = next(p for p in photos if p.name == "astronaut.jpg")
    m = detect_models.onnx_path("colour_segmenter")
    _, _, right = render(m, astronaut, "imagenet", "onnxruntime")
    _, _, swapped = render(m, astronaut, {"preset": "imagenet", "color": "BGR"}, "onnxruntime")
    suit = right.labels[30:44, 10:30]
    assert np.mean(suit == 0) > 0.5 and np.mean(swapped.labels[30:44, 10:30] == 0) < 0.1


def test_show_says_what_it_cannot_draw_in_its_own_words(tmp_path, photos, capsys):
    """MediaPipe's hand landmarker gives landmarks, presence and handedness: nothing show draws. It exited 2 with
    check's wording ("tensor comparison only"); it says what show draws and that check compares such outputs."""
    import pretrained

    out = tmp_path / "hand.png"
    code = main(["show", str(pretrained.mediapipe("hand_landmark")), str(photos[0]), "-o", str(out)])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(err) == 1 and not out.exists(), err
    assert "ferry show draws class scores, masks, boxes and text readings" in err[0], err
    assert "regression heads" in err[0] and "tensor comparison only" not in err[0], err
    assert "--task landmarks" in err[0], err


def test_landmarks_are_read_as_points_in_pixels_or_in_0_to_1_and_drawn():
    """`ferry show --task landmarks`: MediaPipe's FaceMesh gives [1, 1, 1, 1404], 468 x,y,z triples in the 192x192
    input's pixels; many torch heads give x,y pairs in 0..1. A presence flag reads as no points."""
    from ferry.decode.answers import PointsAnswer, decode_points
    from ferry.decode.draw import draw_answer

    rng = np.random.default_rng(0)
    xyz = np.c_[rng.uniform(20, 44, (30, 2)), rng.normal(size=30)]  # inside a 64x64 input
    pairs = rng.uniform(0.2, 0.8, (5, 2))
    ans = decode_points({"mesh": xyz.reshape(1, 1, 1, -1), "eyes": pairs.reshape(1, -1),
                         "presence": np.array([[0.97]])}, (64, 64))
    assert set(ans.points) == {"mesh", "eyes"}
    assert ans.how == {"mesh": "x,y,z triples in pixels", "eyes": "x,y pairs in 0..1"}
    np.testing.assert_allclose(ans.points["mesh"], xyz[:, :2])
    np.testing.assert_allclose(ans.points["eyes"], pairs * 64)
    assert not decode_points({"far": rng.uniform(500, 900, (1, 40))}, (64, 64)).points  # outside the frame
    view = np.zeros((64, 64, 3), np.uint8)
    img = np.asarray(draw_answer(view, PointsAnswer({"eyes": ans.points["eyes"]}, ans.how), title="t"))
    assert (img[:img.shape[1]].sum(axis=-1) > 0).sum() > 5 * 4  # dots drawn on the black view
