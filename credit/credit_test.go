package credit

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/nostr"
)

func key(n byte) (secret, pub string) {
	secret = strings.Repeat(fmt.Sprintf("%02x", n), 32)
	pub, _ = nostr.GetPublicKey(secret)
	return
}

var (
	now                  = time.Unix(1_800_000_000, 0)
	chunk                = [32]byte{1, 2, 3}
	root                 = [32]byte{9}
	seederSK, seeder     = key(1)
	receiverSK, receiver = key(2)
)

func signed(t testing.TB, sk string, ev *nostr.Event) *nostr.Event {
	t.Helper()
	if err := ev.Sign(sk); err != nil {
		t.Fatal(err)
	}
	return ev
}

func receipt(t testing.TB, sk, seederPub string, c [32]byte, n int64, at time.Time) *nostr.Event {
	return signed(t, sk, ReceiptEvent(seederPub, c, root, n, at))
}

// TestReceiptRefusals: every way a receipt can be wrong is refused with
// its reason; a good one counts once.
func TestReceiptRefusals(t *testing.T) {
	good := receipt(t, receiverSK, seeder, chunk, 1000, now)
	forged := *receipt(t, receiverSK, seeder, chunk, 1000, now)
	forged.Sig = strings.Repeat("ab", 64)
	tampered := *receipt(t, receiverSK, seeder, chunk, 1000, now)
	tampered.Tags = append(nostr.Tags{}, tampered.Tags...)
	tampered.Tags[2] = nostr.Tag{"bytes", "99999"}
	_, otherSeeder := key(3)
	noBytes := signed(t, receiverSK, &nostr.Event{Kind: KindReceipt, CreatedAt: nostr.Timestamp(now.Unix()), Tags: nostr.Tags{{"p", seeder}, {"x", fmt.Sprintf("%x", chunk)}}})
	twoP := signed(t, receiverSK, &nostr.Event{Kind: KindReceipt, CreatedAt: nostr.Timestamp(now.Unix()), Tags: nostr.Tags{{"p", seeder}, {"p", seeder}, {"x", fmt.Sprintf("%x", chunk)}, {"bytes", "1"}}})
	cases := []struct {
		name string
		ev   *nostr.Event
		want error
	}{
		{"forged signature", &forged, ErrForged},
		{"changed after signing", &tampered, ErrForged},
		{"wrong seeder", receipt(t, receiverSK, otherSeeder, chunk, 1000, now), ErrWrongSeeder},
		{"self-signed", receipt(t, seederSK, seeder, chunk, 1000, now), ErrSelfSigned},
		{"expired", receipt(t, receiverSK, seeder, chunk, 1000, now.Add(-31*time.Minute)), ErrExpired},
		{"future", receipt(t, receiverSK, seeder, chunk, 1000, now.Add(2*time.Minute)), ErrFuture},
		{"wrong chunk", receipt(t, receiverSK, seeder, [32]byte{7}, 1000, now), ErrNotServed},
		{"more bytes than served", receipt(t, receiverSK, seeder, chunk, 1001, now), ErrNotServed},
		{"no bytes", noBytes, ErrMalformed},
		{"two p tags", twoP, ErrMalformed},
		{"not a receipt", signed(t, receiverSK, &nostr.Event{Kind: 1, CreatedAt: 1, Tags: nostr.Tags{}}), ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := NewBook(seeder)
			b.Served(receiver, chunk, 1000, now)
			raw, _ := c.ev.MarshalJSON()
			r, _, err := DecodeReceipt(raw)
			if err == nil {
				_, err = b.Accept(r, now)
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	b := NewBook(seeder)
	b.Served(receiver, chunk, 1000, now)
	raw, _ := good.MarshalJSON()
	r, _, err := DecodeReceipt(raw)
	if err != nil {
		t.Fatal(err)
	}
	if r, err = b.Accept(r, now.Add(time.Minute)); err != nil || r.Bytes != 1000 || r.Root != root {
		t.Fatalf("good receipt: %+v, %v", r, err)
	}
	// Replayed, even after the chunk is served again.
	b.Served(receiver, chunk, 1000, now)
	if _, err := b.Accept(r, now.Add(2*time.Minute)); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
	if _, _, err := DecodeReceipt(bytes.Repeat([]byte(" "), MaxReceiptJSON+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
}

// TestEntropyReadsReceipt: the tags Entropy's reader looks for (the first
// p, x, bytes, receipt) are where it looks.
func TestEntropyReadsReceipt(t *testing.T) {
	ev := ReceiptEvent(seeder, chunk, root, 5, now)
	first := func(k string) string {
		for _, tg := range ev.Tags {
			if tg[0] == k {
				return tg[1]
			}
		}
		return ""
	}
	if first("p") != seeder || first("x") != fmt.Sprintf("%x", chunk) || first("bytes") != "5" || first("receipt") != fmt.Sprint(now.Unix()) || ev.Content != "" {
		t.Fatalf("tags %v", ev.Tags)
	}
}

// Golden vectors: Entropy's computeIntegrityHash (packages/core/src/
// credits/credit-integrity.ts) run on these two entries.
func TestLedgerEntropyVectors(t *testing.T) {
	e1 := Entry{ID: "c1", Peer: strings.Repeat("aa", 32), Direction: Up, Bytes: 5242880, Chunk: strings.Repeat("bb", 32), Root: strings.Repeat("cc", 32), ReceiptSig: strings.Repeat("dd", 64), Timestamp: 1700000000}
	e2 := Entry{ID: "c2", Peer: strings.Repeat("ee", 32), Direction: Down, Bytes: 1234, Chunk: strings.Repeat("ff", 32), ReceiptSig: strings.Repeat("11", 64), Timestamp: 1700000100}
	var l Ledger
	h1, h2 := l.Append(e1).Hash, l.Append(e2).Hash
	if h1 != "9ee30fa0e807cf752dcb4cca875a2830069741ed329e397cc0c8ea95687443f4" || h2 != "da96cef985140f5486e16974fd084dd2990f27264f1711ece6ea0ae9816a34ca" {
		t.Fatalf("hashes %s %s", h1, h2)
	}
}

func chain(n int) []Entry {
	var l Ledger
	for i := range n {
		d := Up
		if i%3 == 2 {
			d = Down
		}
		l.Append(Entry{ID: fmt.Sprint(i), Peer: receiver, Direction: d, Bytes: int64(100 + i), Chunk: fmt.Sprintf("%064x", i), ReceiptSig: fmt.Sprintf("%0128x", i), Timestamp: int64(1000 + i)})
	}
	return l.Entries()
}

// TestLedgerTampering: a changed, removed, reordered or truncated ledger is
// found.
func TestLedgerTampering(t *testing.T) {
	es := chain(6)
	if i, err := Verify(es); err != nil {
		t.Fatalf("intact: %d %v", i, err)
	}
	changed := append([]Entry(nil), es...)
	changed[3].Bytes++
	reordered := append([]Entry(nil), es...)
	reordered[1], reordered[2] = reordered[2], reordered[1]
	removed := append(append([]Entry(nil), es[:2]...), es[3:]...)
	for name, c := range map[string]struct {
		es   []Entry
		want int
	}{"changed": {changed, 3}, "reordered": {reordered, 1}, "removed": {removed, 2}} {
		if i, err := Verify(c.es); !errors.Is(err, ErrBrokenChain) || i != c.want {
			t.Errorf("%s: %d %v, want entry %d broken", name, i, err, c.want)
		}
	}
	// Truncation keeps a valid chain: the head kept apart reveals it.
	if _, err := Verify(es[:4]); err != nil || Head(es[:4]) == Head(es) {
		t.Errorf("truncated: %v", err)
	}
	if _, err := Load(changed); !errors.Is(err, ErrBrokenChain) {
		t.Errorf("Load of a changed ledger: %v", err)
	}
	l, err := Load(es)
	if err != nil || l.Append(Entry{ID: "x", Peer: receiver, Direction: Up, Bytes: 1, Timestamp: 1}).Hash == "" {
		t.Fatal(err)
	}
	if _, err := Verify(l.Entries()); err != nil {
		t.Fatalf("appended after Load: %v", err)
	}
	s := Summarize(es)
	if s.Up+s.Down != 100*6+15 || s.Balance != WelcomeGrant+s.Up-s.Down {
		t.Fatalf("summary %+v", s)
	}
}

// TestCheckBacked: a credit for a chunk never held, or without its
// receipt, is caught.
func TestCheckBacked(t *testing.T) {
	ev := receipt(t, receiverSK, seeder, chunk, 1000, now)
	r, err := ParseReceipt(ev)
	if err != nil {
		t.Fatal(err)
	}
	var l Ledger
	l.Append(Credit(r, "1"))
	receipts := map[string]Receipt{r.Sig: r}
	held := func(c string) bool { return c == fmt.Sprintf("%x", chunk) }
	if i, err := CheckBacked(l.Entries(), receipts, held); err != nil {
		t.Fatalf("backed: %d %v", i, err)
	}
	if _, err := CheckBacked(l.Entries(), receipts, func(string) bool { return false }); !errors.Is(err, ErrUnbacked) {
		t.Errorf("never held: %v", err)
	}
	if _, err := CheckBacked(l.Entries(), map[string]Receipt{}, held); !errors.Is(err, ErrUnbacked) {
		t.Errorf("no receipt: %v", err)
	}
}

// TestProofSybilBound: a prover's own keys vouch for at most their grants;
// forged, self-signed, misdirected and repeated receipts add nothing.
func TestProofSybilBound(t *testing.T) {
	var evs []*nostr.Event
	for i := range 3 { // three sybil keys, each claiming 80 MiB twice
		sk, _ := key(byte(10 + i))
		for j := range 2 {
			evs = append(evs, receipt(t, sk, seeder, [32]byte{byte(i), byte(j)}, 80<<20, now))
		}
	}
	evs = append(evs, receipt(t, seederSK, seeder, chunk, 1<<30, now))                // self-signed
	evs = append(evs, receipt(t, receiverSK, strings.Repeat("0", 64), chunk, 5, now)) // another seeder
	dup := receipt(t, receiverSK, seeder, chunk, 10, now)
	evs = append(evs, dup, receipt(t, receiverSK, seeder, chunk, 10, now.Add(time.Second)))
	forged := *receipt(t, receiverSK, seeder, [32]byte{5}, 1<<20, now)
	forged.Sig = strings.Repeat("cd", 64)
	evs = append(evs, &forged)
	p := VerifyProof(seeder, evs)
	if want := 3*WelcomeGrant + 10; p.Credit != want {
		t.Fatalf("credit %d, want %d (three grants and one honest receipt)", p.Credit, want)
	}
	if len(p.Refused) != 4 { // self, other seeder, replay, forged (the capped ones count partly)
		t.Errorf("refused %d: %v", len(p.Refused), p.Refused)
	}
}

func FuzzDecodeReceipt(f *testing.F) {
	raw, _ := receipt(f, receiverSK, seeder, chunk, 1000, now).MarshalJSON()
	f.Add(raw)
	f.Add([]byte(`{"kind":7772}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, ev, err := DecodeReceipt(b)
		if err != nil {
			return
		}
		if ev == nil || r.Receiver == r.Seeder || r.Bytes <= 0 || r.ID != ev.ID {
			t.Fatalf("accepted %+v", r)
		}
	})
}

// BenchmarkReceiptCheck is what a seeder does per chunk for a receipt
// (decode, verify, count) against one signature check of the same event:
//
//	go test -run '^$' -bench 'ReceiptCheck|SignatureCheck' ./credit/
func BenchmarkReceiptCheck(b *testing.B) {
	raw, _ := receipt(b, receiverSK, seeder, chunk, 1000, now).MarshalJSON()
	book := NewBook(seeder)
	for b.Loop() {
		book.Served(receiver, chunk, 1000, now)
		r, _, err := DecodeReceipt(raw)
		if err == nil {
			_, err = book.Accept(r, now)
		}
		if err != nil && !errors.Is(err, ErrReplay) {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignatureCheck(b *testing.B) {
	ev := receipt(b, receiverSK, seeder, chunk, 1000, now)
	for b.Loop() {
		if ok, err := ev.CheckSignature(); !ok || err != nil {
			b.Fatal(err)
		}
	}
}

// TestParseHello: a hello binds its signer to the peer ID it names, and
// only on a stream from that peer; every other shape is refused.
func TestParseHello(t *testing.T) {
	const id = "12D3KooWExample"
	good, _ := signed(t, receiverSK, HelloEvent(id, now)).MarshalJSON()
	if pub, err := ParseHello(good, id); err != nil || pub != receiver {
		t.Fatalf("good: %s %v", pub, err)
	}
	forged := *signed(t, receiverSK, HelloEvent(id, now))
	forged.Sig = strings.Repeat("ab", 64)
	forgedRaw, _ := forged.MarshalJSON()
	two, _ := signed(t, receiverSK, &nostr.Event{Kind: KindHello, CreatedAt: 1, Tags: nostr.Tags{{"peer", id}, {"peer", id}}}).MarshalJSON()
	none, _ := signed(t, receiverSK, &nostr.Event{Kind: KindHello, CreatedAt: 1, Tags: nostr.Tags{}}).MarshalJSON()
	kind, _ := signed(t, receiverSK, &nostr.Event{Kind: KindReceipt, CreatedAt: 1, Tags: nostr.Tags{{"peer", id}}}).MarshalJSON()
	for name, c := range map[string]struct {
		raw    []byte
		remote string
	}{
		"another peer":  {good, "12D3KooWOther"},
		"forged":        {forgedRaw, id},
		"two peer tags": {two, id},
		"no peer tag":   {none, id},
		"wrong kind":    {kind, id},
		"not json":      {[]byte("{"), id},
		"oversized":     {bytes.Repeat([]byte(" "), MaxReceiptJSON+1), id},
	} {
		if _, err := ParseHello(c.raw, c.remote); !errors.Is(err, ErrHello) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
