"""One aiortc peer of the capture lab, run inside a lab namespace by record.py.

It sends synthetic VP8 video and Opus audio (numpy frames, a tone) plus a data channel, decodes what it receives
(so aiortc's real NACK/PLI logic runs), signals through files in --sigdir, and writes its ground truth:
DTLS key log lines, the RFC 5764 SRTP keys, getStats, and counters of the RTCP feedback it sent and received.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import fractions
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
from av import AudioFrame, VideoFrame

from aiortc import (RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription, MediaStreamTrack)
from aiortc import rtcdtlstransport, rtcrtpreceiver, rtcrtpsender
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from aiortc.codecs import vpx
from aiortc.rtp import RtcpPsfbPacket, RtcpRtpfbPacket

WIDTH, HEIGHT, FPS = 320, 240, 20
COUNTS: dict[str, int] = {}
EVENTS: list[dict] = []
T0 = time.time()


def count(key: str, n: int = 1) -> None:
    COUNTS[key] = COUNTS.get(key, 0) + n


def event(what: str, **kw) -> None:
    EVENTS.append({"t": round(time.time() - T0, 3), "unix": round(time.time(), 3), "event": what, **kw})
    print(f"[{time.time() - T0:7.3f}] {what} {kw if kw else ''}", flush=True)


# -- ground truth hooks -----------------------------------------------------------------------------------------
def install_hooks(keylog_path: Path, srtp_path: Path) -> None:
    orig_ctx = rtcdtlstransport.RTCCertificate._create_ssl_context

    def create_ssl_context(self, *a, **kw):
        ctx = orig_ctx(self, *a, **kw)

        def keylog(conn, line: bytes) -> None:
            with open(keylog_path, "ab") as f:
                f.write(line + b"\n")

        ctx.set_keylog_callback(keylog)
        return ctx

    rtcdtlstransport.RTCCertificate._create_ssl_context = create_ssl_context

    orig_setup = rtcdtlstransport.RTCDtlsTransport._setup_srtp

    def setup_srtp(self) -> None:
        orig_setup(self)
        name = self._ssl.get_selected_srtp_profile()
        for prof in rtcdtlstransport.SRTP_PROFILES:
            if prof.openssl_profile == name:
                break
        else:
            return
        kl, sl = prof.key_length, prof.salt_length
        m = self._ssl.export_keying_material(b"EXTRACTOR-dtls_srtp", 2 * (kl + sl))
        doc = {
            "profile": name.decode(),
            "exporter_label": "EXTRACTOR-dtls_srtp",
            "split": "client_write_key | server_write_key | client_write_salt | server_write_salt (RFC 5764 §4.2)",
            "client_write_key": m[:kl].hex(),
            "server_write_key": m[kl:2 * kl].hex(),
            "client_write_salt": m[2 * kl:2 * kl + sl].hex(),
            "server_write_salt": m[2 * kl + sl:].hex(),
            "written_by_dtls_role": self._role,
        }
        srtp_path.write_text(json.dumps(doc, indent=2) + "\n")
        event("srtp-keys", profile=doc["profile"], dtls_role=self._role)

    rtcdtlstransport.RTCDtlsTransport._setup_srtp = setup_srtp

    orig_rx_send = rtcrtpreceiver.RTCRtpReceiver._send_rtcp

    async def rx_send_rtcp(self, packet) -> None:
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == 1:
            count("nack_packets_sent")
            count("nack_seqs_sent", len(packet.lost))
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == 1:
            count("pli_sent")
            event("pli-sent", media_ssrc=packet.media_ssrc)
        await orig_rx_send(self, packet)

    rtcrtpreceiver.RTCRtpReceiver._send_rtcp = rx_send_rtcp

    orig_tx_handle = rtcrtpsender.RTCRtpSender._handle_rtcp_packet

    async def tx_handle_rtcp(self, packet) -> None:
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == 1:
            count("nack_packets_received")
            count("nack_seqs_received", len(packet.lost))
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == 1:
            count("pli_received")
            event("pli-received", media_ssrc=packet.media_ssrc)
        await orig_tx_handle(self, packet)

    rtcrtpsender.RTCRtpSender._handle_rtcp_packet = tx_handle_rtcp

    orig_retx = rtcrtpsender.RTCRtpSender._retransmit

    async def retransmit(self, seq: int) -> None:
        count("retransmit_requests")
        await orig_retx(self, seq)

    rtcrtpsender.RTCRtpSender._retransmit = retransmit

    orig_kf = rtcrtpsender.RTCRtpSender._send_keyframe

    def send_keyframe(self) -> None:
        count("keyframes_forced")
        orig_kf(self)

    rtcrtpsender.RTCRtpSender._send_keyframe = send_keyframe


# -- synthetic media --------------------------------------------------------------------------------------------
class SyntheticVideo(MediaStreamTrack):
    """A moving gradient with a noisy square, YUV 4:2:0, WIDTH x HEIGHT at FPS."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self._n = 0
        self._start: float | None = None
        self._rng = np.random.default_rng(1)
        x = np.arange(WIDTH, dtype=np.int32)
        y = np.arange(HEIGHT, dtype=np.int32)[:, None]
        self._base = (x[None, :] + y) % 256

    async def recv(self) -> VideoFrame:
        if self._start is None:
            self._start = time.time()
        target = self._start + self._n / FPS
        await asyncio.sleep(max(0.0, target - time.time()))
        n = self._n
        self._n += 1
        yplane = ((self._base + 4 * n) % 256).astype(np.uint8)
        cx = int((WIDTH - 64) * (0.5 + 0.5 * math.sin(n / 15)))
        yplane[88:152, cx:cx + 64] = self._rng.integers(0, 256, (64, 64), dtype=np.uint8)
        chroma = np.full((HEIGHT // 2, WIDTH), 128, dtype=np.uint8)
        chroma[:, : WIDTH // 2] = (96 + n) % 256
        frame = VideoFrame.from_ndarray(np.vstack([yplane, chroma]), format="yuv420p")
        frame.pts = int(n * 90000 / FPS)
        frame.time_base = fractions.Fraction(1, 90000)
        return frame


class ToneAudio(MediaStreamTrack):
    """A 440 Hz tone, 48 kHz mono s16, 20 ms frames."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._n = 0
        self._start: float | None = None

    async def recv(self) -> AudioFrame:
        if self._start is None:
            self._start = time.time()
        target = self._start + self._n * 0.020
        await asyncio.sleep(max(0.0, target - time.time()))
        samples = 960
        t = (np.arange(samples) + self._n * samples) / 48000
        pcm = (3000 * np.sin(2 * math.pi * 440 * t)).astype(np.int16)
        frame = AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 48000
        frame.pts = self._n * samples
        frame.time_base = fractions.Fraction(1, 48000)
        self._n += 1
        return frame


async def consume(track) -> None:
    while True:
        try:
            await track.recv()
        except Exception:
            return
        count(f"{track.kind}_frames_decoded")


def selected_pair(pc) -> dict | None:
    """The nominated candidate pair (aioice internals; None if they changed)."""
    try:
        conn = pc.getTransceivers()[0].receiver.transport.transport.iceGatherer._connection
        p = next(iter(conn._nominated.values()))
        return {"local": p.local_candidate.to_sdp(), "remote": p.remote_candidate.to_sdp()}
    except Exception as exc:
        return {"error": repr(exc)}


# -- signalling through files -----------------------------------------------------------------------------------
def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


async def wait_file(path: Path, timeout: float) -> str:
    deadline = time.time() + timeout
    while not path.exists():
        if time.time() > deadline:
            raise TimeoutError(f"no {path.name} within {timeout} s")
        await asyncio.sleep(0.05)
    return path.read_text()


def to_jsonable(obj):
    if dataclasses.is_dataclass(obj):
        return {k: to_jsonable(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, dict):
        return {k: to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, datetime.datetime):
        return obj.isoformat()
    return obj


async def main(args) -> int:
    out = Path(args.out)
    sig = Path(args.sigdir)
    # Small captures: VP8 in [kbps/2, kbps] (aiortc's own range is 250 kbit/s to 1.5 Mbit/s, starting at 500).
    vpx.DEFAULT_BITRATE = vpx.MAX_BITRATE = args.video_kbps * 1000
    vpx.MIN_BITRATE = args.video_kbps * 500
    install_hooks(Path(str(out) + ".keylog"), Path(str(out) + ".srtp-keys.json"))
    servers = [RTCIceServer(**s) for s in json.loads(args.ice_servers)]
    config = RTCConfiguration(iceServers=servers, iceTransportPolicy=RTCIceTransportPolicy.RELAY if args.relay else RTCIceTransportPolicy.ALL)
    pc = RTCPeerConnection(configuration=config)
    done = asyncio.Event()
    state = {"connected_at": None, "final": None}

    @pc.on("connectionstatechange")
    async def on_state() -> None:
        event("connectionState", state=pc.connectionState)
        if pc.connectionState == "connected" and state["connected_at"] is None:
            state["connected_at"] = time.time()
            state["pair"] = selected_pair(pc)
            (sig / f"{args.name}.connected").write_text(str(time.time()))
        if pc.connectionState in ("failed", "closed"):
            done.set()

    @pc.on("iceconnectionstatechange")
    async def on_ice() -> None:
        event("iceConnectionState", state=pc.iceConnectionState)

    @pc.on("icegatheringstatechange")
    async def on_gather() -> None:
        event("iceGatheringState", state=pc.iceGatheringState)

    tasks = []

    @pc.on("track")
    def on_track(track) -> None:
        event("track", kind=track.kind)
        tasks.append(asyncio.ensure_future(consume(track)))

    def on_channel(ch) -> None:
        @ch.on("message")
        def on_message(msg) -> None:
            count("dc_messages_received")

        async def ping() -> None:
            n = 0
            while True:
                await asyncio.sleep(0.5)
                if ch.readyState == "open":
                    ch.send(f"{args.name} {n}")
                    count("dc_messages_sent")
                    n += 1
        tasks.append(asyncio.ensure_future(ping()))

    @pc.on("datachannel")
    def on_dc(ch) -> None:
        on_channel(ch)

    pc.addTrack(ToneAudio())
    pc.addTrack(SyntheticVideo())
    try:
        if args.role == "offer":
            on_channel(pc.createDataChannel("lab"))
            await pc.setLocalDescription(await pc.createOffer())
            write_atomic(sig / "offer.sdp", pc.localDescription.sdp)
            event("offer-written")
            answer = await wait_file(sig / "answer.sdp", 30)
            await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        else:
            offer = await wait_file(sig / "offer.sdp", 30)
            await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            write_atomic(sig / "answer.sdp", pc.localDescription.sdp)
            event("answer-written")
        # Run for --duration from the start of ICE, or until failed/closed, or until the stop file appears.
        deadline = time.time() + args.duration
        while time.time() < deadline and not done.is_set() and not (sig / "stop").exists():
            await asyncio.sleep(0.1)
        try:
            stats = await asyncio.wait_for(pc.getStats(), 5)
            stats_json = {k: to_jsonable(v) for k, v in stats.items()}
        except Exception as exc:  # e.g. transports never started
            stats_json = {"error": repr(exc)}
        summary = {
            "name": args.name,
            "role": args.role,
            "connectionState_at_end": pc.connectionState,  # "closed" once the other side hung up first
            "iceConnectionState_at_end": pc.iceConnectionState,
            "connected_at_unix": state["connected_at"],
            "selected_pair": state.get("pair"),
            "counters": COUNTS,
            "events": EVENTS,
        }
        Path(str(out) + ".peer.json").write_text(json.dumps(summary, indent=2) + "\n")
        Path(str(out) + ".getstats.json").write_text(json.dumps(stats_json, indent=2) + "\n")
    finally:
        for t in tasks:
            t.cancel()
        await pc.close()
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--role", choices=["offer", "answer"], required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--sigdir", required=True)
    ap.add_argument("--out", required=True, help="path prefix for this peer's ground-truth files")
    ap.add_argument("--duration", type=float, default=12)
    ap.add_argument("--ice-servers", default="[]", help="JSON list of RTCIceServer kwargs; [] = none")
    ap.add_argument("--relay", action="store_true")
    ap.add_argument("--video-kbps", type=int, default=300)
    sys.exit(asyncio.run(main(ap.parse_args())))
