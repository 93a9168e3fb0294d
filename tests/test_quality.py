"""Freezes, concealment and the MOS estimate (issue 20 item 2): `webrtcpcap.quality`.

Strategy: the W3C freeze rule on crafted frame times (every expected value from how the times were built); whole
crafted calls through `freezes(cap)` for the causes; then every lab session whose receiving browser recorded
getStats (framesReceived, freezeCount, concealedSamples) against what the capture shows.  Where the capture point
matters it is read from the session's meta.json: `capture_node` (and `also_capture` for the bwe sessions' second
capture, `NAME.a.pcap`, whose clock starts `timeline.capture_a_first_frame_capture_s` after b's).
"""

from __future__ import annotations

import json
import warnings
from functools import cache

import numpy as np
import pandas as pd
import pytest
from conftest import CAPTURES, T0_NS, open_quiet, rtp_packet, stun_message, udp4, write_pcap

import webrtcpcap
from webrtcpcap.analysis import quality
from webrtcpcap.analysis.quality import (AUDIO_QUALITY_SCHEMA, FREEZE_SUMMARY_SCHEMA, FREEZES_SCHEMA, e_model,
                                         mos_from_r, w3c_freezes)

BWE = CAPTURES / "bwe"
VIDEO, AUDIO = 0x0A0B0C0D, 0x01020304


# -- the W3C rule on frame times --------------------------------------------------------------------------------

def test_steady_30_fps_then_a_600_ms_hole_is_exactly_one_freeze_of_that_length():
    t = np.r_[np.arange(60) / 30, 59 / 30 + 0.6 + np.arange(30) / 30]
    f = w3c_freezes(t)
    assert len(f) == 1
    assert f["interval"].iloc[0] == pytest.approx(0.6)
    assert f["i"].iloc[0] == 60
    # the average includes the interval judged (libwebrtc adds it to the window first): (29/30 + 0.6) / 30
    assert f["average"].iloc[0] == pytest.approx((29 / 30 + 0.6) / 30)
    assert f["threshold"].iloc[0] == pytest.approx(f["average"].iloc[0] + 0.150)


def test_jitter_below_the_threshold_is_no_freeze():
    rng = np.random.default_rng(7)
    d = 1 / 30 + rng.uniform(-0.015, 0.015, 300)
    d[100] = 0.170  # about 5 frame times but under average + 150 ms (0.0333 + 0.150 = 0.183 before averaging in)
    f = w3c_freezes(np.cumsum(d))
    assert len(f) == 0
    d[100] = 0.200  # above it
    assert len(w3c_freezes(np.cumsum(d))) == 1


def test_nothing_is_judged_before_five_intervals_then_the_average_is_the_running_one():
    # a long first interval (start-up) is not judged: fewer than 5 intervals in the window
    t = np.cumsum(np.r_[0.0, 1.0, 0.033, 0.033, 0.033, 0.033, 0.033, 0.033])
    assert len(w3c_freezes(t)) == 0
    # the fifth interval is judged, against the mean of the five
    t = np.cumsum(np.r_[0.0, 0.033, 0.033, 0.033, 0.033, 1.0])
    f = w3c_freezes(t)
    assert f["i"].tolist() == [5] and f["average"].iloc[0] == pytest.approx((4 * 0.033 + 1.0) / 5)
    # at 5 fps the same 600 ms gap is under 3 × average: no freeze; at 30 fps it is one
    slow = np.r_[np.arange(40) * 0.2, 39 * 0.2 + 0.55]
    assert len(w3c_freezes(slow)) == 0
    # the window forgets: 30 intervals later a slow start no longer raises the average
    t = np.r_[np.arange(10) * 0.3, 2.7 + np.arange(1, 40) / 30]
    t = np.r_[t, t[-1] + 0.25]
    assert w3c_freezes(t)["i"].tolist() == [len(t) - 1]


# -- crafted calls through freezes(cap) -------------------------------------------------------------------------

