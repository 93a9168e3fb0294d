"""Expectations for regression notebooks and CI: check a capture against what a good call looks like, as a
deterministic pass/fail table (rounded measurements, fixed row order), so an nbval notebook's stored output changes
exactly when the call's quality changes.

    >>> from webrtcpcap import expect
    >>> cap = webrtcpcap.open("captures/aiortc_clean.pcap", keylog="captures/aiortc_clean.keylog")
    >>> expect.check(cap, ice_connected_within_ms=500, dtls_completed_within_ms=500, streams=4,
    ...              kinds={"audio": 2, "video": 2}, max_loss_pct=1, max_unrepaired_loss_pct=0.5,
    ...              max_jitter_ms=30, max_freeze_ms=1000, verdict="ok")
                          name   expected           measured  passed
    0                ice_connected   <= 500 ms              46 ms    True
    ...
    >>> assert expect.ice_connected(cap, within_ms=500)      # each function alone gives a truthy Expectation

Strategy: each expectation is a small function of the capture's analysis context (`webrtcpcap.analysis.of(cap)`:
the same analyses, computed once, that `webrtcpcap.health` judges, and health's own verdict where a judgement is
shared), returning an `Expectation`; `check` runs the ones named by its keyword arguments, in a fixed order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..analysis import context as analysis
from .health import SEVERITIES, Thresholds, health

CHECK_SCHEMA: dict[str, str] = {"name": "string", "expected": "string", "measured": "string", "passed": "bool"}


@dataclass(frozen=True)
class Expectation:
    """One checked expectation: name, expected and measured (short rounded texts) and passed.  Truthy when it
    passed, so `assert expect.ice_connected(cap)` works."""

    name: str
    expected: str
    measured: str
    passed: bool

    def __bool__(self) -> bool:
        return bool(self.passed)


def _media(cap) -> pd.DataFrame:
    st = analysis.of(cap).streams
    return st[st["kind"].isin(["audio", "video"])]


def _ms(x) -> str:
    return "none" if x is None or np.isnan(x) else f"{x:.0f} ms"


def ice_connected(cap, within_ms: float | None = None) -> Expectation:
    """ICE selected a pair (media flowed on a checked pair), within `within_ms` of the first check when given."""
    pairs = analysis.of(cap).candidate_pairs
    sel = pairs[pairs["selected"]]
    expected = "connected" + (f" <= {within_ms:.0f} ms" if within_ms is not None else "")
    if not len(sel):
        return Expectation("ice_connected", expected, "not connected", False)
    s = sel.iloc[0]
    t = s["nominated_t"] if not pd.isna(s["nominated_t"]) else s["first_success_t"]
    t = float(t) if not pd.isna(t) else float(s["first_check_t"])
    # from the first check of the same ICE session (ufrag pair): another call's or an earlier restart's checks
    # are not part of this connect time
    same = pairs["ufrags"].fillna("") == ("" if pd.isna(s["ufrags"]) else str(s["ufrags"]))
    ms = (t - float(pairs.loc[same.to_numpy(bool), "first_check_t"].min())) * 1000
    return Expectation("ice_connected", expected, _ms(ms), within_ms is None or ms <= within_ms)


def dtls_completed(cap, within_ms: float | None = None) -> Expectation:
    """Every DTLS association completed (and at least one exists), each within `within_ms` when given."""
    a = analysis.of(cap).dtls_associations
    expected = "completed" + (f" <= {within_ms:.0f} ms" if within_ms is not None else "")
    if not len(a):
        return Expectation("dtls_completed", expected, "no handshake", False)
    done = (a["verdict"] == "completed").all()
    worst = float(a["handshake_ms"].max()) if done else np.nan
    if not done:
        bad = a.loc[a["verdict"] != "completed", "verdict"].astype(str).iloc[0]
        return Expectation("dtls_completed", expected, bad, False)
    return Expectation("dtls_completed", expected, _ms(worst), within_ms is None or worst <= within_ms)


def streams(cap, count: int | None = None, kinds: dict[str, int] | None = None) -> Expectation:
    """The number of audio/video RTP streams (`count`) and per kind (`kinds`, e.g. {"audio": 2, "video": 2}); RTX
    and FEC streams are not counted."""
    m = _media(cap)
    got = m["kind"].astype(str).value_counts()
    measured = f"{len(m)} ({', '.join(f'{k} {int(got.get(k, 0))}' for k in sorted(got.index))})" if len(m) else "0"
    parts = []
    ok = True
    if count is not None:
        parts.append(str(count))
        ok &= len(m) == count
    if kinds:
        parts.append(", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
        ok &= all(int(got.get(k, 0)) == v for k, v in kinds.items())
    return Expectation("streams", " ".join(parts) or "any", measured, bool(ok))


def max_loss_pct(cap, pct: float) -> Expectation:
    """No audio/video stream lost more than `pct` % of its packets in the capture (before any repair)."""
    m = _media(cap)
    worst = float((100.0 * m["lost"] / m["expected"].clip(lower=1)).max()) if len(m) else 0.0
    return Expectation("max_loss_pct", f"<= {pct:g} %", f"{worst:.1f} %", worst <= pct)


def max_unrepaired_loss(cap, pct: float) -> Expectation:
    """No audio/video stream has more than `pct` % of its packets lost and never repaired: the health summary's
    recovery stage for streams it judged (NACK and RTX); for the others (no NACK, or feedback unreadable) every
    packet missing from the capture counts."""
    h = health(cap)
    m = _media(cap)
    worst = 0.0
    rec = h.findings[(h.findings["check"] == "recovery.nack") & (h.findings["unit"] == "%")]
    judged = {}
    for r in rec.itertuples(index=False):
        if not pd.isna(r.measured) and str(r.subject).startswith("ssrc 0x"):
            judged[int(str(r.subject).split()[1], 16)] = float(r.measured)
    for _, s in m.iterrows():  # not judged by the recovery stage (no NACK, no key): every loss counts
        v = judged.get(int(s["ssrc"]), 100.0 * int(s["lost"]) / max(int(s["expected"]), 1))
        worst = max(worst, v)
    return Expectation("max_unrepaired_loss", f"<= {pct:g} %", f"{worst:.1f} %", worst <= pct)


def max_jitter_ms(cap, ms: float) -> Expectation:
    """No audio/video stream ends with RFC 3550 jitter above `ms`."""
    m = _media(cap)
    j = m["jitter_ms"].dropna()
    worst = float(j.max()) if len(j) else 0.0
    return Expectation("max_jitter_ms", f"<= {ms:g} ms", f"{worst:.1f} ms", worst <= ms)


def max_freeze_ms(cap, ms: float) -> Expectation:
    """No audio/video stream has a gap between two packets longer than `ms`."""
    m = _media(cap)
    worst = float(m["max_delta_ms"].max()) if len(m) else 0.0
    return Expectation("max_freeze_ms", f"<= {ms:g} ms", f"{worst:.0f} ms", worst <= ms)


def verdict(cap, at_most: str = "ok", thresholds: Thresholds | None = None) -> Expectation:
    """The health summary's overall verdict is no worse than `at_most` (ok < info < warning < error)."""
    h = health(cap, thresholds)
    return Expectation("verdict", f"<= {at_most}", h.verdict,
                       SEVERITIES.index(h.verdict) <= SEVERITIES.index(at_most))


