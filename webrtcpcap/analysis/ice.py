"""ICE connectivity checks (RFC 8445), consent freshness (RFC 7675), TURN allocations (RFC 8656) and NAT mapping
behaviour (RFC 4787) from the `stun`, `stun_attributes` and `packets` tables.

Strategy: plain functions DataFrame -> DataFrame, no bytes and no I/O.  Everything starts from `transactions`:
a request, its retransmissions and its response are one row, matched by transaction id *and* the reversed
5-tuple, so the other analyses count checks and allocations, never single messages.  Addresses are written
"ip:port" ("[ip]:port" for IPv6); "local" is always the side that sent the request, as the capture shows it.
STUN tables are small (a few messages per second), so the per-transaction work is plain Python over rows.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..io.errors import DecodeError
from ..net.layers import endpoint as _endpoint
from ..protocols.stun import parse_rest_username
from ..tables.schema import as_capture, is_missing as _na, ufrag_pair

# RFC 8489 §6.2.1: with the default RTO (500 ms) and Rc (7) a client gives up on a transaction after 39.5 s, so
# a check sent less than this before the end of the capture may still be answered.
TRANSACTION_TIMEOUT_S = 39.5
# RFC 7675 §5.1: consent expires when no check has succeeded for 30 seconds.
CONSENT_TIMEOUT_S = 30.0
MEDIA_KINDS = ("dtls", "rtp", "rtcp")
TURN_METHODS = ("allocate", "refresh", "create-permission", "channel-bind", "send", "data")

TRANSACTIONS_SCHEMA: dict[str, str] = {
    "first_frame": "uint32",
    "first_t": "float64",
    "transport": "category",
    "client": "string",
    "server": "string",
    "method": "category",
    "cls": "category",
    "transaction_id": "string",
    "requests": "int64",
    "retransmissions": "int64",
    "last_request_frame": "UInt32",
    "response_frame": "UInt32",
    "response_t": "Float64",
    "responses": "int64",
    "response_cls": "category",
    "error_code": "UInt16",
    "rtt_ms": "Float64",
    "outcome": "category",
}

CANDIDATE_PAIRS_SCHEMA: dict[str, str] = {
    "ufrags": "string",
    "transport": "category",
    "local": "string",
    "remote": "string",
    "first_check_t": "float64",
    "last_check_t": "float64",
    "checks": "int64",
    "requests": "int64",
    "successes": "int64",
    "errors": "int64",
    "unanswered": "int64",
    "first_success_t": "Float64",
    "rtt_ms": "Float64",
    "nominated": "bool",
    "nominated_t": "Float64",
    "ice_role": "category",
    "state": "category",
    "carries_media": "bool",
    "media_packets": "int64",
    "first_media_t": "Float64",
    "last_media_t": "Float64",
    "selected": "bool",
}

SUMMARY_SCHEMA: dict[str, str] = {
    "checks": "int64",
    "pairs": "int64",
    "pairs_succeeded": "int64",
    "first_check_t": "Float64",
    "first_success_t": "Float64",
    "nomination_t": "Float64",
    "first_dtls_t": "Float64",
    "first_rtp_t": "Float64",
    "selected_transport": "string",
    "selected_local": "string",
    "selected_remote": "string",
    "errors_401": "int64",
    "errors_487": "int64",
    "ufrag_changes": "int64",
    "consent_checks": "int64",
    "consent_unanswered": "int64",
    "consent_interval_median_s": "Float64",
    "consent_interval_max_s": "Float64",
    "consent_lost": "boolean",
}

TURN_ALLOCATIONS_SCHEMA: dict[str, str] = {
    "transport": "category",
    "client": "string",
    "server": "string",
    "first_t": "float64",
    "allocate_attempts": "int64",
    "allocate_401": "int64",
    "allocated": "bool",
    "allocated_t": "Float64",
    "authenticated_after_401": "bool",
    "relayed_address": "string",
    "mapped_address": "string",
    "lifetime_s": "UInt32",
    "refreshes": "int64",
    "released_t": "Float64",
    "permissions": "int64",
    "channels": "int64",
    "send_indications": "int64",
    "data_indications": "int64",
    "errors": "int64",
    "last_error_code": "UInt16",
    "error_codes": "string",
    "username": "string",
    "rest_expiry": "datetime64[ns, UTC]",
    "credential_expired": "boolean",
    "state": "category",
}

TURN_PEERS_SCHEMA: dict[str, str] = {
    "transport": "category",
    "client": "string",
    "server": "string",
    "peer": "string",
    "permission_t": "Float64",
    "channel": "UInt16",
    "channel_t": "Float64",
    "send_indications": "int64",
    "data_indications": "int64",
}

NAT_BEHAVIOUR_SCHEMA: dict[str, str] = {
    "transport": "category",
    "local": "string",
    "server": "string",
    "method": "category",
    "mapped_address": "string",
    "responses": "int64",
    "first_frame": "uint32",
    "first_t": "float64",
    "crossed_nat": "bool",
    "servers": "int64",
    "mapped_addresses": "int64",
    "verdict": "category",
}


def _direct(df: pd.DataFrame | None) -> pd.DataFrame | None:
    """The rows of a stun / stun_attributes table that were not relayed inside TURN.  A relayed message's src/dst are
    the TURN 5-tuple on the wire, not the relayed candidate and the peer it went between, so the analyses here
    (transactions, NAT mapping, allocations) leave those rows out; `candidate_pairs` and `summary` pair relayed
    checks only when asked (`relayed_media=`), through `_unwrapped`."""
    if df is None or "relayed" not in df.columns or not df["relayed"].any():
        return df
    return df[~df["relayed"].to_numpy(dtype=bool)]


def _endpoints(ips: pd.Series, ports: pd.Series) -> list[str]:
    return [_endpoint(i, p) for i, p in zip(ips.astype(object), ports.astype(object))]


def _split_endpoint(ep: str) -> tuple[str, int]:
    """"ip:port" / "[ip]:port" -> (ip, port)."""
    ip, port = ep.rsplit(":", 1)
    return ip.strip("[]"), int(port)


def _relayed_addresses(stun: pd.DataFrame, stun_attributes: pd.DataFrame | None) -> dict[tuple, str]:
    """(transport, client, server) of each TURN allocation that succeeded -> its relayed address
    (XOR-RELAYED-ADDRESS of the first Allocate success on that 5-tuple, as `turn_allocations` finds it)."""
    if stun_attributes is None or not len(stun):
        return {}
    alloc = turn_allocations(stun, stun_attributes)
    alloc = alloc[alloc["relayed_address"].notna()]
    return {(str(r.transport), r.client, r.server): r.relayed_address for r in alloc.itertuples(index=False)}


def _unwrapped(df: pd.DataFrame, relayed_addresses: dict[tuple, str]) -> pd.DataFrame:
    """The relayed rows of a stun / rtp / rtcp table, with src/sport/dst/dport rewritten from the wire 5-tuple
    (client <-> TURN server) to the relayed candidate <-> peer they travelled between: a row sent by the client
    (Send indication or ChannelData to the server) goes from the allocation's relayed address to `peer`, a row
    received from the server (Data indication or ChannelData) from `peer` to the relayed address.  Rows whose
    5-tuple has no successful Allocate in the capture, or whose peer is unknown, are left out.  `transport` becomes
    "udp" (TURN relays UDP, even when the client reaches the server over TCP); `relayed` becomes False, so the rows can be analysed like direct ones; frame and t stay the outer datagram's."""
    if "relayed" not in df.columns or not df["relayed"].any() or not relayed_addresses:
        return df.iloc[0:0]
    r = df[df["relayed"].to_numpy(dtype=bool) & df["peer"].notna().to_numpy(dtype=bool)]
    if "transport" in r.columns:
        transport = r["transport"].astype(object)
        lookup = relayed_addresses
    else:  # rtp/rtcp tables have no transport column: TURN over UDP or TCP, the client/server ends tell
        transport = pd.Series("", index=r.index)
        lookup = {("", c, sv): addr for (_, c, sv), addr in relayed_addresses.items()}
    src, dst = _endpoints(r["src"], r["sport"]), _endpoints(r["dst"], r["dport"])
    keep, ends = [], []
    for tr, a, b, peer in zip(transport, src, dst, r["peer"].astype(object)):
        if (str(tr), a, b) in lookup:      # client -> server: sent from the relayed candidate
            keep.append(True)
            ends.append((lookup[(str(tr), a, b)], str(peer)))
        elif (str(tr), b, a) in lookup:    # server -> client: received on the relayed candidate
            keep.append(True)
            ends.append((str(peer), lookup[(str(tr), b, a)]))
        else:
            keep.append(False)
    r = r[np.array(keep, dtype=bool)].copy()
    if not len(r):
        return r
    sip, sport = zip(*[_split_endpoint(e[0]) for e in ends])
    dip, dport = zip(*[_split_endpoint(e[1]) for e in ends])
    r["src"], r["sport"] = pd.Series(sip, index=r.index, dtype=object), pd.Series(sport, index=r.index, dtype="int64")
    r["dst"], r["dport"] = pd.Series(dip, index=r.index, dtype=object), pd.Series(dport, index=r.index, dtype="int64")
    r["relayed"] = False
    if "transport" in r.columns:  # relayed candidate <-> peer is UDP (RFC 8656 §2), whatever the client's leg
        r["transport"] = pd.Series("udp", index=r.index, dtype=object)
    return r


