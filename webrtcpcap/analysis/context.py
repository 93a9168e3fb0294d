"""One analysis context per capture, and per call: every analysis of the package (ICE, TURN, DTLS, streams, RTX,
NACK, PLI, RTT, RTCP reports) computed once, lazily, from a Capture's tables, and shared by health, report,
expect, compare and notebooks.

    a = webrtcpcap.analysis.of(cap)          # made once per capture, kept on it
    a.candidate_pairs, a.dtls_associations, a.streams, a.gaps, a.nack_outcomes
    for call in a.calls:                     # one context per call of cap.sessions
        call.session, call.streams, call.ice_summary
    a.call(2).dtls_associations

Strategy: the context over the whole capture computes each analysis once over the whole capture and labels its
rows with their call (`session`, Int64, webrtcpcap.tables.sessions.label); a call's context takes those rows and keeps its
own, so a stream, an association or a NACK is analysed the same whether its call is alone in the file or not.  Only
ICE and TURN, whose timings run across a session's checks and allocations, are computed again on the call's own
rows (webrtcpcap.tables.sessions.SessionView), so that one call's checks never time another's.  Each property is computed
on first use and kept; nothing here formats or judges (health does).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from ..tables import decrypt, media_tables, schema as tables
from . import handshake, ice, nack, pli, rtt
from ..protocols import sdp as _sdp
from ..tables import streams as _streams
from ..net.layers import endpoint as _endpoint
from ..tables.sessions import SessionView
from .flow_ends import FlowEnds

# A call's number in every per-call table: null where a row belongs to no call.
SESSION_COLUMN = "session"


@dataclass(frozen=True)
class Leg:
    """One leg of the media: the unordered pair of endpoints (ip, port) a media stream runs between.  A capture on
    a TURN server or an SFU holds the same SSRC on several legs, each with its own losses, NACKs and
    retransmissions: the recovery analyses are made leg by leg, never merged by SSRC.

    - `ends`: ((ip, port), (ip, port)), sorted; `name`: "ip:port ↔ ip:port"; `session`: its call (None: no call).
    - `rtp`: the RTP rows on the leg (either way); `streams`: its rows of the streams table; `rtx_pairs`: the pairs
      whose RTX stream is on the leg; `nacks`, `keyframe_requests`: feedback rows on the leg.
    - `outcomes`: nack.nack_outcomes over the leg; `summary`: nack.nack_summary over the leg (one row per media
      SSRC)."""

    ends: tuple
    name: str
    session: int | None
    rtp: pd.DataFrame
    streams: pd.DataFrame
    rtx_pairs: pd.DataFrame
    nacks: pd.DataFrame
    keyframe_requests: pd.DataFrame | None
    outcomes: pd.DataFrame
    summary: pd.DataFrame


def on_leg(df: pd.DataFrame, ends, flow_ends: FlowEnds | None = None) -> np.ndarray:
    """Rows of a table with src, sport, dst, dport that travel between the two `ends` ((ip, port), (ip, port)),
    either way.  `flow_ends`: FlowEnds(df) when already made (a table split by several legs is coded once)."""
    if not len(df):
        return np.zeros(0, dtype=bool)
    (ip1, p1), (ip2, p2) = ends
    flow_ends = FlowEnds(df) if flow_ends is None else flow_ends
    return flow_ends.either_way(_endpoint(str(ip1), int(p1)), _endpoint(str(ip2), int(p2)))


def legs_of(streams_df: pd.DataFrame) -> list[tuple]:
    """The legs of the streams: each unordered pair of endpoints (ip, port) a stream runs between, in order of first
    appearance."""
    legs: dict = {}
    for r in streams_df.itertuples(index=False):
        a, b = (str(r.src), int(r.sport)), (str(r.dst), int(r.dport))
        legs.setdefault(tuple(sorted((a, b))), None)
    return list(legs)


def is_media(st: pd.DataFrame) -> pd.Series:
    """The streams that carry media (streams.stream_roles): retransmissions, FEC and padding probes are judged as
    such, never as media (their timestamps and timing are another stream's)."""
    role = st["role"].astype(str) if "role" in st.columns else pd.Series("media", index=st.index)
    return (role == "media") & ~st["kind"].astype(str).isin(["rtx", "fec"])


def media_streams(st: pd.DataFrame) -> pd.DataFrame:
    """The audio and video media streams of a streams table (what loss, recovery and RTCP are judged on)."""
    return st[st["kind"].isin(["audio", "video"]) & is_media(st)] if len(st) else st


class Analysis:
    """The analyses of one capture (`session` None) or of one of its calls (`session` n, from `cap.sessions`).

    Tables (pandas DataFrames, computed on first use; per-call tables end with a `session` column, Int64, the call
    the row belongs to, null when none):
    - `ice_transactions`: ice.transactions (TRANSACTIONS_SCHEMA) + session.
    - `ice_checks`: the connectivity checks, relayed ones included (ice's check table: ufrags, transport, client,
      server, first_t, first_frame, response_cls, response_frame, error_code...).
    - `candidate_pairs`: ice.candidate_pairs with relayed checks and media (CANDIDATE_PAIRS_SCHEMA) + session.
    - `ice_summary`: ice.summary as one row (a Series, SUMMARY_SCHEMA's fields).
    - `turn_allocations`: ice.turn_allocations (TURN_ALLOCATIONS_SCHEMA; REST expiry judged against the capture's
      start) + session.
    - `dtls_opened`: decrypt.dtls13_associations of the DTLS 1.3 records the key log opened (None without them).
    - `dtls_associations`: handshake.associations with the RTP, SDPs, STUN and `dtls_opened` (the keyed view) +
      session; `dtls_flights`: handshake.flights (association ids as in dtls_associations) + session.
    - `streams`: the capture's streams table (STREAMS_SCHEMA, with roles) + session; `media`: its audio/video media
      streams.
    - `rtx_pairs`: streams.rtx_pairs with payload and timestamp evidence (the pairs behind the streams' roles) +
      session (its RTX stream's call).
    - `gaps`: streams.gaps (GAPS_SCHEMA) + session.
    - `packet_view`: streams.packet_view with the SDPs' clock rates (PACKET_VIEW_SCHEMA).
    - `receiver_view`: streams.receiver_view of `media` (RECEIVER_VIEW_SCHEMA; index: `media`'s).
    - `nacks`, `keyframe_requests`: the capture's feedback tables (one row per NACKed number, per PLI/FIR).
    - `legs`: one `Leg` per leg of the media streams, with its NACK outcomes and summary; `nack_outcomes`
      (NACK_OUTCOMES_SCHEMA + session) and `nack_summary` (NACK_SUMMARY_SCHEMA + session) are theirs, concatenated.
    - `round_trip_times`: rtt.round_trip_times from the SRs and report blocks.
    - `video_codecs`: {pt: codec} of the SDPs' video payload types, else guessed from the payloads
      (pli.guess_video_codecs); `codecs_guessed` says which.
    Values: `rtcp_readable` ((compounds readable as plaintext, compounds in the capture)), `connected` (a pair was
    selected), `media_seen`, `candidate_types` ({"ip:port": host/srflx/relay...} from the SDPs and allocations).

    Calls: `calls` (one context per row of cap.sessions), `call(n)`, `several_calls` (the capture holds more than
    one), `outside` (a context over the rows that belong to no call; None when there is none).

    `memo(key, fn)` keeps a consumer's result (health keeps its Health per Thresholds there), so that the report,
    expect and a notebook asking again get the same object.
    """

    def __init__(self, cap, *, session: int | None = None, whole: Analysis | None = None, outside: bool = False):
        self.capture = cap if whole is None else whole.capture  # the whole Capture
        self.whole = whole  # None for the whole capture's context
        self.session = session
        self.is_outside = outside
        if whole is None:
            self.cap = cap
        elif outside:
            self.cap = SessionView(self.capture, 0, _no_call_flows(self.capture.session_flows))
        else:
            self.cap = self.capture.session(int(session))
        self.name = os.path.basename(self.capture.path)
        self._memo: dict = {}

    def __repr__(self) -> str:
        what = "outside any call" if self.is_outside else ("whole capture" if self.whole is None
                                                          else f"call {self.session}")
        return f"<webrtcpcap.Analysis {self.name!r}: {what}>"

    def memo(self, key, fn):
        """`fn()` computed once per key and kept on this context."""
        if key not in self._memo:
            self._memo[key] = fn()
        return self._memo[key]

    # -- rows of this call --------------------------------------------------------------------------------------

    def _mine(self, table: pd.DataFrame) -> pd.DataFrame:
        """A table labelled with `session` by the whole capture's context, narrowed to this call's rows."""
        if self.whole is None:
            return table
        s = table[SESSION_COLUMN]
        keep = s.isna() if self.is_outside else (s == self.session).fillna(False)
        return table[keep.to_numpy(dtype=bool)]

    def _label(self, table: pd.DataFrame) -> pd.DataFrame:
        """`table` with the session column (the whole capture's labels)."""
        c = self.capture
        return c.label_sessions(table) if hasattr(c, "label_sessions") else table.assign(
            **{SESSION_COLUMN: pd.array([pd.NA] * len(table), dtype="Int64")})

    def _this_call(self, table: pd.DataFrame) -> pd.DataFrame:
        """A table computed on this call's rows alone, with the session column set to the call."""
        if self.whole is None:
            return self._label(table)
        value = pd.NA if self.is_outside else self.session
        return table.assign(**{SESSION_COLUMN: pd.array([value] * len(table), dtype="Int64")})

    # -- calls --------------------------------------------------------------------------------------------------

    @cached_property
    def sessions(self) -> pd.DataFrame:
        """The capture's calls (webrtcpcap.tables.sessions.SESSIONS_SCHEMA); this call's row only in a call's context."""
        s = getattr(self.capture, "sessions", None)
        if s is None:
            return pd.DataFrame()
        return s if self.whole is None else s[s["session"] == (self.session or -1)]

    @cached_property
    def calls(self) -> list[Analysis]:
        """One context per call (cap.sessions), in order; [] when the capture has no call (or in a call's context)."""
        if self.whole is not None or not len(self.sessions):
            return []
        return [Analysis(self.capture, session=int(n), whole=self) for n in self.sessions["session"]]

    def call(self, n: int) -> Analysis:
        """The context of call `n` (a `session` of cap.sessions)."""
        for c in self.calls:
            if c.session == int(n):
                return c
        raise KeyError(f"no call {n} in this capture ({len(self.calls)} calls)")

    @property
    def several_calls(self) -> bool:
        return len(self.calls) > 1

    @cached_property
    def outside(self) -> Analysis | None:
        """A context over the streams and DTLS associations that belong to no call (None when there are none)."""
        if self.whole is not None or not self.calls:
            return None
        if self.streams[SESSION_COLUMN].isna().any() or self.dtls_associations[SESSION_COLUMN].isna().any():
            return Analysis(self.capture, whole=self, outside=True)
        return None

    # -- ICE and TURN: computed on the call's own rows ----------------------------------------------------------

    @property
    def _only_call(self) -> bool:
        """This is the capture's one call: every STUN, RTP and RTCP row is its own (a flow that carries any is in a
        call), so the whole capture's ICE and TURN analyses are its own too."""
        return self.whole is not None and not self.is_outside and len(self.whole.calls) == 1

    @cached_property
    def relayed_media(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        return (self.cap.rtp, self.cap.rtcp)

    @cached_property
    def _transactions(self) -> pd.DataFrame:
        """ice.transactions of this call's STUN rows, unlabelled: what the ICE checks and TURN allocations read."""
        if self._only_call:
            return self.whole._transactions
        return ice.transactions(self.cap.stun)

    @cached_property
    def ice_transactions(self) -> pd.DataFrame:
        if self._only_call:
            return self.whole.ice_transactions
        return self._this_call(self._transactions)

    @cached_property
    def _relayed_addresses(self) -> dict[tuple, str]:
        """(transport, client, server) -> relayed address of each successful TURN allocation (ice's relayed checks)."""
        c = self.cap
        return ice._relayed_addresses(c.stun, c.stun_attributes, self._allocations)

    @cached_property
    def ice_checks(self) -> pd.DataFrame:
        if self._only_call:
            return self.whole.ice_checks
        return ice._ice_checks(self.cap.stun, self.cap.stun_attributes, True, tx=self._transactions,
                               relayed_addresses=self._relayed_addresses)

    @cached_property
    def _pairs(self) -> pd.DataFrame:
        if self._only_call:
            return self.whole._pairs
        c = self.cap
        return ice.candidate_pairs(c.stun, c.packets, c.stun_attributes, relayed_media=self.relayed_media,
                                   checks=self.ice_checks, relayed_addresses=self._relayed_addresses)

    @cached_property
    def candidate_pairs(self) -> pd.DataFrame:
        if self.whole is None:
            return self._label(self._pairs)
        return self._this_call(self._pairs)

    @cached_property
    def ice_summary(self) -> pd.Series:
        if self._only_call:
            return self.whole.ice_summary
        c = self.cap
        return ice.summary(c.stun, c.packets, c.stun_attributes, relayed_media=self.relayed_media,
                           pairs=self._pairs, checks=self.ice_checks).iloc[0]

    @cached_property
    def _allocations(self) -> pd.DataFrame:
        """ice.turn_allocations of this call's STUN rows, unlabelled."""
        if self._only_call:
            return self.whole._allocations
        c = self.cap
        whole = self.capture.packets
        start = whole["time"].iloc[0] if len(whole) else None  # REST expiry: against the capture's own start
        return ice.turn_allocations(c.stun, c.stun_attributes, start=start, tx=self._transactions)

    @cached_property
    def turn_allocations(self) -> pd.DataFrame:
        if self._only_call:
            return self.whole.turn_allocations
        return self._this_call(self._allocations)

    @property
    def connected(self) -> bool:
        p = self.candidate_pairs
        return bool(p["selected"].any()) if len(p) else False

    @cached_property
    def media_seen(self) -> bool:
        k = self.cap.packets["kind"]
        return bool(k.isin(["rtp", "rtcp", "dtls", "turn-channel"]).any())

    @cached_property
    def candidate_types(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for s in self.capture.sdp:
            for m in s.media:
                for cand in m.candidates:
                    out.setdefault(_endpoint(cand.address, cand.port), cand.type)
        for a in self.turn_allocations["relayed_address"].dropna():
            out.setdefault(str(a), "relay")
        return out

    # -- DTLS ---------------------------------------------------------------------------------------------------

    @cached_property
    def dtls_opened(self) -> pd.DataFrame | None:
        if self.whole is not None:
            return self.whole.dtls_opened
        opened = getattr(self.capture, "dtls_decrypted", None)
        if opened is None or not len(opened):
            return None
        return decrypt.dtls13_associations(opened)

    @cached_property
    def dtls_associations(self) -> pd.DataFrame:
        if self.whole is not None:
            return self._mine(self.whole.dtls_associations)
        c = self.capture
        return self._label(handshake.associations(c.dtls_records, c.dtls_handshakes, c.rtp, c.sdp or None,
                                                  stun=c.stun, decrypted=self.dtls_opened))

    @cached_property
    def dtls_flights(self) -> pd.DataFrame:
        if self.whole is not None:
            fl = self.whole.dtls_flights
            return fl[fl["association"].isin(self.dtls_associations["association"]).to_numpy(bool)]
        c = self.capture
        fl = handshake.flights(c.dtls_records, c.dtls_handshakes)
        of = dict(zip(self.dtls_associations["association"], self.dtls_associations[SESSION_COLUMN]))
        return fl.assign(**{SESSION_COLUMN: pd.array([of.get(a, pd.NA) for a in fl["association"]],
                                                     dtype="Int64")})

    # -- streams ------------------------------------------------------------------------------------------------

    @property
    def payload(self):
        """The payload reader for analyses: Capture.payload_or_empty (a malformed packet is skipped and counted)."""
        return getattr(self.capture, "payload_or_empty", self.capture.rtp_payload)

    @cached_property
    def streams(self) -> pd.DataFrame:
        if self.whole is not None:
            return self._mine(self.whole.streams)
        return self._label(self.capture.streams)

    @property
    def media(self) -> pd.DataFrame:
        return media_streams(self.streams)

    @cached_property
    def rtx_pairs(self) -> pd.DataFrame:
        if self.whole is not None:
            pairs = self.whole.rtx_pairs
            return pairs[pairs["rtx_ssrc"].astype(np.int64).isin(self.streams["ssrc"].astype(np.int64))]
        c = self.capture
        st = c.streams  # its roles were found with these very pairs: read them again, not recomputed
        pairs = getattr(c, "stream_evidence", {}).get("rtx_pairs")
        if pairs is None:
            holes = self.gaps.drop(columns=SESSION_COLUMN)
            pairs = _streams.rtx_pairs(st, c.sdp, c.rtp, self.payload, timestamps=True, holes=holes)
        st = self.streams  # a pair's call: its RTX stream's
        of = dict(zip(st["ssrc"].astype(np.int64), st[SESSION_COLUMN]))
        return pairs.assign(**{SESSION_COLUMN: pd.array([of.get(int(x), pd.NA) for x in pairs["rtx_ssrc"]],
                                                        dtype="Int64")})

    @cached_property
    def rtx_of(self) -> dict[int, int]:
        """{media SSRC: its RTX SSRC}, from `rtx_pairs`."""
        p = self.rtx_pairs
        return {int(m): int(x) for m, x in zip(p["media_ssrc"], p["rtx_ssrc"])}

    def streams_until(self, t: float) -> pd.DataFrame:
        """The streams table of the RTP rows up to capture time `t` (s; rounded to the millisecond), with the
        clock rates the whole streams table was given (an endpoint's stats snapshot is compared with it)."""
        key = round(float(t), 3)

        def build():
            rtp = self.capture.rtp
            rates = {int(r.pt): int(r.clock_rate) for r in self.capture.streams.itertuples()
                     if not pd.isna(r.clock_rate) and r.clock_rate_source == "given"}
            return _streams.streams(rtp[rtp["t"] <= t], rates)
        return (self.whole or self).memo(("streams_until", key), build)

    @cached_property
    def gaps(self) -> pd.DataFrame:
        if self.whole is not None:
            return self._mine(self.whole.gaps)
        _ = self.capture.streams  # the streams table's roles read the gaps: kept there
        holes = getattr(self.capture, "stream_evidence", {}).get("gaps")
        return self._label(_streams.gaps(self.capture.rtp) if holes is None else holes)

    @cached_property
    def clock_rates(self) -> dict[int, int]:
        return _sdp.clock_rates(self.capture.sdp) if self.capture.sdp else {}

    @cached_property
    def packet_view(self) -> pd.DataFrame:
        if self.whole is not None:
            pv = self.whole.packet_view
            return pv[_streams.in_streams(pv, self.streams)]
        return _streams.packet_view(self.capture.rtp, clock_rates=self.clock_rates or None)

    @cached_property
    def receiver_view(self) -> pd.DataFrame:
        if self.whole is not None:
            rv = self.whole.receiver_view
            return rv.loc[rv.index.intersection(self.media.index)]
        c = self.capture
        return _streams.receiver_view(self.media, c.rtp, c.rtcp_report_blocks)

    @cached_property
    def sdp_video_codecs(self) -> dict[int, str]:
        """{pt: codec} of the SDPs' video payload types ({} without SDP)."""
        return {pt: c for pt, (k, c) in _sdp.codecs(self.capture.sdp).items() if k == "video"} \
            if self.capture.sdp else {}

    @cached_property
    def video_codecs(self) -> dict[int, str]:
        """{pt: codec}: the SDPs' video payload types, else guessed from the payloads (pli.guess_video_codecs)."""
        if self.whole is not None:
            return self.whole.video_codecs
        return self.sdp_video_codecs or pli.guess_video_codecs(self.capture.rtp, self.streams, self.payload)

    @property
    def codecs_guessed(self) -> bool:
        """The video codecs were read from the payloads (no SDP names them)."""
        return bool(self.video_codecs) and not self.sdp_video_codecs

    @cached_property
    def stream_rows(self) -> dict[tuple, np.ndarray]:
        """Stream key (src, sport, dst, dport, ssrc) -> positions of its valid rows in the capture's `rtp`, in file
        order (the whole capture's, in a call's context too)."""
        if self.whole is not None:
            return self.whole.stream_rows
        rtp = self.capture.rtp
        ok = rtp[rtp["error"].isna()] if "error" in rtp.columns else rtp
        out = {}
        if not len(ok):
            return out
        for key, idx in ok.groupby(_streams.STREAM_KEYS, observed=True, sort=False).indices.items():
            out[tuple(str(k) if i in (0, 2) else int(k) for i, k in enumerate(key))] = ok.index.to_numpy()[idx]
        return out

    # -- RTCP and feedback --------------------------------------------------------------------------------------

    @cached_property
    def rtcp_readable(self) -> tuple[int, int]:
        """(compound datagrams readable as plaintext, compound datagrams), in this call."""
        if self.whole is not None:
            keys, _, _ = self.capture.rtcp_payloads()
            frames = np.asarray(keys["frame"]).astype(np.int64)
            readable = int(np.isin(frames, self.cap.packets["frame"].to_numpy()).sum())
            rtcp = self.cap.rtcp
            return readable, int(rtcp["frame"].nunique()) if len(rtcp) else 0
        keys, payloads, _ = self.capture.rtcp_payloads()
        total = self.capture.rtcp.drop_duplicates("frame") if len(self.capture.rtcp) else self.capture.rtcp
        return len(payloads), len(total)

    def _frames_of_call(self, table: pd.DataFrame) -> pd.DataFrame:
        """The rows of a capture table (with `frame`) whose frame is in this call."""
        if self.whole is None:
            return table
        return table[np.isin(table["frame"].to_numpy(), self.cap.packets["frame"].to_numpy())]

    @cached_property
    def nacks(self) -> pd.DataFrame:
        """The capture's NACKed sequence numbers (cap.nacks), this call's."""
        return self._frames_of_call(self.capture.nacks)

    @cached_property
    def keyframe_requests(self) -> pd.DataFrame:
        """The capture's PLI and FIR entries (cap.keyframe_requests), this call's."""
        return self._frames_of_call(self.capture.keyframe_requests)

    @cached_property
    def round_trip_times(self) -> pd.DataFrame:
        if self.whole is not None:
            return self.whole.round_trip_times
        return rtt.round_trip_times(self.capture.rtcp_sender_reports, self.capture.rtcp_report_blocks)

    @cached_property
    def legs(self) -> list[Leg]:
        """One Leg per leg of the media streams, with its NACK outcomes and summary (empty when no RTCP opened)."""
        if self.whole is not None:
            return [g for g in self.whole.legs if (g.session is None if self.is_outside else g.session == self.session)]
        c = self.capture
        media = self.media
        if not len(media):
            return []
        st, all_pairs = self.streams, self.rtx_pairs
        nacks, kfr = c.nacks, c.keyframe_requests
        out = []
        # Each table's ends coded once, for every leg
        coded = {name: FlowEnds(t) for name, t in (("rtp", c.rtp), ("streams", st), ("nacks", nacks),
                                                   ("gaps", self.gaps)) if len(t)}
        if kfr is not None and len(kfr):
            coded["kfr"] = FlowEnds(kfr)
        for ends in legs_of(media):
            rtp = c.rtp[on_leg(c.rtp, ends, coded.get("rtp"))]
            st_leg = st[on_leg(st, ends, coded.get("streams"))]
            pairs = all_pairs[all_pairs["rtx_ssrc"].astype(np.int64).isin(st_leg["ssrc"].astype(np.int64))]
            n = nacks[on_leg(nacks, ends, coded.get("nacks"))]
            k = kfr[on_leg(kfr, ends, coded.get("kfr"))] if kfr is not None and len(kfr) else kfr
            outcomes = nack.nack_outcomes(n, rtp, pairs, self.payload, keyframe_requests=k)
            gaps = self.gaps[on_leg(self.gaps, ends, coded.get("gaps"))].drop(columns=SESSION_COLUMN)
            summary = nack.nack_summary(outcomes, gaps, st_leg.drop(columns=SESSION_COLUMN), pairs)
            s = st_leg[SESSION_COLUMN]
            session = None if not len(s) or pd.isna(s.iloc[0]) else int(s.iloc[0])
            name = f"{_endpoint(*ends[0])} ↔ {_endpoint(*ends[1])}"
            out.append(Leg(ends, name, session, rtp, st_leg, pairs, n, k, outcomes, summary))
        return out

    def keyframe_delays(self, horizon_s: float = 5.0) -> pd.DataFrame:
        """PLI/FIR -> the keyframe that answered it, for each media stream with keyframe requests, leg by leg:
        pli.keyframe_delays (the one answer, also the notebooks') over the frame-start packets (the stream's first
        packet, or one after a packet with M set) within `horizon_s` after each request, read through
        media_tables.keyframes with `video_codecs` (else the stream's own codec); where a request stays unanswered, read on
        to the end of the stream.  Columns: pli.KEYFRAME_DELAYS_SCHEMA, then keyframes_told (bool: False when no
        keyframe could be told in the stream, its payload unreadable or no detector for its codec: its rows then
        say nothing of answers), leg (Leg.name), session."""
        if self.whole is not None:
            return self._mine(self.whole.keyframe_delays(horizon_s))
        return self.memo(("keyframe_delays", float(horizon_s)), lambda: self._keyframe_delays(float(horizon_s)))

    def _keyframe_delays(self, horizon: float) -> pd.DataFrame:
        payload, names = self.payload, self.video_codecs
        parts = []
        for leg in self.legs:
            kfr = leg.keyframe_requests
            if kfr is None or not len(kfr):
                continue
            media = media_streams(leg.streams)
            by_ssrc = {int(r["ssrc"]): r for _, r in media.iterrows()}
            rtp = leg.rtp
            valid = rtp[rtp["error"].isna()] if "error" in rtp.columns else rtp
            for ssrc, reqs in kfr.groupby(kfr["media_ssrc"].astype(np.int64), sort=True):
                r = by_ssrc.get(int(ssrc))
                if r is None:
                    continue
                codec_names = names or ({int(r["pt"]): str(r["codec"])} if not pd.isna(r["codec"]) else {})
                rows = valid[valid["ssrc"].to_numpy() == ssrc]
                # Frame starts only (a keyframe starts there), and only near a request (a payload read costs).
                marker = rows["marker"].to_numpy(dtype=bool)
                starts = rows[np.r_[True, marker[:-1]]] if len(rows) else rows
                st_t = starts["t"].to_numpy(dtype=np.float64)
                near = np.zeros(len(starts), dtype=bool)
                for t in reqs["t"].to_numpy(dtype=np.float64):
                    near |= (st_t > t - pli.KEYFRAME_IN_FLIGHT_S) & (st_t <= t + horizon)
                kf = media_tables.keyframes(starts[near], payload, codec_names) if codec_names else None
                told = kf is not None and bool(kf["keyframe"].notna().any())
                if not told:
                    kf = pd.DataFrame({"frame": pd.Series([], dtype="uint32"), "t": pd.Series([], dtype="float64"),
                                       "ssrc": pd.Series([], dtype="uint32"),
                                       "keyframe": pd.Series([], dtype="boolean")})
                d = pli.keyframe_delays(reqs, kf)
                if told and not d["answered"].all():  # read on past the windows: the answer of the whole stream
                    late = st_t > float(d.loc[~d["answered"], "first_request_t"].min()) - pli.KEYFRAME_IN_FLIGHT_S
                    more = media_tables.keyframes(starts[late & ~near], payload, codec_names)
                    if len(more):
                        kf = pd.concat([kf, more]).sort_values("t", kind="stable")
                        d = pli.keyframe_delays(reqs, kf)
                parts.append(d.assign(keyframes_told=told, leg=leg.name,
                                      **{SESSION_COLUMN: pd.array([leg.session] * len(d), dtype="Int64")}))
        if not parts:
            return tables.empty_table(pli.KEYFRAME_DELAYS_SCHEMA).assign(
                keyframes_told=pd.Series([], dtype=bool), leg=pd.Series([], dtype=object),
                **{SESSION_COLUMN: pd.array([], dtype="Int64")})
        return pd.concat(parts, ignore_index=True)

    def _legs_table(self, name: str, schema: dict[str, str]) -> pd.DataFrame:
        parts = [getattr(g, name).assign(**{SESSION_COLUMN: pd.array([g.session] * len(getattr(g, name)),
                                                                         dtype="Int64")}) for g in self.legs]
        if not parts:
            return tables.empty_table(schema).assign(**{SESSION_COLUMN: pd.array([], dtype="Int64")})
        return pd.concat(parts, ignore_index=True)

    @cached_property
    def nack_outcomes(self) -> pd.DataFrame:
        """NACK outcomes of every leg (nack.NACK_OUTCOMES_SCHEMA) + session."""
        return self._legs_table("outcomes", nack.NACK_OUTCOMES_SCHEMA)

    @cached_property
    def nack_summary(self) -> pd.DataFrame:
        """NACK summary rows of every leg (nack.NACK_SUMMARY_SCHEMA) + session."""
        return self._legs_table("summary", nack.NACK_SUMMARY_SCHEMA)


def _no_call_flows(flow_sessions: pd.DataFrame) -> pd.DataFrame:
    """flow_sessions with the flows of no call numbered 0 (the SessionView of what lies outside every call)."""
    s = flow_sessions["session"].fillna(0)
    return flow_sessions.assign(session=s.astype("Int64"))


def of(cap) -> Analysis:
    """The analysis context of a capture, made on first use and kept on the Capture (its `_analysis` slot: the
    capture, a floor below, never imports this module), so that every consumer of the same capture shares it; a new
    one for any other object with a Capture's tables."""
    a = getattr(cap, "_analysis", None)
    if isinstance(a, Analysis):
        return a
    a = Analysis(cap)
    if hasattr(cap, "_analysis"):
        cap._analysis = a
    return a


__all__ = ["Analysis", "Leg", "of", "on_leg", "legs_of", "is_media", "media_streams", "SESSION_COLUMN"]
