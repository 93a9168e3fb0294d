"""ICE, consent, TURN and NAT analyses (webrtcpcap.ice): crafted tables with exact answers, the recorded sessions
against their ground truth (getStats / Janus handle_info selected pair, state-change events), and transaction
pairing against tshark's `stun.response-to`."""

from __future__ import annotations

import json
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pytest

import webrtcpcap
from webrtcpcap import ice
from webrtcpcap.protocols import stun
from webrtcpcap.tables import schema as tables

CAPTURES = Path(__file__).parents[1] / "captures"
SESSIONS = sorted(p.name.split(".")[0] for p in CAPTURES.glob("*.meta.json"))
# The ICE checks of these ride inside Send indications and ChannelData.  They are unwrapped (cap.stun rows with
# relayed=True, peer = the far end) but keep the wire 5-tuple to coturn as src/dst; candidate_pairs/summary pair them
# as the relayed candidate (the allocation's XOR-RELAYED-ADDRESS) <-> peer only with relayed_media=(rtp, rtcp).
RELAYED = {"turn_relay_static", "turn_relay_rest_chromium", "turn_wrong_password"}


@lru_cache(maxsize=None)
def capture(name: str) -> webrtcpcap.Capture:
    return webrtcpcap.open(CAPTURES / f"{name}.pcap")


@lru_cache(maxsize=None)
def meta(name: str) -> dict:
    return json.loads((CAPTURES / f"{name}.meta.json").read_text())


def _candidate_address(line: str) -> str:
    """"<foundation> 1 udp <prio> <ip> <port> typ host ..." -> "ip:port"."""
    fields = line.split()
    return f"{fields[4]}:{fields[5]}"


def truth_selected_pair(name: str) -> frozenset | None:
    """The two ends ("ip:port") of the pair the captured peer selected, from its own report: aiortc's getStats
    candidate lines, Chromium's candidate-pair stats, or Janus' handle_info; None when it selected none."""
    gt = meta(name)["ground_truth"][meta(name)["capture"]["node"]]
    if gt.get("selected_pair"):
        return frozenset(_candidate_address(gt["selected_pair"][end]) for end in ("local", "remote"))
    if gt.get("selected_pair_stats"):
        return frozenset(f"{gt['selected_pair_stats'][end]['ip']}:{gt['selected_pair_stats'][end]['port']}"
                         for end in ("local", "remote"))
    if gt.get("selected_pair_text"):  # Janus: "10.99.0.2:20016 [host,udp] <-> 10.99.0.1:44897 [host,udp]"
        return frozenset(side.split()[0] for side in gt["selected_pair_text"].split("<->"))
    return None


def connected(name: str) -> bool:
    return meta(name)["parameters"]["expect_connected"] and truth_selected_pair(name) is not None


# -- crafted tables ------------------------------------------------------------------------------------------------

def stun_rows(*rows: dict) -> pd.DataFrame:
    """A `stun` table with the real schema from a few rows (missing columns are null)."""
    base = {col: None for col in tables.STUN_SCHEMA}
    base.update(transport="udp")
    df = pd.DataFrame([{**base, **r} for r in rows], columns=list(tables.STUN_SCHEMA))
    df = df.astype(tables.STUN_SCHEMA)
    assert tables.check_schema(df, tables.STUN_SCHEMA) == []
    return df


def msg(frame, t, src, dst, method, cls, tid, **extra):
    (sip, sport), (dip, dport) = src.split(":"), dst.split(":")
    return dict(frame=frame, t=t, src=sip, sport=int(sport), dst=dip, dport=int(dport), method=method, cls=cls,
                transaction_id=tid, **extra)


A, B, S2 = "10.0.0.1:5000", "10.0.0.2:6000", "192.0.2.9:3478"


