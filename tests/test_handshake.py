"""DTLS handshake analysis (webrtcpcap.handshake): associations and flights on recorded sessions, checked against
tshark, the lab's sidecars (SDP, SRTP keys, key log, peers' event times), and crafted handshakes."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

import webrtcpcap
from webrtcpcap.protocols import dtls
from webrtcpcap.tables import dtls_tables
from webrtcpcap import handshake, sdp

from conftest import CAPTURES
from test_dtls import LAB_DTLS13, RANDOM, _ch13, _client_hello, _handshake, _lab13, _record, _sh13, \
    _split_client_hello, capture_dtls, unified


def _sdps(name: str) -> list:
    return [sdp.parse((CAPTURES / f"{name}{s}").read_text()) for s in (".offer.sdp", ".answer.sdp")]


def _events(name: str, cap) -> dict:
    """Capture-relative time of each peer's first srtp-keys event (when its DTLS handshake finished)."""
    meta = json.loads((CAPTURES / f"{name}.meta.json").read_text())
    t0 = cap.packets.time.iloc[0].timestamp()
    return {peer: next(e["unix"] - t0 for e in meta["events"][peer] if e["event"] == "srtp-keys") for peer in "ab"}


@pytest.fixture(scope="module")
def clean():
    cap, records, hs = capture_dtls(CAPTURES / "aiortc_clean.pcap")
    return cap, records, hs, handshake.associations(records, hs, rtp=cap.rtp, sdp=_sdps("aiortc_clean"))


@pytest.fixture(scope="module")
def loss():
    cap, records, hs = capture_dtls(CAPTURES / "dtls_handshake_loss.pcap")
    return cap, records, hs, handshake.associations(records, hs, rtp=cap.rtp, sdp=_sdps("dtls_handshake_loss"))


def test_healthy_aiortc_call_is_one_completed_association_with_the_answerer_as_client(clean):
    cap, _, _, assoc = clean
    assert len(assoc) == 1
    a = assoc.iloc[0]
    assert a.verdict == "completed" and a.client.startswith("10.99.0.2:") and a.server.startswith("10.99.0.1:")
    assert a.retransmitted_flights == 0 and a.retransmissions == 0 and not a.hello_verify and a.flights == 4
    assert pd.isna(a.alerts) or "fatal" not in a.alerts
    assert bool(a.fingerprint_matches_sdp) and bool(a.role_matches_setup)


def test_handshake_done_time_is_when_the_client_exported_its_srtp_keys(clean):
    cap, _, _, assoc = clean
    a = assoc.iloc[0]
    b_keys = _events("aiortc_clean", cap)["b"]  # b, the answerer, is the DTLS client: done when flight 6 arrives
    assert a.done_t <= b_keys <= a.done_t + 0.05
    assert a.handshake_ms == pytest.approx((a.done_t - a.client_hello_t) * 1000)


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_client_hello_and_server_ccs_times_equal_tshark(clean):
    _, _, _, assoc = clean
    a = assoc.iloc[0]
    out = subprocess.run(["tshark", "-r", str(CAPTURES / "aiortc_clean.pcap"), "-Y",
                          "dtls.handshake.type == 1 || (dtls.record.content_type == 20 && ip.src == 10.99.0.1)",
                          "-T", "fields", "-e", "frame.time_relative"], capture_output=True, text=True,
                         check=True).stdout.split()
    assert a.client_hello_t == pytest.approx(float(out[0]), abs=1e-6)
    assert a.done_t == pytest.approx(float(out[1]), abs=1e-6)


def test_profile_randoms_and_fingerprints_equal_the_sidecars(clean):
    _, _, _, assoc = clean
    a = assoc.iloc[0]
    keys = json.loads((CAPTURES / "aiortc_clean.srtp-keys.json").read_text())
    assert a.srtp_profile == keys["profile"]
    # NSS key log: "CLIENT_RANDOM <client random hex> <master secret>" (only the random is compared).
    randoms = [line.split()[1].lower() for line in (CAPTURES / "aiortc_clean.keylog").read_text().splitlines()
               if line.startswith("CLIENT_RANDOM ")]
    assert a.client_random in randoms and len(a.server_random) == 64
    offer, answer = _sdps("aiortc_clean")
    assert a.client_fingerprint == str(answer.media[0].fingerprint).split(" ")[1]  # the answerer is the client
    assert a.server_fingerprint == str(offer.media[0].fingerprint).split(" ")[1]


def test_first_srtp_packet_follows_the_handshake(clean):
    cap, _, _, assoc = clean
    a = assoc.iloc[0]
    assert a.first_srtp_t == pytest.approx(float(cap.rtp.t[cap.rtp.dtls_srtp].min()))
    assert a.to_first_srtp_ms == pytest.approx((a.first_srtp_t - a.client_hello_t) * 1000)
    assert a.first_srtp_t > a.done_t


