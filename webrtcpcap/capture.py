"""The user's entry point: `webrtcpcap.open(path)` gives a Capture whose tables are computed on first use, and
`webrtcpcap.iter_chunks(path)` gives the same tables chunk by chunk, in bounded memory, for captures of any size.
"""

from __future__ import annotations

import builtins
import os
import sys
import warnings
from typing import Iterable, Iterator

import pandas as pd

from . import demux, reader
from . import sdp as _sdp
from .errors import CaptureWarning
from .pipeline import Carry, Decoded, decode, stun_tables


def _progress_bar(total: int, desc: str):
    """A tqdm bar over bytes that appears only after a second, and never when stderr is not a terminal."""
    try:
        from tqdm import tqdm  # the text bar: it needs no widget extension in Jupyter
    except ImportError:  # tqdm is a dependency, but a missing progress bar must not stop a read
        return None
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, delay=1.0, leave=False,
                disable=None if sys.stderr.isatty() else True)


def _load_sdps(sdp) -> list[_sdp.Sdp]:
    """`open(..., sdp=)`: None, or one or a list of: an Sdp, SDP text (a str holding a newline or starting with
    "v="), bytes, or a file path."""
    if sdp is None:
        return []
    items = [sdp] if isinstance(sdp, (str, bytes, os.PathLike, _sdp.Sdp)) else list(sdp)
    out = []
    for item in items:
        if isinstance(item, (bytes, bytearray)) or isinstance(item, str) and (
                "\n" in item or item.lstrip().startswith("v=")):
            out.append(_sdp.parse(item))
        elif isinstance(item, _sdp.Sdp):
            out.append(item)
        else:
            with builtins.open(os.fspath(item), "rb") as f:
                out.append(_sdp.parse(f.read()))
    return out


def _rules(webrtc: Iterable = (), not_webrtc: Iterable = ()) -> list[demux.FlowRule]:
    return ([demux.FlowRule.parse(s, True) for s in webrtc] + [demux.FlowRule.parse(s, False) for s in not_webrtc])


