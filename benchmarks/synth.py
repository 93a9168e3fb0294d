"""Synthetic WebRTC-like capture generator for benchmarks and tests.

Writes classic pcap (or pcapng) with Ethernet/IPv4/UDP frames: one ICE 5-tuple carrying STUN (RFC 8489/8445),
DTLS 1.2 (RFC 6347), RTP (RFC 3550, RFC 8285 one-byte extensions) and RTCP (RFC 3550, RFC 4585) multiplexed per
RFC 7983, plus background DNS, mDNS and NTP.

Strategy: one event loop over a heap of timed events and packets, bytes built with `struct` only (no scapy), so a
million packets take seconds. Every random choice comes from one `random.Random(seed)`, so a seed fixes the file
byte for byte. The ground truth is counted as packets are written, never recomputed.

What is and is not realistic:
- RTP/RTCP are plain by default (as if SRTP were already removed), so every RTCP sub-packet decodes; with
  `srtp=True` / `--srtp` they are shaped like SRTP/SRTCP (auth tags, SRTCP index, RTCP after 8 bytes random).
- STUN MESSAGE-INTEGRITY is a real HMAC-SHA1 with the ICE passwords in `ICE`, FINGERPRINT a real CRC-32.
- DTLS handshake messages have correct headers and lengths; certificates, keys and signatures are random bytes,
  epoch-1 records (Finished, application data) are random "ciphertext" of plausible length.
- Media flows one way (A sends Opus and VP8, B sends receiver reports and feedback); lost packets are never
  retransmitted (no RTX).

Usage: python benchmarks/synth.py OUT.pcap --packets N [--pcapng] [--seed S] [--srtp] [--truth OUT.json]
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import hmac
import json
import random
import struct
import sys
import time
import zlib
from typing import Callable

from webrtcpcap.io.pcap_writer import MAX_SNAPLEN, PcapWriter

# --- endpoints --------------------------------------------------------------------------------------------------

A_IP, A_PORT = "10.0.0.1", 50000  # offerer, DTLS client, ICE controlling, media sender
B_IP, B_PORT = "10.0.0.2", 50002  # answerer, DTLS server, ICE controlled, receiver
DNS_SERVER = "8.8.8.8"
NTP_SERVER = "162.159.200.1"
MDNS_GROUP = "224.0.0.251"  # RFC 6762 §3

MAC = {
    A_IP: bytes.fromhex("020000000001"),
    B_IP: bytes.fromhex("020000000002"),
    "gw": bytes.fromhex("0200000000fe"),
    MDNS_GROUP: bytes.fromhex("01005e0000fb"),  # RFC 1112 §6.4 multicast MAC
}

ICE = {"A": ("aUfr", "aPassword0123456789abcd"), "B": ("bUfr", "bPassword0123456789abcd")}  # ufrag, pwd

# --- wire constants ---------------------------------------------------------------------------------------------

STUN_MAGIC_COOKIE = 0x2112A442  # RFC 8489 §5
STUN_BINDING_REQUEST = 0x0001  # RFC 8489 §6
STUN_BINDING_SUCCESS = 0x0101  # RFC 8489 §6
STUN_FINGERPRINT_XOR = 0x5354554E  # RFC 8489 §14.7
ATTR_USERNAME = 0x0006  # RFC 8489 §14.3
ATTR_MESSAGE_INTEGRITY = 0x0008  # RFC 8489 §14.5
ATTR_XOR_MAPPED_ADDRESS = 0x0020  # RFC 8489 §14.2
ATTR_PRIORITY = 0x0024  # RFC 8445 §16.1
ATTR_USE_CANDIDATE = 0x0025  # RFC 8445 §16.1
ATTR_FINGERPRINT = 0x8028  # RFC 8489 §14.7
ATTR_ICE_CONTROLLED = 0x8029  # RFC 8445 §16.1
ATTR_ICE_CONTROLLING = 0x802A  # RFC 8445 §16.1

DTLS_CHANGE_CIPHER_SPEC = 20  # RFC 6347 §4.1 / RFC 5246 §6.2.1
DTLS_HANDSHAKE = 22
DTLS_APPLICATION_DATA = 23
DTLS_1_0 = 0xFEFF  # RFC 6347 §4.1, used in the first ClientHello record
DTLS_1_2 = 0xFEFD
HS_CLIENT_HELLO = 1  # RFC 5246 §7.4
HS_SERVER_HELLO = 2
HS_CERTIFICATE = 11
HS_SERVER_KEY_EXCHANGE = 12
HS_CERTIFICATE_REQUEST = 13
HS_SERVER_HELLO_DONE = 14
HS_CERTIFICATE_VERIFY = 15
HS_CLIENT_KEY_EXCHANGE = 16
HS_FINISHED = 20

PT_OPUS = 111  # dynamic payload types as browsers offer them
PT_VP8 = 96
RTCP_SR = 200  # RFC 3550 §6.4.1
RTCP_RR = 201  # RFC 3550 §6.4.2
RTCP_SDES = 202  # RFC 3550 §6.5
RTCP_RTPFB = 205  # RFC 4585 §6.1, FMT 1 = Generic NACK (§6.2.1)
RTCP_PSFB = 206  # RFC 4585 §6.1, FMT 1 = PLI (§6.3.1)
SDES_CNAME = 1
SRTP_AUTH_TAG_LEN = 10  # SRTP_AES128_CM_HMAC_SHA1_80 (RFC 5764 §4.1.2)
NTP_EPOCH_OFFSET = 2208988800  # seconds 1900-01-01 → 1970-01-01

LINKTYPE_ETHERNET = 1
ETHERTYPE_IPV4 = 0x0800
IPPROTO_UDP = 17

# --- timing (all integers in microseconds) ----------------------------------------------------------------------

T0_US = 1_700_000_000_000_000  # 2023-11-14T22:13:20Z
AUDIO_PTIME_US = 20_000
AUDIO_CLOCK = 48_000
VIDEO_CLOCK = 90_000
VIDEO_FPS = 30
LOSS = 0.01
RTT_US = 30_000

KINDS = ("stun", "dtls", "rtp", "rtcp", "dns", "mdns", "ntp")
OTHER_KINDS = ("dns", "mdns", "ntp")


def _ip(s: str) -> bytes:
    return bytes(int(x) for x in s.split("."))


# --- frame writer ----------------------------------------------------------------------------------------------


class _Framer:
    """Ethernet + IPv4 + UDP around a payload; IPv4 checksum from a per-address-pair partial sum."""

    def __init__(self) -> None:
        self._pairs: dict[tuple[str, str], tuple[bytes, bytes, bytes, int]] = {}
        self._ip_id: dict[str, int] = {}

    def frame(self, src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
        pair = self._pairs.get((src, dst))
        if pair is None:
            s, d = _ip(src), _ip(dst)
            eth = MAC.get(dst, MAC["gw"]) + MAC.get(src, MAC["gw"]) + struct.pack("!H", ETHERTYPE_IPV4)
            ttl = 255 if dst == MDNS_GROUP else 64
            base = 0x4500 + 0x4000 + ((ttl << 8) | IPPROTO_UDP)
            base += sum(struct.unpack("!4H", s + d))
            pair = (eth, s + d, bytes([ttl, IPPROTO_UDP]), base)
            self._pairs[(src, dst)] = pair
        eth, addrs, ttl_proto, base = pair
        ip_id = self._ip_id.get(src, 0x1000)
        self._ip_id[src] = (ip_id + 1) & 0xFFFF
        udp_len = 8 + len(payload)
        total = 20 + udp_len
        c = base + total + ip_id
        c = (c & 0xFFFF) + (c >> 16)
        c = (c & 0xFFFF) + (c >> 16)
        ip = struct.pack("!HHHH2sH", 0x4500, total, ip_id, 0x4000, ttl_proto, ~c & 0xFFFF) + addrs
        # UDP checksum 0 = not computed, allowed over IPv4 (RFC 768)
        return eth + ip + struct.pack("!HHHH", sport, dport, udp_len, 0) + payload


# --- STUN --------------------------------------------------------------------------------------------------------


def _stun_attr(attr_type: int, value: bytes) -> bytes:
    return struct.pack("!HH", attr_type, len(value)) + value + b"\0" * (-len(value) % 4)


def _stun(msg_type: int, txid: bytes, attrs: bytes, key: bytes) -> bytes:
    """Header + attributes + MESSAGE-INTEGRITY (HMAC-SHA1, RFC 8489 §14.5) + FINGERPRINT (§14.7)."""
    head = struct.pack("!HHI", msg_type, len(attrs) + 24, STUN_MAGIC_COOKIE) + txid
    mac = hmac.new(key, head + attrs, hashlib.sha1).digest()
    body = attrs + _stun_attr(ATTR_MESSAGE_INTEGRITY, mac)
    head = struct.pack("!HHI", msg_type, len(body) + 8, STUN_MAGIC_COOKIE) + txid
    crc = zlib.crc32(head + body) ^ STUN_FINGERPRINT_XOR
    return head + body + _stun_attr(ATTR_FINGERPRINT, struct.pack("!I", crc))


def _xor_mapped_address(ip: str, port: int) -> bytes:
    xport = port ^ (STUN_MAGIC_COOKIE >> 16)
    xaddr = struct.unpack("!I", _ip(ip))[0] ^ STUN_MAGIC_COOKIE
    return _stun_attr(ATTR_XOR_MAPPED_ADDRESS, struct.pack("!BBHI", 0, 1, xport, xaddr))


# --- DTLS --------------------------------------------------------------------------------------------------------


def _u24(n: int) -> bytes:
    return n.to_bytes(3, "big")


def _vec(length_bytes: int, data: bytes) -> bytes:
    return len(data).to_bytes(length_bytes, "big") + data


def _hs(msg_type: int, message_seq: int, body: bytes) -> bytes:
    """Unfragmented DTLS handshake message (RFC 6347 §4.2.2)."""
    n = len(body)
    return bytes([msg_type]) + _u24(n) + struct.pack("!H", message_seq) + _u24(0) + _u24(n) + body


def _record(content_type: int, version: int, epoch: int, seq: int, fragment: bytes) -> bytes:
    return struct.pack("!BHH", content_type, version, epoch) + seq.to_bytes(6, "big") + _vec(2, fragment)


def _ext(ext_type: int, data: bytes) -> bytes:
    return struct.pack("!H", ext_type) + _vec(2, data)


# --- RTCP --------------------------------------------------------------------------------------------------------


def _rtcp(count: int, pt: int, body: bytes) -> bytes:
    return struct.pack("!BBH", 0x80 | count, pt, len(body) // 4) + body


def _sdes_cname(ssrc: int, cname: bytes) -> bytes:
    chunk = struct.pack("!IBB", ssrc, SDES_CNAME, len(cname)) + cname + b"\0"
    chunk += b"\0" * (-len(chunk) % 4)
    return _rtcp(1, RTCP_SDES, chunk)


def _ntp(t_us: int) -> tuple[int, int]:
    sec, us = divmod(t_us, 1_000_000)
    return sec + NTP_EPOCH_OFFSET, (us << 32) // 1_000_000


def _nack_fci(lost: list[int]) -> bytes:
    """Generic NACK FCI (RFC 4585 §6.2.1): (PID, BLP) pairs covering the lost sequence numbers."""
    out = b""
    i = 0
    while i < len(lost):
        pid, blp = lost[i], 0
        i += 1
        while i < len(lost) and 0 < ((lost[i] - pid) & 0xFFFF) <= 16:
            blp |= 1 << (((lost[i] - pid) & 0xFFFF) - 1)
            i += 1
        out += struct.pack("!HH", pid, blp)
    return out


# --- the generator ----------------------------------------------------------------------------------------------


class _Synth:
    def __init__(self, seed: int, srtp: bool = False) -> None:
        self.srtp = srtp
        self.srtcp_index: dict[int, int] = {}
        self.rng = rng = random.Random(seed)
        self.pool = rng.randbytes(1 << 16)  # payload bytes are slices of this
        self.heap: list[tuple] = []
        self.counter = 0
        r32 = lambda: rng.getrandbits(32)  # noqa: E731
        self.ssrc_audio, self.ssrc_video, self.ssrc_recv = r32(), r32(), r32()
        while len({self.ssrc_audio, self.ssrc_video, self.ssrc_recv}) < 3:
            self.ssrc_recv = r32()
        self.seq = {self.ssrc_audio: rng.getrandbits(16), self.ssrc_video: rng.getrandbits(16)}
        self.ts0 = {self.ssrc_audio: r32(), self.ssrc_video: r32()}
        self.first_seq = dict(self.seq)
        self.sent = {self.ssrc_audio: [0, 0], self.ssrc_video: [0, 0]}  # packets, payload octets (incl. lost)
        self.lost = {self.ssrc_audio: 0, self.ssrc_video: 0}
        self.last_sr: dict[int, tuple[int, int]] = {}  # ssrc -> (middle 32 bits of NTP, t_us)
        self.tcc = rng.getrandbits(16)
        self.picture_id = rng.getrandbits(15)
        self.keyframe_pending = True
        self.lost_video: list[int] = []
        self.frame_no = 0
        self.cname_a = b"a" + rng.randbytes(8).hex().encode()
        self.cname_b = b"b" + rng.randbytes(8).hex().encode()
        self.dtls_seq = {A_IP: 0, B_IP: 0}  # record sequence numbers for epoch 1
        self.media_start = self.video_start = 0

    # heap entries: (t_us, counter, packet_or_None, handler_or_None)
    def push(self, t: int, kind: str, src: str, dst: str, sport: int, dport: int, payload: bytes, meta=None) -> None:
        self.counter += 1
        heapq.heappush(self.heap, (t, self.counter, (kind, src, dst, sport, dport, payload, meta), None))

    def at(self, t: int, handler: Callable[[int], None]) -> None:
        self.counter += 1
        heapq.heappush(self.heap, (t, self.counter, None, handler))

    def a_to_b(self, t: int, kind: str, payload: bytes, meta=None) -> None:
        self.push(t, kind, A_IP, B_IP, A_PORT, B_PORT, payload, meta)

    def b_to_a(self, t: int, kind: str, payload: bytes, meta=None) -> None:
        self.push(t, kind, B_IP, A_IP, B_PORT, A_PORT, payload, meta)

    def payload(self, n: int) -> bytes:
        off = int(self.rng.random() * (len(self.pool) - n))
        return self.pool[off : off + n]

    def us(self, lo: int, hi: int) -> int:
        return lo + int(self.rng.random() * (hi - lo))

    # --- ICE ---
    def stun_check(self, t: int, controlling: bool, nominate: bool = False) -> None:
        """A Binding request from one side and its success response RTT later."""
        rng = self.rng
        if controlling:
            src, (sport, dst, dport) = "A", (A_PORT, B_IP, B_PORT)
            local, remote, send, reply = ICE["A"], ICE["B"], self.a_to_b, self.b_to_a
            role = _stun_attr(ATTR_ICE_CONTROLLING, rng.randbytes(8))
        else:
            src, (sport, dst, dport) = "B", (B_PORT, A_IP, A_PORT)
            local, remote, send, reply = ICE["B"], ICE["A"], self.b_to_a, self.a_to_b
            role = _stun_attr(ATTR_ICE_CONTROLLED, rng.randbytes(8))
        txid = rng.randbytes(12)
        key = remote[1].encode()
        attrs = (
            _stun_attr(ATTR_USERNAME, f"{remote[0]}:{local[0]}".encode())
            + role
            + _stun_attr(ATTR_PRIORITY, struct.pack("!I", 1853824767))
            + (_stun_attr(ATTR_USE_CANDIDATE, b"") if nominate else b"")
        )
        send(t, "stun", _stun(STUN_BINDING_REQUEST, txid, attrs, key), STUN_BINDING_REQUEST)
        src_ip, src_port = (A_IP, A_PORT) if src == "A" else (B_IP, B_PORT)
        resp = _stun(STUN_BINDING_SUCCESS, txid, _xor_mapped_address(src_ip, src_port), key)
        reply(t + self.us(RTT_US // 2, RTT_US), "stun", resp, STUN_BINDING_SUCCESS)

    def consent(self, t: int, controlling: bool) -> None:
        self.stun_check(t, controlling)
        self.at(t + self.us(4_000_000, 6_000_000), lambda t2: self.consent(t2, controlling))  # RFC 7675 §5.1

    # --- DTLS ---
    def dtls_handshake(self, t: int) -> int:
        rng = self.rng
        rand = rng.randbytes
        srtp = _ext(0x000E, _vec(2, struct.pack("!HH", 0x0001, 0x0007)) + b"\0")  # use_srtp (RFC 5764 §4.1.1)
        groups = _ext(0x000A, _vec(2, struct.pack("!HH", 0x001D, 0x0017)))  # supported_groups
        points = _ext(0x000B, _vec(1, b"\0"))  # ec_point_formats
        sigalgs = _ext(0x000D, _vec(2, struct.pack("!HHH", 0x0403, 0x0804, 0x0401)))
        ems = _ext(0x0017, b"")  # extended_master_secret (RFC 7627)
        reneg = _ext(0xFF01, b"\0")  # renegotiation_info (RFC 5746)
        suites = struct.pack("!6H", 0xC02B, 0xC02F, 0xCCA9, 0xCCA8, 0xC009, 0xC013)
        client_hello = (
            struct.pack("!H", DTLS_1_2)
            + rand(32)
            + _vec(1, b"")  # session_id
            + _vec(1, b"")  # cookie
            + _vec(2, suites)
            + _vec(1, b"\0")  # compression: null
            + _vec(2, ems + reneg + groups + points + sigalgs + srtp)
        )
        server_hello = (
            struct.pack("!H", DTLS_1_2)
            + rand(32)
            + _vec(1, rand(32))
            + struct.pack("!HB", 0xC02B, 0)
            + _vec(2, ems + reneg + points + _ext(0x000E, struct.pack("!HH", 2, 0x0001) + b"\0"))
        )
        cert_a, cert_b = rand(self.us(380, 420)), rand(self.us(380, 420))
        certificate = lambda c: _vec(3, _vec(3, c))  # noqa: E731
        ecdh = _vec(1, b"\x04" + rand(64))
        server_key_exchange = b"\x03\x00\x17" + ecdh + struct.pack("!H", 0x0403) + _vec(2, rand(71))
        cert_request = _vec(1, b"\x01\x40") + _vec(2, struct.pack("!HH", 0x0403, 0x0401)) + _vec(2, b"")
        cert_verify = struct.pack("!H", 0x0403) + _vec(2, rand(71))

        def finished() -> bytes:  # explicit nonce + encrypted Finished (16 B) + GCM tag
            return rand(8 + 16 + 16)

        # flight 1: ClientHello in a DTLS 1.0 record (RFC 6347 §4.1)
        self.a_to_b(t, "dtls", _record(DTLS_HANDSHAKE, DTLS_1_0, 0, 0, _hs(HS_CLIENT_HELLO, 0, client_hello)), 1)
        t += self.us(RTT_US // 2, RTT_US)
        # flight 4, in two datagrams as BoringSSL does for a ~1 kB flight
        d1 = _record(DTLS_HANDSHAKE, DTLS_1_2, 0, 0, _hs(HS_SERVER_HELLO, 0, server_hello)) + _record(
            DTLS_HANDSHAKE, DTLS_1_2, 0, 1, _hs(HS_CERTIFICATE, 1, certificate(cert_b))
        )
        d2 = (
            _record(DTLS_HANDSHAKE, DTLS_1_2, 0, 2, _hs(HS_SERVER_KEY_EXCHANGE, 2, server_key_exchange))
            + _record(DTLS_HANDSHAKE, DTLS_1_2, 0, 3, _hs(HS_CERTIFICATE_REQUEST, 3, cert_request))
            + _record(DTLS_HANDSHAKE, DTLS_1_2, 0, 4, _hs(HS_SERVER_HELLO_DONE, 4, b""))
        )
        self.b_to_a(t, "dtls", d1, 2)
        self.b_to_a(t + 200, "dtls", d2, 3)
        t += self.us(RTT_US // 2, RTT_US)
        # flight 5
        d3 = (
            _record(DTLS_HANDSHAKE, DTLS_1_2, 0, 1, _hs(HS_CERTIFICATE, 1, certificate(cert_a)))
            + _record(DTLS_HANDSHAKE, DTLS_1_2, 0, 2, _hs(HS_CLIENT_KEY_EXCHANGE, 2, ecdh))
            + _record(DTLS_HANDSHAKE, DTLS_1_2, 0, 3, _hs(HS_CERTIFICATE_VERIFY, 3, cert_verify))
            + _record(DTLS_CHANGE_CIPHER_SPEC, DTLS_1_2, 0, 4, b"\x01")
            + _record(DTLS_HANDSHAKE, DTLS_1_2, 1, 0, finished())
        )
        self.a_to_b(t, "dtls", d3, 5)
        t += self.us(RTT_US // 2, RTT_US)
        # flight 6
        d4 = _record(DTLS_CHANGE_CIPHER_SPEC, DTLS_1_2, 0, 5, b"\x01")
        d4 += _record(DTLS_HANDSHAKE, DTLS_1_2, 1, 0, finished())
        self.b_to_a(t, "dtls", d4, 2)
        self.dtls_seq = {A_IP: 1, B_IP: 1}
        # SCTP association over DTLS (INIT, INIT-ACK, COOKIE-ECHO, COOKIE-ACK, DCEP OPEN/ACK), encrypted
        for i, size in enumerate((100, 420, 330, 36, 80, 48)):
            t += self.us(RTT_US // 2, RTT_US) if i % 2 else 1000
            self.app_data(t, A_IP if i % 2 == 0 else B_IP, size)
        return t

    def app_data(self, t: int, src: str, size: int) -> None:
        seq = self.dtls_seq[src]
        self.dtls_seq[src] = seq + 1
        rec = _record(DTLS_APPLICATION_DATA, DTLS_1_2, 1, seq, self.payload(size + 24))
        (self.a_to_b if src == A_IP else self.b_to_a)(t, "dtls", rec, 1)

    def sctp_heartbeat(self, t: int) -> None:
        self.app_data(t, A_IP, 60)
        self.app_data(t + self.us(RTT_US // 2, RTT_US), B_IP, 60)
        self.at(t + self.us(25_000_000, 35_000_000), self.sctp_heartbeat)

    # --- RTP ---
    def rtp(self, t: int, ssrc: int, pt: int, marker: bool, rtp_ts: int, ext: bytes, body: bytes) -> None:
        seq = self.seq[ssrc]
        self.seq[ssrc] = (seq + 1) & 0xFFFF
        self.tcc = (self.tcc + 1) & 0xFFFF
        s = self.sent[ssrc]  # what the sender's SR counts, lost on the way or not
        s[0] += 1
        s[1] += len(body)  # payload octets, before any SRTP tag
        if self.rng.random() < LOSS:
            self.lost[ssrc] += 1
            if ssrc == self.ssrc_video:
                self.lost_video.append(seq)
            return
        header = struct.pack("!BBHII", 0x90, (0x80 if marker else 0) | pt, seq, rtp_ts & 0xFFFFFFFF, ssrc)
        if self.srtp:  # payload bytes are random anyway; SRTP adds the auth tag (RFC 3711 §3.1)
            body += self.payload(SRTP_AUTH_TAG_LEN)
        self.a_to_b(t, "rtp", header + ext + body, (ssrc, pt, self.lost[ssrc]))

    def audio(self, t: int) -> None:
        n = (t - self.media_start) // AUDIO_PTIME_US
        rtp_ts = self.ts0[self.ssrc_audio] + n * (AUDIO_CLOCK * AUDIO_PTIME_US // 1_000_000)
        # one-byte extensions (RFC 8285 §4.2): ssrc-audio-level id 1, transport-wide-cc id 5; 5 B + pad = 2 words
        ext = b"\xbe\xde\x00\x02" + bytes([0x10, 0x80 | int(self.rng.random() * 60)]) + b"\x51"
        ext += struct.pack("!H", (self.tcc + 1) & 0xFFFF) + b"\0\0\0"
        self.rtp(t + int(self.rng.random() * 2000), self.ssrc_audio, PT_OPUS, False, rtp_ts, ext,
                 self.payload(80 + int(self.rng.random() * 40)))
        self.at(t + AUDIO_PTIME_US, self.audio)

    def video(self, t: int) -> None:
        rng = self.rng
        keyframe = self.keyframe_pending
        self.keyframe_pending = False
        n_packets = 5 if keyframe else 1 + int(rng.random() * 5)
        rtp_ts = self.ts0[self.ssrc_video] + self.frame_no * (VIDEO_CLOCK // VIDEO_FPS)
        self.picture_id = (self.picture_id + 1) & 0x7FFF
        pid = struct.pack("!H", 0x8000 | self.picture_id)
        self.lost_video = []
        t_pkt = t + int(rng.random() * 3000)
        abs_send = ((t_pkt * 262144) // 1_000_000) & 0xFFFFFF  # 6.18 fixed point seconds
        for i in range(n_packets):
            last = i == n_packets - 1
            size = 200 + int(rng.random() * 1000) if last else 1100 + int(rng.random() * 100)
            # VP8 payload descriptor (RFC 7741 §4.2): X=1, S on first packet, I=1 with 15-bit PictureID
            desc = (b"\x90\x80" if i == 0 else b"\x80\x80") + pid
            if i == 0:  # VP8 payload header (RFC 7741 §4.3); keyframes carry the start code and 640x480
                desc += (b"\x50\x42\x00\x9d\x01\x2a\x80\x02\xe0\x01" if keyframe else b"\x51\x42\x00")
            # abs-send-time id 3 (3 B), transport-wide-cc id 5 (2 B): 7 B + pad = 2 words
            ext = b"\xbe\xde\x00\x02\x32" + abs_send.to_bytes(3, "big") + b"\x51"
            ext += struct.pack("!H", (self.tcc + 1) & 0xFFFF) + b"\0"
            self.rtp(t_pkt, self.ssrc_video, PT_VP8, last, rtp_ts, ext, desc + self.payload(size))
            t_pkt += 300 + int(rng.random() * 700)  # pacer
        if self.lost_video:  # receiver asks for the holes about one frame later (RFC 4585 §3.5)
            fci = _nack_fci(self.lost_video)
            nack = _rtcp(1, RTCP_RTPFB, struct.pack("!II", self.ssrc_recv, self.ssrc_video) + fci)
            self.rtcp_out(t_pkt + self.us(10_000, 25_000), B_IP, nack, ("NACK", len(fci) // 4, len(self.lost_video)))
        self.frame_no += 1
        self.at(self.video_start + self.frame_no * 1_000_000 // VIDEO_FPS, self.video)

    def pli(self, t: int) -> None:
        pkt = _rtcp(1, RTCP_PSFB, struct.pack("!II", self.ssrc_recv, self.ssrc_video))
        self.rtcp_out(t, B_IP, pkt, ("PLI",))
        self.at(t + RTT_US // 2, self._request_keyframe)
        self.at(t + self.us(10_000_000, 40_000_000), self.pli)

    def _request_keyframe(self, t: int) -> None:
        self.keyframe_pending = True

    # --- RTCP ---
    def rtcp_out(self, t: int, src: str, compound: bytes, meta: tuple) -> None:
        """Send a compound as is, or as SRTCP (RFC 3711 §3.4): the first 8 bytes in clear, the rest "encrypted"
        (random bytes of the same length), then E=1 and the 31-bit SRTCP index, then an 80-bit auth tag."""
        if self.srtp:
            ssrc = struct.unpack_from("!I", compound, 4)[0]
            index = self.srtcp_index.get(ssrc, 0)
            self.srtcp_index[ssrc] = index + 1
            compound = (compound[:8] + self.payload(len(compound) - 8) + struct.pack("!I", 0x80000000 | index)
                        + self.payload(SRTP_AUTH_TAG_LEN))
        (self.a_to_b if src == A_IP else self.b_to_a)(t, "rtcp", compound, meta)

    def sender_report(self, t: int, ssrc: int) -> None:
        ntp_sec, ntp_frac = _ntp(t)
        clock = AUDIO_CLOCK if ssrc == self.ssrc_audio else VIDEO_CLOCK
        rtp_ts = (self.ts0[ssrc] + (t - self.media_start) * clock // 1_000_000) & 0xFFFFFFFF
        packets, octets = self.sent[ssrc]
        sr = _rtcp(0, RTCP_SR, struct.pack("!IIIIII", ssrc, ntp_sec, ntp_frac, rtp_ts, packets, octets))
        self.rtcp_out(t, A_IP, sr + _sdes_cname(ssrc, self.cname_a), ("SR", "SDES"))
        self.last_sr[ssrc] = (((ntp_sec & 0xFFFF) << 16) | (ntp_frac >> 16), t)
        self.at(t + self.us(500_000, 1_500_000), lambda t2: self.sender_report(t2, ssrc))  # RFC 3550 §6.3.1

    def receiver_report(self, t: int) -> None:
        blocks = b""
        for ssrc in (self.ssrc_audio, self.ssrc_video):
            cum_lost = self.lost[ssrc]
            expected = self.sent[ssrc][0]
            highest = (self.first_seq[ssrc] + expected - 1) & 0xFFFF if expected else self.first_seq[ssrc]
            lsr, t_sr = self.last_sr.get(ssrc, (0, t))
            dlsr = (t - t_sr) * 65536 // 1_000_000 if lsr else 0
            fraction = int(self.rng.random() * 6)  # ~1 % in 1/256
            blocks += struct.pack("!IIIIII", ssrc, (fraction << 24) | cum_lost, highest, int(self.rng.random() * 300),
                                  lsr, dlsr)
        rr = _rtcp(2, RTCP_RR, struct.pack("!I", self.ssrc_recv) + blocks)
        self.rtcp_out(t, B_IP, rr + _sdes_cname(self.ssrc_recv, self.cname_b), ("RR", "SDES"))
        self.at(t + self.us(500_000, 1_500_000), self.receiver_report)

    # --- noise ---
    def dns(self, t: int) -> None:
        rng = self.rng
        name = rng.choice((b"stun.l.google.com", b"global.turn.example.net", b"www.example.org", b"time.cloudflare.com",
                           b"telemetry.example.com"))
        qname = b"".join(bytes([len(p)]) + p for p in name.split(b".")) + b"\0"
        qid = rng.getrandbits(16)
        sport = 32768 + rng.getrandbits(14)
        query = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", 1, 1)
        answer = struct.pack("!HHHIH", 0xC00C, 1, 1, 300, 4) + rng.randbytes(4)
        response = struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0) + qname + struct.pack("!HH", 1, 1) + answer
        self.push(t, "dns", A_IP, DNS_SERVER, sport, 53, query)
        self.push(t + self.us(5_000, 40_000), "dns", DNS_SERVER, A_IP, 53, sport, response)
        self.at(t + self.us(1_000_000, 20_000_000), self.dns)

    def mdns(self, t: int) -> None:
        """A query for an obfuscated host candidate (draft-ietf-mmusic-mdns-ice-candidates) and its answer."""
        rng = self.rng
        label = rng.randbytes(16).hex().encode()
        qname = bytes([len(label)]) + label + b"\x05local\0"
        query = struct.pack("!HHHHHH", 0, 0, 1, 0, 0, 0) + qname + struct.pack("!HH", 1, 1)
        answer = qname + struct.pack("!HHIH", 1, 0x8001, 120, 4) + _ip(A_IP)
        response = struct.pack("!HHHHHH", 0, 0x8400, 0, 1, 0, 0) + answer
        self.push(t, "mdns", B_IP, MDNS_GROUP, 5353, 5353, query)
        self.push(t + self.us(1_000, 10_000), "mdns", A_IP, MDNS_GROUP, 5353, 5353, response)
        self.at(t + self.us(5_000_000, 15_000_000), self.mdns)

    def ntp(self, t: int) -> None:
        sec, frac = _ntp(t)
        query = struct.pack("!BBbb", 0x23, 0, 6, 0x20) + b"\0" * 36 + struct.pack("!II", sec, frac)  # v4, client
        sec2, frac2 = _ntp(t + 12_000)
        # server mode 4, stratum 3; root delay/dispersion/refid, then reference, origin, receive timestamps
        reply = struct.pack("!BBbb", 0x24, 3, 6, -24) + self.payload(12)
        reply += struct.pack("!IIIIII", sec - 30, 0, sec, frac, sec2, frac2)
        sport = 32768 + self.rng.getrandbits(14)
        self.push(t, "ntp", A_IP, NTP_SERVER, sport, 123, query)
        self.push(t + 24_000, "ntp", NTP_SERVER, A_IP, 123, sport, reply + struct.pack("!II", sec2, frac2 + 50))
        self.at(t + 64_000_000, self.ntp)

    # --- schedule ---
    def start(self) -> None:
        t = T0_US
        self.at(t, self.dns)
        self.at(t + 40_000, self.mdns)
        self.at(t + 300_000, self.ntp)
        t += 100_000
        self.stun_check(t, controlling=True)
        self.stun_check(t + 500, controlling=False)
        self.stun_check(t + 50_000, controlling=True, nominate=True)
        t = self.dtls_handshake(t + 100_000)
        self.at(t + 5_000_000, lambda t2: self.consent(t2, True))
        self.at(t + 5_300_000, lambda t2: self.consent(t2, False))
        self.at(t + 30_000_000, self.sctp_heartbeat)
        self.media_start = t = t + 5_000
        self.at(t, self.audio)
        self.video_start = t + 1_000
        self.at(self.video_start, self.video)
        self.at(t + 400_000, lambda t2: self.sender_report(t2, self.ssrc_audio))
        self.at(t + 450_000, lambda t2: self.sender_report(t2, self.ssrc_video))
        self.at(t + 800_000, self.receiver_report)
        self.at(t + self.us(3_000_000, 10_000_000), self.pli)


def write_capture(path: str, packets: int, pcapng: bool = False, seed: int = 0, srtp: bool = False) -> dict:
    """Write `packets` frames to `path` and return the ground truth.

    Returned keys: `packets` (frames written), `kinds` ({kind: frames} for every name in KINDS), `other`
    (frames that are not STUN/DTLS/RTP/RTCP), `rtp` ({(ssrc, pt): RTP packets}), `rtp_lost` ({(ssrc, pt): sequence
    numbers skipped}), `rtcp_packets` (RTCP datagrams), `rtcp_subpackets` (total) and `rtcp_subpackets_by_type`
    ({"SR"|"RR"|"SDES"|"NACK"|"PLI": n}), `nack_items` (FCI entries), `nack_seqs` (sequence numbers NACKed),
    `stun` ({"binding_request"|"binding_success": n}), `dtls_records`, `ssrcs` ({"audio"|"video"|"receiver": ssrc}),
    `ice` (ufrag/pwd per side), `first_time` / `last_time` (epoch seconds), `format`, `seed`, `srtp`.
    `rtcp_first_by_type` counts the first sub-packet of each datagram: all that SRTCP shows without keys.

    `srtp=True` makes media look like real WebRTC: RTP gets an 80-bit auth tag, RTCP becomes SRTCP (only the first
    8 bytes in clear). The counts stay the true ones; the sub-packets after the first are then ciphertext.
    """
    s = _Synth(seed, srtp)
    s.start()
    framer = _Framer()
    kinds = dict.fromkeys(KINDS, 0)
    rtp: dict[tuple[int, int], int] = {}
    lost_at: dict[tuple[int, int], list[int]] = {}  # skips generated before the first and the last packet written
    rtcp_types: dict[str, int] = dict.fromkeys(("SR", "RR", "SDES", "NACK", "PLI"), 0)
    rtcp_first = dict.fromkeys(("SR", "RR", "NACK", "PLI"), 0)
    stun = {"binding_request": 0, "binding_success": 0}
    nack_items = nack_seqs = dtls_records = 0
    first = last = None
    written = 0
    heap, pop = s.heap, heapq.heappop
    chunk: list[bytes] = []
    with open(path, "wb") as f:
        pcap = PcapWriter(f, "pcapng" if pcapng else "pcap", [(LINKTYPE_ETHERNET, MAX_SNAPLEN)])

        def record(t_us: int, frame: bytes) -> bytes:
            return pcap.record(frame, t_us * 1000)

        while written < packets and heap:
            t, _, pkt, handler = pop(heap)
            if handler is not None:
                handler(t)
                continue
            kind, src, dst, sport, dport, payload, meta = pkt
            chunk.append(record(t, framer.frame(src, dst, sport, dport, payload)))
            written += 1
            kinds[kind] += 1
            if kind == "rtp":
                key = meta[:2]
                if key in rtp:
                    rtp[key] += 1
                    lost_at[key][1] = meta[2]
                else:
                    rtp[key] = 1
                    lost_at[key] = [meta[2], meta[2]]
            elif kind == "rtcp":
                rtcp_first[meta[0]] += 1
                if meta[0] == "NACK":
                    rtcp_types["NACK"] += 1
                    nack_items += meta[1]
                    nack_seqs += meta[2]
                else:
                    for name in meta:
                        rtcp_types[name] += 1
            elif kind == "stun":
                stun["binding_request" if meta == STUN_BINDING_REQUEST else "binding_success"] += 1
            elif kind == "dtls":
                dtls_records += meta
            if first is None:
                first = t
            last = t
            if len(chunk) >= 4096:
                f.write(b"".join(chunk))
                chunk.clear()
        f.write(b"".join(chunk))
    # loss as the receiver sees it: sequence numbers skipped between the first and last packet written
    return {
        "packets": written,
        "kinds": kinds,
        "other": sum(kinds[k] for k in OTHER_KINDS),
        "rtp": dict(sorted(rtp.items())),
        "rtp_lost": {key: lost_at[key][1] - lost_at[key][0] for key in sorted(lost_at)},
        "rtcp_packets": kinds["rtcp"],
        "rtcp_subpackets": sum(rtcp_types.values()),
        "rtcp_subpackets_by_type": rtcp_types,
        "rtcp_first_by_type": rtcp_first,
        "nack_items": nack_items,
        "nack_seqs": nack_seqs,
        "stun": stun,
        "dtls_records": dtls_records,
        "ssrcs": {"audio": s.ssrc_audio, "video": s.ssrc_video, "receiver": s.ssrc_recv},
        "ice": {side: {"ufrag": u, "pwd": p} for side, (u, p) in ICE.items()},
        "first_time": first / 1e6 if first is not None else None,
        "last_time": last / 1e6 if last is not None else None,
        "format": "pcapng" if pcapng else "pcap",
        "seed": seed,
        "srtp": srtp,
    }


def truth_to_json(truth: dict) -> dict:
    """The ground truth with tuple keys as "ssrc/pt" strings, for json.dump."""
    out = dict(truth)
    for key in ("rtp", "rtp_lost"):
        out[key] = {f"{ssrc}/{pt}": n for (ssrc, pt), n in truth[key].items()}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", help="output file (.pcap or .pcapng)")
    p.add_argument("--packets", type=int, default=100_000, help="frames to write (default 100000)")
    p.add_argument("--pcapng", action="store_true", help="write pcapng instead of classic pcap")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--srtp", action="store_true", help="SRTP/SRTCP-shaped media (auth tags, SRTCP trailer)")
    p.add_argument("--truth", help="also write the ground truth as JSON to this file")
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    truth = write_capture(a.out, a.packets, pcapng=a.pcapng, seed=a.seed, srtp=a.srtp)
    dt = time.perf_counter() - t0
    js = json.dumps(truth_to_json(truth), indent=1)
    if a.truth:
        with open(a.truth, "w") as f:
            f.write(js + "\n")
    print(js)
    print(f"wrote {truth['packets']} packets to {a.out} in {dt:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
