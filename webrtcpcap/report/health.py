"""A health summary of one capture: did ICE, TURN, DTLS, media, loss recovery and the RTCP reports work, each
finding with a severity, one plain sentence, the measured value, the threshold it was judged by, and the frames
that back it.

    h = webrtcpcap.health(cap)                  # or health("call.pcap", sdp=..., keylog=...): open errors are findings
    print(h)                                    # the terminal report (h.text())
    h.verdict, h.stages, h.findings             # "ok" / "info" / "warning" / "error"; per stage; every finding
    webrtcpcap.health(cap, Thresholds(loss_pct_warning=0.5))

Strategy: one function per stage over the capture's tables and the analyses (ice, handshake, streams, nack), each
returning finding rows; a stage that raises gives one `info` finding saying it could not be judged, so a report is
always produced.  A stage that cannot be judged from the capture (no SRTCP key, no DTLS in the file) says so as
`info` rather than guessing.  Every number in a sentence is rounded, so the text is deterministic and changes only
when the call changes; no absolute path is ever written.
"""

from __future__ import annotations

import dataclasses
import os
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..analysis import context as analysis
from ..analysis.context import Analysis, is_media, on_leg
from ..capture import Capture
from ..capture import open as _open
from ..io.errors import CaptureError, WebRTCPcapError
from ..analysis.handshake import compact_frames
from ..net.layers import endpoint as _endpoint
from ..tables.streams import extend_seq

SEVERITIES = ["ok", "info", "warning", "error"]
STAGES = ["capture", "ice", "turn", "dtls", "media", "recovery", "rtcp"]
STAGE_TITLES = {"capture": "Capture", "ice": "ICE", "turn": "TURN", "dtls": "DTLS", "media": "Media",
                "recovery": "Recovery", "rtcp": "RTCP"}
EVIDENCE_MAX = 24  # frames listed per finding (the first ones)
# Checks that say a stage could not be judged for want of a key (SRTP/SRTCP no key opened): information about the
# capture, not the call, so never the headline of an otherwise healthy call (issue 21).
UNJUDGED_CHECKS = ("media.srtp_auth", "recovery.srtcp", "rtcp.srtcp", "rtcp.readable")
_CALL_PREFIX = re.compile(r"^(call \d+|outside any call): ")  # how a finding of one call of several starts

FINDINGS_SCHEMA: dict[str, str] = {
    "stage": "category",
    "subject": "string",
    "severity": "category",
    "check": "string",
    "finding": "string",
    "measured": "Float64",
    "unit": "string",
    "threshold": "Float64",
    "threshold_name": "string",
    "evidence": "string",
    "session": "Int64",
}

STAGES_SCHEMA: dict[str, str] = {
    "severity": "category",
    "findings": "int64",
    "headline": "string",
}


@dataclass(frozen=True)
class Thresholds:
    """The limits the health summary judges by; override any of them: `Thresholds(loss_pct_warning=0.5)`.

    - ice_connect_ms: first connectivity check -> the selected pair connected (nominated, else first success);
      slower is a warning.
    - dtls_ms: first ClientHello -> last flight; slower is a warning.  dtls_retransmitted_flights: that many
      flights sent again (RFC 6347 timer) is a warning.
    - loss_pct_warning, loss_pct_error: packets missing from an audio/video stream as captured (before any repair),
      in % of the expected; also applied to the loss a receiver reports in RTCP that the capture cannot see.
    - late_pct_warning, duplicate_pct_warning: reordered (late) and duplicated packets, in % of a stream's packets.
    - jitter_ms_warning: RFC 3550 interarrival jitter at the end of a stream.
    - freeze_ms: the longest time between two packets of an audio/video stream above this is an error (a freeze or
      an outage).
    - srtp_auth_fail_pct_error: SRTP packets failing authentication above this % of a stream is an error (wrong
      keys, corruption); any failure below it is a warning.
    - nack_repair_ratio_warning: NACKed losses repaired by retransmission below this ratio is a warning.
    - unrepaired_loss_pct_warning, unrepaired_loss_pct_error: losses of a NACK-repaired (video) stream never
      repaired, in % of its expected packets.
    - nack_repair_p95_ms: 95th percentile of NACK -> retransmission above this is a warning.
    - pli_keyframe_ms: PLI/FIR -> the next keyframe of that stream slower than this (or none) is a warning.
    - rtcp_lost_tolerance: a receiver's reported cumulative lost may differ from what the capture lacks by this
      many packets (in flight, duplicates) before it counts as a disagreement.
    """

    ice_connect_ms: float = 1000.0
    dtls_ms: float = 1000.0
    dtls_retransmitted_flights: int = 1
    loss_pct_warning: float = 1.0
    loss_pct_error: float = 10.0
    late_pct_warning: float = 1.0
    duplicate_pct_warning: float = 1.0
    jitter_ms_warning: float = 30.0
    freeze_ms: float = 1000.0
    srtp_auth_fail_pct_error: float = 50.0
    nack_repair_ratio_warning: float = 0.9
    unrepaired_loss_pct_warning: float = 0.5
    unrepaired_loss_pct_error: float = 5.0
    nack_repair_p95_ms: float = 500.0
    pli_keyframe_ms: float = 1000.0
    rtcp_lost_tolerance: int = 3


