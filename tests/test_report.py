"""`webrtcpcap report`: the text report and its exit codes on lab sessions whose scenario (their .meta.json) says
healthy or broken; the self-contained HTML (sections, embedded PNGs, no script, no external URL, size); packet text
escaped (a crafted capture with <script> in STUN SOFTWARE and <b> in USERNAME), also checked in headless Chromium;
secrets never shown; bad input gives a line and exit code 2, never a traceback.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from conftest import A4, B4, CAPTURES, env_without_pythonwarnings, rtp_packet, stun_message, udp4, write_pcap

STAGE_LINE = r"^{}\s+(OK|INFO|WARNING|ERROR)\b"
MAX_HTML_BYTES = 3 << 20  # issue 8: the HTML report of a 20 s call is at most 3 MB


def _run(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "webrtcpcap", "report", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=env_without_pythonwarnings())


def meta(name: str) -> dict:
    return json.loads((CAPTURES / f"{name}.meta.json").read_text())


def session_args(name: str) -> list:
    args = [CAPTURES / f"{name}.pcap", "--sdp", CAPTURES / f"{name}.offer.sdp",
            "--sdp", CAPTURES / f"{name}.answer.sdp"]
    if (CAPTURES / f"{name}.keylog").exists():
        args += ["--keylog", CAPTURES / f"{name}.keylog"]
    return args


def stage_severity(text: str, stage: str) -> str | None:
    m = re.search(STAGE_LINE.format(stage), text, re.M)
    return m.group(1) if m else None


class Page(HTMLParser):
    """What the tests look at in an HTML page: tags, attributes, text, section headings."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.data: list[str] = []
        self.h2: list[str] = []
        self.title = ""
        self._in: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in.append(tag)

    def handle_endtag(self, tag):
        while self._in and self._in.pop() != tag:
            pass

    def handle_data(self, data):
        self.data.append(data)
        if self._in and self._in[-1] == "h2":
            self.h2.append(data)
        if self._in and self._in[-1] == "title":
            self.title += data

    def all(self, tag):
        return [a for t, a in self.tags if t == tag]

    @property
    def text(self) -> str:
        return "".join(self.data)


SECTIONS = ["Verdict and stages", "Calls", "Inputs", "Findings and evidence", "ICE", "DTLS",
            "Media streams: sequence, loss and NACK", "Bit rate and jitter", "Endpoint stats side by side"]


def check_self_contained(page: Page, min_images: int = 3) -> None:
    assert page.all("script") == []
    for tag, attrs in page.tags:
        for key in ("src", "href", "srcset", "action", "data"):
            value = (attrs.get(key) or "").strip().lower()
            assert not value.startswith(("http:", "https:", "//", "ftp:", "file:")), (tag, key, value[:80])
    imgs = page.all("img")
    assert len(imgs) >= min_images
    for img in imgs:
        src = img["src"]
        assert src.startswith("data:image/png;base64,")
        png = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", png[16:24])  # IHDR
        assert width >= 200 and height >= 100


# --- lab sessions: exit codes and stage lines (expected outcome from the scenario's metadata) -------------------

