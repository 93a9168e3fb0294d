"""Which key opens which SRTP/SRTCP packets of a capture, and the decryption of them all (RFC 3711, RFC 5764,
RFC 4568, RFC 7714); and the DTLS 1.3 records of a handshake opened with the key log (RFC 9147, RFC 8446).

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

import hmac
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from ..protocols import dtls, srtp, tls13
from . import dtls_tables, schema as tables
from ..protocols import keys as _keys
from ..io.errors import DecodeError
from ..net.layers import endpoint

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


# --- DTLS 1.3: the encrypted records of a handshake, opened with the key log -----------------------------------

DTLS_DECRYPTED_SCHEMA: dict[str, str] = {
    **dtls_tables.DTLS_KEY_COLUMNS,
    "association": "int64",
    "sender": "category",
    "record": "uint8",
    "epoch": "uint16",
    "sequence_number": "uint64",
    "content_type": "category",
    "content_length": "uint32",
    "decrypted": "bool",
    "msg_type": "category",
    "message_seq": "UInt16",
    "length": "UInt32",
    "fragment_offset": "UInt32",
    "fragment_length": "UInt32",
    "reassembled": "boolean",
    "extensions": "string",
    "srtp_profiles": "string",
    "srtp_mki": "string",
    "certificate_fingerprint": "string",
    "certificate_subject": "string",
    "signature_scheme": "category",
    "finished_ok": "boolean",
    "alert_level": "category",
    "alert_description": "category",
    "acked_records": "string",
    "error": "category",
}

_DECRYPTED_STRINGS = ("extensions", "srtp_profiles", "srtp_mki", "certificate_fingerprint", "certificate_subject",
                      "acked_records")
_DECRYPTED_CATEGORIES = ("sender", "content_type", "msg_type", "signature_scheme", "alert_level", "alert_description",
                         "error")


def _association_of(keys: dict, associations: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per datagram, the number of the association it belongs to (-1: none) and whether the DTLS client sent it."""
    n = len(keys["frame"])
    assoc = np.full(n, -1, dtype=np.int64)
    from_client = np.zeros(n, dtype=bool)
    ends = {}
    for row in associations.itertuples(index=False):
        peer = None if pd.isna(row.peer) else str(row.peer)
        ends[(row.client, row.server, peer)] = (row.association, True)
        ends[(row.server, row.client, peer)] = (row.association, False)
    relayed = np.asarray(keys["relayed"], dtype=bool) if "relayed" in keys else np.zeros(n, dtype=bool)
    peers = np.asarray(keys["peer"], dtype=object) if "peer" in keys else np.full(n, None, dtype=object)
    src, dst = np.asarray(keys["src"], dtype=object), np.asarray(keys["dst"], dtype=object)
    sport, dport = np.asarray(keys["sport"]), np.asarray(keys["dport"])
    for i in range(n):
        peer = str(peers[i]) if relayed[i] and peers[i] is not None and not pd.isna(peers[i]) else None
        hit = ends.get((endpoint(src[i], sport[i]), endpoint(dst[i], dport[i]), peer))
        if hit is not None:
            assoc[i], from_client[i] = hit
    return assoc, from_client


