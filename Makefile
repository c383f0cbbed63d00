# journal: the two commands that matter are `make dev` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
NPM ?= npm

.PHONY: help install build lint typecheck format test test-unit dev clean smoke

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-18s %s\n", $$1, $$2}'

node_modules/.package-lock.json: package.json package-lock.json shared/package.json $(wildcard services/*/package.json) clients/js/package.json
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

test: install ## Lint, typecheck, then every test tier: unit, integration, e2e, deploy (real MongoDB-wire server and Redis)
	$(NPM) run lint
	$(NPM) run typecheck
	$(NPM) test

test-unit: install ## Unit tests only (pure logic, no server started; seconds)
	$(NPM) run test:unit

dev: build ## Run the whole stack (gateway on http://localhost:8000)
	npx tsx scripts/dev.ts

clean: ## Remove build output (keeps .data and .tools)
	$(NPM) run clean

smoke: install ## Client walk-through against a running stack (GATEWAY_URL, default http://localhost:8000)
	npx tsx scripts/smoke.ts

.PHONY: backup restore
FILE ?= journal-$(shell date +%Y%m%d-%H%M%S).backup.gz
backup: build ## Export every collection to FILE (MONGODB_URL, MONGODB_DB_NAME)
	npx tsx scripts/backup.ts backup $(FILE)

restore: build ## Import FILE into an empty database (DROP=1 replaces existing collections; REDIS_URL also clears the sync hints)
	npx tsx scripts/backup.ts restore $(FILE) $(if $(DROP),--drop,)

.PHONY: fuzz
fuzz: build ## Contract fuzzing with schemathesis against a whole stack (FUZZ_EXAMPLES=200)
	npx tsx scripts/fuzz.ts

.PHONY: check-history
HISTORY_SEED ?= 24
HISTORY_OPS ?= 1500
check-history: build ## History checker, long run: the sync feed under faults (HISTORY_SEED=24 HISTORY_OPS=1500 pushes)
	HISTORY_SEED=$(HISTORY_SEED) HISTORY_OPS=$(HISTORY_OPS) npx vitest run tests/reliability/history.test.ts

.PHONY: bench
bench: build ## Benchmarks: every scenario through the gateway, directly, via nginx and raw (bench/results/)
	npx tsx bench/run.ts

.PHONY: docker-up docker-down docker-logs docker-prod-up docker-prod-down helm-lint deploy-check
COMPOSE ?= docker compose
COMPOSE_DEV := $(COMPOSE) -f deploy/compose/docker-compose.yml
COMPOSE_PROD := $(COMPOSE) -f deploy/compose/docker-compose.prod.yml --env-file deploy/compose/.env

deploy/compose/.env:
	@echo "deploy/compose/.env is missing. Development: npx tsx scripts/gen-keys.ts > deploy/compose/.env"
	@echo "Production: cp deploy/compose/.env.example deploy/compose/.env and fill it in (docs/operations.md)"
	@exit 1

docker-up: deploy/compose/.env ## Development stack in Docker: MongoDB, Redis, the four images (gateway on :8000)
	$(COMPOSE_DEV) up -d --build --wait

docker-down: ## Stop the development stack (volumes kept; add -v by hand to drop them)
	$(COMPOSE_DEV) down

docker-logs: ## Follow the development stack's logs
	$(COMPOSE_DEV) logs -f --tail=100

docker-prod-up: deploy/compose/.env ## Production-style stack: nginx with TLS in front (needs deploy/compose/nginx.conf and certs/)
	@test -f deploy/compose/nginx.conf || { echo "cp deploy/compose/nginx.conf.example deploy/compose/nginx.conf (and edit server_name)"; exit 1; }
	@test -f deploy/compose/certs/fullchain.pem || { echo "put fullchain.pem and privkey.pem in deploy/compose/certs/"; exit 1; }
	$(COMPOSE_PROD) up -d --build --wait

docker-prod-down: ## Stop the production-style stack (volumes kept)
	$(COMPOSE_PROD) down

helm-lint: ## helm lint --strict the chart with every ci/*-values.yaml (helm built once into .tools/bin)
	npx tsx -e "import('./scripts/lib/tools.ts').then((t) => t.ensureHelm())"
	@for f in deploy/helm/journal/ci/*-values.yaml; do \
	  echo "helm lint --strict -f $$f"; .tools/bin/helm lint --strict deploy/helm/journal -f $$f || exit 1; \
	done

deploy-check: install ## Chart lint, render and offline schema validation, compose, Dockerfile, nginx and chart contract tests
	npx vitest run --project deploy

.PHONY: sdk sdk-generate test-sdk-long
sdk: install ## Build the client SDK @journal/client (clients/js/dist)
	npx tsc -b clients/js

sdk-generate: build ## Regenerate clients/js/openapi.json and src/generated/{api,schemas}.ts from the gateway's schemas
	$(NPM) run generate -w clients/js

test-sdk-long: install ## The SDK convergence property tests, longer (SDK_CONVERGENCE_RUNS=20, _OPS=150, _SEED; encrypted: _E2E_RUNS=6, _E2E_OPS=100)
	SDK_CONVERGENCE_RUNS=$${SDK_CONVERGENCE_RUNS:-20} SDK_CONVERGENCE_OPS=$${SDK_CONVERGENCE_OPS:-150} \
	SDK_CONVERGENCE_E2E_RUNS=$${SDK_CONVERGENCE_E2E_RUNS:-6} SDK_CONVERGENCE_E2E_OPS=$${SDK_CONVERGENCE_E2E_OPS:-100} \
		npx vitest run --project e2e clients/js/test/convergence.test.ts
