"""Decrypted captures written for Wireshark (webrtcpcap.tables.writer.write_decrypted): the lab's sessions with their key
logs (direct, TURN ChannelData, IP fragments) read back with webrtcpcap and checked by tshark (checksums, RTP/RTCP
decoded); crafted SDES captures whose plaintext is known; TURN re-wrapping and frame rebuilding checked with scapy
and RFC 1071's example; key bytes never in the output."""

import base64
import json
import struct
import subprocess
import zlib

import numpy as np
import pylibsrtp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP, fragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment
from scapy.layers.l2 import Ether

import webrtcpcap
from webrtcpcap.protocols import srtp
from webrtcpcap.tables import writer
from webrtcpcap.io.errors import DecodeError

from conftest import CAPTURES, PUBLIC_CAPTURES, epb, idb, rtp_packet, shb, tshark_available, udp4, udp6, \
    write_pcap, write_pcapng

TSHARK = pytest.mark.skipif(not tshark_available(), reason="tshark is not installed")
# Wireshark's DTLS dissector marks a 5-tuple whose handshake negotiated use_srtp as SRTP, and then shows the last
# 10 bytes of every RTP packet as an "auth tag": the written file is read with DTLS off (see writer's docstring).
TSHARK_OPTS = ["--disable-protocol", "dtls", "-o", "udp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE"]
GOOD = "1"  # udp.checksum.status / ip.checksum.status: 0 bad, 1 good, 2 unverified


def open_keyed(name):
    return webrtcpcap.open(CAPTURES / f"{name}.pcap", keylog=CAPTURES / f"{name}.keylog", progress=False)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """{name: (original capture with keys, summary, path of the written file)} for the lab captures used here."""
    out = {}
    for name in ("chromium_aiortc_loss5", "turn_relay_static", "aiortc_mtu576"):
        cap = open_keyed(name)
        path = tmp_path_factory.mktemp("w") / f"{name}.decrypted.pcap"
        out[name] = (cap, writer.write_decrypted(cap, path), path)
    return out


NAMES = ["chromium_aiortc_loss5", "turn_relay_static", "aiortc_mtu576"]


# -- round trip through webrtcpcap -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_written_capture_has_every_frame_with_its_timestamp(written, name):
    cap, summary, path = written[name]
    out = webrtcpcap.open(path, progress=False)
    assert len(out) == len(cap) == summary["frames"]
    assert (out.packets["time"].to_numpy() == cap.packets["time"].to_numpy()).all()
    assert out.interfaces.linktype.tolist() == cap.interfaces.linktype.tolist()
    assert summary["format"] == "pcap" and summary["unchanged"] == {}
    # every frame that carried no SRTP/SRTCP is byte for byte the same
    media = set(cap.rtp.frame.astype(int)) | set(cap.rtcp.frame.astype(int))
    for frame in range(1, len(cap) + 1):
        if frame not in media:
            assert out.frame_bytes(frame) == cap.frame_bytes(frame), frame
    assert summary["frames_rewritten"] == len(media)


def sidecar_plaintexts(name, packets):
    """The SRTP packets decrypted with the lab's exported keys (the .srtp-keys.json sidecar), straight through
    pylibsrtp: one inbound session per direction's key, each packet tried on both, in capture order."""
    sidecar = json.loads((CAPTURES / f"{name}.srtp-keys.json").read_text())
    profile = srtp.Profile.from_name(sidecar["profile"]).libsrtp
    sessions = [pylibsrtp.Session(pylibsrtp.Policy(bytes.fromhex(sidecar[f"{side}_write_key"])
                                                   + bytes.fromhex(sidecar[f"{side}_write_salt"]),
                                                   pylibsrtp.Policy.SSRC_ANY_INBOUND, srtp_profile=profile))
                for side in ("client", "server")]
    out = []
    for packet in packets:
        plain = None
        for session in sessions:
            try:
                plain = session.unprotect(packet)
                break
            except pylibsrtp.Error:
                continue
        out.append(plain)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_rtp_rows_are_the_same_and_packets_are_the_plaintext(written, name):
    cap, summary, path = written[name]
    out = webrtcpcap.open(path, progress=False)
    key = ["frame", "ssrc", "seq", "pt", "ts", "marker", "relayed"]
    assert out.rtp[key].reset_index(drop=True).equals(cap.rtp[key].reset_index(drop=True))
    assert summary["rtp_replaced"] == len(cap.rtp) > 1500
    rows = np.arange(len(cap.rtp))
    want = sidecar_plaintexts(name, cap._rtp_packets(rows))  # the packets as captured (TURN-carried, reassembled)
    got = out._rtp_packets(rows)
    assert all(w is not None for w in want)
    assert got == want
    if not cap.rtp.relayed.any():  # the public accessor agrees, without keys (it does not unwrap TURN)
        for frame in cap.rtp.frame.astype(int).tolist()[::40]:
            assert out.rtp_payload(frame) == cap.rtp_payload(frame), frame
    # the written packets carry no auth tag: each is shorter than the SRTP packet by its profile's tag
    profiles = webrtcpcap.handshake.associations(cap.dtls_records, cap.dtls_handshakes).srtp_profile.dropna()
    tag = srtp.Profile.from_name(str(profiles.iloc[0])).rtp_tag_len
    assert (out.rtp.payload_len.astype(int) == cap.rtp.payload_len.astype(int) - tag).all()


