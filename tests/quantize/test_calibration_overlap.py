"""An int8 file is calibrated on the user's photos; its agreement on those same photos is optimistic. ferry.json
records the calibration photos (their sha256), and every `check` of the file says how many of its photos were
among them (`calibration_overlap`, and a note), so a user can tell a held-out check from a flattering one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import quant_models as qm

from ferry.check import check
from ferry.cli import main
from ferry.convert import convert
from ferry.quantize.calibration import photo_digest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def int8_onnx(tmp_path_factory, photos) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("overlap")
    calib = photos[:6]
    convert(qm.FACTORY, to="onnx", preprocess=qm.CONTRACT, outdir=out, images=calib, precision="int8")
    return out / "colour_cnn.int8.onnx", calib


def _other_photos(photos: list[Path], folder: Path) -> list[Path]:
    """New photos (mirrored copies: other bytes, other pictures) that no calibration saw."""
    from PIL import Image

    folder.mkdir(exist_ok=True)
    made = []
    for p in photos:
        dest = folder / f"mirrored-{p.stem}.png"
        Image.fromarray(np.asarray(Image.open(p).convert("RGB"))[:, ::-1].copy()).save(dest)
        made.append(dest)
    return made


def test_ferry_json_records_the_calibration_and_the_convert_check_says_it_overlaps(int8_onnx):
    q, calib = int8_onnx
    data = json.loads((q.parent / "ferry.json").read_text())
    entry = next(t for t in data["targets"] if t["precision"] == "int8")
    assert entry["calibration"]["photos"] == 6
    assert entry["calibration"]["sha256"] == [photo_digest(p) for p in calib]
    assert entry["accuracy"]["calibration_overlap"] == {"photos": 6, "of": 6}
    assert any("calibrated this int8 file" in n for n in entry["notes"])
    assert any("calibrated on 6 photos" in n and "8 or more" in n for n in entry["notes"])  # RECOMMENDED_PHOTOS


def test_check_counts_the_calibration_photos_among_its_own(int8_onnx, photos, tmp_path):
    q, calib = int8_onnx
    held_out = _other_photos(photos[6:8], tmp_path / "new")
    renamed = tmp_path / "renamed.jpg"  # the same photo under another name is still a calibration photo
    shutil.copy(calib[0], renamed)
    mixed = check(qm.FACTORY, [(q, "onnxruntime")], [renamed, calib[1], *held_out], preprocess=qm.CONTRACT)
    row = mixed.targets[0]
    assert row.calibration_overlap == {"photos": 2, "of": 4}
    assert any("2 of 4 of the photos checked calibrated" in n for n in row.notes)
    fresh = check(qm.FACTORY, [(q, "onnxruntime")], held_out, preprocess=qm.CONTRACT).targets[0]
    assert fresh.calibration_overlap == {"photos": 0, "of": 2}
    assert not any("calibrated this int8 file" in n for n in fresh.notes)


def test_the_json_of_check_carries_the_overlap(int8_onnx, capsys, tmp_path):
    q, calib = int8_onnx
    contract = tmp_path / "contract.json"
    contract.write_text(json.dumps(qm.CONTRACT))
    code = main(["check", qm.FACTORY, str(q), "--preprocess", str(contract), "--images", *map(str, calib[:3]),
                 "--json"])
    row = json.loads(capsys.readouterr().out)["targets"][0]
    assert code in (0, 1) and row["calibration_overlap"] == {"photos": 3, "of": 3}


def test_a_stale_ferry_json_is_not_read(int8_onnx, tmp_path, photos):
    """A ferry.json older than the file is another run's: no overlap is claimed from it."""
    import os

    q, _ = int8_onnx
    copy = tmp_path / q.name
    shutil.copy(q, copy)
    shutil.copy(q.parent / "ferry.json", tmp_path / "ferry.json")
    os.utime(tmp_path / "ferry.json", (1, 1))
    row = check(qm.FACTORY, [(copy, "onnxruntime")], photos[:2], preprocess=qm.CONTRACT).targets[0]
    assert row.calibration_overlap is None
