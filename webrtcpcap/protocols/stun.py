"""STUN messages (RFC 8489, formerly RFC 5389) with the attributes of ICE (RFC 8445, consent RFC 7675) and TURN
(RFC 8656), and how they differ from classic STUN (RFC 3489).

Strategy: sans-IO, bytes in, frozen records out.  `parse` reads a whole message; every attribute goes through the
one ATTRIBUTES table (code -> name, decoder), and an attribute the table does not know is kept raw, never dropped.
Each attribute keeps its bytes (`raw`, `padding`) so that `bytes(parse(x)) == x`.  Integrity checks are functions
over the message bytes that return a boolean (None when the message has no such attribute), never exceptions.
`looks_like_stun` is the vectorised test the demultiplexer uses as evidence that a flow is WebRTC.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import stringprep
import struct
import unicodedata
import zlib
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Callable

import numpy as np

from ..io.buffer import ByteSource
from ..io.errors import DecodeError
from ..net.layers import endpoint

STUN_MAGIC_COOKIE = 0x2112A442  # RFC 8489 §5
STUN_HEADER_LEN = 20  # RFC 8489 §5
FINGERPRINT_XOR = 0x5354554E  # RFC 8489 §14.7: "STUN"


class Class(IntEnum):
    """The message class, bits C1 C0 of the message type (RFC 8489 §5)."""

    REQUEST = 0
    INDICATION = 1
    SUCCESS = 2
    ERROR = 3


CLASS_NAMES = ["request", "indication", "success", "error"]


class Method(IntEnum):
    """STUN methods (IANA "STUN Methods" registry)."""

    BINDING = 0x001  # RFC 8489 §18.2
    SHARED_SECRET = 0x002  # RFC 3489, reserved since RFC 5389
    ALLOCATE = 0x003  # RFC 8656 §17
    REFRESH = 0x004  # RFC 8656 §17
    SEND = 0x006  # RFC 8656 §17
    DATA = 0x007  # RFC 8656 §17
    CREATE_PERMISSION = 0x008  # RFC 8656 §17
    CHANNEL_BIND = 0x009  # RFC 8656 §17
    CONNECT = 0x00A  # RFC 6062 §6.1
    CONNECTION_BIND = 0x00B  # RFC 6062 §6.1
    CONNECTION_ATTEMPT = 0x00C  # RFC 6062 §6.1
    GOOG_PING = 0x080  # libwebrtc's GOOG-PING (message type 0x200), not registered


METHOD_NAMES = {m.value: m.name.lower().replace("_", "-") for m in Method}


def method_name(method: int) -> str:
    """"binding", "allocate", ..., or "0x0NN" for a method without a name."""
    return METHOD_NAMES.get(method, f"0x{method:03x}")


class Attr(IntEnum):
    """Attribute types this module decodes by name (IANA "STUN Attributes" registry)."""

    MAPPED_ADDRESS = 0x0001  # RFC 8489 §14.1
    CHANGE_REQUEST = 0x0003  # RFC 5780 §7.2
    USERNAME = 0x0006  # RFC 8489 §14.3
    MESSAGE_INTEGRITY = 0x0008  # RFC 8489 §14.5
    ERROR_CODE = 0x0009  # RFC 8489 §14.8
    UNKNOWN_ATTRIBUTES = 0x000A  # RFC 8489 §14.9
    CHANNEL_NUMBER = 0x000C  # RFC 8656 §18.1
    LIFETIME = 0x000D  # RFC 8656 §18.2
    XOR_PEER_ADDRESS = 0x0012  # RFC 8656 §18.3
    DATA = 0x0013  # RFC 8656 §18.4
    REALM = 0x0014  # RFC 8489 §14.9
    NONCE = 0x0015  # RFC 8489 §14.10
    XOR_RELAYED_ADDRESS = 0x0016  # RFC 8656 §18.5
    REQUESTED_ADDRESS_FAMILY = 0x0017  # RFC 8656 §18.6
    EVEN_PORT = 0x0018  # RFC 8656 §18.7
    REQUESTED_TRANSPORT = 0x0019  # RFC 8656 §18.8
    DONT_FRAGMENT = 0x001A  # RFC 8656 §18.9
    MESSAGE_INTEGRITY_SHA256 = 0x001C  # RFC 8489 §14.6
    USERHASH = 0x001E  # RFC 8489 §14.4
    XOR_MAPPED_ADDRESS = 0x0020  # RFC 8489 §14.2
    RESERVATION_TOKEN = 0x0022  # RFC 8656 §18.10
    PRIORITY = 0x0024  # RFC 8445 §16.1
    USE_CANDIDATE = 0x0025  # RFC 8445 §16.1
    CONNECTION_ID = 0x002A  # RFC 6062 §6.2
    SOFTWARE = 0x8022  # RFC 8489 §14.14
    ALTERNATE_SERVER = 0x8023  # RFC 8489 §14.15
    FINGERPRINT = 0x8028  # RFC 8489 §14.7
    ICE_CONTROLLED = 0x8029  # RFC 8445 §16.1
    ICE_CONTROLLING = 0x802A  # RFC 8445 §16.1
    RESPONSE_ORIGIN = 0x802B  # RFC 5780 §7.3
    OTHER_ADDRESS = 0x802C  # RFC 5780 §7.4
    NOMINATION = 0xC001  # draft-thatcher-ice-renomination §4
    GOOG_NETWORK_INFO = 0xC057  # libwebrtc: network id and cost


# -- attribute value decoders: raw value bytes (and the transaction id, for XOR) -> a Python value ----------------

def _expect(name: str, raw: bytes, n: int) -> None:
    if len(raw) != n:
        raise DecodeError(f"STUN {name} is {len(raw)} bytes, expected {n}")


def _address(name: str, raw: bytes, xor: bytes | None) -> tuple[str, int]:
    """(MAPPED/XOR-*)-ADDRESS (RFC 8489 §14.1, §14.2): family 1 IPv4, 2 IPv6; XOR with cookie (+ transaction id)."""
    if len(raw) < 4:
        raise DecodeError(f"STUN {name} is {len(raw)} bytes, expected 8 or 20")
    family, port = raw[1], struct.unpack_from(">H", raw, 2)[0]
    if family not in (1, 2):
        raise DecodeError(f"STUN {name} has unknown address family {family}")
    _expect(name, raw, 8 if family == 1 else 20)
    addr = raw[4:]
    if xor is not None:
        port ^= STUN_MAGIC_COOKIE >> 16
        addr = bytes(a ^ b for a, b in zip(addr, xor))
    return str(ipaddress.ip_address(addr)), port


def _plain_address(name):
    return lambda raw, tid: _address(name, raw, None)


def _xor_address(name):
    return lambda raw, tid: _address(name, raw, struct.pack(">I", STUN_MAGIC_COOKIE) + tid)


def _text(name):
    return lambda raw, tid: raw.decode("utf-8", errors="replace")


def _uint(name, n):
    fmt = {1: ">B", 2: ">H", 4: ">I", 8: ">Q"}[n]

    def decode(raw, tid):
        _expect(name, raw, n)
        return struct.unpack(fmt, raw)[0]
    return decode


def _first_of_word(name, fmt):
    """A value in the first byte(s) of a 4-byte word whose rest is reserved (CHANNEL-NUMBER, REQUESTED-*)."""
    def decode(raw, tid):
        _expect(name, raw, 4)
        return struct.unpack_from(fmt, raw)[0]
    return decode


def _flag(name):
    def decode(raw, tid):
        _expect(name, raw, 0)
        return None
    return decode


def _opaque(name, n=None):
    def decode(raw, tid):
        if n is not None:
            _expect(name, raw, n)
        return bytes(raw)
    return decode


def _sha256_integrity(raw, tid):
    if not (16 <= len(raw) <= 32 and len(raw) % 4 == 0):
        raise DecodeError(f"STUN MESSAGE-INTEGRITY-SHA256 is {len(raw)} bytes, expected 16 to 32 in steps of 4")
    return bytes(raw)


@dataclass(frozen=True, slots=True)
class ErrorCode:
    """ERROR-CODE (RFC 8489 §14.8): code = class * 100 + number, and a UTF-8 reason phrase."""

    code: int
    reason: str

    def __str__(self) -> str:
        return f"{self.code} {self.reason}"


def _error_code(raw, tid):
    if len(raw) < 4:
        raise DecodeError(f"STUN ERROR-CODE is {len(raw)} bytes, expected at least 4")
    return ErrorCode((raw[2] & 0x07) * 100 + raw[3], raw[4:].decode("utf-8", errors="replace"))


def _unknown_attributes(raw, tid):
    if len(raw) % 2:
        raise DecodeError(f"STUN UNKNOWN-ATTRIBUTES has an odd length {len(raw)}")
    return struct.unpack(f">{len(raw) // 2}H", raw)


def _even_port(raw, tid):
    _expect("EVEN-PORT", raw, 1)
    return bool(raw[0] & 0x80)  # R bit: reserve the next port too (RFC 8656 §18.7)


@dataclass(frozen=True, slots=True)
class NetworkInfo:
    """GOOG-NETWORK-INFO: the sender's network id and network cost (libwebrtc)."""

    network_id: int
    network_cost: int

    def __str__(self) -> str:
        return f"id={self.network_id} cost={self.network_cost}"


