"""The dtls_records and dtls_handshakes tables (RFC 6347, RFC 5764) from the datagrams classified as DTLS.

Strategy: webrtcpcap.protocols.dtls decodes (records, handshake fragments, reassembly, messages, certificates); this module
only loops over datagrams, calls those parsers, catches DecodeError per record or message and writes the reason in
the `error` column, and builds the two tables with explicit schemas.  Nothing here reads bytes by hand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..protocols import dtls, stun
from . import schema as tables
from ..io.errors import DecodeError
from ..net.layers import endpoint as _endpoint

# The key columns every DTLS row starts with (the datagram's keys, as pipeline.Datagrams carries them).
DTLS_KEY_COLUMNS: dict[str, str] = {
    **tables.KEY_COLUMNS,
    "transport": "category",
    "relayed": "bool",
    "relay": "category",
    "peer": "category",
}

DTLS_RECORDS_SCHEMA: dict[str, str] = {
    **DTLS_KEY_COLUMNS,
    "record": "uint8",
    "content_type": "category",
    "version": "category",
    "epoch": "UInt16",
    "sequence_number": "UInt64",
    "length": "UInt16",
    "encrypted": "bool",
    "alert_level": "category",
    "alert_description": "category",
    "dtls13": "bool",
    "in_stun": "bool",
    "epoch_bits": "UInt8",
    "sequence_bits": "UInt8",
    "connection_id": "string",
    "ack_record_numbers": "string",
    "negotiated_version": "category",
    "error": "category",
}

DTLS_HANDSHAKES_SCHEMA: dict[str, str] = {
    **DTLS_KEY_COLUMNS,
    "record": "uint8",
    "epoch": "uint16",
    "sequence_number": "uint64",
    "msg_type": "category",
    "message_seq": "uint16",
    "length": "uint32",
    "fragment_offset": "uint32",
    "fragment_length": "uint32",
    "reassembled": "bool",
    "in_stun": "bool",
    "hello_version": "category",
    "random": "string",
    "session_id": "string",
    "cookie": "string",
    "cipher_suites": "string",
    "cipher_suite": "category",
    "extensions": "string",
    "srtp_profiles": "string",
    "srtp_mki": "string",
    "extended_master_secret": "boolean",
    "supported_groups": "string",
    "signature_algorithms": "string",
    "renegotiation_info": "string",
    "named_group": "category",
    "hello_retry_request": "boolean",
    "supported_versions": "string",
    "key_share": "string",
    "negotiated_version": "category",
    "certificate_fingerprint": "string",
    "certificate_subject": "string",
    "certificate_not_before": "datetime64[ns, UTC]",
    "certificate_not_after": "datetime64[ns, UTC]",
    "error": "category",
}

META_DTLS_IN_STUN = 0xC070  # draft-hancke-webrtc-sped: a DTLS packet embedded in a STUN message ("SPED")
META_DTLS_IN_STUN_ACK = 0xC071  # draft-hancke-webrtc-sped: CRC-32s of the embedded packets received
_RECORD_MAX = 255  # `record` is uint8: records past the 256th of one datagram are not listed (never seen in practice)

_MESSAGE_COLUMNS = ("hello_version", "random", "session_id", "cookie", "cipher_suites", "cipher_suite", "extensions",
                    "srtp_profiles", "srtp_mki", "extended_master_secret", "supported_groups",
                    "signature_algorithms", "renegotiation_info", "named_group", "hello_retry_request",
                    "supported_versions", "key_share", "certificate_fingerprint",
                    "certificate_subject", "certificate_not_before", "certificate_not_after", "error")


def dtls_tables(keys: dict, payloads: list[bytes], stun_keys: dict | None = None,
                stun_payloads: list[bytes] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The dtls_records and dtls_handshakes tables from the datagrams of kind dtls (direct and relayed, capture
    order): `payloads[i]` is the i-th datagram's UDP payload as captured, `keys` its key columns (frame, t, src, dst,
    sport, dport, transport, relayed, relay, peer; relayed/relay/peer may be absent for direct-only input).
    With `stun_keys`/`stun_payloads` (the STUN messages, keyed the same way), a DTLS packet embedded in a STUN
    message's META-DTLS-IN-STUN attribute (0xC070, draft-hancke-webrtc-sped: the handshake rides on the ICE checks)
    is read like a datagram of that frame, in capture order with the others, and its rows say in_stun; a STUN
    message that does not decode is left to the stun tables to flag.  Every resend rides on a new check, so the
    handshake analysis counts them as retransmissions.

    dtls_records — one row per DTLS record (several per datagram), columns: the keys, then record (uint8, index in
    the datagram), content_type (category: handshake, alert, change_cipher_spec, application_data, heartbeat,
    tls12_cid, ack, unknown; null when no header could be read), version (category "DTLS 1.0"/"DTLS 1.2"/
    "DTLS 1.3"), epoch (UInt16), sequence_number (UInt64, 48 bits; for a DTLS 1.3 unified header the 8 or 16 low
    bits on the wire), length (UInt16, the record's fragment length; null for a unified header without length),
    encrypted (bool: epoch > 0, application data, or DTLS 1.3 ciphertext), alert_level / alert_description
    (category, only for a readable plaintext alert), dtls13 (bool: DTLS 1.3 unified header, RFC 9147 §4),
    epoch_bits (UInt8: a unified header's 2 wire bits of the epoch; null for a DTLSPlaintext header), sequence_bits
    (UInt8: how many sequence-number bits the header carries — 48 for DTLSPlaintext, 8 or 16 for a unified header,
    whose bits are encrypted by RFC 9147 §4.2.3 and so are not the record's sequence number), connection_id (string,
    hex; a unified header's connection id — its length is negotiated, not on the wire, so a record with the C bit
    is flagged "connection id of unknown length": WebRTC stacks do not negotiate connection ids),
    in_stun (bool: the record came embedded in a STUN message, SPED, see above), ack_record_numbers (string: a
    plaintext ACK record's (RFC 9147 §7) acknowledged record numbers as
    "epoch:sequence" comma-separated; ACKs in a unified header are encrypted and show as content_type unknown),
    negotiated_version (category: the version the association's ServerHello chose — supported_versions'
    selected_version (RFC 8446 §4.2.1), else its legacy server_version — on every record of the association (both
    directions of the 5-tuple), null when no ServerHello was seen), error (category: null, or why the record or
    its handshake fragments did not decode — truncated header, length past the end of the datagram (snaplen),
    unknown version...).  A datagram that yields no record still has one row.  For a unified header, `epoch` is
    the full epoch reconstructed from the 2 wire bits (RFC 9147 §4.2.2: the value closest to the highest epoch seen
    so far in that direction, starting from 2, the handshake epoch): 2 = handshake traffic, 3 = application data,
    4 and up after KeyUpdates; content_type is "unknown" (encrypted, RFC 9147 §4) and version "DTLS 1.3".
    `version` of a DTLSPlaintext record is its legacy_record_version as on the wire (a DTLS 1.3 ClientHello may say
    DTLS 1.0, RFC 9147 §4); negotiated_version says what was spoken.

    dtls_handshakes — one row per handshake fragment in a plaintext (epoch 0) handshake record, columns: the keys,
    record, epoch (uint16), sequence_number (uint64), msg_type (category: client_hello, server_hello,
    hello_verify_request, certificate, server_key_exchange, certificate_request, server_hello_done,
    certificate_verify, client_key_exchange, finished, ...; unknown types as their number), message_seq (uint16),
    length (uint32, the whole message), fragment_offset, fragment_length (uint32), reassembled (bool: this fragment
    completed the message, over the fragments seen so far in the same direction with the same message_seq; each
    retransmitted copy that completes it again is True too), in_stun (bool, as in dtls_records), and, on the row that
    completed a message (null
    elsewhere): hello_version (category, ClientHello/ServerHello/HelloVerifyRequest version), random (string,
    64 hex digits), session_id, cookie (hex strings), cipher_suites (string: the ClientHello's suites, IANA names or
    0x hex, comma-separated), cipher_suite (category, the ServerHello's), extensions (string: names in wire order,
    unknown ones as numbers), srtp_profiles (string: RFC 5764 names comma-separated), srtp_mki (hex),
    extended_master_secret (boolean: the hello carries RFC 7627's extension), supported_groups,
    signature_algorithms (strings; a CertificateRequest's algorithms and a ServerKeyExchange's one too),
    renegotiation_info (hex), named_group (category: a ServerKeyExchange's ECDHE curve), certificate_fingerprint
    (string: SHA-256 of the first DER certificate as "AA:BB:..." like a=fingerprint), certificate_subject (RFC 4514
    string), certificate_not_before, certificate_not_after (datetime64[ns, UTC]), hello_retry_request (boolean: a
    ServerHello with the RFC 8446 §4.1.3 HelloRetryRequest random; msg_type stays server_hello as on the wire),
    supported_versions (string: the ClientHello's offered versions in order, "DTLS 1.3,DTLS 1.2"; a ServerHello's
    or HelloRetryRequest's selected_version), key_share (string: the ClientHello's key share groups in order,
    "X25519MLKEM768,x25519"; the ServerHello's share group; the HelloRetryRequest's selected_group), error
    (category: why the message or fragment is flagged: conflicting fragments, a body that does not decode, a
    certificate that is not X.509), and on every row negotiated_version (category, as in dtls_records).  `cookie`
    holds a DTLS 1.2 HelloVerifyRequest's or ClientHello's cookie, or a DTLS 1.3 HelloRetryRequest's or second
    ClientHello's cookie extension (RFC 8446 §4.2.2); hello_version is the legacy_version field (DTLS 1.2 in every
    DTLS 1.3 hello).  Only DTLSPlaintext handshake records have rows: after a DTLS 1.3 ServerHello the handshake is
    in unified-header records, encrypted.
    """
    in_stun = np.zeros(len(payloads), dtype=bool)
    if stun_keys is not None and stun_payloads:
        keys, payloads, in_stun = _with_embedded(_full_keys(keys, len(payloads)), payloads,
                                                 _full_keys(stun_keys, len(stun_payloads)), stun_payloads)
    n = len(payloads)
    keys = _full_keys(keys, n)
    rec = _Columns(("row", "record", "content_type", "version", "epoch", "sequence_number", "length", "encrypted",
                    "alert_level", "alert_description", "dtls13", "epoch_bits", "sequence_bits", "connection_id",
                    "ack_record_numbers", "error"))
    hs = _Columns(("row", "record", "epoch", "sequence_number", "msg_type", "message_seq", "length",
                   "fragment_offset", "fragment_length", "reassembled") + _MESSAGE_COLUMNS)
    partial: dict[tuple, dtls.PartialMessage] = {}
    direction = _Directions(keys)
    epochs: dict[tuple, int] = {}  # direction -> highest DTLS 1.3 epoch seen (RFC 9147 §4.2.2 reconstruction)
    versions: dict[tuple, str] = {}  # association -> the version its ServerHello chose
    for i, data in enumerate(payloads):
        offset = 0
        index = 0
        while True:
            try:
                record, next_offset = dtls.parse_record(data, offset)
            except DecodeError as e:
                row = rec.new(row=i, record=min(index, _RECORD_MAX), encrypted=False, dtls13=False, error=str(e))
                _header_facts(rec, row, data, offset)
                break
            if index <= _RECORD_MAX:
                _record_row(rec, hs, i, index, record, partial, direction, epochs, versions)
            index += 1
            offset = next_offset
            if offset >= len(data):
                break
    return _records_table(rec, keys, _negotiated(rec, direction, versions), in_stun), \
        _handshakes_table(hs, keys, _negotiated(hs, direction, versions), in_stun)


