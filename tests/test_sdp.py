"""SDP offers/answers (webrtcpcap.sdp) and what `webrtcpcap.open(..., sdp=)` does with them."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import webrtcpcap
from webrtcpcap.tables import media_tables
from webrtcpcap import sdp
from webrtcpcap.io.errors import DecodeError

from conftest import CAPTURES

# A crafted SDP: every field the parser interprets, session-level values inherited by the second section, a
# wildcard rtcp-fb, a static payload type without rtpmap, an unknown attribute and an unknown line type.
CRAFTED = "\r\n".join([
    "v=0",
    "o=- 123 2 IN IP4 127.0.0.1",
    "s=-",
    "t=0 0",
    "a=group:BUNDLE a v",
    "a=ice-ufrag:sEsS",
    "a=ice-pwd:sessionpassword0123456789",
    "a=fingerprint:sha-256 AB:CD:EF:01",
    "a=setup:actpass",
    "a=x-unknown:kept",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 0",
    "c=IN IP4 0.0.0.0",
    "a=mid:a",
    "a=sendonly",
    "a=ice-ufrag:aUdI",
    "a=ice-pwd:audiopassword0123456789",
    "a=fingerprint:sha-384 01:02",
    "a=setup:active",
    "a=rtcp-mux",
    "a=rtpmap:111 opus/48000/2",
    "a=fmtp:111 minptime=10;useinbandfec=1",
    "a=rtcp-fb:111 transport-cc",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "a=extmap:4/recvonly urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=ssrc:1111 cname:abc",
    "a=ssrc:1111 msid:stream track",
    "a=candidate:1 1 udp 2130706431 192.0.2.1 5000 typ host generation 0",
    "a=candidate:2 1 udp 1694498815 198.51.100.7 6000 typ srflx raddr 192.0.2.1 rport 5000",
    "a=candidate:3 1 tcp 1518280447 192.0.2.1 9 typ host tcptype active",
    "a=candidate:4 1 udp 16777215 203.0.113.5 7000 typ relay raddr 198.51.100.7 rport 6000",
    "a=candidate:5 1 udp 1845501695 198.51.100.8 6001 typ prflx raddr 192.0.2.1 rport 5000",
    "a=end-of-candidates",
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97 100",
    "b=AS:500",
    "a=mid:v",
    "a=rtcp-mux",
    "a=rtcp-rsize",
    "a=rtpmap:96 VP8/90000",
    "a=rtcp-fb:* nack",
    "a=rtcp-fb:96 nack pli",
    "a=rtpmap:97 rtx/90000",
    "a=fmtp:97 apt=96",
    "a=rtpmap:100 flexfec-03/90000",
    "a=fmtp:100 repair-window=10000000",
    "a=ssrc-group:FID 2222 3333",
    "a=ssrc-group:FEC-FR 2222 4444",
    "a=ssrc:2222 cname:abc",
    "a=ssrc:3333 cname:abc",
    "a=ssrc:4444 cname:abc",
    "a=ssrc:4444 label",
    "",
])


def test_crafted_session_level_fields():
    s = sdp.parse(CRAFTED)
    assert s.version == 0
    assert s.origin == "- 123 2 IN IP4 127.0.0.1"
    assert s.session_name == "-"
    assert s.groups == (("BUNDLE", ("a", "v")),)
    assert (s.ice_ufrag, s.ice_pwd) == ("sEsS", "sessionpassword0123456789")
    assert s.fingerprints == (sdp.Fingerprint("sha-256", "abcdef01"),)
    assert str(s.fingerprint) == "sha-256 AB:CD:EF:01"
    assert s.setup == "actpass"
    assert s.direction is None
    assert ("x-unknown", "kept") in s.attributes
    assert s.other == (("t", "0 0"),)
    assert [m.kind for m in s.media] == ["audio", "video"]


def test_crafted_audio_section_every_field():
    a = sdp.parse(CRAFTED).media[0]
    assert (a.kind, a.port, a.protocol, a.formats) == ("audio", 9, "UDP/TLS/RTP/SAVPF", ("111", "0"))
    assert (a.connection, a.mid, a.direction) == ("0.0.0.0", "a", "sendonly")
    assert (a.ice_ufrag, a.ice_pwd) == ("aUdI", "audiopassword0123456789")
    assert a.fingerprints == (sdp.Fingerprint("sha-384", "0102"),)
    assert a.setup == "active"
    assert (a.rtcp_mux, a.rtcp_rsize) == (True, False)
    assert a.payload_types == {
        111: sdp.PayloadType(111, "opus", 48000, 2, "minptime=10;useinbandfec=1",
                             {"minptime": "10", "useinbandfec": "1"}, None, ("transport-cc",)),
        0: sdp.PayloadType(0, "PCMU", 8000, 1),  # RFC 3551 static type, no rtpmap
    }
    assert list(a.payload_types) == [111, 0]  # m= line order
    assert a.extmap == {1: "urn:ietf:params:rtp-hdrext:ssrc-audio-level", 4: "urn:ietf:params:rtp-hdrext:sdes:mid"}
    assert a.ssrcs == {1111: sdp.Ssrc(1111, "abc", "stream track", {"cname": "abc", "msid": "stream track"})}
    assert a.ssrc_groups == ()
    assert a.candidates == (
        sdp.Candidate("1", 1, "udp", 2130706431, "192.0.2.1", 5000, "host", extensions=(("generation", "0"),)),
        sdp.Candidate("2", 1, "udp", 1694498815, "198.51.100.7", 6000, "srflx", "192.0.2.1", 5000),
        sdp.Candidate("3", 1, "tcp", 1518280447, "192.0.2.1", 9, "host", extensions=(("tcptype", "active"),)),
        sdp.Candidate("4", 1, "udp", 16777215, "203.0.113.5", 7000, "relay", "198.51.100.7", 6000),
        sdp.Candidate("5", 1, "udp", 1845501695, "198.51.100.8", 6001, "prflx", "192.0.2.1", 5000),
    )
    assert a.end_of_candidates is True
    assert a.attributes[0] == ("mid", "a") and ("rtcp-mux", None) in a.attributes


def test_crafted_video_section_inherits_session_values_and_reads_rtx_fec():
    v = sdp.parse(CRAFTED).media[1]
    assert (v.mid, v.direction, v.connection) == ("v", "sendrecv", None)  # no direction: sendrecv (RFC 8866 §6.7)
    assert (v.ice_ufrag, v.ice_pwd, v.setup) == ("sEsS", "sessionpassword0123456789", "actpass")
    assert v.fingerprint == sdp.Fingerprint("sha-256", "abcdef01")
    assert (v.rtcp_mux, v.rtcp_rsize) == (True, True)
    assert v.other == (("b", "AS:500"),)
    assert v.payload_types == {
        96: sdp.PayloadType(96, "VP8", 90000, None, rtcp_fb=("nack pli", "nack")),
        97: sdp.PayloadType(97, "rtx", 90000, None, "apt=96", {"apt": "96"}, 96, ("nack",)),
        100: sdp.PayloadType(100, "flexfec-03", 90000, None, "repair-window=10000000",
                             {"repair-window": "10000000"}, None, ("nack",)),
    }
    assert v.ssrc_groups == (sdp.SsrcGroup("FID", (2222, 3333)), sdp.SsrcGroup("FEC-FR", (2222, 4444)))
    assert v.ssrcs[4444] == sdp.Ssrc(4444, "abc", None, {"cname": "abc", "label": None})
    assert v.candidates == () and v.end_of_candidates is False


def test_crafted_helpers():
    s = sdp.parse(CRAFTED)
    assert s.clock_rates() == {111: 48000, 0: 8000, 96: 90000, 97: 90000, 100: 90000}
    assert s.ice_passwords() == {"sEsS": "sessionpassword0123456789", "aUdI": "audiopassword0123456789"}
    assert s.rtx_map() == {97: 96}


def test_lf_and_crlf_line_ends_give_the_same_record():
    assert sdp.parse(CRAFTED.replace("\r\n", "\n")) == sdp.parse(CRAFTED)
    assert sdp.parse(CRAFTED.encode()) == sdp.parse(CRAFTED)


def test_merged_helpers_keep_the_first_sdp_on_conflict():
    one = sdp.parse("v=0\nm=audio 9 RTP/AVP 96\na=rtpmap:96 opus/48000/2\na=ice-ufrag:u1\na=ice-pwd:p1\n")
    two = sdp.parse("v=0\nm=video 9 RTP/AVP 96 98\na=rtpmap:96 VP8/90000\na=rtpmap:98 rtx/90000\na=fmtp:98 apt=96\n"
                    "a=ice-ufrag:u2\na=ice-pwd:p2\n")
    assert sdp.clock_rates([one, two]) == {96: 48000, 98: 90000}
    assert sdp.ice_passwords([one, two]) == {"u1": "p1", "u2": "p2"}
    assert sdp.rtx_map([one, two]) == {98: 96}
    assert sdp.clock_rates(two) == {96: 90000, 98: 90000}


RECORDED = sorted(CAPTURES.glob("*.offer.sdp"))


@pytest.mark.parametrize("offer", RECORDED, ids=lambda p: p.name.removesuffix(".offer.sdp"))
def test_every_recorded_offer_and_answer_parses(offer):
    answer = offer.with_name(offer.name.replace(".offer.sdp", ".answer.sdp"))
    for path in (offer, answer):
        text = path.read_text()
        s = sdp.parse(text)
        m_lines = [line for line in text.splitlines() if line.startswith("m=")]
        assert [m.kind for m in s.media] == [line[2:].split()[0] for line in m_lines]
        assert all(m.ice_ufrag and m.ice_pwd and m.fingerprint for m in s.media)
        assert len(s.ice_passwords()) == 1  # one ICE agent per side, BUNDLE
        assert sum(len(m.candidates) for m in s.media) == text.count("a=candidate:")
        assert sum(len(m.ssrc_groups) for m in s.media) == text.count("a=ssrc-group:")


def test_recorded_sessions_are_all_there():
    assert len(RECORDED) >= 14  # the loop above is not empty
    assert all(p.with_name(p.name.replace(".offer.", ".answer.")).exists() for p in RECORDED)


def test_chromium_offer_has_opus_and_vp8_with_rtx():
    s = sdp.parse((CAPTURES / "chromium_aiortc_loss5.offer.sdp").read_text())
    audio, video = s.media
    assert audio.payload_types[111].codec == "opus"
    assert (audio.payload_types[111].clock_rate, audio.payload_types[111].channels) == (48000, 2)
    assert audio.payload_types[111].parameters == {"minptime": "10", "useinbandfec": "1"}
    assert (video.payload_types[96].codec, video.payload_types[96].clock_rate) == ("VP8", 90000)
    assert video.payload_types[97] == sdp.PayloadType(97, "rtx", 90000, None, "apt=96", {"apt": "96"}, 96, ())
    assert s.rtx_map()[97] == 96
    assert set(video.payload_types[96].rtcp_fb) == {"goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"}
    assert video.extmap[3] == "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
    assert {c.transport for c in audio.candidates} == {"udp", "tcp"}
    assert audio.setup == "actpass" and audio.fingerprint.algorithm == "sha-256"


def test_payload_types_table():
    offer = sdp.parse((CAPTURES / "aiortc_clean.offer.sdp").read_text())
    df = media_tables.payload_types([offer])
    assert list(df.columns) == list(media_tables.PAYLOAD_TYPES_SCHEMA) == list(sdp.PAYLOAD_TYPE_FIELDS)
    assert {c: str(t) for c, t in df.dtypes.items()} == media_tables.PAYLOAD_TYPES_SCHEMA
    assert len(df) == 10  # 4 audio + 6 video; the datachannel section has none
    rtx = df[df.pt == 98].iloc[0]
    assert (rtx["mid"], rtx["kind"], rtx["codec"], rtx["clock_rate"], rtx["rtx_for"], rtx["fmtp"]) == (
        "1", "video", "rtx", 90000, 97, "apt=97")
    opus = df[df.pt == 96].iloc[0]
    assert (opus["codec"], opus["clock_rate"], opus["channels"]) == ("opus", 48000, 2)
    assert pd.isna(opus["rtx_for"]) and pd.isna(opus["fmtp"])
    assert len(media_tables.payload_types([])) == 0


def _pair(name):
    return [CAPTURES / f"{name}.offer.sdp", CAPTURES / f"{name}.answer.sdp"]


def test_open_with_sdp_gives_streams_the_sdp_clock_rates():
    cap = webrtcpcap.open(CAPTURES / "aiortc_loss5_rtp.pcap", sdp=_pair("aiortc_loss5_rtp"))
    assert len(cap.sdp) == 2 and all(isinstance(s, sdp.Sdp) for s in cap.sdp)
    table = cap.streams
    assert set(table.pt) == {96, 97, 98}
    assert (table.clock_rate_source == "given").all()
    assert dict(zip(table.pt, table.clock_rate)) == {96: 48000, 97: 90000, 98: 90000}


def test_open_without_sdp_still_infers_clock_rates():
    cap = webrtcpcap.open(CAPTURES / "aiortc_loss5_rtp.pcap")
    assert cap.sdp == []
    assert (cap.streams.clock_rate_source == "inferred").all()


def test_open_with_sdp_checks_binding_integrity_without_ice_passwords():
    cap = webrtcpcap.open(CAPTURES / "aiortc_clean.pcap", sdp=_pair("aiortc_clean"))
    binding = cap.stun[(cap.stun.method == "binding") & cap.stun.cls.isin(["request", "success"])]
    assert len(binding) == 12
    assert binding.integrity_ok.eq(True).all()


def test_open_accepts_sdp_text_and_records():
    offer, answer = (p.read_text() for p in _pair("aiortc_clean"))
    by_text = webrtcpcap.open(CAPTURES / "aiortc_clean.pcap", sdp=[offer, sdp.parse(answer)])
    assert by_text.stun.integrity_ok.eq(True).all()
    only_offer = webrtcpcap.open(CAPTURES / "aiortc_clean.pcap", sdp=offer)
    assert len(only_offer.sdp) == 1
    # Requests "zmDi:pEzz" are signed with zmDi's password, which only the answer holds.
    requests = only_offer.stun[only_offer.stun.cls == "request"]
    assert requests[requests.username.str.startswith("pEzz:")].integrity_ok.eq(True).all()
    assert requests[requests.username.str.startswith("zmDi:")].integrity_ok.isna().all()


def test_ice_passwords_keyword_wins_over_the_sdp():
    cap = webrtcpcap.open(CAPTURES / "aiortc_clean.pcap", sdp=_pair("aiortc_clean"),
                          ice_passwords={"pEzz": "wrong-password"})
    requests = cap.stun[cap.stun.cls == "request"]
    assert requests[requests.username.str.startswith("pEzz:")].integrity_ok.eq(False).all()
    assert requests[requests.username.str.startswith("zmDi:")].integrity_ok.eq(True).all()


def test_open_with_a_bad_sdp_raises_decode_error():
    with pytest.raises(DecodeError, match="SDP rtpmap"):
        webrtcpcap.open(CAPTURES / "aiortc_clean.pcap", sdp="v=0\nm=audio 9 RTP/AVP 96\na=rtpmap:96 opus\n")


# --- errors ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, message", [
    ("", "SDP text is empty"),
    ("hello world", "SDP line 1 is not <type>=<value>"),
    ("m=audio 9 RTP/AVP 0\n", "SDP text does not start with v="),
    ("v=1\n", "SDP version is out of range"),
    (b"v=0\n\xff\n", "SDP text is not UTF-8"),
    ("v=0\nm=audio 9\n", "SDP m= line is truncated"),
    ("v=0\nm=audio x RTP/AVP 0\n", "SDP m= port is not a number"),
    ("v=0\nm=audio 9 RTP/AVP 96\na=rtpmap:96 opus\n", "SDP rtpmap is truncated"),
    ("v=0\nm=audio 9 RTP/AVP 96\na=rtpmap:96 opus/fast/2\n", "SDP rtpmap clock rate is not a number"),
    ("v=0\nm=audio 9 RTP/AVP 96\na=rtpmap:96 opus/48000/2/1\n", "SDP rtpmap has too many parts"),
    ("v=0\nm=audio 9 RTP/AVP 96\na=rtpmap:200 opus/48000\n", "SDP rtpmap payload type is out of range"),
    ("v=0\nm=audio 9 RTP/AVP 96\na=fmtp:x apt=1\n", "SDP fmtp payload type is not a number"),
    ("v=0\nm=video 9 RTP/AVP 97\na=fmtp:97 apt=video\n", "SDP fmtp apt payload type is not a number"),
    ("v=0\nm=video 9 RTP/AVP 97\na=rtcp-fb:abc nack\n", "SDP rtcp-fb payload type is not a number"),
    ("v=0\nm=video 9 RTP/AVP 97\na=extmap:1\n", "SDP extmap has no URI"),
    ("v=0\nm=video 9 RTP/AVP 97\na=ssrc:-1 cname:x\n", "SDP ssrc is not a number"),
    ("v=0\nm=video 9 RTP/AVP 97\na=ssrc-group:\n", "SDP ssrc-group has no semantics"),
    ("v=0\nm=video 9 RTP/AVP 97\na=ssrc-group:FID 1 x\n", "SDP ssrc-group ssrc is not a number"),
    ("v=0\na=candidate:1 1 udp 1 192.0.2.1 5000 typ\n", "SDP candidate is truncated"),
    ("v=0\na=candidate:1 1 udp 1 192.0.2.1 5000 type host\n", "SDP candidate has no typ"),
    ("v=0\na=candidate:1 1 udp 1 192.0.2.1 5000 typ host raddr\n", "SDP candidate has an extension without"),
    ("v=0\na=candidate:1 1 udp 1 192.0.2.1 99999 typ host\n", "SDP candidate port is out of range"),
    ("v=0\na=fingerprint:sha-256\n", "SDP fingerprint is truncated"),
    ("v=0\na=fingerprint:sha-256 ZZ:01\n", "SDP fingerprint is not hex"),
])
def test_each_error_message(text, message):
    with pytest.raises(DecodeError, match=re.escape(message)):
        sdp.parse(text)


def test_unknown_lines_and_attributes_are_tolerated_and_kept():
    s = sdp.parse("v=0\nz=whatever\na=x-custom\nm=audio 9 RTP/AVP 0\nk=clear:key\na=x-thing:1 2\n\n")
    assert ("z", "whatever") in s.other and ("x-custom", None) in s.attributes
    assert s.media[0].other == (("k", "clear:key"),) and ("x-thing", "1 2") in s.media[0].attributes


def test_every_prefix_of_a_recorded_sdp_gives_a_record_or_decode_error():
    text = (CAPTURES / "chromium_aiortc_loss5.offer.sdp").read_text()
    for cut in range(0, len(text), 7):
        try:
            sdp.parse(text[:cut])
        except DecodeError:
            pass


_SDP_LINES = st.lists(st.one_of(
    st.text(max_size=40),
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from("vosmcbta"), st.text(max_size=40)),
    st.builds(lambda n, v: f"a={n}:{v}", st.sampled_from(
        ["rtpmap", "fmtp", "rtcp-fb", "extmap", "ssrc", "ssrc-group", "candidate", "fingerprint", "setup", "mid",
         "ice-ufrag", "ice-pwd"]), st.text(alphabet="0123456789 /:;=*abcxyz-.\u0663", max_size=40)),
), max_size=20)


@settings(max_examples=300, deadline=None)
@given(_SDP_LINES, st.sampled_from(["\n", "\r\n"]))
def test_arbitrary_text_gives_a_record_or_decode_error(lines, eol):
    for text in (eol.join(lines), eol.join(["v=0"] + lines)):
        try:
            s = sdp.parse(text)
        except DecodeError:
            continue
        assert isinstance(s, sdp.Sdp)
        s.clock_rates(), s.ice_passwords(), s.rtx_map()
        media_tables.payload_types([s])
