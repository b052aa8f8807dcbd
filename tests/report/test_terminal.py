"""The terminal report of `ferry check`: a note every row of one runtime carries is said once."""

from __future__ import annotations

import io

from rich.console import Console

from ferry.check import check
from ferry.report.terminal import print_check


def test_a_note_shared_by_a_runtimes_rows_is_printed_once(classifier_onnx, photos, tmp_path):
    import shutil

    copy = tmp_path / "copy.onnx"
    shutil.copy(classifier_onnx, copy)
    result = check(classifier_onnx, [(classifier_onnx, "openvino"), (copy, "openvino")], photos[:2],
                   preprocess="imagenet")
    for t in result.targets:
        t.notes.append("the same words on every openvino row")
    buf = io.StringIO()
    print_check(result, Console(file=buf, width=200, no_color=True))
    text = buf.getvalue()
    assert text.count("the same words on every openvino row") == 1, text
    assert "note (openvino, 2 rows): the same words on every openvino row" in text, text
