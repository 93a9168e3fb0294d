"""Frames through every stage: network, flows, evidence, demux, RTP/RTCP headers, tables.

Strategy: frames are decoded in slices of SLICE frames, so the per-slice working arrays stay small whatever the size
of the capture; what later stages need is kept in compact per-frame arrays.  The per-flow demultiplexing decision
needs the whole capture (or chunk), so it is taken once, after the last slice; the tables are built last.  This is
the only module that knows the order of the stages.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import threading
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..io import heap
from ..io.reader import NAT_NS, ReadState, RecordIndex, linktypes, make_batch
from ..net import demux, layers as net
from ..net.demux import Kind
from ..protocols import dtls, quic, rtcp, rtp, stun
from . import frame_tables, relay, schema as tables
from .datagrams import Datagrams, Located
from .rtcp_rows import rtcp_columns, srtcp_trailer
# What this module offered before its jobs had modules of their own (capture.py, writer.py, tests use them here).
from .frame_reads import udp_payloads, udp_spans  # noqa: F401
from .rtcp_rows import rtcp_rows  # noqa: F401
from .stun_tables import stun_tables  # noqa: F401

SLICE = 1 << 15
_TRIM_EVERY = 8  # slices between two trims of the heaps while decoding (about 1 ms each)
TCP_SYN = relay.TCP_SYN
THREADS = min(2, os.cpu_count() or 1)  # slices decoded at once

# Packet-level protocol errors, after net.NetError's messages in the `error` category.
_STUN_LENGTH = "STUN length field does not match the datagram"
_TIME_OUT_OF_RANGE = "frame time is out of range"
_RTP_PADDING_LIES = "RTP padding count is 0 or longer than the payload"  # plain RTP only (RFC 3550 §5.1)  # its time stamp is outside datetime64[ns]: time NaT, t NaN


@dataclass
class Decoded:
    packets: pd.DataFrame
    rtp: pd.DataFrame
    rtcp: pd.DataFrame
    flows: pd.DataFrame
    icmp: pd.DataFrame
    fragments: pd.DataFrame
    webrtc_flows: dict = field(default_factory=dict)  # flow key -> Evidence, to carry into the next chunk
    stun_messages: Datagrams | None = None  # the datagrams of kind stun, decoded on demand by stun_tables
    dtls_datagrams: Datagrams | None = None  # the datagrams of kind dtls (the dtls_* tables)
    rtcp_datagrams: Datagrams | None = None  # the RTCP compound datagrams (report and feedback tables)
    rtp_framed: dict = field(default_factory=dict)  # rtp row -> packet bytes, for RTP framed out of TCP streams
    tcp_streams: pd.DataFrame | None = None  # tables.TCP_STREAMS_SCHEMA: every TCP direction so far


StunMessages = Datagrams  # the name the STUN tables were first built from


@dataclass
class Carry:
    """What one chunk hands to the next (iter_chunks): address codes, unfinished fragments, WebRTC flows, TURN
    channel bindings."""

    book: net.AddressBook = field(default_factory=net.AddressBook)
    fragments: net.Reassembler = field(default_factory=net.Reassembler)
    known_flows: dict = field(default_factory=dict)
    channels: dict = field(default_factory=dict)  # (5-tuple by address names, channel) -> peer, from ChannelBind
    tcp_streams: dict = field(default_factory=dict)  # (src, sport, dst, dport) by address names -> tcp.Stream


class _Frames:
    """Compact per-frame arrays, filled slice by slice."""

    def __init__(self, n: int):
        self.ts = np.zeros(n, dtype=np.int64)
        self.caplen = np.zeros(n, dtype=np.uint32)
        self.length = np.zeros(n, dtype=np.uint32)
        self.interface = np.zeros(n, dtype=np.uint16)
        self.ip_version = np.zeros(n, dtype=np.uint8)
        self.traffic_class = np.full(n, -1, dtype=np.int16)  # -1: no IP header (packets' dscp and ecn are null)
        # Address codes: int16 while the address book is small (half the memory), int32 from the first slice
        # that needs it (_keep_slice widens them, under `lock`, which every write of them takes).
        self.src = np.full(n, -1, dtype=np.int16)
        self.dst = np.full(n, -1, dtype=np.int16)
        self.lock = threading.Lock()
        self.sport = np.zeros(n, dtype=np.uint16)  # the packets table's own arrays (0 where has_ports is False)
        self.dport = np.zeros(n, dtype=np.uint16)
        self.has_ports = np.zeros(n, dtype=bool)
        self.transport = np.zeros(n, dtype=np.uint8)
        self.payload_len = np.zeros(n, dtype=np.uint16)  # as above (payload_known says where there is one)
        self.payload_known = np.zeros(n, dtype=bool)
        self.error = np.zeros(n, dtype=np.uint8)
        self.fragment = np.zeros(n, dtype=bool)
        self.first_kind = np.zeros(n, dtype=np.uint8)
        # Evidence (demux.decide): STUN and DTLS handshakes are few, so their rows are kept; RTP runs are most rows.
        self.stun_ev: dict[int, np.ndarray] = {}  # slice start -> rows of STUN messages with a valid header
        self.dtls_ev: dict[int, np.ndarray] = {}  # slice start -> rows of DTLS handshake records
        self.quic_ev: dict[int, np.ndarray] = {}  # slice start -> rows of QUIC client Initials
        self.rtp_ev = np.zeros(n, dtype=bool)
        self.rtp_pending: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # slice start -> rows, ssrc, seq
        self.reassembled_in: dict[int, int] = {}  # row -> frame
        self.icmp: dict[int, tuple[int, int, str | None]] = {}  # row -> (type, code, quoted)
        self.stun_bytes: dict[int, bytes] = {}  # row -> captured UDP payload, for datagrams with a STUN first byte
        self.channel_parts: dict[int, relay.ChannelPart] = {}  # slice start -> datagrams with a ChannelData first byte
        self.dtls_at = Located()  # datagrams with a DTLS first byte
        self.rtcp_at = Located()  # datagrams with an RTCP first byte
        self.data: np.ndarray | None = None  # the buffer the slices read from (for _Located)
        self.tcp_segments: dict[int, tuple[int, int, bytes, bool]] = {}  # row -> (seq, flags, payload, whole?)
        self.time_errors: list[np.ndarray] = []  # rows whose time stamp is out of range (reader: NaT), rare
        self.padding_lies: list[np.ndarray] = []  # RTP rows whose padding count is 0 or overruns the payload, rare


TABLES = ("packets", "rtp", "rtcp", "flows", "icmp", "fragments", "tcp_streams", "stun", "dtls", "rtcp_datagrams")


def decode(data: np.ndarray, index: RecordIndex, state: ReadState, first_frame: int, t0_ns: int,
           rules=(), carry: Carry | None = None, final: bool = True, build: tuple[str, ...] = TABLES) -> Decoded:
    """Decode the records of `index` (over the buffer `data`) into the packets, rtp, rtcp and flows tables.

    `carry` holds state shared with neighbouring chunks (iter_chunks); `final` says no chunk follows.  Once every
    record is read, the index is compacted (RecordIndex.compact).  `build` (names of TABLES) says which tables to
    build: the others are None in Decoded (every frame is still decoded and demultiplexed; "stun", "dtls" and
    "rtcp_datagrams" are the Datagrams the stun, dtls and RTCP report tables are made from).
    """
    carry = carry if carry is not None else Carry()
    n = len(index)
    f = _Frames(n)
    f.data = data
    starts = list(range(0, n, SLICE))
    rtp_by_slice: dict[int, tuple[np.ndarray, dict]] = {}
    rtcp_by_slice: dict[int, tuple[np.ndarray, dict, np.ndarray, np.ndarray]] = {}
    turns = _Turns()
    done, read_through, lock = [False] * len(starts), [0], threading.Lock()

    def work(i: int) -> None:
        lo = starts[i]
        try:
            batch = make_batch(data, index, lo, min(lo + SLICE, n), state, first_frame + lo)
            layer = net.decode(batch, carry.book, carry.fragments, turns.context(i))
            _keep_slice(f, lo, batch, layer, rtp_by_slice, rtcp_by_slice)
        finally:
            turns.finish(i)  # also on errors, so that no later slice waits for ever
        with lock:  # the index parts every slice has read through go as the read goes on (lower peak)
            done[i] = True
            while read_through[0] < len(starts) and done[read_through[0]]:
                read_through[0] += 1
            below = starts[read_through[0]] if read_through[0] < len(starts) else n
        index.release(below)
        if i % _TRIM_EVERY == _TRIM_EVERY - 1:
            heap.give_back_free_memory()  # the holes the slices' temporaries leave in the worker threads' heaps

    # numpy releases the GIL inside its loops, so two slices decode in parallel on two cores.
    workers = min(THREADS, len(starts))
    if workers > 1:
        with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="webrtcpcap") as pool:
            for _ in pool.map(work, range(len(starts))):
                pass
            heap.trim_worker_heaps(pool, workers)
    else:
        for i in range(len(starts)):
            work(i)
    index.compact()  # read through: later reads (a frame's bytes, payloads to decrypt) walk from checkpoints
    heap.give_back_free_memory()
    rtp_parts = [rtp_by_slice[lo] for lo in starts if lo in rtp_by_slice]
    rtcp_parts = [rtcp_by_slice[lo] for lo in starts if lo in rtcp_by_slice]
    rtp_by_slice.clear()
    rtcp_by_slice.clear()
    perm = carry.book.sort()
    small = len(carry.book.names) < np.iinfo(np.int16).max
    f.src, f.dst = _renumbered(f.src, perm, small), _renumbered(f.dst, perm, small)
    carry.fragments.expire(first_frame + n, final=final)
    for frame_no, done in carry.fragments.completed.items():
        row = frame_no - first_frame
        if 0 <= row < n:
            f.reassembled_in[row] = done
    for frame_no in carry.fragments.incomplete:
        row = frame_no - first_frame
        if 0 <= row < n and f.error[row] == 0:
            f.error[row] = net.NetError.FRAGMENT_INCOMPLETE
    carry.fragments.incomplete.clear()
    decoded = _tables(f, n, first_frame, t0_ns, carry, rules, rtp_parts, rtcp_parts, state.interfaces,
                      frozenset(build))
    if final:
        for stream in carry.tcp_streams.values():
            stream.finish()
    if "tcp_streams" in build:
        decoded.tcp_streams = frame_tables.tcp_streams_table(carry.tcp_streams)
    del f
    heap.give_back_free_memory()  # what only the building needed
    return decoded


def _renumbered(codes: np.ndarray, perm: np.ndarray, small: bool) -> np.ndarray:
    """Address codes renumbered by `perm` (AddressBook.sort), as int16 when the book is `small` (half the memory
    for the stages that follow)."""
    if len(perm):
        has = codes >= 0
        codes[has] = perm[codes[has]]
    return codes.astype(np.int16, copy=False) if small else codes


class _Turns:
    """Lets slices decoded in parallel feed the IP reassembler in capture order.

    A slice with fragments waits until every earlier slice has passed its reassembly step (or finished); a slice
    without fragments never waits.
    """

    def __init__(self):
        self.cond = threading.Condition()
        self.passed: set[int] = set()
        self.prefix = 0  # slices 0..prefix-1 have all passed

    def finish(self, i: int) -> None:
        with self.cond:
            self.passed.add(i)
            while self.prefix in self.passed:
                self.prefix += 1
            self.cond.notify_all()

    def context(self, i: int):
        turns = self

        @contextlib.contextmanager
        def in_order(has_fragments: bool):
            if has_fragments:
                with turns.cond:
                    turns.cond.wait_for(lambda: turns.prefix >= i)
            try:
                yield
            finally:
                turns.finish(i)

        return in_order


def _keep_slice(f: _Frames, lo: int, batch, layer: net.NetLayer, rtp_parts: dict, rtcp_parts: dict) -> None:
    hi = lo + len(batch)
    f.ts[lo:hi] = batch.ts_ns
    if batch.time_out_of_range is not None:
        f.time_errors.append(lo + np.flatnonzero(batch.time_out_of_range))
    f.caplen[lo:hi] = batch.caplen
    f.length[lo:hi] = batch.length
    f.interface[lo:hi] = batch.interface
    f.ip_version[lo:hi] = layer.ip_version
    f.traffic_class[lo:hi] = layer.traffic_class
    with f.lock:
        if len(layer.addresses) > np.iinfo(f.src.dtype).max:
            f.src, f.dst = f.src.astype(np.int32), f.dst.astype(np.int32)
        f.src[lo:hi] = layer.src
        f.dst[lo:hi] = layer.dst
    has_ports = layer.sport >= 0
    f.has_ports[lo:hi] = has_ports
    f.sport[lo:hi] = np.where(has_ports, layer.sport, 0)
    f.dport[lo:hi] = np.where(has_ports, layer.dport, 0)
    f.transport[lo:hi] = layer.transport
    known = layer.payload_len >= 0
    f.payload_known[lo:hi] = known
    f.payload_len[lo:hi] = np.where(known, layer.payload_len, 0)  # a UDP/IP length field: 16 bits
    f.error[lo:hi] = layer.error
    f.fragment[lo:hi] = layer.fragment
    for row in np.flatnonzero(layer.reassembled_in).tolist():
        f.reassembled_in[lo + row] = int(layer.reassembled_in[row])
    for row in np.flatnonzero(layer.icmp_type >= 0).tolist():
        f.icmp[lo + row] = (int(layer.icmp_type[row]), int(layer.icmp_code[row]), layer.icmp_quoted.get(row))

    src = layer.source
    udp = np.flatnonzero((layer.transport == net.Transport.UDP) & (layer.payload_cap > 0))
    off = layer.payload_off[udp]
    capb = layer.payload_cap[udp].astype(np.int64)
    wire = layer.payload_len[udp].astype(np.int64)
    cur = src.at(off)
    first = cur.u8(0)
    second = np.where(capb >= 2, cur.u8(1), 0)
    word1 = np.where(capb >= 8, cur.be32(4), 0)
    kinds = demux.first_byte_kind(first, second, word1 == stun.STUN_MAGIC_COOKIE, word1 == demux.ZRTP_MAGIC_COOKIE)
    f.first_kind[lo + udp] = kinds
    sel = np.flatnonzero(kinds == Kind.STUN)
    for r, o, c in zip(udp[sel].tolist(), off[sel].tolist(), capb[sel].tolist()):
        f.stun_bytes[lo + r] = src.bytes_at(o, c)  # few: STUN is decoded per message, on demand (stun_tables)
    sel = np.flatnonzero(kinds == Kind.TURN_CHANNEL)
    if len(sel):  # ChannelData headers and what they carry, read while the slice's bytes are at hand (relay.unwrap)
        f.channel_parts[lo] = relay.channel_part(src, lo + udp[sel], off[sel], capb[sel], wire[sel])
    # Decoded per message on demand (handshakes, data channels, RTCP compounds): only where they are, for now.
    for wanted, located in ((Kind.DTLS, f.dtls_at), (Kind.RTCP, f.rtcp_at)):
        sel = kinds == wanted
        if sel.any():
            located.add(src, lo + udp[sel], off[sel], capb[sel])
    # TCP segments with data (or a SYN, which fixes the stream's first sequence number): framed in relay.frame_tcp.
    tcp_rows = np.flatnonzero((layer.transport == net.Transport.TCP) & (layer.payload_off >= 0)
                              & ((layer.payload_cap > 0) | (layer.tcp_flags & TCP_SYN > 0)))
    for r, o, c, w, seq, flags in zip(tcp_rows.tolist(), layer.payload_off[tcp_rows].tolist(),
                                      layer.payload_cap[tcp_rows].tolist(), layer.payload_len[tcp_rows].tolist(),
                                      layer.tcp_seq[tcp_rows].tolist(), layer.tcp_flags[tcp_rows].tolist()):
        f.tcp_segments[lo + r] = (seq, flags, src.bytes_at(o, c) if c > 0 else b"", c >= w)
    sel = np.flatnonzero(first <= 3)
    f.stun_ev[lo] = lo + udp[sel[stun.looks_like_stun(src, off[sel], capb[sel], wire[sel])]]
    sel = np.flatnonzero(first == dtls.ContentType.HANDSHAKE)
    f.dtls_ev[lo] = lo + udp[sel[dtls.looks_like_handshake(src, off[sel], capb[sel], wire[sel])]]
    sel = np.flatnonzero(first >= 0xC0)  # QUIC long header with the fixed bit (RFC 9000 §17.2)
    f.quic_ev[lo] = lo + udp[sel[quic.looks_like_initial(src, off[sel], capb[sel], wire[sel])]]

    sel = kinds == Kind.RTP
    if sel.any():
        hdr = rtp.decode_headers(src, off[sel], capb[sel], wire[sel])
        del hdr["b0"], hdr["b1"]
        rows = udp[sel]
        rtp_parts[lo] = ((lo + rows).astype(np.int32), hdr)  # int32: rows of one read, half the memory
        # RFC 3550 §5.1: with P set, the last byte counts the padding (itself included).  Judged later, and only
        # where the flow has no DTLS (an SRTP packet's last bytes are its auth tag).
        padded = hdr["padding"] & (hdr["error"] == rtp.RTP_OK) & (capb[sel] >= wire[sel])
        if padded.any():
            count = src.u8(off[sel] + wire[sel].astype(np.int64) - 1, padded)
            lies = padded & ((count == 0) | (count > hdr["payload_len"]))
            if lies.any():
                f.padding_lies.append(lo + rows[lies])
        # RTP runs, within the slice first; the rows not in a run yet are looked at again at the end.
        clean = hdr["error"] == rtp.RTP_OK
        rows, ssrc, seq = rows[clean], hdr["ssrc"][clean], hdr["seq"][clean]
        in_run = demux.rtp_run_rows(_direction(layer.src, layer.sport, layer.dst, layer.dport, rows), ssrc, seq)
        f.rtp_ev[lo + rows[in_run]] = True
        if not in_run.all():
            f.rtp_pending[lo] = (lo + rows[~in_run], ssrc[~in_run], seq[~in_run])
    sel = kinds == Kind.RTCP
    if sel.any():
        rows, status = rtcp.walk_compound(src, off[sel], capb[sel], wire[sel])
        rtcp_parts[lo] = (lo + udp[sel], rows, status, srtcp_trailer(src, off[sel], capb[sel], wire[sel], rows))


def _row_mask(n: int, parts: dict[int, np.ndarray]) -> np.ndarray:
    """A per-frame mask that is True at the rows of every part."""
    mask = np.zeros(n, dtype=bool)
    for rows in parts.values():
        mask[rows] = True
    return mask


def _direction(src, sport, dst, dport, rows) -> np.ndarray:
    """An int64 key per row that is equal for datagrams from the same address:port to the same address:port."""
    a = src[rows].astype(np.int64) << 16 | sport[rows]
    b = dst[rows].astype(np.int64) << 16 | dport[rows]
    if len(rows) and max(int(src[rows].max()), int(dst[rows].max())) < 1 << 15:
        return a << 31 | b  # each end fits in 31 bits
    return np.unique(np.stack([a, b], axis=1), axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)


def _concat(parts: list[dict], key: str, dtype) -> np.ndarray:
    """One column out of per-slice parts, dropping the parts' copies as it goes (to keep the peak low)."""
    if not parts:
        return np.zeros(0, dtype=dtype)
    out = np.concatenate([p[key] for p in parts])
    for p in parts:
        del p[key]
    return out


