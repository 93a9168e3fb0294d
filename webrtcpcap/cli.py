"""Command line: `webrtcpcap summary FILE` and `webrtcpcap report CAPTURE` (also `python -m webrtcpcap ...`).

One function per subcommand (`_summary`, `_report`), each given the parsed arguments and returning the exit code.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from . import __version__
from .tools import anonymize, batch
from .io import heap
from .capture import iter_chunks, open as open_capture
from .io.errors import CaptureWarning, WebRTCPcapError
from .io.reader import expanded_size
from .report.document import build, matplotlib_headless
from .tables.summary import format_summary, summarize

# Above this size (decompressed) the summary reads the file in chunks, in bounded memory.
CHUNKED_ABOVE_BYTES = 2 << 30


REPORT_EPILOG = """\
exit codes: 0 healthy (verdict ok or info), 1 problems found (a warning or an error), 2 could not read (the
capture, or an input file: SDP, key log, stats; also a bad option, and any unexpected failure on this input, always
as one line on stderr, never a traceback).

The report names input files but never shows their secrets: key log lines, a=crypto and a=ice-pwd SDP lines and
TURN passwords stay out of the text and the HTML.  The HTML file is self-contained (inline CSS, PNG plots, no
JavaScript) and opens offline in any browser.

example: webrtcpcap report captures/aiortc_outage3s.pcap --keylog captures/aiortc_outage3s.keylog --html out.html
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="webrtcpcap", description="Analyse WebRTC packet captures.")
    parser.add_argument("--version", action="version", version=f"webrtcpcap {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("summary", help="frames per kind, RTP streams and stopped WebRTC-over-TCP streams of a capture")
    p.add_argument("file", help="a pcap or pcapng file (optionally gzip-compressed)")
    p.add_argument("--webrtc", action="append", default=[], metavar="PORT|ADDR:PORT",
                   help="treat flows on this endpoint as WebRTC whatever the evidence (repeatable)")
    p.add_argument("--not-webrtc", action="append", default=[], metavar="PORT|ADDR:PORT",
                   help="never treat flows on this endpoint as WebRTC (repeatable)")
    p.add_argument("--chunked", action="store_true", help="read in chunks even if the file is small")
    p.set_defaults(run=_summary)
    _add_report(sub)
    _add_anonymize(sub)
    _add_batch(sub)
    args = parser.parse_args(argv)
    heap.tune()  # this process is ours: glibc's thresholds may be fixed for it (the library never does; see heap.tune)
    # No input ends in a traceback: each failure is one line on stderr and a documented exit code (REPORT_EPILOG).
    try:
        with warnings.catch_warnings(record=True) as caught:
            # A warning the subcommand did not turn into a line of its own output (a cut file in `anonymize`) is
            # one line here, not Python's "file.py:785: CaptureWarning: ..." with the source line under it.
            # Python's filters stay as they are (deprecations stay hidden).
            code = args.run(args)
        for message in dict.fromkeys(_one_line(str(w.message)) for w in caught
                                     if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning))):
            print(f"webrtcpcap: warning: {message}", file=sys.stderr)
        sys.stdout.flush()  # here, so that a closed pipe is caught below and not at interpreter exit
        return code
    except BrokenPipeError:
        # `webrtcpcap summary x | head -1`: the reader went away, which is no error of ours.  Point stdout at
        # /dev/null so that Python's own flush at exit does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 0
    except WebRTCPcapError as exc:
        return _fail(str(exc))
    except ValueError as exc:  # bad --webrtc / --not-webrtc / --turn-password values
        return _fail(str(exc))
    except OSError as exc:  # a file of ours: the output cannot be written, an input vanished
        name = exc.filename if exc.filename is not None else _input_name(args)
        verb = "cannot write" if os.fspath(name) == getattr(args, "output", None) else "cannot read"
        return _fail(f"{name}: {verb} ({exc.strerror or type(exc).__name__})")
    except MemoryError:
        return _fail(f"{_input_name(args)}: out of memory while reading it")
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - a crash on some input is still one line and "could not read"
        return _fail(f"{_input_name(args)}: could not be read: internal error {type(exc).__name__}: "
                     f"{_one_line(str(exc))} (please report it with the file)")


