"""Endpoint stats (getStats, Janus handle_info) loaders and the side-by-side table, over the lab's sessions.
Reference values come from the sidecar JSON files and .meta.json, never from our own output."""

import json
import os
import warnings

import pytest

import webrtcpcap
from webrtcpcap import endpoints
from webrtcpcap.analysis.compare import SIDE_BY_SIDE_SCHEMA, side_by_side
from webrtcpcap.io.errors import DecodeError
from webrtcpcap.tables.schema import check_schema

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAPS = os.path.join(HERE, "captures")
SESSIONS = ["aiortc_clean", "aiortc_loss5_rtp", "chromium_aiortc_loss5", "janus_echotest_clean",
            "janus_echotest_loss5", "turn_relay_static"]


def _p(name, suffix):
    return os.path.join(CAPS, name + suffix)


def _json(name, suffix):
    with open(_p(name, suffix)) as f:
        return json.load(f)


_CACHE = {}


def _open(name, dump=False):
    key = (name, dump)
    if key not in _CACHE:
        kw = {"keylog": _p(name, ".keylog")} if os.path.exists(_p(name, ".keylog")) and not dump else {}
        path = _p(name, ".janus.pcap" if dump else ".pcap")
        _CACHE[key] = webrtcpcap.open(path, sdp=[_p(name, ".offer.sdp"), _p(name, ".answer.sdp")], **kw)
    return _CACHE[key]


def _table(name, dump=False):
    hi = _p(name, ".handle_info.json") if os.path.exists(_p(name, ".handle_info.json")) else None
    with warnings.catch_warnings():
        warnings.simplefilter("error", endpoints.StatsWarning)
        return side_by_side(_open(name, dump), getstats=_p(name, ".getstats.json"), handle_info=hi)


@pytest.mark.parametrize("name", sorted({f.split(".")[0] for f in os.listdir(CAPS) if f.endswith(".getstats.json")}))
def test_every_getstats_sidecar_loads(name):
    raw = _json(name, ".getstats.json")
    g = endpoints.load_getstats(_p(name, ".getstats.json"))
    assert check_schema(g, endpoints.GETSTATS_SCHEMA) == []
    assert len(g) == sum(len(v) for v in raw.values())
    for node, report in raw.items():
        for sid, o in report.items():
            row = g[(g.node == node) & (g.id == sid)].iloc[0]
            assert row.type == o["type"]
            for member, col in (("packetsReceived", "packets_received"), ("packetsSent", "packets_sent"),
                                ("packetsLost", "packets_lost"), ("ssrc", "ssrc"), ("nackCount", "nack_count")):
                if member in o:
                    assert row[col] == o[member]


@pytest.mark.parametrize("name", sorted({f.split(".")[0] for f in os.listdir(CAPS) if f.endswith(".handle_info.json")}))
def test_every_handle_info_sidecar_loads(name):
    raw = _json(name, ".handle_info.json")["info"]
    h = endpoints.load_handle_info(_p(name, ".handle_info.json"))
    assert check_schema(h, endpoints.HANDLE_INFO_SCHEMA) == []
    conn = h[h.type == "connection"].iloc[0]
    assert conn.selected_pair == raw["webrtc"]["ice"]["selected-pair"]
    assert conn.srtp_profile == raw["webrtc"]["dtls"]["srtp-profile"]
    for m in raw["webrtc"]["media"].values():
        inb = h[(h.type == "inbound") & (h.ssrc == m["ssrc"]["ssrc-peer"])].iloc[0]
        out = h[(h.type == "outbound") & (h.ssrc == m["ssrc"]["ssrc"])].iloc[0]
        assert inb.packets == m["stats"]["in"]["packets"] and out.packets == m["stats"]["out"]["packets"]
        assert inb.lost == m["rtcp"]["main"]["lost"] and out.lost == m["rtcp"]["main"]["lost-by-remote"]


