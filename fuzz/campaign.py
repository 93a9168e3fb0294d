"""`python -m fuzz` / `make fuzz`: the long campaign.  Starts file workers and one decoder worker (long-lived
subprocesses, fuzz.worker), restarts a worker that crashed or hit its budget at the next seed, and prints a summary
table: files (per check level), frames, decoder inputs (per decoder), failures by kind and place, elapsed time.

A worker that dies without reporting its file (a segfault, the kernel's OOM killer) is a failure of kind "crash"
at that seed: the file is regenerated from the seed and saved like any other.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections import Counter

from .worker import RESTART, save_failure

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Tally:
    def __init__(self):
        self.files = Counter()  # per level
        self.frames = 0
        self.decoder_inputs = 0
        self.per_decoder = Counter()
        self.failures = Counter()  # signature -> count
        self.first_seen: dict[str, dict] = {}
        self.documented = Counter()
        self.warnings = Counter()
        self.cpu = 0.0
        self.restarts = 0

    def add(self, line: dict) -> None:
        if "seed" in line:
            self.files[line["level"]] += 1
            self.frames += line["frames"]
            self.cpu += line.get("cpu", 0.0)
            self.documented.update(line.get("doc", {}))
            self.warnings.update(line.get("warn", {}))
        if "decoder_inputs" in line:
            self.decoder_inputs += line["decoder_inputs"]
            self.per_decoder.update(line["per_decoder"])
        for f in line.get("fail", ()):
            self.failures[f["sig"]] += 1
            self.first_seen.setdefault(f["sig"], {**f, "seed": line.get("seed")})

    def table(self, elapsed: float) -> str:
        files = sum(self.files.values())
        out = ["webrtcpcap fuzzing campaign", "=" * 27,
               f"elapsed            {elapsed:,.0f} s (worker CPU on files {self.cpu:,.0f} s)",
               f"files              {files:,}  (by check level: " + ", ".join(
                   f"{lvl}: {self.files[lvl]:,}" for lvl in sorted(self.files)) + ")",
               f"frames read        {self.frames:,}",
               f"decoder inputs     {self.decoder_inputs:,}",
               f"worker restarts    {self.restarts}",
               f"failures           {sum(self.failures.values()):,} in {len(self.failures)} distinct signatures"]
        if self.failures:
            out.append("")
            out.append(f"{'count':>7}  {'kind':<12} {'where':<48} first seed / what")
            for sig, count in self.failures.most_common():
                kind, where, what = (sig.split("|", 2) + ["", ""])[:3]
                seed = self.first_seen[sig].get("seed")
                out.append(f"{count:>7}  {kind:<12} {where[:48]:<48} {seed if seed is not None else '-'} {what[:70]}")
        if self.per_decoder:
            out.append("")
            out.append("decoder inputs by decoder: " + ", ".join(f"{k} {v:,}" for k, v in self.per_decoder.most_common()))
        if self.warnings:
            out.append("")
            out.append("warnings (not failures): " + ", ".join(f"{k} x{v}" for k, v in self.warnings.most_common(8)))
        if self.documented:
            out.append("documented errors (not failures): " + ", ".join(
                f"{k} x{v}" for k, v in self.documented.most_common(6)))
        return "\n".join(out)


class Worker:
    def __init__(self, mode: str, index: int, args, start: int):
        self.mode, self.index, self.args = mode, index, args
        self.next_seed = start
        self.buf = b""
        self.proc: subprocess.Popen | None = None

    def spawn(self, remaining_inputs: int | None = None) -> None:
        a = self.args
        cmd = [sys.executable, "-m", "fuzz.worker", self.mode, "--start", str(self.next_seed), "--out", a.out,
               "--mem-mb", str(a.mem_mb)]
        if self.mode == "files":
            cmd += ["--stride", str(a.workers), "--shares", *map(str, a.shares)]
        else:
            cmd += ["--count", str(max(remaining_inputs or 0, 1))]
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     preexec_fn=lambda: os.nice(a.nice) if a.nice else None)


def run(args) -> int:
    os.makedirs(args.out, exist_ok=True)
    tally = Tally()
    t0 = time.monotonic()
    workers = [Worker("files", i, args, args.seed + i) for i in range(args.workers)]
    decoder = Worker("decoders", 0, args, args.seed) if args.decoder_inputs else None
    sel = selectors.DefaultSelector()

    def start(w: Worker) -> None:
        w.spawn(args.decoder_inputs - tally.decoder_inputs if w.mode == "decoders" else None)
        w.buf = b""
        sel.register(w.proc.stdout, selectors.EVENT_READ, w)

    for w in workers + ([decoder] if decoder else []):
        start(w)
    last_table = t0
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    seeds_generated = None
    try:
        while sel.get_map():
            elapsed = time.monotonic() - t0
            files = sum(tally.files.values())
            done = (files >= args.files and tally.decoder_inputs >= args.decoder_inputs)
            if stopping or done or (args.seconds and elapsed > args.seconds):
                break
            for key, _ in sel.select(timeout=1.0):
                w: Worker = key.data
                chunk = os.read(key.fileobj.fileno(), 1 << 16)
                if chunk:
                    w.buf += chunk
                    *lines, w.buf = w.buf.split(b"\n")
                    for raw in lines:
                        try:
                            line = json.loads(raw)
                        except ValueError:
                            continue
                        tally.add(line)
                        if "seed" in line:
                            w.next_seed = line["seed"] + args.workers
                    continue
                sel.unregister(key.fileobj)
                code = w.proc.wait()
                if w.mode == "decoders":
                    if tally.decoder_inputs < args.decoder_inputs and code != 0:
                        tally.restarts += 1
                        start(w)
                    continue
                if code not in (0, RESTART):  # died without reporting the file it was on
                    if seeds_generated is None:
                        from . import capfile

                        seeds_generated = capfile.load_seeds()
                    from .mutate import generate

                    data, desc = generate(w.next_seed, seeds_generated)
                    sig = f"crash|worker exit {code}|"
                    tally.add({"fail": [{"sig": sig, "kind": "crash", "where": f"exit {code}"}], "seed": w.next_seed,
                               "level": -1, "frames": 0})
                    save_failure(args.out, sig, f"seed{w.next_seed}", data, {"seed": w.next_seed, "mutations": desc,
                                                                            "exit": code})
                    w.next_seed += args.workers
                tally.restarts += 1
                start(w)
            now = time.monotonic()
            if now - last_table > args.report_every:
                last_table = now
                _write(args.out, tally.table(now - t0))
    finally:
        for key in list(sel.get_map().values()):
            w = key.data
            if w.proc and w.proc.poll() is None:
                w.proc.terminate()
                try:
                    w.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    w.proc.kill()
    text = tally.table(time.monotonic() - t0)
    _write(args.out, text)
    print(text)
    return 1 if tally.failures else 0


def _write(out: str, text: str) -> None:
    tmp = os.path.join(out, "summary.txt.tmp")
    with open(tmp, "w") as f:
        f.write(text + "\n")
    os.replace(tmp, os.path.join(out, "summary.txt"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__)
    p.add_argument("--files", type=int, default=100_000, help="stop after this many whole files ...")
    p.add_argument("--decoder-inputs", type=int, default=10_000_000, help="... and this many decoder inputs")
    p.add_argument("--seconds", type=float, default=0, help="or after this long (0: no limit)")
    p.add_argument("--workers", type=int, default=2, help="file workers (one decoder worker besides)")
    p.add_argument("--seed", type=int, default=0, help="first seed: file i of worker w has seed SEED + w + i*WORKERS")
    p.add_argument("--mem-mb", type=int, default=1024, help="address space a worker may add to its start")
    p.add_argument("--shares", type=float, nargs=3, default=(0.002, 0.01, 0.19),
                   help="shares of files checked at levels 3 (+HTML report), 2 (+analyses), 1 (+tables)")
    p.add_argument("--nice", type=int, default=19)
    p.add_argument("--out", default=os.path.join(REPO, "fuzz", "out"))
    p.add_argument("--report-every", type=float, default=30.0, help="seconds between OUT/summary.txt updates")
    args = p.parse_args(argv)
    args.out = os.path.abspath(args.out)
    return run(args)
