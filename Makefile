# sipdiag: why did this SIP call fail?  See README.md.
#
#   make demo       analyse a bundled capture and print the checklist
#   make test       lint and the full test suite (what CI runs)
#   make fixtures   regenerate fixture captures with real sipp peers (root)
#   make golden     regenerate the goldens from the fixture captures
#   make docs       regenerate docs/rules.md and docs/cli.md
#   make bench      time the tap against tshark's C taps on a 600k-packet capture; the big HTML report; adversarial memory
#   make bench-cluster   the fixtures on 1 and 2 Dask workers: speed-up and per-task overhead
#   make install-plugin   put the tap in Wireshark's personal Lua plugins (Tools menu)
#   make compat     the tap under tshark 4.4 and 4.6 from Debian trixie/sid roots (root)
#   make gui-test   the real Wireshark under Xvfb: the Tools menu's checklist, screenshot
#   make fuzz       5,000 mutated fixture captures through tshark, the tap and the CLI
#   make realworld  grade the report against the hand labels of ../shared/corpus-labelled
#
# demo and test install what is missing: tshark and Lua interpreters from
# apt (sudo when not root), and a virtualenv from pyproject.toml.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_GET := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get
LUAS := lua5.1 lua5.2 lua5.3 lua5.4
DEMO_CAPTURE := fixtures/486-busy-inbound/capture.pcap

.PHONY: bench-cluster bench-adversarial bench-html realworld browser-deps fuzz compat gui-deps gui-test install-plugin uninstall-plugin help demo test lint unit tshark-deps lua-deps fixture-deps venv fixtures golden docs bench clean

help:
	@sed -n '3,16p' Makefile | sed 's/^# \{0,1\}//'

# --- set-up ------------------------------------------------------------------

# tshark without the interactive "should non-root users capture?" question
tshark-deps:
	@command -v tshark >/dev/null || { \
	  echo "wireshark-common wireshark-common/install-setuid boolean false" | $(SUDO) debconf-set-selections; \
	  $(APT_GET) update -qq && $(APT_GET) install -y -qq tshark; }

lua-deps:
	@missing=""; for l in $(LUAS); do command -v $$l >/dev/null || missing="$$missing $$l"; done; \
	if [ -n "$$missing" ]; then $(APT_GET) update -qq && $(APT_GET) install -y -qq $$missing; fi

# the real-GUI smoke test: Wireshark's Qt GUI under Xvfb, driven by xdotool
gui-deps: tshark-deps
	@command -v wireshark >/dev/null && command -v Xvfb >/dev/null && command -v xdotool >/dev/null && \
	  command -v import >/dev/null || { $(APT_GET) update -qq && \
	  $(APT_GET) install -y -qq --no-install-recommends wireshark-qt xvfb xdotool imagemagick; }

# the HTML report's browser test: headless Chromium
browser-deps:
	@command -v chromium >/dev/null || { $(APT_GET) update -qq && \
	  $(APT_GET) install -y -qq --no-install-recommends chromium; }

fixture-deps: tshark-deps
	@command -v sipp >/dev/null && command -v openssl >/dev/null && command -v nft >/dev/null || { \
	  $(APT_GET) update -qq && $(APT_GET) install -y -qq sip-tester openssl nftables iproute2; }

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "sipdiag needs Python 3.11 or newer (found $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# --- the two commands of the README ---------------------------------------------

demo: tshark-deps venv
	@echo "\$$ sipdiag analyze --verbose $(DEMO_CAPTURE)"
	@$(BIN)/sipdiag analyze --verbose $(DEMO_CAPTURE) || [ $$? -eq 1 ]

# the suite on every core, at most four (each worker runs the session's fixture captures once):
# TEST_JOBS=1 runs it in one process
TEST_JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 4 ] && n=4; echo $$n)
test: tshark-deps lua-deps gui-deps browser-deps venv lint
	$(BIN)/pytest -q $(if $(filter-out 0 1,$(TEST_JOBS)),-n $(TEST_JOBS))

# Wireshark itself: Tools > SIP Diagnostics > Call checklist; the screenshot
# lands in test-artifacts/gui/checklist.png (also part of make test)
gui-test: gui-deps venv
	$(BIN)/pytest -q tests/test_wireshark_gui.py

# --- development -------------------------------------------------------------------

