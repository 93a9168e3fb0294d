"""QUIC long headers (RFC 8999 invariants, RFC 9000 §17.2, RFC 9369 QUIC v2): enough to name a UDP flow QUIC (RFC
9443 lets QUIC share a port with WebRTC) instead of "other".

Strategy: sans-IO like the other decoders.  `looks_like_initial` is the vectorised evidence the demultiplexer uses:
a client Initial packet, which RFC 9000 §14.1 pads to a datagram of at least 1200 bytes, with a QUIC version this
module knows (a version negotiation packet or an unknown version is not evidence).  `parse_long_header` reads the
version-independent fields (RFC 8999 §5.1) of one packet.  The payload is encrypted — even an Initial's, with keys
derived from its destination connection id (RFC 9001 §5.2) — so the ALPN inside the ClientHello is not read here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .buffer import ByteSource
from .errors import DecodeError

LONG_HEADER_FORM = 0x80  # RFC 8999 §5.1: the first bit set
FIXED_BIT = 0x40  # RFC 9000 §17.2
MAX_CID_LEN = 20  # RFC 9000 §17.2: connection ids of QUIC v1 and v2 are at most 20 bytes
MIN_INITIAL_DATAGRAM = 1200  # RFC 9000 §14.1
QUIC_V1 = 0x00000001  # RFC 9000
QUIC_V2 = 0x6B3343CF  # RFC 9369 §3.1
VERSION_NAMES = {0: "version negotiation", QUIC_V1: "QUIC v1", QUIC_V2: "QUIC v2"}
# The long packet types: v1 (RFC 9000 §17.2) and v2 (RFC 9369 §3.2) number them differently.
PACKET_TYPES = {QUIC_V1: ("initial", "0-rtt", "handshake", "retry"),
                QUIC_V2: ("retry", "initial", "0-rtt", "handshake")}


def version_name(version: int) -> str:
    if version in VERSION_NAMES:
        return VERSION_NAMES[version]
    if version >> 8 == 0xFF0000:  # the IETF drafts, e.g. 0xff00001d = draft-29
        return f"draft-{version & 0xFF}"
    if version & 0x0F0F0F0F == 0x0A0A0A0A:  # RFC 9000 §15: reserved to exercise version negotiation
        return "reserved"
    return f"0x{version:08x}"


def _known(version: np.ndarray) -> np.ndarray:
    return (version == QUIC_V1) | (version == QUIC_V2) | ((version >> 8) == 0xFF0000)


@dataclass(frozen=True, slots=True)
class LongHeader:
    """A QUIC long header (RFC 8999 §5.1): the first byte, version, destination and source connection ids, and the
    packet type as this version numbers it ("initial", "handshake", ...; None for an unknown version)."""

    first_byte: int
    version: int
    destination_connection_id: bytes
    source_connection_id: bytes

    @property
    def packet_type(self) -> str | None:
        types = PACKET_TYPES.get(self.version)
        return types[(self.first_byte >> 4) & 0x03] if types else None

    @property
    def version_name(self) -> str:
        return version_name(self.version)

    def __bytes__(self) -> bytes:
        return (bytes([self.first_byte]) + self.version.to_bytes(4, "big")
                + bytes([len(self.destination_connection_id)]) + self.destination_connection_id
                + bytes([len(self.source_connection_id)]) + self.source_connection_id)


def parse_long_header(data: bytes) -> LongHeader:
    """The long header at the start of a datagram; DecodeError when it is truncated, not a long header, or has a
    connection id longer than QUIC v1/v2 allow (only for those versions: RFC 8999 allows 255 bytes)."""
    if len(data) < 7:
        raise DecodeError(f"QUIC long header is truncated ({len(data)} of 7 bytes)")
    first = data[0]
    if not first & LONG_HEADER_FORM:
        raise DecodeError("QUIC packet has a short header (first bit clear)")
    version = int.from_bytes(data[1:5], "big")
    pos = 5
    cids = []
    for name in ("destination", "source"):
        if pos >= len(data):
            raise DecodeError(f"QUIC long header {name} connection id is truncated")
        n = data[pos]
        if n > MAX_CID_LEN and version in PACKET_TYPES:
            raise DecodeError(f"QUIC long header {name} connection id has length {n}, more than {MAX_CID_LEN}")
        if pos + 1 + n > len(data):
            raise DecodeError(f"QUIC long header {name} connection id is truncated")
        cids.append(bytes(data[pos + 1:pos + 1 + n]))
        pos += 1 + n
    return LongHeader(first, version, cids[0], cids[1])


def looks_like_initial(src: ByteSource, off: np.ndarray, cap: np.ndarray, wire_len: np.ndarray) -> np.ndarray:
    """Vectorised: a client Initial of a known QUIC version (v1, v2, drafts) in a datagram of at least 1200 bytes,
    with connection ids of at most 20 bytes inside the captured bytes."""
    ok = cap >= 7
    first = src.u8(off, ok)
    version = src.be32(off + 1, ok).astype(np.int64)
    dcid_len = src.u8(off + 5, ok).astype(np.int64)
    ok &= (first & (LONG_HEADER_FORM | FIXED_BIT)) == (LONG_HEADER_FORM | FIXED_BIT)
    ok &= _known(version) & (dcid_len <= MAX_CID_LEN) & (cap >= 7 + dcid_len) & (wire_len >= MIN_INITIAL_DATAGRAM)
    scid_len = src.u8(off + 6 + dcid_len, ok).astype(np.int64)
    ok &= (scid_len <= MAX_CID_LEN) & (cap >= 7 + dcid_len + scid_len)
    packet_type = (first >> 4) & 0x03
    return ok & np.where(version == QUIC_V2, packet_type == 1, packet_type == 0)
