//go:build js && wasm

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"syscall/js"
)

// async returns a Promise settled by fn, which runs on a goroutine of its
// own (a js.Func must not block: IndexedDB, WebCrypto and the network all
// answer through the event loop). An error rejects with an Error carrying
// its message; a panic in fn rejects too, rather than killing the page's
// core.
func async(name string, fn func() (any, error)) js.Value {
	var executor js.Func
	executor = js.FuncOf(func(_ js.Value, pargs []js.Value) any {
		resolve, reject := pargs[0], pargs[1]
		go func() {
			defer executor.Release()
			defer func() {
				if r := recover(); r != nil {
					reject.Invoke(jsErr(fmt.Errorf("%s: internal error: %v", name, r)))
				}
			}()
			v, err := fn()
			if err != nil {
				reject.Invoke(jsErr(fmt.Errorf("%s: %w", name, err)))
				return
			}
			resolve.Invoke(v)
		}()
		return nil
	})
	return js.Global().Get("Promise").New(executor)
}

func jsErr(err error) js.Value { return js.Global().Get("Error").New(err.Error()) }

// toJS turns a Go value marshalled as JSON into a JavaScript value.
func toJS(v any) (js.Value, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return js.Undefined(), err
	}
	return js.Global().Get("JSON").Call("parse", string(b)), nil
}

// fromJS decodes a JavaScript value through JSON into v.
func fromJS(val js.Value, v any) error {
	if val.Type() != js.TypeObject {
		return errors.New("want an object")
	}
	s := js.Global().Get("JSON").Call("stringify", val)
	if s.Type() != js.TypeString {
		return errors.New("the object cannot be turned into JSON")
	}
	return json.Unmarshal([]byte(s.String()), v)
}

// bytesArg copies a Uint8Array argument into Go.
func bytesArg(args []js.Value, i int, name string) ([]byte, error) {
	if len(args) <= i || !args[i].InstanceOf(js.Global().Get("Uint8Array")) {
		return nil, fmt.Errorf("%s: want a Uint8Array", name)
	}
	b := make([]byte, args[i].Length())
	js.CopyBytesToGo(b, args[i])
	return b, nil
}

func uint8Array(b []byte) js.Value {
	u := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(u, b)
	return u
}

// strArg returns argument i as a string.
func strArg(args []js.Value, i int, name string) (string, error) {
	if len(args) <= i || args[i].Type() != js.TypeString {
		return "", fmt.Errorf("%s: want a string", name)
	}
	return args[i].String(), nil
}

// opt returns field k of an options object, or undefined.
func opt(args []js.Value, i int, k string) js.Value {
	if len(args) <= i || args[i].Type() != js.TypeObject {
		return js.Undefined()
	}
	return args[i].Get(k)
}

func optString(v js.Value) string {
	if v.Type() == js.TypeString {
		return v.String()
	}
	return ""
}

// awaitPromise waits for p from a goroutine (never from a js.Func callback,
// which would block the event loop that settles it).
func awaitPromise(p js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1)
	ok := js.FuncOf(func(_ js.Value, a []js.Value) any {
		v := js.Undefined()
		if len(a) > 0 {
			v = a[0]
		}
		ch <- result{v: v}
		return nil
	})
	defer ok.Release()
	fail := js.FuncOf(func(_ js.Value, a []js.Value) any {
		msg := "promise rejected"
		if len(a) > 0 {
			msg = a[0].Call("toString").String()
		}
		ch <- result{err: errors.New(msg)}
		return nil
	})
	defer fail.Release()
	p.Call("then", ok, fail)
	r := <-ch
	return r.v, r.err
}

// mark records a step in the page's Performance timeline as cairn:name
// (seen in devtools, and read by the browser benchmarks).
func mark(name string) {
	if p := js.Global().Get("performance"); p.Truthy() && p.Get("mark").Type() == js.TypeFunction {
		p.Call("mark", "cairn:"+name)
	}
}
