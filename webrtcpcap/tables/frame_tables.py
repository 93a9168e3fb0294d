"""The per-frame tables the pipeline builds last: packets, icmp, fragments and flows, the key columns every other
table starts with (frame, t, src, dst, sport, dport), and the flow identity carried from chunk to chunk.

Strategy: each table is built from the pipeline's compact per-frame arrays, freeing the wider ones as it goes; long
index arrays are taken CHUNK rows at a time so that no whole int64 temporary exists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..net import demux, layers as net, tcp
from . import schema as tables

CHUNK = 1 << 15  # rows of a temporary at a time

def tcp_streams_table(streams: dict) -> pd.DataFrame:
    """tables.TCP_STREAMS_SCHEMA from the tcp.Stream of every direction (keyed by address names and ports)."""
    rows = [(k, s) for k, s in streams.items() if s.segments]
    if not rows:  # most captures, and every chunk of them: no table to build
        return tables.empty_table(tables.TCP_STREAMS_SCHEMA)
    keys = [k for k, _ in rows]
    return tables.frame_table({
        "src": pd.Categorical([k[0] for k in keys]), "sport": [k[1] for k in keys],
        "dst": pd.Categorical([k[2] for k in keys]), "dport": [k[3] for k in keys],
        "framing": pd.Categorical([s.mode for _, s in rows], categories=list(tcp.FRAMINGS)),
        "segments": [s.segments for _, s in rows], "bytes": [s.delivered for _, s in rows],
        "messages": [s.messages for _, s in rows], "retransmitted": [s.retransmitted for _, s in rows],
        "first_frame": [s.first_frame for _, s in rows], "last_frame": [s.last_frame for _, s in rows],
        "problem": [s.problem for _, s in rows],
        "problem_frame": pd.array([s.problem_frame for _, s in rows], dtype="UInt32"),
    }, tables.TCP_STREAMS_SCHEMA)



@dataclass
class ColumnSource:
    """Where the other tables take their key columns (key_columns) from: the packets table's own arrays, so that the
    wider per-frame arrays they were made from can go once it is built."""

    frame: np.ndarray
    t: np.ndarray
    src: np.ndarray  # codes into src_names
    dst: np.ndarray
    src_names: list
    dst_names: list
    sport: np.ndarray  # uint16 (anything where the frame has no ports)
    dport: np.ndarray


def packets_table(f, frame, t, flow, n_flows, verdict, kind, error, names,
                   addresses) -> tuple[pd.DataFrame, ColumnSource]:
    """The packets table; the per-frame arrays of `f` that it made narrower copies of go as it is built."""
    src, dst = tables.categorical(f.src, addresses), tables.categorical(f.dst, addresses)
    f.src = f.dst = None
    ip_version = tables.int_category(f.ip_version, f.ip_version == 0, "uint8")
    f.ip_version = None
    no_ip_header = f.traffic_class < 0
    dscp = tables.masked((f.traffic_class >> 2).astype(np.uint8), no_ip_header, "UInt8", own_mask=True)
    ecn = tables.masked((f.traffic_class & 3).astype(np.uint8), no_ip_header.copy(), "UInt8", own_mask=True)
    f.traffic_class = None
    interface = tables.int_category(f.interface, np.zeros(len(f.interface), dtype=bool), "uint16")
    f.interface = None
    sport = tables.masked(f.sport, ~f.has_ports, "UInt16", own_mask=True)
    dport = tables.masked(f.dport, ~f.has_ports, "UInt16", own_mask=True)
    f.has_ports = None
    payload_len = tables.masked(f.payload_len, ~f.payload_known, "UInt16", own_mask=True)
    f.payload_known = None
    table = tables.frame_table({
        "frame": frame,
        "time": tables.utc_times(f.ts),
        "t": t,
        "caplen": f.caplen,
        "len": f.length,
        "interface": interface,
        "ip_version": ip_version,
        "dscp": dscp,
        "ecn": ecn,
        "src": src,
        "dst": dst,
        "sport": sport,
        "dport": dport,
        "transport": tables.categorical(tables.zero_is_missing(f.transport), net.TRANSPORT_NAMES),
        "kind": tables.categorical(kind, demux.KIND_NAMES),
        "payload_len": payload_len,
        "flow": tables.id_category(flow, n_flows),
        "evidence": tables.categorical(tables.zero_is_missing(verdict.evidence), demux.EVIDENCE_NAMES),
        "error": tables.categorical(error, names),
    }, tables.PACKETS_SCHEMA)
    return table, ColumnSource(frame, t, src.codes, dst.codes, list(src.categories), list(dst.categories), f.sport,
                             f.dport)


def icmp_table(f, cs: ColumnSource) -> pd.DataFrame:
    if not f.icmp:
        return tables.empty_table(tables.ICMP_SCHEMA)
    rows = np.array(sorted(f.icmp), dtype=np.int64)
    facts = [f.icmp[r] for r in rows.tolist()]
    keys = key_columns(rows, cs)
    return tables.frame_table({
        "frame": keys["frame"], "t": keys["t"], "src": keys["src"], "dst": keys["dst"],
        "icmp_type": np.array([x[0] for x in facts], dtype=np.uint8),
        "icmp_code": np.array([x[1] for x in facts], dtype=np.uint8),
        "quoted": pd.array([x[2] for x in facts], dtype="string"),
    }, tables.ICMP_SCHEMA)


def fragments_table(f, cs: ColumnSource) -> pd.DataFrame:
    rows = np.flatnonzero(f.fragment)
    if not len(rows) and not f.reassembled_in:
        return tables.empty_table(tables.FRAGMENTS_SCHEMA)
    rows = np.union1d(rows, np.array(sorted(f.reassembled_in), dtype=np.int64)).astype(np.int64)
    done = np.array([f.reassembled_in.get(r, 0) for r in rows.tolist()], dtype=np.int64)
    keys = key_columns(rows, cs)
    return tables.frame_table({
        "frame": keys["frame"], "t": keys["t"], "src": keys["src"], "dst": keys["dst"],
        "reassembled_in": tables.masked(done, done == 0, "UInt32"),
    }, tables.FRAGMENTS_SCHEMA)


def key_columns(rows, cs: ColumnSource, consume: bool = False) -> dict:
    """The columns every table starts with: frame, t, src, dst, sport, dport.

    With `consume`, an int32 `rows` (which the caller gives up) becomes the frame column in place: for the rtp
    table, rows and frames side by side would be the decode's peak."""
    keys = {
        "t": take(cs.t, rows),
        "src": tables.categorical(take(cs.src, rows), cs.src_names, reuse=True),
        "dst": tables.categorical(take(cs.dst, rows), cs.dst_names, reuse=True),
        "sport": take(cs.sport, rows), "dport": take(cs.dport, rows),
    }
    if consume and isinstance(rows, np.ndarray) and rows.dtype == np.int32 and len(cs.frame):
        frame = rows.view(np.uint32)  # rows are >= 0, and a frame number is its row plus the first frame's
        frame += cs.frame[0]
    else:
        frame = take(cs.frame, rows)
    return {"frame": frame, **keys}


