"""SRTP/SRTCP decryption of whole captures (webrtcpcap.tables.decrypt through open(..., keylog=, srtp_keys=)), checked
against ground truth: the lab's key logs and Chromium's plaintext RTP dump, and the published SDES keys of public
captures (skipped when ../shared/public-captures is absent)."""

import datetime
import hashlib
import hmac
import json
import struct
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pylibsrtp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import webrtcpcap
from tests.test_tls13 import _seal
from webrtcpcap.tables import decrypt, schema as tables
from webrtcpcap.protocols import dtls, keys, srtp, tls13

CAPTURES = Path(__file__).parents[1] / "captures"
PUBLIC = Path(__file__).parents[1].parent / "shared" / "public-captures"


def _connected(base: Path) -> bool:
    meta = base.with_name(base.name + ".meta.json")
    return not meta.exists() or json.loads(meta.read_text())["parameters"].get("expect_connected", True)


KEYED = sorted(p.name.removesuffix(".keylog") for p in CAPTURES.glob("*.keylog"))
# DTLS 1.3 sessions (key logs with TLS 1.3 secrets): the committed ones, else the lab's early sample
KEYED13 = [n for n in KEYED if "EXPORTER_SECRET" in (CAPTURES / f"{n}.keylog").read_text()]
SAMPLES = Path("/work/samples")  # the lab helper's quick recordings, before they are committed under captures/
DTLS13_SESSIONS = [CAPTURES / n for n in KEYED13] or [
    SAMPLES / p.name.removesuffix(".keylog") for p in sorted(SAMPLES.glob("*.keylog"))]


def capture_path(base: Path) -> Path:
    return next((base.with_name(base.name + s) for s in (".pcap", ".pcapng") if base.with_name(base.name + s).exists()),
                base.with_name(base.name + ".pcap"))


def open_keyed(name, **kw):
    return webrtcpcap.open(capture_path(CAPTURES / name), keylog=CAPTURES / f"{name}.keylog", progress=False, **kw)


@pytest.mark.parametrize("name", [n for n in KEYED if _connected(CAPTURES / n)])  # a stalled call has no SRTP
def test_every_srtp_and_srtcp_packet_of_the_lab_sessions_authenticates(name):
    cap = open_keyed(name)
    assert cap.decryption.problems == []
    rtp = cap.rtp
    assert tables.check_schema(rtp, tables.DECRYPTED_RTP_SCHEMA) == []
    srtp = rtp[rtp.dtls_srtp]
    assert len(srtp) > 100
    assert srtp.auth_ok.all() and (srtp.srtp_status == "ok").all()
    assert rtp[~rtp.dtls_srtp].auth_ok.isna().all()  # plaintext RTP (none in these sessions) is left alone
    rtcp = cap.rtcp
    assert tables.check_schema(rtcp, tables.DECRYPTED_RTCP_SCHEMA) == []
    assert rtcp[rtcp.dtls_srtp].auth_ok.all()
    # decrypted compounds chain exactly: every sub-packet has a row and no error
    assert rtcp[rtcp.dtls_srtp].error.isna().all()
    plain_rows = len(webrtcpcap.open(capture_path(CAPTURES / name), progress=False).rtcp)
    assert len(rtcp) > plain_rows  # SRTCP showed only its first header before
    summary = cap.decryption.summary
    assert summary.srtp_packets.sum() == len(srtp) and summary.srtp_authenticated.sum() == len(srtp)


def test_decrypted_payloads_equal_chromiums_plaintext_rtp_dump():
    cap = open_keyed("chromium_aiortc_loss5")
    dump = webrtcpcap.open(CAPTURES / "chromium_aiortc_loss5.rtpdump.pcap", progress=False)
    plain = {}
    for frame, ssrc, seq in zip(dump.rtp.frame, dump.rtp.ssrc, dump.rtp.seq):
        plain.setdefault((int(ssrc), int(seq)), dump.rtp_payload(int(frame)))
    rtp = cap.rtp
    checked = 0
    for frame, ssrc, seq in zip(rtp.frame, rtp.ssrc, rtp.seq):
        assert cap.rtp_payload(int(frame)) == plain[(int(ssrc), int(seq))], frame
        checked += 1
    assert checked == len(rtp) > 2000


def test_decrypted_rtcp_equals_the_rtcp_in_chromiums_dump():
    """Only RTP was dropped in this session: every RTCP packet either side sent is in both the wire capture and
    Chromium's dump (outbound and inbound), so the decrypted sub-packets must be the same multiset."""
    cap = open_keyed("chromium_aiortc_loss5")
    dump = webrtcpcap.open(CAPTURES / "chromium_aiortc_loss5.rtpdump.pcap", progress=False).rtcp

    def items(t):
        return Counter(zip(t.sender_ssrc.astype("Int64").tolist(), t.pt.tolist(), t.length_bytes.tolist()))

    wire, want = items(cap.rtcp), items(dump)
    assert sum(wire.values()) > 250
    # the dump may start a little after the capture and end a little before it: compare what both saw
    common = wire & want
    assert sum(common.values()) >= 0.9 * min(sum(wire.values()), sum(want.values()))
    assert {pt for _, pt, _ in wire} == {pt for _, pt, _ in want}


def test_a_tampered_packet_fails_authentication_and_the_rest_still_decrypt(tmp_path):
    src = CAPTURES / "aiortc_clean.pcap"
    cap = webrtcpcap.open(src, progress=False)
    victim = cap.rtp[cap.rtp.dtls_srtp].iloc[100]
    data = bytearray(src.read_bytes())
    frame_bytes = cap.frame_bytes(int(victim.frame))
    at = data.index(frame_bytes)
    data[at + len(frame_bytes) - 1] ^= 0x01  # the last byte of the auth tag
    path = tmp_path / "tampered.pcap"
    path.write_bytes(bytes(data))
    bad = webrtcpcap.open(path, keylog=CAPTURES / "aiortc_clean.keylog", progress=False).rtp
    hit = bad.frame == victim.frame
    assert bad[hit].srtp_status.tolist() == ["auth_failed"] and not bad[hit].auth_ok.any()
    assert bad[~hit & bad.dtls_srtp].auth_ok.all()


