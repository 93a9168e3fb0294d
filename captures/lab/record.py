#!/usr/bin/env python3
"""Record the capture lab's WebRTC sessions into captures/ (run as root).

    record.py list                 the scenarios
    record.py all                  record every scenario into captures/
    record.py NAME [NAME...]       record some of them
    record.py smoke --out DIR      a 4 s aiortc <-> aiortc call into DIR (for the test suite); exit 0 when it worked
    record.py table                the Markdown table of the sessions recorded in captures/ (for README.md)
    record.py describe [NAME...]   recompute the tshark_kinds section of recorded sessions' .meta.json (no
                                   recording; all sessions in the output folder by default)

Each session leaves <name>.pcap and sidecars (<name>.meta.json, .offer.sdp, .answer.sdp, .keylog,
.srtp-keys.json, .getstats.json, .nft.txt, ...) in the output folder. See captures/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True  # no __pycache__ inside captures/lab

from netlab import Lab, preflight, run  # noqa: E402
from scenarios import SCENARIOS, SMOKE, Scenario  # noqa: E402

CAPTURES = HERE.parent
TURN_PORT = 3478
TURN_USER, TURN_PASS, TURN_SECRET, TURN_REALM = "lab", "labpass", "wplab-rest-secret", "wplab.test"


class Interrupted(Exception):
    pass


def on_signal(signum, frame):
    raise Interrupted(f"signal {signum}")


# -- versions ---------------------------------------------------------------------------------------------------
def first_line(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    p = subprocess.run(argv, capture_output=True, text=True)
    text = (p.stdout or p.stderr).strip().splitlines()
    return text[0].strip() if text else None


def versions(sc: Scenario) -> dict:
    v = {"kernel": platform.release(), "python": platform.python_version()}
    for pkg in ("aiortc", "aioice", "av", "pyOpenSSL", "cryptography", "pylibsrtp", "numpy"):
        try:
            v[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    try:
        from OpenSSL import SSL
        v["openssl"] = SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode()
    except Exception:
        pass
    v["tcpdump"] = first_line(["tcpdump", "--version"])
    v["nft"] = first_line(["nft", "--version"])
    if sc.turn:
        v["coturn"] = coturn_version()
    if "chromium" in (sc.offerer, sc.answerer):
        v["chromium"] = first_line(["chromium", "--version"])
    if "firefox" in (sc.offerer, sc.answerer):
        v["firefox"] = first_line(["firefox-esr", "--version"])
    if sc.kind == "chromium-janus":
        v["janus"] = first_line(["janus", "--version"])
    return v


def coturn_version() -> str | None:
    p = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "coturn"], capture_output=True, text=True)
    return f"coturn {p.stdout.strip()}" if p.returncode == 0 else None


# -- helpers ----------------------------------------------------------------------------------------------------
def wait_for(path: Path, timeout: float) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists():
            return True
        time.sleep(0.05)
    return False


def frame_count(pcap: Path) -> int:
    out = run(["capinfos", "-c", "-M", str(pcap)]).stdout
    m = re.search(r"Number of packets:\s+(\d+)", out)
    return int(m.group(1)) if m else -1


def tcpdump_report(log: Path) -> dict | None:
    """tcpdump's closing counts (captured, received by filter, dropped by kernel): a capture that lost packets in the
    kernel would make every comparison with the peers' counters wrong."""
    text = log.read_text(errors="replace") if log and log.exists() else ""
    found = {key: int(m[1]) for key, pattern in (("captured", r"(\d+) packets? captured"),
                                                  ("received_by_filter", r"(\d+) packets? received by filter"),
                                                  ("dropped_by_kernel", r"(\d+) packets? dropped by kernel"))
             if (m := re.search(pattern, text))}
    return found or None


def udp_conversations(pcap: Path) -> list[dict]:
    """UDP 5-tuples in the capture with frame counts (tshark's conv,udp table)."""
    if shutil.which("tshark") is None:
        return []
    out = run(["tshark", "-n", "-r", str(pcap), "-q", "-z", "conv,udp"], check=False).stdout
    convs = []
    for line in out.splitlines():
        m = re.match(r"\s*([\d.]+):(\d+)\s+<->\s+([\d.]+):(\d+)\s+(\d+)\s+\S+(?:\s+\S+)?\s+(\d+)\s+\S+(?:\s+\S+)?"
                     r"\s+(\d+)", line)
        if m:
            convs.append({"proto": "udp", "a": f"{m[1]}:{m[2]}", "b": f"{m[3]}:{m[4]}",
                          "frames_b_to_a": int(m[5]), "frames_a_to_b": int(m[6]), "frames": int(m[7])})
    return convs


# -- per-kind frame counts from tshark (an independent reference for the test suite) ----------------------------
# Each filter selects the frames whose outermost WebRTC-level message is of that kind; the filters are disjoint.
# tshark reassembles IPv4 fragments: a fragmented datagram is dissected (and counted) in the frame of its last
# fragment; the other fragments are "ip_fragment". "stun" is tshark's RFC 5389/8489 dissector (magic cookie);
# RFC 3489 messages would be "classicstun". With `-d udp.port==P,rtp` tshark's RTP dissector also takes the
# version-0 datagrams (STUN, DTLS) on P and hands them on, and hands RTCP (payload types 72-76, RFC 5761) to
# rtcp/srtcp, hence "rtp.version == 2" and the exclusions. Relayed media inside TURN ChannelData is counted once as
# "turn_channel" and again, by what tshark finds inside it, in the "channeldata_*" entries.
TSHARK_KIND_FILTERS = {
    "frames": "frame",
    "stun": "stun && !stun.channel && !icmp",
    "classic_stun": "classicstun && !icmp",
    "turn_channel": "stun.channel && !icmp",
    "dtls": "dtls && !stun && !icmp",
    # Datagrams in RFC 7983's DTLS range (first byte 20-63) that tshark 4.0 does not dissect as DTLS: DTLS 1.3
    # records with the unified header (RFC 9147 §4, first byte 001CSLEE; with decode-as RTP they show as
    # rtp.version 0), and a datagram whose DTLSPlaintext ServerHello is followed by such records (Firefox packs
    # its whole flight into one datagram; tshark then gives up on the datagram). Counted by their first byte.
    "dtls_undissected": "udp && !dtls && !stun && !icmp && udp.payload[0:1] >= 14 && udp.payload[0:1] <= 3f",
    "rtp": "rtp.version == 2 && !rtcp && !srtcp && !stun && !icmp",
    "rtcp": "(rtcp || srtcp) && !stun && !icmp",
    "channeldata_dtls": "stun.channel && dtls && !icmp",
    "channeldata_rtp": "stun.channel && rtp.version == 2 && !rtcp && !srtcp && !icmp",
    "channeldata_rtcp": "stun.channel && (rtcp || srtcp) && !icmp",
    "udp": "udp && !icmp",
    "tcp": "tcp && !icmp",
    "icmp": "icmp || icmpv6",
    "ip_fragment": "(ip.flags.mf == 1 || ip.frag_offset > 0) && !udp && !tcp && !icmp",
    "non_ip": "!ip && !ipv6",
}
TSHARK_HEURISTICS = ("rtp_stun", "dtls_stun")  # dissect inside TURN ChannelData (off by default)


