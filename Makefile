# Two commands do everything on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# .python-version makes pyenv resolve python3.13 inside the repository (the Lambda runtime's version).
PYTHON ?= python3.13
VENV := .venv
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
BIN := $(VENV)/bin
ASL := statemachine/rotation.asl.json
FLEET_ASL := statemachine/fleet.asl.json
ASL_VALIDATOR := tools/asl-validator
EVENT ?= events/dry-run.json
# sam validate wants a region and credentials to exist; these fake ones reach no account.
SAM_ENV := AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 \
	AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null SAM_CLI_TELEMETRY=0

.PHONY: help setup demo run test lint validate checkov unit bench schemas asl lock lock-checkov clean

help:
	@echo "make demo    run the real state machine end to end in the offline sandbox"
	@echo "make test    every check: lint, template and ASL validation, tests with coverage"
	@echo "make run EVENT=events/<file>.json   run one input file in the sandbox"
	@echo "make bench   cold-start import time of a handler; call-record indexing throughput and cost;"
	@echo "             run time against Chime's rate limit, with and without the pace of calls"

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

# checkov pins its own boto3 and many more, so it lives in a virtualenv of its own too.
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.13 (pyenv install 3.13)"; exit 1; }
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

# asl-validator (npm), installed from its lockfile; node_modules/.package-lock.json is npm ci's own stamp.
$(ASL_VALIDATOR)/node_modules/.package-lock.json: $(ASL_VALIDATOR)/package.json $(ASL_VALIDATOR)/package-lock.json
	npm ci --prefix $(ASL_VALIDATOR) --no-audit --no-fund

setup: $(VENV)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed \
	$(ASL_VALIDATOR)/node_modules/.package-lock.json

demo: $(VENV)/.installed
	$(BIN)/python -m sandbox.demo

run: $(VENV)/.installed
	$(BIN)/python -m sandbox.run $(EVENT)

# ruff (with the complexity gate, C90), mypy (strict for functions/, and for the fakes, which it holds to
# the ports they stand in for), and the layers' import contract.
lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy tests/support/fakes.py
	PYTHONPATH=functions $(BIN)/lint-imports

validate: setup
	$(BIN)/cfn-lint template.yaml fleet/spoke.yaml
	$(SAM_ENV) $(SAM_VENV)/bin/sam validate --lint --template template.yaml
	$(SAM_ENV) $(SAM_VENV)/bin/sam validate --region us-east-1 --template template.yaml
	$(BIN)/statelint --ignore=URI $(ASL)
	npx --no --prefix $(ASL_VALIDATOR) asl-validator --json-path $(ASL)
	# statelint 3.1 predates Distributed Map's ReaderConfig.InputType; asl-validator knows it.
	npx --no --prefix $(ASL_VALIDATOR) asl-validator --json-path $(FLEET_ASL)
	$(MAKE) --no-print-directory checkov

# Every finding is fixed or suppressed with its reason in the resource's Metadata (checkov: skip).
# --skip-download: offline, and nothing of the template leaves the machine.
checkov: $(CHECKOV_VENV)/.installed
	$(CHECKOV_VENV)/bin/checkov -f template.yaml -f fleet/spoke.yaml --framework cloudformation --quiet --compact --skip-download

# The fast tier: every test that neither deploys the stack (sandbox) nor is marked slow, on two workers.
# The security tests expand the template with SAM's own translator, from the SAM virtualenv.
unit: $(VENV)/.installed $(SAM_VENV)/.installed
	$(BIN)/python -m pytest -n 2 -m "not sandbox and not slow"

# The fleet state machine, built from the single-account one (a test fails when it is not rebuilt).
asl: $(VENV)/.installed
	$(BIN)/python -m tools.fleet_asl

# The audit event's and report's JSON Schemas, generated from their models (a test fails on drift).
schemas: $(VENV)/.installed
	PYTHONPATH=functions $(BIN)/python -m credential_rotation.domain.audit_documents schemas

# Cold-start import time of a handler, X-Ray tracing off and on; then call-record indexing over moto:
# records/s per invocation, AWS requests per record, and the cost per million calls (about a minute).
bench: $(VENV)/.installed
	$(BIN)/python -m benchmarks.cold_import
	$(BIN)/python -m benchmarks.call_record_indexing
	$(BIN)/python -m benchmarks.pacing
	$(BIN)/python -m benchmarks.run_cost --sizes 10,100

# Every tier. The slow tests start first (tests/conftest.py); worksteal evens out the two workers' ends.
test: lint validate
	$(BIN)/python -m pytest -n 2 --dist worksteal --cov --cov-report=term-missing

# Re-freeze requirements-dev.txt after editing requirements-dev.in.
lock:
	rm -rf /tmp/lock-venv && $(PYTHON) -m venv /tmp/lock-venv
	/tmp/lock-venv/bin/pip install --quiet -r requirements-dev.in
	{ echo "# Frozen from requirements-dev.in by \`make lock\`; edit the .in file, not this one."; \
	  /tmp/lock-venv/bin/pip freeze; } > requirements-dev.txt
	rm -rf /tmp/lock-venv

# Re-freeze requirements-checkov.txt after editing requirements-checkov.in.
lock-checkov:
	rm -rf /tmp/lock-checkov-venv && $(PYTHON) -m venv /tmp/lock-checkov-venv
	/tmp/lock-checkov-venv/bin/pip install --quiet -r requirements-checkov.in
	{ echo "# Frozen from requirements-checkov.in by \`make lock-checkov\`; edit the .in file, not this one."; \
	  /tmp/lock-checkov-venv/bin/pip freeze; } > requirements-checkov.txt
	rm -rf /tmp/lock-checkov-venv

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) $(ASL_VALIDATOR)/node_modules .pytest_cache .ruff_cache .hypothesis .coverage .aws-sam
