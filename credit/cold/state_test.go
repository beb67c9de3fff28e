package cold

import (
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"
)

func hexID(s string) string { x := h(s); return hex.EncodeToString(x[:]) }

// TestSavedRoundTrip: an assigner restored from its saved state keeps its
// held assignments (not the offers in flight), its holders' benches and
// counts, and challenges each restored assignment within one challenge
// cycle; a failed holder stays benched. Holdings come back as they were
// and expire as before.
func TestSavedRoundTrip(t *testing.T) {
	h1, h2, h3 := hexID("h1"), hexID("h2"), hexID("h3")
	cfg := Config{Replicas: 2, ChallengeEvery: time.Hour}
	a, root, cs := setup(cfg, 2, map[string]Evidence{h1: good, h2: good, h3: good})
	offers := a.Tick(t0).Offers
	for _, o := range offers {
		if o.Holder != h3 { // h3's offer stays unanswered
			a.Answered(o.Holder, o.Root, o.Chunks, t0)
		}
	}
	// Fail h1 on one chunk: it is benched.
	var ch Challenge
	for i := time.Duration(1); ch.Holder != h1 && i < 200; i++ {
		for _, c := range a.Tick(t0.Add(i * time.Minute)).Challenges {
			if c.Holder == h1 && ch.Holder == "" {
				ch = c
			} else {
				a.Proved(c.Holder, c.Chunk, c.Nonce, true, t0.Add(i*time.Minute))
			}
		}
	}
	if ch.Holder != h1 {
		t.Fatal("h1 never challenged")
	}
	now := ch.Deadline.Add(-time.Second)
	a.Proved(h1, ch.Chunk, ch.Nonce, false, now)
	before := a.Assignments()
	var held int
	for _, as := range before {
		if as.State == Held {
			held++
		}
	}

	var s Saved
	a.Save(&s)
	var hs Holdings
	hs.Take(Offer{Root: root, Chunks: [][32]byte{cs[0].Hash, cs[1].Hash}, Expires: t0.Add(TTL)}, h1, t0)
	hs.Save(&s)
	raw, err := Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeSaved(raw)
	if err != nil {
		t.Fatalf("decoding what Encode wrote: %v\n%s", err, raw)
	}

	b := NewAssigner(cfg, [32]byte{2})
	b.Load(got, now)
	if n := len(b.Assignments()); n != held || held == 0 {
		t.Fatalf("restored %d assignments, %d were held", n, held)
	}
	for _, as := range b.Assignments() {
		if as.State != Held || as.Root != root || as.Holder == h3 {
			t.Fatalf("restored %+v", as)
		}
	}
	hsA, hsB := a.Holders(now), b.Holders(now)
	for _, x := range hsA {
		for _, y := range hsB {
			if x.Holder == y.Holder && (x.Passed != y.Passed || x.Failed != y.Failed || !x.Benched.Equal(y.Benched)) {
				t.Fatalf("holder %s: before %+v, restored %+v", x.Holder[:8], x, y)
			}
		}
	}
	b.SetFile(root, cs, 1)
	for _, id := range []string{h1, h2, h3} {
		b.SetPeer(id, good, true)
	}
	challenged := map[string]bool{}
	for i := time.Duration(0); i <= 90; i++ {
		at := now.Add(i * time.Minute)
		acts := b.Tick(at)
		for _, o := range acts.Offers {
			if o.Holder == h1 {
				t.Fatalf("benched h1 offered %+v after the restart", o)
			}
			b.Answered(o.Holder, o.Root, o.Chunks, at)
		}
		for _, c := range acts.Challenges {
			challenged[c.Holder+string(c.Chunk[:])] = true
			b.Proved(c.Holder, c.Chunk, c.Nonce, true, at)
		}
	}
	for _, as := range before {
		if as.State == Held && !challenged[as.Holder+string(as.Chunk[:])] {
			t.Fatalf("restored assignment of %s not challenged within 1.5 cycles", as.Holder[:8])
		}
	}

	var hs2 Holdings
	hs2.Load(got)
	if l := hs2.List(); len(l) != 2 || l[0].Assigner != h1 || !l[0].Expires.Equal(t0.Add(TTL)) || !hs2.Holds(cs[1].Hash) {
		t.Fatalf("holdings restored %+v", l)
	}
	if gone := hs2.Expire(t0.Add(TTL)); len(gone) != 2 {
		t.Fatalf("expired %d of the restored holdings", len(gone))
	}
}

