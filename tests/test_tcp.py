"""TCP stream reassembly and framing (webrtcpcap.net.tcp), and WebRTC over TCP end to end against tshark."""

import shutil
import struct
import subprocess
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

import webrtcpcap
from webrtcpcap.net import tcp

from conftest import open_quiet, write_pcap

PUBLIC = Path(__file__).parents[1].parent / "shared" / "public-captures"
COOKIE = 0x2112A442


def stun_message(tid: bytes, body: bytes = b"") -> bytes:
    return struct.pack(">HHI", 0x0001, len(body), COOKIE) + tid + body


def channel_data(channel: int, data: bytes, pad: bool = True) -> bytes:
    msg = struct.pack(">HH", channel, len(data)) + data
    return msg + b"\0" * (-len(msg) % 4 if pad else 0)


def rtp_packet(seq: int) -> bytes:
    return struct.pack(">BBHII", 0x80, 111, seq, 1000 * seq, 0x1234) + bytes(20)


def feed_all(stream, segments):
    out = []
    for row, seq, data in segments:
        out += stream.feed(row, seq, data)
    return out


def test_several_messages_in_one_segment_and_one_split_over_three():
    a, b, c = stun_message(b"A" * 12, bytes(8)), stun_message(b"B" * 12), channel_data(0x4001, b"\x80" + bytes(9))
    stream = b"".join([a, b, c])
    cut1, cut2 = len(a) + len(b) + 2, len(a) + len(b) + 7
    got = feed_all(tcp.Stream(), [(0, 1000, stream[:cut1]), (1, 1000 + cut1, stream[cut1:cut2]),
                                  (2, 1000 + cut2, stream[cut2:])])
    assert [(m.row, m.data) for m in got] == [(0, a), (0, b), (2, c[:4 + 10])]  # padding dropped


def test_rfc4571_framing_drops_the_length_prefix():
    msgs = [stun_message(b"C" * 12), rtp_packet(1), rtp_packet(2)]
    data = b"".join(struct.pack(">H", len(m)) + m for m in msgs)
    s = tcp.Stream()
    got = s.feed(5, 1, data)
    assert s.mode == "rfc4571" and [m.data for m in got] == msgs and {m.row for m in got} == {5}


def test_retransmissions_are_dropped_and_early_segments_wait_for_the_hole():
    a, b, c = stun_message(b"A" * 12), stun_message(b"B" * 12), stun_message(b"C" * 12)
    s = tcp.Stream()
    got = s.feed(0, 0xFFFFFFF0, a, syn=False)  # sequence numbers wrap inside this stream
    start = 0xFFFFFFF0
    got += s.feed(1, (start + 40) % 2**32, c)  # early: waits
    assert [m.data for m in got] == [a]
    got += s.feed(2, start, a)  # a retransmission of a
    assert s.retransmitted == 1
    got += s.feed(3, (start + 20) % 2**32, b)  # fills the hole: b, then c
    assert [(m.row, m.data) for m in got] == [(0, a), (3, b), (1, c)]  # c: the segment with its last byte
    s.finish()
    assert s.problem is None


def test_a_partly_retransmitted_segment_gives_only_its_new_bytes():
    a, b = stun_message(b"A" * 12), stun_message(b"B" * 12)
    s = tcp.Stream()
    got = s.feed(0, 100, (a + b)[:30]) + s.feed(1, 110, (a + b)[10:])
    assert [m.data for m in got] == [a, b]


def test_syn_fixes_the_first_sequence_number():
    a = stun_message(b"A" * 12)
    s = tcp.Stream()
    assert s.feed(0, 499, b"", syn=True) == []
    assert s.feed(1, 500, a)[0].data == a


def test_hole_that_never_fills_and_cut_segments_are_named():
    s = tcp.Stream()
    s.feed(0, 0, stun_message(b"A" * 12))
    s.feed(1, 40, stun_message(b"C" * 12))
    s.finish()
    assert "hole" in s.problem
    s = tcp.Stream()
    assert s.feed(0, 0, stun_message(b"A" * 12)[:10], complete=False) == []
    assert "snapshot length" in s.problem
    s = tcp.Stream()
    s.feed(0, 0, stun_message(b"A" * 12) + b"\x17\x03\x03\x00\x10")  # TLS after STUN: framing is lost
    assert "framing" in s.problem
    s = tcp.Stream()
    s.feed(0, 0, stun_message(b"A" * 12, bytes(8))[:25])
    s.finish()
    assert "ends inside a message" in s.problem


