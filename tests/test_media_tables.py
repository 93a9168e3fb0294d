"""RTCP report tables and the RTP header extension table: every column of crafted datagrams, schemas, bad input."""

from __future__ import annotations

import struct

import numpy as np
import pandas as pd
import pytest

from webrtcpcap.tables import media_tables as mt
from webrtcpcap.protocols import rtp_extensions as rx
from webrtcpcap.tables import schema as tables

from conftest import byte_source, keys_for, rtp_packet, rtcp_pli, rtcp_sdes


# SR (SSRC 0x01020304, NTP 0xE1D2C3B4.80000000, RTP ts 0xABCDEF, 1000 packets, 160000 octets) with one report
# block on 0x0A0B0C0D: fraction 0x40, cumulative -2, highest 0x00011234, jitter 900, LSR 0xC3B48000, DLSR 1.5 s.
SR = bytes.fromhex("81c8000c" "01020304" "e1d2c3b480000000" "00abcdef" "000003e8" "00027100"
                   "0a0b0c0d" "40fffffe" "00011234" "00000384" "c3b48000" "00018000")
RR = struct.pack(">BBHI", 0x81, 201, 7, 0x0A0B0C0D) + struct.pack(">IIIIII", 0x01020304, (0x80 << 24) | 3, 500,
                                                                   4800, 0, 0)
BYE = struct.pack(">BBHII", 0x82, 203, 3, 5, 6) + bytes([3]) + b"bye"
APP = struct.pack(">BBHI", 0x82, 204, 3, 7) + b"NAME" + b"\x00\x01\x02\x03"
XR = struct.pack(">BBHI", 0x80, 207, 3, 8) + struct.pack(">BBH", 4, 1, 1) + b"\x11\x22\x33\x44"


def test_rtcp_report_tables_gives_every_column_of_crafted_datagrams():
    payloads = [SR + rtcp_sdes(0x01020304, b"me@host"), RR + rtcp_pli(0x0A0B0C0D, 0x01020304), BYE + APP + XR]
    out = mt.rtcp_report_tables(keys_for(3), payloads, clock_rates={0x0A0B0C0D: 90000})
    for name, schema in mt.RTCP_REPORT_SCHEMAS.items():
        assert tables.check_schema(out[name], schema) == [], name
    dg = out["rtcp_datagrams"]
    assert dg.frame.tolist() == [10, 11, 12] and dg.packets.tolist() == [2, 2, 3] and dg.error.isna().all()
    assert dg.relayed.tolist() == [False] * 3

    [sr] = out["rtcp_sender_reports"].to_dict("records")
    assert (sr["frame"], sr["index"], sr["ssrc"], sr["ntp_timestamp"]) == (10, 0, 0x01020304, 0xE1D2C3B480000000)
    assert sr["ntp_time"] == 0xE1D2C3B4 + 0.5
    assert sr["ntp_utc"] == pd.Timestamp(0xE1D2C3B4 - 2_208_988_800, unit="s", tz="UTC") + pd.Timedelta(0.5, "s")
    assert (sr["lsr_key"], sr["rtp_timestamp"], sr["packet_count"], sr["octet_count"], sr["report_count"]) == (
        0xC3B48000, 0xABCDEF, 1000, 160000, 1)

    rb = out["rtcp_report_blocks"]
    assert rb.frame.tolist() == [10, 11] and rb.reporter_kind.tolist() == ["SR", "RR"]
    assert rb.reporter_ssrc.tolist() == [0x01020304, 0x0A0B0C0D]
    assert rb.source_ssrc.tolist() == [0x0A0B0C0D, 0x01020304] and rb.block.tolist() == [0, 0]
    assert rb.fraction_lost.tolist() == [0.25, 0.5] and rb.fraction_lost_raw.tolist() == [0x40, 0x80]
    assert rb.cumulative_lost.tolist() == [-2, 3] and rb.highest_seq.tolist() == [0x11234, 500]
    assert rb.jitter.tolist() == [900, 4800]
    assert rb.jitter_ms.iloc[0] == 10.0 and pd.isna(rb.jitter_ms.iloc[1])  # 900 / 90 kHz; no rate for the other
    assert rb.lsr.tolist() == [0xC3B48000, 0] and rb.dlsr.tolist() == [0x18000, 0]
    assert rb.dlsr_s.tolist() == [1.5, 0.0]

    sdes = out["rtcp_sdes"]
    assert sdes[["frame", "index", "ssrc", "item_type", "text"]].values.tolist() == [[10, 1, 0x01020304, 1, "me@host"]]
    assert sdes.item.tolist() == ["cname"]
    bye = out["rtcp_bye"]
    assert bye.ssrc.tolist() == [5, 6] and bye.reason.tolist() == ["bye", "bye"] and bye["index"].tolist() == [0, 0]
    fb = out["rtcp_feedback"]
    assert fb[["frame", "index", "pt", "fmt", "sender_ssrc", "media_ssrc", "fci_len"]].values.tolist() == [
        [11, 1, 206, 1, 0x0A0B0C0D, 0x01020304, 0]]
    other = out["rtcp_other"]
    assert other[["frame", "index", "pt", "subtype", "length"]].values.tolist() == [[12, 1, 204, 2, 4],
                                                                                   [12, 2, 207, 4, 8]]
    assert other.ssrc.tolist() == [7, 8] and other.name.tolist() == ["NAME", "xr"]
    assert other.data.tolist() == ["00010203", "040100011" + "1223344"]


