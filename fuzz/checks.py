"""The checks run on each fuzzed file, in-process, under a CPU budget (and the worker's RLIMIT_AS).

A file passes when every step ends with a result or a documented error (webrtcpcap.io.errors.WebRTCPcapError), and
every frame is accounted for: open() gives the frames the oracle counts (fuzz.oracle), `packets` has one row per
frame numbered 1..n, and every frame of kind rtp, rtcp, stun or dtls has a row in its table or an error in
`packets` (a frame flagged malformed is accounted for; no row names a frame that does not exist).  Exceptions that `health` and the HTML report catch and turn into a sentence
("could not be judged", "could not be drawn") are failures too: hooks record them with their traceback.

Levels (each adds to the one before; fork-per-file and even pandas' per-table overhead are slow here, so most
files get the cheap levels): 0, the reader: open() and the frames against the oracle (a few ms); 1, the tables:
packets and the main tables (rtp, rtcp, stun, dtls) with their accounting (~0.1 s); 2, every other table, the
analyses behind `summary` and `health`, rtp_payload on a few frames, `webrtcpcap summary` through the CLI (~1 s);
3, `iter_chunks` against open() and the HTML report (a few s).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import resource
import signal
import traceback
import warnings
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

import webrtcpcap
from webrtcpcap import cli as _cli
from webrtcpcap.report import document as _report
from webrtcpcap.io.errors import CaptureError, CaptureWarning, WebRTCPcapError

from . import oracle

from webrtcpcap.report import health as _health  # the module: `webrtcpcap.health` is the function

PKG_DIR = os.path.dirname(os.path.abspath(webrtcpcap.__file__))
CPU_SECONDS = {0: 10.0, 1: 20.0, 2: 60.0, 3: 120.0}
KIND_TABLES = {"rtp": "rtp", "rtcp": "rtcp", "stun": "stun", "dtls": "dtls_records"}
LEVEL1_TABLES = ("stun_attributes", "dtls_handshakes", "flows", "icmp", "tcp_streams", "fragments", "interfaces",
                 "streams", "rtp_extensions", "rtcp_sender_reports", "rtcp_report_blocks", "rtcp_sdes", "rtcp_bye",
                 "rtcp_feedback", "rtcp_other", "nacks", "keyframe_requests", "remb", "remb_ssrcs", "twcc", "tmmbr",
                 "feedback_errors")


class CpuBudgetExceeded(BaseException):
    """Raised by the CPU timer; a BaseException so that no `except Exception` in the library swallows it."""


@dataclass
class Failure:
    kind: str  # exception, memory, timeout, accounting, swallowed, cli
    step: str  # which check
    where: str  # module.py:function of the deepest frame in webrtcpcap (or of the raise)
    message: str
    tail: str = ""  # the traceback's last lines

    @property
    def signature(self) -> str:
        head = self.message.split(":", 1)[0] if self.kind in ("exception", "swallowed", "memory") else self.message
        return f"{self.kind}|{self.where}|{re.sub(r'[0-9]+', 'N', head)[:80]}"  # counts and offsets vary


@dataclass
class Result:
    failures: list[Failure] = field(default_factory=list)
    frames: int = 0
    documented_errors: Counter = field(default_factory=Counter)
    warnings: Counter = field(default_factory=Counter)
    fatal: bool = False  # memory or CPU budget hit: the worker restarts afresh


def set_memory_limit(headroom_mb: int) -> int:
    """RLIMIT_AS = this process's current address space + `headroom_mb`; returns the limit in bytes."""
    with open("/proc/self/status") as f:
        vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    limit = vm + headroom_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    return limit



def _where(tb) -> str:
    frames = traceback.extract_tb(tb)
    ours = [f for f in frames if f.filename.startswith(PKG_DIR)]
    f = (ours or frames or [None])[-1]
    if f is None:
        return "?"
    return f"{os.path.relpath(f.filename, os.path.dirname(PKG_DIR))}:{f.name}"


def _tail(exc: BaseException, lines: int = 8) -> str:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return "\n".join(text.rstrip().splitlines()[-lines:])


