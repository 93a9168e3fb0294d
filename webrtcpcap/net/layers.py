"""Frames to network facts: link layers, IPv4/IPv6 (extension headers, fragment reassembly), UDP, TCP, ICMP.

Link types: Ethernet with 802.1Q/802.1ad tags, Linux cooked SLL and SLL2, raw IP (DLT 12/14/101, 228, 229), BSD null
and OpenBSD loop.  RFC 791, RFC 8200 (IPv6), RFC 768 (UDP), RFC 9293 (TCP), RFC 792 / RFC 4443 (ICMP).

Strategy: every header field is read for all frames at once (numpy, see buffer.ByteSource); only IP fragments and
ICMP errors, which are rare, go through per-packet Python.  Nothing is dropped: a frame that cannot be decoded keeps
its row, with an error code saying how far decoding got and why it stopped.
"""

from __future__ import annotations

import ipaddress
import threading
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
import pandas as pd

from ..io.buffer import EXTRA, ByteSource
from ..io.reader import FrameBatch
# IP protocol numbers, checksums and address texts live in net/wire.py; their names stay here too.
from .wire import (IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, checksum_after_change,  # noqa: F401
                   describe_quoted, endpoint, internet_checksum, ones_complement_sum, pseudo_header)


class LinkType(IntEnum):
    """LINKTYPE_* values (tcpdump.org/linktypes) and their DLT_* aliases."""

    NULL = 0  # BSD loopback, address family in host byte order
    ETHERNET = 1
    RAW_DLT12 = 12  # DLT_RAW on most BSDs
    RAW_DLT14 = 14  # DLT_RAW on OpenBSD
    RAW = 101
    LOOP = 108  # OpenBSD loopback, address family in network byte order
    LINUX_SLL = 113
    IPV4 = 228
    IPV6 = 229
    LINUX_SLL2 = 276


ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
ETHERTYPE_VLAN = (0x8100, 0x88A8, 0x9100)  # 802.1Q, 802.1ad, old QinQ
AF_INET = 2
AF_INET6 = (10, 24, 28, 30)  # Linux, NetBSD/OpenBSD, FreeBSD, macOS

IPV6_EXTENSION_HEADERS = (0, 43, 60, 51, 135, 139, 140)  # hop-by-hop, routing, dest opts, AH, mobility, HIP, shim6
IPV6_FRAGMENT = 44
IPV6_NO_NEXT = 59
IPV6_AH = 51  # RFC 4302: its length counts 4-byte words (the other extension headers': 8-byte)
IPV4_DF = 0x4000  # RFC 791 §3.1: Don't Fragment flag


class Transport(IntEnum):
    """What the IP payload is; the `transport` column shows the names."""

    NONE = 0
    UDP = 1
    TCP = 2
    ICMP = 3
    ICMPV6 = 4
    OTHER = 5


TRANSPORT_NAMES = ["", "udp", "tcp", "icmp", "icmpv6", "other"]


class NetError(IntEnum):
    """Why network decoding of a frame stopped; messages in NET_ERROR_MESSAGES."""

    NONE = 0
    UNKNOWN_LINKTYPE = 1
    SNAPLEN = 2
    LINK_TRUNCATED = 3
    IPV4_INVALID = 4
    IPV6_INVALID = 5
    IP_LENGTH = 6
    UDP_TRUNCATED = 7
    UDP_LENGTH = 8
    TCP_INVALID = 9
    FRAGMENT_INCOMPLETE = 10
    FRAGMENT_CONFLICT = 11
    EMPTY = 12
    BAD_INTERFACE = 13
    IPV6_EXT = 14


NET_ERROR_MESSAGES = {
    NetError.UNKNOWN_LINKTYPE: "unknown link type {linktype}",
    NetError.SNAPLEN: "truncated by snaplen",
    NetError.LINK_TRUNCATED: "link-layer header is truncated",
    NetError.IPV4_INVALID: "IPv4 header is invalid",
    NetError.IPV6_INVALID: "IPv6 header is invalid",
    NetError.IP_LENGTH: "IP total length exceeds the frame",
    NetError.UDP_TRUNCATED: "UDP header is truncated",
    NetError.UDP_LENGTH: "UDP length field is invalid",
    NetError.TCP_INVALID: "TCP header is invalid",
    NetError.FRAGMENT_INCOMPLETE: "IP fragment: datagram never completed in this capture",
    NetError.FRAGMENT_CONFLICT: "IP fragment: overlapping fragments disagree",
    NetError.EMPTY: "frame has no captured bytes",
    NetError.BAD_INTERFACE: "pcapng packet names an undefined interface",
    NetError.IPV6_EXT: "IPv6 extension header is truncated",
}


