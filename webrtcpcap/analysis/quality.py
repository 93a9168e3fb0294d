"""What the user saw and heard (issue 20, item 2): video freezes with their cause, and per audio stream the loss and
late-arrival bursts, the time the receiver had to conceal and an E-model MOS estimate.

    webrtcpcap.quality.freezes(cap)          # one row per freeze: ssrc, start, duration, cause, evidence
    webrtcpcap.quality.freeze_summary(cap)   # per video stream: frames, fps, freezes, keyframe interval
    webrtcpcap.quality.audio_quality(cap)    # per audio stream: loss/late bursts, concealed time, R and MOS estimate

Freezes follow the W3C webrtc-stats definition of `freezeCount` (a frame's duration at or above
max(3 × the average frame duration, the average + 150 ms)) as libwebrtc implements it
(video/video_quality_observer2.cc, `OnRenderedFrame`): the average is the plain mean of the last 30 frame intervals
*including the one being judged* (it is added to the moving window before the mean is taken), and nothing is judged
before 5 intervals are in the window.  A capture has no render clock: the time a frame could be rendered is taken as
the arrival of its last packet (the frame became whole; a jitter buffer adds a delay that is nearly constant and
cancels out of intervals), held back to the previous frame's (timestamp order: a decoder renders in order, so a
frame that completes early waits for the ones before it).  Frames known to be incomplete (a packet inside never
arrived: `frames.complete` False) are left out, as a decoder cannot render them; a frame whose missing packets were
sent again on its RTX stream (same RTP timestamp, RFC 4588 §4) counts as whole at the last retransmission's
arrival, which needs no key (the timestamp is in the clear); frames that arrived only on RTX count too.  Only RTP
headers are read, so all of it works on SRTP without keys; keys add the keyframe verdicts (PLI -> keyframe causes).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import context as analysis
from ..tables.streams import extend_seq, extend_ts

# libwebrtc video_quality_observer2.cc: kAvgInterframeDelaysWindowSizeFrames, kMinFrameSamplesToDetectFreeze,
# kMinIncreaseForFreezeMs; the W3C text says "3 × average" and "average + 150 ms".
FREEZE_WINDOW = 30
FREEZE_MIN_INTERVALS = 5
FREEZE_MIN_INCREASE_S = 0.150
FREEZE_CAUSES = ["loss_not_repaired", "keyframe_wait", "sender_stopped", "bandwidth", "unknown"]

FREEZES_SCHEMA: dict[str, str] = {
    "ssrc": "uint32",
    "src": "category",
    "sport": "uint16",
    "dst": "category",
    "dport": "uint16",
    "start": "float64",
    "start_time": "datetime64[ns, UTC]",
    "end": "float64",
    "duration": "float64",
    "frames_before": "uint32",
    "average_interval": "float64",
    "threshold": "float64",
    "cause": "category",
    "evidence": "string",
    "first_frame": "uint32",
    "last_frame": "uint32",
}

FREEZE_SUMMARY_SCHEMA: dict[str, str] = {
    "ssrc": "uint32",
    "src": "category",
    "sport": "uint16",
    "dst": "category",
    "dport": "uint16",
    "frames": "uint32",
    "rendered": "uint32",
    "incomplete": "uint32",
    "rtx_only": "uint32",
    "first_t": "float64",
    "last_t": "float64",
    "fps": "float64",
    "freeze_count": "uint32",
    "total_freeze_duration": "float64",
    "longest_freeze": "float64",
    "keyframes": "Int64",
    "keyframe_interval": "float64",
    "not_judged": "string",
}

AUDIO_QUALITY_SCHEMA: dict[str, str] = {
    "ssrc": "uint32",
    "src": "category",
    "sport": "uint16",
    "dst": "category",
    "dport": "uint16",
    "codec": "string",
    "clock_rate": "uint32",
    "ptime_ms": "float64",
    "packets": "uint32",
    "expected": "uint32",
    "lost": "uint32",
    "loss_pct": "float64",
    "loss_bursts": "uint32",
    "longest_loss_burst": "uint32",
    "late": "uint32",
    "late_bursts": "uint32",
    "gaps": "uint32",
    "gap_s": "float64",
    "concealed_s": "float64",
    "burst_frame": "Int64",
    "late_frame": "Int64",
    "burst_ratio": "float64",
    "one_way_delay_ms": "float64",
    "delay_source": "string",
    "model": "string",
    "ie": "float64",
    "bpl": "float64",
    "codec_values_source": "string",
    "r_factor": "float64",
    "mos": "float64",
    "estimate": "string",
}

# Equipment impairment (Ie) and packet-loss robustness (Bpl) per codec, with their source.  Opus has no ITU-T
# G.113 value: the numbers are assumptions, said so in every row that uses them.
CODEC_VALUES: dict[str, tuple[str, float, float, str]] = {
    # codec: (model, Ie, Bpl, source)
    "pcmu": ("G.107", 0.0, 25.1, "ITU-T G.113 Appendix I: G.711 with packet-loss concealment (Ie 0, Bpl 25.1)"),
    "pcma": ("G.107", 0.0, 25.1, "ITU-T G.113 Appendix I: G.711 with packet-loss concealment (Ie 0, Bpl 25.1)"),
    "g722": ("G.107.1", 13.0, 25.1, "ITU-T G.113 (wideband): G.722 64 kbit/s Ie,WB 13; Bpl assumed as G.711's with "
                                    "concealment"),
    "opus": ("G.107.1", 10.0, 20.0, "assumed: no ITU-T G.113 value for Opus; Ie,WB 10 (near the wideband codecs "
                                    "G.113 lists) and Bpl 20 (a codec with concealment)"),
}
R0_NB, R0_WB = 93.2, 129.0  # G.107 default R (Ro - Is); G.107.1 Ro,WB with its defaults
DEFAULT_ONE_WAY_DELAY_MS = 100.0  # assumed mouth-to-ear delay without an RTT (G.114's "good" region)
LATE_WINDOW = 50  # packets (1 s of 20 ms audio) on each side a late packet is judged against
END_DELAY_MS = 40.0  # added to RTT/2: a 20 ms packet and an assumed 20 ms jitter buffer


# -- video ------------------------------------------------------------------------------------------------------

def _context(cap) -> analysis.Analysis:
    """The analysis context: `cap` itself when it is one (a call of several: `analysis.of(cap).calls[i]`), else
    the capture's (`analysis.of`), where the results are kept."""
    return cap if isinstance(cap, analysis.Analysis) else analysis.of(cap)