def _network_info(raw, tid):
    _expect("GOOG-NETWORK-INFO", raw, 4)
    return NetworkInfo(*struct.unpack(">HH", raw))


Decoder = Callable[[bytes, bytes], Any]

# code -> (name, decoder); the one place where attributes are dispatched (aioice's ATTRIBUTES is the model).
ATTRIBUTES: dict[int, tuple[str, Decoder]] = {
    Attr.MAPPED_ADDRESS: ("MAPPED-ADDRESS", _plain_address("MAPPED-ADDRESS")),
    Attr.CHANGE_REQUEST: ("CHANGE-REQUEST", _uint("CHANGE-REQUEST", 4)),
    Attr.USERNAME: ("USERNAME", _text("USERNAME")),
    Attr.MESSAGE_INTEGRITY: ("MESSAGE-INTEGRITY", _opaque("MESSAGE-INTEGRITY", 20)),
    Attr.ERROR_CODE: ("ERROR-CODE", _error_code),
    Attr.UNKNOWN_ATTRIBUTES: ("UNKNOWN-ATTRIBUTES", _unknown_attributes),
    Attr.CHANNEL_NUMBER: ("CHANNEL-NUMBER", _first_of_word("CHANNEL-NUMBER", ">H")),
    Attr.LIFETIME: ("LIFETIME", _uint("LIFETIME", 4)),
    Attr.XOR_PEER_ADDRESS: ("XOR-PEER-ADDRESS", _xor_address("XOR-PEER-ADDRESS")),
    Attr.DATA: ("DATA", _opaque("DATA")),
    Attr.REALM: ("REALM", _text("REALM")),
    Attr.NONCE: ("NONCE", _text("NONCE")),
    Attr.XOR_RELAYED_ADDRESS: ("XOR-RELAYED-ADDRESS", _xor_address("XOR-RELAYED-ADDRESS")),
    Attr.REQUESTED_ADDRESS_FAMILY: ("REQUESTED-ADDRESS-FAMILY", _first_of_word("REQUESTED-ADDRESS-FAMILY", ">B")),
    Attr.EVEN_PORT: ("EVEN-PORT", _even_port),
    Attr.REQUESTED_TRANSPORT: ("REQUESTED-TRANSPORT", _first_of_word("REQUESTED-TRANSPORT", ">B")),
    Attr.DONT_FRAGMENT: ("DONT-FRAGMENT", _flag("DONT-FRAGMENT")),
    Attr.MESSAGE_INTEGRITY_SHA256: ("MESSAGE-INTEGRITY-SHA256", _sha256_integrity),
    Attr.USERHASH: ("USERHASH", _opaque("USERHASH", 32)),
    Attr.XOR_MAPPED_ADDRESS: ("XOR-MAPPED-ADDRESS", _xor_address("XOR-MAPPED-ADDRESS")),
    Attr.RESERVATION_TOKEN: ("RESERVATION-TOKEN", _opaque("RESERVATION-TOKEN", 8)),
    Attr.PRIORITY: ("PRIORITY", _uint("PRIORITY", 4)),
    Attr.USE_CANDIDATE: ("USE-CANDIDATE", _flag("USE-CANDIDATE")),
    Attr.CONNECTION_ID: ("CONNECTION-ID", _uint("CONNECTION-ID", 4)),
    Attr.SOFTWARE: ("SOFTWARE", _text("SOFTWARE")),
    Attr.ALTERNATE_SERVER: ("ALTERNATE-SERVER", _plain_address("ALTERNATE-SERVER")),
    Attr.FINGERPRINT: ("FINGERPRINT", _uint("FINGERPRINT", 4)),
    Attr.ICE_CONTROLLED: ("ICE-CONTROLLED", _uint("ICE-CONTROLLED", 8)),
    Attr.ICE_CONTROLLING: ("ICE-CONTROLLING", _uint("ICE-CONTROLLING", 8)),
    Attr.RESPONSE_ORIGIN: ("RESPONSE-ORIGIN", _plain_address("RESPONSE-ORIGIN")),
    Attr.OTHER_ADDRESS: ("OTHER-ADDRESS", _plain_address("OTHER-ADDRESS")),
    Attr.NOMINATION: ("NOMINATION", _uint("NOMINATION", 4)),
    Attr.GOOG_NETWORK_INFO: ("GOOG-NETWORK-INFO", _network_info),
}


