# accessdrift: make install | demo | test | bench
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install lint typecheck unit test test-faults demo demo-raw bench bench-soak kafka-up kafka-down clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "accessdrift needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest tests/unit

# Every test, the real-Kafka integration tests included. Leaves the local broker
# running for the next run; `make kafka-down` stops it.
test: install lint typecheck kafka-up
	$(BIN)/pytest

# Faults injected into a running deployment (crashes, broker failures in a 3-node
# cluster, sink outages, rebalances), each judged against the simulator's truth.
test-faults: install kafka-up
	$(BIN)/pytest -s -p no:cacheprovider tests/faults

kafka-up: install
	$(BIN)/accessdrift kafka up

kafka-down: install
	$(BIN)/accessdrift kafka down

demo: install kafka-up
	$(BIN)/python -m accessdrift.demo

demo-raw: install kafka-up
	$(BIN)/python -m accessdrift.demo --raw

bench: install kafka-up
	$(BIN)/python -m bench.run

# Long (about an hour on 2 cores): 10 million events, 100,000 identities, 30 days.
bench-soak: install kafka-up
	$(BIN)/python -m bench.soak

clean:
	-$(BIN)/accessdrift kafka down
	rm -rf $(VENV) .accessdrift .mypy_cache .ruff_cache .pytest_cache
