"""Decoded views of DTLS/TLS hello extensions (use_srtp RFC 5764 §4.1.1, supported_groups, signature_algorithms,
supported_versions, key_share, cookie RFC 8446 §4.2, ALPN RFC 7301, server_name RFC 6066, renegotiation_info RFC
5746) and the certificate facts WebRTC compares with the SDP (RFC 8122 fingerprints).

Strategy: an `Extension` stays raw in its message; a function per extension type decodes its data when asked, and
raises DecodeError when it does not fit its format.
"""

from __future__ import annotations

import datetime
import hashlib
import struct
from dataclasses import dataclass

from ..io.errors import DecodeError
from .dtls_registry import ExtensionType, group_name
from .dtls_handshake import Extension, Reader, ServerHello


def _u16_list(data: bytes, what: str, n_len: int = 2) -> tuple[int, ...]:
    r = Reader(data, what)
    block = r.vector(n_len, "list")
    if len(block) % 2 or r.left:
        raise DecodeError(f"DTLS {what} list has a bad length")
    return struct.unpack(f">{len(block) // 2}H", block)


def use_srtp(ext: Extension) -> tuple[tuple[int, ...], bytes]:
    """use_srtp (RFC 5764 §4.1.1): the SRTP protection profiles and the MKI."""
    r = Reader(ext.data, "use_srtp")
    block = r.vector(2, "protection profiles")
    if len(block) % 2:
        raise DecodeError("DTLS use_srtp protection profiles have odd length")
    mki = r.vector(1, "srtp_mki")
    r.end("MKI")
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


def _key_share_entry(r: Reader) -> KeyShareEntry:
    group = r.uint(2, "group")
    return KeyShareEntry(group, r.vector(2, "key_exchange"))


def key_share_client_hello(ext: Extension) -> tuple[KeyShareEntry, ...]:
    """A ClientHello's key_share (RFC 8446 §4.2.8): client_shares, in the client's order of preference."""
    r = Reader(ext.data, "key_share")
    block = Reader(r.vector(2, "client_shares"), "key_share")
    r.end("client_shares")
    out = []
    while block.left:
        out.append(_key_share_entry(block))
    return tuple(out)


def key_share_server_hello(ext: Extension) -> KeyShareEntry:
    """A ServerHello's key_share (RFC 8446 §4.2.8): the one server_share."""
    r = Reader(ext.data, "key_share")
    entry = _key_share_entry(r)
    r.end("server_share")
    return entry


def key_share_hello_retry_request(ext: Extension) -> int:
    """A HelloRetryRequest's key_share (RFC 8446 §4.2.8): the selected_group the client must send a share of."""
    if len(ext.data) != 2:
        raise DecodeError(f"DTLS key_share selected_group has length {len(ext.data)}, not 2")
    return int.from_bytes(ext.data, "big")


def cookie_extension(ext: Extension) -> bytes:
    """The cookie extension (RFC 8446 §4.2.2) of a HelloRetryRequest, echoed by the second ClientHello."""
    r = Reader(ext.data, "cookie")
    value = r.vector(2, "cookie")
    if r.left or not value:
        raise DecodeError("DTLS cookie extension has a bad length")
    return value


def _list_of(ext: Extension, what: str, list_field: str) -> Reader:
    """A reader over the one 2-byte-length list an extension holds (ALPN's ProtocolNameList, SNI's ServerNameList);
    DecodeError when bytes follow the list."""
    r = Reader(ext.data, what)
    block = Reader(r.vector(2, list_field), what)
    r.end("list")
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
    r = Reader(ext.data, "renegotiation_info")
    out = r.vector(1, "renegotiated_connection")
    if r.left:
        raise DecodeError("DTLS renegotiation_info has bytes after its value")
    return out


 
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
