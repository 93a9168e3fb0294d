"""Endpoint dump importers (Chromium RTP_DUMP log lines, Janus text2pcap text dumps) and their alignment with a
wire capture.

References, never our own output:
- The committed `chromium_aiortc_loss5.rtpdump.pcap` (the lab's text2pcap conversion of Chromium's log, see
  captures/lab/record.py rtpdump_to_pcap) and `janus_echotest_loss5.janus.pcap` (Janus' own start_pcap file): log
  lines are written back from their frames in the writers' real formats, and the importers must give the same
  tables as opening those files.
  * Chromium format, as webrtc writes it (pc/srtp_session.cc SrtpSession::DumpPacket -> rtc_base/text2pcap.cc
    Text2Pcap::DumpPacket, read with the search tool): a VERBOSE log message "\\n" + "O HH:MM:SS.mmm 0000 80 60 ..."
    + " # RTP_DUMP", so the log prefix "[pid:tid:MMDD/HHMMSS.micro:VERBOSE1:.../srtp_session.cc(N)] " ends the
    line before; the dump line's own time is wrong (its hours and minutes are miscomputed).
  * Janus format (meetecho/janus-gateway src/text2pcap.c janus_text2pcap_dump): "I|O HH:MM:SS.uuuuuu 000000 "
    then " %02x" per byte, " JANUS_TEXT2PCAP_RTP|RTCP|DATA", "\\r\\n"; local time of day, no date.
- The session's .meta.json: the nft counter of Chromium's RTP dropped before the capture point.
- webrtcpcap.streams.gaps of the wire capture (the holes the capture point saw).
- scapy's checksum computation for the frames we write.
"""

import datetime as dt
import json
import os
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import webrtcpcap
from webrtcpcap import dumps, streams
from webrtcpcap.io.errors import CaptureWarning
from webrtcpcap.tables.schema import check_schema

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAPS = os.path.join(HERE, "captures")
UTC = dt.timezone.utc
RTPDUMP = os.path.join(CAPS, "chromium_aiortc_loss5.rtpdump.pcap")
JANUS_DUMP = os.path.join(CAPS, "janus_echotest_loss5.janus.pcap")
CHROMIUM_WIRE = os.path.join(CAPS, "chromium_aiortc_loss5.pcap")

_CACHE = {}


def _open(path):
    if path not in _CACHE:
        _CACHE[path] = webrtcpcap.open(path)
    return _CACHE[path]


def _udp_payload(cap, frame):
    """The UDP payload of an Ethernet/IPv4/UDP frame, by the UDP length field (text2pcap pads short frames)."""
    raw = cap.frame_bytes(frame)
    assert raw[12:14] == b"\x08\x00" and raw[14] == 0x45 and raw[23] == 17
    return raw[42:42 + int.from_bytes(raw[38:40], "big") - 8]


def _frames(cap):
    pk = cap.packets
    return list(zip(pk["frame"].tolist(), pk["time"].tolist(), pk["src"].astype(str).tolist()))


def chromium_log(cap, garbage=True):
    """Chromium log text for every frame of a converted RTP dump: prefix line, dump line (with a wrong time of its
    own, as Chromium writes it), ordinary log lines in between."""
    out = []
    for i, (frame, t, src) in enumerate(_frames(cap)):
        d = "O" if src == dumps.CHROMIUM[0] else "I"
        out.append(f"[4321:8765:{t:%m%d/%H%M%S}.{t.microsecond:06d}:VERBOSE1:third_party/webrtc/pc/"
                   "srtp_session.cc(549)] \n")
        out.append(f"{d} 07:{i % 60:02d}:13.{i % 1000:03d} 0000 {_udp_payload(cap, frame).hex(' ')} # RTP_DUMP\n")
        if garbage and i % 97 == 0:
            out.append(f"[4321:1111:{t:%m%d/%H%M%S}.000001:INFO:CONSOLE(12)] \"page says hi\", source: x.js (12)\n")
            out.append("Fontconfig warning: ignoring UTF-8: not a valid region tag\n")
            out.append("\n")
    return out