def _tables(f: _Frames, n: int, first_frame: int, t0_ns: int, carry: Carry, rules, rtp_parts, rtcp_parts,
            interfaces, wanted: frozenset = frozenset(TABLES)) -> Decoded:
    """The tables of one read, in named steps: evidence and flows, the per-slice parts merged, the demux decision,
    TCP framing and TURN unwrapping, SRTCP, the error column, then each table (the widest arrays go first, so that
    the peak stays low)."""
    addresses = carry.book.names
    ends = demux.Endpoints(f.transport, f.src, f.sport, f.dst, f.dport, f.has_ports, f.ip_version, f.fragment,
                           addresses)
    _finish_rtp_runs(f)
    flow = demux.flows(ends)
    n_flows = int(flow.max()) + 1 if n and flow.max() >= 0 else 0
    stun_ev, dtls_ev, quic_ev = (_row_mask(n, parts) for parts in (f.stun_ev, f.dtls_ev, f.quic_ev))
    f.stun_ev = f.dtls_ev = f.quic_ev = None
    flow_has_dtls = np.zeros(n_flows + 1, dtype=bool)  # the extra last slot is indexed by flow -1
    flow_has_dtls[flow[dtls_ev]] = True
    flow_has_dtls[-1] = False
    rtp_rows, hdr = _merged_rtp(rtp_parts)
    compounds = _merged_rtcp(rtcp_parts)
    heap.give_back_free_memory()  # the per-slice parts just merged

    verdict = demux.decide(
        ends, flow, f.first_kind, stun_ev, dtls_ev, f.rtp_ev, compounds.exact_rows(), compounds.exact_multi_rows(),
        rules=list(rules), first_byte=None, quic_evidence=quic_ev)
    if carry.known_flows:
        frame_tables.apply_known(carry.known_flows, ends, verdict, f.first_kind)
    kind = verdict.kind
    tcp_messages, packet_kind = relay.frame_tcp(f, kind, addresses, carry.tcp_streams, first_frame)
    inner = relay.unwrap(f, kind, flow, n_flows, addresses, carry.channels, tcp_messages)
    compounds.mark_srtcp(flow_has_dtls[flow[compounds.rows]] if len(compounds.rows) else np.zeros(0, bool))

    is_rtp = kind[rtp_rows] == Kind.RTP if len(rtp_rows) else np.zeros(0, bool)
    is_rtcp = kind[compounds.rows] == Kind.RTCP if len(compounds.rows) else np.zeros(0, bool)
    error, names = _error_codes(f, kind, interfaces, stun_ev, rtp_rows[is_rtp], hdr["error"][is_rtp],
                                flow_has_dtls[flow], compounds.rows[is_rtcp], compounds.status[is_rtcp], inner)
    f.first_kind = f.rtp_ev = None  # the demux is done; the tables do not need them
    del stun_ev, dtls_ev, quic_ev
    frame = np.arange(first_frame, first_frame + n, dtype=np.uint32)
    t = _seconds(f.ts, t0_ns)
    heap.give_back_free_memory()  # the demux's temporaries, before the tables grow
    if "flows" in wanted:
        flows_df, webrtc_flows = frame_tables.flows_table(ends, flow, verdict.evidence, t)
    else:
        flows_df, webrtc_flows = None, frame_tables.webrtc_flows(ends, flow, verdict.evidence)
    carry.known_flows.update(webrtc_flows)
    del ends
    packets, cs = frame_tables.packets_table(f, frame, t, flow, n_flows, verdict, packet_kind, error, names,
                                             addresses)
    flow = packets["flow"].array.codes  # the same ids, one byte each (tables.id_category): the int32 ids go
    transport = (packets["transport"].array.codes, list(packets["transport"].cat.categories))
    stun_rows, dtls_rows = np.flatnonzero(kind == Kind.STUN), np.flatnonzero(kind == Kind.DTLS)
    icmp_df = frame_tables.icmp_table(f, cs) if "icmp" in wanted else None
    fragments_df = frame_tables.fragments_table(f, cs) if "fragments" in wanted else None
    del verdict, kind, packet_kind
    # What the other tables do not need goes now, to keep the peak low.
    f.ts = f.caplen = f.length = f.interface = f.payload_len = f.payload_known = f.error = None
    f.src = f.dst = f.sport = f.dport = f.has_ports = f.ip_version = f.fragment = f.transport = None
    del error
    heap.give_back_free_memory()  # the demux's and the packets table's temporaries, before the other tables grow

    rtcp_df = _rtcp_table(compounds, is_rtcp, flow_has_dtls[flow], inner, cs) if "rtcp" in wanted else None
    no_inner = (np.zeros(0, np.int64), np.zeros(0, np.int64), [])
    stun_messages = dtls_datagrams = rtcp_datagrams = None
    if "stun" in wanted:
        stun_messages = _datagrams(f, cs, transport, inner, stun_rows, f.stun_bytes,
                                   (inner.stun_rows, inner.stun_index, inner.stun_payloads) if inner else no_inner)
    if "dtls" in wanted:
        dtls_datagrams = _datagrams(f, cs, transport, inner, dtls_rows, f.dtls_at,
                                    (inner.dtls_rows, inner.dtls_index, inner.dtls_payloads) if inner else no_inner)
    if "rtcp_datagrams" in wanted:
        rtcp_dg_rows, first = np.unique(compounds.rows[is_rtcp], return_index=True)
        rtcp_srtcp = ((compounds.status[is_rtcp] == rtcp.COMPOUND_ONLY_FIRST)[first],
                      inner.rtcp_dg_srtcp if inner else np.zeros(0, bool))
        rtcp_datagrams = _datagrams(f, cs, transport, inner, rtcp_dg_rows, f.rtcp_at,
                                    (inner.rtcp_dg_rows, inner.rtcp_dg_index, inner.rtcp_dg_payloads) if inner
                                    else no_inner, rtcp_srtcp)
    del compounds, is_rtcp
    f.stun_bytes.clear()
    heap.give_back_free_memory()  # before the rtp table, the largest after packets, grows
    if "rtp" in wanted:
        rtp_df, rtp_framed = _rtp_table(rtp_rows, hdr, is_rtp, flow_has_dtls[flow], inner, cs)
    else:
        rtp_df, rtp_framed = None, {}
    return Decoded(packets, rtp_df, rtcp_df, flows_df, icmp_df, fragments_df, webrtc_flows,
                   stun_messages, dtls_datagrams, rtcp_datagrams, rtp_framed)


