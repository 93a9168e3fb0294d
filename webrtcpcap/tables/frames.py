"""Video frames assembled from RTP packets (issue 20, item 1): one row per RTP timestamp of a video stream, from the
RTP headers alone (RFC 3550 §5.1: the packets of one video frame share its timestamp, the marker bit is set on its
last packet, as every video payload format says: RFC 7741 §4.1 VP8, RFC 6184 §5.1 H.264, RFC 9628 VP9).

Strategy: DataFrame -> DataFrame over the `rtp` table, no bytes: timestamps, sequence numbers and markers are in the
clear in SRTP too, so frames assemble without keys. What needs the payload (keyframes, telling ULPFEC inside RED from
media) comes in as the keyframes table (`webrtcpcap.tables.media_tables.keyframes`, which reads RED) when the caller has it.
Wrap-around is `streams.extend_seq` / `extend_ts` (the one helper); each stream is unwrapped in arrival order, then
its packets are grouped by extended timestamp with numpy. Python loops run over streams, never packets.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .schema import frame_table, masked
from .streams import STREAM_KEY_COLUMNS, STREAM_KEYS, extend_seq, extend_ts

FRAMES_SCHEMA: dict[str, str] = {
    "frame": "uint32",
    "t": "float64",
    **STREAM_KEY_COLUMNS,
    "ts": "uint32",
    "ts_ext": "int64",
    "first_seq": "uint16",
    "last_seq": "uint16",
    "first_seq_ext": "int64",
    "last_seq_ext": "int64",
    "packets": "uint32",
    "bytes": "uint64",
    "missing": "uint32",
    "missing_before": "uint32",
    "marker": "bool",
    "complete": "boolean",
    "keyframe": "boolean",
    "codec": "category",
    "repaired": "uint32",
    "trailing": "uint32",
    "duplicates": "uint32",
    "padding": "uint32",
    "first_t": "float64",
    "last_t": "float64",
    "interval": "float64",
}


def frames(rtp: pd.DataFrame, ssrcs=None, keyframes: pd.DataFrame | None = None,
           rtx: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per video frame (an RTP timestamp of a stream) in `rtp` (the rtp table: `cap.rtp`), for the streams
    whose SSRC is in `ssrcs` (video media SSRCs, e.g. `cap.streams` rows with kind "video" and role "media"; None:
    every stream, which only makes sense for a table of video). Rows with an `error` (malformed RTP) are left out.

    Columns (FRAMES_SCHEMA): `frame` and `t`: capture frame number and time (s) of the frame's first packet to
    arrive; src, sport, dst, dport, ssrc, pt (the payload type of that packet); `ts` (the RTP timestamp) and
    `ts_ext` (extended past wrap-around); `first_seq`, `last_seq` (lowest and highest sequence number received with
    this timestamp, 16-bit) and their extended values `first_seq_ext`, `last_seq_ext`; `packets` and `bytes`
    (payload_len) of the frame's distinct media packets; `missing`: sequence numbers never received between the
    frame's first packet and its marker packet (or its last packet, without a marker); `missing_before`: sequence
    numbers never received between the previous frame (by timestamp) and this one: lost packets of either frame, or
    frames lost whole, the headers cannot say which; `marker`: a packet of the frame has the marker bit (the frame's
    last packet arrived); `complete`: True when nothing is missing inside, the marker arrived and the previous frame
    ended (marker) right before the first sequence number; False when packets inside are missing or the marker
    never arrived; null when that cannot be judged (the first frame of a stream, or packets missing right before
    the frame: its first packets or whole frames); `keyframe`: from `keyframes` (True when a packet of the frame
    starts a keyframe, False when one starts another frame, null without a verdict or without the table);
    `codec`: the codec the keyframes table judged the frame's packets to carry (VP8 inside RED is VP8), null
    without it;
    `repaired`: packets of the frame whose original never arrived and whose RFC 4588 retransmission did, from `rtx`
    (a table with `frame`, `media_ssrc` and `osn` columns, one row per RTX packet: `webrtcpcap.analysis.nack.rtx_osns`; its OSN needs the
    payload, so SRTP needs its keys): such a packet counts as received at the retransmission's arrival (in
    `packets`, `bytes` less its 2-byte OSN, `first_t`/`last_t`, and for `missing` and `complete`); a
    retransmission of a packet that did arrive is left out;
    `trailing`: packets with the frame's timestamp after its marker packet (ULPFEC, RFC 5109, inside RED, RFC
    2198, rides on the media SSRC with the frame's timestamp as libwebrtc sends it; not counted in `packets` and
    `bytes`); `duplicates`: packets received again; `padding`: packets with the P bit (padding-only probes, RFC 3550 §5.1) carrying this
    timestamp, not counted as media; `first_t`, `last_t`: first and last arrival (s) of its media packets;
    `interval`: `last_t` minus that of the previous frame (timestamp order) of the stream, NaN for the first: the
    time between two frames becoming whole, the input of the W3C freeze definition.
    Sorted by stream (first appearance) and then `ts_ext`.
    """
    ok = rtp[rtp["error"].isna()] if "error" in rtp else rtp
    ok = ok.assign(rtx=False)
    if rtx is not None and len(rtx):
        ok = pd.concat([ok, _retransmissions(ok, rtx)], ignore_index=True).sort_values("frame", kind="stable")
    if ssrcs is not None:
        ok = ok[ok["ssrc"].isin(list(ssrcs))]
    verdicts = _keyframe_verdicts(keyframes)
    parts = [_stream_frames(g, verdicts) for _, g in ok.groupby(STREAM_KEYS, observed=True, sort=False)]
    parts = [p for p in parts if p is not None]
    if not parts:
        return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in FRAMES_SCHEMA.items()})
    out = pd.concat(parts, ignore_index=True)
    for key in ("src", "dst", "codec"):
        out[key] = out[key].astype("category")
    return out


