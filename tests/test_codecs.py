"""Keyframe detection from RTP payloads (VP8 RFC 7741, VP9 RFC 9628, H.264 RFC 6184): crafted payloads, every
error message, truncation, random bytes, and the VP8 keyframes of the lab's plaintext dumps against tshark."""

from __future__ import annotations

import struct
import subprocess

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webrtcpcap import DecodeError
from webrtcpcap.protocols import codecs
from webrtcpcap.tables import media_tables, schema as tables

from conftest import CAPTURES, tshark_available

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# A VP8 key frame's payload header (RFC 6386 §9.1): frame tag with P=0 (0x50 0x01 0x00: size0 2, show_frame 1,
# key frame), start code 9d 01 2a, 320x240.
VP8_KEY_HEADER = bytes.fromhex("500100" "9d012a" "4001" "f000")
VP8_DELTA_HEADER = bytes.fromhex("510100") + b"\x11" * 7  # P=1: interframe

# X=1 S=1 PID=0; I L T K all set; 15-bit picture ID 0x1234; TL0PICIDX 5; TID 1, Y 0, KEYIDX 0.
VP8_EXTENDED = bytes([0x90, 0xF0, 0x80 | 0x12, 0x34, 0x05, 0x40])


@pytest.mark.parametrize("payload, expected", [
    (bytes([0x10]) + VP8_KEY_HEADER, True),  # S=1, PID=0, P=0
    (bytes([0x10]) + VP8_DELTA_HEADER, False),  # S=1, PID=0, P=1
    (bytes([0x30]) + VP8_KEY_HEADER, True),  # N=1 does not matter
    (bytes([0x00]) + VP8_KEY_HEADER, None),  # S=0: a continuation
    (bytes([0x11]) + VP8_KEY_HEADER, None),  # S=1 but partition 1
    (VP8_EXTENDED + VP8_KEY_HEADER, True),
    (bytes([0x90, 0x80, 0x25]) + VP8_DELTA_HEADER, False),  # 7-bit picture ID
    (bytes([0x90, 0x00]) + VP8_KEY_HEADER, True),  # X=1 with no optional field
    (bytes([0x90, 0x10, 0x1F]) + VP8_KEY_HEADER, True),  # K only: the TID/Y/KEYIDX byte
    (bytes([0x80, 0x40, 0x07]) + VP8_KEY_HEADER, None),  # L only, S=0
])
def test_vp8_keyframe_of_crafted_payloads(payload, expected):
    assert codecs.vp8_keyframe(payload) is expected


def test_vp8_descriptor_fields():
    assert codecs.vp8_descriptor_length(VP8_EXTENDED) == 6
    assert codecs.vp8_picture_id(VP8_EXTENDED + VP8_KEY_HEADER) == 0x1234
    assert codecs.vp8_picture_id(bytes([0x90, 0x80, 0x25, 0])) == 0x25
    assert codecs.vp8_picture_id(bytes([0x10, 0])) is None
    assert codecs.vp8_descriptor_length(bytes([0x90, 0x60, 0x01, 0x02])) == 4  # L and T


@pytest.mark.parametrize("payload, message", [
    (b"", "VP8 payload descriptor is truncated \\(0 bytes\\)"),
    (b"\x90", "VP8 payload descriptor extension is truncated"),
    (b"\x90\x80", "VP8 payload descriptor picture ID is truncated"),
    (b"\x90\x80\x80", "VP8 payload descriptor is truncated \\(3 of 4 bytes\\)"),
    (b"\x10", "VP8 payload header is truncated"),
])
def test_vp8_error_messages(payload, message):
    with pytest.raises(DecodeError, match=message):
        codecs.vp8_keyframe(payload)


