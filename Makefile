# The README's two commands: `make demo` and `make test`. Everything they need is installed here,
# into .venv in the repository, so a fresh clone on a machine with only Python 3.11+ works.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMPS := .make-stamps
DB     ?= data/demo.duckdb
PORT   ?= 8866
LANG_UI ?= en
# Debian's Chromium; Playwright cannot download its own browser on these machines.
CHROMIUM ?= /usr/bin/chromium
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test serve install lint bench clean help

help:
	@echo "make demo   - install, generate $(DB) if missing, and serve the dashboards on port $(PORT)"
	@echo "make test   - install test dependencies and Chromium, then run the whole test suite"
	@echo "make lint   - ruff over the package and tests"
	@echo "make bench  - run the benchmarks in benchmarks/"

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "fitdata needs Python 3.11 or newer; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)

$(STAMPS)/install: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	@# rfc3987-syntax arrives through jupyter-events' jsonschema format extras and costs ~1.9 s at
	@# import in every kernel (plotly -> nbformat -> jsonschema builds its grammar). Nothing fitdata
	@# runs validates IRIs; removing it halves page render time (see README, "Performance").
	$(PY) -m pip uninstall --quiet --yes rfc3987-syntax
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/test-install: $(STAMPS)/install
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m pip uninstall --quiet --yes rfc3987-syntax
	@mkdir -p $(STAMPS) && touch $@

install: $(STAMPS)/install

$(DB): | $(STAMPS)/install
	$(VENV)/bin/fitdata demo --out $(DB)

demo: $(STAMPS)/install $(DB)
	$(VENV)/bin/fitdata serve --db $(DB) --port $(PORT) --lang $(LANG_UI)

serve: demo

chromium:
	@if [ -x "$(CHROMIUM)" ]; then echo "Chromium: $(CHROMIUM)"; else \
	  echo "Installing Debian's chromium for the browser tests"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium; fi

# JupyterHub's proxy for tests/browser/test_jupyterhub.py, pinned in .tools/package-lock.json
# (Node.js >= 18: Debian's own nodejs is enough).
$(STAMPS)/node-tools: .tools/package-lock.json
	@command -v npm >/dev/null || { echo "Installing Debian's nodejs and npm for JupyterHub's proxy"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends nodejs npm; }
	npm ci --prefix .tools --no-audit --no-fund --loglevel=error
	@mkdir -p $(STAMPS) && touch $@

test: $(STAMPS)/test-install $(STAMPS)/node-tools chromium
	FITDATA_CHROMIUM=$(CHROMIUM) $(PY) -m pytest

lint: $(STAMPS)/test-install
	$(VENV)/bin/ruff check fitdata tests benchmarks

bench: $(STAMPS)/test-install chromium
	FITDATA_CHROMIUM=$(CHROMIUM) $(PY) -m benchmarks.all

clean:
	rm -rf $(STAMPS) test-artifacts .pytest_cache .tools/node_modules
