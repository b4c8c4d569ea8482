# Boxyard: the two commands are `make up` and `make test`. Both install what
# is missing (Debian packages via scripts/setup.sh, npm packages via npm ci),
# build, and then run. Running them again is fast: each step is skipped when
# its inputs have not changed.

SHELL := /bin/bash
NPM_STAMP := node_modules/.boxyard-npm-ci
BUILD_STAMP := dist/boxyard.mjs
SOURCES := $(shell find apps packages internal -name '*.ts' -o -name '*.tsx' -o -name '*.html' -o -name '*.sql' -o -name '*.c' -o -name '*.css' 2>/dev/null | grep -v node_modules)

.PHONY: up test bench clean build deps setup lint typecheck test-only

up: build
	./boxyard server

test: build
	npm run --silent lint
	npm run --silent typecheck
	scripts/test.sh

# Runs the suite without the lint/typecheck steps (for iterating).
test-only: build
	scripts/test.sh $(ARGS)

bench: build
	npx --no-install tsx bench/run.ts

setup:
	@scripts/setup.sh

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

deps: setup $(NPM_STAMP)

$(BUILD_STAMP): $(NPM_STAMP) $(SOURCES) scripts/build.mjs
	node scripts/build.mjs

build: deps $(BUILD_STAMP)

lint: deps
	npm run --silent lint

typecheck: deps
	npm run --silent typecheck

# Removes build outputs and test artefacts; never a data directory.
clean:
	rm -rf dist test-artifacts bench/results $(NPM_STAMP)
