package reconcile

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/relay"
	"github.com/cairn-nostr/cairn/store"
)

func fill(t *testing.T, st store.Store, sk string, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		ev := nostr.Event{Kind: 1, Content: fmt.Sprint("note ", i), CreatedAt: nostr.Timestamp(1700000000 + i), Tags: nostr.Tags{}}
		ev.Sign(sk)
		if err := st.Save(context.Background(), &ev); err != nil {
			t.Fatal(err)
		}
	}
}

func count(t *testing.T, st store.Store) int64 {
	n, err := st.Count(context.Background(), nostr.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSyncBothWays(t *testing.T) {
	local, remote := store.NewMemory(), store.NewMemory()
	defer local.Close()
	defer remote.Close()
	sk := nostr.GeneratePrivateKey()
	fill(t, local, sk, 0, 300)    // 0..299 here
	fill(t, remote, sk, 200, 700) // 200..699 there: 100 shared

	cfg := relay.DefaultConfig()
	cfg.EventsPerSecond, cfg.EventsPerSecondIP = 0, 0
	r, err := relay.New(cfg, remote, relay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	defer srv.Close()
	defer r.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	res, err := Sync(context.Background(), local, url, nostr.Filter{}, Both, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Local != 200 || res.Remote != 400 || res.Up != 200 || res.Down != 400 {
		t.Fatalf("result %+v", res)
	}
	if a, b := count(t, local), count(t, remote); a != 700 || b != 700 {
		t.Fatalf("after sync: local %d remote %d", a, b)
	}
	res, err = Sync(context.Background(), local, url, nostr.Filter{}, Both, nil)
	if err != nil || res.Up != 0 || res.Down != 0 || res.Local != 0 || res.Remote != 0 {
		t.Fatalf("second sync moved something: %+v %v", res, err)
	}
}

func TestSyncFilterAndDirection(t *testing.T) {
	local, remote := store.NewMemory(), store.NewMemory()
	defer local.Close()
	defer remote.Close()
	sk := nostr.GeneratePrivateKey()
	fill(t, local, sk, 0, 10)
	fill(t, remote, sk, 10, 20)
	r, _ := relay.New(relay.DefaultConfig(), remote, relay.Options{})
	srv := httptest.NewServer(r)
	defer srv.Close()
	defer r.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	since := nostr.Timestamp(1700000015)
	res, err := Sync(context.Background(), local, url, nostr.Filter{Since: &since}, Down, nil)
	if err != nil || res.Down != 5 || res.Up != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	if a, b := count(t, local), count(t, remote); a != 15 || b != 10 {
		t.Fatalf("local %d remote %d", a, b)
	}
}

func TestSyncUnreachable(t *testing.T) {
	st := store.NewMemory()
	defer st.Close()
	_, err := Sync(context.Background(), st, "ws://127.0.0.1:1", nostr.Filter{}, Both, nil)
	if err == nil || !strings.Contains(err.Error(), "connecting to") {
		t.Fatalf("got %v", err)
	}
}
