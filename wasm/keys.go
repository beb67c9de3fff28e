//go:build js && wasm

package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"syscall/js"
	"time"

	"github.com/cairn-nostr/cairn/nostr"
	"github.com/cairn-nostr/cairn/nostr/nip19"

	"github.com/cairn-nostr/cairn/event"
	"github.com/cairn-nostr/cairn/webrtc"
)

// keyInfo describes a secret key in every form the page needs.
func keyInfo(secret string) (map[string]any, error) {
	secret = strings.TrimSpace(secret)
	if strings.HasPrefix(secret, "nsec1") {
		prefix, v, err := nip19.Decode(secret)
		if err != nil || prefix != "nsec" {
			return nil, fmt.Errorf("not a valid nsec: %v", err)
		}
		secret = v.(string)
	}
	if _, err := event.ParseHex32(secret); err != nil {
		return nil, fmt.Errorf("secret key: %w (give 64 lowercase hex digits or an nsec1...)", err)
	}
	pub, err := webrtc.PublicKey(secret)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	nsec, err := nip19.EncodePrivateKey(secret)
	if err != nil {
		return nil, err
	}
	npub, err := nip19.EncodePublicKey(pub)
	if err != nil {
		return nil, err
	}
	return map[string]any{"secretKey": secret, "pubkey": pub, "nsec": nsec, "npub": npub}, nil
}

// generateKey() -> {secretKey, pubkey, nsec, npub}
func jsGenerateKey([]js.Value) any {
	k, err := keyInfo(nostr.GeneratePrivateKey())
	if err != nil {
		return errResult(err)
	}
	return k
}

// keyInfo(secretKeyHexOrNsec) -> {secretKey, pubkey, nsec, npub} | {error}
func jsKeyInfo(args []js.Value) any {
	s, err := strArg(args, 0, "keyInfo")
	if err != nil {
		return errResult(err)
	}
	k, err := keyInfo(s)
	if err != nil {
		return errResult(fmt.Errorf("keyInfo: %w", err))
	}
	return k
}

// npub(pubkeyHex) -> "npub1..." | {error}
func jsNpub(args []js.Value) any {
	s, err := strArg(args, 0, "npub")
	if err != nil {
		return errResult(err)
	}
	if _, err := event.ParseHex32(s); err != nil {
		return errResult(fmt.Errorf("npub: pubkey %w", err))
	}
	n, err := nip19.EncodePublicKey(s)
	if err != nil {
		return errResult(fmt.Errorf("npub: %w", err))
	}
	return n
}

// decode(nip19) -> {type, data} as nostr-tools' nip19.decode: data is a
// hex string for npub and note, a Uint8Array for nsec, and an object for
// nevent ({id, relays, author, kind}), nprofile ({pubkey, relays}) and
// naddr ({identifier, pubkey, kind, relays}).
func jsDecode(args []js.Value) any {
	s, err := strArg(args, 0, "decode")
	if err != nil {
		return errResult(err)
	}
	prefix, v, err := nip19.Decode(strings.TrimSpace(s))
	if err != nil {
		return errResult(fmt.Errorf("decode: %w", err))
	}
	var data any
	switch p := v.(type) {
	case string:
		data = p
		if prefix == "nsec" {
			b, _ := hex.DecodeString(p)
			data = uint8Array(b)
		}
	case nostr.EventPointer:
		o := map[string]any{"id": p.ID, "relays": strs(p.Relays)}
		if p.Author != "" {
			o["author"] = p.Author
		}
		if p.Kind != 0 {
			o["kind"] = p.Kind
		}
		data = o
	case nostr.ProfilePointer:
		data = map[string]any{"pubkey": p.PublicKey, "relays": strs(p.Relays)}
	case nostr.EntityPointer:
		data = map[string]any{"identifier": p.Identifier, "pubkey": p.PublicKey, "kind": p.Kind, "relays": strs(p.Relays)}
	default:
		return errResult(fmt.Errorf("decode: %s is not supported", prefix))
	}
	return map[string]any{"type": prefix, "data": data}
}

func strs(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// template is an unsigned event as pages pass it around.
type template struct {
	Kind      *int       `json:"kind"`
	CreatedAt *int64     `json:"created_at"`
	Tags      nostr.Tags `json:"tags"`
	Content   string     `json:"content"`
}

// signTemplate signs t with secret; created_at defaults to now.
func signTemplate(t template, secret string) (*nostr.Event, error) {
	if t.Kind == nil || *t.Kind < 0 || *t.Kind > 65535 {
		return nil, errors.New("the template needs a kind in 0..65535")
	}
	ev := &nostr.Event{Kind: *t.Kind, Tags: t.Tags, Content: t.Content, CreatedAt: nostr.Timestamp(time.Now().Unix())}
	if ev.Tags == nil {
		ev.Tags = nostr.Tags{}
	}
	if t.CreatedAt != nil {
		ev.CreatedAt = nostr.Timestamp(*t.CreatedAt)
	}
	if err := ev.Sign(secret); err != nil {
		return nil, err
	}
	return ev, nil
}

// sign(template) -> Promise<event>, signed with the started tab's key.
func (t *tab) jsSign(args []js.Value) any {
	var tm template
	var err error
	if len(args) == 1 {
		err = fromJS(args[0], &tm)
	} else {
		err = errors.New("want one template {kind, created_at, tags, content}")
	}
	return async("sign", func() (any, error) {
		if err != nil {
			return nil, err
		}
		sk, err := t.secret()
		if err != nil {
			return nil, err
		}
		ev, err := signTemplate(tm, sk)
		if err != nil {
			return nil, err
		}
		return toJS(ev)
	})
}
