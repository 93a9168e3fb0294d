"""Decoded RTCP reports and RTP header extensions to typed tables (RFC 3550 §6.4–6.7, RFC 8285).

Strategy: the decoders (`rtcp.parse_compound_partial`, `rtp_extensions.decode_extensions`) read the bytes; this
module only turns their records and arrays into DataFrames with one explicit schema per table, starting with the
key columns every table has (frame, t, src, dst, sport, dport).  RTCP reports are few (a few per second per
stream), so they are decoded per datagram; RTP header extensions are many, so they arrive as numpy arrays.  The
SDPs' payload types, as webrtcpcap.sdp reads them, make one more table here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ..protocols import codecs, rtcp, sdp
from . import schema as tables
from ..protocols.rtp_extensions import (EXT_ERROR_MESSAGES, EXT_OK, FORM_NAMES, FORM_OTHER, TEXT_NAMES, Extmaps,
    extension_name)

# -- RTCP reports ------------------------------------------------------------------------------------------------

KEYS = tables.KEY_COLUMNS

RTCP_DATAGRAMS_SCHEMA: dict[str, str] = {
    **KEYS,
    "packets": "uint16",
    "error": "category",
    "relayed": "bool",
    "relay": "category",
    "peer": "category",
}

RTCP_SENDER_REPORTS_SCHEMA: dict[str, str] = {
    **KEYS,
    "index": "uint16",
    "ssrc": "uint32",
    "ntp_timestamp": "uint64",
    "ntp_time": "float64",
    "ntp_utc": "datetime64[ns, UTC]",
    "lsr_key": "uint32",
    "rtp_timestamp": "uint32",
    "packet_count": "uint32",
    "octet_count": "uint32",
    "report_count": "uint8",
}

RTCP_REPORT_BLOCKS_SCHEMA: dict[str, str] = {
    **KEYS,
    "index": "uint16",
    "reporter_ssrc": "uint32",
    "reporter_kind": "category",
    "block": "uint8",
    "source_ssrc": "uint32",
    "fraction_lost": "float64",
    "fraction_lost_raw": "uint8",
    "cumulative_lost": "Int32",
    "highest_seq": "uint32",
    "jitter": "uint32",
    "jitter_ms": "Float64",
    "lsr": "uint32",
    "dlsr": "uint32",
    "dlsr_s": "float64",
}

RTCP_SDES_SCHEMA: dict[str, str] = {
    **KEYS,
    "index": "uint16",
    "ssrc": "uint32",
    "item": "category",
    "item_type": "uint8",
    "text": "string",
}

RTCP_BYE_SCHEMA: dict[str, str] = {
    **KEYS,
    "index": "uint16",
    "ssrc": "UInt32",
    "reason": "string",
}

RTCP_FEEDBACK_SCHEMA: dict[str, str] = {
    **KEYS,
    "index": "uint16",
    "pt": "uint8",
    "fmt": "uint8",
    "sender_ssrc": "uint32",
    "media_ssrc": "uint32",
    "fci_len": "uint16",
    "fci": "string",
}

RTCP_OTHER_SCHEMA: dict[str, str] = {
    **KEYS,
    "index": "uint16",
    "pt": "uint8",
    "ssrc": "UInt32",
    "subtype": "uint8",
    "name": "string",
    "length": "uint16",
    "data": "string",
}

RTCP_REPORT_SCHEMAS: dict[str, dict[str, str]] = {
    "rtcp_datagrams": RTCP_DATAGRAMS_SCHEMA,
    "rtcp_sender_reports": RTCP_SENDER_REPORTS_SCHEMA,
    "rtcp_report_blocks": RTCP_REPORT_BLOCKS_SCHEMA,
    "rtcp_sdes": RTCP_SDES_SCHEMA,
    "rtcp_bye": RTCP_BYE_SCHEMA,
    "rtcp_feedback": RTCP_FEEDBACK_SCHEMA,
    "rtcp_other": RTCP_OTHER_SCHEMA,
}


_take = tables.take_rows


def _keys(keys: dict, rows: list[int]) -> dict:
    return tables.take_columns({name: keys[name] for name in KEYS}, rows)


def _relay_keys(keys: dict, n: int) -> dict:
    out = {}
    all_rows = np.arange(n, dtype=np.int64)
    out["relayed"] = _take(keys["relayed"], all_rows) if "relayed" in keys else np.zeros(n, dtype=bool)
    for name in ("relay", "peer"):
        out[name] = _take(keys[name], all_rows) if name in keys else pd.Categorical([None] * n)
    return out


def _rate(value) -> float:
    """A clock rate from a {ssrc: rate} dict entry (None, pandas NA or a number) as a float; 0 when unknown."""
    try:
        return float(value) if value is not None and not pd.isna(value) and value > 0 else 0.0
    except (TypeError, ValueError):
        return 0.0


def rtcp_report_tables(keys: dict, payloads: list[bytes], clock_rates: dict[int, int] | None = None,
                       parsed: list | None = None) -> dict[str, pd.DataFrame]:
    """RTCP compound datagrams decoded into one table per packet type (schemas in RTCP_REPORT_SCHEMAS).

    `payloads[i]` is one plaintext RTCP compound (plain RTCP, or SRTCP after decryption without its trailer) and
    `keys` holds equal-length columns for them: frame, t, src, dst, sport, dport (and optionally relayed, relay,
    peer), as `pipeline.stun_tables` receives them.  `clock_rates` ({SSRC: Hz}, e.g. from `cap.streams`) gives
    `jitter_ms`.  Returns a dict of DataFrames, each starting with the key columns:

    - `rtcp_datagrams`: one row per datagram, none ever dropped: `packets` (uint16, how many packets decoded),
      `error` (category: why the datagram, from that packet on, did not decode; null when all of it did), relayed,
      relay, peer.  The packets before a broken one are kept in the other tables.
    - `rtcp_sender_reports`: one row per SR: `index` (uint16, the packet's position in its compound, as in
      `cap.rtcp`), `ssrc` (uint32), `ntp_timestamp` (uint64, 32.32 fixed point), `ntp_time` (float64 seconds since
      1900), `ntp_utc` (datetime64[ns, UTC], the same instant, meaningful when the sender's clock is wall time),
      `lsr_key` (uint32, the middle 32 bits: what report blocks echo as LSR), `rtp_timestamp`, `packet_count`,
      `octet_count` (uint32), `report_count` (uint8).
    - `rtcp_report_blocks`: one row per report block of an SR or RR: `index`, `reporter_ssrc` (uint32),
      `reporter_kind` (category SR/RR), `block` (uint8, position in the packet), `source_ssrc` (uint32, the stream
      reported on), `fraction_lost` (float64, 0..1 = raw/256) and `fraction_lost_raw` (uint8), `cumulative_lost`
      (Int32, signed 24 bit), `highest_seq` (uint32, extended: cycles << 16 | seq), `jitter` (uint32, RTP timestamp
      units), `jitter_ms` (Float64; null when `clock_rates` has no rate for the source), `lsr`, `dlsr` (uint32, DLSR
      in 1/65536 s) and `dlsr_s` (float64 seconds).
    - `rtcp_sdes`: one row per SDES item: `index`, `ssrc` (uint32), `item` (category: cname, name, email, phone,
      loc, tool, note, priv, mid, ... or "type N"), `item_type` (uint8), `text` (string).
    - `rtcp_bye`: one row per SSRC leaving (one row with null `ssrc` for a BYE without SSRCs): `index`, `ssrc`
      (UInt32), `reason` (string, null when absent).
    - `rtcp_feedback`: one row per RTPFB/PSFB packet, kept raw (RFC 4585): `index`, `pt` (uint8, 205/206), `fmt`
      (uint8), `sender_ssrc`, `media_ssrc` (uint32), `fci_len` (uint16) and `fci` (string, hex).
    - `rtcp_other`: one row per APP, XR block or packet of another type, kept raw: `index`, `pt`, `ssrc`
      (UInt32), `subtype` (uint8: APP subtype, XR block type, or the header's count bits), `name` (string: APP
      name, "xr", or null), `length` (uint16, bytes of `data`) and `data` (string, hex).
    `parsed`: rtcp.parse_compound_partial of each payload when already made (Capture parses each compound once).
    """
    n = len(payloads)
    rates = clock_rates or {}
    dg_packets = np.zeros(n, dtype=np.uint16)
    dg_error: list[str | None] = [None] * n
    sr: dict[str, list] = {k: [] for k in ("row", "index", "ssrc", "ntp", "rtp_ts", "packets", "octets", "count")}
    rb: dict[str, list] = {k: [] for k in ("row", "index", "reporter", "kind", "block", "source", "fraction", "lost",
                                           "high", "jitter", "lsr", "dlsr")}
    sd: dict[str, list] = {k: [] for k in ("row", "index", "ssrc", "type", "text")}
    bye: dict[str, list] = {k: [] for k in ("row", "index", "ssrc", "reason")}
    fb: dict[str, list] = {k: [] for k in ("row", "index", "pt", "fmt", "sender", "media", "fci")}
    ot: dict[str, list] = {k: [] for k in ("row", "index", "pt", "ssrc", "subtype", "name", "data")}

    def blocks(i: int, j: int, record, kind: str) -> None:
        for b, r in enumerate(record.reports):
            for key, value in (("row", i), ("index", j), ("reporter", record.ssrc), ("kind", kind), ("block", b),
                               ("source", r.ssrc), ("fraction", r.fraction_lost), ("lost", r.packets_lost),
                               ("high", r.highest_sequence), ("jitter", r.jitter), ("lsr", r.lsr),
                               ("dlsr", r.dlsr)):
                rb[key].append(value)

    for i, data in enumerate(payloads):
        records, error = rtcp.parse_compound_partial(bytes(data)) if parsed is None else parsed[i]
        dg_packets[i] = min(len(records), 0xFFFF)
        dg_error[i] = error
        for j, p in enumerate(records):
            if isinstance(p, rtcp.SenderReport):
                for key, value in (("row", i), ("index", j), ("ssrc", p.ssrc), ("ntp", p.ntp_timestamp),
                                   ("rtp_ts", p.rtp_timestamp), ("packets", p.packet_count),
                                   ("octets", p.octet_count), ("count", len(p.reports))):
                    sr[key].append(value)
                blocks(i, j, p, "SR")
            elif isinstance(p, rtcp.ReceiverReport):
                blocks(i, j, p, "RR")
            elif isinstance(p, rtcp.Sdes):
                for chunk in p.chunks:
                    for item in chunk.items:
                        for key, value in (("row", i), ("index", j), ("ssrc", chunk.ssrc), ("type", item.type),
                                           ("text", item.text.encode("utf-8", "replace").decode("utf-8"))):
                            sd[key].append(value)
            elif isinstance(p, rtcp.Bye):
                reason = None if p.reason is None else p.reason.encode("utf-8", "replace").decode("utf-8")
                for s in p.ssrcs or (None,):
                    for key, value in (("row", i), ("index", j), ("ssrc", s), ("reason", reason)):
                        bye[key].append(value)
            elif isinstance(p, rtcp.Feedback):
                for key, value in (("row", i), ("index", j), ("pt", p.packet_type), ("fmt", p.fmt),
                                   ("sender", p.sender_ssrc), ("media", p.media_ssrc), ("fci", p.fci.hex())):
                    fb[key].append(value)
            else:
                if isinstance(p, rtcp.App):
                    rows = [(p.ssrc, p.subtype, p.name.decode("latin-1"), p.data)]
                elif isinstance(p, rtcp.Xr):
                    rows = [(p.ssrc, b.block_type, "xr", bytes(b)) for b in p.blocks] or [(p.ssrc, 0, "xr", b"")]
                else:
                    rows = [(None, p.count, None, p.body)]
                for ssrc, subtype, name, raw in rows:
                    for key, value in (("row", i), ("index", j), ("pt", int(p.packet_type)), ("ssrc", ssrc),
                                       ("subtype", subtype), ("name", name), ("data", raw.hex())):
                        ot[key].append(value)

    out: dict[str, pd.DataFrame] = {}
    errors = sorted({e for e in dg_error if e is not None})
    codes = np.array([-1 if e is None else errors.index(e) for e in dg_error], dtype=np.int32)
    out["rtcp_datagrams"] = tables.frame_table({
        **_keys(keys, list(range(n))), "packets": dg_packets, "error": tables.categorical(codes, errors),
        **_relay_keys(keys, n)}, RTCP_DATAGRAMS_SCHEMA)

    ntp = np.array(sr["ntp"], dtype=np.uint64)
    ntp_time = (ntp >> np.uint64(32)).astype(np.float64) + (ntp & np.uint64(0xFFFFFFFF)).astype(np.float64) / 2**32
    unix_ns = ((ntp >> np.uint64(32)).astype(np.int64) - rtcp.NTP_UNIX_OFFSET) * 1_000_000_000 \
        + (((ntp & np.uint64(0xFFFFFFFF)) * np.uint64(1_000_000_000)) >> np.uint64(32)).astype(np.int64) \
        if len(ntp) else np.zeros(0, dtype=np.int64)
    out["rtcp_sender_reports"] = tables.frame_table({
        **_keys(keys, sr["row"]), "index": sr["index"], "ssrc": np.array(sr["ssrc"], dtype=np.uint32),
        "ntp_timestamp": ntp, "ntp_time": ntp_time,
        "ntp_utc": pd.DatetimeIndex(unix_ns.view("datetime64[ns]")).tz_localize("UTC"),
        "lsr_key": ((ntp >> np.uint64(16)) & np.uint64(0xFFFFFFFF)).astype(np.uint32),
        "rtp_timestamp": np.array(sr["rtp_ts"], dtype=np.uint32),
        "packet_count": np.array(sr["packets"], dtype=np.uint32), "octet_count": np.array(sr["octets"], np.uint32),
        "report_count": np.array(sr["count"], dtype=np.uint8),
    }, RTCP_SENDER_REPORTS_SCHEMA)

    fraction = np.array(rb["fraction"], dtype=np.uint8)
    jitter = np.array(rb["jitter"], dtype=np.uint32)
    source = np.array(rb["source"], dtype=np.uint32)
    rate = np.array([_rate(rates.get(int(s))) for s in source.tolist()], dtype=np.float64)
    dlsr = np.array(rb["dlsr"], dtype=np.uint32)
    out["rtcp_report_blocks"] = tables.frame_table({
        **_keys(keys, rb["row"]), "index": rb["index"], "reporter_ssrc": np.array(rb["reporter"], dtype=np.uint32),
        "reporter_kind": pd.Categorical(rb["kind"], categories=["SR", "RR"]),
        "block": rb["block"], "source_ssrc": source,
        "fraction_lost": fraction / 256.0, "fraction_lost_raw": fraction,
        "cumulative_lost": pd.array(np.array(rb["lost"], dtype=np.int32), dtype="Int32"),
        "highest_seq": np.array(rb["high"], dtype=np.uint32), "jitter": jitter,
        "jitter_ms": tables.masked(np.where(rate > 0, jitter / np.where(rate > 0, rate, 1) * 1000.0, 0.0),
                                   rate <= 0, "Float64"),
        "lsr": np.array(rb["lsr"], dtype=np.uint32), "dlsr": dlsr, "dlsr_s": dlsr / 65536.0,
    }, RTCP_REPORT_BLOCKS_SCHEMA)

    item_types = np.array(sd["type"], dtype=np.uint8)
    names = sorted({rtcp.sdes_item_name(int(t)) for t in set(item_types.tolist())})
    out["rtcp_sdes"] = tables.frame_table({
        **_keys(keys, sd["row"]), "index": sd["index"], "ssrc": np.array(sd["ssrc"], dtype=np.uint32),
        "item": pd.Categorical([rtcp.sdes_item_name(int(t)) for t in item_types.tolist()], categories=names),
        "item_type": item_types, "text": sd["text"],
    }, RTCP_SDES_SCHEMA)

    out["rtcp_bye"] = tables.frame_table({
        **_keys(keys, bye["row"]), "index": bye["index"], "ssrc": pd.array(bye["ssrc"], dtype="UInt32"),
        "reason": bye["reason"],
    }, RTCP_BYE_SCHEMA)

    out["rtcp_feedback"] = tables.frame_table({
        **_keys(keys, fb["row"]), "index": fb["index"], "pt": fb["pt"], "fmt": fb["fmt"],
        "sender_ssrc": np.array(fb["sender"], dtype=np.uint32), "media_ssrc": np.array(fb["media"], dtype=np.uint32),
        "fci_len": np.array([len(x) // 2 for x in fb["fci"]], dtype=np.uint16), "fci": fb["fci"],
    }, RTCP_FEEDBACK_SCHEMA)

    out["rtcp_other"] = tables.frame_table({
        **_keys(keys, ot["row"]), "index": ot["index"], "pt": ot["pt"], "ssrc": pd.array(ot["ssrc"], dtype="UInt32"),
        "subtype": ot["subtype"], "name": ot["name"],
        "length": np.array([len(x) // 2 for x in ot["data"]], dtype=np.uint16), "data": ot["data"],
    }, RTCP_OTHER_SCHEMA)
    return out


# -- RTP header extensions ---------------------------------------------------------------------------------------

RTP_EXTENSIONS_SCHEMA: dict[str, str] = {
    **KEYS,
    "ssrc": "uint32",
    "seq": "uint16",
    "id": "UInt8",
    "form": "category",
    "uri": "category",
    "name": "category",
    "length": "uint16",
    "value": "UInt64",
    "twcc_seq": "UInt16",
    "abs_send_time_s": "Float64",
    "abs_capture_time_s": "Float64",
    "audio_level_dbov": "Int8",
    "voice_activity": "boolean",
    "mid": "category",
    "rid": "category",
    "repaired_rid": "category",
    "video_rotation": "UInt16",
    "playout_min_ms": "UInt16",
    "playout_max_ms": "UInt16",
    "error": "category",
}


def _lut(mapping: dict[int, str], uris: list[str]) -> np.ndarray:
    lut = np.full(256, -1, dtype=np.int32)
    for ident, uri in mapping.items():
        if 0 <= ident < 256:
            lut[ident] = uris.index(uri)
    return lut


def rtp_extensions_table(keys: dict, ssrc: np.ndarray, seq: np.ndarray, decoded: dict[str, np.ndarray],
                         extmap=None) -> pd.DataFrame:
    """One row per RTP header extension element (RFC 8285), from `rtp_extensions.decode_extensions` output.

    `keys` (frame, t, src, dst, sport, dport), `ssrc` and `seq` have one entry per packet given to the decoder;
    `extmap` is None, an {id: URI} dict (a=extmap of one section) or a `rtp_extensions.Extmaps`
    (`sdp_extmaps(cap.sdp)`): an SSRC listed by an a=ssrc line gets its section's mapping, else the section of the
    mid it carries (sdes:mid), else the ids all sections agree on.  Columns (schema RTP_EXTENSIONS_SCHEMA):

    - the keys, `ssrc` (uint32), `seq` (uint16);
    - `id` (UInt8; null for a block of another profile, RFC 3550 §5.3.1), `form` (category one-byte/two-byte/other),
      `uri` (category, the a=extmap URI; null without a mapping for the id), `name` (category: its short name,
      transport-wide-cc, abs-send-time, abs-capture-time, sdes:mid, rtp-stream-id, repaired-rtp-stream-id,
      ssrc-audio-level, video-orientation, playout-delay, toffset...), `length` (uint16 value bytes), `value`
      (UInt64: the value as a big-endian integer, null when longer than 8 bytes or empty);
    - decoded by name: `twcc_seq` (UInt16, transport-wide sequence number; the first two bytes for
      transport-wide-cc-02), `abs_send_time_s` (Float64, 6.18 fixed-point seconds, wraps every 64 s),
      `abs_capture_time_s` (Float64, the 8-byte NTP capture timestamp in seconds since 1900; null for the 16-byte
      form with clock offset), `audio_level_dbov` (Int8, -0..-127 dBov, RFC 6464) and `voice_activity` (boolean,
      its V bit), `mid`, `rid`, `repaired_rid` (category: sdes:mid, rtp-stream-id, repaired-rtp-stream-id text,
      RFC 9143 / RFC 8852; filled when decode_extensions was given their ids as `text_ids`), `video_rotation`
      (UInt16 degrees clockwise, 0/90/180/270, 3GPP CVO), `playout_min_ms` and `playout_max_ms` (UInt16, 12-bit
      values in 10 ms units);
    - `error` (category): the packet's extension error (element past the block end, block past the packet...),
      repeated on its elements; a packet with an error and no element before it has one row with null id.
    """

    plan = extmap if isinstance(extmap, Extmaps) else Extmaps(dict(extmap or {}), {}, {})
    packet = np.asarray(decoded["packet"], dtype=np.int64)
    perr = np.asarray(decoded["error"])
    lonely = np.setdiff1d(np.flatnonzero((perr != EXT_OK) & np.isin(perr, list(EXT_ERROR_MESSAGES))), packet)
    k = len(packet)
    rows = np.concatenate([packet, lonely])
    order = np.argsort(rows, kind="stable")
    rows = rows[order]
    elem = order < k  # rows that are elements (others: error-only rows)
    ei = np.where(elem, order, 0)  # index into the long arrays

    def long(name, fill=0):
        arr = np.asarray(decoded[name])
        return np.where(elem, arr[ei] if k else fill, fill)

    ssrc_r = np.asarray(ssrc, dtype=np.uint32)[rows]
    ident = long("id", -1).astype(np.int32)
    form = long("form", 0).astype(np.int32)
    length = long("length", 0).astype(np.int64)
    valid = long("value_valid", False).astype(bool)
    value = long("value", 0).astype(np.uint64)

    # Text values (mid, rid) of the elements decode_extensions read them for.
    text_codes = np.full(len(rows), -1, dtype=np.int32)
    text_names: list[str] = []
    if len(decoded.get("text_element", ())):
        uniq, inverse = np.unique(np.asarray(decoded["text"]), return_inverse=True)
        text_names = [u.decode("utf-8", "replace") for u in uniq.tolist()]
        per_elem = np.full(k, -1, dtype=np.int32)
        per_elem[np.asarray(decoded["text_element"])] = inverse.reshape(-1)
        text_codes = np.where(elem, per_elem[ei], -1)

    # id -> URI per row: SSRC mapping, else the mid's section, else the common ids.
    maps = [plan.common, *plan.by_ssrc.values(), *plan.by_mid.values()]
    uris = sorted({u for m in maps for u in m.values()})
    uri_code = _lut(plan.common, uris)[np.clip(ident, 0, 255)]
    mapped = np.zeros(len(rows), dtype=bool)
    for s in np.unique(ssrc_r).tolist():
        if s in plan.by_ssrc:
            here = ssrc_r == s
            uri_code[here] = _lut(plan.by_ssrc[s], uris)[np.clip(ident[here], 0, 255)]
            mapped |= here
    if plan.by_mid and text_names:
        mid_uri = [i for i, u in enumerate(uris) if u in _uris_named(uris, "sdes:mid")]
        is_mid = np.isin(uri_code, mid_uri) & (text_codes >= 0)
        for s in np.unique(ssrc_r[is_mid & ~mapped]).tolist():
            mid = text_names[int(text_codes[is_mid & (ssrc_r == s)][0])]
            if mid in plan.by_mid:
                here = ssrc_r == s
                uri_code[here] = _lut(plan.by_mid[mid], uris)[np.clip(ident[here], 0, 255)]
    uri_code[(ident < 0) | (form == FORM_OTHER)] = -1
    names = [extension_name(u) for u in uris]
    name_list = sorted(set(names))
    name_code = np.where(uri_code >= 0, np.array([name_list.index(x) for x in names] + [-1], np.int32)[uri_code], -1)

    def named(*wanted):
        codes = [name_list.index(w) for w in wanted if w in name_list]
        return np.isin(name_code, codes) if codes else np.zeros(len(rows), dtype=bool)

    nbytes = np.clip(length, 1, 8).astype(np.uint64)

    def top(nbits):  # the first `nbits` bits of the value
        return value >> (np.uint64(8) * nbytes - np.uint64(nbits)) if len(rows) else value

    twcc = named("transport-wide-cc", "transport-wide-cc-02") & valid & (length >= 2)
    abs_send = named("abs-send-time") & valid & (length == 3)
    abs_cap = named("abs-capture-time") & valid & (length == 8)
    level = named("ssrc-audio-level") & valid
    cvo = named("video-orientation") & valid
    playout = named("playout-delay") & valid & (length == 3)
    first_byte = np.where(valid, top(8), 0).astype(np.int64)
    playout_v = np.where(playout, value, 0).astype(np.int64)

    def text_col(name):
        where = named(name)
        return tables.categorical(np.where(where, text_codes, -1), text_names)

    err_names = [EXT_ERROR_MESSAGES[c] for c in sorted(EXT_ERROR_MESSAGES)]
    err_code = np.array([-1] * 256, dtype=np.int32)
    for i, c in enumerate(sorted(EXT_ERROR_MESSAGES)):
        err_code[c] = i
    return tables.frame_table({
        **_keys(keys, rows), "ssrc": ssrc_r, "seq": np.asarray(seq, dtype=np.uint16)[rows],
        "id": tables.masked(np.clip(ident, 0, 255), ~elem | (ident < 0), "UInt8"),
        "form": tables.categorical(np.where(elem, form - 1, -1), [FORM_NAMES[i] for i in sorted(FORM_NAMES)]),
        "uri": tables.categorical(uri_code, uris),
        "name": tables.categorical(name_code, name_list),
        "length": length,
        "value": tables.masked(value, ~valid, "UInt64"),
        "twcc_seq": tables.masked(np.where(twcc, top(16), 0), ~twcc, "UInt16"),
        "abs_send_time_s": tables.masked(value.astype(np.float64) / 2**18, ~abs_send, "Float64"),
        "abs_capture_time_s": tables.masked(value.astype(np.float64) / 2**32, ~abs_cap, "Float64"),
        "audio_level_dbov": tables.masked(-(first_byte & 0x7F), ~level, "Int8"),
        "voice_activity": tables.masked((first_byte & 0x80) != 0, ~level, "boolean"),
        "mid": text_col("sdes:mid"), "rid": text_col("rtp-stream-id"),
        "repaired_rid": text_col("repaired-rtp-stream-id"),
        "video_rotation": tables.masked((first_byte & 0x03) * 90, ~cvo, "UInt16"),
        "playout_min_ms": tables.masked((playout_v >> 12) * 10, ~playout, "UInt16"),
        "playout_max_ms": tables.masked((playout_v & 0xFFF) * 10, ~playout, "UInt16"),
        "error": tables.categorical(err_code[perr[rows]] if len(rows) else np.zeros(0, np.int32), err_names),
    }, RTP_EXTENSIONS_SCHEMA)


def _uris_named(uris: list[str], name: str) -> set[str]:
    return {u for u in uris if extension_name(u) == name}


PAYLOAD_TYPES_SCHEMA: dict[str, str] = {
    "sdp": "uint16",
    "mid": "string",
    "kind": "category",
    "pt": "uint8",
    "codec": "string",
    "clock_rate": "UInt32",
    "channels": "UInt8",
    "rtx_for": "UInt8",
    "fmtp": "string",
}


def payload_types(sdps: sdp.SdpLike) -> pd.DataFrame:
    """One row per payload type of each media section of each SDP, for notebooks (schema PAYLOAD_TYPES_SCHEMA):
    sdp (its index in `sdps`: 0 for the offer, 1 for the answer when given [offer, answer]), mid, kind, pt, codec,
    clock_rate, channels, rtx_for (the apt= payload type of an RTX type), fmtp (as written)."""
    df = pd.DataFrame(sdp.payload_type_rows(sdps), columns=list(PAYLOAD_TYPES_SCHEMA))
    return df.astype(PAYLOAD_TYPES_SCHEMA)


KEYFRAMES_SCHEMA: dict[str, str] = {
    "frame": "uint32",
    "t": "float64",
    "ssrc": "uint32",
    "pt": "uint8",
    "seq": "uint16",
    "ts": "uint32",
    "codec": "category",
    "keyframe": "boolean",
    "error": "category",
}


def keyframes(rtp: pd.DataFrame, payload_of: Callable[[int], bytes], codec_names: dict[int, str]) -> pd.DataFrame:
    """Keyframe detection (webrtcpcap.protocols.codecs.judge_keyframes) as a table, over the RTP packets whose payload type is
    in `codec_names` ({pt: codec name}, e.g. from the SDP's rtpmap; codecs without a detector are skipped; RED (RFC
    2198) is judged by its primary block's codec, `codecs.red_primary`) and whose `error` is null.  `payload_of(frame)` gives the plaintext RTP payload of a frame, e.g.
    `cap.rtp_payload` (decrypted when the capture was opened with keys; its bulk reader gives the first bytes of
    every payload at once, see webrtcpcap.net.payloads.read_heads).

    One row per packet examined, in the order of `rtp` (columns KEYFRAMES_SCHEMA): `frame` (uint32), `t`
    (float64), `ssrc` (uint32), `pt` (uint8), `seq` (uint16), `ts` (uint32), `codec` (category: the codec judged;
    "red" for a RED packet whose primary block was not judged: FEC, or a malformed RED header), `keyframe`
    (boolean: True on a packet starting a keyframe (H.264: carrying IDR/SPS/PPS), False on one starting another
    frame, null where nothing starts, on padding-only packets and on error) and `error` (category: the
    DecodeError, or why `payload_of` gave no payload; for H.264 with the F bit set, that flag, the keyframe still
    judged; null when the payload was read cleanly).  `df[df.keyframe == True]`
    are the keyframes."""

    v = codecs.judge_keyframes(rtp["pt"].to_numpy(), rtp["frame"].to_numpy(),
                               rtp["error"].isna().to_numpy() if "error" in rtp else np.ones(len(rtp), dtype=bool),
                               payload_of, codec_names)
    rows = v.rows
    return tables.frame_table({
        "frame": rtp["frame"].to_numpy()[rows], "t": rtp["t"].to_numpy()[rows], "ssrc": rtp["ssrc"].to_numpy()[rows],
        "pt": rtp["pt"].to_numpy()[rows], "seq": rtp["seq"].to_numpy()[rows], "ts": rtp["ts"].to_numpy()[rows],
        "codec": tables.categorical(v.codec, v.codec_names),
        "keyframe": tables.masked(v.keyframe, v.missing, "boolean"),
        "error": tables.categorical(v.error, v.error_names),
    }, KEYFRAMES_SCHEMA)
