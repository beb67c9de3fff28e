package peer

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/event"
)

// The addressing record binds a Nostr pubkey to a libp2p peer: a kind 30078
// (NIP-78 application data) event with ["d", "cairn-p2p"] whose content is
// AddressRecord in JSON, signed by the node's key. A chunk map names its
// seeders by pubkey (gatekeeper tags); this record is how a downloader turns
// such a pubkey into a peer it can dial. Dialling checks the peer ID (the
// libp2p handshake proves the key), so a record can at worst point at a
// peer that does not have the content. A pubkey without one is reached over
// WebRTC (a browser).
const (
	KindAppData   = 30078
	AddressingTag = "cairn-p2p"
)

// AddressRecord is the content of a cairn-p2p record.
type AddressRecord struct {
	PeerID string   `json:"peer_id"`
	Addrs  []string `json:"addrs"` // multiaddrs ending in /p2p/<peer_id>
}

// MaxAddrs bounds the addresses read from one record.
const MaxAddrs = 32

// maxRecordSize bounds a record's content.
const maxRecordSize = 16 << 10

// AddressingEvent is the unsigned addressing record of rec.
func AddressingEvent(rec AddressRecord, now nostr.Timestamp) *nostr.Event {
	content, _ := json.Marshal(rec)
	return &nostr.Event{Kind: KindAppData, CreatedAt: now, Tags: nostr.Tags{{"d", AddressingTag}}, Content: string(content)}
}

// ParseAddressing reads a cairn-p2p record (the event already verified):
// the peer ID must be present; past MaxAddrs addresses are dropped. The
// peer ID and addresses are checked by whoever dials them.
func ParseAddressing(ev *nostr.Event) (AddressRecord, error) {
	var rec AddressRecord
	if ev.Kind != KindAppData || ev.Tags.GetD() != AddressingTag {
		return rec, fmt.Errorf("event %.16s is not a cairn-p2p record", ev.ID)
	}
	if len(ev.Content) > maxRecordSize {
		return rec, fmt.Errorf("cairn-p2p record %.16s: %d bytes of content (max %d)", ev.ID, len(ev.Content), maxRecordSize)
	}
	if err := json.Unmarshal([]byte(ev.Content), &rec); err != nil {
		return rec, fmt.Errorf("cairn-p2p record %.16s: %w", ev.ID, err)
	}
	if rec.PeerID == "" {
		return rec, fmt.Errorf("cairn-p2p record %.16s: no peer_id", ev.ID)
	}
	if len(rec.Addrs) > MaxAddrs {
		rec.Addrs = rec.Addrs[:MaxAddrs]
	}
	return rec, nil
}

func addressingFilter(pubkeys []string) nostr.Filter {
	return nostr.Filter{Kinds: []int{KindAppData}, Authors: pubkeys, Tags: nostr.TagMap{"d": {AddressingTag}}}
}

// Records returns the stored addressing records of pubkeys, by pubkey
// (those without one are absent).
func (p *Peer) Records(ctx context.Context, pubkeys []string) map[string]AddressRecord {
	var valid []string
	for _, pk := range pubkeys {
		if event.IsHex(pk, 64) {
			valid = append(valid, pk)
		}
	}
	out := map[string]AddressRecord{}
	if len(valid) == 0 {
		return out
	}
	p.cfg.Library.Query(ctx, addressingFilter(valid), "", func(ev *nostr.Event) error {
		if _, ok := out[ev.PubKey]; ok {
			return nil // newest first: keep the newest
		}
		if rec, err := ParseAddressing(ev); err == nil {
			out[ev.PubKey] = rec
		}
		return nil
	})
	return out
}

// PublishAddressing signs and publishes this peer's addressing record.
func (p *Peer) PublishAddressing(ctx context.Context, rec AddressRecord) error {
	return p.PublishOwn(ctx, AddressingEvent(rec, nostr.Timestamp(p.now().Unix())))
}
