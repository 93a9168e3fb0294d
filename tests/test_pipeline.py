"""The pipeline decodes slices of frames in parallel threads; its tables must not depend on how it slices."""

from pathlib import Path

import pandas as pd
import pytest

import webrtcpcap
from webrtcpcap import pipeline

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
# IP fragments (janus_mtu576), TURN, RTCP compounds and loss: slicing must not change any of them.
CASES = ["janus_mtu576.pcap", "aiortc_mtu576.pcap", "turn_relay_static.pcap", "aiortc_loss_both.pcap"]


def tables(path):
    cap = webrtcpcap.open(path, progress=False)
    return {name: getattr(cap, name) for name in ("packets", "rtp", "rtcp", "flows", "icmp", "fragments")}


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("slice_frames,threads", [(7, 2), (500, 2), (500, 1)])
def test_tables_do_not_depend_on_slicing_or_threads(name, slice_frames, threads, monkeypatch):
    path = CAPTURES / name
    if not path.exists():
        pytest.skip(f"{path} is not in this checkout")
    whole = tables(path)  # one slice: the capture is smaller than pipeline.SLICE
    assert len(whole["packets"]) < pipeline.SLICE
    monkeypatch.setattr(pipeline, "SLICE", slice_frames)
    monkeypatch.setattr(pipeline, "THREADS", threads)
    sliced = tables(path)
    for table, df in whole.items():
        pd.testing.assert_frame_equal(sliced[table], df, obj=f"{name} {table}")


def test_fragments_split_across_slices_are_reassembled_in_order(monkeypatch):
    path = CAPTURES / "janus_mtu576.pcap"
    if not path.exists():
        pytest.skip(f"{path} is not in this checkout")
    monkeypatch.setattr(pipeline, "SLICE", 2)  # nearly every datagram's fragments straddle two slices
    monkeypatch.setattr(pipeline, "THREADS", 2)
    cap = webrtcpcap.open(path, progress=False)
    fragments = cap.fragments
    assert len(fragments) > 0
    assert fragments.reassembled_in.notna().all()
    # The completing frame (its own row says so) comes after every other fragment of its datagram, and holds
    # the decoded datagram.
    done = fragments.reassembled_in.astype("int64")
    frame = fragments.frame.astype("int64")
    assert (done >= frame).all()
    assert set(done) <= set(frame[done == frame])
    completing = cap.packets.set_index("frame").loc[done.unique()]
    assert not completing.kind.isin(["ip-fragment", "other"]).any()
