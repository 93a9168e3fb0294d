"""webrtcpcap.anonymize: the anonymised copy of a capture keeps frames, timing, table shapes and every analysis's
verdicts, and no original address, ufrag or username survives in its bytes.

Reference values: crafted packets whose content is known (built with scapy and struct here), the original capture's
own tables (the anonymised file must give the same ones, modulo the address and name mapping, which is read off the
two files' rows side by side), and tshark's checksum and fingerprint verdicts on the output.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import struct
import subprocess
import warnings
import zlib

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether

import webrtcpcap
from webrtcpcap import anonymize, handshake, ice
from webrtcpcap.protocols import stun
from webrtcpcap.tools.anonymize import Mapper, anonymize_file

from pathlib import Path

from conftest import CAPTURES, PUBLIC_CAPTURES, write_pcap

LAB = ["aiortc_clean", "turn_relay_static", "turn_relay_rest_chromium", "ice_udp_blocked", "dtls_handshake_loss",
       "janus_mtu576"]
PUBLIC_TCP = ["ndpi_stun_dtls_rtp.pcapng", "srtpdec_tcp_call_02_03_client.pcap", "ndpi_stun.pcap"]
COOKIE = 0x2112A442
# Where the public captures are (beside the project; WEBRTCPCAP_PUBLIC_CAPTURES points elsewhere, e.g. from a worktree).
PUBLIC_DIR = Path(os.environ.get("WEBRTCPCAP_PUBLIC_CAPTURES") or PUBLIC_CAPTURES)


def _open(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return webrtcpcap.open(path, progress=False)


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    """name -> (original Capture, anonymised Capture, output path, summary); anonymised once per module."""
    out = {}
    tmp = tmp_path_factory.mktemp("anon")
    for name in LAB:
        dst = tmp / f"{name}.pcap"
        summary = anonymize_file(CAPTURES / f"{name}.pcap", dst, seed="test")
        out[name] = (_open(CAPTURES / f"{name}.pcap"), _open(dst), dst, summary)
    if PUBLIC_DIR.is_dir():
        for name in PUBLIC_TCP:
            dst = tmp / name
            summary = anonymize_file(PUBLIC_DIR / name, dst, seed="test")
            out[name] = (_open(PUBLIC_DIR / name), _open(dst), dst, summary)
    return out


ALL = LAB + PUBLIC_TCP


def _get(pairs_, name):
    if name not in pairs_:
        pytest.skip(f"{PUBLIC_DIR} is absent (public captures live beside the project, not in it)")
    return pairs_[name]


# --- the mapping read off the two files --------------------------------------------------------------------------


def _split(endpoint: str) -> tuple[str, str]:
    host, _, port = endpoint.rpartition(":")
    return host.strip("[]"), port


def _translation(a, b) -> dict[str, str]:
    """original text -> anonymised text, for addresses ("ip"), endpoints ("ip:port") and names, from rows that
    describe the same thing in both files: packets (src, dst), stun (username), stun_attributes (value)."""
    tr: dict[str, str] = {}
    pa, pb = a.packets, b.packets
    for col in ("src", "dst"):
        for x, y in zip(pa[col].astype("string").fillna(""), pb[col].astype("string").fillna("")):
            if x:
                tr.setdefault(x, y)
    sa, sb = a.stun_attributes, b.stun_attributes
    for name, x, y in zip(_text(sa["name"]), _text(sa["value"]), _text(sb["value"])):
        if name.endswith("ADDRESS") or name in ("ALTERNATE-SERVER", "RESPONSE-ORIGIN", "OTHER-ADDRESS"):
            hx, _ = _split(x)
            hy, _ = _split(y)
            tr.setdefault(hx, hy)
    for x, y in zip(_text(a.stun["username"]), _text(b.stun["username"])):
        if x:
            tr.setdefault(x, y)
            for px, py in zip(x.split(":"), y.split(":")):  # each ufrag alone, for unordered pairs ("ufrags")
                tr.setdefault(px, py)
    return tr


def _text(col: pd.Series) -> list[str]:
    return col.astype("string").fillna("").tolist()


def _translate(value, tr: dict[str, str]):
    if pd.isna(value) if not isinstance(value, (list, tuple, np.ndarray)) else False:
        return value
    s = str(value)
    if s in tr:
        return tr[s]
    host, port = _split(s)
    if port.isdigit() and host in tr:
        mapped = tr[host]
        return f"[{mapped}]:{port}" if ":" in mapped else f"{mapped}:{port}"
    return s


def _assert_same(dfa: pd.DataFrame, dfb: pd.DataFrame, tr: dict[str, str], skip=()) -> None:
    assert list(dfa.columns) == list(dfb.columns)
    assert dfa.shape == dfb.shape
    for col in dfa.columns:
        if col in skip:
            continue
        ca, cb = dfa[col], dfb[col]
        if ca.dtype.kind in "fiub" or str(ca.dtype) in ("Float64", "Int64", "UInt16", "UInt32", "boolean"):
            pd.testing.assert_series_equal(ca, cb, check_names=False, obj=col)
        elif str(ca.dtype).startswith("datetime"):
            pd.testing.assert_series_equal(ca, cb, check_names=False, obj=col)
        elif col == "ufrags":  # an unordered ufrag pair, written sorted: the mapping changes the order
            exp = [None if pd.isna(v) else ":".join(sorted(tr.get(p, p) for p in str(v).split(":")))
                   for v in ca.tolist()]
            got = [None if pd.isna(v) else str(v) for v in cb.tolist()]
            assert exp == got, col
        else:
            exp = [None if pd.isna(v) else str(_translate(v, tr)) for v in ca.tolist()]
            got = [None if pd.isna(v) else str(v) for v in cb.tolist()]
            assert exp == got, col


# --- frames, kinds, STUN -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_frames_timestamps_lengths_and_kinds_are_kept(pairs, name):
    a, b, _, summary = _get(pairs, name)
    assert len(a) == len(b) == summary["frames"]
    pa, pb = a.packets, b.packets
    assert (pa["time"].to_numpy() == pb["time"].to_numpy()).all()
    assert (pa["len"].to_numpy() == pb["len"].to_numpy()).all()
    for col in ("kind", "transport", "evidence", "ip_version", "sport", "dport", "payload_len", "flow"):
        assert pa[col].astype("string").fillna("").equals(pb[col].astype("string").fillna("")), col
    webrtc = pa["kind"].astype(str).isin(["stun", "dtls", "rtp", "rtcp", "turn-channel"]).to_numpy()
    assert (pa["caplen"].to_numpy()[webrtc] == pb["caplen"].to_numpy()[webrtc]).all()
    # every address was replaced by another, except the ones kept on purpose (loopback, multicast, broadcast)
    for x, y in zip(pa["src"].astype("string").fillna(""), pb["src"].astype("string").fillna("")):
        if x:
            ip = ipaddress.ip_address(x)
            kept = ip.is_loopback or ip.is_multicast or ip.is_unspecified or x == "255.255.255.255"
            assert (x == y) == kept, (x, y)


@pytest.mark.parametrize("name", ALL)
def test_stun_table_keeps_shape_transactions_and_fingerprints(pairs, name):
    a, b, _, summary = _get(pairs, name)
    sa, sb = a.stun, b.stun
    assert sa.shape == sb.shape
    for col in ("frame", "method", "cls", "transaction_id", "use_candidate", "priority", "ice_role", "error_code",
                "relayed", "software"):
        pd.testing.assert_series_equal(sa[col], sb[col], obj=col)
    pd.testing.assert_series_equal(sa["fingerprint_ok"], sb["fingerprint_ok"])
    assert sb["error"].isna().equals(sa["error"].isna())
    assert a.stun_attributes.shape == b.stun_attributes.shape
    pd.testing.assert_series_equal(a.stun_attributes["name"], b.stun_attributes["name"])
    # usernames: replaced, same shape ("a:b"), TURN REST expiries kept
    for x, y in zip(sa["username"].dropna(), sb["username"].dropna()):
        assert x != y and len(x.encode()) == len(y.encode()) and x.count(":") == y.count(":")
    if summary["integrity_not_verifiable"]:
        assert summary["integrity_not_verifiable"] <= len(sb) * 2


def test_turn_rest_username_keeps_its_expiry_so_expiry_analyses_agree(pairs):
    a, b, _, _ = pairs["turn_relay_rest_chromium"]
    ta = ice.turn_allocations(a.stun, a.stun_attributes, start=a.packets.time.iloc[0])
    tb = ice.turn_allocations(b.stun, b.stun_attributes, start=b.packets.time.iloc[0])
    assert ta["rest_expiry"].notna().any()
    _assert_same(ta, tb, _translation(a, b))
    for x, y in zip(ta["username"], tb["username"]):
        assert x.split(":")[0] == y.split(":")[0] and x != y


# --- analyses ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_ice_analyses_give_the_same_verdicts(pairs, name):
    a, b, _, _ = _get(pairs, name)
    tr = _translation(a, b)
    relayed = name.startswith("turn_")
    kw = {"relayed_media": (a.rtp, a.rtcp)} if relayed else {}
    kwb = {"relayed_media": (b.rtp, b.rtcp)} if relayed else {}
    _assert_same(ice.summary(a.stun, a.packets, a.stun_attributes, **kw),
                 ice.summary(b.stun, b.packets, b.stun_attributes, **kwb), tr)
    _assert_same(ice.candidate_pairs(a.stun, a.packets, a.stun_attributes, **kw),
                 ice.candidate_pairs(b.stun, b.packets, b.stun_attributes, **kwb), tr)
    _assert_same(ice.turn_allocations(a.stun, a.stun_attributes), ice.turn_allocations(b.stun, b.stun_attributes),
                 tr)
    _assert_same(ice.nat_behaviour(a.stun), ice.nat_behaviour(b.stun), tr)


@pytest.mark.parametrize("name", ALL)
def test_dtls_associations_and_streams_are_unchanged(pairs, name):
    a, b, _, _ = _get(pairs, name)
    tr = _translation(a, b)
    assert a.dtls_records.shape == b.dtls_records.shape
    assert a.dtls_handshakes.shape == b.dtls_handshakes.shape
    ha = handshake.associations(a.dtls_records, a.dtls_handshakes, a.rtp)
    hb = handshake.associations(b.dtls_records, b.dtls_handshakes, b.rtp)
    # certificates were rewritten (names), so their fingerprints differ; everything else is the same
    _assert_same(ha, hb, tr, skip=("client_fingerprint", "server_fingerprint"))
    assert list(ha["verdict"]) == list(hb["verdict"])
    _assert_same(a.streams, b.streams, tr)


def test_certificate_names_are_replaced_and_certificates_still_parse(pairs):
    a, b, _, summary = pairs["aiortc_clean"]
    assert summary["certificates"] >= 2
    xa = a.dtls_handshakes["certificate_subject"].dropna()
    xb = b.dtls_handshakes["certificate_subject"].dropna()
    assert len(xa) == len(xb) >= 2
    for x, y in zip(xa, xb):
        assert x != y and x.split("=")[0] == y.split("=")[0] and len(x) == len(y)
    body = open(b.path, "rb").read()
    for x in xa:
        assert x.split("=", 1)[1].encode() not in body


# --- nothing original survives -----------------------------------------------------------------------------------


def _forms(addr: str, tids: list[bytes]) -> list[bytes]:
    ip = ipaddress.ip_address(addr)
    raw = ip.packed
    forms = [raw, addr.encode()]
    cookie = struct.pack(">I", COOKIE)
    if ip.version == 4:
        forms.append(bytes(x ^ y for x, y in zip(raw, cookie)))
    else:
        forms.append(ip.exploded.encode())
        for tid in tids:
            forms.append(bytes(x ^ y for x, y in zip(raw, cookie + tid)))
    return forms


@pytest.mark.parametrize("name", ALL)
def test_no_original_address_or_name_survives_in_the_output_bytes(pairs, name):
    a, b, path, _ = _get(pairs, name)
    data = path.read_bytes()
    original = (CAPTURES / f"{name}.pcap" if name in LAB else PUBLIC_DIR / name).read_bytes()
    tids = [bytes.fromhex(t) for t in a.stun["transaction_id"].dropna().unique()]
    addresses = set(_text(a.packets["src"])) | set(_text(a.packets["dst"]))
    addresses.discard("")
    for name_, value in zip(_text(a.stun_attributes["name"]), _text(a.stun_attributes["value"])):
        if name_.endswith("ADDRESS"):
            addresses.add(_split(value)[0])
    checked = 0
    for addr in sorted(addresses):
        ip = ipaddress.ip_address(addr)
        if ip.is_loopback or ip.is_multicast or ip.is_unspecified or addr == "255.255.255.255":
            continue
        forms = _forms(addr, tids)
        assert any(form in original for form in forms), addr  # the search can fail: some form was there before
        for form in forms:
            assert form not in data, (addr, form)
        checked += 1
    assert checked >= 2
    names = set()
    for u in a.stun["username"].dropna():
        expiry, _, rest = u.partition(":")
        parts = [rest] if expiry.isdigit() else u.split(":")
        names.update(p for p in parts if len(p) >= 4)
    for realm in a.stun_attributes.loc[a.stun_attributes["name"] == "REALM", "value"].dropna():
        names.add(realm)
    for n in names:
        assert n.encode() in original
        assert n.encode() not in data, n


# --- tshark reads it cleanly -------------------------------------------------------------------------------------

TSHARK_PROBLEMS = ("ip.checksum.status==0 || udp.checksum.status==0 || tcp.checksum.status==0 || "
                   "icmp.checksum.status==0 || icmpv6.checksum.status==0 || stun.att.crc32.status==0 || _ws.malformed")


def _tshark_problems(path) -> dict[int, str]:
    out = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-o", "udp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
         "-o", "tcp.check_checksum:TRUE", "-T", "fields", "-e", "frame.number", "-e", "ip.checksum.status",
         "-e", "udp.checksum.status", "-e", "tcp.checksum.status", "-e", "icmp.checksum.status",
         "-e", "stun.att.crc32.status", "-Y", TSHARK_PROBLEMS],
        capture_output=True, text=True, timeout=300, check=True).stdout
    return {int(line.split("\t")[0]): line for line in out.splitlines() if line.strip()}


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
@pytest.mark.parametrize("name", ["turn_relay_static", "janus_mtu576", "ndpi_stun.pcap", "ndpi_stun_dtls_rtp.pcapng"])
def test_tshark_sees_no_new_malformed_frames_and_no_bad_checksums(pairs, name):
    a, b, path, _ = _get(pairs, name)
    before = _tshark_problems(a.path)
    after = _tshark_problems(path)
    assert set(after) <= set(before), {f: after[f] for f in set(after) - set(before)}
    for line in after.values():  # what remains is the original's (malformed RTCP heuristics, a bad FINGERPRINT)
        cols = line.split("\t")
        assert "0" not in cols[1:4], line  # no bad IP, UDP, TCP checksum anywhere


# --- crafted packets ---------------------------------------------------------------------------------------------


def _stun_message(tid: bytes, attrs: list[tuple[int, bytes]], fingerprint: bool = True) -> bytes:
    body = b"".join(struct.pack(">HH", t, len(v)) + v + b"\0" * (-len(v) % 4) for t, v in attrs)
    mtype = 0x0101  # Binding success
    if fingerprint:
        head = struct.pack(">HHI", mtype, len(body) + 8, COOKIE) + tid + body
        crc = zlib.crc32(head) ^ 0x5354554E
        return head + struct.pack(">HHI", 0x8028, 4, crc)
    return struct.pack(">HHI", mtype, len(body), COOKIE) + tid + body


def _xor_v4(ip: str, port: int) -> bytes:
    raw = ipaddress.ip_address(ip).packed
    return struct.pack(">BBH", 0, 1, port ^ (COOKIE >> 16)) + bytes(
        x ^ y for x, y in zip(raw, struct.pack(">I", COOKIE)))


def _xor_v6(ip: str, port: int, tid: bytes) -> bytes:
    raw = ipaddress.ip_address(ip).packed
    return struct.pack(">BBH", 0, 2, port ^ (COOKIE >> 16)) + bytes(
        x ^ y for x, y in zip(raw, struct.pack(">I", COOKIE) + tid))


def test_crafted_stun_addresses_are_mapped_inside_xor_encoding_and_fingerprint_recomputed(tmp_path):
    tid4, tid6 = bytes(range(12)), bytes(range(12, 24))
    msg4 = _stun_message(tid4, [(0x0020, _xor_v4("203.0.113.7", 50000)), (0x0001, b"\0\1\xc3\x50" +
                                                                          ipaddress.ip_address("198.51.100.9").packed)])
    msg6 = _stun_message(tid6, [(0x0020, _xor_v6("2a00:1450::7", 40000, tid6))])
    frames = [
        bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="192.168.1.10", dst="203.0.113.7")
              / UDP(sport=50000, dport=3478) / msg4),
        bytes(Ether() / IPv6(src="2a00:1450::7", dst="2001:470::1") / UDP(sport=40000, dport=3478) / msg6),
        bytes(Ether(src="02:00:00:00:00:01", dst="ff:ff:ff:ff:ff:ff") /
              ARP(psrc="192.168.1.10", pdst="192.168.1.1", hwsrc="02:00:00:00:00:01")),
    ]
    src = write_pcap(tmp_path / "in.pcap", frames)
    summary = anonymize_file(src, tmp_path / "out.pcap", seed=b"k")
    assert summary["fingerprints_recomputed"] == 2
    m = Mapper(anonymize._key(b"k"))
    out = _open(tmp_path / "out.pcap")
    got4 = stun.parse(out.frame_bytes(1)[42:])
    assert got4.get(0x0020) == (str(ipaddress.ip_address(m.ipv4(ipaddress.ip_address("203.0.113.7").packed))), 50000)
    assert got4.get(0x0001)[0] == str(ipaddress.ip_address(m.ipv4(ipaddress.ip_address("198.51.100.9").packed)))
    assert stun.fingerprint_ok(out.frame_bytes(1)[42:]) is True
    got6 = stun.parse(out.frame_bytes(2)[62:])
    new6 = got6.get(0x0020)[0]
    assert new6 == str(ipaddress.ip_address(m.ipv6(ipaddress.ip_address("2a00:1450::7").packed)))
    assert new6.startswith("2001:db8:")
    assert stun.fingerprint_ok(out.frame_bytes(2)[62:]) is True
    assert out.packets["dst"].astype(str).iloc[1] == str(ipaddress.ip_address(
        m.ipv6(ipaddress.ip_address("2001:470::1").packed)))
    # scapy checks the checksums tshark would
    e4 = Ether(out.frame_bytes(1))
    assert e4[IP].src.startswith("192.168.") and e4[IP].src != "192.168.1.10"
    rebuilt = IP(bytes(e4[IP]))
    del rebuilt.chksum, rebuilt[UDP].chksum
    rebuilt = IP(bytes(rebuilt))
    assert (rebuilt.chksum, rebuilt[UDP].chksum) == (e4[IP].chksum, e4[UDP].chksum)
    arp = Ether(out.frame_bytes(3))[ARP]
    assert arp.psrc == e4[IP].src and arp.pdst != "192.168.1.1" and arp.pdst.startswith("192.168.")
    assert arp.hwsrc != "02:00:00:00:00:01" and Ether(out.frame_bytes(3)).dst == "ff:ff:ff:ff:ff:ff"


def test_non_webrtc_payloads_are_cut_with_original_length_kept(tmp_path):
    sdp = b"v=0\r\nc=IN IP4 198.51.100.9\r\na=candidate:1 1 udp 1 198.51.100.9 5000 typ host\r\n"
    frames = [bytes(Ether() / IP(src="10.1.2.3", dst="198.51.100.9") / UDP(sport=5060, dport=5060) / sdp)]
    src = write_pcap(tmp_path / "in.pcap", frames)
    summary = anonymize_file(src, tmp_path / "out.pcap", seed="s")
    assert summary["frames_cut"] == 1
    data = (tmp_path / "out.pcap").read_bytes()
    assert b"a=candidate" not in data and b"198.51.100.9" not in data
    out = _open(tmp_path / "out.pcap")
    assert int(out.packets["len"].iloc[0]) == len(frames[0])
    assert int(out.packets["caplen"].iloc[0]) == 14 + 20 + 8
    assert out.packets["kind"].astype(str).iloc[0] == "other"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.binary(max_size=120), raw=st.binary(max_size=80))
def test_garbage_after_a_stun_header_or_as_a_whole_frame_never_raises(tmp_path, payload, raw):
    """Property: STUN-looking datagrams with random attributes, and random frames, are rewritten without an
    exception; frame count and wire lengths are kept."""
    head = struct.pack(">HHI", 0x0001, len(payload) & ~3, COOKIE) + bytes(12)
    frames = [bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=5000, dport=5001) / (head + payload)),
              raw or b"\0", bytes(Ether() / IP(src="10.0.0.2", dst="10.0.0.1") / UDP(sport=5001, dport=5000) / raw)]
    src = write_pcap(tmp_path / "g.pcap", frames)
    summary = anonymize_file(src, tmp_path / "g_out.pcap", seed="g")
    out = _open(tmp_path / "g_out.pcap")
    assert summary["frames"] == len(out) == 3
    assert out.packets["len"].tolist() == [len(f) for f in frames]


def test_same_seed_gives_the_same_file_and_another_seed_another(tmp_path):
    src = CAPTURES / "ice_udp_blocked.pcap"
    anonymize_file(src, tmp_path / "a.pcap", seed="one")
    anonymize_file(src, tmp_path / "b.pcap", seed="one")
    anonymize_file(src, tmp_path / "c.pcap", seed="two")
    assert (tmp_path / "a.pcap").read_bytes() == (tmp_path / "b.pcap").read_bytes()
    assert (tmp_path / "a.pcap").read_bytes() != (tmp_path / "c.pcap").read_bytes()


def test_pcapng_output_carries_the_integrity_note(pairs):
    _, b, path, _ = _get(pairs, "ndpi_stun_dtls_rtp.pcapng")
    assert b.format == "pcapng"
    assert b"MESSAGE-INTEGRITY is not verifiable" in path.read_bytes()[:512]


# --- the mapping itself ------------------------------------------------------------------------------------------


def test_mapping_keeps_classes_and_is_one_to_one():
    m = Mapper(b"key")
    v4 = [ipaddress.IPv4Address(x).packed for x in ("10.0.0.1", "10.0.0.2", "172.20.1.1", "192.168.0.5",
                                                    "100.64.3.3", "169.254.1.1", "8.8.8.8", "1.1.1.1")]
    out = [m.ipv4(x) for x in v4]
    assert len(set(out)) == len(out) and all(o != x for o, x in zip(out, v4))
    assert [str(ipaddress.IPv4Address(o)).split(".")[0] for o in out[:2]] == ["10", "10"]
    assert ipaddress.IPv4Address(out[2]) in ipaddress.ip_network("172.16.0.0/12")
    assert ipaddress.IPv4Address(out[3]) in ipaddress.ip_network("192.168.0.0/16")
    assert ipaddress.IPv4Address(out[4]) in ipaddress.ip_network("100.64.0.0/10")
    assert ipaddress.IPv4Address(out[5]) in ipaddress.ip_network("169.254.0.0/16")
    assert all(ipaddress.IPv4Address(o).is_global for o in out[6:])
    for kept in ("127.0.0.1", "224.0.0.251", "255.255.255.255", "0.0.0.0"):
        assert m.ipv4(ipaddress.IPv4Address(kept).packed) == ipaddress.IPv4Address(kept).packed
    assert m.ipv4(v4[0]) == out[0]  # consistent
    ll = m.ipv6(ipaddress.IPv6Address("fe80::1234:5678").packed)
    assert ipaddress.IPv6Address(ll) in ipaddress.ip_network("fe80::/64")
    assert m.ipv6(ipaddress.IPv6Address("::1").packed) == ipaddress.IPv6Address("::1").packed
    mapped = m.ipv6(ipaddress.IPv6Address("::ffff:10.0.0.1").packed)
    assert mapped[12:] == out[0]
    assert Mapper(b"other").ipv4(v4[6]) != out[6]


def test_names_keep_their_length_and_rest_usernames_their_expiry():
    a = anonymize._Anonymizer(b"key")
    assert a._username(b"abcd:WXYZ", ice=True) == a.m.name(b"abcd") + b":" + a.m.name(b"WXYZ")
    rest = a._username(b"1700000000:alice", ice=False)
    assert rest.startswith(b"1700000000:") and rest != b"1700000000:alice" and len(rest) == 16
    assert len(a._username(b"static-user", ice=False)) == 11
    assert a.m.name(b"abcd") != b"abcd" and a.m.name(b"abcd") == a.m.name(b"abcd")


def test_cli_main_writes_the_copy_and_refuses_to_overwrite_the_input(tmp_path, capsys):
    src = CAPTURES / "ice_udp_blocked.pcap"
    assert anonymize.main([str(src), str(tmp_path / "o.pcap"), "--seed", "x"]) == 0
    assert "frames" in capsys.readouterr().out
    assert len(_open(tmp_path / "o.pcap")) == len(_open(src))
    assert anonymize.main([str(src), str(src)]) == 2
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"not a capture at all")
    assert anonymize.main([str(bad), str(tmp_path / "x.pcap")]) == 2


# --- fail closed, RTCP texts (issue 15 item 4, issue 16 failure 7) --------------------------------------------------

def _attr(atype: int, value: bytes) -> bytes:
    return struct.pack(">HH", atype, len(value)) + value + b"\0" * (-len(value) % 4)


def test_stun_it_cannot_vouch_for_is_cut_or_filled_and_rtcp_texts_are_replaced(tmp_path):
    """Classic (no cookie) STUN, an attribute list that does not chain (MS-TURN-like), a vendor attribute and a
    malformed XOR-MAPPED-ADDRESS that hold addresses, a plaintext RTCP SDES with every personal item and a BYE
    reason: none of those bytes reach the output; the RTCP still reads, item for item, with the same lengths."""
    from conftest import rtcp_sr, stun_call, stun_message, udp4

    secret_v4 = [ipaddress.ip_address(a).packed for a in ("198.51.100.77", "203.0.113.55", "203.0.113.66")]
    tid = bytes(range(12))
    classic = struct.pack(">HH", 0x0101, 12) + bytes(16) + _attr(0x0001, b"\0\1\x13\x88" + secret_v4[0])
    vendor = stun_message(0x0101, tid, _attr(0x8090, b"\0\1\x13\x88" + secret_v4[1]) + _attr(0x0024, b"\0\0\0\1"))
    bad_xor = stun_message(0x0101, tid, _attr(0x0020, b"\0\1\x13\x88" + bytes(
        x ^ y for x, y in zip(secret_v4[2], struct.pack(">I", COOKIE))) + b"\0" * 4))
    unchained = stun_message(0x0001, tid, _attr(0x0006, b"daveufrag:erinufrag"))
    unchained = unchained[:2] + struct.pack(">H", len(unchained) - 20 + 4) + unchained[4:] + b"\0\x06\0\x40"
    texts = {1: b"alice@192.168.1.2", 2: b"Alice Liddell", 3: b"alice@example.com", 4: b"+1 555 0100",
             5: b"Wonderland", 6: b"secret-tool 1.0", 7: b"on a call", 8: b"\x01xprivate-value"}
    items = b"".join(bytes([t, len(v)]) + v for t, v in texts.items()) + bytes([15, 1]) + b"0"  # MID "0" stays
    chunk = struct.pack(">I", 0x11223344) + items + b"\0"
    chunk += b"\0" * (-len(chunk) % 4)
    sdes = struct.pack(">BBH", 0x81, 202, len(chunk) // 4) + chunk
    reason = b"alice leaves"
    bye = struct.pack(">BBHI", 0x81, 203, 1 + (1 + len(reason) + 3) // 4, 0x11223344) + bytes([len(reason)]) \
        + reason + b"\0" * (-(1 + len(reason)) % 4)
    compound = rtcp_sr(0x11223344) + sdes + bye
    frames = stun_call(4) + [udp4(m) for m in (classic, vendor, bad_xor, unchained, compound)]
    src = write_pcap(tmp_path / "in.pcap", frames)
    summary = anonymize_file(src, tmp_path / "out.pcap", seed="closed")
    data = (tmp_path / "out.pcap").read_bytes()
    original = src.read_bytes()
    xored = bytes(x ^ y for x, y in zip(secret_v4[2], struct.pack(">I", COOKIE)))
    for secret in secret_v4[:2] + [xored] + list(texts.values()) + [reason, b"daveufrag", b"erinufrag"]:
        assert secret in original
        assert secret not in data, secret
    assert summary["unreadable_frames"] == [len(frames) - 4, len(frames) - 1] or \
        set(summary["unreadable_frames"]) >= {len(frames) - 1}  # the unchained message (classic may be non-STUN)
    a, b = _open(src), _open(tmp_path / "out.pcap")
    sa, sb = a.rtcp_sdes, b.rtcp_sdes
    assert sa.item.tolist() == sb.item.tolist() and len(sa) == 9
    assert [len(t) for t in sa.text] == [len(t) for t in sb.text]
    kept = sb.item.astype(str) == "mid"
    assert (sb.text[kept] == sa.text[kept]).all() and (sb.text[~kept] != sa.text[~kept]).all()
    assert b.rtcp_bye.reason.str.len().tolist() == [len(reason)] and b.rtcp_bye.reason.iloc[0] != "alice leaves"
    assert b.rtcp_sender_reports.ssrc.tolist() == [0x11223344]


EVERY_CAPTURE = sorted(p.name for p in CAPTURES.glob("*.pcap")) + (
    sorted("public/" + p.name for p in PUBLIC_DIR.glob("*.pcap*")) if PUBLIC_DIR.is_dir() else [])


def _tshark_stun_values(path) -> tuple[set[str], set[str]]:
    """(addresses, usernames) tshark reads in STUN (plain and XOR-decoded): an oracle independent of this package."""
    if shutil.which("tshark") is None:
        return set(), set()
    fields = ["stun.att.ipv4", "stun.att.ipv6", "stun.att.ipv4-xord", "stun.att.ipv6-xord", "stun.att.username"]
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-Y", "stun", "-T", "fields", "-E", "separator=\t",
                          "-E", "aggregator=\x1f", *[a for f in fields for a in ("-e", f)]],
                         capture_output=True, text=True, timeout=300).stdout
    addresses, usernames = set(), set()
    for line in out.splitlines():
        cols = (line.split("\t") + [""] * 5)[:5]
        for col in cols[:4]:
            addresses.update(v for v in col.split("\x1f") if v)
        usernames.update(v for v in cols[4].split("\x1f") if v)
    return addresses, usernames


def _macs(path) -> set[bytes]:
    from webrtcpcap.io import reader

    data, index, state, _owner = reader.read_all(path)
    batch = reader.make_batch(data, index, 0, len(index), state, 1)
    lts = [i.linktype for i in state.interfaces]
    out = set()
    for o, c, i in zip(batch.offset.tolist(), batch.caplen.tolist(), batch.interface.tolist()):
        if i < len(lts) and lts[i] == 1 and c >= 12:  # Ethernet
            frame = batch.source.bytes_at(int(o), 12)
            for mac in (frame[:6], frame[6:12]):
                if not mac[0] & 1 and mac != bytes(6):  # unicast, set
                    out.add(bytes(mac))
    return out


@pytest.mark.parametrize("name", EVERY_CAPTURE)
def test_no_original_address_mac_ufrag_username_or_rtcp_name_survives_anywhere(tmp_path, name):
    """Issue 15: on every recorded and public capture, the output bytes hold no original IP address (plain, XOR
    with the cookie and, for IPv6, the transaction ids; as text too), unicast MAC, ICE ufrag, TURN username or realm,
    or RTCP SDES name, whatever this package or tshark could read of them."""
    path = PUBLIC_DIR / name.removeprefix("public/") if name.startswith("public/") else CAPTURES / name
    dst = tmp_path / path.name
    anonymize_file(path, dst, seed="every")
    data = dst.read_bytes()
    a = _open(path)
    addresses = set(_text(a.packets["src"])) | set(_text(a.packets["dst"]))
    for name_, value in zip(_text(a.stun_attributes["name"]), _text(a.stun_attributes["value"])):
        if name_.endswith("ADDRESS") or name_ in ("ALTERNATE-SERVER", "RESPONSE-ORIGIN", "OTHER-ADDRESS"):
            addresses.add(_split(value)[0])
    t_addresses, t_usernames = _tshark_stun_values(path)
    addresses |= t_addresses
    addresses.discard("")
    tids = [bytes.fromhex(t) for t in a.stun["transaction_id"].dropna().unique()]
    leaks = []
    for addr in sorted(addresses):
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            continue
        if ip.is_loopback or ip.is_multicast or ip.is_unspecified or addr == "255.255.255.255" or (
                ip.version == 4 and (int(ip) >> 24 == 0 or int(ip) >> 28 >= 14)):
            continue  # kept on purpose (module docstring)
        forms = _forms(addr, tids) + ([str(ip).encode()] if len(str(ip)) >= 7 else [])
        leaks += [(addr, form) for form in forms if form in data]
    for mac in _macs(path):
        if mac in data:
            leaks.append((mac.hex(":"), mac))
    names = set()
    for u in set(a.stun["username"].dropna()) | t_usernames:
        expiry, _, rest = u.partition(":")
        names.update(p for p in ([rest] if expiry.isdigit() else u.split(":")) if len(p) >= 4)
    names |= set(a.stun_attributes.loc[a.stun_attributes["name"] == "REALM", "value"].dropna())
    sdes = a.rtcp_sdes
    names |= {t for t, item in zip(sdes["text"], sdes["item"].astype(str)) if len(t) >= 4 and item in (
        "cname", "name", "email", "phone", "loc", "note")}
    leaks += [(n, n.encode()) for n in sorted(names) if n.encode() in data]
    assert not leaks, leaks[:10]