def call(tmp_path, packets, name="call.pcap"):
    """A STUN exchange then RTP (dicts of rtp_packet arguments plus `at`, ms after the STUN)."""
    frames_ = [udp4(stun_message(0x0001)), udp4(stun_message(0x0101), "10.0.0.2", "10.0.0.1", 6000, 5000)]
    times = [T0_NS, T0_NS + 1_000_000]
    for p in sorted(packets, key=lambda p: p["at"]):
        p = dict(p)
        at = p.pop("at")
        frames_.append(udp4(rtp_packet(**p)))
        times.append(T0_NS + 10_000_000 + int(at * 1_000_000))
    return open_quiet(write_pcap(tmp_path / name, frames_, times_ns=times, nanosecond=True))


def video(n, ms=33, per_frame=2, skip=(), hole=None, seq0=1000, ts0=90_000):
    """`n` frames of `per_frame` packets at `ms` intervals (90 kHz), VP8-like pt 96; `hole`: (frame, extra ms) from
    that frame on everything arrives later; `skip`: (frame, packet) never sent."""
    out, seq = [], seq0
    for f in range(n):
        late = hole[1] if hole and f >= hole[0] else 0
        for k in range(per_frame):
            if (f, k) not in skip:
                out.append(dict(ssrc=VIDEO, pt=96, seq=seq & 0xFFFF, ts=(ts0 + f * 3000) & 0xFFFFFFFF,
                                marker=k == per_frame - 1, payload=b"\x90\x00" + b"\x11" * 300,
                                at=f * ms + k + late))
            seq += 1
    return out


def kinds(cap):
    return dict(zip(cap.streams["ssrc"].astype(int), cap.streams["kind"].astype(str)))


def test_a_stream_that_stops_for_600_ms_freezes_once_with_cause_sender_stopped(tmp_path):
    cap = call(tmp_path, video(90, hole=(60, 600)))
    assert kinds(cap)[VIDEO] == "video"
    f = quality.freezes(cap)
    assert list(f.columns) == list(FREEZES_SCHEMA)
    assert {c: str(d) for c, d in f.dtypes.items()} == FREEZES_SCHEMA
    assert len(f) == 1
    row = f.iloc[0]
    assert row["duration"] == pytest.approx(0.633, abs=1e-6)  # one frame time plus the hole, last packet to last
    assert row["start"] == pytest.approx(0.010 + 59 * 0.033 + 0.001, abs=1e-6)
    assert row["frames_before"] == 60 and row["cause"] == "sender_stopped"
    assert row["start_time"] == pd.Timestamp(T0_NS + 10_000_000, tz="UTC") + pd.to_timedelta(row["start"] - 0.010, "s")
    s = quality.freeze_summary(cap)
    assert {c: str(d) for c, d in s.dtypes.items()} == FREEZE_SUMMARY_SCHEMA
    assert s[["frames", "rendered", "freeze_count"]].iloc[0].tolist() == [90, 90, 1]
    assert s["total_freeze_duration"].iloc[0] == pytest.approx(0.633, abs=1e-6)
    assert "keyframes" in s["not_judged"].iloc[0]  # crafted payloads: no keyframe verdict without a detector


def test_lost_packets_never_repaired_make_frames_unrenderable_and_the_cause_loss(tmp_path):
    # frames 60-74 each lose their first packet: not whole, not rendered; the picture stands still 0.5 s while
    # their other packets keep arriving
    skip = {(f, 0) for f in range(60, 75)}
    cap = call(tmp_path, video(120, skip=skip))
    f = quality.freezes(cap)
    assert len(f) == 1 and f["cause"].iloc[0] == "loss_not_repaired"
    assert f["duration"].iloc[0] == pytest.approx(16 * 0.033, abs=1e-6)
    assert "15 frames never whole" in f["evidence"].iloc[0]
    s = quality.freeze_summary(cap)
    assert s[["frames", "rendered", "incomplete"]].iloc[0].tolist() == [120, 105, 15]


