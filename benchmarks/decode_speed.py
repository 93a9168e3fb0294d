"""How fast webrtcpcap turns a capture into tables, next to tshark, scapy and pyshark on the same file.

Each engine runs in a fresh Python subprocess (this script re-invoked with --worker), so start-up and memory of one
engine never leak into another, and interpreter start-up is never timed: every worker times only the work itself.

    webrtcpcap        webrtcpcap.open(path), then cap.packets, cap.rtp, cap.rtcp (all three built)
    tshark fields     tshark -T fields (-d udp.port==50000,rtp) piped into pandas.read_csv
    tshark streams    tshark -q -z rtp,streams (-d udp.port==50000,rtp)
    scapy             PcapReader over the first --scapy-packets frames (UDP port 50000 bound to RTP), extrapolated
    pyshark           FileCapture over the first --pyshark-packets frames (same decode-as), extrapolated

Memory: "RSS Δ" is ru_maxrss after the work minus ru_maxrss before it (after imports) in the worker; it counts
file pages the engine maps or copies. "held" (webrtcpcap only) is what tracemalloc still counts once the three tables
are built, with the capture open (tables, record index, datagram keys): the memory a user pays for as long as the
capture is open; "heap peak" is tracemalloc's peak on the way; both in a separate, untimed run;
numpy and Python allocations are traced, mmapped file pages are not. "RssAnon peak" (another untimed run, without
tracemalloc, whose own bookkeeping would be counted) is the peak of RssAnon sampled every 5 ms: process memory
beyond file-backed pages, what the system has to find for the decode. External tools: "child RSS" is the largest
ru_maxrss of the worker's children (tshark).

Usage: python benchmarks/decode_speed.py [--packets N] [--capture FILE [--truth FILE.json]] [--skip-slow]
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RTP_PORT = 50000
TUNE_HEAP_ENV = "WEBRTCPCAP_BENCH_TUNE_HEAP"  # set by --tune-heap, read by the webrtcpcap worker
DECODE_AS = ["-d", f"udp.port=={RTP_PORT},rtp"]
TSHARK_FIELDS = [
    "frame.number", "frame.time_epoch", "frame.len", "ip.src", "ip.dst", "udp.srcport", "udp.dstport",
    "rtp.ssrc", "rtp.p_type", "rtp.seq", "rtp.timestamp", "rtp.marker",
    "rtcp.pt", "rtcp.senderssrc", "stun.type", "dtls.record.content_type",
]  # fmt: skip


# --- workers (run in a fresh interpreter) ----------------------------------------------------------------------


def _maxrss(who: int = resource.RUSAGE_SELF) -> int:
    return resource.getrusage(who).ru_maxrss * 1024  # Linux reports KiB


class _AnonSampler(threading.Thread):
    """Peak RssAnon of this process, sampled every 5 ms."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = self.start_value = self._read()
        self._halt = threading.Event()

    @staticmethod
    def _read() -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
        return 0

    def run(self) -> None:
        while not self._halt.wait(0.005):
            self.peak = max(self.peak, self._read())

    def stop(self) -> int:
        self._halt.set()
        self.join()
        self.peak = max(self.peak, self._read())
        return self.peak - self.start_value


def _find_col(df, names: tuple[str, ...]):
    for n in names:
        if n in df.columns:
            return n
    return None


