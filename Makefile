# Myriad — build, run and test targets. `make test` is what CI runs: lint,
# every test (with the simulator's canaries), every fuzz target for FUZZTIME
# and the simulator's 500 seeds (make sim).
GO ?= go
N ?= 1000000
FUZZTIME ?= 10s
STATICCHECK_VERSION ?= v0.8.2

.PHONY: all build run test unit lint sim sim-long fuzz bench bench-sessions crash-long

all: build

build:
	$(GO) build -o bin/imapd ./cmd/imapd

# run: build imapd, create ./data with a demo user and a self-signed
# certificate, and serve on 127.0.0.1 (see README.md).
run: build
	./bin/imapd demo -data ./data

test: lint unit fuzz sim

unit:
	$(GO) test -count=1 -timeout 15m ./...

lint:
	@unformatted="$$(gofmt -l .)"; if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	@command -v staticcheck >/dev/null 2>&1 || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	"$$($(GO) env GOPATH)/bin/staticcheck" ./...

sim:
	@if [ -f sim/main.go ]; then $(GO) run ./sim -seeds 1-500 -clients 50; else echo "sim: not built yet"; fi

sim-long:
	$(GO) run ./sim -seeds 1-100000 -clients 50

# crash-long: 10,000 SIGKILL cycles of storage's process crash test
# (TestCrashProcess; `make test` runs 100).
crash-long:
	STORAGE_CRASH_CYCLES=10000 $(GO) test -count=1 -timeout 0 -run '^TestCrashProcess$$' -v ./storage

fuzz:
	@GO=$(GO) fuzz/run-targets.sh $(FUZZTIME)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# bench-sessions: hold N sessions (logged in, INBOX selected, IDLE) in one
# process and print heap bytes per session.
bench-sessions:
	MYRIAD_SESSIONS=$(N) MYRIAD_USERS=$(USERS) $(GO) test -run '^TestHoldSessions$$' -count=1 -v -timeout 60m ./statemachine | grep -E '^sessions:'

# ---- Scale benchmarks against Dovecot (bench/, docs/BENCHMARKS.md) ----
# bench-idle: N idle sessions (LOGIN, SELECT INBOX, IDLE) on SERVER, memory
# per session, then one delivery fanned out to the watchers of a mailbox;
# prints one "idle:" line (details in $(BENCH_DIR)/idle.txt). USERS=1 puts
# every session on one mailbox.
# bench-throughput: the checked mixed workload from 10, 100 and 1,000
# clients against Myriad and then Dovecot; prints both and the ratio.
SERVER ?= myriad
TLS ?= 0
USERS ?= 200
BENCH_DIR ?= /tmp/myriad-bench
BENCH_ENV = BENCH_DIR=$(BENCH_DIR) IMAPD=bin/imapd IMAPBENCH=bin/imapbench

.PHONY: bench-tools bench-idle bench-throughput

bench-tools:
	@$(GO) build -o bin/imapd ./cmd/imapd
	@$(GO) build -o bin/imapbench ./bench

bench-idle: bench-tools
	@$(BENCH_ENV) bench/run-idle.sh $(SERVER) $(if $(filter file,$(origin N)),1000,$(N)) $(TLS) $(USERS)

bench-throughput: bench-tools
	@$(BENCH_ENV) bench/run-throughput.sh
