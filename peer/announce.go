package peer

import (
	"container/list"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/event"
	"github.com/cairn-nostr/cairn/media/chunkmap"
)

// Seeder announcements are Entropy's kind 20002: an ephemeral event signed
// by the seeder, with ["t", net], ["x", rootHex] and ["chunks", N] (the
// chunks it holds) and no content, sent again every announce interval while
// it seeds. A peer announces every root it holds in full, and remembers the
// announcements it hears (for two intervals) to find seeders.
const KindAnnounce = 20002

// DefaultAnnounceInterval is how often a seeder announces its roots
// (Entropy's 15 minutes).
const DefaultAnnounceInterval = 15 * time.Minute

// MaxAnnounceSkew is how far in the future an announcement may be dated.
const MaxAnnounceSkew = time.Minute

// Announcement is a parsed kind 20002.
type Announcement struct {
	PubKey string
	Root   [32]byte
	Chunks int
	At     time.Time // created_at
}

// ErrAnnouncement: a kind 20002 is malformed, stale or from the future.
var ErrAnnouncement = errors.New("not a usable seeder announcement")

// ParseAnnouncement reads a verified kind 20002, refusing it unless it has
// exactly one x tag (64 lowercase hex digits) and one chunks tag (1 to
// chunkmap.MaxChunks) and was made within ttl before now (and at most
// MaxAnnounceSkew after).
func ParseAnnouncement(ev *nostr.Event, now time.Time, ttl time.Duration) (Announcement, error) {
	a := Announcement{PubKey: ev.PubKey, At: ev.CreatedAt.Time()}
	if ev.Kind != KindAnnounce {
		return a, fmt.Errorf("%w: kind %d", ErrAnnouncement, ev.Kind)
	}
	var gotX, gotChunks bool
	for _, t := range ev.Tags {
		if len(t) < 2 {
			continue
		}
		switch t[0] {
		case "x":
			r, err := event.ParseHex32(t[1])
			if gotX || err != nil {
				return a, fmt.Errorf("%w: one x tag of 64 lowercase hex digits wanted", ErrAnnouncement)
			}
			a.Root, gotX = r, true
		case "chunks":
			n, err := strconv.Atoi(t[1])
			if gotChunks || err != nil || n <= 0 || n > chunkmap.MaxChunks {
				return a, fmt.Errorf("%w: one chunks tag of 1..%d wanted", ErrAnnouncement, chunkmap.MaxChunks)
			}
			a.Chunks, gotChunks = n, true
		}
	}
	if !gotX || !gotChunks {
		return a, fmt.Errorf("%w: x and chunks tags are required", ErrAnnouncement)
	}
	if d := now.Sub(a.At); d > ttl {
		return a, fmt.Errorf("%w: stale (%s old)", ErrAnnouncement, d.Round(time.Second))
	} else if d < -MaxAnnounceSkew {
		return a, fmt.Errorf("%w: dated %s in the future", ErrAnnouncement, (-d).Round(time.Second))
	}
	return a, nil
}

// AnnouncementEvent is the unsigned kind 20002 of a root held in full.
func AnnouncementEvent(m *chunkmap.Map, now time.Time) *nostr.Event {
	net := m.Net
	if net == "" {
		net = chunkmap.DefaultNet
	}
	return &nostr.Event{
		Kind:      KindAnnounce,
		CreatedAt: nostr.Timestamp(now.Unix()),
		Tags: nostr.Tags{
			{"t", net},
			{"x", hex.EncodeToString(m.Root[:])},
			{"chunks", strconv.Itoa(len(m.Chunks))},
		},
	}
}

// Seeder is a peer heard announcing a root.
type Seeder struct {
	PubKey string    `json:"pubkey"`
	Chunks int       `json:"chunks"`
	Heard  time.Time `json:"-"`
}

// Bounds of the announcer table.
const (
	maxAnnouncedRoots    = 10_000
	maxAnnouncersPerRoot = 64
)

type rootSeeders struct {
	root [32]byte
	last time.Time
	list []Seeder
}

// seeders remembers recent announcements by root, each for ttl. The roots
// form an LRU list (most recently announced at the front); past maxRoots
// the least recently announced root is dropped, and past maxPer the oldest
// announcer of a root is replaced. Time is passed in.
type seeders struct {
	mu      sync.Mutex
	ttl     time.Duration
	maxRoot int
	maxPer  int
	lru     *list.List // of *rootSeeders
	byRoot  map[[32]byte]*list.Element
}

func newSeeders(ttl time.Duration, maxRoots, maxPer int) *seeders {
	return &seeders{ttl: ttl, maxRoot: maxRoots, maxPer: maxPer, lru: list.New(), byRoot: make(map[[32]byte]*list.Element)}
}

// add records an announcement heard at now, and says whether its author
// was not a live announcer of the root before.
func (s *seeders) add(a Announcement, now time.Time) (fresh bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(now)
	el := s.byRoot[a.Root]
	if el == nil {
		for s.lru.Len() >= s.maxRoot {
			back := s.lru.Back()
			delete(s.byRoot, back.Value.(*rootSeeders).root)
			s.lru.Remove(back)
		}
		el = s.lru.PushFront(&rootSeeders{root: a.Root})
		s.byRoot[a.Root] = el
	} else {
		s.lru.MoveToFront(el)
	}
	rs := el.Value.(*rootSeeders)
	rs.last = now
	rs.list = s.liveLocked(rs.list, now)
	for i := range rs.list {
		if rs.list[i].PubKey == a.PubKey {
			rs.list[i].Heard, rs.list[i].Chunks = now, a.Chunks
			return false
		}
	}
	e := Seeder{PubKey: a.PubKey, Heard: now, Chunks: a.Chunks}
	if len(rs.list) < s.maxPer {
		rs.list = append(rs.list, e)
		return true
	}
	oldest := 0
	for i := range rs.list {
		if rs.list[i].Heard.Before(rs.list[oldest].Heard) {
			oldest = i
		}
	}
	rs.list[oldest] = e
	return true
}

// get returns the live announcers of root.
func (s *seeders) get(root [32]byte, now time.Time) []Seeder {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(now)
	el := s.byRoot[root]
	if el == nil {
		return nil
	}
	rs := el.Value.(*rootSeeders)
	rs.list = s.liveLocked(rs.list, now)
	return append([]Seeder(nil), rs.list...)
}

func (s *seeders) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len()
}

// expireLocked drops the roots nobody announced within ttl: they are at the
// back of the LRU list.
func (s *seeders) expireLocked(now time.Time) {
	for back := s.lru.Back(); back != nil; back = s.lru.Back() {
		rs := back.Value.(*rootSeeders)
		if now.Sub(rs.last) <= s.ttl {
			return
		}
		delete(s.byRoot, rs.root)
		s.lru.Remove(back)
	}
}

func (s *seeders) liveLocked(l []Seeder, now time.Time) []Seeder {
	out := l[:0]
	for _, e := range l {
		if now.Sub(e.Heard) <= s.ttl {
			out = append(out, e)
		}
	}
	return out
}
