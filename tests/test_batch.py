"""webrtcpcap.batch: inputs and side files, one task per capture (serial and on a 2-worker LocalCluster), error rows
for broken files, resuming, chunked reading; the CLI; webrtcpcap.fleet's distinct copies."""

from __future__ import annotations

import gc
import json
import shutil
import urllib.parse
import urllib.request
import warnings
from pathlib import Path

import pandas as pd
import pytest

import webrtcpcap
from webrtcpcap.tables import parquet
from webrtcpcap.tools import batch, fleet
from webrtcpcap.cli import main

REPO = Path(__file__).resolve().parents[1]
CAPTURES = REPO / "captures"
SMALL = ["ice_udp_blocked", "turn_wrong_password", "firefox_firefox_dtls_stalled"]  # 11, 16 and 41 frames
COUNTED = ("packets", "rtp", "rtcp", "stun", "dtls_records", "flows")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Three small recordings with their side files, and two broken files."""
    folder = tmp_path_factory.mktemp("inputs")
    for name in SMALL:
        for f in CAPTURES.glob(f"{name}.*"):
            shutil.copyfile(f, folder / f.name)
    (folder / "empty.pcap").write_bytes(b"")
    (folder / "notes.pcap").write_text("not a capture\n")
    return folder


def _open(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return webrtcpcap.open(path, progress=False)


def _counts(out: Path, table: str) -> dict[str, int]:
    files = list((out / table).glob("capture=*/*.parquet"))
    if not files:
        return {}
    df = pd.read_parquet(out / table, columns=["frame" if table != "flows" else "flow", "capture"])
    return {str(k): int(v) for k, v in df.groupby("capture", observed=True).size().items()}


def _expected(paths, table: str) -> dict[str, int]:
    out = {}
    for p in paths:
        n = len(getattr(_open(p), table))
        if n:
            out[parquet.content_id(p)] = n
    return out


def test_inputs_are_files_folders_and_globs_and_a_name_of_nothing_fails(inputs, tmp_path):
    (tmp_path / "sub").mkdir()
    shutil.copyfile(inputs / "ice_udp_blocked.pcap", tmp_path / "sub" / "deep.pcapng")
    (tmp_path / "readme.txt").write_text("x")
    shutil.copyfile(inputs / "ice_udp_blocked.pcap", tmp_path / "top.pcap")
    assert [Path(i.path).name for i in batch.find_inputs([tmp_path])] == ["top.pcap"]  # no recursion, suffixes only
    assert [Path(i.path).name for i in batch.find_inputs([str(tmp_path / "**" / "*.pcap*")])] == ["deep.pcapng",
                                                                                                    "top.pcap"]
    assert [Path(i.path).name for i in batch.find_inputs([tmp_path / "readme.txt", tmp_path])] == ["readme.txt",
                                                                                                     "top.pcap"]
    assert len(batch.find_inputs([tmp_path / "top.pcap", tmp_path])) == 1  # named twice, taken once
    with pytest.raises(FileNotFoundError, match="no such file"):
        batch.find_inputs([tmp_path / "missing.pcap"])
    with pytest.raises(FileNotFoundError, match="no file matches"):
        batch.find_inputs([str(tmp_path / "*.pcapng.gz")])


def test_side_files_are_found_by_name_or_in_the_folders_given(inputs, tmp_path):
    found = batch.side_files(inputs / "firefox_firefox_dtls_stalled.pcap")
    assert Path(found.keylog).name == "firefox_firefox_dtls_stalled.keylog"
    assert [Path(p).name for p in found.sdps] == ["firefox_firefox_dtls_stalled.offer.sdp",
                                                  "firefox_firefox_dtls_stalled.answer.sdp"]
    assert Path(found.getstats).name == "firefox_firefox_dtls_stalled.getstats.json"
    assert batch.side_files(inputs / "empty.pcap") == batch.Input(str(inputs / "empty.pcap"))
    (tmp_path / "call.keylog").write_text("")
    (tmp_path / "call.sdp").write_text("v=0\n")
    elsewhere = batch.side_files("/nowhere/call.pcap.gz", keylog_dir=tmp_path, sdp_dir=tmp_path)
    assert elsewhere.keylog == str(tmp_path / "call.keylog") and elsewhere.sdps == (str(tmp_path / "call.sdp"),)
    assert batch.stem("x/call.pcapng.gz") == "call"


@pytest.fixture(scope="module")
def serial(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    return out, batch.run([inputs], out, workers=0, progress=False)


def test_a_serial_batch_writes_the_rows_open_gives_and_error_rows_for_broken_files(inputs, serial):
    out, result = serial
    good = [inputs / f"{n}.pcap" for n in SMALL]
    for table in COUNTED:
        assert _counts(out, table) == _expected(good, table), table
    captures = result.captures.set_index("file")
    assert sorted(captures.index) == sorted([f"{n}.pcap" for n in SMALL] + ["empty.pcap", "notes.pcap"])
    for name in ("empty.pcap", "notes.pcap"):
        assert captures.loc[name, "status"] == "error" and "not a pcap or pcapng" in captures.loc[name, "error"]
        assert pd.isna(captures.loc[name, "frames"])
    stalled = captures.loc["firefox_firefox_dtls_stalled.pcap"]
    assert stalled["keylog"] and stalled["sdps"] == 2 and stalled["getstats"]
    assert stalled["verdict"] == webrtcpcap.health(_open(good[2])).verdict == "error"  # judged without the side files
    assert captures.loc["ice_udp_blocked.pcap", "headline"].startswith("ICE failed")
    findings = pd.read_parquet(out / "findings.parquet")
    assert set(findings["capture"]) == {parquet.content_id(p) for p in good}
    assert list(findings["severity"].cat.categories) == ["ok", "info", "warning", "error"]
    assert result.tasks["status"].tolist().count("ok") == 3 and len(result.failed) == 2


def test_a_second_run_skips_complete_captures_and_a_new_schema_version_reads_them_again(inputs, serial,
                                                                                        monkeypatch):
    out, first = serial
    again = batch.run([inputs], out, workers=0, progress=False)
    assert again.tasks["status"].tolist() == ["skipped"] * 5  # errors of the file itself are not retried either
    assert again.captures.sort_values("capture").reset_index(drop=True).equals(
        first.captures.sort_values("capture").reset_index(drop=True))
    monkeypatch.setattr(parquet, "SCHEMA_VERSION", parquet.SCHEMA_VERSION + 1)
    bumped = batch.run([inputs / "ice_udp_blocked.pcap"], out, workers=0, progress=False)
    assert bumped.tasks["status"].tolist() == ["ok"]


def test_an_error_that_may_not_be_the_files_is_tried_again(inputs, tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(parquet, "write_capture_tables", boom)
    first = batch.run([inputs / "ice_udp_blocked.pcap"], tmp_path, workers=0, progress=False)
    assert first.captures["error"].tolist() == ["out of memory while reading it"]
    monkeypatch.undo()
    second = batch.run([inputs / "ice_udp_blocked.pcap"], tmp_path, workers=0, progress=False)
    assert second.tasks["status"].tolist() == ["ok"] and second.captures["status"].tolist() == ["ok"]


def test_a_two_worker_local_cluster_gives_the_serial_dataset(inputs, serial, tmp_path):
    distributed = pytest.importorskip("distributed")
    out, first = serial
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address="127.0.0.1:0") as cluster, distributed.Client(cluster) as client:
        seen = []
        result = batch.run([inputs], tmp_path, client=client, progress=False, on_dashboard=seen.append)
        assert result.workers == 2
        # the dashboard (bokeh, in the fleet extra) is served at the link's port (on loopback: dashboard_address)
        assert seen == [result.dashboard] and result.dashboard.endswith("/status")
        port = urllib.parse.urlsplit(result.dashboard).port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=60) as page:
            assert page.status == 200 and b"Dask" in page.read()
    for table in COUNTED:
        assert _counts(tmp_path, table) == _counts(out, table), table
    cols = ["capture", "file", "frames", "status", "verdict", "headline", "error"]
    assert result.captures[cols].sort_values("capture").reset_index(drop=True).equals(
        first.captures[cols].sort_values("capture").reset_index(drop=True))


def test_a_task_that_fails_on_its_worker_gives_an_error_row_and_the_rest_completes(inputs, tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    real = batch.process

    def flaky(item, out, chunked_above):
        if item.path.endswith("turn_wrong_password.pcap"):
            raise RuntimeError("worker lost")
        return real(item, out, chunked_above)

    monkeypatch.setattr(batch, "process", flaky)
    paths = [inputs / "ice_udp_blocked.pcap", inputs / "turn_wrong_password.pcap"]
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address="127.0.0.1:0") as cluster, distributed.Client(cluster) as client:
        result = batch.run(paths, tmp_path, client=client, progress=False)
    rows = result.captures.set_index("file")
    assert rows.loc["turn_wrong_password.pcap", "error"] == "the task failed: RuntimeError: worker lost"
    assert rows.loc["ice_udp_blocked.pcap", "status"] == "ok"
    assert not parquet.completed(tmp_path, parquet.content_id(paths[1]))  # tried again on the next run


def test_a_capture_above_the_size_limit_is_read_in_chunks_with_the_same_rows(tmp_path, monkeypatch):
    src = CAPTURES / "chromium_chromium_clean.pcap"
    monkeypatch.setattr(batch, "CHUNK_PACKETS", 500)
    result = batch.run([src], tmp_path, workers=0, chunked_above=1024, progress=False)
    row = result.captures.iloc[0]
    cap = _open(src)
    assert row["status"] == "chunked" and row["chunked"] and pd.isna(row["verdict"]) and row["frames"] == len(cap)
    assert row["headline"] == "not judged: read in chunks (over 1,024 bytes)"
    capture = parquet.content_id(src)
    parts = sorted((tmp_path / "packets" / f"capture={capture}").glob("*.parquet"))
    assert len(parts) == -(-len(cap) // 500)
    packets = pd.read_parquet(tmp_path / "packets")
    assert packets["frame"].tolist() == cap.packets["frame"].tolist()
    assert packets["session"].isna().all()
    for table in ("rtp", "stun"):  # one flow, found WebRTC by its first packet: the chunks see what open() sees
        assert _counts(tmp_path, table) == {capture: len(getattr(cap, table))}
    assert not (tmp_path / "flows").exists()


def test_the_cli_runs_a_batch_and_says_which_files_failed(inputs, tmp_path, capsys):
    code = main(["batch", str(inputs / "ice_udp_blocked.pcap"), str(inputs / "notes.pcap"), "--out", str(tmp_path),
                 "--workers", "0"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "notes.pcap: " in err and "not a pcap or pcapng" in err
    assert out.strip().endswith("s") and "2 captures (1 ok, 1 error); 2 in the dataset" in out
    assert main(["batch", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["batch", str(inputs / "ice_udp_blocked.pcap"), "--out", str(tmp_path), "--workers", "0"]) == 0
    assert "1 captures (1 skipped)" in capsys.readouterr().out


def test_a_fleet_is_distinct_retimed_copies_that_read_like_their_source(tmp_path):
    src = CAPTURES / "firefox_firefox_dtls_stalled.pcap"
    made = fleet.build_fleet([src], tmp_path, copies=3, broken=True)
    copies = made[:3]
    assert [p.name for p in copies] == [f"firefox_firefox_dtls_stalled-00{k}.pcap" for k in range(3)]
    assert [p.name for p in made[3:]] == list(fleet.BROKEN)
    assert len({parquet.content_id(p) for p in made}) == len(made)
    original = _open(src)
    starts = []
    for p in copies:
        cap = _open(p)
        assert len(cap) == len(original)
        assert cap.packets["kind"].astype(str).tolist() == original.packets["kind"].astype(str).tolist()
        assert cap.packets["t"].round(6).tolist() == original.packets["t"].round(6).tolist()
        addresses = set(cap.packets["src"].dropna().astype(str)) - {"0.0.0.0"}  # kept: it names no one (anonymize)
        assert addresses and addresses.isdisjoint(set(original.packets["src"].dropna().astype(str)))
        assert webrtcpcap.health(cap).headline == webrtcpcap.health(original).headline
        starts.append(cap.packets["time"].iloc[0])
        assert (tmp_path / f"{p.stem}.keylog").exists() and (tmp_path / f"{p.stem}.offer.sdp").exists()
    assert starts == sorted(starts) and (starts[1] - starts[0]) == pd.Timedelta(hours=8)
    with pytest.raises(webrtcpcap.CaptureError):
        _open(tmp_path / "broken-not-a-capture.pcap")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cut = webrtcpcap.open(tmp_path / "broken-truncated.pcap", progress=False)
    assert cut.problem and any(issubclass(w.category, webrtcpcap.CaptureWarning) for w in caught)


def test_a_getstats_side_file_gives_the_endpoints_figures_beside_the_captures(tmp_path):
    name = "firefox_firefox_clean"
    for f in CAPTURES.glob(f"{name}.*"):
        shutil.copyfile(f, tmp_path / f.name)
    result = batch.run([tmp_path / f"{name}.pcap"], tmp_path / "out", workers=0, progress=False)
    row = result.captures.iloc[0]
    assert row["status"] == "ok" and row["getstats"] and pd.isna(row["getstats_error"])
    stats = pd.read_parquet(tmp_path / "out" / "endpoint_stats.parquet")
    assert set(stats["capture"]) == {row["capture"]}
    assert row["endpoint_compared"] == int(stats["agree"].notna().sum()) > 0
    assert row["endpoint_disagree"] == int((stats["agree"] == False).sum())  # noqa: E712 - nullable boolean
    # the endpoint's own numbers, as its file gives them, per SSRC
    report = json.loads((CAPTURES / f"{name}.getstats.json").read_text())
    inbound = [(node, o) for node, objects in report.items() for o in objects.values()
               if o.get("type") == "inbound-rtp" and "packetsLost" in o]
    assert inbound
    for node, o in inbound:
        got = stats[(stats["node"] == node) & (stats["ssrc"] == o["ssrc"]) & (stats["metric"] == "packetsLost")]
        assert got["endpoint_value"].tolist() == [str(o["packetsLost"])]
        received = stats[(stats["node"] == node) & (stats["ssrc"] == o["ssrc"])
                         & (stats["metric"] == "packetsReceived")]
        assert received["endpoint_value"].tolist() == [str(o["packetsReceived"])]
        assert received["capture_value"].notna().all()
    opened = webrtcpcap.dataset(tmp_path / "out")
    assert len(opened["endpoint_stats"]) == len(stats)


def test_a_getstats_file_that_cannot_be_used_is_noted_and_the_capture_is_read_all_the_same(inputs, tmp_path):
    for f in CAPTURES.glob("ice_udp_blocked.*"):
        shutil.copyfile(f, tmp_path / f.name)
    (tmp_path / "ice_udp_blocked.getstats.json").write_text("{not json")
    result = batch.run([tmp_path / "ice_udp_blocked.pcap"], tmp_path / "out", workers=0, progress=False)
    row = result.captures.iloc[0]
    assert row["status"] == "ok" and row["verdict"] == "error" and row["getstats"]
    assert "getStats" in row["getstats_error"] and str(tmp_path) not in row["getstats_error"]
    assert pd.isna(row["endpoint_compared"]) and not (tmp_path / "out" / "endpoint_stats.parquet").exists()


def _worker_state(dask_worker) -> dict:
    gc.collect()
    rss = [int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS")]
    return {"objects": len(gc.get_objects()), "profiled": dask_worker.profile_recent["count"]
            + sum(p["count"] for _, p in dask_worker.profile_history), "rss_kib": rss[0] if rss else 0}


def test_the_batchs_own_workers_keep_nothing_per_task(inputs, tmp_path):
    """distributed's profiler kept each second's call tree of the task (14,000 objects, ~6 MiB per capture): a
    worker's memory grew with the captures it had read.  The batch's own cluster runs without it."""
    distributed = pytest.importorskip("distributed")
    paths = [inputs / f"{n}.pcap" for n in SMALL[:2]]
    with batch.local_cluster(1) as cluster, distributed.Client(cluster) as client:
        batch.run(paths, tmp_path / "warm", client=client, progress=False)
        (before,) = client.run(_worker_state).values()
        for k in range(3):
            result = batch.run(paths, tmp_path / f"run{k}", client=client, progress=False)
            assert result.tasks["status"].tolist() == ["ok"] * 2
        (after,) = client.run(_worker_state).values()
    assert before["profiled"] == after["profiled"] == 0
    assert after["objects"] - before["objects"] < 2_000, (before, after)  # 6 more captures read
