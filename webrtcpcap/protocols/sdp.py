"""SDP session descriptions (RFC 8866) as WebRTC offers and answers use them (JSEP, RFC 8829): media sections, codecs
(RFC 8866 §6.6 rtpmap, §6.15 fmtp; RTX RFC 4588), RTCP feedback (RFC 4585), header extensions (RFC 8285), SSRCs
(RFC 5576), ICE (RFC 8839) and DTLS-SRTP (RFC 8122 fingerprint, RFC 4145 setup).

Strategy: sans-IO, text in, frozen records out; this module never reads files (webrtcpcap.open does).  `parse` reads
line by line.  Every `a=` line is kept raw in `attributes`, in order, and lines of other types that are not
interpreted are kept in `other`: nothing is dropped.  Unknown attributes are tolerated; a line that is not
"<letter>=<value>", or an attribute this module interprets whose value does not read (a bad rtpmap, a truncated
candidate), raises DecodeError: a wrong codec or password taken silently would spoil the analyses built on it.
Values given at session level (ice-ufrag, ice-pwd, fingerprint, setup, direction) apply to every media section
that does not give its own (RFC 8839 §5.4, RFC 8122 §5, RFC 8866 §6.7), so a section's fields are the effective ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Union

from ..io.errors import DecodeError

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")  # RFC 8866 §6.7
CANDIDATE_TYPES = ("host", "srflx", "prflx", "relay")  # RFC 8445 §5.1.1, RFC 8839 §5.1
SETUP_ROLES = ("active", "passive", "actpass", "holdconn")  # RFC 4145 §4

# RFC 3551 §6, tables 4 and 5: payload types with a fixed meaning, used when a section lists one without a=rtpmap.
# pt -> (encoding name, clock rate, channels)
STATIC_PAYLOAD_TYPES: dict[int, tuple[str, int, int | None]] = {
    0: ("PCMU", 8000, 1), 3: ("GSM", 8000, 1), 4: ("G723", 8000, 1), 5: ("DVI4", 8000, 1), 6: ("DVI4", 16000, 1),
    7: ("LPC", 8000, 1), 8: ("PCMA", 8000, 1), 9: ("G722", 8000, 1), 10: ("L16", 44100, 2), 11: ("L16", 44100, 1),
    12: ("QCELP", 8000, 1), 13: ("CN", 8000, 1), 14: ("MPA", 90000, None), 15: ("G728", 8000, 1),
    16: ("DVI4", 11025, 1), 17: ("DVI4", 22050, 1), 18: ("G729", 8000, 1), 25: ("CelB", 90000, None),
    26: ("JPEG", 90000, None), 28: ("nv", 90000, None), 31: ("H261", 90000, None), 32: ("MPV", 90000, None),
    33: ("MP2T", 90000, None), 34: ("H263", 90000, None),
}


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """a=fingerprint (RFC 8122 §5): the hash function's name, lower case ("sha-256"), and the hash as lower-case hex
    without colons (as hashlib's hexdigest gives it)."""

    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm} " + ":".join(self.hex[i:i + 2] for i in range(0, len(self.hex), 2)).upper()


