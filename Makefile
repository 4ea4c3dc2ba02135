# Entry points. `make demo` runs the extension in the local Lambda simulator; `make test` runs
# every check. Both install what they need (npm packages, the test OpenTelemetry Collector).

SHELL := /bin/bash
# Test files run at once (CI with an external Collector runs them one at a time).
TEST_CONCURRENCY ?= 2
NODE_TEST := node --import tsx --test --test-concurrency=$(TEST_CONCURRENCY) --test-timeout=180000
TEST_FILES = $(shell find test -name '*.test.ts' -not -path '*/node_modules/*' | sort)

.PHONY: all install build layer dist cli collector pyenv emulator actionlint bun test unit e2e typecheck lint format demo bench bench-peers clean

all: layer

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: node_modules/.installed

build: install
	node build.mjs

layer: build
	node layer/build-layer.mjs

# Deployable zips: a Node-runtime flavour and one per architecture with a Node binary.
dist: build
	node layer/build-layer.mjs --zip

# The otel-lambda-local command (runs your handler with the extension in the simulator).
cli: install
	node test/simulator/local-run/build-cli.mjs

collector:
	bash test/collector/build.sh >/dev/null

# Python packages some tests use (test/python/requirements.txt), in a cached venv.
pyenv:
	bash test/python/build-env.sh >/dev/null

# AWS's Lambda Runtime Interface Emulator (Go module) and its Node.js runtime interface client
# (npm, compiles native code), cached under .cache.
emulator:
	bash test/emulator/build.sh >/dev/null
	bash test/emulator/install-runtime-client.sh >/dev/null

# Bun (npm @oven/bun-linux-<arch>, pinned), for the tests of the runtime port's Bun implementation.
bun:
	bash test/tools/bun.sh >/dev/null

# The GitHub Actions workflows, checked by actionlint (Go module, cached under .cache).
actionlint:
	bash test/tools/actionlint.sh

typecheck: install
	npx tsc --noEmit -p .

lint: install
	npx biome check .

format: install
	npx biome check --write .

# Unit tests need nothing built; end-to-end tests run the built layer and the real Collector.
test: install typecheck lint actionlint layer collector pyenv emulator bun
	$(NODE_TEST) $(TEST_FILES)

unit: install bun
	$(NODE_TEST) $(shell find test/unit -name '*.test.ts' | sort)

e2e: layer collector pyenv emulator
	$(NODE_TEST) $(shell find test/e2e -name '*.test.ts' | sort)

demo: layer
	node --import tsx test/simulator/local-run/demo.ts

bench: layer
	node --import tsx bench/run.ts

# This project's layer against the Rust OpenTelemetry Lambda extension (crates.io, built once into
# .cache/peers/ by cargo install), side by side in one interleaved run. Plain HTTP: the peer's rustls
# refuses the test sink's self-signed certificate. Free ports for the peer's fixed ones (4318, 9999).
# Fewer invocations per pattern: the peer holds each one about a second.
bench-peers: layer
	@peer=$$(bench/peers/build-rust-peer.sh) && \
	node --import tsx bench/run.ts --only init,patterns,layer --plain-http --repeat 2 --measured 40 \
		--extension build/layer --name otel-lambda-extension \
		--extension "$$peer" --name opentelemetry-lambda-extension-rs \
		--env 'opentelemetry-lambda-extension-rs:LAMBDA_OTEL_RECEIVER_HTTP_PORT={freePort}' \
		--env 'opentelemetry-lambda-extension-rs:LAMBDA_OTEL_TELEMETRY_API_LISTENER_PORT={freePort}'

clean:
	rm -rf build dist
