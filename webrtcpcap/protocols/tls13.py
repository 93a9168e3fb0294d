"""The TLS 1.3 key schedule (RFC 8446 §7.1, §7.3, §7.5) and DTLS 1.3 record protection (RFC 9147 §4, §4.2.3,
§5.9): HKDF-Expand-Label with the "tls13 " or "dtls13" label prefix, traffic keys, the exporter, record number
decryption, AEAD opening of DTLSCiphertext records and the TLS 1.3 messages a decrypted handshake carries.

Strategy: sans-IO, secrets and bytes in, frozen records out; no pandas, no files.  Secrets and keys never appear
in a repr, a str or an error message (records show suites and lengths only).  A record that does not authenticate
raises DecodeError("DTLS 1.3 record does not authenticate ..."): in a capture that is evidence, and the caller
writes it into a table.  Nothing else but DecodeError leaves this module.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305

from . import dtls
from ..io.errors import DecodeError

TLS13_LABEL_PREFIX = b"tls13 "  # RFC 8446 §7.1
DTLS13_LABEL_PREFIX = b"dtls13"  # RFC 9147 §5.9: replaces "tls13 " in every HKDF-Expand-Label of DTLS 1.3
LABEL_PREFIXES = (DTLS13_LABEL_PREFIX, TLS13_LABEL_PREFIX)

EPOCH_HANDSHAKE = 2  # RFC 9147 §6.1: epoch 2 carries the handshake traffic keys
EPOCH_APPLICATION = 3  # RFC 9147 §6.1: epoch 3 the first application traffic keys; each KeyUpdate adds one
MAX_KEY_UPDATES = 64  # epochs past 3 derived on demand; a capture cannot make us derive more
SN_SAMPLE_LEN = 16  # RFC 9147 §4.2.3: the mask is computed over the first 16 bytes of the ciphertext
CONTENT_TYPE_ACK = 26  # RFC 9147 §7 (webrtcpcap.protocols.dtls names it; its ContentType enum stops at 25)

# HandshakeType values TLS 1.3 adds to those of webrtcpcap.protocols.dtls (RFC 8446 §4, RFC 9147 §5)
ENCRYPTED_EXTENSIONS = 8  # RFC 8446 §4.3.1
CERTIFICATE = 11  # RFC 8446 §4.4.2
CERTIFICATE_REQUEST = 13  # RFC 8446 §4.3.2
CERTIFICATE_VERIFY = 15  # RFC 8446 §4.4.3
FINISHED = 20  # RFC 8446 §4.4.4
NEW_SESSION_TICKET = 4  # RFC 8446 §4.6.1
KEY_UPDATE = 24  # RFC 8446 §4.6.3


# --- cipher suites ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CipherSuite:
    """A TLS 1.3 cipher suite (RFC 8446 §B.4): its hash and AEAD."""

    code: int
    name: str
    hash_name: str  # hashlib name
    aead: str  # "aes-gcm", "chacha20-poly1305", "aes-ccm"
    key_len: int
    tag_len: int = 16
    iv_len: int = 12  # RFC 8446 §5.3: max(8, N_MIN) = 12 for every suite here

    @property
    def hash_len(self) -> int:
        return hashlib.new(self.hash_name).digest_size


CIPHER_SUITES: dict[int, CipherSuite] = {s.code: s for s in (
    CipherSuite(0x1301, "TLS_AES_128_GCM_SHA256", "sha256", "aes-gcm", 16),  # RFC 8446 §B.4
    CipherSuite(0x1302, "TLS_AES_256_GCM_SHA384", "sha384", "aes-gcm", 32),
    CipherSuite(0x1303, "TLS_CHACHA20_POLY1305_SHA256", "sha256", "chacha20-poly1305", 32),
    CipherSuite(0x1304, "TLS_AES_128_CCM_SHA256", "sha256", "aes-ccm", 16),
    CipherSuite(0x1305, "TLS_AES_128_CCM_8_SHA256", "sha256", "aes-ccm", 16, tag_len=8),
)}
_SUITE_NAMES = {s.name: s for s in CIPHER_SUITES.values()}


def cipher_suite(value) -> CipherSuite:
    """The TLS 1.3 suite of a code (0x1301) or IANA name ("TLS_AES_128_GCM_SHA256"); DecodeError otherwise."""
    if isinstance(value, CipherSuite):
        return value
    if isinstance(value, str):
        name = value.strip().upper()
        if name in _SUITE_NAMES:
            return _SUITE_NAMES[name]
        try:
            value = int(name, 16) if name.startswith("0X") else int(name)
        except ValueError:
            raise DecodeError(f"TLS 1.3 cipher suite {value!r} is not known") from None
    if isinstance(value, int) and value in CIPHER_SUITES:
        return CIPHER_SUITES[value]
    raise DecodeError(f"TLS 1.3 cipher suite {value!r} is not known")


def suites_for_secret(secret: bytes) -> tuple[CipherSuite, ...]:
    """The suites whose hash is as long as `secret` (a traffic secret is Hash.length bytes, RFC 8446 §7.1): what to
    try when the ServerHello's choice is not known."""
    return tuple(s for s in CIPHER_SUITES.values() if s.hash_len == len(secret))


