"""RTX (RFC 4588): which stream retransmits which (SDP ssrc-group FID, apt on the same 5-tuple, payload OSNs, RTP
timestamps), each stream's role (media, rtx, fec, padding), and what became of each hole in a media stream (repairs).

Strategy: DataFrames in and out; payload bytes only for OSNs, through a callable the caller passes
(`Capture.rtp_payload`, whose bulk reader gives the first bytes of many payloads at once).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..net.payloads import read_heads
from ..protocols import sdp as _sdp
from .schema import as_capture
from .sequence import STREAM_KEY_COLUMNS, STREAM_KEYS, _Ordered, _empty, extend_seq, extend_ts, gaps

# What a stream carries: its own media, retransmissions of another stream (RFC 4588 RTX), forward error correction
# (RFC 5109 ulpfec, RFC 8627 flexfec) or only padding (bandwidth probes: Chromium sends padding-only packets, RFC 3550
# §5.1 P bit with an all-padding payload, to probe the path before and during a call).
ROLES = ["media", "rtx", "fec", "padding"]

RTX_PAIRS_SCHEMA: dict[str, str] = {
    "rtx_ssrc": "uint32",
    "rtx_pt": "uint8",
    "media_ssrc": "uint32",
    "media_pt": "uint8",
    "source": "category",
}
RTX_SOURCES = ["sdp ssrc-group FID", "sdp apt + same 5-tuple", "payload OSN", "rtp timestamps",
               "rtp timestamps after losses"]

REPAIRS_SCHEMA: dict[str, str] = {
    **STREAM_KEY_COLUMNS,
    "seq": "int64",
    "t_before": "float64",
    "t_after": "float64",
    "status": "category",
    "rtx_ssrc": "UInt32",
    "rtx_frame": "Int64",
    "rtx_t": "float64",
    "rtx_copies": "int64",
}
REPAIR_STATUSES = ["late", "rtx", "missing", "unknown", "no rtx stream"]
_FIVE = ["src", "sport", "dst", "dport"]


def rtx_osn(rtp: pd.DataFrame, payload, skip_unreadable: bool = False) -> pd.Series:
    """RFC 4588 §4: the original sequence number (OSN, the first 2 bytes of an RTX payload) of each row of `rtp`,
    as a nullable UInt16 Series on rtp's index.  `payload` gives the RTP payload of a frame without padding
    (`Capture.rtp_payload`, whose bulk reader gives the first bytes of every payload at once).  NA where it cannot be
    read: SRTP-encrypted packets that were not decrypted (dtls_srtp without auth_ok: the payload bytes are
    ciphertext, any 2 bytes would be noise), padding-only packets (Chromium's bandwidth probes) and payloads under
    2 bytes.  A payload `payload` cannot give (ValueError) raises, or with `skip_unreadable` is NA."""
    plain = np.flatnonzero(_readable(rtp))
    heads = read_heads(payload, rtp["frame"].to_numpy()[plain], 2)
    if not skip_unreadable:
        for e in heads.error.tolist():
            if e is not None:
                raise e
    have = heads.length >= 2
    osn = np.zeros(len(rtp), dtype=np.uint16)
    osn[plain[have]] = heads.head[have, 0].astype(np.uint16) << 8 | heads.head[have, 1]
    known = np.zeros(len(rtp), dtype=bool)
    known[plain[have]] = True
    return pd.Series(pd.arrays.IntegerArray(osn, ~known), index=rtp.index, name="osn")


def _readable(rtp: pd.DataFrame) -> np.ndarray:
    """Rows whose RTP payload is plaintext: not SRTP, or SRTP that was decrypted (auth_ok, see open(keylog=))."""
    plain = ~rtp["dtls_srtp"].to_numpy(dtype=bool) if "dtls_srtp" in rtp.columns else np.ones(len(rtp), bool)
    if "auth_ok" in rtp.columns:
        plain |= rtp["auth_ok"].fillna(False).to_numpy(dtype=bool)
    return plain


def rtx_pairs(streams_df: pd.DataFrame, sdps=None, rtp: pd.DataFrame | None = None, payload=None,
              timestamps: bool = False, *, holes: pd.DataFrame | None = None) -> pd.DataFrame:
    """Which RTP stream (RFC 4588 RTX) retransmits which, one row per RTX stream found: rtx_ssrc, rtx_pt, media_ssrc,
    media_pt, source (the evidence, strongest first):

    - "sdp ssrc-group FID": an `a=ssrc-group:FID <media> <rtx>` line of the SDPs (RFC 5576 §4.2) names both SSRCs;
    - "sdp apt + same 5-tuple": the stream's payload type is an RTX type (`a=fmtp:<pt> apt=<media pt>`) and exactly
      one stream with the apt payload type flows on the same 5-tuple;
    - "payload OSN": with `rtp` and `payload` (`Capture.rtp_payload`) on a plaintext capture, the stream's OSNs
      (`rtx_osn`) all lie in the sequence range of one other stream of the same 5-tuple, and the RTP timestamps of
      the RTX packets are timestamps of that stream's packets (RFC 4588 §4: an RTX packet keeps the original
      timestamp).  Used for streams the SDP leaves open (no SDP, or several candidates).
    - "rtp timestamps" (only with `timestamps=True` and `rtp`; weaker, for SRTP read without keys): every RTP
      timestamp of the stream is one of exactly one other stream of the same 5-tuple with more packets, and each of
      its packets arrived after that stream's first packet with the same timestamp (a retransmission keeps the
      original timestamp and comes later).  What `webrtcpcap summary` uses to leave RTX jitter out.
    - "rtp timestamps after losses" (with `timestamps=True`): the receiver's side of a loss the originals of which
      never arrived (an outage): every RTP timestamp of the stream lies in the span of exactly one other stream of
      the same 5-tuple, with payload type one below the stream's (the pairing every WebRTC stack offers: VP8 96 and
      its rtx 97), every packet arrived after that stream's first hole opened, and there are no more packets than 3
      per number it lost.

    `streams_df` is a `streams` table; `sdps` one Sdp or a list (`cap.sdp`).  A stream none of these pairs is not
    listed.  Sorted by rtx_ssrc.  `holes`: `gaps(rtp)` when already computed (the timestamp evidence reads it).
    """
    if (cap := as_capture(streams_df)) is not None:  # rtx_pairs(cap): with the capture's SDPs and payloads
        streams_df, sdps, rtp, payload = cap.streams, cap.sdp, cap.rtp, cap.payload_or_empty

    sdps = _sdp._sdps(sdps)
    seen = streams_df.drop_duplicates("ssrc").set_index("ssrc")
    rows: dict[int, tuple] = {}
    for s in sdps:  # FID groups
        for m in s.media:
            for g in m.ssrc_groups:
                if g.semantics == "FID" and len(g.ssrcs) == 2:
                    media, rtx = g.ssrcs
                    if rtx in seen.index and media in seen.index and rtx not in rows:
                        rows[rtx] = (rtx, int(seen.at[rtx, "pt"]), media, int(seen.at[media, "pt"]), RTX_SOURCES[0])
    apt = _sdp.rtx_map(sdps)
    osn_by_stream: dict[int, pd.DataFrame] = {}
    if rtp is not None and payload is not None:
        cand = streams_df[~streams_df["ssrc"].isin(list(rows))]
        if apt:
            cand = cand[cand["pt"].isin(list(apt))]
        for ssrc in cand["ssrc"].unique().tolist():
            sub = rtp[rtp["ssrc"] == ssrc]
            if _readable(sub).all() and _osns_may_fit(streams_df, sub, payload):
                osn_by_stream[int(ssrc)] = sub.assign(osn=rtx_osn(sub, payload)).dropna(subset=["osn"])
    for _, r in streams_df.iterrows():  # a loop over streams
        ssrc, pt = int(r["ssrc"]), int(r["pt"])
        if ssrc in rows:
            continue
        same = streams_df[(streams_df[_FIVE] == r[_FIVE]).all(axis=1) & (streams_df["ssrc"] != ssrc)]
        if pt in apt:
            media = same[(same["pt"] == apt[pt]) & ~same["ssrc"].isin(list(rows))]
            if len(media["ssrc"].unique()) == 1:
                m = media.iloc[0]
                rows[ssrc] = (ssrc, pt, int(m["ssrc"]), int(m["pt"]), RTX_SOURCES[1])
                continue
        got = osn_by_stream.get(ssrc)
        if got is None or len(got) < 2 or rtp is None:
            continue
        osn = got["osn"].to_numpy(dtype=np.int64)
        matches = []
        for _, m in same.iterrows():
            if int(m["ssrc"]) in rows:
                continue
            lo, hi = int(m["first_seq"]), int(m["last_seq"])
            ext = lo + (osn - lo) % 65536  # each OSN in the cycle at or above the stream's first number
            mts = extend_ts(rtp.loc[rtp["ssrc"] == m["ssrc"], "ts"].to_numpy())
            ts0 = int(mts.min()) if len(mts) else 0
            rel = (got["ts"].to_numpy(dtype=np.int64) - ts0) % (1 << 32)  # RTX timestamps inside the stream's span
            if len(mts) and (ext <= hi).all() and (rel <= int(mts.max()) - ts0).all():
                matches.append(m)
        if len(matches) == 1:
            rows[ssrc] = (ssrc, pt, int(matches[0]["ssrc"]), int(matches[0]["pt"]), RTX_SOURCES[2])
    if timestamps and rtp is not None:
        for ssrc, media, media_pt, source in _rtx_by_timestamps(streams_df, rtp, set(rows), holes):
            rows[ssrc] = (ssrc, int(seen.at[ssrc, "pt"]), media, media_pt, source)
    out = pd.DataFrame(sorted(rows.values()), columns=list(RTX_PAIRS_SCHEMA))
    out["source"] = pd.Categorical(out["source"], categories=RTX_SOURCES)
    return out.astype({k: v for k, v in RTX_PAIRS_SCHEMA.items() if v != "category"})


_OSN_PROBE = 8  # packets read first from a stream that might be RTX (each read decodes its frame again)


def _osns_may_fit(streams_df: pd.DataFrame, sub: pd.DataFrame, payload) -> bool:
    """False when the OSNs of the first few readable packets of a stream (`sub`: its rtp rows) already rule out every
    other stream of its 5-tuple as its media: the payload OSN pairing below needs every OSN inside that stream's
    sequence range.  Saves reading every packet of the media streams of a plaintext capture opened without an SDP."""
    first = sub.iloc[0]
    same = streams_df[(streams_df[_FIVE] == first[_FIVE]).all(axis=1) & (streams_df["ssrc"] != first["ssrc"])]
    if not len(same):
        return False
    osn = rtx_osn(sub.iloc[:_OSN_PROBE], payload).dropna().to_numpy(dtype=np.int64)
    if not len(osn):
        return True  # nothing readable in the first packets (padding probes): decide on the whole stream
    lo, hi = same["first_seq"].to_numpy(dtype=np.int64), same["last_seq"].to_numpy(dtype=np.int64)
    inside = (lo[:, None] + (osn[None, :] - lo[:, None]) % 65536) <= hi[:, None]
    return bool(inside.all(axis=1).any())


def _stream_key(values) -> tuple:
    """A stream's key (src, sport, dst, dport, ssrc) as the dictionaries below hold it, from any row's values."""
    src, sport, dst, dport, ssrc = values
    return (str(src), int(sport), str(dst), int(dport), int(ssrc))


def _rtx_by_timestamps(streams_df: pd.DataFrame, rtp: pd.DataFrame, paired: set,
                       holes: pd.DataFrame | None = None) -> list[tuple[int, int, int, str]]:
    """(rtx ssrc, media ssrc, media pt, source) for the wire evidence of rtx_pairs ("rtp timestamps", "rtp
    timestamps after losses").  Padding-only packets (probes, which RTX streams also carry) are left out.  An RTX
    stream has a payload type of its own (RFC 4588 §8.1), so a stream with the same payload type is never its media.
    - "rtp timestamps": a retransmitted packet whose frame lost every original is allowed not to match, so half of
      the timestamps matching, and all lying in the other stream's span, is enough;
    - "rtp timestamps after losses": after an outage most retransmissions resend frames lost whole.  Then one
      timestamp at least must match (the tie to that stream) and every other one lie in a hole of the other
      stream's sequence numbers, having arrived after it opened; or, with no match, the RTX payload type is the
      media's + 1 and every packet came after the first hole.
    `holes`: gaps(rtp) when already computed."""
    found = []
    ok = rtp[rtp["error"].isna()] if "error" in rtp.columns else rtp
    holes = gaps(ok) if holes is None else holes
    first_hole: dict[tuple, float] = {}
    if len(holes):
        opened = holes.groupby(STREAM_KEYS, observed=True, sort=False)["t_before"].min()
        first_hole = {_stream_key(k): float(v) for k, v in opened.items()}
    # The rows of each stream, in capture order: one grouping instead of a scan of the table per stream.
    rows_of = {_stream_key(k): v for k, v in ok.groupby(STREAM_KEYS, observed=True, sort=False).indices.items()} \
        if len(ok) else {}
    empty = np.zeros(0, dtype=np.int64)
    for _, r in streams_df.iterrows():  # a loop over streams
        ssrc = int(r["ssrc"])
        if ssrc in paired:
            continue
        own = ok.iloc[rows_of.get(_stream_key(r[STREAM_KEYS]), empty)]
        mine = own[~own["padding"].to_numpy(dtype=bool)]
        # One retransmission is enough on an SSRC that also carried padding-only probes (what browsers send on
        # their RTX SSRC); otherwise two.
        if len(mine) < (1 if len(mine) < len(own) else 2):
            continue
        same = streams_df[(streams_df[_FIVE] == r[_FIVE]).all(axis=1) & (streams_df["ssrc"] != ssrc)
                          & (streams_df["packets"] > r["packets"]) & (streams_df["pt"] != r["pt"])]
        matches, after_loss = [], []
        for _, m in same.iterrows():
            key = _stream_key(list(r[_FIVE]) + [m["ssrc"]])
            other = ok.iloc[rows_of.get(key, empty)]
            ts = extend_ts(other["ts"].to_numpy())
            ts0, span = int(ts.min()), int(ts.max() - ts.min())
            inside = ((mine["ts"].to_numpy(dtype=np.int64) - ts0) % (1 << 32) <= span).all()
            if not inside:
                continue
            first_t = other.groupby("ts", observed=True)["t"].min()
            at = first_t.reindex(mine["ts"].to_numpy()).to_numpy()
            hit = ~np.isnan(at)
            if 2 * hit.sum() >= len(mine) and (mine["t"].to_numpy()[hit] >= at[hit]).all():
                matches.append(m)
                continue
            if hit.any() and (mine["t"].to_numpy()[hit] >= at[hit]).all() and _in_holes(other, ts, mine, ~hit).all():
                after_loss.append(m)  # the rest resend frames lost whole (an outage): each lies in a hole of `other`
                continue
            opened = first_hole.get(_stream_key(m[STREAM_KEYS]))
            if (opened is not None and int(r["pt"]) == int(m["pt"]) + 1 and (mine["t"] >= opened).all()
                    and len(mine) <= 3 * int(m["lost"])):
                after_loss.append(m)
        if len(matches) == 1:
            found.append((ssrc, int(matches[0]["ssrc"]), int(matches[0]["pt"]), RTX_SOURCES[3]))
        elif not matches and len(after_loss) == 1:
            found.append((ssrc, int(after_loss[0]["ssrc"]), int(after_loss[0]["pt"]), RTX_SOURCES[4]))
    return found


def _in_holes(media: pd.DataFrame, media_ts: np.ndarray, rtx: pd.DataFrame, which: np.ndarray) -> np.ndarray:
    """For the `which` rows of `rtx`: True where the packet's RTP timestamp lies in a hole of `media` (between the
    timestamps of two packets with sequence numbers missing between them) and it arrived after the hole opened:
    what a retransmission of a frame whose every original was lost looks like.  `media_ts`: media's timestamps
    extended (sequence.extend_ts), in its row order."""
    if not which.any():
        return np.zeros(0, dtype=bool)
    seq = extend_seq(media["seq"].to_numpy())
    order = np.argsort(seq, kind="stable")
    seq, ts, t = seq[order], media_ts[order], media["t"].to_numpy(dtype=float)[order]
    at = np.flatnonzero(np.diff(seq) > 1)  # a hole between positions i and i + 1
    if not len(at):
        return np.zeros(int(which.sum()), dtype=bool)
    lo, hi, opened = ts[at], ts[at + 1], t[at]
    want = (rtx["ts"].to_numpy(dtype=np.int64)[which] - int(media_ts.min())) % (1 << 32) + int(media_ts.min())
    arrived = rtx["t"].to_numpy(dtype=float)[which]
    # holes do not overlap in timestamp (video timestamps do not go back with the sequence number): the last hole
    # opening at or before a timestamp is the only one that can hold it
    k = np.searchsorted(lo, want, side="right") - 1
    ok = k >= 0
    kk = np.maximum(k, 0)
    return ok & (want <= hi[kk]) & (arrived >= opened[kk])


RTX_OSN_SCHEMA: dict[str, str] = {
    "frame": "uint32",
    "t": "float64",
    "rtx_ssrc": "uint32",
    "media_ssrc": "uint32",
    "osn": "UInt16",
}


def rtx_osns(rtp: pd.DataFrame, rtx_pairs_df: pd.DataFrame, payload) -> pd.DataFrame:
    """The OSN (RFC 4588 §4) of every packet of the RTX streams named in `rtx_pairs_df` (`streams.rtx_pairs`), read
    with `payload` (`Capture.rtp_payload`, which decrypts SRTP when the capture was opened with its keys).

    Columns (RTX_OSN_SCHEMA): frame (uint32), t (float64), rtx_ssrc, media_ssrc (uint32), osn (UInt16: null for
    padding-only packets, payloads under 2 bytes, and SRTP that was not decrypted or did not authenticate).  The
    payloads are read in bulk when `payload` is a Capture's reader (webrtcpcap.net.payloads.read_heads)."""
    if not len(rtx_pairs_df):
        return _empty(RTX_OSN_SCHEMA)
    media_of = dict(zip(rtx_pairs_df["rtx_ssrc"].astype(np.int64), rtx_pairs_df["media_ssrc"].astype(np.int64)))
    rows = rtp[rtp["ssrc"].isin(list(media_of))]
    if "error" in rows.columns:
        rows = rows[rows["error"].isna()]
    readable = rows
    if "auth_ok" in rows.columns and "dtls_srtp" in rows.columns:
        # Decrypted SRTP is plaintext for `payload`: let streams.rtx_osn read it; the rest stays unreadable.
        readable = rows.assign(dtls_srtp=rows["dtls_srtp"].to_numpy(dtype=bool)
                               & ~rows["auth_ok"].fillna(False).to_numpy(dtype=bool))

    # not readable as RTP after all (fragment lost, SRTP failed): no OSN
    osn = rtx_osn(readable, payload, skip_unreadable=True)
    return pd.DataFrame({
        "frame": rows["frame"].to_numpy().astype(np.uint32), "t": rows["t"].to_numpy(dtype=np.float64),
        "rtx_ssrc": rows["ssrc"].to_numpy().astype(np.uint32),
        "media_ssrc": rows["ssrc"].map(media_of).to_numpy().astype(np.uint32),
        "osn": osn.array,
    }).astype(RTX_OSN_SCHEMA).reset_index(drop=True)


