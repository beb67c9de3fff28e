//go:build js && wasm

package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"syscall/js"
	"time"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/media"
	"github.com/cairn-nostr/cairn/merkle"
	"github.com/cairn-nostr/cairn/sha"
)

// shareOptions are share's options (onProgress is read separately).
type shareOptions struct {
	Name    string `json:"name"`
	MIME    string `json:"mime"`
	Title   string `json:"title"`
	Summary string `json:"summary"`
}

// plan cuts data: keyframe-aligned for fragmented MP4 and WebM (a
// progressive MP4 is remuxed to a fragmented one first, in memory), fixed
// size otherwise, the fixed-size chunks hashed with WebCrypto.
func plan(hasher sha.Hasher, data []byte) (media.Plan, []byte, error) {
	size := int64(len(data))
	kind, err := media.Detect(bytes.NewReader(data), size)
	if err != nil {
		return media.Plan{}, nil, err
	}
	switch kind {
	case media.FragmentedMP4, media.WebM:
		p, err := media.Split(bytes.NewReader(data), size, media.Chunker{})
		return p, data, err
	case media.ProgressiveMP4:
		var out bytes.Buffer
		if err := media.Remux(bytes.NewReader(data), size, &out); err != nil {
			return media.Plan{}, nil, fmt.Errorf("remuxing the MP4 to a fragmented one: %w", err)
		}
		frag := out.Bytes()
		p, err := media.Split(bytes.NewReader(frag), int64(len(frag)), media.Chunker{})
		return p, frag, err
	}
	target, ranges, err := media.CutFixed(size, media.Chunker{})
	if err != nil {
		return media.Plan{}, nil, err
	}
	p := media.Plan{Container: kind, Size: size, TargetSize: target}
	for _, r := range ranges {
		h, err := hasher.Sum256(data[r.Offset : r.Offset+r.Length])
		if err != nil {
			return media.Plan{}, nil, err
		}
		p.Chunks = append(p.Chunks, media.Chunk{Offset: r.Offset, Length: r.Length, Hash: h})
	}
	if len(p.Chunks) == 0 {
		return media.Plan{}, nil, errors.New("the file is empty")
	}
	p.Root = merkle.Root(p.Hashes())
	return p, data, nil
}

// fileURL is where the serving node gives the file by its sha256: the
// relay's host over http(s).
func fileURL(relay string, sum [32]byte) string {
	u, err := url.Parse(relay)
	if err != nil || u.Host == "" {
		return "http://127.0.0.1/" + hex.EncodeToString(sum[:])
	}
	scheme := "http"
	if u.Scheme == "wss" || u.Scheme == "https" {
		scheme = "https"
	}
	return scheme + "://" + u.Host + "/" + hex.EncodeToString(sum[:])
}

func templateJS(ev nostr.Event) map[string]any {
	tags := make([]any, len(ev.Tags))
	for i, t := range ev.Tags {
		tags[i] = strs(t)
	}
	return map[string]any{"kind": ev.Kind, "created_at": int64(ev.CreatedAt), "tags": tags, "content": ev.Content}
}

// share stores data's chunks pinned "shared" and returns the map and file
// event templates.
func (t *tab) share(data []byte, o shareOptions, onProgress js.Value) (any, error) {
	if _, err := t.running(); err != nil {
		return nil, err
	}
	p, data, err := plan(t.hasher, data)
	if err != nil {
		return nil, err
	}
	sum, err := t.hasher.Sum256(data)
	if err != nil {
		return nil, err
	}
	total := len(data)
	done := 0
	for _, ch := range p.Chunks {
		if err := t.store.Pin(ch.Hash, pinShared); err != nil {
			return nil, err
		}
		if err := t.store.Put(ch.Hash, data[ch.Offset:ch.Offset+ch.Length]); err != nil {
			return nil, fmt.Errorf("storing chunk %x: %w", ch.Hash[:4], err)
		}
		done += int(ch.Length)
		if onProgress.Type() == js.TypeFunction {
			onProgress.Invoke(done, total)
		}
	}
	m := p.Map()
	if m.MIME == "" {
		m.MIME = strings.TrimSpace(o.MIME)
	}
	if m.MIME == "" {
		m.MIME = "application/octet-stream"
	}
	m.Title, m.Description = o.Title, o.Summary
	m.Gatekeepers = []string{t.pub}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("the chunk map would be invalid: %w", err)
	}
	now := nostr.Timestamp(time.Now().Unix())
	t7001 := m.Event()
	t7001.CreatedAt, t7001.PubKey = now, t.pub
	t1063 := m.FileMetadata(fileURL(t.relayURL, sum), sum).Event()
	t1063.CreatedAt = now
	raw, _ := json.Marshal(t7001)
	root := rootHex(m.Root)
	f := &shareRec{Root: root, Map: raw, SHA256: hex.EncodeToString(sum[:]), Name: o.Name, MIME: m.MIME, m: m}
	if err := t.saveShare(f); err != nil {
		return nil, err
	}
	return map[string]any{
		"root": root, "sha256": f.SHA256, "size": len(data), "mime": m.MIME, "chunks": len(m.Chunks),
		"events": []any{templateJS(t7001), templateJS(t1063)},
	}, nil
}