def media_ports(meta: dict) -> list[int]:
    """The UDP ports of the selected candidate pairs in the metadata (both ends, as each peer saw them)."""
    ports = set()
    for m in meta.get("media_5tuples", []):
        for end in ("local", "remote"):
            if isinstance(m.get(end), dict) and m[end].get("port"):
                ports.add(int(m[end]["port"]))
        for port in re.findall(r":(\d+) \[", m.get("janus_selected_pair") or ""):
            ports.add(int(port))
    return sorted(ports)


def tshark_kinds(pcap: Path, meta: dict) -> dict | None:
    """Frames per kind as tshark dissects them (one pass, `-z io,stat` with one column per filter).

    RTP is decoded on the media ports of the metadata; for the TURN captures those are relayed addresses that are
    not on the wire (media travel in ChannelData on port 3478, which must stay STUN), so no port is decoded as RTP
    there and the ChannelData heuristics do the work.
    """
    if shutil.which("tshark") is None:
        return None
    turn = bool(meta.get("parameters", {}).get("turn"))
    ports = [] if turn else [p for p in media_ports(meta) if p != TURN_PORT]
    args = [a for p in ports for a in ("-d", f"udp.port=={p},rtp")]
    args += [a for h in TSHARK_HEURISTICS for a in ("--enable-heuristic", h)]
    names = list(TSHARK_KIND_FILTERS)
    stat = "io,stat,0," + ",".join(TSHARK_KIND_FILTERS[n] for n in names)
    out = run(["tshark", "-n", "-r", str(pcap), *args, "-q", "-z", stat]).stdout
    rows = [line for line in out.splitlines() if "<>" in line]
    if len(rows) != 1:
        raise RuntimeError(f"tshark io,stat on {pcap.name}: expected one interval row, got {len(rows)}")
    cells = [c.strip() for c in rows[0].strip().strip("|").split("|")][1:]  # after the interval: frames, bytes
    if len(cells) != 2 * len(names):
        raise RuntimeError(f"tshark io,stat on {pcap.name}: {len(cells)} cells for {len(names)} filters")
    counts = {n: int(cells[2 * i]) for i, n in enumerate(names)}
    return {
        "tool": first_line(["tshark", "--version"]),
        "arguments": args,
        "media_ports_decoded_as_rtp": ports,
        "filters": dict(TSHARK_KIND_FILTERS),
        "counts": counts,
    }


DTLS_DATAGRAMS_LISTED = 40


def dtls_datagrams(pcap: Path, meta: dict) -> dict | None:
    """The datagrams in RFC 7983's DTLS range (first byte 20-63) as tshark sees them, outside ChannelData.

    Per sender: datagrams by first byte (0x14-0x17: DTLS 1.2-style records; 0x20-0x3f: DTLS 1.3 unified headers)
    and the ClientHello/ServerHello datagrams tshark dissects; and the first DTLS_DATAGRAMS_LISTED datagrams in
    order (time from the first frame, sender, UDP payload length, first byte, record versions and handshake types
    tshark found; empty where tshark 4.0 cannot dissect the datagram). A reference for the handshake analyses that
    does not come from webrtcpcap; flights, retransmissions and ACKs inside encrypted records are not visible here.
    """
    if shutil.which("tshark") is None:
        return None
    args = list((meta.get("tshark_kinds") or {}).get("arguments") or [])
    fields = ["frame.number", "frame.time_relative", "ip.src", "udp.srcport", "udp.length", "udp.payload",
              "dtls.record.version", "dtls.handshake.type"]
    out = run(["tshark", "-n", "-r", str(pcap), *args, "-Y",
               "udp && !stun && !icmp && udp.payload[0:1] >= 14 && udp.payload[0:1] <= 3f", "-T", "fields",
               "-E", "separator=\t", *[a for f in fields for a in ("-e", f)]]).stdout
    senders: dict[str, dict] = {}
    listed = []
    for line in out.splitlines():
        cols = (line.split("\t") + [""] * len(fields))[:len(fields)]
        frame, t, ip, port, length, payload, versions, types = cols
        src = f"{ip}:{port}"
        first = f"0x{payload[:2]}"
        hs = [int(x) for x in types.split(",") if x]
        entry = senders.setdefault(src, {"datagrams": 0, "by_first_byte": {}, "client_hello_datagrams": 0,
                                         "server_hello_datagrams": 0})
        entry["datagrams"] += 1
        entry["by_first_byte"][first] = entry["by_first_byte"].get(first, 0) + 1
        entry["client_hello_datagrams"] += 1 in hs
        entry["server_hello_datagrams"] += 2 in hs
        if len(listed) < DTLS_DATAGRAMS_LISTED:
            listed.append({"frame": int(frame), "t": round(float(t), 6), "src": src,
                           "udp_payload_len": int(length) - 8, "first_byte": first,
                           "record_versions": [v for v in versions.split(",") if v], "handshake_types": hs})
    return {"display_filter": "udp && !stun && !icmp && first payload byte 0x14-0x3f", "arguments": args,
            "by_sender": senders, "first_datagrams": listed}


def describe(base: Path, meta: dict | None = None) -> dict:
    """(Re)compute the tshark sections (tshark_kinds, dtls_datagrams) of <base>.meta.json from <base>.pcap and write
    the file back."""
    f = Path(f"{base}.meta.json")
    if meta is None:
        meta = json.loads(f.read_text())
    meta["tshark_kinds"] = tshark_kinds(base.with_suffix(".pcap"), meta)
    meta["dtls_datagrams"] = dtls_datagrams(base.with_suffix(".pcap"), meta)
    f.write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def candidate_tuple(sdp_line: str) -> dict:
    parts = sdp_line.split()
    return {"ip": parts[4], "port": int(parts[5]), "type": parts[7], "transport": parts[2].lower()}


def parse_nft_counters(text: str) -> list[dict]:
    rules = []
    chain = None
    table = None
    for line in text.splitlines():
        m = re.match(r"\s*table (\w+ \w+)", line)
        if m:
            table = m[1]
        m = re.match(r"\s*chain (\w+)", line)
        if m:
            chain = m[1]
        m = re.search(r"counter packets (\d+) bytes (\d+)", line)
        if m:
            rules.append({"table": table, "chain": chain, "rule": line.strip(), "packets": int(m[1]),
                          "bytes": int(m[2])})
    return rules


