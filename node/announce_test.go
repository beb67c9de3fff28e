package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip19"

	"github.com/cairn-nostr/cairn/peer"
	"github.com/cairn-nostr/cairn/relay/client"
)

// TestAnnouncementHook: an announcement published to the node's relay is
// remembered; a stale one and the node's own are not.
func TestAnnouncementHook(t *testing.T) {
	n := startNode(t, TestingConfig(t))
	var root [32]byte
	root[0] = 9
	sk := nostr.GeneratePrivateKey()
	pk, _ := nostr.GetPublicKey(sk)
	ctx := context.Background()
	c, err := client.Dial(ctx, n.RelayURL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	send := func(secret string, at nostr.Timestamp) {
		ev := nostr.Event{Kind: peer.KindAnnounce, CreatedAt: at,
			Tags: nostr.Tags{{"t", "entropy"}, {"x", hex.EncodeToString(root[:])}, {"chunks", "4"}}}
		ev.Sign(secret)
		if err := c.Publish(ctx, "EVENT", &ev); err != nil {
			t.Fatal(err)
		}
	}
	send(sk, nostr.Now()-nostr.Timestamp(3*peer.DefaultAnnounceInterval/time.Second)) // stale
	send(n.Key().Secret, nostr.Now())                                                 // own
	send(sk, nostr.Now())
	// The hooks run just after the OK.
	// The hooks run before the OK is sent: what the relay acknowledged
	// has been heard.
	got := n.Peer().Seeders(root)
	if len(got) != 1 || got[0].PubKey != pk || got[0].Chunks != 4 {
		t.Fatalf("announcers: %+v", got)
	}
	if n.Store().Stats().Events != 1 { // the addressing record only
		t.Errorf("announcements were stored: %d events", n.Store().Stats().Events)
	}

	// GET /api/seeders/{root} tells a browser what the node heard.
	res, err := http.Get(n.URL() + "/api/seeders/" + hex.EncodeToString(root[:]))
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Seeders []Seeder `json:"seeders"`
	}
	err = json.NewDecoder(res.Body).Decode(&body)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 || len(body.Seeders) != 1 || body.Seeders[0].PubKey != pk || body.Seeders[0].Chunks != 4 {
		t.Fatalf("GET /api/seeders: %d %v %+v", res.StatusCode, err, body)
	}
	for _, bad := range []string{"zz", strings.Repeat("A", 64), strings.Repeat("0", 63)} {
		res, err := http.Get(n.URL() + "/api/seeders/" + bad)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("GET /api/seeders/%s: %d, want 400", bad, res.StatusCode)
		}
	}
}

// TestFetchFromAnnouncedSeeder: C is no gatekeeper of the map and no node
// runs a DHT; C got the file from A, A stopped, and D, given only C's relay,
// finds C through C's kind 20002 announcement (heard on C's relay) and C's
// cairn-p2p record, and fetches the file from it.
func TestFetchFromAnnouncedSeeder(t *testing.T) {
	cfg := func() Config {
		c := TestingConfig(t)
		c.P2P.DHT = false
		c.AnnounceInterval = Duration(time.Second)
		return c
	}
	a, err := New(cfg(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	aStopped := false
	t.Cleanup(func() {
		if !aStopped {
			a.Stop(context.Background())
		}
	})
	c := startNode(t, cfg())

	data := make([]byte, 600_000)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	path := filepath.Join(t.TempDir(), "f.bin")
	os.WriteFile(path, data, 0o600)
	sh, err := a.Share(context.Background(), ShareRequest{Path: path, ChunkSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	waitDownload(t, c, sh.Nevent, "")
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	aStopped = true

	d := startNode(t, cfg())
	ref, _ := nip19.EncodeEvent(sh.MapID, []string{c.RelayURL()}, a.Key().Public)
	out := filepath.Join(t.TempDir(), "out.bin")
	waitDownload(t, d, ref, out)
	if f, _ := os.ReadFile(out); !bytes.Equal(f, data) {
		t.Fatalf("fetched file differs (%d bytes)", len(f))
	}
	var root [32]byte
	hex.Decode(root[:], []byte(sh.Root))
	got := d.Peer().Seeders(root)
	if len(got) != 1 || got[0].PubKey != c.Key().Public || got[0].Chunks != sh.Chunks {
		t.Errorf("D's announcers of the root: %+v", got)
	}
}

// waitDownload gets ref on n and waits for it to complete.
func waitDownload(t *testing.T, n *Node, ref, out string) {
	t.Helper()
	var st DownloadStatus
	post(t, n.URL()+"/api/get", GetRequest{Ref: ref, Output: out}, &st)
	for deadline := time.Now().Add(30 * time.Second); st.State != "complete"; {
		if st.State == "failed" || time.Now().After(deadline) {
			t.Fatalf("download on %s: %+v", n.URL(), st)
		}
		time.Sleep(50 * time.Millisecond)
		get(t, n.URL()+"/api/downloads/"+st.Root, &st)
	}
}

func TestConfigValidateAnnounceInterval(t *testing.T) {
	c := DefaultConfig()
	if time.Duration(c.AnnounceInterval) != 15*time.Minute {
		t.Errorf("default announce interval %v", time.Duration(c.AnnounceInterval))
	}
	c.AnnounceInterval = Duration(time.Millisecond)
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "announce interval") {
		t.Errorf("Validate: %v", err)
	}
}
