"""Sequence arithmetic of RTP streams: 16-bit sequence numbers and 32-bit timestamps extended across wrap-around
(RFC 3550 A.1), per-stream segment reductions, and the RTP rows put in stream order (the stream key, `Ordered`).
Every later floor that counts packets, gaps, NACKs or repairs does it through these.

Strategy: numpy over all streams at once: rows in stream order (stable, so arrival order is kept inside a stream),
per-stream results from segment reductions; Python loops run over streams, never packets.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .schema import as_capture

# A stream is one SSRC on one 5-tuple (RFC 3550 §3: the SSRC names the source, whose sequence numbers run across
# payload types: PCMA with comfort noise, audio with telephone-event or RED, a codec switch).  Tables also carry `pt`,
# the stream's main payload type (its most frequent; in `gaps`/`packet_view` the packet's own).
STREAM_KEYS = ["src", "sport", "dst", "dport", "ssrc"]
# Every stream table starts with these columns: the stream key and a payload type.
STREAM_KEY_COLUMNS: dict[str, str] = {
    "src": "category",
    "sport": "uint16",
    "dst": "category",
    "dport": "uint16",
    "ssrc": "uint32",
    "pt": "uint8",
}

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


def extend_counter(values, bits: int) -> np.ndarray:
    """Any `bits`-bit wrapping counter (transport-wide sequence numbers, the 24-bit transport-cc reference time,
    abs-send-time) extended as `extend_seq` does, values in the order they were seen."""
    return _extend(np.asarray(values), bits, np.zeros(1, dtype=np.int64))


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


# --- stream order --------------------------------------------------------------------------------------------------


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


def _empty(schema: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in schema.items()})


# --- sequence gaps -------------------------------------------------------------------------------------------------


def gaps(rtp: pd.DataFrame) -> pd.DataFrame:
    """One row per hole in a stream's sequence as the receiver saw it open: a packet arrived with an extended number
    more than one above the highest before it.

    Columns (GAPS_SCHEMA): src, sport, dst, dport, ssrc, pt; first_missing (extended, the highest before + 1); count
    (numbers skipped); t_before, t_after (arrival of the stream's packet just before and of the one that skipped);
    duration_s (t_after - t_before); late (how many of the skipped numbers arrived later, out of order, in the same
    stream).  count - late summed over a stream's holes is its `lost`, unless a late packet came from before the
    stream's first packet (numbers below the first packet open no hole).  Sorted by t_after (stable).
    """
    if (cap := as_capture(rtp)) is not None:  # gaps(cap): of the capture's rtp table
        rtp = cap.rtp
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