def _finish_rtp_runs(f: _Frames) -> None:
    """RTP evidence for the rows that were in no run within their own slice: looked at again across slices."""
    if not f.rtp_pending:
        return
    pending = [f.rtp_pending[lo] for lo in sorted(f.rtp_pending)]  # capture order
    rows = np.concatenate([p[0] for p in pending])
    in_run = demux.rtp_run_rows(_direction(f.src, f.sport, f.dst, f.dport, rows),
                                np.concatenate([p[1] for p in pending]), np.concatenate([p[2] for p in pending]))
    f.rtp_ev[rows[in_run]] = True
    f.rtp_pending.clear()


def _merged_rtp(rtp_parts: list) -> tuple[np.ndarray, dict]:
    """The RTP header columns of every slice, one column at a time (the parts go as they are merged)."""
    rtp_rows = np.concatenate([p[0] for p in rtp_parts]) if rtp_parts else np.zeros(0, np.int32)
    hdr = {}
    for k, dtype in rtp.HEADER_FIELDS.items():
        hdr[k] = _concat([p[1] for p in rtp_parts], k, dtype)
        # The parts were the worker threads' allocations: glibc keeps their pages until trimmed, and the whole
        # columns come on top of them.
        heap.give_back_free_memory()
    rtp_parts.clear()
    return rtp_rows, hdr


