"""A high-volume in-process driver over the decoders: random and mutated real payloads (extracted from the seed
captures and SDP files) into every decoder, scalar and vectorised; each decoder input is counted.

A decoder passes an input when it returns or raises DecodeError (webrtcpcap.io.errors); anything else is a failure
(with where it was raised).  Differential checks: rtp.parse against the vectorised rtp.decode_headers (the same
fields wherever parse accepts the packet), rtcp.split_compound against rtcp.walk_compound (the same sub-packets
where split_compound accepts the datagram).
"""

from __future__ import annotations

import glob
import os
import random
import struct
import traceback
from collections import Counter

import numpy as np

from webrtcpcap.io import buffer
from webrtcpcap.protocols import codecs, dtls, keys, quic, rtcp, rtp, rtp_extensions, srtp, stun
from webrtcpcap import sdp
from webrtcpcap.net import tcp
from webrtcpcap.io.errors import DecodeError, WebRTCPcapError

from . import capfile
from .checks import CpuBudgetExceeded, Failure, _tail, _where

BYTE_LIES = (0x00, 0x01, 0x02, 0x03, 0x0F, 0x10, 0x14, 0x16, 0x17, 0x1F, 0x3F, 0x40, 0x7F, 0x80, 0x81, 0x90, 0xBE,
             0xC8, 0xC9, 0xCA, 0xCD, 0xCE, 0xDE, 0xFE, 0xFF)


# --- payloads from the seeds ------------------------------------------------------------------------------------

def _ip_payload(frame: bytes, linktype: int) -> bytes | None:
    """The UDP payload of a frame (IPv4/IPv6 over Ethernet, Linux cooked v1/v2, raw IP or BSD loopback)."""
    if linktype == 1:
        off, eth = 12, None
        while off + 2 <= len(frame):
            eth = struct.unpack_from(">H", frame, off)[0]
            if eth in (0x8100, 0x88A8):
                off += 4
                continue
            break
        off += 2
    elif linktype == 113:
        off, eth = 16, struct.unpack_from(">H", frame, 14)[0] if len(frame) >= 16 else None
    elif linktype == 276:
        off, eth = 20, struct.unpack_from(">H", frame, 0)[0] if len(frame) >= 20 else None
    elif linktype in (101, 12, 14, 228, 229):
        off, eth = 0, None
    elif linktype == 0:
        off, eth = 4, None
    else:
        return None
    ip = frame[off:]
    if not ip:
        return None
    version = ip[0] >> 4
    if version == 4 and len(ip) >= 20 and ip[9] == 17:
        ihl = (ip[0] & 0x0F) * 4
        if struct.unpack_from(">H", ip, 6)[0] & 0x3FFF:  # a fragment
            return None
        udp = ip[ihl:]
    elif version == 6 and len(ip) >= 40 and ip[6] == 17:
        udp = ip[40:]
    else:
        return None
    return udp[8:] if len(udp) >= 8 else None


def _frames(cap) -> list[tuple[bytes, int]]:
    if isinstance(cap, capfile.Pcap):
        linktype = struct.unpack_from(cap.endian + "I", cap.header, 20)[0] & 0xFFFF
        return [(r[16:], linktype) for r in cap.records]
    out, links = [], []
    for b, e in zip(cap.blocks, cap.endians):
        t = capfile.block_type(b, e)
        if t == capfile.SHB:
            links = []
        elif t == capfile.IDB:
            links.append(struct.unpack_from(e + "H", b, 8)[0])
        elif t == capfile.EPB and len(b) >= 32:
            iface, caplen = struct.unpack_from(e + "I", b, 8)[0], struct.unpack_from(e + "I", b, 20)[0]
            if iface < len(links):
                out.append((b[28 : 28 + caplen], links[iface]))
    return out