def test_a_key_log_of_another_session_gives_a_problem_not_an_exception():
    cap = webrtcpcap.open(CAPTURES / "aiortc_clean.pcap", keylog=CAPTURES / "aiortc_outage3s.keylog",
                          progress=False)
    assert any("no CLIENT_RANDOM line" in p for p in cap.decryption.problems)
    assert cap.rtp.auth_ok.isna().all() and len(cap.rtcp) == len(webrtcpcap.open(CAPTURES / "aiortc_clean.pcap").rtcp)
    # Opened with keys, the tables have the SRTP columns even where no key fitted; opened without, they have none.
    assert tables.check_schema(cap.rtp, tables.DECRYPTED_RTP_SCHEMA) == []
    assert tables.check_schema(cap.rtcp, tables.DECRYPTED_RTCP_SCHEMA) == []
    plain = webrtcpcap.open(CAPTURES / "aiortc_clean.pcap", progress=False)
    assert tables.check_schema(plain.rtp, tables.RTP_SCHEMA) == []
    assert tables.check_schema(plain.rtcp, tables.RTCP_SCHEMA) == []


def test_key_material_never_appears_in_what_decryption_shows():
    name = "aiortc_clean"
    cap = open_keyed(name)
    secrets = [v for k, v in json.loads((CAPTURES / f"{name}.srtp-keys.json").read_text()).items()
               if k.endswith(("_key", "_salt"))]
    secrets += [line.split()[2] for line in (CAPTURES / f"{name}.keylog").read_text().splitlines()
                if line.startswith("CLIENT_RANDOM")]
    shown = " ".join([repr(cap.decryption), cap.decryption.summary.to_string(), repr(cap.decryption.sources),
                      repr(cap.rtp), repr(cap.rtcp), str(cap.decryption.problems)]).lower()
    for secret in secrets:
        assert secret.lower() not in shown
        assert secret[:16].lower() not in shown


# -- SDES keys of public captures --------------------------------------------------------------------------------

def published_keys(name):
    out = {}
    for line in (PUBLIC / name).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            ssrc, key = line.split()
            out["any" if ssrc == "any" else int(ssrc, 16)] = key
    return out


@pytest.mark.parametrize("capture,keyfile,rtp_packets", [
    ("srtpdec_WebRTC_OPUS_Turn_SDES_Call_1.pcap", "srtpdec_WebRTC_OPUS_Turn_SDES_Call_1.keys.txt", 961),  # ChannelData/UDP
    ("srtpdec_tcp_call_02_03_client.pcap", "srtpdec_tcp_call_02_03_client.keys.txt", 3923),  # ChannelData/TCP
])
def test_published_sdes_keys_decrypt_every_packet_of_public_turn_captures(capture, keyfile, rtp_packets):
    if not (PUBLIC / capture).exists():
        pytest.skip(f"{PUBLIC / capture} is not here (public captures live beside the project)")
    cap = webrtcpcap.open(PUBLIC / capture, srtp_keys=published_keys(keyfile), progress=False)
    rtp = cap.rtp
    assert len(rtp) == rtp_packets and rtp.relayed.all()
    assert rtp.auth_ok.all()
    rtcp = cap.rtcp
    assert rtcp.auth_ok.all() and rtcp.error.isna().all() and len(rtcp) > 10


def test_a_master_key_for_any_ssrc_decrypts_membranes_srtp_capture():
    path = PUBLIC / "membrane_srtp.pcap"
    if not path.exists():
        pytest.skip(f"{path} is not here (public captures live beside the project)")
    # The key is 30 ASCII "a" bytes (membrane_srtp.keys.txt says so; the base64 written there is cut short).
    key = keys.MasterKey(srtp.Profile.from_name("AES_CM_128_HMAC_SHA1_80"), b"a" * 16, b"a" * 14)
    cap = webrtcpcap.open(path, srtp_keys=[key], progress=False)
    assert len(cap.rtp) == 972 and cap.rtp.auth_ok.all()
    h264 = cap.rtp_payload(int(cap.rtp[cap.rtp.pt == 96].frame.iloc[0]))
    assert h264[0] & 0x1F in range(1, 30)  # an H.264 NAL unit header (STAP-A 24, FU-A 28, or a single NAL)


def test_a_wrong_key_declared_for_an_ssrc_flags_its_packets():
    name = "srtpdec_WebRTC_OPUS_Turn_SDES_Call_1"
    if not (PUBLIC / f"{name}.pcap").exists():
        pytest.skip("public captures are not here")
    given = published_keys(f"{name}.keys.txt")
    ssrc = next(iter(given))
    given[ssrc] = "QUFB" * 10  # 30 bytes of "AAA..."
    cap = webrtcpcap.open(PUBLIC / f"{name}.pcap", srtp_keys=given, progress=False)
    rtp = cap.rtp
    mine = rtp.ssrc == ssrc
    assert (rtp[mine].srtp_status == "auth_failed").all() and rtp[~mine].auth_ok.all()
    with pytest.raises(ValueError, match="did not authenticate"):
        cap.rtp_payload(int(rtp[mine].frame.iloc[0]))


