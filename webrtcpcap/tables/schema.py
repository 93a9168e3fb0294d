"""Decoded arrays to pandas DataFrames: one schema per table, explicit dtypes, stable column names.

Strategy: every table is built from numpy arrays that the decoders produced; nothing here reads packet bytes.
Nullable values use pandas' masked arrays (UInt16, Int32, boolean); repeated strings are categoricals built from
integer codes, so no per-row Python objects are made on the hot path.
"""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd

# Column -> dtype, in column order.  Changing a name or a dtype here is an API change: see the README.
PACKETS_SCHEMA: dict[str, str] = {
    "frame": "uint32",
    "time": "datetime64[ns, UTC]",
    "t": "float64",
    "caplen": "uint32",
    "len": "uint32",
    "interface": "category",  # the capture interface's index (uint16 categories; cap.interfaces)
    "ip_version": "category",  # 4 or 6 (uint8 categories); null for non-IP frames
    # The IPv4 TOS / IPv6 Traffic Class byte (RFC 2474, RFC 3168): null where no IP header was read.
    "dscp": "UInt8",  # its high 6 bits: the DiffServ code point (46 EF, 34 AF41, 0 default)
    "ecn": "UInt8",  # its low 2 bits: 0 Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE (congestion experienced)
    "src": "category",
    "dst": "category",
    "sport": "UInt16",
    "dport": "UInt16",
    "transport": "category",
    "kind": "category",
    "payload_len": "UInt16",
    "flow": "category",  # the flow's id (int32 categories 0..n-1, the flows table's `flow`); null without one
    "evidence": "category",
    "error": "category",
}

# Sparse facts live in small side tables rather than mostly-empty columns of `packets`.
ICMP_SCHEMA: dict[str, str] = {
    "frame": "uint32",
    "t": "float64",
    "src": "category",
    "dst": "category",
    "icmp_type": "uint8",
    "icmp_code": "uint8",
    "quoted": "string",
}

FRAGMENTS_SCHEMA: dict[str, str] = {
    "frame": "uint32",
    "t": "float64",
    "src": "category",
    "dst": "category",
    "reassembled_in": "UInt32",
}

# The keys every per-message table starts with (STYLE: frame, t, addresses and ports).
KEY_COLUMNS: dict[str, str] = {
    "frame": "uint32",
    "t": "float64",
    "src": "category",
    "dst": "category",
    "sport": "uint16",
    "dport": "uint16",
}

# What decryption says of a packet (null when no key was tried on it): the tag verified, and webrtcpcap.protocols.srtp's
# status name ("ok", "duplicate", "late", "auth_failed", ...).  Only a capture opened with keys (open(keylog=,
# srtp_keys=)) has them: two columns that would be null on every row of every other capture are not paid for.
SRTP_COLUMNS: dict[str, str] = {"auth_ok": "boolean", "srtp_status": "category"}

RTP_SCHEMA: dict[str, str] = {
    **KEY_COLUMNS,
    "ssrc": "uint32",
    "pt": "uint8",
    "seq": "uint16",
    "ts": "uint32",
    "marker": "bool",
    "padding": "bool",
    "extension": "bool",
    "csrc_count": "uint8",
    "ext_profile": "category",  # uint16 categories (0xBEDE, 0x1000...); null without a header extension
    "payload_offset": "uint16",
    "payload_len": "uint16",
    "dtls_srtp": "bool",
    "error": "category",
    "relayed": "bool",
    "relay": "category",
    "peer": "category",
}

RTCP_SCHEMA: dict[str, str] = {
    **KEY_COLUMNS,
    "index": "uint16",
    "pt": "uint8",
    "count": "UInt8",
    "fmt": "UInt8",
    "sender_ssrc": "UInt32",
    "length_bytes": "int32",
    "offset": "uint16",
    "padding": "bool",
    "dtls_srtp": "bool",
    "error": "category",
    "relayed": "bool",
    "relay": "category",
    "peer": "category",
}

# cap.rtp and cap.rtcp of a capture opened with keys.
DECRYPTED_RTP_SCHEMA: dict[str, str] = {**RTP_SCHEMA, **SRTP_COLUMNS}
DECRYPTED_RTCP_SCHEMA: dict[str, str] = {**RTCP_SCHEMA, **SRTP_COLUMNS}