ROLES_SCHEMA: dict[str, str] = {
    **STREAM_KEY_COLUMNS,
    "role": "category",
    "role_of": "UInt32",
    "role_evidence": "string",
}
_FEC_ONLY = {"ulpfec", "flexfec", "flexfec-03"}


def stream_roles(streams_df: pd.DataFrame, rtp: pd.DataFrame, sdps=None, payload=None,
                 codecs: dict[int, tuple[str, str]] | None = None, found: dict | None = None) -> pd.DataFrame:
    """What each stream of a `streams` table carries, and why: one row per stream, in its order.

    Columns (ROLES_SCHEMA): the stream keys and pt; role (ROLES: media, rtx, fec, padding); role_of (UInt32: the
    media SSRC an rtx or fec stream repairs, when known); role_evidence (string: the evidence, strongest first).

    - rtx: paired by `rtx_pairs` (with `timestamps=True`: the SDP's FID groups or apt, else the payload's OSNs when
      readable, else the wire's timestamps), or its payload type is rtx in the SDP;
    - fec: ulpfec/flexfec in the SDP, or the second SSRC of an a=ssrc-group:FEC-FR (RFC 5956);
    - padding: every packet has the padding bit set (and, when the payload is readable, carries nothing else):
      bandwidth probes of a stream not otherwise paired;
    - media: everything else.  RED (RFC 2198) carries media (with its redundancy) and counts as media.
    `codecs` ({pt: (media kind, codec)}) defaults to webrtcpcap.sdp.codecs(sdps).  `found`, a dict, receives the
    evidence read on the way, for whoever needs it next (the analysis context): "rtx_pairs" (rtx_pairs with
    timestamps) and "gaps" (gaps(rtp)), when there are streams."""

    sdps = _sdp._sdps(sdps)
    if codecs is None:
        codecs = _sdp.codecs(sdps) if sdps else {}
    apt = _sdp.rtx_map(sdps) if sdps else {}
    fec_fr: dict[int, int] = {}
    for s in sdps:
        for m in s.media:
            for g in m.ssrc_groups:
                if g.semantics == "FEC-FR" and len(g.ssrcs) == 2:
                    fec_fr[g.ssrcs[1]] = g.ssrcs[0]
    n = len(streams_df)
    role = np.array(["media"] * n, dtype=object)
    role_of = pd.array([pd.NA] * n, dtype="UInt32")
    evidence = np.array([""] * n, dtype=object)
    holes = gaps(rtp) if n else None  # read by the timestamp evidence; kept in `found`
    pairs = (rtx_pairs(streams_df, sdps, rtp, payload, timestamps=True, holes=holes) if n
             else _empty(RTX_PAIRS_SCHEMA))
    if found is not None and n:
        found.update(rtx_pairs=pairs, gaps=holes)
    paired = {int(p.rtx_ssrc): p for p in pairs.itertuples(index=False)}
    ok = rtp[rtp["error"].isna()] if "error" in rtp.columns else rtp
    for i, r in enumerate(streams_df.itertuples(index=False)):  # a loop over streams
        ssrc, pt = int(r.ssrc), int(r.pt)
        media, name = codecs.get(pt, (None, None))
        low = (name or "").lower()
        p = paired.get(ssrc)
        if p is not None:
            role[i], role_of[i] = "rtx", int(p.media_ssrc)
            evidence[i] = _rtx_evidence(p)
        elif low == "rtx":
            role[i] = "rtx"
            evidence[i] = f"SDP: payload type {pt} is rtx" + (f" (apt={apt[pt]})" if pt in apt else "")
        elif ssrc in fec_fr:
            role[i], role_of[i] = "fec", fec_fr[ssrc]
            evidence[i] = f"SDP: a=ssrc-group:FEC-FR {fec_fr[ssrc]} {ssrc}"
        elif low in _FEC_ONLY:
            role[i] = "fec"
            evidence[i] = f"SDP: payload type {pt} is {name}"
        else:
            why = _padding_only(ok, r, payload)
            if why:
                role[i], evidence[i] = "padding", why
            elif name:
                evidence[i] = f"SDP: payload type {pt} is {media} {name}"
            else:
                evidence[i] = "no SDP for payload type {}; nothing on the wire marks it as RTX, FEC or padding".format(pt)
    keys = streams_df[list(STREAM_KEY_COLUMNS)].reset_index(drop=True)
    return keys.assign(role=pd.Categorical(role, categories=ROLES), role_of=role_of,
                       role_evidence=pd.array(evidence, dtype="string"))


