"""Helpers for the tests: capture writers (pcap, pcapng by hand with struct), packet builders and row checks.

Strategy: every expected value in the tests comes from the packets built here (or RFC vectors, or tshark), never
from the library's own output.  Packet bytes are built with scapy where it can (Ether/IP/IPv6/UDP/ICMP and link
headers) and with struct for the WebRTC payloads, so the builders do not share code with the decoders under test.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import struct
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

import webrtcpcap
from webrtcpcap.io.pcap_writer import PcapWriter, block, option

REPO = Path(__file__).resolve().parents[1]
CAPTURES = REPO / "captures"
PUBLIC_CAPTURES = REPO.parent / "shared" / "public-captures"
SYNTHETIC = CAPTURES / "synthetic_call.pcap"

# A fixed capture start with non-zero nanoseconds, so that time precision is visible.
T0_NS = 1_700_000_000_123_456_789
T0_US_NS = 1_700_000_000_123_456_000  # the same instant, representable in microseconds

LINKTYPE_ETHERNET = 1

# --- capture writers ---------------------------------------------------------------------------------------------


def write_pcap(path, frames, linktype=LINKTYPE_ETHERNET, *, times_ns=None, nanosecond=False, big_endian=False,
               snaplen=65535, orig_lens=None, caplens=None, compress=False) -> Path:
    """A classic pcap file of `frames` (bytes each), written by the package's writer (webrtcpcap.io.pcap_writer).

    `times_ns`: per-frame absolute time in ns (default: T0 plus 1 ms per frame; rounded down to µs unless
    `nanosecond`).  `orig_lens` gives each frame's length on the wire (default: its captured length), `caplens`
    cuts the stored bytes.  `compress` writes it gzip-compressed.
    """
    out = io.BytesIO()
    pcap = PcapWriter(out, "pcap", [(linktype, snaplen)], ns=nanosecond, big_endian=big_endian)
    for i, data in enumerate(frames):
        t = times_ns[i] if times_ns is not None else default_time_ns(i, nanosecond)
        data = bytes(data)
        orig = orig_lens[i] if orig_lens is not None else len(data)
        if caplens is not None:
            data = data[: caplens[i]]
        pcap.write(data, t, orig)
    blob = out.getvalue()
    path = Path(path)
    path.write_bytes(gzip.compress(blob) if compress else blob)
    return path


def default_time_ns(i: int, nanosecond: bool = True) -> int:
    return (T0_NS if nanosecond else T0_US_NS) + i * 1_000_000


def _pad4(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


# pcapng blocks built one by one (odd resolutions, lying lengths, obsolete block types) for the reader's tests, on
# the package's block and option framing.
def _block(btype: int, body: bytes, e: str) -> bytes:
    return block(btype, body, e)


def _options(opts, e: str) -> bytes:
    if not opts:
        return b""
    return b"".join(option(code, value, e) for code, value in opts) + option(0, b"", e)


def shb(big_endian=False) -> bytes:
    e = ">" if big_endian else "<"
    return _block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1), e)


def idb(linktype=LINKTYPE_ETHERNET, snaplen=0, *, tsresol=None, tsoffset=None, name=None, big_endian=False) -> bytes:
    e = ">" if big_endian else "<"
    opts = []
    if name is not None:
        opts.append((2, name.encode()))
    if tsresol is not None:
        opts.append((9, bytes([tsresol])))
    if tsoffset is not None:
        opts.append((14, struct.pack(e + "q", tsoffset)))
    return _block(1, struct.pack(e + "HHI", linktype, 0, snaplen) + _options(opts, e), e)


def epb(interface: int, ticks: int, data: bytes, orig_len=None, big_endian=False) -> bytes:
    e = ">" if big_endian else "<"
    data = bytes(data)
    body = struct.pack(e + "IIIII", interface, ticks >> 32, ticks & 0xFFFFFFFF, len(data),
                       len(data) if orig_len is None else orig_len)
    return _block(6, body + _pad4(data), e)


def spb(data: bytes, orig_len=None, big_endian=False) -> bytes:
    e = ">" if big_endian else "<"
    data = bytes(data)
    return _block(3, struct.pack(e + "I", len(data) if orig_len is None else orig_len) + _pad4(data), e)


def opb(interface: int, ticks: int, data: bytes, big_endian=False) -> bytes:
    """The obsolete Packet Block (type 2): 16-bit interface id and a 16-bit drops count."""
    e = ">" if big_endian else "<"
    data = bytes(data)
    body = struct.pack(e + "HHIIII", interface, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data))
    return _block(2, body + _pad4(data), e)


def write_pcapng(path, blocks, compress=False) -> Path:
    blob = b"".join(blocks)
    path = Path(path)
    path.write_bytes(gzip.compress(blob) if compress else blob)
    return path


# --- WebRTC payloads, by hand -------------------------------------------------------------------------------------

STUN_COOKIE = 0x2112A442


def stun_message(message_type=0x0001, txid=b"\x01" * 12, attributes=b"") -> bytes:
    """An RFC 8489 STUN message (magic cookie, length covering the attributes)."""
    return struct.pack(">HHI", message_type, len(attributes), STUN_COOKIE) + txid + attributes


def classic_stun(message_type=0x0001, txid=b"\x07" * 16) -> bytes:
    """An RFC 3489 Binding Request: 16-byte transaction id, no magic cookie."""
    return struct.pack(">HH", message_type, 0) + txid


def rtp_packet(ssrc=0x11223344, seq=1, ts=1000, pt=111, marker=False, payload=b"\xaa" * 20, csrcs=(),
               ext_profile=None, ext=b"", padding=0) -> bytes:
    """RTP packet (RFC 3550 §5.1); `padding` > 0 appends that many padding bytes and sets P."""
    b0 = 0x80 | (0x20 if padding else 0) | (0x10 if ext_profile is not None else 0) | len(csrcs)
    out = struct.pack(">BBHII", b0, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc)
    out += b"".join(struct.pack(">I", c) for c in csrcs)
    if ext_profile is not None:
        out += struct.pack(">HH", ext_profile, len(ext) // 4) + ext
    out += payload
    if padding:
        out += b"\0" * (padding - 1) + bytes([padding])
    return out


def rtcp_sr(ssrc=0x11223344, ntp=0x0102030405060708, rtp_ts=1234, packets=10, octets=1000) -> bytes:
    return struct.pack(">BBHIQIII", 0x80, 200, 6, ssrc, ntp, rtp_ts, packets, octets)


def rtcp_rr(ssrc=0x55667788, blocks=()) -> bytes:
    body = b"".join(struct.pack(">IIIIII", b, 0, 0, 0, 0, 0) for b in blocks)
    return struct.pack(">BBHI", 0x80 | len(blocks), 201, (4 + len(body)) // 4, ssrc) + body


def rtcp_sdes(ssrc=0x11223344, cname=b"user@host") -> bytes:
    chunk = _pad4(struct.pack(">IBB", ssrc, 1, len(cname)) + cname + b"\0")
    return struct.pack(">BBH", 0x81, 202, len(chunk) // 4) + chunk


def rtcp_pli(sender=0x11223344, media=0x99AABBCC) -> bytes:
    return struct.pack(">BBHII", 0x81, 206, 2, sender, media)


def dtls_client_hello(seq=0) -> bytes:
    """A DTLS 1.2 handshake record holding (the start of) a ClientHello."""
    body = struct.pack(">B", 1) + (40).to_bytes(3, "big") + struct.pack(">H", 0) + (0).to_bytes(3, "big") \
        + (40).to_bytes(3, "big") + b"\xfe\xfd" + b"\x11" * 38
    return struct.pack(">BHH", 22, 0xFEFD, 0) + seq.to_bytes(6, "big") + struct.pack(">H", len(body)) + body


# --- network packets with scapy -----------------------------------------------------------------------------------

A4, B4 = "10.0.0.1", "10.0.0.2"
A6, B6 = "2001:db8::1", "2001:db8::2"


def udp4(payload: bytes, src=A4, dst=B4, sport=5000, dport=6000, ether=True) -> bytes:
    pkt = IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) / payload
    return bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / pkt) if ether else bytes(pkt)


def udp6(payload: bytes, src=A6, dst=B6, sport=5000, dport=6000, ether=True) -> bytes:
    pkt = IPv6(src=src, dst=dst) / UDP(sport=sport, dport=dport) / payload
    return bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / pkt) if ether else bytes(pkt)


def stun_call(n_rtp=6, sport=5000, dport=6000, ssrc=0x11223344, pt=111, src=A4, dst=B4) -> list[bytes]:
    """A STUN request/response on one 5-tuple, then `n_rtp` RTP packets of one SSRC on it (Ethernet/IPv4)."""
    frames = [udp4(stun_message(0x0001), src, dst, sport, dport), udp4(stun_message(0x0101), dst, src, dport, sport)]
    frames += [udp4(rtp_packet(ssrc, seq=100 + i, ts=960 * i, pt=pt), src, dst, sport, dport) for i in range(n_rtp)]
    return frames


# --- opening and checking -------------------------------------------------------------------------------------------


def open_quiet(path, **kw) -> webrtcpcap.Capture:
    """webrtcpcap.open with no progress bar; fails the test if it warns (use pytest.warns where a warning is due)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", webrtcpcap.CaptureWarning)
        return webrtcpcap.open(path, progress=False, **kw)


