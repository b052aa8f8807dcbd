"""Caffe `mean.binaryproto` (a BlobProto), read with a hand protobuf walk (no caffe/protobuf schema needed)."""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import Any

from ferry.preprocess.importers._common import Imported, _build, _fail


# ---- Caffe mean.binaryproto --------------------------------------------------------------------------------
class _Truncated(Exception):
    """The protobuf bytes end inside a field."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise _Truncated
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("a varint longer than 10 bytes")


def _fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) of one message: value is an int for varint/fixed, bytes for length-
    delimited. Groups (wire types 3/4) are not used by caffe.proto and are refused."""
    out = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError("field number 0")
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            if pos + 8 > len(buf):
                raise _Truncated
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > len(buf):
                raise _Truncated
            value, pos = buf[pos : pos + length], pos + length
        elif wire == 5:
            if pos + 4 > len(buf):
                raise _Truncated
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"wire type {wire}")
        out.append((number, wire, value))
    return out


def _floats(wire: int, value: Any, width: int) -> list[float]:
    fmt = "<f" if width == 4 else "<d"
    if wire == 2:
        if len(value) % width:
            raise _Truncated
        return [v[0] for v in struct.iter_unpack(fmt, value)]
    if (width == 4 and wire == 5) or (width == 8 and wire == 1):
        return [struct.unpack(fmt, value)[0]]
    raise ValueError(f"wire type {wire} for a float field")


def _ints(wire: int, value: Any) -> list[int]:
    if wire == 0:
        return [value]
    if wire == 2:
        out, pos = [], 0
        while pos < len(value):
            v, pos = _varint(value, pos)
            out.append(v)
        return out
    raise ValueError(f"wire type {wire} for an integer field")


def _int32(v: int) -> int:
    v &= 0xFFFFFFFFFFFFFFFF
    return v - (1 << 64) if v >= 1 << 63 else v


def from_caffe_mean_binaryproto(path: Any) -> Imported:
    """A Caffe mean file (`mean.binaryproto`: one BlobProto) -> a BGR, 0..255, per-channel mean contract.

    Read with a minimal protobuf wire-format reader, because caffe is not installable from PyPI in a usable
    form and pulling protobuf + caffe.proto in for five fields is not worth it. caffe.proto's BlobProto:
    num=1, channels=2, height=3, width=4 (int32), data=5 (packed float), shape=7 (BlobShape: dim=1 packed
    int64), double_data=8 (packed double). Both packed and unpacked encodings are accepted.

    Caffe's mean image is per pixel (C x H x W); ferry's contract is per channel, so the mean is reduced to
    one value per channel and the notes say by how much the pixels differed. Caffe images are loaded by
    OpenCV: BGR in 0..255, NCHW. `path` may also be the file's bytes.
    """
    if isinstance(path, bytes | bytearray):
        source, data = "caffe mean.binaryproto", bytes(path)
    elif isinstance(path, str | Path):
        source = str(path)
        try:
            p = Path(path)
            if p.stat().st_size > 1 << 30:
                raise _fail(source, "a mean file over 1 GiB is not a mean file")
            data = p.read_bytes()
        except FileNotFoundError:
            raise _fail(source, "no such file; give the path of the mean.binaryproto") from None
        except (OSError, ValueError) as exc:
            raise _fail(source, f"cannot read it ({type(exc).__name__})") from None
    else:
        raise _fail("caffe mean.binaryproto", f"give a path or the file's bytes, got {type(path).__name__}")

    try:
        legacy: dict[int, int] = {}
        dims: list[int] = []
        values: list[float] = []
        for number, wire, value in _fields(data):
            if number in (1, 2, 3, 4):
                ints = _ints(wire, value)
                if not ints:
                    raise ValueError(f"field {number} holds no integer")
                legacy[number] = _int32(ints[-1])
            elif number == 5:
                values.extend(_floats(wire, value, 4))
            elif number == 8:
                values.extend(_floats(wire, value, 8))
            elif number == 7:
                if wire != 2:
                    raise ValueError("shape is not a message")
                for n2, w2, v2 in _fields(value):
                    if n2 == 1:
                        dims.extend(_int32(d) for d in _ints(w2, v2))
    except _Truncated:
        raise _fail(
            source, "the file ends inside a field (truncated download?); fetch the mean file again"
        ) from None
    except (ValueError, struct.error) as exc:
        raise _fail(
            source, f"not a Caffe BlobProto ({exc}); give the mean.binaryproto of the model"
        ) from None

    if not dims:
        dims = [legacy.get(1, 0), legacy.get(2, 0), legacy.get(3, 0), legacy.get(4, 0)]
        if dims[0] == 0 and all(d > 0 for d in dims[1:]):
            dims[0] = 1
    if len(dims) == 3:
        dims = [1, *dims]
    if len(dims) != 4 or any(d <= 0 for d in dims):
        raise _fail(source, f"the blob shape {dims} is not num x channels x height x width")
    num, chans, height, width = dims
    if math.prod(dims) != len(values):
        raise _fail(
            source,
            f"the blob says {'x'.join(map(str, dims))} = {math.prod(dims)} values but holds "
            f"{len(values)}; the file is damaged",
        )
    if chans not in (1, 3):
        raise _fail(source, f"a mean of {chans} channels; ferry contracts take 1 (gray) or 3 (BGR)")
    if not all(math.isfinite(v) for v in values):
        raise _fail(source, "the mean holds NaN or infinite values; the file is damaged")

    import numpy as np

    blob = np.asarray(values, dtype=np.float64).reshape(num, chans, height * width)
    per_channel = blob.mean(axis=(0, 2))
    spread = float(np.abs(blob - per_channel[None, :, None]).max())
    names = "B, G, R" if chans == 3 else "gray"
    notes = [
        f"per-pixel mean of {chans}x{height}x{width} reduced to per-channel ({names}) = "
        f"({', '.join(f'{v:.3f}' for v in per_channel)}); the pixels differed from it by up to {spread:.2f}"
    ]
    if num > 1:
        notes.append(f"the blob holds {num} means; they were averaged")
    if height > 1 or width > 1:
        notes.append(
            f"the mean image is {height}x{width}: Caffe models usually resize to it and crop their input "
            "size; size and resize are left to the model and to you"
        )
    pre = _build(
        source,
        color="BGR" if chans == 3 else "GRAY",
        scale=1.0,
        mean=tuple(float(v) for v in per_channel),
        std=(1.0,) * chans,
        layout="NCHW",
        dtype="float32",
    )
    return Imported(pre, notes, source)
