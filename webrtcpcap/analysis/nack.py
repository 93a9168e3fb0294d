"""NACK → retransmission → repair, from the `nacks`, `keyframe_requests` and `rtp` tables: RFC 4585 §6.2.1 (generic
NACK), RFC 4588 (RTX: the original sequence number, OSN, in the first 2 payload bytes), RFC 3550 A.1 (extended
sequence numbers).

Strategy: plain functions DataFrame -> DataFrame; no bytes (OSNs come as a table, or through `streams.rtx_osn`, the
one place that reads them).  Everything is keyed by (media SSRC, extended sequence number): a NACK's 16-bit number,
an RTX packet's OSN and an RTP packet's number are each placed in the cycle nearest the highest number of that
media stream captured at or before their own time (`streams.extend_seq` for the stream, the same nearest-cycle rule
for the others).  Matching "the first X at or after time t with key k" is one sort and one binary search over
(key, time rank) pairs; Python loops run over media streams, never over packets.

Where the capture was taken decides what a NACKed packet looks like, so it is decided per media stream:

- at the receiver (or anywhere after the loss): a lost packet is a hole in the captured stream when the receiver
  NACKs it; the NACK leaves, a retransmission arrives.  `lost_t` is the arrival of the packet before the hole.
- at the sender (or anywhere before the loss): every NACKed packet was captured going out *before* the NACK came
  in (the loss is downstream); a retransmission is seen leaving, not arriving.  `lost_t` is the original's time.

A stream's `capture_side` is "sender" when most of its NACKed packets were captured before their first NACK,
"receiver" otherwise, "unknown" when the media stream is not in the capture at all (the lab's captures: node b's
capture is the receiver side of a's media and the sender side of b's own).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..tables import streams as _streams
from ..tables import schema as tables
from ..tables.rtx import RTX_OSN_SCHEMA, rtx_osns  # noqa: F401  (rtx_osns: public here too)
from ..tables.streams import _wrap, extend_seq

OUTCOMES = ["repaired", "repaired_late", "not_repaired", "not_lost"]
REPAIR_KINDS = ["rtx", "same_ssrc"]
CAPTURE_SIDES = ["receiver", "sender", "unknown"]
UNSOLICITED_REASONS = ["no osn", "never nacked", "before nack"]

NACK_OUTCOMES_SCHEMA: dict[str, str] = {
    "media_ssrc": "uint32",
    "seq": "uint16",
    "ext_seq": "int64",
    "nack_src": "category",
    "nack_dst": "category",
    "sender_ssrc": "uint32",
    "capture_side": "category",
    "lost_t": "float64",
    "gap_first_missing": "Int64",
    "gap_count": "Int64",
    "original_frame": "UInt32",
    "original_t": "float64",
    "first_nack_frame": "uint32",
    "first_nack_t": "float64",
    "last_nack_t": "float64",
    "nacks": "int64",
    "repair_kind": "category",
    "repair_ssrc": "UInt32",
    "repair_frame": "UInt32",
    "repair_t": "float64",
    "repair_copies": "int64",
    "repair_delay_ms": "float64",
    "rtt_ms": "float64",
    "repair_delay_rtt": "float64",
    "keyframe_request_t": "float64",
    "too_late": "boolean",
    "outcome": "category",
}


UNSOLICITED_SCHEMA: dict[str, str] = {
    **tables.KEY_COLUMNS,
    "rtx_ssrc": "uint32",
    "media_ssrc": "uint32",
    "seq": "uint16",
    "osn": "UInt16",
    "ext_osn": "Int64",
    "payload_len": "uint16",
    "reason": "category",
}

NACK_SUMMARY_SCHEMA: dict[str, str] = {
    "media_ssrc": "uint32",
    "capture_side": "category",
    "losses": "int64",
    "nacked": "int64",
    "never_nacked": "int64",
    "repaired": "int64",
    "repaired_late": "int64",
    "not_repaired": "int64",
    "not_lost": "int64",
    "repair_ratio": "float64",
    "repair_delay_median_ms": "float64",
    "repair_delay_p95_ms": "float64",
    "unrepaired": "int64",
    "nack_rows": "int64",
    "nack_rate_per_s": "float64",
    "unsolicited": "int64",
    "verdict": "string",
    "evidence": "string",
}

_EVIDENCE_FRAMES = 5  # frames quoted per problem in a verdict's evidence


# --- helpers --------------------------------------------------------------------------------------------------------


def _empty(schema: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in schema.items()})


def _first_at_or_after(key, t: np.ndarray, qkey, qt: np.ndarray):
    """For each query (qkey, qt): the index of the first candidate with key == qkey and t >= qt (-1 if none), and how
    many candidates with that key have t >= qt.  A key is an int array or a tuple of them (compared as tuples).
    One sort of (key code, time rank) pairs and binary searches."""
    nq = len(qt)
    if not len(t) or not nq:
        return np.full(nq, -1, dtype=np.int64), np.zeros(nq, dtype=np.int64)
    code, qcode = _codes(key, qkey)
    times, inverse = np.unique(np.concatenate([t, qt]), return_inverse=True)
    rank, qrank = inverse[:len(t)], inverse[len(t):]
    width = np.int64(len(times) + 1)
    comp = code * width + rank
    qcomp = qcode * width + qrank
    order = np.argsort(comp, kind="stable")
    cs = comp[order]
    j = np.searchsorted(cs, qcomp, side="left")
    end = np.searchsorted(cs, (qcode + 1) * width, side="left")
    found = j < end
    first = np.where(found, order[np.minimum(j, len(cs) - 1)], -1)
    return first.astype(np.int64), (end - j).astype(np.int64)


def _codes(key, qkey) -> tuple[np.ndarray, np.ndarray]:
    """Dense int64 codes of candidate and query keys (equal keys, equal codes), in key order."""
    parts = key if isinstance(key, tuple) else (key,)
    qparts = qkey if isinstance(qkey, tuple) else (qkey,)
    cols = [np.concatenate([np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)])
            for a, b in zip(parts, qparts)]
    order = np.lexsort(cols[::-1])  # by the first column, then the next
    new = np.zeros(len(order), dtype=bool)
    if len(order):
        new[0] = True
        for c in cols:
            sc = c[order]
            new[1:] |= sc[1:] != sc[:-1]
    codes = np.empty(len(order), dtype=np.int64)
    codes[order] = np.cumsum(new) - 1
    n = len(parts[0])
    return codes[:n], codes[n:]


class _Media:
    """The captured packets of one media SSRC in arrival order: extended numbers and the running highest."""

    def __init__(self, t: np.ndarray, seq: np.ndarray, frame: np.ndarray):
        self.t = t
        self.frame = frame
        self.ext = extend_seq(seq) if len(seq) else np.zeros(0, dtype=np.int64)
        self.highest = np.maximum.accumulate(self.ext) if len(seq) else self.ext
        self._order = None

    def arrivals(self, ext: np.ndarray, t: np.ndarray):
        """For each extended number: the row of its first capture (-1 if never), the row of its first capture at or
        after time t (-1 if none) and how many captures of it came at or after t.  "At or after" goes by capture
        order: a row counts when the running maximum of capture times up to it is >= t."""
        n = len(self.ext)
        if self._order is None:
            self._order = np.argsort(self.ext, kind="stable")  # equal numbers stay in capture order
            base = self.ext[self._order] - self.ext.min()
            self._comp = base * np.int64(n + 1) + self._order
            self._clock = np.maximum.accumulate(self.t)
        lo_val = self.ext.min()
        e = np.asarray(ext, dtype=np.int64)
        valid = (e >= lo_val) & (e <= self.ext.max())
        key = (np.where(valid, e, lo_val) - lo_val) * np.int64(n + 1)
        first_pos = np.searchsorted(self._comp, key, side="left")
        end = np.searchsorted(self._comp, key + n + 1, side="left")
        has = valid & (first_pos < end)
        first = np.where(has, self._order[np.minimum(first_pos, n - 1)], -1)
        p = np.searchsorted(self._clock, t, side="left")  # the first row at or after t
        j = np.searchsorted(self._comp, key + p, side="left")
        has_after = valid & (j < end)
        after = np.where(has_after, self._order[np.minimum(j, n - 1)], -1)
        return first.astype(np.int64), after.astype(np.int64), np.where(valid, end - j, 0).astype(np.int64)

    def extend_at(self, seq16: np.ndarray, t: np.ndarray) -> np.ndarray:
        """16-bit numbers seen at times t, each in the cycle nearest the stream's highest number captured by then
        (the stream's first number for times before it)."""
        seq16 = np.asarray(seq16, dtype=np.int64)
        if not len(self.ext):
            return seq16.copy()
        i = np.searchsorted(self.t, t, side="right") - 1
        ref = np.where(i >= 0, self.highest[np.maximum(i, 0)], self.ext[0])
        return ref + _wrap(seq16 - ref, 16)


def _media_streams(rtp: pd.DataFrame, ssrcs) -> dict[int, _Media]:
    ok = rtp[rtp["error"].isna()] if "error" in rtp.columns and rtp["error"].notna().any() else rtp
    ssrc = ok["ssrc"].to_numpy().astype(np.int64)
    want = np.unique(np.asarray(list(ssrcs), dtype=np.int64))
    sel = np.flatnonzero(np.isin(ssrc, want))
    order = sel[np.argsort(ssrc[sel], kind="stable")]  # arrival order kept inside each SSRC
    s = ssrc[order]
    t = ok["t"].to_numpy(dtype=np.float64)[order]
    seq = ok["seq"].to_numpy()[order]
    frame = ok["frame"].to_numpy().astype(np.int64)[order]
    out = {}
    if len(s):
        starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
        ends = np.r_[starts[1:], len(s)]
        for a, b in zip(starts.tolist(), ends.tolist()):  # a loop over media streams
            out[int(s[a])] = _Media(t[a:b], seq[a:b], frame[a:b])
    return out


def _osn_table(rtp: pd.DataFrame, pairs: pd.DataFrame, payload_of) -> pd.DataFrame:
    if payload_of is None:
        return _empty(RTX_OSN_SCHEMA)
    if callable(payload_of):
        return rtx_osns(rtp, pairs, payload_of)
    osn = payload_of
    if "media_ssrc" not in osn.columns or "rtx_ssrc" not in osn.columns:  # a bare (frame, osn) table
        media_of = dict(zip(pairs["rtx_ssrc"].astype(np.int64), pairs["media_ssrc"].astype(np.int64)))
        rows = rtp[rtp["ssrc"].isin(list(media_of))][["frame", "t", "ssrc"]]
        osn = rows.merge(osn[["frame", "osn"]], on="frame", how="left").rename(columns={"ssrc": "rtx_ssrc"})
        osn["media_ssrc"] = osn["rtx_ssrc"].map(media_of)
    return osn


def _rtt_at(rtt_ms, t: np.ndarray) -> np.ndarray:
    """RTT (ms) for each time: a number for all, or from a table with t and rtt_ms (`rtt.round_trip_times`): the last
    measurement at or before t, else the first one."""
    if rtt_ms is None:
        return np.full(len(t), np.nan)
    if np.isscalar(rtt_ms):
        return np.full(len(t), float(rtt_ms))
    table = pd.DataFrame({"t": rtt_ms["t"].to_numpy(dtype=np.float64),
                          "r": rtt_ms["rtt_ms"].astype("float64").to_numpy()}).dropna()
    table = table[table["r"] > 0].sort_values("t", kind="stable")
    if not len(table):
        return np.full(len(t), np.nan)
    i = np.searchsorted(table["t"].to_numpy(), t, side="right") - 1
    return table["r"].to_numpy()[np.maximum(i, 0)]


# --- NACK outcomes --------------------------------------------------------------------------------------------------


def nack_outcomes(nacks: pd.DataFrame, rtp: pd.DataFrame | None = None, rtx_pairs_df: pd.DataFrame | None = None,
                  payload_of=None, rtt_ms=None, playout_delay_ms: float | None = None,
                  keyframe_requests: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per NACKed (media SSRC, extended sequence number): when it was lost, NACKed, retransmitted.

    Inputs: `nacks` (`cap.nacks`: one row per NACKed sequence number), `rtp` (`cap.rtp`), `rtx_pairs_df`
    (`streams.rtx_pairs`); `payload_of` gives the RTX OSNs: `Capture.rtp_payload` (read with `rtx_osns`), an
    `rtx_osns` table, a (frame, osn) table, or None (RTX packets then match nothing); `rtt_ms` a number or an RTT
    table with t and rtt_ms (`rtt.round_trip_times`; mind where the capture was taken, see there);
    `playout_delay_ms` the jitter-buffer deadline counted from the loss; `keyframe_requests`
    (`cap.keyframe_requests`): a repair after the next PLI/FIR for the stream came too late.

    Columns (NACK_OUTCOMES_SCHEMA):
    - media_ssrc (uint32), seq (uint16, as NACKed), ext_seq (int64, extended: see the module docstring);
    - nack_src, nack_dst (category), sender_ssrc (uint32): of the first NACK (the receiver asking, and whom);
    - capture_side (category receiver/sender/unknown, per media stream, see the module docstring);
    - lost_t (float64 s): receiver side, the arrival of the packet before the hole (`streams.gaps`' t_before);
      sender side, the original's capture time; gap_first_missing, gap_count (Int64): the hole it belongs to;
    - original_frame (UInt32), original_t: the first capture of the original packet (null if never);
    - first_nack_frame (uint32), first_nack_t, last_nack_t; nacks (int64: NACK rows asking for it, so re-NACKs
      are nacks - 1);
    - repair_kind (category): "rtx" (an RTX packet of the paired RTX stream whose OSN is this number, captured at or
      after the first NACK) or "same_ssrc" (the number again on the media SSRC after the first NACK: a duplicate of
      an original captured before the NACK, or — for a stream with no RTX stream paired — the first arrival after
      the NACK); the earlier of the two when both; null when none.  repair_ssrc (UInt32), repair_frame (UInt32),
      repair_t; repair_copies (int64: retransmissions of it captured after the first NACK);
    - repair_delay_ms (repair_t - first_nack_t), rtt_ms, repair_delay_rtt (delay in RTTs, NaN without RTT);
    - keyframe_request_t: the first PLI/FIR for the media SSRC after lost_t (NaN if none or not given);
    - too_late (boolean): the repair came after lost_t + playout_delay_ms or after keyframe_request_t; null when
      there was no repair;
    - outcome (category): "repaired", "repaired_late" (too_late), "not_repaired", or "not_lost": with an RTX
      stream paired, the original itself was first captured after the NACK: at the receiver side it arrived late
      (reordering, not loss); at the sender side it left late (a forwarder such as an SFU had the hole itself and
      sent the number once its own upstream repair came in), so the receiver got it as a late original.
    At the sender side "repaired" means retransmitted (seen leaving), not that the retransmission arrived.
    Sorted by first_nack_t, then media_ssrc and ext_seq.
    """
    if tables.as_capture(nacks) is not None:  # nack_outcomes(cap): the capture's, as its analysis context has them
        from . import context  # deferred: a cycle (analysis.context imports this module)
        return context.of(nacks).nack_outcomes
    if rtp is None or rtx_pairs_df is None:
        raise TypeError("nack_outcomes takes the capture, or the nacks, rtp and rtx_pairs_df tables")
    if not len(nacks):
        return _empty(NACK_OUTCOMES_SCHEMA)
    n_media = nacks["media_ssrc"].to_numpy().astype(np.int64)
    n_seq = nacks["seq"].to_numpy().astype(np.int64)
    n_t = nacks["t"].to_numpy(dtype=np.float64)
    pairs = rtx_pairs_df if rtx_pairs_df is not None else _empty(_streams.RTX_PAIRS_SCHEMA)
    media = _media_streams(rtp, np.unique(n_media))
    # Extended numbers of every NACK row, per media stream.
    n_ext = n_seq.copy()
    for s, m in media.items():  # a loop over media streams
        sel = np.flatnonzero(n_media == s)
        n_ext[sel] = m.extend_at(n_seq[sel], n_t[sel])
    # One row per (media, ext): first NACK (earliest t; file order breaks ties), last NACK, count.
    nk = pd.DataFrame({"m": n_media, "e": n_ext, "t": n_t, "row": np.arange(len(nacks))})
    nk = nk.sort_values(["m", "e", "t", "row"], kind="stable")
    grp = nk.groupby(["m", "e"], sort=False)
    first_row = grp["row"].first().to_numpy()
    out_m = grp["m"].first().to_numpy().astype(np.int64)
    out_e = grp["e"].first().to_numpy().astype(np.int64)
    count = grp.size().to_numpy().astype(np.int64)
    last_t = grp["t"].max().to_numpy()
    first_t = n_t[first_row]
    k = len(out_m)

    # The captured media stream: original arrival, hole, later copies.
    side = np.full(k, 2, dtype=np.int8)  # codes into CAPTURE_SIDES
    orig_t = np.full(k, np.nan)
    orig_frame = np.zeros(k, dtype=np.int64)
    lost_t = np.full(k, np.nan)
    gap_lo = np.zeros(k, dtype=np.int64)
    gap_n = np.zeros(k, dtype=np.int64)
    in_gap = np.zeros(k, dtype=bool)
    after_row = np.full(k, -1, dtype=np.int64)  # first media arrival at or after the first NACK
    after_n = np.zeros(k, dtype=np.int64)
    after_t = np.full(k, np.nan)
    after_frame = np.zeros(k, dtype=np.int64)
    has_media = np.zeros(k, dtype=bool)
    for s, m in media.items():  # a loop over media streams
        sel = np.flatnonzero(out_m == s)
        if not len(sel) or not len(m.ext):
            continue
        has_media[sel] = True
        e = out_e[sel]
        first, j, cnt = m.arrivals(e, first_t[sel])
        got = first >= 0
        orig_t[sel[got]] = m.t[first[got]]
        orig_frame[sel[got]] = m.frame[first[got]]
        after_row[sel] = j
        after_n[sel] = cnt
        ok = j >= 0
        after_t[sel[ok]] = m.t[j[ok]]
        after_frame[sel[ok]] = m.frame[j[ok]]
        # Holes: where a packet jumps above the highest before it (as streams.gaps opens them).
        prev = np.r_[m.ext[0], m.highest[:-1]]
        at = np.flatnonzero(m.ext > prev + 1)
        at = at[at > 0]
        lo, hi = prev[at] + 1, m.ext[at] - 1
        h = np.searchsorted(lo, e, side="right") - 1
        inside = (h >= 0) & (e <= hi[np.maximum(h, 0)]) if len(at) else np.zeros(len(e), dtype=bool)
        hh = np.maximum(h, 0)
        gi = sel[inside]
        in_gap[gi] = True
        gap_lo[gi] = lo[hh[inside]]
        gap_n[gi] = (hi - lo + 1)[hh[inside]]
        lost_t[gi] = m.t[at[hh[inside]] - 1]
        before = got & (orig_t[sel] < first_t[sel])
        sender = before.sum() * 2 > len(sel)
        side[sel] = 1 if sender else 0
        # Lost after the capture point (the original was captured before the NACK): lost when it went by.
        lost_t[sel[before]] = orig_t[sel[before]]

    seen_before = ~np.isnan(orig_t) & (orig_t < first_t)
    rtx_of: dict[int, list[int]] = {}
    for r, mm in zip(pairs["rtx_ssrc"].astype(np.int64), pairs["media_ssrc"].astype(np.int64)):
        rtx_of.setdefault(int(mm), []).append(int(r))
    paired = np.isin(out_m, np.asarray(list(rtx_of), dtype=np.int64))
    # A later arrival on the media SSRC: a duplicate after the NACK is a same-SSRC retransmission; a first arrival
    # after the NACK is the late original when an RTX stream carries the retransmissions, else a retransmission.
    late_original = has_media & ~seen_before & (after_row >= 0) & paired
    same_ok = (after_row >= 0) & ~late_original
    same_copies = np.where(seen_before | ~paired, after_n, np.maximum(after_n - 1, 0))

    # RTX packets whose OSN is the number, at or after the first NACK.
    osn = _osn_table(rtp, pairs, payload_of)
    osn = osn[osn["osn"].notna()] if len(osn) else osn
    rtx_row = np.full(k, -1, dtype=np.int64)
    rtx_n = np.zeros(k, dtype=np.int64)
    if len(osn):
        o_m = osn["media_ssrc"].to_numpy().astype(np.int64)
        o_t = osn["t"].to_numpy(dtype=np.float64)
        o_ext = _extend_osn(osn, media)
        j, cnt = _first_at_or_after((o_m, o_ext), o_t, (out_m, out_e), first_t)
        rtx_row, rtx_n = j, cnt
    has_rtx = rtx_row >= 0
    rtx_t = np.where(has_rtx, osn["t"].to_numpy(dtype=np.float64)[np.maximum(rtx_row, 0)] if len(osn) else np.nan,
                     np.nan)
    use_same = same_ok & (~has_rtx | (after_t < rtx_t))
    repaired = has_rtx | same_ok
    repair_t = np.where(use_same, after_t, rtx_t)
    repair_kind = np.where(use_same, 1, np.where(has_rtx, 0, -1))
    repair_frame = np.zeros(k, dtype=np.int64)
    repair_ssrc = np.zeros(k, dtype=np.int64)
    if len(osn):
        repair_frame[has_rtx] = osn["frame"].to_numpy().astype(np.int64)[rtx_row[has_rtx]]
        repair_ssrc[has_rtx] = osn["rtx_ssrc"].to_numpy().astype(np.int64)[rtx_row[has_rtx]]
    repair_frame[use_same] = after_frame[use_same]
    repair_ssrc[use_same] = out_m[use_same]
    copies = rtx_n + np.where(same_ok, same_copies, 0)

    # Deadlines.
    ref_t = np.where(np.isnan(lost_t), first_t, lost_t)
    kfr_t = np.full(k, np.nan)
    if keyframe_requests is not None and len(keyframe_requests):
        kf_m = keyframe_requests["media_ssrc"].to_numpy().astype(np.int64)
        kf_t = keyframe_requests["t"].to_numpy(dtype=np.float64)
        # the first request strictly after the loss: search with the next representable time
        j, _ = _first_at_or_after(kf_m, kf_t, out_m, np.nextafter(ref_t, np.inf))
        kfr_t[j >= 0] = kf_t[j[j >= 0]]
    late = np.zeros(k, dtype=bool)
    if playout_delay_ms is not None:
        late |= repair_t > ref_t + playout_delay_ms / 1000.0
    late |= repair_t > kfr_t  # NaN compares False
    delay_ms = (repair_t - first_t) * 1000.0
    rtt = _rtt_at(rtt_ms, first_t)
    with np.errstate(invalid="ignore", divide="ignore"):
        delay_rtt = delay_ms / rtt
    outcome = np.where(late_original, 3, np.where(~repaired, 2, np.where(late, 1, 0)))

    nrow = nacks.iloc[first_row]
    none = np.zeros(k, dtype=bool)
    out = pd.DataFrame({
        "media_ssrc": out_m.astype(np.uint32), "seq": (out_e & 0xFFFF).astype(np.uint16), "ext_seq": out_e,
        "nack_src": nrow["src"].array, "nack_dst": nrow["dst"].array,
        "sender_ssrc": nrow["sender_ssrc"].to_numpy().astype(np.uint32),
        "capture_side": pd.Categorical.from_codes(side, categories=CAPTURE_SIDES),
        "lost_t": lost_t,
        "gap_first_missing": pd.arrays.IntegerArray(gap_lo, ~in_gap),
        "gap_count": pd.arrays.IntegerArray(gap_n, ~in_gap),
        "original_frame": pd.arrays.IntegerArray(orig_frame.astype(np.uint32), np.isnan(orig_t)),
        "original_t": orig_t,
        "first_nack_frame": nrow["frame"].to_numpy().astype(np.uint32),
        "first_nack_t": first_t, "last_nack_t": last_t, "nacks": count,
        "repair_kind": pd.Categorical.from_codes(repair_kind.astype(np.int8), categories=REPAIR_KINDS),
        "repair_ssrc": pd.arrays.IntegerArray(repair_ssrc.astype(np.uint32), ~repaired),
        "repair_frame": pd.arrays.IntegerArray(repair_frame.astype(np.uint32), ~repaired),
        "repair_t": repair_t, "repair_copies": copies,
        "repair_delay_ms": delay_ms, "rtt_ms": rtt, "repair_delay_rtt": delay_rtt,
        "keyframe_request_t": kfr_t,
        "too_late": pd.arrays.BooleanArray(late & repaired, ~repaired | none),
        "outcome": pd.Categorical.from_codes(outcome.astype(np.int8), categories=OUTCOMES),
    })
    out = out.sort_values(["first_nack_t", "media_ssrc", "ext_seq"], kind="stable").reset_index(drop=True)
    return out.astype({k_: v for k_, v in NACK_OUTCOMES_SCHEMA.items() if v != "category"})[
        list(NACK_OUTCOMES_SCHEMA)]


def _extend_osn(osn: pd.DataFrame, media: dict[int, _Media]) -> np.ndarray:
    """Each OSN in the cycle nearest its media stream's highest number captured by the RTX packet's time."""
    o_m = osn["media_ssrc"].to_numpy().astype(np.int64)
    o_t = osn["t"].to_numpy(dtype=np.float64)
    o_ext = osn["osn"].to_numpy(dtype=np.int64)
    for s in np.unique(o_m).tolist():  # a loop over media streams
        if s in media:
            sel = np.flatnonzero(o_m == s)
            o_ext[sel] = media[s].extend_at(o_ext[sel], o_t[sel])
    return o_ext


# --- retransmissions nobody asked for -------------------------------------------------------------------------------


def unsolicited_retransmissions(nacks: pd.DataFrame, rtp: pd.DataFrame, rtx_pairs_df: pd.DataFrame,
                                payload_of=None) -> pd.DataFrame:
    """The RTX packets no NACK asked for: one row per packet of a paired RTX stream (`streams.rtx_pairs`) with no
    NACK for its (media SSRC, OSN) captured at or before it.  Chromium sends such packets as bandwidth probes
    (padding-only RTX, or RTX copies of recent packets); a sender may also retransmit on a NACK the capture did not
    see.  `payload_of` as in `nack_outcomes` (without it, every RTX packet is listed with reason "no osn").

    Columns (UNSOLICITED_SCHEMA): frame, t, src, dst, sport, dport (of the RTX packet), rtx_ssrc, media_ssrc
    (uint32), seq (uint16, the RTX packet's own number), osn (UInt16), ext_osn (Int64: in the cycle nearest the
    media stream's highest number captured by then), payload_len (uint16, with the 2 OSN bytes), reason
    (category): "no osn" (padding-only, under 2 bytes, or not readable), "never nacked" (no NACK for this number
    at all), "before nack" (NACKed only after this packet was captured).  In capture order.
    """
    if rtx_pairs_df is None or not len(rtx_pairs_df):
        return _empty(UNSOLICITED_SCHEMA)
    media_of = dict(zip(rtx_pairs_df["rtx_ssrc"].astype(np.int64), rtx_pairs_df["media_ssrc"].astype(np.int64)))
    rows = rtp[rtp["ssrc"].isin(list(media_of))]
    if "error" in rows.columns:
        rows = rows[rows["error"].isna()]
    rows = rows.reset_index(drop=True)
    osn_tab = _osn_table(rtp, rtx_pairs_df, payload_of)
    osn = pd.Series(pd.array([pd.NA] * len(rows), dtype="UInt16"))
    if len(osn_tab):
        osn = rows[["frame"]].merge(osn_tab[["frame", "osn"]].drop_duplicates("frame"), on="frame",
                                    how="left")["osn"].astype("UInt16")
    r_m = rows["ssrc"].map(media_of).to_numpy().astype(np.int64)
    r_t = rows["t"].to_numpy(dtype=np.float64)
    have = osn.notna().to_numpy()
    ext = np.zeros(len(rows), dtype=np.int64)
    ext[have] = osn[have].to_numpy(dtype=np.int64)
    n_m = nacks["media_ssrc"].to_numpy().astype(np.int64) if len(nacks) else np.zeros(0, np.int64)
    media = _media_streams(rtp, np.unique(np.r_[r_m, n_m]))
    n_ext = nacks["seq"].to_numpy().astype(np.int64) if len(nacks) else np.zeros(0, np.int64)
    n_t = nacks["t"].to_numpy(dtype=np.float64) if len(nacks) else np.zeros(0)
    for s, m in media.items():  # a loop over media streams
        sel = np.flatnonzero((r_m == s) & have)
        ext[sel] = m.extend_at(ext[sel], r_t[sel])
        nsel = np.flatnonzero(n_m == s)
        n_ext[nsel] = m.extend_at(n_ext[nsel], n_t[nsel])
    # A NACK at or before the packet: the first NACK at or after -inf with the key, compared with the packet's time.
    first, _ = _first_at_or_after((n_m, n_ext), n_t, (r_m, ext), np.full(len(rows), -np.inf))
    nacked = first >= 0
    first_nack_t = np.where(nacked, n_t[np.maximum(first, 0)] if len(n_t) else np.nan, np.nan)
    solicited = have & nacked & (first_nack_t <= r_t)
    reason = np.where(~have, 0, np.where(~nacked, 1, 2))
    keep = ~solicited
    out = pd.DataFrame({
        "frame": rows["frame"].to_numpy().astype(np.uint32), "t": r_t,
        "src": rows["src"].array, "dst": rows["dst"].array,
        "sport": rows["sport"].to_numpy().astype(np.uint16), "dport": rows["dport"].to_numpy().astype(np.uint16),
        "rtx_ssrc": rows["ssrc"].to_numpy().astype(np.uint32), "media_ssrc": r_m.astype(np.uint32),
        "seq": rows["seq"].to_numpy().astype(np.uint16), "osn": osn.array,
        "ext_osn": pd.arrays.IntegerArray(ext, ~have),
        "payload_len": rows["payload_len"].to_numpy().astype(np.uint16),
        "reason": pd.Categorical.from_codes(reason.astype(np.int8), categories=UNSOLICITED_REASONS),
    })[keep].reset_index(drop=True)
    return out.astype({k: v for k, v in UNSOLICITED_SCHEMA.items() if v != "category"})[list(UNSOLICITED_SCHEMA)]


# --- per stream -----------------------------------------------------------------------------------------------------


def _frames(values) -> str:
    v = list(dict.fromkeys(int(x) for x in values if not pd.isna(x)))[:_EVIDENCE_FRAMES]  # first few, once each
    return ", ".join(str(x) for x in v)


def nack_summary(outcomes: pd.DataFrame, gaps_df: pd.DataFrame | None = None,
                 streams_df: pd.DataFrame | None = None, rtx_pairs_df: pd.DataFrame | None = None,
                 unsolicited: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per media stream (media SSRC): did NACK repair its losses?

    Inputs: `outcomes` (`nack_outcomes`); optionally `gaps_df` (`streams.gaps`, for the losses), `streams_df`
    (`streams.streams`, for the stream's duration and to list streams without NACKs), `rtx_pairs_df` (RTX streams
    are left out: their holes are lost retransmissions), `unsolicited` (`unsolicited_retransmissions`).

    Columns (NACK_SUMMARY_SCHEMA): media_ssrc (uint32); capture_side (category, from `outcomes`; "receiver" for a
    stream with holes and no NACK, "unknown" otherwise); losses (int64: numbers missing from the captured stream
    and never arriving late, the gaps' count - late, receiver side only); nacked (NACKed numbers); never_nacked
    (losses no NACK asked for); repaired, repaired_late, not_repaired, not_lost (outcome counts); repair_ratio
    ((repaired + repaired_late) / (nacked - not_lost), NaN when nothing to repair); repair_delay_median_ms,
    repair_delay_p95_ms (over repaired and repaired_late); unrepaired (not_repaired + never_nacked); nack_rows
    (NACK rows, re-NACKs included); nack_rate_per_s (nack_rows over the media stream's captured duration, or the
    NACKs' own span); unsolicited (RTX packets of the stream no NACK asked for); verdict (string, plain words);
    evidence (string: frame numbers to look at, "NACK" frames for unrepaired numbers, "RTX" frames for late
    repairs).  Sorted by media_ssrc.
    """
    if tables.as_capture(outcomes) is not None:  # nack_summary(cap): the capture's, as its analysis context has it
        from . import context  # deferred: a cycle (analysis.context imports this module)
        return context.of(outcomes).nack_summary
    rtx_ssrcs = set() if rtx_pairs_df is None else set(rtx_pairs_df["rtx_ssrc"].astype(np.int64).tolist())
    ssrcs = set(outcomes["media_ssrc"].astype(np.int64).tolist())
    losses: dict[int, int] = {}
    gap_t: dict[int, float] = {}
    if gaps_df is not None and len(gaps_df):
        g = gaps_df[~gaps_df["ssrc"].astype(np.int64).isin(rtx_ssrcs)]
        lost = (g["count"] - g["late"]).groupby(g["ssrc"].astype(np.int64)).sum()
        losses = {int(k): int(v) for k, v in lost.items()}
        gap_t = g.groupby(g["ssrc"].astype(np.int64))["t_after"].min().to_dict()
        ssrcs |= {s for s, v in losses.items() if v > 0}
    span: dict[int, float] = {}
    if streams_df is not None and len(streams_df):
        st = streams_df[~streams_df["ssrc"].astype(np.int64).isin(rtx_ssrcs)]
        by = st.groupby(st["ssrc"].astype(np.int64))
        span = (by["last_t"].max() - by["first_t"].min()).to_dict()
        ssrcs |= set(span)
    rows = []
    for s in sorted(ssrcs):  # a loop over media streams
        o = outcomes[outcomes["media_ssrc"].astype(np.int64) == s]
        counts = o["outcome"].value_counts()
        rep, late, notrep, notlost = (int(counts.get(c, 0)) for c in OUTCOMES)
        nacked = len(o)
        side = str(o["capture_side"].iloc[0]) if nacked else ("receiver" if losses.get(s, 0) else "unknown")
        lost = losses.get(s, 0) if side == "receiver" else 0
        in_gap = o["gap_first_missing"].notna() & (o["outcome"] != "not_lost")
        never = max(lost - int(in_gap.sum()), 0) if side == "receiver" else 0
        fixed = o[o["outcome"].isin(["repaired", "repaired_late"])]["repair_delay_ms"]
        to_fix = nacked - notlost
        ratio = (rep + late) / to_fix if to_fix else np.nan
        med = float(np.median(fixed)) if len(fixed) else np.nan
        p95 = float(np.percentile(fixed, 95)) if len(fixed) else np.nan
        nack_rows = int(o["nacks"].sum())
        dur = span.get(s)
        if dur is None or not dur > 0:
            dur = float(o["last_nack_t"].max() - o["first_nack_t"].min()) if nacked else np.nan
        rate = nack_rows / dur if dur and dur > 0 else np.nan
        uns = 0 if unsolicited is None else int((unsolicited["media_ssrc"].astype(np.int64) == s).sum())
        verdict, evidence = _verdict(o, side, lost, nacked, never, rep, late, notrep, notlost, med, p95,
                                     gap_t.get(s))
        rows.append((s, side, lost, nacked, never, rep, late, notrep, notlost, ratio, med, p95, notrep + never,
                     nack_rows, rate, uns, verdict, evidence))
    out = pd.DataFrame(rows, columns=list(NACK_SUMMARY_SCHEMA))
    out["capture_side"] = pd.Categorical(out["capture_side"], categories=CAPTURE_SIDES)
    return out.astype({k: v for k, v in NACK_SUMMARY_SCHEMA.items() if v != "category"})


def _verdict(o, side, lost, nacked, never, rep, late, notrep, notlost, med, p95, first_gap_t):
    delays = f"median {med:.0f} ms, p95 {p95:.0f} ms after the first NACK" if not np.isnan(med) else ""
    if side == "sender":
        text = (f"captured at the sender: the receiver NACKed {nacked} packets that left here, "
                f"{rep + late} retransmitted" + (f" ({delays})" if delays else ""))
        if notlost:
            text += f", {notlost} sent for the first time only after the NACK"
        if notrep:
            text += f", {notrep} never retransmitted"
            return text, "NACK frames " + _frames(o.loc[o["outcome"] == "not_repaired", "first_nack_frame"])
        return text, "RTX frames " + _frames(o["repair_frame"]) if rep + late else ""
    if not nacked:
        if lost:
            where = f" (first hole at {first_gap_t:.3f} s)" if first_gap_t is not None else ""
            return f"{lost} packets lost and none NACKed: no loss recovery for this stream{where}", ""
        return "no loss, no NACK", ""
    problems, evidence = [], []
    if notrep:
        problems.append(f"{notrep} of {nacked - notlost} NACKed packets never retransmitted")
        evidence.append("NACK frames " + _frames(o.loc[o["outcome"] == "not_repaired", "first_nack_frame"]))
    if late:
        problems.append(f"{late} retransmissions came too late (after the playout deadline or a keyframe request)")
        evidence.append("RTX frames " + _frames(o.loc[o["outcome"] == "repaired_late", "repair_frame"]))
    if never:
        problems.append(f"{never} lost packets never NACKed")
    if notlost:
        problems.append(f"{notlost} NACKed packets were only reordered (the original came later)")
    fixed = o["outcome"].isin(["repaired", "repaired_late"])
    renacked = int((fixed & (o["nacks"] > 1) & (o["repair_t"] > o["last_nack_t"])).sum())
    if renacked:
        delays += f"; {renacked} only after a re-NACK"
    if not (notrep or late or never):
        text = f"NACK works: all {rep} NACKed losses repaired" + (f" ({delays})" if delays else "")
        if notlost:
            text += "; " + problems[-1]
        return text, "RTX frames " + _frames(o["repair_frame"])
    head = f"NACK repaired {rep} of {lost or nacked - notlost} losses" + (f" ({delays})" if delays else "")
    return head + "; " + "; ".join(problems), "; ".join(evidence)
