# Two entry points: `make demo` runs the main job, `make test` the whole suite.
# Each sets up what it needs first and skips what is already done.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# Exact versions and hashes of everything installed (the test extra, Python 3.11, Linux x86_64).
LOCK := requirements.lock
UV_VERSION := 0.13.9
LAUNCHER := tests/neo4j/target/neo4j-launcher.jar
LAUNCHER_SOURCES := tests/neo4j/pom.xml $(shell find tests/neo4j/src -type f 2>/dev/null)

.PHONY: demo test lint lock bench setup browser web clean

demo: $(STAMP)
	$(VENV)/bin/scenegraph demo

test: setup lint
	$(PY) -m pytest

# Static checks of the package: ruff's lint rules and format, and mypy (pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check scenegraph
	$(VENV)/bin/ruff format --check scenegraph
	$(VENV)/bin/mypy

# Random exploration with the property tests: many fresh examples each run (Hypothesis's
# `explore` profile, tests/conftest.py); `make test` and CI run the fixed `ci`/`dev` ones.
# CI is cleared so that CI=true cannot swap the profile back to `ci`.
.PHONY: explore
explore: $(STAMP)
	CI= HYPOTHESIS_PROFILE=explore $(PY) -m pytest --timeout 3600 tests/test_corpus_property.py

bench: setup
	$(PY) bench/run_all.py

setup: $(STAMP) $(LAUNCHER) browser web

# Everything from the lock, hash-checked (pip and setuptools too); then the package itself,
# built with that setuptools.
$(STAMP): $(LOCK) pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Re-resolve the lock after a change to pyproject.toml, keeping the versions it has where they
# still fit; `make lock LOCK_FLAGS=--upgrade` moves everything to the newest. uv does it.
lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet uv==$(UV_VERSION)
	$(PY) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], "pip", sep="\n")' \
	  | $(VENV)/bin/uv pip compile --quiet pyproject.toml - --extra test --generate-hashes \
	      --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
	      --custom-compile-command 'make lock' $(LOCK_FLAGS) -o $(LOCK)

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
	rm -rf $(VENV) .scenegraph .mypy_cache .ruff_cache tests/neo4j/target web/node_modules scenegraph/web/static/dist