@dataclass
class NetLayer:
    """Per-frame network facts, as parallel arrays (one element per frame of the batch).

    Addresses are interned: `src`/`dst` are int32 indexes into `addresses` (-1 where the frame has none).
    `payload_off` points into `source` (which may hold reassembled datagrams beyond the file's bytes);
    `payload_len` is the transport payload length the headers declare, `payload_cap` how much of it was captured.
    """

    source: ByteSource
    ip_version: np.ndarray  # uint8: 0, 4, 6
    ip_proto: np.ndarray  # uint8
    traffic_class: np.ndarray  # int16: the IPv4 TOS / IPv6 Traffic Class byte (DSCP << 2 | ECN), -1 without IP header
    src: np.ndarray  # int32
    dst: np.ndarray  # int32
    addresses: list[str]
    transport: np.ndarray  # uint8 Transport
    sport: np.ndarray  # int32, -1 where none
    dport: np.ndarray  # int32, -1 where none
    payload_off: np.ndarray  # int64
    payload_len: np.ndarray  # int32, -1 where none
    payload_cap: np.ndarray  # int32
    error: np.ndarray  # uint8 NetError
    fragment: np.ndarray  # bool: a fragment that is not where its datagram was completed
    reassembled_in: np.ndarray  # int64 frame number, 0 where not applicable
    icmp_type: np.ndarray  # int16, -1 where not ICMP
    icmp_code: np.ndarray  # int16
    icmp_quoted: dict[int, str] = field(default_factory=dict)  # row -> "udp 1.2.3.4:5 > 6.7.8.9:10"
    tcp_seq: np.ndarray | None = None  # uint32 sequence number of TCP segments (0 elsewhere)
    tcp_flags: np.ndarray | None = None  # uint8 TCP flags (FIN 0x01, SYN 0x02, RST 0x04, ...; 0 elsewhere)


class AddressBook:
    """Interns IP addresses: the same address gets the same code in every slice of a capture.

    Slices may be decoded by several threads, so codes are handed out under a lock, and `sort` renumbers them into
    a deterministic order (IPv4 by value, then IPv6 by value) once every slice is done.
    """

    def __init__(self):
        self.names: list[str] = []
        self._v4: dict[int, int] = {}
        self._v6: dict[tuple[int, int], int] = {}
        self._lock = threading.Lock()

    def sort(self) -> np.ndarray:
        """Renumber the codes in address order; returns old code -> new code (apply it to stored codes)."""
        keys = [(0, v, 0) for v in self._v4] + [(1, hi, lo) for hi, lo in self._v6]
        old = [self._v4[v] for v in self._v4] + [self._v6[k] for k in self._v6]
        order = sorted(range(len(keys)), key=keys.__getitem__)
        perm = np.empty(len(self.names), dtype=np.int32)
        names = list(self.names)
        for new, i in enumerate(order):
            perm[old[i]] = new
            self.names[new] = names[old[i]]
        self._v4 = {v: int(perm[c]) for v, c in self._v4.items()}
        self._v6 = {k: int(perm[c]) for k, c in self._v6.items()}
        return perm

    def codes_v4(self, values: np.ndarray) -> np.ndarray:
        codes, uniq = pd.factorize(values)  # hashing: a slice holds few distinct addresses
        table = np.empty(len(uniq), dtype=np.int32)
        with self._lock:
            for i, v in enumerate(uniq.tolist()):
                code = self._v4.get(v)
                if code is None:
                    code = self._v4[v] = len(self.names)
                    self.names.append(str(ipaddress.IPv4Address(v)))
                table[i] = code
        return table[codes]

    def codes_v6(self, values: np.ndarray) -> np.ndarray:
        """`values`: (n, 2) uint64 high and low halves."""
        uniq, inv = np.unique(values, axis=0, return_inverse=True)
        table = np.empty(len(uniq), dtype=np.int32)
        with self._lock:
            for i, (hi, lo) in enumerate(uniq.tolist()):
                code = self._v6.get((hi, lo))
                if code is None:
                    code = self._v6[(hi, lo)] = len(self.names)
                    self.names.append(str(ipaddress.IPv6Address((hi << 64) | lo)))
                table[i] = code
        return table[inv.reshape(-1)]


