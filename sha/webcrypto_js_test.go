//go:build js && wasm

package sha

import (
	"sync"
	"testing"
)

// TestWebCrypto runs under `make test-wasm` with Node's WebCrypto
// (globalThis.crypto.subtle, Node >= 19).
func TestWebCrypto(t *testing.T) {
	w, err := NewWebCrypto()
	if err != nil {
		t.Fatal(err)
	}
	testHasher(t, w)
	if _, ok := Default().(*WebCrypto); !ok {
		t.Errorf("Default() = %T, want *WebCrypto when crypto.subtle exists", Default())
	}
}

// TestWebCryptoConcurrent: digests awaited from many goroutines at once each
// get their own result.
func TestWebCryptoConcurrent(t *testing.T) {
	w, err := NewWebCrypto()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := make([]byte, 1000+i)
			for j := range b {
				b[j] = byte(i)
			}
			got, err := w.Sum256(b)
			if err != nil {
				t.Error(err)
				return
			}
			if want, _ := (Go{}).Sum256(b); got != want {
				t.Errorf("goroutine %d: %x, want %x", i, got, want)
			}
		}()
	}
	wg.Wait()
}
