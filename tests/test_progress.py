"""Progress bars (ferry.progress): drawn on stderr when it is a terminal (a real pseudo-terminal here), never under
--json, a pipe, CI=true or TERM=dumb; stdout is the same bytes either way, and the Python API prints nothing."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys

import pytest

BAR = "\u2501"  # the heavy horizontal line rich draws its bar with


def _env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "TERM", "COLUMNS")}
    return {**env, "TERM": "xterm-256color", "COLUMNS": "120", **extra}


def ferry_on_a_terminal(*args, **env) -> tuple[int, bytes, str]:
    """Run the CLI with stderr on a pseudo-terminal (stdout a pipe, as `ferry check ... > out.txt` would be)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "ferry.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=slave, stdin=subprocess.DEVNULL, env=_env(**env))
    os.close(slave)
    err = b""
    while True:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 1 << 16)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            err += chunk
        elif proc.poll() is not None:
            break
    out = proc.stdout.read()
    proc.wait(timeout=300)
    os.close(master)
    return proc.returncode, out, err.decode("utf-8", "replace")


def ferry_piped(*args, **env) -> tuple[int, bytes, str]:
    r = subprocess.run([sys.executable, "-m", "ferry.cli", *map(str, args)], capture_output=True,
                       stdin=subprocess.DEVNULL, env=_env(**env), timeout=300)
    return r.returncode, r.stdout, r.stderr.decode()


@pytest.fixture(scope="module")
def check_args(photos, classifier_onnx):
    return ["check", classifier_onnx, classifier_onnx, "--images", *photos, "--preprocess", "imagenet",
            "--runtimes", "onnxruntime,openvino"]


def test_check_on_a_terminal_draws_the_bar_and_stdout_is_unchanged(check_args, photos):
    code, out, err = ferry_on_a_terminal(*check_args)
    assert code == 0
    assert BAR in err and "check 1 target in onnxruntime,openvino" in err
    assert f"{len(photos)}/{len(photos)} photos" in err and "elapsed" in err and "left" in err
    pcode, pout, perr = ferry_piped(*check_args)
    assert pcode == 0 and perr == "" and pout == out  # piped: no bar, and stdout byte for byte the same


@pytest.mark.parametrize("how", ["json", "ci", "dumb"])
def test_no_bar_under_json_ci_or_a_dumb_terminal(check_args, how):
    args = [*check_args, "--json"] if how == "json" else check_args
    env = {"CI": "true"} if how == "ci" else {"TERM": "dumb"} if how == "dumb" else {}
    code, out, err = ferry_on_a_terminal(*args, **env)
    assert code == 0 and BAR not in err and "photos" not in err and "\x1b[" not in err
    assert ferry_piped(*args, **env)[1] == out


def test_doctor_and_convert_draw_their_bars(classifier_onnx, photos, tmp_path):
    code, out, err = ferry_on_a_terminal("doctor", classifier_onnx, "--images", *photos[:4], "--reference",
                                         classifier_onnx, "--reference-preprocess", "imagenet")
    assert code == 0 and BAR in err and "runs" in err and "doctor: candidate contracts" in err
    assert ferry_piped("doctor", classifier_onnx, "--images", *photos[:4], "--reference", classifier_onnx,
                       "--reference-preprocess", "imagenet")[1] == out
    code, out, err = ferry_on_a_terminal("convert", classifier_onnx, "--to", "openvino", "--preprocess", "imagenet",
                                         "-o", tmp_path / "out", "--images", *photos[:4])
    assert code == 0 and "converting to openvino" in err and "checking the targets" in err and "4/4 photos" in err


def test_the_python_api_prints_nothing(capsys, classifier_onnx, photos):
    from ferry.check import check

    seen = []
    assert check(classifier_onnx, [classifier_onnx], photos[:3], preprocess="imagenet", runtimes=["onnxruntime"],
                 progress=lambda done, total: seen.append((done, total))).passed
    assert capsys.readouterr() == ("", "")
    assert seen == [(3, 3)]


def test_wanted_reads_the_terminal_and_the_environment(monkeypatch, tmp_path):
    from ferry.progress import wanted

    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert wanted(stream=Tty()) and not wanted(json_output=True, stream=Tty())
    with open(tmp_path / "log", "w") as f:
        assert not wanted(stream=f)
    for ci, shown in [("true", False), ("1", False), ("false", True), ("0", True), ("", True)]:
        monkeypatch.setenv("CI", ci)
        assert wanted(stream=Tty()) is shown, ci
