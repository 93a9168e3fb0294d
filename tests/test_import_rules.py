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

# The floors, bottom to top: each is a folder of the package (a subpackage), except `capture` (capture.py, the entry
# object) and `cli` (the command line and the package's face).  A module's floor follows what it does and needs:
FLOORS: dict[str, str] = {
    # files in and out, and what every floor shares: the error types, vectorised field reads, the pcap reader and
    # writer, glibc's heap (opt-in), the endpoints' own JSON (getStats, Janus), tshark's view of the same file
    "io": "io/",
    # frames to IP/UDP/TCP facts, TCP streams, RFC 7983 demultiplexing; payload bytes of many packets at once
    "net": "net/",
    # sans-IO decoders of one protocol each, no pandas
    "protocols": "protocols/",
    # decoded records to typed tables: the pipeline, every table the entry object serves as an attribute, the
    # streams table and the sequence arithmetic of every later floor, sessions (which flows make a call),
    # decryption, the summary counts, the decrypted copy
    "tables": "tables/",
    # the entry object: open(), iter_chunks(), Capture
    "capture": "capture.py",
    # analyses: DataFrames in, DataFrames out, no bytes; the analysis context
    "analysis": "analysis/",
    # what people look at: verdicts, expectations, plots, the report
    "report": "report/",
    # tools over whole captures: anonymised copies, endpoint dumps opened as captures
    "tools": "tools/",
    # the command line and the package's face
    "cli": ("cli.py", "__main__.py", "__init__.py"),
}
FLOOR_NAMES = list(FLOORS)
DECODERS_FLOOR = FLOOR_NAMES.index("protocols")

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


