"""DTLS and TLS wire values and their names (RFC 6347, RFC 9147, RFC 8446, RFC 5246, RFC 5764; IANA TLS registries):
versions, content types, handshake types, alerts, extensions, cipher suites, groups, signature schemes, SRTP
profiles.  The one home of these constants for every module that reads DTLS (records, handshakes, tables, tools).
"""

from __future__ import annotations

from enum import IntEnum

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


CONTENT_TYPE_NAMES = {t.value: t.name.lower() for t in ContentType}  # "change_cipher_spec", ..., "ack"

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
