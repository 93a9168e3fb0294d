"""Seed captures as lists of records (classic pcap) or blocks (pcapng), for structure-aware mutation.

This parser is the fuzzer's own and trusts its input (the seeds are the project's and the public captures, all
readable); it never looks at the library's reader, so the two can disagree.
"""

from __future__ import annotations

import glob
import gzip
import os
import struct
from dataclasses import dataclass, field

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PUBLIC_DIRS = (os.path.join(REPO, "..", "shared", "public-captures"), "/work/shared/public-captures")

PCAP_MAGICS = {0xA1B2C3D4, 0xA1B23C4D}
SHB, IDB, OPB, SPB, EPB = 0x0A0D0D0A, 1, 2, 3, 6
PACKET_BLOCKS = (EPB, SPB, OPB)


@dataclass
class Pcap:
    """Classic pcap: the 24-byte file header and the records, each its 16-byte header plus data."""

    header: bytes
    records: list[bytes]
    endian: str  # "<" or ">"

    def to_bytes(self) -> bytes:
        return self.header + b"".join(self.records)


@dataclass
class Pcapng:
    """pcapng: the blocks, each whole (type, length, body, trailing length), and each block's byte order."""

    blocks: list[bytes]
    endians: list[str] = field(default_factory=list)

    def to_bytes(self) -> bytes:
        return b"".join(self.blocks)


def parse(data: bytes) -> Pcap | Pcapng:
    """A seed capture (plain or gzip) as records or blocks; raises ValueError if it is not a readable capture."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) >= 24 and struct.unpack_from("<I", data)[0] in PCAP_MAGICS:
        return _parse_pcap(data, "<")
    if len(data) >= 24 and struct.unpack_from(">I", data)[0] in PCAP_MAGICS:
        return _parse_pcap(data, ">")
    if len(data) >= 12 and struct.unpack_from("<I", data)[0] == SHB:
        return _parse_pcapng(data)
    raise ValueError("not a capture")


def _parse_pcap(data: bytes, e: str) -> Pcap:
    records, pos = [], 24
    while pos + 16 <= len(data):
        incl = struct.unpack_from(e + "I", data, pos + 8)[0]
        if pos + 16 + incl > len(data):
            break
        records.append(data[pos : pos + 16 + incl])
        pos += 16 + incl
    return Pcap(data[:24], records, e)


def _parse_pcapng(data: bytes) -> Pcapng:
    blocks, endians, pos, e = [], [], 0, "<"
    while pos + 12 <= len(data):
        if struct.unpack_from("<I", data, pos)[0] == SHB:
            e = "<" if struct.unpack_from("<I", data, pos + 8)[0] == 0x1A2B3C4D else ">"
        blen = struct.unpack_from(e + "I", data, pos + 4)[0]
        if blen < 12 or pos + blen > len(data):
            break
        blocks.append(data[pos : pos + blen])
        endians.append(e)
        pos += blen
    return Pcapng(blocks, endians)


def block_type(block: bytes, e: str) -> int:
    return struct.unpack_from(e + "I", block)[0]


def seed_paths() -> list[str]:
    """The bundled captures and, when present, the public ones (in CI at ../shared/public-captures)."""
    paths = sorted(glob.glob(os.path.join(REPO, "captures", "*.pcap")))
    for d in PUBLIC_DIRS:
        if os.path.isdir(d):
            paths += sorted(glob.glob(os.path.join(d, "*.pcap")) + glob.glob(os.path.join(d, "*.pcapng"))
                            + glob.glob(os.path.join(d, "*.pcap.gz")) + glob.glob(os.path.join(d, "*.pcapng.gz")))
            break
    return paths


def load_seeds(paths: list[str] | None = None) -> list[tuple[str, Pcap | Pcapng]]:
    out = []
    for p in paths if paths is not None else seed_paths():
        with open(p, "rb") as f:
            try:
                out.append((os.path.basename(p), parse(f.read())))
            except ValueError:
                continue
    return out


def slice_of(cap: Pcap | Pcapng, start: int, count: int) -> Pcap | Pcapng:
    """`count` packet records from the `start`-th on; a pcapng slice keeps every non-packet block before them
    (section headers, interfaces, ...) so that its packets still have their interfaces."""
    if isinstance(cap, Pcap):
        return Pcap(cap.header, cap.records[start : start + count], cap.endian)
    blocks, endians, seen = [], [], 0
    for b, e in zip(cap.blocks, cap.endians):
        if block_type(b, e) in PACKET_BLOCKS:
            if start <= seen < start + count:
                blocks.append(b)
                endians.append(e)
            seen += 1
            if seen >= start + count:
                break
        else:
            blocks.append(b)
            endians.append(e)
    return Pcapng(blocks, endians)


def packet_count(cap: Pcap | Pcapng) -> int:
    if isinstance(cap, Pcap):
        return len(cap.records)
    return sum(block_type(b, e) in PACKET_BLOCKS for b, e in zip(cap.blocks, cap.endians))
