package peer

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/event"
	"github.com/cairn-nostr/cairn/media/chunkmap"
)

// Demand signals are Entropy's kind 20003: an ephemeral event with
// ["t", net] and ["x", rootHex], sent by a downloader a seeder answered
// BUSY or INSUFFICIENT_CREDIT, at most once per root per DemandInterval.
// Peers that hear them learn what is wanted and short of seeders; a node
// with spare capacity may fetch such a root and seed it (SeedInDemand),
// which is how a new node earns its first credit.
const KindDemand = 20003

// Demand timing: a root's signal is sent at most once per DemandInterval
// (Entropy's 30 s); a requester counts towards a root's demand for
// DemandWindow after its signal.
const (
	DemandInterval = 30 * time.Second
	DemandWindow   = 5 * time.Minute
)

// Bounds of the demand table.
const (
	maxDemandRoots      = 4096
	maxDemandRequesters = 256 // per root
)

// ErrDemand: a kind 20003 that is malformed, stale or from the future.
var ErrDemand = errors.New("not a usable demand signal")

// DemandEvent is the unsigned demand signal for root.
func DemandEvent(root [32]byte, net string, now time.Time) *nostr.Event {
	if net == "" {
		net = chunkmap.DefaultNet
	}
	return &nostr.Event{Kind: KindDemand, CreatedAt: nostr.Timestamp(now.Unix()),
		Tags: nostr.Tags{{"t", net}, {"x", hex.EncodeToString(root[:])}}}
}

// ParseDemand reads a verified kind 20003: exactly one x tag (64 lowercase
// hex digits), made within DemandWindow before now and at most
// MaxAnnounceSkew after.
func ParseDemand(ev *nostr.Event, now time.Time) ([32]byte, error) {
	var root [32]byte
	if ev.Kind != KindDemand {
		return root, fmt.Errorf("%w: kind %d", ErrDemand, ev.Kind)
	}
	got := false
	for _, t := range ev.Tags {
		if len(t) >= 2 && t[0] == "x" {
			r, err := event.ParseHex32(t[1])
			if got || err != nil {
				return root, fmt.Errorf("%w: one x tag of 64 lowercase hex digits wanted", ErrDemand)
			}
			root, got = r, true
		}
	}
	if !got {
		return root, fmt.Errorf("%w: an x tag is required", ErrDemand)
	}
	if d := now.Sub(ev.CreatedAt.Time()); d > DemandWindow {
		return root, fmt.Errorf("%w: stale (%s old)", ErrDemand, d.Round(time.Second))
	} else if d < -MaxAnnounceSkew {
		return root, fmt.Errorf("%w: dated %s in the future", ErrDemand, (-d).Round(time.Second))
	}
	return root, nil
}

// demand is the state of demand signals, pure: times passed in. It
// remembers when this peer last signalled each root, and who signalled
// each root it heard, and when.
type demand struct {
	sent  map[[32]byte]time.Time
	heard map[[32]byte]map[string]time.Time
}

func newDemand() *demand {
	return &demand{sent: map[[32]byte]time.Time{}, heard: map[[32]byte]map[string]time.Time{}}
}

// send reports whether a signal for root may go now, and books it.
func (d *demand) send(root [32]byte, now time.Time) bool {
	if last, ok := d.sent[root]; ok && now.Sub(last) < DemandInterval {
		return false
	}
	if len(d.sent) >= maxDemandRoots {
		for r, t := range d.sent {
			if now.Sub(t) >= DemandInterval {
				delete(d.sent, r)
			}
		}
		if len(d.sent) >= maxDemandRoots {
			return false
		}
	}
	d.sent[root] = now
	return true
}

// hear records that requester signalled root at at.
func (d *demand) hear(root [32]byte, requester string, at, now time.Time) {
	d.expire(now)
	rs := d.heard[root]
	if rs == nil {
		if len(d.heard) >= maxDemandRoots {
			return
		}
		rs = map[string]time.Time{}
		d.heard[root] = rs
	}
	if _, ok := rs[requester]; !ok && len(rs) >= maxDemandRequesters {
		return
	}
	if at.After(rs[requester]) {
		rs[requester] = at
	}
}

func (d *demand) expire(now time.Time) {
	for root, rs := range d.heard {
		for who, at := range rs {
			if now.Sub(at) > DemandWindow {
				delete(rs, who)
			}
		}
		if len(rs) == 0 {
			delete(d.heard, root)
		}
	}
}

// Demanded is a root and how many peers signalled demand for it lately.
type Demanded struct {
	Root       [32]byte
	Requesters int
}

// top lists the roots signalled by at least min requesters, the most
// wanted first.
func (d *demand) top(min int, now time.Time) []Demanded {
	d.expire(now)
	var out []Demanded
	for root, rs := range d.heard {
		if len(rs) >= min {
			out = append(out, Demanded{root, len(rs)})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Requesters != out[j].Requesters {
			return out[i].Requesters > out[j].Requesters
		}
		return hex.EncodeToString(out[i].Root[:]) < hex.EncodeToString(out[j].Root[:])
	})
	return out
}

// demandState is the Peer's demand table behind a lock.
type demandState struct {
	mu sync.Mutex
	d  *demand
}

// signalDemand publishes a demand signal for f's root (at most once per
// DemandInterval), in the background: a seeder answered BUSY or
// INSUFFICIENT_CREDIT.
func (p *Peer) signalDemand(f *File) {
	p.demand.mu.Lock()
	ok := p.demand.d.send(f.Map.Root, p.now())
	p.demand.mu.Unlock()
	if !ok || p.cfg.Home == nil {
		return
	}
	p.spawn(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, relayTimeout)
		defer cancel()
		if err := p.PublishOwn(ctx, DemandEvent(f.Map.Root, f.Map.Net, p.now())); err != nil {
			p.cfg.Logger.Debug("signalling demand", "root", f.Root()[:16], "err", err)
		}
	})
}

// HeardDemand takes a kind 20003 heard on any relay: verified, checked,
// remembered for DemandWindow. Its own signals are not counted.
func (p *Peer) HeardDemand(ev *nostr.Event) error {
	if err := event.Verify(ev); err != nil {
		return err
	}
	now := p.now()
	root, err := ParseDemand(ev, now)
	if err != nil {
		return err
	}
	if ev.PubKey == p.PubKey() {
		return nil
	}
	p.demand.mu.Lock()
	p.demand.d.hear(root, ev.PubKey, ev.CreatedAt.Time(), now)
	p.demand.mu.Unlock()
	return nil
}

// InDemand lists the roots at least min peers signalled demand for within
// DemandWindow, the most wanted first.
func (p *Peer) InDemand(min int) []Demanded {
	p.demand.mu.Lock()
	defer p.demand.mu.Unlock()
	return p.demand.d.top(max(min, 1), p.now())
}

// SeedInDemand starts a download of every root in demand (at least min
// requesters) whose chunk map this peer has and whose chunks it does not
// all hold: once complete it is announced and seeded like any other. It
// returns the roots it started.
func (p *Peer) SeedInDemand(ctx context.Context, min int) [][32]byte {
	var started [][32]byte
	for _, d := range p.InDemand(min) {
		if p.DownloadOf(d.Root) != nil {
			continue
		}
		f := p.FileByRoot(ctx, hex.EncodeToString(d.Root[:]))
		if f == nil || p.Held(f.Map) == len(f.Map.Chunks) {
			continue
		}
		if _, err := p.Download(f); err != nil {
			p.cfg.Logger.Debug("seeding a root in demand", "root", f.Root()[:16], "err", err)
			continue
		}
		started = append(started, d.Root)
	}
	return started
}
