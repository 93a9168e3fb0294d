"""`webrtcpcap report --html` on every capture in captures/ and ../shared/public-captures/: wall and CPU seconds and
peak RSS of each run (GNU time, `/usr/bin/time -v`), against the budget of issue 16 (20 s, 1 GB).

    python benchmarks/report_speed.py                       # the library this script's interpreter imports
    python benchmarks/report_speed.py --json out.json --only janus,rtpdump
    PYTHONPATH=/tmp/old python benchmarks/report_speed.py   # an older copy of the library, for before/after

Each capture runs in its own process, with no key log or SDP (what a user who has only the capture gets); the
text report goes to /dev/null and the HTML to a temporary file.  The machine is shared: the load average is printed
before and after, and CPU seconds (user + system) say more than wall seconds when it is busy.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUDGET_S, BUDGET_RSS_MB = 20.0, 1024.0


def captures(only: str | None) -> list[str]:
    paths = sorted(glob.glob(str(REPO / "captures" / "*.pcap*"))) + sorted(
        glob.glob(str(REPO.parent / "shared" / "public-captures" / "*.pcap*")))
    names = only.split(",") if only else None
    return [p for p in paths if names is None or any(n in os.path.basename(p) for n in names)]


def run_one(path: str, html: str) -> dict:
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "webrtcpcap", "report", path, "--html", html]
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tempfile.gettempdir())
    def field(name: str) -> str:
        m = re.search(rf"^\s*{re.escape(name)}: (.+)$", r.stderr, re.M)
        return m.group(1).strip() if m else ""
    wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss)")
    parts = [float(x) for x in wall.split(":")] if wall else [0.0]
    seconds = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    return {"capture": os.path.basename(path), "exit": r.returncode, "wall_s": seconds,
            "cpu_s": float(field("User time (seconds)") or 0) + float(field("System time (seconds)") or 0),
            "rss_mb": int(field("Maximum resident set size (kbytes)") or 0) / 1024,
            "traceback": "Traceback" in r.stderr}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="captures whose name contains one of these (comma-separated)")
    ap.add_argument("--json", help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    import webrtcpcap  # where the library comes from: the subprocesses inherit PYTHONPATH

    print(f"{webrtcpcap.__file__}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in captures(args.only):
            row = run_one(path, os.path.join(tmp, "report.html"))
            rows.append(row)
            over = row["wall_s"] > BUDGET_S or row["rss_mb"] > BUDGET_RSS_MB
            print(f"{row['capture']:55s} exit {row['exit']}  wall {row['wall_s']:6.2f} s  cpu {row['cpu_s']:6.2f} s  "
                  f"peak RSS {row['rss_mb']:7.1f} MB{'  OVER BUDGET' if over else ''}"
                  f"{'  TRACEBACK' if row['traceback'] else ''}", flush=True)
    worst = max(rows, key=lambda r: r["cpu_s"]) if rows else None
    if worst:
        print(f"{len(rows)} captures; most CPU: {worst['capture']} {worst['cpu_s']:.2f} s; max wall "
              f"{max(r['wall_s'] for r in rows):.2f} s; max peak RSS {max(r['rss_mb'] for r in rows):.1f} MB; "
              f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
