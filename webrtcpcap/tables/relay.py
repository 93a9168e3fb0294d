"""TURN relays (RFC 8656) and TCP streams: the datagrams that ChannelData messages and Send/Data indications carry,
and the messages framed out of TCP (RFC 4571, RFC 6544), become rows of the stun, rtp, rtcp and dtls tables next to
the direct ones, with the relayed, relay and peer columns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..io import buffer
from ..io.errors import DecodeError
from ..net import demux, tcp
from ..net.layers import endpoint
from ..net.demux import Kind
from ..protocols import rtcp, rtp, stun
from . import schema as tables
from .rtcp_rows import srtcp_trailer

TCP_SYN = 0x02  # RFC 9293 §3.1

# -- TURN relays (RFC 8656) -------------------------------------------------------------------------------------

@dataclass
class Relay:
    """The relayed, relay and peer columns of some table rows: codes into Inner's relay_names and peer_names."""

    relayed: np.ndarray
    relay: np.ndarray
    peer: np.ndarray

    @staticmethod
    def direct(n: int) -> "Relay":
        return Relay(np.zeros(n, dtype=bool), np.full(n, -1, dtype=np.int8), np.full(n, -1, dtype=np.int8))

    def append(self, other: "Relay", order: np.ndarray) -> "Relay":
        return Relay(*(np.concatenate([a, b])[order] for a, b in ((self.relayed, other.relayed),
                                                                      (self.relay, other.relay),
                                                                      (self.peer, other.peer))))

    def columns(self, inner: "Inner | None") -> dict:
        relay_names, peer_names = (inner.relay_names, inner.peer_names) if inner is not None else ([], [])
        return {"relayed": self.relayed, "relay": tables.categorical(self.relay, relay_names),
                "peer": tables.categorical(self.peer, peer_names)}


@dataclass
class Inner:
    """The datagrams that TURN ChannelData and Send/Data indications carry, demultiplexed again and decoded, and
    the messages framed out of TCP streams (relay code -1: direct).

    Each inner datagram has its outer frame's row (`rows`), a relay code ("channel 0x4000", "send", "data"; -1
    for a direct message from TCP) and a peer code ("ip:port", -1 unknown).  The per-table parts name the inner datagram of each of their rows (`*_index`)
    and the outer row it came in (`*_rows`)."""

    rows: np.ndarray
    relay: np.ndarray
    peer: np.ndarray
    relay_names: list[str]
    peer_names: list[str]
    stun_rows: np.ndarray
    stun_index: np.ndarray
    stun_payloads: list[bytes]
    rtp_rows: np.ndarray
    rtp_index: np.ndarray
    rtp_hdr: dict
    rtp_dtls: np.ndarray
    rtp_framed: dict  # position in rtp_rows -> packet bytes, for RTP framed out of a TCP stream (not re-readable)
    rtcp_rows: np.ndarray
    rtcp_index: np.ndarray
    rtcp_sub: dict
    rtcp_status: np.ndarray
    rtcp_dtls: np.ndarray
    dtls_rows: np.ndarray
    dtls_index: np.ndarray
    dtls_payloads: list[bytes]
    rtcp_dg_rows: np.ndarray  # one per inner RTCP datagram (rtcp_rows has one per sub-packet)
    rtcp_dg_index: np.ndarray
    rtcp_dg_payloads: list[bytes]
    rtcp_dg_srtcp: np.ndarray | None = None  # per inner RTCP datagram: SRTCP, only its first header readable
    problems: dict = field(default_factory=dict)  # error message -> outer rows whose TURN framing did not decode

    @staticmethod
    def empty(problems: dict) -> "Inner":
        """No inner datagram, only outer rows whose TURN framing did not decode."""
        none = np.zeros(0, dtype=np.int64)
        src = buffer.ByteSource(np.zeros(0, dtype=np.uint8), none)
        return _merged([_Found(none, none, [], none, [], decode_inner(src, none, none, none), None)], none, 0,
                       problems)

    def relay_of(self, index: np.ndarray) -> Relay:
        return Relay(self.relay[index] >= 0, self.relay[index], self.peer[index])