@pytest.mark.parametrize("payload, expected", [
    (bytes([0x08, 0x82]), True),  # B=1, P=0
    (bytes([0x48, 0x86]), False),  # B=1, P=1
    (bytes([0x00, 0x86]), None),  # B=0
    (bytes([0xA8, 0x81, 0x23, 0x00, 0x07, 0x82]), True),  # I (15 bit), L non-flexible, SID 0, TL0PICIDX
    (bytes([0xA8, 0x05, 0x02, 0x07, 0x82]), None),  # SID 1: not the base spatial layer
    (bytes([0xD8, 0x05, 0x03, 0x04, 0x86]), False),  # flexible, P with two reference indices
    (bytes([0xB8, 0x05, 0x00, 0x82]), True),  # flexible with L: one layer byte, no TL0PICIDX
    # V: SS with N_S = 1 layer, Y (320x240), G with one picture (TID 0, U 0, R 1, one P_DIFF).
    (bytes([0x0A, 0x18, 0x01, 0x40, 0x00, 0xF0, 0x01, 0x04, 0x01, 0x82]), True),
])
def test_vp9_keyframe_of_crafted_payloads(payload, expected):
    assert codecs.vp9_keyframe(payload) is expected


def test_vp9_descriptor_lengths():
    assert codecs.vp9_descriptor_length(bytes([0xA8, 0x81, 0x23, 0x00, 0x07])) == 5
    assert codecs.vp9_descriptor_length(bytes([0xD8, 0x05, 0x03, 0x04])) == 4
    assert codecs.vp9_descriptor_length(bytes([0x0A, 0x18, 0x01, 0x40, 0x00, 0xF0, 0x01, 0x04, 0x01])) == 9


@pytest.mark.parametrize("payload, message", [
    (b"", "VP9 payload descriptor is truncated \\(0 of 1 bytes\\)"),
    (b"\x88", "VP9 payload descriptor picture ID is truncated"),
    (b"\x88\x80", "VP9 payload descriptor picture ID is truncated \\(2 of 3 bytes\\)"),
    (b"\x28\x00", "VP9 payload descriptor layer indices is truncated"),
    (b"\x58\x01", "VP9 payload descriptor reference indices is truncated"),
    (b"\x58\x01\x01\x01\x01", "VP9 payload descriptor has more than 3 reference indices"),
    (b"\x0a", "VP9 payload descriptor scalability structure is truncated"),
    (b"\x0a\x10\x00", "VP9 payload descriptor scalability structure resolutions is truncated"),
    (b"\x0a\x08", "VP9 payload descriptor scalability structure picture group is truncated"),
    (b"\x0a\x08\x01\x08", "VP9 payload descriptor scalability structure picture group is truncated"),
])
def test_vp9_error_messages(payload, message):
    with pytest.raises(DecodeError, match=message):
        codecs.vp9_keyframe(payload)


def _stap(*nals: bytes, nal_header: int = 0x78) -> bytes:
    return bytes([nal_header]) + b"".join(len(n).to_bytes(2, "big") + n for n in nals)


SPS = bytes([0x67, 0x42, 0xC0, 0x1E])
PPS = bytes([0x68, 0xCE, 0x3C, 0x80])


@pytest.mark.parametrize("payload, types, start, expected", [
    (bytes([0x65, 0x88, 0x84]), [5], True, True),  # IDR slice
    (SPS, [7], True, True),
    (PPS, [8], True, True),
    (bytes([0x41, 0x9A]), [1], True, False),  # non-IDR slice
    (bytes([0x06, 0x05]), [6], True, False),  # SEI
    (_stap(SPS, PPS), [7, 8], True, True),  # STAP-A
    (_stap(bytes([0x06, 1]), bytes([0x41, 2])), [6, 1], True, False),
    (bytes([0x79, 0x00, 0x01]) + _stap(SPS)[1:], [7], True, True),  # STAP-B with a DON
    (bytes([0x7C, 0x85, 0x88]), [5], True, True),  # FU-A, S=1, IDR
    (bytes([0x7C, 0x05, 0x88]), [5], False, None),  # FU-A, S=0
    (bytes([0x7C, 0x45, 0x88]), [5], False, None),  # FU-A, E=1
    (bytes([0x5C, 0x81, 0x9A]), [1], True, False),  # FU-A, S=1, non-IDR
    (bytes([0x7D, 0x85, 0x00, 0x01]), [5], True, True),  # FU-B
    (bytes([0x1A, 0x00]), [], None, None),  # MTAP16: not listed
    (bytes([0x1E]), [], None, None),  # reserved 30
])
def test_h264_nal_types_and_keyframe(payload, types, start, expected):
    assert codecs.h264_nal_types(payload) == (types, start)
    assert codecs.h264_keyframe(payload) is expected


