# Two commands do everything on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# .python-version makes pyenv resolve python3.13 inside the repository (the Lambda runtime's version).
PYTHON ?= python3.13
VENV := .venv
SAM_VENV := .venv-sam
BIN := $(VENV)/bin
ASL := statemachine/rotation.asl.json
EVENT ?= events/dry-run.json
# sam validate wants a region and credentials to exist; these fake ones reach no account.
SAM_ENV := AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 \
	AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null SAM_CLI_TELEMETRY=0

.PHONY: help setup demo run test lint validate unit lock clean

help:
	@echo "make demo    run the real state machine end to end in the offline sandbox"
	@echo "make test    every check: lint, template and ASL validation, tests with coverage"
	@echo "make run EVENT=events/<file>.json   run one input file in the sandbox"

$(VENV)/.installed: requirements-dev.txt functions/requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.13 (pyenv install 3.13)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# aws-sam-cli pins an older boto3, so it lives in a virtualenv of its own.
$(SAM_VENV)/.installed: requirements-sam.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.13 (pyenv install 3.13)"; exit 1; }
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	touch $@

setup: $(VENV)/.installed $(SAM_VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/python -m sandbox.demo

run: $(VENV)/.installed
	$(BIN)/python -m sandbox.run $(EVENT)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

validate: setup
	$(BIN)/cfn-lint template.yaml
	$(SAM_ENV) $(SAM_VENV)/bin/sam validate --lint --template template.yaml
	$(SAM_ENV) $(SAM_VENV)/bin/sam validate --region us-east-1 --template template.yaml
	$(BIN)/statelint --ignore=URI $(ASL)

unit: $(VENV)/.installed
	$(BIN)/python -m pytest

test: lint validate
	$(BIN)/python -m pytest -n 2 --cov --cov-report=term-missing

# Re-freeze requirements-dev.txt after editing requirements-dev.in.
lock:
	rm -rf /tmp/lock-venv && $(PYTHON) -m venv /tmp/lock-venv
	/tmp/lock-venv/bin/pip install --quiet -r requirements-dev.in
	{ echo "# Frozen from requirements-dev.in by \`make lock\`; edit the .in file, not this one."; \
	  /tmp/lock-venv/bin/pip freeze; } > requirements-dev.txt
	rm -rf /tmp/lock-venv

clean:
	rm -rf $(VENV) $(SAM_VENV) .pytest_cache .ruff_cache .hypothesis .coverage .aws-sam
