"""RTP header extensions (RFC 8285): the per-block parser, the vectorised decoder (held equal) and SDP names."""

from __future__ import annotations

import re
import struct
import subprocess

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webrtcpcap import DecodeError
from webrtcpcap.protocols import rtp
from webrtcpcap.protocols import rtp_extensions as rx

from conftest import CAPTURES, byte_source, rtp_packet, tshark_available
from test_rtcp import udp_payload

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# RFC 8285 §4.2, the one-byte form figure: an element with L=0 (1 byte), one with L=1 (2 bytes), two padding
# bytes, one with L=3 (4 bytes); length=3 words.  Ids and data chosen here: 1 -> 0xAA; 2 -> 0xBBCC; 3 -> 0x01020304.
RFC_ONE_BYTE = bytes([0x10, 0xAA, 0x21, 0xBB, 0xCC, 0x00, 0x00, 0x33, 0x01, 0x02, 0x03, 0x04])
# RFC 8285 §4.3, the two-byte form figure: id 1 with L=0, id 2 with L=1, one padding byte, id 3 with L=4.
RFC_TWO_BYTE = bytes([0x01, 0x00, 0x02, 0x01, 0xDD, 0x00, 0x03, 0x04, 0x0A, 0x0B, 0x0C, 0x0D])


def test_rfc8285_one_byte_example_gives_every_element():
    got = rx.parse_extensions(0xBEDE, RFC_ONE_BYTE)
    assert [(e.id, e.form, e.offset, e.data, e.value) for e in got] == [
        (1, rx.FORM_ONE_BYTE, 1, b"\xaa", 0xAA),
        (2, rx.FORM_ONE_BYTE, 3, b"\xbb\xcc", 0xBBCC),
        (3, rx.FORM_ONE_BYTE, 8, b"\x01\x02\x03\x04", 0x01020304),
    ]


def test_rfc8285_two_byte_example_gives_every_element_including_an_empty_one():
    for profile in (0x1000, 0x100F):  # the low 4 bits are "appbits"
        got = rx.parse_extensions(profile, RFC_TWO_BYTE)
        assert [(e.id, e.form, e.offset, e.data, e.value) for e in got] == [
            (1, rx.FORM_TWO_BYTE, 2, b"", None),
            (2, rx.FORM_TWO_BYTE, 4, b"\xdd", 0xDD),
            (3, rx.FORM_TWO_BYTE, 8, b"\x0a\x0b\x0c\x0d", 0x0A0B0C0D),
        ]


def test_one_byte_id_15_stops_the_walk():
    block = bytes([0x10, 0x01, 0xF3, 0x21, 0x22, 0x23, 0x24, 0x00])  # id 15: the rest is ignored (RFC 8285 §4.2)
    assert [(e.id, e.data) for e in rx.parse_extensions(0xBEDE, block)] == [(1, b"\x01")]


def test_sixteen_byte_one_byte_element_has_no_integer_value():
    block = bytes([0x5F]) + bytes(range(16)) + b"\0\0\0"
    [e] = rx.parse_extensions(0xBEDE, block)
    assert (e.id, len(e.data), e.value) == (5, 16, None)


def test_other_profile_is_one_element_without_id():
    [e] = rx.parse_extensions(0xABCD, b"\x01\x02\x03\x04")
    assert (e.id, e.form, e.offset, e.data, e.value) == (None, rx.FORM_OTHER, 0, b"\x01\x02\x03\x04", 0x01020304)


def test_element_bytes_builds_what_parse_reads():
    block = rx.element_bytes(rx.FORM_ONE_BYTE, [(1, b"\x01"), (14, b"abc")])
    assert block == bytes([0x10, 0x01, 0xE2]) + b"abc" + b"\0\0"
    assert rx.element_bytes(rx.FORM_TWO_BYTE, [(200, b"")]) == bytes([200, 0, 0, 0])
    with pytest.raises(DecodeError, match="does not fit the one-byte form"):
        rx.element_bytes(rx.FORM_ONE_BYTE, [(15, b"x")])
    with pytest.raises(DecodeError, match="does not fit the two-byte form"):
        rx.element_bytes(rx.FORM_TWO_BYTE, [(0, b"x")])


