"""Which UDP flows carry WebRTC, and what each of their datagrams is (RFC 7983 / RFC 9443 first-byte ranges).

Strategy: first bytes alone collide with other protocols (a DNS id, an NTP header, a QUIC short header fall in the
same ranges), so classification is per flow.  A bidirectional UDP flow counts as WebRTC when it shows evidence:
an RFC 8489 STUN message (magic cookie, length matching the datagram), a DTLS handshake record, a run of RTP packets
with one SSRC and advancing sequence numbers (or, when the path reorders them, a dense set of them), or RTCP compounds
whose lengths chain exactly.  Only then are its
datagrams classified by first byte; every datagram of any other flow is "other".  Users can force flows either way.
The header decoding this needs is done by the protocol modules and handed in; this module only decides.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import IntEnum
from typing import Iterable

import numpy as np
import pandas as pd

from .layers import Transport


class Kind(IntEnum):
    """Values of the `kind` column (KIND_NAMES gives the strings)."""

    OTHER = 0
    STUN = 1
    DTLS = 2
    RTP = 3
    RTCP = 4
    TURN_CHANNEL = 5
    ZRTP = 6
    TCP = 7
    ICMP = 8
    NON_IP = 9
    IP_FRAGMENT = 10
    QUIC = 11  # a UDP flow that is not WebRTC but carries a QUIC client Initial (RFC 9000 §17.2.2, RFC 9443)


KIND_NAMES = ["other", "stun", "dtls", "rtp", "rtcp", "turn-channel", "zrtp", "tcp", "icmp", "non-ip", "ip-fragment",
              "quic"]


class Evidence(IntEnum):
    """Why a flow was taken as WebRTC (values of the `evidence` column), strongest first."""

    NONE = 0
    FORCED = 1
    STUN = 2
    DTLS = 3
    RTP = 4
    RTCP = 5


EVIDENCE_NAMES = ["", "forced", "stun", "dtls", "rtp", "rtcp"]

# A run of RTP needs this many packets of one SSRC in one direction, most of them one small step apart.
# Repeats (step 0: duplicates, RFC 4733 event end packets) count neither way.
RTP_MIN_PACKETS = 5
RTP_MAX_STEP = 1000
RTP_MAX_BAD_STEP_SHARE = 0.2
# Or, judged by the set rather than by the order (a path that reorders heavily sends half the steps backwards): the
# distinct sequence numbers, unwrapped, span at most this many times their count (a stream losing up to 3 in 4).
# Random 16-bit values unwrap into a random walk whose span grows as ~19000 * sqrt(n), never this dense.
RTP_MAX_SPREAD_PER_PACKET = 4
# RTCP: two datagrams whose sub-packet lengths chain exactly, or one that chains through two sub-packets or more.
RTCP_MIN_EXACT = 2
ZRTP_MAGIC_COOKIE = 0x5A525450  # RFC 6189 §5: "ZRTP" at bytes 4..7


def first_byte_kind(first: np.ndarray, second: np.ndarray, has_cookie: np.ndarray,
                    has_zrtp_cookie: np.ndarray) -> np.ndarray:
    """RFC 7983 §7 (as updated by RFC 9443) ranges, RTP vs RTCP by RFC 5761 §4.

    STUN (0..3) only with the RFC 8489 magic cookie, so classic RFC 3489 STUN is not taken for it; ZRTP (16..19)
    only with the ZRTP magic cookie.
    """
    kind = np.full(len(first), Kind.OTHER, dtype=np.uint8)
    kind[(first <= 3) & has_cookie] = Kind.STUN
    kind[(first >= 16) & (first <= 19) & has_zrtp_cookie] = Kind.ZRTP
    kind[(first >= 20) & (first <= 63)] = Kind.DTLS
    kind[(first >= 64) & (first <= 79)] = Kind.TURN_CHANNEL
    media = (first >= 128) & (first <= 191)
    rtcp = media & ((second & 0x7F) >= 64) & ((second & 0x7F) <= 95)
    kind[media & ~rtcp] = Kind.RTP
    kind[rtcp] = Kind.RTCP
    return kind


@dataclass
class FlowRule:
    """Force flows touching an endpoint to be WebRTC (`webrtc=True`) or not: `port`, optionally with `address`."""

    port: int
    address: str | None
    webrtc: bool

    @classmethod
    def parse(cls, spec, webrtc: bool) -> "FlowRule":
        """From 5004, "5004", "10.0.0.1:5004", "[::1]:5004" or ("10.0.0.1", 5004)."""
        if isinstance(spec, tuple):
            address, port = spec
            return cls(int(port), str(address), webrtc)
        if isinstance(spec, int):
            return cls(spec, None, webrtc)
        text = str(spec).strip()
        if text.isdigit():
            return cls(int(text), None, webrtc)
        host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError(f"flow rule {spec!r}: expected PORT, ADDRESS:PORT or [IPv6]:PORT")
        return cls(int(port), host.strip("[]"), webrtc)


@dataclass
class Endpoints:
    """Per-frame network facts the demultiplexer needs (parallel arrays over the frames)."""

    transport: np.ndarray  # uint8 net.Transport
    src: np.ndarray  # address code (int16 or int32), -1 none
    sport: np.ndarray  # uint16 (0 where has_ports is False)
    dst: np.ndarray
    dport: np.ndarray
    has_ports: np.ndarray  # bool: the frame has a UDP or TCP header
    ip_version: np.ndarray  # uint8
    fragment: np.ndarray  # bool
    addresses: list[str]


@dataclass
class Demux:
    """The demultiplexer's verdict per frame (arrays over the batch) and per flow."""

    kind: np.ndarray  # uint8 Kind
    flow: np.ndarray  # int32 flow id, -1 for frames without ports
    evidence: np.ndarray  # uint8 Evidence of the frame's flow
    first_byte: np.ndarray | None  # int16, -1 where no payload; None when the caller did not give it


