"""Endpoint stats side by side with the capture: what getStats (webrtc-stats) and the Janus admin API handle_info
say about each SSRC, the selected ICE pair and DTLS, next to what the capture shows for the same things.

Strategy: an analysis over tables only (webrtcpcap.endpoints loads the JSON; the capture's own tables and
analyses give the other side); one row per (source, subject, metric), with a verdict only where both sides count
the same thing, and a note saying what each side counts where they differ.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from . import context as analysis, handshake
from .context import Analysis
from ..io.endpoints import SOURCES, StatsWarning, load_getstats, load_handle_info

# How far apart two values may be and still agree: |capture - endpoint| <= absolute + relative * |endpoint|.
# packets: counters read at slightly different moments (packets in flight, the snapshot vs the capture's end);
# count: RTCP messages and report fields, which both sides read from the same packets; jitter_ms and rtt_ms:
# estimates made at different points (the capture point is not the endpoint) and, for Janus, floored to whole ms.
DEFAULT_TOLERANCE = {"packets": (2, 0.01), "lost": (2, 0.05), "count": (0, 0.0), "jitter_ms": (2.0, 0.5),
                     "rtt_ms": (5.0, 0.5)}

SIDE_BY_SIDE_SCHEMA: dict[str, str] = {
    "source": "category", "node": "string", "subject": "string", "ssrc": "UInt32", "metric": "string",
    "endpoint_value": "string", "capture_value": "string", "difference": "Float64", "agree": "boolean",
    "tolerance": "string", "capture_from": "string", "capture_t": "Float64", "evidence_frames": "string",
    "note": "string",
}

# Stacks whose packetsReceived and packetsSent include retransmissions, as webrtc-stats defines both ("This
# includes retransmissions"): libwebrtc (Chromium; Firefox's video runs on it too) counts, for an inbound stream,
# the RTX packets that carry a retransmission once unwrapped into the media SSRC (padding-only RTX probes are
# dropped before counting), and for an outbound stream every packet sent on the RTX SSRC, probes included
# (RtpSenderEgress counts each sent packet as transmitted).  aiortc counts the media SSRC only.
COUNTS_RTX = frozenset({"chromium getStats", "firefox getStats", "browser getStats", "webrtc-internals"})

_NOTES = {
    "packetsReceived": "the receiver's count; a capture upstream of a loss sees more, downstream of it the same",
    "packetsSent": "the sender's count; a capture downstream of a loss sees fewer",
    "rtx counted in": "webrtc-stats packetsReceived includes retransmissions: compared with the media SSRC's "
                      "packets plus the RTX SSRC's packets that carry a payload (libwebrtc drops padding-only RTX)",
    "rtx counted out": "webrtc-stats packetsSent includes retransmissions: compared with the media SSRC's packets "
                       "plus every packet of its RTX SSRC (libwebrtc counts its padding probes there too)",
    "packetsLost": "the receiver's RFC 3550 count (expected - received); the capture sees only losses before its "
                   "capture point, none at the sender",
    "jitter": "RFC 3550 interarrival jitter estimated where each side sits (the capture point vs the receiver)",
    "nackCount": "NACK packets (RTCP 205/1) about this SSRC: sent by its receiver, received by its sender",
    "pliCount": "PLI packets (RTCP 206/1) about this SSRC",
    "firCount": "FIR packets (RTCP 206/4) about this SSRC",
    "retransmittedPacketsSent": "the capture counts RTX packets without padding; Chromium also sends payload "
                                "bandwidth probes on RTX, which it does not count: informational",
    "remote packetsLost": "the cumulative lost of the peer's last report block about this SSRC (RTCP RR/SR)",
    "remote jitter": "the jitter of the peer's last report block about this SSRC",
    "remote roundTripTime": "RTT from the report's LSR/DLSR (RFC 3550 6.4.1); the capture's is from the capture "
                            "point to the reporter, the endpoint's from itself: informational",
    "remote packetsSent": "the packet count of the peer's last Sender Report for this SSRC",
    "selected pair": "the selected candidate pair, as unordered {local, remote} addresses",
    "dtlsState": "getStats dtlsState vs the capture's DTLS verdict (connected/closed after a completed handshake)",
    "srtpCipher": "the SRTP protection profile (use_srtp in the ServerHello)",
    "dtlsCipher": "the DTLS cipher suite (ServerHello)",
    "tlsVersion": "the DTLS version (ServerHello)",
    "dtlsRole": "the endpoint's DTLS role (client/server; Janus: active = client)",
    "janus packets in": "Janus counts RTP received incl. retransmissions; compared: packets - retransmissions "
                        "with the media SSRC's packets",
    "janus retransmissions in": "retransmissions Janus received vs RTX packets without padding (Chromium's "
                                "payload probes on RTX count in the capture only): informational",
    "janus packets out": "Janus counts RTP sent incl. retransmissions: compared with the media SSRC's plus its "
                         "RTX SSRC's packets without padding",
    "janus lost in": "Janus' own RFC 3550 count for what it receives",
    "janus lost out": "lost-by-remote: the peer's report block about Janus' SSRC as Janus took it",
    "janus jitter": "Janus floors jitter to whole ms",
    "janus nacks in": "sequence numbers the peer NACKed about Janus' SSRC (Janus counts NACKed packets, not NACK "
                      "messages)",
    "janus nacks out": "sequence numbers Janus NACKed about the peer's SSRC (NACKed packets, not NACK messages)",
    "janus rtt": "Janus' RTT from RTCP (0 = no measurement)",
    "dtls retransmissions": "DTLS handshake retransmissions",
    "ssrcs in capture": "SSRCs the endpoint reports that the capture has RTP of; none means stats of another call",
}


def _pair_key(a, b) -> str | None:
    if a is None or b is None or _na(a) or _na(b):
        return None
    return " <-> ".join(sorted([str(a), str(b)]))


def _na(v) -> bool:
    try:
        return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) or bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _num(v):
    if _na(v):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _fmt(v) -> str | None:
    if _na(v):
        return None
    if isinstance(v, (float, np.floating)):
        return str(int(v)) if float(v).is_integer() else f"{float(v):.4g}"
    return str(v)


def _profile(name) -> str | None:
    """SRTP profile names as one spelling: SRTP_AES128_CM_HMAC_SHA1_80 (getStats), SRTP_AES128_CM_SHA1_80
    (RFC 5764, Janus)."""
    return None if _na(name) else str(name).upper().replace("HMAC_", "")


_TLS_VERSIONS = {"FEFF": "DTLS 1.0", "FEFD": "DTLS 1.2", "FEFC": "DTLS 1.3"}


class _Capture:
    """The capture's side of one side_by_side call: the analyses from the capture's context
    (`webrtcpcap.analysis.of(cap)`, computed once and shared with health and the report), the tolerance, and the
    capture's clock."""

    def __init__(self, ctx: Analysis, tolerance: dict):
        cap = ctx.capture
        self.ctx = ctx
        self.cap = cap
        self.tol = tolerance
        self.rtp = cap.rtp
        self.stream_table = ctx.streams
        p = cap.packets
        self.t0 = p["time"].iloc[0] if len(p) else None
        self.last_t = float(p["t"].iloc[-1]) if len(p) else 0.0
        self.fb = cap.rtcp_feedback
        self.blocks = cap.rtcp_report_blocks
        self.srs = cap.rtcp_sender_reports
        self.rtcp_readable = len(self.blocks) > 0 or len(self.fb) > 0 or len(self.srs) > 0
        self.rtcp_present = len(cap.rtcp) > 0
        self.ssrcs = set(int(s) for s in self.rtp["ssrc"].dropna().unique()) if len(self.rtp) else set()
        self.pair = None
        self.pair_frames = None
        if len(cap.stun):
            s = ctx.ice_summary
            if not _na(s["selected_local"]):
                self.pair = _pair_key(s["selected_local"], s["selected_remote"])
                self.pair_row = s
        a = ctx.dtls_associations
        self.assoc = None
        if len(a):
            done = a[a["verdict"] == "completed"]
            self.assoc = (done if len(done) else a).iloc[0]

    def snapshot_t(self, ts) -> tuple[float | None, str | None]:
        """The capture time (s) of an endpoint timestamp, and a note when the capture does not cover it."""
        if _na(ts) or self.t0 is None:
            return None, None
        t = (pd.Timestamp(ts) - self.t0).total_seconds()
        if t < 0:
            return None, "the stats snapshot is before the capture starts (clocks differ?): whole capture counted"
        if t > self.last_t:
            return None, (f"the capture ends {t - self.last_t:.3f} s before the stats snapshot: packets after it "
                          "are not in the capture")
        return t, None

    def streams_at(self, t: float | None) -> pd.DataFrame:
        return self.stream_table if t is None else self.ctx.streams_until(t)

    def stream(self, ssrc: int, t: float | None) -> dict | None:
        s = self.streams_at(t)
        s = s[s["ssrc"] == ssrc]
        if not len(s):
            return None
        main = s.sort_values("packets", ascending=False).iloc[0]
        return {"packets": int(s["packets"].sum()), "lost": int(s["lost"].sum()), "rtx": main["kind"] == "rtx",
                "jitter_ms": _num(main["jitter_ms"]) if main["kind"] != "rtx" else None}

    def rtx_packets(self, ssrc, t: float | None = None, with_padding: bool = False) -> int | None:
        """Packets of an RTX SSRC up to `t`: those without padding (retransmissions), or all of them."""
        if _na(ssrc):
            return None
        r = self.rtp[(self.rtp["ssrc"] == int(ssrc))]
        if t is not None:
            r = r[r["t"] <= t]
        return len(r) if with_padding else int((~r["padding"].astype(bool)).sum())

    def rtx_of(self, ssrc: int, given) -> int | None:
        """The RTX SSRC of a media SSRC: the stats' rtxSsrc, else what the SDP pairs in the capture (FID, apt)."""
        if not _na(given):
            return int(given)
        return self.ctx.rtx_of.get(ssrc)

    def with_rtx(self, source: str, ssrc: int, given, count: int, t: float | None, inbound: bool):
        """`count` plus the RTX packets `source` counts in packetsReceived/packetsSent (COUNTS_RTX), and the
        "from" text and note key saying so; unchanged when the stack does not count them or the capture has none."""
        rtx = self.rtx_of(ssrc, given) if source in COUNTS_RTX else None
        n = self.rtx_packets(rtx, t, with_padding=not inbound) if rtx is not None else None
        if not n:
            return count, None, None
        what = "with payload" if inbound else "all"
        return count + n, f" + rtx ssrc {rtx} ({n}, {what})", "rtx counted in" if inbound else "rtx counted out"

    def feedback(self, ssrc: int, pt: int, fmt: int, t: float | None, seqs: bool = False):
        fb = self.fb[(self.fb["pt"] == pt) & (self.fb["fmt"] == fmt) & (self.fb["media_ssrc"] == ssrc)]
        if pt == 206 and fmt == 4:  # FIR: the SSRC asked for is in the FCI entries (RFC 5104 §4.3.1)
            fb = self.cap.keyframe_requests
            fb = fb[(fb["kind"] == "fir") & (fb["media_ssrc"] == ssrc)]
        elif seqs:  # NACKed sequence numbers, one row each (cap.nacks), rather than NACK packets
            fb = self.cap.nacks
            fb = fb[fb["media_ssrc"] == ssrc]
        if t is not None:
            fb = fb[fb["t"] <= t]
        return len(fb), handshake.compact_frames(fb["frame"].head(20))

    def last_block(self, source_ssrc: int, t: float | None, reporter=None):
        b = self.blocks[self.blocks["source_ssrc"] == source_ssrc]
        if reporter is not None:
            b = b[b["reporter_ssrc"] == reporter]
        if t is not None:
            b = b[b["t"] <= t + 0.001]
        return None if not len(b) else b.sort_values(["t", "frame"]).iloc[-1]

    def block_rtt(self, block) -> float | None:
        rtts = self.ctx.round_trip_times
        r = rtts[(rtts["frame"] == block["frame"]) & (rtts["source_ssrc"] == block["source_ssrc"])]
        return _num(r["rtt_ms"].iloc[0]) if len(r) else None

    def last_sr(self, ssrc: int, t: float | None):
        s = self.srs[self.srs["ssrc"] == ssrc]
        if t is not None:
            s = s[s["t"] <= t + 0.001]
        return None if not len(s) else s.sort_values(["t", "frame"]).iloc[-1]


