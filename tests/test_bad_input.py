"""The bad-input corpus (made here, not committed): each case exits 2 (or 1 for a mismatch) with one line naming the
file and what to do, no traceback, and changes nothing the user gave."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ferry.cli import main


def run(capsys, *args) -> tuple[int, list[str]]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, [line for line in err.strip().splitlines() if line]


def snapshot(d: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


class _Evil:
    """Unpickling this would create a file: proof that a model file was (not) unpickled."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture
def corpus(tmp_path, classifier_onnx) -> Path:
    d = tmp_path / "corpus"
    d.mkdir()
    (d / "empty.onnx").write_bytes(b"")
    (d / "truncated.onnx").write_bytes(classifier_onnx.read_bytes()[:500])
    (d / "classifier really onnx.tflite").write_bytes(classifier_onnx.read_bytes())  # wrong extension
    with (d / "evil.pt").open("wb") as f:
        pickle.dump(_Evil(tmp_path / "PWNED"), f)
    (d / "notes.txt").write_text("not a photo\n")
    return d


def test_empty_and_truncated_models(capsys, corpus, photos):
    before = snapshot(corpus)
    for name, needle in (("empty.onnx", "empty.onnx"), ("truncated.onnx", "truncated.onnx")):
        code, err = run(capsys, "check", corpus / name, corpus / name, "--images", photos[0], "--preprocess",
                        "imagenet")
        assert code == 2 and len(err) == 1 and needle in err[0], err
    assert snapshot(corpus) == before


def test_a_file_is_read_by_its_content_not_its_extension(capsys, corpus, classifier_onnx, photos):
    code, err = run(capsys, "check", classifier_onnx, corpus / "classifier really onnx.tflite", "--images",
                    photos[0], "--preprocess", "imagenet", "--runtimes", "onnxruntime")
    assert code == 0, err


def test_a_pickle_is_never_unpickled(capsys, corpus, tmp_path):
    code, err = run(capsys, "inspect", corpus / "evil.pt")
    assert code == 2 and len(err) == 1 and "evil.pt" in err[0] and "pickle" in err[0]
    assert not (tmp_path / "PWNED").exists(), "ferry executed code from a pickle"


def test_an_ultralytics_checkpoint_is_named_and_never_unpickled(capsys, tmp_path):
    """A YOLOv8/11 `.pt` (ABD-model 0.3.0's ABD.pt): torch.save's zip whose pickle names ultralytics' classes. ferry
    reads the names as bytes and says to export it with Ultralytics; the pickle (here one that would touch a file)
    is never run."""
    import zipfile

    pt = tmp_path / "best.pt"
    payload = pickle.dumps({"model": "ultralytics.nn.tasks.DetectionModel", "hook": _Evil(tmp_path / "PWNED")})
    with zipfile.ZipFile(pt, "w") as z:
        z.writestr("best/data.pkl", payload)
        z.writestr("best/version", "3\n")
    code, err = run(capsys, "inspect", pt)
    assert code == 2 and len(err) == 1 and "Ultralytics checkpoint" in err[0] and "format=onnx" in err[0], err
    assert not (tmp_path / "PWNED").exists(), "ferry executed code from a pickle"


def test_truncated_openvino_bin(capsys, classifier_onnx, tmp_path, photos):
    from ferry.preprocess import preset
    from ferry.runtimes import openvino

    xml = openvino.embed(classifier_onnx, preset("imagenet").replace(size=(48, 64), layout="NCHW"),
                         tmp_path / "m.xml")
    bin_path = xml.with_suffix(".bin")
    bin_path.write_bytes(bin_path.read_bytes()[:100])
    before = snapshot(tmp_path)
    code, err = run(capsys, "check", classifier_onnx, xml, "--images", photos[0], "--preprocess", "imagenet")
    assert code == 2 and len(err) == 1 and ("m.xml" in err[0] or "m.bin" in err[0]), err
    assert snapshot(tmp_path) == before


def test_16_bit_and_cmyk_photos_decode_to_the_same_pixels(tmp_path, photos):
    from ferry.images import load_image

    rgb = np.asarray(Image.open(photos[0]).convert("RGB"))
    sixteen = (rgb[:, :, 0].astype(np.uint16) * 257)  # 16-bit gray, full range
    Image.fromarray(sixteen).save(tmp_path / "gray16.png")
    got = load_image(tmp_path / "gray16.png")
    assert got.dtype == np.uint8 and np.array_equal(got[:, :, 0], rgb[:, :, 0])
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=100)
    cmyk = load_image(tmp_path / "cmyk.jpg")[:, :, ::-1].astype(int)
    assert cmyk.shape == rgb.shape and np.abs(cmyk - rgb).mean() < 4  # JPEG rounding only, colours kept


