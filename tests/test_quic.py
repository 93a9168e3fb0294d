"""QUIC (webrtcpcap.protocols.quic, webrtcpcap.tables.quic_tables) and the `quic` kind: long headers, the vectorised evidence, Initial
protection removed (RFC 9001 Appendix A, RFC 9369 Appendix A vectors), frames and CRYPTO reassembly on crafted
packets, the quic table on a capture where a QUIC flow sits beside a WebRTC call, and the recorded aioquic capture
(captures/quic_loopback.*) against its ground truth and tshark."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webrtcpcap import DecodeError
from webrtcpcap.protocols import dtls, quic
from webrtcpcap.tables import quic_tables
from webrtcpcap.cli import main as cli_main

from conftest import A4, B4, byte_source, open_quiet, stun_call, tshark_available, udp4, write_pcap

REPO = Path(__file__).resolve().parents[1]
LOOPBACK = REPO / "captures" / "quic" / "quic_loopback.pcap"  # beside, not among, the WebRTC sessions


def initial(version: int = quic.QUIC_V1, dcid: bytes = bytes(range(8)), scid: bytes = b"\x05\x06\x07\x08",
            size: int = 1200, first: int | None = None) -> bytes:
    """A client Initial padded to `size` bytes (RFC 9000 §14.1); the rest is opaque (it is encrypted)."""
    if first is None:
        first = 0xC3 if version != quic.QUIC_V2 else 0xD3  # long header, fixed bit, Initial, 4-byte packet number
    head = bytes(quic.LongHeader(first, version, dcid, scid))
    return head + b"\x00" + b"\x44\xd0" + bytes(max(0, size - len(head) - 3))


def test_long_header_reads_every_field_and_round_trips():
    data = initial()
    h = quic.parse_long_header(data)
    assert (h.first_byte, h.version, h.destination_connection_id, h.source_connection_id) == \
        (0xC3, 1, bytes(range(8)), b"\x05\x06\x07\x08")
    assert h.packet_type == "initial" and h.version_name == "QUIC v1"
    assert bytes(h) == data[:len(bytes(h))]
    v2 = quic.parse_long_header(initial(quic.QUIC_V2))
    assert v2.packet_type == "initial" and v2.version_name == "QUIC v2"
    assert quic.parse_long_header(initial(first=0xE3)).packet_type == "handshake"
    assert quic.version_name(0xFF00001D) == "draft-29" and quic.version_name(0x1A2A3A4A) == "reserved"


@pytest.mark.parametrize("data, message", [
    (b"\xc3\x00\x00", "QUIC long header is truncated"),
    (b"\x43" + bytes(10), "QUIC packet has a short header"),
    (b"\xc3\x00\x00\x00\x01\x15" + bytes(30), "destination connection id has length 21, more than 20"),
    (b"\xc3\x00\x00\x00\x01\x08" + bytes(3), "destination connection id is truncated"),
    (b"\xc3\x00\x00\x00\x01\x00\x04ab", "source connection id is truncated"),
])
def test_long_header_error_messages(data, message):
    with pytest.raises(DecodeError, match=message):
        quic.parse_long_header(data)


def test_every_prefix_of_a_long_header_gives_a_header_or_decode_error():
    data = initial()[:40]
    for n in range(len(data) + 1):
        try:
            quic.parse_long_header(data[:n])
        except DecodeError:
            continue


@given(st.binary(max_size=60))
@settings(max_examples=300, deadline=None)
def test_long_header_of_arbitrary_bytes_gives_a_header_or_decode_error(data):
    try:
        h = quic.parse_long_header(data)
    except DecodeError:
        return
    assert bytes(h) == data[:len(bytes(h))]


def test_initial_evidence_needs_a_known_version_a_client_size_and_the_initial_type():
    packets = [initial(), initial(quic.QUIC_V2), initial(size=600), initial(version=0x1A2A3A4A),
               initial(first=0xE3), initial(dcid=bytes(21)), b"\x43" + bytes(1300), initial(0xFF00001D)[:5]]
    src, off, cap, wire = byte_source(packets)
    wire[-1] = 1300  # a snapped Initial: the connection ids are not in the captured bytes
    assert quic.looks_like_initial(src, off, cap, wire).tolist() == [True, True, False, False, False, False, False,
                                                                     False]


def test_a_quic_flow_beside_a_call_is_kind_quic_and_the_call_stays_webrtc(tmp_path):
    frames = stun_call() + [udp4(initial(), sport=40000, dport=443),
                            udp4(initial(first=0xE3, size=300), src=B4, dst=A4, sport=443, dport=40000),
                            udp4(b"\x41" + bytes(60), src=B4, dst=A4, sport=443, dport=40000),
                            udp4(b"\x41" + bytes(60), sport=50000, dport=53)]  # not QUIC evidence: stays other
    path = write_pcap(tmp_path / "quic.pcap", frames)
    kinds = open_quiet(path).packets.kind.astype(str).tolist()
    call = len(stun_call())
    assert kinds[call:] == ["quic", "quic", "quic", "other"]
    assert "quic" not in kinds[:call] and "other" not in kinds[:call]


# RFC 9001 Appendix A (QUIC v1) and RFC 9369 Appendix A (QUIC v2): the client's first Initial (A.2) and the server's
# Initial (A.3), with the client's destination connection id 0x8394c8f03e515708.
RFC_DCID = bytes.fromhex("8394c8f03e515708")
RFC_CLIENT_PAYLOAD = bytes.fromhex(  # the CRYPTO frame with the ClientHello, then PADDING to 1162 bytes
    "060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e868"
    "04fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578"
    "616d706c652e636f6dff01000100000a00080006001d00170018001000070005"
    "04616c706e000500050100000000003300260024001d00209370b2c9caa47fba"
    "baf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b000302030400"
    "0d0010000e0403050306030203080408050806002d00020101001c0002400100"
    "3900320408ffffffffffffffff05048000ffff07048000ffff08011001048000"
    "75300901100f088394c8f03e51570806048000ffff") + bytes(917)
RFC_SERVER_PAYLOAD = bytes.fromhex(  # ACK of packet 0, CRYPTO with the ServerHello
    "02000000000600405a020000560303eefce7f7b37ba1d1632e96677825ddf739"
    "88cfc79825df566dc5430b9a045a1200130100002e00330024001d00209d3c94"
    "0d89690b84d08a60993c144eca684d1081287c834d5311bcf32bb9da1a002b00"
    "020304")
V1_CLIENT_INITIAL = bytes.fromhex(
    "c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11"
    "d242b123dc9bd8bab936b47d92ec356c0bab7df5976d27cd449f63300099f399"
    "1c260ec4c60d17b31f8429157bb35a1282a643a8d2262cad67500cadb8e7378c"
    "8eb7539ec4d4905fed1bee1fc8aafba17c750e2c7ace01e6005f80fcb7df6212"
    "30c83711b39343fa028cea7f7fb5ff89eac2308249a02252155e2347b63d58c5"
    "457afd84d05dfffdb20392844ae812154682e9cf012f9021a6f0be17ddd0c208"
    "4dce25ff9b06cde535d0f920a2db1bf362c23e596d11a4f5a6cf3948838a3aec"
    "4e15daf8500a6ef69ec4e3feb6b1d98e610ac8b7ec3faf6ad760b7bad1db4ba3"
    "485e8a94dc250ae3fdb41ed15fb6a8e5eba0fc3dd60bc8e30c5c4287e53805db"
    "059ae0648db2f64264ed5e39be2e20d82df566da8dd5998ccabdae053060ae6c"
    "7b4378e846d29f37ed7b4ea9ec5d82e7961b7f25a9323851f681d582363aa5f8"
    "9937f5a67258bf63ad6f1a0b1d96dbd4faddfcefc5266ba6611722395c906556"
    "be52afe3f565636ad1b17d508b73d8743eeb524be22b3dcbc2c7468d54119c74"
    "68449a13d8e3b95811a198f3491de3e7fe942b330407abf82a4ed7c1b311663a"
    "c69890f4157015853d91e923037c227a33cdd5ec281ca3f79c44546b9d90ca00"
    "f064c99e3dd97911d39fe9c5d0b23a229a234cb36186c4819e8b9c5927726632"
    "291d6a418211cc2962e20fe47feb3edf330f2c603a9d48c0fcb5699dbfe58964"
    "25c5bac4aee82e57a85aaf4e2513e4f05796b07ba2ee47d80506f8d2c25e50fd"
    "14de71e6c418559302f939b0e1abd576f279c4b2e0feb85c1f28ff18f58891ff"
    "ef132eef2fa09346aee33c28eb130ff28f5b766953334113211996d20011a198"
    "e3fc433f9f2541010ae17c1bf202580f6047472fb36857fe843b19f5984009dd"
    "c324044e847a4f4a0ab34f719595de37252d6235365e9b84392b061085349d73"
    "203a4a13e96f5432ec0fd4a1ee65accdd5e3904df54c1da510b0ff20dcc0c77f"
    "cb2c0e0eb605cb0504db87632cf3d8b4dae6e705769d1de354270123cb11450e"
    "fc60ac47683d7b8d0f811365565fd98c4c8eb936bcab8d069fc33bd801b03ade"
    "a2e1fbc5aa463d08ca19896d2bf59a071b851e6c239052172f296bfb5e724047"
    "90a2181014f3b94a4e97d117b438130368cc39dbb2d198065ae3986547926cd2"
    "162f40a29f0c3c8745c0f50fba3852e566d44575c29d39a03f0cda721984b6f4"
    "40591f355e12d439ff150aab7613499dbd49adabc8676eef023b15b65bfc5ca0"
    "6948109f23f350db82123535eb8a7433bdabcb909271a6ecbcb58b936a88cd4e"
    "8f2e6ff5800175f113253d8fa9ca8885c2f552e657dc603f252e1a8e308f76f0"
    "be79e2fb8f5d5fbbe2e30ecadd220723c8c0aea8078cdfcb3868263ff8f09400"
    "54da48781893a7e49ad5aff4af300cd804a6b6279ab3ff3afb64491c85194aab"
    "760d58a606654f9f4400e8b38591356fbf6425aca26dc85244259ff2b19c41b9"
    "f96f3ca9ec1dde434da7d2d392b905ddf3d1f9af93d1af5950bd493f5aa731b4"
    "056df31bd267b6b90a079831aaf579be0a39013137aac6d404f518cfd4684064"
    "7e78bfe706ca4cf5e9c5453e9f7cfd2b8b4c8d169a44e55c88d4a9a7f9474241"
    "e221af44860018ab0856972e194cd934")
V1_SERVER_INITIAL = bytes.fromhex(
    "cf000000010008f067a5502a4262b5004075c0d95a482cd0991cd25b0aac406a"
    "5816b6394100f37a1c69797554780bb38cc5a99f5ede4cf73c3ec2493a1839b3"
    "dbcba3f6ea46c5b7684df3548e7ddeb9c3bf9c73cc3f3bded74b562bfb19fb84"
    "022f8ef4cdd93795d77d06edbb7aaf2f58891850abbdca3d20398c276456cbc4"
    "2158407dd074ee")
V2_CLIENT_INITIAL = bytes.fromhex(
    "d76b3343cf088394c8f03e5157080000449ea0c95e82ffe67b6abcdb4298b485"
    "dd04de806071bf03dceebfa162e75d6c96058bdbfb127cdfcbf903388e99ad04"
    "9f9a3dd4425ae4d0992cfff18ecf0fdb5a842d09747052f17ac2053d21f57c5d"
    "250f2c4f0e0202b70785b7946e992e58a59ac52dea6774d4f03b55545243cf1a"
    "12834e3f249a78d395e0d18f4d766004f1a2674802a747eaa901c3f10cda5500"
    "cb9122faa9f1df66c392079a1b40f0de1c6054196a11cbea40afb6ef5253cd68"
    "18f6625efce3b6def6ba7e4b37a40f7732e093daa7d52190935b8da58976ff33"
    "12ae50b187c1433c0f028edcc4c2838b6a9bfc226ca4b4530e7a4ccee1bfa2a3"
    "d396ae5a3fb512384b2fdd851f784a65e03f2c4fbe11a53c7777c023462239dd"
    "6f7521a3f6c7d5dd3ec9b3f233773d4b46d23cc375eb198c63301c21801f6520"
    "bcfb7966fc49b393f0061d974a2706df8c4a9449f11d7f3d2dcbb90c6b877045"
    "636e7c0c0fe4eb0f697545460c806910d2c355f1d253bc9d2452aaa549e27a1f"
    "ac7cf4ed77f322e8fa894b6a83810a34b361901751a6f5eb65a0326e07de7c12"
    "16ccce2d0193f958bb3850a833f7ae432b65bc5a53975c155aa4bcb4f7b2c4e5"
    "4df16efaf6ddea94e2c50b4cd1dfe06017e0e9d02900cffe1935e0491d77ffb4"
    "fdf85290fdd893d577b1131a610ef6a5c32b2ee0293617a37cbb08b847741c3b"
    "8017c25ca9052ca1079d8b78aebd47876d330a30f6a8c6d61dd1ab5589329de7"
    "14d19d61370f8149748c72f132f0fc99f34d766c6938597040d8f9e2bb522ff9"
    "9c63a344d6a2ae8aa8e51b7b90a4a806105fcbca31506c446151adfeceb51b91"
    "abfe43960977c87471cf9ad4074d30e10d6a7f03c63bd5d4317f68ff325ba3bd"
    "80bf4dc8b52a0ba031758022eb025cdd770b44d6d6cf0670f4e990b22347a7db"
    "848265e3e5eb72dfe8299ad7481a408322cac55786e52f633b2fb6b614eaed18"
    "d703dd84045a274ae8bfa73379661388d6991fe39b0d93debb41700b41f90a15"
    "c4d526250235ddcd6776fc77bc97e7a417ebcb31600d01e57f32162a8560cacc"
    "7e27a096d37a1a86952ec71bd89a3e9a30a2a26162984d7740f81193e8238e61"
    "f6b5b984d4d3dfa033c1bb7e4f0037febf406d91c0dccf32acf423cfa1e70710"
    "10d3f270121b493ce85054ef58bada42310138fe081adb04e2bd901f2f13458b"
    "3d6758158197107c14ebb193230cd1157380aa79cae1374a7c1e5bbcb80ee23e"
    "06ebfde206bfb0fcbc0edc4ebec309661bdd908d532eb0c6adc38b7ca7331dce"
    "8dfce39ab71e7c32d318d136b6100671a1ae6a6600e3899f31f0eed19e3417d1"
    "34b90c9058f8632c798d4490da4987307cba922d61c39805d072b589bd52fdf1"
    "e86215c2d54e6670e07383a27bbffb5addf47d66aa85a0c6f9f32e59d85a44dd"
    "5d3b22dc2be80919b490437ae4f36a0ae55edf1d0b5cb4e9a3ecabee93dfc6e3"
    "8d209d0fa6536d27a5d6fbb17641cde27525d61093f1b28072d111b2b4ae5f89"
    "d5974ee12e5cf7d5da4d6a31123041f33e61407e76cffcdcfd7e19ba58cf4b53"
    "6f4c4938ae79324dc402894b44faf8afbab35282ab659d13c93f70412e85cb19"
    "9a37ddec600545473cfb5a05e08d0b209973b2172b4d21fb69745a262ccde96b"
    "a18b2faa745b6fe189cf772a9f84cbfc")
V2_SERVER_INITIAL = bytes.fromhex(
    "dc6b3343cf0008f067a5502a4262b5004075d92faaf16f05d8a4398c47089698"
    "baeea26b91eb761d9b89237bbf87263017915358230035f7fd3945d88965cf17"
    "f9af6e16886c61bfc703106fbaf3cb4cfa52382dd16a393e42757507698075b2"
    "c984c707f0a0812d8cd5a6881eaf21ceda98f4bd23f6fe1a3e2c43edd9ce7ca8"
    "4bed8521e2e140")
V1_CLIENT_HEADER = bytes.fromhex("c300000001088394c8f03e5157080000449e00000002")  # A.2, header protection removed
V2_CLIENT_HEADER = bytes.fromhex("d36b3343cf088394c8f03e5157080000449e00000002")  # RFC 9369 A.2
CLIENT_HELLO_BODY = RFC_CLIENT_PAYLOAD[8:8 + 0xED]  # after the CRYPTO frame header (06 00 40f1) and 01 0000ed


# -- RFC 9001 / RFC 9369 Appendix A --------------------------------------------------------------------------------


@pytest.mark.parametrize("version, client, key, iv, hp", [
    (quic.QUIC_V1, True, "1f369613dd76d5467730efcbe3b1a22d", "fa044b2f42a3fd3b46fb255c",
     "9f50449e04a0e810283a1e9933adedd2"),
    (quic.QUIC_V1, False, "cf3a5331653c364c88f0f379b6067e37", "0ac1493ca1905853b0bba03e",
     "c206b8d9b9f0f37644430b490eeaa314"),
    (quic.QUIC_V2, True, "8b1a0bc121284290a29e0971b5cd045d", "91f73e2351d8fa91660e909f",
     "45b95e15235d6f45a6b19cbcb0294ba9"),
    (quic.QUIC_V2, False, "82db637861d55e1d011f19ea71d5d2a7", "dd13c276499c0249d3310652",
     "edf6d05c83121201b436e16877593c3a"),
])
def test_initial_keys_are_the_rfc_appendix_a1_keys(version, client, key, iv, hp):
    k = quic.initial_keys(RFC_DCID, version, client)
    assert (k.key.hex(), k.iv.hex(), k.hp.hex()) == (key, iv, hp)
    assert key not in repr(k)


def test_initial_secrets_are_the_rfc_9001_a1_secrets():
    assert quic.initial_secret(RFC_DCID, quic.QUIC_V1, True).hex() == \
        "c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea"
    assert quic.initial_secret(RFC_DCID, quic.QUIC_V1, False).hex() == \
        "3c199828fd139efd216c155ad844cc81fb82fa8d7446fa7d78be803acdda951b"
    assert quic.initial_secret(RFC_DCID, quic.QUIC_V2, True).hex() == \
        "14ec9d6eb9fd7af83bf5a668bc17a7e283766aade7ecd0891f70f9ff7f4bf47b"


def test_header_protection_mask_is_the_rfc_9001_a2_mask():
    k = quic.initial_keys(RFC_DCID, quic.QUIC_V1, True)
    assert quic.header_protection_mask(k, bytes.fromhex("d1b1c98dd7689fb8ec11d242b123dc9b"))[:5].hex() == "437b9aec36"
    k2 = quic.initial_keys(RFC_DCID, quic.QUIC_V2, True)
    assert quic.header_protection_mask(k2, bytes.fromhex("ffe67b6abcdb4298b485dd04de806071"))[:5].hex() == "94a0c95e80"


@pytest.mark.parametrize("datagram, version, header", [(V1_CLIENT_INITIAL, quic.QUIC_V1, V1_CLIENT_HEADER),
                                                       (V2_CLIENT_INITIAL, quic.QUIC_V2, V2_CLIENT_HEADER)])
def test_the_rfc_client_initial_opens_to_its_clienthello(datagram, version, header):
    packets, problem = quic.parse_datagram(datagram)
    assert problem is None and len(packets) == 1
    p = packets[0]
    assert (p.packet_type, p.token, p.length, p.packet_number_offset) == ("initial", b"", 1182, 18)
    opened = quic.open_initial(p, quic.initial_keys(RFC_DCID, version, True))
    assert (opened.packet_number, opened.packet_number_length, opened.reserved_bits) == (2, 4, 0)
    assert opened.payload == RFC_CLIENT_PAYLOAD
    frames = quic.parse_frames(opened.payload)
    assert frames == (quic.CryptoFrame(0, RFC_CLIENT_PAYLOAD[4:4 + 0xF1]), quic.PaddingFrame(917))
    assert b"".join(bytes(f) for f in frames) == RFC_CLIENT_PAYLOAD
    # sealing the plaintext again gives the RFC's protected bytes
    assert quic.seal_initial(quic.parse_long_header(header), RFC_CLIENT_PAYLOAD,
                             quic.initial_keys(RFC_DCID, version, True), 2) == datagram


def test_the_rfc_clienthello_reads_in_the_one_clienthello_parser():
    messages, rest = quic.handshake_messages(RFC_CLIENT_PAYLOAD[4:4 + 0xF1])
    assert rest == 0 and [t for t, _ in messages] == [1]
    hello = quic.tls_message(*messages[0])
    assert isinstance(hello, dtls.ClientHello) and not hello.datagram
    assert (hello.client_version, hello.session_id, hello.cookie, hello.cipher_suites) == (0x0303, b"", b"",
                                                                                         (0x1301, 0x1302))
    assert bytes(hello) == messages[0][1]  # round trip, without a DTLS cookie field
    ext = {e.type: e for e in hello.extensions}
    assert dtls.server_name(ext[dtls.ExtensionType.SERVER_NAME]) == (b"example.com",)
    assert dtls.application_layer_protocol_negotiation(ext[16]) == (b"alpn",)
    assert dtls.supported_versions(ext[43], client_hello=True) == (0x0304,)
    assert [e.group_name for e in dtls.key_share_client_hello(ext[51])] == ["x25519"]
    assert ext[dtls.ExtensionType.QUIC_TRANSPORT_PARAMETERS].name == "quic_transport_parameters"


@pytest.mark.parametrize("datagram, version", [(V1_SERVER_INITIAL, quic.QUIC_V1), (V2_SERVER_INITIAL, quic.QUIC_V2)])
def test_the_rfc_server_initial_opens_to_an_ack_and_its_serverhello(datagram, version):
    p = quic.parse_datagram(datagram)[0][0]
    opened = quic.open_initial(p, quic.initial_keys(RFC_DCID, version, False))
    assert (opened.packet_number, opened.packet_number_length) == (1, 2)
    assert opened.payload == RFC_SERVER_PAYLOAD
    ack, crypto = quic.parse_frames(opened.payload)
    assert ack == quic.AckFrame(0, 0, 0, ())
    hello = quic.tls_message(*quic.handshake_messages(crypto.data)[0][0])
    assert isinstance(hello, dtls.ServerHello)
    assert (hello.cipher_suite, dtls.negotiated_version(hello)) == (0x1301, 0x0304)


@pytest.mark.parametrize("client, server, version", [(V1_CLIENT_INITIAL, V1_SERVER_INITIAL, "QUIC v1"),
                                                     (V2_CLIENT_INITIAL, V2_SERVER_INITIAL, "QUIC v2")])
def test_a_flow_reader_gives_both_hellos_with_the_packets_that_carried_them(client, server, version):
    r = quic.FlowReader()
    (c,), (s,) = r.datagram(client, "client"), r.datagram(server, "server")
    assert c.from_client and not s.from_client and c.error is None and s.error is None
    assert c.packet.header.version_name == version
    assert [type(m).__name__ for m in c.messages] == ["ClientHello"] and c.crypto_bytes == 0xF1
    assert [type(m).__name__ for m in s.messages] == ["ServerHello"]


# -- crafted packets -----------------------------------------------------------------------------------------------

DCID, SCID = bytes.fromhex("0011223344556677"), bytes.fromhex("a1a2a3a4")


def client_initial(frames: bytes, pn: int = 0, dcid: bytes = DCID, version: int = quic.QUIC_V1, pad_to: int = 1200,
                   token: bytes = b"", key_dcid: bytes | None = None) -> bytes:
    first = 0xC0 if version != quic.QUIC_V2 else 0xD0
    header = quic.LongHeader(first, version, dcid, SCID)
    keys = quic.initial_keys(key_dcid or dcid, version, True)
    overhead = 7 + len(dcid) + len(SCID) + 1 + len(token) + 2 + 4 + 16
    payload = frames + bytes(max(0, pad_to - overhead - len(frames)))
    return quic.seal_initial(header, payload, keys, pn, token=token)


def server_initial(frames: bytes, pn: int = 0, key_dcid: bytes = DCID, version: int = quic.QUIC_V1) -> bytes:
    header = quic.LongHeader(0xC0 if version != quic.QUIC_V2 else 0xD0, version, SCID, b"\x55" * 8)
    return quic.seal_initial(header, frames + bytes(max(0, 20 - len(frames))), quic.initial_keys(key_dcid, version,
                                                                                                  False), pn)


def tls_client_hello(alpn=(b"h3",), sni=b"example.org", extra: bytes = b"") -> bytes:
    """A TLS 1.3 ClientHello message (header + body) with ALPN, SNI and supported_versions."""
    alpn_list = b"".join(bytes([len(a)]) + a for a in alpn)
    exts = [dtls.Extension(0, (len(sni) + 3).to_bytes(2, "big") + b"\x00" + len(sni).to_bytes(2, "big") + sni),
            dtls.Extension(16, len(alpn_list).to_bytes(2, "big") + alpn_list),
            dtls.Extension(43, b"\x02\x03\x04")]
    if extra:
        exts.append(dtls.Extension(0xFFA5, extra))
    body = bytes(dtls.ClientHello(0x0303, bytes(32), b"", b"", (0x1301,), b"\x00", tuple(exts), datagram=False))
    return b"\x01" + len(body).to_bytes(3, "big") + body


def test_crypto_split_over_two_packets_out_of_order_completes_on_the_second():
    hello = tls_client_hello(extra=bytes(1500))  # more than one packet holds, as a post-quantum key share makes it
    cut = 1000
    second = client_initial(bytes(quic.CryptoFrame(cut, hello[cut:])), pn=0, pad_to=1200)
    first = client_initial(bytes(quic.CryptoFrame(0, hello[:cut])), pn=1, pad_to=1200)
    r = quic.FlowReader()
    (a,) = r.datagram(second, "c")
    assert a.messages == () and a.error is None and r.crypto(True).data == b""  # waits behind the hole
    (b,) = r.datagram(first, "c")
    assert [type(m).__name__ for m in b.messages] == ["ClientHello"]
    ext = {e.type: e for e in b.messages[0].extensions}
    assert dtls.application_layer_protocol_negotiation(ext[16]) == (b"h3",)
    assert dtls.server_name(ext[0]) == (b"example.org",)
    assert r.crypto(True).data == hello and r.crypto(True).pending == ()


def test_coalesced_initial_and_handshake_packets_get_a_view_each_and_a_short_header_ends_the_walk():
    hs_body = b"\x01" + bytes(30)
    handshake = (bytes(quic.LongHeader(0xE0, quic.QUIC_V1, SCID, b"\x55" * 8)) + quic.encode_varint(len(hs_body))
                 + hs_body)
    datagram = server_initial(bytes(quic.AckFrame(0, 3, 0, ()))) + handshake + b"\x41" + bytes(40)
    r = quic.FlowReader()
    r.datagram(client_initial(b"\x01"), "c")
    views = r.datagram(datagram, "s")
    assert [(v.index, v.packet.packet_type, v.error) for v in views] == [(0, "initial", None), (1, "handshake", None)]
    assert views[0].opened is not None and views[0].frames[0] == quic.AckFrame(0, 3, 0, ())
    assert views[1].opened is None  # Handshake keys come from the TLS handshake: a capture does not have them


def test_an_initial_under_another_connection_id_does_not_authenticate_and_is_flagged():
    r = quic.FlowReader()
    r.datagram(client_initial(b"\x01"), "c")
    (v,) = r.datagram(server_initial(b"\x01", key_dcid=b"\x99" * 8), "s")
    assert v.opened is None and "does not authenticate" in v.error
    damaged = bytearray(V1_CLIENT_INITIAL)
    damaged[6] ^= 1  # a byte of the destination connection id: other keys, and the header is authenticated too
    (w,) = quic.FlowReader().datagram(bytes(damaged), "c")
    assert w.opened is None and "does not authenticate" in w.error


def test_a_v2_header_on_a_packet_sealed_with_v1_keys_is_flagged_with_what_would_open_it():
    r = quic.FlowReader()
    r.datagram(client_initial(b"\x01"), "c")
    sealed = quic.seal_initial(quic.LongHeader(0xD0, quic.QUIC_V2, DCID, SCID), b"\x01" + bytes(40),
                               quic.initial_keys(DCID, quic.QUIC_V1, True), 1)
    (v,) = r.datagram(sealed, "c")
    assert v.opened is None and "does not authenticate with the QUIC v2 Initial keys" in v.error
    assert v.error.endswith("it opens with the QUIC v1 Initial keys: the sender kept another version's keys under "
                            "this header (compatible version negotiation, RFC 9368)")
    (w,) = r.datagram(server_initial(b"\x01", key_dcid=b"\x99" * 8), "s")
    assert "opens with" not in w.error  # no key opens it: no hint


def test_a_retry_moves_the_keys_to_the_connection_id_of_the_clients_next_initial():
    new_dcid = b"\x77" * 8
    retry = bytes(quic.LongHeader(0xF0, quic.QUIC_V1, SCID, new_dcid)) + b"token" + bytes(16)
    r = quic.FlowReader()
    r.datagram(client_initial(b"\x01"), "c")
    (rv,) = r.datagram(retry, "s")
    assert rv.packet.packet_type == "retry" and rv.error is None
    (c2,) = r.datagram(client_initial(b"\x01", pn=1, dcid=new_dcid, token=b"token"), "c")
    assert c2.error is None and c2.packet.token == b"token"
    (s2,) = r.datagram(server_initial(b"\x01", key_dcid=new_dcid), "s")
    assert s2.error is None and s2.opened.packet_number == 0


def test_a_server_initial_before_any_client_initial_is_flagged_not_opened():
    r = quic.FlowReader()
    (v,) = r.datagram(bytes(quic.LongHeader(0xE0, 1, b"", b"")) + b"\x05" + bytes(5), "s")  # a Handshake packet
    assert v.packet.packet_type == "handshake" and v.error is None and not v.from_client
    assert r.client is None


@pytest.mark.parametrize("datagram, message", [
    (bytes(quic.LongHeader(0xC0, 1, DCID, SCID)) + b"\x44", "Initial token length is truncated"),
    (bytes(quic.LongHeader(0xC0, 1, DCID, SCID)) + b"\x30" + bytes(10), "Initial token has length 48"),
    (bytes(quic.LongHeader(0xC0, 1, DCID, SCID)) + b"\x00\x44\xd0" + bytes(100),
     "initial packet length 1232 runs past"),
    (bytes(quic.LongHeader(0xE0, 1, DCID, SCID)) + b"\x40", "handshake packet length is truncated"),
    (bytes(quic.LongHeader(0xC0, 1, DCID, SCID)) + b"\x00\x05" + bytes(5), "too short for its header protection"),
])
def test_lying_lengths_and_truncations_are_flagged_with_their_reason(datagram, message):
    (v,) = quic.FlowReader().datagram(datagram, "c")
    assert message in v.error


@pytest.mark.parametrize("payload, message", [
    (b"\x06\x00\x44\x00abc", "CRYPTO frame length 1024 runs past the packet"),
    (b"\x06\x00", "CRYPTO frame length is truncated"),
    (b"\x02\x00\x00\x3f\x00", "ACK frame range count 63 is more than its bytes hold"),
    (b"\x03\x00\x00\x00\x00\x01", "ACK frame ECT1 count is truncated"),
    (b"\x1c\x40", "CONNECTION_CLOSE error code is truncated"),
    (b"\x1c\x01\x06\x20ab", "CONNECTION_CLOSE reason phrase is truncated"),
    (b"\x08\x00", "frame type 0x08 at byte 0 is not allowed in an Initial packet"),
    (b"\x06\xff\xff\xff\xff\xff\xff\xff\xff\x01a", "CRYPTO frame ends past 2^62 - 1"),
])
def test_frame_error_messages(payload, message):
    with pytest.raises(DecodeError, match=re.escape(message)):
        quic.parse_frames(payload)


def test_a_frame_error_inside_an_opened_initial_is_a_flagged_view():
    (v,) = quic.FlowReader().datagram(client_initial(b"\x08\x00"), "c")
    assert v.opened is not None and "not allowed in an Initial" in v.error and v.frames == ()


def test_every_frame_round_trips():
    frames = (quic.PaddingFrame(3), quic.PingFrame(), quic.AckFrame(1000, 25, 2, ((1, 3), (0, 0))),
              quic.AckFrame(5, 0, 0, (), (1, 2, 3)), quic.CryptoFrame(70000, b"xyz"),
              quic.ConnectionCloseFrame(0x178, 6, b"no ALPN"), quic.ConnectionCloseFrame(0x10, None, b""))
    data = b"".join(bytes(f) for f in frames)
    assert quic.parse_frames(data) == frames


def test_varints_decode_every_length_and_encode_the_shortest():
    for value, wire in ((37, "25"), (15293, "7bbd"), (494878333, "9d7f3e7d"), (151288809941952652, "c2197c5eff14e88c")):
        assert quic.read_varint(bytes.fromhex(wire), 0, "x") == (value, len(wire) // 2)  # RFC 9000 §A.1
        assert quic.encode_varint(value).hex() == wire
    with pytest.raises(DecodeError, match="QUIC x is truncated"):
        quic.read_varint(b"\x80\x01", 0, "x")


def test_crypto_stream_keeps_no_more_than_its_cap_whatever_the_offsets_say():
    s = quic.CryptoStream()
    s = s.add(quic.CryptoFrame(quic.MAX_VARINT - 10, b"far away"))
    s = s.add(quic.CryptoFrame(quic.MAX_CRYPTO_BYTES - 2, b"abcd"))
    assert s.data == b"" and s.dropped == len(b"far away") + 2 and s.pending == ((quic.MAX_CRYPTO_BYTES - 2, b"ab"),)
    s = quic.CryptoStream().add(quic.CryptoFrame(2, b"cdef")).add(quic.CryptoFrame(0, b"abc"))  # overlap
    assert s.data == b"abcdef" and s.pending == ()


def test_packet_numbers_decode_near_the_expected_one():
    assert quic.decode_packet_number(0x9B32, 16, 0xA82F30EB) == 0xA82F9B32  # RFC 9000 §A.3


def test_a_draft_29_initial_opens_with_the_drafts_salt():
    (v,) = quic.FlowReader().datagram(client_initial(b"\x01", version=0xFF00001D), "c")
    assert v.packet.packet_type == "initial" and v.opened is not None and v.error is None
    assert v.packet.header.version_name == "draft-29"


def test_unknown_versions_have_no_initial_keys():
    with pytest.raises(DecodeError, match="has no known initial salt"):
        quic.initial_keys(DCID, 0x1A2A3A4A, True)
    assert quic.salt(0xFF00001D) == quic.DRAFT_29_SALT


def test_tls_clienthello_errors_say_tls_and_dtls_ones_keep_the_cookie():
    with pytest.raises(DecodeError, match="^TLS ClientHello random is truncated"):
        dtls.parse_client_hello(b"\x03\x03" + bytes(10), datagram=False)
    body = tls_client_hello()[4:]
    with pytest.raises(DecodeError, match="^DTLS ClientHello"):  # read as DTLS, the cipher suites land elsewhere
        dtls.parse_client_hello(body + b"\x00")
    assert dtls.parse_client_hello(body, datagram=False).cookie == b""


@pytest.mark.parametrize("data, message", [
    (b"\x00\x05\x02h3", "protocol_name_list is truncated"),
    (b"\x00\x01\x00", "empty protocol name"),
    (b"\x00\x03\x02h3x", "bytes after its list"),
])
def test_alpn_error_messages(data, message):
    with pytest.raises(DecodeError, match=message):
        dtls.application_layer_protocol_negotiation(dtls.Extension(16, data))


def test_server_name_skips_other_name_types_and_flags_truncation():
    ext = dtls.Extension(0, b"\x00\x0b\x07\x00\x01x\x00\x00\x04host")
    assert dtls.server_name(ext) == (b"host",)
    assert dtls.server_name(dtls.Extension(0, b"")) == ()
    with pytest.raises(DecodeError, match="host_name is truncated"):
        dtls.server_name(dtls.Extension(0, b"\x00\x05\x00\x00\x09ab"))


def test_every_prefix_of_the_rfc_initial_gives_views_never_an_exception():
    for n in range(0, len(V1_CLIENT_INITIAL) + 1, 7):
        views = quic.FlowReader().datagram(V1_CLIENT_INITIAL[:n], "c")
        assert all(v.error for v in views) or n == len(V1_CLIENT_INITIAL)


@given(st.binary(max_size=1400))
@settings(max_examples=300, deadline=None)
def test_a_flow_reader_given_arbitrary_bytes_gives_views_and_never_raises(data):
    r = quic.FlowReader()
    for sender in ("c", "s"):
        for v in r.datagram(data, sender):
            assert v.packet is not None or v.error


@given(st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_frames_of_arbitrary_bytes_give_frames_or_decode_error(data):
    try:
        frames = quic.parse_frames(data)
    except DecodeError:
        return
    assert sum(len(bytes(f)) for f in frames) <= len(data) + 8 * len(frames)  # shortest varints may be shorter


@given(st.binary(max_size=200), st.integers(0, 1 << 20))
@settings(max_examples=200, deadline=None)
def test_arbitrary_plaintext_sealed_into_a_real_initial_gives_a_view_and_never_raises(payload, pn):
    (v,) = quic.FlowReader().datagram(client_initial(payload, pn=pn), "c")
    assert v.opened is not None and v.opened.payload[:len(payload)] == payload
    assert v.error is None or v.error.startswith(("QUIC", "TLS", "DTLS"))


@given(st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 64)), max_size=20))
@settings(max_examples=200, deadline=None)
def test_crypto_stream_in_any_order_gives_the_same_bytes(pieces):
    source = bytes(range(256)) * 9
    s = quic.CryptoStream()
    for offset, length in pieces:
        s = s.add(quic.CryptoFrame(offset, source[offset:offset + length]))
    assert s.data == source[:len(s.data)]
    assert all(at > len(s.data) for at, _ in s.pending)


# -- the quic table ------------------------------------------------------------------------------------------------


def test_the_quic_table_opens_a_flow_beside_a_call_and_names_it(tmp_path):
    hello = tls_client_hello(alpn=(b"h3", b"h3-29"), sni=b"<b>evil</b>.example")
    close = quic.ConnectionCloseFrame(0x178, 6, b"no <ALPN>")
    frames = stun_call() + [udp4(client_initial(bytes(quic.CryptoFrame(0, hello))), sport=40000, dport=443),
                            udp4(server_initial(bytes(close)), src=B4, dst=A4, sport=443, dport=40000)]
    path = write_pcap(tmp_path / "quic.pcap", frames)
    cap = open_quiet(path)
    q = cap.quic
    assert list(q.columns) == list(quic_tables.QUIC_SCHEMA)
    assert {c: str(t) for c, t in q.dtypes.items()} == quic_tables.QUIC_SCHEMA
    n = len(stun_call())
    assert q["frame"].tolist() == [n + 1, n + 2]
    assert q["packet_type"].astype(str).tolist() == ["initial", "initial"]
    assert q["decrypted"].tolist() == [True, True] and q["from_client"].tolist() == [True, False]
    assert q["quic_alpn"].iloc[0] == "h3,h3-29" and q["quic_sni"].iloc[0] == "<b>evil</b>.example"
    assert q["tls_versions"].iloc[0] == "TLS 1.3" and q["quic_dcid"].iloc[0] == DCID.hex()
    assert q["connection_close"].iloc[1] == "0x178 (TLS alert no_application_protocol): no <ALPN>"
    conns = cap.quic_connections
    assert {c: str(t) for c, t in conns.dtypes.items()} == quic_tables.QUIC_CONNECTIONS_SCHEMA
    line = quic_tables.connection_line(next(conns.itertuples()))
    assert line.startswith("QUIC v1 h3,h3-29 to <b>evil</b>.example (10.0.0.1:40000 > 10.0.0.2:443)")
    assert "QUIC connections (1)" in cap.summary() and line in cap.summary()


def test_a_capture_without_quic_has_an_empty_typed_quic_table(tmp_path):
    cap = open_quiet(write_pcap(tmp_path / "call.pcap", stun_call()))
    assert len(cap.quic) == 0 and list(cap.quic.columns) == list(quic_tables.QUIC_SCHEMA)
    assert len(cap.quic_connections) == 0 and "QUIC" not in cap.summary()


def test_undecryptable_initials_are_rows_flagged_not_dropped(tmp_path):
    bad = bytearray(client_initial(b"\x01"))
    bad[-1] ^= 0xFF  # the AEAD tag
    path = write_pcap(tmp_path / "bad.pcap", [udp4(bytes(bad), sport=40000, dport=443)])
    q = open_quiet(path).quic
    assert q["decrypted"].tolist() == [False] and "does not authenticate" in q["error"].iloc[0]


def test_report_names_the_quic_flow_and_escapes_it_in_html(tmp_path):
    from webrtcpcap.report.document import build

    hello = tls_client_hello(sni=b"<script>x</script>.example")
    path = write_pcap(tmp_path / "quic.pcap", stun_call() + [
        udp4(client_initial(bytes(quic.CryptoFrame(0, hello))), sport=40000, dport=443)])
    r = build(str(path))
    assert "QUIC v1 h3 to <script>x</script>.example" in r.text()
    page = r.html()
    assert "<script>" not in page and "QUIC v1 h3 to &lt;script&gt;x&lt;/script&gt;.example" in page


# -- a real capture: aioquic on loopback (captures/quic_loopback.*) -------------------------------------------------


def loopback_truth() -> list[dict]:
    return json.loads(LOOPBACK.with_suffix(".meta.json").read_text())["connections"]


def test_the_recorded_quic_connections_match_what_the_endpoints_used():
    cap = open_quiet(LOOPBACK)
    assert set(cap.packets["kind"].astype(str)) == {"quic"}
    q = cap.quic
    conns = cap.quic_connections
    truth = loopback_truth()
    assert conns["client_port"].tolist() == [t["client_port"] for t in truth]
    for row, t in zip(conns.itertuples(), truth):
        assert row.quic_alpn == ",".join(t["alpn_offered"]) and row.quic_sni == t["server_name"]
        assert row.quic_dcid == t["original_destination_connection_id"]
        assert row.quic_version == quic.version_name(int(t["versions_offered"][-1], 16))  # the first Initial's
        assert row.server_version == quic.version_name(int(t["version"], 16))  # what the connection ended with
        upgraded = row.quic_version != row.server_version
        assert row.undecrypted == int(upgraded)  # see test_an_upgraded_clients_v2_initial_sealed_with_v1_keys...
        if "alpn_chosen" in t:  # completed: the server's Initial carried a ServerHello
            assert row.tls_version == "TLS 1.3" and isinstance(row.cipher_suite, str)
            assert pd_isna(row.connection_close)
        else:
            assert row.connection_close.startswith(t["close_error_code"] + " (TLS alert no_application_protocol)")
    big = q[(q["sport"] == truth[3]["client_port"]) & (q["packet_type"] == "initial")]
    assert big["crypto_bytes"].iloc[0] > 0 and pd_isna(big["tls_message"].iloc[0])  # the split ClientHello
    assert big["tls_message"].iloc[1] == "client_hello"
    retry = q[q["sport"].isin([truth[4]["server_port"]]) & (q["packet_type"] == "retry")]
    assert len(retry) == 1
    assert q["error"].notna().sum() == 1


def test_an_upgraded_clients_v2_initial_sealed_with_v1_keys_is_the_one_flagged_row():
    """Compatible version negotiation (RFC 9368) on the wire: the aioquic client's first Initial is v1, the server
    answers in v2, and the client's next Initial carries a v2 header but v1 protection.  tshark cannot open it
    either (see the tshark test); the row says which keys would."""
    truth = loopback_truth()[5]
    q = open_quiet(LOOPBACK).quic
    flow = q[(q["sport"] == truth["client_port"]) | (q["dport"] == truth["client_port"])]
    initials = flow[flow["packet_type"] == "initial"]
    assert initials["quic_version"].astype(str).tolist() == ["QUIC v1", "QUIC v2", "QUIC v2"]
    assert initials["decrypted"].tolist() == [True, True, False]
    assert initials["from_client"].tolist() == [True, False, True]
    assert initials["error"].iloc[2].endswith("it opens with the QUIC v1 Initial keys: the sender kept another "
                                              "version's keys under this header (compatible version negotiation, "
                                              "RFC 9368)")


def pd_isna(value) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


@pytest.mark.skipif(not tshark_available(), reason="tshark is not installed")
def test_tshark_reads_the_same_hellos_alpn_sni_and_versions_from_the_recorded_capture():
    fields = ["frame.number", "quic.version", "quic.dcid", "tls.handshake.type", "tls.handshake.extensions_alpn_str",
              "tls.handshake.extensions_server_name", "tls.handshake.ciphersuite", "quic.cc.error_code"]
    out = subprocess.run(["tshark", "-r", str(LOOPBACK), "-Y", "tls.handshake.type == 1 || tls.handshake.type == 2",
                          "-T", "fields"] + [a for f in fields for a in ("-e", f)],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    theirs = {}
    for line in out.splitlines():
        frame, version, dcid, htype, alpn, sni, suite, _ = (line.split("\t") + [""] * 8)[:8]
        theirs[int(frame)] = (int(version.split(",")[0], 16), dcid.split(",")[0], htype.split(",")[0], alpn, sni,
                              suite.split(",")[0] if htype.startswith("2") else "")
    q = open_quiet(LOOPBACK).quic
    versions = {name: number for number, name in quic.VERSION_NAMES.items()}
    suites = {name: number for number, name in dtls.CIPHER_SUITES.items()}
    ours = {}
    for r in q[q["tls_message"].notna()].itertuples():
        version = versions[r.quic_version]
        htype = "1" if r.tls_message == "client_hello" else "2"
        suite = "" if htype == "1" else f"0x{suites[r.cipher_suite]:04x}"
        ours[int(r.frame)] = (version, r.quic_dcid, htype, r.quic_alpn if htype == "1" else "",
                              r.quic_sni if htype == "1" else "", suite)
    assert ours == theirs and len(ours) == 11
    # the AEAD tag failures tshark reports (Handshake packets, whose secrets no one has, say another thing)
    failed = subprocess.run(["tshark", "-r", str(LOOPBACK), "-Y", "_ws.expert.message contains \"checktag\"",
                             "-T", "fields", "-e", "frame.number"],
                            capture_output=True, text=True, timeout=120, check=True).stdout.split()
    initials = q[q["packet_type"] == "initial"]
    assert [int(f) for f in failed] == initials.loc[initials["decrypted"] == False, "frame"].tolist()  # noqa: E712
    quic_frames = subprocess.run(["tshark", "-r", str(LOOPBACK), "-Y", "quic", "-T", "fields", "-e", "frame.number"],
                                 capture_output=True, text=True, timeout=120, check=True).stdout.split()
    packets = open_quiet(LOOPBACK).packets
    assert [int(f) for f in quic_frames] == packets.loc[packets["kind"] == "quic", "frame"].tolist()


# -- a real browser: Chromium's QUIC Initials (captures/quic/quic_chromium.*) -------------------------------------

CHROMIUM = REPO / "captures" / "quic" / "quic_chromium.pcap"


def test_chromiums_scrambled_post_quantum_clienthello_reads_as_its_server_read_it():
    """Chromium sends its ClientHello (X25519MLKEM768 key share: ~2 KB) as CRYPTO frames out of offset order over two
    Initials, with PING and PADDING between them; the server's own TLS stack is the ground truth."""
    truth = json.loads(CHROMIUM.with_suffix(".meta.json").read_text())["client_hellos_read_by_the_server"]
    cap = open_quiet(CHROMIUM)
    q = cap.quic
    assert q["error"].isna().all() and q.loc[q["packet_type"] == "initial", "decrypted"].all()
    client = q[(q["packet_type"] == "initial") & q["from_client"]]
    assert (client["crypto_bytes"].iloc[:2] > 0).all() and client["tls_message"].iloc[1] == "client_hello"
    hello = client.iloc[1]
    assert len(truth) == 1
    assert hello["quic_alpn"] == ",".join(truth[0]["alpn"]) and hello["quic_sni"] == truth[0]["server_name"]
    groups = {name: number for number, name in dtls.NAMED_GROUPS.items()}
    assert [f"0x{groups[g]:04x}" for g in hello["key_share"].split(",") if g != "GREASE"] == \
        truth[0]["key_share_groups"]
    (line,) = cap.summary().split("QUIC connections (1)\n")[1].splitlines()[:1]
    assert line.strip().startswith("QUIC v1 h3 to quic.example.test (127.0.0.1:")


@pytest.mark.skipif(not tshark_available(), reason="tshark is not installed")
def test_tshark_reads_chromiums_clienthello_in_the_same_frame_with_the_same_fields():
    out = subprocess.run(["tshark", "-r", str(CHROMIUM), "-Y", "tls.handshake.type == 1", "-T", "fields",
                          "-e", "frame.number", "-e", "tls.handshake.extensions_alpn_str",
                          "-e", "tls.handshake.extensions_server_name",
                          "-e", "tls.handshake.extensions_key_share_group"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    (line,) = out.splitlines()
    frame, alpn, sni, groups = line.split("\t")
    q = open_quiet(CHROMIUM).quic
    ours = q[q["tls_message"] == "client_hello"].iloc[0]
    named = {name: number for number, name in dtls.NAMED_GROUPS.items()}
    assert (int(frame), alpn, sni) == (int(ours["frame"]), ours["quic_alpn"], ours["quic_sni"])
    assert [int(g) for g in groups.split(",") if not dtls.is_grease(int(g))] == \
        [named[g] for g in ours["key_share"].split(",") if g != "GREASE"]
