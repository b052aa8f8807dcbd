"""check --ray: the shards of --workers N as Ray tasks give one process's JSON, to the bit, failing photos included.

One local Ray for the module (`ray.init(num_cpus=2, include_dashboard=False)`, usage statistics off): starting one
costs seconds. `check(ray=True)` finds it initialised and uses it; the CLI is run in a child process that joins it
through RAY_ADDRESS, Ray's own convention.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ferry.check import check
from ferry.errors import FerryError

HOW = ("checked in ", )  # the one note that says how the photos were split: the rest of the JSON must be equal


@pytest.fixture(scope="module")
def ray_cluster():
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray

    ctx = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield ctx.address_info["address"]
    ray.shutdown()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The seeded colour-aware segmenter's ONNX (passes) and an IR of it embedding BGR (fails by task on the colourful
    photos: label maps, IoU sums and the failing photos' indices all go through the merge)."""
    import detect_models

    from ferry.preprocess.contract import load_contract
    from ferry.runtimes import openvino

    onnx_file = detect_models.onnx_path("colour_segmenter")
    d = tmp_path_factory.mktemp("ray_models")
    (d / "right.onnx").write_bytes(onnx_file.read_bytes())
    openvino.embed(onnx_file, load_contract({"preset": "imagenet", "color": "BGR", "layout": "NCHW",
                                             "size": [48, 64]}), d / "bgr.xml")
    return d


def _plain(result) -> dict:
    d = result.to_dict()
    d["notes"] = [n for n in d["notes"] if not n.startswith(HOW)]
    return d


def test_ray_and_the_process_pool_give_one_process_json(ray_cluster, models, photos, monkeypatch):
    monkeypatch.chdir(models)  # relative paths: the rows must name the files as given, whatever ran them
    kwargs = dict(preprocess={"preset": "imagenet", "size": [48, 64]}, runtimes=["onnxruntime", "openvino"], batch=3)
    targets = ["right.onnx", "bgr.xml"]
    one = check("right.onnx", targets, photos, **kwargs)
    pool = check("right.onnx", targets, photos, workers=2, **kwargs)
    on_ray = check("right.onnx", targets, photos, workers=2, ray=True, **kwargs)
    sent = check("right.onnx", targets, photos, workers=3, ray=True, ray_photos="send", **kwargs)
    assert not one.passed
    bgr = next(t for t in one.targets if t.path == "bgr.xml")
    assert not bgr.passed and bgr.task is not None and len(bgr.task.failing_images) >= 5
    assert all(t.passed for t in one.targets if t.path == "right.onnx")
    assert _plain(pool) == _plain(one)
    assert json.dumps(_plain(on_ray)) == json.dumps(_plain(one))  # the same JSON, to the last digit
    assert _plain(sent) == _plain(one)
    assert "checked in 2 Ray tasks (5, 5 photos)" in " ".join(on_ray.notes)
    assert "photos read by path" in " ".join(on_ray.notes)
    assert "checked in 3 Ray tasks (3, 3, 4 photos)" in " ".join(sent.notes)
    assert "sent through the object store" in " ".join(sent.notes)


def test_a_bad_photo_in_a_ray_task_is_named_as_given(ray_cluster, models, photos, tmp_path):
    bad = tmp_path / "cut.jpg"
    bad.write_bytes(photos[0].read_bytes()[:2000])
    for how in ("paths", "send"):
        with pytest.raises(FerryError) as exc:
            check(models / "right.onnx", [models / "right.onnx"], [*photos[:3], bad], preprocess="imagenet",
                  runtimes=["onnxruntime"], workers=2, ray=True, ray_photos=how)
        message = str(exc.value)
        assert str(bad) in message and "in a Ray task on node" in message and "\n" not in message, how


def test_cli_joins_the_cluster_ray_address_names(ray_cluster, models, photos, tmp_path):
    """`ferry check --ray` in a fresh process: RAY_ADDRESS honoured; a saved reference DIR as the source works too;
    the JSON equals the one-process run of the same command."""
    from ferry.cli import main

    ref = tmp_path / "ref"
    assert main(["check", str(models / "right.onnx"), str(models / "bgr.xml"), "--images", *map(str, photos),
                 "--preprocess", "imagenet", "--runtimes", "openvino", "--save-reference", str(ref), "--json"]) == 1
    args = ["check", str(ref), str(models / "bgr.xml"), "--images", *map(str, photos), "--runtimes", "openvino",
            "--json"]
    env = {**os.environ, "RAY_ADDRESS": ray_cluster, "RAY_USAGE_STATS_ENABLED": "0"}
    r = subprocess.run([sys.executable, "-m", "ferry.cli", *args, "--ray", "--workers", "2"], capture_output=True,
                       text=True, env=env, timeout=300)
    assert r.returncode == 1, r.stderr
    local = subprocess.run([sys.executable, "-m", "ferry.cli", *args], capture_output=True, text=True, timeout=300)
    assert local.returncode == 1, local.stderr
    ray_json, one_json = json.loads(r.stdout), json.loads(local.stdout)
    how = [n for n in ray_json["notes"] if n.startswith(HOW)]
    assert how and f"on the Ray cluster at {ray_cluster}" in how[0]
    ray_json["notes"] = [n for n in ray_json["notes"] if not n.startswith(HOW)]
    assert ray_json == one_json


def test_without_ray_installed_ray_says_install_ferry_ray(models, photos):
    block = ("import sys\n"
             "class _No:\n"
             "    def find_spec(self, name, path=None, target=None):\n"
             "        if name.split('.')[0] == 'ray':\n"
             "            raise ImportError('ray blocked for this test')\n"
             "sys.meta_path.insert(0, _No())\n"
             "from ferry.cli import main\n"
             "sys.exit(main(sys.argv[1:]))\n")
    onnx_file = Path(models / "right.onnx")
    r = subprocess.run([sys.executable, "-c", block, "check", str(onnx_file), str(onnx_file), "--images",
                        str(photos[0]), "--preprocess", "imagenet", "--ray"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and r.stderr.strip() == "ferry: --ray needs Ray: pip install 'ferry[ray]'"


def test_ray_photos_without_ray_is_refused(models, photos, capsys):
    from ferry.cli import main

    onnx_file = models / "right.onnx"
    assert main(["check", str(onnx_file), str(onnx_file), "--images", str(photos[0]), "--preprocess", "imagenet",
                 "--ray-photos", "send"]) == 2
    assert capsys.readouterr().err.strip() == "ferry: --ray-photos send is for --ray: add --ray, or drop it"