def parse_tc_stats(text: str) -> dict | None:
    """tc -s qdisc show: the root qdisc's sent bytes and packets, drops, overlimits, requeues."""
    m = re.search(r"Sent (\d+) bytes (\d+) pkt \(dropped (\d+), overlimits (\d+) requeues (\d+)\)", text)
    if not m:
        return None
    return dict(zip(("sent_bytes", "sent_packets", "dropped", "overlimits", "requeues"), map(int, m.groups())))


# -- coturn -----------------------------------------------------------------------------------------------------
def start_coturn(lab: Lab, mode: str, work: Path):
    argv = ["turnserver", "-n", "--listening-ip", lab.addr("t"), "--relay-ip", lab.addr("t"),
            "--listening-port", str(TURN_PORT), "--min-port", "49152", "--max-port", "49252",
            "--realm", TURN_REALM, "--no-tls", "--no-dtls", "--no-cli", "--fingerprint",
            "--log-file", "stdout", "--simple-log", "--pidfile", str(work / "turnserver.pid"),
            "--no-rfc5780", "--no-stun-backward-compatibility"]
    if mode.startswith("static"):
        argv += ["--lt-cred-mech", f"--user={TURN_USER}:{TURN_PASS}"]
    else:
        argv += ["--use-auth-secret", f"--static-auth-secret={TURN_SECRET}"]
    proc = lab.start("coturn", "t", argv, stop_signal=signal.SIGTERM)  # coturn ignores SIGINT
    deadline = time.time() + 10
    while time.time() < deadline and proc.popen.poll() is None:
        ss = run(["ip", "netns", "exec", lab.ns("t"), "ss", "-Hlun", f"sport = :{TURN_PORT}"], check=False)
        if ss.stdout.strip():
            return proc
        time.sleep(0.1)
    raise RuntimeError("coturn did not start: " + proc.log.read_text(errors="replace")[-2000:])


def turn_rest_credentials(user: str = "lab", ttl: int = 3600) -> tuple[str, str]:
    import base64
    import hashlib
    import hmac
    username = f"{int(time.time()) + ttl}:{user}"
    password = base64.b64encode(hmac.new(TURN_SECRET.encode(), username.encode(), hashlib.sha1).digest()).decode()
    return username, password


def ice_servers(lab: Lab, sc: Scenario, node: str) -> list[dict]:
    if not sc.turn or node not in sc.relay:
        return []
    url = f"turn:{lab.addr('t')}:{TURN_PORT}?transport=udp"
    if sc.turn == "static":
        return [{"urls": url, "username": TURN_USER, "credential": TURN_PASS}]
    if sc.turn == "static-wrong-password":
        return [{"urls": url, "username": TURN_USER, "credential": "not-" + TURN_PASS}]
    user, password = turn_rest_credentials()
    return [{"urls": url, "username": user, "credential": password}]


