//go:build js && wasm

package sha

import (
	"errors"
	"fmt"
	"syscall/js"
)

// ErrNoWebCrypto: globalThis.crypto.subtle is missing (an insecure http://
// origin other than localhost, or an old runtime).
var ErrNoWebCrypto = errors.New("sha: crypto.subtle is not available")

// WebCrypto hashes with the JavaScript host's crypto.subtle.digest.
type WebCrypto struct {
	subtle     js.Value
	uint8Array js.Value
}

// NewWebCrypto returns a WebCrypto hasher, or ErrNoWebCrypto.
func NewWebCrypto() (*WebCrypto, error) {
	c := js.Global().Get("crypto")
	if c.IsUndefined() || c.IsNull() {
		return nil, ErrNoWebCrypto
	}
	s := c.Get("subtle")
	if s.IsUndefined() || s.IsNull() || s.Get("digest").Type() != js.TypeFunction {
		return nil, ErrNoWebCrypto
	}
	return &WebCrypto{subtle: s, uint8Array: js.Global().Get("Uint8Array")}, nil
}

// Default returns WebCrypto when the host has it, crypto/sha256 otherwise.
func Default() Hasher {
	if w, err := NewWebCrypto(); err == nil {
		return w
	}
	return Go{}
}

// Sum256 copies data into JavaScript, awaits crypto.subtle.digest and
// copies the digest back. It blocks the calling goroutine until the promise
// settles (see Hasher).
func (w *WebCrypto) Sum256(data []byte) ([32]byte, error) {
	var sum [32]byte
	buf := w.uint8Array.New(len(data))
	js.CopyBytesToJS(buf, data)

	type result struct {
		v   js.Value
		err error
	}
	done := make(chan result, 1)
	resolve := js.FuncOf(func(_ js.Value, args []js.Value) any {
		done <- result{v: args[0]}
		return nil
	})
	defer resolve.Release()
	reject := js.FuncOf(func(_ js.Value, args []js.Value) any {
		msg := "rejected"
		if len(args) > 0 {
			msg = args[0].Call("toString").String()
		}
		done <- result{err: fmt.Errorf("sha: crypto.subtle.digest: %s", msg)}
		return nil
	})
	defer reject.Release()
	w.subtle.Call("digest", "SHA-256", buf).Call("then", resolve, reject)

	r := <-done
	if r.err != nil {
		return sum, r.err
	}
	out := w.uint8Array.New(r.v)
	if n := out.Length(); n != len(sum) {
		return sum, fmt.Errorf("sha: crypto.subtle.digest returned %d bytes, want %d", n, len(sum))
	}
	js.CopyBytesToGo(sum[:], out)
	return sum, nil
}
