"""Plots of the analysis tables (matplotlib): what people look at.

Strategy: each function takes DataFrames from the analyses (`webrtcpcap.ice`, `webrtcpcap.streams`) and returns a
matplotlib Figure; no I/O, no decoding.  matplotlib is imported on the first plot (`_pyplot`), so `import webrtcpcap`
stays light, and figures are closed in pyplot before they are returned (the caller shows or saves them; Jupyter
displays a returned Figure once).  One module (~730 lines): the ladder layout
was being reworked (issue 21) while the other modules were split; its split is left for after that merge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..net.layers import endpoint
from ..tables.streams import STREAM_KEYS, _wrap, extend_seq

# Time axes in windows follow the frames, never the span between the first and last time: one frame with a wrong
# clock (time 0, year 2106) would otherwise ask for billions of bins.
OUTLIER_GAP_S = 3600.0  # frames more than an hour from the bulk of the others (sorted by time) are far off
MAX_TIME_BINS = 20_000  # beyond this many windows the window widens (a whole multiple of the one asked for)


@dataclass(frozen=True)
class TimeBins:
    """Windows over the bulk of a set of times: `start` (0, the capture start, when the bulk begins within
    OUTLIER_GAP_S of it; else the multiple of the window below the bulk's first time), `window_s` (the one asked for,
    or a whole multiple of it when the bulk spans more than MAX_TIME_BINS windows), `n` windows, and `inside`
    (per time: within the bulk; NaN times and far-off ones are not).  `far_off` counts the times left out."""

    start: float
    window_s: float
    n: int
    inside: np.ndarray

    @property
    def far_off(self) -> int:
        return int(len(self.inside) - self.inside.sum())

    def index(self, t: np.ndarray) -> np.ndarray:
        """The window of each time (inside ones only)."""
        return np.floor((t - self.start) / self.window_s).astype(np.int64).clip(0, self.n - 1)

    def edges(self) -> np.ndarray:
        return self.start + np.arange(self.n) * self.window_s

    def note(self, what: str = "packet") -> str:
        """A title suffix naming the far-off times left out ("" when there are none)."""
        k = self.far_off
        return f" ({k} {what}{'s' if k != 1 else ''} with far-off or no times not shown)" if k else ""


def _pyplot():
    """matplotlib.pyplot, imported on the first plot."""
    import matplotlib.pyplot as plt  # deferred: matplotlib, seconds to import, for the users who plot

    return plt


def _line2d():
    from matplotlib.lines import Line2D  # deferred: matplotlib, as in _pyplot

    return Line2D


def time_bins(t, window_s: float) -> TimeBins:
    """Windows of `window_s` over the bulk of the times `t` (seconds): sorted, the times split wherever two
    neighbours lie more than OUTLIER_GAP_S apart, and the run holding most of them (the earliest of equals) is the
    bulk.  Memory is bounded by the number of times, never by their values."""
    t = np.asarray(t, dtype=np.float64)
    finite = np.isfinite(t)
    inside = np.zeros(len(t), dtype=bool)
    if not finite.any():
        return TimeBins(0.0, float(window_s), 1, inside)
    order = np.flatnonzero(finite)[np.argsort(t[finite], kind="stable")]
    ts = t[order]
    cuts = np.flatnonzero(np.diff(ts) > OUTLIER_GAP_S) + 1
    bounds = np.r_[0, cuts, len(ts)]
    best = int(np.argmax(np.diff(bounds)))
    lo, hi = ts[bounds[best]], ts[bounds[best + 1] - 1]
    inside[order[bounds[best]:bounds[best + 1]]] = True
    window = float(window_s)
    near_start = 0.0 <= lo <= OUTLIER_GAP_S  # the usual case: windows from the capture start (t = 0)
    start = 0.0 if near_start else np.floor(lo / window) * window
    n = int(np.floor((hi - start) / window)) + 1
    if n > MAX_TIME_BINS:
        window *= int(np.ceil(n / MAX_TIME_BINS))
        start = 0.0 if near_start else np.floor(lo / window) * window
        n = int(np.floor((hi - start) / window)) + 1
    return TimeBins(float(start), window, n, inside)


# Colours by transaction outcome (ice_ladder) and candidate-pair state (candidate_pair_timeline).
OUTCOME_COLOURS = {"success": "tab:green", "error": "tab:red", "no answer": "tab:gray", "other": "tab:blue"}
PAIR_STATE_COLOURS = {"succeeded": "tab:green", "failed": "tab:red", "in progress": "tab:orange",
                      "no answer": "tab:gray"}


def _outcome_kind(outcome) -> str:
    """"success", "error" (any "error NNN"), "no answer", or "other" (indications, responses without request)."""
    text = str(outcome)
    if text == "success" or text == "no answer":
        return text
    return "error" if text.startswith("error") else "other"


def ice_ladder(transactions_df: pd.DataFrame, stun: pd.DataFrame | None = None, *, max_rows: int = 200,
               y: str = "time", title: str | None = None, figsize: tuple[float, float] | None = None):
    """A ladder (sequence) diagram of STUN transactions, from `webrtcpcap.ice.transactions`.

    One vertical line per endpoint ("ip:port", in order of first appearance), time growing downwards.  Each
    transaction is one arrow from client to server at its first request's time; when an answer came, a second
    arrow goes back at the response's time.  Colour by outcome: green success, red error (with its code), grey no
    answer, blue indications and responses without request.  Retransmissions are not drawn as arrows of their own:
    the request arrow is labelled "method ×n" (n requests), and when `stun` (the `cap.stun` table) is given, each
    retransmission is a small tick on the client's line at the time it was sent, which shows the back-off.

    `max_rows` keeps a few hundred messages readable: when there are more transactions, runs of consecutive
    transactions with the same client, server, method and outcome become one arrow labelled "×n transactions";
    if that is still too many, only the first `max_rows` are drawn and the title says so.

    `y="time"` (default) puts every arrow at its time, so gaps and back-off are to scale but transactions less
    than a few pixels apart overlap; `y="order"` gives each arrow its own row (request slanting down to the
    server, response back), labelled with its time: the readable choice for hundreds of messages.
    """
    if y not in ("time", "order"):
        raise ValueError(f'ice_ladder y must be "time" or "order", not {y!r}')
    plt = _pyplot()

    tx = transactions_df.sort_values("first_t", kind="stable").reset_index(drop=True)
    total = len(tx)
    groups: list[tuple[int, int]] = [(i, 1) for i in range(total)]  # (first row, transactions in the arrow)
    if total > max_rows:
        groups = []
        prev = None
        for i, r in enumerate(tx[["client", "server", "method", "outcome"]].astype(str).itertuples(index=False)):
            key = tuple(r)
            if key == prev:
                groups[-1] = (groups[-1][0], groups[-1][1] + 1)
            else:
                groups.append((i, 1))
            prev = key
    shown = groups[:max_rows]
    endpoints: list[str] = []
    for i, _ in shown:
        for ep in (str(tx.at[i, "client"]), str(tx.at[i, "server"])):
            if ep not in endpoints:
                endpoints.append(ep)
    x = {ep: n for n, ep in enumerate(endpoints)}

    height = min(max(3.0, 0.25 * len(shown) + 1.5), 40.0)
    fig, ax = plt.subplots(figsize=figsize or (max(6.0, 2.6 * len(endpoints)), height))
    plt.close(fig)
    if not total:
        ax.text(0.5, 0.5, "no STUN transactions", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig

    requests_t: dict[tuple, list[float]] = {}
    if stun is not None and len(stun):
        req = stun[stun["cls"] == "request"]
        for tid, src, sport, t in zip(req["transaction_id"].astype(str), req["src"].astype(str),
                                      req["sport"].astype(object), req["t"].astype(float)):
            ep = endpoint(src, sport)
            requests_t.setdefault((tid, ep), []).append(t)

    drawn = tx.loc[[i for i, _ in shown]]
    t_max = float(pd.concat([drawn["first_t"], drawn["response_t"].astype("float64")]).max())
    for ep, n in x.items():
        ax.axvline(n, color="black", linewidth=1.0, gid="endpoint")
    used: set[str] = set()
    rows_t: list[float] = []
    for row, (i, count) in enumerate(shown):
        r = tx.loc[i]
        kind = _outcome_kind(r["outcome"])
        colour = OUTCOME_COLOURS[kind]
        used.add(kind)
        x0, x1 = x[str(r["client"])], x[str(r["server"])]
        t0 = float(r["first_t"])
        rows_t.append(t0)
        # y0: the request leaves the client, y1: it reaches the server, y2: the response is back.
        y0, y1, y2 = (t0, t0, float(r["response_t"]) if not pd.isna(r["response_t"]) else t0) if y == "time" \
            else (row, row + 0.35, row + 0.7)
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), gid="request",
                    arrowprops=dict(arrowstyle="-|>", color=colour, linewidth=1.2,
                                    linestyle="--" if kind == "no answer" else "-"))
        label = str(r["method"])
        if count > 1:
            label += f" ×{count} transactions"
        elif int(r["requests"]) > 1:
            label += f" ×{int(r['requests'])}"
        if kind == "error" and not pd.isna(r["error_code"]):
            label += f" → {int(r['error_code'])}"
        elif kind == "no answer":
            label += " → no answer"
        ax.text((x0 + x1) / 2, (y0 + y1) / 2, label, ha="center", va="bottom", fontsize=7, color=colour)
        if not pd.isna(r["response_t"]):
            ax.annotate("", xy=(x0, y2), xytext=(x1, y1), gid="response",
                        arrowprops=dict(arrowstyle="-|>", color=colour, linewidth=0.8, alpha=0.7))
        if count == 1 and y == "time":
            times = requests_t.get((str(r["transaction_id"]), str(r["client"])), [])
            if len(times) > 1:
                ax.plot([x0] * (len(times) - 1), times[1:], marker="_", markersize=14, linestyle="none",
                        color=colour, gid="retransmission")
                t_max = max(t_max, max(times))

    ax.set_xticks(range(len(endpoints)), endpoints, fontsize=8)
    ax.xaxis.tick_top()
    ax.set_xlim(-0.5, len(endpoints) - 0.5)
    if y == "time":
        first_t = float(drawn["first_t"].min())
        pad = max((t_max - first_t) * 0.04, 0.01)
        ax.set_ylim(t_max + pad, first_t - pad)
        ax.set_ylabel("time since capture start (s)")
    else:
        ax.set_yticks(range(len(shown)), _time_labels(rows_t), fontsize=7)
        ax.set_ylim(len(shown), -0.5)
        ax.set_ylabel("request sent at (s since capture start)")
    Line2D = _line2d()

    handles = [Line2D([], [], color=OUTCOME_COLOURS[k], label=k) for k in OUTCOME_COLOURS if k in used]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    heading = title or "STUN transactions"
    if len(shown) < len(groups):
        heading += f" (first {len(shown)} of {len(groups)} arrows, {total} transactions)"
    elif len(groups) < total:
        heading += f" ({total} transactions in {len(groups)} arrows)"
    ax.set_title(heading, fontsize=10, pad=24)
    fig.tight_layout()
    return fig


def candidate_pair_timeline(pairs_df: pd.DataFrame, *, title: str | None = None,
                            figsize: tuple[float, float] | None = None):
    """A timeline of ICE candidate pairs, from `webrtcpcap.ice.candidate_pairs`.

    One horizontal bar per pair (local → remote, as the checking agent saw it), from its first check to its last
    check or its last media packet, whichever is later; coloured by state (green succeeded, red failed, orange in
    progress, grey no answer).  A dot marks the first success, a star the nomination (first successful check with
    USE-CANDIDATE or NOMINATION), a vertical tick the first media (DTLS/RTP/RTCP) packet; the selected pair has a
    thick black outline and "selected" in its label.
    """
    plt = _pyplot()

    pairs = pairs_df.reset_index(drop=True)
    fig, ax = plt.subplots(figsize=figsize or (9.0, max(2.0, 0.6 * len(pairs) + 1.4)))
    plt.close(fig)
    if not len(pairs):
        ax.text(0.5, 0.5, "no candidate pairs", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    start = pairs["first_check_t"].astype(float)
    end = pd.concat([pairs["last_check_t"].astype(float), pairs["last_media_t"].astype("float64")],
                    axis=1).max(axis=1)
    span = max(float(end.max() - start.min()), 1.0)
    labels = []
    for n, r in pairs.iterrows():
        width = max(float(end[n] - start[n]), span * 0.005)
        selected = bool(r["selected"])
        ax.barh(n, width, left=float(start[n]), height=0.5, gid="pair",
                color=PAIR_STATE_COLOURS.get(str(r["state"]), "tab:blue"), alpha=0.6,
                edgecolor="black" if selected else "none", linewidth=2.5 if selected else 0)
        if not pd.isna(r["first_success_t"]):
            ax.plot(float(r["first_success_t"]), n, "o", color="black", markersize=6)
        if not pd.isna(r["nominated_t"]):
            ax.plot(float(r["nominated_t"]), n, "*", color="gold", markeredgecolor="black", markersize=14)
        if not pd.isna(r["first_media_t"]):
            ax.plot(float(r["first_media_t"]), n, "|", color="tab:blue", markersize=18, markeredgewidth=2)
        role = "" if pd.isna(r["ice_role"]) else f", {r['ice_role']}"
        labels.append(f"{r['local']} → {r['remote']}\n{r['transport']}, {r['state']}{role}"
                      + (", selected" if selected else ""))
    ax.set_yticks(range(len(pairs)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("time since capture start (s)")
    Line2D = _line2d()

    handles = [Line2D([], [], marker="o", color="black", linestyle="none", label="first success"),
               Line2D([], [], marker="*", color="gold", markeredgecolor="black", markersize=12, linestyle="none",
                      label="nominated"),
               Line2D([], [], marker="|", color="tab:blue", markersize=12, markeredgewidth=2, linestyle="none",
                      label="first media")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    ax.set_title(title or "ICE candidate pairs", fontsize=10)
    fig.tight_layout()
    return fig


# --- RTP streams (webrtcpcap.streams) -------------------------------------------------------------------------------


def sequence_plot(rtp: pd.DataFrame, ssrc: int, gaps_df: pd.DataFrame | None = None, *, title: str | None = None,
                  figsize: tuple[float, float] | None = None):
    """Extended sequence number (RFC 3550 A.1, `webrtcpcap.streams.extend_seq`) against arrival time for the
    packets of one SSRC: a healthy stream is a straight rising line of dots.

    Packets that arrived late (their number below the highest before them) are drawn as orange crosses.  With
    `gaps_df` (a `webrtcpcap.streams.gaps` table), each hole of this SSRC is a red vertical bar at the time the
    receiver saw it (t_after) spanning the missing numbers.  Artists, for tests: ax.lines[0] the packets,
    ax.lines[1] the late packets (always present, maybe empty), then one line per gap.  Returns the Figure.
    """
    plt = _pyplot()


    rows = rtp[(rtp["ssrc"] == ssrc)]
    if "error" in rows.columns:
        rows = rows[rows["error"].isna()]
    t = rows["t"].to_numpy(dtype=float)
    ext = extend_seq(rows["seq"].to_numpy()) if len(rows) else np.zeros(0, dtype=np.int64)
    highest = np.maximum.accumulate(ext) if len(ext) else ext
    late = np.zeros(len(ext), dtype=bool)
    late[1:] = ext[1:] < highest[:-1]
    fig, ax = plt.subplots(figsize=figsize or (9.0, 4.0))
    plt.close(fig)
    ax.plot(t, ext, ".", markersize=3, color="tab:blue", label=f"packets ({len(ext)})")
    ax.plot(t[late], ext[late], "x", markersize=7, color="tab:orange", label=f"late ({int(late.sum())})")
    if gaps_df is not None and len(ext):
        g = gaps_df[gaps_df["ssrc"] == ssrc]
        for i, (ta, lo, n) in enumerate(zip(g["t_after"], g["first_missing"], g["count"])):
            ax.plot([ta, ta], [lo - 0.5, lo + n - 0.5], "-", color="tab:red", linewidth=3,
                    label=f"gaps ({len(g)})" if i == 0 else None)
    ax.set_xlabel("arrival time since capture start (s)")
    ax.set_ylabel("extended sequence number")
    ax.set_title(title or f"RTP sequence of SSRC {ssrc}", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def bitrate_plot(rtp: pd.DataFrame, window_s: float = 1.0, *, title: str | None = None,
                 figsize: tuple[float, float] | None = None):
    """Bit rate of each RTP stream (src, sport, dst, dport, ssrc) in consecutive windows of `window_s` seconds
    from the capture start: payload_len bytes * 8 / window_s, in kbit/s, one step line per stream (labelled
    "ssrc/pt").  Rows with an error are left out.  ax.lines holds one line per stream, in order of first packet.
    Returns the Figure."""
    plt = _pyplot()


    ok = rtp[rtp["error"].isna()] if "error" in rtp.columns else rtp
    fig, ax = plt.subplots(figsize=figsize or (9.0, 4.0))
    plt.close(fig)
    bins = time_bins(ok["t"].to_numpy(dtype=float), window_s)
    if len(ok):
        ok = ok[bins.inside]
        edges = bins.edges()
        for key, rows in ok.groupby(STREAM_KEYS, observed=True, sort=False):
            b = bins.index(rows["t"].to_numpy(dtype=float))
            kbps = np.bincount(b, weights=rows["payload_len"].to_numpy(dtype=float), minlength=bins.n) * 8
            kbps = kbps / bins.window_s / 1000
            ax.step(edges, kbps, where="post", label=f"{key[4]}/{_pts(rows)}")
        if ax.lines:
            ax.legend(title="ssrc/pt", loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    ax.set_xlabel("time since capture start (s)")
    ax.set_ylabel(f"kbit/s ({bins.window_s:g} s windows)")
    ax.set_title((title or "RTP bit rate per stream") + bins.note(), fontsize=10)
    fig.tight_layout()
    return fig


def _pts(rows: pd.DataFrame) -> str:
    """The payload types of one stream's rows ("8,13": a stream is one SSRC across its payload types)."""
    return ",".join(str(int(p)) for p in sorted(set(rows["pt"].tolist())))


