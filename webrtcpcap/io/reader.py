"""Capture files to frames: classic pcap (µs/ns, either byte order) and pcapng (sections, interfaces, EPB/SPB/OPB),
plain or gzip-compressed, detected by magic bytes.

Strategy: the only per-record Python loop is the walk that finds where each record starts (record lengths chain the
records together, so it is inherently sequential).  Every other record field (timestamps, lengths, interface) is
then read for all records at once with numpy.  A walk never allocates from a length field; a record whose length is
absurd or runs past the end of the file stops the walk, and the frames before it are kept (the reason is returned as
a `problem` string so the caller can warn).
"""

from __future__ import annotations

import contextlib
import os
import struct
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator

import numpy as np

from .buffer import ROW_SHIFT, ByteSource
from .errors import CaptureError
# The file's bytes (plain: mapped; gzip: inflated in a bounded window) come from io/files.py; its names stay here too.
from .files import (GZIP_IN_MEMORY_BYTES, GZIP_INPUT_STEP, GZIP_MAGIC, GZIP_OUTPUT_STEP, _capture_file,  # noqa: F401
                    _GzipStream, _open_bytes, expanded_size)

try:  # the compiled record walk (io/_walk.c), built by `pip install` where a C compiler is found
    from . import _walk as _compiled
except ImportError:  # no compiler at install time: the same walk in Python, slower (tests hold the two equal)
    _compiled = None

PCAP_MAGIC_US = 0xA1B2C3D4  # classic pcap, microsecond timestamps
PCAP_MAGIC_NS = 0xA1B23C4D  # classic pcap, nanosecond timestamps
PCAP_MAGIC_KUZNETZOV = 0xA1B2CD34  # "modified" pcap with longer record headers
PCAPNG_SHB = 0x0A0D0D0A  # pcapng Section Header Block type (a palindrome: same in both byte orders)
PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D
PCAPNG_IDB = 1  # Interface Description Block
PCAPNG_OPB = 2  # obsolete Packet Block
PCAPNG_SPB = 3  # Simple Packet Block
PCAPNG_EPB = 6  # Enhanced Packet Block
IF_TSRESOL = 9  # IDB option: timestamp resolution
IF_TSOFFSET = 14  # IDB option: seconds added to every timestamp
IF_NAME = 2

# Wireshark's limit for an ordinary packet; a bigger record length is taken as corruption, not as a packet.
MAX_PACKET = 262_144
MAX_BLOCK = 16 * 1024 * 1024

_OTHER_MAGICS = {
    b"\x28\xb5\x2f\xfd": "zstd-compressed data",
    b"\xfd\x37\x7a\x58": "xz-compressed data",
    b"BZh": "bzip2-compressed data",
    b"PK\x03\x04": "a zip archive",
    b"\x7fELF": "an ELF executable",
    b"%PDF": "a PDF document",
}


