"""Anonymised copies of captures, for sharing: IP and MAC addresses, ICE ufrags, TURN usernames and realms, and
certificate names replaced consistently; STUN/DTLS/RTP/RTCP structure, timing and lengths kept, so the analyses give
the same verdicts (RFC 8489 §14.2 XOR addresses and §14.7 FINGERPRINT, RFC 8656 TURN, RFC 6347 DTLS handshake
fragments, RFC 5280 names; checksums of RFC 791, RFC 8200, RFC 768, RFC 9293, RFC 792, RFC 4443; ARP RFC 826).

Strategy: every rewrite of a WebRTC payload keeps its length, so a datagram can be rewritten as a whole (IP
fragments reassembled first, TCP streams laid out by sequence number and framed as webrtcpcap.net.tcp frames them) and
its bytes put back where they came from.  The file is read once into memory (frames as bytearrays, about the size of
the file), rewritten, and written; `webrtcpcap.open` on the input says which frames are WebRTC (`packets.kind` and
`evidence`), so the anonymised file classifies the same.

Choices, stated once:
- Addresses: a keyed mapping (HMAC-SHA256 with a key from `seed`, or a random one) that is the same for the same
  input everywhere in the file, one-to-one, and never the identity on an address it replaces.  Kept as they are
  (they name no one): IPv4 0.0.0.0/8, 127/8, 224/4 and up, 255.255.255.255; IPv6 ::, ::1, ff00::/8.  Private
  classes stay recognisable: IPv4 10/8, 172.16/12, 192.168/16, 100.64/10, 169.254/16 keep their prefix and get
  new host bits; IPv6 fe80::/64 keeps its prefix, fc00::/7 its first byte; other IPv6 addresses go to 2001:db8::/32
  (documentation); other IPv4 addresses to another public address.  IPv4-mapped IPv6 uses the IPv4 mapping.
  Rewritten: IP headers, ARP, IP headers quoted in ICMP errors, every STUN address attribute (MAPPED-, XOR-MAPPED-,
  XOR-PEER-, XOR-RELAYED-ADDRESS, ALTERNATE-SERVER, RESPONSE-ORIGIN, OTHER-ADDRESS and the RFC 3489 ones), also
  inside TURN-relayed STUN and over TCP.  Not rewritten: IPv4 options and IPv6 routing headers (rare; say so).
  Ports stay.  Unicast MAC addresses (Ethernet, ARP, Linux cooked headers) are mapped too (locally administered).
- Names: ICE ufrags (each side of a Binding USERNAME "a:b"), TURN usernames (a TURN REST "expiry:user" keeps its
  expiry), REALM, the string values of certificate subject and issuer names, and the texts of plaintext RTCP
  (SDES CNAME "user@host", NAME, EMAIL, PHONE, LOC, TOOL, NOTE, PRIV after its prefix length, H323-CADDR; BYE
  reasons) get same-length letters and digits from the same keyed mapping (one namespace: a string is replaced the
  same way wherever it appears).  USERHASH, RTCP APP data and every STUN attribute not known to hold only numbers or
  kept texts (unknown and vendor attributes, malformed address attributes) get keyed filler.  NONCE, SOFTWARE,
  ERROR-CODE reasons, SDES stream identifiers (MID, RtpStreamId...), RTP and SRTP/SRTCP ciphertext stay.
- Fail closed: a payload of a WebRTC flow that cannot be read is never copied through.  A datagram of kind stun
  that is not an RFC 8489 message whose attributes chain to its end (classic RFC 3489 STUN, vendor dialects such as
  MS-TURN), or an RTCP compound from its first packet that does not read, is cut; inside TURN or a TCP stream
  (where lengths must stay) the unreadable bytes get keyed filler.  The summary's `unreadable_frames` names them.
- Integrity: FINGERPRINT is recomputed where it was right; MESSAGE-INTEGRITY(-SHA256) cannot be (it needs the
  password) and is left as it was, so it no longer verifies: the summary counts those messages, and a pcapng output
  says so in its section comment.  Certificates then no longer match their signatures or any a=fingerprint.
- Dropped (the frame keeps its original length, its captured bytes are cut, as a snaplen would): payloads of
  non-WebRTC UDP and TCP flows (signalling, SDP, DNS...), of datagrams of a WebRTC flow that are not STUN, DTLS,
  RTP, RTCP, ZRTP or ChannelData, of TCP streams or their parts that cannot be framed, of IP fragments of a
  datagram that never completed, of other IP protocols (after the IP header), of non-IP frames other than ARP (after
  the link header), of ICMP messages (after the quoted IP header and 8 bytes; informational ones after 8 bytes).
- Checksums: IPv4 header checksums are recomputed; UDP, TCP and ICMP checksums are recomputed where the whole
  datagram was captured (a UDP checksum of 0 over IPv4 stays 0), else adjusted for the new addresses (RFC 1624).
- Output: the input's format: classic pcap (same timestamp resolution, link type, snaplen) or pcapng (one section,
  one interface block per input interface with nanosecond timestamps, no interface names, no comments but the
  section's "anonymised" note, no other blocks).  Timestamps and original lengths of every frame are kept.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import struct
import sys
import zlib
from dataclasses import dataclass, field


from ..io import reader
from ..net import tcp
from ..capture import open as open_capture
from ..protocols.dtls import ContentType, HandshakeType
from ..io.errors import WebRTCPcapError
from ..net.layers import (ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_VLAN, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP,
    IPPROTO_UDP, IPV6_AH, IPV6_EXTENSION_HEADERS, IPV6_FRAGMENT, checksum_after_change, internet_checksum,
    pseudo_header)
from ..io.pcap_writer import PcapWriter
from ..protocols.rtcp import PacketType, SdesType
from ..protocols.stun import FINGERPRINT_XOR
from ..net.tcp import STUN_MAGIC_COOKIE  # as bytes, as the framing compares it


# STUN attributes rewritten (RFC 8489 §14, RFC 8656 §18, RFC 5780 §7, RFC 3489 §11.2)
PLAIN_ADDRESS_ATTRS = {0x0001, 0x0002, 0x0004, 0x0005, 0x000B, 0x8023, 0x802B, 0x802C}
XOR_ADDRESS_ATTRS = {0x0012, 0x0016, 0x0020, 0x8020}  # XOR-PEER, XOR-RELAYED, XOR-MAPPED (and its old code)
ATTR_USERNAME = 0x0006  # RFC 8489 §14.3
ATTR_MESSAGE_INTEGRITY = 0x0008  # RFC 8489 §14.5
ATTR_DATA = 0x0013  # RFC 8656 §18.4
ATTR_REALM = 0x0014  # RFC 8489 §14.9
ATTR_MESSAGE_INTEGRITY_SHA256 = 0x001C  # RFC 8489 §14.6
ATTR_USERHASH = 0x001E  # RFC 8489 §14.4
ATTR_FINGERPRINT = 0x8028  # RFC 8489 §14.7
METHOD_BINDING = 0x001  # RFC 8489 §18.2
METHOD_GOOG_PING = 0x080  # libwebrtc
METHOD_SEND = 0x006  # RFC 8656 §17
METHOD_DATA = 0x007  # RFC 8656 §17

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
SDES_KEPT = {10, 11, 12, 13, 14, 15}

MAX_CERTIFICATE_MESSAGE = 1 << 20  # a longer one is taken as garbage (its fragments get filler)

ETHERTYPE_ARP = 0x0806  # RFC 826
ICMP4_ERRORS = (3, 4, 5, 11, 12)  # RFC 792: unreachable, source quench, redirect, time exceeded, parameter problem
ICMP6_ERRORS = (1, 2, 3, 4)  # RFC 4443 §3

# X.520 string types whose values are replaced in certificate names (RFC 5280 §4.1.2.4)
DER_STRINGS = {0x0C, 0x13, 0x14, 0x16, 0x1C, 0x1E}  # UTF8, Printable, T61, IA5, Universal, BMP

_ALNUM = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_WEBRTC_KINDS = {"stun", "dtls", "rtp", "rtcp", "turn-channel", "zrtp"}
NOT_VERIFIABLE_NOTE = ("Anonymised by webrtcpcap: addresses, ICE ufrags, TURN usernames and certificate names "
                       "replaced; non-WebRTC payloads cut; STUN MESSAGE-INTEGRITY is not verifiable.")


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


@dataclass(slots=True)
class _TcpSegment:
    dgram: _Datagram
    seq: int
    syn: bool
    start: int  # payload start in dgram.data
    end: int  # captured payload end


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
        if e - s < 20 or buf[s + 4 : s + 8] != STUN_MAGIC_COOKIE:
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
            if atype == ATTR_FINGERPRINT and alen == 4:
                fp_ok = self._fingerprint(buf, s, vs - 4) == struct.unpack_from(">I", buf, vs)[0]
                break
        peer = b""
        relaying = cls == 1 and method in (METHOD_SEND, METHOD_DATA)
        for atype, vs, alen in attrs:
            if atype in PLAIN_ADDRESS_ATTRS or atype in XOR_ADDRESS_ATTRS:
                if not self._address(buf, vs, alen, tid if atype in XOR_ADDRESS_ATTRS else None):
                    self._fill_attribute(buf, vs + min(alen, 4), vs + alen)  # malformed: no address read, none left
                if atype == 0x0012:
                    peer = bytes(buf[vs : vs + alen])
            elif atype == ATTR_USERNAME:
                buf[vs : vs + alen] = self._username(bytes(buf[vs : vs + alen]),
                                                     method in (METHOD_BINDING, METHOD_GOOG_PING))
                self.stats["usernames"] += 1
            elif atype == ATTR_REALM:
                buf[vs : vs + alen] = self.m.name(bytes(buf[vs : vs + alen]))
            elif atype == ATTR_USERHASH:
                buf[vs : vs + alen] = self.m.filler(bytes(buf[vs : vs + alen]))
            elif atype in (ATTR_MESSAGE_INTEGRITY, ATTR_MESSAGE_INTEGRITY_SHA256):
                self.stats["integrity_not_verifiable"] += 1
            elif not (atype in KEPT_ATTRS or (atype == ATTR_DATA and relaying)):
                self._fill_attribute(buf, vs, vs + alen)
        for atype, vs, alen in attrs:
            if atype == ATTR_DATA and relaying:
                self.relayed(buf, vs, vs + alen, dg, marker + ("peer", peer))
        for atype, vs, alen in attrs:
            if atype == ATTR_FINGERPRINT and alen == 4 and fp_ok:
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
        pad = (STUN_MAGIC_COOKIE + tid)[:n]
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
        if first <= 3:
            if not self.stun(buf, s, e, dg, marker):
                self.fill(buf, s + _stun_head(buf, s, e), e, dg)
        elif 20 <= first <= 63:
            self.dtls(buf, s, e, dg, marker)
        elif 128 <= first <= 191 and e - s >= 2 and 192 <= buf[s + 1] <= 223:  # RTCP (RFC 5761 §4)
            self.fill(buf, max(self.rtcp(buf, s, e, dg.row in self.srtcp_rows), min(s + 8, e)), e, dg)
        elif not (16 <= first <= 19 or 128 <= first <= 191):  # not ZRTP, not RTP
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
            if not 20 <= ctype <= 63 or ctype & 0xE0 == 0x20:  # not a DTLSPlaintext record (DTLS 1.3 unified)
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


# --- frames --------------------------------------------------------------------------------------------------------


def _link(buf: bytearray, lt: int, m: Mapper) -> tuple[int, int]:
    """(offset of the network layer, ethertype-like protocol: 0x0800/0x86DD/0x0806, other or -1), MACs mapped."""
    n = len(buf)
    if lt == 1:  # Ethernet
        if n < 14:
            return -1, -1
        buf[0:6] = m.mac(buf[0:6])
        buf[6:12] = m.mac(buf[6:12])
        et, pos = struct.unpack_from(">H", buf, 12)[0], 14
        for _ in range(3):
            if et not in ETHERTYPE_VLAN or pos + 4 > n:
                break
            et, pos = struct.unpack_from(">H", buf, pos + 2)[0], pos + 4
        return pos, et
    if lt == 113:  # Linux cooked SLL
        if n < 16:
            return -1, -1
        if struct.unpack_from(">H", buf, 4)[0] == 6:
            buf[6:12] = m.mac(buf[6:12])
        return 16, struct.unpack_from(">H", buf, 14)[0]
    if lt == 276:  # SLL2
        if n < 20:
            return -1, -1
        if buf[11] == 6:
            buf[12:18] = m.mac(buf[12:18])
        return 20, struct.unpack_from(">H", buf, 0)[0]
    if lt in (101, 12, 14, 228, 229):  # raw IP
        if n < 1:
            return -1, -1
        ver = 4 if lt == 228 else 6 if lt == 229 else buf[0] >> 4
        return 0, {4: ETHERTYPE_IPV4, 6: ETHERTYPE_IPV6}.get(ver, 0)
    if lt in (0, 108):  # BSD null / OpenBSD loop
        if n < 4:
            return -1, -1
        le, be = struct.unpack_from("<I", buf)[0], struct.unpack_from(">I", buf)[0]
        fam = be if lt == 108 else (le if le < 256 else be)
        return 4, ETHERTYPE_IPV4 if fam == 2 else ETHERTYPE_IPV6 if fam in (10, 24, 28, 30) else 0
    return -1, -1


class _Frames:
    """Every frame of the file, rewritten at the network layer, and the transport datagrams they carry."""

    def __init__(self, frames: list[bytearray], linktypes: list[int], m: Mapper):
        self.frames = frames
        self.cut = [-1] * len(frames)  # captured bytes to keep (-1: all)
        self.m = m
        self.datagrams: list[_Datagram] = []
        self.partial: dict[tuple, list] = {}  # fragments of unfinished datagrams
        for row, (buf, lt) in enumerate(zip(frames, linktypes)):
            l3, et = _link(buf, lt, m)
            if l3 < 0:
                continue
            if et == ETHERTYPE_IPV4:
                self._ipv4(row, buf, l3)
            elif et == ETHERTYPE_IPV6:
                self._ipv6(row, buf, l3)
            elif et == ETHERTYPE_ARP:
                self._arp(buf, l3)
            else:
                self.cut_at(row, l3)
        for pieces in self.partial.values():  # never completed: what they carry cannot be rewritten
            for row, pos, _off, _n, _mf, _hdr in pieces:
                self.cut_at(row, pos)

    def cut_at(self, row: int, pos: int) -> None:
        if pos < len(self.frames[row]):
            self.cut[row] = pos if self.cut[row] < 0 else min(self.cut[row], pos)

    def _arp(self, buf: bytearray, a: int) -> None:
        if a + 8 > len(buf):
            return
        hlen, plen = buf[a + 4], buf[a + 5]
        pos = a + 8
        for _ in range(2):  # sender, target: hardware address then protocol address
            if pos + hlen + plen > len(buf):
                return
            if hlen == 6:
                buf[pos : pos + 6] = self.m.mac(buf[pos : pos + 6])
            if plen in (4, 16):
                buf[pos + hlen : pos + hlen + plen] = self.m.ip(bytes(buf[pos + hlen : pos + hlen + plen]))
            pos += hlen + plen

    def _ipv4(self, row: int, buf: bytearray, a: int, quoted: bool = False) -> None:
        if a + 20 > len(buf) or buf[a] >> 4 != 4:
            return
        ihl = (buf[a] & 0x0F) * 4
        if ihl < 20 or a + ihl > len(buf):
            return
        total, ident, frag, proto = struct.unpack_from(">H H H x B", buf, a + 2)
        old_src, old_dst = bytes(buf[a + 12 : a + 16]), bytes(buf[a + 16 : a + 20])
        buf[a + 12 : a + 16] = self.m.ip(old_src)
        buf[a + 16 : a + 20] = self.m.ip(old_dst)
        struct.pack_into(">H", buf, a + 10, 0)
        struct.pack_into(">H", buf, a + 10, internet_checksum(buf[a : a + ihl]))
        if quoted:
            return
        l4 = a + ihl
        end = min(a + max(total, ihl), len(buf))
        key = (4, old_src, old_dst, proto, ident)
        self._transport(row, buf, 4, proto, old_src, old_dst, l4, end, total - ihl,
                        (frag & 0x1FFF) * 8, bool(frag & 0x2000), key, a + total <= len(buf))

    def _ipv6(self, row: int, buf: bytearray, a: int, quoted: bool = False) -> None:
        if a + 40 > len(buf) or buf[a] >> 4 != 6:
            return
        plen, nh = struct.unpack_from(">HB", buf, a + 4)
        old_src, old_dst = bytes(buf[a + 8 : a + 24]), bytes(buf[a + 24 : a + 40])
        buf[a + 8 : a + 24] = self.m.ip(old_src)
        buf[a + 24 : a + 40] = self.m.ip(old_dst)
        if quoted:
            return
        end = min(a + 40 + plen, len(buf))
        pos = a + 40
        frag = None
        while nh in IPV6_EXTENSION_HEADERS or nh == IPV6_FRAGMENT:
            if pos + 8 > end:
                self.cut_at(row, pos)
                return
            if nh == IPV6_FRAGMENT:
                fo, ident = struct.unpack_from(">HI", buf, pos + 2)
                frag = (fo & 0xFFF8, bool(fo & 1), ident)
                nh, pos = buf[pos], pos + 8
                break
            size = (buf[pos + 1] + 2) * 4 if nh == IPV6_AH else (buf[pos + 1] + 1) * 8
            nh, pos = buf[pos], pos + size
        wire = a + 40 + plen - pos
        if frag is None:
            frag = (0, False, 0)
        key = (6, old_src, old_dst, nh, frag[2])
        self._transport(row, buf, 6, nh, old_src, old_dst, pos, end, wire, frag[0], frag[1], key,
                        a + 40 + plen <= len(buf))

    def _transport(self, row, buf, version, proto, old_src, old_dst, l4, end, wire, offset, more, key, whole):
        src, dst = self.m.ip(old_src), self.m.ip(old_dst)
        if proto not in (IPPROTO_UDP, IPPROTO_TCP, IPPROTO_ICMP, IPPROTO_ICMPV6):
            self.cut_at(row, l4)
            return
        if offset == 0 and not more:
            dg = _Datagram(row, version, proto, old_src, old_dst, src, dst, bytearray(buf[l4:end]), wire,
                           [(row, l4, 0, end - l4)], whole)
            self.datagrams.append(dg)
            return
        pieces = self.partial.setdefault(key, [])
        pieces.append((row, l4, offset, end - l4, more, whole))
        if any(not p[4] for p in pieces):
            total = max(p[2] + p[3] for p in pieces if not p[4])
            covered = 0
            for _row, _pos, off, n, _mf, _w in sorted(pieces, key=lambda p: p[2]):
                if off > covered:
                    break
                covered = max(covered, off + n)
            if covered >= total:
                del self.partial[key]
                data = bytearray(total)
                for prow, pos, off, n, _mf, _w in pieces:
                    data[off : off + n] = self.frames[prow][pos : pos + n]
                dg = _Datagram(row, version, proto, old_src, old_dst, src, dst, data, total,
                               [(p[0], p[1], p[2], p[3]) for p in pieces], all(p[5] for p in pieces))
                self.datagrams.append(dg)

    def put_back(self, dg: _Datagram) -> None:
        for row, pos, off, n in dg.pieces:
            frame = self.frames[row]
            frame[pos : pos + n] = dg.data[off : off + n]
            if 0 <= dg.keep < off + n:
                self.cut_at(row, pos + max(0, dg.keep - off))


# --- the whole file ------------------------------------------------------------------------------------------------


def _key(seed) -> bytes:
    if seed is None:
        return os.urandom(32)
    if isinstance(seed, int):
        seed = str(seed)
    if isinstance(seed, str):
        seed = seed.encode("utf-8")
    return hashlib.sha256(b"webrtcpcap anonymize\0" + bytes(seed)).digest()


def anonymize_file(src: str | os.PathLike, dst: str | os.PathLike, *, seed: bytes | str | int | None = None,
                   webrtc=(), not_webrtc=()) -> dict:
    """Write an anonymised copy of the capture `src` to `dst` (see the module docstring for what changes and what
    does not) and return a summary dict: frames, format (of the output, the input's), frames_cut (frames whose
    captured bytes were cut: non-WebRTC payloads), stun_messages, usernames (USERNAME attributes replaced),
    fingerprints_recomputed, integrity_not_verifiable (STUN messages whose MESSAGE-INTEGRITY no longer verifies),
    certificates (DTLS Certificate messages whose names were replaced), tcp_unframed_bytes (bytes of WebRTC TCP
    streams cut because they could not be framed), addresses (distinct IP addresses replaced), names (distinct
    strings replaced), seeded (whether `seed` was given: the same seed gives the same output), attributes_filled
    (STUN attributes given filler), rtcp_items (RTCP texts replaced), unreadable and unreadable_frames (WebRTC
    payloads, and the frame numbers holding them, that could not be read and were cut or filled: fail closed).  `webrtc` and
    `not_webrtc` are as for `webrtcpcap.open`.  The summary holds no original value."""
    cap = open_capture(src, progress=False, webrtc=webrtc, not_webrtc=not_webrtc)
    packets = cap.packets
    kinds = packets["kind"].astype(str).to_numpy()
    is_webrtc = packets["evidence"].notna().to_numpy()
    data, index, state, owner = reader.read_all(src)
    batch = reader.make_batch(data, index, 0, len(index), state, 1)
    frames = [bytearray(batch.source.bytes_at(int(o), int(c))) for o, c in zip(batch.offset, batch.caplen)]
    lt_table = [i.linktype for i in state.interfaces]
    linktypes = [lt_table[i] if i < len(lt_table) else -1 for i in batch.interface.tolist()]

    anon = _Anonymizer(_key(seed))
    rtcp = cap.rtcp
    anon.srtcp_rows = set((rtcp.loc[rtcp["dtls_srtp"].to_numpy(dtype=bool), "frame"].astype("int64") - 1).tolist())
    net = _Frames(frames, linktypes, anon.m)
    streams: dict[tuple, list[_TcpSegment]] = {}
    for dg in net.datagrams:
        if dg.proto == IPPROTO_UDP:
            _udp(anon, dg, kinds[dg.row], is_webrtc[dg.row])
        elif dg.proto == IPPROTO_TCP:
            _tcp_segment(dg, streams)
        else:
            _icmp(net, dg)
    write_backs = [_tcp_stream(anon, segments) for segments in streams.values()]
    anon.certificates()  # before the TCP streams go back into their segments: relayed DTLS may ride in them
    for write_back in write_backs:
        write_back()
    for dg in net.datagrams:
        _finish_checksum(dg)
        net.put_back(dg)

    out = [bytes(f if c < 0 else f[:c]) for f, c in zip(net.frames, net.cut)]
    _write(dst, state, out, batch.length.tolist(), batch.ts_ns.tolist(), batch.interface.tolist())
    del batch, data, owner
    summary = {"frames": len(out), "format": state.fmt, "frames_cut": sum(1 for c in net.cut if c >= 0)}
    summary.update(anon.stats)
    summary["unreadable_frames"] = sorted(r + 1 for r in anon.unreadable_rows)
    summary["addresses"] = sum(1 for k in anon.m._map if k[0] == "ip")
    summary["names"] = sum(1 for k in anon.m._map if k[0] == "name")
    summary["seeded"] = seed is not None
    return summary


def _udp(anon: _Anonymizer, dg: _Datagram, kind: str, webrtc: bool) -> None:
    data = dg.data
    if len(data) < 8:
        return
    ulen = struct.unpack_from(">H", data, 4)[0]
    end = min(max(ulen, 8), len(data))
    if not webrtc or kind not in _WEBRTC_KINDS:
        if end > 8:
            dg.keep = 8
            anon.stats["payloads_cut"] += 1
        return
    marker = (dg.old_src, dg.old_dst, bytes(data[0:4]))
    if kind == "stun":
        if not anon.stun(data, 8, end, dg, marker):
            _cut_unreadable(anon, dg, 8)
    elif kind == "dtls":
        anon.dtls(data, 8, end, dg, marker)
    elif kind == "turn-channel":
        anon.channel_data(data, 8, end, dg, marker)
    elif kind == "rtcp":
        readable = max(anon.rtcp(data, 8, end, dg.row in anon.srtcp_rows), min(16, end))  # header, SSRC stay
        if readable < end:
            _cut_unreadable(anon, dg, readable)


def _stun_head(buf: bytearray, s: int, e: int) -> int:
    """How many bytes of a STUN-looking message to keep when the rest gets filler: the 20-byte header (type,
    length, cookie, transaction id: no address, no name) when it has the magic cookie, else the first byte, so
    that it is classified as before."""
    return 20 if e - s >= 20 and buf[s + 4 : s + 8] == STUN_MAGIC_COOKIE else 1


def _cut_unreadable(anon: _Anonymizer, dg: _Datagram, keep: int) -> None:
    """Fail closed: a WebRTC payload that could not be read is cut from `keep` on (as a snaplen would)."""
    dg.keep = keep if dg.keep < 0 else min(dg.keep, keep)
    anon.stats["unreadable"] += 1
    anon.unreadable_rows.add(dg.row)


def _tcp_segment(dg: _Datagram, streams: dict) -> None:
    """Every TCP connection is offered to the framing, as webrtcpcap.net.tcp does (TCP flows have no evidence column):
    what cannot be framed is cut."""
    data = dg.data
    if len(data) < 20:
        return
    doff = (data[12] >> 4) * 4
    start = min(doff, len(data))
    end = min(dg.wire_len, len(data)) if dg.wire_len >= doff else start
    seq = struct.unpack_from(">I", data, 4)[0]
    streams.setdefault((dg.old_src, dg.old_dst, bytes(data[0:4])), []).append(
        _TcpSegment(dg, seq, bool(data[13] & 0x02), start, end))


def _tcp_stream(anon: _Anonymizer, segments: list[_TcpSegment]):
    """One direction of a WebRTC TCP connection: laid out by sequence number, framed as webrtcpcap.net.tcp frames it,
    each message rewritten.  Returns the function that puts the bytes back into the segments (what cannot be
    framed is cut)."""
    base = None
    for s in segments:
        if s.syn:
            base = (s.seq + 1) % tcp.SEQ_MOD
            break
    if base is None:
        first = next((s for s in segments if s.end > s.start), None)
        if first is None:
            return lambda: None
        base = first.seq
    size = 0
    placed = []
    for s in segments:
        if s.end <= s.start:
            continue
        rel = (s.seq + (1 if s.syn else 0) - base) % tcp.SEQ_MOD
        if rel >= 1 << 30:
            s.dgram.keep = s.start
            continue
        placed.append((rel, s))
        size = max(size, rel + s.end - s.start)
    stream = bytearray(size)
    have = []
    for rel, s in placed:
        stream[rel : rel + s.end - s.start] = s.dgram.data[s.start : s.end]
        have.append((rel, s.end - s.start))
    contiguous = 0
    for off, n in sorted(have):
        if off > contiguous:
            break
        contiguous = max(contiguous, off + n)
    mode = tcp.detect_framing(stream[: min(contiguous, 64)])
    framed = 0
    marker = (segments[0].dgram.old_src, segments[0].dgram.old_dst, "tcp")
    dg0 = segments[0].dgram
    while mode is not None and framed < contiguous:
        n = tcp.message_length(stream[framed:contiguous], mode)
        if n is None or n < 0 or framed + n > contiguous:
            break
        s = framed + (tcp.RFC4571_HEADER_LEN if mode == "rfc4571" else 0)
        e = framed + n
        if s < e and stream[s] <= 3:
            if not anon.stun(stream, s, e, dg0, marker):
                anon.fill(stream, s + _stun_head(stream, s, e), e, dg0)
        elif s < e and 0x40 <= stream[s] <= 0x4F:
            anon.channel_data(stream, s, e, dg0, marker)
        elif s < e and 128 <= stream[s] <= 191 and e - s >= 2 and 192 <= stream[s + 1] <= 223:
            anon.fill(stream, max(anon.rtcp(stream, s, e, dg0.row in anon.srtcp_rows), min(s + 8, e)), e, dg0)
        framed = e
    anon.stats["tcp_unframed_bytes"] += max(0, size - framed)

    def write_back():
        for rel, s in placed:
            n = s.end - s.start
            s.dgram.data[s.start : s.end] = stream[rel : rel + n]
            if rel + n > framed:
                keep = s.start + max(0, framed - rel)
                s.dgram.keep = keep if s.dgram.keep < 0 else min(s.dgram.keep, keep)
    return write_back


def _icmp(net: _Frames, dg: _Datagram) -> None:
    data = dg.data
    if len(data) < 8:
        return
    icmp_type = data[0]
    errors = ICMP4_ERRORS if dg.proto == IPPROTO_ICMP else ICMP6_ERRORS
    keep = 8
    if icmp_type in errors and len(data) > 8:
        if data[8] >> 4 == 4 and dg.proto == IPPROTO_ICMP:
            net._ipv4(-1, data, 8, quoted=True)
            keep = 8 + (data[8] & 0x0F) * 4 + 8
        elif data[8] >> 4 == 6:
            net._ipv6(-1, data, 8, quoted=True)
            keep = 8 + 40 + 8
    if len(data) > keep or dg.wire_len > keep:
        dg.keep = min(keep, len(data))


def _finish_checksum(dg: _Datagram) -> None:
    """UDP/TCP/ICMP checksum: recomputed over the whole datagram when it is all there and kept, else adjusted for the
    new addresses (RFC 1624)."""
    data = dg.data
    at = {IPPROTO_UDP: 6, IPPROTO_TCP: 16, IPPROTO_ICMP: 2, IPPROTO_ICMPV6: 2}[dg.proto]
    if len(data) < at + 2:
        return
    old = struct.unpack_from(">H", data, at)[0]
    if dg.proto == IPPROTO_UDP and dg.version == 4 and old == 0:
        return
    pseudo = dg.proto != IPPROTO_ICMP
    length = dg.wire_len
    if dg.proto == IPPROTO_UDP:
        length = struct.unpack_from(">H", data, 4)[0]
    complete = dg.whole and dg.keep < 0 and len(data) >= length and length >= at + 2
    if complete:
        struct.pack_into(">H", data, at, 0)
        parts = [data[:length]]
        if pseudo:
            parts.insert(0, pseudo_header(dg.src, dg.dst, dg.proto, length))
        value = internet_checksum(*parts)
        if dg.proto == IPPROTO_UDP and value == 0:
            value = 0xFFFF
        struct.pack_into(">H", data, at, value)
    elif pseudo and (dg.src != dg.old_src or dg.dst != dg.old_dst):
        value = checksum_after_change(old, dg.old_src + dg.old_dst, dg.src + dg.dst)
        struct.pack_into(">H", data, at, value)


# --- writing -------------------------------------------------------------------------------------------------------


def _write(path, state, frames: list[bytes], lengths: list[int], ts_ns: list[int], interfaces: list[int]) -> None:
    """The copy in the input's format: classic pcap with its time resolution, or pcapng with the note saying what
    was replaced as its section comment."""
    with open(path, "wb") as f:
        if state.fmt == "pcap":
            iface = state.interfaces[0]
            pcap = PcapWriter(f, "pcap", [(iface.linktype, iface.snaplen)], ns=iface.ts_divisor == 1_000_000_000)
        else:
            pcap = PcapWriter(f, "pcapng", [(i.linktype, i.snaplen) for i in state.interfaces],
                              comment=NOT_VERIFIABLE_NOTE)
        for frame, length, ts, i in zip(frames, lengths, ts_ns, interfaces):
            pcap.write(frame, ts, length, i)


def main(argv: list[str] | None = None) -> int:
    """`webrtcpcap anonymize IN OUT [--seed S]` on its own (the CLI wires the same arguments)."""

    parser = argparse.ArgumentParser(prog="webrtcpcap anonymize", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


def add_arguments(parser) -> None:
    parser.add_argument("input", help="a pcap or pcapng file (optionally gzip-compressed)")
    parser.add_argument("output", help="where to write the anonymised copy (same format as the input)")
    parser.add_argument("--seed", help="key of the mapping: the same seed gives the same output "
                        "(default: a random key, never stored)")


def run(args) -> int:
    if os.path.abspath(args.input) == os.path.abspath(args.output):
        print("webrtcpcap: error: output must not be the input", file=sys.stderr)
        return 2
    try:
        s = anonymize_file(args.input, args.output, seed=args.seed)
    except WebRTCPcapError as exc:
        print(f"webrtcpcap: error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.output}: {s['frames']} frames ({s['format']}); {s['addresses']} addresses and {s['names']} "
          f"names replaced; {s['frames_cut']} frames cut (non-WebRTC payloads); {s['fingerprints_recomputed']} "
          f"FINGERPRINTs recomputed; {s['integrity_not_verifiable']} STUN MESSAGE-INTEGRITY attributes no longer "
          f"verifiable; {s['certificates']} DTLS certificate messages rewritten")
    if s["unreadable_frames"]:
        frames = s["unreadable_frames"]
        shown = ", ".join(str(f) for f in frames[:20]) + (", ..." if len(frames) > 20 else "")
        print(f"{args.output}: {len(frames)} frames held WebRTC bytes that could not be read (STUN without the "
              f"RFC 8489 shape, vendor dialects, broken RTCP): cut or filled, not copied (frames {shown})")
    return 0