class _Rows:
    def __init__(self, c: _Capture):
        self.c = c
        self.rows: list[dict] = []

    def add(self, source, node, subject, ssrc, metric, endpoint, capture, *, kind=None, from_=None, t=None,
            frames=None, note=None, note_key=None, compare=True):
        e, cv = _num(endpoint), _num(capture)
        diff = cv - e if e is not None and cv is not None else None
        agree, tol = None, None
        if compare and kind in self.c.tol and diff is not None:
            absolute, relative = self.c.tol[kind]
            agree = abs(diff) <= absolute + relative * abs(e)
            tol = f"±{absolute:g}" + (f" + {relative:g}×endpoint" if relative else "")
        elif compare and kind == "equal" and not _na(endpoint) and not _na(capture):
            agree = str(endpoint) == str(capture)
            tol = "equal"
        notes = [n for n in (_NOTES.get(note_key or metric), note) if n]
        self.rows.append({"source": source, "node": node, "subject": subject, "ssrc": ssrc, "metric": metric,
                          "endpoint_value": _fmt(endpoint), "capture_value": _fmt(capture), "difference": diff,
                          "agree": agree, "tolerance": tol, "capture_from": from_, "capture_t": t,
                          "evidence_frames": frames or None, "note": "; ".join(notes) or None})


