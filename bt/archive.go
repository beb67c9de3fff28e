package bt

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/nbd-wtf/go-nostr"
)

// A relay's archive (`cairn node --bt-bridge`): every event the relay
// stored, of any author, in bundles (the feed's bundle format: a JSON array
// of one author's events) cut per author and per time window of ingest,
// each its own torrent. The bundles are listed by archive pages (JSON, a
// torrent each): the newest page names the newest bundles and, in prev,
// the magnet of the page before it, back to the first. The relay's own
// BEP-44 pointer (its derived key, salt ArchiveSalt; the same {ih, ts,
// npk} value as a feed pointer) names the newest page, so anyone with the
// relay's npub walks the whole archive: locator, pointer, pages, bundles.

// ArchiveSalt is the BEP-44 salt of a relay's archive pointer.
const ArchiveSalt = "cairn-bridge"

// ArchivePageBundles is how many bundles one archive page lists before a
// new page begins.
const ArchivePageBundles = 1000

// MaxArchivePages bounds how many pages a reader walks.
const MaxArchivePages = 10000

// ArchivePage is one page of a relay's archive.
type ArchivePage struct {
	UpdatedAt int64          `json:"updated_at"`
	Prev      string         `json:"prev,omitempty"` // magnet of the older page
	Bundles   []ArchiveEntry `json:"bundles"`
}

// ArchiveEntry is one bundle of the archive.
type ArchiveEntry struct {
	NPK    string `json:"npk"`    // the author of every event in the bundle
	Magnet string `json:"magnet"` // the bundle's torrent
	Events int    `json:"events"` // how many events it holds
}

// BuildBundle makes the bundle of one author's events (raw JSON, already
// verified by whoever stored them) as a torrent named name.
func BuildBundle(name string, raws [][]byte) (File, error) {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, r := range raws {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(r)
	}
	buf.WriteByte(']')
	return makeFile(name, buf.Bytes())
}

// PageFile makes the torrent of an archive page.
func PageFile(p ArchivePage) (File, error) {
	if p.Bundles == nil {
		p.Bundles = []ArchiveEntry{}
	}
	b, err := json.Marshal(p)
	if err != nil {
		return File{}, err
	}
	return makeFile("archive.json", b)
}

// FileFromBytes rebuilds the torrent of a file kept on disk (a bundle or
// page) and checks it is the one expected (its infohash): a file changed
// on disk is refused.
func FileFromBytes(name string, data []byte, want [20]byte) (File, error) {
	f, err := makeFile(name, data)
	if err != nil {
		return f, err
	}
	if got := f.MI.HashInfoBytes(); got != want {
		return f, fmt.Errorf("%w: %s hashes to infohash %x, want %x (changed on disk?)", ErrFeed, name, got, want)
	}
	return f, nil
}

// ParseArchivePage reads an archive page strictly: every bundle names a
// 64-hex author, a magnet and a positive count.
func ParseArchivePage(b []byte) (ArchivePage, error) {
	var p ArchivePage
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("%w: archive page: %v", ErrFeed, err)
	}
	for i, e := range p.Bundles {
		if len(e.NPK) != 64 || e.Magnet == "" || e.Events <= 0 {
			return p, fmt.Errorf("%w: archive page bundle %d: want a 64-hex npk, a magnet and a positive event count", ErrFeed, i)
		}
		if _, err := metainfo.ParseMagnetUri(e.Magnet); err != nil {
			return p, fmt.Errorf("%w: archive page bundle %d: %v", ErrFeed, i, err)
		}
	}
	return p, nil
}

// PutArchive publishes p (the newest archive page) as the archive pointer
// of priv's key, with a seq above any the network holds.
func (d *DHT) PutArchive(ctx context.Context, priv ed25519.PrivateKey, p Pointer) (int64, error) {
	return d.putPointer(ctx, priv, []byte(ArchiveSalt), p)
}

// GetArchive finds and checks the archive pointer of pub (as GetFeed).
func (d *DHT) GetArchive(ctx context.Context, pub ed25519.PublicKey, npk string, minSeq int64) (Pointer, int64, error) {
	return d.getPointer(ctx, pub, []byte(ArchiveSalt), npk, minSeq)
}