def test_slow_frames_without_loss_are_bandwidth(tmp_path):
    # from frame 60 the packets of one frame trickle in over 400 ms (a queue), nothing lost
    pk = video(100)
    for p in pk:
        f = (p["ts"] - 90_000) // 3000
        if f == 60:
            p["at"] += 400 * (p["seq"] - 1000 - 120)  # its second packet 400 ms after its first
    cap = call(tmp_path, pk)
    f = quality.freezes(cap)
    assert len(f) == 1 and f["cause"].iloc[0] == "bandwidth", f["evidence"].tolist()


def test_no_video_gives_empty_tables_with_their_schemas(tmp_path):
    audio = [dict(ssrc=AUDIO, pt=111, seq=i, ts=960 * i, payload=b"\x01" * 80, at=20 * i) for i in range(100)]
    cap = call(tmp_path, audio)
    assert len(quality.freezes(cap)) == 0 and len(quality.freeze_summary(cap)) == 0
    assert {c: str(d) for c, d in quality.freezes(cap).dtypes.items()} == FREEZES_SCHEMA


# -- audio ------------------------------------------------------------------------------------------------------

def audio_call(tmp_path, n=500, lost=(), late=(), late_ms=200):
    pk = [dict(ssrc=AUDIO, pt=111, seq=i, ts=960 * i, payload=b"\x01" * 80,
               at=20 * i + (late_ms if i in late else 0)) for i in range(n) if i not in lost]
    return call(tmp_path, pk, "audio.pcap")


def test_audio_loss_bursts_late_packets_and_concealed_time(tmp_path):
    lost = set(range(100, 110)) | {300, 302}
    late = {400, 401, 402}
    cap = audio_call(tmp_path, lost=lost, late=late)
    a = quality.audio_quality(cap)
    assert list(a.columns) == list(AUDIO_QUALITY_SCHEMA)
    assert {c: str(d) for c, d in a.dtypes.items()} == AUDIO_QUALITY_SCHEMA
    r = a.iloc[0]
    assert r["ptime_ms"] == pytest.approx(20.0)
    assert (r["expected"], r["lost"], r["loss_bursts"], r["longest_loss_burst"]) == (500, 12, 3, 10)
    assert (r["late"], r["late_bursts"]) == (3, 1)
    assert r["concealed_s"] == pytest.approx((12 + 3) * 0.020)
    # BurstR = 1/(p+q): p = 3 losses starting among 488 received before one, q = 3 ends among 12 lost
    received_then = 487  # received numbers followed by another number (the last has none)
    assert r["burst_ratio"] == pytest.approx(1 / (3 / received_then + 3 / 12), rel=0.02)
    assert r["delay_source"].startswith("assumed") and r["one_way_delay_ms"] == quality.DEFAULT_ONE_WAY_DELAY_MS
    assert r["model"] == "G.107.1" and "assumed" in r["codec_values_source"]  # Opus: no ITU-T value
    assert r["estimate"].startswith("estimate")
    assert r["r_factor"] == pytest.approx(e_model(100 * 12 / 500, r["burst_ratio"], 100.0, 10.0, 20.0, True))


def test_e_model_known_points():
    # G.107's default connection: R 93.2, MOS 4.41 (G.107 Annex B formula)
    assert e_model(0, 1, 0, 0, 25.1) == pytest.approx(93.2)
    assert mos_from_r(93.2) == pytest.approx(4.41, abs=0.01)
    # the delay impairment starts to bend at 177.3 ms
    assert e_model(0, 1, 100, 0, 25.1) == pytest.approx(93.2 - 2.4)
    assert e_model(0, 1, 277.3, 0, 25.1) == pytest.approx(93.2 - 0.024 * 277.3 - 11.0)
    # G.711 with concealment at 5 % random loss: Ie,eff = 95 × 5 / (5 + 25.1) = 15.78
    assert e_model(5, 1, 0, 0, 25.1) == pytest.approx(93.2 - 95 * 5 / 30.1)
    # bursty loss hurts more than random at the same rate
    assert e_model(5, 4, 0, 0, 25.1) < e_model(5, 1, 0, 0, 25.1)
    assert mos_from_r(-5) == 1.0 and mos_from_r(120) == 4.5 and mos_from_r(129, wideband=True) == 4.5


# -- lab sessions against the receiving browser's getStats -------------------------------------------------------