def _worst(severities) -> str:
    ranks = [SEVERITIES.index(s) for s in severities]
    return SEVERITIES[max(ranks)] if ranks else "ok"


class Health:
    """The health of one capture.

    - `findings`: one row per finding (FINDINGS_SCHEMA), in stage order: stage (category: capture, ice, turn, dtls,
      media, recovery, rtcp), subject (string: "capture", the candidate pair, the DTLS association, "ssrc 0x1234abcd
      video VP8 10.0.0.1:5000 → 10.0.0.2:6000", the TURN allocation), severity (ordered category ok < info <
      warning < error), check (string: what was checked, e.g. "ice.connected", "media.loss", "recovery.nack"),
      finding (one plain sentence), measured (Float64), unit (string), threshold (Float64) and threshold_name (the
      `Thresholds` field that judged it; null when no threshold applies), evidence (string: the frames to open,
      compact "8-11,96"; at most the first 24 frames), session (Int64: the call of `cap.sessions` the finding is
      about; null for the capture stage and where the capture holds no call).  When the capture holds several
      calls, every stage but the capture is judged call by call, and subject and finding start with "call N: "
      ("outside any call: " for streams or handshakes that belong to none).
    - `stages`: one row per stage (index: stage): severity (the worst of its findings), findings (count), headline
      (the first of its worst findings).
    - `verdict`: the worst severity overall; `headline` the sentence behind it.
    - `calls`: one row per call (index: session, as `cap.sessions` numbers them): verdict (the worst severity of
      its findings), headline (the first of its worst findings), findings (count), then one column per stage
      (ice, turn, dtls, media, recovery, rtcp) with that stage's worst severity in the call (null where no finding
      of the stage is about the call: a STUN-only call has no DTLS or media to judge; "TURN not used" is said once
      for the capture).
      Empty when the capture holds no call.
    - `text()` (also `repr`): the terminal report; `thresholds`: the Thresholds used.
    """

    def __init__(self, name: str, frames: int, duration_s: float, findings: pd.DataFrame, thresholds: Thresholds,
                 calls: pd.DataFrame | None = None):
        self.name = name
        self.frames = frames
        self.duration_s = duration_s
        self.findings = findings
        self.thresholds = thresholds
        self.sessions = calls if calls is not None else pd.DataFrame({"session": pd.Series([], dtype="int64")})

    @property
    def calls(self) -> pd.DataFrame:
        stages = STAGES[1:]
        rows = []
        f = self.findings
        for n in self.sessions["session"].astype(int):
            mine = f[(f["session"] == n).fillna(False).to_numpy(bool)]
            sev = _worst(mine["severity"].astype(str))
            worst = mine[mine["severity"].astype(str) == sev]
            head = _headline(worst.iloc[0]) if len(worst) else "nothing to judge"
            of_stage = [mine.loc[mine["stage"] == st, "severity"].astype(str) for st in stages]
            rows.append((n, sev, head, len(mine), *(_worst(f) if len(f) else None for f in of_stage)))
        out = pd.DataFrame(rows, columns=["session", "verdict", "headline", "findings", *stages]).set_index("session")
        for col in ["verdict", *stages]:
            out[col] = pd.Categorical(out[col], categories=SEVERITIES, ordered=True)
        return out.astype({"headline": "string", "findings": "int64"})

    @property
    def stages(self) -> pd.DataFrame:
        rows = []
        for stage in STAGES:
            f = self.findings[self.findings["stage"] == stage]
            if not len(f):
                continue
            sev = _worst(f["severity"].astype(str))
            worst = f[f["severity"].astype(str) == sev]
            head = str(worst["finding"].iloc[0])
            if len(worst) > 1:  # several subjects share the stage's severity: say so, rather than pick one
                head += f" (and {len(worst) - 1} more {sev} finding{'s' if len(worst) > 2 else ''})"
            rows.append((stage, sev, len(f), head))
        out = pd.DataFrame(rows, columns=["stage"] + list(STAGES_SCHEMA)).set_index("stage")
        out["severity"] = pd.Categorical(out["severity"], categories=SEVERITIES, ordered=True)
        return out.astype({"findings": "int64", "headline": "string"})

    @property
    def verdict(self) -> str:
        return _worst(self.findings["severity"].astype(str))

    @property
    def headline_finding(self) -> pd.Series | None:
        """The finding behind the headline: the first of the worst severity (stage order), except that a loss the
        receiver reports (rtcp.lost) comes before the recovery findings it causes (retransmissions lost, NACKed
        again: a capture taken at the sender shows the loss only in the reports), and that a stage not judged for
        want of a key (UNJUDGED_CHECKS) is no headline.  None when the headline says what went right instead
        (verdict ok, or info from such stages alone)."""
        f = self.findings[self.findings["severity"].astype(str) == self.verdict]
        if self.verdict == "info":
            f = f[~f["check"].isin(UNJUDGED_CHECKS)]
        if not len(f) or self.verdict == "ok":
            return None
        if str(f["stage"].iloc[0]) == "recovery" and (f["check"] == "rtcp.lost").any():
            f = f[f["check"] == "rtcp.lost"]
        return f.iloc[0]

    @property
    def headline(self) -> str:
        """The headline finding's sentence, after the stream it is about when it is about one ("ssrc 1234 video VP8
        a:p → b:p: ..."); when there is none (`headline_finding`), what went right (ICE, DTLS, media), and the stages
        a key would have let judge."""
        if not len(self.findings):
            return "nothing to judge"
        row = self.headline_finding
        if row is not None:
            return _headline(row)
        ok = self.findings[self.findings["severity"].astype(str) == "ok"]
        parts = []
        for check, text in (("ice.connected", "ICE connected"), ("dtls.completed", "DTLS completed")):
            if (ok["check"] == check).any():
                parts.append(text)
        n = int((ok["check"] == "media.stream").sum())
        if n:
            parts.append(f"{n} media stream{'s' if n != 1 else ''} without loss, freeze or jitter problems")
        head = "no problems found" + (": " + ", ".join(parts) if parts else "")
        unjudged = self.findings[self.findings["check"].isin(UNJUDGED_CHECKS)]
        if self.verdict == "info" and len(unjudged):
            stages = " and ".join(dict.fromkeys(STAGE_TITLES[str(s)] for s in unjudged["stage"]))
            head += f"; {stages} not judged without the key log (open with keylog=)"
        return head

    def stage(self, name: str) -> str:
        """The verdict (worst severity) of one stage; "ok" when it has no finding."""
        return _worst(self.findings.loc[self.findings["stage"] == name, "severity"].astype(str))

    def text(self) -> str:
        """The report as plain text: a header, the overall verdict, then each stage with its findings."""
        lines = [f"webrtcpcap health: {self.name}, {self.frames} frames, {self.duration_s:.1f} s",
                 f"verdict: {self.verdict.upper()} - {self.headline}", ""]
        stages = self.stages
        for stage, row in stages.iterrows():
            lines.append(f"{STAGE_TITLES[stage]:<9} {str(row['severity']).upper():<8} {row['headline']}")
            for r in self.findings[self.findings["stage"] == stage].itertuples(index=False):
                call = _CALL_PREFIX.match(str(r.subject))  # a call's findings name it in both: say it once
                finding = str(r.finding).removeprefix(call.group(0)) if call else r.finding
                lines.append(f"  {str(r.severity):<8} {r.subject}: {finding}")
                if not pd.isna(r.evidence) and r.evidence:
                    lines.append(f"  {'':<8} frames {r.evidence}")
            lines.append("")
        return "\n".join(lines).rstrip() + "\n"

    def __repr__(self) -> str:
        return self.text()

    def plot(self, ax=None):
        """A one-line-per-stage severity strip (matplotlib, imported here)."""
        import matplotlib.pyplot as plt  # deferred: matplotlib, seconds to import, for the users who plot

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 0.4 * max(len(self.stages), 1) + 0.6))
        colours = {"ok": "tab:green", "info": "tab:blue", "warning": "tab:orange", "error": "tab:red"}
        st = self.stages
        for i, (stage, row) in enumerate(st.iterrows()):
            ax.barh(i, 1, color=colours[str(row["severity"])])
            ax.text(0.02, i, f"{STAGE_TITLES[stage]}: {row['headline']}"[:110], va="center", fontsize=8)
        ax.set_yticks([])
        ax.set_xticks([])
        ax.invert_yaxis()
        ax.set_title(f"{self.name}: {self.verdict}")
        return ax


