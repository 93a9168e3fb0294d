"""The health summary's judges of the media: the streams (loss, late and duplicated packets, jitter, freezes,
SRTP authentication), loss recovery (NACK and retransmission, PLI/FIR and keyframes) and the RTCP reports (what
receivers say against what the capture shows).  Each judge takes the analysis context and the Thresholds and
returns finding rows (`health_result._f`)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..analysis.context import Analysis, is_media, on_leg
from ..tables.streams import extend_seq
from .health_result import _f, _frames, _ms, _n, _na, _stream_subject, Thresholds


# -- media ------------------------------------------------------------------------------------------------------

def _stream_key(r) -> tuple:
    """A stream's identity as the streams table and the gap rows share it: the 5-tuple's ends and the SSRC."""
    return (str(r["src"]), int(r["sport"]), str(r["dst"]), int(r["dport"]), int(r["ssrc"]))


_ROLE_TEXT = {"rtx": "retransmissions (RFC 4588 RTX)", "fec": "forward error correction",
              "padding": "padding-only packets (bandwidth probes)"}


def _media(ctx: Analysis, th: Thresholds) -> list[dict]:
    st = ctx.streams
    rtp = ctx.cap.rtp
    if not len(st):
        why = "the call never connected" if not ctx.connected else "no RTP flowed"
        if len(rtp) == 0 and len(ctx.cap.rtcp):  # reports prove media flowed: it is not in the capture
            why = "only RTCP in the capture (the media it reports on is not in it)"
        return [_f("media", "media", "info", "media.streams", f"no RTP streams in the capture: {why}")]
    out = []
    whole = ctx.capture.rtp  # the whole capture's rows: stream_rows are positions in it
    rows_of = ctx.stream_rows
    frame = whole["frame"].to_numpy()
    t_all = whole["t"].to_numpy(dtype=np.float64)
    seq_all = whole["seq"].to_numpy()
    auth = whole["auth_ok"] if "auth_ok" in whole.columns else None
    if auth is not None and len(rtp) and rtp["auth_ok"].isna().all() \
            and rtp.get("dtls_srtp", pd.Series([False])).any():
        out.append(_f("media", "media", "info", "media.srtp_auth",
                      "SRTP not authenticated: no key opened it (open with keylog= or srtp_keys=); payload checks "
                      "(keyframes, RTX sequence numbers) are unavailable"))
    media = is_media(st)
    for i, r in st.iterrows():
        if not media[i]:
            out.append(_role_finding(r))
            continue
        subject = _stream_subject(r)
        pos = rows_of.get(_stream_key(r), np.zeros(0, dtype=np.int64))
        expected = int(r["expected"])
        lost = int(r["lost"])
        loss_pct = 100.0 * lost / expected if expected else 0.0
        problems = []
        if len(pos):
            seq = seq_all[pos]
            ext = extend_seq(seq)
            prev = np.maximum.accumulate(ext)
            prev = np.r_[ext[0], prev[:-1]]
            jumps = np.flatnonzero(ext > prev + 1)
            jumps = jumps[jumps > 0]
            _, first_idx = np.unique(ext, return_index=True)
            is_first = np.zeros(len(ext), dtype=bool)
            is_first[first_idx] = True
            late = np.flatnonzero(is_first & (ext < prev))
            late = late[late > 0]
            dups = np.flatnonzero(~is_first)
            dt = np.diff(t_all[pos]) * 1000 if len(pos) > 1 else np.zeros(0)
        else:
            jumps = late = dups = np.zeros(0, dtype=np.int64)
            dt = np.zeros(0)
        max_delta = float(r["max_delta_ms"])
        if max_delta > th.freeze_ms and len(dt):
            i = int(np.argmax(dt))
            problems.append(_f("media", subject, "error", "media.freeze",
                               f"no packet for {max_delta / 1000:.1f} s from {t_all[pos[i]]:.1f} s "
                               f"(a freeze or outage)", max_delta, "ms", th.freeze_ms, "freeze_ms",
                               _frames([frame[pos[i]], frame[pos[i + 1]]])))
        if loss_pct >= th.loss_pct_warning and lost:
            sev = "error" if loss_pct >= th.loss_pct_error else "warning"
            thr, name = ((th.loss_pct_error, "loss_pct_error") if sev == "error"
                         else (th.loss_pct_warning, "loss_pct_warning"))
            problems.append(_f("media", subject, sev, "media.loss",
                               f"{lost} of {expected} packets missing ({loss_pct:.1f} %) in "
                               f"{len(jumps)} gap{'s' if len(jumps) != 1 else ''} (longest {int(r['max_gap'])}), "
                               "before any retransmission", loss_pct, "%", thr, name, _frames(frame[pos[jumps]])))
        jitter = float(r["jitter_ms"])
        if not np.isnan(jitter) and jitter > th.jitter_ms_warning:
            jitter_view = ctx.packet_view
            pv = jitter_view[(jitter_view["ssrc"] == r["ssrc"]) & (jitter_view["src"] == r["src"])
                             & (jitter_view["sport"] == r["sport"]) & (jitter_view["dst"] == r["dst"])
                             & (jitter_view["dport"] == r["dport"]) & (jitter_view["jitter_ms"] > th.jitter_ms_warning)]
            problems.append(_f("media", subject, "warning", "media.jitter",
                               f"interarrival jitter {jitter:.1f} ms at the end (peak {float(r['max_jitter_ms']):.1f} ms)",
                               jitter, "ms", th.jitter_ms_warning, "jitter_ms_warning", _frames(pv["frame"])))
        packets = int(r["packets"])
        late_pct = 100.0 * int(r["reordered"]) / packets if packets else 0.0
        if late_pct > th.late_pct_warning:
            problems.append(_f("media", subject, "warning", "media.late",
                               f"{int(r['reordered'])} packets arrived late, out of order ({late_pct:.1f} %)",
                               late_pct, "%", th.late_pct_warning, "late_pct_warning", _frames(frame[pos[late]])))
        dup_pct = 100.0 * int(r["duplicates"]) / packets if packets else 0.0
        if dup_pct > th.duplicate_pct_warning:
            problems.append(_f("media", subject, "warning", "media.duplicates",
                               f"{int(r['duplicates'])} duplicate packets ({dup_pct:.1f} %)", dup_pct, "%",
                               th.duplicate_pct_warning, "duplicate_pct_warning", _frames(frame[pos[dups]])))
        if auth is not None and len(pos):
            a = auth.iloc[pos] if isinstance(auth.index, pd.RangeIndex) else auth.loc[pos]
            bad = np.flatnonzero((a == False).to_numpy(dtype=bool, na_value=False))  # noqa: E712
            checked = int(a.notna().sum())
            if len(bad):
                pct = 100.0 * len(bad) / checked if checked else 100.0
                sev = "error" if pct > th.srtp_auth_fail_pct_error else "warning"
                problems.append(_f("media", subject, sev, "media.srtp_auth",
                                   f"{len(bad)} of {checked} SRTP packets failed authentication ({pct:.1f} %)",
                                   pct, "%", th.srtp_auth_fail_pct_error, "srtp_auth_fail_pct_error",
                                   _frames(frame[pos[bad]])))
        if problems:
            out.extend(problems)
        else:
            dur = float(r["last_t"] - r["first_t"])
            rate = float(r["bitrate_kbps"])
            jit = "" if np.isnan(jitter) else f", jitter {jitter:.1f} ms"
            loss = "no loss" if not lost else f"{lost} lost ({loss_pct:.1f} %)"
            text = (f"{packets} packets over {dur:.1f} s"
                    + (f", {rate:.0f} kbit/s" if not np.isnan(rate) else "")
                    + f", {loss}{jit}, longest gap {max_delta:.0f} ms")
            ev = _frames([frame[pos[0]], frame[pos[-1]]]) if len(pos) else None
            out.append(_f("media", subject, "ok", "media.stream", text, loss_pct, "%", th.loss_pct_warning,
                          "loss_pct_warning", ev))
    return out


def _role_finding(r) -> dict:
    """One ok finding for a stream that is not media: what it carries, for whom, and the evidence."""
    role = str(r["role"]) if "role" in r and not _na(r["role"]) else str(r["kind"])
    text = f"{_ROLE_TEXT.get(role, role)}: {int(r['packets'])} packets"
    if "role_of" in r and not _na(r["role_of"]):
        text += f" for ssrc {int(r['role_of'])}"
    if "role_evidence" in r and not _na(r["role_evidence"]):
        text += f" ({r['role_evidence']})"
    return _f("media", _stream_subject(r), "ok", "media.role", text)


# -- recovery ---------------------------------------------------------------------------------------------------

def _recovery(ctx: Analysis, th: Thresholds) -> list[dict]:
    readable, total = ctx.rtcp_readable
    media = ctx.media
    if not len(media):
        return [_f("recovery", "recovery", "info", "recovery.nack", "no media streams: nothing to repair")]
    if total and not readable:
        rtcp = ctx.cap.rtcp
        return [_f("recovery", "recovery", "info", "recovery.srtcp",
                   f"RTCP is SRTCP-encrypted and no key opened it ({total} compound packets): NACK, PLI and "
                   "retransmissions cannot be judged (open with keylog=)", evidence=_frames(rtcp["frame"].head(3)))]
    out = []
    # Per leg (ctx.legs: the two endpoints a media flow runs between): a capture on a TURN server or an SFU holds
    # the same SSRC on several legs, each with its own losses, NACKs and retransmissions; merged by SSRC, one leg's
    # holes would be judged against another leg's repairs.
    for leg in ctx.legs:
        outcomes, summary, kfr = leg.outcomes, leg.summary, leg.keyframe_requests
        by_ssrc = {int(r["ssrc"]): r for _, r in media[on_leg(media, leg.ends)].iterrows()}
        for s in summary.itertuples(index=False):
            r = by_ssrc.get(int(s.media_ssrc))
            if r is None:
                continue
            if not s.nacked and not s.losses:
                continue
            subject = _stream_subject(r)
            kind = str(r["kind"])
            expected = int(r["expected"])
            o = outcomes[outcomes["media_ssrc"].astype(np.int64) == int(s.media_ssrc)]
            if not s.nacked and kind == "audio":
                out.append(_f("recovery", subject, "info", "recovery.nack",
                              f"{int(s.losses)} packets lost and none NACKed (audio usually relies on concealment/FEC)",
                              int(s.losses), "packets"))
                continue
            unrep = int(s.unrepaired)
            pct = 100.0 * unrep / expected if expected else 0.0
            ratio = float(s.repair_ratio)
            if pct >= th.unrepaired_loss_pct_error:
                sev, thr, name = "error", th.unrepaired_loss_pct_error, "unrepaired_loss_pct_error"
            elif pct >= th.unrepaired_loss_pct_warning:
                sev, thr, name = "warning", th.unrepaired_loss_pct_warning, "unrepaired_loss_pct_warning"
            elif not np.isnan(ratio) and ratio < th.nack_repair_ratio_warning:
                sev, thr, name = "warning", th.nack_repair_ratio_warning, "nack_repair_ratio_warning"
            else:
                sev, thr, name = "ok", th.unrepaired_loss_pct_warning, "unrepaired_loss_pct_warning"
            text = str(s.verdict)
            if str(s.capture_side) != "sender":
                text += f"; {unrep} of {expected} packets never repaired ({pct:.1f} %)"
            ev = [int(x) for x in re.findall(r"\d+", str(s.evidence or ""))]
            if not ev and len(o):
                ev = list(o["first_nack_frame"]) + list(o["repair_frame"].dropna())
            out.append(_f("recovery", subject, sev, "recovery.nack", text, pct, "%", thr, name, _frames(ev)))
            p95 = float(s.repair_delay_p95_ms)
            if not np.isnan(p95) and p95 > th.nack_repair_p95_ms:
                slow = o[o["repair_delay_ms"] > th.nack_repair_p95_ms]
                out.append(_f("recovery", subject, "warning", "recovery.nack_delay",
                              f"retransmissions are slow: p95 {p95:.0f} ms after the NACK", p95, "ms",
                              th.nack_repair_p95_ms, "nack_repair_p95_ms", _frames(slow["repair_frame"])))
        out.extend(_retransmission_loss(th, leg.streams, leg.rtx_pairs, outcomes, by_ssrc))
        out.extend(_keyframes(ctx, th, leg, by_ssrc))
    if not out:
        out.append(_f("recovery", "recovery", "ok", "recovery.nack",
                      "no loss in the captured media and no NACK: nothing to repair"))
    return out


def _retransmission_loss(th: Thresholds, st: pd.DataFrame, pairs: pd.DataFrame, outcomes: pd.DataFrame,
                         by_ssrc: dict) -> list[dict]:
    """Retransmissions that were lost themselves: holes in an RTX stream, and numbers NACKed more than once."""
    out = []
    for p in pairs.itertuples(index=False):
        media = by_ssrc.get(int(p.media_ssrc))
        if media is None:
            continue
        rtx = st[st["ssrc"].astype(np.int64) == int(p.rtx_ssrc)]
        holes = int(rtx["lost"].sum()) if len(rtx) else 0
        o = outcomes[outcomes["media_ssrc"].astype(np.int64) == int(p.media_ssrc)]
        renacked = o[o["nacks"] > 1]
        if not holes and not len(renacked):
            continue
        sent = int(rtx["packets"].sum()) if len(rtx) else 0
        pct = 100.0 * holes / (sent + holes) if sent + holes else 0.0
        parts = []
        if holes:
            parts.append(f"{holes} of {sent + holes} retransmissions on RTX ssrc {int(p.rtx_ssrc)} lost "
                         f"({pct:.1f} %)")
        if len(renacked):
            parts.append(f"{len(renacked)} packets NACKed again (their first NACK or retransmission was lost)")
        sev = "warning" if pct >= th.loss_pct_warning or len(renacked) else "info"
        out.append(_f("recovery", _stream_subject(media), sev, "recovery.retransmission_loss",
                      "; ".join(parts), len(renacked) + holes, "packets",
                      evidence=_frames(list(renacked["first_nack_frame"]) + list(renacked["repair_frame"].dropna()))))
    return out


def _keyframes(ctx: Analysis, th: Thresholds, leg, by_ssrc: dict) -> list[dict]:
    """PLI/FIR -> the keyframe that answered it (`ctx.keyframe_delays`: pli.keyframe_delays, the one answer, also
    the notebooks'), judged per media stream of the leg.  Codecs from the SDP, else guessed from the payload's
    shape (`pli.guess_video_codecs`)."""
    kfr = leg.keyframe_requests
    if kfr is None or not len(kfr):
        return []
    delays = ctx.keyframe_delays(max(5.0, 5 * th.pli_keyframe_ms / 1000))
    delays = delays[(delays["leg"] == leg.name).to_numpy(bool)]
    out = []
    for ssrc, d in delays.groupby(delays["media_ssrc"].astype(np.int64), sort=True):
        r = by_ssrc.get(int(ssrc))
        if r is None:
            continue
        reqs = kfr[kfr["media_ssrc"].astype(np.int64).to_numpy() == ssrc]
        subject = _stream_subject(r)
        kinds = "/".join(sorted(set(reqs["kind"].astype(str).str.upper())))
        if not d["keyframes_told"].iloc[0]:
            out.append(_f("recovery", subject, "info", "recovery.keyframe",
                          f"{len(reqs)} {kinds} keyframe requests; the keyframes cannot be told (payload unreadable "
                          "or no detector for the codec)", len(reqs), "requests", evidence=_frames(reqs["frame"])))
            continue
        answered = d[d["answered"]]
        missing = int(d.loc[~d["answered"], "requests"].sum())
        ev = list(reqs["frame"]) + [int(x) for x in answered["keyframe_frame"]]
        worst = float(answered["delay_ms"].max()) if len(answered) else np.nan
        sev = "warning" if missing or (len(answered) and worst > th.pli_keyframe_ms) else "ok"
        text = f"{len(reqs)} {kinds} keyframe request{'s' if len(reqs) != 1 else ''}"
        if len(answered):
            text += f", answered by a keyframe within {_ms(worst)} (slowest)"
        if missing:
            text += f"; {missing} not followed by any keyframe in the capture"
        if ctx.codecs_guessed:
            text += f" (codec {', '.join(sorted(set(ctx.video_codecs.values())))} read from the payload: no SDP)"
        out.append(_f("recovery", subject, sev, "recovery.keyframe", text, worst, "ms", th.pli_keyframe_ms,
                      "pli_keyframe_ms", _frames(ev)))
    return out


# -- RTCP -------------------------------------------------------------------------------------------------------

RTCP_MIN_INTERVAL_S = 5.0  # RFC 3550 §6.2: the minimum interval between a participant's RTCP reports


def _rtcp(ctx: Analysis, th: Thresholds) -> list[dict]:
    cap = ctx.cap
    media = ctx.media
    readable, total = ctx.rtcp_readable
    if not total:
        longest = float((media["last_t"] - media["first_t"]).max()) if len(media) else 0.0
        if len(media) and longest < RTCP_MIN_INTERVAL_S:
            # RFC 3550 §6.2: a report is due only after the minimum interval (5 s; half of it for the first), so
            # streams this short owe none and their silence says nothing about the receivers
            return [_f("rtcp", "rtcp", "info", "rtcp.reports",
                       f"no RTCP in the capture for {_n(len(media), 'RTP stream')}, none longer than "
                       f"{longest:.1f} s: too short for a report to be due (RTCP's {RTCP_MIN_INTERVAL_S:.0f} s "
                       "minimum interval)", longest, "s",
                       RTCP_MIN_INTERVAL_S, "RTCP minimum interval")]
        if len(media):
            return [_f("rtcp", "rtcp", "warning", "rtcp.reports",
                       f"no RTCP in the capture for {len(media)} RTP streams: no receiver reports to compare")]
        return [_f("rtcp", "rtcp", "info", "rtcp.reports", "no RTCP in the capture: nothing to compare")]
    if not readable:
        return [_f("rtcp", "rtcp", "info", "rtcp.srtcp",
                   f"RTCP is SRTCP-encrypted and no key opened it ({total} compound packets): the receivers' reports "
                   "cannot be compared with the capture", evidence=_frames(cap.rtcp["frame"].head(3)))]
    rv = ctx.receiver_view
    out = []
    for i, r in rv.iterrows():
        m = media.loc[i]
        subject = _stream_subject(m)
        if not int(r["reports"]):
            continue
        reported = r["reported_cumulative_lost"]
        seen = r["lost_until_report"]
        if _na(reported) or _na(seen):
            continue
        reported, seen = int(reported), int(seen)
        ev = _frames([r["report_frame"]])
        expected = int(r["reported_highest_seq"]) - int(m["first_seq"]) + 1 if not _na(r["reported_highest_seq"]) else 0
        pct = 100.0 * reported / expected if expected > 0 else 0.0
        if abs(reported - seen) <= max(th.rtcp_lost_tolerance, 0.1 * max(reported, seen)):
            out.append(_f("rtcp", subject, "ok", "rtcp.lost",
                          f"the receiver's report agrees with the capture: {reported} lost reported, "
                          f"{seen} missing in the capture", reported - seen, "packets", th.rtcp_lost_tolerance,
                          "rtcp_lost_tolerance", ev))
        elif reported > seen:
            sev = ("error" if pct >= th.loss_pct_error else "warning" if pct >= th.loss_pct_warning else "info")
            out.append(_f("rtcp", subject, sev, "rtcp.lost",
                          f"the receiver reports {reported} packets lost ({pct:.1f} %) where the capture misses "
                          f"{seen}: lost after the capture point", pct, "%",
                          th.loss_pct_error if sev == "error" else th.loss_pct_warning,
                          "loss_pct_error" if sev == "error" else "loss_pct_warning", ev))
        else:
            out.append(_f("rtcp", subject, "info", "rtcp.lost",
                          f"the receiver reports fewer losses ({reported}) than the capture misses ({seen}): packets "
                          "reached it by another path, or its counter restarted", reported - seen, "packets",
                          th.rtcp_lost_tolerance, "rtcp_lost_tolerance", ev))
    if not out:
        out.append(_f("rtcp", "rtcp", "info", "rtcp.reports",
                      f"{readable} RTCP compounds readable but no report block about the captured streams"))
    if readable < total:
        out.append(_f("rtcp", "rtcp", "info", "rtcp.readable",
                      f"{total - readable} of {total} RTCP compounds could not be read (encrypted without a key)"))
    return out
