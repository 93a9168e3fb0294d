"""Decrypted captures for Wireshark: every frame of a capture written again, each authenticated SRTP packet replaced
by its plaintext RTP and each authenticated SRTCP compound by its plaintext RTCP (RFC 3711 §3.1, §3.4), with the
lengths and checksums this touches fixed (RFC 768 UDP, RFC 791 IPv4, RFC 8200 IPv6, RFC 8656 §12.4 ChannelData and
§11 Send/Data indications, RFC 8489 §14.7 FINGERPRINT).

Strategy: frames are copied in file order, a slice at a time, with their timestamps and captured bytes; only the
frames whose UDP datagram carried a packet that authenticated are rebuilt (link header kept, IP header patched, UDP
header and checksum new).  The plaintext RTP is not kept by the decryption (it would be the size of the capture):
each key and direction gets a fresh webrtcpcap.protocols.srtp.Decryptor, fed the same packets in the same order as
webrtcpcap.tables.decrypt fed its own, slice by slice, so memory stays bounded; a packet whose second decryption disagrees
with the first is left as it was.  SRTCP plaintext comes from the decryption (it is small).

Choices, stated once:
- Output format: classic pcap (microsecond resolution when every timestamp is a whole microsecond, nanosecond
  otherwise) when every interface has the same link type; pcapng (one interface block per capture interface,
  nanosecond resolution) when the capture mixes link types.  Only packet records are written: no comments, no
  other pcapng blocks (a Decryption Secrets Block of the input is never copied).
- Rebuilt frames: the link header is kept as it was, link-layer bytes after the IP packet (Ethernet padding, an
  FCS) are dropped; IPv4 options and IPv6 extension headers before UDP are kept; caplen = len = the new size.
- IP fragments: the datagram is written, as one unfragmented IP packet, in the frame that completed it (the one the
  `fragments` table names in `reassembled_in`): its own IP header with the fragment fields cleared (IPv4: flags
  other than DF and the offset set to 0, options dropped; IPv6: the Fragment header and what followed it removed).
  The other fragments are written as they were (Wireshark will call them unreassembled).
- TURN over UDP: a ChannelData message gets its new length, and padding to 4 bytes only when the original had it.
  A Send/Data indication gets a new DATA attribute and message length; its MESSAGE-INTEGRITY and
  MESSAGE-INTEGRITY-SHA256 attributes are dropped (they need the TURN password, which is not ours to use) and its
  FINGERPRINT is recomputed.
- Media framed out of TCP streams (ICE-TCP, TURN over TCP) is left as it was, and counted: rewriting a TCP stream
  (sequence numbers of every later segment) is out of scope.
- The UDP checksum is always computed (IPv6 pseudo-header with the IPv6 header's destination: a Routing header's
  final destination is not looked for), even where the original sent none over IPv4.
Nothing is added to the output but plaintext media; key material never is.
"""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np
import pandas as pd

from ..net import layers as net
from ..io import reader
from ..protocols import srtp, stun
from .decrypt import NOT_TRIED
from ..io.errors import DecodeError
from ..net.layers import IPPROTO_UDP, IPV4_DF, IPV6_AH, IPV6_EXTENSION_HEADERS, IPV6_FRAGMENT
from ..io.pcap_writer import MAX_SNAPLEN, PcapWriter
from .pipeline import udp_payloads

SLICE = 1 << 15  # frames copied per step
_AUTHENTIC = frozenset(int(s) for s in srtp.AUTHENTIC)



# Why a packet that was SRTP/SRTCP was written as it was (the keys of write_decrypted's "unchanged" count).
UNCHANGED = {
    "no_key": "SRTP (DTLS-SRTP flow) that no key was tried on",
    "not_authenticated": "SRTP/SRTCP whose authentication failed (or too short, too long, bad header)",
    "tcp": "authenticated, but framed out of a TCP stream (ICE-TCP, TURN over TCP): TCP is not rewritten",
    "snaplen": "authenticated, but the frame is cut by the snaplen",
    "several": "authenticated, but its frame carries more than one packet to replace",
    "layout": "authenticated, but the frame's link/IP/UDP/TURN layout could not be rebuilt",
    "second_pass": "decrypted differently when decrypted again for writing (should not happen)",
}


