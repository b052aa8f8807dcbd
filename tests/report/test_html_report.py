"""The HTML report: self-contained, and it renders in a real browser (Debian's headless Chromium) with its
pictures. `make test` installs chromium; without it this test fails and says how to get it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import detect_models
import numpy as np
import pytest
from PIL import Image

from ferry.cli import main

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars"]


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("headless Chromium is needed to render the HTML report: run `make test` (it installs Debian's "
                    "chromium as root) or `apt-get install -y chromium`")
    return exe


def _browser(args: list[str], tmp_path) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    return subprocess.run([_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def bgr_report(tmp_path_factory, photos):
    """The colour segmenter fed BGR by the target: fails by task, and the report must show where."""
    tmp = tmp_path_factory.mktemp("report")
    m = detect_models.onnx_path("colour_segmenter")
    (tmp / "app.json").write_text(json.dumps({"preset": "imagenet", "color": "BGR"}))
    (tmp / "labels.txt").write_text("red\ngreen\nblue\ngrey\n")
    report = tmp / "report.html"
    code = main(["check", str(m), str(m), "--images", *map(str, photos[:3]), "--preprocess", "imagenet",
                 "--target-preprocess", str(tmp / "app.json"), "--runtimes", "onnxruntime", "--labels",
                 str(tmp / "labels.txt"), "--report", str(report), "--report-photos", "3"])
    assert code == 1
    return report


def test_report_is_self_contained(bgr_report):
    text = bgr_report.read_text()
    assert "FAILED" in text and "segment" in text and "pixel_agreement" in text
    srcs = re.findall(r'<img[^>]* src="([^"]+)"', text)
    assert len(srcs) == 3 * 3  # per photo: source, target, difference (a 48x64 view is shown whole: no full size)
    assert all(re.match(r"data:image/(jpeg|webp|png);base64,", s) for s in srcs)
    assert text.count('alt="source: ') == 3  # the source drawn once per photo, each target beside it
    assert not re.search(r'(src|href)="(https?:|//|file:)', text)  # nothing to fetch


def test_report_renders_in_chromium_with_its_pictures(bgr_report, tmp_path):
    dom = _browser(["--dump-dom", bgr_report.as_uri()], tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count("<img") == 9 and "ferry check" in dom.stdout
    shot = tmp_path / "shot.png"
    run = _browser([f"--screenshot={shot}", "--window-size=1300,2400", bgr_report.as_uri()], tmp_path)
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    px = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3)
    red = np.count_nonzero(np.all(px == (255, 0, 0), axis=1))
    # the difference pictures paint differing pixels pure red: thousands of them on screen means the
    # embedded PNGs were decoded and drawn (an empty or broken image would show none)
    assert red > 5000, red


def _segmenter_640(path) -> None:
    """A seeded 640x640 colour segmenter (the colour head and texture conv of detect_models, built with onnx.helper
    in milliseconds): a map output at full resolution is the report's heaviest picture."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(6)
    head = np.array([[2, -1, -1], [-1, 2, -1], [-1, -1, 2], [0, 0, 0]], np.float32)[:, :, None, None] * 1.5
    inits = [numpy_helper.from_array(head, "w"), numpy_helper.from_array(np.array([0, 0, 0, 0.8], np.float32), "b"),
             numpy_helper.from_array(rng.normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32), "tw")]
    nodes = [helper.make_node("Conv", ["input", "w", "b"], ["h"]),
             helper.make_node("Conv", ["input", "tw"], ["t"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["h", "t"], ["out"])]
    graph = helper.make_graph(nodes, "seg640", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                               ["N", 3, 640, 640])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 4, 640, 640])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


@pytest.fixture(scope="module")
def big_report(tmp_path_factory, photos):
    """7 photos through a 640x640 segmenter, in onnxruntime and OpenVINO, beside a truncated ONNX file."""
    tmp = tmp_path_factory.mktemp("big")
    model, cut = tmp / "seg640.onnx", tmp / "cut.onnx"
    _segmenter_640(model)
    cut.write_bytes(model.read_bytes()[:300])
    report = tmp / "report.html"
    code = main(["check", str(model), str(model), str(cut), "--images", *map(str, photos[:7]), "--preprocess",
                 "imagenet", "--runtimes", "onnxruntime,openvino", "--report", str(report), "--report-photos", "7"])
    assert code == 2  # a target that cannot load: exit 2, the others still reported
    return report


