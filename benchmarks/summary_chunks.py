"""`webrtcpcap summary` read whole against read in chunks (`--chunked`): the same RTP stream lines (loss and jitter
included), and the cost of chunking in time and memory.

    python benchmarks/synth.py /tmp/5m.pcap --packets 5000000
    python benchmarks/summary_chunks.py /tmp/1m.pcap /tmp/5m.pcap --repeat 3

Each run is a whole process (`python -m webrtcpcap summary --chunked`, and for the whole read the same command's
code without its size threshold), import included, whole and chunked alternating, so
that both meet the same load; figures are medians of `--repeat` runs: wall seconds, CPU seconds (user + system:
the machine may be shared) and peak RSS (the child's ru_maxrss).  Prints whether the two reads' stream lines are
identical, and the chunked/whole ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time


# The whole read as `webrtcpcap summary` does it below its chunking threshold (CHUNKED_ABOVE_BYTES, 2 GiB: a larger
# file would be read in chunks by the command itself).
WHOLE = """
import sys, argparse
from webrtcpcap import cli
from webrtcpcap.io import heap
from webrtcpcap.tables.summary import format_summary, summarize
heap.tune()  # as the command does for its own process
path = sys.argv[1]
print(format_summary(path, summarize(cli._whole(argparse.Namespace(file=path, webrtc=(), not_webrtc=())))))
"""


def run(path: str, chunked: bool) -> tuple[float, float, float, str]:
    """(wall s, cpu s, peak RSS MiB, stdout) of one summary process."""
    cmd = ([sys.executable, "-m", "webrtcpcap", "summary", path, "--chunked"] if chunked
           else [sys.executable, "-c", WHOLE, path])
    w = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - w
    if status != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with status {status}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out


def streams_lines(out: str) -> list[str]:
    lines = out.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("RTP streams")), None)
    if start is None:
        return []
    block = []
    for line in lines[start:]:
        if not line.strip():
            break
        block.append(line)
    return block


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"load: {open('/proc/loadavg').read().split()[:3]}")
    for path in args.files:
        got: dict[bool, list[tuple[float, float, float]]] = {False: [], True: []}
        outs: dict[bool, str] = {}
        for _ in range(args.repeat):
            for chunked in (False, True):
                wall, cpu, rss, out = run(path, chunked)
                got[chunked].append((wall, cpu, rss))
                outs[chunked] = out
        same = streams_lines(outs[False]) == streams_lines(outs[True])
        med = {c: [statistics.median(x[i] for x in got[c]) for i in range(3)] for c in got}
        print(f"{path}: stream lines (loss, jitter) identical whole vs chunked: {same}")
        for c, name in ((False, "whole"), (True, "chunked")):
            wall, cpu, rss = med[c]
            print(f"  {name:8} wall {wall:7.2f} s  cpu {cpu:7.2f} s  peak RSS {rss:7.0f} MiB")
        print(f"  chunked/whole: wall {med[True][0] / med[False][0]:.2f}x  cpu {med[True][1] / med[False][1]:.2f}x  "
              f"RSS {med[True][2] / med[False][2]:.2f}x")
        if not same:
            print("\n".join(["  whole:"] + streams_lines(outs[False]) + ["  chunked:"] + streams_lines(outs[True])))
    print(f"load: {open('/proc/loadavg').read().split()[:3]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