def write_decrypted(cap, path: str | os.PathLike) -> dict:
    """Write `cap` (a webrtcpcap.Capture opened with keys) to `path` for Wireshark: every frame, in order, with its
    timestamp, where each SRTP packet that authenticated is replaced by its plaintext RTP (header and payload, no
    auth tag or MKI) and each authenticated SRTCP compound by its plaintext RTCP (no E flag, index or tag).  See
    the module docstring for the format and the choices (fragments, TURN, TCP).  A capture without keys is copied
    frame by frame.

    Returns a summary: {"path", "format" ("pcap" or "pcapng"), "frames" (written), "frames_rewritten",
    "rtp_replaced", "rtcp_replaced", "unchanged" ({reason: packets} for SRTP/SRTCP packets written as they were;
    reasons in UNCHANGED)}.
    """
    path = os.fspath(path)
    plan = _Plan(cap)
    state, data, index = cap._state, cap._data, cap._index
    n = len(index)
    interfaces = state.interfaces
    linktypes = {i.linktype for i in interfaces}
    fmt = "pcap" if len(linktypes) <= 1 else "pcapng"
    ts_all = _timestamps(data, index, state)
    ns = bool(len(ts_all)) and bool((ts_all % 1000).any())
    rewritten = 0
    # A snap length below the longest frame written would make readers take that frame for corruption.
    with open(path, "wb") as out:
        pcap = PcapWriter(out, fmt, [(i.linktype, max(i.snaplen or MAX_SNAPLEN, plan.max_len)) for i in interfaces]
                          or [(net.LinkType.ETHERNET, max(MAX_SNAPLEN, plan.max_len))], ns=ns)
        for lo in range(0, n, SLICE):
            hi = min(lo + SLICE, n)
            batch = reader.make_batch(data, index, lo, hi, state, lo + 1)
            new = plan.frames(lo + 1, hi + 1, batch)
            rewritten += len(new)
            parts = []
            src = batch.source
            for i in range(hi - lo):
                frame = lo + 1 + i
                body = new.get(frame)
                length = None
                if body is None:
                    body = src.bytes_at(int(batch.offset[i]), int(batch.caplen[i]))
                    length = int(batch.length[i])
                parts.append(pcap.record(body, int(batch.ts_ns[i]), length, int(batch.interface[i])))
            out.write(b"".join(parts))
    return {"path": path, "format": fmt, "frames": n, "frames_rewritten": rewritten,
            "rtp_replaced": plan.rtp_replaced, "rtcp_replaced": plan.rtcp_replaced,
            "unchanged": {k: v for k, v in plan.unchanged.items() if v}}


# -- what to replace ---------------------------------------------------------------------------------------------

