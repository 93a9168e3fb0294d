"""Vectorised reads of fixed-width fields at many byte offsets of one buffer.

Strategy: a capture is held as one flat uint8 array (a memory map, or bytes read from a gzip file) plus an optional
"extra" area for bytes that do not sit contiguously in the file (reassembled IP fragments).  Offsets at or beyond the
end of the main array address the extra area.  Each field width gets a strided, unaligned numpy view whose element i
is the value starting at byte i, so reading a field at a million offsets is one fancy-indexing operation.
Every read takes a `valid` mask: rows that are not valid read as 0 and never touch memory out of range.
"""

from __future__ import annotations

import numpy as np

_BYTE = np.dtype(np.uint8)


def _views(data: np.ndarray) -> dict[str, np.ndarray]:
    views: dict[str, np.ndarray] = {"u8": data}
    for name, width in (("be16", 2), ("le16", 2), ("be32", 4), ("le32", 4), ("be64", 8)):
        dtype = np.dtype((">" if name.startswith("be") else "<") + f"u{width}")
        count = max(len(data) - width + 1, 0)
        views[name] = np.ndarray((count,), dtype=dtype, buffer=data, offset=0, strides=(1,))
    return views


class ByteSource:
    """A capture's bytes, with vectorised field reads (see the module docstring)."""

    __slots__ = ("main", "extra", "_main_views", "_extra_views")

    def __init__(self, main: np.ndarray, extra: np.ndarray | None = None):
        self.main = main
        self.extra = extra if extra is not None and len(extra) else None
        self._main_views = _views(main)
        self._extra_views = _views(self.extra) if self.extra is not None else None

    def __len__(self) -> int:
        return len(self.main) + (len(self.extra) if self.extra is not None else 0)

    def with_extra(self, extra: bytes) -> "ByteSource":
        """The same main buffer with `extra` appended logically at offset len(main)."""
        return ByteSource(self.main, np.frombuffer(extra, dtype=np.uint8) if extra else None)

    def read(self, kind: str, offsets: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
        """Field `kind` ("u8", "be16", "le16", "be32", "le32", "be64") at each offset; 0 where not `valid`."""
        main_view = self._main_views[kind]
        width = 1 if kind == "u8" else int(kind[2:]) // 8
        main_len = len(self.main)
        offsets = np.asarray(offsets, dtype=np.int64)
        if valid is None:
            valid = np.ones(len(offsets), dtype=bool)
        in_main = valid & (offsets >= 0) & (offsets + width <= main_len)
        out = main_view[np.where(in_main, offsets, 0)] if len(main_view) else np.zeros(len(offsets), main_view.dtype)
        if self._extra_views is not None:
            extra_view = self._extra_views[kind]
            rel = offsets - main_len
            in_extra = valid & (rel >= 0) & (rel + width <= len(self.extra))
            if in_extra.any():
                out[in_extra] = extra_view[rel[in_extra]]
            in_main |= in_extra
        out[~in_main] = 0
        return out.astype(out.dtype.newbyteorder("="), copy=False)

    def u8(self, offsets, valid=None):
        return self.read("u8", offsets, valid)

    def be16(self, offsets, valid=None):
        return self.read("be16", offsets, valid)

    def be32(self, offsets, valid=None):
        return self.read("be32", offsets, valid)

    def le16(self, offsets, valid=None):
        return self.read("le16", offsets, valid)

    def le32(self, offsets, valid=None):
        return self.read("le32", offsets, valid)

    def be64(self, offsets, valid=None):
        return self.read("be64", offsets, valid)

    def bytes_at(self, offset: int, length: int) -> bytes:
        """`length` bytes from `offset` as Python bytes (for the per-message parsers)."""
        main_len = len(self.main)
        if offset >= main_len and self.extra is not None:
            rel = offset - main_len
            return self.extra[rel : rel + length].tobytes()
        return self.main[offset : offset + length].tobytes()
