# The two commands of hubshift: `make demo` and `make test`. Both build .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.hubshift-installed

# Test files run in parallel, each whole on one worker (module-scoped hubs keep their order).
# Most of a test's time is a hub starting or stopping, so more workers than cores pays.
TEST_WORKERS ?= 3

.PHONY: demo test lint install clean demo-stop compose-tool systemd-tool browser-tool bench \
	bench-fleet

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

test: $(STAMP) compose-tool systemd-tool browser-tool
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=25

# docker-compose.yml is checked by a real compose implementation: Debian's docker-compose.
compose-tool:
	@command -v docker-compose >/dev/null || { \
	  command -v apt-get >/dev/null && { apt-get install -y -qq --no-install-recommends \
	    docker-compose >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq \
	    --no-install-recommends docker-compose >/dev/null; }; } || \
	  echo "docker-compose not installed: the compose test will skip (or fail in CI)"; }

# The systemd runtime is tested against a real `systemd --user` manager (PID 1 need not be
# systemd): it needs systemd's binaries and unshare (util-linux).
systemd-tool:
	@{ test -x /usr/lib/systemd/systemd && command -v systemctl >/dev/null && \
	   command -v unshare >/dev/null; } || { \
	  command -v apt-get >/dev/null && { apt-get install -y -qq --no-install-recommends \
	    systemd util-linux >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq \
	    --no-install-recommends systemd util-linux >/dev/null; }; } || \
	  echo "systemd not installed: the systemd runtime tests will skip (or fail in CI)"; }

# The Prefect UI is tested in a real browser: Debian's chromium, driven by playwright (from
# the test extras), which is pointed at /usr/bin/chromium and never downloads a browser.
browser-tool:
	@command -v chromium >/dev/null || { \
	  command -v apt-get >/dev/null && { apt-get install -y -qq --no-install-recommends \
	    chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq \
	    --no-install-recommends chromium >/dev/null; }; } || \
	  echo "chromium not installed: the browser tests will skip (or fail in CI)"; }

# Downtime of hubshift against the guide's manual procedure and the floor (see README).
bench: $(STAMP)
	$(BIN)/python bench/downtime.py

# A fleet of 10 hubs: wall time against one hub's, the orchestrator's memory, Prefect's share.
bench-fleet: $(STAMP)
	$(BIN)/python bench/fleet.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .demo .cache
