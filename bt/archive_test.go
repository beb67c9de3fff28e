package bt

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/identity"
)

// handArchive publishes, as relay r, archive pages made of the given
// bundles (raw JSON arrays; npk and count as the page should say), each
// page of per bundles, chained; it returns the archive pointer's seq.
func handArchive(t *testing.T, ctx context.Context, d *DHT, c *Client, r identity.Key, per int, bundles [][]byte, npks []string, counts []int) int64 {
	t.Helper()
	var pg ArchivePage
	var newest File
	for i, raw := range bundles {
		f, err := makeFile(fmt.Sprintf("b%d.json", i), raw)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Seed(f.MI, bytes.NewReader(f.Data)); err != nil {
			t.Fatal(err)
		}
		m, _ := Magnet(f.MI, "", fmt.Sprintf("127.0.0.1:%d", c.Port()))
		pg.Bundles = append(pg.Bundles, ArchiveEntry{NPK: npks[i], Magnet: m, Events: counts[i]})
		if len(pg.Bundles) == per || i == len(bundles)-1 {
			pg.UpdatedAt = time.Now().Unix()
			if newest, err = PageFile(pg); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Seed(newest.MI, bytes.NewReader(newest.Data)); err != nil {
				t.Fatal(err)
			}
			prev, _ := Magnet(newest.MI, "", fmt.Sprintf("127.0.0.1:%d", c.Port()))
			pg = ArchivePage{Prev: prev}
		}
	}
	if err := d.Announce(ctx, newest.MI.HashInfoBytes(), c.Port()); err != nil {
		t.Fatal(err)
	}
	if err := d.PutLocator(ctx, attest(t, r, time.Now().Unix())); err != nil {
		t.Fatal(err)
	}
	seq, err := d.PutArchive(ctx, Key(r), Pointer{IH: newest.MI.HashInfoBytes(), TS: time.Now().Unix(), NPK: r.Public})
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

func bundleOf(t *testing.T, evs ...*nostr.Event) []byte {
	t.Helper()
	b, err := json.Marshal(evs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFollowArchive: a relay's archive of three authors over three pages
// (two bundles a page, chained by prev) is read whole from the relay's
// npub over eight loopback DHT nodes, every event checked, newest page
// first. Then the refusals, each with its reason and nothing returned: a
// bundle holding an event changed after signing (its id fails), one whose
// signature fails over the right id, one holding an event of
// another author than its page says, one holding fewer events than its page
// says, a page that is not an archive page, and a pointer older than one
// seen.
func TestFollowArchive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nodes := privateDHT(t, ctx, 8)
	ca, cb := newClient(t), newClient(t)
	base := int64(1700000000)
	authors := []identity.Key{identity.Generate(), identity.Generate(), identity.Generate()}
	var bundles [][]byte
	var npks []string
	var counts []int
	want := map[string]bool{}
	for i := range 5 {
		k := authors[i%3]
		var evs []*nostr.Event
		for j := range i + 1 {
			ev := signed(t, k, 1, base+int64(10*i+j), fmt.Sprintf("event %d of bundle %d", j, i))
			evs = append(evs, ev)
			want[ev.ID] = true
		}
		bundles, npks, counts = append(bundles, bundleOf(t, evs...)), append(npks, k.Public), append(counts, len(evs))
	}
	relay := identity.Generate()
	seq := handArchive(t, ctx, nodes[1], ca, relay, 2, bundles, npks, counts)
	var steps []string
	ar, err := nodes[6].FollowArchive(ctx, cb, relay.Public, FollowOptions{Dir: t.TempDir(), Progress: func(s string) { steps = append(steps, s) }})
	if err != nil {
		t.Fatalf("%v (steps %q)", err, steps)
	}
	if ar.Pages != 3 || ar.Bundles != 5 || len(ar.Events) != len(want) || ar.Seq != seq {
		t.Fatalf("%d pages, %d bundles, %d events, seq %d; want 3, 5, %d, %d", ar.Pages, ar.Bundles, len(ar.Events), ar.Seq, len(want), seq)
	}
	for _, ev := range ar.Events {
		if !want[ev.ID] {
			t.Fatalf("event %.16s was not archived", ev.ID)
		}
	}
	if !strings.Contains(ar.Events[0].Content, "bundle 4") {
		t.Fatalf("the newest bundle does not come first: %q", ar.Events[0].Content)
	}

	// A pointer older than one seen: refused.
	if _, err := nodes[6].FollowArchive(ctx, cb, relay.Public, FollowOptions{Dir: t.TempDir(), MinSeq: seq + 1}); !errors.Is(err, ErrPointer) || !strings.Contains(err.Error(), "lower") {
		t.Fatalf("a pointer below the seq seen: %v", err)
	}

	v := identity.Generate()
	for name, mk := range map[string]func(k identity.Key) ([]byte, string, int, string){
		"bad signature": func(k identity.Key) ([]byte, string, int, string) {
			ev := signed(t, k, 1, base, "signed")
			ev.Content = "changed after signing"
			return bundleOf(t, signed(t, k, 1, base, "fine"), ev), k.Public, 2, "id"
		},
		"signature over the right id": func(k identity.Key) ([]byte, string, int, string) {
			ev := signed(t, k, 1, base, "signed")
			sig := []byte(ev.Sig)
			if sig[10] == '0' {
				sig[10] = '1'
			} else {
				sig[10] = '0'
			}
			ev.Sig = string(sig)
			return bundleOf(t, ev), k.Public, 1, "signature"
		},
		"another author": func(k identity.Key) ([]byte, string, int, string) {
			return bundleOf(t, signed(t, v, 1, base, "theirs")), k.Public, 1, "not " + k.Public[:16]
		},
		"count": func(k identity.Key) ([]byte, string, int, string) {
			return bundleOf(t, signed(t, k, 1, base, "one")), k.Public, 2, "its page says 2"
		},
		"not an archive page": func(k identity.Key) ([]byte, string, int, string) {
			return bundleOf(t, signed(t, k, 1, base, "one")), "zz", 1, "64-hex npk"
		},
	} {
		k := identity.Generate()
		raw, npk, n, reason := mk(k)
		r := identity.Generate()
		good := bundleOf(t, signed(t, k, 1, base+1, "good"))
		handArchive(t, ctx, nodes[2], ca, r, 10, [][]byte{good, raw}, []string{k.Public, npk}, []int{1, n})
		got, err := nodes[5].FollowArchive(ctx, cb, r.Public, FollowOptions{Dir: t.TempDir()})
		if !errors.Is(err, ErrFeed) || got != nil || !strings.Contains(err.Error(), reason) {
			t.Errorf("%s: %v, want ErrFeed naming %q", name, err, reason)
		}
	}
}

// TestArchivePointerRefusals: the archive pointer's signature covers its
// salt (one made without it, or for the feed, is refused there), and a
// lower seq than one seen is refused.
func TestArchivePointerRefusals(t *testing.T) {
	k := identity.Generate()
	priv := Key(k)
	pub := priv.Public().(ed25519.PublicKey)
	p := Pointer{IH: [20]byte{7}, TS: 1700000000, NPK: k.Public}
	v, _ := p.Marshal()
	salted, err := signSalted(priv, []byte(ArchiveSalt), p, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CheckSalted(pub, []byte(ArchiveSalt), v, 3, salted.Sig, k.Public, 0); err != nil {
		t.Fatal(err)
	}
	plain, _ := Sign(priv, p, 3)
	if _, err := CheckSalted(pub, []byte(ArchiveSalt), v, 3, plain.Sig, k.Public, 0); !errors.Is(err, ErrPointer) || !strings.Contains(err.Error(), "bad signature") {
		t.Fatalf("a feed pointer's signature taken as the archive's: %v", err)
	}
	if _, err := Check(pub, v, 3, salted.Sig, k.Public, 0); !errors.Is(err, ErrPointer) {
		t.Fatalf("the archive pointer's signature taken as the feed's: %v", err)
	}
	if _, err := CheckSalted(pub, []byte(ArchiveSalt), v, 3, salted.Sig, k.Public, 4); !errors.Is(err, ErrPointer) || !strings.Contains(err.Error(), "lower") {
		t.Fatalf("a lower seq: %v", err)
	}
	if got := saltedTarget(pub, []byte(ArchiveSalt)); got == Target(pub) {
		t.Fatal("the archive pointer sits at the feed pointer's target")
	}
}
