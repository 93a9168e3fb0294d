"""The health summary's result: the `Thresholds` it judges by, the `Health` it returns (its tables, the terminal
text and the severity strip), the finding rows' schema, and the small helpers every stage's judge writes its
findings with (`_f`, `_frames`, `_n`, `_ms`).  The judges are in `health_network` and `health_media`; the entry
point `health()` in `health`."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..analysis.handshake import compact_frames
from ..net.layers import endpoint as _endpoint

SEVERITIES = ["ok", "info", "warning", "error"]
STAGES = ["capture", "ice", "turn", "dtls", "media", "recovery", "rtcp", "quality"]
STAGE_TITLES = {"capture": "Capture", "ice": "ICE", "turn": "TURN", "dtls": "DTLS", "media": "Media",
                "recovery": "Recovery", "rtcp": "RTCP", "quality": "Quality"}
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
      media, recovery, rtcp, quality), subject (string: "capture", the candidate pair, the DTLS association, "ssrc 0x1234abcd
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
      (ice, turn, dtls, media, recovery, rtcp, quality) with that stage's worst severity in the call (null where no finding
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
            head = _headline_of(mine)  # as the call's own capture would headline it
            if len(mine) and not _CALL_PREFIX.match(head):  # what went right, said of the call
                head = f"call {n}: {head}"
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
        again: a capture taken at the sender shows the loss only in the reports), that the longest video freeze
        (quality.freeze) comes before the gap in the packets (media.freeze) it is seen in, and that a stage not judged for
        want of a key (UNJUDGED_CHECKS) is no headline.  None when the headline says what went right instead
        (verdict ok, or info from such stages alone)."""
        return _headline_finding_of(self.findings)

    @property
    def headline(self) -> str:
        """The headline finding's sentence, after the stream it is about when it is about one ("ssrc 1234 video VP8
        a:p → b:p: ..."); when there is none (`headline_finding`), what went right (ICE, DTLS, media), and the stages
        a key would have let judge."""
        return _headline_of(self.findings)

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

    def _repr_html_(self) -> str:
        """A notebook's view: the verdict and its headline, one row per stage, then the findings that are not "ok"
        (none on a healthy call: the stage rows say what went right); every text from the capture is escaped."""
        colours = {"ok": "#1a7f37", "info": "#0969da", "warning": "#9a6700", "error": "#cf222e"}

        def sev(value) -> str:
            v = str(value)
            return f"<b style='color:{colours.get(v, '#000')}'>{html.escape(v.upper())}</b>"

        left = "style='text-align:left'"
        out = [f"<div><b>webrtcpcap health</b>: {html.escape(str(self.name))}, {self.frames:,} frames, "
               f"{self.duration_s:.1f} s<br>verdict: {sev(self.verdict)} - {html.escape(self.headline)}",
               f"<table><tr><th {left}>stage</th><th {left}>severity</th><th {left}>findings</th>"
               f"<th {left}>headline</th></tr>"]
        for stage, row in self.stages.iterrows():
            out.append(f"<tr><td {left}>{html.escape(STAGE_TITLES[stage])}</td><td {left}>{sev(row['severity'])}</td>"
                       f"<td {left}>{int(row['findings'])}</td><td {left}>{html.escape(str(row['headline']))}</td></tr>")
        out.append("</table>")
        shown = self.findings[self.findings["severity"].astype(str) != "ok"]
        if len(shown):
            out.append(f"<table><tr><th {left}>severity</th><th {left}>subject</th><th {left}>finding</th>"
                       f"<th {left}>frames</th></tr>")
            for r in shown.itertuples(index=False):
                evidence = "" if pd.isna(r.evidence) else str(r.evidence)
                out.append(f"<tr><td {left}>{sev(r.severity)}</td><td {left}>{html.escape(str(r.subject))}</td>"
                           f"<td {left}>{html.escape(str(r.finding))}</td><td {left}>{html.escape(evidence)}</td></tr>")
            out.append("</table>")
        return "".join(out) + "</div>"

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

def _headline_finding_of(findings: pd.DataFrame) -> pd.Series | None:
    """Health.headline_finding of these findings (a capture's, or one call's)."""
    verdict = _worst(findings["severity"].astype(str))
    f = findings[findings["severity"].astype(str) == verdict]
    if verdict == "info":
        f = f[~f["check"].isin(UNJUDGED_CHECKS)]
    if not len(f) or verdict == "ok":
        return None
    if str(f["stage"].iloc[0]) == "recovery" and (f["check"] == "rtcp.lost").any():
        f = f[f["check"] == "rtcp.lost"]
    if str(f["check"].iloc[0]) == "media.freeze" and (f["check"] == "quality.freeze").any():
        # a gap in the packets is what the capture shows; the freeze (which stream, when, how long, why) is what
        # the user saw: the longest one heads the report (issue 20)
        fz = f[f["check"] == "quality.freeze"]
        return fz.loc[fz["measured"].astype("float64").idxmax()]
    return f.iloc[0]


def _headline_of(findings: pd.DataFrame) -> str:
    """Health.headline of these findings (a capture's, or one call's)."""
    if not len(findings):
        return "nothing to judge"
    row = _headline_finding_of(findings)
    if row is not None:
        return _headline(row)
    ok = findings[findings["severity"].astype(str) == "ok"]
    parts = []
    for check, text in (("ice.connected", "ICE connected"), ("dtls.completed", "DTLS completed")):
        if (ok["check"] == check).any():
            parts.append(text)
    n = int((ok["check"] == "media.stream").sum())
    if n:
        parts.append(f"{n} media stream{'s' if n != 1 else ''} without loss, freeze or jitter problems")
    head = "no problems found" + (": " + ", ".join(parts) if parts else "")
    unjudged = findings[findings["check"].isin(UNJUDGED_CHECKS)]
    if _worst(findings["severity"].astype(str)) == "info" and len(unjudged):
        stages = " and ".join(dict.fromkeys(STAGE_TITLES[str(s)] for s in unjudged["stage"]))
        head += f"; {stages} not judged without the key log (open with keylog=)"
    return head


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


def _strip_paths(message: str, name: str) -> str:
    """A message with any absolute path reduced to its file name (reports carry no absolute paths)."""
    return re.sub(r"(/[^\s:'\"]+)+/([^\s:'\"/]+)", r"\2", message)


def _stream_subject(r) -> str:
    kind = str(r["kind"]) if not _na(r["kind"]) else "rtp"
    codec = f" {r['codec']}" if "codec" in r and not _na(r["codec"]) and str(r["codec"]) != kind else ""
    return (f"ssrc {int(r['ssrc'])} {kind}{codec} {_endpoint(r['src'], r['sport'])} → "
            f"{_endpoint(r['dst'], r['dport'])}")
