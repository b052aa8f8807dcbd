"""Reading a Core ML file: the Model protobuf of an .mlpackage (through its Manifest.json) or of an .mlmodel, with
coremltools' own generated protobuf classes, and the folder the MIL program's `@model_path` points at.

coremltools is imported here and only here, with its logging and TensorFlow's C++ logging quietened (on Linux it
prints a "Failed to load _MLModelProxy" line per missing native module, and it imports TensorFlow and torch).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ferry.errors import FerryError, require

COLOR_SPACES = {10: "GRAYSCALE", 20: "RGB", 30: "BGR", 40: "GRAYSCALE_FLOAT16"}


def coremltools():
    """Import coremltools quietly (logging first: the import itself logs)."""
    import sys

    logging.getLogger("coremltools").setLevel(logging.ERROR)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "coremltools" in sys.modules:
        return sys.modules["coremltools"]
    from ferry.convert.exporters import quiet

    with quiet():  # its import loads torch, TF and torchao, which print "Failed to load ..." lines straight to fd 2
        return require("coremltools", "coreml")


def proto():
    """coremltools.proto.Model_pb2 (imports coremltools the quiet way first)."""
    coremltools()
    from coremltools.proto import Model_pb2

    return Model_pb2


@dataclass
class CoreMLFile:
    """A parsed Core ML file: the spec and where its weights live."""

    path: Path
    spec: Any  # coremltools.proto.Model_pb2.Model
    model_dir: Path  # what `@model_path` means in blobFileValue file names

    @property
    def kind(self) -> str:
        return self.spec.WhichOneof("Type") or "unknown"


def read(path: str | Path) -> CoreMLFile:
    """Parse an .mlpackage directory or an .mlmodel file. FerryError names the file and what is wrong."""
    p = Path(path)
    if p.is_dir():
        manifest = p / "Manifest.json"
        try:
            info = json.loads(manifest.read_text(encoding="utf-8"))
            root = info["rootModelIdentifier"]
            rel = info["itemInfoEntries"][root]["path"]
        except FileNotFoundError:
            raise FerryError(f"{p}: no Manifest.json; not an .mlpackage (save it again with coremltools)") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise FerryError(f"{manifest}: unreadable package manifest ({type(exc).__name__}); save the model "
                             "again with coremltools") from None
        spec_file = (p / "Data" / rel).resolve()
        if not spec_file.is_relative_to(p.resolve()):
            raise FerryError(f"{manifest}: the root model path {rel!r} leaves the package; not a valid .mlpackage")
    else:
        spec_file = p
    try:
        data = spec_file.read_bytes()
    except OSError as exc:
        raise FerryError(f"{spec_file}: cannot read the Core ML spec ({exc.strerror or exc}); save the model "
                         "again") from None
    model = proto().Model()
    try:
        model.ParseFromString(data)
    except Exception:  # noqa: BLE001 - protobuf raises DecodeError or RuntimeError depending on the backend
        raise FerryError(f"{spec_file}: not a Core ML Model protobuf (truncated or corrupt); save it again") from None
    if model.specificationVersion == 0 or model.WhichOneof("Type") is None:
        raise FerryError(f"{spec_file}: not a Core ML model (no specification version or model type)")
    return CoreMLFile(path=p, spec=model, model_dir=spec_file.parent)


@dataclass(frozen=True)
class ImageInput:
    """An image input as the spec declares it: Core ML hands the program this image as a float tensor
    (1, C, height, width) in 0..255, channels in `color_space` order."""

    name: str
    color_space: str  # RGB | BGR | GRAYSCALE | GRAYSCALE_FLOAT16
    height: int
    width: int

    @property
    def channels(self) -> int:
        return 1 if self.color_space.startswith("GRAYSCALE") else 3


def image_inputs(spec: Any) -> list[ImageInput]:
    out = []
    for feat in spec.description.input:
        if feat.type.WhichOneof("Type") != "imageType":
            continue
        it = feat.type.imageType
        out.append(ImageInput(feat.name, COLOR_SPACES.get(it.colorSpace, f"colorSpace {it.colorSpace}"),
                              int(it.height), int(it.width)))
    return out
