"""NACK → retransmission → repair (webrtcpcap.nack): crafted tables whose story is known (receiver and sender side,
RTX and same-SSRC retransmissions, reordering, wrap-around, deadlines), a property test against a plain-Python
matcher, and the lab sessions against their ground truth (.meta.json counters, getStats, Janus handle_info, the
endpoints' plaintext dumps).

Expected values come from the crafted rows, the plain loops written here, or the lab's sidecar files; the RTX OSNs
of the lab captures are read here straight from `Capture.rtp_payload`, never through the library's matcher.
"""

from __future__ import annotations

import json
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webrtcpcap import nack, streams
from webrtcpcap.tables import schema as tables

from conftest import CAPTURES, open_quiet
from test_streams import rtp_table

A, B = "10.0.0.1", "10.0.0.2"
MEDIA, RTX, RECEIVER = 0x11223344, 0x55667788, 0x0BADCAFE

# The contract of `cap.nacks` / `cap.keyframe_requests` (issue 7), for tables built by hand.
NACKS_SCHEMA = {"frame": "uint32", "t": "float64", "src": "category", "dst": "category", "sport": "uint16",
                "dport": "uint16", "relayed": "bool", "relay": "category", "peer": "category", "index": "uint16",
                "sender_ssrc": "uint32", "media_ssrc": "uint32", "seq": "uint16", "pid": "uint16", "bit": "uint8",
                "fci": "uint16"}
KFR_SCHEMA = {"frame": "uint32", "t": "float64", "src": "category", "dst": "category", "sport": "uint16",
              "dport": "uint16", "relayed": "bool", "relay": "category", "peer": "category", "index": "uint16",
              "kind": "category", "sender_ssrc": "uint32", "media_ssrc": "uint32", "fir_seq": "UInt8"}


def nack_table(rows: list[tuple]) -> pd.DataFrame:
    """(frame, t, seq[, media_ssrc]) tuples: NACKs from the receiver B back to the sender A."""
    full = [dict(frame=r[0], t=r[1], src=B, dst=A, sport=6000, dport=5000, relayed=False, relay=None, peer=None,
                 index=1, sender_ssrc=RECEIVER, media_ssrc=r[3] if len(r) > 3 else MEDIA, seq=r[2] % 65536,
                 pid=r[2] % 65536, bit=0, fci=0) for r in rows]
    return pd.DataFrame(full, columns=list(NACKS_SCHEMA)).astype(NACKS_SCHEMA)


def kfr_table(rows: list[tuple]) -> pd.DataFrame:
    """(frame, t, kind) tuples about MEDIA."""
    full = [dict(frame=f, t=t, src=B, dst=A, sport=6000, dport=5000, relayed=False, relay=None, peer=None, index=1,
                 kind=k, sender_ssrc=RECEIVER, media_ssrc=MEDIA, fir_seq=None) for f, t, k in rows]
    df = pd.DataFrame(full, columns=list(KFR_SCHEMA))
    df["fir_seq"] = df["fir_seq"].astype(object)
    return df.astype(KFR_SCHEMA)


def pairs_table(rtx=RTX, media=MEDIA) -> pd.DataFrame:
    return pd.DataFrame({"rtx_ssrc": [rtx], "rtx_pt": [97], "media_ssrc": [media], "media_pt": [96],
                         "source": pd.Categorical(["sdp ssrc-group FID"], categories=streams.RTX_SOURCES)}
                        ).astype({"rtx_ssrc": "uint32", "rtx_pt": "uint8", "media_ssrc": "uint32", "media_pt": "uint8"})


NO_PAIRS = pairs_table().iloc[:0]


