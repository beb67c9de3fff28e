// Package superpeer is NIP-95 as a pure core: the seed relay's registry of
// super peers (registration, heartbeats, what each caches, promotion and
// demotion by reputation, per-verb rate limits with escalating bans), offer
// selection (which super peers for which recent events), the PEER_* message
// payloads in both the spec's positional form and the Nexus relay's objects,
// and the casual client's decisions (whom to ask, when to fall back to the
// relay, when to spot-check a peer against the relay, whom to report). No
// I/O, no goroutines, no clock: messages and now in, answers and actions
// out. The relay verbs, the super peers' caches and the DataChannels that
// carry events are edges built on it.
//
// The relay's loop:
//
//	reg := superpeer.NewRegistry(superpeer.DefaultConfig())
//	// a PEER_* message from connection c:
//	msg, err := superpeer.Parse(verb, args)       // a reason to send back in PEER_ERROR
//	if ok, ban := reg.Allow(c.Key, msg.Verb(), now); !ok { ... }
//	switch m := msg.(type) {
//	case *superpeer.Register:  id := reg.Register(c.Key, *m, now)
//	case *superpeer.Heartbeat: reg.Heartbeat(id, now)
//	case *superpeer.CacheHave: reg.CacheHave(id, m.EventIDs)
//	case *superpeer.Stats:     reg.Stats(id, *m, relayHas, now)
//	case *superpeer.Request:   offers := reg.Offer(m.EventIDs, now)
//	}
//	for _, a := range reg.Evaluate(now) { ... }   // PEER_PROMOTED / PEER_DEMOTED
//
// Reputation follows the Nexus relay's numbers: 0-100 per pubkey, baseline
// 70; only served event ids the relay can verify count (at most 100 per
// report), +1 each, at most +5 per report, +2 more at every 5th served
// event in all; -0.5 per heartbeat while above 70 and never having served;
// promoted at >= 50 (with the capability and uptime criteria of Config),
// demoted below 30. Reputations are exported and imported per pubkey so
// they survive restarts.
package superpeer
