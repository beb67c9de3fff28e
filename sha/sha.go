// Package sha is the SHA-256 the browser core hashes chunks with, behind a
// small interface: crypto/sha256 natively, WebCrypto (crypto.subtle.digest)
// under js/wasm, where SHA-256 compiled to wasm runs at 48-82 MiB/s on the
// page's main thread against ~1.1 GB/s native (docs/ARCHITECTURE.md, "The
// browser core").
package sha

import "crypto/sha256"

// Hasher computes SHA-256 digests.
//
// Under js/wasm the WebCrypto implementation waits for a JavaScript promise:
// call it from a goroutine of its own, never from inside a js.Func callback
// (the callback runs on the event loop, which must stay free to resolve the
// promise).
type Hasher interface {
	Sum256(data []byte) ([32]byte, error)
}

// Go hashes with crypto/sha256. It never fails.
type Go struct{}

// Sum256 returns the SHA-256 digest of data.
func (Go) Sum256(data []byte) ([32]byte, error) { return sha256.Sum256(data), nil }
