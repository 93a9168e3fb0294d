"""A fleet of distinct captures made from a few recordings, for trying a batch (notebook 05, benchmarks/batch_speed.py,
tests): each copy re-addressed by the anonymizer with its own seed (webrtcpcap.anonymize: new addresses, ufrags and
names, same structure and timing) and re-timed (moved to its own start time), so that every copy is a capture of its
own (its own content hash); the side files that still apply (key log, SDPs) copied under the copy's name; and, on
request, a few broken files.

Strategy: the copies are made from bytes on disk only (anonymize_file, then the frames written again with shifted
time stamps); nothing is random: the same call makes the same files.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ..io.pcap_writer import PcapWriter
from ..io.reader import make_batch, read_all
from .anonymize import anonymize_file
from .batch import side_files, stem

DAY_S = 86_400
TEMP_PREFIX = "webrtcpcap-fleet-"
BROKEN = ("broken-empty.pcap", "broken-not-a-capture.pcap", "broken-truncated.pcap")


def retime(src: str | os.PathLike, dst: str | os.PathLike, start_ns: int, frames: int | None = None) -> int:
    """Write `src` to `dst` with its first frame at `start_ns` (ns since 1970) and every frame moved by the same
    amount (the gaps between frames kept); only the first `frames` frames when given.  Same format (pcap with the
    input's resolution, or pcapng); returns the frames written."""
    data, index, state, owner = read_all(src)
    n = len(index) if frames is None else min(frames, len(index))
    batch = make_batch(data, index, 0, n, state, 1)
    ts = batch.ts_ns.tolist()
    shift = start_ns - ts[0] if ts else 0
    with open(dst, "wb") as f:
        if state.fmt == "pcap":
            iface = state.interfaces[0]
            out = PcapWriter(f, "pcap", [(iface.linktype, iface.snaplen)], ns=iface.ts_divisor == 1_000_000_000)
        else:
            out = PcapWriter(f, "pcapng", [(i.linktype, i.snaplen) for i in state.interfaces])
        for off, cap, length, t, i in zip(batch.offset.tolist(), batch.caplen.tolist(), batch.length.tolist(), ts,
                                          batch.interface.tolist()):
            out.write(batch.source.bytes_at(off, cap), t + shift, length, i)
    del batch, data, owner
    return n


def build_fleet(sources, out: str | os.PathLike | None = None, copies: int = 1, *, start_ns: int = 1_767_225_600 * 10**9,
                spread_s: float = DAY_S, frames: int | None = None, broken: bool = False,
                side_files_too: bool = True) -> list[Path]:
    """`copies` distinct copies of each capture of `sources` into the folder `out`, named <stem>-<k>.pcap[ng]
    (k = 000, 001...), their starts spread evenly over `spread_s` seconds from `start_ns` (default: one day from
    2026-01-01 00:00 UTC) in the order made; `frames`: keep only each copy's first frames (a lighter fleet).
    With `side_files_too`, each copy gets its source's key log and SDPs under its own name (the DTLS randoms a key
    log names are kept by the anonymizer; the SDPs' clock rates and codecs still apply, their ICE ufrags no longer
    do).  `broken` adds BROKEN: an empty file, a text file, and a copy cut in the middle of a record.  Returns the
    paths written, in order.  `out` None: a new temporary folder (tempfile.mkdtemp), the caller's to remove."""
    out = Path(out if out is not None else tempfile.mkdtemp(prefix=TEMP_PREFIX))
    out.mkdir(parents=True, exist_ok=True)
    sources = [os.fspath(s) for s in sources]
    total = len(sources) * copies
    made: list[Path] = []
    for k in range(copies):
        for j, src in enumerate(sources):
            n = k * len(sources) + j
            suffix = ".pcapng" if src.lower().endswith(".pcapng") else ".pcap"
            dst = out / f"{stem(src)}-{k:03d}{suffix}"
            tmp = out / f".{dst.name}.anon"
            anonymize_file(src, tmp, seed=f"fleet {stem(src)} {k}")
            retime(tmp, dst, start_ns + int(n * spread_s * 10**9 / max(total, 1)), frames)
            tmp.unlink()
            if side_files_too:
                sides = side_files(src)
                for given, ext in [(sides.keylog, ".keylog")] + [(p, p[len(os.path.join(os.path.dirname(src), stem(src))):])
                                                                  for p in sides.sdps]:
                    if given:
                        shutil.copyfile(given, out / f"{stem(dst)}{ext}")
            made.append(dst)
    if broken and sources:
        empty, text, cut = (out / name for name in BROKEN)
        empty.write_bytes(b"")
        text.write_text("this is a text file, not a capture\n")
        whole = made[0].read_bytes() if made else Path(sources[0]).read_bytes()
        cut.write_bytes(whole[: max(len(whole) // 2 - 7, 40)])  # half of a copy, ending inside a record
        made += [empty, text, cut]
    return made


def remove(folder: str | os.PathLike) -> None:
    """Remove a fleet folder that build_fleet made in the temporary directory (out=None), with what it holds (a
    dataset written inside it too).  Any other folder is refused: this is no general rm -r."""
    folder = Path(folder).resolve()
    if folder.parent != Path(tempfile.gettempdir()).resolve() or not folder.name.startswith(TEMP_PREFIX):
        raise ValueError(f"{folder}: not a fleet folder made by build_fleet(out=None)")
    shutil.rmtree(folder)
