"""Many captures at once: `webrtcpcap batch INPUT... --out DIR` and `webrtcpcap.batch.run(paths, out)`, one task per
capture on a Dask distributed client (a LocalCluster by default, or any scheduler), into one Parquet dataset
(layout: webrtcpcap.tables.parquet).

Strategy: a task gets a path and the paths of its side files, never a Capture (it holds a mapped file): it hashes the
file, skips it when the dataset holds its complete output already (same content, same schema version), else opens
it, writes its tables, judges it (webrtcpcap.health) and writes its `captures` row last.  Whatever goes wrong with
one file becomes its row's `error`; the batch goes on.  A file larger than `chunked_above` (decompressed) is read
with iter_chunks in bounded memory: its per-packet tables only, not judged.  The client only lists inputs, follows
progress and concatenates the small tables at the end.

Side files are found next to each capture by name: for X.pcap (X.pcapng, X.pcap.gz...), X.keylog (NSS key log;
or in `keylog_dir`), X.offer.sdp, X.answer.sdp and X.sdp (or in `sdp_dir`), X.getstats.json (the endpoints' own
getStats reports: compared with the capture by webrtcpcap.compare.side_by_side into the `endpoint_stats` table, and
counted in the captures row; a getStats file that cannot be used is the row's getstats_error, the capture is read
all the same).
"""

from __future__ import annotations

import gc
import glob
import hashlib
import os
import resource
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..analysis.compare import side_by_side
from ..capture import iter_chunks
from ..capture import open as open_capture
from ..io.endpoints import StatsWarning
from ..io.errors import CaptureWarning, WebRTCPcapError
from ..io.reader import expanded_size
from ..report.health import SEVERITIES, STAGES, health
from ..tables import parquet

CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz", ".cap.gz")
CHUNKED_ABOVE_BYTES = 1 << 30  # decompressed size above which a capture is read in chunks (bounded memory)
CHUNK_PACKETS = 250_000
FINDINGS_VOCABULARIES = {"stage": tuple(STAGES), "severity": tuple(SEVERITIES)}


@dataclass(frozen=True)
class Input:
    """One capture of a batch and its side files (None / empty when not found)."""

    path: str
    keylog: str | None = None
    sdps: tuple[str, ...] = ()
    getstats: str | None = None


@dataclass
class Result:
    """What `run` did.  `captures`: the dataset's captures table (DIR/captures.parquet, every capture the folder
    holds); `tasks`: one row per input of this run: path, capture, status (ok, chunked, error, skipped: complete
    already), seconds (the task's wall time), cpu_s (the process's CPU time during the task), thread_cpu_s (the
    task's thread's), peak_rss_bytes (the worker process's peak resident memory so far), worker; `seconds`: the run's wall time; `dashboard`: the Dask dashboard's address while the batch ran (None
    without Dask, or without bokeh, which serves it)."""

    out: Path
    captures: pd.DataFrame
    tasks: pd.DataFrame
    seconds: float
    workers: int
    scheduler: str | None = field(default=None)
    dashboard: str | None = field(default=None)

    @property
    def failed(self) -> pd.DataFrame:
        return self.tasks[self.tasks["status"] == "error"]

    def __repr__(self) -> str:
        counts = self.tasks["status"].value_counts().to_dict() if len(self.tasks) else {}
        parts = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        return f"<webrtcpcap batch {self.out}: {len(self.tasks)} inputs ({parts}) in {self.seconds:.1f} s>"


