"""DTLS record headers (RFC 6347 §4.1, RFC 9147)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webrtcpcap import DecodeError, dtls

from conftest import dtls_client_hello

# A DTLS 1.2 handshake record header: type 22, version 0xFEFD, epoch 1, sequence number 0x0000_0102_0304, length 0x60.
SAMPLE = bytes.fromhex("16fefd0001000001020304" "0060") + b"\x01" * 0x60


def test_dtls_record_header_reads_every_field_of_a_sample():
    h = dtls.parse_record_header(SAMPLE)
    assert (h.content_type, h.version, h.epoch, h.sequence_number, h.length) == (22, 0xFEFD, 1, 0x01020304, 0x60)


def test_dtls_record_header_of_a_client_hello():
    h = dtls.parse_record_header(dtls_client_hello(seq=5))
    assert (h.content_type, h.version, h.epoch, h.sequence_number) == (22, 0xFEFD, 0, 5)
    assert h.length == len(dtls_client_hello()) - 13


@pytest.mark.parametrize("version", [0xFEFF, 0xFEFD, 0xFEFC])
def test_dtls_round_trip_gives_back_the_header_bytes(version):
    data = bytes([23]) + version.to_bytes(2, "big") + bytes.fromhex("ffff" "ffffffffffff" "0010")
    h = dtls.parse_record_header(data)
    assert (h.epoch, h.sequence_number, h.length) == (0xFFFF, 2**48 - 1, 16)
    assert bytes(h) == data


@pytest.mark.parametrize("data, message", [
    (SAMPLE[:12], "DTLS record header is truncated"),
    (b"\x16\x03\x03" + SAMPLE[3:], "DTLS record has unknown version 0x0303"),
])
def test_dtls_record_header_error_messages(data, message):
    with pytest.raises(DecodeError, match=message):
        dtls.parse_record_header(data)


def test_every_prefix_of_a_dtls_record_gives_a_header_or_decode_error():
    for n in range(len(SAMPLE) + 1):
        try:
            dtls.parse_record_header(SAMPLE[:n])
        except DecodeError:
            assert n < 13
        else:
            assert n >= 13


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=30))
def test_dtls_record_header_of_arbitrary_bytes_gives_a_header_or_decode_error(data):
    try:
        h = dtls.parse_record_header(data)
    except DecodeError:
        return
    assert bytes(h) == data[:13]
