//go:build js && wasm

package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"syscall/js"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip19"

	"github.com/cairn-nostr/cairn/media/chunkmap"
	"github.com/cairn-nostr/cairn/relay/client"
	"github.com/cairn-nostr/cairn/swarm"
	"github.com/cairn-nostr/cairn/wasm/idb"
)

func isRefusal(err error) bool { return errors.Is(err, client.ErrRefused) }

// maxScan bounds the chunk maps or file events scanned when looking a root
// up: the root is in a multi-letter tag (x-hash) that relays do not index.
const maxScan = 500

// resolve turns a reference (nevent, note, event id, Merkle root or file
// sha256) into a file, from what the tab knows or through the relay.
func (c *core) resolve(ctx context.Context, ref string) (*file, error) {
	ref = strings.TrimSpace(ref)
	id := ""
	var hints []string
	switch {
	case strings.HasPrefix(ref, "nevent1"), strings.HasPrefix(ref, "note1"):
		prefix, v, err := nip19.Decode(ref)
		if err != nil {
			return nil, fmt.Errorf("reference %q: %w", ref, err)
		}
		switch p := v.(type) {
		case nostr.EventPointer:
			id, hints = p.ID, p.Relays
		case string:
			id = p
		default:
			return nil, fmt.Errorf("reference %q: a %s names no event", ref, prefix)
		}
	default:
		if _, err := parseHex32(ref); err != nil {
			return nil, fmt.Errorf("reference %q: want an nevent, a note, an event id or a Merkle root (%v)", ref, err)
		}
		if f := c.file(ref); f != nil {
			return f, nil
		}
		id = ref
	}
	evs, err := c.query(ctx, nostr.Filter{IDs: []string{id}})
	if err != nil {
		return nil, err
	}
	if len(evs) > 0 {
		return c.fromEvent(ctx, evs[0])
	}
	if ev := c.carry(ctx, id, hints); ev != nil {
		return c.fromEvent(ctx, ev)
	}
	// A Merkle root or a file sha256.
	fes, err := c.query(ctx, nostr.Filter{Kinds: []int{chunkmap.KindFileMetadata}, Tags: nostr.TagMap{"x": {ref}}, Limit: 20})
	if err != nil {
		return nil, err
	}
	for _, ev := range fes {
		if f, err := c.fromEvent(ctx, ev); err == nil {
			return f, nil
		}
	}
	if f, err := c.byRoot(ctx, ref, ""); err == nil {
		return f, nil
	}
	return nil, fmt.Errorf("reference %s: no chunk map or file event found on %s", ref, c.relayURL)
}

// fromEvent reads a kind 7001 map, or a kind 1063 naming one by x-hash.
func (c *core) fromEvent(ctx context.Context, ev *nostr.Event) (*file, error) {
	switch ev.Kind {
	case chunkmap.KindChunkMap:
		m, err := chunkmap.Parse(ev)
		if err != nil {
			return nil, fmt.Errorf("chunk map %s: %w", ev.ID, err)
		}
		raw, _ := json.Marshal(ev)
		f := &file{Root: rootHex(m.Root), Map: raw, Author: ev.PubKey, MIME: m.MIME, Name: m.Title, m: m}
		f.SHA256 = c.shaOf(ctx, f)
		return f, nil
	case chunkmap.KindFileMetadata:
		fm, err := chunkmap.ParseFileMetadata(ev)
		if err != nil {
			return nil, fmt.Errorf("file event %s: %w", ev.ID, err)
		}
		if fm.Root == ([32]byte{}) {
			return nil, fmt.Errorf("file event %s has no x-hash: it names no chunk map to fetch peer to peer", ev.ID)
		}
		f, err := c.byRoot(ctx, rootHex(fm.Root), ev.PubKey)
		if err != nil {
			return nil, err
		}
		f.SHA256 = hex.EncodeToString(fm.SHA256[:])
		return f, nil
	}
	return nil, fmt.Errorf("event %s is of kind %d: want a kind 7001 chunk map or a kind 1063 file event", ev.ID, ev.Kind)
}

// byRoot finds the newest chunk map with this root, by author when known.
func (c *core) byRoot(ctx context.Context, root, author string) (*file, error) {
	if f := c.file(root); f != nil {
		return f, nil
	}
	flt := nostr.Filter{Kinds: []int{chunkmap.KindChunkMap}, Limit: maxScan}
	if author != "" {
		flt.Authors = []string{author}
	}
	evs, err := c.query(ctx, flt)
	if err != nil {
		return nil, err
	}
	for _, ev := range evs {
		for _, t := range ev.Tags {
			if len(t) >= 2 && t[0] == "x-hash" && t[1] == root {
				return c.fromEvent(ctx, ev)
			}
		}
	}
	return nil, fmt.Errorf("no chunk map with root %s on %s", root, c.relayURL)
}