def embedded_dtls(message: bytes) -> bytes | None:
    """The DTLS packet a STUN message carries in META-DTLS-IN-STUN (draft-hancke-webrtc-sped), or None: absent,
    empty (the draft's "nothing pending" / closing signal), not starting with a DTLS first byte (20..63, RFC 9443;
    the draft says to discard it), or a message that does not decode."""
    if META_DTLS_IN_STUN.to_bytes(2, "big") not in message:  # most messages: no parse
        return None
    try:
        attributes = stun.parse(message).attributes
    except DecodeError:
        return None
    for a in attributes:
        if a.type == META_DTLS_IN_STUN and a.raw and 20 <= a.raw[0] <= 63:
            return bytes(a.raw)
    return None


def _with_embedded(keys: dict, payloads: list[bytes], stun_keys: dict, stun_payloads: list[bytes]):
    """The datagrams merged in frame order with the DTLS packets embedded in STUN messages, and which are those."""
    found = [(i, p) for i, p in enumerate(embedded_dtls(m) for m in stun_payloads) if p is not None]
    if not found:
        return keys, payloads, np.zeros(len(payloads), dtype=bool)
    rows = np.array([i for i, _ in found], dtype=np.int64)
    frames = np.concatenate([np.asarray(keys["frame"], dtype=np.int64),
                             np.asarray(stun_keys["frame"], dtype=np.int64)[rows]])
    order = np.argsort(frames, kind="stable")
    merged = {}
    for name in DTLS_KEY_COLUMNS:
        both = pd.concat([pd.Series(keys[name]).astype(object), pd.Series(stun_keys[name]).astype(object).iloc[rows]],
                         ignore_index=True).iloc[order]
        merged[name] = (pd.Categorical(both.tolist()) if name in ("src", "dst", "transport", "relay", "peer")
                        else both.to_numpy().astype(np.asarray(keys[name]).dtype))
    all_payloads = list(payloads) + [p for _, p in found]
    in_stun = np.concatenate([np.zeros(len(payloads), dtype=bool), np.ones(len(found), dtype=bool)])[order]
    return merged, [all_payloads[i] for i in order], in_stun


