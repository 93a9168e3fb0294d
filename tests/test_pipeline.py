"""The pipeline decodes slices of frames in parallel threads; its tables must not depend on how it slices."""

import ipaddress
import struct
from pathlib import Path

import pandas as pd
import pytest

import webrtcpcap
from webrtcpcap.tables import pipeline

from conftest import write_pcap

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
# IP fragments (janus_mtu576), TURN, RTCP compounds and loss: slicing must not change any of them.
CASES = ["janus_mtu576.pcap", "aiortc_mtu576.pcap", "turn_relay_static.pcap", "aiortc_loss_both.pcap"]


def tables(path):
    cap = webrtcpcap.open(path, progress=False)
    return {name: getattr(cap, name) for name in ("packets", "rtp", "rtcp", "flows", "icmp", "fragments")}


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("slice_frames,threads", [(7, 2), (500, 2), (500, 1)])
def test_tables_do_not_depend_on_slicing_or_threads(name, slice_frames, threads, monkeypatch):
    path = CAPTURES / name
    if not path.exists():
        pytest.skip(f"{path} is not in this checkout")
    whole = tables(path)  # one slice: the capture is smaller than pipeline.SLICE
    assert len(whole["packets"]) < pipeline.SLICE
    monkeypatch.setattr(pipeline, "SLICE", slice_frames)
    monkeypatch.setattr(pipeline, "THREADS", threads)
    sliced = tables(path)
    for table, df in whole.items():
        pd.testing.assert_frame_equal(sliced[table], df, obj=f"{name} {table}")


def test_fragments_split_across_slices_are_reassembled_in_order(monkeypatch):
    path = CAPTURES / "janus_mtu576.pcap"
    if not path.exists():
        pytest.skip(f"{path} is not in this checkout")
    monkeypatch.setattr(pipeline, "SLICE", 2)  # nearly every datagram's fragments straddle two slices
    monkeypatch.setattr(pipeline, "THREADS", 2)
    cap = webrtcpcap.open(path, progress=False)
    fragments = cap.fragments
    assert len(fragments) > 0
    assert fragments.reassembled_in.notna().all()
    # The completing frame (its own row says so) comes after every other fragment of its datagram, and holds
    # the decoded datagram.
    done = fragments.reassembled_in.astype("int64")
    frame = fragments.frame.astype("int64")
    assert (done >= frame).all()
    assert set(done) <= set(frame[done == frame])
    completing = cap.packets.set_index("frame").loc[done.unique()]
    assert not completing.kind.isin(["ip-fragment", "other"]).any()


def _udp_payload_via_scapy(frame_bytes: bytes) -> bytes:
    from scapy.layers.l2 import Ether
    from scapy.layers.inet import UDP

    return bytes(Ether(frame_bytes)[UDP].payload)


@pytest.mark.parametrize("name", ["aiortc_clean.pcap", "janus_mtu576.pcap"])
def test_dtls_and_rtcp_datagrams_are_the_udp_payloads_of_their_frames(name):
    cap = webrtcpcap.open(CAPTURES / name, progress=False)
    decoded = cap._decode()
    packets = cap.packets
    for datagrams, kind in ((decoded.dtls_datagrams, "dtls"), (decoded.rtcp_datagrams, "rtcp")):
        frames = datagrams.keys["frame"]
        assert list(frames) == list(packets.frame[packets.kind == kind])
        assert len(set(frames)) == len(frames) > 0
        joined = set(cap.fragments.reassembled_in.dropna().astype(int))
        lengths = packets.set_index("frame").payload_len
        for frame, payload in list(zip(frames, datagrams.payloads))[:50]:
            if int(frame) in joined:  # the datagram reassembled from IP fragments
                assert len(payload) == lengths[frame]
            else:
                assert payload == _udp_payload_via_scapy(cap.frame_bytes(int(frame)))
    assert not decoded.dtls_datagrams.keys["relayed"].any()


def test_relayed_datagrams_are_what_turn_carried():
    cap = webrtcpcap.open(CAPTURES / "turn_relay_static.pcap", progress=False)
    decoded = cap._decode()
    dtls_rows = decoded.dtls_datagrams
    assert len(dtls_rows) > 0 and dtls_rows.keys["relayed"].all()
    for frame, payload in zip(dtls_rows.keys["frame"][:20], dtls_rows.payloads[:20]):
        outer = _udp_payload_via_scapy(cap.frame_bytes(int(frame)))
        assert 0x40 <= outer[0] <= 0x4F and outer[4:4 + len(payload)] == payload and 20 <= payload[0] <= 63


@pytest.mark.parametrize("name", ["aiortc_loss_both.pcap", "turn_relay_static.pcap", "janus_mtu576.pcap"])
def test_udp_payloads_of_rtp_rows_start_with_their_rtp_header(name, monkeypatch):
    cap = webrtcpcap.open(CAPTURES / name, progress=False)
    rtp = cap.rtp
    monkeypatch.setattr(pipeline, "SLICE", 100)  # several slices
    frames, relayed = rtp.frame.to_numpy(), rtp.relayed.to_numpy()
    joined = cap.fragments.dropna(subset=["reassembled_in"])
    fragments_of = joined.groupby(joined.reassembled_in.astype(int)).frame.agg(list).to_dict()
    payloads = pipeline.udp_payloads(cap._data, cap._index, cap._state, frames, relayed, fragments_of)
    without = pipeline.udp_payloads(cap._data, cap._index, cap._state, frames, relayed)
    assert len(payloads) == len(rtp)
    lengths = cap.packets.set_index("frame").payload_len
    for payload, alone, frame, ssrc, seq, relayed in zip(payloads, without, rtp.frame, rtp.ssrc, rtp.seq, rtp.relayed):
        if frame in fragments_of:  # joined from IP fragments: needs the other fragments' frames
            assert alone is None and len(payload) == lengths[frame]
        else:
            assert alone == payload
        assert payload is not None
        assert int.from_bytes(payload[2:4], "big") == seq and int.from_bytes(payload[8:12], "big") == ssrc
        if not relayed and frame not in fragments_of:
            assert payload == _udp_payload_via_scapy(cap.frame_bytes(int(frame)))


