"""Vectorised reads of fixed-width fields at many places of a capture's bytes.

Strategy: decoding touches each frame many times (link, IP, UDP, RTP... fields), and a capture is far larger than
the CPU caches, so reading each field straight from the file would miss the cache once per field per frame.  Instead
the first WINDOW bytes of every record of a slice of frames are copied once into a small contiguous "window"
array, and fields are read from there.  Places are "virtual offsets": (row << ROW_SHIFT) | offset-in-record, where
row is the frame's index in the slice.  Reads past the window fall back to the file's bytes; offsets with the
EXTRA bit address an extra area (reassembled IP datagrams).  Each field width has a strided, unaligned numpy view
whose element i is the value starting at byte i, so a read is one fancy-indexing operation.  Every read takes a
`valid` mask: rows that are not valid read as 0 and never touch memory out of range.
"""

from __future__ import annotations

from functools import partialmethod

import numpy as np

try:  # the window copy at compiled speed (io/_walk.c), where pip found a C compiler
    from . import _walk as _compiled
except ImportError:
    _compiled = None

ROW_SHIFT = 24  # offsets within a record: up to 16 MiB (the largest pcapng block the reader accepts)
IN_RECORD = (1 << ROW_SHIFT) - 1
EXTRA = 1 << 62  # virtual offsets at or above this address the extra area
WINDOW = 128  # bytes of each record kept in the window: record header + link + IP + UDP + RTP headers

_WIDTH = {"u8": 1, "be16": 2, "le16": 2, "be32": 4, "le32": 4, "be64": 8}


def field_views(data: np.ndarray) -> dict[str, np.ndarray]:
    """For each field kind, a view whose element i is that field starting at byte i of `data`."""
    views: dict[str, np.ndarray] = {"u8": data}
    for name, width in _WIDTH.items():
        if name == "u8":
            continue
        dtype = np.dtype((">" if name.startswith("be") else "<") + f"u{width}")
        count = max(len(data) - width + 1, 0)
        views[name] = np.ndarray((count,), dtype=dtype, buffer=data, offset=0, strides=(1,))
    return views


def _gather(views: dict[str, np.ndarray], kind: str, positions: np.ndarray, ok: np.ndarray) -> np.ndarray:
    view = views[kind]
    if not len(view):
        return np.zeros(len(positions), dtype=view.dtype.newbyteorder("="))
    out = view[np.where(ok, positions, 0)]
    return out.astype(out.dtype.newbyteorder("="), copy=False)


class _FieldReads:
    """`u8(...)`, `be16(...)`, ...: the class's own `read(kind, ...)` of one field width and byte order (ByteSource
    reads at virtual offsets, Cursor at distances from its places)."""

    __slots__ = ()

    def _read(self, kind: str, *where, **named) -> np.ndarray:
        return self.read(kind, *where, **named)

    u8 = partialmethod(_read, "u8")
    be16 = partialmethod(_read, "be16")
    be32 = partialmethod(_read, "be32")
    le16 = partialmethod(_read, "le16")
    le32 = partialmethod(_read, "le32")
    be64 = partialmethod(_read, "be64")


