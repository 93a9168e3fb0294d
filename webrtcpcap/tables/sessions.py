"""Calls in a capture: which flows, ICE sessions (RFC 8445 ufrag pairs), DTLS associations and RTP streams belong
together, so that a file holding several calls is analysed call by call.

Strategy: a call is a set of flows, joined (union-find over flow ids) by what the wire shows:
- an ICE session: every flow that carried a connectivity check (Binding request with USERNAME) of one ufrag pair,
  or its response; two ufrag pairs on one flow (an ICE restart on the same 5-tuple) are one call, two generations;
- an SSRC: flows that carry RTP (or RTCP from) the same SSRC (media moved to another pair, RTP and RTCP on two
  ports, a TURN server's legs);
- without any of that, a flow with STUN but no check (a STUN server query, a TURN Allocate that nobody answered)
  joins the call of the same client address (else of the same STUN/TURN server) nearest in time, within
  ATTACH_WITHIN_S, so that a browser's extra gathering is not a call of its own; one client's STUN-only flows
  that join no call, each within ATTACH_WITHIN_S of the previous, are one call (a call that never got to ICE).
Media flows that nothing ties to an ICE session (the capture started after ICE, or the peers use no ICE: SIP, SDES)
form calls by SSRC and 5-tuple alone.  Calls are numbered from 1 in order of their first frame.  Flows that carry
nothing WebRTC have no call.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..net.layers import endpoint as _endpoint
from .schema import is_missing as _na, ufrag_pair

SESSIONS_SCHEMA: dict[str, str] = {
    "session": "int64",
    "kind": "category",
    "ufrags": "string",
    "generations": "int64",
    "flows": "int64",
    "first_frame": "uint32",
    "last_frame": "uint32",
    "start_t": "float64",
    "end_t": "float64",
    "packets": "int64",
    "stun": "int64",
    "dtls": "int64",
    "rtp": "int64",
    "rtcp": "int64",
    "ssrcs": "int64",
    "main_flow": "string",
}

FLOW_SESSIONS_SCHEMA: dict[str, str] = {
    "flow": "int32",
    "session": "Int64",
    "generation": "Int64",
}

GENERATIONS_SCHEMA: dict[str, str] = {
    "session": "int64",
    "generation": "int64",
    "ufrags": "string",
    "first_frame": "uint32",
    "first_t": "float64",
    "last_t": "float64",
    "checks": "int64",
}

# A STUN query or Allocate without checks joins a call only this close to it (s): gathering happens just before
# the checks, and a merged file may hold the same host's calls a year apart.
ATTACH_WITHIN_S = 60.0
_WEBRTC_KINDS = ("stun", "dtls", "rtp", "rtcp", "turn-channel", "zrtp")


class _Union:
    def __init__(self, n: int):
        self.parent = np.arange(n)

    def find(self, i: int) -> int:
        p = self.parent
        root = i
        while p[root] != root:
            root = p[root]
        while p[i] != root:  # path compression
            p[i], i = root, p[i]
        return root

    def join(self, ids) -> None:
        ids = [int(i) for i in ids]
        if len(ids) < 2:
            return
        root = self.find(ids[0])
        for i in ids[1:]:
            r = self.find(i)
            if r != root:
                self.parent[r] = root


def _flow_of_frame(packets: pd.DataFrame):
    """A function frame numbers -> flow ids (-1 without a flow), from the packets table."""
    flow = packets["flow"]
    codes = flow.array.codes if isinstance(flow.dtype, pd.CategoricalDtype) else None
    if codes is not None:
        cats = np.asarray(flow.cat.categories, dtype=np.int64)
        ids = np.where(codes >= 0, cats[np.maximum(codes, 0)] if len(cats) else -1, -1)
    else:
        ids = flow.astype("Int64").fillna(-1).to_numpy(dtype=np.int64)
    frames = packets["frame"].to_numpy(dtype=np.int64)
    first = int(frames[0]) if len(frames) else 1
    contiguous = len(frames) == 0 or int(frames[-1]) - first + 1 == len(frames)

    def of(f) -> np.ndarray:
        f = np.asarray(f, dtype=np.int64)
        if contiguous:
            i = f - first
            ok = (i >= 0) & (i < len(ids))
            return np.where(ok, ids[np.clip(i, 0, max(len(ids) - 1, 0))] if len(ids) else -1, -1)
        i = np.searchsorted(frames, f)
        ok = (i < len(frames)) & (frames[np.minimum(i, max(len(frames) - 1, 0))] == f)
        return np.where(ok, ids[np.minimum(i, max(len(ids) - 1, 0))], -1)
    return of


def assign(packets: pd.DataFrame, flows: pd.DataFrame, stun: pd.DataFrame, rtp: pd.DataFrame,
           rtcp: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The calls of a capture from its tables (cap.packets, cap.flows, cap.stun, cap.rtp, cap.rtcp): returns
    (sessions, flow_sessions, generations).

    - sessions (SESSIONS_SCHEMA): one row per call, in order of its first frame: session (1, 2, ...), kind ("ice":
      connectivity checks tie it together; "media": RTP/RTCP/DTLS without any check in the capture; "stun": STUN
      alone, e.g. a query nobody answered, with no call to join), ufrags (the ufrag pair of each ICE generation, in
      order, "a:b" or "a:b then c:d" after an ICE restart; null without checks), generations (ICE sessions: 1 + ICE
      restarts), flows, first_frame, last_frame, start_t, end_t (s from the capture's start), packets (frames of
      its flows), stun, dtls, rtp, rtcp (frames of its flows of that kind; TURN-relayed media counts as
      turn-channel, not here), ssrcs (distinct RTP SSRCs on its flows, relayed ones included), main_flow (the flow
      with the most frames, "transport a:port ↔ b:port").
    - flow_sessions (FLOW_SESSIONS_SCHEMA): one row per flow of `flows`: flow, session (null: nothing WebRTC on
      it), generation (the ICE generation, 0 first, of the checks on it; null without checks).
    - generations (GENERATIONS_SCHEMA): one row per ICE session (ufrag pair): session, generation, ufrags,
      first_frame, first_t and last_t of its checks, checks (Binding requests with USERNAME, retransmissions
      included).
    """
    n_flows = int(flows["flow"].max()) + 1 if len(flows) else 0
    of = _flow_of_frame(packets)
    flow_ids = of(packets["frame"].to_numpy()) if len(packets) else np.zeros(0, np.int64)
    kind = packets["kind"]
    active = np.zeros(n_flows + 1, dtype=bool)  # the last slot takes flow -1
    active[flow_ids[kind.isin(_WEBRTC_KINDS).to_numpy(bool)]] = True
    uf = _Union(n_flows + 1)

    # ICE sessions: the flows of each ufrag pair's checks and of their responses
    stun_flow = of(stun["frame"].to_numpy()) if len(stun) else np.zeros(0, np.int64)
    active[stun_flow] = True
    is_check = ((stun["method"] == "binding") & (stun["cls"] == "request") & stun["username"].notna()).to_numpy(bool) \
        if len(stun) else np.zeros(0, bool)
    ufrags = ufrag_pair(stun["username"]) if len(stun) else pd.Series([], dtype="string")
    tid_ufrags: dict[str, str] = {}
    for tid, u in zip(stun["transaction_id"][is_check].astype(object), ufrags[is_check].astype(object)):
        tid_ufrags.setdefault(str(tid), str(u))
    row_ufrags = np.array([tid_ufrags.get(str(t)) if not _na(t) else None
                           for t in stun["transaction_id"].astype(object)], dtype=object) if len(stun) else \
        np.zeros(0, object)
    checked = np.array([u is not None for u in row_ufrags], dtype=bool)
    flow_generations: dict[int, list[str]] = {}
    for u in dict.fromkeys(row_ufrags[checked].tolist()):
        fl = np.unique(stun_flow[checked & (row_ufrags == u)])
        fl = fl[fl >= 0]
        uf.join(fl)
        for f in fl.tolist():
            flow_generations.setdefault(f, []).append(u)

    # SSRCs: RTP and RTCP senders
    parts = []
    if rtp is not None and len(rtp):
        parts.append(pd.DataFrame({"flow": of(rtp["frame"].to_numpy()), "ssrc": rtp["ssrc"].to_numpy(np.int64)}))
    if rtcp is not None and len(rtcp) and "sender_ssrc" in rtcp.columns:
        r = rtcp[rtcp["sender_ssrc"].notna()]
        parts.append(pd.DataFrame({"flow": of(r["frame"].to_numpy()),
                                   "ssrc": r["sender_ssrc"].to_numpy(dtype=np.int64)}))
    by_ssrc = pd.concat(parts, ignore_index=True).drop_duplicates() if parts else \
        pd.DataFrame({"flow": np.zeros(0, np.int64), "ssrc": np.zeros(0, np.int64)})
    by_ssrc = by_ssrc[by_ssrc["flow"] >= 0]
    active[by_ssrc["flow"].to_numpy()] = True
    for _, g in by_ssrc.groupby("ssrc")["flow"]:
        uf.join(g.to_numpy())
    active[-1] = False

    # STUN without checks (queries, TURN control nobody answered): joins the nearest call of its client address,
    # else of its server; a flow with checks or media is never moved
    ids = np.flatnonzero(active[:n_flows])
    root = np.array([uf.find(i) for i in range(n_flows)], dtype=np.int64)
    has_media = np.zeros(n_flows + 1, dtype=bool)
    has_media[flow_ids[kind.isin(("dtls", "rtp", "rtcp", "turn-channel")).to_numpy(bool)]] = True
    has_media[by_ssrc["flow"].to_numpy()] = True
    has_check = np.zeros(n_flows + 1, dtype=bool)
    has_check[stun_flow[checked]] = True
    anchored_roots = {int(root[i]) for i in ids if has_media[i] or has_check[i]}
    fl = flows.set_index("flow")
    if len(stun) and anchored_roots:
        span: dict[int, list[float]] = {}
        for i in ids:
            r = int(root[i])
            if r in anchored_roots:
                lo, hi = float(fl.at[i, "first_t"]), float(fl.at[i, "last_t"])
                s = span.setdefault(r, [lo, hi])
                s[0], s[1] = min(s[0], lo), max(s[1], hi)
        ends: dict[str, set[int]] = {}  # "ip" and "ip:port" -> roots of anchored calls touching them
        for i in ids:
            r = int(root[i])
            if r in anchored_roots:
                for ip, port in ((fl.at[i, "a"], fl.at[i, "a_port"]), (fl.at[i, "b"], fl.at[i, "b_port"])):
                    ends.setdefault(str(ip), set()).add(r)
                    ends.setdefault(_endpoint(ip, port), set()).add(r)
        requests = stun[(stun["cls"] == "request").to_numpy(bool) & ~checked]
        req_flow = of(requests["frame"].to_numpy())
        attached: set[int] = set()
        # first by the client's address, then by the server's ip:port (the calls it joined in the first pass count)
        for by_client in (True, False):
            for f in np.unique(req_flow).tolist():
                if f < 0 or f in attached or int(root[f]) in anchored_roots:
                    continue
                rq = requests[req_flow == f].iloc[0]
                t = float(rq["t"])
                key = str(rq["src"]) if by_client else _endpoint(rq["dst"], rq["dport"])
                near = {r: max(span[r][0] - t, t - span[r][1], 0.0) for r in ends.get(key, set())}
                near = {r: d for r, d in near.items() if d <= ATTACH_WITHIN_S}
                if near:
                    best = min(near, key=near.get)
                    uf.join([best, f])
                    attached.add(f)
                    ends.setdefault(_endpoint(rq["dst"], rq["dport"]), set()).add(best)
        root = np.array([uf.find(i) for i in range(n_flows)], dtype=np.int64)
    if len(stun):
        # STUN-only flows that joined no call: one client's attempts close in time are one (failed) call
        requests = stun[(stun["cls"] == "request").to_numpy(bool) & ~checked]
        req_flow = of(requests["frame"].to_numpy())
        anchored_roots = {int(root[i]) for i in ids if has_media[i] or has_check[i]}
        lone = requests.assign(_flow=req_flow)
        lone = lone[(lone["_flow"] >= 0).to_numpy(bool)]
        lone = lone[np.array([int(root[f]) not in anchored_roots for f in lone["_flow"]], dtype=bool)]
        lone = lone.drop_duplicates("_flow")
        for _, g in lone.sort_values("t").groupby(lone["src"].astype(str), sort=False):
            t, f = g["t"].to_numpy(float), g["_flow"].to_numpy()
            for k in range(1, len(g)):
                if t[k] - t[k - 1] <= ATTACH_WITHIN_S:
                    uf.join([f[k - 1], f[k]])
        root = np.array([uf.find(i) for i in range(n_flows)], dtype=np.int64)

    # number the calls by first frame
    first_t = fl["first_t"].reindex(ids).to_numpy(dtype=float) if len(ids) else np.zeros(0)
    starts = pd.Series(first_t).groupby(root[ids] if len(ids) else []).min()
    roots = [int(r) for r in starts.sort_values(kind="stable").index]
    number = {r: k + 1 for k, r in enumerate(roots)}
    session_of_flow = np.full(n_flows, -1, dtype=np.int64)
    for i in ids:
        session_of_flow[i] = number[int(root[i])]

    # ICE generations: per call, its ufrag pairs in order of their first check
    gen_rows = []
    if checked.any():
        c = stun[checked].assign(_u=row_ufrags[checked], _flow=stun_flow[checked])
        c = c[c["_flow"] >= 0]
        c = c.assign(_session=session_of_flow[c["_flow"].to_numpy()])
        reqs = c[(c["cls"] == "request").to_numpy(bool)]
        for (sess, u), g in reqs.groupby(["_session", "_u"], sort=False):
            gen_rows.append(dict(session=int(sess), ufrags=u, first_frame=int(g["frame"].min()),
                                 first_t=float(g["t"].min()), last_t=float(g["t"].max()), checks=len(g)))
    gen_rows.sort(key=lambda r: (r["session"], r["first_frame"]))
    seen: dict[int, int] = {}
    for r in gen_rows:
        r["generation"] = seen.get(r["session"], 0)
        seen[r["session"]] = r["generation"] + 1
    generations = _frame(gen_rows, GENERATIONS_SCHEMA)
    gen_of = {(r["session"], r["ufrags"]): r["generation"] for r in gen_rows}

    flow_rows = []
    for f in range(n_flows):
        sess = int(session_of_flow[f])
        gens = [gen_of.get((sess, u)) for u in flow_generations.get(f, [])]
        gens = [g for g in gens if g is not None]
        flow_rows.append(dict(flow=f, session=sess if sess > 0 else None, generation=min(gens) if gens else None))
    flow_sessions = _frame(flow_rows, FLOW_SESSIONS_SCHEMA)

    # one row per call
    pk_session = np.where(flow_ids >= 0, session_of_flow[np.clip(flow_ids, 0, max(n_flows - 1, 0))], -1) \
        if n_flows else np.full(len(flow_ids), -1)
    ssrc_session = session_of_flow[by_ssrc["flow"].to_numpy()] if len(by_ssrc) else np.zeros(0, np.int64)
    frames = pd.DataFrame({"session": pk_session, "flow": flow_ids, "frame": packets["frame"].to_numpy(),
                           "t": packets["t"].to_numpy(), "kind": kind.astype(str) if len(kind) else []})
    frames = frames[frames["session"] > 0]
    per = frames.groupby("session").agg(first_frame=("frame", "min"), last_frame=("frame", "max"),
                                        start_t=("t", "min"), end_t=("t", "max"), packets=("frame", "size"))
    per_kind = frames.groupby(["session", "kind"]).size()
    main_flow = frames.groupby(["session", "flow"]).size()
    ssrcs = by_ssrc.assign(session=ssrc_session).groupby("session")["ssrc"].nunique() if len(by_ssrc) else {}
    rows = []
    for r in roots:
        sess = number[r]
        my_flows = np.flatnonzero(session_of_flow == sess)
        gens = generations[generations["session"] == sess]
        seen = sess in per.index
        main = int(main_flow.loc[sess].idxmax()) if seen else int(my_flows[0])
        m = fl.loc[main]
        rows.append(dict(
            session=sess,
            kind="ice" if len(gens) else ("media" if has_media[my_flows].any() else "stun"),
            ufrags=" then ".join(gens["ufrags"].astype(str)) if len(gens) else None, generations=len(gens),
            flows=len(my_flows), first_frame=int(per.at[sess, "first_frame"]) if seen else 0,
            last_frame=int(per.at[sess, "last_frame"]) if seen else 0,
            start_t=float(per.at[sess, "start_t"]) if seen else float(m["first_t"]),
            end_t=float(per.at[sess, "end_t"]) if seen else float(m["last_t"]),
            packets=int(per.at[sess, "packets"]) if seen else 0,
            **{k: int(per_kind.get((sess, k), 0)) for k in ("stun", "dtls", "rtp", "rtcp")},
            ssrcs=int(ssrcs.get(sess, 0)),
            main_flow=f"{m['transport']} {_endpoint(m['a'], m['a_port'])} ↔ {_endpoint(m['b'], m['b_port'])}"))
    return _frame(rows, SESSIONS_SCHEMA), flow_sessions, generations


