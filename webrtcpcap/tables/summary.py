"""The short text summary behind `webrtcpcap summary`: frames per kind, the RTP streams, and the WebRTC-over-TCP
streams whose framing stopped.

Strategy: summaries are built from any number of (packets, rtp[, tcp_streams]) tables, so a capture too large for
memory is summarised chunk by chunk with the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import pandas as pd

from ..net.layers import endpoint as _endpoint
from .quic_tables import connection_line
from .stream_state import StreamState
from .streams import rtx_pairs, streams as stream_stats

STREAM_KEYS = ["src", "sport", "dst", "dport", "ssrc", "pt"]
TCP_PROBLEM_COLUMNS = ["src", "sport", "dst", "dport", "framing", "problem", "problem_frame"]


@dataclass
class Summary:
    """frames: total frame count; kinds: frames per kind (Series); streams: one row per RTP stream with columns
    src, sport, dst, dport, ssrc, pt, packets, first_t, last_t, and lost, jitter_ms and rtx_of (webrtcpcap.streams
    when the capture was summarised in one piece; in chunks, the same figures from state carried across chunks,
    webrtcpcap.tables.stream_state; on the row of the stream's main payload type, NaN on the rows of its other
    payload types; rtx_of is the SSRC an RTX stream retransmits, found from the RTP timestamps, and such a stream
    has no jitter: RFC 4588 keeps the original timestamps, so its "jitter" would measure repair delays); errors: frames per error message (Series);
    tcp_problems: one row per TCP direction that was framed as WebRTC (ICE-TCP, TURN over TCP) until its framing
    stopped, with columns src, sport, dst, dport, framing, problem, problem_frame (Capture.tcp_streams; other TCP,
    such as HTTPS, is not listed); quic: one line per QUIC connection ("QUIC v1 h3 to example.org (a:p > b:p)",
    webrtcpcap.tables.quic_tables.connection_line; only when the capture was summarised in one piece)."""

    frames: int
    kinds: pd.Series
    streams: pd.DataFrame
    errors: pd.Series
    tcp_problems: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=TCP_PROBLEM_COLUMNS))
    quic: list[str] = field(default_factory=list)


def summarize(tables: Iterable[tuple[pd.DataFrame, ...]]) -> Summary:
    """Combine (packets, rtp) or (packets, rtp, tcp_streams) tables, e.g. every chunk of iter_chunks, into one
    Summary.  A chunk's tcp_streams covers the capture up to that chunk's end, so the last one given is used.  A
    fourth item, a quic_connections table (Capture.quic_connections), names the QUIC connections.

    Memory: each item is let go once counted (give a generator, and a packets table is freed before the next
    item is made and before the loss of the last one is computed); streams are grouped on the categorical
    columns as they are, and only the groups' addresses become text.  From the second item on, loss and jitter
    are carried in a StreamState (a few numbers per stream), so chunks give the figures of a whole read."""
    frames = 0
    kinds: pd.Series | None = None
    errors: pd.Series | None = None
    parts = []
    pieces = 0
    whole_rtp = None
    state = StreamState()
    tcp_streams = None
    quic_lines: list[str] = []
    for item in tables:
        packets, rtp, *rest = item
        del item
        if rest:
            tcp_streams = rest[0]
        if len(rest) > 1:
            quic_lines = [connection_line(r) for r in rest[1].itertuples(index=False)]
        pieces += 1
        if pieces == 1:
            whole_rtp = rtp  # one piece: the whole-read statistics, unless another piece comes
        else:
            if whole_rtp is not None:
                state.update(whole_rtp)
                whole_rtp = None
            state.update(rtp)
        frames += len(packets)
        k = packets["kind"].value_counts(sort=False)
        kinds = k if kinds is None else kinds.add(k, fill_value=0)
        e = packets["error"].value_counts(sort=False)
        errors = e if errors is None else errors.add(e, fill_value=0)
        del packets  # the largest table: gone before the next chunk is read, or the loss is computed
        if len(rtp):
            # Grouped on the categorical addresses as they are: text for every row (astype(str)) cost tens of
            # bytes a packet; only the groups' addresses become text.
            g = rtp.groupby(STREAM_KEYS, observed=True, sort=False)
            part = g.agg(packets=("frame", "size"), first_t=("t", "min"), last_t=("t", "max")).reset_index()
            parts.append(part.assign(src=part["src"].astype(str), dst=part["dst"].astype(str)))
            del g
    if parts:
        streams = pd.concat(parts).astype({"src": object, "dst": object}).groupby(STREAM_KEYS, sort=False).agg(
            packets=("packets", "sum"), first_t=("first_t", "min"), last_t=("last_t", "max")).reset_index()
        streams = streams.sort_values(["first_t", "ssrc"], kind="stable").reset_index(drop=True)
        streams = _with_loss(streams, whole_rtp) if pieces == 1 else _with_state(streams, state)
    else:
        streams = pd.DataFrame(columns=STREAM_KEYS + ["packets", "first_t", "last_t", "lost", "jitter_ms", "rtx_of"])
    kinds = (kinds if kinds is not None else pd.Series(dtype="int64")).astype("int64")
    kinds = kinds[kinds > 0].sort_values(ascending=False, kind="stable")
    errors = (errors if errors is not None else pd.Series(dtype="int64")).astype("int64")
    errors = errors[errors > 0].sort_values(ascending=False, kind="stable")
    return Summary(frames, kinds, streams, errors, _stopped_framing(tcp_streams), quic_lines)


def _stopped_framing(tcp_streams: pd.DataFrame | None) -> pd.DataFrame:
    if tcp_streams is None or not len(tcp_streams):
        return pd.DataFrame(columns=TCP_PROBLEM_COLUMNS)
    stopped = tcp_streams[tcp_streams["framing"].notna() & tcp_streams["problem"].notna()]
    return stopped[TCP_PROBLEM_COLUMNS].sort_values("problem_frame", kind="stable").reset_index(drop=True)


def _with_loss(streams: pd.DataFrame, rtp: pd.DataFrame | None) -> pd.DataFrame:
    """Add lost and jitter_ms from webrtcpcap.streams (loss needs every packet of a stream at once)."""
    if rtp is None:
        return streams.assign(lost=float("nan"), jitter_ms=float("nan"), rtx_of=float("nan"))

    stats = stream_stats(rtp)
    pairs = rtx_pairs(stats, rtp=rtp, timestamps=True)
    rtx_of = dict(zip(pairs["rtx_ssrc"].astype("int64"), pairs["media_ssrc"].astype("int64")))
    stats = stats.assign(src=stats["src"].astype(str), dst=stats["dst"].astype(str),
                         rtx_of=stats["ssrc"].astype("int64").map(rtx_of).astype("float64"))
    stats.loc[stats["rtx_of"].notna(), "jitter_ms"] = float("nan")
    stats = stats[STREAM_KEYS + ["lost", "jitter_ms", "rtx_of"]]
    keyed = streams.astype({"sport": "int64", "dport": "int64", "ssrc": "int64", "pt": "int64"})
    stats = stats.astype({"sport": "int64", "dport": "int64", "ssrc": "int64", "pt": "int64"})
    return keyed.merge(stats, on=STREAM_KEYS, how="left")


def _with_state(streams: pd.DataFrame, state: StreamState) -> pd.DataFrame:
    """Add lost, jitter_ms and rtx_of from the state carried across chunks (what _with_loss gives a whole read)."""
    stats = state.table()
    stats.loc[stats["rtx_of"].notna(), "jitter_ms"] = float("nan")
    keyed = streams.astype({"sport": "int64", "dport": "int64", "ssrc": "int64", "pt": "int64"})
    return keyed.merge(stats[STREAM_KEYS + ["lost", "jitter_ms", "rtx_of"]], on=STREAM_KEYS, how="left")


def format_summary(path: str, s: Summary, problem: str | None = None) -> str:
    """The summary as plain text (what the CLI prints)."""
    lines = [f"{path}: {s.frames} frames"]
    if problem:
        lines.append(f"warning: {problem}")
    lines.append("")
    lines.append("frames per kind")
    width = max([len(str(k)) for k in s.kinds.index] + [4])
    for kind, count in s.kinds.items():
        lines.append(f"  {str(kind):<{width}}  {count:>9}")
    lines.append("")
    if len(s.streams):
        lines.append(f"RTP streams ({len(s.streams)})")
        header = (f"  {'source':<26} {'destination':<26} {'SSRC':<10} {'PT':>3} {'packets':>8} {'lost':>6} "
                  f"{'jitter ms':>9} {'seconds':>8}")
        lines.append(header)
        for r in s.streams.itertuples(index=False):
            a = _endpoint(r.src, r.sport)
            b = _endpoint(r.dst, r.dport)
            lost = "-" if pd.isna(r.lost) else f"{int(r.lost)}"
            jitter = "-" if pd.isna(r.jitter_ms) else f"{r.jitter_ms:.2f}"
            rtx = "" if pd.isna(r.rtx_of) else f"  rtx of {int(r.rtx_of)}"
            lines.append(f"  {a:<26} {b:<26} {int(r.ssrc):<10} {int(r.pt):>3} {int(r.packets):>8} {lost:>6} "
                         f"{jitter:>9} {r.last_t - r.first_t:>8.2f}{rtx}")
    else:
        lines.append("RTP streams: none")
    if len(s.tcp_problems):
        lines.append("")
        lines.append(f"TCP streams whose WebRTC framing stopped ({len(s.tcp_problems)})")
        for r in s.tcp_problems.itertuples(index=False):
            where = "" if pd.isna(r.problem_frame) else f"frame {int(r.problem_frame)}: "
            ends = f"{_endpoint(r.src, r.sport)} > {_endpoint(r.dst, r.dport)}"
            lines.append(f"  {ends}  {r.framing}  {where}{r.problem}")
    if s.quic:
        lines.append("")
        lines.append(f"QUIC connections ({len(s.quic)})")
        lines += [f"  {line}" for line in s.quic]
    if len(s.errors):
        lines.append("")
        lines.append("frames with decoding problems")
        for message, count in s.errors.items():
            lines.append(f"  {count:>9}  {message}")
    return "\n".join(lines)