def test_report_blocks_of_decrypted_srtcp_equal_those_in_chromiums_dump():
    name = "chromium_aiortc_loss5"
    cap = open_keyed(name, sdp=[CAPTURES / f"{name}.offer.sdp", CAPTURES / f"{name}.answer.sdp"])
    dump = webrtcpcap.open(CAPTURES / f"{name}.rtpdump.pcap", progress=False)

    def blocks(t):
        return Counter(zip(t.reporter_ssrc.tolist(), t.source_ssrc.tolist(), t.cumulative_lost.tolist(),
                           t.highest_seq.tolist(), t.jitter.tolist(), t.lsr.tolist(), t.dlsr.tolist()))

    wire, want = blocks(cap.rtcp_report_blocks), blocks(dump.rtcp_report_blocks)
    assert sum(wire.values()) > 50
    assert sum((wire & want).values()) >= 0.9 * min(sum(wire.values()), sum(want.values()))
    keys, payloads, status = cap.rtcp_payloads()
    assert len(payloads) == len(cap._decode().rtcp_datagrams) and set(status) == {"decrypted"}
    assert cap.rtcp_report_blocks.jitter_ms.notna().all()  # every source has a clock rate from the SDP


def test_without_keys_srtcp_contents_stay_out_of_the_report_tables():
    cap = webrtcpcap.open(CAPTURES / "aiortc_clean.pcap", progress=False)
    keys, payloads, status = cap.rtcp_payloads()
    assert payloads == [] and len(cap.rtcp_report_blocks) == 0
    janus = webrtcpcap.open(CAPTURES / "janus_echotest_clean.janus.pcap", progress=False)  # plaintext dump
    assert set(janus.rtcp_payloads()[2]) == {"plain"} and len(janus.rtcp_report_blocks) > 30


def test_header_extensions_on_the_wire_equal_those_in_chromiums_dump():
    name = "chromium_aiortc_loss5"
    sdp = [CAPTURES / f"{name}.offer.sdp", CAPTURES / f"{name}.answer.sdp"]
    wire = webrtcpcap.open(CAPTURES / f"{name}.pcap", sdp=sdp, progress=False).rtp_extensions
    dump = webrtcpcap.open(CAPTURES / f"{name}.rtpdump.pcap", sdp=sdp, progress=False).rtp_extensions

    def items(t):
        return set(zip(t.ssrc.tolist(), t.seq.tolist(), t.id.tolist(), t.value.astype("Int64").tolist(),
                       t.name.astype(object).tolist()))

    got, want = items(wire), items(dump)
    assert len(got) > 3000 and wire.name.notna().all()
    common_packets = {(s, q) for s, q, *_ in got} & {(s, q) for s, q, *_ in want}
    assert len(common_packets) > 0.9 * len({(s, q) for s, q, *_ in got})
    assert {x for x in got if x[:2] in common_packets} == {x for x in want if x[:2] in common_packets}


# tshark does not follow DTLS into ChannelData, and tshark 4.0 does not decrypt DTLS 1.3
DIRECT_KEYED = [n for n in KEYED if not n.startswith("turn_") and n not in KEYED13]


def tshark_decrypted_app_data(path, keylog):
    import shutil
    import subprocess
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    args = ["tshark", "-r", str(path), "-Y", "dtls.record.content_type == 23 && data", "-T", "fields",
            "-e", "frame.number"]
    if keylog is not None:
        args[3:3] = ["-o", f"tls.keylog_file:{Path(keylog).resolve()}"]
    return {int(x) for x in subprocess.run(args, capture_output=True, text=True, check=True).stdout.split()}


@pytest.mark.parametrize("name", DIRECT_KEYED)
def test_tshark_decrypts_exactly_the_application_data_our_key_derivation_says_is_decryptable(name):
    from webrtcpcap.tables import decrypt
    from webrtcpcap import handshake

    path, keylog = CAPTURES / f"{name}.pcap", CAPTURES / f"{name}.keylog"
    cap = webrtcpcap.open(path, progress=False)
    assoc = handshake.associations(cap.dtls_records, cap.dtls_handshakes)
    directions, problems = decrypt.dtls_keys(assoc, keys.load_keylog(keylog))
    assert problems == [] and len(directions) == 2 * len(assoc)
    records = cap.dtls_records
    app = records[(records.content_type == "application_data") & ~records.relayed]
    ours = {int(f) for f, s, sp, d, dp in zip(app.frame, app.src, app.sport, app.dst, app.dport)
            if (decrypt.endpoint(s, sp), decrypt.endpoint(d, dp), None) in directions}
    assert len(ours) == app.frame.nunique()  # a data channel, when there is one, is readable with the key log
    # tshark switches a sender to decryption when it sees that sender's ChangeCipherSpec: in dtls_handshake_loss
    # the server's was lost on its way to b until late, and its data sent before that is readable to us only.
    ccs = records[records.content_type == "change_cipher_spec"].groupby("src", observed=True).frame.min()
    before_ccs = {int(f) for f, s in zip(app.frame, app.src) if s not in ccs or f < ccs[s]}
    assert tshark_decrypted_app_data(path, keylog) == ours - before_ccs
    assert tshark_decrypted_app_data(path, None) == set()


def test_a_key_log_of_another_session_decrypts_nothing_for_us_or_tshark():
    from webrtcpcap.tables import decrypt
    from webrtcpcap import handshake

    path, other = CAPTURES / "aiortc_clean.pcap", CAPTURES / "aiortc_loss_both.keylog"
    cap = webrtcpcap.open(path, progress=False)
    directions, problems = decrypt.dtls_keys(handshake.associations(cap.dtls_records, cap.dtls_handshakes),
                                             keys.load_keylog(other))
    assert directions == {} and problems
    assert tshark_decrypted_app_data(path, other) == set()


def test_a_short_or_unreadable_master_key_is_a_clear_error_when_opening():
    with pytest.raises(webrtcpcap.DecodeError, match="key||salt has 10 bytes"):
        webrtcpcap.open(CAPTURES / "aiortc_clean.pcap", srtp_keys={"any": "00" * 10}, progress=False)
    with pytest.raises(webrtcpcap.DecodeError, match="neither base64 nor hex"):
        webrtcpcap.open(CAPTURES / "aiortc_clean.pcap", srtp_keys={1234: "not a key!"}, progress=False)