def merged_order(direct_rows: np.ndarray, inner_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Direct and inner rows in capture order (an outer message before what it carries): (rows, permutation)."""
    rows = np.concatenate([direct_rows, inner_rows]).astype(np.int64)
    order = np.argsort(rows, kind="stable")
    return rows[order], order


def frame_tcp(f, kind: np.ndarray, addresses: list[str], streams: dict,
               first_frame: int) -> tuple[list, np.ndarray]:
    """Follow every TCP direction with data and cut STUN, ChannelData and RFC 4571-framed messages out of it (see
    webrtcpcap.net.tcp); streams whose start is neither are left alone.  Returns the messages in capture order and the
    `kind` column for the packets table, where a segment that completed messages takes the first one's kind.
    Stream state lives in `streams` so that a stream continues into the next chunk (iter_chunks)."""
    kind_out = kind
    messages: list[tcp.Message] = []
    for r in sorted(f.tcp_segments):
        seq, flags, data, whole = f.tcp_segments[r]
        key = (addresses[f.src[r]], int(f.sport[r]), addresses[f.dst[r]], int(f.dport[r]))
        stream = streams.get(key)
        if stream is None:
            stream = streams[key] = tcp.Stream()
        messages += stream.feed(r, seq, data, whole, syn=bool(flags & TCP_SYN), frame=first_frame + r)
    f.tcp_segments.clear()
    for stream in streams.values():
        if stream.pending:
            stream.forget_rows()
    if messages:
        kind_out = kind.copy()
        first = {}
        for m in messages:
            first.setdefault(m.row, m.data)
        rows = np.fromiter(first, dtype=np.int64, count=len(first))
        datas = list(first.values())
        b0 = np.array([d[0] if d else 0 for d in datas], dtype=np.uint8)
        b1 = np.array([d[1] if len(d) > 1 else 0 for d in datas], dtype=np.uint8)
        word1 = np.array([int.from_bytes(d[4:8], "big") if len(d) >= 8 else 0 for d in datas], dtype=np.uint32)
        framed = demux.first_byte_kind(b0, b1, word1 == stun.STUN_MAGIC_COOKIE, word1 == demux.ZRTP_MAGIC_COOKIE)
        kind_out[rows] = np.where(framed == Kind.OTHER, Kind.TCP, framed)
    return messages, kind_out


@dataclass
class InnerPart:
    """Inner datagrams decoded at once, vectorised (`decode_inner`): their kind (RFC 7983 first byte), the RTP
    headers of the RTP ones, the RTCP compound walk of the RTCP ones, and where the bytes of the other kinds lie.
    Indexes are into this part's datagrams."""

    kind: np.ndarray
    rtp_index: np.ndarray
    rtp_hdr: dict
    rtcp_index: np.ndarray
    rtcp_sub: dict  # rtcp.walk_compound's columns, `datagram` indexing rtcp_index
    rtcp_status: np.ndarray
    rtcp_trailer: np.ndarray  # the bytes end like SRTCP (srtcp_trailer)
    copy_index: np.ndarray  # the STUN, DTLS and RTCP ones: their bytes are copied when the tables want them
    copy_pos: np.ndarray  # absolute file offset, or -1: the bytes are in copy_extra
    copy_len: np.ndarray
    copy_extra: dict  # index -> bytes, for datagrams in a slice's extra area (reassembled from IP fragments)

    def payloads(self, data: np.ndarray, index: np.ndarray) -> list[bytes]:
        """The captured bytes of the datagrams at `index` (all among copy_index)."""
        at = np.searchsorted(self.copy_index, index)
        mem = memoryview(data) if data is not None else None
        return [self.copy_extra[i] if p < 0 else bytes(mem[p:p + c])
                for i, p, c in zip(index.tolist(), self.copy_pos[at].tolist(), self.copy_len[at].tolist())]


def decode_inner(src: buffer.ByteSource, off: np.ndarray, cap: np.ndarray, wire: np.ndarray) -> InnerPart:
    """Demultiplex and decode the datagrams at virtual offsets `off` of `src` (`cap` captured bytes each, `wire` on
    the wire) as direct ones are: the kind by the first byte alone (RFC 7983; inside an allocation the relay's client
    is a WebRTC agent), RTP headers and RTCP compounds vectorised.  Nothing is copied."""
    valid = cap >= 1
    cur = src.at(off, valid)
    first = cur.u8(0)
    second = np.where(cap >= 2, src.u8(off + 1, cap >= 2), 0)
    word1 = np.where(cap >= 8, src.be32(off + 4, cap >= 8), 0)
    kind = demux.first_byte_kind(first, second, word1 == stun.STUN_MAGIC_COOKIE, word1 == demux.ZRTP_MAGIC_COOKIE)
    kind[~valid] = Kind.OTHER
    rtp_index = np.flatnonzero(kind == Kind.RTP)
    if len(rtp_index):
        hdr = rtp.decode_headers(src, off[rtp_index], cap[rtp_index], wire[rtp_index])
        hdr = {k: hdr[k] for k in rtp.HEADER_FIELDS}
    else:
        hdr = rtp.empty_headers()
    rtcp_index = np.flatnonzero(kind == Kind.RTCP)
    sub, status = rtcp.walk_compound(src, off[rtcp_index], cap[rtcp_index], wire[rtcp_index])
    trailer = srtcp_trailer(src, off[rtcp_index], cap[rtcp_index], wire[rtcp_index], sub)
    copy_index = np.flatnonzero(np.isin(kind, (Kind.STUN, Kind.DTLS, Kind.RTCP)))
    in_file = off[copy_index] < buffer.EXTRA
    copy_pos = np.full(len(copy_index), -1, dtype=np.int64)
    copy_pos[in_file] = src.absolute(off[copy_index][in_file])
    extra = {int(i): src.bytes_at(int(o), int(c))
             for i, o, c in zip(copy_index[~in_file].tolist(), off[copy_index][~in_file].tolist(),
                                cap[copy_index][~in_file].tolist())}
    return InnerPart(kind, rtp_index, hdr, rtcp_index, sub, status, trailer, copy_index, copy_pos,
                     cap[copy_index].astype(np.int64), extra)


@dataclass
class ChannelPart:
    """The UDP datagrams of one slice whose first byte says ChannelData (RFC 8656 §12.4), read in the slice
    (pipeline._keep_slice): whether the header holds, the channel, and the application data decoded as inner."""

    rows: np.ndarray  # outer rows
    channel: np.ndarray
    cap: np.ndarray  # captured bytes of the whole outer payload
    problem: np.ndarray  # 0 fine, _TRUNCATED, _OVERRUNS
    inner_cap: np.ndarray  # captured bytes of the application data
    inner: InnerPart  # the datagrams of the rows without a problem and with application data (`carried`)
    carried: np.ndarray  # indexes into rows


_TRUNCATED, _OVERRUNS = 1, 2


def channel_part(src: buffer.ByteSource, rows: np.ndarray, off: np.ndarray, cap: np.ndarray,
                 wire: np.ndarray) -> ChannelPart:
    """ChannelData headers (channel number, length) of many UDP payloads at once, as stun.channel_data checks them
    (padding is optional over UDP), and what their application data holds (decode_inner)."""
    has_header = cap >= stun.CHANNEL_DATA_HEADER_LEN
    channel = src.be16(off, has_header)
    length = src.be16(off + 2, has_header).astype(np.int64)
    problem = np.where(~has_header, _TRUNCATED,
                       np.where(stun.CHANNEL_DATA_HEADER_LEN + length > wire, _OVERRUNS, 0)).astype(np.uint8)
    inner_cap = np.clip(np.minimum(length, cap - stun.CHANNEL_DATA_HEADER_LEN), 0, None)
    # The first byte tells ChannelData (0x40-0x4F), so the channel number is always in 0x4000-0x4FFF.
    carried = np.flatnonzero((problem == 0) & (inner_cap > 0))
    inner = decode_inner(src, off[carried] + stun.CHANNEL_DATA_HEADER_LEN, inner_cap[carried], length[carried])
    return ChannelPart(rows, channel, cap, problem, inner_cap, inner, carried)


@dataclass
class _Found:
    """Inner datagrams of one part, before the parts are put in capture order: their outer rows, relay and peer
    (codes into the names; -1: a direct message from TCP, or an unknown peer), what decode_inner found, and the
    packet bytes of RTP framed out of TCP (index -> bytes)."""

    rows: np.ndarray
    relay: np.ndarray
    relay_names: list
    peer: np.ndarray
    peer_names: list
    decoded: InnerPart
    data: np.ndarray | None  # the bytes decoded.copy_pos points into
    framed_rtp: dict = field(default_factory=dict)


def unwrap(f, kind: np.ndarray, flow: np.ndarray, n_flows: int, addresses: list[str], bindings: dict,
           tcp_messages: list[tcp.Message] = ()) -> Inner | None:
    """Unwrap the frames of kind turn-channel and the STUN Send/Data indications with a DATA attribute; take the
    messages framed out of TCP streams (`tcp_messages`, see frame_tcp) as direct messages of their segment's
    frame, and unwrap those that are TURN relaying as well (TURN over TCP).

    ChannelData over UDP, the bulk of a relayed call, is vectorised: its headers and what it carries were read in
    the slices (channel_part), and each message finds its peer in the last ChannelBind request (CHANNEL-NUMBER,
    XOR-PEER-ADDRESS) sent before it on the same client/server 5-tuple (`bindings`, kept from chunk to chunk) by a
    search over the bindings' rows.  STUN indications, ChannelBind requests and TCP messages are few: they are
    parsed one by one, in capture order.  The inner datagrams are then decoded as direct ones are (decode_inner):
    RTP headers and RTCP compounds vectorised, STUN per message later (stun_tables)."""
    initial = dict(bindings)
    events: dict[tuple, tuple[list[int], list[str]]] = {}  # (5-tuple, channel) -> rows and peers of ChannelBinds
    parts: list[_Found] = []
    problems: dict[str, list[int]] = {}
    messages = _parse_few(f, kind, addresses, bindings, events, problems, tcp_messages)
    if messages is not None:
        parts.append(messages)
    channels = _channel_data(f, kind, addresses, initial, events, problems)
    if channels is not None:
        parts.append(channels)
    problems = {m: sorted(rows) for m, rows in sorted(problems.items(), key=lambda item: min(item[1]))}
    if not parts:
        return Inner.empty(problems) if problems else None
    return _merged(parts, flow, n_flows, problems)


def _five(f, addresses: list[str], r: int) -> tuple:
    a, b = (addresses[f.src[r]], int(f.sport[r])), (addresses[f.dst[r]], int(f.dport[r]))
    return (int(f.transport[r]),) + (a + b if a <= b else b + a)


def _parse_few(f, kind, addresses, bindings, events, problems, tcp_messages) -> _Found | None:
    """The STUN messages that relay (Send/Data indications, ChannelBind requests) and the messages framed out of
    TCP, one by one in capture order; ChannelBinds update `bindings` and are recorded in `events`."""
    # Carriers in capture order: (row, payload, wire length, framed out of TCP?); a TCP segment may hold several.
    # A STUN message type that relays by its first two bytes: cheap, and a capture may hold many Binding messages.
    stun_kind = int(Kind.STUN)
    carriers = [(r, data, len(data), False) for r, data in f.stun_bytes.items()
                if data[:2] in stun.RELAYING_TYPES and kind[r] == stun_kind]
    carriers += [(m.row, m.data, len(m.data), True) for m in tcp_messages]
    if not carriers:
        return None
    carriers.sort(key=lambda c: c[0])  # stable: TCP messages of one segment keep their stream order
    out_rows, out_relay, out_peer, out_data, out_wire, out_framed = [], [], [], [], [], []
    peer_texts: dict[bytes, str] = {}  # XOR-PEER-ADDRESS value -> "ip:port" (a relay talks to few peers)

    def add(r, relay, peer, data, wire, framed):
        out_rows.append(r)
        out_relay.append(relay)
        out_peer.append(peer)
        out_data.append(data)
        out_wire.append(wire)
        out_framed.append(framed)

    for r, payload, payload_wire, framed in carriers:
        if not payload:
            continue
        if framed:  # the message itself is a direct one, over TCP
            add(r, None, None, payload, payload_wire, True)
            if not (0x40 <= payload[0] <= 0x4F or (payload[0] < 4 and stun.is_turn_relaying(payload))):
                continue
        five = _five(f, addresses, r)
        if 0x40 <= payload[0] <= 0x4F:  # ChannelData (RFC 7983 §7), over TCP here
            try:
                channel, data, wire = stun.channel_data(payload, payload_wire)
            except DecodeError as e:
                problems.setdefault(str(e), []).append(r)  # kind turn-channel, but nothing to unwrap: say why
                continue
            relay, peer = f"channel 0x{channel:04x}", bindings.get((five, channel))
        elif (found := _indication(payload, peer_texts)) is not None:  # the common Send/Data indication, walked
            data, peer = found
            if data is None:
                continue
            relay, wire = _INDICATIONS[payload[:2]], len(data)
        else:
            try:
                msg = stun.parse(payload)
            except DecodeError:
                continue
            if msg.method == stun.Method.CHANNEL_BIND:
                channel, peer = msg.get(stun.Attr.CHANNEL_NUMBER), stun.peer_address(msg)
                if channel is not None and peer is not None:
                    bindings[(five, channel)] = peer
                    rows, peers = events.setdefault((five, channel), ([], []))
                    rows.append(r)
                    peers.append(peer)
                continue
            data = msg.get(stun.Attr.DATA)
            if data is None:
                continue
            relay = "send" if msg.method == stun.Method.SEND else "data"
            peer, wire = stun.peer_address(msg), len(data)
        if data:
            add(r, relay, peer, data, wire, framed)
    if not out_rows:
        return None
    cap = np.array([len(d) for d in out_data], dtype=np.int64)
    off = buffer.EXTRA + np.concatenate([[0], np.cumsum(cap)[:-1]]).astype(np.int64)
    joined = np.frombuffer(b"".join(out_data), dtype=np.uint8)
    src = buffer.ByteSource(np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.int64), joined)
    decoded = decode_inner(src, off, cap, np.array(out_wire, dtype=np.int64))
    framed_rtp = {k: out_data[i] for k, i in enumerate(decoded.rtp_index.tolist()) if out_framed[i]}
    return _Found(np.array(out_rows, dtype=np.int64), *_codes(out_relay), *_codes(out_peer), decoded, None,
                  framed_rtp)


