"""Bulk RTP payload reading (webrtcpcap.net.payloads, Capture.rtp_payload.heads/payloads) against the per-frame reader
(Capture._payload_one, which decodes the frame again on its own) and against payloads built by hand."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from webrtcpcap.net import payloads
from webrtcpcap.io.errors import DecodeError

from conftest import CAPTURES, PUBLIC_CAPTURES, open_quiet, rtp_packet, udp4, write_pcap


def _one(cap, frame: int):
    try:
        return cap._payload_one(int(frame))
    except ValueError as e:
        return (type(e).__name__, str(e))


def _bulk(cap, frames) -> list:
    return [(type(p).__name__, str(p)) if isinstance(p, ValueError) else p
            for p in cap.rtp_payload.payloads(frames)]


def _sample(frames: np.ndarray, n: int = 120) -> np.ndarray:
    frames = np.unique(frames)
    return frames[:: max(len(frames) // n, 1)]


# Every way a packet reaches the rtp table: direct (plain dump, SRTP), relayed by TURN, framed out of TCP, in IP
# fragments (decrypted, so the reassembled packet is read), decrypted with the key log, and SRTP read without keys.
CASES = [
    (CAPTURES / "chromium_aiortc_loss5.rtpdump.pcap", {}),
    (CAPTURES / "janus_echotest_loss5.janus.pcap", {}),
    (CAPTURES / "turn_relay_static.pcap", {}),
    (CAPTURES / "aiortc_clean.pcap", {}),
    (CAPTURES / "aiortc_mtu576.pcap", {"keylog": CAPTURES / "aiortc_mtu576.keylog"}),
    (CAPTURES / "aiortc_loss5_rtp.pcap", {"keylog": CAPTURES / "aiortc_loss5_rtp.keylog"}),
    (PUBLIC_CAPTURES / "srtpdec_tcp_call_02_03_client.pcap", {}),
    (PUBLIC_CAPTURES / "ndpi_discord.pcap", {}),
]


@pytest.mark.parametrize("path, kw", CASES, ids=lambda c: getattr(c, "name", "keyed" if c else "plain"))
def test_bulk_payloads_equal_the_per_frame_reader(path, kw):
    if not path.exists():
        pytest.skip(f"{path} is not here")
    cap = open_quiet(path, **kw)
    frames = _sample(cap.rtp["frame"].to_numpy())
    frames = np.concatenate([frames, cap.rtp["frame"].to_numpy()[cap.rtp["error"].notna().to_numpy()][:20]])
    want = [_one(cap, f) for f in frames.tolist()]
    assert _bulk(cap, frames) == want
    heads = cap.rtp_payload.heads(frames, 5)
    for k, w in enumerate(want):
        if isinstance(w, tuple):
            assert heads.length[k] == -1 and (type(heads.error[k]).__name__, str(heads.error[k])) == w
        else:
            assert heads.length[k] == len(w) and heads.error[k] is None
            assert bytes(heads.head[k, : min(5, len(w))]) == w[:5] and not heads.head[k, len(w):].any()
    assert [cap.rtp_payload(int(f)) if not isinstance(w, tuple) else w for f, w in zip(frames.tolist(), want)] == want


def test_bulk_reads_a_reassembled_fragment_where_the_frame_alone_has_none():
    """aiortc_mtu576's large video packets arrive in IP fragments: the bulk reader gives the reassembled payload (the
    per-frame reader of the completing fragment alone has no whole UDP payload); decrypted, it is plaintext VP8."""
    cap = open_quiet(CAPTURES / "aiortc_mtu576.pcap", keylog=CAPTURES / "aiortc_mtu576.keylog")
    completing = cap.fragments["reassembled_in"].dropna().astype(int).unique()
    rtp = cap.rtp[cap.rtp["frame"].isin(completing) & cap.rtp["auth_ok"].fillna(False)]
    assert len(rtp) > 10
    got = cap.rtp_payload.payloads(rtp["frame"].to_numpy()[:10])
    assert all(isinstance(p, bytes) and len(p) > 500 for p in got)


def _padding_call(tmp_path):
    """RTP with padding: a good count, a count of 0, a count longer than the payload, a padding-only packet."""
    def padded(seq, body, count_byte, total_pad):
        pkt = bytearray(rtp_packet(ssrc=5, seq=seq, pt=96, payload=body + b"\x00" * (total_pad - 1)
                                   + bytes([count_byte])))
        pkt[0] |= 0x20
        return bytes(pkt)

    frames = [udp4(rtp_packet(ssrc=5, seq=1, pt=96, payload=b"\x10abc")),
              udp4(padded(2, b"\x10abc", 3, 3)),
              udp4(padded(3, b"\x10abc", 0, 3)),
              udp4(padded(4, b"\x10abc", 200, 3)),
              udp4(padded(5, b"", 4, 4))]
    return write_pcap(tmp_path / "pad.pcap", frames)


def test_padding_rules_and_their_errors(tmp_path):
    cap = open_quiet(_padding_call(tmp_path))
    got = cap.rtp_payload.payloads([1, 2, 3, 4, 5])
    assert got[0] == b"\x10abc" and got[1] == b"\x10abc" and got[4] == b""
    assert isinstance(got[2], DecodeError) and "padding count is 0" in str(got[2])
    assert isinstance(got[3], DecodeError) and "overruns" in str(got[3])
    empty = cap.payload_or_empty.heads([1, 2, 3, 4, 5], 2)
    assert empty.length.tolist() == [4, 4, 0, 0, 0] and set(cap.unreadable_payloads) == {3, 4}


def test_frames_that_are_not_rtp_rows_get_the_per_frame_answer(tmp_path):
    path = write_pcap(tmp_path / "x.pcap", [udp4(b"\x00\x01" + b"\x00" * 30), udp4(rtp_packet(payload=b"xy"))])
    cap = open_quiet(path)
    got = cap.rtp_payload.payloads([1, 2])
    assert isinstance(got[0], ValueError) and "is not RTP" in str(got[0]) and got[1] == b"xy"
    with pytest.raises(IndexError):
        cap.rtp_payload.heads([3], 4)


@pytest.mark.parametrize("width", [0, 1, 4, 16])
def test_gather_heads_near_the_end_of_the_buffer_and_past_each_length(width):
    rng = np.random.default_rng(1)
    buf = rng.integers(0, 256, 50, dtype=np.uint8)
    start = np.array([0, 10, 40, 45, 49, 50], dtype=np.int64)
    length = np.minimum(np.array([3, 20, 10, 5, 1, 0]), 50 - start)
    got = payloads.gather_heads(buf, start, length, width)
    for k, (s, n) in enumerate(zip(start.tolist(), length.tolist())):
        want = np.zeros(width, np.uint8)
        m = min(width, n)
        want[:m] = buf[s:s + m]
        assert got[k].tolist() == want.tolist()


def test_read_heads_through_a_plain_function_and_its_errors():
    data = {1: b"\x01\x02\x03", 2: b""}

    def payload(frame):
        if frame == 3:
            raise ValueError("frame 3 has no complete UDP payload")
        return data[frame]

    h = payloads.read_heads(payload, [1, 2, 3], 2)
    assert h.head.tolist() == [[1, 2], [0, 0], [0, 0]] and h.length.tolist() == [3, 0, -1]
    assert h.error[:2].tolist() == [None, None] and "frame 3" in str(h.error[2])
    assert struct.unpack(">H", bytes(h.head[0]))[0] == 0x0102
