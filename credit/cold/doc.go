// Package cold is cold storage as a pure core: which files need extra
// holders, which peers may hold them, the assignments (chunk, holder,
// term), the custody challenges that keep holders honest and what a failed
// one costs. No I/O, no goroutines, no clock: the caller passes events and
// now in and acts on what comes out.
//
// Entropy's rules, as cairn applies them: a file is unpopular when fewer
// than Config.MinSeeders seeders are known of it; a peer is eligible to
// hold its chunks when its upload/download ratio, as this node can verify
// it, is at least 2.0 with at least one upload; a holder takes at most 16
// assignments, each for 24 h, renewed while it holds; it is challenged at
// random times (CUSTODY_CHALLENGE, wire 0x05, over a random offset with a
// random nonce) and has 5 s to answer (CUSTODY_PROOF, 0x06). A wrong or
// missing proof ends the assignment and benches the holder (no new
// assignments, no renewals) for Config.Bench; the chunk is offered to
// another holder on the next tick.
//
// The assigner's loop (the original seeder, or any node that holds the
// file and cares):
//
//	a := cold.NewAssigner(cfg, seed) // seed: 32 bytes from crypto/rand
//	every tick:
//		a.SetFile(root, chunks, knownSeeders)   // the files this node holds
//		a.SetPeer(pubkey, evidence, reachable)  // from its ledger
//		acts := a.Tick(now)
//		for _, o := range acts.Offers {         // send OfferEvent, then
//			a.Answered(o.Holder, o.Root, accepted, now)
//		}
//		for _, c := range acts.Challenges {     // send 0x05, then
//			a.Proved(c.Holder, c.Chunk, c.Nonce, proof == c.Want(chunk), now)
//		}
//
// A challenge not answered by its deadline fails at the next Tick.
//
// The holder's side is Holdings: it accepts offers within its limit, and
// Expire tells it which chunks to unpin once their term ends unrenewed.
package cold