@dataclass(frozen=True, slots=True)
class Candidate:
    """a=candidate (RFC 8839 §5.1): foundation, component (1 RTP, 2 RTCP), transport (lower case: udp, tcp),
    priority, address (an IP or an mDNS name), port, type (host, srflx, prflx, relay), raddr/rport (related
    address, None when absent) and the remaining extension pairs in order (tcptype, generation, network-id...)."""

    foundation: str
    component: int
    transport: str
    priority: int
    address: str
    port: int
    type: str
    raddr: str | None = None
    rport: int | None = None
    extensions: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class PayloadType:
    """One payload type of a media section.  codec, clock_rate, channels from a=rtpmap (or the RFC 3551 static table
    when a static type has no rtpmap; channels is 1 for audio when the rtpmap omits it); fmtp: the a=fmtp value as
    written, parameters: its "key=value" pairs; rtx_for: the `apt=` payload type (RFC 4588 §8.6) of an RTX type;
    rtcp_fb: the a=rtcp-fb values ("nack", "nack pli", "ccm fir", "transport-cc"), wildcard "*" lines included."""

    pt: int
    codec: str | None = None
    clock_rate: int | None = None
    channels: int | None = None
    fmtp: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    rtx_for: int | None = None
    rtcp_fb: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Ssrc:
    """The a=ssrc lines of one SSRC (RFC 5576 §4.1): cname and msid, and every source attribute by name."""

    ssrc: int
    cname: str | None = None
    msid: str | None = None
    attributes: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SsrcGroup:
    """a=ssrc-group (RFC 5576 §4.2): semantics (FID: RTX, RFC 4588; FEC-FR: FlexFEC, RFC 5956; SIM) and SSRCs in
    order (for FID, the media SSRC first, then its RTX SSRC)."""

    semantics: str
    ssrcs: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Media:
    """A media section (m= line and what follows it).  kind (audio, video, application...), port, protocol
    ("UDP/TLS/RTP/SAVPF"), formats (the m= line's format list as written), connection (c= address), mid,
    direction, ice_ufrag, ice_pwd, fingerprints, setup (effective values: the section's, else the session's),
    rtcp_mux, rtcp_rsize, payload_types ({pt: PayloadType}, in m= line order), extmap ({id: URI}), ssrcs
    ({ssrc: Ssrc}), ssrc_groups, candidates, end_of_candidates, attributes (every a= line as (name, value or None)),
    other (lines of other types, (type, value))."""

    kind: str
    port: int
    protocol: str
    formats: tuple[str, ...]
    connection: str | None = None
    mid: str | None = None
    direction: str = "sendrecv"
    ice_ufrag: str | None = None
    ice_pwd: str | None = None
    fingerprints: tuple[Fingerprint, ...] = ()
    setup: str | None = None
    rtcp_mux: bool = False
    rtcp_rsize: bool = False
    payload_types: dict[int, PayloadType] = field(default_factory=dict)
    extmap: dict[int, str] = field(default_factory=dict)
    ssrcs: dict[int, Ssrc] = field(default_factory=dict)
    ssrc_groups: tuple[SsrcGroup, ...] = ()
    candidates: tuple[Candidate, ...] = ()
    end_of_candidates: bool = False
    attributes: tuple[tuple[str, str | None], ...] = ()
    other: tuple[tuple[str, str], ...] = ()

    @property
    def fingerprint(self) -> Fingerprint | None:
        """The first fingerprint (aiortc offers sha-256, sha-384 and sha-512), or None."""
        return self.fingerprints[0] if self.fingerprints else None


@dataclass(frozen=True, slots=True)
class Sdp:
    """A session description: version (v=), origin (o=, as written), session_name (s=), connection (c= address),
    groups (a=group: (semantics, mids), e.g. ("BUNDLE", ("0", "1"))), the session-level ice_ufrag, ice_pwd,
    ice_lite, fingerprints, setup and direction (None when not given at session level), media (the sections),
    attributes (session-level a= lines as (name, value or None)), other (other session-level lines)."""

    version: int
    origin: str | None = None
    session_name: str | None = None
    connection: str | None = None
    groups: tuple[tuple[str, tuple[str, ...]], ...] = ()
    ice_ufrag: str | None = None
    ice_pwd: str | None = None
    ice_lite: bool = False
    fingerprints: tuple[Fingerprint, ...] = ()
    setup: str | None = None
    direction: str | None = None
    media: tuple[Media, ...] = ()
    attributes: tuple[tuple[str, str | None], ...] = ()
    other: tuple[tuple[str, str], ...] = ()

    @property
    def fingerprint(self) -> Fingerprint | None:
        return self.fingerprints[0] if self.fingerprints else None

    def clock_rates(self) -> dict[int, int]:
        """{payload type: clock rate} over the media sections (the first section to give a rate wins)."""
        rates: dict[int, int] = {}
        for m in self.media:
            for pt, p in m.payload_types.items():
                if p.clock_rate is not None:
                    rates.setdefault(pt, p.clock_rate)
        return rates

    def ice_passwords(self) -> dict[str, str]:
        """{ice-ufrag: ice-pwd} of the session and of every media section that gives both."""
        out = {}
        for ufrag, pwd in [(self.ice_ufrag, self.ice_pwd)] + [(m.ice_ufrag, m.ice_pwd) for m in self.media]:
            if ufrag is not None and pwd is not None:
                out.setdefault(ufrag, pwd)
        return out

    def rtx_map(self) -> dict[int, int]:
        """{RTX payload type: the payload type it repairs} from a=fmtp apt= (first section wins)."""
        out: dict[int, int] = {}
        for m in self.media:
            for pt, p in m.payload_types.items():
                if p.rtx_for is not None:
                    out.setdefault(pt, p.rtx_for)
        return out