def janus_text(cap):
    out = []
    for frame, t, src in _frames(cap):
        payload = _udp_payload(cap, frame)
        d = "I" if src == dumps.JANUS_RECEIVED[0] else "O"
        kind = "RTCP" if len(payload) > 1 and 192 <= payload[1] <= 223 else "RTP"  # RFC 5761 §4
        hexed = "".join(f" {b:02x}" for b in payload)
        out.append(f"{d} {t:%H:%M:%S}.{t.microsecond:06d} 000000 {hexed} JANUS_TEXT2PCAP_{kind}\r\n")
    return out


def _same_tables(got, ref):
    for name in ("rtp", "rtcp", "rtcp_sender_reports", "rtcp_report_blocks", "nacks", "keyframe_requests"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(ref, name), obj=name)
    # text2pcap pads frames to Ethernet's 60-byte minimum, we do not: caplen/len of short frames differ
    pd.testing.assert_frame_equal(got.packets.drop(columns=["caplen", "len"]),
                                  ref.packets.drop(columns=["caplen", "len"]), obj="packets")


def test_chromium_log_opens_into_the_tables_of_the_lab_conversion():
    ref = _open(RTPDUMP)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning: garbage log lines are not malformed dump lines
        cap = dumps.open_chromium_rtp_dump(chromium_log(ref), year=2026, tz=UTC)
    assert cap.dump.packets == len(ref) == 2615 and cap.dump.malformed == 0 and cap.problem is None
    assert cap.dump.format == "chromium-rtp-dump"
    _same_tables(cap, ref)
    assert (cap.packets["time"] == ref.packets["time"]).all()  # to the microsecond, absolute
    assert set(map(tuple, cap.rtp[["src", "sport"]].astype(str).values)) == {("10.3.3.1", "3001"),
                                                                             ("10.3.3.2", "3002")}


def test_chromium_log_from_a_file_takes_its_year_from_the_mtime(tmp_path):
    ref = _open(RTPDUMP)
    log = tmp_path / "chrome_debug.log"
    log.write_text("".join(chromium_log(ref)))
    end = ref.packets["time"].max().timestamp() + 5
    os.utime(log, (end, end))
    cap = dumps.open_chromium_rtp_dump(log, tz=UTC)
    assert cap.dump.source == str(log)
    assert (cap.packets["time"] == ref.packets["time"]).all()
    cap = dumps.open_chromium_rtp_dump(log, tz=UTC, year=2024)
    assert (cap.packets["time"].dt.year == 2024).all()
    # the prefix is local time: in UTC+2 the same wall-clock reads two hours earlier in UTC
    cap = dumps.open_chromium_rtp_dump(log, tz=dt.timezone(dt.timedelta(hours=2)), year=2026)
    assert ((ref.packets["time"] - cap.packets["time"]) == pd.Timedelta(hours=2)).all()


def test_chromium_pcap_can_be_kept_and_the_temporary_one_goes_with_the_capture(tmp_path):
    lines = chromium_log(_open(RTPDUMP), garbage=False)[:20]
    kept = tmp_path / "dump.pcap"
    cap = dumps.open_chromium_rtp_dump(lines, year=2026, tz=UTC, pcap=kept)
    assert cap.dump.pcap == str(kept) and len(webrtcpcap.open(kept)) == 10
    cap = dumps.open_chromium_rtp_dump(lines, year=2026, tz=UTC)
    path = cap.dump.pcap
    assert os.path.exists(path)
    del cap
    import gc
    gc.collect()
    assert not os.path.exists(path)


