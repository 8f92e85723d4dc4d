# The README's two commands are `make run` and `make test`. Everything they need is installed
# here, under .cache (the emulator, the WhatsApp SDKs; cfn-lint for `make lint`); only Rust,
# Python 3, Node with npm, and make come from the machine.

SHELL := /bin/bash
CARGO ?= cargo
PYTHON ?= python3
CACHE := .cache
CFN_LINT_VERSION := 1.58.0
SAM_VERSION := 1.170.0
CARGO_LAMBDA_VERSION := 1.9.2
MUTANTS_VERSION := 27.1.0
MACHETE_VERSION := 0.9.2
MACHETE := $(CACHE)/cargo-machete-$(MACHETE_VERSION)/bin/cargo-machete
# The WhatsApp SDKs `make test` runs against the local stack (tests/integration/sdks.rs).
PYWA_VERSION := 4.5.0
WHATSAPP_API_JS_VERSION := 6.3.0
SDK_PYWA := $(CACHE)/sdk-pywa-$(PYWA_VERSION)
SDK_WHATSAPP_API_JS := $(CACHE)/sdk-whatsapp-api-js-$(WHATSAPP_API_JS_VERSION)
LINT_VENV := $(CACHE)/cfn-lint-$(CFN_LINT_VERSION)
SAM_VENV := $(CACHE)/sam-$(SAM_VERSION)

export EMULATOR ?= ministack

# Tests that cannot run on a target call gateway_tests::skip, which writes a line to
# GATEWAY_SKIP_LOG; each summary below prints those lines and takes them off the passed count.
READ_SKIPS := BEGIN {while ((getline line < skips) > 0) {n++; list = list "\n  " line}}

.PHONY: run test e2e-lambda deploy-local soak bench fuzz mutants lint build deploy emulator fmt clean

## run: the whole gateway on this machine (emulator, gateway-local, demo tenant); Ctrl-C stops it
run:
	$(CARGO) build -p gateway-local -p gatewayctl
	scripts/emulator.sh run "$${CARGO_TARGET_DIR:-target}/debug/gateway-local"

## test: every test, against an emulator started and stopped for the run
test: $(SDK_PYWA)/.installed $(SDK_WHATSAPP_API_JS)/.installed
	$(CARGO) test --workspace --no-run
	@mkdir -p $(CACHE)
	@rm -f $(CACHE)/test.skipped
	set -o pipefail; GATEWAY_SKIP_LOG=$(abspath $(CACHE))/test.skipped \
	  GATEWAY_SDK_PYWA=$(abspath $(SDK_PYWA)) GATEWAY_SDK_WHATSAPP_API_JS=$(abspath $(SDK_WHATSAPP_API_JS)) \
	  scripts/emulator.sh run $(CARGO) test --workspace 2>&1 | tee $(CACHE)/test.log
	@awk -v skips=$(CACHE)/test.skipped '$(READ_SKIPS) /Running |Doc-tests / {target = $$0} /^running 0 tests/ {empty = empty "\n  " target} /^test result:/ {p += $$4; f += $$6; s += $$8} END {printf "tests: %d passed, %d failed, %d skipped%s\n", p - n, f, s + n, list; if (empty != "") {printf "test binaries that ran no test:%s\n", empty; exit 1}}' $(CACHE)/test.log

# The filtered suite below runs this many tests today; fewer means a filter stopped matching.
E2E_LAMBDA_MIN_TESTS ?= 58
## e2e-lambda: the end-to-end suite against the real Lambda bootstraps run by the emulator
## (function URLs, SQS event source mapping, SSM secrets, settings from template.yaml)
e2e-lambda:
	$(CARGO) build -p gateway-webhook -p gateway-send -p gateway-forward -p gateway-realtime --bins
	$(CARGO) test -p gateway-tests --no-run
	@mkdir -p $(CACHE)
	@rm -f $(CACHE)/e2e-lambda.skipped
	set -o pipefail; GATEWAY_SKIP_LOG=$(abspath $(CACHE))/e2e-lambda.skipped EMULATOR=ministack GATEWAY_E2E_TARGET=lambda scripts/emulator.sh run \
	  $(CARGO) test -p gateway-tests -- --test-threads=4 ingest:: forward:: send:: send_media:: send_outcomes:: media:: fidelity:: abuse:: deliveries:: realtime:: 2>&1 | tee $(CACHE)/e2e-lambda.log
	@awk -v min=$(E2E_LAMBDA_MIN_TESTS) -v skips=$(CACHE)/e2e-lambda.skipped '$(READ_SKIPS) /^test result:/ {p += $$4; f += $$6; s += $$8} END {p -= n; printf "e2e-lambda: %d passed, %d failed, %d skipped%s\n", p, f, s + n, list; if (p < min) {printf "e2e-lambda: expected at least %d tests to run\n", min; exit 1}}' $(CACHE)/e2e-lambda.log