def call(packets: list[tuple]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """An rtp table and its (frame, osn) table from (t, ssrc, seq, osn-or-None) tuples in capture order."""
    rtp = rtp_table([{"t": t, "ssrc": s, "seq": q % 65536, "pt": 97 if s == RTX else 96} for t, s, q, _ in packets])
    osn = pd.DataFrame({"frame": rtp["frame"].to_numpy(),
                        "osn": pd.array([o for *_, o in packets], dtype="UInt16")})
    return rtp, osn[rtp["ssrc"].to_numpy() == RTX]


def media(seqs, t0=0.0, dt=0.02):
    return [(t0 + dt * i, MEDIA, s, None) for i, s in enumerate(seqs)]


def only(df: pd.DataFrame, **where) -> pd.Series:
    sel = np.ones(len(df), dtype=bool)
    for k, v in where.items():
        sel &= (df[k] == v).to_numpy()
    assert sel.sum() == 1, df
    return df[sel].iloc[0]


# --- crafted stories --------------------------------------------------------------------------------------------------


def test_receiver_side_loss_nacked_and_repaired_by_rtx_has_every_column():
    # Media 0..9, 4 and 5 lost; the receiver NACKs 4,5 at 0.15 s and 5 again at 0.2 s; RTX with OSN 4 and 5.
    pk = media([0, 1, 2, 3, 6, 7]) + [(0.16, RTX, 100, 4), (0.17, RTX, 101, 5)] + \
        [(0.18 + 0.02 * i, MEDIA, s, None) for i, s in enumerate([8, 9])]
    rtp, osn = call(pk)
    nk = nack_table([(50, 0.15, 4), (50, 0.15, 5), (51, 0.20, 5)])
    out = nack.nack_outcomes(nk, rtp, pairs_table(), osn, rtt_ms=10.0)
    assert tables.check_schema(out, nack.NACK_OUTCOMES_SCHEMA) == []
    assert out["ext_seq"].tolist() == [4, 5]
    r = only(out, ext_seq=5)
    assert (r.media_ssrc, r.seq, str(r.nack_src), str(r.nack_dst), r.sender_ssrc) == (MEDIA, 5, B, A, RECEIVER)
    assert r.capture_side == "receiver"
    assert r.lost_t == pytest.approx(0.06)  # seq 3 arrived at 0.06, the hole opened with seq 6
    assert (r.gap_first_missing, r.gap_count) == (4, 2)
    assert pd.isna(r.original_frame) and np.isnan(r.original_t)
    assert (r.first_nack_frame, r.first_nack_t, r.last_nack_t, r.nacks) == (50, 0.15, 0.20, 2)
    assert (r.repair_kind, r.repair_ssrc, r.repair_frame, r.repair_t, r.repair_copies) == ("rtx", RTX, 8, 0.17, 1)
    assert r.repair_delay_ms == pytest.approx(20.0)
    assert r.rtt_ms == 10.0 and r.repair_delay_rtt == pytest.approx(2.0)
    assert np.isnan(r.keyframe_request_t) and not r.too_late and r.outcome == "repaired"
    assert only(out, ext_seq=4).repair_frame == 7


def test_rtx_with_another_osn_or_before_the_nack_repairs_nothing_and_is_unsolicited():
    # 4 lost; RTX OSN 4 arrives *before* the NACK, RTX OSN 2 (never NACKed), a padding-only probe (no OSN).
    pk = media([0, 1, 2, 3, 5, 6]) + [(0.13, RTX, 100, 4), (0.14, RTX, 101, 2), (0.16, RTX, 102, None)]
    rtp, osn = call(pk)
    nk = nack_table([(50, 0.15, 4)])
    out = nack.nack_outcomes(nk, rtp, pairs_table(), osn)
    r = only(out, ext_seq=4)
    assert r.outcome == "not_repaired" and pd.isna(r.repair_kind) and pd.isna(r.too_late) and r.repair_copies == 0
    un = nack.unsolicited_retransmissions(nk, rtp, pairs_table(), osn)
    assert tables.check_schema(un, nack.UNSOLICITED_SCHEMA) == []
    assert un["frame"].tolist() == [7, 8, 9]
    assert un["reason"].astype(str).tolist() == ["before nack", "never nacked", "no osn"]
    assert un["ext_osn"].tolist()[:2] == [4, 2] and pd.isna(un["osn"].iloc[2])


def test_original_arriving_after_the_nack_is_not_lost_when_an_rtx_stream_exists():
    pk = media([0, 1, 2, 4, 5]) + [(0.2, MEDIA, 3, None)]
    rtp, osn = call(pk)
    out = nack.nack_outcomes(nack_table([(50, 0.1, 3)]), rtp, pairs_table(), osn)
    r = only(out, ext_seq=3)
    assert r.outcome == "not_lost" and r.original_t == 0.2 and r.capture_side == "receiver"


def test_without_an_rtx_stream_a_later_arrival_is_a_same_ssrc_retransmission():
    pk = media([0, 1, 2, 4, 5]) + [(0.2, MEDIA, 3, None), (0.25, MEDIA, 3, None)]
    rtp, _ = call(pk)
    out = nack.nack_outcomes(nack_table([(50, 0.1, 3)]), rtp, NO_PAIRS)
    r = only(out, ext_seq=3)
    assert (r.outcome, r.repair_kind, r.repair_ssrc, r.repair_frame, r.repair_copies) == \
        ("repaired", "same_ssrc", MEDIA, 6, 2)
    assert r.repair_delay_ms == pytest.approx(100.0)


def test_capture_at_the_sender_sees_the_original_leave_before_the_nack():
    # Every packet leaves (captured); the receiver NACKs 3 and 7 later; 3 comes back as RTX, 7 as a same-SSRC copy.
    pk = media(range(10)) + [(0.31, RTX, 500, 3), (0.32, MEDIA, 7, None)]
    rtp, osn = call(pk)
    out = nack.nack_outcomes(nack_table([(60, 0.30, 3), (60, 0.30, 7)]), rtp, pairs_table(), osn)
    assert (out["capture_side"] == "sender").all()
    r3, r7 = only(out, ext_seq=3), only(out, ext_seq=7)
    assert r3.lost_t == r3.original_t == pytest.approx(0.06) and pd.isna(r3.gap_first_missing)
    assert (r3.outcome, r3.repair_kind, r3.repair_frame) == ("repaired", "rtx", 11)
    assert (r7.outcome, r7.repair_kind, r7.repair_frame, r7.original_frame) == ("repaired", "same_ssrc", 12, 8)
    summ = nack.nack_summary(out, streams.gaps(rtp), None, pairs_table())
    v = only(summ, media_ssrc=MEDIA)
    assert v.capture_side == "sender" and v.losses == 0 and v.repaired == 2
    assert v.verdict.startswith("captured at the sender")


def test_capture_side_is_the_majority_of_the_stream_nacks():
    # Receiver side: 3 and 6 are holes; 1 was received before its NACK (lost downstream of the capture point).
    pk = media([0, 1, 2, 4, 5, 7]) + [(0.2, RTX, 1, 3), (0.21, RTX, 2, 6), (0.22, RTX, 3, 1)]
    rtp, osn = call(pk)
    out = nack.nack_outcomes(nack_table([(50, 0.15, 1), (50, 0.15, 3), (50, 0.15, 6)]), rtp, pairs_table(), osn)
    assert (out["capture_side"] == "receiver").all()
    r1 = only(out, ext_seq=1)
    assert r1.lost_t == r1.original_t == pytest.approx(0.02) and r1.outcome == "repaired"


def test_the_earlier_of_a_same_ssrc_copy_and_an_rtx_is_the_repair():
    pk = media(range(6)) + [(0.20, MEDIA, 2, None), (0.21, RTX, 7, 2), (0.22, RTX, 8, 4), (0.23, MEDIA, 4, None)]
    rtp, osn = call(pk)
    out = nack.nack_outcomes(nack_table([(50, 0.15, 2), (50, 0.15, 4)]), rtp, pairs_table(), osn)
    r2, r4 = only(out, ext_seq=2), only(out, ext_seq=4)
    assert (r2.repair_kind, r2.repair_frame, r2.repair_copies) == ("same_ssrc", 7, 2)
    assert (r4.repair_kind, r4.repair_frame, r4.repair_copies) == ("rtx", 9, 2)


def test_nack_and_osn_numbers_are_extended_across_the_wrap():
    # 65535 and 0 (= 65536) lost; NACKed as 16-bit numbers; RTX OSN 0 must repair 65536, not 0.
    pk = media([65532, 65533, 65534, 1, 2]) + [(0.2, RTX, 9, 0), (0.21, RTX, 10, 65535)]
    rtp, osn = call(pk)
    out = nack.nack_outcomes(nack_table([(50, 0.1, 65535), (50, 0.1, 0)]), rtp, pairs_table(), osn)
    assert out["ext_seq"].tolist() == [65535, 65536]
    assert out["seq"].tolist() == [65535, 0]
    assert out["repair_frame"].tolist() == [7, 6]
    assert (out["gap_first_missing"] == 65535).all() and (out["gap_count"] == 2).all()


def test_repairs_after_the_playout_deadline_or_a_keyframe_request_are_too_late():
    pk = media([0, 1, 2, 4, 5, 7, 8]) + [(0.15, RTX, 1, 3), (0.30, RTX, 2, 6)]
    rtp, osn = call(pk)
    nk = nack_table([(50, 0.10, 3), (51, 0.13, 6)])
    # Loss of 3 seen after 0.04 s (seq 2), of 6 after 0.08 s (seq 5); deadline 150 ms: 3 ok (0.15), 6 late (0.30).
    out = nack.nack_outcomes(nk, rtp, pairs_table(), osn, playout_delay_ms=150)
    assert out["outcome"].astype(str).tolist() == ["repaired", "repaired_late"]
    assert out["too_late"].tolist() == [False, True]
    # A PLI at 0.2 s: after the loss of 6, before its repair.
    out = nack.nack_outcomes(nk, rtp, pairs_table(), osn, keyframe_requests=kfr_table([(70, 0.2, "pli")]))
    assert out["keyframe_request_t"].tolist() == [0.2, 0.2]
    assert out["outcome"].astype(str).tolist() == ["repaired", "repaired_late"]


def test_rtt_from_a_table_is_the_last_measurement_before_the_nack():
    pk = media([0, 1, 3, 4]) + [(0.2, RTX, 1, 2)]
    rtp, osn = call(pk)
    rtt = pd.DataFrame({"t": [0.0, 0.09, 0.5], "rtt_ms": pd.array([50.0, 25.0, 99.0], dtype="Float64")})
    r = only(nack.nack_outcomes(nack_table([(50, 0.1, 2)]), rtp, pairs_table(), osn, rtt_ms=rtt), ext_seq=2)
    assert r.rtt_ms == 25.0 and r.repair_delay_rtt == pytest.approx(100.0 / 25.0)


def test_summary_counts_losses_never_nacked_and_says_what_failed():
    # Holes {3}, {6, 7}, {10}: 3 repaired, 6 not retransmitted, 7 and 10 never NACKed; 12 lost then late.
    pk = media([0, 1, 2, 4, 5, 8, 9, 11, 13, 12]) + [(0.3, RTX, 1, 3)]
    rtp, osn = call(pk)
    out = nack.nack_outcomes(nack_table([(50, 0.1, 3), (50, 0.1, 6), (51, 0.12, 6)]), rtp, pairs_table(), osn)
    un = nack.unsolicited_retransmissions(nack_table([(50, 0.1, 3)]), rtp, pairs_table(), osn)
    summ = nack.nack_summary(out, streams.gaps(rtp), streams.streams(rtp), pairs_table(), un)
    assert tables.check_schema(summ, nack.NACK_SUMMARY_SCHEMA) == []
    assert summ["media_ssrc"].tolist() == [MEDIA]  # the RTX stream is no media stream
    v = summ.iloc[0]
    assert (v.losses, v.nacked, v.never_nacked, v.repaired, v.not_repaired, v.unrepaired, v.nack_rows) == \
        (4, 2, 2, 1, 1, 3, 3)
    assert v.repair_ratio == 0.5
    assert v.repair_delay_median_ms == pytest.approx(200.0)
    assert "1 of 2 NACKed packets never retransmitted" in v.verdict and "2 lost packets never NACKed" in v.verdict
    assert v.evidence == "NACK frames 50"
    assert v.nack_rate_per_s == pytest.approx(3 / 0.18)  # the media stream spans 0 .. 0.18 s


def test_summary_of_a_stream_with_losses_and_no_nack():
    rtp, _ = call(media([0, 1, 5, 6]))
    summ = nack.nack_summary(nack.nack_outcomes(nack_table([]), rtp, NO_PAIRS), streams.gaps(rtp))
    v = only(summ, media_ssrc=MEDIA)
    assert (v.losses, v.never_nacked, v.unrepaired) == (3, 3, 3) and "none NACKed" in v.verdict


def test_empty_inputs_give_empty_tables_with_their_schemas():
    rtp, osn = call(media([0, 1, 2]))
    assert tables.check_schema(nack.nack_outcomes(nack_table([]), rtp, pairs_table(), osn),
                               nack.NACK_OUTCOMES_SCHEMA) == []
    assert tables.check_schema(nack.unsolicited_retransmissions(nack_table([]), rtp, NO_PAIRS),
                               nack.UNSOLICITED_SCHEMA) == []
    assert tables.check_schema(nack.rtx_osns(rtp, NO_PAIRS, lambda f: b""), nack.RTX_OSN_SCHEMA) == []
    # A NACK for an SSRC the capture never saw: the number as given, nothing repaired.
    r = only(nack.nack_outcomes(nack_table([(9, 0.5, 70, 0xDEAD)]), rtp, pairs_table(), osn), ext_seq=70)
    assert r.capture_side == "unknown" and r.outcome == "not_repaired"


def reference(seqs_lost, nack_at, rtx_at):
    """Plain loop: for each NACKed number, its first NACK time, and the first RTX with that OSN at or after it."""
    out = {}
    for t, s in sorted(nack_at):
        out.setdefault(s, [t, None, 0])
    for s, row in out.items():
        hits = sorted(t for t, o in rtx_at if o == s and t >= row[0])
        row[1] = hits[0] if hits else None
        row[2] = len(hits)
    return out


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 65535), st.lists(st.booleans(), min_size=5, max_size=60), st.data())
def test_matching_equals_a_plain_loop_on_random_loss_patterns(start, lost_flags, data):
    n = len(lost_flags)
    lost_flags = [False] + lost_flags[1:-1] + [False]
    seqs = [(start + i) % 65536 for i in range(n)]
    lost = [i for i in range(n) if lost_flags[i]]
    pk = [(0.01 * i, MEDIA, seqs[i], None) for i in range(n) if not lost_flags[i]]
    nack_at = [(0.01 * n + 0.001 * data.draw(st.integers(0, 50)), i) for i in lost
               for _ in range(data.draw(st.integers(0, 2)))]
    rtx_at = [(0.01 * n + 0.001 * data.draw(st.integers(0, 80)), i) for i in lost if data.draw(st.booleans())]
    pk += [(t, RTX, k, seqs[i]) for k, (t, i) in enumerate(sorted(rtx_at))]
    pk.sort(key=lambda p: p[0])
    rtp, osn = call(pk)
    nk = nack_table([(1000, t, seqs[i]) for t, i in sorted(nack_at)])
    out = nack.nack_outcomes(nk, rtp, pairs_table(), osn)
    ref = reference(lost, nack_at, rtx_at)
    # The stream's first packet is in cycle 0, so packet i has extended number seqs[0] + i.
    assert sorted((out["ext_seq"] - seqs[0]).tolist()) == sorted(ref)
    for r in out.itertuples():
        i = int(r.ext_seq - seqs[0])
        first, repair, copies = ref[i]
        assert r.first_nack_t == first
        assert (r.repair_t if r.outcome != "not_repaired" else None) == repair
        assert r.repair_copies == copies


