"""Keyframe detection from plaintext RTP payloads: VP8 (RFC 7741), VP9 (RFC 9628), H.264 (RFC 6184), H.265
(RFC 7798) and AV1 (the AOM "RTP Payload Format for AV1", v1.0.0).

Strategy: one function per codec reads the RTP payload format's descriptor/NAL header and answers True (this packet
starts a keyframe, or for H.264/H.265 carries an IDR/IRAP slice or a parameter set), False (it starts a frame or NAL
unit that is not one) or None (it continues a frame: nothing to judge).  `is_keyframe` dispatches on the codec name in
one visible table; `keyframes` applies it to the rows of `cap.rtp` (the only part that touches pandas, imported
there), through a vectorised twin of each detector over the first bytes of every payload (VECTOR_DETECTORS).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from ..io.errors import DecodeError
from ..net.payloads import read_heads, read_payloads


# -- VP8 (RFC 7741) ----------------------------------------------------------------------------------------------

VP8_X = 0x80  # RFC 7741 §4.2: extended control bits present
VP8_N = 0x20  # non-reference frame
VP8_S = 0x10  # start of VP8 partition
VP8_PID_MASK = 0x07  # partition index
VP8_I = 0x80  # (extension byte) picture ID present
VP8_L = 0x40  # TL0PICIDX present
VP8_T = 0x20  # TID present
VP8_K = 0x10  # KEYIDX present
VP8_M = 0x80  # (picture ID) 15-bit picture ID
VP8_P = 0x01  # RFC 7741 §4.3 / RFC 6386 §9.1: inverse key frame flag of the payload header
VP8_KEYFRAME_START_CODE = b"\x9d\x01\x2a"  # RFC 6386 §9.1: after the 3-byte frame tag of a key frame


def vp8_descriptor_length(payload: bytes) -> int:
    """The length of the VP8 payload descriptor at the start of `payload` (RFC 7741 §4.2: 1 to 6 bytes);
    DecodeError when the payload ends inside it."""
    if not payload:
        raise DecodeError("VP8 payload descriptor is truncated (0 bytes)")
    pos = 1
    if payload[0] & VP8_X:
        if len(payload) < 2:
            raise DecodeError("VP8 payload descriptor extension is truncated")
        ext = payload[1]
        pos = 2
        if ext & VP8_I:
            if len(payload) < pos + 1:
                raise DecodeError("VP8 payload descriptor picture ID is truncated")
            pos += 2 if payload[pos] & VP8_M else 1
        if ext & VP8_L:
            pos += 1
        if ext & (VP8_T | VP8_K):
            pos += 1
        if len(payload) < pos:
            raise DecodeError(f"VP8 payload descriptor is truncated ({len(payload)} of {pos} bytes)")
    return pos


def vp8_picture_id(payload: bytes) -> int | None:
    """The 7- or 15-bit picture ID of a VP8 payload descriptor (None when absent)."""
    vp8_descriptor_length(payload)
    if not payload[0] & VP8_X or not payload[1] & VP8_I:
        return None
    if payload[2] & VP8_M:
        return (payload[2] & 0x7F) << 8 | payload[3]
    return payload[2] & 0x7F


def vp8_keyframe(payload: bytes) -> bool | None:
    """Whether a VP8 RTP payload starts a key frame (RFC 7741 §4.3): on the first packet of a frame (S=1, PID=0)
    the payload header's P bit is 0 for a key frame; None on every other packet.  DecodeError when the descriptor
    or the first byte of the payload header is missing."""
    pos = vp8_descriptor_length(payload)
    if not (payload[0] & VP8_S and payload[0] & VP8_PID_MASK == 0):
        return None
    if len(payload) <= pos:
        raise DecodeError("VP8 payload header is truncated (0 bytes after the descriptor)")
    return not payload[pos] & VP8_P


# -- VP9 (RFC 9628) ----------------------------------------------------------------------------------------------

VP9_I = 0x80  # RFC 9628 §4.2: picture ID present
VP9_P = 0x40  # inter-picture predicted frame
VP9_L = 0x20  # layer indices present
VP9_F = 0x10  # flexible mode
VP9_B = 0x08  # start of a frame
VP9_E = 0x04  # end of a frame
VP9_V = 0x02  # scalability structure present
VP9_Z = 0x01  # not used for inter-layer prediction
VP9_MAX_P_DIFF = 3  # RFC 9628 §4.2: at most 3 reference indices


def vp9_descriptor_length(payload: bytes) -> int:
    """The length of the VP9 payload descriptor at the start of `payload` (RFC 9628 §4.2, with its scalability
    structure §4.2.1); DecodeError when the payload ends inside it."""
    def need(n: int, part: str) -> None:
        if len(payload) < n:
            raise DecodeError(f"VP9 payload descriptor {part}is truncated ({len(payload)} of {n} bytes)")

    need(1, "")
    b = payload[0]
    pos = 1
    if b & VP9_I:
        need(pos + 1, "picture ID ")
        pos += 2 if payload[pos] & 0x80 else 1
        need(pos, "picture ID ")
    if b & VP9_L:
        pos += 1 if b & VP9_F else 2  # TID/U/SID/D, plus TL0PICIDX in non-flexible mode
        need(pos, "layer indices ")
    if b & VP9_F and b & VP9_P:
        for _ in range(VP9_MAX_P_DIFF):
            need(pos + 1, "reference indices ")
            more = payload[pos] & 0x01
            pos += 1
            if not more:
                break
        else:
            if more:
                raise DecodeError("VP9 payload descriptor has more than 3 reference indices")
    if b & VP9_V:
        need(pos + 1, "scalability structure ")
        ss = payload[pos]
        pos += 1
        n_s = (ss >> 5) + 1
        if ss & 0x10:  # Y: a width and a height per spatial layer
            pos += 4 * n_s
            need(pos, "scalability structure resolutions ")
        if ss & 0x08:  # G: picture group description
            need(pos + 1, "scalability structure picture group ")
            n_g = payload[pos]
            pos += 1
            for _ in range(n_g):
                need(pos + 1, "scalability structure picture group ")
                r = (payload[pos] >> 2) & 0x03
                pos += 1 + r
                need(pos, "scalability structure picture group ")
    return pos


def vp9_keyframe(payload: bytes) -> bool | None:
    """Whether a VP9 RTP payload starts a key frame (RFC 9628 §4.2): at the start of a frame (B=1) of the base
    spatial layer (SID 0, or no layer indices), P=0 (not inter-picture predicted) is a key frame; None on packets
    that do not start a base-layer frame.  DecodeError when the descriptor is truncated."""
    vp9_descriptor_length(payload)
    b = payload[0]
    if not b & VP9_B:
        return None
    if b & VP9_L:
        sid = (payload[1 + (0 if not b & VP9_I else 2 if payload[1] & 0x80 else 1)] >> 1) & 0x07
        if sid:
            return None
    return not b & VP9_P


# -- H.264 (RFC 6184) --------------------------------------------------------------------------------------------


class NalType(IntEnum):
    """H.264 NAL unit types as RTP carries them (ITU-T H.264 Table 7-1; RFC 6184 §5.2 for 24-29)."""

    SLICE = 1
    IDR = 5  # IDR picture slice
    SEI = 6
    SPS = 7  # sequence parameter set
    PPS = 8  # picture parameter set
    AUD = 9
    STAP_A = 24  # RFC 6184 §5.7.1
    STAP_B = 25  # RFC 6184 §5.7.1
    MTAP16 = 26  # RFC 6184 §5.7.2
    MTAP24 = 27
    FU_A = 28  # RFC 6184 §5.8
    FU_B = 29


H264_KEYFRAME_NALS = frozenset({NalType.IDR, NalType.SPS, NalType.PPS})


def h264_nal_types(payload: bytes) -> tuple[list[int], bool | None]:
    """The NAL unit types an H.264 RTP payload carries (RFC 6184 §5.6–5.8): one for a single NAL unit packet,
    every aggregated one for STAP-A/STAP-B, the inner type for FU-A/FU-B; and whether the packet starts those NAL
    units (False for a fragment that is not the first, None for MTAP and reserved types, whose units are not
    listed).  DecodeError when the payload is truncated or an aggregated unit's size overruns it.  The F bit does
    not stop the reading: RTP uses it to mark units that may hold bit errors (see h264_forbidden_bit)."""
    if not payload:
        raise DecodeError("H.264 NAL header is truncated (0 bytes)")
    nal = payload[0] & 0x1F
    if 1 <= nal <= 23:
        return [nal], True
    if nal in (NalType.STAP_A, NalType.STAP_B):
        pos = 1 if nal == NalType.STAP_A else 3  # STAP-B: decoding order number
        if len(payload) < pos:
            raise DecodeError("H.264 STAP-B decoding order number is truncated")
        types = []
        while pos < len(payload):
            if pos + 2 > len(payload):
                raise DecodeError(f"H.264 STAP unit size is truncated (unit {len(types)})")
            size = int.from_bytes(payload[pos : pos + 2], "big")
            pos += 2
            if size == 0 or pos + size > len(payload):
                raise DecodeError(f"H.264 STAP unit {len(types)} size {size} does not fit the payload")
            types.append(payload[pos] & 0x1F)
            pos += size
        if not types:
            raise DecodeError("H.264 STAP has no NAL unit")
        return types, True
    if nal in (NalType.FU_A, NalType.FU_B):
        if len(payload) < 2:
            raise DecodeError("H.264 FU header is truncated")
        fu = payload[1]
        return [fu & 0x1F], bool(fu & 0x80)
    return [], None


H264_F = 0x80  # RFC 6184 §5.3: forbidden_zero_bit; in RTP a MANE sets it on a unit that may hold bit errors
H264_F_MESSAGE = "H.264 NAL unit has its forbidden zero bit (F) set: it may hold bit errors (RFC 6184 §5.3)"


def h264_forbidden_bit(payload: bytes) -> bool:
    """Whether the payload header (single NAL unit, STAP or FU indicator) or an aggregated unit's header has the
    F bit set (RFC 6184 §5.3: the unit may contain bit errors; H.264 itself calls it a syntax violation).  Units a
    truncated STAP does not hold are not looked at."""
    if not payload:
        return False
    if payload[0] & H264_F:
        return True
    nal = payload[0] & 0x1F
    if nal in (NalType.STAP_A, NalType.STAP_B):
        pos = 1 if nal == NalType.STAP_A else 3
        while pos + 2 < len(payload):
            size = int.from_bytes(payload[pos : pos + 2], "big")
            if size == 0:
                break
            if payload[pos + 2] & H264_F:
                return True
            pos += 2 + size
    return False


def h264_keyframe(payload: bytes) -> bool | None:
    """Whether an H.264 RTP payload carries keyframe data: an IDR slice, SPS or PPS (types 5, 7, 8) as a single NAL
    unit, inside a STAP-A/B, or as the first fragment (S=1) of an FU-A/B.  False for the start of other NAL units;
    None for FU fragments after the first, MTAPs and reserved types.  DecodeError when truncated."""
    types, start = h264_nal_types(payload)
    if not start:
        return None
    return any(t in H264_KEYFRAME_NALS for t in types)


# -- H.265 (RFC 7798) --------------------------------------------------------------------------------------------

H265_AP = 48  # RFC 7798 §4.4.2: aggregation packet
H265_FU = 49  # RFC 7798 §4.4.3: fragmentation unit
H265_PACI = 50  # RFC 7798 §4.4.4
# ITU-T H.265 Table 7-1: IRAP pictures (BLA 16-18, IDR 19-20, CRA 21, reserved IRAP 22-23) and the parameter sets
# (VPS 32, SPS 33, PPS 34), what a decoder needs to start.
H265_KEYFRAME_NALS = frozenset({16, 17, 18, 19, 20, 21, 22, 23, 32, 33, 34})


def h265_nal_types(payload: bytes) -> tuple[list[int], bool | None]:
    """The NAL unit types an H.265 RTP payload carries (RFC 7798 §4.4): one for a single NAL unit packet, every
    aggregated one for an AP (read without DONL fields: sprop-max-don-diff 0, as WebRTC sends), the inner type for an
    FU; and whether the packet starts them (False for an FU that is not the first, None for PACI and types 51-63).
    DecodeError when the payload is truncated or an aggregated unit's size overruns it."""
    if len(payload) < 2:
        raise DecodeError(f"H.265 payload header is truncated ({len(payload)} of 2 bytes)")
    nal = (payload[0] >> 1) & 0x3F
    if nal < H265_AP:
        return [nal], True
    if nal == H265_AP:
        pos, types = 2, []
        while pos < len(payload):
            if pos + 2 > len(payload):
                raise DecodeError(f"H.265 AP unit size is truncated (unit {len(types)})")
            size = int.from_bytes(payload[pos:pos + 2], "big")
            pos += 2
            if size < 2 or pos + size > len(payload):
                raise DecodeError(f"H.265 AP unit {len(types)} size {size} does not fit the payload")
            types.append((payload[pos] >> 1) & 0x3F)
            pos += size
        if not types:
            raise DecodeError("H.265 AP has no NAL unit")
        return types, True
    if nal == H265_FU:
        if len(payload) < 3:
            raise DecodeError("H.265 FU header is truncated")
        return [payload[2] & 0x3F], bool(payload[2] & 0x80)
    return [], None