def _association(direction: tuple) -> tuple:
    """Both directions of a 5-tuple (and relay, peer) as one key."""
    src, sport, dst, dport, relayed, peer = direction
    return (min((src, sport), (dst, dport)), max((src, sport), (dst, dport)), relayed, peer)


def _negotiated(cols: _Columns, direction, versions: dict) -> list:
    if not versions:
        return [None] * cols.n
    cache: dict[int, str | None] = {}
    out = []
    for i in cols.cols["row"]:
        if i not in cache:
            cache[i] = versions.get(_association(direction(i)))
        out.append(cache[i])
    return out


class _Columns:
    """Column lists filled row by row (None = missing)."""

    def __init__(self, names):
        self.cols = {name: [] for name in names}
        self.n = 0

    def new(self, **values) -> int:
        for name, col in self.cols.items():
            col.append(values.get(name))
        self.n += 1
        return self.n - 1

    def set(self, row: int, **values) -> None:
        for name, value in values.items():
            self.cols[name][row] = value


class _Directions:
    """A hashable direction key (src, sport, dst, dport, relayed, peer) per datagram row, for reassembly."""

    def __init__(self, keys: dict):
        self.columns = [np.asarray(keys[c], dtype=object) if c in ("src", "dst", "peer") else np.asarray(keys[c])
                        for c in ("src", "sport", "dst", "dport", "relayed", "peer")]

    def __call__(self, row: int) -> tuple:
        return tuple(str(c[row]) for c in self.columns)