SdpLike = Union[Sdp, Iterable[Sdp], None]


def _sdps(sdps: SdpLike) -> list[Sdp]:
    if sdps is None:
        return []
    return [sdps] if isinstance(sdps, Sdp) else list(sdps)


def clock_rates(sdps: SdpLike) -> dict[int, int]:
    """`Sdp.clock_rates` merged over several SDPs (offer first: an earlier SDP's rate wins)."""
    out: dict[int, int] = {}
    for s in _sdps(sdps):
        for pt, rate in s.clock_rates().items():
            out.setdefault(pt, rate)
    return out


def ice_passwords(sdps: SdpLike) -> dict[str, str]:
    """`Sdp.ice_passwords` merged over several SDPs (both ends' {ufrag: pwd}, as `webrtcpcap.open` wants them)."""
    out: dict[str, str] = {}
    for s in _sdps(sdps):
        for ufrag, pwd in s.ice_passwords().items():
            out.setdefault(ufrag, pwd)
    return out


def codecs(sdps: SdpLike) -> dict[int, tuple[str, str]]:
    """{pt: (media kind, codec name)} of every payload type with a codec, merged over several SDPs (an earlier SDP
    wins): ("video", "VP8"), ("audio", "opus"), ("video", "rtx")..."""
    out: dict[int, tuple[str, str]] = {}
    for s in _sdps(sdps):
        for m in s.media:
            for pt, p in m.payload_types.items():
                if p.codec:
                    out.setdefault(pt, (m.kind, p.codec))
    return out


def rtx_map(sdps: SdpLike) -> dict[int, int]:
    """`Sdp.rtx_map` merged over several SDPs (an earlier SDP wins)."""
    out: dict[int, int] = {}
    for s in _sdps(sdps):
        for pt, apt in s.rtx_map().items():
            out.setdefault(pt, apt)
    return out


# --- parsing ---------------------------------------------------------------------------------------------------------


def _int(text: str, part: str, lo: int, hi: int) -> int:
    """A decimal ASCII number in [lo, hi], or DecodeError "SDP <part> ..."."""
    if not (text.isascii() and text.isdigit()) or len(text) > 20:
        raise DecodeError(f"SDP {part} is not a number")
    value = int(text)
    if not lo <= value <= hi:
        raise DecodeError(f"SDP {part} is out of range ({lo}..{hi})")
    return value


def _payload_type(text: str, part: str) -> int:
    return _int(text, f"{part} payload type", 0, 127)


def parse_candidate(value: str) -> Candidate:
    """The value of an a=candidate line (after "candidate:"), RFC 8839 §5.1; also accepts it with the prefix."""
    if value.startswith("candidate:"):
        value = value[len("candidate:"):]
    bits = value.split()
    if len(bits) < 8:
        raise DecodeError("SDP candidate is truncated")
    if bits[6] != "typ":
        raise DecodeError("SDP candidate has no typ")
    raddr = rport = None
    extensions = []
    rest = bits[8:]
    if len(rest) % 2:
        raise DecodeError("SDP candidate has an extension without a value")
    for name, val in zip(rest[::2], rest[1::2]):
        if name == "raddr":
            raddr = val
        elif name == "rport":
            rport = _int(val, "candidate rport", 0, 65535)
        else:
            extensions.append((name, val))
    return Candidate(
        foundation=bits[0], component=_int(bits[1], "candidate component", 1, 256), transport=bits[2].lower(),
        priority=_int(bits[3], "candidate priority", 0, 2**32 - 1), address=bits[4],
        port=_int(bits[5], "candidate port", 0, 65535), type=bits[7], raddr=raddr, rport=rport,
        extensions=tuple(extensions))