def h265_keyframe(payload: bytes) -> bool | None:
    """Whether an H.265 RTP payload carries keyframe data: an IRAP slice (BLA, IDR, CRA) or a VPS/SPS/PPS, as a
    single NAL unit, inside an AP, or as the first fragment (S=1) of an FU.  False for the start of other NAL units;
    None for FU fragments after the first and PACI.  DecodeError when truncated."""
    types, start = h265_nal_types(payload)
    if not start:
        return None
    return any(t in H265_KEYFRAME_NALS for t in types)


# -- AV1 (AOM RTP payload format v1.0.0) -------------------------------------------------------------------------

AV1_Z = 0x80  # §4.4 aggregation header: the first OBU element continues an OBU of the previous packet
AV1_N = 0x08  # the packet is the first of a coded video sequence (it starts with a sequence header: a key frame)


def av1_keyframe(payload: bytes) -> bool | None:
    """Whether an AV1 RTP payload starts a key frame (§4.4): N=1 (the first packet of a coded video sequence, which
    begins with a key frame) is True; a packet whose first OBU element continues one of the previous packet (Z=1)
    is None; any other packet starts OBUs of an ordinary frame: False.  DecodeError on an empty payload."""
    if not payload:
        raise DecodeError("AV1 aggregation header is truncated (0 bytes)")
    if payload[0] & AV1_N:
        return True
    return None if payload[0] & AV1_Z else False


