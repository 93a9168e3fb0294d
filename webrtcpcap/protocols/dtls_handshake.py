"""DTLS/TLS handshake messages (RFC 6347 §4.2, RFC 5246 §7.4, RFC 8446 §4, RFC 9147): ClientHello, ServerHello
(and HelloRetryRequest), HelloVerifyRequest, Certificate, ServerKeyExchange, CertificateRequest, and the TLS 1.3
messages of a decrypted DTLS 1.3 handshake (EncryptedExtensions, Certificate, CertificateVerify, Finished).

Strategy: a completed message body (from `dtls.add_fragment` / `dtls.reassemble`) is read by `parse_message` (or
`parse_message13`), one visible dispatch on the handshake type, through a `Reader` cursor whose every read checks
its length.  Extensions are kept raw (`Extension`); their decoded views are in `dtls_extensions`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..io.errors import DecodeError
from .dtls_registry import RANDOM_LEN, HandshakeType, extension_name


class Reader:
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

    def end(self, after: str) -> None:
        """The body must end here: DecodeError "DTLS <what> has N bytes after its <after>" when it does not."""
        if self.left:
            raise DecodeError(f"{self.proto} {self.what} has {self.left} bytes after its {after}")


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


def _extensions(r: Reader, what: str) -> tuple[Extension, ...]:
    if r.left == 0:  # extensions are optional (RFC 5246 §7.4.1.2)
        return ()
    block = Reader(r.vector(2, "extensions"), what, r.proto)
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
    r = Reader(body, "ClientHello", proto)
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
    r = Reader(body, "ServerHello", "DTLS" if datagram else "TLS")
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
    r = Reader(body, "HelloVerifyRequest")
    version = r.uint(2, "version")
    cookie = r.vector(1, "cookie")
    r.end("cookie")
    return HelloVerifyRequest(version, cookie)


@dataclass(frozen=True, slots=True)
class Certificate:
    """Certificate (RFC 5246 §7.4.2): the DER certificates, sender's own first."""

    certificates: tuple[bytes, ...]

    def __bytes__(self) -> bytes:
        body = b"".join(len(c).to_bytes(3, "big") + c for c in self.certificates)
        return len(body).to_bytes(3, "big") + body


def parse_certificate(body: bytes) -> Certificate:
    r = Reader(body, "Certificate")
    block = Reader(r.vector(3, "certificate_list"), "Certificate")
    r.end("certificate_list")
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
    r = Reader(body, "ServerKeyExchange")
    curve_type = r.uint(1, "curve_type")
    curve = r.uint(2, "named_curve")
    public = r.vector(1, "public key")
    alg = r.uint(2, "signature algorithm")
    sig = r.vector(2, "signature")
    r.end("signature")
    return ServerKeyExchange(curve_type, curve, public, alg, sig, body)


@dataclass(frozen=True, slots=True)
class CertificateRequest:
    """CertificateRequest (RFC 5246 §7.4.4): certificate types, signature algorithms, CA names (DER)."""

    certificate_types: bytes
    signature_algorithms: tuple[int, ...]
    certificate_authorities: tuple[bytes, ...]


def parse_certificate_request(body: bytes) -> CertificateRequest:
    r = Reader(body, "CertificateRequest")
    types = r.vector(1, "certificate_types")
    algs = r.vector(2, "supported_signature_algorithms")
    if len(algs) % 2:
        raise DecodeError("DTLS CertificateRequest supported_signature_algorithms has odd length")
    names = Reader(r.vector(2, "certificate_authorities"), "CertificateRequest")
    cas = []
    while names.left:
        cas.append(names.vector(2, "distinguished name"))
    return CertificateRequest(types, tuple(struct.unpack(f">{len(algs) // 2}H", algs)), tuple(cas))


# --- TLS 1.3 handshake messages (RFC 8446 §4): only readable from a decrypted DTLS 1.3 handshake record ---------


def _extension_list(block: bytes, what: str) -> tuple[Extension, ...]:
    r = Reader(block, what)
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
    r = Reader(body, "EncryptedExtensions")
    block = r.vector(2, "extensions")
    r.end("extensions")
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
    r = Reader(body, "Certificate")
    context = r.vector(1, "certificate_request_context")
    block = Reader(r.vector(3, "certificate_list"), "Certificate")
    r.end("certificate_list")
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
    r = Reader(body, "CertificateVerify")
    algorithm = r.uint(2, "algorithm")
    signature = r.vector(2, "signature")
    r.end("signature")
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