def crafted_transactions_table() -> pd.DataFrame:
    return stun_rows(
        msg(1, 0.000, A, B, "binding", "request", "aa"),           # first send
        msg(2, 0.500, A, B, "binding", "request", "aa"),           # retransmission
        msg(3, 0.520, B, A, "binding", "success", "aa", mapped_address=A),
        msg(4, 1.000, A, B, "binding", "request", "bb"),           # lost response: sent 3 times, never answered
        msg(5, 1.500, A, B, "binding", "request", "bb"),
        msg(6, 2.500, A, B, "binding", "request", "bb"),
        msg(7, 3.000, B, A, "binding", "indication", "cc"),
        msg(8, 4.000, A, S2, "allocate", "request", "dd"),
        msg(9, 4.010, S2, A, "allocate", "error", "dd", error_code=401, error_reason="Unauthorized"),
        msg(10, 5.000, S2, B, "binding", "success", "aa"),         # same id, other 5-tuple: not an answer to frame 1
    )


def test_transactions_of_a_crafted_table_count_retransmissions_and_take_rtt_from_the_last_request():
    tx = ice.transactions(crafted_transactions_table())
    assert tables.check_schema(tx, ice.TRANSACTIONS_SCHEMA) == []
    got = tx[["first_frame", "client", "server", "method", "requests", "retransmissions", "last_request_frame",
              "response_frame", "responses", "response_cls", "error_code", "outcome"]].astype(object)
    got = got.where(got.notna(), None).values.tolist()
    assert got == [
        [1, A, B, "binding", 2, 1, 2, 3, 1, "success", None, "success"],
        [4, A, B, "binding", 3, 2, 6, None, 0, "none", None, "no answer"],
        [7, B, A, "binding", 0, 0, None, None, 0, "none", None, "indication"],
        [8, A, S2, "allocate", 1, 0, 8, 9, 1, "error", 401, "error 401"],
        [10, B, S2, "binding", 0, 0, None, 10, 1, "success", None, "response without request"],
    ]
    assert tx["rtt_ms"].iloc[0] == pytest.approx(20.0)  # 0.520 - 0.500, not 0.520 - 0.000
    assert tx["rtt_ms"].iloc[3] == pytest.approx(10.0)
    assert tx["rtt_ms"].isna().tolist() == [False, True, True, False, True]


def test_transactions_of_an_empty_table_follow_the_schema():
    tx = ice.transactions(stun_rows().iloc[0:0])
    assert len(tx) == 0 and tables.check_schema(tx, ice.TRANSACTIONS_SCHEMA) == []


def crafted_packets(*rows) -> pd.DataFrame:
    out = []
    for frame, t, src, dst, kind in rows:
        (sip, sport), (dip, dport) = src.split(":"), dst.split(":")
        out.append(dict(frame=frame, t=t, src=sip, sport=int(sport), dst=dip, dport=int(dport), transport="udp",
                        kind=kind))
    return pd.DataFrame(out).astype({"src": "category", "dst": "category", "sport": "UInt16", "dport": "UInt16",
                                     "transport": "category", "kind": "category"})


def test_candidate_pairs_select_the_nominated_pair_that_carries_media_and_measure_consent():
    C = "10.0.0.1:5001"  # a second local candidate whose checks fail
    stun = stun_rows(
        msg(1, 0.0, A, B, "binding", "request", "01", username="rb:ra", ice_role="controlling"),
        msg(2, 0.0, C, B, "binding", "request", "02", username="rb:ra", ice_role="controlling"),
        msg(3, 0.01, B, A, "binding", "success", "01", mapped_address=A),
        msg(4, 0.02, B, C, "binding", "error", "02", error_code=487),
        msg(5, 0.1, A, B, "binding", "request", "03", username="rb:ra", ice_role="controlling", use_candidate=True),
        msg(6, 0.13, B, A, "binding", "success", "03", mapped_address=A),
        msg(8, 5.0, A, B, "binding", "request", "04", username="rb:ra", ice_role="controlling"),
        msg(9, 5.01, B, A, "binding", "success", "04"),
        msg(10, 45.0, A, B, "binding", "request", "05", username="rb:ra", ice_role="controlling"),
        msg(11, 45.01, B, A, "binding", "success", "05"),
    )
    packets = crafted_packets((7, 0.2, A, B, "dtls"), (12, 50.0, B, A, "rtp"))
    pairs = ice.candidate_pairs(stun, packets)
    assert tables.check_schema(pairs, ice.CANDIDATE_PAIRS_SCHEMA) == []
    assert pairs[["local", "remote", "checks", "successes", "errors", "nominated", "state", "carries_media",
                  "selected"]].values.tolist() == [
        [A, B, 4, 4, 0, True, "succeeded", True, True],
        [C, B, 1, 0, 1, False, "failed", False, False]]
    assert pairs["nominated_t"].iloc[0] == pytest.approx(0.13)
    assert pairs["rtt_ms"].iloc[0] == pytest.approx(10.0)  # median of 10, 30, 10, 10 ms
    s = ice.summary(stun, packets).iloc[0]
    assert (s["selected_local"], s["selected_remote"], s["errors_487"], s["ufrag_changes"]) == (A, B, 1, 0)
    assert (s["first_check_t"], s["first_success_t"], s["first_dtls_t"]) == (0.0, 0.01, 0.2)
    # consent after nomination: checks at 5.0 and 45.0 -> one interval of 40 s > 30 s (RFC 7675)
    assert (s["consent_checks"], s["consent_interval_max_s"], bool(s["consent_lost"])) == (2, 40.0, True)