def _full_keys(keys: dict, n: int) -> dict:
    out = dict(keys)
    if "relayed" not in out:
        out["relayed"] = np.zeros(n, dtype=bool)
    for name in ("relay", "peer", "transport"):
        if name not in out:
            out[name] = pd.Categorical([None] * n)
    return out


def _header_facts(rec: _Columns, row: int, data: bytes, offset: int) -> None:
    """Whatever the header of a record that did not decode still says (type, version, epoch, sequence, length)."""
    if offset < len(data) and dtls.is_unified_header(data[offset]):
        first = data[offset]
        rec.set(row, version="DTLS 1.3", dtls13=True, encrypted=True, content_type="unknown",
                epoch_bits=first & 0x03, sequence_bits=16 if first & dtls.UNIFIED_S else 8)
        return
    try:
        h = dtls.parse_record_header(data[offset:offset + dtls.DTLS_RECORD_HEADER_LEN])
    except DecodeError:
        return
    rec.set(row, content_type=dtls.CONTENT_TYPE_NAMES.get(h.content_type, "unknown"),
            version=dtls.VERSION_NAMES[h.version], epoch=h.epoch, sequence_number=h.sequence_number,
            length=h.length, encrypted=h.epoch > 0 or h.content_type == dtls.ContentType.APPLICATION_DATA,
            sequence_bits=48)


def _record_row(rec: _Columns, hs: _Columns, i: int, index: int, record, partial: dict, direction, epochs: dict,
                versions: dict) -> None:
    if isinstance(record, dtls.UnifiedRecord):
        way = direction(i)
        epoch = dtls.reconstruct_epoch(record.epoch, epochs.get(way, 2))
        epochs[way] = max(epochs.get(way, 2), epoch)
        rec.new(row=i, record=index, content_type="unknown", version="DTLS 1.3", epoch=epoch,
                sequence_number=record.sequence_number, length=record.length, encrypted=True, dtls13=True,
                epoch_bits=record.epoch, sequence_bits=record.sequence_bits,
                connection_id=record.connection_id.hex() if record.has_connection_id else None)
        return
    h = record.header
    row = rec.new(row=i, record=index, content_type=dtls.CONTENT_TYPE_NAMES.get(h.content_type, "unknown"),
                  version=dtls.VERSION_NAMES[h.version], epoch=h.epoch, sequence_number=h.sequence_number,
                  length=h.length, encrypted=record.encrypted, dtls13=False, sequence_bits=48)
    if record.encrypted:
        return
    try:
        if h.content_type == dtls.ContentType.ACK:
            ack = dtls.parse_ack(record.fragment)
            rec.set(row, ack_record_numbers=",".join(f"{e}:{q}" for e, q in ack.record_numbers))
        elif h.content_type == dtls.ContentType.ALERT:
            alert = dtls.parse_alert(record.fragment)
            rec.set(row, alert_level=alert.level_name, alert_description=alert.description_name)
        elif h.content_type == dtls.ContentType.CHANGE_CIPHER_SPEC:
            dtls.parse_change_cipher_spec(record.fragment)
        elif h.content_type == dtls.ContentType.HANDSHAKE:
            offset = 0
            while offset < len(record.fragment):
                frag, offset = dtls.parse_handshake_fragment(record.fragment, offset)
                _fragment_row(hs, i, index, h, frag, partial, direction, versions)
    except DecodeError as e:
        rec.set(row, error=str(e))