@pytest.mark.parametrize("name", NAMES)
def test_rtcp_table_equals_the_decrypted_rtcp_of_the_original(written, name):
    cap, summary, path = written[name]
    out = webrtcpcap.open(path, progress=False)
    key = ["frame", "index", "pt", "sender_ssrc", "length_bytes", "relayed"]
    assert out.rtcp[key].reset_index(drop=True).equals(cap.rtcp[key].reset_index(drop=True))
    assert out.rtcp.error.isna().all()
    assert summary["rtcp_replaced"] == cap.decryption.summary.srtcp_authenticated.sum() > 100


def test_the_decrypted_file_equals_chromiums_own_plaintext_dump(written):
    """Ground truth from the sender side: Chromium's RTP dump of the same session, matched by (ssrc, seq)."""
    _, _, path = written["chromium_aiortc_loss5"]
    out = webrtcpcap.open(path, progress=False)
    dump = webrtcpcap.open(CAPTURES / "chromium_aiortc_loss5.rtpdump.pcap", progress=False)
    plain = {}
    for frame, ssrc, seq in zip(dump.rtp.frame, dump.rtp.ssrc, dump.rtp.seq):
        plain.setdefault((int(ssrc), int(seq)), dump.rtp_payload(int(frame)))
    padded = out.rtp["padding"].to_numpy(dtype=bool)
    for frame, ssrc, seq, pad in zip(out.rtp.frame, out.rtp.ssrc, out.rtp.seq, padded):
        got = out.rtp_payload(int(frame))
        # The written flow still has its DTLS handshake, so rtp_payload takes it for SRTP and leaves the padding
        # (it cannot read a padding count under encryption): strip it here, as the dump's reader did.
        if pad:
            got = got[: len(got) - got[-1]]
        assert got == plain[(int(ssrc), int(seq))]


def test_ip_fragments_become_one_packet_in_the_frame_that_completed_them(written):
    cap, _, path = written["aiortc_mtu576"]
    out = webrtcpcap.open(path, progress=False)
    joined = cap.fragments[cap.fragments.reassembled_in.notna()]
    completing = set(joined.reassembled_in.astype(int)) & set(cap.rtp.frame.astype(int))
    assert len(completing) > 300
    kinds = out.packets.set_index("frame").kind
    assert all(kinds[f] == "rtp" for f in completing)
    assert not set(out.fragments.frame.astype(int)) & completing  # no longer fragments
    others = set(joined.frame.astype(int)) - set(joined.reassembled_in.astype(int))
    for frame in sorted(others)[:200]:  # the other fragments are written as they were
        assert out.frame_bytes(frame) == cap.frame_bytes(frame)


# -- tshark ------------------------------------------------------------------------------------------------------

def tshark_fields(path, fields, extra=()):
    cmd = ["tshark", "-r", str(path), *TSHARK_OPTS, *extra, "-T", "fields", "-E", "occurrence=a",
           "-E", "aggregator=,", *[a for f in fields for a in ("-e", f)]]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return [line.split("\t") for line in done.stdout.splitlines()]