@dataclass(frozen=True, slots=True)
class StunAttribute:
    """One attribute (RFC 8489 §14): `type` code, `name` (None when unknown), decoded `value` (the raw bytes when
    unknown), `raw` value bytes (without padding), `offset` of the attribute header from the message start, the
    `padding` bytes that follow a value whose length is not a multiple of 4 (kept for the round trip), and `error`:
    why a known attribute's value did not decode (then `value` is None; see parse_partial)."""

    type: int
    name: str | None
    value: Any
    raw: bytes
    offset: int = 0
    padding: bytes = b""
    error: str | None = None

    @property
    def text(self) -> str:
        """The value as one string, for tables: "ip:port", decimal numbers, hex bytes, "401 Unauthorized"..."""
        if self.error is not None:
            return self.raw.hex()
        v = self.value
        if v is None:
            return ""
        if isinstance(v, (bytes, bytearray)):
            return v.hex()
        if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str):
            host, port = v
            return endpoint(host, port)
        if self.type == Attr.UNKNOWN_ATTRIBUTES:
            return ",".join(f"0x{t:04x}" for t in v)
        return str(v)

    def __bytes__(self) -> bytes:
        return struct.pack(">HH", self.type, len(self.raw)) + self.raw + self.padding


def attribute(type: int, raw: bytes, transaction_id: bytes = b"\0" * 12, offset: int = 0) -> StunAttribute:  # noqa: A002
    """An attribute from its value bytes, decoded through ATTRIBUTES (zero padding added to a multiple of 4)."""
    entry = ATTRIBUTES.get(type)
    value = entry[1](raw, transaction_id) if entry else bytes(raw)
    return StunAttribute(type, entry[0] if entry else None, value, bytes(raw), offset, b"\0" * (-len(raw) % 4))


