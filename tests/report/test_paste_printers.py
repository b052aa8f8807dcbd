"""Code meant to be pasted is printed whole when piped (issue 18 item 2): `ferry native` for every runtime and
`ferry convert`'s route and feed lines, run as a subprocess with COLUMNS=80 and no terminal, must `ast.parse`.
(`ferry doctor`'s fixes: tests/doctor/test_evidence_sources.py.) Before, `native opencv` for a host-resized
contract put its comment before the comma (not Python), and convert's table folded a route mid-name."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys

import pytest
import torch_models

RUNTIMES = ["onnxruntime", "openvino", "opencv", "tflite", "coreml", "torch", "tensorflow"]
LETTERBOX = "color: BGR\nscale: 0.00392156862745098\nmean: [0.5, 0.5, 0.5]\nstd: [0.5, 0.5, 0.5]\nsize: [640, 480]\n" \
            "layout: NHWC\nresize: {mode: letterbox, pad_value: 114}\n"


def _piped(*args: str) -> subprocess.Popen:
    env = {**os.environ, "COLUMNS": "80", "TERM": "xterm-256color"}  # a pipe, whatever the terminal says
    return subprocess.Popen([sys.executable, "-m", "ferry.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def native_runs(tmp_path_factory) -> dict[tuple[str, str], tuple[int, str, str]]:
    spec = tmp_path_factory.mktemp("native") / "letterbox.yaml"
    spec.write_text(LETTERBOX)
    procs = {(r, c): _piped("native", r, "--preprocess", c if c != "letterbox" else str(spec))
             for r in RUNTIMES for c in ("imagenet", "letterbox")}
    done = {k: p.communicate(timeout=300) for k, p in procs.items()}
    return {k: (procs[k].returncode, *done[k]) for k in procs}


@pytest.mark.parametrize("contract", ["imagenet", "letterbox"])
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_native_prints_python_that_parses_when_piped(native_runs, runtime, contract):
    code, out, err = native_runs[runtime, contract]
    assert code == 0, err[-1500:]
    assert out.strip() and "\x1b[" not in out  # no styling
    ast.parse(out)


def test_native_leaves_long_lines_whole(native_runs):
    lines = [line for (_, _), (_, out, _) in native_runs.items() for line in out.splitlines()]
    assert any(len(line) > 80 for line in lines)  # there are lines past 80 columns, and they parsed above


def test_convert_prints_routes_and_feed_code_whole_when_piped(tmp_path):
    run = _piped("convert", str(torch_models.onnx_path("classifier")), "--to", "opencv,openvino", "--preprocess",
                 "imagenet", "-o", str(tmp_path / "out"), "--no-check")
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, err[-1500:]
    assert "\x1b[" not in out
    routes = dict(re.findall(r"^route \((\w+)\): (.+)$", out, re.M))
    assert set(routes) == {"opencv", "openvino"}
    assert "cv2.dnn.blobFromImageWithParams" in routes["opencv"]  # folded to "...blobFromImag|eWithParams" before
    assert "openvino.convert_model(ONNX)" in routes["openvino"]
    feed = out.split("opencv: feed it like this:\n", 1)[1].splitlines()
    code = []
    for line in feed:
        if re.match(r"^(note \(|manifest: |route \(|\w+: )", line):
            break
        code.append(line)
    assert len(code) >= 3 and any("blobFromImageWithParams" in line for line in code)
    ast.parse("\n".join(code))
