"""Serve pair.html on 127.0.0.1 (inside the lab's namespace) and keep what the page posts to /result.

The page runs a whole call between two RTCPeerConnections of one browser; its POST /result (SDPs, events,
both ends' getStats) is written to --out, and the server exits after it so the recorder can stop the browser.
"""

from __future__ import annotations

import argparse
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

from pageserver import PageHandler, write_atomically  # the lab's other page server, beside this script

HERE = Path(__file__).resolve().parent


def make_handler(out: Path, done: threading.Event):
    class Handler(PageHandler):
        log_name = "pair"

        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/":
                self.reply((HERE / "pair.html").read_bytes(), "text/html")
            else:
                self.reply(b"", code=404)

        def do_POST(self) -> None:
            body = self.body()
            if self.path == "/result":
                write_atomically(out, body)
                self.reply(b"ok")
                done.set()
            else:
                self.reply(b"", code=404)

    return Handler


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--port", type=int, default=8000)
    args = ap.parse_args()
    done = threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args.out, done))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("pairserver listening", flush=True)
    done.wait()
    server.shutdown()