_INDICATIONS = {b"\x00\x16": "send", b"\x00\x17": "data"}  # RFC 8656 §18: Send and Data indication types
_COOKIE = stun.STUN_MAGIC_COOKIE.to_bytes(4, "big")
_XOR_PEER_ADDRESS = stun.ATTRIBUTES[stun.Attr.XOR_PEER_ADDRESS][1]


def _indication(payload: bytes, peer_texts: dict) -> tuple[bytes | None, str | None] | None:
    """(DATA, the first XOR-PEER-ADDRESS as "ip:port") of a Send/Data indication that holds those two attributes
    only, as stun.parse would give them, its attributes walked without building a message; None for anything
    else (another type or attribute, a length that does not chain, a value that does not decode): stun.parse
    judges those.  `peer_texts` keeps each address value's text."""
    n = len(payload)
    if payload[:2] not in _INDICATIONS or n < stun.STUN_HEADER_LEN or payload[4:8] != _COOKIE \
            or n != stun.STUN_HEADER_LEN + int.from_bytes(payload[2:4], "big") or n % 4:
        return None
    data = peer = None
    pos = stun.STUN_HEADER_LEN
    while pos + 4 <= n:
        atype, alen = int.from_bytes(payload[pos:pos + 2], "big"), int.from_bytes(payload[pos + 2:pos + 4], "big")
        end = pos + 4 + alen + (-alen % 4)
        if end > n:
            return None
        raw = bytes(payload[pos + 4:pos + 4 + alen])
        if atype == stun.Attr.DATA:
            data = raw if data is None else data
        elif atype == stun.Attr.XOR_PEER_ADDRESS:
            key = raw if raw[1:2] == b"\x01" else raw + bytes(payload[8:20])  # IPv6 is XORed with the id too
            text = peer_texts.get(key)
            if text is None:
                try:
                    text = peer_texts[key] = endpoint(*_XOR_PEER_ADDRESS(raw, bytes(payload[8:20])))
                except DecodeError:
                    return None
            peer = text if peer is None else peer
        else:
            return None
        pos = end
    return data, peer


