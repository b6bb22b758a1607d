# Tandem build and test entry points. `make test` is what CI runs (via .ci/run).
GO ?= go
BIN := bin/tandem

.PHONY: build run demo test test-short vet fmt bench-smoke bench clean chaos

# The version package is stamped at link time (tandem version, tandem --version).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/tandem-db/tandem/internal/version.Version=$(VERSION) \
	-X github.com/tandem-db/tandem/internal/version.Commit=$(shell git rev-parse HEAD 2>/dev/null) \
	-X github.com/tandem-db/tandem/internal/version.Date=$(shell date -u +%Y-%m-%dT%H:%M:%SZ)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/tandem

# Run one node with zero setup: Milvus gRPC + REST on :19530, health/metrics on :9091.
run: build
	./$(BIN) standalone --data-dir ./tandem-data

demo: build
	./$(BIN) demo

vet:
	$(GO) vet ./...
	$(GO) vet -tags failpoints ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1)

# All tests: unit tests under the race detector, integration tests (real binary + official Go SDK),
# the official Node.js SDK suite (tests/nodejs: npm ci + node --test; skipped without npm)
# and the short fault-injection run (tests/chaos) — one package at a time (-p 1), so that neither
# one's processes starve the other's on a small machine —, the noasm build of the kernels, and a
# smoke run of the benchmark commands.
# Unit tests are built with -tags failpoints (internal/failpoint): the points are inert unless a test
# arms them; the release build of the package is checked to be inert too. Integration and chaos tests
# build their tandem binary with the same tag.
test: vet
	$(GO) test -race -count=1 -timeout 15m -tags failpoints $$($(GO) list ./... | grep -v /tests/)
	$(GO) test -count=1 ./internal/failpoint
	$(GO) test -count=1 -tags noasm ./internal/index/...
	$(GO) test -count=1 -p 1 -timeout 15m ./tests/...
	$(MAKE) bench-smoke

test-short:
	$(GO) test -count=1 ./...

bench-smoke: build
	./$(BIN) bench insert --batches 6 --batch-rows 500 --dim 128
	./$(BIN) bench search --n 3000 --dim 64 --queries 50 --anchor=false
	./$(BIN) bench search --n 3000 --dim 64 --queries 50 --index HNSW --ef 32
	./$(BIN) bench replication --rounds 1 --batches 6 --batch-rows 50 --dim 16
	./$(BIN) bench cluster --kills 2 --groups 1 --duration 1s

# The figures quoted in the README and the issue notes (needs python3-faiss for the anchor).
bench: build
	./$(BIN) bench insert
	./$(BIN) bench search

clean:
	rm -rf bin

# Fault-injection run (internal/chaos, tests/chaos): random faults for DURATION with SEED
# (default: from the clock; printed), MODE sync (default) or async, FAULTS a comma list of
# kinds (default: all). Other knobs are TANDEM_CHAOS_* variables (see tests/chaos). A failing
# run keeps its history and logs, and prints the folder and the line that replays it.
DURATION ?= 10m
chaos:
	TANDEM_CHAOS_DURATION=$(DURATION) $(if $(SEED),TANDEM_CHAOS_SEED=$(SEED)) $(if $(MODE),TANDEM_CHAOS_MODE=$(MODE)) \
		$(if $(FAULTS),TANDEM_CHAOS_FAULTS=$(FAULTS)) $(GO) test -count=1 -timeout 0 -v -run 'TestChaosLong$$' ./tests/chaos