def dtls13_records(keys: dict, payloads: list, associations: pd.DataFrame,
                   keylog: _keys.KeyLog | None) -> pd.DataFrame:
    """The DTLS 1.3 ciphertext records (RFC 9147 §4) of every association whose ClientHello random has TLS 1.3
    secrets in the key log, opened with them: the handshake (epoch 2: EncryptedExtensions, CertificateRequest,
    Certificate, CertificateVerify, Finished), ACKs and alerts, and application data (epoch 3 and later).

    `keys`/`payloads`: the DTLS datagrams (pipeline's dtls_datagrams: key columns and UDP payloads, capture order);
    `associations`: webrtcpcap.handshake.associations (client, server, peer, client_random, cipher_suite).  The
    record keys use the label prefix "dtls13" (RFC 9147 §5.9; what Firefox uses), "tls13 " being tried after it;
    the suite is the ServerHello's, else every suite whose hash fits the secrets is tried.  Records of other
    associations are not listed.

    One row per handshake fragment of an opened handshake record, one row per other opened record, one row per
    record that did not open.  Columns: the DTLS key columns (frame, t, src, dst, sport, dport, transport, relayed,
    relay, peer), association (int64, as in the associations table), sender (category: client/server), record
    (uint8, index in the datagram), epoch (uint16, the full epoch), sequence_number (uint64, the full 64-bit record
    number, reconstructed as RFC 9147 §4.2.2 says; the epoch bits and wire bits when the record did not open),
    content_type (category: handshake, ack, alert, application_data, ...; null when not opened), content_length
    (uint32, bytes of the inner content), decrypted (bool: the AEAD tag verified), msg_type (category, TLS 1.3
    handshake names: encrypted_extensions, certificate_request, certificate, certificate_verify, finished,
    new_session_ticket, key_update...), message_seq (UInt16), length (UInt32, the whole message), fragment_offset,
    fragment_length (UInt32), reassembled (boolean: this fragment completed the message; retransmitted copies that
    complete it again are True too), and on the row that completed a message: extensions (names, EncryptedExtensions
    and CertificateRequest), srtp_profiles (the use_srtp profile the server chose, in EncryptedExtensions), srtp_mki
    (hex), certificate_fingerprint (SHA-256 "AA:BB:..." of the sender's certificate, as a=fingerprint writes it),
    certificate_subject, signature_scheme (category, CertificateVerify), finished_ok (boolean: verify_data equals
    HMAC(finished_key, transcript hash) over the reassembled handshake, RFC 8446 §4.4.4; null when a message of
    the transcript is missing); alert_level, alert_description (category, an opened alert); acked_records (string
    "epoch:seq,...", an ACK's record numbers, RFC 9147 §7); error (category: why a record did not open, or why a
    message did not decode).  Key material is never written."""
    own_columns = [c for c in DTLS_DECRYPTED_SCHEMA if c not in dtls_tables.DTLS_KEY_COLUMNS]
    cols: dict[str, list] = {name: [] for name in ("row", *own_columns)}
    if keylog is None or associations is None or not len(associations) or not len(payloads):
        return _decrypted_table(cols, keys)
    readers: dict = {}
    assoc_secrets: dict = {}
    for row in associations.itertuples(index=False):
        if pd.isna(row.client_random):
            continue
        secrets = keylog.tls13(bytes.fromhex(str(row.client_random)))
        if secrets is None:
            continue
        suites = None
        if not pd.isna(row.cipher_suite):
            try:
                suites = [tls13.cipher_suite(str(row.cipher_suite))]
            except DecodeError:
                suites = None  # a TLS 1.2 name: the ServerHello's legacy field; try the suites that fit
        for sender in ("client", "server"):
            readers[(row.association, sender)] = tls13.RecordReader(secrets.traffic_secrets(sender), suites,
                                                                    tls13.LABEL_PREFIXES)
        assoc_secrets[row.association] = secrets
    if not readers:
        return _decrypted_table(cols, keys)
    assoc, from_client = _association_of(keys, associations)
    partial: dict = {}
    messages: dict = {}  # (association, sender, message_seq) -> (msg_type, body, encrypted, cols row)
    for i in np.flatnonzero(assoc >= 0).tolist():
        a = int(assoc[i])
        sender = "client" if from_client[i] else "server"
        reader = readers.get((a, sender))
        if reader is None:
            continue
        data, offset, index = payloads[i], 0, 0
        while offset < len(data) and index <= 255:
            try:
                record, offset = dtls.parse_record(data, offset)
            except DecodeError as e:
                if dtls.is_unified_header(data[offset]):  # a ciphertext record we cannot even delimit: say so
                    _new_row(cols, row=i, association=a, sender=sender, record=index, epoch=data[offset] & 0x03,
                             sequence_number=0, content_length=0, decrypted=False, error=str(e))
                break  # nothing more can be delimited in this datagram (dtls_records says why too)
            if isinstance(record, dtls.Record):
                if record.header.epoch == 0 and record.header.content_type == dtls.ContentType.HANDSHAKE:
                    _plaintext_messages(record, a, sender, partial, messages)
            else:
                _open_row(cols, i, index, a, sender, record, reader, partial, messages)
            index += 1
    _check_finished(cols, messages, assoc_secrets, readers)
    return _decrypted_table(cols, keys)


