"""The project's own files agree with each other: environment.yml with pyproject.toml, the licence declared and
shipped, scapy a test tool only (used by the tests, never imported by the package), the capture lab's extra
installed only by `make captures`, and the Makefile's targets the README names.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli", reason="reading pyproject.toml needs tomllib (3.11+) or tomli")

# Conda packages that are not Python distributions of pyproject.toml (the interpreter, tshark, pip itself).
CONDA_ONLY = {"python", "wireshark", "pip"}
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(\[[^\]]*\])?\s*(.*?)\s*$")


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _split(req: str) -> tuple[str, str]:
    m = REQUIREMENT.match(req.split(";")[0])
    assert m, req
    return m.group(1).lower().replace("_", "-"), m.group(3).replace(" ", "")


def _conda_dependencies() -> dict[str, str]:
    """environment.yml's conda dependencies as {name: version spec}, read line by line (the file is a flat list;
    no YAML library needed)."""
    out = {}
    in_deps = False
    for line in (REPO / "environment.yml").read_text().splitlines():
        text = line.split("#", 1)[0].rstrip()
        if not text.strip():
            continue
        if not text.startswith(" "):
            in_deps = text.startswith("dependencies:")
            continue
        m = re.match(r"^  - ([^\s:]+)\s*$", text)  # two spaces: the conda list, not the nested `pip:` list
        if in_deps and m:
            name, spec = _split(m.group(1))
            out[name] = spec
    return out


def test_environment_yml_matches_pyproject_dependencies_and_the_test_and_dev_extras():
    project = _pyproject()["project"]
    extras = project["optional-dependencies"]
    wanted, todo = {}, list(project["dependencies"]) + ["webrtcpcap[test,dev]"]
    while todo:  # an extra may name others (dev = webrtcpcap[test,fleet] + jupyterlab)
        req = todo.pop(0)
        name, spec = _split(req)
        if name == "webrtcpcap":
            todo += [r for extra in re.search(r"\[(.*)\]", req).group(1).split(",") for r in extras[extra.strip()]]
        else:
            wanted[re.sub(r"\[.*\]", "", name)] = spec
    conda = {k: v for k, v in _conda_dependencies().items() if k not in CONDA_ONLY}
    assert conda == wanted


def test_environment_yml_leaves_the_lab_extra_to_make_captures():
    lab = {_split(r)[0] for r in _pyproject()["project"]["optional-dependencies"]["lab"]}
    runtime = {_split(r)[0] for r in _pyproject()["project"]["dependencies"]}
    assert not (lab - runtime) & set(_conda_dependencies())


def test_a_licence_is_declared_and_shipped():
    project = _pyproject()["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_scapy_is_a_test_tool_the_package_never_imports():
    project = _pyproject()["project"]
    assert "scapy" not in {_split(r)[0] for r in project["dependencies"]}
    assert "scapy" in {_split(r)[0] for r in project["optional-dependencies"]["test"]}
    package = [p for p in (REPO / "webrtcpcap").rglob("*.py") if "scapy" in _imports(p)]
    assert package == []
    # ... and the tests use it for real: the packet builders of conftest craft Ether/IP/UDP with it
    assert "scapy" in _imports(REPO / "tests" / "conftest.py")


def test_make_demo_and_make_test_do_not_install_the_lab_extra():
    makefile = (REPO / "Makefile").read_text()
    setup = re.search(r"^\$\(STAMP\):\n((?:\t.*\n)+)", makefile, re.M).group(1)
    installs = re.findall(r"pip install[^\n]*-e '\.\[([^\]]*)\]'", setup)
    assert installs and all("lab" not in extras.split(",") for extras in installs), installs
    lab_mk = (REPO / "captures" / "lab" / "lab.mk").read_text()
    assert re.search(r"pip install[^\n]*'\.\[lab\]'", lab_mk)
    assert re.search(r"^captures: captures-deps", lab_mk, re.M)


def test_the_readme_names_only_make_targets_that_exist():
    makefile = (REPO / "Makefile").read_text() + (REPO / "captures" / "lab" / "lab.mk").read_text()
    targets = set(re.findall(r"^([a-z][\w -]*):(?!=)", makefile, re.M))
    targets = {t for line in targets for t in line.split()}
    named = set(re.findall(r"\bmake ([a-z][\w-]*)", (REPO / "README.md").read_text()))
    assert named and named <= targets, named - targets


def _make_n(*args) -> str:
    """What `make -n` would run (a dry run: nothing is installed or started)."""
    proc = subprocess.run(["make", "-n", "--no-print-directory", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_lab_binds_jupyterlab_to_loopback_and_allows_root_only_as_root():
    as_user = [line for line in _make_n("lab", "LAB_AS_ROOT=").splitlines() if "jupyter lab" in line]
    as_root = [line for line in _make_n("lab", "LAB_AS_ROOT=yes").splitlines() if "jupyter lab" in line]
    assert len(as_user) == len(as_root) == 1
    assert "--ip=127.0.0.1" in as_user[0] and "--allow-root" not in as_user[0]
    assert "--allow-root" in as_root[0] and "notebooks" in as_root[0]
    here = [line for line in _make_n("lab").splitlines() if "jupyter lab" in line][0]
    assert ("--allow-root" in here) == (os.getuid() == 0)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_check_leaves_out_the_slow_cases_and_make_test_runs_them():
    check = [line for line in _make_n("check").splitlines() if "pytest" in line]
    test = [line for line in _make_n("test").splitlines() if "pytest" in line]
    assert check and '-m "not slow and not lab"' in check[-1] and "--nbval" not in check[-1]
    assert test and "--nbval" in test[-1] and '-m "' not in test[-1]
    # in parallel, a notebook's cells must stay together: they share one kernel
    assert "-n auto" in test[-1] and "--dist loadfile" in test[-1]