def decode(batch: FrameBatch, book: AddressBook | None = None, fragments: "Reassembler | None" = None,
           in_order=None) -> NetLayer:
    """Decode link, IP and transport headers of every frame in `batch`.

    `book` interns addresses across batches; `fragments` carries unfinished IP datagrams from one batch to the next.
    When batches are decoded by several threads, `in_order` is a context manager factory: `in_order(has_fragments)`
    is entered around the reassembly step so that batches feed the reassembler in capture order.
    """
    book = book if book is not None else AddressBook()
    fragments = fragments if fragments is not None else Reassembler()
    src = batch.source
    n = len(batch)
    off = batch.offset
    cap = batch.caplen.astype(np.int64)
    end = off + cap
    snapped = batch.caplen < batch.length
    error = np.zeros(n, dtype=np.uint8)
    error[cap == 0] = NetError.EMPTY
    if batch.interfaces:
        bad_if = batch.interface >= len(batch.interfaces)
        if batch.interface_defined is not None:  # pcapng: described only after the packet
            bad_if |= ~batch.interface_defined
        error[bad_if] = NetError.BAD_INTERFACE
    linktype = batch.linktype

    l3 = np.full(n, -1, dtype=np.int64)
    ipver = np.zeros(n, dtype=np.uint8)
    for lt in np.unique(linktype):
        rows = np.flatnonzero((linktype == lt) & (error == 0))
        if len(rows) == 0:
            continue
        l3_rows, ver_rows, err_rows = _link_layer(src, int(lt), off[rows], end[rows], snapped[rows])
        l3[rows] = l3_rows
        ipver[rows] = ver_rows
        error[rows] = np.where(error[rows] == 0, err_rows, error[rows])

    layer = _ip_layer(src, l3, ipver, end, snapped, error)
    return _finish(batch, layer, snapped, book, fragments, in_order)


# --- link layer ------------------------------------------------------------------------------------------------


def _link_layer(src: ByteSource, lt: int, off, end, snapped):
    """(l3 offset, IP version from the link header or 0, error) for frames of one link type."""
    m = len(off)
    l3 = np.full(m, -1, dtype=np.int64)
    ver = np.zeros(m, dtype=np.uint8)
    err = np.zeros(m, dtype=np.uint8)
    avail = end - off

    def need(nbytes, rows_ok):
        short = rows_ok & (avail < nbytes)
        err[short] = np.where(snapped[short], NetError.SNAPLEN, NetError.LINK_TRUNCATED)
        return rows_ok & ~short

    def from_ethertype(et, start, ok):
        ver[ok & (et == ETHERTYPE_IPV4)] = 4
        ver[ok & (et == ETHERTYPE_IPV6)] = 6
        l3[ok] = start[ok]

    ok = np.ones(m, dtype=bool)
    if lt == LinkType.ETHERNET:
        ok = need(14, ok)
        et = src.at(off, ok).be16(12).astype(np.int64)
        start = off + 14
        for _ in range(3):  # up to three stacked VLAN tags
            tagged = ok & np.isin(et, ETHERTYPE_VLAN)
            if not tagged.any():
                break
            tagged_ok = tagged & (start + 4 <= end)
            short = tagged & ~tagged_ok
            err[short] = np.where(snapped[short], NetError.SNAPLEN, NetError.LINK_TRUNCATED)
            ok &= ~short
            et = np.where(tagged_ok, src.be16(start + 2, tagged_ok), et)
            start = np.where(tagged_ok, start + 4, start)
        from_ethertype(et, start, ok)
    elif lt == LinkType.LINUX_SLL:
        ok = need(16, ok)
        from_ethertype(src.be16(off + 14, ok), off + 16, ok)
    elif lt == LinkType.LINUX_SLL2:
        ok = need(20, ok)
        from_ethertype(src.be16(off, ok), off + 20, ok)
    elif lt in (LinkType.RAW, LinkType.RAW_DLT12, LinkType.RAW_DLT14, LinkType.IPV4, LinkType.IPV6):
        ok = need(1, ok)
        nib = src.u8(off, ok) >> 4
        if lt == LinkType.IPV4:
            nib = np.where(ok, 4, 0)
        elif lt == LinkType.IPV6:
            nib = np.where(ok, 6, 0)
        ver[ok & (nib == 4)] = 4
        ver[ok & (nib == 6)] = 6
        l3[ok] = off[ok]
    elif lt in (LinkType.NULL, LinkType.LOOP):
        ok = need(4, ok)
        fam_be = src.be32(off, ok).astype(np.int64)
        fam_le = src.le32(off, ok).astype(np.int64)
        # DLT_NULL is in the capturing host's byte order, which the file does not record: accept either.
        fam = fam_be if lt == LinkType.LOOP else np.where(fam_le < 256, fam_le, fam_be)
        ver[ok & (fam == AF_INET)] = 4
        ver[ok & np.isin(fam, AF_INET6)] = 6
        l3[ok] = off[ok] + 4
    else:
        err[:] = NetError.UNKNOWN_LINKTYPE
    return l3, ver, err