_KEY_STEP = 1 << 16


def flows(net: Endpoints) -> np.ndarray:
    """Bidirectional flow id per frame (int32, -1 without ports): same transport, same two address:port ends.

    Flows are numbered in order of first appearance, like Wireshark's stream indexes.
    """
    n = len(net.transport)
    flow = np.full(n, -1, dtype=np.int32)
    has = net.has_ports & (net.src >= 0)
    if not has.any():
        return flow
    span = (len(net.addresses) + 1) * 65536
    if span * span * 8 >= 2**62:
        return _flows_wide(net, has, flow)
    # A slice at a time, so that the temporaries stay small; ids are handed out in order of first appearance.
    ids: dict[int, int] = {}
    for lo in range(0, n, _KEY_STEP):
        sl = slice(lo, lo + _KEY_STEP)
        a = net.src[sl].astype(np.int64) * 65536 + net.sport[sl]
        b = net.dst[sl].astype(np.int64) * 65536 + net.dport[sl]
        key = (net.transport[sl].astype(np.int64) * span + np.minimum(a, b)) * span + np.maximum(a, b)
        key = np.where(has[sl], key, -1)
        codes, uniq = pd.factorize(key)  # numbered in order of first appearance within the slice
        table = np.empty(len(uniq), dtype=np.int32)
        for j, k in enumerate(uniq.tolist()):
            table[j] = -1 if k < 0 else ids.setdefault(k, len(ids))
        flow[sl] = table[codes]
    return flow


