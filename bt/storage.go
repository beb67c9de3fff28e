package bt

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// readOnly is the storage of a seeded torrent: its bytes read in place from
// an io.ReaderAt (the node's chunk store, through swarm.Reader), every
// piece complete, nothing ever written. A piece the engine finds corrupt
// (MarkNotComplete) is then reported incomplete, so it is not served again.
type readOnly struct {
	data   io.ReaderAt
	length int64
}

func (r readOnly) OpenTorrent(_ context.Context, info *metainfo.Info, _ metainfo.Hash) (storage.TorrentImpl, error) {
	bad := &badPieces{set: map[int]bool{}}
	return storage.TorrentImpl{
		Piece: func(p metainfo.Piece) storage.PieceImpl {
			return roPiece{r: r, off: p.Offset(), len: p.Length(), i: p.Index(), bad: bad}
		},
		Close: func() error { return nil },
	}, nil
}

type badPieces struct {
	mu  sync.Mutex
	set map[int]bool
}

type roPiece struct {
	r   readOnly
	off int64
	len int64
	i   int
	bad *badPieces
}

var errReadOnly = errors.New("bt: a seeded torrent's storage is read-only")

func (p roPiece) ReadAt(b []byte, off int64) (int, error) {
	if off >= p.len {
		return 0, io.EOF
	}
	if rest := p.len - off; int64(len(b)) > rest {
		b = b[:rest]
	}
	n, err := p.r.data.ReadAt(b, p.off+off)
	if err == io.EOF && n == len(b) {
		err = nil
	}
	return n, err
}

func (p roPiece) WriteAt([]byte, int64) (int, error) { return 0, errReadOnly }

func (p roPiece) MarkComplete() error { return nil }

func (p roPiece) MarkNotComplete() error {
	p.bad.mu.Lock()
	p.bad.set[p.i] = true
	p.bad.mu.Unlock()
	return nil
}

func (p roPiece) Completion() storage.Completion {
	p.bad.mu.Lock()
	defer p.bad.mu.Unlock()
	return storage.Completion{Ok: true, Complete: !p.bad.set[p.i]}
}

// noDefault is the client's default storage: cairn gives every torrent its
// own (Seed, Fetch), so a torrent added any other way is refused rather
// than written to some default directory.
type noDefault struct{}

func (noDefault) OpenTorrent(context.Context, *metainfo.Info, metainfo.Hash) (storage.TorrentImpl, error) {
	return storage.TorrentImpl{}, errors.New("bt: no storage given for this torrent")
}
