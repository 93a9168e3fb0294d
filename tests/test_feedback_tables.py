"""RTCP feedback tables (nacks, keyframe_requests, remb, remb_ssrcs, twcc, tmmbr, feedback_errors): every column of
crafted datagrams, bad input flagged, and the same numbers as tshark on the lab's plaintext RTCP."""

from __future__ import annotations

import re
import struct
import subprocess

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webrtcpcap.tables import feedback_tables as ft
from webrtcpcap.protocols import rtcp
from webrtcpcap.tables import schema as tables

from conftest import CAPTURES, keys_for, rtcp_pli, rtcp_rr, tshark_available

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def feedback(pt: int, fmt: int, fci: bytes, sender: int = 0x01020304, media: int = 0x0A0B0C0D) -> bytes:
    return struct.pack(">BBHII", 0x80 | fmt, pt, 2 + len(fci) // 4, sender, media) + fci


NACK = feedback(205, 1, struct.pack(">HHHH", 65535, 0x0003, 100, 0x8000))  # 65535, 0, 1 | 100, 116
FIR = feedback(206, 4, struct.pack(">IB3xIB3x", 0xAAAA, 9, 0xBBBB, 255), media=0)
REMB = feedback(206, 15, b"REMB" + bytes([2, (3 << 2) | 0x2, 0xAB, 0xCD]) + struct.pack(">II", 0x11, 0x22), media=0)
TMMBR = feedback(205, 3, struct.pack(">II", 0xCAFE, (5 << 26) | (100_000 << 9) | 40), media=0)
TMMBN = feedback(205, 4, struct.pack(">IIII", 1, (1 << 26) | (7 << 9) | 1, 2, (2 << 26) | (9 << 9) | 2), media=0)
# The hand-built transport-cc of test_rtcp.py (see the bit-by-bit description there).
TWCC = feedback(205, 15, bytes.fromhex("fffe" "0015" "fffffe" "07" "2003" "ac01" "e195"
                                       "04" "00" "ff" "01" "02" "03" "04" "ff9c" "08" "03e8" "0000"))


def test_feedback_tables_give_every_column_of_crafted_datagrams():
    payloads = [rtcp_rr(5, [6]) + NACK + rtcp_pli(7, 8), FIR + REMB, TMMBR + TMMBN, TWCC]
    out = ft.feedback_tables(keys_for(4), payloads)
    assert set(out) == set(ft.FEEDBACK_SCHEMAS)
    for name, schema in ft.FEEDBACK_SCHEMAS.items():
        assert tables.check_schema(out[name], schema) == [], name

    n = out["nacks"]
    assert n.frame.tolist() == [10] * 5 and n["index"].tolist() == [1] * 5
    assert n.seq.tolist() == [65535, 0, 1, 100, 116]
    assert n.pid.tolist() == [65535, 65535, 65535, 100, 100]
    assert n.bit.tolist() == [0, 1, 2, 0, 16]
    assert n.fci.tolist() == [0, 0, 0, 1, 1]
    assert set(n.sender_ssrc) == {0x01020304} and set(n.media_ssrc) == {0x0A0B0C0D}
    assert n.src.tolist() == ["10.0.0.1"] * 5 and n.sport.tolist() == [5000] * 5 and n.t.tolist() == [0.0] * 5

    k = out["keyframe_requests"]
    assert k.frame.tolist() == [10, 11, 11] and k["index"].tolist() == [2, 0, 0]
    assert k.kind.astype(str).tolist() == ["pli", "fir", "fir"]
    assert k.sender_ssrc.tolist() == [7, 0x01020304, 0x01020304]
    assert k.media_ssrc.tolist() == [8, 0xAAAA, 0xBBBB]
    assert k.fir_seq.tolist() == [pd.NA, 9, 255]

    r = out["remb"]
    assert r.frame.tolist() == [11] and r["index"].tolist() == [1]
    assert (r.sender_ssrc[0], r.bitrate_bps[0], r.exponent[0], r.mantissa[0], r.ssrcs[0]) == (
        0x01020304, 0x2ABCD << 3, 3, 0x2ABCD, 2)
    rs = out["remb_ssrcs"]
    assert rs.ssrc.tolist() == [0x11, 0x22] and rs.position.tolist() == [0, 1]
    assert rs.bitrate_bps.tolist() == [0x2ABCD << 3] * 2 and rs.frame.tolist() == [11, 11]

    m = out["tmmbr"]
    assert m.kind.astype(str).tolist() == ["tmmbr", "tmmbn", "tmmbn"] and m["index"].tolist() == [0, 1, 1]
    assert m.entry.tolist() == [0, 0, 1] and m.ssrc.tolist() == [0xCAFE, 1, 2]
    assert m.bitrate_bps.tolist() == [3_200_000, 14, 36] and m.overhead.tolist() == [40, 1, 2]
    assert m.exponent.tolist() == [5, 1, 2] and m.mantissa.tolist() == [100_000, 7, 9]

    w = out["twcc"]
    assert len(w) == 21 and set(w.frame) == {13} and set(w.feedback_count) == {7} and set(w.base_seq) == {65534}
    assert set(w.reference_time) == {-2}
    assert w.twcc_seq.tolist() == [65534, 65535] + list(range(19))
    statuses = ["small_delta"] * 4 + ["not_received"] + ["small_delta"] * 2 + ["not_received"] * 9 \
        + ["small_delta", "large_delta", "not_received", "small_delta", "large_delta"]
    assert w.status.astype(str).tolist() == statuses
    assert w.received.tolist() == [s != "not_received" for s in statuses]
    got = w[w.received]
    assert got.delta_ms.tolist() == [1.0, 0.0, 63.75, 0.25, 0.5, 0.75, 1.0, -25.0, 2.0, 250.0]
    assert got.receive_time_ms.tolist() == [-127.0, -127.0, -63.25, -63.0, -62.5, -61.75, -60.75, -85.75, -83.75,
                                            166.25]
    assert w[~w.received].delta_ms.isna().all() and w[~w.received].receive_time_ms.isna().all()
    assert len(out["feedback_errors"]) == 0


def test_twcc_receive_times_restart_at_each_feedback_packet():
    one = feedback(205, 15, struct.pack(">HHI", 10, 2, (1 << 8) | 0) + struct.pack(">HBB", 0x2002, 4, 8))
    two = feedback(205, 15, struct.pack(">HHI", 12, 1, (2 << 8) | 1) + struct.pack(">HB", 0x2001, 40) + b"\0")
    w = ft.feedback_tables(keys_for(1), [one + two])["twcc"]
    assert w.twcc_seq.tolist() == [10, 11, 12] and w["index"].tolist() == [0, 0, 1]
    assert w.receive_time_ms.tolist() == [65.0, 67.0, 138.0] and w.feedback_count.tolist() == [0, 0, 1]


def test_bad_fci_gives_flagged_rows_and_keeps_the_rest():
    bad = [feedback(205, 1, b""), feedback(205, 15, struct.pack(">HHIHH", 0, 20, 0, 0x200A, 0)),
           feedback(206, 15, b"REMB\x02\x00\x00\x00\x00\x00\x00\x00"), feedback(206, 1, b"\0" * 4),
           feedback(206, 4, b"\0" * 4)]
    payloads = [bad[0] + NACK, bad[1] + bad[2], bad[3] + bad[4] + rtcp_pli(1, 2), b"\x80\xcd\x00\x07" + b"\0" * 8]
    out = ft.feedback_tables(keys_for(4), payloads)
    e = out["feedback_errors"]
    assert e.frame.tolist() == [10, 11, 11, 12, 12] and e["index"].tolist() == [0, 0, 1, 0, 1]
    assert e.format.astype(str).tolist() == ["nack", "transport-cc", "afb", "pli", "fir"]
    assert e.pt.tolist() == [205, 205, 206, 206, 206] and e.fmt.tolist() == [1, 15, 15, 1, 4]
    assert e.fci_len.tolist() == [0, 12, 12, 4, 4]
    assert e.error.astype(str).tolist() == [
        "RTCP NACK has no FCI entry",
        "RTCP transport-cc packet chunks overrun the FCI (10 of 20 statuses in 12 bytes)",
        "RTCP REMB SSRC count 2 does not match its FCI (12 bytes, 16 expected)",
        "RTCP PLI has 4 bytes of FCI, it has none",
        "RTCP FIR FCI length 4 is not a multiple of 8 bytes"]
    assert out["nacks"].seq.tolist() == [65535, 0, 1, 100, 116]  # the good NACK after the bad one is kept
    assert out["keyframe_requests"].frame.tolist() == [12] and out["keyframe_requests"]["index"].tolist() == [2]
    for name in ("twcc", "remb", "remb_ssrcs"):
        assert len(out[name]) == 0


def test_feedback_tables_of_nothing_have_the_schemas():
    out = ft.feedback_tables(keys_for(0), [])
    for name, schema in ft.FEEDBACK_SCHEMAS.items():
        assert len(out[name]) == 0 and tables.check_schema(out[name], schema) == [], name


_SAMPLES = [NACK, FIR, REMB, TMMBR, TMMBN, TWCC, rtcp_pli(1, 2)]


@st.composite
def mangled_feedback(draw):
    data = bytearray(draw(st.sampled_from(_SAMPLES)))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(8, len(data) - 1))
        data[at] = draw(st.integers(0, 255))
    return bytes(data)


