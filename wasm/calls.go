//go:build js && wasm

package main

import (
	"context"
	"errors"
	"fmt"
	"syscall/js"
	"time"
)

// coreFuncs are the calls of wasm/README.md beyond the pure helpers.
var coreFuncs = map[string]func([]js.Value) any{
	"generateKey": jsGenerateKey,
	"keyInfo":     jsKeyInfo,
	"npub":        jsNpub,
	"decode":      jsDecode,
	"sign":        jsSign,
	"start":       jsStart,
	"share":       jsShare,
	"publish":     jsPublish,
	"open":        jsOpen,
	"chunk":       jsChunk,
	"read":        jsRead,
	"fetch":       jsFetch,
	"progress":    jsProgress,
	"list":        jsList,
	"remove":      jsRemove,
	"status":      func([]js.Value) any { return theCore.status() },
	"setSeeding":  jsSetSeeding,
	"setQuota":    jsSetQuota,
}

// start(opts) -> Promise<{pubkey}>
func jsStart(args []js.Value) any {
	var o startOptions
	err := errors.New("want an options object {relay, secretKey, ...}")
	if len(args) == 1 {
		err = fromJS(args[0], &o)
	}
	return async("start", func() (any, error) {
		if err != nil {
			return nil, err
		}
		return theCore.start(o)
	})
}

// share(bytes, {name, mime, title, summary, onProgress}) -> Promise<{...}>
func jsShare(args []js.Value) any {
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
		return theCore.share(data, o, onProgress)
	})
}

// publish(event) -> Promise<{ok, message}>
func jsPublish(args []js.Value) any {
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
		return theCore.publishEvent(ev)
	})
}

// open(ref) -> Promise<{root, sha256, size, mime, name, chunks, fragmented}>
func jsOpen(args []js.Value) any {
	ref, err := strArg(args, 0, "the reference")
	return async("open", func() (any, error) {
		if err != nil {
			return nil, err
		}
		f, err := theCore.open(ref)
		if err != nil {
			return nil, err
		}
		return f.info(), nil
	})
}

// chunk(root, index) -> Promise<Uint8Array>
func jsChunk(args []js.Value) any {
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
		b, err := theCore.chunk(root, int(i))
		if err != nil {
			return nil, err
		}
		return uint8Array(b), nil
	})
}

// read(root, offset, length) -> Promise<Uint8Array>
func jsRead(args []js.Value) any {
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
		b, err := theCore.read(root, off, n)
		if err != nil {
			return nil, err
		}
		return uint8Array(b), nil
	})
}

// fetch(ref, {onProgress(p)}) -> Promise<{root, sha256, size, mime}>
func jsFetch(args []js.Value) any {
	ref, err := strArg(args, 0, "the reference")
	onProgress := opt(args, 1, "onProgress")
	return async("fetch", func() (any, error) {
		if err != nil {
			return nil, err
		}
		f, err := theCore.open(ref)
		if err != nil {
			return nil, err
		}
		report := func() map[string]any {
			p := theCore.progress(f.Root)
			if onProgress.Type() == js.TypeFunction {
				if v, err := toJS(p); err == nil {
					onProgress.Invoke(v)
				}
			}
			return p
		}
		checked := false
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			dl := theCore.download(f.Root)
			if dl == nil {
				if theCore.held(f.m) == len(f.m.Chunks) {
					break
				}
				return nil, errors.New("the download was removed")
			}
			select {
			case <-dl.done:
			case <-tick.C:
				report()
				continue
			case <-theCore.ctx.Done():
				return nil, context.Canceled
			}
			dl.mu.Lock()
			derr := dl.err
			dl.mu.Unlock()
			if derr == nil {
				derr = dl.d.Err()
			}
			if derr != nil {
				return nil, derr
			}
			checked = true // the download checks the whole file when it ends
			break
		}
		if f.SHA256 != "" && !checked {
			if err := theCore.checkWhole(f); err != nil {
				return nil, err
			}
		}
		report()
		return map[string]any{"root": f.Root, "sha256": f.SHA256, "size": f.m.Size, "mime": f.m.MIME}, nil
	})
}

// progress(root) -> {...} | {error}
func jsProgress(args []js.Value) any {
	root, err := strArg(args, 0, "progress: the root")
	if err != nil {
		return errResult(err)
	}
	if _, err := theCore.secret(); err != nil {
		return errResult(err)
	}
	return theCore.progress(root)
}

// list() -> Promise<[{root, sha256, name, mime, size, chunks, have, pinned}]>
func jsList([]js.Value) any {
	return async("list", func() (any, error) {
		if _, err := theCore.secret(); err != nil {
			return nil, err
		}
		return theCore.list(), nil
	})
}

// remove(root) -> Promise<undefined>
func jsRemove(args []js.Value) any {
	root, err := strArg(args, 0, "the root")
	return async("remove", func() (any, error) {
		if err != nil {
			return nil, err
		}
		if _, err := theCore.secret(); err != nil {
			return nil, err
		}
		return nil, theCore.remove(root)
	})
}

// setSeeding(bool) -> {seeding} | {error}
func jsSetSeeding(args []js.Value) any {
	if len(args) != 1 || args[0].Type() != js.TypeBoolean {
		return errResult(errors.New("setSeeding: want true or false"))
	}
	if _, err := theCore.secret(); err != nil {
		return errResult(err)
	}
	on := args[0].Bool()
	was := theCore.seeding.Swap(on)
	if on && !was {
		theCore.mu.Lock()
		roots := make([]string, 0, len(theCore.announced))
		for r := range theCore.announced {
			roots = append(roots, r)
		}
		theCore.mu.Unlock()
		go theCore.announce(roots)
	}
	return map[string]any{"seeding": on}
}

// setQuota(bytes) -> {quota} | {error}; eviction runs in the background.
func jsSetQuota(args []js.Value) any {
	if len(args) != 1 {
		return errResult(errors.New("setQuota: want a byte count"))
	}
	q, err := jsInt(args[0], "setQuota")
	if err != nil {
		return errResult(err)
	}
	if _, err := theCore.secret(); err != nil {
		return errResult(err)
	}
	go func() {
		if err := theCore.store.SetQuota(q); err != nil {
			js.Global().Get("console").Call("warn", fmt.Sprintf("cairn: setQuota: %v", err))
		}
	}()
	return map[string]any{"quota": q}
}
