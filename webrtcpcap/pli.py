"""Keyframe requests and the keyframes that answer them (RFC 4585 PLI, RFC 5104 FIR): how long a receiver waited
for a keyframe, and how many times it asked.

Strategy: plain functions over the `keyframe_requests` table (cap.keyframe_requests) and a keyframes table
(cap.keyframes(): one row per RTP packet, `keyframe` True on the packet that starts a keyframe); each request is
matched to the first keyframe of its media SSRC that the capture saw after it, with one pandas merge_asof.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

KEYFRAME_DELAYS_SCHEMA: dict[str, str] = {
    "media_ssrc": "uint32",
    "first_request_frame": "uint32",
    "first_request_t": "float64",
    "last_request_t": "float64",
    "requests": "int64",
    "kinds": "string",
    "answered": "bool",
    "keyframe_frame": "UInt32",
    "keyframe_t": "Float64",
    "delay_ms": "Float64",
}


def keyframe_delays(keyframe_requests: pd.DataFrame, keyframes: pd.DataFrame) -> pd.DataFrame:
    """One row per run of keyframe requests about one stream that the same keyframe answered (or that none did):
    media_ssrc, first_request_frame, first_request_t, last_request_t, requests (PLI and FIR entries in the run:
    a receiver repeats its request until a keyframe comes), kinds ("pli", "fir" or "fir,pli"), answered (a keyframe
    of that SSRC came after the first request), keyframe_frame, keyframe_t (the first packet of that keyframe) and
    delay_ms (from the first request to it).

    Times are the capture's: at the receiver the delay is what the receiver waited (one way to the sender, its
    encoder, and back); at the sender the request's trip is not in it.  A request sent while a keyframe was already
    on its way counts toward that keyframe, as a receiver cannot tell the difference either.  Columns:
    KEYFRAME_DELAYS_SCHEMA, sorted by first_request_t."""
    if not len(keyframe_requests):
        return _empty()
    req = keyframe_requests[["frame", "t", "kind", "media_ssrc"]].copy()
    req["media_ssrc"] = req["media_ssrc"].astype(np.int64)
    req["kind"] = req["kind"].astype(str)
    req = req.sort_values(["t", "frame"], kind="stable").reset_index(drop=True)
    kf = keyframes[keyframes["keyframe"].fillna(False).astype(bool)][["frame", "t", "ssrc"]].copy()
    kf = kf.rename(columns={"frame": "keyframe_frame", "t": "keyframe_t", "ssrc": "media_ssrc"})
    kf["media_ssrc"] = kf["media_ssrc"].astype(np.int64)
    kf = kf.sort_values("keyframe_t", kind="stable")
    matched = pd.merge_asof(req, kf, left_on="t", right_on="keyframe_t", by="media_ssrc", direction="forward",
                            allow_exact_matches=False)
    # A run: the requests of one SSRC answered by the same keyframe (or, unanswered, all after the last keyframe).
    matched["_run"] = matched["keyframe_frame"].fillna(-1).astype(np.int64)
    rows = []
    for (ssrc, run), g in matched.groupby(["media_ssrc", "_run"], sort=False):
        answered = run >= 0
        first = g.iloc[0]
        rows.append({
            "media_ssrc": ssrc, "first_request_frame": int(first["frame"]), "first_request_t": float(first["t"]),
            "last_request_t": float(g["t"].iloc[-1]), "requests": len(g),
            "kinds": ",".join(sorted(set(g["kind"]))), "answered": answered,
            "keyframe_frame": int(first["keyframe_frame"]) if answered else None,
            "keyframe_t": float(first["keyframe_t"]) if answered else None,
            "delay_ms": (float(first["keyframe_t"]) - float(first["t"])) * 1000 if answered else None,
        })
    out = pd.DataFrame(rows, columns=list(KEYFRAME_DELAYS_SCHEMA)).sort_values("first_request_t", kind="stable")
    return out.reset_index(drop=True).astype(KEYFRAME_DELAYS_SCHEMA)


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=d) for c, d in KEYFRAME_DELAYS_SCHEMA.items()})