@TSHARK
@pytest.mark.parametrize("name", NAMES)
def test_tshark_decodes_rtp_and_rtcp_with_good_checksums_on_every_rewritten_frame(written, name):
    cap, _, path = written[name]
    ports = sorted(set(cap.rtp.dport.astype(int)) | set(cap.rtp.sport.astype(int)))
    decode_as = [a for p in ports for a in ("-d", f"udp.port=={p},rtp")]
    if cap.rtp.relayed.any():  # TURN: RTP inside ChannelData (Wireshark's heuristic for it is off by default)
        decode_as = ["--enable-heuristic", "rtp_stun"]
    rows = tshark_fields(path, ["frame.number", "udp.checksum.status", "ip.checksum.status", "rtp.ssrc", "rtp.seq",
                                "rtcp.pt", "_ws.expert.message"], decode_as)
    by_frame = {int(r[0]): r for r in rows}
    assert len(by_frame) == len(cap)
    rtp_frames = cap.rtp.frame.astype(int).tolist()
    for frame, ssrc, seq in zip(rtp_frames, cap.rtp.ssrc.tolist(), cap.rtp.seq.tolist()):
        r = by_frame[frame]
        assert r[1] == GOOD and r[2] == GOOD, (frame, r)
        assert int(r[3], 16) == ssrc and int(r[4]) == seq, (frame, r)
        assert "Malformed" not in r[6] and "checksum" not in r[6].lower(), (frame, r)
    rtcp = cap.rtcp
    for frame, group in rtcp.groupby(rtcp.frame.astype(int)):
        r = by_frame[frame]
        assert r[1] == GOOD and r[2] == GOOD, (frame, r)
        assert [int(x) for x in r[5].split(",")] == group.pt.astype(int).tolist(), (frame, r)
        assert "Malformed" not in r[6], (frame, r)


# -- crafted SDES captures: the plaintext is known --------------------------------------------------------------

KEY = bytes(range(1, 31))  # master key || salt, AES_CM_128_HMAC_SHA1_80


def protector():
    return pylibsrtp.Session(pylibsrtp.Policy(KEY, pylibsrtp.Policy.SSRC_ANY_OUTBOUND))


def crafted_call(tamper=None):
    """Two SRTP streams over IPv4 and IPv6 and one SRTCP compound: (frames, {frame: plaintext RTP packet})."""
    tx = protector()
    frames, plain = [], {}
    for i in range(12):
        p4 = rtp_packet(0x1111, seq=65530 + i, ts=160 * i, pt=111, payload=bytes([i]) * 160)  # crosses the wrap
        p6 = rtp_packet(0x2222, seq=7 + i, ts=3000 * i, pt=96, payload=bytes([0x80 | i]) * 1000, padding=4)
        frames.append(udp4(tx.protect(p4), sport=5000, dport=6000))
        plain[len(frames)] = p4
        frames.append(udp6(tx.protect(p6), sport=7000, dport=8000))
        plain[len(frames)] = p6
    sr = struct.pack(">BBHIQIII", 0x80, 200, 6, 0x1111, 1, 2, 3, 4)
    frames.append(udp4(tx.protect_rtcp(sr), sport=5000, dport=6000))
    plain[len(frames)] = sr
    if tamper is not None:
        body = bytearray(frames[tamper - 1])
        body[-1] ^= 1
        frames[tamper - 1] = bytes(body)
    return frames, plain


def test_crafted_sdes_capture_is_written_with_the_known_plaintext(tmp_path):
    frames, plain = crafted_call()
    src = write_pcap(tmp_path / "call.pcap", frames, nanosecond=True)
    cap = webrtcpcap.open(src, srtp_keys={"any": base64.b64encode(KEY).decode()}, progress=False)
    summary = writer.write_decrypted(cap, tmp_path / "out.pcap")
    assert summary["rtp_replaced"] == 24 and summary["rtcp_replaced"] == 1 and summary["unchanged"] == {}
    out = webrtcpcap.open(tmp_path / "out.pcap", progress=False)
    assert out.packets.time.tolist() == cap.packets.time.tolist()  # nanoseconds kept
    for frame, packet in plain.items():
        got = Ether(out.frame_bytes(frame))
        layer = got[IP] if IP in got else got[IPv6]
        assert bytes(got[UDP].payload) == packet
        assert got[UDP].len == 8 + len(packet)
        fixed = Ether(bytes(got))
        del fixed[UDP].chksum
        assert Ether(bytes(fixed))[UDP].chksum == got[UDP].chksum  # scapy's own checksum agrees
        if IP in got:
            assert layer.len == 28 + len(packet)
            del fixed[IP].chksum
            assert Ether(bytes(fixed))[IP].chksum == got[IP].chksum
        else:
            assert layer.plen == 8 + len(packet)