def test_streams_that_do_not_start_with_stun_or_channel_data_are_left_alone():
    s = tcp.Stream()
    assert s.feed(0, 0, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == []
    assert s.mode is None and "not framed" in s.problem
    assert s.feed(1, 27, stun_message(b"A" * 12)) == []


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**32 - 1), st.binary(max_size=80)), max_size=12))
def test_random_segments_give_messages_or_a_problem_never_an_exception(segments):
    s = tcp.Stream()
    for row, (seq, data) in enumerate(segments):
        for m in s.feed(row, seq, data):
            assert m.row == row and isinstance(m.data, bytes)
    s.finish()
    assert len(s.pending) <= tcp.MAX_PENDING_SEGMENTS and len(s.buffer) <= tcp.MAX_BUFFER


# -- end to end, against tshark's TCP reassembly --------------------------------------------------------------

TCP_FILES = ["ndpi_stun_tcp_multiple_msgs_same_pkt.pcap", "ndpi_stun_dtls_rtp.pcapng",
             "srtpdec_tcp_call_02_03_client.pcap", "ndpi_stun.pcap"]


def _need(name):
    path = PUBLIC / name
    if not path.exists():
        pytest.skip(f"{path} is not here (public captures live beside the project)")
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    return path


def tshark_fields(path, display_filter, *fields):
    out = subprocess.run(["tshark", "-r", str(path), "--enable-heuristic", "rtp_stun", "-Y", display_filter,
                          "-T", "fields", "-E", "separator=|", *[x for f in fields for x in ("-e", f)]],
                         capture_output=True, text=True, check=True).stdout
    return [line.split("|") for line in out.splitlines()]


@pytest.mark.parametrize("name", TCP_FILES)
def test_stun_over_tcp_matches_tshark_frame_by_frame(name):
    path = _need(name)
    want = Counter()
    for frame, ids in tshark_fields(path, "stun && tcp && !icmp", "frame.number", "stun.id"):
        for tid in filter(None, ids.split(",")):
            want[(int(frame), tid.lower().removeprefix("0x"))] += 1
    assert want, "tshark sees no STUN over TCP here: the test would prove nothing"
    s = webrtcpcap.open(path, progress=False).stun
    s = s[(s.transport == "tcp") & ~s.relayed]  # tshark's STUN rows are the outer messages
    assert s.error.isna().all()
    assert Counter(zip(s.frame.astype(int), s.transaction_id)) == want


def test_rtp_in_channel_data_over_tcp_matches_tshark():
    path = _need("srtpdec_tcp_call_02_03_client.pcap")
    want = Counter()
    for frame, ssrcs, seqs in tshark_fields(path, "rtp && tcp", "frame.number", "rtp.ssrc", "rtp.seq"):
        for ssrc, seq in zip(ssrcs.split(","), seqs.split(",")):
            want[(int(frame), int(ssrc, 16), int(seq))] += 1
    assert sum(want.values()) > 3000
    cap = webrtcpcap.open(path, progress=False)
    rtp = cap.rtp[cap.rtp.relayed]
    assert rtp.relay.astype(str).str.match(r"^(channel 0x4[0-9a-f]{3}|send|data)$").all()
    assert (rtp.relay.astype(str).str.startswith("channel")).mean() > 0.9
    assert Counter(zip(rtp.frame.astype(int), rtp.ssrc.astype(int), rtp.seq.astype(int))) == want
    kinds = cap.packets.set_index("frame").kind
    assert (kinds[rtp.frame.unique()].isin(["turn-channel", "stun"])).all()


@pytest.mark.parametrize("packets", [97, 1000])
def test_chunks_continue_tcp_streams_of_earlier_chunks(packets):
    path = _need("srtpdec_tcp_call_02_03_client.pcap")
    whole = webrtcpcap.open(path, progress=False)
    chunks = list(webrtcpcap.iter_chunks(path, packets=packets, progress=False))
    # A message whose last byte came in a segment ahead of a hole that filled only in a later chunk belongs to the
    # filling segment there (the earlier chunk's tables are gone); every message is still there exactly once.
    got = [x for c in chunks for x in zip(c.rtp.frame, c.rtp.ssrc, c.rtp.seq)]
    want = list(zip(whole.rtp.frame, whole.rtp.ssrc, whole.rtp.seq))
    assert Counter((s, q) for _, s, q in got) == Counter((s, q) for _, s, q in want)
    frame_of = {(s, q): f for f, s, q in want}
    moved = [(f, frame_of[(s, q)]) for f, s, q in got if f != frame_of[(s, q)]]
    assert all(f > f_whole for f, f_whole in moved)
    assert len(moved) < len(got) // 20 if packets == 97 else not moved
    got = [x for c in chunks for x in zip(c.stun.transaction_id, c.stun.relayed)]
    assert Counter(got) == Counter(zip(whole.stun.transaction_id, whole.stun.relayed))


