"""DTLS records and handshake messages (RFC 6347 DTLS 1.2; RFC 9147 / RFC 8446 DTLS 1.3: unified headers, ACK records,
HelloRetryRequest, supported_versions, key_share, cookie), with the use_srtp extension (RFC 5764) and the X.509 facts
WebRTC compares with the SDP (RFC 8122 fingerprints).

Strategy: sans-IO, bytes in, frozen records out.  A datagram holds several records (`parse_record` reads one and
says where the next starts); a plaintext handshake record holds one or more handshake fragments
(`parse_handshake_fragments`); fragments are put together by the pure `add_fragment` (state in, state out), and a
completed message body is read by `parse_message`.  Encrypted records (epoch > 0, DTLS 1.3 ciphertext) are kept as
opaque bytes.  A DTLS 1.3 unified header (RFC 9147 §4) is read as far as the wire shows it: its epoch and sequence
number are the low bits only, and the sequence number is encrypted (RFC 9147 §4.2.3), so neither is reconstructed
here; the connection id's length is not on the wire (it is negotiated), so the caller says it (`cid_length`).
Unknown extensions are kept raw (type + bytes).  Every length is checked before it is used: the only
exception that leaves this module is DecodeError.  The 13-byte header test `looks_like_handshake` is the vectorised
evidence the demultiplexer uses.
"""

from __future__ import annotations

import datetime
import hashlib
import struct
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from ..io.buffer import ByteSource
from ..io.errors import DecodeError

DTLS_RECORD_HEADER_LEN = 13  # RFC 6347 §4.1
DTLS_VERSIONS = (0xFEFF, 0xFEFD, 0xFEFC)  # DTLS 1.0, 1.2, 1.3 (RFC 6347 §4.1, RFC 9147 §4)
VERSION_NAMES = {0xFEFF: "DTLS 1.0", 0xFEFD: "DTLS 1.2", 0xFEFC: "DTLS 1.3"}
TLS_VERSION_NAMES = {0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}  # RFC 8446
HANDSHAKE_HEADER_LEN = 12  # RFC 6347 §4.2.2
RANDOM_LEN = 32  # RFC 5246 §7.4.1.2


class ContentType(IntEnum):
    """TLS record content types (RFC 8446 §5.1, RFC 6520, RFC 9146)."""

    CHANGE_CIPHER_SPEC = 20
    ALERT = 21
    HANDSHAKE = 22
    APPLICATION_DATA = 23
    HEARTBEAT = 24
    TLS12_CID = 25
    ACK = 26  # RFC 9147 §7


CONTENT_TYPE_NAMES = {20: "change_cipher_spec", 21: "alert", 22: "handshake", 23: "application_data",
                      24: "heartbeat", 25: "tls12_cid", 26: "ack"}  # RFC 8446 §5.1, RFC 9146, RFC 9147 §7

HANDSHAKE_TYPES = (0, 1, 2, 3, 4, 11, 12, 13, 14, 15, 16, 20)  # RFC 6347 §4.2.2 (plus hello_request 0)


class HandshakeType(IntEnum):
    """Handshake message types (RFC 6347 §4.2.2, RFC 5246 §7.4, RFC 8446 §4, RFC 9147 §5.1)."""

    HELLO_REQUEST = 0
    CLIENT_HELLO = 1
    SERVER_HELLO = 2
    HELLO_VERIFY_REQUEST = 3  # RFC 6347 §4.2.1
    NEW_SESSION_TICKET = 4
    END_OF_EARLY_DATA = 5  # RFC 8446
    ENCRYPTED_EXTENSIONS = 8  # RFC 8446
    CERTIFICATE = 11
    SERVER_KEY_EXCHANGE = 12
    CERTIFICATE_REQUEST = 13
    SERVER_HELLO_DONE = 14
    CERTIFICATE_VERIFY = 15
    CLIENT_KEY_EXCHANGE = 16
    FINISHED = 20
    KEY_UPDATE = 24  # RFC 8446
    MESSAGE_HASH = 254  # RFC 8446


def handshake_type_name(value: int) -> str:
    try:
        return HandshakeType(value).name.lower()
    except ValueError:
        return str(value)


class AlertLevel(IntEnum):
    """Alert levels (RFC 5246 §7.2)."""

    WARNING = 1
    FATAL = 2


ALERT_DESCRIPTIONS = {  # RFC 5246 §7.2, RFC 8446 §6
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 21: "decryption_failed",
    22: "record_overflow", 30: "decompression_failure", 40: "handshake_failure", 41: "no_certificate",
    42: "bad_certificate", 43: "unsupported_certificate", 44: "certificate_revoked", 45: "certificate_expired",
    46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied", 50: "decode_error",
    51: "decrypt_error", 60: "export_restriction", 70: "protocol_version", 71: "insufficient_security",
    80: "internal_error", 86: "inappropriate_fallback", 90: "user_canceled", 100: "no_renegotiation",
    109: "missing_extension", 110: "unsupported_extension", 112: "unrecognized_name",
    113: "bad_certificate_status_response", 115: "unknown_psk_identity", 116: "certificate_required",
    120: "no_application_protocol",
}


class ExtensionType(IntEnum):
    """TLS extension types this module names (IANA "TLS ExtensionType Values")."""

    SERVER_NAME = 0  # RFC 6066
    MAX_FRAGMENT_LENGTH = 1  # RFC 6066
    STATUS_REQUEST = 5  # RFC 6066
    SUPPORTED_GROUPS = 10  # RFC 8422 §5.1.1
    EC_POINT_FORMATS = 11  # RFC 8422 §5.1.2
    SIGNATURE_ALGORITHMS = 13  # RFC 5246 §7.4.1.4.1, RFC 8446 §4.2.3
    USE_SRTP = 14  # RFC 5764 §4.1.1
    HEARTBEAT = 15  # RFC 6520
    APPLICATION_LAYER_PROTOCOL_NEGOTIATION = 16  # RFC 7301
    SIGNED_CERTIFICATE_TIMESTAMP = 18  # RFC 6962
    PADDING = 21  # RFC 7685
    ENCRYPT_THEN_MAC = 22  # RFC 7366
    EXTENDED_MASTER_SECRET = 23  # RFC 7627
    COMPRESS_CERTIFICATE = 27  # RFC 8879
    RECORD_SIZE_LIMIT = 28  # RFC 8449
    DELEGATED_CREDENTIALS = 34  # RFC 9345 (Firefox sends it)
    SESSION_TICKET = 35  # RFC 5077
    PRE_SHARED_KEY = 41  # RFC 8446
    EARLY_DATA = 42  # RFC 8446
    SUPPORTED_VERSIONS = 43  # RFC 8446
    COOKIE = 44  # RFC 8446
    PSK_KEY_EXCHANGE_MODES = 45  # RFC 8446
    CERTIFICATE_AUTHORITIES = 47  # RFC 8446
    POST_HANDSHAKE_AUTH = 49  # RFC 8446
    SIGNATURE_ALGORITHMS_CERT = 50  # RFC 8446
    KEY_SHARE = 51  # RFC 8446
    CONNECTION_ID = 54  # RFC 9146
    QUIC_TRANSPORT_PARAMETERS = 57  # RFC 9001 §8.2 (a TLS ClientHello inside QUIC)
    RENEGOTIATION_INFO = 0xFF01  # RFC 5746


