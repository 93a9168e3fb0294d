"""Times reading RTP payloads: `cap.keyframes()` over a synthetic plaintext call, the bulk reader's heads, and the
per-frame reader (`cap.rtp_payload(frame)`).

    python benchmarks/payload_speed.py                      # 100,000 packets (synth.py), VP8 on PT 96
    python benchmarks/payload_speed.py --packets 1000000 --repeat 5
    python benchmarks/payload_speed.py --capture captures/chromium_aiortc_loss5.rtpdump.pcap --codec 96=VP8

The capture is opened and its tables built before anything is timed (`open` and the tables have their own
benchmark, decode_speed.py).  Figures: the median of `--repeat` runs, each on a fresh Capture (so no cache of an
earlier run helps), CPU seconds next to wall seconds (the machine is shared), and the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import webrtcpcap  # noqa: E402
from synth import write_capture  # noqa: E402


def _timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=100_000)
    ap.add_argument("--capture", help="use this capture instead of a synthetic one")
    ap.add_argument("--codec", action="append", default=[], help="PT=NAME (default 96=VP8)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--per-frame", type=int, default=2000, help="frames read one at a time (default 2000)")
    args = ap.parse_args(argv)
    codecs = dict((int(p), n) for p, n in (c.split("=") for c in args.codec)) or {96: "VP8"}
    with tempfile.TemporaryDirectory() as tmp:
        path = args.capture
        if path is None:
            path = os.path.join(tmp, "call.pcap")
            write_capture(path, args.packets)
        print(f"{webrtcpcap.__file__}\n{path}: {os.path.getsize(path) / 1e6:.1f} MB, load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        runs = []
        for _ in range(args.repeat):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cap = webrtcpcap.open(path, progress=False)
                rtp = cap.rtp
            kf, wall, cpu = _timed(lambda: cap.keyframes(codecs))
            frames = rtp["frame"].to_numpy()
            heads = getattr(cap.rtp_payload, "heads", None)  # None: a library from before the bulk reader
            h_cpu = _timed(lambda: heads(frames, 16))[2] if heads is not None else float("nan")
            some = frames[:: max(len(frames) // max(args.per_frame, 1), 1)][: args.per_frame]
            _, f_wall, f_cpu = _timed(lambda: [cap.payload_or_empty(int(f)) for f in some])
            runs.append((wall, cpu, h_cpu, f_wall / max(len(some), 1), f_cpu / max(len(some), 1)))
        wall, cpu, h_cpu, per, per_cpu = (statistics.median(r[i] for r in runs) for i in range(5))
        print(f"{len(cap):,} frames, {len(rtp):,} RTP rows; keyframes: {len(kf):,} packets examined, "
              f"{int((kf.keyframe == True).sum()):,} keyframes, {int(kf.error.notna().sum())} errors")  # noqa: E712
        print(f"cap.keyframes(): {wall:.3f} s wall, {cpu:.3f} s CPU (median of {args.repeat}: "
              f"{', '.join(f'{r[0]:.3f}' for r in runs)})")
        print(f"rtp_payload.heads(all {len(rtp):,} rows, 16 bytes): {h_cpu:.3f} s CPU")
        print(f"payload_or_empty(frame), one at a time: {per_cpu * 1e6:.0f} µs CPU, {per * 1e6:.0f} µs wall a frame")
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
