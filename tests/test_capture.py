"""The entry points open() and iter_chunks(): bad input, damaged files, chunked reading, random input."""

from __future__ import annotations

import gzip
import os
import random
import struct
import warnings

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

import webrtcpcap

from conftest import (A4, B4, epb, idb, open_quiet, rtcp_sdes, rtcp_sr, rtp_packet, shb, stun_call, stun_message,
                      udp4, write_pcap, write_pcapng)

# --- not a capture ------------------------------------------------------------------------------------------------


def test_text_file_is_a_capture_error_naming_the_file_and_its_first_bytes(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not a capture\n")
    with pytest.raises(webrtcpcap.CaptureError) as info:
        webrtcpcap.open(path, progress=False)
    message = str(info.value)
    assert str(path) in message
    assert "68 65 6c 6c 6f" in message  # the first bytes, "hello", in hex
    assert "text" in message


def test_zip_archive_is_named_as_such(tmp_path):
    path = tmp_path / "x.pcap"
    path.write_bytes(b"PK\x03\x04" + b"\0" * 40)
    with pytest.raises(webrtcpcap.CaptureError, match="zip archive"):
        webrtcpcap.open(path, progress=False)


def test_empty_file_is_a_capture_error_saying_it_is_empty(tmp_path):
    path = tmp_path / "empty.pcap"
    path.write_bytes(b"")
    with pytest.raises(webrtcpcap.CaptureError, match="empty") as info:
        webrtcpcap.open(path, progress=False)
    assert str(path) in str(info.value)


def test_missing_file_is_a_capture_error(tmp_path):
    with pytest.raises(webrtcpcap.CaptureError, match="cannot open"):
        webrtcpcap.open(tmp_path / "nope.pcap", progress=False)


def test_pcap_header_cut_short_is_a_capture_error(tmp_path):
    path = tmp_path / "short.pcap"
    path.write_bytes(struct.pack("<IHH", 0xA1B2C3D4, 2, 4))
    with pytest.raises(webrtcpcap.CaptureError, match="truncated"):
        webrtcpcap.open(path, progress=False)


def test_gzip_cut_short_is_a_capture_error_or_keeps_a_prefix_with_a_warning(tmp_path):
    frames = [udp4(rtp_packet(seq=i, payload=bytes(range(256)) * 2)) for i in range(200)]
    packed = write_pcap(tmp_path / "w.pcap.gz", frames, compress=True).read_bytes()
    path = tmp_path / "cut.pcap.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            cap = webrtcpcap.open(path, progress=False)
        except webrtcpcap.CaptureError as exc:
            assert str(path) in str(exc)
            return
    assert any(issubclass(w.category, webrtcpcap.CaptureWarning) for w in caught)
    assert 0 < len(cap) < len(frames)
    assert [cap.frame_bytes(i + 1) for i in range(len(cap))] == frames[: len(cap)]


# --- damaged part-way -----------------------------------------------------------------------------------------------

FRAMES = stun_call(n_rtp=6)


def _record_offsets(frames):
    offsets, pos = [], 24
    for f in frames:
        offsets.append(pos)
        pos += 16 + len(f)
    return offsets


@pytest.mark.parametrize("cut", [1, 10, 16, 17])
def test_file_cut_in_a_record_keeps_every_complete_frame_and_warns_where(cut, tmp_path):
    whole = write_pcap(tmp_path / "w.pcap", FRAMES).read_bytes()
    last = _record_offsets(FRAMES)[-1]
    path = tmp_path / "cut.pcap"
    path.write_bytes(whole[: last + cut])
    with pytest.warns(webrtcpcap.CaptureWarning, match=f"byte offset {last}") as record:
        cap = webrtcpcap.open(path, progress=False)
    assert str(path) in str(record[0].message)
    assert len(cap) == len(FRAMES) - 1
    assert cap.problem is not None
    assert list(cap.packets["caplen"]) == [len(f) for f in FRAMES[:-1]]
    assert list(cap.rtp["seq"]) == list(range(100, 105))


def test_record_with_an_absurd_length_stops_there_with_a_warning(tmp_path):
    data = bytearray(write_pcap(tmp_path / "w.pcap", FRAMES).read_bytes())
    bad = _record_offsets(FRAMES)[3]
    struct.pack_into("<I", data, bad + 8, 0x7FFFFFF0)
    path = tmp_path / "absurd.pcap"
    path.write_bytes(bytes(data))
    with pytest.warns(webrtcpcap.CaptureWarning, match=f"byte offset {bad}"):
        cap = webrtcpcap.open(path, progress=False)
    assert len(cap) == 3
    assert list(cap.packets["kind"].astype(str)) == ["stun", "stun", "rtp"]


def test_pcapng_block_with_an_absurd_length_stops_there_with_a_warning(tmp_path):
    blocks = [shb(), idb(1, tsresol=9)] + [epb(0, 10**18 + i, f) for i, f in enumerate(FRAMES)]
    data = bytearray(b"".join(blocks))
    bad = sum(len(b) for b in blocks[:5])
    struct.pack_into("<I", data, bad + 4, 0x7FFFFFF0)
    path = tmp_path / "absurd.pcapng"
    path.write_bytes(bytes(data))
    with pytest.warns(webrtcpcap.CaptureWarning, match=f"byte offset {bad}"):
        cap = webrtcpcap.open(path, progress=False)
    assert len(cap) == 3


def test_pcapng_cut_in_a_block_keeps_the_frames_before(tmp_path):
    blocks = [shb(), idb(1, tsresol=9)] + [epb(0, 10**18 + i, f) for i, f in enumerate(FRAMES)]
    data = b"".join(blocks)
    path = tmp_path / "cut.pcapng"
    path.write_bytes(data[:-5])
    with pytest.warns(webrtcpcap.CaptureWarning, match=f"byte offset {len(data) - len(blocks[-1])}"):
        cap = webrtcpcap.open(path, progress=False)
    assert len(cap) == len(FRAMES) - 1


def test_garbage_udp_payloads_are_other(tmp_path):
    rng = random.Random(7)
    frames = [udp4(bytes(rng.randrange(256) for _ in range(rng.randrange(0, 100))), sport=rng.choice([1, 2, 3]))
              for _ in range(100)]
    cap = open_quiet(write_pcap(tmp_path / "g.pcap", frames))
    assert set(cap.packets["kind"].astype(str)) == {"other"}
    assert len(cap.packets) == 100


def test_zero_length_frame_keeps_its_row(tmp_path):
    cap = open_quiet(write_pcap(tmp_path / "z.pcap", [b"", FRAMES[0]]))
    assert len(cap.packets) == 2
    assert cap.packets["error"].iloc[0] == "frame has no captured bytes"


# --- random input ---------------------------------------------------------------------------------------------------

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])