def test_frames_have_valid_ip_and_udp_checksums():
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    for payload in (b"\x80\x60\x00\x01" + bytes(range(200)), b"\x81\xc9\x00\x01abcd", b"x"):
        frame = dumps.udp_frame(("10.3.3.1", 3001), ("10.3.3.2", 3002), payload, 7)
        pkt = Ether(frame)
        ip_sum, udp_sum = pkt[IP].chksum, pkt[UDP].chksum
        del pkt[IP].chksum, pkt[UDP].chksum
        again = Ether(bytes(pkt))
        assert (again[IP].chksum, again[UDP].chksum) == (ip_sum, udp_sum)
        assert pkt[IP].len == 28 + len(payload) and pkt[UDP].len == 8 + len(payload)
        assert bytes(pkt[UDP].payload) == payload


def test_bad_chromium_lines_are_counted_not_raised():
    good = chromium_log(_open(RTPDUMP), garbage=False)[:40]  # 20 packets
    bad = [
        "O 12:00:00.000 0000 80 6z 00 01 # RTP_DUMP\n",  # not hex
        "O 12:00:00.000 0000 80 60 00 01 9a\n",  # cut short (no suffix)
        "X 12:00:00.000 0000 80 60 00 01 # RTP_DUMP\n",  # no direction
        "I 12:00:00.000 0000 # RTP_DUMP\n",  # no bytes
        "[1:2:1399/250000.000000:VERBOSE1:srtp_session.cc(1)] \n",  # impossible date and time...
        "O 12:00:00.000 0000 80 60 00 01 # RTP_DUMP\n",  # ... so this line has no valid time
    ]
    lines = bad[:4] + good[:20] + bad[4:] + good[20:]
    with pytest.warns(CaptureWarning, match="5 malformed dump lines skipped"):
        cap = dumps.open_chromium_rtp_dump(lines, year=2026, tz=UTC)
    assert cap.dump.malformed == 5 and cap.dump.packets == 20 and len(cap.rtp) + len(cap.rtcp) >= 20
    assert cap.dump.first_malformed.startswith("line 1: ") and "5 malformed" in cap.problem
    # a dump line before any log prefix has no time
    with pytest.warns(CaptureWarning, match="no log prefix"):
        cap = dumps.open_chromium_rtp_dump(good[1:2] + good[2:4], year=2026, tz=UTC)
    assert cap.dump.malformed == 1 and cap.dump.packets == 1
    # 29 February of a common year: that line only
    feb = ["[1:2:0229/120000.000000:VERBOSE1:srtp_session.cc(1)] \n", good[1]]
    with pytest.warns(CaptureWarning, match="does not exist"):
        cap = dumps.open_chromium_rtp_dump(feb + good[2:4], year=2025, tz=UTC)
    assert cap.dump.malformed == 1 and cap.dump.packets == 1
    assert len(dumps.open_chromium_rtp_dump(feb, year=2024, tz=UTC)) == 1


def test_chromium_year_advances_past_new_year():
    pkt = "O 00:00:00.000 0000 80 60 00 01 00 00 00 01 00 00 00 07 # RTP_DUMP\n"
    lines = ["[1:2:1231/235959.900000:VERBOSE1:srtp_session.cc(1)] \n", pkt,
             "[1:2:0101/000000.100000:VERBOSE1:srtp_session.cc(1)] \n", pkt]
    cap = dumps.open_chromium_rtp_dump(lines, year=2026, tz=UTC)
    assert list(cap.packets["time"]) == [pd.Timestamp("2026-12-31 23:59:59.9", tz="UTC"),
                                         pd.Timestamp("2027-01-01 00:00:00.1", tz="UTC")]


def test_empty_inputs_give_empty_captures_that_say_why(tmp_path):
    empty = tmp_path / "empty.log"
    empty.write_text("")
    with pytest.warns(CaptureWarning, match="no RTP_DUMP lines"):
        cap = dumps.open_chromium_rtp_dump(empty)
    assert len(cap) == 0 and len(cap.rtp) == 0 and "WebRTC-Debugging-RtpDump" in cap.problem
    with pytest.warns(CaptureWarning, match="no text2pcap lines"):
        cap = dumps.open_janus_text2pcap(empty)
    assert len(cap) == 0 and len(cap.rtcp) == 0 and cap.dump.malformed == 0
    with pytest.raises(TypeError):
        dumps.open_janus_text2pcap(b"I 00:00:00.0 000000  80 JANUS_TEXT2PCAP_RTP")


