"""webrtcpcap: read WebRTC packet captures into typed pandas tables.

    cap = webrtcpcap.open("call.pcapng")
    cap.packets, cap.rtp, cap.rtcp, cap.flows, cap.stun, cap.streams
    webrtcpcap.streams.gaps(cap.rtp), webrtcpcap.ice.candidate_pairs(cap.stun, cap.packets)
"""

__version__ = "0.1.0"

from .capture import Capture, Chunk, iter_chunks, open  # noqa: E402,A004
from .errors import CaptureError, CaptureWarning, DecodeError, WebRTCPcapError  # noqa: E402
from . import ice, sdp, streams  # noqa: E402  analyses (ice, streams) and the SDP parser, as modules

__all__ = ["open", "iter_chunks", "Capture", "Chunk", "WebRTCPcapError", "CaptureError", "CaptureWarning",
           "DecodeError", "ice", "sdp", "streams", "__version__"]