def test_nat_behaviour_tells_endpoint_independent_from_symmetric_mapping():
    L1, L2, S1 = "192.168.1.5:4000", "192.168.1.5:4001", "198.51.100.1:3478"
    stun = stun_rows(
        msg(1, 0.0, S1, L1, "binding", "success", "01", mapped_address="203.0.113.7:6000"),
        msg(2, 0.1, S2, L1, "binding", "success", "02", mapped_address="203.0.113.7:6000"),
        msg(3, 0.2, S1, L2, "binding", "success", "03", mapped_address="203.0.113.7:6001"),
        msg(4, 0.3, S2, L2, "binding", "success", "04", mapped_address="203.0.113.7:6002"),
        msg(5, 0.4, S1, A, "binding", "success", "05", mapped_address="203.0.113.7:6003"),
        msg(6, 0.5, S1, B, "binding", "success", "06", mapped_address=B),
    )
    nat = ice.nat_behaviour(stun)
    assert tables.check_schema(nat, ice.NAT_BEHAVIOUR_SCHEMA) == []
    assert nat.groupby("local", sort=False)["verdict"].first().to_dict() == {
        L1: "endpoint-independent mapping", L2: "address-dependent (symmetric)", A: "not enough evidence",
        B: "no NAT"}


# -- recorded sessions ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SESSIONS)
def test_selected_pair_equals_the_captured_peers_own_report(name):
    cap = capture(name)
    pairs = ice.candidate_pairs(cap.stun, cap.packets, cap.stun_attributes, relayed_media=(cap.rtp, cap.rtcp))
    assert tables.check_schema(pairs, ice.CANDIDATE_PAIRS_SCHEMA) == []
    selected = pairs[pairs["selected"]]
    got = frozenset(selected[["local", "remote"]].iloc[0]) if len(selected) else None
    assert got == truth_selected_pair(name)
    assert len(selected) <= 1
    s = ice.summary(cap.stun, cap.packets, cap.stun_attributes, relayed_media=(cap.rtp, cap.rtcp)).iloc[0]
    assert tables.check_schema(ice.summary(cap.stun, cap.packets, cap.stun_attributes), ice.SUMMARY_SCHEMA) == []
    got = None if pd.isna(s["selected_local"]) else frozenset((s["selected_local"], s["selected_remote"]))
    assert got == truth_selected_pair(name)


@pytest.mark.parametrize("name", SESSIONS)
def test_relayed_media_changes_nothing_for_direct_sessions_and_only_adds_relayed_pairs(name):
    cap = capture(name)
    plain = ice.candidate_pairs(cap.stun, cap.packets, cap.stun_attributes)
    both = ice.candidate_pairs(cap.stun, cap.packets, cap.stun_attributes, relayed_media=(cap.rtp, cap.rtcp))
    if not cap.stun["relayed"].any():
        pd.testing.assert_frame_equal(plain, both)
        pd.testing.assert_frame_equal(
            ice.summary(cap.stun, cap.packets, cap.stun_attributes),
            ice.summary(cap.stun, cap.packets, cap.stun_attributes, relayed_media=(cap.rtp, cap.rtcp)))
    else:
        assert len(plain) == 0  # without relayed_media the relayed checks stay out, as before
        relayed = set(ice.turn_allocations(cap.stun, cap.stun_attributes)["relayed_address"].dropna())
        assert all(set(r) & relayed for r in both[["local", "remote"]].itertuples(index=False))