def test_janus_text_dump_opens_into_the_tables_of_janus_start_pcap(tmp_path):
    ref = _open(JANUS_DUMP)
    text = tmp_path / "janus.txt"
    with open(text, "w", newline="") as f:
        f.write("".join(janus_text(ref)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cap = dumps.open_janus_text2pcap(text, date="2026-11-25", tz=UTC)
    assert cap.dump.packets == len(ref) == 2732 and cap.dump.format == "janus-text2pcap"
    _same_tables(cap, ref)
    assert (cap.packets["caplen"] == ref.packets["caplen"]).all()  # Janus does not pad either
    assert (cap.packets["time"] == ref.packets["time"]).all()
    # without a date: the file's modification date, for the last line
    end = ref.packets["time"].max().timestamp() + 1
    os.utime(text, (end, end))
    assert (dumps.open_janus_text2pcap(text, tz=UTC).packets["time"] == ref.packets["time"]).all()


def test_janus_bad_lines_are_counted_and_midnight_moves_the_date():
    rtp = " 80 60 00 01 00 00 00 01 00 00 00 07"
    lines = [f"I 23:59:59.999999 000000 {rtp} JANUS_TEXT2PCAP_RTP\r\n",
             f"O 23:59:59.999 000000 {rtp} JANUS_TEXT2PCAP_RTP retransmission\r\n",  # free text after the type
             f"I 24:00:00.000000 000000 {rtp} JANUS_TEXT2PCAP_RTP\r\n",  # impossible time
             f"I 00:00:00.5 000000 {rtp} JANUS_TEXT2PCAP_R\r\n",  # cut short
             f"I 00:00:00.000001 000000 {rtp[:-1]}G JANUS_TEXT2PCAP_RTP\r\n",  # not hex
             "garbage\r\n", "\r\n",
             f"O 00:00:00.000002 000000 {rtp} [rtp]\r\n"]
    with pytest.warns(CaptureWarning, match="4 malformed"):
        cap = dumps.open_janus_text2pcap(lines, date=dt.date(2026, 2, 28), tz=UTC)
    assert cap.dump.first_malformed.startswith("line 3: ")
    assert list(cap.packets["time"]) == [pd.Timestamp("2026-02-28 23:59:59.999999", tz="UTC"),
                                         pd.Timestamp("2026-02-28 23:59:59.999", tz="UTC"),
                                         pd.Timestamp("2026-03-01 00:00:00.000002", tz="UTC")]
    assert list(dumps.dump_directions(cap.packets).astype(str)) == ["in", "out", "out"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.text(max_size=80),
                          st.builds(lambda d, h, tail: f"{d} 12:00:00.{h} 0000 {tail} # RTP_DUMP",
                                    st.sampled_from("IOX"), st.text("0123456789", max_size=7),
                                    st.text("0123456789abcdefABCDEF z", max_size=40)),
                          st.builds(lambda a, b: f"[1:2:{a}/{b}.123456:VERBOSE1:x.cc(1)] ",
                                    st.text("0123456789", min_size=4, max_size=4),
                                    st.text("0123456789", min_size=6, max_size=6))), max_size=12))
def test_any_text_opens_or_is_counted(lines):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cap = dumps.open_chromium_rtp_dump(lines, year=2026, tz=UTC)
        assert cap.dump.packets + cap.dump.malformed <= len(lines) and len(cap) == cap.dump.packets
        cap = dumps.open_janus_text2pcap(lines, date="2026-01-01", tz=UTC)
        assert len(cap) == cap.dump.packets


# --- alignment --------------------------------------------------------------------------------------------------

