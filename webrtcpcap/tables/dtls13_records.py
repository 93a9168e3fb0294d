"""The DTLS 1.3 records of a handshake opened with the key log (RFC 9147, RFC 8446): one row per encrypted record
(handshake messages after the ServerHello, ACKs, alerts, application data), Finished checked, and the associations
they describe.  Nothing here prints or stores key bytes."""

from __future__ import annotations

import hmac

import numpy as np
import pandas as pd

from ..io.errors import DecodeError
from ..net.layers import endpoint
from ..protocols import dtls, tls13
from ..protocols import keys as _keys
from . import dtls_tables, schema as tables

DTLS_DECRYPTED_SCHEMA: dict[str, str] = {
    **dtls_tables.DTLS_DATAGRAM_COLUMNS,
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
    own_columns = [c for c in DTLS_DECRYPTED_SCHEMA if c not in dtls_tables.DTLS_DATAGRAM_COLUMNS]
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
    for name in dtls_tables.DTLS_DATAGRAM_COLUMNS:
        if name in keys:
            value = tables.take_rows(keys[name], rows)
        elif name == "relayed":
            value = np.zeros(len(rows), dtype=bool)
        else:
            value = [None] * len(rows)
        if dtls_tables.DTLS_DATAGRAM_COLUMNS[name] == "category" and not isinstance(value, pd.Categorical):
            value = pd.Categorical(np.asarray(value, dtype=object) if len(rows) else [])
        out[name] = value
    for name, dtype in DTLS_DECRYPTED_SCHEMA.items():
        if name in dtls_tables.DTLS_DATAGRAM_COLUMNS:
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
