"""Link layers, IPv4/IPv6 (extension headers, fragments), UDP and ICMP: every column of the rows they produce."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from scapy.layers.inet import ICMP, IP, UDP, fragment
from scapy.layers.inet6 import (ICMPv6DestUnreach, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment,
                                IPv6ExtHdrHopByHop, fragment6)
from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Ether
from scapy.packet import Raw

from webrtcpcap.net import layers as net
from webrtcpcap.tables import schema as tables

from conftest import (A4, A6, B4, B6, assert_row, packets_row, default_time_ns, open_quiet, row_of, rtcp_pli, rtcp_sdes,
                      rtcp_sr, rtp_packet, stun_message, utc, write_pcap)

ETH = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def _ethertype(pkt) -> int:
    return 0x0800 if isinstance(pkt, IP) else 0x86DD


def _af(pkt, v6_family: int) -> int:
    return 2 if isinstance(pkt, IP) else v6_family


# linktype -> how an IP packet (scapy) is wrapped into a frame of that link type
LINKS = {
    "ethernet": (1, lambda p: bytes(Ether(**ETH) / p)),
    "ethernet-802.1q": (1, lambda p: bytes(Ether(**ETH) / Dot1Q(vlan=5) / p)),
    "ethernet-qinq-802.1ad": (1, lambda p: bytes(Ether(**ETH, type=0x88A8) / Dot1AD(vlan=100) / Dot1Q(vlan=5) / p)),
    "linux-sll": (113, lambda p: bytes(CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6, src=b"\x02" * 6 + b"\0\0",
                                                   proto=_ethertype(p)) / p)),
    "linux-sll2": (276, lambda p: bytes(CookedLinuxV2(proto=_ethertype(p), ifindex=2, pkttype=0, lladdrlen=6,
                                                      src=b"\x02" * 6 + b"\0\0") / p)),
    "raw-dlt12": (12, bytes),
    "raw-dlt14": (14, bytes),
    "raw-101": (101, bytes),
    "ipv4-228": (228, bytes),
    "ipv6-229": (229, bytes),
    "null-little-endian": (0, lambda p: struct.pack("<I", _af(p, 24)) + bytes(p)),
    "null-big-endian": (0, lambda p: struct.pack(">I", _af(p, 30)) + bytes(p)),
    "null-linux-af-inet6": (0, lambda p: struct.pack("<I", _af(p, 10)) + bytes(p)),
    "loop-108": (108, lambda p: struct.pack(">I", _af(p, 24)) + bytes(p)),
}

SSRC = 0x0BADCAFE
PEER_SSRC = 0x99AABBCC


def _ip(version: int, src_is_a: bool, payload: bytes, sport=40000, dport=50000):
    if version == 4:
        a, b = (A4, B4) if src_is_a else (B4, A4)
        return IP(src=a, dst=b) / UDP(sport=sport if src_is_a else dport, dport=dport if src_is_a else sport) / payload
    a, b = (A6, B6) if src_is_a else (B6, A6)
    # Two extension headers before UDP: the decoder must walk them to find the transport.
    return (IPv6(src=a, dst=b) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt()
            / UDP(sport=sport if src_is_a else dport, dport=dport if src_is_a else sport) / payload)


def _call_payloads():
    rtp = rtp_packet(SSRC, seq=4242, ts=123456789, pt=96, marker=True, payload=b"\x55" * 33, csrcs=(7, 8),
                     ext_profile=0xBEDE, ext=b"\x10\xff\x00\x00", padding=3)
    rtcp = rtcp_sr(SSRC) + rtcp_sdes(PEER_SSRC) + rtcp_pli(SSRC, PEER_SSRC)
    return [(True, stun_message(0x0001)), (False, stun_message(0x0101, attributes=b"\x80\x22\x00\x04abcd")),
            (True, rtp), (True, rtcp)]


@pytest.mark.parametrize("version", [4, 6])
@pytest.mark.parametrize("link", list(LINKS))
def test_every_link_type_gives_every_packets_rtp_and_rtcp_column(link, version, tmp_path):
    linktype, wrap = LINKS[link]
    if (linktype == 228 and version == 6) or (linktype == 229 and version == 4):
        pytest.skip("this link type carries only the other IP version")
    payloads = _call_payloads()
    frames = [wrap(_ip(version, a, p)) for a, p in payloads]
    times = [default_time_ns(0) + k * 1_234_567 for k in range(len(frames))]
    cap = open_quiet(write_pcap(tmp_path / "c.pcap", frames, linktype, times_ns=times, nanosecond=True))
    a, b = (A4, B4) if version == 4 else (A6, B6)
    assert len(cap.packets) == 4
    kinds = ["stun", "stun", "rtp", "rtcp"]
    for i, ((from_a, payload), frame) in enumerate(zip(payloads, frames)):
        assert_row(packets_row(cap, i + 1), {
            "frame": i + 1, "time": utc(times[i]), "t": (times[i] - times[0]) / 1e9, "caplen": len(frame),
            "len": len(frame), "interface": 0, "ip_version": version, "dscp": 0, "ecn": 0, "src": a if from_a else b,
            "dst": b if from_a else a, "sport": 40000 if from_a else 50000, "dport": 50000 if from_a else 40000,
            "transport": "udp", "kind": kinds[i], "payload_len": len(payload), "flow": 0, "evidence": "stun",
            "error": None, "reassembled_in": None, "icmp_type": None, "icmp_code": None, "icmp_quoted": None,
        }, tables.PACKETS_SCHEMA)

    rtp_payload = payloads[2][1]
    assert len(cap.rtp) == 1
    assert_row(row_of(cap.rtp, 3), {
        "frame": 3, "t": (times[2] - times[0]) / 1e9, "src": a, "dst": b, "sport": 40000, "dport": 50000,
        "ssrc": SSRC, "pt": 96, "seq": 4242, "ts": 123456789, "marker": True, "padding": True, "extension": True,
        "csrc_count": 2, "ext_profile": 0xBEDE, "payload_offset": 12 + 8 + 4 + 4,
        "payload_len": len(rtp_payload) - 28, "flow": 0, "dtls_srtp": False, "error": None,
        "relayed": False, "relay": None, "peer": None,
    }, tables.RTP_SCHEMA)

    sr, sdes = len(rtcp_sr()), len(rtcp_sdes())
    common = {"frame": 4, "t": (times[3] - times[0]) / 1e9, "src": a, "dst": b, "sport": 40000, "dport": 50000,
              "padding": False, "flow": 0, "dtls_srtp": False, "error": None, "relayed": False, "relay": None,
              "peer": None}
    assert len(cap.rtcp) == 3
    assert_row(row_of(cap.rtcp, 4, 0), {**common, "index": 0, "pt": 200, "count": 0, "fmt": None,
                                        "sender_ssrc": SSRC, "length_bytes": sr, "offset": 0}, tables.RTCP_SCHEMA)
    assert_row(row_of(cap.rtcp, 4, 1), {**common, "index": 1, "pt": 202, "count": 1, "fmt": None,
                                        "sender_ssrc": PEER_SSRC, "length_bytes": sdes, "offset": sr},
               tables.RTCP_SCHEMA)
    assert_row(row_of(cap.rtcp, 4, 2), {**common, "index": 2, "pt": 206, "count": None, "fmt": 1,
                                        "sender_ssrc": SSRC, "length_bytes": 12, "offset": sr + sdes},
               tables.RTCP_SCHEMA)


def test_flows_table_names_both_ends_with_the_first_sender_as_a(tmp_path):
    linktype, wrap = LINKS["ethernet"]
    payloads = _call_payloads()
    times = [default_time_ns(k) for k in range(4)]
    cap = open_quiet(write_pcap(tmp_path / "c.pcap", [wrap(_ip(4, a, p)) for a, p in payloads], linktype,
                                times_ns=times, nanosecond=True))
    assert len(cap.flows) == 1
    assert_row(cap.flows.iloc[0], {"flow": 0, "transport": "udp", "a": A4, "a_port": 40000, "b": B4,
                                   "b_port": 50000, "evidence": "stun", "packets": 4, "first_t": 0.0,
                                   "last_t": (times[3] - times[0]) / 1e9}, tables.FLOWS_SCHEMA)


# --- fragments ----------------------------------------------------------------------------------------------------


def _stun_then(datagram_frames, version=4):
    """A STUN exchange on the 5-tuple first, so the reassembled datagram's flow has evidence."""
    if version == 4:
        stun = [Ether(**ETH) / IP(src=A4, dst=B4) / UDP(sport=40000, dport=50000) / stun_message()]
    else:
        stun = [Ether(**ETH) / IPv6(src=A6, dst=B6) / UDP(sport=40000, dport=50000) / stun_message()]
    return [bytes(p) for p in stun] + [bytes(Ether(**ETH) / f) for f in datagram_frames]