def classify(p: bytes) -> str | None:
    """RFC 7983's first-byte demultiplexing, with RTP and RTCP told apart by the payload type (RFC 5761)."""
    if not p:
        return None
    b = p[0]
    if b < 4:
        return "stun"
    if 20 <= b <= 63:
        return "dtls"
    if 64 <= b <= 79:
        return "channel"
    if 128 <= b <= 191 and len(p) >= 2:
        return "rtcp" if 192 <= p[1] <= 223 else "rtp"
    if b >= 192 and len(p) >= 7:  # a long header: form and fixed bits set (RFC 9000 §17.2)
        return "quic"
    return None


def extract_payloads(per_kind: int = 3000, seed: int = 0) -> dict[str, list[bytes]]:
    """Real payloads of each kind from the seed captures (at most `per_kind` each, spread over the captures)."""
    rng = random.Random(seed)
    found: dict[str, list[bytes]] = {k: [] for k in ("stun", "dtls", "channel", "rtp", "rtcp", "quic")}
    quic_seeds = sorted(glob.glob(os.path.join(capfile.REPO, "captures", "quic", "*.pcap")))
    for _name, cap in capfile.load_seeds() + capfile.load_seeds(quic_seeds):
        for frame, link in _frames(cap):
            p = _ip_payload(frame, link)
            kind = classify(p) if p else None
            if kind:
                found[kind].append(p)
                if kind == "channel" and len(p) > 4:  # what TURN relays is classified again
                    inner = classify(p[4:])
                    if inner:
                        found[inner].append(p[4:])
    for kind, items in found.items():
        items = list(dict.fromkeys(items))  # the same packet twice teaches nothing
        rng.shuffle(items)
        found[kind] = items[:per_kind]
    found["sdp"] = [open(p, "rb").read() for p in sorted(glob.glob(os.path.join(capfile.REPO, "captures", "*.sdp")))]
    found["rtp_payload"] = [p[rtp.parse(p).payload_offset:] for p in found["rtp"] if _parses(p)]
    found["quic_frames"] = _quic_plaintexts(found["quic"])
    return found


def _quic_plaintexts(datagrams: list[bytes]) -> list[bytes]:
    """The frames of the client Initials (opened with the keys of their own connection id): the CRYPTO, ACK and
    PADDING frames the frame parser and the TLS hello parsers read once the protection is off."""
    out = []
    for d in datagrams:
        packets, _problem = quic.parse_datagram(d)
        for packet in packets:
            if packet.packet_type != "initial":
                continue
            try:
                keys = quic.initial_keys(packet.header.destination_connection_id, packet.header.version, True)
                out.append(quic.open_initial(packet, keys).payload)
            except DecodeError:
                continue
    return out


def _parses(p: bytes) -> bool:
    try:
        rtp.parse(p)
        return True
    except DecodeError:
        return False


# --- mutation of one payload -----------------------------------------------------------------------------------

