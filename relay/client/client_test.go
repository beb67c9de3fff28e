package client_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/relay"
	"github.com/cairn-nostr/cairn/relay/client"
	"github.com/cairn-nostr/cairn/store"
)

func serve(t *testing.T, auth relay.AuthMode) string {
	cfg := relay.DefaultConfig()
	cfg.Auth = auth
	st := store.NewMemory()
	r, err := relay.New(cfg, st, relay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(func() { r.Close(); srv.Close(); st.Close() })
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func note(t *testing.T, sk, content string) *nostr.Event {
	ev := &nostr.Event{Kind: 1, Content: content, CreatedAt: nostr.Now(), Tags: nostr.Tags{}}
	if err := ev.Sign(sk); err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestPublishQuerySubscribe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := serve(t, relay.AuthOff)
	sk := nostr.GeneratePrivateKey()
	c, err := client.Dial(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	ev := note(t, sk, "one")
	if err := c.Publish(ctx, "EVENT", ev); err != nil {
		t.Fatal(err)
	}
	// A second copy is accepted (NIP-01: OK true, "duplicate:").
	if err := c.Publish(ctx, "EVENT", ev); err != nil {
		t.Fatalf("duplicate publish: %v", err)
	}
	// A refusal is an error carrying the relay's reason.
	bad := *ev
	bad.Content = "tampered"
	err = c.Publish(ctx, "EVENT", &bad)
	if !errors.Is(err, client.ErrRefused) || errors.Is(err, client.ErrAuthRequired) || !strings.Contains(err.Error(), "invalid:") {
		t.Fatalf("tampered publish: %v", err)
	}
	evs, err := c.Query(ctx, nostr.Filter{Authors: []string{ev.PubKey}})
	if err != nil || len(evs) != 1 || evs[0].ID != ev.ID {
		t.Fatalf("query: %v %v", evs, err)
	}

	// A subscription sees the stored event, reports EOSE, then a live one.
	sub, err := client.Dial(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	live := note(t, sk, "two")
	got := make(chan string, 4)
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- sub.Subscribe(sctx, nostr.Filter{Kinds: []int{1}}, func(e *nostr.Event) { got <- e.ID }, func() {
			if err := c.Publish(ctx, "EVENT", live); err != nil {
				t.Error(err)
			}
		})
	}()
	for _, want := range []string{ev.ID, live.ID} {
		select {
		case id := <-got:
			if id != want {
				t.Fatalf("got %s, want %s", id, want)
			}
		case <-ctx.Done():
			t.Fatal("subscription delivered nothing")
		}
	}
	stop()
	if err := <-done; err == nil {
		t.Fatal("Subscribe returned nil after its context ended")
	}
}

func TestPublishAsAnswersAuth(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := serve(t, relay.AuthWrites)
	sk := nostr.GeneratePrivateKey()
	c, err := client.Dial(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Publish(ctx, "EVENT", note(t, sk, "no auth")); !errors.Is(err, client.ErrAuthRequired) {
		t.Fatalf("want ErrAuthRequired, got %v", err)
	}
	if err := c.PublishAs(ctx, note(t, sk, "with auth"), sk); err != nil {
		t.Fatalf("PublishAs: %v", err)
	}
}
