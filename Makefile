# dynasnap: `make demo` runs the main job on the local stack; `make test` runs every test.
SHELL := /bin/bash
GO ?= go
BIN := bin

.PHONY: all build demo test test-unit up down install-stack bench fuzz reliability vet lambda clean

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
	# DuckDB reads the Parquet snapshots: its own module, so the binary never links DuckDB.
	set -a; . .stack/env; set +a; cd tests/duckdb && DYNASNAP_REQUIRE_STACK=1 $(GO) test -count=1 -timeout 10m ./...
	# A count, not a time: a time limit that ends while a worker is busy under load fails the run ("context deadline exceeded").
	$(MAKE) --no-print-directory fuzz FUZZTIME=50000x

test-unit:
	$(GO) test -count=1 ./...

vet:
	gofmt -l cmd internal tests | (! grep .)
	$(GO) vet ./...

# Each fuzz target in turn (Go fuzzes one target per run); `make test` runs
# them for 5s each.
FUZZTIME ?= 60s
fuzz:
	$(GO) test -run XXX -fuzz FuzzRoundTrip -fuzztime $(FUZZTIME) ./internal/item
	$(GO) test -run XXX -fuzz FuzzFastDecoder -fuzztime $(FUZZTIME) ./internal/item
	$(GO) test -run XXX -fuzz FuzzCanonicalSize -fuzztime $(FUZZTIME) ./internal/item
	$(GO) test -run XXX -fuzz FuzzFastParser -fuzztime $(FUZZTIME) ./internal/history/s3source
	$(GO) test -run XXX -fuzz FuzzDecodeEvent -fuzztime $(FUZZTIME) ./internal/stream
	$(GO) test -run XXX -fuzz FuzzLineReader -fuzztime $(FUZZTIME) ./internal/snapshot
	$(GO) test -run XXX -fuzz FuzzSidecarLine -fuzztime $(FUZZTIME) ./internal/snapshot

# The reliability suite (faults, bad input, security) with its figures
# recorded, then docs/RELIABILITY.md rendered from them. `make test` runs
# the same tests without recording.
RELIABILITY_OUT := $(CURDIR)/.stack/reliability.jsonl
reliability: build
	scripts/stack.sh up >/dev/null
	rm -f $(RELIABILITY_OUT)
	set -a; . .stack/env; set +a; DYNASNAP_REQUIRE_STACK=1 DYNASNAP_RELIABILITY_OUT=$(RELIABILITY_OUT) \
		$(GO) test -count=1 -timeout 20m -run 'Reliability' ./cmd/dynasnap ./internal/stream
	$(GO) run ./internal/testsupport/reliability/cmd -in $(RELIABILITY_OUT) -out docs/RELIABILITY.md

demo: build
	scripts/demo.sh

# Seeds its datasets once (kept in the local SeaweedFS), then measures; see
# docs/BENCHMARKS.md. Flags: make bench BENCH_FLAGS="-items 2000 -scale 2".
bench: build
	scripts/stack.sh up >/dev/null
	set -a; . .stack/env; set +a; $(GO) run ./cmd/dynasnap-bench $(BENCH_FLAGS)
	# Restore into dynalite against a bare BatchWriteItem loop at the same concurrency.
	set -a; . .stack/env; set +a; DYNASNAP_REQUIRE_STACK=1 $(GO) test -count=1 -run 'TestRestore100k$$' -v ./internal/restore \
		| grep -E 'items/s|verify of' | sed 's/^ *//'

clean:
	rm -rf $(BIN)
