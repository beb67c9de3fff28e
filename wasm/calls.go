//go:build js && wasm

package main

import (
	"context"
	"errors"
	"fmt"
	"syscall/js"
)

// The exports of globalThis.cairn (wasm/README.md). Synchronous ones read
// atomics, the snapshot or memory and never wait for the event loop;
// everything that waits returns a Promise (async). Both recover panics:
// a synchronous call returns {error}, an async one rejects.

// api builds the cairn object over t. The functions are never released:
// the API lives as long as the page.
func (t *tab) api() js.Value {
	sync := map[string]func([]js.Value) any{
		"version":       func([]js.Value) any { return version },
		"merkleRoot":    jsMerkleRoot,
		"parseChunkMap": jsParseChunkMap,
		"planFixed":     jsPlanFixed,
		"generateKey":   jsGenerateKey,
		"keyInfo":       jsKeyInfo,
		"npub":          jsNpub,
		"decode":        jsDecode,
		"progress":      t.jsProgress,
		"status":        func([]js.Value) any { return t.status() },
		"setSeeding":    t.jsSetSeeding,
		"setQuota":      t.jsSetQuota,
		"roomGenesis":   jsRoomGenesis,
		"roomEntry":     jsRoomEntry,
		"nip95Status":   jsNIP95Status,
		"nip95Stop":     jsNIP95Stop,
	}
	promises := map[string]func([]js.Value) any{
		"sha256":  func(a []js.Value) any { return jsSHA256(t.hasher, a) },
		"sign":    t.jsSign,
		"start":   t.jsStart,
		"share":   t.jsShare,
		"publish": t.jsPublish,
		"open":    t.jsOpen,
		"chunk":   t.jsChunk,
		"read":    t.jsRead,
		"fetch":   t.jsFetch,
		"list":    t.jsList,
		"remove":  t.jsRemove,

		"roomReplay": jsRoomReplay,

		"nip95Recent": jsNIP95Recent,
		"nip95Serve":  jsNIP95Serve,
	}
	o := js.Global().Get("Object").New()
	for name, f := range sync {
		o.Set(name, js.FuncOf(guarded(name, f)))
	}
	for name, f := range promises {
		o.Set(name, js.FuncOf(guardedAsync(name, f)))
	}
	return o
}

// guarded turns a panic in a synchronous export into {error}.
func guarded(name string, f func([]js.Value) any) func(js.Value, []js.Value) any {
	return func(_ js.Value, args []js.Value) (out any) {
		defer func() {
			if r := recover(); r != nil {
				out = errResult(fmt.Errorf("%s: internal error: %v", name, r))
			}
		}()
		return f(args)
	}
}

// guardedAsync turns a panic while an async export reads its arguments
// into a rejected Promise (async itself recovers the rest).
func guardedAsync(name string, f func([]js.Value) any) func(js.Value, []js.Value) any {
	return func(_ js.Value, args []js.Value) (out any) {
		defer func() {
			if r := recover(); r != nil {
				out = js.Global().Get("Promise").Call("reject", jsErr(fmt.Errorf("%s: internal error: %v", name, r)))
			}
		}()
		return f(args)
	}
}

// start(opts) -> Promise<{pubkey}>
func (t *tab) jsStart(args []js.Value) any {
	var o startOptions
	err := errors.New("want an options object {relay, secretKey, ...}")
	if len(args) == 1 {
		err = fromJS(args[0], &o)
	}
	return async("start", func() (any, error) {
		if err != nil {
			return nil, err
		}
		return t.start(o)
	})
}

// share(bytes, {name, mime, title, summary, onProgress}) -> Promise<{...}>
func (t *tab) jsShare(args []js.Value) any {
	data, err := bytesArg(args, 0, "the file")
	o := shareOptions{
		Name: optString(opt(args, 1, "name")), MIME: optString(opt(args, 1, "mime")),
		Title: optString(opt(args, 1, "title")), Summary: optString(opt(args, 1, "summary")),
	}
	onProgress := opt(args, 1, "onProgress")
	return async("share", func() (any, error) {
		if err != nil {
			return nil, err
		}
		return t.share(data, o, onProgress)
	})
}

// publish(event) -> Promise<{ok, message}>
func (t *tab) jsPublish(args []js.Value) any {
	var raw string
	err := errors.New("want a signed event object")
	if len(args) == 1 && args[0].Type() == js.TypeObject {
		if s := js.Global().Get("JSON").Call("stringify", args[0]); s.Type() == js.TypeString {
			raw, err = s.String(), nil
		}
	}
	return async("publish", func() (any, error) {
		if err != nil {
			return nil, err
		}
		ev, err := decodeEvent(raw)
		if err != nil {
			return nil, err
		}
		return t.publishEvent(ev)
	})
}

