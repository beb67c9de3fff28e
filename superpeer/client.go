package superpeer

import (
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"slices"
	"time"
)

// FallbackAfter is how long a casual client waits for super peers before
// asking the relay itself (the spec's 5 s).
const FallbackAfter = 5 * time.Second

// Client is a casual client's decisions about super peers: it never trusts
// them beyond what it can check. Every event is signature-checked by the
// caller; Client decides when to check a peer's completeness against the
// relay, and whom to report.
type Client struct {
	// SpotCheck is the share of peer answers compared with the relay's
	// answer for the same request (0.1: one in ten).
	SpotCheck float64
	rng       *rand.Rand
	strikes   map[string]int
	banned    map[string]bool
}

// NewClient returns a client spot-checking share of answers, with a fixed
// seed for its draws (tests replay them).
func NewClient(share float64, seed uint64) *Client {
	return &Client{SpotCheck: share, rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), strikes: map[string]int{}, banned: map[string]bool{}}
}

// Usable filters offered peers to those not caught before.
func (c *Client) Usable(peers []string) []string {
	var out []string
	for _, p := range peers {
		if !c.banned[p] {
			out = append(out, p)
		}
	}
	return out
}

// ShouldCheck draws whether this answer of peer is compared with the
// relay's.
func (c *Client) ShouldCheck() bool { return c.rng.Float64() < c.SpotCheck }

// Verdict is what a client concludes from one answer of a peer.
type Verdict struct {
	Report  bool   // tell the relay (and stop using the peer)
	Reason  string // why
	Missing []string
}

// Forged: a peer served an event whose id or signature is wrong. It is
// caught at once.
func (c *Client) Forged(peer, eventID string) Verdict {
	c.banned[peer] = true
	return Verdict{Report: true, Reason: "served a forged or altered event " + eventID}
}

// Compare checks a peer's answer (ids it served for a request) against the
// relay's answer for the same request: any id the relay has that the peer
// left out is an omission; one omission reports the peer.
func (c *Client) Compare(peer string, served, relay []string) Verdict {
	have := make(map[string]bool, len(served))
	for _, id := range served {
		have[id] = true
	}
	var missing []string
	for _, id := range relay {
		if !have[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return Verdict{}
	}
	c.strikes[peer]++
	c.banned[peer] = true
	return Verdict{Report: true, Reason: "omitted events the relay holds", Missing: missing}
}

// Digest names a set of event ids: SHA-256 over the ids, sorted, each as
// its 32 bytes, in hex. The relay puts the digest of a filter's answer in
// a WholeOffer; the client computes it over the verified events a super
// peer served: equal digests mean the peer served exactly the relay's
// answer, nothing left out, nothing added. An id that is not 64 hex digits
// is hashed as its text (it can never equal a valid set's digest).
func Digest(ids []string) string {
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	h := sha256.New()
	for _, id := range sorted {
		if b, err := hex.DecodeString(id); err == nil && len(b) == 32 {
			h.Write(b)
		} else {
			h.Write([]byte(id))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// WholeOffer is cairn's PEER_OFFER for a PEER_REQUEST with {"whole":true}:
// the super peers that cache every event the filter matched (best first),
// how many matched, their Digest, and the since the relay applied (the
// cache window), so the client asks a peer for exactly the same answer
// (the filter with this since and limit Count).
type WholeOffer struct {
	Subscription string   `json:"subscription"`
	Peers        []string `json:"peers"` // none: take the answer from the relay
	Count        int      `json:"count"`
	Digest       string   `json:"digest"`
	Since        int64    `json:"since"`
}
