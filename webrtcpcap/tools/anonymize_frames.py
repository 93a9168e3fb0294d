"""How the anonymiser walks and writes a capture: frames to transport datagrams (link headers, ARP, IPv4/IPv6 and
their fragments, ICMP errors and the IP headers they quote; RFC 826, 791, 8200, 792, 4443), UDP datagrams and TCP
streams handed to the payload rewriter (`anonymize_rewrite`) or cut, checksums recomputed or adjusted (RFC 768,
9293, 1624), the bytes put back where they came from, and the copy written in the input's format.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..net import tcp
from ..net.demux import RTCP_PACKET_TYPES, RTP_FIRST_BYTES, STUN_FIRST_BYTES, TURN_CHANNEL_FIRST_BYTES
from ..net.layers import (ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_VLAN, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP,
    IPPROTO_UDP, IPV6_AH, IPV6_EXTENSION_HEADERS, IPV6_FRAGMENT, checksum_after_change, internet_checksum,
    pseudo_header)
from ..io.pcap_writer import PcapWriter
from .anonymize_rewrite import Mapper, _Anonymizer, _Datagram, _stun_head


ETHERTYPE_ARP = 0x0806  # RFC 826
ICMP4_ERRORS = (3, 4, 5, 11, 12)  # RFC 792: unreachable, source quench, redirect, time exceeded, parameter problem
ICMP6_ERRORS = (1, 2, 3, 4)  # RFC 4443 §3
_WEBRTC_KINDS = {"stun", "dtls", "rtp", "rtcp", "turn-channel", "zrtp"}
NOT_VERIFIABLE_NOTE = ("Anonymised by webrtcpcap: addresses, ICE ufrags, TURN usernames and certificate names "
                       "replaced; non-WebRTC payloads cut; STUN MESSAGE-INTEGRITY is not verifiable.")


# --- datagrams -----------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _TcpSegment:
    dgram: _Datagram
    seq: int
    syn: bool
    start: int  # payload start in dgram.data
    end: int  # captured payload end


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
        if s < e and stream[s] in STUN_FIRST_BYTES:
            if not anon.stun(stream, s, e, dg0, marker):
                anon.fill(stream, s + _stun_head(stream, s, e), e, dg0)
        elif s < e and stream[s] in TURN_CHANNEL_FIRST_BYTES:
            anon.channel_data(stream, s, e, dg0, marker)
        elif s < e and stream[s] in RTP_FIRST_BYTES and e - s >= 2 and stream[s + 1] in RTCP_PACKET_TYPES:
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