# -- helpers ----------------------------------------------------------------------------------------------------

def _headline(finding) -> str:
    """A finding as a headline: its sentence, after the stream it is about ("ssrc 1234 video VP8 a:p → b:p: ...";
    kind and direction) when its subject is a stream, so that the one line read alone says which."""
    subject, text = str(finding["subject"]), str(finding["finding"])
    call = _CALL_PREFIX.match(subject)
    stream = subject.removeprefix(call.group(0)) if call else subject
    if not stream.startswith("ssrc "):
        return text
    return f"{call.group(0) if call else ''}{stream}: {text.removeprefix(call.group(0)) if call else text}"


def _frames(values) -> str:
    v = sorted({int(x) for x in values if not pd.isna(x)})[:EVIDENCE_MAX]
    return compact_frames(v)


def _f(stage, subject, severity, check, finding, measured=None, unit=None, threshold=None, threshold_name=None,
       evidence=None) -> dict:
    return dict(stage=stage, subject=subject, severity=severity, check=check, finding=finding,
                measured=None if measured is None or pd.isna(measured) else float(measured), unit=unit,
                threshold=None if threshold is None else float(threshold), threshold_name=threshold_name,
                evidence=evidence or None)


def _na(x) -> bool:
    return x is None or x is pd.NA or (isinstance(x, float) and np.isnan(x))


