// Package store keeps Nostr events durably and answers NIP-01 filters.
//
// A Store applies the storage rules of NIP-01 (regular, replaceable and
// addressable events), NIP-09 (deletion requests, kind 5) and NIP-40
// (expiration) inside one write transaction, so concurrent writers cannot race
// each other into an inconsistent state. Ephemeral events (20000-29999) are
// never given to a Store: the relay broadcasts them and forgets them.
//
// Save returns only once the event is durable (fsync'd): the relay sends
// `OK true` after Save returns, and that acknowledgement must survive kill -9.
// Concurrent Saves are committed together (group commit), so many connections
// share one fsync.
//
// Two implementations sit behind the interface: Open (an embedded on-disk
// engine) and NewMemory (the same indexing logic over an in-memory ordered
// map, for tests). Both share one implementation of the indexes and the
// NIP-01/09/40 rules; only the ordered key-value engine under them differs.
//
// # Engines
//
// The engine seam (engine.go) is a small transactional ordered key-value
// interface. Open uses DefaultEngine (LMDB, chosen by BenchmarkEngines; bbolt
// in builds without cgo) and keeps bbolt and pebble selectable through
// Options.Engine so the comparison can be rerun. A directory remembers its
// engine: Open detects it from the files.
//
// # Layout and queries
//
// Each event is one record (a fixed header with expiration, created_at, kind,
// id and pubkey, then the event's compact JSON) under a monotonic serial,
// plus index entries whose keys end in created_at+serial: by kind, by
// author+kind, and by every single-letter tag (keys.go has the layout).
// A query picks one index (ids, then authors+kinds, the tag with fewest
// values, kinds; authors alone read author+kind, and no condition reads
// kind, over every kind present), walks its ranges newest first, merges them,
// and checks what the index does not guarantee on the header, decoding JSON
// only for extra tag conditions. Results come newest first; on a created_at
// tie the lowest id comes first (NIP-01).
//
// Filters follow nostr.Filter.Matches: a nil list is no condition, an empty
// list matches nothing. Search (NIP-50) is ignored, and so is Filter.Limit:
// Query takes its limit as an argument.
//
// Query, Count and IDs run inside one read transaction and call fn inside it:
// keep fn quick (copy raw, send later). A slow fn pins a snapshot and delays
// Close, and fn must not call back into the Store.
//
// # Writes
//
// Save validates and encodes the event in the caller's goroutine, then hands
// it to the store's single writer goroutine. The writer takes whatever is
// queued (up to 1024 events or 8 MiB), applies it in one transaction with one
// fsync, and answers each caller. It never waits for company: a lone Save
// commits at once. An expired event (NIP-40) is still stored; queries skip it
// and DeleteExpired removes it.
package store

import (
	"context"
	"errors"

	"github.com/nbd-wtf/go-nostr"
)

// Conditions a caller branches on. The relay maps each to an OK/CLOSED prefix.
var (
	// ErrDuplicate: an event with this id is already stored.
	ErrDuplicate = errors.New("duplicate: already have this event")
	// ErrDeleted: the event was deleted by its author (NIP-09) and may not be stored again.
	ErrDeleted = errors.New("blocked: this event was deleted by its author")
	// ErrReplaced: a newer version of this replaceable/addressable event is stored.
	ErrReplaced = errors.New("duplicate: a newer version of this replaceable event is already stored")
	// ErrTooMany: a query matched more records than the caller allowed (negentropy).
	ErrTooMany = errors.New("blocked: too many matching events; narrow the filter")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("error: store is closed")
	// ErrInvalid: the event cannot be stored as given (malformed id or
	// pubkey, kind out of range, ephemeral kind). Wrapped with the reason.
	ErrInvalid = errors.New("invalid: malformed event")
)

// Store is the event storage used by the relay.
type Store interface {
	// Save stores ev (already verified: id and signature checked by the caller)
	// and returns once it is durable. It applies NIP-01 replaceable/addressable
	// rules (newer created_at wins; on a tie the lower id wins), NIP-09 deletion
	// when ev is kind 5 (only the author's own events; `e` and `a` tags), and
	// refuses events deleted earlier. Returns ErrDuplicate, ErrDeleted or
	// ErrReplaced for those conditions.
	Save(ctx context.Context, ev *nostr.Event) error

	// Query calls fn with the raw JSON of each stored, unexpired event that
	// matches f, newest first (created_at descending), stopping after limit
	// events (limit <= 0 means no limit). raw is valid only during the call.
	// fn returning an error stops the query and Query returns that error.
	Query(ctx context.Context, f nostr.Filter, limit int, fn func(raw []byte) error) error

	// Count returns how many stored, unexpired events match f (NIP-45),
	// ignoring f.Limit.
	Count(ctx context.Context, f nostr.Filter) (int64, error)

	// IDs calls fn with (created_at, id) of every stored, unexpired event that
	// matches f, for NIP-77 negentropy. If more than max match it returns
	// ErrTooMany (max <= 0 means no cap).
	IDs(ctx context.Context, f nostr.Filter, max int, fn func(createdAt nostr.Timestamp, id [32]byte) error) error

	// DeleteExpired removes events whose NIP-40 expiration is at or before now
	// (unix seconds) and returns how many it removed.
	DeleteExpired(ctx context.Context, now int64) (int, error)

	// Stats reports the number of stored events and bytes on disk (approximate).
	Stats() Stats

	// Close flushes and closes the store. Saves after Close return ErrClosed.
	Close() error
}

// Stats are figures for metrics and /api/status.
type Stats struct {
	Events    int64 `json:"events"`
	DiskBytes int64 `json:"disk_bytes"`
}