def in_streams(rtp: pd.DataFrame, streams_df: pd.DataFrame) -> np.ndarray:
    """Boolean mask over the rows of `rtp`: True where the row belongs to one of the streams of `streams_df`
    (matched on STREAM_KEYS), e.g. `rtp[in_streams(rtp, st[st.role == "media"])]` keeps the media packets."""
    if not len(rtp) or not len(streams_df):
        return np.zeros(len(rtp), dtype=bool)
    def key(df):
        return pd.MultiIndex.from_arrays([df[k].astype(str) if k in ("src", "dst") else df[k].astype(np.int64)
                                          for k in STREAM_KEYS])
    return key(rtp).isin(key(streams_df))


def _rtx_evidence(p) -> str:
    media = f"ssrc {int(p.media_ssrc)}"
    return {
        RTX_SOURCES[0]: f"SDP: a=ssrc-group:FID {int(p.media_ssrc)} {int(p.rtx_ssrc)}",
        RTX_SOURCES[1]: (f"SDP: payload type {int(p.rtx_pt)} is rtx with apt={int(p.media_pt)}, and {media} is the "
                         f"one payload type {int(p.media_pt)} stream on this 5-tuple"),
        RTX_SOURCES[2]: (f"payload: its original sequence numbers (RFC 4588 OSN) and RTP timestamps are those of "
                         f"{media}"),
        RTX_SOURCES[3]: (f"wire: its RTP timestamps repeat those of {media}, each packet after the original "
                         "(payload unreadable)"),
        RTX_SOURCES[4]: (f"wire: its RTP timestamps lie in those of {media}, its packets came only after that "
                         f"stream's losses, and its payload type {int(p.rtx_pt)} is {int(p.media_pt)} + 1"),
    }[str(p.source)]


