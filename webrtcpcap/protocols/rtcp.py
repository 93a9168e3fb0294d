"""RTCP packet headers and compound packets (RFC 3550 §6.4–6.6, RFC 4585 feedback, RFC 5104, RFC 5506 reduced size,
REMB and transport-cc drafts).

Strategy: `parse_header` decodes one common header; `walk_compound` follows the length fields of many compound
datagrams at once (numpy, one iteration per sub-packet depth) and yields one row per sub-packet (the bulk path: only
the common header and sender SSRC).  `parse_compound` is the rich path, per datagram: every packet as a record (SR,
RR and their report blocks, SDES, BYE, APP; feedback and XR kept raw), with `__bytes__` to write it back;
`parse_feedback` decodes a raw feedback record's FCI (NACK, TMMBR/TMMBN, transport-cc, PLI, SLI, RPSI, FIR, REMB).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Union

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


# Rich decoding: every packet of a compound as a record (RFC 3550 §6.4–6.7, RFC 4585 §6.1, RFC 3611 §3) ----------
#
# Strategy: `parse_compound` splits a plaintext compound (RTCP, or SRTCP once decrypted) by its length fields and
# hands each packet's body (after the 4-byte header, without padding) to one parser per packet type, dispatched in
# `_PARSERS`.  Every record knows how to write itself back (`__bytes__`), so bytes(record) == the packet for every
# packet written the canonical way (zero padding where RFC 3550 asks for it).  Feedback (RTPFB/PSFB) and XR blocks
# are kept raw here (FCI bytes, block bytes); their rich decoders build on these records.

REPORT_BLOCK_LEN = 24  # RFC 3550 §6.4.1
SENDER_INFO_LEN = 20  # RFC 3550 §6.4.1: NTP timestamp (8), RTP timestamp, packet count, octet count
NTP_UNIX_OFFSET = 2_208_988_800  # seconds from 1900-01-01 (NTP era 0) to 1970-01-01


class SdesType(IntEnum):
    """SDES item types (RFC 3550 §6.5, §12.2; RFC 7941 for MID and RtpStreamId, RFC 8852)."""

    END = 0
    CNAME = 1  # RFC 3550 §6.5.1
    NAME = 2
    EMAIL = 3
    PHONE = 4
    LOC = 5
    TOOL = 6
    NOTE = 7
    PRIV = 8  # RFC 3550 §6.5.8
    H323_CADDR = 9  # RFC 3550 §12.2
    APSI = 10  # RFC 6776
    RGRP = 11  # RFC 8861
    RTPSTREAMID = 12  # RFC 8852
    REPAIREDRTPSTREAMID = 13  # RFC 8852
    CCID = 14  # RFC 8849
    MID = 15  # RFC 9143 §15


def sdes_item_name(item_type: int) -> str:
    """The lower-case name of an SDES item type ("cname"), or "type N" for one this module does not know."""
    try:
        return SdesType(item_type).name.lower()
    except ValueError:
        return f"type {item_type}"


def _text(raw: bytes) -> str:
    # SDES and BYE text is UTF-8 (RFC 3550 §6.5); invalid bytes are kept as surrogates, so encoding gives them back.
    return raw.decode("utf-8", "surrogateescape")


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _header(packet_type: int, count: int, body: bytes, padding: bytes) -> bytes:
    total = RTCP_HEADER_LEN + len(body) + len(padding)
    if total % 4:
        raise DecodeError(f"RTCP packet length {total} is not a multiple of 4 bytes")
    if not 0 <= count <= 31:
        raise DecodeError(f"RTCP count {count} does not fit 5 bits")
    b0 = (RTCP_VERSION << 6) | (0x20 if padding else 0) | count
    return struct.pack(">BBH", b0, packet_type, total // 4 - 1) + body + padding


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """One reception report block (RFC 3550 §6.4.1): `ssrc` is the source it reports on (SSRC_n),
    `fraction_lost` the 8-bit fixed-point fraction (lost/256), `packets_lost` the signed 24-bit cumulative count,
    `highest_sequence` the extended highest sequence number received (cycles << 16 | seq), `jitter` in the
    source's RTP timestamp units, `lsr` the middle 32 bits of the last SR's NTP timestamp and `dlsr` the delay since
    it, in 1/65536 s."""

    ssrc: int
    fraction_lost: int
    packets_lost: int
    highest_sequence: int
    jitter: int
    lsr: int
    dlsr: int

    def __bytes__(self) -> bytes:
        if not -(1 << 23) <= self.packets_lost < (1 << 23):
            raise DecodeError(f"RTCP report block cumulative loss {self.packets_lost} does not fit 24 bits")
        return struct.pack(">IB", self.ssrc, self.fraction_lost) + (self.packets_lost & 0xFFFFFF).to_bytes(3, "big") \
            + struct.pack(">IIII", self.highest_sequence, self.jitter, self.lsr, self.dlsr)

    @classmethod
    def parse(cls, data: bytes, at: int = 0) -> "ReportBlock":
        if len(data) < at + REPORT_BLOCK_LEN:
            raise DecodeError(f"RTCP report block is truncated ({len(data) - at} of {REPORT_BLOCK_LEN} bytes)")
        ssrc, word, high, jitter, lsr, dlsr = struct.unpack_from(">IIIIII", data, at)
        lost = word & 0xFFFFFF
        return cls(ssrc, word >> 24, lost - (1 << 24) if lost & 0x800000 else lost, high, jitter, lsr, dlsr)


def _report_blocks(body: bytes, at: int, count: int, part: str) -> tuple[tuple[ReportBlock, ...], bytes]:
    need = at + REPORT_BLOCK_LEN * count
    if len(body) < need:
        raise DecodeError(f"RTCP {part} report count {count} needs {need + 4} bytes, the packet has {len(body) + 4}")
    blocks = tuple(ReportBlock.parse(body, at + REPORT_BLOCK_LEN * i) for i in range(count))
    return blocks, bytes(body[need:])


@dataclass(frozen=True, slots=True)
class SenderReport:
    """SR (RFC 3550 §6.4.1): the sender's `ssrc`, its 64-bit NTP timestamp (seconds since 1900 in 32.32 fixed
    point), the RTP timestamp of the same instant, packets and payload octets sent, report blocks, and any
    profile-specific `extension` bytes after them.  `padding` holds the padding bytes (last byte = their count)."""

    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""
    padding: bytes = b""

    packet_type = PacketType.SR

    @property
    def ntp_seconds(self) -> float:
        """The NTP timestamp as seconds since 1900-01-01."""
        return self.ntp_timestamp / 2**32

    @property
    def lsr_key(self) -> int:
        """The middle 32 bits of the NTP timestamp: what a report block's LSR echoes (RFC 3550 §6.4.1)."""
        return (self.ntp_timestamp >> 16) & 0xFFFFFFFF

    def __bytes__(self) -> bytes:
        body = struct.pack(">IQIII", self.ssrc, self.ntp_timestamp, self.rtp_timestamp, self.packet_count,
                           self.octet_count) + b"".join(bytes(r) for r in self.reports) + self.extension
        return _header(PacketType.SR, len(self.reports), body, self.padding)


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    """RR (RFC 3550 §6.4.2): the reporter's `ssrc`, its report blocks and any profile-specific `extension`."""

    ssrc: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""
    padding: bytes = b""

    packet_type = PacketType.RR

    def __bytes__(self) -> bytes:
        body = struct.pack(">I", self.ssrc) + b"".join(bytes(r) for r in self.reports) + self.extension
        return _header(PacketType.RR, len(self.reports), body, self.padding)


