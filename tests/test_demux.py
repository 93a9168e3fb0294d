"""Per-flow demultiplexing: what counts as evidence, what never does, and forcing flows either way."""

from __future__ import annotations

import random
import struct

import pytest
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.layers.ntp import NTP

from conftest import (A4, B4, classic_stun, dtls_client_hello, open_quiet, row_of, rtcp_rr, rtcp_sdes, rtcp_sr,
                      rtp_packet, stun_message, udp4, write_pcap)

WEBRTC_KINDS = {"stun", "dtls", "rtp", "rtcp", "turn-channel", "zrtp"}


def _kinds(cap):
    return list(cap.packets["kind"].astype(str))


def _evidence(cap):
    return [None if v != v else v for v in cap.packets["evidence"].astype(object)]


# --- evidence ---------------------------------------------------------------------------------------------------


def test_lone_rtp_packet_is_other_without_flow_evidence(tmp_path):
    cap = open_quiet(write_pcap(tmp_path / "c.pcap", [udp4(rtp_packet())]))
    assert _kinds(cap) == ["other"]
    assert _evidence(cap) == [None]
    assert len(cap.rtp) == 0


def test_stun_with_magic_cookie_makes_its_flow_webrtc(tmp_path):
    frames = [udp4(rtp_packet(seq=1)), udp4(stun_message()), udp4(rtp_packet(seq=2))]
    cap = open_quiet(write_pcap(tmp_path / "c.pcap", frames))
    # Evidence is per flow: the RTP packet before the STUN message is RTP too.
    assert _kinds(cap) == ["rtp", "stun", "rtp"]
    assert _evidence(cap) == ["stun"] * 3


def test_stun_on_another_five_tuple_is_no_evidence(tmp_path):
    frames = [udp4(stun_message(), sport=5001), udp4(rtp_packet(seq=1), sport=5000)]
    cap = open_quiet(write_pcap(tmp_path / "c.pcap", frames))
    assert _kinds(cap) == ["stun", "other"]
    assert _evidence(cap) == ["stun", None]


def test_stun_whose_length_does_not_match_the_datagram_is_no_evidence(tmp_path):
    bad = stun_message()[:2] + struct.pack(">H", 8) + stun_message()[4:]  # claims 8 attribute bytes, has none
    cap = open_quiet(write_pcap(tmp_path / "c.pcap", [udp4(bad), udp4(rtp_packet())]))
    assert _kinds(cap) == ["other", "other"]


def test_dtls_handshake_makes_its_flow_webrtc(tmp_path):
    frames = [udp4(dtls_client_hello()), udp4(rtp_packet(seq=5)), udp4(rtcp_rr())]
    cap = open_quiet(write_pcap(tmp_path / "c.pcap", frames))
    assert _kinds(cap) == ["dtls", "rtp", "rtcp"]
    assert _evidence(cap) == ["dtls"] * 3
    # A DTLS handshake on the flow means the media is SRTP.
    assert list(cap.rtp["dtls_srtp"]) == [True]
    assert list(cap.rtcp["dtls_srtp"]) == [True]


def test_five_rtp_packets_of_one_ssrc_with_advancing_seq_are_evidence(tmp_path):
    frames = [udp4(rtp_packet(seq=65533 + i)) for i in range(5)]  # wraps around 65535 -> 0
    cap = open_quiet(write_pcap(tmp_path / "c.pcap", frames))
    assert _kinds(cap) == ["rtp"] * 5
    assert _evidence(cap) == ["rtp"] * 5
    assert list(cap.rtp["seq"]) == [65533, 65534, 65535, 0, 1]


def test_four_rtp_packets_are_not_enough_evidence(tmp_path):
    cap = open_quiet(write_pcap(tmp_path / "c.pcap", [udp4(rtp_packet(seq=i)) for i in range(4)]))
    assert _kinds(cap) == ["other"] * 4


def test_rtp_lookalikes_with_jumping_seq_are_not_evidence(tmp_path):
    frames = [udp4(rtp_packet(seq=s)) for s in (1, 20000, 40000, 60000, 15000, 35000)]
    cap = open_quiet(write_pcap(tmp_path / "c.pcap", frames))
    assert set(_kinds(cap)) == {"other"}


