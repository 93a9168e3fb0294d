"""Returning freed memory to the system (glibc): what keeps a decode's process memory near the heap it uses.

Strategy: the tables are built in stages whose temporaries come and go; glibc keeps freed pages for reuse, so the
process' memory would climb well above what is in use.  `give_back_free_memory` runs malloc_trim between stages:
a call that hands back the free pages glibc holds at that moment and changes no setting, so the library may do it
in the user's process.  `tune`, which fixes glibc's trim and mmap thresholds for the rest of the process, is a
setting of the whole process: the library never calls it; a program of your own may (the `webrtcpcap` command
does), and only then does `trim_worker_heaps` shrink the decoding threads' heaps.  Where the C library is not glibc
(macOS, musl), every function here does nothing.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import threading
import time

import numpy as np


def _libc_malloc_trim():
    """glibc's malloc_trim, or None where the C library has none (macOS, musl)."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None


_MALLOC_TRIM = _libc_malloc_trim()

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_TRIM_THRESHOLD = 8 << 20  # while decoding: lower, and the slices' temporaries would fault in fresh pages again
_TRIM_THRESHOLD_LOW = 1 << 20  # for the moment the worker threads' heaps are trimmed
_MMAP_THRESHOLD = 32 << 20  # the ceiling glibc's own sliding threshold reaches on 64-bit systems


def _libc_mallopt():
    """glibc's mallopt, or None where there is no malloc_trim (then the C library is not glibc)."""
    if _MALLOC_TRIM is None:
        return None
    try:
        return ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):
        return None


_MALLOPT = _libc_mallopt()
_malloc_tuned = False


def tune() -> None:
    """Opt-in, for a process of your own: fix glibc's trim threshold at 8 MiB (and its mmap threshold at 32 MiB)
    for the rest of the process, once.  `import webrtcpcap` and decoding never call it; the `webrtcpcap` command
    does, for its own process.

    The slices are decoded on worker threads, and each thread's glibc arena keeps the free memory at its top up to
    the trim threshold, which glibc slides up to 64 MiB as big arrays come and go; malloc_trim does not shrink
    those tops.  With two workers that was 8 bytes a packet of process memory that nothing used, held for as long
    as the process lives (see trim_worker_heaps for the rest).  Setting the trim threshold freezes glibc's sliding
    mmap threshold too, so that one is set to the ceiling it would slide to anyway (arrays below it come from the
    heap, as after any big decode).  These are settings of the whole process (every allocation of every library in
    it follows them), which is why a library must not make them behind its user's back.  Nothing happens where the
    C library is not glibc (macOS, musl).

        import webrtcpcap.io.heap
        webrtcpcap.io.heap.tune()      # once, at the start of your program
    """
    global _malloc_tuned
    if _malloc_tuned or _MALLOPT is None:
        return
    _malloc_tuned = True
    _MALLOPT(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
    _MALLOPT(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)


def trim_worker_heaps(pool: concurrent.futures.ThreadPoolExecutor, workers: int) -> None:
    """Have glibc shrink the top of each worker thread's heap, once the slices are decoded.

    glibc shrinks a thread's heap only when that thread frees a block next to its top and the top is over the trim
    threshold: so, with the threshold low for a moment, every worker frees one block.  The barrier makes each
    worker take one of the calls.  Only after `tune` (the user's opt-in): lowering the threshold is a setting of
    the whole process, and setting it at all stops glibc's own sliding thresholds."""
    if _MALLOPT is None or not _malloc_tuned:
        return
    barrier = threading.Barrier(workers)

    def free_one_block(_):
        try:
            barrier.wait(timeout=2)
        except threading.BrokenBarrierError:
            pass  # a worker that does not come only means its heap keeps its top
        block = np.empty(1 << 17, dtype=np.uint8)  # from this thread's heap (under the mmap threshold)
        block[::4096] = 0
        del block

    _MALLOPT(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_LOW)
    try:
        for _ in pool.map(free_one_block, range(workers)):
            pass
    finally:
        _MALLOPT(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)


_MIN_TRIM_INTERVAL_S = 0.05
_last_trim = 0.0


def give_back_free_memory() -> None:
    """Return the heap pages the slices' temporaries freed to the system: glibc keeps them otherwise, and the
    tables built next would come on top of them, so the process' real peak would be well above what it uses.

    At most one trim per 50 ms: malloc_trim walks the whole heap (about 0.5 ms, a dozen times per decode), which
    made a sizeable part of iter_chunks' fixed cost per small chunk, and two calls that close together cannot have
    freed enough in between to matter."""
    global _last_trim
    if _MALLOC_TRIM is None:
        return
    now = time.monotonic()
    if now - _last_trim < _MIN_TRIM_INTERVAL_S:
        return
    _MALLOC_TRIM(0)
    _last_trim = time.monotonic()
