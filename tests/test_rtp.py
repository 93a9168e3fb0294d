"""RTP headers (RFC 3550 §5.1, RFC 8285): the per-message parser and the vectorised decoder, held equal."""

from __future__ import annotations

import re
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webrtcpcap import DecodeError
from webrtcpcap.protocols import rtp

from conftest import byte_source, rtp_packet

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# RFC 3550 §5.1 layout, written out byte by byte: V=2 P=1 X=1 CC=2, M=1 PT=111, seq 0x1234, ts 0xDEADBEEF,
# SSRC 0x01020304, CSRCs 0x0A0B0C0D and 0x11121314, a 0xBEDE extension of 1 word, 4 payload bytes, 4 padding bytes.
SAMPLE = bytes.fromhex(
    "b2ef1234deadbeef01020304"
    "0a0b0c0d11121314"
    "bede0001" "10ab0000"
    "cafebabe"
    "00000004")


def test_rtp_parse_reads_every_field_of_a_sample():
    h = rtp.parse(SAMPLE)
    assert (h.marker, h.payload_type, h.sequence_number, h.timestamp, h.ssrc, h.padding) == (
        True, 111, 0x1234, 0xDEADBEEF, 0x01020304, True)
    assert h.csrcs == (0x0A0B0C0D, 0x11121314)
    assert h.extension_profile == 0xBEDE
    assert h.extension == bytes.fromhex("10ab0000")
    assert h.payload_offset == 12 + 8 + 4 + 4


def test_rtp_round_trip_gives_back_the_header_bytes():
    h = rtp.parse(SAMPLE)
    assert bytes(h) == SAMPLE[: h.payload_offset]
    plain = rtp_packet(ssrc=5, seq=6, ts=7, pt=0, payload=b"")
    assert bytes(rtp.parse(plain)) == plain


@pytest.mark.parametrize("data, message", [
    (SAMPLE[:11], "RTP header is truncated"),
    (b"\x40" + SAMPLE[1:], "RTP version is 1, not 2"),
    (SAMPLE[:1] + b"\xc8" + SAMPLE[2:], "RTP payload type 72 is in the RTCP range"),
    (bytes([0x8F]) + SAMPLE[1:20], "RTP CSRC list is truncated"),
    (bytes([0x90]) + SAMPLE[1:12] + b"\xbe", "RTP extension header is truncated"),
    (bytes([0x90]) + SAMPLE[1:12] + b"\xbe\xde\x00\x05" + b"\0" * 8, "RTP extension overruns the packet"),
])
def test_rtp_parse_error_messages(data, message):
    with pytest.raises(DecodeError, match=message):
        rtp.parse(data)


def test_rtp_bytes_refuses_an_extension_that_is_not_whole_words():
    h = rtp.RtpHeader(False, 96, 1, 2, 3, extension_profile=0xBEDE, extension=b"\x01\x02")
    with pytest.raises(DecodeError, match="RTP extension length is not a multiple of 4 bytes"):
        bytes(h)


def test_every_prefix_of_an_rtp_packet_gives_a_header_or_decode_error():
    for n in range(len(SAMPLE) + 1):
        try:
            h = rtp.parse(SAMPLE[:n])
        except DecodeError:
            assert n < 28
        else:
            assert n >= h.payload_offset == 28


@SETTINGS
@given(st.binary(max_size=80))
def test_rtp_parse_of_arbitrary_bytes_gives_a_header_or_decode_error(data):
    try:
        h = rtp.parse(data)
    except DecodeError:
        return
    assert bytes(h) == data[: h.payload_offset]


# --- the vectorised decoder agrees with parse ----------------------------------------------------------------------


@st.composite
def rtp_packets(draw):
    """Valid RTP packets (version 2, PT outside the RTCP range) and damaged ones (cut short, random bytes)."""
    kind = draw(st.sampled_from(["valid", "cut", "random"]))
    if kind == "random":
        return draw(st.binary(min_size=0, max_size=60))
    pt = draw(st.integers(0, 127).filter(lambda p: p not in range(64, 96)))
    csrcs = draw(st.lists(st.integers(0, 2**32 - 1), max_size=15))
    ext = draw(st.one_of(st.none(), st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=12).map(
        lambda b: b + b"\0" * (-len(b) % 4)))))
    pkt = rtp_packet(ssrc=draw(st.integers(0, 2**32 - 1)), seq=draw(st.integers(0, 0xFFFF)),
                     ts=draw(st.integers(0, 2**32 - 1)), pt=pt, marker=draw(st.booleans()),
                     payload=draw(st.binary(max_size=20)), csrcs=csrcs,
                     ext_profile=None if ext is None else ext[0], ext=b"" if ext is None else ext[1],
                     padding=draw(st.integers(0, 4)))
    if kind == "cut":
        pkt = pkt[: draw(st.integers(0, len(pkt)))]
    return pkt


ERROR_OF_MESSAGE = {message: code for code, message in rtp.RTP_ERROR_MESSAGES.items()}


