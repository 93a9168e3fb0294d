"""RTP streams and sequence gaps (webrtcpcap.streams): wrap-around, loss, duplicates, reordering, gaps, RFC 3550 A.8
jitter and clock-rate inference on crafted tables, then per-stream cross-checks against tshark's `rtp,streams`.

Expected values come from the crafted packets, from plain-Python loops of RFC 3550 A.1/A.8 written here, or from
tshark; never from the library's own output.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

import webrtcpcap
from webrtcpcap.tables import schema as tables
from webrtcpcap.tables.streams import GAPS_SCHEMA, STREAMS_SCHEMA, extend_seq, extend_ts, infer_clock_rate

from conftest import CAPTURES, PUBLIC_CAPTURES, SYNTHETIC, open_quiet, rtp_packet, udp4, write_pcap

A, B = "10.0.0.1", "10.0.0.2"


def rtp_table(rows: list[dict]) -> pd.DataFrame:
    """An `rtp` table with the real dtypes (tables.RTP_SCHEMA) from partial rows; frame numbers follow row order."""
    defaults = {"t": 0.0, "src": A, "dst": B, "sport": 5000, "dport": 6000, "ssrc": 0x11223344, "pt": 96,
                "seq": 0, "ts": 0, "marker": False, "padding": False, "extension": False, "csrc_count": 0,
                "ext_profile": None, "payload_offset": 12, "payload_len": 100, "dtls_srtp": False, "error": None}
    full = [{"frame": i + 1, **defaults, **r} for i, r in enumerate(rows)]
    df = pd.DataFrame(full, columns=list(tables.RTP_SCHEMA))
    df["error"] = df["error"].astype(object)
    return df.astype(tables.RTP_SCHEMA)


def one_stream(seqs, *, t=None, ts=None, **kw) -> pd.DataFrame:
    t = [0.02 * i for i in range(len(seqs))] if t is None else t
    ts = [960 * i for i in range(len(seqs))] if ts is None else ts
    return rtp_table([{"seq": s % 65536, "t": ti, "ts": x % 2**32, **kw} for s, ti, x in zip(seqs, t, ts)])


def only_row(df: pd.DataFrame) -> pd.Series:
    assert len(df) == 1, df
    return df.iloc[0]


# --- extended sequence numbers (RFC 3550 A.1) -----------------------------------------------------------------------


def rfc_extend(values, bits=16):
    """Plain loop: each value in the cycle nearest the highest extended value before it (first in cycle 0)."""
    mod, half = 1 << bits, 1 << (bits - 1)
    out, highest = [], None
    for v in values:
        if highest is None:
            e = v
            highest = e
        else:
            d = (v - highest) % mod
            e = highest + (d - mod if d >= half else d)
            highest = max(highest, e)
        out.append(e)
    low = min(out)
    lift = 0 if low >= 0 else -(low // mod) * mod
    return [e + lift for e in out]


def test_extend_seq_counts_a_wrap_from_65535_to_0():
    assert extend_seq(np.array([65534, 65535, 0, 1], dtype=np.uint16)).tolist() == [65534, 65535, 65536, 65537]


def test_extend_seq_counts_several_wraps():
    seq = ((np.arange(300_000) + 60_000) % 65536).astype(np.uint16)
    assert np.array_equal(extend_seq(seq), np.arange(300_000) + 60_000)


def test_extend_seq_of_a_stream_starting_near_the_wrap_with_reordering():
    seq = np.array([65533, 65535, 65534, 0, 2, 1], dtype=np.uint16)
    assert extend_seq(seq).tolist() == [65533, 65535, 65534, 65536, 65538, 65537]


def test_extend_seq_keeps_a_late_packet_from_before_the_wrap_in_the_old_cycle():
    seq = np.array([65535, 0, 1, 65534], dtype=np.uint16)
    assert extend_seq(seq).tolist() == [65535, 65536, 65537, 65534]


def test_extend_seq_lifts_a_late_packet_from_before_the_first_one_across_the_wrap():
    # 65535 is one before 2 across the wrap, so it is cycle -1: everything moves up one cycle.
    assert extend_seq(np.array([2, 65535, 3], dtype=np.uint16)).tolist() == [65538, 65535, 65539]


def test_extend_seq_unwraps_relative_to_the_highest_seen_not_the_previous_packet():
    # After 30000, a stray 1 must not drag the reference down: 60000 is 30000 above the highest, not 5536 below 1.
    assert extend_seq(np.array([0, 30000, 1, 60000], dtype=np.uint16)).tolist() == [0, 30000, 1, 60000]


def test_extend_seq_matches_a_plain_a1_loop_on_heavily_reordered_input():
    rng = np.random.default_rng(7)
    for _ in range(20):
        base = np.cumsum(rng.integers(0, 3, 5000)) + rng.integers(0, 65536)
        noisy = base + rng.integers(-40, 40, len(base)) * (rng.random(len(base)) < 0.2)
        jumps = np.where(rng.random(len(base)) < 0.01, rng.integers(-32000, 32000, len(base)), 0)
        seq = ((noisy + jumps) % 65536).astype(np.uint16)
        assert extend_seq(seq).tolist() == rfc_extend(seq.tolist())


def test_extend_ts_unwraps_32_bit_timestamps_and_keeps_late_ones_before_the_wrap():
    ts = np.array([4294967000, 200, 4294967100, 500], dtype=np.uint32)
    assert extend_ts(ts).tolist() == [4294967000, 4294967496, 4294967100, 4294967796]


def test_extend_of_empty_input_is_empty():
    assert extend_seq(np.array([], dtype=np.uint16)).tolist() == []


# --- streams: counts ------------------------------------------------------------------------------------------------


def test_stream_counts_loss_duplicates_reordering_and_the_longest_gap():
    seqs = [10, 11, 13, 12, 12, 16, 17]  # 12 late, 12 again (duplicate), 14-15 never arrive
    df = one_stream(seqs, marker=False)
    df.loc[5, "marker"] = True
    df["payload_len"] = np.array([100, 110, 120, 130, 130, 150, 160], dtype=np.uint16)
    r = only_row(webrtcpcap.streams.streams(df))
    assert (r["packets"], r["first_seq"], r["last_seq"], r["expected"]) == (7, 10, 17, 8)
    assert (r["lost"], r["duplicates"], r["reordered"], r["max_gap"], r["markers"]) == (2, 1, 1, 2, 1)
    assert r["bytes"] == 900
    assert (r["first_t"], r["last_t"]) == (0.0, 0.12)
    assert r["bitrate_kbps"] == pytest.approx(900 * 8 / 0.12 / 1000)
    assert (r["ssrc"], r["pt"], r["src"], r["sport"], r["dst"], r["dport"]) == (0x11223344, 96, A, 5000, B, 6000)


def test_stream_counts_across_a_wrap_with_a_late_packet():
    r = only_row(webrtcpcap.streams.streams(one_stream([65534, 65535, 1, 0, 3])))
    assert (r["first_seq"], r["last_seq"], r["expected"], r["lost"], r["reordered"], r["max_gap"]) == \
        (65534, 65539, 6, 1, 1, 1)


def test_stream_lost_is_never_negative_with_many_duplicates():
    r = only_row(webrtcpcap.streams.streams(one_stream([5, 5, 5, 6, 6, 7])))
    assert (r["expected"], r["lost"], r["duplicates"], r["reordered"]) == (3, 0, 3, 0)


def test_streams_are_keyed_by_five_tuple_and_ssrc_sorted_by_first_t_and_skip_error_rows():
    rows = [
        {"t": 0.5, "ssrc": 1, "pt": 111, "seq": 1},
        {"t": 0.1, "ssrc": 2, "pt": 96, "seq": 100},   # earliest stream, but it appears second in the table
        {"t": 0.6, "ssrc": 1, "pt": 111, "seq": 2},
        {"t": 0.7, "ssrc": 1, "pt": 112, "seq": 3},     # same SSRC, other PT: the same stream (one sequence space)
        {"t": 0.8, "ssrc": 1, "pt": 111, "seq": 3, "sport": 5002},  # other port: another stream
        {"t": 0.9, "ssrc": 2, "pt": 96, "seq": 500, "error": "RTP header is truncated"},  # left out
    ]
    s = webrtcpcap.streams.streams(rtp_table(rows))
    got = list(zip(s["ssrc"], s["pt"], s["payload_types"], s["sport"], s["packets"], s["first_t"]))
    assert got == [(2, 96, "96", 5000, 1, 0.1), (1, 111, "111,112", 5000, 3, 0.5), (1, 111, "111", 5002, 1, 0.8)]
    assert s.loc[0, "last_seq"] == 100


def pcma_with_comfort_noise():
    """An 8 kHz PCMA call (PT 8, 20 ms packets) that falls silent twice: during silence the sender sends comfort noise
    (PT 13, RFC 3389) every 200 ms with the next sequence numbers, as SIP phones and Asterisk do.  No number is
    missing."""
    rows, seq, t, ts = [], 1000, 0.0, 0
    for talk, silence in ((60, 1.0), (50, 2.0), (40, 0.0)):
        for _ in range(talk):
            rows.append({"t": t, "seq": seq, "ts": ts, "pt": 8, "payload_len": 160})
            seq, t, ts = seq + 1, t + 0.02, ts + 160
        for k in range(int(silence / 0.2)):
            rows.append({"t": t, "seq": seq, "ts": ts, "pt": 13, "payload_len": 1})
            seq, t, ts = seq + 1, t + 0.2, ts + 1600
    return rtp_table(rows)


def test_one_ssrc_changing_payload_type_is_one_stream_with_its_loss_counted_over_all_types():
    """PCMA + CN on one SSRC with continuous sequence numbers: one stream, nothing lost, no freeze, no gap."""
    rtp = pcma_with_comfort_noise()
    r = only_row(webrtcpcap.streams.streams(rtp))
    assert (r["pt"], r["payload_types"], r["packets"], r["lost"], r["max_gap"]) == (8, "8,13", len(rtp), 0, 0)
    assert r["max_delta_ms"] == pytest.approx(200.0)
    assert r["clock_rate"] == 8000
    assert r["role"] == "media"
    assert len(webrtcpcap.streams.gaps(rtp)) == 0
    # a lost CN packet is a hole in the one stream, numbered across payload types
    holed = rtp.drop(index=[62]).reset_index(drop=True)  # the third CN packet of the first silence
    r = only_row(webrtcpcap.streams.streams(holed))
    assert (r["lost"], r["expected"]) == (1, len(rtp))
    g = only_row(webrtcpcap.streams.gaps(holed))
    assert (g["first_missing"], g["count"], g["pt"]) == (1062, 1, 13)  # pt: of the packet that skipped


def test_audio_with_telephone_events_is_one_stream_without_a_freeze():
    """Opus (PT 111) with RFC 4733 DTMF (PT 126) in between on the same SSRC: the DTMF packets carry the next
    sequence numbers; the stream is one, with no loss."""
    rows, seq, t = [], 0, 0.0
    for i in range(300):
        pt = 126 if 100 <= i < 110 else 111
        rows.append({"t": t, "seq": seq, "ts": 960 * i if pt == 111 else 960 * 100, "pt": pt})
        seq, t = seq + 1, t + 0.02
    r = only_row(webrtcpcap.streams.streams(rtp_table(rows)))
    assert (r["payload_types"], r["pt"], r["lost"], r["packets"]) == ("111,126", 111, 0, 300)
    assert r["max_delta_ms"] < 25


def test_streams_table_has_its_schema_also_when_empty():
    assert tables.check_schema(webrtcpcap.streams.streams(one_stream([1, 2, 3])), STREAMS_SCHEMA) == []
    assert tables.check_schema(webrtcpcap.streams.streams(rtp_table([])), STREAMS_SCHEMA) == []
    assert tables.check_schema(webrtcpcap.streams.gaps(one_stream([1, 3])), GAPS_SCHEMA) == []
    assert tables.check_schema(webrtcpcap.streams.gaps(rtp_table([])), GAPS_SCHEMA) == []


def test_capture_streams_property_is_streams_of_the_rtp_table():
    cap = open_quiet(SYNTHETIC)
    pd.testing.assert_frame_equal(cap.streams, webrtcpcap.streams.streams(cap.rtp))
    assert len(cap.streams) > 0


# --- gaps -----------------------------------------------------------------------------------------------------------


def test_gaps_one_row_per_hole_with_times_and_late_arrivals():
    t = [0.0, 0.02, 0.05, 0.06, 0.07, 0.20, 0.22]
    df = one_stream([10, 11, 13, 12, 12, 16, 17], t=t)
    g = webrtcpcap.streams.gaps(df)
    assert g[["first_missing", "count", "late"]].values.tolist() == [[12, 1, 1], [14, 2, 0]]
    assert g["t_before"].tolist() == [0.02, 0.07]
    assert g["t_after"].tolist() == [0.05, 0.20]
    assert g["duration_s"].tolist() == pytest.approx([0.03, 0.13])
    assert (g["count"] - g["late"]).sum() == only_row(webrtcpcap.streams.streams(df))["lost"]


def test_gaps_across_the_wrap_use_extended_numbers():
    g = webrtcpcap.streams.gaps(one_stream([65533, 65534, 2, 65535]))  # 65535 and 0, 1 skipped; 65535 comes late
    assert g[["first_missing", "count", "late"]].values.tolist() == [[65535, 3, 1]]


def test_gaps_of_two_interleaved_streams_stay_apart():
    rows = []
    for i, (a, b) in enumerate(zip([1, 2, 4, 5, 3], [100, 103, 101, 104, 105])):
        rows += [{"t": i * 0.1, "ssrc": 1, "seq": a}, {"t": i * 0.1 + 0.01, "ssrc": 2, "seq": b}]
    g = webrtcpcap.streams.gaps(rtp_table(rows))
    # Sorted by t_after: stream 2 jumps to 103 at 0.11 s, stream 1 to 4 at 0.2 s.
    assert g[["ssrc", "first_missing", "count", "late"]].values.tolist() == \
        [[2, 101, 2, 1], [1, 3, 1, 1]]
    assert g["t_after"].tolist() == [0.11, 0.2]


# --- jitter (RFC 3550 A.8) and clock rates --------------------------------------------------------------------------


def rfc_jitter(arrival_s, ts, rate):
    """RFC 3550 A.8, one packet at a time: transit in timestamp units, J += (|D| - J) / 16; (final, max) in ms."""
    j, jmax, last = 0.0, 0.0, None
    for r, s in zip(arrival_s, ts):
        transit = r * rate - s
        if last is not None:
            d = abs(transit - last)
            j += (d - j) / 16
            jmax = max(jmax, j)
        last = transit
    return j / rate * 1000, jmax / rate * 1000


def crafted_video(n, rate=90000, ssrc=7, start_ts=2**32 - 50_000, seed=1):
    """Video-like packets: 3 per frame at 30 fps (same timestamp), arrival = send time + a known random transit."""
    rng = np.random.default_rng(seed)
    frame = np.arange(n) // 3
    ts = start_ts + frame * (rate // 30)  # crosses the 32-bit wrap after a few frames
    send = frame / 30 + (np.arange(n) % 3) * 0.001
    transit = 0.020 + rng.exponential(0.004, n)
    arrival = send + transit
    order = np.argsort(arrival, kind="stable")  # packets arrive in arrival order, reordering included
    return arrival[order], ts[order], np.arange(n)[order], ssrc


def test_jitter_equals_a_plain_rfc3550_a8_loop_over_several_blocks_and_two_streams():
    rows = []
    expected = {}
    for ssrc, n in ((7, 1000), (8, 300)):
        arrival, ts, seq, _ = crafted_video(n, ssrc=ssrc, seed=ssrc)
        rows += [{"t": float(a), "ts": int(x) % 2**32, "seq": int(s) % 65536, "ssrc": ssrc, "pt": 96}
                 for a, x, s in zip(arrival, ts, seq)]
        expected[ssrc] = rfc_jitter(arrival, ts, 90000)
    rows.sort(key=lambda r: r["t"])  # the two streams interleaved, as on the wire
    s = webrtcpcap.streams.streams(rtp_table(rows), clock_rates={96: 90000}).set_index("ssrc")
    for ssrc, (final, peak) in expected.items():
        assert s.loc[ssrc, "jitter_ms"] == pytest.approx(final, rel=1e-9)
        assert s.loc[ssrc, "max_jitter_ms"] == pytest.approx(peak, rel=1e-9)
        assert (s.loc[ssrc, "clock_rate"], s.loc[ssrc, "clock_rate_source"]) == (90000, "given")


def test_jitter_of_a_perfectly_paced_stream_is_zero():
    r = only_row(webrtcpcap.streams.streams(one_stream(range(50)), clock_rates={96: 48000}))
    assert r["jitter_ms"] == pytest.approx(0, abs=1e-9) and r["max_jitter_ms"] == pytest.approx(0, abs=1e-9)


def test_jitter_is_nan_and_clock_rate_unknown_without_enough_data():
    r = only_row(webrtcpcap.streams.streams(one_stream([1, 2, 3], ts=[5, 5, 5])))
    assert r["clock_rate_source"] == "unknown" and pd.isna(r["clock_rate"])
    assert math.isnan(r["jitter_ms"]) and math.isnan(r["max_jitter_ms"])


def test_infer_clock_rate_of_a_48_khz_audio_stream():
    rng = np.random.default_rng(3)
    n = 200
    t = np.arange(n) * 0.02 + rng.normal(0, 0.002, n).clip(-0.005, 0.005)
    rate, evidence = infer_clock_rate(one_stream(range(n), t=np.sort(t), ts=[1000 + 960 * i for i in range(n)]))
    assert rate == 48000 and "48000 Hz" in evidence


def test_infer_clock_rate_of_a_90_khz_video_stream_across_the_timestamp_wrap():
    arrival, ts, seq, _ = crafted_video(300)
    rate, _ = infer_clock_rate(one_stream(seq, t=arrival, ts=ts))
    assert rate == 90000
    r = only_row(webrtcpcap.streams.streams(one_stream(seq, t=arrival, ts=ts)))
    assert (r["clock_rate"], r["clock_rate_source"]) == (90000, "inferred")


@pytest.mark.parametrize("duration_s", [1.0, 1.5, 3.0])
def test_infer_clock_rate_of_bursty_opus_is_48_khz(duration_s):
    """20 ms Opus frames released in bursts at random instants (exponential gaps, mean 300 ms: a stalled path or a
    Wi-Fi power save flushing its queue).  Pairs a second apart measured anything from 8 to 90 kHz here (44.1 kHz
    and 24 kHz among them); the whole stream and the 960-tick step say 48 kHz, for every seed."""
    n = int(duration_s / 0.02)
    for seed in range(10):
        rng = np.random.default_rng(seed)
        release = np.cumsum(rng.exponential(0.3, 200))
        t = release[np.searchsorted(release, np.arange(n) * 0.02)] + np.arange(n) * 1e-4
        rate, evidence = infer_clock_rate(one_stream(range(n), t=t, ts=[960 * i for i in range(n)], pt=111))
        assert rate == 48000, (seed, evidence)


def test_infer_clock_rate_of_a_short_opus_stream_with_a_stall_is_48_khz():
    """A 200 ms Opus stream (10 packets of 20 ms) whose first packet waited 200 ms behind the rest (arrival span
    0.38 s for 0.18 s of audio: 22.7 kHz measured): Opus is 48 kHz whatever its packetisation (RFC 7587 §4.1)."""
    t = [0.0] + [0.2 + 0.02 * i for i in range(9)]
    rate, evidence = infer_clock_rate(one_stream(range(10), t=t, ts=[960 * i for i in range(10)], pt=111))
    assert rate == 48000 and "Opus" in evidence, evidence


@pytest.mark.parametrize("frame_ms", [10, 20, 40, 60])
def test_infer_clock_rate_of_opus_with_dtx_for_every_frame_size(frame_ms):
    """Opus with DTX: talk spurts of frame_ms packets, then one packet every 400 ms of silence (the timestamp jumps
    by the silence, the sequence number by one)."""
    step = 48 * frame_ms
    rows, seq, t, ts = [], 0, 0.0, 0
    for talk in (0.6, 0.3, 0.5):
        for _ in range(int(talk * 1000 / frame_ms)):
            rows.append((seq, t, ts))
            seq, t, ts = seq + 1, t + frame_ms / 1000, ts + step
        for _ in range(3):
            rows.append((seq, t, ts))
            seq, t, ts = seq + 1, t + 0.4, ts + 19200
    seqs, ts_, ts2 = zip(*rows)
    rate, evidence = infer_clock_rate(one_stream(seqs, t=list(ts_), ts=list(ts2), pt=111))
    assert rate == 48000, evidence


def test_infer_clock_rate_of_a_static_payload_type_is_the_rfc_3551_rate():
    """PCMA (PT 8) is 8000 Hz by RFC 3551 §6, even when too short or too bursty to measure."""
    rate, evidence = infer_clock_rate(one_stream([1, 2, 3], t=[0.0, 0.001, 0.002], ts=[0, 160, 320], pt=8))
    assert rate == 8000 and "RFC 3551" in evidence


def test_infer_clock_rate_of_8_khz_telephone_events_on_a_dynamic_type_is_still_measured():
    n = 100
    rate, _ = infer_clock_rate(one_stream(range(n), t=[0.02 * i for i in range(n)], ts=[160 * i for i in range(n)],
                                          pt=101))
    assert rate == 8000


def test_infer_clock_rate_is_nan_for_one_packet_or_a_very_short_stream():
    assert math.isnan(infer_clock_rate(one_stream([1]))[0])
    assert math.isnan(infer_clock_rate(one_stream([1, 2, 3], t=[0.0, 0.01, 0.02]))[0])


# --- cross-checks against tshark's rtp,streams ----------------------------------------------------------------------

TSHARK_LINE = re.compile(
    r"^\s*(?P<start>[\d.]+)\s+(?P<end>[\d.]+)\s+(?P<src>\S+)\s+(?P<sport>\d+)\s+(?P<dst>\S+)\s+(?P<dport>\d+)\s+"
    r"0x(?P<ssrc>[0-9A-Fa-f]+)\s+(?P<payload>\S+)\s+(?P<pkts>\d+)\s+(?P<lost>-?\d+)\s+\([^)]*\)\s+"
    r"(?P<min_delta>-?[\d.]+)\s+(?P<mean_delta>-?[\d.]+)\s+(?P<max_delta>-?[\d.]+)\s+"
    r"(?P<min_jitter>-?[\d.]+)\s+(?P<mean_jitter>-?[\d.]+)\s+(?P<max_jitter>-?[\d.]+)")

# capture, the media ports tshark is told to decode as RTP (as in the sessions' .meta.json)
CROSS_CHECKS = [
    (CAPTURES / "aiortc_loss5_rtp.pcap", (47079, 57195)),
    (CAPTURES / "janus_echotest_loss5.janus.pcap", (1000, 2000)),
    (CAPTURES / "chromium_aiortc_loss5.pcap", (45495, 46095)),
    (PUBLIC_CAPTURES / "sipp_g711a.pcap", (5000, 2006)),
]


def tshark_streams(path, ports) -> pd.DataFrame:
    args = ["tshark", "-n", "-r", str(path), "-q", "-z", "rtp,streams"]
    for p in ports:
        args[1:1] = ["-d", f"udp.port=={p},rtp"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True).stdout
    rows = [m.groupdict() for m in map(TSHARK_LINE.match, out.splitlines()) if m]
    df = pd.DataFrame(rows)
    for c in ("sport", "dport", "pkts", "lost"):
        df[c] = df[c].astype(int)
    df["ssrc"] = df["ssrc"].map(lambda h: int(h, 16))
    for c in ("min_jitter", "max_jitter"):
        df[c] = df[c].astype(float)
    return df


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
@pytest.mark.parametrize("path,ports", CROSS_CHECKS, ids=[p.name for p, _ in CROSS_CHECKS])
def test_streams_agree_with_tshark_rtp_streams(path, ports):
    """Same streams, same packet counts, tshark's Lost reproduced exactly from ours, jitter where tshark has a rate.

    Lost differs by design: tshark counts (extended number of the last packet to arrive - that of the first to
    arrive + 1) - packets.  Ours is (highest - lowest + 1) - distinct numbers.  So
    tshark_lost = lost - duplicates - (last_seq - ext of the last arrival) - (ext of the first arrival - first_seq).
    RTX streams are separate SSRCs in both, so a retransmission fills no hole in either count.
    """
    if not path.exists():
        pytest.skip(f"{path} is not here")
    theirs = tshark_streams(path, ports)
    cap = open_quiet(path)
    ours = webrtcpcap.streams.streams(cap.rtp)
    ours = ours.assign(src=ours["src"].astype(str), dst=ours["dst"].astype(str))
    key = ["src", "sport", "dst", "dport", "ssrc"]  # tshark does not split a stream by payload type
    assert not ours.duplicated(key).any(), "a stream changes payload type: compare per SSRC by hand"
    assert sorted(map(tuple, ours[key].values.tolist())) == sorted(map(tuple, theirs[key].values.tolist()))
    rtp = cap.rtp[cap.rtp["error"].isna()]
    for _, t in theirs.iterrows():
        o = ours[(ours[key] == t[key].values).all(axis=1)].iloc[0]
        assert o["packets"] == t["pkts"], (t["ssrc"], "packets")
        rows = rtp[(rtp["ssrc"] == t["ssrc"]) & (rtp["sport"] == t["sport"]) & (rtp["dport"] == t["dport"])]
        ext = extend_seq(rows["seq"].to_numpy())
        tshark_lost = (o["lost"] - o["duplicates"] - (o["last_seq"] - ext[-1]) - (ext[0] - o["first_seq"]))
        assert tshark_lost == t["lost"], (t["ssrc"], "lost")
        if t["min_jitter"] == -1:
            # tshark had no clock rate (dynamic payload type, no SDP in the capture): it prints 0 jitter, and
            # tshark has no option to give a dynamic PT a rate without SDP, so there is nothing to compare.
            assert t["max_jitter"] == 0
            continue
        # tshark's maximum skips packets with M set and measures each against the last one in timestamp order; on
        # these streams (one marker, on the first packet; timestamps in order) it is the A.8 maximum.
        assert o["clock_rate"] == 8000 and int(o["pt"]) in (0, 8)
        assert o["max_jitter_ms"] == pytest.approx(t["max_jitter"], rel=0.01, abs=0.0005)


def test_sipp_g711a_jitter_with_the_static_rate_given_matches_tshark():
    path = PUBLIC_CAPTURES / "sipp_g711a.pcap"
    if not path.exists() or shutil.which("tshark") is None:
        pytest.skip("sipp_g711a.pcap or tshark is not here")
    t = tshark_streams(path, (5000, 2006)).iloc[0]
    r = only_row(webrtcpcap.streams.streams(open_quiet(path).rtp, clock_rates={8: 8000}))
    assert r["clock_rate_source"] == "given"
    assert r["max_jitter_ms"] == pytest.approx(t["max_jitter"], rel=0.01, abs=0.0005)


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_lost_differs_from_tshark_by_duplicates_and_a_late_last_packet(tmp_path):
    """A crafted call where the two definitions of Lost part: a duplicate, and a late packet arriving last."""
    seqs = [10, 12, 11, 11, 14, 16, 15]  # 13 lost; 11 twice; 15 arrives after 16
    frames = [udp4(rtp_packet(ssrc=0xABCD, seq=s, ts=160 * s, pt=0), sport=5000, dport=6000) for s in seqs]
    path = write_pcap(tmp_path / "dup_late.pcap", frames)
    t = only_row(tshark_streams(path, (5000, 6000)))
    r = only_row(webrtcpcap.streams.streams(open_quiet(path, webrtc=[5000]).rtp))  # no STUN: tell it the flow is WebRTC
    assert (r["packets"], r["expected"], r["lost"], r["duplicates"], r["reordered"]) == (7, 7, 1, 1, 2)
    # tshark: (15 - 10 + 1) - 7 = -1; ours minus the duplicate minus (highest 16 - last arrival 15).
    assert t["pkts"] == 7 and t["lost"] == -1 == r["lost"] - r["duplicates"] - (16 - 15)


# --- RTX association and repairs (RFC 4588) --------------------------------------------------------------------------

LOSS5 = CAPTURES / "aiortc_loss5_rtp"
JANUS = CAPTURES / "janus_echotest_loss5"


def sdp_paths(base):
    return [str(base) + ".offer.sdp", str(base) + ".answer.sdp"]


def fid_lines(base) -> set[tuple[int, int]]:
    """(media, rtx) from the SDP text's a=ssrc-group:FID lines, read with a regex, not the parser."""
    out = set()
    for path in sdp_paths(base):
        for m in re.finditer(r"^a=ssrc-group:FID (\d+) (\d+)\s*$", open(path).read(), re.M):
            out.add((int(m.group(1)), int(m.group(2))))
    return out


