# dynasnap: `make demo` runs the main job on the local stack; `make test` runs every test.
SHELL := /bin/bash
GO ?= go
BIN := bin

.PHONY: all build demo test test-unit up down install-stack bench fuzz vet lambda clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

# The Lambda as the provided.al2023 runtime wants it: a static binary named bootstrap.
lambda:
	mkdir -p $(BIN)/lambda
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -tags lambda.norpc -o $(BIN)/lambda/bootstrap ./cmd/dynasnap-stream

install-stack:
	scripts/stack.sh install

up:
	scripts/stack.sh up

down:
	scripts/stack.sh down

# Every test, the integration tests against the real local servers included.
test: build
	scripts/stack.sh up >/dev/null
	set -a; . .stack/env; set +a; DYNASNAP_REQUIRE_STACK=1 $(GO) test -race -count=1 -timeout 30m ./...

test-unit:
	$(GO) test -count=1 ./...

vet:
	gofmt -l cmd internal | (! grep .)
	$(GO) vet ./...

fuzz:
	$(GO) test -run XXX -fuzz FuzzRoundTrip -fuzztime 60s ./internal/item

demo: build
	scripts/demo.sh

# Seeds its datasets once (kept in the local SeaweedFS), then measures; see
# README "Benchmarks". Flags: make bench BENCH_FLAGS="-items 2000 -scale 2".
bench: build
	scripts/stack.sh up >/dev/null
	set -a; . .stack/env; set +a; $(GO) run ./internal/bench/cmd $(BENCH_FLAGS)

clean:
	rm -rf $(BIN)