def _plaintext_messages(record, a: int, sender: str, partial: dict, messages: dict) -> None:
    """Reassemble the plaintext hellos too: the transcript that Finished covers starts with them."""
    try:
        fragments = dtls.parse_handshake_fragments(record.fragment)
    except DecodeError:
        return
    for frag in fragments:
        key = (a, sender, "plain", frag.message_seq)
        state, body = dtls.add_fragment(partial.get(key), frag)
        partial[key] = state
        if body is not None and not state.conflict:
            messages.setdefault((a, sender, frag.message_seq), (frag.msg_type, body, False))


def _new_row(cols: dict, **values) -> int:
    for name, col in cols.items():
        col.append(values.get(name))
    return len(cols["row"]) - 1


def _open_row(cols: dict, i: int, index: int, a: int, sender: str, record, reader, partial: dict,
              messages: dict) -> None:
    base = dict(row=i, association=a, sender=sender, record=index)
    try:
        opened = reader.open(record)
    except DecodeError as e:
        _new_row(cols, **base, epoch=record.epoch, sequence_number=record.sequence_number, content_length=0,
                 decrypted=False, error=str(e))
        return
    base.update(epoch=opened.epoch, sequence_number=opened.sequence_number, content_type=opened.content_type_name,
                content_length=len(opened.content), decrypted=True)
    if opened.content_type != dtls.ContentType.HANDSHAKE:
        r = _new_row(cols, **base)
        try:
            if opened.content_type == dtls.ContentType.ALERT:
                alert = dtls.parse_alert(opened.content)
                cols["alert_level"][r], cols["alert_description"][r] = alert.level_name, alert.description_name
            elif opened.content_type == tls13.CONTENT_TYPE_ACK:
                cols["acked_records"][r] = ",".join(f"{e}:{s}" for e, s in dtls.parse_ack(opened.content).record_numbers)
        except DecodeError as e:
            cols["error"][r] = str(e)
        return
    offset = 0
    while offset < len(opened.content):
        try:
            frag, offset = dtls.parse_handshake_fragment(opened.content, offset)
        except DecodeError as e:
            _new_row(cols, **base, error=str(e))
            return
        key = (a, sender, "enc", frag.message_seq)
        state, body = dtls.add_fragment(partial.get(key), frag)
        partial[key] = state
        name = _HANDSHAKE13_NAMES.get(frag.msg_type, dtls.handshake_type_name(frag.msg_type))
        r = _new_row(cols, **base, msg_type=name, message_seq=frag.message_seq, length=frag.length,
                     fragment_offset=frag.fragment_offset, fragment_length=frag.fragment_length,
                     reassembled=body is not None, error=state.conflict)
        if body is not None:
            messages.setdefault((a, sender, frag.message_seq), (frag.msg_type, body, True))
            _message13_facts(cols, r, frag.msg_type, body)


# TLS 1.3 names where they differ from DTLS 1.2's table (webrtcpcap.protocols.dtls knows the 1.2 types)
_HANDSHAKE13_NAMES = {tls13.ENCRYPTED_EXTENSIONS: "encrypted_extensions",
                      tls13.NEW_SESSION_TICKET: "new_session_ticket", tls13.KEY_UPDATE: "key_update",
                      5: "end_of_early_data", 254: "message_hash"}


