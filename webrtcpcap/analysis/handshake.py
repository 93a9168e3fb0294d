"""DTLS handshake analysis (RFC 6347 §4.2.4 flights and timers, RFC 5763/5764 DTLS-SRTP in WebRTC) over the
dtls_records and dtls_handshakes tables: which association did what, in which flights, how long it took, and why
it did not finish.

Strategy: plain functions over DataFrames, no bytes.  Records are grouped into associations (the transport 5-tuple,
both directions together; a relayed one by its outer 5-tuple and TURN peer), each record is put into a flight by
what it carries, and a flight's records are split into transmissions whenever a record repeats one already sent in
the current transmission (the same handshake message_seq and fragment offset, a second ChangeCipherSpec): that is
what a retransmission after the RFC 6347 §4.2.4.1 timer looks like on the wire.

DTLS 1.3 (RFC 9147): an association speaks 1.3 when its ServerHello's supported_versions says so (the tables'
negotiated_version) or it carries unified-header records.  Everything after the ServerHello is encrypted, so without
keys the analysis reads the flights from the record layer: the epoch (2 = handshake keys, 3 = application keys), who
sent the record, its length and time.  RFC 9147 §5.7 numbers the flights like RFC 6347 (1 ClientHello,
2 HelloRetryRequest, 3 ClientHello with cookie, 4 ServerHello + epoch-2 records, 5 the client's epoch-2 records,
6 the server's ACK), and the handshake is done when the server, after the client's epoch-2 flight, sends its first
epoch-3 record (the ACK of the client's Finished, RFC 9147 §5.8.3, or data: both need the client's Finished).  An
encrypted record repeats one of the current transmission when it has the same epoch and length and comes after a
pause (a retransmitted record gets a new record number, so nothing else on the wire says it is the same).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..net.layers import endpoint as _endpoint
from ..tables import decrypt
from ..tables.dtls_tables import _Assoc, _annotate, _hello_facts, _roles
from ..tables.schema import as_capture
from .flow_ends import FlowEnds

# Flight numbers of RFC 6347 §4.2.4 (full handshake with cookie exchange) and what each carries.
FLIGHT_NAMES = {
    1: "ClientHello",
    2: "HelloVerifyRequest",
    3: "ClientHello with cookie",
    4: "ServerHello…ServerHelloDone",
    5: "client Certificate/ClientKeyExchange/CertificateVerify/ChangeCipherSpec/Finished",
    6: "server ChangeCipherSpec/Finished",
}
# RFC 9147 §5.7 (figure 6): the DTLS 1.3 full handshake, with the cookie exchange of a HelloRetryRequest.
FLIGHT_NAMES_13 = {
    1: "ClientHello",
    2: "HelloRetryRequest",
    3: "ClientHello after HelloRetryRequest",
    4: "ServerHello + encrypted EncryptedExtensions…Finished",
    5: "client encrypted Certificate/CertificateVerify/Finished",
    6: "server ACK (its first epoch-3 record after the client's Finished)",
}
ENCRYPTED_ALERT_LEN = 19  # a DTLS 1.3 alert under AES-GCM/ChaCha20: 2 bytes + content type + 16-byte tag
RETRANSMISSION_PAUSE_S = 0.005  # records of one burst go out within this; retransmission timers are >= 50 ms
# A DTLS 1.3 flight's records can straggle (Firefox sent one server flight as two datagrams 31 ms apart), but a pause
# longer than this within one flight is a timer firing: a new transmission even when it resends other records
# than the ones captured before (the originals were lost before the capture point, or only the unacknowledged
# ones are resent, RFC 9147 §5.8.1).
FLIGHT_GAP_S = 0.1


def ack_sized(length: int) -> bool:
    """A DTLS 1.3 record of an ACK's size under a 16-byte tag: 2 + 16·n bytes of record numbers + the content type
    (RFC 9147 §7) + 16, for 1 to 8 record numbers.  A guess without keys: data can have that size too."""
    n = length - ENCRYPTED_ALERT_LEN
    return 16 <= n <= 16 * 8 and n % 16 == 0
_SERVER_FLIGHT4 = {"server_hello", "server_key_exchange", "certificate_request", "server_hello_done"}
_CLIENT_FLIGHT5 = {"client_key_exchange", "certificate_verify"}
VERDICTS = ["completed", "stalled", "failed", "incomplete-capture"]

FLIGHTS_COLUMNS = {
    "association": "int64", "flight": "UInt8", "transmission": "uint16", "retransmission": "bool",
    "retransmissions": "uint16", "sender": "category", "src": "string", "dst": "string", "first_t": "float64",
    "last_t": "float64", "messages": "string", "records": "int64", "datagrams": "int64", "bytes": "int64",
    "alert": "bool", "ack": "bool", "frames": "string",
}

ASSOCIATIONS_COLUMNS = {
    "association": "int64", "transport": "category", "relayed": "bool", "peer": "string", "client": "string",
    "server": "string", "client_hello_t": "float64", "done_t": "float64", "handshake_ms": "float64",
    "hello_verify": "bool", "flights": "int64", "transmissions": "int64", "retransmitted_flights": "int64",
    "retransmissions": "int64", "fragmented_messages": "int64", "max_datagram": "int64",
    "oversize_datagrams": "Int64", "version": "category", "cipher_suite": "category", "srtp_profile": "category",
    "client_random": "string", "server_random": "string", "client_fingerprint": "string",
    "server_fingerprint": "string", "alerts": "string", "first_srtp_t": "Float64", "to_first_srtp_ms": "Float64",
    "offered_versions": "string", "key_exchange_group": "category", "early_client_hellos": "Int64",
    "verdict": "category", "verdict_detail": "string", "evidence_frames": "string",
    "fingerprint_matches_sdp": "boolean", "role_matches_setup": "boolean",
}


def compact_frames(frames) -> str:
    """Frame numbers as a compact string: sorted, unique, runs as ranges ("8-11,96")."""
    values = sorted({int(f) for f in frames})
    parts = []
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[j] + 1:
            j += 1
        parts.append(str(values[i]) if i == j else f"{values[i]}-{values[j]}")
        i = j + 1
    return ",".join(parts)


def _flight_of_13(r: dict, sender: str, state: dict) -> int | None:
    """The flight (RFC 9147 §5.7 numbering) of a record of a DTLS 1.3 association; None for application data."""
    if r["unified"]:
        epoch = r["epoch"] or 0
        if epoch < 3:  # the handshake epoch (2; 1 would be early data, which WebRTC does not use)
            if sender == "client":
                state["flight5"] = state["await_ack"] = True
                return 5
            return 4
        if sender == "server" and state["await_ack"]:
            state["await_ack"] = False
            return 6
        return None
    if r["content_type"] == "handshake" and not r["encrypted"] and r["frags"] \
            and r["frags"][0]["msg_type"] == "hello_retry_request":  # DTLS 1.3's flight 2 (RFC 9147 §5.1)
        state["hvr"] = True
        return 2
    return _flight_of(r, sender, state)  # the rest is numbered as in DTLS 1.2


def _flight_of(r: dict, sender: str, state: dict) -> int | None:
    """The flight (RFC 6347 §4.2.4 numbering) a handshake or change_cipher_spec record belongs to; None otherwise."""
    ctype = r["content_type"]
    if ctype == "handshake" and not r["encrypted"] and r["frags"]:
        mt = r["frags"][0]["msg_type"]
        if mt == "client_hello":
            return 3 if state["hvr"] else 1
        if mt == "hello_verify_request":
            state["hvr"] = True
            return 2
        if mt in _SERVER_FLIGHT4:
            return 4
        if mt in _CLIENT_FLIGHT5:
            state["flight5"] = True
            return 5
        if mt == "certificate":
            if sender == "client":
                state["flight5"] = True
            return 5 if sender == "client" else 4
        return 5 if sender == "client" else 6  # finished in the clear, new_session_ticket, hello_request...
    if ctype == "change_cipher_spec" or (ctype == "handshake" and r["encrypted"]):
        if sender == "client":
            state["flight5"] = True
            return 5
        # The server's ChangeCipherSpec/Finished: flight 6, or part of its ServerHello flight in an abbreviated
        # handshake (no client flight 5 yet).
        return 6 if state["flight5"] else 4
    return None


def _identity(r: dict) -> list[tuple]:
    if r["content_type"] == "change_cipher_spec":
        return [("ccs",)]
    if r["unified"]:  # DTLS 1.3: a new record number each time; only the epoch and the length repeat
        return [("encrypted", r["epoch"], r["length"])]
    if r["encrypted"]:
        return [("encrypted", r["epoch"])]
    return [("hs", f["msg_type"], f["message_seq"], f["fragment_offset"]) for f in r["frags"]] or [("empty",)]


def _message_name(r: dict) -> list[str]:
    if r["content_type"] == "change_cipher_spec":
        return ["change_cipher_spec"]
    if r["unified"]:
        if ack_sized(r["length"]):
            return [f"encrypted ACK-sized record (epoch {r['epoch']})"]
        return [f"encrypted handshake (epoch {r['epoch']})" if (r["epoch"] or 0) < 3
                else f"encrypted record (epoch {r['epoch']})"]
    if r["encrypted"]:
        return ["encrypted_handshake"]
    if r["content_type"] == "ack":
        return ["ack"]
    return [f["msg_type"] for f in r["frags"]]


def _transmissions(assoc: _Assoc) -> list[dict]:
    """One dict per flight transmission and per alert record, in time order of their first record."""
    state = {"hvr": False, "flight5": False, "await_ack": False}
    flight_of = _flight_of_13 if assoc.v13 else _flight_of
    current: dict[tuple[str, int], dict] = {}  # (sender, flight) -> the open transmission
    counts: dict[tuple[str, int], int] = {}
    out: list[dict] = []
    for r in assoc.rows:
        sender = "client" if r["src"] == assoc.client else "server" if r["src"] == assoc.server else "unknown"
        alert = r["alert"] if r["content_type"] == "alert" else None
        if r["unified"] and r["length"] == ENCRYPTED_ALERT_LEN:
            alert = f"encrypted ({ENCRYPTED_ALERT_LEN}-byte epoch-{r['epoch']} record, the size of an alert)"
        if alert is not None:
            out.append({"flight": None, "sender": sender, "src": r["src"], "dst": r["dst"], "first_t": r["t"],
                        "last_t": r["t"], "messages": [f"alert {alert}"], "records": [r], "alert": True,
                        "transmission": 1, "seen": set()})
            continue
        if r["content_type"] == "ack" or (assoc.v13 and r["unified"] and sender == "client" and (r["epoch"] or 0) < 3
                                           and ack_sized(r["length"]) and r["alone"]):
            # an ACK (RFC 9147 §7): a plaintext one, or the client's encrypted ACK of a partly received server
            # flight (by its size) — not part of a flight
            out.append({"flight": None, "sender": sender, "src": r["src"], "dst": r["dst"], "first_t": r["t"],
                        "last_t": r["t"], "messages": _message_name(r), "records": [r], "alert": False, "ack": True,
                        "transmission": 1, "seen": set()})
            continue
        flight = flight_of(r, sender, state)
        if flight is None:
            continue
        ids = _identity(r)
        key = (sender, flight)
        tx = current.get(key)
        repeat = tx is not None and any(i in tx["seen"] for i in ids)
        if assoc.v13 and tx is not None:
            pause = r["t"] - tx["last_t"]
            if repeat and r["unified"] and pause <= RETRANSMISSION_PAUSE_S:
                repeat = False  # two records of one length in one burst: the same transmission
            # a ServerHello opens its flight: after other records of the flight it is a new transmission
            hello_again = any(f["msg_type"] == "server_hello" for f in r["frags"]) and pause > RETRANSMISSION_PAUSE_S
            repeat = repeat or pause > FLIGHT_GAP_S or hello_again
        if tx is None or repeat:
            counts[key] = counts.get(key, 0) + 1
            tx = current[key] = {"flight": flight, "sender": sender, "src": r["src"], "dst": r["dst"],
                                 "first_t": r["t"], "last_t": r["t"], "messages": [], "records": [],
                                 "alert": False, "transmission": counts[key], "seen": set()}
            out.append(tx)
        tx["seen"].update(ids)
        tx["records"].append(r)
        tx["last_t"] = r["t"]
        for name in _message_name(r):
            if name not in tx["messages"]:
                tx["messages"].append(name)
    for tx in out:
        tx["retransmissions"] = (counts.get((tx["sender"], tx["flight"]), 1) - 1
                                 if not tx["alert"] and not tx.get("ack") else 0)
    return out


def _datagram_sizes(records: list[dict]) -> dict[int, int]:
    sizes: dict[tuple, int] = {}
    for r in records:
        key = (r["frame"], r["src"])
        sizes[key] = sizes.get(key, 0) + r["header_len"] + r["length"]
    return sizes


def flights(dtls_records: pd.DataFrame, dtls_handshakes: pd.DataFrame | None = None) -> pd.DataFrame:
    """The flights of each DTLS association (RFC 6347 §4.2.4): one row per flight TRANSMISSION (the first and each
    retransmission) and one per alert record, in time order — the data behind `plots.dtls_ladder`.

    Flights are numbered as in the full handshake with cookie exchange: 1 ClientHello, 2 HelloVerifyRequest,
    3 ClientHello with cookie, 4 ServerHello…ServerHelloDone, 5 client Certificate…ChangeCipherSpec/Finished,
    6 server ChangeCipherSpec/Finished.  Without a cookie exchange flights 2 and 3 are absent (1, 4, 5, 6); in an
    abbreviated handshake the server's ChangeCipherSpec/Finished belong to its flight 4 and the client's final
    ChangeCipherSpec/Finished are flight 5.  A transmission ends when the sender repeats a record of the flight
    (same message_seq and fragment offset, a second ChangeCipherSpec or encrypted Finished).

    DTLS 1.3 (RFC 9147 §5.7): 1 ClientHello, 2 HelloRetryRequest, 3 ClientHello after it, 4 ServerHello and the
    server's epoch-2 records ("encrypted handshake (epoch 2)": EncryptedExtensions…Finished, unreadable without
    keys), 5 the client's epoch-2 records (Certificate/CertificateVerify/Finished, or ACKs of a partly received
    flight 4), 6 the server's first epoch-3 record after each client flight 5 ("encrypted record (epoch 3)": its
    ACK, RFC 9147 §5.8.3, or data).  Later epoch-3 records are application data and are not flights.  An encrypted
    record repeats when the same sender sent one of the same epoch and length earlier in the transmission, more
    than RETRANSMISSION_PAUSE_S before.  A unified-header record of 19 bytes (ENCRYPTED_ALERT_LEN: 2 bytes, the
    content type and a 16-byte tag) is listed as an alert ("alert encrypted (19-byte epoch-3 record, the size of
    an alert)"): nothing else a WebRTC stack sends is that small; the close_notify at the end of a call looks so.

    Columns: association (int64, as in `associations`), flight (UInt8; null for an alert), transmission (uint16,
    1 = first), retransmission (bool: transmission > 1), retransmissions (uint16: how often this flight was sent
    again), sender (category: client, server, unknown), src, dst ("ip:port" strings), first_t, last_t (float64),
    messages (string: handshake message types in order, change_cipher_spec, encrypted_handshake, or "alert LEVEL
    DESCRIPTION" / "alert encrypted"), records, datagrams, bytes (int64: records, datagrams and UDP payload bytes
    of the transmission), alert (bool), ack (bool: an ACK record, RFC 9147 §7 — a plaintext one, messages "ack", or
    a DTLS 1.3 client's lone ACK-sized epoch-2 record, its ACK of a partly received server flight, by size
    (`ack_sized`); not part of a flight, flight null), frames (string,
    compact: "8-11,96").
    """
    cap = as_capture(dtls_records)  # flights(cap): the capture in place of its two DTLS tables
    if cap is not None:
        dtls_records, dtls_handshakes = cap.dtls_records, cap.dtls_handshakes
    elif dtls_handshakes is None:
        raise TypeError("handshake.flights needs dtls_handshakes with dtls_records (or the capture: flights(cap))")
    rows = []
    for assoc in _annotate(dtls_records, dtls_handshakes):
        _roles(assoc, dtls_handshakes)
        for tx in _transmissions(assoc):
            sizes = _datagram_sizes(tx["records"])
            rows.append({
                "association": assoc.number, "flight": tx["flight"], "transmission": tx["transmission"],
                "retransmission": tx["transmission"] > 1, "retransmissions": tx["retransmissions"],
                "sender": tx["sender"], "src": tx["src"], "dst": tx["dst"], "first_t": tx["first_t"],
                "last_t": tx["last_t"], "messages": ",".join(tx["messages"]), "records": len(tx["records"]),
                "datagrams": len(sizes), "bytes": sum(sizes.values()), "alert": tx["alert"],
                "ack": tx.get("ack", False),
                "frames": compact_frames(r["frame"] for r in tx["records"]),
            })
    return _typed(rows, FLIGHTS_COLUMNS, {"sender": ["client", "server", "unknown"]})


def _typed(rows: list[dict], schema: dict[str, str], categories: dict | None = None) -> pd.DataFrame:
    out = {}
    for name, dtype in schema.items():
        values = [r[name] for r in rows]
        if dtype == "category":
            cats = (categories or {}).get(name)
            out[name] = pd.Categorical(values, categories=cats) if cats else pd.Categorical(values)
        else:
            out[name] = pd.array(values, dtype=dtype) if dtype[0].isupper() or dtype in ("string", "boolean") \
                else np.asarray(values, dtype=dtype)
    return pd.DataFrame(out)


def associations(dtls_records: pd.DataFrame, dtls_handshakes: pd.DataFrame | None = None,
                 rtp: pd.DataFrame | None = None,
                 sdp=None, mtu: int | None = None, stun: pd.DataFrame | None = None,
                 decrypted: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per DTLS association: the transport 5-tuple, both directions together (a relayed one: its outer
    5-tuple and TURN peer), with what its handshake did and a plain verdict.

    Rules:
    - client: the sender of the first ClientHello (else the receiver of a ServerHello/HelloVerifyRequest); server:
      the other end.  For a relayed association the far end is written as seen on the outer 5-tuple; `peer` names
      the TURN peer.
    - done_t: when the last flight was first seen — the server's ChangeCipherSpec/Finished (flight 6), or in an
      abbreviated handshake the client's ChangeCipherSpec/Finished (flight 5 after a server flight that already
      held its ChangeCipherSpec).  handshake_ms = done_t − client_hello_t (the first ClientHello).
    - DTLS 1.3 (see `flights`): done_t is the server's first epoch-3 record after the client's epoch-2 flight (flight
      6); without it, epoch-3 records or DTLS-keyed SRTP from both ends after the client's flight 5 also say
      "completed".  version is the ServerHello's supported_versions (the legacy field says DTLS 1.2), or DTLS 1.3
      without a whole ServerHello when unified-header records (which only DTLS 1.3 has) are seen;
      srtp_profile, client_fingerprint and server_fingerprint stay null without keys (they are encrypted); with
      `decrypted` (webrtcpcap.tables.decrypt.dtls13_associations of cap.dtls_decrypted: the handshake opened with the key
      log) they are read from the opened EncryptedExtensions and Certificates, and the opened alerts replace the
      guesses from record sizes.
    - verdict: "failed" when a readable fatal alert was sent, or an alert came before the handshake was done;
      "completed" when the last flight was seen (or application data flowed both ways: the final flight was not
      captured); "incomplete-capture" when the capture starts after the ClientHello, or ends less than 1 s after
      the last flight, which was sent only once; "stalled" otherwise: the last flight seen was not answered
      (usually retransmitted with the RFC 6347 back-off).  verdict_detail says it in words, evidence_frames names
      the frames to look at.
    - stun (cap.stun): early_client_hellos counts the ClientHello retransmissions sent before the server's first
      flight when the server began its own ICE checks (its first Binding request on the 5-tuple) only after the
      first ClientHello: the server was not ready to answer (in WebRTC typically still waiting for the SDP answer
      with the client's fingerprint), so those ClientHellos need not have been lost.  Null without stun or for a
      relayed association.
    - mtu: with a path MTU, oversize_datagrams counts the DTLS datagrams whose IP packet (UDP payload + 8 + IP
      header of 20 or 40 bytes) exceeds it; max_datagram is the largest UDP payload of a handshake datagram.
    - rtp (cap.rtp): first_srtp_t is the first RTP packet flagged dtls_srtp on the association's endpoints after the
      first ClientHello; to_first_srtp_ms counts from the first ClientHello.
    - sdp (a list of webrtcpcap.sdp.Sdp, offer and answer): each SDP is assigned to the capture endpoint one of its
      candidates names (address and port; not for relayed associations, whose outer 5-tuple is the TURN server's),
      failing that to the endpoint whose certificate matches one of its sha-256 fingerprints.
      fingerprint_matches_sdp is True when every certificate seen matches a sha-256 a=fingerprint of its own
      endpoint's SDP (of any SDP when that endpoint has none assigned), False when one does not, null without
      certificates or SDP fingerprints.  role_matches_setup
      applies RFC 5763 §5 / RFC 4145: the endpoint whose SDP says a=setup:active must be the DTLS client (sent the
      ClientHello), a=setup:passive the server; actpass takes the role opposite to the other SDP's (an offer's
      actpass answered with active makes the offerer the server); null when no SDP could be assigned.

    Columns: association (int64), transport (category), relayed (bool), peer (string), client, server ("ip:port"),
    client_hello_t, done_t, handshake_ms (float64, NaN when unknown), hello_verify (bool: a HelloVerifyRequest or
    DTLS 1.3 HelloRetryRequest, flight 2, was sent), flights (int64, distinct
    flights seen), transmissions, retransmitted_flights (flights sent more than once), retransmissions (records
    sent again), fragmented_messages (handshake messages split into fragments), max_datagram (int64 bytes),
    oversize_datagrams (Int64, null without mtu), version (category, the ServerHello's), cipher_suite,
    srtp_profile (category, as the ServerHello picked), offered_versions (string: the ClientHello's
    supported_versions, "DTLS 1.3,DTLS 1.2", else its legacy version), key_exchange_group (category: the DTLS 1.3
    ServerHello's key_share group, e.g. X25519MLKEM768, or the DTLS 1.2 ServerKeyExchange's curve), client_random,
    server_random (hex), client_fingerprint,
    server_fingerprint (sha-256 "AA:BB:..."), alerts (string: "fatal handshake_failure from client at 1.234 s", ...),
    first_srtp_t, to_first_srtp_ms (Float64), early_client_hellos (Int64, see stun above), verdict (category:
    completed, stalled, failed, incomplete-capture),
    verdict_detail (string), evidence_frames (string), fingerprint_matches_sdp, role_matches_setup (boolean).
    """
    cap = as_capture(dtls_records)
    if cap is not None:  # associations(cap): the capture's tables, as webrtcpcap.analysis.of(cap) passes them
        opened = getattr(cap, "dtls_decrypted", None)
        dtls_records, dtls_handshakes, rtp, sdp, stun = (cap.dtls_records, cap.dtls_handshakes, cap.rtp,
                                                         cap.sdp or None, cap.stun)
        decrypted = decrypt.dtls13_associations(opened) if opened is not None and len(opened) else None
    elif dtls_handshakes is None:
        raise TypeError("handshake.associations needs dtls_handshakes with dtls_records (or the capture: "
                        "associations(cap))")
    hs = dtls_handshakes
    end_t = float(dtls_records["t"].max()) if len(dtls_records) else 0.0
    if rtp is not None and len(rtp):
        end_t = max(end_t, float(rtp["t"].max()))
    sdps = list(sdp) if sdp is not None else []
    rtp_ends = FlowEnds(rtp) if rtp is not None else None  # the RTP rows' ends, coded once for every association
    rows = []
    for assoc in _annotate(dtls_records, dtls_handshakes):
        _roles(assoc, hs)
        txs = _transmissions(assoc)
        flight_tx = [t for t in txs if not t["alert"] and not t.get("ack")]
        alerts = [t for t in txs if t["alert"]]
        frag_rows = [f for r in assoc.rows for f in r["frags"]]
        sender_of = {f["row"]: r["src"] for r in assoc.rows for f in r["frags"]}
        done = _done(flight_tx)
        ch = [t for t in flight_tx if t["flight"] in (1, 3)]
        client_hello_t = min((t["first_t"] for t in ch), default=np.nan)
        sizes = _datagram_sizes([r for r in assoc.rows if r["content_type"] != "application_data"])
        ip_overhead = 8 + (40 if ":" in assoc.a.rsplit(":", 1)[0] else 20)
        facts = _hello_facts(hs, [f["row"] for f in frag_rows], sender_of, assoc)
        if facts["version"] is None and assoc.v13:  # no whole ServerHello, but only DTLS 1.3 has unified headers
            facts["version"] = "DTLS 1.3"
        opened = _opened_facts(decrypted, assoc.number)
        for name in ("srtp_profile", "client_fingerprint", "server_fingerprint"):
            if facts[name] is None and opened.get(name) is not None:
                facts[name] = opened[name]
        app_senders = {r["src"] for r in assoc.rows if r["content_type"] == "application_data"
                       or (r["unified"] and (r["epoch"] or 0) >= 3)}
        if assoc.v13:  # SRTP keyed from this association flowing both ways also says both sides finished
            f5 = [t["first_t"] for t in flight_tx if t["flight"] == 5 and t["sender"] == "client"]
            if f5:
                app_senders |= _srtp_senders(rtp, rtp_ends, assoc, min(f5))
        retx = [t for t in flight_tx if t["transmission"] > 1]
        row = {
            "association": assoc.number, "transport": assoc.transport, "relayed": assoc.relayed,
            "peer": assoc.peer, "client": assoc.client, "server": assoc.server,
            "client_hello_t": client_hello_t, "done_t": done["first_t"] if done else np.nan,
            "handshake_ms": (done["first_t"] - client_hello_t) * 1000 if done else np.nan,
            "hello_verify": any(t["flight"] == 2 for t in flight_tx),
            "flights": len({(t["sender"], t["flight"]) for t in flight_tx}), "transmissions": len(flight_tx),
            "retransmitted_flights": len({(t["sender"], t["flight"]) for t in retx}),
            "retransmissions": sum(len(t["records"]) for t in retx),
            "fragmented_messages": len({(sender_of[f["row"]], f["message_seq"], f["msg_type"]) for f in frag_rows
                                        if f["fragment_length"] < f["length"]}),
            "max_datagram": max(sizes.values(), default=0),
            "oversize_datagrams": None if mtu is None else sum(s + ip_overhead > mtu for s in sizes.values()),
            "alerts": opened.get("alerts") or ", ".join(
                f"{t['messages'][0][6:]} from {t['sender']} at {t['first_t']:.3f} s" for t in alerts) or None,
            **facts,
        }
        row.update(_srtp(rtp, rtp_ends, assoc, client_hello_t))
        row["early_client_hellos"] = _early_client_hellos(stun, assoc, flight_tx)
        row.update(_verdict(assoc, flight_tx, alerts, done, app_senders, end_t))
        row.update(_sdp_checks(sdps, assoc, facts))
        rows.append(row)
    return _typed(rows, ASSOCIATIONS_COLUMNS, {"verdict": VERDICTS})