@cache
def meta(path):
    return json.loads(path.read_text())


@cache
def opened(path, keys: bool = False):
    base = path.parent / path.name.split(".")[0]
    sdp = [base.with_suffix(".offer.sdp"), base.with_suffix(".answer.sdp")]
    kw = dict(keylog=base.with_suffix(".keylog"), sdp=sdp) if keys else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return webrtcpcap.open(path, progress=False, **kw)


# (session, capture file, receiving node): where the receiver's packets were captured.  captures/bwe: b's capture
# (capture_node b) and a's (also_capture a).
BWE_RECEIVED = [("healthy", "healthy.pcap", "b"), ("healthy", "healthy.a.pcap", "a"),
                ("bwe_drop", "bwe_drop.pcap", "b"), ("bwe_drop", "bwe_drop.a.pcap", "a"),
                ("freeze", "freeze.pcap", "b"),
                ("bwe_netem", "bwe_netem.pcap", "a"), ("bwe_netem", "bwe_netem.b.pcap", "b"),
                ("freeze3s", "freeze3s.pcap", "b"), ("healthy2", "healthy2.pcap", "b"),
                ("healthy2", "healthy2.a.pcap", "a")]


@pytest.mark.parametrize(("name", "file", "node"), BWE_RECEIVED, ids=[f for _, f, _ in BWE_RECEIVED])
def test_bwe_sessions_frames_and_freezes_against_the_receiver(name, file, node, record_property):
    """Frames: within 3 % of framesReceived on every capture (measured, in BWE_RECEIVED order: 675/673, 669/667,
    678/675, 545/532, 454/452, 564/558, 686/682, 951/943, 837/831, 677/669; the extra are the last frames, arriving
    after the final getStats). Freezes: the count equal to freezeCount within one (measured 0/0, 1/1, 0/1, 8/8, 1/1,
    1/1, 2/2, 1/1, 0/0, 0/0): the capture sees arrival, the browser rendering; Chromium's
    start-up freeze on bwe_drop at b (0.39 s, 4.7 s after connecting) has no trace in the packets; on bwe_drop at a the
    8 freezes are 4.4 s in all against Firefox's 3.6 s (its start-up ones fall at other times than the capture's)."""
    m = meta(BWE / f"{name}.meta.json")
    truth = m["ground_truth_over_time"][node]["at_end"]["inbound_video"]
    ssrc = m["ssrcs"][node]["received"]["video"]["ssrc"]
    s = quality.freeze_summary(opened(BWE / file))
    row = s[s["ssrc"].astype(int) == ssrc].iloc[0]
    record_property("frames", f"{int(row['frames'])}/{truth['framesReceived']}")
    record_property("freezes", f"{int(row['freeze_count'])}/{truth['freezeCount']}")
    assert int(row["frames"]) == pytest.approx(truth["framesReceived"], rel=0.03)
    assert abs(int(row["freeze_count"]) - truth["freezeCount"]) <= 1


def test_freeze_session_freeze_equals_chromium_s_and_is_caused_by_the_outage():
    """The 2 s outage of everything a sent (nft at a's egress, before b's capture): Chromium counted one freeze of
    2.034 s; the capture shows one of 2.05 s (last frame before the outage to the first retransmitted one after it),
    cause sender_stopped (nothing of the stream reached the capture point)."""
    m = meta(BWE / "freeze.meta.json")
    ssrc = m["ssrcs"]["b"]["received"]["video"]["ssrc"]
    truth = m["ground_truth_over_time"]["b"]["freeze_count_changes"]
    start, end = m["timeline"]["outage"]["capture_s"]
    f = quality.freezes(opened(BWE / "freeze.pcap"))
    f = f[f["ssrc"].astype(int) == ssrc]
    assert len(f) == len(truth) == 1
    assert f["duration"].iloc[0] == pytest.approx(truth[0]["after"]["totalFreezesDuration"], abs=0.05)
    assert start - 0.2 < f["start"].iloc[0] < start and f["cause"].iloc[0] == "sender_stopped"
    assert f["start"].iloc[0] < truth[0]["capture_s"] < f["end"].iloc[0] + 0.5  # getStats sampled every 250 ms


