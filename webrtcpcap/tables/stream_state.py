"""RTP stream statistics carried across chunks: RFC 3550 A.1 (extended highest sequence number, with wrap), A.3
(expected and lost packets) and A.8 (interarrival jitter) kept as a little state per stream, so that a capture read
in chunks (`iter_chunks`) gets the loss and jitter `streams` gives when the whole capture is read at once.

Strategy: each chunk's rows are put in stream order and handled with numpy over all streams at once, as
tables/streams.py does; what a later chunk needs of an earlier one is kept per stream:

- loss: the highest extended number (the next chunk's numbers are extended relative to it, as A.1 extends them
  relative to the highest seen), the lowest, and the distinct numbers received.  A number more than 32768 below the
  highest can never be received again (every later packet is placed within 32768 of the highest), so the distinct
  numbers that far down are only counted; the ones above are kept (at most 32770 per stream), with the first and
  last timestamp each arrived with, for the frame step below.
- jitter: the last packet's arrival time and timestamp and J after it, for every clock rate the stream may turn out
  to have (the rate is inferred from the whole stream, known only at the end; the filter is run for each candidate
  rate, `CANDIDATE_RATES`, and the inferred one is picked at the end).
- clock rate: the evidence `streams._decide_rate` takes: packets per payload type (the main one), whether two
  timestamps differ, first and last arrival, the frame step's counts (steps between consecutive sequence numbers,
  taken once the numbers are closed) and a sample of the stream for the Theil-Sen rate: every s-th packet, s a power
  of two doubled whenever more than `SAMPLE` are held (whole-read `streams` samples 200 packets evenly instead: the
  rate it snaps to is the same unless the measured rate sits at the edge between two standard rates).
- RTX (RFC 4588 keeps the original timestamps, so an RTX stream has no jitter): the "rtp timestamps" rule of
  `rtx_pairs`, its counts summed over chunks, with the first arrival of each timestamp kept for one chunk only (a
  retransmission comes a few round trips after its original) and without the rule's span check nor its "after
  losses" variant.  That is the one answer here that is not the whole read's by construction.

Memory: a few scalars per stream, plus at most 32770 open numbers and `SAMPLE` sampled packets per stream, whatever
the number of packets.  Floating point: jitter filtered from a carried value rounds differently from one filtered
in one piece, by about 1e-15 of the value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .sequence import STREAM_KEYS, _extend, _Ordered, _wrap
from .streams import (_A, _BLOCK, _POW, _TRI, CLOCK_RATES, JITTER_GAIN, STATIC_CLOCK_RATES, _decide_rate,
                      _theil_sen)

# Every rate `_decide_rate` can answer: the standard rates an inferred one is snapped to, and the static types'.
CANDIDATE_RATES = tuple(sorted(set(CLOCK_RATES) | set(STATIC_CLOCK_RATES.values())))
SAMPLE = 200  # sampled packets per stream for the Theil-Sen rate (all of them up to 200, as whole-read streams)
_HALF = 1 << 15  # a number this far below the highest is never received again (A.1 places it within 32768)

STREAM_STATE_COLUMNS = {
    "src": "object", "sport": "int64", "dst": "object", "dport": "int64", "ssrc": "int64", "pt": "int64",
    "packets": "int64", "expected": "int64", "lost": "int64", "clock_rate": "float64", "jitter_ms": "float64",
    "rtx_of": "float64",
}


class StreamState:
    """Per-stream RFC 3550 state fed with `rtp` tables in capture order (`update`, e.g. each chunk of iter_chunks);
    `table()` gives, at any point, what `streams` gives for the rows seen so far (see the module's docstring for the
    one approximation, RTX pairing, and the Theil-Sen sample)."""

    def __init__(self) -> None:
        self._ids: dict[tuple, int] = {}
        self._keys: list[tuple] = []
        n = 0
        self.packets = np.zeros(n, np.int64)
        self.highest = np.zeros(n, np.int64)
        self.lowest = np.zeros(n, np.int64)
        self.closed = np.zeros(n, np.int64)  # distinct numbers received more than 32768 below the highest
        self.first_t = np.zeros(n)
        self.last_t = np.zeros(n)
        self.last_ts = np.zeros(n, np.int64)  # raw 32-bit timestamp of the last packet to arrive
        self.last_ext_ts = np.zeros(n, np.int64)  # and extended
        self.ts_highest = np.zeros(n, np.int64)  # extended timestamps, as sequence numbers
        self.ts_first = np.zeros(n, np.int64)
        self.distinct_ts = np.zeros(n, bool)
        self.jitter = np.zeros((n, len(CANDIDATE_RATES)))
        # Packets per (stream, payload type), as sorted keys stream * 128 + pt and their counts.
        self.pt_keys, self.pt_counts = np.zeros(0, np.int64), np.zeros(0, np.int64)
        self.steps = np.zeros(n, np.int64)
        self.zero_steps = np.zeros(n, np.int64)
        self.step_counts: list[dict[int, int]] = []
        # Open numbers of every stream: stream id, extended number, extended timestamps of its first and last arrival.
        self.open = np.zeros((0, 4), np.int64)
        self.stride: list[int] = []
        self.sample: list[np.ndarray] = []  # rows (packet index, t, extended ts) as float64
        self.rtx_mine = np.zeros(n, np.int64)  # packets not padding only, of streams sharing their 5-tuple
        self.rtx_hits: dict[tuple[int, int], list[int]] = {}  # (stream, other): [same timestamp, came before it]
        # The last chunk's first arrival per (stream << 32 | timestamp), sorted by key.
        self._recent = (np.zeros(0, np.int64), np.zeros(0))

    # --- bookkeeping ------------------------------------------------------------------------------------------------

    def _grow(self, k: int) -> None:
        for name in ("packets", "highest", "lowest", "closed", "last_ts", "last_ext_ts", "ts_highest", "ts_first",
                     "steps", "zero_steps"):
            setattr(self, name, np.r_[getattr(self, name), np.zeros(k, np.int64)])
        self.first_t = np.r_[self.first_t, np.zeros(k)]
        self.last_t = np.r_[self.last_t, np.zeros(k)]
        self.distinct_ts = np.r_[self.distinct_ts, np.zeros(k, bool)]
        self.jitter = np.vstack([self.jitter, np.zeros((k, len(CANDIDATE_RATES)))])
        self.step_counts += [{} for _ in range(k)]
        self.stride += [1] * k
        self.sample += [np.zeros((0, 3)) for _ in range(k)]
        self.rtx_mine = np.r_[self.rtx_mine, np.zeros(k, np.int64)]

    def _stream_ids(self, o: _Ordered) -> np.ndarray:
        first = o.rows.iloc[o.order[o.starts]][STREAM_KEYS]
        keys = list(zip(first["src"].astype(str), first["sport"].astype(int), first["dst"].astype(str),
                        first["dport"].astype(int), first["ssrc"].astype(int)))
        fresh = [k for k in keys if k not in self._ids]
        for k in fresh:
            self._ids[k] = len(self._keys)
            self._keys.append(k)
        if fresh:
            self._grow(len(fresh))
        return np.array([self._ids[k] for k in keys], dtype=np.int64)

    # --- one chunk --------------------------------------------------------------------------------------------------

    def update(self, rtp: pd.DataFrame) -> None:
        """Take the next rows of the capture (an `rtp` table; rows with an error are left out, as `streams` does)."""
        o = _Ordered(rtp)
        if o.n == 0:
            return
        sid = self._stream_ids(o)
        seen = self.packets[sid] > 0  # streams that carry state from earlier rows
        gid, starts, lengths = o.gid, o.starts, o.lengths
        t = o.col("t").astype(np.float64)
        raw_ts = o.col("ts").astype(np.int64)
        ext = self._extended(o.col("seq").astype(np.int64), 16, self.highest[sid], seen, starts, lengths)
        ext_ts = self._extended(raw_ts, 32, self.ts_highest[sid], seen, starts, lengths)
        index = np.arange(o.n) - starts[gid] + self.packets[sid][gid]  # the packet's index in its stream

        self._jitter(t, raw_ts, sid, seen, gid, starts, lengths)
        self._sample(sid, starts, lengths, index, t, ext_ts)
        combo, counts = np.unique(sid[gid] * 128 + (o.col("pt").astype(np.int64) & 127), return_counts=True)
        self.pt_keys, self.pt_counts = _summed(np.r_[self.pt_keys, combo], np.r_[self.pt_counts, counts])
        ts0 = np.where(seen, self.ts_first[sid], ext_ts[starts])
        self.distinct_ts[sid] |= np.logical_or.reduceat(ext_ts != ts0[gid], starts)
        self.ts_first[sid] = ts0
        self.first_t[sid] = np.where(seen, self.first_t[sid], t[starts])
        self.last_t[sid] = t[starts + lengths - 1]
        self.last_ts[sid] = raw_ts[starts + lengths - 1]
        self.last_ext_ts[sid] = ext_ts[starts + lengths - 1]
        lo, hi = np.minimum.reduceat(ext, starts), np.maximum.reduceat(ext, starts)
        self.lowest[sid] = np.where(seen, np.minimum(self.lowest[sid], lo), lo)
        self.highest[sid] = np.where(seen, np.maximum(self.highest[sid], hi), hi)
        self.ts_highest[sid] = np.where(seen, np.maximum(self.ts_highest[sid], np.maximum.reduceat(ext_ts, starts)),
                                        np.maximum.reduceat(ext_ts, starts))
        self.packets[sid] += lengths
        self._numbers(sid[gid], ext, ext_ts)
        self._rtx(o, sid, t, raw_ts)

    @staticmethod
    def _extended(values, bits, highest, seen, starts, lengths) -> np.ndarray:
        """A.1 across chunks: each stream's values extended relative to the highest seen before, the carried highest
        of an earlier chunk included (put in front of the stream's rows as one more packet, then taken out)."""
        n_seen = int(seen.sum())
        mask = np.int64((1 << bits) - 1)
        # Where each stream starts once one row is put in front of every seen stream.
        new_starts = starts + np.cumsum(seen) - seen
        total = len(values) + n_seen
        is_front = np.zeros(total, bool)
        is_front[new_starts[seen]] = True
        v = np.empty(total, np.int64)
        v[is_front] = highest[seen] & mask
        v[~is_front] = values
        gid = np.repeat(np.arange(len(starts)), lengths + seen)
        ext = _extend(v, bits, new_starts, gid)
        # _extend puts each stream's first row in cycle 0 and lifts streams that went below it: put the carried
        # highest back at its value (and a stream's first packet ever at its own, unlifted).
        anchor = np.where(seen, highest, v[new_starts])
        ext = ext + (anchor - ext[new_starts])[gid]
        return ext[~is_front]

    def _jitter(self, t, raw_ts, sid, seen, gid, starts, lengths) -> None:
        """A.8 for every candidate rate: D from consecutive arrivals of a stream (the first row of a chunk against
        the carried last one), J carried."""
        prev_t = np.r_[0.0, t[:-1]]
        prev_ts = np.r_[0, raw_ts[:-1]]
        prev_t[starts] = self.last_t[sid]
        prev_ts[starts] = self.last_ts[sid]
        first = np.zeros(len(t), bool)
        first[starts[~seen]] = True  # a stream's first packet ever: D = 0
        dt = t - prev_t
        dts = _wrap(raw_ts - prev_ts, 32)
        with np.errstate(invalid="ignore"):
            d = np.abs(dt[:, None] - dts[:, None] / np.array(CANDIDATE_RATES, np.float64)[None, :])
        d[first] = 0.0
        d[np.isnan(d)] = 0.0
        self.jitter[sid] = _filter_last(d * JITTER_GAIN, starts, lengths, gid, self.jitter[sid])

    def _sample(self, sid, starts, lengths, index, t, ext_ts) -> None:
        for g, s in enumerate(sid.tolist()):  # a loop over streams
            seg = slice(starts[g], starts[g] + lengths[g])
            stride = self.stride[s]
            keep = index[seg] % stride == 0
            rows = np.column_stack([index[seg][keep], t[seg][keep], ext_ts[seg][keep]]).astype(np.float64)
            held = np.vstack([self.sample[s], rows])
            while len(held) > SAMPLE:
                stride *= 2
                held = held[held[:, 0].astype(np.int64) % stride == 0]
            self.stride[s], self.sample[s] = stride, held

    def _numbers(self, sids, ext, ext_ts) -> None:
        """Distinct numbers (for A.3) and the frame step's pairs: numbers that can no longer arrive are counted and
        let go, with the step from the last arrival of each to the first arrival of the number after it."""
        rows = np.column_stack([sids, ext, ext_ts, ext_ts])
        both = np.vstack([self.open, rows])  # the open numbers first: they arrived before
        order = np.lexsort((both[:, 1], both[:, 0]))  # stable: arrival order among equal numbers
        both = both[order]
        head = np.r_[True, (both[1:, 0] != both[:-1, 0]) | (both[1:, 1] != both[:-1, 1])]
        starts = np.flatnonzero(head)
        ends = np.r_[starts[1:], len(both)] - 1
        merged = both[starts].copy()
        merged[:, 3] = both[ends, 3]  # last arrival's timestamp
        limit = self.highest[merged[:, 0]] - _HALF  # numbers below this never arrive again
        self._count(merged, merged[:, 1] + 1 < limit)
        keep = merged[:, 1] + 1 >= limit
        self.closed += np.bincount(merged[~keep, 0], minlength=len(self.closed))
        self.open = merged[keep]

    def _count(self, merged: np.ndarray, final: np.ndarray) -> None:
        """Steps (first timestamp of n+1 minus last of n) for the numbers n in `final` whose n+1 was received."""
        nxt = np.r_[(merged[1:, 0] == merged[:-1, 0]) & (merged[1:, 1] == merged[:-1, 1] + 1), False]
        pick = np.flatnonzero(final & nxt)
        if not len(pick):
            return
        s = merged[pick, 0]
        step = merged[pick + 1, 2] - merged[pick, 3]
        self.steps += np.bincount(s, minlength=len(self.steps))
        self.zero_steps += np.bincount(s[step == 0], minlength=len(self.steps))
        pos = step > 0
        if not pos.any():
            return
        pairs, counts = np.unique(np.column_stack([s[pos], step[pos]]), axis=0, return_counts=True)
        for (stream, value), c in zip(pairs.tolist(), counts.tolist()):
            got = self.step_counts[stream]
            got[value] = got.get(value, 0) + c

    def _rtx(self, o: _Ordered, sid: np.ndarray, t: np.ndarray, raw_ts: np.ndarray) -> None:
        """Evidence for the "rtp timestamps" RTX rule of `rtx_pairs`, summed over chunks, for streams that share a
        5-tuple with another: each stream's packets that carry something (not padding only), and for each other
        stream of the 5-tuple how many of them have a timestamp that stream had (in this chunk or the one before)
        and how many of those came before that stream's first packet with the same timestamp."""
        five = [self._keys[s][:4] for s in sid.tolist()]
        shared = np.array([five.count(f) > 1 for f in five])
        before_key, before_first = self._recent
        if not shared.any():
            self._recent = (np.zeros(0, np.int64), np.zeros(0))
            return
        rows = shared[o.gid]
        sids = sid[o.gid][rows]
        ts, tt = raw_ts[rows], t[rows]
        key = (sids << 32) | ts  # (stream, timestamp) in one number
        self._recent = _first_per_key(key, tt)
        seen_key, seen_first = _first_per_key(np.r_[before_key, key], np.r_[before_first, tt])
        carried = ~o.col("padding").astype(bool)[rows]
        np.add.at(self.rtx_mine, sids[carried], 1)
        mine_sid, mine_ts, mine_t = sids[carried], ts[carried], tt[carried]
        for s in np.unique(mine_sid).tolist():  # a loop over streams
            own = mine_sid == s
            for m in sid.tolist():
                if m == s or self._keys[m][:4] != self._keys[s][:4]:
                    continue
                want = (np.int64(m) << 32) | mine_ts[own]
                at = np.minimum(np.searchsorted(seen_key, want), len(seen_key) - 1)
                hit = seen_key[at] == want
                counts = self.rtx_hits.setdefault((s, m), [0, 0])
                counts[0] += int(hit.sum())
                counts[1] += int((mine_t[own][hit] < seen_first[at[hit]]).sum())

    # --- the answer -------------------------------------------------------------------------------------------------

    def table(self) -> pd.DataFrame:
        """One row per stream (STREAM_STATE_COLUMNS): src, sport, dst, dport, ssrc, pt (the main payload type: most
        packets, the lowest on a tie), packets, expected (highest - lowest extended number + 1), lost (expected -
        distinct numbers received), clock_rate (Hz, NaN when not inferred; as `streams` infers it) and jitter_ms
        (A.8 after the last packet at that rate; NaN without a rate or for an RTX stream), rtx_of (the media SSRC
        an RTX stream repairs, else NaN).  In order of first appearance."""
        n = len(self._keys)
        open_sid = self.open[:, 0]
        distinct = self.closed + np.bincount(open_sid, minlength=n)
        expected = self.highest - self.lowest + 1
        steps, zeros = self.steps.copy(), self.zero_steps.copy()
        counts = [dict(c) for c in self.step_counts]
        # The open numbers' pairs, as if every number were closed now.
        merged = self.open
        nxt = np.r_[(merged[1:, 0] == merged[:-1, 0]) & (merged[1:, 1] == merged[:-1, 1] + 1), False][:len(merged)]
        pick = np.flatnonzero(nxt)
        step = merged[pick + 1, 2] - merged[pick, 3]
        for s, v in zip(merged[pick, 0].tolist(), step.tolist()):
            steps[s] += 1
            if v == 0:
                zeros[s] += 1
            elif v > 0:
                counts[s][v] = counts[s].get(v, 0) + 1
        pts = self._main_pts()
        rows = []
        for i, key in enumerate(self._keys):  # a loop over streams
            pt = int(pts[i])
            rate = self._rate(i, pt, int(steps[i]), int(zeros[i]), counts[i])
            rtx_of = self._rtx_of(i, pts)
            if np.isnan(rate) or not np.isnan(rtx_of):
                jitter = np.nan
            else:
                jitter = float(self.jitter[i, CANDIDATE_RATES.index(int(rate))] * 1000)
            rows.append((*key[:5], pt, int(self.packets[i]), int(expected[i]), int(expected[i] - distinct[i]),
                         rate, jitter, rtx_of))
        return pd.DataFrame(rows, columns=list(STREAM_STATE_COLUMNS)).astype(STREAM_STATE_COLUMNS)

    def _main_pts(self) -> np.ndarray:
        """Each stream's main payload type: the most packets, the lowest on a tie (as streams' `pt`)."""
        stream, pt = self.pt_keys // 128, self.pt_keys % 128
        if not len(stream):
            return np.zeros(0, np.int64)
        order = np.lexsort((pt, -self.pt_counts, stream))
        head = np.r_[True, stream[order][1:] != stream[order][:-1]]
        main = np.zeros(len(self._keys), np.int64)
        main[stream[order][head]] = pt[order][head]
        return main

    def _rtx_of(self, i: int, pts: np.ndarray) -> float:
        """The media SSRC of stream i by the summed timestamp evidence (rtx_pairs' "rtp timestamps" rule: the other
        stream of the 5-tuple, with more packets and another main payload type, that has the timestamps of at least
        half of its packets, each arriving after that stream's own), else NaN."""
        mine = int(self.rtx_mine[i])
        if mine < (1 if mine < self.packets[i] else 2):
            return np.nan
        found = [m for (s, m), (hits, early) in self.rtx_hits.items()
                 if s == i and 2 * hits >= mine and not early and self.packets[m] > self.packets[i] and pts[m] != pts[i]]
        return float(self._keys[found[0]][4]) if len(found) == 1 else np.nan

    def _rate(self, i: int, pt: int, steps: int, zeros: int, counts: dict[int, int]) -> float:
        if pt in STATIC_CLOCK_RATES:
            return _decide_rate(pt, True, 0.0, None, np.nan, "")[0]
        if not self.distinct_ts[i]:
            return np.nan
        span = float(self.last_t[i] - self.first_t[i])
        held = self.sample[i]
        t, ts = held[:, 1], held[:, 2]
        if held[-1, 0] != self.packets[i] - 1:  # the last packet too, as whole-read sampling includes it
            t = np.r_[t, self.last_t[i]]
            ts = np.r_[ts, float(self.last_ext_ts[i])]
        measured, about = _theil_sen(t, ts, span)
        return _decide_rate(pt, True, span, _step(int(self.packets[i]), steps, zeros, counts), measured, about)[0]


def _filter_last(x: np.ndarray, starts: np.ndarray, lengths: np.ndarray, gid: np.ndarray,
                 before: np.ndarray) -> np.ndarray:
    """J after each segment's last row of J_i = (15/16) J_(i-1) + x_i, every column of x (one per rate) at once,
    J starting from `before` (one row per segment), in O(n): streams._jitter_series' blocks of 128 (only each
    block's end is needed: one weighted sum per block; the last value carried between blocks), with a carried
    start."""
    n, width = x.shape
    rows_per = -(-lengths // _BLOCK)
    row0 = np.concatenate(([0], np.cumsum(rows_per)[:-1]))
    pos = np.arange(n) - starts[gid]
    row, col = row0[gid] + pos // _BLOCK, pos % _BLOCK
    grid = np.zeros((int(rows_per.sum()), width, _BLOCK))
    grid[row, :, col] = x
    ends = grid @ _TRI[:, -1]  # each block's filter from zero, at its end: sum of x_k a**(127-k)
    owner = np.repeat(np.arange(len(starts)), rows_per).tolist()
    opens = np.zeros(len(grid), bool)
    opens[row0] = True
    last_row = row0 + rows_per - 1
    carried = np.empty((len(grid), width))  # J before each block
    aB = _A ** _BLOCK
    j = before[0]
    for r, first in enumerate(opens.tolist()):  # a loop over blocks of 128 rows, not over rows
        if first:
            j = before[owner[r]]
        carried[r] = j
        j = ends[r] + aB * j
    # The segment's last row: its block's filter up to that row, plus the carried J decayed to it.
    last = starts + lengths - 1
    upto = col[last]
    block = grid[last_row]  # (segments, width, 128)
    weights = _POW[np.clip(upto[:, None] - np.arange(_BLOCK)[None, :], 0, None)]
    weights = np.where(np.arange(_BLOCK)[None, :] <= upto[:, None], weights, 0.0)  # a**(upto - k) for k <= upto
    local_end = np.einsum("swk,sk->sw", block, weights)
    return local_end + carried[last_row] * _POW[upto + 1][:, None]


def _summed(keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct keys (sorted) and the sum of the counts of each."""
    order = np.argsort(keys, kind="stable")
    keys, counts = keys[order], counts[order]
    head = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.zeros(0, np.int64)
    return keys[head], np.add.reduceat(counts, head) if len(head) else counts


def _first_per_key(key: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct keys (sorted) and the earliest t of each."""
    order = np.lexsort((t, key))
    key, t = key[order], t[order]
    head = np.r_[True, key[1:] != key[:-1]] if len(key) else np.zeros(0, bool)
    return key[head], t[head]


def _step(packets: int, steps: int, zeros: int, counts: dict[int, int]) -> int | None:
    """streams._frame_step from counts: the step F taken by at least half the steps, when under a fifth are 0."""
    if packets < 4 or steps < 3 or zeros / steps >= 0.2 or not counts:
        return None
    best = max(counts.values())
    f = min(v for v, c in counts.items() if c == best)
    return f if counts[f] / steps >= 0.5 else None