_SUB_FIELDS = ("datagram", "index", "pt", "count", "padding", "sender_ssrc", "has_ssrc", "length_bytes", "offset")


class _Compounds:
    """The RTCP compound datagrams of one read: each one's row and status (rtcp.COMPOUND_*), whether its bytes end
    like SRTCP, and its sub-packets (`sub`: rtcp.walk_compound's columns, `datagram` indexing `rows`)."""

    def __init__(self, rows: np.ndarray, status: np.ndarray, trailer: np.ndarray, sub: dict):
        self.rows, self.status, self.trailer, self.sub = rows, status, trailer, sub

    def _multi(self) -> np.ndarray:
        multi = np.zeros(len(self.rows), dtype=bool)
        multi[self.sub["datagram"][self.sub["index"] == 1]] = True
        return multi

    def exact_rows(self) -> np.ndarray:
        """Rows of the compounds that chain exactly (evidence of RTCP)."""
        return self.rows[self.status == rtcp.COMPOUND_EXACT]

    def exact_multi_rows(self) -> np.ndarray:
        """Rows of the compounds that chain exactly over more than one packet (stronger evidence)."""
        return self.rows[(self.status == rtcp.COMPOUND_EXACT) & self._multi()]

    def mark_srtcp(self, on_dtls_flow: np.ndarray) -> None:
        """SRTCP: after a DTLS-SRTP handshake only the first RTCP header is in the clear, unless the whole compound
        chains exactly (plain RTCP; ciphertext and an SRTCP trailer practically never do).  Without a handshake on
        the flow in this read (SDES keys, media after a pair switch, a later chunk), the bytes decide: an SRTCP
        trailer where a plain compound would have failed to chain.  Only the first header of an SRTCP one stays."""
        srtcp = (on_dtls_flow | self.trailer) & (self.status != rtcp.COMPOUND_EXACT)
        drop = srtcp[self.sub["datagram"]] & (self.sub["index"] > 0)
        if drop.any():
            self.sub = {k: v[~drop] for k, v in self.sub.items()}
        self.status = np.where(srtcp & (self.status != rtcp.COMPOUND_TRUNCATED), rtcp.COMPOUND_ONLY_FIRST,
                               self.status)


