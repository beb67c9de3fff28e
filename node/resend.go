package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/personal"
)

// A personal node sends its owner's replies, mentions and reactions
// straight to the nodes of the users they name (personal.Targets), over
// gossip's DirectProtocol, as NostrP2P does, besides publishing them to
// followers. A send that fails waits in the core's resend queue (5 x 2^n
// minutes, at most 10 tries), kept in DATA_DIR/resend.json across
// restarts; the events themselves are the owner's, which the store never
// evicts.

// DefaultResendCheck is how often the queue is looked at (NostrP2P's
// one minute).
const DefaultResendCheck = time.Minute

type resender struct {
	mu     sync.Mutex
	q      *personal.Queue
	file   string
	gaveUp uint64
	// attempts and failed count the sends of this run.
	attempts, failed uint64
	kick             chan struct{}
}

func resendFile(dataDir string) string { return filepath.Join(dataDir, "resend.json") }

// openResend loads the saved queue; a file that does not parse is set
// aside (renamed .bad) and the queue starts empty.
func openResend(dataDir string) (*resender, error) {
	r := &resender{q: personal.NewQueue(), file: resendFile(dataDir), kick: make(chan struct{}, 1)}
	b, err := os.ReadFile(r.file)
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the resend queue: %w", err)
	}
	var es []personal.Entry
	if err := json.Unmarshal(b, &es); err != nil {
		if rerr := os.Rename(r.file, r.file+".bad"); rerr != nil {
			return nil, fmt.Errorf("the resend queue %s does not parse (%v) and could not be set aside: %w", r.file, err, rerr)
		}
		return r, nil
	}
	r.q.Load(es)
	return r, nil
}

// save writes the queue through a temporary file; the caller holds mu.
func (r *resender) save() error {
	b, err := json.Marshal(r.q.Entries())
	if err != nil {
		return err
	}
	return writeSynced(r.file, b)
}

func (n *Node) now() time.Time {
	if n.cfg.Personal.Now != nil {
		return n.cfg.Personal.Now()
	}
	return time.Now()
}

// queueDirect queues the owner's event for the users it names.
func (n *Node) queueDirect(ev *nostr.Event) {
	targets := personal.Targets(ev, n.personal.pol.Owner)
	r := n.personal.resend
	if len(targets) == 0 || r == nil {
		return
	}
	r.mu.Lock()
	for _, t := range targets {
		r.q.Add(ev.ID, t, n.now())
	}
	err := r.save()
	r.mu.Unlock()
	if err != nil {
		n.log.Warn("saving the resend queue", "err", err)
	}
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// resendLoop sends what is due, on every kick and every ResendCheck.
func (n *Node) resendLoop() error {
	r := n.personal.resend
	every := n.cfg.Personal.ResendCheck
	if every <= 0 {
		every = DefaultResendCheck
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return nil
		case <-t.C:
		case <-r.kick:
		}
		r.mu.Lock()
		due := r.q.Due(n.now())
		r.mu.Unlock()
		for _, a := range due {
			if n.ctx.Err() != nil {
				return nil
			}
			delivered := n.sendDirect(a)
			r.mu.Lock()
			r.attempts++
			if !delivered {
				r.failed++
			}
			if r.q.Done(a.ID, a.Target, delivered, n.now()) {
				r.gaveUp++
				n.log.Info("gave up delivering an event", "id", a.ID, "to", a.Target, "tries", a.Try)
			}
			err := r.save()
			r.mu.Unlock()
			if err != nil {
				n.log.Warn("saving the resend queue", "err", err)
			}
		}
	}
}

// sendDirect makes one attempt; an event no longer stored counts as done.
func (n *Node) sendDirect(a personal.Attempt) bool {
	var ev *nostr.Event
	library{n.store}.Query(n.ctx, nostr.Filter{IDs: []string{a.ID}}, "", func(e *nostr.Event) error {
		ev = e
		return nil
	})
	if ev == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(n.ctx, 60*time.Second)
	defer cancel()
	if err := n.gossip.Send(ctx, a.Target, ev); err != nil {
		n.log.Debug("delivering an event directly", "id", a.ID, "to", a.Target, "try", a.Try, "err", err)
		return false
	}
	return true
}

// ResendStatus is the resend queue in /api/status.
type ResendStatus struct {
	Pending  int    `json:"pending"`
	GaveUp   uint64 `json:"gave_up"`
	Attempts uint64 `json:"attempts"`
	Failed   uint64 `json:"failed"`
}

func (r *resender) status() ResendStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return ResendStatus{Pending: r.q.Len(), GaveUp: r.gaveUp, Attempts: r.attempts, Failed: r.failed}
}