def row_of(df: pd.DataFrame, frame: int, index: int = 0) -> pd.Series:
    rows = df[df["frame"] == frame]
    assert len(rows) > index, f"no row {index} for frame {frame} in table:\n{df}"
    return rows.iloc[index]


def packets_row(cap, frame: int) -> pd.Series:
    """The packets row of `frame`, with the sparse ICMP and fragment facts (icmp_type, icmp_code, icmp_quoted,
    reassembled_in) added from the `icmp` / `fragments` side tables where the library keeps them there."""
    row = row_of(cap.packets, frame).copy()
    for table, columns in (("icmp", {"icmp_type": "icmp_type", "icmp_code": "icmp_code", "quoted": "icmp_quoted"}),
                           ("fragments", {"reassembled_in": "reassembled_in"})):
        side = getattr(cap, table, None)
        if side is None:
            continue
        hit = side[side["frame"] == frame]
        for src_name, name in columns.items():
            row[name] = hit.iloc[0][src_name] if len(hit) else None
    return row


def assert_row(row: pd.Series, expected: dict, schema: dict | None = None) -> None:
    """Every column of `row` equals `expected` (None = missing).

    With `schema`, `expected` must name every column of the schema; expected columns the schema no longer has (a
    column moved to a side table) are checked only if the row has them."""
    names = list(expected)
    if schema is not None:
        missing = set(schema) - set(expected)
        assert not missing, f"test does not check columns {sorted(missing)}"
        names = [n for n in names if n in schema or n in row.index]
    problems = []
    for name in names:
        want = expected[name]
        got = row[name]
        if want is None:
            ok = got is None or (not isinstance(got, (bytes, str)) and pd.isna(got))
        elif isinstance(want, float) and not isinstance(got, (str, bytes)) and not pd.isna(got):
            ok = math.isclose(float(got), want, rel_tol=0, abs_tol=1e-9)
        else:
            try:
                ok = (not pd.isna(got)) and got == want
            except (TypeError, ValueError):
                ok = False
        if not ok:
            problems.append(f"{name}: got {got!r}, expected {want!r}")
    assert not problems, "frame {}: {}".format(row.get("frame"), "; ".join(problems))