@pytest.mark.parametrize("name", [n for n in sorted(RELAYED) if connected(n)])
def test_relayed_sessions_nominate_then_carry_rtp_on_the_relayed_pair(name):
    cap = capture(name)
    pairs = ice.candidate_pairs(cap.stun, cap.packets, cap.stun_attributes, relayed_media=(cap.rtp, cap.rtcp))
    sel = pairs[pairs["selected"]].iloc[0]
    assert sel["nominated"] and sel["state"] == "succeeded" and sel["ice_role"] == "controlling"
    # media: the relayed RTP/RTCP rows (distinct frames) between the relayed candidate and the peer
    relayed_frames = set(cap.rtp.loc[cap.rtp["relayed"], "frame"]) | set(cap.rtcp.loc[cap.rtcp["relayed"], "frame"])
    assert sel["media_packets"] == len(relayed_frames)
    s = ice.summary(cap.stun, cap.packets, cap.stun_attributes, relayed_media=(cap.rtp, cap.rtcp)).iloc[0]
    assert s["first_check_t"] <= s["first_success_t"] <= s["nomination_t"] < s["first_rtp_t"]
    assert (s["errors_401"], s["errors_487"], s["ufrag_changes"], bool(s["consent_lost"])) == (0, 0, 0, False)
    assert s["consent_checks"] > 0 and s["consent_unanswered"] == 0


@pytest.mark.parametrize("name", [n for n in SESSIONS if n not in RELAYED and connected(n)])
def test_connected_sessions_have_a_nominated_success_then_dtls_and_rtp_when_the_peer_said_so(name):
    cap = capture(name)
    s = ice.summary(cap.stun, cap.packets, cap.stun_attributes)
    assert tables.check_schema(s, ice.SUMMARY_SCHEMA) == []
    s = s.iloc[0]
    # DTLS may start on the first valid pair, before the nomination: Chromium as DTLS client sends its ClientHello
    # right after its first successful check (chromium_chromium_*, firefox_chromium_clean); media waits for both.
    assert s["first_check_t"] <= s["first_success_t"] <= s["first_dtls_t"] < s["first_rtp_t"]
    assert s["first_success_t"] <= s["nomination_t"] <= s["first_rtp_t"]
    assert (s["errors_401"], s["errors_487"], s["ufrag_changes"], bool(s["consent_lost"])) == (0, 0, 0, False)
    assert s["consent_checks"] > 0
    # The captured peer's own ICE state change (aiortc/browser events; Janus reports none) follows the
    # nominating check's response that leaves its interface, within a fraction of a second; a controlled Chromium
    # says "connected" already on its first successful check, before the nomination.
    node = meta(name)["capture"]["node"]
    t0 = cap.packets["time"].iloc[0].timestamp()
    done = [e["unix"] - t0 for e in meta(name)["events"].get(node, [])
            if e["event"] == "iceConnectionState" and e["state"] in ("connected", "completed")]
    if done:
        assert s["first_success_t"] - 0.01 <= done[0] < s["nomination_t"] + 0.25


def test_ice_udp_blocked_has_checks_without_answer_and_no_selected_pair():
    cap = capture("ice_udp_blocked")
    tx = ice.transactions(cap.stun)
    checks = tx[tx["method"] == "binding"]
    assert len(checks) > 0 and set(checks["outcome"]) == {"no answer"}
    assert checks["retransmissions"].sum() > 0
    pairs = ice.candidate_pairs(cap.stun, cap.packets, cap.stun_attributes)
    assert len(pairs) > 0 and pairs["successes"].sum() == 0 and not pairs["selected"].any()
    # the peers were still "connecting" when the session was stopped at 20 s: aioice had not given up
    assert set(pairs["state"]) == {"in progress"}
    states = {e.get("state") for e in meta("ice_udp_blocked")["events"]["b"] if e["event"] == "connectionState"}
    assert "connected" not in states
    s = ice.summary(cap.stun, cap.packets, cap.stun_attributes).iloc[0]
    assert pd.isna(s["first_success_t"]) and pd.isna(s["selected_local"]) and pd.isna(s["first_dtls_t"])


