package bt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/event"
)

// A feed, as nostr-over-bt publishes it but batched: the author's events
// are grouped in bundles, one per UTC day (a JSON array of events, seeded
// as its own v1 torrent), and index.json (a torrent too, the one the feed
// pointer names) lists the newest FeedItems events as nostr-over-bt's
// {updated_at, items: [{id, magnet, ts, kind}]}, each item's magnet being
// the bundle that holds it. A reader also takes nostr-over-bt's own
// one-event torrents (<id>.json holding a single event).

// FeedItems is how many of the newest events an index lists.
const FeedItems = 100

// Size bounds of what a reader fetches.
const (
	MaxIndexBytes  = 1 << 20
	MaxBundleBytes = 16 << 20
)

// Index is index.json.
type Index struct {
	UpdatedAt int64       `json:"updated_at"`
	Items     []IndexItem `json:"items"`
}

// IndexItem is one event of the index.
type IndexItem struct {
	ID     string `json:"id"`
	Magnet string `json:"magnet"`
	TS     int64  `json:"ts"`
	Kind   int    `json:"kind"`
}

// File is one file of a feed and its torrent.
type File struct {
	Name string
	Data []byte
	MI   *metainfo.MetaInfo
}

// Feed is what a node seeds for one author: the index and its bundles.
type Feed struct {
	Index   File
	Bundles []File
	Events  int
}

// ErrFeed: a feed (index or bundle) that is malformed or holds an event
// that is not the author's or fails its signature.
var ErrFeed = errors.New("feed refused")

// BuildFeed bundles npk's newest FeedItems events (each must be npk's and
// verify) into a feed; peers (host:port of the seeder) go into the bundle
// magnets as x.pe hints.
func BuildFeed(events []*nostr.Event, npk string, now time.Time, peers ...string) (*Feed, error) {
	evs := make([]*nostr.Event, 0, len(events))
	seen := map[string]bool{}
	for _, ev := range events {
		if ev.PubKey != npk {
			return nil, fmt.Errorf("%w: event %.16s is by %.16s, not the feed's author %.16s", ErrFeed, ev.ID, ev.PubKey, npk)
		}
		if err := event.Verify(ev); err != nil {
			return nil, fmt.Errorf("%w: event %.16s: %v", ErrFeed, ev.ID, err)
		}
		if !seen[ev.ID] {
			seen[ev.ID] = true
			evs = append(evs, ev)
		}
	}
	if len(evs) == 0 {
		return nil, fmt.Errorf("%w: no events to publish", ErrFeed)
	}
	sort.Slice(evs, func(i, j int) bool {
		if evs[i].CreatedAt != evs[j].CreatedAt {
			return evs[i].CreatedAt > evs[j].CreatedAt
		}
		return evs[i].ID < evs[j].ID
	})
	if len(evs) > FeedItems {
		evs = evs[:FeedItems]
	}
	days := map[string][]*nostr.Event{}
	var order []string
	for _, ev := range evs {
		d := time.Unix(int64(ev.CreatedAt), 0).UTC().Format("2006-01-02")
		if _, ok := days[d]; !ok {
			order = append(order, d)
		}
		days[d] = append(days[d], ev)
	}
	f := &Feed{Events: len(evs)}
	magnets := map[string]string{}
	for _, d := range order {
		var buf bytes.Buffer
		buf.WriteByte('[')
		for i, ev := range days[d] {
			if i > 0 {
				buf.WriteByte(',')
			}
			b, err := json.Marshal(ev)
			if err != nil {
				return nil, err
			}
			buf.Write(b)
		}
		buf.WriteByte(']')
		file, err := makeFile(fmt.Sprintf("%.16s-%s.json", npk, d), buf.Bytes())
		if err != nil {
			return nil, err
		}
		m, err := Magnet(file.MI, "", peers...)
		if err != nil {
			return nil, err
		}
		for _, ev := range days[d] {
			magnets[ev.ID] = m
		}
		f.Bundles = append(f.Bundles, file)
	}
	idx := Index{UpdatedAt: now.Unix(), Items: make([]IndexItem, 0, len(evs))}
	for _, ev := range evs {
		idx.Items = append(idx.Items, IndexItem{ID: ev.ID, Magnet: magnets[ev.ID], TS: int64(ev.CreatedAt), Kind: ev.Kind})
	}
	ib, err := json.Marshal(idx)
	if err != nil {
		return nil, err
	}
	if f.Index, err = makeFile("index.json", ib); err != nil {
		return nil, err
	}
	return f, nil
}

func makeFile(name string, data []byte) (File, error) {
	mi, err := MakeTorrent(bytes.NewReader(data), int64(len(data)), name)
	if err != nil {
		return File{}, err
	}
	return File{Name: name, Data: data, MI: mi}, nil
}

// ParseIndex reads index.json strictly enough: every item names an event
// id and a magnet.
func ParseIndex(b []byte) (Index, error) {
	var idx Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return idx, fmt.Errorf("%w: index.json: %v", ErrFeed, err)
	}
	for i, it := range idx.Items {
		if !event.IsHex(it.ID, 64) || it.Magnet == "" {
			return idx, fmt.Errorf("%w: index.json item %d: want a 64-hex id and a magnet", ErrFeed, i)
		}
	}
	return idx, nil
}

// ParseBundle reads a bundle (a JSON array of events) or nostr-over-bt's
// one-event file, and checks every event: a valid signature by npk. One
// bad event refuses the whole bundle. raw are the events' bytes as the
// bundle holds them.
func ParseBundle(b []byte, npk string) (evs []*nostr.Event, raw [][]byte, err error) {
	b = bytes.TrimSpace(b)
	var raws []json.RawMessage
	if len(b) > 0 && b[0] == '{' {
		raws = []json.RawMessage{b}
	} else if err := json.Unmarshal(b, &raws); err != nil {
		return nil, nil, fmt.Errorf("%w: bundle: %v", ErrFeed, err)
	}
	out := make([]*nostr.Event, 0, len(raws))
	for i, r := range raws {
		ev, err := event.Decode(r)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: bundle event %d: %v", ErrFeed, i, err)
		}
		if ev.PubKey != npk {
			return nil, nil, fmt.Errorf("%w: bundle event %.16s is by %.16s, not %.16s", ErrFeed, ev.ID, ev.PubKey, npk)
		}
		if err := event.Verify(ev); err != nil {
			return nil, nil, fmt.Errorf("%w: bundle event %.16s: %v", ErrFeed, ev.ID, err)
		}
		out = append(out, ev)
		raw = append(raw, []byte(r))
	}
	return out, raw, nil
}
