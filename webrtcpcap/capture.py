"""The user's entry point: `webrtcpcap.open(path)` gives a Capture whose tables are computed on first use, and
`webrtcpcap.iter_chunks(path)` gives the same tables chunk by chunk, in bounded memory, for captures of any size.
"""

from __future__ import annotations

import builtins
import dataclasses
import os
import sys
import warnings
from typing import Iterable, Iterator

import numpy as np
import pandas as pd

from .io import buffer, reader
from .tables import decrypt, parquet, quic_tables, schema as tables
from .net import demux, layers as net
from .protocols import keys, srtp
from .protocols import rtcp as _rtcp
from .protocols import rtp as _rtp
from .protocols import sdp as _sdp
from .tables import sessions as _sessions
from .tables.dtls_tables import association_identities, dtls_tables
from .io.errors import CaptureWarning, DecodeError
from .tables.feedback_tables import feedback_tables
from .tables.media_tables import keyframes, rtcp_report_tables, rtp_extensions_table
from .net.payloads import Packets, RtpPayloadReader
from .tables.pipeline import Carry, Decoded, decode, rtcp_rows, stun_tables, udp_payloads, udp_spans
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


PAYLOAD_BLOCK = 8192  # rtp rows whose payload places are found together (_direct_spans)
PAYLOAD_BLOCKS_KEPT = 8  # blocks kept: 16 bytes a row, 1 MiB in all