def stem(path: str | os.PathLike) -> str:
    """A capture's name without its capture suffix: "call" for call.pcap and call.pcap.gz."""
    name = os.path.basename(os.fspath(path))
    for suffix in sorted(CAPTURE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def side_files(path: str | os.PathLike, keylog_dir: str | os.PathLike | None = None,
               sdp_dir: str | os.PathLike | None = None) -> Input:
    """The capture at `path` with its side files, by the naming convention of this module's docstring."""
    path = os.fspath(path)
    here = os.path.dirname(path) or "."
    name = stem(path)
    keylog = os.path.join(os.fspath(keylog_dir) if keylog_dir else here, name + ".keylog")
    sdp_folder = os.fspath(sdp_dir) if sdp_dir else here
    sdps = tuple(p for p in (os.path.join(sdp_folder, f"{name}{s}") for s in (".offer.sdp", ".answer.sdp", ".sdp"))
                 if os.path.isfile(p))
    getstats = os.path.join(here, name + ".getstats.json")
    return Input(path, keylog if os.path.isfile(keylog) else None, sdps,
                 getstats if os.path.isfile(getstats) else None)


def find_inputs(inputs, keylog_dir=None, sdp_dir=None) -> list[Input]:
    """The captures named by `inputs`: files (taken whatever their name), folders (their files with a capture
    suffix, not recursing), globs ("**" recurses).  In the order given, each folder or glob sorted; a file named
    twice is taken once.  Raises FileNotFoundError for a name that is neither a file, a folder, nor a glob that
    matches."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    found: list[str] = []
    for item in inputs:
        item = os.fspath(item)
        if os.path.isdir(item):
            found.extend(sorted(os.path.join(item, n) for n in os.listdir(item)
                                if n.lower().endswith(CAPTURE_SUFFIXES) and os.path.isfile(os.path.join(item, n))))
        elif os.path.isfile(item):
            found.append(item)
        elif glob.has_magic(item):
            matches = sorted(p for p in glob.glob(item, recursive=True) if os.path.isfile(p))
            if not matches:
                raise FileNotFoundError(f"{item}: no file matches")
            found.extend(matches)
        else:
            raise FileNotFoundError(f"{item}: no such file or folder")
    seen, out = set(), []
    for p in found:
        key = os.path.abspath(p)
        if key not in seen:
            seen.add(key)
            out.append(side_files(p, keylog_dir, sdp_dir))
    return out


def _path_id(path: str) -> str:
    """The id of a file that cannot be read (so has no content hash): "path-" and a hash of its absolute path."""
    return "path-" + hashlib.blake2b(os.path.abspath(path).encode(), digest_size=8).hexdigest()


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _peak_rss() -> int:
    """This process's peak resident memory in bytes (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def process(item: Input, out: str, chunked_above: int = CHUNKED_ABOVE_BYTES) -> dict:
    """The task of one capture (runs on a worker; see the module's strategy).  Returns a small dict: path, capture,
    status, frames, seconds (wall), cpu_s (the process's CPU time meanwhile: on a Dask worker its event loop and
    other threads too), thread_cpu_s (the task's own thread: the whole decode of captures under 32,768 frames, whose
    decode is one slice), peak_rss_bytes, worker."""
    start = time.perf_counter()
    status, frames, cpu, own_cpu = "error", None, time.process_time(), time.thread_time()
    try:
        capture = parquet.content_id(item.path)
    except OSError as e:  # unreadable: named by its path instead, so that its error row has a place
        capture = _path_id(item.path)
        _error_row(out, item, capture, f"cannot read the file: {e.strerror or e}", retry=True)
    else:
        if parquet.completed(out, capture):
            status = "skipped"
        else:
            status, frames = _judge_and_write(item, out, capture, chunked_above)
    return {"path": item.path, "capture": capture, "status": status, "frames": frames,
            "seconds": time.perf_counter() - start, "cpu_s": time.process_time() - cpu,
            "thread_cpu_s": time.thread_time() - own_cpu, "peak_rss_bytes": _peak_rss(), "worker": os.getpid()}


def _judge_and_write(item: Input, out: str, capture: str, chunked_above: int) -> tuple[str, int | None]:
    parquet.clear_partitions(out, capture)
    sides = {"sdps": len(item.sdps), "keylog": item.keylog is not None, "getstats": item.getstats is not None}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CaptureWarning)  # the problem is kept in the row (captures.problem)
            if expanded_size(item.path, chunked_above) > chunked_above:
                frames = _write_chunked(item, out, capture, sides, chunked_above)
                return "chunked", frames
            cap = open_capture(item.path, progress=False, keylog=item.keylog, sdp=list(item.sdps) or None)
            parquet.write_capture_tables(cap, out, capture)
            judged = health(cap)
            findings = parquet.with_capture(judged.findings, capture)
            parquet.write_parquet(findings, parquet.capture_dir(out, capture) / "findings.parquet", "findings",
                                  capture, vocabularies=FINDINGS_VOCABULARIES)
            endpoint = _endpoint_stats(cap, item, out, capture)
            facts = parquet.capture_facts(cap)
            row = parquet.capture_row(item.path, capture, verdict=judged.verdict, headline=judged.headline,
                                      **facts, **sides, **endpoint)
            del cap, judged
    except (WebRTCPcapError, OSError, ValueError) as e:  # the file (or a side file) cannot be read: its row says why
        _error_row(out, item, capture, _one_line(str(e).replace(item.path, os.path.basename(item.path))), **sides)
        return "error", None
    except MemoryError:
        _error_row(out, item, capture, "out of memory while reading it", retry=True, **sides)
        return "error", None
    except Exception as e:  # noqa: BLE001 - one file's crash is its row, never the batch's end
        _error_row(out, item, capture, f"internal error {type(e).__name__}: {_one_line(str(e))}", retry=True, **sides)
        return "error", None
    finally:
        gc.collect()  # the capture's arrays go before the next task on this worker
    parquet.write_parquet(row, parquet.capture_dir(out, capture) / "captures.parquet", "captures", capture)
    return "ok", facts["frames"]