def test_rtp_lookalikes_with_changing_ssrc_are_not_evidence(tmp_path):
    frames = [udp4(rtp_packet(ssrc=0x1000 + i, seq=i)) for i in range(8)]
    cap = open_quiet(write_pcap(tmp_path / "c.pcap", frames))
    assert set(_kinds(cap)) == {"other"}


def test_one_rtcp_compound_that_chains_exactly_is_evidence(tmp_path):
    frames = [udp4(rtcp_sr() + rtcp_sdes()), udp4(rtp_packet())]
    cap = open_quiet(write_pcap(tmp_path / "c.pcap", frames))
    assert _kinds(cap) == ["rtcp", "rtp"]
    assert _evidence(cap) == ["rtcp", "rtcp"]


def test_rtcp_compound_that_does_not_chain_is_no_evidence(tmp_path):
    frames = [udp4(rtcp_sr() + b"\x00" * 7), udp4(rtp_packet())]
    cap = open_quiet(write_pcap(tmp_path / "c.pcap", frames))
    assert _kinds(cap) == ["other", "other"]


def test_evidence_covers_both_directions_of_the_flow(tmp_path):
    frames = [udp4(stun_message()), udp4(rtp_packet(), src=B4, dst=A4, sport=6000, dport=5000)]
    cap = open_quiet(write_pcap(tmp_path / "c.pcap", frames))
    assert _kinds(cap) == ["stun", "rtp"]
    assert cap.packets["flow"].nunique() == 1


def test_packets_flow_names_the_row_of_the_flows_table(tmp_path):
    frames = [udp4(stun_message()), udp4(rtp_packet(), sport=7000), udp4(stun_message(), src=B4, dst=A4,
              sport=5001, dport=5000), udp4(rtp_packet(), src=B4, dst=A4, sport=6000, dport=5000)]
    cap = open_quiet(write_pcap(tmp_path / "c.pcap", frames))
    flow = cap.packets["flow"]
    assert str(flow.dtype) == "category" and flow.tolist() == [0, 1, 2, 0]
    assert list(flow.cat.categories) == cap.flows["flow"].tolist()
    counts = flow.value_counts().sort_index()
    assert counts.tolist() == cap.flows["packets"].tolist()
    joined = cap.packets.merge(cap.flows[["flow", "a_port"]], on="flow", how="left")
    assert joined["a_port"].tolist() == [5000, 7000, 5001, 5000]


def test_turn_channel_data_on_a_stun_flow(tmp_path):
    channel = struct.pack(">HH", 0x4001, 4) + b"abcd"
    cap = open_quiet(write_pcap(tmp_path / "c.pcap", [udp4(stun_message()), udp4(channel)]))
    assert _kinds(cap) == ["stun", "turn-channel"]


def test_second_byte_192_to_223_on_a_webrtc_flow_is_rtcp_not_rtp(tmp_path):
    # RFC 5761 §4: on a muxed flow, second byte 200..204 (PT 72..76 with the marker bit) is RTCP.
    frames = [udp4(stun_message())] + [udp4(bytes([0x80, pt]) + b"\x00\x01" + b"\x00" * 4) for pt in range(192, 224)]
    cap = open_quiet(write_pcap(tmp_path / "c.pcap", frames))
    assert set(_kinds(cap)[1:]) == {"rtcp"}


# --- negatives ------------------------------------------------------------------------------------------------------

RNG_SEED = 20240601


def _dns_frames(rng, port=53, dst="8.8.8.8", n=40, multicast=False):
    frames = []
    client_port = rng.randrange(1024, 65535)
    for i in range(n):
        ident = rng.randrange(65536)
        name = f"host{rng.randrange(1000)}.example.com"
        q = DNS(id=0 if multicast else ident, rd=1, qd=DNSQR(qname=name))
        r = DNS(id=0 if multicast else ident, qr=1, aa=1, qd=DNSQR(qname=name),
                an=DNSRR(rrname=name, rdata="192.0.2.%d" % rng.randrange(256)))
        sport = port if multicast else client_port
        frames.append(udp4(bytes(q), src=A4, dst=dst, sport=sport, dport=port))
        frames.append(udp4(bytes(r), src=dst if not multicast else B4, dst=A4 if not multicast else dst,
                           sport=port, dport=sport))
    return frames


def _ntp_frames(rng, n=30):
    frames = []
    for i in range(n):
        frames.append(udp4(bytes(NTP(version=4, mode=3, orig=None)), src=A4, dst="192.0.2.123", sport=123,
                           dport=123))
        frames.append(udp4(bytes(NTP(version=4, mode=4, stratum=2)), src="192.0.2.123", dst=A4, sport=123,
                           dport=123))
    return frames


