"""The RTCP common header (RFC 3550 §6.4.1, RFC 4585 §6.1) and the bulk walk of compound datagrams.

Strategy: `parse_header` decodes one common header and `packet_bytes` writes one; `walk_compound` follows the length
fields of many compound datagrams at once (numpy, one iteration per sub-packet depth) and yields one row per
sub-packet (the bulk path: only the common header and sender SSRC).  The records of each packet type live in
`rtcp` (SR, RR, SDES, BYE, APP, XR) and `rtcp_feedback` (RTPFB/PSFB), both built on this header.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from ..io.buffer import ByteSource
from ..io.errors import DecodeError

RTCP_HEADER_LEN = 4  # RFC 3550 §6.4.1: V, P, RC, PT, length
RTCP_VERSION = 2


class PacketType(IntEnum):
    """RTCP packet types (RFC 3550 §12.1, RFC 4585 §6.1, RFC 3611, RFC 5760)."""

    FIR_OLD = 192  # RFC 2032
    NACK_OLD = 193  # RFC 2032
    SMPTETC = 194
    IJ = 195  # extended jitter report, RFC 5450
    SR = 200
    RR = 201
    SDES = 202
    BYE = 203
    APP = 204
    RTPFB = 205  # transport-layer feedback, RFC 4585
    PSFB = 206  # payload-specific feedback, RFC 4585
    XR = 207  # RFC 3611
    AVB = 208
    RSI = 209  # RFC 5760


FEEDBACK_TYPES = (PacketType.RTPFB, PacketType.PSFB)


@dataclass(frozen=True, slots=True)
class RtcpHeader:
    """An RTCP common header (RFC 3550 §6.4.1) and its sender SSRC (None if the packet is only 4 bytes long).

    `count` is RC/SC for SR, RR, SDES, BYE and FMT for feedback packets (RFC 4585 §6.1).
    """

    packet_type: int
    count: int
    length_words: int  # the length field: packet length in 32-bit words minus one
    sender_ssrc: int | None
    padding: bool = False

    @property
    def length_bytes(self) -> int:
        return (self.length_words + 1) * 4

    def __bytes__(self) -> bytes:
        out = struct.pack(">BBH", (RTCP_VERSION << 6) | (0x20 if self.padding else 0) | self.count,
                          self.packet_type, self.length_words)
        return out + (struct.pack(">I", self.sender_ssrc) if self.sender_ssrc is not None else b"")


def parse_header(data: bytes) -> RtcpHeader:
    """The RTCP header at the start of `data`; DecodeError if it is not one or its length overruns `data`."""
    if len(data) < RTCP_HEADER_LEN:
        raise DecodeError(f"RTCP header is truncated ({len(data)} of {RTCP_HEADER_LEN} bytes)")
    b0, pt, words = struct.unpack_from(">BBH", data)
    if b0 >> 6 != RTCP_VERSION:
        raise DecodeError(f"RTCP version is {b0 >> 6}, not 2")
    length = (words + 1) * 4
    if length > len(data):
        raise DecodeError(f"RTCP length field ({length} bytes) overruns the datagram ({len(data)} bytes)")
    ssrc = struct.unpack_from(">I", data, 4)[0] if length >= 8 else None
    return RtcpHeader(pt, b0 & 0x1F, words, ssrc, bool(b0 & 0x20))


def split_compound(data: bytes) -> list[RtcpHeader]:
    """Every sub-packet header of a compound RTCP datagram; DecodeError if the lengths do not chain to its end."""
    out = []
    pos = 0
    while pos < len(data):
        header = parse_header(data[pos:])
        out.append(header)
        pos += header.length_bytes
    return out


def packet_bytes(packet_type: int, count: int, body: bytes, padding: bytes) -> bytes:
    """One RTCP packet's bytes: the common header (its length field counted from the body and padding, RFC 3550
    §6.4.1) followed by `body` and `padding`; DecodeError when the total is not whole 32-bit words or `count` does
    not fit 5 bits."""
    total = RTCP_HEADER_LEN + len(body) + len(padding)
    if total % 4:
        raise DecodeError(f"RTCP packet length {total} is not a multiple of 4 bytes")
    if not 0 <= count <= 31:
        raise DecodeError(f"RTCP count {count} does not fit 5 bits")
    b0 = (RTCP_VERSION << 6) | (0x20 if padding else 0) | count
    return struct.pack(">BBH", b0, packet_type, total // 4 - 1) + body + padding


# Vectorised -------------------------------------------------------------------------------------------------------

COMPOUND_EXACT = 0  # the sub-packets' lengths add up to the datagram exactly
COMPOUND_OVERRUN = 1  # a length field runs past the end of the datagram
COMPOUND_BAD_HEADER = 2  # a sub-packet after the first is not an RTCP header (version or type)
COMPOUND_ONLY_FIRST = 3  # the caller asked for the first header only (SRTCP: the rest is ciphertext)
COMPOUND_TRUNCATED = 4  # the capture holds less than the datagram
COMPOUND_MESSAGES = {
    COMPOUND_OVERRUN: "RTCP length field overruns the datagram",
    COMPOUND_BAD_HEADER: "RTCP compound has bytes that are not an RTCP header",
    COMPOUND_TRUNCATED: "RTCP compound is truncated by snaplen",
}

_MAX_DEPTH = 64  # more sub-packets than this in one datagram is not RTCP anyone sends


def walk_compound(src: ByteSource, off: np.ndarray, cap: np.ndarray, wire_len: np.ndarray,
                  first_only: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Split many compound RTCP datagrams into sub-packet rows at once.

    Returns (rows, status): `rows` has arrays `datagram` (index into the inputs), `index` (position in the
    compound, from 0), `pt`, `count` (RC/SC/FMT), `padding`, `sender_ssrc` (uint32), `has_ssrc`, `length_bytes`
    and `offset`; `status` has one COMPOUND_* code per datagram.  Where `first_only` is set only the first header is
    read (the rest of an SRTCP packet is ciphertext and a trailer).  A first header that is not RTCP gives no row.
    """
    n = len(off)
    status = np.full(n, COMPOUND_EXACT, dtype=np.uint8)
    avail = np.minimum(cap, wire_len).astype(np.int64)
    pos = np.zeros(n, dtype=np.int64)
    active = np.arange(n)
    parts: list[dict[str, np.ndarray]] = []
    for depth in range(_MAX_DEPTH):
        if not len(active):
            break
        at = off[active] + pos[active]
        left = avail[active] - pos[active]
        has_hdr = left >= RTCP_HEADER_LEN
        cur = src.at(at, has_hdr)
        b0 = cur.u8(0)
        pt = cur.u8(1)
        words = cur.be16(2).astype(np.int64)
        length = (words + 1) * 4
        valid = has_hdr & ((b0 >> 6) == RTCP_VERSION) & (pt >= 192) & (pt <= 223)
        cut = ~has_hdr & (wire_len[active] > cap[active])
        status[active[~valid & (depth > 0)]] = COMPOUND_BAD_HEADER
        status[active[cut]] = COMPOUND_TRUNCATED
        if depth == 0:
            status[active[~valid & ~cut]] = COMPOUND_BAD_HEADER
        fits = valid & (pos[active] + length <= wire_len[active])
        status[active[valid & ~fits]] = COMPOUND_OVERRUN
        ssrc_ok = valid & (length >= 8) & (left >= 8)
        parts.append({
            "datagram": active[valid], "index": np.full(int(valid.sum()), depth, dtype=np.uint16),
            "pt": pt[valid].astype(np.uint8), "count": (b0[valid] & 0x1F).astype(np.uint8),
            "padding": (b0[valid] & 0x20) != 0,
            "sender_ssrc": np.where(ssrc_ok, cur.be32(4), 0)[valid], "has_ssrc": ssrc_ok[valid],
            "length_bytes": np.minimum(length[valid], 0xFFFF * 4 + 4).astype(np.int32),
            "offset": (pos[active])[valid],
        })
        pos[active] += np.where(fits, length, 0)
        nxt = fits & (pos[active] < wire_len[active])
        if first_only is not None:
            stop_here = nxt & first_only[active]
            status[active[stop_here]] = COMPOUND_ONLY_FIRST
            nxt &= ~first_only[active]
        active = active[nxt]
    status[active] = COMPOUND_BAD_HEADER  # deeper than _MAX_DEPTH
    if not parts:
        empty = {k: np.zeros(0, dtype=t) for k, t in (("datagram", np.int64), ("index", np.uint16), ("pt", np.uint8),
                 ("count", np.uint8), ("padding", bool), ("sender_ssrc", np.uint32), ("has_ssrc", bool),
                 ("length_bytes", np.int32), ("offset", np.int64))}
        return empty, status
    rows = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort((rows["index"], rows["datagram"]))
    return {k: v[order] for k, v in rows.items()}, status