def test_turn_wrong_password_loops_on_allocate_401_and_never_allocates():
    cap = capture("turn_wrong_password")
    alloc = ice.turn_allocations(cap.stun, cap.stun_attributes)
    assert tables.check_schema(alloc, ice.TURN_ALLOCATIONS_SCHEMA) == []
    assert len(alloc) == 3  # aiortc's three pre-BUNDLE gatherers (captures/README.md)
    assert (alloc["allocate_attempts"] == alloc["allocate_401"]).all() and (alloc["allocate_401"] >= 2).all()
    assert not alloc["allocated"].any() and alloc["relayed_address"].isna().all()
    assert set(alloc["state"]) == {"failed: error 401"}
    tx = ice.transactions(cap.stun)
    assert "success" not in set(tx["outcome"])


def test_turn_relay_static_allocates_relayed_addresses_including_the_one_getstats_selected():
    cap = capture("turn_relay_static")
    alloc = ice.turn_allocations(cap.stun, cap.stun_attributes)
    assert tables.check_schema(alloc, ice.TURN_ALLOCATIONS_SCHEMA) == []
    assert len(alloc) == 3 and alloc["allocated"].all() and alloc["authenticated_after_401"].all()
    assert (alloc["allocate_401"] == 1).all() and alloc["relayed_address"].notna().all()
    assert alloc["relayed_address"].str.startswith("10.99.0.3:").all()  # coturn's address (meta topology)
    gt = meta("turn_relay_static")["ground_truth"]["a"]["selected_pair"]
    local, remote = _candidate_address(gt["local"]), _candidate_address(gt["remote"])
    assert local in set(alloc["relayed_address"])
    # aioice binds a channel to the peer's relayed address on the allocation it keeps (no CreatePermission)
    peers = ice.turn_peers(cap.stun, cap.stun_attributes)
    assert tables.check_schema(peers, ice.TURN_PEERS_SCHEMA) == []
    kept = alloc.loc[alloc["relayed_address"] == local, "client"].iloc[0]
    assert peers.loc[peers["client"] == kept, "peer"].tolist() == [remote]
    assert peers["channel"].tolist() == [0x4000]
    # the two unused allocations are released at once (Refresh with LIFETIME 0)
    assert alloc.loc[alloc["relayed_address"] != local, "released_t"].lt(1.0).all()


def test_turn_relay_rest_chromium_allocates_and_permits_the_peer_getstats_reports():
    cap = capture("turn_relay_rest_chromium")
    alloc = ice.turn_allocations(cap.stun, cap.stun_attributes)
    gt = meta("turn_relay_rest_chromium")["ground_truth"]["a"]["selected_pair_stats"]
    relayed, peer = f"{gt['local']['ip']}:{gt['local']['port']}", f"{gt['remote']['ip']}:{gt['remote']['port']}"
    row = alloc[alloc["relayed_address"] == relayed]
    assert len(row) == 1 and row["permissions"].iloc[0] == 1 and row["channels"].iloc[0] == 1
    peers = ice.turn_peers(cap.stun, cap.stun_attributes)
    assert peers["peer"].tolist() == [peer]
    assert peers["send_indications"].iloc[0] > 0 and peers["data_indications"].iloc[0] > 0


@pytest.mark.parametrize("name", SESSIONS)
def test_nat_behaviour_finds_no_nat_in_the_lab(name):
    nat = ice.nat_behaviour(capture(name).stun)
    assert tables.check_schema(nat, ice.NAT_BEHAVIOUR_SCHEMA) == []
    assert set(nat["verdict"]) <= {"no NAT"}  # the lab's namespaces share one bridge: no NAT anywhere