SRTP_PROFILES = {  # RFC 5764 §4.1.2, RFC 7714 §14.2
    0x0001: "SRTP_AES128_CM_HMAC_SHA1_80", 0x0002: "SRTP_AES128_CM_HMAC_SHA1_32",
    0x0005: "SRTP_NULL_HMAC_SHA1_80", 0x0006: "SRTP_NULL_HMAC_SHA1_32",
    0x0007: "SRTP_AEAD_AES_128_GCM", 0x0008: "SRTP_AEAD_AES_256_GCM",
}

CIPHER_SUITES = {  # IANA "TLS Cipher Suites": the ones WebRTC stacks offer
    0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA", 0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
    0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256", 0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384",
    0x00FF: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV", 0x5600: "TLS_FALLBACK_SCSV",
    0x1301: "TLS_AES_128_GCM_SHA256", 0x1302: "TLS_AES_256_GCM_SHA384", 0x1303: "TLS_CHACHA20_POLY1305_SHA256",
    0xC009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", 0xC00A: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", 0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    0xC023: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", 0xC024: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", 0xC028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", 0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", 0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
}

NAMED_GROUPS = {  # IANA "TLS Supported Groups": RFC 8422 §5.1.1, RFC 8446 §4.2.7, RFC 7919, RFC 8734, RFC 9189,
    # RFC 8998, draft-ietf-tls-mlkem and draft-ietf-tls-ecdhe-mlkem (the hybrid post-quantum groups browsers send)
    1: "sect163k1", 2: "sect163r1", 3: "sect163r2", 4: "sect193r1", 5: "sect193r2", 6: "sect233k1", 7: "sect233r1",
    8: "sect239k1", 9: "sect283k1", 10: "sect283r1", 11: "sect409k1", 12: "sect409r1", 13: "sect571k1",
    14: "sect571r1", 15: "secp160k1", 16: "secp160r1", 17: "secp160r2", 18: "secp192k1", 19: "secp192r1",
    20: "secp224k1", 21: "secp224r1", 22: "secp256k1", 23: "secp256r1", 24: "secp384r1", 25: "secp521r1",
    26: "brainpoolP256r1", 27: "brainpoolP384r1", 28: "brainpoolP512r1", 29: "x25519", 30: "x448",
    31: "brainpoolP256r1tls13", 32: "brainpoolP384r1tls13", 33: "brainpoolP512r1tls13", 34: "GC256A", 35: "GC256B",
    36: "GC256C", 37: "GC256D", 38: "GC512A", 39: "GC512B", 40: "GC512C", 41: "curveSM2",
    256: "ffdhe2048", 257: "ffdhe3072", 258: "ffdhe4096", 259: "ffdhe6144", 260: "ffdhe8192",
    0x0200: "MLKEM512", 0x0201: "MLKEM768", 0x0202: "MLKEM1024",
    0x11EB: "SecP256r1MLKEM768", 0x11EC: "X25519MLKEM768", 0x11ED: "SecP384r1MLKEM1024",
    0x6399: "X25519Kyber768Draft00", 0x639A: "SecP256r1Kyber768Draft00",  # pre-standard, Chrome 124-130
    0xFF01: "arbitrary_explicit_prime_curves", 0xFF02: "arbitrary_explicit_char2_curves",
}

SIGNATURE_SCHEMES = {  # RFC 8446 §4.2.3 (TLS 1.2 hash/signature pairs share the code points)
    0x0201: "rsa_pkcs1_sha1", 0x0203: "ecdsa_sha1", 0x0401: "rsa_pkcs1_sha256", 0x0501: "rsa_pkcs1_sha384",
    0x0601: "rsa_pkcs1_sha512", 0x0403: "ecdsa_secp256r1_sha256", 0x0503: "ecdsa_secp384r1_sha384",
    0x0603: "ecdsa_secp521r1_sha512", 0x0804: "rsa_pss_rsae_sha256", 0x0805: "rsa_pss_rsae_sha384",
    0x0806: "rsa_pss_rsae_sha512", 0x0807: "ed25519", 0x0808: "ed448", 0x0809: "rsa_pss_pss_sha256",
    0x080A: "rsa_pss_pss_sha384", 0x080B: "rsa_pss_pss_sha512",
}


def is_grease(value: int) -> bool:
    """RFC 8701: 0x0A0A, 0x1A1A, ... 0xFAFA are reserved values clients send to keep peers tolerant; never chosen."""
    return value & 0x0F0F == 0x0A0A and value >> 8 == value & 0xFF


def _name(table: dict, value: int) -> str:
    if value in table:
        return table[value]
    return "GREASE" if is_grease(value) else f"0x{value:04x}"


def extension_name(value: int) -> str:
    """The extension's name, "grease" for an RFC 8701 value, or its number for ones this module does not know (kept
    raw)."""
    try:
        return ExtensionType(value).name.lower()
    except ValueError:
        return "grease" if is_grease(value) else str(value)


def version_name(value: int) -> str:
    """ "DTLS 1.2", "DTLS 1.3", "GREASE" or the hex value (a supported_versions entry, a legacy version)."""
    if value in VERSION_NAMES:
        return VERSION_NAMES[value]
    if value in TLS_VERSION_NAMES:  # NSS lists TLS 1.2 among a DTLS ClientHello's supported_versions
        return TLS_VERSION_NAMES[value]
    return "GREASE" if is_grease(value) else f"0x{value:04x}"


