"""Bandwidth-estimation forensics: transport-cc (draft-holmer-rmcat-transport-wide-cc-extensions-01) and RFC 8888
congestion control feedback joined with the media packets they report on, a delay-gradient overuse detector in the
spirit of GCC's trendline filter (draft-ietf-rmcat-gcc-02 §5), and the receivers' estimates (REMB, TMMBR) against
what was sent.

    webrtcpcap.bwe.packets(cap)            one row per media packet a feedback reports on (send/receive time, lost)
    webrtcpcap.bwe.delay_gradient(cap)     one row per 5 ms packet group: delay, trend, threshold, detector state
    webrtcpcap.bwe.overuse_episodes(cap)   one row per episode the detector called overuse
    webrtcpcap.bwe.estimates(cap)          send rate, acknowledged rate, REMB/TMMBR, loss over 1 s windows
    webrtcpcap.plots.bwe_plot(webrtcpcap.bwe.analyse(cap))   the four on one time axis

Strategy: a transport-wide sequence number names a packet of one sender on one transport, so everything is keyed by
the media direction (src, sport -> dst, dport); its feedback travels the other way.  The join is numpy over the whole
capture (sorted extended sequence numbers and searchsorted); only the detector, an IIR filter with an adaptive
threshold whose every step depends on the one before, loops, once per packet group.  Times are capture seconds (`t`
of the capture); the receiver's clock is placed on it so that the smallest one-way delay of a direction is 0 (the
clocks' offset is unknown to a capture; their drift over a call, parts per million, is ignored).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..tables import schema as tables
from ..tables.sequence import extend_counter

DIRECTION = ["src", "sport", "dst", "dport"]  # the media direction: sender -> receiver
TWCC_NAMES = ("transport-wide-cc", "transport-wide-cc-02")
GROUP_SPAN_S = 0.005  # libwebrtc's kBurstDeltaThresholdMs / the draft's burst_time: packets sent within 5 ms
BURST_MAX_S = 0.1  # libwebrtc's kMaxBurstDuration: a burst longer than this starts a new group
REFERENCE_TIME_BITS = 24  # transport-cc reference time, 64 ms units (transport-wide-cc-01 §3.1)
REFERENCE_TIME_MS = 64
ABS_SEND_TIME_BITS = 24  # abs-send-time: 6.18 fixed point seconds, wraps every 64 s
ABS_SEND_TIME_UNIT = 1 << 18

PACKETS_SCHEMA: dict[str, str] = {
    **tables.KEY_COLUMNS,
    "ssrc": "UInt32",
    "seq": "UInt16",
    "feedback": "category",
    "twcc_seq": "int64",
    "send_time": "Float64",
    "abs_send_time": "Float64",
    "receive_time": "Float64",
    "received": "bool",
    "delay_variation": "Float64",
    "queue_delay_ms": "Float64",
    "size": "UInt32",
    "feedback_frame": "uint32",
    "feedback_time": "float64",
    "fb_pkt_count": "uint16",
    "ecn": "category",
}
FEEDBACK_KINDS = ["transport-cc", "ccfb"]
ECN_NAMES = ["Not-ECT", "ECT(1)", "ECT(0)", "CE"]  # RFC 3168 §5 codepoints 0..3


# --- the join -------------------------------------------------------------------------------------------------


def media_with_twcc(cap) -> pd.DataFrame:
    """The capture's RTP packets that carry a transport-wide sequence number: frame, t, src, dst, sport, dport,
    ssrc, seq, twcc_seq (uint16 as sent), abs_send_time_s (Float64, when the packet also has abs-send-time), size
    (UDP payload bytes).  The header extension is named by the SDPs' a=extmap: without an SDP, empty."""
    ext = cap.rtp_extensions
    if "twcc_seq" not in ext.columns or not len(ext):
        return _media_frame(ext.iloc[:0], pd.Series([], dtype="Float64"), cap.packets)
    tw = ext[ext["twcc_seq"].notna()]
    abs_send = ext[ext["abs_send_time_s"].notna()] if "abs_send_time_s" in ext.columns else ext.iloc[:0]
    by_frame = pd.Series(abs_send["abs_send_time_s"].to_numpy(dtype=float),
                         index=abs_send["frame"].to_numpy()) if len(abs_send) else pd.Series([], dtype=float)
    by_frame = by_frame[~by_frame.index.duplicated()]
    ast = by_frame.reindex(tw["frame"].to_numpy())
    return _media_frame(tw, pd.array(ast.to_numpy(), dtype="Float64"), cap.packets)


def _media_frame(tw: pd.DataFrame, abs_send, packets: pd.DataFrame) -> pd.DataFrame:
    frames = packets["frame"].to_numpy()
    at = np.searchsorted(frames, tw["frame"].to_numpy())
    at = np.minimum(at, max(len(frames) - 1, 0))
    size = packets["payload_len"].to_numpy()[at] if len(frames) else np.zeros(0)
    out = pd.DataFrame({k: tw[k].to_numpy() if k not in ("src", "dst") else tw[k].array for k in
                        ("frame", "t", "src", "dst", "sport", "dport", "ssrc", "seq")})
    out["twcc_seq"] = tw["twcc_seq"].to_numpy(dtype=np.int64) if len(tw) else np.zeros(0, np.int64)
    out["abs_send_time_s"] = abs_send
    out["size"] = np.asarray(size, dtype=np.int64)
    if "ecn" in packets.columns:  # the IP ECN bits, where the decode path gives them
        out["ecn"] = ecn_names(packets["ecn"])[at] if len(frames) else []
    return out.reset_index(drop=True)