def _video_streams(ctx) -> tuple[pd.DataFrame, dict[int, list[int]]]:
    """The video media streams and {media ssrc: [its RTX ssrcs]}: from the RTX pairs the capture knows (SDP, or the
    timestamps), and, for a "video" stream left unpaired, another stream of the same 5-tuple whose RTP timestamps
    meet the media's (RFC 4588 §4: a retransmission keeps the original's timestamp; two cameras' random timestamp
    offsets do not meet)."""
    st = ctx.streams
    video = st[(st["kind"].astype(str) == "video") & (st["role"].astype(str) == "media")]
    rtx_of: dict[int, list[int]] = {}
    for p in ctx.rtx_pairs.itertuples(index=False):
        rtx_of.setdefault(int(p.media_ssrc), []).append(int(p.rtx_ssrc))
    paired = {r for v in rtx_of.values() for r in v}
    rtp = ctx.cap.rtp
    rtp = rtp[rtp["error"].isna()] if "error" in rtp else rtp
    ts_of = {int(s): set(g["ts"].to_numpy().tolist()) for s, g in rtp[rtp["ssrc"].isin(video["ssrc"])]
             .groupby("ssrc", observed=True)}
    packets = dict(zip(video["ssrc"].astype(np.int64), video["packets"].astype(np.int64)))
    drop = set()
    for a in video.itertuples(index=False):
        for b in video.itertuples(index=False):
            sa, sb = int(a.ssrc), int(b.ssrc)
            if sa == sb or sb in paired or sb in drop or (str(a.src), a.sport, str(a.dst), a.dport) != \
                    (str(b.src), b.sport, str(b.dst), b.dport) or packets[sb] >= packets[sa]:
                continue
            if ts_of.get(sa, set()) & ts_of.get(sb, set()):
                rtx_of.setdefault(sa, []).append(sb)
                drop.add(sb)
    video = video[~video["ssrc"].astype(np.int64).isin(list(drop | paired))]
    return video, rtx_of


def rendered_frames(cap) -> pd.DataFrame:
    """One row per video frame of every video media stream, with the time it could be rendered (see the module
    docstring): ssrc, ts_ext, `frame` (capture frame of its first packet), `whole_t` (arrival of its last packet, or
    of the last retransmission that repaired it), `rendered` (False for a frame still incomplete), `render_t` (the
    running maximum of `whole_t` over the rendered frames in timestamp order; NaN when not rendered), `rtx_only`
    (it arrived only as retransmissions), `repaired_by_rtx`, `missing` (packets still missing), `missing_before`,
    `keyframe` (from cap.frames, null without keys), `packets`, `bytes`, `first_t`.  Sorted by stream and ts_ext."""
    ctx = _context(cap)
    return ctx.memo(("quality.rendered_frames",), lambda: _rendered_frames(ctx))