def test_a_packet_that_fails_authentication_is_written_as_it_was(tmp_path):
    frames, plain = crafted_call(tamper=5)
    src = write_pcap(tmp_path / "call.pcap", frames)
    cap = webrtcpcap.open(src, srtp_keys={"any": base64.b64encode(KEY).decode()}, progress=False)
    summary = writer.write_decrypted(cap, tmp_path / "out.pcap")
    assert summary["unchanged"] == {"not_authenticated": 1} and summary["rtp_replaced"] == 23
    out = webrtcpcap.open(tmp_path / "out.pcap", progress=False)
    assert out.frame_bytes(5) == frames[4]
    assert out.rtp_payload(7)[:1] == bytes([3])


def test_a_capture_without_keys_is_copied_frame_by_frame(tmp_path):
    src = CAPTURES / "synthetic_call.pcap"
    cap = webrtcpcap.open(src, progress=False)
    summary = writer.write_decrypted(cap, tmp_path / "copy.pcap")
    assert summary["rtp_replaced"] == summary["rtcp_replaced"] == summary["frames_rewritten"] == 0
    out = webrtcpcap.open(tmp_path / "copy.pcap", progress=False)
    assert len(out) == len(cap)
    assert out.packets.time.tolist() == cap.packets.time.tolist()
    for frame in range(1, len(cap) + 1, 7):
        assert out.frame_bytes(frame) == cap.frame_bytes(frame)


@TSHARK
def test_mixed_link_types_are_written_as_pcapng(tmp_path):
    tx = protector()
    packets = [rtp_packet(0x3333, seq=i, ts=160 * i, payload=bytes([i]) * 50) for i in range(8)]
    blocks = [shb(), idb(1, 0, tsresol=9), idb(101, 0, tsresol=9)]
    for i, p in enumerate(packets):  # Ethernet and raw IP frames alternate on two interfaces
        frame = udp4(tx.protect(p), ether=i % 2 == 0)
        blocks.append(epb(i % 2, 1_700_000_000_000_000_000 + i * 20_000_001, frame))
    src = write_pcapng(tmp_path / "mixed.pcapng", blocks)
    cap = webrtcpcap.open(src, srtp_keys={"any": KEY.hex()}, progress=False, webrtc=[6000])
    summary = writer.write_decrypted(cap, tmp_path / "out.pcapng")
    assert summary["format"] == "pcapng" and summary["rtp_replaced"] == 8
    out = webrtcpcap.open(tmp_path / "out.pcapng", progress=False, webrtc=[6000])
    assert out.format == "pcapng" and out.interfaces.linktype.tolist() == [1, 101]
    assert out.packets.interface.tolist() == [0, 1] * 4
    assert out.packets.time.tolist() == cap.packets.time.tolist()
    assert [out.rtp_payload(f) for f in range(1, 9)] == [bytes([i]) * 50 for i in range(8)]
    rows = tshark_fields(tmp_path / "out.pcapng", ["frame.number", "udp.checksum.status", "rtp.seq"],
                         ["-d", "udp.port==6000,rtp"])
    assert [(r[1], r[2]) for r in rows] == [(GOOD, str(i)) for i in range(8)]


# -- key material ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_no_key_bytes_are_in_the_written_file(written, name):
    _, _, path = written[name]
    blob = path.read_bytes()
    sidecar = json.loads((CAPTURES / f"{name}.srtp-keys.json").read_text())
    secrets = [bytes.fromhex(v) for k, v in sidecar.items() if k.endswith(("_key", "_salt"))]
    secrets += [bytes.fromhex(line.split()[2]) for line in (CAPTURES / f"{name}.keylog").read_text().splitlines()
                if line.startswith("CLIENT_RANDOM")]
    assert len(secrets) >= 5
    for secret in secrets:
        assert secret not in blob and secret.hex().encode() not in blob
        assert base64.b64encode(secret) not in blob


# -- TCP framing: left alone, counted ----------------------------------------------------------------------------

