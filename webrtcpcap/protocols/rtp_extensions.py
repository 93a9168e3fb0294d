"""RTP header extension elements (RFC 8285 one-byte and two-byte forms; RFC 3550 §5.3.1 for other profiles).

Strategy: two speeds, one truth, as in `rtp`.  `parse_extensions` walks one extension block into Element records
(for teaching, tests and rich decoding); `decode_extensions` walks the blocks of many packets at once with numpy,
one loop iteration per element or padding byte (at most MAX_STEPS per packet), over arrays.  A test holds them equal.
SRTP leaves header extensions in the clear (RFC 3711 §3.1), so this works on encrypted calls too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from ..io.buffer import ByteSource
from ..io.errors import DecodeError
from . import rtp
from .rtp import ONE_BYTE_EXTENSION, RTP_HEADER_LEN
from .sdp import Sdp

TWO_BYTE_EXTENSION = 0x1000  # RFC 8285 §4.3: 0x100 followed by 4 "appbits"
TWO_BYTE_MASK = 0xFFF0
ONE_BYTE_STOP_ID = 15  # RFC 8285 §4.2: stop walking, ignore the rest of the block
MAX_STEPS = 256  # elements plus padding bytes walked in one block; more is flagged (no sender writes that many)

FORM_ONE_BYTE = 1  # 0xBEDE
FORM_TWO_BYTE = 2  # 0x100X
FORM_OTHER = 3  # any other profile: the whole block is one element with no id
FORM_NAMES = {FORM_ONE_BYTE: "one-byte", FORM_TWO_BYTE: "two-byte", FORM_OTHER: "other"}

EXT_OK = 0
EXT_NONE = 1  # the packet has no extension (X bit clear)
EXT_NOT_RTP = 2  # the RTP header itself does not read (too short, CSRC list cut)
EXT_HEADER_TRUNCATED = 3  # the 4-byte extension header is not in the captured bytes
EXT_OVERRUN = 4  # the block's length runs past the end of the packet
EXT_SNAPLEN = 5  # the block is in the packet but not all of it was captured
EXT_ELEMENT_OVERRUN = 6  # an element runs past the end of the block
EXT_TOO_MANY = 7  # more than MAX_STEPS elements and padding bytes
EXT_RESERVED_ID = 8  # a one-byte element with ID 0 and a length: not padding, not an element (RFC 8285 §4.2)
EXT_ERROR_MESSAGES = {
    EXT_NOT_RTP: "RTP header is truncated",
    EXT_HEADER_TRUNCATED: "RTP extension header is truncated",
    EXT_OVERRUN: "RTP extension overruns the packet",
    EXT_SNAPLEN: "RTP extension is truncated by snaplen",
    EXT_ELEMENT_OVERRUN: "RTP extension element overruns the extension block",
    EXT_TOO_MANY: f"RTP extension has more than {MAX_STEPS} elements and padding bytes",
    EXT_RESERVED_ID: "RTP extension element has ID 0 (reserved for padding) with a length; the rest is ignored",
}


def form_of(profile: int) -> int:
    """FORM_ONE_BYTE, FORM_TWO_BYTE or FORM_OTHER for an extension profile (the 16 bits before the length)."""
    if profile == ONE_BYTE_EXTENSION:
        return FORM_ONE_BYTE
    if profile & TWO_BYTE_MASK == TWO_BYTE_EXTENSION:
        return FORM_TWO_BYTE
    return FORM_OTHER


@dataclass(frozen=True, slots=True)
class Element:
    """One header extension element: its local `id` (None for a block of another profile), `form`, where its value
    starts in the extension block (`offset`, counted from the first byte after the 4-byte extension header) and
    the value bytes (`data`).  `value` is the data as a big-endian integer when it is 1..8 bytes long."""

    id: int | None
    form: int
    offset: int
    data: bytes

    @property
    def value(self) -> int | None:
        return int.from_bytes(self.data, "big") if 1 <= len(self.data) <= 8 else None


def _walk(profile: int, block: bytes) -> tuple[list[Element], str | None]:
    form = form_of(profile)
    if form == FORM_OTHER:
        return [Element(None, form, 0, bytes(block))], None
    out: list[Element] = []
    pos = 0
    end = len(block)
    for _ in range(MAX_STEPS):
        if pos >= end:
            return out, None
        b = block[pos]
        if b == 0:  # padding (RFC 8285 §4.2, §4.3)
            pos += 1
            continue
        if form == FORM_ONE_BYTE:
            ident, length, at = b >> 4, (b & 0x0F) + 1, pos + 1
            if ident == ONE_BYTE_STOP_ID:
                return out, None
            if ident == 0:  # ID 0 is padding's (a whole zero byte); with a length it is no element: stop, as at 15
                return out, EXT_ERROR_MESSAGES[EXT_RESERVED_ID]
        else:
            if pos + 2 > end:
                return out, EXT_ERROR_MESSAGES[EXT_ELEMENT_OVERRUN]
            ident, length, at = b, block[pos + 1], pos + 2
        if at + length > end:
            return out, EXT_ERROR_MESSAGES[EXT_ELEMENT_OVERRUN]
        out.append(Element(ident, form, at, bytes(block[at : at + length])))
        pos = at + length
    if pos >= end:
        return out, None
    return out, EXT_ERROR_MESSAGES[EXT_TOO_MANY]


def parse_extensions(profile: int, block: bytes) -> list[Element]:
    """The elements of one extension block: `profile` is the 16-bit value after the fixed header and CSRCs
    (0xBEDE: one-byte form, 0x100X: two-byte form, RFC 8285 §4), `block` the 4×length bytes after it.  Padding bytes
    (0) are skipped; a one-byte element with id 15 ends the walk (RFC 8285 §4.2), and so does one with id 0 and a
    length (neither padding nor an element: DecodeError, as libwebrtc stops there too).  Another profile gives one element holding the whole
    block.  DecodeError when an element runs past the block or the block holds more than MAX_STEPS steps."""
    out, error = _walk(profile, block)
    if error is not None:
        raise DecodeError(error)
    return out


def parse_packet_extensions(data: bytes) -> list[Element]:
    """The extension elements of one RTP packet (none without the X bit); DecodeError as rtp.parse and
    parse_extensions give it."""

    header = rtp.parse(data)
    if header.extension_profile is None:
        return []
    return parse_extensions(header.extension_profile, header.extension)


def element_bytes(form: int, elements: Iterable[tuple[int, bytes]]) -> bytes:
    """An extension block (without the 4-byte header) of (id, data) elements, zero-padded to 32 bits: for tests and
    teaching.  DecodeError when an element does not fit the form."""
    out = b""
    for ident, data in elements:
        if form == FORM_ONE_BYTE:
            if not 1 <= ident <= 14 or not 1 <= len(data) <= 16:
                raise DecodeError(f"RTP extension element id {ident} of {len(data)} bytes does not fit the one-byte "
                                  "form")
            out += bytes([(ident << 4) | (len(data) - 1)]) + data
        else:
            if not 1 <= ident <= 255 or len(data) > 255:
                raise DecodeError(f"RTP extension element id {ident} of {len(data)} bytes does not fit the two-byte "
                                  "form")
            out += bytes([ident, len(data)]) + data
    return out + b"\0" * (-len(out) % 4)


# Vectorised -------------------------------------------------------------------------------------------------------

_LONG = {"packet": np.int64, "id": np.int16, "form": np.uint8, "offset": np.int64, "length": np.int32,
         "value": np.uint64, "value_valid": bool}


def decode_extensions(src: ByteSource, off: np.ndarray, cap: np.ndarray, wire: np.ndarray,
                      text_ids: Iterable[int] = ()) -> dict[str, np.ndarray]:
    """The header extension elements of many RTP packets at once (`off`: first byte of each RTP packet in `src`,
    `cap`: bytes captured, `wire`: its length on the wire), in packet order and, within a packet, wire order.

    Returns long arrays, one entry per element: `packet` (int64 index into the inputs), `id` (int16; -1 for a block
    of another profile), `form` (uint8 FORM_*), `offset` (int64 virtual offset of the value in `src`), `length`
    (int32 bytes), `value` (uint64: the value as a big-endian integer when 1..8 bytes long, else 0) and
    `value_valid` (bool: whether `value` holds the value); per packet: `error` (uint8 EXT_* code; EXT_NONE without
    an extension) and `profile` (int32, -1 without one).  The elements before an error are kept.  When `text_ids`
    names ids (sdes:mid, rtp-stream-id...), `text_element` (int64 indices into the long arrays) and `text` (numpy
    bytes, `S<n>`) hold the raw value bytes of those elements, whatever their length.  Packets that are not RTP
    version 2 are not checked here: pass only the rows `rtp.decode_headers` accepted.
    """
    off = np.asarray(off, dtype=np.int64)
    cap = np.asarray(cap, dtype=np.int64)
    wire = np.asarray(wire, dtype=np.int64)
    n = len(off)
    avail = np.minimum(cap, wire)
    ok = avail >= RTP_HEADER_LEN
    b0 = src.u8(off, ok)
    has_ext = ok & ((b0 & 0x10) != 0)
    hdr = RTP_HEADER_LEN + 4 * (b0 & 0x0F).astype(np.int64)
    error = np.full(n, EXT_NONE, dtype=np.uint8)
    error[~ok] = EXT_NOT_RTP
    error[has_ext & (wire < hdr)] = EXT_NOT_RTP
    has_ext &= wire >= hdr
    head_ok = has_ext & (avail >= hdr + 4)
    error[has_ext & ~head_ok] = np.where(wire[has_ext & ~head_ok] >= hdr[has_ext & ~head_ok] + 4, EXT_SNAPLEN,
                                         EXT_HEADER_TRUNCATED)
    cur = src.at(off + hdr, head_ok)
    profile = np.where(head_ok, cur.be16(0).astype(np.int32), -1)
    words = cur.be16(2).astype(np.int64)
    start = off + hdr + 4
    end = start + 4 * words
    block_end_rel = hdr + 4 + 4 * words
    overrun = head_ok & (block_end_rel > wire)
    snap = head_ok & ~overrun & (block_end_rel > avail)
    error[overrun] = EXT_OVERRUN
    error[snap] = EXT_SNAPLEN
    walk = head_ok & ~overrun & ~snap
    error[walk] = EXT_OK
    form = np.zeros(n, dtype=np.uint8)
    form[walk] = FORM_OTHER
    form[walk & (profile == ONE_BYTE_EXTENSION)] = FORM_ONE_BYTE
    form[walk & ((profile & TWO_BYTE_MASK) == TWO_BYTE_EXTENSION)] = FORM_TWO_BYTE

    parts: list[dict[str, np.ndarray]] = []
    # Another profile: the whole block is one element.
    other = np.flatnonzero(form == FORM_OTHER)
    if len(other):
        parts.append(_elements(src, other, np.full(len(other), -1, dtype=np.int16), FORM_OTHER, start[other],
                               (end - start)[other], 0))
    active = np.flatnonzero((form == FORM_ONE_BYTE) | (form == FORM_TWO_BYTE))
    pos = start.copy()
    for step in range(MAX_STEPS):
        if not len(active):
            break
        p = pos[active]
        e = end[active]
        more = p < e
        active, p, e = active[more], p[more], e[more]
        if not len(active):
            break
        b = src.u8(p)
        pad = b == 0
        one = form[active] == FORM_ONE_BYTE
        stop = one & ~pad & ((b >> 4) == ONE_BYTE_STOP_ID)
        reserved = one & ~pad & ((b >> 4) == 0)  # ID 0 with a length: stop there, flagged (see _walk)
        error[active[reserved]] = EXT_RESERVED_ID
        stop |= reserved
        elem = ~pad & ~stop
        two = elem & ~one
        hdr_short = two & (p + 2 > e)
        length = np.where(one, (b & 0x0F).astype(np.int64) + 1, 0)
        length[two & ~hdr_short] = src.u8(p[two & ~hdr_short] + 1).astype(np.int64)
        at = p + np.where(one, 1, 2)
        past = elem & (hdr_short | (at + length > e))
        error[active[past]] = EXT_ELEMENT_OVERRUN
        good = elem & ~past
        if good.any():
            ident = np.where(one, b >> 4, b).astype(np.int16)[good]
            idx = active[good]
            parts.append(_elements(src, idx, ident, form[idx], at[good], length[good], step + 1))
        pos[active] = np.where(pad, p + 1, at + length)
        active = active[pad | good]
    else:
        left = active[pos[active] < end[active]]
        error[left] = EXT_TOO_MANY

    if parts:
        out = {k: np.concatenate([part[k] for part in parts]) for k in _LONG}
        order = np.lexsort((np.concatenate([part["_step"] for part in parts]), out["packet"]))
        out = {k: v[order] for k, v in out.items()}
    else:
        out = {k: np.zeros(0, dtype=t) for k, t in _LONG.items()}
    out["error"] = error
    out["profile"] = profile
    ids = np.array(sorted(set(int(i) for i in text_ids)), dtype=np.int16)
    sel = np.flatnonzero(np.isin(out["id"], ids) & (out["form"] != FORM_OTHER)) if len(ids) else np.zeros(0, np.int64)
    out["text_element"] = sel
    out["text"] = _texts(src, out["offset"][sel], out["length"][sel])
    return out


def concat_decoded(parts: list[tuple[dict[str, np.ndarray], int]]) -> dict[str, np.ndarray]:
    """decode_extensions results of consecutive slices as one: `parts` is [(decoded, number of packets given)], in
    order; `packet` and `text_element` are shifted to index the concatenation.  (`offset` stays per slice: it is a
    virtual offset into that slice's ByteSource.)"""
    if not parts:
        empty = {k: np.zeros(0, dtype=t) for k, t in _LONG.items()}
        return {**empty, "error": np.zeros(0, np.uint8), "profile": np.zeros(0, np.int32),
                "text_element": np.zeros(0, np.int64), "text": np.zeros(0, dtype="S1")}
    out: dict[str, list[np.ndarray]] = {k: [] for k in parts[0][0]}
    packets = elements = 0
    for decoded, n in parts:
        for k, v in decoded.items():
            out[k].append(v + packets if k == "packet" else v + elements if k == "text_element" else v)
        packets += n
        elements += len(decoded["packet"])
    return {k: np.concatenate(v) for k, v in out.items()}


def _elements(src: ByteSource, packet, ident, form, at, length, step) -> dict[str, np.ndarray]:
    """Long-array rows for elements of `packet` whose values start at `at`: the value read end-aligned as one be64
    (the 8 bytes ending with the value always lie inside the packet, which starts 13+ bytes earlier)."""
    length = np.asarray(length, dtype=np.int64)
    valid = (length >= 1) & (length <= 8)
    raw = src.be64(at + length - 8, valid)
    shift = (8 * (8 - np.clip(length, 1, 8))).astype(np.uint64)
    mask = np.where(valid, np.uint64(0xFFFFFFFFFFFFFFFF) >> shift, np.uint64(0))
    return {"packet": packet.astype(np.int64), "id": np.asarray(ident, dtype=np.int16),
            "form": np.broadcast_to(np.asarray(form, dtype=np.uint8), packet.shape).copy(),
            "offset": np.asarray(at, dtype=np.int64), "length": length.astype(np.int32),
            "value": raw & mask, "value_valid": valid, "_step": np.full(len(packet), step, dtype=np.int64)}


def _texts(src: ByteSource, at: np.ndarray, length: np.ndarray) -> np.ndarray:
    """The value bytes of some elements as a numpy `S<n>` array (one gather per byte column)."""
    width = int(length.max()) if len(length) else 0
    if width == 0:
        return np.zeros(len(at), dtype="S1")
    matrix = np.zeros((len(at), width), dtype=np.uint8)
    for k in range(width):
        inside = length > k
        matrix[:, k] = src.u8(at + k, inside)
    return matrix.view(f"S{width}").reshape(-1)


# Names ------------------------------------------------------------------------------------------------------------

# a=extmap URI -> short name (RFC 8285 registry, WebRTC's experiments); others are named by their last path part.
URI_NAMES = {
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01": "transport-wide-cc",
    "http://www.webrtc.org/experiments/rtp-hdrext/transport-wide-cc-02": "transport-wide-cc-02",
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time": "abs-send-time",
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time": "abs-capture-time",
    "urn:ietf:params:rtp-hdrext:sdes:mid": "sdes:mid",  # RFC 9143 §15
    "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id": "rtp-stream-id",  # RFC 8852 §3.1
    "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id": "repaired-rtp-stream-id",  # RFC 8852 §3.2
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level": "ssrc-audio-level",  # RFC 6464
    "urn:ietf:params:rtp-hdrext:csrc-audio-level": "csrc-audio-level",  # RFC 6465
    "urn:3gpp:video-orientation": "video-orientation",  # 3GPP TS 26.114 §7.4.5
    "urn:ietf:params:rtp-hdrext:toffset": "toffset",  # RFC 5450
    "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay": "playout-delay",
    "http://www.webrtc.org/experiments/rtp-hdrext/video-content-type": "video-content-type",
    "http://www.webrtc.org/experiments/rtp-hdrext/video-timing": "video-timing",
    "http://www.webrtc.org/experiments/rtp-hdrext/color-space": "color-space",
    "http://www.webrtc.org/experiments/rtp-hdrext/video-layers-allocation00": "video-layers-allocation",
    "http://www.webrtc.org/experiments/rtp-hdrext/generic-frame-descriptor-00": "generic-frame-descriptor",
    "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension":
        "dependency-descriptor",
}
TEXT_NAMES = ("sdes:mid", "rtp-stream-id", "repaired-rtp-stream-id")  # values that are text (RFC 8852, RFC 9143)


def extension_name(uri: str) -> str:
    """The short name of an a=extmap URI ("abs-send-time"); the last path part for one not in URI_NAMES."""
    name = URI_NAMES.get(uri)
    if name is not None:
        return name
    return uri.rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1] or uri