def _codes(values: list) -> tuple[np.ndarray, list]:
    """Codes (-1 for None) and names of a few values."""
    names = sorted({v for v in values if v is not None})
    code = {v: i for i, v in enumerate(names)}
    return np.array([code.get(v, -1) for v in values], dtype=np.int32), names


def _channel_data(f, kind, addresses, initial: dict, events: dict, problems: dict) -> _Found | None:
    """The ChannelData messages over UDP that the slices read (f.channel_parts) and the demux kept as
    turn-channel: their problems, relay name and peer, vectorised."""
    parts = [f.channel_parts[lo] for lo in sorted(f.channel_parts)]
    f.channel_parts.clear()
    parts = [p for p in parts if len(p.rows)]
    if not parts:
        return None
    rows = np.concatenate([p.rows for p in parts])
    keep = kind[rows] == Kind.TURN_CHANNEL
    problem = np.concatenate([p.problem for p in parts])
    cap = np.concatenate([p.cap for p in parts])
    for r, c in zip(rows[keep & (problem == _TRUNCATED)].tolist(), cap[keep & (problem == _TRUNCATED)].tolist()):
        problems.setdefault(f"TURN ChannelData header is truncated ({c} of 4 bytes)", []).append(r)
    over = rows[keep & (problem == _OVERRUNS)]
    if len(over):
        problems.setdefault("TURN ChannelData length overruns the datagram", []).extend(over.tolist())
    # The carried datagrams of every part, one InnerPart (indexes shifted by each part's start).
    base, carried, decoded = 0, [], []
    for p in parts:
        carried.append(base + p.carried)
        decoded.append(p.inner)
        base += len(p.rows)
    carried = np.concatenate(carried)
    inner = _concat_parts(decoded)
    kept = keep[carried]
    inner = _select(inner, kept)
    carried = carried[kept]
    if not len(carried):
        return None
    rows = rows[carried]
    channel = np.concatenate([p.channel for p in parts])[carried].astype(np.int64)
    # Peers: per (client/server 5-tuple, channel), the last ChannelBind before each message, else the one an earlier
    # chunk left (`initial`).  Groups are few (one per allocation and channel): one search each.
    src, dst = f.src[rows].astype(np.int64), f.dst[rows].astype(np.int64)
    a = src << 16 | f.sport[rows].astype(np.int64)
    b = dst << 16 | f.dport[rows].astype(np.int64)
    group_key = np.stack([f.transport[rows].astype(np.int64), np.minimum(a, b), np.maximum(a, b), channel], axis=1)
    groups, group = np.unique(group_key, axis=0, return_inverse=True)
    group = group.reshape(-1)
    peer = np.full(len(rows), -1, dtype=np.int32)
    peer_code: dict[str, int] = {}
    for g in range(len(groups)):
        at = np.flatnonzero(group == g)
        key = (_five(f, addresses, int(rows[at[0]])), int(channel[at[0]]))
        bound_rows, bound_peers = events.get(key, ([], []))
        choices = np.array([-1 if p is None else peer_code.setdefault(p, len(peer_code))
                            for p in [initial.get(key)] + bound_peers], dtype=np.int32)
        peer[at] = choices[np.searchsorted(np.asarray(bound_rows, dtype=np.int64), rows[at], side="left")]
    channels, relay = np.unique(channel, return_inverse=True)
    return _Found(rows, relay.reshape(-1).astype(np.int32), [f"channel 0x{c:04x}" for c in channels.tolist()],
                  peer, list(peer_code), inner, f.data)


