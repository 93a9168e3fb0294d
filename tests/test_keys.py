"""SRTP keys: NSS key logs, the TLS 1.2 PRF (RFC 5246 §5), the DTLS-SRTP exporter (RFC 5705, RFC 5764 §4.2), SDES
a=crypto (RFC 4568) and raw master keys; checked on the lab's aiortc sessions against their exported keys.

Strategy: reference values come from a published PRF vector, from OpenSSL's own TLS1-PRF (`openssl kdf`, an
independent implementation), from RFC 4568's example line, and from the `.srtp-keys.json` the aiortc peer wrote
(its OpenSSL exported them); the hello randoms come from tshark's dissection.  Decryption of the captures checks
every SRTP/SRTCP packet of both directions authenticates with the derived keys.
"""

from __future__ import annotations

import base64
import json
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pylibsrtp
import pytest

import webrtcpcap
from webrtcpcap import DecodeError
from webrtcpcap.protocols.keys import (KeyLog, MasterKey, SrtpKeys, export_srtp_keys, export_srtp_keys_tls13,
    load_keylog, parse_keylog, parse_master_key, sdes_keys, tls12_prf)
from webrtcpcap.protocols.srtp import Decryptor, Profile

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
AIORTC_SESSIONS = ["aiortc_clean", "aiortc_loss5_rtp", "aiortc_loss_both", "aiortc_mtu576", "aiortc_outage3s",
                   "chromium_aiortc_loss5", "dtls_handshake_loss", "turn_relay_static", "turn_relay_rest_chromium"]
TSHARK = shutil.which("tshark")
OPENSSL = shutil.which("openssl")

# --- TLS 1.2 PRF -----------------------------------------------------------------------------------------------

# The TLS 1.2 P_SHA256 test vector posted to the IETF TLS working group list
# (https://www.ietf.org/mail-archive/web/tls/current/msg03416.html), as used e.g. in the JUnit test
# tompetersen/bachelor-thesis Source/jProtocol/src/test/tls/PseudoRandomFunction.java.
PRF_SECRET = bytes.fromhex("9bbe436ba940f017b17652849a71db35")
PRF_SEED = bytes.fromhex("a0ba9f936cda311827a6f796ffd5198c")
PRF_OUT = bytes.fromhex(
    "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17"
    "abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff70187347b66")


def test_tls12_prf_matches_the_published_sha256_vector():
    assert tls12_prf(PRF_SECRET, b"test label", PRF_SEED, 100) == PRF_OUT


def test_tls12_prf_output_is_a_prefix_of_a_longer_output():
    assert tls12_prf(PRF_SECRET, b"test label", PRF_SEED, 7) == PRF_OUT[:7]
    assert tls12_prf(PRF_SECRET, b"test label", PRF_SEED, 0) == b""