@dataclass(frozen=True, slots=True)
class StunMessage:
    """A STUN message (RFC 8489 §5-6): the header fields and the attributes in wire order."""

    message_type: int
    transaction_id: bytes  # 12 bytes
    attributes: tuple[StunAttribute, ...] = ()

    @property
    def cls(self) -> int:
        """0 request, 1 indication, 2 success response, 3 error response (Class)."""
        t = self.message_type
        return ((t >> 4) & 1) | ((t >> 7) & 2)

    @property
    def method(self) -> int:
        t = self.message_type
        return (t & 0x000F) | ((t >> 1) & 0x0070) | ((t >> 2) & 0x0F80)

    @property
    def length(self) -> int:
        """The header's message length: the attributes' bytes, padding included."""
        return sum(4 + len(a.raw) + len(a.padding) for a in self.attributes)

    def get(self, type: int, default: Any = None) -> Any:  # noqa: A002
        """The value of the first attribute of `type`, or `default`."""
        for a in self.attributes:
            if a.type == type:
                return a.value
        return default

    def __contains__(self, type: int) -> bool:  # noqa: A002
        return any(a.type == type for a in self.attributes)

    def __bytes__(self) -> bytes:
        head = struct.pack(">HHI", self.message_type, self.length, STUN_MAGIC_COOKIE) + self.transaction_id
        return head + b"".join(bytes(a) for a in self.attributes)


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