# -- Dispatch and table ------------------------------------------------------------------------------------------

# One visible dispatch: codec name (SDP rtpmap encoding name, upper case) -> detector.
KEYFRAME_DETECTORS: dict[str, Callable[[bytes], bool | None]] = {
    "VP8": vp8_keyframe,
    "VP9": vp9_keyframe,
    "H264": h264_keyframe,
    "H265": h265_keyframe,
    "AV1": av1_keyframe,
}


def red_primary(payload: bytes) -> tuple[int, bytes]:
    """The primary encoding of a RED payload (RFC 2198 §3): (its payload type, its bytes).  Each redundant block
    has a 4-byte header (F=1, block PT, timestamp offset, block length) and its data comes before the primary's;
    the last header is one byte (F=0, the primary's PT).  DecodeError when the headers or the blocks' lengths run
    past the payload."""
    pos, redundant = 0, 0
    while True:
        if pos >= len(payload):
            raise DecodeError(f"RED block headers are truncated ({len(payload)} bytes, no primary header)")
        if not payload[pos] & 0x80:
            break
        if pos + 4 > len(payload):
            raise DecodeError(f"RED block header is truncated ({len(payload) - pos} of 4 bytes)")
        redundant += ((payload[pos + 2] & 0x03) << 8) | payload[pos + 3]
        pos += 4
    start = pos + 1 + redundant
    if start > len(payload):
        raise DecodeError(f"RED redundant blocks run past the payload ({redundant} bytes declared, "
                          f"{len(payload) - pos - 1} there)")
    return payload[pos] & 0x7F, payload[start:]