@pytest.mark.parametrize("payload, message", [
    (b"", "H.264 NAL header is truncated"),
    (b"\x78", "H.264 STAP has no NAL unit"),
    (b"\x78\x00", "H.264 STAP unit size is truncated \\(unit 0\\)"),
    (b"\x78\x00\x05\x67", "H.264 STAP unit 0 size 5 does not fit the payload"),
    (b"\x78\x00\x00", "H.264 STAP unit 0 size 0 does not fit the payload"),
    (b"\x79\x00", "H.264 STAP-B decoding order number is truncated"),
    (b"\x7c", "H.264 FU header is truncated"),
])
def test_h264_error_messages(payload, message):
    with pytest.raises(DecodeError, match=message):
        codecs.h264_keyframe(payload)


VALID = [("VP8", VP8_EXTENDED + VP8_KEY_HEADER),
         ("VP9", bytes([0x0A, 0x18, 0x01, 0x40, 0x00, 0xF0, 0x01, 0x04, 0x01, 0x82])),
         ("VP9", bytes([0xD8, 0x81, 0x23, 0x03, 0x04, 0x86])),
         ("H264", _stap(SPS, PPS)), ("H264", bytes([0x7D, 0x85, 0x00, 0x01]))]


@pytest.mark.parametrize("codec, payload", VALID)
def test_every_prefix_gives_an_answer_or_decode_error(codec, payload):
    full = codecs.is_keyframe(codec, payload)
    for n in range(len(payload)):
        try:
            got = codecs.is_keyframe(codec, payload[:n])
        except DecodeError as e:
            assert str(e).split()[0] in ("VP8", "VP9", "H.264")
        else:
            assert got in (True, False, None)
    assert full in (True, False, None)


def test_is_keyframe_dispatches_on_the_codec_name():
    assert codecs.is_keyframe("vp8", bytes([0x10]) + VP8_KEY_HEADER) is True
    assert codecs.is_keyframe("H264", bytes([0x41, 0])) is False
    assert codecs.is_keyframe("VP9", bytes([0x08, 0])) is True
    with pytest.raises(DecodeError, match="codec opus has no keyframe detector"):
        codecs.is_keyframe("opus", b"\x00")


@SETTINGS
@given(st.sampled_from(["VP8", "VP9", "H264"]), st.binary(max_size=40))
def test_keyframe_detectors_of_arbitrary_bytes_give_an_answer_or_decode_error(codec, data):
    try:
        got = codecs.is_keyframe(codec, data)
    except DecodeError:
        pass
    else:
        assert got in (True, False, None)


