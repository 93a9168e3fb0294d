"""Capture files opened as bytes: a plain file memory-mapped, a gzip file inflated in a bounded window (_GzipStream)
that keeps what decompresses before damage or an early end, and the size a file expands to.  The reader
(io/reader.py) walks the records of what these give."""

from __future__ import annotations

import contextlib
import mmap
import os
import tempfile
import zlib
from typing import BinaryIO

import numpy as np

from .errors import CaptureError

GZIP_MAGIC = b"\x1f\x8b"

class _GzipStream:
    """A gzip file read as a stream, in a bounded window, that keeps what decompresses before damage or an early end.

    gzip.GzipFile raises on a cut-short file and loses the tail it already decompressed; a capture cut short is
    normal input here, so this reader stops cleanly instead and says why, with the compressed byte offset, in
    `problem`.  Input goes to zlib GZIP_INPUT_STEP bytes at a time and output comes out at most GZIP_OUTPUT_STEP
    bytes a call, so a small file that expands a thousandfold never sits in memory whole.  When zlib fails, the
    input of the failing call is fed again byte by byte from a copy of the state before it, so every byte before
    the damage point is kept (a file whose only damage is its CRC trailer keeps every frame).  Concatenated gzip
    members are read one after the other.
    """

    def __init__(self, raw: BinaryIO):
        self.raw = raw
        self.inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        self.buffer = bytearray()  # decompressed, not yet returned (under GZIP_OUTPUT_STEP + the size asked)
        self.tail = b""  # compressed input not yet consumed by zlib
        self.consumed = 0  # compressed bytes zlib has consumed (the offset of `tail` in the file)
        self.done = False
        self.problem: str | None = None
        self.produced = 0  # decompressed bytes returned by read()

    def read(self, size: int) -> bytes:
        while len(self.buffer) < size and not self.done:
            self.buffer += self._more()
        result = bytes(self.buffer[:size])
        del self.buffer[:size]
        self.produced += len(result)
        return result

    def _more(self) -> bytes:
        """Up to GZIP_OUTPUT_STEP more decompressed bytes (b"" only when done)."""
        while not self.done:
            if not self.tail:
                self.tail = self.raw.read(GZIP_INPUT_STEP)
                if not self.tail:
                    if self.inflater.eof:
                        self.done = True
                    else:
                        self._stop("gzip stream ends early (the file is cut short)")
                    return b""
            if self.inflater.eof:  # another gzip member follows
                self.inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            data, saved = self.tail, self.inflater.copy()
            try:
                out = self.inflater.decompress(data, GZIP_OUTPUT_STEP)
            except zlib.error as exc:
                return self._salvage(saved, data, exc)
            left = self.inflater.unused_data if self.inflater.eof else self.inflater.unconsumed_tail
            self.consumed += len(data) - len(left)
            self.tail = left
            if out:
                return out
        return b""

    def _salvage(self, inflater, data: bytes, exc: zlib.error) -> bytes:
        """What `data` decompresses to before the byte where zlib fails, fed byte by byte from `inflater` (the
        state before the failing call); stops the stream with the damage's offset."""
        out = []
        at = 0
        for at in range(len(data)):
            try:
                out.append(inflater.decompress(data[at:at + 1]))
            except zlib.error:
                break
        kept = sum(map(len, out))
        self._stop(f"gzip stream is damaged at compressed byte offset {self.consumed + at} ({exc}); the "
                   f"{self.produced + len(self.buffer) + kept} bytes before it were read")
        return b"".join(out)

    def _stop(self, problem: str) -> None:
        self.problem = problem
        self.done = True


GZIP_INPUT_STEP = 16 << 10  # compressed bytes per zlib call: what damage can cost to find again, byte by byte
GZIP_OUTPUT_STEP = 1 << 20  # decompressed bytes per zlib call
# open() keeps a decompressed capture in memory up to this size; beyond it, in an unlinked temporary file that is
# memory-mapped (a small .pcap.gz may expand to many GiB: disk, not memory).
GZIP_IN_MEMORY_BYTES = 64 << 20


def _inflate_all(fh: BinaryIO) -> tuple[np.ndarray, object, str | None]:
    stream = _GzipStream(fh)
    parts: list[bytes] = []
    total = 0
    spill = None
    while True:
        piece = stream.read(16 << 20)
        if not piece:
            break
        total += len(piece)
        if spill is None and total > GZIP_IN_MEMORY_BYTES:
            spill = tempfile.TemporaryFile(prefix="webrtcpcap-")
            for part in parts:
                spill.write(part)
            parts = []
        if spill is not None:
            spill.write(piece)
        else:
            parts.append(piece)
    if spill is None:
        data = b"".join(parts)
        return np.frombuffer(data, dtype=np.uint8), data, stream.problem
    with spill:
        spill.flush()
        mapped = mmap.mmap(spill.fileno(), 0, access=mmap.ACCESS_READ)  # stays valid once the file is closed
    return np.frombuffer(mapped, dtype=np.uint8), mapped, stream.problem


@contextlib.contextmanager
def _capture_file(path: str | os.PathLike):
    """The capture file open for binary reading at its start, and whether it is gzip-compressed (its first two
    bytes); a CaptureError naming the file when it cannot be opened."""
    name = os.fspath(path)
    try:
        fh = open(name, "rb")
    except OSError as exc:
        raise CaptureError(f"{name}: cannot open ({exc.strerror or exc})") from None
    with fh:
        gzipped = fh.read(2) == GZIP_MAGIC
        fh.seek(0)
        yield fh, gzipped


def expanded_size(path: str | os.PathLike, stop_above: int) -> int:
    """The size of the capture's bytes once decompressed (the file's size when it is not gzip), counted by reading
    the gzip stream in its bounded window; counting stops at the first byte above `stop_above` (the result is then
    stop_above + 1).  What decides between reading whole and in chunks."""
    with _capture_file(path) as (fh, gzipped):
        if not gzipped:
            return os.fstat(fh.fileno()).st_size
        stream = _GzipStream(fh)
        total = 0
        while total <= stop_above:
            piece = stream._more()
            if not piece:
                break
            total += len(piece)
        return min(total, stop_above + 1)


def _open_bytes(path: str | os.PathLike) -> tuple[np.ndarray, object, str | None]:
    """The whole (decompressed) file as a uint8 array, the object keeping its memory alive, and a problem with
    the gzip layer (None when there is none or the file is not compressed)."""
    with _capture_file(path) as (fh, gzipped):
        if gzipped:
            return _inflate_all(fh)
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            return np.zeros(0, dtype=np.uint8), None, None
        populate = getattr(mmap, "MAP_POPULATE", 0)  # Linux: fault the pages in at once, not one by one
        if populate:
            mapped = mmap.mmap(fh.fileno(), 0, flags=mmap.MAP_SHARED | populate, prot=mmap.PROT_READ)
        else:
            mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        return np.frombuffer(mapped, dtype=np.uint8), mapped, None
