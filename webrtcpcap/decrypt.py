"""Which key opens which SRTP/SRTCP packets of a capture, and the decryption of them all (RFC 3711, RFC 5764,
RFC 4568, RFC 7714).

Strategy: keys come from three places.  A DTLS-SRTP association whose client random is in the key log gives one
key per direction (RFC 5764 §4.2: the DTLS client's packets use client_write); its packets are found by their
5-tuple (and TURN peer when relayed) — no trial needed.  SDES keys (a=crypto lines of the SDPs) and master keys
given by the user are tried instead: on the first packets of each (direction, SSRC) not covered by an association,
and kept where they authenticate.  Each key and direction has one webrtcpcap.srtp.Decryptor, fed its packets in
capture order, so that libsrtp follows each SSRC's rollover counter.  Nothing here prints or stores key bytes;
keys are named by where they came from ("dtls 0 client", "sdes section 1 tag 1", "given ssrc 0x1c090d13").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from . import keys as _keys
from . import srtp
from .errors import DecodeError

NOT_TRIED = 255  # status of a packet no key was tried on (plaintext RTP, or no key for its direction)
TRIAL_PACKETS = 4  # packets of a stream a trial key is tried on


@dataclass(frozen=True)
class KeySource:
    """One SRTP master key and where it came from.  `ssrcs`: the SSRCs it is declared for (None: any)."""

    label: str
    make: Callable[[], srtp.Decryptor] = field(repr=False)
    ssrcs: frozenset | None = None


@dataclass
class Decryption:
    """The result of decrypting a capture's SRTP and SRTCP.

    `rtp_status` / `rtcp_status`: per row of cap.rtp / per RTCP datagram, a webrtcpcap.srtp.Status code or
    NOT_TRIED; `rtp_key` / `rtcp_key`: the label of the key used (None when not tried); `rtcp_plaintext`: the
    decrypted compound of each authenticated SRTCP datagram (None elsewhere); `problems`: why keys could not be
    made (an association without its client random in the key log, ...); `summary`: one row per key and
    direction."""

    rtp_status: np.ndarray
    rtp_key: list
    rtcp_status: np.ndarray
    rtcp_key: list
    rtcp_plaintext: list
    problems: list[str]
    summary: pd.DataFrame
    sources: dict = field(default_factory=dict, repr=False)  # key label -> KeySource

    def __repr__(self) -> str:
        authentic = (self.rtp_status <= 2).sum() + (self.rtcp_status <= 2).sum()
        tried = (self.rtp_status != NOT_TRIED).sum() + (self.rtcp_status != NOT_TRIED).sum()
        return (f"<Decryption: {len(self.summary)} key directions, {tried} packets tried, {authentic} authenticated, "
                f"{len(self.problems)} problems>")


def endpoint(addr, port) -> str:
    """"ip:port", "[ipv6]:port" (as webrtcpcap.handshake writes association endpoints)."""
    addr = str(addr)
    return f"[{addr}]:{int(port)}" if ":" in addr else f"{addr}:{int(port)}"


def dtls_keys(associations: pd.DataFrame, keylog: _keys.KeyLog | None) -> tuple[dict, list[str]]:
    """For each DTLS association of `handshake.associations` whose client random is in the key log: its two
    directions, {(sender, receiver, peer): KeySource}, and the problems met (no key log line, no profile...)."""
    out: dict = {}
    problems: list[str] = []
    if keylog is None or associations is None or not len(associations):
        return out, problems
    for row in associations.itertuples(index=False):
        name = f"DTLS association {row.association} ({row.client} -> {row.server})"
        if pd.isna(row.srtp_profile) or pd.isna(row.client_random) or pd.isna(row.server_random):
            problems.append(f"{name}: no negotiated SRTP profile or hello randoms in the capture")
            continue
        client_random = bytes.fromhex(row.client_random)
        secret = keylog.get(client_random)
        if secret is None:
            problems.append(f"{name}: the key log has no CLIENT_RANDOM line for this handshake")
            continue
        try:
            keys = _keys.export_srtp_keys(secret, client_random, bytes.fromhex(row.server_random),
                                          str(row.srtp_profile))
        except DecodeError as e:
            problems.append(f"{name}: {e}")
            continue
        peer = None if pd.isna(row.peer) else str(row.peer)
        for side, sender, receiver in (("client", row.client, row.server), ("server", row.server, row.client)):
            out[(sender, receiver, peer)] = KeySource(f"dtls {row.association} {side}",
                                                      lambda k=keys, s=side: k.decryptor(s))
    return out, problems


def given_keys(sdes: list, master: dict | list | None, default_profile: str = "AES_CM_128_HMAC_SHA1_80") -> list:
    """KeySources from SDES keys (webrtcpcap.keys.SdesKey) and user-given master keys: a {ssrc or "any": key} map
    (key: text as webrtcpcap.keys.parse_master_key reads it, or a MasterKey) or a list of MasterKey."""
    out = []
    for k in sdes:
        out.append(KeySource(f"sdes section {k.section} tag {k.tag}", k.decryptor, frozenset(k.ssrcs) or None))
    items = master.items() if isinstance(master, dict) else [("any", m) for m in (master or [])]
    for ssrc, key in items:
        key = key if isinstance(key, _keys.MasterKey) else _keys.parse_master_key(str(key), default_profile)
        any_ssrc = isinstance(ssrc, str) and ssrc.lower() == "any"
        label = "given" if any_ssrc else f"given ssrc 0x{int(ssrc):08x}"
        out.append(KeySource(label, key.decryptor, None if any_ssrc else frozenset([int(ssrc)])))
    return out


def _directions(table: pd.DataFrame) -> pd.Series:
    """Per row, the (sender, receiver, peer) its packet went."""
    peer = table["peer"].astype(object).where(table["relayed"], None) if "peer" in table else None
    src = [endpoint(a, p) for a, p in zip(table["src"].astype(object), table["sport"])]
    dst = [endpoint(a, p) for a, p in zip(table["dst"].astype(object), table["dport"])]
    peers = [None if (x is None or pd.isna(x)) else str(x) for x in (peer if peer is not None else [None] * len(src))]
    return pd.Series(list(zip(src, dst, peers)), index=table.index)


def decrypt(rtp: pd.DataFrame, rtp_payloads: Callable[[np.ndarray], list], rtcp_keys: dict, rtcp_payloads: list,
            dtls: dict, trial: list[KeySource], problems: list[str] = ()) -> Decryption:
    """Decrypt the capture's SRTP rows (`rtp`: cap.rtp without the decryption columns; `rtp_payloads(rows)` gives
    the UDP payloads of those row positions) and its RTCP datagrams (`rtcp_keys`: their key columns, as
    pipeline.Datagrams has them; `rtcp_payloads`: their payloads) with the association keys `dtls`
    (see dtls_keys) and the `trial` keys (see given_keys)."""
    n = len(rtp)
    rtp_status = np.full(n, NOT_TRIED, np.uint8)
    rtp_key: list = [None] * n
    decryptors: dict = {}
    rows_summary: dict = {}

    sources: dict = {}

    def decryptor(label, source, direction):
        key = (label, direction[:2], direction[2])
        if key not in decryptors:
            decryptors[key] = source.make()
            sources[label] = source
        return decryptors[key], key

    # -- SRTP: by association direction, then by trial per (direction, SSRC) ----------------------------------
    if n:
        direction = _directions(rtp).to_numpy()
        candidates = rtp["dtls_srtp"].to_numpy() | bool(trial)
        groups: dict = {}
        ssrc = rtp["ssrc"].to_numpy()
        for i in np.flatnonzero(candidates).tolist():
            d = direction[i]
            source = dtls.get(d)
            groups.setdefault((d, None if source is not None else int(ssrc[i])), []).append(i)
        payload_of: dict[int, bytes | None] = {}
        wanted = np.array(sorted({i for rows in groups.values() for i in rows}), dtype=np.int64)
        for i, p in zip(wanted.tolist(), rtp_payloads(wanted)):
            payload_of[i] = p
        plan: list[tuple[tuple, KeySource, list[int]]] = []
        for (d, s), rows in groups.items():
            source = dtls.get(d)
            if source is None:
                source = _trial(trial, s, [payload_of[i] for i in rows[:TRIAL_PACKETS]])
            if source is not None:
                plan.append((d, source, rows))
        # one decryptor per key and direction, fed in capture order
        by_decryptor: dict = {}
        for d, source, rows in plan:
            dec, key = decryptor(source.label, source, d)
            by_decryptor.setdefault(key, (dec, []))[1].extend(rows)
        for key, (dec, rows) in by_decryptor.items():
            rows.sort()
            usable = [i for i in rows if payload_of[i] is not None]
            result = dec.rtp([payload_of[i] for i in usable])
            rtp_status[usable] = result.status
            for i in rows:
                rtp_key[i] = key[0]
            rows_summary[key] = [len(rows), int(result.auth_ok.sum()), len(rows) - len(usable)]

    # -- SRTCP: the datagrams of the same directions -----------------------------------------------------------
    m = len(rtcp_payloads)
    rtcp_status = np.full(m, NOT_TRIED, np.uint8)
    rtcp_key: list = [None] * m
    rtcp_plain: list = [None] * m
    if m:
        table = pd.DataFrame({k: rtcp_keys[k] for k in ("src", "dst", "sport", "dport", "relayed", "peer")
                              if k in rtcp_keys})
        direction = _directions(table).to_numpy()
        sender_ssrc = [int.from_bytes(p[4:8], "big") if len(p) >= 8 else None for p in rtcp_payloads]
        plan_rtcp: dict = {}
        for i in range(m):
            d = direction[i]
            source = dtls.get(d)
            if source is None:
                # the key used for the same direction's RTP, else a trial
                used = [k for k in decryptors if k[1] == d[:2] and k[2] == d[2]]
                source = next((s for s in trial if s.label == used[0][0]), None) if used else None
                if source is None:
                    source = _trial(trial, sender_ssrc[i], [rtcp_payloads[i]], rtcp=True)
            if source is not None:
                plan_rtcp.setdefault((source.label, d[:2], d[2]), (source, d, []))[2].append(i)
        for key, (source, d, rows) in plan_rtcp.items():
            dec, _ = decryptor(source.label, source, d)
            result = dec.rtcp([rtcp_payloads[i] for i in rows])
            rtcp_status[rows] = result.status
            for i, p in zip(rows, result.plaintext):
                rtcp_plain[i] = p
                rtcp_key[i] = source.label
            counts = rows_summary.setdefault(key, [0, 0, 0])
            counts += [len(rows), int(result.auth_ok.sum())]

    summary = pd.DataFrame(
        [(label, s, r, p, *counts[:3], *(counts[3:5] or [0, 0])) for (label, (s, r), p), counts in rows_summary.items()],
        columns=["key", "sender", "receiver", "peer", "srtp_packets", "srtp_authenticated", "srtp_unreadable",
                 "srtcp_packets", "srtcp_authenticated"])
    return Decryption(rtp_status, rtp_key, rtcp_status, rtcp_key, rtcp_plain, list(problems), summary, sources)


def _trial(trial: list[KeySource], ssrc: int | None, payloads: list, rtcp: bool = False) -> KeySource | None:
    """The first trial key declared for `ssrc` (or for any SSRC) that authenticates one of `payloads`; when none
    does but exactly one key was declared for this very SSRC, that one (so its packets are flagged auth_failed
    rather than left untried)."""
    payloads = [p for p in payloads if p is not None]
    if not payloads:
        return None
    declared = [s for s in trial if s.ssrcs is not None and ssrc in s.ssrcs]
    for source in declared + [s for s in trial if s.ssrcs is None]:  # keys declared for this SSRC first
        dec = source.make()
        result = dec.rtcp(payloads) if rtcp else dec.rtp(payloads)
        if result.auth_ok.any():
            return source
    return declared[0] if len(declared) == 1 else None