def _opened_facts(decrypted: pd.DataFrame | None, number: int) -> dict:
    """What the DTLS 1.3 handshake opened with the key log says of association `number` (a row of
    decrypt.dtls13_associations as a dict with None for missing), or {} when it was not opened."""
    if decrypted is None or not len(decrypted):
        return {}
    mine = decrypted[decrypted["association"] == number]
    if not len(mine):
        return {}
    return {k: None if pd.isna(v) else v for k, v in mine.iloc[0].astype(object).items()}


def _done(flight_tx: list[dict]) -> dict | None:
    final = [t for t in flight_tx if t["flight"] == 6 and t["sender"] == "server"]
    if not final:
        abbreviated = any(t["flight"] == 4 and "change_cipher_spec" in t["messages"] for t in flight_tx)
        if abbreviated:
            final = [t for t in flight_tx if t["flight"] == 5 and t["sender"] == "client"]
    return min(final, key=lambda t: t["first_t"]) if final else None


def _early_client_hellos(stun: pd.DataFrame | None, assoc: _Assoc, flight_tx: list[dict]) -> int | None:
    if stun is None or assoc.relayed or not assoc.client or not len(flight_tx):
        return None
    hellos = sorted((t for t in flight_tx if t["flight"] == 1 and t["sender"] == "client"),
                    key=lambda t: t["first_t"])
    if not hellos:
        return None
    src = [_endpoint(a, p) for a, p in zip(stun["src"].astype(object), stun["sport"])]
    dst = [_endpoint(a, p) for a, p in zip(stun["dst"].astype(object), stun["dport"])]
    checks = [t for t, s, d, m, c in zip(stun["t"].tolist(), src, dst, stun["method"].astype(object),
                                         stun["cls"].astype(object))
              if s == assoc.server and d == assoc.client and m == "binding" and c == "request"]
    if checks and min(checks) <= hellos[0]["first_t"]:
        return 0
    answered = min((t["first_t"] for t in flight_tx if t["sender"] == "server" and t["flight"] in (2, 4)),
                   default=np.inf)
    return sum(1 for t in hellos[1:] if t["first_t"] < answered)