def test_a_non_image_among_the_photos(capsys, corpus, classifier_onnx, photos):
    mixed = corpus / "photos"
    mixed.mkdir()
    shutil.copy(photos[0], mixed / "a.jpg")
    (mixed / "b.jpg").write_text("not a photo, named like one\n")
    code, err = run(capsys, "check", classifier_onnx, classifier_onnx, "--images", mixed, "--preprocess", "imagenet")
    assert code == 2 and len(err) == 1 and "b.jpg" in err[0], err


def test_model_with_no_image_input_and_mismatched_shapes(capsys, tmp_path, classifier_onnx, photos):
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Relu", ["v"], ["y"])], "vec",
                          [helper.make_tensor_value_info("v", TensorProto.FLOAT, [1, 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(tmp_path / "vector.onnx"))
    code, err = run(capsys, "check", tmp_path / "vector.onnx", tmp_path / "vector.onnx", "--images", photos[0],
                    "--preprocess", "imagenet")
    assert code == 2 and len(err) == 1 and "image-like" in err[0], err
    contract = tmp_path / "wrong_size.yaml"
    contract.write_text("preset: imagenet\nsize: [40, 40]\n")
    code, err = run(capsys, "check", classifier_onnx, classifier_onnx, "--images", photos[0], "--preprocess",
                    contract)
    assert code == 2 and len(err) == 1 and "shape" in err[0] and "size" in err[0], err


def test_unicode_path_with_spaces(capsys, tmp_path, classifier_onnx, photos):
    d = tmp_path / "módels & phötos 模型"
    d.mkdir()
    model = d / "my classifier.onnx"
    shutil.copy(classifier_onnx, model)
    shutil.copy(photos[0], d / "phöto 1.jpg")
    code, err = run(capsys, "check", model, model, "--images", d / "phöto 1.jpg", "--preprocess", "imagenet")
    assert code == 0, err


def test_unwritable_output_directory(capsys, tmp_path, classifier_onnx, photos):
    """/proc refuses new entries even to root (CI runs as root, where chmod 0500 would not stop a write)."""
    locked = Path("/proc/ferry-out") if Path("/proc/self").exists() else tmp_path / "locked"
    if locked.parent == tmp_path:
        locked.mkdir()
        locked.chmod(0o500)
    code, err = run(capsys, "convert", classifier_onnx, "--to", "onnx", "--preprocess", "imagenet", "-o",
                    locked / "out", "--images", photos[0])
    assert code == 2 and len(err) == 1 and ("ferry-out" in err[0] or "locked" in err[0]), err
    assert "writable" in err[0]


def test_output_path_that_is_a_file(capsys, tmp_path, classifier_onnx, photos):
    blocker = tmp_path / "out"
    blocker.write_text("a file where the output directory should go\n")
    code, err = run(capsys, "convert", classifier_onnx, "--to", "onnx", "--preprocess", "imagenet", "-o",
                    blocker, "--images", photos[0])
    assert code == 2 and len(err) == 1 and "out" in err[0], err
    assert blocker.read_text().startswith("a file")


@pytest.mark.parametrize("text, field", [
    ("scale: [1, 2]\n", "scale"),
    ("mean: fast\n", "mean"),
    ("size: 224\n", "size"),
    ("color: purple\n", "color"),
    ("std: [0.2, 0, 0.2]\n", "std"),
    ("- just\n- a list\n", "contract"),
    ("resize: {mode: sideways}\n", "mode"),
])
def test_contract_yaml_with_wrong_types(capsys, tmp_path, classifier_onnx, photos, text, field):
    contract = tmp_path / "contract.yaml"
    contract.write_text(text)
    code, err = run(capsys, "check", classifier_onnx, classifier_onnx, "--images", photos[0], "--preprocess",
                    contract)
    assert code == 2 and len(err) == 1 and field in err[0], err


def test_an_op_one_runtime_lacks_is_named_while_the_others_report(capsys, tmp_path, photos):
    """A TFLite model with UNSORTED_SEGMENT_MAX (a LiteRT builtin that OpenVINO's TFLite frontend has no translator
    for): LiteRT still runs and reports; OpenVINO's row names the op; exit 2."""
    import tensorflow as tf

    spec = tf.TensorSpec([1, 8, 8, 3], tf.float32)

    @tf.function(input_signature=[spec])
    def per_channel_max(x):
        flat = tf.reshape(tf.transpose(x, [3, 0, 1, 2]), [3, -1])  # one row per channel
        ids = tf.repeat(tf.range(3), 64)
        return tf.math.unsorted_segment_max(tf.reshape(flat, [-1]), ids, 3)[None]

    conv = tf.lite.TFLiteConverter.from_concrete_functions([per_channel_max.get_concrete_function()])
    model = tmp_path / "segment_max.tflite"
    model.write_bytes(conv.convert())
    code = main(["check", str(model), str(model), "--images", str(photos[0]), "--preprocess", "unit", "--json"])
    out, err = capsys.readouterr()
    import json

    data = json.loads(out)
    rows = {t["runtime"]: t for t in data["targets"]}
    assert code == 2 and "Traceback" not in err
    assert rows["tflite"]["passed"] is True and rows["tflite"]["outputs"]
    assert "UNSORTED_SEGMENT_MAX" in rows["openvino"]["error"] and rows["openvino"]["passed"] is False
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1 and "openvino" in lines[0] and "UNSORTED_SEGMENT_MAX" in lines[0], err


def test_a_std_so_small_the_input_overflows_float32_is_one_line_exit_2(tmp_path):
    """Issue 18: std 1e-40 printed numpy's overflow RuntimeWarning; it is a contract error at parse time."""
    import subprocess
    import sys

    spec = tmp_path / "tiny_std.yaml"
    spec.write_text("scale: 1/255\nstd: [1e-40, 0.224, 0.225]\n")
    done = subprocess.run([sys.executable, "-m", "ferry.cli", "native", "opencv", "--preprocess", str(spec)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "std[0]" in lines[0] and "overflow" in lines[0], done.stderr
    assert "RuntimeWarning" not in done.stderr and "Traceback" not in done.stderr


def test_a_photo_where_a_model_goes_and_a_model_where_photos_go(capsys, tmp_path, classifier_onnx, photos):
    """Arguments in the wrong places (issue 16): each is named for what it is, before any model loads."""
    folder = tmp_path / "model_dir"
    folder.mkdir()
    shutil.copy(classifier_onnx, folder / "m.onnx")
    cases = [
        (["check", photos[0], classifier_onnx, "--images", *photos[:2]], f"{photos[0]}: a photo, not a model"),
        (["check", photos[0].parent, classifier_onnx, "--images", *photos[:2]], "a folder of photos, not a model"),
        (["inspect", photos[0]], "a photo, not a model"),
        (["check", classifier_onnx, classifier_onnx, "--images", classifier_onnx, "--preprocess", "imagenet"],
         f"{classifier_onnx}: a model (onnx), not a photo"),
        (["check", classifier_onnx, classifier_onnx, "--images", folder / "m.onnx", "--preprocess", "imagenet"],
         "a model (onnx), not a photo"),
    ]
    for args, said in cases:
        code, err = run(capsys, *args)
        assert code == 2 and len(err) == 1 and said in err[0], (args, err)


@pytest.mark.parametrize("argv", [
    ["inspect", "{bad}"],
    ["check", "{bad}", "{bad}", "--images", "{photo}"],
    ["convert", "{bad}", "--images", "{photo}", "--out", "{out}"],
    ["doctor", "{bad}", "--images", "{photo}"],
    ["bench", "{bad}", "--images", "{photo}"],
    ["native", "onnxruntime", "--preprocess", "{bad}"],
])
def test_json_on_bad_input_is_json_on_stdout_and_one_line_on_stderr(capsys, tmp_path, photos, argv):
    """A script that parses `--json` stdout gets an object on the bad-input path too (it got nothing before)."""
    import json

    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x08\x07not a model")
    fill = {"{bad}": str(bad), "{photo}": str(photos[0]), "{out}": str(tmp_path / "out")}
    code = main([fill.get(a, a) for a in argv] + ["--json"])
    out, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("ferry: ") and "broken.onnx" in lines[0]
    obj = json.loads(out)
    assert obj == {"error": lines[0], "exit_code": 2}


def test_an_unknown_flag_names_the_command_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["check", "a.onnx", "b.onnx", "--images", "x.png", "--targets", "y"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == "ferry: unrecognized arguments: --targets y (see ferry check --help)"


def test_embed_to_onnx_of_another_format_names_the_format_and_the_way(capsys, tmp_path, classifier_onnx):
    """`embed --to onnx` read any file as ONNX: a TFLite or an IR was "truncated or not an ONNX model"."""
    import openvino as ov

    xml = tmp_path / "m.xml"
    ov.save_model(ov.convert_model(str(classifier_onnx)), str(xml))
    code, err = run(capsys, "embed", xml, "--to", "onnx", "--preprocess", "imagenet", "-o", tmp_path / "e.onnx")
    assert code == 2 and len(err) == 1, err
    assert "embed --to onnx takes an ONNX model and this is openvino" in err[0] and "ferry convert" in err[0], err
    assert not (tmp_path / "e.onnx").exists()