def test_flights_of_a_healthy_handshake_are_1_4_5_6_alternating(clean):
    _, records, hs, _ = clean
    fl = handshake.flights(records, hs)
    fl = fl[~fl.alert]
    assert fl.flight.tolist() == [1, 4, 5, 6]
    assert fl.sender.tolist() == ["client", "server", "client", "server"]
    assert fl.messages.iloc[1] == "server_hello,certificate,server_key_exchange,certificate_request,server_hello_done"
    assert fl.messages.iloc[3] == "change_cipher_spec,encrypted_handshake"
    assert not fl.retransmission.any() and (fl.datagrams == 1).all()


def test_lossy_handshake_retransmits_flights_and_completes_when_the_client_exported_keys(loss):
    cap, records, hs, assoc = loss
    a = assoc.iloc[0]
    assert a.verdict == "completed" and a.retransmitted_flights >= 2 and a.retransmissions > 0
    ev = _events("dtls_handshake_loss", cap)
    assert a.done_t <= ev["b"] <= a.done_t + 0.05  # b (client) finished when the server's flight 6 got through
    assert 8000 < a.handshake_ms < 10000  # captures/README.md: "the handshake completes after about 9 s"
    fl = handshake.flights(records, hs)
    f5 = fl[(fl.flight == 5)]
    # OpenSSL's back-off (RFC 6347 §4.2.4.1): the client's flight 5 is sent again after about 1 s, 2 s, 4 s.
    gaps = np.diff(f5.first_t.to_numpy())
    assert gaps == pytest.approx([1.0, 2.0, 4.0], abs=0.1)
    # a (the server) finished when a retransmitted flight 5 reached it: the 2nd transmission.
    assert f5.first_t.iloc[1] <= ev["a"] <= f5.first_t.iloc[1] + 0.05
    assert bool(a.fingerprint_matches_sdp) and bool(a.role_matches_setup)


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
@pytest.mark.parametrize("name", ["aiortc_mtu576", "janus_mtu576"])
def test_mtu_576_oversize_datagrams_are_the_ones_that_left_as_ip_fragments(name):
    """At MTU 576 a handshake datagram whose IPv4 packet exceeds 576 bytes leaves as IP fragments: the datagrams
    flagged with mtu=576 are exactly the DTLS handshake frames tshark shows as reassembled (fragment offset > 0).
    (aiortc's flights 4 and 5 leave as IP fragments too, although OpenSSL also splits its Certificate at the DTLS
    handshake layer; captures/README.md says so.)"""
    cap, records, hs = capture_dtls(CAPTURES / f"{name}.pcap")
    a = handshake.associations(records, hs, mtu=576).iloc[0]
    meta = json.loads((CAPTURES / f"{name}.meta.json").read_text())
    out = subprocess.run(["tshark", "-r", str(CAPTURES / f"{name}.pcap"), *meta["tshark_kinds"]["arguments"], "-Y",
                          "dtls && ip.frag_offset > 0 && (dtls.record.content_type == 20 || "
                          "dtls.record.content_type == 21 || dtls.record.content_type == 22)", "-T", "fields",
                          "-e", "frame.number"], capture_output=True, text=True, check=True).stdout.split()
    assert a.verdict == "completed"
    assert a.oversize_datagrams == len(out) > 0
    assert a.max_datagram + 28 > 576
    assert handshake.associations(records, hs, mtu=1500).iloc[0].oversize_datagrams == 0


# --- crafted handshakes ---------------------------------------------------------------------------------------------

C, S = ("10.0.0.1", 5000), ("10.0.0.2", 6000)


def _tables(datagrams: list[tuple[str, float, bytes]]):
    """dtls_tables of (sender "c"/"s", time, payload) datagrams between C and S."""
    n = len(datagrams)
    ends = [(C, S) if who == "c" else (S, C) for who, _, _ in datagrams]
    keys = {"frame": np.arange(1, n + 1, dtype=np.uint32), "t": np.array([t for _, t, _ in datagrams]),
            "src": pd.Categorical([a[0] for a, _ in ends]), "dst": pd.Categorical([b[0] for _, b in ends]),
            "sport": np.array([a[1] for a, _ in ends], dtype=np.uint16),
            "dport": np.array([b[1] for _, b in ends], dtype=np.uint16), "transport": pd.Categorical(["udp"] * n)}
    return dtls_tables.dtls_tables(keys, [p for _, _, p in datagrams])


def _hs(msg_type, body, seq, rseq=0):
    return _record(22, _handshake(msg_type, body, message_seq=seq), seq=rseq)


