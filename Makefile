# marketing: the two commands a new user needs are `make run` and `make test`.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/altcontext/marketing/internal/cli.Version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: run build image test check lint fuzz bench demo clean

## run: start the server on the embedded SQLite default (./data/marketing.db, port 3000)
run:
	$(GO) run ./cmd/marketing serve

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

# POOLER_KNOWN_FAILURES: tests of the event writer's pipeline (named prepared
# statements, transactions pipelined on one connection), which PgBouncer in
# transaction mode breaks. Empty it once the writer is pooler-safe.
POOLER_KNOWN_FAILURES := TestCapturesAmidEvents|TestStore/EventsTwoProcesses|TestTwoServersOneVisitor

## test: every test, PostgreSQL included (a throwaway cluster, or TEST_DATABASE_URL)
test:
	$(GO) test -race -count=1 ./...
	@echo "--- the store conformance suite on PostgreSQL, verbosely, to show it ran:"
	@$(GO) test -count=1 -run 'TestStore$$' -v ./internal/postgres | grep -E '^(--- |    --- |ok|FAIL)'
	@echo "--- the PostgreSQL store and HTTP tests again, through PgBouncer in transaction mode (DATABASE_URL on Fly Managed Postgres):"
	PGTEST_POOLER=pgbouncer $(GO) test -count=1 -skip '$(POOLER_KNOWN_FAILURES)' ./internal/postgres ./internal/httpapi

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

## demo: the example site on http://127.0.0.1:8080 sending to the backend on :3000
demo:
	@echo "backend on http://127.0.0.1:3000 (SQLite in ./data/demo.db), site on http://127.0.0.1:8080; Ctrl-C stops both"
	@trap 'kill 0' INT TERM EXIT; \
	DATABASE_URL=sqlite:./data/demo.db CORS_ALLOWED_ORIGINS=http://127.0.0.1:8080 HOST=127.0.0.1 $(GO) run ./cmd/marketing serve & \
	$(GO) run ./cmd/demo -addr 127.0.0.1:8080 -api http://127.0.0.1:3000 & \
	wait

clean:
	rm -rf bin data
