"""plots.dtls_ladder: one arrow per flight transmission and alert, on a recorded lossy handshake and crafted flights."""

from __future__ import annotations

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")

import matplotlib.axes  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from webrtcpcap import handshake, plots  # noqa: E402

from conftest import CAPTURES  # noqa: E402
from test_dtls import capture_dtls  # noqa: E402


def _gid(ax, gid: str) -> list:
    return [a for a in ax.get_children() if a.get_gid() == gid]


@pytest.fixture(scope="module")
def loss_flights():
    _, records, hs = capture_dtls(CAPTURES / "dtls_handshake_loss.pcap")
    return handshake.flights(records, hs)


@pytest.mark.parametrize("y", ["order", "time"])
def test_lossy_handshake_ladder_has_one_arrow_per_transmission_and_marks_retransmissions(loss_flights, y):
    fl = loss_flights
    ax = plots.dtls_ladder(fl, y=y)
    assert isinstance(ax, matplotlib.axes.Axes)
    assert len(_gid(ax, "lane")) == 2
    assert len(_gid(ax, "flight")) == int((~fl.retransmission & ~fl.alert).sum()) == 4
    assert len(_gid(ax, "retransmission")) == int(fl.retransmission.sum()) == 4
    assert len(_gid(ax, "alert")) == int(fl.alert.sum())
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0].startswith("client\n10.99.0.2:") and labels[1].startswith("server\n10.99.0.1:")


def test_arrows_go_from_the_sender_lane_at_the_flight_time(loss_flights):
    ax = plots.dtls_ladder(loss_flights, y="time")
    arrows = [a for a in ax.get_children() if a.get_gid() in ("flight", "retransmission", "alert")]
    starts = sorted((float(a.xyann[1]), float(a.xyann[0])) for a in arrows)
    expected = sorted((float(t), 0.0 if s == "client" else 1.0)
                      for t, s in zip(loss_flights.first_t, loss_flights.sender))
    assert [x for pair in starts for x in pair] == pytest.approx([x for pair in expected for x in pair])


def test_alerts_are_red_arrows_with_a_cross():
    fl = pd.DataFrame({"association": [0, 0], "flight": pd.array([1, None], dtype="UInt8"),
                       "transmission": [1, 1], "retransmission": [False, False], "retransmissions": [0, 0],
                       "sender": pd.Categorical(["client", "server"]), "src": ["a:1", "b:2"], "dst": ["b:2", "a:1"],
                       "first_t": [0.0, 0.1], "last_t": [0.0, 0.1], "messages": ["client_hello",
                                                                             "alert fatal handshake_failure"],
                       "records": [1, 1], "datagrams": [1, 1], "bytes": [100, 15], "alert": [False, True],
                       "frames": ["1", "2"]})
    ax = plots.dtls_ladder(fl)
    assert len(_gid(ax, "alert")) == 1 and len(_gid(ax, "alert-mark")) == 1
    assert _gid(ax, "alert")[0].arrow_patch.get_edgecolor()[:3] == pytest.approx(matplotlib.colors.to_rgb("tab:red"))


def test_ladder_draws_into_given_axes_picks_the_association_and_is_deterministic(loss_flights):
    fig, ax = plt.subplots()
    assert plots.dtls_ladder(loss_flights, association=0, ax=ax) is ax
    plt.close(fig)
    a = plots.dtls_ladder(loss_flights)
    b = plots.dtls_ladder(loss_flights)
    texts = lambda ax: [(t.get_text(), t.get_position()) for t in ax.texts]  # noqa: E731
    assert texts(a) == texts(b)
    empty = plots.dtls_ladder(loss_flights, association=7)
    assert [t.get_text() for t in empty.texts] == ["no DTLS flights"]


def test_ladder_rejects_an_unknown_y_mode(loss_flights):
    with pytest.raises(ValueError, match="dtls_ladder y must be"):
        plots.dtls_ladder(loss_flights, y="bogus")


def test_dtls13_ladder_labels_encrypted_flights_and_draws_the_client_ack():
    """The lossy Chromium session (issue 14): encrypted flights labelled with their epoch, the client's ACK of a
    partly received server flight dotted, DTLS 1.3 in the title."""
    from test_dtls import _lab13

    _, records, hs = capture_dtls(_lab13("chromium_chromium_dtls_loss"))
    fl = handshake.flights(records, hs)
    ax = plots.dtls_ladder(fl)
    texts = [t.get_text() for t in ax.texts]
    assert "F4 server_hello, encrypted handshake (epoch 2)" in texts or any(
        t.startswith("F4 encrypted handshake (epoch 2)") for t in texts)
    assert any(t == "F6 encrypted record (epoch 3)" for t in texts)
    assert len(_gid(ax, "ack")) == int(fl.ack.sum()) >= 1
    assert _gid(ax, "ack")[0].arrow_patch.get_edgecolor()[:3] == pytest.approx(matplotlib.colors.to_rgb("tab:purple"))
    assert len(_gid(ax, "flight")) + len(_gid(ax, "retransmission")) == int((~fl.alert & ~fl.ack).sum())
    assert ax.get_title().startswith("DTLS 1.3 association 0:") and "1 ACK" in ax.get_title()


def test_dtls13_crafted_ladder_has_flights_1_4_5_6():
    from test_handshake import _healthy13, _tables

    fl = handshake.flights(*_tables(_healthy13()))
    ax = plots.dtls_ladder(fl)
    labels = [t.get_text() for t in ax.texts if t.get_text()]
    assert labels[:4] == ["F1 client_hello", "F4 server_hello, encrypted handshake (epoch 2)",
                          "F5 encrypted handshake (epoch 2)", "F6 encrypted ACK-sized record (epoch 3)"]
    assert len(_gid(ax, "alert")) == 2  # the close_notify pair, by its size