def _lost_in_gaps(wire, ssrcs):
    """(ssrc, extended seq) of every number inside a hole of the wire's streams that never arrived, and each
    stream's (first, last) extended number."""
    rtp = wire.rtp[wire.rtp["ssrc"].isin(ssrcs)]
    out, span = set(), {}
    for ssrc, g in rtp.groupby("ssrc"):
        ext = streams.extend_seq(g["seq"].to_numpy())
        seen = set(ext.tolist())
        span[ssrc] = (int(ext.min()), int(ext.max()))
        for gap in streams.gaps(g).itertuples():
            out |= {(ssrc, s) for s in range(gap.first_missing, gap.first_missing + gap.count) if s not in seen}
    return out, span


def test_align_chromium_sent_vs_wire_lacks_exactly_the_captures_gaps():
    wire, dump = _open(CHROMIUM_WIRE), _open(RTPDUMP)
    al = dumps.align(wire, dump, wire_side="10.99.0.1", dump_direction="out")
    assert check_schema(al, dumps.ALIGN_SCHEMA) == []
    sent_ssrcs = set(dump.rtp.loc[dumps.dump_directions(dump.rtp) == "out", "ssrc"].tolist())
    assert set(al["ssrc"].tolist()) == sent_ssrcs and (al["direction"] == "out").all()
    lost = al[al["only_in"] == "dump"]
    in_gaps, span = _lost_in_gaps(wire, sent_ssrcs)
    lost_set = set(zip(lost["ssrc"].tolist(), lost["ext_seq"].tolist()))
    # what the wire lacks = its holes, plus what was lost before its first (or after its last) packet of a stream,
    # which opens no hole: here Chromium's very first video packet (seq 28413; the capture started a second earlier)
    edges = {(s, e) for s, e in lost_set if not span[s][0] <= e <= span[s][1]}
    assert lost_set - edges == in_gaps and len(in_gaps) > 40
    assert edges == {(1720105917, 28413)}
    with open(os.path.join(CAPS, "chromium_aiortc_loss5.meta.json")) as f:
        dropped = sum(c["packets"] for c in json.load(f)["loss"]["counters"])
    assert len(lost) == dropped  # nft's counter of Chromium RTP dropped before the capture point
    assert not (al["only_in"] == "wire").any()
    matched = al[al["only_in"].isna()]
    assert len(matched) == len(wire.rtp[wire.rtp["ssrc"].isin(sent_ssrcs)])
    transit = matched["transit_ms"].to_numpy(np.float64)
    assert (transit > 0).all() and np.median(transit) < 5 and transit.max() < 100  # same machine: small, positive
    assert (matched["delta_ms"].to_numpy(np.float64) == -transit).all()  # dump logged O before the wire saw it
    # each matched pair is the same packet: same RTP timestamp and size on both sides
    w = wire.rtp.set_index("frame").loc[matched["wire_frame"].to_numpy(np.int64)]
    d = dump.rtp.set_index("frame").loc[matched["dump_frame"].to_numpy(np.int64)]
    assert (w["ts"].to_numpy() == d["ts"].to_numpy()).all() and (w["seq"].to_numpy() == d["seq"].to_numpy()).all()
    # SRTP adds its 10-byte auth tag (AES_CM_128_HMAC_SHA1_80) on the wire
    assert (w["payload_len"].to_numpy().astype(int) - d["payload_len"].to_numpy().astype(int) == 10).all()


def test_align_summary_counts_per_ssrc():
    wire, dump = _open(CHROMIUM_WIRE), _open(RTPDUMP)
    al = dumps.align(wire, dump, wire_side="10.99.0.1")  # both directions
    s = dumps.align_summary(al)
    assert check_schema(s, dumps.ALIGN_SUMMARY_SCHEMA) == []
    by = s.set_index("ssrc")
    for ssrc, g in dump.rtp.groupby("ssrc"):
        assert by.loc[ssrc, "dump_packets"] == len(g)
        assert by.loc[ssrc, "wire_packets"] == (wire.rtp["ssrc"] == ssrc).sum()
        assert by.loc[ssrc, "matched"] + by.loc[ssrc, "only_in_dump"] == len(g)
    received = by[by["direction"] == "in"]
    assert len(received) == 2 and (received["only_in_dump"] == 0).all() and (received["only_in_wire"] == 0).all()
    assert (by["transit_median_ms"] > 0).all() and (by["transit_p95_ms"] < 50).all()
    # with no wire_side, the wire rows of the dump's SSRCs: the same table
    pd.testing.assert_frame_equal(dumps.align_summary(dumps.align(wire, dump)), s)


