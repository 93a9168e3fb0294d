"""Wireshark's view of a capture, through tshark: pyshark dissection of one frame, and tshark field exports for
cross-checks.

Strategy: pyshark drives tshark from an asyncio event loop it runs with run_until_complete, which fails inside
Jupyter (the kernel's loop is already running in the main thread; pyshark issue "This event loop is already
running").  Instead of patching the kernel's loop (nest_asyncio), every pyshark call here runs in a worker thread
that owns a fresh event loop, so it behaves the same in a script, a test and a notebook.  tshark is always started
with an argument list, never through a shell.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import shutil
import subprocess

from .errors import WebRTCPcapError


class TsharkMissing(WebRTCPcapError):
    """tshark (Wireshark's command-line dissector) is not installed."""


def tshark_path() -> str:
    """Path of the tshark executable, or TsharkMissing with what to install."""
    path = shutil.which("tshark")
    if path is None:
        raise TsharkMissing("tshark is not installed: apt-get install tshark (Debian/Ubuntu), "
                            "or conda install -c conda-forge wireshark")
    return path


def decode_as_args(decode_as: dict[str, str]) -> list[str]:
    """tshark -d options for a {"udp.port==5004": "rtp"} mapping."""
    out: list[str] = []
    for selector, proto in decode_as.items():
        out += ["-d", f"{selector},{proto}"]
    return out


def _in_worker_thread(func, timeout: float):
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="webrtcpcap-tshark") as pool:
        return pool.submit(func).result(timeout=timeout)


def dissect_frame(path: str, frame: int, decode_as: dict[str, str] | None = None, timeout: float = 60.0):
    """pyshark's full dissection (a pyshark Packet) of frame number `frame` of the capture at `path`."""
    import pyshark  # deferred: pyshark, heavy, and only the users who dissect a frame need it

    tshark = tshark_path()
    if not isinstance(frame, int) or frame < 1:
        raise ValueError(f"frame must be a positive frame number, not {frame!r}")

    def work():
        loop = asyncio.new_event_loop()
        cap = pyshark.FileCapture(path, display_filter=f"frame.number == {frame}", decode_as=decode_as or None,
                                  keep_packets=False, tshark_path=tshark, eventloop=loop)
        try:
            for packet in cap:
                return packet
            return None
        finally:
            try:
                cap.close()
            finally:
                loop.close()

    packet = _in_worker_thread(work, timeout)
    if packet is None:
        raise WebRTCPcapError(f"{path}: tshark did not return frame {frame}")
    return packet


def tshark_fields(path: str, fields: list[str], display_filter: str | None = None,
                  decode_as: dict[str, str] | None = None, extra: list[str] | None = None,
                  timeout: float = 600.0) -> list[list[str]]:
    """tshark -T fields output as rows of strings (one per frame that passes the filter)."""
    cmd = [tshark_path(), "-n", "-r", path, "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a",
           "-E", "aggregator=,"]
    for f in fields:
        cmd += ["-e", f]
    if display_filter:
        cmd += ["-Y", display_filter]
    cmd += decode_as_args(decode_as or {}) + list(extra or [])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode not in (0, 2):  # 2: tshark read a cut-short file, and says so on stderr
        raise WebRTCPcapError(f"tshark failed on {path}: {proc.stderr.strip()[:500]}")
    return [line.split("\t") for line in proc.stdout.splitlines()]