@SETTINGS
@given(st.lists(st.lists(st.one_of(mangled_feedback(), st.binary(max_size=24)), min_size=1, max_size=3)
                .map(b"".join), min_size=1, max_size=6))
def test_every_feedback_packet_is_in_a_table_or_flagged(payloads):
    out = ft.feedback_tables(keys_for(len(payloads)), payloads)
    seen = set()
    for name in ("nacks", "keyframe_requests", "remb", "twcc", "tmmbr", "feedback_errors"):
        seen |= set(zip(out[name].frame.astype(int), out[name]["index"].astype(int)))
    for i, data in enumerate(payloads):
        records, _ = rtcp.parse_compound_partial(data)
        for j, r in enumerate(records):
            if not isinstance(r, rtcp.Feedback):
                continue
            known = (r.packet_type, r.fmt) in {(205, 1), (205, 3), (205, 15), (206, 1), (206, 4)} or \
                (r.packet_type, r.fmt) == (206, 15) and r.fci[:4] == b"REMB" or \
                (r.packet_type, r.fmt) == (205, 4) and r.fci
            empty_twcc = (r.packet_type, r.fmt) == (205, 15) and r.fci[2:4] == b"\0\0" and len(r.fci) >= 8
            if known and not empty_twcc:
                assert (10 + i, j) in seen, (i, j, r)


