"""Anonymised copies of captures, for sharing: IP and MAC addresses, ICE ufrags, TURN usernames and realms, and
certificate names replaced consistently; STUN/DTLS/RTP/RTCP structure, timing and lengths kept, so the analyses give
the same verdicts (RFC 8489 §14.2 XOR addresses and §14.7 FINGERPRINT, RFC 8656 TURN, RFC 6347 DTLS handshake
fragments, RFC 5280 names; checksums of RFC 791, RFC 8200, RFC 768, RFC 9293, RFC 792, RFC 4443; ARP RFC 826).

Strategy: every rewrite of a WebRTC payload keeps its length, so a datagram can be rewritten as a whole (IP
fragments reassembled first, TCP streams laid out by sequence number and framed as webrtcpcap.net.tcp frames them) and
its bytes put back where they came from.  The file is read once into memory (frames as bytearrays, about the size of
the file), rewritten, and written; `webrtcpcap.open` on the input says which frames are WebRTC (`packets.kind` and
`evidence`), so the anonymised file classifies the same.

Choices, stated once:
- Addresses: a keyed mapping (HMAC-SHA256 with a key from `seed`, or a random one) that is the same for the same
  input everywhere in the file, one-to-one, and never the identity on an address it replaces.  Kept as they are
  (they name no one): IPv4 0.0.0.0/8, 127/8, 224/4 and up, 255.255.255.255; IPv6 ::, ::1, ff00::/8.  Private
  classes stay recognisable: IPv4 10/8, 172.16/12, 192.168/16, 100.64/10, 169.254/16 keep their prefix and get
  new host bits; IPv6 fe80::/64 keeps its prefix, fc00::/7 its first byte; other IPv6 addresses go to 2001:db8::/32
  (documentation); other IPv4 addresses to another public address.  IPv4-mapped IPv6 uses the IPv4 mapping.
  Rewritten: IP headers, ARP, IP headers quoted in ICMP errors, every STUN address attribute (MAPPED-, XOR-MAPPED-,
  XOR-PEER-, XOR-RELAYED-ADDRESS, ALTERNATE-SERVER, RESPONSE-ORIGIN, OTHER-ADDRESS and the RFC 3489 ones), also
  inside TURN-relayed STUN and over TCP.  Not rewritten: IPv4 options and IPv6 routing headers (rare; say so).
  Ports stay.  Unicast MAC addresses (Ethernet, ARP, Linux cooked headers) are mapped too (locally administered).
- Names: ICE ufrags (each side of a Binding USERNAME "a:b"), TURN usernames (a TURN REST "expiry:user" keeps its
  expiry), REALM, the string values of certificate subject and issuer names, and the texts of plaintext RTCP
  (SDES CNAME "user@host", NAME, EMAIL, PHONE, LOC, TOOL, NOTE, PRIV after its prefix length, H323-CADDR; BYE
  reasons) get same-length letters and digits from the same keyed mapping (one namespace: a string is replaced the
  same way wherever it appears).  USERHASH, RTCP APP data and every STUN attribute not known to hold only numbers or
  kept texts (unknown and vendor attributes, malformed address attributes) get keyed filler.  NONCE, SOFTWARE,
  ERROR-CODE reasons, SDES stream identifiers (MID, RtpStreamId...), RTP and SRTP/SRTCP ciphertext stay.
- Fail closed: a payload of a WebRTC flow that cannot be read is never copied through.  A datagram of kind stun
  that is not an RFC 8489 message whose attributes chain to its end (classic RFC 3489 STUN, vendor dialects such as
  MS-TURN), or an RTCP compound from its first packet that does not read, is cut; inside TURN or a TCP stream
  (where lengths must stay) the unreadable bytes get keyed filler.  The summary's `unreadable_frames` names them.
- Integrity: FINGERPRINT is recomputed where it was right; MESSAGE-INTEGRITY(-SHA256) cannot be (it needs the
  password) and is left as it was, so it no longer verifies: the summary counts those messages, and a pcapng output
  says so in its section comment.  Certificates then no longer match their signatures or any a=fingerprint.
- Dropped (the frame keeps its original length, its captured bytes are cut, as a snaplen would): payloads of
  non-WebRTC UDP and TCP flows (signalling, SDP, DNS...), of datagrams of a WebRTC flow that are not STUN, DTLS,
  RTP, RTCP, ZRTP or ChannelData, of TCP streams or their parts that cannot be framed, of IP fragments of a
  datagram that never completed, of other IP protocols (after the IP header), of non-IP frames other than ARP (after
  the link header), of ICMP messages (after the quoted IP header and 8 bytes; informational ones after 8 bytes).
- Checksums: IPv4 header checksums are recomputed; UDP, TCP and ICMP checksums are recomputed where the whole
  datagram was captured (a UDP checksum of 0 over IPv4 stays 0), else adjusted for the new addresses (RFC 1624).
- Output: the input's format: classic pcap (same timestamp resolution, link type, snaplen) or pcapng (one section,
  one interface block per input interface with nanosecond timestamps, no interface names, no comments but the
  section's "anonymised" note, no other blocks).  Timestamps and original lengths of every frame are kept.

The parts: this module holds the choices, `anonymize_file` and the command line; what is rewritten inside WebRTC
payloads and the keyed mapping are in `anonymize_rewrite`; how frames are walked, checksummed and written in
`anonymize_frames`.
"""