def _frame(rows: list[dict], schema: dict[str, str]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(schema))
    out = {}
    for col, dtype in schema.items():
        values = [None if _na(v) else v for v in df[col].tolist()]
        out[col] = pd.Series(values, dtype=object).astype(dtype) if dtype in ("category", "string") else \
            pd.Series(pd.array(values, dtype=dtype) if values else [], dtype=dtype)
    return pd.DataFrame(out, columns=list(schema))


def label(table: pd.DataFrame, packets: pd.DataFrame, flow_sessions: pd.DataFrame,
          flows: pd.DataFrame | None = None, generations: pd.DataFrame | None = None) -> pd.DataFrame:
    """`table` with a `session` column (Int64, null where the row belongs to no call) added at the end.

    Rows are placed by their ICE session when the table has `ufrags` and `generations` is given (candidate pairs,
    ICE checks); else by their `frame` (the frame's flow, from `packets`: rtp, rtcp, stun, dtls_records, ice
    transactions by first_frame...); otherwise by their two ends, from `src`/`sport`/`dst`/`dport` (streams, gaps)
    or from "ip:port" strings in `client`/`server` or `local`/`remote` (DTLS associations, TURN allocations),
    matched against `flows` (needed then)."""
    session = flow_sessions["session"].to_numpy(dtype="float64", na_value=np.nan)
    if "ufrags" in table.columns and generations is not None:
        of_ufrags = dict(zip(generations["ufrags"].astype(object), generations["session"].astype(float)))
        s = np.array([of_ufrags.get(u, np.nan) if not _na(u) else np.nan for u in table["ufrags"].astype(object)],
                     dtype=float)
    elif "frame" in table.columns or "first_frame" in table.columns:
        frames = table["frame" if "frame" in table.columns else "first_frame"].to_numpy()
        f = _flow_of_frame(packets)(frames)
        s = np.where(f >= 0, session[np.clip(f, 0, max(len(session) - 1, 0))] if len(session) else np.nan, np.nan)
    else:
        if flows is None:
            raise ValueError("label: a table without frame or ufrags needs `flows` to be placed")
        by_ends: dict[frozenset, float] = {}
        for r in flows.itertuples(index=False):
            key = frozenset((_endpoint(r.a, r.a_port), _endpoint(r.b, r.b_port)))
            by_ends.setdefault(key, session[int(r.flow)] if int(r.flow) < len(session) else np.nan)
        if {"src", "sport", "dst", "dport"} <= set(table.columns):
            a = [_endpoint(i, p) for i, p in zip(table["src"].astype(object), table["sport"].astype(object))]
            b = [_endpoint(i, p) for i, p in zip(table["dst"].astype(object), table["dport"].astype(object))]
        else:
            ca, cb = ("client", "server") if "client" in table.columns else ("local", "remote")
            a, b = table[ca].astype(object).tolist(), table[cb].astype(object).tolist()
        s = np.array([by_ends.get(frozenset((str(x), str(y))), np.nan) for x, y in zip(a, b)], dtype=float)
    out = table.copy()
    out["session"] = pd.array(np.where(np.isnan(s), 0, s).astype(np.int64), dtype="Int64")
    out.loc[np.isnan(s), "session"] = pd.NA
    return out