# the tap (lua/sipdiag.lua and its modules in lua/sipdiag/) must compile under every Lua Wireshark embeds
LUA_FILES := lua/sipdiag.lua $(wildcard lua/sipdiag/*.lua) $(wildcard tests/lua/*.lua)

lint: venv lua-deps
	$(BIN)/ruff check sipdiag_post tests fixtures bench
	@for l in $(LUAS); do for f in $(LUA_FILES); do luac$${l#lua} -p $$f || exit 1; done; done

fixtures: fixture-deps venv
	@[ "$$(id -u)" = 0 ] || { echo "make fixtures needs root (dumpcap on the loopback interface): sudo make fixtures"; exit 1; }
	flock /tmp/sipdiag-fixtures.lock $(PYTHON) fixtures/generate.py $(SCENARIOS)
	$(MAKE) golden

# throwaway debootstrap roots in build/compat/ (made once, about 550 MB each)
compat: tshark-deps venv
	@[ "$$(id -u)" = 0 ] || { echo "make compat needs root (debootstrap, chroot): sudo make compat"; exit 1; }
	@command -v debootstrap >/dev/null || { $(APT_GET) update -qq && $(APT_GET) install -y -qq debootstrap; }
	$(BIN)/python tests/compat.py

golden: tshark-deps venv
	$(BIN)/python fixtures/golden.py $(SCENARIOS)

# hostile input: every fixture capture mutated (tests/mutate.py), FUZZ_CASES cases
# from FUZZ_SEED; a fixed-seed sample of 200 runs inside make test
FUZZ_CASES ?= 5000
FUZZ_SEED ?= 20261126
fuzz: tshark-deps venv
	$(BIN)/python tests/fuzz.py --cases $(FUZZ_CASES) --seed $(FUZZ_SEED)

# the captures are built once with sipp (root) and kept in build/bench/: 600 calls of
# 10 s (606,600 packets), the same calls 4x as long, 4x the calls 4x shorter, and 4x the
# calls of 10 s at the same concurrency (100 at a time)
BENCH_CAPTURES := build/bench/600k.pcap build/bench/600calls-40s.pcap build/bench/2400calls-2.5s.pcap \
	build/bench/2400calls-10s.pcap
# adversarial: 200,000 calls of one INVITE each (without and with SDP), for the bounded-memory line
ADVERSARIAL_CAPTURES := build/bench/invites-200k.pcap build/bench/invites-sdp-200k.pcap

bench: fixture-deps browser-deps venv $(BENCH_CAPTURES) $(ADVERSARIAL_CAPTURES)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/cluster.py

# every fixture capture x COPIES on 1 and 2 single-threaded Dask workers (a real scheduler and workers on
# 127.0.0.1); results in bench/results-cluster.md
COPIES ?= 8
bench-cluster: tshark-deps venv
	$(BIN)/python bench/cluster.py --copies $(COPIES)

# the adversarial lines alone (rewrites their section of bench/results.md)
bench-adversarial: fixture-deps venv $(ADVERSARIAL_CAPTURES)
	$(BIN)/python bench/run.py --adversarial-only

# the HTML line alone: the 2,400-call report's size and headless Chromium's time to show it
bench-html: browser-deps venv build/bench/2400calls-2.5s.pcap
	$(BIN)/python bench/run.py --html-only

$(ADVERSARIAL_CAPTURES): | venv
	@[ "$$(id -u)" = 0 ] || { echo "building the bench captures needs root: sudo make bench"; exit 1; }
	$(BIN)/python bench/capture.py $@ --calls 200000 $(if $(findstring sdp,$@),--invites-with-sdp,--invites-only)

build/bench/600k.pcap build/bench/600calls-40s.pcap build/bench/2400calls-2.5s.pcap build/bench/2400calls-10s.pcap: | venv
	@[ "$$(id -u)" = 0 ] || { echo "building the bench captures needs root: sudo make bench"; exit 1; }
	$(BIN)/python bench/capture.py $@ $(if $(findstring 40s,$@),--calls 600 --seconds 40,$(if $(findstring 2400calls-2.5,$@),--calls 2400 --seconds 2.5,$(if $(findstring 2400calls-10,$@),--calls 2400 --seconds 10)))

# hand-labelled public captures (not part of make test): prints every disagreement, then
# "unlabelled fails: N" and "N/M labels agree"
LABELLED ?= ../shared/corpus-labelled
realworld: tshark-deps venv
	@[ -f $(LABELLED)/labels.tsv ] || { echo "no labelled corpus at $(LABELLED) (set LABELLED=DIR)"; exit 1; }
	$(BIN)/python $(LABELLED)/grade.py $(LABELLED)/labels.tsv $(LABELLED) --sipdiag $(BIN)/sipdiag --min 0

install-plugin: tshark-deps venv
	$(BIN)/sipdiag install-plugin

uninstall-plugin: venv
	$(BIN)/sipdiag install-plugin --uninstall

docs: venv
	$(BIN)/python -m sipdiag_post.docs > docs/rules.md
	$(BIN)/python -m sipdiag_post.docs cli > docs/cli.md

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
