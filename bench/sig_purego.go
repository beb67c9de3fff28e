//go:build !libsecp256k1

package bench

const signatureBackend = "btcec (pure Go; build with -tags libsecp256k1 for the C library)"