def test_a_bitrate_past_uint64_is_held_at_its_maximum_not_an_exception():
    # exponent 47, mantissa 0x2abcd: 2^47 × 175,053 does not fit 64 bits (a lying field, found by the test above)
    remb = struct.pack(">BBHII", 0x8F, 206, 6, 0x01020304, 0) + b"REMB\x02\xbe\xab\xcd" + struct.pack(">II", 17, 34)
    tmmbr = feedback(205, 3, struct.pack(">II", 0x11, 63 << 26 | 0x1FFFF << 9 | 40))
    out = ft.feedback_tables(keys_for(2), [remb, tmmbr])
    top = (1 << 64) - 1
    assert out["remb"].bitrate_bps.tolist() == [top] and out["remb"].exponent.tolist() == [47]
    assert out["remb_ssrcs"].bitrate_bps.tolist() == [top, top]
    assert out["tmmbr"].bitrate_bps.tolist() == [top] and out["tmmbr"].overhead.tolist() == [40]


# --- the same numbers as tshark on plaintext RTCP ---------------------------------------------------------------

PLAINTEXT = [CAPTURES / "janus_echotest_loss5.janus.pcap", CAPTURES / "janus_echotest_clean.janus.pcap",
             CAPTURES / "janus_mtu576.janus.pcap", CAPTURES / "chromium_aiortc_loss5.rtpdump.pcap"]