def _raw_udp4(src: int, dst: int, payload: bytes) -> bytes:
    """A raw IPv4/UDP datagram (DLT 228) between two addresses given as 32-bit integers."""
    udp = struct.pack(">HHHH", 40000, 5000, 8 + len(payload), 0) + payload
    return struct.pack(">BBHHHBBHII", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, src, dst) + udp


@pytest.mark.parametrize("threads", [1, 2])
def test_address_codes_widen_when_a_later_slice_brings_more_than_int16_addresses(tmp_path, monkeypatch, threads):
    n = 33_000  # more distinct addresses than int16 codes: the first slices write int16 codes, a later one widens
    sources = [(10 << 24) + 1 + i for i in range(n)]
    frames = [_raw_udp4(s, (192 << 24) + (168 << 16) + 1, b"dns-ish payload") for s in sources]
    path = write_pcap(tmp_path / "many.pcap", frames, linktype=228)
    monkeypatch.setattr(pipeline, "SLICE", 4096)
    monkeypatch.setattr(pipeline, "THREADS", threads)
    cap = webrtcpcap.open(path, progress=False)
    want = [str(ipaddress.IPv4Address(s)) for s in sources]
    assert cap.packets["src"].astype(str).tolist() == want
    assert (cap.packets["dst"].astype(str) == "192.168.0.1").all()
    assert len(cap.packets["src"].cat.categories) == n and cap.packets["src"].cat.codes.dtype == "int32"
    assert len(cap.flows) == n


# -- SRTCP or plain RTCP, from the bytes (no DTLS handshake on the flow in the same read) ---------------------------

import pylibsrtp  # noqa: E402 - this part's own imports

from conftest import PUBLIC_CAPTURES as PUBLIC, open_quiet, rtcp_rr, rtcp_sdes, rtcp_sr, rtp_packet, udp4  # noqa: E402


def _srtp_sender(profile: int, key_len: int) -> pylibsrtp.Session:
    master = bytes(range(1, key_len + 1))
    policy = pylibsrtp.Policy(master, pylibsrtp.Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile)
    return pylibsrtp.Session(policy)


@pytest.mark.parametrize("profile,key_len", [
    (pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 30),   # E+index, then a 10-byte tag (RFC 3711 §3.4)
    (pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 28),    # tag inside, E+index last (RFC 7714 §9.1)
])
def test_srtcp_on_a_flow_without_dtls_is_read_as_srtcp_not_as_broken_rtcp(tmp_path, profile, key_len):
    tx = _srtp_sender(profile, key_len)
    frames = [udp4(tx.protect(rtp_packet(seq=i, ts=960 * i))) for i in range(6)]  # SRTP: RTP evidence
    compounds = [rtcp_sr(packets=n) + rtcp_sdes(cname=b"c%d" % n) for n in range(12)]
    frames += [udp4(tx.protect_rtcp(c)) for c in compounds]
    cap = open_quiet(write_pcap(tmp_path / "sdes.pcap", frames))
    rtcp = cap.rtcp
    assert len(rtcp) == 12  # the clear first header of each; none read out of the ciphertext
    assert rtcp["index"].tolist() == [0] * 12 and rtcp["pt"].tolist() == [200] * 12
    assert rtcp["error"].isna().all()
    assert cap.packets["error"].isna().all()


def test_plain_rtcp_compounds_on_a_flow_without_dtls_keep_every_packet(tmp_path):
    frames = [udp4(rtp_packet(seq=i, ts=960 * i)) for i in range(6)]
    frames += [udp4(rtcp_sr(packets=n) + rtcp_rr(blocks=(0x11223344,)) + rtcp_sdes()) for n in range(5)]
    cap = open_quiet(write_pcap(tmp_path / "plain.pcap", frames))
    assert cap.rtcp["pt"].tolist() == [200, 201, 202] * 5
    assert cap.rtcp["error"].isna().all()


@pytest.mark.parametrize("name", ["srtpdec_WebRTC_OPUS_Turn_SDES_Call_1.pcap", "srtpdec_tcp_call_02_03_client.pcap"])
def test_sdes_keyed_srtcp_in_public_captures_is_not_flagged(name):
    if not (PUBLIC / name).exists():
        pytest.skip("../shared/public-captures is not here")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cap = webrtcpcap.open(PUBLIC / name, progress=False)
    rtcp = cap.rtcp
    assert len(rtcp) > 0 and rtcp["error"].isna().all()
    assert set(rtcp["pt"].tolist()) <= {200, 201} and (rtcp["index"] == 0).all()


def test_srtcp_in_chunks_after_the_handshake_reads_as_in_the_whole_capture():
    # aiortc_clean's DTLS handshake is in the first 200 frames; later chunks see its SRTCP without it
    path = Path(__file__).parents[1] / "captures" / "aiortc_clean.pcap"
    whole = webrtcpcap.open(path, progress=False).rtcp
    chunks = pd.concat([c.rtcp for c in webrtcpcap.iter_chunks(path, packets=200, progress=False)],
                       ignore_index=True)
    cols = ["frame", "index", "pt", "sender_ssrc"]
    assert chunks[cols].reset_index(drop=True).equals(whole[cols].reset_index(drop=True))
    assert chunks["error"].isna().all()