def _message13_facts(cols: dict, r: int, msg_type: int, body: bytes) -> None:
    try:
        if msg_type == tls13.ENCRYPTED_EXTENSIONS:
            extensions = dtls.parse_encrypted_extensions(body).extensions
            cols["extensions"][r] = ",".join(e.name for e in extensions)
            for e in extensions:
                if e.type == dtls.ExtensionType.USE_SRTP:
                    profiles, mki = dtls.use_srtp(e)
                    cols["srtp_profiles"][r] = ",".join(dtls.srtp_profile_name(p) for p in profiles)
                    cols["srtp_mki"][r] = mki.hex()
        elif msg_type == tls13.CERTIFICATE_REQUEST:
            # RFC 8446 §4.3.2: certificate_request_context<0..255>, extensions<2..2^16-1>
            if not body or len(body) < 1 + body[0] + 2:
                raise DecodeError("TLS 1.3 CertificateRequest is truncated")
            extensions = dtls.parse_encrypted_extensions(body[1 + body[0]:]).extensions
            cols["extensions"][r] = ",".join(e.name for e in extensions)
        elif msg_type == tls13.CERTIFICATE:
            cert = dtls.parse_certificate_13(body)
            if cert.certificate_list:
                info = dtls.certificate_info(cert.certificate_list[0].cert_data)
                cols["certificate_fingerprint"][r], cols["certificate_subject"][r] = info.fingerprint, info.subject
        elif msg_type == tls13.CERTIFICATE_VERIFY:
            cols["signature_scheme"][r] = dtls.signature_scheme_name(dtls.parse_certificate_verify(body).algorithm)
        elif msg_type == tls13.FINISHED:
            dtls.parse_finished(body)
    except DecodeError as e:
        cols["error"][r] = str(e)


def _check_finished(cols: dict, messages: dict, assoc_secrets: dict, readers: dict) -> None:
    """finished_ok of each reassembled Finished: the transcript is the hellos (client then server, by
    message_seq), the server's encrypted messages, and for the client's Finished also the server's Finished and the
    client's encrypted messages before its own (RFC 8446 §4.4.1, with DTLS 1.3's TLS-style headers, RFC 9147 §5.2).
    Left null when a message of the transcript was not captured whole (message_seq has a gap, or no hello)."""
    finished_rows: dict = {}
    for r, (a, sender, mt, done) in enumerate(zip(cols["association"], cols["sender"], cols["msg_type"],
                                                  cols["reassembled"])):
        if mt == "finished" and done:
            finished_rows.setdefault((a, sender), []).append(r)
    for a, secrets in assoc_secrets.items():
        chosen = readers[(a, "server")].chosen or readers[(a, "client")].chosen
        if chosen is None:
            continue
        suite, prefix = chosen
        mine = {s: sorted((seq, m) for (aa, ss, seq), m in messages.items() if aa == a and ss == s)
                for s in ("client", "server")}
        hello_seqs = {s: [seq for seq, m in mine[s] if not m[2]] for s in mine}
        whole = all(seqs and seqs == list(range(len(seqs))) for seqs in hello_seqs.values())
        if not whole or mine["client"][0][1][0] != dtls.HandshakeType.CLIENT_HELLO:
            continue  # a hello is missing: no transcript to check Finished against
        hellos = sorted((seq, 0 if s == "client" else 1, m) for s in mine for seq, m in mine[s] if not m[2])
        transcript = [(m[0], m[1]) for _, _, m in hellos]
        for sender in ("server", "client"):  # the client's Finished covers the server's
            encrypted = [(seq, m[0], m[1]) for seq, m in mine[sender] if m[2]]
            position = next((k for k, m in enumerate(encrypted) if m[1] == tls13.FINISHED), None)
            base_key = getattr(secrets, f"{sender}_handshake_traffic_secret")
            first = len(hello_seqs[sender])
            if position is None or base_key is None or [m[0] for m in encrypted[:position + 1]] != list(
                    range(first, first + position + 1)):
                break  # its flight is not all here
            transcript = transcript + [(m[1], m[2]) for m in encrypted[:position]]
            expected = tls13.finished_verify_data(base_key, tls13.transcript_hash(transcript, suite.hash_name),
                                                  suite.hash_name, prefix)
            for r in finished_rows.get((a, sender), []):
                cols["finished_ok"][r] = hmac.compare_digest(expected, encrypted[position][2])
            transcript = transcript + [(encrypted[position][1], encrypted[position][2])]