SH = bytes(dtls.ServerHello(0xFEFD, RANDOM[::-1], b"", 0xC02B, 0,
                            (dtls.Extension(14, bytes.fromhex("0002000700")),)))
CH = bytes(_client_hello(cookie=b""))
CH_COOKIE = bytes(_client_hello())
HVR = bytes(dtls.HelloVerifyRequest(0xFEFF, b"\xc0\x0c\x1e"))
FLIGHT4 = _hs(2, SH, 1) + _hs(14, b"", 2, 1)
FLIGHT5 = _hs(16, b"\x20" + b"k" * 32, 2) + _record(20, b"\x01", seq=1) + _record(22, b"f" * 40, epoch=1)
FLIGHT6 = _record(20, b"\x01", seq=2) + _record(22, b"f" * 40, epoch=1)


def test_cookie_exchange_gives_flights_1_to_6_and_hello_verify():
    records, hs = _tables([("c", 0.0, _hs(1, CH, 0)), ("s", 0.01, _hs(3, HVR, 0)), ("c", 0.02, _hs(1, CH_COOKIE, 1)),
                           ("s", 0.03, FLIGHT4), ("c", 0.04, FLIGHT5), ("s", 0.05, FLIGHT6)])
    fl = handshake.flights(records, hs)
    assert fl.flight.tolist() == [1, 2, 3, 4, 5, 6]
    a = handshake.associations(records, hs).iloc[0]
    assert bool(a.hello_verify) and a.verdict == "completed" and a.handshake_ms == pytest.approx(50)
    assert a.client == "10.0.0.1:5000" and a.srtp_profile == "SRTP_AEAD_AES_128_GCM"
    assert a.client_random == RANDOM.hex() and a.server_random == RANDOM[::-1].hex()


def test_server_flight_retransmitted_without_reply_is_stalled_at_flight_4():
    records, hs = _tables([("c", 0.0, _hs(1, CH, 0)), ("s", 0.01, FLIGHT4), ("s", 1.01, FLIGHT4),
                           ("s", 3.01, FLIGHT4), ("c", 10.0, _record(23, b"x" * 20, epoch=1))])
    fl = handshake.flights(records, hs)
    assert fl.transmission.tolist() == [1, 1, 2, 3] and fl.retransmission.tolist() == [False, False, True, True]
    a = handshake.associations(records, hs).iloc[0]
    assert a.verdict == "stalled" and a.retransmitted_flights == 1 and a.retransmissions == 4
    assert a.verdict_detail.startswith("stalled at flight 4: server") and "retransmitted 2 times" in a.verdict_detail
    assert a.evidence_frames == "2-4" and np.isnan(a.done_t)


def test_fatal_alert_fails_the_handshake():
    records, hs = _tables([("c", 0.0, _hs(1, CH, 0)), ("s", 0.01, _record(21, b"\x02\x28", seq=0))])
    a = handshake.associations(records, hs).iloc[0]
    assert a.verdict == "failed" and "fatal handshake_failure" in a.verdict_detail and a.evidence_frames == "2"
    assert a.alerts.startswith("fatal handshake_failure from server")
    fl = handshake.flights(records, hs)
    assert fl.alert.tolist() == [False, True] and pd.isna(fl.flight.iloc[1])


def test_capture_starting_after_the_client_hello_is_incomplete():
    records, hs = _tables([("s", 0.0, FLIGHT4)])
    a = handshake.associations(records, hs).iloc[0]
    assert a.verdict == "incomplete-capture" and a.client == "10.0.0.1:5000"


def test_capture_ending_right_after_one_flight_is_incomplete_not_stalled():
    records, hs = _tables([("c", 0.0, _hs(1, CH, 0)), ("s", 0.01, FLIGHT4)])
    assert handshake.associations(records, hs).iloc[0].verdict == "incomplete-capture"


def test_setup_and_fingerprint_that_contradict_the_capture_are_false(clean):
    _, records, hs, _ = clean
    offer, answer = [(CAPTURES / f"aiortc_clean{s}").read_text() for s in (".offer.sdp", ".answer.sdp")]
    swapped = [sdp.parse(offer), sdp.parse(answer.replace("a=setup:active", "a=setup:passive"))]
    a = handshake.associations(records, hs, sdp=swapped).iloc[0]
    assert a.role_matches_setup is False or not bool(a.role_matches_setup)
    fp = str(sdp.parse(answer).media[0].fingerprint).split(" ")[1]
    wrong = [sdp.parse(offer), sdp.parse(answer.replace(fp, fp[:-2] + ("00" if fp[-2:] != "00" else "11")))]
    b = handshake.associations(records, hs, sdp=wrong).iloc[0]
    assert not bool(b.fingerprint_matches_sdp) and bool(b.role_matches_setup)
    none = handshake.associations(records, hs).iloc[0]
    assert pd.isna(none.fingerprint_matches_sdp) and pd.isna(none.role_matches_setup)