def _frame(rows: list[dict], schema: dict[str, str]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(schema))
    out = {}
    for col, dtype in schema.items():
        values = df[col].astype(object).where(df[col].notna(), None) if len(df) else df[col]
        if dtype in ("category", "string"):
            out[col] = pd.Series(values, dtype=object).astype(dtype)
        else:
            out[col] = pd.array(list(values), dtype=dtype) if len(df) else pd.Series([], dtype=dtype)
    return pd.DataFrame(out, columns=list(schema))


def _time(v) -> float:
    """A capture time as a float; NaN where the frame's timestamp was unusable (NA, with the packet's `error` set),
    so that a lying timestamp makes a time column NA instead of raising."""
    return float("nan") if _na(v) else float(v)


def _ice_tables(name: str, stun, packets, stun_attributes, relayed_media):
    """The tables of candidate_pairs and summary: those given, or, given the capture (`candidate_pairs(cap)`),
    the capture's, with its RTP and RTCP as the relayed media (as webrtcpcap.analysis.of(cap) does)."""
    cap = as_capture(stun)
    if cap is not None:
        return cap.stun, cap.packets, cap.stun_attributes, (cap.rtp, cap.rtcp)
    if packets is None:
        raise TypeError(f"ice.{name} needs the packets table with the stun table (or the capture: {name}(cap))")
    return stun, packets, stun_attributes, relayed_media


