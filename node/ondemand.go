package node

import (
	"context"
	"errors"
	"time"

	"github.com/cairn-nostr/cairn/swarm"
)

// lazyIdle is how long an on-demand fetch outlives its last user: a
// player's next Range request, or a browser's next chunk, finds its peers
// already connected.
const lazyIdle = 30 * time.Second

// lazyFetch is a Lazy swarm download of one root, fetching only the chunks
// asked for, shared by every reader of the root (HTTP range reads and the
// WebRTC bridge) while no full download of it runs.
type lazyFetch struct {
	d      *swarm.Download
	stop   context.CancelFunc // ends its peer finding
	refs   int
	idle   *time.Timer
	closed bool
}

// source returns what fetches the missing chunks of it on demand: the
// running download of its root, else the root's shared on-demand fetch
// (started here, with a goroutine finding peers). release must be called
// once the caller is done with it.
func (n *Node) source(it *item) (swarm.Source, func(), error) {
	root := it.m.Root
	s := n.media
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, errors.New("the node is stopping")
	}
	if dl := s.downloads[root]; dl != nil && !isDone(dl.d) {
		return dl.d, func() {}, nil
	}
	lf := s.lazy[root]
	if lf == nil || isDone(lf.d) {
		if lf != nil { // it completed (every chunk asked for) or failed
			lf.closed = true
			if lf.idle != nil {
				lf.idle.Stop()
			}
			lf.stop()
		}
		d, err := swarm.NewDownload(swarm.Config{Map: it.m, Blobs: n.blobs, Lazy: true, Logger: n.log.With("part", "swarm")})
		if err != nil {
			return nil, nil, err
		}
		ctx, cancel := context.WithCancel(context.Background())
		lf = &lazyFetch{d: d, stop: cancel}
		s.lazy[root] = lf
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.findPeers(ctx, d, it)
		}()
	}
	lf.refs++
	if lf.idle != nil {
		lf.idle.Stop()
		lf.idle = nil
	}
	var once bool
	release := func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if once {
			return
		}
		once = true
		lf.refs--
		if lf.refs > 0 || lf.closed {
			return
		}
		lf.idle = time.AfterFunc(lazyIdle, func() { n.endLazy(root, lf) })
	}
	return lf.d, release, nil
}

// endLazy closes lf if it is still the root's idle on-demand fetch.
func (n *Node) endLazy(root [32]byte, lf *lazyFetch) {
	s := n.media
	s.mu.Lock()
	if lf.refs > 0 || lf.closed || s.lazy[root] != lf {
		s.mu.Unlock()
		return
	}
	lf.closed = true
	delete(s.lazy, root)
	s.mu.Unlock()
	lf.stop()
	lf.d.Close()
}

// closeLazy closes every on-demand fetch (at Stop); s.closed is set.
func (s *mediaState) closeLazy() {
	s.mu.Lock()
	lfs := make([]*lazyFetch, 0, len(s.lazy))
	for root, lf := range s.lazy {
		lf.closed = true
		if lf.idle != nil {
			lf.idle.Stop()
		}
		lfs = append(lfs, lf)
		delete(s.lazy, root)
	}
	s.mu.Unlock()
	for _, lf := range lfs {
		lf.stop()
		lf.d.Close()
	}
}