# -- one session ------------------------------------------------------------------------------------------------
def record(sc: Scenario, outdir: Path, keep: bool = False, verbose: bool = True) -> dict:
    outdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="wplab-run-"))
    sig = work / "sig"
    sig.mkdir()
    base = outdir / sc.name
    for old in outdir.glob(sc.name + ".*"):
        old.unlink()
    t0 = time.time()
    meta: dict = {}
    ok = False
    try:
        with Lab(work, sc.nodes, sc.mtu) as lab:
            for node in ("a", "b"):
                if (sc.offerer, sc.answerer)[node == "b"] == "firefox":
                    lab.dead_end_default_route(node)
            lab.nft("a", [d.nft() for d in sc.drops if d.hook == "egress"],
                    [d.nft() for d in sc.drops if d.hook == "ingress"])
            if sc.turn:
                start_coturn(lab, sc.turn, work)
            if sc.rate_limit:  # unlimited until the call is up; rate_limit_timeline changes it
                for words in sc.rate_limit.setup(lab.port_device(sc.rate_limit.toward)):
                    lab.port_tc(sc.rate_limit.toward, words)
            pcap = base.with_suffix(".pcap")
            more_caps = [lab.tcpdump(node, outdir / f"{sc.name}.{node}.pcap") for node in sc.also_capture]
            cap = lab.tcpdump(sc.capture_node, pcap)
            cap_started = time.time()
            if sc.kind == "aiortc":
                peers = run_aiortc(lab, sc, work, sig)
            else:
                peers = run_browser(lab, sc, work, sig)
            time.sleep(0.3)
            lab.stop(cap)
            cap_stopped = time.time()
            for more in more_caps:
                lab.stop(more)

            nft_text = lab.nft_list()
            base.with_suffix(".nft.txt").write_text(nft_text)
            if sc.rate_limit:
                base.with_suffix(".tc.txt").write_text(
                    f"# ip netns exec wplab-sw tc -s qdisc show dev p-{sc.rate_limit.toward}\n"
                    + lab.port_qdisc_stats(sc.rate_limit.toward)
                    + (f"# ip netns exec wplab-sw tc -s class show dev p-{sc.rate_limit.toward}\n"
                       + lab.port_class_stats(sc.rate_limit.toward) if sc.rate_limit.shaper != "tbf" else ""))
            meta = build_meta(lab, sc, base, peers, nft_text, cap_started, cap_stopped, work)
            meta["capture"]["tcpdump_report"] = tcpdump_report(cap.log)
            for node, more in zip(sc.also_capture, more_caps):
                f = outdir / f"{sc.name}.{node}.pcap"
                meta["sidecars"][f"capture_{node}"] = {
                    "file": f.name, "frames": frame_count(f), "bytes": f.stat().st_size, "node": node,
                    "interface": "eth0", "tcpdump_report": tcpdump_report(more.log),
                    "what": f"the same call captured on node {node}'s eth0 (tcpdump -s 0 -U), at the same time"}
            ok = check(sc, peers)
        collect_sidecars(sc, base, work, peers)
        meta["recording"]["wall_time_s"] = round(time.time() - t0, 1)
        meta["recording"]["outcome_as_expected"] = ok
        try:
            describe(base, meta)  # writes <base>.meta.json with the tshark_kinds section
        except Exception as e:  # keep the recording; `record.py describe NAME` can add the section later
            print(f"{sc.name}: tshark_kinds not computed: {e}", file=sys.stderr)
            meta["tshark_kinds"] = None
            Path(f"{base}.meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        if verbose:
            print(f"{sc.name}: {meta['capture']['frames']} frames, {pcap.stat().st_size} bytes, "
                  f"{meta['recording']['wall_time_s']} s, {'as expected' if ok else 'NOT AS EXPECTED'}", flush=True)
        return meta
    except BaseException:
        keep = True
        for partial in outdir.glob(sc.name + ".*"):  # no half-recorded session in the output folder
            partial.unlink()
        raise
    finally:
        if keep:
            print(f"{sc.name}: work files kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def run_aiortc(lab: Lab, sc: Scenario, work: Path, sig: Path) -> dict:
    peer = str(HERE / "aiortc_peer.py")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    procs = {}
    for node, role in (("a", "offer"), ("b", "answer")):
        argv = [sys.executable, peer, "--role", role, "--name", node, "--sigdir", str(sig),
                "--out", str(work / node), "--duration", str(sc.duration_s),
                "--ice-servers", json.dumps(ice_servers(lab, sc, node)), "--video-kbps", str(sc.video_kbps)]
        if node in sc.relay:
            argv.append("--relay")
        procs[node] = lab.start(f"peer-{node}", node, argv, env=env)
    if sc.outage:
        schedule_outage(lab, sc, sig)
    for node, proc in procs.items():
        if lab.wait(proc, sc.duration_s + 40) is None:
            print(f"{sc.name}: peer {node} did not end in time; stopping it", file=sys.stderr)
        lab.stop(proc)
    peers = {}
    for node in procs:
        f = work / f"{node}.peer.json"
        peers[node] = json.loads(f.read_text()) if f.exists() else {"error": "no summary",
                                                                     "log_tail": (work / f"peer-{node}.log")
                                                                     .read_text(errors="replace")[-3000:]}
    return peers


CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--no-default-browser-check", "--mute-audio",
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--disable-features=WebRtcHideLocalIpsWithMdns", "--autoplay-policy=no-user-gesture-required",
]
PAGE_PORT = 8000


def start_answerer_aiortc(lab: Lab, sc: Scenario, work: Path, sig: Path):
    argv = [sys.executable, str(HERE / "aiortc_peer.py"), "--role", "answer", "--name", "b", "--sigdir", str(sig),
            "--out", str(work / "b"), "--duration", str(sc.duration_s + 30),
            "--ice-servers", json.dumps(ice_servers(lab, sc, "b")), "--video-kbps", str(sc.video_kbps)]
    if "b" in sc.relay:
        argv.append("--relay")
    return lab.start("peer-b", "b", argv, env=dict(os.environ, PYTHONUNBUFFERED="1"))


# Firefox ESR's profile: fake media without a prompt, host candidates on every interface, no background traffic.
FIREFOX_PREFS = {
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    "media.peerconnection.ice.loopback": True,
    "media.peerconnection.ice.obfuscate_host_addresses": False,
    "media.peerconnection.ice.default_address_only": False,
    "media.autoplay.default": 0,
    "devtools.console.stdout.content": True,
    "browser.shell.checkDefaultBrowser": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.enabled": False,
    "app.update.enabled": False,
    "app.normandy.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "extensions.update.enabled": False,
    "browser.startup.homepage_override.mstone": "ignore",
}


def start_browser(lab: Lab, browser: str, node: str, url: str, work: Path, sc: Scenario):
    """Chromium or Firefox ESR in node's namespace on the page at url (Firefox logs its DTLS secrets)."""
    env = dict(os.environ, HOME=str(work / f"home-{node}"))
    if browser == "chromium":
        flags = CHROMIUM_FLAGS + [f"--user-data-dir={work / f'chromium-profile-{node}'}",
                                  f"--unsafely-treat-insecure-origin-as-secure={url}"]
        if sc.rtpdump and node == "a":  # the converter reads the offerer's log only
            flags += ["--enable-logging=stderr", "--v=1", "--force-fieldtrials=WebRTC-Debugging-RtpDump/Enabled/"]
        # The RTP-dump converter reads chromium.log: keep that name for the offerer.
        return lab.start("chromium" if node == "a" else f"chromium-{node}", node, ["chromium"] + flags + [url],
                         env=env)
    profile = work / f"firefox-profile-{node}"
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "user.js").write_text("".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n"
                                             for k, v in FIREFOX_PREFS.items()))
    env.update(MOZ_HEADLESS="1", SSLKEYLOGFILE=str(work / f"{node}.keylog"))
    return lab.start(f"firefox-{node}", node, ["firefox-esr", "--headless", "--no-remote", "--profile",
                                               str(profile), url], env=env)


def start_pageserver(lab: Lab, node: str, config: dict, work: Path, sig: Path):
    page = lab.start(f"pageserver-{node}" if node != "a" else "pageserver", node,
                     [sys.executable, str(HERE / "pageserver.py"), "--sigdir", str(sig), "--out", str(work / node),
                      "--port", str(PAGE_PORT), "--node", node, "--config", json.dumps(config)],
                     env=dict(os.environ, PYTHONUNBUFFERED="1"))
    deadline = time.time() + 10
    while b"pageserver listening" not in page.log.read_bytes():
        if time.time() > deadline or page.popen.poll() is not None:
            raise RuntimeError("page server did not start: " + page.log.read_text(errors="replace"))
        time.sleep(0.05)
    return page


def run_browser(lab: Lab, sc: Scenario, work: Path, sig: Path) -> dict:
    """A browser offerer on a (Chromium or Firefox) against aiortc, Janus or another browser on b."""
    url = f"http://127.0.0.1:{PAGE_PORT}/"  # each page server listens on 127.0.0.1 of its own namespace
    config = {"iceServers": ice_servers(lab, sc, "a"), "iceTransportPolicy": "relay" if "a" in sc.relay else "all",
              "durationMs": int(sc.duration_s * 1000), "videoMaxBitrate": sc.video_kbps * 1000, "role": "offer",
              "dataChannel": sc.data_channel, "statsIntervalMs": sc.stats_interval_ms,
              "video": dict(zip(("width", "height", "frameRate"), sc.video))}
    pages = [start_pageserver(lab, "a", config, work, sig)]
    browsers = []
    if sc.answerer == "janus":
        answerer = start_janus(lab, sc, work, sig)
    elif sc.answerer == "aiortc":
        answerer = start_answerer_aiortc(lab, sc, work, sig)
    else:
        config_b = dict(config, iceServers=ice_servers(lab, sc, "b"), role="answer",
                        iceTransportPolicy="relay" if "b" in sc.relay else "all",
                        videoMaxBitrate=(sc.video_kbps_b or sc.video_kbps) * 1000,
                        video=dict(zip(("width", "height", "frameRate"), sc.video_b or sc.video)))
        pages.append(start_pageserver(lab, "b", config_b, work, sig))
        browsers.append(start_browser(lab, sc.answerer, "b", url, work, sc))
    browsers.insert(0, start_browser(lab, sc.offerer, "a", url, work, sc))
    if sc.outage:
        schedule_outage(lab, sc, sig)
    if sc.rate_limit:
        rate_limit_timeline(lab, sc, sig)
    if not wait_for(sig / "a.done", sc.duration_s + 60):
        print(f"{sc.name}: the page did not finish in time", file=sys.stderr)
    (sig / "stop").write_text("")
    peers = {}
    if sc.answerer == "janus":
        peers["b"] = finish_janus(lab, sc, work, sig, answerer)
    elif sc.answerer == "aiortc":
        lab.wait(answerer, 15)
        lab.stop(answerer)
        f = work / "b.peer.json"
        peers["b"] = json.loads(f.read_text()) if f.exists() else {"error": "no summary"}
    else:
        wait_for(sig / "b.done", 10)
    for proc in browsers + pages:
        lab.stop(proc)
    if sc.rtpdump:
        rtpdump_to_pcap(work / "chromium.log", work / "a.rtpdump.pcap")
    summaries = {"a": browser_summary(work, "a", f"offer ({BROWSER_NAMES[sc.offerer]})")}
    if sc.answerer in BROWSER_NAMES:
        summaries["b"] = browser_summary(work, "b", f"answer ({BROWSER_NAMES[sc.answerer]})")
    return {**summaries, **peers}


