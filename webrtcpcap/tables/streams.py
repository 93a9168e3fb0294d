"""RTP streams from the `rtp` table: RFC 3550 A.1 (extended sequence numbers), A.3 (expected
and lost packets) and A.8 (interarrival jitter).

Strategy: plain functions DataFrame -> DataFrame, no I/O; bytes only for RTX OSNs (RFC 4588), read through a
callable the caller passes (`Capture.rtp_payload`).  Every per-packet step is numpy over all
streams at once: rows are put in stream order (stable, so arrival order is kept inside a stream) and per-stream
results come from segment reductions (`np.*.reduceat`).  Python loops run over streams or blocks, never packets.

The sequence arithmetic and the gaps table are in tables/sequence.py, RTX pairing, stream roles and repairs in
tables/rtx.py; this module names them too (`webrtcpcap.streams.gaps`, `.rtx_pairs`, `.extend_seq` ...).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..protocols import sdp as _sdp  # noqa: F401  (webrtcpcap.streams._sdp, as before the split)
# The sequence arithmetic and RTX pairing live in modules of their own; their names stay reachable here
# (webrtcpcap.streams.<name>, as documented and used before the split).
from .sequence import (GAPS_SCHEMA, STREAM_KEY_COLUMNS, STREAM_KEYS, _empty, _extend, _extend_loop,  # noqa: F401
                       _first_arrival, _Ordered, _previous, _segment_cummax, _segment_cumsum, _stacked, _wrap,
                       extend_seq, extend_ts, gaps)
from .rtx import (_FEC_ONLY, _FIVE, _OSN_PROBE, REPAIR_STATUSES, REPAIRS_SCHEMA, ROLES, RTX_PAIRS_SCHEMA,  # noqa: F401
                  RTX_SOURCES, _osns_may_fit, _padding_only, _readable, _rtx_by_timestamps, _rtx_evidence, in_streams,
                  repairs, rtx_osn, rtx_pairs, stream_roles)

# Clock rates an inferred rate is snapped to (Hz).
CLOCK_RATES = (8000, 16000, 24000, 32000, 44100, 48000, 90000)
# An inferred rate further than this (relative) from every entry of CLOCK_RATES is not trusted.
CLOCK_RATE_TOLERANCE = 0.25
JITTER_GAIN = 1 / 16  # RFC 3550 A.8: J += (|D| - J) / 16

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
# RED (RFC 2198) is not here: a RED stream carries the media itself (Firefox and Chromium wrap every VP8 packet in RED
# when ulpfec is negotiated, the FEC riding inside RED on the same SSRC and sequence space), so it is judged as media.
_FEC_CODECS = {"ulpfec", "flexfec", "flexfec-03"}



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
        return _decide_rate(pt, True, 0.0, None, np.nan, "")
    if len(ts) == 0 or not (ts != ts[0]).any():
        return _decide_rate(pt, False, 0.0, None, np.nan, "")
    span = float(t[-1] - t[0]) if len(t) else 0.0
    k = np.unique(np.linspace(0, len(t) - 1, min(len(t), 200)).astype(np.int64))
    measured, about = _theil_sen(t[k], ts[k], span)
    return _decide_rate(pt, True, span, _frame_step(ts, seq), measured, about)


def _theil_sen(t: np.ndarray, ts: np.ndarray, span: float) -> tuple[float, str]:
    """(ticks per second, evidence) from sampled packets (t, extended ts) of a stream lasting `span` s; NaN under
    50 ms.  Every pair of samples at least a quarter of the stream apart: a Theil-Sen slope over long baselines, so a
    burst or a stall moves only the pairs that touch it."""
    if span < 0.05:
        return np.nan, ""
    i, j = np.meshgrid(np.arange(len(t)), np.arange(len(t)), indexing="ij")
    far = (t[j] - t[i]) >= span / 4
    i, j = i[far], j[far]
    if not len(i):
        return np.nan, ""
    measured = float(np.median((ts[j] - ts[i]) / (t[j] - t[i])))
    return measured, (f"median timestamp advance {measured:.0f} ticks/s over {len(i)} packet pairs at least "
                      f"{span / 4:.2f} s apart")


def _decide_rate(pt: int | None, distinct: bool, span: float, step: int | None, measured: float,
                 about: str) -> tuple[float, str]:
    """The rate `_infer` gives from its evidence (also what tables/stream_state.py decides from evidence carried
    across chunks): pt, whether the stream has 2 distinct timestamps, its span (s), its frame step and measured
    rate."""
    if pt is not None and pt in STATIC_CLOCK_RATES:
        rate = STATIC_CLOCK_RATES[pt]
        return float(rate), f"static payload type {pt} (RFC 3551 §6): {rate} Hz"
    if not distinct:
        return np.nan, "fewer than 2 distinct RTP timestamps"
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


def streams(rtp: pd.DataFrame, clock_rates: dict[int, int] | None = None,
            codecs: dict[int, tuple[str, str]] | None = None, sdps=None, payload=None,
            found: dict | None = None) -> pd.DataFrame:
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
    roles = stream_roles(out, rtp, sdps, payload, codecs, found=found)
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


def _key(values) -> tuple:
    """A stream key (src, sport, dst, dport, ssrc) as plain str and int, to look a stream up by."""
    src, sport, dst, dport, ssrc = values
    return (str(src), int(sport), str(dst), int(dport), int(ssrc))


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
        # Each stream's segment of the ordered rows, by its key (one grouping, not a scan of the table per stream)
        segment = {_key(k): (int(a), int(a + n)) for k, a, n in zip(
            ok.keys()[STREAM_KEYS].itertuples(index=False, name=None), ok.starts, ok.lengths)} if ok.n else {}
        stream_keys = list(out[STREAM_KEYS].itertuples(index=False, name=None))
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
            a, b_end = segment.get(_key(stream_keys[i]), (0, 0))
            e = ext[a:b_end]
            if len(e):
                highest = int(e.max()) + int(_wrap(np.int64(int(b["highest_seq"]) - int(e.max())), 16))
                upto = np.sort(e[e <= highest])  # distinct numbers: a sort, cheaper than numpy's hashed unique
                distinct = int(len(upto) and 1 + np.count_nonzero(upto[1:] != upto[:-1]))
                cols["lost_until_report"][i] = max(int(highest - int(e.min()) + 1 - distinct), 0)
    for c, v in cols.items():
        out[c] = v
    return out.astype({k: v for k, v in RECEIVER_VIEW_SCHEMA.items() if v != "category"})[list(RECEIVER_VIEW_SCHEMA)]