def _fragment_row(hs: _Columns, i: int, index: int, h: dtls.RecordHeader, frag: dtls.HandshakeFragment,
                  partial: dict, direction, versions: dict) -> None:
    key = direction(i) + (frag.message_seq,)
    state, body = dtls.add_fragment(partial.get(key), frag)
    partial[key] = state
    row = hs.new(row=i, record=index, epoch=h.epoch, sequence_number=h.sequence_number,
                 msg_type=dtls.handshake_type_name(frag.msg_type), message_seq=frag.message_seq, length=frag.length,
                 fragment_offset=frag.fragment_offset, fragment_length=frag.fragment_length,
                 reassembled=body is not None)
    if state.conflict:
        hs.set(row, error=state.conflict)
    if body is None:
        return
    try:
        message = dtls.parse_message(frag.msg_type, body)
        hs.set(row, **_message_facts(message))
        if isinstance(message, dtls.ServerHello):
            versions[_association(direction(i))] = dtls.version_name(dtls.negotiated_version(message))
    except DecodeError as e:
        hs.set(row, error=str(e))


def _message_facts(m) -> dict:
    """The table columns of one decoded message (DecodeError from extension views and certificates)."""
    if isinstance(m, (dtls.ClientHello, dtls.ServerHello)):
        client = isinstance(m, dtls.ClientHello)
        hrr = not client and m.hello_retry_request
        out = {"hello_version": dtls.VERSION_NAMES.get(m.client_version if client else m.server_version, "unknown"),
               "random": m.random.hex(), "session_id": m.session_id.hex()}
        if client:
            out["cookie"] = m.cookie.hex()
            out["cipher_suites"] = ",".join(dtls.cipher_suite_name(c) for c in m.cipher_suites)
        else:
            out["cipher_suite"] = dtls.cipher_suite_name(m.cipher_suite)
            out["hello_retry_request"] = hrr
        extensions = m.extensions or ()
        out["extensions"] = ",".join(e.name for e in extensions)
        out["extended_master_secret"] = any(e.type == dtls.ExtensionType.EXTENDED_MASTER_SECRET for e in extensions)
        for e in extensions:
            if e.type == dtls.ExtensionType.USE_SRTP:
                profiles, mki = dtls.use_srtp(e)
                out["srtp_profiles"] = ",".join(dtls.srtp_profile_name(p) for p in profiles)
                out["srtp_mki"] = mki.hex()
            elif e.type == dtls.ExtensionType.SUPPORTED_GROUPS:
                out["supported_groups"] = ",".join(dtls.group_name(g) for g in dtls.supported_groups(e))
            elif e.type == dtls.ExtensionType.SIGNATURE_ALGORITHMS:
                out["signature_algorithms"] = ",".join(dtls.signature_scheme_name(s)
                                                       for s in dtls.signature_algorithms(e))
            elif e.type == dtls.ExtensionType.RENEGOTIATION_INFO:
                out["renegotiation_info"] = dtls.renegotiation_info(e).hex()
            elif e.type == dtls.ExtensionType.SUPPORTED_VERSIONS:
                out["supported_versions"] = ",".join(dtls.version_name(v)
                                                     for v in dtls.supported_versions(e, client_hello=client))
            elif e.type == dtls.ExtensionType.KEY_SHARE:
                if client:
                    groups = [k.group for k in dtls.key_share_client_hello(e)]
                elif hrr:
                    groups = [dtls.key_share_hello_retry_request(e)]
                else:
                    groups = [dtls.key_share_server_hello(e).group]
                out["key_share"] = ",".join(dtls.group_name(g) for g in groups)
            elif e.type == dtls.ExtensionType.COOKIE:
                out["cookie"] = dtls.cookie_extension(e).hex()
        return out
    if isinstance(m, dtls.HelloVerifyRequest):
        return {"hello_version": dtls.VERSION_NAMES.get(m.server_version, "unknown"), "cookie": m.cookie.hex()}
    if isinstance(m, dtls.Certificate):
        if not m.certificates:
            return {}
        info = dtls.certificate_info(m.certificates[0])
        return {"certificate_fingerprint": info.fingerprint, "certificate_subject": info.subject,
                "certificate_not_before": info.not_before, "certificate_not_after": info.not_after}
    if isinstance(m, dtls.ServerKeyExchange):
        if m.named_curve is None:
            return {}
        return {"named_group": dtls.group_name(m.named_curve),
                "signature_algorithms": dtls.signature_scheme_name(m.signature_algorithm)}
    if isinstance(m, dtls.CertificateRequest):
        return {"signature_algorithms": ",".join(dtls.signature_scheme_name(s) for s in m.signature_algorithms)}
    return {}


def _take_keys(keys: dict, rows: np.ndarray) -> dict:
    out = {}
    for name in DTLS_KEY_COLUMNS:
        value = keys[name]
        if isinstance(value, (pd.Categorical, pd.api.extensions.ExtensionArray, pd.Series)):
            out[name] = pd.Series(value).take(rows).array if len(rows) else pd.Series(value)[:0].array
        else:
            out[name] = np.asarray(value)[rows]
    for name in ("src", "dst", "transport", "relay", "peer"):
        if not isinstance(out[name].dtype, pd.CategoricalDtype):
            out[name] = pd.Categorical(out[name])
    return out


