package bt

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/nbd-wtf/go-nostr"
)

// Publish makes f reachable from its author's npub alone: the client seeds
// its index and bundles, the DHT is told this host seeds them (BEP-5, on
// the client's port), the attestation att goes to the author's locator and
// the feed pointer (signed by priv, the author's derived BEP-44 key) names
// the index. It returns the pointer's seq.
func (d *DHT) Publish(ctx context.Context, c *Client, priv ed25519.PrivateKey, att *nostr.Event, f *Feed, now time.Time) (int64, error) {
	for _, file := range append([]File{f.Index}, f.Bundles...) {
		if _, err := c.Seed(file.MI, bytes.NewReader(file.Data)); err != nil {
			return 0, fmt.Errorf("seeding %s: %w", file.Name, err)
		}
	}
	for _, file := range append([]File{f.Index}, f.Bundles...) {
		if err := d.Announce(ctx, file.MI.HashInfoBytes(), c.Port()); err != nil {
			return 0, fmt.Errorf("announcing %s: %w", file.Name, err)
		}
	}
	if err := d.PutLocator(ctx, att); err != nil {
		return 0, fmt.Errorf("putting the locator: %w", err)
	}
	return d.PutFeed(ctx, priv, Pointer{IH: f.Index.MI.HashInfoBytes(), TS: now.Unix(), NPK: att.PubKey})
}

// Followed is what Follow found and verified.
type Followed struct {
	Key     ed25519.PublicKey // the author's BEP-44 key
	Pointer Pointer
	Seq     int64
	Index   Index
	Events  []*nostr.Event // every event of the index, verified, newest first
	Raw     [][]byte       // each event's bytes as its bundle holds them
	Files   []File         // the index and bundles as fetched, to seed again
}

// FollowOptions tune Follow.
type FollowOptions struct {
	// Key is the author's BEP-44 key when known (e.g. from an attestation
	// read on a relay, or nostr-over-bt's); nil: the locator gives it.
	Key ed25519.PublicKey
	// MinSeq refuses a pointer older than one seen before.
	MinSeq int64
	// Index is the index's magnet when known without the DHT's pointer
	// (nostr-over-bt's relay fallback, ParseFeedFallback): no locator or
	// pointer is asked for, and Followed.Seq is 0.
	Index string
	// Dir holds the fetched files while they are read (removed after).
	Dir string
	// Progress receives one line per step.
	Progress func(string)
}

// Follow finds npk's feed from the pubkey alone (the locator gives the
// BEP-44 key, the pointer the index, the DHT the seeders; or opt.Index
// names the index), fetches the
// index and every bundle it names, and verifies every event: its
// signature, and that npk wrote it. A bundle with one bad or foreign event
// refuses the feed; nothing is returned then.
func (d *DHT) Follow(ctx context.Context, c *Client, npk string, opt FollowOptions) (*Followed, error) {
	say := func(f string, a ...any) {
		if opt.Progress != nil {
			opt.Progress(fmt.Sprintf(f, a...))
		}
	}
	fw := &Followed{Key: opt.Key}
	idx := metainfo.Magnet{}
	idxURI := ""
	if opt.Index != "" {
		m, err := metainfo.ParseMagnetUri(opt.Index)
		if err != nil {
			return nil, fmt.Errorf("%w: the index magnet: %v", ErrFeed, err)
		}
		idx, idxURI = m, opt.Index
		fw.Pointer = Pointer{IH: m.InfoHash, NPK: npk}
		say("index %x from the feed fallback, no pointer", m.InfoHash)
	} else {
		k, err := d.keyOf(ctx, npk, opt.Key, say)
		if err != nil {
			return nil, err
		}
		fw.Key = k
		say("BEP-44 key %x; getting the feed pointer…", []byte(fw.Key))
		p, seq, err := d.GetFeed(ctx, fw.Key, npk, opt.MinSeq)
		if err != nil {
			return nil, err
		}
		fw.Pointer, fw.Seq = p, seq
		idx.InfoHash = p.IH
		say("pointer seq %d, index %x, updated %s", seq, p.IH, time.Unix(p.TS, 0).UTC().Format(time.RFC3339))
	}
	ih := idx.InfoHash
	peers, _ := d.peers(ctx, ih)
	say("%d seeder(s) of the index in the DHT", len(peers))
	dir := opt.Dir
	if dir == "" {
		dir = os.TempDir()
	}
	idxf, err := fetchBytes(ctx, c, &idx, idxURI, append(append([]string(nil), idx.Params["x.pe"]...), peers...), filepath.Join(dir, fmt.Sprintf("index-%x.json", ih)), MaxIndexBytes)
	if err != nil {
		return nil, fmt.Errorf("fetching the feed index %x: %w", ih, err)
	}
	fw.Files = append(fw.Files, idxf)
	if fw.Index, err = ParseIndex(idxf.Data); err != nil {
		return nil, err
	}
	say("index: %d event(s)", len(fw.Index.Items))
	got := map[string]int{} // event id -> position in Events
	fetched := map[string]bool{}
	for _, it := range fw.Index.Items {
		if _, ok := got[it.ID]; ok || fetched[it.Magnet] {
			continue
		}
		fetched[it.Magnet] = true
		m, err := metainfo.ParseMagnetUri(it.Magnet)
		if err != nil {
			return nil, fmt.Errorf("%w: item %.16s: magnet: %v", ErrFeed, it.ID, err)
		}
		hint := append(append([]string(nil), m.Params["x.pe"]...), peers...)
		if len(hint) == 0 {
			hint, _ = d.peers(ctx, m.InfoHash)
		}
		bf, err := fetchBytes(ctx, c, &m, it.Magnet, hint, filepath.Join(dir, fmt.Sprintf("bundle-%x.json", m.InfoHash)), MaxBundleBytes)
		if err != nil {
			return nil, fmt.Errorf("fetching the bundle of %.16s: %w", it.ID, err)
		}
		fw.Files = append(fw.Files, bf)
		evs, raws, err := ParseBundle(bf.Data, npk)
		if err != nil {
			return nil, err
		}
		say("bundle %x: %d event(s), every signature checked", m.InfoHash, len(evs))
		for i, ev := range evs {
			if _, ok := got[ev.ID]; !ok {
				got[ev.ID] = len(fw.Events)
				fw.Events = append(fw.Events, ev)
				fw.Raw = append(fw.Raw, raws[i])
			}
		}
	}
	// Keep the index's events, in its order; an item its bundle lacks, or
	// whose kind or time differs, refuses the feed.
	var evs []*nostr.Event
	var raws [][]byte
	for _, it := range fw.Index.Items {
		i, ok := got[it.ID]
		if !ok {
			return nil, fmt.Errorf("%w: index item %.16s is in no bundle it names", ErrFeed, it.ID)
		}
		ev := fw.Events[i]
		if ev.Kind != it.Kind || int64(ev.CreatedAt) != it.TS {
			return nil, fmt.Errorf("%w: index item %.16s says kind %d at %d, the event is kind %d at %d", ErrFeed, it.ID, it.Kind, it.TS, ev.Kind, ev.CreatedAt)
		}
		evs = append(evs, ev)
		raws = append(raws, fw.Raw[i])
	}
	fw.Events, fw.Raw = evs, raws
	return fw, nil
}

