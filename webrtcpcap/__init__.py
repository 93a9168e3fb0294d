"""webrtcpcap: read WebRTC packet captures into typed pandas tables.

    cap = webrtcpcap.open("call.pcapng")
    cap.packets, cap.rtp, cap.rtcp, cap.flows, cap.stun, cap.dtls_records, cap.streams
    print(webrtcpcap.health(cap))   (a verdict per stage, with the evidence frames)
    webrtcpcap.open("call.pcapng", keylog="keys.log", sdp=["offer.sdp", "answer.sdp"])   (SRTP/SRTCP decrypted)
    webrtcpcap.streams.gaps(cap.rtp), webrtcpcap.ice.candidate_pairs(cap.stun, cap.packets)
    webrtcpcap.plots.ice_ladder(webrtcpcap.ice.transactions(cap.stun))   (matplotlib, imported on the first plot)
"""

__version__ = "0.1.0"

import importlib  # noqa: E402

from .capture import Capture, Chunk, iter_chunks, open  # noqa: E402,A004
from .io.errors import CaptureError, CaptureWarning, DecodeError, WebRTCPcapError  # noqa: E402
from . import analysis  # noqa: E402  (the package: webrtcpcap.analysis.of(cap))
from .analysis import compare, handshake, ice, nack, pli, rtt  # noqa: E402
from .io import endpoints  # noqa: E402
from .protocols import sdp  # noqa: E402
from .report import expect, plots  # noqa: E402
from .tables import streams  # noqa: E402
from .tools import anonymize, dumps  # noqa: E402
from .report.health import Health, Thresholds, health  # noqa: E402  (the function: `webrtcpcap.health(cap)`)
from .tables import parquet  # noqa: E402  (a capture's tables as a Parquet dataset)
from .tools import batch, fleet  # noqa: E402  (many captures at once: webrtcpcap.batch.run)
from .tools.dataset import Dataset, dataset  # noqa: E402  (the function: `webrtcpcap.dataset(DIR)`)

# Where the modules of the flat package went when it got its floors (issue 17): `from webrtcpcap import rtcp` and
# `webrtcpcap.rtcp` keep working, imported on first use.  `import webrtcpcap.rtcp` does not: use the new path.
_MOVED = {
    "errors": "io.errors", "buffer": "io.buffer", "heap": "io.heap", "reader": "io.reader",
    "pcap_writer": "io.pcap_writer", "wireshark": "io.wireshark",
    "net": "net.layers", "tcp": "net.tcp", "demux": "net.demux", "payloads": "net.payloads",
    "stun": "protocols.stun", "quic": "protocols.quic", "dtls": "protocols.dtls", "tls13": "protocols.tls13",
    "rtp": "protocols.rtp", "rtp_extensions": "protocols.rtp_extensions", "rtcp": "protocols.rtcp",
    "srtp": "protocols.srtp", "keys": "protocols.keys", "codecs": "protocols.codecs",
    "tables": "tables.schema", "pipeline": "tables.pipeline", "media_tables": "tables.media_tables",
    "feedback_tables": "tables.feedback_tables", "dtls_tables": "tables.dtls_tables",
    "quic_tables": "tables.quic_tables", "decrypt": "tables.decrypt", "sessions": "tables.sessions",
    "summary": "tables.summary", "writer": "tables.writer",
    "bwe": "analysis.bwe",
    "quality": "analysis.quality",
}


def __getattr__(name: str):
    if name in _MOVED:
        return importlib.import_module(f"{__name__}.{_MOVED[name]}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["open", "iter_chunks", "Capture", "Chunk", "WebRTCPcapError", "CaptureError", "CaptureWarning",
           "DecodeError", "health", "Health", "Thresholds", "analysis", "expect", "dumps", "anonymize", "compare",
           "endpoints", "nack", "handshake", "ice", "pli", "rtt", "sdp", "streams", "plots", "batch", "fleet", "parquet", "dataset", "Dataset", "__version__"]