def _rendered_frames(ctx) -> pd.DataFrame:
    video, rtx_of = _video_streams(ctx)
    frames = ctx.capture.frames
    rtp = ctx.cap.rtp
    rtp = rtp[rtp["error"].isna()] if "error" in rtp else rtp
    parts = []
    for v in video.itertuples(index=False):
        ssrc = int(v.ssrc)
        f = frames[(frames["ssrc"].astype(np.int64) == ssrc) & (frames["src"].astype(str) == str(v.src))
                   & (frames["dst"].astype(str) == str(v.dst))]
        rtx = rtp[rtp["ssrc"].isin(rtx_of.get(ssrc, [])) & ~rtp["padding"].astype(bool)
                  & (rtp["payload_len"].to_numpy() > 2)]
        parts.append(_stream_render(ssrc, f, rtx))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in ("ssrc", "ts_ext", "render_t")})
    return pd.concat(parts, ignore_index=True)


def _stream_render(ssrc: int, f: pd.DataFrame, rtx: pd.DataFrame) -> pd.DataFrame:
    ts32 = f["ts"].to_numpy().astype(np.int64)
    ts_ext = f["ts_ext"].to_numpy().astype(np.int64)
    base = pd.DataFrame({"ssrc": ssrc, "ts_ext": ts_ext, "frame": f["frame"].to_numpy(),
                         "first_t": f["first_t"].to_numpy(dtype=np.float64),
                         "whole_t": f["last_t"].to_numpy(dtype=np.float64), "rendered": True,
                         # with readable RTX payloads cap.frames already holds the repairs (`repaired`): a frame
                         # whose every packet is one arrived only as retransmissions
                         "rtx_only": (f["repaired"].to_numpy() >= f["packets"].to_numpy())
                         & (f["packets"].to_numpy() > 0),
                         "repaired_by_rtx": f["repaired"].to_numpy() > 0,
                         "missing": f["missing"].to_numpy().astype(np.int64),
                         "missing_before": f["missing_before"].to_numpy().astype(np.int64),
                         "keyframe": f["keyframe"].to_numpy(dtype=object), "packets": f["packets"].to_numpy(),
                         "bytes": f["bytes"].to_numpy(), "rtx_packets": 0, "rtx_last_t": np.nan})
    if len(rtx):
        # The same packet sent again twice (its first retransmission lost or late) is one packet: without the key
        # its OSN is unreadable, so a repeat of a timestamp and size stands for it (the first arrival counts).
        rtx = rtx.sort_values("t", kind="stable").drop_duplicates(["ts", "payload_len"])
        by_ts = rtx.groupby("ts", observed=True).agg(n=("t", "size"), last=("t", "max"), first=("t", "min"),
                                                     frame=("frame", "min"), bytes=("payload_len", "sum"))
        hit = by_ts.index.isin(ts32)
        at = pd.Series(np.arange(len(f)), index=ts32)
        at = at[~at.index.duplicated()]
        rows = at.reindex(by_ts.index[hit]).to_numpy()
        base.loc[rows, "rtx_packets"] = by_ts["n"].to_numpy()[hit]
        base.loc[rows, "rtx_last_t"] = by_ts["last"].to_numpy()[hit]
        only = by_ts[~hit]
        if len(only):
            # Timestamps seen only on RTX (frames whose every original was lost): extended like the media frame
            # that arrived nearest them.
            ref_t = f["first_t"].to_numpy(dtype=np.float64)
            order = np.argsort(ref_t, kind="stable")
            pos = np.clip(np.searchsorted(ref_t[order], only["first"].to_numpy()), 0, max(len(f) - 1, 0))
            ref = ts_ext[order][pos] if len(f) else np.zeros(len(only), dtype=np.int64)
            raw = only.index.to_numpy().astype(np.int64)
            ext = raw + (1 << 32) * np.round((ref - raw) / float(1 << 32)).astype(np.int64)
            extra = pd.DataFrame({"ssrc": ssrc, "ts_ext": ext, "frame": only["frame"].to_numpy(),
                                  "first_t": only["first"].to_numpy(), "whole_t": only["last"].to_numpy(),
                                  "rendered": True, "rtx_only": True, "repaired_by_rtx": True, "missing": 0,
                                  "missing_before": 0, "keyframe": pd.NA, "packets": only["n"].to_numpy(),
                                  "bytes": only["bytes"].to_numpy(), "rtx_packets": only["n"].to_numpy(),
                                  "rtx_last_t": only["last"].to_numpy()})
            base = pd.concat([base, extra], ignore_index=True)
    out = base.sort_values("ts_ext", kind="stable").reset_index(drop=True)
    # A frame lacking packets (inside it, or right before it: its first packets or whole frames before it, the
    # headers cannot say which, and either stops a decoder) renders only when as many retransmissions arrived for
    # it and the RTX-only frames since the previous media frame; then it is whole at the last of them.
    lacking = (out["missing"] + out["missing_before"]).to_numpy()
    media = ~out["rtx_only"].to_numpy(bool)
    rtx_n = out["rtx_packets"].to_numpy()
    rtx_last = out["rtx_last_t"].to_numpy(dtype=np.float64)
    whole = out["whole_t"].to_numpy(dtype=np.float64).copy()
    rendered = np.ones(len(out), dtype=bool)
    repaired = out["repaired_by_rtx"].to_numpy(bool).copy()
    prev_media = -1
    for i in range(len(out)):
        if not media[i]:
            continue
        if lacking[i] > 0:
            span = slice(prev_media + 1, i + 1)
            sent_again = int(rtx_n[span].sum())
            if sent_again >= lacking[i]:
                repaired[i] = True
                whole[i] = max(whole[i], float(np.nanmax(rtx_last[span])))
            else:
                rendered[i] = False
        prev_media = i
    out["whole_t"], out["rendered"], out["repaired_by_rtx"] = whole, rendered, repaired
    out["missing"] = np.where(repaired & media, 0, out["missing"])
    w = np.where(rendered, whole, -np.inf)
    render = np.maximum.accumulate(w) if len(w) else w
    out["render_t"] = np.where(rendered, render, np.nan)
    return out.drop(columns=["rtx_packets", "rtx_last_t"])