BIG_RTP = rtp_packet(SSRC, seq=7, ts=70, pt=96, payload=bytes(range(256)) * 10)


def _v4_fragments():
    frags = fragment(IP(src=A4, dst=B4, id=0x4242) / UDP(sport=40000, dport=50000) / BIG_RTP, fragsize=1000)
    assert len(frags) == 3
    return frags


def _v6_fragments():
    pkt = IPv6(src=A6, dst=B6) / IPv6ExtHdrFragment(id=0x1234) / UDP(sport=40000, dport=50000) / BIG_RTP
    frags = fragment6(pkt, 1200)
    assert len(frags) == 3
    return frags


@pytest.mark.parametrize("version", [4, 6])
@pytest.mark.parametrize("order", ["in-order", "reversed", "last-first"])
def test_fragmented_rtp_is_reassembled_in_the_completing_frame(version, order, tmp_path):
    frags = _v4_fragments() if version == 4 else _v6_fragments()
    idx = {"in-order": [0, 1, 2], "reversed": [2, 1, 0], "last-first": [2, 0, 1]}[order]
    frames = _stun_then([frags[i] for i in idx], version)
    cap = open_quiet(write_pcap(tmp_path / "f.pcap", frames, nanosecond=True))
    completing = 4  # the datagram is whole only once the third fragment is in
    a, b = (A4, B4) if version == 4 else (A6, B6)
    for frame in (2, 3):
        assert_row(packets_row(cap, frame), {
            "kind": "ip-fragment", "reassembled_in": completing, "ip_version": version, "src": a, "dst": b,
            "sport": None, "dport": None, "error": None, "caplen": len(frames[frame - 1]),
            "len": len(frames[frame - 1])})
    assert_row(packets_row(cap, completing), {
        "kind": "rtp", "transport": "udp", "sport": 40000, "dport": 50000, "payload_len": len(BIG_RTP),
        "evidence": "stun", "error": None, "reassembled_in": completing, "ip_version": version})
    assert_row(row_of(cap.rtp, completing), {"ssrc": SSRC, "seq": 7, "ts": 70, "pt": 96, "payload_offset": 12,
                                             "payload_len": len(BIG_RTP) - 12, "error": None})
    assert list(cap.rtp["frame"]) == [completing]
    # The flow of the reassembled datagram is the STUN flow.
    assert row_of(cap.packets, completing)["flow"] == row_of(cap.packets, 1)["flow"]


