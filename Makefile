# Two commands set everything up on a fresh machine:
#   make run   - virtual environment, install, start the server on embedded defaults
#   make test  - install what the tests need, run them
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

run: $(VENV)/.installed
	$(VENV)/bin/sparky serve

test: $(VENV)/.installed-test
	PY=$(PY) scripts/test.sh $(PYTEST_ARGS)

# paper venue in-process, the minimal app, then Sparky against the Aster simulator over HTTP (~4 min)
bench: $(VENV)/.installed-test
	scripts/wrk-for-bench.sh
	$(PY) bench/webhook_latency.py --count 300 --seconds 5
	$(PY) bench/venue_http.py --seconds 10 --count 50 --users 300
	$(PY) bench/monitor_prices.py --users 200 --positions 1000 --latency 50 --cycles 2
	$(PY) bench/monitor_reconcile.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