def w3c_freezes(render_t: np.ndarray, window: int = FREEZE_WINDOW, min_intervals: int = FREEZE_MIN_INTERVALS,
                min_increase_s: float = FREEZE_MIN_INCREASE_S) -> pd.DataFrame:
    """The freezes of one stream's render times (sorted, seconds): rows with `i` (index of the frame that ended the
    freeze in `render_t`), `interval`, `average` (mean of the last `window` intervals including this one) and
    `threshold` (max(3 × average, average + 150 ms)); judged from the `min_intervals`-th interval on (libwebrtc)."""
    d = np.diff(np.asarray(render_t, dtype=np.float64))
    if len(d) < min_intervals:
        return pd.DataFrame({"i": pd.Series(dtype="int64"), "interval": pd.Series(dtype="float64"),
                             "average": pd.Series(dtype="float64"), "threshold": pd.Series(dtype="float64")})
    c = np.r_[0.0, np.cumsum(d)]
    k = np.arange(1, len(d) + 1)
    lo = np.maximum(k - window, 0)
    avg = (c[k] - c[lo]) / (k - lo)
    threshold = np.maximum(3 * avg, avg + min_increase_s)
    hit = (d >= threshold) & (k >= min_intervals)
    idx = np.flatnonzero(hit)
    return pd.DataFrame({"i": idx + 1, "interval": d[idx], "average": avg[idx], "threshold": threshold[idx]})


def freezes(cap, window: int = FREEZE_WINDOW, min_intervals: int = FREEZE_MIN_INTERVALS,
            min_increase_s: float = FREEZE_MIN_INCREASE_S) -> pd.DataFrame:
    """One row per video freeze (W3C webrtc-stats `freezeCount`, as in the module docstring) of every video media
    stream in the capture, by stream (as cap.streams orders them) and time.

    Columns (FREEZES_SCHEMA): `ssrc`, `src`, `sport`, `dst`, `dport` (the stream); `start` (capture seconds: when
    the last frame before the freeze could be rendered), `start_time` (the same instant, absolute UTC), `end`,
    `duration` (s: the frame interval judged a freeze); `frames_before` (frames rendered before it on the stream);
    `average_interval` and `threshold` (s: the running average and the limit it was judged by); `cause`
    (categorical, FREEZE_CAUSES: `sender_stopped`: nothing of the stream (media or RTX) arrived for most of the
    freeze, i.e. the sender stopped or everything was lost before the capture point; `keyframe_wait`: frames were
    lost and a PLI/FIR for the stream was sent in the freeze: the picture waited for the keyframe; `loss_not_repaired`:
    packets of the frames in the freeze were lost and not repaired in time (late retransmission or none);
    `bandwidth`: packets kept arriving, none lost, but frames completed slowly (queueing, a bandwidth limit);
    `unknown`: none of these); `evidence` (short text: the packets, losses and requests seen in the freeze);
    `first_frame`, `last_frame` (capture frame numbers of the frames before and after it)."""
    ctx = _context(cap)
    return ctx.memo(("quality.freezes", window, min_intervals, min_increase_s),
                    lambda: _freezes(ctx, window, min_intervals, min_increase_s))


