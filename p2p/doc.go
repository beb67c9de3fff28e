// Package p2p is the libp2p side of a cairn node: a host that serves the
// chunks of its blob store to other nodes, fetches chunks from them, and
// finds who has a piece of content through cairn's own Kademlia DHT.
//
// # Usage
//
//	key := id.DeriveEd25519(identity.LabelLibp2p) // id is the user's identity.Key
//	h, err := p2p.New(ctx, p2p.Config{
//		Key:       key,
//		Bootstrap: peers,      // p2p.ParseAddrInfos("/ip4/…/tcp/4001/p2p/12D3…")
//		DHT:       true,
//		Blobs:     blobs,      // what we serve
//	})
//	defer h.Close()
//
//	h.Provide(ctx, root)                          // we seed this content
//	provs, _ := h.FindProviders(ctx, root, 20)    // who else does
//	h.Connect(ctx, provs[0])
//	data, err := h.Fetch(ctx, provs[0].ID, chunkHash, root)
//	switch {
//	case errors.Is(err, p2p.ErrBusy):         // ask again in a second, or elsewhere
//	case errors.Is(err, p2p.ErrNotFound):     // that peer does not have it
//	case errors.Is(err, p2p.ErrHashMismatch): // a strike against the peer (swarm/sched)
//	case err == nil:                          // verified: blobs.Put(chunkHash, data)
//	}
//
//	// or let a swarm.Download fetch from many peers at once:
//	d.AddPeer(p2p.SwarmPeer(provs[0].ID), h.SwarmTransport(), swarm.HasAll)
//
// Tests use TestingConfig(t): loopback, free ports, a private DHT.
//
// # The host
//
// Transports are TCP and QUIC; security is TLS 1.3, then Noise (TLS first:
// AES-GCM in hardware is the faster cipher); the muxer is yamux. Circuit
// relay v2 (as a client) and hole punching are on; UPnP/NAT-PMP port
// mapping is off unless Config.NATPortMap. The identity key is derived
// from the user's Nostr key (identity.Key.DeriveEd25519), so a node keeps
// its peer ID across restarts. Banned peers are refused by a connection
// gater.
//
// # The chunk protocol, /cairn/chunk/1.0.0
//
// A stream carries the swarm/wire messages (Entropy's DataChannel
// messages), each in a wire frame (u32 big-endian length, then the
// message). The client sends REQUEST(hash, root); the server answers with
// the chunk laid out as wire.EncodeChunk does (one DATA up to 64 KiB,
// otherwise DATA_HEADER and raw 64 KiB fragments, one frame each) or with
// ERROR(NOT_FOUND | INSUFFICIENT_CREDIT | BUSY). Requests may be pipelined;
// answers come in request order. The server also answers
// CUSTODY_CHALLENGE with CUSTODY_PROOF, skips RECEIPT and TAG_UPDATE, and
// treats anything else as a violation.
//
// Server limits (Limits): at most 10 requests per remote peer in a fixed
// one-second window, over all its streams (then ERROR BUSY); a stream idle
// for 60 s is closed; a frame over 4 MiB, or one that does not decode,
// resets the stream and earns the peer a strike; three strikes ban it for
// 30 minutes. Fragments are read from the store one at a time (ReadAt),
// never the whole chunk. Limits.UploadBytesPerSecond, when set, caps the
// upload of the whole host: a token bucket paces every frame sent.
//
// The client keeps one stream per peer and queues fetches on it. It
// reassembles with wire.Reassembler, hashes while receiving, and returns
// the bytes only if their SHA-256 is the requested hash. A stream the
// server closed for idleness is replaced transparently.
//
// SwarmTransport is the swarm.Transport over Fetch and Ban: its errors
// match both this package's sentinels and swarm's (ErrBusy and
// swarm.ErrBusy), so a swarm.Download backs off, strikes or bans the peer.
//
// # DHT
//
// Content is keyed by RootCID(root): CIDv1, raw codec, sha2-256 multihash
// of the Merkle root. The DHT runs under the protocol prefix /cairn
// (cairn nodes only), in server mode for public nodes and tests; DHTAuto
// stays a client until AutoNAT finds the node reachable, and a client
// cannot Provide.
//
// # Counters
//
// Stats reports frame bytes up and down and chunks served and fetched per
// transport (tcp, quic, relay) and in total ("libp2p"), for /api/status.
package p2p