def _table(ssrc, seqs, t0_s, step_s=0.01, frame0=1, src="10.3.3.1"):
    n = len(seqs)
    return pd.DataFrame({"frame": np.arange(frame0, frame0 + n, dtype="uint32"),
                         "t": np.arange(n) * step_s, "src": src, "sport": np.uint16(3001),
                         "dst": "10.3.3.2", "dport": np.uint16(3002),
                         "ssrc": np.full(n, ssrc, dtype="uint32"), "seq": np.asarray(seqs, dtype="uint16"),
                         "time": pd.Timestamp(t0_s, unit="s", tz="UTC") + pd.to_timedelta(np.arange(n) * step_s,
                                                                                         unit="s")})


def test_align_matches_across_a_sequence_wrap_seen_from_different_starts():
    # the dump starts before the wrap, the wire (which joined later) after it; the wire lost 2 and has 1 duplicate
    dump = _table(7, [(65530 + i) % 65536 for i in range(12)], 1000.0)
    wire_seqs = [0, 1, 3, 4, 4, 5]  # 65534, 65535, 2 lost as seen from the dump; 4 twice
    wire = _table(7, wire_seqs, 1000.0 + 0.06 + 0.002)
    wire["time"] = dump.set_index("seq").loc[wire_seqs, "time"].to_numpy() + pd.Timedelta(milliseconds=2)
    al = dumps.align(wire, dump, dump_direction="out")
    assert list(al["seq"]) == [65530, 65531, 65532, 65533, 65534, 65535, 0, 1, 2, 3, 4, 4, 5]
    assert list(al["ext_seq"]) == list(range(-6, 5)) + [4, 5]  # in the wire's cycles: its first packet is 0
    assert list(al["only_in"].astype(object).fillna("both")) == ["dump"] * 6 + ["both", "both", "dump", "both",
                                                                                "both", "wire", "both"]
    assert (al.loc[al["only_in"].isna(), "transit_ms"].round(6) == 2.0).all()


def test_align_needs_absolute_times():
    t = _table(1, [1, 2], 0, src="192.0.2.1").drop(columns=["time"])
    with pytest.raises(ValueError, match="absolute times"):
        dumps.align(t, t)
    al = dumps.align(t, t, wire_t0="2026-01-01", dump_t0=pd.Timestamp("2026-01-01 00:00:00.001", tz="UTC"))
    assert list(al["delta_ms"].round(9)) == [1.0, 1.0] and al["direction"].isna().all()  # not a dump's addresses
    with pytest.raises(ValueError, match="dump_direction"):
        dumps.align(t, t, wire_t0=0, dump_t0=0, dump_direction="sideways")
    assert len(dumps.align(t.iloc[:0], t.iloc[:0], wire_t0=0, dump_t0=0)) == 0


def test_align_janus_dump_with_the_capture_on_janus_node():
    # The capture runs on Janus' node (meta: capture node b) and the losses are at Chromium's node a, so the capture
    # and Janus see the same packets in both directions; the dump only outlasts the capture (stopped first).
    wire, dump = _open(os.path.join(CAPS, "janus_echotest_loss5.pcap")), _open(JANUS_DUMP)
    with open(os.path.join(CAPS, "janus_echotest_loss5.meta.json")) as f:
        meta = json.load(f)
    assert meta["capture"]["node"] == "b" and meta["topology"]["nodes"]["b"]["role"].startswith("answerer (Janus")
    al = dumps.align(wire, dump, wire_side=meta["capture"]["address"])
    assert set(al["direction"].astype(str)) == {"in", "out"}
    assert not (al["only_in"] == "wire").any()
    only_dump = al[al["only_in"] == "dump"]
    assert (only_dump["dump_time"] > wire.packets["time"].max()).all()
    matched = al[al["only_in"].isna()]
    assert len(matched) == len(wire.rtp)
    transit = matched["transit_ms"].to_numpy(np.float64)
    assert (transit > 0).all() and np.median(transit) < 1  # the wire sees "in" before Janus, "out" after it


