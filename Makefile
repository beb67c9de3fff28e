# cairn: the two commands are `make run` (a node with embedded defaults, web
# app on http://127.0.0.1:7447) and `make test` (everything CI runs).
#
# libsecp256k1 switches signature checks to the bundled C library (about 4x
# faster than pure Go); the build needs gcc, which `make deps` checks for.
# nosqlite leaves out the SQLite piece-completion store anacrolix/torrent
# would compile in (cairn never uses it; a build without the tag works too,
# it only compiles SQLite's C for nothing).

GO       ?= go
TAGS     ?= libsecp256k1,nosqlite
BIN      := bin/cairn
VERSION  := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
export GOFLAGS := -tags=$(TAGS)
SHELL := /bin/bash

.PHONY: run build build-wasm test test-unit test-wasm test-e2e deps deps-apt deps-npm vet fmt-check bench clean

run: build
	./$(BIN) node $(ARGS)

# build also builds the browser core first, so the binary embeds it.
build: build-wasm
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/cairn

# test: the whole suite, as CI runs it.
test: deps fmt-check vet test-unit test-wasm test-e2e

# CAIRN_E2E=1: a missing tool (ffmpeg, node) fails a test instead of skipping it.
# -race: every native package runs under the race detector (it needs cgo,
# as libsecp256k1 does). `go list ./...` lists only what builds natively, so
# the js-only ./wasm is not among them; ./test/... is test-e2e's.
UNIT_PKGS = $$($(GO) list ./... | grep -v -e '/test$$' -e '/test/')
test-unit:
	CAIRN_E2E=1 $(GO) test -race -count=1 $(UNIT_PKGS)

# The browser core (docs/ARCHITECTURE.md, "The browser core"): GOOS=js
# GOARCH=wasm builds, run under Node with Go's own exec wrapper. cgo does not
# exist there, so the libsecp256k1 tag is dropped (GOFLAGS=). The built
# web/static/cairn.wasm and wasm_exec.js are not committed: build-wasm makes
# them and the web package embeds whatever web/static holds. wasm/exec.sh is
# Go's go_js_wasm_exec with an IndexedDB (fake-indexeddb, `make deps-npm`)
# loaded first, for wasm/idb and the API tests.
GOROOT_DIR := $(shell $(GO) env GOROOT)
WASM_DIR   := $(firstword $(wildcard $(GOROOT_DIR)/lib/wasm $(GOROOT_DIR)/misc/wasm))
WASM_ENV   := GOOS=js GOARCH=wasm GOFLAGS=
WASM_PKGS  := ./nostr/... ./internal/ws ./webrtc/rtc ./sha ./event ./credit/... ./superpeer ./personal ./room/... ./merkle ./swarm/wire ./swarm/sched ./media/chunkmap ./media ./blobstore/... ./swarm ./peer ./wasm/...

test-wasm: build-wasm deps-npm
	$(WASM_ENV) $(GO) vet ./wasm/... ./nostr/... ./internal/ws ./webrtc/rtc ./webrtc
	$(WASM_ENV) $(GO) test -count=1 -exec=$(CURDIR)/wasm/exec.sh $(WASM_PKGS)
	node wasm/smoke.mjs web/static

# cairn.wasm.zst and cairn.wasm.gz: the core's zstd and gzip encodings,
# which the web server sends as they are (after checking they decompress to
# cairn.wasm) instead of compressing 10 MB on the first page load. zstd's
# window stays at 8 MiB (wlog=23): browsers refuse a wider one. Without the
# zstd command (`make deps` installs it) the core is served gzip-encoded.
build-wasm:
	$(WASM_ENV) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o web/static/cairn.wasm ./wasm
	@if command -v zstd >/dev/null; then \
		zstd -19 --zstd=wlog=23 -q -f -o web/static/cairn.wasm.zst web/static/cairn.wasm; \
	else \
		rm -f web/static/cairn.wasm.zst; \
		echo "build-wasm: zstd is not installed (make deps, or apt-get install zstd): the core will be served gzip-encoded, 0.67 MB more" >&2; \
	fi
	gzip -9 -n -k -f web/static/cairn.wasm
	cp $(WASM_DIR)/wasm_exec.js web/static/wasm_exec.js

# End-to-end suites under test/ (the real binary, nostr-tools, kill -9).
# CAIRN_E2E=1 makes a missing prerequisite a failure instead of a skip.
test-e2e:
	CAIRN_E2E=1 $(GO) test -count=1 -timeout 20m ./test/...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

deps: deps-apt deps-npm
	$(GO) mod download

# Debian packages the tests need, installed only when their command is
# missing: command:package pairs.
APT_NEEDS := gcc:gcc node:nodejs npm:npm ffmpeg:ffmpeg ffprobe:ffmpeg chromium:chromium ip:iproute2 nft:nftables aria2c:aria2 mktorrent:mktorrent microsocks:microsocks zstd:zstd
# Python modules from Debian, checked by importing them under /usr/bin/python3:
# module:package pairs.
PY_NEEDS := libtorrent:python3-libtorrent
deps-apt:
	@pkgs=""; for pair in $(APT_NEEDS); do \
		cmd=$${pair%%:*}; pkg=$${pair#*:}; \
		command -v $$cmd >/dev/null || pkgs="$$pkgs $$pkg"; \
	done; \
	for pair in $(PY_NEEDS); do \
		mod=$${pair%%:*}; pkg=$${pair#*:}; \
		/usr/bin/python3 -c "import $$mod" 2>/dev/null || pkgs="$$pkgs $$pkg"; \
	done; \
	if [ -n "$$pkgs" ]; then \
		echo "installing Debian packages:$$pkgs"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$pkgs; \
	fi

deps-npm:
	cd test/conformance && (test -d node_modules || npm ci --no-audit --no-fund --loglevel=error)
	cd wasm && (test -d node_modules || npm ci --no-audit --no-fund --loglevel=error)
	cd test/blossom && (test -d node_modules || npm ci --no-audit --no-fund --loglevel=error)

bench:
	$(GO) run ./cmd/cairn bench relay

clean:
	rm -rf bin web/static/cairn.wasm web/static/cairn.wasm.gz web/static/cairn.wasm.zst web/static/wasm_exec.js