def test_healthy_session_exits_0_with_a_line_per_stage():
    m = meta("aiortc_clean")
    p = m["parameters"]
    assert not p["drops"] and p["outage"] is None and p["expect_connected"]  # the scenario is a healthy call
    proc = _run(*session_args("aiortc_clean"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = proc.stdout
    assert text.startswith("webrtcpcap health: aiortc_clean.pcap")
    assert re.search(r"^verdict: (OK|INFO) - ", text, re.M)
    for stage in ("Capture", "ICE", "DTLS", "Media", "Recovery", "RTCP"):
        assert stage_severity(text, stage) in ("OK", "INFO"), stage
    assert re.search(r"^\s+key log\s+aiortc_clean\.keylog: 1 TLS 1\.2 session \(contents never shown\)", text, re.M)
    assert proc.stderr == ""


def test_outage_session_exits_1_and_media_is_an_error():
    assert meta("aiortc_outage3s")["parameters"]["outage"] is not None
    proc = _run(*session_args("aiortc_outage3s"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert stage_severity(proc.stdout, "Media") == "ERROR"
    assert stage_severity(proc.stdout, "ICE") == "OK" and stage_severity(proc.stdout, "DTLS") == "OK"
    assert "Traceback" not in proc.stdout + proc.stderr


def test_blocked_ice_session_exits_1_and_ice_is_an_error():
    assert not meta("ice_udp_blocked")["parameters"]["expect_connected"]
    proc = _run(CAPTURES / "ice_udp_blocked.pcap", "--sdp", CAPTURES / "ice_udp_blocked.offer.sdp")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert stage_severity(proc.stdout, "ICE") == "ERROR"
    assert re.search(r"^verdict: ERROR - ICE failed", proc.stdout, re.M)


def test_help_documents_the_exit_codes():
    proc = _run("--help")
    assert proc.returncode == 0
    assert "0 healthy" in proc.stdout and "1 problems found" in proc.stdout and "2 could not read" in proc.stdout
    for option in ("--sdp", "--keylog", "--turn-password", "--turn-secret", "--getstats", "--janus-handle-info",
                   "--html"):
        assert option in proc.stdout


# --- HTML ---------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def outage_html(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "outage.html"
    name = "aiortc_outage3s"
    proc = _run(*session_args(name), "--getstats", CAPTURES / f"{name}.getstats.json", "--html", out)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    return out, proc


def test_html_report_is_self_contained_with_every_section(outage_html):
    out, _ = outage_html
    raw = out.read_bytes()
    assert len(raw) <= MAX_HTML_BYTES  # a 16 s call with 5 streams; the plots, not the duration, set the size
    page = Page(raw.decode("utf-8"))
    assert [h for h in page.h2 if h in SECTIONS] == SECTIONS
    # ICE ladder, DTLS ladder, one sequence/NACK picture per audio/video stream (4), bit rate, jitter
    check_self_contained(page, min_images=2 + 4 + 2)
    assert "<style>" in raw.decode()


def test_html_report_holds_the_verdict_findings_evidence_and_stats(outage_html):
    out, proc = outage_html
    page = Page(out.read_text())
    text = page.text
    # the verdict names the stream: its SSRC (as the tables write it), kind, codec and direction
    assert re.search(r"ERROR ssrc \d+ video \w+ [\d.]+:\d+ → [\d.]+:\d+: video froze for 3.0 s",
                     " ".join(text.split()))  # what the viewer saw (issue 20), the freeze the 3 s gap caused
    # every finding's evidence frames, as the text report lists them, are in the HTML
    frames = re.findall(r"^\s+frames (\S+)$", proc.stdout, re.M)
    assert frames and all(f in text for f in frames)
    assert "packetsSent" in text and "aiortc getStats" in text
    # the NACK picture is drawn for the video stream whose NACKs the key log decrypts (the Recovery stage says so)
    assert re.search(r"^Recovery\s+ERROR\s+NACK repaired", proc.stdout, re.M)
    nack_imgs = [a["alt"] for a in page.all("img") if "NACK" in a.get("alt", "")]
    assert len(nack_imgs) == 1 and "video" in nack_imgs[0]


def test_html_report_never_shows_key_material_or_sdp_secrets(outage_html, tmp_path):
    out, proc = outage_html
    html_text = out.read_text()
    keylog = (CAPTURES / "aiortc_outage3s.keylog").read_text().split()
    secrets = [s for s in keylog if len(s) >= 64]
    assert secrets
    for s in secrets:
        assert s.lower() not in html_text.lower() and s.lower() not in proc.stdout.lower()
    pwds = re.findall(r"^a=ice-pwd:(\S+)", (CAPTURES / "aiortc_outage3s.offer.sdp").read_text(), re.M)
    assert pwds and not any(p in html_text for p in pwds)
    assert "aiortc_outage3s.keylog" in html_text  # named, never shown
    assert str(CAPTURES) not in html_text and str(CAPTURES) not in proc.stdout  # file names, no directories


def test_turn_password_is_never_shown(tmp_path):
    out = tmp_path / "turn.html"
    proc = _run(CAPTURES / "turn_relay_static.pcap", "--turn-password", "lab:labpass-Zq9", "--turn-secret",
                "s3cret-Xy7", "--html", out)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    for secret in ("labpass-Zq9", "s3cret-Xy7"):
        assert secret not in proc.stdout and secret not in proc.stderr and secret not in out.read_text()


# --- escaping: a capture whose STUN text is markup ----------------------------------------------------------------

SOFTWARE_ALERT = "<script>alert(1)</script>"
SOFTWARE_TITLE = "<script>document.title='pwned'</script>"
USERNAME_BOLD = "<b>bold</b>:peer"


def _attr(attr_type: int, value: bytes) -> bytes:
    return struct.pack(">HH", attr_type, len(value)) + value + b"\0" * (-len(value) % 4)


def crafted_capture(path):
    """STUN Binding requests and answers carrying markup in USERNAME (0x0006) and SOFTWARE (0x8022), then two RTP
    streams (one with a hole), so the report has text from packets and every kind of plot."""
    frames = []
    for i, software in enumerate([SOFTWARE_ALERT, SOFTWARE_TITLE]):
        txid = bytes([i + 1]) * 12
        attrs = _attr(0x0006, USERNAME_BOLD.encode()) + _attr(0x8022, software.encode())
        frames.append(udp4(stun_message(0x0001, txid, attrs)))
        frames.append(udp4(stun_message(0x0101, txid, _attr(0x8022, software.encode())), src=B4, dst=A4,
                           sport=6000, dport=5000))
    frames += [udp4(rtp_packet(ssrc=0xA1B2C3D4, seq=i, ts=960 * i, pt=111)) for i in range(60) if i not in (20, 21)]
    frames += [udp4(rtp_packet(ssrc=0x00000BEE, seq=500 + i, ts=3000 * i, pt=96), src=B4, dst=A4, sport=6000,
                    dport=5000) for i in range(60)]
    times = [1_700_000_000_000_000_000 + i * 20_000_000 for i in range(len(frames))]
    return write_pcap(path, frames, times_ns=times, nanosecond=True)


@pytest.fixture(scope="module")
def crafted_html(tmp_path_factory):
    d = tmp_path_factory.mktemp("crafted")
    cap = crafted_capture(d / "crafted.pcap")
    out = d / "crafted.html"
    proc = _run(cap, "--html", out)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    return out


def test_stun_text_from_packets_is_escaped_in_the_html(crafted_html):
    raw = crafted_html.read_text()
    assert "<script" not in raw.lower() and "<b>" not in raw
    assert html_escaped(SOFTWARE_ALERT) in raw and html_escaped(SOFTWARE_TITLE) in raw
    assert html_escaped("<b>bold</b>") in raw
    page = Page(raw)
    # shown to the reader as the literal text the packets carried
    assert SOFTWARE_ALERT in page.text and SOFTWARE_TITLE in page.text and USERNAME_BOLD in page.text
    assert page.all("script") == [] and page.all("b") == []
    check_self_contained(page)


def html_escaped(s: str) -> str:
    import html

    return html.escape(s, quote=True)


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _dump_dom(path, timeout=90) -> str:
    """The DOM headless Chromium holds after loading `path` (scripts, if any, have run).  A page whose script
    calls alert() never finishes loading headless: that times out, and the test fails saying why."""
    cmd = [_chromium(), "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-extensions",
           f"--user-data-dir={path.parent / 'chromium-profile'}", "--dump-dom", path.resolve().as_uri()]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"chromium did not finish loading {path.name} in {timeout} s: a script (alert?) ran in it")
    assert proc.returncode == 0, err[-2000:]
    return out


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="no chromium/chromium-browser binary on PATH (make test installs "
                                                "it on Debian as root)")
def test_headless_chromium_shows_sections_and_plots_and_runs_no_packet_script(crafted_html, tmp_path):
    # control: in this browser, a script in a page does change the title seen in the dumped DOM
    control = tmp_path / "control.html"
    control.write_text("<!DOCTYPE html><html><head><title>calm</title></head><body><h2>x</h2>"
                       "<script>document.title='pwned'</script></body></html>")
    assert Page(_dump_dom(control)).title == "pwned"

    dom = Page(_dump_dom(crafted_html))
    assert dom.title == "webrtcpcap report: crafted.pcap"  # the packet's document.title script never ran
    assert [h for h in dom.h2 if h in SECTIONS] == SECTIONS
    assert len(dom.all("img")) >= 3 and all(a["src"].startswith("data:image/png;base64,") for a in dom.all("img"))
    assert dom.all("script") == [] and dom.all("b") == []
    assert SOFTWARE_TITLE in dom.text and USERNAME_BOLD in dom.text  # displayed as text


# --- bad input: a line, exit code 2, never a traceback --------------------------------------------------------------

def test_a_file_that_is_not_a_capture_exits_2(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("this is not a capture\n" * 20)
    proc = _run(bad, "--html", tmp_path / "bad.html")
    assert proc.returncode == 2
    assert stage_severity(proc.stdout, "Capture") == "ERROR" and "cannot be read" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr and "notes.txt" in proc.stderr
    page = Page((tmp_path / "bad.html").read_text())  # the HTML still comes out, saying why it is empty
    assert "cannot be read" in page.text and page.all("script") == []


def test_a_missing_capture_exits_2(tmp_path):
    proc = _run(tmp_path / "missing.pcap")
    assert proc.returncode == 2
    assert "missing.pcap" in proc.stdout and "cannot" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_bad_options_exit_2():
    proc = _run(CAPTURES / "aiortc_clean.pcap", "--turn-password", "no-colon-here")
    assert proc.returncode == 2 and "USER=PASS" in proc.stderr and "no-colon-here" not in proc.stderr
    assert _run(CAPTURES / "aiortc_clean.pcap", "--no-such-option").returncode == 2


def test_stats_and_key_log_of_another_call_give_clear_lines_not_a_traceback():
    proc = _run(CAPTURES / "aiortc_outage3s.pcap", "--keylog", CAPTURES / "aiortc_clean.keylog",
                "--getstats", CAPTURES / "aiortc_clean.getstats.json")
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr  # the inputs read; the call itself had an outage
    assert "Traceback" not in out + proc.stderr
    assert re.search(r"note .*none of its \d+ SSRCs is in the capture: stats of another call", out)
    assert re.search(r"note\s+key log aiortc_clean\.keylog opened nothing in this capture \(a key log of another "
                     r"call\?\)", out)


def test_key_log_that_opened_a_stalled_dtls13_handshake_is_not_called_a_key_log_of_another_call():
    # Firefox's stalled DTLS 1.3 session: the key log opens the encrypted handshake records, but the handshake never
    # finished, so no media key was exported and no SRTP packet opened
    proc = _run(CAPTURES / "firefox_firefox_dtls_stalled.pcap", "--keylog",
                CAPTURES / "firefox_firefox_dtls_stalled.keylog")
    out = proc.stdout
    assert "a key log of another call" not in out
    assert re.search(r"note\s+key log firefox_firefox_dtls_stalled\.keylog opened \d+ encrypted DTLS records of the "
                     r"handshake but no SRTP or SRTCP packet", out), out


@pytest.mark.parametrize("option,content,expected", [
    ("--getstats", "not json at all", "getStats notes.json cannot be used: getStats file is not valid JSON"),
    ("--getstats", '{"a": [1, 2]}', "getStats notes.json cannot be used: getStats report has no stats objects"),
    ("--janus-handle-info", "[1, 2]", "handle_info notes.json cannot be used: Janus handle_info is a JSON list"),
    ("--keylog", "# comment\nhello world\n", "key log notes.json is not an NSS key log"),
    ("--sdp", "\x00\x01 not sdp", "SDP notes.json cannot be read"),
], ids=["stats-not-json", "stats-other-shape", "janus-list", "keylog-garbage", "sdp-garbage"])
def test_unusable_input_files_exit_2_with_a_line_in_the_report(tmp_path, option, content, expected):
    f = tmp_path / "notes.json"
    f.write_text(content)
    proc = _run(CAPTURES / "aiortc_clean.pcap", option, f, "--html", tmp_path / "r.html")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert expected in proc.stdout and expected in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert stage_severity(proc.stdout, "ICE") == "OK"  # the capture is still judged
    assert expected.split(" cannot")[0].split(" is not")[0] in Page((tmp_path / "r.html").read_text()).text


def test_a_missing_input_file_exits_2(tmp_path):
    proc = _run(CAPTURES / "aiortc_clean.pcap", "--getstats", tmp_path / "nope.json")
    assert proc.returncode == 2 and "getStats nope.json cannot be used" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_an_unwritable_html_path_exits_2(tmp_path):
    proc = _run(CAPTURES / "ice_udp_blocked.pcap", "--html", tmp_path / "no" / "such" / "dir.html")
    assert proc.returncode == 2 and "cannot write the HTML report" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_janus_handle_info_disagreements_are_printed():
    name = "janus_echotest_loss5"
    proc = _run(CAPTURES / f"{name}.pcap", "--janus-handle-info", CAPTURES / f"{name}.handle_info.json",
                "--getstats", CAPTURES / f"{name}.getstats.json")
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the scenario drops packets
    assert meta(name)["parameters"]["drops"]
    m = re.search(r"^Endpoint stats vs capture: (\d+) rows, (\d+) compared, (\d+) disagree$", proc.stdout, re.M)
    assert m and int(m.group(3)) >= 1
    listed = re.findall(r"^  (chromium getStats|janus handle_info|aiortc getStats)\b.*: endpoint .*, capture .*$",
                        proc.stdout, re.M)
    assert len(listed) == int(m.group(3))


# --- readable on a laptop screen: headless Chromium at two widths ---------------------------------------------------

# Injected into a copy of the report for the test only (the report itself runs no script): after layout, the
# page's width against the viewport, where the verdict and the top findings end, and the widest element.
LAYOUT_PROBE = """<script>
window.addEventListener('load', () => {
  const d = document.documentElement, v = document.querySelector('.verdict'),
        top = document.querySelector('#top-findings'), toc = document.querySelector('nav.toc');
  let widest = '';
  for (const e of document.querySelectorAll('body *')) {
    if (e.getBoundingClientRect().right > innerWidth + 1) { widest = e.tagName + '.' + e.className; break; }
  }
  document.title = JSON.stringify({scroll: d.scrollWidth, inner: innerWidth, height: innerHeight,
    verdict_bottom: v ? v.getBoundingClientRect().bottom : null,
    top_bottom: top ? top.getBoundingClientRect().bottom : null,
    top_items: top ? top.querySelectorAll('li').length : 0,
    toc_links: toc ? toc.querySelectorAll('a').length : 0, widest: widest});
});
</script>"""


def _chromium_at(path, width: int, height: int, what: str, out=None, timeout=90) -> str:
    args = [f"--window-size={width},{height}", "--hide-scrollbars"]
    args += [f"--screenshot={out}"] if what == "screenshot" else ["--dump-dom"]
    cmd = [_chromium(), "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-extensions",
           f"--user-data-dir={path.parent / f'chromium-profile-{width}'}", *args, path.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.fixture(scope="module")
def turn_html(tmp_path_factory):
    """The report of the TURN session (the crowded ladder of issue 21) and of the outage (long evidence lists)."""
    out = tmp_path_factory.mktemp("laptop")
    pages = {}
    for name, extra in (("turn_relay_static", ["--turn-password", "lab=labpass"]),
                        ("aiortc_outage3s", ["--keylog", CAPTURES / "aiortc_outage3s.keylog"]),
                        ("chromium_aiortc_loss5", [])):
        html_path = out / f"{name}.html"
        proc = _run(CAPTURES / f"{name}.pcap", *extra, "--html", html_path)
        assert proc.returncode in (0, 1), proc.stderr
        pages[name] = (html_path, proc)
    return pages


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="no chromium/chromium-browser binary on PATH (make test installs "
                                                "it on Debian as root)")
@pytest.mark.parametrize("width", [1280, 1920])
@pytest.mark.parametrize("name", ["turn_relay_static", "aiortc_outage3s"])
def test_html_report_fits_a_laptop_screen_with_the_verdict_on_top(turn_html, name, width, tmp_path):
    html_path, proc = turn_html[name]
    page = html_path.read_text()
    probe = tmp_path / f"probe-{name}.html"
    probe.write_text(page.replace("</body>", LAYOUT_PROBE + "</body>", 1))
    height = 800 if width == 1280 else 1080
    layout = json.loads(Page(_chromium_at(probe, width, height, "dom")).title)
    assert layout["inner"] == width
    if width == 1280:  # control: the probe does see a page wider than the window
        wide = tmp_path / "wide.html"
        wide.write_text('<!DOCTYPE html><html><body><p class="verdict">x</p><table><tr><td><code>'
                        + "1,2," * 400 + "</code></td></tr></table>" + LAYOUT_PROBE + "</body></html>")
        control = json.loads(Page(_chromium_at(wide, width, height, "dom")).title)
        assert control["scroll"] > control["inner"], control
    assert layout["scroll"] <= layout["inner"], layout  # no horizontal scrolling: tables and plots fit
    # the verdict and the (up to) three most important findings are on the first screen, and a table of contents
    assert layout["verdict_bottom"] is not None and layout["verdict_bottom"] <= height, layout
    if "verdict: OK" not in proc.stdout and "verdict: INFO" not in proc.stdout:
        assert 1 <= layout["top_items"] <= 3 and layout["top_bottom"] <= height, layout
    assert layout["toc_links"] >= 8
    # the report as given (no probe) renders at this width, and its DOM holds the verdict as the text report says it
    verdict = re.search(r"^verdict: (\w+) - (.*)$", proc.stdout, re.M)
    dom = Page(_chromium_at(html_path, width, height, "dom"))
    assert f"{verdict.group(1)} {verdict.group(2)}" in " ".join(dom.text.split())
    shot = tmp_path / f"{name}-{width}.png"
    _chromium_at(html_path, width, height, "screenshot", out=shot)
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (width, height)


def test_crowded_stun_ladder_is_drawn_by_order_not_time(turn_html):
    # turn_relay_static: 12 TURN/ICE transactions within 15 ms at the start, a refresh 12 s later; on a time axis
    # their labels overlap.  The report draws them one row each.
    from webrtcpcap.report import document as report_module

    assert report_module.ladder_axis([0.1, 0.105, 0.11, 12.3]) == "order"
    assert report_module.ladder_axis([0.0, 1.0, 2.0, 3.0, 4.0]) == "time"
    assert report_module.ladder_axis([]) == "time"


def test_long_evidence_lists_fold_and_wrap(turn_html):
    html_path, _ = turn_html["chromium_aiortc_loss5"]  # 32 gaps: evidence lists of 24 frames
    page = html_path.read_text()
    assert "overflow-wrap:anywhere" in page.replace(" ", "")
    folded = re.findall(r'<details class="frames"><summary>(.*?)</summary>', page)
    assert folded and all("…" in s for s in folded)
