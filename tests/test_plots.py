"""Plots (webrtcpcap.plots) and the numbers notebooks/01_ice_connectivity_checks.ipynb shows, computed with the
library on the recorded sessions so a library change fails here before it fails in nbval."""

from __future__ import annotations

import subprocess
import sys

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")

import matplotlib.figure  # noqa: E402

import webrtcpcap  # noqa: E402
from webrtcpcap import ice, plots  # noqa: E402

from conftest import CAPTURES  # noqa: E402


def _open(name: str, sdp: bool = True) -> webrtcpcap.Capture:
    base = CAPTURES / name
    return webrtcpcap.open(f"{base}.pcap", sdp=[f"{base}.offer.sdp", f"{base}.answer.sdp"] if sdp else None,
                           progress=False)


@pytest.fixture(scope="module")
def clean():
    return _open("aiortc_clean")


@pytest.fixture(scope="module")
def blocked():
    return _open("ice_udp_blocked")


def _gid(fig, gid: str) -> list:
    return [a for a in fig.axes[0].get_children() if a.get_gid() == gid]


def test_import_webrtcpcap_does_not_import_matplotlib():
    code = "import sys, webrtcpcap; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_plots_is_reachable_as_attribute_of_the_package():
    assert webrtcpcap.plots is plots


def test_ladder_of_a_healthy_call_has_two_endpoints_and_an_arrow_each_way_per_transaction(clean):
    tx = ice.transactions(clean.stun)
    fig = plots.ice_ladder(tx, clean.stun)
    assert isinstance(fig, matplotlib.figure.Figure)
    assert len(_gid(fig, "endpoint")) == 2
    assert len(_gid(fig, "request")) == len(tx) == 6
    assert len(_gid(fig, "response")) == 6
    assert _gid(fig, "retransmission") == []


def test_ladder_of_blocked_udp_shows_one_unanswered_request_and_its_five_retransmissions(blocked):
    tx = ice.transactions(blocked.stun)
    fig = plots.ice_ladder(tx, blocked.stun)
    assert len(_gid(fig, "endpoint")) == 2
    assert len(_gid(fig, "request")) == 1
    assert _gid(fig, "response") == []
    (ticks,) = _gid(fig, "retransmission")
    assert len(ticks.get_ydata()) == 5


def test_ladder_order_mode_has_one_row_per_transaction():
    cap = _open("turn_relay_static", sdp=False)
    tx = ice.transactions(cap.stun)
    fig = plots.ice_ladder(tx, y="order")
    assert len(fig.axes[0].get_yticks()) == len(tx)
    assert len(_gid(fig, "endpoint")) == 4  # three client ports and the TURN server


def test_ladder_max_rows_groups_runs_and_truncates_with_a_note(clean):
    tx = ice.transactions(clean.stun)
    fig = plots.ice_ladder(tx, max_rows=4)
    assert len(_gid(fig, "request")) == 4
    assert "first 4 of 6 arrows" in fig.axes[0].get_title()
    doubled = ice.transactions(clean.stun.sort_values("t"))
    doubled = doubled.assign(client=doubled["client"].iloc[0], server=doubled["server"].iloc[0])
    grouped = plots.ice_ladder(doubled, max_rows=5)
    assert len(_gid(grouped, "request")) == 1  # same client, server, method and outcome: one run
    assert "6 transactions in 1 arrows" in grouped.axes[0].get_title()


def test_ladder_rejects_an_unknown_y_mode(clean):
    with pytest.raises(ValueError, match="ice_ladder y must be"):
        plots.ice_ladder(ice.transactions(clean.stun), y="frames")


def test_ladder_and_timeline_of_empty_tables_say_so(clean):
    empty_tx = ice.transactions(clean.stun.iloc[0:0])
    assert "no STUN transactions" in plots.ice_ladder(empty_tx).axes[0].texts[0].get_text()
    empty_pairs = ice.candidate_pairs(clean.stun.iloc[0:0], clean.packets)
    assert "no candidate pairs" in plots.candidate_pair_timeline(empty_pairs).axes[0].texts[0].get_text()


def test_timeline_has_one_bar_per_pair_and_outlines_the_selected_one(clean, blocked):
    pairs = ice.candidate_pairs(clean.stun, clean.packets, clean.stun_attributes)
    fig = plots.candidate_pair_timeline(pairs)
    assert isinstance(fig, matplotlib.figure.Figure)
    bars = _gid(fig, "pair")
    assert len(bars) == len(pairs) == 2
    assert [b.get_linewidth() > 0 for b in bars] == pairs["selected"].tolist()
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert sum("selected" in label for label in labels) == 1
    blocked_pairs = ice.candidate_pairs(blocked.stun, blocked.packets, blocked.stun_attributes)
    assert len(_gid(plots.candidate_pair_timeline(blocked_pairs), "pair")) == 1