def module_name(package: Path, path: Path) -> str:
    """`protocols.rtcp` for webrtcpcap/protocols/rtcp.py, `protocols` for its __init__.py, `capture` for capture.py."""
    parts = list(path.relative_to(package).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def floor_of(module: str) -> int | None:
    """The floor of a module (a dotted name as module_name gives), or None when it sits on none."""
    head = module.split(".")[0]
    for i, place in enumerate(FLOORS.values()):
        places = (place,) if isinstance(place, str) else place
        for p in places:
            if (p.endswith("/") and head == p[:-1]) or (p.endswith(".py") and module == p[:-3]):
                return i
    return None


def _imported(module: str, is_package: bool, node: ast.Import | ast.ImportFrom,
              modules: set[str]) -> list[tuple[bool, str]]:
    """(internal, name) of what an import statement imports: the webrtcpcap module (dotted, as module_name gives),
    or the external dotted name."""
    out = []
    if isinstance(node, ast.ImportFrom):
        if node.level or (node.module or "").split(".")[0] == "webrtcpcap":
            if node.level:
                here = module.split(".") if is_package else module.split(".")[:-1]
                base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                if node.level - 1 > len(here):
                    base = []
            else:
                base = []
            parts = base + [p for p in (node.module or "").split(".") if p]
            if not node.level:
                parts = parts[1:]
            target = ".".join(parts)
            for a in node.names:
                sub = f"{target}.{a.name}" if target else a.name
                out.append((True, sub if sub in modules else target))
        else:
            out.extend((False, f"{node.module}.{a.name}") for a in node.names)
    else:
        for a in node.names:
            parts = a.name.split(".")
            out.append((True, ".".join(parts[1:])) if parts[0] == "webrtcpcap" and len(parts) > 1 else (False, a.name))
    return [(internal, name) for internal, name in out if not internal or (name and name != "__version__")]


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


def _parents(module: str) -> list[str]:
    """The packages importing `module` runs first: `tables` for `tables.streams`."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _top_level_closure(edges: dict[str, set[str]], start: str) -> set[str]:
    """The package's modules that importing `start` imports (module-level imports and parent packages, followed)."""
    seen, todo = set(), [start]
    while todo:
        module = todo.pop()
        if module in seen or module not in edges:
            continue
        seen.add(module)
        todo.extend(edges[module])
        todo.extend(_parents(module))
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
    paths = {module_name(package, p): p for p in sorted(package.rglob("*.py")) if "__pycache__" not in p.parts}
    trees = {m: ast.parse(p.read_text(), filename=str(p)) for m, p in paths.items()}
    modules = set(trees)
    imports = {m: [(node, in_function, _imported(m, paths[m].name == "__init__.py", node, modules))
                   for node, in_function in _imports(tree)] for m, tree in trees.items()}
    edges = {m: {name for node, in_function, names in found if not in_function
                 for internal, name in names if internal} for m, found in imports.items()}
    out = [f"{m}: no floor (put it in one of the stage folders of FLOORS in tests/test_import_rules.py)"
           for m in trees if floor_of(m) is None]
    for module, found in imports.items():
        lines = paths[module].read_text().splitlines()
        floor = floor_of(module)
        for node, in_function, names in found:
            for internal, name in names:
                where = f"{module}:{node.lineno}"
                target = floor_of(name) if internal else None
                if internal and floor is not None and target is not None and target > floor:
                    out.append(f"{where} imports {name}, a later floor ({FLOOR_NAMES[target]} above "
                               f"{FLOOR_NAMES[floor]})")
                if floor == DECODERS_FLOOR and not internal and name.split(".")[0] == "pandas":
                    out.append(f"{where} imports pandas in a decoder (tables are built on the tables floor)")
                if not in_function:
                    continue
                reason = _deferral_reason(lines, node)
                if reason is None:
                    out.append(f"{where} imports {name} inside a function: move it to the top, or say why "
                               f"('{DEFERRED} <a cycle, or a heavy optional package>')")
                elif internal and module not in _top_level_closure(edges, name):
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
    paths = [p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts]
    assert [p for p in paths if floor_of(module_name(PACKAGE, p)) is None] == []


def test_the_package_folder_shows_the_stages():
    """`ls webrtcpcap/` reads as the data flow: the stage folders, the entry object, the command line; no flat
    module besides."""
    listed = {p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"}
    folders = {place[:-1] for place in FLOORS.values() if isinstance(place, str) and place.endswith("/")}
    assert listed == folders | {"capture.py", "cli.py", "__main__.py", "__init__.py"}


# -- the rules catch what they should (a small package written for each) ------------------------------------------

def _package(tmp_path, **modules: str) -> Path:
    """Modules by dotted name (`protocols__rtp` for protocols/rtp.py: keyword names cannot hold dots)."""
    for name, text in modules.items():
        path = tmp_path.joinpath(*name.split("__")).with_suffix(".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.parent != tmp_path and not (path.parent / "__init__.py").exists():
            (path.parent / "__init__.py").write_text("")
        path.write_text(text)
    return tmp_path


def _only(found: list[str], *names: str) -> list[str]:
    return [p for p in found if p.split(":", 1)[0] in names]


def test_an_import_of_a_later_floor_is_caught(tmp_path):
    found = problems(_package(tmp_path, protocols__rtp="from ..tables import streams\n", tables__streams="x = 1\n"))
    assert _only(found, "protocols.rtp") == [
        "protocols.rtp:1 imports tables.streams, a later floor (tables above protocols)"]


def test_an_import_of_a_lower_floor_and_of_its_own_floor_pass(tmp_path):
    found = problems(_package(tmp_path, tables__streams="from ..protocols import rtp\nfrom . import schema\n",
                              protocols__rtp="x = 1\n", tables__schema="x = 1\n"))
    assert _only(found, "tables.streams") == []


def test_an_absolute_import_of_a_later_floor_is_caught(tmp_path):
    found = problems(_package(tmp_path, net__demux="from webrtcpcap.report.health import health\n",
                              report__health="health = 1\n"))
    assert _only(found, "net.demux") == ["net.demux:1 imports report.health, a later floor (report above net)"]


def test_a_module_outside_the_stage_folders_is_caught(tmp_path):
    found = problems(_package(tmp_path, helpers="x = 1\n"))
    assert _only(found, "helpers") == [
        "helpers: no floor (put it in one of the stage folders of FLOORS in tests/test_import_rules.py)"]


def test_pandas_in_a_decoder_is_caught_even_inside_a_function(tmp_path):
    found = problems(_package(tmp_path, protocols__stun="def f():\n    import pandas as pd  # deferred: matplotlib\n"))
    assert "protocols.stun:2 imports pandas in a decoder (tables are built on the tables floor)" in found


def test_a_function_level_import_needs_its_reason(tmp_path):
    found = problems(_package(tmp_path, analysis__nack="def f():\n    from ..tables import streams\n",
                              tables__streams="x = 1\n"))
    assert _only(found, "analysis.nack") == [
        "analysis.nack:2 imports tables.streams inside a function: move it to the top, or say why "
        "('# deferred: <a cycle, or a heavy optional package>')"]


def test_a_deferral_without_a_cycle_is_caught(tmp_path):
    found = problems(_package(tmp_path, analysis__nack="def f():\n    from ..tables import streams  # deferred: a cycle\n",
                              tables__streams="x = 1\n"))
    assert _only(found, "analysis.nack") == [
        "analysis.nack:2 defers tables.streams, but importing tables.streams does not import analysis.nack: no cycle "
        "to break, move it to the top"]


def test_a_deferral_that_breaks_a_real_cycle_passes(tmp_path):
    found = problems(_package(tmp_path, analysis__nack="def f():\n    from . import pli  # deferred: pli imports nack\n",
                              analysis__pli="from . import rtt\n", analysis__rtt="from . import nack\n"))
    assert _only(found, "analysis.nack", "analysis.pli", "analysis.rtt") == []


@pytest.mark.parametrize("name, ok", [("matplotlib.pyplot", True), ("pyshark", True), ("json", False)])
def test_a_deferred_external_import_must_be_heavy_and_optional(tmp_path, name, ok):
    found = _only(problems(_package(tmp_path, report__plots=f"def f():\n    import {name}  # deferred: heavy\n")),
                  "report.plots")
    assert found == ([] if ok else [f"report.plots:2 defers {name}, which is not a heavy optional package "
                                    f"({', '.join(HEAVY_OPTIONAL)}): move it to the top"])
