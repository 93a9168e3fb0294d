"""Plots of the NACK analysis (webrtcpcap.plots.nack_sequence_plot, repair_delay_hist, feedback_timeline) on crafted
tables and on the aiortc outage session: artists and their data, Agg backend."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from webrtcpcap import nack, plots, streams  # noqa: E402

from test_nack import MEDIA, RTX, call, kfr_table, media, nack_table, pairs_table, session  # noqa: E402

LINES = ["packets", "losses", "nacks", "repairs", "repaired", "repaired_late", "not_repaired", "unsolicited"]


def story():
    # Holes {3} and {6}: 3 repaired by RTX at 0.15 s, 6 NACKed and never retransmitted; one padding probe and one
    # RTX of 1 (never NACKed).
    pk = media([0, 1, 2, 4, 5, 7, 8]) + [(0.15, RTX, 1, 3), (0.16, RTX, 2, None), (0.17, RTX, 3, 1)]
    rtp, osn = call(pk)
    nk = nack_table([(50, 0.10, 3), (51, 0.12, 6), (52, 0.14, 6)])
    out = nack.nack_outcomes(nk, rtp, pairs_table(), osn, rtt_ms=10.0)
    un = nack.unsolicited_retransmissions(nk, rtp, pairs_table(), osn)
    return rtp, nk, out, un


def test_nack_sequence_plot_draws_each_kind_as_one_named_line():
    rtp, _, out, un = story()
    ax = plots.nack_sequence_plot(rtp, out, MEDIA, streams.gaps(rtp), un).axes[0]
    assert [line.get_gid() for line in ax.lines] == LINES
    lines = {line.get_gid(): line for line in ax.lines}
    assert lines["packets"].get_ydata().tolist() == [0, 1, 2, 4, 5, 7, 8]
    y = lines["losses"].get_ydata()
    assert y[~np.isnan(y)].tolist() == [2.5, 3.5, 5.5, 6.5]  # one bar per hole, around the missing numbers
    assert lines["nacks"].get_xdata().tolist() == [0.10, 0.12] and lines["nacks"].get_ydata().tolist() == [3, 6]
    x = lines["repairs"].get_xdata()
    assert x[~np.isnan(x)].tolist() == [0.10, 0.15]  # first NACK -> retransmission
    assert lines["repaired"].get_xdata().tolist() == [0.15] and lines["repaired"].get_ydata().tolist() == [3]
    assert len(lines["repaired_late"].get_xdata()) == 0
    assert lines["not_repaired"].get_ydata().tolist() == [6]
    assert lines["unsolicited"].get_ydata().tolist() == [1]  # the probe without OSN is not drawn


def test_nack_sequence_plot_of_a_stream_without_nacks_has_empty_lines():
    rtp, _, out, _ = story()
    ax = plots.nack_sequence_plot(rtp, out.iloc[:0], MEDIA).axes[0]
    assert [line.get_gid() for line in ax.lines] == LINES
    assert all(len(line.get_xdata()) == 0 for line in ax.lines[1:])


def test_repair_delay_hist_counts_every_repair_and_marks_the_median():
    pk = media([0, 1, 3, 5, 7, 8]) + [(0.2, RTX, 1, 2), (0.21, RTX, 2, 4), (0.25, RTX, 3, 6)]
    rtp, osn = call(pk)
    out = nack.nack_outcomes(nack_table([(50, 0.19, 2), (50, 0.19, 4), (50, 0.19, 6)]), rtp, pairs_table(), osn,
                             rtt_ms=20.0)
    ax = plots.repair_delay_hist(out, bins=5).axes[0]
    heights = ax.patches[0].get_path().vertices[:, 1]
    assert heights.max() == 2  # 10 and 20 ms in the first bin of 5 between 10 and 60 ms
    assert [line.get_gid() for line in ax.lines] == ["median"]
    assert ax.lines[0].get_xdata()[0] == pytest.approx(20.0)
    ax = plots.repair_delay_hist(out, unit="rtt").axes[0]
    assert ax.lines[0].get_xdata()[0] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        plots.repair_delay_hist(out, unit="s")


def test_repair_delay_hist_without_repairs_says_so():
    _, _, out, _ = story()
    ax = plots.repair_delay_hist(out[out["outcome"] == "not_repaired"]).axes[0]
    assert ax.texts[0].get_text() == "no repaired NACKs"


def test_feedback_timeline_one_tick_per_nack_packet_and_per_pli():
    _, nk, _, _ = story()
    kf = kfr_table([(60, 0.13, "pli"), (61, 0.35, "fir")])
    fig = plots.feedback_timeline(nk, kf, window_s=0.1)
    top, bottom = fig.axes[:2]
    assert [line.get_gid() for line in top.lines] == ["nack", "pli", "fir"]
    assert top.lines[0].get_xdata().tolist() == [0.10, 0.12, 0.14]
    assert top.lines[1].get_xdata().tolist() == [0.13] and top.lines[2].get_xdata().tolist() == [0.35]
    assert bottom.lines[0].get_ydata().tolist() == [0, 3, 0, 0]  # NACKed numbers per 0.1 s window


def test_outage_plots_show_122_repairs_6_unrepaired_and_2_plis():
    s = session("aiortc_outage3s")
    video = int(s.pairs["media_ssrc"].iloc[0])
    ax = plots.nack_sequence_plot(s.cap.rtp, s.out, video, s.gaps, s.unsolicited).axes[0]
    lines = {line.get_gid(): line for line in ax.lines}
    assert len(lines["repaired"].get_xdata()) == 122 and len(lines["not_repaired"].get_xdata()) == 6
    assert len(lines["nacks"].get_xdata()) == 128
    top = plots.feedback_timeline(s.nacks, s.kfr).axes[0]
    assert len(top.lines[0].get_xdata()) == 1 and len(top.lines[1].get_xdata()) == 2
