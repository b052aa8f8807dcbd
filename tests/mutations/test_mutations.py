"""Every injected deployment bug makes `ferry check` fail; every correct deployment passes (see mutants.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))

import mutants  # noqa: E402


@pytest.mark.parametrize("index", range(4), ids=["classifier", "segmenter", "keras-cnn", "ppocr-det-real"])
def test_every_bug_is_caught_and_no_correct_deployment_fails(index, photos, tmp_path):
    subject = mutants.subjects()[index]
    outcomes = mutants.run_subject(subject, photos, tmp_path)
    print("\n" + mutants.table(outcomes))
    assert len(photos) >= 8
    assert len(mutants.BUGS) >= 12
    missed = [o for o in outcomes if o.status == "MISSED"]
    false_failures = [o for o in outcomes if o.status == "FALSE FAILURE"]
    assert not missed, f"{subject.name}: ferry passed {[o.bug for o in missed]}"
    assert not false_failures, f"{subject.name}: ferry failed a correct deployment: {false_failures}"
    applicable = [o for o in outcomes if o.status == "caught"]
    assert len(applicable) >= 10  # n/a only where the bug is the same function on this model
