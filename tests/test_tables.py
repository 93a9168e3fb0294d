"""Every table has exactly its schema's columns and dtypes (tables.*_SCHEMA), also when empty."""

from __future__ import annotations

import struct

import numpy as np
import pandas as pd
import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

import webrtcpcap
from webrtcpcap.tables import schema as tables

from conftest import (SYNTHETIC, dtls_client_hello, epb, idb, open_quiet, rtcp_sdes, rtcp_sr, rtp_packet, shb,
                      stun_call, stun_message, udp4, udp6, write_pcap, write_pcapng)

SCHEMAS = {"packets": tables.PACKETS_SCHEMA, "rtp": tables.RTP_SCHEMA, "rtcp": tables.RTCP_SCHEMA,
           "flows": tables.FLOWS_SCHEMA}
# Side tables for sparse facts, where the library has them.
SCHEMAS.update({name: getattr(tables, f"{name.upper()}_SCHEMA") for name in ("icmp", "fragments", "tcp_streams")
                if hasattr(tables, f"{name.upper()}_SCHEMA")})


def _captures(tmp_path):
    ice_tcp = bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=9, dport=7, flags="PA", seq=1)
                    / (struct.pack(">H", 20) + stun_message()))  # one RFC 4571-framed STUN message
    full = stun_call() + [udp4(rtcp_sr() + rtcp_sdes()), udp4(dtls_client_hello()), udp6(b"x"), b"\x00" * 20, ice_tcp]
    return {
        "full": write_pcap(tmp_path / "full.pcap", full),
        "header-only pcap": write_pcap(tmp_path / "empty.pcap", []),
        "pcapng without packets": write_pcapng(tmp_path / "empty.pcapng", [shb(), idb(1)]),
        "no webrtc": write_pcap(tmp_path / "other.pcap", [udp4(b"hello")]),
        "one non-ip frame": write_pcap(tmp_path / "nonip.pcap", [b"\x00" * 20]),
    }


@pytest.mark.parametrize("which", ["full", "header-only pcap", "pcapng without packets", "no webrtc",
                                   "one non-ip frame"])
@pytest.mark.parametrize("table", list(SCHEMAS))
def test_table_columns_and_dtypes_match_the_schema(which, table, tmp_path):
    cap = open_quiet(_captures(tmp_path)[which])
    assert tables.check_schema(getattr(cap, table), SCHEMAS[table]) == []


@pytest.mark.parametrize("table", list(SCHEMAS))
def test_iter_chunks_tables_match_the_schema(table, tmp_path):
    path = _captures(tmp_path)["full"]
    for chunk in webrtcpcap.iter_chunks(path, packets=3, progress=False):
        assert tables.check_schema(getattr(chunk, table), SCHEMAS[table]) == []


@pytest.mark.parametrize("table", list(SCHEMAS))
def test_synthetic_call_tables_match_the_schema(table):
    cap = open_quiet(SYNTHETIC)
    assert tables.check_schema(getattr(cap, table), SCHEMAS[table]) == []


def test_check_schema_reports_a_wrong_dtype_and_a_wrong_order():
    df = tables.empty_table(tables.RTP_SCHEMA)
    assert tables.check_schema(df, tables.RTP_SCHEMA) == []
    assert tables.check_schema(df.astype({"ssrc": "int64"}), tables.RTP_SCHEMA) == ["ssrc: int64 != uint32"]
    assert tables.check_schema(df[list(df.columns)[::-1]], tables.RTP_SCHEMA) != []


def test_every_table_starts_with_frame_and_t():
    for schema in (tables.PACKETS_SCHEMA, tables.RTP_SCHEMA, tables.RTCP_SCHEMA):
        assert list(schema)[0] == "frame" and "t" in list(schema)[:3]
    for schema in (tables.RTP_SCHEMA, tables.RTCP_SCHEMA):
        assert list(schema)[:6] == ["frame", "t", "src", "dst", "sport", "dport"]