def test_a_garbage_key_log_opens_and_decrypts_nothing():
    cap = webrtcpcap.open(CAPTURES / "aiortc_clean.pcap", keylog="CLIENT_RANDOM zz yy\nnonsense\n", progress=False)
    assert cap.rtp.auth_ok.isna().all() and cap.decryption.problems


def test_feedback_tables_of_the_decrypted_wire_capture_equal_those_of_chromiums_dump():
    name = "chromium_aiortc_loss5"
    cap = open_keyed(name, sdp=[CAPTURES / f"{name}.offer.sdp", CAPTURES / f"{name}.answer.sdp"])
    dump = webrtcpcap.open(CAPTURES / f"{name}.rtpdump.pcap", progress=False)
    for table, cols in (("nacks", ["sender_ssrc", "media_ssrc", "seq"]), ("keyframe_requests", ["kind", "media_ssrc"]),
                        ("remb", ["sender_ssrc", "bitrate_bps"])):
        wire = Counter(map(tuple, getattr(cap, table)[cols].astype(str).to_numpy().tolist()))
        want = Counter(map(tuple, getattr(dump, table)[cols].astype(str).to_numpy().tolist()))
        assert sum(wire.values()) > 0, table
        assert sum((wire & want).values()) >= 0.9 * min(sum(wire.values()), sum(want.values())), table
    assert len(cap.feedback_errors) == 0
    assert cap.keyframes().keyframe.sum() >= 2  # decrypted VP8: each video stream starts with a keyframe


# -- DTLS 1.3 (RFC 9147): SRTP keys from the TLS 1.3 exporter, handshake records opened with the key log ----------
# tshark 4.0 (Debian 12) dissects a DTLS 1.3 ClientHello but neither the unified header records nor their
# decryption, so these checks stand on ground truth instead: the browsers' getStats and SDPs, and authentication.


def _getstats_srtp_profiles(base: Path) -> set:
    found = set()

    def walk(x):
        if isinstance(x, dict):
            for k, v in x.items():
                if k == "srtpCipher":
                    found.add(srtp.Profile.from_name(v))
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
    path = base.with_name(base.name + ".getstats.json")
    if path.exists():
        walk(json.loads(path.read_text()))
    return found


def _sdp_fingerprints(base: Path) -> set:
    prints = set()
    for part in ("offer", "answer"):
        path = base.with_name(f"{base.name}.{part}.sdp")
        if path.exists():
            prints |= {line.split()[1].upper() for line in path.read_text().splitlines()
                       if line.startswith("a=fingerprint:sha-256")}
    return prints


CONNECTED13 = [p for p in DTLS13_SESSIONS if _connected(p)]
STALLED13 = [p for p in DTLS13_SESSIONS if not _connected(p)]


@pytest.fixture(params=CONNECTED13, ids=[p.name for p in CONNECTED13])
def dtls13_session(request):
    base = request.param
    if not capture_path(base).exists():
        pytest.skip(f"{base.name}: no capture beside the key log")
    return base


@pytest.mark.parametrize("base", STALLED13, ids=[p.name for p in STALLED13])
def test_a_stalled_dtls13_handshake_opens_what_was_sent_and_leaves_finished_unchecked(base):
    """The server's ServerHello never reached the capture point: its encrypted flight is readable with the key log,
    but without the ServerHello there is no transcript, so Finished is neither ok nor forged (null)."""
    cap = webrtcpcap.open(capture_path(base), keylog=base.with_name(base.name + ".keylog"), progress=False)
    dec = cap.dtls_decrypted
    assert len(dec) and dec.decrypted.all() and set(dec.sender) == {"server"}
    assert dec.finished_ok.isna().all() and (dec.msg_type == "finished").any()
    facts = decrypt.dtls13_associations(dec)
    assert facts.client_finished_t.isna().all() and facts.srtp_profile.notna().all()
    assert len(cap.rtp) == 0 and len(cap.decryption.summary) == 0


def test_every_srtp_and_srtcp_packet_of_a_dtls13_session_authenticates_both_ways(dtls13_session):
    base = dtls13_session
    cap = webrtcpcap.open(capture_path(base), keylog=base.with_name(base.name + ".keylog"), progress=False)
    d = cap.decryption
    assert d.problems == []
    rtp = cap.rtp
    sent = rtp[rtp.dtls_srtp]
    assert len(sent) > 100 and sent.auth_ok.all() and (sent.srtp_status == "ok").all()
    rtcp = cap.rtcp
    assert rtcp[rtcp.dtls_srtp].auth_ok.all() and rtcp[rtcp.dtls_srtp].error.isna().all()
    summary = d.summary
    assert len(summary) == 2  # one key per direction of the one association
    assert (summary.srtp_authenticated == summary.srtp_packets).all() and (summary.srtp_packets > 50).all()
    assert (summary.srtcp_authenticated == summary.srtcp_packets).all() and (summary.srtcp_packets > 10).all()
    assert summary.srtp_packets.sum() == len(sent)
    assert set(summary.derivation) == {"DTLS 1.3 exporter, label prefix 'dtls13'"}  # RFC 9147 §5.9, on real bytes
    stats = _getstats_srtp_profiles(base)
    if stats:
        assert {srtp.Profile.from_name(p) for p in summary.profile} == stats


