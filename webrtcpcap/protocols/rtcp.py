"""RTCP compound packets, every packet a record (RFC 3550 §6.4–6.7, RFC 3611 XR, RFC 5506 reduced size): SR, RR
and their report blocks, SDES, BYE, APP, XR, and feedback kept raw.

Strategy: `parse_compound` is the rich path, per datagram: every packet as a record, with `__bytes__` to write it
back.  The module is also the RTCP face: the common header and the bulk walk (`parse_header`, `walk_compound`) come
from `rtcp_header`, the typed feedback messages (`parse_feedback`: NACK, TMMBR/TMMBN, transport-cc, PLI, SLI, RPSI,
FIR, REMB) from `rtcp_feedback`, and are re-exported here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Union

from ..io.errors import DecodeError
# The module's public face also holds the common header and the bulk walk (rtcp_header) and the feedback messages
# (rtcp_feedback): `rtcp.parse_header`, `rtcp.walk_compound`, `rtcp.parse_feedback`, `rtcp.Nack` keep working.
from .rtcp_header import (  # noqa: F401
    COMPOUND_BAD_HEADER, COMPOUND_EXACT, COMPOUND_MESSAGES, COMPOUND_ONLY_FIRST, COMPOUND_OVERRUN, COMPOUND_TRUNCATED,
    FEEDBACK_TYPES, RTCP_HEADER_LEN, RTCP_VERSION, PacketType, RtcpHeader, packet_bytes, parse_header, split_compound,
    walk_compound)
from .rtcp_feedback import (  # noqa: F401
    CCFB_ATO_OVERRANGE, CCFB_ATO_UNITS, CCFB_MAX_REPORTS, NACK_BLP_BITS, REMB_IDENTIFIER, TWCC_DELTA_US,
    TWCC_REFERENCE_TIME_MS, Ccfb, CcfbBlock, CcfbMetric, Feedback, FeedbackMessage, Fir, FirEntry,
    Nack, NackEntry, Pli, PsfbFormat, Remb, Rpsi, RtpfbFormat, Sli, SliEntry, Tmmbn, Tmmbr, TmmbEntry, TransportCc,
    TwccPacket, TwccStatus, feedback_name, parse_feedback)

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
        return packet_bytes(PacketType.SR, len(self.reports), body, self.padding)


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
        return packet_bytes(PacketType.RR, len(self.reports), body, self.padding)


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
        return packet_bytes(PacketType.SDES, len(self.chunks), b"".join(bytes(c) for c in self.chunks),
                            self.padding)


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
        return packet_bytes(PacketType.BYE, len(self.ssrcs), body, self.padding)


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
        return packet_bytes(PacketType.APP, self.subtype, struct.pack(">I", self.ssrc) + self.name + self.data,
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
        return packet_bytes(PacketType.XR, self.count, body, self.padding)


@dataclass(frozen=True, slots=True)
class RawRtcp:
    """An RTCP packet of a type this module does not decode (pion's RawPacket): type, count bits and body."""

    packet_type: int
    count: int
    body: bytes = b""
    padding: bytes = b""

    def __bytes__(self) -> bytes:
        return packet_bytes(self.packet_type, self.count, self.body, self.padding)


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