# --- IP ------------------------------------------------------------------------------------------------------


@dataclass
class _IP:
    ipver: np.ndarray
    traffic_class: np.ndarray  # int16, -1 where no IP header was read (see NetLayer)
    proto: np.ndarray
    l4: np.ndarray
    l4_wire: np.ndarray
    l4_cap: np.ndarray
    src4: np.ndarray
    dst4: np.ndarray
    v6_rows: np.ndarray
    src6: np.ndarray  # (k, 2) uint64
    dst6: np.ndarray
    frag_rows: np.ndarray
    frag_key: list
    error: np.ndarray


def _ip_layer(src: ByteSource, l3, ipver, end, snapped, error) -> _IP:
    n = len(l3)
    proto = np.zeros(n, dtype=np.uint8)
    l4 = np.full(n, -1, dtype=np.int64)
    l4_wire = np.full(n, -1, dtype=np.int64)
    l4_cap = np.full(n, -1, dtype=np.int64)
    src4 = np.zeros(n, dtype=np.uint32)
    dst4 = np.zeros(n, dtype=np.uint32)
    is_frag = np.zeros(n, dtype=bool)
    traffic_class = np.full(n, -1, dtype=np.int16)

    def truncated(rows, fallback):
        error[rows] = np.where(snapped[rows], NetError.SNAPLEN, fallback)

    def ip_header(rows, fixed, invalid):
        """Where the IP headers of `rows` start, the bytes there, which hold the `fixed` header (the others are
        `invalid`, or cut by the snaplen), and a cursor on those."""
        start = l3[rows]
        avail = end[rows] - start
        short = avail < fixed
        truncated(rows[short], invalid)
        return start, avail, ~short, src.at(start, ~short)

    # IPv4 -----------------------------------------------------------------
    r = np.flatnonzero((ipver == 4) & (error == 0))
    a, avail, ok, cur = ip_header(r, 20, NetError.IPV4_INVALID)
    vihl = cur.u8(0)
    ihl = (vihl & 0x0F).astype(np.int64) * 4
    bad = ok & (((vihl >> 4) != 4) | (ihl < 20))
    error[r[bad]] = NetError.IPV4_INVALID
    ok &= ~bad
    traffic_class[r[ok]] = cur.u8(1)[ok]  # RFC 2474 / RFC 3168: the old TOS byte, whatever the header says next
    short = ok & (avail < ihl)
    truncated(r[short], NetError.IPV4_INVALID)
    ok &= ~short
    total = cur.be16(2).astype(np.int64)
    bad = ok & (total < ihl)
    error[r[bad]] = NetError.IPV4_INVALID
    ok &= ~bad
    over = ok & (total > avail)
    error[r[over & ~snapped[r]]] = NetError.IP_LENGTH
    error[r[over & snapped[r]]] = NetError.SNAPLEN  # payload partly captured: keep decoding what is there
    keep = ok & ~(over & ~snapped[r])
    rk = r[keep]
    ak = a[keep]
    cur = src.at(ak)
    proto[rk] = cur.u8(9)
    src4[rk] = cur.be32(12)
    dst4[rk] = cur.be32(16)
    l4[rk] = ak + ihl[keep]
    l4_wire[rk] = total[keep] - ihl[keep]
    l4_cap[rk] = np.minimum(total[keep], avail[keep]) - ihl[keep]
    flags_frag = cur.be16(6)
    frag4 = (flags_frag & 0x3FFF) != 0
    is_frag[rk[frag4]] = True
    frag_key: list = []
    frag4_rows = rk[frag4]
    if len(frag4_rows):
        ids = cur.be16(4)[frag4]
        for row, ident, fo in zip(frag4_rows.tolist(), ids.tolist(), flags_frag[frag4].tolist()):
            frag_key.append((row, (4, int(src4[row]), int(dst4[row]), int(proto[row]), ident),
                             (fo & 0x1FFF) * 8, bool(fo & 0x2000), int(proto[row])))

    # IPv6 -----------------------------------------------------------------
    r6 = np.flatnonzero((ipver == 6) & (error == 0))
    a, avail, ok, cur = ip_header(r6, 40, NetError.IPV6_INVALID)
    first = cur.u8(0)
    bad = ok & ((first >> 4) != 6)
    error[r6[bad]] = NetError.IPV6_INVALID
    ok &= ~bad
    # RFC 8200 §7: the Traffic Class is the 8 bits after the version nibble.
    traffic_class[r6[ok]] = (((first & 0x0F) << 4) | (cur.u8(1) >> 4))[ok]
    plen = np.where(ok, cur.be16(4), 0).astype(np.int64)
    nh = np.where(ok, cur.u8(6), 0).astype(np.int64)
    over = ok & (plen + 40 > avail)
    error[r6[over & ~snapped[r6]]] = NetError.IP_LENGTH
    error[r6[over & snapped[r6]]] = NetError.SNAPLEN
    ok &= ~(over & ~snapped[r6])
    hdr_end = a + 40
    payload_end_wire = a + 40 + plen
    cap_end = np.minimum(payload_end_wire, end[r6])
    frag6 = np.zeros(len(r6), dtype=bool)
    frag6_at = np.zeros(len(r6), dtype=np.int64)
    active = ok & np.isin(nh, IPV6_EXTENSION_HEADERS + (IPV6_FRAGMENT,))
    for _ in range(8):  # more chained extension headers than this is not a real packet
        if not active.any():
            break
        fits = active & (hdr_end + 8 <= cap_end)
        short = active & ~fits
        error[r6[short]] = np.where(snapped[r6[short]], NetError.SNAPLEN, NetError.IPV6_EXT)
        ok &= ~short
        this = np.where(fits, nh, -1)
        is_f = fits & (this == IPV6_FRAGMENT)
        frag6 |= is_f
        frag6_at = np.where(is_f, hdr_end, frag6_at)
        ext_len = np.where(this == 51, (src.u8(hdr_end + 1, fits).astype(np.int64) + 2) * 4,
                           (src.u8(hdr_end + 1, fits).astype(np.int64) + 1) * 8)
        ext_len = np.where(is_f, 8, ext_len)
        nh = np.where(fits, src.u8(hdr_end, fits).astype(np.int64), nh)
        hdr_end = np.where(fits, hdr_end + ext_len, hdr_end)
        # After a fragment header the rest belongs to the reassembled datagram.
        active = fits & ~is_f & np.isin(nh, IPV6_EXTENSION_HEADERS + (IPV6_FRAGMENT,))
    ok6 = ok
    rk = r6[ok6]
    proto[rk] = nh[ok6]
    l4[rk] = hdr_end[ok6]
    l4_wire[rk] = payload_end_wire[ok6] - hdr_end[ok6]
    l4_cap[rk] = np.clip(cap_end[ok6] - hdr_end[ok6], 0, None)
    v6_rows = r6
    src6 = np.stack([cur.be64(8), cur.be64(16)], axis=1) if len(r6) else np.zeros((0, 2), np.uint64)
    dst6 = np.stack([cur.be64(24), cur.be64(32)], axis=1) if len(r6) else np.zeros((0, 2), np.uint64)
    src6[~ok] = 0
    dst6[~ok] = 0
    f6 = ok6 & frag6
    if f6.any():
        rows = r6[f6]
        at = frag6_at[f6]
        fo = src.be16(at + 2)
        ident = src.be32(at + 4)
        frag_nh = src.u8(at)
        is_frag[rows] = True
        hi = dict(zip(r6.tolist(), range(len(r6))))
        for row, fov, idv, nhv in zip(rows.tolist(), fo.tolist(), ident.tolist(), frag_nh.tolist()):
            k = hi[row]
            # The fragment header's next-header field names the protocol of the fragmentable part.
            frag_key.append((row, (6, tuple(src6[k].tolist()), tuple(dst6[k].tolist()), idv),
                             (fov >> 3) * 8, bool(fov & 1), nhv))
    # Rows whose IP header was unusable get no l4.
    bad_rows = error != 0
    snap_keep = (error == NetError.SNAPLEN) & (l4 >= 0)
    l4[bad_rows & ~snap_keep] = -1
    return _IP(ipver, traffic_class, proto, l4, l4_wire, l4_cap, src4, dst4, v6_rows, src6, dst6,
               np.flatnonzero(is_frag), frag_key, error)


