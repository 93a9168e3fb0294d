"""The stun and stun_attributes tables: one stun.parse per message (STUN is few), integrity checked with the ICE
passwords (short-term) and the TURN passwords or REST secret (long-term)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..io.errors import DecodeError
from ..protocols import stun
from . import schema as tables
from .datagrams import Datagrams
from .relay import Relay

def stun_tables(messages: Datagrams | None, ice_passwords: dict | None = None, turn_passwords: dict | None = None,
                turn_secret: str | bytes | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The stun and stun_attributes tables (schemas STUN_SCHEMA, STUN_ATTRIBUTES_SCHEMA) from the frames of kind
    stun and the STUN messages relayed inside TURN (see unwrap), one stun.parse per message.  A message that
    does not decode keeps its row, with `error` set (and the header fields when the header is readable).  `ice_passwords` ({ufrag: password}) lets Binding integrity be
    checked: a request whose USERNAME is "A:B" is signed with the password of ufrag A (RFC 8445 §7.2.2), and its
    responses (same transaction id) with the same key.  TURN long-term credentials (RFC 8489 §9.2) check every other
    message that carries USERNAME and REALM: `turn_passwords` ({username: password}), or `turn_secret` for TURN REST
    API usernames ("expiry:user", password = base64(HMAC-SHA1(secret, username)) as coturn's use-auth-secret); the
    key is MD5(username:realm:password), and responses are checked with their request's key."""
    if messages is None or not messages.payloads:
        return tables.empty_table(tables.STUN_SCHEMA), tables.empty_table(tables.STUN_ATTRIBUTES_SCHEMA)
    passwords = {u: stun.short_term_key(p) for u, p in (ice_passwords or {}).items()}
    turn_passwords = dict(turn_passwords or {})
    n = len(messages.payloads)
    keys = {**Relay.direct(n).columns(None), **messages.keys}  # keys without relayed/relay/peer: direct messages
    cols: dict[str, list] = {c: [None] * n for c in (
        "method", "cls", "transaction_id", "username", "priority", "use_candidate", "ice_role", "tie_breaker",
        "mapped_address", "error_code", "error_reason", "software", "fingerprint_ok", "integrity_ok", "error")}
    a_row, a_index, a_type, a_name, a_len, a_value = [], [], [], [], [], []
    request_keys: dict[bytes, bytes] = {}  # transaction id -> the key its request was checked with
    for i, data in enumerate(messages.payloads):
        try:  # every attribute that reads, even when another does not (the error names that one)
            msg, problem = stun.parse_partial(data)
        except DecodeError as e:
            cols["error"][i] = str(e)
            continue
        cols["error"][i] = problem
        cols["method"][i] = stun.method_name(msg.method)
        cols["cls"][i] = stun.CLASS_NAMES[msg.cls]
        cols["transaction_id"][i] = msg.transaction_id.hex()
        use_candidate = False
        for j, a in enumerate(msg.attributes):
            a_row.append(i)
            a_index.append(j)
            a_type.append(a.type)
            a_name.append(a.name)
            a_len.append(len(a.raw))
            a_value.append(a.text)
            column = _STUN_COLUMN.get(a.type)
            if a.error is not None:
                continue
            if column is not None:
                if cols[column][i] is None:
                    cols[column][i] = a.text if a.type == stun.Attr.XOR_MAPPED_ADDRESS else a.value
            elif a.type == stun.Attr.USE_CANDIDATE:
                use_candidate = True
            elif a.type in (stun.Attr.ICE_CONTROLLING, stun.Attr.ICE_CONTROLLED) and cols["ice_role"][i] is None:
                cols["ice_role"][i] = "controlling" if a.type == stun.Attr.ICE_CONTROLLING else "controlled"
                cols["tie_breaker"][i] = a.value
            elif a.type == stun.Attr.ERROR_CODE and cols["error_code"][i] is None:
                cols["error_code"][i] = a.value.code
                cols["error_reason"][i] = a.value.reason
        cols["use_candidate"][i] = use_candidate
        if problem is not None:
            continue  # integrity is over the whole message as sent: not judged on one that does not decode
        cols["fingerprint_ok"][i] = stun.fingerprint_ok(data)
        if passwords and msg.method == stun.Method.BINDING:
            key = None
            if msg.cls == stun.Class.REQUEST:
                ufrag = (cols["username"][i] or "").partition(":")[0]
                key = passwords.get(ufrag)
                if key is not None:
                    request_keys[msg.transaction_id] = key
            elif msg.cls in (stun.Class.SUCCESS, stun.Class.ERROR):
                key = request_keys.get(msg.transaction_id)
            if key is not None:
                cols["integrity_ok"][i] = stun.integrity_ok(data, key)
        elif (turn_passwords or turn_secret) and msg.method != stun.Method.BINDING:
            key = None
            if msg.cls in (stun.Class.REQUEST, stun.Class.INDICATION):
                key = _turn_key(msg, cols["username"][i], turn_passwords, turn_secret)
                if key is not None:
                    request_keys[msg.transaction_id] = key
            else:
                key = request_keys.get(msg.transaction_id)
            if key is not None:
                cols["integrity_ok"][i] = stun.integrity_ok(data, key)
    stun_df = tables.frame_table({
        **keys,
        "method": pd.Categorical(cols["method"]), "cls": pd.Categorical(cols["cls"], categories=stun.CLASS_NAMES),
        "transaction_id": cols["transaction_id"], "username": cols["username"],
        "priority": pd.array(cols["priority"], dtype="UInt32"),
        "use_candidate": pd.array(cols["use_candidate"], dtype="boolean"),
        "ice_role": pd.Categorical(cols["ice_role"], categories=["controlling", "controlled"]),
        "tie_breaker": pd.array(cols["tie_breaker"], dtype="UInt64"),
        "mapped_address": cols["mapped_address"],
        "error_code": pd.array(cols["error_code"], dtype="UInt16"), "error_reason": cols["error_reason"],
        "software": cols["software"],
        "fingerprint_ok": pd.array(cols["fingerprint_ok"], dtype="boolean"),
        "integrity_ok": pd.array(cols["integrity_ok"], dtype="boolean"),
        "error": pd.Categorical(cols["error"]),
    }, tables.STUN_SCHEMA)
    rows = np.array(a_row, dtype=np.int64)
    attrs_df = tables.frame_table({
        "frame": keys["frame"][rows], "t": keys["t"][rows], "index": a_index, "type": a_type,
        "name": pd.Categorical(a_name), "length": a_len, "value": a_value,
        "relayed": np.asarray(keys["relayed"])[rows],
    }, tables.STUN_ATTRIBUTES_SCHEMA)
    return stun_df, attrs_df


def _turn_key(msg, username: str | None, passwords: dict, secret) -> bytes | None:
    """The long-term key of a TURN request from its USERNAME and REALM, when the password is known."""
    realm = msg.get(stun.Attr.REALM)
    if username is None or realm is None:
        return None
    password = passwords.get(username)
    if password is None and secret is not None:
        try:
            stun.parse_rest_username(username)
        except DecodeError:
            return None
        password = stun.turn_rest_password(secret, username)
    return stun.long_term_key(username, str(realm), password) if password is not None else None


# Attributes whose value (the first one's) goes straight into a column of the stun table.
_STUN_COLUMN = {stun.Attr.USERNAME: "username", stun.Attr.PRIORITY: "priority", stun.Attr.SOFTWARE: "software",
                stun.Attr.XOR_MAPPED_ADDRESS: "mapped_address"}