# --- HKDF and the key schedule (RFC 5869, RFC 8446 §7.1) --------------------------------------------------------


def _hash_len(hash_name: str) -> int:
    try:
        return hashlib.new(hash_name).digest_size
    except (ValueError, TypeError):
        raise DecodeError(f"TLS 1.3 hash {hash_name!r} is not available") from None


def hkdf_extract(salt: bytes, ikm: bytes, hash_name: str = "sha256") -> bytes:
    """HKDF-Extract (RFC 5869 §2.2); an empty salt is Hash.length zeros."""
    n = _hash_len(hash_name)
    return hmac.new(bytes(salt) or b"\0" * n, bytes(ikm), hash_name).digest()


def hkdf_expand(prk: bytes, info: bytes, length: int, hash_name: str = "sha256") -> bytes:
    """HKDF-Expand (RFC 5869 §2.3): T(1) | T(2) | ... cut to `length` (at most 255 * Hash.length)."""
    n = _hash_len(hash_name)
    if not 0 <= length <= 255 * n:
        raise DecodeError(f"HKDF length {length} is out of range")
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(bytes(prk), t + bytes(info) + bytes([i]), hash_name).digest()
        out += t
        i += 1
    return out[:length]


def hkdf_label(label: bytes, context: bytes, length: int, prefix: bytes = DTLS13_LABEL_PREFIX) -> bytes:
    """The HkdfLabel structure (RFC 8446 §7.1): uint16 length, opaque label<7..255> = prefix + label, opaque
    context<0..255>."""
    full = bytes(prefix) + bytes(label)
    if len(full) > 255 or len(context) > 255 or not 0 <= length < 1 << 16:
        raise DecodeError("HKDF label, context or length is out of range")
    return struct.pack(">HB", length, len(full)) + full + bytes([len(context)]) + bytes(context)


def hkdf_expand_label(secret: bytes, label: bytes, context: bytes, length: int, hash_name: str = "sha256",
                      prefix: bytes = DTLS13_LABEL_PREFIX) -> bytes:
    """HKDF-Expand-Label(Secret, Label, Context, Length) (RFC 8446 §7.1), with "dtls13" as the label prefix by
    default (RFC 9147 §5.9; "tls13 " for TLS)."""
    return hkdf_expand(secret, hkdf_label(label, context, length, prefix), length, hash_name)


