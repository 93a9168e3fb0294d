#!/usr/bin/env python3
"""Record the bandwidth-estimation and freeze sessions of issue 20 into captures/bwe/ (run as root).

    bwe_record.py list                 the scenarios (healthy, bwe_drop, freeze; held out: bwe_netem, freeze3s,
                                       healthy2)
    bwe_record.py all                  record all six into captures/bwe/
    bwe_record.py dev | heldout        record the three developed against, or the three held out
    bwe_record.py NAME [NAME...]       record some of them
    bwe_record.py facts [NAME...]      recompute the timeline and ground_truth_over_time sections of recorded
                                       sessions' .meta.json from their .stats-series.json (no recording)

The recording itself is record.py's (namespaces, page servers, browsers, tcpdump, nft, sidecars); the scenarios
add a tbf bandwidth limit that is changed mid-call, an outage window, getStats sampled every 250 ms by both browsers
(<name>.stats-series.json) and a second capture at the other end. This script then writes the ground truth as facts
into the .meta.json: when (wall time and seconds from the capture's first frame) the call connected and the limit or
outage began and ended, which SSRCs each side sent, and what each browser's own counters did around those times
(when the estimate fell below the limit and came back, when freezeCount moved and by how much, how much audio was
concealed). See captures/README.md, section "Bandwidth estimation and freezes".
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import struct
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True

import record  # noqa: E402
from netlab import preflight  # noqa: E402
from scenarios import BWE_HELD_OUT, BWE_SCENARIOS, MATCHES, Scenario  # noqa: E402

OUT = HERE.parent / "bwe"
ALL = {**BWE_SCENARIOS, **BWE_HELD_OUT}
GROUPS = {"all": list(ALL), "dev": list(BWE_SCENARIOS), "heldout": list(BWE_HELD_OUT)}
# What an outage's nft match takes, in the facts' words (scenarios.MATCHES has the rules).
OUTAGE_WHAT = {"udp": "every UDP datagram", "firefox-video-rtp": "every video RTP packet (media, RED, FEC, RTX: "
               "every RTP payload type but Firefox's audio ones)"}
assert set(OUTAGE_WHAT) <= set(MATCHES)
RECOVERED = 0.8  # "recovered": the estimate is back to this share of its median before the limit


# -- reading what was recorded -----------------------------------------------------------------------------------
def first_frame_unix(pcap: Path) -> float | None:
    """The time of the first record of a classic pcap file (tcpdump's), from its header; None if there is none."""
    with open(pcap, "rb") as f:
        head = f.read(24 + 16)
    if len(head) < 40:
        return None
    magic = head[:4]
    order = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">", b"\x4d\x3c\xb2\xa1": "<",
             b"\xa1\xb2\x3c\x4d": ">"}.get(magic)
    if order is None:
        return None
    scale = 1e-9 if magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d") else 1e-6
    sec, frac = struct.unpack(order + "II", head[24:32])
    return sec + frac * scale


def samples_of(series: dict, node: str) -> list[dict]:
    return sorted(series.get(node, []), key=lambda s: s["unix"])


def stat(sample: dict, type_: str, **match) -> dict | None:
    for row in sample["stats"]:
        if row["type"] == type_ and all(row.get(k) == v for k, v in match.items()):
            return row
    return None


def value_at(samples: list[dict], unix: float, type_: str, key: str, **match):
    """The last sampled value of `key` taken at or before `unix` (None before the first sample that has it)."""
    found = None
    for s in samples:
        if s["unix"] > unix:
            break
        row = stat(s, type_, **match)
        if row is not None and key in row:
            found = row[key]
    return found


def send_rate_bps(samples: list[dict], t0: float, t1: float) -> float | None:
    """Bits per second that all outbound-rtp streams of a node sent between t0 and t1 (bytesSent, payload only)."""
    def total(s):
        return sum(r.get("bytesSent", 0) for r in s["stats"] if r["type"] == "outbound-rtp")
    inside = [s for s in samples if t0 <= s["unix"] <= t1]
    if len(inside) < 2 or inside[-1]["unix"] <= inside[0]["unix"]:
        return None
    return 8 * (total(inside[-1]) - total(inside[0])) / (inside[-1]["unix"] - inside[0]["unix"])