## soak: the fault test at length (3000 events; `make test` runs 200); prints its counts
soak:
	$(CARGO) test -p gateway-tests --no-run
	SOAK_EVENTS=$${SOAK_EVENTS:-3000} scripts/emulator.sh run $(CARGO) test -p gateway-tests -- --nocapture soak::

## fuzz: libFuzzer on the webhook splitter and the /v1/messages parser, corpora seeded from the
## fixtures; FUZZ_SECONDS each (cargo-fuzz is installed under .cache)
FUZZ_SECONDS ?= 60
fuzz:
	@[ -x $(CACHE)/cargo-fuzz/bin/cargo-fuzz ] || $(CARGO) install --locked --root $(CACHE)/cargo-fuzz cargo-fuzz
	fuzz/seed.sh
	cd fuzz && for target in split_events simple_message; do \
	  RUSTC_BOOTSTRAP=1 ../$(CACHE)/cargo-fuzz/bin/cargo-fuzz fuzz run $$target corpus/$$target -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

## mutants: mutation testing of gateway-core with its own tests (cargo-mutants, installed under
## .cache); not part of `make test`: about 15 minutes here. The report lands in .cache/mutants,
## and docs/TESTING.md records the last run and why each surviving mutant is left.
mutants:
	@[ -x $(CACHE)/cargo-mutants/bin/cargo-mutants ] || $(CARGO) install --locked --root $(CACHE)/cargo-mutants cargo-mutants@$(MUTANTS_VERSION)
	$(CACHE)/cargo-mutants/bin/cargo-mutants mutants --package gateway-core --test-package gateway-core \
	  --exclude "functions/core/src/memory/*" --timeout 60 --output $(CACHE)/mutants

## bench: CPU per event (Criterion), end-to-end throughput on the local stack, cold start and
## peak RSS of the release bootstraps; docs/PERFORMANCE.md records a run
bench:
	$(CARGO) build --release -p gateway-webhook -p gateway-send -p gateway-forward --bins
	$(CARGO) bench -p gateway-core --bench cpu
	$(PYTHON) scripts/bench-report.py "$${CARGO_TARGET_DIR:-target}/criterion"
	scripts/emulator.sh run $(CARGO) bench -p gateway-tests --bench e2e
	GATEWAY_LAMBDA_BIN_DIR="$$(realpath "$${CARGO_TARGET_DIR:-target}")/release" scripts/emulator.sh run $(CARGO) bench -p gateway-tests --bench lambda

$(SDK_PYWA)/.installed:
	$(PYTHON) -m venv $(SDK_PYWA)
	$(SDK_PYWA)/bin/pip install --quiet --disable-pip-version-check pywa==$(PYWA_VERSION)
	@touch $@

$(SDK_WHATSAPP_API_JS)/.installed:
	@mkdir -p $(SDK_WHATSAPP_API_JS)
	cd $(SDK_WHATSAPP_API_JS) && echo '{"private":true}' > package.json && \
	  npm install --silent --no-audit --no-fund --ignore-scripts whatsapp-api-js@$(WHATSAPP_API_JS_VERSION)
	@touch $@

## lint: formatting, clippy with warnings denied, no unused dependency (cargo machete), no
## module cycle in gateway-core, cfn-lint on template.yaml
lint: $(LINT_VENV)/.installed $(MACHETE)
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(MACHETE)
	$(PYTHON) scripts/module-cycles.py
	$(LINT_VENV)/bin/cfn-lint template.yaml

$(MACHETE):
	$(CARGO) install --locked --quiet --root $(CACHE)/cargo-machete-$(MACHETE_VERSION) cargo-machete@$(MACHETE_VERSION)

$(LINT_VENV)/.installed:
	rm -rf $(LINT_VENV)
	$(PYTHON) -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/pip install --quiet --disable-pip-version-check cfn-lint==$(CFN_LINT_VERSION)
	touch $@

