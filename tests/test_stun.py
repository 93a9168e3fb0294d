"""STUN messages (RFC 8489, ICE and TURN attributes) with the RFC 5769 test vectors."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webrtcpcap import DecodeError
from webrtcpcap.protocols import stun

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


# -- whole messages: RFC 5769 test vectors ---------------------------------------------------------------------------
RFC5769_PASSWORD = "VOkJxbRl1RmTxUk/WvJxBt"  # RFC 5769 §2: the short-term password of §2.1-§2.3
TID = bytes.fromhex("b7e7a701bc34d686fa87dfae")
SAMPLE_REQUEST = bytes.fromhex(  # RFC 5769 §2.1
    "000100582112a442b7e7a701bc34d686fa87dfae"
    "802200105354554e207465737420636c69656e74"  # SOFTWARE "STUN test client"
    "002400046e0001ff"  # PRIORITY
    "80290008932ff9b151263b36"  # ICE-CONTROLLED
    "000600096576746a3a68367659202020"  # USERNAME "evtj:h6vY" + 3 bytes of padding (spaces)
    "000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2"  # MESSAGE-INTEGRITY
    "80280004e57a3bcf")  # FINGERPRINT
SAMPLE_IPV4_RESPONSE = bytes.fromhex(  # RFC 5769 §2.2
    "0101003c2112a442b7e7a701bc34d686fa87dfae"
    "8022000b7465737420766563746f7220"  # SOFTWARE "test vector" + 1 byte of padding (a space)
    "002000080001a147e112a643"  # XOR-MAPPED-ADDRESS 192.0.2.1:32853
    "000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7"
    "80280004c07d4c96")
SAMPLE_IPV6_RESPONSE = bytes.fromhex(  # RFC 5769 §2.3
    "010100482112a442b7e7a701bc34d686fa87dfae"
    "8022000b7465737420766563746f7220"
    "002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d9"  # XOR-MAPPED-ADDRESS [2001:db8:1234:5678:11:2233:4455:6677]:32853
    "00080014a382954e4be67bf11784c97c8292c275bfe3ed41"
    "80280004c8fb0b4c")
LONG_TERM_REQUEST = bytes.fromhex(  # RFC 5769 §2.4
    "000100602112a44278ad3433c6ad72c029da412e"
    "00060012e3839ee38388e383aae38383e382afe382b90000"  # USERNAME "マトリックス" + 2 bytes of padding
    "0015001c662f2f3439396b39353464364f4c33346f4c394653547679363473 41".replace(" ", "")  # NONCE
    + "0014000b6578616d706c652e6f726700"  # REALM "example.org" + 1 byte of padding
    "00080014f67024656dd64a3e02b8e0712e85c9a28ca89666")
VECTORS = [SAMPLE_REQUEST, SAMPLE_IPV4_RESPONSE, SAMPLE_IPV6_RESPONSE, LONG_TERM_REQUEST]


def test_stun_parse_reads_every_field_of_the_rfc5769_sample_request():
    m = stun.parse(SAMPLE_REQUEST)
    assert (m.message_type, m.method, m.cls, m.transaction_id, m.length) == (0x0001, 1, 0, TID, 0x58)
    got = [(a.type, a.name, a.value, a.offset, a.padding) for a in m.attributes]
    assert got == [
        (0x8022, "SOFTWARE", "STUN test client", 20, b""),
        (0x0024, "PRIORITY", 0x6E0001FF, 40, b""),
        (0x8029, "ICE-CONTROLLED", 0x932FF9B151263B36, 48, b""),
        (0x0006, "USERNAME", "evtj:h6vY", 60, b"   "),
        (0x0008, "MESSAGE-INTEGRITY", bytes.fromhex("9aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2"), 76, b""),
        (0x8028, "FINGERPRINT", 0xE57A3BCF, 100, b""),
    ]
    assert m.get(stun.Attr.USERNAME) == "evtj:h6vY" and stun.Attr.USE_CANDIDATE not in m


def test_stun_parse_reads_the_xor_mapped_address_of_the_rfc5769_ipv4_and_ipv6_responses():
    v4, v6 = stun.parse(SAMPLE_IPV4_RESPONSE), stun.parse(SAMPLE_IPV6_RESPONSE)
    assert (v4.method, v4.cls, v6.method, v6.cls) == (1, 2, 1, 2)
    assert v4.get(stun.Attr.SOFTWARE) == v6.get(stun.Attr.SOFTWARE) == "test vector"
    assert v4.get(stun.Attr.XOR_MAPPED_ADDRESS) == ("192.0.2.1", 32853)
    assert v6.get(stun.Attr.XOR_MAPPED_ADDRESS) == ("2001:db8:1234:5678:11:2233:4455:6677", 32853)
    assert v4.attributes[1].text == "192.0.2.1:32853"
    assert v6.attributes[1].text == "[2001:db8:1234:5678:11:2233:4455:6677]:32853"


def test_stun_parse_reads_the_rfc5769_long_term_request():
    m = stun.parse(LONG_TERM_REQUEST)
    assert [a.name for a in m.attributes] == ["USERNAME", "NONCE", "REALM", "MESSAGE-INTEGRITY"]
    assert m.get(stun.Attr.USERNAME) == "マトリックス"
    assert m.get(stun.Attr.NONCE) == "f//499k954d6OL34oL9FSTvy64sA"
    assert m.get(stun.Attr.REALM) == "example.org"


@pytest.mark.parametrize("sample", VECTORS)
def test_stun_message_round_trip_gives_back_the_bytes(sample):
    assert bytes(stun.parse(sample)) == sample


@pytest.mark.parametrize("sample", VECTORS[:3])
def test_rfc5769_fingerprints_and_short_term_integrity_hold(sample):
    assert stun.fingerprint_ok(sample) is True
    assert stun.integrity_ok(sample, stun.short_term_key(RFC5769_PASSWORD)) is True
    assert stun.integrity_ok(sample, stun.short_term_key(RFC5769_PASSWORD + "x")) is False


def test_rfc5769_long_term_integrity_holds_with_md5_of_user_realm_password():
    key = stun.long_term_key("マトリックス", "example.org", "TheMatrIX")  # SASLprep("TheMatrIX") is itself
    assert stun.integrity_ok(LONG_TERM_REQUEST, key) is True
    assert stun.integrity_ok(LONG_TERM_REQUEST, stun.long_term_key("マトリックス", "example.org", "thematrix")) is False
    assert stun.fingerprint_ok(LONG_TERM_REQUEST) is None  # no FINGERPRINT in this vector


def test_a_changed_byte_breaks_the_fingerprint_and_the_integrity():
    bad = bytearray(SAMPLE_IPV4_RESPONSE)
    bad[30] ^= 1  # inside the XOR-MAPPED-ADDRESS
    assert stun.fingerprint_ok(bytes(bad)) is False
    assert stun.integrity_ok(bytes(bad), stun.short_term_key(RFC5769_PASSWORD)) is False


def test_integrity_is_none_without_message_integrity():
    assert stun.integrity_ok(SAMPLE_IPV4_RESPONSE[:20].replace(b"\x00\x3c", b"\x00\x00", 1), b"key") is None


def _message(message_type: int, *attributes: tuple[int, bytes], tid: bytes = TID) -> bytes:
    body = b"".join(struct.pack(">HH", t, len(v)) + v + b"\0" * (-len(v) % 4) for t, v in attributes)
    return struct.pack(">HHI", message_type, len(body), stun.STUN_MAGIC_COOKIE) + tid + body


def test_message_integrity_sha256_is_checked_with_the_length_counting_up_to_it():
    """RFC 8489 §14.6: HMAC-SHA256 over the message up to the attribute, length field adjusted; may be truncated
    to 16 bytes.  The expected MAC is computed here from the RFC's recipe over hand-made bytes."""
    key = b"secret"
    head = _message(0x0001, (0x0006, b"user"))
    for size in (32, 16):
        adjusted = head[:2] + struct.pack(">H", len(head) - 20 + 4 + size) + head[4:]
        mac = hmac.new(key, adjusted, hashlib.sha256).digest()[:size]
        data = _message(0x0001, (0x0006, b"user"), (0x001C, mac))
        assert stun.integrity_ok(data, key) is True
        assert stun.integrity_ok(data, b"other") is False
        assert stun.parse(data).get(stun.Attr.MESSAGE_INTEGRITY_SHA256) == mac


