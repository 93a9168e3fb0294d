"""Times TURN unwrapping (RFC 8656 ChannelData and Send/Data indications) in `webrtcpcap.open()`.

    python benchmarks/turn_unwrap_speed.py                    # the TURN captures of captures/ + a synthetic relay
    python benchmarks/turn_unwrap_speed.py --packets 300000 --repeat 5

The synthetic relay is synth.py's call with every datagram of its ICE 5-tuple sent through a TURN server instead:
client 10.0.0.1:50000 <-> server 10.0.0.3:3478, one ChannelBind (channel 0x4000) first, then each datagram as
ChannelData, one in `--indication-every` as a Send/Data indication.  Every figure is the median of `--repeat` runs,
each on a fresh open with the rtp, rtcp and stun tables built: the whole decode (wall and CPU seconds), and the part
spent in the unwrapping step itself (wall, and CPU of its thread: the pipeline's TURN/TCP function, found by
name).  The machine may be shared: CPU seconds are the steadier figure.
"""

from __future__ import annotations

import argparse
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this copy of webrtcpcap, not the installed one

import webrtcpcap  # noqa: E402
from synth import _Framer, write_capture  # noqa: E402
from webrtcpcap.io.pcap_writer import PcapWriter  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CLIENT, CLIENT_PORT = "10.0.0.1", 50000
SERVER, SERVER_PORT = "10.0.0.3", 3478
PEER, PEER_PORT = "10.0.0.2", 50002
COOKIE = 0x2112A442
CHANNEL = 0x4000


def _attr(atype: int, value: bytes) -> bytes:
    return struct.pack(">HH", atype, len(value)) + value + b"\0" * (-len(value) % 4)


def _xor_peer() -> bytes:
    addr = int.from_bytes(bytes(int(x) for x in PEER.split(".")), "big") ^ COOKIE
    return _attr(0x0012, struct.pack(">BBHI", 0, 1, PEER_PORT ^ (COOKIE >> 16), addr))


def _stun(msg_type: int, txid: bytes, attrs: bytes) -> bytes:
    return struct.pack(">HHI", msg_type, len(attrs), COOKIE) + txid + attrs


def _records(path: Path):
    """(ts_ns, frame) of a classic little-endian pcap with microsecond or nanosecond times (synth.py's)."""
    data = path.read_bytes()
    magic = struct.unpack_from("<I", data)[0]
    scale = 1000 if magic == 0xA1B2C3D4 else 1
    pos = 24
    while pos + 16 <= len(data):
        sec, frac, cap, _ = struct.unpack_from("<IIII", data, pos)
        yield sec * 1_000_000_000 + frac * scale, data[pos + 16 : pos + 16 + cap]
        pos += 16 + cap


def write_relayed(path: Path, packets: int, indication_every: int) -> dict:
    """synth.py's call, its ICE 5-tuple relayed through TURN; returns counts of what was written."""
    plain = path.with_suffix(".plain.pcap")
    write_capture(str(plain), packets)
    framer, counts = _Framer(), {"channel_data": 0, "indications": 0, "other": 0}
    with open(path, "wb") as out:
        w = PcapWriter(out)
        first = True
        for i, (ts, frame) in enumerate(_records(plain)):
            ip = frame[14:34]
            sport, dport = struct.unpack_from(">HH", frame, 34)
            ends = {(sport, dport)}
            if ip[9] != 17 or not ends & {(CLIENT_PORT, PEER_PORT), (PEER_PORT, CLIENT_PORT)}:
                w.write(frame, ts)
                counts["other"] += 1
                continue
            payload = frame[42:]
            to_peer = sport == CLIENT_PORT
            if first:
                bind = _stun(0x0009, b"\x01" * 12, _attr(0x000C, struct.pack(">HH", CHANNEL, 0)) + _xor_peer())
                w.write(framer.frame(CLIENT, SERVER, CLIENT_PORT, SERVER_PORT, bind), ts - 1000)
                first = False
            if i % indication_every == 0:
                txid = i.to_bytes(12, "big")
                wrapped = _stun(0x0016 if to_peer else 0x0017, txid, _xor_peer() + _attr(0x0013, payload))
                counts["indications"] += 1
            else:
                wrapped = struct.pack(">HH", CHANNEL, len(payload)) + payload
                counts["channel_data"] += 1
            src, sp, dst, dp = ((CLIENT, CLIENT_PORT, SERVER, SERVER_PORT) if to_peer
                                else (SERVER, SERVER_PORT, CLIENT, CLIENT_PORT))
            w.write(framer.frame(src, dst, sp, dp, wrapped), ts)
    plain.unlink()
    return counts