class Capture:
    """A capture file and its tables.  Make one with `webrtcpcap.open(path)`.

    Tables (pandas DataFrames, computed together on first use; schemas in `webrtcpcap.tables`):

    - `packets`: one row per frame of the file, in file order.  Columns: frame (1-based, as Wireshark numbers them),
      time (UTC), t (seconds since the first frame), caplen, len, interface, ip_version, src, dst, sport, dport,
      transport (udp/tcp/icmp/icmpv6/other), kind (stun, dtls, rtp, rtcp, turn-channel, zrtp, other, tcp, icmp,
      non-ip, ip-fragment), payload_len (transport payload length the headers declare), flow (bidirectional flow
      id), evidence (why the frame's flow was taken as WebRTC: stun, dtls, rtp, rtcp, forced), error (null, or why
      the frame could not be fully decoded).
    - `rtp`: one row per frame of kind rtp, and per RTP packet relayed inside TURN: frame, t, src, dst, sport, dport,
      ssrc, pt, seq, ts, marker, padding, extension, csrc_count, ext_profile, payload_offset (bytes from the start
      of the RTP packet), payload_len (bytes after the header: payload, padding and any SRTP auth tag), dtls_srtp
      (the flow, or for relayed rows the relay on it, carried a DTLS handshake, so payloads are SRTP-encrypted),
      error, relayed, relay, peer (see "Relayed rows" below).
    - `rtcp`: one row per RTCP packet inside each compound datagram: frame, t, src, dst, sport, dport, index (0 for
      the first), pt, count (RC/SC for SR, RR, SDES, BYE...), fmt (for feedback, PT 205/206), sender_ssrc,
      length_bytes, offset (in the datagram), padding, dtls_srtp (the flow carried a DTLS handshake: unless the
      compound's lengths chain exactly, only the first header of SRTCP is readable, so only it gets a row), error,
      relayed, relay, peer (RTCP relayed inside TURN gets rows too).
    - `flows`: one row per bidirectional UDP/TCP flow: flow, transport, a, a_port (sender of the first packet),
      b, b_port, evidence, packets, first_t, last_t.
    - `icmp`: one row per ICMP/ICMPv6 frame: frame, t, src, dst, icmp_type, icmp_code, quoted (the 5-tuple an
      ICMP error quotes, e.g. "udp 10.0.0.1:5000 > 10.0.0.2:6000").
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
    Send/Data indications among them are unwrapped the same way (see webrtcpcap.tcp).  TURN over TLS is not.

    `sdp` is the list of SDPs given to `open(..., sdp=[offer, answer])` (webrtcpcap.sdp.Sdp records; empty when
    none): their clock rates make `streams.clock_rate_source` "given" for the payload types they map, and their
    ICE ufrag/pwd pairs check `stun.integrity_ok` (with `ice_passwords=`, which wins on the same ufrag).

    `problem` says why the file was read only in part (None when it was read to the end); a CaptureWarning is
    issued too.  `interfaces` lists the capture's interfaces.
    """

    def __init__(self, path: str | os.PathLike, *, webrtc: Iterable = (), not_webrtc: Iterable = (),
                 progress: bool | None = None, ice_passwords: dict[str, str] | None = None, sdp=None):
        self.path = os.fspath(path)
        self.sdp: list[_sdp.Sdp] = _load_sdps(sdp)
        self._ice_passwords = {**_sdp.ice_passwords(self.sdp), **dict(ice_passwords or {})}
        self._stun: tuple[pd.DataFrame, pd.DataFrame] | None = None
        self._streams: pd.DataFrame | None = None
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
            t0 = 0
            if len(self._index):
                t0 = int(reader.make_batch(self._data, self._index, 0, 1, self._state, 1).ts_ns[0])
            self._decoded = decode(self._data, self._index, self._state, 1, t0, self._rules)
        return self._decoded

    @property
    def packets(self) -> pd.DataFrame:
        return self._decode().packets

    @property
    def rtp(self) -> pd.DataFrame:
        return self._decode().rtp

    @property
    def rtcp(self) -> pd.DataFrame:
        return self._decode().rtcp

    @property
    def flows(self) -> pd.DataFrame:
        return self._decode().flows

    @property
    def icmp(self) -> pd.DataFrame:
        return self._decode().icmp

    @property
    def fragments(self) -> pd.DataFrame:
        return self._decode().fragments

    @property
    def streams(self) -> pd.DataFrame:
        """One row per RTP stream: `webrtcpcap.streams.streams(self.rtp)` (columns in webrtcpcap.streams.STREAMS_SCHEMA)."""
        if self._streams is None:  # computed once: it walks every RTP row
            from .streams import streams

            self._streams = streams(self.rtp, clock_rates=_sdp.clock_rates(self.sdp) or None)
        return self._streams

    @property
    def stun(self) -> pd.DataFrame:
        return self._stun_tables()[0]

    @property
    def stun_attributes(self) -> pd.DataFrame:
        return self._stun_tables()[1]

    def _stun_tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        if self._stun is None:
            self._stun = stun_tables(self._decode().stun_messages, self._ice_passwords)
        return self._stun

    def frame_bytes(self, frame: int) -> bytes:
        """The captured bytes of one frame (1-based number), for per-message decoders and teaching."""
        if not 1 <= frame <= len(self._index):
            raise IndexError(f"frame {frame} is not in this capture (1..{len(self._index)})")
        batch = reader.make_batch(self._data, self._index, frame - 1, frame, self._state, frame)
        return batch.source.bytes_at(int(batch.offset[0]), int(batch.caplen[0]))

    def rtp_payload(self, frame: int) -> bytes:
        """The RTP payload of one frame (1-based number): the bytes after the RTP header (CSRCs and extension
        included in the header), without RTP padding (RFC 3550 §5.1: the last byte counts the padding).  b"" for a
        padding-only packet.  In SRTP the payload is still encrypted (and ends with the auth tag): only plaintext
        captures (decrypted dumps) give media bytes.  ValueError when the frame is not a complete, unfragmented RTP
        packet on UDP."""
        from . import net
        from . import rtp as _rtp
        from .errors import DecodeError

        if not 1 <= frame <= len(self._index):
            raise IndexError(f"frame {frame} is not in this capture (1..{len(self._index)})")
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
        end = len(data)
        if header.padding:
            end -= data[-1]
        if end < header.payload_offset:
            raise ValueError(f"frame {frame}: RTP padding longer than the payload")
        return data[header.payload_offset:end]

    def dissect(self, frame: int, timeout: float = 60.0):
        """Wireshark's full dissection of one frame, as a pyshark Packet (needs tshark).

        tshark is told to decode the frame's UDP ports as RTP/RTCP when our demultiplexer found RTP or RTCP there,
        so Wireshark shows the same layers we do on any port.  Works inside Jupyter (see webrtcpcap.wireshark).
        """
        from .wireshark import dissect_frame

        row = self.packets.iloc[frame - 1] if 1 <= frame <= len(self._index) else None
        if row is None:
            raise IndexError(f"frame {frame} is not in this capture (1..{len(self._index)})")
        return dissect_frame(self.path, frame, decode_as=_decode_as_hint(row), timeout=timeout)

    def summary(self) -> str:
        """The text `webrtcpcap summary` prints: frames per kind and the RTP streams."""
        from .summary import format_summary, summarize

        return format_summary(self.path, summarize([(self.packets, self.rtp)]), self.problem)