def _concat_parts(parts: list[InnerPart]) -> InnerPart:
    """One InnerPart of several, indexes shifted."""
    if len(parts) == 1:
        return parts[0]
    base, n_dg = [], 0
    for p in parts:
        base.append(n_dg)
        n_dg += len(p.kind)
    sub_base, n_rtcp = [], 0
    for p in parts:
        sub_base.append(n_rtcp)
        n_rtcp += len(p.rtcp_index)
    extra = {}
    for p, b in zip(parts, base):
        extra.update({b + i: v for i, v in p.copy_extra.items()})
    return InnerPart(
        np.concatenate([p.kind for p in parts]),
        np.concatenate([b + p.rtp_index for p, b in zip(parts, base)]),
        {k: np.concatenate([p.rtp_hdr[k] for p in parts]) for k in rtp.HEADER_FIELDS},
        np.concatenate([b + p.rtcp_index for p, b in zip(parts, base)]),
        {k: np.concatenate([(p.rtcp_sub[k] + sb) if k == "datagram" else p.rtcp_sub[k]
                            for p, sb in zip(parts, sub_base)]) for k in parts[0].rtcp_sub},
        np.concatenate([p.rtcp_status for p in parts]),
        np.concatenate([p.rtcp_trailer for p in parts]),
        np.concatenate([b + p.copy_index for p, b in zip(parts, base)]),
        np.concatenate([p.copy_pos for p in parts]), np.concatenate([p.copy_len for p in parts]), extra)


