package relay

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/nbd-wtf/go-nostr"
)

// Listen calls fn, in process, with every event the relay accepts from now
// on that matches f (what a websocket REQ would be sent live), until ctx
// ends. fn runs on the accepting goroutine: it must not block for long.
// This is how the node hears its own relay without a connection to itself.
func (r *Relay) Listen(ctx context.Context, f nostr.Filter, fn func(*nostr.Event)) {
	l := &listener{ctx: ctx, f: f, fn: fn}
	r.listeners.add(l)
	context.AfterFunc(ctx, func() { r.listeners.remove(l) })
}

type listener struct {
	ctx context.Context // removal runs after it ends; nothing is delivered meanwhile
	f   nostr.Filter
	fn  func(*nostr.Event)
}

// listeners is a copy-on-write set: adding and removing are rare,
// delivering is on every accepted event.
type listeners struct {
	mu  sync.Mutex
	set atomic.Pointer[[]*listener]
}

func (ls *listeners) add(l *listener) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	var next []*listener
	if cur := ls.set.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, l)
	ls.set.Store(&next)
}

func (ls *listeners) remove(l *listener) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	cur := ls.set.Load()
	if cur == nil {
		return
	}
	next := make([]*listener, 0, len(*cur))
	for _, x := range *cur {
		if x != l {
			next = append(next, x)
		}
	}
	ls.set.Store(&next)
}

func (ls *listeners) deliver(ev *nostr.Event) {
	cur := ls.set.Load()
	if cur == nil {
		return
	}
	for _, l := range *cur {
		if l.ctx.Err() == nil && l.f.Matches(ev) {
			l.fn(ev)
		}
	}
}