def test_keyframes_table_from_crafted_rows():
    payloads = {1: bytes([0x10]) + VP8_KEY_HEADER, 2: bytes([0x00, 1, 2]), 3: bytes([0x10]) + VP8_DELTA_HEADER,
                4: b"", 5: b"\x90", 6: bytes([0x65, 0x88]), 7: b"opus", 8: b"x"}

    def payload_of(frame: int) -> bytes:
        if frame == 8:
            raise ValueError("frame 8 is not RTP: broken")
        return payloads[frame]

    rtp = pd.DataFrame({
        "frame": np.arange(1, 9, dtype=np.uint32), "t": np.arange(8) * 0.1,
        "ssrc": np.array([5] * 5 + [6, 7, 5], dtype=np.uint32), "pt": np.array([96] * 5 + [102, 111, 96], np.uint8),
        "seq": np.arange(100, 108, dtype=np.uint16), "ts": np.array([9] * 8, dtype=np.uint32),
        "error": pd.Categorical([None] * 8)})
    kf = media_tables.keyframes(rtp, payload_of, {96: "VP8", 102: "H264", 111: "opus", 97: "rtx"})
    assert tables.check_schema(kf, media_tables.KEYFRAMES_SCHEMA) == []
    assert kf.frame.tolist() == [1, 2, 3, 4, 5, 6, 8]  # opus has no detector: not examined
    assert kf.keyframe.tolist() == [True, pd.NA, False, pd.NA, pd.NA, True, pd.NA]
    assert kf.codec.astype(str).tolist() == ["VP8"] * 5 + ["H264", "VP8"]
    assert kf.error.astype(object).where(kf.error.notna(), None).tolist() == [None] * 4 + [
        "VP8 payload descriptor extension is truncated", None, "payload unavailable: frame 8 is not RTP: broken"]
    assert kf.seq.tolist() == [100, 101, 102, 103, 104, 105, 107] and kf.ssrc.tolist()[5] == 6


def test_keyframes_inside_red_are_read_from_the_primary_block():
    # Firefox sends its video as VP8 inside RED (RFC 2198): SDP red 122, VP8 120, ulpfec 123.  The primary block's
    # payload type names the codec; a redundant block (4-byte header with its length) comes before it.
    def red(blocks: list[tuple[int, bytes]], primary_pt: int, primary: bytes) -> bytes:
        heads = b"".join(struct.pack(">BBH", 0x80 | pt, 0, len(data)) for pt, data in blocks)  # ts offset 0
        return heads + bytes([primary_pt]) + b"".join(data for _, data in blocks) + primary

    key, delta = bytes([0x10]) + VP8_KEY_HEADER, bytes([0x10]) + VP8_DELTA_HEADER
    payloads = {1: red([], 120, key), 2: red([(120, delta)], 120, delta), 3: red([(120, delta)], 120, key),
                4: red([], 123, b"\x00" * 12), 5: bytes([0x80 | 120, 0, 0]), 6: red([(120, b"ab")], 120, b"")[:-1]}
    rtp = pd.DataFrame({
        "frame": np.arange(1, 7, dtype=np.uint32), "t": np.arange(6) * 0.1, "ssrc": np.full(6, 5, np.uint32),
        "pt": np.full(6, 122, np.uint8), "seq": np.arange(100, 106, dtype=np.uint16), "ts": np.full(6, 9, np.uint32),
        "error": pd.Categorical([None] * 6)})
    kf = media_tables.keyframes(rtp, payloads.__getitem__, {120: "VP8", 122: "red", 123: "ulpfec"})
    assert tables.check_schema(kf, media_tables.KEYFRAMES_SCHEMA) == []
    assert kf.frame.tolist() == [1, 2, 3, 4, 5, 6]
    assert kf.keyframe.tolist() == [True, False, True, pd.NA, pd.NA, pd.NA]  # FEC inside RED starts no frame
    assert kf.codec.astype(str).tolist() == ["VP8", "VP8", "VP8", "red", "red", "red"]
    errors = kf.error.astype(object).where(kf.error.notna(), None).tolist()
    assert errors[:4] == [None] * 4 and "RED" in errors[4] and "RED" in errors[5]


# --- the lab's plaintext VP8 against tshark's VP8 dissector -------------------------------------------------------

DUMPS = [CAPTURES / "janus_echotest_loss5.janus.pcap", CAPTURES / "janus_mtu576.janus.pcap",
         CAPTURES / "chromium_aiortc_loss5.rtpdump.pcap"]


