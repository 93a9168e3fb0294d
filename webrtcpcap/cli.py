"""Command line: `webrtcpcap summary FILE` (also `python -m webrtcpcap summary FILE`)."""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from . import __version__
from .capture import iter_chunks, open as open_capture
from .errors import CaptureWarning, WebRTCPcapError
from .summary import format_summary, summarize

# Above this size the summary reads the file in chunks, in bounded memory.
CHUNKED_ABOVE_BYTES = 2 << 30


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="webrtcpcap", description="Analyse WebRTC packet captures.")
    parser.add_argument("--version", action="version", version=f"webrtcpcap {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("summary", help="frames per kind and the RTP streams of a capture")
    p.add_argument("file", help="a pcap or pcapng file (optionally gzip-compressed)")
    p.add_argument("--webrtc", action="append", default=[], metavar="PORT|ADDR:PORT",
                   help="treat flows on this endpoint as WebRTC whatever the evidence (repeatable)")
    p.add_argument("--not-webrtc", action="append", default=[], metavar="PORT|ADDR:PORT",
                   help="never treat flows on this endpoint as WebRTC (repeatable)")
    p.add_argument("--chunked", action="store_true", help="read in chunks even if the file is small")
    args = parser.parse_args(argv)
    try:
        return _summary(args)
    except WebRTCPcapError as exc:
        print(f"webrtcpcap: error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # bad --webrtc / --not-webrtc specs
        print(f"webrtcpcap: error: {exc}", file=sys.stderr)
        return 2


def _summary(args) -> int:
    problems: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CaptureWarning)
        try:
            size = os.path.getsize(args.file)
        except OSError as exc:
            raise WebRTCPcapError(f"{args.file}: cannot open ({exc.strerror or exc})") from None
        if args.chunked or size > CHUNKED_ABOVE_BYTES:
            chunks = iter_chunks(args.file, webrtc=args.webrtc, not_webrtc=args.not_webrtc)
            summary = summarize((c.packets, c.rtp) for c in chunks)
        else:
            cap = open_capture(args.file, webrtc=args.webrtc, not_webrtc=args.not_webrtc)
            summary = summarize([(cap.packets, cap.rtp)])
    for w in caught:
        if issubclass(w.category, CaptureWarning):
            problems.append(str(w.message).split(": ", 1)[-1])
    print(format_summary(args.file, summary, "; ".join(problems) or None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