@pytest.mark.parametrize("profile, block, message", [
    (0xBEDE, bytes([0x13, 0x01, 0x02, 0x00]) [:3], "RTP extension element overruns the extension block"),
    (0x1000, bytes([0x00, 0x00, 0x00, 0x07]), "RTP extension element overruns the extension block"),
    (0x1000, bytes([0x07, 0x05, 0x01, 0x02]), "RTP extension element overruns the extension block"),
    (0xBEDE, b"\0" * 260, "RTP extension has more than 256 elements and padding bytes"),
])
def test_parse_extensions_error_messages(profile, block, message):
    with pytest.raises(DecodeError, match=message):
        rx.parse_extensions(profile, block)


def test_parse_packet_extensions_reads_the_block_of_a_whole_packet():
    pkt = rtp_packet(ext_profile=0xBEDE, ext=RFC_ONE_BYTE, csrcs=(1, 2))
    assert [e.id for e in rx.parse_packet_extensions(pkt)] == [1, 2, 3]
    assert rx.parse_packet_extensions(rtp_packet()) == []


@SETTINGS
@given(st.integers(0, 0xFFFF), st.binary(max_size=40))
def test_parse_extensions_of_arbitrary_bytes_gives_elements_or_decode_error(profile, block):
    try:
        elements = rx.parse_extensions(profile, block)
    except DecodeError:
        return
    for e in elements:
        assert block[e.offset : e.offset + len(e.data)] == e.data


# --- the vectorised decoder agrees with the parser -----------------------------------------------------------------


def _vector(packets, text_ids=()):
    src, off, cap, wire = byte_source(packets)
    return rx.decode_extensions(src, off, cap, wire, text_ids=text_ids), off


def test_decode_extensions_reads_every_field_of_crafted_packets():
    packets = [rtp_packet(ext_profile=0xBEDE, ext=RFC_ONE_BYTE), rtp_packet(),
               rtp_packet(ext_profile=0x1000, ext=RFC_TWO_BYTE, csrcs=(7,))]
    got, off = _vector(packets, text_ids=[2])
    assert got["packet"].tolist() == [0, 0, 0, 2, 2, 2]
    assert got["id"].tolist() == [1, 2, 3, 1, 2, 3]
    assert got["form"].tolist() == [1, 1, 1, 2, 2, 2]
    assert got["length"].tolist() == [1, 2, 4, 0, 1, 4]
    assert got["value"].tolist() == [0xAA, 0xBBCC, 0x01020304, 0, 0xDD, 0x0A0B0C0D]
    assert got["value_valid"].tolist() == [True, True, True, False, True, True]
    starts = [16, 16, 16, 16, 16, 16]  # the block starts after the 12-byte header and the 4-byte extension header
    starts[3:] = [20] * 3  # one CSRC
    assert (got["offset"] - off[got["packet"]]).tolist() == [s + o for s, o in zip(starts, [1, 3, 8, 2, 4, 8])]
    assert got["error"].tolist() == [rx.EXT_OK, rx.EXT_NONE, rx.EXT_OK]
    assert got["profile"].tolist() == [0xBEDE, -1, 0x1000]
    assert got["text_element"].tolist() == [1, 4] and got["text"].tolist() == [b"\xbb\xcc", b"\xdd"]


