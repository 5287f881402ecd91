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

.PHONY: setup system-packages demo serve test bench lint clean db-down

setup: system-packages $(VENV)/.installed

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

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

demo: setup
	$(GEOREG) db up
	$(GEOREG) migrate
	$(GEOREG) load anxi-2023
	$(GEOREG) demo-data --seed $(SEED)
	@echo "演示账号：admin 及 24 个乡镇账号（如 cnx05），密码：$${GEOREG_DEMO_PASSWORD:-georeg-demo}"
	$(GEOREG) serve

serve: setup
	$(GEOREG) serve

test: setup
	$(BIN)/pytest -q

bench: setup
	$(BIN)/python -m bench

lint: setup
	$(BIN)/ruff check .

db-down:
	$(GEOREG) db down

clean: db-down
	rm -rf .georeg $(VENV)
