"""Keyframe requests and the keyframes that answer them (RFC 4585 PLI, RFC 5104 FIR): how long a receiver waited
for a keyframe, and how many times it asked.

Strategy: plain functions over the `keyframe_requests` table (cap.keyframe_requests) and a keyframes table
(cap.keyframes(): one row per RTP packet, `keyframe` True on the packet that starts a keyframe); each request is
matched to the first keyframe of its media SSRC that the capture saw after it (or at most KEYFRAME_IN_FLIGHT_S
before it), with one pandas merge_asof.  `keyframe_delays` is the one answer to "which keyframe answered this
request": the health report uses it too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..protocols import codecs as _codecs
from ..net.payloads import read_payloads
from ..tables.streams import STREAM_KEYS, _readable

# A keyframe captured this shortly before a PLI/FIR answers it: it was already on its way when the request left
# (a receiver asks while its first frames are still arriving; the sender's keyframe crosses the request).
KEYFRAME_IN_FLIGHT_S = 0.1

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


def keyframe_delays(keyframe_requests: pd.DataFrame, keyframes: pd.DataFrame,
                    in_flight_s: float = KEYFRAME_IN_FLIGHT_S) -> pd.DataFrame:
    """One row per run of keyframe requests about one stream that the same keyframe answered (or that none did):
    media_ssrc, first_request_frame, first_request_t, last_request_t, requests (PLI and FIR entries in the run:
    a receiver repeats its request until a keyframe comes), kinds ("pli", "fir" or "fir,pli"), answered (a keyframe
    of that SSRC came after the request, or at most `in_flight_s` before it: already on its way), keyframe_frame,
    keyframe_t (the first packet of that keyframe) and delay_ms (from the first request to it; 0 for a keyframe in
    flight).

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
    req["_from"] = req["t"] - in_flight_s
    req = req.sort_values(["_from", "frame"], kind="stable").reset_index(drop=True)
    matched = pd.merge_asof(req, kf, left_on="_from", right_on="keyframe_t", by="media_ssrc", direction="forward",
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
            "delay_ms": max(float(first["keyframe_t"]) - float(first["t"]), 0.0) * 1000 if answered else None,
        })
    out = pd.DataFrame(rows, columns=list(KEYFRAME_DELAYS_SCHEMA)).sort_values("first_request_t", kind="stable")
    return out.reset_index(drop=True).astype(KEYFRAME_DELAYS_SCHEMA)


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=d) for c, d in KEYFRAME_DELAYS_SCHEMA.items()})


def guess_video_codecs(rtp: pd.DataFrame, streams_df: pd.DataFrame, payload, sample: int = 60) -> dict[int, str]:
    """{payload type: video codec} for the media streams of `streams_df` (`cap.streams`) whose payloads are
    readable, when no SDP names the codecs: `webrtcpcap.protocols.codecs.guess_video_codec` over up to `sample` frame-start
    packets of each stream (its first packet and each packet after one with M set, where keyframes begin).
    `payload` gives a frame's RTP payload (`Capture.rtp_payload`).  Streams whose payload is encrypted, or that no
    codec fits, are left out."""

    out: dict[int, str] = {}
    if payload is None or not len(streams_df):
        return out
    role = streams_df["role"].astype(str) if "role" in streams_df.columns else "media"
    video = streams_df[(role == "media") & ~streams_df["kind"].astype(str).isin(["audio", "rtx", "fec"])]
    ok = rtp[rtp["error"].isna()] if "error" in rtp.columns else rtp
    for r in video.itertuples(index=False):  # a loop over video streams
        if int(r.pt) in out:
            continue
        mask = np.ones(len(ok), dtype=bool)
        for k in STREAM_KEYS:
            mask &= (ok[k] == getattr(r, k)).to_numpy()
        rows = ok[mask & (ok["pt"] == r.pt).to_numpy()]
        if not len(rows) or not _readable(rows).all():
            continue
        marker = rows["marker"].to_numpy(dtype=bool)
        starts = rows[np.r_[True, marker[:-1]]].head(sample)
        payloads = [p for p in read_payloads(payload, starts["frame"].to_numpy()) if not isinstance(p, ValueError)]
        name = _codecs.guess_video_codec(payloads)
        if name:
            out[int(r.pt)] = name
    return out
