package node

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/room"
)

// BenchmarkRoomIngest publishes pre-signed kind 9 messages of a hosted
// room (50 members; the log's replay cached) through the node's relay
// pipeline in process (policy, id and signature checks, the rooms hook,
// storage, broadcast), and in the same iteration as many plain kind 1
// notes: it reports both rates and their ratio (room / plain).
//
//	go test -tags=libsecp256k1 -run '^$' -bench RoomIngest -benchtime 3x ./node/
func BenchmarkRoomIngest(b *testing.B) {
	cfg := TestingConfig(b)
	n, err := New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := n.Start(); err != nil {
		b.Fatal(err)
	}
	defer n.Stop(context.Background())
	ctx := context.Background()
	owner := nostr.GeneratePrivateKey()
	opk, _ := nostr.GetPublicKey(owner)
	g := room.Genesis(opk, "bench", [16]byte{1}, time.Now())
	g.Sign(owner)
	if err := n.Relay().Publish(ctx, g); err != nil {
		b.Fatal(err)
	}
	id := g.Tags.Find("h")[1]
	log := []*nostr.Event{g}
	members := make([]string, 50)
	for i := range members {
		members[i] = nostr.GeneratePrivateKey()
		pk, _ := nostr.GetPublicKey(members[i])
		l, _ := room.Replay(id, log, time.Now())
		e := room.NewEntry(id, l.Tip(), room.Grant(pk, room.RoleMember), time.Now())
		e.Sign(owner)
		if err := n.Relay().Publish(ctx, e); err != nil {
			b.Fatal(err)
		}
		log = append(log, e)
	}
	const perIter = 2000
	mk := func(kind int, tags nostr.Tags, i, iter int) *nostr.Event {
		ev := &nostr.Event{Kind: kind, CreatedAt: nostr.Now(), Tags: tags, Content: fmt.Sprintf("message %d of %d", i, iter)}
		ev.Sign(members[i%len(members)])
		return ev
	}
	var roomT, plainT time.Duration
	iter := 0
	for b.Loop() {
		b.StopTimer()
		msgs, notes := make([]*nostr.Event, perIter), make([]*nostr.Event, perIter)
		for i := range msgs {
			msgs[i] = mk(room.KindChat, nostr.Tags{{"h", id}}, i, iter)
			notes[i] = mk(1, nostr.Tags{}, i, iter)
		}
		iter++
		b.StartTimer()
		t0 := time.Now()
		for _, ev := range msgs {
			if err := n.Relay().Publish(ctx, ev); err != nil {
				b.Fatal(err)
			}
		}
		t1 := time.Now()
		for _, ev := range notes {
			if err := n.Relay().Publish(ctx, ev); err != nil {
				b.Fatal(err)
			}
		}
		roomT += t1.Sub(t0)
		plainT += time.Since(t1)
	}
	total := float64(perIter * iter)
	b.ReportMetric(total/roomT.Seconds(), "room-msgs/s")
	b.ReportMetric(total/plainT.Seconds(), "kind1/s")
	b.ReportMetric(plainT.Seconds()/roomT.Seconds(), "ratio")
}
