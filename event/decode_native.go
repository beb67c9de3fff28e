//go:build !js

package event

import (
	"github.com/cairn-nostr/cairn/nostr"
	"github.com/mailru/easyjson"
)

// decodeFast decodes raw with go-nostr's generated decoder, or returns nil.
// easyjson's Unmarshal refuses data after the object (Lexer.Consumed).
func decodeFast(raw []byte) *nostr.Event {
	ev := &nostr.Event{}
	if easyjson.Unmarshal(raw, ev) != nil {
		return nil
	}
	return ev
}
