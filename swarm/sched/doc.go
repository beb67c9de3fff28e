// Package sched is the download scheduler of the chunk swarm: it decides
// which chunk to request from which peer, for content fetched as
// SHA-256-addressed chunks from many peers at once, with streaming.
//
// It is a pure state machine in the manner of etcd's raft: events and the
// current time go in, actions come out of Tick. There are no goroutines,
// sockets, timers or clock reads inside; the edge (a libp2p stream handler
// or a WebRTC DataChannel, speaking the swarm/wire messages) does the I/O.
// The same code runs in the node, in the browser (wasm), in tests and in
// simulation, and the same inputs always give the same actions.
//
// # The caller's loop
//
//	s, err := sched.New(sched.Config{Seed: seed}, chunks, have) // have: verified chunks (resume)
//	...
//	for {
//		select {
//		case ev := <-events: // from the connections
//			now := clock.Now()
//			switch ev := ev.(type) {
//			case peerUp:
//				s.AddPeer(ev.id, now)
//				s.PeerHasAll(ev.id, now) // or PeerHas(ev.id, bitfield, now)
//			case peerDown:
//				s.RemovePeer(ev.id, now)
//			case seek:
//				s.SetPlayhead(ev.chunk, now)
//			case *wire.Data: // reassembled; i, _ := s.Index(ev.Hash)
//				store it if ev.Verify(), then
//				s.Received(ev.peer, i, int64(len(ev.Data)), ev.Verify(), now)
//			case *wire.Error:
//				s.Failed(ev.peer, i, sched.ReasonFromWire(ev.Reason), now)
//			}
//		case <-timer.C:
//		}
//		for _, a := range s.Tick(clock.Now()) {
//			switch a := a.(type) {
//			case sched.Request: // send wire.Request{Hash: s.Chunk(a.Chunk).Hash, Root: root} to a.Peer
//			case sched.Cancel:  // forget the request (reset its stream if it has one)
//			case sched.Ban:     // disconnect a.Peer; it gets nothing before a.Until
//			case sched.Done:    // every chunk is verified
//			}
//		}
//		if w := s.NextWake(); !w.IsZero() {
//			timer.Reset(w.Sub(clock.Now()))
//		}
//		progressBar.Update(s.Progress())
//	}
//
// # What it decides
//
// Priority. The Config.Window chunks from the playhead on come first, in
// playback order, each from the peer expected to deliver it soonest (its
// backoff and token wait, plus its estimated backlog and the chunk at its
// measured rate), so fast peers get the urgent chunks; if that peer cannot
// take a request yet, the chunk waits for it. Beyond the window, chunks go
// rarest first (counted over the usable peers that have them), ties broken
// by a key drawn from Config.Seed (by file order with Config.InOrder). Each round gives every peer with a free
// slot one chunk, faster peers choosing first. SetPlayhead on a seek
// re-prioritises what is sent next; requests already sent stay.
//
// Endgame. Once every chunk some peer has is requested, a peer with a free
// slot is asked for an outstanding chunk too (at most Config.EndgameCopies
// requests per chunk) if it is expected to deliver it before the peer
// holding it, or that one is overdue. A window chunk stuck at a slow peer is
// duplicated the same way outside endgame when another peer would halve the
// wait. The first arrival cancels the other requests.
//
// Limits. A peer has at most its pipeline depth outstanding (MinDepth to
// MaxDepth, growing with its rate; 1 after a timeout until it delivers
// again), all peers together at most MaxRequests, and a token bucket spaces
// requests to a peer (default 10/s, burst 1, which keeps under Entropy's
// 10-requests-per-second window).
//
// Rate. Each peer's throughput is an exponentially weighted ratio of the
// bytes it delivered over the time it had requests outstanding; measuring
// busy time rather than request-to-arrival time keeps pipelined requests
// from reading as slow.
//
// Failures. A request times out when its peer has delivered nothing for
// Config.Timeout (15 s) since the request was sent (or since the peer's
// latest delivery, if later), or adaptively for 4x the chunk's expected
// time at the peer's rate, clamped to [5 s, 60 s]. A
// timed-out chunk returns to the pool and is asked of another peer first;
// the slow peer's rate estimate absorbs the lost time, it backs off, and its
// depth drops to 1. Data that fails verification is dropped, the chunk is
// fetched from another peer (the corrupting peer is asked again only if no
// other has the chunk), and the peer gets a strike; MaxStrikes (3) strikes
// ban it for BanDuration (30 min). Bans lift by themselves and reset the
// strikes; they are kept by peer ID across disconnections. BUSY backs a peer
// off exponentially from 1 s to 30 s; INSUFFICIENT_CREDIT for 5 min;
// NOT_FOUND clears the chunk from the peer's set; a removed peer's requests
// return to the pool.
//
// Chunks that share a hash (identical content) are fetched once. Chunks
// verified at New are never requested.
package sched
