"""A bad file gets ferry's one line on stderr and exit 2, whatever the framework prints while it loads (issue 18
item 4). Before runtimes/quiet.py a garbage saved_model.pb printed four lines of absl/oneDNN chatter first."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch_models

BAD = ["saved_model", "saved_model_parsed", "tflite", "openvino_xml", "openvino_bin", "mlpackage_manifest",
       "mlpackage_model"]


def _bad_files(d) -> dict[str, str]:
    """One broken file per loader: garbage or cut short, the way a failed copy or download leaves them."""
    import openvino as ov
    import tf_models

    rng = __import__("numpy").random.default_rng(0)
    files: dict[str, str] = {}
    sm = d / "broken.savedmodel"
    sm.mkdir()
    (sm / "saved_model.pb").write_bytes(rng.bytes(500))
    files["saved_model"] = str(sm)
    sm = d / "parsed.savedmodel"  # with variables/, so TensorFlow itself parses the garbage
    (sm / "variables").mkdir(parents=True)
    (sm / "saved_model.pb").write_bytes(rng.bytes(500))
    files["saved_model_parsed"] = str(sm)
    (d / "cut.tflite").write_bytes((tf_models.tf_cnn() / "cnn.tflite").read_bytes()[:2000])
    files["tflite"] = str(d / "cut.tflite")
    ov.save_model(ov.convert_model(str(torch_models.onnx_path("classifier"))), str(d / "whole.xml"))
    xml, weights = (d / "whole.xml").read_bytes(), (d / "whole.bin").read_bytes()
    (d / "cut_xml.xml").write_bytes(xml[:400])
    (d / "cut_xml.bin").write_bytes(weights)
    (d / "cut_bin.xml").write_bytes(xml)
    (d / "cut_bin.bin").write_bytes(weights[:100])
    files["openvino_xml"], files["openvino_bin"] = str(d / "cut_xml.xml"), str(d / "cut_bin.xml")
    pkg = d / "garbage.mlpackage"
    pkg.mkdir()
    (pkg / "Manifest.json").write_bytes(rng.bytes(300))
    files["mlpackage_manifest"] = str(pkg)
    pkg = d / "garbage_model.mlpackage"
    (pkg / "Data" / "com.apple.CoreML").mkdir(parents=True)
    (pkg / "Manifest.json").write_text(json.dumps({
        "fileFormatVersion": "1.0.0", "rootModelIdentifier": "A1",
        "itemInfoEntries": {"A1": {"author": "com.apple.CoreML", "name": "model.mlmodel",
                                   "path": "com.apple.CoreML/model.mlmodel"}}}))
    (pkg / "Data" / "com.apple.CoreML" / "model.mlmodel").write_bytes(rng.bytes(2000))
    files["mlpackage_model"] = str(pkg)
    return files


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, str]]:
    """`ferry inspect BAD` for every bad file, run together (each is mostly a framework import), in an environment
    without the quiet switches: ferry must set them itself."""
    files = _bad_files(tmp_path_factory.mktemp("bad"))
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS")}
    procs = {k: subprocess.Popen([sys.executable, "-m", "ferry.cli", "inspect", f], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=env) for k, f in files.items()}
    out = {}
    for k, p in procs.items():
        stdout, stderr = p.communicate(timeout=300)
        out[k] = (subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr), files[k])
    return out


@pytest.mark.parametrize("kind", BAD)
def test_a_bad_file_gets_one_line_and_exit_2(runs, kind):
    run, path = runs[kind]
    lines = run.stderr.splitlines()
    assert run.returncode == 2, run.stderr[-2000:]
    assert len(lines) == 1, run.stderr[-2000:]
    assert lines[0].startswith("ferry: ") and path in lines[0]


def test_quiet_load_drops_fd2_and_replays_it_with_debug(capfd):
    """C++ writes to fd 2 past Python: silenced during a load, given back with --debug."""
    from ferry.runtimes import quiet

    with quiet.quiet_load():
        os.write(2, b"chatter from C++\n")
    assert capfd.readouterr().err == ""
    quiet.set_debug(True)
    try:
        with quiet.quiet_load():
            os.write(2, b"chatter from C++\n")
    finally:
        quiet.set_debug(False)
    assert capfd.readouterr().err == "chatter from C++\n"


def test_a_users_own_settings_win(monkeypatch):
    from ferry.runtimes.quiet import framework_env

    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    framework_env()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"


def test_a_tflite_convert_prints_no_framework_chatter(tmp_path):
    """tf2onnx imports TensorFlow outside any model load: before ferry.errors.require imported it quietly, a TFLite
    convert opened with absl's and oneDNN's C++ lines. Now stderr holds none of them (a real MediaPipe model)."""
    import pretrained

    src = pretrained.mediapipe("face_detection")
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL",)}
    root = __import__("pathlib").Path(__file__).resolve().parents[2]
    photos = sorted(str(p) for p in (root / "examples" / "images").glob("*.jpg"))[:2]
    p = subprocess.run([sys.executable, "-m", "ferry.cli", "convert", str(src), "--to", "onnx", "-o",
                        str(tmp_path / "out"), "--images", *photos], capture_output=True, text=True, env=env,
                       timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "oneDNN" not in p.stderr and "absl::InitializeLog" not in p.stderr, p.stderr[:2000]


def test_a_torch_to_tflite_convert_prints_no_xnnpack_line(tmp_path):
    """The converted .tflite was loaded outside quiet_load to prove it loads, and LiteRT printed "INFO: Created
    TensorFlow Lite XNNPACK delegate for CPU." on stderr, --json or not (found converting khmer-ocr-ocm's CRNN)."""
    pytest.importorskip("litert_torch")
    factory = tmp_path / "tiny.py"
    factory.write_text("import torch\n"
                       "def build():\n"
                       "    torch.manual_seed(0)\n"
                       "    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),\n"
                       "                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())\n"
                       "    return net.eval(), torch.zeros(1, 3, 32, 32)\n")
    root = __import__("pathlib").Path(__file__).resolve().parents[2]
    photos = sorted(str(p) for p in (root / "examples" / "images").glob("*.jpg"))[:2]
    p = subprocess.run([sys.executable, "-m", "ferry.cli", "convert", f"{factory}:build", "--to", "tflite",
                        "--preprocess", "imagenet", "-o", str(tmp_path / "out"), "--images", *photos, "--json"],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "XNNPACK" not in p.stderr, p.stderr[:2000]