def _fingerprint(value: str) -> Fingerprint:
    algorithm, _, hexed = value.strip().partition(" ")
    digest = "".join(hexed.split()).replace(":", "")
    if not algorithm or not digest:
        raise DecodeError("SDP fingerprint is truncated")
    try:
        bytes.fromhex(digest)
    except ValueError:
        raise DecodeError("SDP fingerprint is not hex") from None
    return Fingerprint(algorithm.lower(), digest.lower())


class _Section:
    """What a=/c=/... lines say about the session or one media section, while it is being read."""

    def __init__(self) -> None:
        self.connection: str | None = None
        self.mid: str | None = None
        self.direction: str | None = None
        self.ice_ufrag: str | None = None
        self.ice_pwd: str | None = None
        self.ice_lite = False
        self.fingerprints: list[Fingerprint] = []
        self.setup: str | None = None
        self.rtcp_mux = False
        self.rtcp_rsize = False
        self.rtpmap: dict[int, tuple[str, int, int | None]] = {}
        self.fmtp: dict[int, str] = {}
        self.rtcp_fb: dict[int | str, list[str]] = {}
        self.extmap: dict[int, str] = {}
        self.ssrcs: dict[int, dict[str, str | None]] = {}
        self.ssrc_groups: list[SsrcGroup] = []
        self.candidates: list[Candidate] = []
        self.end_of_candidates = False
        self.groups: list[tuple[str, tuple[str, ...]]] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.other: list[tuple[str, str]] = []

    def attribute(self, name: str, value: str | None) -> None:
        self.attributes.append((name, value))
        v = value or ""
        if name in DIRECTIONS:
            self.direction = name
        elif name == "mid":
            self.mid = v
        elif name == "ice-ufrag":
            self.ice_ufrag = v
        elif name == "ice-pwd":
            self.ice_pwd = v
        elif name == "ice-lite":
            self.ice_lite = True
        elif name == "fingerprint":
            self.fingerprints.append(_fingerprint(v))
        elif name == "setup":
            self.setup = v.strip()
        elif name == "rtcp-mux":
            self.rtcp_mux = True
        elif name == "rtcp-rsize":
            self.rtcp_rsize = True
        elif name == "rtpmap":
            pt, _, encoding = v.partition(" ")
            parts = encoding.strip().split("/")
            if len(parts) < 2 or not parts[0]:
                raise DecodeError("SDP rtpmap is truncated")
            if len(parts) > 3:
                raise DecodeError("SDP rtpmap has too many parts")
            channels = _int(parts[2], "rtpmap channels", 1, 255) if len(parts) == 3 else None
            self.rtpmap[_payload_type(pt, "rtpmap")] = (
                parts[0], _int(parts[1], "rtpmap clock rate", 1, 2**32 - 1), channels)
        elif name == "fmtp":
            pt, _, params = v.partition(" ")
            self.fmtp[_payload_type(pt, "fmtp")] = params.strip()
        elif name == "rtcp-fb":
            pt, _, fb = v.partition(" ")
            key: int | str = "*" if pt == "*" else _payload_type(pt, "rtcp-fb")
            self.rtcp_fb.setdefault(key, []).append(fb.strip())
        elif name == "extmap":
            ident, _, rest = v.partition(" ")
            uri = rest.split()
            if not uri:
                raise DecodeError("SDP extmap has no URI")
            self.extmap[_int(ident.partition("/")[0], "extmap id", 0, 65535)] = uri[0]
        elif name == "ssrc":
            ssrc, _, attr = v.partition(" ")
            attr_name, colon, attr_value = attr.strip().partition(":")
            entry = self.ssrcs.setdefault(_int(ssrc, "ssrc", 0, 2**32 - 1), {})
            if attr_name:
                entry.setdefault(attr_name, attr_value if colon else None)
        elif name == "ssrc-group":
            bits = v.split()
            if not bits:
                raise DecodeError("SDP ssrc-group has no semantics")
            self.ssrc_groups.append(SsrcGroup(bits[0], tuple(_int(b, "ssrc-group ssrc", 0, 2**32 - 1)
                                                             for b in bits[1:])))
        elif name == "candidate":
            self.candidates.append(parse_candidate(v))
        elif name == "end-of-candidates":
            self.end_of_candidates = True
        elif name == "group":
            bits = v.split()
            if bits:
                self.groups.append((bits[0], tuple(bits[1:])))

    def payload_types(self, kind: str, formats: tuple[str, ...]) -> dict[int, PayloadType]:
        pts: list[int] = []
        for f in formats:
            if f.isascii() and f.isdigit() and len(f) <= 3 and int(f) <= 127 and int(f) not in pts:
                pts.append(int(f))
        pts += [pt for pt in list(self.rtpmap) + list(self.fmtp) if pt not in pts]  # described but not listed
        wildcard = self.rtcp_fb.get("*", [])
        out = {}
        for pt in pts:
            codec, rate, channels = self.rtpmap.get(pt) or STATIC_PAYLOAD_TYPES.get(pt, (None, None, None))
            if channels is None and codec is not None and kind == "audio":
                channels = 1  # RFC 8866 §6.6: may be omitted when it is one
            fmtp = self.fmtp.get(pt)
            parameters = {}
            for item in (fmtp or "").split(";"):
                key, eq, val = item.strip().partition("=")
                if eq and key:
                    parameters[key.strip()] = val.strip()
            rtx_for = _payload_type(parameters["apt"], "fmtp apt") if "apt" in parameters else None
            out[pt] = PayloadType(pt=pt, codec=codec, clock_rate=rate, channels=channels, fmtp=fmtp,
                                  parameters=parameters, rtx_for=rtx_for,
                                  rtcp_fb=tuple(self.rtcp_fb.get(pt, []) + wildcard))
        return out


