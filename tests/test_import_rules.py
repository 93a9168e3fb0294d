"""The package's import rules (issue 17): each module sits on a floor of the data flow and imports only its own floor
and the floors below; a decoder never imports pandas; an import inside a function says why on its own line
(`# deferred: <reason>`), and the reason holds: a real cycle, or a heavy optional package.

Read with `ast`, nothing is imported, so a rule broken anywhere (even in a function no test calls) fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "webrtcpcap"

# The floors, bottom to top, and the modules on each: the one map of the package's stages (when the modules move
# into subpackages, a floor becomes a folder).  A module's floor follows what it does and what it needs:
FLOORS: dict[str, tuple[str, ...]] = {
    # files in and out, and what every floor shares: the error types, vectorised field reads, the pcap reader,
    # glibc's heap, the pcap/pcapng writer, the endpoints' own JSON (getStats, Janus), tshark's view of the same file
    "io": ("errors", "buffer", "heap", "reader", "pcap_writer", "endpoints", "wireshark"),
    # frames to IP/UDP/TCP facts, TCP streams, RFC 7983 demultiplexing; payload bytes of many packets at once
    # (payloads: where the bytes lie, read in bulk; what the decoders and the capture's readers share)
    "net": ("net", "tcp", "demux", "payloads"),
    # sans-IO decoders of one protocol each, no pandas
    "protocols": ("stun", "quic", "dtls", "tls13", "rtp", "rtp_extensions", "rtcp", "srtp", "keys", "sdp", "codecs"),
    # decoded records to typed tables: the pipeline, every table the entry object serves as an attribute
    # (streams: the streams table and the sequence arithmetic of every later floor; sessions: which flows make a
    # call), decryption of the tables' SRTP, the summary counts of three tables, and the decrypted copy written from
    # the decoded frames (writer).
    "tables": ("tables", "pipeline", "media_tables", "feedback_tables", "dtls_tables", "quic_tables", "decrypt", "streams",
               "sessions", "summary", "writer", "parquet"),
    # the entry object: open(), iter_chunks(), Capture
    "capture": ("capture",),
    # analyses: DataFrames in, DataFrames out, no bytes
    "analyses": ("ice", "handshake", "nack", "pli", "rtt", "compare", "analysis"),
    # what people look at: verdicts, expectations, plots, the report
    "report": ("health", "expect", "plots", "report"),
    # tools over whole captures: anonymised copies, endpoint dumps opened as captures
    "tools": ("anonymize", "dumps", "batch", "dataset", "fleet"),
    # the command line and the package's face
    "cli": ("cli", "__main__", "__init__"),
}
FLOOR_OF = {module: i for i, modules in enumerate(FLOORS.values()) for module in modules}
FLOOR_NAMES = list(FLOORS)
DECODERS = FLOORS["protocols"]

# Packages a function may import on first use, with what importing them costs (measured next to numpy and pandas,
# which `import webrtcpcap` loads anyway): `import webrtcpcap` stays light, and a missing one stops one feature only.
HEAVY_OPTIONAL = {
    "matplotlib": "2.5 s with pyplot",
    "pyshark": "0.2 s, and it needs tshark",
    "dask": "2 s, for the lazy tables of a dataset (webrtcpcap.dataset)",
    "distributed": "0.5 s after dask, for a batch on a cluster (webrtcpcap.batch)",
    "tqdm": "0.15 s, for a progress bar most reads never show",
    "cryptography.x509": "0.15 s, for certificates most reads never look at",
}
DEFERRED = "# deferred:"


def _imported(node: ast.Import | ast.ImportFrom) -> list[tuple[bool, str]]:
    """(internal, name) of what an import statement imports: the webrtcpcap module, or the external dotted name."""
    out = []
    if isinstance(node, ast.ImportFrom):
        if node.level or (node.module or "").split(".")[0] == "webrtcpcap":
            parts = (node.module or "").split(".")
            parts = parts[1:] if not node.level else parts
            if parts and parts[0]:
                out.append((True, parts[0]))
            else:  # from . import a, b
                out.extend((True, a.name) for a in node.names)
        else:
            out.extend((False, f"{node.module}.{a.name}") for a in node.names)
    else:
        for a in node.names:
            parts = a.name.split(".")
            out.append((True, parts[1]) if parts[0] == "webrtcpcap" and len(parts) > 1 else (False, a.name))
    return [(internal, name) for internal, name in out if not internal or name != "__version__"]


def _imports(tree: ast.Module):
    """(node, inside a function) for every import statement of a module."""
    found = []

    def walk(node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append((child, in_function))
            walk(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    walk(tree, False)
    return found


def _top_level_closure(trees: dict[str, ast.Module], start: str) -> set[str]:
    """The package's modules that importing `start` imports (module-level imports, followed)."""
    seen, todo = set(), [start]
    while todo:
        module = todo.pop()
        if module in seen or module not in trees:
            continue
        seen.add(module)
        todo.extend(name for node, in_function in _imports(trees[module]) if not in_function
                    for internal, name in _imported(node) if internal)
    return seen


def _deferral_reason(lines: list[str], node: ast.AST) -> str | None:
    """The `# deferred: reason` on the import's first line or the line above it, or None."""
    for line in (lines[node.lineno - 1], lines[node.lineno - 2] if node.lineno > 1 else ""):
        if DEFERRED in line:
            return line.split(DEFERRED, 1)[1].strip() or None
    return None