def transactions(stun: pd.DataFrame) -> pd.DataFrame:
    """One row per STUN transaction: a request with its retransmissions and response, matched by transaction id
    and the reversed 5-tuple (a response is sent from the request's destination to its source); one row per
    indication; one row per response whose request is not in the capture.

    Columns (TRANSACTIONS_SCHEMA), in order of `first_frame`:
    first_frame and first_t (the first request, or the indication/response when there is no request), transport,
    client (the request's sender, "ip:port"), server (its destination), method, cls (class of the first message:
    request, indication, or success/error for a response without request), transaction_id, requests (requests
    seen, retransmissions included; 0 for indications and orphan responses), retransmissions (requests - 1),
    last_request_frame (the last request sent before the response, or the last request when none came),
    response_frame and response_t (the first response), responses (responses seen: a server answers every
    retransmission it receives), response_cls (success, error or none), error_code, rtt_ms (from the LAST request
    sent before the first response to that response: a retransmission's answer cannot be told from the first
    one's, so this is the shortest RTT the capture allows, as RFC 8489 §6.2.1 and Karn's rule advise), outcome
    ("success", "error 401", "error" without ERROR-CODE, "no answer", "indication", "response without request").

    Messages without a class (the header did not decode) are left out.
    """
    cap = as_capture(stun)  # transactions(cap): the capture in place of its stun table
    if cap is not None:
        stun = cap.stun
    stun = _direct(stun)
    s = stun[stun["cls"].notna()]
    rows: list[dict] = []
    if len(s):
        src = _endpoints(s["src"], s["sport"])
        dst = _endpoints(s["dst"], s["dport"])
        requests: dict[tuple, list] = {}
        responses: dict[tuple, list] = {}
        for i, r in enumerate(s[["frame", "t", "transport", "method", "cls", "transaction_id",
                                  "error_code"]].itertuples(index=False)):
            if r.cls == "request":
                requests.setdefault((r.transaction_id, r.transport, src[i], dst[i]), []).append(r)
            elif r.cls in ("success", "error"):
                responses.setdefault((r.transaction_id, r.transport, dst[i], src[i]), []).append(r)
            else:
                rows.append(dict(first_frame=r.frame, first_t=r.t, transport=r.transport, client=src[i],
                                 server=dst[i], method=r.method, cls=r.cls, transaction_id=r.transaction_id,
                                 requests=0, retransmissions=0, responses=0, response_cls="none",
                                 outcome="indication"))
        for key, reqs in requests.items():
            reqs.sort(key=lambda r: r.frame)
            first = reqs[0]
            row = dict(first_frame=first.frame, first_t=first.t, transport=key[1], client=key[2], server=key[3],
                       method=first.method, cls="request", transaction_id=key[0], requests=len(reqs),
                       retransmissions=len(reqs) - 1, last_request_frame=reqs[-1].frame, responses=0,
                       response_cls="none", outcome="no answer")
            resps = sorted(responses.pop(key, []), key=lambda r: r.frame)
            if resps:
                after = [r for r in resps if r.frame > first.frame] or resps
                resp = after[0]
                before = [q for q in reqs if q.frame < resp.frame]
                row.update(response_frame=resp.frame, response_t=resp.t, responses=len(resps),
                           response_cls=resp.cls, error_code=resp.error_code)
                if before:
                    row.update(last_request_frame=before[-1].frame, rtt_ms=(resp.t - before[-1].t) * 1000.0)
                code = "" if _na(resp.error_code) else f" {int(resp.error_code)}"
                row["outcome"] = "success" if resp.cls == "success" else f"error{code}"
            rows.append(row)
        for key, resps in responses.items():
            resps.sort(key=lambda r: r.frame)
            resp = resps[0]
            rows.append(dict(first_frame=resp.frame, first_t=resp.t, transport=key[1], client=key[2], server=key[3],
                             method=resp.method, cls=resp.cls, transaction_id=key[0], requests=0,
                             retransmissions=0, response_frame=resp.frame, response_t=resp.t,
                             responses=len(resps), response_cls=resp.cls, error_code=resp.error_code,
                             outcome="response without request"))
    rows.sort(key=lambda r: r["first_frame"])
    return _frame(rows, TRANSACTIONS_SCHEMA)