class _Plan:
    """Which frames get which plaintext: the RTP rows and RTCP datagrams that authenticated, and the decryptors
    that give the RTP plaintext again, slice by slice."""

    def __init__(self, cap):
        self.cap = cap
        self.unchanged = dict.fromkeys(UNCHANGED, 0)
        self.rtp_replaced = self.rtcp_replaced = 0
        decoded = cap._decode()
        self.rtp = decoded.rtp
        self.d = d = cap.decryption
        packets = cap.packets
        self.tcp_frame = (packets["transport"] == "tcp").to_numpy()
        self.cut = (packets["caplen"] < packets["len"]).to_numpy()
        self.max_len = int(packets["caplen"].max()) if len(packets) else 0
        fragments = cap.fragments
        joined = fragments[fragments["reassembled_in"].notna()]
        self.fragments_of = joined.groupby(joined["reassembled_in"].astype("int64"))["frame"].agg(list).to_dict()
        if self.fragments_of:  # a reassembled datagram may be longer than any frame
            self.max_len = max(self.max_len, 65_535 + 60)
        rtp = self.rtp
        n = len(rtp)
        self.rtp_frame = rtp["frame"].to_numpy().astype(np.int64)
        if d is None:
            self.rtp_status = np.full(n, NOT_TRIED, np.uint8)
            self.groups = np.full(n, -1, np.int64)
            self.decryptors = []
        else:
            self.rtp_status = np.asarray(d.rtp_status)
            self.groups, self.decryptors = self._groups(rtp, d)
        tried = self.rtp_status != NOT_TRIED
        self.unchanged["no_key"] += int((~tried & rtp["dtls_srtp"].to_numpy()).sum())
        authentic = np.isin(self.rtp_status, list(_AUTHENTIC))
        self.unchanged["not_authenticated"] += int((tried & ~authentic).sum())
        # RTCP: the datagrams whose SRTCP authenticated, with their plaintext
        self.rtcp_at: dict[int, list] = {}
        if d is not None:
            dg = decoded.rtcp_datagrams
            status = np.asarray(d.rtcp_status)
            self.unchanged["not_authenticated"] += int(((status != NOT_TRIED)
                                                        & ~np.isin(status, list(_AUTHENTIC))).sum())
            frames = np.asarray(dg.keys["frame"]).astype(np.int64)
            relayed = np.asarray(dg.keys["relayed"], dtype=bool)
            ends = _ends(dg.keys)
            for i, plain in enumerate(d.rtcp_plaintext):
                if plain is not None:
                    self.rtcp_at.setdefault(int(frames[i]), []).append(("rtcp", bool(relayed[i]), plain, ends[i]))
        self.rtp_ends = _ends({k: rtp[k] for k in ("sport", "dport")})
        self.rtp_relayed = rtp["relayed"].to_numpy()

    @staticmethod
    def _groups(rtp: pd.DataFrame, d) -> tuple[np.ndarray, list]:
        """Per row, the decryptor (key and direction, as webrtcpcap.tables.decrypt made them) that decrypted it; -1 none."""
        n = len(rtp)
        labels = pd.Series(d.rtp_key, dtype=object)
        has = labels.notna().to_numpy()
        out = np.full(n, -1, np.int64)
        if not has.any():
            return out, []
        peer = np.where(rtp["relayed"].to_numpy(), rtp["peer"].cat.codes.to_numpy(), -1)
        frame = pd.DataFrame({
            "key": pd.factorize(labels[has])[0], "src": rtp["src"].cat.codes.to_numpy()[has],
            "sport": rtp["sport"].to_numpy()[has], "dst": rtp["dst"].cat.codes.to_numpy()[has],
            "dport": rtp["dport"].to_numpy()[has], "peer": peer[has]})
        out[has] = frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy()
        makers = {}
        for g, label in zip(out[has].tolist(), labels[has].tolist()):
            if g not in makers:
                makers[g] = d.sources[label]
        return out, [makers[g].make() for g in range(len(makers))]

    def frames(self, first: int, end: int, batch) -> dict[int, bytes]:
        """The rebuilt frames among frames first..end-1: {frame: new captured bytes}."""
        lo, hi = np.searchsorted(self.rtp_frame, [first, end])
        rows = np.arange(lo, hi, dtype=np.int64)
        wanted: dict[int, list] = {}
        plain = self._rtp_plaintext(rows[self.groups[lo:hi] >= 0])
        for r, p in plain.items():
            wanted.setdefault(int(self.rtp_frame[r]), []).append(("rtp", bool(self.rtp_relayed[r]), p,
                                                                  self.rtp_ends[r]))
        for frame in range(first, end):
            if frame in self.rtcp_at:
                wanted.setdefault(frame, []).extend(self.rtcp_at[frame])
        out: dict[int, bytes] = {}
        todo = []
        for frame in sorted(wanted):
            items = wanted[frame]
            if self.tcp_frame[frame - 1]:
                self.unchanged["tcp"] += len(items)
            elif self.cut[frame - 1]:
                self.unchanged["snaplen"] += len(items)
            elif len(items) > 1:
                self.unchanged["several"] += len(items)
            else:
                todo.append(frame)
        if not todo:
            return out
        fragmented = [f for f in todo if f in self.fragments_of]
        joined = {}
        if fragmented:
            cap = self.cap
            got = udp_payloads(cap._data, cap._index, cap._state, np.array(fragmented, dtype=np.int64),
                               np.zeros(len(fragmented), dtype=bool), self.fragments_of)
            joined = dict(zip(fragmented, got))
        linktype = batch.linktype
        for frame in todo:
            what, relayed, plaintext, ports = wanted[frame][0]
            i = frame - first
            original = batch.source.bytes_at(int(batch.offset[i]), int(batch.caplen[i]))
            try:
                body = rebuild_frame(original, int(linktype[i]), plaintext, relayed, ports,
                                     joined.get(frame) if frame in self.fragments_of else None)
            except DecodeError:
                self.unchanged["layout"] += 1
                continue
            out[frame] = body
            if what == "rtp":
                self.rtp_replaced += 1
            else:
                self.rtcp_replaced += 1
        return out

    def _rtp_plaintext(self, rows: np.ndarray) -> dict[int, bytes]:
        """Decrypt the rows again, each group's in capture order; {row: plaintext} for those that authenticated
        both times.  Every row a group's decryptor was fed is fed again (those that failed too), so that its
        rollover-counter state follows the first pass."""
        out: dict[int, bytes] = {}
        if not len(rows):
            return out
        payloads = self.cap._rtp_packets(rows)
        groups = self.groups[rows]
        first_pass = self.rtp_status[rows].tolist()
        for g in np.unique(groups).tolist():
            sel = np.flatnonzero(groups == g)
            usable = [k for k in sel.tolist() if payloads[k] is not None]
            if not usable:
                continue
            result = self.decryptors[g].rtp([payloads[k] for k in usable])
            for k, st, p in zip(usable, result.status.tolist(), result.plaintext):
                if first_pass[k] not in _AUTHENTIC:
                    continue
                if st not in _AUTHENTIC or p is None:
                    self.unchanged["second_pass"] += 1
                    continue
                out[int(rows[k])] = p
        return out


