"""The analysis context (webrtcpcap.analysis, cap.analysis): each analysis computed once per capture and shared by
health, report (text and HTML), expect and compare; per-call contexts that keep each call's own rows, with the
`session` column on every per-call table."""

from __future__ import annotations

import sys
import warnings
from collections import Counter
from functools import lru_cache

import pandas as pd
import pytest

import webrtcpcap
from webrtcpcap import analysis, expect, handshake, ice, nack, pli, rtt
from webrtcpcap.report import document as report
from webrtcpcap.tables import decrypt
from webrtcpcap import streams as _streams
from webrtcpcap.analysis.context import Analysis

from conftest import CAPTURES

# The analyses a report runs: (module, function).  Each must run once however many consumers read it.
ANALYSES = [(ice, "transactions"), (ice, "candidate_pairs"), (ice, "summary"), (ice, "turn_allocations"),
            (handshake, "associations"), (handshake, "flights"), (decrypt, "dtls13_associations"),
            (_streams, "rtx_pairs"), (_streams, "gaps"), (_streams, "packet_view"), (_streams, "receiver_view"),
            (nack, "nack_outcomes"), (nack, "nack_summary"), (rtt, "round_trip_times"),
            (pli, "guess_video_codecs")]


def _open(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return webrtcpcap.open(path, progress=False, **kw)


@lru_cache(maxsize=None)
def opened(name: str, keyed: bool = False):
    kw = {}
    if keyed:
        kw = dict(sdp=[CAPTURES / f"{name}.offer.sdp", CAPTURES / f"{name}.answer.sdp"],
                  keylog=CAPTURES / f"{name}.keylog")
    return _open(CAPTURES / f"{name}.pcap", **kw)


# The consumers: a call of an analysis from one of these is a computation a report asks for (an analysis calling
# another as its own step, e.g. candidate_pairs reading transactions, is part of that one computation).
# Every module of the report floor is a consumer (health, expect, the document, and any module they are split into).
CONSUMERS = ("webrtcpcap.analysis.context", "webrtcpcap.analysis.compare", "webrtcpcap.report.")


def _consumer(module_name) -> bool:
    return bool(module_name) and any(module_name == c or (c.endswith(".") and module_name.startswith(c))
                                     for c in CONSUMERS)


@pytest.fixture
def counted(monkeypatch):
    """Counts the calls of every function of ANALYSES made by a consumer module from now on (they still run)."""
    calls: Counter = Counter()
    for module, name in ANALYSES:
        real = getattr(module, name)

        def spy(*args, _real=real, _key=f"{module.__name__.rsplit('.', 1)[-1]}.{name}", **kwargs):
            if _consumer(sys._getframe(1).f_globals.get("__name__")):
                calls[_key] += 1
            return _real(*args, **kwargs)
        monkeypatch.setattr(module, name, spy)
    return calls


@pytest.mark.parametrize("name", ["aiortc_loss5_rtp", "firefox_firefox_clean"])
def test_a_report_computes_each_analysis_once(name, counted, monkeypatch):
    """Text, HTML, endpoint stats, then expect and health again: every analysis ran at most once, and those the
    report needs ran (so the count is of real work, not of nothing)."""
    real_open = report._open

    def open_and_decrypt(*args, **kwargs):
        cap = real_open(*args, **kwargs)
        _ = cap.rtp, cap.rtcp, cap.dtls_decrypted  # decryption asks handshake.associations for its keys
        counted.clear()
        return cap
    monkeypatch.setattr(report, "_open", open_and_decrypt)
    r = report.build(CAPTURES / f"{name}.pcap", sdp=[CAPTURES / f"{name}.offer.sdp", CAPTURES / f"{name}.answer.sdp"],
                     keylog=CAPTURES / f"{name}.keylog", getstats=CAPTURES / f"{name}.getstats.json")
    report.matplotlib_headless()
    r.text()
    r.html()
    assert r.side_by_side is not None and len(r.side_by_side)
    expect.check(r.cap, ice=True, dtls=True, streams=4, max_unrepaired_loss_pct=1, verdict="warning")
    webrtcpcap.health(r.cap)
    webrtcpcap.compare.side_by_side(r.cap, getstats=CAPTURES / f"{name}.getstats.json")
    assert {k: n for k, n in counted.items() if n > 1} == {}
    ran = set(counted)
    # (rtx_pairs and gaps: read from the streams table's evidence, Capture.stream_evidence, computed once there)
    assert {"ice.candidate_pairs", "ice.summary", "ice.transactions", "handshake.associations", "handshake.flights",
            "streams.packet_view"} <= ran, ran
    assert set(r.cap.stream_evidence) == {"rtx_pairs", "gaps"}
    if name == "aiortc_loss5_rtp":  # SRTCP opened: NACKs, reports
        assert {"nack.nack_outcomes", "nack.nack_summary", "streams.receiver_view"} <= ran, ran
    else:  # DTLS 1.3 opened with its key log
        assert "decrypt.dtls13_associations" in ran


def test_health_is_kept_per_thresholds_on_the_context():
    cap = opened("aiortc_clean")
    assert analysis.of(cap) is analysis.of(cap) and isinstance(analysis.of(cap), Analysis)
    assert webrtcpcap.health(cap) is webrtcpcap.health(cap)
    strict = webrtcpcap.health(cap, webrtcpcap.Thresholds(ice_connect_ms=20))
    assert strict is not webrtcpcap.health(cap) and strict.stage("ice") == "warning"
    assert webrtcpcap.health(cap).stage("ice") == "ok"


def test_per_call_tables_have_the_session_column():
    a = analysis.of(opened("aiortc_loss5_rtp", keyed=True))
    for table in (a.streams, a.dtls_associations, a.dtls_flights, a.candidate_pairs, a.gaps, a.nack_outcomes,
                  a.nack_summary, a.ice_transactions, a.turn_allocations, a.rtx_pairs, a.keyframe_delays()):
        assert table[analysis.SESSION_COLUMN].dtype == "Int64"
        assert (table[analysis.SESSION_COLUMN] == 1).all(), table
    assert len(a.nack_outcomes) and len(a.gaps) and len(a.media) == 4 and len(a.rtx_pairs) == 1
    # the one call's context holds the same rows
    (call,) = a.calls
    assert call.session == 1 and not a.several_calls and a.outside is None
    pd.testing.assert_frame_equal(call.streams, a.streams)
    pd.testing.assert_frame_equal(call.nack_outcomes, a.nack_outcomes)
    assert call.ice_summary["selected_local"] == a.ice_summary["selected_local"]


def test_a_capture_without_calls_has_an_empty_context(tmp_path):
    from conftest import A4, B4, udp4, write_pcap

    path = tmp_path / "dns.pcap"
    write_pcap(path, [udp4(b"\x00" * 20, A4, B4, 5353, 53)])
    a = analysis.of(_open(path))
    assert a.calls == [] and a.outside is None and not a.several_calls
    assert len(a.streams) == 0 and len(a.candidate_pairs) == 0 and len(a.nack_outcomes) == 0
    assert webrtcpcap.health(_open(path)).calls.empty


def test_the_analyses_take_the_capture_in_place_of_their_tables():
    """Issue 21: `cap` is enough. Each capture-taking form gives what the table form (or the analysis context)
    gives."""
    cap = opened("aiortc_loss5_rtp", keyed=True)
    a = analysis.of(cap)
    pd.testing.assert_frame_equal(_streams.gaps(cap), _streams.gaps(cap.rtp))
    pd.testing.assert_frame_equal(_streams.rtx_pairs(cap),
                                  _streams.rtx_pairs(cap.streams, cap.sdp, cap.rtp, cap.payload_or_empty))
    pd.testing.assert_frame_equal(rtt.round_trip_times(cap),
                                  rtt.round_trip_times(cap.rtcp_sender_reports, cap.rtcp_report_blocks))
    assert nack.nack_outcomes(cap) is a.nack_outcomes and len(a.nack_outcomes)
    assert nack.nack_summary(cap) is a.nack_summary and len(a.nack_summary)
    relayed = opened("turn_relay_static")
    allocations = ice.turn_allocations(relayed)
    assert len(allocations)
    start = relayed.packets["time"].iloc[0]
    pd.testing.assert_frame_equal(allocations, ice.turn_allocations(relayed.stun, relayed.stun_attributes,
                                                                    start=start))


@pytest.mark.parametrize("call", [lambda cap: nack.nack_outcomes(cap.nacks),
                                  lambda cap: rtt.round_trip_times(cap.rtcp_sender_reports),
                                  lambda cap: ice.turn_allocations(cap.stun)])
def test_an_analysis_given_one_table_of_several_says_what_it_takes(call):
    with pytest.raises(TypeError, match="takes the capture, or the"):
        call(opened("aiortc_clean"))


# Work a health summary must do once per capture, however many analyses read it (issue 18): counted at every call,
# an analysis calling another included, from the open on (the tables' own builders count too).
from webrtcpcap.analysis import stun_transactions as _stun_transactions, turn as _turn  # noqa: E402
from webrtcpcap.net import wire as _wire  # noqa: E402
from webrtcpcap.protocols import rtcp as _rtcp  # noqa: E402
from webrtcpcap.tables import sequence as _sequence  # noqa: E402

ONCE = {"transactions": _stun_transactions.transactions, "turn_allocations": _turn.turn_allocations,
        "gaps": _sequence.gaps, "parse_compound_partial": _rtcp.parse_compound_partial, "endpoint": _wire.endpoint}


def _calls_while(fn) -> Counter:
    """How many times each function of ONCE ran (any caller) while fn() ran: counted by code object, so that a
    name imported into another module counts too."""
    codes = {f.__code__: name for name, f in ONCE.items()}
    calls: Counter = Counter()

    def profile(frame, event, arg):
        if event == "call" and frame.f_code in codes:
            calls[codes[frame.f_code]] += 1
    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(previous)
    return calls


@pytest.mark.parametrize("name, keyed", [("aiortc_loss5_rtp", True), ("turn_relay_static", False),
                                         ("chromium_chromium_clean", False)])
def test_health_computes_transactions_allocations_gaps_and_rtcp_once(name, keyed):
    """From the open to the verdict: one STUN transactions table, one TURN allocations table, one gaps table (the
    streams table's roles read it, and so do the context's analyses), one more transactions table for the relayed
    checks when there are some, each RTCP compound parsed once, and "ip:port" formatted per distinct address or
    STUN message, never per RTP row."""
    kw = dict(sdp=[CAPTURES / f"{name}.offer.sdp", CAPTURES / f"{name}.answer.sdp"],
              keylog=CAPTURES / f"{name}.keylog") if keyed else {}
    got = {}

    def run():
        cap = got["cap"] = _open(CAPTURES / f"{name}.pcap", **kw)
        webrtcpcap.health(cap)
    calls = _calls_while(run)
    cap = got["cap"]
    a = analysis.of(cap)
    assert len(a.calls) == 1, "a capture of one call: its context shares the whole capture's analyses"
    relayed_checks = bool(cap.stun["relayed"].any())  # the relayed checks, unwrapped, are one more table
    assert relayed_checks == (name == "turn_relay_static")
    assert calls["transactions"] == 1 + relayed_checks, calls
    assert calls["turn_allocations"] <= 1, calls  # without TURN messages it returns at once
    assert calls["gaps"] == 1, calls
    compounds = len(cap._decode().rtcp_datagrams.payloads)
    assert compounds and calls["parse_compound_partial"] <= compounds, (calls, compounds)
    # per STUN message and DTLS record, and per distinct address: fewer than the RTP rows (two per row before)
    assert len(cap.rtp) > 1000 and calls["endpoint"] < len(cap.rtp), (calls, len(cap.rtp))
