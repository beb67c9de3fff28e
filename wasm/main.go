//go:build js && wasm

// Command wasm is cairn's browser core: the Go packages that run in a page,
// compiled with GOOS=js GOARCH=wasm (`make build-wasm` writes
// web/static/cairn.wasm) and exposed to JavaScript as globalThis.cairn.
//
// Every synchronous function returns either its result object or
// {error: "message"}; it never throws. sha256 returns a Promise. When the
// API is in place, globalThis.onCairnReady is called if it is a function.
//
// It does not import net/http (that nearly doubles the bundle): the page
// fetches through JavaScript.
package main

import (
	"syscall/js"
)

// version is set with -ldflags '-X main.version=...'.
var version = "dev"

func main() {
	js.Global().Set("cairn", newTab().api())
	if f := js.Global().Get("onCairnReady"); f.Type() == js.TypeFunction {
		f.Invoke()
	}
	select {} // main must not return: the callbacks live as long as the page
}