def _ice_checks(stun: pd.DataFrame, stun_attributes: pd.DataFrame | None, relayed: bool = False) -> pd.DataFrame:
    """Binding transactions whose request carries USERNAME (ICE checks, RFC 8445 §7.2.2; a STUN server query has
    none), with the request's use_candidate, ice_role, username and `nominating` (USE-CANDIDATE or NOMINATION).
    With `relayed`, the checks relayed inside TURN count too, between the relayed candidate and the peer
    (`_unwrapped`); without, they are left out."""
    if relayed:
        inner = _unwrapped(stun, _relayed_addresses(stun, stun_attributes))
        direct = _direct(stun)
        if len(inner):
            # object columns: the rewritten addresses are not in the categories of the wire ones
            stun = pd.concat([direct.astype({c: object for c in ("src", "dst", "sport", "dport")}),
                              inner.astype({c: object for c in ("src", "dst", "sport", "dport")})],
                             ignore_index=True)
        else:
            stun = direct
    else:
        stun = _direct(stun)
        stun_attributes = _direct(stun_attributes)
    tx = transactions(stun)
    req = stun[(stun["method"] == "binding") & (stun["cls"] == "request") & stun["username"].notna()]
    info = req[["frame", "transaction_id", "username", "use_candidate", "ice_role"]].rename(
        columns={"frame": "first_frame"})
    info = info.assign(ice_role=info["ice_role"].astype(object))
    checks = tx[(tx["method"] == "binding") & (tx["cls"] == "request")].merge(
        info, on=["first_frame", "transaction_id"], how="inner")
    nominating = checks["use_candidate"].fillna(False).astype(bool)
    if stun_attributes is not None and len(checks):
        nomination_frames = stun_attributes.loc[stun_attributes["name"] == "NOMINATION", "frame"]
        nominating |= checks["first_frame"].isin(nomination_frames)
    return checks.assign(nominating=nominating.to_numpy(bool), ufrags=ufrag_pair(checks["username"]))


def _media_by_tuple(packets: pd.DataFrame) -> dict[tuple, tuple[int, float, float]]:
    """(transport, endpoint a, endpoint b) with a < b -> (packets, first t, last t) of DTLS/RTP/RTCP frames."""
    media = packets[packets["kind"].isin(MEDIA_KINDS)]
    out: dict[tuple, tuple[int, float, float]] = {}
    if not len(media):
        return out
    g = media.groupby(["transport", "src", "sport", "dst", "dport"], observed=True)["t"].agg(["size", "min", "max"])
    for (transport, src, sport, dst, dport), r in g.iterrows():
        key = (str(transport),) + tuple(sorted((_endpoint(src, sport), _endpoint(dst, dport))))
        n, lo, hi = out.get(key, (0, np.inf, -np.inf))
        out[key] = (n + int(r["size"]), min(lo, float(r["min"])), max(hi, float(r["max"])))
    return out


def _relayed_media_by_tuple(tables: list[pd.DataFrame], relayed_addresses: dict[tuple, str]
                            ) -> dict[tuple, tuple[int, float, float]]:
    """Like `_media_by_tuple` for the relayed rows of rtp/rtcp tables, between relayed candidate and peer
    (`_unwrapped`): distinct frames, so a compound RTCP datagram counts once."""
    parts = [_unwrapped(t, relayed_addresses) for t in tables if t is not None]
    parts = [p[["frame", "t", "src", "sport", "dst", "dport"]] for p in parts if len(p)]
    out: dict[tuple, tuple[int, float, float]] = {}
    if not parts:
        return out
    rows = pd.concat(parts, ignore_index=True).drop_duplicates("frame")
    for (src, sport, dst, dport), g in rows.groupby(["src", "sport", "dst", "dport"]):
        key = ("udp",) + tuple(sorted((_endpoint(src, sport), _endpoint(dst, dport))))
        n, lo, hi = out.get(key, (0, np.inf, -np.inf))
        out[key] = (n + len(g), min(lo, _time(g["t"].min())), max(hi, _time(g["t"].max())))
    return out


