"""The suite's own layout: test folders are not packages, so pytest imports each test file by its basename, and two
files with one basename (tests/quantize/test_tflite.py beside tests/runtimes/test_tflite.py) stop the whole run
with "import file mismatch" (CI, 2026-12-03)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path


def test_every_test_file_has_its_own_basename():
    root = Path(__file__).resolve().parent
    names = Counter(p.name for p in root.rglob("test_*.py"))
    assert names["test_suite_layout.py"] == 1 and len(names) > 50
    assert not [n for n, k in names.items() if k > 1], sorted(n for n, k in names.items() if k > 1)