def test_empty_tables_give_empty_analyses():
    records, hs = _tables([])
    assert len(handshake.associations(records, hs)) == 0 and len(handshake.flights(records, hs)) == 0
    assert list(handshake.associations(records, hs).columns) == list(handshake.ASSOCIATIONS_COLUMNS)


def test_compact_frames():
    assert handshake.compact_frames([11, 8, 9, 10, 96, 9]) == "8-11,96"


# --- crafted DTLS 1.3 handshakes (RFC 9147 §5.7) --------------------------------------------------------------------

CH13 = _split_client_hello(bytes(_ch13()), 1100)
SH13 = _record(22, _handshake(2, bytes(_sh13())))
SERVER_FLIGHT_13 = unified(b"E" * 80, 2) + unified(b"C" * 400, 2) + unified(b"V" * 90, 2) + unified(b"F" * 61, 2)
CLIENT_FLIGHT_13 = unified(b"c" * 380, 2) + unified(b"v" * 90, 2) + unified(b"f" * 61, 2)
SERVER_ACK_13 = unified(b"a" * 35, 3)


def _healthy13(t0: float = 0.0) -> list[tuple[str, float, bytes]]:
    return [("c", t0, CH13[0]), ("c", t0 + 0.0001, CH13[1]), ("s", t0 + 0.02, SH13),
            ("s", t0 + 0.0201, SERVER_FLIGHT_13), ("c", t0 + 0.03, CLIENT_FLIGHT_13), ("c", t0 + 0.031,
                                                                                        unified(b"d" * 61, 3)),
            ("s", t0 + 0.035, SERVER_ACK_13), ("s", t0 + 0.04, unified(b"d" * 113, 3)),
            ("s", t0 + 5.0, unified(b"z" * 19, 3)), ("c", t0 + 5.001, unified(b"z" * 19, 3))]


def test_healthy_dtls13_handshake_completes_with_flights_1_4_5_6_and_its_version():
    records, hs = _tables(_healthy13())
    fl = handshake.flights(records, hs)
    steps = fl[~fl.alert]
    assert steps.flight.tolist() == [1, 4, 5, 6] and steps.sender.tolist() == ["client", "server", "client", "server"]
    assert steps.messages.tolist() == ["client_hello", "server_hello,encrypted handshake (epoch 2)",
                                       "encrypted handshake (epoch 2)", "encrypted ACK-sized record (epoch 3)"]
    assert steps.records.tolist() == [2, 5, 3, 1] and not steps.retransmission.any()
    # the close_notify pair at the end: 19-byte epoch-3 records, listed as (encrypted) alerts
    assert fl[fl.alert].messages.str.startswith("alert encrypted (19-byte epoch-3 record").all() and fl.alert.sum() == 2
    a = handshake.associations(records, hs).iloc[0]
    assert a.verdict == "completed" and a.version == "DTLS 1.3" and a.verdict_detail.startswith("completed, DTLS 1.3")
    assert a.handshake_ms == pytest.approx(35) and a.done_t == pytest.approx(0.035) and a.client == "10.0.0.1:5000"
    assert a.offered_versions == "GREASE,DTLS 1.3,DTLS 1.2" and a.key_exchange_group == "X25519MLKEM768"
    assert a.cipher_suite == "TLS_AES_128_GCM_SHA256" and pd.isna(a.srtp_profile) and a.fragmented_messages == 1
    assert not a.hello_verify and a.retransmitted_flights == 0 and a.evidence_frames == "1-2,7"
    assert a.alerts.startswith("encrypted (19-byte epoch-3 record, the size of an alert) from server at 5.000 s")


def test_dtls13_handshake_before_this_work_was_called_stalled_at_flight_4():
    """The issue's symptom, pinned: every record after the ServerHello is encrypted, and a 1.2 reading of the same
    records has no flight after 4."""
    records, hs = _tables(_healthy13())
    as12 = records.assign(dtls13=False, negotiated_version=None)
    a = handshake.associations(as12, hs).iloc[0]
    assert a.verdict != "completed"


def test_dtls13_hello_retry_request_gives_flights_1_to_6():
    hrr = _record(22, _handshake(2, bytes(_sh13(hrr=True, group=29))))
    ch2 = _record(22, _handshake(1, bytes(_ch13(more=(dtls.Extension(44, b"\x00\x04c00k"),))), message_seq=1), seq=2)
    sh = _record(22, _handshake(2, bytes(_sh13(group=29)), message_seq=1), seq=1)
    records, hs = _tables([("c", 0.0, CH13[0]), ("c", 0.0, CH13[1]), ("s", 0.01, hrr), ("c", 0.02, ch2),
                           ("s", 0.03, sh + SERVER_FLIGHT_13), ("c", 0.04, CLIENT_FLIGHT_13),
                           ("s", 0.05, SERVER_ACK_13)])
    fl = handshake.flights(records, hs)
    assert fl.flight.tolist() == [1, 2, 3, 4, 5, 6] and fl.messages.iloc[1] == "hello_retry_request"
    a = handshake.associations(records, hs).iloc[0]
    assert a.verdict == "completed" and bool(a.hello_verify) and a.key_exchange_group == "x25519"
    assert a.handshake_ms == pytest.approx(50)


