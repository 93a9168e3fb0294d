"""Compiled record walks: find where every record of a pcap/pcapng buffer starts.

Strategy: record lengths chain the records together, so finding them is one sequential loop, the only one of the
whole data path that numpy cannot vectorise.  When numba is installed the loop is compiled (about 100x faster than
the Python loop in reader.py, which stays as the fallback and the reference: a test holds them equal).  The loop
stops, and returns a status, wherever Python has to look: a section or interface block, a length that is absurd or
runs past the buffer.
"""

from __future__ import annotations

import numpy as np

try:  # numba is a dependency, but the reader must work without it (slower)
    import numba
except ImportError:  # pragma: no cover - exercised when numba is absent
    numba = None

OK = 0
PARTIAL = 1  # the next record runs past the end of the buffer
ABSURD = 2  # the next record's length is absurd
SPECIAL = 3  # pcapng: the next block is a section or interface block (Python reads it)

_SHB = 0x0A0D0D0A
_IDB = 1
_PACKET_BLOCKS = (2, 3, 6)


def _rd32(buf, pos, little):
    if little:
        return (np.int64(buf[pos]) | (np.int64(buf[pos + 1]) << 8) | (np.int64(buf[pos + 2]) << 16)
                | (np.int64(buf[pos + 3]) << 24))
    return (np.int64(buf[pos + 3]) | (np.int64(buf[pos + 2]) << 8) | (np.int64(buf[pos + 1]) << 16)
            | (np.int64(buf[pos]) << 24))


def _pcap_walk(buf, pos, end, little, limit, max_len, out):
    n = 0
    while pos + 16 <= end and n < limit:
        incl = _rd32(buf, pos + 8, little)
        if incl > max_len:
            return n, pos, ABSURD
        if pos + 16 + incl > end:
            return n, pos, PARTIAL
        out[n] = pos
        n += 1
        pos += 16 + incl
    if n < limit and pos < end:
        return n, pos, PARTIAL
    return n, pos, OK


def _pcapng_walk(buf, pos, end, little, limit, max_block, out):
    n = 0
    while pos + 12 <= end and n < limit:
        btype = _rd32(buf, pos, little)
        if btype == _SHB or btype == _IDB:
            return n, pos, SPECIAL
        blen = _rd32(buf, pos + 4, little)
        if blen < 12 or blen % 4 != 0 or blen > max_block:
            return n, pos, ABSURD
        if pos + blen > end:
            return n, pos, PARTIAL
        if btype == 6 or btype == 3 or btype == 2:
            out[n] = pos
            n += 1
        pos += blen
    if n < limit and pos < end:
        return n, pos, PARTIAL
    return n, pos, OK


if numba is not None:
    _rd32 = numba.njit(cache=True, nogil=True)(_rd32)
    pcap_walk = numba.njit(cache=True, nogil=True)(_pcap_walk)
    pcapng_walk = numba.njit(cache=True, nogil=True)(_pcapng_walk)
    COMPILED = True
else:  # pragma: no cover
    pcap_walk = None
    pcapng_walk = None
    COMPILED = False