from __future__ import annotations

import argparse
import hashlib
import os
import sys

from ..io import reader
from ..capture import open as open_capture
from ..io.errors import WebRTCPcapError
from ..net.layers import IPPROTO_TCP, IPPROTO_UDP
from .anonymize_rewrite import Mapper, _Anonymizer  # noqa: F401  (re-exported: the keyed mapping, the rewriter)
from .anonymize_frames import (_Frames, _TcpSegment, _finish_checksum, _icmp, _tcp_segment, _tcp_stream, _udp,
                               _write)


# --- the whole file ------------------------------------------------------------------------------------------------


def _key(seed) -> bytes:
    if seed is None:
        return os.urandom(32)
    if isinstance(seed, int):
        seed = str(seed)
    if isinstance(seed, str):
        seed = seed.encode("utf-8")
    return hashlib.sha256(b"webrtcpcap anonymize\0" + bytes(seed)).digest()


def anonymize_file(src: str | os.PathLike, dst: str | os.PathLike, *, seed: bytes | str | int | None = None,
                   webrtc=(), not_webrtc=()) -> dict:
    """Write an anonymised copy of the capture `src` to `dst` (see the module docstring for what changes and what
    does not) and return a summary dict: frames, format (of the output, the input's), frames_cut (frames whose
    captured bytes were cut: non-WebRTC payloads), stun_messages, usernames (USERNAME attributes replaced),
    fingerprints_recomputed, integrity_not_verifiable (STUN messages whose MESSAGE-INTEGRITY no longer verifies),
    certificates (DTLS Certificate messages whose names were replaced), tcp_unframed_bytes (bytes of WebRTC TCP
    streams cut because they could not be framed), addresses (distinct IP addresses replaced), names (distinct
    strings replaced), seeded (whether `seed` was given: the same seed gives the same output), attributes_filled
    (STUN attributes given filler), rtcp_items (RTCP texts replaced), unreadable and unreadable_frames (WebRTC
    payloads, and the frame numbers holding them, that could not be read and were cut or filled: fail closed).  `webrtc` and
    `not_webrtc` are as for `webrtcpcap.open`.  The summary holds no original value."""
    cap = open_capture(src, progress=False, webrtc=webrtc, not_webrtc=not_webrtc)
    packets = cap.packets
    kinds = packets["kind"].astype(str).to_numpy()
    is_webrtc = packets["evidence"].notna().to_numpy()
    data, index, state, owner = reader.read_all(src)
    batch = reader.make_batch(data, index, 0, len(index), state, 1)
    frames = [bytearray(batch.source.bytes_at(int(o), int(c))) for o, c in zip(batch.offset, batch.caplen)]
    lt_table = [i.linktype for i in state.interfaces]
    linktypes = [lt_table[i] if i < len(lt_table) else -1 for i in batch.interface.tolist()]

    anon = _Anonymizer(_key(seed))
    rtcp = cap.rtcp
    anon.srtcp_rows = set((rtcp.loc[rtcp["dtls_srtp"].to_numpy(dtype=bool), "frame"].astype("int64") - 1).tolist())
    net = _Frames(frames, linktypes, anon.m)
    streams: dict[tuple, list[_TcpSegment]] = {}
    for dg in net.datagrams:
        if dg.proto == IPPROTO_UDP:
            _udp(anon, dg, kinds[dg.row], is_webrtc[dg.row])
        elif dg.proto == IPPROTO_TCP:
            _tcp_segment(dg, streams)
        else:
            _icmp(net, dg)
    write_backs = [_tcp_stream(anon, segments) for segments in streams.values()]
    anon.certificates()  # before the TCP streams go back into their segments: relayed DTLS may ride in them
    for write_back in write_backs:
        write_back()
    for dg in net.datagrams:
        _finish_checksum(dg)
        net.put_back(dg)

    out = [bytes(f if c < 0 else f[:c]) for f, c in zip(net.frames, net.cut)]
    _write(dst, state, out, batch.length.tolist(), batch.ts_ns.tolist(), batch.interface.tolist())
    del batch, data, owner
    summary = {"frames": len(out), "format": state.fmt, "frames_cut": sum(1 for c in net.cut if c >= 0)}
    summary.update(anon.stats)
    summary["unreadable_frames"] = sorted(r + 1 for r in anon.unreadable_rows)
    summary["addresses"] = sum(1 for k in anon.m._map if k[0] == "ip")
    summary["names"] = sum(1 for k in anon.m._map if k[0] == "name")
    summary["seeded"] = seed is not None
    return summary