class ByteSource(_FieldReads):
    """The bytes of a slice of records (see the module docstring for how places are addressed)."""

    __slots__ = ("main", "record", "window", "extra", "_main", "_win", "_extra")

    def __init__(self, main: np.ndarray, record: np.ndarray, extra: np.ndarray | None = None):
        """`main`: the file's bytes; `record`: where each row's record starts in `main` (int64)."""
        self.main = main
        self.record = np.asarray(record, dtype=np.int64)
        n = len(self.record)
        # Rows whose window would run past the end of the file read from a zero-padded copy of the tail.
        win_view = np.ndarray((max(len(main) - WINDOW + 1, 0), WINDOW), dtype=np.uint8, buffer=main,
                              strides=(1, 1)) if len(main) >= WINDOW else np.zeros((0, WINDOW), np.uint8)
        inside = self.record + WINDOW <= len(main)
        if inside.all() and _compiled is not None and n:
            window = np.empty((n, WINDOW), dtype=np.uint8)  # a memcpy per row, without the GIL
            _compiled.windows(main, np.ascontiguousarray(self.record), window)
        elif inside.all():
            window = win_view[self.record]
        else:
            window = np.zeros((n, WINDOW), dtype=np.uint8)
            window[inside] = win_view[self.record[inside]]
            tail = np.zeros(2 * WINDOW, dtype=np.uint8)
            start = max(len(main) - WINDOW, 0)
            tail[: len(main) - start] = main[start:]
            for i in np.flatnonzero(~inside).tolist():
                rel = int(self.record[i]) - start
                window[i] = tail[rel : rel + WINDOW] if rel >= 0 else 0
        self.window = window.reshape(-1)
        self.extra = extra if extra is not None and len(extra) else None
        self._main = field_views(main)
        self._win = field_views(self.window)
        self._extra = field_views(self.extra) if self.extra is not None else None

    def __len__(self) -> int:
        return len(self.record)

    def with_extra(self, extra: bytes) -> "ByteSource":
        """The same slice, with `extra` as its extra area (addressed from EXTRA on)."""
        clone = object.__new__(ByteSource)
        clone.main, clone.record, clone.window = self.main, self.record, self.window
        clone._main, clone._win = self._main, self._win
        clone.extra = np.frombuffer(extra, dtype=np.uint8) if extra else None
        clone._extra = field_views(clone.extra) if clone.extra is not None else None
        return clone

    def absolute(self, voff: np.ndarray) -> np.ndarray:
        """File offsets of virtual offsets that address records (not the extra area)."""
        voff = np.asarray(voff, dtype=np.int64)
        return self.record[voff >> ROW_SHIFT] + (voff & IN_RECORD)

    def read(self, kind: str, voff: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
        """Field `kind` ("u8", "be16", "le16", "be32", "le32", "be64") at each virtual offset; 0 where not `valid`."""
        width = _WIDTH[kind]
        voff = np.asarray(voff, dtype=np.int64)
        if valid is None:
            valid = np.ones(len(voff), dtype=bool)
        rel = voff & IN_RECORD
        row = voff >> ROW_SHIFT
        in_window = valid & (rel + width <= WINDOW) & (voff < EXTRA)
        out = _gather(self._win, kind, row * WINDOW + rel, in_window)
        rest = valid & ~in_window
        if rest.any():
            is_extra = rest & (voff >= EXTRA)
            if is_extra.any() and self._extra is not None:
                pos = voff[is_extra] - EXTRA
                ok = pos + width <= len(self.extra)
                out[is_extra] = np.where(ok, _gather(self._extra, kind, pos, ok), 0)
            elif is_extra.any():
                out[is_extra] = 0
            in_main = rest & ~is_extra
            if in_main.any():
                pos = self.record[row[in_main]] + rel[in_main]
                ok = pos + width <= len(self.main)
                out[in_main] = np.where(ok, _gather(self._main, kind, pos, ok), 0)
        out[~valid] = 0
        return out

    def at(self, voff: np.ndarray, valid: np.ndarray | None = None) -> "Cursor":
        """A Cursor for reading several fields at fixed distances from the same places."""
        return Cursor(self, voff, valid)


    def bytes_at(self, voff: int, length: int) -> bytes:
        """`length` bytes from virtual offset `voff` as Python bytes (for the per-message parsers)."""
        voff = int(voff)
        if voff >= EXTRA:
            if self.extra is None:
                return b""
            rel = voff - EXTRA
            return self.extra[rel : rel + length].tobytes()
        pos = int(self.record[voff >> ROW_SHIFT]) + (voff & IN_RECORD)
        return self.main[pos : pos + length].tobytes()


class Cursor(_FieldReads):
    """Reads of several fields at `voff + k` for one set of places, at the cost of one gather per field.

    The window positions are computed once; a field that lies inside every row's window is one indexing read,
    anything else falls back to ByteSource.read.  When every place sits at the same offset in its record (the
    common case: one link type, no IP options), a field is a strided view of the window, indexed by row (or not
    indexed at all when the places are every row of the slice).  Rows that are not `valid` read as 0.
    """

    __slots__ = ("src", "voff", "valid", "all_valid", "win", "headroom", "rows", "rel0", "every_row")

    def __init__(self, src: ByteSource, voff: np.ndarray, valid: np.ndarray | None = None):
        self.src = src
        self.voff = np.asarray(voff, dtype=np.int64)
        self.all_valid = valid is None or bool(valid.all())
        self.valid = None if self.all_valid else valid
        self.win = None
        self.rows = None
        self.rel0 = -1
        self.every_row = False
        self.headroom = -1
        if not len(self.voff) or (self.voff >= EXTRA).any():
            return
        rel = self.voff & IN_RECORD
        row = self.voff >> ROW_SHIFT
        if not self.all_valid:
            rel = np.where(valid, rel, 0)
            row = np.where(valid, row, 0)
        lo, hi = int(rel.min()), int(rel.max())
        self.headroom = WINDOW - hi
        if lo == hi and self.all_valid:
            self.rows = row
            self.rel0 = lo
            n = len(src.record)
            self.every_row = len(row) == n and int(row[0]) == 0 and int(row[-1]) == n - 1 and bool(
                (row[1:] > row[:-1]).all())
        else:
            self.win = row * WINDOW + rel

    def read(self, kind: str, k: int = 0) -> np.ndarray:
        width = _WIDTH[kind]
        if 0 <= k and k + width <= self.headroom:
            if self.rows is not None:
                dtype = self.src._win[kind].dtype
                column = np.ndarray((len(self.src.record),), dtype=dtype, buffer=self.src.window,
                                    offset=self.rel0 + k, strides=(WINDOW,))
                out = column if self.every_row else column[self.rows]
                return out.astype(dtype.newbyteorder("="))
            out = self.src._win[kind][self.win + k]
            out = out.astype(out.dtype.newbyteorder("="), copy=False)
            if not self.all_valid:
                out[~self.valid] = 0
            return out
        return self.src.read(kind, self.voff + k, self.valid)