def test_other_shapes_of_getstats():
    raw = _json("chromium_aiortc_loss5", ".getstats.json")["a"]
    single = endpoints.load_getstats(raw)
    as_list = endpoints.load_getstats(list(raw.values()))
    assert len(single) == len(as_list) == len(raw)
    assert set(single.source) == {"chromium getStats"}
    # a webrtc-internals dump built from the same report: each member a one-value series
    stats = {}
    for sid, o in raw.items():
        for member, value in o.items():
            if member not in ("id", "type", "timestamp"):
                stats[f"{sid}-{member}"] = {"statsType": o["type"], "values": json.dumps([0, value]),
                                            "endTime": "2026-11-25T02:04:42.907Z"}
    dump = endpoints.load_getstats({"PeerConnections": {"1-1": {"stats": stats}}, "UserAgent": "x"})
    inbound = dump[dump.type == "inbound-rtp"].set_index("ssrc")
    for o in raw.values():
        if o["type"] == "inbound-rtp":
            assert inbound.loc[o["ssrc"], "packets_received"] == o["packetsReceived"]
    assert set(dump.source) == {"webrtc-internals"}


@pytest.mark.parametrize("bad, loader", [
    ("{not json", endpoints.load_getstats), ('{"a": 1}', endpoints.load_getstats), ("[1, 2]", endpoints.load_getstats),
    ("{not json", endpoints.load_handle_info), ("[]", endpoints.load_handle_info),
    ('{"janus": "error", "error": {"code": 458}}', endpoints.load_handle_info),
])
def test_malformed_json_is_a_decode_error(tmp_path, bad, loader):
    f = tmp_path / "x.json"
    f.write_text(bad)
    with pytest.raises(DecodeError):
        loader(str(f))


def test_handle_info_is_not_getstats():
    with pytest.raises(DecodeError, match="handle_info"):
        endpoints.load_getstats(_p("janus_echotest_clean", ".handle_info.json"))
    with pytest.raises(DecodeError):
        endpoints.load_getstats(_p("missing", ".getstats.json"))


def _row(t, source, ssrc, metric, node=None):
    r = t[(t.source == source) & (t.ssrc == ssrc) & (t.metric == metric)]
    if node is not None:
        r = r[r.node == node]
    assert len(r) == 1, (source, ssrc, metric)
    return r.iloc[0]


@pytest.mark.parametrize("name", SESSIONS)
def test_side_by_side_agrees_where_both_count_the_same(name):
    t = _table(name)
    assert check_schema(t, SIDE_BY_SIDE_SCHEMA) == []
    meta = _json(name, ".meta.json")
    node = meta["capture"]["node"]
    raw = _json(name, ".getstats.json")
    # every SSRC each endpoint reports is in the capture
    assert t[t.metric == "ssrcs in capture"].agree.all()
    # the capture node's own counters: it sees what it sent and received whole (no loss between it and the wire)
    if node in raw:
        for o in raw[node].values():
            if o["type"] == "outbound-rtp":
                r = _row(t, t[t.node == node].source.iloc[0], o["ssrc"], "packetsSent", node)
                assert r.agree, r.to_dict()
            if o["type"] == "inbound-rtp":
                for metric in ("packetsReceived", "packetsLost"):
                    r = _row(t, t[t.node == node].source.iloc[0], o["ssrc"], metric, node)
                    assert r.agree, r.to_dict()
    # RTCP that both read from the same packets agrees exactly (when the capture's SRTCP is decrypted)
    remote = t[t.metric.isin(["remote packetsLost", "remote packetsSent", "nackCount", "pliCount", "firCount"])
               & t.capture_value.notna()]
    assert remote.agree.all(), remote[~remote.agree.astype(bool)].to_dict("records")
    if os.path.exists(_p(name, ".keylog")):
        assert len(remote) > 0
    # DTLS: state and profile agree
    dtls = t[t.metric.isin(["dtlsState", "srtpCipher", "dtlsCipher", "tlsVersion", "dtlsRole"])
             & t.capture_value.notna()]
    assert len(dtls) and dtls.agree.all()


