# faxcore: set-up, tests, demo and benchmarks on a fresh machine.
#   make demo   - create .venv, build, run the fax service end to end (faxcore serve --demo)
#   make test   - same set-up, install test peers (as root), ruff, the whole suite, then
#                 the AddressSanitizer replay of tests/corpus (scripts/asan-replay.sh)
#   make fuzz   - bounded fuzzing of every target (FUZZ_SECONDS each, ASan build)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.faxcore-installed
PYTEST_ARGS ?=
# make fuzz: seconds per target, targets (default: all), parallel workers, 0 = normal build
FUZZ_SECONDS ?= 30
FUZZ_TARGETS ?=
FUZZ_JOBS ?= 2
FUZZ_ASAN ?= 1
# make asan / make test: generated inputs per target in the ASan replay
ASAN_COUNT ?= 3000

.PHONY: all venv build peers test lint asan fuzz demo bench bench-codec bench-modems bench-calls bench-density bench-accounts bench-network bench-service clean

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
	$(VENV)/bin/lint-imports

test: build peers lint
	ASAN_COUNT=$(ASAN_COUNT) bash scripts/run-tests.sh $(PY) $(PYTEST_ARGS)

# The ASan step of `make test` on its own: build/asan (rebuilt only where a .pyx changed),
# then the corpus and ASAN_COUNT generated inputs per target.
asan: build
	bash scripts/asan-replay.sh $(PY) --count $(ASAN_COUNT)

# Findings are saved as tests/corpus/<target>/crash-<sha1>.bin; exit status 1.
fuzz: build
ifeq ($(FUZZ_ASAN),1)
	$(PY) fuzz/asan_build.py
	$(PY) fuzz/run.py fuzz --asan build/asan --seconds $(FUZZ_SECONDS) --jobs $(FUZZ_JOBS) $(FUZZ_TARGETS)
else
	$(PY) fuzz/run.py fuzz --seconds $(FUZZ_SECONDS) --jobs $(FUZZ_JOBS) $(FUZZ_TARGETS)
endif

demo: build
	$(PY) -m faxcore serve --demo

# Each benchmark runs its peer (libtiff, spandsp, PostgreSQL) in the same run and prints ratios.
bench: bench-codec bench-modems bench-calls bench-density bench-accounts bench-network bench-service

bench-codec: build peers
	$(PY) benchmarks/codec.py

bench-modems: build peers
	$(PY) benchmarks/modems.py

bench-calls: build peers
	$(PY) benchmarks/calls.py

bench-accounts: build peers
	$(PY) benchmarks/accounts.py

# channels per core in real time, faxcore vs spandsp (ctypes and pure C) in the same run
bench-density: build peers
	$(PY) benchmarks/density.py

# T.38 terminal vs spandsp's, UDPTL/IFP codec, G.711-over-RTP overhead, SIP transactions/s
bench-network: build peers
	$(PY) benchmarks/t38.py
	$(PY) benchmarks/t38_codec.py
	$(PY) benchmarks/spandsp_t38.py
	$(PY) benchmarks/rtp.py
	$(PY) benchmarks/sip.py

# faxcore serve: API latency and jobs/s, SQLite vs PostgreSQL, 1 and 4 workers
bench-service: build peers
	$(PY) benchmarks/service.py

clean:
	rm -rf build $(VENV) faxcore/**/*.so faxcore/**/*.c
