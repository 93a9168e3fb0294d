"""What the endpoints themselves said about a call, as tables: W3C getStats reports (webrtc-stats; Chromium,
aiortc, a chrome://webrtc-internals dump) and the Janus admin API `handle_info`.

Strategy: JSON in, one typed DataFrame out, one row per stats object (getStats) or per Janus medium and direction;
the counters people compare with a capture get fixed snake_case columns, everything else is left out.  Input is
a path, JSON text or the parsed object.  A file that is not JSON, or JSON of another shape, raises DecodeError
("getStats report has no stats objects"); nothing else escapes.  No capture is read here (see webrtcpcap.compare).
"""

from __future__ import annotations

import json
import os
import re
import warnings

import numpy as np
import pandas as pd

from .errors import DecodeError

SOURCES = ["chromium getStats", "aiortc getStats", "browser getStats", "webrtc-internals", "janus handle_info",
           "firefox getStats"]


class StatsWarning(UserWarning):
    """Endpoint stats that load but look wrong for this capture (e.g. none of their SSRCs is in it)."""


# getStats member (webrtc-stats) -> column.  Jitter is seconds in the spec; aiortc gives RTP timestamp units.
_GETSTATS_MEMBERS = {
    "ssrc": "ssrc", "kind": "kind", "transportId": "transport_id", "codecId": "codec_id", "mid": "mid",
    "rtxSsrc": "rtx_ssrc", "remoteId": "remote_id", "localId": "local_id",
    "packetsReceived": "packets_received", "packetsSent": "packets_sent", "packetsLost": "packets_lost",
    "fractionLost": "fraction_lost", "jitter": "jitter", "nackCount": "nack_count", "pliCount": "pli_count",
    "firCount": "fir_count", "bytesReceived": "bytes_received", "bytesSent": "bytes_sent",
    "headerBytesReceived": "header_bytes_received", "headerBytesSent": "header_bytes_sent",
    "roundTripTime": "round_trip_time", "retransmittedPacketsSent": "retransmitted_packets_sent",
    "framesDecoded": "frames_decoded", "framesReceived": "frames_received", "framesDropped": "frames_dropped",
    "framesEncoded": "frames_encoded", "framesSent": "frames_sent", "keyFramesDecoded": "key_frames_decoded",
    "freezeCount": "freeze_count", "remoteTimestamp": "remote_timestamp",
    # candidate-pair
    "localCandidateId": "local_candidate_id", "remoteCandidateId": "remote_candidate_id",
    "currentRoundTripTime": "current_round_trip_time", "state": "state", "nominated": "nominated",
    # transport
    "dtlsState": "dtls_state", "iceState": "ice_state", "iceRole": "ice_role", "dtlsRole": "dtls_role",
    "selectedCandidatePairId": "selected_candidate_pair_id", "srtpCipher": "srtp_cipher",
    "dtlsCipher": "dtls_cipher", "tlsVersion": "tls_version",
}

GETSTATS_SCHEMA: dict[str, str] = {
    "source": "category", "node": "string", "timestamp": "datetime64[ns, UTC]", "type": "category", "id": "string",
    "ssrc": "UInt32", "kind": "category", "transport_id": "string", "codec_id": "string", "mid": "string",
    "rtx_ssrc": "UInt32", "remote_id": "string", "local_id": "string",
    "packets_received": "Int64", "packets_sent": "Int64", "packets_lost": "Int64", "fraction_lost": "Float64",
    "jitter": "Float64", "jitter_unit": "category", "jitter_ms": "Float64",
    "nack_count": "Int64", "pli_count": "Int64", "fir_count": "Int64", "bytes_received": "Int64",
    "bytes_sent": "Int64", "header_bytes_received": "Int64", "header_bytes_sent": "Int64",
    "round_trip_time": "Float64", "retransmitted_packets_sent": "Int64", "frames_decoded": "Int64",
    "frames_received": "Int64", "frames_dropped": "Int64", "frames_encoded": "Int64", "frames_sent": "Int64",
    "key_frames_decoded": "Int64", "freeze_count": "Int64", "remote_timestamp": "datetime64[ns, UTC]",
    "clock_rate": "Int64",
    "local_candidate_id": "string", "remote_candidate_id": "string", "local_address": "string",
    "local_port": "UInt16", "local_candidate_type": "category", "local_protocol": "category",
    "remote_address": "string", "remote_port": "UInt16", "remote_candidate_type": "category",
    "remote_protocol": "category", "current_round_trip_time": "Float64", "state": "category",
    "nominated": "boolean", "selected": "boolean",
    "dtls_state": "category", "ice_state": "category", "ice_role": "category", "dtls_role": "category",
    "selected_candidate_pair_id": "string", "srtp_cipher": "string", "dtls_cipher": "string",
    "tls_version": "string",
}