def mutate(rng: random.Random, p: bytes, pool: list[bytes]) -> bytes:
    choice = rng.randrange(10)
    b = bytearray(p)
    if choice <= 2 and b:  # bit flips, mostly near the start
        for _ in range(rng.choice((1, 1, 2, 3, 8))):
            i = rng.randrange(min(len(b), 64)) if rng.random() < 0.7 else rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        return bytes(b)
    if choice == 3 and b:
        for _ in range(rng.choice((1, 2, 4))):
            b[rng.randrange(len(b))] = rng.choice(BYTE_LIES)
        return bytes(b)
    if choice == 4 and len(b) >= 2:  # a 16-bit length field lies
        at = rng.randrange(0, min(len(b) - 1, 48))
        struct.pack_into(">H", b, at, rng.choice((0, 1, 2, 3, 4, 0xFF, 0x100, 0x7FFF, 0xFFFF, len(b), len(b) // 4 + 1)))
        return bytes(b)
    if choice == 5:
        return bytes(b[: rng.randrange(len(b) + 1)])
    if choice == 6:
        return bytes(b) + bytes(rng.getrandbits(8) for _ in range(rng.choice((1, 3, 4, 16))))
    if choice == 7 and pool:  # splice two packets
        q = rng.choice(pool)
        return bytes(b[: rng.randrange(len(b) + 1)]) + q[rng.randrange(len(q) + 1) :]
    if choice == 8 and b:  # random bytes behind the real first bytes
        keep = rng.choice((1, 2, 4, 8, 12, 20))
        return bytes(b[:keep]) + bytes(rng.getrandbits(8) for _ in range(rng.randrange(64)))
    return bytes(b)


# --- the targets ------------------------------------------------------------------------------------------------

def _t_stun(p: bytes) -> int:
    n = 1
    try:
        msg = stun.parse(p)
        stun.peer_address(msg)
    except DecodeError:
        pass
    for fn in (stun.parse_header, stun.fingerprint_ok, stun.is_turn_relaying):
        n += 1
        try:
            fn(p)
        except DecodeError:
            pass
    n += 1
    try:
        stun.integrity_ok(p, b"0123456789abcdef")
    except DecodeError:
        pass
    return n


def _t_channel(p: bytes) -> int:
    try:
        stun.channel_data(p, len(p))
    except DecodeError:
        pass
    return 1


def _t_dtls(p: bytes) -> int:
    n = 1
    try:
        records = dtls.parse_records(p)
    except DecodeError:
        return n
    for r in records:
        if not isinstance(r, dtls.Record) or r.encrypted:
            continue
        ct = r.header.content_type
        n += 1
        try:
            if ct == 22:
                for frag in dtls.parse_handshake_fragments(r.fragment):
                    n += 1
                    if frag.fragment_offset == 0 and len(frag.body) == frag.length:
                        n += 1
                        msg = dtls.parse_message(frag.msg_type, frag.body)
                        for ext in getattr(msg, "extensions", ()) or ():
                            n += 1
                            for fn in (dtls.use_srtp, dtls.supported_groups, dtls.signature_algorithms,
                                       dtls.renegotiation_info):
                                try:
                                    fn(ext)
                                except DecodeError:
                                    pass
            elif ct == 21:
                dtls.parse_alert(r.fragment)
            elif ct == 20:
                dtls.parse_change_cipher_spec(r.fragment)
        except DecodeError:
            pass
    return n


def _t_rtp(p: bytes) -> int:
    n = 2
    try:
        rtp.parse(p)
    except DecodeError:
        pass
    try:
        rtp_extensions.parse_packet_extensions(p)
    except DecodeError:
        pass
    return n


def _t_rtcp(p: bytes) -> int:
    n = 3
    try:
        rtcp.split_compound(p)
    except DecodeError:
        pass
    try:
        rtcp.parse_compound(p)
    except DecodeError:
        pass
    packets, _problem = rtcp.parse_compound_partial(p)
    for pkt in packets:
        if isinstance(pkt, rtcp.Feedback):
            n += 1
            try:
                rtcp.parse_feedback(pkt)
            except DecodeError:
                pass
    return n


def _t_codecs(p: bytes) -> int:
    for fn in (codecs.vp8_descriptor_length, codecs.vp8_picture_id, codecs.vp8_keyframe, codecs.vp9_descriptor_length,
               codecs.vp9_keyframe, codecs.h264_nal_types, codecs.h264_keyframe):
        try:
            fn(p)
        except DecodeError:
            pass
    return 7


def _t_tcp(p: bytes) -> int:
    tcp.detect_framing(p)
    for mode in ("rfc4571", "turn"):
        tcp.message_length(p, mode)
    return 3


def _t_sdp(p: bytes) -> int:
    n = 1
    try:
        record = sdp.parse(p)
        for fn in (sdp.clock_rates, sdp.ice_passwords, sdp.codecs, sdp.rtx_map, rtp_extensions.sdp_extmaps,
                   keys.sdes_keys):
            n += 1
            try:
                fn(record if fn is not keys.sdes_keys else p.decode("utf-8", "replace"))
            except DecodeError:
                pass
    except DecodeError:
        pass
    for line in p.split(b"\n"):
        if line.startswith(b"a=candidate:"):
            n += 1
            try:
                sdp.parse_candidate(line[2:].decode("utf-8", "replace").strip())
            except DecodeError:
                pass
            break
    return n


def _t_quic(p: bytes) -> int:
    """A datagram through a flow reader (both as the client's first and as a server's answer), as the tables read
    it: header, protection, frames, CRYPTO reassembly, the TLS hello."""
    reader = quic.FlowReader()
    reader.datagram(p, "client")
    reader.datagram(p, "server")
    return 2


def _t_quic_frames(p: bytes) -> int:
    """Opened Initial payloads: the frame parser, then CRYPTO data as TLS handshake messages."""
    n = 1
    try:
        frames = quic.parse_frames(p)
    except DecodeError:
        return n
    stream = quic.CryptoStream()
    for f in frames:
        if isinstance(f, quic.CryptoFrame):
            stream = stream.add(f)
    messages, _rest = quic.handshake_messages(stream.data)
    for msg_type, body in messages:
        n += 1
        try:
            quic.tls_message(msg_type, body)
        except DecodeError:
            pass
    return n


SCALAR = {"stun": _t_stun, "channel": _t_channel, "dtls": _t_dtls, "rtp": _t_rtp, "rtcp": _t_rtcp,
          "rtp_payload": _t_codecs, "sdp": _t_sdp, "quic": _t_quic, "quic_frames": _t_quic_frames}


def _byte_source(packets: list[bytes]):
    blob = b"".join(packets) + b"\0" * 256
    data = np.frombuffer(blob, dtype=np.uint8)
    starts = np.cumsum([0] + [len(p) for p in packets[:-1]]).astype(np.int64)
    lens = np.array([len(p) for p in packets], dtype=np.int64)
    return buffer.ByteSource(data, starts), np.arange(len(packets), dtype=np.int64) << buffer.ROW_SHIFT, lens


class Driver:
    """`batch(n)` runs about n decoder inputs and returns {"inputs", "per_decoder", "failures": {sig: (Failure,
    input bytes)}}."""

    def __init__(self, seed: int = 0, payloads: dict[str, list[bytes]] | None = None):
        self.differential: dict = {}
        self.rng = random.Random(seed)
        self.payloads = payloads if payloads is not None else extract_payloads(seed=seed)
        self.pool = [p for k in ("stun", "dtls", "rtp", "rtcp", "channel") for p in self.payloads.get(k, [])]
        self.kinds = [k for k in SCALAR if self.payloads.get(k)]
        key = bytes(range(16))
        self.decryptor = srtp.Decryptor(key, bytes(range(14)), srtp.Profile.SRTP_AES128_CM_HMAC_SHA1_80)

    def _input(self, kind: str) -> bytes:
        rng = self.rng
        items = self.payloads[kind]
        if rng.random() < 0.05:  # pure random bytes
            return bytes(rng.getrandbits(8) for _ in range(rng.randrange(48)))
        p = rng.choice(items)
        for _ in range(rng.choice((0, 1, 1, 1, 2, 3))):
            p = mutate(rng, p, self.pool if kind != "sdp" else items)
        return p

    def batch(self, n: int) -> dict:
        per: Counter = Counter()
        failures: dict = {}
        self.differential = failures
        done = 0

        def guard(name: str, fn, data: bytes):
            try:
                return fn()
            except (DecodeError, WebRTCPcapError):
                return None
            except CpuBudgetExceeded:
                raise
            except Exception as e:  # noqa: BLE001 - that is what we look for
                f = Failure("exception", name, _where(e.__traceback__), f"{type(e).__name__}: {e}"[:300], _tail(e))
                failures.setdefault(f.signature, (f, data))
                return None

        while done < n:
            kind = self.rng.choice(self.kinds)
            group = [self._input(kind) for _ in range(64)]
            for p in group:
                k = guard(f"{kind}", lambda p=p: SCALAR[kind](p), p)
                k = k or 1
                per[kind] += k
                done += k
                if kind in ("stun", "rtp", "rtcp", "channel"):
                    per["tcp"] += guard("tcp", lambda p=p: _t_tcp(p), p) or 3
                    done += 3
            if kind in ("rtp", "rtcp", "stun", "dtls"):
                done += self._vectorised(kind, group, per, guard)
            if kind in ("rtp", "rtcp"):
                done += self._srtp(kind, group, per, guard)
        return {"inputs": done, "per_decoder": dict(per), "failures": failures}

    def _vectorised(self, kind: str, group: list[bytes], per: Counter, guard) -> int:
        blob = b"".join(group)
        src, off, lens = _byte_source(group)
        if kind == "rtp":
            heads = guard("rtp.decode_headers", lambda: rtp.decode_headers(src, off, lens, lens), blob)
            guard("rtp_extensions.decode_extensions",
                  lambda: rtp_extensions.decode_extensions(src, off, lens, lens, text_ids=(1, 3)), blob)
            if heads is not None:
                self._rtp_differential(group, heads, guard)
            per["rtp.decode_headers"] += len(group)
            per["rtp_extensions.decode_extensions"] += len(group)
            return 2 * len(group)
        if kind == "rtcp":
            got = guard("rtcp.walk_compound", lambda: rtcp.walk_compound(src, off, lens, lens), blob)
            if got is not None:
                self._rtcp_differential(group, got, guard)
            per["rtcp.walk_compound"] += len(group)
            return len(group)
        if kind == "stun":
            guard("stun.looks_like_stun", lambda: stun.looks_like_stun(src, off, lens, lens), blob)
            per["stun.looks_like_stun"] += len(group)
            return len(group)
        guard("dtls.looks_like_handshake", lambda: dtls.looks_like_handshake(src, off, lens, lens), blob)
        per["dtls.looks_like_handshake"] += len(group)
        return len(group)

    def _rtp_differential(self, group, heads, guard) -> None:
        for i, p in enumerate(group):
            try:
                h = rtp.parse(p)
            except Exception:  # noqa: BLE001 - DecodeError, or a failure the scalar target reports already
                continue
            got = (int(heads["error"][i]), int(heads["seq"][i]), int(heads["ts"][i]), int(heads["ssrc"][i]),
                   int(heads["pt"][i]), bool(heads["marker"][i]), int(heads["payload_offset"][i]))
            want = (rtp.RTP_OK, h.sequence_number, h.timestamp, h.ssrc, h.payload_type, h.marker, h.payload_offset)
            if got != want:
                f = Failure("differential", "rtp differential", "webrtcpcap/protocols/rtp.py:decode_headers vs parse",
                            f"rtp.decode_headers (error, seq, ts, ssrc, pt, marker, payload_offset) {got} != "
                            f"rtp.parse {want}")
                self.differential.setdefault(f.signature, (f, p))
                return

    def _rtcp_differential(self, group, got, guard) -> None:
        rows, status = got
        for i, p in enumerate(group):
            try:
                headers = rtcp.split_compound(p)
            except Exception:  # noqa: BLE001 - DecodeError, or a failure the scalar target reports already
                continue
            want = [int(h.packet_type) for h in headers]
            if not all(192 <= t <= 223 for t in want):  # split_compound does not judge the packet types
                continue
            have = [int(x) for x in rows["pt"][rows["datagram"] == i]]
            if want != have:
                f = Failure("differential", "rtcp differential", "webrtcpcap/protocols/rtcp.py:walk_compound vs split_compound",
                            f"rtcp.walk_compound packet types {have} (status {int(status[i])}) != split_compound {want}")
                self.differential.setdefault(f.signature, (f, p))
                return

    def _srtp(self, kind: str, group: list[bytes], per: Counter, guard) -> int:
        fn = self.decryptor.rtp if kind == "rtp" else self.decryptor.rtcp
        guard(f"srtp.{kind}", lambda: fn(group), b"".join(group))
        per[f"srtp.{kind}"] += len(group)
        return len(group)