class _Clock:
    """Wall seconds spent inside one function of the pipeline (wrapped by name)."""

    def __init__(self):
        self.wall = self.cpu = 0.0
        self.module = self.name = self.original = None
        from webrtcpcap.tables import pipeline
        candidates = [(pipeline, "_unwrap_turn")]
        try:
            from webrtcpcap.tables import relay
            candidates.insert(0, (relay, "unwrap"))
        except ImportError:
            pass
        for module, name in candidates:
            if hasattr(module, name):
                self.module, self.name, self.original = module, name, getattr(module, name)
                break
        clock = self

        def timed(*args, **kwargs):
            t, c = time.perf_counter(), time.thread_time()
            try:
                return clock.original(*args, **kwargs)
            finally:
                clock.wall += time.perf_counter() - t
                clock.cpu += time.thread_time() - c

        if self.module is not None:
            setattr(self.module, self.name, timed)

    def undo(self):
        if self.module is not None:
            setattr(self.module, self.name, self.original)


def measure(path: Path, repeat: int) -> dict:
    walls, cpus, unwraps, unwrap_cpus, counts = [], [], [], [], None
    for _ in range(repeat):
        clock = _Clock()
        w, c = time.perf_counter(), time.process_time()
        try:
            cap = webrtcpcap.open(path, progress=False)
            sizes = (len(cap.packets), len(cap.rtp), len(cap.rtcp), len(cap.stun))
            relayed = int(cap.rtp["relayed"].sum() + cap.rtcp["relayed"].sum() + cap.stun["relayed"].sum())
        finally:
            clock.undo()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
        unwraps.append(clock.wall)
        unwrap_cpus.append(clock.cpu)
        counts = (sizes, relayed, f"{clock.module.__name__}.{clock.name}" if clock.module else "?")
    return {"wall": statistics.median(walls), "cpu": statistics.median(cpus), "unwrap": statistics.median(unwraps),
            "unwrap_cpu": statistics.median(unwrap_cpus),
            "packets": counts[0][0], "rtp": counts[0][1], "rtcp": counts[0][2], "stun": counts[0][3],
            "relayed_rows": counts[1], "step": counts[2]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=200_000, help="packets of the synthetic call before relaying")
    ap.add_argument("--indication-every", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    paths = sorted((REPO / "captures").glob("turn_*.pcap"))
    with tempfile.TemporaryDirectory() as tmp:
        synthetic = Path(tmp) / "turn_synthetic.pcap"
        counts = write_relayed(synthetic, args.packets, args.indication_every)
        print(f"synthetic relay: {counts['channel_data']:,} ChannelData, {counts['indications']:,} indications, "
              f"{counts['other']:,} other frames")
        print(f"{'capture':32} {'packets':>8} {'relayed':>8} {'open wall s':>11} {'cpu s':>7} {'unwrap s':>9} {'cpu s':>7}  step")
        for path in paths + [synthetic]:
            m = measure(path, args.repeat)
            print(f"{path.name:32} {m['packets']:8,} {m['relayed_rows']:8,} {m['wall']:11.3f} {m['cpu']:7.3f} "
                  f"{m['unwrap']:9.3f} {m['unwrap_cpu']:7.3f}  {m['step']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