def _n(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _ms(x: float) -> str:
    return f"{x:.0f} ms" if x >= 10 else f"{x:.1f} ms"


def _findings_frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(FINDINGS_SCHEMA))
    order = {s: i for i, s in enumerate(STAGES)}
    df = df.iloc[sorted(range(len(df)), key=lambda i: order[df["stage"].iloc[i]])].reset_index(drop=True)
    out = {}
    for col, dtype in FINDINGS_SCHEMA.items():
        values = df[col].astype(object).where(df[col].notna(), None)
        if col == "stage":
            out[col] = pd.Categorical(values, categories=STAGES, ordered=True)
        elif col == "severity":
            out[col] = pd.Categorical(values, categories=SEVERITIES, ordered=True)
        else:
            out[col] = pd.array(list(values), dtype=dtype)
    return pd.DataFrame(out)


# -- entry point ------------------------------------------------------------------------------------------------

def health(cap, thresholds: Thresholds | None = None, **open_kwargs) -> Health:
    """The health summary of a capture (see `Health`).  `cap` is an open Capture, or a path opened here with
    `open_kwargs` (sdp=, keylog=, turn_passwords=...); a file that cannot be read gives a Health with one `capture`
    error finding instead of an exception.  `thresholds`: a `Thresholds` (defaults when None).

    The analyses come from the capture's context (`webrtcpcap.analysis.of(cap)`), and the Health is kept
    there per Thresholds: the report, expect and a notebook asking again get the same one, computed once."""
    th = thresholds or Thresholds()
    if not isinstance(cap, Capture):
        name = os.path.basename(os.fspath(cap))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cap = _open(cap, progress=False, **open_kwargs)
        except (WebRTCPcapError, OSError, ValueError) as e:
            msg = _strip_paths(str(e), name)
            # the file itself (CaptureError, OSError), or one of the inputs given with it (a key, an SDP, a key log)
            what = "the file cannot be read" if isinstance(e, (CaptureError, OSError)) or not open_kwargs else \
                "the capture cannot be opened with the inputs given"
            return Health(name, 0, 0.0, _findings_frame([_f("capture", "capture", "error", "capture.readable",
                                                                f"{what}: {msg}")]), th)
    ctx = analysis.of(cap)
    return ctx.memo(("health", th), lambda: _judge(ctx, th))


def _judge(ctx: Analysis, th: Thresholds) -> Health:
    """Every stage: the capture as a whole, then each call (`ctx.calls`) when the capture holds several."""
    rows = _stage("capture", _capture, ctx, th)
    several = ctx.several_calls
    for stage, fn in (("ice", _ice), ("turn", _turn), ("dtls", _dtls), ("media", _media), ("recovery", _recovery),
                      ("rtcp", _rtcp)):
        if not several:
            only = ctx.calls[0].session if len(ctx.calls) == 1 else None
            rows.extend(dict(r, session=only) for r in _stage(stage, fn, ctx, th))
            continue
        out = []
        for call in _judged_calls(ctx, stage):
            for r in _stage(stage, fn, call, th):
                if r["check"] == "turn.allocation" and r["subject"] == "turn" and r["severity"] == "ok":
                    continue  # "TURN not used" per call says nothing; said once below when no call used it
                out.append(_in_call(r, call))
        rows.extend(out or _stage(stage, fn, ctx, th))
    packets = ctx.capture.packets
    duration = float(packets["t"].max()) if len(packets) else 0.0
    return Health(ctx.name, len(packets), duration, _findings_frame(rows), th, calls=ctx.sessions)


def _judged_calls(ctx: Analysis, stage: str) -> list[Analysis]:
    """The calls a stage judges one by one: ICE and TURN every call with STUN; DTLS, media, recovery and RTCP
    every call that got past STUN (a STUN-only call has no handshake or media to judge), then what lies outside
    every call."""
    s = ctx.sessions.set_index("session")
    if stage in ("ice", "turn"):
        return [c for c in ctx.calls if int(s.at[c.session, "stun"]) > 0]
    calls = [c for c in ctx.calls if str(s.at[c.session, "kind"]) != "stun"]
    return calls + ([ctx.outside] if ctx.outside is not None else [])


def _in_call(r: dict, call: Analysis) -> dict:
    """A finding of one call: the call named in its subject and its sentence (which may become the headline)."""
    name = "outside any call" if call.is_outside else f"call {call.session}"  # as _CALL_PREFIX reads it
    return dict(r, subject=f"{name}: {r['subject']}", finding=f"{name}: {r['finding']}",
                session=None if call.is_outside else call.session)


def _stage(stage: str, fn, ctx: Analysis, th: Thresholds) -> list[dict]:
    try:
        return list(fn(ctx, th))
    except Exception as e:  # noqa: BLE001 - a report must come out; the stage says why it could not judge
        return [_f(stage, stage, "info", f"{stage}.judged",
                   f"{STAGE_TITLES[stage]} could not be judged: {type(e).__name__}: {_strip_paths(str(e), ctx.name)}")]


def _strip_paths(message: str, name: str) -> str:
    """A message with any absolute path reduced to its file name (reports carry no absolute paths)."""
    return re.sub(r"(/[^\s:'\"]+)+/([^\s:'\"/]+)", r"\2", message)


def _stream_subject(r) -> str:
    kind = str(r["kind"]) if not _na(r["kind"]) else "rtp"
    codec = f" {r['codec']}" if "codec" in r and not _na(r["codec"]) and str(r["codec"]) != kind else ""
    return (f"ssrc {int(r['ssrc'])} {kind}{codec} {_endpoint(r['src'], r['sport'])} → "
            f"{_endpoint(r['dst'], r['dport'])}")


