# georeg: `make demo` serves the API with the Anxi data; `make test` runs the tests.
# Both install what is missing first (Debian packages, a virtualenv with the project).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
GEOREG := $(BIN)/georeg
PG_BIN := /usr/lib/postgresql/15/bin
POSTGIS_CONTROL := /usr/share/postgresql/15/extension/postgis.control
SEED ?= 2023
DEB_PACKAGES := postgresql-15 postgresql-15-postgis-3 postgresql-contrib
# the map pages' browser tests: headless Chromium, and CJK fonts for legible screenshots
BROWSER_PACKAGES := chromium chromium-driver fonts-noto-cjk

.PHONY: setup system-packages map-assets demo serve test bench fuzz lint clean db-down

setup: system-packages $(VENV)/.installed map-assets

# Debian packages: PostgreSQL 15 + PostGIS 3. As root apt runs directly (CI, fresh machines);
# an ordinary user is asked for sudo only when something is missing.
system-packages:
	@if [ ! -x $(PG_BIN)/initdb ] || [ ! -f $(POSTGIS_CONTROL) ]; then \
	  echo "安装 Debian 软件包：$(DEB_PACKAGES)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    $(DEB_PACKAGES) >/dev/null; \
	fi
	@if ! dpkg -s $(BROWSER_PACKAGES) >/dev/null 2>&1 || [ ! -x /usr/bin/chromium ]; then \
	  echo "安装 Debian 软件包：$(BROWSER_PACKAGES)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    $(BROWSER_PACKAGES) >/dev/null; \
	fi

# Leaflet, its plugins and their CSS for the map pages (no CDN): npm tarballs pinned by version
# and sha512 in maps/assets.lock.json, unpacked into the venv; installed packages are skipped.
map-assets: $(VENV)/.installed
	@$(BIN)/python -m maps.assets install --quiet

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

demo: setup
	$(GEOREG) db up
	$(GEOREG) migrate
	$(GEOREG) load anxi-2023
	$(GEOREG) demo-accounts
	$(GEOREG) demo-data --seed $(SEED)
	@echo "演示账号：admin、county01、clerk01、col05 及 24 个乡镇账号（如 cnx05），密码：$${GEOREG_DEMO_PASSWORD:-georeg-demo}"
	$(GEOREG) serve

serve: setup
	$(GEOREG) serve

# The layer contract and ruff first: a wrong-direction import fails before the slow tests run.
test: setup lint
	$(BIN)/pytest -q

bench: setup
	$(BIN)/python -m bench

# schemathesis against the API on loopback (its own throwaway cluster with the demo data),
# as admin and as a township account; prints requests and server errors, fails on any 5xx.
# Not part of `make test`: about 20 minutes. FUZZ_ARGS="--max-examples 20 --max-time 120".
fuzz: setup
	$(BIN)/python -m tests.fuzz $(FUZZ_ARGS)

# ruff, and import-linter's layer contract (pyproject [tool.importlinter]: cli → api → maps →
# importers → grids → georeg; a module imports only from its own layer or below).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports

db-down:
	$(GEOREG) db down

clean: db-down
	rm -rf .georeg $(VENV)
