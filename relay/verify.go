package relay

import (
	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/event"
)

// checkGoNostr is go-nostr's verdict on ev's id and signature, as verify
// reports it (event.ErrID or event.ErrSignature): CheckID, then
// CheckSignature, each serializing and hashing the event.
func checkGoNostr(ev *nostr.Event) error {
	if !ev.CheckID() {
		return event.ErrID
	}
	if ok, err := ev.CheckSignature(); !ok || err != nil {
		return event.ErrSignature
	}
	return nil
}