HANDLE_INFO_SCHEMA: dict[str, str] = {
    "source": "category", "node": "string", "session_id": "UInt64", "handle_id": "UInt64", "plugin": "string",
    "type": "category", "mindex": "Int64", "mid": "string", "kind": "category", "ssrc": "UInt32",
    "rtx_ssrc": "UInt32", "codec": "string", "clock_rate": "Int64", "packets": "Int64", "bytes": "Int64",
    "nacks": "Int64", "retransmissions": "Int64", "lost": "Int64", "jitter_ms": "Int64", "rtt_ms": "Int64",
    "link_quality": "Int64", "do_nacks": "boolean",
    "ice_state": "category", "selected_pair": "string", "selected_local": "string", "selected_remote": "string",
    "local_candidate_type": "category", "remote_candidate_type": "category", "transport": "category",
    "dtls_state": "category", "dtls_role": "category", "dtls_retransmissions": "Int64", "srtp_profile": "string",
    "dtls_valid": "boolean", "dtls_ready": "boolean",
}

_DEFAULT_RATES = {"audio": 48000, "video": 90000}  # WebRTC's usual Opus and video clocks (RFC 7587, RFC 7741)


def _read_json(src, what: str):
    """A parsed JSON value from a path, JSON text or an already parsed object."""
    if isinstance(src, (dict, list)):
        return src
    if isinstance(src, bytes):
        src = src.decode("utf-8", "replace")
    if isinstance(src, os.PathLike) or (isinstance(src, str) and not src.lstrip().startswith(("{", "["))):
        try:
            with open(src, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise DecodeError(f"{what} file cannot be read: {e.strerror or e}") from None
        except UnicodeDecodeError:
            raise DecodeError(f"{what} file is not UTF-8 text") from None
    elif isinstance(src, str):
        text = src
    else:
        raise DecodeError(f"{what} input is a {type(src).__name__}, not a path, JSON text or parsed JSON")
    try:
        return json.loads(text)
    except ValueError as e:
        raise DecodeError(f"{what} file is not valid JSON ({e})") from None


def _timestamp(value) -> pd.Timestamp | None:
    """getStats timestamps: ms since the Unix epoch (the spec, Chromium) or ISO text (aiortc, as the lab saves)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        if isinstance(value, (int, float)):
            return pd.Timestamp(float(value) * 1e6, unit="ns", tz="UTC") if 1e11 < value < 1e14 else None
        ts = pd.Timestamp(str(value))
        return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    except (ValueError, OverflowError):
        return None


def _is_stats(v) -> bool:
    return isinstance(v, dict) and isinstance(v.get("type"), str)


def _internals_members(obj: dict):
    """A chrome://webrtc-internals dump ({"PeerConnections": {pc: {"stats": {"<id>-<member>": {"statsType",
    "values" (a JSON list as text), "startTime", "endTime"}}}}}) as (pc, stats id, member, series, values) for each
    series with a type and at least one value."""
    pcs = obj.get("PeerConnections")
    for pc, conn in (pcs if isinstance(pcs, dict) else {}).items():
        stats = conn.get("stats") if isinstance(conn, dict) else None
        for key, series in (stats if isinstance(stats, dict) else {}).items():
            if not isinstance(series, dict) or "-" not in key:
                continue
            sid, member = key.rsplit("-", 1)
            values = series.get("values")
            try:
                values = json.loads(values) if isinstance(values, str) else values
            except ValueError:
                continue
            if isinstance(values, list) and values:
                yield str(pc), sid, member, series, values


def _internals_reports(obj: dict) -> dict[str, list[dict]]:
    """A webrtc-internals dump (_internals_members) as the last value of every member, one report per
    PeerConnection."""
    objects: dict[str, dict[str, dict]] = {}
    for pc, sid, member, series, values in _internals_members(obj):
        o = objects.setdefault(pc, {}).setdefault(sid, {"id": sid, "type": series.get("statsType")})
        o[member] = values[-1]
        if "endTime" in series and "timestamp" not in o:
            o["timestamp"] = series["endTime"]
    return {pc: [o for o in objs.values() if isinstance(o.get("type"), str)] for pc, objs in objects.items()}


def _reports(obj) -> tuple[dict[str, list[dict]], str | None]:
    """{node: [stats objects]} and the source when the shape alone says it."""
    if isinstance(obj, list):
        if obj and all(_is_stats(v) for v in obj):
            return {"": obj}, None
        raise DecodeError("getStats report is a list but not of stats objects (each needs a type)")
    if not isinstance(obj, dict):
        raise DecodeError(f"getStats report is a JSON {type(obj).__name__}, not an object")
    if "PeerConnections" in obj:
        reports = _internals_reports(obj)
        if not any(reports.values()):
            raise DecodeError("webrtc-internals dump has no stats series")
        return reports, "webrtc-internals"
    if obj and all(_is_stats(v) for v in obj.values()):
        return {"": list(obj.values())}, None
    nodes = {}
    for node, report in obj.items():
        if isinstance(report, dict) and report and all(_is_stats(v) for v in report.values()):
            nodes[str(node)] = list(report.values())
        elif isinstance(report, list) and report and all(_is_stats(v) for v in report):
            nodes[str(node)] = report
    if not nodes:
        if "janus" in obj or "info" in obj:
            raise DecodeError("getStats report looks like a Janus handle_info: use load_handle_info")
        raise DecodeError("getStats report has no stats objects (expected {id: {type, ...}}, per-node reports "
                          "{node: {id: {...}}}, a list of stats, or a webrtc-internals dump)")
    return nodes, None


# Stats ids are opaque by the spec, but each browser shapes them its own way, which is what tells them apart now
# that Firefox (>= 13x) also reports tlsVersion: Chromium "T01", "IT01V1234", "CPxxxx_yyyy", "CF<fingerprint>",
# "AP"; Firefox short lowercase hex ("3ec2873c") or a {uuid}, possibly behind a prefix ("mediasource_audio_0{...}").
_CHROMIUM_ID = re.compile(r"^(?:T\d+|[IO]T\d+[AV]\d+|C[PFIO]\S+|AP|P)$")
_FIREFOX_ID = re.compile(r"^(?:[0-9a-f]{1,8}|\w*\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\})$")


def _stack(objects: list[dict]) -> str:
    if any(isinstance(o.get("timestamp"), str) for o in objects) and not any(o.get("type") == "codec"
                                                                            for o in objects):
        return "aiortc getStats"  # aiortc's RTCStats timestamp is a datetime; the lab saves it as ISO text
    ids = [str(o.get("id", "")) for o in objects]
    if any(_CHROMIUM_ID.match(i) for i in ids):
        return "chromium getStats"
    if ids and sum(bool(_FIREFOX_ID.match(i)) for i in ids) * 2 > len(ids):
        return "firefox getStats"
    return "browser getStats"


def _int(v):
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)) and np.isfinite(v):
        return int(v)
    if isinstance(v, str) and re.fullmatch(r"-?\d+", v.strip()):
        return int(v)
    return None


def _float(v):
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v) if np.isfinite(v) else None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _typed(rows: list[dict], schema: dict[str, str]) -> pd.DataFrame:
    cols = {}
    for name, dtype in schema.items():
        values = [r.get(name) for r in rows]
        if dtype.startswith("datetime64"):
            cols[name] = pd.Series(pd.to_datetime([v if v is not None else pd.NaT for v in values], utc=True),
                                   dtype=dtype)
        elif dtype == "category":
            cols[name] = pd.Series(pd.Categorical([v if v is not None else None for v in values]))
        elif dtype == "string":
            cols[name] = pd.Series(pd.array([None if v is None else str(v) for v in values], dtype="string"))
        else:
            cols[name] = pd.Series(pd.array([pd.NA if v is None else v for v in values], dtype=dtype))
    return pd.DataFrame(cols)


def load_getstats(src, *, source: str | None = None) -> pd.DataFrame:
    """Endpoint getStats reports as one row per stats object (GETSTATS_SCHEMA).

    `src`: a path, JSON text or parsed JSON in one of these shapes: {id: stats} (a report as
    `Object.fromEntries(await pc.getStats())`), [stats, ...], {node: {id: stats}} (the lab's `.getstats.json`:
    one report per node), or a chrome://webrtc-internals dump (the last value of each member's time series, one
    node per PeerConnection; built from the dump format as documented by its importers, tested on a dump made
    from the lab's reports, not on one downloaded from Chromium).  `source` overrides the guess of which stack
    wrote it ("aiortc getStats" when timestamps are text, "chromium getStats" or "firefox getStats" when the
    ids have that browser's shape, else "browser getStats").

    Columns: source, node (the report's key; "" for a single report), timestamp (UTC), type, id, ssrc, kind,
    transport_id, codec_id, mid, rtx_ssrc, remote_id, local_id; counters: packets_received, packets_sent,
    packets_lost, fraction_lost, jitter (as the file gives it), jitter_unit ("s" per the spec; "rtp" for aiortc,
    which reports RTP timestamp units), jitter_ms (jitter in ms; for "rtp" units divided by clock_rate: the
    codec's clock, else 48000 audio / 90000 video), nack_count, pli_count, fir_count, bytes_received, bytes_sent,
    header_bytes_received, header_bytes_sent, round_trip_time (s), retransmitted_packets_sent, frames_decoded,
    frames_received, frames_dropped, frames_encoded, frames_sent, key_frames_decoded, freeze_count,
    remote_timestamp, clock_rate; candidate pairs: local_candidate_id, remote_candidate_id, local_address,
    local_port, local_candidate_type, local_protocol, remote_address, remote_port, remote_candidate_type,
    remote_protocol (from the candidates they name), current_round_trip_time (s), state, nominated, selected (the
    pair its transport names as selectedCandidatePairId); transports: dtls_state, ice_state, ice_role, dtls_role,
    selected_candidate_pair_id, srtp_cipher, dtls_cipher, tls_version (hex as Chromium gives it, e.g. "FEFD").
    Members a stack does not report are null.  Raises DecodeError for anything else."""
    obj = _read_json(src, "getStats")
    reports, shape_source = _reports(obj)
    rows = []
    for node, objects in reports.items():
        src_name = source or shape_source or _stack(objects)
        by_id = {str(o.get("id")): o for o in objects if o.get("id") is not None}
        selected = {o.get("selectedCandidatePairId") for o in objects if o.get("type") == "transport"}
        for o in objects:
            r = {"source": src_name, "node": node, "type": o.get("type"), "id": o.get("id"),
                 "timestamp": _timestamp(o.get("timestamp"))}
            for member, col in _GETSTATS_MEMBERS.items():
                if member in o:
                    r[col] = o[member]
            for col, dtype in GETSTATS_SCHEMA.items():
                v = r.get(col)
                if v is None:
                    continue
                if dtype in ("Int64", "UInt32", "UInt16"):
                    r[col] = _int(v)
                elif dtype == "Float64":
                    r[col] = _float(v)
                elif dtype == "boolean":
                    r[col] = v if isinstance(v, bool) else None
                elif dtype == "string" or dtype == "category":
                    r[col] = v if isinstance(v, (str, int, float)) and not isinstance(v, bool) else None
            if r.get("ssrc") is not None and not 0 <= r["ssrc"] < 2 ** 32:
                r["ssrc"] = None
            r["remote_timestamp"] = _timestamp(o.get("remoteTimestamp"))
            codec = by_id.get(str(o.get("codecId"))) if o.get("codecId") is not None else None
            rate = _int(codec.get("clockRate")) if codec else None
            r["clock_rate"] = rate
            if r.get("jitter") is not None:
                if src_name == "aiortc getStats":
                    r["jitter_unit"] = "rtp"
                    rate = rate or _DEFAULT_RATES.get(str(o.get("kind")))
                    r["jitter_ms"] = r["jitter"] * 1000.0 / rate if rate else None
                else:
                    r["jitter_unit"] = "s"
                    r["jitter_ms"] = r["jitter"] * 1000.0
            if o.get("type") == "candidate-pair":
                for side in ("local", "remote"):
                    c = by_id.get(str(o.get(f"{side}CandidateId")))
                    if isinstance(c, dict):
                        r[f"{side}_address"] = c.get("address") or c.get("ip")
                        r[f"{side}_port"] = _int(c.get("port"))
                        r[f"{side}_candidate_type"] = c.get("candidateType")
                        r[f"{side}_protocol"] = c.get("protocol")
                r["selected"] = o.get("id") in selected if selected - {None} else None
            rows.append(r)
    df = _typed(rows, GETSTATS_SCHEMA)
    df["source"] = df["source"].cat.set_categories(SOURCES)
    return df


SERIES_SCHEMA: dict[str, str] = {
    "source": "category", "node": "string", "timestamp": "datetime64[ns, UTC]", "type": "category", "id": "string",
    "ssrc": "UInt32", "kind": "category", "metric": "category", "value": "Float64",
}


def _series_samples(obj) -> tuple[dict[str, list[tuple[object, list[dict]]]], str | None]:
    """{node: [(sample time, [stats objects])]} and the source when the shape says it, for load_getstats_series."""
    if isinstance(obj, dict) and "PeerConnections" in obj:
        return _internals_series(obj), "webrtc-internals"
    if isinstance(obj, list):  # polled reports: [{id: stats} | [stats], ...]
        obj = {"": obj}
    if not isinstance(obj, dict):
        raise DecodeError(f"getStats series is a JSON {type(obj).__name__}, not an object or a list")
    nodes = {}
    for node, samples in obj.items():
        if not isinstance(samples, list):
            continue  # e.g. the lab's "interval_ms"
        out = []
        for sample in samples:
            when, stats = None, sample
            if isinstance(sample, dict) and isinstance(sample.get("stats"), (list, dict)):
                when, stats = sample.get("unix"), sample["stats"]
                when = when * 1000.0 if isinstance(when, (int, float)) and not isinstance(when, bool) else None
            objects = list(stats.values()) if isinstance(stats, dict) else stats if isinstance(stats, list) else []
            objects = [o for o in objects if _is_stats(o)]
            if objects:
                out.append((when, objects))
        if out:
            nodes[str(node)] = out
    if not nodes:
        raise DecodeError("getStats series has no samples (expected {node: [{unix, stats: [...]}, ...]}, a list of "
                          "reports, or a webrtc-internals dump)")
    return nodes, None


def _internals_series(obj: dict) -> dict[str, list[tuple[object, list[dict]]]]:
    """A chrome://webrtc-internals dump's every sample: each member's values spread evenly from its startTime to its
    endTime (the dump keeps no per-value time), regrouped as one stats object per id and sample index."""
    samples: dict[str, dict[object, dict[str, dict]]] = {}
    for pc, sid, member, series, values in _internals_members(obj):
        start, end = _timestamp(series.get("startTime")), _timestamp(series.get("endTime"))
        if start is None or end is None or not isinstance(series.get("statsType"), str):
            continue
        step = (end - start) / (len(values) - 1) if len(values) > 1 else pd.Timedelta(0)
        for i, v in enumerate(values):
            when = (start + step * i).value / 1e6  # ms since the epoch, as getStats gives it
            o = samples.setdefault(pc, {}).setdefault(round(when), {}).setdefault(
                sid, {"id": sid, "type": series["statsType"]})
            o[member] = v
    return {pc: [(when, list(objs.values())) for when, objs in sorted(by_time.items())]
            for pc, by_time in samples.items() if by_time}


def load_getstats_series(src, *, source: str | None = None) -> pd.DataFrame:
    """getStats sampled over a call, long: one row per sample, stats object and numeric member (SERIES_SCHEMA).

    `src`: a path, JSON text or parsed JSON: the lab's `.stats-series.json` ({"interval_ms": n, node: [{"unix":
    seconds, "stats": [stats, ...]}, ...]}), a list of polled reports ([{id: stats} or [stats], ...]), or a
    chrome://webrtc-internals dump (every value of every series; the dump keeps only a series' start and end time, so
    its samples are spread evenly between them).  `source` as in load_getstats (else guessed per node).

    Columns: source, node, timestamp (UTC: the stats object's own timestamp, else the sample's time), type, id, ssrc
    and kind (of the stats object, when it has them), metric (the webrtc-stats member name as the browser wrote it,
    e.g. "framesReceived", "availableOutgoingBitrate", "concealedSamples"), value (Float64).  Text and boolean
    members are left out; counters stay cumulative as getStats gives them (diff them per id for rates).  Raises
    DecodeError for anything else."""
    nodes, shape_source = _series_samples(_read_json(src, "getStats series"))
    cols: dict[str, list] = {k: [] for k in SERIES_SCHEMA}
    for node, samples in nodes.items():
        src_name = source or shape_source or _stack([o for _, objs in samples[:3] for o in objs])
        for when, objects in samples:
            for o in objects:
                t = _timestamp(o.get("timestamp")) or _timestamp(when)
                ssrc = _int(o.get("ssrc"))
                ssrc = ssrc if ssrc is not None and 0 <= ssrc < 2 ** 32 else None
                kind = o.get("kind") if isinstance(o.get("kind"), str) else None
                for member, v in o.items():
                    if member in ("timestamp", "ssrc") or isinstance(v, bool) or not isinstance(v, (int, float)):
                        continue
                    cols["source"].append(src_name)
                    cols["node"].append(node)
                    cols["timestamp"].append(t)
                    cols["type"].append(o["type"])
                    cols["id"].append(None if o.get("id") is None else str(o.get("id")))
                    cols["ssrc"].append(ssrc)
                    cols["kind"].append(kind)
                    cols["metric"].append(member)
                    cols["value"].append(_float(v) if abs(v) < 1e300 else None)  # JSON ints can exceed a float
    df = pd.DataFrame({
        "source": pd.Categorical(cols["source"], categories=SOURCES),
        "node": pd.array(cols["node"], dtype="string"),
        "timestamp": pd.Series(pd.to_datetime([pd.NaT if t is None else t for t in cols["timestamp"]], utc=True),
                               dtype="datetime64[ns, UTC]"),
        "type": pd.Categorical(cols["type"]),
        "id": pd.array(cols["id"], dtype="string"),
        "ssrc": pd.array([pd.NA if v is None else v for v in cols["ssrc"]], dtype="UInt32"),
        "kind": pd.Categorical(cols["kind"]),
        "metric": pd.Categorical(cols["metric"]),
        "value": pd.array([pd.NA if v is None else v for v in cols["value"]], dtype="Float64"),
    })
    return df


_PAIR_RE = re.compile(r"^\s*(\S+?):(\d+)\s*\[(\w+),(\w+)\]\s*<->\s*(\S+?):(\d+)\s*\[(\w+),(\w+)\]\s*$")


def _janus_info(obj) -> dict:
    if not isinstance(obj, dict):
        raise DecodeError(f"Janus handle_info is a JSON {type(obj).__name__}, not an object")
    if obj.get("janus") == "error":
        raise DecodeError(f"Janus handle_info is an error response: {str(obj.get('error'))[:120]}")
    info = obj.get("info", obj)
    if not isinstance(info, dict) or not ("webrtc" in info or "streams" in info or "handle_id" in info):
        raise DecodeError("Janus handle_info has no info object (expected the admin API's handle_info response)")
    if "streams" in info and "webrtc" not in info:
        raise DecodeError("Janus handle_info is in the Janus 0.x shape (streams/components), which is not "
                          "supported: give the handle_info of Janus 1.x")
    return info


def load_handle_info(src) -> pd.DataFrame:
    """A Janus (1.x) admin API `handle_info` response as a table (HANDLE_INFO_SCHEMA): one "connection" row
    (ICE and DTLS) and, per medium of info.webrtc.media, an "inbound" row (what Janus received: the peer's SSRC)
    and an "outbound" row (what Janus sent: its own SSRC).

    `src`: a path, JSON text or parsed JSON: the whole response ({"janus": "success", "info": {...}}) or its info.
    Columns: source ("janus handle_info"), node (the handle id), session_id, handle_id, plugin, type
    (connection/inbound/outbound), mindex, mid, kind, ssrc, rtx_ssrc, codec, clock_rate (rtcp "base"), packets
    and bytes (stats in/out: RTP packets incl. retransmissions), nacks (in: sequence numbers the peer NACKed, that
    is retransmissions the peer asked Janus for; out: sequence numbers Janus NACKed), retransmissions (in: the
    retransmissions Janus received), lost (inbound: Janus' own RFC 3550 count; outbound: "lost-by-remote", the
    peer's report), jitter_ms (jitter-local / jitter-remote: Janus floors them to whole ms), rtt_ms (0 when Janus
    has no measurement), link_quality (in-/out-link-quality, %), do_nacks; on the connection row: ice_state,
    selected_pair (Janus' text), selected_local, selected_remote ("ip:port", Janus' side first),
    local_candidate_type, remote_candidate_type, transport, dtls_state, dtls_role ("active" = DTLS client),
    dtls_retransmissions, srtp_profile, dtls_valid, dtls_ready.  Raises DecodeError for anything else."""
    obj = _read_json(src, "Janus handle_info")
    info = _janus_info(obj)
    webrtc = info.get("webrtc") if isinstance(info.get("webrtc"), dict) else {}
    base = {"source": "janus handle_info", "node": str(info.get("handle_id", obj.get("handle_id", ""))),
            "session_id": _int(info.get("session_id")), "handle_id": _int(info.get("handle_id")),
            "plugin": info.get("plugin")}
    ice = webrtc.get("ice") if isinstance(webrtc.get("ice"), dict) else {}
    dtls = webrtc.get("dtls") if isinstance(webrtc.get("dtls"), dict) else {}
    conn = dict(base, type="connection", ice_state=ice.get("state"), selected_pair=ice.get("selected-pair"),
                dtls_state=dtls.get("dtls-state"), dtls_role=dtls.get("dtls-role"),
                dtls_retransmissions=_int(dtls.get("retransmissions")), srtp_profile=dtls.get("srtp-profile"),
                dtls_valid=dtls.get("valid") if isinstance(dtls.get("valid"), bool) else None,
                dtls_ready=dtls.get("ready") if isinstance(dtls.get("ready"), bool) else None)
    m = _PAIR_RE.match(str(ice.get("selected-pair") or ""))
    if m:
        conn.update(selected_local=f"{m[1]}:{m[2]}", local_candidate_type=m[3], transport=m[4],
                    selected_remote=f"{m[5]}:{m[6]}", remote_candidate_type=m[7])
    rows = [conn]
    media = webrtc.get("media") if isinstance(webrtc.get("media"), dict) else {}
    for key, medium in media.items():
        if not isinstance(medium, dict):
            continue
        ssrc = medium.get("ssrc") if isinstance(medium.get("ssrc"), dict) else {}
        rtcp = (medium.get("rtcp") or {}).get("main") if isinstance(medium.get("rtcp"), dict) else None
        rtcp = rtcp if isinstance(rtcp, dict) else {}
        stats = medium.get("stats") if isinstance(medium.get("stats"), dict) else {}
        codecs = medium.get("codecs") if isinstance(medium.get("codecs"), dict) else {}
        common = dict(base, mindex=_int(medium.get("mindex", key)), mid=medium.get("mid"), kind=medium.get("type"),
                      codec=codecs.get("codec"), clock_rate=_int(rtcp.get("base")), rtt_ms=_int(rtcp.get("rtt")),
                      do_nacks=medium.get("do_nacks") if isinstance(medium.get("do_nacks"), bool) else None)
        for direction, ssrc_key, rtx_key, lost_key, jitter_key, quality_key in (
                ("in", "ssrc-peer", "ssrc-peer-rtx", "lost", "jitter-local", "in-link-quality"),
                ("out", "ssrc", "ssrc-rtx", "lost-by-remote", "jitter-remote", "out-link-quality")):
            s = stats.get(direction) if isinstance(stats.get(direction), dict) else {}
            rows.append(dict(common, type="inbound" if direction == "in" else "outbound",
                             ssrc=_int(ssrc.get(ssrc_key)), rtx_ssrc=_int(ssrc.get(rtx_key)),
                             packets=_int(s.get("packets")), bytes=_int(s.get("bytes")), nacks=_int(s.get("nacks")),
                             retransmissions=_int(s.get("retransmissions")), lost=_int(rtcp.get(lost_key)),
                             jitter_ms=_int(rtcp.get(jitter_key)), link_quality=_int(rtcp.get(quality_key))))
    if not media:
        warnings.warn(StatsWarning("Janus handle_info has no media (info.webrtc.media): only ICE/DTLS state"),
                      stacklevel=2)
    for r in rows:
        for col in ("ssrc", "rtx_ssrc"):
            if r.get(col) is not None and not 0 <= r[col] < 2 ** 32:
                r[col] = None
    df = _typed(rows, HANDLE_INFO_SCHEMA)
    df["source"] = df["source"].cat.set_categories(SOURCES)
    return df
