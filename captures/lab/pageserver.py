"""The page server for the lab's Chromium client, run on 127.0.0.1 inside Chromium's namespace (never on a veth).

GET / serves page.html, GET /config.json the session's settings; POST /offer writes <sigdir>/offer.sdp and
answers with <sigdir>/answer.sdp once the answering side (aiortc, the Janus driver or a browser) has written it;
POST /event and /stats keep the page's state changes and final getStats as ground truth; POST /samples appends the
page's getStats samples over time (when the config asks for them) to <out>.stats-series.jsonl.

A browser that answers (--node b) gets the offer from GET /offer (once the offerer has written it), posts its answer
to /answer, and asks GET /wait-closing when to take its final getStats: when the offering page is about to hang up,
so that both ends' statistics describe the same call.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent


class PageHandler(BaseHTTPRequestHandler):
    """What the lab's page servers (this one and pairserver.py) share: one-line logs under their name, replies the
    browser never caches, the request's body."""

    log_name = "page"

    def log_message(self, fmt, *a) -> None:
        print(f"{self.log_name}:", fmt % a, flush=True)

    def reply(self, body: bytes, ctype: str = "text/plain", code: int = 200) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))


def write_atomically(path: Path, data: bytes) -> None:
    """Write `path` whole or not at all: whoever polls for it never reads half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def make_handler(args):
    sig, out, node = Path(args.sigdir), args.out, args.node
    events_path = Path(out + ".page-events.jsonl")

    class Handler(PageHandler):

        def do_GET(self) -> None:
            if self.path == "/":
                self.reply((HERE / "page.html").read_bytes(), "text/html")
            elif self.path == "/config.json":
                self.reply(args.config.encode(), "application/json")
            elif self.path == "/offer":
                deadline = time.time() + 30
                while not (sig / "offer.sdp").exists() and time.time() < deadline:
                    time.sleep(0.05)
                if (sig / "offer.sdp").exists():
                    self.reply((sig / "offer.sdp").read_bytes(), "application/sdp")
                else:
                    self.reply(b"no offer", code=504)
            elif self.path == "/wait-closing":
                deadline = time.time() + args.wait_closing_s
                while not (sig / "a.closing").exists() and time.time() < deadline:
                    time.sleep(0.05)
                self.reply(b"ok")
            elif self.path == "/favicon.ico":
                self.reply(b"", code=204)
            else:
                self.reply(b"not found", code=404)

        def do_POST(self) -> None:
            body = self.body()
            if self.path == "/offer":
                write_atomically(sig / "offer.sdp", body)
                deadline = time.time() + 30
                while not (sig / "answer.sdp").exists() and time.time() < deadline:
                    time.sleep(0.05)
                if (sig / "answer.sdp").exists():
                    self.reply((sig / "answer.sdp").read_bytes(), "application/sdp")
                else:
                    self.reply(b"no answer", code=504)
            elif self.path == "/answer":
                write_atomically(sig / "answer.sdp", body)
                self.reply(b"ok")
            elif self.path == "/event":
                with open(events_path, "ab") as f:
                    f.write(body + b"\n")
                ev = json.loads(body)
                print("page event:", ev, flush=True)
                if ev.get("event") == "connectionState" and ev.get("state") == "connected":
                    marker = sig / f"{node}.connected"
                    if not marker.exists():
                        write_atomically(marker, str(time.time()).encode())  # read by the timeline
                if ev.get("event") in ("done", "error"):
                    (sig / f"{node}.done").write_text(body.decode())
                self.reply(b"ok")
            elif self.path == "/samples":
                # A batch of getStats samples taken over time (cfg.statsIntervalMs): one JSON line per sample.
                batch = json.loads(body)
                with open(out + ".stats-series.jsonl", "a") as f:
                    for one in batch if isinstance(batch, list) else []:
                        f.write(json.dumps(one, separators=(",", ":")) + "\n")
                self.reply(b"ok")
            elif self.path == "/stats":
                Path(out + ".getstats.json").write_bytes(body)
                (sig / f"{node}.stats").write_text("")
                if node == "b":
                    (sig / "b.final-done").write_text("")
                self.reply(b"ok")
            elif self.path == "/closing":
                # An answerer that wants its final state before the page hangs up (the Janus driver takes
                # handle_info, an answering browser its getStats) says so with b.wants-final and answers with
                # b.final-done.
                (sig / "a.closing").write_text("")
                deadline = time.time() + 10
                while ((sig / "b.wants-final").exists() and not (sig / "b.final-done").exists()
                       and time.time() < deadline):
                    time.sleep(0.05)
                self.reply(b"ok")
            else:
                self.reply(b"not found", code=404)

    return Handler


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--sigdir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--config", required=True, help="JSON served as /config.json")
    ap.add_argument("--node", default="a", choices=("a", "b"), help="a: the offering page, b: an answering page")
    ap.add_argument("--wait-closing-s", type=float, default=60, help="b: longest wait for the offerer's hang-up")
    args = ap.parse_args()
    if args.node == "b":
        (Path(args.sigdir) / "b.wants-final").write_text("")
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args))
    print("pageserver listening", flush=True)
    server.serve_forever()