def _select(part: InnerPart, keep: np.ndarray) -> InnerPart:
    """The datagrams of `part` where `keep`, renumbered."""
    if keep.all():
        return part
    new = np.cumsum(keep) - 1  # old index -> new index, where kept

    def index(old):
        return new[old[keep[old]]]

    rtp_keep = keep[part.rtp_index]
    rtcp_keep = keep[part.rtcp_index]
    sub_keep = rtcp_keep[part.rtcp_sub["datagram"]]
    sub_new = np.cumsum(rtcp_keep) - 1
    sub = {k: v[sub_keep] for k, v in part.rtcp_sub.items()}
    sub["datagram"] = sub_new[sub["datagram"]]
    copy_keep = keep[part.copy_index]
    return InnerPart(part.kind[keep], index(part.rtp_index), {k: v[rtp_keep] for k, v in part.rtp_hdr.items()},
                     index(part.rtcp_index), sub, part.rtcp_status[rtcp_keep], part.rtcp_trailer[rtcp_keep],
                     index(part.copy_index), part.copy_pos[copy_keep], part.copy_len[copy_keep],
                     {int(new[i]): v for i, v in part.copy_extra.items() if keep[i]})


def _recoded(parts: list[tuple[np.ndarray, list]]) -> tuple[list, np.ndarray]:
    """Codes of several parts (each with its own names) as codes into one sorted list of names (-1 stays)."""
    names = sorted({x for _, part_names in parts for x in part_names})
    code = {x: i for i, x in enumerate(names)}
    out = []
    for codes, part_names in parts:
        lookup = np.array([code[x] for x in part_names] + [-1], dtype=np.int32)  # -1 indexes the last: -1
        out.append(lookup[codes])
    return names, np.concatenate(out) if out else np.zeros(0, dtype=np.int32)


