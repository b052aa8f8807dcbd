"""TFLite model metadata (TFLITE_METADATA): ferry's reader against MediaPipe's generated parser on MediaPipe's own
models, the contract it states in `load`, `check` and `doctor`, and what happens when it is absent or broken."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))

import pretrained  # noqa: E402

from ferry.runtimes import load  # noqa: E402
from ferry.runtimes import tflite as tfl  # noqa: E402
from ferry.runtimes import tflite_metadata as tm  # noqa: E402

MODELS = ("face_detection", "selfie_segmentation", "hand_landmark")
PHOTOS = [Path(__file__).resolve().parents[2] / "examples" / "images" / n
          for n in ("astronaut.jpg", "coffee.jpg", "chelsea.jpg", "rocket.jpg")]


def _mediapipe_parser():
    path = pretrained.mediapipe("metadata_schema")
    spec = importlib.util.spec_from_file_location("mediapipe_metadata_schema", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name", MODELS)
def test_reader_matches_mediapipes_parser(name):
    ms = _mediapipe_parser()
    data = tfl.read_metadata(pretrained.mediapipe(name))[tm.ENTRY]
    theirs = ms.ModelMetadataT.InitFromObj(ms.ModelMetadata.GetRootAsModelMetadata(data, 0))
    want = theirs.subgraphMetadata[0].inputTensorMetadata
    ours = tm.read_inputs(data)
    assert len(ours) == len(want) >= 1
    for o, t in zip(ours, want, strict=True):
        norm = [p.options for p in t.processUnits if p.optionsType == 1]
        assert o.name == t.name.decode()
        np.testing.assert_array_equal(o.mean, norm[0].mean)
        np.testing.assert_array_equal(o.std, norm[0].std)
        np.testing.assert_array_equal(o.stats_min, t.stats.min)
        np.testing.assert_array_equal(o.stats_max, t.stats.max)
        assert o.color == {1: "RGB", 2: "GRAY"}.get(t.content.contentProperties.colorSpace)


def test_load_declares_the_stated_contract():
    face = load(pretrained.mediapipe("face_detection"))
    d = face.declared
    assert (d.color, d.layout, tuple(d.size), d.scale) == ("RGB", "NHWC", (128, 128), 1.0)
    assert d.mean == (127.5,) * 3 and d.std == (127.5,) * 3  # (x - 127.5) / 127.5: -1..1, what BlazeFace takes
    assert face.declared_covers == {"range", "color", "layout"}  # never the resize: the metadata does not say it
    seg = load(pretrained.mediapipe("selfie_segmentation"))
    assert seg.declared.mean == (0.0,) * 3 and seg.declared.std == (255.0,) * 3  # 0..1


def _without_metadata(src: Path, dest: Path) -> Path:
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(src))
    model.metadata = [m for m in model.metadata if m.name not in (tm.ENTRY, tm.ENTRY.encode())]
    flatbuffer_utils.write_model(model, str(dest))
    return dest


def test_doctor_is_sure_of_range_and_colour_only_with_the_statement(tmp_path):
    from ferry.doctor import diagnose

    face = pretrained.mediapipe("face_detection")
    d = diagnose(face, PHOTOS)
    assert d.best.affine() == load(face).declared.affine()
    assert d.sure["range"] and d.sure["color"] and not d.sure["resize"]
    assert "TFLITE_METADATA" in d.why["range"]
    bare = diagnose(_without_metadata(face, tmp_path / "face_bare.tflite"), PHOTOS)
    assert not bare.sure["range"] and not bare.sure["color"]  # no BatchNorm in a TFLite file, no statement
    assert not bare.stated


def test_broken_metadata_states_nothing(tmp_path):
    face = pretrained.mediapipe("face_detection")
    data = bytearray(tfl.read_metadata(face)[tm.ENTRY])
    with pytest.raises(ValueError):
        tm.read_inputs(b"\0" * 16)
    cut = bytes(data[: len(data) // 3])
    with pytest.raises((IndexError, ValueError)):
        tm.read_inputs(cut)
    broken = tmp_path / "face_cut_metadata.tflite"
    broken.write_bytes(face.read_bytes())
    tfl.write_metadata(broken, tm.ENTRY, cut)
    model = load(broken)  # the model still loads and runs: the statement is evidence, not the model
    assert model.declared is None


def test_check_uses_the_stated_contract_and_fails_a_wrong_feed():
    """`check` without --preprocess takes the metadata's contract; feeding the target 0..1 instead of -1..1 fails."""
    from ferry.check import check

    face = pretrained.mediapipe("face_detection")
    ok = check(face, [face], PHOTOS[:2])
    assert ok.passed
    wrong = check(face, [face], PHOTOS[:2], target_preprocess={"color": "RGB", "scale": 1 / 255})
    assert not wrong.passed