def _endpoint_stats(cap, item: Input, out: str, capture: str) -> dict:
    """The getStats side file next to the capture's own figures (compare.side_by_side) into the capture's
    `endpoint_stats`; the captures row's endpoint columns.  A getStats file that does not load (not JSON, another
    shape) is the row's getstats_error: the endpoint's file is not the capture's fault."""
    if item.getstats is None:
        return {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StatsWarning)  # stats of another call: the "ssrcs in capture" row says so
            table = side_by_side(cap, getstats=item.getstats)
    except (WebRTCPcapError, OSError, ValueError) as e:
        name = os.path.basename(item.getstats)
        return {"getstats_error": _one_line(str(e).replace(item.getstats, name))}
    parquet.write_parquet(parquet.with_capture(table, capture),
                          parquet.capture_dir(out, capture) / "endpoint_stats.parquet", "endpoint_stats", capture)
    agree = table["agree"]
    return {"endpoint_compared": int(agree.notna().sum()), "endpoint_disagree": int(agree.eq(False).sum())}


def _write_chunked(item: Input, out: str, capture: str, sides: dict, chunked_above: int) -> int:
    """A capture too large to hold whole: its CHUNKED_TABLES chunk by chunk (part-<k>.parquet), `session` null."""
    frames, first, last_t, problem = 0, None, None, None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CaptureWarning)
        for k, chunk in enumerate(iter_chunks(item.path, CHUNK_PACKETS, progress=False)):
            for name in parquet.CHUNKED_TABLES:
                table = getattr(chunk, name)
                if len(table):
                    table = table.assign(session=pd.array([pd.NA] * len(table), dtype="Int64"))
                    parquet.write_parquet(table, parquet.partition_dir(out, name, capture) / f"part-{k:05d}.parquet",
                                          name, capture)
            packets = chunk.packets
            frames += len(packets)
            if first is None and len(packets):
                times = packets["time"].dropna()
                first = times.iloc[0] if len(times) else None
            t = packets["t"].dropna()
            last_t = float(t.max()) if len(t) else last_t
    problem = "; ".join(str(w.message).split(": ", 1)[-1] for w in caught) or None
    row = parquet.capture_row(item.path, capture, frames=frames, duration_s=last_t, start=first, problem=problem,
                              status="chunked", chunked=True,
                              headline=f"not judged: read in chunks (over {chunked_above:,} bytes)", **sides)
    parquet.write_parquet(row, parquet.capture_dir(out, capture) / "captures.parquet", "captures", capture)
    return frames


def _error_row(out: str, item: Input, capture: str, error: str, retry: bool = False, **sides) -> None:
    """The `captures` row of a capture that could not be read.  `retry`: the cause may not be the file's (memory,
    an internal error, a worker lost): a resumed batch tries it again."""
    parquet.clear_partitions(out, capture)
    row = parquet.capture_row(item.path, capture, status="error", error=error, **sides)
    parquet.write_parquet(row, parquet.capture_dir(out, capture) / "captures.parquet", "captures", capture,
                          complete=not retry)


def _absolute(item: Input) -> Input:
    return Input(os.path.abspath(item.path), item.keylog and os.path.abspath(item.keylog),
                 tuple(os.path.abspath(p) for p in item.sdps), item.getstats and os.path.abspath(item.getstats))


def default_workers(n_inputs: int) -> int:
    """Workers of the default LocalCluster: one per core (decoding holds the GIL: processes, one thread each), no
    more than there are captures."""
    return max(1, min(os.cpu_count() or 1, n_inputs))


# Dask settings of the workers of the batch's own LocalCluster.  distributed's statistical profiler samples the
# running task's stack every 10 ms and keeps every 1 s cycle's call tree for the last 1000 cycles (twice: all tasks,
# and per task name): with our deep pandas/Arrow stacks that was ~14,000 Python objects and ~6 MiB more per capture
# on a worker (315 MiB after 22 captures, 620 after 110) and CPU time the task did not use.  A dashboard that
# shows no profile is the price.
WORKER_CONFIG = {"distributed.worker.profile.enabled": False}