def derive_secret(secret: bytes, label: bytes, messages: bytes, hash_name: str = "sha256",
                  prefix: bytes = DTLS13_LABEL_PREFIX) -> bytes:
    """Derive-Secret(Secret, Label, Messages) = HKDF-Expand-Label(Secret, Label, Transcript-Hash(Messages),
    Hash.length) (RFC 8446 §7.1)."""
    digest = hashlib.new(hash_name, bytes(messages)).digest() if _hash_len(hash_name) else b""
    return hkdf_expand_label(secret, label, digest, len(digest), hash_name, prefix)


def exporter(exporter_master_secret: bytes, label: bytes, context: bytes, length: int, hash_name: str = "sha256",
             prefix: bytes = DTLS13_LABEL_PREFIX) -> bytes:
    """TLS-Exporter(label, context_value, key_length) = HKDF-Expand-Label(Derive-Secret(Secret, label, ""),
    "exporter", Hash(context_value), key_length) (RFC 8446 §7.5).  RFC 5705 "no context" and an empty context
    are the same in TLS 1.3, so RFC 5764's DTLS-SRTP export passes b""."""
    inner = derive_secret(exporter_master_secret, label, b"", hash_name, prefix)
    return hkdf_expand_label(inner, b"exporter", hashlib.new(hash_name, bytes(context)).digest(), length,
                             hash_name, prefix)


def next_traffic_secret(secret: bytes, hash_name: str = "sha256", prefix: bytes = DTLS13_LABEL_PREFIX) -> bytes:
    """application_traffic_secret_N+1 (RFC 8446 §7.2): the secret of the epoch after a KeyUpdate."""
    return hkdf_expand_label(secret, b"traffic upd", b"", len(secret), hash_name, prefix)


@dataclass(frozen=True, slots=True)
class TrafficKeys:
    """The write key, IV (RFC 8446 §7.3) and record number key (RFC 9147 §4.2.3) of one traffic secret.  The repr
    shows the suite and the label prefix only."""

    suite: CipherSuite
    prefix: bytes
    key: bytes = field(repr=False)
    iv: bytes = field(repr=False)
    sn_key: bytes = field(repr=False)

    def __repr__(self) -> str:
        return f"<TrafficKeys {self.suite.name}, label prefix {self.prefix.decode()!r}>"

    __str__ = __repr__


def traffic_keys(secret: bytes, suite, prefix: bytes = DTLS13_LABEL_PREFIX) -> TrafficKeys:
    """key = HKDF-Expand-Label(secret, "key", "", key_length), iv = ...("iv", "", iv_length) (RFC 8446 §7.3) and
    sn_key = ...("sn", "", key_length) (RFC 9147 §4.2.3).  DecodeError for a secret that is not Hash.length."""
    suite = cipher_suite(suite)
    if len(secret) != suite.hash_len:
        raise DecodeError(f"TLS 1.3 traffic secret has {len(secret)} bytes, {suite.name} needs {suite.hash_len}")
    h = suite.hash_name
    return TrafficKeys(suite, bytes(prefix), hkdf_expand_label(secret, b"key", b"", suite.key_len, h, prefix),
                       hkdf_expand_label(secret, b"iv", b"", suite.iv_len, h, prefix),
                       hkdf_expand_label(secret, b"sn", b"", suite.key_len, h, prefix))


# --- DTLS 1.3 records (RFC 9147 §4) -----------------------------------------------------------------------------


