#!/usr/bin/env bash
# Runs a GOOS=js GOARCH=wasm test binary under Node, as Go's go_js_wasm_exec
# does, with an IndexedDB installed first (fake-indexeddb from this
# directory's node_modules: `make deps-npm`), since Node has none.
# Use: GOOS=js GOARCH=wasm go test -exec="$PWD/wasm/exec.sh" ./wasm/...
set -euo pipefail
here="$(cd -P "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
goroot="$(GOOS= GOARCH= go env GOROOT)"
wasmdir="$goroot/lib/wasm"
[ -f "$wasmdir/wasm_exec_node.js" ] || wasmdir="$goroot/misc/wasm"
# Node 20 has WebSocket (which the core's relay client uses) behind a flag;
# later Node has it by default.
flags=()
if node --experimental-websocket -e 0 2>/dev/null && ! node -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)'; then
	flags+=(--experimental-websocket)
fi
exec node "${flags[@]}" --stack-size=8192 --import "$here/idbshim.mjs" "$wasmdir/wasm_exec_node.js" "$@"