def test_rtcp_report_tables_accounts_for_every_datagram_even_broken_ones():
    payloads = [SR + struct.pack(">BBHI", 0x83, 201, 1, 1), b"", b"\x00" * 8, RR]
    out = mt.rtcp_report_tables(keys_for(4), payloads)
    dg = out["rtcp_datagrams"]
    assert dg.frame.tolist() == [10, 11, 12, 13]
    assert dg.packets.tolist() == [1, 0, 0, 1]
    assert dg.error.astype(object).tolist()[:3] == [
        "RTCP RR report count 3 needs 80 bytes, the packet has 8", "RTCP compound is empty", "RTCP version is 0, not 2"]
    assert pd.isna(dg.error.iloc[3])
    assert len(out["rtcp_sender_reports"]) == 1 and len(out["rtcp_report_blocks"]) == 2  # the SR before it is kept


def test_rtcp_report_tables_of_nothing_are_empty_with_their_schemas():
    out = mt.rtcp_report_tables(keys_for(0), [])
    for name, schema in mt.RTCP_REPORT_SCHEMAS.items():
        assert len(out[name]) == 0 and tables.check_schema(out[name], schema) == [], name


def test_jitter_ms_ignores_unknown_and_missing_clock_rates():
    rates = {0x01020304: pd.NA, 0x0A0B0C0D: None}
    out = mt.rtcp_report_tables(keys_for(2), [SR, RR], clock_rates=rates)
    assert out["rtcp_report_blocks"].jitter_ms.isna().all()


def test_rtcp_report_tables_counts_agree_with_tshark_on_a_janus_dump():
    import subprocess

    from conftest import CAPTURES, tshark_available
    from test_rtcp import udp_payload

    if not tshark_available():
        pytest.skip("tshark is not installed")
    import webrtcpcap

    path = CAPTURES / "janus_echotest_clean.janus.pcap"
    cap = webrtcpcap.open(path)
    rows = cap.packets[cap.packets.kind == "rtcp"]
    keys = {k: rows[k].to_numpy() if k not in ("src", "dst") else rows[k].array for k in ("frame", "t", "src", "dst")}
    keys["sport"] = rows.sport.to_numpy(dtype=np.uint16)
    keys["dport"] = rows.dport.to_numpy(dtype=np.uint16)
    out = mt.rtcp_report_tables(keys, [udp_payload(cap, f) for f in rows.frame.tolist()])
    cmd = ["tshark", "-n", "-r", str(path), "-d", "udp.port==1000,rtp", "-d", "udp.port==2000,rtp", "-Y", "rtcp",
           "-T", "fields", "-e", "rtcp.pt", "-e", "rtcp.ssrc.jitter", "-E", "aggregator=,", "-E", "separator=|"]
    lines = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()
    pts = [int(p) for line in lines for p in line.split("|")[0].split(",")]
    jitters = [int(j) for line in lines for j in line.split("|")[1].split(",") if j]
    assert len(out["rtcp_sender_reports"]) == pts.count(200)
    assert len(out["rtcp_feedback"]) == pts.count(205) + pts.count(206)
    assert out["rtcp_report_blocks"].jitter.tolist() == jitters
    assert out["rtcp_datagrams"].error.isna().all()


# --- RTP header extensions ----------------------------------------------------------------------------------------

EXTMAP = {
    1: "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    2: "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    3: "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
    4: "urn:ietf:params:rtp-hdrext:sdes:mid",
    5: "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
    6: "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time",
    10: "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
    11: "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
    13: "urn:3gpp:video-orientation",
}


