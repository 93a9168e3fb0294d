"""Record captures/quic/quic_loopback.pcap: QUIC handshakes between aioquic clients and servers on 127.0.0.1 (issue
14, item 6), with what each endpoint used written beside it as the ground truth (quic_loopback.meta.json).

    python captures/lab/quic_record.py [--out captures/quic]   (root: tcpdump on lo; aioquic: pip install aioquic)

Not a WebRTC session, so it lives in captures/quic/, away from the sessions record.py makes (whose tests read every
captures/*.meta.json as one).

Loopback only: the servers listen on 127.0.0.1 and every client talks to them there.  Connections, one client port
each, in this order:
  v1_h3            QUIC v1, ALPN h3, server name quic.example.test: handshake, then the client closes
  v2_h3            QUIC v2 (RFC 9369) only, ALPN h3, server name v2.example.test
  v1_alpn_mismatch QUIC v1, ALPN "webrtc" against a server that speaks only h3: the server closes with
                   CRYPTO_ERROR no_application_protocol (0x178) in an Initial
  v1_big_hello     QUIC v1, ALPN h3, aioquic's quantum-readiness extension: a ClientHello of more than one packet, so
                   its CRYPTO data is split over two Initials
  v1_retry         QUIC v1 to a server that sends a Retry (RFC 9000 §8.1.2): the client's second Initial uses the
                   Retry's connection id, from which both sides' Initial keys then come
  v1_upgraded_v2   a client whose first Initial is v1 but which also speaks v2, to a server that prefers v2: compatible
                   version negotiation (RFC 9368) answers with v2 Initials, whose keys use v2's salt and labels
aioquic is a lab tool only: the library never imports it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aioquic.asyncio import QuicConnectionProtocol, connect, serve
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated, HandshakeCompleted
from aioquic.quic.packet import QuicProtocolVersion
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOST = "127.0.0.1"
PORT, RETRY_PORT = 4433, 4434
NAME = "quic_loopback"

FIRST_CLIENT_PORT = 50001  # the i-th connection's client port is FIRST_CLIENT_PORT + i
# name, versions the client speaks (preferred first; its first Initial is in the last one), ALPN, server name, server
# port, quantum readiness extension
CONNECTIONS = [
    ("v1_h3", [QuicProtocolVersion.VERSION_1], ["h3"], "quic.example.test", PORT, False),
    ("v2_h3", [QuicProtocolVersion.VERSION_2], ["h3"], "v2.example.test", PORT, False),
    ("v1_alpn_mismatch", [QuicProtocolVersion.VERSION_1], ["webrtc"], "mismatch.example.test", PORT, False),
    ("v1_big_hello", [QuicProtocolVersion.VERSION_1], ["h3"], "big.example.test", PORT, True),
    ("v1_retry", [QuicProtocolVersion.VERSION_1], ["h3"], "retry.example.test", RETRY_PORT, False),
    ("v1_upgraded_v2", [QuicProtocolVersion.VERSION_2, QuicProtocolVersion.VERSION_1], ["h3"], "upgrade.example.test",
     PORT, False),
]


@contextlib.contextmanager
def loopback_capture(pcap: Path, bpf_filter: str):
    """tcpdump on lo into `pcap` while the block runs: started a second before (tcpdump needs it to be listening),
    stopped with SIGINT half a second after (so that the last packets are written)."""
    dump = subprocess.Popen(["tcpdump", "-i", "lo", "-n", "-U", "-Z", "root", "-w", str(pcap), bpf_filter],
                            stderr=subprocess.PIPE)
    time.sleep(1.0)
    try:
        yield dump
    finally:
        time.sleep(0.5)
        dump.send_signal(signal.SIGINT)
        dump.wait(10)


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "quic.example.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class Recorder(QuicConnectionProtocol):
    """The client protocol, keeping every QUIC event it sees (the ground truth of what was negotiated)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.events = []
        RECORDERS.append(self)

    def quic_event_received(self, event) -> None:
        self.events.append(event)
        super().quic_event_received(event)


RECORDERS: list[Recorder] = []


async def one(index, name, versions, alpn, server_name, port, big) -> dict:
    config = QuicConfiguration(is_client=True, alpn_protocols=alpn, server_name=server_name,
                               supported_versions=list(versions), original_version=versions[-1], verify_mode=0,
                               quantum_readiness_test=big)
    truth = {"name": name, "client_port": FIRST_CLIENT_PORT + index,
             "versions_offered": [f"0x{v:08x}" for v in versions], "alpn_offered": alpn, "server_name": server_name,
             "server_port": port, "big_client_hello": big}
    RECORDERS.clear()
    try:
        async with connect(HOST, port, configuration=config, create_protocol=Recorder, wait_connected=True,
                           local_port=FIRST_CLIENT_PORT + index) as client:
            await client.ping()
    except ConnectionError as e:
        truth["client_error"] = str(e) or type(e).__name__
    recorder = RECORDERS[0]
    quic = recorder._quic
    truth["original_destination_connection_id"] = quic.original_destination_connection_id.hex()
    truth["version"] = f"0x{quic._version:08x}"
    events = recorder.events
    for e in events:
        if isinstance(e, HandshakeCompleted):
            truth["alpn_chosen"] = e.alpn_protocol
        if isinstance(e, ConnectionTerminated):
            truth["close_error_code"] = f"0x{e.error_code:x}"
    return truth


async def run(cert: Path, key: Path) -> list[dict]:
    servers = []
    for port, retry in ((PORT, False), (RETRY_PORT, True)):
        config = QuicConfiguration(is_client=False, alpn_protocols=["h3"],  # v2 first: upgrades who can (RFC 9368)
                                   supported_versions=[QuicProtocolVersion.VERSION_2, QuicProtocolVersion.VERSION_1])
        config.load_cert_chain(cert, key)
        servers.append(await serve(HOST, port, configuration=config, retry=retry))
    out = []
    for i, spec in enumerate(CONNECTIONS):
        try:
            out.append(await asyncio.wait_for(one(i, *spec), 10))
        except asyncio.TimeoutError:
            out.append({"name": spec[0], "client_error": "timed out after 10 s"})
        await asyncio.sleep(0.3)
    for s in servers:
        s.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "quic"))
    args = ap.parse_args()
    out = Path(args.out)
    pcap = out / f"{NAME}.pcap"
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = self_signed(Path(tmp))
        with loopback_capture(pcap, f"udp and (port {PORT} or port {RETRY_PORT})"):
            truth = asyncio.run(run(cert, key))
    import aioquic

    meta = {
        "scenario": NAME,
        "shows": "QUIC handshakes on loopback between aioquic clients and servers (not WebRTC): QUIC v1 and v2 "
                 "Initials, ALPN and SNI in the ClientHello, a refused ALPN, a ClientHello split over two Initials, "
                 "a Retry, a v1 client upgraded to v2 by compatible version negotiation (whose next Initial has a "
                 "v2 header but v1 protection: no one can open it as v2).  Every UDP frame is kind quic; the quic "
                 "table opens the Initials without a key log.",
        "recorded": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "stacks": {"aioquic": aioquic.__version__, "python": sys.version.split()[0],
                   "tcpdump": subprocess.run(["tcpdump", "--version"], capture_output=True,
                                             text=True).stdout.splitlines()[0]},
        "servers": {"address": HOST, "ports": {"plain": PORT, "retry": RETRY_PORT}, "alpn": ["h3"],
                    "versions": ["0x6b3343cf", "0x00000001"]},
        "connections": truth,
    }
    (out / f"{NAME}.meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(truth, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