def _retransmissions(rtp: pd.DataFrame, rtx: pd.DataFrame) -> pd.DataFrame:
    """The RTX packets with a known OSN as rows of their media stream: its SSRC, the OSN as sequence number, the
    payload less the OSN (RFC 4588 §4: same timestamp and marker as the original)."""
    known = rtx[rtx["osn"].notna()][["frame", "media_ssrc", "osn"]]
    rows = rtp.merge(known, on="frame", how="inner")
    if rows.empty:
        return rows.drop(columns=["media_ssrc", "osn"])
    rows["ssrc"] = rows["media_ssrc"].to_numpy().astype(np.uint32)
    rows["seq"] = rows["osn"].to_numpy().astype(np.uint16)
    rows["payload_len"] = np.maximum(rows["payload_len"].to_numpy().astype(np.int64) - 2, 0)
    rows["rtx"] = True
    return rows.drop(columns=["media_ssrc", "osn"])


def _keyframe_verdicts(keyframes: pd.DataFrame | None) -> dict[tuple[int, int], tuple[bool | None, str | None]] | None:
    """{(ssrc, ts): (any packet starts a keyframe, or None without a verdict; the codec judged, or None)} from a
    keyframes table; its "red" rows (FEC inside RED, nothing judged) name no codec."""
    if keyframes is None:
        return None
    out: dict[tuple[int, int], tuple[bool | None, str | None]] = {}
    named = keyframes[keyframes["codec"].notna() & (keyframes["codec"].astype(str) != "red")] \
        if "codec" in keyframes else keyframes.iloc[:0]
    for (s, t), c in named.groupby(["ssrc", "ts"], observed=True)["codec"].first().items():
        out[(int(s), int(t))] = (None, str(c))
    judged = keyframes[keyframes["keyframe"].notna()]
    if len(judged):
        g = judged.assign(kf=judged["keyframe"].astype(bool)).groupby(["ssrc", "ts"], observed=True)["kf"].any()
        for (s, t), v in g.items():
            out[(int(s), int(t))] = (bool(v), out.get((int(s), int(t)), (None, None))[1])
    return out