def estimate_series(samples: list[dict]) -> list[tuple[float, float]]:
    """(unix, availableOutgoingBitrate) of the selected candidate pair, where the browser gives one (Chromium)."""
    out = []
    for s in samples:
        row = stat(s, "candidate-pair")
        if row is not None and row.get("availableOutgoingBitrate") is not None:
            out.append((s["unix"], float(row["availableOutgoingBitrate"])))
    return out


# -- the facts ---------------------------------------------------------------------------------------------------
def ssrcs(meta: dict) -> dict:
    """Per node, the SSRCs it sent and received (its final getStats), by kind."""
    out = {}
    for node, gt in meta["ground_truth"].items():
        sent = {r["kind"]: {"ssrc": r["ssrc"], **({"rtx_ssrc": r["rtxSsrc"]} if r.get("rtxSsrc") else {})}
                for r in gt.get("rtp", []) if r["type"] == "outbound-rtp"}
        received = {r["kind"]: {"ssrc": r["ssrc"], **({"rtx_ssrc": r["rtxSsrc"]} if r.get("rtxSsrc") else {})}
                    for r in gt.get("rtp", []) if r["type"] == "inbound-rtp"}
        out[node] = {"sent": sent, "received": received}
    return out


def inbound_changes(samples: list[dict], kind: str, keys: tuple[str, ...], t0: float) -> list[dict]:
    """Every sample where one of `keys` of the inbound-rtp stream of `kind` changed from the sample before: when
    (capture seconds) and the values before and after."""
    out, prev = [], None
    for s in samples:
        row = stat(s, "inbound-rtp", kind=kind)
        if row is None:
            continue
        now = {k: row.get(k) for k in keys}
        if prev is not None and now != prev:
            out.append({"capture_s": round(s["unix"] - t0, 3), "unix": round(s["unix"], 3), "before": prev,
                        "after": now})
        prev = now
    return out


def window_counts(samples: list[dict], kind: str, keys: tuple[str, ...], t_from: float, t_to: float) -> dict:
    """How much each counter of the inbound `kind` stream grew between two times (sampled values)."""
    out = {}
    for k in keys:
        a, b = value_at(samples, t_from, "inbound-rtp", k, kind=kind), value_at(samples, t_to, "inbound-rtp", k,
                                                                                    kind=kind)
        out[k] = None if a is None or b is None else round(b - a, 6)
    return out


FREEZE_KEYS = ("freezeCount", "totalFreezesDuration")
AUDIO_KEYS = ("concealedSamples", "silentConcealedSamples", "concealmentEvents", "totalSamplesReceived",
              "packetsLost", "packetsReceived")
VIDEO_KEYS = ("framesReceived", "framesDecoded", "freezeCount", "totalFreezesDuration", "packetsLost",
              "packetsReceived", "nackCount", "pliCount")


