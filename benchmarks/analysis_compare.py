"""Old and new analyses give the same answers: dump the health summary and every table of the analysis context with
one copy of the library, dump again with another, and compare.

    PYTHONPATH=/work/main python benchmarks/analysis_compare.py save /tmp/old.pkl      # the code before the change
    PYTHONPATH=$PWD python benchmarks/analysis_compare.py save /tmp/new.pkl
    python benchmarks/analysis_compare.py diff /tmp/old.pkl /tmp/new.pkl
    python benchmarks/analysis_compare.py save /tmp/part.pkl turn_,ndpi        # only captures whose name has these
    python benchmarks/analysis_compare.py save /tmp/x.pkl --extra /tmp/call.pcap:/tmp/call.sdp   # more files

For every capture in captures/ and ../shared/public-captures/ (opened plain, and again with its key log and SDPs when
it has them) this records: the health verdict, its findings table and text; for the whole capture and for each call
of it, the analysis context's tables (ICE transactions, checks, candidate pairs and summary, TURN allocations, DTLS
associations and flights, streams, RTX pairs, gaps, packet and receiver views, NACK outcomes and summary, round-trip
times, keyframe delays, video codecs, RTCP readability, candidate types); and the capture's RTCP tables (report
blocks, sender reports, feedback, NACKs, keyframe requests).  A table or value that raised records the exception's
type and message (an error is a result to compare too).
"""

from __future__ import annotations

import glob
import pickle
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

import webrtcpcap
from webrtcpcap.analysis import context

REPO = Path(__file__).resolve().parent.parent

CONTEXT_ITEMS = ("ice_transactions", "ice_checks", "candidate_pairs", "ice_summary", "turn_allocations",
                 "dtls_associations", "dtls_flights", "streams", "rtx_pairs", "gaps", "packet_view", "receiver_view",
                 "nack_outcomes", "nack_summary", "round_trip_times", "video_codecs", "rtcp_readable",
                 "candidate_types", "connected", "media_seen")
CAPTURE_ITEMS = ("rtcp_report_blocks", "rtcp_sender_reports", "rtcp_feedback", "rtcp_datagrams", "nacks",
                 "keyframe_requests")


def captures(extra: list[str]) -> list[tuple[str, dict]]:
    out = []
    for p in sorted(glob.glob(str(REPO / "captures" / "*.pcap")) + glob.glob(str(REPO.parent / "shared" /
                                                                                "public-captures" / "*.pcap*"))):
        out.append((p, {}))
        stem = p.split(".pcap")[0].removesuffix(".rtpdump").removesuffix(".janus")
        keyed = {}
        if Path(stem + ".keylog").exists():
            keyed["keylog"] = stem + ".keylog"
        sdps = [s for s in (stem + ".offer.sdp", stem + ".answer.sdp") if Path(s).exists()]
        if sdps:
            keyed["sdp"] = sdps
        if keyed:
            out.append((p, keyed))
    for e in extra:  # PATH or PATH:SDP
        path, _, sdp = e.partition(":")
        out.append((path, {"sdp": [sdp]} if sdp else {}))
    return out


def _get(fn):
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - the error is a result too
        return f"{type(e).__name__}: {e}"


def _context(a) -> dict:
    out = {name: _get(lambda: getattr(a, name)) for name in CONTEXT_ITEMS}
    out["keyframe_delays"] = _get(lambda: a.keyframe_delays())
    return out


def record(path: str, kw: dict) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cap = webrtcpcap.open(path, progress=False, **kw)
        t0 = time.perf_counter()
        h = webrtcpcap.health(cap)
        seconds = time.perf_counter() - t0
        out: dict = {"verdict": h.verdict, "findings": h.findings, "stages": h.stages, "text": h.text()}
        a = context.of(cap)
        out["whole"] = _context(a)
        for call in a.calls:
            out[f"call {call.session}"] = _context(call)
        if a.outside is not None:
            out["outside"] = _context(a.outside)
        for name in CAPTURE_ITEMS:
            out[name] = _get(lambda: getattr(cap, name))
    out["seconds"] = seconds
    return out


def save(target: str, only: list[str] | None, extra: list[str]) -> None:
    results = {}
    for path, kw in captures(extra):
        if only and not any(o in Path(path).name for o in only):
            continue
        key = (Path(path).name, tuple(sorted(kw)))
        try:
            results[key] = record(path, kw)
        except Exception as e:  # noqa: BLE001 - a crash is a result to compare too
            results[key] = {"crash": f"{type(e).__name__}: {e}"}
        print(key, f"health {results[key].get('seconds', 0):.2f} s", results[key].get("crash", ""), flush=True)
        with open(target, "wb") as f:
            pickle.dump(results, f)


def _same(a, b) -> bool:
    if isinstance(a, pd.DataFrame) and isinstance(b, pd.DataFrame):
        try:
            pd.testing.assert_frame_equal(a, b)
            return True
        except AssertionError:
            return False
    if isinstance(a, pd.Series) and isinstance(b, pd.Series):
        try:
            pd.testing.assert_series_equal(a, b)
            return True
        except AssertionError:
            return False
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _show(where, old, new) -> None:
    print(where, "differs")
    if isinstance(old, pd.DataFrame) and isinstance(new, pd.DataFrame):
        if old.shape != new.shape or list(old.columns) != list(new.columns):
            print("  shapes", old.shape, new.shape, list(old.columns) if list(old.columns) != list(new.columns)
                  else "")
            return
        dtypes = [(c, str(old[c].dtype), str(new[c].dtype)) for c in old.columns if old[c].dtype != new[c].dtype]
        if dtypes:
            print("  dtypes", dtypes)
        rows = (old.astype(object).fillna("<NA>").values != new.astype(object).fillna("<NA>").values).any(axis=1)
        if rows.any():
            print(f"  {int(rows.sum())} of {len(rows)} rows, e.g.\n", old[rows].head(3).to_string(), "\n",
                  new[rows].head(3).to_string())
        elif not old.index.equals(new.index):
            print("  index differs")
    else:
        print("  old", str(old)[:400], "\n  new", str(new)[:400])


def diff(old_path: str, new_path: str) -> int:
    with open(old_path, "rb") as f:
        old = pickle.load(f)
    with open(new_path, "rb") as f:
        new = pickle.load(f)
    bad = 0
    for key in sorted(set(old) | set(new)):
        if key not in old or key not in new:
            print(key, "only in", "new" if key in new else "old")
            continue
        a, b = old[key], new[key]
        for item in sorted((set(a) | set(b)) - {"seconds"}):
            x, y = a.get(item), b.get(item)
            if isinstance(x, dict) and isinstance(y, dict) and item != "video_codecs":
                for sub in sorted(set(x) | set(y)):
                    if not _same(x.get(sub), y.get(sub)):
                        _show((key, item, sub), x.get(sub), y.get(sub))
                        bad += 1
            elif not _same(x, y):
                _show((key, item), x, y)
                bad += 1
        print(key, f"health old {a.get('seconds', 0):.2f} s, new {b.get('seconds', 0):.2f} s", flush=True)
    print("differences:", bad)
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1] == "save":
        rest = sys.argv[3:]
        extra = [rest[i + 1] for i, x in enumerate(rest) if x == "--extra"]
        only = [x for i, x in enumerate(rest) if x != "--extra" and (i == 0 or rest[i - 1] != "--extra")]
        save(sys.argv[2], only[0].split(",") if only else None, extra)
    else:
        sys.exit(diff(sys.argv[2], sys.argv[3]))
