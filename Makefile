# Common tasks. `make install` needs python3.11+; torch is pinned first, the CPU build where PyTorch's index
# answers (PyPI's Linux wheel of the same version is the multi-GB CUDA one), else the plain pin from PyPI.
PY ?= .venv/bin/python
TORCH ?= torch==2.13.0
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: install test test-fast lint bench
install:
	python3 -m venv .venv
	.venv/bin/pip install --timeout 10 --retries 0 $(TORCH) --index-url $(TORCH_CPU_INDEX) \
	  || .venv/bin/pip install $(TORCH)
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
