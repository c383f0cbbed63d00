# journal: the two commands that matter are `make dev` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
NPM ?= npm

.PHONY: help install build lint typecheck format test test-unit dev clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-18s %s\n", $$1, $$2}'

node_modules/.package-lock.json: package.json package-lock.json shared/package.json $(wildcard services/*/package.json)
	$(NPM) ci --no-audit --no-fund
	@touch $@

install: node_modules/.package-lock.json ## Install npm packages (npm ci)

build: install ## Compile TypeScript to dist/
	$(NPM) run build

lint: install ## Lint and format check (biome)
	$(NPM) run lint

typecheck: install ## Type-check sources, tests and scripts (strict)
	$(NPM) run typecheck

format: install ## Apply the formatter and safe lint fixes
	$(NPM) run format

test: install ## Lint, typecheck, unit and integration tests against real MongoDB-wire server and Redis
	$(NPM) run lint
	$(NPM) run typecheck
	$(NPM) test

dev: build ## Run the whole stack (gateway on http://localhost:8000)
	npx tsx scripts/dev.ts

clean: ## Remove build output (keeps .data and .tools)
	$(NPM) run clean

.PHONY: backup restore
FILE ?= journal-$(shell date +%Y%m%d-%H%M%S).backup.gz
backup: install ## Export every collection to FILE (MONGODB_URL, MONGODB_DB_NAME)
	npx tsx scripts/backup.ts backup $(FILE)

restore: install ## Import FILE into an empty database (DROP=1 replaces existing collections)
	npx tsx scripts/backup.ts restore $(FILE) $(if $(DROP),--drop,)

.PHONY: fuzz
fuzz: build ## Contract fuzzing with schemathesis against a whole stack (FUZZ_EXAMPLES=200)
	npx tsx scripts/fuzz.ts

.PHONY: bench
bench: build ## Benchmarks: every scenario through the gateway, directly, via nginx and raw (bench/results/)
	npx tsx bench/run.ts
