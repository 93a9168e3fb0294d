"""`python -m webrtcpcap summary FILE`: frames per kind and RTP streams; a one-line error on unreadable files."""

from __future__ import annotations

import re
import struct
import subprocess
import sys

import pytest

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

import webrtcpcap
from webrtcpcap.tables.summary import summarize

from conftest import CAPTURES, A4, B4, env_without_pythonwarnings, rtcp_sdes, rtcp_sr, rtp_packet, stun_message, udp4, write_pcap


def _run(*args):
    return subprocess.run([sys.executable, "-m", "webrtcpcap", *map(str, args)], capture_output=True, text=True,
                          timeout=120, env=env_without_pythonwarnings())


def _tcp(src, sport, dst, dport, seq, payload):
    return bytes(Ether() / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags="PA", seq=seq) / payload)


def _crafted(tmp_path):
    frames = [udp4(stun_message()), udp4(stun_message(0x0101), src=B4, dst=A4, sport=6000, dport=5000)]
    frames += [udp4(rtp_packet(ssrc=0xA1B2C3D4, seq=i, pt=111)) for i in range(10)]
    frames += [udp4(rtp_packet(ssrc=0x00000BEE, seq=50 + i, pt=96), src=B4, dst=A4, sport=6000, dport=5000)
               for i in range(6)]
    frames += [udp4(rtcp_sr(0xA1B2C3D4) + rtcp_sdes(0xA1B2C3D4))]
    frames += [udp4(b"\x00\x01\x01\x00" + b"\0" * 20, sport=33333, dport=53) for _ in range(3)]
    return write_pcap(tmp_path / "call.pcap", frames)


@pytest.mark.parametrize("chunked", [False, True], ids=["whole", "chunked"])
def test_summary_prints_frames_per_kind_and_rtp_streams(chunked, tmp_path):
    path = _crafted(tmp_path)
    proc = _run("summary", path, *(["--chunked"] if chunked else []))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"{path}: 22 frames" in out
    counts = dict(re.findall(r"^\s+(stun|rtp|rtcp|other)\s+(\d+)\s*$", out, flags=re.M))
    assert counts == {"stun": "2", "rtp": "16", "rtcp": "1", "other": "3"}
    # SSRCs as the tables write them (decimal: also SDP a=ssrc lines and getStats)
    stream_lines = [line.split() for line in out.splitlines() if re.match(r"^\s+\d+\.\d+\.\d+\.\d+:\d+\s", line)]
    streams = {(s[0], s[1], s[2], int(s[3]), int(s[4])) for s in stream_lines}
    assert streams == {(f"{A4}:5000", f"{B4}:6000", str(0xA1B2C3D4), 111, 10),
                       (f"{B4}:6000", f"{A4}:5000", str(0x00000BEE), 96, 6)}


def test_summary_names_the_rtx_stream_and_gives_it_no_jitter():
    # The demo capture (SRTP, no keys, no SDP): RFC 4588 RTX keeps the original timestamps, so an RTX stream's
    # interarrival "jitter" is its repair delay (over 100 s here); the summary names the stream it repairs instead.
    proc = _run("summary", CAPTURES / "chromium_aiortc_loss5.pcap")
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[2]: line.split() for line in proc.stdout.splitlines() if line.startswith("  10.")}
    rtx, media = str(0x4066BBC3), str(0x6686BBBD)
    assert rows[rtx][6] == "-" and rows[rtx][-3:] == ["rtx", "of", media]
    assert float(rows[media][6]) < 10 and "rtx" not in rows[media]


def test_summary_of_a_missing_file_exits_non_zero_with_one_line_on_stderr(tmp_path):
    proc = _run("summary", tmp_path / "missing.pcap")
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "missing.pcap" in proc.stderr and "Traceback" not in proc.stderr


def test_summary_of_a_non_capture_exits_non_zero_with_one_line_on_stderr(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a capture at all\n")
    proc = _run("summary", path)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "notes.txt" in lines[0] and "not a pcap" in lines[0]
    assert proc.stdout == ""


def test_summary_of_a_cut_file_warns_and_still_summarises(tmp_path):
    path = _crafted(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:-5])
    proc = _run("summary", path)
    assert proc.returncode == 0
    assert "21 frames" in proc.stdout and "warning:" in proc.stdout and "cut short" in proc.stdout