def _base_files(tmp_path):
    frames = stun_call(n_rtp=5) + [udp4(rtcp_sr() + rtcp_sdes())]
    pcap = write_pcap(tmp_path / "base.pcap", frames).read_bytes()
    pcapng = write_pcapng(tmp_path / "base.pcapng", [shb(), idb(1, tsresol=9)] + [
        epb(0, 10**18 + i, f) for i, f in enumerate(frames)]).read_bytes()
    return pcap, pcapng


def _open_everything(path, size: int):
    """open() and iter_chunks() on `path`: only the project's errors, every frame a row, no more frames than fit."""
    for reader in ("open", "chunks"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", webrtcpcap.CaptureWarning)
                if reader == "open":
                    cap = webrtcpcap.open(path, progress=False)
                    tables = [(cap.packets, cap.rtp, cap.rtcp, cap.flows)]
                    n = len(cap)
                else:
                    chunks = list(webrtcpcap.iter_chunks(path, packets=3, progress=False))
                    tables = [(c.packets, c.rtp, c.rtcp, c.flows) for c in chunks]
                    n = sum(len(c.packets) for c in chunks)
        except webrtcpcap.WebRTCPcapError:
            continue
        packets = pd.concat([t[0] for t in tables]) if tables else pd.DataFrame({"frame": []})
        assert len(packets) == n
        assert list(packets["frame"]) == list(range(1, n + 1))
        assert n <= max(size - 24, 0) // 16 + 1  # a record is at least 16 bytes (pcap) or 12 (pcapng, smaller)
        for _, rtp, rtcp, _ in tables:
            assert set(rtp["frame"]) <= set(packets["frame"])
            assert set(rtcp["frame"]) <= set(packets["frame"])


@FUZZ
@given(data=st.binary(max_size=300), header=st.sampled_from([b"", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4",
                                                            b"\x4d\x3c\xb2\xa1", b"\x0a\x0d\x0d\x0a",
                                                            b"\x1f\x8b"]))
def test_random_bytes_give_a_capture_or_a_project_error(tmp_path, data, header):
    path = tmp_path / "random.pcap"
    path.write_bytes(header + data)
    _open_everything(path, len(header + data))


@FUZZ
@given(which=st.sampled_from(["pcap", "pcapng"]), cut=st.integers(0, 2000),
       flips=st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=6), gz=st.booleans())