# --- fragments, transport, addresses -----------------------------------------------------------------------------


class Reassembler:
    """IP fragment reassembly (RFC 791 §3.2, RFC 8200 §4.5), carried from batch to batch.

    Per-packet Python: fragments are rare.  A datagram is rebuilt in the frame that completes it; the other
    fragments are marked with that frame's number.  Fragments of a datagram that never completes within
    MAX_AGE_FRAMES frames (or by the end of the capture) are reported by `expire`/`finish`.
    """

    MAX_AGE_FRAMES = 100_000

    def __init__(self):
        self.pending: dict = {}  # key -> {"frames": [...], "pieces": {offset: bytes}, "total": int|None, ...}
        self.completed: dict[int, int] = {}  # fragment frame number -> frame number that completed it
        self.incomplete: list[int] = []  # fragment frame numbers whose datagram never completed
        self.conflicts: set[int] = set()

    def add(self, frame: int, key, frag_off: int, more: bool, data: bytes | None, proto_hint) -> bytes | None:
        """Add one fragment; returns the datagram (and records who completed it) when this one completes it."""
        group = self.pending.get(key)
        if group is None:
            group = self.pending[key] = {"frames": [], "pieces": {}, "total": None, "proto": None, "first": frame}
        group["frames"].append(frame)
        if data is None:  # cut by snaplen: this datagram cannot be rebuilt
            group["broken"] = True
            return None
        old = group["pieces"].get(frag_off)
        if old is not None and old != data:
            group["conflict"] = True
        group["pieces"][frag_off] = data
        if frag_off == 0:
            group["proto"] = proto_hint
        if not more:
            group["total"] = frag_off + len(data)
        total = group["total"]
        if group.get("broken") or total is None or not _covers(group["pieces"], total):
            return None
        datagram = bytearray(total)
        written = 0  # the end of what earlier pieces (in offset order) wrote: one of them covers [off, written)
        for off, piece in sorted(group["pieces"].items()):
            piece = piece[: max(0, total - off)]
            overlap = min(written, off + len(piece)) - off
            if overlap > 0 and datagram[off : off + overlap] != piece[:overlap]:
                group["conflict"] = True  # overlapping fragments that disagree (RFC 5722 for IPv6; an attack)
            datagram[off : off + len(piece)] = piece
            written = max(written, off + len(piece))
        for f in group["frames"]:
            self.completed[f] = frame
        if group.get("conflict"):
            self.conflicts.add(frame)
        del self.pending[key]
        return bytes(datagram)

    def expire(self, current_frame: int, final: bool = False) -> None:
        for key in list(self.pending):
            group = self.pending[key]
            if final or current_frame - group["first"] > self.MAX_AGE_FRAMES:
                self.incomplete.extend(group["frames"])
                del self.pending[key]