def _heavy(name: str) -> bool:
    return any(name == h or name.startswith(h + ".") for h in HEAVY_OPTIONAL)


def problems(package: Path = PACKAGE) -> list[str]:
    """Every broken rule, one line each ("module:line what")."""
    trees = {p.stem: ast.parse(p.read_text(), filename=str(p)) for p in sorted(package.glob("*.py"))}
    out = [f"{m}: no floor (add it to FLOORS in tests/test_import_rules.py)" for m in trees if m not in FLOOR_OF]
    for module, tree in trees.items():
        lines = (package / f"{module}.py").read_text().splitlines()
        floor = FLOOR_OF.get(module)
        for node, in_function in _imports(tree):
            for internal, name in _imported(node):
                where = f"{module}:{node.lineno}"
                if internal and floor is not None and FLOOR_OF.get(name, -1) > floor:
                    out.append(f"{where} imports {name}, a later floor ({FLOOR_NAMES[FLOOR_OF[name]]} above "
                               f"{FLOOR_NAMES[floor]})")
                if module in DECODERS and not internal and name.split(".")[0] == "pandas":
                    out.append(f"{where} imports pandas in a decoder (tables are built on the tables floor)")
                if not in_function:
                    continue
                reason = _deferral_reason(lines, node)
                if reason is None:
                    out.append(f"{where} imports {name} inside a function: move it to the top, or say why "
                               f"('{DEFERRED} <a cycle, or a heavy optional package>')")
                elif internal and module not in _top_level_closure(trees, name):
                    out.append(f"{where} defers {name}, but importing {name} does not import {module}: no cycle to "
                               "break, move it to the top")
                elif not internal and not _heavy(name):
                    out.append(f"{where} defers {name}, which is not a heavy optional package "
                               f"({', '.join(HEAVY_OPTIONAL)}): move it to the top")
    return out


# Broken rules whose fix belongs to another piece of work, each with where it goes; a fixed one must leave the list.
PENDING: dict[str, str] = {}  # a known breach being fixed: its message, and why it waits (none today)


def _unnumbered(problem: str) -> str:
    module, rest = problem.split(":", 1)
    return f"{module} {rest.split(' ', 1)[1]}" if rest.split(" ", 1)[0].isdigit() else problem


def test_the_package_keeps_its_import_rules():
    found = problems()
    assert [p for p in found if _unnumbered(p) not in PENDING] == []
    assert sorted(set(PENDING) - {_unnumbered(p) for p in found}) == [], "fixed: take it out of PENDING"


def test_every_module_of_the_package_is_on_one_floor():
    placed = [m for modules in FLOORS.values() for m in modules]
    assert len(placed) == len(set(placed))
    assert set(placed) == {p.stem for p in PACKAGE.glob("*.py")}


# -- the rules catch what they should (a small package written for each) ------------------------------------------

def _package(tmp_path, **modules: str) -> Path:
    for name, text in modules.items():
        (tmp_path / f"{name}.py").write_text(text)
    return tmp_path


def _only(found: list[str], *names: str) -> list[str]:
    return [p for p in found if p.split(":", 1)[0] in names]


def test_an_import_of_a_later_floor_is_caught(tmp_path):
    found = problems(_package(tmp_path, rtp="from . import streams\n", streams="x = 1\n"))
    assert _only(found, "rtp") == ["rtp:1 imports streams, a later floor (tables above protocols)"]


def test_pandas_in_a_decoder_is_caught_even_inside_a_function(tmp_path):
    found = problems(_package(tmp_path, stun="def f():\n    import pandas as pd  # deferred: matplotlib\n"))
    assert "stun:2 imports pandas in a decoder (tables are built on the tables floor)" in found


def test_a_function_level_import_needs_its_reason(tmp_path):
    found = problems(_package(tmp_path, nack="def f():\n    from . import streams\n", streams="x = 1\n"))
    assert _only(found, "nack") == ["nack:2 imports streams inside a function: move it to the top, or say why "
                                    "('# deferred: <a cycle, or a heavy optional package>')"]


def test_a_deferral_without_a_cycle_is_caught(tmp_path):
    found = problems(_package(tmp_path, nack="def f():\n    from . import streams  # deferred: a cycle\n",
                              streams="x = 1\n"))
    assert _only(found, "nack") == ["nack:2 defers streams, but importing streams does not import nack: no cycle "
                                    "to break, move it to the top"]


def test_a_deferral_that_breaks_a_real_cycle_passes(tmp_path):
    found = problems(_package(tmp_path, nack="def f():\n    from . import pli  # deferred: pli imports nack\n",
                              pli="from . import rtt\n", rtt="from . import nack\n"))
    assert _only(found, "nack", "pli", "rtt") == []


@pytest.mark.parametrize("name, ok", [("matplotlib.pyplot", True), ("pyshark", True), ("json", False)])
def test_a_deferred_external_import_must_be_heavy_and_optional(tmp_path, name, ok):
    found = _only(problems(_package(tmp_path, plots=f"def f():\n    import {name}  # deferred: heavy\n")), "plots")
    assert found == ([] if ok else [f"plots:2 defers {name}, which is not a heavy optional package "
                                    f"({', '.join(HEAVY_OPTIONAL)}): move it to the top"])