def test_packets_time_is_utc_with_nanoseconds(tmp_path):
    cap = open_quiet(write_pcapng(tmp_path / "n.pcapng", [shb(), idb(1, tsresol=9), epb(0, 1_000_000_000_000_000_001,
                                                                                       udp4(b"x"))]))
    assert cap.packets["time"].iloc[0] == pd.Timestamp(1_000_000_000_000_000_001, unit="ns", tz="UTC")


def test_int_category_keeps_values_and_nulls_across_blocks():
    n = 3 * tables._BLOCK + 17  # several blocks, the last one short
    values = np.where(np.arange(n) % 5 == 0, -1, np.where(np.arange(n) % 3 == 0, 0x1000, 0xBEDE)).astype(np.int32)
    values[-1] = 0x100F  # a value seen only in the last block
    col = tables.int_category(values, values < 0, "uint16")
    assert list(col.categories) == [0x1000, 0x100F, 0xBEDE] and col.categories.dtype == np.uint16
    assert col.codes.dtype == np.int8
    got = pd.Series(col).astype("Int64")
    want = pd.Series(values, dtype="Int64").mask(values < 0)
    assert got.equals(want)
    assert len(tables.int_category(np.zeros(0, np.uint8), np.zeros(0, bool), "uint8").categories) == 0


def test_categorical_keeps_only_used_names_across_blocks():
    n = 2 * tables._BLOCK + 5
    codes = np.full(n, -1, dtype=np.int32)
    codes[3], codes[tables._BLOCK + 1], codes[-1] = 2, 0, 2  # names 0 and 2 used, in different blocks; 1 never
    col = tables.categorical(codes, ["a", "b", "c"])
    assert list(col.categories) == ["a", "c"]
    assert col[3] == "c" and col[tables._BLOCK + 1] == "a" and col[-1] == "c" and pd.isna(col[0])
    assert (pd.Series(col).notna().sum()) == 3


def test_categorical_with_reuse_renumbers_in_place_and_gives_the_same_values():
    codes = np.array([2, -1, 0, 2, 0], dtype=np.int8)
    fresh = tables.categorical(codes.copy(), ["a", "b", "c"])
    reused = tables.categorical(codes, ["a", "b", "c"], reuse=True)
    assert list(reused) == list(fresh) and list(reused.categories) == ["a", "c"]
    assert np.shares_memory(reused.codes, codes)  # no second array of codes
    wide = np.array([300, -1, 5], dtype=np.int32)  # codes of another width are copied, never narrowed in place
    col = tables.categorical(wide, [f"n{i}" for i in range(301)], reuse=True)
    assert col[0] == "n300" and pd.isna(col[1]) and col[2] == "n5" and wide.tolist() == [300, -1, 5]


def test_zero_is_missing_takes_the_narrowest_code_width():
    assert tables.zero_is_missing(np.array([0, 1, 7], np.uint8)).tolist() == [-1, 1, 7]
    assert tables.zero_is_missing(np.array([0, 1, 7], np.uint8)).dtype == np.int8
    assert tables.zero_is_missing(np.array([0, 200], np.uint8)).dtype == np.int16  # 200 does not fit int8
    assert tables.zero_is_missing(np.zeros(0, np.uint8)).dtype == np.int8


@pytest.mark.parametrize("n", [3, 126, 127, 40000])
def test_id_category_keeps_the_ids_as_codes_and_categories(n):
    ids = np.concatenate([np.arange(n), [-1], np.arange(n)[::-1]]).astype(np.int32)
    col = tables.id_category(ids, n)
    assert col.codes.dtype == (np.int8 if n < 127 else np.int16 if n < 32767 else np.int32)
    assert col.codes.tolist() == ids.tolist() and list(col.categories) == list(range(n))
    got = pd.Series(col).astype("Int64")
    assert got.isna().tolist() == (ids < 0).tolist() and got.dropna().tolist() == ids[ids >= 0].tolist()


def test_utc_times_share_the_nanoseconds_and_equal_a_localized_index():
    ns = np.array([0, 1_700_000_000_123_456_789, -5], dtype=np.int64)
    times = tables.utc_times(ns)
    assert str(times.dtype) == "datetime64[ns, UTC]"
    assert list(times) == list(pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC"))
    assert np.shares_memory(np.asarray(times.asi8), ns)  # no second copy of every frame's time
