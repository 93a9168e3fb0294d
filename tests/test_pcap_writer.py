"""webrtcpcap.io.pcap_writer: what it writes reads back through webrtcpcap.io.reader exactly (times, lengths, bytes,
interfaces), in both formats and byte orders; what a record cannot hold is clamped."""

import io

import numpy as np
import pytest

from webrtcpcap.io import reader
from webrtcpcap.io.pcap_writer import MAX_SNAPLEN, PcapWriter

FRAMES = [b"\x01" * 60, b"\x02" * 61, b"\x03" * 1514, b""]
TIMES_NS = [1_700_000_000_123_456_789, 1_700_000_001_000_000_001, 1_700_000_002_999_999_999, 1_700_000_003_000_000_000]


def _read_back(tmp_path, blob: bytes):
    path = tmp_path / "w.cap"
    path.write_bytes(blob)
    data, index, state, _owner = reader.read_all(path)
    batch = reader.make_batch(data, index, 0, len(index), state, 1)
    frames = [batch.source.bytes_at(int(o), int(c)) for o, c in zip(batch.offset, batch.caplen)]
    return state, batch, frames


@pytest.mark.parametrize("fmt, ns, big_endian", [("pcap", False, False), ("pcap", True, False), ("pcap", True, True),
                                                 ("pcapng", True, False), ("pcapng", True, True)])
def test_records_read_back_exactly(tmp_path, fmt, ns, big_endian):
    out = io.BytesIO()
    w = PcapWriter(out, fmt, [(1, MAX_SNAPLEN), (101, 4096)], ns=ns, comment="hello" if fmt == "pcapng" else None,
                   big_endian=big_endian)
    for i, (frame, t) in enumerate(zip(FRAMES, TIMES_NS)):
        w.write(frame, t, length=len(frame) + 4 * i, interface=i % 2)
    assert w.count == len(FRAMES)
    state, batch, frames = _read_back(tmp_path, out.getvalue())
    assert frames == FRAMES
    assert batch.length.tolist() == [len(f) + 4 * i for i, f in enumerate(FRAMES)]
    expected = TIMES_NS if ns else [t // 1000 * 1000 for t in TIMES_NS]
    assert batch.ts_ns.tolist() == expected
    if fmt == "pcapng":
        assert [(i.linktype, i.snaplen) for i in state.interfaces] == [(1, MAX_SNAPLEN), (101, 4096)]
        assert batch.interface.tolist() == [0, 1, 0, 1]
    else:
        assert [(i.linktype, i.snaplen) for i in state.interfaces] == [(1, MAX_SNAPLEN)]


def test_what_a_record_cannot_hold_is_clamped(tmp_path):
    out = io.BytesIO()
    w = PcapWriter(out, "pcap", ns=True)
    w.write(b"\x05" * 10, -5, length=3)  # before 1970, and a wire length below the bytes kept
    w.write(b"\x06" * 10, 1 << 70)  # past the last second a 32-bit count holds
    _, batch, _ = _read_back(tmp_path, out.getvalue())
    assert batch.length.tolist() == [10, 10]
    assert batch.ts_ns.tolist() == [0, ((1 << 32) - 1) * 1_000_000_000 + 999_999_999]


def test_an_interface_beyond_the_files_is_written_as_the_first(tmp_path):
    out = io.BytesIO()
    PcapWriter(out, "pcapng", [(1, 0)]).write(b"\x07" * 8, 0, interface=3)
    _, batch, _ = _read_back(tmp_path, out.getvalue())
    assert batch.interface.tolist() == [0]


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="pcap or pcapng"):
        PcapWriter(io.BytesIO(), "erf")


def test_classic_pcap_bytes_as_the_format_spells_them():
    # Independent of webrtcpcap.io.reader (whose tests read files this writer makes): the bytes of a one-record file.
    out = io.BytesIO()
    PcapWriter(out, "pcap", [(1, 65535)]).write(b"\xaa\xbb", 1_700_000_000_123_456_789, length=60)
    assert out.getvalue() == bytes.fromhex(
        "d4c3b2a1" "0200" "0400" "00000000" "00000000" "ffff0000" "01000000"  # magic (µs), 2.4, zone, sigfigs, snaplen, link
        "00f15365" "40e20100" "02000000" "3c000000" "aabb")  # 1700000000 s, 123456 µs, caplen 2, wire length 60


def test_pcapng_bytes_as_the_format_spells_them():
    out = io.BytesIO()
    PcapWriter(out, "pcapng", [(1, 0)], comment="hi").write(b"\xaa", (1 << 32) + 5)
    shb = ("0a0d0d0a" "28000000" "4d3c2b1a" "0100" "0000" "ffffffffffffffff"  # type, length 40, BOM, 1.0, no length
           "0100" "0200" "68690000" "0000" "0000" "28000000")  # opt_comment "hi", opt_endofopt, length again
    idb = "01000000" "20000000" "0100" "0000" "00000000" "0900" "0100" "09000000" "0000" "0000" "20000000"
    epb = "06000000" "24000000" "00000000" "01000000" "05000000" "01000000" "01000000" "aa000000" "24000000"
    assert out.getvalue().hex() == shb + idb + epb
