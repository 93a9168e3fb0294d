"""The health summary's "quality" stage: what the user saw and heard (issue 20).  Video: freezes by the W3C
webrtc-stats definition with their cause (`analysis.quality.freezes`); audio: the time the receiver had to conceal
and an E-model MOS, labelled as the estimates they are (`analysis.quality.audio_quality`).

The stage is a list of judges (`QUALITY_JUDGES`), each taking the analysis context and the Thresholds and returning
finding rows; the bandwidth-estimation judge ("estimate vs sent", issue 20 item 3) joins the list from its own
module."""

from __future__ import annotations

import numpy as np

from ..analysis import quality
from ..analysis.context import Analysis
from .health_result import _f, _frames, _ms, _stream_subject, Thresholds

# A freeze shorter than this is information (a stall the viewer barely noticed; browsers count such ones on clean
# calls: a sender's brief pause); longer a warning; from Thresholds.freeze_ms (1 s) on an error, as the media gap.
FREEZE_WARNING_MS = 500.0
MOS_WARNING = 3.6  # below this an E-model MOS estimate is a warning (G.107 Annex B: "many users dissatisfied" < 3.6)


def _endpoint_key(r) -> tuple:
    return (int(r["ssrc"]), str(r["src"]), int(r["sport"]), str(r["dst"]), int(r["dport"]))


def _subjects(ctx: Analysis) -> dict[tuple, str]:
    """The streams' subjects as the media stage writes them, by (ssrc, src, sport, dst, dport)."""
    return {_endpoint_key(r): _stream_subject(r) for _, r in ctx.streams.iterrows()}


def _video(ctx: Analysis, th: Thresholds) -> list[dict]:
    summary = quality.freeze_summary(ctx)  # the context, so that a call of several is judged on its own rows
    fz = quality.freezes(ctx)
    subjects = _subjects(ctx)
    out = []
    for s in summary.itertuples(index=False):
        key = (int(s.ssrc), str(s.src), int(s.sport), str(s.dst), int(s.dport))
        subject = subjects.get(key, f"ssrc {int(s.ssrc)} video")
        mine = fz[(fz["ssrc"].astype(np.int64) == int(s.ssrc)) & (fz["src"].astype(str) == str(s.src))
                  & (fz["dst"].astype(str) == str(s.dst))]
        fps = "" if np.isnan(s.fps) else f" at {s.fps:.1f} fps"
        if not len(mine):
            out.append(_f("quality", subject, "ok", "quality.freeze",
                          f"{int(s.frames)} frames{fps}, no freeze (W3C definition)", 0.0, "ms", th.freeze_ms,
                          "freeze_ms"))
            continue
        worst = mine.loc[mine["duration"].idxmax()]
        longest_ms = float(worst["duration"]) * 1000
        sev = "error" if longest_ms >= th.freeze_ms else "warning" if longest_ms >= FREEZE_WARNING_MS else "info"
        causes = mine["cause"].astype(str).value_counts()
        length = _ms(longest_ms) if longest_ms < 1000 else f"{longest_ms / 1000:.1f} s"
        why = f"{str(worst['cause']).replace('_', ' ')} ({worst['evidence']})"
        if len(mine) == 1:
            text = f"video froze for {length} from {float(worst['start']):.1f} s: {why}"
        else:
            text = (f"{len(mine)} video freezes, {float(mine['duration'].sum()):.1f} s in all ("
                    + ", ".join(f"{n} {c.replace('_', ' ')}" for c, n in causes.items())
                    + f"); the longest {length} from {float(worst['start']):.1f} s: {why}")
        limit, name = (th.freeze_ms, "freeze_ms") if sev == "error" else (FREEZE_WARNING_MS, "FREEZE_WARNING_MS")
        out.append(_f("quality", subject, sev, "quality.freeze", text, longest_ms, "ms", limit, name,
                      _frames([worst["first_frame"], worst["last_frame"]])))
    return out


def _audio(ctx: Analysis, th: Thresholds) -> list[dict]:
    aq = quality.audio_quality(ctx)
    subjects = _subjects(ctx)
    out = []
    for a in aq.itertuples(index=False):
        subject = subjects.get((int(a.ssrc), str(a.src), int(a.sport), str(a.dst), int(a.dport)),
                               f"ssrc {int(a.ssrc)} audio")
        sev = "warning" if a.mos < MOS_WARNING else "ok"
        text = (f"about {a.concealed_s:.1f} s concealed ({int(a.lost)} lost in {int(a.loss_bursts)} "
                f"burst{'s' if a.loss_bursts != 1 else ''}, {int(a.late)} late, {a.ptime_ms:.0f} ms packets); "
                f"MOS estimate {a.mos:.1f} (E-model {a.model}, R {a.r_factor:.0f}: loss {a.loss_pct:.1f} %, "
                f"BurstR {a.burst_ratio:.1f}, one-way delay {a.one_way_delay_ms:.0f} ms "
                f"{'assumed' if str(a.delay_source).startswith('assumed') else 'from RTT/2'}, {a.codec} Ie {a.ie:.0f} "
                f"Bpl {a.bpl:.1f}{' assumed' if str(a.codec_values_source).startswith('assumed') else ''})")
        out.append(_f("quality", subject, sev, "quality.audio", text, float(a.mos), "MOS", MOS_WARNING,
                      "MOS_WARNING", _frames([a.burst_frame, a.late_frame]) or _ends(ctx, int(a.ssrc))))
    return out


def _ends(ctx: Analysis, ssrc: int) -> str:
    """A stream's first and last frame: the evidence of a judgement about the whole stream."""
    frames = ctx.cap.rtp.loc[ctx.cap.rtp["ssrc"].astype("int64") == ssrc, "frame"]
    return _frames([frames.min(), frames.max()]) if len(frames) else ""


# The judges of the stage, in order.  The bandwidth-estimation judge (estimate vs sent) is appended here.
QUALITY_JUDGES = [_video, _audio]


def _quality(ctx: Analysis, th: Thresholds) -> list[dict]:
    if not len(ctx.media):
        return [_f("quality", "quality", "info", "quality.streams", "no media streams: nothing seen or heard to judge")]
    out = []
    for judge in QUALITY_JUDGES:
        out.extend(judge(ctx, th))
    return out