# -- capture ----------------------------------------------------------------------------------------------------

def _capture(ctx: Analysis, th: Thresholds) -> list[dict]:
    cap = ctx.cap
    p = cap.packets
    out = []
    if cap.problem:
        last = int(p["frame"].max()) if len(p) else None
        out.append(_f("capture", "capture", "warning", "capture.complete",
                      f"the file was read only in part ({_strip_paths(cap.problem, ctx.name)}); "
                      f"{len(p)} complete frames kept", evidence=_frames([last] if last else [])))
    kinds = p["kind"].astype(str)
    webrtc = kinds.isin(["stun", "dtls", "rtp", "rtcp", "turn-channel"])
    if not webrtc.any():
        out.append(_f("capture", "capture", "error", "capture.webrtc",
                      f"no WebRTC traffic (STUN, DTLS, RTP, RTCP, TURN) in {len(p)} frames" if len(p) else
                      "the capture holds no frames", measured=0, unit="frames"))
    # Only frames that could matter to a WebRTC analysis: those of WebRTC flows (a cut DNS or IGMP frame, as an
    # anonymised copy has, changes nothing).
    errors = p[p["error"].notna() & (webrtc | p["evidence"].notna())]
    if len(errors):
        top = errors["error"].astype(str).value_counts()
        out.append(_f("capture", "capture", "info", "capture.errors",
                      f"{len(errors)} frame{'s' if len(errors) != 1 else ''} of WebRTC flows could not be fully "
                      f"decoded (most often: {top.index[0]})",
                      measured=len(errors), unit="frames", evidence=_frames(errors["frame"])))
    frags = cap.fragments
    if len(frags):
        done = frags["reassembled_in"].dropna()
        incomplete = int(frags["reassembled_in"].isna().sum())
        sev = "warning" if incomplete else "info"
        text = (f"IP fragmentation: {len(frags)} fragments reassembled into {done.nunique()} datagrams "
                f"(datagrams larger than the path MTU)")
        if incomplete:
            text += f"; {incomplete} fragments never completed a datagram"
        out.append(_f("capture", "capture", sev, "capture.fragmentation", text, measured=len(frags),
                      unit="fragments", evidence=_frames(frags["frame"])))
    tcp = cap.tcp_streams
    stopped = tcp[tcp["framing"].notna() & tcp["problem"].notna()]  # WebRTC over TCP that could not be followed
    if len(stopped):
        first = stopped.iloc[0]
        out.append(_f("capture", "capture", "warning", "capture.tcp",
                      f"WebRTC over TCP: {_n(len(stopped), 'direction')} could not be followed to the end "
                      f"({_endpoint(first['src'], first['sport'])} > {_endpoint(first['dst'], first['dport'])}: "
                      f"{first['problem']}); what came after is not in the tables",
                      measured=len(stopped), unit="directions", evidence=_frames(stopped["problem_frame"])))
    icmp = cap.icmp
    if len(icmp):
        out.append(_f("capture", "capture", "info", "capture.icmp",
                      f"{len(icmp)} ICMP messages (e.g. port unreachable after a peer went away)",
                      measured=len(icmp), unit="messages", evidence=_frames(icmp["frame"])))
    if not any(r["severity"] in ("warning", "error") for r in out):
        span = float(p["t"].max()) if len(p) else 0.0
        out.insert(0, _f("capture", "capture", "ok", "capture.readable",
                         f"{len(p)} frames over {span:.1f} s, {int(webrtc.sum())} of them WebRTC",
                         measured=len(p), unit="frames"))
    return out


# -- ICE --------------------------------------------------------------------------------------------------------