# --- hooks: exceptions the library turns into sentences --------------------------------------------------------

SWALLOWED: list[tuple[str, BaseException]] = []
_HOOKED = False


def install_hooks() -> None:
    """Record the exceptions health's stages and the report's plots catch (they still catch them)."""
    global _HOOKED
    if _HOOKED:
        return
    _HOOKED = True
    for stage in ("_capture", "_ice", "_turn", "_dtls", "_media", "_recovery", "_rtcp"):
        setattr(_health, stage, _recording(f"health{stage}", getattr(_health, stage)))
    guard = _report._guard

    def recording_guard(context, what, fn):
        return guard(context, what, _recording(f"report plot {what}", fn))

    _report._guard = recording_guard


def _recording(step: str, fn):
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            SWALLOWED.append((step, e))
            raise
    run.__wrapped__ = fn
    return run


# --- the checks -------------------------------------------------------------------------------------------------

@contextlib.contextmanager
def cpu_budget(seconds: float):
    def fire(signum, frame):
        raise CpuBudgetExceeded(f"over {seconds:.0f} s of CPU")

    old = signal.signal(signal.SIGPROF, fire)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, old)


class _Stop(Exception):
    pass


class _Run:
    def __init__(self, result: Result):
        self.r = result

    def step(self, name: str, fn):
        """fn() -> its value; a documented error -> None (counted); anything else -> a failure (and None)."""
        try:
            return fn()
        except WebRTCPcapError as e:
            self.r.documented_errors[f"{name}: {type(e).__name__}"] += 1
            return None
        except CpuBudgetExceeded as e:
            self.r.failures.append(Failure("timeout", name, _where(e.__traceback__), str(e), _tail(e)))
            self.r.fatal = True
            raise _Stop from None
        except MemoryError as e:
            self.r.failures.append(Failure("memory", name, _where(e.__traceback__), f"{type(e).__name__}: {e}"[:200],
                                           _tail(e)))
            self.r.fatal = True
            raise _Stop from None
        except RecursionError as e:
            self.r.failures.append(Failure("exception", name, _where(e.__traceback__), "RecursionError", _tail(e)))
            self.r.fatal = True
            raise _Stop from None
        except Exception as e:
            self.r.failures.append(Failure("exception", name, _where(e.__traceback__),
                                           f"{type(e).__name__}: {e}"[:300], _tail(e)))
            return None

    def fail(self, kind: str, step: str, message: str) -> None:
        self.r.failures.append(Failure(kind, step, step, message))


def check_file(path: str, data: bytes, level: int = 0, cpu_seconds: float | None = None) -> Result:
    """Run the checks of `level` on the capture at `path`, whose bytes are `data` (for the oracle)."""
    install_hooks()
    result = Result()
    run = _Run(result)
    SWALLOWED.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with cpu_budget(cpu_seconds or CPU_SECONDS[level]):
                _checks(run, path, data, level)
        except _Stop:
            pass
    for step, e in SWALLOWED:
        kind = "memory" if isinstance(e, MemoryError) else "swallowed"
        result.failures.append(Failure(kind, step, _where(e.__traceback__), f"{type(e).__name__}: {e}"[:300], _tail(e)))
    SWALLOWED.clear()
    for w in caught:
        if issubclass(w.category, CaptureWarning):
            continue
        fname = os.path.relpath(w.filename, os.path.dirname(PKG_DIR)) if w.filename.startswith(PKG_DIR) else os.path.basename(w.filename)
        result.warnings[f"{w.category.__name__}@{fname}:{w.lineno}"] += 1
    return result


