"""The DTLS record layer (RFC 6347 DTLS 1.2; RFC 9147 DTLS 1.3: unified headers, ACK records): records, alerts,
change_cipher_spec, handshake fragments and their reassembly; and the face of the DTLS decoders, re-exporting the
wire values (`dtls_registry`), the handshake messages (`dtls_handshake`: ClientHello .. Finished, HelloRetryRequest)
and the extension views and X.509 facts WebRTC compares with the SDP (`dtls_extensions`: use_srtp RFC 5764, RFC 8122
fingerprints).

Strategy: sans-IO, bytes in, frozen records out.  A datagram holds several records (`parse_record` reads one and
says where the next starts); a plaintext handshake record holds one or more handshake fragments
(`parse_handshake_fragments`); fragments are put together by the pure `add_fragment` (state in, state out), and a
completed message body is read by `dtls_handshake.parse_message`.  Encrypted records (epoch > 0, DTLS 1.3 ciphertext) are kept as
opaque bytes.  A DTLS 1.3 unified header (RFC 9147 §4) is read as far as the wire shows it: its epoch and sequence
number are the low bits only, and the sequence number is encrypted (RFC 9147 §4.2.3), so neither is reconstructed
here; the connection id's length is not on the wire (it is negotiated), so the caller says it (`cid_length`).
Unknown extensions are kept raw (type + bytes).  Every length is checked before it is used: the only
exception that leaves this module is DecodeError.  The 13-byte header test `looks_like_handshake` is the vectorised
evidence the demultiplexer uses.
"""


from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from ..io.buffer import ByteSource
from ..io.errors import DecodeError
# The module is also the DTLS face: the wire values (dtls_registry), the handshake messages (dtls_handshake) and the
# extension views and certificate facts (dtls_extensions) are re-exported, so `dtls.parse_message`,
# `dtls.use_srtp`, `dtls.ContentType` keep working.
from .dtls_registry import (  # noqa: F401
    ALERT_DESCRIPTIONS, AlertLevel, CIPHER_SUITES, CONTENT_TYPE_NAMES, ContentType, DTLS_RECORD_HEADER_LEN,
    DTLS_VERSIONS, ExtensionType, HANDSHAKE_HEADER_LEN, HANDSHAKE_TYPES, HandshakeType, NAMED_GROUPS, RANDOM_LEN,
    SIGNATURE_SCHEMES, SRTP_PROFILES, TLS_VERSION_NAMES, VERSION_NAMES, alert_description_name, cipher_suite_name,
    extension_name, group_name, handshake_type_name, is_grease, signature_scheme_name, srtp_profile_name,
    version_name)
from .dtls_handshake import (  # noqa: F401
    Certificate, Certificate13, CertificateEntry, CertificateRequest, CertificateVerify, ClientHello,
    EncryptedExtensions, Extension, Finished, HELLO_RETRY_REQUEST_RANDOM, HelloVerifyRequest, ServerHello,
    ServerKeyExchange, parse_certificate, parse_certificate_13, parse_certificate_request, parse_certificate_verify,
    parse_client_hello, parse_encrypted_extensions, parse_finished, parse_hello_verify_request, parse_message,
    parse_message13, parse_server_hello, parse_server_key_exchange)
from .dtls_extensions import (  # noqa: F401
    CertificateInfo, KeyShareEntry, SERVER_NAME_HOST_NAME, application_layer_protocol_negotiation, certificate_info,
    cookie_extension, fingerprint, key_share_client_hello, key_share_hello_retry_request, key_share_server_hello,
    negotiated_version, renegotiation_info, server_name, signature_algorithms, supported_groups, supported_versions,
    use_srtp)


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
