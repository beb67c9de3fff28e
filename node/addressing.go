package node

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairn-nostr/cairn/p2p"
	cpeer "github.com/cairn-nostr/cairn/peer"
	"github.com/cairn-nostr/cairn/swarm"
)

// addressingInterval is how often the node checks whether its addresses
// changed and publishes its record again if they did. It also checks soon
// after libp2p reports new addresses (a relay reservation's /p2p-circuit
// addresses, an address AutoNAT confirmed), at most every addressingSettle.
const (
	addressingInterval = time.Minute
	addressingSettle   = time.Second
)

func (n *Node) addressingLoop() error {
	t := time.NewTicker(addressingInterval)
	defer t.Stop()
	var changed <-chan any
	if sub, err := n.host.Libp2p().EventBus().Subscribe(new(event.EvtLocalAddressesUpdated)); err == nil {
		defer sub.Close()
		changed = sub.Out()
	}
	for {
		select {
		case <-n.ctx.Done():
			return nil
		case <-t.C:
		case _, ok := <-changed:
			if !ok { // the host closed
				changed = nil
				continue
			}
			// Let a burst of changes settle, then drop what queued.
			select {
			case <-n.ctx.Done():
				return nil
			case <-time.After(addressingSettle):
			}
			for drained := false; !drained; {
				select {
				case _, ok := <-changed:
					drained = !ok
				default:
					drained = true
				}
			}
		}
		if rec := n.addressRecord(); fmt.Sprint(rec) == n.published.Load() {
			continue
		}
		if err := n.publishAddressing(n.ctx); err != nil {
			n.log.Warn("publishing the cairn-p2p addressing record", "err", err)
		}
	}
}

func (n *Node) addressRecord() cpeer.AddressRecord {
	rec := cpeer.AddressRecord{PeerID: n.host.ID().String()}
	for _, a := range n.host.Addrs() {
		rec.Addrs = append(rec.Addrs, a.String())
	}
	return rec
}

// publishAddressing publishes this node's record through its own relay.
func (n *Node) publishAddressing(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rec := n.addressRecord()
	if err := n.peer.PublishAddressing(ctx, rec); err != nil {
		return err
	}
	n.published.Store(fmt.Sprint(rec))
	return nil
}

// addrInfo turns a cairn-p2p record into a peer to dial, keeping only the
// addresses of the record's own peer.
func addrInfo(rec cpeer.AddressRecord) (peer.AddrInfo, error) {
	id, err := peer.Decode(rec.PeerID)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("cairn-p2p record: peer_id: %w", err)
	}
	ai := peer.AddrInfo{ID: id}
	for _, s := range rec.Addrs {
		infos, err := p2p.ParseAddrInfos(s)
		if err != nil || len(infos) != 1 || infos[0].ID != id {
			continue // an address of another peer, or malformed: skip it
		}
		ai.Addrs = append(ai.Addrs, infos[0].Addrs...)
	}
	return ai, nil
}

// reach is the core's Config.Reach: a seeder with a cairn-p2p record is
// dialled over libp2p, one without (a browser) is reached over WebRTC.
func (n *Node) reach(ctx context.Context, pubkey string, rec *cpeer.AddressRecord) (cpeer.Contact, error) {
	if rec == nil {
		if n.rtc == nil {
			return cpeer.Contact{}, errors.New("no cairn-p2p record, and WebRTC is off")
		}
		return cpeer.Contact{Transport: n.rtcTransport(), ID: swarm.PeerID(pubkey)}, nil
	}
	ai, err := addrInfo(*rec)
	if err != nil {
		return cpeer.Contact{}, err
	}
	c, err := n.dial(ctx, ai)
	if err == nil {
		n.rep.bind(c.ID, pubkey)
	}
	return c, err
}

func (n *Node) dial(ctx context.Context, ai peer.AddrInfo) (cpeer.Contact, error) {
	if ai.ID == n.host.ID() {
		return cpeer.Contact{}, errors.New("this node itself")
	}
	if n.host.Banned(ai.ID) {
		return cpeer.Contact{}, errors.New("banned")
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := n.host.Connect(cctx, ai); err != nil {
		return cpeer.Contact{}, err
	}
	return cpeer.Contact{Transport: n.libp2p, ID: p2p.SwarmPeer(ai.ID)}, nil
}

// providers is the core's Config.Providers: the DHT's provider records of
// root, dialled, and the torrent of its map when the map has a magnet.
func (n *Node) providers(ctx context.Context, root [32]byte) []cpeer.Contact {
	bt := n.btProvider(ctx, root)
	if n.host.DHT() == nil {
		return bt
	}
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	provs, err := n.host.FindProviders(fctx, root, 20)
	cancel()
	if err != nil {
		n.log.Debug("DHT find providers", "err", err)
	}
	out := bt
	for _, ai := range provs {
		if c, err := n.dial(ctx, ai); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// publicRelayURL is the relay URL put in nevent hints: --relay-url when
// set, else the address the node listens on.
func (n *Node) publicRelayURL() string {
	if n.cfg.Relay.URL != "" {
		return n.cfg.Relay.URL
	}
	return n.RelayURL()
}

// publicHTTPURL is the HTTP base URL put in kind 1063 events: derived from
// --relay-url when set (wss becomes https), else the listen address.
func (n *Node) publicHTTPURL() string {
	if n.cfg.Relay.URL != "" {
		if u, err := url.Parse(n.cfg.Relay.URL); err == nil && u.Host != "" {
			u.Scheme = map[string]string{"wss": "https", "ws": "http"}[u.Scheme]
			if u.Scheme != "" {
				u.Path = strings.TrimSuffix(u.Path, "/")
				return u.String()
			}
		}
	}
	return n.URL()
}
