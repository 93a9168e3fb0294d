"""The verdict table (issue 15 item 6): for every capture in captures/, captures/bwe/ and ../shared/public-captures/,
opened bare (no SDP, no key log) and with its side files (SDPs, key log, TURN credentials, published SRTP keys), the
worst severity of each health stage and the headline (its stage, severity and key words) equal what tests/verdicts.json
expects.

The expectations come from each session's own record (.meta.json: scenario, nft rules and counters, expected_verdict,
events, getStats; handle_info; the captures' README; for public captures their README and tshark's view), never from
our own output; every entry says which record it rests on.  A new capture in captures/ without an entry fails
`test_every_capture_has_an_expectation`.  Each capture is opened and judged once per mode (cached for the module); a
mode without side files reuses the bare judgement."""

from __future__ import annotations

import json
import warnings
from functools import lru_cache
from pathlib import Path

import pytest

from webrtcpcap.protocols import keys, srtp
from webrtcpcap.report.health import SEVERITIES, STAGES, Health, Thresholds, _f, _findings_frame, health

from conftest import CAPTURES, PUBLIC_CAPTURES, rtcp_sdes, rtcp_sr, udp4, write_pcap

EXPECTATIONS = json.loads((Path(__file__).parent / "verdicts.json").read_text())
TURN_USER, TURN_PASS, TURN_SECRET = "lab", "labpass", "wplab-rest-secret"  # captures/lab/record.py
MODES = ("bare", "side")
SUFFIXES = (".rtpdump.pcap", ".janus.pcap", ".a.pcap", ".b.pcap", ".pcapng", ".pcap")
BWE = CAPTURES / "bwe"  # the bandwidth and freeze sessions (issue 20): their own folder, same side files
FOLDERS = {"captures": CAPTURES, "bwe": BWE, "public": PUBLIC_CAPTURES}
# Entries written before the quality stage (issue 20) may leave it out: their verdict and headline still pin it
# (a quality finding worse than the entry's verdict, or heading the report, fails them).
OPTIONAL_STAGES = {"quality"}


def capture_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".pcap", ".pcapng"))) if folder.is_dir() else []


def session_of(name: str) -> str:
    """The lab session a capture file belongs to: aiortc_clean for aiortc_clean.pcap, janus_mtu576 for
    janus_mtu576.janus.pcap."""
    return next(name[: -len(s)] for s in SUFFIXES if name.endswith(s))


def published_keys(path: Path) -> dict:
    """{ssrc or "any": base64 key||salt} from a public capture's NAME.keys.txt (see its README)."""
    out = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            ssrc, key = line.split()
            out["any" if ssrc == "any" else int(ssrc, 16)] = key
    return out


def side_files(folder: str, name: str) -> dict:
    """The keyword arguments of webrtcpcap.open for a capture's side files, as the lab records them: the session's
    offer and answer SDPs (also for its .janus.pcap/.rtpdump.pcap dumps, which are plaintext and need no key), the
    key log of the wire capture, the lab's TURN credentials for TURN sessions; the published SRTP keys of a public
    capture.  {} when it has none (its 'side' case is then the bare one)."""
    base = session_of(name)
    if folder in ("captures", "bwe"):
        home = FOLDERS[folder]
        kw: dict = {}
        sdps = [str(home / f"{base}.{x}.sdp") for x in ("offer", "answer")
                if (home / f"{base}.{x}.sdp").exists()]
        if sdps:
            kw["sdp"] = sdps
        # the key log opens both captures of a bwe session (the same DTLS association seen at a and at b)
        if name == f"{base}.pcap" or (folder == "bwe" and not name.endswith(".rtpdump.pcap")):
            if (home / f"{base}.keylog").exists():
                kw["keylog"] = str(home / f"{base}.keylog")
            meta = home / f"{base}.meta.json"
            if meta.exists() and json.loads(meta.read_text())["parameters"]["turn"]:
                kw.update(turn_passwords={TURN_USER: TURN_PASS}, turn_secret=TURN_SECRET)
        return kw
    path = PUBLIC_CAPTURES / f"{base}.keys.txt"
    if base == "membrane_srtp":
        # Its keys.txt says the key||salt is 30 ASCII "a" bytes, but the base64 written there is cut short (27 bytes).
        return {"srtp_keys": [keys.MasterKey(srtp.Profile.from_name("AES_CM_128_HMAC_SHA1_80"), b"a" * 16, b"a" * 14)]}
    return {"srtp_keys": published_keys(path)} if path.exists() else {}


@lru_cache(maxsize=None)
def judged(folder: str, name: str, mode: str):
    kw = side_files(folder, name) if mode == "side" else {}
    if mode == "side" and not kw:
        return judged(folder, name, "bare")
    path = FOLDERS[folder] / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return health(str(path), **kw)


def cases():
    for folder in FOLDERS:
        for name in sorted(EXPECTATIONS[folder]):
            for mode in MODES:
                yield pytest.param(folder, name, mode, id=f"{folder}/{name}/{mode}")


