// Package swarm fetches media as SHA-256-addressed chunks from many peers at
// once, verified, and readable while it downloads. It is the I/O edge
// around the pure scheduler of package swarm/sched: a Download runs the
// scheduler in one goroutine and turns its actions into fetches over a
// Transport (libp2p streams natively, the adapter being package p2p's;
// WebRTC DataChannels in the browser), verified chunks into a blob store,
// and peers' answers back into scheduler events.
//
// # Fetching
//
//	d, err := swarm.NewDownload(swarm.Config{Map: m, Blobs: blobs})
//	defer d.Close()
//	tr := host.SwarmTransport() // host is a *p2p.Host
//	for _, ai := range providers { // DHT FindProviders, the map's gatekeepers, kind 20002
//		host.Connect(ctx, ai)
//		d.AddPeer(p2p.SwarmPeer(ai.ID), tr, swarm.HasAll)
//	}
//	go func() { for range tick { bar.Update(d.Progress()) } }()
//	err = d.Wait(ctx)                          // every chunk verified and stored
//	err = swarm.Assemble(ctx, w, m, blobs)     // the whole file
//
// Peers may be added at any time, with the chunks they have (HasAll or a
// bitfield). Chunks already in the store are never fetched again, so a
// Download started over the store of an interrupted one resumes it.
//
// # The loop
//
// One goroutine owns the scheduler. Each turn it calls Tick and carries
// out the actions: a Request starts a goroutine that waits for the peer's
// request slot (requests to a peer are spaced at its transport's rate,
// RequestRater, else Entropy's 10 a second), calls Transport.Fetch and
// stores the verified bytes (Blobs.Put, which checks the hash again, or,
// when the transport hashed them as they arrived (Verifier), PutHashed);
// a Cancel cancels that fetch's context; a Ban goes to Transport.Ban.
//
// Durability. A chunk from a verifying transport is reported to the
// scheduler as soon as it arrives, so the peer's slot does not wait for
// the blob store's fsync; but it counts as stored (Need, Reader, Changed)
// only once Put returned, and the download completes only when every Put
// has: nothing is readable before it is durable, and a crash loses only
// chunks not yet stored, which a resumed download fetches again. Then it sleeps until the scheduler's NextWake, a fetch's
// result, or a call (AddPeer, SetPlayhead, Need, Progress, each a message
// to the loop). A fetch's outcome becomes Received (verified, or a hash
// mismatch: a strike), or Failed with the refusal's reason; a broken
// connection or timeout backs the peer off, and DefaultMaxPeerErrors of
// them in a row drop it. Fetches in flight are bounded by the scheduler's
// MaxRequests. When the download ends (complete, a blob store failure, or
// Close), every fetch is cancelled and waited for: no goroutine outlives
// a Download.
//
// # Streaming and ranges
//
// SetPlayhead moves the scheduler's playback window. A Reader
// (NewReader) is an io.ReaderAt and io.ReadSeeker over the file: a read
// finds the chunks covering its range (from the map's chunk-info, or the
// chunk size when the map has none), asks its Source (a Download) for
// them with priority, and copies their bytes once stored. A Lazy download
// fetches only what is asked for, which is how the node answers an HTTP
// Range request for a file it does not hold without fetching the rest.
//
// # Sharing
//
// Share cuts a local file (remuxing a progressive MP4 to fragmented
// first), streams every chunk into the blob store and pins it "shared";
// the plan's Map is the kind 7001 event to publish.
package swarm