def test_mutated_or_truncated_captures_give_a_capture_or_a_project_error(tmp_path, which, cut, flips, gz):
    pcap, pcapng = _base_files(tmp_path)
    data = bytearray(pcap if which == "pcap" else pcapng)
    for pos, value in flips:
        if pos < len(data):
            data[pos] = value
    data = bytes(data[: max(len(data) - cut, 0)] if cut < len(data) else data)
    path = tmp_path / "mutated.pcap"
    path.write_bytes(gzip.compress(data) if gz else data)
    _open_everything(path, len(data))


# --- iter_chunks ----------------------------------------------------------------------------------------------------

KEYS = ["frame", "time", "t", "caplen", "len", "interface", "ip_version", "dscp", "ecn", "src", "dst", "sport",
        "dport", "transport", "kind", "payload_len", "evidence", "error"]
RTP_KEYS = ["frame", "t", "src", "dst", "sport", "dport", "ssrc", "pt", "seq", "ts", "marker", "payload_len"]


def _early_evidence_frames():
    frames = [udp4(stun_message(), sport=5000), udp4(stun_message(), sport=5002)]
    for i in range(30):
        frames.append(udp4(rtp_packet(ssrc=1, seq=i), sport=5000))
        frames.append(udp4(rtp_packet(ssrc=2, seq=1000 + i, pt=96), src=B4, dst=A4, sport=6000, dport=5002))
        if i % 7 == 0:
            frames.append(udp4(rtcp_sr(1) + rtcp_sdes(1), sport=5000))
            frames.append(udp4(b"\x12\x34" + b"\0" * 30, sport=53, dport=53))
    return frames


def _values(series):
    return [None if pd.isna(v) else v for v in series.astype(object)]


def _concat(chunks, attr, keys):
    return pd.concat([getattr(c, attr)[keys].astype({k: str for k in ("src", "dst") if k in keys})
                      for c in chunks], ignore_index=True)


def _write(tmp_path, fmt, frames, gz=False):
    if fmt == "pcap":
        return write_pcap(tmp_path / ("c.pcap.gz" if gz else "c.pcap"), frames, compress=gz)
    return write_pcapng(tmp_path / ("c.pcapng.gz" if gz else "c.pcapng"), [shb(), idb(1, tsresol=9)] + [
        epb(0, 10**18 + 1000 * i, f) for i, f in enumerate(frames)], compress=gz)


@pytest.mark.parametrize("k", [1, 4, 7, 1000])
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_iter_chunks_concatenated_equal_open(fmt, k, gz, tmp_path):
    path = _write(tmp_path, fmt, _early_evidence_frames(), gz)
    whole = open_quiet(path)
    chunks = list(webrtcpcap.iter_chunks(path, packets=k, progress=False))
    assert [len(c.packets) for c in chunks[:-1]] == [k] * (len(chunks) - 1)
    assert [c.first_frame for c in chunks] == [1 + k * i for i in range(len(chunks))]
    packets = _concat(chunks, "packets", KEYS)
    expect = whole.packets[KEYS].astype({"src": str, "dst": str})
    for col in KEYS:
        assert _values(packets[col]) == _values(expect[col]), col
    rtp = _concat(chunks, "rtp", RTP_KEYS)
    expect_rtp = whole.rtp[RTP_KEYS].astype({"src": str, "dst": str})
    for col in RTP_KEYS:
        assert _values(rtp[col]) == _values(expect_rtp[col]), col
    assert len(rtp) == 60
    rtcp = pd.concat([c.rtcp for c in chunks])
    assert list(rtcp["frame"]) == list(whole.rtcp["frame"])


