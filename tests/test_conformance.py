"""Cross-checks against capinfos and tshark on the bundled captures and on ../shared/public-captures.

Where tshark's RTP/RTCP heuristics and our per-flow demultiplexer disagree on a public capture, the difference is
investigated and pinned below (PUBLIC_DIFFERENCES), so a new disagreement fails instead of passing silently.
"""

from __future__ import annotations

import collections
import functools
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest

import webrtcpcap

from conftest import CAPTURES, PUBLIC_CAPTURES

WEBRTC_KINDS = {"stun", "dtls", "rtp", "rtcp", "turn-channel", "zrtp"}
HEURISTICS = ["--enable-heuristic", "rtp_udp", "--enable-heuristic", "rtcp_udp", "--enable-heuristic", "rtp_stun"]


def _capture_params():
    params = [pytest.param(p, id=p.name) for p in sorted(CAPTURES.glob("*.pcap*"))]
    if PUBLIC_CAPTURES.is_dir():
        params += [pytest.param(p, id=p.name) for p in sorted(PUBLIC_CAPTURES.glob("*.pcap*"))]
    else:
        params.append(pytest.param(None, id="public-captures", marks=pytest.mark.skip(
            reason=f"{PUBLIC_CAPTURES} is absent (it lives beside the repo, not in it)")))
    return params


def _public_params():
    if not PUBLIC_CAPTURES.is_dir():
        return [pytest.param(None, id="public-captures", marks=pytest.mark.skip(
            reason=f"{PUBLIC_CAPTURES} is absent (it lives beside the repo, not in it)"))]
    return [pytest.param(p, id=p.name) for p in sorted(PUBLIC_CAPTURES.glob("*.pcap*"))]


needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")