def record_number_mask(keys: TrafficKeys, ciphertext: bytes) -> bytes:
    """The mask XORed onto the header's sequence number bits (RFC 9147 §4.2.3): AES-ECB(sn_key, ciphertext[0:16])
    for AES-based suites; for ChaCha20 the 16-byte ChaCha20 keystream with ciphertext[0:4] as the block counter
    and ciphertext[4:16] as the nonce.  DecodeError for a ciphertext shorter than 16 bytes (such a record is
    discarded by a receiver)."""
    if len(ciphertext) < SN_SAMPLE_LEN:
        raise DecodeError(f"DTLS 1.3 record ciphertext has {len(ciphertext)} bytes, fewer than the "
                          f"{SN_SAMPLE_LEN} record number encryption samples")
    sample = bytes(ciphertext[:SN_SAMPLE_LEN])
    if keys.suite.aead == "chacha20-poly1305":
        # cryptography's 16-byte ChaCha20 nonce is the 32-bit little-endian counter then the 96-bit nonce, which
        # is exactly ciphertext[0:4] | ciphertext[4:16] (the block function reads the counter little-endian)
        enc = Cipher(algorithms.ChaCha20(keys.sn_key, sample), mode=None).encryptor()
        return enc.update(b"\0" * SN_SAMPLE_LEN)
    enc = Cipher(algorithms.AES(keys.sn_key), modes.ECB()).encryptor()
    return enc.update(sample) + enc.finalize()


def reconstruct(low_bits: int, bits: int, expected: int) -> int:
    """The full value whose `bits` low bits are `low_bits` and that is numerically closest to `expected` (RFC 9147
    §4.2.2: one more than the highest sequence number deprotected so far in the epoch); never negative."""
    span = 1 << bits
    base = (expected & ~(span - 1)) | low_bits
    candidates = [c for c in (base - span, base, base + span) if c >= 0]
    return min(candidates, key=lambda c: (abs(c - expected), c))


def nonce(keys: TrafficKeys, sequence_number: int) -> bytes:
    """The per-record nonce (RFC 8446 §5.3): the 64-bit record sequence number, left-padded to iv_length, XOR the
    write IV.  DTLS 1.3 uses its 64-bit sequence number without the epoch (RFC 9147 §4)."""
    seq = (sequence_number & (1 << 64) - 1).to_bytes(len(keys.iv), "big")
    return bytes(a ^ b for a, b in zip(seq, keys.iv))


def _aead(keys: TrafficKeys):
    if keys.suite.aead == "aes-gcm":
        return AESGCM(keys.key)
    if keys.suite.aead == "chacha20-poly1305":
        return ChaCha20Poly1305(keys.key)
    return AESCCM(keys.key, tag_length=keys.suite.tag_len)


@dataclass(frozen=True, slots=True)
class InnerPlaintext:
    """DTLSInnerPlaintext (RFC 9147 §4, RFC 8446 §5.2): the content, its real content type (after the zeros of
    padding) and how many padding bytes there were."""

    content_type: int
    content: bytes
    padding: int

    def __bytes__(self) -> bytes:
        return self.content + bytes([self.content_type]) + b"\0" * self.padding


def parse_inner_plaintext(data: bytes) -> InnerPlaintext:
    """The content type is the last non-zero byte; what follows it is padding.  DecodeError when all is zero."""
    end = len(data)
    while end and data[end - 1] == 0:
        end -= 1
    if not end:
        raise DecodeError("DTLS 1.3 inner plaintext has no content type (all padding)")
    return InnerPlaintext(data[end - 1], bytes(data[:end - 1]), len(data) - end)


@dataclass(frozen=True, slots=True)
class OpenedRecord:
    """A DTLS 1.3 record that authenticated: its full epoch and sequence number (reconstructed), its content type
    and content (inner plaintext without type and padding), and the padding length."""

    epoch: int
    sequence_number: int
    content_type: int
    content: bytes
    padding: int

    @property
    def content_type_name(self) -> str:
        return dtls.CONTENT_TYPE_NAMES.get(self.content_type, str(self.content_type))


def header_bytes(record: dtls.UnifiedRecord, sequence_bits: int | None = None) -> bytes:
    """The unified header of `record` as on the wire, or with `sequence_bits` in place of the (encrypted) sequence
    number, as the AEAD's additional data wants it (RFC 9147 §4: the header before record number encryption)."""
    raw = bytes(record)
    head = raw[:len(raw) - len(record.encrypted_record)]
    if sequence_bits is None:
        return head
    seq_len = 2 if record.first_byte & 0x08 else 1
    pos = 1 + len(record.connection_id)  # the sequence number follows the connection id, if any
    return head[:pos] + sequence_bits.to_bytes(seq_len, "big") + head[pos + seq_len:]


