"""What the anonymiser rewrites inside WebRTC payloads, and with what: the keyed mapping (`Mapper`: addresses, MACs
and names, one-to-one, never the identity), and `_Anonymizer`, which rewrites a STUN/TURN message (address
attributes, USERNAME, REALM, filler for unknown attributes, FINGERPRINT recomputed), the texts of a plaintext RTCP
compound and the names in DTLS certificates (reassembled from their handshake fragments), each in place and keeping
every length (RFC 8489, RFC 8656, RFC 3550 §6.5, RFC 5280).  How frames are walked and written is in
`anonymize_frames`; the choices are stated once in `anonymize`'s docstring.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import zlib
from dataclasses import dataclass, field

from ..protocols.dtls import ContentType, HandshakeType
from ..protocols.rtcp import PacketType, SdesType
from ..protocols.stun import FINGERPRINT_XOR, Attr, Method
from ..net.demux import (DTLS_FIRST_BYTES, RTCP_PACKET_TYPES, RTP_FIRST_BYTES, STUN_FIRST_BYTES,
                         ZRTP_FIRST_BYTES)
from ..net.tcp import STUN_MAGIC_COOKIE_BYTES


# STUN attributes rewritten (RFC 8489 §14, RFC 8656 §18, RFC 5780 §7, RFC 3489 §11.2)
PLAIN_ADDRESS_ATTRS = {0x0001, 0x0002, 0x0004, 0x0005, 0x000B, 0x8023, 0x802B, 0x802C}
XOR_ADDRESS_ATTRS = {0x0012, 0x0016, 0x0020, 0x8020}  # XOR-PEER, XOR-RELAYED, XOR-MAPPED (and its old code)

# Attributes kept as they are: numbers, flags, integrity, and texts the module docstring keeps (NONCE, SOFTWARE,
# ERROR-CODE).  Any other attribute (unknown ones, vendor dialects such as MS-TURN's) gets keyed filler: it may hold
# an address or a name this module does not know how to find.
KEPT_ATTRS = {
    0x0003, 0x0008, 0x0009, 0x000A, 0x000C, 0x000D, 0x0015, 0x0017, 0x0018, 0x0019, 0x001A, 0x001C, 0x001D,
    0x0022, 0x0024, 0x0025, 0x0026, 0x0027, 0x002A,  # RFC 5780, 8489, 8656, 8445, 6062
    0x8000, 0x8001, 0x8002, 0x8004, 0x8022, 0x8028, 0x8029, 0x802A,  # RFC 8656, 8489, 8445
    0xC001, 0xC057, 0xC058, 0xC059, 0xC05B, 0xC05D, 0xC060,  # renomination; libwebrtc GOOG-* numbers and digests
}

# RTCP (RFC 3550 §6): SDES items whose text is replaced (CNAME "user@host", NAME, EMAIL, PHONE, LOC, TOOL, NOTE,
# H323-CADDR, and unknown types); the stream identifiers (APSI, RGRP, RtpStreamId, RepairedRtpStreamId, CCID, MID)
# name no one and stay, so that BUNDLE and simulcast analyses agree.
SDES_KEPT = {SdesType.APSI, SdesType.RGRP, SdesType.RTPSTREAMID, SdesType.REPAIREDRTPSTREAMID, SdesType.CCID,
             SdesType.MID}

MAX_CERTIFICATE_MESSAGE = 1 << 20  # a longer one is taken as garbage (its fragments get filler)


# X.520 string types whose values are replaced in certificate names (RFC 5280 §4.1.2.4)
DER_STRINGS = {0x0C, 0x13, 0x14, 0x16, 0x1C, 0x1E}  # UTF8, Printable, T61, IA5, Universal, BMP

_ALNUM = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


# --- the keyed mapping ---------------------------------------------------------------------------------------------


def _v4_class(a: int) -> tuple[int, int] | None:
    """(prefix, prefix length) of the private class an IPv4 address is in, (0, 32) when kept as is, None if public."""
    if a >> 24 in (0, 127) or a >> 28 >= 14 or a == 0xFFFFFFFF:
        return (a, 32)
    for prefix, bits in ((0x0A000000, 8), (0xAC100000, 12), (0xC0A80000, 16), (0x64400000, 10), (0xA9FE0000, 16)):
        if a >> (32 - bits) == prefix >> (32 - bits):
            return (prefix, bits)
    return None


class Mapper:
    """The keyed, consistent, one-to-one replacement of addresses and names (see the module docstring)."""

    def __init__(self, key: bytes):
        self.key = key
        self._map: dict[tuple[str, bytes], bytes] = {}
        self._taken: set[tuple[str, bytes]] = set()
        self._seen: dict[bytes, bytes] = {}  # ip(): a cache in front of the class rules

    def _digest(self, label: bytes, value: bytes, counter: int) -> bytes:
        return hmac.new(self.key, label + b"\0" + value + counter.to_bytes(4, "big"), hashlib.sha256).digest()

    def _unique(self, space: str, value: bytes, make) -> bytes:
        key = (space, value)
        out = self._map.get(key)
        if out is None:
            counter = 0
            while True:
                out = make(self._digest(space.encode(), value, counter))
                if out is None or out == value or (space, out) in self._taken:
                    counter += 1
                    continue
                break
            self._map[key] = out
            self._taken.add((space, out))
        return out

    def ipv4(self, addr: bytes) -> bytes:
        a = int.from_bytes(addr, "big")
        cls = _v4_class(a)
        if cls is not None and cls[1] == 32:
            return bytes(addr)

        def make(d: bytes) -> bytes | None:
            h = int.from_bytes(d[:4], "big")
            if cls is None:
                return None if _v4_class(h) is not None else h.to_bytes(4, "big")
            prefix, bits = cls
            mask = (1 << (32 - bits)) - 1
            return (prefix | (h & mask)).to_bytes(4, "big")
        return self._unique("ip", bytes(addr), make)

    def ipv6(self, addr: bytes) -> bytes:
        addr = bytes(addr)
        if addr in (bytes(16), bytes(15) + b"\1") or addr[0] == 0xFF:
            return addr
        if addr[:12] == bytes(10) + b"\xff\xff":
            return addr[:12] + self.ipv4(addr[12:])

        def make(d: bytes) -> bytes:
            if addr[0] == 0xFE and addr[1] & 0xC0 == 0x80:
                return b"\xfe\x80" + bytes(6) + d[:8]
            if addr[0] & 0xFE == 0xFC:
                return addr[:1] + d[:15]
            return b"\x20\x01\x0d\xb8" + d[:12]
        return self._unique("ip", addr, make)

    def ip(self, addr: bytes) -> bytes:
        addr = bytes(addr)
        out = self._seen.get(addr)
        if out is None:
            out = self._seen[addr] = self.ipv4(addr) if len(addr) == 4 else self.ipv6(addr)
        return out

    def mac(self, addr: bytes) -> bytes:
        addr = bytes(addr)
        if len(addr) != 6 or addr[0] & 1 or addr == bytes(6):
            return addr  # broadcast, multicast, unset
        return self._unique("mac", addr, lambda d: bytes([(d[0] & 0xFC) | 0x02]) + d[1:6])

    def name(self, value: bytes) -> bytes:
        """Same length, letters and digits: ufrags, usernames, realms, certificate name values."""
        value = bytes(value)
        if not value:
            return value
        return self._unique("name", value, lambda d: bytes(
            _ALNUM[b % len(_ALNUM)] for b in (d * (len(value) // len(d) + 1))[: len(value)]))

    def filler(self, value: bytes) -> bytes:
        return self._unique("filler", bytes(value), lambda d: (d * (len(value) // 32 + 1))[: len(value)])


# --- datagrams -----------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Datagram:
    """A transport datagram (UDP/TCP/ICMP header and payload, as captured), and where its bytes live in frames."""

    row: int  # the frame that completed it (where its kind is looked up)
    version: int
    proto: int
    old_src: bytes
    old_dst: bytes
    src: bytes
    dst: bytes
    data: bytearray
    wire_len: int  # the transport length the IP header(s) declare
    pieces: list  # (row, position in the frame, position in data, length)
    whole: bool = True  # every byte of the datagram was captured
    keep: int = -1  # bytes of `data` to keep (-1: all); the rest is cut from the frames


@dataclass
class _CertMessage:
    """A DTLS Certificate handshake message being reassembled from its fragments."""

    body: bytearray
    have: list = field(default_factory=list)  # (offset, length) received
    places: list = field(default_factory=list)  # (datagram, position in its data, fragment offset, length)


class _Anonymizer:
    def __init__(self, key: bytes):
        self.m = Mapper(key)
        self.stats = {"stun_messages": 0, "fingerprints_recomputed": 0, "integrity_not_verifiable": 0,
                      "usernames": 0, "certificates": 0, "payloads_cut": 0, "tcp_unframed_bytes": 0,
                      "attributes_filled": 0, "rtcp_items": 0, "unreadable": 0}
        self.certs: dict[tuple, _CertMessage] = {}
        self.srtcp_rows: set[int] = set()  # rows whose RTCP is SRTCP (ciphertext after the first header)
        self.unreadable_rows: set[int] = set()  # rows with WebRTC bytes cut or filled: they could not be vouched for

    def fill(self, buf: bytearray, s: int, e: int, dg: _Datagram) -> None:
        """Keyed filler over bytes nested in a message whose length must stay (relayed, framed in TCP) that could
        not be read: fail closed, never copied through."""
        if s < e:
            buf[s:e] = self.m.filler(bytes(buf[s:e]))
            self.stats["unreadable"] += 1
            self.unreadable_rows.add(dg.row)

    # --- STUN -------------------------------------------------------------------------------------------------------

    def stun(self, buf: bytearray, s: int, e: int, dg: _Datagram, marker: tuple) -> bool:
        """Rewrite the STUN message at buf[s:e] in place (lengths kept).  False, with nothing rewritten, when the
        bytes are not an RFC 8489 message it can vouch for (no magic cookie: classic or vendor STUN; a length that
        is not the message's; attributes that do not chain to its end): the caller cuts or fills them."""
        if e - s < 20 or buf[s + 4 : s + 8] != STUN_MAGIC_COOKIE_BYTES:
            return False
        mtype, length = struct.unpack_from(">HH", buf, s)
        end = s + 20 + length
        if length % 4 or end != e:
            return False
        method = (mtype & 0x000F) | ((mtype >> 1) & 0x0070) | ((mtype >> 2) & 0x0F80)
        cls = ((mtype >> 4) & 1) | ((mtype >> 7) & 2)
        tid = bytes(buf[s + 8 : s + 20])
        attrs = []
        pos = s + 20
        while pos < end:
            if pos + 4 > end:
                return False
            atype, alen = struct.unpack_from(">HH", buf, pos)
            if pos + 4 + alen + (-alen % 4) > end:
                return False
            attrs.append((atype, pos + 4, alen))
            pos += 4 + alen + (-alen % 4)
        self.stats["stun_messages"] += 1
        fp_ok = False
        for atype, vs, alen in attrs:
            if atype == Attr.FINGERPRINT and alen == 4:
                fp_ok = self._fingerprint(buf, s, vs - 4) == struct.unpack_from(">I", buf, vs)[0]
                break
        peer = b""
        relaying = cls == 1 and method in (Method.SEND, Method.DATA)
        for atype, vs, alen in attrs:
            if atype in PLAIN_ADDRESS_ATTRS or atype in XOR_ADDRESS_ATTRS:
                if not self._address(buf, vs, alen, tid if atype in XOR_ADDRESS_ATTRS else None):
                    self._fill_attribute(buf, vs + min(alen, 4), vs + alen)  # malformed: no address read, none left
                if atype == 0x0012:
                    peer = bytes(buf[vs : vs + alen])
            elif atype == Attr.USERNAME:
                buf[vs : vs + alen] = self._username(bytes(buf[vs : vs + alen]),
                                                     method in (Method.BINDING, Method.GOOG_PING))
                self.stats["usernames"] += 1
            elif atype == Attr.REALM:
                buf[vs : vs + alen] = self.m.name(bytes(buf[vs : vs + alen]))
            elif atype == Attr.USERHASH:
                buf[vs : vs + alen] = self.m.filler(bytes(buf[vs : vs + alen]))
            elif atype in (Attr.MESSAGE_INTEGRITY, Attr.MESSAGE_INTEGRITY_SHA256):
                self.stats["integrity_not_verifiable"] += 1
            elif not (atype in KEPT_ATTRS or (atype == Attr.DATA and relaying)):
                self._fill_attribute(buf, vs, vs + alen)
        for atype, vs, alen in attrs:
            if atype == Attr.DATA and relaying:
                self.relayed(buf, vs, vs + alen, dg, marker + ("peer", peer))
        for atype, vs, alen in attrs:
            if atype == Attr.FINGERPRINT and alen == 4 and fp_ok:
                struct.pack_into(">I", buf, vs, self._fingerprint(buf, s, vs - 4))
                self.stats["fingerprints_recomputed"] += 1
                break
        return True

    def _fill_attribute(self, buf: bytearray, s: int, e: int) -> None:
        if s < e:
            buf[s:e] = self.m.filler(bytes(buf[s:e]))
            self.stats["attributes_filled"] += 1

    @staticmethod
    def _fingerprint(buf: bytearray, s: int, at: int) -> int:
        head = bytes(buf[s : s + 2]) + struct.pack(">H", at - s - 20 + 8) + bytes(buf[s + 4 : at])
        return zlib.crc32(head) ^ FINGERPRINT_XOR

    def _address(self, buf: bytearray, vs: int, alen: int, tid: bytes | None) -> bool:
        if alen not in (8, 20) or buf[vs + 1] not in (1, 2) or (alen == 8) != (buf[vs + 1] == 1):
            return False
        n = alen - 4
        raw = bytes(buf[vs + 4 : vs + 4 + n])
        if tid is None:
            buf[vs + 4 : vs + 4 + n] = self.m.ip(raw)
            return True
        pad = (STUN_MAGIC_COOKIE_BYTES + tid)[:n]
        plain = bytes(a ^ b for a, b in zip(raw, pad))
        buf[vs + 4 : vs + 4 + n] = bytes(a ^ b for a, b in zip(self.m.ip(plain), pad))
        return True

    def _username(self, value: bytes, ice: bool) -> bytes:
        if ice:
            return b":".join(self.m.name(part) for part in value.split(b":"))
        expiry, colon, user = value.partition(b":")
        if colon and expiry.isdigit():
            return expiry + colon + self.m.name(user)
        return self.m.name(value)

    # --- what TURN relays, DTLS -------------------------------------------------------------------------------------

    def relayed(self, buf: bytearray, s: int, e: int, dg: _Datagram, marker: tuple) -> None:
        """A datagram relayed inside TURN (ChannelData or a DATA attribute), classified by its first byte (RFC 7983):
        STUN, DTLS and RTCP rewritten, RTP and ZRTP kept; anything else, or STUN or RTCP that does not read, filled."""
        if s >= e:
            return
        first = buf[s]
        if first in STUN_FIRST_BYTES:
            if not self.stun(buf, s, e, dg, marker):
                self.fill(buf, s + _stun_head(buf, s, e), e, dg)
        elif first in DTLS_FIRST_BYTES:
            self.dtls(buf, s, e, dg, marker)
        elif first in RTP_FIRST_BYTES and e - s >= 2 and buf[s + 1] in RTCP_PACKET_TYPES:  # RTCP (RFC 5761 §4)
            self.fill(buf, max(self.rtcp(buf, s, e, dg.row in self.srtcp_rows), min(s + 8, e)), e, dg)
        elif not (first in ZRTP_FIRST_BYTES or first in RTP_FIRST_BYTES):
            self.fill(buf, s + 1, e, dg)  # the first byte stays, so the datagram is classified as before

    def channel_data(self, buf: bytearray, s: int, e: int, dg: _Datagram, marker: tuple) -> None:
        if e - s < 4:
            self.fill(buf, s, e, dg)
            return
        channel, length = struct.unpack_from(">HH", buf, s)
        inner = min(s + 4 + length, e)
        self.relayed(buf, s + 4, inner, dg, marker + ("channel", channel))
        if e - inner > 3:  # more than the optional padding to 4 bytes (RFC 8656 §12.5)
            self.fill(buf, inner, e, dg)

    # --- RTCP -------------------------------------------------------------------------------------------------------

    def rtcp(self, buf: bytearray, s: int, e: int, srtcp: bool) -> int:
        # Callers that fill what does not read keep the first 8 bytes (header and SSRC: no text, and what SRTCP
        # leaves in the clear), so that the datagram is still classified as RTCP.
        """Rewrite the texts of a plaintext RTCP compound at buf[s:e] (SDES items, BYE reasons; APP data filled),
        lengths kept.  Returns where the packets it could read end: the rest is for the caller to cut or fill.  SRTCP
        (`srtcp`: after a DTLS-SRTP handshake) whose packets do not chain to its end is ciphertext after the first 8
        bytes, and is vouched for whole (a compound that chains exactly is plain RTCP there too, as the pipeline
        reads it)."""
        if srtcp and not self._chains(buf, s, e):
            return e
        pos = s
        while pos + 4 <= e:
            b0, pt, words = struct.unpack_from(">BBH", buf, pos)
            n = (words + 1) * 4
            if b0 >> 6 != 2 or not 192 <= pt <= 223 or pos + n > e:
                break
            end = pos + n
            if b0 & 0x20:  # padding: the last byte counts it (RFC 3550 §6.4.1)
                count = buf[end - 1]
                if count == 0 or count > n - 4:
                    break
                end -= count
            if pt == PacketType.SDES and not self._sdes(buf, pos + 4, end, b0 & 0x1F):
                break
            if pt == PacketType.BYE and not self._bye(buf, pos + 4, end, b0 & 0x1F):
                break
            if pt == PacketType.APP:
                if end - pos < 12:
                    break
                self._fill_attribute(buf, pos + 12, end)  # application data: unknown contents
            pos += n
        return pos

    @staticmethod
    def _chains(buf: bytearray, s: int, e: int) -> bool:
        """Whether RTCP headers (version 2, packet type 192-223) and their lengths chain exactly to `e`."""
        pos = s
        while pos + 4 <= e:
            b0, pt, words = struct.unpack_from(">BBH", buf, pos)
            if b0 >> 6 != 2 or not 192 <= pt <= 223:
                return False
            pos += (words + 1) * 4
        return pos == e

    def _text(self, buf: bytearray, s: int, e: int) -> None:
        if s < e:
            buf[s:e] = self.m.name(bytes(buf[s:e]))
            self.stats["rtcp_items"] += 1

    def _sdes(self, buf: bytearray, s: int, e: int, chunks: int) -> bool:
        """The SDES chunks of buf[s:e] (RFC 3550 §6.5): each an SSRC, items, an END item and nulls to 32 bits."""
        pos = s
        for _ in range(chunks):
            start = pos
            pos += 4
            while True:
                if pos >= e:
                    return False
                item = buf[pos]
                if item == 0:
                    pos += 1
                    pos += -(pos - start) % 4
                    break
                if pos + 2 > e or pos + 2 + buf[pos + 1] > e:
                    return False
                ts, te = pos + 2, pos + 2 + buf[pos + 1]
                if item == SdesType.PRIV and ts < te:
                    self._text(buf, ts + 1, te)  # the prefix length byte stays, so the item still reads
                elif item not in SDES_KEPT:
                    self._text(buf, ts, te)
                pos = te
        return pos <= e

    def _bye(self, buf: bytearray, s: int, e: int, count: int) -> bool:
        pos = s + 4 * count
        if pos > e:
            return False
        if pos < e:  # a reason: length and text (RFC 3550 §6.6)
            if pos + 1 + buf[pos] > e:
                return False
            self._text(buf, pos + 1, pos + 1 + buf[pos])
        return True

    def dtls(self, buf: bytearray, s: int, e: int, dg: _Datagram, marker: tuple) -> None:
        """Note where Certificate fragments of DTLS handshake records lie (rewritten once whole, see certificates)."""
        pos = s
        while pos + 13 <= e:
            ctype = buf[pos]
            if ctype not in DTLS_FIRST_BYTES or ctype & 0xE0 == 0x20:  # not a DTLSPlaintext record (DTLS 1.3 unified)
                return
            epoch, rlen = struct.unpack_from(">H6xH", buf, pos + 3)
            body, bend = pos + 13, min(pos + 13 + rlen, e)
            if ctype == ContentType.HANDSHAKE and epoch == 0:
                h = body
                while h + 12 <= bend:
                    htype = buf[h]
                    mlen = int.from_bytes(buf[h + 1 : h + 4], "big")
                    mseq = int.from_bytes(buf[h + 4 : h + 6], "big")
                    foff = int.from_bytes(buf[h + 6 : h + 9], "big")
                    flen = int.from_bytes(buf[h + 9 : h + 12], "big")
                    fs, fe = h + 12, min(h + 12 + flen, bend)
                    if htype == HandshakeType.CERTIFICATE and foff + (fe - fs) <= mlen <= MAX_CERTIFICATE_MESSAGE:
                        self._cert_fragment(dg, marker + (mseq, mlen), buf, fs, fe, foff)
                    h += 12 + flen
            pos += 13 + rlen

    def _cert_fragment(self, dg, key, buf, fs, fe, foff) -> None:
        msg = self.certs.get(key)
        if msg is None:
            msg = self.certs[key] = _CertMessage(bytearray(key[-1]))
        msg.body[foff : foff + fe - fs] = buf[fs:fe]
        msg.have.append((foff, fe - fs))
        msg.places.append((dg, fs, foff, fe - fs, buf))

    def certificates(self) -> None:
        """Rewrite every whole Certificate message's names, and put the bytes back into its fragments; the
        fragments of a message never seen whole get filler."""
        for msg in self.certs.values():
            covered = 0
            for off, n in sorted(msg.have):
                if off > covered:
                    break
                covered = max(covered, off + n)
            whole = covered >= len(msg.body)
            if whole:
                try:
                    new = self._certificate_message(bytes(msg.body))
                    self.stats["certificates"] += 1
                except ValueError:
                    new = self.m.filler(bytes(msg.body))
            else:
                new = self.m.filler(bytes(msg.body))
            for _dg, pos, foff, n, buf in msg.places:
                buf[pos : pos + n] = new[foff : foff + n]

    def _certificate_message(self, body: bytes) -> bytes:
        out = bytearray(body)
        if len(body) < 3:
            raise ValueError("short")
        total = int.from_bytes(body[:3], "big")
        pos, end = 3, min(3 + total, len(body))
        while pos + 3 <= end:
            n = int.from_bytes(body[pos : pos + 3], "big")
            if pos + 3 + n > end:
                raise ValueError("overrun")
            self._der_names(out, pos + 3, pos + 3 + n)
            pos += 3 + n
        return bytes(out)

    def _der_names(self, out: bytearray, s: int, e: int) -> None:
        """Certificate → tbsCertificate → issuer (4th field after the optional version) and subject (6th)."""
        _tag, cs, _ce = _der(out, s, e)  # Certificate
        _tag, ts, te = _der(out, cs, e)  # tbsCertificate
        fields = []
        pos = ts
        while pos < te and len(fields) < 7:
            tag, vs, ve = _der(out, pos, te)
            fields.append((tag, vs, ve))
            pos = ve
        if fields and fields[0][0] == 0xA0:
            fields = fields[1:]
        for index in (2, 4):  # serial, signature, issuer, validity, subject
            if index < len(fields):
                self._der_strings(out, fields[index][1], fields[index][2])

    def _der_strings(self, out: bytearray, s: int, e: int) -> None:
        pos = s
        while pos < e:
            tag, vs, ve = _der(out, pos, e)
            if tag & 0x20:
                self._der_strings(out, vs, ve)
            elif tag in DER_STRINGS:
                out[vs:ve] = (bytes(b"\0x" * ((ve - vs) // 2)) if tag == 0x1E else self.m.name(bytes(out[vs:ve])))
            pos = ve


def _der(buf, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, value start, value end) of the DER element at `pos`; ValueError when it does not fit."""
    if pos + 2 > end:
        raise ValueError("DER header truncated")
    tag, first = buf[pos], buf[pos + 1]
    pos += 2
    if first & 0x80:
        n = first & 0x7F
        if n == 0 or n > 3 or pos + n > end:
            raise ValueError("DER length invalid")
        length = int.from_bytes(buf[pos : pos + n], "big")
        pos += n
    else:
        length = first
    if pos + length > end:
        raise ValueError("DER value overruns")
    return tag, pos, pos + length


def _stun_head(buf: bytearray, s: int, e: int) -> int:
    """How many bytes of a STUN-looking message to keep when the rest gets filler: the 20-byte header (type,
    length, cookie, transaction id: no address, no name) when it has the magic cookie, else the first byte, so
    that it is classified as before."""
    return 20 if e - s >= 20 and buf[s + 4 : s + 8] == STUN_MAGIC_COOKIE_BYTES else 1
