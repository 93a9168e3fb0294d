"""How fast webrtcpcap.protocols.srtp.Decryptor decrypts SRTP: packets per second of `Decryptor.rtp` over N packets.

The packets are crafted first (not timed) with a pylibsrtp sender session under a random key: one SSRC per
--streams, sequence numbers from a random start (so the stream crosses the 65535 -> 0 wrap when N is large), a
payload of --size bytes.  Then a fresh Decryptor, fed all of them in capture order in one call, is timed
(--repeat runs; the best is the figure, all are printed: the machine may be shared).  Every packet
must come back authenticated, or the run fails.  The target of issue 6 is >= 200 000 packets/s.

Usage: python benchmarks/srtp_speed.py [--packets 1000000] [--size 160] [--profile SRTP_AES128_CM_HMAC_SHA1_80]
                                       [--streams 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pylibsrtp  # noqa: E402

from webrtcpcap.protocols.srtp import Decryptor, Profile  # noqa: E402

TARGET = 200_000


def craft(profile: Profile, n: int, size: int, streams: int, seed: int = 1) -> tuple[bytes, bytes, list[bytes]]:
    """N protected SRTP packets of `streams` interleaved SSRCs under a random master key."""
    rnd = np.random.default_rng(seed)
    key, salt = rnd.bytes(profile.key_len), rnd.bytes(profile.salt_len)
    tx = pylibsrtp.Session(pylibsrtp.Policy(key + salt, pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
                                            srtp_profile=profile.libsrtp))
    payload = rnd.bytes(size)
    starts = [int(s) for s in rnd.integers(0, 1 << 16, streams)]
    protect, pack = tx.protect, struct.Struct(">BBHII").pack
    out = []
    for i in range(n):
        s, k = i % streams, i // streams
        out.append(protect(pack(0x80, 96 + s, (starts[s] + k) & 0xFFFF, k * 3000 & 0xFFFFFFFF, 0x1000 + s) + payload))
    return key, salt, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--size", type=int, default=160, help="RTP payload bytes per packet (default 160)")
    ap.add_argument("--profile", default="SRTP_AES128_CM_HMAC_SHA1_80", help="DTLS or SDES profile name")
    ap.add_argument("--streams", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs, each with a fresh Decryptor (default 3)")
    args = ap.parse_args(argv)
    profile = Profile.from_name(args.profile)

    t = time.perf_counter()
    key, salt, packets = craft(profile, args.packets, args.size, args.streams)
    crafted = time.perf_counter() - t
    times, ok = [], []
    for _ in range(max(1, args.repeat)):
        dec = Decryptor(key, salt, profile)
        t = time.perf_counter()
        res = dec.rtp(packets)
        times.append(time.perf_counter() - t)
        ok.append(int(res.auth_ok.sum()))
        del res
    elapsed = min(times)
    rate = args.packets / elapsed
    wire = sum(map(len, packets))

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"pylibsrtp {pylibsrtp.__version__}")
    print(f"profile {profile.name}, {args.packets} packets of {args.size}-byte payload "
          f"({wire / args.packets:.0f} bytes on the wire), {args.streams} SSRCs; crafted in {crafted:.2f} s")
    print("Decryptor.rtp runs: " + ", ".join(f"{t:.2f} s ({args.packets / t:,.0f}/s)" for t in times))
    verdict = "met" if rate >= TARGET else "NOT met"
    print(f"best: {elapsed:.2f} s, {rate:,.0f} packets/s, {wire / elapsed / 1e6:.0f} MB/s; authenticated "
          f"{min(ok)}/{args.packets} in every run; target {TARGET:,} packets/s: {verdict}")
    return 0 if min(ok) == args.packets else 1


if __name__ == "__main__":
    sys.exit(main())