def _openssl_prf(digest: str, secret: bytes, label: bytes, seed: bytes, length: int) -> bytes:
    out = subprocess.run(
        [OPENSSL, "kdf", "-keylen", str(length), "-kdfopt", f"digest:{digest}", "-kdfopt", f"hexsecret:{secret.hex()}",
         "-kdfopt", f"hexseed:{(label + seed).hex()}", "TLS1-PRF"],
        capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        pytest.skip(f"openssl kdf TLS1-PRF not available: {out.stderr.strip()[:80]}")
    return bytes.fromhex(out.stdout.strip().replace(":", ""))


@pytest.mark.skipif(OPENSSL is None, reason="openssl not installed")
@pytest.mark.parametrize("digest,hash_name", [("SHA2-256", "sha256"), ("SHA2-384", "sha384")])
def test_tls12_prf_equals_openssl_tls1_prf(digest, hash_name):
    rnd = np.random.default_rng(7)
    secret, seed = rnd.bytes(48), rnd.bytes(64)
    assert tls12_prf(secret, b"master secret", seed, 77, hash_name) == \
        _openssl_prf(digest, secret, b"master secret", seed, 77)


def test_tls12_prf_refuses_an_unknown_hash_and_a_negative_length():
    with pytest.raises(DecodeError, match="TLS PRF hash 'nope' is not available"):
        tls12_prf(b"k", b"l", b"s", 10, "nope")
    with pytest.raises(DecodeError, match="TLS PRF length -1 is negative"):
        tls12_prf(b"k", b"l", b"s", -1)


# --- exporter ----------------------------------------------------------------------------------------------------


@pytest.mark.skipif(OPENSSL is None, reason="openssl not installed")
@pytest.mark.parametrize("profile", list(Profile))
def test_exporter_equals_openssl_prf_split_per_rfc_5764(profile):
    rnd = np.random.default_rng(int(profile))
    ms, cr, sr = rnd.bytes(48), rnd.bytes(32), rnd.bytes(32)
    k, s = profile.key_len, profile.salt_len
    ref = _openssl_prf("SHA2-256", ms, b"EXTRACTOR-dtls_srtp", cr + sr, 2 * (k + s))
    keys = export_srtp_keys(ms, cr, sr, profile)
    assert keys.profile is profile
    assert (keys.client_write_key, keys.server_write_key, keys.client_write_salt, keys.server_write_salt) == (
        ref[:k], ref[k:2 * k], ref[2 * k:2 * k + s], ref[2 * k + s:])
    assert export_srtp_keys(ms, cr, sr, profile.name, extended_master_secret=True) == keys


def test_exporter_refuses_wrong_lengths():
    with pytest.raises(DecodeError, match="TLS master secret has 47 bytes, not 48"):
        export_srtp_keys(bytes(47), bytes(32), bytes(32), Profile.SRTP_AEAD_AES_256_GCM)
    with pytest.raises(DecodeError, match="TLS server random has 31 bytes, not 32"):
        export_srtp_keys(bytes(48), bytes(32), bytes(31), Profile.SRTP_AEAD_AES_256_GCM)
    with pytest.raises(DecodeError, match="SRTP profile 'SRTP_NULL' is not supported"):
        export_srtp_keys(bytes(48), bytes(32), bytes(32), "SRTP_NULL")


def test_srtp_keys_repr_shows_profile_and_lengths_only():
    keys = export_srtp_keys(bytes(range(48)), bytes(32), bytes(range(32)), Profile.SRTP_AEAD_AES_256_GCM)
    assert repr(keys) == "<SrtpKeys SRTP_AEAD_AES_256_GCM: key 32 bytes, salt 12 bytes, per direction>"
    assert str(keys) == repr(keys)
    with pytest.raises(DecodeError, match="DTLS-SRTP sender 'both' is neither 'client' nor 'server'"):
        keys.decryptor("both")


# --- key logs ----------------------------------------------------------------------------------------------------

CR1, MS1 = "11" * 32, "aa" * 48
CR2, MS2 = "22" * 32, "bb" * 48


def test_keylog_keeps_tls12_lines_and_counts_the_rest():
    text = "\n".join([
        "# a comment", "",
        f"CLIENT_RANDOM {CR1} {MS1}",
        f"CLIENT_RANDOM {CR2.upper()} {MS2}",
        f"CLIENT_HANDSHAKE_TRAFFIC_SECRET {CR1} {'cc' * 32}",
        f"SERVER_TRAFFIC_SECRET_0 {CR1} {'dd' * 32}",
        f"RSA {'ee' * 8} {'ff' * 48}",
        f"CLIENT_RANDOM {CR1[:-2]} {MS1}",  # 31-byte random
        f"CLIENT_RANDOM {CR1} {MS1[:-2]}",  # 47-byte secret
        f"CLIENT_RANDOM {CR1} zz{MS1[2:]}",  # not hex
        f"CLIENT_RANDOM {CR1}",  # missing field
        "GARBAGE line here",
    ])
    log = parse_keylog(text)
    assert len(log) == 2 and (log.tls13_lines, log.other_lines, log.malformed_lines) == (2, 1, 5)
    assert log[bytes.fromhex(CR1)] == bytes.fromhex(MS1) and log.get(bytes.fromhex(CR2)) == bytes.fromhex(MS2)
    assert bytes.fromhex(CR1) in log and log.get(bytes(32)) is None
    assert log.client_randoms() == [bytes.fromhex(CR1), bytes.fromhex(CR2)]
    for text in (repr(log), str(log)):
        assert text == "<KeyLog: 2 TLS 1.2 sessions, 1 TLS 1.3 session (2 lines), 5 malformed lines>"
        assert "aa" * 4 not in text and "bb" * 4 not in text


def test_keylog_keeps_tls13_secrets_by_client_random():
    secrets = {label: bytes([i + 1]) * 32 for i, label in enumerate(
        ["CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0",
         "SERVER_TRAFFIC_SECRET_0", "EXPORTER_SECRET"])}
    lines = ["# SSL/TLS secrets log file, generated by NSS"]
    lines += [f"{label} {CR1} {secret.hex()}" for label, secret in secrets.items()]
    lines += [f"EXPORTER_SECRET {CR2} {'77' * 48}",  # a SHA-384 suite: 48 bytes
              f"CLIENT_EARLY_TRAFFIC_SECRET {CR2} {'88' * 32}",  # counted, not kept (no 0-RTT in WebRTC)
              f"EXPORTER_SECRET {CR1[:-2]} {'99' * 32}",  # 31-byte random
              f"EXPORTER_SECRET {CR1} {'99' * 40}",  # neither 32 nor 48 bytes
              f"SERVER_TRAFFIC_SECRET_0 {CR1} zz{'99' * 31}"]  # not hex
    log = parse_keylog("\n".join(lines))
    assert len(log) == 0 and log.sessions == 2 and log.malformed_lines == 3 and log.tls13_lines == 7
    assert log.tls13_client_randoms() == [bytes.fromhex(CR1), bytes.fromhex(CR2)]
    s1 = log.tls13(bytes.fromhex(CR1))
    assert s1.client_handshake_traffic_secret == secrets["CLIENT_HANDSHAKE_TRAFFIC_SECRET"]
    assert s1.server_handshake_traffic_secret == secrets["SERVER_HANDSHAKE_TRAFFIC_SECRET"]
    assert s1.client_traffic_secret_0 == secrets["CLIENT_TRAFFIC_SECRET_0"]
    assert s1.server_traffic_secret_0 == secrets["SERVER_TRAFFIC_SECRET_0"]
    assert s1.exporter_secret == secrets["EXPORTER_SECRET"]
    assert s1.traffic_secrets("client") == {2: secrets["CLIENT_HANDSHAKE_TRAFFIC_SECRET"],
                                            3: secrets["CLIENT_TRAFFIC_SECRET_0"]}
    assert s1.traffic_secrets("server") == {2: secrets["SERVER_HANDSHAKE_TRAFFIC_SECRET"],
                                            3: secrets["SERVER_TRAFFIC_SECRET_0"]}
    s2 = log.tls13(bytes.fromhex(CR2))
    assert s2.exporter_secret == bytes.fromhex("77" * 48) and s2.client_handshake_traffic_secret is None
    assert s2.traffic_secrets("client") == {} and log.tls13(bytes(32)) is None
    with pytest.raises(DecodeError, match="neither 'client' nor 'server'"):
        s1.traffic_secrets("peer")
    for text in (repr(log), str(log), repr(s1), str(s1), repr(s2)):
        assert "0101" not in text and "0505" not in text and "7777" not in text
    assert repr(log) == "<KeyLog: 0 TLS 1.2 sessions, 2 TLS 1.3 sessions (7 lines), 3 malformed lines>"
    assert repr(s2) == "<Tls13Secrets: EXPORTER_SECRET>"


def test_open_takes_a_one_line_tls13_keylog_as_text_not_as_a_path(tmp_path):
    from webrtcpcap.capture import _load_keylog

    log = _load_keylog(f"EXPORTER_SECRET {CR1} {'ab' * 32}")
    assert log.sessions == 1 and log.tls13(bytes.fromhex(CR1)).exporter_secret == bytes.fromhex("ab" * 32)


def test_keylog_of_garbage_is_empty_not_an_error():
    log = parse_keylog("\x00\xff binary\nCLIENT_RANDOM\n\n")
    assert len(log) == 0 and log.malformed_lines == 2


def test_load_keylog_reads_a_lab_keylog():
    log = load_keylog(CAPTURES / "aiortc_clean.keylog")
    assert isinstance(log, KeyLog) and len(log) == 1 and log.malformed_lines == 0
    assert "CLIENT_RANDOM" not in repr(log)


# --- SDES and raw master keys ------------------------------------------------------------------------------------

# RFC 4568 §9.1's example offer (audio section), as printed in the RFC.
RFC4568_OFFER = """v=0
o=sam 2890844526 2890842807 IN IP4 10.47.16.5
s=SRTP Discussion
c=IN IP4 168.2.17.12
t=2854678930 2854679000
m=audio 49170 RTP/SAVP 0
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4 FEC_ORDER=FEC_SRTP
a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|2^20|1:4
"""
RFC4568_KEY1 = base64.b64decode("WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz")


def test_sdes_reads_the_rfc_4568_example():
    k1, k2 = sdes_keys(RFC4568_OFFER)
    assert (k1.section, k1.media, k1.mid, k1.ssrcs, k1.tag) == (0, "audio", None, (), 1)
    assert k1.profile is Profile.SRTP_AES128_CM_HMAC_SHA1_80 and k2.profile is Profile.SRTP_AES128_CM_HMAC_SHA1_32
    assert (k1.key, k1.salt) == (RFC4568_KEY1[:16], RFC4568_KEY1[16:])
    assert (k1.lifetime, k1.mki, k1.mki_len, k1.session_params) == (1 << 20, 1, 4, ("FEC_ORDER=FEC_SRTP",))
    assert repr(k1) == "<SdesKey section 0 (audio, mid None) tag 1 AES_CM_128_HMAC_SHA1_80 mki 1:4>"
    assert "WVNf" not in repr(k1) and RFC4568_KEY1.hex()[:8] not in repr(k1)


def test_sdes_keeps_mid_and_ssrcs_per_section_and_gcm_suites():
    rnd = np.random.default_rng(3)
    a, v = rnd.bytes(28), rnd.bytes(44)
    sdp = [
        "v=0", "m=audio 9 RTP/SAVPF 111", "a=mid:0", "a=ssrc:1111 cname:x", "a=ssrc:1111 msid:y",
        f"a=crypto:1 AEAD_AES_128_GCM inline:{base64.b64encode(a).decode()}",
        "m=video 9 RTP/SAVPF 96", "a=mid:1", "a=ssrc:2222 cname:x", "a=ssrc:3333 cname:x",
        f"a=crypto:7 AEAD_AES_256_GCM inline:{base64.b64encode(v).decode().rstrip('=')}|2147483647",
    ]
    ka, kv = sdes_keys(sdp)
    assert (ka.section, ka.mid, ka.ssrcs, ka.key + ka.salt) == (0, "0", (1111,), a)
    assert ka.profile is Profile.SRTP_AEAD_AES_128_GCM
    assert (kv.section, kv.mid, kv.ssrcs, kv.tag, kv.lifetime) == (1, "1", (2222, 3333), 7, 2147483647)
    assert (kv.profile, kv.key, kv.salt) == (Profile.SRTP_AEAD_AES_256_GCM, v[:32], v[32:])


@pytest.mark.parametrize("line,message", [
    ("a=crypto:1 AES_CM_128_HMAC_SHA1_80", "SDP a=crypto line does not read"),
    ("a=crypto:1 F8_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz", "suite 'F8_128_HMAC_SHA1_80' is not"),
    ("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7", "key||salt has 21 bytes, AES_CM_128_HMAC_SHA1_80 needs 30"),
    ("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNf!!!!", "neither base64 nor hex"),
    ("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|x^3", "lifetime does not read"),
    ("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|1:999", "MKI does not read"),
    ("a=crypto:1 AES_CM_128_HMAC_SHA1_80 uri:http://x", "key method is not inline"),
])  # fmt: skip
def test_sdes_bad_lines_raise_without_echoing_the_key(line, message):
    with pytest.raises(DecodeError, match=message.replace("|", r"\|")) as e:
        sdes_keys(["m=audio 9 RTP/SAVP 0", line])
    assert "WVNfX19z" not in str(e.value)


@pytest.mark.parametrize("profile", list(Profile))
def test_parse_master_key_reads_base64_and_hex(profile):
    raw = np.random.default_rng(9).bytes(profile.key_len + profile.salt_len)
    colons = ":".join(f"{b:02X}" for b in raw)
    for text in (base64.b64encode(raw).decode(), base64.b64encode(raw).decode().rstrip("="), raw.hex(),
                 "0x" + raw.hex(), colons, f"inline:{base64.b64encode(raw).decode()}|2^31"):
        mk = parse_master_key(text, profile)
        assert (mk.profile, mk.key, mk.salt) == (profile, raw[:profile.key_len], raw[profile.key_len:])
    assert repr(mk) == f"<MasterKey {profile.name}>"


def test_parse_master_key_wrong_length_names_lengths_not_the_key():
    raw = bytes(range(20))
    for text in (raw.hex(), base64.b64encode(raw).decode()):
        with pytest.raises(DecodeError, match="SRTP master key||salt has 20 bytes, AEAD_AES_256_GCM needs 44 "
                                              r"\(key 32 \+ salt 12\)".replace("||", r"\|\|")) as e:
            parse_master_key(text, "SRTP_AEAD_AES_256_GCM")
        assert text not in str(e.value)
    with pytest.raises(DecodeError, match="neither base64 nor hex"):
        parse_master_key("not a key at all", Profile.SRTP_AES128_CM_HMAC_SHA1_80)


def test_sdes_key_decrypts_packets_protected_with_it():
    key = sdes_keys(RFC4568_OFFER)[1]  # the _32 suite
    tx = pylibsrtp.Session(pylibsrtp.Policy(key.key + key.salt, pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
                                            srtp_profile=key.profile.libsrtp))
    plain = [struct.pack(">BBHII", 0x80, 0, s, s * 160, 0xABCDEF) + bytes(160) for s in range(10)]
    res = key.decryptor().rtp([tx.protect(p) for p in plain])
    assert res.plaintext == plain


# --- lab captures: derived keys equal the exported ones, and decrypt every packet -----------------------------


def _tshark_hellos(pcap: Path) -> dict[str, tuple[bytes, str, int]]:
    """{"client": (random, ip, port), "server": (...)} of the first ClientHello and ServerHello tshark sees."""
    out = subprocess.run(
        [TSHARK, "-r", str(pcap), "--enable-heuristic", "dtls_stun", "-Y", "dtls.handshake.type==1 || "
         "dtls.handshake.type==2", "-T", "fields", "-e", "dtls.handshake.type", "-e", "dtls.handshake.random",
         "-e", "ip.src", "-e", "udp.srcport"], capture_output=True, text=True, timeout=120, check=True).stdout
    hellos: dict[str, tuple[bytes, str, int]] = {}
    for line in out.splitlines():
        types, rnd, ip, port = line.split("\t")
        role = {"1": "client", "2": "server"}.get(types.split(",")[0])
        if role and role not in hellos:
            hellos[role] = (bytes.fromhex(rnd.split(",")[0]), ip.split(",")[0], int(port.split(",")[0]))
    return hellos


def _sidecar(name: str) -> dict:
    return json.loads((CAPTURES / f"{name}.srtp-keys.json").read_text())


needs_tshark = pytest.mark.skipif(TSHARK is None, reason="tshark not installed")


@needs_tshark
@pytest.mark.parametrize("name", AIORTC_SESSIONS)
def test_keys_derived_from_keylog_and_hellos_equal_the_exported_keys(name):
    hellos = _tshark_hellos(CAPTURES / f"{name}.pcap")
    log = load_keylog(CAPTURES / f"{name}.keylog")
    client_random, server_random = hellos["client"][0], hellos["server"][0]
    assert client_random in log  # the key log is aiortc's, whichever role aiortc had
    truth = _sidecar(name)
    keys = export_srtp_keys(log[client_random], client_random, server_random, truth["profile"])
    assert keys.profile is Profile.from_name(truth["profile"])
    assert keys.client_write_key.hex() == truth["client_write_key"]
    assert keys.server_write_key.hex() == truth["server_write_key"]
    assert keys.client_write_salt.hex() == truth["client_write_salt"]
    assert keys.server_write_salt.hex() == truth["server_write_salt"]
    # With the randoms swapped (a classic mistake) nothing matches.
    assert export_srtp_keys(log[client_random], server_random, client_random, keys.profile) != keys


def _udp_payloads(cap, rows) -> list[bytes]:
    """The SRTP/SRTCP datagram of each row, cut from the captured frames: Ethernet 14 + IPv4 IHL + UDP 8 bytes;
    an IPv4 datagram split into fragments is put together from its fragments' frames; a relayed row inside a TURN
    ChannelData message (RFC 8656 §12.4) drops the 4-byte channel header."""
    frags = cap.fragments
    parts_of = {}
    if len(frags):
        done = frags.dropna(subset=["reassembled_in"])
        for f, whole in zip(done["frame"].tolist(), done["reassembled_in"].astype(int).tolist()):
            parts_of.setdefault(whole, []).append(f)
    out = []
    for frame, relay in zip(rows["frame"].tolist(), rows["relay"].astype(object).tolist()):
        pieces = []
        for f in parts_of.get(frame, [frame]):
            b = cap.frame_bytes(f)
            ihl = (b[14] & 0x0F) * 4
            off = (struct.unpack_from(">H", b, 14 + 6)[0] & 0x1FFF) * 8
            total = struct.unpack_from(">H", b, 14 + 2)[0]
            pieces.append((off, b[14 + ihl:14 + total]))
        ip_payload = b"".join(p for _, p in sorted(pieces))
        udp = ip_payload[8:struct.unpack_from(">H", ip_payload, 4)[0]]
        if isinstance(relay, str) and relay.startswith("channel"):
            udp = udp[4:4 + struct.unpack_from(">H", udp, 2)[0]]
        out.append(udp)
    return out


# Per session: the SRTP and SRTCP datagrams of each direction must all authenticate (status ok, duplicate or late).
@needs_tshark
@pytest.mark.parametrize("name", AIORTC_SESSIONS)
def test_every_srtp_and_srtcp_packet_of_the_lab_sessions_authenticates(name, record_property):
    hellos = _tshark_hellos(CAPTURES / f"{name}.pcap")
    log = load_keylog(CAPTURES / f"{name}.keylog")
    keys = export_srtp_keys(log[hellos["client"][0]], hellos["client"][0], hellos["server"][0],
                            _sidecar(name)["profile"])
    cap = webrtcpcap.open(CAPTURES / f"{name}.pcap", progress=False)
    rtp = cap.rtp[cap.rtp["dtls_srtp"] & cap.rtp["error"].isna()]
    rtcp = cap.rtcp[cap.rtcp["dtls_srtp"] & (cap.rtcp["index"] == 0)]
    assert (rtp["relay"].isna() | rtp["relay"].astype(object).str.startswith("channel", na=False)).all()
    report = {}
    for role in ("client", "server"):
        _, ip, port = hellos[role]
        dec = keys.decryptor(role)
        for kind, rows in (("rtp", rtp), ("rtcp", rtcp)):
            mine = rows[(rows["src"].astype(str) == ip) & (rows["sport"] == port)]
            payloads = _udp_payloads(cap, mine)
            res = dec.rtp(payloads) if kind == "rtp" else dec.rtcp(payloads)
            names, counts = np.unique(res.status_names(), return_counts=True) if len(payloads) else ((), ())
            # plain str and int: the property goes into the test report, which pytest-xdist sends between processes
            report[f"{role} {kind}"] = (len(payloads), int(res.auth_ok.sum()),
                                        {str(n): int(c) for n, c in zip(names, counts)})
            assert res.auth_ok.all(), (name, role, kind, repr(res))
            if kind == "rtp":  # the decrypted header is the captured header
                assert [p[:12] for p in res.plaintext] == [p[:12] for p in payloads]
    record_property("srtp", report)
    # Both directions carry media in every session, and their packets are all in one of the two directions.
    assert report["client rtp"][0] > 0 and report["server rtp"][0] > 0
    assert report["client rtp"][0] + report["server rtp"][0] == len(rtp)
    assert report["client rtcp"][0] + report["server rtcp"][0] == len(rtcp)


@needs_tshark
def test_a_keylog_for_another_session_gives_auth_failed():
    hellos = _tshark_hellos(CAPTURES / "aiortc_clean.pcap")
    other = load_keylog(CAPTURES / "aiortc_loss5_rtp.keylog")
    assert hellos["client"][0] not in other
    secret = other[other.client_randoms()[0]]
    keys = export_srtp_keys(secret, hellos["client"][0], hellos["server"][0], Profile.SRTP_AEAD_AES_256_GCM)
    cap = webrtcpcap.open(CAPTURES / "aiortc_clean.pcap", progress=False)
    rows = cap.rtp[(cap.rtp["src"].astype(str) == hellos["client"][1]) & (cap.rtp["sport"] == hellos["client"][2])]
    res = keys.decryptor("client").rtp(_udp_payloads(cap, rows.head(200)))
    assert len(res.status) == 200 and res.status_names() == ["auth_failed"] * 200


@needs_tshark
def test_decrypted_chromium_session_equals_chromiums_own_plaintext_dump():
    """chromium_aiortc_loss5.rtpdump.pcap is Chromium's RTP dump: plaintext RTP and RTCP of both directions, written
    by Chromium itself.  Every packet we decrypt from the wire must be in it byte for byte: RTP matched by (SSRC,
    seq), SRTCP compounds by content."""
    name = "chromium_aiortc_loss5"
    hellos = _tshark_hellos(CAPTURES / f"{name}.pcap")
    log = load_keylog(CAPTURES / f"{name}.keylog")
    keys = export_srtp_keys(log[hellos["client"][0]], hellos["client"][0], hellos["server"][0],
                            _sidecar(name)["profile"])
    cap = webrtcpcap.open(CAPTURES / f"{name}.pcap", progress=False)
    dump = webrtcpcap.open(CAPTURES / f"{name}.rtpdump.pcap", progress=False)
    dump_rtp: dict[tuple[int, int], list[bytes]] = {}
    for p in _udp_payloads(dump, dump.rtp):
        dump_rtp.setdefault((struct.unpack_from(">I", p, 8)[0], struct.unpack_from(">H", p, 2)[0]), []).append(p)
    dump_rtcp = set(_udp_payloads(dump, dump.rtcp[dump.rtcp["index"] == 0]))
    assert len(dump_rtp) > 2000 and len(dump_rtcp) > 150
    for role in ("client", "server"):
        _, ip, port = hellos[role]
        mine = (cap.rtp["src"].astype(str) == ip) & (cap.rtp["sport"] == port)
        res = keys.decryptor(role).rtp(_udp_payloads(cap, cap.rtp[mine]))
        assert len(res.plaintext) > 1000
        for p in res.plaintext:
            assert p in dump_rtp[(struct.unpack_from(">I", p, 8)[0], struct.unpack_from(">H", p, 2)[0])]
        mine = (cap.rtcp["src"].astype(str) == ip) & (cap.rtcp["sport"] == port) & (cap.rtcp["index"] == 0)
        res = keys.decryptor(role).rtcp(_udp_payloads(cap, cap.rtcp[mine]))
        assert len(res.plaintext) > 50 and all(p in dump_rtcp for p in res.plaintext)


# --- public SDES captures (../shared/public-captures, skipped when absent) --------------------------------------

PUBLIC = Path(__file__).resolve().parents[2] / "shared" / "public-captures"
needs_public = pytest.mark.skipif(not PUBLIC.is_dir(), reason="../shared/public-captures is absent")


def _public_keys(name: str) -> list[tuple[str, str]]:
    """(ssrc hex or "any", base64 key||salt) lines of NAME.keys.txt."""
    lines = (PUBLIC / f"{name}.keys.txt").read_text().splitlines()
    return [tuple(line.split()) for line in lines if line.strip() and not line.startswith("#")]


@needs_public
def test_public_sdes_turn_call_decrypts_inside_channeldata():
    """srtpdec_WebRTC_OPUS_Turn_SDES_Call_1: SDES keys per SSRC as published with the capture; the SRTP is inside
    TURN ChannelData over UDP (the few packets inside Send indications are left out by the payload helper)."""
    name = "srtpdec_WebRTC_OPUS_Turn_SDES_Call_1"
    cap = webrtcpcap.open(PUBLIC / f"{name}.pcap", progress=False)
    keys = _public_keys(name)
    assert len(keys) == 2
    for ssrc, b64 in keys:
        mk = parse_master_key(b64, "AES_CM_128_HMAC_SHA1_80")
        rows = cap.rtp[(cap.rtp["ssrc"] == int(ssrc, 16)) & (cap.rtp["relay"] == "channel 0x4000")]
        res = mk.decryptor().rtp(_udp_payloads(cap, rows))
        assert len(rows) > 400 and res.status_names() == ["ok"] * len(rows)
        wrong = parse_master_key(keys[0][1] if b64 != keys[0][1] else keys[1][1], "AES_CM_128_HMAC_SHA1_80")
        assert not wrong.decryptor().rtp(_udp_payloads(cap, rows.head(20))).auth_ok.any()


@needs_public
def test_public_membrane_srtp_decrypts_with_its_test_key():
    """membrane_srtp: the key of membrane's own test (30 ASCII 'a', AES_CM_128_HMAC_SHA1_80, any SSRC), as the
    keys file's comment says.  (Its base64 line decodes to 27 bytes only: parse_master_key refuses it.)"""
    name = "membrane_srtp"
    (_, b64), = _public_keys(name)
    with pytest.raises(DecodeError, match="has 27 bytes"):
        parse_master_key(b64, "AES_CM_128_HMAC_SHA1_80")
    mk = parse_master_key(base64.b64encode(b"a" * 30).decode(), "AES_CM_128_HMAC_SHA1_80")
    cap = webrtcpcap.open(PUBLIC / f"{name}.pcap", progress=False)
    res = mk.decryptor().rtp(_udp_payloads(cap, cap.rtp))
    assert len(cap.rtp) == 972 and res.status_names() == ["ok"] * 972


# --- DTLS 1.3: the TLS 1.3 exporter (RFC 8446 §7.5) ---------------------------------------------------------------


def _exporter_by_hand(secret: bytes, label: bytes, length: int, hash_name: str, prefix: bytes) -> bytes:
    """RFC 8446 §7.5 written out with `cryptography`'s HKDFExpand (an implementation independent of webrtcpcap's):
    HKDF-Expand-Label(Derive-Secret(secret, label, ""), "exporter", Hash(""), length)."""
    import hashlib

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

    algorithm = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384()}[hash_name]

    def expand_label(s, lab, ctx, n):
        full = prefix + lab
        info = n.to_bytes(2, "big") + bytes([len(full)]) + full + bytes([len(ctx)]) + ctx
        return HKDFExpand(algorithm, n, info).derive(s)

    empty = hashlib.new(hash_name, b"").digest()
    inner = expand_label(secret, label, empty, len(empty))
    return expand_label(inner, b"exporter", empty, length)