def _table(packets, extmap, ssrcs=None):
    src, off, cap, wire = byte_source(packets)
    plan = extmap if isinstance(extmap, rx.Extmaps) else rx.Extmaps(dict(extmap or {}), {}, {})
    decoded = rx.decode_extensions(src, off, cap, wire, text_ids=plan.text_ids())
    n = len(packets)
    ssrc = np.array(ssrcs if ssrcs is not None else [0x11223344] * n, dtype=np.uint32)
    return mt.rtp_extensions_table(keys_for(n), ssrc, np.arange(100, 100 + n, dtype=np.uint16), decoded, extmap)


def test_rtp_extensions_table_decodes_every_common_extension():
    audio = rx.element_bytes(rx.FORM_ONE_BYTE, [(1, bytes([0x80 | 42])), (3, struct.pack(">H", 65535)),
                                                (4, b"audio0")])
    video = rx.element_bytes(rx.FORM_ONE_BYTE, [
        (2, (3 << 18 | 1 << 17).to_bytes(3, "big")),  # 3.5 s in 6.18 fixed point
        (13, bytes([0x02])),  # CVO: R1 R0 = 10 -> 180 degrees
        (5, ((10 << 12) | 25).to_bytes(3, "big")),  # playout delay 100 ms .. 250 ms
        (6, struct.pack(">Q", (5 << 32) | (1 << 30))),  # abs-capture-time 5.25 s (NTP)
        (10, b"hi"), (11, b"lo")])
    table = _table([rtp_packet(ext_profile=0xBEDE, ext=audio), rtp_packet(ext_profile=0xBEDE, ext=video)], EXTMAP)
    assert tables.check_schema(table, mt.RTP_EXTENSIONS_SCHEMA) == []
    assert table.frame.tolist() == [10] * 3 + [11] * 6 and table.seq.tolist() == [100] * 3 + [101] * 6
    assert table["id"].tolist() == [1, 3, 4, 2, 13, 5, 6, 10, 11]
    assert table.name.tolist() == ["ssrc-audio-level", "transport-wide-cc", "sdes:mid", "abs-send-time",
                                   "video-orientation", "playout-delay", "abs-capture-time", "rtp-stream-id",
                                   "repaired-rtp-stream-id"]
    assert table.uri.astype(object).tolist() == [EXTMAP[i] for i in table["id"]]
    assert table.form.tolist() == ["one-byte"] * 9
    assert table.length.tolist() == [1, 2, 6, 3, 1, 3, 8, 2, 2]
    assert table.value.tolist()[:2] == [0x80 | 42, 65535] and pd.isna(table.value.iloc[2]) is False
    assert table.audio_level_dbov.tolist()[0] == -42 and table.voice_activity.tolist()[0] is True
    assert table.twcc_seq.tolist()[1] == 65535
    assert table.mid.astype(object).tolist()[2] == "audio0"
    assert table.abs_send_time_s.tolist()[3] == 3.5
    assert table.video_rotation.tolist()[4] == 180
    assert (table.playout_min_ms.tolist()[5], table.playout_max_ms.tolist()[5]) == (100, 250)
    assert table.abs_capture_time_s.tolist()[6] == 5.25
    assert table.rid.astype(object).tolist()[7] == "hi" and table.repaired_rid.astype(object).tolist()[8] == "lo"
    # Decoded columns are null on rows of other extensions.
    assert table.twcc_seq.isna().sum() == 8 and table.mid.isna().sum() == 8 and table.error.isna().all()


def test_rtp_extensions_table_without_extmap_has_ids_and_values_only():
    block = rx.element_bytes(rx.FORM_TWO_BYTE, [(3, struct.pack(">H", 7)), (200, b"")])
    table = _table([rtp_packet(ext_profile=0x1000, ext=block)], None)
    assert table["id"].tolist() == [3, 200] and table.form.tolist() == ["two-byte", "two-byte"]
    assert table.value.tolist()[0] == 7 and pd.isna(table.value.iloc[1])
    assert table.uri.isna().all() and table.name.isna().all() and table.twcc_seq.isna().all()