def _srtp_senders(rtp: pd.DataFrame | None, rtp_ends: FlowEnds, assoc: _Assoc, after: float) -> set[str]:
    """The association's endpoints that sent DTLS-SRTP-flagged RTP on its 5-tuple at or after `after`."""
    if rtp is None or not len(rtp):
        return set()
    t = rtp["t"].to_numpy(dtype=float)
    sel = t >= after
    if "dtls_srtp" in rtp:
        sel &= rtp["dtls_srtp"].to_numpy(dtype=bool)
    if "relayed" in rtp:
        sel &= rtp["relayed"].to_numpy(dtype=bool) == assoc.relayed
    ends = {assoc.a, assoc.b}
    idx = np.flatnonzero(sel & rtp_ends.between(ends))
    return set(rtp_ends.src_names(idx))


def _srtp(rtp: pd.DataFrame | None, rtp_ends: FlowEnds, assoc: _Assoc, start: float) -> dict:
    if rtp is None or not len(rtp):
        return {"first_srtp_t": None, "to_first_srtp_ms": None}
    sel = rtp_ends.between({assoc.a, assoc.b})  # on the association's 5-tuple, either way
    if "dtls_srtp" in rtp:
        sel &= rtp["dtls_srtp"].to_numpy(dtype=bool)
    if "relayed" in rtp:
        sel &= rtp["relayed"].to_numpy(dtype=bool) == assoc.relayed
        if assoc.relayed and "peer" in rtp:
            sel &= (rtp["peer"].astype(object) == assoc.peer).to_numpy(dtype=bool)
    t = rtp["t"].to_numpy(dtype=float)[sel]
    if not np.isnan(start):
        t = t[t >= start]
    if not len(t):
        return {"first_srtp_t": None, "to_first_srtp_ms": None}
    first = float(t.min())
    return {"first_srtp_t": first, "to_first_srtp_ms": None if np.isnan(start) else (first - start) * 1000}


