"""check --workers: the photos split over processes give the same verdict and metrics as one process."""

from __future__ import annotations

import numpy as np
import pytest

from ferry.check import check
from ferry.cli import main


def _summary(result):
    return [(t.runtime, t.passed, [(o.name, o.max_abs, o.within, o.passed) for o in t.outputs],
             t.task.metrics if t.task else None, t.task.failing_images if t.task else None)
            for t in result.targets]


def _close(a, b) -> bool:
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return bool(np.isclose(a, b, rtol=1e-9, equal_nan=True))
    return a == b


@pytest.mark.parametrize("model", ["segmenter", "classifier"])
@pytest.mark.parametrize("bug", [None, {"preset": "imagenet", "color": "BGR"}])
def test_two_workers_give_the_one_process_answer(model, photos, bug):
    import torch_models

    path = torch_models.onnx_path(model)
    kwargs = dict(preprocess="imagenet", target_preprocess=bug, runtimes=["onnxruntime", "openvino"], batch=3)
    one = check(path, [path], photos, **kwargs)
    two = check(path, [path], photos, workers=2, **kwargs)
    assert one.passed is two.passed is (bug is None)
    for a, b in zip(_summary(one), _summary(two), strict=True):
        assert a[:2] == b[:2]
        for (na, ma, wa, pa), (nb, mb, wb, pb) in zip(a[2], b[2], strict=True):
            assert (na, pa) == (nb, pb) and ma == mb and np.isclose(wa, wb, rtol=1e-12)
        assert a[4] == b[4]  # the same photos fail, indexed over the whole list
        for key, va in (a[3] or {}).items():
            assert _close(va, b[3][key]), key
    assert "checked in 2 processes" in " ".join(two.notes)


def test_workers_flag_and_its_limits(capsys, classifier_onnx, photos, tmp_path):
    args = ["check", str(classifier_onnx), str(classifier_onnx), "--images", *map(str, photos[:4]),
            "--preprocess", "imagenet", "--runtimes", "onnxruntime"]
    assert main([*args, "--workers", "2"]) == 0
    capsys.readouterr()
    assert main([*args, "--workers", "0"]) == 2
    assert main([*args, "--workers", "2", "--report", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "--workers" in err and "Traceback" not in err