@pytest.mark.parametrize("packet, cut, code", [
    (rtp_packet()[:8], None, rx.EXT_NOT_RTP),
    (rtp_packet(ext_profile=0xBEDE, ext=b"\x10\x01\0\0", payload=b"")[:14], None, rx.EXT_HEADER_TRUNCATED),
    (rtp_packet(ext_profile=0xBEDE, ext=b"\x10\x01\0\0", payload=b"")[:18], None, rx.EXT_OVERRUN),
    (rtp_packet(ext_profile=0xBEDE, ext=b"\x10\x01\0\0", payload=b"x" * 8), 18, rx.EXT_SNAPLEN),
    (rtp_packet(ext_profile=0xBEDE, ext=b"\x10\x01\0\0", payload=b"x" * 8), 14, rx.EXT_SNAPLEN),
    (rtp_packet(ext_profile=0xBEDE, ext=b"\x10\x01\x13\x01", payload=b"x" * 8), None, rx.EXT_ELEMENT_OVERRUN),
    (rtp_packet(ext_profile=0xBEDE, ext=b"\0" * 260, payload=b""), None, rx.EXT_TOO_MANY),
])
def test_decode_extensions_flags_each_error(packet, cut, code):
    src, off, cap, wire = byte_source([packet])
    if cut is not None:
        cap = np.array([cut])
    got = rx.decode_extensions(src, off, cap, wire)
    assert got["error"].tolist() == [code]
    if code == rx.EXT_ELEMENT_OVERRUN:  # the element before the broken one is kept
        assert got["id"].tolist() == [1] and got["value"].tolist() == [1]


@st.composite
def extension_packets(draw):
    kind = draw(st.sampled_from(["one", "two", "other", "random", "cut"]))
    profile = {"one": 0xBEDE, "two": 0x1000 | draw(st.integers(0, 15)), "other": draw(st.integers(0, 0xFFFF)),
               "random": draw(st.sampled_from([0xBEDE, 0x1000])), "cut": 0xBEDE}[kind]
    if kind in ("one", "two"):
        form = rx.FORM_ONE_BYTE if kind == "one" else rx.FORM_TWO_BYTE
        parts = []
        for _ in range(draw(st.integers(0, 6))):
            if draw(st.booleans()) and draw(st.booleans()):
                parts.append(b"\0" * draw(st.integers(1, 3)))
            elif form == rx.FORM_ONE_BYTE:
                parts.append(rx.element_bytes(form, [(draw(st.integers(1, 14)), draw(st.binary(min_size=1,
                                                                                                max_size=16)))])
                             .rstrip(b"\0") or b"\0")
            else:
                parts.append(bytes([draw(st.integers(1, 255))]) + (lambda d: bytes([len(d)]) + d)(
                    draw(st.binary(max_size=20))))
        block = b"".join(parts)
        block += b"\0" * (-len(block) % 4)
    else:
        block = draw(st.binary(max_size=24).map(lambda b: b + b"\0" * (-len(b) % 4)))
    pkt = rtp_packet(ext_profile=profile, ext=block, csrcs=draw(st.lists(st.integers(0, 2**32 - 1), max_size=3)),
                     payload=draw(st.binary(max_size=10)))
    if kind == "cut":
        pkt = pkt[: draw(st.integers(0, len(pkt)))]
    return pkt


ERROR_OF_MESSAGE = {message: code for code, message in rx.EXT_ERROR_MESSAGES.items()}


@SETTINGS
@given(st.lists(extension_packets(), min_size=1, max_size=10), st.sets(st.integers(1, 255), max_size=3))
def test_decode_extensions_agrees_with_parse_extensions(packets, text_ids):
    got, off = _vector(packets, text_ids)
    texts = dict(zip(got["text_element"].tolist(), got["text"].tolist()))
    for i, pkt in enumerate(packets):
        sel = np.flatnonzero(got["packet"] == i)
        try:
            header = rtp.parse(pkt)
        except DecodeError as exc:
            assert len(sel) == 0
            if str(exc).startswith("RTP extension overruns"):
                assert got["error"][i] == rx.EXT_OVERRUN
            elif str(exc).startswith("RTP extension header"):
                assert got["error"][i] == rx.EXT_HEADER_TRUNCATED
            else:
                assert got["error"][i] == rx.EXT_NOT_RTP
            continue
        if header.extension_profile is None:
            assert got["error"][i] == rx.EXT_NONE and len(sel) == 0
            continue
        elements, error = rx._walk(header.extension_profile, header.extension)
        assert got["error"][i] == (rx.EXT_OK if error is None else ERROR_OF_MESSAGE[error]), pkt.hex()
        block_start = header.payload_offset - len(header.extension)
        assert [(-1 if e.id is None else e.id) for e in elements] == got["id"][sel].tolist()
        assert [e.form for e in elements] == got["form"][sel].tolist()
        assert [e.offset + block_start for e in elements] == (got["offset"][sel] - off[i]).tolist()
        assert [len(e.data) for e in elements] == got["length"][sel].tolist()
        assert [e.value or 0 for e in elements] == got["value"][sel].tolist()
        assert [e.value is not None for e in elements] == got["value_valid"][sel].tolist()
        for e, j in zip(elements, sel.tolist()):
            if e.id in text_ids and e.form != rx.FORM_OTHER:
                assert texts[j] == e.data.rstrip(b"\0")  # numpy bytes drop trailing NULs
            else:
                assert j not in texts