@dataclass(frozen=True, slots=True)
class SdesItem:
    """One SDES item (RFC 3550 §6.5): its type (SdesType) and text (UTF-8; a PRIV item's text holds its prefix
    length byte and prefix as written)."""

    type: int
    text: str

    @property
    def name(self) -> str:
        return sdes_item_name(self.type)

    def __bytes__(self) -> bytes:
        raw = _raw(self.text)
        if len(raw) > 255:
            raise DecodeError(f"RTCP SDES item is {len(raw)} bytes long, at most 255 fit")
        return struct.pack(">BB", self.type, len(raw)) + raw


@dataclass(frozen=True, slots=True)
class SdesChunk:
    """One SDES chunk: an SSRC/CSRC and its items (RFC 3550 §6.5)."""

    ssrc: int
    items: tuple[SdesItem, ...] = ()

    def __bytes__(self) -> bytes:
        out = struct.pack(">I", self.ssrc) + b"".join(bytes(i) for i in self.items) + b"\0"
        return out + b"\0" * (-len(out) % 4)


@dataclass(frozen=True, slots=True)
class Sdes:
    """SDES (RFC 3550 §6.5): one chunk per source."""

    chunks: tuple[SdesChunk, ...] = ()
    padding: bytes = b""

    packet_type = PacketType.SDES

    def __bytes__(self) -> bytes:
        return _header(PacketType.SDES, len(self.chunks), b"".join(bytes(c) for c in self.chunks), self.padding)


@dataclass(frozen=True, slots=True)
class Bye:
    """BYE (RFC 3550 §6.6): the SSRCs/CSRCs leaving and an optional reason (None when absent)."""

    ssrcs: tuple[int, ...] = ()
    reason: str | None = None
    padding: bytes = b""

    packet_type = PacketType.BYE

    def __bytes__(self) -> bytes:
        body = b"".join(struct.pack(">I", s) for s in self.ssrcs)
        if self.reason is not None:
            raw = _raw(self.reason)
            if len(raw) > 255:
                raise DecodeError(f"RTCP BYE reason is {len(raw)} bytes long, at most 255 fit")
            body += bytes([len(raw)]) + raw
            body += b"\0" * (-len(body) % 4)
        return _header(PacketType.BYE, len(self.ssrcs), body, self.padding)


@dataclass(frozen=True, slots=True)
class App:
    """APP (RFC 3550 §6.7): a 5-bit `subtype`, the sender's `ssrc`, a 4-byte ASCII `name` and application data."""

    subtype: int
    ssrc: int
    name: bytes
    data: bytes = b""
    padding: bytes = b""

    packet_type = PacketType.APP

    def __bytes__(self) -> bytes:
        if len(self.name) != 4:
            raise DecodeError(f"RTCP APP name is {len(self.name)} bytes, not 4")
        return _header(PacketType.APP, self.subtype, struct.pack(">I", self.ssrc) + self.name + self.data,
                       self.padding)


@dataclass(frozen=True, slots=True)
class Feedback:
    """A feedback message (RFC 4585 §6.1), kept raw: `packet_type` RTPFB (205) or PSFB (206), `fmt` (NACK is
    RTPFB 1, transport-cc RTPFB 15, PLI PSFB 1, FIR PSFB 4, REMB PSFB 15), the sender's and the media source's SSRC,
    and the feedback control information (`fci`) bytes."""

    packet_type: int
    fmt: int
    sender_ssrc: int
    media_ssrc: int
    fci: bytes = b""
    padding: bytes = b""

    def __bytes__(self) -> bytes:
        return _header(self.packet_type, self.fmt, struct.pack(">II", self.sender_ssrc, self.media_ssrc) + self.fci,
                       self.padding)