def candidate_pairs(stun: pd.DataFrame, packets: pd.DataFrame | None = None,
                    stun_attributes: pd.DataFrame | None = None, *,
                    relayed_media: Iterable[pd.DataFrame] | None = None) -> pd.DataFrame:
    """One row per candidate pair (local, remote) that ICE connectivity checks (Binding requests with USERNAME)
    were sent on, seen from the capture: local is the sender of the checks, so the two agents' checks on one
    5-tuple are two rows.  `stun_attributes` (optional) lets NOMINATION (renomination) count as nominating.

    Relayed checks (TURN over UDP, the `stun` rows with relayed True) are left out unless `relayed_media` is given,
    e.g. `relayed_media=(cap.rtp, cap.rtcp)` (an empty tuple pairs the checks without media).  Then a relayed check
    is a pair between the client's relayed candidate (XOR-RELAYED-ADDRESS of the Allocate success on the same
    client/server 5-tuple, see `turn_allocations`; needs `stun_attributes`) and `peer`: a check the client sent
    (Send indication or ChannelData to the TURN server) has local = the relayed address, a check it received from
    the server has local = peer.  Its media are the relayed rows of the `relayed_media` tables between the same two
    addresses (distinct frames; relayed DTLS has no table, so only RTP/RTCP count), not the turn-channel frames of
    `packets`; times stay the outer datagrams'.  Direct pairs are the same either way.

    Columns (CANDIDATE_PAIRS_SCHEMA), in order of the first check: ufrags (the ICE session the checks belong to,
    `ufrag_pair`: a pair checked again after an ICE restart is a second row), transport, local, remote ("ip:port"),
    first_check_t and last_check_t (first request of the first and of the last check), checks (transactions), requests (retransmissions included), successes, errors,
    unanswered, first_success_t (the first success response), rtt_ms (median over successful checks, see
    `transactions`), nominated (a check with USE-CANDIDATE or NOMINATION succeeded), nominated_t (when the first
    such success came back), ice_role (the checking agent's role in its last check: controlling/controlled),
    state ("succeeded": a check succeeded; "failed": only error responses; "in progress": unanswered, the last
    check less than 39.5 s (RFC 8489 transaction timeout) before the end of the capture; "no answer"),
    carries_media (the 5-tuple, either direction, carries DTLS/RTP/RTCP in `packets` at or after the first
    check), media_packets, first_media_t, last_media_t (those frames, in both directions), selected (one row at
    most per ICE session (ufrags): among its nominated pairs carrying media, else among its pairs carrying media,
    the one whose media lasts longest, preferring the controlling agent's row).
    """
    stun, packets, stun_attributes, relayed_media = _ice_tables("candidate_pairs", stun, packets, stun_attributes,
                                                                relayed_media)
    relayed = relayed_media is not None
    checks = _ice_checks(stun, stun_attributes, relayed)
    end_t = _time(packets["t"].max()) if len(packets) else 0.0
    media = _media_by_tuple(packets)
    if relayed:
        for key, (n, lo, hi) in _relayed_media_by_tuple(list(relayed_media),
                                                         _relayed_addresses(stun, stun_attributes)).items():
            n0, lo0, hi0 = media.get(key, (0, np.inf, -np.inf))
            media[key] = (n0 + n, min(lo0, lo), max(hi0, hi))
    rows = []
    checks = checks.assign(ufrags=checks["ufrags"].fillna(""))
    for (ufrags, transport, local, remote), c in checks.groupby(["ufrags", "transport", "client", "server"],
                                                                  observed=True, sort=False):
        ok = c[c["response_cls"] == "success"]
        nominated = ok[ok["nominating"]]
        roles = c["ice_role"].dropna()
        n_err = int((c["response_cls"] == "error").sum())
        first_t = _time(c["first_t"].min())
        if len(ok):
            state = "succeeded"
        elif n_err:
            state = "failed"
        elif end_t - _time(c["first_t"].max()) < TRANSACTION_TIMEOUT_S:
            state = "in progress"
        else:
            state = "no answer"
        n, lo, hi = media.get((str(transport),) + tuple(sorted((local, remote))), (0, None, None))
        carries = bool(n) and hi >= first_t
        rows.append(dict(ufrags=ufrags or None, transport=transport, local=local, remote=remote,
                         first_check_t=first_t,
                         last_check_t=_time(c["first_t"].max()), checks=len(c), requests=int(c["requests"].sum()),
                         successes=len(ok), errors=n_err, unanswered=int((c["response_cls"] == "none").sum()),
                         first_success_t=_time(ok["response_t"].min()) if len(ok) else None,
                         rtt_ms=float(ok["rtt_ms"].dropna().median()) if ok["rtt_ms"].notna().any() else None,
                         nominated=bool(len(nominated)),
                         nominated_t=_time(nominated["response_t"].min()) if len(nominated) else None,
                         ice_role=roles.iloc[-1] if len(roles) else None, state=state, carries_media=carries,
                         media_packets=n if carries else 0, first_media_t=lo if carries else None,
                         last_media_t=hi if carries else None, selected=False))
    rows.sort(key=lambda r: r["first_check_t"])
    for key in dict.fromkeys(r["ufrags"] for r in rows):  # each ICE session selects its own pair
        mine = [r for r in rows if r["ufrags"] == key]
        candidates = ([r for r in mine if r["nominated"] and r["carries_media"]]
                      or [r for r in mine if r["carries_media"]])
        if candidates:
            best = max(candidates, key=lambda r: (r["last_media_t"], r["media_packets"],
                                                  r["ice_role"] == "controlling", r["successes"]))
            best["selected"] = True
    return _frame(rows, CANDIDATE_PAIRS_SCHEMA)


def _first_t(packets: pd.DataFrame, kind: str):
    t = packets.loc[packets["kind"] == kind, "t"]
    return float(t.min()) if len(t) else None


