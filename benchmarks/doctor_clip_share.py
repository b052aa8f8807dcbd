"""Issue 14's suggested trace of a folded BatchNorm, measured: the share of units a ReLU6 (ONNX Clip 0..6) saturates
after the first convolution, under each convention. Under the training contract it should be "a moderate share,
not nearly all"; the question is whether it separates the true range from its neighbours. Run by hand:

    python -m tf2onnx.convert --tflite hand_landmark_lite.tflite --output /tmp/hand.onnx   # MediaPipe, RGB 0..1
    .venv/bin/python benchmarks/doctor_clip_share.py /tmp/hand.onnx rgb01 [more.onnx truth ...]

truth is a label printed beside the file (the conventions are printed with their shares). Results: README.md,
the doctor's "Limits" paragraph.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402

from ferry.doctor.candidates import conventions  # noqa: E402
from ferry.preprocess.contract import Preprocess  # noqa: E402
from ferry.preprocess.reference import preprocess_batch  # noqa: E402
from ferry.runtimes import load  # noqa: E402


def clip_shares(path: str, photos: list[Path]) -> list[tuple[str, float, float]]:
    """(convention, share below 0, share above 6) at the input of the file's first Clip."""
    import cv2
    import onnx
    import onnxruntime as ort

    m = onnx.load(path)
    clip = next(n for n in m.graph.node if n.op_type == "Clip")
    m.graph.output.append(onnx.helper.make_tensor_value_info(clip.input[0], onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    model = load(path)
    base = model.resolve(Preprocess.from_dict({"color": "RGB"}))
    images = [cv2.imread(str(p)) for p in photos]
    rows = []
    for c in conventions(base, base.channels):
        x = preprocess_batch(images, c.preprocess)
        y = np.concatenate([session.run([clip.input[0]], {session.get_inputs()[0].name: x[i:i + 1]})[0]
                            for i in range(len(x))])
        rows.append((c.name, float(np.mean(y < 0)), float(np.mean(y > 6))))
    return rows


def main(argv: list[str]) -> int:
    photos = corpus.natural(8)
    for path, truth in zip(argv[::2], argv[1::2], strict=True):
        print(f"{path} (truth {truth})")
        for name, neg, sat in clip_shares(path, photos):
            print(f"  {name:46s} below 0 {neg:.2f}  above 6 {sat:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
