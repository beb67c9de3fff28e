//go:build js && wasm

package main

import (
	"errors"
	"strings"
	"syscall/js"
	"testing"
)

// syncProbe is JavaScript that, from the event loop, calls every
// synchronous export every millisecond and counts the calls made while an
// IndexedDB write request is pending and while the tab's relay websocket is
// failing. An export that waited for the event loop would never return, and
// the writes it waits on would never complete: the test would hang.
const syncProbe = `(() => {
  const P = IDBObjectStore.prototype;
  const put = P.put;
  const probe = {pendingWrites: 0, duringWrite: 0, duringFailure: 0, calls: 0, bad: [], failing: false};
  P.put = function (...a) {
    const r = put.apply(this, a);
    probe.pendingWrites++;
    const done = () => { probe.pendingWrites--; };
    r.addEventListener("success", done);
    r.addEventListener("error", done);
    return r;
  };
  const hex = "ab".repeat(32);
  const calls = [
    ["version"], ["merkleRoot", [hex]], ["parseChunkMap", "{}"], ["planFixed", 1000, 0],
    ["generateKey"], ["keyInfo", hex], ["npub", hex], ["decode", "npub1xyz"],
    ["progress", hex], ["status"], ["setSeeding", true], ["setQuota", 1 << 30],
    ["nip95Status"], ["nip95Stop"],
  ];
  probe.names = calls.map(c => c[0]);
  probe.timer = setInterval(() => {
    for (const [name, ...args] of calls) {
      try {
        const v = globalThis.cairn[name](...args);
        if (v === undefined || v instanceof Promise) probe.bad.push(name + " returned " + v);
      } catch (e) {
        probe.bad.push(name + " threw " + e);
      }
      probe.calls++;
      if (probe.pendingWrites > 0) probe.duringWrite++;
      if (probe.failing) probe.duringFailure++;
    }
  }, 1);
  P.restore = () => { P.put = put; clearInterval(probe.timer); };
  return probe;
})()`

// TestSyncExportsNeverWait: every synchronous export returns while
// IndexedDB writes are pending (a share storing chunks) and while the
// relay's websocket fails (an open whose reference only the relay could
// resolve; the relay is a closed port).
func TestSyncExportsNeverWait(t *testing.T) {
	if err := startLocal(); err != nil {
		t.Fatal(err)
	}
	probe := js.Global().Call("eval", syncProbe)
	defer js.Global().Get("IDBObjectStore").Get("prototype").Call("restore")
	data := make([]byte, 12<<20)
	for i := range data {
		data[i] = byte(i * 13)
	}
	probe.Set("failing", true)
	opened := call("open", strings.Repeat("cd", 32))
	shared := call("share", uint8Array(data), map[string]any{"name": "big.bin"})
	if _, err := await(shared); err != nil {
		t.Fatal(err)
	}
	_, err := await(opened)
	probe.Set("failing", false)
	if err == nil {
		t.Fatal("open of an unknown reference through a dead relay succeeded")
	}
	js.Global().Get("IDBObjectStore").Get("prototype").Call("restore")
	if bad := probe.Get("bad"); bad.Length() > 0 {
		t.Fatalf("exports misbehaved: %s", js.Global().Get("JSON").Call("stringify", bad))
	}
	calls, duringWrite, duringFailure := probe.Get("calls").Int(), probe.Get("duringWrite").Int(), probe.Get("duringFailure").Int()
	t.Logf("%d synchronous calls, %d with an IndexedDB write pending, %d while the relay failed", calls, duringWrite, duringFailure)
	if duringWrite == 0 || duringFailure == 0 {
		t.Fatalf("the probe never ran during a pending write (%d) or a failing relay (%d)", duringWrite, duringFailure)
	}
}

// TestExportPanics: a panic inside an export becomes {error} or a rejected
// Promise, and the core goes on answering.
func TestExportPanics(t *testing.T) {
	boom := func([]js.Value) any { panic("boom") }
	if v := js.FuncOf(guarded("boom", boom)).Invoke(); v.Get("error").Type() != js.TypeString || !strings.Contains(v.Get("error").String(), "internal error: boom") {
		t.Fatalf("synchronous panic: %s", js.Global().Get("JSON").Call("stringify", v))
	}
	if _, err := await(js.FuncOf(guardedAsync("boom", boom)).Invoke()); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("panic reading arguments: %v", err)
	}
	p := async("boom", func() (any, error) { panic(errors.New("deep")) })
	if _, err := await(p); err == nil || !strings.Contains(err.Error(), "internal error: deep") {
		t.Fatalf("panic in an async body: %v", err)
	}
	if call("version").String() != version {
		t.Fatal("the core stopped answering after panics")
	}
	if _, err := await(call("sign", map[string]any{"kind": 1, "tags": []any{}, "content": "x"})); err != nil && !strings.Contains(err.Error(), "start") {
		t.Fatalf("sign after panics: %v", err)
	}

}
