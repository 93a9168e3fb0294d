"""Drive one Janus echotest session for the lab's Chromium client, inside Janus' namespace (REST on 127.0.0.1).

Reads <sigdir>/offer.sdp, creates a session and an echotest handle, starts Janus' decrypted packet dump
(admin ``start_pcap``) right after attach, sends the offer and writes Janus' answer to <sigdir>/answer.sdp.
When <sigdir>/stop appears it saves ``handle_info`` (ICE/DTLS state, NACK and retransmission counters), stops the
dump and destroys the session.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
import urllib.request
from pathlib import Path

API = "http://127.0.0.1:8088/janus"
ADMIN = "http://127.0.0.1:7088/admin"


def call(url: str, body: dict | None = None, timeout: float = 35) -> dict:
    if body is not None:
        body = dict(body, transaction=f"{random.getrandbits(48):012x}")
        req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    else:
        req = urllib.request.Request(url)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sigdir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--admin-secret", required=True)
    ap.add_argument("--bitrate", type=int, default=300000)
    ap.add_argument("--pcap", action="store_true", help="start_pcap on the handle")
    args = ap.parse_args()
    sig, out = Path(args.sigdir), args.out
    events: list[dict] = []

    def note(what: str, **kw) -> None:
        events.append({"unix": round(time.time(), 3), "event": what, **kw})
        print(what, kw, flush=True)

    (sig / "b.wants-final").write_text("")
    deadline = time.time() + 30
    while True:
        try:
            call(API.replace("/janus", "/janus/info"))
            break
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.2)
    while not (sig / "offer.sdp").exists():
        if time.time() > deadline:
            raise TimeoutError("no offer")
        time.sleep(0.05)
    offer = (sig / "offer.sdp").read_text()
    session = call(API, {"janus": "create"})["data"]["id"]
    handle = call(f"{API}/{session}", {"janus": "attach", "plugin": "janus.plugin.echotest"})["data"]["id"]
    note("attached", session=session, handle=handle)
    admin_url = f"{ADMIN}/{session}/{handle}"
    if args.pcap:
        folder, name = os.path.split(out + ".janus.pcap")
        r = call(admin_url, {"janus": "start_pcap", "admin_secret": args.admin_secret, "folder": folder,
                             "filename": name, "truncate": 0})
        note("start_pcap", result=r.get("janus"))
    r = call(f"{API}/{session}/{handle}", {"janus": "message", "body": {"audio": True, "video": True,
                                                                      "bitrate": args.bitrate},
                                           "jsep": {"type": "offer", "sdp": offer}})
    note("offer-sent", result=r.get("janus"))

    stop = threading.Event()
    answered = threading.Event()

    def poll() -> None:  # the long poll also keeps the session alive
        while not stop.is_set():
            try:
                evs = call(f"{API}/{session}?maxev=5&rid={int(time.time() * 1000)}", timeout=35)
            except Exception as exc:
                note("poll-error", error=repr(exc))
                time.sleep(0.5)
                continue
            for ev in evs if isinstance(evs, list) else [evs]:
                if ev.get("janus") == "keepalive":
                    continue
                if ev.get("jsep", {}).get("type") == "answer" and not answered.is_set():
                    tmp = sig / "answer.sdp.tmp"
                    tmp.write_text(ev["jsep"]["sdp"])
                    os.replace(tmp, sig / "answer.sdp")
                    answered.set()
                note("janus-event", janus=ev.get("janus"),
                     **{k: ev[k] for k in ("plugindata", "media", "type", "receiving", "uplink", "nacks", "reason")
                        if k in ev})
                if ev.get("janus") == "webrtcup":
                    (sig / "b.connected").write_text(str(time.time()))

    t = threading.Thread(target=poll, daemon=True)
    t.start()
    if not answered.wait(20):
        note("no-answer")
    # The page posts its getStats (a.stats) and then waits for b.final-done before it hangs up.
    while not (sig / "stop").exists() and not (sig / "a.stats").exists():
        time.sleep(0.1)
    info = call(admin_url, {"janus": "handle_info", "admin_secret": args.admin_secret})
    Path(out + ".handle_info.json").write_text(json.dumps(info, indent=2) + "\n")
    note("handle_info")
    if args.pcap:
        call(admin_url, {"janus": "stop_pcap", "admin_secret": args.admin_secret})
    (sig / "b.final-done").write_text("")
    while not (sig / "stop").exists():
        time.sleep(0.1)
    try:
        call(f"{API}/{session}", {"janus": "destroy"})
    except Exception as exc:
        note("destroy-error", error=repr(exc))
    stop.set()
    Path(out + ".peer.json").write_text(json.dumps({"session": session, "handle": handle, "events": events},
                                                   indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
