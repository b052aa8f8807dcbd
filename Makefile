VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.ferry-installed

.PHONY: demo test lint setup clean

setup: $(STAMP)

# One install for demo and test: ferry with every runtime, and the dev tools.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

test: $(STAMP)
	$(PY) -m ruff check src tests benchmarks examples
	$(PY) -m pytest -n 2 -q tests

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks examples

clean:
	rm -rf $(VENV) .pytest_cache
