"""The frames table (issue 20, item 1): video frames assembled from RTP headers.

Strategy: crafted calls (a STUN exchange, then RTP of a 90 kHz video SSRC and sometimes an audio SSRC) written to a
pcap with known arrival times, opened with webrtcpcap and assembled; every expected value comes from how the
packets were built (which were dropped, reordered, repeated), never from the library. One end-to-end check on a
recorded session compares with the receiving browser's own framesReceived.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from conftest import CAPTURES, T0_NS, open_quiet, rtp_packet, stun_message, udp4, write_pcap

from webrtcpcap.analysis import nack
from webrtcpcap.tables.frames import FRAMES_SCHEMA, frames
from webrtcpcap.tables.streams import extend_seq

VIDEO, AUDIO, RTX = 0x0A0B0C0D, 0x01020304, 0x0E0E0E0E
STEP = 6000  # 90 kHz at 15 fps


def call(tmp_path, packets, name="call.pcap"):
    """A STUN exchange, then `packets`: dicts of rtp_packet arguments plus `at` (ms after the STUN, arrival)."""
    frames_ = [udp4(stun_message(0x0001)), udp4(stun_message(0x0101), "10.0.0.2", "10.0.0.1", 6000, 5000)]
    times = [T0_NS, T0_NS + 1_000_000]
    for p in packets:
        p = dict(p)
        at = p.pop("at")
        p.setdefault("ssrc", VIDEO)
        p.setdefault("pt", 96)
        frames_.append(udp4(rtp_packet(**p)))
        times.append(T0_NS + 10_000_000 + int(at * 1_000_000))
    return open_quiet(write_pcap(tmp_path / name, frames_, times_ns=times, nanosecond=True))


def video(n_frames, per_frame=3, seq0=100, ts0=90_000, ms=66, payload=b"\x90" * 100, skip=(), extra=()):
    """`n_frames` frames of `per_frame` packets each, one frame every `ms` ms, marker on each frame's last packet;
    `skip`: (frame, packet) pairs not sent."""
    out = []
    seq = seq0
    for f in range(n_frames):
        for k in range(per_frame):
            if (f, k) not in skip:
                out.append(dict(seq=seq & 0xFFFF, ts=(ts0 + f * STEP) & 0xFFFFFFFF, marker=k == per_frame - 1,
                                payload=payload, at=f * ms + k))
            seq += 1
    return sorted(out + list(extra), key=lambda p: p["at"])


def table(cap, **kw):
    return frames(cap.rtp, ssrcs=[VIDEO], **kw)


def test_clean_frames_have_their_packets_bytes_and_intervals(tmp_path):
    f = table(call(tmp_path, video(3)))
    assert list(f.columns) == list(FRAMES_SCHEMA)
    assert {c: str(d) for c, d in f.dtypes.items()} == FRAMES_SCHEMA
    assert f["ts"].tolist() == [90_000, 96_000, 102_000]
    assert f["first_seq"].tolist() == [100, 103, 106] and f["last_seq"].tolist() == [102, 105, 108]
    assert f["packets"].tolist() == [3, 3, 3] and f["bytes"].tolist() == [300, 300, 300]
    assert f["missing"].tolist() == [0, 0, 0] and f["marker"].tolist() == [True, True, True]
    # The first frame's start cannot be judged (nothing before it); the others follow a frame that ended.
    assert f["complete"].tolist() == [pd.NA, True, True]
    assert f["first_t"].tolist() == pytest.approx([0.010, 0.076, 0.142], abs=1e-9)
    assert f["last_t"].tolist() == pytest.approx([0.012, 0.078, 0.144], abs=1e-9)
    assert f["interval"].iloc[1:].tolist() == pytest.approx([0.066, 0.066], abs=1e-9)
    assert np.isnan(f["interval"].iloc[0])
    assert f["frame"].tolist() == [3, 6, 9]  # after the two STUN frames
    assert f["keyframe"].isna().all()


def test_a_lost_packet_inside_a_frame_makes_it_incomplete(tmp_path):
    f = table(call(tmp_path, video(3, skip={(1, 1)})))
    assert f["packets"].tolist() == [3, 2, 3]
    assert f["missing"].tolist() == [0, 1, 0]
    assert f["complete"].tolist() == [pd.NA, False, True]


def test_a_lost_marker_packet_leaves_the_frame_incomplete_and_the_next_unjudged(tmp_path):
    f = table(call(tmp_path, video(3, skip={(1, 2)})))
    assert f["marker"].tolist() == [True, False, True]
    assert f["complete"].tolist() == [pd.NA, False, pd.NA]
    # The lost number lies between frame 1's last packet and frame 2's first: whose it was, headers cannot say.
    assert f["missing_before"].tolist() == [0, 0, 1]


def test_a_frame_lost_whole_shows_as_missing_before_the_next(tmp_path):
    f = table(call(tmp_path, video(4, skip={(1, 0), (1, 1), (1, 2)})))
    assert f["ts"].tolist() == [90_000, 102_000, 108_000]
    assert f["missing_before"].tolist() == [0, 3, 0]
    assert f["complete"].tolist() == [pd.NA, pd.NA, True]
    assert f["interval"].iloc[1] == pytest.approx(0.132, abs=1e-9)  # two frame times without a new frame


def test_reordered_packets_assemble_the_same_frames(tmp_path):
    packets = video(3)
    # Frame 1's packets arrive last-first, and frame 2's first packet overtakes frame 1's last.
    f1 = [p for p in packets if p["ts"] == 96_000]
    f1[0]["at"], f1[2]["at"] = f1[2]["at"] + 0.5, f1[0]["at"]
    f2 = [p for p in packets if p["ts"] == 102_000]
    f2[0]["at"] = f1[0]["at"] - 0.2
    f = table(call(tmp_path, sorted(packets, key=lambda p: p["at"])))
    assert f["ts"].tolist() == [90_000, 96_000, 102_000]
    assert f["packets"].tolist() == [3, 3, 3] and f["missing"].tolist() == [0, 0, 0]
    assert f["complete"].tolist() == [pd.NA, True, True]
    assert f["first_seq"].tolist() == [100, 103, 106] and f["last_seq"].tolist() == [102, 105, 108]
    assert f["first_t"].iloc[1] == pytest.approx(0.076, abs=1e-9)
    assert f["last_t"].iloc[1] == pytest.approx(0.0785, abs=1e-9)


def test_sequence_numbers_wrap_inside_a_frame(tmp_path):
    f = table(call(tmp_path, video(3, seq0=65533)))
    assert f["first_seq"].tolist() == [65533, 0, 3]
    assert f["last_seq"].tolist() == [65535, 2, 5]
    f2 = table(call(tmp_path, video(3, seq0=65534), name="wrap2.pcap"))
    assert f2["first_seq"].tolist() == [65534, 1, 4] and f2["last_seq"].tolist() == [0, 3, 6]
    assert (f2["last_seq_ext"] - f2["first_seq_ext"]).tolist() == [2, 2, 2]
    assert f2["missing"].tolist() == [0, 0, 0]
    assert f2["complete"].tolist() == [pd.NA, True, True]


def test_timestamps_wrap_and_frames_stay_in_order(tmp_path):
    f = table(call(tmp_path, video(3, ts0=2**32 - STEP - 10)))
    assert f["ts"].tolist() == [2**32 - STEP - 10, 2**32 - 10, STEP - 10]
    assert np.diff(f["ts_ext"]).tolist() == [STEP, STEP]
    assert f["interval"].iloc[1:].tolist() == pytest.approx([0.066, 0.066], abs=1e-9)
    assert f["complete"].tolist() == [pd.NA, True, True]


def test_duplicates_fec_after_the_marker_and_padding_are_not_media(tmp_path):
    extra = [
        dict(seq=104, ts=96_000, marker=False, payload=b"\x90" * 100, at=100),  # frame 1's middle packet again
        dict(seq=109, ts=102_000, marker=False, payload=b"\x77" * 40, at=135),  # after frame 2's marker: FEC in RED
        dict(seq=110, ts=102_000, marker=False, payload=b"", padding=200, at=136),  # a padding-only probe
    ]
    packets = video(3, extra=extra)
    packets += [dict(seq=111 + k, ts=108_000, marker=k == 2, payload=b"\x90" * 100, at=198 + k) for k in range(3)]
    f = table(call(tmp_path, packets))
    assert f["duplicates"].tolist() == [0, 1, 0, 0]
    assert f["trailing"].tolist() == [0, 0, 1, 0]
    assert f["padding"].tolist() == [0, 0, 1, 0]
    assert f["packets"].tolist() == [3, 3, 3, 3] and f["bytes"].tolist() == [300, 300, 300, 300]
    assert f["last_seq"].tolist() == [102, 105, 109, 113]  # the FEC packet is the highest number of its timestamp
    assert f["complete"].tolist() == [pd.NA, True, True, True]
    assert f["missing"].tolist() == [0, 0, 0, 0] and f["missing_before"].tolist() == [0, 0, 0, 0]


def rtx_table(cap):
    pairs = pd.DataFrame({"rtx_ssrc": [RTX], "media_ssrc": [VIDEO]})
    return nack.rtx_osns(cap.rtp, pairs, cap.rtp_payload)


def test_a_retransmission_repairs_the_frame_at_its_arrival(tmp_path):
    extra = [
        # RFC 4588: the OSN (104, frame 1's lost middle packet) leads the payload; same timestamp as the original.
        dict(ssrc=RTX, pt=97, seq=500, ts=96_000, payload=bytes([0, 104]) + b"\x90" * 100, at=110),
        # A retransmission of a packet that did arrive (frame 2's first, 106) changes nothing.
        dict(ssrc=RTX, pt=97, seq=501, ts=102_000, payload=bytes([0, 106]) + b"\x90" * 100, at=150),
    ]
    cap = call(tmp_path, video(3, skip={(1, 1)}, extra=extra))
    bare = table(cap)
    assert bare["missing"].tolist() == [0, 1, 0] and bare["repaired"].tolist() == [0, 0, 0]
    f = table(cap, rtx=rtx_table(cap))
    assert f["packets"].tolist() == [3, 3, 3] and f["bytes"].tolist() == [300, 300, 300]
    assert f["repaired"].tolist() == [0, 1, 0]
    assert f["missing"].tolist() == [0, 0, 0] and f["duplicates"].tolist() == [0, 0, 0]
    assert f["complete"].tolist() == [pd.NA, True, True]
    assert f["last_t"].iloc[1] == pytest.approx(0.120, abs=1e-9)  # whole when the retransmission arrived
    assert f["last_t"].iloc[2] == pytest.approx(0.144, abs=1e-9)


def test_only_the_given_ssrcs_and_one_row_per_stream_frame(tmp_path):
    audio = [dict(ssrc=AUDIO, pt=111, seq=7 + i, ts=960 * i, marker=i == 0, at=20 * i + 0.5) for i in range(8)]
    cap = call(tmp_path, sorted(video(2) + audio, key=lambda p: p["at"]))
    assert len(frames(cap.rtp, ssrcs=[VIDEO])) == 2
    everything = frames(cap.rtp)
    assert sorted(everything["ssrc"].unique().tolist()) == sorted([VIDEO, AUDIO])
    assert (everything["ssrc"] == AUDIO).sum() == 8
    assert everything["src"].astype(str).eq("10.0.0.1").all() and everything["dport"].eq(6000).all()


def test_keyframe_verdicts_come_from_the_keyframes_table(tmp_path):
    cap = call(tmp_path, video(3))
    verdicts = pd.DataFrame({"ssrc": np.array([VIDEO] * 3, dtype=np.uint32), "ts": np.array([90_000, 90_000, 96_000],
                                                                                           dtype=np.uint32),
                             "keyframe": pd.array([True, pd.NA, False], dtype="boolean"),
                             "codec": pd.Categorical(["VP8", "red", "VP8"])})
    f = table(cap, keyframes=verdicts)
    assert f["keyframe"].tolist() == [True, False, pd.NA]
    assert f["codec"].tolist()[:2] == ["VP8", "VP8"]  # the "red" row names no codec (FEC, nothing judged)
    assert pd.isna(f["codec"].iloc[2])
    assert table(cap)["codec"].isna().all()


def test_no_video_gives_an_empty_table_with_the_schema(tmp_path):
    cap = call(tmp_path, video(2))
    f = frames(cap.rtp, ssrcs=[0xDEAD])
    assert len(f) == 0
    assert list(f.columns) == list(FRAMES_SCHEMA)
    assert {c: str(d) for c, d in f.dtypes.items()} == FRAMES_SCHEMA


def test_recorded_freeze_session_against_chromium_s_frames_received():
    """captures/bwe/freeze.pcap at b (Chromium): a's video lost 2 s to an outage. Without the RTX stream the table
    holds the frames whose media packets arrived; Firefox resent the 30 lost one-packet frames on RTX, which
    Chromium counted, so framesReceived = frames here + 30 (within 3 %); the frame that spans the outage is the one
    interval of about 2 s."""
    name = "freeze"
    meta = json.loads((CAPTURES / "bwe" / f"{name}.meta.json").read_text())
    video_ssrc = meta["ssrcs"]["b"]["received"]["video"]["ssrc"]
    received = next(r for r in meta["ground_truth"]["b"]["rtp"] if r["type"] == "inbound-rtp" and r["kind"] == "video")
    cap = open_quiet(CAPTURES / "bwe" / f"{name}.pcap")
    f = frames(cap.rtp, ssrcs=[video_ssrc])
    assert len(f) + 30 == pytest.approx(received["framesReceived"], rel=0.03)
    assert f["missing"].sum() == 0 and f["missing_before"].sum() == 30
    start, end = meta["timeline"]["outage"]["capture_s"]
    long = f[f["interval"] > 0.5]
    assert len(long) == 1
    assert long["interval"].iloc[0] == pytest.approx(end - start, abs=0.25)
    assert start < long["last_t"].iloc[0] < end + 0.3


def test_recorded_freeze_session_with_keys_counts_the_frames_firefox_resent():
    """With Firefox's key log the 30 RTX packets after the outage open: each is a whole one-packet frame lost in the
    outage, so the table then holds as many frames as Chromium received (within 3 %)."""
    base = CAPTURES / "bwe" / "freeze"
    meta = json.loads(base.with_suffix(".meta.json").read_text())
    video = meta["ssrcs"]["b"]["received"]["video"]
    received = next(r for r in meta["ground_truth"]["b"]["rtp"] if r["type"] == "inbound-rtp" and r["kind"] == "video")
    cap = open_quiet(base.with_suffix(".pcap"), keylog=base.with_suffix(".keylog"))
    pairs = pd.DataFrame({"rtx_ssrc": [video["rtx_ssrc"]], "media_ssrc": [video["ssrc"]]})
    f = frames(cap.rtp, ssrcs=[video["ssrc"]], rtx=nack.rtx_osns(cap.rtp, pairs, cap.rtp_payload))
    assert f["repaired"].sum() == 30
    assert len(f) == pytest.approx(received["framesReceived"], rel=0.03)
    assert f["missing_before"].sum() == 0


def test_capture_frames_holds_the_video_streams_only():
    base = CAPTURES / "bwe" / "healthy"
    meta = json.loads(base.with_suffix(".meta.json").read_text())
    cap = open_quiet(base.with_suffix(".pcap"), sdp=[base.with_suffix(".offer.sdp"), base.with_suffix(".answer.sdp")],
                     keylog=base.with_suffix(".keylog"))
    f = cap.frames
    assert f is cap.frames  # computed once
    videos = {meta["ssrcs"][n]["sent"]["video"]["ssrc"] for n in ("a", "b")}
    assert set(f["ssrc"].unique().tolist()) == videos
    for node in ("a", "b"):  # each end's video as b's capture holds it, against what the other end received
        ssrc = meta["ssrcs"][node]["sent"]["video"]["ssrc"]
        other = "b" if node == "a" else "a"
        received = next(r for r in meta["ground_truth"][other]["rtp"] if r["type"] == "inbound-rtp"
                        and r["kind"] == "video")
        assert (f["ssrc"] == ssrc).sum() == pytest.approx(received["framesReceived"], rel=0.03)
    # With the key log the VP8 inside RED is read: each stream starts with a keyframe.
    assert f.groupby("ssrc")["keyframe"].first().tolist() == [True, True]
    assert set(f["codec"].astype(str)) == {"VP8"}


rtp_rows = st.lists(st.tuples(st.integers(0, 65535), st.sampled_from([0, 3000, 6000, 2**32 - 3000]), st.booleans(),
                              st.booleans(), st.integers(0, 1200)), max_size=60)


@settings(max_examples=100, deadline=None)
@given(rtp_rows)
def test_any_packet_mix_assembles_without_error_and_keeps_the_counts(rows):
    """Arbitrary sequence numbers, timestamps, markers and padding flags (in arrival order): the table is built,
    every distinct (extended: `extend_seq`, the one wrap helper) sequence number that is not padding lands in
    exactly one frame (`packets` + `trailing`), and the invariants of the columns hold."""
    rtp = pd.DataFrame({
        "frame": np.arange(1, len(rows) + 1, dtype=np.uint32), "t": np.arange(len(rows)) * 0.001,
        "src": pd.Categorical(["10.0.0.1"] * len(rows)), "sport": np.full(len(rows), 5000, dtype=np.uint16),
        "dst": pd.Categorical(["10.0.0.2"] * len(rows)), "dport": np.full(len(rows), 6000, dtype=np.uint16),
        "ssrc": np.full(len(rows), VIDEO, dtype=np.uint32), "pt": np.full(len(rows), 96, dtype=np.uint8),
        "seq": np.array([r[0] for r in rows], dtype=np.uint16), "ts": np.array([r[1] for r in rows], dtype=np.uint32),
        "marker": np.array([r[2] for r in rows], dtype=bool), "padding": np.array([r[3] for r in rows], dtype=bool),
        "payload_len": np.array([r[4] for r in rows], dtype=np.uint16),
        "error": pd.Categorical([None] * len(rows)),
    })
    f = frames(rtp)
    assert list(f.columns) == list(FRAMES_SCHEMA)
    first = {}  # extended sequence number -> whether its first packet was padding
    for ext, (_, _, _, pad, _) in zip(extend_seq(rtp["seq"].to_numpy()).tolist(), rows):
        first.setdefault(ext, pad)
    assert int((f["packets"] + f["trailing"]).sum()) == sum(1 for pad in first.values() if not pad)
    assert (f["last_seq_ext"] >= f["first_seq_ext"]).all()
    assert not f.duplicated(["ssrc", "ts_ext"]).any()
    assert (f.loc[f["missing"] > 0, "complete"] == False).all()  # noqa: E712 (nullable boolean column)
