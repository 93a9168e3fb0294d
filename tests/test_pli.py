"""Keyframe requests and the keyframes that answer them (webrtcpcap.pli)."""

from pathlib import Path

import pandas as pd

import webrtcpcap
from webrtcpcap import pli
from webrtcpcap.tables import schema as tables

CAPTURES = Path(__file__).parents[1] / "captures"


def requests(rows):
    return pd.DataFrame(rows, columns=["frame", "t", "kind", "media_ssrc"]).astype(
        {"frame": "uint32", "t": "float64", "kind": "category", "media_ssrc": "uint32"})


def keyframes(rows):
    return pd.DataFrame(rows, columns=["frame", "t", "ssrc", "keyframe"]).astype(
        {"frame": "uint32", "t": "float64", "ssrc": "uint32", "keyframe": "boolean"})


def test_repeated_requests_count_toward_the_keyframe_that_answers_them():
    req = requests([(10, 1.0, "pli", 7), (12, 1.2, "pli", 7), (13, 1.25, "fir", 7), (20, 2.0, "pli", 8),
                    (30, 5.0, "pli", 7)])
    kf = keyframes([(5, 0.5, 7, True), (11, 1.1, 7, False), (14, 1.3, 7, True), (21, 2.05, 8, True),
                    (22, 2.06, 8, None)])
    out = pli.keyframe_delays(req, kf)
    assert tables.check_schema(out, pli.KEYFRAME_DELAYS_SCHEMA) == []
    got = [(r.media_ssrc, r.first_request_frame, r.requests, r.kinds, r.answered,
            None if pd.isna(r.keyframe_frame) else int(r.keyframe_frame),
            None if pd.isna(r.delay_ms) else round(float(r.delay_ms), 6)) for r in out.itertuples()]
    assert got == [(7, 10, 3, "fir,pli", True, 14, 300.0), (8, 20, 1, "pli", True, 21, 50.0),
                   (7, 30, 1, "pli", False, None, None)]


def test_no_requests_give_an_empty_table_with_the_schema():
    out = pli.keyframe_delays(requests([]), keyframes([(1, 0.0, 7, True)]))
    assert len(out) == 0 and tables.check_schema(out, pli.KEYFRAME_DELAYS_SCHEMA) == []


def test_janus_answers_each_pli_with_a_keyframe_within_a_tenth_of_a_second():
    cap = webrtcpcap.open(CAPTURES / "janus_echotest_loss5.janus.pcap", progress=False)  # plaintext VP8 (PT 96)
    out = pli.keyframe_delays(cap.keyframe_requests, cap.keyframes({96: "VP8"}))
    assert len(out) >= 1 and out.answered.all()
    assert (out.delay_ms > 0).all() and (out.delay_ms < 100).all()
    # each answering keyframe really is the first keyframe packet of its SSRC after the request
    kf = cap.keyframes({96: "VP8"})
    for r in out.itertuples():
        later = kf[(kf.ssrc == r.media_ssrc) & (kf.t > r.first_request_t) & kf.keyframe.fillna(False)]
        assert int(later.frame.iloc[0]) == r.keyframe_frame


def test_a_keyframe_already_in_flight_answers_the_request_with_no_delay():
    """A keyframe captured 50 ms before the PLI crossed it on the wire: it answers the request (delay 0), and the
    next keyframe 4 s later does not (health and keyframe_delays once disagreed here: 4003.8 ms vs 35 ms)."""
    req = requests([(10, 1.0, "pli", 7)])
    kf = keyframes([(9, 0.95, 7, True), (50, 5.0, 7, True)])
    out = pli.keyframe_delays(req, kf)
    assert (bool(out.answered[0]), int(out.keyframe_frame[0]), float(out.delay_ms[0])) == (True, 9, 0.0)
    # older than the in-flight window: not an answer
    out = pli.keyframe_delays(req, keyframes([(9, 0.85, 7, True), (50, 5.0, 7, True)]))
    assert (int(out.keyframe_frame[0]), round(float(out.delay_ms[0]), 6)) == (50, 4000.0)


def vp8_payload(key: bool, start: bool = True) -> bytes:
    desc = bytes([0x90, 0x80, 0x12])  # X, S, PID 0; I with a 7-bit picture ID
    if not start:
        return bytes([0x80, 0x80, 0x12]) + bytes(20)
    tag = bytes([0x00 if key else 0x01, 0x00, 0x00])  # P bit (inverse key frame flag) in the first byte
    return desc + tag + (b"\x9d\x01\x2a" if key else b"\x11\x22\x33") + bytes(20)


def h264_payload(nal: int) -> bytes:
    return bytes([0x60 | nal]) + bytes(20)


def test_the_video_codec_is_guessed_from_the_payload_shape():
    from webrtcpcap.protocols.codecs import guess_video_codec

    assert guess_video_codec([vp8_payload(True), vp8_payload(False), vp8_payload(False, start=False)]) == "VP8"
    h264 = [h264_payload(7), h264_payload(8), h264_payload(5), bytes([0x7C, 0x85]) + bytes(10), h264_payload(1)]
    assert guess_video_codec(h264) == "H264"
    assert guess_video_codec([vp8_payload(False)] * 5) is None  # no keyframe: nothing proves the codec
    assert guess_video_codec([]) is None
    # H.264 payloads are not VP8 (reserved bits set) and VP8 payloads are not H.264 (type 16 is not sent)
    assert guess_video_codec([vp8_payload(True)] + h264) is None


def test_without_sdp_health_and_keyframe_delays_give_one_answer_from_the_payload():
    """janus_echotest_loss5's Janus dump is plaintext VP8 (PT 96) with PLIs; opened without its SDP, the codec is read
    from the payloads and every PLI is answered, by the keyframe `keyframe_delays` names."""
    cap = webrtcpcap.open(CAPTURES / "janus_echotest_loss5.janus.pcap", progress=False)
    assert pli.guess_video_codecs(cap.rtp, cap.streams, cap.rtp_payload) == {96: "VP8"}
    out = pli.keyframe_delays(cap.keyframe_requests, cap.keyframes({96: "VP8"}))
    h = webrtcpcap.health(cap)
    f = h.findings[h.findings["check"] == "recovery.keyframe"]
    assert len(f) == len(out) >= 1 and (f["severity"].astype(str) == "ok").all(), h.text()
    for r in out.itertuples():
        row = f[f["subject"].str.contains(f"ssrc {r.media_ssrc} ", regex=False)].iloc[0]
        assert f"within {round(r.delay_ms)} ms" in row["finding"]
        assert str(r.keyframe_frame) in row["evidence"].replace("-", ",").split(",")
