# Berth: a Harbor-compatible OCI registry in one binary.
#   make build    bin/berth
#   make run      go run ./cmd/berth serve
#   make test     unit tests (go test ./...)
#   make test-race  the unit tests under the race detector (go test -race ./...)
#   make e2e      end-to-end tests with real clients (needs `make clients`;
#                 PostgreSQL on 127.0.0.1:5432 for the postgres half); the crash tests
#                 run a few rounds
#   make e2e-long the same with the long crash runs (BERTH_E2E_LONG=1: 25 rounds)
#   make clients  install the pinned clients (scripts/clients.env)
#   make lint     gofmt check + go vet (including the e2e build tag)
#   make fuzz     every fuzz target for FUZZTIME (15s) each; their seeds run in make test too

GO ?= go
E2E_FLAGS ?=

.PHONY: all build run test test-race e2e e2e-long clients lint fuzz

all: build

build:
	$(GO) build -o bin/berth ./cmd/berth

run:
	$(GO) run ./cmd/berth serve

test:
	$(GO) test -count=1 -parallel 8 -timeout 30m ./...

# Under the race detector internal/server takes about 8 minutes on two cores (three long
# sequential walks skip themselves there), near go test's default limit of 10 minutes per package.
test-race:
	$(GO) test -count=1 -race -parallel 8 -timeout 30m ./...

e2e:
	$(GO) test -count=1 -tags e2e -timeout 40m $(E2E_FLAGS) ./test/e2e/...

e2e-long:
	BERTH_E2E_LONG=1 $(GO) test -count=1 -tags e2e -timeout 180m $(E2E_FLAGS) ./test/e2e/...

clients:
	bash scripts/install-clients.sh

lint:
	@echo "gofmt -l ."
	@out=$$(gofmt -l .); \
	if [ -n "$$out" ]; then echo "gofmt: these files need formatting (run gofmt -w):"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./test/e2e/...

# The fuzz targets, as package:Target. Each runs on its own (a fuzzing run takes one target),
# from its package's test binary built once with fuzzing instrumentation (go test -c -fuzz);
# a crasher is written to the package's testdata/fuzz/<Target>/ — commit it with the fix, and
# reproduce it with go test -run '<Target>/<file>' <package>.
# With FUZZTIME=15s the whole list takes about 7 minutes on two cores; CI runs it at 4s.
# FUZZMINIMIZETIME bounds the minimising of each new input (go's default, 60s, would take most
# of a short run).
FUZZTIME ?= 15s
FUZZMINIMIZETIME ?= 3s
FUZZ_TARGETS = \
	./internal/input:FuzzJSON ./internal/input:FuzzURL \
	./internal/registry:FuzzValidateRepository ./internal/registry:FuzzReference ./internal/registry:FuzzParseManifest \
	./internal/oci:FuzzParseRoute ./internal/oci:FuzzChunkStart \
	./internal/api:FuzzParseQ \
	./internal/auth:FuzzParseScope ./internal/auth:FuzzParseScopes ./internal/auth:FuzzVerifyToken \
	./internal/scan/vulndb:FuzzOSVRecord \
	./internal/scan/inventory:FuzzExtractLayers ./internal/scan/inventory:FuzzCountParagraphs \
	./internal/scan/inventory:FuzzRPMDatabase ./internal/scan/inventory:FuzzRPMHeader \
	./internal/scan/inventory:FuzzGoBuildInfo ./internal/scan/inventory:FuzzCargoAuditable \
	./internal/scan/inventory:FuzzPythonArchive

fuzz:
	@set -e; bin=$$(mktemp -d); trap 'rm -rf "$$bin"' EXIT; cache=$$($(GO) env GOCACHE)/fuzz; \
	for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; target=$${t##*:}; exe="$$bin/$$(echo "$$pkg" | tr -c 'a-zA-Z0-9\n' _).test"; \
		if [ ! -x "$$exe" ]; then $(GO) test -c -fuzz=. -o "$$exe" "$$pkg"; fi; \
		echo "fuzz $$pkg $$target for $(FUZZTIME)"; \
		(cd "$$pkg" && "$$exe" -test.run='^$$' -test.fuzz="^$$target\$$" -test.fuzztime=$(FUZZTIME) \
			-test.fuzzminimizetime=$(FUZZMINIMIZETIME) -test.fuzzcachedir="$$cache/$$($(GO) list "$$pkg")"); \
	done

# Benchmarks (bench/README.md):
#   make bench-smoke  the harness at tiny sizes against a fresh Berth and Distribution; fails on any error
#   make bench        bench/compare.sh: Berth (SQLite, PostgreSQL) vs Distribution, appends bench/RESULTS.md
#   make bench-scan   bench/scan.sh: Berth's scanner (one image; scan-all of 1,000), appends bench/RESULTS.md
#   make bench-portal bench/portal.sh: the web portal with 100,000 artifacts (SQLite, PostgreSQL), appends bench/RESULTS.md
.PHONY: bench-smoke bench bench-scan bench-portal

bench-smoke:
	BENCH_SMOKE=1 bash bench/compare.sh
	BENCH_SMOKE=1 bash bench/portal.sh

bench:
	bash bench/compare.sh

bench-scan:
	bash bench/scan.sh

bench-portal:
	bash bench/portal.sh
