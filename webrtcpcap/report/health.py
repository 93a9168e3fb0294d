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

The parts: this module is the entry point (`health`, the stages run capture-wide or call by call); the result, its
thresholds, rendering and the finding helpers are in `health_result`; the judges in `health_network` (capture, ICE,
TURN, DTLS) and `health_media` (media, recovery, RTCP).  The judges are called through this module's names
(`_ice`, `_media`, ...) so that a test or the fuzzer's hooks can wrap one stage here.
"""

from __future__ import annotations

import os
import warnings

from ..analysis import context as analysis
from ..analysis.context import Analysis
from ..capture import Capture
from ..capture import open as _open
from ..io.errors import CaptureError, WebRTCPcapError
from .health_result import (  # noqa: F401  (re-exported: the public names of the health summary)
    EVIDENCE_MAX, FINDINGS_SCHEMA, SEVERITIES, STAGE_TITLES, STAGES, STAGES_SCHEMA, UNJUDGED_CHECKS, Health, Thresholds,
    _f, _findings_frame, _strip_paths)
from .health_network import _capture, _dtls, _ice, _turn
from .health_media import _media, _recovery, _rtcp
from .health_bwe import with_bandwidth
from .health_quality import _quality

_media = with_bandwidth(_media)  # the media judge with the bandwidth finding (estimate vs sent, health_bwe)


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
                      ("rtcp", _rtcp), ("quality", _quality)):
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
    """The calls a stage judges one by one: ICE and TURN every call with STUN; DTLS, media, recovery, RTCP and quality
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