def _rtcp_note(c: _Capture) -> str | None:
    if c.rtcp_readable:
        return None
    if c.rtcp_present:
        return "RTCP is SRTCP the capture could not decrypt: open it with keylog= (or a plaintext dump)"
    return "the capture has no RTCP"


def _getstats_rows(out: _Rows, g: pd.DataFrame) -> None:
    c = out.c
    rtcp_note = _rtcp_note(c)
    for node, stats in g.groupby("node", sort=False):
        source = str(stats["source"].iloc[0])
        by_id = stats.set_index("id", drop=False)
        for r in stats.itertuples(index=False):
            typ, ssrc = str(r.type), r.ssrc
            t, tnote = c.snapshot_t(r.timestamp)
            if typ in ("inbound-rtp", "outbound-rtp") and not _na(ssrc):
                ssrc = int(ssrc)
                subject = f"{typ} {r.kind} ssrc {ssrc}"
                s = c.stream(ssrc, t)
                frm = "streams" + (f" up to t={t:.3f} s" if t is not None else "")
                if s is None:
                    out.add(source, node, subject, ssrc, "packetsReceived" if typ == "inbound-rtp" else
                            "packetsSent", r.packets_received if typ == "inbound-rtp" else r.packets_sent, None,
                            note="SSRC not in the capture", note_key="-")
                    continue
                if typ == "inbound-rtp":
                    note = "; ".join(x for x in (tnote, "the capture sees this SSRC as an RTX stream (aiortc "
                                                 "reports its video RTX stream as the inbound-rtp)"
                                                 if s["rtx"] else None) if x) or None
                    count, rtx_from, rtx_key = c.with_rtx(source, ssrc, r.rtx_ssrc, s["packets"], t, inbound=True)
                    if rtx_key:
                        note = "; ".join(x for x in (_NOTES[rtx_key], note) if x)
                    out.add(source, node, subject, ssrc, "packetsReceived", r.packets_received, count,
                            kind="packets", from_=frm + (rtx_from or ""), t=t, note=note)
                    out.add(source, node, subject, ssrc, "packetsLost", r.packets_lost, s["lost"], kind="lost",
                            from_=frm, t=t, note=tnote)
                    out.add(source, node, subject, ssrc, "jitter_ms", r.jitter_ms, s["jitter_ms"], kind="jitter_ms",
                            from_="streams (whole capture)", note_key="jitter",
                            note="aiortc reports RTP timestamp units, converted" if r.jitter_unit == "rtp" else None)
                else:
                    count, rtx_from, rtx_key = c.with_rtx(source, ssrc, r.rtx_ssrc, s["packets"], t, inbound=False)
                    note = "; ".join(x for x in (_NOTES[rtx_key] if rtx_key else None, tnote) if x) or None
                    out.add(source, node, subject, ssrc, "packetsSent", r.packets_sent, count,
                            kind="packets", from_=frm + (rtx_from or ""), t=t, note=note)
                    if not _na(r.retransmitted_packets_sent):
                        out.add(source, node, subject, ssrc, "retransmittedPacketsSent", r.retransmitted_packets_sent,
                                c.rtx_packets(r.rtx_ssrc, t), from_=f"rtp ssrc {_fmt(r.rtx_ssrc)} without padding",
                                t=t, compare=False)
                for metric, pt, fmt in (("nackCount", 205, 1), ("pliCount", 206, 1), ("firCount", 206, 4)):
                    value = getattr(r, {"nackCount": "nack_count", "pliCount": "pli_count",
                                        "firCount": "fir_count"}[metric])
                    if _na(value):
                        continue
                    if not c.rtcp_readable:
                        out.add(source, node, subject, ssrc, metric, value, None, note=rtcp_note)
                        continue
                    n, frames = c.feedback(ssrc, pt, fmt, t)
                    out.add(source, node, subject, ssrc, metric, value, n, kind="count", from_="rtcp_feedback",
                            t=t, frames=frames, note=tnote)
            elif typ in ("remote-inbound-rtp", "remote-outbound-rtp") and not _na(ssrc):
                ssrc, reporter = int(ssrc), None
                if source == "aiortc getStats" and typ == "remote-inbound-rtp":
                    # aiortc puts the reporter's SSRC into ssrc; its sibling outbound-rtp (same id suffix) has ours
                    sibling = "outbound-rtp_" + str(r.id).rsplit("_", 1)[-1]
                    if sibling in by_id.index and not _na(by_id.loc[sibling, "ssrc"]):
                        reporter, ssrc = ssrc, int(by_id.loc[sibling, "ssrc"])
                subject = f"{typ} {r.kind} ssrc {ssrc}"
                anote = ("aiortc's ssrc here is the reporter's; compared for its outbound-rtp's SSRC"
                         if reporter is not None else None)
                if not c.rtcp_readable:
                    out.add(source, node, subject, ssrc, "remote packetsLost" if typ == "remote-inbound-rtp" else
                            "remote packetsSent", r.packets_lost if typ == "remote-inbound-rtp" else r.packets_sent,
                            None, note=rtcp_note)
                    continue
                if typ == "remote-inbound-rtp":
                    b = c.last_block(ssrc, t, reporter)
                    if b is None:
                        out.add(source, node, subject, ssrc, "remote packetsLost", r.packets_lost, None,
                                note="no report block about this SSRC in the capture" + (f"; {anote}" if anote
                                                                                          else ""))
                        continue
                    fr = str(int(b["frame"]))
                    out.add(source, node, subject, ssrc, "remote packetsLost", r.packets_lost, b["cumulative_lost"],
                            kind="count", from_="rtcp_report_blocks", t=float(b["t"]), frames=fr, note=anote)
                    out.add(source, node, subject, ssrc, "remote jitter_ms", r.jitter_ms, b["jitter_ms"],
                            kind="jitter_ms", from_="rtcp_report_blocks", t=float(b["t"]), frames=fr,
                            note_key="remote jitter")
                    if not _na(r.round_trip_time):
                        out.add(source, node, subject, ssrc, "remote roundTripTime_ms", r.round_trip_time * 1000,
                                c.block_rtt(b), from_="rtt.round_trip_times", t=float(b["t"]), frames=fr,
                                note_key="remote roundTripTime", compare=False)
                else:
                    sr = c.last_sr(ssrc, t)
                    if sr is None:
                        out.add(source, node, subject, ssrc, "remote packetsSent", r.packets_sent, None,
                                note="no Sender Report of this SSRC in the capture")
                        continue
                    out.add(source, node, subject, ssrc, "remote packetsSent", r.packets_sent, sr["packet_count"],
                            kind="count", from_="rtcp_sender_reports", t=float(sr["t"]),
                            frames=str(int(sr["frame"])))
            elif typ == "candidate-pair" and not _na(r.selected) and bool(r.selected):
                endpoint = _pair_key(f"{r.local_address}:{r.local_port}", f"{r.remote_address}:{r.remote_port}")
                out.add(source, node, "selected candidate pair", None, "selected pair", endpoint, c.pair,
                        kind="equal", from_="ice.summary",
                        note=None if c.pair else "the capture shows no selected pair (no STUN checks)")
                out.add(source, node, "selected candidate pair", None, "candidate types",
                        f"{r.local_candidate_type}/{r.remote_candidate_type}", None, compare=False,
                        note="relay candidates: the capture's pair is the relayed addresses (TURN unwrapped)")
            elif typ == "transport":
                a = c.assoc
                if not _na(r.dtls_state):
                    verdict = None if a is None else str(a["verdict"])
                    ok = None if verdict is None else (verdict == "completed") == (
                        str(r.dtls_state) in ("connected", "closed"))
                    out.add(source, node, "transport", None, "dtlsState", r.dtls_state, verdict,
                            from_="handshake.associations",
                            frames=None if a is None else a["evidence_frames"], compare=False)
                    out.rows[-1]["agree"] = ok
                    out.rows[-1]["tolerance"] = "connected/closed = completed"
                if a is None:
                    continue
                for metric, value, cv in (("srtpCipher", _profile(r.srtp_cipher), _profile(a["srtp_profile"])),
                                          ("dtlsCipher", r.dtls_cipher, a["cipher_suite"]),
                                          ("tlsVersion", _TLS_VERSIONS.get(str(r.tls_version).upper(),
                                                                           r.tls_version), a["version"])):
                    if not _na(value):
                        out.add(source, node, "transport", None, metric, value, cv, kind="equal",
                                from_="handshake.associations")
                pair = stats[(stats["type"] == "candidate-pair") & (stats["selected"] == True)]  # noqa: E712
                if not _na(r.dtls_role) and len(pair):
                    me = f"{pair['local_address'].iloc[0]}:{pair['local_port'].iloc[0]}"
                    role = "client" if a["client"] == me else "server" if a["server"] == me else None
                    out.add(source, node, "transport", None, "dtlsRole", r.dtls_role, role, kind="equal",
                            from_="handshake.associations",
                            note=None if role else "the endpoint's address is not the association's (relayed?)")