def test_dtls13_handshake_records_open_and_show_the_srtp_profile_certificates_and_finished(dtls13_session):
    base = dtls13_session
    cap = webrtcpcap.open(capture_path(base), keylog=base.with_name(base.name + ".keylog"), progress=False)
    dec = cap.dtls_decrypted
    assert tables.check_schema(dec, decrypt.DTLS_DECRYPTED_SCHEMA) == []
    assert len(dec) and dec.decrypted.all() and dec.error.isna().all()
    # every DTLS 1.3 ciphertext record of the capture has its row (one per handshake fragment, else one)
    records = cap.dtls_records
    assert dec.groupby(["frame", "record"]).ngroups == int(records.dtls13.sum())
    done = dec[dec.reassembled.fillna(False)]
    ee = done[done.msg_type == "encrypted_extensions"]
    assert len(ee) and ee.sender.eq("server").all()
    stats = _getstats_srtp_profiles(base)
    if stats:
        assert {srtp.Profile.from_name(p) for p in ee.srtp_profiles} == stats
    prints = set(done.certificate_fingerprint.dropna())
    assert set(done[done.msg_type == "certificate"].sender) == {"client", "server"}  # WebRTC: mutual auth
    if _sdp_fingerprints(base):
        assert prints == _sdp_fingerprints(base)
    finished = done[done.msg_type == "finished"]
    assert set(finished.sender) == {"client", "server"} and finished.finished_ok.all()
    facts = decrypt.dtls13_associations(dec)
    assert len(facts) == 1 and facts.client_finished_ok.all() and facts.server_finished_ok.all()
    assert facts.records_failed.sum() == 0 and facts.client_finished_t.iloc[0] >= facts.server_finished_t.iloc[0]
    assert set(dec.epoch) >= {2, 3}
    assert (dec[dec.epoch == 2].content_type == "handshake").all()


def test_dtls13_profile_is_found_by_trial_with_the_exporter_secret_alone(dtls13_session):
    base = dtls13_session
    text = base.with_name(base.name + ".keylog").read_text()
    only_exporter = "\n".join(line for line in text.splitlines() if line.startswith("EXPORTER_SECRET"))
    cap = webrtcpcap.open(capture_path(base), keylog=only_exporter + "\n", progress=False)
    summary = cap.decryption.summary
    assert cap.decryption.problems == [] and len(summary) == 2
    assert (summary.srtp_authenticated == summary.srtp_packets).all()
    assert (summary.srtcp_authenticated == summary.srtcp_packets).all()
    # without the handshake secrets the records cannot be opened: each says why, none is dropped
    dec = cap.dtls_decrypted
    assert len(dec) == int(cap.dtls_records.dtls13.sum()) and not dec.decrypted.any()
    assert dec.error.astype(str).str.contains("no key in the key log").all()


def test_dtls13_secrets_never_appear_in_what_decryption_shows(dtls13_session):
    base = dtls13_session
    keylog = base.with_name(base.name + ".keylog")
    cap = webrtcpcap.open(capture_path(base), keylog=keylog, progress=False)
    secrets = [line.split()[2].lower() for line in keylog.read_text().splitlines() if not line.startswith("#")]
    shown = " ".join([repr(cap.decryption), cap.decryption.summary.to_string(), repr(cap.decryption.sources),
                      cap.dtls_decrypted.to_string(), repr(cap._keylog), str(cap.decryption.problems)]).lower()
    for secret in secrets:
        assert secret[:16] not in shown


def test_write_decrypted_of_a_dtls13_session_opens_in_tshark_as_plain_rtp(dtls13_session, tmp_path):
    import shutil
    import subprocess

    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    base = dtls13_session
    cap = webrtcpcap.open(capture_path(base), keylog=base.with_name(base.name + ".keylog"), progress=False)
    out = tmp_path / "plain.pcap"
    cap.write_decrypted(out)
    rtp = cap.rtp[cap.rtp.dtls_srtp]
    ports = sorted(set(rtp.sport.astype(int)) | set(rtp.dport.astype(int)))
    args = ["tshark", "-r", str(out), "-Y", "rtp.ssrc && !rtcp", "-T", "fields", "-e", "frame.number", "-e", "rtp.ssrc",
            "-e", "rtp.seq"]
    for port in ports:
        args[3:3] = ["-d", f"udp.port=={port},rtp"]
    rows = [line.split("\t") for line in subprocess.run(args, capture_output=True, text=True,
                                                        check=True).stdout.split("\n") if line]
    got = {(int(f), int(s, 16), int(q)) for f, s, q in rows}
    assert got == {(int(f), int(s), int(q)) for f, s, q in zip(rtp.frame, rtp.ssrc, rtp.seq)}
    # the payloads tshark reads are the decrypted ones: equal to webrtcpcap's plaintext of the same frames
    frame = int(rtp[rtp.pt == rtp.pt.mode()[0]].frame.iloc[10])
    raw = subprocess.run(args[:args.index("-Y")] + ["-Y", f"frame.number == {frame}", "-T", "fields", "-e",
                                                    "rtp.payload"], capture_output=True, text=True,
                         check=True).stdout.strip().replace(":", "")
    assert bytes.fromhex(raw) == cap.rtp_payload(frame) != b""


def test_report_with_a_dtls13_key_log_does_not_say_nothing_to_decrypt(dtls13_session):
    from webrtcpcap import report

    base = dtls13_session
    r = report.build(str(capture_path(base)), keylog=str(base.with_name(base.name + ".keylog")))
    assert not any("nothing to decrypt" in n for n in r.notes)
    assert any(what == "key log" and "1 TLS 1.3 session" in status for what, _, status in r.inputs)


# -- DTLS 1.3 with crafted packets (no capture needed) ---------------------------------------------------------


CLIENT, SERVER = "10.0.0.1:5000", "10.0.0.2:6000"
CR = bytes(range(32))
EXPORTER = bytes(range(100, 132))


def _association(**kw) -> pd.DataFrame:
    row = dict(association=0, client=CLIENT, server=SERVER, peer=None, client_random=CR.hex(),
               server_random=bytes(32).hex(), srtp_profile=None, cipher_suite="TLS_AES_128_GCM_SHA256")
    row.update(kw)
    return pd.DataFrame([row])


