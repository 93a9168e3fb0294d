"""RTP fixed header, CSRC list and header extension (RFC 3550 §5.1, §5.3.1; RFC 8285 for the 0xBEDE/0x100x ids).

Strategy: two speeds, one truth.  `parse` decodes one packet into an RtpHeader (for teaching, tests, rich decoding);
`decode_headers` reads the same fields for many packets at once with numpy (the hot path).  A test holds them equal.
The payload is never interpreted here: with SRTP the payload, its padding and the auth tag are indistinguishable.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from ..io.buffer import ByteSource
from ..io.errors import DecodeError

RTP_VERSION = 2  # RFC 3550 §5.1
RTP_HEADER_LEN = 12  # RFC 3550 §5.1
RTCP_PT_RANGE = range(64, 96)  # RFC 5761 §4: (second byte & 0x7F) in 64..95 means RTCP, not RTP
ONE_BYTE_EXTENSION = 0xBEDE  # RFC 8285 §4.2


@dataclass(frozen=True, slots=True)
class RtpHeader:
    """An RTP header (RFC 3550 §5.1). `payload_offset` counts from the first byte of the packet."""

    marker: bool
    payload_type: int
    sequence_number: int
    timestamp: int
    ssrc: int
    padding: bool = False
    csrcs: tuple[int, ...] = ()
    extension_profile: int | None = None
    extension: bytes = b""

    @property
    def payload_offset(self) -> int:
        return RTP_HEADER_LEN + 4 * len(self.csrcs) + (4 + len(self.extension) if self.extension_profile is not None else 0)

    def __bytes__(self) -> bytes:
        if len(self.extension) % 4:
            raise DecodeError("RTP extension length is not a multiple of 4 bytes")
        b0 = (RTP_VERSION << 6) | (0x20 if self.padding else 0) | (0x10 if self.extension_profile is not None else 0)
        b0 |= len(self.csrcs)
        b1 = (0x80 if self.marker else 0) | self.payload_type
        out = struct.pack(">BBHII", b0, b1, self.sequence_number, self.timestamp, self.ssrc)
        out += b"".join(struct.pack(">I", c) for c in self.csrcs)
        if self.extension_profile is not None:
            out += struct.pack(">HH", self.extension_profile, len(self.extension) // 4) + self.extension
        return out


def parse(data: bytes) -> RtpHeader:
    """The RTP header at the start of `data`; DecodeError for anything that is not a complete RTP header."""
    if len(data) < RTP_HEADER_LEN:
        raise DecodeError(f"RTP header is truncated ({len(data)} of {RTP_HEADER_LEN} bytes)")
    b0, b1, seq, ts, ssrc = struct.unpack_from(">BBHII", data)
    if b0 >> 6 != RTP_VERSION:
        raise DecodeError(f"RTP version is {b0 >> 6}, not 2")
    if (b1 & 0x7F) in RTCP_PT_RANGE:
        raise DecodeError(f"RTP payload type {b1 & 0x7F} is in the RTCP range (RFC 5761)")
    cc = b0 & 0x0F
    pos = RTP_HEADER_LEN + 4 * cc
    if len(data) < pos:
        raise DecodeError(f"RTP CSRC list is truncated ({cc} CSRCs need {pos} bytes, have {len(data)})")
    csrcs = struct.unpack_from(f">{cc}I", data, RTP_HEADER_LEN)
    profile = None
    ext = b""
    if b0 & 0x10:
        if len(data) < pos + 4:
            raise DecodeError("RTP extension header is truncated")
        profile, words = struct.unpack_from(">HH", data, pos)
        if len(data) < pos + 4 + 4 * words:
            raise DecodeError(f"RTP extension overruns the packet ({words} words declared)")
        ext = bytes(data[pos + 4 : pos + 4 + 4 * words])
    return RtpHeader(bool(b1 & 0x80), b1 & 0x7F, seq, ts, ssrc, bool(b0 & 0x20), tuple(csrcs), profile, ext)


def payload(data: bytes, header: RtpHeader | None = None) -> bytes:
    """The payload of a plaintext RTP packet: the bytes after the header (CSRCs and extension), without the
    padding that the last byte counts when P is set (RFC 3550 §5.1).  DecodeError when that count is not valid
    (§A.1: it counts itself, so at least 1, and no more than the bytes after the header).  Not for SRTP as
    captured: its padding is inside the ciphertext and its last bytes are the auth tag."""
    header = header or parse(data)
    body = data[header.payload_offset:]
    if not header.padding:
        return bytes(body)
    if not body:
        raise DecodeError("RTP padding bit is set on an empty payload")
    count = body[-1]
    if count == 0:
        raise DecodeError("RTP padding count is 0 (it counts itself, so at least 1)")
    if count > len(body):
        raise DecodeError(f"RTP padding count {count} overruns the payload ({len(body)} bytes)")
    return bytes(body[: len(body) - count])


def ext_profile_missing(extension: np.ndarray, error: np.ndarray) -> np.ndarray:
    """Where decode_headers read no extension profile: no X bit, or the header ends before the profile."""
    return ~extension | np.isin(error, (RTP_TRUNCATED, RTP_CSRC_TRUNCATED, RTP_EXTENSION_TRUNCATED))


# Vectorised -------------------------------------------------------------------------------------------------------

RTP_OK = 0
RTP_TRUNCATED = 1  # fewer than 12 bytes
RTP_CSRC_TRUNCATED = 2
RTP_EXTENSION_TRUNCATED = 3
RTP_EXTENSION_OVERRUN = 4
RTP_ERROR_MESSAGES = {
    RTP_TRUNCATED: "RTP header is truncated",
    RTP_CSRC_TRUNCATED: "RTP CSRC list is truncated",
    RTP_EXTENSION_TRUNCATED: "RTP extension header is truncated",
    RTP_EXTENSION_OVERRUN: "RTP extension overruns the packet",
}


HEADER_FIELDS = {
    "seq": np.uint16, "ts": np.uint32, "ssrc": np.uint32, "marker": bool, "pt": np.uint8, "padding": bool,
    "extension": bool, "csrc_count": np.uint8, "ext_profile": np.uint16, "payload_offset": np.uint16,
    "payload_len": np.uint16, "error": np.uint8,
}


def empty_headers() -> dict[str, np.ndarray]:
    """What decode_headers returns for no packets (without the raw b0/b1 bytes)."""
    return {name: np.zeros(0, dtype=dtype) for name, dtype in HEADER_FIELDS.items()}


def decode_headers(src: ByteSource, off: np.ndarray, cap: np.ndarray, wire_len: np.ndarray) -> dict[str, np.ndarray]:
    """RTP header fields of many packets at once (`off`: first byte of each packet in `src`).

    `cap` is how many bytes of each packet were captured, `wire_len` how long it was.  Returns arrays: b0, b1,
    seq (uint16), ts (uint32), ssrc (uint32), marker, padding, extension (bool), csrc_count, pt (uint8),
    ext_profile (uint16; 0 where there is none, see ext_profile_missing), payload_offset (uint16), payload_len
    (uint16), error (uint8 RTP_* code).
    Fields of packets too short to hold them read as 0; `error` says which.
    """
    ok = cap >= RTP_HEADER_LEN
    cur = src.at(off, ok)
    b0 = cur.u8(0)
    b1 = cur.u8(1)
    seq = cur.be16(2)
    ts = cur.be32(4)
    ssrc = cur.be32(8)
    cc = (b0 & 0x0F).astype(np.int32)
    has_ext = (b0 & 0x10) != 0
    hdr = RTP_HEADER_LEN + 4 * cc
    error = np.where(ok, RTP_OK, RTP_TRUNCATED).astype(np.uint8)
    csrc_short = ok & (wire_len < hdr)
    error[csrc_short] = RTP_CSRC_TRUNCATED
    ext_at = off + hdr
    ext_ok = ok & has_ext & ~csrc_short & (cap >= hdr + 4)
    error[ok & has_ext & ~csrc_short & ~ext_ok] = RTP_EXTENSION_TRUNCATED
    ext_profile = np.where(ext_ok, src.be16(ext_at, ext_ok), 0).astype(np.uint16)
    ext_words = src.be16(ext_at + 2, ext_ok).astype(np.int32)
    hdr = np.where(ext_ok, hdr + 4 + 4 * ext_words, hdr)
    overrun = ext_ok & (hdr > wire_len)
    error[overrun] = RTP_EXTENSION_OVERRUN
    # A UDP payload is at most 65,527 bytes, so both fit 16 bits (the table's dtype; no copy later).
    payload_len = np.where(error == RTP_OK, wire_len - hdr, 0).astype(np.uint16)
    return {
        "b0": b0, "b1": b1, "seq": seq, "ts": ts, "ssrc": ssrc,
        "marker": (b1 & 0x80) != 0, "pt": (b1 & 0x7F).astype(np.uint8), "padding": (b0 & 0x20) != 0,
        "extension": has_ext, "csrc_count": cc.astype(np.uint8), "ext_profile": ext_profile,
        "payload_offset": np.minimum(hdr, 0xFFFF).astype(np.uint16), "payload_len": payload_len, "error": error,
    }