def _janus_rows(out: _Rows, h: pd.DataFrame) -> None:
    c = out.c
    rtcp_note = _rtcp_note(c)
    source = "janus handle_info"
    note_time = "handle_info has no wall-clock time: the whole capture is counted"
    for r in h.itertuples(index=False):
        node = r.node
        if r.type == "connection":
            if not _na(r.selected_local):
                out.add(source, node, "selected candidate pair", None, "selected pair",
                        _pair_key(r.selected_local, r.selected_remote), c.pair, kind="equal", from_="ice.summary",
                        note=None if c.pair else "the capture shows no selected pair (no STUN: a plaintext dump?)")
            a = c.assoc
            if not _na(r.dtls_state):
                verdict = None if a is None else str(a["verdict"])
                out.add(source, node, "dtls", None, "dtlsState", r.dtls_state, verdict, compare=False,
                        from_="handshake.associations", frames=None if a is None else a["evidence_frames"])
                if verdict is not None:
                    out.rows[-1]["agree"] = (verdict == "completed") == (str(r.dtls_state) == "connected")
                    out.rows[-1]["tolerance"] = "connected = completed"
            if a is not None:
                out.add(source, node, "dtls", None, "srtpCipher", _profile(r.srtp_profile),
                        _profile(a["srtp_profile"]), kind="equal", from_="handshake.associations")
                if not _na(r.selected_local):
                    role = ("active" if a["client"] == r.selected_local else
                            "passive" if a["server"] == r.selected_local else None)
                    out.add(source, node, "dtls", None, "dtlsRole", r.dtls_role, role, kind="equal",
                            from_="handshake.associations")
                out.add(source, node, "dtls", None, "dtls retransmissions", r.dtls_retransmissions,
                        a["retransmissions"], kind="count", from_="handshake.associations",
                        note="Janus counts its own retransmissions, the capture both sides'")
            continue
        if _na(r.ssrc):
            continue
        ssrc = int(r.ssrc)
        subject = f"{r.type} {r.kind} ssrc {ssrc}"
        s = c.stream(ssrc, None)
        if s is None:
            out.add(source, node, subject, ssrc, "packets", r.packets, None, note="SSRC not in the capture",
                    note_key="-")
            continue
        others = h[(h["mindex"] == r.mindex) & (h["type"] != r.type)]
        other_ssrc = None if not len(others) or _na(others["ssrc"].iloc[0]) else int(others["ssrc"].iloc[0])
        if r.type == "inbound":
            retrans = 0 if _na(r.retransmissions) else int(r.retransmissions)
            out.add(source, node, subject, ssrc, "packets - retransmissions",
                    None if _na(r.packets) else int(r.packets) - retrans, s["packets"], kind="packets",
                    from_="streams", note=note_time, note_key="janus packets in")
            if not _na(r.retransmissions):
                out.add(source, node, subject, ssrc, "retransmissions", r.retransmissions,
                        c.rtx_packets(r.rtx_ssrc), from_=f"rtp ssrc {_fmt(r.rtx_ssrc)} without padding",
                        compare=False, note_key="janus retransmissions in")
            out.add(source, node, subject, ssrc, "lost", r.lost, s["lost"], kind="lost", from_="streams",
                    note_key="janus lost in")
            out.add(source, node, subject, ssrc, "jitter_ms", r.jitter_ms, s["jitter_ms"], kind="jitter_ms",
                    from_="streams", note_key="janus jitter")
            nack_about, key = other_ssrc, "janus nacks in"
        else:
            rtx = c.rtx_packets(r.rtx_ssrc) or 0
            out.add(source, node, subject, ssrc, "packets", r.packets, s["packets"] + rtx, kind="packets",
                    from_="streams + rtx", note=note_time, note_key="janus packets out")
            if c.rtcp_readable:
                b = c.last_block(ssrc, None)
                out.add(source, node, subject, ssrc, "lost", r.lost, None if b is None else b["cumulative_lost"],
                        kind="lost", from_="rtcp_report_blocks", frames=None if b is None else str(int(b["frame"])),
                        note_key="janus lost out")
                if b is not None:
                    out.add(source, node, subject, ssrc, "jitter_ms", r.jitter_ms, b["jitter_ms"], kind="jitter_ms",
                            from_="rtcp_report_blocks", frames=str(int(b["frame"])), note_key="janus jitter")
            else:
                out.add(source, node, subject, ssrc, "lost", r.lost, None, note=rtcp_note, note_key="janus lost out")
            nack_about, key = other_ssrc, "janus nacks out"
        if not _na(r.nacks) and nack_about is not None:
            if c.rtcp_readable:
                n, frames = c.feedback(nack_about, 205, 1, None, seqs=True)
                out.add(source, node, subject, ssrc, "nacks", r.nacks, n, kind="count", from_="rtcp_feedback",
                        frames=frames, note_key=key)
            else:
                out.add(source, node, subject, ssrc, "nacks", r.nacks, None, note=rtcp_note, note_key=key)
        if not _na(r.rtt_ms) and r.rtt_ms > 0:
            out.add(source, node, subject, ssrc, "rtt_ms", r.rtt_ms, None, compare=False, note_key="janus rtt")


