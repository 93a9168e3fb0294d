"""RTCP rows: whether a datagram ends like SRTCP, and the rtcp table's rows for whole plaintext compounds (decrypted
SRTCP), read with the same vectorised compound walk as the pipeline's."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..io import buffer
from ..protocols import rtcp
from . import schema as tables

# SRTCP trailers (RFC 3711 §3.4): after the compound, the E flag and 31-bit SRTCP index, then (AES-CM/f8 with
# HMAC-SHA1) the 80-bit auth tag; with AES-GCM (RFC 7714 §9.1) the tag is inside and E+index comes last.
SRTCP_TAG_HMAC = 10
SRTCP_INDEX_LEN = 4
SRTCP_GCM_TAG = 16
# An index this large needs 16 M RTCP packets on one SSRC: ciphertext read as an index is larger 127 times in 128.
SRTCP_MAX_INDEX = 1 << 24


def srtcp_trailer(src, off: np.ndarray, cap: np.ndarray, wire: np.ndarray, sub: dict) -> np.ndarray:
    """Per RTCP datagram: do its bytes end like SRTCP?  The first header is in the clear, so its length L1 is true;
    what follows is ciphertext of the rest of the compound (a whole number of words), then E+index with E set and a
    plausible index, at the place one of the two trailer layouts puts it.  Plain RTCP that chains exactly is never
    asked (the caller keeps it); this decides for flows that no DTLS handshake in the same read marks."""
    n = len(off)
    first_len = np.zeros(n, dtype=np.int64)
    head = sub["index"] == 0
    first_len[sub["datagram"][head]] = sub["length_bytes"][head]
    whole = (cap >= wire) & (first_len > 0)
    out = np.zeros(n, dtype=bool)
    for trailer, index_at in ((SRTCP_INDEX_LEN + SRTCP_TAG_HMAC, SRTCP_TAG_HMAC + SRTCP_INDEX_LEN),
                              (SRTCP_GCM_TAG + SRTCP_INDEX_LEN, SRTCP_INDEX_LEN)):
        rest = wire.astype(np.int64) - first_len - trailer
        fits = whole & (rest >= 0) & (rest % 4 == 0)
        word = src.be32(off + wire.astype(np.int64) - index_at, fits).astype(np.int64)
        out |= fits & (word >> 31 == 1) & ((word & 0x7FFFFFFF) < SRTCP_MAX_INDEX)
    return out



def rtcp_rows(keys: dict, payloads: list[bytes], dtls_srtp: bool = True) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows of the rtcp table (RTCP_SCHEMA) for whole plaintext compounds, e.g. decrypted SRTCP: one per
    sub-packet, with the key columns of its datagram (`keys`: as Datagrams has them); and the index of each row's
    datagram in `payloads`."""
    if not payloads:
        return tables.empty_table(tables.RTCP_SCHEMA), np.zeros(0, dtype=np.int64)
    cap = np.array([len(p) for p in payloads], dtype=np.int64)
    off = buffer.EXTRA + np.concatenate([[0], np.cumsum(cap)[:-1]]).astype(np.int64)
    src = buffer.ByteSource(np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.int64),
                            np.frombuffer(b"".join(payloads), dtype=np.uint8))
    sub, status = rtcp.walk_compound(src, off, cap, cap)
    dg = sub["datagram"]
    cols = {k: tables.take_rows(keys[k], dg)
            for k in ("frame", "t", "src", "dst", "sport", "dport", "relayed", "relay", "peer")}
    cols.update(rtcp_columns(sub, status[dg], np.full(len(dg), dtls_srtp)))
    return tables.frame_table({k: cols[k] for k in tables.RTCP_SCHEMA}, tables.RTCP_SCHEMA), dg


def rtcp_columns(sub: dict, status: np.ndarray, dtls_srtp: np.ndarray) -> dict:
    """The rtcp table's own columns (all but the key and relay ones) from rtcp.walk_compound's sub-packet columns
    and each sub-packet's compound status."""
    names = [""] + list(rtcp.COMPOUND_MESSAGES.values())
    error = np.full(len(status), -1, dtype=np.int16)
    for i, code in enumerate(rtcp.COMPOUND_MESSAGES, start=1):
        error[status == code] = i
    feedback = np.isin(sub["pt"], rtcp.FEEDBACK_TYPES)
    return {
        "index": sub["index"], "pt": sub["pt"],
        "count": tables.masked(sub["count"], feedback, "UInt8"),
        "fmt": tables.masked(sub["count"], ~feedback, "UInt8"),
        "sender_ssrc": tables.masked(sub["sender_ssrc"], ~sub["has_ssrc"].astype(bool), "UInt32"),
        "length_bytes": sub["length_bytes"], "offset": np.minimum(sub["offset"], 0xFFFF),
        "padding": sub["padding"].astype(bool), "dtls_srtp": dtls_srtp,
        "error": tables.categorical(error, names),
    }