def _freezes(ctx, window: int, min_intervals: int, min_increase_s: float) -> pd.DataFrame:
    video, rtx_of = _video_streams(ctx)
    renders = rendered_frames(ctx)
    rtp = ctx.cap.rtp
    rtp = rtp[rtp["error"].isna()] if "error" in rtp else rtp
    kfr = ctx.keyframe_requests
    t0 = _time_zero(ctx.capture)
    rows = []
    for v in video.itertuples(index=False):
        ssrc = int(v.ssrc)
        r = renders[(renders["ssrc"].astype(np.int64) == ssrc) & renders["rendered"].astype(bool)]
        found = w3c_freezes(r["render_t"].to_numpy(), window, min_intervals, min_increase_s)
        if not len(found):
            continue
        mine = rtp[rtp["ssrc"].isin([ssrc, *rtx_of.get(ssrc, [])])]
        t_pkts = np.sort(mine["t"].to_numpy(dtype=np.float64))
        allf = renders[renders["ssrc"].astype(np.int64) == ssrc]
        reqs = kfr[kfr["media_ssrc"].astype(np.int64) == ssrc] if len(kfr) else kfr
        for fz in found.itertuples(index=False):
            before, after = r.iloc[fz.i - 1], r.iloc[fz.i]
            start, end = float(before["render_t"]), float(after["render_t"])
            cause, evidence = _cause(start, end, t_pkts, allf, reqs, before, after)
            rows.append({"ssrc": ssrc, "src": str(v.src), "sport": int(v.sport), "dst": str(v.dst),
                         "dport": int(v.dport), "start": start, "start_time": t0 + pd.to_timedelta(start, "s"),
                         "end": end, "duration": end - start, "frames_before": int(fz.i),
                         "average_interval": float(fz.average), "threshold": float(fz.threshold),
                         "cause": cause, "evidence": evidence, "first_frame": int(before["frame"]),
                         "last_frame": int(after["frame"])})
    out = pd.DataFrame(rows, columns=list(FREEZES_SCHEMA))
    out = out.astype({k: v for k, v in FREEZES_SCHEMA.items() if k not in ("cause", "start_time")})
    out["start_time"] = pd.to_datetime(out["start_time"], utc=True).astype(FREEZES_SCHEMA["start_time"])
    out["cause"] = pd.Categorical(out["cause"], categories=FREEZE_CAUSES)
    return out


def _time_zero(cap) -> pd.Timestamp:
    p = cap.packets
    if not len(p):
        return pd.Timestamp(0, tz="UTC")
    return pd.Timestamp(p["time"].iloc[0]) - pd.to_timedelta(float(p["t"].iloc[0]), "s")


def _cause(start, end, t_pkts, frames, reqs, before, after) -> tuple[str, str]:
    """The cause of one freeze from what the capture shows between `start` and `end` (see `freezes`)."""
    duration = end - start
    inside = t_pkts[(t_pkts > start) & (t_pkts < end)]
    edges = np.r_[start, inside, end]
    longest = float(np.max(np.diff(edges)))
    # The frames that became renderable when the freeze ended, and those (not renderable) in between.
    span = frames[(frames["ts_ext"] > before["ts_ext"]) & (frames["ts_ext"] <= after["ts_ext"])]
    lost_inside = int(span["missing"].sum() + span["missing_before"].sum())
    late_repairs = int(span["repaired_by_rtx"].sum())
    unrendered = int((~span["rendered"].astype(bool)).sum())
    asked = reqs[(reqs["t"] >= start - 0.05) & (reqs["t"] <= end)] if len(reqs) else reqs
    waited_keyframe = len(asked) and bool(after["keyframe"] is True or after["keyframe"] is np.True_)
    if longest >= 0.5 * duration:
        return "sender_stopped", (f"no packet of the stream, media or RTX, for {longest:.2f} s: it stopped before "
                                  "the capture point")
    if len(asked) and (lost_inside or unrendered) and (waited_keyframe or pd.isna(after["keyframe"])):
        kinds = "/".join(sorted(set(asked["kind"].astype(str).str.upper()))) if "kind" in asked else "PLI"
        return "keyframe_wait", (f"{len(asked)} {kinds} sent at {float(asked['t'].iloc[0]):.2f} s after "
                                 f"{lost_inside} lost packets; the picture resumed at "
                                 f"{'a keyframe' if waited_keyframe else 'the next frame'}")
    if lost_inside or unrendered or late_repairs:
        parts = [f"{lost_inside} packets lost"] if lost_inside else []
        if late_repairs:
            parts.append(f"{late_repairs} frame{'s' if late_repairs != 1 else ''} whole only when "
                         "retransmitted")
        if unrendered:
            parts.append(f"{unrendered} frame{'s' if unrendered != 1 else ''} never whole")
        return "loss_not_repaired", ", ".join(parts) + f"; {len(inside)} packets arrived in the freeze"
    if len(inside):
        return "bandwidth", (f"{len(inside)} packets kept arriving, longest silence {longest * 1000:.0f} ms, nothing "
                             "lost: the frames completed slowly")
    return "unknown", "nothing in the capture explains it"


