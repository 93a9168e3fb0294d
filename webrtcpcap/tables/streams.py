"""RTP streams and sequence gaps from the `rtp` table: RFC 3550 A.1 (extended sequence numbers), A.3 (expected
and lost packets) and A.8 (interarrival jitter).

Strategy: plain functions DataFrame -> DataFrame, no I/O; bytes only for RTX OSNs (RFC 4588), read through a
callable the caller passes (`Capture.rtp_payload`).  Every per-packet step is numpy over all
streams at once: rows are put in stream order (stable, so arrival order is kept inside a stream) and per-stream
results come from segment reductions (`np.*.reduceat`).  Python loops run over streams or blocks, never packets.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..protocols import sdp as _sdp
from ..net.payloads import read_heads

# A stream is one SSRC on one 5-tuple (RFC 3550 §3: the SSRC names the source, whose sequence numbers run across
# payload types: PCMA with comfort noise, audio with telephone-event or RED, a codec switch).  Tables also carry `pt`,
# the stream's main payload type (its most frequent; in `gaps`/`packet_view` the packet's own).
STREAM_KEYS = ["src", "sport", "dst", "dport", "ssrc"]

# Clock rates an inferred rate is snapped to (Hz).
CLOCK_RATES = (8000, 16000, 24000, 32000, 44100, 48000, 90000)
# An inferred rate further than this (relative) from every entry of CLOCK_RATES is not trusted.
CLOCK_RATE_TOLERANCE = 0.25
JITTER_GAIN = 1 / 16  # RFC 3550 A.8: J += (|D| - J) / 16

# Every stream table starts with these columns: the stream key and a payload type.
STREAM_KEY_COLUMNS: dict[str, str] = {
    "src": "category",
    "sport": "uint16",
    "dst": "category",
    "dport": "uint16",
    "ssrc": "uint32",
    "pt": "uint8",
}

STREAMS_SCHEMA: dict[str, str] = {
    **STREAM_KEY_COLUMNS,
    "first_t": "float64",
    "last_t": "float64",
    "packets": "int64",
    "bytes": "int64",
    "bitrate_kbps": "float64",
    "first_seq": "int64",
    "last_seq": "int64",
    "expected": "int64",
    "lost": "int64",
    "duplicates": "int64",
    "reordered": "int64",
    "max_gap": "int64",
    "clock_rate": "Int64",
    "clock_rate_source": "category",
    "jitter_ms": "float64",
    "max_jitter_ms": "float64",
    "markers": "int64",
    "kind": "category",
    "codec": "category",
    "max_delta_ms": "float64",
    "payload_types": "string",
    "role": "category",
    "role_of": "UInt32",
    "role_evidence": "string",
}

KINDS = ["audio", "video", "rtx", "fec", "unknown"]
# What a stream carries: its own media, retransmissions of another stream (RFC 4588 RTX), forward error correction
# (RFC 5109 ulpfec, RFC 8627 flexfec) or only padding (bandwidth probes: Chromium sends padding-only packets, RFC 3550
# §5.1 P bit with an all-padding payload, to probe the path before and during a call).
ROLES = ["media", "rtx", "fec", "padding"]
# RED (RFC 2198) is not here: a RED stream carries the media itself (Firefox and Chromium wrap every VP8 packet in RED
# when ulpfec is negotiated, the FEC riding inside RED on the same SSRC and sequence space), so it is judged as media.
_FEC_CODECS = {"ulpfec", "flexfec", "flexfec-03"}

GAPS_SCHEMA: dict[str, str] = {
    **STREAM_KEY_COLUMNS,
    "first_missing": "int64",
    "count": "int64",
    "t_before": "float64",
    "t_after": "float64",
    "duration_s": "float64",
    "late": "int64",
}


# --- wrap-around: the one helper ------------------------------------------------------------------------------------


def extend_seq(seq) -> np.ndarray:
    """Extended (wrap-free) RTP sequence numbers of one stream, given its 16-bit numbers in arrival order.

    RFC 3550 A.1 style: each number is placed in the 65536-cycle that puts it nearest to the highest extended
    number seen before it (a distance of exactly 32768 counts as behind), so a late packet from before a wrap keeps
    the old cycle.  The first packet is in cycle 0; if a late packet from before the first one crossed the wrap,
    every value is moved up by 65536 so that none is negative.  There is no resynchronisation on large jumps
    (A.1's MAX_DROPOUT): a jump stays a jump.
    """
    return _extend(np.asarray(seq), 16, np.zeros(1, dtype=np.int64))


def extend_ts(ts) -> np.ndarray:
    """Extended RTP timestamps of one stream (32-bit values in arrival order), as `extend_seq` does for sequence
    numbers: nearest to the highest extended timestamp seen before, never negative."""
    return _extend(np.asarray(ts), 32, np.zeros(1, dtype=np.int64))


def _wrap(d: np.ndarray, bits: int) -> np.ndarray:
    """Differences reduced to the signed range [-2**(bits-1), 2**(bits-1))."""
    half = np.int64(1) << (bits - 1)
    return ((d + half) & ((np.int64(1) << bits) - 1)) - half


def _segment_cummax(x: np.ndarray, starts: np.ndarray, gid: np.ndarray) -> np.ndarray:
    """Running maximum of x restarted at every segment start (segments are contiguous, `gid` numbers them)."""
    if len(x) == 0:
        return x.copy()
    lo = np.minimum.reduceat(x, starts)
    span = np.maximum.reduceat(x, starts) - lo + 1
    base = np.concatenate(([0], np.cumsum(span)[:-1]))  # segments stacked so a later one is always higher
    shift = base - lo
    return np.maximum.accumulate(x + shift[gid]) - shift[gid]


def _extend(values: np.ndarray, bits: int, starts: np.ndarray, gid: np.ndarray | None = None) -> np.ndarray:
    """Unwrap `bits`-bit counters per segment (segments start at `starts`), relative to the highest seen."""
    v = values.astype(np.int64)
    n = len(v)
    if n == 0:
        return v
    if gid is None:
        gid = np.zeros(n, dtype=np.int64)
    first = np.zeros(n, dtype=bool)
    first[starts] = True
    # First guess: unwrap relative to the previous packet.
    step = np.empty(n, dtype=np.int64)
    step[0] = 0
    step[1:] = _wrap(v[1:] - v[:-1], bits)
    step[first] = v[first]
    ext = _segment_cumsum(step, starts, gid)
    # Then relative to the highest seen before each packet, until nothing moves.  Each pass fixes at least the first
    # wrong value, so a fixed point is the exact answer; a bounded number of passes, then a plain loop for the rest.
    for _ in range(32):
        prev_max = _previous(_segment_cummax(ext, starts, gid), first)
        new = np.where(first, v, prev_max + _wrap(v - prev_max, bits))
        if np.array_equal(new, ext):
            break
        ext = new
    else:
        ext = _extend_loop(v, bits, first)
    low = np.minimum.reduceat(ext, starts)
    lift = np.where(low < 0, (-low + (1 << bits) - 1) >> bits << bits, 0)
    return ext + lift[gid]


def _extend_loop(v: np.ndarray, bits: int, first: np.ndarray) -> np.ndarray:
    """The same unwrapping, one packet at a time (only reached for pathological inputs)."""
    out = np.empty(len(v), dtype=np.int64)
    mod, half = 1 << bits, 1 << (bits - 1)
    highest = 0
    for i in range(len(v)):
        if first[i]:
            highest = out[i] = int(v[i])
            continue
        e = highest + ((int(v[i]) - highest + half) % mod) - half
        out[i] = e
        highest = max(highest, e)
    return out


def _segment_cumsum(x: np.ndarray, starts: np.ndarray, gid: np.ndarray) -> np.ndarray:
    c = np.cumsum(x)
    before = np.concatenate(([0], c[:-1]))[starts]
    return c - before[gid]


def _previous(x: np.ndarray, first: np.ndarray) -> np.ndarray:
    """x shifted by one inside each segment (the value of the packet before); segment starts get their own value."""
    out = np.empty_like(x)
    out[0] = x[0]
    out[1:] = x[:-1]
    out[first] = x[first]
    return out


# --- clock rate -----------------------------------------------------------------------------------------------------


# RFC 3551 §6: the clock rates of the static payload types (no SDP needed).
STATIC_CLOCK_RATES = {0: 8000, 3: 8000, 4: 8000, 5: 8000, 6: 16000, 7: 8000, 8: 8000, 9: 8000, 10: 44100, 11: 44100,
                      12: 8000, 13: 8000, 14: 90000, 15: 8000, 16: 11025, 17: 22050, 18: 8000, 25: 90000, 26: 90000,
                      28: 90000, 31: 90000, 32: 90000, 33: 90000, 34: 90000}
# RFC 7587 §4.1: Opus' RTP clock is 48 kHz whatever it encodes; WebRTC packets hold 10, 20, 40 or 60 ms (up to
# 120 ms).  A per-packet timestamp step of one of these on a dynamic payload type is Opus' framing (2.5 and 5 ms
# steps are left out: 120 and 240 ticks are also 15 and 30 ms of an 8 kHz codec such as iLBC).
OPUS_STEPS = (480, 960, 1920, 2880, 3840, 4800, 5760)
AUDIO_RATES = (8000, 16000, 24000, 32000, 44100, 48000)
AUDIO_FRAME_MS = (2.5, 5, 10, 20, 30, 40, 60, 80, 100, 120)  # the frame sizes audio codecs packetise


def infer_clock_rate(rows: pd.DataFrame) -> tuple[float, str]:
    """(rate in Hz, evidence) for the rows of one RTP stream (columns t and ts, in arrival order; seq and pt when
    present).

    In this order: a static payload type has its RFC 3551 rate; an audio-like stream (most packets advance the
    timestamp by the same step F, few by 0) on a dynamic payload type with an Opus step (OPUS_STEPS: 10 to 120 ms
    at 48 kHz) is 48 kHz (RFC 7587), whatever the arrival times say; otherwise the measured rate: the median of
    timestamp advance over arrival time between packets at least a quarter of the stream apart (whole-stream
    baselines, so bursts and stalls weigh little), snapped to the nearest of CLOCK_RATES, or for audio-like streams to the nearest rate
    at which F is a standard frame duration (AUDIO_FRAME_MS).  NaN, with the reason as evidence, when there are
    fewer than 2 distinct timestamps, the stream lasts under 50 ms, or no standard rate is within 25 %.
    """
    t = np.asarray(rows["t"], dtype=np.float64)
    ts = extend_ts(np.asarray(rows["ts"]))
    seq = extend_seq(np.asarray(rows["seq"])) if "seq" in rows.columns else None
    pts = rows["pt"].to_numpy() if "pt" in rows.columns else np.zeros(0)
    pt = int(pd.Series(pts).mode().min()) if len(pts) else None
    return _infer(t, ts, seq, pt)


def _frame_step(ts: np.ndarray, seq: np.ndarray | None) -> int | None:
    """The timestamp step F of an audio-like stream (packets one sequence number apart advance the timestamp by F
    at least half the time, and by 0 under a fifth of the time: one frame per packet), else None."""
    if seq is None or len(ts) < 4:
        return None
    order = np.argsort(seq, kind="stable")
    s, x = seq[order], ts[order]
    steps = (x[1:] - x[:-1])[(s[1:] - s[:-1]) == 1]
    if len(steps) < 3 or np.mean(steps == 0) >= 0.2:
        return None
    pos = steps[steps > 0]
    if not len(pos):
        return None
    values, counts = np.unique(pos, return_counts=True)
    f = int(values[np.argmax(counts)])
    return f if np.mean(steps == f) >= 0.5 else None


def _infer(t: np.ndarray, ts: np.ndarray, seq: np.ndarray | None = None, pt: int | None = None) -> tuple[float, str]:
    if pt is not None and pt in STATIC_CLOCK_RATES:
        rate = STATIC_CLOCK_RATES[pt]
        return float(rate), f"static payload type {pt} (RFC 3551 §6): {rate} Hz"
    if len(ts) == 0 or not (ts != ts[0]).any():
        return np.nan, "fewer than 2 distinct RTP timestamps"
    span = float(t[-1] - t[0]) if len(t) else 0.0
    step = _frame_step(ts, seq)
    measured, about = np.nan, ""
    if span >= 0.05:
        # Every pair of (up to 200 evenly spread) packets at least a quarter of the stream apart: a Theil-Sen
        # slope over long baselines, so a burst or a stall moves only the pairs that touch it.
        k = np.unique(np.linspace(0, len(t) - 1, min(len(t), 200)).astype(np.int64))
        i, j = np.meshgrid(k, k, indexing="ij")
        far = (t[j] - t[i]) >= span / 4
        i, j = i[far], j[far]
        if len(i):
            measured = float(np.median((ts[j] - ts[i]) / (t[j] - t[i])))
            about = (f"median timestamp advance {measured:.0f} ticks/s over {len(i)} packet pairs at least "
                     f"{span / 4:.2f} s apart")
    opus = step in OPUS_STEPS and (pt is None or pt >= 96)
    if opus:
        return 48000.0, (f"timestamp step {step} per packet ({step / 48:g} ms at 48 kHz) on a dynamic payload type: "
                         "Opus framing, 48000 Hz whatever the packetisation (RFC 7587 §4.1)"
                         + (f"; {about}" if about else ""))
    if np.isnan(measured):
        return np.nan, f"stream lasts {span * 1000:.1f} ms, under 50 ms"
    rates = CLOCK_RATES
    if step is not None:
        fitting = tuple(r for r in AUDIO_RATES if any(abs(step / r * 1000 - f) <= 0.01 * f for f in AUDIO_FRAME_MS))
        if fitting:
            rates = fitting
            about += f"; timestamp step {step} per packet is a whole audio frame at {', '.join(map(str, fitting))} Hz"
    nearest = min(rates, key=lambda r: abs(np.log(max(measured, 1e-9) / r)))
    off = measured / nearest - 1
    evidence = f"{about}: {off * 100:+.1f} % from {nearest} Hz"
    if abs(off) > CLOCK_RATE_TOLERANCE:
        return np.nan, evidence + " (no standard rate within 25 %)"
    return float(nearest), evidence


# --- jitter ---------------------------------------------------------------------------------------------------------

_BLOCK = 128
_A = 1 - JITTER_GAIN
_POW = _A ** np.arange(_BLOCK + 1)
# _TRI[k, j] = a**(j-k) for j >= k: a row block times _TRI is the filter J_j = a*J_(j-1) + x_j started from 0.
_LAG = np.arange(_BLOCK)[None, :] - np.arange(_BLOCK)[:, None]  # [k, j] = j - k
_TRI = np.where(_LAG >= 0, _POW[_LAG.clip(0)], 0.0)


def _jitter_series(x: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """J_i = (15/16) J_(i-1) + x_i per segment (J = 0 before a segment's first packet), in O(n).

    Each segment is cut into blocks of 128: inside a block the filter is a product with a fixed triangular matrix;
    between blocks only the last value is carried (a Python loop over blocks, not packets)."""
    n = len(x)
    if n == 0:
        return x.copy()
    rows_per = -(-lengths // _BLOCK)
    row0 = np.concatenate(([0], np.cumsum(rows_per)[:-1]))
    gid = np.repeat(np.arange(len(starts)), lengths)
    pos = np.arange(n) - starts[gid]
    row = row0[gid] + pos // _BLOCK
    col = pos % _BLOCK
    grid = np.zeros((int(rows_per.sum()), _BLOCK))
    grid[row, col] = x
    local = grid @ _TRI  # the filter inside each block, from zero
    # Carry: J at the end of row r = local end + a**B * J at the end of row r-1 (same segment only).
    new_segment = np.zeros(len(grid), dtype=bool)
    new_segment[row0] = True
    ends = local[:, -1]
    carried = np.zeros(len(grid))
    aB = _A ** _BLOCK
    last = 0.0
    for r in range(len(grid)):
        c = 0.0 if new_segment[r] else last
        carried[r] = c
        last = ends[r] + aB * c
    return local[row, col] + carried[row] * _POW[col + 1]


# --- tables ---------------------------------------------------------------------------------------------------------


class _Ordered:
    """The valid RTP rows in stream order (stable: arrival order inside a stream), with per-stream segments."""

    def __init__(self, rtp: pd.DataFrame):
        ok = rtp
        if "error" in rtp.columns and rtp["error"].notna().any():
            ok = rtp[rtp["error"].isna()]
        g = ok.groupby(STREAM_KEYS, observed=True, sort=False).ngroup().to_numpy()
        order = np.argsort(g, kind="stable")
        self.rows = ok
        self.order = order
        self.gid = g[order].astype(np.int64)
        n = len(order)
        self.n = n
        if n:
            self.starts = np.flatnonzero(np.r_[True, self.gid[1:] != self.gid[:-1]])
            # ngroup numbers streams by first appearance, so after a stable sort gid runs 0, 1, 2, ...
            self.lengths = np.diff(np.r_[self.starts, n])
        else:
            self.starts = np.zeros(0, dtype=np.int64)
            self.lengths = np.zeros(0, dtype=np.int64)
        self.first = np.zeros(n, dtype=bool)
        self.first[self.starts] = True

    def col(self, name: str) -> np.ndarray:
        return self.rows[name].to_numpy()[self.order]

    def keys(self) -> pd.DataFrame:
        """One row per stream: the stream key columns and its main payload type `pt` (in stream order)."""
        out = self.rows.iloc[self.order[self.starts]][STREAM_KEYS].reset_index(drop=True)
        main, _ = self.payload_types()
        out.insert(STREAM_KEYS.index("ssrc") + 1, "pt", main.astype(np.uint8))
        return out[list(STREAM_KEY_COLUMNS)]

    def payload_types(self) -> tuple[np.ndarray, list[str]]:
        """Per stream: the main payload type (the most frequent; on a tie the lowest) and every payload type it
        used, as "8,13" (ascending)."""
        if self.n == 0:
            return np.zeros(0, dtype=np.int64), []
        combo = self.gid * 128 + self.col("pt").astype(np.int64)
        uniq, counts = np.unique(combo, return_counts=True)
        g, pt = uniq // 128, uniq % 128
        order = np.lexsort((pt, -counts, g))
        head = np.r_[True, g[order][1:] != g[order][:-1]]
        main = np.zeros(len(self.starts), dtype=np.int64)
        main[g[order][head]] = pt[order][head]
        listed = [",".join(str(int(x)) for x in pt[g == i]) for i in range(len(self.starts))]
        return main, listed

    def ext_seq(self) -> np.ndarray:
        return _extend(self.col("seq"), 16, self.starts, self.gid)


def _first_arrival(key: np.ndarray) -> np.ndarray:
    """True where a value of `key` appears for the first time (in array order)."""
    order = np.argsort(key, kind="stable")
    s = key[order]
    head = np.r_[True, s[1:] != s[:-1]]
    out = np.zeros(len(key), dtype=bool)
    out[order[head]] = True
    return out


def _stacked(ext: np.ndarray, o: _Ordered) -> np.ndarray:
    """Extended numbers made unique across streams (each stream in its own range), keeping their order."""
    lo = np.minimum.reduceat(ext, o.starts)
    span = np.maximum.reduceat(ext, o.starts) - lo + 2
    base = np.concatenate(([0], np.cumsum(span)[:-1]))
    return ext - lo[o.gid] + base[o.gid]


def streams(rtp: pd.DataFrame, clock_rates: dict[int, int] | None = None,
            codecs: dict[int, tuple[str, str]] | None = None, sdps=None, payload=None) -> pd.DataFrame:
    """One row per RTP stream (src, sport, dst, dport, ssrc) of an `rtp` table; rows with an error are left out.

    Columns (STREAMS_SCHEMA): src, sport, dst, dport, ssrc; pt (the main payload type: the most frequent, see
    payload_types); first_t, last_t (s); packets; bytes (sum of
    payload_len); bitrate_kbps (bytes * 8 / (last_t - first_t) / 1000, NaN for one instant); first_seq, last_seq
    (lowest and highest extended sequence number, see `extend_seq`); expected (last_seq - first_seq + 1); lost
    (expected minus distinct numbers received: never negative); duplicates (packets with a number already received);
    reordered (packets whose number is below the highest already received and not received before: late packets;
    duplicates are not counted again); max_gap (the longest run of numbers never received); clock_rate (Hz) and
    clock_rate_source: "given" (from `clock_rates`, keyed by payload type), "inferred" (`infer_clock_rate`) or
    "unknown"; jitter_ms (RFC 3550 A.8 interarrival jitter after the last packet, every packet in arrival order
    counted, NaN without a clock rate) and max_jitter_ms (its largest value); markers (packets with M set); kind
    (audio, video, rtx, fec, unknown) and codec: from `codecs` ({pt: (media kind, codec)}, e.g.
    webrtcpcap.sdp.codecs of the SDPs; rtx for an RTX type, fec for ulpfec/flexfec/red), else kind from the clock
    rate alone (90 kHz video, the audio rates audio; an RTX stream without SDP then counts as video) and no codec;
    max_delta_ms (the longest time between two consecutive packets of the stream: a freeze or an outage);
    payload_types (every payload type the stream used, "8,13": one SSRC keeps one sequence space across payload
    types, so comfort noise, DTMF or RED packets are part of the stream, and its loss is counted over all of them);
    role, role_of, role_evidence: what the stream carries (`stream_roles`: media, rtx, fec or padding), the media
    SSRC an rtx stream repairs, and why.  `sdps` (cap.sdp) and `payload` (`Capture.rtp_payload`) give the roles
    their strongest evidence; without them the wire decides.  A stream the roles find to be RTX has kind "rtx"
    (even without an SDP) and no jitter (its timestamps are the original packets', RFC 4588 §4).
    Sorted by first_t (stable).

    Compared with Wireshark's `rtp,streams` (tests/test_streams.py checks these exactly): Wireshark keys streams
    without the payload type; its "Lost" is (extended number of the last packet to arrive - that of the first to
    arrive + 1) - packets, so duplicates lower it (it can go negative) and a late packet at either end moves it;
    its jitter is the same A.8 filter but measures each packet against the last one not behind in timestamp, and
    its maximum skips packets with M set.  RTX (RFC 4588) is a stream of its own here and there: a retransmission
    does not fill the hole in the original stream.
    """
    o = _Ordered(rtp)
    if o.n == 0:
        return _empty(STREAMS_SCHEMA)
    starts, gid = o.starts, o.gid
    t = o.col("t").astype(np.float64)
    payload_len = o.col("payload_len").astype(np.int64)
    ext = o.ext_seq()
    stacked = _stacked(ext, o)
    new = _first_arrival(stacked)
    prev_max = _previous(_segment_cummax(ext, starts, gid), o.first)

    packets = o.lengths.astype(np.int64)
    first_t = np.minimum.reduceat(t, starts)
    last_t = np.maximum.reduceat(t, starts)
    nbytes = np.add.reduceat(payload_len, starts)
    first_seq = np.minimum.reduceat(ext, starts)
    last_seq = np.maximum.reduceat(ext, starts)
    expected = last_seq - first_seq + 1
    unique = np.add.reduceat(new.astype(np.int64), starts)
    late = new & (ext < prev_max) & ~o.first
    reordered = np.add.reduceat(late.astype(np.int64), starts)
    # Longest run of numbers never received: from the distinct numbers in order.
    s = np.sort(stacked[new])
    sgid = np.repeat(np.arange(len(starts)), unique)
    holes = np.zeros(len(s), dtype=np.int64)
    holes[1:] = s[1:] - s[:-1] - 1
    holes[np.r_[0, np.cumsum(unique)[:-1]]] = 0
    max_gap = np.zeros(len(starts), dtype=np.int64)
    np.maximum.at(max_gap, sgid, holes)
    markers = np.add.reduceat(o.col("marker").astype(np.int64), starts)
    delta = np.zeros(o.n)
    delta[1:] = t[1:] - t[:-1]
    delta[o.first] = 0.0
    max_delta = np.maximum.reduceat(delta, starts) * 1000

    keys = o.keys()
    _, payload_types = o.payload_types()
    rate, source = _clock_rates(keys, t, o, clock_rates or {})
    jitter, max_jitter = _jitter(t, o, rate)
    kind, codec = _kinds(keys["pt"].to_numpy(), rate, codecs or {})

    duration = last_t - first_t
    with np.errstate(divide="ignore", invalid="ignore"):
        bitrate = np.where(duration > 0, nbytes * 8 / duration / 1000, np.nan)
    out = keys.assign(
        first_t=first_t, last_t=last_t, packets=packets, bytes=nbytes, bitrate_kbps=bitrate,
        first_seq=first_seq, last_seq=last_seq, expected=expected, lost=expected - unique,
        duplicates=packets - unique, reordered=reordered, max_gap=max_gap,
        clock_rate=pd.arrays.IntegerArray(np.nan_to_num(rate).astype(np.int64), np.isnan(rate)),
        clock_rate_source=pd.Categorical(source, categories=["given", "inferred", "unknown"]),
        jitter_ms=jitter, max_jitter_ms=max_jitter, markers=markers,
        kind=pd.Categorical(kind, categories=KINDS), codec=pd.Categorical(codec), max_delta_ms=max_delta,
        payload_types=payload_types)
    out = out.sort_values("first_t", kind="stable").reset_index(drop=True)
    roles = stream_roles(out, rtp, sdps, payload, codecs)
    out = out.assign(role=pd.Categorical(roles["role"], categories=ROLES), role_of=roles["role_of"].to_numpy(),
                     role_evidence=roles["role_evidence"].to_numpy())
    rtx = (out["role"] == "rtx").to_numpy()
    if rtx.any():
        out["kind"] = out["kind"].where(~rtx, "rtx")
        out.loc[rtx, ["jitter_ms", "max_jitter_ms"]] = np.nan
    return out.astype({k: v for k, v in STREAMS_SCHEMA.items() if v != "category"})[list(STREAMS_SCHEMA)]


def _kinds(pts: np.ndarray, rate: np.ndarray, codecs: dict) -> tuple[list, list]:
    kind, codec = [], []
    for pt, r in zip(pts.tolist(), rate.tolist()):
        media, name = codecs.get(int(pt), (None, None))
        low = (name or "").lower()
        if low == "rtx":
            k = "rtx"
        elif low in _FEC_CODECS and media == "video":
            k = "fec"
        elif media in ("audio", "video"):
            k = media
        elif r == 90000:
            k = "video"
        elif r in (8000, 16000, 24000, 32000, 44100, 48000):
            k = "audio"
        else:
            k = "unknown"
        kind.append(k)
        codec.append(name)
    return kind, codec


def _clock_rates(keys: pd.DataFrame, t: np.ndarray, o: _Ordered, given: dict[int, int]):
    rate = np.full(len(keys), np.nan)
    source = np.array(["unknown"] * len(keys), dtype=object)
    ts = None
    for i, pt in enumerate(keys["pt"].to_numpy()):  # a loop over streams
        if int(pt) in given:
            rate[i], source[i] = float(given[int(pt)]), "given"
            continue
        if ts is None:
            ts = _extend(o.col("ts"), 32, o.starts, o.gid)
            ext = o.ext_seq()
        seg = slice(o.starts[i], o.starts[i] + o.lengths[i])
        r, _ = _infer(t[seg], ts[seg], ext[seg], int(pt))
        if not np.isnan(r):
            rate[i], source[i] = r, "inferred"
    return rate, source


def _jitter(t: np.ndarray, o: _Ordered, rate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RFC 3550 A.8 per stream: D = (R_i - R_(i-1)) - (S_i - S_(i-1)) / rate, J += (|D| - J)/16; ms."""
    ts = o.col("ts").astype(np.int64)
    dts = np.zeros(o.n, dtype=np.int64)
    dts[1:] = _wrap(ts[1:] - ts[:-1], 32)  # timestamp difference between consecutive arrivals, wrap-safe
    dt = np.zeros(o.n)
    dt[1:] = t[1:] - t[:-1]
    with np.errstate(invalid="ignore"):
        d = np.abs(dt - dts / rate[o.gid])
    d[o.first] = 0.0
    d[np.isnan(d)] = 0.0
    series = _jitter_series(d * JITTER_GAIN, o.starts, o.lengths)
    last = o.starts + o.lengths - 1
    jitter = series[last] * 1000
    max_jitter = np.maximum.reduceat(series, o.starts) * 1000
    known = ~np.isnan(rate)
    return np.where(known, jitter, np.nan), np.where(known, max_jitter, np.nan)


PACKET_VIEW_SCHEMA: dict[str, str] = {
    "frame": "uint32",
    "t": "float64",
    **STREAM_KEY_COLUMNS,
    "seq": "uint16",
    "ext_seq": "int64",
    "ts": "uint32",
    "ext_ts": "int64",
    "marker": "bool",
    "arrival_delta_ms": "float64",
    "transit_ms": "float64",
    "jitter_ms": "float64",
}


def packet_view(rtp: pd.DataFrame, clock_rates: dict[int, int] | None = None) -> pd.DataFrame:
    """One row per valid RTP packet, in stream order (the streams of `streams(rtp)`, each in arrival order): the
    series behind a stream's statistics, for plots.

    Columns (PACKET_VIEW_SCHEMA): frame, t, the stream keys (src, sport, dst, dport, ssrc), pt (the packet's), seq and ext_seq
    (extend_seq per stream), ts and ext_ts (extend_ts per stream), marker, arrival_delta_ms (time since the stream's
    previous packet; 0 for its first), transit_ms (arrival time minus the RTP timestamp in ms, relative to the
    stream's first packet: its rises are queueing, its falls catching up; NaN without a clock rate) and jitter_ms (the
    RFC 3550 A.8 interarrival jitter after this packet, as `streams` computes it; its last value is the stream's
    jitter_ms).  Clock rates: `clock_rates` ({pt: Hz}), else inferred as `streams` does."""
    o = _Ordered(rtp)
    if o.n == 0:
        return _empty(PACKET_VIEW_SCHEMA)
    t = o.col("t").astype(np.float64)
    keys = o.keys()
    rate, _ = _clock_rates(keys, t, o, clock_rates or {})
    ext_ts = _extend(o.col("ts"), 32, o.starts, o.gid)
    r = rate[o.gid]
    ts = o.col("ts").astype(np.int64)
    dts = np.zeros(o.n, dtype=np.int64)
    dts[1:] = _wrap(ts[1:] - ts[:-1], 32)
    dt = np.zeros(o.n)
    dt[1:] = t[1:] - t[:-1]
    dt[o.first] = 0.0
    with np.errstate(invalid="ignore"):
        d = np.abs(dt - dts / r)
    d[o.first] = 0.0
    jitter = np.where(np.isnan(r), np.nan, _jitter_series(np.nan_to_num(d) * JITTER_GAIN, o.starts, o.lengths) * 1000)
    with np.errstate(invalid="ignore"):
        transit = t - (ext_ts - ext_ts[o.starts][o.gid]) / r
    transit = (transit - transit[o.starts][o.gid]) * 1000
    stream_cols = {k: np.repeat(keys[k].to_numpy(), o.lengths) for k in STREAM_KEYS}
    stream_cols["pt"] = o.col("pt")  # the packet's own payload type
    out = pd.DataFrame({
        "frame": o.col("frame"), "t": t,
        **{k: (pd.Categorical(stream_cols[k], categories=rtp[k].cat.categories)
               if isinstance(rtp[k].dtype, pd.CategoricalDtype) else stream_cols[k]) for k in STREAM_KEY_COLUMNS},
        "seq": o.col("seq"), "ext_seq": o.ext_seq(), "ts": o.col("ts"), "ext_ts": ext_ts, "marker": o.col("marker"),
        "arrival_delta_ms": dt * 1000, "transit_ms": transit, "jitter_ms": jitter})
    return out.astype({k: v for k, v in PACKET_VIEW_SCHEMA.items() if v != "category"})[list(PACKET_VIEW_SCHEMA)]


RECEIVER_VIEW_SCHEMA: dict[str, str] = {
    **STREAM_KEY_COLUMNS,
    "packets": "int64",
    "lost": "int64",
    "jitter_ms": "float64",
    "reports": "int64",
    "reporter_ssrc": "UInt32",
    "report_frame": "UInt32",
    "report_t": "Float64",
    "reported_highest_seq": "Int64",
    "reported_cumulative_lost": "Int64",
    "reported_fraction_lost": "Float64",
    "reported_jitter_ms": "Float64",
    "lost_until_report": "Int64",
}


def receiver_view(stream_table: pd.DataFrame, rtp: pd.DataFrame, report_blocks: pd.DataFrame) -> pd.DataFrame:
    """Each stream as the capture shows it beside what its receiver reported in RTCP (RFC 3550 §6.4.1 report
    blocks): one row per stream of `stream_table` (`streams(rtp)`) with its packets, lost and jitter_ms, and from the
    LAST report block about its SSRC (`report_blocks`: cap.rtcp_report_blocks): reports (how many blocks), the
    reporter, report frame and time, reported_highest_seq (extended), reported_cumulative_lost,
    reported_fraction_lost (of the last interval), reported_jitter_ms (null without a clock rate) and
    lost_until_report: the packets the capture lacks up to the reported highest sequence number, the number to
    compare with reported_cumulative_lost.

    Where the capture is taken matters: at the receiver both count the same losses (they may differ by packets
    still in flight or by duplicates, which RFC 3550 subtracts); at the sender the capture shows no loss at all and
    only the reports tell.  RTX streams report jitter against the original packets' timestamps (meaningless)."""
    out = stream_table[list(STREAM_KEY_COLUMNS) + ["packets", "lost", "jitter_ms"]].copy()
    n = len(out)
    cols = {c: pd.array([pd.NA] * n, dtype=d) for c, d in RECEIVER_VIEW_SCHEMA.items()
            if c not in out.columns and c != "reports"}
    cols["reports"] = np.zeros(n, dtype=np.int64)
    if len(report_blocks) and n:
        blocks = report_blocks.sort_values(["t", "frame"], kind="stable")
        counts = blocks.groupby("source_ssrc").size()
        last = blocks.groupby("source_ssrc").tail(1).set_index("source_ssrc")
        ok = _Ordered(rtp)
        ext = ok.ext_seq() if ok.n else np.zeros(0, dtype=np.int64)
        for i, ssrc in enumerate(out["ssrc"].to_numpy().tolist()):
            if ssrc not in last.index:
                continue
            b = last.loc[ssrc]
            cols["reports"][i] = int(counts[ssrc])
            for col, src in (("reporter_ssrc", "reporter_ssrc"), ("report_frame", "frame"), ("report_t", "t"),
                             ("reported_highest_seq", "highest_seq"), ("reported_cumulative_lost", "cumulative_lost"),
                             ("reported_fraction_lost", "fraction_lost"), ("reported_jitter_ms", "jitter_ms")):
                cols[col][i] = b[src]
            # The capture's own count up to the reported highest number.  RFC 3550 extends it as cycles << 16 | seq
            # from the receiver's first packet, extend_seq from the capture's: the cycle bases may differ by whole
            # cycles, so the reported number is placed in the cycle nearest the capture's highest.
            mask = np.ones(ok.n, dtype=bool)
            for k in STREAM_KEYS:
                mask &= ok.col(k) == out.iloc[i][k]
            e = ext[mask]
            if len(e):
                highest = int(e.max()) + int(_wrap(np.int64(int(b["highest_seq"]) - int(e.max())), 16))
                upto = np.unique(e[e <= highest])
                cols["lost_until_report"][i] = max(int(highest - int(e.min()) + 1 - len(upto)), 0)
    for c, v in cols.items():
        out[c] = v
    return out.astype({k: v for k, v in RECEIVER_VIEW_SCHEMA.items() if v != "category"})[list(RECEIVER_VIEW_SCHEMA)]


def gaps(rtp: pd.DataFrame) -> pd.DataFrame:
    """One row per hole in a stream's sequence as the receiver saw it open: a packet arrived with an extended number
    more than one above the highest before it.

    Columns (GAPS_SCHEMA): src, sport, dst, dport, ssrc, pt; first_missing (extended, the highest before + 1); count
    (numbers skipped); t_before, t_after (arrival of the stream's packet just before and of the one that skipped);
    duration_s (t_after - t_before); late (how many of the skipped numbers arrived later, out of order, in the same
    stream).  count - late summed over a stream's holes is its `lost`, unless a late packet came from before the
    stream's first packet (numbers below the first packet open no hole).  Sorted by t_after (stable).
    """
    o = _Ordered(rtp)
    if o.n == 0:
        return _empty(GAPS_SCHEMA)
    starts, gid = o.starts, o.gid
    t = o.col("t").astype(np.float64)
    ext = o.ext_seq()
    prev_max = _previous(_segment_cummax(ext, starts, gid), o.first)
    jump = ~o.first & (ext > prev_max + 1)
    at = np.flatnonzero(jump)
    first_missing = prev_max[at] + 1
    count = ext[at] - prev_max[at] - 1
    # Late packets: first arrivals below the highest seen; each falls in at most one hole of its stream.
    stacked = _stacked(ext, o)
    shift = stacked - ext
    late_mask = _first_arrival(stacked) & ~o.first & (ext < prev_max)
    hole_lo = first_missing + shift[at]  # holes of all streams, in one increasing line
    hole_order = np.argsort(hole_lo, kind="stable")
    lo_sorted = hole_lo[hole_order]
    hi_sorted = (hole_lo + count)[hole_order]
    late_vals = stacked[late_mask]
    h = np.searchsorted(lo_sorted, late_vals, side="right") - 1
    # Without holes every late packet came from below a stream's first packet (h is -1): none is inside a hole.
    inside = (h >= 0) & (late_vals < hi_sorted[h.clip(0)]) if len(at) else np.zeros(len(late_vals), dtype=bool)
    late_counts = np.zeros(len(at), dtype=np.int64)
    np.add.at(late_counts, hole_order[h[inside]], 1)
    keys = o.rows.iloc[o.order[at]][list(STREAM_KEY_COLUMNS)].reset_index(drop=True)  # pt: the skipping packet's
    out = keys.assign(first_missing=first_missing, count=count, t_before=t[at - 1], t_after=t[at],
                      duration_s=t[at] - t[at - 1], late=late_counts)
    out = out.sort_values("t_after", kind="stable").reset_index(drop=True)
    return out.astype({k: v for k, v in GAPS_SCHEMA.items() if v != "category"})[list(GAPS_SCHEMA)]


def _empty(schema: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in schema.items()})


# --- RTX (RFC 4588) -------------------------------------------------------------------------------------------------

RTX_PAIRS_SCHEMA: dict[str, str] = {
    "rtx_ssrc": "uint32",
    "rtx_pt": "uint8",
    "media_ssrc": "uint32",
    "media_pt": "uint8",
    "source": "category",
}
RTX_SOURCES = ["sdp ssrc-group FID", "sdp apt + same 5-tuple", "payload OSN", "rtp timestamps",
               "rtp timestamps after losses"]

REPAIRS_SCHEMA: dict[str, str] = {
    **STREAM_KEY_COLUMNS,
    "seq": "int64",
    "t_before": "float64",
    "t_after": "float64",
    "status": "category",
    "rtx_ssrc": "UInt32",
    "rtx_frame": "Int64",
    "rtx_t": "float64",
    "rtx_copies": "int64",
}
REPAIR_STATUSES = ["late", "rtx", "missing", "unknown", "no rtx stream"]
_FIVE = ["src", "sport", "dst", "dport"]


def rtx_osn(rtp: pd.DataFrame, payload, skip_unreadable: bool = False) -> pd.Series:
    """RFC 4588 §4: the original sequence number (OSN, the first 2 bytes of an RTX payload) of each row of `rtp`,
    as a nullable UInt16 Series on rtp's index.  `payload` gives the RTP payload of a frame without padding
    (`Capture.rtp_payload`, whose bulk reader gives the first bytes of every payload at once).  NA where it cannot be
    read: SRTP-encrypted packets that were not decrypted (dtls_srtp without auth_ok: the payload bytes are
    ciphertext, any 2 bytes would be noise), padding-only packets (Chromium's bandwidth probes) and payloads under
    2 bytes.  A payload `payload` cannot give (ValueError) raises, or with `skip_unreadable` is NA."""
    plain = np.flatnonzero(_readable(rtp))
    heads = read_heads(payload, rtp["frame"].to_numpy()[plain], 2)
    if not skip_unreadable:
        for e in heads.error.tolist():
            if e is not None:
                raise e
    have = heads.length >= 2
    osn = np.zeros(len(rtp), dtype=np.uint16)
    osn[plain[have]] = heads.head[have, 0].astype(np.uint16) << 8 | heads.head[have, 1]
    known = np.zeros(len(rtp), dtype=bool)
    known[plain[have]] = True
    return pd.Series(pd.arrays.IntegerArray(osn, ~known), index=rtp.index, name="osn")


def _readable(rtp: pd.DataFrame) -> np.ndarray:
    """Rows whose RTP payload is plaintext: not SRTP, or SRTP that was decrypted (auth_ok, see open(keylog=))."""
    plain = ~rtp["dtls_srtp"].to_numpy(dtype=bool) if "dtls_srtp" in rtp.columns else np.ones(len(rtp), bool)
    if "auth_ok" in rtp.columns:
        plain |= rtp["auth_ok"].fillna(False).to_numpy(dtype=bool)
    return plain


def rtx_pairs(streams_df: pd.DataFrame, sdps=None, rtp: pd.DataFrame | None = None, payload=None,
              timestamps: bool = False) -> pd.DataFrame:
    """Which RTP stream (RFC 4588 RTX) retransmits which, one row per RTX stream found: rtx_ssrc, rtx_pt, media_ssrc,
    media_pt, source (the evidence, strongest first):

    - "sdp ssrc-group FID": an `a=ssrc-group:FID <media> <rtx>` line of the SDPs (RFC 5576 §4.2) names both SSRCs;
    - "sdp apt + same 5-tuple": the stream's payload type is an RTX type (`a=fmtp:<pt> apt=<media pt>`) and exactly
      one stream with the apt payload type flows on the same 5-tuple;
    - "payload OSN": with `rtp` and `payload` (`Capture.rtp_payload`) on a plaintext capture, the stream's OSNs
      (`rtx_osn`) all lie in the sequence range of one other stream of the same 5-tuple, and the RTP timestamps of
      the RTX packets are timestamps of that stream's packets (RFC 4588 §4: an RTX packet keeps the original
      timestamp).  Used for streams the SDP leaves open (no SDP, or several candidates).
    - "rtp timestamps" (only with `timestamps=True` and `rtp`; weaker, for SRTP read without keys): every RTP
      timestamp of the stream is one of exactly one other stream of the same 5-tuple with more packets, and each of
      its packets arrived after that stream's first packet with the same timestamp (a retransmission keeps the
      original timestamp and comes later).  What `webrtcpcap summary` uses to leave RTX jitter out.
    - "rtp timestamps after losses" (with `timestamps=True`): the receiver's side of a loss the originals of which
      never arrived (an outage): every RTP timestamp of the stream lies in the span of exactly one other stream of
      the same 5-tuple, with payload type one below the stream's (the pairing every WebRTC stack offers: VP8 96 and
      its rtx 97), every packet arrived after that stream's first hole opened, and there are no more packets than 3
      per number it lost.

    `streams_df` is a `streams` table; `sdps` one Sdp or a list (`cap.sdp`).  A stream none of these pairs is not
    listed.  Sorted by rtx_ssrc.
    """

    sdps = _sdp._sdps(sdps)
    seen = streams_df.drop_duplicates("ssrc").set_index("ssrc")
    rows: dict[int, tuple] = {}
    for s in sdps:  # FID groups
        for m in s.media:
            for g in m.ssrc_groups:
                if g.semantics == "FID" and len(g.ssrcs) == 2:
                    media, rtx = g.ssrcs
                    if rtx in seen.index and media in seen.index and rtx not in rows:
                        rows[rtx] = (rtx, int(seen.at[rtx, "pt"]), media, int(seen.at[media, "pt"]), RTX_SOURCES[0])
    apt = _sdp.rtx_map(sdps)
    osn_by_stream: dict[int, pd.DataFrame] = {}
    if rtp is not None and payload is not None:
        cand = streams_df[~streams_df["ssrc"].isin(list(rows))]
        if apt:
            cand = cand[cand["pt"].isin(list(apt))]
        for ssrc in cand["ssrc"].unique().tolist():
            sub = rtp[rtp["ssrc"] == ssrc]
            if _readable(sub).all() and _osns_may_fit(streams_df, sub, payload):
                osn_by_stream[int(ssrc)] = sub.assign(osn=rtx_osn(sub, payload)).dropna(subset=["osn"])
    for _, r in streams_df.iterrows():  # a loop over streams
        ssrc, pt = int(r["ssrc"]), int(r["pt"])
        if ssrc in rows:
            continue
        same = streams_df[(streams_df[_FIVE] == r[_FIVE]).all(axis=1) & (streams_df["ssrc"] != ssrc)]
        if pt in apt:
            media = same[(same["pt"] == apt[pt]) & ~same["ssrc"].isin(list(rows))]
            if len(media["ssrc"].unique()) == 1:
                m = media.iloc[0]
                rows[ssrc] = (ssrc, pt, int(m["ssrc"]), int(m["pt"]), RTX_SOURCES[1])
                continue
        got = osn_by_stream.get(ssrc)
        if got is None or len(got) < 2 or rtp is None:
            continue
        osn = got["osn"].to_numpy(dtype=np.int64)
        matches = []
        for _, m in same.iterrows():
            if int(m["ssrc"]) in rows:
                continue
            lo, hi = int(m["first_seq"]), int(m["last_seq"])
            ext = lo + (osn - lo) % 65536  # each OSN in the cycle at or above the stream's first number
            mts = extend_ts(rtp.loc[rtp["ssrc"] == m["ssrc"], "ts"].to_numpy())
            ts0 = int(mts.min()) if len(mts) else 0
            rel = (got["ts"].to_numpy(dtype=np.int64) - ts0) % (1 << 32)  # RTX timestamps inside the stream's span
            if len(mts) and (ext <= hi).all() and (rel <= int(mts.max()) - ts0).all():
                matches.append(m)
        if len(matches) == 1:
            rows[ssrc] = (ssrc, pt, int(matches[0]["ssrc"]), int(matches[0]["pt"]), RTX_SOURCES[2])
    if timestamps and rtp is not None:
        for ssrc, media, media_pt, source in _rtx_by_timestamps(streams_df, rtp, set(rows)):
            rows[ssrc] = (ssrc, int(seen.at[ssrc, "pt"]), media, media_pt, source)
    out = pd.DataFrame(sorted(rows.values()), columns=list(RTX_PAIRS_SCHEMA))
    out["source"] = pd.Categorical(out["source"], categories=RTX_SOURCES)
    return out.astype({k: v for k, v in RTX_PAIRS_SCHEMA.items() if v != "category"})


_OSN_PROBE = 8  # packets read first from a stream that might be RTX (each read decodes its frame again)


def _osns_may_fit(streams_df: pd.DataFrame, sub: pd.DataFrame, payload) -> bool:
    """False when the OSNs of the first few readable packets of a stream (`sub`: its rtp rows) already rule out every
    other stream of its 5-tuple as its media: the payload OSN pairing below needs every OSN inside that stream's
    sequence range.  Saves reading every packet of the media streams of a plaintext capture opened without an SDP."""
    first = sub.iloc[0]
    same = streams_df[(streams_df[_FIVE] == first[_FIVE]).all(axis=1) & (streams_df["ssrc"] != first["ssrc"])]
    if not len(same):
        return False
    osn = rtx_osn(sub.iloc[:_OSN_PROBE], payload).dropna().to_numpy(dtype=np.int64)
    if not len(osn):
        return True  # nothing readable in the first packets (padding probes): decide on the whole stream
    lo, hi = same["first_seq"].to_numpy(dtype=np.int64), same["last_seq"].to_numpy(dtype=np.int64)
    inside = (lo[:, None] + (osn[None, :] - lo[:, None]) % 65536) <= hi[:, None]
    return bool(inside.all(axis=1).any())


def _rtx_by_timestamps(streams_df: pd.DataFrame, rtp: pd.DataFrame, paired: set) -> list[tuple[int, int, int, str]]:
    """(rtx ssrc, media ssrc, media pt, source) for the wire evidence of rtx_pairs ("rtp timestamps", "rtp
    timestamps after losses").  Padding-only packets (probes, which RTX streams also carry) are left out; a
    retransmitted packet whose frame lost every original is allowed not to match, so half of the timestamps
    matching, and all lying in the other stream's span, is enough.  An RTX stream has a payload type of its own
    (RFC 4588 §8.1), so a stream with the same payload type is never its media."""
    found = []
    ok = rtp[rtp["error"].isna()] if "error" in rtp.columns else rtp
    holes = gaps(ok)
    first_hole = holes.groupby(holes[STREAM_KEYS].astype(str).agg("|".join, axis=1), sort=False)["t_before"].min() \
        if len(holes) else pd.Series(dtype="float64")
    for _, r in streams_df.iterrows():  # a loop over streams
        ssrc = int(r["ssrc"])
        if ssrc in paired:
            continue
        here = (ok[_FIVE] == r[_FIVE]).all(axis=1).to_numpy()
        own = ok[here & (ok["ssrc"] == ssrc).to_numpy()]
        mine = own[~own["padding"].to_numpy(dtype=bool)]
        # One retransmission is enough on an SSRC that also carried padding-only probes (what browsers send on
        # their RTX SSRC); otherwise two.
        if len(mine) < (1 if len(mine) < len(own) else 2):
            continue
        same = streams_df[(streams_df[_FIVE] == r[_FIVE]).all(axis=1) & (streams_df["ssrc"] != ssrc)
                          & (streams_df["packets"] > r["packets"]) & (streams_df["pt"] != r["pt"])]
        matches, after_loss = [], []
        for _, m in same.iterrows():
            other = ok[here & (ok["ssrc"] == m["ssrc"]).to_numpy()]
            ts = extend_ts(other["ts"].to_numpy())
            ts0, span = int(ts.min()), int(ts.max() - ts.min())
            inside = ((mine["ts"].to_numpy(dtype=np.int64) - ts0) % (1 << 32) <= span).all()
            if not inside:
                continue
            first_t = other.groupby("ts", observed=True)["t"].min()
            at = first_t.reindex(mine["ts"].to_numpy()).to_numpy()
            hit = ~np.isnan(at)
            if 2 * hit.sum() >= len(mine) and (mine["t"].to_numpy()[hit] >= at[hit]).all():
                matches.append(m)
                continue
            opened = first_hole.get("|".join(str(m[k]) for k in STREAM_KEYS))
            if (opened is not None and int(r["pt"]) == int(m["pt"]) + 1 and (mine["t"] >= opened).all()
                    and len(mine) <= 3 * int(m["lost"])):
                after_loss.append(m)
        if len(matches) == 1:
            found.append((ssrc, int(matches[0]["ssrc"]), int(matches[0]["pt"]), RTX_SOURCES[3]))
        elif not matches and len(after_loss) == 1:
            found.append((ssrc, int(after_loss[0]["ssrc"]), int(after_loss[0]["pt"]), RTX_SOURCES[4]))
    return found


ROLES_SCHEMA: dict[str, str] = {
    **STREAM_KEY_COLUMNS,
    "role": "category",
    "role_of": "UInt32",
    "role_evidence": "string",
}
_FEC_ONLY = {"ulpfec", "flexfec", "flexfec-03"}


def stream_roles(streams_df: pd.DataFrame, rtp: pd.DataFrame, sdps=None, payload=None,
                 codecs: dict[int, tuple[str, str]] | None = None) -> pd.DataFrame:
    """What each stream of a `streams` table carries, and why: one row per stream, in its order.

    Columns (ROLES_SCHEMA): the stream keys and pt; role (ROLES: media, rtx, fec, padding); role_of (UInt32: the
    media SSRC an rtx or fec stream repairs, when known); role_evidence (string: the evidence, strongest first).

    - rtx: paired by `rtx_pairs` (with `timestamps=True`: the SDP's FID groups or apt, else the payload's OSNs when
      readable, else the wire's timestamps), or its payload type is rtx in the SDP;
    - fec: ulpfec/flexfec in the SDP, or the second SSRC of an a=ssrc-group:FEC-FR (RFC 5956);
    - padding: every packet has the padding bit set (and, when the payload is readable, carries nothing else):
      bandwidth probes of a stream not otherwise paired;
    - media: everything else.  RED (RFC 2198) carries media (with its redundancy) and counts as media.
    `codecs` ({pt: (media kind, codec)}) defaults to webrtcpcap.sdp.codecs(sdps)."""

    sdps = _sdp._sdps(sdps)
    if codecs is None:
        codecs = _sdp.codecs(sdps) if sdps else {}
    apt = _sdp.rtx_map(sdps) if sdps else {}
    fec_fr: dict[int, int] = {}
    for s in sdps:
        for m in s.media:
            for g in m.ssrc_groups:
                if g.semantics == "FEC-FR" and len(g.ssrcs) == 2:
                    fec_fr[g.ssrcs[1]] = g.ssrcs[0]
    n = len(streams_df)
    role = np.array(["media"] * n, dtype=object)
    role_of = pd.array([pd.NA] * n, dtype="UInt32")
    evidence = np.array([""] * n, dtype=object)
    pairs = (rtx_pairs(streams_df, sdps, rtp, payload, timestamps=True) if n
             else _empty(RTX_PAIRS_SCHEMA))
    paired = {int(p.rtx_ssrc): p for p in pairs.itertuples(index=False)}
    ok = rtp[rtp["error"].isna()] if "error" in rtp.columns else rtp
    for i, r in enumerate(streams_df.itertuples(index=False)):  # a loop over streams
        ssrc, pt = int(r.ssrc), int(r.pt)
        media, name = codecs.get(pt, (None, None))
        low = (name or "").lower()
        p = paired.get(ssrc)
        if p is not None:
            role[i], role_of[i] = "rtx", int(p.media_ssrc)
            evidence[i] = _rtx_evidence(p)
        elif low == "rtx":
            role[i] = "rtx"
            evidence[i] = f"SDP: payload type {pt} is rtx" + (f" (apt={apt[pt]})" if pt in apt else "")
        elif ssrc in fec_fr:
            role[i], role_of[i] = "fec", fec_fr[ssrc]
            evidence[i] = f"SDP: a=ssrc-group:FEC-FR {fec_fr[ssrc]} {ssrc}"
        elif low in _FEC_ONLY:
            role[i] = "fec"
            evidence[i] = f"SDP: payload type {pt} is {name}"
        else:
            why = _padding_only(ok, r, payload)
            if why:
                role[i], evidence[i] = "padding", why
            elif name:
                evidence[i] = f"SDP: payload type {pt} is {media} {name}"
            else:
                evidence[i] = "no SDP for payload type {}; nothing on the wire marks it as RTX, FEC or padding".format(pt)
    keys = streams_df[list(STREAM_KEY_COLUMNS)].reset_index(drop=True)
    return keys.assign(role=pd.Categorical(role, categories=ROLES), role_of=role_of,
                       role_evidence=pd.array(evidence, dtype="string"))


def in_streams(rtp: pd.DataFrame, streams_df: pd.DataFrame) -> np.ndarray:
    """Boolean mask over the rows of `rtp`: True where the row belongs to one of the streams of `streams_df`
    (matched on STREAM_KEYS), e.g. `rtp[in_streams(rtp, st[st.role == "media"])]` keeps the media packets."""
    if not len(rtp) or not len(streams_df):
        return np.zeros(len(rtp), dtype=bool)
    def key(df):
        return pd.MultiIndex.from_arrays([df[k].astype(str) if k in ("src", "dst") else df[k].astype(np.int64)
                                          for k in STREAM_KEYS])
    return key(rtp).isin(key(streams_df))


def _rtx_evidence(p) -> str:
    media = f"ssrc {int(p.media_ssrc)}"
    return {
        RTX_SOURCES[0]: f"SDP: a=ssrc-group:FID {int(p.media_ssrc)} {int(p.rtx_ssrc)}",
        RTX_SOURCES[1]: (f"SDP: payload type {int(p.rtx_pt)} is rtx with apt={int(p.media_pt)}, and {media} is the "
                         f"one payload type {int(p.media_pt)} stream on this 5-tuple"),
        RTX_SOURCES[2]: (f"payload: its original sequence numbers (RFC 4588 OSN) and RTP timestamps are those of "
                         f"{media}"),
        RTX_SOURCES[3]: (f"wire: its RTP timestamps repeat those of {media}, each packet after the original "
                         "(payload unreadable)"),
        RTX_SOURCES[4]: (f"wire: its RTP timestamps lie in those of {media}, its packets came only after that "
                         f"stream's losses, and its payload type {int(p.rtx_pt)} is {int(p.media_pt)} + 1"),
    }[str(p.source)]


def _padding_only(ok: pd.DataFrame, r, payload) -> str:
    """The evidence that every packet of stream `r` is padding (RFC 3550 §5.1), or "" when one is not."""
    mask = np.ones(len(ok), dtype=bool)
    for k in STREAM_KEYS:
        mask &= (ok[k] == getattr(r, k)).to_numpy()
    rows = ok[mask]
    if not len(rows) or not rows["padding"].to_numpy(dtype=bool).all():
        return ""
    readable = _readable(rows)
    if payload is not None and readable.all():
        heads = read_heads(payload, rows["frame"].to_numpy(), 0)
        if (heads.length != 0).any():  # a payload, or one that could not be read: not only padding
            return ""
        return (f"payload: every packet ({len(rows)}) is padding only (P bit, empty payload): bandwidth probes")
    return (f"wire: every packet ({len(rows)}) has the padding bit set, payload encrypted: padding-only bandwidth "
            "probes, most likely")


def repairs(rtp: pd.DataFrame, pairs: pd.DataFrame, payload=None) -> pd.DataFrame:
    """One row per sequence number missing from a stream when the receiver first skipped it (the numbers of
    `gaps`), and what became of it.  RTX streams named in `pairs` are left out (their holes are lost
    retransmissions).

    Columns (REPAIRS_SCHEMA): the media stream's keys (src, sport, dst, dport, ssrc, pt); seq (extended); t_before,
    t_after (the hole's, from `gaps`); status; rtx_ssrc (the paired RTX stream, from `rtx_pairs`); rtx_frame, rtx_t
    (the first RTX packet carrying this number as its OSN, arriving after the hole opened); rtx_copies (how many RTX
    packets carried it).  status is:

    - "late": the original packet itself arrived later (reordering), no repair needed;
    - "rtx": an RTX packet with this OSN arrived (RFC 4588: the NACK was answered);
    - "missing": the RTX stream is readable and none of its packets carries this number;
    - "unknown": the RTX stream's payloads are SRTP-encrypted and were not decrypted (open the capture with its
      keys: `keylog=`), or `payload` was not given, so the OSNs cannot be read: only the counts (lost vs RTX
      packets) can be compared;
    - "no rtx stream": no RTX stream is paired with this stream in `pairs`.

    `payload` gives a frame's RTP payload (`Capture.rtp_payload`).  Sorted by t_after, then seq.
    """
    g = gaps(rtp)
    g = g[~g["ssrc"].isin(pairs["rtx_ssrc"].tolist())]  # a lost retransmission is not a hole in the media
    if len(g) == 0:
        return _empty(REPAIRS_SCHEMA)
    idx = np.repeat(np.arange(len(g)), g["count"].to_numpy())
    seq = g["first_missing"].to_numpy()[idx] + (np.arange(len(idx)) - np.repeat(np.cumsum(g["count"]) - g["count"],
                                                                                 g["count"]).to_numpy())
    out = g.iloc[idx][list(STREAM_KEY_COLUMNS) + ["t_before", "t_after"]].reset_index(drop=True)
    out["seq"] = seq
    # Late originals: the same extended number received in the same stream after the hole opened.
    o = _Ordered(rtp)
    recv = o.rows.iloc[o.order][STREAM_KEYS].reset_index(drop=True).assign(seq=o.ext_seq())
    recv = recv.drop_duplicates()
    late = out.merge(recv.assign(_late=True), on=STREAM_KEYS + ["seq"], how="left")["_late"].fillna(False)
    late = late.to_numpy(dtype=bool)
    rtx_of = dict(zip(pairs["media_ssrc"].astype(np.int64), pairs["rtx_ssrc"].astype(np.int64)))
    status = np.where(late, "late", "no rtx stream").astype(object)
    rtx_ssrc = pd.array([pd.NA] * len(out), dtype="UInt32")
    rtx_frame = pd.array([pd.NA] * len(out), dtype="Int64")
    rtx_t = np.full(len(out), np.nan)
    copies = np.zeros(len(out), dtype=np.int64)
    for media, rtx in rtx_of.items():  # a loop over RTX streams
        sel = np.flatnonzero(out["ssrc"].to_numpy().astype(np.int64) == media)
        if len(sel) == 0:
            continue
        rtx_ssrc[sel] = rtx
        sub = rtp[(rtp["ssrc"] == rtx) & (rtp["error"].isna() if "error" in rtp.columns else True)]
        todo = sel[~late[sel]]
        if payload is None or len(sub) and not _readable(sub).any():
            status[todo] = "unknown"
            continue
        osn = rtx_osn(sub, payload)
        have = sub.assign(osn=osn).dropna(subset=["osn"])
        h_osn = have["osn"].to_numpy(dtype=np.int64)
        h_t = have["t"].to_numpy(dtype=np.float64)
        h_frame = have["frame"].to_numpy(dtype=np.int64)
        for i in sel.tolist():  # a loop over missing packets of streams with a readable RTX stream
            hit = np.flatnonzero((h_osn == int(out.at[i, "seq"]) % 65536) & (h_t >= out.at[i, "t_before"]))
            copies[i] = len(hit)
            if len(hit):
                rtx_frame[i] = int(h_frame[hit[0]])
                rtx_t[i] = h_t[hit[0]]
            if not late[i]:
                status[i] = "rtx" if len(hit) else "missing"
    out = out.assign(status=pd.Categorical(status, categories=REPAIR_STATUSES), rtx_ssrc=rtx_ssrc,
                     rtx_frame=rtx_frame, rtx_t=rtx_t, rtx_copies=copies)
    out = out.sort_values(["t_after", "seq"], kind="stable").reset_index(drop=True)
    return out.astype({k: v for k, v in REPAIRS_SCHEMA.items() if v != "category"})[list(REPAIRS_SCHEMA)]