def _nullable(values: list, dtype: str):
    return pd.array(values, dtype=dtype)


def _records_table(rec: _Columns, keys: dict, negotiated: list, in_stun: np.ndarray) -> pd.DataFrame:
    c = rec.cols
    rows = np.asarray(c["row"], dtype=np.int64)
    return tables.frame_table({
        **_take_keys(keys, rows),
        "record": np.asarray(c["record"], dtype=np.uint8),
        "content_type": pd.Categorical(c["content_type"]),
        "version": pd.Categorical(c["version"]),
        "epoch": _nullable(c["epoch"], "UInt16"),
        "sequence_number": _nullable(c["sequence_number"], "UInt64"),
        "length": _nullable(c["length"], "UInt16"),
        "encrypted": np.asarray(c["encrypted"], dtype=bool),
        "alert_level": pd.Categorical(c["alert_level"]),
        "alert_description": pd.Categorical(c["alert_description"]),
        "dtls13": np.asarray(c["dtls13"], dtype=bool),
        "in_stun": in_stun[rows] if len(rows) else np.zeros(0, dtype=bool),
        "epoch_bits": _nullable(c["epoch_bits"], "UInt8"),
        "sequence_bits": _nullable(c["sequence_bits"], "UInt8"),
        "connection_id": _nullable(c["connection_id"], "string"),
        "ack_record_numbers": _nullable(c["ack_record_numbers"], "string"),
        "negotiated_version": pd.Categorical(negotiated),
        "error": pd.Categorical(c["error"]),
    }, DTLS_RECORDS_SCHEMA)


def _times(values: list) -> pd.arrays.DatetimeArray:
    return pd.array(pd.to_datetime(pd.Series(values, dtype=object), utc=True).astype("datetime64[ns, UTC]"))


def _handshakes_table(hs: _Columns, keys: dict, negotiated: list, in_stun: np.ndarray) -> pd.DataFrame:
    c = hs.cols
    rows = np.asarray(c["row"], dtype=np.int64)
    strings = {name: c[name] for name, dtype in DTLS_HANDSHAKES_SCHEMA.items() if dtype == "string"}
    cats = {name: pd.Categorical(c[name]) for name in ("msg_type", "hello_version", "cipher_suite", "named_group",
                                                       "error")}
    return tables.frame_table({
        **_take_keys(keys, rows),
        "record": np.asarray(c["record"], dtype=np.uint8),
        "epoch": np.asarray(c["epoch"], dtype=np.uint16),
        "sequence_number": np.asarray(c["sequence_number"], dtype=np.uint64),
        "message_seq": np.asarray(c["message_seq"], dtype=np.uint16),
        "length": np.asarray(c["length"], dtype=np.uint32),
        "fragment_offset": np.asarray(c["fragment_offset"], dtype=np.uint32),
        "fragment_length": np.asarray(c["fragment_length"], dtype=np.uint32),
        "reassembled": np.asarray(c["reassembled"], dtype=bool),
        "in_stun": in_stun[rows] if len(rows) else np.zeros(0, dtype=bool),
        "extended_master_secret": _nullable(c["extended_master_secret"], "boolean"),
        "hello_retry_request": _nullable(c["hello_retry_request"], "boolean"),
        "negotiated_version": pd.Categorical(negotiated),
        "certificate_not_before": _times(c["certificate_not_before"]),
        "certificate_not_after": _times(c["certificate_not_after"]),
        **strings, **cats,
    }, DTLS_HANDSHAKES_SCHEMA)


# -- DTLS associations: which records belong together, who is client, what the hellos said ------------------------
# Strategy: these are the tables' facts of each association (its records grouped by transport 5-tuple, the client
# as the sender of the first ClientHello, the randoms, suite and SRTP profile its hellos carry), numbered as
# webrtcpcap.handshake numbers them.  They sit here, on the tables floor, because decryption needs them
# (`association_identities`) and the entry object decrypts; the handshake analysis (flights, timing, verdicts)
# builds on the same pieces from the floor above.

ASSOCIATION_IDENTITY_COLUMNS = {
    "association": "int64", "transport": "category", "relayed": "bool", "peer": "string", "client": "string",
    "server": "string", "version": "category", "cipher_suite": "category", "srtp_profile": "category",
    "client_random": "string", "server_random": "string", "client_fingerprint": "string",
    "server_fingerprint": "string", "offered_versions": "string", "key_exchange_group": "category",
}