def ecn_names(ecn: pd.Series) -> np.ndarray:
    """The ECN field as RFC 3168 names (object array, None where missing), whether the column holds the 2-bit
    codepoints (0..3) or their names already."""
    if pd.api.types.is_numeric_dtype(ecn.dtype):
        v = ecn.to_numpy(dtype=float, na_value=np.nan)
        ok = np.isfinite(v) & (v >= 0) & (v <= 3)
        return np.where(ok, np.array(ECN_NAMES, dtype=object)[np.where(ok, v, 0).astype(np.int64)], None)
    return np.array([x if x in ECN_NAMES else None for x in ecn.astype(object)], dtype=object)


def packets(cap, twcc: pd.DataFrame | None = None, ccfb: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per media packet that transport-cc (or RFC 8888 CCFB) feedback reports on, in the order of the
    media direction, then transport-wide sequence number.

    `cap` is an open capture; or, for crafted data, the media table (`media_with_twcc`'s columns) with `twcc` (the
    `cap.twcc` table) and/or `ccfb` (the `cap.ccfb` table).  The feedback is in RTCP, so a capture whose RTCP is
    SRTCP needs the key log (`keylog=`): without it there is no feedback table and the result is empty, with
    `df.attrs["not_judged"]` saying why.  The header extension is found through the SDPs' a=extmap (`sdp=`).

    Columns (times in capture seconds):
    - `frame`, `t`, `src`, `dst`, `sport`, `dport`: the media packet as captured (the media direction); for a
      reported packet the capture did not see (sent before it began), the feedback's addresses reversed, frame 0
      and t = the feedback's time.
    - `ssrc` (UInt32), `seq` (UInt16): its RTP stream and sequence number (null when not captured).
    - `feedback` (category transport-cc/ccfb): which feedback reported it.
    - `twcc_seq` (int64): the transport-wide sequence number extended across the 16-bit wrap (per direction, in
      capture order, RFC 3550 A.1 style); for CCFB, the RTP sequence number extended the same way per SSRC.
    - `send_time` (Float64): the capture time of the media packet.  That is the send time when the capture was taken
      at the sender (or before the bottleneck); at the receiver it is the arrival there.  Null when not captured.
    - `abs_send_time` (Float64): the sender's abs-send-time (s, extended across its 64 s wrap) when it sent one.
    - `receive_time` (Float64): the reference time plus the deltas of the feedback (the 24-bit reference time
      extended across its wrap), on the receiver's clock moved onto the capture's so that the direction's smallest
      receive_time - send_time is 0.  Null when lost.
    - `received` (bool): the feedback says it arrived (False: reported lost).
    - `delay_variation` (Float64, ms): receive delta - send delta to the previous received packet of the direction
      (in sequence order), the one-way delay variation GCC filters; null for the first and for lost packets.
    - `queue_delay_ms` (Float64): receive_time - send_time in ms, the one-way delay above the direction's smallest.
    - `size` (UInt32): UDP payload bytes of the media packet (null when not captured).
    - `feedback_frame` (uint32), `feedback_time` (float64): the feedback packet whose report the row took.
    - `fb_pkt_count` (uint16): how many feedback packets reported on this packet.  Duplicates: the first report
      that says received wins (a receiver cannot un-receive a packet; a later "not received" for it comes from an
      overlapping window); when none says received, the last report does (a late packet may still be reported).
    - `ecn` (category Not-ECT/ECT(1)/ECT(0)/CE): the IP ECN bits of the media packet as captured, where the
      capture table has them (`cap.packets.ecn`); CCFB's own ECN report is in `cap.ccfb`.  Null otherwise.
    """
    if (c := tables.as_capture(cap)) is not None:
        twcc, ccfb = c.twcc, getattr(c, "ccfb", None)
        media = media_with_twcc(c)
        note = _not_judged(c, twcc)
    else:
        media, note = cap, None
    parts = []
    if twcc is not None and len(twcc):
        parts.append(_join(media, _twcc_reports(twcc), "transport-cc"))
    if ccfb is not None and len(ccfb):
        parts.append(_join_ccfb(media, ccfb) if tables.as_capture(cap) is None else _join_ccfb(_rtp_media(c), ccfb))
    out = pd.concat(parts, ignore_index=True) if parts else tables.empty_table(PACKETS_SCHEMA)
    out = _typed(out, PACKETS_SCHEMA)
    if note:
        out.attrs["not_judged"] = note
    return out


def _typed(df: pd.DataFrame, schema: dict[str, str]) -> pd.DataFrame:
    """`df` with exactly the schema's columns and dtypes."""
    if not len(df):
        return tables.empty_table(schema)
    return pd.DataFrame({k: df[k].astype(v) for k, v in schema.items()})


def _not_judged(cap, twcc: pd.DataFrame) -> str | None:
    """Why the capture's feedback cannot be judged, or None: SRTCP that was not decrypted (its first packet's
    header is in the clear, so a transport-cc or CCFB there can be seen, not read)."""
    rtcp = cap.rtcp
    if len(twcc) or not len(rtcp):
        return None
    srtcp = rtcp["dtls_srtp"].to_numpy(dtype=bool) if "dtls_srtp" in rtcp.columns else np.zeros(len(rtcp), bool)
    decrypted = "srtp_status" in rtcp.columns and (rtcp["srtp_status"].astype(str) == "ok").any()
    if srtcp.any() and not decrypted:
        rtpfb = rtcp[srtcp & (rtcp["pt"].to_numpy() == 205)]
        seen = int(rtpfb["fmt"].isin([11, 15]).sum())
        return (f"the RTCP is SRTCP and was not decrypted (give the key log, keylog=): {seen} congestion control "
                "feedback packets seen, not read; transport-cc/CCFB not judged")
    return None


def _rtp_media(cap) -> pd.DataFrame:
    """Every RTP packet of the capture as `media_with_twcc` gives them, `twcc_seq` holding the RTP sequence number
    (what RFC 8888 feedback names packets by)."""
    rtp = cap.rtp
    rtp = rtp[rtp["error"].isna()] if "error" in rtp.columns else rtp
    tw = rtp.assign(twcc_seq=rtp["seq"].to_numpy(dtype=np.int64))
    return _media_frame(tw, pd.array([None] * len(tw), dtype="Float64"), cap.packets)


def _join_ccfb(media: pd.DataFrame, ccfb: pd.DataFrame) -> pd.DataFrame:
    """RFC 8888 reports joined with the RTP packets of their stream by extended RTP sequence number: as for
    transport-cc, per media direction and SSRC (`delay_variation` is then within the stream)."""
    fb = ccfb.reset_index(drop=True)
    out = pd.DataFrame({"src": fb["dst"].astype(str).to_numpy(), "sport": fb["dport"].to_numpy(),
                        "dst": fb["src"].astype(str).to_numpy(), "dport": fb["sport"].to_numpy(),
                        "ssrc": fb["media_ssrc"].to_numpy(dtype=np.int64),
                        "seq16": fb["seq"].to_numpy(dtype=np.int64), "received": fb["received"].to_numpy(),
                        "fb_frame": fb["frame"].to_numpy(dtype=np.int64), "fb_t": fb["t"].to_numpy(dtype=float)})
    # Arrival on the receiver's NTP clock in 1/65536 s: report timestamp - ATO (1/1024 s = 64 units), extended
    # across the 32-bit (18 h) wrap in report order.
    units = (fb["report_timestamp"].to_numpy(dtype=np.int64) - fb["arrival_time_offset"].to_numpy(dtype=np.int64) * 64)
    known = fb["arrival_time_s"].notna().to_numpy()
    recv = np.full(len(fb), np.nan)
    out["key"] = (out["src"] + ":" + out["sport"].astype(str) + ">" + out["dst"] + ":" + out["dport"].astype(str)
                  + "#" + out["ssrc"].astype(str)).to_numpy()
    for _, rows in out.groupby("key", sort=False).indices.items():
        k = rows[known[rows]]
        if len(k):
            recv[k] = extend_counter(units[k] & 0xFFFFFFFF, 32) / 65536
    out["recv_s"] = recv
    media = media.reset_index(drop=True)
    m_key = (media["src"].astype(str) + ":" + media["sport"].astype(str) + ">" + media["dst"].astype(str) + ":"
             + media["dport"].astype(str) + "#" + media["ssrc"].astype(str)).to_numpy()
    groups = pd.Series(np.arange(len(media))).groupby(m_key, sort=False).indices if len(media) else {}
    parts = []
    for key, rows in out.groupby("key", sort=False).indices.items():
        m = media.iloc[groups[key]] if key in groups else media.iloc[:0]
        parts.append(_join_direction(m, out.iloc[rows], "ccfb"))
    return pd.concat(parts, ignore_index=True) if parts else tables.empty_table(PACKETS_SCHEMA)


def _twcc_reports(twcc: pd.DataFrame) -> pd.DataFrame:
    """The `twcc` rows in capture order with their media direction, the reference time extended, receive ms."""
    fb = twcc.reset_index(drop=True)
    out = pd.DataFrame({"src": fb["dst"].astype(str).to_numpy(), "sport": fb["dport"].to_numpy(),
                        "dst": fb["src"].astype(str).to_numpy(), "dport": fb["sport"].to_numpy(),
                        "seq16": fb["twcc_seq"].to_numpy(dtype=np.int64), "received": fb["received"].to_numpy(),
                        "fb_frame": fb["frame"].to_numpy(dtype=np.int64), "fb_t": fb["t"].to_numpy(dtype=float)})
    signed_ref = fb["reference_time"].to_numpy(dtype=np.int64)  # as parsed: a signed 24-bit field
    ref = signed_ref & ((1 << REFERENCE_TIME_BITS) - 1)
    recv_ms = fb["receive_time_ms"].to_numpy(dtype=float, na_value=np.nan)
    # receive_time_ms was made from the 24-bit reference time: add the whole wraps the extended one has.
    ext_ref = np.zeros(len(fb), dtype=np.int64)
    key = out["src"] + ":" + out["sport"].astype(str) + ">" + out["dst"] + ":" + out["dport"].astype(str)
    out["key"] = key.to_numpy()
    for _, rows in out.groupby("key", sort=False).indices.items():
        ext_ref[rows] = extend_counter(ref[rows], REFERENCE_TIME_BITS)
    out["recv_s"] = (recv_ms + (ext_ref - signed_ref) * REFERENCE_TIME_MS) / 1000
    return out


def _join(media: pd.DataFrame, fb: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Reports joined with media per direction by extended sequence number (see `packets`)."""
    media = media.reset_index(drop=True)
    mkey = (media["src"].astype(str) + ":" + media["sport"].astype(str) + ">" + media["dst"].astype(str) + ":"
            + media["dport"].astype(str)).to_numpy() if len(media) else np.zeros(0, dtype=object)
    groups = pd.Series(np.arange(len(media))).groupby(mkey, sort=False).indices if len(media) else {}
    parts = []
    for key, rows in fb.groupby("key", sort=False).indices.items():
        f = fb.iloc[rows]
        m = media.iloc[groups[key]] if key in groups else media.iloc[:0]
        parts.append(_join_direction(m, f, kind))
    return pd.concat(parts, ignore_index=True) if parts else tables.empty_table(PACKETS_SCHEMA)


def _anchor(ext_fb: np.ndarray, fb_t: np.ndarray, m_ext: np.ndarray, m_t: np.ndarray) -> np.ndarray:
    """Feedback sequence numbers, extended on their own, moved by whole cycles onto the media's extension: the first
    report is put nearest the last packet sent before it was seen (a feedback reports packets sent shortly before)."""
    if not len(m_ext) or not len(ext_fb):
        return ext_fb
    i = max(int(np.searchsorted(m_t, fb_t[0], side="right")) - 1, 0)
    cycles = np.round((m_ext[i] - ext_fb[0]) / 65536.0)
    return ext_fb + np.int64(cycles) * 65536


def _join_direction(m: pd.DataFrame, f: pd.DataFrame, kind: str) -> pd.DataFrame:
    m = m.sort_values(["t", "frame"], kind="stable")
    m_ext = extend_counter(m["twcc_seq"].to_numpy(dtype=np.int64), 16) if len(m) else np.zeros(0, np.int64)
    m_t = m["t"].to_numpy(dtype=float)
    fb_ext = _anchor(extend_counter(f["seq16"].to_numpy(), 16), f["fb_t"].to_numpy(), m_ext, m_t)
    received = f["received"].to_numpy(dtype=bool)
    order = np.arange(len(f))
    # One report per packet: the first 'received' report, else the last report (see `packets`).
    rank = np.where(received, order, 2 * len(f) - order)
    pick = np.lexsort((rank, fb_ext))
    ext_sorted = fb_ext[pick]
    first = np.ones(len(pick), dtype=bool)
    first[1:] = ext_sorted[1:] != ext_sorted[:-1]
    counts = np.diff(np.append(np.flatnonzero(first), len(pick)))
    chosen = pick[first]
    seqs = fb_ext[chosen]
    # Media rows by extended number (the first capture of a number when the capture saw it twice).
    uniq, idx = np.unique(m_ext, return_index=True)
    pos = np.searchsorted(uniq, seqs)
    pos_ok = pos < len(uniq)
    found = pos_ok.copy()
    found[pos_ok] = uniq[pos[pos_ok]] == seqs[pos_ok]
    mrow = np.where(found, idx[np.minimum(pos, max(len(idx) - 1, 0))] if len(idx) else 0, -1)
    mm = m.iloc[np.maximum(mrow, 0)] if len(m) else None

    def media_col(name, fallback, dtype):
        if mm is None:
            return np.full(len(seqs), fallback, dtype=dtype)
        return np.where(found, mm[name].to_numpy(dtype=dtype) if name not in ("src", "dst") else
                        mm[name].astype(str).to_numpy(), fallback)

    fc = f.iloc[chosen]
    send = np.where(found, media_col("t", np.nan, float), np.nan)
    recv = fc["recv_s"].to_numpy(dtype=float)
    got = fc["received"].to_numpy(dtype=bool)
    # The receiver's clock onto the capture's: the smallest one-way delay of the direction is 0.
    both = got & found & np.isfinite(recv)
    offset = np.min(recv[both] - send[both]) if both.any() else (np.nanmin(recv) if got.any() else 0.0)
    if not both.any() and got.any():
        offset -= np.nanmin(fc["fb_t"].to_numpy())  # nothing to align on: start at the first feedback
    recv_t = recv - offset
    # Delay variation against the previous received packet with a send time, in sequence order.
    ok = both
    dv = np.full(len(seqs), np.nan)
    w = np.flatnonzero(ok)
    if len(w) > 1:
        dv[w[1:]] = ((recv_t[w[1:]] - recv_t[w[:-1]]) - (send[w[1:]] - send[w[:-1]])) * 1000
    abs_send = np.full(len(seqs), np.nan)
    if mm is not None:
        a = mm["abs_send_time_s"].to_numpy(dtype=float, na_value=np.nan)
        have = found & np.isfinite(a)
        if have.any():
            units = np.round(a[have] * ABS_SEND_TIME_UNIT).astype(np.int64)
            abs_send[have] = extend_counter(units, ABS_SEND_TIME_BITS) / ABS_SEND_TIME_UNIT
    fb_t = fc["fb_t"].to_numpy(dtype=float)
    # CCFB names the stream even when the capture missed the packet; transport-cc does not.
    fb_ssrc = fc["ssrc"].to_numpy(dtype=np.int64) if "ssrc" in fc.columns else np.full(len(seqs), -1, np.int64)
    ecn = None
    if mm is not None and "ecn" in mm.columns:
        ecn = np.where(found, ecn_names(mm["ecn"]), None)
    return pd.DataFrame({
        "frame": media_col("frame", 0, np.int64), "t": np.where(found, send, fb_t),
        "src": fc["src"].to_numpy() if mm is None else np.where(found, media_col("src", "", object), fc["src"]),
        "dst": fc["dst"].to_numpy() if mm is None else np.where(found, media_col("dst", "", object), fc["dst"]),
        "sport": fc["sport"].to_numpy(), "dport": fc["dport"].to_numpy(),
        "ssrc": tables.masked(np.where(found, media_col("ssrc", 0, np.int64), fb_ssrc), ~found & (fb_ssrc < 0),
                              "UInt32"),
        "seq": tables.masked(media_col("seq", 0, np.int64), ~found, "UInt16"),
        "feedback": pd.Categorical([kind] * len(seqs), categories=FEEDBACK_KINDS),
        "twcc_seq": seqs,
        "send_time": tables.masked(np.nan_to_num(send), ~found, "Float64"),
        "abs_send_time": tables.masked(np.nan_to_num(abs_send), ~np.isfinite(abs_send), "Float64"),
        "receive_time": tables.masked(np.nan_to_num(recv_t), ~(got & np.isfinite(recv_t)), "Float64"),
        "received": got,
        "delay_variation": tables.masked(np.nan_to_num(dv), ~np.isfinite(dv), "Float64"),
        "queue_delay_ms": tables.masked(np.nan_to_num((recv_t - send) * 1000), ~both, "Float64"),
        "size": tables.masked(media_col("size", 0, np.int64), ~found, "UInt32"),
        "feedback_frame": fc["fb_frame"].to_numpy(), "feedback_time": fb_t,
        "fb_pkt_count": counts.astype(np.uint16),
        "ecn": pd.Categorical(ecn if ecn is not None else [None] * len(seqs), categories=ECN_NAMES),
    })


# --- the delay-gradient overuse detector ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Trendline:
    """The detector's constants, libwebrtc's defaults (trendline_estimator.cc, draft-ietf-rmcat-gcc-02 §5.4-5.5):
    a least-squares slope over the last `window` smoothed accumulated delays, scaled by min(deltas, 60) × gain and
    compared with a threshold that adapts towards |trend| (up slowly, down faster, only while near it)."""
    window: int = 20
    smoothing: float = 0.9
    gain: float = 4.0
    threshold_initial_ms: float = 12.5
    k_up: float = 0.0087
    k_down: float = 0.039
    threshold_min_ms: float = 6.0
    threshold_max_ms: float = 600.0
    max_adapt_offset_ms: float = 15.0
    overuse_time_ms: float = 10.0
    min_deltas: int = 60


DELAY_GRADIENT_SCHEMA: dict[str, str] = {
    "src": "category",
    "sport": "uint16",
    "dst": "category",
    "dport": "uint16",
    "send_time": "float64",
    "receive_time": "float64",
    "feedback_time": "float64",
    "packets": "int64",
    "bytes": "int64",
    "delay_delta_ms": "float64",
    "accumulated_delay_ms": "float64",
    "smoothed_delay_ms": "float64",
    "trend": "float64",
    "modified_trend_ms": "float64",
    "threshold_ms": "float64",
    "state": "category",
}
STATES = ["normal", "overuse", "underuse"]


def _groups(send: np.ndarray, recv: np.ndarray) -> np.ndarray:
    """Group number of each packet (sorted by send time), as libwebrtc's InterArrivalDelta groups them: a new group
    begins with a packet sent more than GROUP_SPAN_S after the group's first, unless it belongs to the group's
    burst: it arrived within GROUP_SPAN_S of the group's last arrival, with a negative propagation delta (it caught
    up: arrival delta < send delta), and within BURST_MAX_S of the group's first arrival.  Packets held up together
    (a queue that drains, a receiver that was not scheduled and then read its socket at once) arrive as such a
    burst; without this rule their catch-up would read as a delay gradient.  A loop over packets: where a group
    begins depends on where the previous one began."""
    gid = np.zeros(len(send), dtype=np.int64)
    if not len(send):
        return gid
    g = 0
    first_send, last_send = float(send[0]), float(send[0])
    first_arrival, last_arrival = float(recv[0]), float(recv[0])
    for i, (s, r) in enumerate(zip(send.tolist(), recv.tolist())):
        if i:
            arrival_delta = r - last_arrival
            send_delta = s - last_send
            burst = send_delta == 0 or (arrival_delta - send_delta < 0 and arrival_delta <= GROUP_SPAN_S
                                        and r - first_arrival < BURST_MAX_S)
            if not burst and s - first_send > GROUP_SPAN_S:
                g += 1
                first_send, first_arrival = s, r
            last_send, last_arrival = max(last_send, s), max(last_arrival, r)
        gid[i] = g
    return gid


def delay_gradient(cap, params: Trendline | None = None) -> pd.DataFrame:
    """The delay-gradient detector run over each media direction's received packets (`packets(cap)`, or that table
    given instead of the capture), one row per packet group.

    Packets with a send time and a receive time are taken in send-time order; packets arriving before the latest
    arrival of an earlier group (reordered) are dropped as GCC does.  Groups of packets sent within 5 ms; per group
    the delay delta d = (arrival of its last packet - that of the group before) - (send of its last - send of the
    one before), accumulated, exponentially smoothed, and the least-squares slope of the smoothed delay over the
    arrival time of the last `window` groups is the trend.  The detector calls `overuse` when the modified trend
    (min(groups, 60) × trend × gain) stays above the adaptive threshold for over 10 ms and at least two groups
    and is not falling, `underuse` when it is below -threshold, `normal` when between; otherwise it keeps its state.

    Columns: `src`, `sport`, `dst`, `dport` (the media direction), `send_time`, `receive_time` (of the group's last
    packet, capture seconds as in `packets`), `feedback_time` (float64: the latest feedback among its packets; when
    the sender could know), `packets`, `bytes` (int64), `delay_delta_ms`, `accumulated_delay_ms`,
    `smoothed_delay_ms` (float64), `trend` (float64, ms of delay per ms; NaN until the window is full),
    `modified_trend_ms`, `threshold_ms` (float64), `state` (category normal/overuse/underuse).
    """
    p = params or Trendline()
    pk = packets(cap) if tables.as_capture(cap) is not None else cap
    ok = (pk["received"].to_numpy(dtype=bool) & pk["send_time"].notna().to_numpy()
          & pk["receive_time"].notna().to_numpy())
    pk = pk[ok]
    parts = []
    for key, rows in pk.groupby(DIRECTION, observed=True, sort=False).indices.items():
        parts.append(_direction_gradient(pk.iloc[rows], key, p))
    if not parts:
        return tables.empty_table(DELAY_GRADIENT_SCHEMA)
    return _typed(pd.concat(parts, ignore_index=True), DELAY_GRADIENT_SCHEMA)


def _direction_gradient(pk: pd.DataFrame, key, p: Trendline) -> pd.DataFrame:
    pk = pk.sort_values(["send_time", "twcc_seq"], kind="stable")
    send = pk["send_time"].to_numpy(dtype=float)
    recv = pk["receive_time"].to_numpy(dtype=float)
    fbt = pk["feedback_time"].to_numpy(dtype=float)
    size = pk["size"].to_numpy(dtype=float, na_value=0.0)
    # Reordered packets (arriving before something sent earlier had arrived) are left out, as InterArrival does.
    keep = recv >= np.maximum.accumulate(recv) - 1e-9
    send, recv, fbt, size = send[keep], recv[keep], fbt[keep], size[keep]
    if len(send) < 2:
        return tables.empty_table(DELAY_GRADIENT_SCHEMA)
    gid = _groups(send, recv)
    last = np.append(np.flatnonzero(np.diff(gid)), len(gid) - 1)
    starts = np.concatenate(([0], last[:-1] + 1))
    g_send, g_recv = send[last], recv[last]
    g_fb = np.maximum.reduceat(fbt, starts)
    g_bytes = np.add.reduceat(size, starts)
    g_n = np.diff(np.append(starts, len(gid)))
    n = len(last)
    d = np.full(n, np.nan)
    d[1:] = (np.diff(g_recv) - np.diff(g_send)) * 1000
    # The filter proper: numpy where it can (accumulation), the recursive parts in one loop over groups.
    acc = np.concatenate(([np.nan], np.cumsum(d[1:])))
    smooth = np.full(n, np.nan)
    trend = np.full(n, np.nan)
    modified = np.full(n, np.nan)
    threshold = np.full(n, np.nan)
    state = np.zeros(n, dtype=np.int32)
    arrival_ms = (g_recv - g_recv[0]) * 1000
    s_val, thr, last_update = 0.0, p.threshold_initial_ms, None
    over_time, over_count, prev_trend, hyp = -1.0, 0, 0.0, 0
    for i in range(1, n):
        s_val = p.smoothing * s_val + (1 - p.smoothing) * acc[i]
        smooth[i] = s_val
        deltas = i
        if i >= p.window:
            x = arrival_ms[i - p.window + 1:i + 1]
            y = smooth[i - p.window + 1:i + 1]
            xm = x - x.mean()
            den = float(xm @ xm)
            tr = float(xm @ (y - y.mean())) / den if den > 0 else prev_trend
        else:
            tr = np.nan
        trend[i] = tr
        now = arrival_ms[i]
        if np.isnan(tr):
            threshold[i], state[i] = thr, hyp
            continue
        m = min(deltas, p.min_deltas) * tr * p.gain
        modified[i] = m
        ts_delta = (g_send[i] - g_send[i - 1]) * 1000
        if m > thr:
            over_time = ts_delta / 2 if over_time == -1 else over_time + ts_delta
            over_count += 1
            if over_time > p.overuse_time_ms and over_count > 1 and tr >= prev_trend:
                over_time, over_count, hyp = 0.0, 0, 1
        elif m < -thr:
            over_time, over_count, hyp = -1.0, 0, 2
        else:
            over_time, over_count, hyp = -1.0, 0, 0
        prev_trend = tr
        # Adaptive threshold (gcc-02 §5.4): follows |m| unless it is an outlier far above.
        if last_update is None:
            last_update = now
        if abs(m) <= thr + p.max_adapt_offset_ms:
            k = p.k_down if abs(m) < thr else p.k_up
            thr += k * (abs(m) - thr) * min(now - last_update, 100.0)
            thr = min(max(thr, p.threshold_min_ms), p.threshold_max_ms)
        last_update = now
        threshold[i], state[i] = thr, hyp
    src, sport, dst, dport = key
    return pd.DataFrame({
        "src": [str(src)] * n, "sport": sport, "dst": [str(dst)] * n, "dport": dport, "send_time": g_send,
        "receive_time": g_recv, "feedback_time": g_fb, "packets": g_n, "bytes": g_bytes.astype(np.int64),
        "delay_delta_ms": d, "accumulated_delay_ms": acc, "smoothed_delay_ms": smooth, "trend": trend,
        "modified_trend_ms": modified, "threshold_ms": threshold,
        "state": pd.Categorical.from_codes(state, categories=STATES),
    })


OVERUSE_EPISODES_SCHEMA: dict[str, str] = {
    "src": "category",
    "sport": "uint16",
    "dst": "category",
    "dport": "uint16",
    "direction": "string",
    "start": "float64",
    "end": "float64",
    "duration_s": "float64",
    "detected": "float64",
    "groups": "int64",
    "peak_slope": "float64",
    "peak_modified_trend_ms": "float64",
    "peak_queue_delay_ms": "float64",
}
EPISODE_MERGE_S = 0.5  # overuse calls less than this apart are one episode (the detector flickers while a queue grows)


def overuse_episodes(cap, params: Trendline | None = None, gradient: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per overuse episode of `delay_gradient` (groups in state `overuse`, runs less than 0.5 s apart
    merged), in time order.

    Columns: `src`, `sport`, `dst`, `dport` (media direction), `direction` (string "src:sport -> dst:dport"),
    `start`, `end` (float64: send times of the first and last overusing group, capture seconds), `duration_s`,
    `detected` (float64: the feedback time of the first overusing group, when the sender could have known),
    `groups` (int64), `peak_slope` (float64, the largest trend, ms/ms), `peak_modified_trend_ms` (float64),
    `peak_queue_delay_ms` (float64: the largest receive - send of those groups, above the direction's smallest)."""
    g = gradient if gradient is not None else delay_gradient(cap, params)
    rows = []
    for key, idx in g.groupby(["src", "sport", "dst", "dport"], observed=True, sort=False).indices.items():
        d = g.iloc[idx]
        over = (d["state"] == "overuse").to_numpy()
        if not over.any():
            continue
        t = d["send_time"].to_numpy()
        w = np.flatnonzero(over)
        breaks = np.flatnonzero(np.diff(t[w]) > EPISODE_MERGE_S)
        for a, b in zip(np.concatenate(([0], breaks + 1)), np.append(breaks, len(w) - 1)):
            sel = d.iloc[w[a]:w[b] + 1]
            sel = sel[sel["state"] == "overuse"]
            q = (sel["receive_time"] - sel["send_time"]).max() * 1000
            src, sport, dst, dport = key
            rows.append({"src": str(src), "sport": sport, "dst": str(dst), "dport": dport,
                         "direction": f"{src}:{sport} -> {dst}:{dport}", "start": t[w[a]], "end": t[w[b]],
                         "duration_s": t[w[b]] - t[w[a]], "detected": float(sel["feedback_time"].iloc[0]),
                         "groups": len(sel), "peak_slope": float(sel["trend"].max()),
                         "peak_modified_trend_ms": float(sel["modified_trend_ms"].max()), "peak_queue_delay_ms": q})
    if not rows:
        return tables.empty_table(OVERUSE_EPISODES_SCHEMA)
    return _typed(pd.DataFrame(rows).sort_values("start", kind="stable").reset_index(drop=True),
                  OVERUSE_EPISODES_SCHEMA)