def test_rtp_extensions_table_maps_ids_per_ssrc_and_per_mid():
    mid_uri = "urn:ietf:params:rtp-hdrext:sdes:mid"
    plan = rx.Extmaps(common={4: mid_uri},
                      by_ssrc={1: {4: mid_uri, 1: "urn:ietf:params:rtp-hdrext:ssrc-audio-level"}},
                      by_mid={"v": {4: mid_uri, 1: "urn:3gpp:video-orientation"}})
    block = rx.element_bytes(rx.FORM_ONE_BYTE, [(4, b"v"), (1, b"\x01")])
    table = _table([rtp_packet(ext_profile=0xBEDE, ext=block)] * 3, plan, ssrcs=[1, 2, 3])
    names = table.groupby("ssrc").name.apply(lambda s: s.astype(object).tolist()).to_dict()
    assert names[1] == ["sdes:mid", "ssrc-audio-level"]  # its a=ssrc section
    assert names[2] == ["sdes:mid", "video-orientation"]  # the section of the mid it carries
    assert table.video_rotation.dropna().tolist() == [90, 90]


def test_rtp_extensions_table_keeps_a_row_for_packets_with_broken_extensions():
    broken = rtp_packet(ext_profile=0xBEDE, ext=b"\x13\x01\x00\x00", payload=b"")  # element past the block end
    half = rtp_packet(ext_profile=0xBEDE, ext=b"\x10\x05\x13\x01", payload=b"")  # one good element, then a bad one
    table = _table([rtp_packet(), broken, half], EXTMAP)
    assert table.frame.tolist() == [11, 12]
    assert pd.isna(table["id"].iloc[0]) and table["id"].iloc[1] == 1
    assert table.error.astype(object).tolist() == ["RTP extension element overruns the extension block"] * 2


def test_a_plain_compound_with_one_broken_packet_keeps_the_packets_before_it_in_every_table(tmp_path):
    """Issue 15: a plaintext compound whose third packet does not decode (RR count 3 in 8 bytes) used to vanish
    from cap.rtcp_sender_reports, cap.rtcp_sdes and the feedback tables; now its first packets are there and
    cap.rtcp_datagrams names the broken one (`packets`: how many decoded, `error`: why the next did not).  A flow
    whose every compound breaks after the first header is SRTCP ciphertext and stays out (next test)."""
    from conftest import open_quiet, rtcp_sr, stun_call, udp4, write_pcap

    broken_rr = struct.pack(">BBHI", 0x83, 201, 1, 0x55667788)
    compound = rtcp_sr(0x11223344) + rtcp_sdes(0x11223344, b"alice@host") + rtcp_pli(0x11223344, 0x55667788) \
        + broken_rr
    whole = rtcp_sr(0x11223344) + rtcp_sdes(0x11223344, b"alice@host")  # the flow's plain RTCP evidence
    frames = stun_call(6) + [udp4(c, "10.0.0.1", "10.0.0.2", 5000, 6000) for c in (whole, compound)]
    path = write_pcap(tmp_path / "broken_compound.pcap", frames)
    cap = open_quiet(path)
    frame = len(frames)
    assert cap.rtcp_sender_reports.frame.tolist() == [frame - 1, frame]
    assert cap.rtcp_sdes.text.tolist() == ["alice@host"] * 2
    assert cap.keyframe_requests[["frame", "index", "media_ssrc"]].values.tolist() == [[frame, 2, 0x55667788]]
    dg = cap.rtcp_datagrams
    [row] = dg[dg.frame == frame].to_dict("records")
    assert row["packets"] == 3 and row["error"] == "RTCP RR report count 3 needs 80 bytes, the packet has 8"


def test_a_flow_whose_compounds_never_decode_whole_is_taken_for_srtcp_and_left_out(tmp_path):
    """SRTCP keyed by SDES (no DTLS in the capture): the first header and SSRC are clear, the rest ciphertext and a
    trailer.  Such compounds must not become sender reports read out of ciphertext."""
    from conftest import open_quiet, rtcp_sr, stun_call, udp4, write_pcap

    srtcp = [rtcp_sr(0x11223344)[:8] + bytes(range(i, i + 20)) + b"\x80\x00\x00\x01" + b"\xee" * 10 for i in range(3)]
    srtcp = [struct.pack(">BBH", 0x80, 200, 6) + s[4:] for s in srtcp]  # the clear length covers an SR's 28 bytes
    frames = stun_call(6) + [udp4(c, "10.0.0.1", "10.0.0.2", 5000, 6000) for c in srtcp]
    cap = open_quiet(write_pcap(tmp_path / "srtcp.pcap", frames))
    assert len(cap.rtcp) == 3 and len(cap.rtcp_sender_reports) == 0 and len(cap.rtcp_datagrams) == 0
