// Package peer is what every cairn peer does, whatever it runs on: a node
// (cmd/cairn) or a browser tab (the wasm core). It resolves references to
// media (nevent, note, event id, Merkle root, file sha256), verifies every
// event a relay returns (id, signature, and that it is the event asked
// for), keeps the addressing records (kind 30078 "cairn-p2p") and seeder
// announcements (kind 20002) that turn pubkeys into peers, runs downloads
// over whichever transports the platform has, serves ranges of files it
// does not hold by fetching only the chunks asked for, and announces what
// it holds in full.
//
// It reaches its platform through small interfaces, given in Config:
// Library (the events it keeps: the node's event store, the tab's
// IndexedDB), Events (its home relay: the node's own relay in process, the
// tab's relay over a kept-alive websocket), blobstore.Blobs (chunks),
// Reach and Providers (transports: libp2p and WebRTC in the node, WebRTC in
// the tab), Signer, Clock. `node` and `wasm` only wire it up.
//
// The caller's loop:
//
//	p, err := peer.New(cfg)
//	go p.Run(ctx)                     // announce loop; every goroutine ends with ctx
//	f, err := p.Resolve(ctx, ref)     // local library, home relay, the reference's relays
//	dl, err := p.Download(f)          // or p.Source(f) for range reads
//	<-dl.Done()
//	p.Heard(ev)                       // feed kind 20002s heard elsewhere
package peer
