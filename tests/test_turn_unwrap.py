"""TURN over UDP unwrapped (RFC 8656 §11 Send/Data indications, §12 ChannelData): the relayed STUN, RTP and RTCP
become rows of `stun`, `rtp` and `rtcp` with relayed=True, the relay they came through and the far peer; crafted
frames give exact rows, recorded relayed sessions give tshark's (`--enable-heuristic rtp_stun`) inner RTP."""

from __future__ import annotations

import ipaddress
import re
import shutil
import struct
import subprocess
from functools import lru_cache

import pytest

import webrtcpcap
from webrtcpcap.tables import schema as tables

from conftest import (A4, B4, CAPTURES, PUBLIC_CAPTURES, STUN_COOKIE, assert_row, default_time_ns, open_quiet,
                      rtcp_sr, rtp_packet, row_of, stun_message, udp4, write_pcap)

SERVER_PORT, CLIENT_PORT = 3478, 5000
PEER, OTHER_PEER = ("192.0.2.7", 40000), ("192.0.2.8", 41000)


def attr(atype: int, value: bytes) -> bytes:
    return struct.pack(">HH", atype, len(value)) + value + b"\0" * (-len(value) % 4)


def xor_peer(ip: str, port: int) -> bytes:
    """XOR-PEER-ADDRESS (RFC 8656 §18.3, encoded as XOR-MAPPED-ADDRESS, RFC 8489 §14.2), IPv4."""
    addr = int(ipaddress.ip_address(ip)) ^ STUN_COOKIE
    return attr(0x0012, struct.pack(">BBHI", 0, 1, port ^ (STUN_COOKIE >> 16), addr))


def channel_data(channel: int, data: bytes, pad: bool = False) -> bytes:
    out = struct.pack(">HH", channel, len(data)) + data
    return out + b"\0" * (-len(out) % 4) if pad else out


INNER_RTP = rtp_packet(ssrc=0xCAFE0001, seq=7, ts=960, pt=111, marker=True)
INNER_RTP_ODD = rtp_packet(ssrc=0xCAFE0002, seq=9, ts=1920, pt=96, payload=b"\xbb" * 21)
INNER_CHECK = stun_message(0x0001, b"\x05" * 12, attr(0x0006, b"abcd:efgh"))
INNER_SR = rtcp_sr(ssrc=0xCAFE0003)


def _frames() -> list[bytes]:
    to_server = dict(src=A4, dst=B4, sport=CLIENT_PORT, dport=SERVER_PORT)
    to_client = dict(src=B4, dst=A4, sport=SERVER_PORT, dport=CLIENT_PORT)
    return [
        udp4(stun_message(0x0009, b"\x01" * 12, attr(0x000C, struct.pack(">HH", 0x4001, 0)) + xor_peer(*PEER)),
             **to_server),  # 1: ChannelBind request, channel 0x4001 -> PEER
        udp4(channel_data(0x4001, INNER_RTP), **to_server),  # 2: RTP to PEER
        udp4(stun_message(0x0016, b"\x02" * 12, xor_peer(*OTHER_PEER) + attr(0x0013, INNER_CHECK)),
             **to_server),  # 3: Send indication: a Binding request to OTHER_PEER
        udp4(stun_message(0x0017, b"\x03" * 12, xor_peer(*OTHER_PEER) + attr(0x0013, INNER_SR)),
             **to_client),  # 4: Data indication: an RTCP SR from OTHER_PEER
        udp4(channel_data(0x4002, INNER_RTP_ODD, pad=True), **to_client),  # 5: padded, on a channel never bound
    ]


@pytest.fixture(scope="module")
def crafted(tmp_path_factory):
    path = write_pcap(tmp_path_factory.mktemp("turn") / "turn.pcap", _frames())
    return open_quiet(path)


def _t(frame: int) -> float:
    return (default_time_ns(frame - 1, False) - default_time_ns(0, False)) / 1e9


def test_outer_frames_keep_one_packets_row_each_with_their_own_kind(crafted):
    assert crafted.packets["kind"].tolist() == ["stun", "turn-channel", "stun", "stun", "turn-channel"]


def test_channel_data_rtp_has_exact_rows_with_the_bound_peer_and_unknown_peer_for_an_unbound_channel(crafted):
    assert len(crafted.rtp) == 2
    common = {"src": A4, "dst": B4, "sport": CLIENT_PORT, "dport": SERVER_PORT, "padding": False, "extension": False,
              "csrc_count": 0, "ext_profile": None, "payload_offset": 12, "dtls_srtp": False, "error": None,
              "relayed": True}
    assert_row(row_of(crafted.rtp, 2), {
        **common, "frame": 2, "t": _t(2), "ssrc": 0xCAFE0001, "pt": 111, "seq": 7, "ts": 960, "marker": True,
        "payload_len": 20, "relay": "channel 0x4001", "peer": f"{PEER[0]}:{PEER[1]}"}, tables.RTP_SCHEMA)
    # Over UDP the ChannelData padding is optional; the inner datagram is the length field's bytes only.
    assert_row(row_of(crafted.rtp, 5), {
        **common, "frame": 5, "t": _t(5), "src": B4, "dst": A4, "sport": SERVER_PORT, "dport": CLIENT_PORT,
        "ssrc": 0xCAFE0002, "pt": 96, "seq": 9, "ts": 1920, "marker": False, "payload_len": 21,
        "relay": "channel 0x4002", "peer": None}, tables.RTP_SCHEMA)


