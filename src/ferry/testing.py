"""Parity assertions for users' own test suites.

    from ferry.testing import assert_parity

    def test_deployed_model_matches_training():
        assert_parity("model.py:build", "deploy/model.xml", "tests/photos", preprocess="imagenet")

One call: the same raw photos through the source (ferry's reference contract) and through the target's own
preprocessing path, every output compared. When the deployed model drifts it raises `ParityError` (an
AssertionError, so pytest shows it as a test failure) whose message is the comparison table.
"""

from __future__ import annotations

import io
from pathlib import Path

from ferry.check import CheckResult, check
from ferry.preprocess.contract import Preprocess


class ParityError(AssertionError):
    """The target's outputs differ from the source's; `result` holds the full comparison."""

    def __init__(self, message: str, result: CheckResult):
        super().__init__(message)
        self.result = result


def assert_parity(
    source: str | Path,
    target: str | Path,
    images: str | Path | list[str | Path],
    preprocess: str | Path | dict | Preprocess | None = None,
    task: str | None = None,
    runtimes: list[str] | None = None,
    atol: float | dict[str, float] | None = None,
    rtol: float | dict[str, float] | None = None,
) -> CheckResult:
    """Raise ParityError unless `target` (in every installed runtime that loads it, or `runtimes`) gives the
    outputs of `source` on `images`. Returns the CheckResult when it passes. Bad input raises FerryError."""
    photos = [images] if isinstance(images, str | Path) else list(images)
    kwargs = {"task": task} if task else {}
    result = check(source, [target], photos, preprocess=preprocess, runtimes=runtimes,
                   atol=_tol(atol), rtol=_tol(rtol), **kwargs)
    if not result.passed:
        raise ParityError(_table(result), result)
    return result


def _tol(value: float | dict[str, float] | None) -> dict[str, float] | None:
    if value is None or isinstance(value, dict):
        return value
    return {"*": float(value)}


def _table(result: CheckResult) -> str:
    from rich.console import Console

    from ferry.report.terminal import print_check

    buf = io.StringIO()
    # wide enough for the table whatever terminal pytest reports; plain text, no colour codes
    print_check(result, Console(file=buf, width=200, highlight=False, soft_wrap=True, color_system=None))
    return "the deployed model's outputs differ from the source's\n" + buf.getvalue()
