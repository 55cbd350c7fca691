# The README's commands. Each target installs what it needs into .venv first, so both work
# on a fresh machine with only Python 3.11+ (and Go, for the control-plane tier).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo demo-live test test-unit lint typecheck bench cluster clean

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/aegis demo

# The whole story on a real control plane: builds it first if the cache is empty (~10 min once).
demo-live: $(STAMP)
	bash tests/cluster/build.sh
	$(BIN)/aegis demo --live

test: $(STAMP)
	$(BIN)/python -m pytest

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

build/typing/aegis:
	mkdir -p build/typing/aegis
	ln -sfn ../../../core build/typing/aegis/core
	ln -sfn ../../../bot build/typing/aegis/bot

lint: $(STAMP)
	$(BIN)/ruff check core bot tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP) build/typing/aegis
	MYPYPATH=build/typing $(BIN)/mypy -p aegis.core -p aegis.bot

bench: $(STAMP)
	$(BIN)/python bench/diagnosis.py

cluster:
	bash tests/cluster/build.sh

clean:
	rm -rf $(VENV) build .mypy_cache .ruff_cache .pytest_cache
