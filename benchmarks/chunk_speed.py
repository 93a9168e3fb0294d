"""Times `iter_chunks` per chunk: the fixed cost a chunk pays however small it is, and where it goes.

    python benchmarks/chunk_speed.py                         # 20,000 packets (synth.py), chunks of 500, 2000, 20000
    python benchmarks/chunk_speed.py --sizes 250,1000 --breakdown

Figures are CPU milliseconds per chunk (process time: the machine is shared, and wall time under load says more
about the neighbours than about the code) next to wall milliseconds, the median of `--repeat` passes over the file.
`--breakdown` adds the CPU time of each table builder and of the rest of the decode, per chunk.
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import webrtcpcap  # noqa: E402
from webrtcpcap.tables import pipeline  # noqa: E402
from synth import write_capture  # noqa: E402

BUILDERS = ["_tables", "_packets_table", "_flows_table", "_icmp_table", "_fragments_table", "_tcp_streams_table",
            "_frame_tcp", "_unwrap_turn"]


def one_pass(path: str, size: int) -> tuple[int, float, float]:
    w, c = time.perf_counter(), time.process_time()
    n = sum(1 for _ in webrtcpcap.iter_chunks(path, size, progress=False))
    return n, (time.perf_counter() - w) * 1000 / n, (time.process_time() - c) * 1000 / n


def breakdown(path: str, size: int) -> dict[str, float]:
    """CPU ms per chunk in each table builder (pipeline's functions wrapped for one pass)."""
    spent: collections.Counter = collections.Counter()
    saved = {name: getattr(pipeline, name) for name in BUILDERS}

    def wrap(name, fn):
        def timed(*a, **k):
            c = time.process_time()
            try:
                return fn(*a, **k)
            finally:
                spent[name] += time.process_time() - c
        return timed

    for name, fn in saved.items():
        setattr(pipeline, name, wrap(name, fn))
    try:
        n, _, total = one_pass(path, size)
    finally:
        for name, fn in saved.items():
            setattr(pipeline, name, fn)
    out = {name: spent[name] * 1000 / n for name in BUILDERS}
    out["whole chunk"] = total
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=20_000)
    ap.add_argument("--capture", help="use this capture instead of a synthetic one")
    ap.add_argument("--sizes", default="500,2000,20000", help="chunk sizes in packets (comma-separated)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--breakdown", action="store_true", help="CPU per table builder, for the smallest size")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        path = args.capture or os.path.join(tmp, "call.pcap")
        if args.capture is None:
            write_capture(path, args.packets)
        print(f"{webrtcpcap.__file__}\n{path}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        one_pass(path, sizes[0])  # warm: the file in the page cache, the imports done
        for size in sizes:
            runs = [one_pass(path, size) for _ in range(args.repeat)]
            print(f"chunks of {size:>6}: {runs[0][0]:>4} chunks, {statistics.median(r[2] for r in runs):7.2f} ms CPU "
                  f"and {statistics.median(r[1] for r in runs):7.2f} ms wall per chunk (median of {args.repeat})")
        if args.breakdown:
            for name, ms in breakdown(path, sizes[0]).items():
                print(f"  {name:20s} {ms:7.2f} ms CPU per chunk")
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