def cipher_suite_name(value: int) -> str:
    return _name(CIPHER_SUITES, value)


def srtp_profile_name(value: int) -> str:
    return _name(SRTP_PROFILES, value)


def group_name(value: int) -> str:
    return _name(NAMED_GROUPS, value)


def signature_scheme_name(value: int) -> str:
    return _name(SIGNATURE_SCHEMES, value)


def alert_description_name(value: int) -> str:
    return ALERT_DESCRIPTIONS.get(value, str(value))


# --- records --------------------------------------------------------------------------------------------------------


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


@dataclass(frozen=True, slots=True)
class Record:
    """One DTLS 1.0/1.2 record (RFC 6347 §4.1): its header and its fragment (plaintext or ciphertext bytes)."""

    header: RecordHeader
    fragment: bytes

    @property
    def encrypted(self) -> bool:
        """Protected by the negotiated cipher: epoch > 0 (RFC 6347 §4.1) or application data."""
        return self.header.epoch > 0 or self.header.content_type == ContentType.APPLICATION_DATA

    def __bytes__(self) -> bytes:
        return bytes(self.header) + self.fragment


@dataclass(frozen=True, slots=True)
class UnifiedRecord:
    """A DTLS 1.3 ciphertext record with the unified header (RFC 9147 §4): first byte 0b001CSLEE — C: a connection
    id follows, S: the sequence number is 16 bits (else 8), L: a 16-bit length is present (else the record runs to
    the end of the datagram), EE: the epoch's 2 low bits.  The content type is inside the encryption; `epoch` holds
    the 2 low bits and `sequence_number` the 8 or 16 low bits as on the wire, which RFC 9147 §4.2.3 encrypts (they
    are not the record's sequence number until unmasked with the traffic keys); `length` is None when the L bit is
    clear; `connection_id` is empty when the C bit is clear."""

    first_byte: int
    epoch: int
    sequence_number: int
    length: int | None
    encrypted_record: bytes
    connection_id: bytes = b""

    @property
    def has_connection_id(self) -> bool:
        return bool(self.first_byte & UNIFIED_C)

    @property
    def sequence_bits(self) -> int:
        return 16 if self.first_byte & UNIFIED_S else 8

    @property
    def header(self) -> bytes:
        """The header bytes as on the wire (the AEAD additional data, RFC 9147 §4)."""
        seq = self.sequence_number.to_bytes(2 if self.first_byte & UNIFIED_S else 1, "big")
        ln = struct.pack(">H", self.length) if self.first_byte & UNIFIED_L else b""
        return bytes([self.first_byte]) + self.connection_id + seq + ln

    def __bytes__(self) -> bytes:
        return self.header + self.encrypted_record


UNIFIED_C, UNIFIED_S, UNIFIED_L = 0x10, 0x08, 0x04  # RFC 9147 §4, figure 3


def is_unified_header(first_byte: int) -> bool:
    """RFC 9147 §4 / RFC 7983 (as updated by RFC 9443): 0b001xxxxx starts a DTLS 1.3 ciphertext record."""
    return first_byte & 0xE0 == 0x20


def parse_record(data: bytes, offset: int = 0, cid_length: int | None = None) -> tuple[Record | UnifiedRecord, int]:
    """The record at `offset` of a datagram and the offset of the next one.  DecodeError for a truncated header,
    an unknown version, a length past the end of the datagram, or a DTLS 1.3 header with a connection id when
    `cid_length` is None: the id's length is negotiated (RFC 9146 / RFC 9147 §9), not written on the wire, so only a
    caller who saw the connection_id extension (or knows the peers) can say it.  WebRTC stacks do not negotiate
    connection ids today."""
    if offset >= len(data):
        raise DecodeError("DTLS record header is truncated (0 bytes)")
    first = data[offset]
    if is_unified_header(first):
        cid_len = 0
        if first & UNIFIED_C:
            if cid_length is None:
                raise DecodeError("DTLS 1.3 record has a connection id of unknown length")
            cid_len = cid_length
        pos = offset + 1
        seq_len = 2 if first & UNIFIED_S else 1
        need = cid_len + seq_len + (2 if first & UNIFIED_L else 0)
        if len(data) < pos + need:
            raise DecodeError(f"DTLS 1.3 unified header is truncated ({len(data) - offset} of {1 + need} bytes)")
        cid = bytes(data[pos:pos + cid_len])
        pos += cid_len
        seq = int.from_bytes(data[pos:pos + seq_len], "big")
        pos += seq_len
        length = None
        if first & UNIFIED_L:
            (length,) = struct.unpack_from(">H", data, pos)
            pos += 2
            if pos + length > len(data):
                raise DecodeError(f"DTLS 1.3 record length {length} runs past the end of the datagram")
            end = pos + length
        else:
            end = len(data)
        return UnifiedRecord(first, first & 0x03, seq, length, bytes(data[pos:end]), cid), end
    header = parse_record_header(data[offset:offset + DTLS_RECORD_HEADER_LEN])
    start = offset + DTLS_RECORD_HEADER_LEN
    end = start + header.length
    if end > len(data):
        raise DecodeError(f"DTLS record length {header.length} runs past the end of the datagram "
                          f"({len(data) - start} bytes left)")
    return Record(header, bytes(data[start:end])), end


def reconstruct_epoch(low_bits: int, expected: int) -> int:
    """RFC 9147 §4.2.2: the full epoch of a unified-header record from its 2 low bits — the value with those bits
    closest to `expected` (the highest epoch seen so far in that direction; 2, the handshake epoch, before any).
    Never 0: epoch 0 records are plaintext.  Ties (2 away either side) go to the later epoch."""
    base = expected - (expected & 3) + (low_bits & 3)
    candidates = [e for e in (base - 4, base, base + 4) if e >= 1]
    return min(candidates, key=lambda e: (abs(e - expected), -e))


def parse_records(data: bytes, cid_length: int | None = None) -> list[Record | UnifiedRecord]:
    """Every record of one datagram (RFC 6347 §4.1.1: several records may share a datagram); DecodeError on the
    first record that does not decode."""
    records = []
    offset = 0
    while offset < len(data):
        record, offset = parse_record(data, offset, cid_length)
        records.append(record)
    return records


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


