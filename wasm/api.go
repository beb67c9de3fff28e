//go:build js && wasm

package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"syscall/js"

	"github.com/cairn-nostr/cairn/event"
	"github.com/cairn-nostr/cairn/media"
	"github.com/cairn-nostr/cairn/media/chunkmap"
	"github.com/cairn-nostr/cairn/merkle"
	"github.com/cairn-nostr/cairn/nostr"
	"github.com/cairn-nostr/cairn/sha"
)

func errResult(err error) any { return map[string]any{"error": err.Error()} }

// merkleRoot(hashes: string[]) -> {root: hex} | {error}
// hashes are the chunk hashes in order, 64 lowercase hex digits each.
func jsMerkleRoot(args []js.Value) any {
	if len(args) != 1 || args[0].Type() != js.TypeObject || !js.Global().Get("Array").Call("isArray", args[0]).Bool() {
		return errResult(errors.New("merkleRoot: want an array of hex strings"))
	}
	n := args[0].Length()
	if n == 0 {
		return errResult(errors.New("merkleRoot: no hashes"))
	}
	if n > chunkmap.MaxChunks {
		return errResult(fmt.Errorf("merkleRoot: %d hashes (max %d)", n, chunkmap.MaxChunks))
	}
	leaves := make([][32]byte, n)
	for i := range leaves {
		v := args[0].Index(i)
		if v.Type() != js.TypeString {
			return errResult(fmt.Errorf("merkleRoot: hash %d is not a string", i))
		}
		h, err := event.ParseHex32(v.String())
		if err != nil {
			return errResult(fmt.Errorf("merkleRoot: hash %d: %w", i, err))
		}
		leaves[i] = h
	}
	root := merkle.Root(leaves)
	return map[string]any{"root": hex.EncodeToString(root[:])}
}

// decodeEvent decodes one signed event strictly and checks its id and
// signature.
func decodeEvent(s string) (*nostr.Event, error) {
	ev, err := event.Decode([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("event JSON: %w", err)
	}
	if err := event.Verify(ev); err != nil {
		return nil, err
	}
	return ev, nil
}

// parseChunkMap(eventJSON: string) -> {map: {...}, id, pubkey} | {error}
// The event must be a signed kind 7001 chunk map: strict JSON, id and
// signature checked, then chunkmap.Parse's validation.
func jsParseChunkMap(args []js.Value) any {
	if len(args) != 1 || args[0].Type() != js.TypeString {
		return errResult(errors.New("parseChunkMap: want the event as a JSON string"))
	}
	ev, err := decodeEvent(args[0].String())
	if err != nil {
		return errResult(fmt.Errorf("parseChunkMap: %w", err))
	}
	m, err := chunkmap.Parse(ev)
	if err != nil {
		return errResult(err)
	}
	return map[string]any{"map": mapToJS(m), "id": ev.ID, "pubkey": ev.PubKey}
}

func mapToJS(m *chunkmap.Map) map[string]any {
	chunks := make([]any, len(m.Chunks))
	for i, c := range m.Chunks {
		chunks[i] = hex.EncodeToString(c[:])
	}
	gks := make([]any, len(m.Gatekeepers))
	for i, g := range m.Gatekeepers {
		gks[i] = g
	}
	nets := make([]any, len(m.ExtraNets))
	for i, n := range m.ExtraNets {
		nets[i] = n
	}
	o := map[string]any{
		"root":        hex.EncodeToString(m.Root[:]),
		"size":        int(m.Size),
		"chunkSize":   int(m.ChunkSize),
		"mime":        m.MIME,
		"title":       m.Title,
		"description": m.Description,
		"chunks":      chunks,
		"gatekeepers": gks,
		"net":         m.Net,
		"extraNets":   nets,
		"init":        nil,
		"chunkInfo":   nil,
	}
	if m.Init != nil {
		o["init"] = map[string]any{"offset": int(m.Init.Offset), "length": int(m.Init.Length)}
	}
	if m.ChunkInfo != nil {
		info := make([]any, len(m.ChunkInfo))
		for i, c := range m.ChunkInfo {
			info[i] = map[string]any{"offset": int(c.Offset), "length": int(c.Length), "durationMs": int(c.DurationMs)}
		}
		o["chunkInfo"] = info
	}
	return o
}

// jsInt reads an integral JavaScript number in [0, 2^53).
func jsInt(v js.Value, name string) (int64, error) {
	if v.Type() != js.TypeNumber {
		return 0, fmt.Errorf("%s: want a number", name)
	}
	f := v.Float()
	if f != math.Trunc(f) || f < 0 || f >= 1<<53 {
		return 0, fmt.Errorf("%s: %v is not a whole number in 0..2^53-1", name, f)
	}
	return int64(f), nil
}

// planFixed(size: number, chunkSize: number) -> {chunkSize, chunks: [{offset, length}]} | {error}
// chunkSize 0 means the default (5 MiB). The page hashes each range (sha256),
// then takes merkleRoot of the hashes: the result equals media.SplitFixed's
// plan without hashing the file in Go.
func jsPlanFixed(args []js.Value) any {
	if len(args) != 2 {
		return errResult(errors.New("planFixed: want (size, chunkSize)"))
	}
	size, err := jsInt(args[0], "planFixed size")
	if err != nil {
		return errResult(err)
	}
	cs, err := jsInt(args[1], "planFixed chunkSize")
	if err != nil {
		return errResult(err)
	}
	target, ranges, err := planFixed(size, cs)
	if err != nil {
		return errResult(err)
	}
	out := make([]any, len(ranges))
	for i, r := range ranges {
		out[i] = map[string]any{"offset": int(r.Offset), "length": int(r.Length)}
	}
	return map[string]any{"chunkSize": int(target), "chunks": out}
}

// planFixed is media.SplitFixed's cut without the hashing: chunks of exactly
// the target size, the last one shorter, with the same limits and errors.
func planFixed(size, chunkSize int64) (int64, []chunkmap.ByteRange, error) {
	return media.CutFixed(size, media.Chunker{TargetSize: chunkSize})
}

// sha256(data: Uint8Array) -> Promise<hex>
// Hashes with WebCrypto through the sha package, on a goroutine of its own
// (a js.Func must not block on a promise).
func jsSHA256(hasher sha.Hasher, args []js.Value) any {
	promise := js.Global().Get("Promise")
	if len(args) != 1 || !args[0].InstanceOf(js.Global().Get("Uint8Array")) {
		return promise.Call("reject", js.Global().Get("TypeError").New("sha256: want a Uint8Array"))
	}
	data := make([]byte, args[0].Length())
	js.CopyBytesToGo(data, args[0])
	var executor js.Func
	executor = js.FuncOf(func(_ js.Value, pargs []js.Value) any {
		resolve, reject := pargs[0], pargs[1]
		go func() {
			defer executor.Release()
			sum, err := hasher.Sum256(data)
			if err != nil {
				reject.Invoke(js.Global().Get("Error").New(err.Error()))
				return
			}
			resolve.Invoke(hex.EncodeToString(sum[:]))
		}()
		return nil
	})
	return promise.New(executor)
}
