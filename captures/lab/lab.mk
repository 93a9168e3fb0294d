# The capture lab (issue 3): `make captures` installs what the lab needs and records every session into captures/.
# Included from the top Makefile. Run as root (network namespaces, nftables, tcpdump). See captures/README.md.
#
#   make captures                              install what is missing, then record the whole set
#   make captures LAB_SCENARIOS="aiortc_clean ice_udp_blocked"   record some scenarios only
#   make captures-smoke                        a 4 s aiortc <-> aiortc call into $(LAB_SMOKE_OUT)

LAB_PYTHON ?= .venv/bin/python
LAB_PIP_INSTALL ?= $(LAB_PYTHON) -m pip install -q -e '.[lab]'
LAB_APT_PACKAGES ?= chromium firefox-esr janus coturn tcpdump nftables iproute2 ethtool tshark
LAB_SCENARIOS ?= all
LAB_SMOKE_OUT ?= /tmp/wplab-smoke

.PHONY: captures captures-deps captures-smoke

captures: captures-deps
	$(LAB_PYTHON) captures/lab/record.py $(LAB_SCENARIOS)

captures-smoke: captures-deps
	$(LAB_PYTHON) captures/lab/record.py smoke --out $(LAB_SMOKE_OUT)

# Debian packages only when missing (apt-get needs root, as the lab does); then the pip extra `lab`.
captures-deps:
	@missing=""; \
	for p in $(LAB_APT_PACKAGES); do \
	  dpkg-query -W -f '$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "apt-get install$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi
	$(LAB_PIP_INSTALL)
