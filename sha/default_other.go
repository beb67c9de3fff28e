//go:build !(js && wasm)

package sha

// Default returns the platform's hasher: crypto/sha256 natively.
func Default() Hasher { return Go{} }