def test_fingerprint_length_counts_only_up_to_the_fingerprint_attribute():
    """RFC 8489 §14.7 over hand-made bytes: CRC-32 of the message before FINGERPRINT, with the length field
    counting the FINGERPRINT attribute, XOR 0x5354554E."""
    head = _message(0x0101, (0x8022, b"sw"))
    adjusted = head[:2] + struct.pack(">H", len(head) - 20 + 8) + head[4:]
    crc = zlib.crc32(adjusted) ^ 0x5354554E
    data = _message(0x0101, (0x8022, b"sw"), (0x8028, struct.pack(">I", crc)))
    assert stun.fingerprint_ok(data) is True
    assert stun.parse(data).get(stun.Attr.FINGERPRINT) == crc


def _header(message_type: int, length: int) -> bytes:
    return struct.pack(">HHI", message_type, length, stun.STUN_MAGIC_COOKIE) + TID


# -- every attribute decoder, on crafted values -----------------------------------------------------------------------
XOR_V4 = bytes.fromhex("0001a147e112a643")  # RFC 5769 §2.2: 192.0.2.1:32853 with the sample transaction id
XOR_V6 = bytes.fromhex("0002a1470113a9faa5d3f179bc25f4b5bed2b9d9")  # RFC 5769 §2.3


