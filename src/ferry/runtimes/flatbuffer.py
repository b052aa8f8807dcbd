"""Bounds-checked reads of a flatbuffer by field index, for the two TFLite tables ferry reads without a schema
package: the model's metadata entries (`ferry.runtimes.tflite.read_metadata`) and the TFLITE_METADATA buffer
(`ferry.runtimes.tflite_metadata`). An offset that points outside the buffer raises IndexError (struct.error for a
short read), which the callers turn into one line; nothing else about the file is verified (LiteRT does that)."""

from __future__ import annotations

import struct


class FlatBuffer:
    def __init__(self, buf) -> None:  # bytes, or an mmap of the file
        self.buf = buf

    def _unpack(self, fmt: str, pos: int):
        if pos < 0 or pos + struct.calcsize(fmt) > len(self.buf):
            raise IndexError(pos)
        return struct.unpack_from(fmt, self.buf, pos)[0]

    def u8(self, pos: int | None) -> int:
        return 0 if pos is None else self._unpack("<B", pos)

    def u32(self, pos: int) -> int:
        return self._unpack("<I", pos)

    def u64(self, pos: int) -> int:
        return self._unpack("<Q", pos)

    def field(self, table: int, index: int) -> int | None:
        """Where field `index` of the table at `table` lies, or None when the table leaves it out."""
        vtable = table - self._unpack("<i", table)
        if 4 + 2 * index >= self._unpack("<H", vtable):
            return None
        off = self._unpack("<H", vtable + 4 + 2 * index)
        return table + off if off else None

    def table(self, pos: int | None) -> int | None:
        """The table a field at `pos` refers to (the root table for pos 0)."""
        return None if pos is None else pos + self.u32(pos)

    def _vector(self, pos: int) -> tuple[int, int]:
        start = pos + self.u32(pos)
        return start + 4, self.u32(start)

    def tables(self, pos: int | None) -> list[int]:
        if pos is None:
            return []
        start, n = self._vector(pos)
        return [start + 4 * i + self.u32(start + 4 * i) for i in range(n)]

    def bytes_at(self, pos: int) -> bytes:
        """A [ubyte] vector (or a string's bytes)."""
        start, n = self._vector(pos)
        if start + n > len(self.buf):
            raise IndexError(start)
        return bytes(self.buf[start:start + n])

    def string(self, pos: int | None) -> str:
        return "" if pos is None else self.bytes_at(pos).decode("utf-8", "replace")

    def floats(self, pos: int | None) -> tuple[float, ...] | None:
        if pos is None:
            return None
        start, n = self._vector(pos)
        return tuple(float(self._unpack("<f", start + 4 * i)) for i in range(n))