class SessionView:
    """One call of a capture, read like a Capture: its packets, stun, stun_attributes, rtp, rtcp, dtls_records and
    dtls_handshakes rows only (frame numbers and `t` as in the whole capture), with the capture's sdp and path, so
    the analyses (webrtcpcap.ice, handshake, health's ICE and TURN stages) run on it unchanged.  Make one with
    `cap.session(n)`."""

    def __init__(self, cap, session: int, flow_sessions: pd.DataFrame):
        self.cap = cap
        self.session = int(session)
        s = flow_sessions["session"]
        self.flow_ids = flow_sessions.loc[(s == self.session).fillna(False).to_numpy(bool), "flow"].to_numpy()
        self.path = cap.path
        self.sdp = cap.sdp
        self._cache: dict = {}

    def __repr__(self) -> str:
        return f"<call {self.session} of {self.cap!r}: {len(self.flow_ids)} flows>"

    def _rows(self, name: str) -> pd.DataFrame:
        if name not in self._cache:
            table = getattr(self.cap, name)
            if name == "stun_attributes":
                keep = table["frame"].isin(self.stun["frame"]).to_numpy(bool)
            else:
                f = _flow_of_frame(self.cap.packets)(table["frame"].to_numpy())
                keep = np.isin(f, self.flow_ids)
            self._cache[name] = table[keep]
        return self._cache[name]

    packets = property(lambda self: self._rows("packets"))
    stun = property(lambda self: self._rows("stun"))
    stun_attributes = property(lambda self: self._rows("stun_attributes"))
    rtp = property(lambda self: self._rows("rtp"))
    rtcp = property(lambda self: self._rows("rtcp"))
    dtls_records = property(lambda self: self._rows("dtls_records"))
    dtls_handshakes = property(lambda self: self._rows("dtls_handshakes"))