def _ends(keys: dict) -> list:
    """Per row, its (sport, dport): a rebuilt UDP header needs them when the datagram came in IP fragments."""
    return list(zip(np.asarray(keys["sport"]).astype(np.int64).tolist(),
                    np.asarray(keys["dport"]).astype(np.int64).tolist()))


def _timestamps(data, index, state) -> np.ndarray:
    out = []
    for lo in range(0, len(index), SLICE * 8):
        out.append(reader.make_batch(data, index, lo, min(lo + SLICE * 8, len(index)), state, lo + 1).ts_ns)
    return np.concatenate(out) if out else np.zeros(0, np.int64)


# -- frames ------------------------------------------------------------------------------------------------------

def rebuild_frame(frame: bytes, linktype: int, plaintext: bytes, relayed: bool, ports: tuple[int, int],
                  joined: bytes | None = None) -> bytes:
    """A frame's bytes with its UDP datagram's payload replaced: by `plaintext` for a direct packet, or, when
    `relayed`, by the TURN message that carried the packet, re-wrapped around `plaintext` (see rewrap_turn).
    `joined`: the whole UDP payload of a datagram that came in IP fragments (`frame` being the fragment that
    completed it); the frame becomes one unfragmented IP packet, with the UDP header made from `ports`.  Fixes the
    IP lengths, the IPv4 header checksum and the UDP length and checksum.  DecodeError when the frame is not
    link/IP/UDP as expected."""
    l3 = _link_header_len(frame, linktype)
    if l3 >= len(frame):
        raise DecodeError("frame has no IP header after its link header")
    version = frame[l3] >> 4
    if version == 4:
        ip, udp_at, fragment, src, dst = _ipv4(frame, l3)
    elif version == 6:
        ip, udp_at, fragment, src, dst = _ipv6(frame, l3)
    else:
        raise DecodeError(f"frame IP version {version} is not 4 or 6")
    if fragment:
        if joined is None:
            raise DecodeError("IP fragment without its reassembled datagram")
        outer, sport, dport = joined, ports[0], ports[1]
    else:
        if udp_at + 8 > len(frame):
            raise DecodeError("UDP header is truncated")
        sport, dport, ulen = struct.unpack_from(">HHH", frame, udp_at)
        if ulen < 8 or udp_at + ulen > len(frame):
            raise DecodeError("UDP length field is invalid")
        outer = frame[udp_at + 8:udp_at + ulen]
    payload = rewrap_turn(outer, plaintext) if relayed else plaintext
    udp_len = 8 + len(payload)
    if udp_len > 0xFFFF:
        raise DecodeError("UDP datagram would exceed 65535 bytes")
    # RFC 768: a computed 0 is sent as all ones
    checksum = net.internet_checksum(net.pseudo_header(src, dst, IPPROTO_UDP, udp_len),
                                     struct.pack(">HHHH", sport, dport, udp_len, 0), payload) or 0xFFFF
    udp = struct.pack(">HHHH", sport, dport, udp_len, checksum)
    if version == 4:
        header = bytearray(ip)
        total = len(header) + udp_len
        if total > 0xFFFF:
            raise DecodeError("IPv4 packet would exceed 65535 bytes")
        struct.pack_into(">H", header, 2, total)
        struct.pack_into(">H", header, 10, 0)
        struct.pack_into(">H", header, 10, net.internet_checksum(bytes(header)))
    else:
        header = bytearray(ip)
        struct.pack_into(">H", header, 4, len(header) - 40 + udp_len)
    return frame[:l3] + bytes(header) + udp + payload