def parse(data: bytes) -> StunMessage:
    """A whole STUN message: exactly `data`, header and attributes; DecodeError if it is not one."""
    msg, error = parse_partial(data)
    if error is not None:
        raise DecodeError(error)
    return msg


def parse_partial(data: bytes) -> tuple[StunMessage, str | None]:
    """As much of a STUN message as reads, and the first problem (None when the whole message decoded), so that
    one malformed attribute does not hide the others: an attribute whose value does not decode is kept with
    `error` set and `value` None; an attribute that runs past the end ends the list (the error names it); a
    message cut short or followed by extra bytes keeps the attributes that are there.  DecodeError only when the
    header itself is not an RFC 8489 header."""
    data = bytes(data)
    h = parse_header(data)
    end = STUN_HEADER_LEN + h.length
    error = None
    if len(data) < end:
        error = f"STUN message is truncated ({len(data)} of {end} bytes)"
    elif len(data) > end:
        error = f"STUN message has {len(data) - end} bytes after its declared length"
    stop = min(end, len(data))
    attributes = []
    pos = STUN_HEADER_LEN
    while pos + 4 <= stop:
        atype, alen = struct.unpack_from(">HH", data, pos)
        padded = alen + (-alen % 4)
        entry = ATTRIBUTES.get(atype)
        if pos + 4 + padded > end:
            name = entry[0] if entry else f"0x{atype:04x}"
            error = error or (f"STUN attribute {name} at offset {pos} runs past the end of the message "
                              f"({alen} bytes, {end - pos - 4} left)")
            break
        if pos + 4 + padded > stop:
            break  # cut short: the message's error says so
        raw = data[pos + 4 : pos + 4 + alen]
        problem = None
        try:
            value = entry[1](raw, h.transaction_id) if entry else raw
        except DecodeError as e:
            value, problem = None, str(e)
            error = error or problem
        attributes.append(StunAttribute(atype, entry[0] if entry else None, value, raw, pos,
                                        data[pos + 4 + alen : pos + 4 + padded], problem))
        pos += 4 + padded
    return StunMessage(h.message_type, h.transaction_id, tuple(attributes)), error


# -- integrity ---------------------------------------------------------------------------------------------------

def _find(data: bytes, atype: int) -> StunAttribute | None:
    for a in parse(data).attributes:
        if a.type == atype:
            return a
    return None


def _with_length(data: bytes, upto: int, length: int) -> bytes:
    """The message bytes before offset `upto`, with the header's length field set to `length`."""
    return data[:2] + struct.pack(">H", length) + data[4:upto]


