"""TURN allocations and their peers (RFC 8656) and NAT mapping behaviour (RFC 4787), from the STUN transactions
(`stun_transactions`) and the `stun_attributes` table.  Plain functions DataFrame -> DataFrame, no bytes and no I/O.
"""

from __future__ import annotations


import pandas as pd

from ..io.errors import DecodeError
from ..protocols.stun import parse_rest_username
from ..tables.schema import as_capture, is_missing as _na
from .stun_transactions import _direct, _endpoints, _frame, _time, transactions

TURN_METHODS = ("allocate", "refresh", "create-permission", "channel-bind", "send", "data")

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


def _attribute_values(stun_attributes: pd.DataFrame, name: str) -> pd.DataFrame:
    """frame -> value rows of one attribute (several rows when a message repeats it)."""
    a = stun_attributes[stun_attributes["name"] == name]
    return a[["frame", "value"]]


def turn_allocations(stun: pd.DataFrame, stun_attributes: pd.DataFrame | None = None, start=None, *,
                     tx: pd.DataFrame | None = None) -> pd.DataFrame:
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
    Per-peer details are in `turn_peers`.  `tx`: `transactions(stun)` when already computed (an analysis context
    passes its own, so that it is computed once per capture).
    """
    if (cap := as_capture(stun)) is not None:  # turn_allocations(cap): its stun tables, REST expiry from its start
        packets = cap.packets
        stun, stun_attributes = cap.stun, cap.stun_attributes
        start = packets["time"].iloc[0] if start is None and len(packets) else start
    elif stun_attributes is None:
        raise TypeError("turn_allocations takes the capture, or the stun and stun_attributes tables")
    stun = _direct(stun)
    if not len(stun) or not stun["method"].isin(TURN_METHODS).any():  # no TURN message: nothing to pair
        return _frame([], TURN_ALLOCATIONS_SCHEMA)
    stun_attributes = _direct(stun_attributes)
    tx = transactions(stun) if tx is None else tx
    tx = tx[tx["method"].isin(TURN_METHODS)].copy()
    data = (tx["method"] == "data").to_numpy()  # a Data indication travels server -> client
    tx.loc[data, ["client", "server"]] = tx.loc[data, ["server", "client"]].to_numpy()
    relayed = _attribute_values(stun_attributes, "XOR-RELAYED-ADDRESS").groupby("frame")["value"].first()
    lifetime = _attribute_values(stun_attributes, "LIFETIME").groupby("frame")["value"].first()
    mapped = stun.set_index("frame")["mapped_address"]
    mapped = mapped[~mapped.index.duplicated()]
    peers = turn_peers(stun, stun_attributes, tx=tx)
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


def turn_peers(stun: pd.DataFrame, stun_attributes: pd.DataFrame, *, tx: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per TURN client/server 5-tuple and peer (XOR-PEER-ADDRESS) it names: the long companion of
    `turn_allocations`.

    Columns (TURN_PEERS_SCHEMA): transport, client, server, peer ("ip:port"), permission_t (response to the first
    successful CreatePermission for the peer), channel (number of the first successful ChannelBind, e.g. 16384 =
    0x4000), channel_t (its response), send_indications (to the peer), data_indications (from the peer).
    `tx`: `transactions(stun)` (or its rows of TURN methods) when already computed.
    """
    stun = _direct(stun)
    stun_attributes = _direct(stun_attributes)
    tx = transactions(stun) if tx is None else tx
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