def facts(meta: dict, series: dict, pcap: Path) -> dict:
    """The timeline and the ground truth over time for one session: plain facts from the lab and the browsers."""
    t0 = first_frame_unix(pcap)
    rel = (lambda u: None if u is None or t0 is None else round(u - t0, 6))
    gt = meta["ground_truth"]
    timeline = {"capture_first_frame_unix": t0}
    for side in meta.get("sidecars", {}).values():  # the other captures: their own zero, and where it lies
        if side.get("node") and side["file"].endswith(".pcap") and (pcap.parent / side["file"]).exists():
            other = first_frame_unix(pcap.parent / side["file"])
            timeline[f"capture_{side['node']}_first_frame_unix"] = other
            timeline[f"capture_{side['node']}_first_frame_capture_s"] = rel(other)
    for node in ("a", "b"):
        u = gt.get(node, {}).get("connected_at_unix")
        timeline[f"{node}_connected"] = {"unix": u, "capture_s": rel(u)}
    limit = (meta.get("bandwidth_limit") or {}).get("unix")
    outage = meta["loss"].get("outage_unix")
    window = None
    if limit:
        for step in ("applied", "lifted"):
            before, after = limit[step]
            timeline[f"limit_{step}"] = {"unix": [before, after], "capture_s": [rel(before), rel(after)],
                                         "what": "wall time just before and just after `tc qdisc change`"
                                                 if (meta["bandwidth_limit"].get("shaper") or "tbf") == "tbf" else
                                                 "wall time just before and just after `tc class change`"}
        window = (limit["applied"][1], limit["lifted"][0])
    if outage:
        timeline["outage"] = {"unix": outage, "capture_s": [rel(outage[0]), rel(outage[1])],
                              "what": f"nft meta time window: {outage_what(meta)} a sent in it was dropped at "
                                      "a's egress (exact: the rule compares the kernel's clock with these seconds)"}
        window = tuple(outage)
    a, b = samples_of(series, "a"), samples_of(series, "b")
    out = {"timeline": timeline, "ssrcs": ssrcs(meta)}
    truth: dict = {"source": "the browsers' own getStats, sampled every "
                             f"{series.get('interval_ms')} ms (<name>.stats-series.json); times in seconds from "
                             "the capture's first frame"}
    for node, samples in (("a", a), ("b", b)):
        if not samples:
            continue
        end = samples[-1]["unix"]
        per = {"samples": len(samples), "first_capture_s": rel(samples[0]["unix"]), "last_capture_s": rel(end),
               "at_end": {}}
        for kind, keys in (("video", VIDEO_KEYS), ("audio", AUDIO_KEYS)):
            per["at_end"][f"inbound_{kind}"] = {k: value_at(samples, end, "inbound-rtp", k, kind=kind) for k in keys}
        per["freeze_count_changes"] = inbound_changes(samples, "video", FREEZE_KEYS, t0 or 0)
        if window and meta["parameters"]["name"] in BWE_HELD_OUT:
            # The healthy parts should be healthy: a freeze counted outside the window (and its 3 s tail) is the
            # browser's own start-up or the machine's load (a stalled sender: both directions freeze together).
            per["freeze_count_changes_outside_window"] = [
                ch for ch in per["freeze_count_changes"] if not window[0] <= ch["unix"] <= window[1] + 3]
        if window:
            # Counters grow after the window too (a freeze is counted when the next frame is rendered; concealment
            # goes on until the jitter buffer refills): the "window" span runs to 3 s after its end.
            span = (window[0], window[1] + 3)
            per["during_window_plus_3s"] = {
                "from_capture_s": rel(span[0]), "to_capture_s": rel(span[1]),
                "inbound_video": window_counts(samples, "video", VIDEO_KEYS, *span),
                "inbound_audio": window_counts(samples, "audio", AUDIO_KEYS, *span)}
        est = estimate_series(samples)
        if est:
            # Only the limited direction's sender is held to the limit (with two Chromiums both have an estimate).
            per["estimate"] = estimate_facts(est, samples, window if node in limited_sender(meta) else None, meta,
                                             rel)
        truth[node] = per
    out["ground_truth_over_time"] = truth
    out["facts"] = statements(meta, out)
    return out


def outage_what(meta: dict) -> str:
    return OUTAGE_WHAT[(meta["parameters"].get("outage") or {}).get("match", "udp")]


def limited_sender(meta: dict) -> set[str]:
    """The node whose sending the bandwidth limit shapes (every node when there is no limit, only an outage)."""
    limit = meta.get("bandwidth_limit")
    if not limit:
        return {"a", "b"}
    return {limit["limited_direction"].split("->")[0]}