@dataclass(frozen=True, slots=True)
class XrBlock:
    """One XR report block (RFC 3611 §3), kept raw: block type (BT), type-specific byte and contents."""

    block_type: int
    type_specific: int
    data: bytes = b""

    def __bytes__(self) -> bytes:
        if len(self.data) % 4:
            raise DecodeError(f"RTCP XR block is {len(self.data)} bytes, not whole 32-bit words")
        return struct.pack(">BBH", self.block_type, self.type_specific, len(self.data) // 4) + self.data


@dataclass(frozen=True, slots=True)
class Xr:
    """XR (RFC 3611 §2): the sender's `ssrc` and its report blocks (raw).  `count` is the header's reserved bits."""

    ssrc: int
    blocks: tuple[XrBlock, ...] = ()
    count: int = 0
    padding: bytes = b""

    packet_type = PacketType.XR

    def __bytes__(self) -> bytes:
        body = struct.pack(">I", self.ssrc) + b"".join(bytes(b) for b in self.blocks)
        return _header(PacketType.XR, self.count, body, self.padding)


@dataclass(frozen=True, slots=True)
class RawRtcp:
    """An RTCP packet of a type this module does not decode (pion's RawPacket): type, count bits and body."""

    packet_type: int
    count: int
    body: bytes = b""
    padding: bytes = b""

    def __bytes__(self) -> bytes:
        return _header(self.packet_type, self.count, self.body, self.padding)


RtcpPacket = Union[SenderReport, ReceiverReport, Sdes, Bye, App, Feedback, Xr, RawRtcp]


def _need(body: bytes, n: int, part: str) -> None:
    if len(body) < n:
        raise DecodeError(f"RTCP {part} is truncated ({len(body) + 4} of {n + 4} bytes)")


def _parse_sr(count: int, body: bytes, padding: bytes) -> SenderReport:
    _need(body, 4 + SENDER_INFO_LEN, "SR")
    ssrc, ntp, rtp_ts, packets, octets = struct.unpack_from(">IQIII", body)
    blocks, rest = _report_blocks(body, 4 + SENDER_INFO_LEN, count, "SR")
    return SenderReport(ssrc, ntp, rtp_ts, packets, octets, blocks, rest, padding)


def _parse_rr(count: int, body: bytes, padding: bytes) -> ReceiverReport:
    _need(body, 4, "RR")
    blocks, rest = _report_blocks(body, 4, count, "RR")
    return ReceiverReport(struct.unpack_from(">I", body)[0], blocks, rest, padding)


def _parse_sdes(count: int, body: bytes, padding: bytes) -> Sdes:
    chunks = []
    pos = 0
    for _ in range(count):
        if pos + 4 > len(body):
            raise DecodeError(f"RTCP SDES chunk {len(chunks)} is truncated (source count {count})")
        ssrc = struct.unpack_from(">I", body, pos)[0]
        pos += 4
        items = []
        while True:
            if pos >= len(body):
                raise DecodeError(f"RTCP SDES chunk {len(chunks)} has no end item")
            item_type = body[pos]
            if item_type == SdesType.END:
                pos += 1
                pos += -pos % 4  # null octets up to the next 32-bit boundary
                if pos > len(body):
                    raise DecodeError(f"RTCP SDES chunk {len(chunks)} padding is truncated")
                break
            if pos + 2 > len(body) or pos + 2 + body[pos + 1] > len(body):
                raise DecodeError(f"RTCP SDES item of chunk {len(chunks)} overruns the packet")
            n = body[pos + 1]
            items.append(SdesItem(item_type, _text(bytes(body[pos + 2 : pos + 2 + n]))))
            pos += 2 + n
        chunks.append(SdesChunk(ssrc, tuple(items)))
    if pos != len(body):
        raise DecodeError(f"RTCP SDES has {len(body) - pos} bytes after its {count} chunks")
    return Sdes(tuple(chunks), padding)


def _parse_bye(count: int, body: bytes, padding: bytes) -> Bye:
    _need(body, 4 * count, "BYE source list")
    ssrcs = struct.unpack_from(f">{count}I", body)
    pos = 4 * count
    reason = None
    if pos < len(body):
        n = body[pos]
        if pos + 1 + n > len(body):
            raise DecodeError(f"RTCP BYE reason overruns the packet ({n} bytes declared)")
        reason = _text(bytes(body[pos + 1 : pos + 1 + n]))
    return Bye(tuple(ssrcs), reason, padding)


def _parse_app(count: int, body: bytes, padding: bytes) -> App:
    _need(body, 8, "APP")
    return App(count, struct.unpack_from(">I", body)[0], bytes(body[4:8]), bytes(body[8:]), padding)


def _parse_feedback(packet_type: int):
    def parse(count: int, body: bytes, padding: bytes) -> Feedback:
        _need(body, 8, "RTPFB" if packet_type == PacketType.RTPFB else "PSFB")
        sender, media = struct.unpack_from(">II", body)
        return Feedback(packet_type, count, sender, media, bytes(body[8:]), padding)
    return parse


def _parse_xr(count: int, body: bytes, padding: bytes) -> Xr:
    _need(body, 4, "XR")
    blocks = []
    pos = 4
    while pos < len(body):
        if pos + 4 > len(body):
            raise DecodeError(f"RTCP XR block {len(blocks)} header is truncated")
        bt, specific, words = struct.unpack_from(">BBH", body, pos)
        if pos + 4 + 4 * words > len(body):
            raise DecodeError(f"RTCP XR block {len(blocks)} overruns the packet ({words} words declared)")
        blocks.append(XrBlock(bt, specific, bytes(body[pos + 4 : pos + 4 + 4 * words])))
        pos += 4 + 4 * words
    return Xr(struct.unpack_from(">I", body)[0], tuple(blocks), count, padding)


# One visible dispatch: packet type -> parser of (count bits, body after the header without padding, padding).
_PARSERS = {
    PacketType.SR: _parse_sr,
    PacketType.RR: _parse_rr,
    PacketType.SDES: _parse_sdes,
    PacketType.BYE: _parse_bye,
    PacketType.APP: _parse_app,
    PacketType.RTPFB: _parse_feedback(PacketType.RTPFB),
    PacketType.PSFB: _parse_feedback(PacketType.PSFB),
    PacketType.XR: _parse_xr,
}


def parse_packet(data: bytes) -> tuple[RtcpPacket, int]:
    """The RTCP packet at the start of `data` as a record, and its length in bytes (the rest of `data` is the next
    packet of the compound).  DecodeError when the header, the padding or the body does not read."""
    header = parse_header(data)
    length = header.length_bytes
    body = bytes(data[RTCP_HEADER_LEN:length])
    padding = b""
    if header.padding:
        n = body[-1] if body else 0
        if n == 0 or n > len(body):
            raise DecodeError(f"RTCP padding count {n} does not fit the packet ({length} bytes)")
        body, padding = body[:-n], body[-n:]
    parser = _PARSERS.get(header.packet_type)
    if parser is None:
        return RawRtcp(header.packet_type, header.count, body, padding), length
    return parser(header.count, body, padding), length


def parse_compound_partial(data: bytes) -> tuple[list[RtcpPacket], str | None]:
    """The packets of a compound up to the first one that does not decode, and that DecodeError's message (None
    when the whole datagram decoded).  What table builders use: the packets before a broken one are kept."""
    out: list[RtcpPacket] = []
    pos = 0
    if not data:
        return out, "RTCP compound is empty"
    while pos < len(data):
        try:
            record, length = parse_packet(data[pos:])
        except DecodeError as e:
            return out, str(e)
        out.append(record)
        pos += length
    return out, None


def parse_compound(data: bytes) -> list[RtcpPacket]:
    """Every packet of a plaintext compound RTCP datagram (or a decrypted SRTCP one, without its trailer), in
    order; `b"".join(bytes(p) for p in parse_compound(x)) == x` for canonically written packets.  DecodeError
    ("RTCP <part> <problem>") when any packet is truncated, its length runs past the datagram, its report count does
    not fit, and so on.  RFC 3550's rule that a compound starts with SR or RR is not enforced (RFC 5506 reduced
    size RTCP lifts it)."""
    records, error = parse_compound_partial(data)
    if error is not None:
        raise DecodeError(error)
    return records


def compound_bytes(records) -> bytes:
    """A compound datagram from records (the inverse of parse_compound)."""
    return b"".join(bytes(r) for r in records)


# Feedback messages decoded (RFC 4585 §6.2–6.4, RFC 5104 §4.2–4.3, draft-alvestrand-rmcat-remb-03,
# draft-holmer-rmcat-transport-wide-cc-extensions-01) ------------------------------------------------------------
#
# Strategy: `parse_feedback(record)` takes a raw `Feedback` from `parse_compound` and decodes its FCI by one visible
# dispatch on (packet type, FMT) — `_FCI_PARSERS` — into a typed record; formats it does not know (and AFB messages
# other than REMB) come back as the raw `Feedback`.  Typed records hold the same sender/media SSRCs and padding as
# the raw one and write the same packet back (`__bytes__`).  An FCI that does not fit its format raises DecodeError.


class RtpfbFormat(IntEnum):
    """Transport-layer feedback message types, the FMT of PT 205 (RFC 4585 §6.2, RFC 5104 §4.2)."""

    NACK = 1  # generic NACK, RFC 4585 §6.2.1
    TMMBR = 3  # temporary maximum media stream bit rate request, RFC 5104 §4.2.1
    TMMBN = 4  # ... notification, RFC 5104 §4.2.2
    RAPID_RESYNC = 5  # RFC 6051 §3.2
    ECN = 8  # RFC 6679 §6.1
    CCFB = 11  # RFC 8888 §3.1
    TRANSPORT_CC = 15  # draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1


class PsfbFormat(IntEnum):
    """Payload-specific feedback message types, the FMT of PT 206 (RFC 4585 §6.3, RFC 5104 §4.3)."""

    PLI = 1  # picture loss indication, RFC 4585 §6.3.1
    SLI = 2  # slice loss indication, RFC 4585 §6.3.2
    RPSI = 3  # reference picture selection indication, RFC 4585 §6.3.3
    FIR = 4  # full intra request, RFC 5104 §4.3.1
    TSTR = 5  # RFC 5104 §4.3.2
    TSTN = 6  # RFC 5104 §4.3.3
    VBCM = 7  # RFC 5104 §4.3.4
    AFB = 15  # application layer feedback, RFC 4585 §6.4 (REMB: draft-alvestrand-rmcat-remb-03 §2.2)


REMB_IDENTIFIER = b"REMB"  # draft-alvestrand-rmcat-remb-03 §2.2: the AFB's unique identifier
NACK_BLP_BITS = 16  # RFC 4585 §6.2.1: bitmask of the 16 following lost packets
TWCC_REFERENCE_TIME_MS = 64  # transport-wide-cc-01 §3.1: reference time unit
TWCC_DELTA_US = 250  # transport-wide-cc-01 §3.1.5: receive delta unit


class TwccStatus(IntEnum):
    """Packet status symbols of transport-cc (transport-wide-cc-01 §3.1.1)."""

    NOT_RECEIVED = 0
    SMALL_DELTA = 1  # received, 1-byte receive delta (0 .. 63.75 ms)
    LARGE_DELTA = 2  # received, 2-byte signed receive delta
    RESERVED = 3


def _check_ssrc(value: int, part: str) -> None:
    if not 0 <= value <= 0xFFFFFFFF:
        raise DecodeError(f"RTCP {part} SSRC {value} does not fit 32 bits")


class _TypedFeedback:
    """What every typed feedback record shares: its bytes are the common RTPFB/PSFB header (RFC 4585 §6.1) with its
    sender and media SSRC, then its FCI (each record's `fci`)."""

    __slots__ = ()

    def __bytes__(self) -> bytes:
        return _feedback_bytes(self)


class _EntriesFeedback(_TypedFeedback):
    """A typed feedback record whose FCI is a list of fixed-size entries (`entries`, each with its own __bytes__)."""

    __slots__ = ()

    @property
    def fci(self) -> bytes:
        return b"".join(bytes(e) for e in self.entries)


@dataclass(frozen=True, slots=True)
class NackEntry:
    """One generic NACK FCI entry (RFC 4585 §6.2.1): the packet ID `pid` (a lost RTP sequence number) and the
    bitmask `blp` of the 16 following lost packets (bit i, LSB = 0, means pid + i + 1 is lost)."""

    pid: int
    blp: int = 0

    @property
    def lost(self) -> tuple[tuple[int, int], ...]:
        """(sequence number, bit) for every packet the entry reports lost: bit 0 is the PID itself, bit i in
        1..16 is BLP bit i - 1 (pid + i, modulo 2**16)."""
        out = [(self.pid, 0)]
        out += [((self.pid + i + 1) & 0xFFFF, i + 1) for i in range(NACK_BLP_BITS) if self.blp >> i & 1]
        return tuple(out)

    def __bytes__(self) -> bytes:
        if not (0 <= self.pid <= 0xFFFF and 0 <= self.blp <= 0xFFFF):
            raise DecodeError(f"RTCP NACK entry ({self.pid}, {self.blp}) does not fit 16 bits")
        return struct.pack(">HH", self.pid, self.blp)


@dataclass(frozen=True, slots=True)
class Nack(_EntriesFeedback):
    """Generic NACK (RTPFB FMT 1, RFC 4585 §6.2.1): the sender's and the media source's SSRC and the FCI entries."""

    sender_ssrc: int
    media_ssrc: int
    entries: tuple[NackEntry, ...] = ()
    padding: bytes = b""

    packet_type = PacketType.RTPFB
    fmt = RtpfbFormat.NACK

    @property
    def sequence_numbers(self) -> tuple[int, ...]:
        """Every NACKed sequence number, in FCI order (wrapping past 65535 to 0)."""
        return tuple(seq for e in self.entries for seq, _ in e.lost)


@dataclass(frozen=True, slots=True)
class TmmbEntry:
    """One TMMBR/TMMBN FCI entry (RFC 5104 §4.2.1.1): the SSRC it applies to, the bit rate as a 6-bit `exponent`
    and a 17-bit `mantissa` (bits/s = mantissa << exponent) and the 9-bit measured `overhead` (bytes per packet)."""

    ssrc: int
    exponent: int
    mantissa: int
    overhead: int

    @property
    def bitrate_bps(self) -> int:
        return self.mantissa << self.exponent

    def __bytes__(self) -> bytes:
        if not (0 <= self.exponent < 64 and 0 <= self.mantissa < 1 << 17 and 0 <= self.overhead < 1 << 9):
            raise DecodeError(f"RTCP TMMBR entry exponent {self.exponent}, mantissa {self.mantissa} or overhead "
                              f"{self.overhead} does not fit 6/17/9 bits")
        _check_ssrc(self.ssrc, "TMMBR entry")
        return struct.pack(">II", self.ssrc, self.exponent << 26 | self.mantissa << 9 | self.overhead)


@dataclass(frozen=True, slots=True)
class Tmmbr(_EntriesFeedback):
    """TMMBR (RTPFB FMT 3, RFC 5104 §4.2.1): one entry per SSRC asked to limit its bit rate.  The media SSRC of
    the common header is not used (0)."""

    sender_ssrc: int
    media_ssrc: int
    entries: tuple[TmmbEntry, ...] = ()
    padding: bytes = b""

    packet_type = PacketType.RTPFB
    fmt = RtpfbFormat.TMMBR


@dataclass(frozen=True, slots=True)
class Tmmbn(_EntriesFeedback):
    """TMMBN (RTPFB FMT 4, RFC 5104 §4.2.2): the bounding set of TMMBR entries (may be empty)."""

    sender_ssrc: int
    media_ssrc: int
    entries: tuple[TmmbEntry, ...] = ()
    padding: bytes = b""

    packet_type = PacketType.RTPFB
    fmt = RtpfbFormat.TMMBN


@dataclass(frozen=True, slots=True)
class TwccPacket:
    """One packet a transport-cc feedback reports on: its transport-wide sequence number, status, receive delta
    (in 250 µs units, None when not received) and receive time in ms (reference time + the deltas so far)."""

    sequence_number: int
    status: TwccStatus
    delta: int | None
    receive_time_ms: float | None

    @property
    def received(self) -> bool:
        return self.status in (TwccStatus.SMALL_DELTA, TwccStatus.LARGE_DELTA)

    @property
    def delta_ms(self) -> float | None:
        return None if self.delta is None else self.delta * TWCC_DELTA_US / 1000


@dataclass(frozen=True, slots=True)
class TransportCc(_TypedFeedback):
    """Transport-wide congestion control feedback (RTPFB FMT 15, transport-wide-cc-01 §3.1).

    `base_sequence` is the transport-wide sequence number of the first packet reported, `status_count` how many
    are reported, `reference_time` a signed 24-bit time in 64 ms units and `feedback_count` an 8-bit counter of
    feedback packets.  `chunks` are the 16-bit packet status chunk words as written (run length chunks: T=0, a
    2-bit symbol and a 13-bit run length; status vector chunks: T=1 and S=0 for 14 1-bit symbols, S=1 for 7 2-bit
    symbols); `deltas` the receive deltas in 250 µs units, one per received packet (small: 0..255, large: signed
    16 bit); `tail` the bytes after the deltas (zero padding to 32 bits).  `statuses` and `packets` interpret them.
    """

    sender_ssrc: int
    media_ssrc: int
    base_sequence: int
    status_count: int
    reference_time: int
    feedback_count: int
    chunks: tuple[int, ...] = ()
    deltas: tuple[int, ...] = ()
    tail: bytes = b""
    padding: bytes = b""

    packet_type = PacketType.RTPFB
    fmt = RtpfbFormat.TRANSPORT_CC

    @property
    def statuses(self) -> tuple[TwccStatus, ...]:
        """One status per reported packet (`status_count` of them; a last chunk's extra symbols are dropped)."""
        return tuple(TwccStatus(s) for s in _twcc_symbols(self.chunks, self.status_count))

    @property
    def packets(self) -> tuple[TwccPacket, ...]:
        """Every reported packet with its sequence number (base + i modulo 2**16), delta and receive time."""
        out = []
        time_us = self.reference_time * TWCC_REFERENCE_TIME_MS * 1000
        deltas = iter(self.deltas)
        for i, s in enumerate(self.statuses):
            delta = None
            at = None
            if s in (TwccStatus.SMALL_DELTA, TwccStatus.LARGE_DELTA):
                delta = next(deltas)
                time_us += delta * TWCC_DELTA_US
                at = time_us / 1000
            out.append(TwccPacket((self.base_sequence + i) & 0xFFFF, s, delta, at))
        return tuple(out)

    @property
    def fci(self) -> bytes:
        if not (0 <= self.base_sequence <= 0xFFFF and 0 <= self.status_count <= 0xFFFF
                and -(1 << 23) <= self.reference_time < 1 << 23 and 0 <= self.feedback_count <= 0xFF):
            raise DecodeError("RTCP transport-cc header field does not fit its width")
        out = struct.pack(">HH", self.base_sequence, self.status_count) \
            + (self.reference_time & 0xFFFFFF).to_bytes(3, "big") + bytes([self.feedback_count])
        out += b"".join(struct.pack(">H", c) for c in self.chunks)
        statuses = _twcc_symbols(self.chunks, self.status_count)
        received = [s for s in statuses if s in (TwccStatus.SMALL_DELTA, TwccStatus.LARGE_DELTA)]
        if len(received) != len(self.deltas):
            raise DecodeError(f"RTCP transport-cc has {len(self.deltas)} deltas for {len(received)} received packets")
        for s, d in zip(received, self.deltas):
            if s == TwccStatus.SMALL_DELTA:
                if not 0 <= d <= 0xFF:
                    raise DecodeError(f"RTCP transport-cc small delta {d} does not fit 8 bits")
                out += bytes([d])
            else:
                if not -(1 << 15) <= d < 1 << 15:
                    raise DecodeError(f"RTCP transport-cc large delta {d} does not fit 16 bits")
                out += struct.pack(">h", d)
        return out + self.tail


def _twcc_symbols(chunks, count: int) -> list[int]:
    """The status symbols of packet status chunks, cut to `count` (transport-wide-cc-01 §3.1.3–3.1.4)."""
    out: list[int] = []
    for c in chunks:
        if c & 0x8000 == 0:  # run length chunk: T=0, S (2 bits), run length (13 bits)
            out.extend([(c >> 13) & 0x3] * (c & 0x1FFF))
        elif c & 0x4000 == 0:  # status vector chunk, S=0: 14 one-bit symbols
            out.extend((c >> (13 - i)) & 1 for i in range(14))
        else:  # status vector chunk, S=1: 7 two-bit symbols
            out.extend((c >> (12 - 2 * i)) & 3 for i in range(7))
        if len(out) >= count:
            break
    return out[:count]


@dataclass(frozen=True, slots=True)
class Pli(_TypedFeedback):
    """Picture loss indication (PSFB FMT 1, RFC 4585 §6.3.1): no FCI; asks `media_ssrc` for a keyframe."""

    sender_ssrc: int
    media_ssrc: int
    padding: bytes = b""

    packet_type = PacketType.PSFB
    fmt = PsfbFormat.PLI
    fci = b""


@dataclass(frozen=True, slots=True)
class SliEntry:
    """One SLI FCI entry (RFC 4585 §6.3.2): the `first` lost macroblock (13 bits), how many (`number`, 13 bits)
    and the 6 least significant bits of the codec's `picture_id`."""

    first: int
    number: int
    picture_id: int

    def __bytes__(self) -> bytes:
        if not (0 <= self.first < 1 << 13 and 0 <= self.number < 1 << 13 and 0 <= self.picture_id < 64):
            raise DecodeError("RTCP SLI entry does not fit 13/13/6 bits")
        return struct.pack(">I", self.first << 19 | self.number << 6 | self.picture_id)


@dataclass(frozen=True, slots=True)
class Sli(_EntriesFeedback):
    """Slice loss indication (PSFB FMT 2, RFC 4585 §6.3.2)."""

    sender_ssrc: int
    media_ssrc: int
    entries: tuple[SliEntry, ...] = ()
    padding: bytes = b""

    packet_type = PacketType.PSFB
    fmt = PsfbFormat.SLI


@dataclass(frozen=True, slots=True)
class Rpsi(_TypedFeedback):
    """Reference picture selection indication (PSFB FMT 3, RFC 4585 §6.3.3): `padding_bits` (PB, how many bits of
    `native` at its end are padding), the RTP `payload_type` the native RPSI bit string is for, and the bytes of
    that bit string (padding bits included)."""

    sender_ssrc: int
    media_ssrc: int
    padding_bits: int
    payload_type: int
    native: bytes = b""
    padding: bytes = b""

    packet_type = PacketType.PSFB
    fmt = PsfbFormat.RPSI

    @property
    def fci(self) -> bytes:
        if not (0 <= self.padding_bits <= 0xFF and 0 <= self.payload_type <= 0x7F):
            raise DecodeError("RTCP RPSI padding bits or payload type does not fit 8/7 bits")
        return bytes([self.padding_bits, self.payload_type]) + self.native


@dataclass(frozen=True, slots=True)
class FirEntry:
    """One FIR FCI entry (RFC 5104 §4.3.1.1): the SSRC asked for a decoder refresh point, the 8-bit command
    `sequence_number` (incremented per new request, repeated on retransmission) and the 24 reserved bits."""

    ssrc: int
    sequence_number: int
    reserved: int = 0

    def __bytes__(self) -> bytes:
        if not (0 <= self.sequence_number <= 0xFF and 0 <= self.reserved < 1 << 24):
            raise DecodeError(f"RTCP FIR sequence number {self.sequence_number} does not fit 8 bits")
        _check_ssrc(self.ssrc, "FIR entry")
        return struct.pack(">IB", self.ssrc, self.sequence_number) + self.reserved.to_bytes(3, "big")


@dataclass(frozen=True, slots=True)
class Fir(_EntriesFeedback):
    """Full intra request (PSFB FMT 4, RFC 5104 §4.3.1): one entry per media sender asked for a keyframe (the
    common header's media SSRC is not used, 0)."""

    sender_ssrc: int
    media_ssrc: int
    entries: tuple[FirEntry, ...] = ()
    padding: bytes = b""

    packet_type = PacketType.PSFB
    fmt = PsfbFormat.FIR


@dataclass(frozen=True, slots=True)
class Remb(_TypedFeedback):
    """Receiver estimated maximum bitrate (PSFB FMT 15 AFB 'REMB', draft-alvestrand-rmcat-remb-03 §2.2): the
    estimate as a 6-bit `exponent` and an 18-bit `mantissa` (bits/s = mantissa << exponent) and the SSRCs it applies
    to.  The common header's media SSRC is 0."""

    sender_ssrc: int
    media_ssrc: int
    exponent: int
    mantissa: int
    ssrcs: tuple[int, ...] = ()
    padding: bytes = b""

    packet_type = PacketType.PSFB
    fmt = PsfbFormat.AFB

    @property
    def bitrate_bps(self) -> int:
        return self.mantissa << self.exponent

    @property
    def fci(self) -> bytes:
        if not (0 <= self.exponent < 64 and 0 <= self.mantissa < 1 << 18 and len(self.ssrcs) <= 0xFF):
            raise DecodeError(f"RTCP REMB exponent {self.exponent}, mantissa {self.mantissa} or SSRC count "
                              f"{len(self.ssrcs)} does not fit 6/18/8 bits")
        for s in self.ssrcs:
            _check_ssrc(s, "REMB")
        return REMB_IDENTIFIER + struct.pack(">BBH", len(self.ssrcs), self.exponent << 2 | self.mantissa >> 16,
                                             self.mantissa & 0xFFFF) \
            + b"".join(struct.pack(">I", s) for s in self.ssrcs)


FeedbackMessage = Union[Nack, Tmmbr, Tmmbn, TransportCc, Pli, Sli, Rpsi, Fir, Remb, Feedback]


def _feedback_bytes(record) -> bytes:
    _check_ssrc(record.sender_ssrc, "feedback sender")
    _check_ssrc(record.media_ssrc, "feedback media")
    return _header(record.packet_type, record.fmt, struct.pack(">II", record.sender_ssrc, record.media_ssrc)
                   + record.fci, record.padding)


def _entries(fci: bytes, size: int, part: str, empty_ok: bool = False) -> list[int]:
    """The offsets of `size`-byte FCI entries; DecodeError when the FCI is not a whole number of them."""
    if not fci and not empty_ok:
        raise DecodeError(f"RTCP {part} has no FCI entry")
    if len(fci) % size:
        raise DecodeError(f"RTCP {part} FCI length {len(fci)} is not a multiple of {size} bytes")
    return list(range(0, len(fci), size))


def _parse_nack(r: Feedback) -> Nack:
    entries = tuple(NackEntry(*struct.unpack_from(">HH", r.fci, at)) for at in _entries(r.fci, 4, "NACK"))
    return Nack(r.sender_ssrc, r.media_ssrc, entries, r.padding)


def _tmmb_entries(fci: bytes, part: str, empty_ok: bool) -> tuple[TmmbEntry, ...]:
    out = []
    for at in _entries(fci, 8, part, empty_ok):
        ssrc, word = struct.unpack_from(">II", fci, at)
        out.append(TmmbEntry(ssrc, word >> 26, (word >> 9) & 0x1FFFF, word & 0x1FF))
    return tuple(out)


def _parse_tmmbr(r: Feedback) -> Tmmbr:
    return Tmmbr(r.sender_ssrc, r.media_ssrc, _tmmb_entries(r.fci, "TMMBR", False), r.padding)


def _parse_tmmbn(r: Feedback) -> Tmmbn:
    # RFC 5104 §4.2.2.1: a TMMBN with an empty bounding set has no FCI entry.
    return Tmmbn(r.sender_ssrc, r.media_ssrc, _tmmb_entries(r.fci, "TMMBN", True), r.padding)


def _parse_transport_cc(r: Feedback) -> TransportCc:
    fci = r.fci
    if len(fci) < 8:
        raise DecodeError(f"RTCP transport-cc FCI is truncated ({len(fci)} of 8 bytes)")
    base, count = struct.unpack_from(">HH", fci)
    ref = int.from_bytes(fci[4:7], "big")
    ref = ref - (1 << 24) if ref & 0x800000 else ref
    feedback_count = fci[7]
    pos = 8
    chunks = []
    symbols: list[int] = []
    while len(symbols) < count:
        if pos + 2 > len(fci):
            raise DecodeError(f"RTCP transport-cc packet chunks overrun the FCI ({len(symbols)} of {count} "
                              f"statuses in {len(fci)} bytes)")
        chunk = struct.unpack_from(">H", fci, pos)[0]
        pos += 2
        chunks.append(chunk)
        symbols.extend(_twcc_symbols((chunk,), 1 << 16))
    symbols = symbols[:count]
    deltas = []
    for i, s in enumerate(symbols):
        if s == TwccStatus.RESERVED:
            raise DecodeError(f"RTCP transport-cc status of packet {i} is the reserved symbol 3")
        if s == TwccStatus.SMALL_DELTA:
            if pos + 1 > len(fci):
                raise DecodeError(f"RTCP transport-cc receive deltas overrun the FCI (packet {i} of {count})")
            deltas.append(fci[pos])
            pos += 1
        elif s == TwccStatus.LARGE_DELTA:
            if pos + 2 > len(fci):
                raise DecodeError(f"RTCP transport-cc receive deltas overrun the FCI (packet {i} of {count})")
            deltas.append(struct.unpack_from(">h", fci, pos)[0])
            pos += 2
    return TransportCc(r.sender_ssrc, r.media_ssrc, base, count, ref, feedback_count, tuple(chunks), tuple(deltas),
                       bytes(fci[pos:]), r.padding)


def _parse_pli(r: Feedback) -> Pli:
    if r.fci:
        raise DecodeError(f"RTCP PLI has {len(r.fci)} bytes of FCI, it has none")
    return Pli(r.sender_ssrc, r.media_ssrc, r.padding)


def _parse_sli(r: Feedback) -> Sli:
    entries = []
    for at in _entries(r.fci, 4, "SLI"):
        word = struct.unpack_from(">I", r.fci, at)[0]
        entries.append(SliEntry(word >> 19, (word >> 6) & 0x1FFF, word & 0x3F))
    return Sli(r.sender_ssrc, r.media_ssrc, tuple(entries), r.padding)


def _parse_rpsi(r: Feedback) -> Rpsi:
    if len(r.fci) < 2:
        raise DecodeError(f"RTCP RPSI FCI is truncated ({len(r.fci)} of 2 bytes)")
    if r.fci[1] & 0x80:
        raise DecodeError("RTCP RPSI has its zero bit set")
    if r.fci[0] > 8 * (len(r.fci) - 2):
        raise DecodeError(f"RTCP RPSI padding bits ({r.fci[0]}) exceed its bit string ({len(r.fci) - 2} bytes)")
    return Rpsi(r.sender_ssrc, r.media_ssrc, r.fci[0], r.fci[1], bytes(r.fci[2:]), r.padding)


def _parse_fir(r: Feedback) -> Fir:
    entries = []
    for at in _entries(r.fci, 8, "FIR"):
        ssrc, seq = struct.unpack_from(">IB", r.fci, at)
        entries.append(FirEntry(ssrc, seq, int.from_bytes(r.fci[at + 5 : at + 8], "big")))
    return Fir(r.sender_ssrc, r.media_ssrc, tuple(entries), r.padding)


def _parse_afb(r: Feedback) -> Remb | Feedback:
    if r.fci[:4] != REMB_IDENTIFIER:
        return r  # an application's own AFB message: kept raw
    if len(r.fci) < 8:
        raise DecodeError(f"RTCP REMB FCI is truncated ({len(r.fci)} of 8 bytes)")
    n, b1, low = struct.unpack_from(">BBH", r.fci, 4)
    if len(r.fci) != 8 + 4 * n:
        raise DecodeError(f"RTCP REMB SSRC count {n} does not match its FCI ({len(r.fci)} bytes, "
                          f"{8 + 4 * n} expected)")
    ssrcs = struct.unpack_from(f">{n}I", r.fci, 8)
    return Remb(r.sender_ssrc, r.media_ssrc, b1 >> 2, (b1 & 0x3) << 16 | low, tuple(ssrcs), r.padding)


# One visible dispatch: (packet type, FMT) -> FCI parser of a raw Feedback record.
_FCI_PARSERS = {
    (PacketType.RTPFB, RtpfbFormat.NACK): _parse_nack,
    (PacketType.RTPFB, RtpfbFormat.TMMBR): _parse_tmmbr,
    (PacketType.RTPFB, RtpfbFormat.TMMBN): _parse_tmmbn,
    (PacketType.RTPFB, RtpfbFormat.TRANSPORT_CC): _parse_transport_cc,
    (PacketType.PSFB, PsfbFormat.PLI): _parse_pli,
    (PacketType.PSFB, PsfbFormat.SLI): _parse_sli,
    (PacketType.PSFB, PsfbFormat.RPSI): _parse_rpsi,
    (PacketType.PSFB, PsfbFormat.FIR): _parse_fir,
    (PacketType.PSFB, PsfbFormat.AFB): _parse_afb,
}


_FEEDBACK_NAMES = {(PacketType.RTPFB, RtpfbFormat.TRANSPORT_CC): "transport-cc",
                   (PacketType.RTPFB, RtpfbFormat.RAPID_RESYNC): "rapid-resync"}


def feedback_name(packet_type: int, fmt: int) -> str:
    """A short lower-case name of a feedback format ("nack", "tmmbr", "transport-cc", "pli", "fir", "afb", ...)
    or "rtpfb N" / "psfb N" for one this module does not name."""
    name = _FEEDBACK_NAMES.get((packet_type, fmt))
    if name is not None:
        return name
    formats = {PacketType.RTPFB: RtpfbFormat, PacketType.PSFB: PsfbFormat}.get(packet_type)
    if formats is not None and fmt in formats._value2member_map_:
        return formats(fmt).name.lower()
    return f"{'rtpfb' if packet_type == PacketType.RTPFB else 'psfb'} {fmt}"


def parse_feedback(record: Feedback) -> FeedbackMessage:
    """The typed record of a raw feedback packet from `parse_compound`: Nack, Tmmbr, Tmmbn, TransportCc, Pli, Sli,
    Rpsi, Fir or Remb; the raw `Feedback` itself for other formats (and AFB messages that are not REMB).
    `bytes(parse_feedback(r)) == bytes(r)` for canonically written packets.  DecodeError ("RTCP <format>
    <problem>") when the FCI does not fit its format: a length that is not a whole number of entries, an empty
    FCI where entries are required, transport-cc chunks or deltas overrunning the FCI, a REMB SSRC count that does
    not match."""
    parser = _FCI_PARSERS.get((record.packet_type, record.fmt))
    return record if parser is None else parser(record)
