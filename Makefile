# Two entry points: `make demo` runs the main job, `make test` the whole suite.
# Each sets up what it needs first, and does nothing twice.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/scenegraph demo

test: $(STAMP)
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .scenegraph