# Colours of dtls_ladder arrows: first transmissions by sender, retransmissions, alerts.
DTLS_COLOURS = {"client": "tab:blue", "server": "tab:green", "unknown": "tab:gray", "retransmission": "tab:orange",
                "alert": "tab:red", "ack": "tab:purple"}


def _time_labels(times, unit: str = "") -> list[str]:
    """Row labels of a ladder drawn by order: times in ms precision, finer where two neighbours would read the
    same (a TURN allocation sends several requests within the same millisecond)."""
    for digits in (3, 4, 5, 6):
        labels = [f"{t:.{digits}f}{unit}" for t in times]
        if all(a != b for a, b in zip(labels, labels[1:])):
            return labels
    return labels


def dtls_ladder(flights_df: pd.DataFrame, association: int | None = None, ax=None, *, y: str = "order",
                title: str | None = None):
    """A ladder diagram of one DTLS handshake, from `webrtcpcap.handshake.flights`: returns the matplotlib Axes.

    Two lanes, client left and server right (labelled with their "ip:port").  Each flight transmission is one
    arrow from its sender's lane to the other, labelled "F<n> messages"; first transmissions are solid (blue from
    the client, green from the server), retransmissions dashed orange and labelled "retransmission k", alerts red
    with an ✕ at the head.  DTLS 1.3 (RFC 9147): the encrypted records are labelled by what the wire shows
    ("F4 server_hello, encrypted handshake (epoch 2)", "F6 encrypted record (epoch 3)" — the server's ACK of the
    client's Finished, or data), a client's ACK of a partly received flight (`flights`' ack rows) is a dotted purple
    arrow, and the title says "DTLS 1.3".  `association` picks one association (default: the first); `ax` draws
    into existing
    axes (otherwise a new figure is made and closed in pyplot, so it shows once when the Axes' `.figure` is
    displayed).  `y="order"` (default) gives each arrow its own row, labelled with its time (a handshake that takes
    18 ms next to a close_notify 12 s later stays readable); `y="time"` puts arrows at their time to scale, so the
    RFC 6347 retransmission back-off is visible.
    """
    if y not in ("time", "order"):
        raise ValueError(f'dtls_ladder y must be "time" or "order", not {y!r}')
    plt = _pyplot()

    df = flights_df
    if association is None and len(df):
        association = int(df["association"].iloc[0])
    df = df[df["association"] == association].sort_values(["first_t"], kind="stable").reset_index(drop=True)
    if ax is None:
        fig, ax = plt.subplots(figsize=(8.0, min(max(3.0, 0.45 * len(df) + 1.5), 30.0)))
        plt.close(fig)
    if not len(df):
        ax.text(0.5, 0.5, "no DTLS flights", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return ax
    lanes = {"client": 0.0, "server": 1.0}
    names = {"client": "client", "server": "server"}
    for r in df.itertuples(index=False):
        if r.sender in lanes and names[r.sender] == r.sender:
            names[r.sender] = f"client\n{r.src}" if r.sender == "client" else f"server\n{r.src}"
            other = "server" if r.sender == "client" else "client"
            if names[other] == other:
                names[other] = f"{other}\n{r.dst}"
    for lane, x in lanes.items():
        ax.axvline(x, color="black", linewidth=1.0, gid="lane")
    for row, r in enumerate(df.itertuples(index=False)):
        sender = r.sender if r.sender in lanes else "client"
        x0 = lanes[sender]
        x1 = 1.0 - x0
        y0 = float(r.first_t) if y == "time" else float(row)
        y1 = y0 if y == "time" else row + 0.6
        if bool(r.alert):
            colour, style, gid = DTLS_COLOURS["alert"], "-", "alert"
            label = str(r.messages)
        elif bool(getattr(r, "ack", False)):
            colour, style, gid = DTLS_COLOURS["ack"], ":", "ack"
            label = str(r.messages)
        elif bool(r.retransmission):
            colour, style, gid = DTLS_COLOURS["retransmission"], "--", "retransmission"
            label = f"F{int(r.flight)} retransmission {int(r.transmission) - 1}"
        else:
            colour, style, gid = DTLS_COLOURS.get(str(r.sender), "tab:gray"), "-", "flight"
            label = f"F{int(r.flight)} " + str(r.messages).replace(",", ", ")
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), gid=gid,
                    arrowprops=dict(arrowstyle="-|>", color=colour, linewidth=1.3, linestyle=style))
        if bool(r.alert):
            ax.plot([x1], [y1], marker="x", color=colour, markersize=10, markeredgewidth=2, gid="alert-mark")
        ax.text(0.5, (y0 + y1) / 2, label if len(label) <= 96 else label[:95] + "…", ha="center", va="center",
                fontsize=7, color=colour, bbox=dict(facecolor="white", edgecolor="none", alpha=0.85, pad=1.0))
    ax.set_xticks([0.0, 1.0], [names["client"], names["server"]], fontsize=8)
    ax.xaxis.tick_top()
    ax.set_xlim(-0.25, 1.25)
    if y == "time":
        lo, hi = float(df["first_t"].min()), float(df["first_t"].max())
        pad = max((hi - lo) * 0.05, 0.01)
        ax.set_ylim(hi + pad, lo - pad)
        ax.set_ylabel("time since capture start (s)")
    else:
        ax.set_yticks(range(len(df)), _time_labels(df["first_t"].astype(float), " s"), fontsize=7)
        ax.set_ylim(len(df), -0.5)
        ax.set_ylabel("sent at (s since capture start)")
    retx = int(df["retransmission"].sum())
    alerts = int(df["alert"].sum())
    acks = df["ack"].astype(bool) if "ack" in df else pd.Series(False, index=df.index)
    v13 = bool(df["messages"].astype(str).str.contains("(epoch ", regex=False).any())
    steps = int((~df["alert"].astype(bool) & ~acks).sum())
    heading = title or f"DTLS{' 1.3' if v13 else ''} association {association}: {steps} flight transmissions" + \
        (f", {retx} retransmitted" if retx else "") + (f", {int(acks.sum())} ACK" if acks.any() else "") + \
        (f", {alerts} alert{'s' if alerts > 1 else ''}" if alerts else "")
    ax.set_title(heading, fontsize=10, pad=28)
    return ax


