"""STUN message headers (RFC 8489 §5) with the RFC 5769 test vectors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webrtcpcap import DecodeError, stun

# RFC 5769 §2.1 "Sample Request": the 20-byte header and the first attribute bytes.
RFC5769_REQUEST = bytes.fromhex(
    "000100582112a442b7e7a701bc34d686fa87dfae"
    "802200105354554e207465737420636c69656e74")
# RFC 5769 §2.2 "Sample IPv4 Response" header.
RFC5769_RESPONSE = bytes.fromhex("0101003c2112a442b7e7a701bc34d686fa87dfae")


def test_stun_parse_header_reads_every_field_of_the_rfc5769_request():
    h = stun.parse_header(RFC5769_REQUEST)
    assert (h.message_type, h.length, h.transaction_id) == (0x0001, 0x58, bytes.fromhex("b7e7a701bc34d686fa87dfae"))
    assert (h.method, h.cls) == (0x001, 0)  # Binding request


def test_stun_message_type_splits_into_method_and_class():
    assert (stun.parse_header(RFC5769_RESPONSE).method, stun.parse_header(RFC5769_RESPONSE).cls) == (1, 2)
    # RFC 8489 §5: 0x0111 is a Binding error response; 0x0003/0x0113 are TURN Allocate request/error.
    for message_type, method, cls in ((0x0111, 1, 3), (0x0003, 3, 0), (0x0113, 3, 3), (0x0016, 6, 1)):
        h = stun.StunHeader(message_type, 0, b"\0" * 12)
        assert (h.method, h.cls) == (method, cls)


@pytest.mark.parametrize("sample", [RFC5769_REQUEST[:20], RFC5769_RESPONSE])
def test_stun_round_trip_gives_back_the_header_bytes(sample):
    assert bytes(stun.parse_header(sample)) == sample


@pytest.mark.parametrize("data, message", [
    (RFC5769_REQUEST[:19], "STUN header is truncated"),
    (b"\xc0" + RFC5769_REQUEST[1:20], "STUN header has the top two bits set"),
    (RFC5769_REQUEST[:4] + b"\0\0\0\0" + RFC5769_REQUEST[8:20], "STUN header has no magic cookie"),
    (RFC5769_REQUEST[:2] + b"\x00\x05" + RFC5769_REQUEST[4:20], "STUN length 5 is not a multiple of 4"),
])
def test_stun_parse_header_error_messages(data, message):
    with pytest.raises(DecodeError, match=message):
        stun.parse_header(data)


def test_classic_rfc3489_binding_request_is_not_rfc8489_stun():
    classic = bytes.fromhex("00010000") + bytes(range(16))
    with pytest.raises(DecodeError, match="classic RFC 3489"):
        stun.parse_header(classic)


def test_every_prefix_of_a_stun_message_gives_a_header_or_decode_error():
    for n in range(len(RFC5769_REQUEST) + 1):
        try:
            stun.parse_header(RFC5769_REQUEST[:n])
        except DecodeError:
            assert n < 20
        else:
            assert n >= 20


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40))
def test_stun_parse_header_of_arbitrary_bytes_gives_a_header_or_decode_error(data):
    try:
        h = stun.parse_header(data)
    except DecodeError:
        return
    assert bytes(h) == data[:20]
