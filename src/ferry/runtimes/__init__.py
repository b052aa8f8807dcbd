"""Runtime registry: one module per runtime, imported only when that runtime is asked for."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from ferry.errors import FerryError
from ferry.formats import ALL_RUNTIMES, detect_format, runtimes_for
from ferry.runtimes.base import Model, NativeRecipe, TensorInfo

__all__ = ["Model", "NativeRecipe", "TensorInfo", "get_runtime", "load", "available_runtimes"]

_MODULES = {
    "onnxruntime": "ferry.runtimes.onnxruntime",
    "openvino": "ferry.runtimes.openvino",
    "opencv": "ferry.runtimes.opencv",
    "torch": "ferry.runtimes.torch",
    "tensorflow": "ferry.runtimes.tensorflow",
    "tflite": "ferry.runtimes.tflite",
    "coreml": "ferry.runtimes.coreml",
}

# The Python package each runtime needs, and the extra that installs it.
_REQUIRES = {
    "onnxruntime": ("onnxruntime", "onnx"),
    "openvino": ("openvino", "openvino"),
    "opencv": ("cv2", "opencv"),
    "torch": ("torch", "torch"),
    "tensorflow": ("tensorflow", "tensorflow"),
    "tflite": ("ai_edge_litert", "tflite"),
    "coreml": ("coremltools", "coreml"),
}


def get_runtime(name: str) -> ModuleType:
    if name not in _MODULES:
        raise FerryError(f"unknown runtime {name!r}; the runtimes are {', '.join(ALL_RUNTIMES)}")
    try:
        return importlib.import_module(_MODULES[name])
    except ModuleNotFoundError as exc:
        if exc.name == _MODULES[name]:
            raise FerryError(f"runtime {name} is not part of this ferry yet") from None
        raise


def is_installed(name: str) -> bool:
    import importlib.util

    module, _ = _REQUIRES[name]
    return importlib.util.find_spec(module) is not None


def available_runtimes(path: str | Path) -> list[str]:
    """The installed runtimes that can load this file, its own runtime first."""
    return [r for r in runtimes_for(detect_format(path)) if is_installed(r) and r in _MODULES]


def load(path: str | Path, runtime: str | None = None) -> Model:
    """Load `path` in `runtime` (default: the format's own runtime)."""
    fmt = detect_format(path)
    can = runtimes_for(fmt)
    name = runtime or can[0]
    if name not in can:
        raise FerryError(f"{path}: a {fmt} file cannot be loaded by {name}; it runs in {', '.join(can)}")
    if not is_installed(name):
        _, extra = _REQUIRES[name]
        raise FerryError(f"{path}: runtime {name} is not installed: pip install 'ferry[{extra}]'")
    from ferry.runtimes.quiet import quiet_load

    with quiet_load():  # the framework's import and load chatter is not the answer (runtimes/quiet.py)
        return get_runtime(name).load(path)
