"""The quic table (RFC 9000 long-header packets, RFC 9001 Initials opened) and quic_connections (one row per QUIC flow:
version, ALPN, server name), from the UDP datagrams the demultiplexer classified as kind quic.

Strategy: webrtcpcap.protocols.quic decodes (packets, Initial protection, frames, CRYPTO reassembly, the TLS hellos through
webrtcpcap.protocols.dtls); this module only walks each flow's datagrams in capture order through a quic.FlowReader, writes one
row per long-header packet, and catches nothing it does not flag: a packet that does not parse or open has its row
with the reason in `error`.  Nothing here reads bytes by hand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..protocols import dtls, quic
from . import schema as tables
from ..io.errors import DecodeError

MAX_DATAGRAMS_PER_FLOW = 200  # a flow's handshake (long headers) is at its start; 1-RTT datagrams after it are opaque

QUIC_SCHEMA: dict[str, str] = {
    **tables.KEY_COLUMNS,
    "flow": "int32",
    "index": "uint8",
    "from_client": "boolean",
    "packet_type": "category",
    "quic_version": "category",
    "quic_dcid": "string",
    "quic_scid": "string",
    "packet_number": "Int64",
    "decrypted": "boolean",
    "crypto_bytes": "UInt32",
    "tls_message": "category",
    "quic_alpn": "string",
    "quic_sni": "string",
    "tls_versions": "string",
    "cipher_suite": "category",
    "key_share": "string",
    "connection_close": "string",
    "error": "category",
}

QUIC_CONNECTIONS_SCHEMA: dict[str, str] = {
    "flow": "int32",
    "client": "string",
    "client_port": "uint16",
    "server": "string",
    "server_port": "uint16",
    "first_t": "float64",
    "quic_version": "category",
    "server_version": "category",
    "quic_dcid": "string",
    "quic_alpn": "string",
    "quic_sni": "string",
    "tls_version": "category",
    "cipher_suite": "category",
    "initials": "uint32",
    "undecrypted": "uint32",
    "connection_close": "string",
}


def wire_text(value: bytes) -> str:
    """Wire bytes (an ALPN id, a host name) as text: ASCII, anything else as \\x escapes (never a decode error)."""
    return bytes(value).decode("ascii", "backslashreplace")


def _hello_columns(message) -> dict:
    """The columns a ClientHello or ServerHello fills (ALPN and SNI from a ClientHello; version and suite chosen
    from a ServerHello)."""
    out = {}
    if isinstance(message, dtls.ClientHello):
        out["tls_message"] = "client_hello"
        for ext in message.extensions or ():
            try:
                if ext.type == dtls.ExtensionType.APPLICATION_LAYER_PROTOCOL_NEGOTIATION:
                    out["quic_alpn"] = ",".join(wire_text(n) for n in dtls.application_layer_protocol_negotiation(ext))
                elif ext.type == dtls.ExtensionType.SERVER_NAME:
                    out["quic_sni"] = ",".join(wire_text(n) for n in dtls.server_name(ext))
                elif ext.type == dtls.ExtensionType.SUPPORTED_VERSIONS:
                    versions = dtls.supported_versions(ext, client_hello=True)
                    out["tls_versions"] = ",".join(dtls.version_name(v) for v in versions)
                elif ext.type == dtls.ExtensionType.KEY_SHARE:
                    out["key_share"] = ",".join(e.group_name for e in dtls.key_share_client_hello(ext))
            except DecodeError as e:
                out["error"] = str(e)
    elif isinstance(message, dtls.ServerHello):
        out["tls_message"] = "server_hello"
        out["cipher_suite"] = dtls.cipher_suite_name(message.cipher_suite)
        try:
            out["tls_versions"] = dtls.version_name(dtls.negotiated_version(message))
            for ext in message.extensions or ():
                if ext.type == dtls.ExtensionType.KEY_SHARE and not message.hello_retry_request:
                    out["key_share"] = dtls.key_share_server_hello(ext).group_name
        except DecodeError as e:
            out["error"] = str(e)
    return out


def _close_text(frame: quic.ConnectionCloseFrame) -> str:
    code = f"0x{frame.error_code:x}"
    if 0x0100 <= frame.error_code <= 0x01FF:  # RFC 9000 §20.1: CRYPTO_ERROR carries a TLS alert
        code += f" (TLS alert {dtls.alert_description_name(frame.error_code - 0x100)})"
    return f"{code}: {wire_text(frame.reason_phrase)}" if frame.reason_phrase else code


def quic_table(keys: pd.DataFrame, payloads: list) -> pd.DataFrame:
    """One row per QUIC long-header packet (RFC 9000 §17.2; coalesced packets of one datagram get a row each, §12.2)
    of the given datagrams: `keys` holds frame, t, src, dst, sport, dport, flow of each (rows of `packets` of kind
    quic, in capture order), `payloads` their UDP payloads (None when not captured whole).  Only the first
    MAX_DATAGRAMS_PER_FLOW datagrams of each flow are read: the handshake is there.  Short-header (1-RTT) packets
    have no row (they are encrypted with keys a capture does not hold); their frames keep kind quic in `packets`.

    Columns: frame, t, src, dst, sport, dport; flow (int32, the flows table's id); index (uint8, the packet's place in
    its datagram); from_client (boolean: sent by the endpoint whose Initial came first in the flow); packet_type
    (category: initial, 0-rtt, handshake, retry, version negotiation, unknown); quic_version (category: "QUIC v1",
    "QUIC v2", "draft-29", or hex); quic_dcid, quic_scid (hex strings); and for Initials, which anyone can open
    (RFC 9001 §5.2): packet_number (Int64, decoded in full), decrypted (boolean: the AEAD tag verified; null for
    other types), crypto_bytes (UInt32, CRYPTO frame bytes in the packet); on the packet whose CRYPTO data completed
    a TLS hello (null elsewhere): tls_message (category: client_hello, server_hello), quic_alpn (string: the
    ClientHello's ALPN ids in order, comma-separated, e.g. "h3"), quic_sni (string: its server_name host names),
    tls_versions (string: the ClientHello's supported_versions in order, or the version the ServerHello chose),
    cipher_suite (category: the ServerHello's), key_share (string: the groups of the ClientHello's key shares, or
    the ServerHello's); connection_close (string: a CONNECTION_CLOSE frame's code and reason, e.g. "0x178 (TLS alert
    no_application_protocol)"); error (category: null, or why the packet did not parse, open or read).  ALPN ids and
    host names are wire bytes shown as ASCII with \\x escapes: escape them before putting them in HTML."""
    cols: dict[str, list] = {name: [] for name in QUIC_SCHEMA}
    rows: list[int] = []  # the keys row of each packet row
    frames = keys["frame"].to_numpy()
    flows = keys["flow"].astype("float64").fillna(-1).to_numpy().astype(np.int64)
    senders = list(zip(keys["src"].astype(str), keys["sport"].to_numpy().tolist()))
    readers: dict[int, quic.FlowReader] = {}
    seen: dict[int, int] = {}
    for i, payload in enumerate(payloads):
        flow = int(flows[i])
        seen[flow] = seen.get(flow, 0) + 1
        if payload is None or not payload or seen[flow] > MAX_DATAGRAMS_PER_FLOW:
            continue
        reader = readers.setdefault(flow, quic.FlowReader())
        for view in reader.datagram(payload, senders[i]):
            rows.append(i)
            _row(cols, flow, view)
    rows = np.asarray(rows, dtype=np.int64)
    out = {
        "frame": frames[rows], "t": keys["t"].to_numpy()[rows],
        "src": keys["src"].iloc[rows].to_numpy() if len(rows) else np.array([], dtype=object),
        "dst": keys["dst"].iloc[rows].to_numpy() if len(rows) else np.array([], dtype=object),
        "sport": keys["sport"].to_numpy()[rows], "dport": keys["dport"].to_numpy()[rows],
    }
    for name in ("src", "dst"):
        out[name] = pd.Categorical(out[name])
    for name, dtype in QUIC_SCHEMA.items():
        if name in out:
            continue
        values = cols[name]
        if dtype == "category":
            out[name] = pd.Categorical(values)
        elif dtype in ("boolean", "Int64", "UInt32", "string"):
            out[name] = pd.array(values, dtype=dtype)
        else:
            out[name] = np.asarray(values, dtype=dtype)
    return tables.frame_table(out, QUIC_SCHEMA)


def _row(cols: dict, flow: int, view: quic.PacketView) -> None:
    packet = view.packet
    header = packet.header if packet is not None else None
    row = {name: None for name in QUIC_SCHEMA if name not in tables.KEY_COLUMNS}
    row.update(flow=flow, index=min(view.index, 255), from_client=view.from_client, error=view.error)
    if packet is not None:
        row.update(packet_type=packet.packet_type, quic_version=header.version_name,
                   quic_dcid=header.destination_connection_id.hex(), quic_scid=header.source_connection_id.hex())
        if packet.packet_type == "initial":
            row["decrypted"] = view.opened is not None
    if view.opened is not None:
        row.update(packet_number=view.opened.packet_number, crypto_bytes=view.crypto_bytes)
    for message in view.messages:
        facts = _hello_columns(message)
        if facts.get("error") and row["error"] is None:
            row["error"] = facts.pop("error")
        facts.pop("error", None)
        row.update(facts)
    closes = [f for f in view.frames if isinstance(f, quic.ConnectionCloseFrame)]
    if closes:
        row["connection_close"] = _close_text(closes[0])
    for name, value in row.items():
        cols[name].append(value)


def quic_connections(quic_rows: pd.DataFrame) -> pd.DataFrame:
    """One row per QUIC flow of a `quic` table (QUIC_CONNECTIONS_SCHEMA): flow; client, client_port (the sender of
    the flow's first Initial), server, server_port; first_t; quic_version (the client's first Initial's), server_version
    (the server's first Initial's: another one under compatible version negotiation, RFC 9368); quic_dcid (the client's
    first destination connection id, which the Initial keys come from); quic_alpn, quic_sni (the ClientHello's: null
    when no ClientHello was read); tls_version, cipher_suite (the ServerHello's choice); initials (Initial packets)
    and undecrypted (those whose protection could not be removed); connection_close (the first CONNECTION_CLOSE
    read).  In order of first_t."""
    out: dict[str, list] = {name: [] for name in QUIC_CONNECTIONS_SCHEMA}
    for flow, g in quic_rows.groupby("flow", sort=False):
        client_rows = g[g["from_client"].fillna(False).astype(bool)]
        server_rows = g[~g["from_client"].fillna(False).astype(bool)]
        if len(client_rows):
            first = client_rows.iloc[0]
            client, client_port, server, server_port = first["src"], first["sport"], first["dst"], first["dport"]
        else:
            first = g.iloc[0]
            client, client_port, server, server_port = first["dst"], first["dport"], first["src"], first["sport"]
        c_init = client_rows[client_rows["packet_type"] == "initial"]
        s_init = server_rows[server_rows["packet_type"] == "initial"]
        hello = client_rows[client_rows["tls_message"] == "client_hello"]
        shello = server_rows[server_rows["tls_message"] == "server_hello"]
        inits = g[g["packet_type"] == "initial"]
        closes = g["connection_close"].dropna()
        out["flow"].append(flow)
        out["client"].append(str(client))
        out["client_port"].append(int(client_port))
        out["server"].append(str(server))
        out["server_port"].append(int(server_port))
        out["first_t"].append(float(g["t"].min()))
        out["quic_version"].append(c_init["quic_version"].iloc[0] if len(c_init) else None)
        out["server_version"].append(s_init["quic_version"].iloc[0] if len(s_init) else None)
        out["quic_dcid"].append(c_init["quic_dcid"].iloc[0] if len(c_init) else None)
        out["quic_alpn"].append(hello["quic_alpn"].iloc[0] if len(hello) else None)
        out["quic_sni"].append(hello["quic_sni"].iloc[0] if len(hello) else None)
        out["tls_version"].append(shello["tls_versions"].iloc[0] if len(shello) else None)
        out["cipher_suite"].append(shello["cipher_suite"].iloc[0] if len(shello) else None)
        out["initials"].append(len(inits))
        out["undecrypted"].append(int((inits["decrypted"] == False).sum()))  # noqa: E712 (nullable boolean)
        out["connection_close"].append(closes.iloc[0] if len(closes) else None)
    df = pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in out.items()})
    df = df.astype({k: v for k, v in QUIC_CONNECTIONS_SCHEMA.items()})
    return df.sort_values("first_t", kind="stable").reset_index(drop=True)


def connection_line(row) -> str:
    """One line naming a QUIC connection (a row of quic_connections): "QUIC v1 h3 to example.org
    (10.0.0.1:50000 > 10.0.0.2:443)"; the ALPN or server name is left out when not read.  Plain text: wire bytes
    come through escaped as ASCII, but HTML must still escape the line."""
    version = row.quic_version if isinstance(row.quic_version, str) else "QUIC"
    words = [version]
    if isinstance(row.server_version, str) and row.server_version != version:
        words.append(f"(server {row.server_version})")
    if isinstance(row.quic_alpn, str) and row.quic_alpn:
        words.append(row.quic_alpn)
    if isinstance(row.quic_sni, str) and row.quic_sni:
        words.append(f"to {row.quic_sni}")
    words.append(f"({row.client}:{row.client_port} > {row.server}:{row.server_port})")
    if row.undecrypted:
        words.append(f"[{row.undecrypted} of {row.initials} Initials not decrypted]")
    if isinstance(row.connection_close, str):
        words.append(f"closed: {row.connection_close}")
    return " ".join(words)
