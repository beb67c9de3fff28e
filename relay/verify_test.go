package relay

import (
	"errors"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/event"
)

func signedNote(t testing.TB, sk, content string, tags nostr.Tags) *nostr.Event {
	t.Helper()
	ev := &nostr.Event{Kind: 1, CreatedAt: 1700000000, Content: content, Tags: tags}
	if err := ev.Sign(sk); err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestVerifyAgreesWithGoNostr: verify (one serialization, one hash, a
// cache of parsed keys in the libsecp256k1 build) gives go-nostr's verdict
// on valid events and on every kind of tampering.
func TestVerifyAgreesWithGoNostr(t *testing.T) {
	sk := nostr.GeneratePrivateKey()
	other := nostr.GeneratePrivateKey()
	otherPK, _ := nostr.GetPublicKey(other)
	base := signedNote(t, sk, "hello \"world\"\n\u2028 ünïcode", nostr.Tags{{"e", strings.Repeat("ab", 32)}, {"t", "x"}})

	cases := []struct {
		name string
		mod  func(ev *nostr.Event)
		want error
	}{
		{"valid", func(*nostr.Event) {}, nil},
		{"content changed", func(ev *nostr.Event) { ev.Content += "!" }, event.ErrID},
		{"tag changed", func(ev *nostr.Event) { ev.Tags[1][1] = "y" }, event.ErrID},
		{"created_at changed", func(ev *nostr.Event) { ev.CreatedAt++ }, event.ErrID},
		{"kind changed", func(ev *nostr.Event) { ev.Kind = 7 }, event.ErrID},
		{"id uppercase", func(ev *nostr.Event) { ev.ID = strings.ToUpper(ev.ID) }, event.ErrID},
		{"id short", func(ev *nostr.Event) { ev.ID = ev.ID[:62] }, event.ErrID},
		{"id not hex", func(ev *nostr.Event) { ev.ID = "zz" + ev.ID[2:] }, event.ErrID},
		{"sig flipped", func(ev *nostr.Event) { ev.Sig = flipHex(ev.Sig, 10) }, event.ErrSignature},
		{"sig short", func(ev *nostr.Event) { ev.Sig = ev.Sig[:126] }, event.ErrSignature},
		{"sig not hex", func(ev *nostr.Event) { ev.Sig = "x" + ev.Sig[1:] }, event.ErrSignature},
		{"sig uppercase", func(ev *nostr.Event) { ev.Sig = strings.ToUpper(ev.Sig) }, nil},
		{"another pubkey, id recomputed", func(ev *nostr.Event) {
			ev.PubKey = otherPK
			ev.ID = ev.GetID()
		}, event.ErrSignature},
		{"pubkey not on the curve, id recomputed", func(ev *nostr.Event) {
			// x = 5 has no point on secp256k1 (5^3 + 7 = 132 is not a square mod p).
			ev.PubKey = strings.Repeat("0", 63) + "5"
			ev.ID = ev.GetID()
		}, event.ErrSignature},
		{"pubkey of p or more, id recomputed", func(ev *nostr.Event) {
			ev.PubKey = strings.Repeat("f", 64)
			ev.ID = ev.GetID()
		}, event.ErrSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev := cloneEvent(base)
			tc.mod(&ev)
			got := verify(&ev)
			if !errors.Is(got, tc.want) || (tc.want == nil) != (got == nil) {
				t.Errorf("verify = %v, want %v", got, tc.want)
			}
			if gn := checkGoNostr(&ev); gn != got {
				t.Errorf("verify = %v, go-nostr says %v", got, gn)
			}
		})
	}
}

// TestVerifyManyKeys verifies events of many keys, interleaved and twice
// over, so that keys share slots of the parsed-key cache and take them from
// each other: every valid event passes, and an event whose pubkey is
// swapped for another cached key's fails.
func TestVerifyManyKeys(t *testing.T) {
	const keys = 300 // about 10 of them share a slot of 4096 with another
	evs := make([]*nostr.Event, keys)
	for i := range evs {
		evs[i] = signedNote(t, nostr.GeneratePrivateKey(), "note", nostr.Tags{})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 2 {
		for _, i := range rng.Perm(keys) {
			if err := verify(evs[i]); err != nil {
				t.Fatalf("round %d: event %d: %v", round, i, err)
			}
			forged := cloneEvent(evs[i])
			forged.PubKey = evs[(i+1)%keys].PubKey
			forged.ID = forged.GetID()
			if err := verify(&forged); !errors.Is(err, event.ErrSignature) {
				t.Fatalf("round %d: event %d with another cached key: %v, want %v", round, i, err, event.ErrSignature)
			}
		}
	}
}

// flipHex changes the hex digit at i.
func flipHex(s string, i int) string {
	c := byte('0')
	if s[i] == '0' {
		c = '1'
	}
	return s[:i] + string(c) + s[i+1:]
}

// BenchmarkVerify compares verify with go-nostr's two checks on one event.
// Besides wall time it reports the process's CPU time per check, which a
// busy neighbour inflates less (the loop runs on one goroutine):
//
//	go test -tags libsecp256k1 ./relay -run '^$' -bench Verify -benchtime 20000x -count 3
func BenchmarkVerify(b *testing.B) {
	ev := signedNote(b, nostr.GeneratePrivateKey(), strings.Repeat("word ", 40), nostr.Tags{{"e", strings.Repeat("ab", 32)}, {"p", strings.Repeat("cd", 32)}})
	for _, bc := range []struct {
		name  string
		check func(*nostr.Event) error
	}{{"verify", verify}, {"go-nostr", checkGoNostr}} {
		b.Run(bc.name, func(b *testing.B) {
			cpu := processCPU()
			for b.Loop() {
				if err := bc.check(ev); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the CPU time the process has used (user and system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func cloneEvent(ev *nostr.Event) nostr.Event {
	c := *ev
	c.Tags = make(nostr.Tags, len(ev.Tags))
	for i, t := range ev.Tags {
		c.Tags[i] = append(nostr.Tag(nil), t...)
	}
	return c
}
