"""RTCP feedback messages (RFC 4585 §6.1–6.4, RFC 5104 §4.2–4.3, draft-alvestrand-rmcat-remb-03,
draft-holmer-rmcat-transport-wide-cc-extensions-01, RFC 8888): the raw `Feedback` record and its typed decodings.

Strategy: `parse_feedback(record)` takes a raw `Feedback` from `rtcp.parse_compound` and decodes its FCI by one
visible dispatch on (packet type, FMT) — `_FCI_PARSERS` — into a typed record; formats it does not know (and AFB
messages other than REMB) come back as the raw `Feedback`.  Typed records hold
the same sender/media SSRCs and padding as the raw one and write the same packet back (`__bytes__`).  An FCI that
does not fit its format raises DecodeError.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Union

from ..io.errors import DecodeError
from .rtcp_header import PacketType, packet_bytes

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
        return _feedback_bytes(self)


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


@dataclass(frozen=True, slots=True)
class _EntriesFeedback(_TypedFeedback):
    """A typed feedback record whose FCI is a list of fixed-size entries (`entries`, each with its own __bytes__):
    every such format has the same fields in the same order, so they are declared once here."""

    sender_ssrc: int
    media_ssrc: int
    entries: tuple = ()  # of the format's entry record (NackEntry, TmmbEntry, SliEntry, FirEntry)
    padding: bytes = b""

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
    """Generic NACK (RTPFB FMT 1, RFC 4585 §6.2.1): the sender's and the media source's SSRC and the FCI
    `entries` (NackEntry)."""

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
    """TMMBR (RTPFB FMT 3, RFC 5104 §4.2.1): one entry (TmmbEntry) per SSRC asked to limit its bit
    rate.  The media SSRC of the common header is not used (0)."""

    packet_type = PacketType.RTPFB
    fmt = RtpfbFormat.TMMBR


@dataclass(frozen=True, slots=True)
class Tmmbn(_EntriesFeedback):
    """TMMBN (RTPFB FMT 4, RFC 5104 §4.2.2): the bounding set of TMMBR entries (TmmbEntry; may be empty)."""

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


CCFB_ATO_UNITS = 1024  # RFC 8888 §3.1: arrival time offset in 1/1024 s
CCFB_ATO_OVERRANGE = 0x1FFE  # RFC 8888 §3.1: 0x1FFE "8190/1024 s or more before the report", 0x1FFF unavailable
CCFB_MAX_REPORTS = 16384  # RFC 8888 §3.1: num_reports MUST NOT exceed 16384 (a quarter of the sequence space)


@dataclass(frozen=True, slots=True)
class CcfbMetric:
    """One packet's report in an RFC 8888 block (§3.1): `received` (R), `ecn` (the 2 ECN bits it arrived with,
    RFC 3168 codepoints) and `arrival_time_offset` (ATO, 13 bits, 1/1024 s before the report timestamp; 0x1FFE:
    8190/1024 s or more, 0x1FFF: not available).  A lost packet is written as all zero bits."""

    received: bool
    ecn: int = 0
    arrival_time_offset: int = 0

    def __bytes__(self) -> bytes:
        if not (0 <= self.ecn <= 3 and 0 <= self.arrival_time_offset <= 0x1FFF):
            raise DecodeError("RTCP CCFB metric field does not fit its width")
        return struct.pack(">H", int(self.received) << 15 | self.ecn << 13 | self.arrival_time_offset)

    @property
    def offset_s(self) -> float | None:
        """The arrival time offset in seconds; None when not received or out of range (0x1FFE, 0x1FFF)."""
        if not self.received or self.arrival_time_offset >= CCFB_ATO_OVERRANGE:
            return None
        return self.arrival_time_offset / CCFB_ATO_UNITS


@dataclass(frozen=True, slots=True)
class CcfbBlock:
    """The reports of one RTP stream (RFC 8888 §3.1): its `ssrc`, `begin_seq` (the first RTP sequence number
    reported) and one `CcfbMetric` per sequence number from it (modulo 2**16)."""

    ssrc: int
    begin_seq: int
    metrics: tuple[CcfbMetric, ...] = ()

    def body(self) -> bytes:
        """The block after its SSRC: begin_seq, num_reports, the metrics, 16 zero bits when their count is odd."""
        if not (0 <= self.begin_seq <= 0xFFFF and len(self.metrics) <= CCFB_MAX_REPORTS):
            raise DecodeError("RTCP CCFB block field does not fit its width")
        out = struct.pack(">HH", self.begin_seq, len(self.metrics)) + b"".join(bytes(m) for m in self.metrics)
        return out + (b"\0\0" if len(self.metrics) % 2 else b"")


@dataclass(frozen=True, slots=True)
class Ccfb(_TypedFeedback):
    """RTP Control Protocol feedback for congestion control (RTPFB FMT 11, RFC 8888 §3.1).

    The packet has no "SSRC of media source" of its own: the first block's SSRC stands in that place of the
    RFC 4585 header (so `media_ssrc` is `blocks[0].ssrc`, and an empty packet has none: a DecodeError).  `blocks`
    are the per-stream reports; `report_timestamp` the middle 32 bits of the NTP time (16.16 s) at which the
    report was made, which every arrival time offset counts back from."""

    sender_ssrc: int
    blocks: tuple[CcfbBlock, ...]
    report_timestamp: int
    padding: bytes = b""

    packet_type = PacketType.RTPFB
    fmt = RtpfbFormat.CCFB

    @property
    def media_ssrc(self) -> int:
        if not self.blocks:
            raise DecodeError("RTCP CCFB has no report block")
        return self.blocks[0].ssrc

    @property
    def fci(self) -> bytes:
        if not 0 <= self.report_timestamp <= 0xFFFFFFFF:
            raise DecodeError("RTCP CCFB report timestamp does not fit 32 bits")
        first, *rest = self.blocks
        for b in rest:
            _check_ssrc(b.ssrc, "CCFB block")
        return first.body() + b"".join(struct.pack(">I", b.ssrc) + b.body() for b in rest) \
            + struct.pack(">I", self.report_timestamp)


def _parse_ccfb(r: Feedback) -> Ccfb:
    fci = r.fci
    if len(fci) < 8:
        raise DecodeError(f"RTCP CCFB FCI is truncated ({len(fci)} bytes; a block and the report timestamp take 8)")
    end = len(fci) - 4  # the report timestamp closes the packet
    blocks = []
    ssrc, pos = r.media_ssrc, 0
    while True:
        if pos + 4 > end:
            raise DecodeError(f"RTCP CCFB block header overruns the FCI (at byte {pos} of {end})")
        begin, n = struct.unpack_from(">HH", fci, pos)
        if n > CCFB_MAX_REPORTS:
            raise DecodeError(f"RTCP CCFB num_reports {n} exceeds {CCFB_MAX_REPORTS}")
        size = 2 * n + (2 if n % 2 else 0)
        if pos + 4 + size > end:
            raise DecodeError(f"RTCP CCFB block of {n} reports overruns the FCI ({end - pos - 4} bytes left)")
        metrics = []
        for at in range(pos + 4, pos + 4 + 2 * n, 2):
            word = struct.unpack_from(">H", fci, at)[0]
            metrics.append(CcfbMetric(bool(word >> 15), (word >> 13) & 0x3, word & 0x1FFF))
        blocks.append(CcfbBlock(ssrc, begin, tuple(metrics)))
        pos += 4 + size
        if pos == end:
            break
        if pos + 4 > end:
            raise DecodeError(f"RTCP CCFB has {end - pos} stray bytes before the report timestamp")
        ssrc = struct.unpack_from(">I", fci, pos)[0]
        pos += 4
    return Ccfb(r.sender_ssrc, tuple(blocks), struct.unpack_from(">I", fci, end)[0], r.padding)


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
    """Slice loss indication (PSFB FMT 2, RFC 4585 §6.3.2): one entry (SliEntry) per lost run of
    macroblocks."""

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
    """Full intra request (PSFB FMT 4, RFC 5104 §4.3.1): one entry (FirEntry) per media sender asked for a
    keyframe (the common header's media SSRC is not used, 0)."""

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


FeedbackMessage = Union[Nack, Tmmbr, Tmmbn, TransportCc, Ccfb, Pli, Sli, Rpsi, Fir, Remb, Feedback]


def _feedback_bytes(record) -> bytes:
    _check_ssrc(record.sender_ssrc, "feedback sender")
    _check_ssrc(record.media_ssrc, "feedback media")
    return packet_bytes(record.packet_type, record.fmt,
                        struct.pack(">II", record.sender_ssrc, record.media_ssrc) + record.fci, record.padding)


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
    (PacketType.RTPFB, RtpfbFormat.CCFB): _parse_ccfb,
    (PacketType.PSFB, PsfbFormat.PLI): _parse_pli,
    (PacketType.PSFB, PsfbFormat.SLI): _parse_sli,
    (PacketType.PSFB, PsfbFormat.RPSI): _parse_rpsi,
    (PacketType.PSFB, PsfbFormat.FIR): _parse_fir,
    (PacketType.PSFB, PsfbFormat.AFB): _parse_afb,
}


_FEEDBACK_NAMES = {(PacketType.RTPFB, RtpfbFormat.TRANSPORT_CC): "transport-cc",
                   (PacketType.RTPFB, RtpfbFormat.RAPID_RESYNC): "rapid-resync",
                   (PacketType.RTPFB, RtpfbFormat.CCFB): "ccfb"}


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
    """The typed record of a raw feedback packet from `parse_compound`: Nack, Tmmbr, Tmmbn, TransportCc, Ccfb, Pli, Sli,
    Rpsi, Fir or Remb; the raw `Feedback` itself for other formats (and AFB messages that are not REMB).
    `bytes(parse_feedback(r)) == bytes(r)` for canonically written packets.  DecodeError ("RTCP <format>
    <problem>") when the FCI does not fit its format: a length that is not a whole number of entries, an empty
    FCI where entries are required, transport-cc chunks or deltas overrunning the FCI, CCFB blocks overrunning it or
    leaving stray bytes, a REMB SSRC count that does not match."""
    parser = _FCI_PARSERS.get((record.packet_type, record.fmt))
    return record if parser is None else parser(record)