def _merged_rtcp(rtcp_parts: list) -> _Compounds:
    """The RTCP compounds of every slice, their sub-packets renumbered to index the merged datagrams."""
    rows, subs, status, trailer = [], [], [], []
    base = 0
    for part_rows, sub, part_status, part_trailer in rtcp_parts:
        sub = dict(sub)
        sub["datagram"] = sub["datagram"] + base
        subs.append(sub)
        rows.append(part_rows)
        status.append(part_status)
        trailer.append(part_trailer)
        base += len(part_rows)
    rtcp_parts.clear()
    return _Compounds(np.concatenate(rows) if rows else np.zeros(0, np.int64),
                      np.concatenate(status) if status else np.zeros(0, np.uint8),
                      np.concatenate(trailer) if trailer else np.zeros(0, bool),
                      {k: _concat(subs, k, np.int64) for k in (list(subs[0]) if subs else _SUB_FIELDS)})


def _error_codes(f: _Frames, kind: np.ndarray, interfaces, stun_ev: np.ndarray, rtp_rows: np.ndarray,
                 rtp_error: np.ndarray, frame_has_dtls: np.ndarray, rtcp_dg_rows: np.ndarray, rtcp_status: np.ndarray,
                 inner) -> tuple[np.ndarray, list[str]]:
    """The packets table's error column (codes, -1 none) and its names: network errors first, then what the
    protocol layer found (a frame keeps the first error found)."""
    names = [""] + [net.NET_ERROR_MESSAGES[e] for e in net.NetError if e != net.NetError.NONE]
    error = f.error.astype(np.int16)
    error[error == 0] = -1
    extra: dict[str, int] = {}

    def add_error(rows, message):
        code = extra.setdefault(message, len(names) + len(extra))
        rows = rows[error[rows] < 0]
        error[rows] = code

    unknown = np.flatnonzero(f.error == net.NetError.UNKNOWN_LINKTYPE)
    if len(unknown):
        error[unknown] = -1  # replaced by a message naming the link type
        linktype = linktypes(interfaces, f.interface[unknown])
        for lt in np.unique(linktype).tolist():
            add_error(unknown[linktype == lt],
                      net.NET_ERROR_MESSAGES[net.NetError.UNKNOWN_LINKTYPE].format(linktype=lt))
    if f.time_errors:
        add_error(np.concatenate(f.time_errors), _TIME_OUT_OF_RANGE)
    add_error(np.flatnonzero((kind == Kind.STUN) & ~stun_ev), _STUN_LENGTH)
    for code, message in rtp.RTP_ERROR_MESSAGES.items():
        add_error(rtp_rows[rtp_error == code], message)
    if f.padding_lies:
        lies = np.concatenate(f.padding_lies)
        add_error(lies[(kind[lies] == Kind.RTP) & ~frame_has_dtls[lies]], _RTP_PADDING_LIES)
    for code, message in rtcp.COMPOUND_MESSAGES.items():
        add_error(rtcp_dg_rows[rtcp_status == code], message)
    for message, bad in (inner.problems if inner is not None else {}).items():
        add_error(np.asarray(bad, dtype=np.int64), message)
    return error, names + list(extra)


