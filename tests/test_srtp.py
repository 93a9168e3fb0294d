"""SRTP/SRTCP decryption (RFC 3711, profiles of RFC 5764 §4.1.2 and RFC 7714 §14.2).

Strategy: every packet is protected here by a pylibsrtp sender session holding the same master key, from plaintext
RTP/RTCP built with struct, so the expected plaintext is known byte for byte; the decryptor must give it back, flag
what does not authenticate, and keep decrypting what libsrtp's replay protection alone would refuse.
"""

from __future__ import annotations

import os
import struct

import numpy as np
import pylibsrtp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webrtcpcap import DecodeError
from webrtcpcap.protocols.srtp import STATUS_NAMES, Decryptor, Profile, Status

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# RFC 5764 §4.1.2 (AES-CM: 128-bit key, 112-bit salt, 80/32-bit SRTP tag, 80-bit SRTCP tag), RFC 7714 §12 and §14.2
# (GCM: 96-bit salt, 128-bit tag; AES-128 and AES-256 keys).
RFC_LENGTHS = {
    0x0001: (16, 14, 10, 10),
    0x0002: (16, 14, 4, 10),
    0x0007: (16, 12, 16, 16),
    0x0008: (32, 12, 16, 16),
}
ALL = list(Profile)


def master(profile: Profile, seed: int = 1) -> tuple[bytes, bytes]:
    rnd = np.random.default_rng(seed)
    return rnd.bytes(profile.key_len), rnd.bytes(profile.salt_len)


def sender(profile: Profile, key: bytes, salt: bytes) -> pylibsrtp.Session:
    policy = pylibsrtp.Policy(key + salt, pylibsrtp.Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile.libsrtp)
    policy.allow_repeat_tx = True
    return pylibsrtp.Session(policy)


def rtp_plain(seq: int, ssrc: int = 0x11223344, size: int = 40, pt: int = 96) -> bytes:
    body = bytes((seq + i) & 0xFF for i in range(size))
    return struct.pack(">BBHII", 0x80, pt, seq & 0xFFFF, seq * 960 & 0xFFFFFFFF, ssrc) + body


def rtcp_compound(ssrc: int, n: int) -> bytes:
    sr = struct.pack(">BBHIIIIII", 0x80, 200, 6, ssrc, 0xE0000000 + n, n, 1000 + n, 20 * n, 20000 * n)
    pli = struct.pack(">BBHII", 0x81, 206, 2, ssrc, 0xCAFE0000 | n)
    return sr + pli


def stream(profile, key, salt, seqs, ssrc=0x11223344, size=40):
    tx = sender(profile, key, salt)
    plain = [rtp_plain(s, ssrc, size) for s in seqs]
    return plain, [tx.protect(p) for p in plain]


# --- profiles ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ALL)
def test_profile_lengths_follow_the_rfcs_and_libsrtp(profile):
    assert (profile.key_len, profile.salt_len, profile.rtp_tag_len, profile.rtcp_tag_len) == RFC_LENGTHS[profile]
    lib = pylibsrtp.lib
    assert lib.srtp_profile_get_master_key_length(profile.libsrtp) == profile.key_len
    assert lib.srtp_profile_get_master_salt_length(profile.libsrtp) == profile.salt_len


@pytest.mark.parametrize("profile", ALL)
def test_protected_packet_is_header_plus_payload_plus_the_profile_tag(profile):
    key, salt = master(profile)
    plain, prot = stream(profile, key, salt, [7])
    assert len(prot[0]) == len(plain[0]) + profile.rtp_tag_len
    srtcp = sender(profile, key, salt).protect_rtcp(rtcp_compound(1, 1))
    assert len(srtcp) == len(rtcp_compound(1, 1)) + 4 + profile.rtcp_tag_len  # E flag + SRTCP index, tag


