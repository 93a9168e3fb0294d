"""The ends of the rows of a table, as codes: which rows travel between two given transport addresses, without
formatting "ip:port" for each of a million RTP rows.

    ends = FlowEnds(rtp)                       # once per table
    mask = ends.between({"10.0.0.1:5000", "10.0.0.2:6000"})   # rows from one of them to the other (either way)
    ends.src_names(rows)                        # "ip:port" of the senders of some rows

Strategy: a table names a handful of distinct (address, port) pairs however many rows it has, so each pair is given
a code once (pandas.factorize on the address, then on address and port together), formatted once with
webrtcpcap.net.layers.endpoint (the one spelling every table uses), and compared as codes row by row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..net.layers import endpoint as _endpoint


class FlowEnds:
    """The (address, port) of each row's source and destination of a table with src, sport, dst, dport, coded:
    `src`, `dst` (int64 per row, indices into `names`), `names` (the "ip:port" of each code)."""

    def __init__(self, df: pd.DataFrame, src: str = "src", sport: str = "sport", dst: str = "dst",
                 dport: str = "dport"):
        n = len(df)
        if not n:
            self.src = self.dst = np.zeros(0, dtype=np.int64)
            self.names: list[str] = []
            return
        # Both ends share one code space: the same address is one code whichever column it is read from.
        src_codes, src_values = pd.factorize(df[src], use_na_sentinel=False)  # categorical: its codes, no strings
        dst_codes, dst_values = pd.factorize(df[dst], use_na_sentinel=False)
        uniques = list(dict.fromkeys(list(src_values) + list(dst_values)))
        where = {v: i for i, v in enumerate(uniques)}
        codes = np.concatenate([np.asarray([where[v] for v in src_values], dtype=np.int64)[src_codes],
                                np.asarray([where[v] for v in dst_values], dtype=np.int64)[dst_codes]])
        ports = np.concatenate([df[sport].to_numpy().astype(np.int64), df[dport].to_numpy().astype(np.int64)])
        base = max(int(ports.max()) + 1, 1)  # 65536 for ports as captured
        inverse, keys = pd.factorize(codes * base + ports)  # hashed: a table has few distinct ends
        inverse = inverse.astype(np.int64)
        self.src, self.dst = inverse[:n], inverse[n:]
        self.names = [_endpoint(uniques[k // base], k % base) for k in keys.tolist()]

    def codes_of(self, names) -> np.ndarray:
        """The codes of the given "ip:port" names (those that occur in the table)."""
        wanted = set(names)
        return np.asarray([i for i, name in enumerate(self.names) if name in wanted], dtype=np.int64)

    def between(self, ends) -> np.ndarray:
        """Rows whose source and destination are both among `ends` ("ip:port" names)."""
        codes = self.codes_of(ends)
        return np.isin(self.src, codes) & np.isin(self.dst, codes)

    def either_way(self, a: str, b: str) -> np.ndarray:
        """Rows from `a` to `b` or from `b` to `a` ("ip:port" names)."""
        ca, cb = (self.names.index(x) if x in self.names else -1 for x in (a, b))
        return ((self.src == ca) & (self.dst == cb)) | ((self.src == cb) & (self.dst == ca))

    def src_names(self, rows: np.ndarray) -> list[str]:
        return [self.names[i] for i in self.src[rows].tolist()]

    def dst_names(self, rows: np.ndarray) -> list[str]:
        return [self.names[i] for i in self.dst[rows].tolist()]