@pytest.mark.parametrize("code, name, raw, value, text", [
    (0x0001, "MAPPED-ADDRESS", bytes.fromhex("00010050c0000201"), ("192.0.2.1", 80), "192.0.2.1:80"),
    (0x0001, "MAPPED-ADDRESS", bytes.fromhex("00020050") + bytes.fromhex("20010db8" + "00" * 11 + "01"),
     ("2001:db8::1", 80), "[2001:db8::1]:80"),
    (0x8023, "ALTERNATE-SERVER", bytes.fromhex("00010d96c6336407"), ("198.51.100.7", 3478), "198.51.100.7:3478"),
    (0x0020, "XOR-MAPPED-ADDRESS", XOR_V4, ("192.0.2.1", 32853), "192.0.2.1:32853"),
    (0x0012, "XOR-PEER-ADDRESS", XOR_V4, ("192.0.2.1", 32853), "192.0.2.1:32853"),
    (0x0016, "XOR-RELAYED-ADDRESS", XOR_V6, ("2001:db8:1234:5678:11:2233:4455:6677", 32853),
     "[2001:db8:1234:5678:11:2233:4455:6677]:32853"),
    (0x0006, "USERNAME", b"ab:cd", "ab:cd", "ab:cd"),
    (0x0014, "REALM", b"example.org", "example.org", "example.org"),
    (0x0015, "NONCE", b"n0nce", "n0nce", "n0nce"),
    (0x8022, "SOFTWARE", "caf\u00e9".encode(), "caf\u00e9", "caf\u00e9"),
    (0x0008, "MESSAGE-INTEGRITY", bytes(range(20)), bytes(range(20)), bytes(range(20)).hex()),
    (0x001C, "MESSAGE-INTEGRITY-SHA256", bytes(range(24)), bytes(range(24)), bytes(range(24)).hex()),
    (0x8028, "FINGERPRINT", bytes.fromhex("e57a3bcf"), 0xE57A3BCF, "3849993167"),
    (0x0009, "ERROR-CODE", bytes.fromhex("00000401") + b"Unauthorized", stun.ErrorCode(401, "Unauthorized"),
     "401 Unauthorized"),
    (0x0009, "ERROR-CODE", bytes.fromhex("00000614") + b"Allocation Mismatch", stun.ErrorCode(620, "Allocation Mismatch"),
     "620 Allocation Mismatch"),  # class 6, number 0x14 = 20 (RFC 8656 §19)
    (0x000A, "UNKNOWN-ATTRIBUTES", bytes.fromhex("0020ff05"), (0x0020, 0xFF05), "0x0020,0xff05"),
    (0x0024, "PRIORITY", bytes.fromhex("6e0001ff"), 1845494271, "1845494271"),
    (0x0025, "USE-CANDIDATE", b"", None, ""),
    (0x8029, "ICE-CONTROLLED", bytes.fromhex("932ff9b151263b36"), 0x932FF9B151263B36, str(0x932FF9B151263B36)),
    (0x802A, "ICE-CONTROLLING", bytes.fromhex("0000000000000001"), 1, "1"),
    (0x000C, "CHANNEL-NUMBER", bytes.fromhex("40000000"), 0x4000, "16384"),
    (0x000D, "LIFETIME", bytes.fromhex("00000258"), 600, "600"),
    (0x0013, "DATA", b"\x80\x00hello", b"\x80\x00hello", "80006865 6c6c6f".replace(" ", "")),
    (0x0019, "REQUESTED-TRANSPORT", bytes.fromhex("11000000"), 17, "17"),
    (0x0017, "REQUESTED-ADDRESS-FAMILY", bytes.fromhex("02000000"), 2, "2"),
    (0x0018, "EVEN-PORT", b"\x80", True, "True"),
    (0x0018, "EVEN-PORT", b"\x00", False, "False"),
    (0x001A, "DONT-FRAGMENT", b"", None, ""),
    (0x0022, "RESERVATION-TOKEN", bytes(range(8)), bytes(range(8)), "0001020304050607"),
    (0xC057, "GOOG-NETWORK-INFO", bytes.fromhex("0001000a"), stun.NetworkInfo(1, 10), "id=1 cost=10"),
    (0xC001, "NOMINATION", bytes.fromhex("00000003"), 3, "3"),
    (0xFF05, None, b"\x01\x02\x03", b"\x01\x02\x03", "010203"),  # unknown: kept raw
])
def test_each_attribute_decodes_inside_a_message_and_round_trips(code, name, raw, value, text):
    data = _message(0x0001, (code, raw))
    m = stun.parse(data)
    (a,) = m.attributes
    assert (a.type, a.name, a.value, a.raw, a.offset, a.text) == (code, name, value, raw, 20, text)
    assert a == stun.attribute(code, raw, TID, offset=20)
    assert bytes(m) == data


