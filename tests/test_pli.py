"""Keyframe requests and the keyframes that answer them (webrtcpcap.pli)."""

from pathlib import Path

import pandas as pd

import webrtcpcap
from webrtcpcap import pli, tables

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
