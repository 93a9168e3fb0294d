"""Decoded RTCP feedback to typed tables: NACKs, keyframe requests, REMB, transport-cc, TMMBR (RFC 4585, RFC 5104,
draft-alvestrand-rmcat-remb-03, draft-holmer-rmcat-transport-wide-cc-extensions-01, RFC 8888).

Strategy: `rtcp.parse_compound_partial` splits each plaintext compound and `rtcp.parse_feedback` decodes each
feedback packet's FCI; this module only turns those records into DataFrames, one explicit schema per table, each
starting with the key columns (frame, t, src, dst, sport, dport) and `index`, the packet's position in its compound
(as in `cap.rtcp`).  A feedback packet whose FCI does not decode gives a row in `feedback_errors`, never an
exception; lists (NACKed numbers, REMB SSRCs, transport-cc packets) become long tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..protocols import rtcp
from . import schema as tables

KEYS = tables.KEY_COLUMNS


def _keys(keys: dict, rows) -> dict:
    """The key columns of the datagrams `rows` (one per table row)."""
    return tables.take_columns({name: keys[name] for name in KEYS}, rows)

NACKS_SCHEMA: dict[str, str] = {
    **KEYS,
    "index": "uint16",
    "sender_ssrc": "uint32",
    "media_ssrc": "uint32",
    "seq": "uint16",
    "pid": "uint16",
    "bit": "uint8",
    "fci": "uint16",
}

KEYFRAME_REQUESTS_SCHEMA: dict[str, str] = {
    **KEYS,
    "index": "uint16",
    "kind": "category",
    "sender_ssrc": "uint32",
    "media_ssrc": "uint32",
    "fir_seq": "UInt8",
}

REMB_SCHEMA: dict[str, str] = {
    **KEYS,
    "index": "uint16",
    "sender_ssrc": "uint32",
    "bitrate_bps": "uint64",
    "exponent": "uint8",
    "mantissa": "uint32",
    "ssrcs": "uint8",
}

REMB_SSRCS_SCHEMA: dict[str, str] = {
    **KEYS,
    "index": "uint16",
    "sender_ssrc": "uint32",
    "position": "uint8",
    "ssrc": "uint32",
    "bitrate_bps": "uint64",
}

TWCC_SCHEMA: dict[str, str] = {
    **KEYS,
    "index": "uint16",
    "sender_ssrc": "uint32",
    "media_ssrc": "uint32",
    "feedback_count": "uint8",
    "base_seq": "uint16",
    "reference_time": "int32",
    "twcc_seq": "uint16",
    "status": "category",
    "received": "bool",
    "delta_ms": "Float64",
    "receive_time_ms": "Float64",
}

TMMBR_SCHEMA: dict[str, str] = {
    **KEYS,
    "index": "uint16",
    "kind": "category",
    "sender_ssrc": "uint32",
    "media_ssrc": "uint32",
    "entry": "uint8",
    "ssrc": "uint32",
    "bitrate_bps": "uint64",
    "exponent": "uint8",
    "mantissa": "uint32",
    "overhead": "uint16",
}

CCFB_SCHEMA: dict[str, str] = {
    **KEYS,
    "index": "uint16",
    "sender_ssrc": "uint32",
    "media_ssrc": "uint32",
    "block": "uint16",
    "begin_seq": "uint16",
    "seq": "uint16",
    "received": "bool",
    "ecn": "category",
    "arrival_time_offset": "uint16",
    "report_timestamp": "uint32",
    "arrival_time_s": "Float64",
}

FEEDBACK_ERRORS_SCHEMA: dict[str, str] = {
    **KEYS,
    "index": "uint16",
    "pt": "uint8",
    "fmt": "uint8",
    "format": "category",
    "sender_ssrc": "uint32",
    "media_ssrc": "uint32",
    "fci_len": "uint16",
    "error": "category",
}

FEEDBACK_SCHEMAS: dict[str, dict[str, str]] = {
    "nacks": NACKS_SCHEMA,
    "keyframe_requests": KEYFRAME_REQUESTS_SCHEMA,
    "remb": REMB_SCHEMA,
    "remb_ssrcs": REMB_SSRCS_SCHEMA,
    "twcc": TWCC_SCHEMA,
    "tmmbr": TMMBR_SCHEMA,
    "ccfb": CCFB_SCHEMA,
    "feedback_errors": FEEDBACK_ERRORS_SCHEMA,
}

KEYFRAME_REQUEST_KINDS = ["pli", "fir"]
TWCC_STATUSES = ["not_received", "small_delta", "large_delta"]
TMMB_KINDS = ["tmmbr", "tmmbn"]
ECN_CODEPOINTS = ["Not-ECT", "ECT(1)", "ECT(0)", "CE"]  # RFC 3168 §5: the two ECN bits 0..3


def _columns(*names: str) -> dict[str, list]:
    return {k: [] for k in ("row", "index", *names)}


def _codes(values: list[str], names: list[str]) -> pd.Categorical:
    lookup = {n: i for i, n in enumerate(names)}
    return tables.categorical(np.array([lookup[v] for v in values], dtype=np.int32), names)


def feedback_tables(keys: dict, payloads: list[bytes], parsed: list | None = None) -> dict[str, pd.DataFrame]:
    """RTCP feedback of plaintext compound datagrams decoded into long tables (schemas in FEEDBACK_SCHEMAS).

    `payloads[i]` is one plaintext RTCP compound (plain RTCP, or SRTCP after decryption without its trailer) and
    `keys` holds equal-length columns for them (frame, t, src, dst, sport, dport; others are ignored), exactly as
    `media_tables.rtcp_report_tables` receives them (`cap.rtcp_payloads()`).  Compounds that stop decoding part way
    give their packets up to the broken one (the reason is in `cap.rtcp_datagrams.error`).  Returns a dict of
    DataFrames, each starting with the key columns and `index` (uint16, the packet's position in its compound):

    - `nacks`: one row per NACKed sequence number of a generic NACK (RFC 4585 §6.2.1): `sender_ssrc`, `media_ssrc`
      (uint32), `seq` (uint16, the lost packet), `pid` (uint16, the entry's PID), `bit` (uint8: 0 for the PID
      itself, i in 1..16 for BLP bit i - 1, so seq = pid + bit modulo 2**16), `fci` (uint16, which FCI entry of
      the packet).
    - `keyframe_requests`: one row per PLI and per FIR entry (RFC 4585 §6.3.1, RFC 5104 §4.3.1): `kind` (category
      pli/fir), `sender_ssrc`, `media_ssrc` (uint32; for FIR the SSRC of the FCI entry), `fir_seq` (UInt8, the FIR
      command sequence number; null for PLI).
    - `remb`: one row per REMB (draft-alvestrand-rmcat-remb-03): `sender_ssrc` (uint32), `bitrate_bps` (uint64 =
      mantissa << exponent), `exponent` (uint8), `mantissa` (uint32), `ssrcs` (uint8, how many SSRCs it lists).
    - `remb_ssrcs`: one row per SSRC a REMB lists: `sender_ssrc`, `position` (uint8, in the list), `ssrc` (uint32),
      `bitrate_bps` (uint64, the REMB's estimate).
    - `twcc`: one row per packet a transport-cc feedback reports on (transport-wide-cc-01 §3.1): `sender_ssrc`,
      `media_ssrc` (uint32), `feedback_count` (uint8), `base_seq` (uint16), `reference_time` (int32, 64 ms units),
      `twcc_seq` (uint16, base + i modulo 2**16), `status` (category not_received/small_delta/large_delta),
      `received` (bool), `delta_ms` (Float64, the receive delta; null when not received), `receive_time_ms`
      (Float64, reference_time * 64 + the deltas so far, on the receiver's clock; null when not received).
    - `tmmbr`: one row per TMMBR/TMMBN entry (RFC 5104 §4.2): `kind` (category tmmbr/tmmbn), `sender_ssrc`,
      `media_ssrc` (uint32, the header's), `entry` (uint8), `ssrc` (uint32, the entry's), `bitrate_bps` (uint64),
      `exponent` (uint8), `mantissa` (uint32), `overhead` (uint16, bytes per packet).
    - `ccfb`: one row per packet an RFC 8888 congestion control feedback reports on (§3.1): `sender_ssrc`,
      `media_ssrc` (uint32, the block's stream), `block` (uint16, which block of the packet), `begin_seq`,
      `seq` (uint16, begin_seq + i modulo 2**16), `received` (bool, R), `ecn` (category Not-ECT/ECT(1)/ECT(0)/CE:
      the ECN bits the packet arrived with), `arrival_time_offset` (uint16, ATO as sent, 1/1024 s),
      `report_timestamp` (uint32, the NTP middle 32 bits), `arrival_time_s` (Float64: report_timestamp / 65536 -
      ATO / 1024, seconds on the receiver's NTP clock modulo 65536; null when not received or when ATO is 0x1FFE
      (8190/1024 s or more) or 0x1FFF (unavailable)).
    - `feedback_errors`: one row per feedback packet whose FCI did not decode (length not a whole number of
      entries, no entry, transport-cc chunks or deltas overrunning, a REMB SSRC count that does not match, ...):
      `pt`, `fmt` (uint8), `format` (category: nack, transport-cc, pli, fir, afb, ...), `sender_ssrc`,
      `media_ssrc` (uint32), `fci_len` (uint16, bytes) and `error` (category, the DecodeError message).

    SLI, RPSI, non-REMB AFB and other formats are in `cap.rtcp_feedback` only (raw).  `parsed`:
    rtcp.parse_compound_partial of each payload when already made (Capture parses each compound once).
    """
    nk = _columns("sender", "media", "seq", "pid", "bit", "fci")
    kf = _columns("kind", "sender", "media", "fir_seq")
    rb = _columns("sender", "exp", "mant", "n")
    rs = _columns("sender", "pos", "ssrc", "bitrate")
    tw = _columns("sender", "media", "count", "base", "ref", "n")
    tw_status: list[list[int]] = []
    tw_delta: list[list[int]] = []
    tm = _columns("kind", "sender", "media", "entry", "ssrc", "exp", "mant", "overhead")
    cc = _columns("sender", "media", "block", "begin", "seq", "word", "rts")
    er = _columns("pt", "fmt", "format", "sender", "media", "fci_len", "error")

    for i, data in enumerate(payloads):
        records, _ = rtcp.parse_compound_partial(bytes(data)) if parsed is None else parsed[i]
        for j, raw in enumerate(records):
            if not isinstance(raw, rtcp.Feedback):
                continue
            try:
                p = rtcp.parse_feedback(raw)
            except rtcp.DecodeError as e:
                for key, value in (("row", i), ("index", j), ("pt", raw.packet_type), ("fmt", raw.fmt),
                                   ("format", rtcp.feedback_name(raw.packet_type, raw.fmt)),
                                   ("sender", raw.sender_ssrc), ("media", raw.media_ssrc),
                                   ("fci_len", len(raw.fci)), ("error", str(e))):
                    er[key].append(value)
                continue
            if isinstance(p, rtcp.Nack):
                for f, entry in enumerate(p.entries):
                    for seq, bit in entry.lost:
                        for key, value in (("row", i), ("index", j), ("sender", p.sender_ssrc),
                                           ("media", p.media_ssrc), ("seq", seq), ("pid", entry.pid), ("bit", bit),
                                           ("fci", f)):
                            nk[key].append(value)
            elif isinstance(p, (rtcp.Pli, rtcp.Fir)):
                targets = [(p.media_ssrc, None)] if isinstance(p, rtcp.Pli) else \
                    [(e.ssrc, e.sequence_number) for e in p.entries]
                for media, fir_seq in targets:
                    for key, value in (("row", i), ("index", j), ("kind", "pli" if fir_seq is None else "fir"),
                                       ("sender", p.sender_ssrc), ("media", media), ("fir_seq", fir_seq)):
                        kf[key].append(value)
            elif isinstance(p, rtcp.Remb):
                for key, value in (("row", i), ("index", j), ("sender", p.sender_ssrc), ("exp", p.exponent),
                                   ("mant", p.mantissa), ("n", len(p.ssrcs))):
                    rb[key].append(value)
                for pos, ssrc in enumerate(p.ssrcs):
                    for key, value in (("row", i), ("index", j), ("sender", p.sender_ssrc), ("pos", pos),
                                       ("ssrc", ssrc), ("bitrate", p.bitrate_bps)):
                        rs[key].append(value)
            elif isinstance(p, rtcp.TransportCc):
                for key, value in (("row", i), ("index", j), ("sender", p.sender_ssrc), ("media", p.media_ssrc),
                                   ("count", p.feedback_count), ("base", p.base_sequence),
                                   ("ref", p.reference_time), ("n", p.status_count)):
                    tw[key].append(value)
                tw_status.append([int(s) for s in p.statuses])
                tw_delta.append(list(p.deltas))
            elif isinstance(p, rtcp.Ccfb):
                for b, block in enumerate(p.blocks):
                    for k, m in enumerate(block.metrics):
                        for key, value in (("row", i), ("index", j), ("sender", p.sender_ssrc), ("media", block.ssrc),
                                           ("block", b), ("begin", block.begin_seq),
                                           ("seq", (block.begin_seq + k) & 0xFFFF),
                                           ("word", int(m.received) << 15 | m.ecn << 13 | m.arrival_time_offset),
                                           ("rts", p.report_timestamp)):
                            cc[key].append(value)
            elif isinstance(p, (rtcp.Tmmbr, rtcp.Tmmbn)):
                kind = "tmmbr" if isinstance(p, rtcp.Tmmbr) else "tmmbn"
                for e, entry in enumerate(p.entries):
                    for key, value in (("row", i), ("index", j), ("kind", kind), ("sender", p.sender_ssrc),
                                       ("media", p.media_ssrc), ("entry", e), ("ssrc", entry.ssrc),
                                       ("exp", entry.exponent), ("mant", entry.mantissa),
                                       ("overhead", entry.overhead)):
                        tm[key].append(value)

    out: dict[str, pd.DataFrame] = {}
    out["nacks"] = tables.frame_table({
        **_keys(keys, nk["row"]), "index": nk["index"], "sender_ssrc": np.array(nk["sender"], dtype=np.uint32),
        "media_ssrc": np.array(nk["media"], dtype=np.uint32), "seq": np.array(nk["seq"], dtype=np.uint16),
        "pid": np.array(nk["pid"], dtype=np.uint16), "bit": nk["bit"], "fci": nk["fci"],
    }, NACKS_SCHEMA)

    fir_seq = np.array([-1 if s is None else s for s in kf["fir_seq"]], dtype=np.int16)
    out["keyframe_requests"] = tables.frame_table({
        **_keys(keys, kf["row"]), "index": kf["index"], "kind": _codes(kf["kind"], KEYFRAME_REQUEST_KINDS),
        "sender_ssrc": np.array(kf["sender"], dtype=np.uint32), "media_ssrc": np.array(kf["media"], dtype=np.uint32),
        "fir_seq": tables.masked(np.maximum(fir_seq, 0), fir_seq < 0, "UInt8"),
    }, KEYFRAME_REQUESTS_SCHEMA)

    exp = np.array(rb["exp"], dtype=np.uint64)
    mant = np.array(rb["mant"], dtype=np.uint64)
    out["remb"] = tables.frame_table({
        **_keys(keys, rb["row"]), "index": rb["index"], "sender_ssrc": np.array(rb["sender"], dtype=np.uint32),
        "bitrate_bps": _bitrates(rb["mant"], rb["exp"]), "exponent": exp, "mantissa": mant, "ssrcs": rb["n"],
    }, REMB_SCHEMA)
    out["remb_ssrcs"] = tables.frame_table({
        **_keys(keys, rs["row"]), "index": rs["index"], "sender_ssrc": np.array(rs["sender"], dtype=np.uint32),
        "position": rs["pos"], "ssrc": np.array(rs["ssrc"], dtype=np.uint32),
        "bitrate_bps": _saturated(rs["bitrate"]),
    }, REMB_SSRCS_SCHEMA)

    out["twcc"] = _twcc_table(keys, tw, tw_status, tw_delta)

    tm_exp = np.array(tm["exp"], dtype=np.uint64)
    tm_mant = np.array(tm["mant"], dtype=np.uint64)
    out["tmmbr"] = tables.frame_table({
        **_keys(keys, tm["row"]), "index": tm["index"], "kind": _codes(tm["kind"], TMMB_KINDS),
        "sender_ssrc": np.array(tm["sender"], dtype=np.uint32), "media_ssrc": np.array(tm["media"], dtype=np.uint32),
        "entry": tm["entry"], "ssrc": np.array(tm["ssrc"], dtype=np.uint32),
        "bitrate_bps": _bitrates(tm["mant"], tm["exp"]),
        "exponent": tm_exp, "mantissa": tm_mant, "overhead": tm["overhead"],
    }, TMMBR_SCHEMA)

    out["ccfb"] = _ccfb_table(keys, cc)

    formats = sorted(set(er["format"]))
    errors = sorted(set(er["error"]))
    out["feedback_errors"] = tables.frame_table({
        **_keys(keys, er["row"]), "index": er["index"], "pt": er["pt"], "fmt": er["fmt"],
        "format": _codes(er["format"], formats), "sender_ssrc": np.array(er["sender"], dtype=np.uint32),
        "media_ssrc": np.array(er["media"], dtype=np.uint32), "fci_len": er["fci_len"],
        "error": _codes(er["error"], errors),
    }, FEEDBACK_ERRORS_SCHEMA)
    return out


def _ccfb_table(keys: dict, cc: dict) -> pd.DataFrame:
    """The `ccfb` table: the metric words split into their bits by numpy, arrival times from them."""
    word = np.array(cc["word"], dtype=np.int64)
    received = (word >> 15).astype(bool)
    ato = word & 0x1FFF
    rts = np.array(cc["rts"], dtype=np.int64)
    unknown = ~received | (ato >= rtcp.CCFB_ATO_OVERRANGE)
    return tables.frame_table({
        **_keys(keys, cc["row"]), "index": cc["index"], "sender_ssrc": np.array(cc["sender"], dtype=np.uint32),
        "media_ssrc": np.array(cc["media"], dtype=np.uint32), "block": cc["block"],
        "begin_seq": np.array(cc["begin"], dtype=np.uint16), "seq": np.array(cc["seq"], dtype=np.uint16),
        "received": received, "ecn": tables.categorical(((word >> 13) & 0x3).astype(np.int32), ECN_CODEPOINTS),
        "arrival_time_offset": ato, "report_timestamp": rts,
        "arrival_time_s": tables.masked(rts / 65536 - ato / rtcp.CCFB_ATO_UNITS, unknown, "Float64"),
    }, CCFB_SCHEMA)


def _bitrates(mantissas, exponents) -> np.ndarray:
    """mantissa × 2^exponent (REMB, TMMBR) as uint64, see _saturated."""
    return _saturated([int(m) << int(e) for m, e in zip(mantissas, exponents)])


def _saturated(bitrates) -> np.ndarray:
    """Bitrates as uint64, the few a 6-bit exponent pushes past 2^64 - 1 (no real link; a lying field) held there."""
    return np.array([min(int(b), _UINT64_MAX) for b in bitrates], dtype=np.uint64)


_UINT64_MAX = (1 << 64) - 1


def _twcc_table(keys: dict, tw: dict, statuses: list[list[int]], deltas: list[list[int]]) -> pd.DataFrame:
    """The `twcc` table: per-feedback columns repeated over its packets, receive times by a cumulative sum."""
    n = np.array(tw["n"], dtype=np.int64)
    per = np.repeat(np.arange(len(n)), n)
    status = np.array([s for ss in statuses for s in ss], dtype=np.int8)
    received = (status == rtcp.TwccStatus.SMALL_DELTA) | (status == rtcp.TwccStatus.LARGE_DELTA)
    delta_units = np.zeros(len(status), dtype=np.int64)
    delta_units[received] = np.array([d for ds in deltas for d in ds], dtype=np.int64)
    # Receive time: reference time plus every delta so far within the same feedback packet.
    cum = np.cumsum(delta_units)
    starts = np.concatenate([[0], np.cumsum(n)[:-1]]).astype(np.int64) if len(n) else np.zeros(0, np.int64)
    before = np.where(starts > 0, cum[np.maximum(starts - 1, 0)] if len(cum) else 0, 0)
    ref = np.array(tw["ref"], dtype=np.int64)
    time_units = cum - np.repeat(before, n) if len(per) else np.zeros(0, np.int64)
    receive_ms = np.repeat(ref, n) * rtcp.TWCC_REFERENCE_TIME_MS + time_units * rtcp.TWCC_DELTA_US / 1000
    offset = np.arange(len(per)) - np.repeat(starts, n) if len(per) else np.zeros(0, np.int64)
    base = np.array(tw["base"], dtype=np.int64)
    rows = np.array(tw["row"], dtype=np.int64)
    return tables.frame_table({
        **_keys(keys, rows[per]), "index": np.array(tw["index"], dtype=np.uint16)[per],
        "sender_ssrc": np.array(tw["sender"], dtype=np.uint32)[per],
        "media_ssrc": np.array(tw["media"], dtype=np.uint32)[per],
        "feedback_count": np.array(tw["count"], dtype=np.uint8)[per], "base_seq": base.astype(np.uint16)[per],
        "reference_time": ref.astype(np.int32)[per],
        "twcc_seq": ((base[per] + offset) & 0xFFFF).astype(np.uint16),
        "status": tables.categorical(status.astype(np.int32), TWCC_STATUSES), "received": received,
        "delta_ms": tables.masked(delta_units * rtcp.TWCC_DELTA_US / 1000, ~received, "Float64"),
        "receive_time_ms": tables.masked(receive_ms, ~received, "Float64"),
    }, TWCC_SCHEMA)