def _seconds(ts: np.ndarray, t0_ns: int) -> np.ndarray:
    """Seconds since the first frame, NaN where a frame has no time (NaT)."""
    t = np.empty(len(ts), dtype=np.float64)
    for lo in range(0, len(ts), SLICE):  # a slice at a time: a whole int64 difference would be 8 bytes a packet more
        part = ts[lo : lo + SLICE]
        t[lo : lo + SLICE] = np.where(part == NAT_NS, np.nan, (part - t0_ns) / 1e9)
    return t


def _rtcp_table(compounds: _Compounds, is_rtcp: np.ndarray, frame_has_dtls: np.ndarray, inner,
                cs: frame_tables.ColumnSource) -> pd.DataFrame:
    """The rtcp table: a row per sub-packet of the datagrams of kind rtcp, direct and relayed, in capture order."""
    sub = compounds.sub
    keep = is_rtcp[sub["datagram"]] if len(sub["datagram"]) else np.zeros(0, bool)
    sub = {k: v[keep] for k, v in sub.items()}
    rows = compounds.rows[sub["datagram"]]
    status = compounds.status[sub["datagram"]]
    dtls_srtp = frame_has_dtls[rows]
    relays = relay.Relay.direct(len(rows))
    if inner is not None and len(inner.rtcp_rows):
        rows, order = relay.merged_order(rows, inner.rtcp_rows)
        sub = {k: np.concatenate([v, inner.rtcp_sub[k]])[order] for k, v in sub.items() if k != "datagram"}
        status = np.concatenate([status, inner.rtcp_status])[order]
        dtls_srtp = np.concatenate([dtls_srtp, inner.rtcp_dtls])[order]
        relays = relays.append(inner.relay_of(inner.rtcp_index), order)
    return tables.frame_table({**frame_tables.key_columns(rows, cs), **rtcp_columns(sub, status, dtls_srtp),
                               **relays.columns(inner)}, tables.RTCP_SCHEMA)