def test_freeze_session_bare_and_with_keys():
    """Bare, the RTX SSRC of a's video is paired by its timestamps (the SDP pairs it with keys): the same 30 frames
    resent after the outage count, and the same freeze is found.  The key log adds what needs the payload: the
    keyframe verdicts (keyframes counted, the keyframe interval) and the RTT for the E-model's delay."""
    m = meta(BWE / "freeze.meta.json")
    ssrc = m["ssrcs"]["b"]["received"]["video"]["ssrc"]
    audio = m["ssrcs"]["b"]["received"]["audio"]["ssrc"]
    bare, keyed = opened(BWE / "freeze.pcap"), opened(BWE / "freeze.pcap", keys=True)
    sb, sk = (quality.freeze_summary(c) for c in (bare, keyed))
    rb, rk = (s[s["ssrc"].astype(int) == ssrc].iloc[0] for s in (sb, sk))
    assert rb["frames"] == rk["frames"] and rb["rtx_only"] == rk["rtx_only"] == 30
    assert rb["freeze_count"] == rk["freeze_count"] == 1
    assert pd.isna(rb["keyframes"]) and "keyframes" in rb["not_judged"]
    assert rk["keyframes"] >= 1 and pd.isna(rk["not_judged"])
    ab, ak = (quality.audio_quality(c) for c in (bare, keyed))
    ab, ak = (a[a["ssrc"].astype(int) == audio].iloc[0] for a in (ab, ak))
    assert ab["delay_source"].startswith("assumed") and ak["delay_source"].startswith("RTT/2")
    assert ab["lost"] == ak["lost"] == 99


def test_video_only_outage_freeze3s_is_one_freeze_and_no_audio_concealment():
    """freeze3s: 3 s of a's video only dropped at a's egress (audio goes on), captured at b: Chromium counted one
    freeze of 2.974 s; the capture shows one of 3.07 s, sender stopped, and a's audio has no loss."""
    m = meta(BWE / "freeze3s.meta.json")
    video, audio = (m["ssrcs"]["b"]["received"][k]["ssrc"] for k in ("video", "audio"))
    truth = m["ground_truth_over_time"]["b"]["freeze_count_changes"]
    cap = opened(BWE / "freeze3s.pcap")
    f = quality.freezes(cap)
    f = f[f["ssrc"].astype(int) == video]
    assert len(f) == len(truth) == 1 and f["cause"].iloc[0] == "sender_stopped"
    assert f["duration"].iloc[0] == pytest.approx(truth[0]["after"]["totalFreezesDuration"], abs=0.15)
    a = quality.audio_quality(cap)
    assert int(a.loc[a["ssrc"].astype(int) == audio, "lost"].iloc[0]) == 0


@pytest.mark.parametrize(("name", "file", "node"), BWE_RECEIVED, ids=[f for _, f, _ in BWE_RECEIVED])
def test_bwe_sessions_concealment_against_concealed_samples(name, file, node, record_property):
    """concealedSamples / 48000 (the browsers' audio output rate) against (lost + late) × ptime.  Where loss
    dominates (the freeze session's 2 s outage: 99 packets) they agree within 0.1 s (1.98 s vs 2.04 s).  Elsewhere the
    browser conceals for reasons a capture cannot see (NetEQ's own time stretching at start-up, its buffer
    adapting), so the estimate is only held within 0.7 s (measured, ours/browser's: 0.02/0.67, 0.30/0.09,
    0.00/0.49, 0.76/0.61, then 0.14/0.51, 1.66/0.99 (b under the 120 kbit/s limit: packets late past 100 ms that
    NetEQ's growing buffer played in time), 0.00/0.17, 0.00/0.55, 0.00/0.00)."""
    m = meta(BWE / f"{name}.meta.json")
    truth = m["ground_truth_over_time"][node]["at_end"]["inbound_audio"]
    ssrc = m["ssrcs"][node]["received"]["audio"]["ssrc"]
    a = quality.audio_quality(opened(BWE / file))
    row = a[a["ssrc"].astype(int) == ssrc].iloc[0]
    concealed = truth["concealedSamples"] / 48000
    record_property("concealed", f"{float(row['concealed_s']):.2f}/{concealed:.2f}")
    assert int(row["lost"]) >= truth["packetsLost"]  # the capture is at or before the receiver
    if name == "freeze":
        assert row["concealed_s"] == pytest.approx(concealed, abs=0.1)
        assert row["mos"] < 3.6  # 6.6 % lost in one burst (Chromium's packetsLost says 0: it forgets a long gap)
    else:
        assert abs(row["concealed_s"] - concealed) < 0.7
        assert row["mos"] > 4.0