@dataclass
class Interface:
    """One capture interface: classic pcap has one, pcapng one per Interface Description Block."""

    index: int
    linktype: int
    snaplen: int
    name: str | None = None
    ts_divisor: int = 1_000_000  # ticks per second, for integer resolutions
    ts_binary_shift: int | None = None  # for if_tsresol with the high bit set: ticks per second = 2**shift
    ts_offset_s: int = 0

    def ticks_to_ns(self, ticks: np.ndarray) -> np.ndarray:
        """ns since the Unix epoch of timestamps in this interface's ticks (uint64), offset by if_tsoffset; NaT
        (NAT_NS) where the time is outside what datetime64[ns] holds (years 1677..2262).  Cannot overflow: the
        whole seconds and the fraction are computed apart, and the range is checked before the exact sum."""
        ticks = np.asarray(ticks).astype(np.uint64)
        if self.ts_binary_shift is not None:
            shift = np.uint64(self.ts_binary_shift)
            seconds = ticks >> shift
            fraction = (ticks & ((np.uint64(1) << shift) - np.uint64(1))).astype(np.float64)
            frac_ns = np.floor(fraction * (1e9 / float(1 << self.ts_binary_shift))).astype(np.int64)
        else:
            divisor = np.uint64(self.ts_divisor)
            seconds, fraction = ticks // divisor, ticks % divisor
            if self.ts_divisor <= 1_000_000_000:
                frac_ns = (fraction * np.uint64(1_000_000_000 // self.ts_divisor)).astype(np.int64)
            else:
                frac_ns = (fraction // np.uint64(self.ts_divisor // 1_000_000_000)).astype(np.int64)
        return seconds_to_ns(seconds, self.ts_offset_s, frac_ns)


NAT_NS = np.iinfo(np.int64).min  # numpy's and pandas' NaT as int64 nanoseconds
_MAX_SECONDS = 9_223_372_035  # |seconds| below which seconds * 1e9 + a fraction fits in int64 (and is not NaT)


def seconds_to_ns(seconds: np.ndarray, offset_s: int, frac_ns: np.ndarray) -> np.ndarray:
    """(seconds + offset_s) * 1e9 + frac_ns as int64 ns, NAT_NS where it does not fit.  `seconds` is uint64 (any
    value), `offset_s` a Python int in int64's range (pcapng if_tsoffset), `frac_ns` in [0, 1e9)."""
    rough = seconds.astype(np.float64) + float(offset_s)  # only to rule out sums far outside int64
    # uint64 arithmetic wraps, so the sum is exact wherever the true sum fits in int64 (the rough check).
    exact = (seconds + np.uint64(offset_s % (1 << 64))).view(np.int64)
    ok = (np.abs(rough) < 2 * _MAX_SECONDS) & (np.abs(exact) <= _MAX_SECONDS)
    return np.where(ok, np.where(ok, exact, 0) * 1_000_000_000 + frac_ns, NAT_NS)


@dataclass
class FrameBatch:
    """Record-level facts of a run of frames, as parallel numpy arrays over one ByteSource.

    `offset` is where the captured bytes of the frame start in `source` (a virtual offset, see buffer.py);
    `interface` indexes `interfaces`.
    """

    source: ByteSource
    first_frame: int
    offset: np.ndarray  # int64 virtual offsets (see buffer.py) of each frame's first captured byte
    caplen: np.ndarray  # uint32
    length: np.ndarray  # uint32 (original length on the wire)
    ts_ns: np.ndarray  # int64, ns since the Unix epoch
    interface: np.ndarray  # uint16
    interfaces: list[Interface] = field(default_factory=list)
    # pcapng: False where the frame's interface id is described only by an interface block after the frame (the
    # id names no interface yet, whatever comes later); None when every frame's interface came first.
    interface_defined: np.ndarray | None = None
    # True where the record's time stamp is outside datetime64[ns] (ts_ns is NAT_NS there, as for a simple packet
    # block, which has no time stamp and is no error); None when there is no such frame.
    time_out_of_range: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.offset)

    @property
    def linktype(self) -> np.ndarray:
        """Each frame's link type (0xFFFF for a frame whose interface id names no interface)."""
        return linktypes(self.interfaces, self.interface)


def linktypes(interfaces: list[Interface], interface: np.ndarray) -> np.ndarray:
    """The link type of each of the interface ids `interface` (0xFFFF for an id that names no interface)."""
    table = np.array([i.linktype for i in interfaces] + [0xFFFF], dtype=np.int64)
    return table[np.minimum(interface, len(interfaces))]


@dataclass
class ReadState:
    """What the walk knows between buffers: the format and, for pcapng, the current section's interfaces."""

    fmt: str  # "pcap" or "pcapng"
    little: bool = True
    interfaces: list[Interface] = field(default_factory=list)
    section_base: int = 0  # global index of the current section's first interface
    problem: str | None = None  # why reading stopped early, if it did
    frames_read: int = 0


def describe_magic(head: bytes) -> str:
    """A human description of a file's first bytes, for the "not a capture" error."""
    for magic, what in _OTHER_MAGICS.items():
        if head.startswith(magic):
            return what
    if not head:
        return "an empty file"
    shown = head[:8].hex(" ")
    text = head[:16].decode("ascii", "replace")
    printable = all(32 <= b < 127 or b in (9, 10, 13) for b in head[:16])
    return f"first bytes {shown}" + (f" ({text.strip()!r}, looks like text)" if printable else "")


def _parse_pcap_header(head: bytes, name: str) -> ReadState:
    if len(head) < 24:
        raise CaptureError(f"{name}: classic pcap header is truncated ({len(head)} of 24 bytes)")
    magic_le = struct.unpack_from("<I", head)[0]
    if magic_le in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
        little = True
    else:
        little = False
    endian = "<" if little else ">"
    magic, _vmaj, _vmin, _zone, _sigfigs, snaplen, linktype = struct.unpack_from(endian + "IHHiIII", head)
    divisor = 1_000_000_000 if magic == PCAP_MAGIC_NS else 1_000_000
    iface = Interface(0, linktype & 0xFFFF, snaplen, ts_divisor=divisor)
    return ReadState("pcap", little, [iface])


def sniff_format(head: bytes, name: str) -> str:
    """"pcap", "pcapng" or "gzip" from the first bytes, or CaptureError saying what the file looks like."""
    if head[:2] == GZIP_MAGIC:
        return "gzip"
    if len(head) >= 4:
        le = struct.unpack_from("<I", head)[0]
        be = struct.unpack_from(">I", head)[0]
        if le == PCAPNG_SHB:
            return "pcapng"
        if PCAP_MAGIC_US in (le, be) or PCAP_MAGIC_NS in (le, be):
            return "pcap"
        if PCAP_MAGIC_KUZNETZOV in (le, be):
            raise CaptureError(f"{name}: modified (Kuznetzov) pcap is not supported; convert it with editcap")
    raise CaptureError(f"{name}: not a pcap or pcapng capture ({describe_magic(head)})")


# --- the walks -------------------------------------------------------------------------------------------------

_PCAP_INCL = {True: struct.Struct("<8xI").unpack_from, False: struct.Struct(">8xI").unpack_from}


def _walk_pcap(buf, pos: int, end: int, little: bool, limit: int | None, max_len: int):
    """Record starts from `pos`; stops at `end`, at `limit` records, or at a record that does not fit.

    Returns (starts, next_pos, status): starts an int64 array; status is "ok" (walked to a clean boundary or the
    limit), "partial" (the next record runs past `end`) or an error string (absurd length).
    """
    starts = _Starts(limit)
    if _compiled is not None:
        while not starts.full:
            count, pos = _compiled_walk(buf, starts, pos, end, True, little, max_len)
            if count < starts.asked:
                break
    else:
        found, pos = _py_walk_pcap(buf, pos, end, little, limit if limit is not None else (end - pos) // 16 + 1,
                                   max_len)
        starts.extend(found)
    starts_array = starts.array()
    full = starts.full
    unpack = _PCAP_INCL[little]
    if pos <= end - 16 and not full:
        (incl,) = unpack(buf, pos)
        if incl > max_len:
            return starts_array, pos, f"record at byte offset {{offset}} has an absurd captured length ({incl} bytes)"
        return starts_array, pos, "partial"
    if pos < end and not full:
        return starts_array, pos, "partial"
    return starts_array, pos, "ok"


def _py_walk_pcap(buf, pos: int, end: int, little: bool, limit: int, max_len: int) -> tuple[list[int], int]:
    """The walk of _walk_pcap in Python (where the compiled one is not built): up to `limit` starts, and where the
    walk stopped (at `limit`, at the end, or at a record that does not fit)."""
    unpack = _PCAP_INCL[little]
    starts: list[int] = []
    append = starts.append
    last = end - 16
    # The hottest loop of the reader: a for over range() is cheaper than counting the records in a while.
    for _ in range(limit):
        if pos > last:
            break
        (incl,) = unpack(buf, pos)
        nxt = pos + 16 + incl
        if nxt > end or incl > max_len:
            break
        append(pos)
        pos = nxt
    return starts, pos


class _Starts:
    """Record starts of one walk, up to `limit` (None: no limit): int64 pieces of at most _WALK_STEP from the
    compiled walk (memory follows the records walked, never a length field), single starts from the Python walk."""

    def __init__(self, limit: int | None):
        self.limit = limit
        self.pieces: list[np.ndarray] = []
        self.pending: list[int] = []  # the Python walk's starts, after the pieces
        self.count = 0
        self.asked = 0

    @property
    def full(self) -> bool:
        return self.limit is not None and self.count >= self.limit

    def buffer(self) -> np.ndarray:
        """Room for the compiled walk's next piece."""
        self.asked = _WALK_STEP if self.limit is None else min(self.limit - self.count, _WALK_STEP)
        return np.empty(self.asked, dtype=np.int64)

    def add(self, piece: np.ndarray) -> None:
        self._flush()
        if len(piece):
            self.pieces.append(piece)
            self.count += len(piece)

    def append(self, pos: int) -> None:
        self.pending.append(pos)
        self.count += 1

    def extend(self, starts: list[int]) -> None:
        self.pending.extend(starts)
        self.count += len(starts)

    def _flush(self) -> None:
        if self.pending:
            self.pieces.append(np.array(self.pending, dtype=np.int64))
            self.pending = []

    def array(self) -> np.ndarray:
        self._flush()
        if len(self.pieces) == 1:
            return self.pieces[0]
        return np.concatenate(self.pieces) if self.pieces else np.zeros(0, dtype=np.int64)


def _compiled_walk(buf, starts: _Starts, pos: int, end: int, pcap: bool, little: bool, max_len: int) -> tuple[int, int]:
    """One step of the compiled walk into `starts`: (records found, where it stopped).  It stops where the Python
    walk would (end, a record that does not fit, an absurd length) and, in pcapng, before every section and
    interface block, which the Python walk reads."""
    out = starts.buffer()
    count, pos = _compiled.walk(buf, out, pos, end, pcap, little, max_len)
    starts.add(out[:count].copy() if count < len(out) // 2 else out[:count])
    return count, pos


def _parse_idb(buf, pos: int, blen: int, little: bool, index: int) -> Interface:
    endian = "<" if little else ">"
    linktype, _reserved, snaplen = struct.unpack_from(endian + "HHI", buf, pos + 8)
    iface = Interface(index, linktype, snaplen)
    opt = pos + 16
    stop = pos + blen - 4
    while opt + 4 <= stop:
        code, olen = struct.unpack_from(endian + "HH", buf, opt)
        if code == 0:
            break
        value = bytes(buf[opt + 4 : min(opt + 4 + olen, stop)])
        if code == IF_TSRESOL and olen >= 1 and value:
            resol = value[0]
            if resol & 0x80:
                iface.ts_binary_shift = min(resol & 0x7F, 62)
            else:
                iface.ts_divisor = 10 ** min(resol, 18)
        elif code == IF_TSOFFSET and olen >= 8 and len(value) >= 8:
            iface.ts_offset_s = struct.unpack_from(endian + "q", value)[0]
        elif code == IF_NAME:
            iface.name = value.rstrip(b"\0").decode("utf-8", "replace")
        opt += 4 + ((olen + 3) & ~3)
    return iface


def _walk_pcapng(buf, pos: int, end: int, state: ReadState, limit: int | None):
    """Packet-block starts from `pos`; reads section and interface blocks into `state`.

    Returns (starts, segments, next_pos, status) where `segments` lists (first index in starts, little-endian?,
    global index of the section's first interface, interfaces described so far) each time a section begins or an
    interface is described, plus one entry for the state at the start of the walk; status is as for _walk_pcap.
    Runs of packet blocks (and blocks skipped alike) are walked by the compiled walk where it is built; the Python
    loop reads the blocks it stops at (sections, interfaces, anything odd) and every block without it.
    """
    starts = _Starts(limit)
    append = starts.append
    little = state.little
    segments: list[tuple[int, bool, int, int]] = [(0, little, state.section_base, len(state.interfaces))]
    head = struct.Struct("<II" if little else ">II").unpack_from
    while pos + 12 <= end and not starts.full:
        if _compiled is not None:
            count, pos = _compiled_walk(buf, starts, pos, end, False, little, MAX_BLOCK)
            if count == starts.asked or pos + 12 > end:
                continue  # a full piece (walk on), or the end (the loop's test)
        btype, blen = head(buf, pos)
        if btype == PCAPNG_SHB:
            bom_le = struct.unpack_from("<I", buf, pos + 8)[0]
            if bom_le == PCAPNG_BYTE_ORDER_MAGIC:
                little = True
            elif struct.unpack_from(">I", buf, pos + 8)[0] == PCAPNG_BYTE_ORDER_MAGIC:
                little = False
            else:
                return (starts.array(), segments, pos,
                        "pcapng section header at byte offset {offset} has a bad byte-order magic")
            head = struct.Struct("<II" if little else ">II").unpack_from
            btype, blen = head(buf, pos)
        if blen < 12 or blen % 4 or blen > MAX_BLOCK:
            return (starts.array(), segments, pos,
                    f"pcapng block at byte offset {{offset}} has an absurd length ({blen} bytes)")
        if pos + blen > end:
            return starts.array(), segments, pos, "partial"
        if btype == PCAPNG_EPB or btype == PCAPNG_SPB or btype == PCAPNG_OPB:
            append(pos)
        elif btype == PCAPNG_SHB:
            state.little = little
            state.section_base = len(state.interfaces)
            segments.append((starts.count, little, state.section_base, len(state.interfaces)))
        elif btype == PCAPNG_IDB:
            if blen < 20:
                return (starts.array(), segments, pos,
                        f"pcapng interface block at byte offset {{offset}} is too short ({blen} bytes)")
            state.interfaces.append(_parse_idb(buf, pos, blen, little, len(state.interfaces)))
            segments.append((starts.count, little, state.section_base, len(state.interfaces)))
        pos += blen
    state.little = little
    if pos < end and not starts.full:
        return starts.array(), segments, pos, "partial"
    return starts.array(), segments, pos, "ok"


# --- record fields, vectorised ---------------------------------------------------------------------------------


class RecordIndex:
    """Where every record of a file (or of a block of it) starts, and how to read it.

    `segments` lists (first record index, little-endian?, global index of the section's first interface, interfaces
    described before the record): pcapng sections may differ in byte order; classic pcap has one segment.

    The starts are kept in parts of `part_size` records (the walk's steps).  An index lives as long as its capture,
    so a part the decode has read through is released (`release`, `compact`): then only the start of every 64th
    record is kept (the checkpoints, an eighth of a byte per record instead of four), and the others are found by
    walking the record headers from there again (`positions`).
    """

    __slots__ = ("segments", "_n", "_parts", "_part_size", "_checkpoints")

    def __init__(self, parts: list[np.ndarray], segments: list[tuple[int, bool, int, int]], part_size: int):
        """`parts`: the starts (uint32 under 4 GiB, else int64), `part_size` of them in every part but the last."""
        assert part_size % _INDEX_BLOCK == 0
        self.segments = segments
        self._parts: list[np.ndarray | None] = list(parts)
        self._part_size = part_size
        self._n = sum(len(p) for p in parts)
        self._checkpoints = (np.concatenate([p[::_INDEX_BLOCK] for p in parts]).astype(np.int64) if parts
                             else np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return self._n

    @property
    def compacted(self) -> bool:
        """True when no part of more than 64 records keeps its every start."""
        return all(p is None or len(p) <= _INDEX_BLOCK for p in self._parts)

    def release(self, below: int) -> None:
        """Records before `below` will not be read in bulk again: the parts wholly before it keep only their
        checkpoints.  (Parts of up to 64 records are kept: they cost less than the walk.)"""
        for k in range(min(below // self._part_size + (below >= self._n), len(self._parts))):
            part = self._parts[k]
            if part is not None and len(part) > _INDEX_BLOCK:
                self._parts[k] = None

    def compact(self) -> None:
        """Release every part (see `release`)."""
        self.release(self._n)

    @contextlib.contextmanager
    def expanded(self, data, state: ReadState):
        """Every start, for the time of a bulk read that asks for records all over the file many times (decryption
        reads payloads slice by slice); compact again after."""
        released = [k for k, p in enumerate(self._parts) if p is None]
        size = self._part_size
        dtype = np.uint32 if len(data) <= 1 << 32 else np.int64
        for k in released:
            records = np.arange(k * size, min((k + 1) * size, self._n))
            self._parts[k] = self.positions(records, data, state).astype(dtype)
        try:
            yield self
        finally:
            for k in released:
                self._parts[k] = None

    def positions(self, records: np.ndarray, data, state: ReadState) -> np.ndarray:
        """The int64 offsets in `data` (the buffer the index was made over) of the records `records`."""
        records = np.asarray(records, dtype=np.int64)
        if not len(records):
            return np.zeros(0, dtype=np.int64)
        part = records // self._part_size
        first = int(part[0])
        if self._parts[first] is not None and int(part.min()) == int(part.max()):  # a slice of one kept part
            return self._parts[first][records - first * self._part_size].astype(np.int64)
        kept = np.array([p is not None for p in self._parts], dtype=bool)[part]
        out = np.empty(len(records), dtype=np.int64)
        for k in np.unique(part[kept]).tolist():
            sel = part == k
            out[sel] = self._parts[k][records[sel] - k * self._part_size]
        if not kept.all():
            out[~kept] = self._walked(records[~kept], data, state)
        return out

    def _walked(self, records: np.ndarray, data, state: ReadState) -> np.ndarray:
        """positions() of records whose part was released: walked from the checkpoints."""
        block, within = np.divmod(records, _INDEX_BLOCK)
        blocks, slot = np.unique(block, return_inverse=True)
        counts = np.minimum(_INDEX_BLOCK, self._n - blocks * _INDEX_BLOCK)
        seg_first = np.array([sg[0] for sg in self.segments] or [0], dtype=np.int64)
        seg_little = np.array([sg[1] for sg in self.segments] or [state.little], dtype=bool)
        little = seg_little[np.searchsorted(seg_first, blocks * _INDEX_BLOCK, side="right") - 1]
        walked, slow = _lockstep_walk(data, self._checkpoints[blocks], counts, little, state.fmt == "pcap")
        # Blocks the lockstep walk leaves (a pcapng block other than a packet between two records): one at a time.
        for lane in np.flatnonzero(slow).tolist():
            count, pos = int(counts[lane]), int(self._checkpoints[blocks[lane]])
            if state.fmt == "pcap":
                starts = _walk_pcap(data, pos, len(data), state.little, count, _pcap_max_len(state))[0]
            else:
                starts = _walk_pcapng(data, pos, len(data), ReadState("pcapng", little=bool(little[lane])), count)[0]
            if len(starts) != count:  # the bytes are those the index was made from: this cannot happen
                first = int(blocks[lane]) * _INDEX_BLOCK
                raise CaptureError(f"record {first + len(starts) + 1} is no longer where the index found it")
            walked[lane, :count] = starts
        return walked[slot.reshape(-1), within]


def _lockstep_walk(data: np.ndarray, start: np.ndarray, counts: np.ndarray, little: np.ndarray,
                   pcap: bool) -> tuple[np.ndarray, np.ndarray]:
    """Record starts of many 64-record blocks at once, from each block's first start: step k reads the header of
    record k of every block together, so a pass over the whole file is 64 numpy steps rather than a Python loop
    per record.  Returns (starts, slow): `slow` marks the blocks this cannot walk (pcapng blocks other than packet
    blocks between records, or headers past the end), for the record-by-record walker."""
    walked = np.zeros((len(start), _INDEX_BLOCK), dtype=np.int64)
    slow = np.zeros(len(start), dtype=bool)
    pos = np.asarray(start, dtype=np.int64).copy()
    end = len(data)
    for k in range(_INDEX_BLOCK):
        walked[:, k] = pos
        lanes = np.flatnonzero((k + 1 < counts) & ~slow)  # blocks that have a record k + 1
        if not len(lanes):
            break
        p, le = pos[lanes], little[lanes]
        if pcap:
            fits = p + 16 <= end
            size = 16 + _u32_at(data, np.where(fits, p + 8, 0), le)
        else:
            fits = p + 8 <= end
            size = _u32_at(data, np.where(fits, p + 4, 0), le)
            fits &= (size >= 12) & (size % 4 == 0)
        nxt = p + size
        if not pcap:  # the next block must be a packet block, or the record-by-record walker takes this block
            fits &= nxt + 8 <= end
            fits &= np.isin(_u32_at(data, np.where(fits, nxt, 0), le), (PCAPNG_EPB, PCAPNG_SPB, PCAPNG_OPB))
        slow[lanes[~fits]] = True
        pos[lanes] = nxt
    return walked, slow


def _u32_at(data: np.ndarray, at: np.ndarray, little: np.ndarray) -> np.ndarray:
    """The 32-bit unsigned integers at byte offsets `at` of `data`, little- or big-endian per offset (int64)."""
    b = data[at[:, None] + np.arange(4)].astype(np.int64)
    le = b[:, 0] | b[:, 1] << 8 | b[:, 2] << 16 | b[:, 3] << 24
    be = b[:, 3] | b[:, 2] << 8 | b[:, 1] << 16 | b[:, 0] << 24
    return np.where(little, le, be)


_INDEX_BLOCK = 64


def make_batch(data: np.ndarray, index: RecordIndex, lo: int, hi: int, state: ReadState, first_frame: int,
               rows: np.ndarray | None = None) -> FrameBatch:
    """A FrameBatch for records lo..hi of `index` over the buffer `data` (with its own window, see buffer.py), or
    for the records `rows` (ascending record indexes; lo and hi ignored; first_frame is then only a label)."""
    records = np.arange(lo, hi, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
    source = ByteSource(data, index.positions(records, data, state))
    vstart = np.arange(len(records), dtype=np.int64) << ROW_SHIFT
    if state.fmt == "pcap":
        return _pcap_batch(source, vstart, state, first_frame)
    seg_first = np.array([sg[0] for sg in index.segments], dtype=np.int64)
    seg_index = np.searchsorted(seg_first, records, side="right") - 1
    little = np.array([sg[1] for sg in index.segments], dtype=bool)[seg_index]
    section_base = np.array([sg[2] for sg in index.segments], dtype=np.int64)[seg_index]
    known = np.array([sg[3] for sg in index.segments], dtype=np.int64)[seg_index]
    return _pcapng_batch(source, vstart, little, section_base, known, state, first_frame)


def first_time_ns(data: np.ndarray, index: RecordIndex, state: ReadState, step: int = 4096) -> int | None:
    """The time stamp (ns) of the first record of `index` that has one in range (not NaT: a simple packet block or
    a time out of range has none), or None; what `t` counts from."""
    for lo in range(0, len(index), step):
        ts = make_batch(data, index, lo, min(lo + step, len(index)), state, lo + 1).ts_ns
        valid = np.flatnonzero(ts != NAT_NS)
        if len(valid):
            return int(ts[valid[0]])
        step = min(step * 4, 1 << 20)
    return None


def _pcap_batch(source: ByteSource, pos: np.ndarray, state: ReadState, first_frame: int) -> FrameBatch:
    cur = source.at(pos)
    rd32 = cur.le32 if state.little else cur.be32
    iface = state.interfaces[0]
    sec = rd32(0).astype(np.int64)
    frac = rd32(4).astype(np.int64)
    caplen = rd32(8)
    length = rd32(12)
    scale = 1_000_000_000 // iface.ts_divisor
    ts = sec * 1_000_000_000 + frac * scale  # cannot overflow: under 2**32 s and 2**32 ticks
    return FrameBatch(
        source, first_frame, pos + 16, caplen.astype(np.uint32), length.astype(np.uint32), ts,
        np.zeros(len(pos), dtype=np.uint16), state.interfaces,
    )


def _pcapng_batch(source: ByteSource, pos: np.ndarray, little: np.ndarray, section_base: np.ndarray,
                  known: np.ndarray, state: ReadState, first_frame: int) -> FrameBatch:
    n = len(pos)

    def rd32(off):
        return np.where(little, source.le32(off), source.be32(off)).astype(np.int64)

    def rd16(off):
        return np.where(little, source.le16(off), source.be16(off)).astype(np.int64)

    btype = rd32(pos)
    blen = rd32(pos + 4)
    is_epb = btype == PCAPNG_EPB
    is_opb = btype == PCAPNG_OPB
    is_spb = btype == PCAPNG_SPB
    # Interface ids are per section; map them to the global list built during the walk.
    local_if = np.where(is_epb, rd32(pos + 8), np.where(is_opb, rd16(pos + 8), 0))
    global_if = local_if + section_base
    n_if = len(state.interfaces)
    # An id naming no interface keeps its (out of range) value, so that the row can say so; lookups use 0.
    bad_if = (global_if >= n_if) | (local_if < 0)
    lookup_if = np.where(bad_if, 0, global_if)
    ticks = (rd32(pos + 12).astype(np.uint64) << np.uint64(32)) | rd32(pos + 16).astype(np.uint64)
    caplen = np.where(is_spb, 0, rd32(pos + 20))
    length = np.where(is_spb, rd32(pos + 8), rd32(pos + 24))
    hdr = np.where(is_spb, 12, 28)
    data_off = pos + hdr
    room = blen - 4 - hdr
    # SPB has no captured length: it is the original length cut to the interface's snaplen and to the block.
    snaplens = np.array([i.snaplen or MAX_BLOCK for i in state.interfaces] or [MAX_BLOCK], dtype=np.int64)
    caplen = np.where(is_spb, np.minimum(length, snaplens[lookup_if] if n_if else length), caplen)
    caplen = np.clip(np.minimum(caplen, room), 0, None)
    # A packet block before the interface block its id names: the id names nothing yet (the walk's later
    # interfaces must not lend it their link type or time resolution).  SPBs use interface 0, which must come
    # before them too.
    defined = global_if < known
    ts = np.full(n, NAT_NS, dtype=np.int64)  # a simple packet block has no time stamp: NaT, not 1970
    for i, iface in enumerate(state.interfaces):
        sel = (lookup_if == i) & ~is_spb & defined
        if sel.any():
            ts[sel] = iface.ticks_to_ns(ticks[sel])
    interface = np.minimum(np.where(local_if < 0, 0xFFFF, global_if), 0xFFFF).astype(np.uint16)
    out_of_range = (ts == NAT_NS) & ~is_spb & defined & ~bad_if
    return FrameBatch(
        source, first_frame, data_off, caplen.astype(np.uint32), length.astype(np.uint32), ts, interface,
        state.interfaces, None if defined.all() else defined, out_of_range if out_of_range.any() else None,
    )


_WALK_STEP = 1 << 16  # records walked between conversions to numpy (keeps the Python list small)


def _walk(buf, pos: int, end: int, state: ReadState, limit: int | None, progress=None):
    """Walk records from `pos`, in steps, into a RecordIndex. Returns (index, next_pos, status)."""
    parts: list[np.ndarray] = []
    segments: list[tuple[int, bool, int, int]] = []
    count = 0
    status = "ok"
    offset_dtype = np.uint32 if end <= 1 << 32 else np.int64
    while limit is None or count < limit:
        step = _WALK_STEP if limit is None else min(_WALK_STEP, limit - count)
        if state.fmt == "pcap":
            starts, pos, status = _walk_pcap(buf, pos, end, state.little, step, _pcap_max_len(state))
            if not segments:
                segments.append((0, state.little, 0, 1))
        else:
            starts, segs, pos, status = _walk_pcapng(buf, pos, end, state, step)
            segments.extend((count + first, little, base, known) for first, little, base, known in segs)
        if len(starts):
            parts.append(starts.astype(offset_dtype))
        count += len(starts)
        if progress is not None:
            progress(pos)
        if status != "ok" or len(starts) < step:
            break
    return RecordIndex(parts, segments or [(0, state.little, state.section_base, len(state.interfaces))],
                       _WALK_STEP), pos, status


def _pcap_max_len(state: ReadState) -> int:
    return max(MAX_PACKET, min(state.interfaces[0].snaplen, MAX_BLOCK))


def read_all(path: str | os.PathLike, progress=None) -> tuple[np.ndarray, RecordIndex, ReadState, object]:
    """Index every record of the file (the file is memory-mapped, or decompressed in memory).

    Returns the file's bytes, the record index, the read state (its `problem` says why reading stopped early, if
    it did) and the object that owns the bytes (keep it alive as long as the bytes are used).  `progress`, if given,
    is called with the number of bytes walked so far.
    """
    name = os.fspath(path)
    data, owner, gzip_problem = _open_bytes(path)
    head = data[:64].tobytes()
    if gzip_problem and len(data) < 24:
        raise CaptureError(f"{name}: {gzip_problem}, before the capture's header")
    fmt = sniff_format(head, name)
    if fmt == "gzip":
        raise CaptureError(f"{name}: gzip stream holds another gzip stream, not a capture")
    state = _parse_pcap_header(head, name) if fmt == "pcap" else ReadState("pcapng")
    start = 24 if fmt == "pcap" else 0
    index, pos, status = _walk(owner if owner is not None else b"", start, len(data), state, None, progress)
    _note_status(state, status, pos, len(data), len(index))
    if gzip_problem:
        state.problem = gzip_problem + (f"; {state.problem}" if state.problem else "")
    return data, index, state, owner


def iter_batches(path: str | os.PathLike, frames: int, block_bytes: int = 32 << 20,
                 progress=None) -> Iterator[tuple[np.ndarray, RecordIndex, ReadState, int]]:
    """The file's records in blocks of at most `frames`, reading `block_bytes` at a time (bounded memory).

    Yields (buffer, index, state, first_frame): `index` addresses records in `buffer`.  After the last block,
    `state.problem` says why reading stopped early, if it did.  `progress`, if given, is called with the number of
    (decompressed) bytes consumed so far.
    """
    name = os.fspath(path)
    if frames < 1:
        raise ValueError("frames per batch must be at least 1")
    with _capture_file(name) as (raw, gzipped):
        stream: BinaryIO = raw
        head = raw.read(64)
        gz = None
        if gzipped:
            raw.seek(0)
            gz = _GzipStream(raw)
            head = gz.read(64)
            raw.seek(0)
            gz = _GzipStream(raw)
            stream = gz  # type: ignore[assignment]
        fmt = sniff_format(head, name)
        if fmt == "gzip":
            raise CaptureError(f"{name}: gzip stream holds another gzip stream, not a capture")
        state = _parse_pcap_header(head, name) if fmt == "pcap" else ReadState("pcapng")
        if gz is None:
            stream.seek(0)
        buf = _read_or_fail(stream, block_bytes, name)
        pos = 24 if fmt == "pcap" else 0
        consumed = 0  # file offset of buf[0]
        eof = False
        first_frame = 1
        while True:
            if not eof and len(buf) - pos < block_bytes:
                chunk = _read_or_fail(stream, block_bytes, name)
                eof = not chunk
                consumed += pos
                buf = buf[pos:] + chunk
                pos = 0
            index, pos, status = _walk(buf, pos, len(buf), state, frames)
            if progress is not None:
                progress(consumed + pos)
            if len(index):
                yield np.frombuffer(buf, dtype=np.uint8), index, state, first_frame
                first_frame += len(index)
            if status == "ok" and (pos < len(buf) or not eof):
                continue  # the block was full, or the buffer ended on a record boundary
            if status == "partial" and not eof:
                # The next record straddles the end of the buffer; the refill above reads on.
                block_bytes = max(block_bytes, len(buf) - pos + 1)
                continue
            state.frames_read = first_frame - 1
            _note_status(state, status, consumed + pos, consumed + len(buf), 0)
            if gz is not None and gz.problem:
                state.problem = gz.problem + (f"; {state.problem}" if state.problem else "")
            return


def _read_or_fail(stream, size: int, name: str) -> bytes:
    try:
        return stream.read(size)
    except (OSError, EOFError) as exc:
        raise CaptureError(f"{name}: cannot read ({exc})") from None


def _note_status(state: ReadState, status: str, pos: int, end: int, count: int) -> None:
    state.frames_read += count
    if status == "partial":
        state.problem = (
            f"file is cut short: the record at byte offset {pos} runs past the end of the file "
            f"({end - pos} bytes left); {state.frames_read} complete frames were read"
        )
    elif status not in ("ok",):
        state.problem = status.format(offset=pos) + f"; reading stopped there, {state.frames_read} frames were read"