def fingerprint_ok(data: bytes) -> bool | None:
    """RFC 8489 §14.7: FINGERPRINT is CRC-32 of the message up to it (length field counting it) XOR 0x5354554E.
    None when the message has no FINGERPRINT; DecodeError when it is not a STUN message."""
    data = bytes(data)
    fp = _find(data, Attr.FINGERPRINT)
    if fp is None:
        return None
    crc = zlib.crc32(_with_length(data, fp.offset, fp.offset - STUN_HEADER_LEN + 8)) ^ FINGERPRINT_XOR
    return crc == fp.value


def integrity_ok(data: bytes, key: bytes) -> bool | None:
    """RFC 8489 §14.5/§14.6: MESSAGE-INTEGRITY (HMAC-SHA1) and MESSAGE-INTEGRITY-SHA256 (HMAC-SHA256, possibly
    truncated) over the message up to the attribute, with the length field counting up to the end of it.
    True when every integrity attribute present matches `key`; None when there is none."""
    data = bytes(data)
    results = []
    for a in parse(data).attributes:
        if a.type == Attr.MESSAGE_INTEGRITY:
            digest = hashlib.sha1
        elif a.type == Attr.MESSAGE_INTEGRITY_SHA256:
            digest = hashlib.sha256
        else:
            continue
        signed = _with_length(data, a.offset, a.offset - STUN_HEADER_LEN + 4 + len(a.raw))
        mac = hmac.new(key, signed, digest).digest()[: len(a.raw)]
        results.append(hmac.compare_digest(mac, a.raw))
    return all(results) if results else None


def short_term_key(password: str) -> bytes:
    """RFC 8489 §9.1.1: the key is the password after OpaqueString (SASLprep); plain UTF-8 for ASCII ICE passwords."""
    return password.encode("utf-8")


def long_term_key(username: str, realm: str, password: str) -> bytes:
    """RFC 8489 §9.2.2 (RFC 5389 §15.4): MD5(username ":" realm ":" SASLprep(password)); username and realm as the
    message carries them.  A password SASLprep refuses (a control character...) is taken as its UTF-8 bytes, as
    servers that skip SASLprep take it."""
    try:
        password = saslprep(password)
    except DecodeError:
        pass
    return hashlib.md5(f"{username}:{realm}:{password}".encode("utf-8")).digest()


def _saslprep_prohibited(c: str) -> bool:
    """RFC 4013 §2.3: the RFC 3454 tables C.1.2, C.2.1, C.2.2, C.3, C.4, C.5, C.6, C.7, C.8 and C.9."""
    return (stringprep.in_table_c12(c) or stringprep.in_table_c21_c22(c) or stringprep.in_table_c3(c)
            or stringprep.in_table_c4(c) or stringprep.in_table_c5(c) or stringprep.in_table_c6(c)
            or stringprep.in_table_c7(c) or stringprep.in_table_c8(c) or stringprep.in_table_c9(c))


def saslprep(text: str) -> str:
    """RFC 4013 SASLprep, the stringprep profile RFC 5389 and RFC 5769 §2.4 apply to long-term passwords: non-ASCII
    spaces (C.1.2) become SPACE, "commonly mapped to nothing" characters (B.1) go, NFKC; then prohibited
    characters and the RFC 3454 §6 bidirectional rule give DecodeError (which never quotes the text: it is a
    secret).  Unassigned code points are allowed (a query, RFC 4013 §2.5)."""
    mapped = "".join(" " if stringprep.in_table_c12(c) else c for c in text if not stringprep.in_table_b1(c))
    out = unicodedata.normalize("NFKC", mapped)
    if any(_saslprep_prohibited(c) for c in out):
        raise DecodeError("SASLprep: the string holds a prohibited character (RFC 4013 §2.3)")
    if any(stringprep.in_table_d1(c) for c in out):
        if any(stringprep.in_table_d2(c) for c in out) or not (
                stringprep.in_table_d1(out[0]) and stringprep.in_table_d1(out[-1])):
            raise DecodeError("SASLprep: the string breaks the bidirectional rule (RFC 3454 §6)")
    return out