@functools.lru_cache(maxsize=None)
def _open(path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", webrtcpcap.CaptureWarning)  # the derived truncated capture warns, rightly
        return webrtcpcap.open(path, progress=False)


def _tshark(path: Path, *args) -> list[list[str]]:
    proc = subprocess.run(["tshark", "-n", "-r", str(path), *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 2), proc.stderr  # 2: the file is cut short, which tshark reports on stderr
    return [line.split("\t") for line in proc.stdout.splitlines() if line]


@pytest.mark.skipif(shutil.which("capinfos") is None, reason="capinfos is not installed")
@pytest.mark.parametrize("path", _capture_params())
def test_frame_count_equals_capinfos(path):
    proc = subprocess.run(["capinfos", "-c", "-M", str(path)], capture_output=True, text=True, timeout=120)
    match = re.search(r"Number of packets:\s+(\d+)", proc.stdout)
    assert match, proc.stdout + proc.stderr
    cap = _open(path)
    assert len(cap) == len(cap.packets) == int(match.group(1))


@needs_tshark
@pytest.mark.parametrize("path", _capture_params())
def test_rtp_packets_per_ssrc_and_pt_equal_tshark_on_our_rtp_ports(path):
    cap = _open(path)
    direct = cap.rtp[~cap.rtp["relayed"]]  # RTP relayed inside TURN: tests/test_turn_unwrap.py (rtp_stun heuristic)
    ports = sorted(set(direct["sport"].tolist()) | set(direct["dport"].tolist()))
    decode_as = [arg for p in ports for arg in ("-d", f"udp.port=={p},rtp")]
    # rtp.ssrc rather than plain "rtp": on a decode-as port Wireshark's RTP dissector hands STUN and DTLS on to
    # their dissectors (RFC 7983), and those frames match "rtp" without having an RTP header.  RTP quoted inside
    # ICMP errors is not RTP traffic (we call those frames icmp).
    rows = _tshark(path, "-T", "fields", "-e", "rtp.ssrc", "-e", "rtp.p_type", "-Y",
                   "rtp.ssrc && udp && !icmp && !icmpv6", *decode_as) if ports else []
    theirs = collections.Counter()
    for ssrc, pt in rows:
        for s, p in zip(ssrc.split(","), pt.split(",")):
            theirs[(int(s, 16), int(p))] += 1
    ours = collections.Counter({(int(s), int(p)): int(n) for (s, p), n in
                                direct.groupby(["ssrc", "pt"], observed=True).size().items()})
    assert ours == theirs


# Differences from tshark's heuristics (rtp_udp, rtcp_udp, rtp_stun) on the public captures, each investigated.
# (file, protocol) -> ("ours", error message every frame only we call it has) or ("tshark", kinds we give the frames
# only tshark calls it).  Every pair not listed must agree frame for frame.
PUBLIC_DIFFERENCES = {
    # Discord voice: three 39-byte client packets (frames 23, 25, 28) on a flow with RTP evidence have V=2 and X=1,
    # but the "extension header" is ciphertext (profile 0xb8cd, 0xa07a words): tshark's heuristic rejects them, we
    # keep them as RTP (first byte 0x90, RFC 7983) and say why their header cannot be read.
    ("ndpi_discord.pcap", "rtp"): ("ours", "RTP extension overruns the packet"),
    # Three 0xAF 0xCD (PT 205 FMT 15, transport-wide CC) packets whose body is encrypted and followed by a trailer:
    # the first length field does not chain to the end of the datagram, so tshark's RTCP heuristic rejects them.
    # The flow carries RTP (evidence "rtp"), so we call them RTCP, with the compound error.
    ("ndpi_rtp.pcapng", "rtcp"): ("ours", "RTCP compound has bytes that are not an RTCP header"),
    # The media of this call is relayed: RTP inside TURN ChannelData (954 frames) and inside Send/Data indications.
    # We classify the outer TURN message; decoding the relayed payload is the TURN work's job, not the demux's.
    ("srtpdec_WebRTC_OPUS_Turn_SDES_Call_1.pcap", "rtp"): ("tshark", {"turn-channel", "stun"}),
}


@needs_tshark
@pytest.mark.parametrize("path", _public_params())
@pytest.mark.parametrize("proto", ["rtp", "rtcp"])
def test_rtp_and_rtcp_frames_agree_with_tshark_heuristics_or_differ_as_documented(path, proto):
    cap = _open(path)
    packets = cap.packets.set_index("frame")
    display = "rtp.ssrc" if proto == "rtp" else "rtcp.pt || srtcp"
    theirs = {int(r[0]) for r in _tshark(path, "-T", "fields", "-e", "frame.number", "-Y",
                                          f"({display}) && udp && !icmp && !icmpv6", *HEURISTICS)}
    ours = set(packets.index[packets["kind"] == proto].tolist())
    only_ours, only_theirs = sorted(ours - theirs), sorted(theirs - ours)
    side, explanation = PUBLIC_DIFFERENCES.get((path.name, proto), (None, None))
    if side is None:
        assert (only_ours, only_theirs) == ([], [])
    elif side == "ours":
        assert only_theirs == [] and only_ours
        assert set(packets.loc[only_ours, "error"].astype(str)) == {explanation}
    else:
        assert only_ours == [] and only_theirs
        assert set(packets.loc[only_theirs, "kind"].astype(str)) <= explanation


@needs_tshark
def test_dtls_certificate_fragments_rtp_heuristic_false_positives_are_dtls():
    """README: tshark's RTP heuristic matches five frames of this capture; they are DTLS records (first byte 22/23),
    and carry no RTP header (no rtp.ssrc).  We must call them dtls."""
    path = PUBLIC_CAPTURES / "ndpi_dtls_certificate_fragments.pcap"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    matched = {int(r[0]) for r in _tshark(path, "-T", "fields", "-e", "frame.number", "-Y", "rtp", *HEURISTICS)}
    assert len(matched) == 5
    packets = _open(path).packets.set_index("frame")
    assert set(packets.loc[sorted(matched), "kind"].astype(str)) == {"dtls"}


@needs_tshark
@pytest.mark.parametrize("path", _capture_params())
def test_dns_mdns_ntp_ssdp_and_quic_are_never_webrtc_kinds(path):
    frames = [int(r[0]) for r in _tshark(path, "-T", "fields", "-e", "frame.number", "-Y",
                                         "dns || mdns || ntp || ssdp || quic")]
    packets = _open(path).packets.set_index("frame")
    called = packets.loc[frames, "kind"].astype(str)
    assert not set(called) & WEBRTC_KINDS, called[called.isin(WEBRTC_KINDS)]


def test_public_captures_folder_is_where_the_tests_look():
    if not PUBLIC_CAPTURES.is_dir():
        pytest.skip(f"{PUBLIC_CAPTURES} is absent (it lives beside the repo, not in it)")
    assert (PUBLIC_CAPTURES / "README.md").exists()
    assert list(PUBLIC_CAPTURES.glob("*.pcap*"))


def test_derived_truncated_capture_warns_and_keeps_the_frames_before_the_cut():
    path = PUBLIC_CAPTURES / "derived_truncated_srtpdec_tcp_call.pcap"
    source = PUBLIC_CAPTURES / "srtpdec_tcp_call_02_03_client.pcap"
    if not path.exists() or not source.exists():
        pytest.skip("public captures are absent")
    with pytest.warns(webrtcpcap.CaptureWarning, match="cut short"):
        cut = webrtcpcap.open(path, progress=False)
    full = _open(source)
    n = len(cut)
    # README: the derived file is the first 300001 bytes of the source, so its frames are a prefix of the source's.
    assert 0 < n < len(full)
    assert [cut.frame_bytes(i) for i in (1, n // 2, n)] == [full.frame_bytes(i) for i in (1, n // 2, n)]
    assert list(cut.packets["caplen"]) == list(full.packets["caplen"][:n])