class _Assoc:
    """The records of one association, in capture order, with what the analysis works out about them."""

    def __init__(self, number: int, key: tuple):
        self.number = number
        self.transport, self.a, self.b, self.relayed, self.peer = key
        self.rows: list[dict] = []
        self.client: str | None = None
        self.server: str | None = None
        self.v13 = False  # DTLS 1.3: negotiated by the ServerHello, or unified-header records seen


def _annotate(dtls_records: pd.DataFrame, dtls_handshakes: pd.DataFrame) -> list[_Assoc]:
    """Associations with their records (dicts) in capture order; each record knows its sender endpoint and the
    handshake fragments it holds."""
    rec = dtls_records
    if not len(rec):
        return []
    src = [_endpoint(a, p) for a, p in zip(rec["src"].astype(object), rec["sport"])]
    dst = [_endpoint(a, p) for a, p in zip(rec["dst"].astype(object), rec["dport"])]
    peer = rec["peer"].astype(object).where(rec["peer"].notna(), None).tolist() if "peer" in rec else [None] * len(rec)
    relayed = rec["relayed"].tolist() if "relayed" in rec else [False] * len(rec)
    transport = rec["transport"].astype(object).tolist() if "transport" in rec else ["udp"] * len(rec)
    frags: dict[tuple, list[dict]] = {}
    if len(dtls_handshakes):
        hs = dtls_handshakes
        hsrc = [_endpoint(a, p) for a, p in zip(hs["src"].astype(object), hs["sport"])]
        hrr = (hs["hello_retry_request"].fillna(False).to_numpy(dtype=bool) if "hello_retry_request" in hs
               else np.zeros(len(hs), dtype=bool))
        for i, (frame, record, mt, seq, off, flen, length) in enumerate(zip(
                hs["frame"].tolist(), hs["record"].tolist(), hs["msg_type"].astype(object).tolist(),
                hs["message_seq"].tolist(), hs["fragment_offset"].tolist(), hs["fragment_length"].tolist(),
                hs["length"].tolist())):
            frags.setdefault((frame, record, hsrc[i]), []).append(
                {"msg_type": "hello_retry_request" if hrr[i] else str(mt), "message_seq": seq,
                 "fragment_offset": off, "fragment_length": flen, "length": length, "row": i})
    assocs: dict[tuple, _Assoc] = {}
    unified = rec["dtls13"].tolist() if "dtls13" in rec else [False] * len(rec)
    frames = rec["frame"].tolist()
    seq_bits = rec["sequence_bits"].astype(object).tolist() if "sequence_bits" in rec else [None] * len(rec)
    cids = rec["connection_id"].astype(object).tolist() if "connection_id" in rec else [None] * len(rec)
    negotiated = (rec["negotiated_version"].astype(object).tolist() if "negotiated_version" in rec
                  else [None] * len(rec))
    columns = zip(rec["frame"].tolist(), rec["t"].tolist(), rec["record"].tolist(),
                  rec["content_type"].astype(object).tolist(), rec["epoch"].astype(object).tolist(),
                  rec["length"].astype(object).tolist(), rec["alert_level"].astype(object).tolist(),
                  rec["alert_description"].astype(object).tolist(), rec["encrypted"].tolist())
    for i, (frame, t, record, ctype, epoch, length, level, desc, encrypted) in enumerate(columns):
        key = (str(transport[i]), min(src[i], dst[i]), max(src[i], dst[i]), bool(relayed[i]), peer[i])
        assoc = assocs.get(key)
        if assoc is None:
            assoc = assocs[key] = _Assoc(len(assocs), key)
        assoc.v13 |= bool(unified[i]) or negotiated[i] == "DTLS 1.3"
        assoc.rows.append({
            "frame": frame, "t": t, "record": record, "src": src[i], "dst": dst[i],
            "content_type": None if pd.isna(ctype) else str(ctype), "epoch": None if pd.isna(epoch) else int(epoch),
            "length": 0 if pd.isna(length) else int(length), "encrypted": bool(encrypted),
            "alert": None if ctype != "alert" else (f"{level} {desc}" if not pd.isna(level) else "encrypted"),
            "frags": frags.get((frame, record, src[i]), []), "unified": bool(unified[i]),
            "header_len": _header_len(bool(unified[i]), seq_bits[i], length, cids[i]),
            "alone": (i == 0 or frame != frames[i - 1]) and (i + 1 == len(frames) or frame != frames[i + 1]),
        })
    return list(assocs.values())


def _header_len(unified: bool, seq_bits, length, cid) -> int:
    """Bytes of a record's header: 13 for DTLSPlaintext; a unified header's first byte, connection id, 1 or 2
    sequence bytes and the 2 length bytes when present (RFC 9147 §4)."""
    if not unified:
        return 13
    cid_len = 0 if cid is None or pd.isna(cid) else len(str(cid)) // 2
    seq_len = 2 if seq_bits is None or pd.isna(seq_bits) or int(seq_bits) == 16 else 1
    return 1 + cid_len + seq_len + (0 if length is None or pd.isna(length) else 2)


