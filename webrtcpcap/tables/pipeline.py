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

from ..io import buffer, heap
from ..net import demux, layers as net, tcp
from ..protocols import dtls, quic, rtcp, rtp, stun
from . import schema as tables
from ..net.demux import Kind
from ..io.errors import DecodeError
from ..io.reader import NAT_NS, ReadState, RecordIndex, linktypes, make_batch

SLICE = 1 << 15
_TRIM_EVERY = 8  # slices between two trims of the heaps while decoding (about 1 ms each)
TCP_SYN = 0x02  # RFC 9293 §3.1
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


class Datagrams:
    """Datagrams of one kind, direct and relayed, in capture order: their key columns (as _key_columns gives them, plus
    transport, relayed, relay and peer) and their captured payloads (a relayed one: the datagram TURN carried).
    `payloads` may be made on first use (`make`), so that decoding a capture copies no bytes nobody asks for."""

    def __init__(self, keys: dict, payloads: list[bytes] | None = None, make=None):
        self.keys = keys
        self._payloads = payloads
        self._make = make

    @property
    def payloads(self) -> list[bytes]:
        if self._payloads is None:
            self._payloads = self._make() if self._make is not None else []
            self._make = None
        return self._payloads

    def __len__(self) -> int:
        return len(self.keys["frame"])


class _Located:
    """Where the datagrams of one kind lie in the file's bytes (file offset and captured length, per slice), so
    that their bytes are copied only when someone asks (Datagrams.payloads).  Reassembled ones, which live in a
    slice's extra area, are copied at once (few)."""

    def __init__(self):
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # list.append is atomic: threads may add
        self.extra: dict[int, bytes] = {}

    def add(self, src: buffer.ByteSource, rows: np.ndarray, off: np.ndarray, cap: np.ndarray) -> None:
        in_file = off < buffer.EXTRA
        self.parts.append((rows[in_file], src.absolute(off[in_file]), cap[in_file]))
        for r, o, c in zip(rows[~in_file].tolist(), off[~in_file].tolist(), cap[~in_file].tolist()):
            self.extra[r] = src.bytes_at(o, c)

    def reader(self, data: np.ndarray, rows: np.ndarray):
        """A function giving the bytes of `rows` (b"" for a row not recorded here)."""
        if self.parts:
            # Each part's rows ascend, and parts are slices, which do not overlap: in slice order, all rows ascend.
            self.parts.sort(key=lambda part: int(part[0][0]) if len(part[0]) else -1)
            all_rows = np.concatenate([p[0] for p in self.parts])
            pos = np.concatenate([p[1] for p in self.parts])
            cap = np.concatenate([p[2] for p in self.parts])
        else:
            all_rows = pos = cap = np.zeros(0, dtype=np.int64)
        at = np.searchsorted(all_rows, rows)
        found = (at < len(all_rows)) & (all_rows[np.minimum(at, max(len(all_rows) - 1, 0))] == rows) \
            if len(all_rows) else np.zeros(len(rows), dtype=bool)
        where = np.where(found, pos[np.minimum(at, max(len(pos) - 1, 0))] if len(pos) else 0, -1)
        size = np.where(found, cap[np.minimum(at, max(len(cap) - 1, 0))] if len(cap) else 0, 0)
        extra = dict(self.extra)
        self.parts, self.extra = [], {}

        def read() -> list[bytes]:
            mem = memoryview(data)
            return [extra.get(r, b"") if w < 0 else bytes(mem[w:w + c])
                    for r, w, c in zip(rows.tolist(), where.tolist(), size.tolist())]

        return read


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
        self.turn_bytes: dict[int, bytes] = {}  # row -> captured UDP payload, for datagrams with a ChannelData one
        self.dtls_at = _Located()  # datagrams with a DTLS first byte
        self.rtcp_at = _Located()  # datagrams with an RTCP first byte
        self.data: np.ndarray | None = None  # the buffer the slices read from (for _Located)
        self.tcp_segments: dict[int, tuple[int, int, bytes, bool]] = {}  # row -> (seq, flags, payload, whole?)
        self.time_errors: list[np.ndarray] = []  # rows whose time stamp is out of range (reader: NaT), rare
        self.padding_lies: list[np.ndarray] = []  # RTP rows whose padding count is 0 or overruns the payload, rare


