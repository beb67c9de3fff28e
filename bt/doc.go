// Package bt is cairn's bridge to BitTorrent, over anacrolix/torrent and
// anacrolix/dht (the engines; this package is the bridge):
//
//   - Torrents: MakeTorrent makes the v1 single-file torrent of a shared
//     file (BitTorrent v2 is not usable with this engine version), Magnet
//     its magnet, LoadTorrent reads one strictly. A Client seeds a torrent
//     from bytes read in place (Seed: a read-only storage over an
//     io.ReaderAt, the node's chunk store), fetches one to a file (Fetch),
//     and reads a chunk map's chunks out of the same file's torrent
//     (Chunks, a swarm.Transport). With ClientConfig.Public off
//     (--public-bootstrap=false, every test) it joins no public DHT and
//     does no PEX or UPnP: only the peers, trackers and web seeds named.
//
// And the identity a user has on the Mainline DHT and the feed pointer that
// lets anyone find the user's feed from the pubkey alone, in
// nostr-over-bt's formats:
//
//   - The BEP-44 key is derived from the Nostr secret with HKDF
//     (identity.LabelBitTorrent), never the raw secret reused as nostr-over-bt
//     does, and bound to the npub by nostr-over-bt's attestation (kind 30078,
//     ["d","nostr-over-bt-identity"], content = the ed25519 public key in
//     hex). Attestations made by nostr-over-bt are read the same way.
//
//   - The feed pointer is a BEP-44 mutable item, unsalted, v = {ih: 20-byte
//     infohash of the feed index, ts, npk: 32-byte Nostr pubkey}, at the
//     correct target SHA-1(k) (nostr-over-bt's reader asks with the raw key,
//     a bug), seq increasing with each update; a reader refuses an item
//     whose signature fails, whose npk is another user, or whose seq is
//     lower than one it saw.
//
//   - DHT is a Mainline DHT node (anacrolix/dht) that puts and gets feed
//     pointers. By default it joins the public network through its
//     routers; Config.Public = false (and every test) uses only the nodes
//     given.
//
//   - The locator (LocatorKey, PutLocator, GetLocator) lets a reader with
//     the npub alone find the derived BEP-44 key: a mutable item at a key
//     anyone derives from the npub, holding the Nostr-signed attestation
//     in compact form; the reader checks the Nostr signature.
//
//   - Feeds (BuildFeed, DHT.Publish, DHT.Follow): the newest FeedItems
//     events in bundles per UTC day (each a torrent), an index.json in
//     nostr-over-bt's format (a torrent, named by the pointer), seeders
//     found through BEP-5 announces (the DHT's own peer store, since
//     anacrolix/dht v2.24.0's is broken). Every event read is checked
//     (signature, author) before it is returned.
//
// The web-of-trust crawl and the relay's seeding bridge come next.
package bt
