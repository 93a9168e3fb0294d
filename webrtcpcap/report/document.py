"""The report of one capture, as `webrtcpcap report` prints and writes it: the health summary as text (for a
terminal or a ticket) and one self-contained HTML file (verdict and stages, findings with their evidence frames,
ICE and DTLS ladders, per-stream sequence/loss/NACK pictures, bit rate and jitter, endpoint stats side by side).

    r = webrtcpcap.report.build("call.pcap", sdp=["offer.sdp", "answer.sdp"], keylog="keys.log",
                                getstats="stats.json")
    print(r.text()); Path("call.html").write_text(r.html()); sys.exit(r.exit_code)

Strategy: gather, then render.  `build` opens every input and turns each problem into a line of the report (an
input that cannot be read, a key log or stats file of another call, stats JSON of an unexpected shape), never an
exception; `Report.text` and `Report.html` only format.  The HTML has inline CSS, plots as base64 PNG and no
JavaScript; every string that came from a packet or a file goes through `html.escape` (`_e`) on its way into the
page.  Key material never enters the report: the key log and TURN credentials are named or counted, never shown,
and SDP `a=crypto` / `a=ice-pwd` lines are shown redacted.  Only file names are written, never directories.

One module of about 760 lines: the text and the HTML render the same sections from the same gathered facts, and
keeping them side by side is what keeps the two in step (the plots themselves live in report/plots).
"""

from __future__ import annotations

import base64
import html
import io
import os
import sys
import warnings

import numpy as np
import pandas as pd

from ..analysis import context as analysis, compare
from ..analysis import quality
from ..io import endpoints
from . import plots
from ..protocols import keys as _keys
from ..protocols import sdp as _sdp
from ..analysis.context import Analysis
from ..capture import open as _open
from ..io.errors import CaptureWarning, WebRTCPcapError
from .health import SEVERITIES, STAGE_TITLES, Health, Thresholds, _strip_paths
from .health import health as _health
from . import health_bwe
from ..tables.quic_tables import connection_line
from ..tables.streams import in_streams

EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE = 0, 1, 2
MAX_STREAM_PLOTS = 8      # per-stream pictures in the HTML (audio/video first, in order of first packet)
MAX_DTLS_LADDERS = 4      # DTLS associations drawn
ICE_LADDER_ROWS = 40      # ICE ladder arrows (the first ones: connection set-up; later runs of consent checks merge)
MAX_TABLE_ROWS = 200      # rows of any HTML table (the rest is counted)
PNG_DPI = 72              # plot resolution: a 9 x 4 inch plot is about 650 x 290 pixels, 20-60 kB
LADDER_DPI = 96           # the ladders carry small text: drawn finer (a 10-inch ladder is 960 px, the page's width)
TOP_FINDINGS = 3          # warnings and errors shown under the verdict, on the first screen
EVIDENCE_FOLD_CHARS = 40  # an evidence list longer than this is folded (<details>) after its first frames
REDACTED_SDP = ("a=crypto:", "a=ice-pwd:")  # SDP lines that carry secrets: shown as "<attribute> (not shown)"


