"""Capture formats: classic pcap (µs/ns, both byte orders), pcapng (sections, interfaces, EPB/SPB/OPB, timestamp
resolution and offset), gzip; the time, caplen, len and interface columns come out exact."""

from __future__ import annotations

import struct
import subprocess
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

import webrtcpcap
from webrtcpcap.io import reader

from conftest import (A4, B4, T0_NS, assert_row, epb, idb, open_quiet, opb, row_of, shb, spb, tshark_available,
                      udp4, utc, write_pcap, write_pcapng)

FRAMES = [udp4(b"frame %d" % i, sport=1000 + i) for i in range(3)]
TIMES = [T0_NS, T0_NS + 1, T0_NS + 2_000_000_123]


@pytest.mark.parametrize("big_endian", [False, True], ids=["little-endian", "big-endian"])
@pytest.mark.parametrize("nanosecond", [False, True], ids=["us-magic", "ns-magic"])
def test_classic_pcap_times_lengths_and_ports_are_exact(nanosecond, big_endian, tmp_path):
    path = write_pcap(tmp_path / "c.pcap", FRAMES, times_ns=TIMES, nanosecond=nanosecond, big_endian=big_endian,
                      snaplen=4096)
    cap = open_quiet(path)
    assert cap.format == "pcap"
    assert len(cap) == 3
    want = TIMES if nanosecond else [t // 1000 * 1000 for t in TIMES]
    for i, frame in enumerate(FRAMES):
        assert_row(row_of(cap.packets, i + 1), {
            "frame": i + 1, "time": utc(want[i]), "t": (want[i] - want[0]) / 1e9, "caplen": len(frame),
            "len": len(frame), "interface": 0, "ip_version": 4, "src": A4, "dst": B4, "sport": 1000 + i,
            "dport": 6000, "payload_len": len(b"frame %d" % i)})
    assert_row(cap.interfaces.iloc[0], {"interface": 0, "linktype": 1, "snaplen": 4096, "name": None})
    assert len(cap.interfaces) == 1


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_gzip_compressed_capture_reads_like_the_plain_one(fmt, tmp_path):
    if fmt == "pcap":
        plain = write_pcap(tmp_path / "p.pcap", FRAMES, times_ns=TIMES, nanosecond=True)
        packed = write_pcap(tmp_path / "p.pcap.gz", FRAMES, times_ns=TIMES, nanosecond=True, compress=True)
    else:
        blocks = [shb(), idb(1, tsresol=9)] + [epb(0, t, f) for t, f in zip(TIMES, FRAMES)]
        plain = write_pcapng(tmp_path / "p.pcapng", blocks)
        packed = write_pcapng(tmp_path / "p.pcapng.gz", blocks, compress=True)
    a, b = open_quiet(plain), open_quiet(packed)
    assert len(b) == 3
    pd.testing.assert_frame_equal(a.packets, b.packets)
    assert list(b.packets["time"]) == [utc(t) for t in TIMES]


def test_pcapng_two_interfaces_of_different_link_types_and_resolutions(tmp_path):
    raw = [bytes(IP(src=B4, dst=A4) / UDP(sport=7000 + i, dport=8000) / b"raw") for i in range(2)]
    blocks = [shb(), idb(1, 65535, name="eth0"), idb(228, 1500, tsresol=9, name="tun0"),
              epb(0, TIMES[0] // 1000, FRAMES[0]), epb(1, TIMES[1], raw[0]),
              epb(0, TIMES[2] // 1000, FRAMES[1]), epb(1, TIMES[2] + 5, raw[1])]
    cap = open_quiet(write_pcapng(tmp_path / "two.pcapng", blocks))
    assert cap.format == "pcapng"
    want_t = [TIMES[0] // 1000 * 1000, TIMES[1], TIMES[2] // 1000 * 1000, TIMES[2] + 5]
    frames = [FRAMES[0], raw[0], FRAMES[1], raw[1]]
    for i in range(4):
        eth = i % 2 == 0
        assert_row(row_of(cap.packets, i + 1), {
            "time": utc(want_t[i]), "t": (want_t[i] - want_t[0]) / 1e9, "interface": 0 if eth else 1,
            "caplen": len(frames[i]), "len": len(frames[i]), "src": A4 if eth else B4, "dst": B4 if eth else A4,
            "sport": (1000 + i // 2) if eth else 7000 + i // 2, "transport": "udp", "error": None})
    assert cap.interfaces.to_dict("records") == [
        {"interface": 0, "linktype": 1, "snaplen": 65535, "name": "eth0"},
        {"interface": 1, "linktype": 228, "snaplen": 1500, "name": "tun0"}]


def test_pcapng_sections_of_both_byte_orders_number_interfaces_globally(tmp_path):
    raw = bytes(IP(src=B4, dst=A4) / UDP(sport=7000, dport=8000) / b"raw")
    blocks = [shb(), idb(1, tsresol=9), epb(0, TIMES[0], FRAMES[0]),
              shb(big_endian=True), idb(101, tsresol=9, big_endian=True), epb(0, TIMES[1], raw, big_endian=True),
              shb(), idb(1, tsresol=9), epb(0, TIMES[2], FRAMES[2])]
    cap = open_quiet(write_pcapng(tmp_path / "s.pcapng", blocks))
    assert len(cap) == 3
    assert list(cap.packets["interface"]) == [0, 1, 2]
    assert list(cap.packets["time"]) == [utc(t) for t in TIMES]
    assert list(cap.packets["src"].astype(str)) == [A4, B4, A4]
    assert list(cap.packets["sport"]) == [1000, 7000, 1002]
    assert list(cap.interfaces["linktype"]) == [1, 101, 1]


def test_pcapng_simple_and_obsolete_packet_blocks_are_frames(tmp_path):
    blocks = [shb(), idb(1, 0), spb(FRAMES[0]), opb(0, TIMES[1] // 1000, FRAMES[1]),
              epb(0, TIMES[2] // 1000, FRAMES[2])]
    cap = open_quiet(write_pcapng(tmp_path / "b.pcapng", blocks))
    assert len(cap) == 3
    assert list(cap.packets["caplen"]) == [len(f) for f in FRAMES]
    assert list(cap.packets["sport"]) == [1000, 1001, 1002]
    # An SPB has no timestamp; OPB and EPB have one, in the interface's resolution (µs by default).
    assert list(cap.packets["time"])[1:] == [utc(TIMES[1] // 1000 * 1000), utc(TIMES[2] // 1000 * 1000)]


def test_pcapng_simple_packet_block_is_cut_to_the_interface_snaplen(tmp_path):
    keep = 14 + 20 + 8 + 2  # Ethernet, IPv4, UDP and two payload bytes
    blocks = [shb(), idb(1, keep), spb(FRAMES[0][:keep], orig_len=len(FRAMES[0]))]
    cap = open_quiet(write_pcapng(tmp_path / "b.pcapng", blocks))
    assert_row(row_of(cap.packets, 1), {"caplen": keep, "len": len(FRAMES[0]), "error": "truncated by snaplen",
                                        "src": A4, "sport": 1000})


def test_pcapng_binary_resolution_and_time_offset(tmp_path):
    # if_tsresol 0x94: 2**-20 s per tick; if_tsoffset adds whole seconds.
    ticks = [(1000 << 20) + (1 << 19), (1001 << 20) + (1 << 18)]
    blocks = [shb(), idb(1, tsresol=0x80 | 20, tsoffset=1_600_000_000)] + [epb(0, t, f) for t, f in
                                                                           zip(ticks, FRAMES)]
    cap = open_quiet(write_pcapng(tmp_path / "r.pcapng", blocks))
    want = [(1_600_000_000 + 1000) * 10**9 + 500_000_000, (1_600_000_000 + 1001) * 10**9 + 250_000_000]
    assert list(cap.packets["time"]) == [utc(t) for t in want]


def test_pcapng_packet_with_an_undefined_interface_keeps_its_row(tmp_path):
    blocks = [shb(), idb(1, tsresol=9), epb(0, TIMES[0], FRAMES[0]), epb(5, TIMES[1], FRAMES[1])]
    cap = open_quiet(write_pcapng(tmp_path / "u.pcapng", blocks))
    assert len(cap.packets) == 2
    assert row_of(cap.packets, 2)["error"] == "pcapng packet names an undefined interface"


@pytest.mark.skipif(not tshark_available(), reason="tshark is not installed")
def test_pcapng_times_agree_with_tshark(tmp_path):
    raw = bytes(IP(src=B4, dst=A4) / UDP(sport=7000, dport=8000) / b"raw")
    blocks = [shb(), idb(1), idb(228, tsresol=9), epb(0, TIMES[0] // 1000, FRAMES[0]), epb(1, TIMES[1], raw),
              shb(big_endian=True), idb(1, tsresol=6, big_endian=True),
              epb(0, TIMES[2] // 1000, FRAMES[2], big_endian=True)]
    path = write_pcapng(tmp_path / "t.pcapng", blocks)
    out = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "frame.time_epoch", "-e",
                          "frame.interface_id"], capture_output=True, text=True, check=True).stdout.split("\n")
    rows = [line.split("\t") for line in out if line]
    cap = open_quiet(path)
    ours = [int(ts.value) for ts in cap.packets["time"]]
    theirs = [int(Decimal(t) * 10**9) for t, _ in rows]
    assert ours == theirs
    # tshark numbers interfaces per section; we number them across the file (0, 1, then 2 in the second section).
    assert [int(i) for _, i in rows] == [0, 1, 0]
    assert list(cap.packets["interface"]) == [0, 1, 2]


def test_header_only_pcap_is_an_empty_capture(tmp_path):
    cap = open_quiet(write_pcap(tmp_path / "e.pcap", []))
    assert len(cap) == 0 and len(cap.packets) == 0 and len(cap.rtp) == 0


def test_pcapng_without_packets_is_an_empty_capture(tmp_path):
    cap = open_quiet(write_pcapng(tmp_path / "e.pcapng", [shb(), idb(1)]))
    assert len(cap.packets) == 0


def test_frame_bytes_returns_the_captured_bytes(tmp_path):
    cap = open_quiet(write_pcap(tmp_path / "c.pcap", FRAMES))
    assert [cap.frame_bytes(i + 1) for i in range(3)] == FRAMES
    with pytest.raises(IndexError):
        cap.frame_bytes(4)


def test_open_accepts_a_path_object_and_a_string(tmp_path):
    path = write_pcap(tmp_path / "c.pcap", FRAMES)
    assert len(webrtcpcap.open(path, progress=False)) == len(webrtcpcap.open(str(path), progress=False)) == 3


def test_vlan_tagged_frames_are_decoded(tmp_path):
    from scapy.layers.l2 import Dot1Q

    frame = bytes(Ether() / Dot1Q(vlan=1611) / IP(src=A4, dst=B4) / UDP(sport=1, dport=2) / b"x")
    cap = open_quiet(write_pcap(tmp_path / "v.pcap", [frame]))
    assert_row(row_of(cap.packets, 1), {"src": A4, "dst": B4, "sport": 1, "dport": 2, "payload_len": 1})


def _varied_frames(n: int) -> list[bytes]:
    return [bytes(Ether() / IP(src=A4, dst=B4) / UDP(sport=1000 + i % 50, dport=2000) / (b"x" * (i * 7 % 300)))
            for i in range(n)]


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_every_frame_is_found_again_once_the_index_is_compacted(fmt, tmp_path):
    # After the tables are built the index keeps every 64th record start and walks the headers from there: each
    # frame must still come back byte for byte, including across pcapng sections of both byte orders and
    # non-packet blocks in the middle of a 64-record block.
    frames = _varied_frames(300)
    if fmt == "pcap":
        path = write_pcap(tmp_path / "many.pcap", frames)
    else:
        blocks = [shb(), idb(1, tsresol=9)]
        for i, f in enumerate(frames):
            big = 100 <= i < 170
            if i == 100:
                blocks += [shb(big_endian=True), idb(1, tsresol=9, big_endian=True)]
            if i == 170:
                blocks += [shb(), idb(1, tsresol=9)]
            if i == 230:
                blocks.append(idb(1, tsresol=6))  # a second interface of the last section, mid-block
            blocks.append(spb(f) if i % 11 == 0 and not big else epb(0, TIMES[0] + i, f, big_endian=big))
        path = write_pcapng(tmp_path / "many.pcapng", blocks)
    cap = open_quiet(path)
    before = [cap.frame_bytes(i) for i in (1, 64, 65, 128, 300)]
    assert len(cap.packets) == 300 and cap.packets["error"].isna().all()  # builds the tables: compacts the index
    assert cap._index.compacted
    assert [cap.frame_bytes(i + 1) for i in range(300)] == frames
    assert before == [frames[i - 1] for i in (1, 64, 65, 128, 300)]
    sample = [3, 63, 64, 99, 100, 170, 231, 299]  # scattered, as payload lookups ask
    batch = reader.make_batch(cap._data, cap._index, 0, 0, cap._state, 1, rows=sample)
    assert [batch.source.bytes_at(int(o), int(c)) for o, c in zip(batch.offset, batch.caplen)] == \
        [frames[i] for i in sample]
    with cap._index.expanded(cap._data, cap._state):  # every start again, for a bulk read
        assert not cap._index.compacted
        assert [cap.frame_bytes(i + 1) for i in range(300)] == frames
    assert cap._index.compacted


def test_released_parts_of_the_index_are_walked_again_and_kept_parts_read_directly(tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "_WALK_STEP", 128)  # parts of 128 records, so that 500 records make four
    frames = _varied_frames(500)
    data, index, state, _ = reader.read_all(write_pcap(tmp_path / "parts.pcap", frames))
    truth = index.positions(np.arange(500), data, state)
    assert [len(p) for p in index._parts] == [128, 128, 128, 116]
    index.release(300)  # parts 0 and 1 lie wholly before record 300; part 2 does not
    assert [p is None for p in index._parts] == [True, True, False, False] and not index.compacted
    assert index.positions(np.arange(500), data, state).tolist() == truth.tolist()
    mixed = np.array([499, 3, 255, 256, 130, 383, 384, 0])  # kept and released parts, in no order
    assert index.positions(mixed, data, state).tolist() == truth[mixed].tolist()
    with index.expanded(data, state):
        assert all(p is not None for p in index._parts)
        assert index.positions(np.arange(500), data, state).tolist() == truth.tolist()
    assert [p is None for p in index._parts] == [True, True, False, False]
    index.compact()
    assert index.compacted and index.positions(np.arange(500), data, state).tolist() == truth.tolist()


def test_the_lockstep_walk_finds_every_start_itself_and_leaves_only_non_packet_blocks_to_the_slow_walker(tmp_path):
    frames = _varied_frames(200)
    data, index, state, _ = reader.read_all(write_pcap(tmp_path / "w.pcap", frames))
    truth = index.positions(np.arange(200), data, state)  # not compacted yet: the walk's own starts
    index.compact()
    blocks = np.arange(4)
    counts = np.minimum(64, 200 - blocks * 64)
    walked, slow = reader._lockstep_walk(data, index._checkpoints, counts, np.ones(4, bool), pcap=True)
    assert not slow.any()
    assert [int(walked[b, k]) for b in blocks for k in range(counts[b])] == truth.tolist()

    blocks_ng = [shb(), idb(1, tsresol=9)] + [epb(0, TIMES[0] + i, f) for i, f in enumerate(frames[:100])]
    blocks_ng += [idb(1)] + [epb(0, TIMES[0] + i, f) for i, f in enumerate(frames[100:])]  # an IDB after record 99
    data, index, state, _ = reader.read_all(write_pcapng(tmp_path / "w.pcapng", blocks_ng))
    truth = index.positions(np.arange(200), data, state)
    index.compact()
    walked, slow = reader._lockstep_walk(data, index._checkpoints, counts, np.ones(4, bool), pcap=False)
    assert slow.tolist() == [False, True, False, False]  # records 64..127 have the IDB between two of them
    for b in (0, 2, 3):
        assert walked[b, :counts[b]].tolist() == truth[b * 64 : b * 64 + counts[b]].tolist()
    assert index.positions(np.arange(200), data, state).tolist() == truth.tolist()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["epb", "spb", "opb", "idb", "shb", "custom"]), st.integers(0, 300),
                          st.booleans()), min_size=65, max_size=400))
def test_compacted_index_finds_every_record_of_any_block_sequence(tmp_path_factory, blocks):
    # Any mix of packet and other blocks, in sections of either byte order, with more than one 64-record block:
    # after compaction every record is found where the first walk found it.
    out, big = [shb(), idb(1)], False
    for kind, size, flip in blocks:
        data = bytes(range(256)) * 2
        data = data[:size]
        if kind == "shb":
            big = flip
            out += [shb(big_endian=big), idb(1, big_endian=big)]
        elif kind == "idb":
            out.append(idb(1, big_endian=big))
        elif kind == "custom":  # a block type the reader skips (a custom block, RFC draft type 0x00000BAD)
            e = ">" if big else "<"
            body = data[: size % 40] + b"\0" * (-(size % 40) % 4)
            out.append(struct.pack(e + "II", 0xBAD, 12 + len(body)) + body + struct.pack(e + "I", 12 + len(body)))
        else:
            out.append({"epb": lambda: epb(0, size, data, big_endian=big), "spb": lambda: spb(data, big_endian=big),
                        "opb": lambda: opb(0, size, data, big_endian=big)}[kind]())
    path = write_pcapng(tmp_path_factory.mktemp("idx") / "any.pcapng", out)
    data, index, state, _ = reader.read_all(path)
    n = len(index)
    truth = index.positions(np.arange(n), data, state)
    index.compact()
    assert index.compacted
    assert index.positions(np.arange(n), data, state).tolist() == truth.tolist()
    picks = np.arange(n)[:: max(1, n // 17)][::-1].copy()  # scattered and descending
    assert index.positions(picks, data, state).tolist() == truth[picks].tolist()


# --- the compiled walk (io/_walk.c) and the Python walk give the same index ----------------------------------------


def _walk_facts(path, compiled, step=1 << 16):
    """Everything a walk decides about a file: every record start, the segments, the interfaces, the problem; and
    the same through iter_batches (small blocks, so that records straddle the buffers).  `compiled`: the compiled
    walk's module, or None for the Python walk."""
    saved = reader._compiled, reader._WALK_STEP
    reader._compiled, reader._WALK_STEP = compiled, step
    try:
        try:
            data, index, state, _ = reader.read_all(path)
        except webrtcpcap.CaptureError as exc:
            return [str(exc)]
        facts = [index.positions(np.arange(len(index)), data, state).tolist(), index.segments,
                 [(i.linktype, i.snaplen, i.ts_divisor, i.ts_binary_shift) for i in state.interfaces], state.problem]
        for data, index, state, first in reader.iter_batches(path, frames=5, block_bytes=200):
            facts.append((first, index.positions(np.arange(len(index)), data, state).tolist(), index.segments))
        facts.append(state.problem)
        return facts
    finally:
        reader._compiled, reader._WALK_STEP = saved


def _lying_captures(tmp_path) -> list:
    frames = _varied_frames(150)  # more than one 64-record piece
    plain = write_pcap(tmp_path / "plain.pcap", frames, snaplen=64).read_bytes()
    paths = []

    def keep(name, raw):
        paths.append(tmp_path / name)
        paths[-1].write_bytes(raw)

    keep("plain.pcap", plain)
    keep("big_endian.pcap", write_pcap(tmp_path / "be.pcap", frames, big_endian=True).read_bytes())
    keep("cut_last.pcap", plain[:-7])
    keep("cut_header.pcap", plain[:-(len(frames[-1]) + 9)])
    first = 24 + 16 + len(frames[0])  # the second record's header
    for name, caplen in (("caplen_zero", 0), ("caplen_past_end", len(plain)), ("caplen_absurd", 1 << 30),
                         ("caplen_over_snaplen", 1000)):
        raw = bytearray(plain)
        struct.pack_into("<I", raw, first + 8, caplen)
        keep(name + ".pcap", bytes(raw))
    blocks = [shb(), idb(1, tsresol=9)]
    for i, f in enumerate(frames):
        if i == 7:
            blocks.append(idb(1, tsresol=6))  # an interface block between packets
        if i == 13:
            blocks += [shb(big_endian=True), idb(1, big_endian=True)]  # a section of the other byte order
        if i == 20:
            blocks += [shb(), idb(1)]
        blocks.append(spb(f) if i % 5 == 0 else opb(0, i, f) if i % 7 == 0 else
                      epb(0, T0_NS + i, f, big_endian=13 <= i < 20))
        if i == 25:
            blocks.append(struct.pack("<II", 4, 16) + b"\0" * 4 + struct.pack("<I", 16))  # a name block: skipped
    ng = write_pcapng(tmp_path / "ng.pcapng", blocks).read_bytes()
    keep("plain.pcapng", ng)
    keep("cut.pcapng", ng[:-5])
    last_epb = ng.rindex(struct.pack("<I", 6))
    for name, blen in (("blen_odd", 30), ("blen_small", 8), ("blen_absurd", 1 << 30), ("blen_past_end", 1 << 20)):
        raw = bytearray(ng)
        struct.pack_into("<I", raw, last_epb + 4, blen)
        keep(name + ".pcapng", bytes(raw))
    return paths


NO_COMPILED_WALK = pytest.mark.skipif(reader._compiled is None,
                                      reason="the compiled walk is not built here (no C compiler at install)")


@NO_COMPILED_WALK
@pytest.mark.parametrize("step", [64, 1 << 16])
def test_the_compiled_walk_and_the_python_walk_index_every_capture_alike(step, tmp_path):
    compiled = reader._compiled
    for path in _lying_captures(tmp_path):
        assert _walk_facts(path, compiled, step) == _walk_facts(path, None, step), path.name


@NO_COMPILED_WALK
@settings(max_examples=50, deadline=None)
@given(st.integers(0, 15), st.lists(st.tuples(st.integers(0, 1 << 16), st.sampled_from(
    [0, 1, 3, 12, 16, 28, 100, 0xFFFF, 1 << 24, 0xFFFFFFFF, 0x0A0D0D0A, 1, 6])), max_size=4), st.integers(0, 64))
def test_the_compiled_walk_and_the_python_walk_agree_on_damaged_captures(tmp_path_factory, which, writes, cut):
    # Lengths, block types and byte-order magics overwritten anywhere (header fields among them), and the tail cut.
    tmp = tmp_path_factory.mktemp("damaged")
    base = _lying_captures(tmp)[which % 2 * 8]  # plain.pcap or plain.pcapng
    raw = bytearray(base.read_bytes())
    for at, value in writes:
        at %= len(raw) - 4
        raw[at : at + 4] = struct.pack("<I", value)
    path = tmp / ("damaged" + base.suffix)
    path.write_bytes(bytes(raw[: len(raw) - cut]))
    assert _walk_facts(path, reader._compiled) == _walk_facts(path, None)


@NO_COMPILED_WALK
def test_the_compiled_window_copy_equals_numpys(tmp_path, monkeypatch):
    from webrtcpcap.io import buffer
    most = 0
    for path in _lying_captures(tmp_path):
        data, index, state, _ = reader.read_all(path)
        records = index.positions(np.arange(len(index)), data, state)
        # Records whose window lies inside the file (the compiled copy), a non-contiguous descending slice of them,
        # and every record (the last ones' windows run past the end of the file: the zero-padded tail).
        inside = records[records + buffer.WINDOW <= len(data)]
        most = max(most, len(inside))
        for rows in (inside, inside[::-3], records):
            monkeypatch.setattr(buffer, "_compiled", reader._compiled)
            compiled = buffer.ByteSource(data, rows).window
            monkeypatch.setattr(buffer, "_compiled", None)
            assert compiled.tolist() == buffer.ByteSource(data, rows).window.tolist(), path.name
    assert most > 100  # the compiled copy did copy