@pytest.mark.parametrize("name", SESSIONS)
def test_selected_pair_is_the_endpoints(name):
    cap = _open(name)
    meta = _json(name, ".meta.json")
    s = webrtcpcap.ice.summary(cap.stun, cap.packets, cap.stun_attributes, relayed_media=(cap.rtp, cap.rtcp))
    truth = meta["ground_truth"]["a"]
    if "selected_pair_stats" in truth:
        ends = [truth["selected_pair_stats"][k] for k in ("local", "remote")]
        want = {f"{e['ip']}:{e['port']}" for e in ends}
    else:  # aiortc: candidate lines "... ip port typ ..."
        want = {"{}:{}".format(*truth["selected_pair"][k].split()[4:6]) for k in ("local", "remote")}
    assert {s.selected_local.iloc[0], s.selected_remote.iloc[0]} == want
    t = _table(name)
    pair = t[t.metric == "selected pair"]
    if "janus" in name or "chromium" in name:  # aiortc's getStats has no candidate-pair stats
        assert len(pair) and pair.agree.all()


def test_janus_dump_counts_nacked_packets_like_janus():
    t = _table("janus_echotest_loss5", dump=True)
    raw = _json("janus_echotest_loss5", ".handle_info.json")["info"]["webrtc"]["media"]["1"]
    inb = _row(t, "janus handle_info", raw["ssrc"]["ssrc-peer"], "nacks")
    out = _row(t, "janus handle_info", raw["ssrc"]["ssrc"], "nacks")
    assert int(inb.endpoint_value) == raw["stats"]["in"]["nacks"] and inb.agree
    assert int(out.endpoint_value) == raw["stats"]["out"]["nacks"] and out.agree
    sent = _row(t, "janus handle_info", raw["ssrc"]["ssrc"], "packets")
    assert int(sent.endpoint_value) == raw["stats"]["out"]["packets"] and sent.agree


def test_loss_after_the_capture_point_is_flagged_not_hidden():
    # aiortc_loss5_rtp is captured at b: a's outbound counters exceed what b's capture saw, by what b reported lost
    t = _table("aiortc_loss5_rtp")
    raw = _json("aiortc_loss5_rtp", ".getstats.json")["a"]
    for o in raw.values():
        if o["type"] == "outbound-rtp" and o["kind"] == "audio":
            r = _row(t, "aiortc getStats", o["ssrc"], "packetsSent", "a")
            assert not r.agree and int(r.endpoint_value) > int(r.capture_value)


def test_stats_of_another_call_are_flagged():
    cap = _open("aiortc_clean")
    with pytest.warns(endpoints.StatsWarning, match="another call"):
        t = side_by_side(cap, getstats=_p("chromium_aiortc_loss5", ".getstats.json"))
    check = t[t.metric == "ssrcs in capture"]
    assert len(check) == 2 and not check.agree.any()
    with pytest.warns(endpoints.StatsWarning):
        side_by_side(cap, handle_info=_p("janus_echotest_clean", ".handle_info.json"))


from hypothesis import given, settings, strategies as st  # noqa: E402

_json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                            lambda kids: st.lists(kids, max_size=4) | st.dictionaries(
                                st.sampled_from(["a", "type", "id", "ssrc", "info", "webrtc", "media", "stats",
                                                 "packetsReceived", "timestamp", "PeerConnections", "jitter"]),
                                kids, max_size=5), max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(_json_values)
def test_loaders_on_random_json_give_a_table_or_decode_error(value):
    for loader in (endpoints.load_getstats, endpoints.load_handle_info):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                loader(value if isinstance(value, (dict, list)) else json.dumps(value))
        except DecodeError:
            pass


# --- RTX counted as each stack counts it (webrtc-stats: packetsSent/packetsReceived include retransmissions) --------