def open_record(record: dtls.UnifiedRecord, keys: TrafficKeys, epoch: int, expected: int = 0) -> OpenedRecord:
    """Decrypt one DTLSCiphertext record (RFC 9147 §4) under the keys of its full `epoch`: unmask the sequence
    number bits (§4.2.3), reconstruct the full sequence number closest to `expected` (§4.2.2), open the AEAD with
    the nonce of that number and the header carrying the unmasked bits as additional data, and read the inner
    plaintext.  DecodeError("DTLS 1.3 record does not authenticate ...") when the tag does not verify (wrong
    keys, wrong epoch, or not this association's record)."""
    if (epoch & 0x03) != record.epoch:
        raise DecodeError(f"DTLS 1.3 record epoch bits {record.epoch} do not match epoch {epoch}")
    ciphertext = record.encrypted_record
    if len(ciphertext) < keys.suite.tag_len + 1:
        raise DecodeError(f"DTLS 1.3 record of {len(ciphertext)} bytes is shorter than a tag and a content type")
    seq_len = 2 if record.first_byte & 0x08 else 1
    mask = int.from_bytes(record_number_mask(keys, ciphertext)[:seq_len], "big")
    low = record.sequence_number ^ mask
    seq = reconstruct(low, 8 * seq_len, expected)
    try:
        plain = _aead(keys).decrypt(nonce(keys, seq), bytes(ciphertext), header_bytes(record, low))
    except InvalidTag:
        raise DecodeError(f"DTLS 1.3 record does not authenticate (epoch {epoch}, sequence number {seq})") from None
    inner = parse_inner_plaintext(plain)
    return OpenedRecord(epoch, seq, inner.content_type, inner.content, inner.padding)


class RecordReader:
    """Opens the DTLS 1.3 records one endpoint sent, in capture order (mutable: it follows each epoch's highest
    sequence number, as RFC 9147 §4.2.2 asks of a receiver).

    `secrets` maps full epochs to traffic secrets (2: the handshake secret, 3: application secret 0); epochs after
    the last one are derived on demand (KeyUpdate, RFC 8446 §7.2), up to MAX_KEY_UPDATES.  `suites`: the cipher
    suites to try, in order (the ServerHello's when known); `prefixes`: the label prefixes to try.  The first
    (suite, prefix) that authenticates a record is kept for the rest.  The repr shows no secret."""

    def __init__(self, secrets: dict[int, bytes], suites=None, prefixes=(DTLS13_LABEL_PREFIX,)):
        self._secrets = {int(e): bytes(s) for e, s in secrets.items() if s}
        if suites is None:
            first = next(iter(self._secrets.values()), b"")
            suites = suites_for_secret(first)
        self._candidates = [(cipher_suite(s), bytes(p)) for s in suites for p in prefixes]
        self._keys: dict[tuple, TrafficKeys] = {}
        self.highest: dict[int, int] = {}  # epoch -> highest sequence number opened
        self.chosen: tuple[CipherSuite, bytes] | None = None

    def __repr__(self) -> str:
        chosen = "not yet" if self.chosen is None else f"{self.chosen[0].name}, {self.chosen[1].decode()!r}"
        return f"<RecordReader epochs {sorted(self._secrets)}: {chosen}>"

    def _secret(self, epoch: int, hash_name: str, prefix: bytes) -> bytes | None:
        if epoch in self._secrets:
            return self._secrets[epoch]
        app = [e for e in self._secrets if e >= EPOCH_APPLICATION and e < epoch]
        if not app or epoch - max(app) > MAX_KEY_UPDATES:
            return None
        e = max(app)
        secret = self._secrets[e]
        while e < epoch:
            secret = next_traffic_secret(secret, hash_name, prefix)
            e += 1
        return secret

    def _epochs(self, bits: int) -> list[int]:
        """Full epochs the 2 header bits may stand for: those already seen, the most recent first, then the
        known and next ones (RFC 9147 §4.2.2)."""
        seen = sorted((e for e in self.highest if e & 3 == bits), reverse=True)
        top = max([*self._secrets, *self.highest], default=EPOCH_APPLICATION)
        known = [e for e in range(EPOCH_HANDSHAKE, top + 2) if e & 3 == bits and e not in seen]
        return seen + known

    def open(self, record: dtls.UnifiedRecord) -> OpenedRecord:
        """The opened record, or DecodeError when no known epoch's keys authenticate it."""
        candidates = [self.chosen] if self.chosen is not None else self._candidates
        last_error = None
        for epoch in self._epochs(record.epoch):
            for suite, prefix in candidates:
                secret = self._secret(epoch, suite.hash_name, prefix)
                if secret is None or len(secret) != suite.hash_len:
                    continue
                key = (epoch, suite.code, prefix)
                if key not in self._keys:
                    self._keys[key] = traffic_keys(secret, suite, prefix)
                try:
                    opened = open_record(record, self._keys[key], epoch, self.highest.get(epoch, -1) + 1)
                except DecodeError as e:
                    last_error = e
                    continue
                self.chosen = (suite, prefix)
                self.highest[epoch] = max(self.highest.get(epoch, -1), opened.sequence_number)
                return opened
        if last_error is None:
            raise DecodeError(f"DTLS 1.3 record with epoch bits {record.epoch} has no key in the key log")
        raise DecodeError("DTLS 1.3 record does not authenticate under any key of the key log")


