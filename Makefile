# Two commands set everything up on a fresh machine:
#   make run   - virtual environment, install, start the server on embedded defaults
#   make test  - install what the tests need, run them
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test lint bench lock clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# the exact versions of requirements.lock (scripts/lock.sh writes it), then Sparky itself without
# resolving anything again: every install gets the same packages
$(VENV)/.installed: pyproject.toml requirements.lock | $(VENV)/bin/python
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml requirements-test.lock $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-test.lock
	touch $@

run: $(VENV)/.installed
	$(VENV)/bin/sparky serve

test: $(VENV)/.installed-test
	PY=$(PY) scripts/test.sh $(PYTEST_ARGS)

# what `make test` runs before the tests: ruff, mypy (pyproject.toml), the wheel built with the oldest
# setuptools pyproject.toml allows
lint: $(VENV)/.installed-test
	PY=$(PY) scripts/lint.sh

# after changing the dependencies in pyproject.toml
lock:
	scripts/lock.sh

# paper venue in-process, the minimal app, then Sparky against the Aster simulator over HTTP (~4 min)
bench: $(VENV)/.installed-test
	scripts/wrk-for-bench.sh
	$(PY) bench/webhook_latency.py --count 300 --seconds 5
	$(PY) bench/venue_http.py --seconds 10 --count 50 --users 300
	$(PY) bench/monitor_prices.py --users 200 --positions 1000 --latency 50 --cycles 2
	$(PY) bench/monitor_reconcile.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