def _decode_as_hint(row) -> dict[str, str]:
    if row["kind"] in ("rtp", "rtcp") and not pd.isna(row["dport"]):
        return {f"udp.port=={int(row['dport'])}": str(row["kind"])}
    return {}


def open(path: str | os.PathLike, *, webrtc: Iterable = (), not_webrtc: Iterable = (),
         progress: bool | None = None,
         ice_passwords: dict[str, str] | None = None, sdp=None) -> Capture:  # noqa: A001 - mirrors the built-in on purpose
    """Open a pcap or pcapng capture (plain or gzip-compressed; detected from its first bytes).

    `webrtc` / `not_webrtc` force flows to be taken as WebRTC or not, whatever the evidence: each item is a port
    (5004), "address:port" or (address, port), matched against either end of a flow.  `progress`: None shows a
    progress bar on terminals when a read takes over a second; False never.  `ice_passwords` ({ice-ufrag:
    ice-pwd}, e.g. from both SDPs) lets `stun.integrity_ok` be checked for ICE Binding messages.  `sdp`: the
    session's SDP offer and answer (file paths, SDP text or webrtcpcap.sdp.Sdp records; one or a list), kept as
    `cap.sdp`: they give `streams` its clock rates and `stun` the ICE passwords.  A bad SDP raises DecodeError.

    Raises CaptureError when the file is not a capture; warns (CaptureWarning) and keeps every complete frame when
    it is cut short or corrupt part-way.  See Capture for the tables.
    """
    return Capture(path, webrtc=webrtc, not_webrtc=not_webrtc, progress=progress, ice_passwords=ice_passwords,
                   sdp=sdp)


class Chunk:
    """The tables of one chunk of a capture, as `iter_chunks` yields them (same columns as Capture's tables)."""

    def __init__(self, decoded: Decoded, first_frame: int):
        self.packets = decoded.packets
        self.rtp = decoded.rtp
        self.rtcp = decoded.rtcp
        self.flows = decoded.flows
        self.icmp = decoded.icmp
        self.fragments = decoded.fragments
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
    Flow ids are per chunk.  Warns (CaptureWarning) at the end if the file was cut short or corrupt.
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
        for data, index, state, first_frame in reader.iter_batches(path, packets, progress=advance):
            if t0 is None:
                t0 = int(reader.make_batch(data, index, 0, 1, state, 1).ts_ns[0])
            # A fragment still unfinished at the end of a chunk may complete in the next one.
            decoded = decode(data, index, state, first_frame, t0, rules, carry, final=False)
            yield Chunk(decoded, first_frame)
    finally:
        if bar is not None:
            bar.close()
    if state is not None and state.problem:
        warnings.warn(CaptureWarning(f"{path}: {state.problem}"), stacklevel=2)