def _padding_only(ok: pd.DataFrame, r, payload) -> str:
    """The evidence that every packet of stream `r` is padding (RFC 3550 §5.1), or "" when one is not."""
    mask = np.ones(len(ok), dtype=bool)
    for k in STREAM_KEYS:
        mask &= (ok[k] == getattr(r, k)).to_numpy()
    rows = ok[mask]
    if not len(rows) or not rows["padding"].to_numpy(dtype=bool).all():
        return ""
    readable = _readable(rows)
    if payload is not None and readable.all():
        heads = read_heads(payload, rows["frame"].to_numpy(), 0)
        if (heads.length != 0).any():  # a payload, or one that could not be read: not only padding
            return ""
        return (f"payload: every packet ({len(rows)}) is padding only (P bit, empty payload): bandwidth probes")
    return (f"wire: every packet ({len(rows)}) has the padding bit set, payload encrypted: padding-only bandwidth "
            "probes, most likely")


def repairs(rtp: pd.DataFrame, pairs: pd.DataFrame, payload=None) -> pd.DataFrame:
    """One row per sequence number missing from a stream when the receiver first skipped it (the numbers of
    `gaps`), and what became of it.  RTX streams named in `pairs` are left out (their holes are lost
    retransmissions).

    Columns (REPAIRS_SCHEMA): the media stream's keys (src, sport, dst, dport, ssrc, pt); seq (extended); t_before,
    t_after (the hole's, from `gaps`); status; rtx_ssrc (the paired RTX stream, from `rtx_pairs`); rtx_frame, rtx_t
    (the first RTX packet carrying this number as its OSN, arriving after the hole opened); rtx_copies (how many RTX
    packets carried it).  status is:

    - "late": the original packet itself arrived later (reordering), no repair needed;
    - "rtx": an RTX packet with this OSN arrived (RFC 4588: the NACK was answered);
    - "missing": the RTX stream is readable and none of its packets carries this number;
    - "unknown": the RTX stream's payloads are SRTP-encrypted and were not decrypted (open the capture with its
      keys: `keylog=`), or `payload` was not given, so the OSNs cannot be read: only the counts (lost vs RTX
      packets) can be compared;
    - "no rtx stream": no RTX stream is paired with this stream in `pairs`.

    `payload` gives a frame's RTP payload (`Capture.rtp_payload`).  Sorted by t_after, then seq.
    """
    g = gaps(rtp)
    g = g[~g["ssrc"].isin(pairs["rtx_ssrc"].tolist())]  # a lost retransmission is not a hole in the media
    if len(g) == 0:
        return _empty(REPAIRS_SCHEMA)
    idx = np.repeat(np.arange(len(g)), g["count"].to_numpy())
    seq = g["first_missing"].to_numpy()[idx] + (np.arange(len(idx)) - np.repeat(np.cumsum(g["count"]) - g["count"],
                                                                                 g["count"]).to_numpy())
    out = g.iloc[idx][list(STREAM_KEY_COLUMNS) + ["t_before", "t_after"]].reset_index(drop=True)
    out["seq"] = seq
    # Late originals: the same extended number received in the same stream after the hole opened.
    o = _Ordered(rtp)
    recv = o.rows.iloc[o.order][STREAM_KEYS].reset_index(drop=True).assign(seq=o.ext_seq())
    recv = recv.drop_duplicates()
    late = out.merge(recv.assign(_late=True), on=STREAM_KEYS + ["seq"], how="left")["_late"].fillna(False)
    late = late.to_numpy(dtype=bool)
    rtx_of = dict(zip(pairs["media_ssrc"].astype(np.int64), pairs["rtx_ssrc"].astype(np.int64)))
    status = np.where(late, "late", "no rtx stream").astype(object)
    rtx_ssrc = pd.array([pd.NA] * len(out), dtype="UInt32")
    rtx_frame = pd.array([pd.NA] * len(out), dtype="Int64")
    rtx_t = np.full(len(out), np.nan)
    copies = np.zeros(len(out), dtype=np.int64)
    for media, rtx in rtx_of.items():  # a loop over RTX streams
        sel = np.flatnonzero(out["ssrc"].to_numpy().astype(np.int64) == media)
        if len(sel) == 0:
            continue
        rtx_ssrc[sel] = rtx
        sub = rtp[(rtp["ssrc"] == rtx) & (rtp["error"].isna() if "error" in rtp.columns else True)]
        todo = sel[~late[sel]]
        if payload is None or len(sub) and not _readable(sub).any():
            status[todo] = "unknown"
            continue
        osn = rtx_osn(sub, payload)
        have = sub.assign(osn=osn).dropna(subset=["osn"])
        h_osn = have["osn"].to_numpy(dtype=np.int64)
        h_t = have["t"].to_numpy(dtype=np.float64)
        h_frame = have["frame"].to_numpy(dtype=np.int64)
        for i in sel.tolist():  # a loop over missing packets of streams with a readable RTX stream
            hit = np.flatnonzero((h_osn == int(out.at[i, "seq"]) % 65536) & (h_t >= out.at[i, "t_before"]))
            copies[i] = len(hit)
            if len(hit):
                rtx_frame[i] = int(h_frame[hit[0]])
                rtx_t[i] = h_t[hit[0]]
            if not late[i]:
                status[i] = "rtx" if len(hit) else "missing"
    out = out.assign(status=pd.Categorical(status, categories=REPAIR_STATUSES), rtx_ssrc=rtx_ssrc,
                     rtx_frame=rtx_frame, rtx_t=rtx_t, rtx_copies=copies)
    out = out.sort_values(["t_after", "seq"], kind="stable").reset_index(drop=True)
    return out.astype({k: v for k, v in REPAIRS_SCHEMA.items() if v != "category"})[list(REPAIRS_SCHEMA)]
