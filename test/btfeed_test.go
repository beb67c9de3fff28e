package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip19"

	"github.com/cairn-nostr/cairn/test/harness"
)

// TestFollowFromNpub: three cairn node processes form a private Mainline
// DHT on loopback (B and C join through A's DHT node; nothing public). A
// publishes its feed once it has joined; `cairn follow npub(A) --print`
// against C finds it from the npub alone and prints A's events
// byte-identical to what A's relay holds; without --print C stores them.
// An npub with no feed fails with the reason.
func TestFollowFromNpub(t *testing.T) {
	a := harness.Start(t)
	var st struct {
		Npub  string `json:"npub"`
		BTDHT struct {
			Addr string `json:"addr"`
		} `json:"bt_dht"`
	}
	getJSON(t, a.URL+"/api/status", &st)
	if st.BTDHT.Addr == "" {
		t.Fatal("A runs no Mainline DHT node")
	}
	harness.Start(t, "--bt-dht-bootstrap", st.BTDHT.Addr)
	c := harness.Start(t, "--bt-dht-bootstrap", st.BTDHT.Addr)
	_, pk, err := nip19.Decode(st.Npub)
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut string
	var code int
	// A publishes its feed once its DHT has a node to put to; until then
	// a follow fails. Bounded by a deadline, not only by tries, so a slow
	// machine fails here with the reason rather than at the suite's limit.
	deadline := time.Now().Add(3 * time.Minute)
	for try := 0; ; try++ {
		if try == 60 || time.Now().After(deadline) {
			var sa, sc struct {
				BTDHT json.RawMessage `json:"bt_dht"`
			}
			getJSON(t, a.URL+"/api/status", &sa)
			getJSON(t, c.URL+"/api/status", &sc)
			t.Fatalf("cairn follow never succeeded in %d tries: exit %d\nstdout:\n%s\nstderr:\n%s\nA's bt_dht: %s\nC's bt_dht: %s", try, code, out, errOut, sa.BTDHT, sc.BTDHT)
		}
		if try > 0 {
			time.Sleep(500 * time.Millisecond) // between follows, bounded by the tries
		}
		out, errOut, code = harness.RunTimeout(t, time.Minute, "follow", "--node", c.URL, "--print", st.Npub)
		if code == 0 {
			break
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	conn := harness.Dial(t, a.WSURL)
	for _, l := range lines {
		var ev nostr.Event
		if err := json.Unmarshal([]byte(l), &ev); err != nil || ev.PubKey != pk.(string) {
			t.Fatalf("printed %q: %v", l, err)
		}
		held := conn.Query("q", nostr.Filter{IDs: []string{ev.ID}})
		if len(held) != 1 {
			t.Fatalf("A's relay holds %d of %s", len(held), ev.ID)
		}
		want, _ := json.Marshal(held[0])
		if string(want) != l {
			t.Fatalf("printed %s, A holds %s", l, want)
		}
	}
	t.Logf("followed %d events; steps:\n%s", len(lines), errOut)

	out, errOut, code = harness.RunTimeout(t, 2*time.Minute, "follow", "--node", c.URL, st.Npub)
	if code != 0 || !strings.Contains(out, "stored in the node's relay") {
		t.Fatalf("follow (store): %d %s %s", code, out, errOut)
	}

	sk := nostr.GeneratePrivateKey()
	pub, _ := nostr.GetPublicKey(sk)
	np, _ := nip19.EncodePublicKey(pub)
	out, errOut, code = harness.RunTimeout(t, 2*time.Minute, "follow", "--node", c.URL, np)
	if code == 0 || !strings.Contains(errOut, "no locator") {
		t.Fatalf("an npub with no feed: %d %s %s", code, out, errOut)
	}
}
