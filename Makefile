# Canopée Esprit Client — operator interface (see README.md and docs/DEVELOPMENT.md)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help install infra-up infra-down infra-status topics lint typecheck test test-unit bench up down schemas clean

help:
	@echo "make up          install, start infrastructure and every service, feed demo traffic, print URLs"
	@echo "make down        stop everything make up started"
	@echo "make test        install, start what the tests need, run lint, type checks and the whole suite"
	@echo "make infra-up    start Kafka (KRaft) and the MongoDB-wire store (FerretDB) locally"
	@echo "make infra-down  stop them"
	@echo "make bench       run the benchmarks and print figures"

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

infra-up:
	bash deploy/local/infra.sh up

infra-down:
	bash deploy/local/infra.sh down

infra-status:
	bash deploy/local/infra.sh status

topics: install
	$(VENV)/bin/canopee topics create

schemas: install
	$(VENV)/bin/canopee events schemas

lint: install
	$(VENV)/bin/ruff check shared services tests bench
	$(VENV)/bin/ruff format --check shared services tests bench

typecheck: install
	$(VENV)/bin/mypy

test: install tools infra-up lint typecheck
	$(PY) -m pytest

test-unit: install
	$(PY) -m pytest -m "not integration and not e2e"

bench: install infra-up
	$(PY) -m bench

tools:
	bash deploy/local/tools.sh

clean:
	rm -rf $(VENV) .local/run

up: install infra-up
	bash deploy/local/up.sh

down:
	-bash deploy/local/down.sh
	bash deploy/local/infra.sh down
