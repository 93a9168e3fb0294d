"""Plots of the analysis tables (matplotlib): what people look at.

Strategy: each function takes DataFrames from the analyses (`webrtcpcap.ice`, `webrtcpcap.streams`) and returns a
matplotlib Figure; no I/O, no decoding.  matplotlib is imported inside the functions, so `import webrtcpcap` stays
light, and figures are closed in pyplot before they are returned (the caller shows or saves them; Jupyter displays
a returned Figure once).
"""

from __future__ import annotations

import pandas as pd

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
    import matplotlib.pyplot as plt

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
            ep = f"[{src}]:{int(sport)}" if ":" in src else f"{src}:{int(sport)}"
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
        ax.set_yticks(range(len(shown)), [f"{t:.3f}" for t in rows_t], fontsize=7)
        ax.set_ylim(len(shown), -0.5)
        ax.set_ylabel("request sent at (s since capture start)")
    from matplotlib.lines import Line2D

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
    import matplotlib.pyplot as plt

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
    from matplotlib.lines import Line2D

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
    import matplotlib.pyplot as plt
    import numpy as np

    from .streams import extend_seq

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
    """Bit rate of each RTP stream (src, sport, dst, dport, ssrc, pt) in consecutive windows of `window_s` seconds
    from the capture start: payload_len bytes * 8 / window_s, in kbit/s, one step line per stream (labelled
    "ssrc/pt").  Rows with an error are left out.  ax.lines holds one line per stream, in order of first packet.
    Returns the Figure."""
    import matplotlib.pyplot as plt
    import numpy as np

    from .streams import STREAM_KEYS

    ok = rtp[rtp["error"].isna()] if "error" in rtp.columns else rtp
    fig, ax = plt.subplots(figsize=figsize or (9.0, 4.0))
    plt.close(fig)
    if len(ok):
        nbins = int(np.floor(ok["t"].max() / window_s)) + 1
        for key, rows in ok.groupby(STREAM_KEYS, observed=True, sort=False):
            b = np.floor(rows["t"].to_numpy(dtype=float) / window_s).astype(np.int64)
            kbps = np.bincount(b, weights=rows["payload_len"].to_numpy(dtype=float), minlength=nbins) * 8
            kbps = kbps / window_s / 1000
            edges = np.arange(nbins) * window_s
            ax.step(edges, kbps, where="post", label=f"{key[4]}/{key[5]}")
        ax.legend(title="ssrc/pt", loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    ax.set_xlabel("time since capture start (s)")
    ax.set_ylabel(f"kbit/s ({window_s:g} s windows)")
    ax.set_title(title or "RTP bit rate per stream", fontsize=10)
    fig.tight_layout()
    return fig


# Colours of dtls_ladder arrows: first transmissions by sender, retransmissions, alerts.
DTLS_COLOURS = {"client": "tab:blue", "server": "tab:green", "unknown": "tab:gray", "retransmission": "tab:orange",
                "alert": "tab:red"}


def dtls_ladder(flights_df: pd.DataFrame, association: int | None = None, ax=None, *, y: str = "order",
                title: str | None = None):
    """A ladder diagram of one DTLS handshake, from `webrtcpcap.handshake.flights`: returns the matplotlib Axes.

    Two lanes, client left and server right (labelled with their "ip:port").  Each flight transmission is one
    arrow from its sender's lane to the other, labelled "F<n> messages"; first transmissions are solid (blue from
    the client, green from the server), retransmissions dashed orange and labelled "retransmission k", alerts red
    with an ✕ at the head.  `association` picks one association (default: the first); `ax` draws into existing
    axes (otherwise a new figure is made and closed in pyplot, so it shows once when the Axes' `.figure` is
    displayed).  `y="order"` (default) gives each arrow its own row, labelled with its time (a handshake that takes
    18 ms next to a close_notify 12 s later stays readable); `y="time"` puts arrows at their time to scale, so the
    RFC 6347 retransmission back-off is visible.
    """
    if y not in ("time", "order"):
        raise ValueError(f'dtls_ladder y must be "time" or "order", not {y!r}')
    import matplotlib.pyplot as plt

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
        ax.text(0.5, (y0 + y1) / 2, label if len(label) <= 70 else label[:69] + "…", ha="center", va="center",
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
        ax.set_yticks(range(len(df)), [f"{t:.3f} s" for t in df["first_t"]], fontsize=7)
        ax.set_ylim(len(df), -0.5)
        ax.set_ylabel("sent at (s since capture start)")
    retx = int(df["retransmission"].sum())
    alerts = int(df["alert"].sum())
    heading = title or f"DTLS association {association}: {int((~df['alert']).sum())} flight transmissions" + \
        (f", {retx} retransmitted" if retx else "") + (f", {alerts} alert{'s' if alerts > 1 else ''}" if alerts else "")
    ax.set_title(heading, fontsize=10, pad=28)
    return ax