def _client_hello_rows(offered: str) -> pd.DataFrame:
    return pd.DataFrame({"msg_type": pd.Categorical(["client_hello"]), "srtp_profiles": [offered],
                         "src": ["10.0.0.1"], "sport": [5000], "dst": ["10.0.0.2"], "dport": [6000]})


def _srtp_packets(profile, side, n=6, ssrc=0x1234):
    k = keys.export_srtp_keys_tls13(EXPORTER, profile)
    key, salt = ((k.client_write_key, k.client_write_salt) if side == "client"
                 else (k.server_write_key, k.server_write_salt))
    tx = pylibsrtp.Session(pylibsrtp.Policy(key=key + salt, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
                                            srtp_profile=srtp.Profile(profile).libsrtp))
    return [tx.protect(struct.pack(">BBHII", 0x80, 96, seq, seq * 960, ssrc) + b"media %d" % seq) for seq in range(n)]


def test_dtls13_keys_without_the_chosen_profile_are_candidates_in_offer_order_dtls13_prefix_first():
    log = keys.parse_keylog(f"EXPORTER_SECRET {CR.hex()} {EXPORTER.hex()}\n")
    out, problems = decrypt.dtls_keys(_association(), log, _client_hello_rows(
        "SRTP_AEAD_AES_128_GCM,SRTP_AES128_CM_HMAC_SHA1_80,SRTP_UNKNOWN_0x00ff"))
    assert problems == [] and set(out) == {(CLIENT, SERVER, None), (SERVER, CLIENT, None)}
    candidates = out[(CLIENT, SERVER, None)]
    assert [(c.profile, c.derivation) for c in candidates] == [
        ("SRTP_AEAD_AES_128_GCM", "DTLS 1.3 exporter, label prefix 'dtls13'"),
        ("SRTP_AES128_CM_HMAC_SHA1_80", "DTLS 1.3 exporter, label prefix 'dtls13'"),
        ("SRTP_AEAD_AES_128_GCM", "DTLS 1.3 exporter, label prefix 'tls13 '"),
        ("SRTP_AES128_CM_HMAC_SHA1_80", "DTLS 1.3 exporter, label prefix 'tls13 '")]
    assert {c.label for c in candidates} == {"dtls 0 client"}


def test_dtls13_keys_take_the_profile_of_the_opened_encrypted_extensions():
    log = keys.parse_keylog(f"EXPORTER_SECRET {CR.hex()} {EXPORTER.hex()}\n")
    opened = pd.DataFrame({"association": [0], "msg_type": pd.Categorical(["encrypted_extensions"]),
                           "reassembled": pd.array([True], dtype="boolean"),
                           "srtp_profiles": pd.array(["SRTP_AES128_CM_HMAC_SHA1_32"], dtype="string")})
    out, _ = decrypt.dtls_keys(_association(), log, _client_hello_rows("SRTP_AEAD_AES_128_GCM"), opened)
    assert [c.profile for c in out[(SERVER, CLIENT, None)]] == ["SRTP_AES128_CM_HMAC_SHA1_32"] * 2


def test_dtls13_association_without_any_key_log_line_is_a_problem():
    log = keys.parse_keylog(f"EXPORTER_SECRET {bytes(32).hex()} {EXPORTER.hex()}\n")
    out, problems = decrypt.dtls_keys(_association(), log)
    assert out == {} and problems == [f"DTLS association 0 ({CLIENT} -> {SERVER}): the key log has no "
                                      "EXPORTER_SECRET line for this handshake"]
    both = keys.parse_keylog(f"EXPORTER_SECRET {bytes(32).hex()} {EXPORTER.hex()}\n"
                             f"CLIENT_RANDOM {bytes(32).hex()} {bytes(48).hex()}\n")
    assert decrypt.dtls_keys(_association(), both)[1][0].endswith(
        "no CLIENT_RANDOM or EXPORTER_SECRET line for this handshake")


def _rtp_table(packets_by_side):
    rows, payloads = [], []
    for side, packets in packets_by_side.items():
        src, dst = (CLIENT, SERVER) if side == "client" else (SERVER, CLIENT)
        for p in packets:
            rows.append(dict(src=src.split(":")[0], sport=int(src.split(":")[1]), dst=dst.split(":")[0],
                             dport=int(dst.split(":")[1]), ssrc=int.from_bytes(p[8:12], "big"), dtls_srtp=True))
            payloads.append(p)
    return pd.DataFrame(rows), payloads


@pytest.mark.parametrize("profile", list(srtp.Profile))
def test_authentication_picks_the_dtls13_profile_among_the_offered_ones(profile):
    log = keys.parse_keylog(f"EXPORTER_SECRET {CR.hex()} {EXPORTER.hex()}\n")
    offered = ",".join(p.name for p in srtp.Profile)
    dtls_keys, _ = decrypt.dtls_keys(_association(), log, _client_hello_rows(offered))
    rtp, payloads = _rtp_table({"client": _srtp_packets(profile, "client"),
                                "server": _srtp_packets(profile, "server", ssrc=0x5678)})
    d = decrypt.decrypt(rtp, lambda rows: [payloads[i] for i in rows], {}, [], dtls_keys, [])
    assert (d.rtp_status == srtp.Status.OK).all()
    assert sorted(d.summary.key) == ["dtls 0 client", "dtls 0 server"]
    assert set(d.summary.profile) == {profile.name}
    assert set(d.summary.derivation) == {"DTLS 1.3 exporter, label prefix 'dtls13'"}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=60), min_size=1, max_size=6))