BROWSER_NAMES = {"chromium": "Chromium", "firefox": "Firefox ESR"}


RTPDUMP_CHROMIUM = ("10.3.3.1", 3001)  # fake addresses of the converted RTP dump: Chromium ...
RTPDUMP_PEER = ("10.3.3.2", 3002)  # ... and its peer (O lines: Chromium -> peer, I lines: peer -> Chromium)


def rtpdump_to_pcap(log: Path, pcap: Path) -> int:
    """Chromium's RTP_DUMP log lines (plaintext RTP/RTCP, outbound before and inbound after the network) -> pcap.

    The time inside an RTP_DUMP line is wrong (hours and minutes), so each packet takes the time of the log
    prefix just before it ([pid:tid:MMDD/HHMMSS.micro:VERBOSE1:...srtp_session.cc]).
    """
    prefix = re.compile(r"^\[\d+:\d+:\d{4}/(\d{2})(\d{2})(\d{2})\.(\d{6}):")
    prev, lines = None, []
    with open(log, errors="replace") as f:
        for line in f:
            m = prefix.match(line)
            if m:
                prev = f"{m[1]}:{m[2]}:{m[3]}.{m[4]}"
            elif line.rstrip().endswith("# RTP_DUMP") and prev:
                parts = line.split()
                if parts[0] in ("I", "O") and len(parts) > 5:
                    lines.append(f"{parts[0]} {prev}\n0000 {' '.join(parts[3:-2])}\n")
    if not lines:
        return 0
    text = pcap.with_suffix(".txt")
    text.write_text("".join(lines))
    # text2pcap swaps the dummy addresses for O lines: give them as (peer, Chromium).
    run(["text2pcap", "-q", "-F", "pcap", "-D", "-t", "%H:%M:%S.%f",
         "-4", f"{RTPDUMP_PEER[0]},{RTPDUMP_CHROMIUM[0]}", "-u", f"{RTPDUMP_PEER[1]},{RTPDUMP_CHROMIUM[1]}",
         str(text), str(pcap)])
    return len(lines)