def decode(data: np.ndarray, index: RecordIndex, state: ReadState, first_frame: int, t0_ns: int,
           rules=(), carry: Carry | None = None, final: bool = True) -> Decoded:
    """Decode the records of `index` (over the buffer `data`) into the packets, rtp, rtcp and flows tables.

    `carry` holds state shared with neighbouring chunks (iter_chunks); `final` says no chunk follows.  Once every
    record is read, the index is compacted (RecordIndex.compact).
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
    decoded = _tables(f, n, first_frame, t0_ns, carry, rules, rtp_parts, rtcp_parts, state.interfaces)
    if final:
        for stream in carry.tcp_streams.values():
            stream.finish()
    decoded.tcp_streams = _tcp_streams_table(carry.tcp_streams)
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
    for r, o, c in zip(udp[sel].tolist(), off[sel].tolist(), capb[sel].tolist()):
        f.turn_bytes[lo + r] = src.bytes_at(o, c)  # few: ChannelData is unwrapped per message (_unwrap_turn)
    # Decoded per message on demand (handshakes, data channels, RTCP compounds): only where they are, for now.
    for wanted, located in ((Kind.DTLS, f.dtls_at), (Kind.RTCP, f.rtcp_at)):
        sel = kinds == wanted
        if sel.any():
            located.add(src, lo + udp[sel], off[sel], capb[sel])
    # TCP segments with data (or a SYN, which fixes the stream's first sequence number): framed in _frame_tcp.
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
        rtcp_parts[lo] = (lo + udp[sel], rows, status, _srtcp_trailer(src, off[sel], capb[sel], wire[sel], rows))


# SRTCP trailers (RFC 3711 §3.4): after the compound, the E flag and 31-bit SRTCP index, then (AES-CM/f8 with
# HMAC-SHA1) the 80-bit auth tag; with AES-GCM (RFC 7714 §9.1) the tag is inside and E+index comes last.
SRTCP_TAG_HMAC = 10
SRTCP_INDEX_LEN = 4
SRTCP_GCM_TAG = 16
# An index this large needs 16 M RTCP packets on one SSRC: ciphertext read as an index is larger 127 times in 128.
SRTCP_MAX_INDEX = 1 << 24


def _srtcp_trailer(src, off: np.ndarray, cap: np.ndarray, wire: np.ndarray, sub: dict) -> np.ndarray:
    """Per RTCP datagram: do its bytes end like SRTCP?  The first header is in the clear, so its length L1 is true;
    what follows is ciphertext of the rest of the compound (a whole number of words), then E+index with E set and a
    plausible index, at the place one of the two trailer layouts puts it.  Plain RTCP that chains exactly is never
    asked (the caller keeps it); this decides for flows that no DTLS handshake in the same read marks."""
    n = len(off)
    first_len = np.zeros(n, dtype=np.int64)
    head = sub["index"] == 0
    first_len[sub["datagram"][head]] = sub["length_bytes"][head]
    whole = (cap >= wire) & (first_len > 0)
    out = np.zeros(n, dtype=bool)
    for trailer, index_at in ((SRTCP_INDEX_LEN + SRTCP_TAG_HMAC, SRTCP_TAG_HMAC + SRTCP_INDEX_LEN),
                              (SRTCP_GCM_TAG + SRTCP_INDEX_LEN, SRTCP_INDEX_LEN)):
        rest = wire.astype(np.int64) - first_len - trailer
        fits = whole & (rest >= 0) & (rest % 4 == 0)
        word = src.be32(off + wire.astype(np.int64) - index_at, fits).astype(np.int64)
        out |= fits & (word >> 31 == 1) & ((word & 0x7FFFFFFF) < SRTCP_MAX_INDEX)
    return out


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
            interfaces) -> Decoded:
    addresses = carry.book.names
    ends = demux.Endpoints(f.transport, f.src, f.sport, f.dst, f.dport, f.has_ports, f.ip_version, f.fragment,
                           addresses)
    if f.rtp_pending:
        pending = [f.rtp_pending[lo] for lo in sorted(f.rtp_pending)]  # capture order
        rows = np.concatenate([p[0] for p in pending])
        in_run = demux.rtp_run_rows(_direction(f.src, f.sport, f.dst, f.dport, rows),
                                    np.concatenate([p[1] for p in pending]),
                                    np.concatenate([p[2] for p in pending]))
        f.rtp_ev[rows[in_run]] = True
        f.rtp_pending.clear()
    flow = demux.flows(ends)
    n_flows = int(flow.max()) + 1 if n and flow.max() >= 0 else 0
    flow_has_dtls = np.zeros(n_flows + 1, dtype=bool)  # the extra last slot is indexed by flow -1
    stun_ev, dtls_ev, quic_ev = (_row_mask(n, parts) for parts in (f.stun_ev, f.dtls_ev, f.quic_ev))
    f.stun_ev = f.dtls_ev = f.quic_ev = None
    flow_has_dtls[flow[dtls_ev]] = True
    flow_has_dtls[-1] = False

    rtp_rows = np.concatenate([p[0] for p in rtp_parts]) if rtp_parts else np.zeros(0, np.int32)
    hdr = {}
    for k, dtype in rtp.HEADER_FIELDS.items():
        hdr[k] = _concat([p[1] for p in rtp_parts], k, dtype)
        # The parts were the worker threads' allocations: glibc keeps their pages until trimmed, and the whole
        # columns come on top of them.
        heap.give_back_free_memory()
    rtp_parts.clear()

    # RTCP: each datagram's row range, its status; SRTCP (DTLS flows) keeps only the first header.
    rtcp_dgram_rows, rtcp_sub, rtcp_status, rtcp_trailer = [], [], [], []
    base = 0
    for rows, sub, status, trailer in rtcp_parts:
        sub = dict(sub)
        sub["datagram"] = sub["datagram"] + base
        rtcp_sub.append(sub)
        rtcp_dgram_rows.append(rows)
        rtcp_status.append(status)
        rtcp_trailer.append(trailer)
        base += len(rows)
    rtcp_parts.clear()
    srtcp_trailer = np.concatenate(rtcp_trailer) if rtcp_trailer else np.zeros(0, bool)
    dg_rows = np.concatenate(rtcp_dgram_rows) if rtcp_dgram_rows else np.zeros(0, np.int64)
    dg_status = np.concatenate(rtcp_status) if rtcp_status else np.zeros(0, np.uint8)
    sub = {k: _concat(rtcp_sub, k, np.int64) for k in list(rtcp_sub[0] if rtcp_sub else
           {"datagram": 0, "index": 0, "pt": 0, "count": 0, "padding": 0, "sender_ssrc": 0, "has_ssrc": 0,
            "length_bytes": 0, "offset": 0})}
    exact = dg_status == rtcp.COMPOUND_EXACT
    multi = np.zeros(len(dg_rows), dtype=bool)
    multi[sub["datagram"][sub["index"] == 1]] = True

    heap.give_back_free_memory()  # the per-slice parts just merged
    verdict = demux.decide(
        ends, flow, f.first_kind, stun_ev, dtls_ev, f.rtp_ev, dg_rows[exact], dg_rows[exact & multi],
        rules=list(rules), first_byte=None, quic_evidence=quic_ev)
    if carry.known_flows:
        _apply_known(carry.known_flows, ends, verdict, f.first_kind)
    kind = verdict.kind
    tcp_messages, packet_kind = _frame_tcp(f, kind, addresses, carry.tcp_streams, first_frame)
    inner = _unwrap_turn(f, kind, flow, n_flows, addresses, carry.channels, tcp_messages)

    # SRTCP: after a DTLS-SRTP handshake only the first RTCP header is in the clear, unless the whole compound
    # chains exactly (plain RTCP; ciphertext and an SRTCP trailer practically never do).
    # Without a handshake on the flow in this read (SDES keys, media after a pair switch, a later chunk), the bytes
    # decide: an SRTCP trailer where a plain compound would have failed to chain.
    srtcp = flow_has_dtls[flow[dg_rows]] if len(dg_rows) else np.zeros(0, bool)
    srtcp = (srtcp | srtcp_trailer) & (dg_status != rtcp.COMPOUND_EXACT)
    drop = srtcp[sub["datagram"]] & (sub["index"] > 0)
    if drop.any():
        sub = {k: v[~drop] for k, v in sub.items()}
    dg_status = np.where(srtcp & (dg_status != rtcp.COMPOUND_TRUNCATED), rtcp.COMPOUND_ONLY_FIRST, dg_status)

    # Errors: network first, then what the protocol layer found.
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
    is_rtp = kind[rtp_rows] == Kind.RTP if len(rtp_rows) else np.zeros(0, bool)
    for code, message in rtp.RTP_ERROR_MESSAGES.items():
        add_error(rtp_rows[is_rtp & (hdr["error"] == code)], message)
    if f.padding_lies:
        lies = np.concatenate(f.padding_lies)
        add_error(lies[(kind[lies] == Kind.RTP) & ~flow_has_dtls[flow[lies]]], _RTP_PADDING_LIES)
    is_rtcp = kind[dg_rows] == Kind.RTCP if len(dg_rows) else np.zeros(0, bool)
    for code, message in rtcp.COMPOUND_MESSAGES.items():
        add_error(dg_rows[is_rtcp & (dg_status == code)], message)
    for message, bad in (inner.problems if inner is not None else {}).items():
        add_error(np.asarray(bad, dtype=np.int64), message)
    names += list(extra)

    f.first_kind = f.rtp_ev = None  # the demux is done; the tables do not need them
    del stun_ev, dtls_ev, quic_ev
    frame = np.arange(first_frame, first_frame + n, dtype=np.uint32)
    t = np.empty(n, dtype=np.float64)
    for lo in range(0, n, SLICE):  # a slice at a time: a whole int64 difference would be 8 bytes a packet more
        ts = f.ts[lo : lo + SLICE]
        t[lo : lo + SLICE] = np.where(ts == NAT_NS, np.nan, (ts - t0_ns) / 1e9)  # no time (NaT): no t
    heap.give_back_free_memory()  # the demux's temporaries, before the tables grow
    flows_df, webrtc_flows = _flows_table(ends, flow, verdict.evidence, t)
    carry.known_flows.update(webrtc_flows)
    del ends
    packets, cs = _packets_table(f, frame, t, flow, n_flows, verdict, packet_kind, error, names, addresses)
    flow = packets["flow"].array.codes  # the same ids, one byte each (tables.id_category): the int32 ids go
    transport_codes, transport_names = packets["transport"].array.codes, list(packets["transport"].cat.categories)
    stun_rows, dtls_rows = np.flatnonzero(kind == Kind.STUN), np.flatnonzero(kind == Kind.DTLS)
    icmp_df, fragments_df = _icmp_table(f, cs), _fragments_table(f, cs)
    del verdict, kind, packet_kind
    # What the other tables do not need goes now, to keep the peak low.
    f.ts = f.caplen = f.length = f.interface = f.payload_len = f.payload_known = f.error = None
    f.src = f.dst = f.sport = f.dport = f.has_ports = f.ip_version = f.fragment = f.transport = None
    del error
    heap.give_back_free_memory()  # the demux's and the packets table's temporaries, before the other tables grow

    # rtcp ------------------------------------------------------------------------------------------------------
    keep = is_rtcp[sub["datagram"]] if len(sub["datagram"]) else np.zeros(0, bool)
    sub = {k: v[keep] for k, v in sub.items()}
    rows = dg_rows[sub["datagram"]]
    status = dg_status[sub["datagram"]]
    rtcp_dtls = flow_has_dtls[flow[rows]]
    rtcp_relay = _Relay.direct(len(rows))
    if inner is not None and len(inner.rtcp_rows):
        rows, order = _merged_order(rows, inner.rtcp_rows)
        sub = {k: np.concatenate([v, inner.rtcp_sub[k]])[order] for k, v in sub.items() if k != "datagram"}
        status = np.concatenate([status, inner.rtcp_status])[order]
        rtcp_dtls = np.concatenate([rtcp_dtls, inner.rtcp_dtls])[order]
        rtcp_relay = rtcp_relay.append(inner.relay_of(inner.rtcp_index), order)
    rtcp_names = [""] + list(rtcp.COMPOUND_MESSAGES.values())
    rtcp_error = np.full(len(rows), -1, dtype=np.int16)
    for i, code in enumerate(rtcp.COMPOUND_MESSAGES, start=1):
        rtcp_error[status == code] = i
    feedback = np.isin(sub["pt"], rtcp.FEEDBACK_TYPES)
    rtcp_df = tables.frame_table({
        **_key_columns(rows, cs),
        "index": sub["index"], "pt": sub["pt"],
        "count": tables.masked(sub["count"], feedback, "UInt8"),
        "fmt": tables.masked(sub["count"], ~feedback, "UInt8"),
        "sender_ssrc": tables.masked(sub["sender_ssrc"], ~sub["has_ssrc"].astype(bool), "UInt32"),
        "length_bytes": sub["length_bytes"], "offset": np.minimum(sub["offset"], 0xFFFF),
        "padding": sub["padding"].astype(bool), "dtls_srtp": rtcp_dtls,
        "error": tables.categorical(rtcp_error, rtcp_names),
        **rtcp_relay.columns(inner),
    }, tables.RTCP_SCHEMA)
    del sub, rows, status, rtcp_dtls, rtcp_relay, rtcp_error, feedback  # before the datagram keys are made

    def datagrams(rows: np.ndarray, store, inner_part, srtcp=None) -> Datagrams:
        direct = (lambda direct_rows=rows: [store.get(r, b"") for r in direct_rows.tolist()]) \
            if isinstance(store, dict) else store.reader(f.data, rows)
        relay = _Relay.direct(len(rows))
        order = None
        if inner is not None and len(inner_part[0]):
            inner_rows, inner_index, inner_payloads = inner_part
            rows, order = _merged_order(rows, inner_rows)
            relay = relay.append(inner.relay_of(inner_index), order)
        keys = _key_columns(rows, cs)
        keys["transport"] = tables.categorical(transport_codes[rows], transport_names)
        keys.update(relay.columns(inner))
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

    no_inner = (np.zeros(0, np.int64), np.zeros(0, np.int64), [])
    stun_messages = datagrams(stun_rows, f.stun_bytes,
                              (inner.stun_rows, inner.stun_index, inner.stun_payloads) if inner else no_inner)
    dtls_datagrams = datagrams(dtls_rows, f.dtls_at,
                               (inner.dtls_rows, inner.dtls_index, inner.dtls_payloads) if inner else no_inner)
    rtcp_dg_rows, first = np.unique(dg_rows[is_rtcp], return_index=True)
    rtcp_srtcp = ((dg_status[is_rtcp] == rtcp.COMPOUND_ONLY_FIRST)[first],
                  inner.rtcp_dg_srtcp if inner else np.zeros(0, bool))
    rtcp_datagrams = datagrams(rtcp_dg_rows, f.rtcp_at,
                               (inner.rtcp_dg_rows, inner.rtcp_dg_index, inner.rtcp_dg_payloads) if inner else no_inner,
                               rtcp_srtcp)
    for store in (f.stun_bytes, f.turn_bytes):
        store.clear()
    heap.give_back_free_memory()  # before the rtp table, the largest after packets, grows

    # rtp -------------------------------------------------------------------------------------------------------
    if not is_rtp.all():
        rtp_rows = rtp_rows[is_rtp]
        for k in list(hdr):  # one column at a time: each old array goes as its filtered copy comes
            hdr[k] = hdr[k][is_rtp]
    del is_rtp
    rtp_dtls = flow_has_dtls[flow[rtp_rows]]
    rtp_relay = _Relay.direct(len(rtp_rows))
    rtp_framed: dict = {}
    if inner is not None and len(inner.rtp_rows):
        n_direct = len(rtp_rows)
        rtp_rows, order = _merged_order(rtp_rows, inner.rtp_rows)
        if inner.rtp_framed:
            position = np.empty(len(order), dtype=np.int64)
            position[order] = np.arange(len(order))
            rtp_framed = {int(position[n_direct + k]): data for k, data in inner.rtp_framed.items()}
        hdr = {k: np.concatenate([v, inner.rtp_hdr[k]])[order] for k, v in hdr.items()}
        rtp_dtls = np.concatenate([rtp_dtls, inner.rtp_dtls])[order]
        rtp_relay = rtp_relay.append(inner.relay_of(inner.rtp_index), order)
    if len(rtp_rows):
        # The narrow columns first, each freeing the wider array it came from, then the key columns: the peak of
        # the whole decode is here.
        no_profile = rtp.ext_profile_missing(hdr["extension"], hdr["error"])
        rtp_names = [""] + list(rtp.RTP_ERROR_MESSAGES.values())
        rtp_error = np.full(len(rtp_rows), -1, dtype=np.int8)
        for i, code in enumerate(rtp.RTP_ERROR_MESSAGES, start=1):
            rtp_error[hdr["error"] == code] = i
        del hdr["error"]
        ext_profile = hdr.pop("ext_profile")
        ext_profile = tables.int_category(ext_profile, no_profile, "uint16")
        del no_profile
        columns = {"error": tables.categorical(rtp_error, rtp_names), "ext_profile": ext_profile,
                   "dtls_srtp": rtp_dtls, **rtp_relay.columns(inner), **hdr}
        del rtp_error, rtp_relay, hdr
        heap.give_back_free_memory()  # the wider header arrays the narrow columns came from
        columns.update(_key_columns(rtp_rows, cs, consume=True))
        del rtp_rows
        rtp_df = tables.frame_table(columns, tables.RTP_SCHEMA)
        del columns
    else:
        rtp_df = tables.empty_table(tables.RTP_SCHEMA)
        del hdr, rtp_rows, rtp_relay
    del rtp_dtls
    return Decoded(packets, rtp_df, rtcp_df, flows_df, icmp_df, fragments_df, webrtc_flows,
                   stun_messages, dtls_datagrams, rtcp_datagrams, rtp_framed)


# -- TURN relays (RFC 8656) -------------------------------------------------------------------------------------

@dataclass
class _Relay:
    """The relayed, relay and peer columns of some table rows: codes into _Inner's relay_names and peer_names."""

    relayed: np.ndarray
    relay: np.ndarray
    peer: np.ndarray

    @staticmethod
    def direct(n: int) -> "_Relay":
        return _Relay(np.zeros(n, dtype=bool), np.full(n, -1, dtype=np.int8), np.full(n, -1, dtype=np.int8))

    def append(self, other: "_Relay", order: np.ndarray) -> "_Relay":
        return _Relay(*(np.concatenate([a, b])[order] for a, b in ((self.relayed, other.relayed),
                                                                      (self.relay, other.relay),
                                                                      (self.peer, other.peer))))

    def columns(self, inner: "_Inner | None") -> dict:
        relay_names, peer_names = (inner.relay_names, inner.peer_names) if inner is not None else ([], [])
        return {"relayed": self.relayed, "relay": tables.categorical(self.relay, relay_names),
                "peer": tables.categorical(self.peer, peer_names)}