def test_arbitrary_srtp_under_dtls13_candidates_is_flagged_never_an_exception(blobs):
    log = keys.parse_keylog(f"EXPORTER_SECRET {CR.hex()} {EXPORTER.hex()}\n")
    dtls_keys, _ = decrypt.dtls_keys(_association(), log, _client_hello_rows("SRTP_AEAD_AES_128_GCM,"
                                                                             "SRTP_AES128_CM_HMAC_SHA1_80"))
    blobs = [b"\x80" + b[1:] if b else b for b in blobs]
    rtp, payloads = _rtp_table({"client": blobs})
    d = decrypt.decrypt(rtp, lambda rows: [payloads[i] for i in rows], {}, [], dtls_keys, [])
    assert set(d.rtp_status.tolist()) <= {srtp.Status.AUTH_FAILED, srtp.Status.TOO_SHORT, srtp.Status.BAD_HEADER}


# A whole DTLS 1.3 handshake sealed by hand: hellos in the clear, then the server's and the client's epoch-2
# flights and an epoch-3 ACK, with Finished computed over the transcript as RFC 8446 §4.4.4 says.

def _cert_der() -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "crafted")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def _hs(msg_type: int, seq: int, body: bytes) -> bytes:
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + struct.pack(">H", seq) + bytes(3) + \
        len(body).to_bytes(3, "big") + body


def _plain_record(seq: int, payload: bytes) -> bytes:
    return struct.pack(">BHH", 22, 0xFEFD, 0) + seq.to_bytes(6, "big") + struct.pack(">H", len(payload)) + payload


def _finished(base: bytes, messages) -> bytes:
    transcript = b"".join(bytes([t]) + len(b).to_bytes(3, "big") + b for t, b in messages)
    finished_key = tls13.hkdf_expand_label(base, b"finished", b"", 32)
    return hmac.new(finished_key, hashlib.sha256(transcript).digest(), "sha256").digest()


def _crafted_handshake(break_client_finished=False):
    secrets = {k: bytes([i + 1]) * 32 for i, k in enumerate(["c_hs", "s_hs", "c_app", "s_app"])}
    cert = _cert_der()
    ch, sh = (1, b"client hello body"), (2, b"\x03\x03" + bytes(32) + b"rest of server hello")
    ee = (8, bytes(dtls.EncryptedExtensions((dtls.Extension(14, b"\x00\x02\x00\x07\x00"),))))
    certificate = (11, bytes(dtls.Certificate13(b"", (dtls.CertificateEntry(cert),))))
    cv = (15, bytes(dtls.CertificateVerify(0x0403, b"signature")))
    server_fin = (20, _finished(secrets["s_hs"], [ch, sh, ee, certificate, cv]))
    client_cert = (11, bytes(dtls.Certificate13(b"", (dtls.CertificateEntry(cert),))))
    client_fin = (20, _finished(secrets["c_hs"], [ch, sh, ee, certificate, cv, server_fin, client_cert, cv]))
    if break_client_finished:
        client_fin = (20, bytes(32))
    seal = lambda secret, epoch, seq, ctype, content: _seal(secret, 0x1301, epoch, seq, ctype, content,  # noqa
                                                           seq16=True, with_length=True)
    datagrams = [
        ("client", _plain_record(0, _hs(*ch[:1], 0, ch[1]))),
        ("server", _plain_record(0, _hs(sh[0], 0, sh[1])) + seal(secrets["s_hs"], 2, 0, 22, _hs(ee[0], 1, ee[1]))
         + seal(secrets["s_hs"], 2, 1, 22, _hs(certificate[0], 2, certificate[1]))
         + seal(secrets["s_hs"], 2, 2, 22, _hs(cv[0], 3, cv[1]) + _hs(server_fin[0], 4, server_fin[1]))),
        ("client", seal(secrets["c_hs"], 2, 0, 22, _hs(client_cert[0], 1, client_cert[1]))
         + seal(secrets["c_hs"], 2, 1, 22, _hs(cv[0], 2, cv[1]) + _hs(client_fin[0], 3, client_fin[1]))),
        ("server", seal(secrets["s_app"], 3, 0, 26, struct.pack(">HQQQQ", 32, 2, 0, 2, 1))),
        ("server", seal(secrets["s_app"], 3, 1, 21, b"\x01\x00")),
        ("client", bytes([0x2f, 0, 9, 0, 20]) + bytes(20)),  # garbage in epoch 3: does not authenticate
    ]
    keylog = "\n".join(f"{label} {CR.hex()} {secrets[k].hex()}" for label, k in (
        ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", "c_hs"), ("SERVER_HANDSHAKE_TRAFFIC_SECRET", "s_hs"),
        ("CLIENT_TRAFFIC_SECRET_0", "c_app"), ("SERVER_TRAFFIC_SECRET_0", "s_app")))
    n = len(datagrams)
    src = ["10.0.0.1" if s == "client" else "10.0.0.2" for s, _ in datagrams]
    dst = ["10.0.0.2" if s == "client" else "10.0.0.1" for s, _ in datagrams]
    dg_keys = {"frame": np.arange(1, n + 1, dtype=np.uint32), "t": np.arange(n, dtype=float) / 10,
               "src": pd.Categorical(src), "dst": pd.Categorical(dst),
               "sport": np.array([5000 if s == "client" else 6000 for s, _ in datagrams], dtype=np.uint16),
               "dport": np.array([6000 if s == "client" else 5000 for s, _ in datagrams], dtype=np.uint16)}
    return dg_keys, [p for _, p in datagrams], keys.parse_keylog(keylog), dtls.fingerprint(cert)