def test_profile_names_map_dtls_sdes_and_libsrtp_spellings():
    assert Profile.from_name("SRTP_AEAD_AES_256_GCM") is Profile.SRTP_AEAD_AES_256_GCM
    assert Profile.from_name("AEAD_AES_128_GCM") is Profile.SRTP_AEAD_AES_128_GCM
    assert Profile.from_name("AES_CM_128_HMAC_SHA1_32") is Profile.SRTP_AES128_CM_HMAC_SHA1_32
    assert Profile.from_name("SRTP_AES128_CM_SHA1_80") is Profile.SRTP_AES128_CM_HMAC_SHA1_80
    assert Profile.from_name("0x0008") is Profile.SRTP_AEAD_AES_256_GCM
    assert Profile.SRTP_AEAD_AES_256_GCM.sdes_name == "AEAD_AES_256_GCM"
    assert Profile.SRTP_AES128_CM_HMAC_SHA1_80.libsrtp == pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80
    with pytest.raises(DecodeError, match="SRTP profile 'NULL_HMAC_SHA1_80' is not supported"):
        Profile.from_name("NULL_HMAC_SHA1_80")


@pytest.mark.parametrize("profile", ALL)
def test_wrong_key_or_salt_length_is_refused_without_echoing_the_key(profile):
    key, salt = master(profile)
    with pytest.raises(DecodeError, match=f"SRTP master key has {len(key) - 1} bytes") as e:
        Decryptor(key[:-1], salt, profile)
    assert key[:-1].hex() not in str(e.value)
    with pytest.raises(DecodeError, match=f"SRTP master salt has {len(salt) + 1} bytes"):
        Decryptor(key, salt + b"x", profile)


def test_decryptor_repr_shows_no_key_material():
    key, salt = master(Profile.SRTP_AEAD_AES_256_GCM)
    d = Decryptor(key, salt, Profile.SRTP_AEAD_AES_256_GCM)
    for text in (repr(d), str(d)):
        assert text == "<Decryptor SRTP_AEAD_AES_256_GCM>"
        assert key.hex() not in text and repr(key) not in text