def _reassemble(batch: FrameBatch, ip: "_IP", fragments: Reassembler):
    """Feed this batch's fragments to the reassembler; rebuilt datagrams go to an extra area of the batch."""
    src = batch.source
    n = len(batch)
    fragment = np.zeros(n, dtype=bool)
    reassembled_in = np.zeros(n, dtype=np.int64)
    if not ip.frag_key:
        return b"", fragment, reassembled_in
    extra = bytearray()
    for row, key, frag_off, more, proto_hint in ip.frag_key:
        fragment[row] = True
        frame = batch.first_frame + row
        data = None
        if ip.l4[row] >= 0 and ip.l4_cap[row] >= ip.l4_wire[row]:
            data = src.bytes_at(int(ip.l4[row]), int(ip.l4_cap[row]))
        datagram = fragments.add(frame, key, frag_off, more, data, proto_hint)
        if datagram is None:
            continue
        if key[0] == 4:
            payload, proto = datagram, key[3]
        else:
            payload, proto = _skip_v6_ext(datagram, proto_hint if proto_hint is not None else IPV6_NO_NEXT)
        fragment[row] = False
        ip.proto[row] = proto
        ip.l4[row] = EXTRA + len(extra)
        ip.l4_wire[row] = len(payload)
        ip.l4_cap[row] = len(payload)
        if frame in fragments.conflicts:
            ip.error[row] = NetError.FRAGMENT_CONFLICT
        extra += payload
    for row in np.flatnonzero(fragment).tolist():
        done = fragments.completed.get(batch.first_frame + row)
        if done is not None:
            reassembled_in[row] = done
    return bytes(extra), fragment, reassembled_in