def _link_header_len(frame: bytes, linktype: int) -> int:
    """Bytes before the IP header, for the link types webrtcpcap.net reads."""
    lt = linktype
    if lt == net.LinkType.ETHERNET:
        pos, et = 14, int.from_bytes(frame[12:14], "big") if len(frame) >= 14 else -1
        for _ in range(3):
            if et not in net.ETHERTYPE_VLAN or pos + 4 > len(frame):
                break
            et = int.from_bytes(frame[pos + 2:pos + 4], "big")
            pos += 4
        if et not in (net.ETHERTYPE_IPV4, net.ETHERTYPE_IPV6):
            raise DecodeError(f"Ethernet type 0x{max(et, 0):04x} is not IP")
        return pos
    if lt == net.LinkType.LINUX_SLL:
        return 16
    if lt == net.LinkType.LINUX_SLL2:
        return 20
    if lt in (net.LinkType.RAW, net.LinkType.RAW_DLT12, net.LinkType.RAW_DLT14, net.LinkType.IPV4,
              net.LinkType.IPV6):
        return 0
    if lt in (net.LinkType.NULL, net.LinkType.LOOP):
        return 4
    raise DecodeError(f"frame link type {lt} is not one webrtcpcap rewrites")


def _ipv4(frame: bytes, l3: int):
    """(new header bytes, UDP offset, fragment?, src, dst) of an IPv4 packet carrying UDP."""
    if l3 + 20 > len(frame):
        raise DecodeError("IPv4 header is truncated")
    ihl = (frame[l3] & 0x0F) * 4
    if ihl < 20 or l3 + ihl > len(frame):
        raise DecodeError("IPv4 header length is invalid")
    flags_off = int.from_bytes(frame[l3 + 6:l3 + 8], "big")
    fragment = (flags_off & 0x3FFF) != 0  # MF or an offset
    if frame[l3 + 9] != IPPROTO_UDP:
        raise DecodeError(f"IPv4 protocol {frame[l3 + 9]} is not UDP")
    src, dst = frame[l3 + 12:l3 + 16], frame[l3 + 16:l3 + 20]
    if not fragment:
        return frame[l3:l3 + ihl], l3 + ihl, False, src, dst
    header = bytearray(frame[l3:l3 + 20])  # options dropped: a later fragment carries only those copied
    header[0] = 0x45
    struct.pack_into(">H", header, 6, flags_off & IPV4_DF)
    return bytes(header), -1, True, src, dst


def _ipv6(frame: bytes, l3: int):
    """(new header bytes, UDP offset, fragment?, src, dst) of an IPv6 packet carrying UDP: the fixed header and the
    extension headers before UDP (or before the Fragment header, whose place UDP takes)."""
    if l3 + 40 > len(frame):
        raise DecodeError("IPv6 header is truncated")
    src, dst = frame[l3 + 8:l3 + 24], frame[l3 + 24:l3 + 40]
    nh, nh_at, pos = frame[l3 + 6], l3 + 6, l3 + 40
    for _ in range(8):
        if nh == IPPROTO_UDP:
            return frame[l3:pos], pos, False, src, dst
        if nh == IPV6_FRAGMENT:
            header = bytearray(frame[l3:pos])
            header[nh_at - l3] = IPPROTO_UDP
            return bytes(header), -1, True, src, dst
        if nh not in IPV6_EXTENSION_HEADERS or pos + 8 > len(frame):
            break
        length = (frame[pos + 1] + 2) * 4 if nh == IPV6_AH else (frame[pos + 1] + 1) * 8
        nh, nh_at, pos = frame[pos], pos, pos + length
    raise DecodeError("IPv6 packet does not carry UDP")