def local_cluster(workers: int):
    """A Dask LocalCluster on loopback: `workers` worker processes of one thread (decoding holds the GIL), the
    machine's memory split between them, without the statistical profiler (WORKER_CONFIG); its HTTP server on a
    free loopback port (never 8787 on every address)."""
    import dask  # deferred: dask is the batch's alone, and takes 2 s to import
    from distributed import LocalCluster

    with dask.config.set(WORKER_CONFIG):  # the nannies hand the config to the worker processes they start
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                            dashboard_address="127.0.0.1:0")


def run(paths, out: str | os.PathLike, client=None, workers: int | None = None, keylog_dir=None, sdp_dir=None,
        chunked_above: int = CHUNKED_ABOVE_BYTES, progress: bool | None = None, on_dashboard=None) -> Result:
    """Every capture of `paths` (files, folders, globs: `find_inputs`) into the dataset folder `out`.

    `client`: a distributed.Client, or a scheduler address ("tcp://host:8786"); None starts a LocalCluster of
    `workers` processes (default: `default_workers`) and closes it at the end.  `workers=0` (and no client) runs the
    tasks in this process, one after the other, without Dask.  `keylog_dir`, `sdp_dir`: where side files are looked
    for (default: next to each capture).  `progress`: a bar on stderr (None: when it is a terminal), headed by the
    dashboard's link.  `on_dashboard`: called with the Dask dashboard's link once the cluster is up (the link lives
    as long as the batch when the cluster is run's own).  Returns a Result; the dataset opens with
    `webrtcpcap.dataset(out)`."""
    out = Path(out).absolute()  # workers may run in another folder (or on another machine sharing the storage)
    out.mkdir(parents=True, exist_ok=True)
    items = [_absolute(item) for item in find_inputs(paths, keylog_dir, sdp_dir)]
    start = time.perf_counter()
    bar = _bar(len(items), progress)
    rows: list[dict] = []
    scheduler, n_workers, dashboard = None, 0, None
    try:
        if client is None and workers == 0:
            for item in items:
                rows.append(process(item, str(out), chunked_above))
                _tick(bar)
        else:
            rows, scheduler, n_workers, dashboard = _distributed(items, str(out), client, workers, chunked_above, bar,
                                                                 on_dashboard)
    finally:
        if bar is not None:
            bar.close()
    parquet.consolidate(out)
    captures_file = out / "captures.parquet"
    captures = pd.read_parquet(captures_file) if captures_file.is_file() else parquet.capture_row(".", "")[:0]
    tasks = pd.DataFrame(rows, columns=["path", "capture", "status", "frames", "seconds", "cpu_s", "thread_cpu_s",
                                        "peak_rss_bytes", "worker"])
    return Result(out, captures, tasks, time.perf_counter() - start, n_workers, scheduler, dashboard)


def dashboard_link(client) -> str | None:
    """The dashboard's address of a distributed client's scheduler; None when it serves none (bokeh missing)."""
    try:
        served = "dashboard" in client.scheduler_info().get("services", {})
    except Exception:  # noqa: BLE001 - a scheduler that cannot say: no link rather than no batch
        return None
    return client.dashboard_link if served else None


def _distributed(items: list[Input], out: str, client, workers: int | None, chunked_above: int, bar, on_dashboard):
    from distributed import Client, as_completed  # deferred: dask is the batch's alone, and takes 2 s to import

    own_cluster = own_client = None
    if client is None:
        own_cluster = local_cluster(workers or default_workers(len(items)))
        client = own_client = Client(own_cluster)
    elif isinstance(client, str):
        client = own_client = Client(client)
    try:
        link = dashboard_link(client)
        if link and bar is not None:
            bar.write(f"webrtcpcap batch: dashboard {link}", file=sys.stderr)
        if link and on_dashboard is not None:
            on_dashboard(link)
        futures = {client.submit(process, item, out, chunked_above, pure=False): item for item in items}
        rows = []
        for future in as_completed(futures):
            item = futures[future]
            try:
                rows.append(future.result())
            except Exception as e:  # noqa: BLE001 - a worker lost (killed, out of memory): the file's row says so
                rows.append(_lost(item, out, e))
            _tick(bar)
            future.release()
        n = len(client.scheduler_info().get("workers", {}))
        address = client.scheduler.address if own_cluster is None else None
        order = {item.path: i for i, item in enumerate(items)}  # the rows in input order, as a serial run gives
        rows.sort(key=lambda r: order[r["path"]])
        return rows, address, n, link
    finally:
        if own_client is not None:
            own_client.close()
        if own_cluster is not None:
            own_cluster.close()


