package bt

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/anacrolix/dht/v2"
	"github.com/anacrolix/dht/v2/bep44"
	k_nearest_nodes "github.com/anacrolix/dht/v2/k-nearest-nodes"
	"github.com/anacrolix/dht/v2/krpc"
	"github.com/anacrolix/dht/v2/traversal"
)

// putMutable puts a BEP-44 mutable item at target (SHA-1 of key and salt).
// A get traversal finds the nodes closest to target, with their write
// tokens, and the highest seq any of them holds for an item that verifies;
// once it stalls and every query still in flight has ended, the put that
// item(found) returns goes to each of those nodes. It fails when none takes
// it.
//
// Not anacrolix/dht's getput.Put (v2.24.0): that one reads the closest
// nodes right after stopping the traversal, while its last queries still
// add to them, a data race the race detector reports.
func (d *DHT) putMutable(ctx context.Context, target bep44.Target, salt []byte, item func(found int64) bep44.Put) error {
	var mu sync.Mutex
	var found int64
	op := traversal.Start(traversal.OperationInput{
		Alpha:  8,
		Target: target,
		DoQuery: func(qctx context.Context, addr krpc.NodeAddr) traversal.QueryResult {
			res := d.s.Get(qctx, dht.NewAddr(addr.UDP()), target, nil, dht.QueryRateLimiting{})
			if r := res.Reply.R; r != nil && r.Seq != nil && sha1.Sum(append(r.K[:], salt...)) == target && bep44.Verify(r.K[:], salt, *r.Seq, r.V, r.Sig[:]) {
				mu.Lock()
				found = max(found, *r.Seq)
				mu.Unlock()
			}
			q := res.TraversalQueryResult(addr)
			if _, ok := q.ClosestData.(string); !ok {
				q.ResponseFrom = nil // no write token: no use to put to
			}
			return q
		},
		NodeFilter: d.s.TraversalNodeFilter,
	})
	nodes, err := d.s.TraversalStartingNodes()
	if err != nil {
		op.Stop()
		return fmt.Errorf("no DHT node to start from: %w", err)
	}
	op.AddNodes(nodes)
	select {
	case <-op.Stalled():
	case <-ctx.Done():
	}
	op.Stop()
	<-op.Stopped() // every query has ended: op.Closest is ours alone
	if err := ctx.Err(); err != nil {
		return err
	}
	mu.Lock()
	put := item(found)
	mu.Unlock()
	var wg sync.WaitGroup
	var took atomic.Int32
	var lastErr atomic.Value
	op.Closest().Range(func(e k_nearest_nodes.Elem) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.s.Put(ctx, dht.NewAddr(e.Addr.UDP()), put, e.Data.(string), dht.QueryRateLimiting{}).ToError(); err != nil {
				lastErr.Store(err)
				return
			}
			took.Add(1)
		}()
	})
	wg.Wait()
	if took.Load() == 0 {
		if err, ok := lastErr.Load().(error); ok {
			return fmt.Errorf("no DHT node took the item (the last refused it: %w)", err)
		}
		return errors.New("no DHT node near the target answered with a write token: the DHT is not joined yet")
	}
	return nil
}