def _datagrams(f: _Frames, cs: frame_tables.ColumnSource, transport: tuple, inner, rows: np.ndarray, store,
               inner_part: tuple, srtcp: tuple | None = None) -> Datagrams:
    """The Datagrams of one kind: the direct ones at `rows` (bytes in `store`, a dict or a Located) and the inner
    ones of `inner_part` (outer rows, inner index, payloads), merged in capture order."""
    direct = (lambda direct_rows=rows: [store.get(r, b"") for r in direct_rows.tolist()]) \
        if isinstance(store, dict) else store.reader(f.data, rows)
    relays = relay.Relay.direct(len(rows))
    order = None
    if inner is not None and len(inner_part[0]):
        inner_rows, inner_index, _ = inner_part
        rows, order = relay.merged_order(rows, inner_rows)
        relays = relays.append(inner.relay_of(inner_index), order)
    keys = frame_tables.key_columns(rows, cs)
    keys["transport"] = tables.categorical(transport[0][rows], transport[1])
    keys.update(relays.columns(inner))
    if srtcp is not None:  # (direct, inner): only the first RTCP header is readable, the rest is ciphertext
        both = np.concatenate(srtcp) if order is not None else srtcp[0]
        keys["srtcp"] = both if order is None else both[order]

    def make() -> list[bytes]:
        payloads = direct()
        if order is None:
            return payloads
        both = payloads + inner_part[2]
        return [both[i] for i in order.tolist()]

    return Datagrams(keys, make() if isinstance(store, dict) else None, make=make)


