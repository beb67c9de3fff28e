//go:build js && wasm

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"syscall/js"
	"time"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/event"
	"github.com/cairn-nostr/cairn/media/chunkmap"
	"github.com/cairn-nostr/cairn/peer"
	"github.com/cairn-nostr/cairn/swarm"
)

// parse fills s.m from s.Map (a signed kind 7001 or its template).
func (s *shareRec) parse() error {
	var ev nostr.Event
	if err := json.Unmarshal(s.Map, &ev); err != nil {
		return err
	}
	m, err := chunkmap.Parse(&ev)
	if err != nil {
		return err
	}
	if rootHex(m.Root) != s.Root {
		return errors.New("share record: root differs from its map's")
	}
	s.m = m
	return nil
}

// saveShare records s in memory and IndexedDB.
func (t *tab) saveShare(s *shareRec) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	st, err := t.db()
	if err != nil {
		return err
	}
	if err := st.PutFile(recShare+s.Root, string(b)); err != nil {
		return err
	}
	t.mu.Lock()
	t.shares[s.Root] = s
	t.mu.Unlock()
	return nil
}

// signedShare replaces a share's template by the signed map published.
func (t *tab) signedShare(root string, ev *nostr.Event) {
	t.mu.Lock()
	s := t.shares[root]
	t.mu.Unlock()
	if s == nil {
		return
	}
	raw, _ := json.Marshal(ev)
	t.saveShare(&shareRec{Root: root, Map: raw, SHA256: s.SHA256, Name: s.Name, MIME: s.MIME, m: s.m})
}

// file is what the tab knows of a root: one of its shares, or a chunk map
// in the core's library; nil when neither.
func (t *tab) file(ctx context.Context, root string) (*peer.File, *shareRec) {
	t.mu.Lock()
	s, p := t.shares[root], t.peer
	t.mu.Unlock()
	if f := p.FileByRoot(ctx, root); f != nil {
		if s != nil && f.SHA256 == "" {
			f.SHA256 = s.SHA256
		}
		return f, s
	}
	if s != nil {
		var ev nostr.Event
		json.Unmarshal(s.Map, &ev)
		return &peer.File{Map: s.m, Event: &ev, SHA256: s.SHA256}, s
	}
	return nil, nil
}

func notOpen(root string) error {
	return fmt.Errorf("root %s is not open: call open(ref) first", root)
}

// deferFor is how long open holds a download back when the serving node
// can give the player its first chunks over HTTP: the download (seeder
// lookups, WebRTC offers, fetches of every chunk) would compete with them,
// and with the decoding of the first frame, for the page's one thread.
// The player asking for its second media chunk starts it sooner.
const deferFor = 2 * time.Second

