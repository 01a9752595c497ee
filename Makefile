# Myriad — build, run and test targets. `make test` is what CI runs.
GO ?= go
N ?= 1000000
FUZZTIME ?= 10s
STATICCHECK_VERSION ?= v0.8.2

.PHONY: all build run test unit lint sim sim-long fuzz bench bench-sessions

all: build

build:
	$(GO) build -o bin/imapd ./cmd/imapd

# run: build imapd, create ./data with a demo user and a self-signed
# certificate, and serve on 127.0.0.1 (see README.md).
run: build
	./bin/imapd demo -data ./data

test: lint unit sim

unit:
	$(GO) test -count=1 -timeout 15m ./...

lint:
	$(GO) vet ./...
	@command -v staticcheck >/dev/null 2>&1 || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	"$$($(GO) env GOPATH)/bin/staticcheck" ./...

sim:
	@if [ -f sim/main.go ]; then $(GO) run ./sim -seeds 1-500 -clients 50; else echo "sim: not built yet"; fi

sim-long:
	$(GO) run ./sim -seeds 1-100000 -clients 50

fuzz:
	@for t in $$($(GO) test -list 'Fuzz.*' ./fuzz | grep ^Fuzz); do \
		$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) ./fuzz || exit 1; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# bench-sessions: hold N sessions (logged in, INBOX selected, IDLE) in one
# process and print heap bytes per session.
bench-sessions:
	MYRIAD_SESSIONS=$(N) MYRIAD_USERS=$(USERS) $(GO) test -run '^TestHoldSessions$$' -count=1 -v -timeout 60m ./statemachine | grep -E '^sessions:'