def _rtp_table(rtp_rows: np.ndarray, hdr: dict, is_rtp: np.ndarray, frame_has_dtls: np.ndarray, inner,
               cs: frame_tables.ColumnSource) -> tuple[pd.DataFrame, dict]:
    """The rtp table, direct and relayed rows in capture order, and {rtp row: packet bytes} for RTP framed out of
    TCP streams.  The narrow columns come first, each freeing the wider array it came from, then the key columns:
    the peak of the whole decode is here."""
    if not is_rtp.all():
        rtp_rows = rtp_rows[is_rtp]
        for k in list(hdr):  # one column at a time: each old array goes as its filtered copy comes
            hdr[k] = hdr[k][is_rtp]
    del is_rtp
    rtp_dtls = frame_has_dtls[rtp_rows]
    relays = relay.Relay.direct(len(rtp_rows))
    rtp_framed: dict = {}
    if inner is not None and len(inner.rtp_rows):
        n_direct = len(rtp_rows)
        rtp_rows, order = relay.merged_order(rtp_rows, inner.rtp_rows)
        if inner.rtp_framed:
            position = np.empty(len(order), dtype=np.int64)
            position[order] = np.arange(len(order))
            rtp_framed = {int(position[n_direct + k]): data for k, data in inner.rtp_framed.items()}
        hdr = {k: np.concatenate([v, inner.rtp_hdr[k]])[order] for k, v in hdr.items()}
        rtp_dtls = np.concatenate([rtp_dtls, inner.rtp_dtls])[order]
        relays = relays.append(inner.relay_of(inner.rtp_index), order)
    if not len(rtp_rows):
        return tables.empty_table(tables.RTP_SCHEMA), rtp_framed
    no_profile = rtp.ext_profile_missing(hdr["extension"], hdr["error"])
    rtp_names = [""] + list(rtp.RTP_ERROR_MESSAGES.values())
    rtp_error = np.full(len(rtp_rows), -1, dtype=np.int8)
    for i, code in enumerate(rtp.RTP_ERROR_MESSAGES, start=1):
        rtp_error[hdr["error"] == code] = i
    del hdr["error"]
    ext_profile = tables.int_category(hdr.pop("ext_profile"), no_profile, "uint16")
    del no_profile
    columns = {"error": tables.categorical(rtp_error, rtp_names), "ext_profile": ext_profile,
               "dtls_srtp": rtp_dtls, **relays.columns(inner), **hdr}
    del rtp_error, relays, hdr, rtp_dtls
    heap.give_back_free_memory()  # the wider header arrays the narrow columns came from
    columns.update(frame_tables.key_columns(rtp_rows, cs, consume=True))
    del rtp_rows
    return tables.frame_table(columns, tables.RTP_SCHEMA), rtp_framed
