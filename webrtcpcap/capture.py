"""The user's entry point: `webrtcpcap.open(path)` gives a Capture whose tables are computed on first use, and
`webrtcpcap.iter_chunks(path)` gives the same tables chunk by chunk, in bounded memory, for captures of any size.

About 750 lines, most of them the documentation of the tables a Capture serves (one property each, with its
columns); building them lives in tables/ (lazy, payload_source, decrypted, pipeline).
"""

from __future__ import annotations

import builtins
import html
import os
import sys
import warnings
from typing import Iterable, Iterator

import numpy as np
import pandas as pd

from .io import buffer, reader
from .tables import decrypt, parquet, quic_tables, schema as tables
from .net import demux
from .protocols import keys
from .protocols import sdp as _sdp
from .tables import sessions as _sessions
from .tables.dtls_tables import association_identities, dtls_tables
from .io.errors import CaptureWarning
from .tables.feedback_tables import feedback_tables
from .tables.frames import frames as video_frames
from .tables.media_tables import keyframes, rtcp_report_tables, rtp_extensions_table
from .net.payloads import RtpPayloadReader
from .tables import decrypted
from .tables.frame_reads import udp_payloads
from .tables.lazy import Lazy
from .tables.payload_source import PayloadSource
from .tables.pipeline import Carry, Decoded, decode
from .tables.rtx import rtx_osns
from .tables.stun_tables import stun_tables
from .protocols.rtp_extensions import decode_extensions, sdp_extmaps
from .tables.streams import streams
from .tables.summary import format_summary, summarize
from .io.wireshark import dissect_frame
from .tables.writer import write_decrypted


def _progress_bar(total: int, desc: str):
    """A tqdm bar over bytes that appears only after a second, and never when stderr is not a terminal."""
    try:
        from tqdm import tqdm  # deferred: tqdm, for a bar most reads never show (the text bar: no Jupyter widget)
    except ImportError:  # tqdm is a dependency, but a missing progress bar must not stop a read
        return None
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, delay=1.0, leave=False,
                disable=None if sys.stderr.isatty() else True)


def _load_sdps(sdp) -> tuple[list[_sdp.Sdp], list[str]]:
    """`open(..., sdp=)`: None, or one or a list of: an Sdp, SDP text (a str holding a newline or starting with
    "v="), bytes, or a file path.  Returns the parsed SDPs and the texts (for their a=crypto keys)."""
    if sdp is None:
        return [], []
    items = [sdp] if isinstance(sdp, (str, bytes, os.PathLike, _sdp.Sdp)) else list(sdp)
    out, texts = [], []
    for item in items:
        if isinstance(item, (bytes, bytearray)) or isinstance(item, str) and (
                "\n" in item or item.lstrip().startswith("v=")):
            out.append(_sdp.parse(item))
            texts.append(item.decode("utf-8", "replace") if isinstance(item, (bytes, bytearray)) else item)
        elif isinstance(item, _sdp.Sdp):
            out.append(item)
        else:
            with builtins.open(os.fspath(item), "rb") as f:
                raw = f.read()
            out.append(_sdp.parse(raw))
            texts.append(raw.decode("utf-8", "replace"))
    return out, texts


def _load_keylog(keylog):
    """`open(..., keylog=)`: None, a webrtcpcap.protocols.keys.KeyLog, key log text (holding a newline or starting with an
    NSS label: CLIENT_RANDOM, EXPORTER_SECRET, ...), or a file path."""
    if keylog is None:
        return None

    if isinstance(keylog, keys.KeyLog):
        return keylog
    if isinstance(keylog, (bytes, bytearray)):
        return keys.parse_keylog(keylog.decode("utf-8", "replace"))
    if isinstance(keylog, str) and ("\n" in keylog or keylog.lstrip().split(" ", 1)[0] in keys.NSS_LABELS):
        return keys.parse_keylog(keylog)
    return keys.load_keylog(keylog)


def _given_keys(sdes: list, srtp_keys) -> list:
    return decrypt.given_keys(sdes, srtp_keys)


def _sdes_keys(text: str) -> list:
    return keys.sdes_keys(text)


def _rules(webrtc: Iterable = (), not_webrtc: Iterable = ()) -> list[demux.FlowRule]:
    return ([demux.FlowRule.parse(s, True) for s in webrtc] + [demux.FlowRule.parse(s, False) for s in not_webrtc])




def _part(group: str, name: str, doc: str) -> property:
    """A Capture attribute that is one table of a group built together (the report or the feedback tables)."""
    return property(lambda self: self._tables(group)[name], doc=doc)


def _decoded(name: str) -> property:
    """A Capture attribute that is one table of the decode itself (pipeline.Decoded)."""
    return property(lambda self: getattr(self._decode(), name))