// Archived is what FollowArchive found and verified.
type Archived struct {
	Key     ed25519.PublicKey
	Pointer Pointer
	Seq     int64
	Pages   int
	Bundles int
	Events  []*nostr.Event // every event of every bundle, verified, newest page first
	Raw     [][]byte
}

// FollowArchive walks the archive of the relay whose npub is npk: the
// locator gives its BEP-44 key, the archive pointer the newest page, each
// page its bundles and the page before. Every event is checked (signature,
// and that the bundle's author wrote it) and every bundle holds the count
// its page says; one bad bundle refuses the archive.
func (d *DHT) FollowArchive(ctx context.Context, c *Client, npk string, opt FollowOptions) (*Archived, error) {
	say := func(f string, a ...any) {
		if opt.Progress != nil {
			opt.Progress(fmt.Sprintf(f, a...))
		}
	}
	k, err := d.keyOf(ctx, npk, opt.Key, say)
	if err != nil {
		return nil, err
	}
	ar := &Archived{Key: k}
	say("BEP-44 key %x; getting the archive pointer…", []byte(ar.Key))
	p, seq, err := d.GetArchive(ctx, ar.Key, npk, opt.MinSeq)
	if err != nil {
		return nil, err
	}
	ar.Pointer, ar.Seq = p, seq
	say("archive pointer seq %d, newest page %x, updated %s", seq, p.IH, time.Unix(p.TS, 0).UTC().Format(time.RFC3339))
	peers, _ := d.peers(ctx, p.IH)
	say("%d seeder(s) of the newest page in the DHT", len(peers))
	dir := opt.Dir
	if dir == "" {
		dir = os.TempDir()
	}
	seen := map[string]bool{}
	page := metainfo.Magnet{InfoHash: p.IH}
	uri := ""
	for {
		if ar.Pages == MaxArchivePages {
			return nil, fmt.Errorf("%w: more than %d archive pages", ErrFeed, MaxArchivePages)
		}
		if seen[page.InfoHash.HexString()] {
			return nil, fmt.Errorf("%w: archive page %x comes back in its own chain", ErrFeed, page.InfoHash)
		}
		seen[page.InfoHash.HexString()] = true
		pf, err := fetchBytes(ctx, c, &page, uri, peers, filepath.Join(dir, fmt.Sprintf("page-%x.json", page.InfoHash)), MaxIndexBytes)
		if err != nil {
			return nil, fmt.Errorf("fetching archive page %x: %w", page.InfoHash, err)
		}
		pg, err := ParseArchivePage(pf.Data)
		if err != nil {
			return nil, err
		}
		ar.Pages++
		say("archive page %x: %d bundle(s)", page.InfoHash, len(pg.Bundles))
		for i := len(pg.Bundles) - 1; i >= 0; i-- {
			e := pg.Bundles[i]
			m, _ := metainfo.ParseMagnetUri(e.Magnet)
			if seen[m.InfoHash.HexString()] {
				continue
			}
			seen[m.InfoHash.HexString()] = true
			hint := append(append([]string(nil), m.Params["x.pe"]...), peers...)
			bf, err := fetchBytes(ctx, c, &m, e.Magnet, hint, filepath.Join(dir, fmt.Sprintf("bundle-%x.json", m.InfoHash)), MaxBundleBytes)
			if err != nil {
				return nil, fmt.Errorf("fetching bundle %x of %.16s: %w", m.InfoHash, e.NPK, err)
			}
			evs, raws, err := ParseBundle(bf.Data, e.NPK)
			if err != nil {
				return nil, fmt.Errorf("bundle %x: %w", m.InfoHash, err)
			}
			if len(evs) != e.Events {
				return nil, fmt.Errorf("%w: bundle %x holds %d event(s), its page says %d", ErrFeed, m.InfoHash, len(evs), e.Events)
			}
			ar.Bundles++
			ar.Events = append(ar.Events, evs...)
			ar.Raw = append(ar.Raw, raws...)
		}
		if pg.Prev == "" {
			break
		}
		prev, err := metainfo.ParseMagnetUri(pg.Prev)
		if err != nil {
			return nil, fmt.Errorf("%w: archive page %x: prev: %v", ErrFeed, page.InfoHash, err)
		}
		page, uri = prev, pg.Prev
	}
	say("archive: %d page(s), %d bundle(s), %d event(s), every signature checked", ar.Pages, ar.Bundles, len(ar.Events))
	return ar, nil
}
