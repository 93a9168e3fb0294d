"""Endpoint plaintext dumps as captures: Chromium's RTP_DUMP log lines (WebRTC-Debugging-RtpDump) and Janus'
text2pcap text dumps (admin API start_text2pcap), opened into the same tables as a wire capture; and `align`, the
dump beside a wire capture of the same call, packet by packet (SSRC and extended sequence number, RFC 3550 A.1).

Strategy: text in, pcap out, `webrtcpcap.open` on it.  Each dump line becomes one Ethernet/IPv4/UDP frame (RFC 791
and RFC 768 lengths and checksums) between the fake addresses the lab's converters and Janus' own start_pcap use, so
a dump opens into exactly the tables its pcap conversion gives (direction kept in the addresses, see DUMP_ADDRESSES).
Lines are read one at a time and frames written as they come (bounded memory); a malformed dump line is counted and
skipped, never raised: `cap.dump` says how many and why the first one was, `cap.problem` says it too and a
CaptureWarning is issued.  `align` is an analysis over `rtp` tables; it never touches bytes.

Formats (what each writer emits, learned from its source; no code copied):

- Chromium (webrtc pc/srtp_session.cc SrtpSession::DumpPacket, rtc_base/text2pcap.cc Text2Pcap::DumpPacket): each
  packet is one VERBOSE log message whose text starts with a newline, so the log prefix
  "[pid:tid:MMDD/HHMMSS.micro:VERBOSE1:.../srtp_session.cc(N)]" ends one line and the next line reads
  "I|O HH:MM:SS.mmm 0000 80 60 ... # RTP_DUMP" (older releases: "000000" as the offset).  I = inbound, after
  SRTP unprotect (after the network); O = outbound, before SRTP protect (before the network).  The time inside the
  dump line is wrong (its hours and minutes are miscomputed), so each packet takes the time of the most recent log
  prefix before it (as captures/lab/record.py rtpdump_to_pcap does).  The prefix is local time and has no year.
  `grep RTP_DUMP` output has no prefixes: there the line's own UTC seconds and milliseconds are used (see
  open_chromium_rtp_dump).
- Janus (src/text2pcap.c janus_text2pcap_dump): one line per packet,
  "I|O HH:MM:SS.uuuuuu 000000  xx xx ... JANUS_TEXT2PCAP_RTP|RTCP|DATA[ free text]\\r\\n": I = what Janus
  received (after SRTP unprotect), O = what it sent (before protect); local time of day, microseconds, no date.
  The packet may be truncated to the dump's `truncate` length (the original length is not written).  Bracketed
  markers ("[rtp]", "[rtcp]", "[data]") are accepted in place of the JANUS_TEXT2PCAP_* names.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import struct
import tempfile
import warnings
import weakref
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
import pandas as pd

from ..net import layers as net
from ..capture import open as _open
from ..io.errors import CaptureWarning
from ..io.pcap_writer import PcapWriter
from ..tables.streams import extend_seq
from ..tables.schema import empty_table, masked

# Fake addresses of converted dumps: (src ip, src port) of a frame -> the dumping endpoint's direction.
CHROMIUM = ("10.3.3.1", 3001)  # Chromium; O lines go from here to its peer (captures/lab/record.py RTPDUMP_CHROMIUM)
CHROMIUM_PEER = ("10.3.3.2", 3002)  # Chromium's peer; I lines come from here
JANUS_RECEIVED = ("10.1.1.1", 1000)  # Janus start_pcap / text2pcap: I (received) frames 10.1.1.1:1000 -> 10.2.2.2:2000
JANUS_SENT = ("10.2.2.2", 2000)  # ... O (sent) frames 10.2.2.2:2000 -> 10.1.1.1:1000
DUMP_ADDRESSES: dict[tuple[str, int], str] = {CHROMIUM: "out", CHROMIUM_PEER: "in", JANUS_SENT: "out",
                                              JANUS_RECEIVED: "in"}

MAX_UDP_PAYLOAD = 65535 - 20 - 8  # RFC 791 total length is 16 bits
_ROLLOVER_S = 12 * 3600  # time of day going back by more than this: the next day (Janus) / next year (Chromium)

_CHROMIUM_PREFIX = re.compile(r"\[(?:\d+:){0,2}(\d\d)(\d\d)/(\d\d)(\d\d)(\d\d)(?:\.(\d{1,6}))?:[^\]]*\]")
_CHROMIUM_DUMP = re.compile(r"([IO]) (\d\d):(\d\d):(\d\d)\.(\d{3}) [0-9a-fA-F]+((?: [0-9a-fA-F]{2})+) # RTP_DUMP\s*")
_MINUTE_WRAP_MS = 5_000  # line time going back by more than this: the next minute (less: threads logging out of order)
_CHROMIUM_DUMPISH = re.compile(r"[IO] \d\d:\d\d:\d\d\.\d+ ")  # a dump line cut short, or with garbage in it
_JANUS_LINE = re.compile(r"([IO]) (\d\d):(\d\d):(\d\d)\.(\d{1,6}) [0-9a-fA-F]+((?: +[0-9a-fA-F]{2})+) +"
                         r"(?:JANUS_TEXT2PCAP_(RTP|RTCP|DATA)|\[(rtp|rtcp|data)\])(?:\s.*)?", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class DumpInfo:
    """What an importer read: `source` (the file, or "<lines>"), `format` ("chromium-rtp-dump" or
    "janus-text2pcap"), `packets` (frames written), `lines` (lines read), `malformed` (dump lines skipped),
    `first_malformed` ("line N: why", or None) and `pcap` (the converted file the capture reads)."""

    source: str
    format: str
    packets: int
    lines: int
    malformed: int
    first_malformed: str | None
    pcap: str


# --- frames -------------------------------------------------------------------------------------------------------

def udp_frame(src: tuple[str, int], dst: tuple[str, int], payload: bytes, ident: int = 0) -> bytes:
    """An Ethernet II / IPv4 / UDP frame carrying `payload` from src (ip, port) to dst, with the IPv4 header checksum
    (RFC 791) and the UDP checksum over the pseudo-header (RFC 768; 0 is sent as 0xFFFF)."""
    s_ip, d_ip = bytes(int(x) for x in src[0].split(".")), bytes(int(x) for x in dst[0].split("."))
    udp_len = 8 + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, ident & 0xFFFF, net.IPV4_DF, 64, net.IPPROTO_UDP, 0,
                     s_ip, d_ip)
    ip = ip[:10] + struct.pack("!H", net.internet_checksum(ip)) + ip[12:]
    udp = struct.pack("!HHHH", src[1], dst[1], udp_len, 0)
    csum = net.internet_checksum(net.pseudo_header(s_ip, d_ip, net.IPPROTO_UDP, udp_len), udp, payload) or 0xFFFF
    eth = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"  # locally administered MACs
    return eth + ip + udp[:6] + struct.pack("!H", csum) + payload


# --- time ---------------------------------------------------------------------------------------------------------

def _epoch_us(d: _dt.datetime, tz) -> int:
    """Microseconds since the Unix epoch of a naive local date-time read in `tz` (None: this machine's zone)."""
    aware = d.astimezone() if tz is None else d.replace(tzinfo=tz)  # astimezone() on naive = system local time
    delta = aware - _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _source_time(source, tz) -> _dt.datetime:
    """The file's modification time (or now, for lines) as a naive local date-time in `tz`."""
    ts = os.path.getmtime(source) if isinstance(source, (str, os.PathLike)) else None
    now = _dt.datetime.now(_dt.timezone.utc) if ts is None else _dt.datetime.fromtimestamp(ts, _dt.timezone.utc)
    return (now.astimezone() if tz is None else now.astimezone(tz)).replace(tzinfo=None)


# --- line sources -------------------------------------------------------------------------------------------------

def _lines(source) -> Iterator[str]:
    if isinstance(source, (str, os.PathLike)):
        with open(source, encoding="utf-8", errors="replace", newline="") as f:
            yield from f
    elif isinstance(source, (bytes, bytearray)):
        raise TypeError("give a path or an iterable of text lines (decode bytes first)")
    else:
        for line in source:
            yield line.decode("utf-8", "replace") if isinstance(line, (bytes, bytearray)) else line


def _name(source) -> str:
    return os.fspath(source) if isinstance(source, (str, os.PathLike)) else "<lines>"


class _Bad:
    def __init__(self):
        self.count = 0
        self._first: tuple[int, str] | None = None

    def add(self, lineno: int, why: str) -> None:
        self.count += 1
        if self._first is None or lineno < self._first[0]:
            self._first = (lineno, why)

    @property
    def first(self) -> str | None:
        return None if self._first is None else f"line {self._first[0]}: {self._first[1]}"


def _payload(hex_text: str) -> bytes | None:
    data = bytes.fromhex(hex_text)
    return data if 0 < len(data) <= MAX_UDP_PAYLOAD else None


# --- Chromium -----------------------------------------------------------------------------------------------------

def _chromium_records(source, bad: _Bad, counter: list) -> list[tuple]:
    """(lineno, month-day-time key of the log prefix or None, direction, packet, the line's own (h, m, s, ms)) per
    RTP_DUMP line.  Lines without a prefix are kept only when no line has one (`grep RTP_DUMP` output)."""
    out = []
    prefix = None  # (month, day, hour, minute, second, microsecond) of the latest log prefix
    n = 0
    for n, raw in enumerate(_lines(source), 1):
        line = raw.rstrip("\r\n")
        m = _CHROMIUM_PREFIX.match(line)
        if m:
            mo, dd, hh, mi, ss = (int(x) for x in m.group(1, 2, 3, 4, 5))
            ok = 1 <= mo <= 12 and 1 <= dd <= 31 and hh < 24 and mi < 60 and ss < 60
            prefix = (mo, dd, hh, mi, ss, int((m[6] or "0").ljust(6, "0"))) if ok else "bad"
            line = line[m.end():].lstrip()
            if not line:
                continue
        d = _CHROMIUM_DUMP.fullmatch(line)
        if d is None:
            if line.rstrip().endswith("RTP_DUMP") or _CHROMIUM_DUMPISH.match(line):
                bad.add(n, "RTP_DUMP line is malformed or cut short")
            continue
        if prefix == "bad":
            bad.add(n, "RTP_DUMP line has no log prefix with a valid time before it")
            continue
        hh, mi, ss = int(d[2]), int(d[3]), int(d[4])
        if hh > 23 or mi > 59 or ss > 59:
            bad.add(n, "RTP_DUMP line has an impossible time of day")
            continue
        data = _payload(d[6])
        if data is None:
            bad.add(n, "RTP_DUMP line holds more bytes than a UDP datagram")
            continue
        out.append((n, prefix, "out" if d[1] == "O" else "in", data, (hh, mi, ss, int(d[5]))))
    counter.append(n)
    if any(r[1] is not None for r in out):  # a log with prefixes: a dump line before the first one has no time
        for r in out:
            if r[1] is None:
                bad.add(r[0], "RTP_DUMP line has no log prefix with a valid time before it")
        out = [r for r in out if r[1] is not None]
    return out


def _line_times(times: list[tuple], source) -> list[int]:
    """Epoch microseconds from the dump lines' own times, for logs without prefixes (see open_chromium_rtp_dump)."""
    if any(h or m for h, m, _, _ in times):  # older releases wrote the whole UTC time of day
        day_us = [((h * 60 + m) * 60 + s) * 1_000_000 + ms * 1000 for h, m, s, ms in times]
        return _janus_times(day_us, None, source, _dt.timezone.utc)
    minute, prev, rel_ms = 0, None, []
    for _, _, s, ms in times:  # current ones: only seconds and milliseconds are right
        cur = s * 1000 + ms
        if prev is not None and prev - cur > _MINUTE_WRAP_MS:
            minute += 1
        prev = cur
        rel_ms.append(minute * 60_000 + cur)
    if not rel_ms:
        return []
    end_ms = int(_source_time(source, _dt.timezone.utc).replace(tzinfo=_dt.timezone.utc).timestamp() * 1000)
    base = (end_ms - rel_ms[-1]) // 60_000 * 60_000  # minute-aligned, the last packet before the end
    return [(base + t) * 1000 for t in rel_ms]


def _chromium_times(prefixes: list[tuple], year: int | None, source, tz) -> list[int]:
    """Epoch microseconds of each (month, day, h, m, s, us); the year advances where the month-day goes back past
    New Year.  Without `year`, the last line's year is that of the file's mtime (of now, for lines)."""
    years, y, prev = [], 0, None
    for p in prefixes:
        if prev is not None and prev[0] - p[0] >= 6:  # the month went back by half a year or more: December -> January
            y += 1
        prev = p
        years.append(y)
    if year is None:
        end = _source_time(source, tz)
        base = end.year - (years[-1] if years else 0)
        if prefixes and (prefixes[-1][0], prefixes[-1][1]) > (end.month, end.day):  # written last year
            base -= 1
    else:
        base = int(year)
    out = []
    for p, yo in zip(prefixes, years):
        try:
            out.append(_epoch_us(_dt.datetime(base + yo, p[0], p[1], p[2], p[3], p[4], p[5]), tz))
        except (ValueError, OverflowError):  # 29 February of a common year, 31 April...
            out.append(None)
    return out


def open_chromium_rtp_dump(log_path_or_lines, *, year: int | None = None, tz: _dt.tzinfo | None = None,
                           pcap: str | os.PathLike | None = None):
    """Open Chromium's RTP dump (a Chromium log written with --force-fieldtrials=WebRTC-Debugging-RtpDump/Enabled/
    and verbose logging, e.g. --enable-logging=stderr -v=1) as a capture with the same tables as a wire capture.

    `log_path_or_lines`: the log file's path, or an iterable of its lines.  Each "I|O ... # RTP_DUMP" line
    becomes a UDP frame: O (outbound, logged before SRTP protect) from CHROMIUM 10.3.3.1:3001 to CHROMIUM_PEER
    10.3.3.2:3002, I (inbound, logged after unprotect) the other way, as captures/lab/record.py converts them.  Its
    time is the log prefix's before it (MMDD/HHMMSS.micro, local time): the date from MMDD, the year `year` (for
    the first line; a dump that runs past New Year moves on) or, without it, that of the file's modification time
    for the last line (of now, for lines); `tz` is the zone the log was written in (a tzinfo; None: this machine's,
    as text2pcap assumes).  `pcap`: keep the converted pcap there (otherwise a temporary file, removed with the
    capture).

    Lines without a log prefix (what `grep RTP_DUMP chrome_debug.log` gives; a log where no line has a prefix)
    take the time written in the dump line, which is UTC: current Chromium (rtc_base/text2pcap.cc) writes only its
    seconds and milliseconds right (hours and minutes come out 00), so the packets keep their seconds and order, a
    minute passes where the seconds go back by more than 5 s (a silence of a minute or more is not seen), and the
    last packet is put in the latest minute before the file's modification time (now, for lines) that fits; lines
    with a non-zero hour or minute (older releases) are read as UTC time of day, dated as Janus lines are.  `year`
    and `tz` do not apply to them.  In a log with prefixes, a dump line before the first prefix is malformed.

    Returns a webrtcpcap.Capture (`rtp`, `rtcp`, the RTCP and feedback tables...), with `cap.dump` (DumpInfo).
    Malformed RTP_DUMP lines (bad hex, cut short, no log prefix before them) are skipped and counted in
    `cap.dump.malformed`, said in `cap.problem` and warned about (CaptureWarning); a log with no RTP_DUMP line at
    all gives an empty capture with `cap.problem` saying so.
    """
    bad, counter = _Bad(), []
    records = _chromium_records(log_path_or_lines, bad, counter)
    if records and records[0][1] is None:  # no log prefixes: `grep RTP_DUMP` output
        times = _line_times([r[4] for r in records], log_path_or_lines)
    else:
        times = _chromium_times([r[1] for r in records], year, log_path_or_lines, tz)
    for t, r in zip(times, records):
        if t is None:
            bad.add(r[0], "RTP_DUMP line's log prefix has a date that does not exist in that year")
    frames = ((t, CHROMIUM if d == "out" else CHROMIUM_PEER, CHROMIUM_PEER if d == "out" else CHROMIUM, data)
              for t, (_, _, d, data, _) in zip(times, records) if t is not None)
    hint = ("no RTP_DUMP lines (was Chromium run with --force-fieldtrials=WebRTC-Debugging-RtpDump/Enabled/ and "
            "verbose logging?)")
    return _open_frames(frames, log_path_or_lines, "chromium-rtp-dump", counter[0], bad, pcap, hint)


# --- Janus --------------------------------------------------------------------------------------------------------

def _janus_records(source, bad: _Bad, counter: list) -> list[tuple[int, int, str, bytes]]:
    """(lineno, microseconds of the day, direction, packet) per text2pcap line."""
    out = []
    n = 0
    for n, raw in enumerate(_lines(source), 1):
        line = raw.strip()
        if not line:
            continue
        m = _JANUS_LINE.fullmatch(line)
        if m is None:
            bad.add(n, "text2pcap line is malformed or cut short")
            continue
        hh, mi, ss = int(m[2]), int(m[3]), int(m[4])
        if hh > 23 or mi > 59 or ss > 59:
            bad.add(n, "text2pcap line has an impossible time of day")
            continue
        data = _payload(m[6])
        if data is None:
            bad.add(n, "text2pcap line holds more bytes than a UDP datagram")
            continue
        us = ((hh * 60 + mi) * 60 + ss) * 1_000_000 + int(m[5].ljust(6, "0"))
        out.append((n, us, "in" if m[1] == "I" else "out", data))
    counter.append(n)
    return out


def _janus_times(day_us: list[int], date, source, tz) -> list[int]:
    """Epoch microseconds of each time of day; the day advances where the time goes back by over 12 h (midnight).
    Without `date`, the last line's date is that of the file's modification time (of today, for lines)."""
    days, d, prev = [], 0, None
    for us in day_us:
        if prev is not None and prev - us > _ROLLOVER_S * 1_000_000:
            d += 1
        prev = us
        days.append(d)
    if date is None:
        end = _source_time(source, tz)
        first = end.date() - _dt.timedelta(days=days[-1] if days else 0)
        if day_us and day_us[-1] > ((end.hour * 60 + end.minute) * 60 + end.second + 1) * 1_000_000:
            first -= _dt.timedelta(days=1)  # the last line is later in the day than the mtime: yesterday's
    else:
        first = date if isinstance(date, _dt.date) else _dt.date.fromisoformat(str(date))
    out = []
    for us, dd in zip(day_us, days):
        day = first + _dt.timedelta(days=dd)
        s, micro = divmod(us, 1_000_000)
        out.append(_epoch_us(_dt.datetime(day.year, day.month, day.day, s // 3600, s // 60 % 60, s % 60, micro), tz))
    return out


def open_janus_text2pcap(path_or_lines, *, date: _dt.date | str | None = None, tz: _dt.tzinfo | None = None,
                         pcap: str | os.PathLike | None = None):
    """Open a Janus text2pcap dump (admin API start_text2pcap) as a capture with the same tables as Janus' own
    start_pcap file: I lines (what Janus received) from 10.1.1.1:1000 to 10.2.2.2:2000, O lines (what it sent)
    the other way.  The lines carry local time of day only: `date` (a datetime.date or "YYYY-MM-DD") is the first
    line's date (a dump that runs past midnight moves on); without it the last line's date is that of the file's
    modification time (today, for lines).  `tz`: the zone Janus ran in (None: this machine's).  `pcap`: keep the
    converted pcap there.

    Returns a webrtcpcap.Capture with `cap.dump` (DumpInfo); malformed lines are skipped and counted as in
    `open_chromium_rtp_dump`.  An empty file gives an empty capture.
    """
    bad, counter = _Bad(), []
    records = _janus_records(path_or_lines, bad, counter)
    times = _janus_times([r[1] for r in records], date, path_or_lines, tz)
    frames = ((t, JANUS_RECEIVED if d == "in" else JANUS_SENT, JANUS_SENT if d == "in" else JANUS_RECEIVED, data)
              for t, (_, _, d, data) in zip(times, records))
    return _open_frames(frames, path_or_lines, "janus-text2pcap", counter[0], bad, pcap, "no text2pcap lines")


def _open_frames(frames: Iterable, source, fmt: str, lines: int, bad: _Bad, pcap, empty_hint: str):
    if pcap is None:
        fd, path = tempfile.mkstemp(prefix="webrtcpcap-dump-", suffix=".pcap")
        f = os.fdopen(fd, "wb")
    else:
        path = os.fspath(pcap)
        f = open(path, "wb")
    try:
        with f:
            w = PcapWriter(f)  # classic pcap, µs, Ethernet
            for t, src, dst, data in frames:
                w.write(udp_frame(src, dst, data, w.count + 1), t * 1000)
        cap = _open(path, progress=False)
    except BaseException:
        if pcap is None:
            os.unlink(path)
        raise
    if pcap is None:
        weakref.finalize(cap, _unlink, path)
    problems = []
    if bad.count:
        problems.append(f"{bad.count} malformed dump line{'s' * (bad.count != 1)} skipped (first: {bad.first})")
    if w.count == 0:
        problems.append(empty_hint)
    if problems:
        text = "; ".join(problems)
        cap.problem = text if cap.problem is None else f"{cap.problem}; {text}"
        warnings.warn(CaptureWarning(f"{_name(source)}: {text}"), stacklevel=3)
    cap.dump = DumpInfo(_name(source), fmt, w.count, lines, bad.count, bad.first, path)
    return cap


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


# --- alignment ----------------------------------------------------------------------------------------------------

ALIGN_SCHEMA: dict[str, str] = {
    "ssrc": "uint32",
    "seq": "uint16",
    "ext_seq": "int64",
    "direction": "category",
    "wire_frame": "UInt32",
    "wire_t": "Float64",
    "wire_time": "datetime64[ns, UTC]",
    "dump_frame": "UInt32",
    "dump_t": "Float64",
    "dump_time": "datetime64[ns, UTC]",
    "delta_ms": "Float64",
    "transit_ms": "Float64",
    "only_in": "category",
}

ALIGN_SUMMARY_SCHEMA: dict[str, str] = {
    "ssrc": "uint32",
    "direction": "category",
    "wire_packets": "int64",
    "dump_packets": "int64",
    "matched": "int64",
    "only_in_wire": "int64",
    "only_in_dump": "int64",
    "transit_median_ms": "float64",
    "transit_p95_ms": "float64",
    "delta_median_ms": "float64",
    "delta_p95_ms": "float64",
}

_DIRECTIONS = {"out": "out", "o": "out", "sent": "out", "outbound": "out",
               "in": "in", "i": "in", "received": "in", "inbound": "in"}


def dump_directions(rtp: pd.DataFrame) -> pd.Series:
    """"out" (sent by the dumping endpoint) or "in" (received by it) per row of a converted dump's table, from the
    fake addresses (DUMP_ADDRESSES); null for rows from any other address."""
    src = rtp["src"].astype(str).to_numpy()
    sport = rtp["sport"].to_numpy()
    out = np.full(len(rtp), None, dtype=object)
    for (ip, port), d in DUMP_ADDRESSES.items():
        out[(src == ip) & (sport == port)] = d
    return pd.Series(pd.Categorical(out, categories=["in", "out"]), index=rtp.index, name="direction")


def _rows_with_time(x, t0) -> tuple[pd.DataFrame, np.ndarray]:
    """The valid rtp rows of a Capture or table, and their absolute times (ns since the epoch)."""
    if hasattr(x, "rtp") and hasattr(x, "packets"):
        rtp = x.rtp
        if t0 is None and len(x.packets):
            t0 = x.packets["time"].iloc[0]
    else:
        rtp = x
    if "error" in rtp.columns:
        rtp = rtp[rtp["error"].isna()]
    if "time" in rtp.columns:
        ns = pd.DatetimeIndex(pd.to_datetime(rtp["time"], utc=True)).as_unit("ns").asi8
    elif t0 is not None or len(rtp) == 0:
        base = pd.Timestamp(t0 if t0 is not None else 0)
        base = base.tz_localize("UTC") if base.tzinfo is None else base
        ns = base.value + np.round(rtp["t"].to_numpy(np.float64) * 1e9).astype(np.int64)
    else:
        raise ValueError("align needs absolute times: give Captures, tables with a `time` column, or wire_t0/dump_t0")
    return rtp.reset_index(drop=True), ns


def _address_match(src: pd.Series, sport: pd.Series, side: str) -> np.ndarray:
    ip, _, port = side.rpartition(":") if side.count(":") == 1 else (side, "", "")
    ip = ip or side
    hit = src.astype(str).to_numpy() == ip
    if port:
        hit &= sport.to_numpy() == int(port)
    return hit


def align(wire, dump, *, wire_side: str | None = None, dump_direction: str | None = None,
          wire_t0=None, dump_t0=None) -> pd.DataFrame:
    """A wire capture's RTP beside an endpoint dump's, one row per packet, matched by SSRC and extended sequence
    number (the k-th copy of a number on one side with the k-th on the other).

    `wire`, `dump`: Captures (`webrtcpcap.open(...)`, `open_chromium_rtp_dump(...)`, a Janus start_pcap file) or
    their `rtp` tables; absolute times come from a Capture's first frame, a `time` column, or `wire_t0`/`dump_t0`
    (the time of t = 0).  `dump_direction`: "out" (what the endpoint sent: Chromium O, Janus sent) or "in" (what
    it received); None keeps both (direction per row from the dump's fake addresses, see `dump_directions`).
    `wire_side`: the dumping endpoint's address on the wire ("ip" or "ip:port"): "out" packets are taken from the
    wire rows it sent, "in" from those it received.  Without it, the wire rows of the SSRCs in the dump are taken.
    Rows with an error are left out.  Sequence numbers are extended per SSRC and side with
    webrtcpcap.streams.extend_seq, and the dump's cycles are moved to the wire's (nearest in time).

    Columns (ALIGN_SCHEMA): ssrc, seq, ext_seq (in the wire's cycles), direction (in/out, as the dump sees it),
    wire_frame, wire_t, wire_time, dump_frame, dump_t, dump_time (null on the side that lacks the packet),
    delta_ms (dump time - wire time), transit_ms (the later minus the earlier along the packet's path: wire - dump
    for "out", dump - wire for "in"; a one-way delay between the dump point and the capture point, plus any clock
    offset between their machines), only_in ("wire", "dump", or null when matched: e.g. "dump" on an "out" packet
    = sent by the endpoint, lost before the capture point).  Sorted by ssrc, ext_seq.
    """

    w, w_ns = _rows_with_time(wire, wire_t0)
    d, d_ns = _rows_with_time(dump, dump_t0)
    d_dir = dump_directions(d)
    want = None if dump_direction is None else _DIRECTIONS.get(str(dump_direction).lower())
    if dump_direction is not None and want is None:
        raise ValueError(f"dump_direction must be 'out' or 'in', not {dump_direction!r}")
    keep = np.ones(len(d), dtype=bool) if want is None else (d_dir.astype(object) == want).to_numpy()
    d, d_ns, d_dir = d[keep].reset_index(drop=True), d_ns[keep], d_dir[keep].reset_index(drop=True)
    ssrc_dir = {}
    for s, dd in zip(d["ssrc"].to_numpy().tolist(), d_dir.astype(object).tolist()):
        if dd is not None:
            ssrc_dir.setdefault(s, dd)
    if wire_side is not None:
        sent = _address_match(w["src"], w["sport"], wire_side)
        got = _address_match(w["dst"], w["dport"], wire_side)
        wkeep = sent if want == "out" else got if want == "in" else sent | got
        w_dir = np.where(sent, "out", np.where(got, "in", None))
    else:
        wkeep = np.isin(w["ssrc"].to_numpy(), d["ssrc"].to_numpy())
        w_dir = np.array([ssrc_dir.get(s) for s in w["ssrc"].to_numpy().tolist()], dtype=object)
    w, w_ns, w_dir = w[wkeep].reset_index(drop=True), w_ns[wkeep], w_dir[wkeep]

    parts = []
    for ssrc in np.union1d(w["ssrc"].to_numpy(), d["ssrc"].to_numpy()):
        wi = np.flatnonzero(w["ssrc"].to_numpy() == ssrc)
        di = np.flatnonzero(d["ssrc"].to_numpy() == ssrc)
        wseq = w["seq"].to_numpy()[wi].astype(np.int64)
        dseq = d["seq"].to_numpy()[di].astype(np.int64)
        wext = extend_seq(wseq) if len(wi) else wseq
        dext = extend_seq(dseq) if len(di) else dseq
        if len(wi) and len(di):
            j = int(np.argmin(np.abs(d_ns[di] - w_ns[wi[0]])))  # the dump packet nearest the wire's first one
            # the number the wire's first packet has in the dump's cycles: nearest to that dump packet's
            target = dext[j] + ((wseq[0] - dseq[j] + 32768) % 65536 - 32768)
            dext = dext - (target - wext[0])
        wk = pd.DataFrame({"ext_seq": wext, "k": _occurrence(wext), "wrow": wi})
        dk = pd.DataFrame({"ext_seq": dext, "k": _occurrence(dext), "drow": di})
        m = wk.merge(dk, on=["ext_seq", "k"], how="outer", sort=False)
        m["ssrc"] = ssrc
        parts.append(m)
    if not parts:
        return empty_table(ALIGN_SCHEMA)
    m = pd.concat(parts, ignore_index=True)
    wrow = m["wrow"].to_numpy(np.float64)
    drow = m["drow"].to_numpy(np.float64)
    has_w, has_d = ~np.isnan(wrow), ~np.isnan(drow)
    wr, dr = np.where(has_w, wrow, 0).astype(np.int64), np.where(has_d, drow, 0).astype(np.int64)

    def pick(df, col, rows, has, dtype):  # df[col] at rows, missing where the side lacks the packet
        values = df[col].to_numpy()[rows] if len(df) else np.zeros(len(rows))
        return masked(np.where(has, values, 0), ~has, dtype)

    wt_ns = np.where(has_w, w_ns[wr] if len(w_ns) else 0, 0)
    dt_ns = np.where(has_d, d_ns[dr] if len(d_ns) else 0, 0)
    both = has_w & has_d
    delta = np.where(both, (dt_ns - wt_ns) / 1e6, np.nan)
    direction = np.where(has_d, d_dir.astype(object).to_numpy()[dr] if len(d) else None,
                         w_dir[wr] if len(w) else None)
    transit = np.where(direction == "out", -delta, np.where(direction == "in", delta, np.nan))
    seq = np.where(has_w, w["seq"].to_numpy()[wr] if len(w) else 0, d["seq"].to_numpy()[dr] if len(d) else 0)
    only = np.where(both, None, np.where(has_w, "wire", "dump"))
    out = pd.DataFrame({
        "ssrc": m["ssrc"].to_numpy().astype("uint32"),
        "seq": seq.astype("uint16"),
        "ext_seq": m["ext_seq"].to_numpy().astype("int64"),
        "direction": pd.Categorical(direction, categories=["in", "out"]),
        "wire_frame": pick(w, "frame", wr, has_w, "UInt32"),
        "wire_t": pick(w, "t", wr, has_w, "Float64"),
        "wire_time": _times(wt_ns, has_w),
        "dump_frame": pick(d, "frame", dr, has_d, "UInt32"),
        "dump_t": pick(d, "t", dr, has_d, "Float64"),
        "dump_time": _times(dt_ns, has_d),
        "delta_ms": masked(np.nan_to_num(delta), ~both, "Float64"),
        "transit_ms": masked(np.nan_to_num(transit.astype(np.float64)), np.isnan(transit.astype(np.float64)),
                             "Float64"),
        "only_in": pd.Categorical(only, categories=["wire", "dump"]),
    })
    out = out.sort_values(["ssrc", "ext_seq"], kind="stable").reset_index(drop=True)
    return out.astype({k: v for k, v in ALIGN_SCHEMA.items() if v != "category"})[list(ALIGN_SCHEMA)]


def _times(ns: np.ndarray, has: np.ndarray) -> pd.DatetimeIndex:
    values = ns.astype("datetime64[ns]")
    values[~has] = np.datetime64("NaT")
    return pd.DatetimeIndex(values).tz_localize("UTC")


def _occurrence(ext: np.ndarray) -> np.ndarray:
    """0 for the first copy of each number, 1 for the second... (in array order)."""
    return pd.Series(ext).groupby(ext).cumcount().to_numpy()


def align_summary(aligned: pd.DataFrame) -> pd.DataFrame:
    """Per SSRC (and direction) of an `align` table: wire_packets, dump_packets, matched, only_in_wire,
    only_in_dump, transit_median_ms, transit_p95_ms, delta_median_ms, delta_p95_ms (over matched packets; NaN
    when none matched).  Columns: ALIGN_SUMMARY_SCHEMA."""
    rows = []
    for (ssrc, direction), g in aligned.groupby(["ssrc", "direction"], observed=True, dropna=False, sort=True):
        only = g["only_in"].astype(object)
        matched = only.isna()
        tr = g.loc[matched, "transit_ms"].to_numpy(np.float64, na_value=np.nan)
        de = g.loc[matched, "delta_ms"].to_numpy(np.float64, na_value=np.nan)
        q = (lambda x, p: float(np.percentile(x, p)) if len(x) else np.nan)
        rows.append({"ssrc": ssrc, "direction": direction, "wire_packets": int(g["wire_frame"].notna().sum()),
                     "dump_packets": int(g["dump_frame"].notna().sum()), "matched": int(matched.sum()),
                     "only_in_wire": int((only == "wire").sum()), "only_in_dump": int((only == "dump").sum()),
                     "transit_median_ms": q(tr, 50), "transit_p95_ms": q(tr, 95),
                     "delta_median_ms": q(de, 50), "delta_p95_ms": q(de, 95)})
    if not rows:
        return empty_table(ALIGN_SUMMARY_SCHEMA)
    out = pd.DataFrame(rows)
    out["direction"] = pd.Categorical(out["direction"].astype(object), categories=["in", "out"])
    return out.astype({k: v for k, v in ALIGN_SUMMARY_SCHEMA.items() if v != "category"})[list(ALIGN_SUMMARY_SCHEMA)]
