"""STUN message headers (RFC 8489, formerly RFC 5389) and how they differ from classic STUN (RFC 3489).

Strategy: this module reads the fixed 20-byte header only; attribute decoding (and TURN, RFC 8656) comes with the
ICE work.  `looks_like_stun` is the vectorised test the demultiplexer uses as evidence that a flow is WebRTC.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from .buffer import ByteSource
from .errors import DecodeError

STUN_MAGIC_COOKIE = 0x2112A442  # RFC 8489 §5
STUN_HEADER_LEN = 20  # RFC 8489 §5


@dataclass(frozen=True, slots=True)
class StunHeader:
    """The fixed STUN header (RFC 8489 §5). `method` and `cls` are split out of `message_type`."""

    message_type: int
    length: int
    transaction_id: bytes  # 12 bytes

    @property
    def cls(self) -> int:
        """0 request, 1 indication, 2 success response, 3 error response (RFC 8489 §5)."""
        t = self.message_type
        return ((t >> 4) & 1) | ((t >> 7) & 2)

    @property
    def method(self) -> int:
        t = self.message_type
        return (t & 0x000F) | ((t >> 1) & 0x0070) | ((t >> 2) & 0x0F80)

    def __bytes__(self) -> bytes:
        return struct.pack(">HHI", self.message_type, self.length, STUN_MAGIC_COOKIE) + self.transaction_id


def parse_header(data: bytes) -> StunHeader:
    """The STUN header at the start of `data`; DecodeError unless it is an RFC 8489 header with a sane length."""
    if len(data) < STUN_HEADER_LEN:
        raise DecodeError(f"STUN header is truncated ({len(data)} of {STUN_HEADER_LEN} bytes)")
    message_type, length, cookie = struct.unpack_from(">HHI", data)
    if message_type & 0xC000:
        raise DecodeError("STUN header has the top two bits set")
    if cookie != STUN_MAGIC_COOKIE:
        raise DecodeError("STUN header has no magic cookie (classic RFC 3489 STUN, or not STUN)")
    if length % 4:
        raise DecodeError(f"STUN length {length} is not a multiple of 4")
    return StunHeader(message_type, length, bytes(data[8:20]))


def looks_like_stun(src: ByteSource, off: np.ndarray, cap: np.ndarray, wire_len: np.ndarray) -> np.ndarray:
    """Vectorised: an RFC 8489 header (top bits 0, magic cookie) whose length field accounts for the whole datagram."""
    ok = cap >= STUN_HEADER_LEN
    first = src.u8(off, ok)
    length = src.be16(off + 2, ok).astype(np.int64)
    cookie = src.be32(off + 4, ok)
    return ok & ((first & 0xC0) == 0) & (cookie == STUN_MAGIC_COOKIE) & (length % 4 == 0) & (length + 20 == wire_len)