# --- TLS 1.3 handshake transcript (RFC 8446 §4.4); the messages themselves are read by webrtcpcap.protocols.dtls ----------


def finished_verify_data(base_key: bytes, transcript_hash: bytes, hash_name: str = "sha256",
                         prefix: bytes = DTLS13_LABEL_PREFIX) -> bytes:
    """verify_data = HMAC(finished_key, Transcript-Hash(...)), finished_key = HKDF-Expand-Label(BaseKey,
    "finished", "", Hash.length) (RFC 8446 §4.4.4); BaseKey is the sender's handshake traffic secret."""
    finished_key = hkdf_expand_label(base_key, b"finished", b"", _hash_len(hash_name), hash_name, prefix)
    return hmac.new(finished_key, bytes(transcript_hash), hash_name).digest()


def transcript_message(msg_type: int, body: bytes) -> bytes:
    """A handshake message as the transcript hashes it in DTLS 1.3: the TLS header (type, uint24 length) and the
    body, without message_seq and fragment fields (RFC 9147 §5.2)."""
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + bytes(body)


HELLO_RETRY_REQUEST_RANDOM = dtls.HELLO_RETRY_REQUEST_RANDOM  # RFC 8446 §4.1.3, declared in webrtcpcap.protocols.dtls
MESSAGE_HASH = 254  # RFC 8446 §4.4.1: the synthetic message that replaces ClientHello1 after a HelloRetryRequest


def transcript_hash(messages: list[tuple[int, bytes]], hash_name: str = "sha256") -> bytes:
    """Transcript-Hash (RFC 8446 §4.4.1) of (msg_type, body) pairs in handshake order; when a ServerHello carries
    the HelloRetryRequest random, the messages before it (ClientHello1) are replaced by message_hash."""
    data = b""
    for i, (msg_type, body) in enumerate(messages):
        if msg_type == dtls.HandshakeType.SERVER_HELLO and body[2:34] == HELLO_RETRY_REQUEST_RANDOM and i:
            data = transcript_message(MESSAGE_HASH, hashlib.new(hash_name, data).digest())
        data += transcript_message(msg_type, body)
    return hashlib.new(hash_name, data).digest()