def _verdict(assoc: _Assoc, flight_tx: list[dict], alerts: list[dict], done: dict | None, app_senders: set,
             end_t: float) -> dict:
    frames = compact_frames(r["frame"] for t in flight_tx for r in t["records"])
    fatal = [t for t in alerts if t["messages"][0].startswith("alert fatal")]
    early = [t for t in alerts if done is None or t["first_t"] < done["first_t"]]
    if fatal or (early and done is None):
        t = (fatal or early)[0]
        return {"verdict": "failed", "evidence_frames": compact_frames(r["frame"] for a in (fatal or early)
                                                                       for r in a["records"]),
                "verdict_detail": f"failed: {t['sender']} sent {t['messages'][0]} at {t['first_t']:.3f} s"
                                  + (f" (after flight {max(x['flight'] for x in flight_tx)})" if flight_tx else "")}
    names = FLIGHT_NAMES_13 if assoc.v13 else FLIGHT_NAMES
    version = ", DTLS 1.3" if assoc.v13 else ""
    if done is not None:
        first = min(flight_tx, key=lambda t: t["first_t"])
        ev = compact_frames([r["frame"] for r in first["records"]] + [r["frame"] for r in done["records"]])
        retx = sum(1 for t in flight_tx if t["transmission"] > 1)
        what = (f"{done['sender']} ACK or data in epoch 3 after the client's encrypted Finished" if assoc.v13
                else f"{done['sender']} Finished")
        detail = f"completed{version}: flight {done['flight']} ({what}) at {done['first_t']:.3f} s"
        if retx:
            detail += f" after {retx} retransmitted flight transmission{'s' if retx > 1 else ''}"
        return {"verdict": "completed", "verdict_detail": detail, "evidence_frames": ev}
    if assoc.client and {assoc.client, assoc.server} <= app_senders:
        return {"verdict": "completed", "evidence_frames": frames,
                "verdict_detail": f"completed{version}: the final flight is not in the capture, but application "
                                  "data" + (" (epoch-3 records or DTLS-keyed SRTP)" if assoc.v13 else "")
                                  + " flowed in both directions"}
    if not any(t["flight"] in (1, 3) for t in flight_tx):
        return {"verdict": "incomplete-capture", "evidence_frames": frames,
                "verdict_detail": "incomplete capture: no ClientHello captured (the capture starts later or misses "
                                  "a direction)"}
    last = max(flight_tx, key=lambda t: (t["flight"], t["first_t"]))
    sent = 1 + last["retransmissions"]
    last_t = max(t["last_t"] for t in flight_tx)
    if sent == 1 and end_t - last_t < 1.0:
        return {"verdict": "incomplete-capture", "evidence_frames": frames,
                "verdict_detail": f"incomplete capture: it ends {1000 * (end_t - last_t):.0f} ms after flight "
                                  f"{last['flight']} ({last['sender']} {names[last['flight']]})"}
    tx_frames = compact_frames(r["frame"] for t in flight_tx if (t["sender"], t["flight"]) ==
                               (last["sender"], last["flight"]) for r in t["records"])
    what = f"retransmitted {sent - 1} time{'s' if sent > 2 else ''}" if sent > 1 else "sent once"
    detail = f"stalled at flight {last['flight']}{version}: {last['sender']} {names[last['flight']]} flight {what}, " \
             "no reply"
    if assoc.v13:
        detail += _encrypted_alert_hint(assoc, last)
    return {"verdict": "stalled", "evidence_frames": tx_frames, "verdict_detail": detail}


