"""Record captures/quic/quic_chromium.pcap: Chromium's own QUIC Initials (a real browser's ClientHello, with its
post-quantum key share, over more than one Initial) to an aioquic server, both inside a network namespace of their
own whose only interface is lo: nothing can leave it.  The ground truth (quic_chromium.meta.json) is what the server's
TLS stack (aioquic, an independent parser) read from the ClientHello: ALPN list, server name, key share groups.

    python captures/lab/quic_chromium.py [--out captures/quic]     (root: ip netns, tcpdump; chromium; aioquic)

The server offers only h3 and answers no HTTP request: the capture is the handshake, which is what the quic table reads.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

HOST_NAME = "quic.example.test"
PORT = 4433
NAME = "quic_chromium"


def outer(out: Path) -> int:
    ns = f"wpquic{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
        inner_run = [sys.executable, __file__, "--inner", "--out", str(out)]
        return subprocess.run(["ip", "netns", "exec", ns, *inner_run]).returncode
    finally:
        subprocess.run(["ip", "netns", "delete", ns])


async def serve_and_browse(cert: Path, key: Path, profile: Path) -> list[dict]:
    from aioquic import tls
    from aioquic.asyncio import serve
    from aioquic.quic.configuration import QuicConfiguration

    seen = []
    original = tls.pull_client_hello

    def recording(buf):  # what the server's TLS stack read: the ground truth
        hello = original(buf)
        seen.append({"alpn": list(hello.alpn_protocols or []), "server_name": hello.server_name,
                     "key_share_groups": [f"0x{g:04x}" for g, _ in (hello.key_share or [])],
                     "supported_versions": [f"0x{v:04x}" for v in (hello.supported_versions or [])]})
        return hello

    tls.pull_client_hello = recording
    config = QuicConfiguration(is_client=False, alpn_protocols=["h3"])
    config.load_cert_chain(cert, key)
    server = await serve("127.0.0.1", PORT, configuration=config)
    browser = await asyncio.create_subprocess_exec(
        "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}", "--enable-quic",
        f"--origin-to-force-quic-on={HOST_NAME}:{PORT}", f"--host-resolver-rules=MAP {HOST_NAME} 127.0.0.1",
        "--ignore-certificate-errors", f"https://{HOST_NAME}:{PORT}/",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    await asyncio.sleep(8)
    if browser.returncode is None:
        browser.send_signal(signal.SIGTERM)  # by its PID
        try:
            await asyncio.wait_for(browser.wait(), 10)
        except asyncio.TimeoutError:
            browser.kill()
    server.close()
    return seen


def inner(out: Path) -> int:
    sys.path.insert(0, str(Path(__file__).parent))
    from quic_record import loopback_capture, self_signed

    pcap = out / f"{NAME}.pcap"
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = self_signed(Path(tmp))
        with loopback_capture(pcap, f"udp and port {PORT}"):
            hellos = asyncio.run(serve_and_browse(cert, key, Path(tmp) / "profile"))
    import aioquic

    version = subprocess.run(["chromium", "--version"], capture_output=True, text=True).stdout.strip()
    meta = {
        "scenario": NAME,
        "shows": "Chromium's QUIC client Initials to an aioquic server on lo inside a namespace of their own: a real "
                 "browser's ClientHello (post-quantum key share, so more than one Initial), ALPN and server name. "
                 "Not WebRTC: every frame is kind quic.",
        "recorded": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "stacks": {"chromium": version, "aioquic": aioquic.__version__, "python": sys.version.split()[0]},
        "server": {"address": "127.0.0.1", "port": PORT, "alpn": ["h3"]},
        "client_hellos_read_by_the_server": hellos,
    }
    (out / f"{NAME}.meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(meta, indent=2))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "quic"))
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    out = Path(args.out).resolve()
    return inner(out) if args.inner else outer(out)


if __name__ == "__main__":
    sys.exit(main())