def worker_webrtcpcap(path: str, limit: int, trace: str) -> dict:
    """trace: "" (timed run), "heap" (tracemalloc) or "anon" (RssAnon sampled)."""
    import gc
    import tracemalloc

    import numpy  # noqa: F401  (imported before the baseline, like the library would)
    import pandas  # noqa: F401
    import webrtcpcap

    tuned = os.environ.get(TUNE_HEAP_ENV) == "1"
    if tuned:  # the opt-in a program of its own may make (as the webrtcpcap command does); the library never does
        webrtcpcap.io.heap.tune()
    gc.collect()
    out: dict = {"module": getattr(webrtcpcap, "__file__", "?"), "heap_tuned": tuned}
    sampler = None
    if trace == "anon":
        sampler = _AnonSampler()
        sampler.start()
    elif trace:
        tracemalloc.start()
    rss0 = _maxrss()
    t0 = time.perf_counter()
    cap = webrtcpcap.open(path)
    t1 = time.perf_counter()
    packets = cap.packets
    t2 = time.perf_counter()
    rtp = cap.rtp
    t3 = time.perf_counter()
    rtcp = cap.rtcp
    t4 = time.perf_counter()
    out.update(seconds=t4 - t0, steps={"open": t1 - t0, "packets": t2 - t1, "rtp": t3 - t2, "rtcp": t4 - t3},
               rss_delta=_maxrss() - rss0, processed=len(packets),
               rows={"packets": len(packets), "rtp": len(rtp), "rtcp": len(rtcp)})
    if sampler is not None:
        out["anon_peak"] = sampler.stop()
        gc.collect()
        out["anon_held"] = _AnonSampler._read() - sampler.start_value  # what the open capture keeps of it
    elif trace:
        gc.collect()
        # What the open capture keeps (its three tables, the record index, datagram keys), then the peak on the way.
        out["heap_held"], out["heap_peak"] = tracemalloc.get_traced_memory()
        out["tables_bytes"] = int(sum(df.memory_usage(deep=True).sum() for df in (packets, rtp, rtcp)))
        tracemalloc.stop()
    ssrc, pt = _find_col(rtp, ("ssrc",)), _find_col(rtp, ("payload_type", "pt", "p_type"))
    if ssrc and pt:
        sizes = rtp.groupby([ssrc, pt], observed=True).size()
        out["rtp_per_stream"] = {f"{int(s)}/{int(p)}": int(n) for (s, p), n in sizes.items()}
    pt = _find_col(rtcp, ("pt", "packet_type"))
    if pt:
        out["rtcp_per_pt"] = {str(int(k)): int(v) for k, v in rtcp[pt].value_counts().items()}
    return out


def worker_tshark_fields(path: str, limit: int, trace: str) -> dict:
    import numpy as np
    import pandas as pd

    cmd = ["tshark", "-r", path, "-n", *DECODE_AS, "-T", "fields", "-E", "header=n", "-E", "separator=/t",
           "-E", "occurrence=a", "-E", "aggregator=,"]
    for f in TSHARK_FIELDS:
        cmd += ["-e", f]
    if limit:
        cmd += ["-c", str(limit)]
    dtype = {"frame.number": "int64", "frame.time_epoch": "float64", "frame.len": "int32", "ip.src": "category",
             "ip.dst": "category", "udp.srcport": "Int32", "udp.dstport": "Int32", "rtp.ssrc": "string",
             "rtp.p_type": "Int16", "rtp.seq": "Int32", "rtp.timestamp": "Int64", "rtp.marker": "Int8",
             "rtcp.pt": "string", "rtcp.senderssrc": "string", "stun.type": "string",
             "dtls.record.content_type": "string"}
    rss0 = _maxrss()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    df = pd.read_csv(proc.stdout, sep="\t", header=None, names=TSHARK_FIELDS, dtype=dtype, quoting=csv.QUOTE_NONE)
    # tshark prints SSRCs as hex strings; a table wants uint32
    has = df["rtp.ssrc"].notna().to_numpy()
    ssrc = np.zeros(len(df), dtype=np.uint32)
    ssrc[has] = [int(s, 16) for s in df["rtp.ssrc"].to_numpy()[has]]
    df["rtp.ssrc"] = pd.array(ssrc, dtype="UInt32")
    df.loc[~has, "rtp.ssrc"] = pd.NA
    rc = proc.wait()
    t1 = time.perf_counter()
    rtp = df[df["rtp.ssrc"].notna()]
    sizes = rtp.groupby(["rtp.ssrc", "rtp.p_type"]).size()
    rtcp_pt = df["rtcp.pt"].dropna()
    return {"seconds": t1 - t0, "rss_delta": _maxrss() - rss0, "child_rss": _maxrss(resource.RUSAGE_CHILDREN),
            "processed": len(df), "returncode": rc,
            "rows": {"packets": len(df), "rtp": len(rtp), "rtcp_frames": len(rtcp_pt),
                     "rtcp_subpackets": int(rtcp_pt.str.count(",").sum() + len(rtcp_pt))},
            "rtp_per_stream": {f"{int(s)}/{int(p)}": int(n) for (s, p), n in sizes.items()}}