@pytest.mark.parametrize("name", ["srtpdec_tcp_call_02_03_client.pcap", "ndpi_stun.pcap"])
def test_frames_carrying_channel_data_equal_tshark_stun_channel_frames(name):
    path = _need(name)
    want = {int(row[0]) for row in tshark_fields(path, "stun.channel", "frame.number")}
    assert want
    cap = webrtcpcap.open(path, progress=False)
    got = set()
    for table in (cap.rtp, cap.rtcp, cap.stun, cap.dtls_records):
        relayed = table[table.relayed & table.relay.astype(str).str.startswith("channel")]
        got |= set(relayed.frame.astype(int))
    assert got == want


def _tcp_frame(src, sport, dst, dport, seq, payload, flags="PA"):
    return bytes(Ether() / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags=flags, seq=seq) / payload)


def test_tcp_streams_table_says_how_each_direction_was_framed_and_where_it_stopped(tmp_path):
    a, b, c = "10.0.0.1", "10.0.0.2", "10.0.0.3"
    framed = [struct.pack(">H", 20) + stun_message(bytes([i]) * 12) for i in range(3)]  # RFC 4571 (ICE-TCP)
    turn = stun_message(b"T" * 12) + channel_data(0x4000, rtp_packet(1))
    frames = [
        _tcp_frame(a, 5000, b, 443, 100, framed[0] + framed[1][:10]),  # frame 1: one message and a half
        _tcp_frame(a, 5000, b, 443, 100, framed[0]),                    # frame 2: a retransmission
        _tcp_frame(a, 5000, b, 443, 132, framed[1][10:] + framed[2]),   # frame 3: completes two
        _tcp_frame(b, 443, a, 5000, 7, b"GET / HTTP/1.1\r\n\r\n"),        # frame 4: not WebRTC
        _tcp_frame(c, 3478, a, 6000, 1, turn + turn[:30]),              # frame 5: TURN, cut off by the capture's end
    ]
    cap = open_quiet(write_pcap(tmp_path / "tcp.pcap", frames))
    got = {(str(r.src), r.sport): r for r in cap.tcp_streams.itertuples()}
    assert len(got) == 3
    ice = got[(a, 5000)]
    assert (ice.framing, ice.segments, ice.bytes, ice.messages, ice.retransmitted, ice.first_frame, ice.last_frame) \
        == ("rfc4571", 3, 3 * 22, 3, 1, 1, 3) and pd.isna(ice.problem)
    http = got[(b, 443)]
    assert pd.isna(http.framing) and http.messages == 0 and "not framed" in http.problem
    relay = got[(c, 3478)]
    # STUN + ChannelData, then the capture ends 10 bytes into a second ChannelData message (after its STUN)
    assert relay.framing == "turn" and relay.messages == 3 and relay.first_frame == relay.last_frame == 5
    assert relay.problem == "TCP stream ends inside a message (10 bytes left)" and relay.problem_frame == 5
    assert pd.isna(ice.problem_frame) and http.problem_frame == 4
    # every frame is still in the packets table: the table says why some were not read as messages
    assert len(cap.packets) == 5


def test_stream_counters_and_a_stream_too_short_to_tell():
    s = tcp.Stream()
    s.feed(0, 0, stun_message(b"A" * 12))
    s.feed(1, 0, stun_message(b"A" * 12))  # again: retransmitted
    assert (s.segments, s.delivered, s.messages, s.retransmitted) == (2, 20, 1, 1)
    short = tcp.Stream()
    short.feed(0, 0, b"\x00\x01\x00")
    short.finish()
    assert short.problem == "TCP stream ends before its framing could be told (3 bytes)"


def test_a_stream_given_frame_numbers_keeps_its_first_last_and_problem_frames():
    s = tcp.Stream()
    s.feed(0, 0, stun_message(b"A" * 12), frame=11)
    s.feed(1, 0, b"", syn=False, frame=12)  # no data: not a frame of the stream's
    s.feed(2, 20, stun_message(b"B" * 12) + b"\x17\x03\x03\x00\x10", frame=13)  # framing lost here
    s.feed(3, 45, stun_message(b"C" * 12), frame=14)  # after the problem: counted, not read
    assert (s.first_frame, s.last_frame, s.problem_frame, s.segments) == (11, 14, 13, 3)
    cut = tcp.Stream()
    cut.feed(0, 0, stun_message(b"A" * 12, bytes(8))[:25], frame=5)
    cut.feed(1, 25, b"\x00", frame=6)
    assert cut.problem is None
    cut.finish()  # the capture's end names the cut message, at the stream's last frame
    assert "ends inside a message" in cut.problem and cut.problem_frame == 6