def _encrypted_alert_hint(assoc: _Assoc, last: dict) -> str:
    """DTLS 1.3 alerts after the ServerHello are encrypted (RFC 9147 §4): say so when a stall shows none."""
    return " (DTLS 1.3 alerts after the ServerHello are encrypted: one inside a longer record would not show)"


def _sdp_checks(sdps: list, assoc: _Assoc, facts: dict) -> dict:
    none = {"fingerprint_matches_sdp": None, "role_matches_setup": None}
    if not sdps:
        return none
    ends = {"client": assoc.client, "server": assoc.server}
    certs = {role: facts[f"{role}_fingerprint"] for role in ends if facts[f"{role}_fingerprint"]}

    def prints(s) -> set[str]:
        fps = list(s.fingerprints) + [f for m in s.media for f in m.fingerprints]
        return {":".join(f.hex[i:i + 2] for i in range(0, len(f.hex), 2)).upper()
                for f in fps if f.algorithm == "sha-256"}

    def setup(s) -> str | None:
        values = [m.setup for m in s.media if m.setup] or ([s.setup] if s.setup else [])
        return values[0] if values else None

    role_of_sdp: list[str | None] = []
    for s in sdps:
        addresses = {_endpoint(c.address, c.port) for m in s.media for c in m.candidates}
        role = next((r for r, ep in ends.items() if ep and ep in addresses), None) if not assoc.relayed else None
        if role is None:
            role = next((r for r, fp in certs.items() if fp in prints(s)), None)
        role_of_sdp.append(role)
    out = dict(none)
    fps = [prints(s) for s in sdps]
    if certs and any(fps):
        ok = True
        for role, fp in certs.items():
            own = [p for p, r in zip(fps, role_of_sdp) if r == role]
            pool = set().union(*own) if own else set().union(*fps)
            ok &= fp in pool
        out["fingerprint_matches_sdp"] = ok
    setups = [setup(s) for s in sdps]
    checks = []
    for i, (s, role) in enumerate(zip(setups, role_of_sdp)):
        if role is None or s is None:
            continue
        if s == "actpass":
            others = [x for j, x in enumerate(setups) if j != i and x in ("active", "passive")]
            if not others:
                continue
            s = "passive" if others[0] == "active" else "active"
        if s in ("active", "passive"):
            checks.append((s == "active") == (role == "client"))
    if checks and assoc.client:
        out["role_matches_setup"] = all(checks)
    return out