def utc(ns: int) -> pd.Timestamp:
    return pd.Timestamp(ns, unit="ns", tz="UTC")


def keys_for(n: int, first_frame: int = 10) -> dict:
    """Key columns (frame, t, src, dst, sport, dport) for `n` datagrams, as pipeline.Datagrams.keys has them."""
    return {
        "frame": np.arange(first_frame, first_frame + n, dtype=np.uint32),
        "t": np.arange(n, dtype=np.float64) * 0.5,
        "src": pd.Categorical(["10.0.0.1"] * n), "dst": pd.Categorical(["10.0.0.2"] * n),
        "sport": np.full(n, 5000, dtype=np.uint16), "dport": np.full(n, 6000, dtype=np.uint16),
    }


def byte_source(packets: list[bytes]):
    """(ByteSource, offsets, captured lengths, wire lengths) over packets laid end to end, for the vectorised
    decoders.  Adapts to the ByteSource signature (plain offsets, or per-record "virtual" offsets)."""
    import inspect

    from webrtcpcap.io import buffer

    blob = b"".join(packets) + b"\0" * 256  # slack, so no window read runs off the end
    data = np.frombuffer(blob, dtype=np.uint8)
    starts = np.cumsum([0] + [len(p) for p in packets[:-1]]).astype(np.int64) if packets else np.zeros(0, np.int64)
    lens = np.array([len(p) for p in packets], dtype=np.int64)
    params = inspect.signature(buffer.ByteSource).parameters
    if "record" in params:
        src = buffer.ByteSource(data, starts)
        off = np.arange(len(packets), dtype=np.int64) << buffer.ROW_SHIFT
    else:
        src = buffer.ByteSource(data)
        off = starts
    return src, off, lens.copy(), lens.copy()


@pytest.fixture
def capture_path(tmp_path):
    """A factory: capture_path("name.pcap") is a fresh path in the test's temporary folder."""
    return lambda name="capture.pcap": tmp_path / name


def tshark_available() -> bool:
    import shutil

    return shutil.which("tshark") is not None


def env_without_pythonwarnings() -> dict:
    env = dict(os.environ)
    env.pop("PYTHONWARNINGS", None)
    return env


def env_for_memory_limits() -> dict:
    """The environment of a child process run under RLIMIT_DATA or RLIMIT_AS: with pyarrow installed, pandas 3 keeps
    "string" columns in Arrow arrays, and Arrow's default allocator (mimalloc) reserves about 1 GB of address space
    the first time it is used, though it touches little of it (VmData 1.2 GB against VmHWM 0.4 GB on the gzip bomb).
    The limits measure what the package asks for, so Arrow uses the system allocator here
    (ARROW_DEFAULT_MEMORY_POOL=system, an Arrow setting; the README's memory section says so)."""
    env = env_without_pythonwarnings()
    env["ARROW_DEFAULT_MEMORY_POOL"] = "system"
    return env