def _ice(ctx: Analysis, th: Thresholds) -> list[dict]:
    s = ctx.ice_summary
    pairs = ctx.candidate_pairs
    checks = ctx.ice_checks
    stun = ctx.cap.stun
    types = ctx.candidate_types
    out = []

    def label(ep):
        t = types.get(str(ep))
        return f"{t} {ep}" if t else str(ep)

    if int(s["checks"]) == 0:
        if ctx.media_seen:
            return [_f("ice", "ice", "info", "ice.connected",
                       "no ICE connectivity check in the capture (it started after ICE, or the peers use no ICE): "
                       "ICE cannot be judged")]
        if len(stun):
            alloc = ctx.turn_allocations
            why = ""
            if len(alloc) and not alloc["allocated"].any():
                # the cause, in the sentence that becomes the headline: no relay, so no candidate to check
                states = ", ".join(dict.fromkeys(str(x).removeprefix("failed: ") for x in alloc["state"]))
                why = f"; every TURN allocation failed ({states}"
                why += ": wrong TURN credentials" if "401" in states and (alloc["allocate_401"] >= 2).all() else ""
                why += "), so there was no relay candidate to check"
            return [_f("ice", "ice", "error", "ice.connected",
                       "ICE never started: no connectivity check and no media in the capture, only "
                       f"{len(stun)} STUN/TURN messages{why}", measured=0, unit="checks",
                       evidence=_frames(stun["frame"]))]
        return [_f("ice", "ice", "info", "ice.connected", "no ICE traffic in the capture: ICE cannot be judged")]
    sel = pairs[pairs["selected"]]
    if len(sel):
        sel = sel.iloc[0]
        # the connect time counts from the first check of the selected pair's own ICE session (ufrag pair): an
        # earlier call or the session before an ICE restart is not part of it
        mine = checks["ufrags"].fillna("") == ("" if _na(sel["ufrags"]) else str(sel["ufrags"]))
        checks_of_session = checks[mine.to_numpy(bool)] if mine.any() else checks
        first_check_t = float(checks_of_session["first_t"].min())
        connected_t = sel["nominated_t"] if not _na(sel["nominated_t"]) else sel["first_success_t"]
        connected_t = float(connected_t) if not _na(connected_t) else float(sel["first_check_t"])
        ms = (connected_t - first_check_t) * 1000
        before = checks_of_session[checks_of_session["first_t"] <= connected_t + 1e-9]
        sev = "warning" if ms > th.ice_connect_ms else "ok"
        subject = f"{sel['transport']} {sel['local']} ↔ {sel['remote']}"
        text = (f"ICE connected in {_ms(ms)} on {label(sel['local'])} ↔ {label(sel['remote'])} after "
                f"{_n(len(before), 'check')}")
        if sel["transport"] != "udp":
            text += f" (over {sel['transport']})"
        ev = list(before["first_frame"]) + list(before["response_frame"].dropna())
        out.append(_f("ice", subject, sev, "ice.connected", text, ms, "ms", th.ice_connect_ms, "ice_connect_ms",
                      _frames(ev)))
        if s["consent_lost"] is True or (not _na(s["consent_lost"]) and bool(s["consent_lost"])):
            out.append(_f("ice", subject, "error", "ice.consent",
                          "consent freshness lost: more than 30 s without a successful check while media flowed "
                          "(RFC 7675)", s["consent_interval_max_s"], "s", 30.0, None))
        elif int(s["consent_unanswered"]):
            on = checks[(checks["first_t"] > connected_t) & (checks["response_cls"] == "none")]
            out.append(_f("ice", subject, "info", "ice.consent",
                          f"{int(s['consent_unanswered'])} of {int(s['consent_checks'])} consent checks after "
                          "connecting were not answered", int(s["consent_unanswered"]), "checks",
                          evidence=_frames(on["first_frame"])))
    elif ctx.media_seen and not (pairs["state"] == "succeeded").any():
        out.append(_f("ice", "ice", "error", "ice.connected",
                      f"ICE failed: none of {int(s['checks'])} checks on {len(pairs)} pairs succeeded, yet media "
                      "was seen", 0, "pairs", evidence=_frames(checks["first_frame"])))
    elif not (pairs["state"] == "succeeded").any():
        requests = int(checks["requests"].sum())
        span = float(checks["first_t"].max() - checks["first_t"].min())
        last_req = stun[stun["transaction_id"].isin(checks["transaction_id"])]
        if span == 0 and len(last_req):
            span = float(last_req["t"].max() - last_req["t"].min())
        errs = checks[checks["response_cls"] == "error"]
        if len(errs):
            codes = ",".join(str(int(c)) for c in dict.fromkeys(errs["error_code"].dropna()))
            why = f"answered with error {codes}" + (" (401: wrong ICE credentials)" if "401" in codes else "")
        else:
            why = "never answered"
        pl = ", ".join(f"{r.local} → {r.remote}" for r in pairs.itertuples(index=False))
        out.append(_f("ice", "ice", "error", "ice.connected",
                      f"ICE failed: {_n(int(s['checks']), 'check')} ({requests} requests over {span:.1f} s) on "
                      f"{len(pairs)} pair{'s' if len(pairs) != 1 else ''} ({pl}), {why}; no pair succeeded",
                      0, "pairs succeeded", evidence=_frames(last_req["frame"])))
    else:
        out.append(_f("ice", "ice", "warning", "ice.connected",
                      f"{int(s['pairs_succeeded'])} of {len(pairs)} pairs succeeded but no media followed on any",
                      int(s["pairs_succeeded"]), "pairs", evidence=_frames(checks["first_frame"])))
    if int(s["errors_401"]) and len(sel):
        e = checks[checks["error_code"] == 401]
        out.append(_f("ice", "ice", "warning", "ice.errors",
                      f"{int(s['errors_401'])} checks answered 401 Unauthorized (ICE credentials do not match)",
                      int(s["errors_401"]), "checks", evidence=_frames(e["response_frame"])))
    if int(s["errors_487"]):
        e = checks[checks["error_code"] == 487]
        out.append(_f("ice", "ice", "info", "ice.errors",
                      f"{int(s['errors_487'])} checks answered 487 Role Conflict (resolved by the agents)",
                      int(s["errors_487"]), "checks", evidence=_frames(e["response_frame"])))
    if int(s["ufrag_changes"]):
        later = []  # each later ICE session's own connect time, from its own first check
        for r in pairs[pairs["selected"]].iloc[1:].itertuples(index=False):
            t = r.nominated_t if not _na(r.nominated_t) else r.first_success_t
            mine = checks[(checks["ufrags"].fillna("") == ("" if _na(r.ufrags) else str(r.ufrags))).to_numpy(bool)]
            if not _na(t) and len(mine):
                later.append(f"{r.ufrags} connected in {_ms((float(t) - float(mine['first_t'].min())) * 1000)}")
        out.append(_f("ice", "ice", "info", "ice.restart",
                      f"{int(s['ufrag_changes'])} ICE restarts or separate ICE sessions (different ufrags)"
                      + (": " + ", ".join(later) if later else ""), int(s["ufrag_changes"]), "restarts"))
    return out