// keyOf is npk's BEP-44 key: known, or from the locator.
func (d *DHT) keyOf(ctx context.Context, npk string, known ed25519.PublicKey, say func(string, ...any)) (ed25519.PublicKey, error) {
	if known != nil {
		return known, nil
	}
	say("looking up the locator of %.16s…", npk)
	return d.GetLocator(ctx, npk)
}

// peers is Peers bounded to stepTimeout.
func (d *DHT) peers(ctx context.Context, ih [20]byte) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	return d.Peers(ctx, ih)
}

// stepTimeout bounds one DHT lookup.
const stepTimeout = 10 * time.Second

// fetchLimit bounds the fetch of one feed file. Client.Fetch itself begins
// again an attempt that makes no progress at its start (anacrolix/torrent
// v1.61.0 sometimes leaves a fetch from a live seeder idle for a minute);
// this bounds how long a seeder that never answers is waited for.
const fetchLimit = 30 * time.Second

// fetchBytes fetches one small torrent into path, reads it and removes it,
// within fetchLimit.
func fetchBytes(ctx context.Context, c *Client, m *metainfo.Magnet, uri string, peers []string, path string, limit int64) (File, error) {
	fctx, cancel := context.WithTimeout(ctx, fetchLimit)
	defer cancel()
	f, err := fetchOnce(fctx, c, m, uri, peers, path, limit)
	if err != nil && ctx.Err() == nil && fctx.Err() != nil {
		return f, fmt.Errorf("%w (nothing fetched within %s: the seeder is gone or unreachable)", err, fetchLimit)
	}
	return f, err
}

// fetchOnce fetches one small torrent and returns it as a File: its bytes
// and its metainfo as the swarm gave it (so it can be seeded again).
func fetchOnce(ctx context.Context, c *Client, m *metainfo.Magnet, uri string, peers []string, path string, limit int64) (File, error) {
	if f, ok, err := c.Local(m.InfoHash, limit); ok {
		if err != nil {
			return f, fmt.Errorf("%w: %v", ErrFeed, err)
		}
		return f, nil // seeded here (this node's own feed, or one seeded again)
	}
	if uri == "" {
		uri = m.String()
	}
	spec, err := MagnetSpec(uri)
	if err != nil {
		return File{}, err
	}
	if len(peers) == 0 && len(spec.Webseeds) == 0 && len(spec.Trackers) == 0 {
		return File{}, fmt.Errorf("no seeder found in the DHT (the publishing node is offline or not yet announced)")
	}
	defer os.Remove(path)
	mi, info, err := c.FetchMeta(ctx, spec, path, FetchOptions{Peers: peers, Every: time.Second})
	if err != nil {
		return File{}, err
	}
	if info.Length > limit {
		return File{}, fmt.Errorf("%w: %s is %d bytes, more than %d", ErrFeed, info.Name, info.Length, limit)
	}
	b, err := os.ReadFile(path)
	return File{Name: info.Name, Data: b, MI: &metainfo.MetaInfo{InfoBytes: mi.InfoBytes}}, err
}
