"""TFLite model metadata (the "TFLITE_METADATA" entry): the input contract a MediaPipe or TF Hub file states.

The entry is a second flatbuffer (schema `metadata_schema.fbs`, identifier "M001", written by tflite-support's
MetadataWriter and MediaPipe's model maker). What ferry reads of it, per input tensor:

    ImageProperties.color_space      RGB or GRAYSCALE (UNKNOWN states nothing)
    NormalizationOptions.mean / std  normalized = (x - mean) / std on pixel values 0..255, one value or one per channel
    Stats.min / max                  the range the normalised tensor should span, checked against mean/std

Read by hand with `ferry.runtimes.flatbuffer`, as `ferry.runtimes.tflite.read_metadata` reads the model table. Rejected:
tflite-support (its last release, 0.4.4, is from 2023) and MediaPipe's generated `metadata_schema_py_generated`
(a 40 MB wheel, for four tables). tests/runtimes/test_tflite_metadata.py checks this reader against MediaPipe's
generated parser on every real MediaPipe model that carries metadata.
"""

from __future__ import annotations

from dataclasses import dataclass

from ferry.preprocess.contract import Preprocess
from ferry.runtimes.flatbuffer import FlatBuffer

ENTRY = "TFLITE_METADATA"
_COLOR = {1: "RGB", 2: "GRAY"}  # ColorSpaceType: UNKNOWN = 0, RGB = 1, GRAYSCALE = 2
_IMAGE_PROPERTIES = 2  # ContentProperties union: FeatureProperties = 1, ImageProperties = 2, ...
_NORMALIZATION = 1  # ProcessUnitOptions union: NormalizationOptions = 1, ...


@dataclass(frozen=True)
class InputMetadata:
    """What the metadata states about one input tensor."""

    name: str
    color: str | None  # "RGB", "GRAY" or None (not stated)
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    stats_min: tuple[float, ...] | None = None
    stats_max: tuple[float, ...] | None = None


def read_inputs(data: bytes) -> list[InputMetadata]:
    """The input tensors' metadata of the first subgraph, in the model's input order. ValueError / IndexError on a
    buffer that is not metadata or is cut off (the caller turns them into one line)."""
    if len(data) < 8 or data[4:8] != b"M001":
        raise ValueError("not a TFLite metadata flatbuffer (identifier M001)")
    f = FlatBuffer(data)
    root = f.table(0)
    subgraphs = f.tables(f.field(root, 3))  # ModelMetadata.subgraph_metadata
    if not subgraphs:
        return []
    out = []
    for t in f.tables(f.field(subgraphs[0], 2)):  # SubGraphMetadata.input_tensor_metadata
        color = None
        content = f.table(f.field(t, 3))  # TensorMetadata.content
        if content is not None and f.u8(f.field(content, 0)) == _IMAGE_PROPERTIES:
            props = f.table(f.field(content, 1))
            color = _COLOR.get(f.u8(f.field(props, 0)))
        mean = std = None
        for unit in f.tables(f.field(t, 4)):  # TensorMetadata.process_units
            if f.u8(f.field(unit, 0)) == _NORMALIZATION:
                opts = f.table(f.field(unit, 1))
                mean, std = f.floats(f.field(opts, 0)), f.floats(f.field(opts, 1))
        stats = f.table(f.field(t, 5))
        smax = f.floats(f.field(stats, 0)) if stats is not None else None
        smin = f.floats(f.field(stats, 1)) if stats is not None else None
        out.append(InputMetadata(f.string(f.field(t, 0)), color, mean, std, smin, smax))
    return out


def contract(meta: InputMetadata, channels: int, layout: str | None,
             size: tuple[int, int] | None) -> tuple[Preprocess, frozenset[str]] | None:
    """The contract the metadata states for a float image input, and the questions it settles (range always,
    colour when the colour space is stated); None when it states no normalisation or a degenerate one."""
    if meta.mean is None or meta.std is None or not meta.mean or not meta.std:
        return None
    if channels not in (1, 3) or len(meta.mean) not in (1, channels) or len(meta.std) not in (1, channels):
        return None
    if any(s == 0 for s in meta.std):
        return None
    color = meta.color or ("GRAY" if channels == 1 else "RGB")
    if (color == "GRAY") != (channels == 1):
        return None
    mean = [meta.mean[0]] * channels if len(meta.mean) == 1 else list(meta.mean)
    std = [meta.std[0]] * channels if len(meta.std) == 1 else list(meta.std)
    fields: dict = {"color": color, "scale": 1.0, "mean": mean, "std": std}
    if layout:
        fields["layout"] = layout
    if size:
        fields["size"] = list(size)
    covers = {"range"} | ({"color"} if meta.color else set()) | ({"layout"} if layout else set())
    return Preprocess.from_dict(fields), frozenset(covers)