_FIELDS = ["frame.number", "rtcp.pt", "rtcp.rtpfb.fmt", "rtcp.psfb.fmt", "rtcp.rtpfb.nack_pid",
           "rtcp.rtpfb.nack_blp", "rtcp.psfb.remb.fci.br_exp", "rtcp.psfb.remb.fci.br_mantissa",
           "rtcp.psfb.remb.fci.ssrc", "rtcp.psfb.fir.fci.ssrc", "rtcp.psfb.fir.fci.csn",
           "rtcp.rtpfb.transportcc.baseseq", "rtcp.rtpfb.transportcc.statuscount", "rtcp.rtpfb.transportcc.reftime",
           "rtcp.rtpfb.transportcc.pktcount"]


def _tshark(path, ports, *args) -> str:
    cmd = ["tshark", "-n", "-r", str(path), "-o", "rtcp.heuristic_rtcp:TRUE", *args]
    for port in sorted(ports):
        cmd += ["-d", f"udp.port=={port},rtp"]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def tshark_feedback(path, ports) -> dict[int, dict[str, list[int]]]:
    args = ["-Y", "rtcp.rtpfb.fmt || rtcp.psfb.fmt", "-T", "fields", "-E", "separator=|", "-E", "occurrence=a",
            "-E", "aggregator=,"]
    for f in _FIELDS:
        args += ["-e", f]
    rows = {}
    for line in _tshark(path, ports, *args).splitlines():
        values = line.split("|")
        rows[int(values[0])] = {f: [int(x, 0) for x in v.split(",")] if v else []
                                for f, v in zip(_FIELDS[1:], values[1:])}
    return rows


def tshark_twcc_deltas(path, ports) -> dict[int, list[tuple[int, float]]]:
    """(seq, delta ms) of every received packet tshark lists in transport-cc feedback, per frame (from -V text:
    tshark has no field for the decoded deltas)."""
    out: dict[int, list[tuple[int, float]]] = {}
    frame = None
    for line in _tshark(path, ports, "-Y", "rtcp.rtpfb.fmt == 15", "-V").splitlines():
        m = re.match(r"Frame (\d+):", line)
        if m:
            frame = int(m.group(1))
            out[frame] = []
            continue
        m = re.search(r"Recv Delta: .*\[seq: (\d+)\] (-?[\d.]+) ms", line)
        if m:
            out[frame].append((int(m.group(1)) & 0xFFFF, float(m.group(2))))
    return out