def test_decode_extensions_on_no_packets_gives_empty_arrays():
    src, _, _, _ = byte_source([b"\x80" * 12])
    empty = np.zeros(0, dtype=np.int64)
    got = rx.decode_extensions(src, empty, empty, empty, text_ids=[1])
    assert all(len(v) == 0 for v in got.values())


# --- names from the SDP ------------------------------------------------------------------------------------------


def test_extension_names_of_common_uris_and_of_unknown_ones():
    assert rx.extension_name("http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time") == "abs-send-time"
    assert rx.extension_name("urn:ietf:params:rtp-hdrext:sdes:mid") == "sdes:mid"
    assert rx.extension_name("http://example.com/ext/my-thing") == "my-thing"


def test_sdp_extmaps_maps_ssrcs_and_mids_and_leaves_conflicting_ids_out():
    from webrtcpcap import sdp

    text = ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
            "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:a\r\na=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
            "a=extmap:2 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=ssrc:11 cname:x\r\n"
            "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:v\r\na=extmap:1 urn:3gpp:video-orientation\r\n"
            "a=extmap:2 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=ssrc:22 cname:x\r\n")
    plan = rx.sdp_extmaps([sdp.parse(text)])
    assert plan.common == {2: "urn:ietf:params:rtp-hdrext:sdes:mid"}
    assert plan.by_ssrc[11][1] == "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
    assert plan.by_ssrc[22][1] == "urn:3gpp:video-orientation"
    assert plan.by_mid["v"][1] == "urn:3gpp:video-orientation"
    assert plan.text_ids() == {2}


# --- real captures: tshark and the SDP ------------------------------------------------------------------------------

WIRE = CAPTURES / "janus_echotest_loss5.pcap"  # Chromium <-> Janus: twcc, abs-send-time, mid, audio level, CVO...


def _real_packets(path, limit=400):
    import webrtcpcap

    cap = webrtcpcap.open(path)
    rows = cap.rtp[cap.rtp.error.isna() & cap.rtp.extension].head(limit)
    return cap, rows, [udp_payload(cap, f) for f in rows.frame.tolist()]


@pytest.mark.skipif(not tshark_available(), reason="tshark is not installed")
def test_decode_extensions_agrees_with_tshark_on_a_wire_capture():
    cap, rows, packets = _real_packets(WIRE)
    got, _ = _vector(packets)
    ports = sorted(set(rows.sport.tolist()) | set(rows.dport.tolist()))
    cmd = ["tshark", "-n", "-r", str(WIRE), "-Y", "rtp.ext.rfc5285.id", "-T", "fields", "-e", "frame.number",
           "-e", "rtp.ext.rfc5285.id", "-e", "rtp.ext.rfc5285.len", "-e", "rtp.ext.rfc5285.data",
           "-E", "separator=|", "-E", "aggregator=,"]
    for port in ports:
        cmd += ["-d", f"udp.port=={port},rtp"]
    theirs = {}
    for line in subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines():
        frame, ids, lens, datas = line.split("|")
        theirs[int(frame)] = ([int(x) for x in ids.split(",")], [int(x) for x in lens.split(",")], datas.split(","))
    assert len(rows) >= 300
    for i, frame in enumerate(rows.frame.tolist()):
        sel = got["packet"] == i
        ids, lens, datas = theirs[frame]
        assert got["id"][sel].tolist() == ids, frame
        assert got["length"][sel].tolist() == lens, frame
        values = [int(d, 16) if 1 <= n <= 8 else 0 for d, n in zip(datas, lens)]
        assert got["value"][sel].tolist() == values, frame
    assert got["error"].tolist() == [rx.EXT_OK] * len(rows)