def test_chromium_packets_sent_counts_its_rtx_packets_as_webrtc_stats_defines_it():
    """Chromium's outbound video of turn_relay_rest_chromium: 248 packetsSent, the capture holds 239 on the media
    SSRC and 9 on its RTX SSRC (rtxSsrc in the same stats object).  Compared media alone, the row said "a capture
    downstream of a loss sees fewer" on a capture that lost nothing."""
    raw = _json("turn_relay_rest_chromium", ".getstats.json")
    [o] = [o for o in raw["a"].values() if o["type"] == "outbound-rtp" and o["kind"] == "video"]
    t = _table("turn_relay_rest_chromium")
    r = _row(t, "chromium getStats", o["ssrc"], "packetsSent", "a")
    cap = _open("turn_relay_rest_chromium")
    media = int((cap.rtp["ssrc"] == o["ssrc"]).sum())
    rtx = int((cap.rtp["ssrc"] == o["rtxSsrc"]).sum())
    assert (int(r.endpoint_value), media, rtx) == (248, 239, 9)
    assert int(r.capture_value) == media + rtx and r.agree
    assert f"rtx ssrc {o['rtxSsrc']}" in r.capture_from and "includes retransmissions" in r.note


def test_an_inbound_count_of_a_stack_that_counts_rtx_adds_the_rtx_packets_with_a_payload():
    cap = _open("chromium_aiortc_loss5")
    g = endpoints.load_getstats(_p("chromium_aiortc_loss5", ".getstats.json"))
    video = (g.node == "b") & (g.type == "inbound-rtp") & (g.kind == "video")
    media_ssrc = int(g.loc[video, "ssrc"].iloc[0])
    rtx_ssrc = int(g.loc[(g.node == "a") & (g.type == "outbound-rtp") & (g.kind == "video"), "rtx_ssrc"].iloc[0])
    rtp = cap.rtp
    retransmissions = int(((rtp["ssrc"] == rtx_ssrc) & ~rtp["padding"].astype(bool)).sum())
    media = int((rtp["ssrc"] == media_ssrc).sum())
    assert retransmissions > 0
    aiortc = side_by_side(cap, getstats=g[g.node == "b"])
    r = _row(aiortc, "aiortc getStats", media_ssrc, "packetsReceived")
    assert int(r.capture_value) == media and "rtx" not in r.capture_from  # aiortc counts the media SSRC only
    chrome = g[g.node == "b"].copy()
    chrome["source"] = "chromium getStats"
    chrome.loc[video, "rtx_ssrc"] = rtx_ssrc
    chrome.loc[video, "packets_received"] = media + retransmissions
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", endpoints.StatsWarning)
        r = _row(side_by_side(cap, getstats=chrome), "chromium getStats", media_ssrc, "packetsReceived")
    assert int(r.capture_value) == media + retransmissions and r.agree and "with payload" in r.capture_from


def _browsers(meta: dict) -> dict:
    """{node: "firefox" | "chromium" | "aiortc"} from the lab's meta.json `kind` ("firefox-chromium": a is Firefox)."""
    kind = meta["parameters"]["kind"].split("-")
    return {node: kind[i] if i < len(kind) else kind[-1] for i, node in enumerate("ab")}


@pytest.mark.parametrize("name", ["firefox_chromium_clean", "firefox_aiortc_clean", "firefox_firefox_clean",
                                  "chromium_chromium_clean", "bwe/freeze"])
def test_each_node_is_named_after_the_browser_that_wrote_it(name):
    # Firefox 153 reports tlsVersion on its transport, as Chromium does: the stack is told by the ids' shape
    truth = _browsers(_json(name, ".meta.json"))
    t = endpoints.load_getstats(_p(name, ".getstats.json"))
    named = t.groupby("node", observed=True)["source"].first().astype(str).to_dict()
    want = {"firefox": "firefox getStats", "chromium": "chromium getStats", "aiortc": "aiortc getStats"}
    assert named == {node: want[truth[node]] for node in named}