# -- against tshark ------------------------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def tshark_response_to(name: str) -> dict[int, int]:
    """response frame -> request frame, as tshark's STUN dissector pairs them.  `!icmp`: tshark also dissects the
    STUN response quoted in an ICMP port unreachable (turn_relay_rest_chromium: Chromium had closed the socket
    when coturn's answer to its releasing Refresh came back) and pairs it again; that copy is not a message."""
    out = subprocess.run(
        ["tshark", "-r", str(CAPTURES / f"{name}.pcap"), "--enable-heuristic", "rtp_stun",
         "--enable-heuristic", "dtls_stun", "-Y", "stun && udp && !icmp", "-T", "fields",
         "-e", "frame.number", "-e", "stun.response-to"], capture_output=True, text=True, check=True).stdout
    pairs = {}
    for line in out.splitlines():
        frame, response_to = line.split("\t")
        if response_to:
            pairs[int(frame)] = int(response_to)
    return pairs


@pytest.mark.parametrize("name", SESSIONS)
def test_response_pairing_agrees_with_tshark_response_to(name):
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    tx = ice.transactions(capture(name).stun)
    answered = tx[(tx["requests"] > 0) & tx["response_frame"].notna()]
    assert (answered["responses"] == 1).all()  # so the first response is the only one tshark can name
    ours = dict(zip(answered["response_frame"].astype(int), answered["first_frame"].astype(int)))
    assert ours == tshark_response_to(name)


def test_candidate_pairs_pair_crafted_relayed_checks_as_relayed_candidate_and_peer():
    T, R, P = "192.0.2.50:3478", "192.0.2.50:50000", "10.0.0.9:7000"  # TURN server, relayed address, peer
    relay = dict(relayed=True, relay="channel 0x4000", peer=P)
    stun = stun_rows(
        msg(1, 0.0, A, T, "allocate", "request", "a1", username="user"),
        msg(2, 0.01, T, A, "allocate", "success", "a1", mapped_address=A),
        msg(3, 0.1, A, T, "binding", "request", "c1", username="rp:ra", ice_role="controlling", use_candidate=True,
            **relay),                                                          # sent by A: R -> P
        msg(4, 0.12, T, A, "binding", "success", "c1", **relay),
        msg(5, 0.2, T, A, "binding", "request", "c2", username="ra:rp", ice_role="controlled", **relay),  # P -> R
        msg(6, 0.21, A, T, "binding", "success", "c2", **relay),
        msg(7, 0.3, B, T, "binding", "request", "c3", username="rp:ra", **relay),  # no allocation: left out
    )
    attributes = pd.DataFrame({"frame": [2], "name": ["XOR-RELAYED-ADDRESS"], "value": [R], "relayed": [False]})
    rtp = pd.DataFrame({"frame": [8, 9, 9], "t": [0.4, 0.5, 0.5], "src": ["10.0.0.1", "192.0.2.50", "192.0.2.50"],
                        "sport": [5000, 3478, 3478], "dst": ["192.0.2.50", "10.0.0.1", "10.0.0.1"],
                        "dport": [3478, 5000, 5000], "ssrc": [1, 2, 2], "relayed": [True] * 3, "peer": [P] * 3})
    packets = crafted_packets((8, 0.4, A, T, "turn-channel"), (9, 0.5, T, A, "turn-channel"))
    assert len(ice.candidate_pairs(stun, packets, attributes)) == 0
    pairs = ice.candidate_pairs(stun, packets, attributes, relayed_media=(rtp,))
    assert tables.check_schema(pairs, ice.CANDIDATE_PAIRS_SCHEMA) == []
    assert pairs[["local", "remote", "checks", "successes", "nominated", "media_packets", "selected"]
                 ].values.tolist() == [[R, P, 1, 1, True, 2, True], [P, R, 1, 1, False, 2, False]]
    assert pairs["rtt_ms"].iloc[0] == pytest.approx(20.0)
    s = ice.summary(stun, packets, attributes, relayed_media=(rtp,)).iloc[0]
    assert (s["selected_local"], s["selected_remote"], s["first_rtp_t"]) == (R, P, 0.4)


# -- TURN long-term and REST credentials (captures/lab/record.py: the lab coturn's user, password, secret) ---------
TURN_USER, TURN_PASS, TURN_SECRET = "lab", "labpass", "wplab-rest-secret"


def _turn_integrity(cap):
    s = cap.stun[~cap.stun["relayed"] & (cap.stun["method"] != "binding")]
    return s[s["cls"] != "indication"]