// open resolves ref and starts its download unless held or running. With
// soon, a download the serving node's HTTP can stand in for is started
// only once the player asks for its second media chunk, or after deferFor.
func (t *tab) open(ref string, soon bool) (*peer.File, error) {
	p, err := t.running()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(t.ctx, relayTimeout)
	defer cancel()
	f, _ := t.file(ctx, ref)
	if f == nil {
		if f, err = p.Resolve(ctx, ref); err != nil {
			// One of the tab's own shares, not on the relay, is known
			// once the stored records are read back.
			t.store.need()
			select {
			case <-t.loaded:
			case <-ctx.Done():
			}
			if f, _ = t.file(ctx, ref); f == nil {
				return nil, err
			}
		}
		mark("resolved")
	}
	if p.Held(f.Map) < len(f.Map.Chunks) {
		if soon && t.http != nil && f.SHA256 != "" && p.DownloadOf(f.Map.Root) == nil {
			t.holdBack(f)
			if m := f.Map.MIME; strings.HasPrefix(m, "video/") || strings.HasPrefix(m, "audio/") {
				// The player's first asks (init segment, first media
				// chunk) go out now, while the page lays itself out.
				for i := range min(2, len(f.Map.Chunks)) {
					t.prefetch(f, i)
				}
			}
			return f, nil
		}
		if _, err := t.download(p, f); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// early is a fetch of a chunk over HTTP that open started before the
// player asked for it.
type early struct {
	done chan struct{}
	b    js.Value // the verified chunk, when err is nil
	err  error
}

// prefetch fetches chunk i of f from the serving node now, verified
// against the map, for the player's coming chunk call; the chunk is kept
// as the player's own would be (lateStore.keep).
func (t *tab) prefetch(f *peer.File, i int) {
	h := f.Map.Chunks[i]
	if _, ok := t.store.kept(h); ok || t.store.Has(h) || !t.store.room(chunkLen(f, i)) {
		return
	}
	e := &early{done: make(chan struct{})}
	t.mu.Lock()
	if t.early[h] != nil {
		t.mu.Unlock()
		return
	}
	t.early[h] = e
	t.mu.Unlock()
	go func() {
		e.b, e.err = t.http.FetchJS(t.ctx, h, f.Map.Root, nil)
		if e.err == nil {
			mark(fmt.Sprintf("chunk-%d-http", i))
			t.store.keep(h, e.b, t.warn)
		}
		close(e.done)
		// Not asked for by then: forgotten (the chunk is kept anyway).
		time.AfterFunc(deferFor, func() {
			t.mu.Lock()
			if t.early[h] == e {
				delete(t.early, h)
			}
			t.mu.Unlock()
		})
	}()
}

// takeEarly waits for the prefetch of chunk h, if any, and returns its
// chunk; ok is false when there was none or it failed.
func (t *tab) takeEarly(h [32]byte) (b js.Value, ok bool) {
	t.mu.Lock()
	e := t.early[h]
	delete(t.early, h)
	t.mu.Unlock()
	if e == nil {
		return js.Undefined(), false
	}
	select {
	case <-e.done:
	case <-t.ctx.Done():
		return js.Undefined(), false
	}
	return e.b, e.err == nil
}

// holdBack starts f's download after deferFor, unless something starts it
// sooner (t.download).
func (t *tab) holdBack(f *peer.File) {
	root := f.Root()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.held[root] != nil {
		return
	}
	t.held[root] = time.AfterFunc(deferFor, func() {
		if p, err := t.running(); err == nil {
			if p.Held(f.Map) >= len(f.Map.Chunks) {
				// Every chunk was in IndexedDB, which open could not
				// see before it opened: nothing to download.
				t.mu.Lock()
				delete(t.held, root)
				t.mu.Unlock()
				return
			}
			if _, err := t.download(p, f); err != nil {
				t.peerLog("starting the download of "+root[:8]+", chunk", 0, err)
			}
		}
	})
}

// heldBack tells whether root's download is being held back.
func (t *tab) heldBack(root string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.held[root] != nil
}

// download returns the running download of f, started if needed.
func (t *tab) download(p *peer.Peer, f *peer.File) (*peer.Download, error) {
	t.mu.Lock()
	if tm := t.held[f.Root()]; tm != nil {
		tm.Stop()
		delete(t.held, f.Root())
	}
	t.mu.Unlock()
	if dl := p.DownloadOf(f.Map.Root); dl != nil && dl.Err() == nil {
		return dl, nil
	}
	held := t.whole.expect(f)
	dl, err := p.Download(f)
	if held {
		if err != nil {
			t.whole.drop(f.Map.Root)
		} else {
			// The check runs before Done closes: whatever is still held
			// then (a failed or stopped download) is released.
			go func() {
				<-dl.Done()
				t.whole.drop(f.Map.Root)
			}()
		}
	}
	if err == nil {
		t.warm(f)
	}
	return dl, err
}

// warm starts the WebRTC dials to f's author and gatekeepers, the first
// seeders the download will ask, so that signaling and ICE run while the
// core still looks up the other seeders (the serving node's list over
// HTTP, address records through the relay).
func (t *tab) warm(f *peer.File) {
	t.mu.Lock()
	rtc, self := t.rtc, t.pub
	t.mu.Unlock()
	if rtc == nil {
		return
	}
	tr := rtc.Transport()
	seen := map[string]bool{self: true}
	for _, pk := range append([]string{f.Author()}, f.Map.Gatekeepers...) {
		if !seen[pk] && event.IsHex(pk, 64) {
			seen[pk] = true
			tr.Warm(swarm.PeerID(pk), f.Map.Root)
		}
	}
}

// chunk returns chunk i of an opened root as a Uint8Array, fetched first
// if missing. Its bytes go from IndexedDB or the network to the page
// without passing through Go's memory.
func (t *tab) chunk(root string, i int) (js.Value, error) {
	none := js.Undefined()
	p, err := t.running()
	if err != nil {
		return none, err
	}
	f, _ := t.file(t.ctx, root)
	if f == nil {
		return none, notOpen(root)
	}
	if i < 0 || i >= len(f.Map.Chunks) {
		return none, fmt.Errorf("chunk %d: the file has chunks 0..%d", i, len(f.Map.Chunks)-1)
	}
	h := f.Map.Chunks[i]
	if i >= 2 {
		// The player has its first media chunk and asks for the next:
		// the store may open now.
		t.store.need()
	}
	if b, ok := t.takeEarly(h); ok {
		return b, nil // asked for by open
	}
	if b, ok := t.store.kept(h); ok {
		return b, nil // fetched while IndexedDB opened
	}
	// Before IndexedDB is open nothing counts as held, and the player's
	// chunks come from the serving node.
	held := t.store.Has(h)
	if !held && t.http != nil && (t.heldBack(root) || t.store.now() == nil) && t.store.room(chunkLen(f, i)) {
		// The download waits for the player's first chunks: they come
		// straight from the serving node, verified against the map.
		b, err := t.http.FetchJS(t.ctx, h, f.Map.Root, nil)
		if err == nil {
			mark(fmt.Sprintf("chunk-%d-http", i))
			t.store.keep(h, b, t.warn)
			if i > 1 {
				// The player has its first media chunk and asks for the
				// next: its first frame is out of the way, the rest may
				// come from everyone.
				go t.download(p, f)
			}
			return b, nil
		}
	}
	if !held {
		dl, err := t.download(p, f)
		if err != nil {
			return none, err
		}
		if t.http != nil {
			return t.race(dl, f, i)
		}
		if err := dl.Swarm().Need(t.ctx, i); err != nil {
			return none, fmt.Errorf("chunk %d: %w", i, err)
		}
	}
	return t.store.GetJS(h)
}

// chunkLen is the length of chunk i of f.
func chunkLen(f *peer.File, i int) int64 {
	if f.Map.ChunkInfo != nil {
		return f.Map.ChunkInfo[i].Length
	}
	return min(f.Map.ChunkSize, f.Map.Size-int64(i)*f.Map.ChunkSize)
}

// race fetches the player's chunk i two ways at once: through the
// download (Need: whichever peer the scheduler picks, which may be a WebRTC
// peer still connecting) and straight from the serving node over HTTP.
// The first to have it verified wins; the other is called off. A chunk the
// HTTP side got (verified by its transport) is returned at once and stored
// meanwhile; the download, finding it held, does not fetch it again unless
// it already asked for it.
func (t *tab) race(dl *peer.Download, f *peer.File, i int) (js.Value, error) {
	ctx, cancel := context.WithCancel(t.ctx)
	defer cancel()
	h := f.Map.Chunks[i]
	type result struct {
		b   js.Value // set by the HTTP side
		err error
	}
	got := make(chan result, 2)
	go func() {
		err := dl.Swarm().Need(ctx, i)
		if err != nil {
			err = fmt.Errorf("chunk %d: %w", i, err)
		}
		got <- result{err: err}
	}()
	go func() {
		b, err := t.http.FetchJS(ctx, h, f.Map.Root, nil)
		if err == nil {
			t.store.keep(h, b, t.warn)
		}
		got <- result{b: b, err: err}
	}()
	var errs []error
	for range 2 {
		r := <-got
		switch {
		case r.err != nil:
			errs = append(errs, r.err)
		case r.b.Truthy():
			mark(fmt.Sprintf("chunk-%d-http", i))
			return r.b, nil
		default:
			mark(fmt.Sprintf("chunk-%d-swarm", i))
			return t.store.GetJS(h)
		}
	}
	return js.Undefined(), errors.Join(errs...)
}

// peerLog reports a background failure on the page's console.
func (t *tab) peerLog(what string, i int, err error) {
	js.Global().Get("console").Call("warn", fmt.Sprintf("cairn: %s %d: %v", what, i, err))
}

// read returns length bytes of root's file from offset.
func (t *tab) read(root string, off, length int64) ([]byte, error) {
	p, err := t.running()
	if err != nil {
		return nil, err
	}
	f, _ := t.file(t.ctx, root)
	if f == nil {
		return nil, notOpen(root)
	}
	if off < 0 || length < 0 || off > f.Map.Size {
		return nil, fmt.Errorf("range %d+%d is outside the file (size %d)", off, length, f.Map.Size)
	}
	length = min(length, f.Map.Size-off)
	var src swarm.Source
	if p.Held(f.Map) < len(f.Map.Chunks) {
		s, release, err := p.Source(f)
		if err != nil {
			return nil, err
		}
		defer release()
		src = s
	}
	r, err := swarm.NewReader(t.ctx, f.Map, t.store, src)
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

// fetch opens ref and waits until every chunk is held and the file checked.
func (t *tab) fetch(ref string, report func(map[string]any)) (any, error) {
	f, err := t.open(ref, false)
	if err != nil {
		return nil, err
	}
	p, _ := t.running()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	if dl := p.DownloadOf(f.Map.Root); dl != nil {
	wait:
		for {
			select {
			case <-dl.Done():
				break wait
			case <-tick.C:
				report(t.progressNow(f, dl))
			case <-t.ctx.Done():
				return nil, context.Canceled
			}
		}
		if err := dl.Err(); err != nil {
			return nil, err
		}
	} else if f.SHA256 != "" {
		if err := t.checkWhole(t.ctx, f); err != nil {
			return nil, err
		}
	}
	// The download is over: status() and progress() show it from now on,
	// not up to a snapshot period later.
	t.snap.Store(t.takeSnapshot())
	report(t.progressNow(f, p.DownloadOf(f.Map.Root)))
	return map[string]any{"root": f.Root(), "sha256": f.SHA256, "size": f.Map.Size, "mime": f.Map.MIME}, nil
}

// info is open's answer.
func info(f *peer.File, name string) map[string]any {
	m := f.Map
	chunks := make([]any, len(m.Chunks))
	off := int64(0)
	for i := range m.Chunks {
		ln, dur := m.ChunkSize, int64(0)
		if m.ChunkInfo != nil {
			off, ln, dur = m.ChunkInfo[i].Offset, m.ChunkInfo[i].Length, m.ChunkInfo[i].DurationMs
		} else {
			ln = min(ln, m.Size-off)
		}
		chunks[i] = map[string]any{"index": i, "offset": off, "length": ln, "duration": float64(dur) / 1000}
		off += ln
	}
	if name == "" {
		name = m.Title
	}
	return map[string]any{
		"root": f.Root(), "sha256": f.SHA256, "size": m.Size, "mime": m.MIME, "name": name,
		"chunks": chunks, "fragmented": m.Init != nil,
	}
}

// progressNow computes a root's progress; dl.Progress waits for the
// download's loop, so only goroutines call it, never an export.
func (t *tab) progressNow(f *peer.File, dl *peer.Download) map[string]any {
	out := t.progressHeld(f)
	if dl == nil {
		return out
	}
	p := dl.Progress()
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
	out["transports"] = map[string]any{
		"webrtc": map[string]any{"bytes_down": p.Transports["webrtc"]},
		httpName: map[string]any{"bytes_down": p.Transports[httpName]},
	}
	err := dl.Err()
	if err == nil && p.Err != nil && !errors.Is(p.Err, swarm.ErrClosed) {
		err = p.Err
	}
	if err != nil {
		out["error"] = err.Error()
		out["done"] = false
	}
	return out
}

// progressHeld is a root's progress from the store alone: it never waits.
func (t *tab) progressHeld(f *peer.File) map[string]any {
	have, total := 0, len(f.Map.Chunks)
	bytesHave := int64(0)
	for _, h := range f.Map.Chunks {
		if n, err := t.store.Size(h); err == nil {
			have++
			bytesHave += n
		}
	}
	return map[string]any{
		"root": f.Root(), "have": have, "total": total, "bytes": bytesHave, "size": f.Map.Size,
		"rate": 0, "peers": 0, "transports": map[string]any{"webrtc": map[string]any{"bytes_down": 0}},
		"done": have == total, "error": nil,
	}
}

// progress is the progress() export: the snapshot's, or, for a root with
// no download, what the store holds.
func (t *tab) progress(root string) map[string]any {
	p, err := t.running()
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	if r, err := event.ParseHex32(root); err == nil {
		// A finished download's figures are final: read at once, they
		// wait for nothing.
		if dl := p.DownloadOf(r); dl != nil && dl.Finished() {
			return t.progressNow(dl.File, dl)
		}
	}
	if s := t.snap.Load(); s != nil {
		if p, ok := s.progress[root]; ok {
			return p
		}
	}
	f, _ := t.file(context.Background(), root)
	if f == nil {
		return map[string]any{"error": notOpen(root).Error()}
	}
	return t.progressHeld(f)
}

// status is the status() export: the snapshot, with what can be read
// without waiting (the blob store's in-memory index, atomics) fresh.
func (t *tab) status() map[string]any {
	if _, err := t.running(); err != nil {
		return map[string]any{"error": err.Error()}
	}
	s := t.snap.Load()
	if s == nil {
		return map[string]any{"error": "starting"}
	}
	out := make(map[string]any, len(s.status))
	for k, v := range s.status {
		out[k] = v
	}
	bs := t.store.Stats()
	out["blobs"] = map[string]any{"count": bs.Count, "bytes": bs.Bytes, "quota": bs.Quota, "pinned": bs.Pinned}
	out["seeding"] = t.seeding.Load()
	out["relay"] = map[string]any{"url": t.relayURL, "connected": t.home.Connected()}
	return out
}

// snapshots refreshes the snapshot until ctx ends.
func (t *tab) snapshots(ctx context.Context) {
	tick := time.NewTicker(snapshotEvery)
	defer tick.Stop()
	for {
		t.snap.Store(t.takeSnapshot())
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (t *tab) takeSnapshot() *snapshot {
	t.mu.Lock()
	p, rtc := t.peer, t.rtc
	t.mu.Unlock()
	s := &snapshot{progress: map[string]map[string]any{}}
	dls := []any{}
	for _, dl := range p.Downloads() {
		pr := t.progressNow(dl.File, dl)
		s.progress[dl.File.Root()] = pr
		dls = append(dls, pr)
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
	var httpDown int64
	if t.http != nil {
		httpDown = t.http.down.Load()
	}
	if httpDown > 0 {
		peers = append(peers, map[string]any{"pubkey": t.nodePub, "transport": httpName, "url": t.http.base, "bytes_up": 0, "bytes_down": httpDown, "state": "open"})
	}
	credits := t.credits.summary()
	if rtc != nil {
		rs := rtc.ReceiptStats()
		credits["receipts_accepted"], credits["receipts_refused"], credits["receipts_sent"] = rs.Accepted, rs.Refused, rs.Sent
	}
	bs := t.store.Stats()
	s.status = map[string]any{
		"credits":    credits,
		"pubkey":     t.pub,
		"relay":      map[string]any{"url": t.relayURL, "connected": t.home.Connected()},
		"seeding":    t.seeding.Load(),
		"peers":      peers,
		"transports": map[string]any{"webrtc": map[string]any{"bytes_up": up, "bytes_down": down}, httpName: map[string]any{"bytes_up": 0, "bytes_down": httpDown}},
		"blobs":      map[string]any{"count": bs.Count, "bytes": bs.Bytes, "quota": bs.Quota, "pinned": bs.Pinned},
		"downloads":  dls,
	}
	return s
}

// list describes every file the tab knows: its shares and the chunk maps
// it holds chunks of.
func (t *tab) list(ctx context.Context) ([]any, error) {
	p, err := t.running()
	if err != nil {
		return nil, err
	}
	t.store.need()
	select { // the stored shares and events first
	case <-t.loaded:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	out := []any{}
	seen := map[string]bool{}
	add := func(f *peer.File, name string) {
		if seen[f.Root()] {
			return
		}
		seen[f.Root()] = true
		if name == "" {
			name = f.Map.Title
		}
		pinned := len(f.Map.Chunks) > 0 && len(t.store.Pins(f.Map.Chunks[0])) > 0
		out = append(out, map[string]any{
			"root": f.Root(), "sha256": f.SHA256, "name": name, "mime": f.Map.MIME, "size": f.Map.Size,
			"chunks": len(f.Map.Chunks), "have": p.Held(f.Map), "pinned": pinned,
		})
	}
	t.mu.Lock()
	shares := make([]*shareRec, 0, len(t.shares))
	for _, s := range t.shares {
		shares = append(shares, s)
	}
	t.mu.Unlock()
	for _, s := range shares {
		if f, _ := t.file(ctx, s.Root); f != nil {
			add(f, s.Name)
		}
	}
	var known []*peer.File
	p.ChunkMaps(ctx, "", func(f *peer.File) error {
		known = append(known, f)
		return nil
	})
	for _, f := range known {
		if p.Held(f.Map) > 0 || p.DownloadOf(f.Map.Root) != nil {
			full, _ := t.file(ctx, f.Root())
			add(full, "")
		}
	}
	return out, nil
}

// remove stops a root's download, deletes its chunks that no other file
// uses, and forgets it.
func (t *tab) remove(ctx context.Context, root string) error {
	p, err := t.running()
	if err != nil {
		return err
	}
	f, s := t.file(ctx, root)
	if f == nil {
		return fmt.Errorf("root %s is not known", root)
	}
	t.mu.Lock()
	delete(t.shares, root)
	t.mu.Unlock()
	if err := p.Remove(ctx, f); err != nil {
		return err
	}
	if s != nil {
		st, err := t.db()
		if err != nil {
			return err
		}
		return st.DeleteFile(recShare + root)
	}
	return nil
}
