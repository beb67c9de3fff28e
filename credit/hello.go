package credit

import (
	"errors"
	"fmt"
	"time"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/event"
)

// KindHello is the hello a node sends first on a libp2p chunk stream (wire
// message 0x09): an ephemeral event, signed by the node's Nostr key, with
// one ["peer", <libp2p peer ID>] tag. The libp2p handshake proves who holds
// the peer ID; the hello proves which Nostr key speaks for it, which is
// what a receipt names (p) and is signed by. It is signed once per node
// and may be sent on every stream: replayed by anyone else it is refused,
// since it names a peer ID only its holder can speak from.
const KindHello = 27772

// ErrHello: a hello that is not a valid binding for the stream's peer.
var ErrHello = errors.New("hello: not a signed binding of this peer")

// HelloEvent is the unsigned hello of the node at libp2p peer ID peerID.
func HelloEvent(peerID string, now time.Time) *nostr.Event {
	return &nostr.Event{Kind: KindHello, CreatedAt: nostr.Timestamp(now.Unix()), Tags: nostr.Tags{{"peer", peerID}}}
}

// ParseHello checks a hello received from the libp2p peer remote: a
// validly signed kind KindHello whose one peer tag names remote. It
// returns the Nostr pubkey that speaks for remote.
func ParseHello(raw []byte, remote string) (string, error) {
	if len(raw) > MaxReceiptJSON {
		return "", fmt.Errorf("%w: over 8 KiB", ErrHello)
	}
	ev, err := event.Decode(raw)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrHello, err)
	}
	if ev.Kind != KindHello {
		return "", fmt.Errorf("%w: kind %d, want %d", ErrHello, ev.Kind, KindHello)
	}
	if err := event.Verify(ev); err != nil {
		return "", fmt.Errorf("%w: %v", ErrHello, err)
	}
	var peers []string
	for _, t := range ev.Tags {
		if len(t) >= 2 && t[0] == "peer" {
			peers = append(peers, t[1])
		}
	}
	switch {
	case len(peers) != 1:
		return "", fmt.Errorf("%w: %d peer tags, want 1", ErrHello, len(peers))
	case peers[0] != remote:
		return "", fmt.Errorf("%w: names peer %.20s, sent by %.20s", ErrHello, peers[0], remote)
	}
	return ev.PubKey, nil
}