def _lost(item: Input, out: str, exc: BaseException) -> dict:
    try:
        capture = parquet.content_id(item.path)
    except OSError:
        capture = _path_id(item.path)
    _error_row(out, item, capture, f"the task failed: {type(exc).__name__}: {_one_line(str(exc))}", retry=True,
               sdps=len(item.sdps), keylog=item.keylog is not None, getstats=item.getstats is not None)
    return {"path": item.path, "capture": capture, "status": "error", "frames": None, "seconds": None,
            "cpu_s": None, "thread_cpu_s": None, "peak_rss_bytes": None, "worker": None}


def _bar(total: int, progress: bool | None):
    if progress is False or (progress is None and not sys.stderr.isatty()):
        return None
    try:
        from tqdm import tqdm  # deferred: tqdm, for a bar shown on terminals only
    except ImportError:
        return None
    return tqdm(total=total, desc="captures", unit="capture", file=sys.stderr)


def _tick(bar) -> None:
    if bar is not None:
        bar.update(1)


# -- the command line: `webrtcpcap batch` (cli.py wires these) ---------------------------------------------------

BATCH_EPILOG = """\
side files, found next to each capture X.pcap: X.keylog, X.offer.sdp, X.answer.sdp, X.sdp, X.getstats.json.
output: DIR/<table>/capture=<id>/part-*.parquet per table; DIR/captures.parquet (one row per capture: frames,
duration, verdict, error), sessions.parquet, streams.parquet, findings.parquet, endpoint_stats.parquet (getStats
beside the capture's figures, per SSRC and metric).  Run again to resume: captures
already written (same content, same schema version) are skipped.
exit codes: 0 every capture read; 1 some could not be (their rows in captures.parquet say why); 2 the batch could
not run (no input, bad option).

example: webrtcpcap batch captures/ --out fleet --workers 2
"""


def add_arguments(parser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="capture files, folders and globs")
    parser.add_argument("--out", required=True, metavar="DIR", help="the dataset folder (made if missing)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="a Dask scheduler (tcp://host:8786); default: a "
                       "LocalCluster on this machine")
    where.add_argument("--workers", type=int, metavar="N", help="worker processes of the LocalCluster (default: one "
                       "per core); 0: no Dask, one capture after the other in this process")
    parser.add_argument("--keylog-dir", metavar="D", help="look for X.keylog here rather than next to each capture")
    parser.add_argument("--sdp-dir", metavar="D", help="look for X.offer.sdp, X.answer.sdp, X.sdp here")
    parser.add_argument("--chunked-above", type=int, default=CHUNKED_ABOVE_BYTES, metavar="BYTES",
                        help="read captures larger than this (decompressed) in chunks: bounded memory, not judged "
                             f"(default {CHUNKED_ABOVE_BYTES})")


def main_args(args) -> int:
    """`webrtcpcap batch`: runs, then one line per capture that could not be read and a summary line."""
    client = None
    if args.scheduler:
        from distributed import Client  # deferred: dask is the batch's alone, and takes 2 s to import

        client = Client(args.scheduler)
        print(f"webrtcpcap batch: scheduler {args.scheduler}", file=sys.stderr)

    def say_dashboard(link: str) -> None:
        if not sys.stderr.isatty():  # on a terminal the progress bar heads with it
            print(f"webrtcpcap batch: dashboard {link}", file=sys.stderr, flush=True)

    try:
        result = run(args.inputs, args.out, client=client, workers=args.workers, keylog_dir=args.keylog_dir,
                     sdp_dir=args.sdp_dir, chunked_above=args.chunked_above, on_dashboard=say_dashboard)
    except FileNotFoundError as e:  # an input that names nothing: the batch does not start
        print(f"webrtcpcap: error: {e}", file=sys.stderr)
        return 2
    finally:
        if client is not None:
            client.close()
    for r in result.failed.itertuples(index=False):
        row = result.captures[result.captures["capture"] == r.capture]
        why = row["error"].iloc[0] if len(row) else "the task failed"
        print(f"webrtcpcap: error: {r.path}: {why}", file=sys.stderr)
    counts = result.tasks["status"].value_counts()
    parts = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("ok", "chunked", "skipped", "error") if counts.get(s, 0))
    print(f"{args.out}: {len(result.tasks)} captures ({parts or 'none'}); {len(result.captures)} in the dataset; "
          f"{result.seconds:.1f} s")
    return 1 if len(result.failed) else 0