# --- NACK → retransmission → repair (webrtcpcap.nack) -------------------------------------------------------------

# Colours of the NACK plots: what happened to a NACKed packet, and the feedback kinds.
NACK_COLOURS = {"packets": "tab:blue", "losses": "tab:red", "nacks": "tab:purple", "repaired": "tab:green",
                "repaired_late": "tab:orange", "not_repaired": "tab:red", "unsolicited": "tab:gray",
                "pli": "tab:red", "fir": "tab:orange"}


def _bars(x0, x1, y0, y1):
    """Segments (x0, y0)-(x1, y1) as one polyline with NaN breaks: one artist for any number of bars."""

    n = len(x0)
    xs = np.column_stack([x0, x1, np.full(n, np.nan)]).ravel() if n else np.zeros(0)
    ys = np.column_stack([y0, y1, np.full(n, np.nan)]).ravel() if n else np.zeros(0)
    return xs, ys


def nack_sequence_plot(rtp: pd.DataFrame, outcomes: pd.DataFrame, ssrc: int, gaps_df: pd.DataFrame | None = None,
                       unsolicited: pd.DataFrame | None = None, *, title: str | None = None,
                       figsize: tuple[float, float] | None = None):
    """Did NACK work, for one media SSRC: extended sequence number against capture time, with the packets, the holes,
    the NACKs and the retransmissions drawn, from `webrtcpcap.nack.nack_outcomes` (and optionally
    `webrtcpcap.streams.gaps` and `webrtcpcap.nack.unsolicited_retransmissions`).

    A repaired loss reads left to right: a red bar (the hole, at the time the receiver saw it), a purple triangle
    (the first NACK), a green line to a green circle (the retransmission, at its time, at the number it carries);
    an orange circle is a retransmission that came too late, a red cross a NACKed number never retransmitted, a grey
    plus an RTX packet nobody asked for (at its OSN; padding-only probes are left out).  Numbers NACKed but never
    sent before (an SFU's own hole) sit on the packets' line to the right of their NACK.

    Artists, for tests: ax.lines in this order, each present (maybe empty): packets, losses (NaN-separated bars),
    nacks, repairs (NaN-separated NACK→retransmission lines), repaired, repaired_late, not_repaired, unsolicited;
    each has its name as gid.  Returns the Figure.
    """
    plt = _pyplot()


    rows = rtp[rtp["ssrc"] == ssrc]
    if "error" in rows.columns:
        rows = rows[rows["error"].isna()]
    t = rows["t"].to_numpy(dtype=float)
    ext = extend_seq(rows["seq"].to_numpy()) if len(rows) else np.zeros(0, dtype=np.int64)
    o = outcomes[outcomes["media_ssrc"] == ssrc]
    fig, ax = plt.subplots(figsize=figsize or (10.0, 4.5))
    plt.close(fig)
    c = NACK_COLOURS
    ax.plot(t, ext, ".", markersize=2, color=c["packets"], gid="packets", label=f"packets ({len(ext)})")
    g = gaps_df[gaps_df["ssrc"] == ssrc] if gaps_df is not None else None
    if g is not None and len(g):
        ta = g["t_after"].to_numpy(dtype=float)
        lo = g["first_missing"].to_numpy(dtype=float)
        xs, ys = _bars(ta, ta, lo - 0.5, lo + g["count"].to_numpy(dtype=float) - 0.5)
    else:
        xs, ys = np.zeros(0), np.zeros(0)
    ax.plot(xs, ys, "-", color=c["losses"], linewidth=3, gid="losses",
            label=f"holes ({0 if g is None else len(g)})")
    seq = o["ext_seq"].to_numpy(dtype=float)
    nt = o["first_nack_t"].to_numpy(dtype=float)
    ax.plot(nt, seq, ">", markersize=5, color=c["nacks"], gid="nacks", label=f"NACKed ({len(o)})")
    fixed = o["outcome"].isin(["repaired", "repaired_late"]).to_numpy()
    rt = o["repair_t"].to_numpy(dtype=float)
    xs, ys = _bars(nt[fixed], rt[fixed], seq[fixed], seq[fixed])
    ax.plot(xs, ys, "-", color=c["repaired"], linewidth=0.8, alpha=0.7, gid="repairs")
    for name, marker in (("repaired", "o"), ("repaired_late", "o")):
        sel = (o["outcome"] == name).to_numpy()
        ax.plot(rt[sel], seq[sel], marker, markersize=6, markerfacecolor="none", color=c[name], gid=name,
                label=f"{name.replace('_', ' ')} ({int(sel.sum())})")
    sel = (o["outcome"] == "not_repaired").to_numpy()
    ax.plot(nt[sel], seq[sel], "X", markersize=8, color=c["not_repaired"], gid="not_repaired",
            label=f"never retransmitted ({int(sel.sum())})")
    u = unsolicited[(unsolicited["media_ssrc"] == ssrc) & unsolicited["ext_osn"].notna()] \
        if unsolicited is not None else None
    ut = u["t"].to_numpy(dtype=float) if u is not None else np.zeros(0)
    uy = u["ext_osn"].to_numpy(dtype=float) if u is not None else np.zeros(0)
    ax.plot(ut, uy, "+", markersize=7, color=c["unsolicited"], gid="unsolicited",
            label=f"unsolicited RTX ({len(ut)})")
    side = str(o["capture_side"].iloc[0]) if len(o) else "unknown"
    ax.set_xlabel("time since capture start (s)")
    ax.set_ylabel("extended sequence number")
    ax.set_title(title or f"NACK and retransmissions of SSRC {ssrc} (capture at the {side} side)"
                 if side != "unknown" else title or f"NACK and retransmissions of SSRC {ssrc}", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    fig.tight_layout()
    return fig


def repair_delay_hist(outcomes: pd.DataFrame, *, unit: str = "ms", bins: int = 30, title: str | None = None,
                      figsize: tuple[float, float] | None = None):
    """Histogram of repair delays (first NACK → retransmission) of the repaired packets of `nack.nack_outcomes`, one
    step histogram per media SSRC (on shared bins), with a dashed line at each one's median.  `unit="ms"` uses
    repair_delay_ms, `unit="rtt"` repair_delay_rtt (needs `rtt_ms` in `nack_outcomes`).  Repairs that came too
    late are counted too (the title says how many).  ax.patches: one histogram per SSRC; ax.lines: one median
    line per SSRC.  Returns the Figure."""
    if unit not in ("ms", "rtt"):
        raise ValueError(f'repair_delay_hist unit must be "ms" or "rtt", not {unit!r}')
    plt = _pyplot()

    col = "repair_delay_ms" if unit == "ms" else "repair_delay_rtt"
    done = outcomes[outcomes["outcome"].isin(["repaired", "repaired_late"])]
    done = done[np.isfinite(done[col].to_numpy(dtype=float))]
    fig, ax = plt.subplots(figsize=figsize or (8.0, 4.0))
    plt.close(fig)
    if not len(done):
        ax.text(0.5, 0.5, "no repaired NACKs", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    values = done[col].to_numpy(dtype=float)
    edges = np.histogram_bin_edges(values, bins=bins)
    for ssrc, rows in done.groupby("media_ssrc", sort=True):
        v = rows[col].to_numpy(dtype=float)
        med = float(np.median(v))
        _, _, patches = ax.hist(v, bins=edges, histtype="step", linewidth=1.5,
                                label=f"{int(ssrc)}: {len(v)} repairs, median {med:.3g}")
        ax.axvline(med, linestyle="--", linewidth=1, color=patches[0].get_edgecolor(), gid="median")
    late = int((done["outcome"] == "repaired_late").sum())
    ax.set_xlabel("repair delay after the first NACK (" + ("ms)" if unit == "ms" else "round-trip times)"))
    ax.set_ylabel("retransmissions")
    ax.legend(title="media SSRC", fontsize=8)
    ax.set_title(title or "NACK repair delay" + (f" ({late} too late)" if late else ""), fontsize=10)
    fig.tight_layout()
    return fig


def feedback_timeline(nacks: pd.DataFrame, keyframe_requests: pd.DataFrame | None = None, *,
                      window_s: float = 1.0, title: str | None = None, figsize: tuple[float, float] | None = None):
    """NACK and PLI/FIR feedback over time (`cap.nacks`, `cap.keyframe_requests`).

    Top axes: one row per media SSRC (the stream the feedback is about); each NACK packet is a purple tick, each
    PLI a red triangle, each FIR an orange diamond.  Bottom axes: NACKed sequence numbers per `window_s` window,
    one step line per media SSRC.  A burst of NACKs followed by a PLI is a receiver that gave up on
    retransmission.  Artists, for tests: top.lines holds per SSRC (in media_ssrc order) its "nack", "pli" and
    "fir" lines (gid), each present even when empty; bottom.lines one step line per SSRC.  The windows cover the
    bulk of the feedback's times (`time_bins`): far-off times are left out of the counts and named in the title.
    Returns the Figure."""
    plt = _pyplot()

    kfr = keyframe_requests if keyframe_requests is not None else None
    ssrcs = sorted(set(nacks["media_ssrc"].astype(np.int64).tolist())
                   | (set(kfr["media_ssrc"].astype(np.int64).tolist()) if kfr is not None else set()))
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=figsize or (10.0, 2.5 + 0.5 * max(len(ssrcs), 1)),
                                      gridspec_kw={"height_ratios": [max(len(ssrcs), 1), 2]})
    plt.close(fig)
    c = NACK_COLOURS
    all_t = np.concatenate([nacks["t"].to_numpy(dtype=float)]
                           + ([kfr["t"].to_numpy(dtype=float)] if kfr is not None else []))
    bins = time_bins(all_t, window_s)
    nack_inside = bins.inside[:len(nacks)]
    for row, s in enumerate(ssrcs):
        nk = nacks[nacks["media_ssrc"] == s]
        packets = nk.drop_duplicates(["frame", "index"])["t"].to_numpy(dtype=float)
        top.plot(packets, np.full(len(packets), row), "|", markersize=12, color=c["nacks"], gid="nack",
                 label="NACK" if row == 0 else None)
        for kind, marker in (("pli", "v"), ("fir", "D")):
            k = kfr[(kfr["media_ssrc"] == s) & (kfr["kind"] == kind)]["t"].to_numpy(dtype=float) \
                if kfr is not None else np.zeros(0)
            top.plot(k, np.full(len(k), row), marker, markersize=8, color=c[kind], gid=kind,
                     label=kind.upper() if row == 0 else None)
        b = bins.index(nk["t"].to_numpy(dtype=float)[nack_inside[(nacks["media_ssrc"] == s).to_numpy()]])
        counts = np.bincount(b, minlength=bins.n) if len(b) else np.zeros(bins.n)
        bottom.step(bins.edges(), counts, where="post", label=str(s))
    top.set_yticks(range(len(ssrcs)), [str(s) for s in ssrcs], fontsize=8)
    top.set_ylim(len(ssrcs) - 0.5, -0.5)
    top.set_ylabel("media SSRC")
    if ssrcs:
        top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        bottom.legend(title="media SSRC", loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    bottom.set_ylabel(f"NACKed numbers\nper {bins.window_s:g} s")
    bottom.set_xlabel("time since capture start (s)")
    n_kfr = 0 if kfr is None else len(kfr)
    top.set_title(title or f"RTCP feedback: {nacks.drop_duplicates(['frame', 'index']).shape[0]} NACK packets "
                  f"({len(nacks)} numbers), {n_kfr} keyframe requests" + bins.note("message"), fontsize=10)
    fig.tight_layout()
    return fig


def jitter_plot(packet_view_df: pd.DataFrame, ssrcs=None, *, title: str | None = None,
                figsize: tuple[float, float] | None = None):
    """RFC 3550 interarrival jitter over time, one line per stream, from `webrtcpcap.streams.packet_view` (its
    jitter_ms series; streams without a clock rate have none and are left out).  `ssrcs` picks streams (default:
    all).  ax.lines holds one line per stream drawn, labelled "ssrc/pt", in order of first packet.  Returns the
    Figure."""
    plt = _pyplot()


    df = packet_view_df if ssrcs is None else packet_view_df[packet_view_df["ssrc"].isin(list(ssrcs))]
    fig, ax = plt.subplots(figsize=figsize or (9.0, 4.0))
    plt.close(fig)
    drawn = 0
    for key, rows in df.groupby(STREAM_KEYS, observed=True, sort=False):
        if rows["jitter_ms"].isna().all():
            continue
        ax.plot(rows["t"].to_numpy(dtype=float), rows["jitter_ms"].to_numpy(dtype=float), lw=1,
                label=f"{key[4]}/{_pts(rows)}")
        drawn += 1
    if drawn:
        ax.legend(title="ssrc/pt", loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    ax.set_xlabel("time since capture start (s)")
    ax.set_ylabel("interarrival jitter (ms)")
    ax.set_title(title or "RTP interarrival jitter (RFC 3550 A.8)", fontsize=10)
    fig.tight_layout()
    return fig


def reported_loss_plot(rtp: pd.DataFrame, report_blocks: pd.DataFrame, ssrc: int, *, title: str | None = None,
                       figsize: tuple[float, float] | None = None):
    """For one stream: the cumulative number lost its receiver reported in RTCP (each report block about `ssrc`,
    a step line with a dot per report) beside the capture's own count at the same moments (the holes in the
    capture up to the highest sequence number each report names).  At the receiver the two lines lie on each other;
    a report above the capture's line means loss after the capture point.  ax.lines: [reported, captured].
    Returns the Figure."""
    plt = _pyplot()


    fig, ax = plt.subplots(figsize=figsize or (9.0, 4.0))
    plt.close(fig)
    blocks = report_blocks[report_blocks["source_ssrc"] == ssrc].sort_values(["t", "frame"], kind="stable")
    ok = rtp[(rtp["ssrc"] == ssrc) & (rtp["error"].isna() if "error" in rtp.columns else True)]
    captured = []
    if len(ok) and len(blocks):
        ext = extend_seq(ok["seq"].to_numpy())
        lo, hi_seen = int(ext.min()), int(ext.max())
        uniq = np.unique(ext)
        for hs in blocks["highest_seq"].to_numpy(dtype=np.int64).tolist():
            highest = hi_seen + int(_wrap(np.int64(hs - hi_seen), 16))
            captured.append(max(highest - lo + 1 - int(np.searchsorted(uniq, highest, side="right")), 0))
    t = blocks["t"].to_numpy(dtype=float)
    ax.step(t, blocks["cumulative_lost"].astype("float64").to_numpy(), where="post", marker="o", ms=3,
            label="reported in RTCP (cumulative lost)")
    ax.step(t, np.asarray(captured, dtype=float) if captured else np.full(len(t), np.nan), where="post",
            ls="--", label="missing in the capture")
    ax.set_xlabel("time of the report (s since capture start)")
    ax.set_ylabel("packets lost")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title or f"ssrc {ssrc}: receiver-reported vs captured loss", fontsize=10)
    fig.tight_layout()
    return fig


def twcc_plot(twcc: pd.DataFrame, *, title: str | None = None, figsize: tuple[float, float] | None = None):
    """Transport-wide congestion control feedback (cap.twcc), packet by packet in feedback order: the receive delta
    of each received packet (the time since the packet received before it, as the receiver reported it; bands show
    the sender's pacing, e.g. 20 ms for audio) and the packets reported as not received, as red crosses at 0.
    ax.collections: [received, not received].  Returns the Figure."""
    plt = _pyplot()

    fig, ax = plt.subplots(figsize=figsize or (9.0, 4.0))
    plt.close(fig)
    received = twcc[twcc["received"].astype(bool)] if len(twcc) else twcc
    missing = twcc[~twcc["received"].astype(bool)] if len(twcc) else twcc
    x = np.arange(len(twcc))
    ax.scatter(x[twcc["received"].to_numpy(dtype=bool)] if len(twcc) else [],
               received["delta_ms"].astype("float64").to_numpy() if len(received) else [], s=4,
               label="received (delta ms)")
    ax.scatter(x[~twcc["received"].to_numpy(dtype=bool)] if len(twcc) else [], np.zeros(len(missing)), s=14,
               marker="x", color="tab:red", label="not received")
    ax.set_xlabel("reported packet (in feedback order)")
    ax.set_ylabel("receive delta (ms)")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title or "transport-cc feedback: receive deltas", fontsize=10)
    fig.tight_layout()
    return fig


def bwe_plot(result, direction: tuple | None = None, *, title: str | None = None,
             figsize: tuple[float, float] | None = None):
    """Bandwidth estimation of one media direction (`webrtcpcap.bwe.analyse(cap)`; `direction` (src, sport, dst,
    dport), default the one with the most feedback) on one time axis, three panels:
    1. send rate, the rate the feedback acknowledged, and REMB/TMMBR when the receiver sent them (kbit/s, 1 s
       windows every 250 ms, `bwe.estimates`), lost packets as red ticks at the bottom;
    2. the one-way delay above the smallest, per packet (ms, `bwe.packets.queue_delay_ms`);
    3. the detector: modified trend and ± its adaptive threshold (ms, `bwe.delay_gradient`).
    Overuse episodes are shaded on every panel.  Returns the Figure (fig.axes: the three panels)."""
    plt = _pyplot()

    fig, axes = plt.subplots(3, 1, sharex=True, figsize=figsize or (9.0, 7.0),
                             gridspec_kw={"height_ratios": [2, 1.2, 1.2]})
    plt.close(fig)
    dirs = result.directions()
    if direction is None and dirs:
        direction = dirs[0]
    if direction is None:
        axes[0].set_title(title or f"bandwidth estimation: {result.not_judged or 'no congestion control feedback'}",
                          fontsize=10)
        return fig
    src, sport, dst, dport = (str(direction[0]), int(direction[1]), str(direction[2]), int(direction[3]))

    def mine(df):
        if not len(df):
            return df
        return df[(df["src"].astype(str) == src) & (df["sport"] == sport) & (df["dst"].astype(str) == dst)
                  & (df["dport"] == dport)]

    est = mine(result.estimates)
    total = est[est["ssrc"].isna()] if len(est) else est
    rate_ax, delay_ax, trend_ax = axes
    if len(total):
        x = total["time"].to_numpy(dtype=float)
        rate_ax.plot(x, total["send_bps"].to_numpy(dtype=float) / 1000, label="sent")
        acked = total["acked_bps"].to_numpy(dtype=float, na_value=np.nan) / 1000
        if np.isfinite(acked).any():
            rate_ax.plot(x, acked, label="acknowledged (transport-cc/CCFB)")
        for col, label in (("remb_bps", "REMB"), ("tmmbr_bps", "TMMBR")):
            v = total[col].to_numpy(dtype=float, na_value=np.nan) / 1000
            if np.isfinite(v).any():
                rate_ax.step(x, v, where="post", label=label)
    pk = mine(result.packets)
    if len(pk):
        lost = pk[~pk["received"].to_numpy(dtype=bool)]
        if len(lost):
            rate_ax.plot(lost["t"].to_numpy(dtype=float), np.zeros(len(lost)), "|", color="tab:red", markersize=12,
                         label=f"lost ({len(lost)})")
        ok = pk["queue_delay_ms"].notna().to_numpy()
        delay_ax.scatter(pk["t"].to_numpy(dtype=float)[ok], pk["queue_delay_ms"].to_numpy(dtype=float,
                         na_value=np.nan)[ok], s=2)
    g = mine(result.gradient)
    if len(g):
        x = g["send_time"].to_numpy(dtype=float)
        trend_ax.plot(x, g["modified_trend_ms"].to_numpy(dtype=float), lw=0.8, label="modified trend")
        thr = g["threshold_ms"].to_numpy(dtype=float)
        trend_ax.plot(x, thr, color="grey", lw=0.8, ls="--", label="± threshold")
        trend_ax.plot(x, -thr, color="grey", lw=0.8, ls="--")
    for e in mine(result.episodes).itertuples(index=False):
        for ax in axes:
            ax.axvspan(e.start, max(e.end, e.start + 0.05), color="tab:orange", alpha=0.25, lw=0)
    rate_ax.set_ylabel("kbit/s")
    delay_ax.set_ylabel("delay above min (ms)")
    trend_ax.set_ylabel("trend (ms)")
    trend_ax.set_xlabel("time since capture start (s); shaded: overuse")
    for ax in (rate_ax, trend_ax):
        if ax.lines:
            ax.legend(loc="upper right", fontsize=7)
    rate_ax.set_title(title or f"bandwidth estimation {src}:{sport} → {dst}:{dport}", fontsize=10)
    fig.tight_layout()
    return fig


def frame_interval_plot(rendered: pd.DataFrame, freezes_df: pd.DataFrame | None, ssrc: int, *,
                        title: str | None = None, figsize: tuple[float, float] | None = None):
    """One video stream's frames as a viewer got them (issue 20): the interval between consecutive rendered frames
    (ms, points, over the render time: `webrtcpcap.quality.rendered_frames` rows of `ssrc` with `rendered`), the
    frames per second in 1 s windows (step line, right axis), and each freeze of `freezes_df`
    (`webrtcpcap.quality.freezes`) shaded from its start to its end.  ax.lines: [fps]; ax.collections: [intervals];
    ax.patches: one per freeze.  Returns the Figure."""
    plt = _pyplot()

    fig, ax = plt.subplots(figsize=figsize or (9.0, 3.5))
    plt.close(fig)
    r = rendered[(rendered["ssrc"].astype("int64") == int(ssrc)) & rendered["rendered"].astype(bool)] \
        if len(rendered) else rendered
    t = r["render_t"].to_numpy(dtype=float) if len(r) else np.zeros(0)
    ax.scatter(t[1:], np.diff(t) * 1000, s=4, label="frame interval (ms)")
    fz = freezes_df[freezes_df["ssrc"].astype("int64") == int(ssrc)] if freezes_df is not None and len(freezes_df) \
        else None
    if fz is not None:
        for i, (a, b, cause) in enumerate(zip(fz["start"], fz["end"], fz["cause"].astype(str))):
            ax.axvspan(a, b, color="tab:red", alpha=0.25, label=f"freezes ({len(fz)})" if i == 0 else None)
    ax.set_xlabel("render time since capture start (s)")
    ax.set_ylabel("frame interval (ms)")
    fps_ax = ax.twinx()
    bins = time_bins(t, 1.0)
    if len(t):
        inside = t[bins.inside]
        fps = np.bincount(bins.index(inside), minlength=bins.n) / bins.window_s
        fps_ax.step(bins.edges(), fps, where="post", color="tab:green", label="frames per second")
    fps_ax.set_ylabel("frames per second")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title((title or f"video frames of SSRC {ssrc}") + bins.note("frame"), fontsize=10)
    fig.tight_layout()
    return fig