def _flows_wide(net: Endpoints, has: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """flows() for captures with so many addresses that a flow key does not fit 63 bits."""
    rows = np.flatnonzero(has)
    a = net.src[rows].astype(np.int64) * 65536 + net.sport[rows]
    b = net.dst[rows].astype(np.int64) * 65536 + net.dport[rows]
    stacked = np.stack([net.transport[rows].astype(np.int64), np.minimum(a, b), np.maximum(a, b)], axis=1)
    _, first, inv = np.unique(stacked, axis=0, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    flow[rows] = rank[inv.reshape(-1)]
    return flow


def rtp_run_rows(direction: np.ndarray, ssrc: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """Which rows belong to a run of RTP: one direction of one flow, one SSRC, advancing sequence numbers.

    `direction` is any int64 key that is equal for packets from the same source to the same destination; the rows
    must be in capture order.  A run has RTP_MIN_PACKETS packets or more, and either at least RTP_MIN_PACKETS - 1
    steps of 1..RTP_MAX_STEP and at most RTP_MAX_BAD_STEP_SHARE of larger steps (repeats count neither way), or
    (reordered packets) RTP_MIN_PACKETS distinct sequence numbers or more whose span, unwrapped step by step (RFC 3550
    A.1: a step is taken as the shortest way round the 16-bit circle), is at most RTP_MAX_SPREAD_PER_PACKET times
    their count.
    """
    n = len(direction)
    if n < RTP_MIN_PACKETS:
        return np.zeros(n, dtype=bool)
    order = np.lexsort((ssrc, direction))  # stable: capture order within a group
    d = direction[order]
    x = ssrc[order]
    s = seq[order].astype(np.int32)
    same = (d[1:] == d[:-1]) & (x[1:] == x[:-1])
    step = (s[1:] - s[:-1]) % 65536
    good = same & (step >= 1) & (step <= RTP_MAX_STEP)
    bad = same & (step > RTP_MAX_STEP)
    starts = np.concatenate([[0], np.flatnonzero(~same) + 1])
    counts = np.diff(np.concatenate([starts, [n]]))
    group = np.repeat(np.arange(len(starts)), counts)  # group of each sorted row
    good_n = np.bincount(group[1:][good], minlength=len(starts))
    bad_n = np.bincount(group[1:][bad], minlength=len(starts))
    in_order = ((counts >= RTP_MIN_PACKETS) & (good_n >= RTP_MIN_PACKETS - 1)
                & (bad_n <= RTP_MAX_BAD_STEP_SHARE * (counts - 1)))
    qualifies = in_order | _dense_seq_sets(s, same, starts, counts, group)
    out = np.zeros(n, dtype=bool)
    out[order] = qualifies[group]
    return out


def _dense_seq_sets(seq: np.ndarray, same: np.ndarray, starts: np.ndarray, counts: np.ndarray,
                    group: np.ndarray) -> np.ndarray:
    """Per group of `rtp_run_rows` (rows sorted by group, capture order within): are its sequence numbers, unwrapped
    step by step, a set of RTP_MIN_PACKETS distinct values or more spanning at most RTP_MAX_SPREAD_PER_PACKET times
    their count?  Order inside the set does not matter, so reordering does not hide a stream."""
    step = np.zeros(len(seq), dtype=np.int64)
    step[1:] = np.where(same, (seq[1:] - seq[:-1] + 32768) % 65536 - 32768, 0)
    ext = np.cumsum(step)  # relative to the group's first packet once the group's offset is taken away
    ext -= ext[starts][group]
    lo = np.minimum.reduceat(ext, starts)
    hi = np.maximum.reduceat(ext, starts)
    order = np.lexsort((ext, group))
    e, g = ext[order], group[order]
    new_value = np.ones(len(e), dtype=bool)
    new_value[1:] = (e[1:] != e[:-1]) | (g[1:] != g[:-1])
    distinct = np.bincount(g[new_value], minlength=len(starts))
    return ((counts >= RTP_MIN_PACKETS) & (distinct >= RTP_MIN_PACKETS)
            & (hi - lo + 1 <= RTP_MAX_SPREAD_PER_PACKET * distinct))


def decide(net: Endpoints, flow: np.ndarray, first_byte_kinds: np.ndarray, stun_evidence: np.ndarray,
           dtls_evidence: np.ndarray, rtp_evidence: np.ndarray, rtcp_exact_rows: np.ndarray, rtcp_multi_rows: np.ndarray, rules: Iterable[FlowRule] = (), first_byte: np.ndarray | None = None,
           quic_evidence: np.ndarray | None = None) -> Demux:
    """Combine the evidence into per-flow verdicts and per-frame kinds.

    `first_byte_kinds` is first_byte_kind() for every UDP frame with a payload (OTHER elsewhere); `stun_evidence`,
    `dtls_evidence`, `rtp_evidence` (rtp_run_rows) are per-frame booleans; `rtcp_exact_rows` the frames whose RTCP compound chained exactly, and
    `rtcp_multi_rows` those of them with two sub-packets or more.  `quic_evidence` (per-frame booleans, QUIC client
    Initials): every UDP frame of a flow that has one and no WebRTC evidence is of kind quic, not other.
    """
    n = len(flow)
    n_flows = int(flow.max()) + 1 if n and flow.max() >= 0 else 0
    flow_evidence = np.zeros(n_flows, dtype=np.uint8)
    udp = net.transport == Transport.UDP

    def mark(flow_ids: np.ndarray, ev: Evidence):
        flow_ids = flow_ids[flow_ids >= 0]
        unset = flow_evidence[flow_ids] == 0
        flow_evidence[flow_ids[unset]] = ev

    mark(np.unique(flow[stun_evidence & udp]), Evidence.STUN)
    mark(np.unique(flow[dtls_evidence & udp]), Evidence.DTLS)
    mark(np.unique(flow[rtp_evidence & udp]), Evidence.RTP)
    if len(rtcp_exact_rows):
        per_flow = np.bincount(flow[rtcp_exact_rows][flow[rtcp_exact_rows] >= 0], minlength=n_flows)
        mark(np.flatnonzero(per_flow >= RTCP_MIN_EXACT), Evidence.RTCP)
        mark(np.unique(flow[rtcp_multi_rows]), Evidence.RTCP)

    for rule in rules:
        hit = udp & (flow >= 0) & ((net.sport == rule.port) | (net.dport == rule.port))
        if rule.address is not None:
            try:
                code = net.addresses.index(_normal_address(rule.address))
            except ValueError:
                code = -2
            hit &= ((net.src == code) & (net.sport == rule.port)) | ((net.dst == code) & (net.dport == rule.port))
        ids = np.unique(flow[hit])
        flow_evidence[ids] = Evidence.FORCED if rule.webrtc else Evidence.NONE
        if not rule.webrtc:
            flow_evidence[ids] = Evidence.NONE

    evidence = np.zeros(n, dtype=np.uint8)
    has_flow = flow >= 0
    evidence[has_flow] = flow_evidence[flow[has_flow]]
    kind = np.full(n, Kind.OTHER, dtype=np.uint8)
    webrtc_udp = udp & (evidence != 0)
    kind[webrtc_udp] = first_byte_kinds[webrtc_udp]
    if quic_evidence is not None and quic_evidence.any():
        quic_flow = np.zeros(n_flows + 1, dtype=bool)  # the extra last slot is indexed by flow -1
        quic_flow[flow[quic_evidence & udp & has_flow]] = True
        quic_flow[-1] = False
        kind[udp & (evidence == 0) & quic_flow[flow]] = Kind.QUIC
    kind[net.transport == Transport.TCP] = Kind.TCP
    kind[(net.transport == Transport.ICMP) | (net.transport == Transport.ICMPV6)] = Kind.ICMP
    kind[net.ip_version == 0] = Kind.NON_IP
    kind[net.fragment] = Kind.IP_FRAGMENT
    return Demux(kind, flow, evidence, first_byte)


def _normal_address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text
