"""A long-lived worker of the campaign: `python -m fuzz.worker files ...` or `... decoders ...`.

It sets its own RLIMIT_AS (so a memory blow-up is a MemoryError here, a failure, not the machine's problem), then
checks one generated file after another (or runs decoder batches), printing one JSON line per file or batch to
stdout for the campaign.  Failing inputs are saved under OUT/failures/<signature hash>/ (a few per signature).
After a memory or CPU-budget failure it exits with code 3, and the campaign starts a fresh one at the next seed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time

RESTART = 3
MAX_SAVED_PER_SIGNATURE = 3


def level_of(seed: int, shares: tuple[float, float, float]) -> int:
    """The check level of a seed: level 3, 2, 1 with the given shares, else 0 (deterministic from the seed)."""
    u = ((seed * 2654435761) & 0xFFFFFFFF) / 2 ** 32
    p3, p2, p1 = shares
    return 3 if u < p3 else 2 if u < p3 + p2 else 1 if u < p3 + p2 + p1 else 0


def signature_dir(out: str, signature: str) -> str:
    return os.path.join(out, "failures", hashlib.sha1(signature.encode()).hexdigest()[:12])


def save_failure(out: str, signature: str, name: str, data: bytes, info: dict) -> bool:
    d = signature_dir(out, signature)
    os.makedirs(d, exist_ok=True)
    if len([f for f in os.listdir(d) if f.endswith(".bin")]) >= MAX_SAVED_PER_SIGNATURE:
        return False
    with open(os.path.join(d, name + ".bin"), "wb") as f:
        f.write(data)
    with open(os.path.join(d, name + ".json"), "w") as f:
        json.dump({"signature": signature, **info}, f, indent=1)
    return True


def run_files(args) -> int:
    from . import capfile, checks, mutate

    checks.set_memory_limit(args.mem_mb)
    seeds = capfile.load_seeds()
    if not seeds:
        print(json.dumps({"error": "no seed captures"}), flush=True)
        return 2
    path = os.path.join(args.tmp, f"fuzz-{os.getpid()}.cap")
    shares = tuple(args.shares)
    seed = args.start
    end = args.start + args.stride * args.count
    deadline = time.monotonic() + args.seconds if args.seconds else None
    try:
        while seed < end and (deadline is None or time.monotonic() < deadline):
            data, desc = mutate.generate(seed, seeds)
            with open(path, "wb") as f:
                f.write(data)
            level = level_of(seed, shares)
            t0 = time.process_time()
            r = checks.check_file(path, data, level)
            line = {"seed": seed, "level": level, "frames": r.frames, "cpu": round(time.process_time() - t0, 4),
                    "fail": [], "warn": dict(r.warnings), "doc": dict(r.documented_errors)}
            for f in r.failures:
                line["fail"].append({"sig": f.signature, "kind": f.kind, "where": f.where})
                save_failure(args.out, f.signature, f"seed{seed}", data,
                             {"seed": seed, "level": level, "mutations": desc, "step": f.step, "message": f.message,
                              "traceback_tail": f.tail})
            print(json.dumps(line), flush=True)
            if r.fatal:
                return RESTART
            seed += args.stride
    finally:
        if os.path.exists(path):
            os.unlink(path)
    return 0


def run_decoders(args) -> int:
    from . import checks, decoders

    checks.set_memory_limit(args.mem_mb)
    driver = decoders.Driver(seed=args.start)
    deadline = time.monotonic() + args.seconds if args.seconds else None
    done = 0
    while done < args.count and (deadline is None or time.monotonic() < deadline):
        stats = driver.batch(min(args.batch, args.count - done))
        done += stats["inputs"]
        line = {"decoder_inputs": stats["inputs"], "per_decoder": stats["per_decoder"], "fail": []}
        for sig, (f, data) in stats["failures"].items():
            line["fail"].append({"sig": sig, "kind": f.kind, "where": f.where})
            save_failure(args.out, sig, f"{f.step}-{hashlib.sha1(data).hexdigest()[:10]}", data,
                         {"decoder": f.step, "message": f.message, "traceback_tail": f.tail})
        print(json.dumps(line), flush=True)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m fuzz.worker")
    p.add_argument("mode", choices=("files", "decoders"))
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--stride", type=int, default=1)
    p.add_argument("--count", type=int, default=10 ** 12)
    p.add_argument("--seconds", type=float, default=0)
    p.add_argument("--batch", type=int, default=20_000)
    p.add_argument("--mem-mb", type=int, default=1024, help="address space allowed above the worker's start")
    p.add_argument("--shares", type=float, nargs=3, default=(0.002, 0.01, 0.19),
                   help="shares of files checked at levels 3, 2 and 1 (the rest: level 0)")
    p.add_argument("--out", default="fuzz/out")
    p.add_argument("--tmp", default="/dev/shm" if os.path.isdir("/dev/shm") else "/tmp")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    return run_files(args) if args.mode == "files" else run_decoders(args)


if __name__ == "__main__":
    sys.exit(main())