# --- alerts and change_cipher_spec ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert (RFC 5246 §7.2): level (1 warning, 2 fatal) and description."""

    level: int
    description: int

    @property
    def level_name(self) -> str:
        return {1: "warning", 2: "fatal"}.get(self.level, str(self.level))

    @property
    def description_name(self) -> str:
        return alert_description_name(self.description)

    def __bytes__(self) -> bytes:
        return bytes([self.level, self.description])


def parse_alert(data: bytes) -> Alert:
    """A plaintext alert record's fragment (exactly 2 bytes)."""
    if len(data) != 2:
        raise DecodeError(f"DTLS alert has length {len(data)}, not 2")
    return Alert(data[0], data[1])


def parse_change_cipher_spec(data: bytes) -> None:
    """A change_cipher_spec fragment is the single byte 1 (RFC 5246 §7.1); DecodeError otherwise."""
    if bytes(data) != b"\x01":
        raise DecodeError(f"DTLS change_cipher_spec is not the byte 1 ({bytes(data[:4]).hex()})")


ACK_RECORD_NUMBER_LEN = 16  # RFC 9147 §7: RecordNumber = uint64 epoch + uint64 sequence_number


@dataclass(frozen=True, slots=True)
class Ack:
    """An ACK record's content (RFC 9147 §7): the record numbers (epoch, sequence_number) the sender received."""

    record_numbers: tuple[tuple[int, int], ...]

    def __bytes__(self) -> bytes:
        body = b"".join(struct.pack(">QQ", e, q) for e, q in self.record_numbers)
        return struct.pack(">H", len(body)) + body


def parse_ack(data: bytes) -> Ack:
    """An ACK record's fragment (a plaintext one, or the content of a decrypted one): RecordNumber
    record_numbers<0..2^16-1>; DecodeError when the list is truncated, not a multiple of 16 bytes, or followed by
    more bytes."""
    if len(data) < 2:
        raise DecodeError(f"DTLS ACK is truncated ({len(data)} of 2 bytes)")
    (n,) = struct.unpack_from(">H", data)
    if 2 + n > len(data):
        raise DecodeError(f"DTLS ACK record_numbers length {n} runs past the end of the record")
    if n % ACK_RECORD_NUMBER_LEN:
        raise DecodeError(f"DTLS ACK record_numbers length {n} is not a multiple of {ACK_RECORD_NUMBER_LEN}")
    if 2 + n < len(data):
        raise DecodeError(f"DTLS ACK has {len(data) - 2 - n} bytes after its record_numbers")
    return Ack(tuple(struct.unpack_from(">QQ", data, 2 + i) for i in range(0, n, ACK_RECORD_NUMBER_LEN)))


# --- handshake fragments and reassembly -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HandshakeFragment:
    """One handshake message fragment (RFC 6347 §4.2.2): the 12-byte header and `body`, the bytes
    [fragment_offset, fragment_offset + len(body)) of the message."""

    msg_type: int
    length: int
    message_seq: int
    fragment_offset: int
    body: bytes

    @property
    def fragment_length(self) -> int:
        return len(self.body)

    @property
    def complete(self) -> bool:
        """The fragment is the whole message."""
        return self.fragment_offset == 0 and len(self.body) == self.length

    def __bytes__(self) -> bytes:
        return (bytes([self.msg_type]) + self.length.to_bytes(3, "big") + struct.pack(">H", self.message_seq)
                + self.fragment_offset.to_bytes(3, "big") + len(self.body).to_bytes(3, "big") + self.body)


def parse_handshake_fragment(data: bytes, offset: int = 0) -> tuple[HandshakeFragment, int]:
    """The handshake fragment at `offset` of a plaintext handshake record and where the next one starts."""
    if len(data) - offset < HANDSHAKE_HEADER_LEN:
        raise DecodeError(f"DTLS handshake header is truncated ({len(data) - offset} of {HANDSHAKE_HEADER_LEN} bytes)")
    msg_type = data[offset]
    length = int.from_bytes(data[offset + 1:offset + 4], "big")
    (message_seq,) = struct.unpack_from(">H", data, offset + 4)
    frag_off = int.from_bytes(data[offset + 6:offset + 9], "big")
    frag_len = int.from_bytes(data[offset + 9:offset + 12], "big")
    start = offset + HANDSHAKE_HEADER_LEN
    if start + frag_len > len(data):
        raise DecodeError(f"DTLS handshake fragment length {frag_len} runs past the end of the record "
                          f"({len(data) - start} bytes left)")
    if frag_off + frag_len > length:
        raise DecodeError(f"DTLS handshake fragment [{frag_off}, {frag_off + frag_len}) runs past the message "
                          f"length {length}")
    return HandshakeFragment(msg_type, length, message_seq, frag_off, bytes(data[start:start + frag_len])), \
        start + frag_len


def parse_handshake_fragments(data: bytes) -> list[HandshakeFragment]:
    """Every handshake fragment of a plaintext handshake record; DecodeError on the first that does not decode."""
    out = []
    offset = 0
    while offset < len(data):
        frag, offset = parse_handshake_fragment(data, offset)
        out.append(frag)
    return out


@dataclass(frozen=True, slots=True)
class PartialMessage:
    """What is known of one handshake message while its fragments arrive: type, length, the bytes so far (zeros
    where nothing arrived yet), the covered byte ranges (sorted, merged), and `conflict`: an earlier fragment
    disagreed (another type or length, or overlapping bytes that differ)."""

    msg_type: int
    length: int
    data: bytes
    covered: tuple[tuple[int, int], ...]
    conflict: str | None = None

    @property
    def complete(self) -> bool:
        return self.covered == ((0, self.length),) or self.length == 0