def turn_rest_password(secret: str | bytes, username: str) -> str:
    """The TURN REST API password (draft-uberti-behave-turn-rest §2.2): base64(HMAC-SHA1(secret, username))."""
    secret = secret.encode("utf-8") if isinstance(secret, str) else secret
    return base64.b64encode(hmac.new(secret, username.encode("utf-8"), hashlib.sha1).digest()).decode("ascii")


def parse_rest_username(username: str) -> tuple[int, str]:
    """A TURN REST API username "expiry:user" (expiry in Unix seconds) as (expiry, user); "expiry" alone gives ""."""
    expiry, _, user = username.partition(":")
    if not (expiry.isascii() and expiry.isdigit()):
        raise DecodeError(f"STUN REST username {username!r} does not start with an expiry timestamp")
    return int(expiry), user


def looks_like_stun(src: ByteSource, off: np.ndarray, cap: np.ndarray, wire_len: np.ndarray) -> np.ndarray:
    """Vectorised: an RFC 8489 header (top bits 0, magic cookie) whose length field accounts for the whole datagram."""
    ok = cap >= STUN_HEADER_LEN
    first = src.u8(off, ok)
    length = src.be16(off + 2, ok).astype(np.int64)
    cookie = src.be32(off + 4, ok)
    return ok & ((first & 0xC0) == 0) & (cookie == STUN_MAGIC_COOKIE) & (length % 4 == 0) & (length + 20 == wire_len)


# -- TURN relaying (RFC 8656): the datagrams a relay carries ----------------------------------------------------

CHANNEL_DATA_HEADER_LEN = 4  # RFC 8656 §12.4: channel number, length
CHANNEL_NUMBERS = range(0x4000, 0x5000)  # RFC 8656 §12: 0x4000-0x4FFF (0x5000-0xFFFF are reserved)


def channel_data(data: bytes, wire_len: int) -> tuple[int, bytes, int]:
    """A ChannelData message over UDP (RFC 8656 §12.4; padding is optional there): (channel number, the captured
    application data, its length on the wire).  DecodeError if it is not one."""
    if len(data) < CHANNEL_DATA_HEADER_LEN:
        raise DecodeError(f"TURN ChannelData header is truncated ({len(data)} of 4 bytes)")
    channel, length = struct.unpack_from(">HH", data)
    if channel not in CHANNEL_NUMBERS:
        raise DecodeError(f"TURN ChannelData channel number 0x{channel:04x} is outside 0x4000-0x4FFF")
    if CHANNEL_DATA_HEADER_LEN + length > wire_len:
        raise DecodeError("TURN ChannelData length overruns the datagram")
    return channel, bytes(data[CHANNEL_DATA_HEADER_LEN : CHANNEL_DATA_HEADER_LEN + length]), length


# The message types (first two bytes) of Send and Data indications and ChannelBind requests (RFC 8656 §18).
RELAYING_TYPES = frozenset({b"\x00\x16", b"\x00\x17", b"\x00\x09"})


def is_turn_relaying(data: bytes) -> bool:
    """Whether a STUN message's header says Send/Data indication or ChannelBind request (cheap: no parse)."""
    if len(data) < 2:
        return False
    header = StunHeader((data[0] << 8) | data[1], 0, b"")
    return (header.cls == Class.INDICATION and header.method in (Method.SEND, Method.DATA)) or (
        header.cls == Class.REQUEST and header.method == Method.CHANNEL_BIND)


def peer_address(msg: StunMessage) -> str | None:
    """The first XOR-PEER-ADDRESS of a message as "ip:port" ("[ip]:port" for IPv6), None if it has none."""
    for a in msg.attributes:
        if a.type == Attr.XOR_PEER_ADDRESS:
            return a.text
    return None