def node_names(meta: dict) -> dict[str, str]:
    """"a (Firefox)", "b (Chromium)": the node and its browser, from its role in the ground truth."""
    out = {}
    for node, gt in meta["ground_truth"].items():
        m = re.search(r"\(([^)]*)\)", gt.get("role", ""))
        out[node] = f"{node} ({m[1].replace(' ESR', '')})" if m else node
    return out


def statements(meta: dict, out: dict) -> list[str]:
    """The ground truth in sentences, from the numbers above (what an analysis of the capture should find)."""
    says = []
    names = node_names(meta)
    other = {"a": "b", "b": "a"}
    for node, per in out["ground_truth_over_time"].items():
        if not isinstance(per, dict):
            continue
        video = out["ssrcs"][node]["received"].get("video", {})
        for ch in per["freeze_count_changes"]:
            says.append(f"{names[node]} counted a freeze of the video it received from {other[node]} (SSRC "
                        f"{video.get('ssrc')}) at {ch['capture_s']:.3f} s: freezeCount {ch['before']['freezeCount']}"
                        f" -> {ch['after']['freezeCount']}, totalFreezesDuration {ch['before']['totalFreezesDuration']}"
                        f" -> {ch['after']['totalFreezesDuration']} s")
        if not per["freeze_count_changes"]:
            says.append(f"{names[node]} counted no freeze of the video it received (SSRC {video.get('ssrc')})")
        outside = per.get("freeze_count_changes_outside_window")
        if outside:
            connected = out["timeline"][f"{node}_connected"]["capture_s"]
            says.append(f"{len(outside)} of {names[node]}'s freezes were counted outside the window (and its 3 s "
                        f"tail), at " + ", ".join(f"{ch['capture_s']:.3f} s" for ch in outside)
                        + f" ({node} connected at {connected:.3f} s): not the network's doing (see the load average)")
        e = per.get("estimate")
        if e and e.get("first_below_limit"):
            f = e["first_below_limit"]
            says.append(f"{names[node]}'s estimate (availableOutgoingBitrate) fell below the limit "
                        f"{f['seconds_after_limit']:.2f} s after it was applied (at {f['capture_s']:.3f} s, "
                        f"{f['bps']:.0f} bit/s; median {e['median_bps_5s_before']:.0f} bit/s in the 5 s before), "
                        f"lowest {e['min_during']['bps']:.0f} bit/s at {e['min_during']['capture_s']:.3f} s")
        if e and meta.get("bandwidth_limit") and e.get("first_back_to_send_rate_before"):
            f = e["first_back_to_send_rate_before"]
            says.append(f"{names[node]}'s estimate was back at its send rate of before the limit "
                        f"({e['send_rate_bps_5s_before']:.0f} bit/s) {f['seconds_after_end']:.2f} s after the limit "
                        f"was lifted (at {f['capture_s']:.3f} s)")
        if e and "min_bps_after_first_5s" in e:
            says.append(f"{names[node]}'s estimate never fell below {e['min_bps_after_first_5s']:.0f} bit/s after its "
                        f"first 5 s; it sent {e['send_rate_bps_whole_call']:.0f} bit/s on average")
    tl = out["timeline"]
    if "outage" in tl:
        counter = next((r["packets"] for r in meta["loss"]["counters"] if "meta time" in r["rule"]), None)
        a_sent = out["ssrcs"]["a"]["sent"]
        if "video" in (meta["parameters"].get("outage") or {}).get("match", ""):
            a_sent = {k: v for k, v in a_sent.items() if k == "video"}
        says.append(f"{outage_what(meta)} a sent from {tl['outage']['capture_s'][0]:.3f} s to "
                    f"{tl['outage']['capture_s'][1]:.3f} s was dropped before b ({counter} datagrams, nft counter): "
                    f"a gap on a's SSRCs " + ", ".join(f"{k} {v['ssrc']}" for k, v in a_sent.items()))
    if "limit_applied" in tl:
        bl = meta["bandwidth_limit"]
        src, dst = bl["limited_direction"].split("->")
        shaper = bl.get("shaper", "tbf")
        spec = bl["limit_tbf"] if shaper == "tbf" else bl["description"]
        says.append(f"everything {src} sent to {dst} was limited to {bl['rate_kbit']} kbit/s ({spec}) from "
                    f"{tl['limit_applied']['capture_s'][1]:.3f} s to {tl['limit_lifted']['capture_s'][0]:.3f} s; "
                    f"{shaper} dropped {(bl.get('tc_stats') or {}).get('dropped')} packets in all; {src}'s SSRCs "
                    + ", ".join(f"{k} {v['ssrc']}" for k, v in out["ssrcs"][src]["sent"].items()))
    return says


