# FleetPulse. `make run` builds everything and starts the server with the
# simulated fleet; `make test` runs every test, the browser test included.

GO      ?= go
ECHARTS := 5.6.0
WASM    := web/app.wasm
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build wasm echarts run test test-go test-wasm vet lint bench clean

all: build

build: wasm echarts
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/fleetpulse .

# The server embeds and serves brotli and gzip forms made here (quality 9:
# about 6 s for app.wasm, under 2 MB; 11 saves 0.2 MB more but takes 35 s).
wasm:
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags '-s -w' -o $(WASM) ./app
	$(GO) run ./scripts/compress -quality 9 $(WASM) web/app.css

echarts: web/echarts/echarts.min.js.br

web/echarts/echarts.min.js:
	./scripts/fetch-echarts.sh $(ECHARTS) web/echarts

web/echarts/echarts.min.js.br: web/echarts/echarts.min.js
	$(GO) run ./scripts/compress -quality 11 web/echarts/echarts.min.js

run: build
	./bin/fleetpulse $(ARGS)

vet:
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet ./app/... ./shared/...

test: vet lint wasm echarts test-wasm
	FLEETPULSE_BROWSER_TEST=1 $(GO) test -race -shuffle=on -count=1 -timeout 30m ./...

test-wasm:
	GOOS=js GOARCH=wasm $(GO) test -exec="$$($(GO) env GOROOT)/lib/wasm/go_js_wasm_exec" ./shared/... ./app/offline
	GOOS=js GOARCH=wasm $(GO) test -exec="$$($(GO) env GOROOT)/lib/wasm/go_js_wasm_exec" -run JSDecode ./app/live

# The linters are pinned by the tool lines of go.mod. The js/wasm runs use
# the host build of each tool (go tool -n) to analyse the client's code.
# gosec's G104 (unchecked errors) is off: the calls it lists are writes to
# clients that may have left and closes after a failure or at shutdown,
# where nothing better can be done. scripts/ (make bench, the build's
# compressor) is left out: developer tools that run what the developer
# asks and read the repository's own files. Every other exception is a
# "// #nosec Gnnn -- reason" comment on its line.
GOSEC := -quiet -exclude=G104 -exclude-dir=scripts
lint:
	$(GO) tool staticcheck ./...
	GOOS=js GOARCH=wasm $$($(GO) tool -n staticcheck) ./app/... ./shared/...
	$(GO) tool gosec $(GOSEC) ./...
	GOOS=js GOARCH=wasm $$($(GO) tool -n gosec) $(GOSEC) ./app/... ./shared/...

# The Go benchmarks, then the built server under loadgen; one table at the end
# (BENCH_FULL=1 for the long version).
bench: build
	$(GO) run ./scripts/bench

clean:
	rm -rf bin $(WASM) $(WASM).* web/app.css.* web/echarts
