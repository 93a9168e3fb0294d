"""RTCP common headers and compound packets (RFC 3550 §6.4, RFC 4585): per-message parser and vectorised walk."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webrtcpcap import DecodeError, rtcp

from conftest import byte_source, rtcp_pli, rtcp_rr, rtcp_sdes, rtcp_sr

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# An RR with one report block (RFC 3550 §6.4.2), written out: V=2 P=0 RC=1, PT=201, length 7 words.
RR = bytes.fromhex("81c90007" "deadbeef" "01020304" "05000010" "00000fff" "00000020" "00000030" "00000040")


def test_rtcp_parse_header_reads_every_field_of_a_sample():
    h = rtcp.parse_header(RR)
    assert (h.packet_type, h.count, h.length_words, h.sender_ssrc, h.padding) == (201, 1, 7, 0xDEADBEEF, False)
    assert h.length_bytes == len(RR) == 32


def test_rtcp_feedback_header_count_is_the_fmt():
    h = rtcp.parse_header(rtcp_pli(sender=7, media=8))
    assert (h.packet_type, h.count, h.length_bytes, h.sender_ssrc) == (206, 1, 12, 7)


def test_rtcp_header_with_padding_bit():
    data = bytes([0xA0, 203, 0, 1]) + b"\x00\x00\x00\x09"
    h = rtcp.parse_header(data)
    assert (h.padding, h.count, h.packet_type, h.sender_ssrc) == (True, 0, 203, 9)


def test_rtcp_round_trip_gives_back_the_header_bytes():
    assert bytes(rtcp.parse_header(RR)) == RR[:8]
    four = bytes([0x80, 203, 0, 0])  # a BYE with no SSRC: 4 bytes, no sender SSRC
    h = rtcp.parse_header(four)
    assert h.sender_ssrc is None and bytes(h) == four


@pytest.mark.parametrize("data, message", [
    (RR[:3], "RTCP header is truncated"),
    (b"\x41" + RR[1:], "RTCP version is 1, not 2"),
    (RR[:31], "RTCP length field \\(32 bytes\\) overruns the datagram \\(31 bytes\\)"),
])
def test_rtcp_parse_header_error_messages(data, message):
    with pytest.raises(DecodeError, match=message):
        rtcp.parse_header(data)


def test_every_prefix_of_an_rtcp_packet_gives_a_header_or_decode_error():
    compound = rtcp_sr() + rtcp_sdes()
    for n in range(len(compound) + 1):
        try:
            h = rtcp.parse_header(compound[:n])
        except DecodeError:
            assert n < 28
        else:
            assert n >= 28 and h.packet_type == 200
        try:
            parts = rtcp.split_compound(compound[:n])
        except DecodeError:
            assert n not in (0, 28, len(compound))
        else:
            assert n in (0, 28, len(compound)) and len(parts) == [0, 28, len(compound)].index(n)


def test_split_compound_gives_every_sub_packet():
    parts = rtcp.split_compound(rtcp_sr(1) + rtcp_rr(2, blocks=[3]) + rtcp_sdes(4) + rtcp_pli(5, 6))
    assert [(p.packet_type, p.count, p.sender_ssrc) for p in parts] == [
        (200, 0, 1), (201, 1, 2), (202, 1, 4), (206, 1, 5)]


@SETTINGS
@given(st.binary(max_size=80))
def test_rtcp_parsers_of_arbitrary_bytes_give_records_or_decode_error(data):
    for parse in (rtcp.parse_header, rtcp.split_compound):
        try:
            parse(data)
        except DecodeError:
            pass


# --- walk_compound agrees with split_compound ----------------------------------------------------------------------


@st.composite
def rtcp_subpacket(draw):
    pt = draw(st.integers(192, 223))
    words = draw(st.integers(0, 6))
    count = draw(st.integers(0, 31))
    return struct.pack(">BBH", 0x80 | (0x20 if draw(st.booleans()) else 0) | count, pt, words) + draw(
        st.binary(min_size=4 * words, max_size=4 * words))


@st.composite
def rtcp_datagrams(draw):
    kind = draw(st.sampled_from(["valid", "cut", "trailing", "random"]))
    if kind == "random":
        return draw(st.binary(min_size=1, max_size=60))
    data = b"".join(draw(st.lists(rtcp_subpacket(), min_size=1, max_size=5)))
    if kind == "cut":
        data = data[: draw(st.integers(1, len(data)))]
    elif kind == "trailing":
        data += draw(st.binary(min_size=1, max_size=12))
    return data


@SETTINGS
@given(st.lists(rtcp_datagrams(), min_size=1, max_size=10))
def test_walk_compound_agrees_with_split_compound(datagrams):
    src, off, cap, wire = byte_source(datagrams)
    rows, status = rtcp.walk_compound(src, off, cap, wire)
    for i, data in enumerate(datagrams):
        mine = {k: v[rows["datagram"] == i] for k, v in rows.items()}
        try:
            parts = rtcp.split_compound(data)
        except DecodeError:
            assert status[i] != rtcp.COMPOUND_EXACT, data.hex()
            continue
        if not all(192 <= p.packet_type <= 223 for p in parts):
            assert status[i] != rtcp.COMPOUND_EXACT, data.hex()  # walk_compound also checks the type range
            continue
        assert status[i] == rtcp.COMPOUND_EXACT, data.hex()
        assert list(mine["index"]) == list(range(len(parts)))
        assert [int(x) for x in mine["pt"]] == [p.packet_type for p in parts]
        assert [int(x) for x in mine["count"]] == [p.count for p in parts]
        assert [bool(x) for x in mine["padding"]] == [p.padding for p in parts]
        assert [int(x) for x in mine["length_bytes"]] == [p.length_bytes for p in parts]
        ssrcs = [int(s) if h else None for s, h in zip(mine["sender_ssrc"], mine["has_ssrc"])]
        assert ssrcs == [p.sender_ssrc for p in parts]
        offsets = [0]
        for p in parts[:-1]:
            offsets.append(offsets[-1] + p.length_bytes)
        assert [int(x) for x in mine["offset"]] == offsets


def test_walk_compound_first_only_reads_just_the_first_header():
    data = rtcp_sr() + b"\x80\x00\x00\x01" + b"\xaa" * 10  # SRTCP: encrypted rest, index and auth tag
    src, off, cap, wire = byte_source([data])
    import numpy as np

    rows, status = rtcp.walk_compound(src, off, cap, wire, first_only=np.array([True]))
    assert list(rows["index"]) == [0] and int(rows["pt"][0]) == 200
    assert status[0] == rtcp.COMPOUND_ONLY_FIRST