def test_dtls13_server_flight_retransmitted_without_reply_is_stalled_at_flight_4_with_a_note_on_alerts():
    records, hs = _tables([("c", 0.0, CH13[0]), ("c", 0.0, CH13[1]), ("s", 0.01, SH13 + SERVER_FLIGHT_13),
                           ("s", 1.01, SH13 + SERVER_FLIGHT_13), ("s", 3.01, SH13 + SERVER_FLIGHT_13)])
    fl = handshake.flights(records, hs)
    assert fl.flight.tolist() == [1, 4, 4, 4] and fl.transmission.tolist() == [1, 1, 2, 3]
    a = handshake.associations(records, hs).iloc[0]
    assert a.verdict == "stalled" and a.retransmitted_flights == 1 and a.retransmissions == 10
    assert a.verdict_detail.startswith("stalled at flight 4, DTLS 1.3: server ServerHello + encrypted")
    assert "retransmitted 2 times" in a.verdict_detail and "alerts after the ServerHello are encrypted" in \
        a.verdict_detail and a.evidence_frames == "3-5"


def test_dtls13_plaintext_ack_is_an_ack_row():
    ack = _record(26, bytes(dtls.Ack(((0, 0), (2, 1)))), seq=2)
    records, hs = _tables([("c", 0.0, CH13[0]), ("c", 0.0, CH13[1]), ("s", 0.01, SH13 + SERVER_FLIGHT_13),
                           ("c", 0.015, ack), ("c", 0.02, CLIENT_FLIGHT_13), ("s", 0.03, SERVER_ACK_13)])
    fl = handshake.flights(records, hs)
    assert fl.flight.tolist()[:2] == [1, 4] and pd.isna(fl.flight.iloc[2]) and fl.flight.tolist()[3:] == [5, 6]
    assert fl.ack.tolist() == [False, False, True, False, False] and fl.messages.iloc[2] == "ack"
    assert handshake.associations(records, hs).iloc[0].retransmitted_flights == 0


def test_dtls13_encrypted_records_resent_after_a_pause_are_a_retransmission_and_ack_loss_repeats_flight_6():
    data = [("c", 0.0, CH13[0]), ("c", 0.0, CH13[1]), ("s", 0.01, SH13 + SERVER_FLIGHT_13),
            ("c", 0.02, CLIENT_FLIGHT_13), ("s", 0.021, SERVER_ACK_13),  # this ACK is lost on the way
            ("c", 1.02, CLIENT_FLIGHT_13), ("s", 1.021, SERVER_ACK_13)]
    records, hs = _tables(data)
    fl = handshake.flights(records, hs)
    assert fl.flight.tolist() == [1, 4, 5, 6, 5, 6] and fl.transmission.tolist() == [1, 1, 1, 1, 2, 2]
    a = handshake.associations(records, hs).iloc[0]
    assert a.verdict == "completed" and a.retransmitted_flights == 2 and a.handshake_ms == pytest.approx(21)


def test_dtls13_records_of_one_length_in_one_burst_are_one_transmission():
    two_alike = unified(b"C" * 400, 2) + unified(b"D" * 400, 2)
    records, hs = _tables([("c", 0.0, CH13[0]), ("c", 0.0, CH13[1]), ("s", 0.01, SH13),
                           ("s", 0.0101, two_alike), ("c", 0.02, CLIENT_FLIGHT_13), ("s", 0.03, SERVER_ACK_13)])
    fl = handshake.flights(records, hs)
    assert fl.flight.tolist() == [1, 4, 5, 6] and fl.records.tolist() == [2, 3, 3, 1]


def test_dtls13_client_alert_instead_of_its_flight_fails_the_handshake():
    records, hs = _tables([("c", 0.0, CH13[0]), ("c", 0.0, CH13[1]), ("s", 0.01, SH13 + SERVER_FLIGHT_13),
                           ("c", 0.02, unified(b"x" * 19, 2))])
    a = handshake.associations(records, hs).iloc[0]
    assert a.verdict == "failed" and a.evidence_frames == "4"
    assert a.verdict_detail.startswith("failed: client sent alert encrypted (19-byte epoch-2 record")