def freeze_summary(cap, **kw) -> pd.DataFrame:
    """One row per video media stream: what a viewer of it saw.

    Columns (FREEZE_SUMMARY_SCHEMA): ssrc, src, sport, dst, dport; `frames` (frames with at least one packet
    received, original or retransmitted: what getStats calls framesReceived), `rendered` (of them, those that became
    whole), `incomplete` (never whole), `rtx_only` (arrived only as retransmissions); `first_t`, `last_t` (s: the
    first and last frame's render time); `fps` (rendered frames per second between them); `freeze_count`,
    `total_freeze_duration`, `longest_freeze` (s; from `freezes`); `keyframes` (frames judged keyframes; null
    without keys, the payload unreadable); `keyframe_interval` (s: the median time between keyframes; NaN with
    fewer than two); `not_judged` (what could not be judged, e.g. keyframes without the key log)."""
    ctx = _context(cap)
    video, _ = _video_streams(ctx)
    renders = rendered_frames(ctx)
    fz = freezes(ctx, **kw)
    rows = []
    for v in video.itertuples(index=False):
        ssrc = int(v.ssrc)
        f = renders[renders["ssrc"].astype(np.int64) == ssrc]
        ok = f[f["rendered"].astype(bool)]
        rt = ok["render_t"].to_numpy(dtype=np.float64)
        span = float(rt[-1] - rt[0]) if len(rt) > 1 else np.nan
        mine = fz[fz["ssrc"].astype(np.int64) == ssrc]
        kf = f["keyframe"]
        judged = kf.notna() & (kf.astype(object) != pd.NA)
        not_judged = []
        if not judged.any():
            not_judged.append("keyframes (payload unreadable: SRTP without its key, or no detector for the codec)")
            keyframes, interval = pd.NA, np.nan
        else:
            is_kf = f[judged & kf.fillna(False).astype(bool)]
            keyframes = len(is_kf)
            interval = float(np.median(np.diff(is_kf["first_t"].to_numpy()))) if len(is_kf) > 1 else np.nan
        rows.append({"ssrc": ssrc, "src": str(v.src), "sport": int(v.sport), "dst": str(v.dst), "dport": int(v.dport),
                     "frames": len(f), "rendered": len(ok), "incomplete": int((~f["rendered"].astype(bool)).sum()),
                     "rtx_only": int(f["rtx_only"].astype(bool).sum()),
                     "first_t": float(rt[0]) if len(rt) else np.nan, "last_t": float(rt[-1]) if len(rt) else np.nan,
                     "fps": (len(rt) - 1) / span if span and span > 0 else np.nan,
                     "freeze_count": len(mine), "total_freeze_duration": float(mine["duration"].sum()),
                     "longest_freeze": float(mine["duration"].max()) if len(mine) else 0.0,
                     "keyframes": keyframes, "keyframe_interval": interval,
                     "not_judged": "; ".join(not_judged) or None})
    out = pd.DataFrame(rows, columns=list(FREEZE_SUMMARY_SCHEMA))
    return out.astype(FREEZE_SUMMARY_SCHEMA)


# -- audio ------------------------------------------------------------------------------------------------------