$(SAM_VENV)/.installed:
	rm -rf $(SAM_VENV)
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check aws-sam-cli==$(SAM_VERSION) cargo-lambda==$(CARGO_LAMBDA_VERSION)
	touch $@

# The functions' instruction set (template parameter Architecture). arm64 needs the Rust
# target aarch64-unknown-linux-gnu; `make build ARCHITECTURE=x86_64` builds without it.
ARCHITECTURE ?= arm64
SAM := PATH="$(abspath $(SAM_VENV))/bin:$$PATH" SAM_CLI_TELEMETRY=0 $(abspath $(SAM_VENV))/bin/sam

## build: sam build (cargo-lambda builds the three functions for ARCHITECTURE, arm64 by default)
build: $(SAM_VENV)/.installed
	@if [ "$(ARCHITECTURE)" = arm64 ] && [ "$$(uname -m)" != aarch64 ] && \
	  ! rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then \
	  echo "make build: this machine has no aarch64-unknown-linux-gnu Rust target." >&2; \
	  echo "  Either run \`rustup target add aarch64-unknown-linux-gnu\`, or build for x86_64:" >&2; \
	  echo "  \`make build ARCHITECTURE=x86_64\` (and deploy with Architecture=x86_64)." >&2; \
	  exit 1; fi
	$(SAM) build --beta-features --parameter-overrides Architecture=$(ARCHITECTURE)

## deploy: sam deploy --guided into the AWS account of your current credentials
deploy: build
	$(SAM) deploy --guided --parameter-overrides Architecture=$(ARCHITECTURE)

# The filtered suite below runs this many tests today; fewer means a filter stopped matching.
DEPLOY_LOCAL_MIN_TESTS ?= 44
LOCAL_ARCHITECTURE := $(if $(filter aarch64 arm64,$(shell uname -m)),arm64,x86_64)
## deploy-local: `sam build`, then the end-to-end suite against template.yaml deployed per test
## by `sam deploy` into the emulator (HTTP API, SQS event source mapping) and removed by
## `sam delete`; fails if any stack, function, mapping, table, queue, bucket, HTTP API, topic or
## SSM parameter is left; counts the functions' AWS requests per event for PERFORMANCE.md (cost::)
deploy-local: $(SAM_VENV)/.installed $(SDK_PYWA)/.installed $(SDK_WHATSAPP_API_JS)/.installed
	$(MAKE) build ARCHITECTURE=$(LOCAL_ARCHITECTURE)
	$(CARGO) test -p gateway-tests -p gatewayctl --test integration --test operate --no-run
	@mkdir -p $(CACHE)
	@rm -f $(CACHE)/deploy-local.skipped
	set -o pipefail; GATEWAY_SKIP_LOG=$(abspath $(CACHE))/deploy-local.skipped GATEWAY_E2E_TARGET=sam GATEWAY_SAM=$(abspath $(SAM_VENV))/bin/sam \
	  GATEWAY_SAM_ARCHITECTURE=$(LOCAL_ARCHITECTURE) PATH="$(abspath $(SAM_VENV))/bin:$$PATH" \
	  GATEWAY_SDK_PYWA=$(abspath $(SDK_PYWA)) GATEWAY_SDK_WHATSAPP_API_JS=$(abspath $(SDK_WHATSAPP_API_JS)) \
	  EMULATOR=ministack EMULATOR_COUNT_REQUESTS=1 scripts/emulator.sh run scripts/deploy-local.sh \
	  $(CARGO) test --no-fail-fast -p gateway-tests -p gatewayctl --test integration --test operate -- --test-threads=4 \
	  ingest:: forward:: send:: sdks:: cost:: deliveries:: realtime:: meta_subscribe a_stack_name doctor_ 2>&1 | tee $(CACHE)/deploy-local.log
	@awk -v min=$(DEPLOY_LOCAL_MIN_TESTS) -v skips=$(CACHE)/deploy-local.skipped '$(READ_SKIPS) /^test result:/ {p += $$4; f += $$6; s += $$8} END {p -= n; printf "deploy-local: %d passed, %d failed, %d skipped%s\n", p, f, s + n, list; if (p < min) {printf "deploy-local: expected at least %d tests to run\n", min; exit 1}}' $(CACHE)/deploy-local.log

emulator:
	scripts/emulator.sh install

fmt:
	$(CARGO) fmt --all

clean:
	rm -rf $(CACHE) .aws-sam
