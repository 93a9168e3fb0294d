"""Datagrams of one kind (STUN, DTLS, RTCP compounds), direct and relayed, with their key columns and their payload
bytes, which are copied out of the file only when someone asks (the stun, dtls and feedback tables, decryption)."""

from __future__ import annotations

import numpy as np

from ..io import buffer

class Datagrams:
    """Datagrams of one kind, direct and relayed, in capture order: their key columns (as _key_columns gives them, plus
    transport, relayed, relay and peer) and their captured payloads (a relayed one: the datagram TURN carried).
    `payloads` may be made on first use (`make`), so that decoding a capture copies no bytes nobody asks for."""

    def __init__(self, keys: dict, payloads: list[bytes] | None = None, make=None):
        self.keys = keys
        self._payloads = payloads
        self._make = make

    @property
    def payloads(self) -> list[bytes]:
        if self._payloads is None:
            self._payloads = self._make() if self._make is not None else []
            self._make = None
        return self._payloads

    def __len__(self) -> int:
        return len(self.keys["frame"])


class Located:
    """Where the datagrams of one kind lie in the file's bytes (file offset and captured length, per slice), so
    that their bytes are copied only when someone asks (Datagrams.payloads).  Reassembled ones, which live in a
    slice's extra area, are copied at once (few)."""

    def __init__(self):
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # list.append is atomic: threads may add
        self.extra: dict[int, bytes] = {}

    def add(self, src: buffer.ByteSource, rows: np.ndarray, off: np.ndarray, cap: np.ndarray) -> None:
        in_file = off < buffer.EXTRA
        self.parts.append((rows[in_file], src.absolute(off[in_file]), cap[in_file]))
        for r, o, c in zip(rows[~in_file].tolist(), off[~in_file].tolist(), cap[~in_file].tolist()):
            self.extra[r] = src.bytes_at(o, c)

    def reader(self, data: np.ndarray, rows: np.ndarray):
        """A function giving the bytes of `rows` (b"" for a row not recorded here)."""
        if self.parts:
            # Each part's rows ascend, and parts are slices, which do not overlap: in slice order, all rows ascend.
            self.parts.sort(key=lambda part: int(part[0][0]) if len(part[0]) else -1)
            all_rows = np.concatenate([p[0] for p in self.parts])
            pos = np.concatenate([p[1] for p in self.parts])
            cap = np.concatenate([p[2] for p in self.parts])
        else:
            all_rows = pos = cap = np.zeros(0, dtype=np.int64)
        at = np.searchsorted(all_rows, rows)
        found = (at < len(all_rows)) & (all_rows[np.minimum(at, max(len(all_rows) - 1, 0))] == rows) \
            if len(all_rows) else np.zeros(len(rows), dtype=bool)
        where = np.where(found, pos[np.minimum(at, max(len(pos) - 1, 0))] if len(pos) else 0, -1)
        size = np.where(found, cap[np.minimum(at, max(len(cap) - 1, 0))] if len(cap) else 0, 0)
        extra = dict(self.extra)
        self.parts, self.extra = [], {}

        def read() -> list[bytes]:
            mem = memoryview(data)
            return [extra.get(r, b"") if w < 0 else bytes(mem[w:w + c])
                    for r, w, c in zip(rows.tolist(), where.tolist(), size.tolist())]

        return read