def _quic_frames(rng, n=30):
    frames = []
    dcid = bytes(rng.randrange(256) for _ in range(8))
    for i in range(n):
        # Long header (Initial, version 1), then short headers (fixed bit set, spin/key-phase bits varying).
        long_hdr = bytes([0xC0 | rng.randrange(4)]) + b"\x00\x00\x00\x01" + b"\x08" + dcid + b"\x00" \
            + bytes(rng.randrange(256) for _ in range(60))
        short = bytes([0x40 | rng.randrange(64)]) + dcid + bytes(rng.randrange(256) for _ in range(40))
        frames.append(udp4(long_hdr, src=A4, dst="192.0.2.80", sport=51000, dport=443))
        frames.append(udp4(short, src="192.0.2.80", dst=A4, sport=443, dport=51000))
    return frames


def _ssdp_frames(n=20):
    search = (b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\n"
              b"ST: ssdp:all\r\n\r\n")
    notify = b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: upnp:rootdevice\r\nNTS: ssdp:alive\r\n\r\n"
    reply = b"HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\nCACHE-CONTROL: max-age=1800\r\n\r\n"
    frames = []
    for i in range(n):
        frames.append(udp4(search, src=A4, dst="239.255.255.250", sport=1900, dport=1900))
        frames.append(udp4(notify, src=B4, dst="239.255.255.250", sport=1900, dport=1900))
        frames.append(udp4(reply, src=B4, dst=A4, sport=1900, dport=1900))
    return frames


@pytest.mark.parametrize("protocol", ["dns", "mdns", "ntp", "quic", "ssdp", "all-mixed"])
def test_common_non_webrtc_udp_is_never_a_webrtc_kind(protocol, tmp_path):
    rng = random.Random(RNG_SEED)
    makers = {
        "dns": lambda: _dns_frames(rng),
        "mdns": lambda: _dns_frames(rng, port=5353, dst="224.0.0.251", multicast=True),
        "ntp": lambda: _ntp_frames(rng),
        "quic": lambda: _quic_frames(rng),
        "ssdp": lambda: _ssdp_frames(),
    }
    if protocol == "all-mixed":
        frames = [f for make in makers.values() for f in make()]
        rng.shuffle(frames)
    else:
        frames = makers[protocol]()
    cap = open_quiet(write_pcap(tmp_path / "n.pcap", frames))
    assert len(cap.packets) == len(frames)
    assert not set(_kinds(cap)) & WEBRTC_KINDS
    assert set(_evidence(cap)) == {None}
    assert len(cap.rtp) == 0 and len(cap.rtcp) == 0


def test_random_payloads_on_fixed_ports_are_other(tmp_path):
    rng = random.Random(RNG_SEED)
    frames = [udp4(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))) for _ in range(200)]
    cap = open_quiet(write_pcap(tmp_path / "g.pcap", frames))
    assert set(_kinds(cap)) == {"other"}


def test_classic_rfc3489_stun_is_not_stun(tmp_path):
    frames = []
    for i in range(6):
        txid = bytes([i]) * 16
        frames.append(udp4(classic_stun(0x0001, txid)))
        frames.append(udp4(classic_stun(0x0101, txid), src=B4, dst=A4, sport=6000, dport=5000))
    cap = open_quiet(write_pcap(tmp_path / "c.pcap", frames))
    assert set(_kinds(cap)) == {"other"}
    assert set(_evidence(cap)) == {None}


# --- forcing --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [6000, "6000", "10.0.0.2:6000", ("10.0.0.2", 6000), "10.0.0.1:5000"])
def test_webrtc_option_forces_a_flow_without_evidence(spec, tmp_path):
    path = write_pcap(tmp_path / "c.pcap", [udp4(rtp_packet()), udp4(rtcp_rr())])
    cap = open_quiet(path, webrtc=[spec])
    assert _kinds(cap) == ["rtp", "rtcp"]
    assert _evidence(cap) == ["forced", "forced"]
    assert len(cap.rtp) == 1 and len(cap.rtcp) == 1


