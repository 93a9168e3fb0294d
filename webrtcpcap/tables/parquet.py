"""A capture's tables as a Parquet dataset: the one layout that `Capture.to_parquet` and `webrtcpcap batch` write and
`webrtcpcap.dataset` (DuckDB, pandas, polars, Spark) reads.

Layout of a dataset folder DIR:

    DIR/<table>/capture=<id>/part-<n>.parquet   the per-packet tables (packets, rtp, stun, ...): hive-partitioned by
                                                capture, so DIR/packets/ is the packets dataset with a `capture` column
    DIR/captures.parquet, sessions.parquet, streams.parquet, findings.parquet, endpoint_stats.parquet
                                                the small per-capture tables, concatenated (one file each), `capture`
                                                their first column (endpoint_stats: compare.side_by_side's columns,
                                                for captures with a getStats side file)
    DIR/_captures/<id>/<table>.parquet          the small tables of each capture, and its `captures` row last (the
                                                capture's output is complete when that row is there): what resuming
                                                and concatenating read.  A leading "_" keeps readers of DIR/<table>/
                                                away from it.

Strategy: tables are converted at export, not changed at their source.  A categorical of integers becomes its
nullable integer type; a categorical whose values the package knows (`VOCABULARIES`) keeps every one of them as its
categories, in the same order in every file, so that partitions concatenate as one categorical; any other categorical
(addresses, error texts, names) becomes a string column.  Columns that only some captures have (the SRTP columns of
a capture opened with keys) are added, null, to the others, so that every file of a table has one schema.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .. import __version__ as _package_version
from ..net import demux
from ..net import layers as net
from ..net.tcp import FRAMINGS
from ..protocols import dtls, srtp, stun
from ..protocols.rtp_extensions import FORM_NAMES
from . import streams as _streams
from .feedback_tables import KEYFRAME_REQUEST_KINDS, TMMB_KINDS
from .schema import DECRYPTED_RTCP_SCHEMA, DECRYPTED_RTP_SCHEMA

# The schema version of the files written here: bump it on any change to a column's name, dtype or meaning (and say
# what changed below).  A dataset written under another version is not resumed: its captures are read again.
SCHEMA_VERSION = 3
CHANGELOG: dict[int, str] = {
    1: "first version: every Capture table; `capture` (blake2b-64 of the file, hex) on every table, `session` on the "
       "tables placed by frame or flow; integer categoricals as nullable integers, known vocabularies as fixed "
       "categoricals, other categoricals as strings; rtp/rtcp always carry auth_ok and srtp_status.",
    2: "packets gains dscp and ecn (UInt8, after ip_version): the IPv4 TOS / IPv6 Traffic Class byte's high 6 and "
       "low 2 bits, null without an IP header.",
    3: "the endpoints' own figures: a small table `endpoint_stats` (webrtcpcap.compare.side_by_side of the capture "
       "and its getStats side file, `capture` first) and, in `captures`, endpoint_compared, endpoint_disagree and "
       "getstats_error.  The `ccfb` table (RFC 8888 congestion control feedback, one row per reported packet).",
}

# Keys of the Parquet file metadata (each file's schema.metadata), beside pandas' own.
META_SCHEMA_VERSION = b"webrtcpcap.schema_version"
META_TABLE = b"webrtcpcap.table"
META_CAPTURE = b"webrtcpcap.capture"
META_LIBRARY = b"webrtcpcap.version"
META_RETRY = b"webrtcpcap.retry"  # on a captures row whose error may not be the file's (memory, a lost worker)

# The tables of a Capture written per capture (hive partitions), in the order they are written.
PARTITIONED_TABLES: tuple[str, ...] = (
    "packets", "flows", "interfaces", "icmp", "fragments", "tcp_streams", "rtp", "rtcp", "stun", "stun_attributes",
    "dtls_records", "dtls_handshakes", "dtls_decrypted", "quic", "quic_connections", "rtp_extensions",
    "rtcp_datagrams", "rtcp_sender_reports", "rtcp_report_blocks", "rtcp_sdes", "rtcp_bye", "rtcp_feedback",
    "rtcp_other", "nacks", "keyframe_requests", "remb", "remb_ssrcs", "twcc", "tmmbr", "ccfb",
    "feedback_errors",
    "session_flows", "ice_generations",
)
# Small per-capture tables: one file each for the whole dataset (DIR/<name>.parquet).  `findings` and the verdict of
# `captures` come from webrtcpcap.health, a floor above: webrtcpcap.batch adds them.
SMALL_TABLES: tuple[str, ...] = ("captures", "sessions", "streams", "findings", "endpoint_stats")
CAPTURE_TABLES: tuple[str, ...] = PARTITIONED_TABLES + ("sessions", "streams")

# Tables read chunk by chunk (webrtcpcap.iter_chunks) for a capture too large to hold whole: what a Chunk has whose
# rows do not depend on the rest of the file.  (flows: ids are per chunk; tcp_streams: the last chunk's is whole.)
CHUNKED_TABLES: tuple[str, ...] = ("packets", "icmp", "fragments", "rtp", "rtcp", "stun", "stun_attributes")

# Columns whose every value the package knows, as categoricals with these categories in every file (a value outside
# them is kept, its category appended, and `out_of_vocabulary` names it).  By column name, then by (table, column)
# where one name means different things in different tables.
VOCABULARIES: dict[str, tuple[str, ...]] = {
    "transport": tuple(n for n in net.TRANSPORT_NAMES if n),
    "evidence": tuple(n for n in demux.EVIDENCE_NAMES if n),
    "cls": tuple(stun.CLASS_NAMES),
    "method": tuple(stun.METHOD_NAMES.values()),
    "ice_role": ("controlling", "controlled"),
    "srtp_status": tuple(srtp.STATUS_NAMES),
    "content_type": tuple(dtls.CONTENT_TYPE_NAMES.values()) + ("unknown",),
    "role": tuple(_streams.ROLES),
    "clock_rate_source": ("given", "inferred", "unknown"),
    "reporter_kind": ("SR", "RR"),
    "framing": tuple(FRAMINGS),
    "form": tuple(FORM_NAMES[k] for k in sorted(FORM_NAMES)),
}
TABLE_VOCABULARIES: dict[tuple[str, str], tuple[str, ...]] = {
    ("packets", "kind"): tuple(demux.KIND_NAMES),
    ("streams", "kind"): tuple(_streams.KINDS),
    ("keyframe_requests", "kind"): tuple(KEYFRAME_REQUEST_KINDS),
    ("tmmbr", "kind"): tuple(TMMB_KINDS),
    ("captures", "status"): ("ok", "chunked", "error"),
    ("captures", "verdict"): ("ok", "info", "warning", "error"),  # webrtcpcap.health.SEVERITIES, a floor above
}

# Tables whose columns depend on how the capture was opened: exported with every column of the full schema.
FULL_SCHEMAS: dict[str, dict[str, str]] = {"rtp": DECRYPTED_RTP_SCHEMA, "rtcp": DECRYPTED_RTCP_SCHEMA}

_NULLABLE_INT = {"int8": "Int8", "int16": "Int16", "int32": "Int32", "int64": "Int64", "uint8": "UInt8",
                 "uint16": "UInt16", "uint32": "UInt32", "uint64": "UInt64"}
_HASH_BLOCK = 1 << 20


def content_id(path: str | os.PathLike) -> str:
    """A capture's identity: the blake2b-64 hash of the file's bytes (as stored: a .pcap.gz is hashed compressed), in
    hex (16 characters).  Read in 1 MiB blocks: memory stays flat whatever the size.  The same bytes under two names
    are one capture; the file name is kept beside it (captures.file)."""
    h = hashlib.blake2b(digest_size=8)
    with open(path, "rb") as f:
        while block := f.read(_HASH_BLOCK):
            h.update(block)
    return h.hexdigest()


def vocabulary(table: str, column: str) -> tuple[str, ...] | None:
    """The fixed categories of a column of a table, or None when its values are open (addresses, texts)."""
    return TABLE_VOCABULARIES.get((table, column), VOCABULARIES.get(column))


def out_of_vocabulary(df: pd.DataFrame, table: str) -> dict[str, list[str]]:
    """{column: values outside its vocabulary} of a table as the package makes it (empty when all are known)."""
    out = {}
    for name in df.columns:
        vocab = vocabulary(table, name)
        if vocab is not None:
            extra = sorted(set(df[name].dropna().astype(str)) - set(vocab))
            if extra:
                out[name] = extra
    return out


def arrow_frame(df: pd.DataFrame, table: str, vocabularies: dict | None = None) -> pd.DataFrame:
    """A table with the dtypes it is stored with (see the module's strategy); the rows and values unchanged.
    `vocabularies` ({column: categories}) adds fixed vocabularies for this table (a floor above: health's stages)."""
    if table in FULL_SCHEMAS:
        df = _full(df, FULL_SCHEMAS[table])
    out = {}
    for name in df.columns:
        col = df[name]
        if isinstance(col.dtype, pd.CategoricalDtype):
            vocab = (vocabularies or {}).get(name) or vocabulary(table, name)
            col = _from_categorical(col, vocab)
        elif col.dtype == object:
            col = col.astype("string")
        out[name] = col.reset_index(drop=True)
    return pd.DataFrame(out)


def _full(df: pd.DataFrame, schema: dict[str, str]) -> pd.DataFrame:
    """`df` with every column of `schema`, those it lacks added null (in the schema's order, its own extra columns
    after them)."""
    missing = [c for c in schema if c not in df.columns]
    if not missing:
        return df
    df = df.copy()
    for c in missing:
        df[c] = pd.Categorical([None] * len(df)) if schema[c] == "category" else \
            pd.array([pd.NA] * len(df), dtype=schema[c])
    return df[list(schema) + [c for c in df.columns if c not in schema]]


def _from_categorical(col: pd.Series, vocab: tuple[str, ...] | None) -> pd.Series:
    cats = col.cat.categories
    if len(cats) and cats.dtype.kind in "iu":  # integer categories (interface, ip_version, flow, ext_profile)
        return col.astype(_NULLABLE_INT[str(cats.dtype)])
    if vocab is None:
        return col.astype("string")
    extra = sorted(set(col.dropna().astype(str)) - set(vocab))  # kept, not dropped (out_of_vocabulary names them)
    return pd.Series(pd.Categorical(col.astype(object), categories=list(vocab) + extra, ordered=col.cat.ordered),
                     index=col.index)


def arrow_table(df: pd.DataFrame, table: str, capture: str | None = None, vocabularies: dict | None = None,
                complete: bool = True) -> pa.Table:
    """The Arrow table stored for a table: arrow_frame's columns, dictionary indices widened to int32 (so that a
    vocabulary that grows never changes a file's schema), and webrtcpcap's metadata (schema version, table,
    capture; `complete` False marks a captures row that a resumed batch must not trust) beside pandas'."""
    t = pa.Table.from_pandas(arrow_frame(df, table, vocabularies), preserve_index=False)
    fields = [pa.field(f.name, pa.dictionary(pa.int32(), pa.string(), f.type.ordered))
              if pa.types.is_dictionary(f.type) else f for f in t.schema]
    t = t.cast(pa.schema(fields, metadata=t.schema.metadata))
    meta = dict(t.schema.metadata or {})
    meta.update({META_SCHEMA_VERSION: str(SCHEMA_VERSION).encode(), META_TABLE: table.encode(),
                 META_LIBRARY: _package_version.encode()})
    if capture is not None:
        meta[META_CAPTURE] = capture.encode()
    if not complete:
        meta[META_RETRY] = b"1"
    return t.replace_schema_metadata(meta)


def write_parquet(df: pd.DataFrame, path: str | os.PathLike, table: str, capture: str | None = None,
                  vocabularies: dict | None = None, complete: bool = True) -> None:
    """One table to one Parquet file, written to a temporary name and renamed: a reader (or a resumed batch) never
    sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(arrow_table(df, table, capture, vocabularies, complete), tmp)
    os.replace(tmp, path)


def partition_dir(out: str | os.PathLike, table: str, capture: str) -> Path:
    return Path(out) / table / f"capture={capture}"


def capture_dir(out: str | os.PathLike, capture: str) -> Path:
    """Where a capture's small tables and its `captures` row are kept (DIR/_captures/<id>)."""
    return Path(out) / "_captures" / capture


def clear_partitions(out: str | os.PathLike, capture: str) -> None:
    """Remove what an earlier write left of one capture (part files of every table; its small tables), so that a
    capture written again (a new schema version, a chunked read after a whole one) leaves no stale parts."""
    out = Path(out)
    if out.is_dir():
        for table in out.iterdir():
            part = table / f"capture={capture}"
            if part.is_dir():
                for f in part.glob("*.parquet"):
                    f.unlink()
    small = capture_dir(out, capture)
    if small.is_dir():
        for f in small.glob("*.parquet"):
            f.unlink()


def with_capture(df: pd.DataFrame, capture: str) -> pd.DataFrame:
    """`df` with `capture` (string) as its first column: the small tables, which are concatenated."""
    out = df.reset_index(drop=True).copy()
    out.insert(0, "capture", pd.array([capture] * len(out), dtype="string"))
    return out


def labelled(cap, name: str, table: pd.DataFrame) -> pd.DataFrame:
    """A table of `cap` with its `session` column (webrtcpcap.sessions.label): the tables placed by frame
    (first_frame) and the streams by their ends; flows by session_flows.  Tables that have `session` already
    (sessions, session_flows, ice_generations) or that no call owns (interfaces) are left as they are."""
    if "session" in table.columns or name == "interfaces":
        return table
    if name == "flows":
        of_flow = dict(zip(cap.session_flows["flow"].tolist(), cap.session_flows["session"].tolist()))
        return table.assign(session=pd.array([of_flow.get(f) for f in table["flow"].tolist()], dtype="Int64"))
    if "frame" in table.columns or "first_frame" in table.columns or name == "streams":
        return cap.label_sessions(table)
    return table


def capture_row(path: str | os.PathLike, capture: str, *, frames: int | None = None, duration_s: float | None = None,
                start=None, fmt: str | None = None, sessions: int | None = None, rtp_streams: int | None = None,
                problem: str | None = None, error: str | None = None, status: str = "ok", chunked: bool = False,
                verdict: str | None = None, headline: str | None = None, sdps: int = 0, keylog: bool = False,
                getstats: bool = False, endpoint_compared: int | None = None, endpoint_disagree: int | None = None,
                getstats_error: str | None = None) -> pd.DataFrame:
    """The one-row `captures` table of a capture (CAPTURES_SCHEMA)."""
    path = os.fspath(path)
    row = {"capture": capture, "file": os.path.basename(path), "path": path,
           "bytes": os.path.getsize(path) if os.path.exists(path) else None, "format": fmt, "frames": frames,
           "duration_s": duration_s, "start": start, "sessions": sessions, "rtp_streams": rtp_streams,
           "status": status, "verdict": verdict, "headline": headline, "problem": problem, "error": error,
           "chunked": chunked, "sdps": sdps, "keylog": keylog, "getstats": getstats,
           "endpoint_compared": endpoint_compared, "endpoint_disagree": endpoint_disagree,
           "getstats_error": getstats_error,
           "schema_version": SCHEMA_VERSION, "webrtcpcap_version": _package_version}
    df = pd.DataFrame({k: [v] for k, v in row.items()})
    out = {}
    for name, dtype in CAPTURES_SCHEMA.items():
        if name in ("status", "verdict"):
            out[name] = pd.Categorical(df[name], categories=list(TABLE_VOCABULARIES[("captures", name)]),
                                       ordered=name == "verdict")
        elif dtype == "datetime64[ns, UTC]":
            out[name] = pd.to_datetime(df[name], utc=True).astype(dtype)
        else:
            out[name] = df[name].astype(dtype)
    return pd.DataFrame(out)


# The `captures` table: one row per capture (distinct content) of a dataset.
CAPTURES_SCHEMA: dict[str, str] = {
    "capture": "string",  # content id (content_id)
    "file": "string",  # the file's name
    "path": "string",  # as given to the batch
    "bytes": "Int64",  # file size as stored
    "format": "string",  # pcap / pcapng; null when not read
    "frames": "Int64",
    "duration_s": "Float64",  # last frame's t
    "start": "datetime64[ns, UTC]",  # first frame's time
    "sessions": "Int64",  # calls (cap.sessions)
    "rtp_streams": "Int64",  # rows of cap.streams
    "status": "category",  # ok, chunked (too large to judge whole: the per-packet tables only), error
    "verdict": "category",  # health verdict (ok, info, warning, error); null when not judged
    "headline": "string",  # the sentence behind the verdict
    "problem": "string",  # why the file was read only in part (cut short, corrupt part-way)
    "error": "string",  # why it could not be read at all (status error)
    "chunked": "bool",
    "sdps": "int64",  # SDP side files found
    "keylog": "bool",  # a key log side file was found
    "getstats": "bool",  # a getStats side file was found
    "endpoint_compared": "Int64",  # endpoint_stats rows where both sides count the same thing (null: no getStats)
    "endpoint_disagree": "Int64",  # of those, how many differ beyond the tolerance (compare.DEFAULT_TOLERANCE)
    "getstats_error": "string",  # why the getStats side file could not be used (the capture is read all the same)
    "schema_version": "int64",
    "webrtcpcap_version": "string",
}


def write_tables(cap, out: str | os.PathLike, capture: str | None = None) -> dict[str, int]:
    """Every table of a Capture into the dataset folder `out` (layout: this module's docstring), each with its
    `session` where rows belong to calls; returns {table: rows}.  The capture's id is its content hash unless given.
    Tables with no rows are not written (a reader of DIR/<table>/ finds only the captures that have some).  Writes
    the small tables (sessions, streams) and a captures row under DIR/_captures/<id>/ and concatenates them into
    DIR/<small>.parquet (`consolidate`)."""
    capture = capture or content_id(cap.path)
    clear_partitions(out, capture)
    counts = write_capture_tables(cap, out, capture)
    packets = cap.packets
    write_parquet(capture_row(cap.path, capture, **capture_facts(cap)), capture_dir(out, capture) / "captures.parquet",
                  "captures", capture)
    consolidate(out)
    return {**counts, "captures": 1, "sessions": len(cap.sessions), "streams": len(cap.streams),
            "packets": len(packets)}


def capture_facts(cap) -> dict:
    """The captures row's columns that come from an open Capture."""
    packets = cap.packets
    t = packets["t"].dropna()
    times = packets["time"].dropna()
    return {"frames": len(packets), "duration_s": float(t.max()) if len(t) else None,
            "start": times.iloc[0] if len(times) else None, "fmt": cap.format, "sessions": len(cap.sessions),
            "rtp_streams": len(cap.streams), "problem": cap.problem}


def write_capture_tables(cap, out: str | os.PathLike, capture: str) -> dict[str, int]:
    """The per-packet tables into DIR/<table>/capture=<id>/part-0.parquet and sessions and streams into
    DIR/_captures/<id>/; {table: rows}."""
    counts = {}
    for name in PARTITIONED_TABLES:
        table = labelled(cap, name, getattr(cap, name))
        counts[name] = len(table)
        if len(table):
            write_parquet(table, partition_dir(out, name, capture) / "part-0.parquet", name, capture)
    for name in ("sessions", "streams"):
        table = labelled(cap, name, getattr(cap, name))
        counts[name] = len(table)
        write_parquet(with_capture(table, capture), capture_dir(out, capture) / f"{name}.parquet", name, capture)
    return counts


def completed(out: str | os.PathLike, capture: str) -> bool:
    """Whether a capture's output in `out` is complete and of this schema version (what a resumed batch skips)."""
    row = capture_dir(out, capture) / "captures.parquet"
    if not row.is_file():
        return False
    try:
        meta = pq.read_schema(row).metadata or {}
    except (OSError, pa.ArrowInvalid):
        return False
    return meta.get(META_SCHEMA_VERSION) == str(SCHEMA_VERSION).encode() and META_RETRY not in meta


def consolidate(out: str | os.PathLike) -> dict[str, int]:
    """DIR/<small>.parquet for each small table: the concatenation of every capture's (DIR/_captures/*/), in order
    of capture id; {table: rows}.  Only captures whose `captures` row is there (complete) are taken."""
    out = Path(out)
    root = out / "_captures"
    ids = sorted(p.name for p in root.iterdir() if (p / "captures.parquet").is_file()) if root.is_dir() else []
    counts = {}
    for name in SMALL_TABLES:
        parts = [pq.read_table(root / i / f"{name}.parquet") for i in ids if (root / i / f"{name}.parquet").is_file()]
        target = out / f"{name}.parquet"
        if not parts:
            if target.exists():
                target.unlink()
            continue
        table = pa.concat_tables(parts).unify_dictionaries().combine_chunks()  # one schema: arrow_table made them
        meta = dict(parts[0].schema.metadata or {})
        meta.pop(META_CAPTURE, None)
        table = table.replace_schema_metadata(meta)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, target)
        counts[name] = table.num_rows
    return counts


def schema_version_of(path: str | os.PathLike) -> int | None:
    """The schema version a Parquet file of a dataset was written with (None when it has none)."""
    meta = pq.read_schema(path).metadata or {}
    value = meta.get(META_SCHEMA_VERSION)
    return int(value) if value is not None else None

