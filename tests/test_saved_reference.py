"""Saved references: `check SOURCE TARGET --save-reference DIR`, then `check DIR TARGET` with torch and TensorFlow
unimportable; a channel-swapped target fails, a foreign photo and an edited file are exit 2, one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BLOCK = ("import sys\n"
         "class _No:\n"
         "    def find_spec(self, name, path=None, target=None):\n"
         "        if name.split('.')[0] in ('torch', 'tensorflow'):\n"
         "            raise ImportError(f'{name} blocked for this test')\n"
         "sys.meta_path.insert(0, _No())\n"
         "from ferry.cli import main\n"
         "sys.exit(main(sys.argv[1:]))\n")


def ferry_no_torch(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK, *map(str, args)], capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def saved(tmp_path_factory, photos) -> Path:
    import torch_models

    ts = torch_models.torchscript_path("classifier")
    onnx_file = torch_models.onnx_path("classifier")
    d = tmp_path_factory.mktemp("ref")
    spec = d / "contract.yaml"
    spec.write_text("preset: imagenet\nsize: [48, 64]\n")
    out = d / "ref"
    from ferry.cli import main

    assert main(["check", str(ts), str(onnx_file), "--images", *map(str, photos[:4]), "--preprocess", str(spec),
                 "--runtimes", "onnxruntime", "--save-reference", str(out)]) == 0
    return out


def test_saved_reference_passes_right_target_without_torch(saved, photos):
    import torch_models

    index = json.loads((saved / "reference.json").read_text())
    assert index["source"]["runtime"] == "torch" and len(index["photos"]) == 4
    assert {"contract", "versions", "task", "outputs", "inputs"} <= set(index)
    r = ferry_no_torch("check", saved, torch_models.onnx_path("classifier"), "--images", *photos[:4],
                       "--runtimes", "onnxruntime,openvino", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert {t["runtime"] for t in data["targets"]} == {"onnxruntime", "openvino"}
    sub = ferry_no_torch("check", saved, torch_models.onnx_path("classifier"), "--images", *photos[:2],
                         "--runtimes", "onnxruntime", "--json")
    assert sub.returncode == 0 and "2 of the reference's 4 photos" in sub.stdout


def test_channel_swapped_target_fails_against_saved_reference(saved, photos, tmp_path):
    import torch_models

    spec = tmp_path / "bgr.yaml"
    spec.write_text("preset: imagenet\nsize: [48, 64]\ncolor: BGR\n")
    r = ferry_no_torch("check", saved, torch_models.onnx_path("classifier"), "--images", *photos[:4],
                       "--runtimes", "onnxruntime", "--target-preprocess", spec, "--json")
    assert r.returncode == 1, r.stderr


def test_foreign_photo_and_edited_files_exit_2_one_line(saved, photos, tmp_path):
    import shutil

    import torch_models

    onnx_file = torch_models.onnx_path("classifier")
    r = ferry_no_torch("check", saved, onnx_file, "--images", photos[5], "--runtimes", "onnxruntime")
    assert r.returncode == 2 and photos[5].name in r.stderr and len(r.stderr.strip().splitlines()) == 1
    copy = tmp_path / "copy"
    shutil.copytree(saved, copy)
    npz = sorted((copy / "outputs").iterdir())[0]
    npz.write_bytes(npz.read_bytes()[:-10])
    r = ferry_no_torch("check", copy, onnx_file, "--images", *photos[:4], "--runtimes", "onnxruntime")
    assert r.returncode == 2 and npz.name in r.stderr and len(r.stderr.strip().splitlines()) == 1
    (copy / "reference.json").write_text((saved / "reference.json").read_text()[:50])
    r = ferry_no_torch("check", copy, onnx_file, "--images", *photos[:4], "--runtimes", "onnxruntime")
    assert r.returncode == 2 and "reference.json" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_save_reference_never_overwrites_without_force(saved, photos, capsys):
    import torch_models

    from ferry.cli import main

    onnx_file = torch_models.onnx_path("classifier")
    before = (saved / "reference.json").read_text()
    code = main(["check", str(onnx_file), str(onnx_file), "--images", str(photos[0]), "--runtimes", "onnxruntime",
                 "--save-reference", str(saved)])
    assert code == 2 and "--force" in capsys.readouterr().err
    assert (saved / "reference.json").read_text() == before


def test_assert_parity_and_workers_take_a_saved_reference(saved, photos, tmp_path):
    import torch_models

    from ferry.check import check
    from ferry.testing import ParityError, assert_parity

    onnx_file = torch_models.onnx_path("classifier")
    assert_parity(saved, onnx_file, photos[:4], runtimes=["onnxruntime"])
    assert check(saved, [onnx_file], photos[:4], runtimes=["onnxruntime"], workers=2).passed
    bgr = tmp_path / "bgr.yaml"
    bgr.write_text("preset: imagenet\nsize: [48, 64]\ncolor: BGR\n")
    with pytest.raises(ParityError):  # assert_parity has no target contract: a BGR-embedded IR stands in
        from ferry.preprocess.contract import load_contract
        from ferry.runtimes import openvino

        ir = openvino.embed(onnx_file, load_contract(bgr).replace(layout="NCHW"), tmp_path / "bgr.xml")
        assert_parity(saved, ir, photos[:4], runtimes=["openvino"])


def test_a_run_that_fails_midway_leaves_no_partial_reference(photos, tmp_path, capsys):
    """A truncated photo in the second group of 8: the first group's outputs were already written to the temporary
    folder, which is removed; DIR never appears, and an existing DIR (with --force) is kept as it was."""
    import shutil

    import torch_models

    from ferry.cli import main

    onnx_file = torch_models.onnx_path("classifier")
    folder = tmp_path / "photos"
    folder.mkdir()
    for p in photos[:9]:
        shutil.copy(p, folder / p.name)
    (folder / "zz_truncated.jpg").write_bytes(photos[0].read_bytes()[:3000])
    out = tmp_path / "refs" / "ref"
    args = ["check", str(onnx_file), str(onnx_file), "--images", str(folder), "--preprocess", "imagenet",
            "--runtimes", "onnxruntime", "--save-reference", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "zz_truncated.jpg" in err and len(err.strip().splitlines()) == 1
    assert list((tmp_path / "refs").iterdir()) == []  # no DIR, no .ref.* temporary folder
    good = [*args[:4], *map(str, photos[:2]), *args[5:]]
    assert main(good) == 0
    before = (out / "reference.json").read_bytes()
    assert main([*args, "--force"]) == 2
    assert sorted(p.name for p in (tmp_path / "refs").iterdir()) == ["ref"]
    assert (out / "reference.json").read_bytes() == before


def test_a_saved_reference_in_the_wrong_place_and_preprocess_with_it(saved, photos, tmp_path, capsys):
    """DIR as a target, as photos, or as the model of another command: one line, exit 2. --save-reference never
    replaces what is not a saved reference, even with --force. --preprocess with DIR as the source: the saved
    contract is accepted (a script passing it to both runs), another one refused (it would change only the targets'
    feed while the table still called it the source's)."""
    import torch_models

    from ferry.cli import main

    onnx_file = torch_models.onnx_path("classifier")
    model_copy = tmp_path / "m.onnx"
    model_copy.write_bytes(onnx_file.read_bytes())
    base = ["--runtimes", "onnxruntime"]
    cases = [
        (["check", onnx_file, saved, "--images", *photos[:2], "--preprocess", "imagenet", *base],
         "a saved reference (the source's outputs"),
        (["check", saved, onnx_file, "--images", saved, *base], "a saved reference, not photos"),
        (["doctor", saved, "--images", *photos[:2]], "only `ferry check` takes it"),
        (["inspect", saved], "only `ferry check` takes it"),
        (["check", onnx_file, onnx_file, "--images", photos[0], "--preprocess", "imagenet", *base,
          "--save-reference", model_copy, "--force"], "is a file; --save-reference writes a folder"),
        (["check", onnx_file, onnx_file, "--images", photos[0], "--preprocess", "imagenet", *base,
          "--save-reference", photos[0].parent, "--force"], "not a saved reference"),
        (["check", saved, onnx_file, "--images", *photos[:4], *base, "--preprocess", "caffe"],
         "--preprocess cannot change them"),
    ]
    for args, said in cases:
        assert main([str(a) for a in args]) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and said in err[0], (args, err)
    assert model_copy.read_bytes() == onnx_file.read_bytes()
    spec = tmp_path / "same.yaml"  # the saved contract written another way: accepted
    spec.write_text("preset: imagenet\nsize: [48, 64]\n")
    assert main(["check", str(saved), str(onnx_file), "--images", *map(str, photos[:4]), *base,
                 "--preprocess", str(spec)]) == 0