STUN_SCHEMA: dict[str, str] = {
    **KEY_COLUMNS,
    "transport": "category",
    "method": "category",
    "cls": "category",
    "transaction_id": "string",
    "username": "string",
    "priority": "UInt32",
    "use_candidate": "boolean",
    "ice_role": "category",
    "tie_breaker": "UInt64",
    "mapped_address": "string",
    "error_code": "UInt16",
    "error_reason": "string",
    "software": "string",
    "fingerprint_ok": "boolean",
    "integrity_ok": "boolean",
    "error": "category",
    "relayed": "bool",
    "relay": "category",
    "peer": "category",
}

STUN_ATTRIBUTES_SCHEMA: dict[str, str] = {
    "frame": "uint32",
    "t": "float64",
    "index": "uint16",
    "type": "uint16",
    "name": "category",
    "length": "uint16",
    "value": "string",
    "relayed": "bool",
}

# One row per direction of a TCP connection that carried data (webrtcpcap.net.tcp): how it was framed, and if the
# framing stopped, why (what the frames after that point were not read as).
TCP_STREAMS_SCHEMA: dict[str, str] = {
    "src": "category",
    "sport": "uint16",
    "dst": "category",
    "dport": "uint16",
    "framing": "category",
    "segments": "int64",
    "bytes": "int64",
    "messages": "int64",
    "retransmitted": "int64",
    "first_frame": "uint32",
    "last_frame": "uint32",
    "problem": "string",
    "problem_frame": "UInt32",
}

FLOWS_SCHEMA: dict[str, str] = {
    "flow": "int32",
    "transport": "category",
    "a": "category",
    "a_port": "uint16",
    "b": "category",
    "b_port": "uint16",
    "evidence": "category",
    "packets": "int64",
    "first_t": "float64",
    "last_t": "float64",
}


_BLOCK = 1 << 16  # rows per step of the column builders that loop, so that their temporaries stay small


def masked(values: np.ndarray, missing: np.ndarray, dtype: str,
           own_mask: bool = False) -> pd.api.extensions.ExtensionArray:
    """A nullable pandas array of `dtype` from numpy values and a mask of missing rows (taken as it is, not
    copied, with `own_mask`: for a mask the caller made for this array alone)."""
    numpy_dtype = np.dtype(dtype.lower()) if dtype != "boolean" else np.dtype(bool)
    # Masked slots may hold anything (pandas never shows them), so no zeroing pass is needed.
    values = np.asarray(values).astype(numpy_dtype, copy=False)
    mask = np.asarray(missing, dtype=bool) if own_mask else np.array(missing, dtype=bool)
    if dtype == "boolean":
        return pd.arrays.BooleanArray(values, mask)
    if dtype.startswith("Float"):
        return pd.arrays.FloatingArray(values, mask)
    return pd.arrays.IntegerArray(values, mask)


_DTYPES: dict[tuple, pd.CategoricalDtype] = {}  # categories -> dtype, see _dtype_of


def _dtype_of(names) -> pd.CategoricalDtype:
    """A CategoricalDtype for `names`, made once: pandas checks categories given as a list (an Index, then
    uniqueness) at 0.5 ms a call, which over the dozens of categorical columns of each chunk was most of
    iter_chunks' fixed cost per chunk.  The cache is bounded (cleared when full)."""
    key = tuple(names)
    dtype = _DTYPES.get(key)
    if dtype is None:
        if len(_DTYPES) >= 1024:
            _DTYPES.clear()
        dtype = _DTYPES[key] = pd.CategoricalDtype(list(names))
    return dtype


# pandas >= 2.1 can take codes without checking each one against the categories: the codes made here are in range
# by construction, and the check costs a pass over the column and most of a small chunk's categorical columns.
_NO_CODE_CHECK = {"validate": False} if "validate" in inspect.signature(pd.Categorical.from_codes).parameters else {}


def _from_codes(codes: np.ndarray, dtype: pd.CategoricalDtype) -> pd.Categorical:
    return pd.Categorical.from_codes(codes, dtype=dtype, **_NO_CODE_CHECK)