def worker_tshark_streams(path: str, limit: int, trace: str) -> dict:
    cmd = ["tshark", "-r", path, "-n", "-q", *DECODE_AS, "-z", "rtp,streams"]
    if limit:
        cmd += ["-c", str(limit)]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    t1 = time.perf_counter()
    streams = {}
    # "  start  end  src sport  dst dport  0xSSRC  RTPType-96  3103  27 (0.9%) ..."
    pat = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+(\S+)\s+(\d+)\s+(\S+)\s+(\d+)\s+"
                     r"0x([0-9A-Fa-f]+)\s+(\S+)\s+(\d+)\s+(-?\d+)")
    for line in res.stdout.splitlines():
        m = pat.match(line)
        if m:
            pt = m.group(6).rsplit("-", 1)[-1]
            streams[f"{int(m.group(5), 16)}/{pt}"] = {"packets": int(m.group(7)), "lost": int(m.group(8))}
    return {"seconds": t1 - t0, "child_rss": _maxrss(resource.RUSAGE_CHILDREN), "returncode": res.returncode,
            "processed": None, "streams": streams, "rows": {"rtp": sum(s["packets"] for s in streams.values())}}


def worker_scapy(path: str, limit: int, trace: str) -> dict:
    import pandas as pd
    from scapy.all import IP, UDP, PcapReader, conf  # noqa: F401
    from scapy.layers.rtp import RTP
    from scapy.packet import bind_layers

    bind_layers(UDP, RTP, sport=RTP_PORT)  # the equivalent of tshark's decode-as
    bind_layers(UDP, RTP, dport=RTP_PORT)
    rss0 = _maxrss()
    t0 = time.perf_counter()
    cols: dict[str, list] = {k: [] for k in ("frame", "t", "src", "dst", "sport", "dport", "ssrc", "pt", "seq", "ts",
                                             "marker")}
    n = 0
    with PcapReader(path) as reader:
        for p in reader:
            n += 1
            ip, udp = p.getlayer(IP), p.getlayer(UDP)
            rtp = p.getlayer(RTP)
            cols["frame"].append(n)
            cols["t"].append(float(p.time))
            cols["src"].append(ip.src if ip else None)
            cols["dst"].append(ip.dst if ip else None)
            cols["sport"].append(udp.sport if udp else None)
            cols["dport"].append(udp.dport if udp else None)
            cols["ssrc"].append(rtp.sourcesync if rtp else None)
            cols["pt"].append(rtp.payload_type if rtp else None)
            cols["seq"].append(rtp.sequence if rtp else None)
            cols["ts"].append(rtp.timestamp if rtp else None)
            cols["marker"].append(rtp.marker if rtp else None)
            if limit and n >= limit:
                break
    df = pd.DataFrame(cols)
    t1 = time.perf_counter()
    return {"seconds": t1 - t0, "rss_delta": _maxrss() - rss0, "processed": n,
            "rows": {"packets": len(df), "rtp": int(df["ssrc"].notna().sum())}}


def worker_pyshark(path: str, limit: int, trace: str) -> dict:
    import pandas as pd
    import pyshark

    rss0 = _maxrss()
    t0 = time.perf_counter()
    cap = pyshark.FileCapture(path, decode_as={f"udp.port=={RTP_PORT}": "rtp"}, keep_packets=False)
    rows = []
    n = 0
    try:
        for p in cap:
            n += 1
            ip = getattr(p, "ip", None)
            udp = getattr(p, "udp", None)
            rtp = getattr(p, "rtp", None)
            rows.append((int(p.number), float(p.sniff_timestamp), ip and ip.src, ip and ip.dst,
                         udp and int(udp.srcport), udp and int(udp.dstport),
                         rtp and rtp.get_field("ssrc"), rtp and rtp.get_field("p_type"),
                         rtp and rtp.get_field("seq")))
            if limit and n >= limit:
                break
    finally:
        cap.close()
    df = pd.DataFrame(rows, columns=["frame", "t", "src", "dst", "sport", "dport", "ssrc", "pt", "seq"])
    t1 = time.perf_counter()
    return {"seconds": t1 - t0, "rss_delta": _maxrss() - rss0, "child_rss": _maxrss(resource.RUSAGE_CHILDREN),
            "processed": n, "rows": {"packets": len(df), "rtp": int(df["ssrc"].notna().sum())}}


