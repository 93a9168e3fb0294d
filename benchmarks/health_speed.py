"""How long a user waits for a verdict: `health(cap)` after decoding, in-process, with and without an SDP naming the
codecs, and `webrtcpcap report --html` as a whole process (interpreter start and decode included), each paired with
`tshark -q -z rtp,streams` on the same file in the same run (issue 18).

    python benchmarks/synth.py /tmp/call1m.pcap --packets 1000000          # the 1 M-packet synthetic call
    PYTHONPATH=$PWD python benchmarks/health_speed.py /tmp/call1m.pcap --repeat 3
    PYTHONPATH=/tmp/old python benchmarks/health_speed.py /tmp/call1m.pcap   # an older copy, for before/after

Every figure is the median of --repeat runs, the runs alternating between ours and tshark's so that both meet the
same load; the load average is printed beside each.  In-process figures come from a fresh worker process per run
(this script re-invoked with --worker): `open()` and the packets/rtp/rtcp/stun/streams tables are built first and
timed apart ("decode"), then `health(cap)` ("health"); wall and CPU seconds of each.  The SDP is written next to the
capture: synth's call (opus/111 audio, VP8/96 video, the synth's SSRCs); `--sdp FILE` gives another.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SYNTH_SDP = """v=0
o=- 1 2 IN IP4 10.0.0.1
s=-
t=0 0
a=group:BUNDLE 0 1
m=audio 50000 UDP/TLS/RTP/SAVPF 111
c=IN IP4 10.0.0.1
a=mid:0
a=rtpmap:111 opus/48000/2
a=ssrc:2525525899 cname:a
m=video 50000 UDP/TLS/RTP/SAVPF 96
c=IN IP4 10.0.0.1
a=mid:1
a=rtpmap:96 VP8/90000
a=rtcp-fb:96 nack
a=rtcp-fb:96 nack pli
a=ssrc:3660504667 cname:a
"""
DECODE_AS = ["-d", "udp.port==50000,rtp"]  # synth's media port, as benchmarks/decode_speed.py binds it


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def worker(path: str, sdp: str | None) -> None:
    """One in-process run: decode, then health; prints one JSON line."""
    import webrtcpcap
    w0, c0 = time.perf_counter(), time.process_time()
    cap = webrtcpcap.open(path, progress=False, **({"sdp": [sdp]} if sdp else {}))
    for name in ("packets", "rtp", "rtcp", "stun", "streams"):
        getattr(cap, name)
    w1, c1 = time.perf_counter(), time.process_time()
    h = webrtcpcap.health(cap)
    w2, c2 = time.perf_counter(), time.process_time()
    print(json.dumps({"decode_wall": w1 - w0, "decode_cpu": c1 - c0, "health_wall": w2 - w1, "health_cpu": c2 - c1,
                      "verdict": h.verdict, "library": webrtcpcap.__file__}))


def timed(cmd: list[str], ok=(0,)) -> tuple[float, float, str]:
    """(wall, CPU of the children, stdout) of one process; `ok`: its exit codes that mean it worked."""
    before = os.times()
    t0 = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=tempfile.gettempdir())
    wall = time.perf_counter() - t0
    after = os.times()
    if r.returncode not in ok:
        raise SystemExit(f"{cmd[:4]}... exited {r.returncode}")
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system), \
        r.stdout


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("capture")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sdp", help="an SDP naming the codecs (default: synth's call, written next to the capture)")
    ap.add_argument("--skip-report", action="store_true", help="leave out the whole-process report --html")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.capture, args.sdp)
        return 0
    sdp = args.sdp
    if sdp is None:
        sdp = str(Path(tempfile.gettempdir()) / "health_speed_synth.sdp")
        Path(sdp).write_text(SYNTH_SDP)
    me = [sys.executable, os.path.abspath(__file__), args.capture, "--worker"]
    tshark = ["tshark", "-r", args.capture, "-n", "-q", *DECODE_AS, "-z", "rtp,streams"]
    figures: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        figures.setdefault(name, []).append(value)

    import webrtcpcap  # where the library comes from: the workers inherit PYTHONPATH
    print(f"{webrtcpcap.__file__}; {args.capture}; load average {load()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            wall, cpu, _ = timed(tshark)
            add("tshark -z rtp,streams wall", wall)
            add("tshark -z rtp,streams cpu", cpu)
            for label, extra in (("", []), (" sdp", ["--sdp", sdp])):
                got = json.loads(timed(me + extra)[2].strip().splitlines()[-1])
                for k in ("decode_wall", "decode_cpu", "health_wall", "health_cpu"):
                    add(f"{k.replace('_', ' ')}{label}", got[k])
            if not args.skip_report:
                wall, cpu, _ = timed([sys.executable, "-m", "webrtcpcap", "report", args.capture, "--html",
                                      os.path.join(tmp, "r.html")], ok=(0, 1))  # 1: problems found
                add("report --html process wall", wall)
                add("report --html process cpu", cpu)
            print(f"run {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in figures.items())
                  + f"; load {load()}", flush=True)
    median = {k: statistics.median(v) for k, v in figures.items()}
    ref = median["tshark -z rtp,streams wall"]
    print(f"medians of {args.repeat} (s), load average now {load()}:")
    for k, v in median.items():
        ratio = f"  ({v / ref:.2f}x tshark -z rtp,streams wall)" if k.endswith("wall") and "tshark" not in k else ""
        print(f"  {k:34s} {v:7.2f}{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