def take(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """values[rows], a slice of rows at a time: numpy turns an index array into a whole int64 copy first, which
    for the rtp table's keys would be the decode's peak."""
    rows = np.asarray(rows)
    if len(rows) <= CHUNK:
        return values[rows]
    out = np.empty(len(rows), dtype=values.dtype)
    for lo in range(0, len(rows), CHUNK):
        out[lo : lo + CHUNK] = values[rows[lo : lo + CHUNK]]
    return out


def first_rows(flow: np.ndarray) -> np.ndarray:
    """Each flow's first row.  Flows are numbered in order of first appearance, so a flow's first row is where
    the running maximum of the ids grows."""
    firsts, top = [], -1
    for lo in range(0, len(flow), CHUNK):  # a slice at a time, to keep the temporaries small
        running = np.maximum.accumulate(np.maximum(flow[lo : lo + CHUNK], top))
        firsts.append(lo + np.flatnonzero(running > np.concatenate([[top], running[:-1]])))
        top = int(running[-1])
    return np.concatenate(firsts) if firsts else np.zeros(0, dtype=np.int64)


def flows_table(ends: demux.Endpoints, flow: np.ndarray, evidence: np.ndarray, t: np.ndarray):
    fr = first_rows(flow)
    if not len(fr):
        return tables.empty_table(tables.FLOWS_SCHEMA), {}
    n_flows = len(fr)
    counts = np.zeros(n_flows, dtype=np.int64)
    last_row = np.zeros(n_flows, dtype=np.int64)
    for lo in range(0, len(flow), CHUNK):  # a slice at a time, to keep the temporaries small
        part = flow[lo : lo + CHUNK]
        part = part[part >= 0]
        counts += np.bincount(part, minlength=n_flows)
        rows = np.flatnonzero(flow[lo : lo + CHUNK] >= 0)
        np.maximum.at(last_row, part, lo + rows)
    # Endpoint "a" is the sender of the flow's first packet.
    df = tables.frame_table({
        "flow": np.arange(n_flows, dtype=np.int32),
        "transport": tables.categorical(ends.transport[fr], net.TRANSPORT_NAMES),
        "a": tables.categorical(ends.src[fr], ends.addresses), "a_port": ends.sport[fr],
        "b": tables.categorical(ends.dst[fr], ends.addresses), "b_port": ends.dport[fr],
        "evidence": tables.categorical(tables.zero_is_missing(evidence[fr]), demux.EVIDENCE_NAMES),
        "packets": counts, "first_t": t[fr], "last_t": t[last_row],
    }, tables.FLOWS_SCHEMA)
    return df, webrtc_flows(ends, flow, evidence, fr)


def webrtc_flows(ends: demux.Endpoints, flow: np.ndarray, evidence: np.ndarray, fr: np.ndarray | None = None) -> dict:
    """{flow_key: evidence} of the flows found to be WebRTC, to carry into the next chunk (apply_known); `fr`: the
    flows' first rows when the caller has them."""
    fr = first_rows(flow) if fr is None else fr
    return {flow_key(ends, int(r)): int(evidence[r]) for r in fr[evidence[fr] > 0].tolist()}


def flow_key(ends: demux.Endpoints, row: int) -> tuple:
    """A flow's identity that survives from one chunk to the next: transport and both ends, in sorted order."""
    a = (ends.addresses[ends.src[row]], int(ends.sport[row]))
    b = (ends.addresses[ends.dst[row]], int(ends.dport[row]))
    return (int(ends.transport[row]),) + (a + b if a <= b else b + a)


def apply_known(known: dict, ends: demux.Endpoints, verdict: demux.Demux, first_kind: np.ndarray) -> None:
    """Flows found to be WebRTC in earlier chunks keep that verdict and its evidence (iter_chunks)."""
    flow = verdict.flow
    fr = first_rows(flow)
    if not len(fr):
        return
    carried = np.array([known.get(flow_key(ends, int(r)), 0) for r in fr.tolist()], dtype=np.uint8)
    rows = np.flatnonzero(flow >= 0)
    hit = rows[carried[flow[rows]] > 0]
    if not len(hit):
        return
    verdict.evidence[hit] = carried[flow[hit]]
    udp = ends.transport[hit] == net.Transport.UDP
    verdict.kind[hit[udp]] = first_kind[hit[udp]]