def audio_quality(cap, late_ms: float = 100.0, one_way_delay_ms: float | None = None) -> pd.DataFrame:
    """One row per audio media stream: its loss and late-arrival bursts, an estimate of the time the receiver had to
    conceal, and an E-model R-factor and MOS, **estimates** for planning, not a measurement of what was heard.

    Columns (AUDIO_QUALITY_SCHEMA): ssrc, src, sport, dst, dport; `codec`, `clock_rate`, `ptime_ms` (the median
    timestamp step between consecutive packets); `packets`, `expected`, `lost` (sequence numbers never received),
    `loss_pct`; `loss_bursts`, `longest_loss_burst` (runs of consecutive lost numbers); `late` (packets that arrived
    more than `late_ms` after their due time: arrival minus RTP timestamp, above the median such offset of the
    LATE_WINDOW packets before and after it, so a passing spike counts and a lasting step or a slowly growing queue
    (which a jitter buffer follows) does not; a jitter buffer of `late_ms` would have played them too late) and
    `late_bursts` (runs of late packets); `gaps`, `gap_s` (silences in arrival longer than 3 packet times while the
    sequence numbers run on: the packets of the gap arrived late in a burst or were lost); `concealed_s` (estimate:
    (lost + late) × ptime: what the receiver had to invent; getStats' concealedSamples / sampleRate also counts its
    own playout adjustments, which a capture cannot see); `burst_frame` (capture frame of the packet that ended the
    longest loss burst) and `late_frame` (of the first late packet), null without one; `burst_ratio` (G.107 BurstR =
    1/(p+q), p and q the two-state loss model's transition probabilities; 1 for random loss); `one_way_delay_ms` and
    `delay_source` (RTT/2 from the RTCP reports plus END_DELAY_MS, or the assumed DEFAULT_ONE_WAY_DELAY_MS); `model`
    ("G.107" narrowband or "G.107.1" wideband), `ie`, `bpl` and `codec_values_source` (CODEC_VALUES: where the
    codec's values come from; Opus's are assumptions); `r_factor` (R, on the model's scale: 0-100 narrowband, 0-129
    wideband) and `mos` (G.107 Annex B; a wideband R divided by 1.29 first, G.107.1 Annex A); `estimate` (the words
    that label it)."""
    ctx = _context(cap)
    st = ctx.streams
    audio = st[(st["kind"].astype(str) == "audio") & (st["role"].astype(str) == "media")]
    rtp = ctx.cap.rtp
    rtp = rtp[rtp["error"].isna()] if "error" in rtp else rtp
    rtt = ctx.round_trip_times
    rows = []
    for a in audio.itertuples(index=False):
        g = rtp[(rtp["ssrc"] == a.ssrc) & (rtp["src"].astype(str) == str(a.src)) & (rtp["dst"].astype(str) ==
                                                                                     str(a.dst))]
        rows.append(_audio_row(a, g, rtt, late_ms, one_way_delay_ms))
    out = pd.DataFrame(rows, columns=list(AUDIO_QUALITY_SCHEMA))
    return out.astype(AUDIO_QUALITY_SCHEMA)


def _runs(mask: np.ndarray) -> np.ndarray:
    """Lengths of the runs of True in `mask`."""
    if not mask.any():
        return np.zeros(0, dtype=np.int64)
    m = np.r_[False, mask, False].astype(np.int8)
    d = np.diff(m)
    return np.flatnonzero(d == -1) - np.flatnonzero(d == 1)