def browser_summary(work: Path, node: str, role: str) -> dict:
    """The ground truth a browser's page posted: state changes, selected pair, DTLS/SRTP and RTP counters."""
    events = []
    f = work / f"{node}.page-events.jsonl"
    if f.exists():
        events = [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
    # The page posts each event with its own fetch, so they can reach the server out of order: sort by page time.
    events.sort(key=lambda e: e.get("t", 0))
    connected = [e["unix"] for e in events if e.get("event") == "connectionState" and e.get("state") == "connected"]
    states = [e["state"] for e in events if e.get("event") == "connectionState"]
    pair, transport, rtp = None, {}, []
    stats_f = work / f"{node}.getstats.json"
    if stats_f.exists():
        stats = json.loads(stats_f.read_text())
        transport = next((v for v in stats.values() if v.get("type") == "transport"
                          and v.get("selectedCandidatePairId")), {}) or next(
            (v for v in stats.values() if v.get("type") == "transport"), {})
        cp = stats.get(transport.get("selectedCandidatePairId", ""), {})
        if cp:
            loc, rem = stats.get(cp.get("localCandidateId"), {}), stats.get(cp.get("remoteCandidateId"), {})
            pair = {"local": {"ip": loc.get("address"), "port": loc.get("port"), "type": loc.get("candidateType"),
                              "transport": loc.get("protocol")},
                    "remote": {"ip": rem.get("address"), "port": rem.get("port"), "type": rem.get("candidateType"),
                               "transport": rem.get("protocol")}}
        for v in stats.values():
            if v.get("type") in ("outbound-rtp", "inbound-rtp"):
                rtp.append({k: v[k] for k in RTP_STATS_KEYS if k in v})
        rtp.sort(key=lambda r: (r["type"], r.get("kind", ""), r.get("ssrc", 0)))
    counts = [e for e in events if e.get("event") == "datachannel-count"]
    return {"name": node, "role": role, "connectionState_at_end": states[-1] if states else None,
            "connected_at_unix": connected[0] if connected else None, "selected_pair_stats": pair,
            "dtls": {k: transport.get(k) for k in TRANSPORT_STATS_KEYS if k in transport},
            "rtp": rtp,
            "datachannel": {k: counts[-1][k] for k in ("sent", "received")} if counts else None,
            "errors": [e for e in events if e.get("event") in ("error", "play-error", "setParameters-error")],
            "events": events}


# What each browser's getStats says about its transport and RTP streams, kept in the metadata's ground truth.
TRANSPORT_STATS_KEYS = ("tlsVersion", "dtlsCipher", "srtpCipher", "dtlsRole", "dtlsState", "tlsGroup",
                        "selectedCandidatePairId", "selectedCandidatePairChanges", "packetsSent", "packetsReceived",
                        "bytesSent", "bytesReceived", "iceRole", "iceState")
RTP_STATS_KEYS = ("type", "kind", "ssrc", "rtxSsrc", "mid", "packetsSent", "packetsReceived", "packetsLost",
                  "retransmittedPacketsSent", "retransmittedPacketsReceived", "nackCount", "pliCount", "firCount",
                  "framesEncoded", "framesDecoded", "framesSent", "framesReceived", "framesDropped", "keyFramesEncoded",
                  "keyFramesDecoded", "bytesSent", "bytesReceived", "headerBytesSent", "headerBytesReceived",
                  "jitter", "encoderImplementation", "decoderImplementation", "frameWidth", "frameHeight")


CONNECT_WAIT_S = 90  # Firefox alone needs about 20 s to load its first page on this machine


def marker_time(path: Path) -> float:
    """The unix time written in a marker file; a writer that is not atomic (aiortc_peer, janus_driver) may leave it
    empty for a moment after creating it, so an empty read is retried."""
    for _ in range(200):
        text = path.read_text().strip()
        if text:
            return float(text)
        time.sleep(0.01)
    raise RuntimeError(f"{path.name} stayed empty")


def schedule_outage(lab: Lab, sc: Scenario, sig: Path) -> None:
    """Add the outage rule once a reports connected, as a time window (nft meta time) so its counter stays."""
    from scenarios import MATCHES
    if not wait_for(sig / "a.connected", CONNECT_WAIT_S):
        print(f"{sc.name}: a never connected; no outage", file=sys.stderr)
        return
    start = math.ceil(marker_time(sig / "a.connected") + sc.outage.start_s)
    rule = (f"meta time >= {start} meta time < {start + sc.outage.length_s} "
            f"{MATCHES[sc.outage.match]} counter drop")
    run(["ip", "netns", "exec", lab.ns("a"), "nft", "add", "rule", "netdev", "wplab", sc.outage.hook]
        + rule.split())
    sc.extra["outage_unix"] = [start, start + sc.outage.length_s]


def rate_limit_timeline(lab: Lab, sc: Scenario, sig: Path) -> None:
    """Limit, then lift, the bandwidth toward sc.rate_limit.toward at its times after a reports connected; the wall
    times just before and after each `tc qdisc change` (tbf) or `tc class change` (htb) go to
    sc.extra["rate_limit_unix"] (for the metadata)."""
    rl = sc.rate_limit
    if not wait_for(sig / "a.connected", CONNECT_WAIT_S):
        print(f"{sc.name}: a never connected; no bandwidth limit", file=sys.stderr)
        return
    connected = marker_time(sig / "a.connected")
    done = {}
    dev = lab.port_device(rl.toward)
    for step, at, spec in (("applied", connected + rl.start_s, rl.limit_spec()),
                           ("lifted", connected + rl.start_s + rl.length_s, rl.unlimited_spec())):
        time.sleep(max(0.0, at - time.time()))
        done[step] = lab.port_tc(rl.toward, rl.change(dev, spec))
    sc.extra["rate_limit_unix"] = {k: [round(t, 6) for t in v] for k, v in done.items()}


JANUS_ADMIN_SECRET = "wplab-admin"
JANUS_LIBDIR = Path("/usr/lib/x86_64-linux-gnu/janus")


def write_janus_config(conf: Path, work: Path) -> None:
    """A minimal Janus: only the echotest plugin and the HTTP transport, API and admin API on 127.0.0.1."""
    for sub, lib in (("plugins", "plugins/libjanus_echotest.so"), ("transports", "transports/libjanus_http.so"),
                     ("events", None), ("loggers", None)):
        d = work / f"janus-{sub}"
        d.mkdir(exist_ok=True)
        if lib:
            (d / Path(lib).name).symlink_to(JANUS_LIBDIR / lib)
    conf.mkdir(exist_ok=True)
    (conf / "janus.jcfg").write_text(f"""general: {{
  configs_folder = "{conf}"
  plugins_folder = "{work / 'janus-plugins'}"
  transports_folder = "{work / 'janus-transports'}"
  events_folder = "{work / 'janus-events'}"
  loggers_folder = "{work / 'janus-loggers'}"
  debug_level = 4
  admin_secret = "{JANUS_ADMIN_SECRET}"
  protected_folders = ["/bin", "/etc", "/usr", "/var", "/proc", "/sys"]
}}
media: {{
  ipv6 = false
  rtp_port_range = "20000-20100"
}}
nat: {{
  ice_enforce_list = "eth0"
  ice_lite = false
}}
events: {{
  broadcast = false
}}
""")
    (conf / "janus.transport.http.jcfg").write_text("""general: {
  json = "indented"
  base_path = "/janus"
  http = true
  port = 8088
  ip = "127.0.0.1"
  https = false
}
admin: {
  admin_base_path = "/admin"
  admin_http = true
  admin_port = 7088
  admin_ip = "127.0.0.1"
  admin_https = false
}
""")
    (conf / "janus.plugin.echotest.jcfg").write_text("general: {\n}\n")


def start_janus(lab: Lab, sc: Scenario, work: Path, sig: Path):
    conf = work / "janus-conf"
    write_janus_config(conf, work)
    janus = lab.start("janus", "b", ["janus", "-C", str(conf / "janus.jcfg"), "-F", str(conf)], stop_signal=signal.SIGINT)
    argv = [sys.executable, str(HERE / "janus_driver.py"), "--sigdir", str(sig), "--out", str(work / "b"),
            "--admin-secret", JANUS_ADMIN_SECRET, "--bitrate", str(sc.video_kbps * 1000)]
    if sc.janus_pcap:
        argv.append("--pcap")
    driver = lab.start("janus-driver", "b", argv, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    return janus, driver


def finish_janus(lab: Lab, sc: Scenario, work: Path, sig: Path, answerer) -> dict:
    janus, driver = answerer
    lab.wait(driver, 15)
    lab.stop(driver)
    lab.stop(janus)
    summary = {"name": "b", "role": "answer (Janus echotest)"}
    if (sig / "b.connected").exists():
        summary["connected_at_unix"] = float((sig / "b.connected").read_text())
    f = work / "b.peer.json"
    if f.exists():
        summary["events"] = json.loads(f.read_text())["events"]
    f = work / "b.handle_info.json"
    if f.exists():
        info = json.loads(f.read_text()).get("info", {})
        webrtc = info.get("webrtc") or {}
        ice, dtls = webrtc.get("ice") or {}, webrtc.get("dtls") or {}
        summary["selected_pair_text"] = ice.get("selected-pair")
        summary["handle_info"] = {
            "ice": {k: ice.get(k) for k in ("state", "selected-pair")},
            "dtls": {k: dtls.get(k) for k in ("dtls-role", "dtls-state", "retransmissions", "srtp-profile")},
            "media": {mid: {"type": m.get("type"), "do_nacks": m.get("do_nacks"),
                            "rtcp_lost": (m.get("rtcp") or {}).get("main", {}).get("lost"),
                            "rtcp_lost_by_remote": (m.get("rtcp") or {}).get("main", {}).get("lost-by-remote"),
                            "in": (m.get("stats") or {}).get("in"), "out": (m.get("stats") or {}).get("out")}
                      for mid, m in (webrtc.get("media") or {}).items()},
        }
    return summary


def check(sc: Scenario, peers: dict) -> bool:
    connected = all(p.get("connected_at_unix") for p in peers.values())
    return connected == sc.expect_connected


def collect_sidecars(sc: Scenario, base: Path, work: Path, peers: dict) -> None:
    sig = work / "sig"
    for kind in ("offer", "answer"):
        if (sig / f"{kind}.sdp").exists():
            shutil.copy(sig / f"{kind}.sdp", f"{base}.{kind}.sdp")
    lines: list[str] = []
    for node in ("a", "b"):
        f = work / f"{node}.keylog"
        if f.exists():
            for line in f.read_text().splitlines():
                if line and line not in lines:
                    lines.append(line)
    if lines:
        Path(f"{base}.keylog").write_text("\n".join(lines) + "\n")
    keys = [json.loads((work / f"{n}.srtp-keys.json").read_text()) for n in ("a", "b")
            if (work / f"{n}.srtp-keys.json").exists()]
    if keys:
        doc = {k: v for k, v in keys[0].items() if k != "written_by_dtls_role"}
        doc["both_peers_agree"] = all({k: v for k, v in x.items() if k != "written_by_dtls_role"} ==
                                      {k: v for k, v in keys[0].items() if k != "written_by_dtls_role"}
                                      for x in keys)
        Path(f"{base}.srtp-keys.json").write_text(json.dumps(doc, indent=2) + "\n")
    for suffix in ("rtpdump.pcap", "janus.pcap", "handle_info.json"):
        if (work / f"a.{suffix}").exists():
            shutil.copy(work / f"a.{suffix}", f"{base}.{suffix}")
        if (work / f"b.{suffix}").exists():
            shutil.copy(work / f"b.{suffix}", f"{base}.{suffix}")
    stats = {}
    for node in ("a", "b"):
        f = work / f"{node}.getstats.json"
        if f.exists():
            stats[node] = json.loads(f.read_text())
    if stats:
        Path(f"{base}.getstats.json").write_text(json.dumps(stats, indent=2) + "\n")
    series = {node: [json.loads(line) for line in (work / f"{node}.stats-series.jsonl").read_text().splitlines()
                     if line.strip()]
              for node in ("a", "b") if (work / f"{node}.stats-series.jsonl").exists()}
    if series:
        Path(f"{base}.stats-series.json").write_text(stats_series_text(sc.stats_interval_ms, series))


def stats_series_text(interval_ms: int, series: dict[str, list]) -> str:
    """{"interval_ms": N, "a": [sample, ...], "b": [...]} with one sample per line (small diffs, easy to grep)."""
    parts = [f'{{"interval_ms": {interval_ms}']
    for node, samples in series.items():
        samples = sorted(samples, key=lambda x: x.get("unix", 0))
        lines = ",\n".join("  " + json.dumps(x, separators=(",", ":")) for x in samples)
        parts.append(f'"{node}": [\n{lines}\n]')
    return ",\n".join(parts) + "}\n"


STACK_NAMES = {"aiortc": "aiortc", "chromium": "Chromium", "firefox": "Firefox ESR", "janus": "Janus echotest"}


def build_meta(lab: Lab, sc: Scenario, base: Path, peers: dict, nft_text: str, t_start: float, t_stop: float,
               work: Path) -> dict:
    pcap = base.with_suffix(".pcap")
    roles = {"a": f"offerer ({STACK_NAMES[sc.offerer]})", "b": f"answerer ({STACK_NAMES[sc.answerer]})",
             "t": "TURN server (coturn)"}
    media = []
    for node, p in peers.items():
        pair = p.get("selected_pair")
        if pair and "local" in pair:
            media.append({"seen_from": node, "transport": "udp", "local": candidate_tuple(pair["local"]),
                          "remote": candidate_tuple(pair["remote"])})
        elif p.get("selected_pair_stats"):
            media.append({"seen_from": node, "transport": "udp", **p["selected_pair_stats"]})
        elif p.get("selected_pair_text"):
            media.append({"seen_from": node, "transport": "udp", "janus_selected_pair": p["selected_pair_text"]})
    sidecars = {}
    if sc.janus_pcap and (work / "b.janus.pcap").exists():
        sidecars["janus_pcap"] = {
            "file": f"{sc.name}.janus.pcap", "frames": frame_count(work / "b.janus.pcap"),
            "what": "Janus' decrypted RTP/RTCP dump (admin API start_pcap right after attach): fake addresses "
                    "10.1.1.1:1000 = what Janus received, 10.2.2.2:2000 = what Janus sent"}
    if (work / "b.handle_info.json").exists():
        sidecars["handle_info"] = {"file": f"{sc.name}.handle_info.json",
                                   "what": "Janus admin API handle_info taken just before the page hung up"}
    if sc.rtpdump and (work / "a.rtpdump.pcap").exists():
        sidecars["rtpdump"] = {
            "file": f"{sc.name}.rtpdump.pcap", "frames": frame_count(work / "a.rtpdump.pcap"),
            "what": "Chromium's RTP dump (WebRTC-Debugging-RtpDump): plaintext RTP and RTCP, outbound before the "
                    "network and inbound after it, converted with text2pcap; fake addresses "
                    f"{RTPDUMP_CHROMIUM[0]}:{RTPDUMP_CHROMIUM[1]} = Chromium, {RTPDUMP_PEER[0]}:{RTPDUMP_PEER[1]} = "
                    "its peer"}
    params = asdict(sc)
    params.pop("shows")
    params.pop("notebooks")
    params["drops"] = [dict(asdict(d), nft=d.nft(), description=d.describe()) for d in sc.drops]
    return {
        "scenario": sc.name,
        "shows": sc.shows,
        "notebooks": list(sc.notebooks),
        "parameters": params,
        "stacks": versions(sc),
        "topology": {
            "description": "one network namespace per node, each with eth0 on a Linux bridge (br0) in "
                           "namespace wplab-sw; IPv6 disabled; offloads off on every veth",
            "mtu": sc.mtu,
            **({"default_route": f"Firefox's nodes ({', '.join(lab.dead_end_routes)}) have a default route via "
                                 f"{lab.dead_end_gateway()}, an address nobody holds: Firefox gathers no host "
                                 "candidate without a default route; nothing can leave through it, and an inet output "
                                 "table (wplab_guard, in .nft.txt with its counter) rejects what the browser sends "
                                 "off the lab subnet"}
               if lab.dead_end_routes else {}),
            "nodes": {n: {"namespace": lab.ns(n), "interface": "eth0", "address": lab.addr(n), "role": roles[n]}
                      for n in sc.nodes},
        },
        "capture": {
            "file": pcap.name,
            "node": sc.capture_node,
            "namespace": lab.ns(sc.capture_node),
            "interface": "eth0",
            "address": lab.addr(sc.capture_node),
            "tool": "tcpdump -s 0 -U (pcap, full snaplen)",
            "frames": frame_count(pcap),
            "bytes": pcap.stat().st_size,
            "started_unix": round(t_start, 3),
            "stopped_unix": round(t_stop, 3),
            "udp_conversations": udp_conversations(pcap),
        },
        "loss": {
            "where": "nft table netdev wplab on node a's eth0 (egress = a's packets, ingress = packets to a)",
            "rules": [d.describe() for d in sc.drops] + (
                [f"outage: all {sc.outage.match} {sc.outage.hook} for {sc.outage.length_s} s from "
                 f"{sc.outage.start_s} s after a connected"] if sc.outage else []),
            "outage_unix": sc.extra.get("outage_unix"),
            "counters": parse_nft_counters(nft_text),
        },
        **({"bandwidth_limit": {
            "where": f"{sc.rate_limit.shaper} qdisc on the bridge port p-{sc.rate_limit.toward} (namespace "
                     f"wplab-sw): everything sent to node {sc.rate_limit.toward}",
            "limited_direction": "b->a" if sc.rate_limit.toward == "a" else "a->b",
            **({"unlimited_tbf": sc.rate_limit.UNLIMITED, "limit_tbf": sc.rate_limit.tbf()}
               if sc.rate_limit.shaper == "tbf" else
               {"shaper": sc.rate_limit.shaper, "unlimited": sc.rate_limit.unlimited_spec(),
                "limit": sc.rate_limit.limit_spec(), "queue_bytes": sc.rate_limit.queue_bytes,
                "description": sc.rate_limit.describe(),
                "commands": {"setup": [" ".join(["tc", *w]) for w in
                                       sc.rate_limit.setup(lab.port_device(sc.rate_limit.toward))],
                             "limit": " ".join(["tc", *sc.rate_limit.change(lab.port_device(sc.rate_limit.toward),
                                                                            sc.rate_limit.limit_spec())]),
                             "lift": " ".join(["tc", *sc.rate_limit.change(lab.port_device(sc.rate_limit.toward),
                                                                           sc.rate_limit.unlimited_spec())])}}),
            "rate_kbit": sc.rate_limit.rate_kbit, "burst_kbit": sc.rate_limit.burst_kbit,
            "latency_ms": sc.rate_limit.latency_ms,
            "planned": f"{sc.rate_limit.start_s} s after a connected, for {sc.rate_limit.length_s} s",
            "unix": sc.extra.get("rate_limit_unix"),
            "tc_stats": parse_tc_stats(lab.port_qdisc_stats(sc.rate_limit.toward)),
        }} if sc.rate_limit else {}),
        "media_5tuples": media,
        "sidecars": sidecars,
        "ground_truth": {n: {k: v for k, v in p.items() if k != "events"} for n, p in peers.items()},
        "events": {n: p.get("events", []) for n, p in peers.items()},
        "recording": {"duration_s": sc.duration_s, "capture_length_s": round(t_stop - t_start, 1)},
        **({"expected_verdict": sc.expected_verdict} if sc.expected_verdict else {}),
    }


def markdown_table(folder: Path) -> str:
    rows = ["| session (`.pcap`) | frames | size | stack | what it shows | notebooks | sidecars |",
            "|---|---:|---:|---|---|---|---|"]
    for f in sorted(folder.glob("*.meta.json")):
        m = json.loads(f.read_text())
        name = m["scenario"]
        side = sorted(p.name[len(name):] for p in folder.glob(name + ".*")
                      if p.name not in (name + ".pcap", name + ".meta.json"))
        kb = m["capture"]["bytes"] / 1024
        size = f"{kb / 1024:.1f} MB" if kb >= 1024 else f"{kb:.0f} kB"
        offerer, _, answerer = m["parameters"]["kind"].partition("-")
        short = {"janus echotest": "Janus", "firefox esr": "Firefox"}
        stack = " ↔ ".join(short.get(STACK_NAMES[x].lower(), STACK_NAMES[x]) for x in (offerer, answerer or offerer))
        if m["parameters"]["turn"]:
            stack += " via coturn"
        rows.append(f"| `{name}` | {m['capture']['frames']} | {size} | {stack} | {m['shows']} | "
                    f"{', '.join(m['notebooks'])} | {' '.join('`' + s + '`' for s in side)} |")
    dumps = ["", "Plaintext dumps beside the encrypted wire captures:", "",
             "| dump (`.pcap`) | frames | size | what it holds |", "|---|---:|---:|---|"]
    for f in sorted(folder.glob("*.meta.json")):
        m = json.loads(f.read_text())
        for side in m.get("sidecars", {}).values():
            path = folder / side["file"]
            if side["file"].endswith(".pcap") and path.exists():
                size = f"{path.stat().st_size / 1024:.0f} kB"
                dumps.append(f"| `{side['file']}` | {side['frames']} | {size} | {side['what']} |")
    return "\n".join(rows + (dumps if len(dumps) > 5 else []))


def describe_command(folder: Path, names: list[str]) -> int:
    """record.py describe [NAME...]: recompute tshark_kinds for recorded sessions (all in the folder by default)."""
    if shutil.which("tshark") is None:
        print("record.py describe: needs tshark", file=sys.stderr)
        return 3
    names = names or sorted(f.name[:-len(".meta.json")] for f in folder.glob("*.meta.json"))
    missing = [n for n in names if not (folder / f"{n}.meta.json").exists() or not (folder / f"{n}.pcap").exists()]
    if missing:
        print(f"no recorded session (.pcap and .meta.json) in {folder} for: {', '.join(missing)}", file=sys.stderr)
        return 2
    for name in names:
        counts = describe(folder / name)["tshark_kinds"]["counts"]
        print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in counts.items() if v), flush=True)
    return 0