@pytest.mark.parametrize("version", [4, 6])
def test_fragmented_datagram_missing_a_piece_gets_an_error_on_every_fragment(version, tmp_path):
    frags = _v4_fragments() if version == 4 else _v6_fragments()
    frames = _stun_then([frags[0], frags[2]], version)
    cap = open_quiet(write_pcap(tmp_path / "f.pcap", frames))
    for frame in (2, 3):
        assert_row(packets_row(cap, frame), {
            "kind": "ip-fragment", "reassembled_in": None,
            "error": "IP fragment: datagram never completed in this capture"})
    assert len(cap.rtp) == 0


# --- ICMP ------------------------------------------------------------------------------------------------------


def test_icmp_port_unreachable_names_the_quoted_udp_datagram(tmp_path):
    quoted = IP(src=A4, dst=B4) / UDP(sport=40000, dport=50000) / rtp_packet()
    icmp = Ether(**ETH) / IP(src=B4, dst=A4) / ICMP(type=3, code=3) / bytes(quoted)[:28 + 12]
    frame = bytes(icmp)
    cap = open_quiet(write_pcap(tmp_path / "i.pcap", [frame], nanosecond=True))
    assert_row(packets_row(cap, 1), {
        "frame": 1, "time": utc(default_time_ns(0)), "t": 0.0, "caplen": len(frame), "len": len(frame),
        "interface": 0, "ip_version": 4, "dscp": 0, "ecn": 0, "src": B4, "dst": A4, "sport": None, "dport": None,
        "transport": "icmp",
        "kind": "icmp", "payload_len": None, "flow": None, "evidence": None, "error": None, "reassembled_in": None,
        "icmp_type": 3, "icmp_code": 3, "icmp_quoted": f"udp {A4}:40000 > {B4}:50000",
    }, tables.PACKETS_SCHEMA)
    assert len(cap.rtp) == 0