def test_a_seven_photo_640_report_is_small(big_report):
    """Full-size PNGs made this report 16 MB (2 targets; 18 MB was a user's detector): display-size JPEG answers and
    lossless WebP differences make it under 3 MB, with a full-size picture behind a click only within budget."""
    from ferry.report.html import FULL_BUDGET, FULL_MAX

    text = big_report.read_text()
    size = big_report.stat().st_size
    assert size < 3_000_000, size
    thumbs = re.findall(r'<img class="thumb" alt="([^"]*)" src="data:image/(\w+);base64,([^"]+)"', text)
    assert len(thumbs) == 7 * (1 + 2 * 2)  # per photo: the source once, then each target's answer and difference
    assert sum(alt.startswith("source: ") for alt, _, _ in thumbs) == 7
    assert {m for alt, m, _ in thumbs if alt.startswith("difference")} <= {"webp", "png"}  # red stays red
    assert {m for alt, m, _ in thumbs if not alt.startswith("difference")} == {"jpeg"}
    full = re.findall(r'<a class="full" id="(full\d+)" href="#_"><img alt="[^"]*" src="data:image/\w+;base64,([^"]+)"',
                      text)
    assert full and all(len(b) * 3 // 4 <= FULL_MAX for _, b in full)
    assert sum(len(b) * 3 // 4 for _, b in full) <= FULL_BUDGET
    assert all(f'href="#{fid}"' in text for fid, _ in full)


def test_a_target_that_cannot_load_has_its_own_row(big_report):
    rows = re.findall(r"<tr class='unloadable'><td>([^<]*)</td><td colspan=7>could not load: ([^<]*)</td>",
                      big_report.read_text())
    assert [name for name, _ in rows] == ["cut.onnx (onnxruntime)", "cut.onnx (openvino)"]
    assert all("cut.onnx" in why for _, why in rows)
    assert "truncated or not an ONNX model" in rows[0][1]


def test_full_size_picture_opens_on_click_in_chromium(big_report, tmp_path):
    """The click target `#full1` shows the full-size picture over a dark backdrop (CSS :target, no script)."""
    shot = tmp_path / "full.png"
    run = _browser([f"--screenshot={shot}", "--window-size=1000,800", big_report.as_uri() + "#full1"], tmp_path)
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    px = np.asarray(Image.open(shot).convert("L"))
    assert np.mean(px[:40] < 60) > 0.9  # the top strip is backdrop, not the white page


def test_report_flags(tmp_path, photos, classifier_onnx):
    existing = tmp_path / "r.html"
    existing.write_text("mine")
    args = ["check", str(classifier_onnx), str(classifier_onnx), "--images", str(photos[0]), "--preprocess",
            "imagenet", "--runtimes", "onnxruntime", "--report", str(existing)]
    assert main(args) == 2 and existing.read_text() == "mine"  # never overwritten without --force
    assert main([*args, "--force"]) == 0 and "PASSED" in existing.read_text()


def test_report_keeps_the_first_failing_photo(photos):
    """camera.jpg is grey: an app's BGR cannot show on it. With one photo kept, the report still pictures the
    first photo the target fails on."""
    from ferry.check import check

    m = detect_models.onnx_path("colour_classifier")
    grey_first = [p for p in photos if p.stem == "camera"] + [p for p in photos if p.stem != "camera"][:3]
    r = check(m, [m], grey_first, preprocess="imagenet", target_preprocess={"preset": "imagenet", "color": "BGR"},
              keep=1, runtimes=["onnxruntime"])
    assert 0 not in r.targets[0].task.failing_images
    first_bad = r.targets[0].task.failing_images[0]
    assert [s.image for s in r.samples] == [str(grey_first[0]), str(grey_first[first_bad])]
    assert [s.first for s in r.samples] == [True, False]