@dataclass(frozen=True, slots=True)
class Extmaps:
    """How extension ids map to URIs in a session: `common` ({id: URI} for ids every m-section that maps them maps
    the same way), `by_ssrc` ({SSRC: {id: URI}} from the section each a=ssrc line is in) and `by_mid`
    ({mid: {id: URI}})."""

    common: dict[int, str]
    by_ssrc: dict[int, dict[int, str]]
    by_mid: dict[str, dict[int, str]]

    def text_ids(self) -> set[int]:
        """Every id that some mapping gives a text-valued extension (sdes:mid, rtp-stream-id, repaired-rtp-stream-id):
        the ids to ask `decode_extensions` for text."""
        maps = [self.common, *self.by_ssrc.values(), *self.by_mid.values()]
        return {i for m in maps for i, uri in m.items() if extension_name(uri) in TEXT_NAMES}


def sdp_extmaps(sdps) -> Extmaps:
    """The Extmaps of one or several SDPs (webrtcpcap.sdp.Sdp records, offer and answer): an SSRC's mapping is that
    of the m-section its a=ssrc line is in (the first SDP that lists it wins), a mid's that of its m-section; ids that
    two sections map to different URIs are left out of `common`."""

    items = [] if sdps is None else [sdps] if isinstance(sdps, Sdp) else list(sdps)
    common: dict[int, str] = {}
    conflicting: set[int] = set()
    by_ssrc: dict[int, dict[int, str]] = {}
    by_mid: dict[str, dict[int, str]] = {}
    for s in items:
        for m in s.media:
            for ident, uri in m.extmap.items():
                if common.setdefault(ident, uri) != uri:
                    conflicting.add(ident)
            for ssrc in m.ssrcs:
                by_ssrc.setdefault(ssrc, dict(m.extmap))
            if m.mid is not None and m.extmap:
                by_mid.setdefault(m.mid, dict(m.extmap))
    return Extmaps({i: u for i, u in common.items() if i not in conflicting}, by_ssrc, by_mid)
