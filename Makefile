# Canopée Esprit Client — operator interface (see README.md and docs/DEVELOPMENT.md)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# `make test` runs on its own Kafka and store (other ports, data under .local/test/, emptied when
# they start): the tests never see nor touch the data of `make up`.
TEST_INFRA := CANOPEE_INFRA_DATA=$(CURDIR)/.local/test/data CANOPEE_INFRA_RUN=$(CURDIR)/.local/test/run \
	CANOPEE_KAFKA_PORT=19092 CANOPEE_KAFKA_CONTROLLER_PORT=19093 CANOPEE_MONGO_PORT=27018 CANOPEE_KAFKA_HEAP=1g
TEST_ENV := CANOPEE_KAFKA_BOOTSTRAP=127.0.0.1:19092 CANOPEE_MONGO_URL=mongodb://127.0.0.1:27018 \
	CANOPEE_TEST_KAFKA_SASL_BOOTSTRAP=localhost:19094 CANOPEE_TEST_KAFKA_TLS_DIR=$(CURDIR)/.local/test/run/tls

# `tools` is also a folder (the operator tools' package): phony so that its recipe always runs
.PHONY: tools asyncapi-cli test-up test-scale help install infra-up infra-down infra-reset infra-status reset test-infra-up test-infra-down topics lint typecheck test test-unit bench up down schemas clean images compose-test chaos

help:
	@echo "make up          install, start infrastructure and every service, feed demo traffic, print URLs"
	@echo "make down        stop everything make up started"
	@echo "make test        install, start what the tests need, run lint, type checks and the whole suite"
	@echo "make test-up     make up from a clean clone on private ports, log in with the printed token"
	@echo "make test-scale  3 instances of each service on a 3-node cluster, kill -9 of an instance and a broker"
	@echo "make infra-up    start Kafka (KRaft) and the MongoDB-wire store (FerretDB) locally, on the data kept from the last run"
	@echo "make infra-down  stop them (their data stays)"
	@echo "make reset       stop everything and delete the local data (requests, surveys, indicators, topics)"
	@echo "make bench       run the benchmarks and print figures"
	@echo "make images      build the container images with podman, no registry needed (deploy/images/build.sh)"
	@echo "make compose-test  build them, run docker-compose.yml with podman-compose and check a simulated day"
	@echo "make chaos       the whole system on private infrastructure under load and faults, then checked, then fuzzed (docs/RELIABILITY.md)"

# requirements-dev.txt: the runtime pins (requirements.txt, what the image installs) plus the dev/test tools
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

infra-up:
	bash deploy/local/infra.sh up

# the images, with podman and no registry (deploy/images/build.sh); compose-test builds them, then runs
# docker-compose.yml with podman-compose and checks a simulated day (deploy/images/compose-test.sh)
images:
	bash deploy/images/build.sh all

compose-test: install
	bash deploy/images/compose-test.sh

infra-down:
	bash deploy/local/infra.sh down

infra-status:
	bash deploy/local/infra.sh status

infra-reset:
	bash deploy/local/infra.sh reset

reset:
	-bash deploy/local/down.sh
	bash deploy/local/infra.sh reset

test-infra-up:
	$(TEST_INFRA) bash deploy/local/infra.sh status >/dev/null || $(TEST_INFRA) bash deploy/local/infra.sh reset
	$(TEST_INFRA) bash deploy/local/infra.sh up

test-infra-down:
	$(TEST_INFRA) bash deploy/local/infra.sh down

topics: install
	$(VENV)/bin/canopee topics create

schemas: install
	$(VENV)/bin/canopee events schemas

lint: install
	$(VENV)/bin/ruff check shared services tools tests bench
	$(VENV)/bin/ruff format --check shared services tools tests bench

typecheck: install
	$(VENV)/bin/mypy

# the AsyncAPI CLI that validates docs/asyncapi.json in the tests (from the npm registry, first use only)
ASYNCAPI_CLI := .local/asyncapi/node_modules/.bin/asyncapi
$(ASYNCAPI_CLI):
	mkdir -p .local/asyncapi
	npm install --prefix .local/asyncapi --no-audit --no-fund --loglevel=error @asyncapi/cli@6.2.0

asyncapi-cli: $(ASYNCAPI_CLI)

test: install tools asyncapi-cli test-infra-up lint typecheck
	$(TEST_ENV) $(PY) -m pytest

# `make up` from a clean clone of HEAD on private ports, then the dashboard login with the printed token
test-up: install
	$(PY) -m pytest -m slow tests/e2e/test_make_up.py

# three instances of each service and a three-node cluster, kill -9 of an instance and a broker (minutes)
test-scale: install test-infra-up
	$(TEST_ENV) $(PY) -m pytest -m slow tests/e2e/test_scale_out.py

test-unit: install
	$(PY) -m pytest -m "not integration and not e2e"

bench: install infra-up
	$(PY) -m bench

# the whole system on its own infrastructure and ports (not make up's, not make test's) under load
# and faults, then checked, then the fuzzers with the full count (CANOPEE_FUZZ_CASES=10000); exit 1 on
# any difference (docs/RELIABILITY.md). Not part of make test (which runs the fuzzers small).
chaos: install tools
	$(PY) -m tools.cli chaos $(CHAOS_ARGS)

tools:
	bash deploy/local/tools.sh

clean:
	rm -rf $(VENV) .local/run

up: install infra-up
	bash deploy/local/up.sh

down:
	-bash deploy/local/down.sh
	bash deploy/local/infra.sh down