def test_turn_long_term_credentials_check_every_signed_turn_message():
    cap = webrtcpcap.open(CAPTURES / "turn_relay_static.pcap", progress=False, turn_passwords={TURN_USER: TURN_PASS})
    s = _turn_integrity(cap)
    signed = s[s["username"].notna() | (s["cls"] == "success")]
    assert len(signed) > 10 and signed["integrity_ok"].eq(True).all()
    # the first Allocate of each transport carries no credentials, and its 401 none either (RFC 8656 §7.2)
    unsigned = s[(s["method"] == "allocate") & s["username"].isna() & (s["cls"] != "success")]
    assert len(unsigned) == 6 and unsigned["integrity_ok"].isna().all()
    wrong = webrtcpcap.open(CAPTURES / "turn_relay_static.pcap", progress=False, turn_passwords={TURN_USER: "x"})
    assert _turn_integrity(wrong)["integrity_ok"].dropna().eq(False).all()


def test_turn_wrong_password_capture_fails_integrity_with_the_right_password():
    cap = webrtcpcap.open(CAPTURES / "turn_wrong_password.pcap", progress=False, turn_passwords={TURN_USER: TURN_PASS})
    requests = cap.stun[(cap.stun["method"] == "allocate") & cap.stun["username"].notna()]
    assert len(requests) == 3 and requests["integrity_ok"].eq(False).all()


def test_turn_rest_secret_checks_integrity_and_the_expiry_is_flagged_when_past():
    cap = webrtcpcap.open(CAPTURES / "turn_relay_rest_chromium.pcap", progress=False, turn_secret=TURN_SECRET)
    s = _turn_integrity(cap)
    signed = s[s["username"].notna() | (s["cls"] == "success")]
    assert len(signed) > 8 and signed["integrity_ok"].eq(True).all()
    start = cap.packets["time"].iloc[0]
    alloc = ice.turn_allocations(cap.stun, cap.stun_attributes, start=start)
    assert tables.check_schema(alloc, ice.TURN_ALLOCATIONS_SCHEMA) == []
    expiry, user = stun.parse_rest_username(alloc["username"].iloc[0])
    assert user == TURN_USER
    assert (alloc["rest_expiry"] == pd.Timestamp(expiry, unit="s", tz="UTC")).all()
    assert not alloc["credential_expired"].any()  # the lab's credentials were valid for a day
    # the same Allocates sent after the expiry would be flagged
    late = ice.turn_allocations(cap.stun, cap.stun_attributes, start=pd.Timestamp(expiry + 60, unit="s", tz="UTC"))
    assert late["credential_expired"].all()
    assert ice.turn_allocations(cap.stun, cap.stun_attributes)["credential_expired"].isna().all()  # no start: unknown
    assert set(alloc["error_codes"]) == {"401"}


def test_nat_behaviour_counts_only_responses_that_crossed_a_nat():
    # L asked a STUN server (mapped through the NAT) and a LAN peer (which saw L itself: no NAT crossed).  Two
    # "servers", two mapped addresses, yet one piece of NAT evidence only: not a symmetric NAT.
    L, LAN_PEER, S1 = "192.168.1.5:4000", "192.168.1.9:5000", "198.51.100.1:3478"
    stun = stun_rows(
        msg(1, 0.0, S1, L, "binding", "success", "01", mapped_address="203.0.113.7:6000"),
        msg(2, 0.1, LAN_PEER, L, "binding", "success", "02", mapped_address=L),
        msg(3, 0.2, S1, B, "binding", "success", "03", mapped_address="203.0.113.7:6001"),
        msg(4, 0.3, S2, B, "binding", "success", "04", mapped_address="203.0.113.7:6001"),
        msg(5, 0.4, LAN_PEER, B, "binding", "success", "05", mapped_address=B),
    )
    nat = ice.nat_behaviour(stun)
    assert tables.check_schema(nat, ice.NAT_BEHAVIOUR_SCHEMA) == []
    assert nat.groupby("local", sort=False)["verdict"].first().to_dict() == {
        L: "not enough evidence", B: "endpoint-independent mapping"}
    assert nat.set_index("first_frame")["crossed_nat"].to_dict() == {1: True, 2: False, 3: True, 4: True, 5: False}
    assert nat.groupby("local", sort=False)["servers"].first().to_dict() == {L: 1, B: 2}