def test_icmpv6_port_unreachable_names_the_quoted_udp_datagram(tmp_path):
    quoted = IPv6(src=A6, dst=B6) / UDP(sport=40000, dport=50000) / rtp_packet()
    frame = bytes(Ether(**ETH) / IPv6(src=B6, dst=A6) / ICMPv6DestUnreach(code=4) / Raw(bytes(quoted)))
    cap = open_quiet(write_pcap(tmp_path / "i.pcap", [frame]))
    assert_row(packets_row(cap, 1), {
        "ip_version": 6, "transport": "icmpv6", "kind": "icmp", "icmp_type": 1, "icmp_code": 4,
        "icmp_quoted": f"udp [{A6}]:40000 > [{B6}]:50000", "error": None, "sport": None})


# --- damaged headers ----------------------------------------------------------------------------------------------


def test_snaplen_cut_rtp_keeps_the_headers_that_were_captured(tmp_path):
    frames = [bytes(Ether(**ETH) / IP(src=A4, dst=B4) / UDP(sport=40000, dport=50000) / p)
              for p in [stun_message(), rtp_packet(SSRC, seq=9, payload=b"\x01" * 200)]]
    keep = 14 + 20 + 8 + 12  # Ethernet, IPv4, UDP and the RTP fixed header
    path = write_pcap(tmp_path / "s.pcap", frames, snaplen=keep, caplens=[len(frames[0]), keep])
    cap = open_quiet(path)
    assert_row(row_of(cap.packets, 2), {
        "caplen": keep, "len": len(frames[1]), "ip_version": 4, "src": A4, "dst": B4, "sport": 40000,
        "dport": 50000, "transport": "udp", "payload_len": 12 + 200, "error": "truncated by snaplen"})
    # The RTP fixed header was captured: its fields are known even though the payload is not.
    assert row_of(cap.packets, 2)["kind"] == "rtp"
    assert_row(row_of(cap.rtp, 2), {"ssrc": SSRC, "seq": 9, "payload_offset": 12, "payload_len": 200})


def test_snaplen_cut_inside_the_ip_header_keeps_the_link_facts(tmp_path):
    frame = bytes(Ether(**ETH) / IP(src=A4, dst=B4) / UDP(sport=40000, dport=50000) / rtp_packet())
    cap = open_quiet(write_pcap(tmp_path / "s.pcap", [frame], snaplen=20, caplens=[20]))
    assert_row(row_of(cap.packets, 1), {"caplen": 20, "len": len(frame), "error": "truncated by snaplen",
                                        "sport": None, "dport": None, "kind": "other"})


def test_unknown_link_type_rows_name_the_link_type(tmp_path):
    frame = bytes(IP(src=A4, dst=B4) / UDP(sport=1, dport=2) / b"x")
    cap = open_quiet(write_pcap(tmp_path / "u.pcap", [frame, frame], linktype=147))
    assert len(cap.packets) == 2
    assert set(cap.packets["error"].astype(str)) == {"unknown link type 147"}
    assert set(cap.packets["kind"].astype(str)) == {"non-ip"}


def test_ip_total_length_beyond_the_frame_is_an_error_not_a_crash(tmp_path):
    pkt = IP(src=A4, dst=B4, len=400) / UDP(sport=40000, dport=50000) / b"abcd"
    cap = open_quiet(write_pcap(tmp_path / "l.pcap", [bytes(Ether(**ETH) / pkt)]))
    assert row_of(cap.packets, 1)["error"] == "IP total length exceeds the frame"


def test_udp_length_field_smaller_than_8_is_an_error(tmp_path):
    pkt = IP(src=A4, dst=B4) / UDP(sport=40000, dport=50000, len=5) / b"abcd"
    cap = open_quiet(write_pcap(tmp_path / "l.pcap", [bytes(Ether(**ETH) / pkt)]))
    assert row_of(cap.packets, 1)["error"] == "UDP length field is invalid"


