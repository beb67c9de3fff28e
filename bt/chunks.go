package bt

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"time"

	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"

	"github.com/cairn-nostr/cairn/swarm"
)

// TransportName names BitTorrent in a download's figures.
const TransportName = "bittorrent"

// Span is one chunk of a chunk map: its hash and where it lies in the file.
type Span struct {
	Hash   [32]byte
	Offset int64
	Length int64
}

// Chunks is a swarm.Transport that reads chunks out of one torrent of the
// same file: a chunk is the byte range the map places it at, read through
// the engine (which fetches and SHA-1-checks the pieces covering it, from
// BitTorrent peers and web seeds), then checked against the chunk's
// SHA-256 as every chunk is. Its one peer is the torrent itself.
type Chunks struct {
	t     *torrent.Torrent
	spans map[[32]byte]Span
	size  int64
	close func()
	once  sync.Once
}

// ErrNoSuchChunk: a chunk hash the map does not list.
var errNoSuchChunk = fmt.Errorf("bt: chunk not in this file: %w", swarm.ErrNotFound)

// Chunks adds the torrent a magnet names (its xs .torrent fetched first,
// bounded by ctx) (its pieces kept in dir while the
// node runs) as a source of the chunks spans of a file of size bytes.
// Peers are host:port to dial besides those the magnet names.
func (c *Client) Chunks(ctx context.Context, magnet, dir string, size int64, spans []Span, peers []string) (*Chunks, error) {
	spec, err := MagnetSpec(magnet)
	if err != nil {
		return nil, err
	}
	resolveSources(ctx, spec)
	st := storage.NewFileOpts(storage.NewFileClientOpts{
		ClientBaseDir: dir,
		TorrentDirMaker: func(baseDir string, _ *metainfo.Info, ih metainfo.Hash) string {
			return filepath.Join(baseDir, ih.HexString())
		},
		FilePathMaker:   func(storage.FilePathMakerOpts) string { return "data" },
		PieceCompletion: freshCompletion{storage.NewMapPieceCompletion()},
		UsePartFiles:    g.Some(false),
	})
	spec.Storage = st
	t, isNew, err := c.c.AddTorrentSpec(spec)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("%w: %v", ErrTorrent, err)
	}
	if !isNew {
		st.Close()
		return nil, fmt.Errorf("%w: torrent %s is already in this client", ErrTorrent, t.InfoHash().HexString())
	}
	for _, p := range peers {
		if a, err := resolveTCP(p); err == nil {
			t.AddPeers([]torrent.PeerInfo{{Addr: a, Source: torrent.PeerSourceDirect}})
		}
	}
	ch := &Chunks{t: t, spans: make(map[[32]byte]Span, len(spans)), size: size}
	for _, s := range spans {
		ch.spans[s.Hash] = s
	}
	ch.close = func() { t.Drop(); st.Close() }
	return ch, nil
}

// Name is TransportName.
func (ch *Chunks) Name() string { return TransportName }

// PeerID is the one peer of a Chunks: the torrent, by infohash.
func (ch *Chunks) PeerID() swarm.PeerID { return swarm.PeerID("bt:" + ch.t.InfoHash().HexString()) }

// Fetch reads chunk hash from the torrent and checks its SHA-256.
func (ch *Chunks) Fetch(ctx context.Context, _ swarm.PeerID, hash, _ [32]byte, progress func(got, total int)) ([]byte, error) {
	s, ok := ch.spans[hash]
	if !ok {
		return nil, errNoSuchChunk
	}
	select {
	case <-ch.t.GotInfo():
	case <-ctx.Done():
		return nil, fmt.Errorf("bt: no metadata for %s yet: %w", ch.t.InfoHash().HexString(), ctx.Err())
	}
	if ch.t.Length() != ch.size {
		return nil, fmt.Errorf("bt: the torrent has %d bytes, the chunk map %d: %w", ch.t.Length(), ch.size, swarm.ErrNotFound)
	}
	r := ch.t.NewReader()
	defer r.Close()
	r.SetContext(ctx)
	r.SetResponsive()
	if _, err := r.Seek(s.Offset, io.SeekStart); err != nil {
		return nil, err
	}
	buf := make([]byte, s.Length)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("bt: reading chunk at %d: %w", s.Offset, err)
	}
	if progress != nil {
		progress(len(buf), len(buf))
	}
	if sha256.Sum256(buf) != hash {
		return nil, fmt.Errorf("bt: the torrent's bytes at %d are not the chunk: %w", s.Offset, swarm.ErrHashMismatch)
	}
	return buf, nil
}

// Ban drops the torrent: its bytes failed the chunk map's hashes.
func (ch *Chunks) Ban(swarm.PeerID, time.Time) { ch.Close() }

// Close drops the torrent.
func (ch *Chunks) Close() { ch.once.Do(ch.close) }
