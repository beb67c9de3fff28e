package peer

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/event"
)

// Persist keeps a MemoryLibrary's events across restarts: the tab's
// IndexedDB. Its calls may block (they wait for IndexedDB); they are never
// made under the library's lock.
type Persist interface {
	Put(id, eventJSON string) error
	Delete(id string) error
}

// MemoryLibrary is a Library in memory, optionally persisted: the tab's.
// It applies NIP-01's replacement rules (the newest replaceable or
// addressable event per kind, author and d tag) and holds at most max
// events, dropping the oldest by created_at beyond.
type MemoryLibrary struct {
	mu      sync.Mutex
	max     int
	events  map[string]*nostr.Event
	persist Persist
}

// NewMemoryLibrary returns an empty library of at most max events (0: no
// bound), persisted through persist when not nil.
func NewMemoryLibrary(max int, persist Persist) *MemoryLibrary {
	return &MemoryLibrary{max: max, events: map[string]*nostr.Event{}, persist: persist}
}

// Load adds persisted events (id -> JSON) without persisting them again;
// unreadable or unverifiable ones are skipped and reported.
func (l *MemoryLibrary) Load(stored map[string]string) (skipped []string) {
	for id, raw := range stored {
		ev, err := event.Decode([]byte(raw))
		if err != nil || event.Check(ev, id) != nil {
			skipped = append(skipped, id)
			continue
		}
		l.mu.Lock()
		l.insertLocked(ev)
		l.mu.Unlock()
	}
	return skipped
}

// replaceKey names the slot of a replaceable or addressable event ("" for
// others).
func replaceKey(ev *nostr.Event) string {
	switch {
	case nostr.IsReplaceableKind(ev.Kind):
		return ev.PubKey + ":" + strconv.Itoa(ev.Kind)
	case nostr.IsAddressableKind(ev.Kind):
		return ev.PubKey + ":" + strconv.Itoa(ev.Kind) + ":" + ev.Tags.GetD()
	}
	return ""
}

// insertLocked adds ev and returns the ids it dropped (replaced or beyond
// the bound); ok is false when ev itself was not kept.
func (l *MemoryLibrary) insertLocked(ev *nostr.Event) (dropped []string, ok bool) {
	if _, dup := l.events[ev.ID]; dup {
		return nil, false
	}
	if k := replaceKey(ev); k != "" {
		for id, old := range l.events {
			if replaceKey(old) != k {
				continue
			}
			if old.CreatedAt > ev.CreatedAt || old.CreatedAt == ev.CreatedAt && old.ID < ev.ID {
				return nil, false
			}
			delete(l.events, id)
			dropped = append(dropped, id)
		}
	}
	l.events[ev.ID] = ev
	for l.max > 0 && len(l.events) > l.max {
		var oldest *nostr.Event
		for _, e := range l.events {
			if oldest == nil || e.CreatedAt < oldest.CreatedAt {
				oldest = e
			}
		}
		delete(l.events, oldest.ID)
		dropped = append(dropped, oldest.ID)
	}
	_, ok = l.events[ev.ID]
	return dropped, ok
}

// Save implements Library.
func (l *MemoryLibrary) Save(_ context.Context, ev *nostr.Event) error {
	l.mu.Lock()
	dropped, ok := l.insertLocked(ev)
	l.mu.Unlock()
	if l.persist == nil {
		return nil
	}
	for _, id := range dropped {
		l.persist.Delete(id)
	}
	if !ok {
		return nil
	}
	raw, err := ev.MarshalJSON()
	if err != nil {
		return err
	}
	return l.persist.Put(ev.ID, string(raw))
}

// Query implements Library.
func (l *MemoryLibrary) Query(ctx context.Context, f nostr.Filter, _ string, fn func(*nostr.Event) error) error {
	l.mu.Lock()
	var out []*nostr.Event
	for _, ev := range l.events {
		if f.Matches(ev) {
			out = append(out, ev)
		}
	}
	l.mu.Unlock()
	slices.SortFunc(out, func(a, b *nostr.Event) int {
		if a.CreatedAt != b.CreatedAt {
			return int(b.CreatedAt - a.CreatedAt)
		}
		return strings.Compare(a.ID, b.ID)
	})
	for _, ev := range out {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(ev); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

// Delete implements Library.
func (l *MemoryLibrary) Delete(_ context.Context, id string) error {
	l.mu.Lock()
	_, had := l.events[id]
	delete(l.events, id)
	l.mu.Unlock()
	if had && l.persist != nil {
		return l.persist.Delete(id)
	}
	return nil
}

// Len is the number of events held.
func (l *MemoryLibrary) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.events)
}