# --- `grep RTP_DUMP chrome_debug.log`: dump lines without their log prefix (issue 15) --------------------------------

def grepped_log(cap):
    """What `grep RTP_DUMP chrome_debug.log` gives: the dump lines alone, with the time Chromium writes in them
    (rtc_base/text2pcap.cc: UTC, but hours and minutes always 00; seconds and milliseconds right)."""
    out = []
    for frame, t, src in _frames(cap):
        d = "O" if src == dumps.CHROMIUM[0] else "I"
        u = t.tz_convert("UTC") if t.tzinfo else t
        out.append(f"{d} 00:00:{u.second:02d}.{u.microsecond // 1000:03d} 0000 {_udp_payload(cap, frame).hex(' ')}"
                   " # RTP_DUMP\n")
    return out


def test_grepped_chromium_lines_without_log_prefix_open_with_their_seconds_kept(tmp_path):
    ref = _open(RTPDUMP)
    log = tmp_path / "rtp-dump.txt"
    log.write_text("".join(grepped_log(ref)))
    end = ref.packets["time"].max().timestamp() + 5
    os.utime(log, (end, end))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not one line malformed
        cap = dumps.open_chromium_rtp_dump(log)
    assert cap.dump.packets == len(ref) and cap.dump.malformed == 0 and cap.problem is None
    pd.testing.assert_frame_equal(cap.rtp.drop(columns=["t"]), ref.rtp.drop(columns=["t"]), obj="rtp")
    # the line's milliseconds, a minute passing where the seconds go back; anchored before the file's mtime
    want = ref.packets["time"].dt.floor("ms")
    got = cap.packets["time"]
    assert (got - want).abs().max() < pd.Timedelta(1, "ms") or (
        (got - got.iloc[0]) - (want - want.iloc[0])).abs().max() < pd.Timedelta(1, "ms")
    assert got.max().timestamp() <= end


def test_grepped_lines_of_older_chromium_take_their_full_utc_time_of_day():
    lines = ["O 13:45:59.990 000000 80 60 00 01 00 00 00 01 00 00 00 05 aa # RTP_DUMP\n",
             "I 13:46:00.010 000000 80 60 00 02 00 00 00 02 00 00 00 05 bb # RTP_DUMP\n"]
    cap = dumps.open_chromium_rtp_dump(lines, year=2026)
    t = cap.packets["time"]
    assert cap.dump.malformed == 0 and len(t) == 2
    assert (t.iloc[0].hour, t.iloc[0].minute, t.iloc[0].second) == (13, 45, 59)
    assert (t.iloc[1] - t.iloc[0]) == pd.Timedelta(20, "ms")


def test_a_grepped_log_keeps_its_minutes_across_the_seconds_going_back():
    lines = [f"O 00:00:{s:06.3f} 0000 80 60 00 {i:02x} 00 00 00 01 00 00 00 05 aa # RTP_DUMP\n"
             for i, s in enumerate([58.0, 59.5, 0.25, 1.0, 0.99, 30.0, 5.0])]
    cap = dumps.open_chromium_rtp_dump(lines)
    t = (cap.packets["time"] - cap.packets["time"].iloc[0]).dt.total_seconds().round(3).tolist()
    # 0.99 after 1.0 is jitter between threads, not a minute; 30 -> 5 is one (more than 5 s back)
    assert t == [0.0, 1.5, 2.25, 3.0, 2.99, 32.0, 67.0]