def _roles(assoc: _Assoc, dtls_handshakes: pd.DataFrame) -> None:
    """Client = sender of the first ClientHello; else the receiver of a ServerHello or HelloVerifyRequest."""
    for r in assoc.rows:
        for f in r["frags"]:
            if f["msg_type"] == "client_hello":
                assoc.client, assoc.server = r["src"], r["dst"]
                return
            if f["msg_type"] in ("server_hello", "hello_verify_request", "server_hello_done"):
                assoc.client, assoc.server = r["dst"], r["src"]
                return


def _column(df: pd.DataFrame, name: str) -> list:
    """A column as a list of python values with None for missing (all None when the table lacks it)."""
    if name not in df:
        return [None] * len(df)
    return [None if pd.isna(v) else v for v in df[name].astype(object)]


def _hello_facts(hs: pd.DataFrame, rows: list[int], sender_of: dict, assoc: _Assoc) -> dict:
    out = {"version": None, "cipher_suite": None, "srtp_profile": None, "client_random": None,
           "server_random": None, "client_fingerprint": None, "server_fingerprint": None, "offered_versions": None,
           "key_exchange_group": None}
    if not rows:
        return out
    positions = [p for p in sorted(rows) if bool(hs["reassembled"].iat[p])]
    done = hs.iloc[positions]
    for i, mt, rnd, ver, suite, prof, fp, hrr, offered, share, negotiated, curve in zip(
            positions, done["msg_type"].astype(object), done["random"], _column(done, "hello_version"),
            _column(done, "cipher_suite"), done["srtp_profiles"], done["certificate_fingerprint"],
            _column(done, "hello_retry_request"), _column(done, "supported_versions"), _column(done, "key_share"),
            _column(done, "negotiated_version"), _column(done, "named_group")):
        sender = "client" if sender_of[i] == assoc.client else "server"
        if mt == "client_hello" and not pd.isna(rnd):
            out["client_random"] = rnd
            out["offered_versions"] = offered or ver
        elif mt == "server_hello" and not pd.isna(rnd) and not hrr:
            out["server_random"] = rnd
            # supported_versions' selected_version when present (DTLS 1.3 says 1.2 in its legacy field)
            out["version"] = offered or ver
            out["cipher_suite"] = suite
            out["srtp_profile"] = None if pd.isna(prof) else prof
            out["key_exchange_group"] = share or out["key_exchange_group"]
        elif mt == "server_key_exchange" and curve:
            out["key_exchange_group"] = curve
        elif mt == "certificate" and not pd.isna(fp):
            out[f"{sender}_fingerprint"] = fp
    return out


def association_identities(dtls_records: pd.DataFrame, dtls_handshakes: pd.DataFrame) -> pd.DataFrame:
    """One row per DTLS association, numbered as `webrtcpcap.handshake.associations` numbers them, with what
    decryption needs to know of it: the same values as the columns of that name in the associations table.

    Columns (ASSOCIATION_IDENTITY_COLUMNS): association (int64), transport (category), relayed (bool), peer (string,
    the TURN peer of a relayed association), client, server ("ip:port": the sender of the first ClientHello, else
    the receiver of a ServerHello/HelloVerifyRequest), version (category: the ServerHello's, or DTLS 1.3 when only
    unified-header records say so), cipher_suite, srtp_profile (category), client_random, server_random (hex),
    client_fingerprint, server_fingerprint (sha-256 "AA:BB:..."), offered_versions (string), key_exchange_group
    (category)."""
    rows = []
    for assoc in _annotate(dtls_records, dtls_handshakes):
        _roles(assoc, dtls_handshakes)
        frag_rows = [f["row"] for r in assoc.rows for f in r["frags"]]
        sender_of = {f["row"]: r["src"] for r in assoc.rows for f in r["frags"]}
        facts = _hello_facts(dtls_handshakes, frag_rows, sender_of, assoc)
        if facts["version"] is None and assoc.v13:  # no whole ServerHello, but only DTLS 1.3 has unified headers
            facts["version"] = "DTLS 1.3"
        rows.append({"association": assoc.number, "transport": assoc.transport, "relayed": assoc.relayed,
                     "peer": assoc.peer, "client": assoc.client, "server": assoc.server, **facts})
    columns = {}
    for name, dtype in ASSOCIATION_IDENTITY_COLUMNS.items():
        values = [r[name] for r in rows]
        if dtype == "category":
            columns[name] = pd.Categorical(values)
        elif dtype in ("int64", "bool"):
            columns[name] = np.asarray(values, dtype=dtype)
        else:
            columns[name] = pd.array(values, dtype=dtype)
    return pd.DataFrame(columns)