class Capture:
    """A capture file and its tables.  Make one with `webrtcpcap.open(path)`.

    Tables (pandas DataFrames, computed together on first use; schemas in `webrtcpcap.tables`):

    - `packets`: one row per frame of the file, in file order.  Columns: frame (1-based, as Wireshark numbers them),
      time (UTC), t (seconds since the first frame), caplen, len, interface (a row of `interfaces`), ip_version,
      src, dst, sport, dport, transport (udp/tcp/icmp/icmpv6/other), kind (stun, dtls, rtp, rtcp, turn-channel,
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
        self._decryption = None
        self._plain_cache: dict = {}  # (key label, ssrc) -> {rtp row: plaintext}, see _plaintext
        self._fragments_of: dict | None = None  # completing frame -> its other fragments, for _rtp_packets
        self._rtcp_plain = None
        self._report_tables: dict | None = None
        self._feedback_tables: dict | None = None
        self._rtp_extensions: pd.DataFrame | None = None
        self._rtp: pd.DataFrame | None = None
        self._rtcp: pd.DataFrame | None = None
        self._ice_passwords = {**_sdp.ice_passwords(self.sdp), **dict(ice_passwords or {})}
        self._stun: tuple[pd.DataFrame, pd.DataFrame] | None = None
        self._dtls: tuple[pd.DataFrame, pd.DataFrame] | None = None
        self._dtls_decrypted: pd.DataFrame | None = None
        self._quic: pd.DataFrame | None = None
        self._streams: pd.DataFrame | None = None
        self._analysis = None  # the analysis context, made and kept by webrtcpcap.analysis.of (a floor above)
        # Frames whose RTP payload an analysis asked for and could not have (payload_or_empty): frame -> why.
        self.unreadable_payloads: dict[int, str] = {}
        self._payload_reader: RtpPayloadReader | None = None
        self._payload_or_empty: RtpPayloadReader | None = None
        self._span_blocks: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # see _direct_spans
        self._payload_row_facts: tuple | None = None  # see _payload_rows
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
        self._decoded: Decoded | None = None

    def __repr__(self) -> str:
        state = "" if self.problem is None else f", problem={self.problem!r}"
        return f"<webrtcpcap.Capture {self.path!r}: {len(self)} frames{state}>"

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
        if self._decoded is None:
            t0 = reader.first_time_ns(self._data, self._index, self._state)  # t counts from the first frame's time
            t0 = 0 if t0 is None else t0  # (no frame has one: every t is NaN anyway)
            self._decoded = decode(self._data, self._index, self._state, 1, t0, self._rules)  # compacts the index
        return self._decoded

    @property
    def packets(self) -> pd.DataFrame:
        return self._decode().packets

    @property
    def rtp(self) -> pd.DataFrame:
        if self._rtp is None:
            rtp = self._decode().rtp
            d = self.decryption
            if d is not None:
                # New columns on the decoded table itself: the other columns are not copied.
                rtp["auth_ok"], rtp["srtp_status"] = _srtp_columns(d.rtp_status)
            self._rtp = rtp
        return self._rtp

    @property
    def rtcp(self) -> pd.DataFrame:
        if self._rtcp is None:
            self._rtcp = self._decrypted_rtcp()
        return self._rtcp

    @property
    def decryption(self):
        """What SRTP/SRTCP decryption did (webrtcpcap.tables.decrypt.Decryption; None when no key was given: no `keylog`,
        `srtp_keys` or a=crypto line in the SDPs).  `decryption.summary` has one row per key and direction (key,
        sender, receiver, peer, srtp_packets, srtp_authenticated, srtp_unreadable, srtcp_packets,
        srtcp_authenticated, profile, derivation: DTLS 1.2 PRF or DTLS 1.3 exporter with its label prefix, SDES,
        given); `decryption.problems` says why a DTLS association got no keys.  Key material is never shown."""
        if self._decryption is None and (self._keylog is not None or self._trial_keys):
            decoded = self._decode()
            associations = association_identities(*self._dtls_tables()) if self._keylog is not None else None
            decrypted = self.dtls_decrypted if self._keylog is not None else None  # DTLS 1.3: the chosen profile
            dtls, problems = decrypt.dtls_keys(associations, self._keylog, self.dtls_handshakes, decrypted)
            trial = self._trial_keys
            dg = decoded.rtcp_datagrams
            with self._index.expanded(self._data, self._state):  # payloads are read slice by slice
                self._decryption = decrypt.decrypt(decoded.rtp, self._rtp_packets, dg.keys, dg.payloads, dtls, trial,
                                                   problems)
        return self._decryption

    def rtcp_payloads(self) -> tuple[dict, list, np.ndarray]:
        """The capture's RTCP compound datagrams as plaintext: (key columns as pipeline.Datagrams has them,
        payloads, status).  A decrypted SRTCP datagram gives its plaintext (without the SRTCP trailer); plain RTCP
        is given as captured; SRTCP that was not (or could not be) decrypted is left out, as its contents are
        ciphertext.  `status`: per datagram given, "plain" or "decrypted".  A plain compound with a broken packet
        is given whole when another compound of its flow decoded whole: the report tables keep the packets before
        the broken one and `rtcp_datagrams` says why.  On a flow where none did, the bytes after the first header are
        taken for SRTCP ciphertext (keyed by SDES, or by a handshake outside this read) and left out."""

        if self._rtcp_plain is None:
            dg = self._decode().rtcp_datagrams
            d = self.decryption
            srtcp = np.asarray(dg.keys.get("srtcp", np.zeros(len(dg), bool)), dtype=bool)
            ends = zip(np.asarray(dg.keys["src"]).tolist(), np.asarray(dg.keys["sport"]).tolist(),
                       np.asarray(dg.keys["dst"]).tolist(), np.asarray(dg.keys["dport"]).tolist())
            flows = [tuple(sorted(((a, p), (b, q)))) for a, p, b, q in ends]
            whole: dict[int, bool] = {}
            plain_flows = set()
            for i, p in enumerate(dg.payloads):
                if srtcp[i] or (d is not None and d.rtcp_status[i] != _NOT_TRIED):
                    continue
                try:
                    _rtcp.parse_compound(p)
                except DecodeError:
                    whole[i] = False
                    continue
                whole[i] = True
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
            idx = np.asarray(rows, dtype=np.int64)
            keys = tables.take_columns(dg.keys, idx)
            self._rtcp_plain = (keys, payloads, np.asarray(status, dtype=object))
        return self._rtcp_plain

    def _reports(self) -> dict:
        if self._report_tables is None:
            keys, payloads, _ = self.rtcp_payloads()
            streams = self.streams
            rates = {int(s): int(r) for s, r in zip(streams["ssrc"], streams["clock_rate"]) if not pd.isna(r)}
            self._report_tables = rtcp_report_tables(keys, payloads, clock_rates=rates)
        return self._report_tables

    @property
    def rtcp_datagrams(self) -> pd.DataFrame:
        """One row per plaintext or decrypted RTCP compound datagram (webrtcpcap.tables.media_tables.rtcp_report_tables):
        `packets` (how many of its packets decoded) and `error` (why the next one did not; null when all did), so a
        compound with a broken packet is seen here while its packets before that one are in the other tables."""
        return self._reports()["rtcp_datagrams"]

    @property
    def rtcp_sender_reports(self) -> pd.DataFrame:
        """One row per RTCP SR of the plaintext or decrypted compounds (webrtcpcap.tables.media_tables.rtcp_report_tables)."""
        return self._reports()["rtcp_sender_reports"]

    @property
    def rtcp_report_blocks(self) -> pd.DataFrame:
        """One row per report block of an SR or RR, jitter_ms from the streams' clock rates
        (webrtcpcap.tables.media_tables.rtcp_report_tables)."""
        return self._reports()["rtcp_report_blocks"]

    @property
    def rtcp_sdes(self) -> pd.DataFrame:
        """One row per RTCP SDES item (cname, ...)."""
        return self._reports()["rtcp_sdes"]

    @property
    def rtcp_bye(self) -> pd.DataFrame:
        """One row per SSRC an RTCP BYE names."""
        return self._reports()["rtcp_bye"]

    @property
    def rtcp_feedback(self) -> pd.DataFrame:
        """One row per RTPFB/PSFB feedback packet (NACK, PLI, FIR, REMB, transport-cc...), FCI kept raw."""
        return self._reports()["rtcp_feedback"]

    @property
    def rtcp_other(self) -> pd.DataFrame:
        """One row per APP, XR block or other RTCP packet, kept raw."""
        return self._reports()["rtcp_other"]

    def _feedback(self) -> dict:
        if self._feedback_tables is None:
            keys, payloads, _ = self.rtcp_payloads()
            self._feedback_tables = feedback_tables(keys, payloads)
        return self._feedback_tables

    @property
    def nacks(self) -> pd.DataFrame:
        """One row per NACKed sequence number (RFC 4585 generic NACK, PID/BLP expanded) of the plaintext or
        decrypted RTCP (webrtcpcap.tables.feedback_tables, FEEDBACK_SCHEMAS)."""
        return self._feedback()["nacks"]

    @property
    def keyframe_requests(self) -> pd.DataFrame:
        """One row per PLI and per FIR entry (RFC 4585, RFC 5104)."""
        return self._feedback()["keyframe_requests"]

    @property
    def remb(self) -> pd.DataFrame:
        """One row per REMB (receiver estimated maximum bitrate); the SSRCs each lists are in `remb_ssrcs`."""
        return self._feedback()["remb"]

    @property
    def remb_ssrcs(self) -> pd.DataFrame:
        """One row per SSRC a REMB lists: the key columns, index, sender_ssrc, position (in the REMB's list), ssrc,
        bitrate_bps (the REMB's estimate, which applies to them together)."""
        return self._feedback()["remb_ssrcs"]

    @property
    def twcc(self) -> pd.DataFrame:
        """One row per packet a transport-cc feedback reports: transport-wide seq, received, receive delta/time."""
        return self._feedback()["twcc"]

    @property
    def tmmbr(self) -> pd.DataFrame:
        """One row per TMMBR/TMMBN entry (RFC 5104): the key columns, index, kind (tmmbr/tmmbn), sender_ssrc,
        media_ssrc, entry, ssrc, bitrate_bps, exponent, mantissa, overhead."""
        return self._feedback()["tmmbr"]

    @property
    def feedback_errors(self) -> pd.DataFrame:
        """One row per feedback packet whose FCI did not decode, with the reason."""
        return self._feedback()["feedback_errors"]

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
        if self._rtp_extensions is None:
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
            self._rtp_extensions = rtp_extensions_table(keys, rtp["ssrc"].to_numpy()[rows], rtp["seq"].to_numpy()[rows],
                                                        decoded, extmaps if self.sdp else None)
        return self._rtp_extensions

    def _decrypted_rtcp(self) -> pd.DataFrame:
        """cap.rtcp: the rows of decrypted SRTCP datagrams replaced by the rows of their plaintext compounds; SRTCP
        that did not authenticate keeps its readable first header, with auth_ok False."""
        rtcp = self._decode().rtcp
        d = self.decryption
        if d is None:
            return rtcp
        if not (d.rtcp_status != _NOT_TRIED).any():
            rtcp["auth_ok"], rtcp["srtp_status"] = _srtp_columns(np.full(len(rtcp), _NOT_TRIED, np.uint8))
            return rtcp
        dg = self._decode().rtcp_datagrams
        # The datagram of each row: the k-th datagram of a frame owns the rows from its frame's k-th index-0 row on.
        dg_frames = np.asarray(dg.keys["frame"]).astype(np.int64)
        dg_ordinal = pd.Series(dg_frames).groupby(dg_frames).cumcount().to_numpy()
        where = {key: i for i, key in enumerate(zip(dg_frames.tolist(), dg_ordinal.tolist()))}
        ordinal = (rtcp["index"] == 0).groupby(rtcp["frame"]).cumsum().to_numpy() - 1
        pos = np.array([where.get(key, -1) for key in zip(rtcp["frame"].astype(np.int64).tolist(), ordinal.tolist())],
                       dtype=np.int64)
        status = np.where(pos >= 0, d.rtcp_status[np.maximum(pos, 0)], _NOT_TRIED).astype(np.uint8)
        replaced = np.array([p >= 0 and d.rtcp_plaintext[p] is not None for p in pos.tolist()], dtype=bool)
        old = rtcp[~replaced].copy()
        old["auth_ok"], old["srtp_status"] = _srtp_columns(status[~replaced])
        plain = np.array([i for i, p in enumerate(d.rtcp_plaintext) if p is not None], dtype=np.int64)
        sub_keys = tables.take_columns(dg.keys, plain)
        new, of_row = rtcp_rows(sub_keys, [d.rtcp_plaintext[i] for i in plain.tolist()])
        new["auth_ok"], new["srtp_status"] = _srtp_columns(d.rtcp_status[plain[of_row]])
        merged = _concat_tables([old, new], tables.DECRYPTED_RTCP_SCHEMA)
        order = np.lexsort((merged["index"].to_numpy(), np.concatenate([pos[~replaced], plain[of_row]])))
        return merged.iloc[order].reset_index(drop=True)

    @property
    def flows(self) -> pd.DataFrame:
        return self._decode().flows

    @property
    def icmp(self) -> pd.DataFrame:
        return self._decode().icmp

    @property
    def tcp_streams(self) -> pd.DataFrame:
        return self._decode().tcp_streams

    @property
    def fragments(self) -> pd.DataFrame:
        return self._decode().fragments

    @property
    def streams(self) -> pd.DataFrame:
        """One row per RTP stream: `webrtcpcap.streams.streams(self.rtp)` (columns in webrtcpcap.streams.STREAMS_SCHEMA)."""
        if self._streams is None:  # computed once: it walks every RTP row
            self._streams = streams(self.rtp, clock_rates=_sdp.clock_rates(self.sdp) or None,
                                    codecs=_sdp.codecs(self.sdp) or None, sdps=self.sdp or None,
                                    payload=self.payload_or_empty)
        return self._streams

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
        if getattr(self, "_session_cache", None) is None:
            self._session_cache = _sessions.assign(self.packets, self.flows, self.stun, self.rtp, self.rtcp)
        return self._session_cache

    @property
    def stun(self) -> pd.DataFrame:
        return self._stun_tables()[0]

    @property
    def stun_attributes(self) -> pd.DataFrame:
        return self._stun_tables()[1]

    def _stun_tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        if self._stun is None:
            self._stun = stun_tables(self._decode().stun_messages, self._ice_passwords, *self._turn_credentials)
        return self._stun

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
        if self._dtls_decrypted is None:
            if self._keylog is None or not self._keylog.tls13_client_randoms():  # nothing to open them with
                self._dtls_decrypted = tables.empty_table(decrypt.DTLS_DECRYPTED_SCHEMA)
            else:
                dg = self._decode().dtls_datagrams
                self._dtls_decrypted = decrypt.dtls13_records(dg.keys, dg.payloads,
                                                              association_identities(*self._dtls_tables()),
                                                              self._keylog)
        return self._dtls_decrypted

    def _dtls_tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        if self._dtls is None:
            decoded = self._decode()
            self._dtls = _dtls_tables(decoded.dtls_datagrams, decoded.stun_messages)
        return self._dtls

    @property
    def quic(self) -> pd.DataFrame:
        """One row per QUIC long-header packet of the frames of kind quic, Initials opened with the keys their
        connection id gives (RFC 9001 §5.2: no key log needed): webrtcpcap.tables.quic_tables.quic_table (columns in
        QUIC_SCHEMA: version, connection ids, ALPN, server name, TLS version...).  `quic_connections` has one row per
        QUIC flow."""
        if self._quic is None:
            p = self.packets
            rows = p[(p["kind"] == "quic") & (p["transport"] == "udp")]
            rows = rows[rows.groupby("flow", observed=True).cumcount().to_numpy() < quic_tables.MAX_DATAGRAMS_PER_FLOW]
            if self._fragments_of is None:  # as _rtp_packets makes it: completing frame -> its other fragments
                joined = self.fragments[self.fragments["reassembled_in"].notna()]
                by_completing = joined.groupby(joined["reassembled_in"].astype("int64"))["frame"]
                self._fragments_of = by_completing.agg(list).to_dict()
            payloads = udp_payloads(self._data, self._index, self._state, rows["frame"].to_numpy(),
                                    np.zeros(len(rows), dtype=bool), self._fragments_of) if len(rows) else []
            self._quic = quic_tables.quic_table(rows, payloads)
        return self._quic

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
        if self._payload_reader is None:
            self._payload_reader = self._reader(empty_on_error=False)
        return self._payload_reader

    @property
    def payload_or_empty(self) -> RtpPayloadReader:
        """`rtp_payload` for analyses, which must not stop at one bad packet: b"" (read as "no payload": no RTX
        OSN, no keyframe) where rtp_payload raises ValueError (a snaplen-cut or garbage packet, SRTP that did not
        authenticate), and the frame and why are kept in `unreadable_payloads` (counted, never silently dropped).
        What health and report pass to streams.rtx_pairs, nack and codecs; `heads` and `payloads` as rtp_payload's."""
        if self._payload_or_empty is None:
            self._payload_or_empty = self._reader(empty_on_error=True)
        return self._payload_or_empty

    def _reader(self, empty_on_error: bool) -> RtpPayloadReader:
        rtp = self._decode().rtp
        return RtpPayloadReader(rtp["frame"].to_numpy(), rtp["payload_offset"].to_numpy(),
                                rtp["padding"].to_numpy(dtype=bool), self._locate_packets, self._payload_one,
                                empty_on_error, self.unreadable_payloads, self._payload_fast)

    def _payload_fast(self, frame: int) -> bytes | None:
        """One frame's payload by the common case's rules, in plain Python (a per-frame caller pays no numpy
        set-up), or None: then the general path answers (a row the table flags, relayed, framed or reassembled
        packets, broken padding, a frame that is not a row)."""
        frames, _, clean, special, ciphertext = self._payload_rows()[:5]
        i = int(np.searchsorted(frames, frame))
        if i >= len(frames) or frames[i] != frame or not clean[i]:
            return None
        d = self.decryption
        if d is not None and d.rtp_status[i] != _NOT_TRIED:
            try:
                data = self._plaintext(frame)
            except ValueError:
                return None
            cipher = False
        elif special[i]:
            return None
        else:
            b = i // PAYLOAD_BLOCK
            spans = self._span_blocks.get(b)
            if spans is None:
                self._direct_spans(np.array([i]))  # finds the places of the row's whole block, and keeps them
                spans = self._span_blocks[b]
            pos, size = int(spans[0][i - b * PAYLOAD_BLOCK]), int(spans[1][i - b * PAYLOAD_BLOCK])
            if pos < 0:
                return None
            data = self._data[pos:pos + size].tobytes()
            cipher = bool(ciphertext[i])
        payload_offset, padding = self._payload_rows()[5:]
        body = data[int(payload_offset[i]):]
        if cipher or not padding[i]:
            return body
        count = body[-1] if body else 0
        return body[:len(body) - count] if 1 <= count <= len(body) else None

    def _locate_packets(self, rows: np.ndarray) -> tuple[list, np.ndarray, dict]:
        """Where the RTP packets of rtp rows `rows` lie, for RtpPayloadReader: ([(Packets, ciphertext mask)], request
        positions for the per-frame reader, {request position: ValueError})."""
        frames, ssrc, clean, special, ciphertext = self._payload_rows()[:5]
        todo = clean[rows].copy()  # rows the table flags: the per-frame reader says why
        slow = [np.flatnonzero(~todo)]
        parts, errors = [], {}
        d = self.decryption
        if d is not None and (d.rtp_status[rows] != _NOT_TRIED).any():
            status = d.rtp_status[rows]
            tried = todo & (status != _NOT_TRIED)
            authentic = tried & np.isin(status, [srtp.Status.OK, srtp.Status.DUPLICATE, srtp.Status.LATE])
            for k in np.flatnonzero(tried & ~authentic).tolist():
                errors[k] = ValueError(f"frame {int(frames[rows[k]])}: SRTP did not authenticate "
                                       f"({srtp.STATUS_NAMES[status[k]]})")
            at = np.flatnonzero(authentic)
            keys = np.asarray(d.rtp_key, dtype=object)[rows[at]]
            ssrcs = ssrc[rows[at]]
            for group in dict.fromkeys(zip(keys.tolist(), ssrcs.tolist())):  # a loop over decrypted streams
                mine = at[(keys == group[0]) & (ssrcs == group[1])]
                plain = self._stream_plaintexts(group)
                have = np.array([plain.get(int(r)) is not None for r in rows[mine]], dtype=bool)
                for k in mine[~have].tolist():
                    errors[k] = ValueError(f"frame {int(frames[rows[k]])}: SRTP did not authenticate again")
                datas = [plain[int(r)] for r in rows[mine[have]]]
                parts.append((Packets.joined(mine[have], datas), np.zeros(int(have.sum()), dtype=bool)))
            todo &= ~tried
        ciphertext = ciphertext[rows]
        special = todo & special[rows]
        at = np.flatnonzero(special)  # relayed by TURN, framed out of TCP, reassembled from IP fragments: made again
        if len(at):
            made = self._rtp_packets(rows[at])
            have = np.array([m is not None for m in made], dtype=bool)
            slow.append(at[~have])
            parts.append((Packets.joined(at[have], [m for m in made if m is not None]), ciphertext[at[have]]))
        at = np.flatnonzero(todo & ~special)  # direct datagrams: read where they lie in the file
        pos, size = self._direct_spans(rows[at])
        found = pos >= 0
        slow.append(at[~found])
        parts.append((Packets(self._data, at[found], pos[found], size[found]), ciphertext[at[found]]))
        return parts, np.concatenate(slow), errors

    def _payload_rows(self) -> tuple[np.ndarray, ...]:
        """Per rtp row, once: frame, ssrc, clean (the table flags nothing), special (relayed by TURN, framed out of
        TCP or reassembled from IP fragments: its packet is made again, not read in place), ciphertext (SRTP flow),
        payload_offset, padding."""
        if self._payload_row_facts is None:
            decoded = self._decode()
            rtp = decoded.rtp
            completing = np.fromiter(self._completing_fragments(), dtype=np.int64)
            special = (rtp["relayed"].to_numpy(dtype=bool) | np.isin(rtp["frame"].to_numpy(), completing))
            special[np.fromiter(decoded.rtp_framed, dtype=np.int64)] = True
            self._payload_row_facts = (rtp["frame"].to_numpy(), rtp["ssrc"].to_numpy(), rtp["error"].isna().to_numpy(),
                                       special, rtp["dtls_srtp"].to_numpy(dtype=bool),
                                       rtp["payload_offset"].to_numpy(), rtp["padding"].to_numpy(dtype=bool))
        return self._payload_row_facts

    def _direct_spans(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """pipeline.udp_spans of the frames of rtp rows `rows`, computed per block of PAYLOAD_BLOCK rows and kept
        for the last few blocks (a per-frame caller walks a stream, so it asks near where it asked before)."""
        frames = self._payload_rows()[0]
        pos = np.full(len(rows), -1, dtype=np.int64)
        size = np.zeros(len(rows), dtype=np.int64)
        block = rows // PAYLOAD_BLOCK
        for b in np.unique(block).tolist():  # a loop over blocks of rows
            spans = self._span_blocks.pop(b, None)
            if spans is None:
                lo = b * PAYLOAD_BLOCK
                spans = udp_spans(self._data, self._index, self._state, frames[lo:lo + PAYLOAD_BLOCK])
            self._span_blocks[b] = spans  # last used last
            while len(self._span_blocks) > PAYLOAD_BLOCKS_KEPT:
                self._span_blocks.pop(next(iter(self._span_blocks)))
            sel = block == b
            pos[sel], size[sel] = spans[0][rows[sel] - b * PAYLOAD_BLOCK], spans[1][rows[sel] - b * PAYLOAD_BLOCK]
        return pos, size

    def _completing_fragments(self) -> dict:
        """{frame that completed an IP datagram: the frames of its other fragments}, from the fragments table."""
        if self._fragments_of is None:
            joined = self.fragments[self.fragments["reassembled_in"].notna()]
            self._fragments_of = joined.groupby(joined["reassembled_in"].astype("int64"))["frame"].agg(list).to_dict()
        return self._fragments_of

    def _payload_one(self, frame: int) -> bytes:
        """rtp_payload of one frame, the frame decoded again on its own: for the rows the bulk rules leave (a row the
        rtp table flags, a datagram cut short, a frame that is not a row of the rtp table), so that each gets the
        answer, or the error, that reading it as RTP gives."""

        if not 1 <= frame <= len(self._index):
            raise IndexError(f"frame {frame} is not in this capture (1..{len(self._index)})")
        data = self._plaintext(frame) if self._decryption is not None or self.decryption is not None else None
        ciphertext = False
        if data is None:
            rtp = self._decode().rtp
            frames = rtp["frame"].to_numpy()
            i = int(np.searchsorted(frames, frame))
            known = i < len(frames) and frames[i] == frame
            ciphertext = known and bool(rtp["dtls_srtp"].iat[i])  # SRTP not decrypted: no padding count to read
            if known and (rtp["relayed"].iat[i] or i in self._decode().rtp_framed):
                data = self._rtp_packets(np.array([i]))[0]  # the datagram TURN carried, or RTP framed out of TCP
        if data is None:
            batch = reader.make_batch(self._data, self._index, frame - 1, frame, self._state, frame)
            layer = net.decode(batch)
            if layer.transport[0] != net.Transport.UDP or layer.payload_cap[0] != layer.payload_len[0] \
                    or layer.payload_len[0] <= 0 or layer.fragment[0]:
                raise ValueError(f"frame {frame} has no complete UDP payload")
            data = layer.source.bytes_at(int(layer.payload_off[0]), int(layer.payload_cap[0]))
        try:
            header = _rtp.parse(data)
        except DecodeError as e:
            raise ValueError(f"frame {frame} is not RTP: {e}") from None
        if ciphertext:
            return data[header.payload_offset:]
        return _rtp.payload(data, header)  # DecodeError (a ValueError) for a padding count RFC 3550 calls invalid

    def write_decrypted(self, path: str | os.PathLike) -> dict:
        """Write the capture with every authenticated SRTP/SRTCP packet replaced by its plaintext (lengths and
        checksums fixed), for Wireshark: webrtcpcap.tables.writer.write_decrypted (its docstring says what is rewritten
        and what is left as it was).  Open it with DTLS disabled (`tshark --disable-protocol dtls`), or Wireshark
        still takes the media for SRTP.  Returns a summary dict."""

        return write_decrypted(self, path)

    def _plaintext(self, frame: int) -> bytes | None:
        """The decrypted RTP packet of a frame whose SRTP authenticated; None when no key was tried on it."""

        d = self.decryption
        frames, ssrc = self._payload_rows()[:2]
        i = int(np.searchsorted(frames, frame))
        if i >= len(frames) or frames[i] != frame or d.rtp_status[i] == _NOT_TRIED:
            return None
        if d.rtp_status[i] not in (srtp.Status.OK, srtp.Status.DUPLICATE, srtp.Status.LATE):
            raise ValueError(f"frame {frame}: SRTP did not authenticate ({srtp.STATUS_NAMES[d.rtp_status[i]]})")
        plain = self._stream_plaintexts((d.rtp_key[i], int(ssrc[i])))
        if plain.get(i) is None:
            raise ValueError(f"frame {frame}: SRTP did not authenticate again")
        return plain[i]

    def _stream_plaintexts(self, group: tuple) -> dict:
        """{rtp row: decrypted RTP packet} of one stream (key label, SSRC).  The stream is decrypted again whole, in
        order, so that the rollover counter is followed; the last few streams asked for are kept (RTX OSN reading
        asks for every packet of a stream)."""
        plain = self._plain_cache.pop(group, None)
        if plain is None:
            d = self.decryption
            rtp = self._decode().rtp
            keys = np.array(d.rtp_key, dtype=object)
            rows = np.flatnonzero((rtp["ssrc"].to_numpy() == group[1]) & (keys == group[0]))
            packets = self._rtp_packets(rows)
            usable = [r for r, p in zip(rows.tolist(), packets) if p is not None]
            result = d.sources[group[0]].make().rtp([p for p in packets if p is not None])
            plain = dict(zip(usable, result.plaintext))
            while len(self._plain_cache) >= _PLAINTEXT_STREAMS:
                self._plain_cache.pop(next(iter(self._plain_cache)))
        self._plain_cache[group] = plain  # last used last
        return plain

    def _rtp_packets(self, rows: np.ndarray) -> list:
        """The packets of rows of the rtp table as captured (UDP payloads; the datagram TURN carried; RTP framed out
        of TCP); None where there is none (see pipeline.udp_payloads)."""
        decoded = self._decode()
        framed = decoded.rtp_framed  # RTP out of TCP streams: kept, as it cannot be re-read per frame
        frames, relayed = decoded.rtp["frame"].to_numpy(), decoded.rtp["relayed"].to_numpy()
        reread = np.array([r for r in np.asarray(rows).tolist() if r not in framed], dtype=np.int64)
        got = dict(zip(reread.tolist(), udp_payloads(self._data, self._index, self._state, frames[reread],
                                                     relayed[reread], self._completing_fragments())))
        return [framed[r] if r in framed else got[r] for r in np.asarray(rows).tolist()]

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


_NOT_TRIED = 255  # webrtcpcap.tables.decrypt.NOT_TRIED, without importing it on the plain path
_PLAINTEXT_STREAMS = 4  # decrypted streams Capture._plaintext keeps


def _srtp_columns(status: np.ndarray) -> tuple:
    """auth_ok and srtp_status columns (tables.SRTP_COLUMNS) from webrtcpcap.protocols.srtp.Status codes or _NOT_TRIED."""

    status = np.asarray(status)
    tried = status != _NOT_TRIED
    authentic = np.isin(status, [srtp.Status.OK, srtp.Status.DUPLICATE, srtp.Status.LATE])
    codes = np.where(tried, status.astype(np.int16), -1)
    return (tables.masked(authentic, ~tried, "boolean"),
            pd.Categorical.from_codes(codes, categories=list(srtp.STATUS_NAMES)))


def _concat_tables(parts: list[pd.DataFrame], schema: dict[str, str]) -> pd.DataFrame:
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


class Chunk:
    """The tables of one chunk of a capture, as `iter_chunks` yields them (same columns as Capture's tables)."""

    def __init__(self, decoded: Decoded, first_frame: int):
        self.packets = decoded.packets
        self.rtp = decoded.rtp
        self.rtcp = decoded.rtcp
        self.flows = decoded.flows
        self.icmp = decoded.icmp
        self.fragments = decoded.fragments
        self.tcp_streams = decoded.tcp_streams  # every TCP direction up to this chunk's end
        self.first_frame = first_frame
        self._stun_messages = decoded.stun_messages
        self._stun: tuple[pd.DataFrame, pd.DataFrame] | None = None

    @property
    def stun(self) -> pd.DataFrame:
        return self._stun_tables()[0]

    @property
    def stun_attributes(self) -> pd.DataFrame:
        return self._stun_tables()[1]

    def _stun_tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        if self._stun is None:
            self._stun = stun_tables(self._stun_messages)
        return self._stun

    def __repr__(self) -> str:
        return f"<webrtcpcap.Chunk frames {self.first_frame}..{self.first_frame + len(self.packets) - 1}>"


def iter_chunks(path: str | os.PathLike, packets: int = 250_000, *, webrtc: Iterable = (),
                not_webrtc: Iterable = (), progress: bool | None = None) -> Iterator[Chunk]:
    """The capture's tables `packets` frames at a time, reading the file in bounded memory.

    Frame numbers and `t` count from the start of the file.  A flow found to be WebRTC in one chunk stays WebRTC in
    later chunks; packets of a flow that come before its first evidence, in an earlier chunk, stay "other".
    Flow ids are per chunk.  A chunk's `tcp_streams` covers the capture up to that chunk's end (the last chunk's
    is the whole capture's).  A chunk holds at most `packets` frames, and fewer where a 32 MiB block of the file
    ends.  Warns (CaptureWarning) at the end if the file was cut short or corrupt.
    """
    path = os.fspath(path)
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
            decoded = decode(data, index, state, first_frame, t0 or 0, rules, carry, final=batch is None)
            del data, index
            yield Chunk(decoded, first_frame)
    finally:
        if bar is not None:
            bar.close()
    if state is not None and state.problem:
        warnings.warn(CaptureWarning(f"{path}: {state.problem}"), stacklevel=2)
