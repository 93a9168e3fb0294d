"""STUN transactions (RFC 8489 §6): a request, its retransmissions and its response as one row, matched by
transaction id *and* the reversed 5-tuple, from the `stun` table; the ground every ICE and TURN analysis stands on
(`ice`, `turn`), with the small helpers they share.  Plain functions DataFrame -> DataFrame, no bytes and no I/O.
"""

from __future__ import annotations


import pandas as pd

from ..net.layers import endpoint as _endpoint
from ..tables.schema import as_capture, is_missing as _na


# RFC 8489 §6.2.1: with the default RTO (500 ms) and Rc (7) a client gives up on a transaction after 39.5 s, so
# a check sent less than this before the end of the capture may still be answered.
TRANSACTION_TIMEOUT_S = 39.5


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
