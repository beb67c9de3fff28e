//go:build js && wasm

package main

import (
	"fmt"
	"sync"
	"syscall/js"

	"github.com/cairn-nostr/cairn/peer"
	"github.com/cairn-nostr/cairn/swarm"
)

// maxWholeHeld bounds the chunk bytes held for whole-file checks. A file
// larger than this is checked from IndexedDB as before.
const maxWholeHeld = 64 << 20

// wholeHeld keeps, in JavaScript memory, the verified chunks a download
// stores while its file's sha256 is still to be checked, so that the
// whole-file check after the last chunk joins them from memory instead of
// reading the file back from IndexedDB (180-360 ms for 48 MiB here, more
// than the digest itself). Only files with a sha256 and at most
// maxWholeHeld bytes are registered; what is held is dropped once the
// check took it or the download ended.
type wholeHeld struct {
	mu    sync.Mutex
	files map[[32]byte][][32]byte // root -> its chunks, while registered
	want  map[[32]byte]int        // chunk -> registered files listing it
	held  map[[32]byte]js.Value   // chunk -> its bytes
	bytes int64
}

func newWholeHeld() *wholeHeld {
	return &wholeHeld{files: map[[32]byte][][32]byte{}, want: map[[32]byte]int{}, held: map[[32]byte]js.Value{}}
}

// expect registers f's chunks to be held as they are stored. It reports
// whether f was registered (a sha256 to check and small enough).
func (w *wholeHeld) expect(f *peer.File) bool {
	if f.SHA256 == "" || f.Map.Size > maxWholeHeld {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	root := f.Map.Root
	if _, ok := w.files[root]; ok {
		return true
	}
	w.files[root] = f.Map.Chunks
	for _, h := range f.Map.Chunks {
		w.want[h]++
	}
	return true
}

// wants tells whether chunk h belongs to a registered file.
func (w *wholeHeld) wants(h [32]byte) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.want[h] > 0
}

// hold keeps u as chunk h if a registered file lists it and the bound
// leaves room.
func (w *wholeHeld) hold(h [32]byte, u js.Value) {
	n := int64(u.Length())
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, dup := w.held[h]; dup || w.want[h] == 0 || w.bytes+n > maxWholeHeld {
		return
	}
	w.held[h] = u
	w.bytes += n
}

// drop unregisters root and releases the chunks no other registered file
// lists.
func (w *wholeHeld) drop(root [32]byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dropLocked(root)
}

func (w *wholeHeld) dropLocked(root [32]byte) {
	chunks, ok := w.files[root]
	if !ok {
		return
	}
	delete(w.files, root)
	for _, h := range chunks {
		if w.want[h]--; w.want[h] > 0 {
			continue
		}
		delete(w.want, h)
		if u, ok := w.held[h]; ok {
			w.bytes -= int64(u.Length())
			delete(w.held, h)
		}
	}
}

// take returns f's chunks held so far, in file order (a chunk not held is
// js.Undefined), or nil when f was not registered, and unregisters f.
func (w *wholeHeld) take(f *peer.File) []js.Value {
	w.mu.Lock()
	defer w.mu.Unlock()
	defer w.dropLocked(f.Map.Root)
	if _, ok := w.files[f.Map.Root]; !ok {
		return nil
	}
	parts := make([]js.Value, len(f.Map.Chunks))
	for i, h := range f.Map.Chunks {
		if u, ok := w.held[h]; ok {
			parts[i] = u
		}
	}
	return parts
}

// joinFile joins f's chunks in one Uint8Array: those in parts (from take),
// the others read from the store one by one.
func joinFile(f *peer.File, parts []js.Value, get func([32]byte) (js.Value, error)) (js.Value, error) {
	total := int64(0)
	for i, h := range f.Map.Chunks {
		if parts[i].IsUndefined() {
			u, err := get(h)
			if err != nil {
				return js.Undefined(), fmt.Errorf("chunk %d: %w", i, err)
			}
			parts[i] = u
		}
		total += int64(parts[i].Length())
	}
	if total != f.Map.Size {
		return js.Undefined(), fmt.Errorf("the chunks hold %d bytes, the map says %d: %w", total, f.Map.Size, swarm.ErrLayout)
	}
	all := js.Global().Get("Uint8Array").New(total)
	off := int64(0)
	for _, u := range parts {
		all.Call("set", u, off)
		off += int64(u.Length())
	}
	return all, nil
}