// open(ref) -> Promise<{root, sha256, size, mime, name, chunks, fragmented}>
func (t *tab) jsOpen(args []js.Value) any {
	ref, err := strArg(args, 0, "the reference")
	return async("open", func() (any, error) {
		if err != nil {
			return nil, err
		}
		f, err := t.open(ref, true)
		if err != nil {
			return nil, err
		}
		_, s := t.file(context.Background(), f.Root())
		name := ""
		if s != nil {
			name = s.Name
		}
		return info(f, name), nil
	})
}

// chunk(root, index) -> Promise<Uint8Array>
func (t *tab) jsChunk(args []js.Value) any {
	root, err := strArg(args, 0, "the root")
	var i int64
	if err == nil {
		if len(args) < 2 {
			err = errors.New("want (root, index)")
		} else {
			i, err = jsInt(args[1], "the index")
		}
	}
	return async("chunk", func() (any, error) {
		if err != nil {
			return nil, err
		}
		return t.chunk(root, int(i))
	})
}

// read(root, offset, length) -> Promise<Uint8Array>
func (t *tab) jsRead(args []js.Value) any {
	root, err := strArg(args, 0, "the root")
	var off, n int64
	if err == nil && len(args) < 3 {
		err = errors.New("want (root, offset, length)")
	}
	if err == nil {
		off, err = jsInt(args[1], "the offset")
	}
	if err == nil {
		n, err = jsInt(args[2], "the length")
	}
	return async("read", func() (any, error) {
		if err != nil {
			return nil, err
		}
		b, err := t.read(root, off, n)
		if err != nil {
			return nil, err
		}
		return uint8Array(b), nil
	})
}

// fetch(ref, {onProgress(p)}) -> Promise<{root, sha256, size, mime}>
func (t *tab) jsFetch(args []js.Value) any {
	ref, err := strArg(args, 0, "the reference")
	onProgress := opt(args, 1, "onProgress")
	return async("fetch", func() (any, error) {
		if err != nil {
			return nil, err
		}
		return t.fetch(ref, func(p map[string]any) {
			if onProgress.Type() == js.TypeFunction {
				if v, err := toJS(p); err == nil {
					onProgress.Invoke(v)
				}
			}
		})
	})
}

// progress(root) -> {...} | {error}
func (t *tab) jsProgress(args []js.Value) any {
	root, err := strArg(args, 0, "progress: the root")
	if err != nil {
		return errResult(err)
	}
	return t.progress(root)
}

// list() -> Promise<[{root, sha256, name, mime, size, chunks, have, pinned}]>
func (t *tab) jsList([]js.Value) any {
	return async("list", func() (any, error) { return t.list(context.Background()) })
}

// remove(root) -> Promise<undefined>
func (t *tab) jsRemove(args []js.Value) any {
	root, err := strArg(args, 0, "the root")
	return async("remove", func() (any, error) {
		if err != nil {
			return nil, err
		}
		return nil, t.remove(context.Background(), root)
	})
}

// setSeeding(bool) -> {seeding} | {error}
func (t *tab) jsSetSeeding(args []js.Value) any {
	if len(args) != 1 || args[0].Type() != js.TypeBoolean {
		return errResult(errors.New("setSeeding: want true or false"))
	}
	p, err := t.running()
	if err != nil {
		return errResult(err)
	}
	on := args[0].Bool()
	if was := t.seeding.Swap(on); on && !was {
		p.AnnounceAll() // in the background
	}
	return map[string]any{"seeding": on}
}

// setQuota(bytes) -> {quota} | {error}; eviction runs in the background.
func (t *tab) jsSetQuota(args []js.Value) any {
	if len(args) != 1 {
		return errResult(errors.New("setQuota: want a byte count"))
	}
	q, err := jsInt(args[0], "setQuota")
	if err != nil {
		return errResult(err)
	}
	if _, err := t.running(); err != nil {
		return errResult(err)
	}
	go func() {
		st, err := t.db()
		if err == nil {
			err = st.SetQuota(q)
		}
		if err != nil {
			js.Global().Get("console").Call("warn", fmt.Sprintf("cairn: setQuota: %v", err))
		}
	}()
	return map[string]any{"quota": q}
}
