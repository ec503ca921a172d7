# faxcore: set-up, tests, demo and benchmarks on a fresh machine.
#   make demo   - create .venv, build, run the main job on built-in sample input
#   make test   - same set-up, install test peers (as root), ruff, the whole suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.faxcore-installed
PYTEST_ARGS ?=

.PHONY: all venv build peers test lint demo bench bench-codec bench-modems bench-calls bench-accounts clean

all: build

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip "setuptools>=77" wheel "Cython>=3.0" "numpy>=1.26"

$(STAMP): pyproject.toml setup.py | $(PY)
	$(PY) -m pip install -q --no-build-isolation -e '.[test]'
	touch $@

venv: $(STAMP)

# Rebuilds only the .pyx files that changed since the last build.
build: $(STAMP)
	$(PY) setup.py -q build_ext --inplace -j 2
	$(PY) -c "import faxcore"

peers:
	bash scripts/install-peers.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: build peers lint
	bash scripts/run-tests.sh $(PY) $(PYTEST_ARGS)

demo: build
	$(PY) -m faxcore demo

# Each benchmark runs its peer (libtiff, spandsp, PostgreSQL) in the same run and prints ratios.
bench: bench-codec bench-modems bench-calls bench-accounts

bench-codec: build peers
	$(PY) benchmarks/codec.py

bench-modems: build peers
	$(PY) benchmarks/modems.py

bench-calls: build peers
	$(PY) benchmarks/calls.py

bench-accounts: build peers
	$(PY) benchmarks/accounts.py

clean:
	rm -rf build $(VENV) faxcore/**/*.so faxcore/**/*.c