def test_indications_carry_stun_and_rtcp_rows_with_the_xor_peer_address(crafted):
    peer = f"{OTHER_PEER[0]}:{OTHER_PEER[1]}"
    rtcp = crafted.rtcp
    assert len(rtcp) == 1
    assert_row(rtcp.iloc[0], {
        "frame": 4, "t": _t(4), "src": B4, "dst": A4, "sport": SERVER_PORT, "dport": CLIENT_PORT, "index": 0,
        "pt": 200, "count": 0, "fmt": None, "sender_ssrc": 0xCAFE0003, "length_bytes": len(INNER_SR), "offset": 0,
        "padding": False, "dtls_srtp": False, "error": None, "relayed": True, "relay": "data", "peer": peer,
        }, tables.RTCP_SCHEMA)
    s = crafted.stun
    # The outer messages first (direct), then what the Send indication carries, in the same frame.
    assert list(zip(s.frame, s.method, s.cls, s.relayed)) == [
        (1, "channel-bind", "request", False), (3, "send", "indication", False), (3, "binding", "request", True),
        (4, "data", "indication", False)]
    inner = s[s.relayed].iloc[0]
    assert_row(inner, {
        "frame": 3, "t": _t(3), "src": A4, "dst": B4, "sport": CLIENT_PORT, "dport": SERVER_PORT,
        "transport": "udp", "method": "binding", "cls": "request", "transaction_id": "05" * 12,
        "username": "abcd:efgh", "priority": None, "use_candidate": False, "ice_role": None, "tie_breaker": None,
        "mapped_address": None, "error_code": None, "error_reason": None, "software": None, "fingerprint_ok": None,
        "integrity_ok": None, "error": None, "relayed": True, "relay": "send", "peer": peer}, tables.STUN_SCHEMA)
    direct = s[~s.relayed]
    assert direct.relay.isna().all() and direct.peer.isna().all()
    attrs = crafted.stun_attributes
    assert attrs.loc[(attrs.frame == 3) & attrs.relayed, "name"].tolist() == ["USERNAME"]
    assert attrs.loc[(attrs.frame == 3) & ~attrs.relayed, "name"].tolist() == ["XOR-PEER-ADDRESS", "DATA"]


def test_a_capture_without_turn_has_only_direct_rows():
    cap = webrtcpcap.open(CAPTURES / "aiortc_clean.pcap")
    for df in (cap.rtp, cap.rtcp, cap.stun):
        assert len(df) and not df["relayed"].any() and df["relay"].isna().all() and df["peer"].isna().all()


# -- recorded relayed sessions -------------------------------------------------------------------------------------

def _sdp_passwords(name: str) -> dict[str, str]:
    out = {}
    for side in ("offer", "answer"):
        text = (CAPTURES / f"{name}.{side}.sdp").read_text()
        out[re.search(r"^a=ice-ufrag:(\S+)", text, re.M)[1]] = re.search(r"^a=ice-pwd:(\S+)", text, re.M)[1]
    return out


@lru_cache(maxsize=None)
def recorded(name: str) -> webrtcpcap.Capture:
    return webrtcpcap.open(CAPTURES / f"{name}.pcap",
                           sdp=[CAPTURES / f"{name}.offer.sdp", CAPTURES / f"{name}.answer.sdp"])


@pytest.mark.parametrize("name, relays", [("turn_relay_static", {"channel 0x4000"}),
                                          ("turn_relay_rest_chromium", {"channel 0x4000", "send", "data"})])
def test_relayed_ice_checks_appear_with_integrity_from_the_sdp_passwords(name, relays):
    s = recorded(name).stun
    checks = s[s.relayed & (s.method == "binding")]
    requests = checks[checks.cls == "request"]
    assert len(requests) >= 5
    assert requests.username.str.split(":").str[0].isin(list(_sdp_passwords(name))).all()
    assert set(checks.transaction_id[checks.cls == "success"]) == set(requests.transaction_id)
    assert checks.integrity_ok.tolist() == [True] * len(checks)
    assert set(checks.relay) == relays
    assert checks.peer.notna().all() and checks.peer.nunique() == 1
    assert (checks.sport.isin([3478]) | checks.dport.isin([3478])).all()  # the outer datagram's 5-tuple