def raw_rtp_packets(path) -> dict[int, bytes]:
    """{frame: UDP payload} of a classic pcap of Ethernet/IPv4/UDP frames, parsed with struct only."""
    import struct
    data = open(path, "rb").read()
    magic = struct.unpack_from("<I", data)[0]
    assert magic in (0xA1B2C3D4, 0xA1B23C4D)
    linktype = struct.unpack_from("<I", data, 20)[0]
    pos, frame, out = 24, 0, {}
    while pos + 16 <= len(data):
        incl = struct.unpack_from("<I", data, pos + 8)[0]
        pkt = data[pos + 16:pos + 16 + incl]
        pos += 16 + incl
        frame += 1
        l3 = {1: 14, 101: 0, 113: 16}[linktype]
        if linktype == 1 and struct.unpack_from(">H", pkt, 12)[0] != 0x0800:
            continue
        ihl = (pkt[l3] & 0x0F) * 4
        if pkt[l3 + 9] != 17:
            continue
        udp_len = struct.unpack_from(">H", pkt, l3 + ihl + 4)[0]
        out[frame] = pkt[l3 + ihl + 8:l3 + ihl + udp_len]
    return out


def raw_osn(packet: bytes) -> int | None:
    """RFC 4588 OSN from a raw RTP packet: skip header, CSRCs, extension; None for padding-only packets."""
    import struct
    cc, x, p = packet[0] & 0x0F, packet[0] & 0x10, packet[0] & 0x20
    off = 12 + 4 * cc
    if x:
        off += 4 + 4 * struct.unpack_from(">H", packet, off + 2)[0]
    end = len(packet) - (packet[-1] if p else 0)
    return struct.unpack_from(">H", packet, off)[0] if end - off >= 2 else None