def test_unknown_attributes_are_kept_in_order_between_known_ones():
    data = _message(0x0003, (0x0019, bytes.fromhex("11000000")), (0xFF05, b"x" * 5), (0x000D, bytes(4)))
    m = stun.parse(data)
    assert [(a.type, a.name) for a in m.attributes] == [(0x0019, "REQUESTED-TRANSPORT"), (0xFF05, None),
                                                        (0x000D, "LIFETIME")]
    assert (m.method, m.cls, stun.method_name(m.method)) == (3, 0, "allocate")


def test_method_names_cover_ice_and_turn():
    assert [stun.method_name(m) for m in (1, 3, 4, 6, 7, 8, 9, 0x80, 0x5)] == [
        "binding", "allocate", "refresh", "send", "data", "create-permission", "channel-bind", "goog-ping", "0x005"]


# -- one test per error message ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("data, message", [
    (SAMPLE_REQUEST[:-4], "STUN message is truncated (104 of 108 bytes)"),
    (SAMPLE_REQUEST + b"\0\0\0\0", "STUN message has 4 bytes after its declared length"),
    (_header(0x0001, 8) + bytes.fromhex("00060008") + b"abcd",
     "STUN attribute USERNAME at offset 20 runs past the end of the message (8 bytes, 4 left)"),
    (_header(0x0001, 8) + bytes.fromhex("ff050005") + b"abcd",  # 5 bytes need 8 with padding
     "STUN attribute 0xff05 at offset 20 runs past the end of the message (5 bytes, 4 left)"),
    (_message(0x0101, (0x0020, bytes.fromhex("0003a147e112a643"))),
     "STUN XOR-MAPPED-ADDRESS has unknown address family 3"),
    (_message(0x0101, (0x0020, bytes.fromhex("0001a1"))), "STUN XOR-MAPPED-ADDRESS is 3 bytes, expected 8 or 20"),
    (_message(0x0101, (0x0001, bytes.fromhex("0002a147e112a643"))), "STUN MAPPED-ADDRESS is 8 bytes, expected 20"),
    (_message(0x0001, (0x0024, b"abc")), "STUN PRIORITY is 3 bytes, expected 4"),
    (_message(0x0001, (0x001C, bytes(12))),
     "STUN MESSAGE-INTEGRITY-SHA256 is 12 bytes, expected 16 to 32 in steps of 4"),
    (_message(0x0111, (0x0009, b"\0\0\4")), "STUN ERROR-CODE is 3 bytes, expected at least 4"),
    (_message(0x0111, (0x000A, b"\0\1\2")), "STUN UNKNOWN-ATTRIBUTES has an odd length 3"),
    (_message(0x0003, (0x0018, b"\x80\0")), "STUN EVEN-PORT is 2 bytes, expected 1"),
    (_message(0x0001, (0x0025, b"\1")), "STUN USE-CANDIDATE is 1 bytes, expected 0"),
    (_message(0x0001, (0xC057, b"\1")), "STUN GOOG-NETWORK-INFO is 1 bytes, expected 4"),
])
def test_stun_parse_error_messages(data, message):
    with pytest.raises(DecodeError, match=re.escape(message)):
        stun.parse(data)