# --- estimates against what was sent ---------------------------------------------------------------------------

WINDOW_S = 1.0  # rates over 1 s windows ...
STEP_S = 0.25  # ... every 250 ms (the lab's getStats interval, so the two line up)

ESTIMATES_SCHEMA: dict[str, str] = {
    "src": "category",
    "sport": "uint16",
    "dst": "category",
    "dport": "uint16",
    "ssrc": "UInt32",
    "time": "float64",
    "send_bps": "float64",
    "acked_bps": "Float64",
    "remb_bps": "Float64",
    "tmmbr_bps": "Float64",
    "reported": "int64",
    "lost": "int64",
    "loss_fraction": "Float64",
    "queue_delay_ms": "Float64",
    "ecn_ce": "Int64",
}


def _window_sums(times: np.ndarray, values: np.ndarray, ends: np.ndarray, window: float) -> np.ndarray:
    """Sum of `values` whose time is in [end - window, end) for each end (times need not be sorted)."""
    o = np.argsort(times, kind="stable")
    t, c = times[o], np.concatenate(([0.0], np.cumsum(values[o])))
    return c[np.searchsorted(t, ends, side="left")] - c[np.searchsorted(t, ends - window, side="left")]


def _window_max(times: np.ndarray, values: np.ndarray, ends: np.ndarray, window: float) -> np.ndarray:
    o = np.argsort(times, kind="stable")
    t, v = times[o], values[o]
    lo = np.searchsorted(t, ends - window, side="left")
    hi = np.searchsorted(t, ends, side="left")
    out = np.full(len(ends), np.nan)
    for i in np.flatnonzero(hi > lo):  # one slice per window, a few thousand at most
        out[i] = np.nanmax(v[lo[i]:hi[i]]) if np.isfinite(v[lo[i]:hi[i]]).any() else np.nan
    return out