def _stream_frames(g: pd.DataFrame, verdicts) -> pd.DataFrame | None:
    """The frames of one stream (its rows in arrival order)."""
    seq = extend_seq(g["seq"].to_numpy())
    ts = extend_ts(g["ts"].to_numpy())
    t = g["t"].to_numpy()
    capture_frame = g["frame"].to_numpy()
    marker = g["marker"].to_numpy().astype(bool)
    pad = g["padding"].to_numpy().astype(bool) if "padding" in g else np.zeros(len(g), dtype=bool)
    nbytes = g["payload_len"].to_numpy().astype(np.int64)
    pt = g["pt"].to_numpy()
    by_rtx = g["rtx"].to_numpy().astype(bool)

    # Duplicates: a sequence number seen before (arrival order) is counted, not assembled again; an original is
    # taken before any retransmission of it, and a retransmission of a packet that arrived is left out.
    order = np.lexsort((np.arange(len(seq)), by_rtx, seq))
    head_of_run = np.r_[True, seq[order][1:] != seq[order][:-1]]
    is_first = np.zeros(len(seq), dtype=bool)
    is_first[order[head_of_run]] = True
    spare_rtx = by_rtx & ~is_first
    media = is_first & ~pad
    if not media.any():
        return None
    frame_ts, frame_of = np.unique(ts[media], return_inverse=True)
    n = len(frame_ts)
    m_seq, m_t, m_marker = seq[media], t[media], marker[media]

    # Per frame: lowest/highest sequence number, the marker packet's number, first/last arrival.
    first_seq = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first_seq, frame_of, m_seq)
    last_seq = np.full(n, np.iinfo(np.int64).min)
    np.maximum.at(last_seq, frame_of, m_seq)
    marker_seq = np.full(n, np.iinfo(np.int64).min)
    np.maximum.at(marker_seq, frame_of[m_marker], m_seq[m_marker])
    has_marker = marker_seq != np.iinfo(np.int64).min
    # The frame's media run ends at its marker; packets after it with the same timestamp are FEC or padding.
    end_seq = np.where(has_marker, marker_seq, last_seq)
    body = m_seq <= end_seq[frame_of]
    packets = np.bincount(frame_of[body], minlength=n)
    repaired = np.bincount(frame_of[body & by_rtx[media]], minlength=n)
    trailing = np.bincount(frame_of[~body], minlength=n)
    nbytes_frame = np.bincount(frame_of[body], weights=nbytes[media][body], minlength=n).astype(np.int64)
    first_t = np.full(n, np.inf)
    np.minimum.at(first_t, frame_of[body], m_t[body])
    last_t = np.full(n, -np.inf)
    np.maximum.at(last_t, frame_of[body], m_t[body])
    # The first packet to arrive (capture order = row order): its frame number and payload type.
    media_rows = np.flatnonzero(media)
    first_row = np.full(n, len(g), dtype=np.int64)
    np.minimum.at(first_row, frame_of[body], media_rows[body])

    missing = end_seq - first_seq + 1 - packets
    prev_last = np.r_[first_seq[0] - 1, last_seq[:-1]]
    # Numbers between two frames that did arrive (padding probes, packets of interleaved frames) are not missing.
    received = np.unique(seq)
    between = np.searchsorted(received, first_seq) - np.searchsorted(received, prev_last, side="right")
    missing_before = np.maximum(first_seq - prev_last - 1 - np.maximum(between, 0), 0)
    prev_marker = np.r_[False, has_marker[:-1]]
    head_known = (np.arange(n) > 0) & (missing_before == 0) & prev_marker
    broken = (missing > 0) | ~has_marker
    complete = np.where(broken, False, head_known)
    unknown = ~broken & ~head_known

    dup = _count_per_frame(frame_ts, ts[~is_first & ~pad & ~spare_rtx])
    padding = _count_per_frame(frame_ts, ts[pad])

    interval = np.r_[np.nan, np.diff(last_t)]
    ssrc = int(g["ssrc"].iloc[0])
    ts32 = (frame_ts & 0xFFFFFFFF).astype(np.int64)
    got = [verdicts.get((ssrc, int(x)), (None, None)) for x in ts32] if verdicts else [(None, None)] * n
    kf_value = np.array([bool(v[0]) for v in got], dtype=bool)
    kf_missing = np.array([v[0] is None for v in got], dtype=bool)
    codec = pd.Categorical([v[1] for v in got])

    head = g.iloc[np.minimum(first_row, len(g) - 1)]
    return frame_table({
        "frame": capture_frame[first_row], "t": t[first_row],
        "src": head["src"].astype(str).to_numpy(), "sport": head["sport"].to_numpy(),
        "dst": head["dst"].astype(str).to_numpy(), "dport": head["dport"].to_numpy(),
        "ssrc": np.full(n, ssrc), "pt": pt[first_row],
        "ts": ts32, "ts_ext": frame_ts,
        "first_seq": first_seq & 0xFFFF, "last_seq": last_seq & 0xFFFF,
        "first_seq_ext": first_seq, "last_seq_ext": last_seq,
        "packets": packets, "bytes": nbytes_frame, "missing": missing, "missing_before": missing_before,
        "marker": has_marker, "complete": masked(complete, unknown, "boolean"),
        "keyframe": masked(kf_value, kf_missing, "boolean"), "codec": codec,
        "repaired": repaired, "trailing": trailing, "duplicates": dup, "padding": padding,
        "first_t": first_t, "last_t": last_t, "interval": interval,
    }, {k: ("object" if k in ("src", "dst") else v) for k, v in FRAMES_SCHEMA.items()})


def _count_per_frame(frame_ts: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """How many of `ts` fall on each of the (sorted, distinct) frame timestamps; others are not counted."""
    inside = np.isin(ts, frame_ts)
    return np.bincount(np.searchsorted(frame_ts, ts[inside]), minlength=len(frame_ts))