def test_media_framed_out_of_tcp_is_left_as_it_was_and_counted(tmp_path):
    name = "srtpdec_tcp_call_02_03_client"
    if not (PUBLIC_CAPTURES / f"{name}.pcap").exists():
        pytest.skip("public captures are not here")
    keys = {}
    for line in (PUBLIC_CAPTURES / f"{name}.keys.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            ssrc, key = line.split()
            keys[int(ssrc, 16)] = key
    cap = webrtcpcap.open(PUBLIC_CAPTURES / f"{name}.pcap", srtp_keys=keys, progress=False)
    summary = writer.write_decrypted(cap, tmp_path / "out.pcap")
    tcp_frames = set(cap.packets.frame[cap.packets.transport == "tcp"].astype(int))
    authentic_tcp = int((cap.rtp.auth_ok.fillna(False) & cap.rtp.frame.isin(tcp_frames)).sum())
    assert authentic_tcp > 1000
    assert summary["unchanged"].get("tcp", 0) >= authentic_tcp
    out = webrtcpcap.open(tmp_path / "out.pcap", progress=False)
    for frame in sorted(tcp_frames)[::50]:
        assert out.frame_bytes(frame) == cap.frame_bytes(frame)


# -- TURN re-wrapping --------------------------------------------------------------------------------------------

def stun_attr(atype, value):
    return struct.pack(">HH", atype, len(value)) + value + b"\0" * (-len(value) % 4)


def test_channel_data_gets_its_new_length_and_keeps_padding_only_when_it_had_some():
    inner = b"\x80" + b"x" * 20  # 21 bytes
    assert writer.rewrap_turn(struct.pack(">HH", 0x4001, 31) + b"y" * 31, inner) == \
        struct.pack(">HH", 0x4001, 21) + inner
    assert writer.rewrap_turn(struct.pack(">HH", 0x4001, 31) + b"y" * 32, inner) == \
        struct.pack(">HH", 0x4001, 21) + inner + b"\0" * 3


def test_a_send_indication_gets_new_data_no_integrity_and_a_recomputed_fingerprint():
    txid = bytes(range(12))
    peer = stun_attr(0x0012, bytes.fromhex("0001") + b"\x21\x12" + b"\x00" * 4)
    attrs = peer + stun_attr(0x0013, b"old srtp packet bytes") + stun_attr(0x0008, b"\x55" * 20)
    body = attrs + stun_attr(0x8028, b"\0" * 4)
    outer = struct.pack(">HHI", 0x0016, len(body), 0x2112A442) + txid + body
    new = writer.rewrap_turn(outer, b"\x80plain")
    want_attrs = peer + stun_attr(0x0013, b"\x80plain")
    head = struct.pack(">HHI", 0x0016, len(want_attrs) + 8, 0x2112A442) + txid
    crc = zlib.crc32(head + want_attrs) ^ 0x5354554E
    assert new == head + want_attrs + struct.pack(">HHI", 0x8028, 4, crc)


def test_an_indication_without_fingerprint_gets_none():
    txid = b"\x09" * 12
    body = stun_attr(0x0013, b"abc")
    outer = struct.pack(">HHI", 0x0017, len(body), 0x2112A442) + txid + body
    assert writer.rewrap_turn(outer, b"defgh") == \
        struct.pack(">HHI", 0x0017, 12, 0x2112A442) + txid + stun_attr(0x0013, b"defgh")


def test_a_turn_message_without_data_is_a_decode_error():
    outer = struct.pack(">HHI", 0x0001, 0, 0x2112A442) + b"\0" * 12
    with pytest.raises(DecodeError, match="no DATA attribute"):
        writer.rewrap_turn(outer, b"x")
    with pytest.raises(DecodeError, match="ChannelData"):
        writer.rewrap_turn(b"\x40\x00", b"x")


# -- frames ------------------------------------------------------------------------------------------------------

def test_ipv4_options_are_kept_and_lengths_fixed():
    pkt = Ether() / IP(src="10.1.1.1", dst="10.2.2.2", options=b"\x94\x04\x00\x00") / UDP(sport=1, dport=2) / (b"s" * 40)
    new = Ether(writer.rebuild_frame(bytes(pkt), 1, b"p" * 25, False, (0, 0)))
    assert new[IP].ihl == 6 and bytes(new[UDP].payload) == b"p" * 25 and new[IP].len == 24 + 8 + 25
    ref = Ether(bytes(new))
    del ref[IP].chksum, ref[UDP].chksum
    ref = Ether(bytes(ref))
    assert (ref[IP].chksum, ref[UDP].chksum) == (new[IP].chksum, new[UDP].chksum)


def test_ipv6_extension_headers_are_kept_and_the_payload_length_fixed():
    pkt = IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrDestOpt() / UDP(sport=1, dport=2) / (b"s" * 40)
    new = IPv6(writer.rebuild_frame(bytes(pkt), 229, b"p" * 25, False, (0, 0)))
    assert IPv6ExtHdrDestOpt in new and new.plen == 8 + 8 + 25 and bytes(new[UDP].payload) == b"p" * 25
    ref = IPv6(bytes(new))
    del ref[UDP].chksum
    assert IPv6(bytes(ref))[UDP].chksum == new[UDP].chksum


def test_a_completing_ipv4_fragment_becomes_the_whole_datagram():
    whole = IP(src="10.1.1.1", dst="10.2.2.2", id=77, flags="DF") / UDP(sport=1000, dport=2000) / (b"c" * 900)
    whole = IP(bytes(whole))
    whole.flags = 0
    pieces = fragment(whole, fragsize=400)
    last = bytes(Ether() / pieces[-1])
    joined = bytes(whole[UDP].payload)  # the UDP payload of the reassembled datagram
    new = Ether(writer.rebuild_frame(last, 1, b"p" * 850, False, (1000, 2000), joined))
    assert new[IP].flags == 0 and new[IP].frag == 0 and new[IP].len == 20 + 8 + 850 and new[IP].id == 77
    assert (new[UDP].sport, new[UDP].dport, bytes(new[UDP].payload)) == (1000, 2000, b"p" * 850)
    ref = Ether(bytes(new))
    del ref[IP].chksum, ref[UDP].chksum
    ref = Ether(bytes(ref))
    assert (ref[IP].chksum, ref[UDP].chksum) == (new[IP].chksum, new[UDP].chksum)
    with pytest.raises(DecodeError, match="reassembled"):
        writer.rebuild_frame(last, 1, b"p", False, (1, 2))


def test_a_completing_ipv6_fragment_loses_its_fragment_header():
    frag = IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrFragment(offset=100, m=0, id=5, nh=17) / (b"z" * 64)
    new = IPv6(writer.rebuild_frame(bytes(frag), 229, b"p" * 30, False, (5, 6), b"ignored"))
    assert IPv6ExtHdrFragment not in new and new.nh == 17 and new.plen == 38
    assert (new[UDP].sport, new[UDP].dport, bytes(new[UDP].payload)) == (5, 6, b"p" * 30)
    ref = IPv6(bytes(new))
    del ref[UDP].chksum
    assert IPv6(bytes(ref))[UDP].chksum == new[UDP].chksum


def test_a_relayed_packet_is_rewrapped_inside_its_channel_data():
    outer = struct.pack(">HH", 0x4000, 30) + b"e" * 30
    pkt = Ether() / IP(src="10.1.1.1", dst="10.2.2.2") / UDP(sport=3478, dport=50000) / outer
    new = Ether(writer.rebuild_frame(bytes(pkt), 1, b"\x80" * 20, True, (0, 0)))
    assert bytes(new[UDP].payload) == struct.pack(">HH", 0x4000, 20) + b"\x80" * 20


def test_frames_that_are_not_ip_udp_are_decode_errors():
    with pytest.raises(DecodeError, match="not IP"):
        writer.rebuild_frame(bytes(Ether(type=0x0806) / (b"\0" * 28)), 1, b"x", False, (0, 0))
    with pytest.raises(DecodeError, match="not UDP"):
        writer.rebuild_frame(bytes(IP(proto=6) / (b"\0" * 20)), 101, b"x", False, (0, 0))
    with pytest.raises(DecodeError, match="link type 147"):
        writer.rebuild_frame(b"\0" * 40, 147, b"x", False, (0, 0))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120), st.sampled_from([0, 1, 101, 113, 228, 229, 276]), st.booleans(),
       st.binary(max_size=40))
def test_rebuild_frame_of_random_bytes_gives_bytes_or_decode_error(frame, linktype, relayed, plaintext):
    try:
        assert isinstance(writer.rebuild_frame(frame, linktype, plaintext, relayed, (1, 2), b""), bytes)
    except DecodeError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=100), st.binary(max_size=40))
def test_rewrap_turn_of_random_bytes_gives_bytes_or_decode_error(outer, inner):
    try:
        assert isinstance(writer.rewrap_turn(outer, inner), bytes)
    except DecodeError:
        pass
