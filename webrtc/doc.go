// Package webrtc moves chunks between cairn nodes and browsers over WebRTC
// DataChannels (pion), signaled over Nostr kind 20001 events exactly as
// Entropy does, so an Entropy browser and a cairn node can reach each other.
//
// # Signaling
//
// A signal is a kind 20001 event from the sender, tagged
//
//	["p", recipient] ["x", root] ["type", "offer"|"answer"|"ice-candidate"] ["enc", "nip44"]
//
// whose content is NIP-44 encrypted to the recipient: the JSON of a session
// description ({"type":"offer","sdp":...}) or of an ICE candidate. BuildSignal
// and ParseSignal are pure. A Signaler (pure: signal and now in, verdict out)
// drops signals created more than 30 s ago (or 30 s ahead) and a second offer
// from the same peer for the same root within 5 s of an accepted one. A Node
// listens with {"kinds":[20001],"#p":[me],"since":now-5} through a
// SignalChannel (RelayClient: a kept-alive connection to any relay). Candidates are
// trickled both ways: an offer or answer goes out as soon as its
// description is set, with whatever was gathered by then, and each later
// candidate follows as an "ice-candidate" signal (so a slow STUN or TURN
// server does not hold the offer back); those received are held until the
// remote description is set. An offer that carries the DTLS certificate of
// a live connection to the same peer (an ICE restart) is answered on that
// connection, which stays.
//
// # Channels
//
//	n, _ := webrtc.New(cfg)                 // cfg from DefaultConfig: key, Signal, Blobs
//	n.Start(ctx)                            // subscription live
//	c, _ := n.Dial(ctx, pubkey, root)       // or n.Accept(ctx) on the other side
//	data, _ := c.Fetch(ctx, hash, root, nil)
//	tr := n.Transport()                     // a swarm.Transport named "webrtc"
//
// The DataChannel is labelled "entropy", ordered; one PeerConnection
// carries one, and a node keeps one channel per peer: a second channel
// dialled by the same side replaces the first (which is closed), and of two
// dialled by each side at once both keep the one the smaller pubkey
// dialled. Other channels a peer opens are closed. Every message of package
// swarm/wire is one DataChannel message, with no length prefix. pion calls
// OnMessage from its own goroutines (in the browser, one per message), so the
// callback only queues (bounded by Config.MaxQueued) and one goroutine per
// channel handles the queue in order: REQUESTs and custody challenges are
// answered from Config.Blobs, chunk data is reassembled for the Fetch
// waiting for it. Concurrent Fetches to one peer are pipelined (each
// REQUEST goes out at once; the peer answers in order), so the channel does
// not idle between chunks while the scheduler keeps several requests
// outstanding. Fetch verifies with Config.Hasher (WebCrypto in the
// browser, where crypto/sha256 compiled to wasm would block the page's
// thread for tens of milliseconds per chunk). A sender
// pauses while more than 4 MiB is buffered and resumes at the 256 KiB
// bufferedAmountLow threshold.
//
// The server side mirrors package p2p's chunk server: 10 REQUESTs per peer
// per 1 s window (more are answered BUSY), a malformed message is a strike
// and 3 strikes ban the peer for 30 minutes, a channel idle for 60 s is
// closed. Fetch maps ERROR reasons and bad data to swarm's sentinels.
//
// Node-only pion settings (loopback candidates, IP filter, mDNS off) live in
// a !js file; under GOOS=js the package builds over the browser's
// RTCPeerConnection with none of them.
package webrtc
