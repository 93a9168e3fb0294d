"""Which key opens which SRTP/SRTCP packets of a capture, and the decryption of them all (RFC 3711, RFC 5764,
RFC 4568, RFC 7714).  The DTLS 1.3 records of a handshake, opened with the key log (RFC 9147, RFC 8446), are in
tables/dtls13_records.py.

Strategy: keys come from three places.  A DTLS-SRTP association whose client random is in the key log gives one
key per direction (RFC 5764 §4.2: the DTLS client's packets use client_write); its packets are found by their
5-tuple (and TURN peer when relayed) — no trial needed.  DTLS 1.2 keys come from the CLIENT_RANDOM master secret
and the ServerHello's profile; DTLS 1.3 keys from EXPORTER_SECRET, with the profile of the EncryptedExtensions
when the handshake records could be opened (dtls13_records), else each profile the ClientHello offered is a
candidate and the first that authenticates the direction's first packets is kept.  SDES keys (a=crypto lines of
the SDPs) and master keys given by the user are tried instead: on the first packets of each (direction, SSRC) not
covered by an association, and kept where they authenticate.  Each key and direction has one
webrtcpcap.protocols.srtp.Decryptor, fed its packets in capture order, so that libsrtp follows each SSRC's rollover counter.
Nothing here prints or stores key bytes; keys are named by where they came from ("dtls 0 client", "sdes section 1
tag 1", "given ssrc 0x1c090d13") and the summary says how each was made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from ..protocols import srtp, tls13
from ..protocols import keys as _keys
from ..io.errors import DecodeError
from ..net.layers import endpoint
# The DTLS 1.3 records opened with the key log are in tables/dtls13_records.py; their names stay here too.
from .dtls13_records import (DTLS13_ASSOCIATIONS_SCHEMA, DTLS_DECRYPTED_SCHEMA, dtls13_associations,  # noqa: F401
                             dtls13_records)

NOT_TRIED = 255  # status of a packet no key was tried on (plaintext RTP, or no key for its direction)
TRIAL_PACKETS = 4  # packets of a stream a trial key is tried on


@dataclass(frozen=True)
class KeySource:
    """One SRTP master key and where it came from.  `ssrcs`: the SSRCs it is declared for (None: any); `profile`:
    its SRTP protection profile name; `derivation`: how it was made ("DTLS 1.2 PRF", "DTLS 1.3 exporter, label
    prefix 'dtls13'", "SDES a=crypto", "given")."""

    label: str
    make: Callable[[], srtp.Decryptor] = field(repr=False)
    ssrcs: frozenset | None = None
    profile: str | None = None
    derivation: str | None = None


@dataclass
class Decryption:
    """The result of decrypting a capture's SRTP and SRTCP.

    `rtp_status` / `rtcp_status`: per row of cap.rtp / per RTCP datagram, a webrtcpcap.protocols.srtp.Status code or
    NOT_TRIED; `rtp_key` / `rtcp_key`: the label of the key used (None when not tried); `rtcp_plaintext`: the
    decrypted compound of each authenticated SRTCP datagram (None elsewhere); `problems`: why keys could not be
    made (an association without its client random in the key log, ...); `summary`: one row per key and
    direction: key, sender, receiver, peer, srtp_packets, srtp_authenticated, srtp_unreadable, srtcp_packets,
    srtcp_authenticated, profile (the SRTP profile), derivation (how the key was made: "DTLS 1.2 PRF", "DTLS 1.3
    exporter, label prefix 'dtls13'", "SDES a=crypto", "given") — which key opened what, for every source."""

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


def dtls_keys(associations: pd.DataFrame, keylog: _keys.KeyLog | None, handshakes: pd.DataFrame | None = None,
              decrypted: pd.DataFrame | None = None) -> tuple[dict, list[str]]:
    """For each DTLS association of `handshake.associations` whose client random is in the key log: its two
    directions, {(sender, receiver, peer): KeySource or tuple of candidate KeySources}, and the problems met (no key
    log line, no profile...).

    DTLS 1.2 (a CLIENT_RANDOM line): the RFC 5705 exporter over the hello randoms with the ServerHello's profile.
    DTLS 1.3 (an EXPORTER_SECRET line): the RFC 8446 §7.5 exporter with the cipher suite's hash.  Its profile is in
    the encrypted EncryptedExtensions: taken from `decrypted` (dtls13_records) when the handshake was opened, else
    the profiles the ClientHello offered (`handshakes`, cap.dtls_handshakes) are candidates, each with the "dtls13"
    label prefix of RFC 9147 §5.9 first and "tls13 " after; `decrypt` keeps the first candidate that authenticates
    the direction's first packets."""
    out: dict = {}
    problems: list[str] = []
    if keylog is None or associations is None or not len(associations):
        return out, problems
    for row in associations.itertuples(index=False):
        name = f"DTLS association {row.association} ({row.client} -> {row.server})"
        if pd.isna(row.client_random):
            problems.append(f"{name}: no ClientHello random in the capture")
            continue
        client_random = bytes.fromhex(row.client_random)
        secret = keylog.get(client_random)
        tls13_secrets = keylog.tls13(client_random)
        peer = None if pd.isna(row.peer) else str(row.peer)
        sides = (("client", row.client, row.server), ("server", row.server, row.client))
        if secret is not None:
            if pd.isna(row.srtp_profile) or pd.isna(row.server_random):
                problems.append(f"{name}: no negotiated SRTP profile or hello randoms in the capture")
                continue
            try:
                keys = _keys.export_srtp_keys(secret, client_random, bytes.fromhex(row.server_random),
                                              str(row.srtp_profile))
            except DecodeError as e:
                problems.append(f"{name}: {e}")
                continue
            for side, sender, receiver in sides:
                out[(sender, receiver, peer)] = KeySource(f"dtls {row.association} {side}",
                                                          lambda k=keys, s=side: k.decryptor(s),
                                                          profile=keys.profile.name, derivation="DTLS 1.2 PRF")
            continue
        if tls13_secrets is None or tls13_secrets.exporter_secret is None:
            # name the line this key log would hold: it is TLS 1.2, TLS 1.3 or both
            wanted = ("CLIENT_RANDOM" if not keylog.tls13_client_randoms() else "EXPORTER_SECRET" if not len(keylog)
                      else "CLIENT_RANDOM or EXPORTER_SECRET")
            problems.append(f"{name}: the key log has no {wanted} line for this handshake")
            continue
        profiles = _tls13_profiles(row, handshakes, decrypted)
        hash_name = None
        if not pd.isna(row.cipher_suite):
            try:
                hash_name = tls13.cipher_suite(str(row.cipher_suite)).hash_name
            except DecodeError:
                hash_name = None  # not a TLS 1.3 suite name: the secret's length says the hash
        candidates: dict = {side: [] for side, _, _ in sides}
        error = None
        for prefix in tls13.LABEL_PREFIXES:
            for profile in profiles:
                try:
                    keys = _keys.export_srtp_keys_tls13(tls13_secrets.exporter_secret, profile, hash_name, prefix)
                except DecodeError as e:
                    error = e
                    continue
                for side, _, _ in sides:
                    candidates[side].append(KeySource(
                        f"dtls {row.association} {side}", lambda k=keys, s=side: k.decryptor(s), profile=profile.name,
                        derivation=f"DTLS 1.3 exporter, label prefix {prefix.decode()!r}"))
        if not candidates["client"]:
            problems.append(f"{name}: {error}")
            continue
        for side, sender, receiver in sides:
            c = candidates[side]
            out[(sender, receiver, peer)] = c[0] if len(c) == 1 else tuple(c)
    return out, problems


def _tls13_profiles(row, handshakes: pd.DataFrame | None, decrypted: pd.DataFrame | None) -> list[srtp.Profile]:
    """The SRTP profiles to try for a DTLS 1.3 association: the one EncryptedExtensions chose when it was opened,
    else the ServerHello column (a DTLS 1.2-style answer), else those its ClientHello offered, else all."""
    if decrypted is not None and len(decrypted):
        ee = decrypted[(decrypted["association"] == row.association)
                       & (decrypted["msg_type"].astype(object) == "encrypted_extensions")
                       & decrypted["reassembled"].fillna(False).astype(bool) & decrypted["srtp_profiles"].notna()]
        if len(ee):
            return _profiles(str(ee["srtp_profiles"].iloc[0]))[:1] or list(srtp.Profile)
    if not pd.isna(row.srtp_profile):
        return _profiles(str(row.srtp_profile)) or list(srtp.Profile)
    if handshakes is not None and len(handshakes):
        hs = handshakes[(handshakes["msg_type"].astype(object) == "client_hello") & handshakes["srtp_profiles"].notna()]
        for src, sport, dst, dport, offered in zip(hs["src"].astype(object), hs["sport"], hs["dst"].astype(object),
                                                   hs["dport"], hs["srtp_profiles"]):
            if endpoint(src, sport) == row.client and endpoint(dst, dport) == row.server:
                found = _profiles(str(offered))
                if found:
                    return found
    return list(srtp.Profile)


def _profiles(names: str) -> list[srtp.Profile]:
    out = []
    for name in names.split(","):
        try:
            out.append(srtp.Profile.from_name(name))
        except DecodeError:
            continue  # a profile libsrtp does not know (e.g. a NULL cipher): cannot be tried
    return out


def given_keys(sdes: list, master: dict | list | None, default_profile: str = "AES_CM_128_HMAC_SHA1_80") -> list:
    """KeySources from SDES keys (webrtcpcap.protocols.keys.SdesKey) and user-given master keys: a {ssrc or "any": key} map
    (key: text as webrtcpcap.protocols.keys.parse_master_key reads it, or a MasterKey) or a list of MasterKey."""
    out = []
    for k in sdes:
        out.append(KeySource(f"sdes section {k.section} tag {k.tag}", k.decryptor, frozenset(k.ssrcs) or None,
                             k.profile.name, "SDES a=crypto"))
    items = master.items() if isinstance(master, dict) else [("any", m) for m in (master or [])]
    for ssrc, key in items:
        key = key if isinstance(key, _keys.MasterKey) else _keys.parse_master_key(str(key), default_profile)
        any_ssrc = isinstance(ssrc, str) and ssrc.lower() == "any"
        label = "given" if any_ssrc else f"given ssrc {int(ssrc)}"
        out.append(KeySource(label, key.decryptor, None if any_ssrc else frozenset([int(ssrc)]), key.profile.name,
                             "given"))
    return out


def _directions(table: pd.DataFrame) -> pd.Series:
    """Per row, the (sender, receiver, peer) its packet went."""
    codes, names = _direction_codes(table)
    return pd.Series([names[c] for c in codes.tolist()], index=table.index, dtype=object)


def _direction_codes(table: pd.DataFrame) -> tuple[np.ndarray, list]:
    """Per row, a code for the (sender, receiver, peer) its packet went, and those triples by code: the strings are
    made once per direction, not once per packet."""
    n = len(table)
    if not n:
        return np.zeros(0, dtype=np.int64), []

    def codes_of(col):
        v = table[col]
        if isinstance(v.dtype, pd.CategoricalDtype):
            return v.cat.codes.to_numpy().astype(np.int64), list(v.cat.categories)
        uniq, inv = np.unique(v.astype(str).to_numpy(), return_inverse=True)
        return inv.astype(np.int64), list(uniq)

    src, src_names = codes_of("src")
    dst, dst_names = codes_of("dst")
    if "peer" in table and "relayed" in table:
        peer, peer_names = codes_of("peer")
        peer = np.where(table["relayed"].to_numpy(dtype=bool), peer, -1)
    else:
        peer, peer_names = np.full(n, -1, dtype=np.int64), []
    inv, uniq = _factorize([src, table["sport"].to_numpy().astype(np.int64), dst,
                            table["dport"].to_numpy().astype(np.int64), peer])
    names = [(endpoint(src_names[a], b), endpoint(dst_names[c], d), None if e < 0 else str(peer_names[e]))
             for a, b, c, d, e in uniq.tolist()]
    return inv, names


def _factorize(columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the distinct rows of some integer columns (hash-based: np.unique(axis=0) sorts, far slower) and the
    distinct rows, in order of first appearance."""
    frame = pd.DataFrame({str(i): c for i, c in enumerate(columns)})
    codes = frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy().astype(np.int64)
    first = np.full(int(codes.max()) + 1 if len(codes) else 0, -1, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes))[::-1]
    return codes, np.stack(columns, axis=1)[first]


DECRYPT_SLICE = 1 << 16  # packets read and decrypted at a time: memory stays bounded, plaintexts are not kept


def decrypt(rtp: pd.DataFrame, rtp_payloads: Callable[[np.ndarray], list], rtcp_keys: dict, rtcp_payloads: list,
            dtls: dict, trial: list[KeySource], problems: list[str] = ()) -> Decryption:
    """Decrypt the capture's SRTP rows (`rtp`: cap.rtp without the decryption columns; `rtp_payloads(rows)` gives
    the UDP payloads of those row positions, ascending) and its RTCP datagrams (`rtcp_keys`: their key columns, as
    pipeline.Datagrams has them; `rtcp_payloads`: their payloads) with the association keys `dtls`
    (see dtls_keys) and the `trial` keys (see given_keys).  SRTP is read and decrypted DECRYPT_SLICE packets at a
    time per key and direction, in capture order; only the status of each packet is kept (the plaintext of one
    packet is made again on demand, see Capture.rtp_payload)."""
    n = len(rtp)
    rtp_status = np.full(n, NOT_TRIED, np.uint8)
    rtp_key = np.full(n, None, dtype=object)
    decryptors: dict = {}
    rows_summary: dict = {}

    sources: dict = {}
    resolved: dict = {}  # direction -> the candidate KeySource that authenticated its first packets

    def decryptor(label, source, direction):
        key = (label, direction[:2], direction[2])
        if key not in decryptors:
            decryptors[key] = source.make()
            sources[label] = source
        return decryptors[key], key

    # -- SRTP: by association direction, then by trial per (direction, SSRC) ----------------------------------
    if n:
        code, names = _direction_codes(rtp)
        candidates = rtp["dtls_srtp"].to_numpy(dtype=bool) | bool(trial)
        ssrc = rtp["ssrc"].to_numpy().astype(np.int64)
        has_dtls = np.array([names[c] in dtls for c in range(len(names))], dtype=bool)
        # group: the direction for association keys; the direction and SSRC for keys that are tried
        gkey = np.where(has_dtls[code], -1, ssrc)
        rows_all = np.flatnonzero(candidates)
        plan: dict = {}  # decryptor key -> (decryptor, [row arrays])
        if len(rows_all):
            inv, uniq = _factorize([code[rows_all], gkey[rows_all]])
            order = np.argsort(inv, kind="stable")
            bounds = np.r_[0, np.cumsum(np.bincount(inv, minlength=len(uniq)))]
            for g, (c, s) in enumerate(uniq.tolist()):
                rows = rows_all[order[bounds[g]:bounds[g + 1]]]
                d = names[c]
                source = dtls.get(d)
                if isinstance(source, tuple):  # DTLS 1.3 without a known profile: authentication tells
                    source = resolved.setdefault(d, _resolve(source, rtp_payloads(rows[:TRIAL_PACKETS])))
                if source is None:
                    source = _trial(trial, int(s), rtp_payloads(rows[:TRIAL_PACKETS]))
                if source is None:
                    continue
                dec, key = decryptor(source.label, source, d)
                plan.setdefault(key, (dec, []))[1].append(rows)
        for key, (dec, parts) in plan.items():
            rows = np.sort(np.concatenate(parts))
            authentic = unreadable = 0
            for lo in range(0, len(rows), DECRYPT_SLICE):
                part = rows[lo:lo + DECRYPT_SLICE]
                payloads = rtp_payloads(part)
                have = np.array([p is not None for p in payloads], dtype=bool)
                result = dec.rtp([p for p in payloads if p is not None])
                rtp_status[part[have]] = result.status
                authentic += int(result.auth_ok.sum())
                unreadable += int((~have).sum())
            rtp_key[rows] = key[0]
            rows_summary[key] = [len(rows), authentic, unreadable]

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
        for d in set(direction.tolist()):
            if isinstance(dtls.get(d), tuple) and d not in resolved:  # no SRTP that way: try its SRTCP
                first = [rtcp_payloads[i] for i in np.flatnonzero(direction == d)[:TRIAL_PACKETS]]
                resolved[d] = _resolve(dtls[d], first, rtcp=True)
        for i in range(m):
            d = direction[i]
            source = dtls.get(d)
            if isinstance(source, tuple):
                source = resolved[d]
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
        [(label, s, r, p, *counts[:3], *(counts[3:5] or [0, 0]), sources[label].profile, sources[label].derivation)
         for (label, (s, r), p), counts in rows_summary.items()],
        columns=["key", "sender", "receiver", "peer", "srtp_packets", "srtp_authenticated", "srtp_unreadable",
                 "srtcp_packets", "srtcp_authenticated", "profile", "derivation"])
    return Decryption(rtp_status, rtp_key, rtcp_status, rtcp_key, rtcp_plain, list(problems), summary, sources)


def _resolve(candidates: tuple, payloads: list, rtcp: bool = False) -> KeySource:
    """The first candidate key that authenticates one of `payloads`; the first candidate when none does (its
    packets are then flagged auth_failed rather than left untried)."""
    payloads = [p for p in payloads if p is not None]
    for source in candidates:
        dec = source.make()
        result = dec.rtcp(payloads) if rtcp else dec.rtp(payloads)
        if len(payloads) and result.auth_ok.any():
            return source
    return candidates[0]


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
