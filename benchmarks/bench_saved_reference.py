"""Peak RSS of `ferry check SOURCE TARGET --save-reference DIR` at 10 / 100 / 1,000 photos (issue 16 item 1): the
outputs go to disk photo group by photo group, so peak memory should not grow with the number of photos.

    .venv/bin/python benchmarks/bench_saved_reference.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "models"))


def main() -> None:
    import cv2
    import numpy as np
    import torch_models

    onnx_file = torch_models.onnx_path("classifier")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        photos = Path(tmp) / "photos"
        photos.mkdir()
        for i in range(1000):
            cv2.imwrite(str(photos / f"{i:04d}.png"), rng.integers(0, 256, (60, 80, 3), dtype=np.uint8))
        files = sorted(photos.iterdir())
        print("photos  peak RSS (MiB)")
        for n in (10, 100, 1000):
            code = ("import resource, sys\nfrom ferry.cli import main\nrc = main(sys.argv[1:])\n"
                    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, file=sys.stderr)\n")
            r = subprocess.run([sys.executable, "-c", code, "check", str(onnx_file), str(onnx_file), "--images",
                                *map(str, files[:n]), "--preprocess", "imagenet", "--runtimes", "onnxruntime",
                                "--save-reference", str(Path(tmp) / f"ref{n}"), "--json"],
                               capture_output=True, text=True)
            print(f"{n:6d}  {r.stderr.strip().splitlines()[-1]}  (exit {r.returncode})")


if __name__ == "__main__":
    main()