def _covers(pieces: dict[int, bytes], total: int) -> bool:
    reach = 0
    for frag_off, data in sorted(pieces.items()):
        if frag_off > reach:
            return False
        reach = max(reach, frag_off + len(data))
    return reach >= total


def _skip_v6_ext(payload: bytes, nh: int) -> tuple[bytes, int]:
    pos = 0
    for _ in range(8):
        if nh not in IPV6_EXTENSION_HEADERS or pos + 8 > len(payload):
            break
        length = (payload[pos + 1] + 2) * 4 if nh == 51 else (payload[pos + 1] + 1) * 8
        nh = payload[pos]
        pos += length
    return payload[pos:], nh


def _finish(batch: FrameBatch, ip: _IP, snapped, book: AddressBook, fragments: Reassembler, in_order) -> NetLayer:
    if in_order is None:
        extra, fragment, reassembled_in = _reassemble(batch, ip, fragments)
    else:
        with in_order(bool(ip.frag_key)):
            extra, fragment, reassembled_in = _reassemble(batch, ip, fragments)
    src = batch.source.with_extra(extra) if extra else batch.source
    n = len(batch)
    error = ip.error
    has_l4 = (ip.l4 >= 0) & ~fragment
    proto = ip.proto
    transport = np.zeros(n, dtype=np.uint8)
    transport[ip.ipver > 0] = Transport.OTHER
    transport[fragment] = Transport.NONE
    sport = np.full(n, -1, dtype=np.int32)
    dport = np.full(n, -1, dtype=np.int32)
    payload_off = np.full(n, -1, dtype=np.int64)
    payload_len = np.full(n, -1, dtype=np.int32)
    payload_cap = np.zeros(n, dtype=np.int32)
    icmp_type = np.full(n, -1, dtype=np.int16)
    icmp_code = np.full(n, -1, dtype=np.int16)

    def transport_header(number, kind, fixed, invalid):
        """The rows of IP protocol `number` (their transport is `kind`), where their headers start, the bytes
        captured and on the wire, and which hold the `fixed` header (the others are `invalid`, or cut by the
        snaplen)."""
        rows = np.flatnonzero(has_l4 & (proto == number))
        transport[rows] = kind
        capb = ip.l4_cap[rows]
        ok = capb >= fixed
        error[rows[~ok]] = np.where(snapped[rows[~ok]], NetError.SNAPLEN, invalid)
        return rows, ip.l4[rows], capb, ip.l4_wire[rows], ok

    # UDP
    u, a, capb, wire, ok = transport_header(IPPROTO_UDP, Transport.UDP, 8, NetError.UDP_TRUNCATED)
    cur = src.at(a, ok)
    sport[u[ok]] = cur.be16(0)[ok]
    dport[u[ok]] = cur.be16(2)[ok]
    ulen = cur.be16(4).astype(np.int64)
    bad_len = ok & ((ulen < 8) | (ulen > wire))
    error[u[bad_len & (error[u] == 0)]] = NetError.UDP_LENGTH
    plen = np.where(bad_len, wire - 8, ulen - 8)
    payload_off[u[ok]] = a[ok] + 8
    payload_len[u[ok]] = plen[ok]
    payload_cap[u[ok]] = np.clip(np.minimum(plen[ok], capb[ok] - 8), 0, None)
    snap_cut = ok & (capb - 8 < plen)
    error[u[snap_cut & (error[u] == 0)]] = NetError.SNAPLEN

    # TCP
    t, a, capb, wire, ok = transport_header(IPPROTO_TCP, Transport.TCP, 20, NetError.TCP_INVALID)
    doff = (src.u8(a + 12, ok) >> 4).astype(np.int64) * 4
    bad = ok & ((doff < 20) | (doff > wire))
    error[t[bad]] = NetError.TCP_INVALID
    ok_ports = ok
    sport[t[ok_ports]] = src.be16(a[ok_ports])
    dport[t[ok_ports]] = src.be16(a[ok_ports] + 2)
    tcp_seq = np.zeros(n, dtype=np.uint32)
    tcp_flags = np.zeros(n, dtype=np.uint8)
    tcp_seq[t[ok]] = src.be32(a[ok] + 4)
    tcp_flags[t[ok]] = src.u8(a[ok] + 13)
    okp = ok & ~bad
    payload_off[t[okp]] = a[okp] + doff[okp]
    payload_len[t[okp]] = wire[okp] - doff[okp]
    payload_cap[t[okp]] = np.clip(capb[okp] - doff[okp], 0, None)
    short_hdr = okp & (capb < doff)
    error[t[short_hdr & (error[t] == 0)]] = NetError.SNAPLEN

    # ICMP / ICMPv6
    icmp_quoted: dict[int, str] = {}
    for proto_no, kind in ((IPPROTO_ICMP, Transport.ICMP), (IPPROTO_ICMPV6, Transport.ICMPV6)):
        rows = np.flatnonzero(has_l4 & (proto == proto_no) & (ip.ipver == (4 if kind == Transport.ICMP else 6)))
        transport[rows] = kind
        okr = ip.l4_cap[rows] >= 4
        icmp_type[rows[okr]] = src.u8(ip.l4[rows[okr]])
        icmp_code[rows[okr]] = src.u8(ip.l4[rows[okr]] + 1)
        errors_v4 = (3, 4, 5, 11, 12)
        errors_v6 = (1, 2, 3, 4)
        for row in rows[okr].tolist():
            if icmp_type[row] in (errors_v4 if kind == Transport.ICMP else errors_v6):
                quoted = src.bytes_at(int(ip.l4[row]) + 8, max(int(ip.l4_cap[row]) - 8, 0))
                text = describe_quoted(quoted)
                if text:
                    icmp_quoted[row] = text

    src_code, dst_code = _intern_addresses(ip, book)
    addresses = book.names
    return NetLayer(
        source=src, ip_version=ip.ipver, traffic_class=ip.traffic_class, ip_proto=proto, src=src_code, dst=dst_code,
        addresses=addresses,
        transport=transport, sport=sport, dport=dport, payload_off=payload_off, payload_len=payload_len,
        payload_cap=payload_cap, error=error, fragment=fragment, reassembled_in=reassembled_in,
        icmp_type=icmp_type, icmp_code=icmp_code, icmp_quoted=icmp_quoted, tcp_seq=tcp_seq, tcp_flags=tcp_flags,
    )