# -- TURN -------------------------------------------------------------------------------------------------------

def _turn(ctx: Analysis, th: Thresholds) -> list[dict]:
    alloc = ctx.turn_allocations
    if not len(alloc):
        return [_f("turn", "turn", "ok", "turn.allocation", "TURN not used (no allocation in the capture)")]
    stun = ctx.cap.stun
    direct = stun[~stun["relayed"].to_numpy(dtype=bool)] if "relayed" in stun.columns else stun
    tx = ctx.ice_transactions  # of the direct messages (relayed ones are the peer's, inside the allocation)
    out = []
    for a in alloc.itertuples(index=False):
        subject = f"{a.transport} {a.client} → TURN {a.server}"
        mine = tx[(tx["client"] == a.client) & (tx["server"] == a.server)]
        mine_rows = direct[direct["transaction_id"].isin(mine["transaction_id"])]
        ev = _frames(mine_rows["frame"])
        if a.credential_expired is True:
            out.append(_f("turn", subject, "error", "turn.credentials",
                          f"the TURN REST credential ({a.username}) had expired when Allocate was sent "
                          f"(expiry {a.rest_expiry:%Y-%m-%d %H:%M:%S} UTC)", evidence=ev))
        if a.allocated:
            parts = [f"allocated relay {a.relayed_address}"]
            if a.authenticated_after_401:
                parts.append("after the usual 401 challenge")
            if not _na(a.lifetime_s):
                parts.append(f"lifetime {int(a.lifetime_s)} s")
            if a.channels:
                parts.append(f"{a.channels} channel{'s' if a.channels != 1 else ''} bound")
            if a.permissions:
                parts.append(f"{a.permissions} permission{'s' if a.permissions != 1 else ''}")
            if a.refreshes:
                parts.append(f"{a.refreshes} refresh{'es' if a.refreshes != 1 else ''}")
            if not _na(a.released_t):
                parts.append(f"released at {a.released_t:.1f} s")
            sev = "warning" if a.errors else "ok"
            text = ", ".join(parts)
            if a.errors:
                text += f"; {a.errors} other error responses ({a.error_codes})"
            out.append(_f("turn", subject, sev, "turn.allocation", text[0].upper() + text[1:], a.errors,
                          "errors", evidence=ev))
            continue
        attempts = int(a.allocate_attempts)
        if attempts and a.allocate_401 == attempts and attempts >= 2:
            reqs = mine_rows[(mine_rows["method"] == "allocate") & (mine_rows["cls"] == "request")]
            integ = reqs["integrity_ok"].dropna() if "integrity_ok" in reqs.columns else pd.Series([], dtype=bool)
            extra = ""
            if len(integ) and not integ.astype(bool).any():
                extra = "; the requests' MESSAGE-INTEGRITY does not verify with the given TURN credentials"
            elif len(integ) and integ.astype(bool).all():
                extra = "; the requests' MESSAGE-INTEGRITY verifies with the given credentials (server-side problem?)"
            out.append(_f("turn", subject, "error", "turn.allocation",
                          f"401 loop: all {attempts} Allocate requests (user {a.username}) were answered "
                          f"401 Unauthorized, no relay was allocated: wrong TURN credentials{extra}",
                          attempts, "allocate 401", evidence=ev))
        elif str(a.state) == "no answer" and alloc["allocated"].any():
            # a browser tries TURN from every interface; one that got nowhere while another allocated is a note
            ok = alloc[alloc["allocated"].to_numpy(bool)].iloc[0]
            out.append(_f("turn", subject, "info", "turn.allocation",
                          f"allocation from {a.client} unanswered ({_n(attempts, 'Allocate request')} to "
                          f"{a.server}); another from {ok['client']} succeeded", attempts, "requests",
                          evidence=ev))
        elif str(a.state) == "no answer":
            out.append(_f("turn", subject, "error", "turn.allocation",
                          f"the TURN server never answered {attempts} Allocate requests", attempts, "requests",
                          evidence=ev))
        elif attempts:
            out.append(_f("turn", subject, "error", "turn.allocation",
                          f"no relay allocated: {a.state} (errors {'none' if _na(a.error_codes) else a.error_codes})", attempts,
                          "requests", evidence=ev))
        else:
            out.append(_f("turn", subject, "info", "turn.allocation",
                          f"TURN traffic without an Allocate in the capture ({a.state})", evidence=ev))
    return out


# -- DTLS -------------------------------------------------------------------------------------------------------