def add_fragment(state: PartialMessage | None, frag: HandshakeFragment) -> tuple[PartialMessage, bytes | None]:
    """Reassembly as a pure function (RFC 6347 §4.2.3): the state after `frag` arrived, and the whole message body
    when this fragment completed it (None otherwise).  Fragments may come in any order and overlap; a fragment whose
    type or length differs from the first one, or whose overlapping bytes differ, sets `conflict` (and the earlier
    bytes are kept).  A fragment that arrives after completion (a retransmission) starts a new message."""
    if state is None or state.complete:
        state = PartialMessage(frag.msg_type, frag.length, bytes(frag.length), ())
    conflict = state.conflict
    lo, hi = frag.fragment_offset, frag.fragment_offset + frag.fragment_length
    if frag.msg_type != state.msg_type or frag.length != state.length:
        conflict = conflict or (f"DTLS handshake fragment of message_seq {frag.message_seq} disagrees with earlier "
                                f"fragments (type {frag.msg_type} length {frag.length}, "
                                f"not {state.msg_type}/{state.length})")
        return PartialMessage(state.msg_type, state.length, state.data, state.covered, conflict), None
    data = bytearray(state.data)
    for a, b in state.covered:
        x, y = max(a, lo), min(b, hi)
        if x < y and data[x:y] != frag.body[x - lo:y - lo]:
            conflict = conflict or (f"DTLS handshake fragment of message_seq {frag.message_seq} overlaps earlier "
                                    f"bytes [{x}, {y}) with different content")
    # Keep earlier bytes where they exist: write only the uncovered parts.
    cursor = lo
    for a, b in state.covered + ((hi, hi),):
        if b <= cursor:
            continue
        end = min(a, hi)
        if end > cursor:
            data[cursor:end] = frag.body[cursor - lo:end - lo]
        cursor = max(cursor, b)
        if cursor >= hi:
            break
    covered = _merge(state.covered + ((lo, hi),) if hi > lo else state.covered)
    new = PartialMessage(state.msg_type, state.length, bytes(data), covered, conflict)
    return new, (new.data if new.complete else None)