def test_rtx_pairs_from_fid_match_the_sdp_ssrc_group_lines():
    cap = open_quiet(str(LOSS5) + ".pcap", sdp=sdp_paths(LOSS5))
    pairs = webrtcpcap.streams.rtx_pairs(cap.streams, cap.sdp)
    seen = set(cap.streams["ssrc"].astype(int))
    expected = {(m, r) for m, r in fid_lines(LOSS5) if m in seen and r in seen}
    assert set(zip(pairs["media_ssrc"].astype(int), pairs["rtx_ssrc"].astype(int))) == expected == {
        (2459559700, 1052556438)}
    assert pairs["source"].tolist() == ["sdp ssrc-group FID"]
    assert (int(pairs["rtx_pt"][0]), int(pairs["media_pt"][0])) == (98, 97)  # a=fmtp:98 apt=97


def test_rtx_pairs_fall_back_to_apt_on_the_same_5_tuple_without_fid_lines():
    texts = [re.sub(r"^a=ssrc-group:FID.*\n", "", open(p).read(), flags=re.M) for p in sdp_paths(LOSS5)]
    cap = open_quiet(str(LOSS5) + ".pcap", sdp=texts)
    pairs = webrtcpcap.streams.rtx_pairs(cap.streams, cap.sdp)
    assert list(zip(pairs["rtx_ssrc"].astype(int), pairs["media_ssrc"].astype(int), pairs["source"])) == [
        (1052556438, 2459559700, "sdp apt + same 5-tuple")]