def summary(stun: pd.DataFrame, packets: pd.DataFrame | None = None, stun_attributes: pd.DataFrame | None = None, *,
            relayed_media: Iterable[pd.DataFrame] | None = None, pairs: pd.DataFrame | None = None,
            checks: pd.DataFrame | None = None) -> pd.DataFrame:
    """How ICE went, as one row (SUMMARY_SCHEMA).  Times are seconds from the start of the capture.
    `relayed_media` (e.g. `(cap.rtp, cap.rtcp)`) counts the relayed checks too, as in `candidate_pairs`; then
    first_rtp_t also sees relayed RTP (the relayed rows of an `rtp` table among them).

    Columns: checks (ICE check transactions), pairs, pairs_succeeded, first_check_t, first_success_t,
    nomination_t (the first successful nominating check came back), first_dtls_t, first_rtp_t (first frame of that
    kind on any flow), selected_transport, selected_local, selected_remote (the selected row of `candidate_pairs`:
    local is the agent whose checks nominated it), errors_401 (Binding error responses 401: bad ICE credentials),
    errors_487 (487 Role Conflict), ufrag_changes (distinct {ufrag, ufrag} pairs in the checks' USERNAMEs minus one:
    ICE restarts; separate ICE sessions without BUNDLE count too), and consent freshness (RFC 7675) on the selected
    pair after nomination: consent_checks (checks on its 5-tuple, either agent, sent after nomination_t),
    consent_unanswered (those without response), consent_interval_median_s and consent_interval_max_s (between
    successive successful checks of the same agent, pooled over both agents), consent_lost (an agent went more
    than 30 s without a successful check while media still flowed on the pair; null without a selected pair).
    `pairs` and `checks`: the candidate_pairs and checks of the same inputs when already computed (an analysis
    context passes them, so that they are computed once).
    """
    stun, packets, stun_attributes, relayed_media = _ice_tables("summary", stun, packets, stun_attributes,
                                                                relayed_media)
    relayed = relayed_media is not None
    relayed_media = list(relayed_media) if relayed else None
    if pairs is None:
        pairs = candidate_pairs(stun, packets, stun_attributes, relayed_media=relayed_media)
    if checks is None:
        checks = _ice_checks(stun, stun_attributes, relayed)
    first_rtp_t = _first_t(packets, "rtp")
    for t in relayed_media or []:
        if t is not None and "ssrc" in t.columns and "relayed" in t.columns and t["relayed"].any():
            lo = _time(t.loc[t["relayed"].to_numpy(dtype=bool), "t"].min())
            first_rtp_t = lo if first_rtp_t is None else min(first_rtp_t, lo)
    errors = checks.loc[checks["response_cls"] == "error", "error_code"]
    ok = checks[checks["response_cls"] == "success"]
    row = dict(checks=len(checks), pairs=len(pairs), pairs_succeeded=int((pairs["state"] == "succeeded").sum()),
               first_check_t=_time(checks["first_t"].min()) if len(checks) else None,
               first_success_t=_time(ok["response_t"].min()) if len(ok) else None,
               nomination_t=_time(pairs["nominated_t"].min()) if pairs["nominated_t"].notna().any() else None,
               first_dtls_t=_first_t(packets, "dtls"), first_rtp_t=first_rtp_t,
               errors_401=int((errors == 401).sum()), errors_487=int((errors == 487).sum()),
               consent_checks=0, consent_unanswered=0)
    row["ufrag_changes"] = max(checks.sort_values("first_t")["ufrags"].nunique() - 1, 0)
    selected = pairs[pairs["selected"]]
    if len(selected):
        # several ICE sessions (restarts, separate calls): the pair whose media lasted longest, as one would pick
        sel = selected.iloc[int(np.argmax(selected["last_media_t"].astype(float).to_numpy()))]
        row.update(selected_transport=str(sel["transport"]), selected_local=sel["local"],
                   selected_remote=sel["remote"])
        since = sel["nominated_t"] if not _na(sel["nominated_t"]) else sel["first_success_t"]
        since = _time(since) if not _na(since) else _time(sel["first_check_t"])
        same_session = checks["ufrags"].fillna("") == ("" if _na(sel["ufrags"]) else sel["ufrags"])
        on_pair = checks[(checks["transport"] == sel["transport"]) & same_session
                         & (((checks["client"] == sel["local"]) & (checks["server"] == sel["remote"]))
                            | ((checks["client"] == sel["remote"]) & (checks["server"] == sel["local"])))
                         & (checks["first_t"] > since)]
        row["consent_checks"] = len(on_pair)
        row["consent_unanswered"] = int((on_pair["response_cls"] == "none").sum())
        intervals, lost = [], False
        media_end = _time(sel["last_media_t"]) if not _na(sel["last_media_t"]) else since
        for _, c in on_pair[on_pair["response_cls"] == "success"].groupby("client"):
            t = np.sort(c["first_t"].to_numpy(float))
            intervals.extend(np.diff(t).tolist())
            lost |= media_end - t[-1] > CONSENT_TIMEOUT_S
        if intervals:
            row.update(consent_interval_median_s=float(np.median(intervals)),
                       consent_interval_max_s=float(max(intervals)))
        row["consent_lost"] = bool(lost or any(i > CONSENT_TIMEOUT_S for i in intervals))
    return _frame([row], SUMMARY_SCHEMA)


def _attribute_values(stun_attributes: pd.DataFrame, name: str) -> pd.DataFrame:
    """frame -> value rows of one attribute (several rows when a message repeats it)."""
    a = stun_attributes[stun_attributes["name"] == name]
    return a[["frame", "value"]]