def _merge(ranges) -> tuple[tuple[int, int], ...]:
    out: list[list[int]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return tuple((a, b) for a, b in out)


def reassemble(fragments) -> bytes | None:
    """The message body from fragments of one message (any order), or None if they leave a hole; DecodeError when
    they conflict."""
    state = None
    done = None
    for frag in fragments:
        state, body = add_fragment(state, frag)
        if state.conflict:
            raise DecodeError(state.conflict)
        done = body if body is not None else done
    return done


# --- handshake messages ---------------------------------------------------------------------------------------------


class _Reader:
    """A cursor over a message body whose reads raise "DTLS <what> <part> is truncated" ("TLS ..." for a TLS
    message, as QUIC carries)."""

    __slots__ = ("data", "pos", "what", "proto")

    def __init__(self, data: bytes, what: str, proto: str = "DTLS"):
        self.data, self.pos, self.what, self.proto = data, 0, what, proto

    def take(self, n: int, part: str) -> bytes:
        if self.pos + n > len(self.data):
            raise DecodeError(f"{self.proto} {self.what} {part} is truncated")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def uint(self, n: int, part: str) -> int:
        return int.from_bytes(self.take(n, part), "big")

    def vector(self, n: int, part: str) -> bytes:
        return self.take(self.uint(n, part), part)

    @property
    def left(self) -> int:
        return len(self.data) - self.pos


@dataclass(frozen=True, slots=True)
class Extension:
    """A hello extension, kept raw (RFC 5246 §7.4.1.4): type and data; decoded views by function."""

    type: int
    data: bytes

    @property
    def name(self) -> str:
        return extension_name(self.type)

    def __bytes__(self) -> bytes:
        return struct.pack(">HH", self.type, len(self.data)) + self.data


def _extensions(r: _Reader, what: str) -> tuple[Extension, ...]:
    if r.left == 0:  # extensions are optional (RFC 5246 §7.4.1.2)
        return ()
    block = _Reader(r.vector(2, "extensions"), what, r.proto)
    if r.left:
        raise DecodeError(f"{r.proto} {what} has {r.left} bytes after its extensions")
    out = []
    while block.left:
        etype = block.uint(2, "extension type")
        out.append(Extension(etype, block.vector(2, "extension data")))
    return tuple(out)


def _ext_bytes(extensions: tuple[Extension, ...] | None) -> bytes:
    if extensions is None:
        return b""
    body = b"".join(bytes(e) for e in extensions)
    return struct.pack(">H", len(body)) + body


@dataclass(frozen=True, slots=True)
class ClientHello:
    """ClientHello (RFC 6347 §4.2.1, RFC 5246 §7.4.1.2).  `extensions` is None when the message has no extensions
    block at all (as opposed to an empty one).  `datagram` is False for a TLS ClientHello (RFC 8446 §4.1.2, as QUIC
    carries it, RFC 9001 §4): it has no cookie field, and `cookie` is b""."""

    client_version: int
    random: bytes
    session_id: bytes
    cookie: bytes
    cipher_suites: tuple[int, ...]
    compression_methods: bytes
    extensions: tuple[Extension, ...] | None
    datagram: bool = True

    def __bytes__(self) -> bytes:
        cookie = bytes([len(self.cookie)]) + self.cookie if self.datagram else b""
        return (struct.pack(">H", self.client_version) + self.random + bytes([len(self.session_id)]) + self.session_id
                + cookie + struct.pack(">H", 2 * len(self.cipher_suites))
                + b"".join(struct.pack(">H", c) for c in self.cipher_suites)
                + bytes([len(self.compression_methods)]) + self.compression_methods + _ext_bytes(self.extensions))


def parse_client_hello(body: bytes, datagram: bool = True) -> ClientHello:
    """A DTLS ClientHello, or with datagram=False a TLS one (no cookie field: RFC 8446 §4.1.2; what QUIC's CRYPTO
    frames carry, RFC 9001 §4), whose errors say "TLS ClientHello ..."."""
    proto = "DTLS" if datagram else "TLS"
    r = _Reader(body, "ClientHello", proto)
    version = r.uint(2, "version")
    random = r.take(RANDOM_LEN, "random")
    session_id = r.vector(1, "session_id")
    cookie = r.vector(1, "cookie") if datagram else b""
    suites = r.vector(2, "cipher_suites")
    if len(suites) % 2:
        raise DecodeError(f"{proto} ClientHello cipher_suites has odd length")
    compression = r.vector(1, "compression_methods")
    has_ext = r.left > 0
    ext = _extensions(r, "ClientHello")
    return ClientHello(version, random, session_id, cookie, tuple(struct.unpack(f">{len(suites) // 2}H", suites)),
                       compression, ext if has_ext else None, datagram)


# RFC 8446 §4.1.3: a ServerHello with this random is a HelloRetryRequest (SHA-256 of "HelloRetryRequest").
HELLO_RETRY_REQUEST_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")


@dataclass(frozen=True, slots=True)
class ServerHello:
    """ServerHello (RFC 5246 §7.4.1.3, RFC 8446 §4.1.3: in (D)TLS 1.3 `server_version` is the legacy_version and
    `session_id` the legacy_session_id_echo; the version spoken is in supported_versions)."""

    server_version: int
    random: bytes
    session_id: bytes
    cipher_suite: int
    compression_method: int
    extensions: tuple[Extension, ...] | None

    @property
    def hello_retry_request(self) -> bool:
        """A HelloRetryRequest: a ServerHello whose random is the RFC 8446 §4.1.3 constant."""
        return self.random == HELLO_RETRY_REQUEST_RANDOM

    def __bytes__(self) -> bytes:
        return (struct.pack(">H", self.server_version) + self.random + bytes([len(self.session_id)]) + self.session_id
                + struct.pack(">HB", self.cipher_suite, self.compression_method) + _ext_bytes(self.extensions))


def parse_server_hello(body: bytes, datagram: bool = True) -> ServerHello:
    """A DTLS ServerHello, or with datagram=False a TLS one (the same fields, RFC 8446 §4.1.3; errors say "TLS")."""
    r = _Reader(body, "ServerHello", "DTLS" if datagram else "TLS")
    version = r.uint(2, "version")
    random = r.take(RANDOM_LEN, "random")
    session_id = r.vector(1, "session_id")
    suite = r.uint(2, "cipher_suite")
    compression = r.uint(1, "compression_method")
    has_ext = r.left > 0
    ext = _extensions(r, "ServerHello")
    return ServerHello(version, random, session_id, suite, compression, ext if has_ext else None)


@dataclass(frozen=True, slots=True)
class HelloVerifyRequest:
    """HelloVerifyRequest (RFC 6347 §4.2.1): the stateless cookie exchange."""

    server_version: int
    cookie: bytes

    def __bytes__(self) -> bytes:
        return struct.pack(">HB", self.server_version, len(self.cookie)) + self.cookie


def parse_hello_verify_request(body: bytes) -> HelloVerifyRequest:
    r = _Reader(body, "HelloVerifyRequest")
    version = r.uint(2, "version")
    cookie = r.vector(1, "cookie")
    if r.left:
        raise DecodeError(f"DTLS HelloVerifyRequest has {r.left} bytes after its cookie")
    return HelloVerifyRequest(version, cookie)


@dataclass(frozen=True, slots=True)
class Certificate:
    """Certificate (RFC 5246 §7.4.2): the DER certificates, sender's own first."""

    certificates: tuple[bytes, ...]

    def __bytes__(self) -> bytes:
        body = b"".join(len(c).to_bytes(3, "big") + c for c in self.certificates)
        return len(body).to_bytes(3, "big") + body


def parse_certificate(body: bytes) -> Certificate:
    r = _Reader(body, "Certificate")
    block = _Reader(r.vector(3, "certificate_list"), "Certificate")
    if r.left:
        raise DecodeError(f"DTLS Certificate has {r.left} bytes after its certificate_list")
    certs = []
    while block.left:
        certs.append(block.vector(3, "certificate"))
    return Certificate(tuple(certs))


@dataclass(frozen=True, slots=True)
class ServerKeyExchange:
    """ServerKeyExchange (RFC 8422 §5.4 for ECDHE; other key exchanges are kept raw in `raw`): curve_type (3 =
    named_curve), named_curve, public key, signature algorithm (TLS 1.2 SignatureAndHashAlgorithm), signature."""

    curve_type: int | None
    named_curve: int | None
    public_key: bytes
    signature_algorithm: int | None
    signature: bytes
    raw: bytes


def parse_server_key_exchange(body: bytes) -> ServerKeyExchange:
    """An ECDHE ServerKeyExchange with a named curve; any other form is kept raw (fields None)."""
    if not body or body[0] != 3:
        return ServerKeyExchange(None, None, b"", None, b"", body)
    r = _Reader(body, "ServerKeyExchange")
    curve_type = r.uint(1, "curve_type")
    curve = r.uint(2, "named_curve")
    public = r.vector(1, "public key")
    alg = r.uint(2, "signature algorithm")
    sig = r.vector(2, "signature")
    if r.left:
        raise DecodeError(f"DTLS ServerKeyExchange has {r.left} bytes after its signature")
    return ServerKeyExchange(curve_type, curve, public, alg, sig, body)


@dataclass(frozen=True, slots=True)
class CertificateRequest:
    """CertificateRequest (RFC 5246 §7.4.4): certificate types, signature algorithms, CA names (DER)."""

    certificate_types: bytes
    signature_algorithms: tuple[int, ...]
    certificate_authorities: tuple[bytes, ...]


def parse_certificate_request(body: bytes) -> CertificateRequest:
    r = _Reader(body, "CertificateRequest")
    types = r.vector(1, "certificate_types")
    algs = r.vector(2, "supported_signature_algorithms")
    if len(algs) % 2:
        raise DecodeError("DTLS CertificateRequest supported_signature_algorithms has odd length")
    names = _Reader(r.vector(2, "certificate_authorities"), "CertificateRequest")
    cas = []
    while names.left:
        cas.append(names.vector(2, "distinguished name"))
    return CertificateRequest(types, tuple(struct.unpack(f">{len(algs) // 2}H", algs)), tuple(cas))


# --- TLS 1.3 handshake messages (RFC 8446 §4): only readable from a decrypted DTLS 1.3 handshake record ---------


def _extension_list(block: bytes, what: str) -> tuple[Extension, ...]:
    r = _Reader(block, what)
    out = []
    while r.left:
        etype = r.uint(2, "extension type")
        out.append(Extension(etype, r.vector(2, "extension data")))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class EncryptedExtensions:
    """EncryptedExtensions (RFC 8446 §4.3.1): the server's extensions that are not needed before the handshake keys
    (in WebRTC: use_srtp's chosen profile, RFC 5764 §4.1.1)."""

    extensions: tuple[Extension, ...]

    def __bytes__(self) -> bytes:
        return _ext_bytes(self.extensions)


def parse_encrypted_extensions(body: bytes) -> EncryptedExtensions:
    r = _Reader(body, "EncryptedExtensions")
    block = r.vector(2, "extensions")
    if r.left:
        raise DecodeError(f"DTLS EncryptedExtensions has {r.left} bytes after its extensions")
    return EncryptedExtensions(_extension_list(block, "EncryptedExtensions"))


@dataclass(frozen=True, slots=True)
class CertificateEntry:
    """One entry of a TLS 1.3 Certificate (RFC 8446 §4.4.2): the DER certificate and its extensions."""

    cert_data: bytes
    extensions: tuple[Extension, ...] = ()


@dataclass(frozen=True, slots=True)
class Certificate13:
    """A TLS 1.3 Certificate (RFC 8446 §4.4.2): request context and the entries, sender's own first."""

    certificate_request_context: bytes
    certificate_list: tuple[CertificateEntry, ...]

    @property
    def certificates(self) -> tuple[bytes, ...]:
        """The DER certificates, sender's own first (as `Certificate.certificates` for DTLS 1.2)."""
        return tuple(e.cert_data for e in self.certificate_list)

    def __bytes__(self) -> bytes:
        entries = b""
        for e in self.certificate_list:
            ext = b"".join(bytes(x) for x in e.extensions)
            entries += len(e.cert_data).to_bytes(3, "big") + e.cert_data + struct.pack(">H", len(ext)) + ext
        ctx = self.certificate_request_context
        return bytes([len(ctx)]) + ctx + len(entries).to_bytes(3, "big") + entries


def parse_certificate_13(body: bytes) -> Certificate13:
    r = _Reader(body, "Certificate")
    context = r.vector(1, "certificate_request_context")
    block = _Reader(r.vector(3, "certificate_list"), "Certificate")
    if r.left:
        raise DecodeError(f"DTLS Certificate has {r.left} bytes after its certificate_list")
    entries = []
    while block.left:
        der = block.vector(3, "cert_data")
        entries.append(CertificateEntry(der, _extension_list(block.vector(2, "extensions"), "CertificateEntry")))
    return Certificate13(context, tuple(entries))


@dataclass(frozen=True, slots=True)
class CertificateVerify:
    """CertificateVerify (RFC 8446 §4.4.3): the signature scheme and the signature."""

    algorithm: int
    signature: bytes

    def __bytes__(self) -> bytes:
        return struct.pack(">HH", self.algorithm, len(self.signature)) + self.signature


def parse_certificate_verify(body: bytes) -> CertificateVerify:
    r = _Reader(body, "CertificateVerify")
    algorithm = r.uint(2, "algorithm")
    signature = r.vector(2, "signature")
    if r.left:
        raise DecodeError(f"DTLS CertificateVerify has {r.left} bytes after its signature")
    return CertificateVerify(algorithm, signature)


@dataclass(frozen=True, slots=True)
class Finished:
    """Finished (RFC 8446 §4.4.4): verify_data, Hash.length bytes."""

    verify_data: bytes

    def __bytes__(self) -> bytes:
        return self.verify_data


def parse_finished(body: bytes) -> Finished:
    if len(body) not in (32, 48):
        raise DecodeError(f"DTLS 1.3 Finished has {len(body)} bytes, not a SHA-256 or SHA-384 verify_data")
    return Finished(bytes(body))


_MESSAGE13_PARSERS = {
    HandshakeType.ENCRYPTED_EXTENSIONS: parse_encrypted_extensions,
    HandshakeType.CERTIFICATE: parse_certificate_13,
    HandshakeType.CERTIFICATE_VERIFY: parse_certificate_verify,
    HandshakeType.FINISHED: parse_finished,
}


def parse_message13(msg_type: int, body: bytes):
    """The decoded TLS 1.3 message of the encrypted part of a handshake (EncryptedExtensions, Certificate,
    CertificateVerify, Finished), else None (the body is kept by the caller as it is)."""
    parser = _MESSAGE13_PARSERS.get(msg_type)
    return parser(body) if parser is not None else None


_MESSAGE_PARSERS = {
    HandshakeType.CLIENT_HELLO: parse_client_hello,
    HandshakeType.SERVER_HELLO: parse_server_hello,
    HandshakeType.HELLO_VERIFY_REQUEST: parse_hello_verify_request,
    HandshakeType.CERTIFICATE: parse_certificate,
    HandshakeType.SERVER_KEY_EXCHANGE: parse_server_key_exchange,
    HandshakeType.CERTIFICATE_REQUEST: parse_certificate_request,
}


def parse_message(msg_type: int, body: bytes):
    """The decoded message for the types above, else None (the body is kept by the caller as it is)."""
    parser = _MESSAGE_PARSERS.get(msg_type)
    return parser(body) if parser is not None else None


# --- extension views ------------------------------------------------------------------------------------------------


def _u16_list(data: bytes, what: str, n_len: int = 2) -> tuple[int, ...]:
    r = _Reader(data, what)
    block = r.vector(n_len, "list")
    if len(block) % 2 or r.left:
        raise DecodeError(f"DTLS {what} list has a bad length")
    return struct.unpack(f">{len(block) // 2}H", block)


def use_srtp(ext: Extension) -> tuple[tuple[int, ...], bytes]:
    """use_srtp (RFC 5764 §4.1.1): the SRTP protection profiles and the MKI."""
    r = _Reader(ext.data, "use_srtp")
    block = r.vector(2, "protection profiles")
    if len(block) % 2:
        raise DecodeError("DTLS use_srtp protection profiles have odd length")
    mki = r.vector(1, "srtp_mki")
    if r.left:
        raise DecodeError(f"DTLS use_srtp has {r.left} bytes after its MKI")
    return struct.unpack(f">{len(block) // 2}H", block), mki


def supported_groups(ext: Extension) -> tuple[int, ...]:
    """supported_groups (RFC 8422 §5.1.1)."""
    return _u16_list(ext.data, "supported_groups")


def signature_algorithms(ext: Extension) -> tuple[int, ...]:
    """signature_algorithms (RFC 5246 §7.4.1.4.1)."""
    return _u16_list(ext.data, "signature_algorithms")


def supported_versions(ext: Extension, client_hello: bool) -> tuple[int, ...]:
    """supported_versions (RFC 8446 §4.2.1): a ClientHello's list (1-byte length, 2-byte entries); a ServerHello's or
    HelloRetryRequest's selected_version as a 1-tuple."""
    if not client_hello:
        if len(ext.data) != 2:
            raise DecodeError(f"DTLS supported_versions selected_version has length {len(ext.data)}, not 2")
        return (int.from_bytes(ext.data, "big"),)
    return _u16_list(ext.data, "supported_versions", n_len=1)


@dataclass(frozen=True, slots=True)
class KeyShareEntry:
    """One key share (RFC 8446 §4.2.8): the named group and the public key (or KEM share) bytes."""

    group: int
    key_exchange: bytes

    @property
    def group_name(self) -> str:
        return group_name(self.group)

    def __bytes__(self) -> bytes:
        return struct.pack(">HH", self.group, len(self.key_exchange)) + self.key_exchange


def _key_share_entry(r: _Reader) -> KeyShareEntry:
    group = r.uint(2, "group")
    return KeyShareEntry(group, r.vector(2, "key_exchange"))


def key_share_client_hello(ext: Extension) -> tuple[KeyShareEntry, ...]:
    """A ClientHello's key_share (RFC 8446 §4.2.8): client_shares, in the client's order of preference."""
    r = _Reader(ext.data, "key_share")
    block = _Reader(r.vector(2, "client_shares"), "key_share")
    if r.left:
        raise DecodeError(f"DTLS key_share has {r.left} bytes after its client_shares")
    out = []
    while block.left:
        out.append(_key_share_entry(block))
    return tuple(out)


def key_share_server_hello(ext: Extension) -> KeyShareEntry:
    """A ServerHello's key_share (RFC 8446 §4.2.8): the one server_share."""
    r = _Reader(ext.data, "key_share")
    entry = _key_share_entry(r)
    if r.left:
        raise DecodeError(f"DTLS key_share has {r.left} bytes after its server_share")
    return entry


def key_share_hello_retry_request(ext: Extension) -> int:
    """A HelloRetryRequest's key_share (RFC 8446 §4.2.8): the selected_group the client must send a share of."""
    if len(ext.data) != 2:
        raise DecodeError(f"DTLS key_share selected_group has length {len(ext.data)}, not 2")
    return int.from_bytes(ext.data, "big")


def cookie_extension(ext: Extension) -> bytes:
    """The cookie extension (RFC 8446 §4.2.2) of a HelloRetryRequest, echoed by the second ClientHello."""
    r = _Reader(ext.data, "cookie")
    value = r.vector(2, "cookie")
    if r.left or not value:
        raise DecodeError("DTLS cookie extension has a bad length")
    return value


def _list_of(ext: Extension, what: str, list_field: str) -> _Reader:
    """A reader over the one 2-byte-length list an extension holds (ALPN's ProtocolNameList, SNI's ServerNameList);
    DecodeError when bytes follow the list."""
    r = _Reader(ext.data, what)
    block = _Reader(r.vector(2, list_field), what)
    if r.left:
        raise DecodeError(f"DTLS {what} has {r.left} bytes after its list")
    return block


def application_layer_protocol_negotiation(ext: Extension) -> tuple[bytes, ...]:
    """ALPN (RFC 7301 §3.1): the ProtocolNameList, each name as the bytes on the wire (b"h3", b"webrtc"); a
    ServerHello's or EncryptedExtensions' list holds the one chosen.  Empty names are invalid (RFC 7301 §3.1)."""
    block = _list_of(ext, "application_layer_protocol_negotiation", "protocol_name_list")
    names = []
    while block.left:
        name = block.vector(1, "protocol_name")
        if not name:
            raise DecodeError("DTLS application_layer_protocol_negotiation has an empty protocol name")
        names.append(name)
    return tuple(names)


SERVER_NAME_HOST_NAME = 0  # RFC 6066 §3: NameType host_name, the only one defined


def server_name(ext: Extension) -> tuple[bytes, ...]:
    """server_name (RFC 6066 §3): the host_name entries of a ClientHello's ServerNameList, as the bytes on the wire
    (ASCII by RFC 6066; the caller escapes them for display).  Entries of other name types are skipped.  A server's
    empty extension (the acknowledgement) gives ()."""
    if not ext.data:
        return ()
    block = _list_of(ext, "server_name", "server_name_list")
    names = []
    while block.left:
        name_type = block.uint(1, "name_type")
        name = block.vector(2, "host_name")
        if name_type == SERVER_NAME_HOST_NAME:
            names.append(name)
    return tuple(names)


def negotiated_version(hello: ServerHello) -> int:
    """The version a ServerHello (or HelloRetryRequest) chose: supported_versions' selected_version when present
    (RFC 8446 §4.2.1, the only way to pick DTLS 1.3), else its legacy server_version."""
    for e in hello.extensions or ():
        if e.type == ExtensionType.SUPPORTED_VERSIONS:
            return supported_versions(e, client_hello=False)[0]
    return hello.server_version


def renegotiation_info(ext: Extension) -> bytes:
    """renegotiation_info (RFC 5746 §3.2): the renegotiated_connection bytes (empty on a first handshake)."""
    r = _Reader(ext.data, "renegotiation_info")
    out = r.vector(1, "renegotiated_connection")
    if r.left:
        raise DecodeError("DTLS renegotiation_info has bytes after its value")
    return out


# --- certificates ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """What WebRTC compares of a certificate: the SHA-256 fingerprint as SDP writes it (RFC 8122 §5, upper-case
    colon hex), the subject (RFC 4514 string) and the validity period (UTC)."""

    fingerprint: str
    subject: str
    not_before: datetime.datetime
    not_after: datetime.datetime


def fingerprint(der: bytes, algorithm: str = "sha-256") -> str:
    """The certificate's fingerprint as a=fingerprint writes it: "AB:CD:..." (RFC 8122 §5)."""
    digest = hashlib.new(algorithm.replace("-", ""), bytes(der)).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def certificate_info(der: bytes) -> CertificateInfo:
    """Fingerprint, subject and validity of one DER certificate; DecodeError when it does not parse as X.509."""
    from cryptography import x509  # deferred: cryptography.x509, heavy, and most reads never look at a certificate

    try:
        cert = x509.load_der_x509_certificate(bytes(der))
        subject = cert.subject.rfc4514_string()
        not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    except Exception as e:  # cryptography raises ValueError and others for bad DER
        raise DecodeError(f"DTLS certificate is not valid X.509 DER ({type(e).__name__})") from None
    return CertificateInfo(fingerprint(der), subject, not_before, not_after)
