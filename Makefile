# The two commands a newcomer needs: `make demo` and `make test`.
# Both create .venv and install the project from pyproject.toml on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_PORT ?= 8765
CONSOLE_URL := http://127.0.0.1:8088

.PHONY: demo test test-packages lint format bench soak clean venv

venv: $(STAMP)

# uv installs what pyproject.toml names, as pip would, in 3 s where pip takes 20: a
# clean clone (CI) pays for the virtualenv on every run. The system's pip (22.3 or
# newer) only brings uv in; uv puts pip in the virtualenv with the rest, which spares
# venv's own pip install (3 s).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv --without-pip $(VENV)
	$(PYTHON) -m pip --python $(BIN)/python install --quiet "uv>=0.5"
	UV_LINK_MODE=copy $(BIN)/uv pip install --quiet --python $(BIN)/python -e ".[dev]" pip
	touch $(STAMP)

## Run the daemon and the web console against the built-in simulator (demo scenario),
## with SQLite in ./var.
demo: $(STAMP)
	@mkdir -p var
	@$(BIN)/p2pilot simulate --port $(DEMO_PORT) --scenario demo \
		--notify-url http://127.0.0.1:8766/v1/notifications --notify-token demo-phone-token \
		>var/simulator.log 2>&1 & sim=$$!; \
	$(BIN)/p2pilot --config config/demo.toml console --wait 60 >var/console.log 2>&1 & web=$$!; \
	trap 'kill $$sim $$web 2>/dev/null; wait $$sim $$web 2>/dev/null' EXIT; \
	trap 'exit 0' INT TERM; \
	$(BIN)/python -m p2pilot.simulator.wait http://127.0.0.1:$(DEMO_PORT) 10 || { cat var/simulator.log; exit 1; }; \
	echo "simulator on http://127.0.0.1:$(DEMO_PORT) (log: var/simulator.log)"; \
	echo "console on $(CONSOLE_URL)  log in as demo / demo-password (log: var/console.log)"; \
	echo "Ctrl-C stops all three"; \
	$(BIN)/p2pilot --config config/demo.toml run

## The whole test suite (SQLite and PostgreSQL), in two phases. First every test not
## marked `serial`, spread over TEST_WORKERS processes (end-to-end tests mostly wait on
## ticks, so more workers than cores pays; at six both cores are busy and a seventh
## gains nothing), the long ones started first (`slow`, tests/conftest.py). Then the
## `serial` ones, each on a worker of its own and nothing else running: they count
## calls per second as the exchange does, on arrival, which a machine busy with the
## first phase can bunch, and they are light. Both phases always run; a failure in
## either fails it.
TEST_WORKERS ?= 6
# The second phase collects only the files that hold serial tests: collecting the whole
# suite on four fresh workers took 4 of its 17 s.
SERIAL_FILES = $$(grep -rl --include='*.py' 'mark\.serial' tests)
# Bytecode cached in __pycache__ (ignored by git), whatever the environment says: every
# worker and every process a test starts would otherwise compile p2pilot again.
test: export PYTHONDONTWRITEBYTECODE =
test: $(STAMP) test-packages
	@status=0; \
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist load --maxschedchunk 1 -m "not serial" || status=$$?; \
	$(BIN)/python -m pytest -q -n 4 --dist load --maxschedchunk 1 -m serial $(SERIAL_FILES) \
		|| { [ $$status -ne 0 ] || status=$$?; }; \
	exit $$status

## System packages the tests run for real: Dovecot (the receipt-mailbox tests start their
## own) and Debian's headless Chromium with its driver (the console's browser tests).
test-packages:
	@test -x /usr/sbin/dovecot || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y dovecot-imapd; }
	@test -x /usr/bin/chromium || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Benchmarks against the simulator; they print figures (see bench/RESULTS.md).
bench: $(STAMP)
	$(BIN)/python bench/reply_latency.py --orders 40
	$(BIN)/python bench/release_latency.py
	$(BIN)/python bench/peer_pattern.py
	$(BIN)/python bench/tick_cpu.py --db sqlite
	$(BIN)/python bench/tick_cpu.py --db postgresql
	$(BIN)/python bench/console.py --db sqlite
	$(BIN)/python bench/console.py --db postgresql

## The 30-minute accelerated soak (resident memory over 10,000 orders).
soak: $(STAMP)
	$(BIN)/python bench/soak.py

clean:
	rm -rf $(VENV) var build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
