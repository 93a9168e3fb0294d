"""Issue 21, the first hour of a new user: what the CLI says on the stumbles a newcomer meets first (a closed pipe,
a Python warning, an unwritable output, an empty or WebRTC-less capture, TURN REST credentials), the headline's
wording (the stream it is about, in the SSRC notation of the tables; no SRTCP caveat for a healthy call), and hints
in the CLI's own words (`--keylog`, not `keylog=`).

Expected values come from the lab's own records (captures/lab/record.py: the TURN secret; the tables' SSRCs) and
from packets built here, never from the text under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import subprocess
import sys

import pytest

import webrtcpcap
from webrtcpcap import cli

from conftest import CAPTURES, env_without_pythonwarnings, udp4, write_pcap

TURN_SECRET = "wplab-rest-secret"  # captures/lab/record.py (coturn static-auth-secret)
HEX_SSRC = re.compile(r"\b(ssrc|rtx of|for ssrc)\s+0x[0-9a-f]{8}\b", re.I)


def _run(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "webrtcpcap", *map(str, args)], capture_output=True, text=True,
                          timeout=180, env=env_without_pythonwarnings())


def _rest_password(username: str) -> str:
    """TURN REST API (draft-uberti-behave-turn-rest): password = base64(HMAC-SHA1(secret, username))."""
    return base64.b64encode(hmac.new(TURN_SECRET.encode(), username.encode(), hashlib.sha1).digest()).decode()


def _rest_username() -> str:
    cap = webrtcpcap.open(CAPTURES / "turn_relay_rest_chromium.pcap", progress=False)
    names = [u for u in cap.stun["username"].dropna().unique() if re.fullmatch(r"\d+:\w+", u)]
    assert len(names) == 1, names
    return names[0]


# -- closed pipes, warnings, unwritable outputs ---------------------------------------------------------------------

@pytest.mark.parametrize("command", ["summary", "report"])
def test_a_reader_that_goes_away_is_no_error(command):
    # `webrtcpcap summary x | head -1`: stdout closed before the first line is written
    proc = subprocess.Popen([sys.executable, "-m", "webrtcpcap", command, CAPTURES / "aiortc_clean.pcap"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env_without_pythonwarnings())
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=180) in (0, 1)
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err


def test_anonymize_of_a_cut_file_warns_in_one_line_without_python_paths(tmp_path):
    cut = tmp_path / "cut.pcap"
    cut.write_bytes((CAPTURES / "aiortc_clean.pcap").read_bytes()[:3000])
    proc = _run("anonymize", cut, tmp_path / "out.pcap")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("webrtcpcap: warning: ") and "cut short" in lines[0]
    assert ".py" not in proc.stderr and "CaptureWarning" not in proc.stderr


def test_anonymize_into_a_missing_folder_is_a_plain_error(tmp_path):
    out = tmp_path / "no" / "such" / "dir" / "x.pcap"
    proc = _run("anonymize", CAPTURES / "aiortc_clean.pcap", out)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "internal error" not in lines[0] and "x.pcap" in lines[0]
    assert "cannot write" in lines[0] and "No such file or directory" in lines[0]


# -- empty and WebRTC-less captures --------------------------------------------------------------------------------

def test_summary_of_an_empty_capture_says_so(tmp_path):
    path = write_pcap(tmp_path / "empty.pcap", [])
    proc = _run("summary", path)
    assert proc.returncode == 0, proc.stderr
    assert "the capture holds no frames" in proc.stdout.splitlines()[1]
    report = _run("report", path)
    assert "verdict: ERROR - the capture holds no frames" in report.stdout


def test_summary_of_a_capture_without_webrtc_says_so(tmp_path):
    dns = [udp4(b"\x12\x34\x01\x00" + b"\0" * 20, sport=40000 + i, dport=53) for i in range(4)]
    proc = _run("summary", write_pcap(tmp_path / "dns.pcap", dns))
    assert proc.returncode == 0, proc.stderr
    assert "no WebRTC traffic (STUN, DTLS, RTP, RTCP, TURN) in 4 frames" in proc.stdout.splitlines()[1]


# -- TURN credentials ----------------------------------------------------------------------------------------------

def _turn_line(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.strip().startswith("TURN ")]


def test_turn_password_takes_a_rest_username_with_its_colon():
    user = _rest_username()
    proc = _run("report", CAPTURES / "turn_relay_rest_chromium.pcap", "--turn-password",
                f"{user}={_rest_password(user)}")
    assert proc.returncode in (0, 1), proc.stderr
    lines = _turn_line(proc.stdout)
    assert any(user in line and "MESSAGE-INTEGRITY" in line and "all pass" in line for line in lines), lines
    assert _rest_password(user) not in proc.stdout + proc.stderr


def test_turn_password_that_matches_no_message_says_so():
    proc = _run("report", CAPTURES / "turn_relay_static.pcap", "--turn-password", "nobody=secret-pw-1")
    lines = _turn_line(proc.stdout)
    assert any("nobody" in line and "no STUN message" in line and "nothing checked" in line for line in lines), lines
    assert "secret-pw-1" not in proc.stdout + proc.stderr


def test_turn_password_wrong_for_its_user_says_the_checks_failed():
    proc = _run("report", CAPTURES / "turn_relay_static.pcap", "--turn-password", "lab=not-the-password")
    lines = _turn_line(proc.stdout)
    assert any("lab" in line and "fail" in line for line in lines), lines


def test_turn_credentials_from_a_file(tmp_path):
    user = _rest_username()
    creds = tmp_path / "turn.txt"
    creds.write_text(f"# TURN credentials\n\n{user}={_rest_password(user)}\nother=pw2\n")
    proc = _run("report", CAPTURES / "turn_relay_rest_chromium.pcap", "--turn-password", creds)
    lines = _turn_line(proc.stdout)
    assert any(user in line and "all pass" in line for line in lines), lines
    assert any(line.strip().startswith("TURN ") and "other" in line and "nothing checked" in line for line in lines)


def test_turn_password_legacy_user_colon_pass_still_works():
    proc = _run("report", CAPTURES / "turn_relay_static.pcap", "--turn-password", "lab:labpass")
    lines = _turn_line(proc.stdout)
    assert any(re.search(r"\blab\b", line) and "all pass" in line for line in lines), lines


@pytest.mark.parametrize("value", ["no-separator-here", "=pw-only", "1700000000:alice:pw"])
def test_turn_password_that_cannot_be_read_is_one_line_and_exit_2(value):
    proc = _run("report", CAPTURES / "aiortc_clean.pcap", "--turn-password", value)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "USER=PASS" in lines[0]
    assert "pw" not in lines[0].split("USER=PASS", 1)[1] and value not in lines[0]


def test_turn_credentials_file_with_a_bad_line_names_the_line_not_its_content(tmp_path):
    creds = tmp_path / "turn.txt"
    creds.write_text("alice=pw1\nsecret-without-separator\n")
    proc = _run("report", CAPTURES / "aiortc_clean.pcap", "--turn-password", creds)
    assert proc.returncode == 2
    assert "line 2" in proc.stderr and "secret-without-separator" not in proc.stderr and "pw1" not in proc.stderr


def test_parse_turn_passwords_splits_at_the_first_equals_sign():
    # base64 passwords end in "=": the user part never holds one, the password may
    assert cli.turn_passwords(["1700000000:alice=abc+/de=="]) == {"1700000000:alice": "abc+/de=="}
    assert cli.turn_passwords(["bob:pw"]) == {"bob": "pw"}


# -- the headline and the words of the CLI -------------------------------------------------------------------------

def _verdict_line(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("verdict: "))


def test_a_healthy_call_without_key_log_does_not_headline_srtcp():
    proc = _run("report", CAPTURES / "aiortc_clean.pcap")
    line = _verdict_line(proc.stdout)
    assert "SRTCP" not in line and "no problems found" in line, line
    assert "ICE connected" in line and "DTLS completed" in line


def test_cli_hints_say_the_flag_not_the_python_argument():
    proc = _run("report", CAPTURES / "aiortc_clean.pcap")
    assert "keylog=" not in proc.stdout and "--keylog" in proc.stdout
    # the library keeps speaking Python
    h = webrtcpcap.health(webrtcpcap.open(CAPTURES / "aiortc_clean.pcap", progress=False))
    assert "keylog=" in h.text() and "--keylog" not in h.text()


def test_headline_names_the_stream_its_kind_and_direction():
    cap = webrtcpcap.open(CAPTURES / "aiortc_outage3s.pcap", progress=False,
                          keylog=str(CAPTURES / "aiortc_outage3s.keylog"))
    st = cap.streams
    h = webrtcpcap.health(cap)
    assert h.verdict == "error"
    head = h.headline
    m = re.match(r"ssrc (\d+) (audio|video)\b.* (\S+):(\d+) → (\S+):(\d+): ", head)
    assert m, head
    ssrc, kind, src, sport, dst, dport = m.groups()
    row = st[st["ssrc"] == int(ssrc)].iloc[0]
    assert (str(row["kind"]), str(row["src"]), int(row["sport"]), str(row["dst"]), int(row["dport"])) == \
        (kind, src, int(sport), dst, int(dport))
    proc = _run("report", CAPTURES / "aiortc_outage3s.pcap")
    assert f"ssrc {ssrc} {kind}" in _verdict_line(proc.stdout)


def test_ssrcs_are_written_as_the_tables_show_them(tmp_path):
    # One notation: the decimal of the tables (cap.rtp.ssrc), of SDP a=ssrc lines and of getStats.
    out = tmp_path / "r.html"
    proc = _run("report", CAPTURES / "aiortc_outage3s.pcap", "--keylog", CAPTURES / "aiortc_outage3s.keylog",
                "--html", out)
    page = out.read_text()
    assert not HEX_SSRC.search(proc.stdout), HEX_SSRC.search(proc.stdout)
    assert not HEX_SSRC.search(page)
    ssrcs = webrtcpcap.open(CAPTURES / "aiortc_outage3s.pcap", progress=False).streams["ssrc"].astype(int)
    assert all(f"ssrc {s}" in proc.stdout for s in ssrcs)
    summary = _run("summary", CAPTURES / "aiortc_outage3s.pcap").stdout
    assert "0x" not in summary and all(f" {s} " in summary for s in ssrcs)


# -- analyses take the capture (issue 21 item 3) -------------------------------------------------------------------

def test_analyses_take_the_capture_as_well_as_its_tables():
    from webrtcpcap import handshake, ice

    cap = webrtcpcap.open(CAPTURES / "turn_relay_static.pcap", progress=False)
    pd_testing = pytest.importorskip("pandas.testing")
    pd_testing.assert_frame_equal(ice.transactions(cap), ice.transactions(cap.stun))
    pd_testing.assert_frame_equal(ice.candidate_pairs(cap), ice.candidate_pairs(
        cap.stun, cap.packets, cap.stun_attributes, relayed_media=(cap.rtp, cap.rtcp)))
    pd_testing.assert_frame_equal(ice.summary(cap), ice.summary(
        cap.stun, cap.packets, cap.stun_attributes, relayed_media=(cap.rtp, cap.rtcp)))
    pd_testing.assert_frame_equal(handshake.flights(cap), handshake.flights(cap.dtls_records, cap.dtls_handshakes))
    assoc = handshake.associations(cap)
    pd_testing.assert_frame_equal(assoc, handshake.associations(cap.dtls_records, cap.dtls_handshakes, cap.rtp,
                                                                cap.sdp or None, stun=cap.stun))
    assert len(assoc) == 1 and assoc["verdict"].iloc[0] == "completed"
    # the context's table is the same analysis (it adds the call's session column)
    ctx = webrtcpcap.analysis.of(cap).candidate_pairs
    pd_testing.assert_frame_equal(ctx.drop(columns="session"), ice.candidate_pairs(cap))
    with pytest.raises(TypeError, match="packets"):
        ice.candidate_pairs(cap.stun)  # the table form still needs its tables