WORKERS = {
    "webrtcpcap": worker_webrtcpcap,
    "tshark-fields": worker_tshark_fields,
    "tshark-streams": worker_tshark_streams,
    "scapy": worker_scapy,
    "pyshark": worker_pyshark,
}


# --- driver ----------------------------------------------------------------------------------------------------


def _run_worker(engine: str, path: str, limit: int = 0, trace: str = "", timeout: float = 900) -> dict:
    env = dict(os.environ)
    # an existing PYTHONPATH wins (e.g. a development stub), then the repository root
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), str(ROOT)) if p)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", engine, "--capture", path, "--limit", str(limit)]
    if trace:
        cmd += ["--trace", trace]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if res.returncode != 0 or not lines:
        tail = (res.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"error": tail}
    return json.loads(lines[-1])


def _count_packets(path: str) -> int:
    out = subprocess.run(["capinfos", "-M", "-c", path], capture_output=True, text=True).stdout
    m = re.search(r"Number of packets:\s*(\d+)", out)
    if not m:
        raise SystemExit(f"capinfos could not count packets in {path}")
    return int(m.group(1))


def _warm(path: str) -> None:
    with open(path, "rb") as f:
        while f.read(16 << 20):
            pass


def _mb(n: int | None) -> str:
    return "" if n is None else f"{n / 1e6:,.0f} MB"