def _merged(parts: list[_Found], flow: np.ndarray, n_flows: int, problems: dict) -> Inner:
    """The inner datagrams of every part in capture order (a stable sort by outer row: the messages of one TCP
    segment keep their stream order), with the per-table parts Inner has."""
    rows = np.concatenate([p.rows for p in parts])
    order = np.argsort(rows, kind="stable")
    position = np.empty(len(order), dtype=np.int64)  # index in a part (shifted) -> index in capture order
    position[order] = np.arange(len(order))
    rows = rows[order]
    relay_names, relay_codes = _recoded([(p.relay, p.relay_names) for p in parts])
    peer_names, peer_codes = _recoded([(p.peer, p.peer_names) for p in parts])
    relay_codes, peer_codes = relay_codes[order], peer_codes[order]
    base = np.cumsum([0] + [len(p.rows) for p in parts])[:-1]
    inner_kind = np.empty(len(rows), dtype=np.uint8)
    for p, b in zip(parts, base):
        inner_kind[position[b:b + len(p.rows)]] = p.decoded.kind
    # DTLS inside a relay (on the outer flow) makes its RTP SRTP and its RTCP SRTCP, as on a direct flow.
    relayed_dtls = np.zeros(n_flows + 1, dtype=bool)
    relayed_dtls[flow[rows[inner_kind == Kind.DTLS]]] = True
    relayed_dtls[-1] = False

    # RTP: every part's rows in capture order.
    rtp_at = np.concatenate([position[b + p.decoded.rtp_index] for p, b in zip(parts, base)])
    rtp_order = np.argsort(rtp_at, kind="stable")
    rtp_index = rtp_at[rtp_order]
    rtp_hdr = {k: np.concatenate([p.decoded.rtp_hdr[k] for p in parts])[rtp_order] for k in rtp.HEADER_FIELDS}
    rtp_place = np.empty(len(rtp_order), dtype=np.int64)
    rtp_place[rtp_order] = np.arange(len(rtp_order))
    framed, k0 = {}, 0
    for p in parts:
        framed.update({int(rtp_place[k0 + k]): data for k, data in p.framed_rtp.items()})
        k0 += len(p.decoded.rtp_index)

    # RTCP: per datagram, then per sub-packet; SRTCP keeps only its first header.
    dg_at = np.concatenate([position[b + p.decoded.rtcp_index] for p, b in zip(parts, base)])
    dg_order = np.argsort(dg_at, kind="stable")
    dg_index = dg_at[dg_order]
    dg_place = np.empty(len(dg_order), dtype=np.int64)
    dg_place[dg_order] = np.arange(len(dg_order))
    status = np.concatenate([p.decoded.rtcp_status for p in parts])[dg_order]
    trailer = np.concatenate([p.decoded.rtcp_trailer for p in parts])[dg_order]
    sub_parts, d0 = [], 0
    for p in parts:
        sub = dict(p.decoded.rtcp_sub)
        sub["datagram"] = dg_place[d0 + sub["datagram"]]
        sub_parts.append(sub)
        d0 += len(p.decoded.rtcp_index)
    sub = {k: np.concatenate([s[k] for s in sub_parts]) for k in sub_parts[0]}
    sub_order = np.argsort(sub["datagram"], kind="stable")
    sub = {k: v[sub_order] for k, v in sub.items()}
    srtcp = (relayed_dtls[flow[rows[dg_index]]] | trailer) & (status != rtcp.COMPOUND_EXACT)
    drop = srtcp[sub["datagram"]] & (sub["index"] > 0)
    sub = {k: v[~drop] for k, v in sub.items()}
    status = np.where(srtcp & (status != rtcp.COMPOUND_TRUNCATED), rtcp.COMPOUND_ONLY_FIRST, status)
    rtcp_index = dg_index[sub["datagram"]]

    def copied(wanted) -> tuple[np.ndarray, np.ndarray, list[bytes]]:
        at = np.flatnonzero(inner_kind == wanted)
        payloads: list = [None] * len(at)
        where = np.full(len(rows), -1, dtype=np.int64)
        where[at] = np.arange(len(at))
        for p, b in zip(parts, base):
            index = p.decoded.copy_index[p.decoded.kind[p.decoded.copy_index] == wanted]
            for k, data in zip(where[position[b + index]].tolist(), p.decoded.payloads(p.data, index)):
                payloads[k] = data
        return rows[at], at, payloads

    stun_part, dtls_part, rtcp_dg_part = copied(Kind.STUN), copied(Kind.DTLS), copied(Kind.RTCP)
    return Inner(rows, relay_codes, peer_codes, relay_names, peer_names, *stun_part,
                 rows[rtp_index], rtp_index, rtp_hdr, relayed_dtls[flow[rows[rtp_index]]], framed,
                 rows[rtcp_index], rtcp_index, {k: v for k, v in sub.items() if k != "datagram"},
                 status[sub["datagram"]], relayed_dtls[flow[rows[rtcp_index]]],
                 *dtls_part, *rtcp_dg_part, rtcp_dg_srtcp=status == rtcp.COMPOUND_ONLY_FIRST, problems=problems)
