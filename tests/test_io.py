"""ferry.io.to_json: the serialiser behind every --json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ferry.io import to_json


def test_numpy_values_paths_and_non_finite_numbers_become_plain_json():
    obj = {"ok": np.bool_(True), "n": np.int64(3), "x": np.float32(0.5), "nan": float("nan"),
           "inf": np.float64(np.inf), "arr": np.arange(3), "path": Path("/a/b"), ("k"): (1, 2)}
    out = json.loads(to_json(obj))
    assert out == {"ok": True, "n": 3, "x": 0.5, "nan": None, "inf": None, "arr": [0, 1, 2], "path": "/a/b",
                   "k": [1, 2]}
    assert out["ok"] is True


def test_plain_json_dumps_would_have_crashed_on_the_same_object():
    """The doctor's JSON crashed on a numpy bool: the serialiser must accept what json.dumps refuses."""
    obj = {"confident": np.bool_(False)}
    try:
        json.dumps(obj)
        raised = False
    except TypeError:
        raised = True
    assert raised
    assert json.loads(to_json(obj)) == {"confident": False}
