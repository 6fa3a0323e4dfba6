# One command runs the local pipeline end to end (`make demo`), one runs the tests (`make test`).
# Each does its own set-up: a virtual environment, the Python packages, the CDK CLI from npm, the Kafka jars from
# Maven Central, and the Debian tools the tests use.

SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
DEMO_ARGS ?=
# The Debian packages the tests call: kcat lists the broker and reads topics, shellcheck checks the host's
# scripts and user-data, chromium renders the report, hey is the load generator of bench/ingest_latency.py; podman
# (on runc) builds and runs the services' images and the host's stack, and mmdebstrap makes the root file system of
# the stand-in base images.
DEBIAN_TOOLS := kcat shellcheck chromium hey podman runc mmdebstrap
# podman's settings on these machines (runc, cgroupfs, rlimits root may set): see the file.
CONTAINERS_CONF := fitpipe/containers/containers.conf

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true

.PHONY: demo test setup demo-env python-env checkov-env cdk-cli kafka-jars trino-server debian-tools container-runtime lint synth \
	mutation clean

demo: demo-env kafka-jars
	$(BIN)/fitpipe demo $(DEMO_ARGS)

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest $(PYTEST_ARGS)

setup: python-env checkov-env cdk-cli kafka-jars trino-server debian-tools container-runtime

# The demo needs only the services and the local analytics; the tests need the CDK and the test tools too.
demo-env: $(VENV)/.installed-local
python-env: $(VENV)/.installed-dev

$(VENV)/.installed-%: pyproject.toml
	[ -x $(BIN)/python ] || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$*]'
	touch $@

# checkov scans the synthesized templates in the tests. It pins boto3 and packaging below what the project needs,
# so it cannot share the project's environment: it gets one of its own, and the tests find it there.
CHECKOV_VENV ?= .venv-checkov
CHECKOV_VERSION := 3.2.533
checkov-env: $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)

$(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION):
	[ -x $(CHECKOV_VENV)/bin/python ] || python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $@

cdk-cli: node_modules/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

kafka-jars: demo-env
	$(BIN)/fitpipe kafka fetch

# The Trino server the tests check the named queries against (tests/trino), from Maven Central into the same cache.
trino-server: python-env
	$(BIN)/python -m tests.trino.server fetch

debian-tools:
	@missing=""; for tool in $(DEBIAN_TOOLS); do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo"; \
		$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing >/dev/null; \
	fi

# podman's configuration, written only when it differs from the project's.
container-runtime: debian-tools
	@if ! cmp -s $(CONTAINERS_CONF) /etc/containers/containers.conf; then \
		echo "writing /etc/containers/containers.conf"; \
		sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo"; \
		$$sudo install -D -m 0644 $(CONTAINERS_CONF) /etc/containers/containers.conf; \
	fi

lint: python-env
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

# Mutation testing of the consumer's protocol and recovery functions (cosmic-ray): an hour or more, so not part of
# `make test` or CI. It goes on where it stopped; `rm -r out/mutation` starts afresh. Survivors: docs/mutation.md.
mutation: python-env kafka-jars $(VENV)/.installed-mutation
	bash tests/mutation/run.sh

synth: python-env cdk-cli
	npx cdk synth --quiet

clean:
	rm -rf cdk.out out .pytest_cache