# --- getStats over time (the lab's .stats-series.json, polled reports, webrtc-internals dumps) ----------------------

BWE_SESSIONS = ["healthy", "bwe_drop", "freeze", "healthy2", "freeze3s", "bwe_netem"]


@pytest.mark.parametrize("name", BWE_SESSIONS)
def test_stats_series_holds_every_numeric_member_of_every_sample(name):
    raw = _json(f"bwe/{name}", ".stats-series.json")
    t = endpoints.load_getstats_series(_p(f"bwe/{name}", ".stats-series.json"))
    check_schema(t, endpoints.SERIES_SCHEMA)
    for node in ("a", "b"):
        samples = raw[node]
        numeric = [(o["id"], m, v) for s in samples for o in s["stats"] for m, v in o.items()
                   if m not in ("timestamp", "ssrc") and isinstance(v, (int, float)) and not isinstance(v, bool)]
        mine = t[t.node == node]
        assert len(mine) == len(numeric)
        # the last sample's framesReceived of the inbound video, as the browser wrote it
        last = next((o for o in reversed(samples[-1]["stats"]) if o["type"] == "inbound-rtp"
                     and o.get("kind") == "video"), None)
        if last is not None:
            got = mine[(mine.metric == "framesReceived") & (mine.ssrc == last["ssrc"])]
            assert got["value"].iloc[-1] == last["framesReceived"]
            assert round(got["timestamp"].iloc[-1].value / 1e6) == round(last["timestamp"])
    meta = _json(f"bwe/{name}", ".meta.json")
    want = {n: {"firefox": "firefox getStats", "chromium": "chromium getStats"}[b]
            for n, b in _browsers(meta).items()}
    assert t.groupby("node", observed=True)["source"].first().astype(str).to_dict() == want


def test_stats_series_from_polled_reports_and_from_a_webrtc_internals_dump():
    raw = _json("bwe/bwe_drop", ".stats-series.json")["b"][:40]
    polled = endpoints.load_getstats_series([{o["id"]: o for o in s["stats"]} for s in raw])
    lab = endpoints.load_getstats_series({"b": raw})
    assert len(polled) == len(lab) and (polled["value"].to_numpy() == lab["value"].to_numpy()).all()
    # an internals dump keeps per series only its values and its start and end: one sample per second here
    pair = [next(o for o in s["stats"] if o["type"] == "candidate-pair") for s in raw[::4]]
    values = [o["availableOutgoingBitrate"] for o in pair]
    start, end = pair[0]["timestamp"], pair[0]["timestamp"] + 1000 * (len(pair) - 1)
    dump = {"PeerConnections": {"7-1": {"stats": {"CP1-availableOutgoingBitrate": {
        "statsType": "candidate-pair", "startTime": start, "endTime": end, "values": json.dumps(values)}}}}}
    t = endpoints.load_getstats_series(dump)
    assert list(t["value"]) == values and set(t.source) == {"webrtc-internals"}
    ms = [round(v / 1e6) for v in t["timestamp"].astype("int64")]
    assert ms == [round(start) + 1000 * i for i in range(len(values))]


@pytest.mark.parametrize("bad", ["{not json", '{"a": 1}', "[1, 2]", '{"a": [{"unix": 1, "stats": [1]}]}', "3"])
def test_stats_series_of_another_shape_is_a_decode_error(tmp_path, bad):
    f = tmp_path / "x.json"
    f.write_text(bad)
    with pytest.raises(DecodeError):
        endpoints.load_getstats_series(str(f))


@settings(max_examples=200, deadline=None)
@given(_json_values)
def test_series_loader_on_random_json_gives_a_table_or_decode_error(value):
    try:
        endpoints.load_getstats_series(value if isinstance(value, (dict, list)) else json.dumps(value))
    except DecodeError:
        pass