def test_ethernet_frame_with_a_non_ip_ethertype_is_non_ip(tmp_path):
    frame = bytes(Ether(**ETH, type=0x0806) / (b"\x00" * 28))
    cap = open_quiet(write_pcap(tmp_path / "a.pcap", [frame]))
    assert_row(row_of(cap.packets, 1), {"kind": "non-ip", "ip_version": None, "src": None, "error": None})


@pytest.mark.parametrize("version", [4, 6])
def test_dscp_and_ecn_are_the_traffic_class_byte_of_every_ip_frame(version, tmp_path):
    # (DSCP, ECN): default / Not-ECT, EF / ECT(1) (L4S), AF41 / ECT(0), CS1 / CE, and the byte's extremes.
    marks = [(0, 0), (46, 1), (34, 2), (8, 3), (63, 3), (1, 0)]
    frames = []
    for dscp, ecn in marks:
        ip = (IP(src=A4, dst=B4, tos=dscp << 2 | ecn) if version == 4 else
              IPv6(src=A6, dst=B6, tc=dscp << 2 | ecn, fl=0xABCDE))  # a flow label beside it must not leak in
        frames.append(bytes(Ether(**ETH) / ip / UDP(sport=40000, dport=50000) / rtp_packet()))
    frames.append(bytes(Ether(**ETH, type=0x0806) / (b"\x00" * 28)))  # ARP: no IP header
    frames.append(bytes(Ether(**ETH) / IP(src=A4, dst=B4, tos=0xB9))[:14 + 12])  # IPv4 header cut short
    cap = open_quiet(write_pcap(tmp_path / "ecn.pcap", frames))
    packets = cap.packets
    assert str(packets["dscp"].dtype) == "UInt8" and str(packets["ecn"].dtype) == "UInt8"
    assert packets["dscp"].tolist()[:len(marks)] == [d for d, _ in marks]
    assert packets["ecn"].tolist()[:len(marks)] == [e for _, e in marks]
    assert packets["dscp"].isna().tolist()[len(marks):] == [True, True]
    assert packets["ecn"].isna().tolist()[len(marks):] == [True, True]
    assert list(packets.columns[:9]) == ["frame", "time", "t", "caplen", "len", "interface", "ip_version", "dscp",
                                         "ecn"]


# -- Internet checksums ------------------------------------------------------------------------------------------

def test_internet_checksum_of_rfc_1071_example():
    # RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2, whose complement is 220d
    assert net.internet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D
    assert net.internet_checksum(bytes.fromhex("0001f2"), bytes.fromhex("03f4f5f6f7")) == 0x220D  # parts joined
    assert net.internet_checksum(b"") == 0xFFFF
    assert net.internet_checksum(b"\x01") == 0xFEFF  # an odd length is padded with a zero byte


def test_checksum_after_a_change_equals_the_recomputed_one():
    # RFC 1624: an address rewritten in a datagram; the incremental checksum must be the one computed afresh.
    rng = np.random.default_rng(7)
    for _ in range(200):
        data = bytearray(rng.integers(0, 256, 2 * int(rng.integers(4, 40)), dtype=np.uint8).tobytes())
        at = 2 * int(rng.integers(0, len(data) // 2 - 1))
        new = rng.integers(0, 256, 2, dtype=np.uint8).tobytes()
        old_sum = net.internet_checksum(data)
        old = bytes(data[at:at + 2])
        data[at:at + 2] = new
        adjusted, fresh = net.checksum_after_change(old_sum, old, new), net.internet_checksum(data)
        assert adjusted == fresh or {adjusted, fresh} == {0x0000, 0xFFFF}  # the two zeros of ones' complement


def test_pseudo_headers_of_both_ip_versions():
    v4 = net.pseudo_header(bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]), net.IPPROTO_UDP, 28)
    assert v4 == bytes([10, 0, 0, 1, 10, 0, 0, 2, 0, 17, 0, 28])
    v6 = net.pseudo_header(b"\x20" * 16, b"\x30" * 16, net.IPPROTO_UDP, 70000)
    assert v6 == b"\x20" * 16 + b"\x30" * 16 + (70000).to_bytes(4, "big") + b"\0\0\0\x11"


def test_endpoint_brackets_ipv6_only():
    assert net.endpoint("10.0.0.1", 5000) == "10.0.0.1:5000"
    assert net.endpoint("2001:db8::1", np.uint16(443)) == "[2001:db8::1]:443"