def main(argv: list[str] | None = None) -> int:
    """`webrtcpcap anonymize IN OUT [--seed S]` on its own (the CLI wires the same arguments)."""

    parser = argparse.ArgumentParser(prog="webrtcpcap anonymize", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


def add_arguments(parser) -> None:
    parser.add_argument("input", help="a pcap or pcapng file (optionally gzip-compressed)")
    parser.add_argument("output", help="where to write the anonymised copy (same format as the input)")
    parser.add_argument("--seed", help="key of the mapping: the same seed gives the same output "
                        "(default: a random key, never stored)")


def run(args) -> int:
    if os.path.abspath(args.input) == os.path.abspath(args.output):
        print("webrtcpcap: error: output must not be the input", file=sys.stderr)
        return 2
    try:
        s = anonymize_file(args.input, args.output, seed=args.seed)
    except WebRTCPcapError as exc:
        print(f"webrtcpcap: error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.output}: {s['frames']} frames ({s['format']}); {s['addresses']} addresses and {s['names']} "
          f"names replaced; {s['frames_cut']} frames cut (non-WebRTC payloads); {s['fingerprints_recomputed']} "
          f"FINGERPRINTs recomputed; {s['integrity_not_verifiable']} STUN MESSAGE-INTEGRITY attributes no longer "
          f"verifiable; {s['certificates']} DTLS certificate messages rewritten")
    if s["unreadable_frames"]:
        frames = s["unreadable_frames"]
        shown = ", ".join(str(f) for f in frames[:20]) + (", ..." if len(frames) > 20 else "")
        print(f"{args.output}: {len(frames)} frames held WebRTC bytes that could not be read (STUN without the "
              f"RFC 8489 shape, vendor dialects, broken RTCP): cut or filled, not copied (frames {shown})")
    return 0