def test_summary_webrtc_option_forces_a_flow(tmp_path):
    path = write_pcap(tmp_path / "one.pcap", [udp4(rtp_packet(ssrc=0x1234, pt=0))])
    proc = _run("summary", path, "--webrtc", "6000")
    assert proc.returncode == 0, proc.stderr
    assert f" {0x1234} " in proc.stdout


def test_bad_webrtc_option_is_a_one_line_error(tmp_path):
    path = write_pcap(tmp_path / "one.pcap", [udp4(rtp_packet())])
    proc = _run("summary", path, "--webrtc", "nonsense")
    assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1


def test_anonymize_subcommand_writes_a_copy_and_refuses_to_overwrite_its_input(tmp_path):
    from webrtcpcap import cli

    src = CAPTURES / "aiortc_clean.pcap"
    out = tmp_path / "shared.pcap"
    assert cli.main(["anonymize", str(src), str(out), "--seed", "x"]) == 0
    assert len(webrtcpcap.open(out, progress=False)) == len(webrtcpcap.open(src, progress=False))
    assert b"\x0a\x63\x00\x01" not in out.read_bytes()  # 10.99.0.1, a's address, in network order
    assert cli.main(["anonymize", str(out), str(out)]) == 2


LOST_FRAMING = b"\x17\x03\x03\x00\x10"  # a TLS record header where the next STUN or ChannelData message belongs


@pytest.mark.parametrize("chunked", [False, True], ids=["whole", "chunked"])
def test_summary_lists_the_webrtc_tcp_streams_whose_framing_stopped_and_not_other_tcp(chunked, tmp_path):
    stun = stun_message(txid=b"T" * 12)
    turn = stun + struct.pack(">HH", 0x4000, 12) + rtp_packet(ssrc=7)[:12]
    framed = struct.pack(">H", 20) + stun_message(txid=b"I" * 12)  # RFC 4571 (ICE-TCP), whole
    frames = [
        _tcp("10.0.0.3", 3478, "10.0.0.1", 6000, 1, stun),  # TURN over TCP ...
        _tcp("10.0.0.3", 3478, "10.0.0.1", 6000, 21, stun + LOST_FRAMING),  # ... until its framing is lost
        _tcp("10.0.0.1", 5000, "10.0.0.2", 443, 100, framed),  # ICE-TCP, fine
        _tcp("10.0.0.2", 443, "10.0.0.1", 5000, 7, b"GET / HTTP/1.1\r\n\r\n"),  # not WebRTC: not a problem here
        _tcp("10.0.0.4", 3478, "10.0.0.1", 6001, 1, turn + turn[:30]),  # TURN, cut inside a message at the end
    ]
    path = write_pcap(tmp_path / "tcp.pcap", frames)
    proc = _run("summary", path, *(["--chunked"] if chunked else []))
    assert proc.returncode == 0, proc.stderr
    want = ["  10.0.0.3:3478 > 10.0.0.1:6000  turn  frame 2: "
            "TCP stream framing (turn) lost: unexpected bytes 0x17030300"]
    # Read in chunks too, the last chunk is decoded as the end of the capture, so the cut stream is named.
    want.append("  10.0.0.4:3478 > 10.0.0.1:6001  turn  frame 5: TCP stream ends inside a message (10 bytes left)")
    section = proc.stdout.split(f"TCP streams whose WebRTC framing stopped ({len(want)})\n", 1)[1].splitlines()
    assert section[: len(want)] == want
    assert "HTTP" not in proc.stdout and "443 >" not in proc.stdout


def test_summarize_takes_the_tcp_streams_of_the_last_chunk(tmp_path):
    stun = stun_message(txid=b"T" * 12)
    frames = [_tcp("10.0.0.3", 3478, "10.0.0.1", 6000, 1 + 20 * i, stun) for i in range(3)]
    frames.append(_tcp("10.0.0.3", 3478, "10.0.0.1", 6000, 61, stun + LOST_FRAMING))
    frames.append(_tcp("10.0.0.1", 6000, "10.0.0.3", 3478, 1, stun))
    path = write_pcap(tmp_path / "tcp.pcap", frames)
    chunks = list(webrtcpcap.iter_chunks(path, packets=2, progress=False))
    assert len(chunks) == 3
    s = summarize((c.packets, c.rtp, c.tcp_streams) for c in chunks)
    assert s.frames == 5 and s.tcp_problems[["framing", "problem_frame"]].values.tolist() == [["turn", 4]]
    assert summarize((c.packets, c.rtp) for c in chunks).tcp_problems.empty  # without tcp_streams: none known