// shaOf looks for the author's kind 1063 of the same root, for the whole
// file's sha256; "" when none is found.
func (c *core) shaOf(ctx context.Context, f *file) string {
	evs, err := c.query(ctx, nostr.Filter{Kinds: []int{chunkmap.KindFileMetadata}, Authors: []string{f.Author}, Limit: maxScan})
	if err != nil {
		return ""
	}
	for _, ev := range evs {
		if fm, err := chunkmap.ParseFileMetadata(ev); err == nil && rootHex(fm.Root) == f.Root {
			return hex.EncodeToString(fm.SHA256[:])
		}
	}
	return ""
}

// open resolves ref and starts its download unless held or running.
func (c *core) open(ref string) (*file, error) {
	if _, err := c.secret(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(c.ctx, relayTimeout)
	defer cancel()
	f, err := c.resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	if c.file(f.Root) == nil {
		if err := c.saveFile(f); err != nil {
			return nil, err
		}
	}
	if c.held(f.m) < len(f.m.Chunks) {
		if _, err := c.startDownload(f); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// startDownload runs (or returns the running) download of f.
func (c *core) startDownload(f *file) (*download, error) {
	c.mu.Lock()
	if dl := c.downloads[f.Root]; dl != nil {
		select {
		case <-dl.done:
		default:
			c.mu.Unlock()
			return dl, nil
		}
	}
	rtc := c.rtc
	c.mu.Unlock()
	if rtc == nil {
		return nil, errors.New("no WebRTC node: start did not connect to the relay")
	}
	d, err := swarm.NewDownload(swarm.Config{Map: f.m, Blobs: verifiedPuts{c.store}})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(c.ctx)
	dl := &download{d: d, cancel: cancel, peers: map[string]bool{}, done: make(chan struct{})}
	c.mu.Lock()
	c.downloads[f.Root] = dl
	c.mu.Unlock()
	tr := rtc.Transport()
	add := func(pk string) {
		if pk == "" || pk == c.pub {
			return
		}
		dl.mu.Lock()
		fresh := !dl.peers[pk]
		dl.peers[pk] = true
		dl.mu.Unlock()
		if fresh {
			d.AddPeer(swarm.PeerID(pk), tr, swarm.HasAll)
		}
	}
	add(c.nodePub)
	add(f.Author)
	for _, g := range f.m.Gatekeepers {
		add(g)
	}
	go c.watchAnnouncers(ctx, f.Root, add)
	go func() {
		for _, pk := range c.nodeSeeders(f.Root) {
			add(pk)
		}
	}()
	go func() {
		defer cancel()
		defer close(dl.done)
		if err := d.Wait(ctx); err != nil {
			return
		}
		if f.SHA256 != "" {
			if err := c.checkWhole(f); err != nil {
				dl.mu.Lock()
				dl.err = err
				dl.mu.Unlock()
				return
			}
		}
		c.seed(f.Root)
	}()
	return dl, nil
}

// verifiedPuts is the store as a download sees it. A Download puts only
// what its transports returned, and the one transport here (webrtc's)
// returns a chunk only after checking its sha256 against the hash
// (swarm.Transport's contract), so Put stores without hashing the chunk a
// second time. Nothing else writes through it.
type verifiedPuts struct{ *idb.Store }

func (v verifiedPuts) Put(hash [32]byte, data []byte) error { return v.PutVerified(hash, data) }

// watchAnnouncers adds the authors of kind 20002 announcements of root as
// peers while the download runs, reconnecting while it does.
func (c *core) watchAnnouncers(ctx context.Context, root string, add func(string)) {
	for ctx.Err() == nil {
		conn, err := client.Dial(ctx, c.relayURL)
		if err == nil {
			conn.Subscribe(ctx, nostr.Filter{Kinds: []int{kindAnnounce}, Tags: nostr.TagMap{"x": {root}}}, func(ev *nostr.Event) {
				if ok, _ := ev.CheckSignature(); ok {
					add(ev.PubKey)
				}
			}, nil)
			conn.Close()
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
		}
	}
}

// checkWhole assembles f from the store and checks its sha256. With
// WebCrypto the file is joined and hashed inside JavaScript (one
// IndexedDB transaction, no copy through Go); otherwise through Go.
func (c *core) checkWhole(f *file) error {
	var sum [32]byte
	if subtle := js.Global().Get("crypto").Get("subtle"); subtle.Truthy() {
		all, err := c.store.Concat(f.m.Chunks)
		if err != nil {
			return err
		}
		if n := int64(all.Length()); n != f.m.Size {
			return fmt.Errorf("the chunks hold %d bytes, the map says %d: %w", n, f.m.Size, swarm.ErrLayout)
		}
		d, err := awaitPromise(subtle.Call("digest", "SHA-256", all))
		if err != nil {
			return fmt.Errorf("hashing the file: %w", err)
		}
		js.CopyBytesToGo(sum[:], js.Global().Get("Uint8Array").New(d))
	} else {
		var buf bytes.Buffer
		buf.Grow(int(f.m.Size))
		if err := swarm.Assemble(c.ctx, &buf, f.m, c.store); err != nil {
			return err
		}
		var err error
		if sum, err = hasher.Sum256(buf.Bytes()); err != nil {
			return err
		}
	}
	if hex.EncodeToString(sum[:]) != f.SHA256 {
		return fmt.Errorf("the assembled file's sha256 is %x, the file event says %s: the map and the file event disagree", sum, f.SHA256)
	}
	return nil
}

func (c *core) download(root string) *download {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.downloads[root]
}

// chunk returns chunk i of an opened root, fetched first if missing.
func (c *core) chunk(root string, i int) ([]byte, error) {
	f := c.file(root)
	if f == nil {
		return nil, fmt.Errorf("root %s is not open: call open(ref) first", root)
	}
	if i < 0 || i >= len(f.m.Chunks) {
		return nil, fmt.Errorf("chunk %d: the file has chunks 0..%d", i, len(f.m.Chunks)-1)
	}
	h := f.m.Chunks[i]
	if !c.store.Has(h) {
		dl := c.download(root)
		if dl == nil || dl.d.Err() != nil {
			var err error
			if dl, err = c.startDownload(f); err != nil {
				return nil, err
			}
		}
		if err := dl.d.Need(c.ctx, i); err != nil {
			return nil, fmt.Errorf("chunk %d: %w", i, err)
		}
	}
	return c.store.Get(h)
}

// read returns length bytes of root's file from offset.
func (c *core) read(root string, off, length int64) ([]byte, error) {
	f := c.file(root)
	if f == nil {
		return nil, fmt.Errorf("root %s is not open: call open(ref) first", root)
	}
	if off < 0 || length < 0 || off > f.m.Size {
		return nil, fmt.Errorf("range %d+%d is outside the file (size %d)", off, length, f.m.Size)
	}
	length = min(length, f.m.Size-off)
	var src swarm.Source
	if c.held(f.m) < len(f.m.Chunks) {
		dl := c.download(root)
		if dl == nil || dl.d.Err() != nil {
			var err error
			if dl, err = c.startDownload(f); err != nil {
				return nil, err
			}
		}
		src = dl.d
	}
	r, err := swarm.NewReader(c.ctx, f.m, c.store, src)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, length)
	n, err := r.ReadAt(buf, off)
	if int64(n) == length {
		return buf, nil
	}
	return nil, err
}

// progress reports a root's download, or its holding when none runs.
func (c *core) progress(root string) map[string]any {
	f := c.file(root)
	if f == nil {
		return map[string]any{"error": "root " + root + " is not open: call open(ref) first"}
	}
	have, total := c.held(f.m), len(f.m.Chunks)
	bytesHave := int64(0)
	for _, h := range f.m.Chunks {
		if n, err := c.store.Size(h); err == nil {
			bytesHave += n
		}
	}
	out := map[string]any{
		"root": root, "have": have, "total": total, "bytes": bytesHave, "size": f.m.Size,
		"rate": 0, "peers": 0, "transports": map[string]any{"webrtc": map[string]any{"bytes_down": 0}},
		"done": have == total, "error": nil,
	}
	if dl := c.download(root); dl != nil {
		p := dl.d.Progress()
		out["rate"], out["peers"] = p.Rate, p.Peers
		stats := make([]any, 0, len(p.PeerStats))
		for _, ps := range p.PeerStats {
			stats = append(stats, map[string]any{
				"pubkey": string(ps.ID), "bytes": ps.Bytes, "chunks": ps.Chunks, "rate": ps.Rate,
				"strikes": ps.Strikes, "corrupt": ps.Corrupt, "timeouts": ps.Timeouts,
				"busy": ps.Busy, "not_found": ps.NotFound, "banned": ps.Banned,
			})
		}
		out["peer_stats"] = stats
		out["transports"] = map[string]any{"webrtc": map[string]any{"bytes_down": p.Transports["webrtc"]}}
		dl.mu.Lock()
		err := dl.err
		dl.mu.Unlock()
		if err == nil && p.Err != nil && !errors.Is(p.Err, swarm.ErrClosed) {
			err = p.Err
		}
		if err != nil {
			out["error"] = err.Error()
			out["done"] = false
		}
	}
	return out
}

// fileInfo is open's and fetch's answer.
func (f *file) info() map[string]any {
	chunks := make([]any, len(f.m.Chunks))
	off := int64(0)
	for i := range f.m.Chunks {
		ln, dur := f.m.ChunkSize, int64(0)
		if f.m.ChunkInfo != nil {
			off, ln, dur = f.m.ChunkInfo[i].Offset, f.m.ChunkInfo[i].Length, f.m.ChunkInfo[i].DurationMs
		} else {
			ln = min(ln, f.m.Size-off)
		}
		chunks[i] = map[string]any{"index": i, "offset": off, "length": ln, "duration": float64(dur) / 1000}
		off += ln
	}
	name := f.Name
	if name == "" {
		name = f.m.Title
	}
	return map[string]any{
		"root": f.Root, "sha256": f.SHA256, "size": f.m.Size, "mime": f.m.MIME, "name": name,
		"chunks": chunks, "fragmented": f.m.Init != nil,
	}
}

// list describes every file the tab knows.
func (c *core) list() []any {
	c.mu.Lock()
	files := make([]*file, 0, len(c.files))
	for _, f := range c.files {
		files = append(files, f)
	}
	c.mu.Unlock()
	out := make([]any, 0, len(files))
	for _, f := range files {
		pinned := len(f.m.Chunks) > 0 && len(c.store.Pins(f.m.Chunks[0])) > 0
		name := f.Name
		if name == "" {
			name = f.m.Title
		}
		out = append(out, map[string]any{
			"root": f.Root, "sha256": f.SHA256, "name": name, "mime": f.m.MIME, "size": f.m.Size,
			"chunks": len(f.m.Chunks), "have": c.held(f.m), "pinned": pinned,
		})
	}
	return out
}

// remove stops a root's download, unpins and deletes its chunks (those no
// other known file uses) and forgets it.
func (c *core) remove(root string) error {
	f := c.file(root)
	if f == nil {
		return fmt.Errorf("root %s is not known", root)
	}
	if dl := c.download(root); dl != nil {
		dl.d.Close()
	}
	c.mu.Lock()
	delete(c.downloads, root)
	delete(c.announced, root)
	delete(c.files, root)
	others := map[[32]byte]bool{}
	for _, o := range c.files {
		for _, h := range o.m.Chunks {
			others[h] = true
		}
	}
	c.mu.Unlock()
	for _, h := range f.m.Chunks {
		if others[h] {
			continue
		}
		for _, r := range c.store.Pins(h) {
			if err := c.store.Unpin(h, r); err != nil {
				return err
			}
		}
		if err := c.store.Delete(h); err != nil {
			return err
		}
	}
	return c.store.DeleteFile(root)
}

// status is the tab's state for a status panel.
func (c *core) status() map[string]any {
	c.mu.Lock()
	started, rtc := c.started, c.rtc
	roots := make([]string, 0, len(c.downloads))
	for r := range c.downloads {
		roots = append(roots, r)
	}
	c.mu.Unlock()
	if !started {
		return map[string]any{"error": errNotStarted.Error()}
	}
	peers := []any{}
	up, down := int64(0), int64(0)
	if rtc != nil {
		st := rtc.Stats()
		up, down = st.BytesUp, st.BytesDown
		for _, p := range rtc.Peers() {
			peers = append(peers, map[string]any{"pubkey": p.PubKey, "transport": "webrtc", "bytes_up": p.BytesUp, "bytes_down": p.BytesDown, "state": "open"})
		}
	}
	bs := c.store.Stats()
	dls := make([]any, 0, len(roots))
	for _, r := range roots {
		dls = append(dls, c.progress(r))
	}
	return map[string]any{
		"pubkey":     c.pub,
		"relay":      map[string]any{"url": c.relayURL, "connected": c.connected.Load()},
		"seeding":    c.seeding.Load(),
		"peers":      peers,
		"transports": map[string]any{"webrtc": map[string]any{"bytes_up": up, "bytes_down": down}},
		"blobs":      map[string]any{"count": bs.Count, "bytes": bs.Bytes, "quota": bs.Quota, "pinned": bs.Pinned},
		"downloads":  dls,
	}
}
