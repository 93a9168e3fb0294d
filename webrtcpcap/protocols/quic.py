"""QUIC long headers (RFC 8999 invariants, RFC 9000 §17.2, RFC 9369 QUIC v2): enough to name a UDP flow QUIC
(RFC 9443 lets QUIC share a port with WebRTC) instead of "other"; and Initial packet protection (RFC 9001 §5,
RFC 9369 §3.3) removed, so that the TLS ClientHello and ServerHello the Initials carry in CRYPTO frames (RFC 9000
§19.6) say which ALPN, server name and TLS version a flow used.

Strategy: sans-IO like the other decoders.  `looks_like_initial` is the vectorised evidence the demultiplexer uses:
a client Initial packet, which RFC 9000 §14.1 pads to a datagram of at least 1200 bytes, with a QUIC version this
module knows (a version negotiation packet or an unknown version is not evidence).  `parse_long_header` reads the
version-independent fields (RFC 8999 §5.1) of one packet; `parse_packet` one long-header packet of a datagram, with
its length so that coalesced packets (RFC 9000 §12.2) are walked; `open_initial` removes an Initial's header
protection (§5.4) and AEAD (§5.3) with keys anyone can derive from the client's first destination connection id
(§5.2): no key log is needed.  `parse_frames` reads the frames an Initial may carry (PADDING, PING, ACK, CRYPTO,
CONNECTION_CLOSE: RFC 9000 §12.4), and `CryptoStream` (state in, state out) puts CRYPTO data back in offset order,
keeping at most MAX_CRYPTO_BYTES whatever the offsets say.  The TLS messages are read by webrtcpcap.protocols.dtls (one home
for the ClientHello parser).  Only DecodeError leaves this module; a packet that does not authenticate is one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from . import dtls, tls13
from ..io.buffer import ByteSource
from ..io.errors import DecodeError

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
        if types is None and self.version >> 8 == 0xFF0000:  # the IETF drafts number the types as v1 does
            types = PACKET_TYPES[QUIC_V1]
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


# --- Initial packet protection (RFC 9001 §5) ------------------------------------------------------------------------

INITIAL_SALTS = {  # the salt of the initial secrets' HKDF-Extract
    QUIC_V1: bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"),  # RFC 9001 §5.2
    QUIC_V2: bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9"),  # RFC 9369 §3.3.1
}
DRAFT_29_SALT = bytes.fromhex("afbfec289993d24c9e9786f19c6111e04390a899")  # draft-ietf-quic-tls-29..32 §5.2
KEY_LABELS = {QUIC_V2: (b"quicv2 key", b"quicv2 iv", b"quicv2 hp")}  # RFC 9369 §3.3.2
V1_KEY_LABELS = (b"quic key", b"quic iv", b"quic hp")  # RFC 9001 §5.1 (the drafts' labels too)
INITIAL_KEY_LEN, INITIAL_IV_LEN = 16, 12  # AEAD_AES_128_GCM (RFC 9001 §5.3)
SAMPLE_LEN = 16  # RFC 9001 §5.4.2: the header protection sample
PN_SAMPLE_OFFSET = 4  # §5.4.2: the sample starts 4 bytes after the packet number's start
AEAD_TAG_LEN = 16
MAX_CRYPTO_BYTES = 1 << 16  # CRYPTO bytes kept per direction: a ClientHello, even a post-quantum one, is ~2 KB
MAX_VARINT = (1 << 62) - 1  # RFC 9000 §16


def salt(version: int) -> bytes:
    """The initial salt of a version: v1, v2, drafts 29 to 32; DecodeError for others (their keys are unknown)."""
    if version in INITIAL_SALTS:
        return INITIAL_SALTS[version]
    if 0xFF00001D <= version <= 0xFF000020:
        return DRAFT_29_SALT
    raise DecodeError(f"QUIC version {version_name(version)} has no known initial salt")


@dataclass(frozen=True, slots=True)
class InitialKeys:
    """The packet protection key, IV and header protection key of one direction's Initial packets (RFC 9001 §5.1).
    Anyone can derive them from the connection id on the wire, so they are not secrets; the repr still keeps
    them out of logs."""

    version: int
    key: bytes
    iv: bytes
    hp: bytes

    def __repr__(self) -> str:
        return f"<InitialKeys {version_name(self.version)}>"


def initial_secret(destination_connection_id: bytes, version: int, client: bool) -> bytes:
    """client_initial_secret or server_initial_secret (RFC 9001 §5.2): HKDF-Extract(salt, client's first DCID),
    then HKDF-Expand-Label(.., "client in" / "server in", "", 32) with the TLS 1.3 "tls13 " prefix."""
    initial = tls13.hkdf_extract(salt(version), bytes(destination_connection_id))
    return tls13.hkdf_expand_label(initial, b"client in" if client else b"server in", b"", 32,
                                   prefix=tls13.TLS13_LABEL_PREFIX)


def initial_keys(destination_connection_id: bytes, version: int, client: bool) -> InitialKeys:
    """The Initial keys of the client's (client=True) or server's packets of a connection whose client's first
    Initial had this destination connection id (RFC 9001 §5.2; RFC 9369 §3.3 for v2's salt and labels)."""
    secret = initial_secret(destination_connection_id, version, client)
    key_label, iv_label, hp_label = KEY_LABELS.get(version, V1_KEY_LABELS)
    expand = lambda label, n: tls13.hkdf_expand_label(secret, label, b"", n, prefix=tls13.TLS13_LABEL_PREFIX)
    return InitialKeys(version, expand(key_label, INITIAL_KEY_LEN), expand(iv_label, INITIAL_IV_LEN),
                       expand(hp_label, INITIAL_KEY_LEN))


def header_protection_mask(keys: InitialKeys, sample: bytes) -> bytes:
    """AES-ECB(hp, sample) (RFC 9001 §5.4.3): byte 0 masks the low 4 bits of a long header's first byte, bytes 1..4
    the packet number."""
    enc = Cipher(algorithms.AES(keys.hp), modes.ECB()).encryptor()
    return enc.update(bytes(sample)) + enc.finalize()


def decode_packet_number(truncated: int, bits: int, expected: int) -> int:
    """The full packet number (RFC 9000 §A.3): the value with these low bits closest to `expected` (one more than
    the largest packet number received so far in the packet number space)."""
    return tls13.reconstruct(truncated, bits, expected)


def read_varint(data: bytes, pos: int, part: str) -> tuple[int, int]:
    """A variable-length integer (RFC 9000 §16) at `pos`: (value, position after it)."""
    if pos >= len(data):
        raise DecodeError(f"QUIC {part} is truncated")
    n = 1 << (data[pos] >> 6)
    if pos + n > len(data):
        raise DecodeError(f"QUIC {part} is truncated")
    return int.from_bytes(data[pos:pos + n], "big") & ((1 << (8 * n - 2)) - 1), pos + n


def encode_varint(value: int) -> bytes:
    """The shortest RFC 9000 §16 encoding of a value up to 2^62 - 1 (for tests and teaching)."""
    for n, prefix in ((1, 0), (2, 0x40), (4, 0x80), (8, 0xC0)):
        if value < 1 << (8 * n - 2):
            return (value | prefix << (8 * n - 8)).to_bytes(n, "big")
    raise ValueError(f"{value} is larger than a QUIC varint holds")


@dataclass(frozen=True, slots=True)
class Packet:
    """One long-header packet of a datagram (RFC 9000 §17.2), as far as it can be read without keys: the header,
    the Initial's token, the Length field (None for Retry and version negotiation packets, which have none and run
    to the datagram's end), where the (protected) packet number starts, and the packet's bytes (`packet`, from its
    first byte to its end: what `open_initial` takes)."""

    header: LongHeader
    token: bytes
    length: int | None
    packet_number_offset: int
    packet: bytes

    @property
    def packet_type(self) -> str:
        if self.header.version == 0:
            return "version negotiation"
        return self.header.packet_type or "unknown"


def parse_packet(data: bytes, offset: int = 0) -> tuple[Packet, int]:
    """The long-header packet starting at `offset` of a datagram and the offset after it (RFC 9000 §12.2: the
    Length field of Initial, 0-RTT and Handshake packets is what lets packets be coalesced).  DecodeError for a
    short header, a truncated header, or a Length running past the datagram."""
    data = bytes(data)
    header = parse_long_header(data[offset:])
    pos = offset + 7 + len(header.destination_connection_id) + len(header.source_connection_id)
    kind = header.packet_type
    if header.version == 0 or kind is None or kind == "retry":
        return Packet(header, b"", None, len(data) - offset, data[offset:]), len(data)
    token = b""
    if kind == "initial":
        token_len, pos = read_varint(data, pos, "Initial token length")
        if token_len > len(data) - pos:
            raise DecodeError(f"QUIC Initial token has length {token_len}, more than the "
                              f"{len(data) - pos} bytes left")
        token, pos = data[pos:pos + token_len], pos + token_len
    length, pos = read_varint(data, pos, f"{kind} packet length")
    if length > len(data) - pos:
        raise DecodeError(f"QUIC {kind} packet length {length} runs past the datagram ({len(data) - pos} bytes left)")
    end = pos + length
    return Packet(header, token, length, pos - offset, data[offset:end]), end


def parse_datagram(data: bytes) -> tuple[list[Packet], str | None]:
    """The long-header packets coalesced in one datagram (RFC 9000 §12.2), and why the walk stopped early (None
    when it reached the end, or a short-header packet, which runs to the end)."""
    packets, offset = [], 0
    while offset < len(data):
        if not data[offset] & LONG_HEADER_FORM:
            return packets, None  # a 1-RTT packet: the rest of the datagram, not readable without keys
        try:
            packet, offset = parse_packet(data, offset)
        except DecodeError as e:
            return packets, str(e)
        packets.append(packet)
    return packets, None


@dataclass(frozen=True, slots=True)
class OpenedInitial:
    """An Initial packet with its protection removed: the packet number (full, RFC 9000 §17.1), its length on the
    wire (1..4 bytes), the reserved bits of the unmasked first byte (RFC 9000 §17.2: must be 0) and the plaintext
    payload (the frames)."""

    packet: Packet
    packet_number: int
    packet_number_length: int
    reserved_bits: int
    payload: bytes


def open_initial(packet: Packet, keys: InitialKeys, expected_packet_number: int = 0) -> OpenedInitial:
    """Remove header protection (RFC 9001 §5.4.1) and the AEAD (§5.3) of an Initial packet.  DecodeError when the
    packet is too short to sample, or does not authenticate (wrong connection id, wrong version, or damage)."""
    if packet.packet_type != "initial" or packet.length is None:
        raise DecodeError(f"QUIC {packet.packet_type} packet is not an Initial")
    raw = packet.packet
    pn_at = packet.packet_number_offset
    sample_at = pn_at + PN_SAMPLE_OFFSET
    if sample_at + SAMPLE_LEN > len(raw):
        raise DecodeError(f"QUIC Initial is too short for its header protection sample ({len(raw) - pn_at} bytes "
                          f"after the header, {PN_SAMPLE_OFFSET + SAMPLE_LEN} needed)")
    mask = header_protection_mask(keys, raw[sample_at:sample_at + SAMPLE_LEN])
    first = raw[0] ^ (mask[0] & 0x0F)  # RFC 9001 §5.4.1: the low 4 bits of a long header
    pn_len = (first & 0x03) + 1
    truncated = bytes(a ^ b for a, b in zip(raw[pn_at:pn_at + pn_len], mask[1:1 + pn_len]))
    header = bytes([first]) + raw[1:pn_at] + truncated
    number = decode_packet_number(int.from_bytes(truncated, "big"), 8 * pn_len, expected_packet_number)
    nonce = bytes(a ^ b for a, b in zip(number.to_bytes(INITIAL_IV_LEN, "big"), keys.iv))
    ciphertext = raw[pn_at + pn_len:]
    if len(ciphertext) < AEAD_TAG_LEN:
        raise DecodeError("QUIC Initial payload is shorter than its AEAD tag")
    try:
        payload = AESGCM(keys.key).decrypt(nonce, ciphertext, header)
    except InvalidTag:
        raise DecodeError(f"QUIC Initial does not authenticate with the {version_name(keys.version)} Initial keys "
                          "(keys from another connection id, or a damaged packet)") from None
    return OpenedInitial(packet, number, pn_len, (first >> 2) & 0x03, payload)


def seal_initial(header: LongHeader, payload: bytes, keys: InitialKeys, packet_number: int,
                 packet_number_length: int = 4, token: bytes = b"") -> bytes:
    """An Initial packet with this plaintext payload (frames), protected as RFC 9001 §5.3-5.4 say: the inverse of
    `open_initial`, for tests and teaching.  The header's form and type bits are kept, its reserved bits cleared and
    its packet number length bits set; the Length field is the shortest varint.  ValueError when the payload is too
    short to sample (RFC 9001 §5.4.2: pad it)."""
    if not 1 <= packet_number_length <= 4:
        raise ValueError("a QUIC packet number has 1 to 4 bytes")
    if packet_number_length + len(payload) + AEAD_TAG_LEN < PN_SAMPLE_OFFSET + SAMPLE_LEN:
        raise ValueError("QUIC Initial payload is too short for the header protection sample")
    first = (header.first_byte & ~0x0F) | (packet_number_length - 1)  # reserved bits 0 (RFC 9000 §17.2)
    truncated = (packet_number & ((1 << (8 * packet_number_length)) - 1)).to_bytes(packet_number_length, "big")
    head = (bytes(LongHeader(first, header.version, header.destination_connection_id, header.source_connection_id))
            + encode_varint(len(token)) + token
            + encode_varint(packet_number_length + len(payload) + AEAD_TAG_LEN))
    pn_at = len(head)
    plain_header = head + truncated
    nonce = bytes(a ^ b for a, b in zip(packet_number.to_bytes(INITIAL_IV_LEN, "big"), keys.iv))
    sealed = plain_header + AESGCM(keys.key).encrypt(nonce, bytes(payload), plain_header)
    mask = header_protection_mask(keys, sealed[pn_at + PN_SAMPLE_OFFSET:pn_at + PN_SAMPLE_OFFSET + SAMPLE_LEN])
    pn = bytes(a ^ b for a, b in zip(truncated, mask[1:1 + packet_number_length]))
    return bytes([first ^ (mask[0] & 0x0F)]) + sealed[1:pn_at] + pn + sealed[pn_at + packet_number_length:]


# --- frames (RFC 9000 §19) ------------------------------------------------------------------------------------------


class FrameType:
    PADDING = 0x00  # RFC 9000 §19.1
    PING = 0x01  # §19.2
    ACK = 0x02  # §19.3
    ACK_ECN = 0x03  # §19.3
    CRYPTO = 0x06  # §19.6
    CONNECTION_CLOSE = 0x1C  # §19.19: a QUIC-layer error
    CONNECTION_CLOSE_APPLICATION = 0x1D  # §19.19: an application error (not allowed in Initials, §12.4)


@dataclass(frozen=True, slots=True)
class PaddingFrame:
    """A run of PADDING frames (RFC 9000 §19.1): each is one zero byte; `length` counts them."""

    length: int

    def __bytes__(self) -> bytes:
        return bytes(self.length)


@dataclass(frozen=True, slots=True)
class PingFrame:
    """PING (RFC 9000 §19.2)."""

    def __bytes__(self) -> bytes:
        return b"\x01"


@dataclass(frozen=True, slots=True)
class AckFrame:
    """ACK (RFC 9000 §19.3): the largest acknowledged, the delay (encoded), the first range and the (gap, length)
    pairs after it; ecn_counts (ECT0, ECT1, ECN-CE) for type 0x03."""

    largest_acknowledged: int
    ack_delay: int
    first_ack_range: int
    ack_ranges: tuple[tuple[int, int], ...]
    ecn_counts: tuple[int, int, int] | None = None

    def __bytes__(self) -> bytes:
        out = bytes([FrameType.ACK if self.ecn_counts is None else FrameType.ACK_ECN])
        out += b"".join(encode_varint(v) for v in (self.largest_acknowledged, self.ack_delay, len(self.ack_ranges),
                                                    self.first_ack_range))
        out += b"".join(encode_varint(g) + encode_varint(n) for g, n in self.ack_ranges)
        return out + b"".join(encode_varint(v) for v in self.ecn_counts or ())


@dataclass(frozen=True, slots=True)
class CryptoFrame:
    """CRYPTO (RFC 9000 §19.6): TLS handshake bytes at an offset of the packet number space's crypto stream."""

    offset: int
    data: bytes

    def __bytes__(self) -> bytes:
        return b"\x06" + encode_varint(self.offset) + encode_varint(len(self.data)) + self.data


@dataclass(frozen=True, slots=True)
class ConnectionCloseFrame:
    """CONNECTION_CLOSE (RFC 9000 §19.19): the error code (a QUIC transport error; 0x0100 + a TLS alert for a
    CRYPTO_ERROR, §20.1), the frame type that caused it (None for the application variant) and the reason."""

    error_code: int
    frame_type: int | None
    reason_phrase: bytes

    def __bytes__(self) -> bytes:
        if self.frame_type is None:
            head = b"\x1d" + encode_varint(self.error_code)
        else:
            head = b"\x1c" + encode_varint(self.error_code) + encode_varint(self.frame_type)
        return head + encode_varint(len(self.reason_phrase)) + self.reason_phrase


Frame = PaddingFrame | PingFrame | AckFrame | CryptoFrame | ConnectionCloseFrame


def parse_frames(payload: bytes) -> tuple[Frame, ...]:
    """The frames of an Initial or Handshake packet's plaintext (RFC 9000 §12.4 allows PADDING, PING, ACK, CRYPTO and
    CONNECTION_CLOSE there).  DecodeError for a truncated frame or any other frame type."""
    data = bytes(payload)
    frames: list[Frame] = []
    pos = 0
    while pos < len(data):
        ftype, start = data[pos], pos
        pos += 1
        if ftype == FrameType.PADDING:
            end = pos
            while end < len(data) and data[end] == 0:
                end += 1
            frames.append(PaddingFrame(end - start))
            pos = end
        elif ftype == FrameType.PING:
            frames.append(PingFrame())
        elif ftype in (FrameType.ACK, FrameType.ACK_ECN):
            largest, pos = read_varint(data, pos, "ACK frame largest acknowledged")
            delay, pos = read_varint(data, pos, "ACK frame delay")
            count, pos = read_varint(data, pos, "ACK frame range count")
            first, pos = read_varint(data, pos, "ACK frame first range")
            if count > (len(data) - pos) // 2:  # each range takes at least 2 bytes: no loop driven by the field
                raise DecodeError(f"QUIC ACK frame range count {count} is more than its bytes hold")
            ranges = []
            for _ in range(count):
                gap, pos = read_varint(data, pos, "ACK frame gap")
                length, pos = read_varint(data, pos, "ACK frame range length")
                ranges.append((gap, length))
            ecn = None
            if ftype == FrameType.ACK_ECN:
                counts = []
                for name in ("ECT0", "ECT1", "ECN-CE"):
                    v, pos = read_varint(data, pos, f"ACK frame {name} count")
                    counts.append(v)
                ecn = tuple(counts)
            frames.append(AckFrame(largest, delay, first, tuple(ranges), ecn))
        elif ftype == FrameType.CRYPTO:
            offset, pos = read_varint(data, pos, "CRYPTO frame offset")
            length, pos = read_varint(data, pos, "CRYPTO frame length")
            if length > len(data) - pos:
                raise DecodeError(f"QUIC CRYPTO frame length {length} runs past the packet ({len(data) - pos} "
                                  "bytes left)")
            if offset + length > MAX_VARINT:
                raise DecodeError("QUIC CRYPTO frame ends past 2^62 - 1")  # RFC 9000 §19.6
            frames.append(CryptoFrame(offset, data[pos:pos + length]))
            pos += length
        elif ftype in (FrameType.CONNECTION_CLOSE, FrameType.CONNECTION_CLOSE_APPLICATION):
            code, pos = read_varint(data, pos, "CONNECTION_CLOSE error code")
            frame_type = None
            if ftype == FrameType.CONNECTION_CLOSE:
                frame_type, pos = read_varint(data, pos, "CONNECTION_CLOSE frame type")
            length, pos = read_varint(data, pos, "CONNECTION_CLOSE reason length")
            if length > len(data) - pos:
                raise DecodeError("QUIC CONNECTION_CLOSE reason phrase is truncated")
            frames.append(ConnectionCloseFrame(code, frame_type, data[pos:pos + length]))
            pos += length
        else:
            raise DecodeError(f"QUIC frame type 0x{ftype:02x} at byte {start} is not allowed in an Initial packet")
    return tuple(frames)


@dataclass(frozen=True, slots=True)
class CryptoStream:
    """The CRYPTO data of one packet number space of one direction (RFC 9000 §19.6), put back in offset order.
    `data` is the contiguous prefix from offset 0; `pending` the pieces past a hole; `dropped` counts the bytes
    ignored because they lie past MAX_CRYPTO_BYTES (offsets are read from the wire: memory never follows them).
    Frozen: `add` returns the next state."""

    data: bytes = b""
    pending: tuple[tuple[int, bytes], ...] = ()
    dropped: int = 0

    def add(self, frame: CryptoFrame) -> CryptoStream:
        start, piece = frame.offset, frame.data
        if start >= MAX_CRYPTO_BYTES:
            return CryptoStream(self.data, self.pending, self.dropped + len(piece))
        over = max(0, start + len(piece) - MAX_CRYPTO_BYTES)
        piece = piece[:len(piece) - over]
        pieces = sorted(self.pending + ((start, piece),))
        data = self.data
        rest = []
        for at, chunk in pieces:
            if at <= len(data):  # touches or overlaps what is contiguous: only its new bytes extend it
                data += chunk[len(data) - at:]
            else:
                rest.append((at, chunk))
        return CryptoStream(data, tuple(rest), self.dropped + over)


TLS_HANDSHAKE_HEADER_LEN = 4  # RFC 8446 §4: msg_type (1) and length (3); no DTLS fields in QUIC (RFC 9001 §4)


def handshake_messages(stream: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """The complete TLS handshake messages at the start of a CRYPTO stream, as (msg_type, body), and how many bytes
    of a message that is not complete yet follow them (0 when none)."""
    out, pos = [], 0
    while pos + TLS_HANDSHAKE_HEADER_LEN <= len(stream):
        length = int.from_bytes(stream[pos + 1:pos + 4], "big")
        end = pos + TLS_HANDSHAKE_HEADER_LEN + length
        if end > len(stream):
            break
        out.append((stream[pos], bytes(stream[pos + TLS_HANDSHAKE_HEADER_LEN:end])))
        pos = end
    return out, len(stream) - pos


def tls_message(msg_type: int, body: bytes):
    """A TLS ClientHello or ServerHello inside QUIC (webrtcpcap.protocols.dtls's parsers, TLS form), else None."""
    if msg_type == dtls.HandshakeType.CLIENT_HELLO:
        return dtls.parse_client_hello(body, datagram=False)
    if msg_type == dtls.HandshakeType.SERVER_HELLO:
        return dtls.parse_server_hello(body, datagram=False)
    return None


# --- one flow's Initials ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PacketView:
    """What a flow reader learnt from one long-header packet: its place in the datagram (`index`), the packet, who
    sent it (`from_client`), the opened Initial (None for other types or when it did not open), the frames read,
    the TLS messages this packet completed in its direction's CRYPTO stream (a ClientHello, a ServerHello; usually
    none or one), and `error` (None, or why the packet could not be opened or read: flagged, never dropped)."""

    index: int
    packet: Packet | None
    from_client: bool
    opened: OpenedInitial | None = None
    frames: tuple[Frame, ...] = ()
    messages: tuple[object, ...] = ()
    error: str | None = None

    @property
    def crypto_bytes(self) -> int:
        return sum(len(f.data) for f in self.frames if isinstance(f, CryptoFrame))


class FlowReader:
    """Reads the Initials of one QUIC flow, datagram by datagram in capture order (sans-IO: bytes in, views out).

    The client is the sender of the flow's first Initial (a client speaks first).  Both directions' Initial keys
    come from the destination connection id of the client's first Initial (RFC 9001 §5.2), or after a Retry from the
    one of the client's next Initial (RFC 9001 §5.2, RFC 9000 §17.2.5); each packet's own version picks the salt and
    labels (a server may answer in another compatible version, RFC 9368).  CRYPTO frames are put together per
    direction, and each ClientHello/ServerHello is given with the packet that completed it."""

    def __init__(self):
        self.client = None  # the sender key of the client
        self.key_dcid: bytes | None = None
        self._expected = {True: 0, False: 0}  # next packet number per direction (RFC 9000 §A.3)
        self._crypto = {True: CryptoStream(), False: CryptoStream()}
        self._messages_seen = {True: 0, False: 0}

    def crypto(self, from_client: bool) -> CryptoStream:
        return self._crypto[from_client]

    def datagram(self, data: bytes, sender) -> list[PacketView]:
        """The views of the long-header packets of one datagram sent by `sender` (any hashable key, e.g. "ip:port");
        a trailing error (a packet that does not parse) gets a view with packet None."""
        packets, problem = parse_datagram(bytes(data))
        views = []
        for i, packet in enumerate(packets):
            if self.client is None and packet.packet_type == "initial":
                self.client = sender
            views.append(self._packet(i, packet, self.client is not None and sender == self.client))
        if problem is not None:
            views.append(PacketView(len(packets), None, self.client is not None and sender == self.client,
                                    error=problem))
        return views

    def _packet(self, index: int, packet: Packet, from_client: bool) -> PacketView:
        if packet.packet_type == "retry" and not from_client:
            self.key_dcid = None  # the client's next Initial carries the connection id its keys come from
            return PacketView(index, packet, from_client)
        if packet.packet_type != "initial":
            return PacketView(index, packet, from_client)
        if from_client and self.key_dcid is None:
            self.key_dcid = packet.header.destination_connection_id
        if self.key_dcid is None:
            return PacketView(index, packet, from_client,
                              error="QUIC Initial from the server before any client Initial: no keys")
        try:
            keys = initial_keys(self.key_dcid, packet.header.version, client=from_client)
            opened = open_initial(packet, keys, self._expected[from_client])
        except DecodeError as e:
            return PacketView(index, packet, from_client, error=str(e) + self._other_version_hint(packet, from_client))
        self._expected[from_client] = max(self._expected[from_client], opened.packet_number + 1)
        try:
            frames = parse_frames(opened.payload)
        except DecodeError as e:
            return PacketView(index, packet, from_client, opened, error=str(e))
        stream = self._crypto[from_client]
        for f in frames:
            if isinstance(f, CryptoFrame):
                stream = stream.add(f)
        self._crypto[from_client] = stream
        messages, error = self._new_messages(from_client, stream)
        return PacketView(index, packet, from_client, opened, frames, messages, error)

    def _other_version_hint(self, packet: Packet, from_client: bool) -> str:
        """Why an Initial of v1 or v2 may not open: protected with the keys of the other version (seen from aioquic
        1.7 after compatible version negotiation, RFC 9368: a v2 header on a packet sealed with v1 keys).  The
        version in the header decides the keys (RFC 9369 §3.3.1), so the packet stays undecrypted; the hint says
        what would open it."""
        other = {QUIC_V1: QUIC_V2, QUIC_V2: QUIC_V1}.get(packet.header.version)
        if other is None or self.key_dcid is None:
            return ""
        try:
            open_initial(packet, initial_keys(self.key_dcid, other, client=from_client), self._expected[from_client])
        except DecodeError:
            return ""
        return (f"; it opens with the {version_name(other)} Initial keys: the sender kept another version's keys "
                "under this header (compatible version negotiation, RFC 9368)")

    def _new_messages(self, from_client: bool, stream: CryptoStream) -> tuple[tuple[object, ...], str | None]:
        complete, _ = handshake_messages(stream.data)
        new = complete[self._messages_seen[from_client]:]
        self._messages_seen[from_client] = len(complete)
        out, error = [], None
        for msg_type, body in new:
            try:
                message = tls_message(msg_type, body)
            except DecodeError as e:
                error = str(e)
                continue
            if message is not None:
                out.append(message)
        return tuple(out), error