def test_rtx_pairs_on_srtp_without_sdp_find_nothing():
    cap = open_quiet(str(LOSS5) + ".pcap")
    assert len(webrtcpcap.streams.rtx_pairs(cap.streams, None, cap.rtp, cap.rtp_payload)) == 0


WITH_SDP = sorted({p.name.split(".")[0] for p in CAPTURES.glob("*.offer.sdp")}
                  | {"bwe/" + p.name.split(".")[0] for p in (CAPTURES / "bwe").glob("*.offer.sdp")})


@pytest.mark.parametrize("name", WITH_SDP)
def test_rtx_pairs_from_rtp_timestamps_alone_agree_with_the_fid_lines(name):
    # Without SDP or keys (SRTP payloads unreadable) only the timestamps can pair an RTX stream; every pair they
    # make must be one the SDP's FID lines name.  On the Chromium capture they find the video's RTX stream, whose
    # packets began as padding-only probes.
    base = CAPTURES / name
    cap = open_quiet(str(base) + ".pcap")
    pairs = webrtcpcap.streams.rtx_pairs(cap.streams, None, cap.rtp, timestamps=True)
    got = set(zip(pairs["media_ssrc"].astype(int), pairs["rtx_ssrc"].astype(int)))
    assert got <= fid_lines(base)
    assert set(pairs["source"]) <= {"rtp timestamps", "rtp timestamps after losses"}
    if name == "chromium_aiortc_loss5":
        assert got == {(1720105917, 1080474563)}
    if name == "aiortc_outage3s":  # the RTX burst after the outage: its originals never arrived
        assert got == {(915313456, 830360910)} and set(pairs["source"]) == {"rtp timestamps after losses"}
    if name == "bwe/freeze3s":  # Firefox resent the 56 frames its 3 s video outage took whole, on RTX (pt 124 for 122)
        assert got == {(1114938150, 803493967)} and set(pairs["source"]) == {"rtp timestamps after losses"}
    assert len(webrtcpcap.streams.rtx_pairs(cap.streams, None, cap.rtp)) == 0  # opt-in evidence only