def test_dtls13_without_flight_6_completes_on_srtp_both_ways():
    records, hs = _tables([("c", 0.0, CH13[0]), ("c", 0.0, CH13[1]), ("s", 0.01, SH13 + SERVER_FLIGHT_13),
                           ("c", 0.02, CLIENT_FLIGHT_13)])
    rtp = pd.DataFrame({"t": [0.03, 0.031, 0.005], "src": pd.Categorical(["10.0.0.1", "10.0.0.2", "10.0.0.2"]),
                        "dst": pd.Categorical(["10.0.0.2", "10.0.0.1", "10.0.0.1"]),
                        "sport": np.array([5000, 6000, 6000], dtype=np.uint16),
                        "dport": np.array([6000, 5000, 5000], dtype=np.uint16), "dtls_srtp": [True, True, True]})
    a = handshake.associations(records, hs, rtp=rtp).iloc[0]
    assert a.verdict == "completed" and "DTLS-keyed SRTP" in a.verdict_detail and np.isnan(a.handshake_ms)
    one_way = handshake.associations(records, hs, rtp=rtp.iloc[[0, 2]]).iloc[0]
    assert one_way.verdict != "completed"


@pytest.mark.parametrize("name", LAB_DTLS13)
def test_browser_sessions_complete_in_dtls13_when_the_browsers_said_so(name):
    """Today's Chromium and Firefox (issue 14): `completed`, DTLS 1.3, the cipher and roles getStats reports; the
    client's encrypted Finished flight goes out when the client says "connected", and the server's ACK (flight 6)
    comes before the server says so."""
    cap, records, hs = capture_dtls(_lab13(name))
    meta = json.loads((CAPTURES / f"{name}.meta.json").read_text())
    (a,) = handshake.associations(records, hs, rtp=cap.rtp, sdp=_sdps(name)).itertuples(index=False)
    truth = {p: meta["ground_truth"][p] for p in "ab"}
    role = {truth[p]["dtls"]["dtlsRole"]: p for p in "ab"}
    local = {p: f'{truth[p]["selected_pair_stats"]["local"]["ip"]}:{truth[p]["selected_pair_stats"]["local"]["port"]}'
             for p in "ab"}
    assert a.verdict == "completed" and a.verdict_detail.startswith("completed, DTLS 1.3")
    assert {truth[p]["dtls"]["tlsVersion"] for p in "ab"} == {"FEFC"} and a.version == "DTLS 1.3"
    assert a.cipher_suite == truth["a"]["dtls"]["dtlsCipher"] == truth["b"]["dtls"]["dtlsCipher"]
    assert a.client == local[role["client"]] and a.server == local[role["server"]] and bool(a.role_matches_setup)
    assert "DTLS 1.3" in a.offered_versions and a.key_exchange_group == "X25519MLKEM768"
    assert pd.isna(a.fingerprint_matches_sdp)  # the certificates are encrypted in DTLS 1.3
    t0 = cap.packets.time.iloc[0].timestamp()
    connected = {p: next(e["unix"] - t0 for e in meta["events"][p]
                         if e["event"] == "connectionState" and e.get("state") == "connected") for p in "ab"}
    fl = handshake.flights(records, hs)
    f5 = fl[(fl.flight == 5) & (fl.sender == "client")].first_t
    client_finished = float(f5[f5 <= a.done_t].max())
    assert abs(client_finished - connected[role["client"]]) < 0.05
    assert client_finished < a.done_t <= connected[role["server"]] + 0.05
    assert a.first_srtp_t > a.client_hello_t


def test_firefox_handshake_whose_server_hello_never_arrives_is_stalled_at_flight_4():
    cap, records, hs = capture_dtls(_lab13("firefox_firefox_dtls_stalled"))
    meta = json.loads((CAPTURES / "firefox_firefox_dtls_stalled.meta.json").read_text())
    assert meta["expected_verdict"].startswith("DTLS stalled")
    a = handshake.associations(records, hs, rtp=cap.rtp).iloc[0]
    assert a.verdict == "stalled" and a.verdict_detail.startswith("stalled at flight 4, DTLS 1.3: server")
    assert a.version == "DTLS 1.3" and pd.isna(a.done_t) and pd.isna(a.first_srtp_t)


def test_plaintext_ack_of_a_lossy_firefox_handshake_is_an_ack_row_not_a_flight():
    _, records, hs = capture_dtls(_lab13("firefox_firefox_dtls_loss"))
    fl = handshake.flights(records, hs)
    acks = fl[fl.ack]
    assert acks.messages.tolist() == ["ack"] and acks.sender.tolist() == ["client"] and acks.flight.isna().all()
    frame = int(acks.frames.iloc[0])
    assert records[records.frame == frame].ack_record_numbers.dropna().tolist() == ["0:1,2:6,2:7,2:8"]
    assert "ack" not in ",".join(fl[~fl.ack].messages)


