# actcmp front door. `make sweep` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# CPU build by default; GPU users: make install TORCH_SPEC='torch==2.5.1' TORCH_ARGS='--index-url https://download.pytorch.org/whl/cu124'
TORCH_SPEC ?= torch==2.13.0
TORCH_ARGS ?=
JOBS ?= 2
# optional extras beside dev; CI adds ray so the cluster tests run (make test EXTRAS=dev,ray)
EXTRAS ?= dev
comma := ,
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: install test test-fast sweep report claims bench lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check $(TORCH_ARGS) '$(TORCH_SPEC)'
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP)

test: install
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow"

sweep: install
	$(PY) -m actcmp run experiments/default.toml --jobs $(JOBS)
	$(PY) -m actcmp report results/default

report: install
	$(PY) -m actcmp report results/default

claims: install
	$(PY) -m actcmp claims --jobs $(JOBS)

bench: install
	$(PY) benchmarks/bench.py

lint: install
	$(PY) -m ruff check actcmp tests benchmarks
	$(PY) -m ruff format --check actcmp tests benchmarks
	$(PY) -m mypy actcmp

clean:
	rm -rf $(VENV) results/*/ .pytest_cache