def tshark_vp8(path, ports) -> dict[int, int]:
    """{frame: VP8 frame type (0 = key frame)} for every packet tshark finds a VP8 payload header in."""
    cmd = ["tshark", "-n", "-r", str(path), "-o", "vp8.dynamic.payload.type:96", "-Y", "vp8.hdr.frametype",
           "-T", "fields", "-e", "frame.number", "-e", "vp8.hdr.frametype"]
    for port in sorted(ports):
        cmd += ["-d", f"udp.port=={port},rtp"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return {int(f): int(v) for f, v in (line.split("\t") for line in out.splitlines())}


@pytest.mark.skipif(not tshark_available(), reason="tshark is not installed")
@pytest.mark.parametrize("path", DUMPS, ids=lambda p: p.name)
def test_vp8_keyframes_agree_with_tshark_and_the_start_code(path):
    import webrtcpcap

    cap = webrtcpcap.open(path)
    rtp = cap.rtp
    kf = media_tables.keyframes(rtp, cap.rtp_payload, {96: "VP8"})
    assert kf.error.isna().all()
    ports = set(rtp.sport.astype(int)) | set(rtp.dport.astype(int))
    theirs = tshark_vp8(path, ports)
    judged = kf[kf.keyframe.notna()]
    assert dict(zip(judged.frame.astype(int), (~judged.keyframe.astype(bool)).astype(int))) == theirs
    # Decoder-independent: every keyframe's payload header has the start code; no delta frame's has it.
    for frame, key in zip(judged.frame.tolist(), judged.keyframe.tolist()):
        payload = cap.rtp_payload(frame)
        at = codecs.vp8_descriptor_length(payload)
        assert (payload[at + 3 : at + 6] == codecs.VP8_KEYFRAME_START_CODE) == key, frame
    # The first frame of each video stream is a keyframe.
    first = judged.sort_values("frame").groupby("ssrc").keyframe.first()
    assert first.all() and len(first) >= 1


@pytest.mark.parametrize("path", [DUMPS[0], DUMPS[2]], ids=lambda p: p.name)
def test_a_pli_is_followed_by_a_keyframe_of_its_stream(path):
    import webrtcpcap
    from webrtcpcap.tables.feedback_tables import feedback_tables

    cap = webrtcpcap.open(path)
    kf = media_tables.keyframes(cap.rtp, cap.rtp_payload, {96: "VP8"})
    keys, payloads, _ = cap.rtcp_payloads()
    plis = feedback_tables(keys, payloads)["keyframe_requests"]
    assert len(plis) >= 1 and set(plis.kind.astype(str)) == {"pli"}
    first = plis.sort_values("t").groupby("media_ssrc").t.first()
    for ssrc, t in first.items():
        later = kf[(kf.ssrc == ssrc) & (kf.keyframe == True) & (kf.t > t)].t  # noqa: E712
        assert len(later) and later.min() - t < 0.5, (ssrc, t)


# --- H.264 F bit (RFC 6184 §5.3): a flag, not a decoding failure (issue 15) ---------------------------------------
@pytest.mark.parametrize("payload, types, start, damaged", [
    (b"\xe5", [5], True, True),  # IDR slice marked as possibly holding bit errors
    (bytes([0x78, 0x00, 0x01, 0xE7, 0x00, 0x01, 0x68]), [7, 8], True, True),  # an aggregated unit has F set
    (bytes([0xFC, 0x85, 0x88]), [5], True, True),  # FU indicator with F
    (bytes([0x65, 0x88]), [5], True, False),
])
def test_h264_forbidden_bit_is_read_and_the_nal_types_still_are(payload, types, start, damaged):
    assert codecs.h264_nal_types(payload) == (types, start)
    assert codecs.h264_forbidden_bit(payload) is damaged
    assert codecs.h264_keyframe(payload) is True


def test_keyframes_table_flags_an_h264_payload_with_the_f_bit_and_still_judges_it():
    rtp = pd.DataFrame({"frame": np.array([1, 2], np.uint32), "t": [0.0, 0.1], "ssrc": np.array([6, 6], np.uint32),
                        "pt": np.array([102, 102], np.uint8), "seq": np.array([1, 2], np.uint16),
                        "ts": np.array([9, 9], np.uint32), "error": pd.Categorical([None, None])})
    payloads = {1: b"\xe5\x88", 2: bytes([0x41, 0x9A])}
    kf = media_tables.keyframes(rtp, payloads.__getitem__, {102: "H264"})
    assert kf.keyframe.tolist() == [True, False]
    assert kf.error.astype(object).where(kf.error.notna(), None).tolist() == [
        "H.264 NAL unit has its forbidden zero bit (F) set: it may hold bit errors (RFC 6184 §5.3)", None]


# --- H.265 (RFC 7798) and AV1 (AOM RTP payload format) -----------------------------------------------------------

# An AP (type 48) holding a VPS (32) and an SPS (33), 3-byte units each (2-byte NAL header and one byte).
H265_AP_VPS_SPS = bytes([0x60, 0x01, 0x00, 0x03, 0x40, 0x01, 0x0C, 0x00, 0x03, 0x42, 0x01, 0x01])


@pytest.mark.parametrize("payload, types, start, key", [
    (bytes([0x26, 0x01, 0xAF]), [19], True, True),  # IDR_W_RADL
    (bytes([0x2A, 0x01, 0xAF]), [21], True, True),  # CRA
    (bytes([0x02, 0x01, 0xD0]), [1], True, False),  # TRAIL_R
    (bytes([0x44, 0x01, 0xC1]), [34], True, True),  # PPS
    (H265_AP_VPS_SPS, [32, 33], True, True),
    (bytes([0x62, 0x01, 0x93, 0xAF]), [19], True, True),  # FU, S=1, IDR_W_RADL
    (bytes([0x62, 0x01, 0x13, 0xAF]), [19], False, None),  # FU, S=0
    (bytes([0x62, 0x01, 0x81, 0xAF]), [1], True, False),  # FU, S=1, TRAIL_R
    (bytes([0x64, 0x01, 0x00]), [], None, None),  # PACI
])
def test_h265_nal_types_and_keyframes(payload, types, start, key):
    assert codecs.h265_nal_types(payload) == (types, start)
    assert codecs.h265_keyframe(payload) is key
    assert codecs.is_keyframe("H.265", payload) is key


@pytest.mark.parametrize("payload, message", [
    (b"\x26", "H.265 payload header is truncated (1 of 2 bytes)"),
    (bytes([0x62, 0x01]), "H.265 FU header is truncated"),
    (bytes([0x60, 0x01, 0x00]), "H.265 AP unit size is truncated (unit 0)"),
    (bytes([0x60, 0x01, 0x00, 0x09, 0x40]), "H.265 AP unit 0 size 9 does not fit the payload"),
    (bytes([0x60, 0x01]), "H.265 AP has no NAL unit"),
    (b"", "AV1 aggregation header is truncated (0 bytes)"),
])
def test_h265_and_av1_errors(payload, message):
    name = "AV1" if message.startswith("AV1") else "H265"
    with pytest.raises(DecodeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        codecs.is_keyframe(name, payload)


@pytest.mark.parametrize("first, key", [(0x18, True), (0x10, False), (0x90, None), (0x98, True), (0x28, True)])
def test_av1_keyframe_from_the_aggregation_header(first, key):
    """N=1 starts a coded video sequence (a key frame); Z=1 continues an OBU; anything else starts an ordinary one."""
    assert codecs.av1_keyframe(bytes([first, 0x05, 0x12])) is key


# --- the detectors over many payloads at once equal the scalar detectors (issue 17: vectorised payload API) ---------


def _scalar_table(name: str, payloads: list[bytes]) -> list[tuple]:
    """(keyframe or None, error or None) per payload, as the per-packet loop of keyframes judged them."""
    out = []
    for p in payloads:
        if not p:
            out.append((None, None))
            continue
        try:
            result = codecs.KEYFRAME_DETECTORS[name](p)
        except DecodeError as e:
            out.append((None, str(e)))
            continue
        out.append((result, codecs.H264_F_MESSAGE if name == "H264" and codecs.h264_forbidden_bit(p) else None))
    return out


def _bulk_table(name: str, payloads: list[bytes]) -> list[tuple]:
    n = len(payloads)
    rtp = pd.DataFrame({"frame": np.arange(1, n + 1, dtype=np.uint32), "t": np.zeros(n),
                        "ssrc": np.ones(n, np.uint32), "pt": np.full(n, 96, np.uint8),
                        "seq": np.arange(n, dtype=np.uint16), "ts": np.zeros(n, np.uint32),
                        "error": pd.Categorical([None] * n)})
    kf = media_tables.keyframes(rtp, lambda f: payloads[f - 1], {96: name})
    return [(None if pd.isna(k) else bool(k), None if pd.isna(e) else e)
            for k, e in zip(kf.keyframe.tolist(), kf.error.astype(object).tolist())]


# First bytes that reach every branch: VP8 X/I/M/L/T/K and S/PID, VP9 I/L/F/P/B/V with 1-3 reference indices,
# H.264 single units, STAP-A/B, FU-A/B with and without S, MTAP and reserved types, F bits.
FIRST_BYTES = st.sampled_from([0x00, 0x10, 0x11, 0x80, 0x90, 0xF0, 0xFF, 0x08, 0x0C, 0x48, 0x58, 0x5A, 0x78, 0xD8,
                               0xFA, 0x88, 0x65, 0xE5, 0x67, 0x41, 0x78, 0x19, 0x7C, 0x5C, 0xFC, 0x7A, 0x1E, 0x1F,
                               0x26, 0x28, 0x40, 0x42, 0x44, 0x60, 0x62, 0x64, 0x02, 0x18])


@SETTINGS
@given(st.sampled_from(["VP8", "VP9", "H264", "H265", "AV1"]),
       st.lists(st.tuples(FIRST_BYTES, st.binary(max_size=24)).map(lambda t: bytes([t[0]]) + t[1]) | st.binary(
           max_size=24), min_size=1, max_size=30))
def test_vectorised_detectors_equal_the_scalar_ones_on_random_payloads(name, payloads):
    assert _bulk_table(name, payloads) == _scalar_table(name, payloads)


@pytest.mark.parametrize("name", ["VP8", "VP9", "H264", "H265", "AV1"])
def test_vectorised_detectors_equal_the_scalar_ones_on_every_prefix(name):
    samples = [bytes([0x10]) + VP8_KEY_HEADER, VP8_EXTENDED + VP8_KEY_HEADER,
               bytes([0x90, 0x80, 0x25]) + VP8_DELTA_HEADER,
               bytes([0xAC, 0x81, 0x02, 0x10]) + b"\x00" * 10, bytes([0xD8, 0x12, 0x03, 0x05, 0x04]) + b"\x00" * 8,
               bytes([0x5A, 0x7F, 0x03, 0x02, 0x01, 0x00, 0xF0, 0x20]) + b"\x00" * 6,
               bytes([0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xCE, 0x00, 0x03, 0x65, 0x88, 0x84]),
               bytes([0x7C, 0x85, 0x88]), bytes([0x7C, 0x05, 0x88]), bytes([0x19, 0x00, 0x01, 0x00, 0x01, 0x67]),
               H265_AP_VPS_SPS, bytes([0x62, 0x01, 0x93, 0xAF]), bytes([0x62, 0x01, 0x13, 0xAF]),
               bytes([0x28, 0x01, 0xAF]),
               bytes([0x18, 0x05]), bytes([0x88, 0x05]), bytes([0x10, 0x05])]
    prefixes = [s[:k] for s in samples for k in range(len(s) + 1)]
    assert _bulk_table(name, prefixes) == _scalar_table(name, prefixes)