def _tshark_rtp(path) -> list[tuple[int, int, int, int]]:
    """(frame, ssrc, pt, seq) of every RTP packet tshark 4.0 finds inside ChannelData or a Send/Data indication."""
    out = subprocess.run(
        ["tshark", "-r", str(path), "--enable-heuristic", "rtp_stun", "-Y", "rtp && stun", "-T", "fields",
         "-E", "separator=|", "-e", "frame.number", "-e", "rtp.ssrc", "-e", "rtp.p_type", "-e", "rtp.seq"],
        capture_output=True, text=True, check=True).stdout
    return sorted((int(f), int(s, 16), int(p), int(q)) for f, s, p, q in (ln.split("|") for ln in out.splitlines()))


RECORDED_WITH_RTP = [CAPTURES / "turn_relay_static.pcap", CAPTURES / "turn_relay_rest_chromium.pcap",
                     PUBLIC_CAPTURES / "srtpdec_WebRTC_OPUS_Turn_SDES_Call_1.pcap"]


@pytest.mark.parametrize("path", RECORDED_WITH_RTP, ids=lambda p: p.name)
def test_relayed_rtp_equals_tshark_rtp_stun_heuristic(path):
    """Every packet, not only the counts per (SSRC, PT): tshark's rtp_stun heuristic takes the RTP inside both
    ChannelData and Send/Data indications (srtpdec has 7 in Send indications), as we do."""
    if not path.exists():
        pytest.skip(f"{path} is not here")
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    want = _tshark_rtp(path)
    assert len(want) > 900
    rtp = webrtcpcap.open(path).rtp
    assert rtp.relayed.all()  # all media of these sessions goes through the relay
    got = sorted(zip(rtp.frame.astype(int), rtp.ssrc.astype(int), rtp.pt.astype(int), rtp.seq.astype(int)))
    assert got == want
    assert rtp.error.isna().all()


def test_relayed_rtcp_of_turn_relay_static_equals_tshark_and_is_srtcp_after_the_relayed_dtls():
    """tshark's rtp_stun heuristic also takes RTCP in the aiortc session (not in the Chromium one, whose SRTCP it
    leaves alone); after the DTLS handshake inside the relay only the first header is read (dtls_srtp)."""
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    path = CAPTURES / "turn_relay_static.pcap"
    out = subprocess.run(["tshark", "-r", str(path), "--enable-heuristic", "rtp_stun", "-Y", "rtcp && stun",
                          "-T", "fields", "-e", "frame.number"], capture_output=True, text=True, check=True).stdout
    want = sorted(int(x) for x in out.split())
    rtcp = webrtcpcap.open(path).rtcp
    assert sorted(set(rtcp.frame.astype(int))) == want
    assert rtcp.relayed.all() and rtcp.dtls_srtp.all() and (rtcp["index"] == 0).all()
    assert rtcp.rtcp_error.isna().all() if "rtcp_error" in rtcp else rtcp.error.isna().all()
    assert webrtcpcap.open(path).rtp.dtls_srtp.all()


def test_a_channel_data_length_that_overruns_the_datagram_gives_no_inner_row(tmp_path):
    bind = udp4(stun_message(0x0009, b"\x01" * 12, attr(0x000C, struct.pack(">HH", 0x4001, 0)) + xor_peer(*PEER)),
                sport=CLIENT_PORT, dport=SERVER_PORT)
    bad = struct.pack(">HH", 0x4001, len(INNER_RTP) + 1) + INNER_RTP
    cap = open_quiet(write_pcap(tmp_path / "bad.pcap", [bind, udp4(bad, sport=CLIENT_PORT, dport=SERVER_PORT)]))
    assert cap.packets["kind"].tolist() == ["stun", "turn-channel"]
    assert len(cap.rtp) == 0 and not cap.stun["relayed"].any()
    # Issue 15: the frame says why nothing came out of it (it used to have an empty `error`).
    assert cap.packets["error"].astype(object).fillna("").tolist() == ["", "TURN ChannelData length overruns the datagram"]


def test_chunks_keep_the_channel_bindings_of_earlier_chunks():
    path = CAPTURES / "turn_relay_static.pcap"
    whole = webrtcpcap.open(path)
    chunks = list(webrtcpcap.iter_chunks(path, packets=500, progress=False))
    for name in ("rtp", "rtcp", "stun"):
        got = [x for c in chunks for x in zip(getattr(c, name).frame, getattr(c, name).peer.astype(object))]
        assert got == list(zip(getattr(whole, name).frame, getattr(whole, name).peer.astype(object)))


def test_rtp_payload_of_a_relayed_row_is_the_payload_of_the_rtp_packet_channel_data_carried():
    cap = webrtcpcap.open(CAPTURES / "turn_relay_static.pcap", progress=False)
    rows = cap.rtp[cap.rtp["relayed"]].head(50)
    for frame, length, padding in zip(rows["frame"], rows["payload_len"], rows["padding"]):
        assert padding or len(cap.rtp_payload(int(frame))) == length