def test_lossy_browser_handshake_counts_the_retransmissions_of_both_sides():
    cap, records, hs = capture_dtls(_lab13("chromium_chromium_dtls_loss"))
    a = handshake.associations(records, hs, rtp=cap.rtp).iloc[0]
    fl = handshake.flights(records, hs)
    # nft dropped every other DTLS-range datagram of the server (the first 40): its flight 4 and its ACKs were sent
    # again, and the client resent its ClientHello and its Finished flight.
    assert a.verdict == "completed" and a.retransmitted_flights == 4
    sent = fl[~fl.alert & ~fl.ack].groupby(["sender", "flight"]).size().to_dict()
    assert sent[("server", 4)] >= 3 and sent[("client", 1)] >= 3 and sent[("client", 5)] >= 2
    assert fl.ack.sum() >= 1  # the client's ACK of the part of flight 4 that got through
    assert 2000 < a.handshake_ms < 3000


LAB_DTLS = ["aiortc_clean", "aiortc_loss5_rtp", "aiortc_loss_both", "aiortc_mtu576", "aiortc_outage3s",
            "chromium_aiortc_loss5", "dtls_handshake_loss", "janus_echotest_clean", "janus_echotest_loss5",
            "janus_mtu576", "turn_relay_static", "turn_relay_rest_chromium"]


@pytest.mark.parametrize("name", LAB_DTLS)
def test_every_lab_session_completes_with_the_sdp_fingerprints_roles_and_exported_profile(name):
    cap, records, hs = capture_dtls(CAPTURES / f"{name}.pcap")
    (a,) = handshake.associations(records, hs, rtp=cap.rtp, sdp=_sdps(name)).itertuples(index=False)
    assert a.verdict == "completed" and bool(a.fingerprint_matches_sdp) and bool(a.role_matches_setup)
    assert a.relayed == name.startswith("turn_")
    keys = CAPTURES / f"{name}.srtp-keys.json"
    if keys.exists():
        expected = json.loads(keys.read_text())["profile"]
    else:  # Janus: its handle_info names the SRTP profile it negotiated
        info = json.loads((CAPTURES / f"{name}.handle_info.json").read_text())
        expected = next(_find(info, "srtp-profile"))
    # The sidecars use OpenSSL's names; the table RFC 5764 §4.1.2's.
    assert a.srtp_profile == OPENSSL_PROFILE_NAMES.get(expected, expected)
    assert a.first_srtp_t > a.client_hello_t


OPENSSL_PROFILE_NAMES = {"SRTP_AES128_CM_SHA1_80": "SRTP_AES128_CM_HMAC_SHA1_80",
                         "SRTP_AES128_CM_SHA1_32": "SRTP_AES128_CM_HMAC_SHA1_32"}


def _find(tree, key):
    if isinstance(tree, dict):
        for k, v in tree.items():
            if k == key:
                yield v
            yield from _find(v, key)
    elif isinstance(tree, list):
        for v in tree:
            yield from _find(v, key)


# --- SPED: the DTLS handshake embedded in STUN (draft-hancke-webrtc-sped) -------------------------------------------

def _stun_with(message_type: int, txid: bytes, dtls_packet: bytes | None) -> bytes:
    from conftest import stun_message

    attrs = b""
    if dtls_packet is not None:
        attrs = (0xC070).to_bytes(2, "big") + len(dtls_packet).to_bytes(2, "big") + dtls_packet \
            + b"\x00" * (-len(dtls_packet) % 4)
    attrs += (0xC071).to_bytes(2, "big") + b"\x00\x00"  # an empty acknowledgement list: "I speak SPED"
    return stun_message(message_type, txid, attrs)


