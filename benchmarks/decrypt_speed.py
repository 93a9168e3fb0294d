"""How fast `webrtcpcap.open(path, srtp_keys=...)` decrypts a large SRTP capture, end to end.

A capture of --packets SRTP packets (default 1 000 000) is crafted first (not timed) into /tmp, with struct and
pylibsrtp (no scapy: too slow): Ethernet/IPv4/UDP frames of two streams on one 5-tuple, audio a->b (PT 111, 160-byte
payloads, 20 ms) and video b->a (PT 96, 1000-byte payloads), alternating, with proper RTP headers, sequence numbers
from a random start (so each stream crosses the 65535 -> 0 wrap several times), protected with one SDES-style
master key (AES_CM_128_HMAC_SHA1_80, no DTLS).  The flow counts as WebRTC from its runs of RTP.

Then, each in a fresh Python process so that its peak memory (ru_maxrss) is its own:
  plain    `open(path)` + `cap.rtp`, no keys: the decoding cost alone;
  keys     `open(path, srtp_keys={"any": base64})`, then `cap.packets` (decoding), `cap.decryption` (the decryption
           stage alone: finding the key, re-reading the payloads, libsrtp), then `cap.rtp` (the auth_ok and
           srtp_status columns); every packet must authenticate, or the run fails.
The decryption stage's packets/s and the whole run's are printed next to the target of issue 6 (>= 200 000
packets/s for decrypting a 1 M-packet capture).  --profile prints the top of a cProfile of the decryption stage.
Runs are short but the machine may be shared: --repeat N keeps the best of N for each stage.

Usage: python benchmarks/decrypt_speed.py [--packets 1000000] [--out /tmp/webrtcpcap_srtp_1000000.pcap]
                                          [--repeat 1] [--profile] [--keep]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import resource
import struct
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from webrtcpcap.net.layers import internet_checksum  # noqa: E402
from webrtcpcap.io.pcap_writer import LINKTYPE_ETHERNET, PcapWriter  # noqa: E402

TARGET = 200_000
KEY = bytes(range(101, 131))  # master key || salt (30 bytes); the benchmark's own, not a secret
A, B = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
A_PORT, B_PORT = 50_000, 50_002
STREAMS = (  # (ssrc, pt, payload bytes, clock ticks per packet, src, sport, dst, dport)
    (0x0A0D10, 111, 160, 960, A, A_PORT, B, B_PORT),
    (0x0B1DE0, 96, 1000, 3000, B, B_PORT, A, A_PORT),
)


def _headers(src: bytes, sport: int, dst: bytes, dport: int, udp_payload: int) -> bytes:
    """Ethernet + IPv4 + UDP headers for a datagram of `udp_payload` bytes (UDP checksum 0: none, RFC 768)."""
    eth = bytes.fromhex("020000000002" "020000000001") + struct.pack(">H", 0x0800)
    ip = bytearray(struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + 8 + udp_payload, 0, 0x4000, 64, 17, 0, src, dst))
    struct.pack_into(">H", ip, 10, internet_checksum(bytes(ip)))
    return eth + bytes(ip) + struct.pack(">HHHH", sport, dport, 8 + udp_payload, 0)


def craft(path: Path, n: int, seed: int = 7) -> None:
    """Write `n` SRTP frames (two streams, alternating) to a classic pcap at `path`."""
    import numpy as np
    import pylibsrtp

    rnd = np.random.default_rng(seed)
    tx = pylibsrtp.Session(pylibsrtp.Policy(KEY, pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
    protect = tx.protect
    rtp_head = struct.Struct(">BBHII").pack
    plans = []
    for ssrc, pt, size, ticks, src, sport, dst, dport in STREAMS:
        payload = rnd.bytes(size)
        frame_head = _headers(src, sport, dst, dport, 12 + size + 10)
        plans.append((ssrc, pt, payload, ticks, frame_head, int(rnd.integers(0, 1 << 16)),
                      int(rnd.integers(0, 1 << 32))))
    t0_us = 1_700_000_000 * 1_000_000
    with open(path, "wb") as f:
        pcap = PcapWriter(f, "pcap", [(LINKTYPE_ETHERNET, 65535)])
        parts = []
        for i in range(n):
            ssrc, pt, payload, ticks, frame_head, seq0, ts0 = plans[i & 1]
            k = i >> 1
            packet = protect(rtp_head(0x80, pt, (seq0 + k) & 0xFFFF, (ts0 + k * ticks) & 0xFFFFFFFF, ssrc) + payload)
            frame = frame_head + packet
            us = t0_us + i * 10_000  # 100 frames/s
            parts.append(pcap.record(frame, us * 1000))
            if len(parts) >= 200_000:
                f.write(b"".join(parts))
                parts.clear()
        f.write(b"".join(parts))


def _stage(kind: str, path: str, profile: bool) -> dict:
    """One measured run in this process: timings (s), counts and the peak RSS (bytes)."""
    import webrtcpcap

    out: dict = {}
    c0 = time.process_time()
    t0 = time.perf_counter()
    if kind == "plain":
        cap = webrtcpcap.open(path, progress=False)
        rtp = cap.rtp
        out["total_s"] = time.perf_counter() - t0
        out["total_cpu_s"] = time.process_time() - c0
        out["rtp_rows"] = len(rtp)
    else:
        cap = webrtcpcap.open(path, progress=False, srtp_keys={"any": base64.b64encode(KEY).decode()})
        t_open = time.perf_counter()
        _ = cap.packets  # frames -> tables: what the plain run does too
        t_decode = time.perf_counter()
        c_decode = time.process_time()
        if profile:
            import cProfile
            import io
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            d = cap.decryption
            prof.disable()
            text = io.StringIO()
            pstats.Stats(prof, stream=text).sort_stats("cumulative").print_stats(25)
            out["profile"] = text.getvalue()
        else:
            d = cap.decryption
        t_decrypt = time.perf_counter()
        c_decrypt = time.process_time()
        rtp = cap.rtp
        t_end = time.perf_counter()
        out.update(decryption_cpu_s=c_decrypt - c_decode, total_cpu_s=time.process_time() - c0)
        out.update(open_s=t_open - t0, decode_s=t_decode - t_open, decryption_s=t_decrypt - t_decode,
                   columns_s=t_end - t_decrypt, total_s=t_end - t0, rtp_rows=len(rtp),
                   authenticated=int(rtp["auth_ok"].fillna(False).sum()), problems=list(d.problems))
    out["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kilobytes
    return out


def _run_stage(kind: str, path: Path, profile: bool) -> dict:
    done = subprocess.run([sys.executable, __file__, "--stage", kind, str(path)] + (["--profile"] if profile else []),
                          capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"the {kind} stage failed")
    return json.loads(done.stdout)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, default=None, help="capture path (default /tmp/webrtcpcap_srtp_N.pcap)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each stage; the best is the figure")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of the decryption stage")
    ap.add_argument("--keep", action="store_true", help="keep the crafted capture (it is reused when present)")
    ap.add_argument("--stage", choices=["plain", "keys"], help=argparse.SUPPRESS)
    ap.add_argument("path", nargs="?", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.stage:
        print(json.dumps(_stage(args.stage, args.path, args.profile)))
        return 0

    n = args.packets
    path = args.out or Path(f"/tmp/webrtcpcap_srtp_{n}.pcap")
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    if not path.exists():
        t = time.perf_counter()
        craft(path, n)
        print(f"crafted {n:,} SRTP frames ({path.stat().st_size / 1e6:.0f} MB) into {path} "
              f"in {time.perf_counter() - t:.1f} s")
    else:
        print(f"reusing {path} ({path.stat().st_size / 1e6:.0f} MB)")
    try:
        plain = min((_run_stage("plain", path, False) for _ in range(args.repeat)), key=lambda r: r["total_s"])
        keyed_runs = [_run_stage("keys", path, args.profile and i == 0) for i in range(args.repeat)]
    finally:
        if not args.keep:
            path.unlink(missing_ok=True)
    keyed = min(keyed_runs, key=lambda r: r["total_s"])
    best_decrypt = min(r["decryption_s"] for r in keyed_runs)
    if keyed["rtp_rows"] != n or keyed["authenticated"] != n:
        print(f"FAILED: {keyed['authenticated']:,} of {keyed['rtp_rows']:,} rows authenticated "
              f"(expected {n:,}); problems: {keyed['problems']}")
        return 1
    mb = 1 << 20
    print(f"open + cap.rtp, no keys:     {plain['total_s']:6.2f} s  {n / plain['total_s']:>10,.0f} packets/s  "
          f"(CPU {plain['total_cpu_s']:.2f} s)  peak RSS {plain['peak_rss_bytes'] / mb:,.0f} MiB")
    print(f"open + cap.rtp, with keys:   {keyed['total_s']:6.2f} s  {n / keyed['total_s']:>10,.0f} packets/s  "
          f"(CPU {keyed['total_cpu_s']:.2f} s)  peak RSS {keyed['peak_rss_bytes'] / mb:,.0f} MiB")
    print(f"  of which open {keyed['open_s']:.2f} s, decode {keyed['decode_s']:.2f} s, decryption "
          f"{keyed['decryption_s']:.2f} s, rtp columns {keyed['columns_s']:.2f} s")
    print(f"difference keys - no keys:   {keyed['total_s'] - plain['total_s']:6.2f} s")
    rate = n / best_decrypt
    verdict = "meets" if rate >= TARGET else "is below"
    print(f"decryption stage (cap.decryption): {best_decrypt:.2f} s = {rate:,.0f} packets/s, "
          f"which {verdict} the target of {TARGET:,} packets/s")
    cpu = min(r["decryption_cpu_s"] for r in keyed_runs)
    print(f"  in CPU time (one thread; what an idle machine would see): {cpu:.2f} s = {n / cpu:,.0f} packets/s; "
          f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.profile:
        print(keyed_runs[0]["profile"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
