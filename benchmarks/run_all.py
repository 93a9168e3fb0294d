"""`make benchmark`: the figures the README quotes, in one run, paired with tshark on the same files.

    python benchmarks/run_all.py                       # 1 M packets, 3 rounds, then 5 M (~10 min on 2 idle cores)
    python benchmarks/run_all.py --packets 100000 --scale 500000 --repeat 1    # a quick look
    python benchmarks/run_all.py --json figures.json   # also every measurement

What it measures, on synth.py's synthetic call (benchmarks/README.md):
- in-process: one fresh interpreter per round imports webrtcpcap (not timed), then times decode (`open()` and
  cap.packets, cap.rtp, cap.rtcp built), `health(cap)` on the decoded capture, `report` (`document.build` of the path:
  open, decode and judge again, as the command does, plus its text) and `report --html` (the same plus `.html()`);
- whole-process: the wall time of a command, interpreter start and imports included: decode and health as
  `python -c`, `python -m webrtcpcap report FILE` and `python -m webrtcpcap report FILE --html OUT`;
- tshark, alternating with ours in every round: `tshark -T fields` piped into pandas (decode_speed.py's worker, timed
  inside its interpreter like our in-process decode) and `tshark -q -z rtp,streams` (whole process);
- the scaling: the same at `--scale` packets, once (ours in-process and `report --html` whole-process, and
  `tshark -z rtp,streams`), with the ratio of times to the ratio of packets.
Medians of `--repeat` rounds.  The machine and its load (nproc, CPU model, load averages before and after) head
and end the output: on a shared machine, the ratios to tshark measured in the same rounds are the figures that
carry over, the seconds less so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import decode_speed  # noqa: E402 - the benchmarks folder is not a package
import synth  # noqa: E402

DECODE_CODE = ("import sys, webrtcpcap; cap = webrtcpcap.open(sys.argv[1], progress=False); "
               "cap.packets; cap.rtp; cap.rtcp")
HEALTH_CODE = ("import sys, webrtcpcap; cap = webrtcpcap.open(sys.argv[1], progress=False); "
               "cap.packets; cap.rtp; cap.rtcp; webrtcpcap.health(cap)")


def worker_inprocess(path: str) -> dict:
    """Runs in a fresh interpreter (--worker): imports first, then times each step."""
    import webrtcpcap
    from webrtcpcap.report import document

    document.matplotlib_headless()
    out = {"module": webrtcpcap.__file__}
    t0, c0 = time.perf_counter(), time.process_time()  # process_time: every thread of the process
    cap = webrtcpcap.open(path, progress=False)
    packets, rtp, rtcp = cap.packets, cap.rtp, cap.rtcp
    t1, c1 = time.perf_counter(), time.process_time()
    judged = webrtcpcap.health(cap)
    t2, c2 = time.perf_counter(), time.process_time()
    del cap
    report = document.build(path)
    text = report.text()
    t3, c3 = time.perf_counter(), time.process_time()
    page = report.html()
    t4, c4 = time.perf_counter(), time.process_time()
    out.update(decode=t1 - t0, health=t2 - t1, report=t3 - t2, report_html=t4 - t2,
               cpu={"decode": c1 - c0, "health": c2 - c1, "report": c3 - c2, "report_html": c4 - c2},
               packets=len(packets), rtp=len(rtp), rtcp=len(rtcp), verdict=str(judged.verdict),
               text_bytes=len(text), html_bytes=len(page))
    return out


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)  # this tree's webrtcpcap
    return env


def _inprocess(path: Path) -> dict:
    res = subprocess.run([sys.executable, __file__, "--worker", str(path)], capture_output=True, text=True,
                         env=_env(), timeout=1800)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if res.returncode or not lines:
        raise SystemExit(f"in-process worker failed: {(res.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(lines[-1])


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


CPU: dict[str, float] = {}  # CPU seconds of the last _whole or _tshark call, by name (children's user + system)


def _whole(cmd: list[str], name: str = "") -> float:
    """Wall seconds of a command, start to exit (output discarded); its CPU seconds (and its children's) in
    CPU[name]."""
    t, c = time.perf_counter(), _children_cpu()
    res = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_env(), timeout=1800)
    seconds = time.perf_counter() - t
    CPU[name] = _children_cpu() - c
    if res.returncode not in (0, 1):  # report exits 1 for a call with errors: still a report
        raise SystemExit(f"{' '.join(cmd[:4])}: exit {res.returncode}: {res.stderr.strip()[-300:]}")
    return seconds


def _ours_whole(path: Path, html: Path) -> dict:
    py = sys.executable
    out = {"decode": _whole([py, "-c", DECODE_CODE, str(path)], "decode"),
           "health": _whole([py, "-c", HEALTH_CODE, str(path)], "health"),
           "report": _whole([py, "-m", "webrtcpcap", "report", str(path)], "report"),
           "report_html": _whole([py, "-m", "webrtcpcap", "report", str(path), "--html", str(html)], "report_html")}
    out["cpu"] = {k: CPU[k] for k in ("decode", "health", "report", "report_html")}
    return out


def _tshark(path: Path, fields: bool = True) -> dict:
    out, cpu = {}, {}
    if fields:
        c = _children_cpu()
        r = decode_speed._run_worker("tshark-fields", str(path))
        if "error" in r:
            raise SystemExit(f"tshark fields: {r['error']}")
        out["fields_pandas"] = r["seconds"]
        cpu["fields_pandas"] = _children_cpu() - c  # tshark and pandas, with the worker's interpreter start
    out["rtp_streams"] = _whole(["tshark", "-r", str(path), "-n", "-q", *decode_speed.DECODE_AS, "-z", "rtp,streams"],
                                "rtp_streams")
    cpu["rtp_streams"] = CPU["rtp_streams"]
    out["cpu"] = cpu
    return out


def _median(xs: list[float]) -> float:
    return decode_speed._median(xs)


def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "?") if Path("/proc/cpuinfo").exists() \
        else platform.processor()
    tshark = subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout.splitlines()
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "tshark": tshark[0] if tshark else "?", "commit": commit or "?"}


def load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--packets", type=int, default=1_000_000, help="the synthetic call's packets (default 1000000)")
    p.add_argument("--scale", type=int, default=5_000_000, help="the larger call, once (default 5000000; 0: none)")
    p.add_argument("--repeat", type=int, default=3, help="rounds at --packets, medians reported (default 3)")
    p.add_argument("--workdir", help="where the synthetic calls are written (default: a temporary folder)")
    p.add_argument("--json", help="also write every measurement here")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker_inprocess(args.worker)))
        return 0

    m = machine()
    print(f"machine: {m['nproc']} cores ({m['cpu']}), Python {m['python']}, {m['tshark']}, webrtcpcap {m['commit']}")
    print(f"before: {load()}", flush=True)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="webrtcpcap-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    figures: dict = {"machine": m, "load_before": os.getloadavg(), "packets": args.packets, "rounds": []}
    call = work / f"call-{args.packets}.pcap"
    if not call.exists():
        t = time.perf_counter()
        synth.write_capture(str(call) + ".part", args.packets, pcapng=False, seed=0)  # whole, or not there
        os.replace(str(call) + ".part", call)
        print(f"wrote {call.name} ({call.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.0f} s", flush=True)
    decode_speed._warm(str(call))
    html = work / "report.html"
    for k in range(args.repeat):  # ours and tshark alternate, so that a neighbour's burst falls on both
        round_ = {"in_process": _inprocess(call), "tshark": _tshark(call), "whole_process": _ours_whole(call, html)}
        figures["rounds"].append(round_)
        r = round_
        ours, theirs = r["in_process"], r["tshark"]
        print(f"round {k + 1}: decode {ours['decode']:.2f} s, health {ours['health']:.2f} s, report --html "
              f"{r['whole_process']['report_html']:.2f} s whole; tshark fields {theirs['fields_pandas']:.1f} s, "
              f"rtp,streams {theirs['rtp_streams']:.1f} s; CPU s: decode {ours['cpu']['decode']:.2f}, health "
              f"{ours['cpu']['health']:.2f}, report --html whole {r['whole_process']['cpu']['report_html']:.2f}, "
              f"tshark fields {theirs['cpu']['fields_pandas']:.2f}, rtp,streams {theirs['cpu']['rtp_streams']:.2f}; "
              f"{load()}", flush=True)
    rounds = figures["rounds"]
    med = {kind: {step: _median([r[kind][step] for r in rounds]) for step in rounds[0][kind]
                  if isinstance(rounds[0][kind][step], float)} for kind in ("in_process", "whole_process", "tshark")}
    cpu = {kind: {step: _median([r[kind]["cpu"][step] for r in rounds]) for step in rounds[0][kind]["cpu"]}
           for kind in ("in_process", "whole_process", "tshark")}
    figures["median_cpu"] = cpu
    figures["median"] = med
    n = rounds[0]["in_process"]["packets"]
    fields, streams = med["tshark"]["fields_pandas"], med["tshark"]["rtp_streams"]
    print(f"\n{n:,} packets, median of {len(rounds)} rounds (× = tshark's time over ours: how many times faster)")
    print(f"{'wall s':<16} {'in-process':>11} {'whole process':>14}   vs tshark -T fields→pandas {fields:.2f} s, "
          f"-z rtp,streams {streams:.2f} s")
    for step, label in (("decode", "decode"), ("health", "health"), ("report", "report"),
                        ("report_html", "report --html")):
        ins, whole = med["in_process"][step], med["whole_process"][step]
        print(f"{label:<16} {ins:>11.2f} {whole:>14.2f}   fields {fields / ins:>5.1f}× / {fields / whole:>5.1f}×, "
              f"rtp,streams {streams / ins:>5.1f}× / {streams / whole:>5.1f}×")
    print(f"decode rate: {n / med['in_process']['decode'] / 1e6:.2f} M packets/s in-process, "
          f"{n / med['whole_process']['decode'] / 1e6:.2f} M packets/s whole process", flush=True)
    cf, cs = cpu["tshark"]["fields_pandas"], cpu["tshark"]["rtp_streams"]
    print(f"\nthe same in CPU seconds (user + system, every thread; what a busy machine changes least): tshark -T "
          f"fields→pandas {cf:.2f} s (its worker's interpreter start included), -z rtp,streams {cs:.2f} s")
    print(f"{'CPU s':<16} {'in-process':>11} {'whole process':>14}")
    for step, label in (("decode", "decode"), ("health", "health"), ("report", "report"),
                        ("report_html", "report --html")):
        ins, whole = cpu["in_process"][step], cpu["whole_process"][step]
        print(f"{label:<16} {ins:>11.2f} {whole:>14.2f}   fields {cf / ins:>5.1f}× / {cf / whole:>5.1f}×, "
              f"rtp,streams {cs / ins:>5.1f}× / {cs / whole:>5.1f}×")

    if args.scale:
        big = work / f"call-{args.scale}.pcap"
        if not big.exists():
            t = time.perf_counter()
            synth.write_capture(str(big) + ".part", args.scale, pcapng=False, seed=0)
            os.replace(str(big) + ".part", big)
            print(f"\nwrote {big.name} ({big.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.0f} s",
                  flush=True)
        decode_speed._warm(str(big))
        ins = _inprocess(big)
        tsh = _tshark(big, fields=False)
        whole = _whole([sys.executable, "-m", "webrtcpcap", "report", str(big), "--html", str(html)], "big")
        figures["scale"] = {"packets": ins["packets"], "in_process": ins, "tshark": tsh, "report_html_whole": whole}
        ratio = ins["packets"] / n
        print(f"\n{ins['packets']:,} packets ({ratio:.1f}× the packets), once: time and its ratio to the "
              f"{n:,}-packet median")
        for label, t, base in (("decode", ins["decode"], med["in_process"]["decode"]),
                               ("health", ins["health"], med["in_process"]["health"]),
                               ("report --html whole", whole, med["whole_process"]["report_html"]),
                               ("tshark rtp,streams", tsh["rtp_streams"], streams)):
            print(f"{label:<20} {t:>8.2f} s  {t / base:>5.1f}×")
        print(f"CPU s: decode {ins['cpu']['decode']:.2f} ({ins['cpu']['decode'] / cpu['in_process']['decode']:.1f}×), "
              f"health {ins['cpu']['health']:.2f} ({ins['cpu']['health'] / cpu['in_process']['health']:.1f}×), "
              f"report --html whole {CPU['big']:.2f} ({CPU['big'] / cpu['whole_process']['report_html']:.1f}×), "
              f"tshark rtp,streams {tsh['cpu']['rtp_streams']:.2f} ({tsh['cpu']['rtp_streams'] / cs:.1f}×)")
    figures["load_after"] = os.getloadavg()
    print(f"\nafter: {load()}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    if not args.workdir:
        for f in work.iterdir():
            f.unlink()
        work.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
