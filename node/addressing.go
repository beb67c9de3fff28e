package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/p2p"
	"github.com/cairn-nostr/cairn/relay/client"
	"github.com/cairn-nostr/cairn/store"
)

// The addressing record binds a Nostr pubkey to a libp2p peer: a kind 30078
// (NIP-78 application data) event with ["d", "cairn-p2p"] whose content is
// AddressRecord in JSON, signed by the node key. A chunk map names its
// seeders by pubkey (gatekeeper tags); this record is how a downloader turns
// such a pubkey into a peer it can dial. Dialling checks the peer ID (the
// libp2p handshake proves the key), so a record can at worst point at a
// peer that does not have the content.
const (
	KindAppData   = 30078
	AddressingTag = "cairn-p2p"
)

// AddressRecord is the content of a cairn-p2p record.
type AddressRecord struct {
	PeerID string   `json:"peer_id"`
	Addrs  []string `json:"addrs"` // multiaddrs ending in /p2p/<peer_id>
}

// maxAddrs bounds the addresses read from one record.
const maxAddrs = 32

// addressingInterval is how often the node checks whether its addresses
// changed (AutoNAT, hole punching and new interfaces add some after start)
// and publishes its record again if they did.
const addressingInterval = time.Minute

func (n *Node) addressingLoop() {
	defer n.wg.Done()
	t := time.NewTicker(addressingInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		if string(n.addressingContent()) == n.published.Load() {
			continue
		}
		if err := n.publishAddressing(); err != nil {
			n.log.Warn("publishing the cairn-p2p addressing record", "err", err)
		}
	}
}

func (n *Node) addressingContent() []byte {
	rec := AddressRecord{PeerID: n.host.ID().String()}
	for _, a := range n.host.Addrs() {
		rec.Addrs = append(rec.Addrs, a.String())
	}
	content, _ := json.Marshal(rec)
	return content
}

// publishAddressing publishes this node's record to its own relay.
func (n *Node) publishAddressing() error {
	content := n.addressingContent()
	ev := nostr.Event{
		Kind:      KindAppData,
		CreatedAt: nostr.Now(),
		Tags:      nostr.Tags{{"d", AddressingTag}},
		Content:   string(content),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.publish(ctx, &ev); err != nil {
		return err
	}
	n.published.Store(string(content))
	return nil
}

// parseAddressing reads a cairn-p2p record into a peer to dial.
func parseAddressing(ev *nostr.Event) (peer.AddrInfo, error) {
	var rec AddressRecord
	if err := json.Unmarshal([]byte(ev.Content), &rec); err != nil {
		return peer.AddrInfo{}, fmt.Errorf("cairn-p2p record %s: %w", ev.ID, err)
	}
	id, err := peer.Decode(rec.PeerID)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("cairn-p2p record %s: peer_id: %w", ev.ID, err)
	}
	if len(rec.Addrs) > maxAddrs {
		rec.Addrs = rec.Addrs[:maxAddrs]
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

// gatekeeperPeers returns the libp2p peers the stored cairn-p2p records of
// pubkeys name, without this node.
func (n *Node) gatekeeperPeers(ctx context.Context, pubkeys []string) []peer.AddrInfo {
	if len(pubkeys) == 0 {
		return nil
	}
	var out []peer.AddrInfo
	f := nostr.Filter{Kinds: []int{KindAppData}, Authors: pubkeys, Tags: nostr.TagMap{"d": {AddressingTag}}}
	n.store.Query(ctx, f, 0, func(raw []byte) error {
		var ev nostr.Event
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil
		}
		ai, err := parseAddressing(&ev)
		if err != nil || ai.ID == n.host.ID() {
			return nil
		}
		out = append(out, ai)
		return nil
	})
	return out
}

// publish signs ev with the node key and publishes it through the node's own
// relay, so that it is stored and reaches live subscribers as any client's
// event does. If the relay refuses it (a --min-pow the node does not meet,
// for one) it is stored directly: it is then served to REQs but not
// broadcast.
func (n *Node) publish(ctx context.Context, ev *nostr.Event) error {
	if err := ev.Sign(n.key.Secret); err != nil {
		return fmt.Errorf("signing kind %d: %w", ev.Kind, err)
	}
	err := n.publishViaRelay(ctx, ev)
	if err == nil {
		return nil
	}
	n.log.Debug("publishing through the own relay failed; storing only", "kind", ev.Kind, "err", err)
	if err := n.store.Save(ctx, ev); err != nil && !errors.Is(err, store.ErrDuplicate) {
		return fmt.Errorf("storing kind %d: %w", ev.Kind, err)
	}
	return nil
}

func (n *Node) publishViaRelay(ctx context.Context, ev *nostr.Event) error {
	c, err := client.Dial(ctx, n.localRelayURL())
	if err != nil {
		return err
	}
	defer c.Close()
	return c.PublishAs(ctx, ev, n.key.Secret)
}

// localRelayURL is a websocket URL this process can dial: the listen
// address, with an unspecified host replaced by loopback.
func (n *Node) localRelayURL() string {
	host, port, _ := net.SplitHostPort(n.ln.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "ws://" + net.JoinHostPort(host, port)
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
