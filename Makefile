VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.ferry-installed

.PHONY: demo test lint setup clean chromium

setup: $(STAMP)

# One install for demo and test: ferry with every runtime, and the dev tools.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

test: $(STAMP) chromium
	$(PY) -m ruff check src tests benchmarks examples
	$(PY) -m pytest -n 2 -q tests

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks examples

# The HTML report test renders the report in Debian's headless Chromium (CI runs as root). Without apt the test
# fails with a message saying how to install it, rather than skipping.
chromium:
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "make: could not install chromium (apt-get as root needed); the HTML report test will fail"

clean:
	rm -rf $(VENV) .pytest_cache
