"""Model format detection from content, not from the file name, and which runtimes can load each format."""

from __future__ import annotations

import zipfile
from pathlib import Path

from ferry.errors import FerryError

ONNX = "onnx"
OPENVINO = "openvino-ir"
TFLITE = "tflite"
TORCHSCRIPT = "torchscript"
EXPORTED_PROGRAM = "torch-exported-program"
TORCH_MODULE = "torch-module"  # a Python factory: package.module:factory or file.py:factory
SAVED_MODEL = "tf-savedmodel"
KERAS = "keras"
COREML = "coreml"

# Which runtimes can load each format; the first is the format's own runtime (the default for a source).
RUNTIMES_FOR_FORMAT: dict[str, tuple[str, ...]] = {
    ONNX: ("onnxruntime", "openvino", "opencv"),
    OPENVINO: ("openvino",),
    TFLITE: ("tflite", "openvino"),
    TORCHSCRIPT: ("torch",),
    EXPORTED_PROGRAM: ("torch",),
    TORCH_MODULE: ("torch",),
    SAVED_MODEL: ("tensorflow", "openvino"),
    KERAS: ("tensorflow",),
    COREML: ("coreml",),
}

ALL_RUNTIMES = ("onnxruntime", "openvino", "opencv", "tflite", "coreml", "torch", "tensorflow")

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_PHOTO_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")


def _photo_name(p: Path) -> bool:
    from ferry.images import IMAGE_SUFFIXES

    return p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES


def is_factory_spec(spec: str) -> bool:
    """`package.module:factory` or `path/to/file.py:factory` names a torch nn.Module factory."""
    if ":" not in spec or Path(spec).exists():
        return False
    mod, _, fn = spec.rpartition(":")
    return bool(mod) and fn.isidentifier()


def detect_format(path: str | Path) -> str:
    """The model format of `path`, read from its bytes. FerryError names the file and what ferry accepts."""
    spec = str(path)
    if is_factory_spec(spec):
        return TORCH_MODULE
    p = Path(path)
    if not p.exists():
        raise FerryError(f"{p}: no such model file or directory")
    if p.is_dir():
        if (p / "saved_model.pb").is_file() or (p / "saved_model.pbtxt").is_file():
            return SAVED_MODEL
        if (p / "Manifest.json").is_file():
            return COREML
        if (p / "reference.json").is_file():
            raise FerryError(f"{p}: a saved reference (the source's outputs, not a model); only `ferry check` takes "
                             "it, as the SOURCE: `ferry check DIR TARGET... --images PHOTOS`")
        if any(_photo_name(f) for f in p.iterdir()):
            raise FerryError(f"{p}: a folder of photos, not a model; photos go after --images")
        raise FerryError(f"{p}: a directory that is neither a TF SavedModel nor a Core ML .mlpackage")
    try:
        with p.open("rb") as f:
            head = f.read(64)
    except OSError as exc:
        raise FerryError(f"{p}: cannot read ({exc.strerror})") from None
    if not head:
        raise FerryError(f"{p}: empty file; re-export or re-download the model")
    if len(head) >= 8 and head[4:8] == b"TFL3":
        return TFLITE
    if head.startswith(_HDF5_MAGIC):
        return KERAS
    if head.startswith(b"PK\x03\x04"):
        return _zip_format(p)
    if head[:1] == b"\x80" and len(head) > 1 and head[1] in range(2, 6):
        raise FerryError(
            f"{p}: a Python pickle; ferry does not unpickle (it can run code). Save a TorchScript "
            "(torch.jit.save), an ExportedProgram (torch.export.save) or ONNX instead"
        )
    text = head.lstrip()
    if text.startswith(b"<?xml") or text.startswith(b"<net"):
        return OPENVINO
    if head[:1] == b"\x08":
        return _protobuf_format(p)
    if head.startswith(_PHOTO_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP") or _photo_name(p):
        raise FerryError(f"{p}: a photo, not a model; photos go after --images")
    raise FerryError(
        f"{p}: not a model format ferry knows (ONNX, OpenVINO .xml, TFLite, TorchScript, ExportedProgram, "
        "SavedModel directory, Keras, Core ML)"
    )


def _zip_format(p: Path) -> str:
    try:
        with zipfile.ZipFile(p) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        raise FerryError(f"{p}: a truncated or corrupt zip archive (torch/Keras); save the model again") from None
    tails = {n.split("/", 1)[-1] for n in names}
    if "config.json" in tails and any(n.endswith(".weights.h5") for n in names):
        return KERAS
    if any(t.startswith("models/") and t.endswith(".json") for t in tails) or "archive_format" in tails:
        return EXPORTED_PROGRAM
    if "constants.pkl" in tails or any(t.startswith("code/") for t in tails):
        return TORCHSCRIPT
    if "data.pkl" in tails:
        if _pickles_ultralytics(p, names):
            raise FerryError(
                f"{p}: an Ultralytics checkpoint (a pickle of ultralytics' own classes, which ferry does not "
                f"unpickle); export it with Ultralytics (`yolo export model={p.name} format=onnx`) and give ferry "
                "the ONNX: its metadata states the contract (RGB, /255, letterbox) and the task"
            )
        raise FerryError(
            f"{p}: a torch.save checkpoint (a pickle of weights, no architecture); ferry loads TorchScript, "
            "ExportedProgram or a `package.module:factory` that builds the module"
        )
    raise FerryError(f"{p}: a zip archive that is not a torch or Keras model")


def _pickles_ultralytics(p: Path, names: list[str]) -> bool:
    """Whether the checkpoint's pickle names ultralytics' classes (a YOLOv8/11 `.pt`: ABD-model 0.3.0's ABD.pt).
    The pickle's global references are plain text in data.pkl: read as bytes, never unpickled."""
    try:
        with zipfile.ZipFile(p) as z:
            pkl = next(n for n in names if n.endswith("data.pkl"))
            return b"ultralytics.nn" in z.read(pkl)[:4_000_000]
    except (zipfile.BadZipFile, OSError, StopIteration, KeyError):
        return False


def _protobuf_format(p: Path) -> str:
    """ONNX ModelProto and Core ML .mlmodel both start with field 1 as a varint; tell them apart by parsing."""
    if p.suffix.lower() == ".mlmodel":
        return COREML
    return ONNX


def runtimes_for(fmt: str) -> tuple[str, ...]:
    return RUNTIMES_FOR_FORMAT[fmt]
