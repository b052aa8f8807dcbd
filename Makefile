VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.ferry-installed

.PHONY: demo test test-py lint setup clean chromium

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

# The suite on another Python, in its own venv: make test-py PY=python3.12 (or python3.13). On 3.12 and 3.13 pip
# takes torch's CUDA build from PyPI (the CPU wheel on disk is for 3.11), and the triton it brings makes
# `import coremltools` beside TensorFlow segfault; ferry runs torch on the CPU and never needs triton, so it goes.
TEST_VENV = .venv-$(notdir $(PY))
test-py: chromium
	@case "$(PY)" in $(VENV)/bin/python) echo "make test-py PY=python3.12: name the interpreter"; exit 2;; esac
	test -x $(TEST_VENV)/bin/python || $(PY) -m venv $(TEST_VENV)
	$(TEST_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(TEST_VENV)/bin/python -m pip install --quiet -e '.[all,dev]'
	$(TEST_VENV)/bin/python -m pip uninstall --quiet -y triton
	$(TEST_VENV)/bin/python -m ruff check src tests benchmarks examples
	$(TEST_VENV)/bin/python -m pytest -n 2 -q tests

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
