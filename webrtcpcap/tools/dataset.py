"""`webrtcpcap.dataset(DIR)`: a Parquet dataset written by `webrtcpcap batch` or `Capture.to_parquet`, its tables
read lazily: the per-packet tables as Dask DataFrames (one partition per file), the small ones (captures, sessions,
streams, findings) as pandas DataFrames.

    ds = webrtcpcap.dataset("out")
    ds.captures[ds.captures["verdict"] == "error"]          # pandas
    ds.rtp.groupby("capture").size().compute()              # Dask
    ds.table("packets", pandas=True)                        # the whole table in memory, as pandas

The same files open with pandas (`pd.read_parquet("out/rtp")`) and DuckDB (`read_parquet('out/rtp/*/*.parquet',
hive_partitioning = true)`): the `capture` column of a per-packet table comes from its folder (capture=<id>).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads

from ..tables import parquet

# The partition column: always a string (a content id of digits only must not be read as a number).
PARTITIONING = pads.partitioning(pa.schema([("capture", pa.string())]), flavor="hive")


class Dataset:
    """The tables of a dataset folder.  Attributes: every table name (`tables` lists those present); `captures`,
    `sessions`, `streams`, `findings`, `endpoint_stats` are pandas DataFrames (read once, kept); the others are Dask
    DataFrames with `capture` (string: the id in the folder name, capture=<id>) as their last column.
    `schema_version`: the version the files were written with (a UserWarning when it is not this library's,
    parquet.SCHEMA_VERSION)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not (self.path / "captures.parquet").is_file():
            raise FileNotFoundError(f"{self.path}: not a webrtcpcap dataset (no captures.parquet)")
        self.schema_version = parquet.schema_version_of(self.path / "captures.parquet")
        if self.schema_version != parquet.SCHEMA_VERSION:
            warnings.warn(f"{self.path}: written with schema version {self.schema_version}, this library reads "
                          f"{parquet.SCHEMA_VERSION} (see webrtcpcap.parquet.CHANGELOG)", stacklevel=2)
        self._small: dict[str, pd.DataFrame] = {}

    @property
    def tables(self) -> list[str]:
        """The tables the folder holds: small ones first, then per-packet tables in parquet.PARTITIONED_TABLES order."""
        small = [t for t in parquet.SMALL_TABLES if (self.path / f"{t}.parquet").is_file()]
        return small + [t for t in parquet.PARTITIONED_TABLES if any((self.path / t).glob("capture=*/*.parquet"))]

    def files(self, name: str) -> list[str]:
        """The Parquet files of a per-packet table, in order of capture id and part."""
        return sorted(str(p) for p in (self.path / name).glob("capture=*/*.parquet"))

    def table(self, name: str, pandas: bool = False, columns: list[str] | None = None):
        """One table: pandas for the small ones (or with `pandas=True`: a per-packet table read whole, through Arrow),
        else a Dask DataFrame.  A per-packet table that no capture has rows in gives an empty pandas DataFrame."""
        if name in parquet.SMALL_TABLES:
            if name not in self._small:
                file = self.path / f"{name}.parquet"
                self._small[name] = pd.read_parquet(file) if file.is_file() else pd.DataFrame()
            out = self._small[name]
            return out[columns] if columns else out
        if name not in parquet.PARTITIONED_TABLES:
            raise KeyError(f"{name}: no such table (tables: {', '.join(parquet.SMALL_TABLES + parquet.PARTITIONED_TABLES)})")
        files = self.files(name)
        if pandas or not files:
            if not files:
                return pd.DataFrame()
            arrow = pads.dataset(str(self.path / name), format="parquet", partitioning=PARTITIONING)
            return arrow.to_table(columns=columns).to_pandas()
        import dask.dataframe as dd  # deferred: dask is for the lazy tables alone, and takes 2 s to import

        return dd.read_parquet(str(self.path / name), columns=columns, dataset={"partitioning": PARTITIONING})

    def __getattr__(self, name: str):
        if name in parquet.SMALL_TABLES or name in parquet.PARTITIONED_TABLES:
            return self.table(name)
        raise AttributeError(name)

    def __getitem__(self, name: str):
        return self.table(name)

    def __repr__(self) -> str:
        return f"<webrtcpcap.Dataset {str(self.path)!r}: {len(self.table('captures'))} captures, " \
               f"schema version {self.schema_version}>"


def dataset(path: str | os.PathLike) -> Dataset:
    """Open a dataset folder (see Dataset)."""
    return Dataset(path)