def _split_lines(text: str | bytes) -> list[str]:
    if isinstance(text, (bytes, bytearray, memoryview)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError("SDP text is not UTF-8") from None
    if not isinstance(text, str):
        raise DecodeError(f"SDP text is a {type(text).__name__}, not text")
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


def _attribute_name(value: str) -> str:
    """The name of an a= line's attribute when it is a registered one (RFC 8866 and the WebRTC RFCs), else "?":
    an unknown name may be the wrapped part of a value, and values are never shown."""
    name = value.partition(":")[0]
    return name if name in _KNOWN_ATTRIBUTES else "?"


_KNOWN_ATTRIBUTES = frozenset({
    "mid", "ice-ufrag", "ice-pwd", "ice-lite", "ice-options", "fingerprint", "setup", "rtcp-mux", "rtcp-rsize",
    "rtcp", "rtpmap", "fmtp", "rtcp-fb", "extmap", "extmap-allow-mixed", "ssrc", "ssrc-group", "candidate",
    "end-of-candidates", "group", "msid", "msid-semantic", "crypto", "sctp-port", "max-message-size", "sctpmap",
    "simulcast", "rid", "ptime", "maxptime", "identity", "tls-id", "ice-pacing", *DIRECTIONS})


def _line(kind, value, version, origin, session_name, current, session, media):
    """One <type>=<value> line of `parse`; returns the new (version, origin, session_name, current section)."""
    if version is None:
        if kind != "v":
            raise DecodeError("SDP text does not start with v=")
        return _int(value.strip(), "version", 0, 0), origin, session_name, current
    if kind == "m":
        bits = value.split()
        if len(bits) < 3:
            raise DecodeError("SDP m= line is truncated")
        port = _int(bits[1].partition("/")[0], "m= port", 0, 65535)
        current = _Section()
        media.append((bits[0], port, bits[2], tuple(bits[3:]), current))
    elif kind == "a":
        name, colon, attr_value = value.partition(":")
        current.attribute(name, attr_value if colon else None)
    elif kind == "c":
        bits = value.split()
        current.connection = bits[2].partition("/")[0] if len(bits) >= 3 else None
        if current.connection is None:
            current.other.append((kind, value))
    elif kind == "o" and current is session:
        origin = value
    elif kind == "s" and current is session:
        session_name = value
    else:
        current.other.append((kind, value))
    return version, origin, session_name, current


def parse(text: str | bytes) -> Sdp:
    """An SDP offer or answer (CRLF or LF line ends; blank lines are skipped) as an Sdp record.

    Raises DecodeError ("SDP <part> <problem>") when the text does not start with v=0, when a line is not
    "<letter>=<value>", or when an interpreted line does not read (m=, rtpmap, fmtp, rtcp-fb, extmap, ssrc,
    ssrc-group, candidate, fingerprint).  Other lines and attributes are kept as written.
    """
    lines = [(n, line) for n, line in enumerate(_split_lines(text), 1) if line.strip()]
    if not lines:
        raise DecodeError("SDP text is empty")
    session = _Section()
    version = None
    origin = session_name = None
    media: list[tuple[str, int, str, tuple[str, ...], _Section]] = []
    current = session
    previous = ""  # where the line before came from, for an error on a line that is a wrapped part of it
    for n, line in lines:
        if len(line) < 2 or line[1] != "=" or not (line[0].isascii() and line[0].isalpha()):
            raise DecodeError(f"SDP line {n} is not <type>=<value>" + (f" (after {previous})" if previous else ""))
        kind, value = line[0], line[2:]
        # Errors name the line and its attribute, never its value: a value may be a secret (a=ice-pwd, a=crypto).
        where = f"a={_attribute_name(value)}" if kind == "a" else f"{kind}="
        previous = f"{where} on line {n}"
        try:
            version, origin, session_name, current = _line(
                kind, value, version, origin, session_name, current, session, media)
        except DecodeError as e:
            raise DecodeError(f"{e} (line {n}, {where})") from None

    sections = []
    for kind, port, protocol, formats, sec in media:
        sections.append(Media(
            kind=kind, port=port, protocol=protocol, formats=formats,
            connection=sec.connection if sec.connection is not None else session.connection,
            mid=sec.mid, direction=sec.direction or session.direction or "sendrecv",
            ice_ufrag=sec.ice_ufrag if sec.ice_ufrag is not None else session.ice_ufrag,
            ice_pwd=sec.ice_pwd if sec.ice_pwd is not None else session.ice_pwd,
            fingerprints=tuple(sec.fingerprints or session.fingerprints),
            setup=sec.setup if sec.setup is not None else session.setup,
            rtcp_mux=sec.rtcp_mux, rtcp_rsize=sec.rtcp_rsize,
            payload_types=sec.payload_types(kind, formats), extmap=dict(sec.extmap),
            ssrcs={s: Ssrc(s, attrs.get("cname"), attrs.get("msid"), dict(attrs)) for s, attrs in sec.ssrcs.items()},
            ssrc_groups=tuple(sec.ssrc_groups), candidates=tuple(sec.candidates),
            end_of_candidates=sec.end_of_candidates, attributes=tuple(sec.attributes), other=tuple(sec.other)))
    return Sdp(
        version=version if version is not None else 0, origin=origin, session_name=session_name,
        connection=session.connection, groups=tuple(session.groups), ice_ufrag=session.ice_ufrag,
        ice_pwd=session.ice_pwd, ice_lite=session.ice_lite, fingerprints=tuple(session.fingerprints),
        setup=session.setup, direction=session.direction, media=tuple(sections),
        attributes=tuple(session.attributes), other=tuple(session.other))


# --- the rows of a long table for notebooks (built on the tables floor: webrtcpcap.tables.media_tables.payload_types) ---

PAYLOAD_TYPE_FIELDS = ("sdp", "mid", "kind", "pt", "codec", "clock_rate", "channels", "rtx_for", "fmtp")


def payload_type_rows(sdps: SdpLike) -> list[tuple]:
    """One tuple (PAYLOAD_TYPE_FIELDS) per payload type of each media section of each SDP: sdp (its index in
    `sdps`: 0 for the offer, 1 for the answer when given [offer, answer]), mid, kind, pt, codec, clock_rate,
    channels, rtx_for (the apt= payload type of an RTX type), fmtp (as written)."""
    rows = []
    for i, s in enumerate(_sdps(sdps)):
        for m in s.media:
            for p in m.payload_types.values():
                rows.append((i, m.mid, m.kind, p.pt, p.codec, p.clock_rate, p.channels, p.rtx_for, p.fmtp))
    return rows
