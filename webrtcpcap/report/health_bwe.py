"""The health summary's judge of bandwidth estimation: estimate vs sent (issue 20 item 3).  Where the congestion
control feedback (transport-cc, RFC 8888) shows a media direction's path overused — the delay-gradient detector's
overuse episodes (`webrtcpcap.bwe`) — and the send rate followed (fell below 0.7 × its rate of the 5 s before
within 10 s; an episode in the first 5 s of sending has no "before" and is not judged),
one `media.bandwidth` finding says when, how much delay and loss, what the receiver got and how the send rate
followed.  A brief overuse the sender did not answer (its estimate stayed above what it sent; the lab's clean
firefox_chromium session has one of 21 ms at 21.5 s) is no finding: it stays in `bwe.overuse_episodes`.  A freeze
of a stream of that direction that began while the sender was held back is then the bandwidth's doing, not an
outage: its sentence says so and the bandwidth finding is put first, so that the call's verdict names the bandwidth.

Strategy: the media judge (`health_media._media`) stays as it is; `with_bandwidth(judge)` wraps it (health.py binds
its `_media` to the wrapped one), adding and re-wording rows.  Nothing is said where the capture has no feedback or
the detector found no overuse (a healthy call gains no row).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..analysis import bwe
from ..analysis.context import Analysis
from .health_result import Thresholds, _f, _frames

BEFORE_S = 5.0  # the send rate "before" is the median over this many seconds before overuse began
FOLLOW_S = 10.0  # how long after overuse began a fall of the send rate (and a freeze) is put down to it
FOLLOWED_RATIO = 0.7  # the send rate "followed" when it fell below this share of its rate before
_FREEZE_FROM = re.compile(r"from (-?\d+(?:\.\d+)?) s \(a freeze or outage\)")
_FREEZE_TEXT = "(a freeze or outage)"


def with_bandwidth(judge):
    """The media judge `judge(ctx, th)` with the bandwidth finding added (see the module)."""
    def media_and_bandwidth(ctx: Analysis, th: Thresholds) -> list[dict]:
        rows = list(judge(ctx, th))
        try:
            return _bandwidth(ctx, rows)
        except Exception as e:  # noqa: BLE001 - the media findings stand; say the bandwidth could not be judged
            return rows + [_f("media", "bandwidth", "info", "media.bandwidth",
                              f"bandwidth estimation could not be judged: {type(e).__name__}: {e}")]
    media_and_bandwidth.__wrapped__ = judge
    return media_and_bandwidth


def analysed(ctx: Analysis) -> bwe.BweResult | None:
    """The capture's BWE analysis, once per capture (kept in the whole capture's context); None without any
    transport-cc/CCFB/REMB/TMMBR in the readable RTCP."""
    root = ctx.whole or ctx
    cap = ctx.capture

    def build():
        if not (len(cap.twcc) or len(cap.ccfb) or len(cap.remb) or len(cap.tmmbr)):
            return None
        return bwe.analyse(cap)
    return root.memo(("bwe",), build)


def _bandwidth(ctx: Analysis, rows: list[dict]) -> list[dict]:
    r = analysed(ctx)
    if r is None or not len(r.episodes):
        return rows
    mine = {(str(s.src), int(s.sport), str(s.dst), int(s.dport)) for s in ctx.streams.itertuples(index=False)}
    for d in r.directions():
        if d not in mine:
            continue
        finding = _direction_finding(r, d)
        if finding is None:
            continue
        t0 = finding.pop("_t0")
        freezes = [i for i, row in enumerate(rows) if row["check"] == "media.freeze" and _is_of(row, d)
                   and t0 <= _freeze_start(row) <= t0 + FOLLOW_S]
        if freezes:
            finding["severity"] = "error"
            for i in freezes:
                rows[i] = dict(rows[i], finding=rows[i]["finding"].replace(
                    _FREEZE_TEXT, f"(the sender held back after the path was overused at {t0:.1f} s: bandwidth, "
                                  "not an outage)"))
            rows.insert(min(freezes), finding)
        else:
            rows.append(finding)
    return rows


def _is_of(row: dict, d: tuple) -> bool:
    return f"{d[0]}:{d[1]} → {d[2]}:{d[3]}" in str(row["subject"])


def _freeze_start(row: dict) -> float:
    m = _FREEZE_FROM.search(str(row["finding"]))
    return float(m.group(1)) if m else np.nan


def _direction_finding(r: bwe.BweResult, d: tuple) -> dict | None:
    """The finding of the first overuse episode of direction `d` that the send rate followed, or None.  An episode
    needs BEFORE_S seconds of sending before it (a rate to compare with: the first seconds of a call ramp up)."""
    src, sport, dst, dport = d

    def of(df: pd.DataFrame) -> pd.DataFrame:
        return df[(df["src"].astype(str) == src) & (df["sport"] == sport) & (df["dst"].astype(str) == dst)
                  & (df["dport"] == dport)]

    episodes = of(r.episodes)
    est = of(r.estimates)
    total = est[est["ssrc"].isna()]
    time = total["time"].to_numpy(dtype=float)
    send = total["send_bps"].to_numpy(dtype=float)
    if not len(episodes) or not len(time):
        return None
    first_window_end = time[0]  # the first window's end: a whole window after the first packet
    for k in range(len(episodes)):
        ep = episodes.iloc[k:]
        t0 = float(ep["start"].iloc[0])
        if t0 - first_window_end < BEFORE_S - bwe.WINDOW_S:
            continue
        before = send[(time > t0 - BEFORE_S) & (time <= t0)]
        after = (time > t0) & (time <= t0 + FOLLOW_S)
        if not len(before) or not after.any():
            continue
        sent_before = float(np.median(before))
        follow = after & (send < FOLLOWED_RATIO * sent_before)
        if follow.any():
            return _finding(r, of, total, ep, t0, sent_before, after, int(np.flatnonzero(follow)[0]))
    return None  # overuse the sender did not need to answer (its estimate was above what it sent): no finding


def _finding(r: bwe.BweResult, of, total: pd.DataFrame, ep: pd.DataFrame, t0: float, sent_before: float,
             after: np.ndarray, below: int) -> dict:
    src, sport, dst, dport = (str(ep["src"].iloc[0]), int(ep["sport"].iloc[0]), str(ep["dst"].iloc[0]),
                              int(ep["dport"].iloc[0]))
    time = total["time"].to_numpy(dtype=float)
    send = total["send_bps"].to_numpy(dtype=float)
    i = int(np.argmin(np.where(after, send, np.inf)))
    lowest, t_low = float(send[i]), float(time[i])
    acked = total["acked_bps"].to_numpy(dtype=float, na_value=np.nan)
    got = acked[(time > t0 + 1) & (time <= t0 + BEFORE_S)]
    pk = of(r.packets)
    pt = pk["t"].to_numpy(dtype=float)
    span = (pt >= t0 - 1) & (pt <= float(ep["end"].max()) + 5)
    lost = int((~pk["received"].to_numpy(dtype=bool) & span).sum())
    delay = float(ep["peak_queue_delay_ms"].max())
    parts = [f"the path {src}:{sport} → {dst}:{dport} was overused from {t0:.1f} s (congestion control feedback: "
             f"one-way delay up to {delay:.0f} ms above its least, {lost} packet{'s' if lost != 1 else ''} lost, "
             f"{len(ep)} overuse episode{'s' if len(ep) != 1 else ''})"]
    if np.isfinite(got).any():
        parts.append(f"the receiver got {np.nanmedian(got) / 1000:.0f} kbit/s")
    remb = total["remb_bps"].to_numpy(dtype=float, na_value=np.nan)
    if np.isfinite(remb[after]).any() and np.isfinite(remb[(time <= t0)]).any():
        parts.append(f"its REMB went from {remb[time <= t0][-1] / 1000:.0f} to "
                     f"{np.nanmin(remb[after]) / 1000:.0f} kbit/s")
    t_fell, fell_to = float(time[below]), float(send[below])
    parts.append(f"the send rate fell from {sent_before / 1000:.0f} to {fell_to / 1000:.0f} kbit/s by "
                 f"{t_fell:.1f} s, {t_fell - t0:.1f} s after overuse began, lowest {lowest / 1000:.0f} kbit/s "
                 f"at {t_low:.1f} s (the sender's estimate followed: bandwidth)")
    first = pk[(pt >= t0) & (pt <= float(ep["end"].iloc[0]))]
    evidence = _frames([first["frame"].iloc[0], first["frame"].iloc[-1]]) if len(first) else None
    finding = _f("media", f"{src}:{sport} → {dst}:{dport}", "warning", "media.bandwidth",
                 "bandwidth: " + "; ".join(parts), lowest / 1000, "kbit/s", sent_before * FOLLOWED_RATIO / 1000,
                 "sent before overuse × 0.7", evidence)
    finding["_t0"] = t0
    return finding
