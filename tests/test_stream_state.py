"""RTP stream statistics carried across chunks (webrtcpcap.tables.stream_state): the loss, clock rate and jitter a
capture read in chunks gets are those of the whole read (`streams`), whatever the chunk size, with chunk boundaries
inside reorderings, duplicates and sequence-number wraps; `summarize` over iter_chunks prints them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import webrtcpcap
from webrtcpcap.tables.rtx import rtx_pairs
from webrtcpcap.tables.stream_state import StreamState
from webrtcpcap.tables.streams import streams
from webrtcpcap.tables.summary import summarize

from conftest import CAPTURES

KEYS = ["src", "sport", "dst", "dport", "ssrc"]


def _whole(rtp: pd.DataFrame) -> pd.DataFrame:
    """streams(rtp) keyed as StreamState's table, RTX streams (by the timestamps) without jitter, as the summary.
    Known difference (StreamState's docstring): chunks pair RTX by repeated timestamps only, not by the "after
    losses" evidence (retransmissions of frames an outage took whole: bwe/freeze), whose RTX stream then keeps a
    jitter figure in chunks."""
    s = streams(rtp)
    pairs = rtx_pairs(s, rtp=rtp, timestamps=True)
    s = s.assign(src=s["src"].astype(str), dst=s["dst"].astype(str))
    s.loc[s["ssrc"].isin(pairs["rtx_ssrc"]), "jitter_ms"] = np.nan
    return s.astype({"sport": "int64", "dport": "int64", "ssrc": "int64"}).set_index(KEYS).sort_index()


def _chunked(rtp: pd.DataFrame, size: int) -> pd.DataFrame:
    state = StreamState()
    for a in range(0, len(rtp), size):
        state.update(rtp.iloc[a:a + size])
    return state.table().set_index(KEYS).sort_index()


def _assert_same(whole: pd.DataFrame, got: pd.DataFrame) -> None:
    assert list(got.index) == list(whole.index)
    assert got["packets"].tolist() == whole["packets"].tolist()
    assert got["expected"].tolist() == whole["expected"].tolist()
    assert got["lost"].tolist() == whole["lost"].tolist()
    assert got["pt"].tolist() == whole["pt"].astype("int64").tolist()
    np.testing.assert_array_equal(got["clock_rate"].to_numpy(), whole["clock_rate"].astype("float64").to_numpy())
    # Jitter filtered from a carried value rounds differently from one filtered in one piece (~1e-15 relative).
    np.testing.assert_allclose(got["jitter_ms"].to_numpy(), whole["jitter_ms"].to_numpy(), rtol=1e-9, atol=1e-12)


def _rtp(rows) -> pd.DataFrame:
    """An rtp table from (ssrc, pt, seq, ts, t) rows, one 5-tuple."""
    ssrc, pt, seq, ts, t = (np.array(c) for c in zip(*rows))
    n = len(ssrc)
    return pd.DataFrame({
        "frame": np.arange(1, n + 1, dtype=np.uint32), "t": t.astype(np.float64),
        "src": pd.Categorical(["10.0.0.1"] * n), "sport": np.full(n, 5000, np.uint16),
        "dst": pd.Categorical(["10.0.0.2"] * n), "dport": np.full(n, 6000, np.uint16),
        "ssrc": ssrc.astype(np.uint32), "pt": pt.astype(np.uint8), "seq": (seq % 65536).astype(np.uint16),
        "ts": (ts % (1 << 32)).astype(np.uint32), "marker": np.zeros(n, bool), "padding": np.zeros(n, bool),
        "payload_len": np.full(n, 100, np.int64), "error": pd.Series([None] * n, dtype="string")})


def _hostile_stream(seed: int) -> pd.DataFrame:
    """Two streams through sequence-number and timestamp wraps, with losses, reordering, duplicates, late packets
    from before the wrap and a jump: what a chunk boundary may cut anywhere."""
    rng = np.random.default_rng(seed)
    rows = []
    for ssrc, pt, step, rate in ((0x1111, 111, 960, 48000), (0x2222, 96, 3000, 90000)):
        seq0, ts0 = 65536 - 300, (1 << 32) - 960 * 100
        n = 400
        seqs = seq0 + np.arange(n)
        seqs[350:] += 5000  # a jump
        order = np.arange(n)
        for i in rng.choice(n - 6, 30, replace=False):  # swaps: late packets, some across the wrap
            order[i], order[i + 5] = order[i + 5], order[i]
        keep = rng.random(n) > 0.05
        for k in order[keep[order]]:
            t = 1.0 + k * step / rate + rng.random() * 0.01
            rows.append((ssrc, pt, int(seqs[k]), ts0 + int(k) * step, t))
            if rng.random() < 0.02:
                rows.append((ssrc, pt, int(seqs[k]), ts0 + int(k) * step, t + 0.001))  # a duplicate
    rows.sort(key=lambda r: r[4])
    return _rtp(rows)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_chunks_of_any_size_give_the_whole_reads_loss_rate_and_jitter(seed):
    rtp = _hostile_stream(seed)
    whole = _whole(rtp)
    assert (whole["lost"] > 0).all() and whole["clock_rate"].notna().all()
    for size in (3, 64, 333, len(rtp)):
        _assert_same(whole, _chunked(rtp, size))


def test_a_late_packet_from_before_the_wrap_in_the_next_chunk_is_not_a_loss_of_65536():
    rows = [(7, 111, s, 960 * i, 0.02 * i) for i, s in enumerate([65533, 65534, 65535, 1, 2, 0, 3, 4])]
    rtp = _rtp(rows)
    for size in (1, 3, 4, 5):
        got = _chunked(rtp, size)
        assert got["lost"].tolist() == [0] and got["expected"].tolist() == [8]


@pytest.mark.parametrize("name", ["chromium_aiortc_loss5.pcap", "aiortc_loss_both.pcap", "bwe/freeze.pcap"])
def test_recorded_captures_in_chunks_give_the_whole_reads_figures(name):
    rtp = webrtcpcap.open(CAPTURES / name, progress=False).rtp
    whole = _whole(rtp)
    s = streams(rtp)
    pairs = rtx_pairs(s, rtp=rtp, timestamps=True)
    outage_rtx = set(pairs.loc[pairs["source"].astype(str) == "rtp timestamps after losses", "rtx_ssrc"].astype(int))
    for size in (997, 5000, len(rtp) + 1):
        got = _chunked(rtp, size)
        # the known difference (see _whole): only that stream's jitter, and only where the evidence was "after losses"
        got.loc[got.index.get_level_values("ssrc").isin(outage_rtx), "jitter_ms"] = np.nan
        _assert_same(whole, got)
    assert len(outage_rtx) == (1 if name == "bwe/freeze.pcap" else 0)  # the difference stays that one stream


def test_summarize_in_chunks_gives_the_loss_and_jitter_of_a_whole_read():
    path = CAPTURES / "chromium_aiortc_loss5.pcap"
    whole = summarize([(webrtcpcap.open(path, progress=False).packets, webrtcpcap.open(path, progress=False).rtp)])
    for size in (2000, 7000):
        chunks = ((c.packets, c.rtp) for c in webrtcpcap.iter_chunks(path, size, progress=False, tables=["rtp"]))
        got = summarize(chunks)
        cols = ["src", "sport", "dst", "dport", "ssrc", "pt", "packets", "lost", "rtx_of"]
        pd.testing.assert_frame_equal(got.streams[cols], whole.streams[cols], check_dtype=False)
        assert got.streams["lost"].notna().any()
        np.testing.assert_allclose(got.streams["jitter_ms"], whole.streams["jitter_ms"], rtol=1e-9)


def test_no_rtp_gives_an_empty_table():
    state = StreamState()
    state.update(_rtp([(1, 96, 1, 0, 0.0)]).iloc[:0])
    assert state.table().empty and list(state.table().columns)[:5] == KEYS