@pytest.mark.parametrize("profile", list(Profile))
@pytest.mark.parametrize("hash_name,secret_len", [("sha256", 32), ("sha384", 48)])
@pytest.mark.parametrize("prefix", [b"dtls13", b"tls13 "])
def test_tls13_srtp_exporter_matches_rfc8446_written_out(profile, hash_name, secret_len, prefix):
    secret = bytes(range(secret_len))
    keys = export_srtp_keys_tls13(secret, profile, hash_name, prefix)
    k, s = profile.key_len, profile.salt_len
    m = _exporter_by_hand(secret, b"EXTRACTOR-dtls_srtp", 2 * (k + s), hash_name, prefix)
    assert (keys.client_write_key, keys.server_write_key, keys.client_write_salt, keys.server_write_salt) == (
        m[:k], m[k:2 * k], m[2 * k:2 * k + s], m[2 * k + s:])
    assert keys.profile is profile
    # the secret's length picks the hash when it is not given
    assert export_srtp_keys_tls13(secret, profile, None, prefix) == keys


def test_tls13_srtp_exporter_prefix_changes_the_keys():
    a = export_srtp_keys_tls13(bytes(32), "SRTP_AEAD_AES_128_GCM", prefix=b"dtls13")
    b = export_srtp_keys_tls13(bytes(32), "SRTP_AEAD_AES_128_GCM", prefix=b"tls13 ")
    assert a.client_write_key != b.client_write_key


def test_tls13_srtp_exporter_errors_do_not_echo_the_secret():
    with pytest.raises(DecodeError, match="neither 32 nor 48") as e:
        export_srtp_keys_tls13(b"\xab" * 40, "SRTP_AEAD_AES_128_GCM")
    assert "abab" not in str(e.value)
    with pytest.raises(DecodeError, match="sha384 needs 48"):
        export_srtp_keys_tls13(bytes(32), "SRTP_AEAD_AES_128_GCM", "sha384")
    with pytest.raises(DecodeError, match="not available"):
        export_srtp_keys_tls13(bytes(32), "SRTP_AEAD_AES_128_GCM", "md77")