def rewrap_turn(outer: bytes, inner: bytes) -> bytes:
    """The TURN message `outer` (a ChannelData message, or a STUN Send/Data indication with a DATA attribute)
    carrying `inner` instead of what it carried: ChannelData gets its new length (RFC 8656 §12.4) and padding to 4
    bytes only when `outer` was padded; an indication gets its new DATA attribute and message length, loses
    MESSAGE-INTEGRITY and MESSAGE-INTEGRITY-SHA256 (they cannot be recomputed without the TURN password) and gets
    its FINGERPRINT recomputed (RFC 8489 §14.7).  DecodeError when `outer` is neither."""
    if len(inner) > 0xFFFF - stun.STUN_HEADER_LEN - 8:
        raise DecodeError("TURN message would be longer than 65535 bytes")
    if outer and 0x40 <= outer[0] <= 0x4F:
        channel, data, _ = stun.channel_data(outer, len(outer))
        padded = len(outer) > stun.CHANNEL_DATA_HEADER_LEN + len(data)
        pad = b"\0" * (-len(inner) % 4) if padded else b""
        return struct.pack(">HH", channel, len(inner)) + inner + pad
    msg = stun.parse(outer)
    if stun.Attr.DATA not in msg:
        raise DecodeError("STUN message has no DATA attribute to replace")
    attributes, fingerprint = [], False
    for a in msg.attributes:
        if a.type == stun.Attr.DATA:
            attributes.append(stun.attribute(stun.Attr.DATA, inner, msg.transaction_id))
        elif a.type in (stun.Attr.MESSAGE_INTEGRITY, stun.Attr.MESSAGE_INTEGRITY_SHA256):
            continue
        elif a.type == stun.Attr.FINGERPRINT:
            fingerprint = True
            break  # FINGERPRINT is last (RFC 8489 §14.7)
        else:
            attributes.append(a)
    body = b"".join(bytes(a) for a in attributes)
    head = outer[:2] + struct.pack(">H", len(body) + (8 if fingerprint else 0)) + outer[4:stun.STUN_HEADER_LEN]
    if not fingerprint:
        return head + body
    crc = zlib.crc32(head + body) ^ stun.FINGERPRINT_XOR
    return head + body + struct.pack(">HHI", stun.Attr.FINGERPRINT, 4, crc)


# -- merged copies ---------------------------------------------------------------------------------------------

def merge(path: str | os.PathLike, inputs) -> dict:
    """Write one classic pcap holding the frames of several captures, each shifted in time, in time order (like
    `mergecap`, with a shift per input): to make a file with overlapping calls from recorded ones.  `inputs` is a
    list of (capture path, shift in seconds).  Every input must have one link type (the first input's is written);
    frames keep their captured bytes and original lengths.  Returns {"path", "frames", "inputs"}."""
    path = os.fspath(path)
    records = []  # (ts_ns, input order, frame order, body, length)
    linktype = None
    for k, (src_path, shift_s) in enumerate(inputs):
        data, index, state, _owner = reader.read_all(src_path)
        types = {i.linktype for i in state.interfaces}
        if linktype is None:
            linktype = next(iter(types)) if types else net.LinkType.ETHERNET
        if types - {linktype}:
            raise ValueError(f"merge: {os.path.basename(os.fspath(src_path))} has link types {sorted(types)}, "
                             f"not {linktype}")
        shift_ns = int(round(float(shift_s) * 1e9))
        for lo in range(0, len(index), SLICE):
            hi = min(lo + SLICE, len(index))
            batch = reader.make_batch(data, index, lo, hi, state, lo + 1)
            for i in range(hi - lo):
                body = batch.source.bytes_at(int(batch.offset[i]), int(batch.caplen[i]))
                records.append((int(batch.ts_ns[i]) + shift_ns, k, lo + i, body, int(batch.length[i])))
    records.sort(key=lambda r: (r[0], r[1], r[2]))
    ns = any(r[0] % 1000 for r in records)
    iface = reader.Interface(0, linktype if linktype is not None else net.LinkType.ETHERNET, MAX_SNAPLEN)
    max_len = max((len(r[3]) for r in records), default=0)
    with open(path, "wb") as out:
        pcap = PcapWriter(out, "pcap", [(iface.linktype, max(iface.snaplen, max_len))], ns=ns)
        for ts, _, _, body, length in records:
            pcap.write(body, ts, length)
    return {"path": path, "frames": len(records), "inputs": len(inputs)}