def _dtls(ctx: Analysis, th: Thresholds) -> list[dict]:
    assoc = ctx.dtls_associations
    if not len(assoc):
        if len(ctx.cap.rtp) and "dtls_srtp" in ctx.cap.rtp and ctx.cap.rtp["dtls_srtp"].any():
            why = "the capture starts after the DTLS handshake"
        elif len(ctx.cap.rtp):
            why = "the media is not DTLS-keyed (plain RTP or SDES)"
        elif len(ctx.cap.rtcp):  # reports prove media flowed: the capture holds part of the call
            why = "only RTCP in the capture (the handshake and the media are not in it)"
        elif not ctx.connected:
            why = "ICE never connected"
        else:
            why = "no media followed"
        return [_f("dtls", "dtls", "info", "dtls.completed", f"no DTLS handshake in the capture: {why}")]
    fl = ctx.dtls_flights
    out = []
    for a in assoc.itertuples(index=False):
        subject = f"{a.transport} client {a.client} ↔ server {a.server}"
        if a.relayed and not _na(a.peer):
            subject += f" (relayed, peer {a.peer})"
        ev = _frames(int(x) for x in re.findall(r"\d+", str(a.evidence_frames or "")))
        verdict = str(a.verdict)
        if verdict == "completed":
            ms = float(a.handshake_ms)
            sev = "warning" if ms > th.dtls_ms else "ok"
            text = f"DTLS completed in {_ms(ms)}" if not np.isnan(ms) else "DTLS completed"
            if not _na(a.version):
                text += f", {a.version}"
            if not _na(a.srtp_profile):
                text += f", SRTP profile {a.srtp_profile}"
            if not _na(a.cipher_suite):
                text += f", {a.cipher_suite}"
            if a.fingerprint_matches_sdp is True:
                text += ", certificates match the SDP fingerprints"
            if a.role_matches_setup is True:
                text += ", roles match a=setup"
            out.append(_f("dtls", subject, sev, "dtls.completed", text, ms, "ms", th.dtls_ms, "dtls_ms", ev))
        elif verdict == "incomplete-capture":
            out.append(_f("dtls", subject, "info", "dtls.completed",
                          f"DTLS cannot be judged: {a.verdict_detail}", evidence=ev))
        else:
            out.append(_f("dtls", subject, "error", "dtls.completed", f"DTLS {a.verdict_detail}", evidence=ev))
        mine = fl[(fl["association"] == a.association) & fl["retransmission"]]
        early = 0 if _na(a.early_client_hellos) else int(a.early_client_hellos)
        if early and early == len(mine):  # only ClientHellos the server was not ready for: not a loss
            out.append(_f("dtls", subject, "info", "dtls.retransmissions",
                          f"the ClientHello was sent {early + 1} times before the server answered: the server "
                          "started its own ICE checks only later (not ready, typically waiting for the SDP answer), "
                          "so these need not be losses", early, "retransmissions",
                          evidence=_frames(int(x) for fr in mine["frames"] for x in _expand(fr))))
        elif int(a.retransmitted_flights):
            frames = [int(x) for fr in mine["frames"] for x in _expand(fr)]
            n = int(a.retransmitted_flights)
            sev = "warning" if n >= th.dtls_retransmitted_flights else "info"
            out.append(_f("dtls", subject, sev, "dtls.retransmissions",
                          f"{n} flight{'s' if n != 1 else ''} retransmitted ({int(a.retransmissions)} records sent "
                          f"again, {len(mine)} retransmissions): handshake datagrams were lost, or held up "
                          "past the sender's retransmission timer",
                          n, "flights", th.dtls_retransmitted_flights, "dtls_retransmitted_flights",
                          _frames(frames)))
        if a.fingerprint_matches_sdp is False:
            out.append(_f("dtls", subject, "error", "dtls.fingerprint",
                          "a certificate does not match its SDP's a=fingerprint (wrong SDP, or a man in the middle)",
                          evidence=ev))
        if a.role_matches_setup is False:
            out.append(_f("dtls", subject, "error", "dtls.role",
                          "the DTLS roles contradict the SDPs' a=setup (RFC 5763 §5)", evidence=ev))
        if verdict == "completed" and _na(a.srtp_profile) and str(a.version) == "DTLS 1.3":
            out.append(_f("dtls", subject, "info", "dtls.srtp",
                          "the SRTP profile is in DTLS 1.3's encrypted EncryptedExtensions: not visible without the "
                          "key log", evidence=ev))
        elif verdict == "completed" and _na(a.srtp_profile):
            out.append(_f("dtls", subject, "info", "dtls.srtp",
                          "no SRTP profile negotiated (use_srtp absent: a data-channel-only association?)",
                          evidence=ev))
    return out


def _expand(compact: str) -> list[int]:
    """ "8-11,96" -> [8, 9, 10, 11, 96]."""
    out = []
    for part in str(compact or "").split(","):
        if "-" in part:
            lo, hi = part.split("-", 1)
            out.extend(range(int(lo), int(hi) + 1))
        elif part.strip():
            out.append(int(part))
    return out


# -- media ------------------------------------------------------------------------------------------------------

def _key(r) -> tuple:
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
        pos = rows_of.get(_key(r), np.zeros(0, dtype=np.int64))
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
