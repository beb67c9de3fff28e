package node

import (
	"context"
	"errors"
	"strings"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/event"
	"github.com/cairn-nostr/cairn/peer"
	"github.com/cairn-nostr/cairn/relay"
	"github.com/cairn-nostr/cairn/store"
)

// The node's platform for the application core (package peer): its event
// store is the Library, its own relay, in process, is home. Publishing runs
// the relay's whole pipeline (policy, checks, storage, broadcast, hooks)
// without a connection to itself, and listening is a relay.Listen.

// library is the event store as a peer.Library.
type library struct{ st store.Store }

func (l library) Save(ctx context.Context, ev *nostr.Event) error {
	err := l.st.Save(ctx, ev)
	if errors.Is(err, store.ErrDuplicate) || errors.Is(err, store.ErrReplaced) {
		return nil
	}
	return err
}

func (l library) Query(ctx context.Context, f nostr.Filter, contains string, fn func(*nostr.Event) error) error {
	err := l.st.Query(ctx, f, 0, func(raw []byte) error {
		if contains != "" && !strings.Contains(string(raw), contains) {
			return nil
		}
		ev, err := event.Decode(raw)
		if err != nil {
			return nil
		}
		return fn(ev)
	})
	if errors.Is(err, peer.ErrStop) {
		return nil
	}
	return err
}

// Delete is not offered: a node keeps what it stored until NIP-09 or
// NIP-40 removes it.
func (l library) Delete(context.Context, string) error {
	return errors.New("the node's event store deletes only through NIP-09 deletion events")
}

// ownRelay is the node's relay, in process, as the peer's home and the
// WebRTC signaling channel.
type ownRelay struct {
	r  *relay.Relay
	st store.Store
}

// Publish runs ev through the relay. If the relay's policy refuses the
// node's own event (a --min-pow the node does not meet, say), a stored kind
// is saved directly: served to REQs, not broadcast.
func (o ownRelay) Publish(ctx context.Context, ev *nostr.Event) error {
	err := o.r.Publish(ctx, ev)
	if err == nil || !errors.Is(err, relay.ErrRefused) || nostr.IsEphemeralKind(ev.Kind) {
		return err
	}
	if serr := o.st.Save(ctx, ev); serr != nil && !errors.Is(serr, store.ErrDuplicate) && !errors.Is(serr, store.ErrReplaced) {
		return errors.Join(err, serr)
	}
	return nil
}

func (o ownRelay) Query(ctx context.Context, f nostr.Filter) ([]*nostr.Event, error) {
	var out []*nostr.Event
	err := library{o.st}.Query(ctx, f, "", func(ev *nostr.Event) error {
		out = append(out, ev)
		return nil
	})
	return out, err
}

func (o ownRelay) Subscribe(ctx context.Context, f nostr.Filter, fn func(*nostr.Event)) error {
	o.r.Listen(ctx, f, fn)
	<-ctx.Done()
	return ctx.Err()
}

// signaling is the relay as webrtc.SignalChannel: the subscription is live
// at once.
type signaling struct{ ownRelay }

func (s signaling) Subscribe(ctx context.Context, f nostr.Filter, fn func(*nostr.Event), ready func()) error {
	s.r.Listen(ctx, f, fn)
	if ready != nil {
		ready()
	}
	<-ctx.Done()
	return ctx.Err()
}
