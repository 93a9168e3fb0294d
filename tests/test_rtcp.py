"""RTCP common headers and compound packets (RFC 3550 §6.4, RFC 4585): per-message parser and vectorised walk."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webrtcpcap import DecodeError
from webrtcpcap.protocols import rtcp

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


# --- rich decoding: parse_compound (RFC 3550 §6.4–6.7, RFC 4585, RFC 3611) ---------------------------------------

import os  # noqa: E402
import subprocess  # noqa: E402

from conftest import CAPTURES, PUBLIC_CAPTURES, tshark_available  # noqa: E402

# An SR written out by hand (RFC 3550 §6.4.1): RC=1, SSRC 0x01020304, NTP 0xE1D2C3B4_80000000 (= x.5 s),
# RTP ts 0x00ABCDEF, 1000 packets, 160000 octets, then one report block on SSRC 0x0A0B0C0D: fraction 0x40 (1/4),
# cumulative lost 0xFFFFFE (-2), extended highest seq 0x00011234 (one wrap, seq 0x1234), jitter 480,
# LSR 0xC3B48000, DLSR 0x00018000 (1.5 s).
SR_HAND = bytes.fromhex(
    "81c8000c" "01020304" "e1d2c3b480000000" "00abcdef" "000003e8" "00027100"
    "0a0b0c0d" "40fffffe" "00011234" "000001e0" "c3b48000" "00018000")


def test_parse_compound_reads_every_field_of_a_hand_written_sr():
    [sr] = rtcp.parse_compound(SR_HAND)
    assert isinstance(sr, rtcp.SenderReport)
    assert (sr.ssrc, sr.ntp_timestamp, sr.rtp_timestamp, sr.packet_count, sr.octet_count) == (
        0x01020304, 0xE1D2C3B480000000, 0xABCDEF, 1000, 160000)
    assert sr.ntp_seconds == 0xE1D2C3B4 + 0.5
    assert sr.lsr_key == 0xC3B48000
    [rb] = sr.reports
    assert (rb.ssrc, rb.fraction_lost, rb.packets_lost, rb.highest_sequence, rb.jitter, rb.lsr, rb.dlsr) == (
        0x0A0B0C0D, 0x40, -2, 0x00011234, 480, 0xC3B48000, 0x18000)
    assert sr.extension == b"" and sr.padding == b""
    assert bytes(sr) == SR_HAND


def test_rr_with_two_blocks_and_a_profile_extension():
    blocks = [struct.pack(">IIIIII", 0x100 + i, (i << 24) | (5 + i), 70000 + i, 10 + i, 0, 0) for i in range(2)]
    data = struct.pack(">BBHI", 0x82, 201, 1 + 12 + 1, 0xAABBCCDD) + b"".join(blocks) + b"EXT!"
    [rr] = rtcp.parse_compound(data)
    assert isinstance(rr, rtcp.ReceiverReport) and rr.ssrc == 0xAABBCCDD
    assert [(b.ssrc, b.fraction_lost, b.packets_lost, b.highest_sequence, b.jitter) for b in rr.reports] == [
        (0x100, 0, 5, 70000, 10), (0x101, 1, 6, 70001, 11)]
    assert rr.extension == b"EXT!"
    assert bytes(rr) == data


def test_sdes_with_two_chunks_and_several_items():
    chunk1 = struct.pack(">IBB", 7, 1, 3) + b"abc" + struct.pack(">BB", 6, 2) + b"go" + b"\0" * 3  # 13 + 3 nulls
    chunk2 = struct.pack(">IBB", 8, 15, 1) + b"0" + b"\0" * 1  # mid "0" (RFC 9143), 4+3+1 = 8
    data = struct.pack(">BBH", 0x82, 202, (len(chunk1) + len(chunk2)) // 4) + chunk1 + chunk2
    [sdes] = rtcp.parse_compound(data)
    assert [(c.ssrc, [(i.type, i.name, i.text) for i in c.items]) for c in sdes.chunks] == [
        (7, [(1, "cname", "abc"), (6, "tool", "go")]), (8, [(15, "mid", "0")])]
    assert bytes(sdes) == data


def test_bye_with_and_without_reason():
    data = struct.pack(">BBHII", 0x82, 203, 4, 1, 2) + bytes([7]) + b"go away" + b"\0" * 0
    [bye] = rtcp.parse_compound(data)
    assert (bye.ssrcs, bye.reason) == ((1, 2), "go away") and bytes(bye) == data
    plain = struct.pack(">BBHI", 0x81, 203, 1, 9)
    [bye] = rtcp.parse_compound(plain)
    assert (bye.ssrcs, bye.reason) == ((9,), None) and bytes(bye) == plain


def test_app_feedback_xr_and_unknown_types_are_kept_raw():
    app = struct.pack(">BBHI", 0x83, 204, 3, 5) + b"TEST" + b"\x01\x02\x03\x04"
    nack = struct.pack(">BBHIIHH", 0x81, 205, 3, 11, 12, 100, 0x0003)  # generic NACK: PID 100, BLP 0b11
    xr = struct.pack(">BBHI", 0x80, 207, 5, 13) + struct.pack(">BBH", 4, 0, 2) + b"\xaa" * 8 \
        + struct.pack(">BBH", 5, 9, 0)
    ij = struct.pack(">BBHI", 0x81, 195, 1, 77)  # RFC 5450 IJ: a type parse_compound does not decode
    got = rtcp.parse_compound(app + nack + xr + ij)
    assert got[0] == rtcp.App(3, 5, b"TEST", b"\x01\x02\x03\x04")
    assert got[1] == rtcp.Feedback(205, 1, 11, 12, struct.pack(">HH", 100, 3))
    assert got[2] == rtcp.Xr(13, (rtcp.XrBlock(4, 0, b"\xaa" * 8), rtcp.XrBlock(5, 9, b"")))
    assert got[3] == rtcp.RawRtcp(195, 1, struct.pack(">I", 77))
    assert rtcp.compound_bytes(got) == app + nack + xr + ij


def test_padding_bit_keeps_the_padding_bytes():
    data = struct.pack(">BBHI", 0xA0, 201, 2, 42) + b"\0\0\0\x04"  # RR, no blocks, 4 padding bytes
    [rr] = rtcp.parse_compound(data)
    assert rr == rtcp.ReceiverReport(42, (), b"", b"\0\0\0\x04")
    assert bytes(rr) == data


@pytest.mark.parametrize("data, message", [
    (b"", "RTCP compound is empty"),
    (SR_HAND[:30], "RTCP length field \\(52 bytes\\) overruns the datagram"),
    (struct.pack(">BBHI", 0x80, 200, 1, 1), "RTCP SR is truncated"),
    (struct.pack(">BBHI", 0x83, 201, 1, 1), "RTCP RR report count 3 needs 80 bytes, the packet has 8"),
    (SR_HAND[:1] + b"\xc8\x00\x0b" + SR_HAND[4:48], "RTCP SR report count 1 needs 52 bytes, the packet has 48"),
    (struct.pack(">BBH", 0x81, 202, 0), "RTCP SDES chunk 0 is truncated"),
    (struct.pack(">BBHIBB", 0x81, 202, 2, 1, 1, 5) + b"ab", "RTCP SDES item of chunk 0 overruns the packet"),
    (struct.pack(">BBHIBB", 0x81, 202, 2, 1, 1, 2) + b"ab", "RTCP SDES chunk 0 has no end item"),
    (struct.pack(">BBHI", 0x81, 202, 3, 1) + b"\0\0\0\0" + b"junk", "RTCP SDES has 4 bytes after its 1 chunks"),
    (struct.pack(">BBH", 0x82, 203, 1) + b"\0" * 4, "RTCP BYE source list is truncated"),
    (struct.pack(">BBHIB", 0x81, 203, 2, 1, 9) + b"abc", "RTCP BYE reason overruns the packet"),
    (struct.pack(">BBHI", 0x80, 204, 1, 1), "RTCP APP is truncated"),
    (struct.pack(">BBHI", 0x81, 205, 1, 1), "RTCP RTPFB is truncated"),
    (struct.pack(">BBHI", 0x81, 206, 1, 1), "RTCP PSFB is truncated"),
    (struct.pack(">BBH", 0x80, 207, 0), "RTCP XR is truncated"),
    (struct.pack(">BBHI", 0xA0, 207, 2, 1) + b"\x04\x00" + b"\x00\x02", "RTCP XR block 0 header is truncated"),
    (struct.pack(">BBHIBBH", 0x80, 207, 2, 1, 4, 0, 3), "RTCP XR block 0 overruns the packet"),
    (struct.pack(">BBHI", 0xA0, 201, 1, 1)[:-1] + b"\x09", "RTCP padding count 9 does not fit the packet"),
    (struct.pack(">BBHI", 0xA0, 201, 1, 0), "RTCP padding count 0 does not fit the packet"),
    (SR_HAND + b"\x40\xc9\x00\x01", "RTCP version is 1, not 2"),
])
def test_parse_compound_error_messages(data, message):
    with pytest.raises(DecodeError, match=message):
        rtcp.parse_compound(data)


def test_parse_compound_partial_keeps_the_packets_before_a_broken_one():
    records, error = rtcp.parse_compound_partial(SR_HAND + struct.pack(">BBHI", 0x83, 201, 1, 1))
    assert [type(r) for r in records] == [rtcp.SenderReport] and error.startswith("RTCP RR report count 3")


@pytest.mark.parametrize("record, message", [
    (rtcp.ReportBlock(1, 0, 1 << 23, 0, 0, 0, 0), "RTCP report block cumulative loss 8388608 does not fit 24 bits"),
    (rtcp.App(0, 1, b"abc"), "RTCP APP name is 3 bytes, not 4"),
    (rtcp.App(32, 1, b"abcd"), "RTCP count 32 does not fit 5 bits"),
    (rtcp.Feedback(205, 1, 1, 2, b"abc"), "RTCP packet length 15 is not a multiple of 4 bytes"),
    (rtcp.XrBlock(1, 0, b"abc"), "RTCP XR block is 3 bytes, not whole 32-bit words"),
    (rtcp.SdesItem(1, "x" * 256), "RTCP SDES item is 256 bytes long, at most 255 fit"),
    (rtcp.Bye((1,), "x" * 256), "RTCP BYE reason is 256 bytes long, at most 255 fit"),
])
def test_records_that_do_not_fit_the_wire_refuse_to_be_written(record, message):
    with pytest.raises(DecodeError, match=message):
        bytes(record)


def test_every_prefix_of_a_compound_gives_records_or_decode_error():
    compound = SR_HAND + rtcp_sdes() + rtcp_pli() + struct.pack(">BBHI", 0x81, 203, 1, 9)
    ends = {0}
    for record in rtcp.parse_compound(compound):
        ends.add(max(ends) + len(bytes(record)))
    for n in range(1, len(compound) + 1):
        try:
            records = rtcp.parse_compound(compound[:n])
        except DecodeError:
            assert n not in ends
        else:
            assert n in ends and rtcp.compound_bytes(records) == compound[:n]


# Records built from random fields: bytes(record) must parse back to the same record.
_u32 = st.integers(0, 2**32 - 1)
_block = st.builds(rtcp.ReportBlock, _u32, st.integers(0, 255), st.integers(-(1 << 23), (1 << 23) - 1), _u32, _u32,
                   _u32, _u32)
_words = st.binary(max_size=12).map(lambda b: b + b"\0" * (-len(b) % 4))
_text = st.text(max_size=20).filter(lambda s: len(s.encode("utf-8", "surrogatepass")) <= 255).filter(
    lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s))
_padding = st.sampled_from([b"", b"\0\0\0\x04", b"\0\0\0\0\0\0\0\x08"])
_records = st.one_of(
    st.builds(rtcp.SenderReport, _u32, st.integers(0, 2**64 - 1), _u32, _u32, _u32,
              st.lists(_block, max_size=3).map(tuple), _words, _padding),
    st.builds(rtcp.ReceiverReport, _u32, st.lists(_block, max_size=3).map(tuple), _words, _padding),
    st.builds(rtcp.Sdes, st.lists(st.builds(rtcp.SdesChunk, _u32, st.lists(st.builds(
        rtcp.SdesItem, st.integers(1, 255), _text), max_size=3).map(tuple)), max_size=3).map(tuple), _padding),
    st.builds(rtcp.Bye, st.lists(_u32, max_size=4).map(tuple), st.one_of(st.none(), _text), _padding),
    st.builds(rtcp.App, st.integers(0, 31), _u32, st.binary(min_size=4, max_size=4), _words, _padding),
    st.builds(rtcp.Feedback, st.sampled_from([205, 206]), st.integers(0, 31), _u32, _u32, _words, _padding),
    st.builds(rtcp.Xr, _u32, st.lists(st.builds(rtcp.XrBlock, st.integers(0, 255), st.integers(0, 255), _words),
                                      max_size=3).map(tuple), st.integers(0, 31), _padding),
    st.builds(rtcp.RawRtcp, st.sampled_from([192, 193, 194, 195, 208, 209, 223]), st.integers(0, 31), _words,
              _padding),
)


@SETTINGS
@given(st.lists(_records, min_size=1, max_size=4))
def test_records_written_and_parsed_back_are_equal(records):
    data = rtcp.compound_bytes(records)
    assert rtcp.parse_compound(data) == records


@SETTINGS
@given(rtcp_datagrams())
def test_parse_compound_of_arbitrary_bytes_gives_records_or_decode_error(data):
    try:
        records = rtcp.parse_compound(data)
    except DecodeError:
        return
    assert rtcp.parse_compound(rtcp.compound_bytes(records)) == records


# --- cross-check against tshark on plaintext RTCP -----------------------------------------------------------------


def udp_payload(cap, frame: int) -> bytes:
    """The UDP payload of one frame of `cap` (Ethernet or Linux cooked capture), by scapy, cut to the UDP length
    (Ethernet pads short frames)."""
    from scapy.layers.inet import UDP
    from scapy.layers.l2 import CookedLinux, Ether

    linktype = int(cap.interfaces.linktype.iloc[0])
    pkt = {1: Ether, 113: CookedLinux}[linktype](cap.frame_bytes(frame))
    udp = pkt[UDP]
    return bytes(udp.payload)[: udp.len - 8]


PLAINTEXT_RTCP = [CAPTURES / "janus_echotest_loss5.janus.pcap", CAPTURES / "janus_echotest_clean.janus.pcap",
                  CAPTURES / "janus_mtu576.janus.pcap", CAPTURES / "chromium_aiortc_loss5.rtpdump.pcap",
                  PUBLIC_CAPTURES / "ndpi_sip.pcap",
                  PUBLIC_CAPTURES / "ndpi_rtcp_multiple_pkts_in_the_same_datagram.pcap"]
# (ndpi_discord.pcap's RTCP is encrypted after its first 8 bytes, as SRTCP is: not plaintext.)

_TSHARK_FIELDS = ["frame.number", "rtcp.pt", "rtcp.senderssrc", "rtcp.ssrc.fraction", "rtcp.ssrc.cum_nr",
                  "rtcp.ssrc.ext_high", "rtcp.ssrc.jitter", "rtcp.ssrc.lsr", "rtcp.ssrc.dlsr", "rtcp.timestamp.ntp.msw",
                  "rtcp.timestamp.ntp.lsw", "rtcp.timestamp.rtp", "rtcp.sender.packetcount",
                  "rtcp.sender.octetcount", "rtcp.sdes.type", "rtcp.sdes.text", "rtcp.mediassrc", "rtcp.length"]


def tshark_rtcp(path, ports=()) -> dict[int, dict[str, list[str]]]:
    """tshark's RTCP fields per frame: the UDP `ports` decoded as RTP (whose dissector hands RTCP-muxed packets to
    RTCP, RFC 5761), and the RTCP heuristic on for the rest."""
    cmd = ["tshark", "-n", "-r", str(path), "-o", "rtcp.heuristic_rtcp:TRUE", "-Y", "rtcp", "-T", "fields",
           "-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=,"]
    for port in sorted(ports):
        cmd += ["-d", f"udp.port=={port},rtp"]
    for f in _TSHARK_FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = {}
    for line in out.splitlines():
        values = line.split("|")
        rows[int(values[0])] = {f: (v.split(",") if v else []) for f, v in zip(_TSHARK_FIELDS[1:], values[1:])}
    return rows


def _ours(records) -> dict[str, list[int | str]]:
    got: dict[str, list] = {f: [] for f in _TSHARK_FIELDS[1:]}
    for r in records:
        got["rtcp.pt"].append(int(r.packet_type))
        got["rtcp.length"].append((len(bytes(r)) - 4) // 4)
        if isinstance(r, (rtcp.SenderReport, rtcp.ReceiverReport)):
            got["rtcp.senderssrc"].append(r.ssrc)
            if isinstance(r, rtcp.SenderReport):
                got["rtcp.timestamp.ntp.msw"].append(r.ntp_timestamp >> 32)
                got["rtcp.timestamp.ntp.lsw"].append(r.ntp_timestamp & 0xFFFFFFFF)
                got["rtcp.timestamp.rtp"].append(r.rtp_timestamp)
                got["rtcp.sender.packetcount"].append(r.packet_count)
                got["rtcp.sender.octetcount"].append(r.octet_count)
            for b in r.reports:
                for f, v in (("fraction", b.fraction_lost), ("cum_nr", b.packets_lost),
                             ("ext_high", b.highest_sequence), ("jitter", b.jitter), ("lsr", b.lsr),
                             ("dlsr", b.dlsr)):
                    got["rtcp.ssrc." + f].append(v)
        elif isinstance(r, rtcp.Feedback):
            got["rtcp.senderssrc"].append(r.sender_ssrc)
            got["rtcp.mediassrc"].append(r.media_ssrc)
        elif isinstance(r, rtcp.Sdes):
            for c in r.chunks:
                for i in c.items:
                    got["rtcp.sdes.type"].append(i.type)
                    got["rtcp.sdes.text"].append(i.text)
                got["rtcp.sdes.type"].append(0)  # tshark lists each chunk's END item
        elif isinstance(r, rtcp.Bye) and r.reason is not None:
            got["rtcp.sdes.text"].append(r.reason)  # tshark shows a BYE reason in the SDES text field
    return got


def _as_int(v: str) -> int:
    return int(v, 16) if v.startswith("0x") else int(v)


@pytest.mark.skipif(not tshark_available(), reason="tshark is not installed")
@pytest.mark.parametrize("path", PLAINTEXT_RTCP, ids=lambda p: p.name)
def test_parse_compound_agrees_with_tshark_on_plaintext_rtcp(path):
    if not path.exists():
        pytest.skip(f"{path} is not here (public captures live in ../shared/public-captures)")
    import webrtcpcap

    cap = webrtcpcap.open(path)
    rows = cap.packets[cap.packets.kind == "rtcp"]
    theirs = tshark_rtcp(path, set(rows.sport.dropna().astype(int)) | set(rows.dport.dropna().astype(int)))
    frames = sorted(set(rows.frame.tolist()))
    assert frames == sorted(theirs)
    checked = 0
    for frame in frames:
        data = udp_payload(cap, frame)
        records = rtcp.parse_compound(data)
        assert rtcp.compound_bytes(records) == data
        ours = _ours(records)
        for field, values in theirs[frame].items():
            if field == "rtcp.sdes.text":
                assert ours[field] == values, (frame, field)
            else:
                assert ours[field] == [_as_int(v) for v in values], (frame, field)
        checked += len(records)
    assert checked >= len(frames)


# --- feedback FCI decoding (RFC 4585 §6.2–6.4, RFC 5104, REMB, transport-cc) -----------------------------------


def fb(pt: int, fmt: int, fci: bytes, sender: int = 0x01020304, media: int = 0x0A0B0C0D) -> rtcp.Feedback:
    """A raw feedback record as parse_compound gives it, from a header written by hand."""
    data = struct.pack(">BBHII", 0x80 | fmt, pt, 2 + len(fci) // 4, sender, media) + fci
    (record,) = rtcp.parse_compound(data)
    assert isinstance(record, rtcp.Feedback)
    return record


def test_nack_blp_expands_to_17_sequence_numbers():
    nack = rtcp.parse_feedback(fb(205, 1, struct.pack(">HH", 1000, 0xFFFF)))
    assert isinstance(nack, rtcp.Nack)
    assert (nack.sender_ssrc, nack.media_ssrc) == (0x01020304, 0x0A0B0C0D)
    assert nack.entries == (rtcp.NackEntry(1000, 0xFFFF),)
    assert nack.sequence_numbers == tuple(range(1000, 1017))
    assert nack.entries[0].lost == tuple((1000 + i, i) for i in range(17))


def test_nack_blp_bits_count_from_the_least_significant():
    # BLP 0x8005: bits 0, 2 and 15 -> PID + 1, PID + 3 and PID + 16.
    nack = rtcp.parse_feedback(fb(205, 1, struct.pack(">HHHH", 7, 0x8005, 500, 0)))
    assert nack.entries[0].lost == ((7, 0), (8, 1), (10, 3), (23, 16))
    assert nack.sequence_numbers == (7, 8, 10, 23, 500)


def test_nack_wraps_past_65535():
    nack = rtcp.parse_feedback(fb(205, 1, struct.pack(">HH", 65535, 0b111)))
    assert nack.sequence_numbers == (65535, 0, 1, 2)
    nack = rtcp.parse_feedback(fb(205, 1, struct.pack(">HH", 65530, 0x8000)))
    assert nack.sequence_numbers == (65530, 10)


def test_tmmbr_and_tmmbn_entries():
    # RFC 5104 §4.2.1.1: SSRC, MxTBR Exp (6), Mantissa (17), Measured Overhead (9).
    word = (5 << 26) | (100_000 << 9) | 40
    tmmbr = rtcp.parse_feedback(fb(205, 3, struct.pack(">II", 0xCAFE, word), media=0))
    assert isinstance(tmmbr, rtcp.Tmmbr)
    assert tmmbr.entries == (rtcp.TmmbEntry(0xCAFE, 5, 100_000, 40),)
    assert tmmbr.entries[0].bitrate_bps == 3_200_000
    tmmbn = rtcp.parse_feedback(fb(205, 4, struct.pack(">IIII", 1, word, 2, (63 << 26) | (0x1FFFF << 9) | 511)))
    assert isinstance(tmmbn, rtcp.Tmmbn)
    assert [(e.ssrc, e.exponent, e.mantissa, e.overhead) for e in tmmbn.entries] == [
        (1, 5, 100_000, 40), (2, 63, 0x1FFFF, 511)]
    assert rtcp.parse_feedback(fb(205, 4, b"")).entries == ()  # an empty bounding set


# transport-cc (transport-wide-cc-01 §3.1), written bit by bit:
#   base 65534, status count 21, reference time -2 (0xFFFFFE: -128 ms), feedback packet count 7;
#   chunk 0x2003 = 0|01|0000000000011: run length, small delta, 3 packets (65534, 65535, 0);
#   chunk 0xAC01 = 1|0|10110000000001: 1-bit vector: packets 1..14 received at 1, 3, 4 and 14;
#   chunk 0xE195 = 1|1|10 00 01 10 01 01 01: 2-bit vector: large, not received, small, large (packets 15..18), then
#                  three symbols past the status count (ignored);
#   deltas: small 4, 0, 255 | small 1, 2, 3, 4 | large -100 (0xFF9C), small 8, large 1000 (0x03E8); 2 bytes padding.
TWCC_FCI = bytes.fromhex("fffe" "0015" "fffffe" "07" "2003" "ac01" "e195"
                         "04" "00" "ff" "01" "02" "03" "04" "ff9c" "08" "03e8" "0000")
TWCC_STATUSES = [1, 1, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 1, 2]


def test_transport_cc_every_field_of_a_hand_built_packet():
    assert len(TWCC_FCI) == 28
    twcc = rtcp.parse_feedback(fb(205, 15, TWCC_FCI))
    assert isinstance(twcc, rtcp.TransportCc)
    assert (twcc.base_sequence, twcc.status_count, twcc.reference_time, twcc.feedback_count) == (65534, 21, -2, 7)
    assert twcc.chunks == (0x2003, 0xAC01, 0xE195)
    assert twcc.deltas == (4, 0, 255, 1, 2, 3, 4, -100, 8, 1000)
    assert twcc.tail == b"\0\0"
    assert [int(s) for s in twcc.statuses] == TWCC_STATUSES
    packets = twcc.packets
    assert [p.sequence_number for p in packets] == [65534, 65535] + list(range(19))
    received = [(p.sequence_number, p.delta_ms, p.receive_time_ms) for p in packets if p.received]
    assert received == [(65534, 1.0, -127.0), (65535, 0.0, -127.0), (0, 63.75, -63.25), (1, 0.25, -63.0),
                        (3, 0.5, -62.5), (4, 0.75, -61.75), (14, 1.0, -60.75), (15, -25.0, -85.75),
                        (17, 2.0, -83.75), (18, 250.0, 166.25)]
    assert all(p.delta is None and p.receive_time_ms is None for p in packets if not p.received)


def test_transport_cc_with_no_packets_and_a_long_run():
    twcc = rtcp.parse_feedback(fb(205, 15, struct.pack(">HHI", 5, 0, 0)))
    assert twcc.packets == () and twcc.chunks == ()
    # 8191 packets not received: one run length chunk with symbol 0, no deltas.
    twcc = rtcp.parse_feedback(fb(205, 15, struct.pack(">HHIHH", 0, 8191, 1, 0x1FFF, 0)))
    assert len(twcc.statuses) == 8191 and not any(p.received for p in twcc.packets)
    assert twcc.reference_time == 0 and twcc.feedback_count == 1


def test_pli_sli_rpsi_fir_and_remb():
    pli = rtcp.parse_feedback(fb(206, 1, b""))
    assert pli == rtcp.Pli(0x01020304, 0x0A0B0C0D)
    sli = rtcp.parse_feedback(fb(206, 2, struct.pack(">I", (100 << 19) | (20 << 6) | 33)))
    assert sli.entries == (rtcp.SliEntry(100, 20, 33),)
    rpsi = rtcp.parse_feedback(fb(206, 3, bytes([4, 96, 0xAB, 0xC0])))
    assert (rpsi.padding_bits, rpsi.payload_type, rpsi.native) == (4, 96, b"\xab\xc0")
    # RFC 5104 §4.3.1.1: SSRC, Seq nr (8), Reserved (24); two entries.
    fir = rtcp.parse_feedback(fb(206, 4, struct.pack(">IB3xIB3x", 0xAAAA, 255, 0xBBBB, 0), media=0))
    assert isinstance(fir, rtcp.Fir)
    assert [(e.ssrc, e.sequence_number) for e in fir.entries] == [(0xAAAA, 255), (0xBBBB, 0)]
    # REMB: 'REMB', num SSRC 2, BR Exp 3 (6 bits), BR Mantissa 0x2ABCD (18 bits) -> 0x2ABCD << 3 bits/s.
    fci = b"REMB" + bytes([2, (3 << 2) | 0x2, 0xAB, 0xCD]) + struct.pack(">II", 0x11, 0x22)
    remb = rtcp.parse_feedback(fb(206, 15, fci, media=0))
    assert isinstance(remb, rtcp.Remb)
    assert (remb.exponent, remb.mantissa, remb.ssrcs) == (3, 0x2ABCD, (0x11, 0x22))
    assert remb.bitrate_bps == 0x2ABCD * 8 == 1_400_424


def test_unknown_formats_and_other_afb_stay_raw():
    for record in (fb(205, 9, b"\x01\x02\x03\x04"), fb(206, 15, b"ABCD\x00\x00\x00\x00"), fb(206, 7, b""),
                   fb(206, 15, b"")):
        assert rtcp.parse_feedback(record) is record


@pytest.mark.parametrize("pt, fmt, fci, message", [
    (205, 1, b"", "RTCP NACK has no FCI entry"),
    (205, 3, b"\0" * 4, "RTCP TMMBR FCI length 4 is not a multiple of 8 bytes"),
    (205, 3, b"", "RTCP TMMBR has no FCI entry"),
    (205, 4, b"\0" * 12, "RTCP TMMBN FCI length 12 is not a multiple of 8 bytes"),
    (205, 15, b"\0" * 4, "RTCP transport-cc FCI is truncated \\(4 of 8 bytes\\)"),
    (205, 15, struct.pack(">HHIHH", 0, 20, 0, 0x200A, 0), "RTCP transport-cc packet chunks overrun the FCI"),
    (205, 15, struct.pack(">HHIHH", 0, 2, 0, 0x4002, 0), "RTCP transport-cc receive deltas overrun the FCI"),
    (205, 15, struct.pack(">HHIHH", 0, 1, 0, 0x6001, 0), "RTCP transport-cc status of packet 0 is the reserved"),
    (206, 1, b"\0" * 4, "RTCP PLI has 4 bytes of FCI, it has none"),
    (206, 2, b"", "RTCP SLI has no FCI entry"),
    (206, 3, b"", "RTCP RPSI FCI is truncated"),
    (206, 3, b"\x00\x80\x00\x00", "RTCP RPSI has its zero bit set"),
    (206, 3, b"\x11\x60\x00\x00", "RTCP RPSI padding bits \\(17\\) exceed its bit string"),
    (206, 4, b"", "RTCP FIR has no FCI entry"),
    (206, 4, b"\0" * 4, "RTCP FIR FCI length 4 is not a multiple of 8 bytes"),
    (206, 15, b"REMB", "RTCP REMB FCI is truncated"),
    (206, 15, b"REMB\x02\x00\x00\x00" + b"\0" * 4, "RTCP REMB SSRC count 2 does not match its FCI"),
])
def test_feedback_fci_error_messages(pt, fmt, fci, message):
    with pytest.raises(DecodeError, match=message):
        rtcp.parse_feedback(fb(pt, fmt, fci))


FEEDBACK_SAMPLES = [
    (205, 1, struct.pack(">HHHH", 65535, 0x0003, 12, 0x8000)),
    (205, 3, struct.pack(">II", 9, (5 << 26) | (1000 << 9) | 30)),
    (205, 4, b""),
    (205, 15, TWCC_FCI),
    (206, 1, b""),
    (206, 2, struct.pack(">I", 0x12345678)),
    (206, 3, bytes([0, 96, 1, 2, 3, 4, 5, 6])),
    (206, 4, struct.pack(">IB3x", 0xAAAA, 17)),
    (206, 15, b"REMB" + bytes([1, 0xFF, 0xFF, 0xFF]) + struct.pack(">I", 0x33)),
]


@pytest.mark.parametrize("pt, fmt, fci", FEEDBACK_SAMPLES)
def test_typed_feedback_writes_back_the_same_bytes(pt, fmt, fci):
    raw = fb(pt, fmt, fci)
    typed = rtcp.parse_feedback(raw)
    assert type(typed) is not rtcp.Feedback
    assert bytes(typed) == bytes(raw)
    assert rtcp.parse_feedback(rtcp.parse_compound(bytes(typed))[0]) == typed


def test_typed_feedback_keeps_padding():
    data = struct.pack(">BBHII", 0xA0 | 1, 206, 3, 1, 2) + b"\0\0\0\x04"  # PLI with 4 bytes of RTCP padding
    typed = rtcp.parse_feedback(rtcp.parse_compound(data)[0])
    assert typed == rtcp.Pli(1, 2, b"\0\0\0\x04") and bytes(typed) == data


@pytest.mark.parametrize("pt, fmt, fci", FEEDBACK_SAMPLES)
def test_every_fci_prefix_gives_a_record_or_decode_error(pt, fmt, fci):
    for n in range(0, len(fci) + 1, 4):  # whole words only: RTCP lengths count 32-bit words
        raw = fb(pt, fmt, fci[:n])
        try:
            typed = rtcp.parse_feedback(raw)
        except DecodeError as e:
            assert str(e).startswith("RTCP ")
        else:
            assert bytes(typed) == bytes(raw)


@pytest.mark.parametrize("record, message", [
    (rtcp.Nack(1, 2, (rtcp.NackEntry(70000, 0),)), "RTCP NACK entry"),
    (rtcp.Remb(1, 0, 64, 0), "RTCP REMB exponent 64"),
    (rtcp.Fir(1, 0, (rtcp.FirEntry(1, 256),)), "RTCP FIR sequence number 256"),
    (rtcp.TransportCc(1, 2, 0, 1, 0, 0, (0x2001,), ()), "RTCP transport-cc has 0 deltas for 1 received"),
    (rtcp.TransportCc(1, 2, 0, 1, 0, 0, (0x2001,), (256,)), "RTCP transport-cc small delta 256"),
    (rtcp.Pli(1 << 32, 2), "RTCP feedback sender SSRC"),
])
def test_typed_feedback_that_does_not_fit_refuses_to_be_written(record, message):
    with pytest.raises(DecodeError, match=message):
        bytes(record)


@SETTINGS
@given(st.sampled_from([(205, 1), (205, 3), (205, 4), (205, 15), (206, 1), (206, 2), (206, 3), (206, 4), (206, 15),
                        (205, 2), (206, 9)]),
       st.binary(max_size=64), st.booleans())
def test_parse_feedback_of_arbitrary_fci_gives_a_record_or_decode_error(kind, body, remb):
    pt, fmt = kind
    fci = (b"REMB" if remb and kind == (206, 15) else b"") + body
    fci += b"\0" * (-len(fci) % 4)
    raw = fb(pt, fmt, fci)
    try:
        typed = rtcp.parse_feedback(raw)
    except DecodeError as e:
        assert str(e).startswith("RTCP ")
    else:
        if not (pt == 205 and fmt == 15):
            assert bytes(typed) == bytes(raw)
        else:
            assert len(typed.statuses) == typed.status_count and bytes(typed) == bytes(raw)


def test_feedback_names():
    assert [rtcp.feedback_name(*k) for k in ((205, 1), (205, 15), (206, 1), (206, 4), (206, 15), (205, 9))] == [
        "nack", "transport-cc", "pli", "fir", "afb", "rtpfb 9"]