def estimate_facts(est: list[tuple[float, float]], samples: list[dict], window, meta: dict, rel) -> dict:
    """What the sender's estimate (availableOutgoingBitrate) and its send rate did, before, during and after."""
    values = [v for _, v in est]
    out = {"what": "availableOutgoingBitrate of the selected candidate pair (the sender's bandwidth estimate), "
                   "bit/s; send rate from the outbound-rtp bytesSent (payload) of all streams",
           "min_bps": min(values), "max_bps": max(values),
           "send_rate_bps_whole_call": send_rate_bps(samples, samples[0]["unix"], samples[-1]["unix"])}
    if not window:
        settled = [v for t, v in est if t >= est[0][0] + 5]  # after GCC's start-up ramp
        out["min_bps_after_first_5s"] = min(settled) if settled else None
        return out
    start, end = window
    before = [v for t, v in est if start - 5 <= t < start]
    med = statistics.median(before) if before else None
    sent_before = send_rate_bps(samples, start - 5, start)
    out["median_bps_5s_before"] = med
    out["send_rate_bps_5s_before"] = sent_before
    out["send_rate_bps_during"] = send_rate_bps(samples, start, end)
    out["send_rate_bps_5s_after_end"] = send_rate_bps(samples, end, end + 5)
    out["send_rate_bps_last_5s"] = send_rate_bps(samples, samples[-1]["unix"] - 5, samples[-1]["unix"])
    target = target_series(samples)
    if target:
        t_before = [v for t, v in target if start - 5 <= t < start]
        t_during = [(t, v) for t, v in target if start <= t <= end]
        out["video_target_bitrate"] = {
            "median_bps_5s_before": statistics.median(t_before) if t_before else None,
            "min_during": ({"bps": min(t_during, key=lambda tv: tv[1])[1],
                            "capture_s": rel(min(t_during, key=lambda tv: tv[1])[0])} if t_during else None),
            "at_end_bps": target[-1][1]}
    during = [(t, v) for t, v in est if start <= t <= end]
    if during:
        t_min, v_min = min(during, key=lambda tv: tv[1])
        out["min_during"] = {"bps": v_min, "capture_s": rel(t_min)}
    limit = meta.get("bandwidth_limit")
    if limit:
        rate = limit["rate_kbit"] * 1000
        below = next(((t, v) for t, v in during if v < rate), None)
        out["first_below_limit"] = ({"bps": below[1], "capture_s": rel(below[0]),
                                     "seconds_after_limit": round(below[0] - start, 3)} if below else None)
    if sent_before:
        # GCC's estimate before the limit is far above what the encoder sends (the encoder is capped); "recovered"
        # is the estimate back at the send rate of before, which the encoder needs to send as before.
        back = next(((t, v) for t, v in est if t > end and v >= sent_before), None)
        out["first_back_to_send_rate_before"] = (
            {"bps": back[1], "capture_s": rel(back[0]), "seconds_after_end": round(back[0] - end, 3)} if back
            else None)
    if med:
        back = next(((t, v) for t, v in est if t > end and v >= RECOVERED * med), None)
        out[f"first_back_to_{int(RECOVERED * 100)}pct_of_median_before"] = (
            {"bps": back[1], "capture_s": rel(back[0]), "seconds_after_end": round(back[0] - end, 3)} if back
            else None)
    return out


