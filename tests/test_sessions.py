"""Calls in one file (webrtcpcap.tables.sessions, cap.sessions): two recorded calls merged with overlapping times read as
two calls, each with the ICE timings it has alone; ICE restarts are generations of one call, never one long
connect time."""

from __future__ import annotations

import re
import warnings
from functools import lru_cache

import pandas as pd
import pytest

import webrtcpcap
from webrtcpcap import analysis, ice
from webrtcpcap.tables import sessions, schema as tables, writer
from webrtcpcap.report.health import SEVERITIES, health

from conftest import CAPTURES

FIRST, SECOND = "aiortc_clean", "chromium_aiortc_loss5"
OVERLAP_S = 3.0  # the second call starts this long after the first


def _open(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return webrtcpcap.open(path, progress=False)


@lru_cache(maxsize=None)
def alone(name: str):
    return _open(CAPTURES / f"{name}.pcap")


def _start_s(cap) -> float:
    return cap.packets["time"].iloc[0].value / 1e9


@pytest.fixture(scope="module")
def merged(tmp_path_factory):
    """FIRST and SECOND in one file, SECOND starting OVERLAP_S after FIRST (both calls last ~12 s: they overlap)."""
    path = tmp_path_factory.mktemp("merged") / "two_calls.pcap"
    a, b = alone(FIRST), alone(SECOND)
    writer.merge(path, [(CAPTURES / f"{FIRST}.pcap", 0.0),
                        (CAPTURES / f"{SECOND}.pcap", _start_s(a) + OVERLAP_S - _start_s(b))])
    return _open(path)


def _connect_ms(h) -> list[float]:
    f = h.findings
    return f.loc[f["check"] == "ice.connected", "measured"].astype(float).tolist()


def test_two_overlapping_calls_read_as_two_sessions(merged):
    s = merged.sessions
    assert tables.check_schema(s, sessions.SESSIONS_SCHEMA) == []
    assert len(s) == 2 and s["kind"].astype(str).tolist() == ["ice", "ice"]
    assert s["end_t"].iloc[0] > s["start_t"].iloc[1]  # they overlap in time
    for row, name in zip(s.itertuples(index=False), (FIRST, SECOND)):
        one = alone(name).sessions
        assert len(one) == 1
        assert (row.ufrags, row.packets, row.ssrcs, row.rtp, row.dtls) == (
            one["ufrags"].iloc[0], one["packets"].iloc[0], one["ssrcs"].iloc[0], one["rtp"].iloc[0],
            one["dtls"].iloc[0])
    kinds = merged.packets["kind"].astype(str)
    assert s["packets"].sum() == int(kinds.isin(["stun", "dtls", "rtp", "rtcp"]).sum())  # ARP, mDNS: no call


def test_each_call_has_the_ice_connect_time_it_has_alone(merged):
    h = health(merged)
    got = _connect_ms(h)
    want = [_connect_ms(health(alone(n)))[0] for n in (FIRST, SECOND)]
    assert got == pytest.approx(want, abs=0.01)
    assert max(got) < 1000  # not the time from the first call's first check to the second call's connection
    connected = h.findings[h.findings["check"] == "ice.connected"]["finding"].tolist()
    assert [c.split(":")[0] for c in connected] == ["call 1", "call 2"]


def test_label_puts_every_rtp_row_and_stream_of_the_merged_file_in_its_call(merged):
    rtp = merged.label_sessions(merged.rtp)
    assert rtp["session"].dtype == "Int64" and rtp["session"].notna().all()
    assert rtp.groupby("session")["ssrc"].nunique().tolist() == merged.sessions["ssrcs"].tolist()
    st = merged.label_sessions(merged.streams)
    assert st["session"].notna().all()
    assert sorted(st.groupby("session").size().tolist()) == sorted(
        [len(alone(FIRST).streams), len(alone(SECOND).streams)])


KEYED_FIRST, KEYED_SECOND = "aiortc_loss5_rtp", "chromium_aiortc_loss5"  # both lossy, NACK-repaired: SRTCP opened


@lru_cache(maxsize=None)
def alone_keyed(name: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return webrtcpcap.open(CAPTURES / f"{name}.pcap", keylog=CAPTURES / f"{name}.keylog", progress=False)


@pytest.fixture(scope="module")
def merged_keyed(tmp_path_factory):
    """KEYED_FIRST and KEYED_SECOND in one file, overlapping as in `merged`, opened with both key logs in one."""
    d = tmp_path_factory.mktemp("merged_keyed")
    a, b = alone_keyed(KEYED_FIRST), alone_keyed(KEYED_SECOND)
    writer.merge(d / "two_calls.pcap", [(CAPTURES / f"{KEYED_FIRST}.pcap", 0.0),
                                        (CAPTURES / f"{KEYED_SECOND}.pcap", _start_s(a) + OVERLAP_S - _start_s(b))])
    keylog = d / "two_calls.keylog"
    keylog.write_text((CAPTURES / f"{KEYED_FIRST}.keylog").read_text()
                      + (CAPTURES / f"{KEYED_SECOND}.keylog").read_text())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return webrtcpcap.open(d / "two_calls.pcap", keylog=keylog, progress=False)


def _judged(h, session=None, offset_s: float = 0.0) -> list[tuple]:
    """The findings of every stage but the capture's, as (stage, severity, check, sentence, measured): of one call
    (its name taken off the sentence), or of a capture alone (less "TURN not used", which a call does not say).
    A time a sentence gives ("from 13.9 s") is on its file's clock, so that it can be found in Wireshark: in a file
    holding several calls, a call's times are `offset_s` later than in its capture alone; they are given here on
    the call's own clock."""
    f = h.findings[h.findings["stage"].astype(str) != "capture"]
    if session is not None:
        f = f[(f["session"] == session).fillna(False).to_numpy(bool)]
    out = []
    for r in f.itertuples(index=False):
        if session is None and r.check == "turn.allocation" and r.subject == "turn" and r.severity == "ok":
            continue
        sentence = str(r.finding).removeprefix(f"call {session}: ") if session is not None else str(r.finding)
        if offset_s:
            sentence = re.sub(r"from (\d+\.\d) s", lambda m: f"from {float(m.group(1)) - offset_s:.1f} s", sentence)
        out.append((str(r.stage), str(r.severity), r.check, sentence,
                    None if pd.isna(r.measured) else round(float(r.measured), 3)))
    return out


@pytest.mark.parametrize("keyed", [False, True], ids=["bare", "keylog"])
def test_every_stage_of_each_call_is_judged_as_the_capture_alone(keyed, merged, merged_keyed):
    """DTLS, media, recovery and RTCP too, not only ICE and TURN: the merged file's findings of call N are those of
    capture N opened alone, sentence for sentence, and its per-call verdicts are the single files' verdicts."""
    cap, names, one = (merged_keyed, (KEYED_FIRST, KEYED_SECOND), alone_keyed) if keyed else \
        (merged, (FIRST, SECOND), alone)
    h = health(cap)
    assert list(h.calls.index) == [1, 2]
    for n, name in enumerate(names, 1):
        h1 = health(one(name))
        # where the call starts in the merged file, against its start alone
        offset = float(cap.session(n).rtp["t"].min()) - float(one(name).rtp["t"].min())
        assert _judged(h, n, offset) == _judged(h1), name
        stages = h1.stages["severity"].astype(str)
        for stage in ("ice", "dtls", "media", "recovery", "rtcp"):
            assert str(h.calls.at[n, stage]) == stages.get(stage, "ok"), (name, stage)
        assert h.calls.at[n, "headline"] == f"call {n}: {h1.headline}"
        subjects = h.findings.loc[(h.findings["session"] == n).fillna(False).to_numpy(bool), "subject"]
        assert subjects.str.startswith(f"call {n}: ").all()
    if keyed:  # SRTCP opened: NACKs, retransmissions and receiver reports judged in each call
        checks = set(h.findings["check"])
        assert {"recovery.nack", "rtcp.lost"} <= checks
    assert h.verdict == max((health(one(n)).verdict for n in names), key=SEVERITIES.index)


def test_the_report_has_a_line_per_call_with_its_own_verdict(merged_keyed):
    from webrtcpcap.report.document import Report

    r = Report("two_calls.pcap", health(merged_keyed), merged_keyed)
    calls = r.calls
    assert calls["session"].tolist() == [1, 2]
    for row, name in zip(calls.itertuples(index=False), (KEYED_FIRST, KEYED_SECOND)):
        one = alone_keyed(name)
        sel = analysis.of(one).candidate_pairs
        sel = sel[sel["selected"]].iloc[0]
        assert row.ice == f"{sel['transport']} {sel['local']} ↔ {sel['remote']}"
        assert row.dtls == "DTLS 1.2 completed"
        assert row.verdict == health(one).verdict
        assert row.start_t < row.end_t
    assert calls["start_t"].iloc[1] < calls["end_t"].iloc[0]  # they overlap
    text = r.text()
    assert "Calls (2)" in text and text.count("verdict WARNING: call ") == 2
    assert '<section id="calls">' in r.html()


def test_a_call_view_reads_like_the_capture_alone(merged):
    view = merged.session(2)
    one = alone(SECOND)
    assert len(view.rtp) == len(one.rtp) and len(view.stun) == len(one.stun)
    s_view = ice.summary(view.stun, view.packets, view.stun_attributes).iloc[0]
    s_one = ice.summary(one.stun, one.packets, one.stun_attributes).iloc[0]
    assert (s_view["checks"], s_view["selected_local"], s_view["selected_remote"]) == (
        s_one["checks"], s_one["selected_local"], s_one["selected_remote"])
    span = s_view["nomination_t"] - s_view["first_check_t"]
    assert span == pytest.approx(s_one["nomination_t"] - s_one["first_check_t"], abs=1e-6)


def test_a_single_call_is_one_session_with_every_webrtc_flow(tmp_path):
    cap = alone(FIRST)
    s = cap.sessions
    assert len(s) == 1 and s["generations"].iloc[0] == 1
    fs = cap.session_flows
    assert tables.check_schema(fs, sessions.FLOW_SESSIONS_SCHEMA) == []
    webrtc = cap.flows["evidence"].notna() & (cap.flows["evidence"].astype(str) != "")
    assert fs.loc[webrtc.to_numpy(bool), "session"].eq(1).all()
    assert tables.check_schema(cap.ice_generations, sessions.GENERATIONS_SCHEMA) == []


# -- crafted: an ICE restart, an extra TURN attempt ------------------------------------------------------------

import struct  # noqa: E402 - the crafted part's own helpers

from conftest import A4, B4, rtcp_sdes, rtcp_sr, rtp_packet, stun_message, udp4, write_pcap  # noqa: E402

USERNAME, USE_CANDIDATE, XOR_RELAYED = 0x0006, 0x0025, 0x0016


def _attr(atype: int, value: bytes) -> bytes:
    return struct.pack(">HH", atype, len(value)) + value + b"\0" * (-len(value) % 4)


def _xor_address(ip: str, port: int) -> bytes:
    raw = bytes(int(x) for x in ip.split("."))
    return struct.pack(">BBH", 0, 1, port ^ 0x2112) + bytes(a ^ b for a, b in zip(raw, bytes.fromhex("2112A442")))


def _check(username: str, tid: bytes, nominate=True) -> bytes:
    attrs = _attr(USERNAME, username.encode()) + (_attr(USE_CANDIDATE, b"") if nominate else b"")
    return stun_message(0x0001, tid, attrs)


def _frames_at(items):
    """[(t seconds, frame bytes)] -> (frames, times_ns)."""
    base = 1_700_000_000 * 10**9
    return [f for _, f in items], [base + int(t * 1e9) for t, _ in items]


def test_ice_restart_is_a_second_generation_and_the_connect_time_stays_inside_one(tmp_path):
    # generation 0 on 5000<->6000 at t=0 (connects in 40 ms); an ICE restart at t=100 moves the call to
    # 5002<->6002 (connects in 30 ms); the same SSRC flows on both.  Before, "ICE connected in 100030 ms".
    items = [(0.0, udp4(_check("bbbb:aaaa", b"\x01" * 12), A4, B4, 5000, 6000)),
             (0.04, udp4(stun_message(0x0101, b"\x01" * 12), B4, A4, 6000, 5000))]
    items += [(0.1 + 0.02 * i, udp4(rtp_packet(seq=i, ts=960 * i), A4, B4, 5000, 6000)) for i in range(6)]
    items += [(100.0, udp4(_check("dddd:cccc", b"\x02" * 12), A4, B4, 5002, 6002)),
              (100.03, udp4(stun_message(0x0101, b"\x02" * 12), B4, A4, 6002, 5002))]
    items += [(100.1 + 0.02 * i, udp4(rtp_packet(seq=6 + i, ts=960 * (6 + i)), A4, B4, 5002, 6002))
              for i in range(6)]
    frames, times = _frames_at(items)
    cap = _open(write_pcap(tmp_path / "restart.pcap", frames, times_ns=times))
    s = cap.sessions
    assert len(s) == 1 and s["generations"].iloc[0] == 2 and s["ufrags"].iloc[0] == "aaaa:bbbb then cccc:dddd"
    assert cap.ice_generations[["generation", "ufrags"]].values.tolist() == [[0, "aaaa:bbbb"], [1, "cccc:dddd"]]
    pairs = ice.candidate_pairs(cap.stun, cap.packets, cap.stun_attributes)
    assert pairs["selected"].tolist() == [True, True]  # each ICE session selected its pair
    h = health(cap)
    connected = h.findings[h.findings["check"] == "ice.connected"]
    assert connected["measured"].astype(float).tolist() == pytest.approx([40.0], abs=0.01)
    assert h.stage("ice") == "info"  # the restart is a note, nothing waited 100 s
    restart = h.findings[h.findings["check"] == "ice.restart"]["finding"].tolist()
    assert restart == ["1 ICE restarts or separate ICE sessions (different ufrags): cccc:dddd connected in 30 ms"]


TURN = "10.0.0.3"


def test_unanswered_allocate_from_a_second_interface_is_a_note_when_another_allocated(tmp_path):
    items = [(0.0, udp4(stun_message(0x0003, b"\x10" * 12), "192.168.7.5", TURN, 7000, 3478)),  # never answered
             (0.01, udp4(stun_message(0x0003, b"\x11" * 12), A4, TURN, 5001, 3478)),
             (0.02, udp4(stun_message(0x0103, b"\x11" * 12, _attr(XOR_RELAYED, _xor_address(TURN, 49152))),
                         TURN, A4, 3478, 5001)),
             (0.5, udp4(_check("bbbb:aaaa", b"\x01" * 12), A4, B4, 5000, 6000)),
             (0.54, udp4(stun_message(0x0101, b"\x01" * 12), B4, A4, 6000, 5000))]
    items += [(0.6 + 0.02 * i, udp4(rtp_packet(seq=i, ts=960 * i), A4, B4, 5000, 6000)) for i in range(6)]
    frames, times = _frames_at(items)
    cap = _open(write_pcap(tmp_path / "turn.pcap", frames, times_ns=times))
    assert len(cap.sessions) == 1  # the extra attempt is part of the call, not a call of its own
    h = health(cap)
    turn = h.findings[h.findings["stage"] == "turn"]
    assert h.stage("turn") == "info" and h.verdict != "error"
    note = turn[turn["severity"].astype(str) == "info"]["finding"].tolist()
    assert note == ["allocation from 192.168.7.5:7000 unanswered (1 Allocate request to 10.0.0.3:3478); "
                    f"another from {A4}:5001 succeeded"]


def test_unanswered_allocate_alone_is_still_an_error(tmp_path):
    items = [(0.0, udp4(stun_message(0x0003, b"\x10" * 12), "192.168.7.5", TURN, 7000, 3478)),
             (0.5, udp4(_check("bbbb:aaaa", b"\x01" * 12), A4, B4, 5000, 6000)),
             (0.54, udp4(stun_message(0x0101, b"\x01" * 12), B4, A4, 6000, 5000))]
    items += [(0.6 + 0.02 * i, udp4(rtp_packet(seq=i, ts=960 * i), A4, B4, 5000, 6000)) for i in range(6)]
    frames, times = _frames_at(items)
    h = health(_open(write_pcap(tmp_path / "turn.pcap", frames, times_ns=times)))
    assert h.stage("turn") == "error"


def test_expect_ice_connected_counts_from_the_selected_pairs_own_ice_session(merged):
    from webrtcpcap import expect

    e = expect.ice_connected(merged, within_ms=1000)
    assert e.passed and e.measured == f"{_connect_ms(health(alone(FIRST)))[0]:.0f} ms"


def test_label_places_candidate_pairs_associations_and_allocations_in_their_call(merged):
    from webrtcpcap import handshake

    pairs = merged.label_sessions(ice.candidate_pairs(merged.stun, merged.packets, merged.stun_attributes))
    assert sorted(pairs["session"].unique().tolist()) == [1, 2]
    assert pairs.groupby("session")["selected"].sum().tolist() == [1, 1]
    assoc = merged.label_sessions(handshake.associations(merged.dtls_records, merged.dtls_handshakes))
    assert assoc["session"].tolist() == [1, 2]
    tx = merged.label_sessions(ice.transactions(merged.stun))
    assert tx["session"].notna().all()


def test_turn_wrong_password_is_one_call_whose_headline_names_the_credentials():
    cap = alone("turn_wrong_password")
    assert len(cap.sessions) == 1 and cap.sessions["kind"].iloc[0] == "stun"  # three Allocates, one client
    h = health(cap)
    assert h.verdict == "error" and "401" in h.headline and "wrong TURN credentials" in h.headline


def test_blocked_ice_keeps_its_headline():
    h = health(alone("ice_udp_blocked"))
    assert len(alone("ice_udp_blocked").sessions) == 1
    assert h.verdict == "error" and h.headline.startswith("ICE failed") and "never answered" in h.headline


def test_a_capture_without_webrtc_has_no_calls_and_typed_empty_tables(tmp_path):
    cap = _open(write_pcap(tmp_path / "dns.pcap", [udp4(b"\x12\x34" + b"\0" * 10, sport=5353, dport=53)]))
    assert len(cap.sessions) == 0 and tables.check_schema(cap.sessions, sessions.SESSIONS_SCHEMA) == []
    assert tables.check_schema(cap.ice_generations, sessions.GENERATIONS_SCHEMA) == []
    assert cap.session_flows["session"].isna().all()
    assert cap.label_sessions(cap.rtp)["session"].dtype == "Int64"
    assert health(cap).stage("ice") == "info"


def test_media_without_ice_forms_calls_by_ssrc_and_five_tuple(tmp_path):
    # RTP on 5000->6000 and its RTCP on 5001->6001 (same SSRC: one call); another SSRC on 7000->8000 (another call)
    frames = [udp4(rtp_packet(ssrc=0xAAAA, seq=i, ts=160 * i), sport=5000, dport=6000) for i in range(6)]
    frames += [udp4(rtcp_sr(ssrc=0xAAAA) + rtcp_sdes(ssrc=0xAAAA), sport=5001, dport=6001) for _ in range(2)]
    frames += [udp4(rtp_packet(ssrc=0xBBBB, seq=i, ts=160 * i), sport=7000, dport=8000) for i in range(6)]
    cap = _open(write_pcap(tmp_path / "sip.pcap", frames))
    s = cap.sessions
    assert s["kind"].astype(str).tolist() == ["media", "media"]
    assert s[["flows", "rtp", "rtcp", "ssrcs"]].values.tolist() == [[2, 6, 2, 1], [1, 6, 0, 1]]


def test_streams_and_handshakes_outside_every_call_are_still_judged(merged):
    """A flow no call claims (here call 2's flow, its label taken away) is judged on its own, "outside any call",
    with the findings it has in its capture alone: nothing is dropped for lack of a call."""
    cap = _open(merged.path)
    sessions, flow_sessions, generations = cap._session_tables()
    main = merged.label_sessions(merged.streams)
    flows = set()
    for r in main[main["session"] == 2].itertuples(index=False):
        f = merged.flows
        on = ((f["a"] == r.src) & (f["a_port"] == r.sport)) | ((f["b"] == r.src) & (f["b_port"] == r.sport))
        flows |= set(f.loc[on.to_numpy(bool), "flow"].astype(int))
    unclaimed = flow_sessions.assign(session=flow_sessions["session"].where(~flow_sessions["flow"].isin(flows)))
    cap._tables.set("sessions", (sessions, unclaimed, generations))
    h = health(cap)
    f = h.findings
    outside = f[f["subject"].str.startswith("outside any call: ").to_numpy(bool)]
    assert outside["session"].isna().all() and set(outside["stage"].astype(str)) >= {"dtls", "media"}
    want = health(alone(SECOND)).findings
    for stage in ("dtls", "media"):
        got = [str(x).removeprefix("outside any call: ") for x in outside.loc[outside["stage"] == stage, "finding"]]
        assert got == want.loc[want["stage"] == stage, "finding"].astype(str).tolist()