def turn_allocations(stun: pd.DataFrame, stun_attributes: pd.DataFrame, start=None) -> pd.DataFrame:
    """One row per TURN client/server 5-tuple (RFC 8656) that sent Allocate, Refresh, CreatePermission,
    ChannelBind or Send/Data indications.  Relayed traffic in ChannelData is not counted here.

    Columns (TURN_ALLOCATIONS_SCHEMA), in order of first_t: transport, client, server ("ip:port"), first_t,
    allocate_attempts (Allocate transactions), allocate_401 (of them answered 401: the long-term credential
    challenge, RFC 8656 §7.2), allocated (an Allocate succeeded), allocated_t (its response), authenticated_after_401
    (a 401 came before that success), relayed_address and mapped_address (XOR-RELAYED-ADDRESS and XOR-MAPPED-ADDRESS
    of the success), lifetime_s (its LIFETIME), refreshes (Refresh transactions), released_t (a Refresh with
    LIFETIME 0 succeeded), permissions (distinct peers of successful CreatePermissions), channels (distinct channel
    numbers of successful ChannelBinds), send_indications, data_indications, errors (error responses other than the
    Allocate 401 challenges: 438 stale nonce, 437, 486, 508...), last_error_code (of any error response), error_codes
    (the distinct codes of the error responses, in order of first appearance, e.g. "401,438"), username (the last
    USERNAME the client's requests carried), rest_expiry (when it is a TURN REST API username "expiry:user": the
    expiry, UTC) and credential_expired (True when an Allocate with that username was sent after its expiry —
    coturn then answers 401 for ever; needs `start`, the capture's first frame time, e.g. cap.packets.time.iloc[0],
    as the stun table's t is relative), state ("released", "allocated", "failed: error 401" (the last Allocate's
    outcome when none succeeded), "no answer").
    Per-peer details are in `turn_peers`.
    """
    stun = _direct(stun)
    stun_attributes = _direct(stun_attributes)
    tx = transactions(stun)
    tx = tx[tx["method"].isin(TURN_METHODS)].copy()
    data = (tx["method"] == "data").to_numpy()  # a Data indication travels server -> client
    tx.loc[data, ["client", "server"]] = tx.loc[data, ["server", "client"]].to_numpy()
    relayed = _attribute_values(stun_attributes, "XOR-RELAYED-ADDRESS").groupby("frame")["value"].first()
    lifetime = _attribute_values(stun_attributes, "LIFETIME").groupby("frame")["value"].first()
    mapped = stun.set_index("frame")["mapped_address"]
    mapped = mapped[~mapped.index.duplicated()]
    peers = turn_peers(stun, stun_attributes)
    rows = []
    for (transport, client, server), g in tx.groupby(["transport", "client", "server"], observed=True, sort=False):
        alloc = g[g["method"] == "allocate"]
        ok = alloc[alloc["response_cls"] == "success"]
        refresh = g[g["method"] == "refresh"]
        released = refresh[(refresh["response_cls"] == "success")
                           & (refresh["first_frame"].map(lifetime).astype(object) == "0")]
        challenges = (alloc["response_cls"] == "error") & (alloc["error_code"] == 401)
        errs = g[g["response_cls"] == "error"]
        p = peers[(peers["transport"] == transport) & (peers["client"] == client) & (peers["server"] == server)]
        users = stun[(stun["transaction_id"].isin(g["transaction_id"])) & stun["username"].notna()]
        username = users["username"].iloc[-1] if len(users) else None
        expiry = _rest_expiry(username)
        expired = None
        if expiry is not None and start is not None:
            sent = pd.Timestamp(start) + pd.to_timedelta(alloc["first_t"], unit="s")
            expired = bool((sent > expiry).any()) if len(alloc) else None
        codes = [int(c) for c in errs["error_code"].dropna()] if len(errs) else []
        row = dict(transport=transport, client=client, server=server, first_t=_time(g["first_t"].min()),
                   error_codes=",".join(str(c) for c in dict.fromkeys(codes)) or None, username=username,
                   rest_expiry=expiry, credential_expired=expired,
                   allocate_attempts=len(alloc), allocate_401=int(challenges.sum()), allocated=bool(len(ok)),
                   refreshes=len(refresh), permissions=int(p["permission_t"].notna().sum()),
                   channels=int(p["channel"].notna().sum()),
                   send_indications=int((g["method"] == "send").sum()),
                   data_indications=int((g["method"] == "data").sum()),
                   errors=int(len(errs) - challenges.sum()),
                   last_error_code=errs["error_code"].iloc[-1] if len(errs) else None)
        if len(ok):
            first = ok.iloc[0]
            frame = int(first["response_frame"])
            life = lifetime.get(frame)
            row.update(allocated_t=_time(first["response_t"]),
                       authenticated_after_401=bool(challenges[alloc["first_frame"] < first["first_frame"]].any()),
                       relayed_address=relayed.get(frame), mapped_address=mapped.get(frame),
                       lifetime_s=None if _na(life) else int(life))
        else:
            row["authenticated_after_401"] = False
        if len(released):
            row["released_t"] = _time(released["response_t"].min())
            row["state"] = "released"
        elif len(ok):
            row["state"] = "allocated"
        elif len(alloc):
            last = str(alloc["outcome"].iloc[-1])
            row["state"] = "no answer" if last == "no answer" else f"failed: {last}"
        else:
            row["state"] = "no allocate seen"
        rows.append(row)
    rows.sort(key=lambda r: r["first_t"])
    return _frame(rows, TURN_ALLOCATIONS_SCHEMA)


def _rest_expiry(username) -> pd.Timestamp | None:
    """The expiry of a TURN REST API username ("expiry:user", Unix seconds), None for any other username."""

    if username is None or _na(username):
        return None
    try:
        expiry, _ = parse_rest_username(str(username))
    except DecodeError:
        return None
    return pd.Timestamp(expiry, unit="s", tz="UTC") if 1_000_000_000 <= expiry < 4_000_000_000 else None


