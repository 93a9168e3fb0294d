"""What SRTP/SRTCP decryption (tables/decrypt.py) changes in a capture's tables: the auth_ok and srtp_status columns
of rtp and rtcp, the rtcp table with the rows of decrypted compounds in place of their ciphertext's, and the
plaintext RTCP datagrams the report and feedback tables are read from."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..protocols import rtcp as _rtcp, srtp
from . import schema as tables
from .rtcp_rows import rtcp_rows

NOT_TRIED = 255  # webrtcpcap.tables.decrypt.NOT_TRIED, without importing it on the plain path


def srtp_columns(status: np.ndarray) -> tuple:
    """auth_ok and srtp_status columns (tables.SRTP_COLUMNS) from webrtcpcap.protocols.srtp.Status codes or
    NOT_TRIED."""
    status = np.asarray(status)
    tried = status != NOT_TRIED
    authentic = np.isin(status, [srtp.Status.OK, srtp.Status.DUPLICATE, srtp.Status.LATE])
    codes = np.where(tried, status.astype(np.int16), -1)
    return (tables.masked(authentic, ~tried, "boolean"),
            pd.Categorical.from_codes(codes, categories=list(srtp.STATUS_NAMES)))


def concat_tables(parts: list[pd.DataFrame], schema: dict[str, str]) -> pd.DataFrame:
    """Rows of several tables of one schema; categorical columns get the union of their categories."""
    out = {}
    for name, dtype in schema.items():
        cols = [p[name] for p in parts]
        if dtype == "category":
            cats = list(dict.fromkeys(c for col in cols for c in col.cat.categories))
            out[name] = pd.Categorical(pd.concat([col.astype(object) for col in cols], ignore_index=True),
                                       categories=cats)
        else:
            out[name] = pd.concat(cols, ignore_index=True).astype(dtype)
    return pd.DataFrame(out)


def rtp_with_status(rtp: pd.DataFrame, d) -> pd.DataFrame:
    """The rtp table with auth_ok and srtp_status when there was decryption `d` (else as it is).  The columns are
    added to the decoded table itself: the other columns are not copied."""
    if d is not None:
        rtp["auth_ok"], rtp["srtp_status"] = srtp_columns(d.rtp_status)
    return rtp


def rtcp_plaintexts(dg, d, parsed: list | None = None) -> tuple[dict, list, np.ndarray]:
    """The RTCP compound datagrams `dg` (pipeline.Datagrams) as plaintext after decryption `d` (None: none):
    (key columns, payloads, status), see Capture.rtcp_payloads.  `parsed`, a list, is filled with
    rtcp.parse_compound_partial of each payload given (the plain ones are parsed here anyway to tell whole
    compounds), so that the report and feedback tables need not parse them again."""
    srtcp = np.asarray(dg.keys.get("srtcp", np.zeros(len(dg), bool)), dtype=bool)
    ends = zip(np.asarray(dg.keys["src"]).tolist(), np.asarray(dg.keys["sport"]).tolist(),
               np.asarray(dg.keys["dst"]).tolist(), np.asarray(dg.keys["dport"]).tolist())
    flows = [tuple(sorted(((a, p), (b, q)))) for a, p, b, q in ends]
    whole: dict[int, bool] = {}
    plain_flows = set()
    got: dict[int, tuple] = {}
    for i, p in enumerate(dg.payloads):
        if srtcp[i] or (d is not None and d.rtcp_status[i] != NOT_TRIED):
            continue
        got[i] = records, error = _rtcp.parse_compound_partial(bytes(p))
        whole[i] = error is None
        if error is None:
            plain_flows.add(flows[i])
    rows, payloads, status = [], [], []
    for i, p in enumerate(dg.payloads):
        if d is not None and d.rtcp_plaintext[i] is not None:
            rows.append(i)
            payloads.append(d.rtcp_plaintext[i])
            status.append("decrypted")
            continue
        if i not in whole or not (whole[i] or flows[i] in plain_flows):
            continue  # SRTCP not decrypted, or ciphertext after the first header on a flow with no plain RTCP
        rows.append(i)
        payloads.append(p)
        status.append("plain")
    if parsed is not None:
        parsed.extend(got[i] if status[k] == "plain" else _rtcp.parse_compound_partial(bytes(payloads[k]))
                      for k, i in enumerate(rows))
    idx = np.asarray(rows, dtype=np.int64)
    return tables.take_columns(dg.keys, idx), payloads, np.asarray(status, dtype=object)


def decrypted_rtcp(rtcp: pd.DataFrame, dg, d) -> pd.DataFrame:
    """The rtcp table after decryption `d` (None: none) of the compound datagrams `dg`: the rows of decrypted SRTCP
    datagrams replaced by the rows of their plaintext compounds; SRTCP that did not authenticate keeps its readable
    first header, with auth_ok False."""
    if d is None:
        return rtcp
    if not (d.rtcp_status != NOT_TRIED).any():
        rtcp["auth_ok"], rtcp["srtp_status"] = srtp_columns(np.full(len(rtcp), NOT_TRIED, np.uint8))
        return rtcp
    # The datagram of each row: the k-th datagram of a frame owns the rows from its frame's k-th index-0 row on.
    dg_frames = np.asarray(dg.keys["frame"]).astype(np.int64)
    dg_ordinal = pd.Series(dg_frames).groupby(dg_frames).cumcount().to_numpy()
    where = {key: i for i, key in enumerate(zip(dg_frames.tolist(), dg_ordinal.tolist()))}
    ordinal = (rtcp["index"] == 0).groupby(rtcp["frame"]).cumsum().to_numpy() - 1
    pos = np.array([where.get(key, -1) for key in zip(rtcp["frame"].astype(np.int64).tolist(), ordinal.tolist())],
                   dtype=np.int64)
    status = np.where(pos >= 0, d.rtcp_status[np.maximum(pos, 0)], NOT_TRIED).astype(np.uint8)
    replaced = np.array([p >= 0 and d.rtcp_plaintext[p] is not None for p in pos.tolist()], dtype=bool)
    old = rtcp[~replaced].copy()
    old["auth_ok"], old["srtp_status"] = srtp_columns(status[~replaced])
    plain = np.array([i for i, p in enumerate(d.rtcp_plaintext) if p is not None], dtype=np.int64)
    sub_keys = tables.take_columns(dg.keys, plain)
    new, of_row = rtcp_rows(sub_keys, [d.rtcp_plaintext[i] for i in plain.tolist()])
    new["auth_ok"], new["srtp_status"] = srtp_columns(d.rtcp_status[plain[of_row]])
    merged = concat_tables([old, new], tables.DECRYPTED_RTCP_SCHEMA)
    order = np.lexsort((merged["index"].to_numpy(), np.concatenate([pos[~replaced], plain[of_row]])))
    return merged.iloc[order].reset_index(drop=True)