def is_keyframe(codec_name: str, payload: bytes) -> bool | None:
    """The detector of `codec_name` ("VP8", "vp9", "H264"; case does not matter) applied to an RTP payload; a
    codec without a detector gives DecodeError."""
    detector = KEYFRAME_DETECTORS.get(codec_name.upper().replace(".", ""))
    if detector is None:
        raise DecodeError(f"codec {codec_name} has no keyframe detector")
    return detector(bytes(payload))


@dataclass(frozen=True, slots=True)
class KeyframeVerdicts:
    """What `judge_keyframes` found, per packet examined (`rows`: positions in the arrays it was given): the codec
    judged (`codec`, an index into `codec_names`; "red" for a RED packet whose primary block was not judged),
    `keyframe`, `missing` (nothing starts there: padding only, FEC, an error), `error` (an index into
    `error_names`, -1 when the payload was read cleanly)."""

    rows: np.ndarray
    codec: np.ndarray
    codec_names: list
    keyframe: np.ndarray
    missing: np.ndarray
    error: np.ndarray
    error_names: list


def judge_keyframes(pts, frames, ok, payload_of: Callable[[int], bytes], codecs: dict[int, str]) -> KeyframeVerdicts:
    """Keyframe detection over the RTP packets (`pts`, `frames`: their payload types and frame numbers; `ok`: the
    rows without an error) whose payload type is in `codecs` ({pt: codec name}, e.g. from the SDP's rtpmap; codecs
    without a detector are skipped; RED (RFC 2198) is judged by its primary block's codec, `red_primary`).
    `payload_of(frame)` gives the plaintext RTP payload of a frame, e.g. `cap.rtp_payload` (decrypted when the
    capture was opened with keys; its bulk reader gives the first bytes of every payload at once, see
    webrtcpcap.net.payloads.read_heads).  The table of it: webrtcpcap.tables.media_tables.keyframes."""
    names = {int(pt): str(c).upper() for pt, c in codecs.items() if str(c).upper() in KEYFRAME_DETECTORS}
    # RED (RFC 2198) wraps the video of some browsers (Firefox): its primary block's payload type names the codec
    red = {int(pt) for pt, c in codecs.items() if str(c).upper() == "RED"} if names else set()
    pts = np.asarray(pts)
    ok = np.asarray(ok, dtype=bool)
    rows = np.flatnonzero(np.isin(pts, list(names) + list(red)) & ok) if names else np.zeros(0, dtype=np.int64)
    frames = np.asarray(frames)[rows]
    row_pts = pts[rows]
    is_red = np.isin(row_pts, list(red))
    codec_names = sorted(set(names.values()) | ({"red"} if is_red.any() else set()))
    row_codec = np.zeros(len(rows), dtype=np.int32)
    for pt, name in names.items():
        row_codec[row_pts == pt] = codec_names.index(name)
    if is_red.any():
        row_codec[is_red] = codec_names.index("red")  # until its primary block names a judged codec
    value = np.zeros(len(rows), dtype=bool)
    missing = np.ones(len(rows), dtype=bool)
    errors = np.full(len(rows), None, dtype=object)
    plain = np.flatnonzero(~is_red)
    heads = read_heads(payload_of, frames[plain], HEAD_BYTES)
    for j in np.flatnonzero(heads.length < 0).tolist():  # payload_of: not RTP, not decrypted, ...
        e = heads.error[j]
        errors[plain[j]] = str(e) if isinstance(e, DecodeError) else f"payload unavailable: {e}"
    plain_pts = row_pts[plain]
    for name in sorted(set(names.values())):  # a loop over codecs: each detector reads all its packets' heads at once
        at = np.flatnonzero(np.isin(plain_pts, [pt for pt, n in names.items() if n == name]) & (heads.length > 0))
        key, starts, unsure, flagged = VECTOR_DETECTORS[name](heads.head[at], heads.length[at])
        mine = plain[at]
        value[mine], missing[mine] = key & starts, ~starts
        errors[mine[flagged & ~unsure]] = H264_F_MESSAGE
        for k in mine[unsure].tolist():  # malformed, or more than the head to read (STAP, VP9 scalability): few
            value[k], missing[k], errors[k] = _judge_one(name, bytes(payload_of(int(frames[k]))))
    red_rows = np.flatnonzero(is_red)
    # RED: the primary block lies after the redundant ones, so each payload is read whole and judged on its own
    for k, payload in zip(red_rows.tolist(), read_payloads(payload_of, frames[red_rows])):
        if isinstance(payload, ValueError):
            errors[k] = str(payload) if isinstance(payload, DecodeError) else f"payload unavailable: {payload}"
            continue
        if not payload:
            continue  # padding only (bandwidth probing): no frame data to judge
        try:
            pt, primary = red_primary(bytes(payload))
        except DecodeError as e:
            errors[k] = str(e)
            continue
        if pt not in names:
            continue  # FEC or another codec inside RED: no frame start to judge
        row_codec[k] = codec_names.index(names[pt])
        value[k], missing[k], errors[k] = _judge_one(names[pt], primary)
    missing |= (errors != None) & (errors != H264_F_MESSAGE)  # noqa: E711 - elementwise: in error, not judged
    flagged = np.flatnonzero(errors != None)  # noqa: E711 - elementwise
    error_names = sorted(set(errors[flagged].tolist()))
    error_codes = np.full(len(rows), -1, dtype=np.int32)
    error_codes[flagged] = [error_names.index(e) for e in errors[flagged].tolist()]
    return KeyframeVerdicts(rows, row_codec, codec_names, value, missing, error_codes, error_names)


