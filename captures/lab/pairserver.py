"""Serve pair.html on 127.0.0.1 (inside the lab's namespace) and keep what the page posts to /result.

The page runs a whole call between two RTCPeerConnections of one browser; its POST /result (SDPs, events,
both ends' getStats) is written to --out, and the server exits after it so the recorder can stop the browser.
"""

from __future__ import annotations

import argparse
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent


def make_handler(out: Path, done: threading.Event):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *a) -> None:
            print("pair:", fmt % a, flush=True)

        def reply(self, body: bytes, ctype: str = "text/plain", code: int = 200) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/":
                self.reply((HERE / "pair.html").read_bytes(), "text/html")
            else:
                self.reply(b"", code=404)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path == "/result":
                tmp = out.with_suffix(out.suffix + ".tmp")
                tmp.write_bytes(body)
                os.replace(tmp, out)
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
