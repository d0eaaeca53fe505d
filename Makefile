# Two entry points: `make demo` runs the main job, `make test` the whole suite.
# Each sets up what it needs first and skips what is already done.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
LAUNCHER := tests/neo4j/target/neo4j-launcher.jar
LAUNCHER_SOURCES := tests/neo4j/pom.xml $(shell find tests/neo4j/src -type f 2>/dev/null)

.PHONY: demo test bench setup browser web clean

demo: $(STAMP)
	$(VENV)/bin/scenegraph demo

test: setup
	$(PY) -m pytest

bench: setup
	$(PY) bench/run_all.py

setup: $(STAMP) $(LAUNCHER) browser web

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The Neo4j 5.26 test server (tests/neo4j): built with Maven, run with java -jar.
$(LAUNCHER): $(LAUNCHER_SOURCES)
	mvn -q -B -f tests/neo4j/pom.xml clean package
	touch $(LAUNCHER)

# Debian's Chromium for the browser tests (Playwright drives it; nothing is downloaded).
browser:
	bash scripts/install-browser.sh

# The explorer page, bundled from web/ with its npm lockfile.
web:
	bash scripts/build-web.sh

clean:
	rm -rf $(VENV) .scenegraph tests/neo4j/target web/node_modules scenegraph/web/static/dist