def _judge_one(name: str, payload: bytes) -> tuple[bool, bool, str | None]:
    """(keyframe, not judged, error) of one payload by the codec's scalar detector."""
    if not payload:
        return False, True, None  # padding only (bandwidth probing): no frame data to judge
    try:
        result = KEYFRAME_DETECTORS[name](payload)
    except DecodeError as e:
        return False, True, str(e)
    flag = H264_F_MESSAGE if name == "H264" and h264_forbidden_bit(payload) else None
    return bool(result), result is None, flag


# -- the detectors over many payloads at once --------------------------------------------------------------------
# Each reads the first HEAD_BYTES bytes of every payload (a uint8 matrix, zero past each payload's end, and the
# lengths) and answers, per payload: keyframe, starts (the scalar detector would not answer None), unsure (it would
# raise, or needs more than the head: the scalar detector decides those) and, for H.264, the F bit.  Tests hold them
# equal to the scalar detectors on every prefix of real and crafted payloads.

HEAD_BYTES = 16  # VP8's descriptor is at most 6 bytes and its header byte 1 more; VP9's without the SS 8; H.264's
# FU 2, H.265's 3, AV1's aggregation header 1


def _at(head: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """head[i, pos[i]] for every row (0 where pos is past the head)."""
    inside = pos < head.shape[1]
    return np.where(inside, head[np.arange(len(head)), np.where(inside, pos, 0)], 0)


def vp8_keyframes(head: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, ...]:
    """vp8_keyframe over many payloads (see above)."""
    b0, ext = head[:, 0], head[:, 1]
    x = (b0 & VP8_X) != 0
    pos = np.where(x, 2, 1)
    pos = pos + np.where(x & ((ext & VP8_I) != 0), np.where(head[:, 2] & VP8_M, 2, 1), 0)
    pos = pos + (x & ((ext & VP8_L) != 0)) + (x & ((ext & (VP8_T | VP8_K)) != 0))
    starts = ((b0 & VP8_S) != 0) & ((b0 & VP8_PID_MASK) == 0)
    unsure = (length < pos) | (starts & (length <= pos))
    key = (_at(head, pos) & VP8_P) == 0
    return key, starts, unsure, np.zeros(len(head), dtype=bool)


def vp9_keyframes(head: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, ...]:
    """vp9_keyframe over many payloads (see above); a payload with a scalability structure (V) is unsure."""
    b = head[:, 0]
    has_i, has_l = (b & VP9_I) != 0, (b & VP9_L) != 0
    pid = np.where(has_i, np.where(head[:, 1] & 0x80, 2, 1), 0)
    pos = 1 + pid + np.where(has_l, np.where(b & VP9_F, 1, 2), 0)
    more = ((b & VP9_F) != 0) & ((b & VP9_P) != 0)  # flexible mode, predicted: up to 3 reference indices
    for _ in range(VP9_MAX_P_DIFF):
        byte = _at(head, pos)
        pos = pos + more
        more = more & ((byte & 0x01) != 0)
    unsure = more | ((b & VP9_V) != 0) | (length < pos)
    sid = (_at(head, 1 + pid) >> 1) & 0x07
    starts = ((b & VP9_B) != 0) & ~(has_l & (sid != 0))
    return (b & VP9_P) == 0, starts, unsure, np.zeros(len(head), dtype=bool)


def h264_keyframes(head: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, ...]:
    """h264_keyframe and h264_forbidden_bit over many payloads (see above); STAP-A/B payloads are unsure (their
    aggregated units lie past the head)."""
    nal = head[:, 0] & 0x1F
    single = (nal >= 1) & (nal <= 23)
    fu = (nal == NalType.FU_A) | (nal == NalType.FU_B)
    unsure = (nal == NalType.STAP_A) | (nal == NalType.STAP_B) | (fu & (length < 2))
    starts = single | (fu & ((head[:, 1] & 0x80) != 0))
    key = np.isin(np.where(single, nal, head[:, 1] & 0x1F), list(H264_KEYFRAME_NALS))
    return key, starts, unsure, (head[:, 0] & H264_F) != 0


def h265_keyframes(head: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, ...]:
    """h265_keyframe over many payloads (see above); aggregation packets are unsure (their units lie past the
    head)."""
    nal = (head[:, 0] >> 1) & 0x3F
    single, fu = nal < H265_AP, nal == H265_FU
    unsure = (length < 2) | (nal == H265_AP) | (fu & (length < 3))
    starts = single | (fu & ((head[:, 2] & 0x80) != 0))
    key = np.isin(np.where(single, nal, head[:, 2] & 0x3F), list(H265_KEYFRAME_NALS))
    return key, starts, unsure, np.zeros(len(head), dtype=bool)


def av1_keyframes(head: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, ...]:
    """av1_keyframe over many payloads (see above)."""
    n = (head[:, 0] & AV1_N) != 0
    return n, n | ((head[:, 0] & AV1_Z) == 0), length < 1, np.zeros(len(head), dtype=bool)


VECTOR_DETECTORS = {"VP8": vp8_keyframes, "VP9": vp9_keyframes, "H264": h264_keyframes, "H265": h265_keyframes,
                    "AV1": av1_keyframes}


# -- codec from the payload's shape (no SDP) ---------------------------------------------------------------------

H264_NAL_TYPES_SEEN = {1, 5, 6, 7, 8, 9, 24, 28}  # slices, SEI, SPS, PPS, AUD, STAP-A, FU-A: what WebRTC sends


def guess_video_codec(payloads: list[bytes]) -> str | None:
    """The video codec ("VP8", "H264" or "VP9") whose RTP payload format fits every payload of one stream (plaintext
    payloads, padding removed; give a few dozen, keyframes among them), or None when none fits for sure.

    Without an SDP the payload type says nothing, but the first bytes do: a VP8 key frame carries the start code
    9d 01 2a after its frame tag (RFC 6386 §9.1) and its descriptor has zero reserved bits (RFC 7741 §4.2); H.264
    payloads start with a NAL unit header whose forbidden bit is 0 and whose type is one WebRTC sends (RFC 6184
    §5.3), with a parameter set or IDR slice somewhere; VP9 is what is left when its descriptor parses everywhere
    and a keyframe shows.  A codec is chosen only when every payload decodes under it and it finds a keyframe."""
    payloads = [bytes(p) for p in payloads if p]
    if not payloads:
        return None

    def fits(detector, check) -> bool:
        found = False
        for p in payloads:
            if not check(p):
                return False
            try:
                k = detector(p)
            except DecodeError:
                return False
            found = found or bool(k)
        return found

    def vp8_shape(p: bytes) -> bool:
        if p[0] & 0x48:  # reserved bits of the VP8 descriptor
            return False
        try:
            pos = vp8_descriptor_length(p)
        except DecodeError:
            return False
        # the first packet of a key frame: S set, partition 0, key frame flag clear, then the start code
        if p[0] & VP8_S and not p[0] & VP8_PID_MASK and len(p) >= pos + 6 and not p[pos] & VP8_P:
            return p[pos + 3:pos + 6] == VP8_KEYFRAME_START_CODE
        return True

    def h264_shape(p: bytes) -> bool:
        return not p[0] & 0x80 and (p[0] & 0x1F) in H264_NAL_TYPES_SEEN

    for name, detector, check in (("VP8", vp8_keyframe, vp8_shape), ("H264", h264_keyframe, h264_shape),
                                  ("VP9", vp9_keyframe, lambda p: True)):
        if fits(detector, check):
            return name
    return None
