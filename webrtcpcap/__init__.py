"""webrtcpcap: read WebRTC packet captures into typed pandas tables.

    cap = webrtcpcap.open("call.pcapng")
    cap.packets, cap.rtp, cap.rtcp, cap.flows, cap.stun, cap.streams
    webrtcpcap.streams.gaps(cap.rtp)
"""

__version__ = "0.1.0"

from .capture import Capture, Chunk, iter_chunks, open  # noqa: E402,A004
from .errors import CaptureError, CaptureWarning, DecodeError, WebRTCPcapError  # noqa: E402
from . import streams  # noqa: E402  (analyses: streams.streams(rtp), streams.gaps(rtp))

__all__ = ["open", "iter_chunks", "Capture", "Chunk", "WebRTCPcapError", "CaptureError", "CaptureWarning",
           "DecodeError", "streams", "__version__"]
