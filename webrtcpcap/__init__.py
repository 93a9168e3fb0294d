"""webrtcpcap: read WebRTC packet captures into typed pandas tables.

    cap = webrtcpcap.open("call.pcapng")
    cap.packets, cap.rtp, cap.rtcp, cap.flows, cap.stun, cap.dtls_records, cap.streams
    print(webrtcpcap.health(cap))   (a verdict per stage, with the evidence frames)
    webrtcpcap.open("call.pcapng", keylog="keys.log", sdp=["offer.sdp", "answer.sdp"])   (SRTP/SRTCP decrypted)
    webrtcpcap.streams.gaps(cap.rtp), webrtcpcap.ice.candidate_pairs(cap.stun, cap.packets)
    webrtcpcap.plots.ice_ladder(webrtcpcap.ice.transactions(cap.stun))   (matplotlib, imported on the first plot)
"""

__version__ = "0.1.0"

from .capture import Capture, Chunk, iter_chunks, open  # noqa: E402,A004
from .errors import CaptureError, CaptureWarning, DecodeError, WebRTCPcapError  # noqa: E402
from . import (analysis, anonymize, compare, dumps, endpoints, expect, handshake, ice, nack, pli, plots,  # noqa: E402
               rtt, sdp, streams)
from .health import Health, Thresholds, health  # noqa: E402  (the function: `webrtcpcap.health(cap)`)
from . import batch, fleet, parquet  # noqa: E402  (many captures: webrtcpcap.batch.run, a Parquet dataset)
from .dataset import Dataset, dataset  # noqa: E402  (the function: `webrtcpcap.dataset(DIR)`)

__all__ = ["open", "iter_chunks", "Capture", "Chunk", "WebRTCPcapError", "CaptureError", "CaptureWarning",
           "DecodeError", "health", "Health", "Thresholds", "analysis", "expect", "dumps", "anonymize", "compare",
           "endpoints", "nack", "handshake", "ice", "pli", "rtt", "sdp", "streams", "plots", "batch", "fleet", "parquet", "dataset", "Dataset", "__version__"]

