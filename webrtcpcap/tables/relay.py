"""TURN relays (RFC 8656) and TCP streams: the datagrams that ChannelData messages and Send/Data indications carry,
and the messages framed out of TCP (RFC 4571, RFC 6544), become rows of the stun, rtp, rtcp and dtls tables next to
the direct ones, with the relayed, relay and peer columns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..io import buffer
from ..io.errors import DecodeError
from ..net import demux, tcp
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


def unwrap(f, kind: np.ndarray, flow: np.ndarray, n_flows: int, addresses: list[str],
                 bindings: dict, tcp_messages: list[tcp.Message] = ()) -> Inner | None:
    """Unwrap the frames of kind turn-channel and the STUN Send/Data indications with a DATA attribute; take the
    messages framed out of TCP streams (`tcp_messages`, see frame_tcp) as direct messages of their segment's
    frame, and unwrap those that are TURN relaying as well (TURN over TCP).

    Per message in Python (they are few), in capture order, so that a ChannelData message finds its peer in the
    ChannelBind request (CHANNEL-NUMBER, XOR-PEER-ADDRESS) sent before it on the same client/server 5-tuple
    (`bindings`, kept from chunk to chunk).  The
    inner datagrams are classified by their first byte alone (RFC 7983; inside an allocation the relay's client is
    a WebRTC agent), then decoded as direct ones are: RTP headers and RTCP compounds vectorised over a small buffer
    of their own, STUN per message later (stun_tables)."""
    # Carriers in capture order: (row, payload, wire length, framed out of TCP?); a TCP segment may hold several.
    channel_kind, stun_kind = int(Kind.TURN_CHANNEL), int(Kind.STUN)
    carriers = [(r, data, int(f.payload_len[r]), False) for r, data in f.turn_bytes.items()
                if kind[r] == channel_kind]
    # A STUN message type that relays (Send/Data indication, ChannelBind request) by its first two bytes: cheap,
    # and a capture may hold a great many Binding messages.
    carriers += [(r, data, len(data), False) for r, data in f.stun_bytes.items()
                 if data[:2] in stun.RELAYING_TYPES and kind[r] == stun_kind]
    carriers += [(m.row, m.data, len(m.data), True) for m in tcp_messages]
    if not carriers:
        return None
    carriers.sort(key=lambda c: c[0])  # stable: TCP messages of one segment keep their stream order
    out_rows, out_relay, out_peer, out_data, out_wire, out_framed = [], [], [], [], [], []
    problems: dict[str, list[int]] = {}
    for r, payload, payload_wire, framed in carriers:
        if not payload:
            continue
        if framed:  # the message itself is a direct one, over TCP
            out_rows.append(r)
            out_relay.append(None)
            out_peer.append(None)
            out_data.append(payload)
            out_wire.append(payload_wire)
            out_framed.append(True)
            if not (0x40 <= payload[0] <= 0x4F or (payload[0] < 4 and stun.is_turn_relaying(payload))):
                continue
        a, b = (addresses[f.src[r]], int(f.sport[r])), (addresses[f.dst[r]], int(f.dport[r]))
        five = (int(f.transport[r]),) + (a + b if a <= b else b + a)
        if 0x40 <= payload[0] <= 0x4F:  # ChannelData (RFC 7983 §7)
            try:
                channel, data, wire = stun.channel_data(payload, payload_wire)
            except DecodeError as e:
                problems.setdefault(str(e), []).append(r)  # kind turn-channel, but nothing to unwrap: say why
                continue
            relay, peer = f"channel 0x{channel:04x}", bindings.get((five, channel))
        else:
            try:
                msg = stun.parse(payload)
            except DecodeError:
                continue
            if msg.method == stun.Method.CHANNEL_BIND:
                channel, peer = msg.get(stun.Attr.CHANNEL_NUMBER), stun.peer_address(msg)
                if channel is not None and peer is not None:
                    bindings[(five, channel)] = peer
                continue
            data = msg.get(stun.Attr.DATA)
            if data is None:
                continue
            relay = "send" if msg.method == stun.Method.SEND else "data"
            peer, wire = stun.peer_address(msg), len(data)
        if not data:
            continue
        out_rows.append(r)
        out_relay.append(relay)
        out_peer.append(peer)
        out_data.append(data)
        out_wire.append(wire)
        out_framed.append(framed)
    relay_names = sorted({x for x in out_relay if x is not None})
    peer_names = sorted({p for p in out_peer if p is not None})
    rows = np.array(out_rows, dtype=np.int64)
    relay_codes = np.array([relay_names.index(x) if x is not None else -1 for x in out_relay], dtype=np.int32)
    peer_codes = np.array([peer_names.index(p) if p is not None else -1 for p in out_peer], dtype=np.int32)

    first = np.array([d[0] for d in out_data], dtype=np.uint8)
    second = np.array([d[1] if len(d) > 1 else 0 for d in out_data], dtype=np.uint8)
    word1 = np.array([int.from_bytes(d[4:8], "big") if len(d) >= 8 else 0 for d in out_data], dtype=np.uint32)
    inner_kind = demux.first_byte_kind(first, second, word1 == stun.STUN_MAGIC_COOKIE, word1 == demux.ZRTP_MAGIC_COOKIE)
    # DTLS inside a relay (on the outer flow) makes its RTP SRTP and its RTCP SRTCP, as on a direct flow.
    relayed_dtls = np.zeros(n_flows + 1, dtype=bool)
    relayed_dtls[flow[rows[inner_kind == Kind.DTLS]]] = True
    relayed_dtls[-1] = False

    def decode_part(sel):
        index = np.flatnonzero(sel)
        datas = [out_data[i] for i in index.tolist()]
        cap = np.array([len(d) for d in datas], dtype=np.int64)
        wire = np.array([out_wire[i] for i in index.tolist()], dtype=np.int64)
        off = buffer.EXTRA + np.concatenate([[0], np.cumsum(cap)[:-1]]).astype(np.int64) if len(datas) else cap
        src = buffer.ByteSource(np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.int64),
                                np.frombuffer(b"".join(datas), dtype=np.uint8))
        return index, src, off, cap, wire

    index, src, off, cap, wire = decode_part(inner_kind == Kind.RTP)
    rtp_hdr = rtp.decode_headers(src, off, cap, wire) if len(index) else rtp.empty_headers()
    rtp_hdr = {k: rtp_hdr[k] for k in rtp.HEADER_FIELDS}
    rtp_part = (rows[index], index, rtp_hdr, relayed_dtls[flow[rows[index]]],
                {k: out_data[i] for k, i in enumerate(index.tolist()) if out_framed[i]})

    index, src, off, cap, wire = decode_part(inner_kind == Kind.RTCP)
    sub, status = rtcp.walk_compound(src, off, cap, wire)
    srtcp = ((relayed_dtls[flow[rows[index]]] | srtcp_trailer(src, off, cap, wire, sub))
             & (status != rtcp.COMPOUND_EXACT))
    drop = srtcp[sub["datagram"]] & (sub["index"] > 0)
    sub = {k: v[~drop] for k, v in sub.items()}
    status = np.where(srtcp & (status != rtcp.COMPOUND_TRUNCATED), rtcp.COMPOUND_ONLY_FIRST, status)
    rtcp_index = index[sub["datagram"]]
    rtcp_part = (rows[rtcp_index], rtcp_index, {k: v for k, v in sub.items() if k != "datagram"},
                 status[sub["datagram"]], relayed_dtls[flow[rows[rtcp_index]]])

    def part(wanted):
        index = np.flatnonzero(inner_kind == wanted)
        return rows[index], index, [out_data[i] for i in index.tolist()]

    return Inner(rows, relay_codes, peer_codes, relay_names, peer_names, *part(Kind.STUN), *rtp_part, *rtcp_part,
                  *part(Kind.DTLS), *part(Kind.RTCP), rtcp_dg_srtcp=status == rtcp.COMPOUND_ONLY_FIRST, problems=problems)
