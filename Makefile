# make demo: set up and summarise a bundled capture.  make test: set up and run every test (on every core).
# Both work on a fresh Debian machine as root; elsewhere they say what to install.
# make lab: JupyterLab on the notebooks.  make check: the quick tests (no notebooks, no case marked slow).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
DEMO_CAPTURE ?= captures/chromium_aiortc_loss5.pcap
APT_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends

.PHONY: all setup tshark chromium demo test check lab benchmark fuzz clean

all: test

setup: $(STAMP)

$(STAMP):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { echo "make: Python 3.10 or newer is needed (PYTHON=$(PYTHON))" >&2; exit 1; }
	@$(PYTHON) -m venv --help >/dev/null 2>&1 && $(PYTHON) -c 'import ensurepip' 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then apt-get update -qq && $(APT_INSTALL) python3-venv; \
	  else echo "make: Python's venv module is missing: install python3-venv" >&2; exit 1; fi; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'  # the capture lab's extra: make captures
	@rm -f $(VENV)/.installed-*
	@touch $@

tshark:
	@command -v tshark >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "make: installing tshark (Debian package)"; \
	    apt-get update -qq && echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections && $(APT_INSTALL) tshark; \
	  else echo "make: tshark is missing: install it (apt-get install tshark, or conda install -c conda-forge wireshark)" >&2; exit 1; fi; }

chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "make: installing chromium (Debian package; headless check of the HTML report)"; \
	    apt-get update -qq && $(APT_INSTALL) chromium; \
	  else echo "make: chromium is missing: the HTML report's browser test will be skipped (apt-get install chromium)" >&2; fi; }

demo: setup tshark
	$(PY) -m webrtcpcap summary $(DEMO_CAPTURE)

# PYTEST_WORKERS=0 runs the suite in one process (pytest-xdist off).  --dist loadfile: a test file (and a notebook,
# whose cells share one kernel) runs whole on one worker, its module fixtures built once.
PYTEST_WORKERS ?= auto
test: setup tshark chromium
	$(PY) -m pytest --nbval -q -n $(PYTEST_WORKERS) --dist loadfile

check: setup
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile -m "not slow and not lab"

# JupyterLab refuses to run as root without --allow-root: given only then.  Bound to loopback.
LAB_AS_ROOT ?= $(shell [ "$$(id -u)" = 0 ] && echo yes)
lab: setup
	$(VENV)/bin/jupyter lab --ip=127.0.0.1 --ServerApp.root_dir=notebooks$(if $(LAB_AS_ROOT), --allow-root,)

benchmark: setup tshark
	$(PY) benchmarks/run_all.py

# make fuzz: the long fuzzing campaign (fuzz/README.md): mutated captures and decoder inputs until FUZZ_FILES and
# FUZZ_INPUTS (or FUZZ_SECONDS), then a summary table; then atheris on the decoders if it is installed.
FUZZ_FILES ?= 100000
FUZZ_INPUTS ?= 10000000
FUZZ_SECONDS ?= 0
FUZZ_ATHERIS_SECONDS ?= 600
fuzz: setup
	@code=0; nice -n 19 $(PY) -m fuzz --files $(FUZZ_FILES) --decoder-inputs $(FUZZ_INPUTS) --seconds $(FUZZ_SECONDS) \
	  --out fuzz/out || code=$$?; \
	if $(PY) -c 'import atheris' 2>/dev/null; then \
	  $(PY) -m fuzz.atheris_decoders --seed-corpus fuzz/out/atheris/corpus >/dev/null 2>&1 && cd fuzz/out/atheris && \
	  { PYTHONPATH=$(CURDIR) nice -n 19 $(abspath $(PY)) -m fuzz.atheris_decoders -max_total_time=$(FUZZ_ATHERIS_SECONDS) \
	    -print_final_stats=1 corpus >log 2>&1 || code=1; }; \
	  grep -E "^(stat::number_of_executed_units|Done)|Error" log | tail -n 20; \
	else echo "make fuzz: atheris is not installed (pip install -e '.[fuzz]'): coverage-guided stage skipped"; fi; \
	exit $$code

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis

# make captures / captures-smoke: the recording lab (root; see captures/README.md).
captures captures-smoke captures-deps: setup
LAB_PYTHON := $(PY)
include captures/lab/lab.mk