def getstats_videos():
    """(session, node, inbound-rtp video report) of every older lab session whose getStats has framesReceived."""
    out = []
    for path in sorted(CAPTURES.glob("*.getstats.json")):
        stats = json.loads(path.read_text())
        for node, v in stats.items():
            reports = v.get("rtp") if isinstance(v.get("rtp"), list) else [x for x in v.values() if isinstance(x, dict)]
            for r in reports:
                if r.get("type") == "inbound-rtp" and r.get("kind") == "video" and "framesReceived" in r:
                    out.append((path.name[: -len(".getstats.json")], node, r))
    return out


# Sessions where the capture cannot match the receiver, with the measured numbers and why.
EXCEPTIONS = {
    # drops at a's ingress (after the capture point, b's side): the capture holds frames a never got whole; Firefox
    # counts only those it could assemble (149 of the 219 the capture holds)
    ("janus_echotest_loss5", "a"): "capture before the loss",
    # Firefox receiving from aiortc / Firefox: 160/154 and 123/115 frames by the getStats time, 4/4 and 0/2
    # freezes: unexplained here (no loss, the frames arrive regularly); left measured, not matched
    ("firefox_aiortc_clean", "a"): "Firefox counts fewer",
    ("firefox_firefox_clean", "a"): "Firefox counts fewer",
}


@pytest.mark.parametrize(("name", "node", "report"), getstats_videos(),
                         ids=[f"{n}-{node}" for n, node, _ in getstats_videos()])
def test_older_sessions_frames_until_the_getstats_snapshot(name, node, report, record_property):
    """Frames whose first packet arrived by the time of the final getStats snapshot (its `timestamp`) against
    framesReceived, within 3 % (the capture holds one file per session, taken at meta.json's capture_node: it saw
    both directions on one bridge).  Freezes: within 2 of freezeCount (Firefox as a receiver counts start-up
    freezes the arrival times do not show: firefox_firefox_* 0/2, 0/1)."""
    cap = opened(CAPTURES / f"{name}.pcap")
    frames = quality.rendered_frames(cap)
    frames = frames[frames["ssrc"].astype(int) == report["ssrc"]]
    snap = (pd.Timestamp(report["timestamp"], unit="ms", tz="UTC") - quality._time_zero(cap)).total_seconds()
    got = int((frames["first_t"] <= snap).sum())
    record_property("frames", f"{got}/{report['framesReceived']}")
    why = EXCEPTIONS.get((name, node))
    if why == "capture before the loss":
        assert got > report["framesReceived"]
        return
    if why:
        assert report["framesReceived"] < got <= 1.08 * report["framesReceived"]
    else:
        assert got == pytest.approx(report["framesReceived"], rel=0.03)
    s = quality.freeze_summary(cap)
    count = int(s.loc[s["ssrc"].astype(int) == report["ssrc"], "freeze_count"].iloc[0])
    record_property("freezes", f"{count}/{report.get('freezeCount')}")
    assert abs(count - int(report.get("freezeCount", 0))) <= 2


# -- health and the report ----------------------------------------------------------------------------------------