def _e(value) -> str:
    """Text from a packet or a file, HTML-escaped (quotes too: it may land in an attribute)."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    return html.escape(str(value), quote=True)


class Report:
    """The report of one capture.

    - `name`: the capture's file name; `health`: its `webrtcpcap.report.health.Health`; `cap`: the open Capture (None
      when the file could not be read).
    - `analysis`: the capture's analysis context (`webrtcpcap.analysis.of(cap)`; None without a capture): the plots
      and the calls are drawn from the same analyses the health summary judged, each computed once.
    - `calls`: one row per call of the capture (CALLS_SCHEMA): session, start_t, end_t (s), endpoints (its main
      flow), ice (the selected pair, or why none), dtls (version and verdict of its associations), streams (media
      streams by kind, and the others by role), verdict and headline (the call's own, `Health.calls`).
    - `inputs`: one (what, file name, status) per input given; `errors`: inputs that could not be read (each one
      sentence); `notes`: remarks on inputs that read but do not fit (a key log or stats of another call).
    - `side_by_side`: the `webrtcpcap.compare.side_by_side` table when endpoint stats were given (else None);
      `disagreements` its rows where endpoint and capture disagree (agree is False).
    - `exit_code`: 2 when the capture or an input could not be read, 1 when the verdict is warning or error,
      0 otherwise (ok, info).
    """

    def __init__(self, name: str, health: Health, cap=None, *, inputs=None, errors=None, notes=None,
                 side_by_side: pd.DataFrame | None = None, sdp_texts=None):
        self.name = name
        self.health = health
        self.cap = cap
        self.inputs: list[tuple[str, str, str]] = list(inputs or [])
        self.errors: list[str] = list(errors or [])
        self.notes: list[str] = list(notes or [])
        self.side_by_side = side_by_side
        self._sdp_texts: list[tuple[str, str]] = list(sdp_texts or [])
        self.analysis: Analysis | None = analysis.of(cap) if cap is not None else None

    @property
    def calls(self) -> pd.DataFrame:
        rows = []
        a = self.analysis
        verdicts = self.health.calls
        for call in (a.calls if a is not None else []):
            s = call.sessions.iloc[0]
            v = verdicts.loc[call.session] if call.session in verdicts.index else None
            rows.append(dict(session=call.session, start_t=float(s["start_t"]), end_t=float(s["end_t"]),
                             endpoints=str(s["main_flow"]), ice=_call_ice(call), dtls=_call_dtls(call),
                             streams=_call_streams(call), verdict=None if v is None else str(v["verdict"]),
                             headline=None if v is None else str(v["headline"])))
        return pd.DataFrame(rows, columns=list(CALLS_SCHEMA)).astype(CALLS_SCHEMA)

    @property
    def unreadable(self) -> bool:
        """The capture itself could not be read."""
        f = self.health.findings
        return bool(((f["check"] == "capture.readable") & (f["severity"].astype(str) == "error")).any())

    @property
    def exit_code(self) -> int:
        if self.unreadable or self.errors:
            return EXIT_UNREADABLE
        return EXIT_PROBLEMS if self.health.verdict in ("warning", "error") else EXIT_OK

    @property
    def disagreements(self) -> pd.DataFrame:
        sbs = self.side_by_side
        if sbs is None:
            return pd.DataFrame()
        return sbs[sbs["agree"].eq(False).fillna(False).astype(bool)]

    # -- text ---------------------------------------------------------------------------------------------------

    def text(self) -> str:
        """The terminal report: the health text, then the inputs (problems first) and the endpoint stats where
        they disagree with the capture."""
        lines = [self.health.text().rstrip(), ""]
        calls = self.calls
        if len(calls):
            lines.append(f"Calls ({len(calls)})")
            for r in calls.itertuples(index=False):
                lines.append(f"  call {r.session}  {r.start_t:.1f}-{r.end_t:.1f} s  {r.endpoints}")
                lines.append(f"  {'':<8} ICE {r.ice}; {r.dtls}; {r.streams}")
                if not pd.isna(r.verdict) and len(calls) > 1:  # one call: its verdict is the capture's, above
                    lines.append(f"  {'':<8} verdict {str(r.verdict).upper()}: {r.headline}")
            lines.append("")
        if self.errors or self.notes or self.inputs:
            lines.append("Inputs")
            lines += [f"  error    {m}" for m in self.errors]
            lines += [f"  note     {m}" for m in self.notes]
            lines += [f"  {what:<8} {name}: {status}" if status else f"  {what:<8} {name}"
                      for what, name, status in self.inputs]
            lines.append("")
        quic = self._quic_lines()
        if quic:
            lines += ["QUIC connections (not WebRTC)"] + [f"  {q}" for q in quic] + [""]
        sbs = self.side_by_side
        if sbs is not None:
            d = self.disagreements
            compared = int(sbs["agree"].notna().sum())
            lines.append(f"Endpoint stats vs capture: {len(sbs)} rows, {compared} compared, {len(d)} disagree")
            for r in d.itertuples(index=False):
                node = f" {r.node}" if not pd.isna(r.node) else ""
                lines.append(f"  {r.source}{node}: {r.subject}: {r.metric}: endpoint {_s(r.endpoint_value)}, "
                             f"capture {_s(r.capture_value)}")
                if not pd.isna(r.note):
                    lines.append(f"  {'':<8} {r.note}")
            lines.append("")
        return "\n".join(lines).rstrip() + "\n"

    def __repr__(self) -> str:
        return self.text()

    # -- HTML ---------------------------------------------------------------------------------------------------

    def html(self) -> str:
        """The report as one self-contained HTML page (inline CSS, base64 PNG plots, no JavaScript)."""
        h = self.health
        body = [f"<h1>webrtcpcap report: {_e(self.name)}</h1>",
                f'<p class="verdict sev-{_e(h.verdict)}"><strong>{_e(h.verdict.upper())}</strong> {_e(h.headline)}</p>',
                *self._top_findings_html(),
                f"<p>{h.frames} frames over {h.duration_s:.1f} s. Exit code {self.exit_code} "
                "(0 healthy, 1 problems found, 2 could not read).</p>",
                "<nav class=\"toc\">" + " · ".join(f'<a href="#{ident}">{_e(title)}</a>' for ident, title in TOC)
                + "</nav>"]
        body += _section("verdict", "Verdict and stages", self._stages_html())
        body += _section("calls", "Calls", self._calls_html())
        body += _section("inputs", "Inputs", self._inputs_html())
        body += _section("findings", "Findings and evidence", self._findings_html())
        a = self.analysis
        body += _section("ice", "ICE", _guard(a, "The ICE ladder", lambda: _ice_html(a)))
        body += _section("dtls", "DTLS", _guard(a, "The DTLS ladder", lambda: _dtls_html(a)))
        body += _section("streams", "Media streams: sequence, loss and NACK",
                         _guard(a, "The stream pictures", lambda: _streams_html(a)))
        body += _section("bitrate", "Bit rate and jitter",
                         _guard(a, "The bit rate and jitter plots", lambda: _bitrate_jitter_html(a)))
        body += _section("quality", "What the user saw and heard: freezes and audio",
                         _guard(a, "The freezes and audio estimates", lambda: _quality_html(a)))
        if a is not None and (bwe_html := _guard(a, "The bandwidth estimation plot", lambda: _bwe_html(a))):
            body += _section("bwe", "Bandwidth estimation: sent vs estimate vs delay", bwe_html)
        body += _section("endpoints", "Endpoint stats side by side", self._endpoints_html())
        quic = self._quic_lines()
        if quic:
            body += _section("quic", "QUIC connections (not WebRTC)", ["<ul>", *[f"<li>{_e(q)}</li>" for q in quic],
                                                                        "</ul>"])
        return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                f"<title>webrtcpcap report: {_e(self.name)}</title><style>{_CSS}</style></head><body>\n"
                + "\n".join(body) + "\n</body></html>\n")

    def _top_findings_html(self) -> list[str]:
        """The most important findings (errors, then warnings, in stage order; at most TOP_FINDINGS), each with
        its subject, so that the first screen says what went wrong and where."""
        f = self.health.findings
        sev = f["severity"].astype(str)
        worst = pd.concat([f[sev == "error"], f[sev == "warning"]]).head(TOP_FINDINGS)
        if not len(worst):
            return []
        more = int(sev.isin(["error", "warning"]).sum()) - len(worst)
        items = "".join(f"<li>{_sev(r.severity)} {_e(STAGE_TITLES.get(str(r.stage), r.stage))}: {_e(r.subject)}: "
                        f"{_e(_without_call(r.subject, r.finding))}</li>" for r in worst.itertuples(index=False))
        tail = f' <a href="#findings">{more} more</a>' if more > 0 else ""
        return [f'<div id="top-findings"><ol>{items}</ol>{tail}</div>']

    def _quic_lines(self) -> list[str]:
        """One line per QUIC connection of the capture (webrtcpcap.tables.quic_tables.connection_line): traffic that is not
        the call, named by version, ALPN and server name.  Plain text: the HTML escapes it."""
        if self.cap is None:
            return []
        try:
            return [connection_line(r) for r in self.cap.quic_connections.itertuples(index=False)]
        except Exception:  # noqa: BLE001 - a remark that cannot be made must not stop the report
            return []

    def _stages_html(self) -> list[str]:
        rows = [(_sev(r["severity"]), _e(STAGE_TITLES.get(stage, stage)), str(int(r["findings"])),
                 _e(r["headline"])) for stage, r in self.health.stages.iterrows()]
        return [_table(["severity", "stage", "findings", "headline"], rows, raw=True)]

    def _calls_html(self) -> list[str]:
        calls = self.calls
        if not len(calls):
            return ["<p>No call in the capture (no STUN, DTLS, RTP or RTCP flow).</p>"]
        rows = [(_e(r.session), _e(f"{r.start_t:.1f}-{r.end_t:.1f} s"), _e(r.endpoints), _e(r.ice), _e(r.dtls),
                 _e(r.streams), _sev(r.verdict) if not pd.isna(r.verdict) else "", _e(r.headline))
                for r in calls.itertuples(index=False)]
        return [f"<p>{len(calls)} call{'s' if len(calls) != 1 else ''} in the capture"
                + (": each is judged on its own (its findings name it)." if len(calls) > 1 else ".") + "</p>",
                _table(["call", "time", "endpoints", "ICE pair", "DTLS", "streams", "verdict", "headline"], rows,
                       raw=True)]

    def _findings_html(self) -> list[str]:
        f = self.health.findings
        rows = []
        for r in f.itertuples(index=False):
            measured = "" if pd.isna(r.measured) else f"{r.measured:.4g} {'' if pd.isna(r.unit) else r.unit}"
            threshold = ("" if pd.isna(r.threshold) else
                         f"{r.threshold:g} ({'' if pd.isna(r.threshold_name) else r.threshold_name})")
            rows.append((_sev(r.severity), _e(STAGE_TITLES.get(str(r.stage), r.stage)), _e(r.subject),
                         _e(r.finding), _e(measured), _e(threshold), _evidence_html(r.evidence)))
        return ["<p>Evidence: the frame numbers to open in Wireshark (<code>frame.number == N</code>; "
                "at most the first 24 per finding).</p>",
                _table(["severity", "stage", "subject", "finding", "measured", "threshold", "evidence frames"],
                       rows, raw=True)]

    def _inputs_html(self) -> list[str]:
        out = []
        if self.errors:
            out.append('<ul class="problems">' + "".join(f'<li class="sev-error">{_e(m)}</li>'
                                                         for m in self.errors) + "</ul>")
        if self.notes:
            out.append('<ul class="notes">' + "".join(f'<li class="sev-warning">{_e(m)}</li>'
                                                      for m in self.notes) + "</ul>")
        out.append(_table(["input", "file", "status"], self.inputs))
        for name, text in self._sdp_texts:
            out.append(f"<details><summary>SDP {_e(name)}</summary><pre>{_e(_redact_sdp(text))}</pre></details>")
        return out

    def _endpoints_html(self) -> list[str]:
        sbs = self.side_by_side
        if sbs is None:
            return ["<p>No endpoint stats given (<code>--getstats</code>, <code>--janus-handle-info</code>).</p>"]
        d = self.disagreements
        out = [f"<p>{len(sbs)} rows, {int(sbs['agree'].notna().sum())} compared, {len(d)} disagree "
               "(agree: blank where the two sides do not count the same thing).</p>"]
        cols = ["source", "node", "subject", "metric", "endpoint_value", "capture_value", "agree",
                "evidence_frames", "note"]
        rows = []
        for r in sbs[cols].itertuples(index=False):
            agree = "" if pd.isna(r.agree) else ("yes" if r.agree else "NO")
            cls = {"NO": "sev-error", "yes": "sev-ok"}.get(agree, "")
            rows.append(tuple(_e(v) for v in r[:6]) + (f'<span class="{cls}">{agree}</span>',
                                                        f"<code>{_e(r.evidence_frames)}</code>", _e(r.note)))
        out.append(_table(["source", "node", "subject", "metric", "endpoint", "capture", "agree", "evidence",
                           "note"], rows, raw=True))
        return out


TOC = (("verdict", "Verdict and stages"), ("calls", "Calls"), ("inputs", "Inputs"),
       ("findings", "Findings and evidence"), ("ice", "ICE"), ("dtls", "DTLS"), ("streams", "Media streams"),
       ("bitrate", "Bit rate and jitter"), ("quality", "Freezes and audio"), ("endpoints", "Endpoint stats"))


def _without_call(subject, finding) -> str:
    """A finding's sentence without the "call N: " its subject already says."""
    head = str(subject).split(": ", 1)[0] + ": "
    text = str(finding)
    return text.removeprefix(head) if head.startswith(("call ", "outside any call")) else text


def _evidence_html(evidence) -> str:
    """Evidence frames as code that wraps; a long list folds after its first frames (a <details>, no script)."""
    text = "" if evidence is None or pd.isna(evidence) else str(evidence)
    if len(text) <= EVIDENCE_FOLD_CHARS:
        return f'<code class="frames">{_e(text)}</code>'
    cut = text[:EVIDENCE_FOLD_CHARS].rsplit(",", 1)[0]
    return (f'<details class="frames"><summary>{_e(cut)},…</summary>'
            f'<code class="frames">{_e(text)}</code></details>')


def ladder_axis(times) -> str:
    """"time" when the ladder's arrows are far enough apart on a time axis for their labels not to overlap,
    "order" (one row per arrow, labelled with its time) when they crowd: the TURN allocation of a relayed call
    sends a dozen transactions within 15 ms, then one refresh 12 s later.  Far enough: no two consecutive
    arrows closer than a quarter of an even spread (the rows of a ladder are about a label high)."""
    t = np.sort(np.asarray(list(times), dtype=float))
    t = t[np.isfinite(t)]
    if len(t) < 2:
        return "time"
    span = float(t[-1] - t[0])
    if span <= 0:
        return "order"
    return "order" if float(np.diff(t).min()) < 0.25 * span / (len(t) - 1) else "time"


def _s(v) -> str:
    return "-" if v is None or pd.isna(v) else str(v)


def _sev(severity) -> str:
    s = str(severity)
    return f'<span class="sev sev-{_e(s)}">{_e(s)}</span>'


def _section(ident: str, title: str, content: list[str]) -> list[str]:
    return [f'<section id="{ident}"><h2>{_e(title)}</h2>', *content, "</section>"]


def _table(header: list[str], rows, raw: bool = False) -> str:
    """An HTML table; cells are escaped here unless `raw` (then the caller escaped them)."""
    rows = list(rows)
    more = len(rows) - MAX_TABLE_ROWS
    rows = rows[:MAX_TABLE_ROWS]
    cell = (lambda v: str(v)) if raw else (lambda v: _e(f"{v:.4g}" if isinstance(v, float) else v))
    out = ["<table><thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr></thead><tbody>"]
    out += ["<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows]
    out.append("</tbody></table>")
    if more > 0:
        out.append(f"<p>… and {more} more rows.</p>")
    return "".join(out)


def _redact_sdp(text: str) -> str:
    out = []
    for line in text.splitlines():
        for prefix in REDACTED_SDP:
            if line.strip().startswith(prefix):
                line = f"{prefix}… (secret, not shown)"
        out.append(line)
    return "\n".join(out)


def _img(fig, alt: str, dpi: int = PNG_DPI) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<figure><img alt="{_e(alt)}" src="data:image/png;base64,{data}"></figure>'


def _guard(cap, what: str, fn) -> list[str]:
    """A picture of the HTML report: `fn()`'s HTML, or a sentence saying why it could not be drawn (never an
    exception)."""
    if cap is None:
        return ["<p>The capture could not be read: nothing to draw.</p>"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn()
    except Exception as e:  # noqa: BLE001 - a report must come out; say which picture is missing and why
        return [f'<p class="sev-warning">{_e(what)} could not be drawn: {_e(type(e).__name__)}: '
                f"{_e(_strip_paths(str(e), ''))}</p>"]


def _ice_html(a: Analysis) -> list[str]:
    stun = a.capture.stun
    out = []
    tx = a.ice_transactions
    if len(tx):
        axis = "order" if len(tx) > ICE_LADDER_ROWS else ladder_axis(tx["first_t"].head(ICE_LADDER_ROWS))
        endpoints = len(set(tx["client"].astype(str)) | set(tx["server"].astype(str)))
        rows = min(len(tx), ICE_LADDER_ROWS)
        size = (min(max(8.0, 2.8 * endpoints), 13.0), min(max(3.5, 0.32 * rows + 1.8), 16.0))
        out.append(_img(plots.ice_ladder(tx, stun, max_rows=ICE_LADDER_ROWS, y=axis, figsize=size),
                        f"ICE ladder: STUN transactions (one row per {'arrow' if axis == 'order' else 'time'})",
                        dpi=LADDER_DPI))
    else:
        out.append("<p>No STUN in the capture.</p>")
    pairs = a.candidate_pairs
    if len(pairs):
        cols = ["transport", "local", "remote", "state", "checks", "successes", "errors", "unanswered", "rtt_ms",
                "nominated", "selected", "media_packets"]
        out.append("<h3>Candidate pairs</h3>")
        out.append(_table(cols, pairs[cols].astype(object).itertuples(index=False)))
    if len(stun):
        agents = (stun.assign(endpoint=stun["src"].astype(str) + ":" + stun["sport"].astype(str))
                  .groupby(["endpoint", "username", "software"], dropna=False, observed=True, sort=False)
                  .agg(messages=("frame", "size"), first_frame=("frame", "min")).reset_index())
        out.append("<h3>STUN senders: USERNAME and SOFTWARE as sent</h3>")
        out.append(_table(["sender", "USERNAME", "SOFTWARE", "messages", "first frame"],
                          agents.astype(object).itertuples(index=False)))
    return out


def _dtls_html(a: Analysis) -> list[str]:
    fl = a.dtls_flights
    if not len(fl):
        return ["<p>No DTLS handshake in the capture.</p>"]
    out = []
    assocs = list(dict.fromkeys(fl["association"].tolist()))
    import matplotlib.pyplot as plt  # deferred: matplotlib, only when the report draws

    for n in assocs[:MAX_DTLS_LADDERS]:
        rows = int((fl["association"] == n).sum())
        fig, ax = plt.subplots(figsize=(10.0, min(max(3.5, 0.5 * rows + 1.8), 24.0)))
        plt.close(fig)
        plots.dtls_ladder(fl, association=n, ax=ax)
        fig.tight_layout()
        out.append(_img(fig, f"DTLS ladder of association {n}", dpi=LADDER_DPI))
    if len(assocs) > MAX_DTLS_LADDERS:
        out.append(f"<p>… and {len(assocs) - MAX_DTLS_LADDERS} more DTLS associations.</p>")
    return out


def _streams_html(a: Analysis) -> list[str]:
    c = a.capture
    st = a.streams
    if not len(st):
        return ["<p>No RTP streams in the capture.</p>"]
    out = [_table(["ssrc", "kind", "codec", "role", "from", "to", "packets", "lost", "late", "duplicates",
                   "jitter ms", "kbit/s", "longest gap ms"],
                  [(int(r.ssrc), r.kind, r.codec, _role(r), f"{r.src}:{r.sport}",
                    f"{r.dst}:{r.dport}", r.packets, r.lost, r.reordered, r.duplicates, _round(r.jitter_ms),
                    _round(r.bitrate_kbps), _round(r.max_delta_ms)) for r in st.itertuples(index=False)])]
    gaps = a.gaps
    outcomes = a.nack_outcomes if len(a.nack_outcomes) else None
    media = st[st["kind"].astype(str).isin(["audio", "video"]) & (st["role"].astype(str) == "media")]
    chosen = media if len(media) else st
    ssrcs = list(dict.fromkeys(int(s) for s in chosen["ssrc"]))
    for ssrc in ssrcs[:MAX_STREAM_PLOTS]:
        row = chosen[chosen["ssrc"] == ssrc].iloc[0]
        title = f"ssrc {ssrc} {row['kind']} {'' if pd.isna(row['codec']) else row['codec']}"
        if outcomes is not None and (outcomes["media_ssrc"].astype("int64") == ssrc).any():
            title += ": losses and NACK"
            fig = plots.nack_sequence_plot(c.rtp, outcomes, ssrc, gaps, title=title)
        else:
            title += ": sequence and losses"
            fig = plots.sequence_plot(c.rtp, ssrc, gaps, title=title)
        out.append(f"<h3>{_e(title)}</h3>")
        out.append(_img(fig, f"RTP {title}"))
    if len(ssrcs) > MAX_STREAM_PLOTS:
        out.append(f"<p>… and {len(ssrcs) - MAX_STREAM_PLOTS} more streams (see the table).</p>")
    if outcomes is None:
        out.append("<p>No NACK picture: the readable RTCP holds no NACK (or SRTCP could not be decrypted: "
                   "see the Recovery stage).</p>")
    return out


def _bitrate_jitter_html(a: Analysis) -> list[str]:
    c = a.capture
    if not len(c.rtp):
        return ["<p>No RTP in the capture.</p>"]
    out = [_img(plots.bitrate_plot(c.rtp, 1.0), "RTP bit rate per stream")]
    st = a.streams
    pv = a.packet_view
    media_view = pv[in_streams(pv, st[st["role"].astype(str) == "media"])]  # RTX timing is not jitter
    out.append(_img(plots.jitter_plot(media_view), "RTP interarrival jitter per media stream"))
    return out


def _bwe_html(a: Analysis) -> list[str]:
    """The BWE plot of each media direction with congestion control feedback (webrtcpcap.bwe, at most two); nothing
    when the capture's readable RTCP has no transport-cc, CCFB, REMB or TMMBR (the section is then left out)."""
    r = health_bwe.analysed(a)
    if r is None or not r.has_feedback:
        return []
    out = [f"<p>{_e(len(r.episodes))} overuse episode{'s' if len(r.episodes) != 1 else ''} (delay-gradient detector "
           "in the spirit of GCC's trendline filter, shaded).</p>"]
    for d in r.directions()[:2]:
        out.append(_img(plots.bwe_plot(r, d), f"bandwidth estimation {d[0]}:{d[1]} → {d[2]}:{d[3]}"))
    return out


def _quality_html(a: Analysis) -> list[str]:
    """The freezes (webrtcpcap.quality.freezes) as a table, one frame-interval plot per video stream with its
    freezes shaded, and the audio streams' concealment and MOS estimates."""
    summary = quality.freeze_summary(a)
    fz = quality.freezes(a)
    aq = quality.audio_quality(a)
    if not len(summary) and not len(aq):
        return ["<p>No audio or video media streams.</p>"]
    out = []
    if len(summary):
        out.append(_table(["ssrc", "from", "to", "frames", "fps", "freezes", "freeze s", "keyframe interval s",
                           "not judged"],
                          [(int(r.ssrc), f"{r.src}:{r.sport}", f"{r.dst}:{r.dport}", int(r.frames), _round(r.fps),
                            int(r.freeze_count), _round(r.total_freeze_duration), _round(r.keyframe_interval),
                            "" if pd.isna(r.not_judged) else r.not_judged) for r in summary.itertuples(index=False)]))
    if len(fz):
        out.append("<h3>Freezes (W3C webrtc-stats definition)</h3>")
        out.append(_table(["ssrc", "start s", "duration s", "frames before", "cause", "evidence", "frames"],
                          [(int(r.ssrc), _round(r.start), _round(r.duration), int(r.frames_before), str(r.cause),
                            r.evidence, f"{int(r.first_frame)}, {int(r.last_frame)}")
                           for r in fz.itertuples(index=False)]))
    elif len(summary):
        out.append("<p>No video freeze (W3C webrtc-stats definition).</p>")
    rendered = quality.rendered_frames(a)
    for r in summary.head(MAX_STREAM_PLOTS).itertuples(index=False):
        title = f"ssrc {int(r.ssrc)} video: frame interval, frames per second and freezes"
        out.append(f"<h3>{_e(title)}</h3>")
        out.append(_img(plots.frame_interval_plot(rendered, fz, int(r.ssrc), title=title), title))
    if len(aq):
        out.append("<h3>Audio: concealment and MOS (estimates)</h3>")
        out.append(_table(["ssrc", "codec", "lost", "loss bursts", "late", "concealed s (estimate)", "BurstR",
                           "one-way delay ms", "Ie / Bpl", "R", "MOS (estimate)", "inputs from"],
                          [(int(r.ssrc), r.codec, int(r.lost), int(r.loss_bursts), int(r.late), _round(r.concealed_s),
                            _round(r.burst_ratio), _round(r.one_way_delay_ms), f"{r.ie:g} / {r.bpl:g}",
                            _round(r.r_factor), _round(r.mos), f"{r.model}; {r.delay_source}; {r.codec_values_source}")
                           for r in aq.itertuples(index=False)]))
    return out


CALLS_SCHEMA: dict[str, str] = {"session": "int64", "start_t": "float64", "end_t": "float64", "endpoints": "string",
                                "ice": "string", "dtls": "string", "streams": "string", "verdict": "string",
                                "headline": "string"}


def _call_ice(call: Analysis) -> str:
    pairs = call.candidate_pairs
    sel = pairs[pairs["selected"]] if len(pairs) else pairs
    if len(sel):
        p = sel.iloc[0]
        return f"{p['transport']} {p['local']} ↔ {p['remote']}"
    if not len(pairs):
        return "no connectivity check"
    return f"no pair selected ({len(pairs)} checked)"


def _call_dtls(call: Analysis) -> str:
    assoc = call.dtls_associations
    if not len(assoc):
        return "no DTLS handshake"
    return ", ".join(f"{'DTLS' if pd.isna(r.version) else r.version} {r.verdict}"
                     for r in assoc.itertuples(index=False))


def _call_streams(call: Analysis) -> str:
    st = call.streams
    if not len(st):
        return "no RTP stream"
    media = call.media
    kinds = media["kind"].astype(str).value_counts()
    parts = [f"{int(kinds[k])} {k}" for k in sorted(kinds.index)]
    others = st.drop(index=media.index)
    roles = others["role"].astype(str).value_counts() if "role" in others.columns else pd.Series(dtype=int)
    parts += [f"{int(roles[k])} {k}" for k in sorted(roles.index)]
    return f"{len(st)} stream{'s' if len(st) != 1 else ''} (" + ", ".join(parts) + ")"


def _role(r) -> str:
    """A stream's role for the table: "media", or "rtx of 0x…" for a stream repairing another."""
    role = str(r.role)
    return role if pd.isna(r.role_of) else f"{role} of {int(r.role_of)}"


def _round(x) -> str:
    return "" if x is None or pd.isna(x) else f"{float(x):.1f}"


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:1.5em auto;max-width:1100px;color:#222;
padding:0 1em}
h1{font-size:1.4em}h2{font-size:1.15em;border-bottom:1px solid #ccc;margin-top:1.8em}h3{font-size:1em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}td,th{border:1px solid #ddd;padding:2px 6px;
vertical-align:top;text-align:left;overflow-wrap:break-word}th{background:#f3f3f3;white-space:nowrap}
code,pre{font-size:.9em}pre{background:#f7f7f7;padding:.5em;overflow-x:auto;white-space:pre-wrap}
img{max-width:100%;height:auto}figure{margin:.5em 0}
table{display:block;max-width:100%;overflow-x:auto}code.frames{overflow-wrap:anywhere;word-break:break-all}
details.frames summary{cursor:pointer;font-family:monospace;font-size:.9em}
.sev{font-weight:bold}.sev-ok{color:#1a7f37}.sev-info{color:#0969da}.sev-warning{color:#9a6700}
.sev-error{color:#cf222e}.verdict{font-size:1.1em;padding:.5em;border:2px solid currentColor}
#top-findings ol{margin:.3em 0 .3em 1.2em;padding:0}nav.toc{margin:.8em 0;font-size:.9em;line-height:1.6}
"""


# -- gathering ----------------------------------------------------------------------------------------------------

def _name(path) -> str:
    return os.path.basename(os.fspath(path))


def _msg(e: BaseException) -> str:
    return _strip_paths(str(getattr(e, "strerror", None) or e), "")


def build(capture, *, sdp=(), keylog=None, turn_passwords: dict[str, str] | None = None,
          turn_secret: str | None = None, getstats=None, handle_info=None,
          thresholds: Thresholds | None = None) -> Report:
    """Open `capture` (a path) with its inputs, judge it (`webrtcpcap.health`) and compare endpoint stats
    (`webrtcpcap.compare.side_by_side`) when given; every input problem becomes a line of the report.

    `sdp`: SDP file paths; `keylog`: an NSS key log path; `turn_passwords` ({username: password}) and
    `turn_secret`: TURN credentials (counted in the report, never shown); `getstats`: a getStats /
    webrtc-internals JSON path; `handle_info`: a Janus admin API handle_info JSON path.  Never raises for bad
    input: an unreadable file is in `Report.errors` (exit code 2), a file that reads but does not fit the capture
    (a key log or stats of another call, an SDP whose ICE ufrag no STUN message uses) in `Report.notes`."""

    name = _name(capture)
    inputs: list[tuple[str, str, str]] = [("capture", name, "")]
    errors: list[str] = []
    notes: list[str] = []
    sdps, sdp_texts = [], []
    for path in sdp or ():
        try:
            with open(path, "rb") as f:
                raw = f.read()
            record = _sdp.parse(raw)
        except (OSError, WebRTCPcapError, ValueError) as e:
            errors.append(f"SDP {_name(path)} cannot be read: {_msg(e)}")
            inputs.append(("SDP", _name(path), "cannot be read"))
            continue
        sdps.append(record)
        sdp_texts.append((_name(path), raw.decode("utf-8", "replace")))
        inputs.append(("SDP", _name(path), f"{len(record.media)} media sections"))
    kl = None
    if keylog is not None:
        try:
            kl = _keys.load_keylog(keylog)
        except (OSError, ValueError) as e:
            errors.append(f"key log {_name(keylog)} cannot be read: {_msg(e)}")
            inputs.append(("key log", _name(keylog), "cannot be read"))
        else:
            if not kl.sessions and kl.malformed_lines:
                errors.append(f"key log {_name(keylog)} is not an NSS key log: no CLIENT_RANDOM or TLS 1.3 secret "
                              f"line, {kl.malformed_lines} lines in another format")
                kl = None
            elif not kl.sessions:
                notes.append(f"key log {_name(keylog)} has no CLIENT_RANDOM or TLS 1.3 secret line: nothing to "
                             "decrypt with")
            n12 = len(kl) if kl is not None else 0
            n13 = len(kl.tls13_client_randoms()) if kl is not None else 0
            counts = [f"{n} TLS {v} session{'' if n == 1 else 's'}" for v, n in (("1.2", n12), ("1.3", n13))
                      if n or (v == "1.2" and not n13)]
            inputs.append(("key log", _name(keylog), f"{', '.join(counts)} (contents never shown)"))
    if turn_secret:
        inputs.append(("TURN", "--turn-secret", "given (never shown)"))

    open_kwargs = dict(sdp=sdps or None, keylog=kl, turn_passwords=turn_passwords or None,
                       turn_secret=turn_secret or None)
    cap = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            cap = _open(capture, progress=False, **open_kwargs)
            _ = cap.packets
        except (WebRTCPcapError, OSError, ValueError):
            cap = None
        if cap is None:
            h = _health(capture, thresholds, **open_kwargs)  # gives the `capture` error finding, with the reason
        else:
            h = _health(cap, thresholds)
            for check in (lambda: _key_notes(cap, keylog, kl), lambda: _sdp_notes(cap, sdp_texts, sdps)):
                try:
                    notes += check()
                except Exception as e:  # noqa: BLE001 - a remark that cannot be made must not stop the report
                    notes.append(f"an input check could not be made: {type(e).__name__}: {_msg(e)}")
            notes += _time_notes(cap.packets)
            inputs += _turn_inputs(cap, turn_passwords)
            skipped = getattr(cap, "unreadable_payloads", {})
            if skipped:  # the analyses went on without them; say how many and the first
                frame, why = min(skipped.items())
                notes.append(f"{len(skipped)} RTP packets were skipped by the payload checks (RTX, keyframes) "
                             f"because their payload could not be read, the first {_strip_paths(why, name)}")
    for w in caught:
        if issubclass(w.category, CaptureWarning):
            notes.append(_strip_paths(str(w.message), name))
    if cap is None and turn_passwords:
        inputs.append(("TURN", "passwords", f"{len(turn_passwords)} user(s), not checked: the capture could not be "
                                            "read (passwords never shown)"))

    sbs = None
    if cap is not None and (getstats is not None or handle_info is not None):
        sbs = _compare(cap, getstats, handle_info, inputs, errors, notes)
    elif getstats is not None or handle_info is not None:
        for what, path in (("getStats", getstats), ("handle_info", handle_info)):
            if path is not None:
                inputs.append((what, _name(path), "not compared: the capture could not be read"))
    return Report(name, h, cap, inputs=inputs, errors=errors, notes=list(dict.fromkeys(notes)),
                  side_by_side=sbs, sdp_texts=sdp_texts)


def _time_notes(packets: pd.DataFrame) -> list[str]:
    """A finding for frames whose time is far from the rest (a wrong clock: time 0, year 2106) or missing: the
    time plots leave them out (plots.time_bins), and here they are counted and the first is named."""
    t = packets["t"].to_numpy(dtype=float)
    bins = plots.time_bins(t, 1.0)
    far = np.flatnonzero(~bins.inside & np.isfinite(t))
    none = int((~np.isfinite(t)).sum())
    out = []
    if len(far):
        first = packets.iloc[int(far[0])]
        out.append(f"{len(far)} frames have times more than an hour from the rest of the capture (a wrong clock?), "
                   f"the first frame {int(first['frame'])} at {first['time']}: the time plots leave them out")
    if none:
        out.append(f"{none} frames have no time (a pcapng simple packet block, or a time stamp out of range)")
    return out


def _turn_inputs(cap, turn_passwords) -> list[tuple[str, str, str]]:
    """One input line per TURN user given a password: how many of the messages sent under that USERNAME had their
    MESSAGE-INTEGRITY checked and passed, or that none carries it (a password that checks nothing is said, not
    silently ignored).  Usernames are in the capture anyway; the passwords are never shown."""
    out = []
    stun = cap.stun
    for user in turn_passwords or {}:
        mine = stun[(stun["username"] == user).fillna(False).to_numpy(bool)] if len(stun) else stun
        checked = mine["integrity_ok"].dropna() if len(mine) else mine
        if not len(mine):
            seen = sorted({u for u in stun["username"].dropna().astype(str) if ":" not in u or u[:1].isdigit()})
            hint = f" (TURN usernames in the capture: {', '.join(seen[:5])})" if seen else ""
            status = f"no STUN message carries this USERNAME: nothing checked{hint}"
        elif not len(checked):
            status = f"{len(mine)} STUN messages carry it, none with a MESSAGE-INTEGRITY to check"
        else:
            failed = int((~checked.astype(bool)).sum())
            verdict = "all pass" if not failed else f"{failed} fail (a wrong password, or another realm)"
            status = f"MESSAGE-INTEGRITY of {len(checked)} of its {len(mine)} STUN messages checked: {verdict}"
        out.append(("TURN", user, status + " (password never shown)"))
    return out


def _key_notes(cap, keylog, kl) -> list[str]:
    if kl is None or not kl.sessions:
        return []
    d = cap.decryption
    if d is None:
        return []
    if not len(d.summary):
        why = "; ".join(d.problems) if d.problems else "no DTLS-SRTP handshake in the capture"
        opened = cap.dtls_decrypted
        handshake_records = int(opened["decrypted"].sum()) if len(opened) else 0
        if handshake_records:  # DTLS 1.3: the key log opened the handshake, which never gave media keys
            problems = f": {'; '.join(d.problems)}" if d.problems else ""
            return [f"key log {_name(keylog)} opened {handshake_records} encrypted DTLS records of the handshake "
                    f"but no SRTP or SRTCP packet{problems}"]
        return [f"key log {_name(keylog)} opened nothing in this capture (a key log of another call?): {why}"]
    return [f"key log {_name(keylog)}: {p}" for p in d.problems]


def _sdp_notes(cap, sdp_texts, sdps) -> list[str]:
    """An SDP whose ICE ufrag no STUN USERNAME in the capture carries is probably of another call."""
    stun = cap.stun
    if not len(stun):
        return []
    names = set(stun["username"].dropna().astype(str))
    parts = {p for u in names for p in u.split(":")}
    out = []
    for (name, _), record in zip(sdp_texts, sdps):
        ufrags = {m.ice_ufrag for m in record.media if getattr(m, "ice_ufrag", None)}
        ufrags |= {record.ice_ufrag} if getattr(record, "ice_ufrag", None) else set()
        if ufrags and not ufrags & parts and names:
            out.append(f"SDP {name}: its ICE ufrag {', '.join(sorted(ufrags))} is in no STUN USERNAME of the "
                       "capture (an SDP of another call?)")
    return out


def _compare(cap, getstats, handle_info, inputs, errors, notes):

    loaded = {}
    for key, what, path, loader in (("getstats", "getStats", getstats, endpoints.load_getstats),
                                    ("handle_info", "handle_info", handle_info, endpoints.load_handle_info)):
        if path is None:
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                loaded[key] = loader(path)
            except (WebRTCPcapError, OSError, ValueError) as e:
                errors.append(f"{what} {_name(path)} cannot be used: {_msg(e)}")
                inputs.append((what, _name(path), "cannot be used"))
                continue
            except Exception as e:  # noqa: BLE001 - JSON of a shape nobody foresaw: a line, not a traceback
                errors.append(f"{what} {_name(path)} has an unexpected shape ({type(e).__name__}: {_msg(e)})")
                inputs.append((what, _name(path), "cannot be used"))
                continue
        notes += [f"{what} {_name(path)}: {w.message}" for w in caught if issubclass(w.category, UserWarning)]
        inputs.append((what, _name(path), f"{len(loaded[key])} rows"))
    if not loaded:
        return None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            sbs = compare.side_by_side(cap, getstats=loaded.get("getstats"), handle_info=loaded.get("handle_info"))
        except Exception as e:  # noqa: BLE001 - stats that load but do not compare: a line, not a traceback
            errors.append(f"endpoint stats could not be compared with the capture ({type(e).__name__}: {_msg(e)})")
            return None
    notes += [f"endpoint stats: {w.message}" for w in caught if issubclass(w.category, endpoints.StatsWarning)]
    return sbs


def matplotlib_headless() -> None:
    """Use matplotlib's Agg backend when pyplot is not imported yet (the CLI draws into files, never on screen)."""
    if "matplotlib.pyplot" not in sys.modules:
        import matplotlib  # deferred: matplotlib, only when the report draws

        matplotlib.use("Agg")


__all__ = ["Report", "build", "EXIT_OK", "EXIT_PROBLEMS", "EXIT_UNREADABLE", "SEVERITIES"]