# -- command line -----------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", nargs="+", help="all | list | table | describe [NAME...] | smoke | scenario names")
    ap.add_argument("--out", type=Path, default=CAPTURES, help="output folder (default: captures/)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs, peer files)")
    args = ap.parse_args(argv)
    if args.what == ["list"]:
        for sc in SCENARIOS.values():
            print(f"{sc.name:24} {sc.kind:16} {sc.shows}")
        return 0
    if args.what == ["table"]:
        print(markdown_table(args.out))
        return 0
    if args.what[0] == "describe":
        return describe_command(args.out, args.what[1:])
    if args.what == ["smoke"]:
        todo = [SMOKE]
    elif args.what == ["all"]:
        todo = list(SCENARIOS.values())
    else:
        unknown = [w for w in args.what if w not in SCENARIOS]
        if unknown:
            print(f"unknown scenario(s): {', '.join(unknown)}; try 'list'", file=sys.stderr)
            return 2
        todo = [SCENARIOS[w] for w in args.what]
    why = preflight()
    if why:
        print(f"record.py: {why}", file=sys.stderr)
        return 3
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    t0 = time.time()
    failed = []
    for sc in todo:
        try:
            meta = record(sc, args.out, keep=args.keep)
            if not meta["recording"]["outcome_as_expected"]:
                failed.append(sc.name)
        except Interrupted:
            print("interrupted; lab torn down", file=sys.stderr)
            return 130
        except Exception:
            traceback.print_exc()
            failed.append(sc.name)
    print(f"recorded {len(todo) - len(failed)}/{len(todo)} sessions in {time.time() - t0:.0f} s"
          + (f"; not as expected: {', '.join(failed)}" if failed else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
