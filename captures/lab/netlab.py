"""The lab's network: namespaces joined by veths on a bridge, nftables loss, tcpdump, and the processes in it.

Strategy: everything the lab creates lives inside namespaces named ``wplab-*`` (the veths, the bridge, the nft
tables named ``wplab``), so nothing touches the host's own network. Every process is started by us, in its own
session, and remembered by PID; ``Lab.close()`` ends exactly those (their process groups), deletes the nft tables
and the namespaces, and runs on success, on exceptions and on SIGINT/SIGTERM (``record.py`` turns those into
exceptions).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "wplab-"
NFT_TABLE = "wplab"
GUARD_TABLE = "wplab_guard"  # inet output table on nodes with a dead-end default route (Firefox's)
SUBNET = "10.99.0"
SWITCH = PREFIX + "sw"
LOCK_PATH = "/run/wplab.lock"


def run(argv: list[str], check: bool = True, **kw) -> subprocess.CompletedProcess:
    """Run a short command, capture its output, raise with its stderr on failure."""
    p = subprocess.run(argv, capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({p.returncode}): {p.stderr.strip()}")
    return p


def preflight() -> str | None:
    """Return why the lab cannot run here, or None when it can (root, ip netns, nft, tcpdump)."""
    if os.geteuid() != 0:
        return "the capture lab must run as root (it creates network namespaces)"
    for tool in ("ip", "nft", "tcpdump", "ethtool"):
        if shutil.which(tool) is None:
            return f"the capture lab needs '{tool}' (make captures installs it)"
    probe = PREFIX + "probe"
    p = run(["ip", "netns", "add", probe], check=False)
    if p.returncode != 0:
        return f"network namespaces are unavailable here: {p.stderr.strip()}"
    run(["ip", "netns", "del", probe], check=False)
    return None


def lab_namespaces() -> list[str]:
    out = run(["ip", "netns", "list"], check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(PREFIX)]


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path | None
    stop_signal: int = signal.SIGTERM


@dataclass
class Lab:
    """One topology: namespaces ``wplab-<node>`` each with ``eth0`` = 10.99.0.<n>/24 on a bridge in ``wplab-sw``."""

    workdir: Path
    nodes: dict[str, int]  # node name -> last address byte
    mtu: int = 1500
    procs: list[Proc] = field(default_factory=list)
    nft_namespaces: list[str] = field(default_factory=list)
    dead_end_routes: list[str] = field(default_factory=list)
    _lock_fd: int | None = None

    # -- life cycle ---------------------------------------------------------------------------------------------
    def __enter__(self) -> "Lab":
        self._lock_fd = os.open(LOCK_PATH, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise RuntimeError("another capture lab run holds " + LOCK_PATH)
        # Left-overs of a crashed earlier run (we hold the lock, so no live run owns them).
        for ns in lab_namespaces():
            self._kill_namespace_pids(ns)
            run(["ip", "netns", "del", ns], check=False)
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def ns(self, node: str) -> str:
        return PREFIX + node

    def addr(self, node: str) -> str:
        return f"{SUBNET}.{self.nodes[node]}"

    def _build(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for ns in [SWITCH] + [self.ns(n) for n in self.nodes]:
            run(["ip", "netns", "add", ns])
            for key in ("all", "default"):
                run(["ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=1"])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(["ip", "-n", SWITCH, "link", "add", "br0", "type", "bridge"])
        run(["ip", "-n", SWITCH, "link", "set", "br0", "mtu", str(self.mtu)])
        for node in self.nodes:
            ns, port = self.ns(node), f"p-{node}"
            run(["ip", "-n", SWITCH, "link", "add", port, "mtu", str(self.mtu), "type", "veth",
                 "peer", "name", "eth0", "netns", ns])
            run(["ip", "-n", SWITCH, "link", "set", port, "master", "br0"])
            run(["ip", "-n", ns, "link", "set", "eth0", "mtu", str(self.mtu)])
            run(["ip", "-n", ns, "addr", "add", f"{self.addr(node)}/24", "dev", "eth0"])
            for where, dev in ((SWITCH, port), (ns, "eth0")):
                # No offloads: what tcpdump sees is what goes on the wire (real checksums, no GSO super-packets).
                run(["ip", "netns", "exec", where, "ethtool", "-K", dev, "tx", "off", "rx", "off", "tso", "off",
                     "gso", "off", "gro", "off"], check=False)
                run(["ip", "-n", where, "link", "set", dev, "up"])
        run(["ip", "-n", SWITCH, "link", "set", "br0", "up"])

    def dead_end_gateway(self) -> str:
        return f"{SUBNET}.254"

    def dead_end_default_route(self, node: str) -> None:
        """A default route via an address no node holds. Firefox (nICEr) gathers no host candidate at all in a
        namespace without a default route. Nothing can leave through it (ARP for .254 is never answered), and a
        guard table drops whatever the browser sends off the lab's subnet before it gets there, so its background
        connections fail at once instead of filling the capture with ARP requests for the gateway."""
        ns = self.ns(node)
        run(["ip", "-n", ns, "route", "add", "default", "via", self.dead_end_gateway(), "dev", "eth0"])
        guard = (f"table inet {GUARD_TABLE} {{\n  chain output {{\n"
                 "    type filter hook output priority 0; policy accept;\n"
                 f"    ip daddr != {{ {SUBNET}.0/24, 127.0.0.0/8 }} counter reject\n  }}\n}}\n")
        run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=guard)
        self.dead_end_routes.append(node)

    def close(self) -> None:
        """End our processes (by PID, then their groups), delete our nft tables and namespaces. Idempotent."""
        for proc in reversed(self.procs):
            self._stop(proc)
        self.procs.clear()
        for ns in self.nft_namespaces:
            run(["ip", "netns", "exec", ns, "nft", "delete", "table", "netdev", NFT_TABLE], check=False)
        self.nft_namespaces.clear()
        for ns in lab_namespaces():
            self._kill_namespace_pids(ns)
            run(["ip", "netns", "del", ns], check=False)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    @staticmethod
    def _kill_namespace_pids(ns: str) -> None:
        """Processes still inside one of the lab's own namespaces were started by the lab: end them by PID."""
        out = run(["ip", "netns", "pids", ns], check=False).stdout.split()
        for pid in out:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass

    # -- processes ----------------------------------------------------------------------------------------------
    def start(self, name: str, node: str | None, argv: list[str], *, env: dict | None = None,
              stop_signal: int = signal.SIGTERM, cwd: Path | None = None) -> Proc:
        """Start argv inside node's namespace (``ip netns exec`` execs it, so the PID is the program's own)."""
        log = self.workdir / f"{name}.log"
        full = (["ip", "netns", "exec", self.ns(node)] if node else []) + argv
        fh = open(log, "wb")
        popen = subprocess.Popen(full, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True, env=env, cwd=cwd)
        fh.close()
        proc = Proc(name, popen, log, stop_signal)
        self.procs.append(proc)
        return proc

    def _stop(self, proc: Proc, timeout: float = 5.0) -> None:
        p = proc.popen
        if p.poll() is None:
            try:
                os.kill(p.pid, proc.stop_signal)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        # The program's own children (Chromium's renderers, ...) are in its process group: end them too.
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            p.wait(2)
        except subprocess.TimeoutExpired:
            pass

    def stop(self, proc: Proc) -> None:
        self._stop(proc)
        if proc in self.procs:
            self.procs.remove(proc)

    def wait(self, proc: Proc, timeout: float) -> int | None:
        try:
            return proc.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    # -- capture ------------------------------------------------------------------------------------------------
    def tcpdump(self, node: str, path: Path, bpf: str = "", iface: str = "eth0") -> Proc:
        """Full-snaplen capture on node's eth0; returns once tcpdump is listening."""
        argv = ["tcpdump", "-i", iface, "-n", "-s", "0", "-U", "-Z", "root", "-w", str(path)]
        if bpf:
            argv.append(bpf)
        proc = self.start(f"tcpdump-{path.stem}", node, argv, stop_signal=signal.SIGINT)
        deadline = time.time() + 10
        while time.time() < deadline:
            if b"listening on" in proc.log.read_bytes():
                return proc
            if proc.popen.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("tcpdump did not start: " + proc.log.read_text(errors="replace"))

    # -- bandwidth (tc on the bridge's ports) --------------------------------------------------------------------
    def port_qdisc(self, toward: str, action: str, spec: str) -> tuple[float, float]:
        """`tc qdisc <action> dev p-<toward> root <spec>` in the switch namespace: shapes everything the bridge
        sends to node `toward`. Returns the wall time just before and just after the command."""
        before = time.time()
        run(["ip", "netns", "exec", SWITCH, "tc", "qdisc", action, "dev", f"p-{toward}", "root", *spec.split()])
        return before, time.time()

    def port_tc(self, toward: str, words: list[str]) -> tuple[float, float]:
        """`tc <words>` in the switch namespace, for the bridge port toward node `toward` (the words name the device,
        p-<toward>). Returns the wall time just before and just after the command."""
        before = time.time()
        run(["ip", "netns", "exec", SWITCH, "tc", *words])
        return before, time.time()

    def port_device(self, toward: str) -> str:
        return f"p-{toward}"

    def port_class_stats(self, toward: str) -> str:
        return run(["ip", "netns", "exec", SWITCH, "tc", "-s", "class", "show", "dev", f"p-{toward}"],
                   check=False).stdout

    def port_qdisc_stats(self, toward: str) -> str:
        return run(["ip", "netns", "exec", SWITCH, "tc", "-s", "qdisc", "show", "dev", f"p-{toward}"],
                   check=False).stdout

    # -- nftables -----------------------------------------------------------------------------------------------
    def nft(self, node: str, egress: list[str], ingress: list[str]) -> str:
        """Install table netdev wplab on node's eth0 with the given egress and ingress rules; return its text."""
        def chain(hook: str, rules: list[str]) -> str:
            body = "".join(f"    {r}\n" for r in rules)
            return (f"  chain {hook} {{\n    type filter hook {hook} device \"eth0\" priority 0; policy accept;\n"
                    f"{body}  }}\n")
        text = f"table netdev {NFT_TABLE} {{\n" + chain("egress", egress) + chain("ingress", ingress) + "}\n"
        ns = self.ns(node)
        run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=text)
        self.nft_namespaces.append(ns)
        return text

    def nft_list(self) -> str:
        parts = []
        for ns in self.nft_namespaces:
            out = run(["ip", "netns", "exec", ns, "nft", "list", "table", "netdev", NFT_TABLE], check=False)
            parts.append(f"# ip netns exec {ns} nft list table netdev {NFT_TABLE}\n{out.stdout}")
        for node in self.dead_end_routes:
            ns = self.ns(node)
            out = run(["ip", "netns", "exec", ns, "nft", "list", "table", "inet", GUARD_TABLE], check=False)
            parts.append(f"# ip netns exec {ns} nft list table inet {GUARD_TABLE}\n{out.stdout}")
        return "\n".join(parts)
