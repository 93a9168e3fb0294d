"""Round-trip time from RTCP sender and receiver reports (RFC 3550 §6.4.1: LSR and DLSR), seen from a capture.

Strategy: a report block echoes the middle 32 bits of the last SR's NTP timestamp it received (LSR) and how long it
held it (DLSR, 1/65536 s).  The SR sender computes RTT = A - LSR - DLSR with A the arrival time of the report on its
own NTP clock.  A capture does not know A, but it saw the SR go by and the report come back: both times are on the
capture's clock, so the arithmetic needs neither endpoint's clock.  An analysis over tables; it never reads bytes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..tables import schema as tables

RTT_SCHEMA: dict[str, str] = {
    **tables.KEY_COLUMNS,
    "reporter_ssrc": "uint32",
    "source_ssrc": "uint32",
    "lsr": "uint32",
    "dlsr_s": "float64",
    "found": "bool",
    "sr_ssrc": "UInt32",
    "sr_frame": "UInt32",
    "sr_t": "Float64",
    "rtt_ms": "Float64",
    "rtt_rfc_ms": "Float64",
}


def round_trip_times(sender_reports: pd.DataFrame, report_blocks: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per report block with LSR ≠ 0, in the order of `report_blocks`, with the SR it answers.

    Inputs are the `rtcp_sender_reports` and `rtcp_report_blocks` tables (`media_tables.rtcp_report_tables`).  The
    SR a block refers to has `ssrc` == the block's `source_ssrc` and `lsr_key` == its `lsr`; when no SR of that
    SSRC has the key, any SR with the key is taken (libwebrtc's block on an RTX stream echoes the LSR of its media
    stream's SR; `sr_ssrc` says which SR answered).  When several match (the same SR seen twice, or a key repeating
    after 18 hours), the last one captured at or before the block wins (the first one when all are later).

    Columns: `frame`, `t`, `src`, `dst`, `sport`, `dport` (of the report block's packet), `reporter_ssrc`,
    `source_ssrc` (uint32), `lsr` (uint32), `dlsr_s` (float64), `found` (bool: the SR is in the capture), `sr_ssrc`
    (UInt32), `sr_frame` (UInt32) and `sr_t` (Float64) of that SR, and
    - `rtt_ms` (Float64) = (t_report - t_sr) * 1000 - DLSR * 1000: the round trip from the capture point to the
      reporter and back.  Where the capture point sits matters: captured at the SR sender (its own host, or the
      same LAN), this is the RTT the SR sender itself computes (RFC 3550 §6.4.1); captured at the reporter's side,
      the SR arrives and the report leaves there, so the value is near 0 (the reporter's hold time minus DLSR: it
      measures no network at all); captured in between (a router, a TURN server), it is the round trip of the
      reporter's half of the path only.  A capture of one endpoint thus gives the RTT towards its peer from the
      reports its peer sends, and about 0 from the reports it sends itself.
    - `rtt_rfc_ms` (Float64): the RFC's own arithmetic, A - LSR - DLSR in 32-bit compact NTP (1/65536 s, modulo
      2^32), with the arrival time A taken as the SR's NTP timestamp plus the capture time elapsed since the SR was
      seen (the SR sender's clock, advanced on the capture's clock).  It equals `rtt_ms` up to the 1/65536 s
      rounding of LSR and DLSR (the RFC formula, for readers who want to see it applied).
    Null where the SR was not found.
    """
    if (cap := tables.as_capture(sender_reports)) is not None:  # round_trip_times(cap): from the capture's RTCP
        sender_reports, report_blocks = cap.rtcp_sender_reports, cap.rtcp_report_blocks
    elif report_blocks is None:
        raise TypeError("round_trip_times takes the capture, or the sender_reports and report_blocks tables")
    rb = report_blocks[report_blocks["lsr"] != 0]
    n = len(rb)
    frame = rb["frame"].to_numpy(dtype=np.uint32)
    t = rb["t"].to_numpy(dtype=np.float64)
    source = rb["source_ssrc"].to_numpy(dtype=np.uint32)
    lsr = rb["lsr"].to_numpy(dtype=np.uint32)
    dlsr_s = rb["dlsr_s"].to_numpy(dtype=np.float64)
    dlsr = rb["dlsr"].to_numpy(dtype=np.int64)

    sr_row = np.full(n, -1, dtype=np.int64)
    if n and len(sender_reports):
        sr_ssrc = sender_reports["ssrc"].to_numpy(dtype=np.uint64)
        sr_key = sender_reports["lsr_key"].to_numpy(dtype=np.uint64)
        sr_t = sender_reports["t"].to_numpy(dtype=np.float64)
        sr_row = _match((sr_ssrc << np.uint64(32)) | sr_key, sr_t,
                        (source.astype(np.uint64) << np.uint64(32)) | lsr.astype(np.uint64), t)
        alone = sr_row < 0  # e.g. libwebrtc's block on an RTX SSRC echoes its media stream's SR
        if alone.any():
            sr_row[alone] = _match(sr_key, sr_t, lsr[alone].astype(np.uint64), t[alone])
    found = sr_row >= 0
    take = np.where(found, sr_row, 0)
    if len(sender_reports):
        srs = sender_reports["ssrc"].to_numpy(dtype=np.uint32)[take]
        srf = sender_reports["frame"].to_numpy(dtype=np.uint32)[take]
        srt = sender_reports["t"].to_numpy(dtype=np.float64)[take]
        srntp = sender_reports["ntp_timestamp"].to_numpy(dtype=np.uint64)[take]
    else:
        srs, srf, srt, srntp = np.zeros(n, np.uint32), np.zeros(n, np.uint32), np.zeros(n), np.zeros(n, np.uint64)
    elapsed = t - srt
    rtt_ms = (elapsed - dlsr_s) * 1000.0
    # RFC 3550 §6.4.1 in compact NTP: A = middle 32 bits of (SR NTP + elapsed), RTT = A - LSR - DLSR (mod 2^32).
    arrival = (srntp >> np.uint64(16)).astype(np.int64) + np.round(np.maximum(elapsed, 0) * 65536).astype(np.int64)
    compact = (arrival - lsr.astype(np.int64) - dlsr) & 0xFFFFFFFF
    compact = np.where(compact >= 1 << 31, compact - (1 << 32), compact)  # a small negative result stays negative
    missing = ~found
    return pd.DataFrame({
        "frame": frame, "t": t,
        **{k: rb[k].to_numpy() if k in ("sport", "dport") else rb[k].array for k in ("src", "dst", "sport", "dport")},
        "reporter_ssrc": rb["reporter_ssrc"].to_numpy(dtype=np.uint32), "source_ssrc": source,
        "lsr": lsr, "dlsr_s": dlsr_s, "found": found,
        "sr_ssrc": pd.arrays.IntegerArray(srs.astype(np.uint32), missing.copy()),
        "sr_frame": pd.arrays.IntegerArray(srf.astype(np.uint32), missing.copy()),
        "sr_t": pd.arrays.FloatingArray(srt.astype(np.float64), missing.copy()),
        "rtt_ms": pd.arrays.FloatingArray(rtt_ms, missing.copy()),
        "rtt_rfc_ms": pd.arrays.FloatingArray(compact / 65536.0 * 1000.0, missing.copy()),
    }).astype(RTT_SCHEMA)


def _match(sr_key: np.ndarray, sr_t: np.ndarray, want: np.ndarray, t: np.ndarray) -> np.ndarray:
    """For each wanted key at time t, the row of the last SR with that key at or before t (the first if all are
    later), -1 if none: one sort, then a binary search per report block in its key's run."""
    order = np.lexsort((sr_t, sr_key))
    skey, st = sr_key[order], sr_t[order]
    lo = np.searchsorted(skey, want, side="left")
    hi = np.searchsorted(skey, want, side="right")
    out = np.full(len(want), -1, dtype=np.int64)
    for i in np.flatnonzero(hi > lo).tolist():
        a, b = int(lo[i]), int(hi[i])
        j = a + int(np.searchsorted(st[a:b], t[i], side="right")) - 1
        out[i] = order[max(j, a)]
    return out
