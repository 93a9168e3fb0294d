"""webrtcpcap.heap: glibc's thresholds are set once, and the worker heaps' trim leaves the pool usable."""

import concurrent.futures
import threading

import pytest

import webrtcpcap
from webrtcpcap import heap

from conftest import rtp_packet, udp4, write_pcap

glibc_only = pytest.mark.skipif(heap._MALLOPT is None, reason="the C library is not glibc")


@glibc_only
def test_a_decode_tunes_glibc_once(tmp_path):
    webrtcpcap.open(write_pcap(tmp_path / "c.pcap", [udp4(rtp_packet())]), progress=False).packets
    assert heap._malloc_tuned
    calls = []
    real = heap._MALLOPT
    heap._MALLOPT = lambda *a: calls.append(a) or 1
    try:
        heap.tune()  # already tuned in this process: nothing more is set
    finally:
        heap._MALLOPT = real
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