def _ssrc_check(out: _Rows, source: str, node, ssrcs: set[int]) -> None:
    found = ssrcs & out.c.ssrcs
    out.add(source, node, "call", None, "ssrcs in capture", len(ssrcs), len(found), compare=False,
            from_="rtp", note=None if found or not ssrcs else "none of the endpoint's SSRCs is in the capture: "
            "stats of another call (or the capture shows no RTP)")
    out.rows[-1]["agree"] = len(found) == len(ssrcs) if ssrcs else None
    if ssrcs and not found:
        warnings.warn(StatsWarning(f"{source} ({node or 'report'}): none of its {len(ssrcs)} SSRCs is in the "
                                   "capture: stats of another call?"), stacklevel=3)


def side_by_side(cap, getstats=None, handle_info=None, *, tolerance: dict | None = None) -> pd.DataFrame:
    """The endpoints' own counters next to the capture's, one row per (source, subject, metric)
    (SIDE_BY_SIDE_SCHEMA): the troubleshooting table of admin API vs tshark vs webrtc-internals in one place.

    `cap`: an opened capture (decrypted with keylog= for the RTCP counters; a Janus `.janus.pcap` dump works as
    the plaintext side).  `getstats`: what `endpoints.load_getstats` takes (or its table); `handle_info`: what
    `endpoints.load_handle_info` takes (or its table).  `tolerance` overrides DEFAULT_TOLERANCE entries.

    Columns: source (chromium / firefox / aiortc / browser getStats, webrtc-internals, janus
    handle_info), node (the report's key or the Janus handle), subject (e.g. "inbound-rtp video ssrc 1234",
    "selected candidate pair", "transport"), ssrc, metric, endpoint_value and capture_value (as text), difference
    (capture - endpoint, numbers only), agree (null where the two do not count the same thing or a side is
    missing), tolerance (the rule applied), capture_from (which table/analysis), capture_t (the capture time the
    count stops at: the stats object's timestamp on the capture's clock, or the report's frame time), evidence_frames,
    note (what each side counts where they differ).  getStats counters are compared at their snapshot time when
    the capture covers it; Janus gives no wall-clock time, so the whole capture is counted.  Stats of another call
    give a "ssrcs in capture" row with agree False and a StatsWarning, never an exception; files in a wrong
    shape raise DecodeError from the loaders."""
    tol = dict(DEFAULT_TOLERANCE)
    tol.update(tolerance or {})
    c = _Capture(analysis.of(cap), tol)
    out = _Rows(c)
    if getstats is not None:
        g = getstats if isinstance(getstats, pd.DataFrame) else load_getstats(getstats)
        for node, stats in g.groupby("node", sort=False):
            rtp = stats[stats["type"].isin(["inbound-rtp", "outbound-rtp"])]
            _ssrc_check(out, str(stats["source"].iloc[0]), node, set(int(s) for s in rtp["ssrc"].dropna()))
        _getstats_rows(out, g)
    if handle_info is not None:
        h = handle_info if isinstance(handle_info, pd.DataFrame) else load_handle_info(handle_info)
        if len(h):
            _ssrc_check(out, "janus handle_info", h["node"].iloc[0], set(int(s) for s in h["ssrc"].dropna()))
        _janus_rows(out, h)
    return _frame(out.rows)


def _frame(rows: list[dict]) -> pd.DataFrame:
    cols = {}
    for name, dtype in SIDE_BY_SIDE_SCHEMA.items():
        values = [r.get(name) for r in rows]
        if dtype == "category":
            cols[name] = pd.Categorical(values, categories=SOURCES)
        else:
            cols[name] = pd.array([pd.NA if _na(v) else v for v in values], dtype=dtype)
    return pd.DataFrame(cols)
