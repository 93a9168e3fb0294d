"""How many frames a reader must give for a file: an independent walk of the documented rules.

The rules (webrtcpcap.io.reader's module docstring and the issue): records chain by their lengths; a record whose
length is absurd (a classic pcap record over max(262,144, min(snaplen, 16 MiB)) bytes; a pcapng block under 12
bytes, not a multiple of 4 or over 16 MiB; an interface block under 20 bytes; a section header with a bad
byte-order magic) or that runs past the end stops the walk, and every frame before it is kept.  pcapng counts
enhanced, simple and obsolete packet blocks.  A gzip file holds the capture (members read one after the other);
every frame that decompresses before a damage point is kept: the reader may lose up to GZIP_SLACK bytes of
output before the damage (a stream reader's window), never more.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAX_PACKET = 262_144
MAX_BLOCK = 16 * 1024 * 1024
GZIP_SLACK = 64 * 1024


@dataclass
class Expected:
    """`readable`: True, the file is a capture (open() must not raise CaptureError); False, it is not (open() must
    raise it); None, either (a damaged gzip stream whose readable part is too short to tell).  Frames: lo..hi."""

    readable: bool | None
    lo: int = 0
    hi: int = 0
    why: str = ""


def inflate(data: bytes) -> tuple[bytes, bool]:
    """Everything that decompresses (concatenated members in turn) and whether the stream was damaged or cut."""
    out: list[bytes] = []
    rest = data
    while True:
        d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        i = 0
        while i < len(rest) and not d.eof:
            before = d.copy()
            try:
                out.append(d.decompress(rest[i : i + 4096]))
            except zlib.error:
                # zlib drops the output of a call that fails: feed that step again byte by byte, keeping it all
                for j in range(i, min(i + 4096, len(rest))):
                    try:
                        out.append(before.decompress(rest[j : j + 1]))
                    except zlib.error:
                        break
                return b"".join(out), True
            i += 4096
        if not d.eof:
            return b"".join(out), True
        rest = d.unused_data + rest[i:]
        if not rest:
            return b"".join(out), False


def count_frames(data: bytes) -> tuple[int | None, str]:
    """Frames of a plain capture, or None (and why) when it is not one."""
    if len(data) >= 4:
        le, be = struct.unpack_from("<I", data)[0], struct.unpack_from(">I", data)[0]
        if le == 0x0A0D0D0A:
            return _pcapng(data), ""
        for magic in (0xA1B2C3D4, 0xA1B23C4D):
            if magic in (le, be):
                if len(data) < 24:
                    return None, "pcap header cut"
                return _pcap(data, le == magic), ""
    return None, "not a capture"


def _pcap(data: bytes, little: bool) -> int:
    e = "<" if little else ">"
    snaplen = struct.unpack_from(e + "I", data, 16)[0]
    max_len = max(MAX_PACKET, min(snaplen, MAX_BLOCK))
    n, pos = 0, 24
    while pos + 16 <= len(data):
        incl = struct.unpack_from(e + "I", data, pos + 8)[0]
        if incl > max_len or pos + 16 + incl > len(data):
            break
        n += 1
        pos += 16 + incl
    return n


def _pcapng(data: bytes) -> int:
    n, pos, e = 0, 0, "<"
    while pos + 12 <= len(data):
        btype = struct.unpack_from(e + "I", data, pos)[0]
        if btype == 0x0A0D0D0A:
            if struct.unpack_from("<I", data, pos + 8)[0] == 0x1A2B3C4D:
                e = "<"
            elif struct.unpack_from(">I", data, pos + 8)[0] == 0x1A2B3C4D:
                e = ">"
            else:
                break
        blen = struct.unpack_from(e + "I", data, pos + 4)[0]
        if blen < 12 or blen % 4 or blen > MAX_BLOCK or pos + blen > len(data):
            break
        if btype in (2, 3, 6):
            n += 1
        elif btype == 1 and blen < 20:
            break
        pos += blen
    return n


def expected(data: bytes) -> Expected:
    if data[:2] != b"\x1f\x8b":
        n, why = count_frames(data)
        return Expected(False, why=why) if n is None else Expected(True, n, n)
    plain, damaged = inflate(data)
    if plain[:2] == b"\x1f\x8b":
        return Expected(False, why="gzip inside gzip")
    n, why = count_frames(plain)
    if n is None:
        # a damaged stream may leave too few bytes to tell; the reader may say either
        return Expected(False, why=why) if not damaged else Expected(None, 0, 0, "gzip damaged, " + why)
    if not damaged:
        return Expected(True, n, n)
    lo, _ = count_frames(plain[: max(len(plain) - GZIP_SLACK, 0)])
    return Expected(True if lo is not None else None, lo or 0, n, "gzip damaged")
