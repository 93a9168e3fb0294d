"""DTLS record headers (RFC 6347 §4.1, RFC 9147) as far as demultiplexing needs them.

Strategy: only the 13-byte record header and the first handshake header are read here; handshake reassembly,
flights and the use_srtp extension (RFC 5764) come with the DTLS work.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from .buffer import ByteSource
from .errors import DecodeError

DTLS_RECORD_HEADER_LEN = 13  # RFC 6347 §4.1
DTLS_VERSIONS = (0xFEFF, 0xFEFD, 0xFEFC)  # DTLS 1.0, 1.2, 1.3 (RFC 6347 §4.1, RFC 9147 §4)


class ContentType(IntEnum):
    """TLS record content types (RFC 8446 §5.1, RFC 6520, RFC 9146)."""

    CHANGE_CIPHER_SPEC = 20
    ALERT = 21
    HANDSHAKE = 22
    APPLICATION_DATA = 23
    HEARTBEAT = 24
    TLS12_CID = 25


HANDSHAKE_TYPES = (0, 1, 2, 3, 4, 11, 12, 13, 14, 15, 16, 20)  # RFC 6347 §4.2.2 (plus hello_request 0)


@dataclass(frozen=True, slots=True)
class RecordHeader:
    """A DTLS record header (RFC 6347 §4.1)."""

    content_type: int
    version: int
    epoch: int
    sequence_number: int
    length: int

    def __bytes__(self) -> bytes:
        seq = self.sequence_number.to_bytes(6, "big")
        return struct.pack(">BHH", self.content_type, self.version, self.epoch) + seq + struct.pack(">H", self.length)


def parse_record_header(data: bytes) -> RecordHeader:
    """The record header at the start of `data`; DecodeError if it is too short or not a DTLS version."""
    if len(data) < DTLS_RECORD_HEADER_LEN:
        raise DecodeError(f"DTLS record header is truncated ({len(data)} of {DTLS_RECORD_HEADER_LEN} bytes)")
    content_type, version, epoch = struct.unpack_from(">BHH", data)
    if version not in DTLS_VERSIONS:
        raise DecodeError(f"DTLS record has unknown version 0x{version:04x}")
    seq = int.from_bytes(data[5:11], "big")
    (length,) = struct.unpack_from(">H", data, 11)
    return RecordHeader(content_type, version, epoch, seq, length)


def looks_like_handshake(src: ByteSource, off: np.ndarray, cap: np.ndarray, wire_len: np.ndarray) -> np.ndarray:
    """Vectorised: a DTLS handshake record (type 22, DTLS version) that fits the datagram, with a known message type."""
    ok = cap >= DTLS_RECORD_HEADER_LEN + 1
    ctype = src.u8(off, ok)
    version = src.be16(off + 1, ok)
    length = src.be16(off + 11, ok).astype(np.int64)
    hs_type = src.u8(off + 13, ok)
    return (
        ok
        & (ctype == ContentType.HANDSHAKE)
        & np.isin(version, DTLS_VERSIONS)
        & (length + DTLS_RECORD_HEADER_LEN <= wire_len)
        & (length >= 1)
        & np.isin(hs_type, HANDSHAKE_TYPES)
    )
