"""webrtcpcap.io.heap: the library changes no allocator setting of the user's process; glibc's thresholds are tuned
only when asked (`heap.tune()`, which the CLI does for its own process), once, and the worker heaps' trim leaves the
pool usable."""

import concurrent.futures
import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from webrtcpcap import cli
from webrtcpcap.io import heap

from conftest import rtp_packet, udp4, write_pcap

glibc_only = pytest.mark.skipif(heap._MALLOPT is None, reason="the C library is not glibc")
REPO = Path(__file__).resolve().parents[1]

# Run in a fresh interpreter: every ctypes handle on the C library is wrapped before webrtcpcap is imported, so a
# call to mallopt through any of them (heap's or another module's) is counted, and a tune() from an earlier test of
# this process cannot hide one.
_SPY = textwrap.dedent("""
    import ctypes, json, sys
    calls = []
    class SpiedCDLL(ctypes.CDLL):
        def __getattr__(self, name):
            function = super().__getattr__(name)
            if name != "mallopt":
                return function
            def mallopt(*args):
                calls.append(list(args))
                return function(*args)
            return mallopt
    ctypes.CDLL = SpiedCDLL
    ctypes.cdll = ctypes.LibraryLoader(SpiedCDLL)
    import webrtcpcap
    cap = webrtcpcap.open(sys.argv[1], progress=False)
    cap.packets, cap.rtp, cap.rtcp, cap.streams
    after_open = list(calls)
    if sys.argv[2] == "tune":
        webrtcpcap.io.heap.tune()
    print(json.dumps({"after_open": after_open, "after_all": calls}))
""")


def _spied_run(path, then: str) -> dict:
    done = subprocess.run([sys.executable, "-c", _SPY, str(path), then], capture_output=True, text=True, cwd=REPO,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@glibc_only
def test_import_and_open_leave_the_processs_malloc_settings_alone(tmp_path):
    path = write_pcap(tmp_path / "c.pcap", [udp4(rtp_packet(seq=s)) for s in range(1, 50)])
    assert _spied_run(path, "nothing")["after_open"] == []


@glibc_only
def test_the_spy_sees_an_explicit_tune(tmp_path):
    # The same run with the opt-in: the spy does see mallopt, so the test above can fail.
    path = write_pcap(tmp_path / "c.pcap", [udp4(rtp_packet())])
    calls = _spied_run(path, "tune")["after_all"]
    assert calls == [[heap._M_MMAP_THRESHOLD, heap._MMAP_THRESHOLD], [heap._M_TRIM_THRESHOLD, heap._TRIM_THRESHOLD]]


@glibc_only
def test_tune_sets_the_thresholds_once(monkeypatch):
    calls = []
    monkeypatch.setattr(heap, "_MALLOPT", lambda *a: calls.append(a) or 1)
    monkeypatch.setattr(heap, "_malloc_tuned", False)
    heap.tune()
    heap.tune()  # already tuned in this process: nothing more is set
    assert calls == [(heap._M_MMAP_THRESHOLD, heap._MMAP_THRESHOLD), (heap._M_TRIM_THRESHOLD, heap._TRIM_THRESHOLD)]


def test_the_cli_tunes_its_own_process(monkeypatch, tmp_path):
    tuned = []
    monkeypatch.setattr(heap, "tune", lambda: tuned.append(True))
    path = write_pcap(tmp_path / "c.pcap", [udp4(rtp_packet())])
    assert cli.main(["summary", str(path)]) == 0
    assert tuned == [True]


def test_untuned_worker_heaps_are_left_alone(monkeypatch):
    # Without the opt-in, trimming the worker heaps would have to change the trim threshold: it does nothing.
    calls = []
    monkeypatch.setattr(heap, "_MALLOPT", lambda *a: calls.append(a) or 1)
    monkeypatch.setattr(heap, "_malloc_tuned", False)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        heap.trim_worker_heaps(pool, 2)
    assert calls == []


@glibc_only
def test_trimming_the_worker_heaps_runs_once_on_every_worker_and_restores_the_threshold(monkeypatch):
    calls, threads = [], set()
    monkeypatch.setattr(heap, "_MALLOPT", lambda *a: calls.append(a) or 1)
    monkeypatch.setattr(heap, "_malloc_tuned", True)
    real_empty = heap.np.empty

    def empty(*a, **k):
        threads.add(threading.get_ident())
        return real_empty(*a, **k)

    monkeypatch.setattr(heap.np, "empty", empty)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        heap.trim_worker_heaps(pool, 2)
        assert list(pool.map(lambda x: x + 1, [1])) == [2]  # the pool still works
    assert len(threads) == 2  # the barrier made both workers free a block
    assert calls == [(heap._M_TRIM_THRESHOLD, heap._TRIM_THRESHOLD_LOW), (heap._M_TRIM_THRESHOLD, heap._TRIM_THRESHOLD)]
