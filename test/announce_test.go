package e2e

import (
	"path/filepath"
	"testing"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/test/harness"
)

// TestMediaSeederAnnouncement: a node announces (Entropy's kind 20002,
// live on its relay, not stored) a root it shares, and another node the
// root it has fetched in full.
func TestMediaSeederAnnouncement(t *testing.T) {
	a := harness.Start(t)
	b := startSeeded(t, a)
	path, _ := mediaFile(t, "announced.bin", mediaSize)

	subA := harness.Dial(t, a.WSURL)
	subA.Send("REQ", "ann", nostr.Filter{Kinds: []int{20002}})
	subA.Expect(func(m harness.Msg) bool { return m.Label() == "EOSE" })
	subB := harness.Dial(t, b.WSURL)
	subB.Send("REQ", "ann", nostr.Filter{Kinds: []int{20002}})
	subB.Expect(func(m harness.Msg) bool { return m.Label() == "EOSE" })

	s := share(t, a, path)
	check := func(c *harness.Conn, who string, n *harness.Node) {
		t.Helper()
		var pub struct {
			PubKey string `json:"pubkey"`
		}
		getJSON(t, n.URL+"/api/status", &pub)
		m := c.Expect(func(m harness.Msg) bool { return m.Label() == "EVENT" })
		var ev nostr.Event
		if err := ev.UnmarshalJSON(m[2]); err != nil {
			t.Fatal(err)
		}
		if ev.PubKey != pub.PubKey || ev.Tags.GetFirst([]string{"x"}) == nil || (*ev.Tags.GetFirst([]string{"x"}))[1] != s.root ||
			ev.Tags.GetFirst([]string{"chunks"}) == nil || (*ev.Tags.GetFirst([]string{"chunks"}))[1] != "13" ||
			ev.Tags.GetFirst([]string{"t"}) == nil || (*ev.Tags.GetFirst([]string{"t"}))[1] != "entropy" {
			t.Fatalf("%s's announcement: %s", who, m)
		}
		if ok, _ := ev.CheckSignature(); !ok {
			t.Fatalf("%s's announcement is not signed: %s", who, m)
		}
	}
	check(subA, "A", a)

	if out, errOut, code := harness.Run(t, "get", s.nevent, "--node", b.URL, "-q", "-o", filepath.Join(t.TempDir(), "b.bin")); code != 0 {
		t.Fatalf("cairn get exited %d\n%s\n%s", code, out, errOut)
	}
	check(subB, "B", b)

	// Ephemeral: nothing of kind 20002 is stored.
	q := harness.Dial(t, a.WSURL)
	if evs := q.Query("stored", nostr.Filter{Kinds: []int{20002}}); len(evs) != 0 {
		t.Errorf("%d announcements stored", len(evs))
	}
}