@pytest.mark.skipif(not tshark_available(), reason="tshark is not installed")
@pytest.mark.parametrize("path", PLAINTEXT, ids=lambda p: p.name)
def test_feedback_tables_agree_with_tshark(path):
    import webrtcpcap

    cap = webrtcpcap.open(path)
    keys, payloads, _ = cap.rtcp_payloads()
    out = ft.feedback_tables(keys, payloads)
    rows = cap.packets[cap.packets.kind == "rtcp"]
    ports = set(rows.sport.dropna().astype(int)) | set(rows.dport.dropna().astype(int))
    theirs = tshark_feedback(path, ports)
    assert len(out["feedback_errors"]) == 0
    assert set(theirs) <= set(keys["frame"].tolist())

    def by_frame(name, *cols):
        df = out[name]
        got: dict[int, list] = {}
        for values in zip(df.frame.tolist(), *(df[c].tolist() for c in cols)):
            got.setdefault(values[0], []).append(values[1:] if len(cols) > 1 else values[1])
        return got

    nacks, remb, fir = by_frame("nacks", "seq"), by_frame("remb", "exponent", "mantissa", "bitrate_bps"), \
        by_frame("keyframe_requests", "kind", "media_ssrc", "fir_seq")
    remb_ssrcs = by_frame("remb_ssrcs", "ssrc")
    twcc = out["twcc"].drop_duplicates(["frame", "index"])
    twcc_head = {f: [] for f in twcc.frame.tolist()}
    for f, b, n, r, c in zip(twcc.frame, twcc.base_seq, twcc.index, twcc.reference_time, twcc.feedback_count):
        twcc_head[f].append((b, r, c))
    counts = {"nack": 0, "pli": 0, "fir": 0, "remb": 0, "twcc": 0}
    for frame, t in theirs.items():
        expected = []
        for pid, blp in zip(t["rtcp.rtpfb.nack_pid"], t["rtcp.rtpfb.nack_blp"]):
            expected += [pid] + [(pid + i + 1) & 0xFFFF for i in range(16) if blp >> i & 1]
        assert nacks.get(frame, []) == expected, frame
        bitrates = [(e, m, m << e) for e, m in zip(t["rtcp.psfb.remb.fci.br_exp"], t["rtcp.psfb.remb.fci.br_mantissa"])]
        assert remb.get(frame, []) == bitrates, frame
        assert remb_ssrcs.get(frame, []) == t["rtcp.psfb.remb.fci.ssrc"], frame
        plis = t["rtcp.psfb.fmt"].count(1)
        firs = list(zip(t["rtcp.psfb.fir.fci.ssrc"], t["rtcp.psfb.fir.fci.csn"]))
        assert [x for x in fir.get(frame, []) if x[0] == "pli"].__len__() == plis, frame
        assert [(m, s) for k, m, s in fir.get(frame, []) if k == "fir"] == firs, frame
        heads = list(zip(t["rtcp.rtpfb.transportcc.baseseq"], t["rtcp.rtpfb.transportcc.reftime"],
                         t["rtcp.rtpfb.transportcc.pktcount"]))
        assert twcc_head.get(frame, []) == heads, frame
        assert int((out["twcc"].frame == frame).sum()) == sum(t["rtcp.rtpfb.transportcc.statuscount"]), frame
        counts["nack"] += len(expected)
        counts["pli"] += plis
        counts["fir"] += len(firs)
        counts["remb"] += len(bitrates)
        counts["twcc"] += len(heads)
    assert sum(counts.values()) > 0
    # Every feedback row we have is in a frame tshark dissected as feedback.
    for name in ("nacks", "keyframe_requests", "remb", "twcc"):
        assert set(out[name].frame.tolist()) <= set(theirs), name
    if counts["twcc"]:
        deltas = tshark_twcc_deltas(path, ports)
        w = out["twcc"][out["twcc"].received]
        ours: dict[int, list] = {}
        for f, s, d in zip(w.frame.tolist(), w.twcc_seq.tolist(), w.delta_ms.tolist()):
            ours.setdefault(f, []).append((s, d))
        assert ours == {f: v for f, v in deltas.items() if v}


def test_decrypted_srtcp_gives_the_same_feedback_as_chromiums_plaintext_dump():
    """Chromium's RTP dump holds the RTCP it sent and received in plaintext; the wire capture of the same call,
    decrypted with the key log, must give the same feedback rows (the two orders differ a little)."""
    import webrtcpcap

    name = "chromium_aiortc_loss5"
    if not (CAPTURES / f"{name}.keylog").exists():
        pytest.skip("no key log")
    dump = webrtcpcap.open(CAPTURES / f"{name}.rtpdump.pcap")
    wire = webrtcpcap.open(CAPTURES / f"{name}.pcap", keylog=CAPTURES / f"{name}.keylog")
    a = ft.feedback_tables(*dump.rtcp_payloads()[:2])
    b = ft.feedback_tables(*wire.rtcp_payloads()[:2])
    assert len(a["nacks"]) > 0 and len(a["remb"]) > 0 and len(a["keyframe_requests"]) > 0
    for name, schema in ft.FEEDBACK_SCHEMAS.items():
        cols = [c for c in schema if c not in tables.KEY_COLUMNS]
        mine = sorted(map(tuple, a[name][cols].astype(object).to_numpy().tolist()), key=repr)
        theirs = sorted(map(tuple, b[name][cols].astype(object).to_numpy().tolist()), key=repr)
        assert mine == theirs, name
