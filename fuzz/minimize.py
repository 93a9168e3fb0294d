"""Shrink a failing capture while it keeps failing the same way: records (classic pcap) or blocks (pcapng) are
dropped by delta debugging, then the file's tail is cut.  gzip files are kept as they are (their damage is the
point).  `python -m fuzz.minimize FAILURE.bin OUT.bin [--level N] [--signature SIG]`: the level and signature
default to the ones in FAILURE.json, written beside the input by the campaign.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import struct
import tempfile

from . import capfile, checks


def split(data: bytes) -> tuple[bytes, list[bytes], bytes] | None:
    """(prefix, units, tail): the file header (pcap), its records or blocks as far as they chain, the rest."""
    if data[:2] == b"\x1f\x8b" or len(data) < 24:
        return None
    try:
        cap = capfile.parse(data)
    except (ValueError, struct.error):
        return None
    if isinstance(cap, capfile.Pcap):
        prefix, units = cap.header, cap.records
    else:
        prefix, units = b"", cap.blocks
    used = len(prefix) + sum(len(u) for u in units)
    return prefix, units, data[used:]


def fails_same(data: bytes, signature: str, level: int, tmpdir: str) -> bool:
    path = os.path.join(tmpdir, "candidate.cap")
    with open(path, "wb") as f:
        f.write(data)
    result = checks.check_file(path, data, level)
    return any(f.signature == signature for f in result.failures)


def minimize(data: bytes, signature: str, level: int, budget: int = 300) -> bytes:
    """The smallest variant found (at most `budget` checks) that still fails with `signature`."""
    parts = split(data)
    if parts is None:
        return data
    prefix, units, tail = parts
    with tempfile.TemporaryDirectory() as tmp:
        tries = 0

        def still(us: list[bytes], t: bytes) -> bool:
            nonlocal tries
            tries += 1
            return fails_same(prefix + b"".join(us) + t, signature, level, tmp)

        n = 2
        # For pcapng, keep section and interface blocks first in line: dropping them changes too much at once.
        while len(units) >= 2 and tries < budget:
            size = max(len(units) // n, 1)
            for i in range(0, len(units), size):
                candidate = units[:i] + units[i + size :]
                if tries < budget and still(candidate, tail):
                    units = candidate
                    n = max(n - 1, 2)
                    break
            else:
                if size == 1:
                    break
                n = min(n * 2, len(units))
        if tail and tries < budget and still(units, b""):
            tail = b""
    return prefix + b"".join(units) + tail


OWNERS = {  # who fixes what (issue 16's split); a reproducer's owner is the file its traceback ends in
    **dict.fromkeys(("reader.py", "buffer.py", "net.py", "plots.py", "summary.py", "cli.py"), "robust"),
    **dict.fromkeys(("rtcp.py", "stun.py", "rtp.py", "rtp_extensions.py", "codecs.py", "anonymize.py", "dumps.py"),
                    "bytes15"),
    "dtls.py": "dtls13",
}


def owner_of(signature: str, info: dict) -> str:
    where = signature.split("|")[1]
    module = os.path.basename(where.split(":")[0])
    if module in OWNERS:
        return OWNERS[module]
    if "gzip" in info.get("mutations", "") or "gzip" in info.get("message", ""):
        return "robust"  # the reader's gzip layer
    return "?"


def collect(failures_dir: str, dest: str, budget: int = 60) -> list[str]:
    """For each signature folder of a campaign: its smallest input, minimised, into `dest` with a JSON that says
    what fails, where, the traceback's last lines and whose file it is.  Returns the names written."""
    os.makedirs(dest, exist_ok=True)
    written = []
    for sig_dir in sorted(os.listdir(failures_dir)):
        bins = sorted(glob.glob(os.path.join(failures_dir, sig_dir, "*.bin")), key=os.path.getsize)
        if not bins:
            continue
        with open(os.path.splitext(bins[0])[0] + ".json") as f:
            info = json.load(f)
        with open(bins[0], "rb") as f:
            data = f.read()
        if "decoder" not in info and info.get("level") is not None and info["level"] >= 0:
            data = minimize(data, info["signature"], info["level"], budget)
        kind, where = info["signature"].split("|")[:2]
        name = f"{kind}-{os.path.basename(where.split(':')[0]).replace('.py', '') or 'open'}-{sig_dir}"
        info = {**info, "owner": owner_of(info["signature"], info), "bytes": len(data),
                "replay": "python -m fuzz.replay fuzz/pending/" + name + ".bin"}
        with open(os.path.join(dest, name + ".bin"), "wb") as f:
            f.write(data)
        with open(os.path.join(dest, name + ".json"), "w") as f:
            json.dump(info, f, indent=1)
        written.append(name)
    return written


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m fuzz.minimize")
    p.add_argument("input", help="a failing input, or with --collect a campaign's failures/ folder")
    p.add_argument("output", help="the minimised file, or with --collect the folder for the reproducers")
    p.add_argument("--level", type=int)
    p.add_argument("--signature")
    p.add_argument("--collect", action="store_true")
    args = p.parse_args(argv)
    if args.collect:
        for name in collect(args.input, args.output):
            print(name)
        return 0
    info = {}
    meta = os.path.splitext(args.input)[0] + ".json"
    if os.path.exists(meta):
        with open(meta) as f:
            info = json.load(f)
    level = args.level if args.level is not None else info.get("level", 2)
    signature = args.signature or info["signature"]
    with open(args.input, "rb") as f:
        data = f.read()
    small = minimize(data, signature, level)
    with open(args.output, "wb") as f:
        f.write(small)
    print(f"{len(data)} -> {len(small)} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
