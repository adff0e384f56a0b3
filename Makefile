# marketing: the two commands a new user needs are `make run` and `make test`.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/altcontext/marketing/internal/cli.Version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

# make demo's ports and database (override: make demo DEMO_SITE_PORT=8081)
DEMO_API_PORT  ?= 3000
DEMO_SITE_PORT ?= 8080
DEMO_DB        ?= ./data/demo.db

.PHONY: run build image test check lint fuzz bench demo clean clean-data

## run: start the server on the embedded SQLite default (./data/marketing.db, port 3000)
# The built binary, not `go run`, as the terminal's foreground job: Ctrl-C
# reaches the server alone, which drains and exits 0, and so does make.
run: build
	@bash scripts/foreground.sh ./bin/marketing serve

## build: a static binary in bin/marketing
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/marketing ./cmd/marketing

## image: the container image, built offline with podman: the binary is built
## here and the Dockerfile's final stage takes it from bin/image (ROOTFS=context)
IMAGE  ?= localhost/marketing:$(VERSION)
PODMAN ?= podman
image:
	rm -rf bin/image
	mkdir -p bin/image/root/app bin/image/root/etc/ssl/certs bin/image/data
	mkdir -m 1777 bin/image/root/tmp
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/image/root/app/marketing ./cmd/marketing
	cp /etc/ssl/certs/ca-certificates.crt bin/image/root/etc/ssl/certs/
	$(PODMAN) build --build-arg ROOTFS=context -f Dockerfile -t $(IMAGE) bin/image

## test: every test, PostgreSQL included (a throwaway cluster, or TEST_DATABASE_URL)
test:
	$(GO) test -race -count=1 ./...
	@echo "--- the store conformance suite on PostgreSQL, verbosely, to show it ran:"
	@$(GO) test -count=1 -run 'TestStore$$' -v ./internal/postgres | grep -E '^(--- |    --- |ok|FAIL)'
	@echo "--- the PostgreSQL store and HTTP tests again, through PgBouncer in transaction mode (DATABASE_URL on Fly Managed Postgres):"
	PGTEST_POOLER=pgbouncer $(GO) test -count=1 ./internal/postgres ./internal/httpapi

## lint: gofmt, go vet, staticcheck
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

## check: lint, then test
check: lint test

## fuzz: run the fuzzers for a while (the seed corpora run in `make test`)
fuzz:
	$(GO) test -run XXX -fuzz FuzzDecodeEvents -fuzztime 60s .
	$(GO) test -run XXX -fuzz FuzzEvents -fuzztime 60s ./internal/httpapi

## bench: the load benchmark (PostgreSQL and SQLite); see docs/benchmarks.md
bench: build
	$(GO) run ./cmd/bench -binary bin/marketing

## demo: the example site on http://127.0.0.1:8080 (or http://localhost:8080) sending to the backend on :3000
# Both binaries are built first; scripts/demo.sh runs them and Ctrl-C stops
# both, quietly, with status 0.
demo: build
	@$(GO) build -o bin/demo ./cmd/demo
	@echo "backend on http://127.0.0.1:$(DEMO_API_PORT) (SQLite in $(DEMO_DB)); open http://127.0.0.1:$(DEMO_SITE_PORT) or http://localhost:$(DEMO_SITE_PORT); Ctrl-C stops both"
	@bash scripts/foreground.sh sh scripts/demo.sh $(DEMO_API_PORT) $(DEMO_SITE_PORT) $(DEMO_DB)

## clean: remove build output (bin/); your data stays (see clean-data)
clean:
	rm -rf bin

## clean-data: DELETE ./data: the local SQLite databases, every lead and consent record in them
clean-data:
	@echo "deleting ./data: the local SQLite databases (marketing.db, demo.db) with every event, lead and consent record in them"
	rm -rf data
