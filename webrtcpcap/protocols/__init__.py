"""Sans-IO decoders, one per protocol (STUN/TURN, DTLS/TLS 1.3, QUIC Initials, RTP and its header extensions, RTCP,
SRTP, key logs, SDP, codec payload headers): bytes in, frozen records out, one DecodeError; no pandas.
"""
