"""ICE connectivity checks (RFC 8445) and consent freshness (RFC 7675) from the `stun`, `stun_attributes` and
`packets` tables: candidate pairs and the summary.  The face of the STUN analyses: `transactions` (from
`stun_transactions`) and the TURN allocations (RFC 8656) and NAT mapping behaviour (RFC 4787) of `turn` are
re-exported, so `ice.transactions`, `ice.turn_allocations`, `ice.nat_behaviour` keep working.

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

from ..net.layers import endpoint as _endpoint
from ..tables.schema import as_capture, is_missing as _na, ufrag_pair
from .flow_ends import FlowEnds
from .stun_transactions import (  # noqa: F401  (transactions and its schema: re-exported, ice.transactions)
    TRANSACTION_TIMEOUT_S, TRANSACTIONS_SCHEMA, _direct, _endpoints, _frame, _time, transactions)
from .turn import (  # noqa: F401  (re-exported: ice.turn_allocations, ice.turn_peers, ice.nat_behaviour)
    NAT_BEHAVIOUR_SCHEMA, TURN_ALLOCATIONS_SCHEMA, TURN_METHODS, TURN_PEERS_SCHEMA, nat_behaviour, turn_allocations,
    turn_peers)

# RFC 7675 §5.1: consent expires when no check has succeeded for 30 seconds.
CONSENT_TIMEOUT_S = 30.0
MEDIA_KINDS = ("dtls", "rtp", "rtcp")

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


def _split_endpoint(ep: str) -> tuple[str, int]:
    """"ip:port" / "[ip]:port" -> (ip, port)."""
    ip, port = ep.rsplit(":", 1)
    return ip.strip("[]"), int(port)


def _relayed_addresses(stun: pd.DataFrame, stun_attributes: pd.DataFrame | None,
                       allocations: pd.DataFrame | None = None) -> dict[tuple, str]:
    """(transport, client, server) of each TURN allocation that succeeded -> its relayed address
    (XOR-RELAYED-ADDRESS of the first Allocate success on that 5-tuple, as `turn_allocations` finds it).
    `allocations`: `turn_allocations` of the same tables when already computed."""
    if stun_attributes is None or not len(stun):
        return {}
    alloc = turn_allocations(stun, stun_attributes) if allocations is None else allocations
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
    coded = FlowEnds(r)  # "ip:port" per distinct end, not per relayed row
    every = np.arange(len(r))
    src, dst = coded.src_names(every), coded.dst_names(every)
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


def _ice_checks(stun: pd.DataFrame, stun_attributes: pd.DataFrame | None, relayed: bool = False, *,
                tx: pd.DataFrame | None = None, relayed_addresses: dict[tuple, str] | None = None) -> pd.DataFrame:
    """Binding transactions whose request carries USERNAME (ICE checks, RFC 8445 §7.2.2; a STUN server query has
    none), with the request's use_candidate, ice_role, username and `nominating` (USE-CANDIDATE or NOMINATION).
    With `relayed`, the checks relayed inside TURN count too, between the relayed candidate and the peer
    (`_unwrapped`); without, they are left out.  `tx` (`transactions(stun)`) and `relayed_addresses`
    (`_relayed_addresses`) when already computed (an analysis context computes each once)."""
    inner = None
    if relayed:
        if relayed_addresses is None:
            relayed_addresses = _relayed_addresses(stun, stun_attributes)
        inner = _unwrapped(stun, relayed_addresses)
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
    # transactions() reads the direct rows only: the given one is this table's unless relayed checks were added
    tx = transactions(stun) if tx is None or (inner is not None and len(inner)) else tx
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


def _ice_tables(name: str, stun, packets, stun_attributes, relayed_media):
    """The tables of candidate_pairs and summary: those given, or, given the capture (`candidate_pairs(cap)`),
    the capture's, with its RTP and RTCP as the relayed media (as webrtcpcap.analysis.of(cap) does)."""
    cap = as_capture(stun)
    if cap is not None:
        return cap.stun, cap.packets, cap.stun_attributes, (cap.rtp, cap.rtcp)
    if packets is None:
        raise TypeError(f"ice.{name} needs the packets table with the stun table (or the capture: {name}(cap))")
    return stun, packets, stun_attributes, relayed_media


def candidate_pairs(stun: pd.DataFrame, packets: pd.DataFrame | None = None,
                    stun_attributes: pd.DataFrame | None = None, *,
                    relayed_media: Iterable[pd.DataFrame] | None = None, checks: pd.DataFrame | None = None,
                    relayed_addresses: dict[tuple, str] | None = None) -> pd.DataFrame:
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
    `checks` (the ICE checks of the same inputs, as `summary` takes them) and `relayed_addresses` (the relayed
    address of each successful TURN allocation) when already computed: an analysis context computes each once.
    """
    stun, packets, stun_attributes, relayed_media = _ice_tables("candidate_pairs", stun, packets, stun_attributes,
                                                                relayed_media)
    relayed = relayed_media is not None
    if relayed and relayed_addresses is None:
        relayed_addresses = _relayed_addresses(stun, stun_attributes)
    if checks is None:
        checks = _ice_checks(stun, stun_attributes, relayed, relayed_addresses=relayed_addresses)
    end_t = _time(packets["t"].max()) if len(packets) else 0.0
    media = _media_by_tuple(packets)
    if relayed:
        for key, (n, lo, hi) in _relayed_media_by_tuple(list(relayed_media), relayed_addresses).items():
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