def turn_peers(stun: pd.DataFrame, stun_attributes: pd.DataFrame) -> pd.DataFrame:
    """One row per TURN client/server 5-tuple and peer (XOR-PEER-ADDRESS) it names: the long companion of
    `turn_allocations`.

    Columns (TURN_PEERS_SCHEMA): transport, client, server, peer ("ip:port"), permission_t (response to the first
    successful CreatePermission for the peer), channel (number of the first successful ChannelBind, e.g. 16384 =
    0x4000), channel_t (its response), send_indications (to the peer), data_indications (from the peer).
    """
    stun = _direct(stun)
    stun_attributes = _direct(stun_attributes)
    tx = transactions(stun)
    tx = tx[tx["method"].isin(("create-permission", "channel-bind", "send", "data"))]
    peer = _attribute_values(stun_attributes, "XOR-PEER-ADDRESS")
    channel = _attribute_values(stun_attributes, "CHANNEL-NUMBER").groupby("frame")["value"].first()
    by_frame = peer.groupby("frame")["value"].agg(list)
    out: dict[tuple, dict] = {}
    for r in tx.itertuples(index=False):
        # A Data indication travels server -> client: its sender is the TURN server.
        client, server = (r.server, r.client) if r.method == "data" else (r.client, r.server)
        for addr in by_frame.get(r.first_frame, []):
            row = out.setdefault((r.transport, client, server, addr), dict(
                transport=r.transport, client=client, server=server, peer=addr, send_indications=0,
                data_indications=0))
            if r.method == "send":
                row["send_indications"] += 1
            elif r.method == "data":
                row["data_indications"] += 1
            elif r.response_cls == "success" and r.method == "create-permission" and "permission_t" not in row:
                row["permission_t"] = _time(r.response_t)
            elif r.response_cls == "success" and r.method == "channel-bind" and "channel" not in row:
                number = channel.get(r.first_frame)
                row.update(channel=None if _na(number) else int(number), channel_t=_time(r.response_t))
    return _frame(list(out.values()), TURN_PEERS_SCHEMA)


def nat_behaviour(stun: pd.DataFrame) -> pd.DataFrame:
    """NAT mapping behaviour (RFC 4787 §4.1) per local address:port, from the XOR-MAPPED-ADDRESS of the Binding
    and Allocate success responses it received: one row per (local, server, mapped address), the evidence, with
    the verdict for its local address repeated on each row.

    Columns (NAT_BEHAVIOUR_SCHEMA): transport, local (the client, "ip:port"), server (who answered), method,
    mapped_address (what that server saw), responses, first_frame, first_t, crossed_nat (the mapped address differs
    from local: the response crossed a NAT; a peer on the same LAN sees local itself and tells nothing about the
    NAT), servers (distinct servers whose responses crossed a NAT for this local address), mapped_addresses (distinct
    mapped addresses among them), verdict: "no NAT" (every mapped address equals local: host candidates), "not
    enough evidence" (responses from fewer than two servers crossed a NAT), "endpoint-independent mapping" (one
    mapped address for all of them: a cone NAT, srflx candidates work), "address-dependent (symmetric)" (different
    mapped addresses per destination: peers behind it need TURN).

    A capture cannot show filtering behaviour (which unsolicited inbound packets the NAT lets in): that needs tests
    from other source addresses (RFC 5780), and dropped packets never reach the capture.
    """
    stun = _direct(stun)
    s = stun[stun["method"].isin(("binding", "allocate")) & (stun["cls"] == "success")
             & stun["mapped_address"].notna()]
    if not len(s):
        return _frame([], NAT_BEHAVIOUR_SCHEMA)
    ev = pd.DataFrame({"transport": s["transport"].astype(object), "local": _endpoints(s["dst"], s["dport"]),
                       "server": _endpoints(s["src"], s["sport"]), "method": s["method"].astype(object),
                       "mapped_address": s["mapped_address"].astype(object), "frame": s["frame"].to_numpy(),
                       "t": s["t"].to_numpy()})
    g = ev.groupby(["transport", "local", "server", "method", "mapped_address"], sort=False)
    rows = g.agg(responses=("frame", "size"), first_frame=("frame", "min"), first_t=("t", "min")).reset_index()
    rows["crossed_nat"] = (rows["mapped_address"] != rows["local"]).to_numpy(bool)
    out = []
    for (transport, local), r in rows.groupby(["transport", "local"], sort=False):
        crossed = r[r["crossed_nat"]]
        servers, mapped = crossed["server"].nunique(), crossed["mapped_address"].nunique()
        if not len(crossed):
            verdict = "no NAT"
        elif servers < 2:
            verdict = "not enough evidence"
        elif mapped == 1:
            verdict = "endpoint-independent mapping"
        else:
            verdict = "address-dependent (symmetric)"
        out.extend(dict(rec, servers=servers, mapped_addresses=mapped, verdict=verdict)
                   for rec in r.to_dict("records"))
    out.sort(key=lambda r: r["first_frame"])
    return _frame(out, NAT_BEHAVIOUR_SCHEMA)
