# ticketloop — the two commands a new user needs are `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SERVICES := intake routing sla feedback retrospective workspace
PACKAGES := shared $(addprefix services/,$(SERVICES)) services/slarules services/emailgw deploy/embedded
STAMP := $(VENV)/.installed
# The browser tests drive Debian's Chromium (never a browser build Playwright would download).
CHROMIUM := $(or $(TICKETLOOP_CHROMIUM),/usr/bin/chromium)
# Parallel test workers: most of a test's time is spent waiting (a consumer joining its group, a
# service starting), so more workers than cores pay (a run on 2 cores used 1.2 of them with 4).
# Each worker has its own PostgreSQL and broker.
TEST_WORKERS ?= 5
XDIST := -n $(TEST_WORKERS) --dist loadgroup

.PHONY: install lock chromium run test test-unit test-integration test-e2e test-browser test-contract test-deploy test-fuzz fuzz dashboard-screenshot workspace-screenshots lint typecheck format bench bench-sla bench-idle bench-floor bench-review bench-workspace bench-webhooks chaos token clean

# Two steps: every third-party package exactly as locked, each file checked against its hash,
# then the repository's own packages, editable and without dependencies (the lock has them all);
# `pip check` fails when a pyproject.toml asks for something the lock does not hold.
$(STAMP): requirements.lock $(addsuffix /pyproject.toml,$(PACKAGES))
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation \
		$(foreach p,$(PACKAGES),-e '$(p)')
	$(BIN)/pip check
	touch $(STAMP)

install: $(STAMP) ## install everything into .venv

lock: install ## regenerate requirements.lock (every package pinned, with hashes) from requirements.in
	CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links --no-emit-trusted-host --output-file requirements.lock requirements.in

chromium: ## Debian's chromium package for the browser tests, installed with apt-get only when missing
	@if [ ! -x "$(CHROMIUM)" ]; then \
		if ! command -v apt-get >/dev/null; then \
			echo "The browser tests need Chromium at $(CHROMIUM) and there is no apt-get to install it:" \
				"install Chromium and set TICKETLOOP_CHROMIUM to its binary." >&2; exit 1; \
		fi; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; \
		elif command -v sudo >/dev/null; then SUDO=sudo; \
		else echo "The browser tests need Chromium: run 'apt-get install chromium' as root (no sudo here)." >&2; exit 1; fi; \
		echo "Installing Debian's chromium for the browser tests"; \
		$$SUDO apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null && \
		test -x "$(CHROMIUM)" || { echo "apt-get ran but $(CHROMIUM) is still missing" >&2; exit 1; }; \
	fi

run: install ## run the whole system on embedded PostgreSQL + Tansu (Ctrl-C stops it)
	$(BIN)/ticketloop run

test: install lint typecheck chromium ## lint, type-check and run every test tier, in parallel workers
	$(BIN)/pytest $(XDIST) --durations=25

test-unit: install
	$(BIN)/pytest $(XDIST) tests/unit

test-integration: install
	$(BIN)/pytest $(XDIST) tests/integration

test-e2e: install
	$(BIN)/pytest $(XDIST) tests/e2e

test-browser: install chromium ## the dashboard and the workspace in a headless Chromium
	$(BIN)/pytest tests/browser

dashboard-screenshot: install chromium ## refresh docs/dashboard.png from the browser test's demo weeks
	TICKETLOOP_DASHBOARD_SCREENSHOT=docs/dashboard.png $(BIN)/pytest tests/browser/test_dashboard.py

workspace-screenshots: install chromium ## refresh docs/workspace-my-work.png and docs/workspace-ticket.png from the browser test
	TICKETLOOP_WORKSPACE_SCREENSHOTS=docs $(BIN)/pytest tests/browser/test_workspace.py

test-contract: install ## producers' sample events through every consumer, and the published catalog
	$(BIN)/pytest $(XDIST) tests/contract

test-deploy: install ## the deployment artefacts: kustomize output against the Kubernetes schemas, compose, alert rules, dashboard
	$(BIN)/pytest tests/deploy tests/unit/test_deployment.py

test-fuzz: install ## the property-based fuzz tier alone (TICKETLOOP_FUZZ_CASES per service, default 100)
	$(BIN)/pytest tests/fuzz

fuzz: install ## a long fuzz run: 10000 generated requests per service, with progress and per-service counts of 5xx and schema violations (about 11 min on 2 cores)
	TICKETLOOP_FUZZ_CASES=10000 $(BIN)/pytest tests/fuzz --timeout=0

lint: install ## ruff, and the architecture's import contracts ([tool.importlinter] in pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install ## measure the loop's latency on the embedded stack
	$(BIN)/python -m ticketloop_embedded bench

bench-sla: install ## a million open SLA clocks: load time, breach lateness, burst rate, missed/doubled, RSS
	$(BIN)/python -m ticketloop_embedded bench-sla

bench-webhooks: install ## webhook deliveries: deliveries/s, event -> delivered p99, a 60 s receiver outage (OUTAGE=600), CPU per ticket
	$(BIN)/python -m ticketloop_embedded bench-webhooks --outage $(or $(OUTAGE),60)

bench-idle: install ## the whole embedded stack's CPU with no traffic: share of one core over 60 s, per process
	$(BIN)/python -m ticketloop_embedded bench-idle

bench-floor: install ## the event backbone alone (outbox, relay, broker, inbox; no service logic): CPU per event, the floor per ticket
	$(BIN)/python -m ticketloop_embedded bench-floor

bench-review: install ## weekly and monthly reports over a million tickets (bulk-loaded): latency against 500 ms
	$(BIN)/python -m ticketloop_embedded bench-review

bench-workspace: install ## the staff workspace: pages and searches over 10,000 open tickets, 200 live connections at 50 tickets/s
	$(BIN)/python -m ticketloop_embedded bench-workspace $(BENCH_WORKSPACE_ARGS)

chaos: install ## SIGKILL each service, stop PostgreSQL 60 s, replace the broker, under load; again with intake and routing x2 (CHAOS_REPLICAS); print the counts
	$(BIN)/python -m ticketloop_embedded chaos $(CHAOS_ARGS)
	$(BIN)/python -m ticketloop_embedded chaos --replicas $(or $(CHAOS_REPLICAS),intake=2,routing=2) $(CHAOS_ARGS)

token: install ## print a bearer token: make token ROLE=agent SUB=agent-fin-1 DEPARTMENT=finance
	$(BIN)/ticketloop token --role $(or $(ROLE),agent) --sub $(or $(SUB),dev-agent) $(if $(DEPARTMENT),--department $(DEPARTMENT))

clean:
	rm -rf $(VENV) .ticketloop .pytest_cache .mypy_cache .ruff_cache
