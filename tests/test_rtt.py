"""Round-trip time from SR/RR (RFC 3550 §6.4.1) as a capture sees it: crafted reports with known times, and the
Janus dumps against Chromium's own count of RTT measurements."""

from __future__ import annotations

import json
import struct

import numpy as np
import pandas as pd
import pytest

from webrtcpcap.tables import media_tables as mt
from webrtcpcap import rtt

from conftest import CAPTURES

NTP = 0xE1D2C3B4_80000000  # an SR's NTP timestamp; its LSR key is the middle 32 bits
LSR = (NTP >> 16) & 0xFFFFFFFF


def sr(ssrc, ntp=NTP) -> bytes:
    return struct.pack(">BBHIQIII", 0x80, 200, 6, ssrc, ntp, 0, 0, 0)


def rr(reporter, source, lsr, dlsr) -> bytes:
    return struct.pack(">BBHI", 0x81, 201, 7, reporter) + struct.pack(">IIIIII", source, 0, 0, 0, lsr, dlsr)


def tables_of(payloads, times):
    n = len(payloads)
    keys = {"frame": np.arange(1, n + 1, dtype=np.uint32), "t": np.array(times, dtype=np.float64),
            "src": pd.Categorical(["a"] * n), "dst": pd.Categorical(["b"] * n),
            "sport": np.zeros(n, np.uint16), "dport": np.zeros(n, np.uint16)}
    out = mt.rtcp_report_tables(keys, payloads)
    return out["rtcp_sender_reports"], out["rtcp_report_blocks"]


def test_rtt_at_the_sr_senders_side_is_the_round_trip_minus_the_reporters_hold_time():
    # A (SSRC 0xA) sends an SR at t = 1.0; B's RR comes back at t = 1.2 having held it 0.125 s (8192/65536).
    srs, blocks = tables_of([sr(0xA), rr(0xB, 0xA, LSR, 8192)], [1.0, 1.2])
    got = rtt.round_trip_times(srs, blocks)
    assert got[["frame", "reporter_ssrc", "source_ssrc", "lsr"]].values.tolist() == [[2, 0xB, 0xA, LSR]]
    assert got.found.tolist() == [True] and got.sr_frame.tolist() == [1] and got.sr_t.tolist() == [1.0]
    assert got.dlsr_s.tolist() == [0.125]
    assert got.rtt_ms.iloc[0] == pytest.approx(75.0, abs=1e-9)
    assert got.rtt_rfc_ms.iloc[0] == pytest.approx(75.0, abs=1000 / 65536)
    assert [str(d) for d in got.dtypes] == list(rtt.RTT_SCHEMA.values())


def test_rtt_at_the_reporters_side_is_about_zero():
    # Captured at B: the SR arrives at t = 1.0, B answers at t = 1.125 and says it held the SR 0.125 s.
    srs, blocks = tables_of([sr(0xA), rr(0xB, 0xA, LSR, 8192)], [1.0, 1.125])
    assert rtt.round_trip_times(srs, blocks).rtt_ms.iloc[0] == pytest.approx(0.0, abs=1e-9)


def test_blocks_without_lsr_are_left_out_and_unknown_srs_are_not_found():
    srs, blocks = tables_of([sr(0xA), rr(0xB, 0xA, 0, 0), rr(0xB, 0xA, LSR + 1, 0), rr(0xB, 0xC, LSR - 1, 0)],
                            [0.0, 0.1, 0.2, 0.3])
    got = rtt.round_trip_times(srs, blocks)
    assert got.frame.tolist() == [3, 4]  # the LSR = 0 block (no SR received yet) has no RTT
    assert got.found.tolist() == [False, False]
    assert got.sr_frame.isna().all() and got.rtt_ms.isna().all() and got.rtt_rfc_ms.isna().all()


def test_the_last_sr_with_the_key_before_the_report_wins():
    # The same SR seen twice (e.g. in and out of a relay), then the report, then a late duplicate.
    srs, blocks = tables_of([sr(0xA), sr(0xA), rr(0xB, 0xA, LSR, 0), sr(0xA)], [1.0, 1.01, 1.05, 2.0])
    got = rtt.round_trip_times(srs, blocks)
    assert got.sr_frame.tolist() == [2] and got.rtt_ms.iloc[0] == pytest.approx(40.0)


def test_a_block_on_another_ssrc_falls_back_to_the_sr_with_its_lsr():
    # libwebrtc reports on an RTX SSRC (0xD) with the LSR of the media stream's SR (0xA).
    srs, blocks = tables_of([sr(0xA), rr(0xB, 0xD, LSR, 0)], [1.0, 1.03])
    got = rtt.round_trip_times(srs, blocks)
    assert got.found.tolist() == [True] and got.sr_ssrc.tolist() == [0xA] and got.rtt_ms.iloc[0] == pytest.approx(30)


def test_rtt_of_no_reports_is_an_empty_table():
    srs, blocks = tables_of([], [])
    got = rtt.round_trip_times(srs, blocks)
    assert len(got) == 0 and [str(d) for d in got.dtypes] == list(rtt.RTT_SCHEMA.values())


@pytest.mark.parametrize("name", ["janus_echotest_clean", "janus_echotest_loss5"])
def test_janus_dump_gives_one_rtt_per_measurement_chromium_made(name):
    """Janus' dump is written at Janus: Janus' RRs on Chromium's SRs are the ones Chromium computes its RTT from
    (remote-inbound-rtp roundTripTimeMeasurements); at Janus' side they give about 0, while Chromium's RRs on
    Janus' SRs give the real round trip Janus -> Chromium -> Janus (positive)."""
    import webrtcpcap
    from test_rtcp import udp_payload

    cap = webrtcpcap.open(CAPTURES / f"{name}.janus.pcap")
    rows = cap.packets[cap.packets.kind == "rtcp"]
    keys = {k: rows[k].to_numpy() if k not in ("src", "dst") else rows[k].array for k in ("frame", "t", "src", "dst")}
    keys["sport"] = rows.sport.to_numpy(dtype=np.uint16)
    keys["dport"] = rows.dport.to_numpy(dtype=np.uint16)
    out = mt.rtcp_report_tables(keys, [udp_payload(cap, f) for f in rows.frame.tolist()])
    got = rtt.round_trip_times(out["rtcp_sender_reports"], out["rtcp_report_blocks"])
    stats = json.loads((CAPTURES / f"{name}.getstats.json").read_text())["a"]
    remote_inbound = {int(v["ssrc"]): v for v in stats.values() if v.get("type") == "remote-inbound-rtp"}
    assert remote_inbound
    for ssrc, v in remote_inbound.items():
        mine = got[(got.source_ssrc == ssrc) & got.found]
        assert len(mine) == v["roundTripTimeMeasurements"], ssrc
        assert (mine.src.astype(str) == "10.2.2.2").all()  # sent by Janus: the reporter's side
    from_chromium = got[got.src.astype(str) == "10.1.1.1"]
    assert len(from_chromium) and from_chromium.found.all()
    assert (from_chromium.rtt_ms > 0).all() and (from_chromium.rtt_ms < 100).all()
    assert np.allclose(got.rtt_ms.dropna(), got.rtt_rfc_ms.dropna(), atol=2 * 1000 / 65536)