# --- the numbers notebook 01 shows ---------------------------------------------------------------------------


def test_notebook01_healthy_session_numbers(clean):
    assert len(clean.stun) == 12
    assert clean.stun["fingerprint_ok"].all() and clean.stun["integrity_ok"].all()
    candidates = [c for sdp in clean.sdp for media in sdp.media for c in media.candidates]
    assert {c.type for c in candidates} == {"host"} and {c.priority >> 24 for c in candidates} == {126}
    tx = ice.transactions(clean.stun)
    assert len(tx) == 6 and (tx["outcome"] == "success").all() and (tx["requests"] == 1).all()
    pairs = ice.candidate_pairs(clean.stun, clean.packets, clean.stun_attributes)
    selected = pairs[pairs["selected"]].iloc[0]
    assert (selected["local"], selected["remote"], selected["ice_role"]) == (
        "10.99.0.1:55783", "10.99.0.2:48437", "controlling")
    assert pairs["nominated"].tolist() == [False, True]
    s = ice.summary(clean.stun, clean.packets, clean.stun_attributes).iloc[0]
    assert s["checks"] == 6 and s["pairs_succeeded"] == 2
    assert s["first_check_t"] < s["first_success_t"] < s["nomination_t"] < s["first_dtls_t"] < s["first_rtp_t"]
    assert s["first_rtp_t"] - s["first_check_t"] < 0.1  # "within about a tenth of a second"
    assert s["first_success_t"] == pytest.approx(0.149469, abs=1e-6)
    assert s["consent_checks"] == 4 and s["consent_unanswered"] == 0 and not s["consent_lost"]
    assert 4.5 < s["consent_interval_median_s"] < 5.5  # "about every 5 seconds"


def test_notebook01_blocked_session_numbers(blocked):
    waits = blocked.stun["t"].diff().dropna().round(1).tolist()
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0]  # RFC 8489 back-off, RTO 500 ms doubling
    tx = ice.transactions(blocked.stun)
    assert len(tx) == 1
    row = tx.iloc[0]
    assert (row["requests"], row["retransmissions"], row["responses"], row["outcome"]) == (6, 5, 0, "no answer")
    pairs = ice.candidate_pairs(blocked.stun, blocked.packets, blocked.stun_attributes)
    assert pairs["state"].tolist() == ["in progress"] and not pairs["selected"].any()
    s = ice.summary(blocked.stun, blocked.packets, blocked.stun_attributes).iloc[0]
    assert s["pairs_succeeded"] == 0
    assert all(pd.isna(s[c]) for c in ("first_success_t", "selected_local", "first_dtls_t", "first_rtp_t"))


def test_notebook01_turn_wrong_password_numbers():
    cap = _open("turn_wrong_password", sdp=False)
    alloc = ice.turn_allocations(cap.stun, cap.stun_attributes)
    assert len(alloc) == 3
    assert alloc["allocate_attempts"].tolist() == [2, 2, 2] and alloc["allocate_401"].tolist() == [2, 2, 2]
    assert not alloc["allocated"].any() and (alloc["state"] == "failed: error 401").all()
    assert ice.transactions(cap.stun)["outcome"].value_counts().to_dict() == {"error 401": 6}
    assert cap.stun["integrity_ok"].isna().all()


def test_notebook01_turn_relay_static_numbers():
    cap = _open("turn_relay_static", sdp=False)
    alloc = ice.turn_allocations(cap.stun, cap.stun_attributes)
    assert len(alloc) == 3
    assert alloc["allocate_401"].tolist() == [1, 1, 1] and alloc["authenticated_after_401"].all()
    assert alloc["relayed_address"].str.startswith("10.99.0.3:").all() and (alloc["lifetime_s"] == 600).all()
    assert alloc["channels"].sum() == 1 and (alloc["state"] == "released").all()
    peers = ice.turn_peers(cap.stun, cap.stun_attributes)
    assert peers[["peer", "channel"]].values.tolist() == [["10.99.0.3:49180", 16384]]
    assert len(ice.transactions(cap.stun)) == 10
    kinds = cap.packets["kind"].value_counts()
    assert kinds["turn-channel"] > 2000 and kinds["stun"] == 20
    # The checks inside the channel are unwrapped (relayed rows of cap.stun) but left out of the ICE analyses: no
    # candidate pairs, and no NAT in the lab.
    assert cap.stun["relayed"].sum() == 12
    assert len(ice.candidate_pairs(cap.stun, cap.packets, cap.stun_attributes)) == 0
    assert ice.nat_behaviour(cap.stun)["verdict"].unique().tolist() == ["no NAT"]
