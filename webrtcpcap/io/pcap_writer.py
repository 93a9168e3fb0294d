"""Writing capture files: classic pcap (µs or ns time stamps) and pcapng (SHB, IDBs, EPBs), little-endian (or
big-endian, as some capturing hosts write them), one record at a time.  The one writer every file the package makes
goes through: decrypted copies (webrtcpcap.tables.writer), anonymised copies (webrtcpcap.anonymize), endpoint dumps as
captures (webrtcpcap.dumps), and the test and benchmark captures.

Strategy: the format's fixed numbers are webrtcpcap.io.reader's (one declaration, read and written alike); what a
record cannot hold is clamped, never an exception: a time before 1970 or without a value is written as 0, one past
what the format counts as its last second, and the length on the wire is never below the bytes kept.
"""

from __future__ import annotations

import struct
from typing import BinaryIO, Iterable

from .reader import (IF_TSRESOL, MAX_PACKET, PCAP_MAGIC_NS, PCAP_MAGIC_US, PCAPNG_BYTE_ORDER_MAGIC, PCAPNG_EPB,
    PCAPNG_IDB, PCAPNG_SHB)

LINKTYPE_ETHERNET = 1
MAX_SNAPLEN = MAX_PACKET  # what libpcap and Wireshark take for "everything"
OPT_ENDOFOPT = 0  # pcapng option list end (draft-ietf-opsawg-pcapng §3.5)
OPT_COMMENT = 1  # opt_comment: UTF-8 text

_PCAP_LAST_NS = (1 << 32) * 1_000_000_000 - 1  # a 32-bit count of seconds
_PCAPNG_LAST_NS = (1 << 64) - 1  # a 64-bit count of nanoseconds


def option(code: int, value: bytes, order: str = "<") -> bytes:
    """A pcapng option: code, length, value padded to 4 bytes (`order`: "<" little-endian, ">" big-endian)."""
    return struct.pack(order + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def block(block_type: int, body: bytes, order: str = "<") -> bytes:
    """A pcapng block: type, total length, body padded to 4 bytes, total length again."""
    body += b"\0" * (-len(body) % 4)
    total = 12 + len(body)
    return struct.pack(order + "II", block_type, total) + body + struct.pack(order + "I", total)


class PcapWriter:
    """Records into an open binary file, after the file's header.

    fmt: "pcap" or "pcapng".  interfaces: (link type, snap length) per interface (a classic pcap has one: the
    first); ns: nanosecond time stamps (classic pcap's magic; pcapng always writes if_tsresol 9: 10^-9 s);
    comment: a pcapng section comment (opt_comment); big_endian: the byte order of every number written.  `count`
    says how many records were written."""

    def __init__(self, f: BinaryIO, fmt: str = "pcap", interfaces: Iterable[tuple[int, int]] = ((LINKTYPE_ETHERNET,
                 MAX_SNAPLEN),), *, ns: bool = False, comment: str | None = None, big_endian: bool = False):
        if fmt not in ("pcap", "pcapng"):
            raise ValueError(f"capture format must be pcap or pcapng, not {fmt!r}")
        self.f, self.fmt, self.ns, self.count = f, fmt, ns, 0
        self.order = order = ">" if big_endian else "<"
        self._pcap_record, self._epb_head = struct.Struct(order + "IIII"), struct.Struct(order + "IIIIIII")
        self.interfaces = [(int(linktype), int(snaplen)) for linktype, snaplen in interfaces] or \
            [(LINKTYPE_ETHERNET, MAX_SNAPLEN)]
        f.write(self._header(comment))

    def _header(self, comment: str | None) -> bytes:
        o = self.order
        if self.fmt == "pcap":
            linktype, snaplen = self.interfaces[0]
            return struct.pack(o + "IHHiIII", PCAP_MAGIC_NS if self.ns else PCAP_MAGIC_US, 2, 4, 0, 0, snaplen,
                               linktype)
        options = (option(OPT_COMMENT, comment.encode("utf-8"), o) + option(OPT_ENDOFOPT, b"", o)) if comment else b""
        out = [block(PCAPNG_SHB, struct.pack(o + "IHHq", PCAPNG_BYTE_ORDER_MAGIC, 1, 0, -1) + options, o)]
        for linktype, snaplen in self.interfaces:
            out.append(block(PCAPNG_IDB, struct.pack(o + "HHI", linktype, 0, snaplen) + option(IF_TSRESOL, b"\x09", o)
                             + option(OPT_ENDOFOPT, b"", o), o))
        return b"".join(out)

    def record(self, frame: bytes, ts_ns: int, length: int | None = None, interface: int = 0) -> bytes:
        """The bytes of one record: `frame` as kept, `length` its length on the wire (default: len(frame)),
        `ts_ns` nanoseconds since 1970 (clamped to what the format holds), `interface` its IDB (pcapng; one
        beyond the file's interfaces is written as interface 0)."""
        length = len(frame) if length is None else max(int(length), len(frame))
        if self.fmt == "pcap":
            sec, rest = divmod(min(max(int(ts_ns), 0), _PCAP_LAST_NS), 1_000_000_000)
            return self._pcap_record.pack(sec, rest if self.ns else rest // 1000, len(frame), length) + bytes(frame)
        ts_ns = min(max(int(ts_ns), 0), _PCAPNG_LAST_NS)
        pad = -len(frame) % 4
        total = 32 + len(frame) + pad
        iface = interface if 0 <= interface < len(self.interfaces) else 0
        return (self._epb_head.pack(PCAPNG_EPB, total, iface, ts_ns >> 32, ts_ns & 0xFFFFFFFF, len(frame), length)
                + bytes(frame) + b"\0" * pad + struct.pack(self.order + "I", total))

    def write(self, frame: bytes, ts_ns: int, length: int | None = None, interface: int = 0) -> None:
        """Write one record (see `record`)."""
        self.f.write(self.record(frame, ts_ns, length, interface))
        self.count += 1
