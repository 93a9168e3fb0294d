"""Times `webrtcpcap batch` on a fleet of distinct captures: serial (no Dask), then a LocalCluster of 1 and of 2
workers; captures per second, packets per second, and each worker's peak resident memory.

    python benchmarks/batch_speed.py                          # 220 captures (10 copies of 22 recordings), 600 frames each
    python benchmarks/batch_speed.py --copies 10 --frames 0   # whole recordings
    python benchmarks/batch_speed.py --fleet /tmp/fleet --keep  # reuse a fleet built before

The fleet comes from captures/*.pcap through webrtcpcap.fleet.build_fleet (re-addressed and re-timed copies, with
their key logs and SDPs: every task decrypts, judges and writes every table, as a real batch does).  Each mode writes
a fresh dataset.  Wall time is what a batch costs; on a shared machine it says something about the neighbours too,
so the tasks' CPU seconds (measured inside each task, wherever it ran) are printed beside it: under load, CPU
seconds per capture are the figure that carries over to another machine.  "cpu/capt" is the worker process's CPU
time during each task (its event loop and other threads included), "own/capt" the task's thread's alone; the load
averages at the end of each mode say how busy the machine was.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import webrtcpcap
from webrtcpcap.tools import batch, fleet

REPO = Path(__file__).resolve().parents[1]


def recordings() -> list[Path]:
    """The project's recordings (the endpoint dumps .janus.pcap and .rtpdump.pcap are other views of the same calls)."""
    return sorted(p for p in (REPO / "captures").glob("*.pcap") if p.name.count(".") == 1)


def mode(name: str, paths: list[Path], out: Path, workers: int | None, profiler: bool = False) -> dict:
    """One batch.  `profiler`: a LocalCluster as Dask makes it by default, with distributed's statistical profiler
    (the batch's own cluster runs without: batch.WORKER_CONFIG), to measure what it costs."""
    shutil.rmtree(out, ignore_errors=True)
    if profiler:
        from distributed import Client, LocalCluster

        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
            result = batch.run(paths, out, client=client, progress=False)
    else:
        result = batch.run(paths, out, workers=workers, progress=False)
    tasks = result.tasks
    cpu = float(tasks["cpu_s"].sum())  # the tasks' CPU time, wherever they ran (their worker process's, meanwhile)
    own = float(tasks["thread_cpu_s"].sum())  # the tasks' threads' alone
    frames = int(tasks["frames"].fillna(0).sum())
    peaks = tasks.groupby("worker")["peak_rss_bytes"].max().sort_values() / 2**20
    return {"mode": name, "captures": len(tasks), "errors": int((tasks["status"] == "error").sum()),
            "packets": frames, "seconds": result.seconds, "cpu_s": cpu,
            "captures_per_s": len(tasks) / result.seconds, "packets_per_s": frames / result.seconds,
            "task_s_median": float(tasks["seconds"].median()), "cpu_per_capture": cpu / max(len(tasks), 1),
            "own_cpu_per_capture": own / max(len(tasks), 1), "peak_mib": [round(p) for p in peaks.tolist()]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=10, help="copies of each recording (default 10: 220 captures)")
    parser.add_argument("--frames", type=int, default=600, help="frames kept per copy (0: all; default 600)")
    parser.add_argument("--fleet", help="the fleet's folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="reuse the fleet in --fleet if it is there")
    parser.add_argument("--modes", default="serial,1,2", help="serial and/or worker counts, a count followed by p: "
                        "workers with distributed's profiler (Dask's default) (default serial,1,2)")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="batch_speed-"))
    folder = Path(args.fleet) if args.fleet else work / "fleet"
    if not (args.keep and folder.is_dir() and any(folder.glob("*.pcap"))):
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            made = fleet.build_fleet(recordings(), folder, copies=args.copies, frames=args.frames or None)
        print(f"fleet: {len(made)} captures in {folder} ({time.perf_counter() - t:.0f} s to build)", flush=True)
    paths = sorted(folder.glob("*.pcap"))
    size = sum(p.stat().st_size for p in paths)
    print(f"{len(paths)} captures, {size / 2**20:.1f} MiB; webrtcpcap {webrtcpcap.__version__}, "
          f"{os.cpu_count()} cores", flush=True)
    print(f"{'mode':<12} {'captures':>8} {'errors':>6} {'packets':>9} {'wall s':>7} {'cpu s':>7} {'capt/s':>7} "
          f"{'pkt/s':>8} {'task s':>7} {'cpu/capt':>8} {'own/capt':>8}  peak MiB per worker  load")
    try:
        for m in args.modes.split(","):
            profiler = m.endswith("p")
            workers = 0 if m == "serial" else int(m.rstrip("p"))
            name = m if m == "serial" else f"{workers} worker{'s' if workers > 1 else ''}{'+prof' if profiler else ''}"
            r = mode(name, paths, work / f"out-{m}", workers, profiler)
            print(f"{r['mode']:<12} {r['captures']:>8} {r['errors']:>6} {r['packets']:>9} {r['seconds']:>7.1f} "
                  f"{r['cpu_s']:>7.1f} {r['captures_per_s']:>7.2f} {r['packets_per_s']:>8.0f} "
                  f"{r['task_s_median']:>7.2f} {r['cpu_per_capture']:>8.2f} {r['own_cpu_per_capture']:>8.2f}  "
                  f"{r['peak_mib']}  {'%.1f %.1f %.1f' % os.getloadavg()}", flush=True)
    finally:
        shutil.rmtree(work / "out-serial", ignore_errors=True)
        for m in args.modes.split(","):
            shutil.rmtree(work / f"out-{m}", ignore_errors=True)
        if not args.fleet:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
