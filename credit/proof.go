package credit

import (
	"fmt"

	"github.com/cairn-nostr/cairn/nostr"
)

// Proof is what VerifyProof makes of another peer's balance proof (the
// receipts it holds): the credit it can show, receipt by receipt.
type Proof struct {
	Credit   int64            // provable credit, capped per signer
	Counted  int              // receipts that counted
	Refused  map[string]error // by receipt id: why one did not
	BySigner map[string]int64 // credit counted per signer
}

// VerifyProof checks a balance proof of prover (the receipt events it
// holds): each receipt must be validly signed, name prover as seeder, not be self-signed, and count
// once per (receiver, chunk). Receipts in a proof may be old: freshness
// applies when a receipt is first accepted, not to a history. No signer
// adds more than WelcomeGrant: a receipt credits at most what its signer
// could itself have spent, and all a verifier can see a fresh key owns is
// its grant. That bounds a Sybil (keys made to sign receipts for oneself)
// to the grants of the keys it makes.
func VerifyProof(prover string, receipts []*nostr.Event) Proof {
	p := Proof{Refused: map[string]error{}, BySigner: map[string]int64{}}
	seen := map[countKey]bool{}
	for _, ev := range receipts {
		r, err := ParseReceipt(ev)
		if err != nil {
			p.Refused[ev.ID] = err
			continue
		}
		switch {
		case r.Seeder != prover:
			p.Refused[r.ID] = ErrWrongSeeder
			continue
		case r.Receiver == prover:
			p.Refused[r.ID] = ErrSelfSigned
			continue
		}
		k := countKey{r.Receiver, r.Seeder, r.Chunk}
		if seen[k] {
			p.Refused[r.ID] = ErrReplay
			continue
		}
		seen[k] = true
		room := WelcomeGrant - p.BySigner[r.Receiver]
		if room <= 0 {
			p.Refused[r.ID] = fmt.Errorf("receipt: its signer %.16s already vouched for %d bytes, all its grant", r.Receiver, WelcomeGrant)
			continue
		}
		n := min(r.Bytes, room)
		p.BySigner[r.Receiver] += n
		p.Credit += n
		p.Counted++
	}
	return p
}