def _per_pkt(n: int | None, packets: int) -> str:
    return "" if n is None or not packets else f"{n / packets:,.1f} B/pkt"


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    return s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--packets", type=int, default=1_000_000, help="packets to generate (default 1000000)")
    p.add_argument("--capture", help="use this capture instead of generating one")
    p.add_argument("--truth", help="ground truth JSON for --capture (as written by synth.py --truth)")
    p.add_argument("--pcapng", action="store_true", help="generate pcapng instead of classic pcap")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--srtp", action="store_true", help="generate SRTP/SRTCP-shaped media (see synth.py)")
    p.add_argument("--skip-slow", action="store_true", help="skip scapy and pyshark")
    p.add_argument("--repeat", type=int, default=3, help="timed webrtcpcap runs, median reported (default 3)")
    p.add_argument("--scapy-packets", type=int, default=20_000, help="scapy slice (default 20000)")
    p.add_argument("--pyshark-packets", type=int, default=2_000, help="pyshark slice (default 2000)")
    p.add_argument("--json", help="also write every measurement to this JSON file")
    p.add_argument("--tune-heap", action="store_true",
                   help="call webrtcpcap.io.heap.tune() in the webrtcpcap worker first (glibc thresholds; opt-in)")
    p.add_argument("--workdir", help="where to write the generated capture (default: a temporary directory)")
    p.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    p.add_argument("--limit", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--trace", choices=("heap", "anon"), default="", help=argparse.SUPPRESS)
    a = p.parse_args(argv)

    if a.tune_heap:
        os.environ[TUNE_HEAP_ENV] = "1"  # the workers inherit it
    if a.worker:
        print(json.dumps(WORKERS[a.worker](a.capture, a.limit, a.trace)))
        return 0

    started = time.perf_counter()
    tmp = None
    truth = None
    if a.capture:
        path = a.capture
        if a.truth:
            truth = json.loads(Path(a.truth).read_text())
        n = truth["packets"] if truth else _count_packets(path)
        gen_note = f"capture {path} (given)"
    else:
        sys.path.insert(0, str(HERE))
        from synth import truth_to_json, write_capture

        if a.workdir:
            directory = a.workdir
        else:
            tmp = tempfile.TemporaryDirectory(prefix="webrtcpcap-bench-")
            directory = tmp.name
        stem = f"synth-{a.packets}-s{a.seed}{'-srtp' if a.srtp else ''}"
        path = os.path.join(directory, f"{stem}.{'pcapng' if a.pcapng else 'pcap'}")
        t0 = time.perf_counter()
        truth = truth_to_json(write_capture(path, a.packets, pcapng=a.pcapng, seed=a.seed, srtp=a.srtp))
        gen_note = (f"generated {path} by synth.py (seed {a.seed}{', srtp' if a.srtp else ''}) "
                    f"in {time.perf_counter() - t0:.1f} s")
        n = truth["packets"]
    size = os.path.getsize(path)
    _warm(path)  # every engine reads from the page cache

    print(f"# decode_speed  {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC  "
          f"{platform.node()}  {os.cpu_count()} CPUs  Python {platform.python_version()}")
    print(f"# {gen_note}")
    print(f"# {n:,} packets, {size / 1e6:,.0f} MB ({size / n:,.0f} B/pkt), page cache warm")

    results: list[tuple[str, dict, int]] = []  # (label, result, packets the work covered)

    def progress(msg: str) -> None:
        print(f"  .. {msg} ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)

    # webrtcpcap: median of --repeat timed runs, then one traced run for heap/anon peaks
    runs = []
    for i in range(max(1, a.repeat)):
        progress(f"webrtcpcap run {i + 1}")
        r = _run_worker("webrtcpcap", path)
        if "error" in r:
            runs = [r]
            break
        runs.append(r)
    if "error" in runs[0]:
        wp = runs[0]
    else:
        wp = dict(sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2])
        wp["all_seconds"] = [r["seconds"] for r in runs]
        wp["rss_delta"] = max(r["rss_delta"] for r in runs)
        for trace, keys in (("heap", ("heap_held", "heap_peak", "tables_bytes")), ("anon", ("anon_peak", "anon_held"))):
            progress(f"webrtcpcap {trace} run")
            traced = _run_worker("webrtcpcap", path, trace=trace)
            for key in keys:
                wp[key] = traced.get(key)
            if "error" in traced:
                print(f"webrtcpcap {trace} run failed: {traced['error']}", file=sys.stderr)
    results.append(("webrtcpcap", wp, n))

    progress("tshark -T fields")
    results.append(("tshark -T fields + read_csv", _run_worker("tshark-fields", path), n))
    progress("tshark -z rtp,streams")
    results.append(("tshark -q -z rtp,streams", _run_worker("tshark-streams", path), n))
    if not a.skip_slow:
        k = min(a.scapy_packets, n)
        progress(f"scapy on {k} packets")
        results.append((f"scapy PcapReader (first {k:,}, extrap.)", _run_worker("scapy", path, limit=k), k))
        k = min(a.pyshark_packets, n)
        progress(f"pyshark on {k} packets")
        results.append((f"pyshark FileCapture (first {k:,}, extrap.)", _run_worker("pyshark", path, limit=k), k))

    # --- table ---
    base = wp.get("seconds")
    header = ("engine", "packets", "seconds", "packets/s", "× webrtcpcap", "RSS Δ", "RSS Δ/pkt", "child RSS")
    rows = []
    failures = []
    for label, r, covered in results:
        if "error" in r:
            rows.append((label, "", "FAILED", "", "", "", "", ""))
            failures.append(f"{label} failed: {r['error']}")
            continue
        secs = r["seconds"] * n / covered  # extrapolated to the whole capture for slices
        rows.append((label, f"{covered:,}", f"{secs:,.2f}", f"{n / secs:,.0f}",
                     f"{secs / base:,.1f}" if base else "n/a", _mb(r.get("rss_delta")),
                     _per_pkt(r.get("rss_delta"), covered), _mb(r.get("child_rss"))))
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    print()
    for i, row in enumerate([header, *rows]):
        print("  ".join(str(x).ljust(w) if j == 0 else str(x).rjust(w) for j, (x, w) in enumerate(zip(row, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))

    print()
    for line in failures:
        print(line)
    if "error" not in wp:
        print(f"webrtcpcap module: {wp['module']}")
        print("webrtcpcap runs (s): " + ", ".join(f"{s:.2f}" for s in wp["all_seconds"])
              + "; median steps: " + ", ".join(f"{k} {v:.2f}" for k, v in wp["steps"].items()))
        print(f"webrtcpcap memory held after building the tables: {_mb(wp.get('heap_held'))} "
              f"({_per_pkt(wp.get('heap_held'), n)}; of it the tables {_per_pkt(wp.get('tables_bytes'), n)})")
        print(f"webrtcpcap memory: ru_maxrss Δ {_mb(wp['rss_delta'])} ({_per_pkt(wp['rss_delta'], n)}, includes file "
              f"pages it maps or copies); tracemalloc heap peak {_mb(wp.get('heap_peak'))} "
              f"({_per_pkt(wp.get('heap_peak'), n)}); RssAnon peak Δ {_mb(wp.get('anon_peak'))} "
              f"({_per_pkt(wp.get('anon_peak'), n)}, beyond file-backed pages), held after "
              f"{_per_pkt(wp.get('anon_held'), n)}; file itself {size / n:,.0f} B/pkt")
        print("glibc thresholds " + ("tuned (--tune-heap: webrtcpcap.io.heap.tune())" if wp.get("heap_tuned")
                                     else "left as they are (the library's default; --tune-heap to opt in)"))
    _print_checks(results, truth, n)
    total = time.perf_counter() - started
    print(f"\ntotal benchmark time {total:.0f} s")
    if a.json:
        Path(a.json).write_text(json.dumps({"packets": n, "file_bytes": size, "capture": path, "truth": truth,
                                            "results": [{"engine": label, "covered": c, **r}
                                                        for label, r, c in results],
                                            "total_seconds": total}, indent=1) + "\n")
    if tmp:
        tmp.cleanup()
    return 0


def _print_checks(results: list[tuple[str, dict, int]], truth: dict | None, n: int) -> None:
    """Row counts each engine produced, against the generator's ground truth where there is one."""
    print("\ncounts (engine vs ground truth):")
    if truth:
        print(f"  truth{' (SRTP-shaped)' if truth.get('srtp') else ''}: packets {truth['packets']:,}, "
              f"kinds {truth['kinds']}, rtp per ssrc/pt {truth['rtp']}, "
              f"lost {truth['rtp_lost']}, rtcp datagrams {truth['rtcp_packets']:,}, "
              f"sub-packets {truth['rtcp_subpackets']:,} {truth['rtcp_subpackets_by_type']}")

    def cmp(name: str, got, want) -> str:
        if want is None:
            return f"{name} {got:,}"
        return f"{name} {got:,}" + ("" if got == want else f" (truth {want:,}, diff {got - want:+,})")

    t = truth or {}
    kinds = t.get("kinds", {})
    # with SRTCP only the first sub-packet of each datagram is in clear
    visible_sub = t.get("rtcp_packets") if t.get("srtp") else t.get("rtcp_subpackets")
    for label, r, covered in results:
        if "error" in r:
            continue
        rows = r.get("rows", {})
        parts = []
        full = covered == n
        if "packets" in rows:
            parts.append(cmp("packets", rows["packets"], t.get("packets") if full else None))
        if "rtp" in rows:
            parts.append(cmp("rtp", rows["rtp"], kinds.get("rtp") if full else None))
        if "rtcp" in rows:
            parts.append(cmp("rtcp rows", rows["rtcp"], visible_sub))
            if not t.get("srtp") and rows["rtcp"] != visible_sub and rows["rtcp"] == t.get("rtcp_packets"):
                parts.append("= first sub-packet of each datagram only")
        if "rtcp_subpackets" in rows:
            parts.append(cmp("rtcp frames", rows["rtcp_frames"], t.get("rtcp_packets")))
            parts.append(cmp("rtcp sub-packets", rows["rtcp_subpackets"], visible_sub))
        print(f"  {label}: " + ", ".join(parts))
        for key, got in (r.get("rtp_per_stream") or {}).items():
            want = t.get("rtp", {}).get(key)
            if want is None or got != want:
                print(f"      stream {key}: {got:,}" + ("  (not in truth)" if want is None else f" (truth {want:,})"))
        if r.get("rtcp_per_pt") and t.get("rtcp_subpackets_by_type"):
            by_type = t["rtcp_first_by_type" if t.get("srtp") else "rtcp_subpackets_by_type"]
            codes = {"SR": "200", "RR": "201", "SDES": "202", "NACK": "205", "PLI": "206"}
            want = {codes[k]: v for k, v in by_type.items() if v}
            got = r["rtcp_per_pt"]
            if got != want:
                print(f"      rtcp rows per PT {got} (truth {want})")
        for key, s in (r.get("streams") or {}).items():
            want, lost = t.get("rtp", {}).get(key), t.get("rtp_lost", {}).get(key)
            print(f"      stream {key}: {cmp('packets', s['packets'], want)}, {cmp('lost', s['lost'], lost)}")


if __name__ == "__main__":
    sys.exit(main())