def check(cap, *, ice_connected_within_ms: float | None = None, dtls_completed_within_ms: float | None = None,
          streams: int | None = None, kinds: dict[str, int] | None = None, max_loss_pct: float | None = None,
          max_unrepaired_loss_pct: float | None = None, max_jitter_ms: float | None = None,
          max_freeze_ms: float | None = None, verdict: str | None = None, ice: bool = False,
          dtls: bool = False) -> pd.DataFrame:
    """The expectations named by the keyword arguments, one row each in this fixed order: ice_connected
    (`ice=True` or `ice_connected_within_ms`), dtls_completed (`dtls=True` or `dtls_completed_within_ms`), streams
    (`streams` count and/or `kinds`), max_loss_pct, max_unrepaired_loss, max_jitter_ms, max_freeze_ms, verdict.

    Columns (CHECK_SCHEMA): name, expected, measured (strings, rounded: ms to the millisecond, % to 0.1),
    passed (bool).  `df.passed.all()` is the overall answer."""
    g = globals()
    rows: list[Expectation] = []
    if ice or ice_connected_within_ms is not None:
        rows.append(g["ice_connected"](cap, within_ms=ice_connected_within_ms))
    if dtls or dtls_completed_within_ms is not None:
        rows.append(g["dtls_completed"](cap, within_ms=dtls_completed_within_ms))
    if streams is not None or kinds is not None:
        rows.append(g["streams"](cap, count=streams, kinds=kinds))
    if max_loss_pct is not None:
        rows.append(g["max_loss_pct"](cap, max_loss_pct))
    if max_unrepaired_loss_pct is not None:
        rows.append(g["max_unrepaired_loss"](cap, max_unrepaired_loss_pct))
    if max_jitter_ms is not None:
        rows.append(g["max_jitter_ms"](cap, max_jitter_ms))
    if max_freeze_ms is not None:
        rows.append(g["max_freeze_ms"](cap, max_freeze_ms))
    if verdict is not None:
        rows.append(g["verdict"](cap, verdict))
    df = pd.DataFrame([(e.name, e.expected, e.measured, e.passed) for e in rows], columns=list(CHECK_SCHEMA))
    return df.astype(CHECK_SCHEMA)