@pytest.mark.parametrize("name", WITH_SDP)
def test_stream_roles_opened_bare_agree_with_the_sdp(name):
    """Opened without SDP or keys, every stream gets the role the SDP gives it: the RTX SSRCs of the FID lines are
    rtx (paired with their media) or, when they carried only Chromium's padding probes, padding; every other
    stream is media.  Ground truth: the session's own SDP files."""
    base = CAPTURES / name
    st = open_quiet(str(base) + ".pcap").streams
    fid = {r: m for m, r in fid_lines(base)}
    for r in st.itertuples(index=False):
        ssrc = int(r.ssrc)
        if ssrc in fid:
            assert r.role in ("rtx", "padding"), (ssrc, r.role)
            if r.role == "rtx":
                assert int(r.role_of) == fid[ssrc] and r.kind == "rtx" and np.isnan(r.jitter_ms)
            else:
                assert r.role_evidence.startswith("wire: every packet")
        else:
            assert r.role == "media" and pd.isna(r.role_of), (ssrc, r.role, r.role_evidence)
        assert r.role_evidence


def test_stream_roles_from_the_sdp_name_the_sdp():
    st = open_quiet(str(LOSS5) + ".pcap", sdp=sdp_paths(LOSS5)).streams
    rtx = only_row(st[st["role"] == "rtx"])
    assert (int(rtx["ssrc"]), int(rtx["role_of"])) == (1052556438, 2459559700)
    assert rtx["role_evidence"] == "SDP: a=ssrc-group:FID 2459559700 1052556438"
    assert set(st.loc[st["role"] == "media", "role_evidence"].str[:4]) == {"SDP:"}


