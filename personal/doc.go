// Package personal is the personal server's pure core (NostrP2P's model: a
// small node of one's own that trusts its owner's writes and receives the
// posts of the people its owner follows): the write policy, the bound on
// other people's events, the follow list as topics, and the resend queue
// that delivers what did not get through. No I/O, no goroutines, no clock.
//
//	pol := personal.Policy{Owner: ownerPubkey}
//	if ok, why := pol.FromClient(ev); !ok { refuse(why) }      // restricted: ...
//	if ok, why := pol.FromOverlay(ev, topic); !ok { drop(why) }
//	subs, unsubs := personal.Follows(prev, kind3)              // topics to join and leave
//	keep := personal.NewCache(maxOthers)                        // evictions, never the owner's
//	q := personal.NewQueue()                                    // resend: 5 x 2^n minutes, 10 tries
//	q.Add(id, target, now); for _, a := range q.Due(now) { send(a); q.Done(a.ID, a.Target, ok, now) }
package personal