def test_dtls13_records_of_a_crafted_handshake_show_profile_certificate_acks_alerts_and_verified_finished():
    dg_keys, payloads, log, fingerprint = _crafted_handshake()
    table = decrypt.dtls13_records(dg_keys, payloads, _association(), log)
    assert tables.check_schema(table, decrypt.DTLS_DECRYPTED_SCHEMA) == []
    rows = {(r.frame, r.msg_type if not pd.isna(r.msg_type) else r.content_type): r
            for r in table.itertuples(index=False)}
    ee = rows[(2, "encrypted_extensions")]
    assert (ee.sender, ee.epoch, ee.sequence_number, ee.srtp_profiles, ee.srtp_mki) == (
        "server", 2, 0, "SRTP_AEAD_AES_128_GCM", "")
    assert rows[(2, "certificate")].certificate_fingerprint == fingerprint
    assert rows[(3, "certificate")].certificate_fingerprint == fingerprint
    assert rows[(2, "certificate_verify")].signature_scheme == "ecdsa_secp256r1_sha256"
    assert bool(rows[(2, "finished")].finished_ok) and bool(rows[(3, "finished")].finished_ok)
    assert (rows[(4, "ack")].acked_records, rows[(4, "ack")].epoch) == ("2:0,2:1", 3)
    assert (rows[(5, "alert")].alert_level, rows[(5, "alert")].alert_description) == ("warning", "close_notify")
    bad = table[table.frame == 6]
    assert len(bad) == 1 and not bad.decrypted.iloc[0] and "does not authenticate" in bad.error.iloc[0]
    assert table[table.frame != 6].decrypted.all()
    facts = decrypt.dtls13_associations(table)
    assert tables.check_schema(facts, decrypt.DTLS13_ASSOCIATIONS_SCHEMA) == []
    f = facts.iloc[0]
    assert (f.association, f.srtp_profile, f.client_fingerprint, f.server_fingerprint) == (
        0, "SRTP_AEAD_AES_128_GCM", fingerprint, fingerprint)
    assert (f.server_finished_t, f.client_finished_t) == (0.1, 0.2)
    assert bool(f.server_finished_ok) and bool(f.client_finished_ok)
    assert (f.records_opened, f.records_failed) == (7, 1)
    assert f.alerts == "warning close_notify from server at 0.400 s"
    assert len(decrypt.dtls13_associations(table.iloc[:0])) == 0


def test_a_forged_client_finished_is_flagged_not_ok():
    dg_keys, payloads, log, _ = _crafted_handshake(break_client_finished=True)
    table = decrypt.dtls13_records(dg_keys, payloads, _association(), log)
    fin = table[table.msg_type == "finished"].set_index("sender").finished_ok
    assert fin["server"] == True and fin["client"] == False  # noqa: E712 (pandas booleans)


def test_dtls13_records_without_tls13_secrets_or_associations_is_an_empty_table():
    dg_keys, payloads, _, _ = _crafted_handshake()
    for log, assoc in ((keys.parse_keylog(""), _association()), (None, _association()),
                       (keys.parse_keylog(f"EXPORTER_SECRET {CR.hex()} {EXPORTER.hex()}"), _association().iloc[:0])):
        table = decrypt.dtls13_records(dg_keys, payloads, assoc, log)
        assert len(table) == 0 and tables.check_schema(table, decrypt.DTLS_DECRYPTED_SCHEMA) == []


@settings(max_examples=80, deadline=None)
@given(st.lists(st.binary(max_size=80).map(lambda b: bytes([0x20 | (b[0] & 0x0F)]) + b[1:] if b else b),
                min_size=1, max_size=5))
def test_arbitrary_dtls13_datagrams_give_rows_that_do_not_authenticate_never_an_exception(blobs):
    log = keys.parse_keylog("\n".join(f"{label} {CR.hex()} {'11' * 32}" for label in (
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0",
        "SERVER_TRAFFIC_SECRET_0")))
    n = len(blobs)
    dg_keys = {"frame": np.arange(1, n + 1, dtype=np.uint32), "t": np.zeros(n), "src": pd.Categorical(["10.0.0.1"] * n),
               "dst": pd.Categorical(["10.0.0.2"] * n), "sport": np.full(n, 5000, dtype=np.uint16),
               "dport": np.full(n, 6000, dtype=np.uint16)}
    table = decrypt.dtls13_records(dg_keys, blobs, _association(), log)
    assert not table.decrypted.any()
    # every unified-header record that starts a datagram has its row, opened or not
    assert set(table.frame) == {i + 1 for i, b in enumerate(blobs) if b}


def test_a_dtls13_record_that_cannot_be_delimited_still_gets_a_row():
    _, _, log, _ = _crafted_handshake()
    dg_keys = {"frame": np.array([1], dtype=np.uint32), "t": np.zeros(1), "src": pd.Categorical(["10.0.0.1"]),
               "dst": pd.Categorical(["10.0.0.2"]), "sport": np.array([5000], dtype=np.uint16),
               "dport": np.array([6000], dtype=np.uint16)}
    table = decrypt.dtls13_records(dg_keys, [bytes([0x3e, 0, 0])], _association(), log)  # C bit: a connection id
    assert len(table) == 1 and not table.decrypted.iloc[0] and not pd.isna(table.error.iloc[0])


def test_report_with_a_dtls13_key_log_of_another_call_says_it_opened_nothing(dtls13_session, tmp_path):
    from webrtcpcap import report

    other = tmp_path / "other.keylog"
    other.write_text(f"EXPORTER_SECRET {'ab' * 32} {'cd' * 32}\n")
    r = report.build(str(capture_path(dtls13_session)), keylog=str(other))
    assert any("opened nothing in this capture" in n and "no EXPORTER_SECRET line" in n for n in r.notes)
    assert not any("cdcd" in n for n in r.notes)


def test_dtls_decrypted_is_an_empty_typed_table_without_tls13_secrets():
    for cap in (open_keyed("aiortc_clean"), webrtcpcap.open(CAPTURES / "aiortc_clean.pcap", progress=False)):
        assert len(cap.dtls_decrypted) == 0
        assert tables.check_schema(cap.dtls_decrypted, decrypt.DTLS_DECRYPTED_SCHEMA) == []