# --- SRTP ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ALL)
def test_round_trip_gives_back_every_plaintext_of_two_ssrcs_sharing_a_key(profile):
    key, salt = master(profile)
    tx = sender(profile, key, salt)
    plain = [rtp_plain(1000 + i // 2, 0xA0000000 + (i % 2), size=20 + i) for i in range(200)]
    prot = [tx.protect(p) for p in plain]
    res = Decryptor(key, salt, profile).rtp(prot)
    assert res.plaintext == plain
    assert res.status.dtype == np.uint8 and (res.status == Status.OK).all()
    assert res.auth_ok.dtype == bool and res.auth_ok.all()
    assert repr(res) == "<DecryptResult: 200 packets: ok 200>"


@pytest.mark.parametrize("profile", ALL)
def test_tampered_byte_is_flagged_auth_failed_and_later_packets_still_decrypt(profile):
    key, salt = master(profile)
    plain, prot = stream(profile, key, salt, range(500, 520))
    bad = bytearray(prot[5])
    bad[20] ^= 0x01  # a payload byte
    tag = bytearray(prot[9])
    tag[-1] ^= 0x80  # the last byte of the tag
    hdr = bytearray(prot[12])
    hdr[4] ^= 0x01  # the RTP timestamp: authenticated, not encrypted
    feed = prot[:5] + [bytes(bad)] + prot[5:9] + [bytes(tag)] + prot[9:12] + [bytes(hdr)] + prot[12:]
    res = Decryptor(key, salt, profile).rtp(feed)
    names = res.status_names()
    assert [i for i, n in enumerate(names) if n != "ok"] == [5, 10, 14]
    assert {names[i] for i in (5, 10, 14)} == {"auth_failed"}
    assert [res.plaintext[i] for i in (5, 10, 14)] == [None, None, None]
    assert [p for p in res.plaintext if p is not None] == plain
    assert res.auth_ok.sum() == 20


@pytest.mark.parametrize("profile", ALL)
def test_duplicates_and_far_reordered_packets_still_decrypt(profile):
    key, salt = master(profile)
    plain, prot = stream(profile, key, salt, range(40000, 43000))
    order = [i for i in range(3000) if i != 100]
    feed = [prot[i] for i in order]
    feed.insert(2500, prot[100])  # withheld, arrives 2400 packets late: older than the replay window
    feed.insert(2600, prot[2590])  # captured twice, within the window
    feed.append(prot[5])  # captured twice, long after
    feed.append(prot[2999])  # the newest packet again
    expect = [plain[i] for i in order]
    expect.insert(2500, plain[100])
    expect.insert(2600, plain[2590])
    expect += [plain[5], plain[2999]]
    res = Decryptor(key, salt, profile).rtp(feed)
    assert res.plaintext == expect
    assert res.auth_ok.all()
    odd = {i: STATUS_NAMES[s] for i, s in enumerate(res.status) if s != Status.OK}
    assert odd == {2500: "late", 2600: "duplicate", len(feed) - 2: "late", len(feed) - 1: "duplicate"}


def test_roc_follows_a_stream_across_the_sequence_wrap():
    profile = Profile.SRTP_AES128_CM_HMAC_SHA1_80
    key, salt = master(profile)
    seqs = range(65000, 65000 + 70000)  # crosses 65535 -> 0 after 536 packets; index = ROC << 16 | seq
    plain, prot = stream(profile, key, salt, seqs, size=8)
    res = Decryptor(key, salt, profile).rtp(prot)
    assert res.auth_ok.all() and (res.status == Status.OK).all()
    assert res.plaintext == plain
    # A receiver that took ROC 0 after the wrap would fail: packets of ROC 1 do not authenticate with ROC 0.
    fresh = Decryptor(key, salt, profile).rtp(prot[1000:1010])
    assert fresh.status_names() == ["auth_failed"] * 10


@pytest.mark.parametrize("profile", [Profile.SRTP_AES128_CM_HMAC_SHA1_32, Profile.SRTP_AEAD_AES_128_GCM])
def test_duplicates_on_both_sides_of_a_wrap_decrypt_with_their_own_roc(profile):
    key, salt = master(profile)
    plain, prot = stream(profile, key, salt, range(64000, 64000 + 4000), size=8)  # wrap at packet 1536
    dec = Decryptor(key, salt, profile)
    first = dec.rtp(prot)
    assert first.auth_ok.all()
    # Much later, in a second chunk: a copy from before the wrap (ROC 0) and one from after it (ROC 1).
    again = dec.rtp([prot[10], prot[3000], prot[1535], prot[1536]])
    assert again.status_names() == ["late", "duplicate", "late", "late"]  # 3000 is inside the 1024-packet window
    assert again.plaintext == [plain[10], plain[3000], plain[1535], plain[1536]]


def test_capture_starting_after_the_first_wrap_needs_the_roc():
    profile = Profile.SRTP_AEAD_AES_256_GCM
    key, salt = master(profile)
    ssrc = 0x5EED
    plain, prot = stream(profile, key, salt, range(0, 2 * 65536 + 300), ssrc=ssrc, size=4)
    tail_plain, tail = plain[2 * 65536 + 100:], prot[2 * 65536 + 100:]  # ROC 2, seq 100..299
    assert Decryptor(key, salt, profile).rtp(tail).status_names() == ["auth_failed"] * 200
    res = Decryptor(key, salt, profile, roc={ssrc: 2}).rtp(tail)
    assert res.auth_ok.all() and res.plaintext == tail_plain
    # A duplicate of the first captured packet is decrypted with ROC 2 as well.
    dec = Decryptor(key, salt, profile, roc={ssrc: 2})
    both = dec.rtp(tail + [tail[0], tail[150]])
    assert both.status_names()[-2:] == ["duplicate", "duplicate"]
    assert both.plaintext[-2:] == [tail_plain[0], tail_plain[150]]


@pytest.mark.parametrize("profile", ALL)
def test_wrong_key_gives_auth_failed_for_every_packet(profile):
    key, salt = master(profile, 1)
    other_key, other_salt = master(profile, 2)
    _, prot = stream(profile, key, salt, range(100))
    res = Decryptor(other_key, other_salt, profile).rtp(prot)
    assert (res.status == Status.AUTH_FAILED).all() and not res.auth_ok.any()
    assert res.plaintext == [None] * 100
    srtcp = sender(profile, key, salt).protect_rtcp(rtcp_compound(1, 1))
    rtcp = Decryptor(other_key, other_salt, profile).rtcp([srtcp])
    assert rtcp.status_names() == ["auth_failed"]


@pytest.mark.parametrize("profile", ALL)
def test_too_short_bad_header_and_too_long_inputs_are_flagged(profile):
    key, salt = master(profile)
    _, prot = stream(profile, key, salt, range(3))
    long_plain = rtp_plain(3, size=1490)
    too_long = long_plain + bytes(profile.rtp_tag_len)
    v1 = bytes([0x40]) + prot[1][1:]
    with_csrcs = bytes([0x8F]) + prot[2][1:12] + bytes(profile.rtp_tag_len)  # 15 CSRCs announced, none there
    feed = [b"", prot[0][:5], prot[0][:12 + profile.rtp_tag_len - 1], v1, too_long, with_csrcs, prot[0]]
    res = Decryptor(key, salt, profile).rtp(feed)
    assert res.status_names() == ["too_short", "too_short", "too_short", "bad_header", "too_long", "too_short", "ok"]
    assert res.plaintext[:6] == [None] * 6 and res.plaintext[6] is not None


def test_extension_past_the_end_is_a_bad_header_and_views_are_accepted():
    profile = Profile.SRTP_AEAD_AES_128_GCM
    key, salt = master(profile)
    _, prot = stream(profile, key, salt, [1, 2])
    ext = bytes([0x90]) + prot[0][1:12] + struct.pack(">HH", 0xBEDE, 200) + prot[0][12:]  # 800 bytes announced
    res = Decryptor(key, salt, profile).rtp([ext, bytearray(prot[0]), memoryview(prot[1])])
    assert res.status_names() == ["bad_header", "ok", "ok"]


def test_every_prefix_of_a_packet_is_flagged_not_raised():
    profile = Profile.SRTP_AES128_CM_HMAC_SHA1_80
    key, salt = master(profile)
    _, prot = stream(profile, key, salt, [1])
    res = Decryptor(key, salt, profile).rtp([prot[0][:k] for k in range(len(prot[0]))])
    assert not res.auth_ok.any()
    assert set(res.status_names()) <= {"too_short", "auth_failed"}


def test_empty_input_gives_an_empty_result():
    profile = Profile.SRTP_AES128_CM_HMAC_SHA1_80
    res = Decryptor(*master(profile), profile).rtp([])
    assert res.plaintext == [] and res.status.shape == (0,) and res.auth_ok.shape == (0,)


def test_chunked_feeding_equals_one_call():
    profile = Profile.SRTP_AEAD_AES_128_GCM
    key, salt = master(profile)
    plain, prot = stream(profile, key, salt, range(65500, 65500 + 300))
    feed = prot + [prot[3], prot[250]]
    whole = Decryptor(key, salt, profile).rtp(feed)
    dec = Decryptor(key, salt, profile)
    parts = [dec.rtp(feed[i:i + 37]) for i in range(0, len(feed), 37)]
    assert sum((p.plaintext for p in parts), []) == whole.plaintext
    assert np.concatenate([p.status for p in parts]).tolist() == whole.status.tolist()
    assert whole.auth_ok.all()


@SETTINGS
@given(st.lists(st.binary(max_size=80), max_size=20))
def test_random_bytes_give_a_status_never_an_exception(payloads):
    for profile in (Profile.SRTP_AES128_CM_HMAC_SHA1_80, Profile.SRTP_AEAD_AES_256_GCM):
        dec = Decryptor(*master(profile), profile)
        for res in (dec.rtp(payloads), dec.rtcp(payloads)):
            assert len(res.plaintext) == len(payloads)
            assert set(res.status.tolist()) <= set(range(len(Status)))
            assert not res.auth_ok.any()


# --- SRTCP ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ALL)
def test_srtcp_compound_round_trip_duplicate_and_tamper(profile):
    key, salt = master(profile)
    tx = sender(profile, key, salt)
    plain = [rtcp_compound(0xA1, n) for n in range(300)]
    prot = [tx.protect_rtcp(p) for p in plain]
    bad = bytearray(prot[7])
    bad[10] ^= 0xFF
    feed = prot[:7] + [bytes(bad)] + prot[7:] + [prot[3], prot[299]]
    res = Decryptor(key, salt, profile).rtcp(feed)
    names = res.status_names()
    assert names[7] == "auth_failed" and res.plaintext[7] is None
    assert names[-2:] == ["late", "duplicate"]
    assert [p for p in res.plaintext if p is not None] == plain + [plain[3], plain[299]]
    assert names.count("ok") == 300


def test_srtcp_too_short_and_bad_version_are_flagged():
    profile = Profile.SRTP_AES128_CM_HMAC_SHA1_32
    key, salt = master(profile)
    good = sender(profile, key, salt).protect_rtcp(rtcp_compound(5, 5))
    res = Decryptor(key, salt, profile).rtcp([good[:8 + 4 + 9], b"\x40" + good[1:], good])
    assert res.status_names() == ["too_short", "bad_header", "ok"]