def _decrypted_table(cols: dict, keys: dict) -> pd.DataFrame:
    rows = np.asarray(cols["row"], dtype=np.int64)
    out = {}
    for name in dtls_tables.DTLS_KEY_COLUMNS:
        if name in keys:
            value = tables.take_rows(keys[name], rows)
        elif name == "relayed":
            value = np.zeros(len(rows), dtype=bool)
        else:
            value = [None] * len(rows)
        if dtls_tables.DTLS_KEY_COLUMNS[name] == "category" and not isinstance(value, pd.Categorical):
            value = pd.Categorical(np.asarray(value, dtype=object) if len(rows) else [])
        out[name] = value
    for name, dtype in DTLS_DECRYPTED_SCHEMA.items():
        if name in dtls_tables.DTLS_KEY_COLUMNS:
            continue
        values = cols[name]
        if name in _DECRYPTED_CATEGORIES:
            out[name] = pd.Categorical(values)
        elif dtype in ("UInt16", "UInt32", "boolean"):
            out[name] = pd.array(values, dtype=dtype)
        elif dtype == "string":
            out[name] = values
        else:
            out[name] = np.asarray(values, dtype=dtype) if values else np.zeros(0, dtype=dtype)
    return tables.frame_table(out, DTLS_DECRYPTED_SCHEMA)


DTLS13_ASSOCIATIONS_SCHEMA: dict[str, str] = {
    "association": "int64",
    "srtp_profile": "category",
    "client_fingerprint": "string",
    "server_fingerprint": "string",
    "server_finished_t": "float64",
    "client_finished_t": "float64",
    "server_finished_ok": "boolean",
    "client_finished_ok": "boolean",
    "records_opened": "int64",
    "records_failed": "int64",
    "alerts": "string",
}


def dtls13_associations(decrypted: pd.DataFrame) -> pd.DataFrame:
    """What the opened DTLS 1.3 records (dtls13_records, cap.dtls_decrypted) say of each association, one row per
    association, for the handshake verdict and the SDP checks: srtp_profile (category, EncryptedExtensions' use_srtp
    answer), client_fingerprint, server_fingerprint (SHA-256 of each side's certificate, as a=fingerprint writes it),
    server_finished_t, client_finished_t (float64 s, the first time each side's Finished was completed; NaN when
    not seen: the client's Finished ends a DTLS 1.3 handshake, RFC 9147 §5.8), server_finished_ok,
    client_finished_ok (boolean: verify_data checked over the transcript; null when not checked), records_opened,
    records_failed (int64, ciphertext records), alerts (string: "warning close_notify from server at 6.085 s", ...;
    null without alerts).  Analysis over the table only: no bytes are read here."""
    rows = []
    for a, g in decrypted.groupby("association", sort=True):
        done = g[g["reassembled"].fillna(False).astype(bool)]
        row = {"association": int(a), "records_opened": int(g.drop_duplicates(["frame", "record"])["decrypted"].sum()),
               "records_failed": int((~g.drop_duplicates(["frame", "record"])["decrypted"]).sum())}
        ee = done[(done["msg_type"].astype(object) == "encrypted_extensions") & done["srtp_profiles"].notna()]
        row["srtp_profile"] = str(ee["srtp_profiles"].iloc[0]) if len(ee) else None
        for side in ("client", "server"):
            mine = done[done["sender"].astype(object) == side]
            prints = mine["certificate_fingerprint"].dropna()
            row[f"{side}_fingerprint"] = str(prints.iloc[0]) if len(prints) else None
            fin = mine[mine["msg_type"].astype(object) == "finished"]
            row[f"{side}_finished_t"] = float(fin["t"].min()) if len(fin) else np.nan
            ok = fin["finished_ok"].dropna()
            row[f"{side}_finished_ok"] = bool(ok.all()) if len(ok) else None
        alerts = g[g["alert_description"].notna()]
        row["alerts"] = ", ".join(f"{lvl} {desc} from {snd} at {t:.3f} s" for lvl, desc, snd, t in zip(
            alerts["alert_level"].astype(object), alerts["alert_description"].astype(object),
            alerts["sender"].astype(object), alerts["t"])) or None
        rows.append(row)
    if not rows:
        return tables.empty_table(DTLS13_ASSOCIATIONS_SCHEMA)
    df = pd.DataFrame(rows, columns=list(DTLS13_ASSOCIATIONS_SCHEMA))
    return df.astype({k: v for k, v in DTLS13_ASSOCIATIONS_SCHEMA.items()})