def _fail(message: str) -> int:
    print(f"webrtcpcap: error: {_one_line(message)}", file=sys.stderr)
    return 2


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _input_name(args) -> str:
    return str(getattr(args, "file", None) or getattr(args, "capture", None) or getattr(args, "input", None)
               or "the input")


def _add_anonymize(sub) -> None:
    p = sub.add_parser("anonymize", help="write a copy safe to share: addresses, ufrags, usernames replaced")
    anonymize.add_arguments(p)
    p.set_defaults(run=anonymize.run)  # exit 0 written; 2 unreadable input, or output == input


def _add_batch(sub) -> None:
    p = sub.add_parser("batch", help="many captures into one Parquet dataset, on Dask (a LocalCluster or a scheduler)",
                       epilog=batch.BATCH_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    batch.add_arguments(p)
    p.set_defaults(run=batch.main_args)


def _add_report(sub) -> None:
    p = sub.add_parser("report", help="the health of a call: verdict per stage with evidence; text and HTML",
                       description="Judge one call: ICE, TURN, DTLS, media, loss recovery and RTCP, each with a "
                                   "verdict and the frames behind it. Prints the report as text; --html also "
                                   "writes one self-contained HTML file with the ladders and per-stream plots.",
                       epilog=REPORT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("capture", help="a pcap or pcapng file (optionally gzip-compressed)")
    p.add_argument("--sdp", action="append", default=[], metavar="FILE",
                   help="the call's SDP offer or answer (repeatable): clock rates, ICE passwords, fingerprint checks")
    p.add_argument("--keylog", metavar="FILE", help="NSS key log (DTLS CLIENT_RANDOM lines): decrypts SRTP/SRTCP")
    p.add_argument("--turn-password", action="append", default=[], metavar="USER=PASS|FILE",
                   help="TURN long-term credential, to check MESSAGE-INTEGRITY (repeatable): USER=PASS (a TURN "
                        "REST username keeps its colon: 1700000000:alice=PASS), or a file of USER=PASS lines; "
                        "the report says per user how many messages it checked")
    p.add_argument("--turn-secret", metavar="SECRET", help="TURN REST API shared secret (coturn static-auth-secret)")
    p.add_argument("--getstats", metavar="FILE",
                   help="getStats / webrtc-internals JSON: prints where endpoint and capture disagree")
    p.add_argument("--janus-handle-info", metavar="FILE",
                   help="Janus admin API handle_info JSON: prints where Janus and the capture disagree")
    p.add_argument("--html", metavar="OUT", help="also write the report as one self-contained HTML file")
    p.set_defaults(run=_report)


def _summary(args) -> int:
    problems: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CaptureWarning)
        # The size once decompressed, counted as the gzip stream is read (a small .pcap.gz may expand to GiB).
        if args.chunked or expanded_size(args.file, CHUNKED_ABOVE_BYTES) > CHUNKED_ABOVE_BYTES:
            chunks = iter_chunks(args.file, webrtc=args.webrtc, not_webrtc=args.not_webrtc)
            summary = summarize((c.packets, c.rtp, c.tcp_streams) for c in chunks)
        else:
            summary = summarize(_whole(args))
    for w in caught:
        if issubclass(w.category, CaptureWarning):
            problems.append(str(w.message).split(": ", 1)[-1])
    lines = format_summary(args.file, summary, "; ".join(problems) or None).split("\n")
    plain = _nothing_to_see(summary)
    if plain:  # said first: the tables below are empty for a reason, not because something failed
        lines.insert(1, plain)
    print("\n".join(lines))
    return 0


WEBRTC_KINDS = ("stun", "dtls", "rtp", "rtcp", "turn-channel")


def _nothing_to_see(summary) -> str | None:
    """A plain sentence when the capture holds no frames or no WebRTC at all (None otherwise)."""
    if summary.frames == 0:
        return "the capture holds no frames"
    kinds = summary.kinds
    webrtc = int(sum(int(kinds.get(k, 0)) for k in WEBRTC_KINDS))
    if not webrtc:
        return f"no WebRTC traffic (STUN, DTLS, RTP, RTCP, TURN) in {summary.frames} frames"
    return None


def _whole(args):
    """The capture's tables as one piece, from a generator: once summarize has counted them, the Capture (its
    bytes, index and other tables) is let go before the streams' loss is computed (a lower peak)."""
    cap = open_capture(args.file, webrtc=args.webrtc, not_webrtc=args.not_webrtc)
    box = [(cap.packets, cap.rtp, cap.tcp_streams, cap.quic_connections)]
    del cap
    yield box.pop()  # popped: this suspended frame keeps no reference to the tables


def turn_passwords(values: list[str]) -> dict[str, str]:
    """--turn-password values as {user: password}.  Each is USER=PASS, split at the first "=" (a TURN REST
    username, "1700000000:alice", holds colons and never an "="; a base64 password may end in "="), or the path of
    a file of such lines ("#" comments and blank lines skipped; coturn's "user=USER:PASS" lines too).  USER:PASS
    with one colon and no "=" is still read (the old form).  Errors name the value's place, never its text: it
    holds a password."""
    out: dict[str, str] = {}
    for n, value in enumerate(values, 1):
        if "=" not in value and os.path.isfile(value):
            with open(value, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
            for i, line in enumerate(lines, 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                if line.startswith("user=") and line.count("=") >= 1 and ":" in line:
                    line = line[len("user="):].replace(":", "=", 1)  # coturn turnserver.conf
                out.update(_credential(line, f"line {i} of {os.path.basename(value)}"))
        else:
            out.update(_credential(value, f"--turn-password value {n}"))
    return out


def _credential(text: str, where: str) -> dict[str, str]:
    user, sep, password = text.partition("=")
    if not sep and text.count(":") == 1:  # the old USER:PASS form: unambiguous with one colon only
        user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise ValueError(f"{where}: --turn-password wants USER=PASS (or a file of USER=PASS lines); "
                         "the value has no user, no password or no '=' (it is not shown: it may hold a password)")
    return {user: password}


# Hints the library writes for Python users, in the words of this command line.  Applied when the report is
# rendered here: the library's own text keeps its Python names (webrtcpcap.health(...) in a notebook).
CLI_WORDS = (("(open with keylog= or srtp_keys=)", "(give --keylog FILE)"),
             ("open it with keylog=", "give --keylog FILE"),
             ("(open with keylog=)", "(give --keylog FILE)"),
             ("with keylog=", "with --keylog FILE"))


def cli_words(text: str) -> str:
    for python, flag in CLI_WORDS:
        text = text.replace(python, flag)
    return text


def _report(args) -> int:
    passwords = turn_passwords(args.turn_password)
    matplotlib_headless()
    report = build(args.capture, sdp=args.sdp, keylog=args.keylog, turn_passwords=passwords,
                   turn_secret=args.turn_secret, getstats=args.getstats, handle_info=args.janus_handle_info)
    if hasattr(sys.stdout, "reconfigure"):  # a terminal that cannot show "→" gets "\u2192", not a traceback
        sys.stdout.reconfigure(errors="backslashreplace")
    sys.stdout.write(cli_words(report.text()))
    code = report.exit_code
    if args.html:
        try:
            page = cli_words(report.html())
            with open(args.html, "w", encoding="utf-8") as f:
                f.write(page)
        except OSError as exc:
            print(f"webrtcpcap: error: {args.html}: cannot write the HTML report ({exc.strerror or exc})",
                  file=sys.stderr)
            return 2
    for message in report.errors:
        print(f"webrtcpcap: error: {message}", file=sys.stderr)
    if report.unreadable:
        print(f"webrtcpcap: error: {report.health.headline}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
