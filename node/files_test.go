package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"testing"
)

// TestChunkByHash: GET /<sha256> of a chunk serves it (Range too), held or
// pulled from the swarm when a stored chunk map lists it; a hash the node
// knows nothing of is 404.
func TestChunkByHash(t *testing.T) {
	a, b := startPair(t)
	path, data := randFile(t, 21, 300_000)
	sh, err := a.Share(context.Background(), ShareRequest{Path: path, ChunkSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	var e MediaEntry
	post(t, b.URL()+"/api/resolve", GetRequest{Ref: sh.Nevent}, &e) // B knows the map, holds nothing
	it := storedItem(t, a, sh.Root)
	get := func(n *Node, hash [32]byte, rng string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", n.URL()+"/"+hex.EncodeToString(hash[:]), nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, body
	}
	c1 := data[64<<10 : 128<<10]
	if code, body := get(a, it.Map.Chunks[1], ""); code != 200 || !bytes.Equal(body, c1) {
		t.Fatalf("held chunk: %d, %d bytes", code, len(body))
	}
	if code, body := get(a, it.Map.Chunks[1], "bytes=10-19"); code != 206 || !bytes.Equal(body, c1[10:20]) {
		t.Fatalf("range of a chunk: %d %q", code, body)
	}
	if code, body := get(b, it.Map.Chunks[2], ""); code != 200 || !bytes.Equal(body, data[128<<10:192<<10]) {
		t.Fatalf("bridged chunk: %d, %d bytes", code, len(body))
	}
	if code, _ := get(b, [32]byte{1, 2, 3}, ""); code != 404 {
		t.Fatalf("unknown hash: %d", code)
	}
}
