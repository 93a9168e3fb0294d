"""The health summary's judges of the connection: the capture as a whole, ICE (connectivity checks, the selected
pair), TURN (allocations, permissions, channels) and DTLS (handshakes, their flights and retransmissions).  Each
judge takes the analysis context and the Thresholds and returns finding rows (`health_result._f`)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..analysis.context import Analysis
from ..net.layers import endpoint as _endpoint
from .health_result import _f, _frames, _ms, _n, _na, _strip_paths, Thresholds


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