@SETTINGS
@given(st.lists(rtp_packets(), min_size=1, max_size=12))
def test_decode_headers_agrees_with_parse(packets):
    src, off, cap, wire = byte_source(packets)
    got = rtp.decode_headers(src, off, cap, wire)
    for i, pkt in enumerate(packets):
        try:
            h = rtp.parse(pkt)
        except DecodeError as exc:
            message = str(exc)
            if message.startswith(("RTP version", "RTP payload type")):
                continue  # version and RTCP-range checks are the demultiplexer's job, not decode_headers'
            code = next(c for m, c in ERROR_OF_MESSAGE.items() if message.startswith(m))
            assert got["error"][i] == code, (pkt.hex(), message)
            continue
        assert got["error"][i] == rtp.RTP_OK, pkt.hex()
        assert (int(got["ssrc"][i]), int(got["seq"][i]), int(got["ts"][i]), int(got["pt"][i])) == (
            h.ssrc, h.sequence_number, h.timestamp, h.payload_type)
        assert (bool(got["marker"][i]), bool(got["padding"][i]), bool(got["extension"][i])) == (
            h.marker, h.padding, h.extension_profile is not None)
        assert int(got["csrc_count"][i]) == len(h.csrcs)
        missing = rtp.ext_profile_missing(got["extension"], got["error"])
        profile = None if missing[i] else int(got["ext_profile"][i])
        assert profile == h.extension_profile
        assert int(got["payload_offset"][i]) == h.payload_offset
        assert int(got["payload_len"][i]) == len(pkt) - h.payload_offset


def test_decode_headers_on_no_packets_gives_empty_arrays():
    src, _, _, _ = byte_source([b"\x80" * 12])
    empty = np.zeros(0, dtype=np.int64)
    got = rtp.decode_headers(src, empty, empty, empty)
    assert all(len(v) == 0 for v in got.values())


def test_payload_len_counts_payload_padding_and_auth_tag(tmp_path):
    pkt = rtp_packet(payload=b"p" * 10, padding=2) + b"T" * 10  # 10-byte SRTP auth tag
    src, off, cap, wire = byte_source([pkt])
    got = rtp.decode_headers(src, off, cap, wire)
    assert int(got["payload_len"][0]) == 10 + 2 + 10
    assert struct.unpack(">H", pkt[2:4])[0] == int(got["seq"][0])


# -- the payload without its padding (RFC 3550 §5.1, §A.1): plaintext only (issue 15) ----------------------------------
def test_payload_strips_the_padding_the_last_byte_counts():
    assert rtp.payload(SAMPLE) == bytes.fromhex("cafebabe")
    assert rtp.payload(rtp_packet(payload=b"\x01\x02", padding=0)) == b"\x01\x02"
    assert rtp.payload(rtp_packet(payload=b"", padding=4)) == b""  # padding only (a bandwidth probe)


@pytest.mark.parametrize("packet, message", [
    (struct.pack(">BBHII", 0xA0, 111, 1, 2, 3) + b"\x01\x02\x00",
     "RTP padding count is 0 (it counts itself, so at least 1)"),
    (struct.pack(">BBHII", 0xA0, 111, 1, 2, 3) + b"\x01\x02\x09", "RTP padding count 9 overruns the payload (3 bytes)"),
    (struct.pack(">BBHII", 0xA0, 111, 1, 2, 3), "RTP padding bit is set on an empty payload"),
])
def test_payload_refuses_a_padding_count_rfc3550_calls_invalid(packet, message):
    with pytest.raises(DecodeError, match=re.escape(message)):
        rtp.payload(packet)


def test_capture_rtp_payload_flags_bad_padding_on_plain_rtp_and_leaves_srtp_ciphertext_alone(tmp_path):
    from conftest import dtls_client_hello, open_quiet, stun_call, udp4, write_pcap

    zero = struct.pack(">BBHII", 0xA0, 111, 200, 9600, 0x11223344) + b"\x01\x02\x00"
    plain = stun_call(4) + [udp4(zero), udp4(rtp_packet(seq=201, payload=b"\x07", padding=2))]
    cap = open_quiet(write_pcap(tmp_path / "plain.pcap", plain))
    with pytest.raises(DecodeError, match="RTP padding count is 0"):
        cap.rtp_payload(len(plain) - 1)  # used to give b"\x01\x02\x00": the count byte as payload
    assert cap.rtp_payload(len(plain)) == b"\x07"
    # After a DTLS handshake the bytes after the header are SRTP ciphertext and auth tag: the last byte is no count.
    srtp = struct.pack(">BBHII", 0xA0, 111, 300, 9600, 0x11223344) + b"\x10" * 5 + b"\xff"
    frames = [udp4(dtls_client_hello())] + stun_call(4) + [udp4(srtp)]
    cap = open_quiet(write_pcap(tmp_path / "srtp.pcap", frames))
    assert bool(cap.rtp.dtls_srtp.iloc[-1]) and cap.rtp_payload(len(frames)) == b"\x10" * 5 + b"\xff"