@dataclass
class _Inner:
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

    def relay_of(self, index: np.ndarray) -> _Relay:
        return _Relay(self.relay[index] >= 0, self.relay[index], self.peer[index])


def _merged_order(direct_rows: np.ndarray, inner_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Direct and inner rows in capture order (an outer message before what it carries): (rows, permutation)."""
    rows = np.concatenate([direct_rows, inner_rows]).astype(np.int64)
    order = np.argsort(rows, kind="stable")
    return rows[order], order


def _frame_tcp(f: _Frames, kind: np.ndarray, addresses: list[str], streams: dict,
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


def _tcp_streams_table(streams: dict) -> pd.DataFrame:
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


def _unwrap_turn(f: _Frames, kind: np.ndarray, flow: np.ndarray, n_flows: int, addresses: list[str],
                 bindings: dict, tcp_messages: list[tcp.Message] = ()) -> _Inner | None:
    """Unwrap the frames of kind turn-channel and the STUN Send/Data indications with a DATA attribute; take the
    messages framed out of TCP streams (`tcp_messages`, see _frame_tcp) as direct messages of their segment's
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
    srtcp = ((relayed_dtls[flow[rows[index]]] | _srtcp_trailer(src, off, cap, wire, sub))
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

    return _Inner(rows, relay_codes, peer_codes, relay_names, peer_names, *part(Kind.STUN), *rtp_part, *rtcp_part,
                  *part(Kind.DTLS), *part(Kind.RTCP), rtcp_dg_srtcp=status == rtcp.COMPOUND_ONLY_FIRST, problems=problems)


def rtcp_rows(keys: dict, payloads: list[bytes], dtls_srtp: bool = True) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows of the rtcp table (RTCP_SCHEMA) for whole plaintext compounds, e.g. decrypted SRTCP: one per
    sub-packet, with the key columns of its datagram (`keys`: as Datagrams has them); and the index of each row's
    datagram in `payloads`."""
    if not payloads:
        return tables.empty_table(tables.RTCP_SCHEMA), np.zeros(0, dtype=np.int64)
    cap = np.array([len(p) for p in payloads], dtype=np.int64)
    off = buffer.EXTRA + np.concatenate([[0], np.cumsum(cap)[:-1]]).astype(np.int64)
    src = buffer.ByteSource(np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.int64),
                            np.frombuffer(b"".join(payloads), dtype=np.uint8))
    sub, status = rtcp.walk_compound(src, off, cap, cap)
    dg = sub["datagram"]
    names = [""] + list(rtcp.COMPOUND_MESSAGES.values())
    error = np.full(len(dg), -1, dtype=np.int16)
    for i, code in enumerate(rtcp.COMPOUND_MESSAGES, start=1):
        error[status[dg] == code] = i
    feedback = np.isin(sub["pt"], rtcp.FEEDBACK_TYPES)
    cols = {}
    for k in ("frame", "t", "src", "dst", "sport", "dport", "relayed", "relay", "peer"):
        v = keys[k]
        cols[k] = tables.take_rows(v, dg)
    cols.update({
        "index": sub["index"], "pt": sub["pt"],
        "count": tables.masked(sub["count"], feedback, "UInt8"),
        "fmt": tables.masked(sub["count"], ~feedback, "UInt8"),
        "sender_ssrc": tables.masked(sub["sender_ssrc"], ~sub["has_ssrc"].astype(bool), "UInt32"),
        "length_bytes": sub["length_bytes"], "offset": np.minimum(sub["offset"], 0xFFFF),
        "padding": sub["padding"].astype(bool), "dtls_srtp": np.full(len(dg), dtls_srtp),
        "error": tables.categorical(error, names),
    })
    return tables.frame_table({k: cols[k] for k in tables.RTCP_SCHEMA}, tables.RTCP_SCHEMA), dg


def udp_payloads(data: np.ndarray, index: RecordIndex, state: ReadState, frames: np.ndarray,
                 relayed: np.ndarray, fragments_of: dict | None = None) -> list[bytes | None]:
    """The captured UDP payload of each of `frames` (1-based, ascending), read again from the file's bytes; for a
    `relayed` row, the datagram its TURN ChannelData message or Send/Data indication carries.  A datagram
    reassembled from IP fragments needs `fragments_of` ({completing frame: [its other fragments' frames]}, from the
    fragments table).  None where there is none to give: no UDP payload, fragments not given, or a TURN message
    that does not unwrap.  Vectorised per slice except one bytes copy per row."""
    frames = np.asarray(frames, dtype=np.int64)
    relayed = np.asarray(relayed, dtype=bool)
    fragments_of = fragments_of or {}
    out: list[bytes | None] = [None] * len(frames)
    for lo in range(0, len(frames), SLICE):
        wanted = frames[lo:lo + SLICE]
        extra = [g for f in wanted.tolist() for g in fragments_of.get(f, ())]
        rows = np.unique(np.concatenate([wanted, np.asarray(extra, dtype=np.int64)])) - 1
        at = np.searchsorted(rows, wanted - 1)
        batch = make_batch(data, index, 0, 0, state, 1, rows=rows)
        layer = net.decode(batch)  # with the fragments in the batch, its own reassembler joins them
        ok = (layer.transport == net.Transport.UDP) & (layer.payload_off >= 0) & ~layer.fragment
        src = layer.source
        off, cap = layer.payload_off[at], layer.payload_cap[at].astype(np.int64)
        in_file = ok[at] & (off < buffer.EXTRA)
        pos = np.where(in_file, src.absolute(np.where(in_file, off, 0)), -1)
        mem = memoryview(data)
        # the common case, a direct datagram read straight from the file: one slice copy each
        out[lo:lo + len(wanted)] = [bytes(mem[p:p + c]) if p >= 0 else None for p, c in zip(pos.tolist(), cap.tolist())]
        for k in np.flatnonzero(ok[at] & ~in_file).tolist():  # reassembled from IP fragments (few)
            out[lo + k] = src.bytes_at(int(off[k]), int(cap[k]))
        for k in np.flatnonzero(relayed[lo:lo + SLICE] & ok[at]).tolist():
            out[lo + k] = _turn_inner(out[lo + k], int(layer.payload_len[at[k]]))
    return out


def udp_spans(data: np.ndarray, index: RecordIndex, state: ReadState, frames: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Where the UDP payload of each of `frames` (1-based) lies in the file's bytes `data`: (offset, size), both
    int64, offset -1 where the frame has no whole UDP payload of its own (not UDP, cut by the snaplen, empty, or an
    IP fragment).  Nothing is copied: what rtp_payload and the bulk payload reader read from."""
    frames = np.asarray(frames, dtype=np.int64)
    pos = np.full(len(frames), -1, dtype=np.int64)
    size = np.zeros(len(frames), dtype=np.int64)
    for lo in range(0, len(frames), SLICE):
        rows, at = np.unique(frames[lo:lo + SLICE] - 1, return_inverse=True)
        layer = net.decode(make_batch(data, index, 0, 0, state, 1, rows=rows))
        cap = layer.payload_cap.astype(np.int64)
        whole = ((layer.transport == net.Transport.UDP) & (layer.payload_off >= 0) & ~layer.fragment
                 & (layer.payload_off < buffer.EXTRA) & (cap == layer.payload_len) & (cap > 0))
        where = np.where(whole, layer.source.absolute(np.where(whole, layer.payload_off, 0)), -1)
        pos[lo:lo + len(at)] = where[at]
        size[lo:lo + len(at)] = np.where(whole, cap, 0)[at]
    return pos, size


def _turn_inner(payload: bytes, wire_len: int) -> bytes | None:
    """The datagram a TURN ChannelData message or Send/Data indication carries (as _unwrap_turn finds it)."""
    try:
        if payload and 0x40 <= payload[0] <= 0x4F:  # RFC 7983 §7: ChannelData
            return stun.channel_data(payload, wire_len)[1]
        return stun.parse(payload).get(stun.Attr.DATA)
    except DecodeError:
        return None


def stun_tables(messages: StunMessages | None, ice_passwords: dict | None = None, turn_passwords: dict | None = None,
                turn_secret: str | bytes | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The stun and stun_attributes tables (schemas STUN_SCHEMA, STUN_ATTRIBUTES_SCHEMA) from the frames of kind
    stun and the STUN messages relayed inside TURN (see _unwrap_turn), one stun.parse per message.  A message that
    does not decode keeps its row, with `error` set (and the header fields when the header is readable).  `ice_passwords` ({ufrag: password}) lets Binding integrity be
    checked: a request whose USERNAME is "A:B" is signed with the password of ufrag A (RFC 8445 §7.2.2), and its
    responses (same transaction id) with the same key.  TURN long-term credentials (RFC 8489 §9.2) check every other
    message that carries USERNAME and REALM: `turn_passwords` ({username: password}), or `turn_secret` for TURN REST
    API usernames ("expiry:user", password = base64(HMAC-SHA1(secret, username)) as coturn's use-auth-secret); the
    key is MD5(username:realm:password), and responses are checked with their request's key."""
    if messages is None or not messages.payloads:
        return tables.empty_table(tables.STUN_SCHEMA), tables.empty_table(tables.STUN_ATTRIBUTES_SCHEMA)
    passwords = {u: stun.short_term_key(p) for u, p in (ice_passwords or {}).items()}
    turn_passwords = dict(turn_passwords or {})
    n = len(messages.payloads)
    keys = {**_Relay.direct(n).columns(None), **messages.keys}  # keys without relayed/relay/peer: direct messages
    cols: dict[str, list] = {c: [None] * n for c in (
        "method", "cls", "transaction_id", "username", "priority", "use_candidate", "ice_role", "tie_breaker",
        "mapped_address", "error_code", "error_reason", "software", "fingerprint_ok", "integrity_ok", "error")}
    a_row, a_index, a_type, a_name, a_len, a_value = [], [], [], [], [], []
    request_keys: dict[bytes, bytes] = {}  # transaction id -> the key its request was checked with
    for i, data in enumerate(messages.payloads):
        try:  # every attribute that reads, even when another does not (the error names that one)
            msg, problem = stun.parse_partial(data)
        except DecodeError as e:
            cols["error"][i] = str(e)
            continue
        cols["error"][i] = problem
        cols["method"][i] = stun.method_name(msg.method)
        cols["cls"][i] = stun.CLASS_NAMES[msg.cls]
        cols["transaction_id"][i] = msg.transaction_id.hex()
        use_candidate = False
        for j, a in enumerate(msg.attributes):
            a_row.append(i)
            a_index.append(j)
            a_type.append(a.type)
            a_name.append(a.name)
            a_len.append(len(a.raw))
            a_value.append(a.text)
            column = _STUN_COLUMN.get(a.type)
            if a.error is not None:
                continue
            if column is not None:
                if cols[column][i] is None:
                    cols[column][i] = a.text if a.type == stun.Attr.XOR_MAPPED_ADDRESS else a.value
            elif a.type == stun.Attr.USE_CANDIDATE:
                use_candidate = True
            elif a.type in (stun.Attr.ICE_CONTROLLING, stun.Attr.ICE_CONTROLLED) and cols["ice_role"][i] is None:
                cols["ice_role"][i] = "controlling" if a.type == stun.Attr.ICE_CONTROLLING else "controlled"
                cols["tie_breaker"][i] = a.value
            elif a.type == stun.Attr.ERROR_CODE and cols["error_code"][i] is None:
                cols["error_code"][i] = a.value.code
                cols["error_reason"][i] = a.value.reason
        cols["use_candidate"][i] = use_candidate
        if problem is not None:
            continue  # integrity is over the whole message as sent: not judged on one that does not decode
        cols["fingerprint_ok"][i] = stun.fingerprint_ok(data)
        if passwords and msg.method == stun.Method.BINDING:
            key = None
            if msg.cls == stun.Class.REQUEST:
                ufrag = (cols["username"][i] or "").partition(":")[0]
                key = passwords.get(ufrag)
                if key is not None:
                    request_keys[msg.transaction_id] = key
            elif msg.cls in (stun.Class.SUCCESS, stun.Class.ERROR):
                key = request_keys.get(msg.transaction_id)
            if key is not None:
                cols["integrity_ok"][i] = stun.integrity_ok(data, key)
        elif (turn_passwords or turn_secret) and msg.method != stun.Method.BINDING:
            key = None
            if msg.cls in (stun.Class.REQUEST, stun.Class.INDICATION):
                key = _turn_key(msg, cols["username"][i], turn_passwords, turn_secret)
                if key is not None:
                    request_keys[msg.transaction_id] = key
            else:
                key = request_keys.get(msg.transaction_id)
            if key is not None:
                cols["integrity_ok"][i] = stun.integrity_ok(data, key)
    stun_df = tables.frame_table({
        **keys,
        "method": pd.Categorical(cols["method"]), "cls": pd.Categorical(cols["cls"], categories=stun.CLASS_NAMES),
        "transaction_id": cols["transaction_id"], "username": cols["username"],
        "priority": pd.array(cols["priority"], dtype="UInt32"),
        "use_candidate": pd.array(cols["use_candidate"], dtype="boolean"),
        "ice_role": pd.Categorical(cols["ice_role"], categories=["controlling", "controlled"]),
        "tie_breaker": pd.array(cols["tie_breaker"], dtype="UInt64"),
        "mapped_address": cols["mapped_address"],
        "error_code": pd.array(cols["error_code"], dtype="UInt16"), "error_reason": cols["error_reason"],
        "software": cols["software"],
        "fingerprint_ok": pd.array(cols["fingerprint_ok"], dtype="boolean"),
        "integrity_ok": pd.array(cols["integrity_ok"], dtype="boolean"),
        "error": pd.Categorical(cols["error"]),
    }, tables.STUN_SCHEMA)
    rows = np.array(a_row, dtype=np.int64)
    attrs_df = tables.frame_table({
        "frame": keys["frame"][rows], "t": keys["t"][rows], "index": a_index, "type": a_type,
        "name": pd.Categorical(a_name), "length": a_len, "value": a_value,
        "relayed": np.asarray(keys["relayed"])[rows],
    }, tables.STUN_ATTRIBUTES_SCHEMA)
    return stun_df, attrs_df


def _turn_key(msg, username: str | None, passwords: dict, secret) -> bytes | None:
    """The long-term key of a TURN request from its USERNAME and REALM, when the password is known."""
    realm = msg.get(stun.Attr.REALM)
    if username is None or realm is None:
        return None
    password = passwords.get(username)
    if password is None and secret is not None:
        try:
            stun.parse_rest_username(username)
        except DecodeError:
            return None
        password = stun.turn_rest_password(secret, username)
    return stun.long_term_key(username, str(realm), password) if password is not None else None


# Attributes whose value (the first one's) goes straight into a column of the stun table.
_STUN_COLUMN = {stun.Attr.USERNAME: "username", stun.Attr.PRIORITY: "priority", stun.Attr.SOFTWARE: "software",
                stun.Attr.XOR_MAPPED_ADDRESS: "mapped_address"}


@dataclass
class _ColumnSource:
    """Where the other tables take their key columns (_key_columns) from: the packets table's own arrays, so that the
    wider per-frame arrays they were made from can go once it is built."""

    frame: np.ndarray
    t: np.ndarray
    src: np.ndarray  # codes into src_names
    dst: np.ndarray
    src_names: list
    dst_names: list
    sport: np.ndarray  # uint16 (anything where the frame has no ports)
    dport: np.ndarray


def _packets_table(f: _Frames, frame, t, flow, n_flows, verdict, kind, error, names,
                   addresses) -> tuple[pd.DataFrame, _ColumnSource]:
    """The packets table; the per-frame arrays of `f` that it made narrower copies of go as it is built."""
    src, dst = tables.categorical(f.src, addresses), tables.categorical(f.dst, addresses)
    f.src = f.dst = None
    ip_version = tables.int_category(f.ip_version, f.ip_version == 0, "uint8")
    f.ip_version = None
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
    return table, _ColumnSource(frame, t, src.codes, dst.codes, list(src.categories), list(dst.categories), f.sport,
                             f.dport)


def _icmp_table(f: _Frames, cs: _ColumnSource) -> pd.DataFrame:
    if not f.icmp:
        return tables.empty_table(tables.ICMP_SCHEMA)
    rows = np.array(sorted(f.icmp), dtype=np.int64)
    facts = [f.icmp[r] for r in rows.tolist()]
    keys = _key_columns(rows, cs)
    return tables.frame_table({
        "frame": keys["frame"], "t": keys["t"], "src": keys["src"], "dst": keys["dst"],
        "icmp_type": np.array([x[0] for x in facts], dtype=np.uint8),
        "icmp_code": np.array([x[1] for x in facts], dtype=np.uint8),
        "quoted": pd.array([x[2] for x in facts], dtype="string"),
    }, tables.ICMP_SCHEMA)


def _fragments_table(f: _Frames, cs: _ColumnSource) -> pd.DataFrame:
    rows = np.flatnonzero(f.fragment)
    if not len(rows) and not f.reassembled_in:
        return tables.empty_table(tables.FRAGMENTS_SCHEMA)
    rows = np.union1d(rows, np.array(sorted(f.reassembled_in), dtype=np.int64)).astype(np.int64)
    done = np.array([f.reassembled_in.get(r, 0) for r in rows.tolist()], dtype=np.int64)
    keys = _key_columns(rows, cs)
    return tables.frame_table({
        "frame": keys["frame"], "t": keys["t"], "src": keys["src"], "dst": keys["dst"],
        "reassembled_in": tables.masked(done, done == 0, "UInt32"),
    }, tables.FRAGMENTS_SCHEMA)


def _key_columns(rows, cs: _ColumnSource, consume: bool = False) -> dict:
    """The columns every table starts with: frame, t, src, dst, sport, dport.

    With `consume`, an int32 `rows` (which the caller gives up) becomes the frame column in place: for the rtp
    table, rows and frames side by side would be the decode's peak."""
    keys = {
        "t": _take(cs.t, rows),
        "src": tables.categorical(_take(cs.src, rows), cs.src_names, reuse=True),
        "dst": tables.categorical(_take(cs.dst, rows), cs.dst_names, reuse=True),
        "sport": _take(cs.sport, rows), "dport": _take(cs.dport, rows),
    }
    if consume and isinstance(rows, np.ndarray) and rows.dtype == np.int32 and len(cs.frame):
        frame = rows.view(np.uint32)  # rows are >= 0, and a frame number is its row plus the first frame's
        frame += cs.frame[0]
    else:
        frame = _take(cs.frame, rows)
    return {"frame": frame, **keys}


def _take(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """values[rows], a slice of rows at a time: numpy turns an index array into a whole int64 copy first, which
    for the rtp table's keys would be the decode's peak."""
    rows = np.asarray(rows)
    if len(rows) <= SLICE:
        return values[rows]
    out = np.empty(len(rows), dtype=values.dtype)
    for lo in range(0, len(rows), SLICE):
        out[lo : lo + SLICE] = values[rows[lo : lo + SLICE]]
    return out


def _first_rows(flow: np.ndarray) -> np.ndarray:
    """Each flow's first row.  Flows are numbered in order of first appearance, so a flow's first row is where
    the running maximum of the ids grows."""
    firsts, top = [], -1
    for lo in range(0, len(flow), SLICE):  # a slice at a time, to keep the temporaries small
        running = np.maximum.accumulate(np.maximum(flow[lo : lo + SLICE], top))
        firsts.append(lo + np.flatnonzero(running > np.concatenate([[top], running[:-1]])))
        top = int(running[-1])
    return np.concatenate(firsts) if firsts else np.zeros(0, dtype=np.int64)


def _flows_table(ends: demux.Endpoints, flow: np.ndarray, evidence: np.ndarray, t: np.ndarray):
    fr = _first_rows(flow)
    if not len(fr):
        return tables.empty_table(tables.FLOWS_SCHEMA), {}
    n_flows = len(fr)
    counts = np.zeros(n_flows, dtype=np.int64)
    last_row = np.zeros(n_flows, dtype=np.int64)
    for lo in range(0, len(flow), SLICE):  # a slice at a time, to keep the temporaries small
        part = flow[lo : lo + SLICE]
        part = part[part >= 0]
        counts += np.bincount(part, minlength=n_flows)
        rows = np.flatnonzero(flow[lo : lo + SLICE] >= 0)
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
    webrtc = {flow_key(ends, int(r)): int(evidence[r]) for r in fr[evidence[fr] > 0].tolist()}
    return df, webrtc


def flow_key(ends: demux.Endpoints, row: int) -> tuple:
    """A flow's identity that survives from one chunk to the next: transport and both ends, in sorted order."""
    a = (ends.addresses[ends.src[row]], int(ends.sport[row]))
    b = (ends.addresses[ends.dst[row]], int(ends.dport[row]))
    return (int(ends.transport[row]),) + (a + b if a <= b else b + a)


def _apply_known(known: dict, ends: demux.Endpoints, verdict: demux.Demux, first_kind: np.ndarray) -> None:
    """Flows found to be WebRTC in earlier chunks keep that verdict and its evidence (iter_chunks)."""
    flow = verdict.flow
    fr = _first_rows(flow)
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