def _sdp_extmap_by_ssrc(paths) -> dict[int, dict[int, str]]:
    """{SSRC: {id: URI}} read from SDP text with regular expressions (independent of webrtcpcap.sdp)."""
    out: dict[int, dict[int, str]] = {}
    for path in paths:
        for section in re.split(r"\r?\nm=", path.read_text())[1:]:
            extmap = {int(i): uri for i, uri in re.findall(r"a=extmap:(\d+)(?:/\S+)? (\S+)", section)}
            for ssrc in re.findall(r"a=ssrc:(\d+) ", section):
                out.setdefault(int(ssrc), extmap)
    return out


def _sdp_mid_by_ssrc(paths) -> dict[int, str]:
    out = {}
    for path in paths:
        for section in re.split(r"\r?\nm=", path.read_text())[1:]:
            mid = re.search(r"a=mid:(\S+)", section)
            for ssrc in re.findall(r"a=ssrc:(\d+) ", section):
                out.setdefault(int(ssrc), mid.group(1))
    return out


def _real_table(name, limit):
    import webrtcpcap
    from webrtcpcap.tables import media_tables

    sdps = [CAPTURES / f"{name}.offer.sdp", CAPTURES / f"{name}.answer.sdp"]
    cap, rows, packets = _real_packets(CAPTURES / f"{name}.pcap", limit=limit)
    plan = rx.sdp_extmaps([webrtcpcap.sdp.parse(p.read_text()) for p in sdps])
    got, _ = _vector(packets, text_ids=plan.text_ids())
    keys = {k: rows[k].to_numpy() if k not in ("src", "dst") else rows[k].array
            for k in ("frame", "t", "src", "dst", "sport", "dport")}
    table = media_tables.rtp_extensions_table(keys, rows.ssrc.to_numpy(), rows.seq.to_numpy(), got, plan)
    assert media_tables.tables.check_schema(table, media_tables.RTP_EXTENSIONS_SCHEMA) == []
    return sdps, table


@pytest.mark.parametrize("name", ["janus_echotest_loss5", "chromium_aiortc_loss5", "aiortc_clean"])
def test_extension_table_names_follow_the_capture_sdp(name):
    sdps, table = _real_table(name, 600)
    expected = _sdp_extmap_by_ssrc(sdps)
    known = table[table.ssrc.isin(list(expected))]
    assert len(known) > 300
    for ssrc, ident, uri in zip(known.ssrc, known["id"], known.uri.astype(object)):
        assert uri == expected[int(ssrc)].get(int(ident)), (ssrc, ident)
    assert {"sdes:mid", "ssrc-audio-level"} <= set(known.name.dropna())
    # The mid a packet carries is the a=mid of the section its SSRC is announced in.
    mids = _sdp_mid_by_ssrc(sdps)
    with_mid = known[known.name == "sdes:mid"]
    assert len(with_mid) and all(m == mids[int(s)] for s, m in zip(with_mid.ssrc, with_mid.mid.astype(str)))
    # Audio levels are 0..-127 dBov.
    levels = known.audio_level_dbov.dropna()
    assert len(levels) and levels.between(-127, 0).all()


def test_transport_wide_sequence_numbers_grow_by_one_per_packet_sent():
    _, table = _real_table("janus_echotest_loss5", 600)
    twcc = table[table.name == "transport-wide-cc"]
    assert len(twcc) > 200
    for _, g in twcc.groupby("src", observed=True):  # one counter per sender and transport (gaps: lost before b)
        steps = np.diff(g.twcc_seq.to_numpy(dtype=np.int64)) % 65536
        assert (steps >= 1).all() and (steps < 1000).all()


