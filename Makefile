# The two commands of hubshift: `make demo` and `make test`. Both build .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.hubshift-installed

.PHONY: demo test lint install clean demo-stop

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[test]"
	# The hubs hubshift starts in the demo and the tests need JupyterHub's proxy.
	npm install --prefix $(VENV) --no-audit --no-fund --loglevel=error configurable-http-proxy@4
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/hubshift demo

demo-stop: $(STAMP)
	$(BIN)/hubshift demo --stop

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .demo .cache
