"""Plots of RTP streams (webrtcpcap.plots.sequence_plot, bitrate_plot) on crafted tables and on captures/:
artist counts and data, Agg backend."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

import webrtcpcap  # noqa: E402
from webrtcpcap import plots, streams  # noqa: E402

from conftest import CAPTURES, open_quiet  # noqa: E402
from test_streams import one_stream  # noqa: E402


def test_import_webrtcpcap_does_not_import_matplotlib():
    import subprocess
    import sys
    code = "import sys, webrtcpcap; print('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_sequence_plot_marks_late_packets_and_one_bar_per_gap():
    rtp = one_stream([0, 1, 3, 2, 4, 8, 9])  # 2 late; holes: {2} (filled later) and {5, 6, 7}
    fig = plots.sequence_plot(rtp, 0x11223344, streams.gaps(rtp))
    ax = fig.axes[0]
    assert len(ax.lines) == 2 + 2
    assert ax.lines[0].get_ydata().tolist() == [0, 1, 3, 2, 4, 8, 9]
    assert ax.lines[1].get_ydata().tolist() == [2]
    assert ax.lines[3].get_ydata().tolist() == [4.5, 7.5]


def test_sequence_plot_extends_across_the_wrap():
    rtp = one_stream([65534, 65535, 0, 1])
    ax = plots.sequence_plot(rtp, 0x11223344).axes[0]
    assert ax.lines[0].get_ydata().tolist() == [65534, 65535, 65536, 65537]
    assert len(ax.lines) == 2 and len(ax.lines[1].get_ydata()) == 0


def test_sequence_plot_on_loss5_video_has_28_gap_bars():
    cap = open_quiet(str(CAPTURES / "aiortc_loss5_rtp.pcap"))
    fig = plots.sequence_plot(cap.rtp, 2459559700, streams.gaps(cap.rtp))
    ax = fig.axes[0]
    assert len(ax.lines) == 2 + 28
    assert len(ax.lines[0].get_xdata()) == 574


def test_bitrate_plot_one_line_per_stream_and_sums_bytes():
    rtp = one_stream(range(100), payload_len=125)  # 100 packets over 2 s, 125 bytes each
    ax = plots.bitrate_plot(rtp, window_s=1.0).axes[0]
    assert len(ax.lines) == 1
    assert ax.lines[0].get_ydata().tolist() == [50 * 125 * 8 / 1000, 50 * 125 * 8 / 1000]


def test_bitrate_plot_on_loss5_has_five_streams():
    cap = open_quiet(str(CAPTURES / "aiortc_loss5_rtp.pcap"))
    fig = plots.bitrate_plot(cap.rtp)
    assert isinstance(fig, matplotlib.figure.Figure)
    assert len(fig.axes[0].lines) == 5
    total = sum(np.sum(line.get_ydata()) for line in fig.axes[0].lines) * 1000 / 8
    assert round(total) == int(cap.rtp["payload_len"].sum())


def test_jitter_plot_draws_each_streams_jitter_series():
    rtp = one_stream(range(50), t=[0.02 * i + (0.005 if i % 7 == 0 else 0) for i in range(50)])
    view = streams.packet_view(rtp, clock_rates={96: 48000})
    fig = plots.jitter_plot(view)
    line = fig.axes[0].lines[0]
    assert len(fig.axes[0].lines) == 1
    assert np.allclose(line.get_ydata(), view.jitter_ms.to_numpy()) and np.allclose(line.get_xdata(), view.t)
    assert len(plots.jitter_plot(streams.packet_view(one_stream([1, 2]))).axes[0].lines) == 0  # no clock rate


def test_reported_loss_plot_puts_the_receivers_count_on_the_captures():
    name = CAPTURES / "chromium_aiortc_loss5"
    cap = open_quiet(str(name) + ".pcap", keylog=str(name) + ".keylog")
    fig = plots.reported_loss_plot(cap.rtp, cap.rtcp_report_blocks, 1720105917)  # Chromium's video, received by b
    reported, captured = fig.axes[0].lines
    blocks = cap.rtcp_report_blocks[cap.rtcp_report_blocks.source_ssrc == 1720105917]
    assert list(reported.get_ydata()) == blocks.sort_values("t").cumulative_lost.astype(float).tolist()
    assert list(captured.get_ydata()) == list(reported.get_ydata())  # the capture is at the receiver
    assert reported.get_ydata()[-1] == 17


def test_twcc_plot_marks_received_and_lost_packets():
    cap = open_quiet(str(CAPTURES / "janus_echotest_loss5.janus.pcap"))
    twcc = cap.twcc
    fig = plots.twcc_plot(twcc)
    received, lost = fig.axes[0].collections
    assert len(received.get_offsets()) == int(twcc.received.sum()) > 1000
    assert len(lost.get_offsets()) == int((~twcc.received).sum()) > 0