# --- lab sessions -----------------------------------------------------------------------------------------------------


def nacks_from_feedback(fb: pd.DataFrame) -> pd.DataFrame:
    """Generic NACKs (RTPFB fmt 1) expanded from `cap.rtcp_feedback`'s raw FCI hex, RFC 4585 §6.2.1: PID and BLP
    per 4-byte entry, bit i of BLP = PID + i + 1.  Stands in for `cap.nacks` until that table exists."""
    rows = []
    for r in fb[(fb["pt"] == 205) & (fb["fmt"] == 1)].itertuples(index=False):
        data = bytes.fromhex(r.fci)
        for k in range(len(data) // 4):
            pid, blp = int.from_bytes(data[4 * k:4 * k + 2], "big"), int.from_bytes(data[4 * k + 2:4 * k + 4], "big")
            for bit in range(17):
                if bit == 0 or blp >> (bit - 1) & 1:
                    rows.append(dict(frame=r.frame, t=r.t, src=r.src, dst=r.dst, sport=r.sport, dport=r.dport,
                                     relayed=False, relay=None, peer=None, index=r.index, sender_ssrc=r.sender_ssrc,
                                     media_ssrc=r.media_ssrc, seq=(pid + bit) % 65536, pid=pid, bit=bit, fci=k))
    return pd.DataFrame(rows, columns=list(NACKS_SCHEMA)).astype(NACKS_SCHEMA)


def keyframe_requests_from_feedback(fb: pd.DataFrame) -> pd.DataFrame:
    """PLI (PSFB fmt 1) rows from `cap.rtcp_feedback`; stands in for `cap.keyframe_requests` (no FIR in the lab)."""
    p = fb[(fb["pt"] == 206) & (fb["fmt"] == 1)]
    rows = [dict(frame=r.frame, t=r.t, src=r.src, dst=r.dst, sport=r.sport, dport=r.dport, relayed=False, relay=None,
                 peer=None, index=r.index, kind="pli", sender_ssrc=r.sender_ssrc, media_ssrc=r.media_ssrc,
                 fir_seq=None) for r in p.itertuples(index=False)]
    df = pd.DataFrame(rows, columns=list(KFR_SCHEMA))
    df["fir_seq"] = df["fir_seq"].astype(object)
    return df.astype(KFR_SCHEMA)


def _feedback(cap) -> dict | None:
    """F's feedback tables of a capture (webrtcpcap.tables.feedback_tables) until Capture has `nacks` itself."""
    try:
        from webrtcpcap.tables import feedback_tables
    except ImportError:  # not there yet: the local expansion stands in
        return None
    keys, payloads, _ = cap.rtcp_payloads()
    return feedback_tables.feedback_tables(keys, payloads)


def lab_nacks(cap) -> pd.DataFrame:
    if hasattr(type(cap), "nacks"):
        return cap.nacks
    fb = _feedback(cap)
    return fb["nacks"] if fb is not None else nacks_from_feedback(cap.rtcp_feedback)


def lab_keyframe_requests(cap) -> pd.DataFrame:
    if hasattr(type(cap), "keyframe_requests"):
        return cap.keyframe_requests
    fb = _feedback(cap)
    return fb["keyframe_requests"] if fb is not None else keyframe_requests_from_feedback(cap.rtcp_feedback)


class Session:
    """A lab capture opened with its SDPs (and key log for the wire captures), its NACK analysis, and the OSN of
    every RTX packet read here from the plaintext payload (RFC 4588 §4: the first 2 bytes)."""

    def __init__(self, name: str, dump: str | None = None):
        path = CAPTURES / (f"{name}.{dump}.pcap" if dump else f"{name}.pcap")
        keylog = CAPTURES / f"{name}.keylog"
        kw = {"keylog": str(keylog)} if dump is None and keylog.exists() else {}
        self.cap = cap = open_quiet(str(path), sdp=[str(CAPTURES / f"{name}.offer.sdp"),
                                                    str(CAPTURES / f"{name}.answer.sdp")], **kw)
        self.meta = json.loads((CAPTURES / f"{name}.meta.json").read_text())
        self.getstats = json.loads((CAPTURES / f"{name}.getstats.json").read_text())
        self.nacks = lab_nacks(cap)
        self.kfr = lab_keyframe_requests(cap)
        self.pairs = streams.rtx_pairs(cap.streams, cap.sdp, cap.rtp, cap.rtp_payload)
        self.out = nack.nack_outcomes(self.nacks, cap.rtp, self.pairs, cap.rtp_payload, keyframe_requests=self.kfr)
        self.unsolicited = nack.unsolicited_retransmissions(self.nacks, cap.rtp, self.pairs, cap.rtp_payload)
        self.gaps = streams.gaps(cap.rtp)
        self.summary = nack.nack_summary(self.out, self.gaps, cap.streams, self.pairs, self.unsolicited)
        rtx = cap.rtp[cap.rtp["ssrc"].isin(self.pairs["rtx_ssrc"].tolist())]
        self.rtx = []  # (frame, t, rtx ssrc, osn or None)
        for f, t, s in zip(rtx["frame"].tolist(), rtx["t"].tolist(), rtx["ssrc"].tolist()):
            payload = cap.rtp_payload(int(f))
            self.rtx.append((int(f), float(t), int(s), int.from_bytes(payload[:2], "big") if len(payload) >= 2
                             else None))

    def stream(self, ssrc: int) -> pd.Series:
        return only(self.summary, media_ssrc=ssrc)

    def check_matches_are_the_rtx_with_that_osn(self):
        """Every repair by RTX is the first RTX packet (of the paired stream) with OSN == the NACKed number at or
        after the first NACK, and the copies are all of them; no RTX packet with a NACKed OSN after the NACK is
        left unmatched."""
        media_of = dict(zip(self.pairs["rtx_ssrc"].astype(int), self.pairs["media_ssrc"].astype(int)))
        for r in self.out.itertuples():
            hits = [(t, f) for f, t, s, o in self.rtx
                    if media_of[s] == r.media_ssrc and o == r.seq and t >= r.first_nack_t]
            if r.repair_kind == "rtx":
                assert (r.repair_t, r.repair_frame) == min(hits)
            else:
                assert hits == [] or r.outcome == "not_lost"
        nacked = {(int(m), int(s)): t for m, s, t in zip(self.out["media_ssrc"], self.out["seq"],
                                                         self.out["first_nack_t"])}
        listed = set(self.unsolicited["frame"].astype(int))
        for f, t, s, o in self.rtx:
            asked = o is not None and (media_of[s], o) in nacked and nacked[(media_of[s], o)] <= t
            assert asked != (f in listed), f


@lru_cache(maxsize=None)
def session(name: str, dump: str | None = None) -> Session:
    return Session(name, dump)


def outbound(getstats: dict, node: str, ssrc: int) -> dict:
    return next(v for v in getstats[node].values() if isinstance(v, dict) and v.get("ssrc") == ssrc
                and v.get("type") == "outbound-rtp")


def inbound(getstats: dict, node: str, ssrc: int) -> dict:
    return next(v for v in getstats[node].values() if isinstance(v, dict) and v.get("ssrc") == ssrc
                and v.get("type") == "inbound-rtp")


def received_view_missing(rtp: pd.DataFrame, media_ssrc: int, osns: set[int]) -> list[int]:
    """Numbers of a media stream missing at the end from what an endpoint received: never on the media SSRC and
    never as an RTX OSN (plain loop)."""
    ext = streams.extend_seq(rtp.loc[rtp["ssrc"] == media_ssrc, "seq"].to_numpy())
    have = set(ext.tolist())
    return [s for s in range(int(ext.min()), int(ext.max()) + 1) if s not in have and s % 65536 not in osns]


def test_aiortc_loss5_every_loss_nacked_and_repaired_as_meta_counts():
    s = session("aiortc_loss5_rtp")
    b, a = s.meta["ground_truth"]["b"]["counters"], s.meta["ground_truth"]["a"]["counters"]
    video = int(s.pairs["media_ssrc"].iloc[0])
    assert len(s.nacks) == b["nack_seqs_sent"] == a["nack_seqs_received"] == 30
    assert s.nacks["frame"].nunique() == b["nack_packets_sent"] == a["nack_packets_received"] == 28
    v = s.stream(video)
    assert (v.capture_side, v.nacked, v.repaired, v.not_repaired, v.never_nacked, v.unrepaired) == \
        ("receiver", a["retransmit_requests"], 30, 0, 0, 0)
    assert v.losses == int(s.cap.streams.loc[s.cap.streams["ssrc"] == video, "lost"].iloc[0])
    assert v.verdict.startswith("NACK works")
    s.check_matches_are_the_rtx_with_that_osn()
    assert len(s.rtx) == 30 and len(s.unsolicited) == 0
    # The capture is b's receive side: nothing of the video is missing at the end.
    osns = {o for *_, o in s.rtx if o is not None}
    assert received_view_missing(s.cap.rtp, video, osns) == []
    # aiortc NACKs no audio: its losses stay unrepaired and un-NACKed.
    audio = s.summary[(s.summary["losses"] > 0) & (s.summary["media_ssrc"] != video)]
    assert len(audio) == 1 and audio["nacked"].iloc[0] == 0 and "none NACKed" in audio["verdict"].iloc[0]


def test_chromium_aiortc_loss5_wire_and_chromium_dump_agree_with_getstats():
    wire, dump = session("chromium_aiortc_loss5"), session("chromium_aiortc_loss5", "rtpdump")
    b = wire.meta["ground_truth"]["b"]["counters"]
    video = int(wire.pairs["media_ssrc"].iloc[0])
    chromium_out = outbound(wire.getstats, "a", video)
    for s in (wire, dump):
        assert len(s.nacks) == b["nack_seqs_sent"] == 19
        assert s.nacks["frame"].nunique() == b["nack_packets_sent"] == chromium_out["nackCount"] == 17
        s.check_matches_are_the_rtx_with_that_osn()
    w, d = wire.stream(video), dump.stream(video)
    assert (w.capture_side, d.capture_side) == ("receiver", "sender")  # b's capture; Chromium's own dump
    assert (w.nacked, w.repaired, w.unrepaired) == (17, 17, 0)
    assert (d.nacked, d.repaired, d.not_repaired) == (17, 17, 0)
    assert sorted(wire.out["seq"]) == sorted(dump.out["seq"])
    # Two RTX packets were lost on the way to b (holes in the RTX stream): those two numbers were NACKed again.
    st_ = wire.cap.streams
    rtx_lost = int(st_.loc[st_["ssrc"] == int(wire.pairs["rtx_ssrc"].iloc[0]), "lost"].iloc[0])
    assert f"{rtx_lost} only after a re-NACK" in w.verdict and rtx_lost == 2
    # Chromium also sends RTX nobody asked for: padding probes and copies of packets never NACKed.
    assert set(wire.unsolicited["reason"].astype(str)) == {"no osn", "never nacked"}
    assert received_view_missing(wire.cap.rtp, video, {o for *_, o in wire.rtx if o is not None}) == []


def test_janus_dump_nack_counts_equal_handle_info_and_chromium_getstats():
    s = session("janus_echotest_loss5", "janus")
    info = s.meta["ground_truth"]["b"]["handle_info"]["media"]["1"]  # video
    to_chromium = only(s.pairs, source="sdp ssrc-group FID", media_ssrc=683022090).media_ssrc
    from_chromium = 1031184762
    ch_in, ch_out = inbound(s.getstats, "a", to_chromium), outbound(s.getstats, "a", from_chromium)
    by_media = s.nacks.groupby("media_ssrc")
    # Janus' leg to Chromium (the dump is Janus' sender side): Chromium's NACKs as Janus received them.
    assert by_media.size()[to_chromium] == info["in"]["nacks"] == 313  # handle_info counts NACKed numbers
    assert by_media["frame"].nunique()[to_chromium] == ch_in["nackCount"] == 198  # getStats counts NACK packets
    j = s.stream(to_chromium)
    assert j.capture_side == "sender" and j.repaired == ch_in["retransmittedPacketsReceived"] == 17
    # Chromium's leg to Janus (the dump is Janus' receive side): Janus' NACKs and Chromium's RTX.
    assert by_media.size()[from_chromium] == info["out"]["nacks"] == 16
    assert by_media["frame"].nunique()[from_chromium] == ch_out["nackCount"] == 15
    c = s.stream(from_chromium)
    assert (c.capture_side, c.repaired, c.unrepaired) == ("receiver", info["in"]["retransmissions"], 0)
    s.check_matches_are_the_rtx_with_that_osn()
    assert received_view_missing(s.cap.rtp, from_chromium, {o for *_, o in s.rtx if o is not None}) == []


def test_aiortc_outage_one_nack_for_128_of_312_and_a_pli():
    s = session("aiortc_outage3s")
    a, b = s.meta["ground_truth"]["a"]["counters"], s.meta["ground_truth"]["b"]["counters"]
    video = int(s.pairs["media_ssrc"].iloc[0])
    assert len(s.nacks) == b["nack_seqs_sent"] == a["retransmit_requests"] == 128
    assert s.nacks["frame"].nunique() == b["nack_packets_sent"] == 1
    assert len(s.kfr) == b["pli_sent"] == 2
    v = s.stream(video)
    lost = int(s.cap.streams.loc[s.cap.streams["ssrc"] == video, "lost"].iloc[0])
    assert (v.losses, v.nacked, v.never_nacked) == (lost, 128, lost - 128)
    s.check_matches_are_the_rtx_with_that_osn()
    # a sent 122 RTX packets, numbered without a hole (none lost after the capture), for the newest 122 numbers:
    # the 6 oldest NACKed numbers had left aiortc's 128-packet history by the time the NACK arrived.
    rtx_seq = s.cap.rtp.loc[s.cap.rtp["ssrc"] == int(s.pairs["rtx_ssrc"].iloc[0]), "seq"].to_numpy().astype(int)
    assert len(rtx_seq) == v.repaired == 122 and (np.diff(rtx_seq) == 1).all()
    oldest = sorted(s.out["ext_seq"])[:6]
    assert sorted(s.out.loc[s.out["outcome"] == "not_repaired", "ext_seq"]) == oldest
    assert v.unrepaired == lost - 122
    assert (s.out["keyframe_request_t"].notna()).all()  # b's PLIs came after the loss


@pytest.mark.parametrize("name,dump", [("aiortc_loss5_rtp", None), ("janus_echotest_loss5", "janus")])
def test_the_nacks_analysed_are_the_pid_blp_expansion_of_the_raw_fci(name, dump):
    s = session(name, dump)
    cols = ["frame", "t", "index", "sender_ssrc", "media_ssrc", "seq", "pid", "bit", "fci"]
    mine = nacks_from_feedback(s.cap.rtcp_feedback)[cols].reset_index(drop=True)
    assert s.nacks[cols].reset_index(drop=True).equals(mine)