def _checks(run: _Run, path: str, data: bytes, level: int) -> None:
    want = oracle.expected(data)
    refused: list[CaptureError] = []

    def do_open():
        try:
            return webrtcpcap.open(path, progress=False)
        except CaptureError as e:
            refused.append(e)
            return None

    cap = run.step("open", do_open)
    if refused:
        run.r.documented_errors["open: CaptureError"] += 1
        if want.readable:
            run.fail("accounting", "open", f"CaptureError on a capture with {want.lo}..{want.hi} frames ({want.why}): "
                     f"{str(refused[0]).split(': ', 1)[-1][:120]}")
        return
    if cap is None:
        return
    if want.readable is False:
        run.fail("accounting", "open", f"read a file that is not a capture ({want.why})")
    n = len(cap)
    run.r.frames = n
    if not (want.lo <= n <= want.hi):
        run.fail("accounting", "frames", f"reader gave {n} frames, the oracle {want.lo}..{want.hi} ({want.why})")
    if level < 1:
        return
    packets = run.step("packets", lambda: cap.packets)
    if packets is None:
        return
    if len(packets) != n:
        run.fail("accounting", "packets", f"packets has {len(packets)} rows for {n} frames")
    elif n and not np.array_equal(packets["frame"].to_numpy(dtype=np.int64), np.arange(1, n + 1)):
        run.fail("accounting", "packets", "packets.frame is not 1..n")
    kinds = packets["kind"].astype(str).to_numpy()
    frames = packets["frame"].to_numpy(dtype=np.int64)
    flagged = packets["error"].notna().to_numpy()  # a frame flagged malformed is accounted for, row or not
    for kind, name in KIND_TABLES.items():
        table = run.step(name, lambda name=name: getattr(cap, name))
        if table is None:
            continue
        have = table["frame"].to_numpy(dtype=np.int64)
        missing = np.setdiff1d(frames[(kinds == kind) & ~flagged], have)
        if len(missing):
            run.fail("accounting", name, f"frames of kind {kind}, not flagged in packets.error, without a row in "
                     f"{name} (e.g. {int(missing[0])})")
        if len(have) and (have.min() < 1 or have.max() > n):
            run.fail("accounting", name, f"{name} names a frame outside 1..{n}")
    if level >= 2:
        _level2(run, cap)
    if level >= 3:
        _level3(run, path, n)


def _level2(run: _Run, cap) -> None:
    for name in LEVEL1_TABLES:
        run.step(name, lambda name=name: getattr(cap, name))
    run.step("keyframes", lambda: cap.keyframes())
    rtp = run.step("rtp", lambda: cap.rtp)
    if rtp is not None and len(rtp):
        for frame in np.unique(rtp["frame"].to_numpy())[:3].tolist():
            run.step("rtp_payload", lambda frame=frame: _rtp_payload(run, cap, int(frame)))
        run.step("streams.gaps", lambda: webrtcpcap.streams.gaps(rtp))
    stun = run.step("stun", lambda: cap.stun)
    if stun is not None:
        run.step("ice.transactions", lambda: webrtcpcap.ice.transactions(stun))
        run.step("ice.candidate_pairs", lambda: webrtcpcap.ice.candidate_pairs(stun, cap.packets))
    run.step("summary", lambda: cap.summary())
    h = run.step("health", lambda: webrtcpcap.health(cap))
    if h is not None:
        run.step("health.text", lambda: h.text())
    out, err = io.StringIO(), io.StringIO()

    def cli_summary():
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            return _cli.main(["summary", cap.path])

    code = run.step("cli summary", cli_summary)
    if code not in (0, 2, None):
        run.fail("cli", "cli summary", f"exit code {code}")


def _rtp_payload(run: _Run, cap, frame: int):
    """Capture.rtp_payload documents ValueError for a frame that is not a complete RTP packet."""
    try:
        return cap.rtp_payload(frame)
    except ValueError as e:
        if type(e) is not ValueError:
            raise
        run.r.documented_errors["rtp_payload: ValueError"] += 1
        return None


def _level3(run: _Run, path: str, n: int) -> None:
    def chunked_frames():
        return sum(len(c.packets) for c in webrtcpcap.iter_chunks(path, packets=max(n // 2 + 1, 1), progress=False))

    got = run.step("iter_chunks", chunked_frames)
    if got is not None and got != n:
        run.fail("accounting", "iter_chunks", f"iter_chunks gave {got} frames, open() {n}")

    def report():
        _report.matplotlib_headless()
        rep = _report.build(path)
        rep.text()
        return rep.html()

    run.step("report --html", report)

