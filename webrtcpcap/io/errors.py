"""The project's exceptions and warnings: one error type per failure domain, all under WebRTCPcapError."""

from __future__ import annotations


class WebRTCPcapError(Exception):
    """Base of every exception webrtcpcap raises on purpose."""


class CaptureError(WebRTCPcapError):
    """The file cannot be read as a capture at all (not a capture, unsupported format, unreadable header)."""


class DecodeError(WebRTCPcapError, ValueError):
    """A message could not be decoded. Messages read "<proto> <part> <problem>", e.g. "RTP header is truncated"."""


class CaptureWarning(UserWarning):
    """The capture was read only in part: the file is cut short or a record is corrupt. Frames before it are kept."""