def _audio_row(a, g: pd.DataFrame, rtt: pd.DataFrame, late_ms: float, one_way_delay_ms: float | None) -> dict:
    clock = int(a.clock_rate) if not pd.isna(a.clock_rate) and int(a.clock_rate) else 48000
    seq = extend_seq(g["seq"].to_numpy())
    ts = extend_ts(g["ts"].to_numpy())
    t = g["t"].to_numpy(dtype=np.float64)
    uniq, first = np.unique(seq, return_index=True)
    expected = int(uniq[-1] - uniq[0] + 1) if len(uniq) else 0
    received = np.zeros(expected, dtype=bool)
    received[uniq - uniq[0]] = True
    lost_runs = _runs(~received)
    frame_no = g["frame"].to_numpy()[first]
    burst_frame = late_frame = pd.NA
    if len(lost_runs):
        # the received number right after the longest run of lost ones
        m = np.r_[False, ~received, False].astype(np.int8)
        ends = np.flatnonzero(np.diff(m) == -1)
        after = uniq[0] + ends[int(np.argmax(lost_runs))]
        burst_frame = int(frame_no[np.searchsorted(uniq, after)])
    lost = int((~received).sum())
    # ptime: the timestamp step between consecutive sequence numbers both received
    s_ts = ts[first]
    steps = np.diff(s_ts)[np.diff(uniq) == 1]
    steps = steps[steps > 0]
    ptime = float(np.median(steps)) / clock if len(steps) else 0.020
    # late: arrival against the RTP timestamp (s), above the median offset of the packets around it (LATE_WINDOW
    # before and after: a spike is late; a lasting step or a slowly growing queue, which a jitter buffer follows,
    # is not)
    t_first = t[first]
    offset = pd.Series(t_first - s_ts / clock)
    base = offset.rolling(2 * LATE_WINDOW + 1, center=True, min_periods=1).median().to_numpy()
    late_mask = (offset.to_numpy() - base) > late_ms / 1000
    late_runs = _runs(late_mask)
    if late_mask.any():
        late_frame = int(frame_no[int(np.argmax(late_mask))])
    # silences in arrival (order of arrival) while the numbers run on
    order = np.argsort(t_first, kind="stable")
    dt = np.diff(t_first[order])
    gaps = dt[dt > 3 * ptime]
    concealed = (lost + int(late_mask.sum())) * ptime
    # G.107 two-state loss model: p = P(lost | previous received), q = P(received | previous lost)
    prev, cur = received[:-1], received[1:]
    p = ((prev & ~cur).sum() / prev.sum()) if prev.sum() else 0.0
    q = ((~prev & cur).sum() / (~prev).sum()) if (~prev).sum() else 1.0
    burst_ratio = 1.0 / (p + q) if lost and (p + q) > 0 else 1.0
    codec = str(a.codec).lower() if not pd.isna(a.codec) else ("opus" if clock == 48000 else "pcmu")
    model, ie, bpl, source = CODEC_VALUES.get(codec, CODEC_VALUES["opus" if clock >= 16000 else "pcmu"])
    if codec not in CODEC_VALUES:
        source = f"codec {codec} not in the table: {source}"
    if one_way_delay_ms is not None:
        delay, delay_source = float(one_way_delay_ms), "given"
    else:
        mine = rtt[rtt["rtt_ms"].notna()] if len(rtt) and "rtt_ms" in rtt else rtt.iloc[:0] if len(rtt) else rtt
        if len(mine):
            delay = float(np.median(mine["rtt_ms"])) / 2 + END_DELAY_MS
            delay_source = f"RTT/2 from {len(mine)} RTCP reports (median) + {END_DELAY_MS:.0f} ms packet and buffer"
        else:
            delay, delay_source = DEFAULT_ONE_WAY_DELAY_MS, "assumed (no RTT: RTCP unreadable or absent)"
    ppl = 100.0 * lost / expected if expected else 0.0
    r = e_model(ppl, burst_ratio, delay, ie, bpl, wideband=model == "G.107.1")
    return {"ssrc": int(a.ssrc), "src": str(a.src), "sport": int(a.sport), "dst": str(a.dst), "dport": int(a.dport),
            "codec": codec, "clock_rate": clock, "ptime_ms": ptime * 1000, "packets": len(g), "expected": expected,
            "lost": lost, "loss_pct": ppl, "loss_bursts": len(lost_runs),
            "longest_loss_burst": int(lost_runs.max()) if len(lost_runs) else 0,
            "late": int(late_mask.sum()), "late_bursts": len(late_runs), "gaps": len(gaps),
            "gap_s": float(gaps.sum()), "concealed_s": concealed, "burst_frame": burst_frame,
            "late_frame": late_frame, "burst_ratio": burst_ratio,
            "one_way_delay_ms": delay, "delay_source": delay_source, "model": model, "ie": ie, "bpl": bpl,
            "codec_values_source": source, "r_factor": r, "mos": mos_from_r(r, wideband=model == "G.107.1"),
            "estimate": "estimate (E-model, a planning tool: not a measurement of what was heard)"}


def e_model(loss_pct: float, burst_ratio: float, one_way_delay_ms: float, ie: float, bpl: float,
            wideband: bool = False) -> float:
    """R = Ro - Is - Id - Ie,eff (+ A = 0): G.107 (narrowband, Ro - Is = 93.2 with its default values) or G.107.1
    (wideband, Ro,WB 129).  Id: the delay impairment of a one-way delay Ta (ms) without echo, Idd of G.107 §7.2
    in its common closed form 0.024·Ta + 0.11·(Ta − 177.3)·H(Ta − 177.3).  Ie,eff = Ie + (Rmax − Ie) ·
    Ppl / (Ppl / BurstR + Bpl), Rmax 95 (G.107) or 129 (G.107.1)."""
    ta = max(float(one_way_delay_ms), 0.0)
    idd = 0.024 * ta + 0.11 * max(ta - 177.3, 0.0)
    rmax = R0_WB if wideband else 95.0
    ppl = max(float(loss_pct), 0.0)
    ie_eff = ie + (rmax - ie) * ppl / (ppl / max(burst_ratio, 1e-9) + bpl) if ppl else ie
    return (R0_WB if wideband else R0_NB) - idd - ie_eff


def mos_from_r(r: float, wideband: bool = False) -> float:
    """G.107 Annex B: MOS from R (1 below 0, 4.5 above 100); a wideband R is brought to the narrowband scale by
    dividing by 1.29 first (G.107.1 Annex A)."""
    r = r / 1.29 if wideband else r
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6