def test_padding_only_stream_is_padding_and_rtx_with_probes_stays_rtx():
    """Chromium probes the path with padding-only packets (P bit, payload all padding), on the RTX SSRC when there
    is one.  A stream of only such packets is `padding`; an RTX stream that also carried probes stays rtx."""
    media = [{"t": 0.02 * i, "seq": i, "ts": 3000 * (i // 2), "ssrc": 1, "pt": 96} for i in range(200)]
    probes = [{"t": 0.5 + 0.001 * i, "seq": 500 + i, "ts": 777, "ssrc": 2, "pt": 97, "padding": True,
               "payload_len": 0} for i in range(20)]
    st = webrtcpcap.streams.streams(rtp_table(media + probes)).set_index("ssrc")
    assert (st.at[1, "role"], st.at[2, "role"]) == ("media", "padding")
    assert st.at[2, "role_evidence"].startswith("wire: every packet (20) has the padding bit")
    # plaintext: the payload says so (empty after the padding is removed)
    st = webrtcpcap.streams.streams(rtp_table(media + probes), payload=lambda frame: b"").set_index("ssrc")
    assert st.at[2, "role_evidence"].startswith("payload: every packet (20) is padding only")
    # the same SSRC later retransmitting media packets (their timestamps repeat the media's, after them)
    rtx = [{"t": 2.0 + 0.1 * i, "seq": 520 + i, "ts": 3000 * (40 + i), "ssrc": 2, "pt": 97} for i in range(5)]
    st = webrtcpcap.streams.streams(rtp_table(media + probes + rtx)).set_index("ssrc")
    assert (st.at[2, "role"], st.at[2, "role_of"], st.at[2, "kind"]) == ("rtx", 1, "rtx")
    assert st.at[2, "role_evidence"].startswith("wire: its RTP timestamps repeat those of ssrc 1")


def test_rtx_after_an_outage_is_paired_by_losses_and_payload_type_not_by_repeated_timestamps():
    """Receiver side of an outage: the originals never arrived, so no RTX timestamp repeats one received; the RTX
    stream (PT 97 = 96 + 1) comes only after the hole, with timestamps inside the media's."""
    media = [{"t": 0.02 * i, "seq": i, "ts": 1800 * i, "ssrc": 1, "pt": 96} for i in range(300) if not 100 <= i < 150]
    rtx = [{"t": 3.0 + 0.001 * k, "seq": 9000 + k, "ts": 1800 * (100 + k), "ssrc": 2, "pt": 97} for k in range(30)]
    st = webrtcpcap.streams.streams(rtp_table(media + rtx)).set_index("ssrc")
    assert (st.at[2, "role"], st.at[2, "role_of"]) == ("rtx", 1)
    assert "only after that stream's losses" in st.at[2, "role_evidence"]
    # the same packets with an unrelated payload type, or before the loss, are not called RTX
    other = [{**r, "pt": 111} for r in rtx]
    assert webrtcpcap.streams.streams(rtp_table(media + other)).set_index("ssrc").at[2, "role"] == "media"
    early = [{**r, "t": r["t"] - 2.9} for r in rtx]
    assert webrtcpcap.streams.streams(rtp_table(media + early)).set_index("ssrc").at[2, "role"] == "media"


def test_rtx_pairs_from_payload_osn_agree_with_fid_on_the_janus_dump():
    cap = open_quiet(str(JANUS) + ".janus.pcap", sdp=sdp_paths(JANUS))
    by_sdp = webrtcpcap.streams.rtx_pairs(cap.streams, cap.sdp)
    by_osn = webrtcpcap.streams.rtx_pairs(cap.streams, None, cap.rtp, cap.rtp_payload)
    key = ["rtx_ssrc", "rtx_pt", "media_ssrc", "media_pt"]
    assert by_sdp[key].equals(by_osn[key])
    assert set(zip(by_sdp["media_ssrc"].astype(int), by_sdp["rtx_ssrc"].astype(int))) == fid_lines(JANUS)
    assert set(by_osn["source"]) == {"payload OSN"}


def test_rtx_pairs_reads_whole_streams_only_where_their_first_osns_fit_another_stream():
    # Without an SDP every plaintext stream is a candidate; reading each packet of the media streams (one frame read
    # each) made health on a Janus dump take 25-45 s.  A stream whose first OSNs lie outside every other stream of its
    # 5-tuple cannot be RTX, so only a few of its packets are read.
    cap = open_quiet(str(JANUS) + ".janus.pcap")
    read = []

    def payload(frame):
        read.append(int(frame))
        return cap.rtp_payload(frame)

    pairs = webrtcpcap.streams.rtx_pairs(cap.streams, None, cap.rtp, payload)
    assert set(zip(pairs["media_ssrc"].astype(int), pairs["rtx_ssrc"].astype(int))) == fid_lines(JANUS)
    rtx_packets = int(cap.rtp["ssrc"].isin(pairs["rtx_ssrc"].astype(int).tolist()).sum())
    others = int((~cap.streams["ssrc"].isin(pairs["rtx_ssrc"].astype(int).tolist())).sum())
    assert len(set(read)) <= rtx_packets + 8 * others < len(cap.rtp) // 4


def test_rtp_payload_osn_matches_struct_parse_of_the_raw_file():
    cap = open_quiet(str(JANUS) + ".janus.pcap")
    raw = raw_rtp_packets(str(JANUS) + ".janus.pcap")
    rtx = cap.rtp[cap.rtp["ssrc"].isin([1119397491, 115779375])]
    osn = webrtcpcap.streams.rtx_osn(rtx, cap.rtp_payload)
    expected = [raw_osn(raw[int(f)]) for f in rtx["frame"]]
    assert [None if pd.isna(v) else int(v) for v in osn] == expected
    assert sum(v is None for v in expected) == 8  # Chromium's padding-only probes carry no OSN


def test_repairs_on_the_janus_dump_every_lost_video_packet_came_back_on_rtx():
    cap = open_quiet(str(JANUS) + ".janus.pcap", sdp=sdp_paths(JANUS))
    raw = raw_rtp_packets(str(JANUS) + ".janus.pcap")
    pairs = webrtcpcap.streams.rtx_pairs(cap.streams, cap.sdp)
    rep = webrtcpcap.streams.repairs(cap.rtp, pairs, cap.rtp_payload)
    video = rep[rep["ssrc"] == 1031184762]
    rtx_frames = cap.rtp.loc[cap.rtp["ssrc"] == 1119397491, "frame"]
    osns = {raw_osn(raw[int(f)]) for f in rtx_frames}
    assert len(video) == 14 and set(video["status"]) == {"rtx"}
    assert set(video["seq"] % 65536) <= osns
    # Janus forwards the repaired packets in its own stream, where they are late, not lost.
    echoed = rep[rep["ssrc"] == 683022090]
    assert len(echoed) == 14 and set(echoed["status"]) == {"late"}
    assert set(rep.loc[rep["ssrc"].isin([4033778364, 4208808731]), "status"]) == {"no rtx stream"}
    assert not rep["ssrc"].isin(pairs["rtx_ssrc"].tolist()).any()  # lost retransmissions are not media holes


def test_repairs_on_srtp_say_unknown_and_the_counts_match():
    cap = open_quiet(str(LOSS5) + ".pcap", sdp=sdp_paths(LOSS5))
    pairs = webrtcpcap.streams.rtx_pairs(cap.streams, cap.sdp)
    rep = webrtcpcap.streams.repairs(cap.rtp, pairs, cap.rtp_payload)
    counts = rep.groupby(["ssrc", "status"], observed=True).size().to_dict()
    assert counts == {(151305065, "no rtx stream"): 43, (2459559700, "unknown"): 30}
    st = cap.streams.set_index("ssrc")
    assert st.at[2459559700, "lost"] == 30 == st.at[1052556438, "packets"]
    assert st.at[151305065, "lost"] == 43


def test_repairs_without_payload_reader_say_unknown():
    cap = open_quiet(str(JANUS) + ".janus.pcap", sdp=sdp_paths(JANUS))
    rep = webrtcpcap.streams.repairs(cap.rtp, webrtcpcap.streams.rtx_pairs(cap.streams, cap.sdp))
    assert set(rep.loc[rep["ssrc"] == 1031184762, "status"]) == {"unknown"}


def test_notebook_03_numbers():
    clean = open_quiet(str(CAPTURES / "aiortc_clean.pcap"), sdp=sdp_paths(CAPTURES / "aiortc_clean"))
    st = clean.streams
    assert (st[["lost", "duplicates", "reordered"]] == 0).all().all() and len(st) == 4
    assert set(st["clock_rate_source"]) == {"given"}
    lossy = open_quiet(str(LOSS5) + ".pcap", sdp=sdp_paths(LOSS5))
    g = webrtcpcap.streams.gaps(lossy.rtp)
    agg = g.groupby("ssrc")["count"].agg(["size", "sum", "max"]).to_dict("index")
    assert agg == {151305065: {"size": 42, "sum": 43, "max": 2}, 2459559700: {"size": 28, "sum": 30, "max": 2}}
    assert g["late"].sum() == 0
    janus = open_quiet(str(JANUS) + ".janus.pcap", sdp=sdp_paths(JANUS))
    jst = janus.streams.set_index("ssrc")
    assert jst.at[1031184762, "lost"] == 14 and jst.at[683022090, "reordered"] == 14
    rep = webrtcpcap.streams.repairs(janus.rtp, webrtcpcap.streams.rtx_pairs(janus.streams, janus.sdp),
                                     janus.rtp_payload)
    video = rep[rep["status"] == "rtx"]
    delay_ms = ((video["rtx_t"] - video["t_after"]) * 1000).round(1)
    assert video["seq"].tolist()[:3] == [6411, 6453, 6496]
    assert delay_ms.tolist()[:3] == [49.7, 51.9, 51.6] and delay_ms.min() == -9.9


# --- per-packet view and the receiver's view --------------------------------------------------------------------


def test_packet_view_series_end_in_the_stream_statistics_and_follow_a_plain_a8_loop():
    rows = []
    expected = {}
    for ssrc, n in ((7, 400), (8, 150)):
        arrival, ts, seq, _ = crafted_video(n, ssrc=ssrc, seed=ssrc)
        rows += [{"t": float(a), "ts": int(x) % 2**32, "seq": int(s) % 65536, "ssrc": ssrc, "pt": 96}
                 for a, x, s in zip(arrival, ts, seq)]
        expected[ssrc] = (arrival, ts)
    rows.sort(key=lambda r: r["t"])
    rtp = rtp_table(rows)
    view = webrtcpcap.streams.packet_view(rtp, clock_rates={96: 90000})
    assert tables.check_schema(view, webrtcpcap.streams.PACKET_VIEW_SCHEMA) == []
    assert len(view) == len(rtp)
    s = webrtcpcap.streams.streams(rtp, clock_rates={96: 90000}).set_index("ssrc")
    for ssrc, (arrival, ts) in expected.items():
        v = view[view.ssrc == ssrc]
        assert v.t.tolist() == sorted(arrival.tolist())  # each stream in arrival order
        assert v.jitter_ms.iloc[-1] == pytest.approx(s.loc[ssrc, "jitter_ms"], rel=1e-12)
        assert v.jitter_ms.max() == pytest.approx(s.loc[ssrc, "max_jitter_ms"], rel=1e-12)
        assert v.ext_seq.tolist() == extend_seq(v.seq.to_numpy()).tolist()
        # transit: arrival minus media time, relative to the first packet (plain arithmetic on the crafted values)
        order = np.argsort(arrival, kind="stable")
        a, x = arrival[order], ts[order].astype(np.int64)
        want = ((a - a[0]) - (x - x[0]) / 90000) * 1000
        assert np.allclose(v.transit_ms.to_numpy(), want, atol=1e-6)
        assert v.arrival_delta_ms.iloc[0] == 0 and np.allclose(v.arrival_delta_ms.iloc[1:], np.diff(a) * 1000)


def test_packet_view_without_a_clock_rate_has_no_jitter_or_transit():
    view = webrtcpcap.streams.packet_view(one_stream([1, 2]))  # too short to infer a rate
    assert view.jitter_ms.isna().all() and view.transit_ms.isna().all()
    assert len(webrtcpcap.streams.packet_view(one_stream([]))) == 0


@pytest.mark.parametrize("name", ["aiortc_loss5_rtp", "aiortc_loss_both", "chromium_aiortc_loss5", "aiortc_outage3s"])
def test_receivers_cumulative_lost_equals_what_the_capture_lacks_up_to_the_reported_highest_seq(name):
    """The capture is at b, after a's losses: for every stream b received, b's last RTCP report block counts exactly
    the packets the capture lacks up to the highest number b reported (ground truth: b's own RTCP, decrypted)."""
    path = CAPTURES / f"{name}.pcap"
    cap = open_quiet(str(path), keylog=str(CAPTURES / f"{name}.keylog"), sdp=sdp_paths(CAPTURES / name))
    view = webrtcpcap.streams.receiver_view(cap.streams, cap.rtp, cap.rtcp_report_blocks)
    assert tables.check_schema(view, webrtcpcap.streams.RECEIVER_VIEW_SCHEMA) == []
    b = "10.99.0.2"
    received = view[(view.dst == b) & (view.reports > 0)]
    assert len(received) >= 2 and received.lost.sum() > 0
    assert received.reported_cumulative_lost.tolist() == received.lost_until_report.tolist()
    sent = view[view.src == b]
    assert (sent.lost == 0).all()  # b's own packets: the capture is before any loss


def test_lost_packets_are_exactly_those_chromium_sent_and_the_capture_lacks():
    """Chromium's RTP dump logs every packet it sent, before the network: the packets the capture lacks between a
    stream's first and last packet are exactly the gaps we report (nothing else: no false loss, none missed)."""
    name = CAPTURES / "chromium_aiortc_loss5"
    cap = open_quiet(str(name) + ".pcap")
    dump = open_quiet(str(name) + ".rtpdump.pcap").rtp
    sent = dump[dump.src == "10.3.3.1"]  # Chromium's outbound packets
    rtp = cap.rtp[cap.rtp.src == "10.99.0.1"]  # what reached b
    gaps = webrtcpcap.streams.gaps(rtp)
    checked = 0
    for ssrc, group in rtp.groupby("ssrc"):
        ext = extend_seq(group.seq.to_numpy())
        got = set((ext % 65536).tolist())
        lo, hi = int(ext.min()), int(ext.max())
        sent_seq = set(sent.loc[sent.ssrc == ssrc, "seq"].astype(int))
        span = {int(e) % 65536 for e in range(lo, hi + 1)}
        truth = (sent_seq & span) - got
        g = gaps[gaps.ssrc == ssrc]
        reported = {int(e) % 65536 for f, c in zip(g.first_missing, g["count"]) for e in range(f, f + c)} - got
        assert reported == truth, ssrc
        checked += len(truth)
    assert checked > 30  # about 5 % of Chromium's media was dropped
    assert cap.streams[cap.streams.src == "10.99.0.1"].lost.sum() == checked


def test_kind_and_codec_come_from_the_sdp_and_without_it_from_the_clock_rate():
    name = CAPTURES / "chromium_aiortc_loss5"
    with_sdp = open_quiet(str(name) + ".pcap", sdp=sdp_paths(name)).streams.set_index("pt")
    # the SDPs map 111 opus (audio), 96 VP8 and 97 rtx apt=96 (video)
    assert set(zip(with_sdp.index, with_sdp.kind.astype(str), with_sdp.codec.astype(str))) == {
        (111, "audio", "opus"), (96, "video", "VP8"), (97, "rtx", "rtx")}
    without = open_quiet(str(name) + ".pcap").streams.set_index("pt")
    assert without.codec.isna().all()
    assert set(without.loc[[111], "kind"]) == {"audio"} and set(without.loc[[96], "kind"]) == {"video"}


def test_max_delta_is_the_longest_silence_of_a_stream():
    t = [0.0, 0.02, 0.04, 1.5, 1.52, 0.05]  # the last one arrives late but belongs in time order below
    r = only_row(webrtcpcap.streams.streams(one_stream(range(6), t=sorted(t))))
    assert r.max_delta_ms == pytest.approx((1.5 - 0.05) * 1000)
    outage = open_quiet(str(CAPTURES / "aiortc_outage3s.pcap")).streams
    dropped = outage[(outage.dst == "10.99.0.2") & outage.kind.isin(["audio", "video"])]  # a's media to b: cut 3 s
    assert (dropped.max_delta_ms > 2900).all() and (outage[outage.dst == "10.99.0.1"].max_delta_ms < 1000).any()


def test_with_the_key_log_every_video_hole_of_the_srtp_capture_was_repaired_by_rtx():
    """aiortc_loss5_rtp: 30 video packets missing, 30 RTX packets; decrypted, each RTX OSN names one of the holes."""
    cap = open_quiet(str(LOSS5) + ".pcap", sdp=sdp_paths(LOSS5), keylog=str(LOSS5) + ".keylog")
    pairs = webrtcpcap.streams.rtx_pairs(cap.streams, cap.sdp)
    rep = webrtcpcap.streams.repairs(cap.rtp, pairs, cap.rtp_payload)
    video = rep[rep["ssrc"] == 2459559700]
    assert len(video) == 30 and set(video["status"]) == {"rtx"}
    rtx = cap.rtp[cap.rtp["ssrc"] == 1052556438]
    osn = webrtcpcap.streams.rtx_osn(rtx, cap.rtp_payload)
    assert sorted(int(x) for x in osn) == sorted(int(s) % 65536 for s in video["seq"])
    # and without the SDP, the decrypted OSNs alone pair the RTX stream with its media stream
    by_osn = webrtcpcap.streams.rtx_pairs(cap.streams, None, cap.rtp, cap.rtp_payload)
    assert list(zip(by_osn["rtx_ssrc"], by_osn["media_ssrc"], by_osn["source"])) == [
        (1052556438, 2459559700, "payload OSN")]


def test_a_red_video_stream_is_media_not_fec():
    """Firefox wraps every VP8 packet in RED (RFC 2198) when ulpfec is negotiated: the RED stream (PT 122 in the SDP)
    is the video itself, judged as media; only ulpfec/flexfec streams are fec."""
    name = "firefox_firefox_clean"
    cap = open_quiet(CAPTURES / f"{name}.pcap", sdp=[CAPTURES / f"{name}.offer.sdp", CAPTURES / f"{name}.answer.sdp"])
    red = cap.streams[cap.streams["codec"].astype(object) == "red"]
    assert len(red) == 2  # one video stream each way
    assert set(red["role"].astype(object)) == {"media"} and set(red["kind"].astype(object)) == {"video"}
