package node

import (
	"net/http"
	"strings"

	"github.com/cairn-nostr/cairn/event"
)

// The node hears every seeder announcement (kind 20002) its relay accepts
// (an OnEvent hook in New hands them to the core, peer.Heard) and serves
// what it heard to browsers.

// Seeder is one entry of GET /api/seeders/{root}.
type Seeder struct {
	PubKey  string `json:"pubkey"`
	Chunks  int    `json:"chunks"`
	HeardAt int64  `json:"heard_at"` // Unix seconds
}

// serveSeeders answers GET /api/seeders/{root} with the pubkeys heard
// announcing root in the last two announce intervals. It is public: a
// browser that starts a download has missed the announcements sent before
// it subscribed (they are ephemeral, no relay keeps them), and the node it
// is served by has been listening all along.
func (n *Node) serveSeeders(w http.ResponseWriter, r *http.Request) {
	raw := r.PathValue("root")
	root, err := event.ParseHex32(raw)
	if err != nil || raw != strings.ToLower(raw) {
		apiError(w, http.StatusBadRequest, "root must be 64 lowercase hex digits (a Merkle root)")
		return
	}
	out := struct {
		Root    string   `json:"root"`
		Seeders []Seeder `json:"seeders"`
	}{Root: raw, Seeders: []Seeder{}}
	for _, s := range n.peer.Seeders(root) {
		out.Seeders = append(out.Seeders, Seeder{PubKey: s.PubKey, Chunks: s.Chunks, HeardAt: s.Heard.Unix()})
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
}
