"""Analyses: tables in, tables out, no bytes. ICE, DTLS handshakes, NACK, PLI, RTT, endpoint-stats comparison, and the
one analysis context per capture (and per call) that computes each once.
"""

# analysis.py was one module before the package had floors: its public names stay here
from .context import SESSION_COLUMN, Leg, on_leg, legs_of, is_media, media_streams, Analysis, of

__all__ = ["SESSION_COLUMN", "Leg", "on_leg", "legs_of", "is_media", "media_streams", "Analysis", "of"]