def test_health_quality_stage_heads_the_freeze_session_with_the_freeze():
    """Before the quality stage the headline was the audio's packet gap ("no packet for 2.0 s from 22.3 s"); now it
    names the video freeze Chromium counted: stream, when, how long, why."""
    from webrtcpcap.report.health import health

    m = meta(BWE / "freeze.meta.json")
    ssrc = m["ssrcs"]["b"]["received"]["video"]["ssrc"]
    h = health(opened(BWE / "freeze.pcap"))
    assert h.stage("quality") == "error" and str(h.headline_finding["check"]) == "quality.freeze"
    for words in (f"ssrc {ssrc} video", "video froze for 2.0 s", "from 22.2 s", "sender stopped"):
        assert words in h.headline, h.headline
    audio = h.findings[h.findings["check"] == "quality.audio"]
    lossy = audio[audio["subject"].str.startswith(f"ssrc {m['ssrcs']['b']['received']['audio']['ssrc']} ")]
    assert str(lossy["severity"].iloc[0]) == "warning" and "MOS estimate" in lossy["finding"].iloc[0]
    assert lossy["evidence"].notna().all()


def test_frame_interval_plot_shades_each_freeze(tmp_path):
    from webrtcpcap.report import plots

    cap = call(tmp_path, video(90, hole=(60, 600)))
    fig = plots.frame_interval_plot(quality.rendered_frames(cap), quality.freezes(cap), VIDEO)
    ax = fig.axes[0]
    assert len(ax.patches) == 1 and len(ax.collections) == 1
    x0, x1 = ax.patches[0].get_x(), ax.patches[0].get_x() + ax.patches[0].get_width()
    f = quality.freezes(cap).iloc[0]
    assert (x0, x1) == pytest.approx((f["start"], f["end"]))


def test_loss_with_a_pli_in_the_freeze_is_a_keyframe_wait(tmp_path):
    """The loss test's call, plus the receiver's PLI for the stream (plaintext RTCP) while the picture stands: the
    cause becomes keyframe_wait."""
    from conftest import rtcp_pli

    skip = {(f, 0) for f in range(60, 75)}
    packets = video(120, skip=skip)
    pcap_frames = [udp4(stun_message(0x0001)), udp4(stun_message(0x0101), "10.0.0.2", "10.0.0.1", 6000, 5000)]
    times = [T0_NS, T0_NS + 1_000_000]
    pli_at = 62 * 33 + 5
    items = [(p["at"], udp4(rtp_packet(**{k: v for k, v in p.items() if k != "at"}))) for p in packets]
    items.append((pli_at, udp4(rtcp_pli(sender=0x0BADBEEF, media=VIDEO), "10.0.0.2", "10.0.0.1", 6000, 5000)))
    for at, frame in sorted(items, key=lambda x: x[0]):
        pcap_frames.append(frame)
        times.append(T0_NS + 10_000_000 + int(at * 1_000_000))
    cap = open_quiet(write_pcap(tmp_path / "pli.pcap", pcap_frames, times_ns=times, nanosecond=True))
    assert len(cap.keyframe_requests) == 1
    f = quality.freezes(cap)
    assert len(f) == 1 and f["cause"].iloc[0] == "keyframe_wait", f["evidence"].tolist()
    assert "PLI" in f["evidence"].iloc[0]


def test_a_call_s_context_is_judged_from_its_own_rows():
    """Health judges each call of a capture holding several from the call's context, whose `cap` is a SessionView
    (not a Capture): the quality functions take it and give the call's freezes and audio."""
    from webrtcpcap.analysis import context

    cap = opened(BWE / "freeze.pcap")
    call_ctx = context.of(cap).calls[0]
    assert call_ctx.whole is not None and not isinstance(call_ctx.cap, webrtcpcap.Capture)
    whole, one = quality.freezes(cap), quality.freezes(call_ctx)
    assert one["duration"].tolist() == whole["duration"].tolist() and len(one) == 1
    assert len(quality.audio_quality(call_ctx)) == len(quality.audio_quality(cap)) == 2
    # the health stage's judges take the call's context too (they once passed its SessionView on: AttributeError)
    from webrtcpcap.report.health_quality import _quality
    from webrtcpcap.report.health import Thresholds

    rows = _quality(call_ctx, Thresholds())
    assert [r["check"] for r in rows].count("quality.freeze") == 2 and any(r["severity"] == "error" for r in rows)