def target_series(samples: list[dict]) -> list[tuple[float, float]]:
    """(unix, targetBitrate) of the outbound video stream, where the browser gives one (Chromium)."""
    out = []
    for s in samples:
        row = stat(s, "outbound-rtp", kind="video")
        if row is not None and row.get("targetBitrate") is not None:
            out.append((s["unix"], float(row["targetBitrate"])))
    return out


def write_facts(base: Path) -> dict:
    """Add timeline, ssrcs and ground_truth_over_time to <base>.meta.json from the session's files."""
    f = Path(f"{base}.meta.json")
    meta = json.loads(f.read_text())
    series_f = Path(f"{base}.stats-series.json")
    series = json.loads(series_f.read_text()) if series_f.exists() else {}
    meta.update(facts(meta, series, Path(f"{base}.pcap")))
    f.write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def summary_line(meta: dict) -> str:
    parts = [f"{meta['scenario']}: {meta['capture']['frames']} frames, {meta['capture']['bytes']} bytes"]
    for node, per in meta["ground_truth_over_time"].items():
        if not isinstance(per, dict):
            continue
        video = per["at_end"]["inbound_video"]
        parts.append(f"{node}: framesReceived {video.get('framesReceived')} freezeCount {video.get('freezeCount')}")
        if "estimate" in per:
            e = per["estimate"]
            parts.append(f"{node} estimate min {e['min_bps']:.0f} max {e['max_bps']:.0f}"
                         + (f" first below limit {e['first_below_limit']}" if e.get("first_below_limit") else ""))
    return "; ".join(parts)


# -- command line ------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", nargs="+", help="all | list | facts [NAME...] | scenario names")
    ap.add_argument("--out", type=Path, default=OUT, help="output folder (default: captures/bwe/)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs, page files)")
    args = ap.parse_args(argv)
    if args.what == ["list"]:
        for sc in ALL.values():
            print(f"{sc.name:10} {sc.kind:16} {sc.shows}")
        return 0
    if args.what[0] == "facts":
        names = args.what[1:] or sorted(p.name[:-len(".meta.json")] for p in args.out.glob("*.meta.json"))
        for name in names:
            print(summary_line(write_facts(args.out / name)), flush=True)
        return 0
    names = [n for w in args.what for n in GROUPS.get(w, [w])]
    unknown = [n for n in names if n not in ALL]
    if unknown:
        print(f"unknown scenario(s): {', '.join(unknown)}; try 'list'", file=sys.stderr)
        return 2
    why = preflight()
    if why:
        print(f"bwe_record.py: {why}", file=sys.stderr)
        return 3
    signal.signal(signal.SIGINT, record.on_signal)
    signal.signal(signal.SIGTERM, record.on_signal)
    failed = []
    t0 = time.time()
    for name in names:
        sc: Scenario = ALL[name]
        try:
            load_before = [round(x, 2) for x in os.getloadavg()]
            meta = record.record(sc, args.out, keep=args.keep)
            load_after = [round(x, 2) for x in os.getloadavg()]
            f = Path(f"{args.out / name}.meta.json")
            recorded = json.loads(f.read_text())
            # The machine is shared: its load (1, 5, 15 min averages) says whether a stall may be CPU starvation.
            recorded["recording"]["load_average"] = {"before": load_before, "after": load_after,
                                                     "cpus": os.cpu_count()}
            f.write_text(json.dumps(recorded, indent=2) + "\n")
            meta = write_facts(args.out / name)
            print(summary_line(meta), flush=True)
            if not meta["recording"]["outcome_as_expected"]:
                failed.append(name)
        except record.Interrupted:
            print("interrupted; lab torn down", file=sys.stderr)
            return 130
        except Exception:
            traceback.print_exc()
            failed.append(name)
    print(f"recorded {len(names) - len(failed)}/{len(names)} sessions in {time.time() - t0:.0f} s"
          + (f"; not as expected: {', '.join(failed)}" if failed else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