def categorical(codes: np.ndarray, names: list[str], reuse: bool = False) -> pd.Categorical:
    """A categorical from int codes (-1 = missing) into `names`; unused categories are kept out.  With `reuse`,
    the caller gives `codes` up, and they are renumbered in place where their dtype allows."""
    codes = np.asarray(codes)
    if len(names) == 0:  # every code is -1 (missing); int8 codes are taken as they are
        return _from_codes(codes.astype(np.int8, copy=False), _dtype_of(()))
    # Block by block: whole-column temporaries (int64 copies of the codes) would dominate the decode's peak memory.
    blocks = [slice(lo, lo + _BLOCK) for lo in range(0, len(codes), _BLOCK)]
    used = np.zeros(len(names) + 1, dtype=bool)
    for b in blocks:
        used |= np.bincount(codes[b].astype(np.int64) + 1, minlength=len(names) + 1) > 0
    used = used[1:]
    if used.all():
        return _from_codes(codes.astype(_code_dtype(len(names)), copy=False), _dtype_of(names))
    kept = [name for name, u in zip(names, used) if u]
    remap = np.append(np.cumsum(used) - 1, -1).astype(_code_dtype(len(kept)))  # index -1 (missing) maps to -1
    out = codes if reuse and codes.dtype == remap.dtype else np.empty(len(codes), dtype=remap.dtype)
    for b in blocks:
        out[b] = remap[codes[b]]
    return _from_codes(out, _dtype_of(kept))


