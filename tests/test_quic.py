"""QUIC long headers (webrtcpcap.quic) and the `quic` kind: crafted RFC 9000 Initials, the vectorised evidence, and
a capture where a QUIC flow sits beside a WebRTC call."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webrtcpcap import DecodeError, quic

from conftest import A4, B4, byte_source, open_quiet, stun_call, udp4, write_pcap


def initial(version: int = quic.QUIC_V1, dcid: bytes = bytes(range(8)), scid: bytes = b"\x05\x06\x07\x08",
            size: int = 1200, first: int | None = None) -> bytes:
    """A client Initial padded to `size` bytes (RFC 9000 §14.1); the rest is opaque (it is encrypted)."""
    if first is None:
        first = 0xC3 if version != quic.QUIC_V2 else 0xD3  # long header, fixed bit, Initial, 4-byte packet number
    head = bytes(quic.LongHeader(first, version, dcid, scid))
    return head + b"\x00" + b"\x44\xd0" + bytes(max(0, size - len(head) - 3))


def test_long_header_reads_every_field_and_round_trips():
    data = initial()
    h = quic.parse_long_header(data)
    assert (h.first_byte, h.version, h.destination_connection_id, h.source_connection_id) == \
        (0xC3, 1, bytes(range(8)), b"\x05\x06\x07\x08")
    assert h.packet_type == "initial" and h.version_name == "QUIC v1"
    assert bytes(h) == data[:len(bytes(h))]
    v2 = quic.parse_long_header(initial(quic.QUIC_V2))
    assert v2.packet_type == "initial" and v2.version_name == "QUIC v2"
    assert quic.parse_long_header(initial(first=0xE3)).packet_type == "handshake"
    assert quic.version_name(0xFF00001D) == "draft-29" and quic.version_name(0x1A2A3A4A) == "reserved"


@pytest.mark.parametrize("data, message", [
    (b"\xc3\x00\x00", "QUIC long header is truncated"),
    (b"\x43" + bytes(10), "QUIC packet has a short header"),
    (b"\xc3\x00\x00\x00\x01\x15" + bytes(30), "destination connection id has length 21, more than 20"),
    (b"\xc3\x00\x00\x00\x01\x08" + bytes(3), "destination connection id is truncated"),
    (b"\xc3\x00\x00\x00\x01\x00\x04ab", "source connection id is truncated"),
])
def test_long_header_error_messages(data, message):
    with pytest.raises(DecodeError, match=message):
        quic.parse_long_header(data)


def test_every_prefix_of_a_long_header_gives_a_header_or_decode_error():
    data = initial()[:40]
    for n in range(len(data) + 1):
        try:
            quic.parse_long_header(data[:n])
        except DecodeError:
            continue


@given(st.binary(max_size=60))
@settings(max_examples=300, deadline=None)
def test_long_header_of_arbitrary_bytes_gives_a_header_or_decode_error(data):
    try:
        h = quic.parse_long_header(data)
    except DecodeError:
        return
    assert bytes(h) == data[:len(bytes(h))]


def test_initial_evidence_needs_a_known_version_a_client_size_and_the_initial_type():
    packets = [initial(), initial(quic.QUIC_V2), initial(size=600), initial(version=0x1A2A3A4A),
               initial(first=0xE3), initial(dcid=bytes(21)), b"\x43" + bytes(1300), initial(0xFF00001D)[:5]]
    src, off, cap, wire = byte_source(packets)
    wire[-1] = 1300  # a snapped Initial: the connection ids are not in the captured bytes
    assert quic.looks_like_initial(src, off, cap, wire).tolist() == [True, True, False, False, False, False, False,
                                                                     False]


def test_a_quic_flow_beside_a_call_is_kind_quic_and_the_call_stays_webrtc(tmp_path):
    frames = stun_call() + [udp4(initial(), sport=40000, dport=443),
                            udp4(initial(first=0xE3, size=300), src=B4, dst=A4, sport=443, dport=40000),
                            udp4(b"\x41" + bytes(60), src=B4, dst=A4, sport=443, dport=40000),
                            udp4(b"\x41" + bytes(60), sport=50000, dport=53)]  # not QUIC evidence: stays other
    path = write_pcap(tmp_path / "quic.pcap", frames)
    kinds = open_quiet(path).packets.kind.astype(str).tolist()
    call = len(stun_call())
    assert kinds[call:] == ["quic", "quic", "quic", "other"]
    assert "quic" not in kinds[:call] and "other" not in kinds[:call]