BUILDERS = [("pipeline", "_rtp_table"), ("pipeline", "_rtcp_table"), ("pipeline", "_datagrams"),
            ("frame_tables", "flows_table"), ("frame_tables", "icmp_table"), ("frame_tables", "fragments_table"),
            ("frame_tables", "tcp_streams_table"), ("capture", "stun_tables")]


def _count_builders(monkeypatch) -> dict:
    """Calls of each table builder the chunks may run, counted by wrapping them where they are looked up."""
    from webrtcpcap import capture
    from webrtcpcap.tables import frame_tables, pipeline
    modules = {"pipeline": pipeline, "frame_tables": frame_tables, "capture": capture}
    calls = dict.fromkeys([name for _, name in BUILDERS], 0)
    for module, name in BUILDERS:
        original = getattr(modules[module], name)

        def counted(*args, _name=name, _original=original, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(modules[module], name, counted)
    return calls


def test_iter_chunks_builds_only_the_tables_it_is_asked_for(tmp_path, monkeypatch):
    with_username = udp4(stun_message(0x0001, b"\x07" * 12, struct.pack(">HH", 0x0006, 8) + b"abcd:efg"), sport=5000)
    path = _write(tmp_path, "pcap", _early_evidence_frames() + [with_username], False)
    every = list(webrtcpcap.iter_chunks(path, packets=7, progress=False))
    calls = _count_builders(monkeypatch)
    chunks = list(webrtcpcap.iter_chunks(path, packets=7, progress=False, tables=["rtp"]))
    assert calls == {**dict.fromkeys(calls, 0), "_rtp_table": len(chunks)}, calls
    for asked, full in zip(chunks, every):  # the same frames, kinds and RTP rows: the demux still saw everything
        pd.testing.assert_frame_equal(asked.packets, full.packets)
        pd.testing.assert_frame_equal(asked.rtp, full.rtp)
    with pytest.raises(webrtcpcap.capture.NotAsked, match="rtcp"):
        chunks[0].rtcp
    assert not hasattr(chunks[0], "stun")

    calls.update(dict.fromkeys(calls, 0))
    chunks = list(webrtcpcap.iter_chunks(path, packets=7, progress=False, tables=["stun_attributes"]))
    assert calls["_rtp_table"] == calls["_rtcp_table"] == calls["stun_tables"] == 0
    assert calls["_datagrams"] == len(chunks)  # the STUN datagrams only, not the DTLS or RTCP ones
    attributes = pd.concat([c.stun_attributes for c in chunks])
    assert calls["stun_tables"] == len(chunks)  # on first use, once per chunk
    pd.testing.assert_frame_equal(attributes, pd.concat([c.stun_attributes for c in every]))
    assert attributes["name"].astype(str).tolist() == ["USERNAME"]
    with pytest.raises(webrtcpcap.capture.NotAsked):
        chunks[0].stun  # asked for stun_attributes only


def test_iter_chunks_names_an_unknown_table(tmp_path):
    path = _write(tmp_path, "pcap", _early_evidence_frames(), False)
    with pytest.raises(ValueError, match="rtp_typo"):
        next(webrtcpcap.iter_chunks(path, progress=False, tables=["rtp_typo"]))


def _ending_in_unfinished_things():
    turn = stun_message(txid=b"T" * 12) + struct.pack(">HH", 0x4000, 12) + rtp_packet(ssrc=7)[:12]
    tcp_turn = bytes(Ether() / IP(src="10.0.0.3", dst="10.0.0.1") / TCP(sport=3478, dport=6000, flags="PA", seq=1)
                     / (turn + turn[:30]))  # TURN over TCP, cut 10 bytes into a message by the capture's end
    first_fragment = bytes(Ether() / IP(src=A4, dst=B4, id=77, flags="MF", frag=0) / UDP(sport=5000, dport=6000)
                           / (b"x" * 40))  # its other fragments never come
    return _early_evidence_frames() + [tcp_turn, first_fragment]


@pytest.mark.parametrize("k", [1, 5, 1000])
@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_the_last_chunk_ends_the_capture_like_open_does(fmt, k, tmp_path):
    path = _write(tmp_path, fmt, _ending_in_unfinished_things())
    whole = open_quiet(path)
    chunks = list(webrtcpcap.iter_chunks(path, packets=k, progress=False))
    errors = _concat(chunks, "packets", ["error"])["error"]
    assert _values(errors) == _values(whole.packets["error"])
    assert whole.packets["error"].iloc[-1] == "IP fragment: datagram never completed in this capture"
    last = chunks[-1].tcp_streams.astype({"src": str, "dst": str})
    expect = whole.tcp_streams.astype({"src": str, "dst": str})
    pd.testing.assert_frame_equal(last.reset_index(drop=True), expect.reset_index(drop=True))
    assert expect["problem"].tolist() == ["TCP stream ends inside a message (10 bytes left)"]


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_iter_chunks_warns_at_the_end_of_a_cut_file(fmt, tmp_path):
    whole = _write(tmp_path, fmt, FRAMES).read_bytes()
    path = tmp_path / "cut.pcap"
    path.write_bytes(whole[:-3])
    with pytest.warns(webrtcpcap.CaptureWarning, match="cut short"):
        chunks = list(webrtcpcap.iter_chunks(path, packets=2, progress=False))
    assert sum(len(c.packets) for c in chunks) == len(FRAMES) - 1


def test_iter_chunks_rejects_a_chunk_size_below_one(tmp_path):
    path = write_pcap(tmp_path / "c.pcap", FRAMES)
    with pytest.raises(ValueError):
        list(webrtcpcap.iter_chunks(path, packets=0, progress=False))


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_iter_chunks_on_a_gzip_file_larger_than_its_read_blocks(fmt, tmp_path):
    # Many frames of a few hundred bytes: the decompressed stream spans many reads, records straddle them.
    frames = [udp4(rtp_packet(ssrc=9, seq=i, payload=bytes([i % 256]) * (100 + i % 400))) for i in range(3000)]
    path = _write(tmp_path, fmt, frames, gz=True)
    chunks = webrtcpcap.iter_chunks(path, packets=500, progress=False)
    seqs, sizes = [], []
    for c in chunks:
        seqs += list(c.rtp["seq"])
        sizes += list(c.packets["caplen"])
    assert sizes == [len(f) for f in frames]
    assert seqs == list(range(3000))
    assert os.path.getsize(path) < sum(sizes)  # it really was compressed


def test_capture_repr_and_len(tmp_path):
    cap = open_quiet(write_pcap(tmp_path / "c.pcap", FRAMES))
    assert len(cap) == len(FRAMES)
    assert f"{len(FRAMES)} frames" in repr(cap)
    assert cap.problem is None


def test_a_notebook_shows_the_capture_as_a_small_escaped_table_without_decoding_it(tmp_path):
    path = write_pcap(tmp_path / "<i>call&x.pcap", [udp4(rtp_packet(seq=i)) for i in range(3)])
    cap = webrtcpcap.open(path, progress=False)
    view = cap._repr_html_()
    assert "&lt;i&gt;call&amp;x.pcap" in view and "<i>call" not in view
    assert "<td style='text-align:left'>3</td>" in view and "the capture alone" in view
    assert not cap._tables.built("decoded")  # drawing it decoded nothing
    kinds = cap.packets["kind"].astype(str).value_counts()
    assert f"frames per kind</th><td style='text-align:left'>{kinds.index[0]} 3</td>" in cap._repr_html_()