// TestDecodeSavedRefuses: every malformed state is refused with a reason.
func TestDecodeSavedRefuses(t *testing.T) {
	k := strings.Repeat("ab", 32)
	good := func(body string) string {
		return `{"version":1,"assignments":[],"holders":[],"holdings":[]` + body + `}`
	}
	asg := func(holder, root, chunk string, size int, since, exp string) string {
		return `{"version":1,"assignments":[{"holder":"` + holder + `","root":"` + root + `","chunk":"` + chunk + `","size":` + itoa(size) + `,"since":"` + since + `","expires":"` + exp + `","passed":0,"renewed":0}],"holders":[],"holdings":[]}`
	}
	const t1, t2 = "2027-01-01T00:00:00Z", "2027-01-02T00:00:00Z"
	if _, err := DecodeSaved([]byte(good(""))); err != nil {
		t.Fatalf("empty state refused: %v", err)
	}
	if _, err := DecodeSaved([]byte(asg(k, k, k, 10, t1, t2))); err != nil {
		t.Fatalf("one assignment refused: %v", err)
	}
	for name, c := range map[string]struct{ in, want string }{
		"empty":            {"", "not one JSON value"},
		"truncated":        {good("")[:20], "not one JSON value"},
		"trailing":         {good("") + "{}", "not one JSON value"},
		"not an object":    {"[]", "cannot unmarshal"},
		"unknown field":    {good(`,"extra":1`), "unknown field"},
		"version":          {`{"version":2}`, "version 2"},
		"short holder":     {asg("ab", k, k, 10, t1, t2), "holder"},
		"upper hex":        {asg(strings.ToUpper(k), k, k, 10, t1, t2), "lowercase"},
		"not hex":          {asg(k, strings.Repeat("zz", 32), k, 10, t1, t2), "root"},
		"zero size":        {asg(k, k, k, 0, t1, t2), "size 0"},
		"term backwards":   {asg(k, k, k, 10, t2, t1), "term"},
		"bad time":         {asg(k, k, k, 10, "yesterday", t2), "cannot parse"},
		"twice":            {`{"version":1,"assignments":[],"holders":[{"holder":"` + k + `","benched_until":"` + t1 + `","passed":0,"failed":1,"premium":0},{"holder":"` + k + `","benched_until":"` + t1 + `","passed":0,"failed":1,"premium":0}],"holdings":[]}`, "twice"},
		"negative":         {`{"version":1,"assignments":[],"holders":[{"holder":"` + k + `","benched_until":"` + t1 + `","passed":-1,"failed":0,"premium":0}],"holdings":[]}`, "negative"},
		"long contact":     {`{"version":1,"assignments":[],"holders":[{"holder":"` + k + `","benched_until":"` + t1 + `","passed":0,"failed":0,"premium":0,"contact":"` + strings.Repeat("x", 257) + `"}],"holdings":[]}`, "contact"},
		"holding term":     {`{"version":1,"assignments":[],"holders":[],"holdings":[{"assigner":"` + k + `","root":"` + k + `","chunk":"` + k + `","since":"` + t2 + `","expires":"` + t1 + `"}]}`, "term"},
		"holding assigner": {`{"version":1,"assignments":[],"holders":[],"holdings":[{"assigner":"x","root":"` + k + `","chunk":"` + k + `","since":"` + t1 + `","expires":"` + t2 + `"}]}`, "assigner"},
	} {
		_, err := DecodeSaved([]byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, c.want)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// FuzzDecodeSaved: any input decodes to a state that encodes and decodes
// to itself, or is refused; never a panic.
func FuzzDecodeSaved(f *testing.F) {
	k := strings.Repeat("ab", 32)
	f.Add([]byte(`{"version":1,"assignments":[],"holders":[],"holdings":[]}`))
	f.Add([]byte(`{"version":1,"assignments":[{"holder":"` + k + `","root":"` + k + `","chunk":"` + k + `","size":5,"since":"2027-01-01T00:00:00Z","expires":"2027-01-02T00:00:00Z","passed":1,"renewed":0}],"holders":[],"holdings":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeSaved(b)
		if err != nil {
			return
		}
		raw, err := Encode(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeSaved(raw); err != nil {
			t.Fatalf("re-encoded state refused: %v", err)
		}
		NewAssigner(Config{}, [32]byte{}).Load(s, time.Unix(1_800_000_000, 0))
		var hs Holdings
		hs.Load(s)
	})
}
