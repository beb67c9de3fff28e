//go:build libsecp256k1

package bench

const signatureBackend = "libsecp256k1 (cgo)"
