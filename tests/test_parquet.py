"""webrtcpcap.parquet: a capture's tables as a Parquet dataset (Capture.to_parquet), its dtypes, vocabularies, schema
version, and webrtcpcap.dataset reading it back with the same rows as the Capture; pandas and DuckDB agree."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import webrtcpcap
from webrtcpcap.tables import parquet

REPO = Path(__file__).resolve().parents[1]
CAPTURES = REPO / "captures"
# A call with media, SRTP opened by its key log (the SRTP columns), RTCP feedback; a TURN-relayed call; a failure.
SAMPLES = {"chromium_aiortc_loss5": True, "turn_relay_static": True, "ice_udp_blocked": False}


def _open(name: str, keys: bool = True):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        keylog = CAPTURES / f"{name}.keylog"
        return webrtcpcap.open(CAPTURES / f"{name}.pcap", keylog=keylog if keys and keylog.exists() else None,
                               progress=False)


@pytest.fixture(scope="module")
def caps():
    return {name: _open(name, keys) for name, keys in SAMPLES.items()}


@pytest.fixture(scope="module")
def exported(caps, tmp_path_factory):
    out = tmp_path_factory.mktemp("dataset")
    counts = {name: cap.to_parquet(out) for name, cap in caps.items()}
    return out, counts


def test_content_id_is_the_hash_of_the_bytes_whatever_the_name(tmp_path):
    src = CAPTURES / "ice_udp_blocked.pcap"
    copy = tmp_path / "renamed.pcap"
    shutil.copyfile(src, copy)
    assert parquet.content_id(src) == parquet.content_id(copy)
    assert len(parquet.content_id(src)) == 16
    changed = tmp_path / "changed.pcap"
    changed.write_bytes(src.read_bytes()[:-1] + bytes([src.read_bytes()[-1] ^ 1]))
    assert parquet.content_id(changed) != parquet.content_id(src)


def test_to_parquet_writes_every_table_with_its_rows_in_its_capture_partition(caps, exported):
    out, counts = exported
    for name, cap in caps.items():
        capture = parquet.content_id(cap.path)
        for table in parquet.PARTITIONED_TABLES:
            rows = len(getattr(cap, table))
            assert counts[name][table] == rows, (name, table)
            files = list((out / table / f"capture={capture}").glob("*.parquet"))
            assert sum(pq.read_metadata(f).num_rows for f in files) == rows, (name, table)
            assert bool(files) == (rows > 0), (name, table)  # empty tables are not written


def test_every_file_carries_the_schema_version_table_and_capture(caps, exported):
    out, _ = exported
    files = list(out.glob("*/capture=*/*.parquet")) + list(out.glob("_captures/*/*.parquet"))
    assert files
    for f in files:
        meta = pq.read_schema(f).metadata
        assert meta[parquet.META_SCHEMA_VERSION] == str(parquet.SCHEMA_VERSION).encode()
        assert meta[parquet.META_TABLE].decode() in parquet.CAPTURE_TABLES + parquet.SMALL_TABLES
        assert f"capture={meta[parquet.META_CAPTURE].decode()}" in str(f) or meta[parquet.META_CAPTURE].decode() in str(f)
    assert parquet.SCHEMA_VERSION in parquet.CHANGELOG


def test_the_tables_read_back_equal_the_captures_own(caps, exported):
    out, _ = exported
    cap = caps["chromium_aiortc_loss5"]
    capture = parquet.content_id(cap.path)
    back = pd.read_parquet(out / "rtp" / f"capture={capture}" / "part-0.parquet")
    rtp = cap.rtp
    assert back.columns.tolist() == list(rtp.columns) + ["session"]
    for col in rtp.columns:
        assert back[col].astype(object).where(back[col].notna(), None).tolist() == \
            rtp[col].astype(object).where(rtp[col].notna(), None).tolist(), col
    assert (back["session"] == 1).all()  # one call: every RTP row is its
    packets = pd.read_parquet(out / "packets" / f"capture={capture}")
    assert packets["frame"].tolist() == cap.packets["frame"].tolist()
    assert packets["kind"].astype(str).tolist() == cap.packets["kind"].astype(str).tolist()
    assert packets["flow"].astype("Int64").tolist() == cap.packets["flow"].astype("Int64").tolist()


def test_known_vocabularies_cover_every_value_of_the_sample_captures(caps):
    for name, cap in caps.items():
        for table in parquet.CAPTURE_TABLES:
            assert parquet.out_of_vocabulary(getattr(cap, table), table) == {}, (name, table)


def test_every_file_of_a_table_has_one_schema_so_partitions_concatenate(exported):
    out, _ = exported
    for table in parquet.PARTITIONED_TABLES:
        schemas = {pq.read_schema(f).remove_metadata() for f in (out / table).glob("capture=*/*.parquet")}
        assert len(schemas) <= 1, table


def test_a_capture_opened_without_keys_still_has_the_srtp_columns_null(tmp_path):
    cap = _open("chromium_aiortc_loss5", keys=False)
    assert "auth_ok" not in cap.rtp.columns
    cap.to_parquet(tmp_path)
    back = pd.read_parquet(tmp_path / "rtp")
    assert {"auth_ok", "srtp_status"} <= set(back.columns)
    assert back["auth_ok"].isna().all() and back["srtp_status"].isna().all()
    assert list(back["srtp_status"].cat.categories) == list(parquet.VOCABULARIES["srtp_status"])


def test_a_value_outside_its_vocabulary_is_kept_and_named():
    df = pd.DataFrame({"transport": pd.Categorical(["udp", "sctp", None])})
    assert parquet.out_of_vocabulary(df, "packets") == {"transport": ["sctp"]}
    stored = parquet.arrow_frame(df, "packets")["transport"]
    assert stored.astype(object).tolist()[:2] == ["udp", "sctp"] and pd.isna(stored.iloc[2])
    assert list(stored.cat.categories) == list(parquet.VOCABULARIES["transport"]) + ["sctp"]


def test_integer_categoricals_become_nullable_integers_and_open_ones_strings():
    df = pd.DataFrame({"ip_version": pd.Categorical.from_codes([0, -1, 1], categories=pd.Index([4, 6], dtype="uint8")),
                       "src": pd.Categorical(["10.0.0.1", None, "10.0.0.2"])})
    out = parquet.arrow_frame(df, "packets")
    assert str(out["ip_version"].dtype) == "UInt8" and out["ip_version"].tolist() == [4, pd.NA, 6]
    assert str(out["src"].dtype) == "string" and out["src"].tolist() == ["10.0.0.1", pd.NA, "10.0.0.2"]


def test_the_small_tables_are_concatenated_with_the_capture_first(caps, exported):
    out, _ = exported
    captures = pd.read_parquet(out / "captures.parquet")
    assert sorted(captures["capture"]) == sorted(parquet.content_id(c.path) for c in caps.values())
    by_file = captures.set_index("file")
    for name, cap in caps.items():
        row = by_file.loc[f"{name}.pcap"]
        assert row["frames"] == len(cap) and row["sessions"] == len(cap.sessions)
        assert row["rtp_streams"] == len(cap.streams) and row["format"] == cap.format
        assert row["status"] == "ok" and pd.isna(row["error"])
    streams = pd.read_parquet(out / "streams.parquet")
    assert streams.columns[0] == "capture"
    assert len(streams) == sum(len(c.streams) for c in caps.values())
    assert np.array_equal(streams.groupby("capture").size().sort_index().to_numpy(),
                          pd.Series({parquet.content_id(c.path): len(c.streams) for c in caps.values()
                                     if len(c.streams)}).sort_index().to_numpy())


def test_dataset_pandas_and_duckdb_give_the_same_counts(caps, exported):
    duckdb = pytest.importorskip("duckdb")
    out, _ = exported
    ds = webrtcpcap.dataset(out)
    expected = pd.Series({parquet.content_id(c.path): len(c.rtp) for c in caps.values() if len(c.rtp)}).sort_index()
    lazy = ds.rtp.groupby("capture").size().compute().sort_index()
    with_pandas = pd.read_parquet(out / "rtp").groupby("capture", observed=True).size().sort_index()
    sql = duckdb.sql(f"SELECT capture, count(*) AS n FROM read_parquet('{out}/rtp/*/*.parquet', hive_partitioning = "
                     "true) GROUP BY capture").df().set_index("capture")["n"].sort_index()
    for got in (lazy, with_pandas, sql):
        assert got.index.astype(str).tolist() == expected.index.tolist()
        assert got.astype("int64").tolist() == expected.tolist()
    assert len(ds.captures) == len(caps) and "packets" in ds.tables
    assert len(ds.table("packets", pandas=True)) == sum(len(c) for c in caps.values())


def test_a_capture_written_again_leaves_no_stale_part(tmp_path, caps):
    cap = caps["ice_udp_blocked"]
    cap.to_parquet(tmp_path)
    capture = parquet.content_id(cap.path)
    stale = tmp_path / "rtp" / f"capture={capture}" / "part-9.parquet"
    stale.parent.mkdir(parents=True)
    shutil.copyfile(next((tmp_path / "packets").glob("*/*.parquet")), stale)
    cap.to_parquet(tmp_path)
    assert not stale.exists()


def test_the_readmes_sql_gives_what_pandas_gives(caps, exported):
    duckdb = pytest.importorskip("duckdb")
    out, _ = exported
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Many captures at once"):]
    sql = section[section.index("```sql\n") + 7:section.index("```", section.index("```sql\n") + 7)]
    assert "fleet/nacks" in sql
    got = duckdb.sql(sql.replace("'fleet/", f"'{out}/")).df()
    nacks = pd.read_parquet(out / "nacks", columns=["frame", "capture"])
    files = pd.read_parquet(out / "captures.parquet").set_index("capture")["file"]
    expected = nacks.groupby(nacks["capture"].astype(str).map(files)).size()
    expected = expected.sort_index().sort_values(ascending=False, kind="stable").head(5)
    assert len(got) and got["file"].tolist() == expected.index.tolist()
    assert got["nacked"].tolist() == expected.tolist()
    assert expected.sum() <= sum(len(c.nacks) for c in caps.values()) and expected.iloc[0] == max(
        len(c.nacks) for c in caps.values())