def _intern_addresses(ip: _IP, book: AddressBook):
    """Per-row int32 address codes (-1 where the frame has no IP addresses)."""
    n = len(ip.ipver)
    src_code = np.full(n, -1, dtype=np.int32)
    dst_code = np.full(n, -1, dtype=np.int32)
    has_ip = (ip.l4 >= 0) | ip_header_read(ip)
    v4 = np.flatnonzero((ip.ipver == 4) & has_ip)
    if len(v4):
        codes = book.codes_v4(np.concatenate([ip.src4[v4], ip.dst4[v4]]))
        src_code[v4] = codes[: len(v4)]
        dst_code[v4] = codes[len(v4) :]
    rows6 = ip.v6_rows
    if len(rows6):
        keep = has_ip[rows6]
        rows6 = rows6[keep]
        if len(rows6):
            codes = book.codes_v6(np.concatenate([ip.src6[keep], ip.dst6[keep]]))
            src_code[rows6] = codes[: len(rows6)]
            dst_code[rows6] = codes[len(rows6) :]
    return src_code, dst_code


def ip_header_read(ip: _IP) -> np.ndarray:
    """Rows whose IP addresses were read (even when the rest of the packet was unusable)."""
    out = np.zeros(len(ip.ipver), dtype=bool)
    out[np.flatnonzero(ip.proto)] = True
    return out