def test_every_capture_has_an_expectation():
    assert capture_files(CAPTURES) == sorted(EXPECTATIONS["captures"]), "a capture without an expectation, or gone"
    assert capture_files(BWE) == sorted(EXPECTATIONS["bwe"]), "a bwe capture without an expectation, or gone"
    if PUBLIC_CAPTURES.is_dir():
        assert capture_files(PUBLIC_CAPTURES) == sorted(EXPECTATIONS["public"])


def test_every_expectation_is_complete_and_gives_its_reason():
    for folder in FOLDERS:
        for name, entry in EXPECTATIONS[folder].items():
            assert len(entry.get("record", "")) > 20, name
            for mode in MODES:
                e = entry[mode]
                required = set(STAGES) if folder == "bwe" else set(STAGES) - OPTIONAL_STAGES
                assert required <= set(e["stages"]) <= set(STAGES) and set(e["stages"].values()) <= set(SEVERITIES), (name, mode)
                head = e["headline"]
                assert head["severity"] == max(e["stages"].values(), key=SEVERITIES.index), (name, mode)
                if head["severity"] == "ok" or head["stage"] is None:
                    # no finding behind the headline: all ok, or info only from stages a key would judge (issue 21)
                    assert head["severity"] == "ok" or "no problems found" in head["words"], (name, mode)
                else:
                    assert e["stages"][head["stage"]] == head["severity"], (name, mode)
                assert head["words"] and len(e["reason"]) > 20, (name, mode)


def test_a_loss_the_receiver_reports_heads_the_recovery_findings_it_causes():
    # A capture at the sender (Chromium's RTP dump) sees the loss only in the peer's reports; the retransmissions
    # lost on the same path (recovery, an earlier stage) are its consequence, not the headline.
    rows = [_f("recovery", "ssrc 0x1", "warning", "recovery.retransmission_loss", "2 packets NACKed again"),
            _f("rtcp", "ssrc 0x1", "warning", "rtcp.lost", "the receiver reports 33 packets lost (4.6 %)"),
            _f("media", "ssrc 0x2", "info", "media.stream", "fine")]
    h = Health("x", 1, 1.0, _findings_frame(rows), Thresholds())
    assert h.headline_finding["finding"].startswith("the receiver reports 33")
    assert h.headline == "ssrc 0x1: the receiver reports 33 packets lost (4.6 %)"  # the stream named first
    # a failure of an earlier stage still heads the report, and without a reported loss recovery keeps its place
    first = [_f("ice", "ice", "warning", "ice.connected", "ICE connected in 1262 ms")]
    assert Health("x", 1, 1.0, _findings_frame(first + rows), Thresholds()).headline.startswith("ICE connected")
    assert Health("x", 1, 1.0, _findings_frame(rows[:1]), Thresholds()).headline_finding["finding"] == \
        "2 packets NACKed again"


def test_a_capture_of_rtcp_alone_is_not_a_call_that_never_connected(tmp_path):
    # ndpi_rtcp_multiple_pkts_in_the_same_datagram.pcap holds only compound RTCP (SR+SDES): the senders' reports say
    # media flowed, so "ICE never connected" / "the call never connected" would be false; the capture holds the
    # reports only.
    frames = [udp4(rtcp_sr(0xA1, packets=50 * k) + rtcp_sdes(0xA1)) for k in range(1, 4)]
    h = health(str(write_pcap(tmp_path / "rtcp.pcap", frames)))
    said = " ".join(h.findings.loc[h.findings["stage"].isin(["dtls", "media"]), "finding"])
    assert "never connected" not in said and said.count("only RTCP") == 2, said
    assert h.stage("dtls") == h.stage("media") == "info"


@pytest.mark.parametrize("folder,name,mode", list(cases()))
def test_verdict_table(folder, name, mode):
    if folder == "public" and not (PUBLIC_CAPTURES / name).exists():
        pytest.skip(f"{PUBLIC_CAPTURES / name} is not here (public captures live beside the project)")
    expected = EXPECTATIONS[folder][name][mode]
    h = judged(folder, name, mode)
    got = {stage: h.stage(stage) for stage in STAGES}
    differences = [f"{stage}: expected {expected['stages'][stage]}, got {got[stage]}" for stage in STAGES
                   if stage in expected["stages"] and got[stage] != expected["stages"][stage]]
    behind = h.headline_finding
    stage = None if behind is None else str(behind["stage"])
    head = expected["headline"]
    if (h.verdict, stage) != (head["severity"], head["stage"]):
        differences.append(f"headline: expected {head['severity']} from {head['stage']}, got {h.verdict} from {stage}")
    missing = [w for w in head["words"] if w.lower() not in h.headline.lower()]
    if missing:
        differences.append(f"headline lacks {missing}: {h.headline!r}")
    assert not differences, "\n".join(differences + [f"why expected: {expected['reason']}", h.text()])