def utc_times(ns: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """A datetime64[ns, UTC] array over the int64 nanoseconds `ns`, sharing their memory.  pandas' public
    constructors copy (they localize, which for UTC changes nothing): the packets table would hold its times twice
    at the decode's peak, so its private constructor is used where it exists."""
    values = np.asarray(ns).view("datetime64[ns]")
    try:
        return pd.arrays.DatetimeArray._simple_new(values, dtype=pd.DatetimeTZDtype("ns", "UTC"))
    except (AttributeError, TypeError):  # another pandas: one copy
        return pd.DatetimeIndex(values).tz_localize("UTC").array


def int_category(values: np.ndarray, missing: np.ndarray, dtype: str) -> pd.Categorical:
    """A categorical of the integers `values` (`dtype` categories, sorted; null where `missing`), for columns that take
    few distinct values: one byte a row where a nullable integer takes one more than its width.  `dtype` is
    uint8 or uint16 (values in its range where not missing)."""
    values, present = np.asarray(values), ~np.asarray(missing, dtype=bool)
    size = np.iinfo(np.dtype(dtype)).max + 1
    # Block by block, so that the temporaries stay small whatever the length; counts, not sorting, find the values.
    blocks = [slice(lo, lo + _BLOCK) for lo in range(0, len(values), _BLOCK)]
    seen = np.zeros(size, dtype=bool)
    for b in blocks:
        seen[values[b][present[b]]] = True
    categories = np.flatnonzero(seen).astype(dtype)
    code_of = np.full(size, -1, dtype=_code_dtype(len(categories)))
    code_of[categories] = np.arange(len(categories))
    codes = np.full(len(values), -1, dtype=code_of.dtype)
    for b in blocks:
        codes[b][present[b]] = code_of[values[b][present[b]]]
    key = ("int", dtype, categories.tobytes())  # a key no list of names makes
    cat_dtype = _DTYPES.get(key)
    if cat_dtype is None:
        if len(_DTYPES) >= 1024:
            _DTYPES.clear()
        cat_dtype = _DTYPES[key] = pd.CategoricalDtype(pd.Index(categories, dtype=dtype))
    return _from_codes(codes, cat_dtype)


def _id_dtype(n: int) -> pd.CategoricalDtype:
    key = ("id", n)  # a key no list of names makes
    dtype = _DTYPES.get(key)
    if dtype is None:
        if len(_DTYPES) >= 1024:
            _DTYPES.clear()
        dtype = _DTYPES[key] = pd.CategoricalDtype(pd.Index(np.arange(n, dtype=np.int32)))
    return dtype


def id_category(ids: np.ndarray, n: int) -> pd.Categorical:
    """A categorical of the ids 0..n-1 (int32 categories; -1 = missing) where every id occurs: codes and ids are
    then the same numbers, so the column takes one byte a row (below 127 ids) where Int32 takes five."""
    codes = np.asarray(ids).astype(_code_dtype(n))
    return _from_codes(codes, _id_dtype(n))


def zero_is_missing(codes: np.ndarray) -> np.ndarray:
    """Codes where 0 means "none" (enum values) as categorical codes with -1 for missing."""
    codes = np.asarray(codes)
    top = int(codes.max()) if len(codes) else 0
    out = codes.astype(_code_dtype(top + 1))  # narrow: an int32 copy of a per-frame column is 4 bytes a packet
    out[out == 0] = -1
    return out


def _code_dtype(n: int):
    return np.int8 if n < 127 else np.int16 if n < 32767 else np.int32


def take_rows(value, rows: np.ndarray):
    """Rows `rows` of one column given as a numpy array, a pandas (extension or categorical) array, a Series or a
    list: what the per-message tables use to repeat their datagram's key columns."""
    if isinstance(value, (pd.Categorical, pd.api.extensions.ExtensionArray)):
        return value.take(rows)
    if isinstance(value, pd.Series):
        return value.array.take(rows)
    return np.asarray(value)[rows]


def take_columns(columns: dict, rows) -> dict:
    """`take_rows` of every column of a dict of columns (e.g. pipeline.Datagrams.keys)."""
    rows = np.asarray(rows, dtype=np.int64)
    return {name: take_rows(value, rows) for name, value in columns.items()}


def frame_table(columns: dict[str, object], schema: dict[str, str]) -> pd.DataFrame:
    """A DataFrame with exactly the schema's columns, in its order, each converted to its dtype."""
    out = {}
    for name, dtype in schema.items():
        value = columns[name]
        if dtype == "category" or dtype.startswith("datetime64") or isinstance(value, pd.api.extensions.ExtensionArray):
            out[name] = value
        elif dtype == "string":
            out[name] = pd.array(value, dtype="string")
        else:
            out[name] = np.asarray(value).astype(dtype, copy=False)
    df = pd.DataFrame(out, copy=False)
    return df


def check_schema(df: pd.DataFrame, schema: dict[str, str]) -> list[str]:
    """Differences between a table and its schema (empty when they agree); used by the tests."""
    problems = []
    if list(df.columns) != list(schema):
        problems.append(f"columns {list(df.columns)} != {list(schema)}")
    for name, dtype in schema.items():
        if name in df.columns and str(df[name].dtype) != dtype:
            problems.append(f"{name}: {df[name].dtype} != {dtype}")
    return problems


_EMPTY: dict[tuple, pd.DataFrame] = {}  # schema -> a zero-row table, see empty_table


def empty_table(schema: dict[str, str]) -> pd.DataFrame:
    """A zero-row table with the schema's columns and dtypes: a copy of one made once per schema (making it takes a
    Series per column, a millisecond or two, and iter_chunks' small chunks ask for empty tables every chunk)."""
    key = tuple(schema.items())
    template = _EMPTY.get(key)
    if template is None:
        template = _EMPTY[key] = pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in schema.items()})
    return template.copy()


def as_capture(value):
    """`value` when it is an open capture (an object serving the tables as attributes, not a table itself), else
    None: lets an analysis take the capture in place of its tables (`ice.candidate_pairs(cap)`, issue 21).
    Duck-typed on the class (no property is computed here), so that this floor imports no Capture."""
    return None if isinstance(value, pd.DataFrame) or not hasattr(type(value), "packets") else value


def is_missing(value) -> bool:
    """Whether one cell's value is missing: None, pd.NA or a float NaN."""
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def ufrag_pair(usernames: pd.Series) -> pd.Series:
    """The ICE session of each check: its USERNAME "recipient:sender" (RFC 8445 §7.2.2) as the two ufrags in
    sorted order, "a:b", so that both agents' checks of one ICE session share one key.  An ICE restart (new ufrags)
    starts a new key; a USERNAME without a colon is its own key.  (The key that joins the stun table to ICE
    sessions and calls: webrtcpcap.ice and webrtcpcap.tables.sessions use it.)"""
    out = [":".join(sorted(str(u).split(":", 1))) if not is_missing(u) else None for u in usernames.astype(object)]
    return pd.Series(out, index=usernames.index, dtype="string")
