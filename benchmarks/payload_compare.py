"""Old and new payload reading give the same answers: run once with the old code, once with the new, compare.

    PYTHONPATH=/tmp/old python benchmarks/payload_compare.py save /tmp/old.pkl      # the code before the change
    python benchmarks/payload_compare.py save /tmp/new.pkl
    python benchmarks/payload_compare.py diff /tmp/old.pkl /tmp/new.pkl
    python benchmarks/payload_compare.py save /tmp/part.pkl turn_,ndpi       # only captures whose name has these

For every capture in captures/ and ../shared/public-captures/ (opened plain, and again with its key log and SDPs when
it has them) this records: the payload (SHA-1) or the ValueError's type and message of every frame of the rtp table
and of the first 30 other frames, `payload_or_empty`'s unreadable frames, `keyframes` with the SDP's video codecs and
with every payload type read as VP8, VP9 and H.264 in turn (so the detectors meet every payload shape the captures
have, audio and garbage included), `guess_video_codecs`, the streams table with its roles, `rtx_pairs`, `repairs`,
`rtx_osns` and `nack_outcomes`.  With the old code, each frame's payload is read once and kept, so the old per-frame
reads (milliseconds each) do not make the run take an hour.
"""

from __future__ import annotations

import glob
import hashlib
import pickle
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

import webrtcpcap
from webrtcpcap import nack, pli, streams

REPO = Path(__file__).resolve().parent.parent


def captures() -> list[tuple[str, dict]]:
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
    return out


def _memoised(cap) -> None:
    """With the old code (rtp_payload a method), keep each frame's answer: analyses ask for the same frames."""
    if isinstance(getattr(type(cap), "rtp_payload"), property):
        return
    slow, seen = cap.rtp_payload, {}

    def fast(frame):
        frame = int(frame)
        if frame not in seen:
            try:
                seen[frame] = slow(frame)
            except ValueError as e:
                seen[frame] = e
        got = seen[frame]
        if isinstance(got, Exception):
            raise got
        return got

    cap.rtp_payload = fast


def record(path: str, kw: dict) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cap = webrtcpcap.open(path, progress=False, **kw)
        rtp = cap.rtp
    _memoised(cap)
    out: dict = {}
    t0 = time.perf_counter()
    frames = sorted(set(rtp["frame"].astype(int).tolist()))
    others = [f for f in range(1, len(cap) + 1) if f not in set(frames)][:30]
    got = {}
    for f in frames + others:
        try:
            got[f] = hashlib.sha1(bytes(cap.rtp_payload(f))).hexdigest()
        except ValueError as e:
            got[f] = (type(e).__name__, str(e))
    out["payloads"] = got
    def keep(name, fn):
        try:
            out[name] = fn()
        except ValueError as e:  # rtp_payload raises on a malformed packet; the error is a result too
            out[name] = f"{type(e).__name__}: {e}"
        return out[name]

    video = {pt: name for pt, (kind, name) in webrtcpcap.sdp.codecs(cap.sdp).items() if kind == "video"}
    keep("keyframes_sdp", lambda: cap.keyframes(video) if video else None)
    pts = sorted(set(rtp["pt"].astype(int).tolist()))
    for name in ("VP8", "VP9", "H264"):
        keep(f"keyframes_{name}", lambda: cap.keyframes({pt: name for pt in pts}))
    st = keep("streams", lambda: cap.streams)
    keep("guess", lambda: pli.guess_video_codecs(rtp, st, cap.payload_or_empty))
    pairs = keep("rtx_pairs", lambda: streams.rtx_pairs(st, cap.sdp, rtp, cap.payload_or_empty, timestamps=True))
    keep("rtx_pairs_plain", lambda: streams.rtx_pairs(st, cap.sdp, rtp, cap.rtp_payload))
    keep("repairs", lambda: streams.repairs(rtp, pairs, cap.payload_or_empty))
    keep("rtx_osns", lambda: nack.rtx_osns(rtp, pairs, cap.payload_or_empty))
    keep("nack_outcomes", lambda: nack.nack_outcomes(cap.nacks, rtp, pairs, cap.payload_or_empty))
    out["unreadable"] = dict(cap.unreadable_payloads)
    out["seconds"] = time.perf_counter() - t0
    return out


def save(target: str, only: list[str] | None = None) -> None:
    """Record every capture (or those whose name contains one of `only`), writing `target` after each one."""
    results = {}
    for path, kw in captures():
        if only and not any(o in Path(path).name for o in only):
            continue
        key = (Path(path).name, tuple(sorted(kw)))
        try:
            results[key] = record(path, kw)
        except Exception as e:  # noqa: BLE001 - a crash is a result to compare too
            results[key] = {"crash": f"{type(e).__name__}: {e}"}
        print(key, f"{results[key].get('seconds', 0):.1f} s", results[key].get("crash", ""), flush=True)
        with open(target, "wb") as f:
            pickle.dump(results, f)


def _same(a, b) -> bool:
    if isinstance(a, pd.DataFrame) and isinstance(b, pd.DataFrame):
        try:
            pd.testing.assert_frame_equal(a, b)
            return True
        except AssertionError:
            return False
    return a == b


def _load(paths: str) -> dict:
    """One or several pickles (comma-separated), merged."""
    out: dict = {}
    for p in paths.split(","):
        with open(p, "rb") as f:
            out.update(pickle.load(f))
    return out


def diff(old_path: str, new_path: str) -> int:
    old, new = _load(old_path), _load(new_path)
    bad = 0
    for key in sorted(set(old) & set(new)):
        a, b = old.get(key, {}), new.get(key, {})
        for item in sorted((set(a) | set(b)) - {"seconds"}):
            if item == "payloads":
                pa, pb = a.get(item, {}), b.get(item, {})
                differ = [f for f in sorted(set(pa) | set(pb)) if pa.get(f) != pb.get(f)]
                for f in differ[:5]:
                    print(key, "frame", f, "old", pa.get(f), "new", pb.get(f))
                if differ:
                    print(key, "payloads differ on", len(differ), "of", len(pa), "frames")
                    bad += 1
            elif not _same(a.get(item), b.get(item)):
                print(key, item, "differs")
                old_df, new_df = a.get(item), b.get(item)
                if isinstance(old_df, pd.DataFrame) and isinstance(new_df, pd.DataFrame):
                    if old_df.shape != new_df.shape:
                        print("  shapes", old_df.shape, new_df.shape)
                    else:  # as objects: categoricals with other categories do not compare
                        rows = (old_df.astype(object).fillna("<NA>").values
                                != new_df.astype(object).fillna("<NA>").values).any(axis=1)
                        print(f"  {int(rows.sum())} of {len(rows)} rows, e.g.\n", old_df[rows].head(3).to_string(),
                              "\n", new_df[rows].head(3).to_string())
                else:
                    print("  old", str(a.get(item))[:300], "\n  new", str(b.get(item))[:300])
                bad += 1
        print(key, f"old {a.get('seconds', 0):.2f} s, new {b.get('seconds', 0):.2f} s")
    print("differences:", bad)
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1] == "save":
        save(sys.argv[2], sys.argv[3].split(",") if len(sys.argv) > 3 else None)
    else:
        sys.exit(diff(sys.argv[2], sys.argv[3]))
