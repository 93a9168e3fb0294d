"""One batch of frames through every stage: network, flows, evidence, demux, RTP/RTCP headers, tables.

Strategy: each stage's arrays are computed once and handed on; the tables are built at the end.  This is the only
module that knows the order of the stages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import demux, dtls, net, rtcp, rtp, stun, tables
from .demux import Kind
from .reader import FrameBatch


@dataclass
class Decoded:
    packets: pd.DataFrame
    rtp: pd.DataFrame
    rtcp: pd.DataFrame
    flows: pd.DataFrame
    webrtc_flows: dict = field(default_factory=dict)  # flow key -> Evidence, to carry into the next chunk


# Packet-level protocol errors, appended after net.NetError codes in the `error` category.
_STUN_LENGTH = "STUN length field does not match the datagram"
_DTLS_NOT_RECORD = "DTLS record header is invalid or overruns the datagram"
_CHANNEL_LENGTH = "TURN ChannelData length overruns the datagram"


def decode_batch(batch: FrameBatch, t0_ns: int, rules=(), known_flows: dict | None = None) -> Decoded:
    """Decode every frame of `batch` into the packets, rtp, rtcp and flows tables (see capture.Capture)."""
    layer = net.decode(batch)
    src = layer.source
    n = len(batch)
    flow = demux.flows(layer)

    # Per-datagram first-byte facts, on UDP payloads only.
    udp = np.flatnonzero((layer.transport == net.Transport.UDP) & (layer.payload_cap > 0))
    off = layer.payload_off[udp]
    capb = layer.payload_cap[udp].astype(np.int64)
    wire = layer.payload_len[udp].astype(np.int64)
    first = src.u8(off)
    second = src.u8(off + 1, capb >= 2)
    cookie = src.be32(off + 4, capb >= 8) == stun.STUN_MAGIC_COOKIE
    first_kind = np.full(n, Kind.OTHER, dtype=np.uint8)
    zrtp_cookie = src.be32(off + 4, capb >= 8) == demux.ZRTP_MAGIC_COOKIE
    first_kind[udp] = demux.first_byte_kind(first, second, cookie, zrtp_cookie)
    first_byte = np.full(n, -1, dtype=np.int16)
    first_byte[udp] = first

    stun_ev = np.zeros(n, dtype=bool)
    sel = first <= 3
    stun_ev[udp[sel]] = stun.looks_like_stun(src, off[sel], capb[sel], wire[sel])
    dtls_ev = np.zeros(n, dtype=bool)
    sel = first == dtls.ContentType.HANDSHAKE
    dtls_ev[udp[sel]] = dtls.looks_like_handshake(src, off[sel], capb[sel], wire[sel])
    n_flows = int(flow.max()) + 1 if n and flow.max() >= 0 else 0
    flow_has_dtls = np.zeros(n_flows + 1, dtype=bool)
    flow_has_dtls[flow[dtls_ev]] = True
    flow_has_dtls[-1] = False  # flow -1 (no ports) indexes here

    rtp_sel = udp[first_kind[udp] == Kind.RTP]
    rtp_hdr = rtp.decode_headers(src, layer.payload_off[rtp_sel], layer.payload_cap[rtp_sel].astype(np.int64),
                                 layer.payload_len[rtp_sel].astype(np.int64))
    rtp_clean = rtp_hdr["error"] == rtp.RTP_OK

    rtcp_sel = udp[first_kind[udp] == Kind.RTCP]
    srtcp = flow_has_dtls[flow[rtcp_sel]]
    rtcp_rows, rtcp_status = rtcp.walk_compound(
        src, layer.payload_off[rtcp_sel], layer.payload_cap[rtcp_sel].astype(np.int64),
        layer.payload_len[rtcp_sel].astype(np.int64), first_only=srtcp)

    rules = list(rules)
    if known_flows:
        rules = rules + [_KnownFlows(known_flows)]
    verdict = demux.decide(
        layer, flow, first_kind, stun_ev, dtls_ev, rtp_sel[rtp_clean], rtp_hdr["ssrc"][rtp_clean],
        rtp_hdr["seq"][rtp_clean], rtcp_sel[rtcp_status == rtcp.COMPOUND_EXACT],
        rtcp_sel[np.unique(rtcp_rows["datagram"][rtcp_rows["index"] == 1])][
            rtcp_status[np.unique(rtcp_rows["datagram"][rtcp_rows["index"] == 1])] == rtcp.COMPOUND_EXACT],
        rules=[r for r in rules if isinstance(r, demux.FlowRule)], first_byte=first_byte)
    for r in rules:
        if isinstance(r, _KnownFlows):
            r.apply(layer, verdict, first_kind)
    kind = verdict.kind

    # Errors: network first, then what the protocol layer found.
    error_names = [""] + [net.NET_ERROR_MESSAGES[e] for e in net.NetError if e != net.NetError.NONE]
    error = layer.error.astype(np.int16)
    error[error == 0] = -1
    error = np.where(error > 0, error, -1)
    unknown_lt = np.flatnonzero(layer.error == net.NetError.UNKNOWN_LINKTYPE)
    extra_names: dict[str, int] = {}

    def add_error(rows, message):
        code = extra_names.setdefault(message, len(error_names) + len(extra_names))
        rows = rows[error[rows] < 0]
        error[rows] = code

    if len(unknown_lt):
        error[unknown_lt] = -1  # replaced by a message naming the link type
        lts = batch.linktype[unknown_lt]
        for lt in np.unique(lts):
            add_error(unknown_lt[lts == lt], net.NET_ERROR_MESSAGES[net.NetError.UNKNOWN_LINKTYPE].format(linktype=lt))
    is_stun = kind[udp] == Kind.STUN
    add_error(udp[is_stun & ~stun_ev[udp]], _STUN_LENGTH)
    is_rtp_kind = kind[rtp_sel] == Kind.RTP
    for code, message in rtp.RTP_ERROR_MESSAGES.items():
        add_error(rtp_sel[is_rtp_kind & (rtp_hdr["error"] == code)], message)
    is_rtcp_kind = kind[rtcp_sel] == Kind.RTCP
    for code, message in rtcp.COMPOUND_MESSAGES.items():
        add_error(rtcp_sel[is_rtcp_kind & (rtcp_status == code)], message)
    names = error_names + list(extra_names)
    error_codes = np.where(error > 0, error, -1)

    # packets ---------------------------------------------------------------------------------------------------
    frame = np.arange(batch.first_frame, batch.first_frame + n, dtype=np.uint32)
    t = (batch.ts_ns - t0_ns) / 1e9
    addresses = layer.addresses
    has_ports = layer.sport >= 0
    icmp = layer.icmp_type >= 0
    quoted = np.full(n, None, dtype=object)
    for row, text in layer.icmp_quoted.items():
        quoted[row] = text
    packets = tables.frame_table({
        "frame": frame,
        "time": pd.DatetimeIndex(batch.ts_ns.view("datetime64[ns]")).tz_localize("UTC"),
        "t": t,
        "caplen": batch.caplen,
        "len": batch.length,
        "interface": batch.interface,
        "ip_version": tables.masked(layer.ip_version, layer.ip_version == 0, "UInt8"),
        "src": tables.categorical(layer.src, addresses),
        "dst": tables.categorical(layer.dst, addresses),
        "sport": tables.masked(layer.sport, ~has_ports, "UInt16"),
        "dport": tables.masked(layer.dport, ~has_ports, "UInt16"),
        "transport": tables.categorical(tables.zero_is_missing(layer.transport), net.TRANSPORT_NAMES),
        "kind": tables.categorical(kind, demux.KIND_NAMES),
        "payload_len": tables.masked(layer.payload_len, layer.payload_len < 0, "Int32"),
        "flow": tables.masked(flow, flow < 0, "Int32"),
        "evidence": tables.categorical(tables.zero_is_missing(verdict.evidence), demux.EVIDENCE_NAMES),
        "error": tables.categorical(error_codes, names),
        "reassembled_in": tables.masked(layer.reassembled_in, layer.reassembled_in == 0, "UInt32"),
        "icmp_type": tables.masked(layer.icmp_type, ~icmp, "UInt8"),
        "icmp_code": tables.masked(layer.icmp_code, ~icmp, "UInt8"),
        "icmp_quoted": quoted,
    }, tables.PACKETS_SCHEMA)

    # rtp -------------------------------------------------------------------------------------------------------
    keep = is_rtp_kind
    rows = rtp_sel[keep]
    h = {k: v[keep] for k, v in rtp_hdr.items()}
    rtp_error = np.full(len(rows), -1, dtype=np.int16)
    rtp_names = [""] + list(rtp.RTP_ERROR_MESSAGES.values())
    for i, code in enumerate(rtp.RTP_ERROR_MESSAGES, start=1):
        rtp_error[h["error"] == code] = i
    rtp_df = tables.frame_table({
        **_keys(rows, frame, t, layer),
        "ssrc": h["ssrc"], "pt": h["pt"], "seq": h["seq"], "ts": h["ts"], "marker": h["marker"],
        "padding": h["padding"], "extension": h["extension"], "csrc_count": h["csrc_count"],
        "ext_profile": tables.masked(h["ext_profile"], h["ext_profile"] < 0, "UInt16"),
        "payload_offset": np.minimum(h["payload_offset"], 0xFFFF), "payload_len": h["payload_len"],
        "flow": flow[rows], "dtls_srtp": flow_has_dtls[flow[rows]],
        "error": tables.categorical(rtp_error, rtp_names),
    }, tables.RTP_SCHEMA)

    # rtcp ------------------------------------------------------------------------------------------------------
    dgram_keep = is_rtcp_kind[rtcp_rows["datagram"]]
    rr = {k: v[dgram_keep] for k, v in rtcp_rows.items()}
    rows = rtcp_sel[rr["datagram"]]
    status = rtcp_status[rr["datagram"]]
    rtcp_names = [""] + list(rtcp.COMPOUND_MESSAGES.values())
    rtcp_error = np.full(len(rows), -1, dtype=np.int16)
    for i, code in enumerate(rtcp.COMPOUND_MESSAGES, start=1):
        rtcp_error[status == code] = i
    feedback = np.isin(rr["pt"], rtcp.FEEDBACK_TYPES)
    rtcp_df = tables.frame_table({
        **_keys(rows, frame, t, layer),
        "index": rr["index"], "pt": rr["pt"],
        "count": tables.masked(rr["count"], feedback, "UInt8"),
        "fmt": tables.masked(rr["count"], ~feedback, "UInt8"),
        "sender_ssrc": tables.masked(rr["sender_ssrc"], ~rr["has_ssrc"], "UInt32"),
        "length_bytes": rr["length_bytes"], "offset": np.minimum(rr["offset"], 0xFFFF),
        "padding": rr["padding"], "flow": flow[rows], "dtls_srtp": flow_has_dtls[flow[rows]],
        "error": tables.categorical(rtcp_error, rtcp_names),
    }, tables.RTCP_SCHEMA)

    flows_df, carry = _flows_table(layer, flow, verdict.evidence, t)
    return Decoded(packets, rtp_df, rtcp_df, flows_df, carry)


def _keys(rows, frame, t, layer) -> dict:
    """The columns every table starts with: frame, t, src, dst, sport, dport."""
    return {
        "frame": frame[rows], "t": t[rows],
        "src": tables.categorical(layer.src[rows], layer.addresses),
        "dst": tables.categorical(layer.dst[rows], layer.addresses),
        "sport": layer.sport[rows], "dport": layer.dport[rows],
    }


def _flows_table(layer: net.NetLayer, flow: np.ndarray, evidence: np.ndarray, t: np.ndarray):
    rows = np.flatnonzero(flow >= 0)
    if not len(rows):
        return tables.empty_table(tables.FLOWS_SCHEMA), {}
    f = flow[rows]
    n_flows = int(f.max()) + 1
    first_row = np.full(n_flows, len(flow), dtype=np.int64)
    np.minimum.at(first_row, f, rows)
    last_row = np.zeros(n_flows, dtype=np.int64)
    np.maximum.at(last_row, f, rows)
    counts = np.bincount(f, minlength=n_flows)
    fr = first_row
    # Endpoint "a" is the sender of the flow's first packet.
    df = tables.frame_table({
        "flow": np.arange(n_flows, dtype=np.int32),
        "transport": tables.categorical(layer.transport[fr], net.TRANSPORT_NAMES),
        "a": tables.categorical(layer.src[fr], layer.addresses), "a_port": layer.sport[fr],
        "b": tables.categorical(layer.dst[fr], layer.addresses), "b_port": layer.dport[fr],
        "evidence": tables.categorical(tables.zero_is_missing(evidence[fr]), demux.EVIDENCE_NAMES),
        "packets": counts, "first_t": t[fr], "last_t": t[last_row],
    }, tables.FLOWS_SCHEMA)
    carry = {}
    for i in np.flatnonzero(evidence[fr] > 0).tolist():
        r = int(fr[i])
        carry[flow_key(layer, r)] = int(evidence[r])
    return df, carry


def flow_key(layer: net.NetLayer, row: int) -> tuple:
    """A flow's identity that survives from one chunk to the next: transport and both ends, in sorted order."""
    a = (layer.addresses[layer.src[row]], int(layer.sport[row]))
    b = (layer.addresses[layer.dst[row]], int(layer.dport[row]))
    return (int(layer.transport[row]),) + (a + b if a <= b else b + a)


class _KnownFlows:
    """Flows found to be WebRTC in earlier chunks keep that verdict (iter_chunks)."""

    def __init__(self, known: dict):
        self.known = known

    def apply(self, layer: net.NetLayer, verdict: demux.Demux, first_kind: np.ndarray) -> None:
        flow = verdict.flow
        rows = np.flatnonzero(flow >= 0)
        if not len(rows):
            return
        f = flow[rows]
        n_flows = int(f.max()) + 1
        first_row = np.full(n_flows, len(flow), dtype=np.int64)
        np.minimum.at(first_row, f, rows)
        carried = np.zeros(n_flows, dtype=np.uint8)
        for i, r in enumerate(first_row.tolist()):
            ev = self.known.get(flow_key(layer, r))
            if ev:
                carried[i] = ev
        hit = rows[(carried[f] > 0) & (verdict.evidence[rows] == 0)]
        if not len(hit):
            return
        verdict.evidence[hit] = carried[flow[hit]]
        udp = layer.transport[hit] == net.Transport.UDP
        verdict.kind[hit[udp]] = first_kind[hit[udp]]
