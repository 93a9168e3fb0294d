"""Capture.dissect: Wireshark's dissection of one frame through pyshark, also from inside a running event loop."""

from __future__ import annotations

import asyncio
import shutil

import pytest

from conftest import SYNTHETIC, open_quiet

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")


def _first_rtp_frame(cap) -> int:
    return int(cap.rtp["frame"].iloc[0])


def test_dissect_of_an_rtp_frame_has_an_rtp_layer():
    cap = open_quiet(SYNTHETIC)
    frame = _first_rtp_frame(cap)
    packet = cap.dissect(frame)
    names = [layer.layer_name for layer in packet.layers]
    assert "rtp" in names
    assert int(packet.number) == frame
    assert int(packet.rtp.ssrc, 16) == int(cap.rtp["ssrc"].iloc[0])


def test_dissect_works_inside_a_running_event_loop():
    cap = open_quiet(SYNTHETIC)
    frame = _first_rtp_frame(cap)

    async def inside_jupyter_like_loop():
        assert asyncio.get_running_loop().is_running()
        return cap.dissect(frame)

    packet = asyncio.run(inside_jupyter_like_loop())
    assert "rtp" in [layer.layer_name for layer in packet.layers]


def test_dissect_of_a_frame_outside_the_capture_is_an_index_error():
    cap = open_quiet(SYNTHETIC)
    with pytest.raises(IndexError):
        cap.dissect(len(cap) + 1)