def test_sped_handshake_inside_stun_checks_is_found_and_completes(tmp_path):
    from conftest import A4, B4, open_quiet, udp4, write_pcap

    # a small DTLS 1.3 ClientHello (x25519 only), so that it fits one STUN check
    ch = _record(22, _handshake(1, bytes(dtls.ClientHello(0xFEFD, RANDOM, b"", b"", (0x1301,), b"\x00", (
        dtls.Extension(43, bytes.fromhex("04fefcfefd")), dtls.Extension(51, bytes.fromhex("0024001d0020") + bytes(32)),
    )))), version=0xFEFF)
    frames = [
        udp4(_stun_with(0x0001, b"\x01" * 12, ch), src=A4, dst=B4, sport=5000, dport=6000),
        udp4(_stun_with(0x0101, b"\x01" * 12, SH13 + SERVER_FLIGHT_13), src=B4, dst=A4, sport=6000, dport=5000),
        udp4(_stun_with(0x0001, b"\x02" * 12, None), src=A4, dst=B4, sport=5000, dport=6000),
        udp4(CLIENT_FLIGHT_13, src=A4, dst=B4, sport=5000, dport=6000),
        udp4(SERVER_ACK_13, src=B4, dst=A4, sport=6000, dport=5000),
    ]
    cap = open_quiet(write_pcap(tmp_path / "sped.pcap", frames))
    records, hs = cap.dtls_records, cap.dtls_handshakes
    assert records.in_stun.tolist() == [True] + [True] * 5 + [False] * 4
    assert records.frame.tolist() == [1, 2, 2, 2, 2, 2, 4, 4, 4, 5]
    assert hs.msg_type.astype(str).tolist() == ["client_hello", "server_hello"] and hs.in_stun.all()
    fl = handshake.flights(records, hs)
    assert fl.flight.tolist() == [1, 4, 5, 6]
    a = handshake.associations(records, hs).iloc[0]
    assert a.verdict == "completed" and a.version == "DTLS 1.3" and a.client.endswith(":5000")
    assert cap.packets.kind.astype(str).tolist() == ["stun", "stun", "stun", "dtls", "dtls"]


def _stun_rows(rows: list[tuple[str, float, str]]) -> pd.DataFrame:
    """cap.stun-like rows: (sender "c"/"s", time, cls) Binding messages between C and S."""
    ends = [(C, S) if who == "c" else (S, C) for who, _, _ in rows]
    return pd.DataFrame({"t": [t for _, t, _ in rows], "src": pd.Categorical([a[0] for a, _ in ends]),
                         "dst": pd.Categorical([b[0] for _, b in ends]),
                         "sport": np.array([a[1] for a, _ in ends], dtype=np.uint16),
                         "dport": np.array([b[1] for _, b in ends], dtype=np.uint16),
                         "method": pd.Categorical(["binding"] * len(rows)),
                         "cls": pd.Categorical([c for _, _, c in rows])})


def test_client_hellos_before_the_server_checks_connectivity_are_early_not_lost():
    data = [("c", 0.0, CH13[0]), ("c", 0.0, CH13[1]), ("c", 0.1, CH13[0]), ("c", 0.1, CH13[1]),
            ("c", 0.3, CH13[0]), ("c", 0.3, CH13[1]), ("s", 0.31, SH13 + SERVER_FLIGHT_13),
            ("c", 0.32, CLIENT_FLIGHT_13), ("s", 0.33, SERVER_ACK_13)]
    records, hs = _tables(data)
    late_checks = _stun_rows([("c", -0.05, "request"), ("s", -0.04, "success"), ("s", 0.25, "request")])
    a = handshake.associations(records, hs, stun=late_checks).iloc[0]
    assert a.early_client_hellos == 2 and a.retransmitted_flights == 1 and a.verdict == "completed"
    ready = _stun_rows([("s", -0.05, "request"), ("c", -0.04, "success")])
    assert handshake.associations(records, hs, stun=ready).iloc[0].early_client_hellos == 0
    assert pd.isna(handshake.associations(records, hs).iloc[0].early_client_hellos)


def test_healthy_firefox_chromium_call_has_only_early_client_hellos_and_no_dtls_warning():
    from webrtcpcap.report.health import health as check_health

    path = _lab13("firefox_chromium_clean")
    cap, records, hs = capture_dtls(path)
    a = handshake.associations(records, hs, rtp=cap.rtp, stun=cap.stun).iloc[0]
    fl = handshake.flights(records, hs)
    assert a.early_client_hellos == int(fl.retransmission.sum()) == 3
    h = check_health(cap)
    dtls_findings = h.findings[h.findings.stage == "dtls"]
    assert not dtls_findings.severity.astype(str).isin(["warning", "error"]).any()
    assert dtls_findings.finding.str.contains("ClientHello was sent 4 times").any()


@pytest.mark.parametrize("name", ["aiortc_clean", "firefox_firefox_clean", "turn_relay_static",
                                  "chromium_chromium_dtls_loss", "firefox_firefox_dtls_stalled"])
def test_association_identities_are_the_associations_columns_of_the_same_name(name):
    # Decryption reads the identities from the tables floor (webrtcpcap.tables.dtls_tables) instead of running the
    # handshake analysis: both must number and describe every association alike.
    cap = webrtcpcap.open(CAPTURES / f"{name}.pcap", progress=False)
    full = handshake.associations(cap.dtls_records, cap.dtls_handshakes)
    ids = dtls_tables.association_identities(cap.dtls_records, cap.dtls_handshakes)
    assert len(ids) == len(full) > 0
    assert list(ids.columns) == list(dtls_tables.ASSOCIATION_IDENTITY_COLUMNS)
    pd.testing.assert_frame_equal(ids, full[list(ids.columns)], check_categorical=False)
