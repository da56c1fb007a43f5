# One task runner for the habits CI checks. `make help` lists the targets.
# Everything runs from the project's virtual environment (.venv): `make venv` makes it.
PY ?= .venv/bin/python
BIN := $(dir $(PY))

.PHONY: help venv lint format type imports check test test-fast proto bench demo screenshots

help:  ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

venv:  ## a .venv with the package and every dev tool
	python3 -m venv .venv && .venv/bin/pip install -q -e '.[dev]'

lint:  ## ruff (lint and format check) and the import contract of DESIGN §9
	$(BIN)ruff check .
	$(BIN)ruff format --check .
	$(BIN)lint-imports

format:  ## apply ruff's fixes and formatting
	$(BIN)ruff check --fix .
	$(BIN)ruff format .

type:  ## mypy with check_untyped_defs (generated tracesvc/v1 excluded)
	$(BIN)mypy

imports:  ## the import contract alone
	$(BIN)lint-imports

check: lint type  ## everything CI checks besides the tests

test:  ## the whole suite (real PostgreSQL, real gRPC servers)
	$(BIN)pytest

test-fast:  ## unit tests and the integration tests not marked slow
	$(BIN)pytest -m "not slow"

proto:  ## regenerate tracesvc/v1 from proto/ (never edit the generated code)
	$(PY) scripts/gen_protos.py

bench:  ## the benchmark scripts at a quick size (figures: BENCHMARKS.md)
	$(PY) benchmarks/ingest.py --boxes 5000
	$(PY) benchmarks/verify.py --boxes 2000 --seconds 4
	$(PY) benchmarks/reconcile.py --events 100000

demo:  ## the README's main job: the service on an embedded PostgreSQL, driven by a demo
	$(BIN)tracesvc demo

screenshots:  ## the console's pages in Chromium, copied to docs/screenshots for the README
	$(BIN)pytest -q tests/integration/test_console_browser.py
	cp build/screenshots/*.png docs/screenshots/