def test_abs_send_time_advances_like_the_capture_clock():
    _, table = _real_table("chromium_aiortc_loss5", 600)
    ast = table[table.name == "abs-send-time"]
    assert len(ast) > 100
    for _, g in ast.groupby("ssrc"):  # 6.18 fixed point, wraps every 64 s; within 50 ms of the arrival clock
        sent = np.unwrap(g.abs_send_time_s.to_numpy(dtype=float), period=64.0)
        arrived = g.t.to_numpy()
        assert np.abs((sent - sent[0]) - (arrived - arrived[0])).max() < 0.05


def test_every_prefix_of_a_block_gives_elements_or_decode_error():
    for n in range(len(RFC_ONE_BYTE) + 1):
        try:
            got = rx.parse_extensions(0xBEDE, RFC_ONE_BYTE[:n])
        except DecodeError:
            assert n in (1, 3, 4, 8, 9, 10, 11)  # cut inside an element
        else:
            assert [e.id for e in got] == [1, 2, 3][: {0: 0, 2: 1, 5: 2, 6: 2, 7: 2, 12: 3}[n]]


def test_concat_decoded_shifts_packet_and_text_indices():
    first = [rtp_packet(ext_profile=0xBEDE, ext=RFC_ONE_BYTE)]
    second = [rtp_packet(), rtp_packet(ext_profile=0x1000, ext=RFC_TWO_BYTE)]
    a, _ = _vector(first, text_ids=[2])
    b, _ = _vector(second, text_ids=[2])
    whole, _ = _vector(first + second, text_ids=[2])
    joined = rx.concat_decoded([(a, 1), (b, 2)])
    for k in ("packet", "id", "form", "length", "value", "value_valid", "error", "profile", "text_element", "text"):
        assert joined[k].tolist() == whole[k].tolist(), k
    assert all(len(v) == 0 for v in rx.concat_decoded([]).values())


# -- RFC 8285 §4.2 reserved IDs (issue 15) ---------------------------------------------------------------------------
# Padding is a whole zero byte (§4.1); ID 0 is reserved for it, so a byte with ID 0 and a length is neither padding
# nor an element.  A receiver stops there as it does at ID 15 (libwebrtc's RtpPacket::Parse does the same), keeps
# the elements before it, and here the block is flagged: a sender broke a MUST NOT.
ID0_BLOCK = bytes([0x10, 0x01, 0x03, 0x21, 0x22, 0x23, 0x24, 0x00, 0x21, 0x55, 0x00, 0x00])


def test_one_byte_id_0_with_a_length_is_no_element_and_stops_the_walk_with_an_error():
    elements, error = rx._walk(0xBEDE, ID0_BLOCK)
    assert [(e.id, e.data) for e in elements] == [(1, b"\x01")]
    assert error == rx.EXT_ERROR_MESSAGES[rx.EXT_RESERVED_ID]
    with pytest.raises(DecodeError, match="RTP extension element has ID 0"):
        rx.parse_extensions(0xBEDE, ID0_BLOCK)


def test_decode_extensions_keeps_the_elements_before_an_id_0_element_and_flags_the_packet():
    packet = rtp_packet(ext_profile=0xBEDE, ext=ID0_BLOCK, payload=b"x" * 4)
    got = rx.decode_extensions(*byte_source([packet]))
    assert got["id"].tolist() == [1] and got["error"].tolist() == [rx.EXT_RESERVED_ID]


def test_id_0_padding_bytes_and_id_15_are_no_error():
    block = bytes([0x00, 0x10, 0x01, 0x00, 0xF0, 0x21, 0x00, 0x00])
    packet = rtp_packet(ext_profile=0xBEDE, ext=block, payload=b"x" * 4)
    got = rx.decode_extensions(*byte_source([packet]))
    assert got["id"].tolist() == [1] and got["error"].tolist() == [rx.EXT_OK]
    assert [e.id for e in rx.parse_extensions(0xBEDE, block)] == [1]