def test_webrtc_option_with_the_wrong_address_forces_nothing(tmp_path):
    cap = open_quiet(write_pcap(tmp_path / "c.pcap", [udp4(rtp_packet())]), webrtc=["10.9.9.9:6000"])
    assert _kinds(cap) == ["other"]


def test_webrtc_option_with_an_ipv6_endpoint(tmp_path):
    from conftest import A6, udp6

    cap = open_quiet(write_pcap(tmp_path / "c.pcap", [udp6(rtp_packet())]), webrtc=[f"[{A6}]:5000"])
    assert _kinds(cap) == ["rtp"]


def test_not_webrtc_option_overrides_evidence(tmp_path):
    frames = [udp4(stun_message()), udp4(rtp_packet()), udp4(stun_message(), sport=7000)]
    cap = open_quiet(write_pcap(tmp_path / "c.pcap", frames), not_webrtc=[5000])
    assert _kinds(cap) == ["other", "other", "stun"]
    assert _evidence(cap) == [None, None, "stun"]


def test_bad_flow_rule_is_a_value_error(tmp_path):
    path = write_pcap(tmp_path / "c.pcap", [udp4(rtp_packet())])
    with pytest.raises(ValueError, match="flow rule"):
        open_quiet(path, webrtc=["not a port"])


def test_flows_table_evidence_matches_the_packets(tmp_path):
    frames = [udp4(stun_message()), udp4(rtp_packet(), sport=5002)] + [udp4(b"x", sport=5003)]
    cap = open_quiet(write_pcap(tmp_path / "c.pcap", frames))
    flows = cap.flows.set_index("flow")
    for _, row in cap.packets.iterrows():
        fe = flows.loc[row["flow"], "evidence"]
        assert (fe != fe and row["evidence"] != row["evidence"]) or fe == row["evidence"]
    assert sorted(flows["packets"]) == [1, 1, 1]


def test_first_row_of_each_flow_is_its_sender(tmp_path):
    frames = [udp4(stun_message(), src=B4, dst=A4, sport=6000, dport=5000), udp4(stun_message())]
    cap = open_quiet(write_pcap(tmp_path / "c.pcap", frames))
    f = cap.flows.iloc[0]
    assert (str(f["a"]), f["a_port"], str(f["b"]), f["b_port"]) == (B4, 6000, A4, 5000)


def test_ethernet_padding_does_not_change_the_udp_payload(tmp_path):
    # A 2-byte UDP payload is padded to the 60-byte Ethernet minimum; the padding is not payload.
    frame = bytes(Ether() / IP(src=A4, dst=B4) / UDP(sport=5000, dport=6000) / b"hi")
    frame += b"\0" * (60 - len(frame))
    cap = open_quiet(write_pcap(tmp_path / "c.pcap", [frame]))
    assert row_of(cap.packets, 1)["payload_len"] == 2


def _reordered_seqs(n=427, window=16, first=64000, seed=7):
    """`n` sequence numbers (wrapping past 65535) shuffled inside windows of `window`: a path that reorders heavily,
    so that about half of the consecutive steps go backwards."""
    rng = random.Random(seed)
    seqs = [(first + i) % 65536 for i in range(n)]
    out = []
    for lo in range(0, n, window):
        block = seqs[lo:lo + window]
        rng.shuffle(block)
        out.extend(block)
    return out


def test_heavily_reordered_rtp_flow_is_still_rtp(tmp_path):
    seqs = _reordered_seqs()
    backwards = sum(((b - a) % 65536) > 1000 for a, b in zip(seqs, seqs[1:]))
    assert backwards > 0.3 * len(seqs)  # the old consecutive-step rule saw this as noise
    frames = [udp4(rtp_packet(seq=s, ts=160 * s)) for s in seqs]
    cap = open_quiet(write_pcap(tmp_path / "c.pcap", frames))
    assert _kinds(cap) == ["rtp"] * 427
    assert _evidence(cap) == ["rtp"] * 427
    assert sorted(cap.rtp["seq"].tolist()) == sorted(seqs)


def test_rtp_lookalikes_with_random_seq_are_not_evidence_even_when_many(tmp_path):
    # one SSRC, but sequence numbers drawn at random: their set is spread over the whole 16-bit space
    rng = random.Random(3)
    frames = [udp4(rtp_packet(seq=rng.randrange(65536))) for _ in range(400)]
    cap = open_quiet(write_pcap(tmp_path / "c.pcap", frames))
    assert set(_kinds(cap)) == {"other"}