def test_fingerprint_and_integrity_checks_raise_decode_error_on_a_non_stun_message():
    with pytest.raises(DecodeError, match="STUN header is truncated"):
        stun.fingerprint_ok(b"\0" * 8)
    with pytest.raises(DecodeError, match="STUN header has no magic cookie"):
        stun.integrity_ok(b"\0" * 20, b"key")


@pytest.mark.parametrize("sample", VECTORS)
def test_every_prefix_of_a_stun_message_gives_a_message_or_decode_error(sample):
    for n in range(len(sample) + 1):
        try:
            m = stun.parse(sample[:n])
        except DecodeError:
            assert n < len(sample)
        else:
            assert n == len(sample) and bytes(m) == sample


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_stun_parse_of_arbitrary_bytes_gives_a_message_or_decode_error(data):
    try:
        m = stun.parse(data)
    except DecodeError:
        return
    assert bytes(m) == data


_known_types = st.sampled_from(sorted(stun.ATTRIBUTES) + [0xFF05, 0x0000])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_known_types, st.binary(max_size=24)), max_size=6), st.binary(min_size=12, max_size=12),
       st.integers(0, 0x3FFF))
def test_stun_parse_of_messages_with_arbitrary_attribute_values_gives_a_message_or_decode_error(attrs, tid, mtype):
    """A valid header and attribute framing with arbitrary values, so every decoder sees arbitrary input."""
    data = _message(mtype, *attrs, tid=tid)
    try:
        m = stun.parse(data)
    except DecodeError:
        return
    assert bytes(m) == data
    assert [a.type for a in m.attributes] == [t for t, _ in attrs]
    for a in m.attributes:
        assert isinstance(a.text, str)
    for check in (stun.fingerprint_ok(data), stun.integrity_ok(data, b"k")):
        assert check in (True, False, None)


# -- keys ---------------------------------------------------------------------------------------------------------
def test_short_term_key_is_the_password_bytes():
    assert stun.short_term_key(RFC5769_PASSWORD) == RFC5769_PASSWORD.encode()


def test_long_term_key_is_md5_of_user_realm_password():
    # RFC 8489 §9.2.2, the recipe stated over a hand-picked triple.
    assert stun.long_term_key("user", "realm", "pass") == hashlib.md5(b"user:realm:pass").digest()


def test_turn_rest_password_is_base64_of_hmac_sha1_of_the_username():
    # draft-uberti-behave-turn-rest §2.2: password = base64(HMAC-SHA1(secret, username)).
    username = "1700000000:alice"
    expected = base64.b64encode(hmac.new(b"s3cret", username.encode(), hashlib.sha1).digest()).decode()
    assert stun.turn_rest_password("s3cret", username) == expected == stun.turn_rest_password(b"s3cret", username)


@pytest.mark.parametrize("username, parsed", [("1700000000:alice", (1700000000, "alice")),
                                               ("1700000000", (1700000000, "")),
                                               ("1700000000:a:b", (1700000000, "a:b"))])
def test_turn_rest_username_is_expiry_then_user(username, parsed):
    assert stun.parse_rest_username(username) == parsed


@pytest.mark.parametrize("username", ["alice", ":alice", "17x:alice", "\u00b2:alice"])
def test_turn_rest_username_without_expiry_error_message(username):
    with pytest.raises(DecodeError, match="STUN REST username .* does not start with an expiry timestamp"):
        stun.parse_rest_username(username)


def test_relaying_types_by_first_two_bytes_agree_with_the_header_check():
    for message_type in range(1 << 14):
        data = message_type.to_bytes(2, "big") + bytes(18)
        assert (data[:2] in stun.RELAYING_TYPES) == stun.is_turn_relaying(data), hex(message_type)