class Capture:
    """A capture file and its tables.  Make one with `webrtcpcap.open(path)`.

    Tables (pandas DataFrames, computed together on first use; schemas in `webrtcpcap.tables`):

    - `packets`: one row per frame of the file, in file order.  Columns: frame (1-based, as Wireshark numbers them),
      time (UTC), t (seconds since the first frame), caplen, len, interface (a row of `interfaces`), ip_version,
      dscp and ecn (the IPv4 TOS / IPv6 Traffic Class byte's high 6 and low 2 bits; ecn 0 Not-ECT, 1 ECT(1),
      2 ECT(0), 3 CE; null without an IP header), src, dst, sport, dport, transport (udp/tcp/icmp/icmpv6/other), kind (stun, dtls, rtp, rtcp, turn-channel,
      zrtp, other, tcp, icmp, non-ip, ip-fragment, quic: a non-WebRTC UDP flow with a QUIC client Initial),
      payload_len (transport payload length the headers declare),
      flow (bidirectional flow id: the flows table's `flow`, as a categorical of the ids), evidence (why the
      frame's flow was taken as WebRTC: stun, dtls, rtp, rtcp, forced), error (null, or why the frame could not be
      fully decoded).  interface, ip_version and flow are categoricals of integers: one byte a row, where a
      nullable integer takes up to five.
    - `rtp`: one row per frame of kind rtp, and per RTP packet relayed inside TURN: frame, t, src, dst, sport, dport,
      ssrc, pt, seq, ts, marker, padding, extension, csrc_count, ext_profile, payload_offset (bytes from the start
      of the RTP packet), payload_len (bytes after the header: payload, padding and any SRTP auth tag), dtls_srtp
      (the flow, or for relayed rows the relay on it, carried a DTLS handshake, so payloads are SRTP-encrypted),
      error, relayed, relay, peer (see "Relayed rows" below); opened with keys, also auth_ok and srtp_status
      (see `open`).
    - `rtcp`: one row per RTCP packet inside each compound datagram: frame, t, src, dst, sport, dport, index (0 for
      the first), pt, count (RC/SC for SR, RR, SDES, BYE...), fmt (for feedback, PT 205/206), sender_ssrc,
      length_bytes, offset (in the datagram), padding, dtls_srtp (the flow carried a DTLS handshake: unless the
      compound's lengths chain exactly, only the first header of SRTCP is readable, so only it gets a row), error,
      relayed, relay, peer (RTCP relayed inside TURN gets rows too); opened with keys, also auth_ok and srtp_status.
    - `flows`: one row per bidirectional UDP/TCP flow: flow, transport, a, a_port (sender of the first packet),
      b, b_port, evidence, packets, first_t, last_t.
    - `icmp`: one row per ICMP/ICMPv6 frame: frame, t, src, dst, icmp_type, icmp_code, quoted (the 5-tuple an
      ICMP error quotes, e.g. "udp 10.0.0.1:5000 > 10.0.0.2:6000").
    - `tcp_streams`: one row per direction of a TCP connection that carried data (WebRTC over TCP: ICE-TCP with
      RFC 4571 framing, TURN over TCP; see webrtcpcap.net.tcp): src, sport, dst, dport, framing (rfc4571, turn, or null:
      not framed), segments, bytes (delivered in sequence order), messages (framed out), retransmitted (segments
      with nothing new), first_frame, last_frame, problem (null, or why the stream could not be followed to its
      end: a hole that never filled, a snaplen-cut segment, framing lost, the capture ending inside a message,
      not STUN or ChannelData at its start), problem_frame (where that was found; the last frame when the capture
      ended first).
    - `fragments`: one row per IP fragment: frame, t, src, dst, reassembled_in (the frame whose row holds the
      reassembled datagram: the fragment that completed it, which lists its own number; null if it never
      completed).
    - `stun`: one row per STUN message (RFC 8489; ICE and TURN methods), frames of kind stun: frame, t, src, dst,
      sport, dport, transport, method (binding, allocate, refresh, send, data, create-permission, channel-bind,
      ..., or the number), cls (request/indication/success/error), transaction_id (hex), username, priority,
      use_candidate, ice_role (controlling/controlled, from ICE-CONTROLLING/ICE-CONTROLLED), tie_breaker,
      mapped_address ("ip:port" from XOR-MAPPED-ADDRESS), error_code and error_reason (ERROR-CODE), software,
      fingerprint_ok (null without FINGERPRINT), integrity_ok (MESSAGE-INTEGRITY of Binding messages, checked only
      when `open(..., ice_passwords=)` knows the key: null otherwise), error (null, or why the message did not
      decode; the header columns are still filled when the header is readable), relayed, relay, peer (STUN relayed
      inside TURN, e.g. the ICE checks of a relayed candidate, gets rows too, after its outer message's).
    - `stun_attributes`: one row per attribute of each decoded STUN message, in wire order: frame, t, index,
      type (the code), name (null when unknown), length (of the value, without padding), value (as text:
      "ip:port", numbers in decimal, opaque bytes in hex), relayed (the attribute's message was relayed inside
      TURN).  Computed with `stun` on first use of either.

    - `quic`: one row per QUIC long-header packet of the frames of kind quic, Initials opened without any key (RFC
      9001 §5.2): version, connection ids, packet number, ALPN, server name, TLS version (webrtcpcap.tables.quic_tables);
      `quic_connections` one row per QUIC flow.
    - `streams`: one row per RTP stream (src, sport, dst, dport, ssrc, pt), `webrtcpcap.streams.streams(cap.rtp)`:
      first_t, last_t, packets, bytes, bitrate_kbps, first_seq, last_seq (extended), expected, lost, duplicates,
      reordered, max_gap, clock_rate, clock_rate_source, jitter_ms, max_jitter_ms (RFC 3550 A.8), markers.

    Relayed rows (TURN over UDP, RFC 8656): the datagram inside a ChannelData message (frame kind turn-channel) or
    in the DATA attribute of a Send/Data indication is classified again by its first byte (RFC 7983) and decoded
    like a direct one.  Its row keeps the *outer* datagram's frame, t, src, dst, sport, dport (the capture point's
    5-tuple to the TURN server), and says relayed=True, relay ("channel 0x4000", "send" or "data") and peer
    ("ip:port" of the far peer: from the indication's XOR-PEER-ADDRESS, or from the ChannelBind request that bound
    the channel on the same 5-tuple earlier in the capture; null when not seen).  Direct rows have relayed=False and
    null relay and peer.  `packets` keeps one row per frame, of the outer kind.  The ice analyses leave relayed STUN
    rows out.  Over TCP (ICE-TCP, TURN over TCP) the messages framed out of each reassembled stream get rows like
    datagrams (transport tcp; several per frame when one segment carries several), and TURN ChannelData and
    Send/Data indications among them are unwrapped the same way (see webrtcpcap.net.tcp).  TURN over TLS is not.

    `sdp` is the list of SDPs given to `open(..., sdp=[offer, answer])` (webrtcpcap.sdp.Sdp records; empty when
    none): their clock rates make `streams.clock_rate_source` "given" for the payload types they map, and their
    ICE ufrag/pwd pairs check `stun.integrity_ok` (with `ice_passwords=`, which wins on the same ufrag).

    `problem` says why the file was read only in part (None when it was read to the end); a CaptureWarning is
    issued too.  `interfaces` lists the capture's interfaces.
    """

    def __init__(self, path: str | os.PathLike, *, webrtc: Iterable = (), not_webrtc: Iterable = (),
                 progress: bool | None = None, ice_passwords: dict[str, str] | None = None, sdp=None,
                 keylog=None, srtp_keys=None, turn_passwords: dict[str, str] | None = None,
                 turn_secret: str | bytes | None = None):
        self.path = os.fspath(path)
        self._turn_credentials = (dict(turn_passwords or {}), turn_secret)
        self.sdp, sdp_texts = _load_sdps(sdp)
        self._keylog = _load_keylog(keylog)
        sdes = [k for text in sdp_texts for k in _sdes_keys(text)]
        self._trial_keys = _given_keys(sdes, srtp_keys) if (sdes or srtp_keys) else []  # bad keys fail here, clearly
        self._ice_passwords = {**_sdp.ice_passwords(self.sdp), **dict(ice_passwords or {})}
        self._analysis = None  # the analysis context, made and kept by webrtcpcap.analysis.of (a floor above)
        # What the streams table's roles were found with (rtx_pairs, gaps): the analysis context reads them again.
        self.stream_evidence: dict = {}
        # Frames whose RTP payload an analysis asked for and could not have (payload_or_empty): frame -> why.
        self.unreadable_payloads: dict[int, str] = {}
        # Every table and reader, computed once on first use (the builders are below, in the order of the data).
        self._tables = Lazy({
            "decoded": self._make_decoded,
            "decryption": self._make_decryption,
            "rtp": lambda: decrypted.rtp_with_status(self._decode().rtp, self.decryption),
            "rtcp": lambda: decrypted.decrypted_rtcp(self._decode().rtcp, self._decode().rtcp_datagrams,
                                                     self.decryption),
            "rtcp_payloads": self._make_rtcp_payloads,
            "reports": self._make_reports,
            "feedback": lambda: feedback_tables(*self.rtcp_payloads()[:2], parsed=self._parsed_rtcp("feedback")),
            "rtp_extensions": self._make_rtp_extensions,
            "stun": lambda: stun_tables(self._decode().stun_messages, self._ice_passwords, *self._turn_credentials),
            "dtls": lambda: _dtls_tables(self._decode().dtls_datagrams, self._decode().stun_messages),
            "dtls_decrypted": self._make_dtls_decrypted,
            "quic": self._make_quic,
            "streams": lambda: streams(self.rtp, clock_rates=_sdp.clock_rates(self.sdp) or None,
                                       codecs=_sdp.codecs(self.sdp) or None, sdps=self.sdp or None,
                                       payload=self.payload_or_empty, found=self.stream_evidence),
            "sessions": lambda: _sessions.assign(self.packets, self.flows, self.stun, self.rtp, self.rtcp),
            "frames": self._make_frames,
            "rtp_payload": lambda: self._reader(empty_on_error=False),
            "payload_or_empty": lambda: self._reader(empty_on_error=True),
        })
        self._rules = _rules(webrtc, not_webrtc)
        bar = _progress_bar(os.path.getsize(self.path), os.path.basename(self.path)) if progress is not False else None
        try:
            self._data, self._index, self._state, self._owner = reader.read_all(
                self.path, progress=(lambda pos: bar.update(pos - bar.n)) if bar is not None else None)
        finally:
            if bar is not None:
                bar.close()
        self.problem: str | None = self._state.problem
        if self.problem:
            warnings.warn(CaptureWarning(f"{self.path}: {self.problem}"), stacklevel=3)
        self._payloads = PayloadSource(self._data, self._index, self._state, self._decode, lambda: self.decryption,
                                       lambda: self.fragments)

    def __repr__(self) -> str:
        state = "" if self.problem is None else f", problem={self.problem!r}"
        return f"<webrtcpcap.Capture {self.path!r}: {len(self)} frames{state}>"

    def _repr_html_(self) -> str:
        """A notebook's view of the capture: its file, format and frames, the side files it was opened with, and,
        once decoded, the frames per kind; what to type next.  Nothing is decoded to draw it; every text from the
        file is escaped."""
        rows = [("file", os.path.basename(self.path)), ("format", self.format), ("frames", f"{len(self):,}")]
        if self.problem:
            rows.append(("problem", self.problem))
        sides = [name for name, given in (("SDP", bool(self.sdp)), ("key log", self._keylog is not None)) if given]
        rows.append(("opened with", ", ".join(sides) if sides else "the capture alone (no SDP, no key log)"))
        if self._tables.built("decoded"):
            kinds = self.packets["kind"].astype(str).value_counts()
            rows.append(("frames per kind", ", ".join(f"{k} {n:,}" for k, n in kinds.items() if n)))
        body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>"
                       f"{html.escape(str(v))}</td></tr>" for k, v in rows)
        return (f"<div><b>webrtcpcap.Capture</b><table>{body}</table>"
                "<small>tables: <code>cap.packets</code>, <code>cap.rtp</code>, <code>cap.rtcp</code>, "
                "<code>cap.stun</code>, <code>cap.dtls_records</code>, <code>cap.streams</code>; verdict: "
                "<code>webrtcpcap.health(cap)</code></small></div>")

    def __len__(self) -> int:
        return len(self._index)

    @property
    def format(self) -> str:
        """"pcap" or "pcapng"."""
        return self._state.fmt

    @property
    def interfaces(self) -> pd.DataFrame:
        """One row per capture interface: interface, linktype, snaplen, name."""
        rows = [(i.index, i.linktype, i.snaplen, i.name) for i in self._state.interfaces]
        return pd.DataFrame(rows, columns=["interface", "linktype", "snaplen", "name"]).astype(
            {"interface": "uint16", "linktype": "uint16", "snaplen": "uint32", "name": "string"})

    def _decode(self) -> Decoded:
        return self._tables("decoded")

    def _make_decoded(self) -> Decoded:
        t0 = reader.first_time_ns(self._data, self._index, self._state)  # t counts from the first frame's time
        t0 = 0 if t0 is None else t0  # (no frame has one: every t is NaN anyway)
        return decode(self._data, self._index, self._state, 1, t0, self._rules)  # compacts the index

    packets = _decoded("packets")

    @property
    def rtp(self) -> pd.DataFrame:
        return self._tables("rtp")

    @property
    def rtcp(self) -> pd.DataFrame:
        """The rtcp table; with decryption, the rows of decrypted SRTCP datagrams replaced by the rows of their
        plaintext compounds (webrtcpcap.tables.decrypted.decrypted_rtcp)."""
        return self._tables("rtcp")

    @property
    def decryption(self):
        """What SRTP/SRTCP decryption did (webrtcpcap.tables.decrypt.Decryption; None when no key was given: no `keylog`,
        `srtp_keys` or a=crypto line in the SDPs).  `decryption.summary` has one row per key and direction (key,
        sender, receiver, peer, srtp_packets, srtp_authenticated, srtp_unreadable, srtcp_packets,
        srtcp_authenticated, profile, derivation: DTLS 1.2 PRF or DTLS 1.3 exporter with its label prefix, SDES,
        given); `decryption.problems` says why a DTLS association got no keys.  Key material is never shown."""
        return self._tables("decryption")

    def _make_decryption(self):
        if self._keylog is None and not self._trial_keys:
            return None
        decoded = self._decode()
        associations = association_identities(*self._dtls_tables()) if self._keylog is not None else None
        dtls13 = self.dtls_decrypted if self._keylog is not None else None  # DTLS 1.3: the chosen profile
        dtls, problems = decrypt.dtls_keys(associations, self._keylog, self.dtls_handshakes, dtls13)
        dg = decoded.rtcp_datagrams
        with self._index.expanded(self._data, self._state):  # payloads are read slice by slice
            return decrypt.decrypt(decoded.rtp, self._rtp_packets, dg.keys, dg.payloads, dtls, self._trial_keys,
                                   problems)

    def rtcp_payloads(self) -> tuple[dict, list, np.ndarray]:
        """The capture's RTCP compound datagrams as plaintext: (key columns as pipeline.Datagrams has them,
        payloads, status).  A decrypted SRTCP datagram gives its plaintext (without the SRTCP trailer); plain RTCP
        is given as captured; SRTCP that was not (or could not be) decrypted is left out, as its contents are
        ciphertext.  `status`: per datagram given, "plain" or "decrypted".  A plain compound with a broken packet
        is given whole when another compound of its flow decoded whole: the report tables keep the packets before
        the broken one and `rtcp_datagrams` says why.  On a flow where none did, the bytes after the first header are
        taken for SRTCP ciphertext (keyed by SDES, or by a handshake outside this read) and left out."""
        return self._tables("rtcp_payloads")

    def _make_rtcp_payloads(self) -> tuple[dict, list, np.ndarray]:
        parsed: list = []  # each compound parsed once, for the report and feedback tables too
        out = decrypted.rtcp_plaintexts(self._decode().rtcp_datagrams, self.decryption, parsed)
        self._rtcp_parsed, self._rtcp_parsed_for = parsed, {"reports", "feedback"}
        return out

    def _parsed_rtcp(self, table: str) -> list | None:
        """The parsed compounds of rtcp_payloads for one of the two tables that read them; dropped once both have
        (they are kept, so it is never asked again)."""
        self.rtcp_payloads()
        parsed, waiting = getattr(self, "_rtcp_parsed", None), getattr(self, "_rtcp_parsed_for", set())
        waiting.discard(table)
        if not waiting:
            self._rtcp_parsed = None
        return parsed

    def _make_reports(self) -> dict:
        keys, payloads, _ = self.rtcp_payloads()
        streams = self.streams
        rates = {int(s): int(r) for s, r in zip(streams["ssrc"], streams["clock_rate"]) if not pd.isna(r)}
        return rtcp_report_tables(keys, payloads, clock_rates=rates, parsed=self._parsed_rtcp("reports"))

    rtcp_datagrams = _part("reports", "rtcp_datagrams", doc=(
        """One row per plaintext or decrypted RTCP compound datagram (webrtcpcap.tables.media_tables.rtcp_report_tables):
        `packets` (how many of its packets decoded) and `error` (why the next one did not; null when all did), so a
        compound with a broken packet is seen here while its packets before that one are in the other tables."""))

    rtcp_sender_reports = _part("reports", "rtcp_sender_reports", doc=(
        """One row per RTCP SR of the plaintext or decrypted compounds (webrtcpcap.tables.media_tables.rtcp_report_tables)."""))

    rtcp_report_blocks = _part("reports", "rtcp_report_blocks", doc=(
        """One row per report block of an SR or RR, jitter_ms from the streams' clock rates
        (webrtcpcap.tables.media_tables.rtcp_report_tables)."""))

    rtcp_sdes = _part("reports", "rtcp_sdes", doc=(
        """One row per RTCP SDES item (cname, ...)."""))

    rtcp_bye = _part("reports", "rtcp_bye", doc=(
        """One row per SSRC an RTCP BYE names."""))

    rtcp_feedback = _part("reports", "rtcp_feedback", doc=(
        """One row per RTPFB/PSFB feedback packet (NACK, PLI, FIR, REMB, transport-cc...), FCI kept raw."""))

    rtcp_other = _part("reports", "rtcp_other", doc=(
        """One row per APP, XR block or other RTCP packet, kept raw."""))

    nacks = _part("feedback", "nacks", doc=(
        """One row per NACKed sequence number (RFC 4585 generic NACK, PID/BLP expanded) of the plaintext or
        decrypted RTCP (webrtcpcap.tables.feedback_tables, FEEDBACK_SCHEMAS)."""))

    keyframe_requests = _part("feedback", "keyframe_requests", doc=(
        """One row per PLI and per FIR entry (RFC 4585, RFC 5104)."""))

    remb = _part("feedback", "remb", doc=(
        """One row per REMB (receiver estimated maximum bitrate); the SSRCs each lists are in `remb_ssrcs`."""))

    remb_ssrcs = _part("feedback", "remb_ssrcs", doc=(
        """One row per SSRC a REMB lists: the key columns, index, sender_ssrc, position (in the REMB's list), ssrc,
        bitrate_bps (the REMB's estimate, which applies to them together)."""))

    twcc = _part("feedback", "twcc", doc=(
        """One row per packet a transport-cc feedback reports: transport-wide seq, received, receive delta/time."""))

    tmmbr = _part("feedback", "tmmbr", doc=(
        """One row per TMMBR/TMMBN entry (RFC 5104): the key columns, index, kind (tmmbr/tmmbn), sender_ssrc,
        media_ssrc, entry, ssrc, bitrate_bps, exponent, mantissa, overhead."""))

    ccfb = _part("feedback", "ccfb", doc=(
        """One row per packet an RFC 8888 congestion control feedback (RTPFB FMT 11) reports: SSRC, seq, received,
        ECN, arrival time offset (webrtcpcap.tables.feedback_tables)."""))

    feedback_errors = _part("feedback", "feedback_errors", doc=(
        """One row per feedback packet whose FCI did not decode, with the reason."""))

    def keyframes(self, codecs: dict[int, str] | None = None) -> pd.DataFrame:
        """Which RTP packets start a keyframe (webrtcpcap.tables.media_tables.keyframes: VP8, VP9, H.264, H.265, AV1), from
        plaintext payloads (a plain capture or dump, or SRTP opened with its keys).  `codecs` ({pt: codec name})
        defaults to the video payload types of the SDPs."""

        if codecs is None:
            codecs = {pt: name for pt, (kind, name) in _sdp.codecs(self.sdp).items() if kind == "video"}
        return keyframes(self.rtp, self.rtp_payload, codecs)  # the reader's bulk path: heads of every payload

    @property
    def rtp_extensions(self) -> pd.DataFrame:
        """One row per RTP header extension element (webrtcpcap.tables.media_tables.rtp_extensions_table; RFC 8285), named
        from the SDPs' a=extmap when given.  Read on first use: the packets with the X bit are read again."""
        return self._tables("rtp_extensions")

    def _make_rtp_extensions(self) -> pd.DataFrame:
        if True:
            rtp = self._decode().rtp
            rows = np.flatnonzero(rtp["extension"].to_numpy() & rtp["error"].isna().to_numpy())
            packets = self._rtp_packets(rows)
            have = np.array([p is not None for p in packets], dtype=bool)
            rows = rows[have]
            datas = [p for p in packets if p is not None]
            cap = np.array([len(p) for p in datas], dtype=np.int64)
            off = buffer.EXTRA + np.concatenate([[0], np.cumsum(cap)[:-1]]).astype(np.int64)
            src = buffer.ByteSource(np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.int64),
                                    np.frombuffer(b"".join(datas), dtype=np.uint8))
            extmaps = sdp_extmaps(self.sdp)
            decoded = decode_extensions(src, off, cap, cap, text_ids=extmaps.text_ids())
            keys = {k: rtp[k].iloc[rows].to_numpy() if rtp[k].dtype != "category" else rtp[k].iloc[rows].array
                    for k in ("frame", "t", "src", "dst", "sport", "dport")}
            return rtp_extensions_table(keys, rtp["ssrc"].to_numpy()[rows], rtp["seq"].to_numpy()[rows], decoded,
                                        extmaps if self.sdp else None)

    flows = _decoded("flows")
    icmp = _decoded("icmp")
    tcp_streams = _decoded("tcp_streams")
    fragments = _decoded("fragments")
    @property
    def streams(self) -> pd.DataFrame:
        """One row per RTP stream: `webrtcpcap.streams.streams(self.rtp)` (columns in webrtcpcap.streams.STREAMS_SCHEMA)."""
        return self._tables("streams")  # computed once: it walks every RTP row

    @property
    def frames(self) -> pd.DataFrame:
        """One row per video frame of the video media streams (`streams` rows of kind "video", role "media"):
        `webrtcpcap.tables.frames.frames` (columns in FRAMES_SCHEMA), with keyframe verdicts where the payloads are
        readable (`keyframes()`) and RTX repairs placed in their frames (`repaired`) where the RTX payloads are (plain
        RTP, or SRTP with its keys: the OSN is encrypted). Computed once."""
        return self._tables("frames")

    def _make_frames(self) -> pd.DataFrame:
        s = self.streams
        video = s.loc[(s["kind"] == "video") & (s["role"] == "media"), "ssrc"].tolist()
        rtx = s[(s["role"] == "rtx") & s["role_of"].isin(video)]
        # a frame whose originals were all lost but came back on RTX is a frame the receiver got: with readable
        # payloads (plain RTP, or SRTP with its keys) the OSNs place each retransmission in its frame
        pairs = pd.DataFrame({"rtx_ssrc": rtx["ssrc"].to_numpy(), "media_ssrc": rtx["role_of"].to_numpy()})
        osns = rtx_osns(self.rtp, pairs, self.rtp_payload) if len(pairs) else None
        return video_frames(self.rtp, ssrcs=video, keyframes=self.keyframes(), rtx=osns)

    @property
    def sessions(self) -> pd.DataFrame:
        """One row per call (ICE session, with its restarts, or media flows tied by SSRC):
        `webrtcpcap.tables.sessions.assign` (columns in webrtcpcap.tables.sessions.SESSIONS_SCHEMA).  `session_flows` gives each
        flow's call, `ice_generations` each ICE ufrag pair's; `session(n)` is call n read like a Capture, and
        `label_sessions(table)` adds a `session` column to any table of this capture."""
        return self._session_tables()[0]

    @property
    def session_flows(self) -> pd.DataFrame:
        """One row per flow: flow, session, generation (webrtcpcap.tables.sessions.FLOW_SESSIONS_SCHEMA)."""
        return self._session_tables()[1]

    @property
    def ice_generations(self) -> pd.DataFrame:
        """One row per ICE session (ufrag pair) of each call (webrtcpcap.tables.sessions.GENERATIONS_SCHEMA)."""
        return self._session_tables()[2]

    def session(self, n: int):
        """Call `n` (a `session` of `sessions`) as a webrtcpcap.tables.sessions.SessionView: the same tables, its rows only."""
        return _sessions.SessionView(self, n, self.session_flows)

    def label_sessions(self, table: pd.DataFrame) -> pd.DataFrame:
        """`table` (rtp, rtcp, stun, streams, associations...) with a `session` column: webrtcpcap.tables.sessions.label."""
        return _sessions.label(table, self.packets, self.session_flows, self.flows, self.ice_generations)

    def _session_tables(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        return self._tables("sessions")

    @property
    def stun(self) -> pd.DataFrame:
        return self._stun_tables()[0]

    @property
    def stun_attributes(self) -> pd.DataFrame:
        return self._stun_tables()[1]

    def _stun_tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        return self._tables("stun")

    @property
    def dtls_records(self) -> pd.DataFrame:
        """One row per DTLS record: webrtcpcap.tables.dtls_tables.dtls_tables (columns in DTLS_RECORDS_SCHEMA)."""
        return self._dtls_tables()[0]

    @property
    def dtls_handshakes(self) -> pd.DataFrame:
        """One row per DTLS handshake fragment: webrtcpcap.tables.dtls_tables.dtls_tables (DTLS_HANDSHAKES_SCHEMA)."""
        return self._dtls_tables()[1]

    @property
    def dtls_decrypted(self) -> pd.DataFrame:
        """The DTLS 1.3 ciphertext records opened with the key log's TLS 1.3 secrets (handshake messages after the
        ServerHello, ACKs, alerts, application data): webrtcpcap.tables.decrypt.dtls13_records (DTLS_DECRYPTED_SCHEMA).
        Empty without a key log holding TLS 1.3 secrets.  Key material is never shown."""
        return self._tables("dtls_decrypted")

    def _make_dtls_decrypted(self) -> pd.DataFrame:
        if self._keylog is None or not self._keylog.tls13_client_randoms():  # nothing to open them with
            return tables.empty_table(decrypt.DTLS_DECRYPTED_SCHEMA)
        dg = self._decode().dtls_datagrams
        return decrypt.dtls13_records(dg.keys, dg.payloads, association_identities(*self._dtls_tables()), self._keylog)

    def _dtls_tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        return self._tables("dtls")

    @property
    def quic(self) -> pd.DataFrame:
        """One row per QUIC long-header packet of the frames of kind quic, Initials opened with the keys their
        connection id gives (RFC 9001 §5.2: no key log needed): webrtcpcap.tables.quic_tables.quic_table (columns in
        QUIC_SCHEMA: version, connection ids, ALPN, server name, TLS version...).  `quic_connections` has one row per
        QUIC flow."""
        return self._tables("quic")

    def _make_quic(self) -> pd.DataFrame:
        p = self.packets
        rows = p[(p["kind"] == "quic") & (p["transport"] == "udp")]
        rows = rows[rows.groupby("flow", observed=True).cumcount().to_numpy() < quic_tables.MAX_DATAGRAMS_PER_FLOW]
        payloads = udp_payloads(self._data, self._index, self._state, rows["frame"].to_numpy(),
                                np.zeros(len(rows), dtype=bool), self._payloads.completing_fragments()) \
            if len(rows) else []
        return quic_tables.quic_table(rows, payloads)

    @property
    def quic_connections(self) -> pd.DataFrame:
        """One row per QUIC flow: webrtcpcap.tables.quic_tables.quic_connections(self.quic) (QUIC_CONNECTIONS_SCHEMA)."""
        return quic_tables.quic_connections(self.quic)

    def frame_bytes(self, frame: int) -> bytes:
        """The captured bytes of one frame (1-based number), for per-message decoders and teaching."""
        if not 1 <= frame <= len(self._index):
            raise IndexError(f"frame {frame} is not in this capture (1..{len(self._index)})")
        batch = reader.make_batch(self._data, self._index, frame - 1, frame, self._state, frame)
        return batch.source.bytes_at(int(batch.offset[0]), int(batch.caplen[0]))

    @property
    def rtp_payload(self) -> RtpPayloadReader:
        """The RTP payload of a frame: `cap.rtp_payload(frame)` (1-based number) gives the bytes after the RTP header
        (CSRCs and extension included in the header), without RTP padding (RFC 3550 §5.1: the last byte counts the
        padding).  b"" for a padding-only packet.  SRTP is decrypted when the capture was opened with its keys (the
        row's auth_ok is True); otherwise the payload is still encrypted (and ends with the auth tag; its padding is
        inside the ciphertext, so nothing is taken off).  ValueError when the frame is not a complete RTP packet on
        UDP (a datagram reassembled from IP fragments, relayed by TURN or framed out of TCP is one), or its SRTP did
        not authenticate; DecodeError (a ValueError) when the padding count of plaintext RTP is 0 or longer than the
        payload (RFC 3550 §5.1, §A.1).

        Many at once: `cap.rtp_payload.heads(frames, width)` gives the first `width` bytes of every payload as one
        2-D array (webrtcpcap.net.payloads.PayloadHeads), `cap.rtp_payload.payloads(frames)` the whole payloads; the
        analyses that read payloads (media_tables.keyframes, streams.rtx_osn, nack) use these."""
        return self._tables("rtp_payload")

    @property
    def payload_or_empty(self) -> RtpPayloadReader:
        """`rtp_payload` for analyses, which must not stop at one bad packet: b"" (read as "no payload": no RTX
        OSN, no keyframe) where rtp_payload raises ValueError (a snaplen-cut or garbage packet, SRTP that did not
        authenticate), and the frame and why are kept in `unreadable_payloads` (counted, never silently dropped).
        What health and report pass to streams.rtx_pairs, nack and codecs; `heads` and `payloads` as rtp_payload's."""
        return self._tables("payload_or_empty")

    def _reader(self, empty_on_error: bool) -> RtpPayloadReader:
        return self._payloads.reader(empty_on_error, self.unreadable_payloads)

    def _payload_one(self, frame: int) -> bytes:
        """rtp_payload of one frame, decoded again on its own (webrtcpcap.tables.payload_source)."""
        return self._payloads.payload_one(frame)

    def _rtp_packets(self, rows: np.ndarray) -> list:
        """The packets of rows of the rtp table as captured (webrtcpcap.tables.payload_source)."""
        return self._payloads.rtp_packets(rows)

    def write_decrypted(self, path: str | os.PathLike) -> dict:
        """Write the capture with every authenticated SRTP/SRTCP packet replaced by its plaintext (lengths and
        checksums fixed), for Wireshark: webrtcpcap.tables.writer.write_decrypted (its docstring says what is rewritten
        and what is left as it was).  Open it with DTLS disabled (`tshark --disable-protocol dtls`), or Wireshark
        still takes the media for SRTP.  Returns a summary dict."""

        return write_decrypted(self, path)

    def to_parquet(self, path: str | os.PathLike) -> dict[str, int]:
        """Write every table into the Parquet dataset folder `path` (webrtcpcap.tables.parquet: DIR/<table>/
        capture=<id>/part-0.parquet, and DIR/captures.parquet, sessions.parquet, streams.parquet), with the schema
        version in each file's metadata; open it with `webrtcpcap.dataset(path)`, pandas or DuckDB.  Several captures
        may be written into one folder.  Returns {table: rows}."""
        return parquet.write_tables(self, path)

    def dissect(self, frame: int, timeout: float = 60.0):
        """Wireshark's full dissection of one frame, as a pyshark Packet (needs tshark).

        tshark is told to decode the frame's UDP ports as RTP/RTCP when our demultiplexer found RTP or RTCP there,
        so Wireshark shows the same layers we do on any port.  Works inside Jupyter (see webrtcpcap.io.wireshark).
        """

        row = self.packets.iloc[frame - 1] if 1 <= frame <= len(self._index) else None
        if row is None:
            raise IndexError(f"frame {frame} is not in this capture (1..{len(self._index)})")
        return dissect_frame(self.path, frame, decode_as=_decode_as_hint(row), timeout=timeout)

    def summary(self) -> str:
        """The text `webrtcpcap summary` prints: frames per kind, the RTP streams, WebRTC-over-TCP streams whose
        framing stopped, and frames with decoding problems."""

        return format_summary(self.path, summarize([(self.packets, self.rtp, self.tcp_streams, self.quic_connections)]),
                              self.problem)


def _dtls_tables(datagrams, stun_messages=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    if stun_messages is None or not len(stun_messages):  # SPED: DTLS embedded in STUN (dtls_tables)
        return dtls_tables(datagrams.keys, datagrams.payloads)
    return dtls_tables(datagrams.keys, datagrams.payloads, stun_messages.keys, stun_messages.payloads)


def _decode_as_hint(row) -> dict[str, str]:
    if row["kind"] in ("rtp", "rtcp") and not pd.isna(row["dport"]):
        return {f"udp.port=={int(row['dport'])}": str(row["kind"])}
    return {}


def open(path: str | os.PathLike, *, webrtc: Iterable = (), not_webrtc: Iterable = (),
         progress: bool | None = None,
         ice_passwords: dict[str, str] | None = None, sdp=None, keylog=None, srtp_keys=None,
         turn_passwords: dict[str, str] | None = None, turn_secret: str | bytes | None = None) -> Capture:  # noqa: A001 - mirrors the built-in on purpose
    """Open a pcap or pcapng capture (plain or gzip-compressed; detected from its first bytes).

    `webrtc` / `not_webrtc` force flows to be taken as WebRTC or not, whatever the evidence: each item is a port
    (5004), "address:port" or (address, port), matched against either end of a flow.  `progress`: None shows a
    progress bar on terminals when a read takes over a second; False never.  `ice_passwords` ({ice-ufrag:
    ice-pwd}, e.g. from both SDPs) lets `stun.integrity_ok` be checked for ICE Binding messages;
    `turn_passwords` ({username: password}, TURN long-term credentials) and `turn_secret` (a TURN REST API shared
    secret, as coturn's static-auth-secret) let it be checked for TURN messages.  `sdp`: the
    session's SDP offer and answer (file paths, SDP text or webrtcpcap.sdp.Sdp records; one or a list), kept as
    `cap.sdp`: they give `streams` its clock rates and `stun` the ICE passwords, and their a=crypto lines SDES
    keys.  A bad SDP raises DecodeError.

    SRTP/SRTCP decryption (see Capture.decryption): `keylog` is an NSS key log (file path, text or
    webrtcpcap.protocols.keys.KeyLog) whose CLIENT_RANDOM lines give each DTLS-SRTP association its keys (RFC 5764
    exporter); `srtp_keys` gives master keys directly: {ssrc or "any": key||salt as base64 or hex} (profile
    AES_CM_128_HMAC_SHA1_80) or a list of webrtcpcap.protocols.keys.MasterKey.  With keys (also an SDP with a=crypto lines),
    `rtp` and `rtcp` gain the columns auth_ok (boolean: the tag verified; null where no key was tried) and
    srtp_status (category: ok, auth_failed, duplicate, late, ...; tables.DECRYPTED_RTP_SCHEMA), `rtcp` lists every
    sub-packet of decrypted SRTCP, and `rtp_payload` gives plaintext.

    Raises CaptureError when the file is not a capture; warns (CaptureWarning) and keeps every complete frame when
    it is cut short or corrupt part-way.  See Capture for the tables.
    """
    return Capture(path, webrtc=webrtc, not_webrtc=not_webrtc, progress=progress, ice_passwords=ice_passwords,
                   sdp=sdp, keylog=keylog, srtp_keys=srtp_keys, turn_passwords=turn_passwords, turn_secret=turn_secret)


CHUNK_TABLES = ("packets", "rtp", "rtcp", "flows", "icmp", "fragments", "tcp_streams", "stun", "stun_attributes")


class NotAsked(AttributeError):
    """A table of a chunk that iter_chunks was not asked to build (its `tables=`)."""


class Chunk:
    """The tables of one chunk of a capture, as `iter_chunks` yields them (same columns as Capture's tables); only
    those iter_chunks was asked for (`tables=`): the others raise NotAsked (an AttributeError)."""

    def __init__(self, decoded: Decoded, first_frame: int, asked: tuple[str, ...] = CHUNK_TABLES):
        self.first_frame = first_frame
        self._n = len(decoded.packets)
        self.asked = tuple(asked)
        stun_messages = decoded.stun_messages
        self._tables = Lazy({
            "packets": lambda: decoded.packets, "rtp": lambda: decoded.rtp, "rtcp": lambda: decoded.rtcp,
            "flows": lambda: decoded.flows, "icmp": lambda: decoded.icmp, "fragments": lambda: decoded.fragments,
            "tcp_streams": lambda: decoded.tcp_streams,  # every TCP direction up to this chunk's end
            "stun": lambda: stun_tables(stun_messages),  # both stun tables, on first use of either
        })
        for name in ("packets", "rtp", "rtcp", "flows", "icmp", "fragments", "tcp_streams"):
            if name in self.asked:
                self._tables(name)  # built by the decode already: kept here, the Decoded may go

    def _get(self, name: str, built: str | None = None):
        if name not in self.asked:
            raise NotAsked(f"this chunk has no {name} table: iter_chunks was not asked for it (tables=...)")
        return self._tables(built or name)

    packets = property(lambda self: self._get("packets"))
    rtp = property(lambda self: self._get("rtp"))
    rtcp = property(lambda self: self._get("rtcp"))
    flows = property(lambda self: self._get("flows"))
    icmp = property(lambda self: self._get("icmp"))
    fragments = property(lambda self: self._get("fragments"))
    tcp_streams = property(lambda self: self._get("tcp_streams"))
    stun = property(lambda self: self._get("stun")[0])
    stun_attributes = property(lambda self: self._get("stun_attributes", "stun")[1])

    def __repr__(self) -> str:
        return f"<webrtcpcap.Chunk frames {self.first_frame}..{self.first_frame + self._n - 1}>"


def iter_chunks(path: str | os.PathLike, packets: int = 250_000, *, webrtc: Iterable = (),
                not_webrtc: Iterable = (), progress: bool | None = None,
                tables: Iterable[str] | None = None) -> Iterator[Chunk]:
    """The capture's tables `packets` frames at a time, reading the file in bounded memory.

    Frame numbers and `t` count from the start of the file.  A flow found to be WebRTC in one chunk stays WebRTC in
    later chunks; packets of a flow that come before its first evidence, in an earlier chunk, stay "other".
    Flow ids are per chunk.  A chunk's `tcp_streams` covers the capture up to that chunk's end (the last chunk's
    is the whole capture's).  A chunk holds at most `packets` frames, and fewer where a 32 MiB block of the file
    ends.  Warns (CaptureWarning) at the end if the file was cut short or corrupt.

    `tables` names the tables each chunk needs (of CHUNK_TABLES; default all): the others are not built (every
    frame is still decoded and demultiplexed, so verdicts and flows carried into later chunks are the same), and
    asking a chunk for one raises NotAsked.  `packets` is always built.
    """
    path = os.fspath(path)
    asked = CHUNK_TABLES if tables is None else ("packets",) + tuple(dict.fromkeys(tables))
    unknown = [t for t in asked if t not in CHUNK_TABLES]
    if unknown:
        raise ValueError(f"iter_chunks: no table named {unknown[0]!r} (tables are {', '.join(CHUNK_TABLES)})")
    built = tuple({"stun_attributes": "stun"}.get(t, t) for t in asked)
    rules = _rules(webrtc, not_webrtc)
    bar = _progress_bar(os.path.getsize(path), os.path.basename(path)) if progress is not False else None
    carry = Carry()
    t0 = None
    state = None
    done = 0

    def advance(consumed: int) -> None:
        nonlocal done
        if bar is not None:
            bar.update(max(consumed - done, 0))
            done = max(done, consumed)

    try:
        batches = reader.iter_batches(path, packets, progress=advance)
        batch = next(batches, None)
        while batch is not None:
            data, index, state, first_frame = batch
            # The next batch is walked first (its records only; the walk may append interfaces to `state`, which
            # leaves this batch's interface ids as they were), so that the last chunk is decoded as the end of the
            # capture: fragments still unfinished there are incomplete and TCP streams cut inside a message are
            # named; in any other chunk they may go on.
            batch = next(batches, None)
            if t0 is None:  # the first frame with a time; until then, every frame's t is NaN whatever t0 is
                t0 = reader.first_time_ns(data, index, state)
            decoded = decode(data, index, state, first_frame, t0 or 0, rules, carry, final=batch is None,
                             build=built)
            del data, index
            yield Chunk(decoded, first_frame, asked)
    finally:
        if bar is not None:
            bar.close()
    if state is not None and state.problem:
        warnings.warn(CaptureWarning(f"{path}: {state.problem}"), stacklevel=2)
