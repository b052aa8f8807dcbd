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
    assert len(srcs) == 3 * 3  # per photo: source, target, difference
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
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
