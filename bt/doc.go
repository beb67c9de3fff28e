// Package bt is cairn's bridge to BitTorrent, the first part: the identity
// a user has on the Mainline DHT and the feed pointer that lets anyone find
// the user's feed from the pubkey alone, in nostr-over-bt's formats.
//
//   - The BEP-44 key is derived from the Nostr secret with HKDF
//     (identity.LabelBitTorrent), never the raw secret reused as nostr-over-bt
//     does, and bound to the npub by nostr-over-bt's attestation (kind 30078,
//     ["d","nostr-over-bt-identity"], content = the ed25519 public key in
//     hex). Attestations made by nostr-over-bt are read the same way.
//   - The feed pointer is a BEP-44 mutable item, unsalted, v = {ih: 20-byte
//     infohash of the feed index, ts, npk: 32-byte Nostr pubkey}, at the
//     correct target SHA-1(k) (nostr-over-bt's reader asks with the raw key,
//     a bug), seq increasing with each update; a reader refuses an item
//     whose signature fails, whose npk is another user, or whose seq is
//     lower than one it saw.
//   - DHT is a Mainline DHT node (anacrolix/dht) that puts and gets feed
//     pointers. By default it joins the public network through its
//     routers; Config.Public = false (and every test) uses only the nodes
//     given.
//
// Torrents for media and feed bundles, `cairn get magnet:`, the
// web-of-trust crawl and the relay's seeding bridge come next.
package bt
