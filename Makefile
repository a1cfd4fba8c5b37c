# Common tasks. `make install` needs python3.11+; torch is pinned to the CPU build first.
PY ?= .venv/bin/python

.PHONY: install test test-fast lint bench
install:
	python3 -m venv .venv
	.venv/bin/pip install torch==2.13.0
	.venv/bin/pip install -e '.[test,dev]'

test:
	$(PY) -m pytest

test-fast:
	$(PY) -m pytest -m "not slow and not browser and not fault"

lint:
	$(PY) -m ruff check modbot tests bench
	$(PY) -m mypy modbot

bench:
	$(PY) bench/bench_patterns.py
	$(PY) bench/bench_toxicity.py