# -- a malformed attribute does not take the others with it (issue 15) -------------------------------------------------
def test_parse_partial_keeps_every_attribute_around_one_that_does_not_decode():
    data = _message(0x0101, (0x0006, b"abcd:efgh"), (0x0024, b"abc"), (0x0020, XOR_V4), (0x8022, b"tester"),
                    tid=bytes.fromhex("b7e7a701bc34d686fa87dfae"))
    msg, error = stun.parse_partial(data)
    assert error == "STUN PRIORITY is 3 bytes, expected 4"
    assert [a.name for a in msg.attributes] == ["USERNAME", "PRIORITY", "XOR-MAPPED-ADDRESS", "SOFTWARE"]
    assert [a.error for a in msg.attributes] == [None, error, None, None]
    assert msg.get(stun.Attr.USERNAME) == "abcd:efgh" and msg.get(stun.Attr.SOFTWARE) == "tester"
    assert msg.get(stun.Attr.XOR_MAPPED_ADDRESS) == ("192.0.2.1", 32853)
    broken = msg.attributes[1]
    assert broken.value is None and broken.raw == b"abc" and broken.text == "616263"
    assert bytes(msg) == data
    with pytest.raises(DecodeError, match=re.escape(error)):
        stun.parse(data)  # the strict parse still refuses the message


def test_parse_partial_keeps_the_attributes_before_one_that_runs_past_the_end():
    data = _message(0x0001, (0x0006, b"abcd:efgh")) + bytes.fromhex("00240008") + b"\1\2\3\4"
    data = data[:2] + struct.pack(">H", len(data) - 20) + data[4:]
    msg, error = stun.parse_partial(data)
    assert error == "STUN attribute PRIORITY at offset 36 runs past the end of the message (8 bytes, 4 left)"
    assert [a.name for a in msg.attributes] == ["USERNAME"] and msg.get(stun.Attr.USERNAME) == "abcd:efgh"


def test_parse_partial_of_a_bad_header_raises():
    with pytest.raises(DecodeError, match="STUN header is truncated"):
        stun.parse_partial(b"\0\1")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_parse_partial_of_arbitrary_bytes_gives_a_message_or_decode_error_and_agrees_with_parse(data):
    try:
        msg, error = stun.parse_partial(data)
    except DecodeError:
        with pytest.raises(DecodeError):
            stun.parse(data)
        return
    if error is None:
        assert stun.parse(data) == msg
    else:
        with pytest.raises(DecodeError, match=re.escape(error)):
            stun.parse(data)


# -- SASLprep for long-term credentials (RFC 8489 §9.2.2, RFC 4013; issue 15) ----------------------------------------
RFC5769_LONG_TERM_PASSWORD = "The\u00adM\u00aatr\u2168"  # RFC 5769 §2.4: SASLprep gives "TheMatrIX"


def test_rfc5769_long_term_integrity_holds_with_the_password_as_the_rfc_writes_it():
    key = stun.long_term_key("マトリックス", "example.org", RFC5769_LONG_TERM_PASSWORD)
    assert key == stun.long_term_key("マトリックス", "example.org", "TheMatrIX")
    assert stun.integrity_ok(LONG_TERM_REQUEST, key) is True


@pytest.mark.parametrize("text, expected", [
    (RFC5769_LONG_TERM_PASSWORD, "TheMatrIX"),
    ("I\u00adX", "IX"),  # RFC 4013 §3's examples: soft hyphen mapped to nothing
    ("user", "user"), ("USER", "USER"),  # no case folding
    ("\u00aa", "a"), ("\u2168", "IX"),  # NFKC
    ("a\u2003b", "a b"),  # non-ASCII space mapped to SPACE
])
def test_saslprep_maps_and_normalises_as_rfc4013_examples_say(text, expected):
    assert stun.saslprep(text) == expected


@pytest.mark.parametrize("text", ["\u0007", "\u0627\u0031"])  # RFC 4013 §3: control char; RFC 3454 §6 bidi rule
def test_saslprep_refuses_prohibited_output_without_echoing_it(text):
    with pytest.raises(DecodeError) as e:
        stun.saslprep(text)
    assert text not in str(e.value) and str(e.value).startswith("SASLprep")


def test_long_term_key_of_a_password_saslprep_refuses_falls_back_to_its_utf8_bytes():
    # Servers that skip SASLprep (coturn) take the bytes as given; no exception reaches the stun tables.
    import hashlib
    assert stun.long_term_key("u", "r", "p\u0007") == hashlib.md5("u:r:p\u0007".encode()).digest()