def _latest(times: np.ndarray, values: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The last value seen before each end (NaN before the first)."""
    o = np.argsort(times, kind="stable")
    i = np.searchsorted(times[o], ends, side="left") - 1
    return np.where(i >= 0, values[o][np.maximum(i, 0)] if len(o) else np.nan, np.nan)


def estimates(cap, window: float = WINDOW_S, step: float = STEP_S,
              reported: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per media direction, in total and per stream: what was sent, what the feedback acknowledged and what the
    receiver asked for, over `window`-second windows every `step` seconds (1 s, 250 ms), one row per window.

    Columns: `src`, `sport`, `dst`, `dport` (the media direction), `ssrc` (UInt32; null for the direction's total),
    `time` (float64, the window's end, capture seconds), `send_bps` (float64: UDP payload bits of the sender's RTP
    captured in the window, per second), `acked_bps` (Float64: bits of the packets transport-cc/CCFB reports as
    received with a receive time in the window, per second: the rate the receiver got; null without feedback),
    `remb_bps`, `tmmbr_bps` (Float64: the receiver's latest REMB (for the stream: a REMB listing its SSRC) and
    TMMBR sent towards the sender at the window's end; null when none yet), `reported`, `lost` (int64: packets sent
    in the window that the feedback reports, and of them lost), `loss_fraction` (Float64, lost / reported; null
    when none reported), `queue_delay_ms` (Float64, the largest one-way delay above the direction's smallest among
    the window's packets), `ecn_ce` (Int64: packets captured with the IP ECN field CE in the window; null where the
    capture table has no ECN column).
    """
    c = tables.as_capture(cap)
    if c is None:
        raise TypeError("estimates takes the capture")
    pk = packets(c) if reported is None else reported
    rtp = c.rtp
    if not len(rtp):
        return tables.empty_table(ESTIMATES_SCHEMA)
    frames = c.packets["frame"].to_numpy()
    pkt_size = c.packets["payload_len"].to_numpy(dtype=float)
    at = np.minimum(np.searchsorted(frames, rtp["frame"].to_numpy()), len(frames) - 1)
    rtp_size = pkt_size[at]
    has_ecn = "ecn" in c.packets.columns
    ce = (ecn_names(c.packets["ecn"])[at] == "CE") if has_ecn else None
    remb, remb_ssrcs, tmmbr = c.remb, c.remb_ssrcs, c.tmmbr
    rows = []
    for key, idx in rtp.groupby(DIRECTION, observed=True, sort=True).indices.items():
        src, sport, dst, dport = key
        r = rtp.iloc[idx]
        t = r["t"].to_numpy(dtype=float)
        sizes = rtp_size[idx]
        ces = ce[idx] if has_ecn else None
        if len(t) < 2:
            continue
        ends = np.arange(np.floor(t.min() / step) * step + window, t.max() + step, step)
        p = pk[(pk["src"].astype(str) == str(src)) & (pk["sport"] == sport) & (pk["dst"].astype(str) == str(dst))
               & (pk["dport"] == dport)]
        rb, rs, tm = (tbl[(tbl["src"].astype(str) == str(dst)) & (tbl["dst"].astype(str) == str(src))]
                      for tbl in (remb, remb_ssrcs, tmmbr))
        tm = tm[tm["kind"] == "tmmbr"]
        for ssrc in [None, *sorted(int(s) for s in np.unique(r["ssrc"].to_numpy()))]:
            sel = np.ones(len(r), bool) if ssrc is None else r["ssrc"].to_numpy() == ssrc
            ps = p if ssrc is None else p[p["ssrc"].to_numpy(dtype=np.int64, na_value=-1) == ssrc]
            got = ps["received"].to_numpy(dtype=bool) & ps["receive_time"].notna().to_numpy()
            rt = ps["receive_time"].to_numpy(dtype=float, na_value=np.nan)
            size = ps["size"].to_numpy(dtype=float, na_value=0.0)
            pt = ps["t"].to_numpy(dtype=float)
            reported = _window_sums(pt, np.ones(len(ps)), ends, window)
            lost = _window_sums(pt, (~ps["received"].to_numpy(dtype=bool)).astype(float), ends, window)
            acked = _window_sums(rt[got], size[got] * 8, ends, window) / window
            qd = _window_max(pt, ps["queue_delay_ms"].to_numpy(dtype=float, na_value=np.nan), ends, window)
            if ssrc is None:
                remb_v = _latest(rb["t"].to_numpy(dtype=float), rb["bitrate_bps"].to_numpy(dtype=float), ends)
                tm_v = _latest(tm["t"].to_numpy(dtype=float), tm["bitrate_bps"].to_numpy(dtype=float), ends)
            else:
                one = rs[rs["ssrc"] == ssrc]
                remb_v = _latest(one["t"].to_numpy(dtype=float), one["bitrate_bps"].to_numpy(dtype=float), ends)
                one = tm[tm["ssrc"] == ssrc]
                tm_v = _latest(one["t"].to_numpy(dtype=float), one["bitrate_bps"].to_numpy(dtype=float), ends)
            n = len(ends)
            rows.append(pd.DataFrame({
                "src": [str(src)] * n, "sport": sport, "dst": [str(dst)] * n, "dport": dport,
                "ssrc": pd.array([ssrc] * n, dtype="UInt32"), "time": ends,
                "send_bps": _window_sums(t[sel], sizes[sel] * 8, ends, window) / window,
                "acked_bps": tables.masked(acked, np.full(n, not len(ps)), "Float64"),
                "remb_bps": tables.masked(np.nan_to_num(remb_v), np.isnan(remb_v), "Float64"),
                "tmmbr_bps": tables.masked(np.nan_to_num(tm_v), np.isnan(tm_v), "Float64"),
                "reported": reported.astype(np.int64), "lost": lost.astype(np.int64),
                "loss_fraction": tables.masked(lost / np.maximum(reported, 1), reported == 0, "Float64"),
                "queue_delay_ms": tables.masked(np.nan_to_num(qd), np.isnan(qd), "Float64"),
                "ecn_ce": tables.masked(_window_sums(t[sel], ces[sel].astype(float), ends, window) if has_ecn
                                        else np.zeros(n), np.full(n, not has_ecn), "Int64"),
            }))
    if not rows:
        return tables.empty_table(ESTIMATES_SCHEMA)
    return _typed(pd.concat(rows, ignore_index=True), ESTIMATES_SCHEMA)


# --- everything at once ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BweResult:
    """The bandwidth-estimation analysis of one capture: `packets`, `gradient` (delay_gradient), `episodes`
    (overuse_episodes), `estimates`, and `not_judged` (why there is nothing, or None).  Draw it with
    `webrtcpcap.plots.bwe_plot(result)`."""

    packets: pd.DataFrame
    gradient: pd.DataFrame
    episodes: pd.DataFrame
    estimates: pd.DataFrame
    not_judged: str | None = None

    @property
    def has_feedback(self) -> bool:
        """Whether there is anything to show: transport-cc/CCFB reports, or a REMB/TMMBR estimate."""
        e = self.estimates
        return bool(len(self.packets)) or bool(len(e) and (e["remb_bps"].notna().any() or e["tmmbr_bps"].notna().any()))

    def directions(self) -> list[tuple[str, int, str, int]]:
        """The media directions with feedback, the most reported first."""
        p = self.packets
        if not len(p):
            e = self.estimates
            e = e[e["remb_bps"].notna() | e["tmmbr_bps"].notna()]
            return [tuple(k) for k in e[DIRECTION].astype({"src": str, "dst": str}).drop_duplicates().itertuples(
                index=False)]
        counts = p.groupby(DIRECTION, observed=True).size().sort_values(ascending=False, kind="stable")
        return [(str(k[0]), int(k[1]), str(k[2]), int(k[3])) for k in counts.index if counts[k] > 0]


def analyse(cap, params: Trendline | None = None) -> BweResult:
    """`packets`, `delay_gradient`, `overuse_episodes` and `estimates` of the capture, each computed once."""
    pk = packets(cap)
    g = delay_gradient(pk, params)
    return BweResult(pk, g, overuse_episodes(None, gradient=g), estimates(cap, reported=pk), pk.attrs.get("not_judged"))
