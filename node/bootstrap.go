package node

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairn-nostr/cairn/p2p"
)

// Layered bootstrap: the peers a node dials at start, in order: those it
// was connected to in its earlier runs (DATA_DIR/peers.json), --bootstrap,
// the built-in list (only with PublicBootstrap; empty until public cairn
// nodes exist), then the libp2p dnsaddr TXT records of --bootstrap-dns
// names. /api/status says how many each layer gave.

// BuiltinBootstrap are public cairn nodes, dialled when PublicBootstrap is
// on. None exist yet.
var BuiltinBootstrap []string

// Bounds of the peer cache.
const (
	maxCachedPeers = 64
	cacheEvery     = 10 * time.Minute
)

func peersFile(dataDir string) string { return filepath.Join(dataDir, "peers.json") }

// cachedPeer is one line of the peer cache.
type cachedPeer struct {
	ID    string   `json:"id"`
	Addrs []string `json:"addrs"`
}

// bootstrapPeers gathers the layers, skipping repeats, and counts what
// each gave.
func (n *Node) bootstrapPeers(ctx context.Context) ([]peer.AddrInfo, map[string]int) {
	seen := map[peer.ID]bool{}
	counts := map[string]int{}
	var out []peer.AddrInfo
	add := func(layer string, ais []peer.AddrInfo) {
		for _, ai := range ais {
			if seen[ai.ID] || len(ai.Addrs) == 0 {
				continue
			}
			seen[ai.ID] = true
			out = append(out, ai)
			counts[layer]++
		}
	}
	add("cache", loadPeerCache(peersFile(n.cfg.DataDir)))
	cfgd, _ := p2p.ParseAddrInfos(n.cfg.P2P.Bootstrap...) // validated
	add("config", cfgd)
	if n.cfg.P2P.PublicBootstrap {
		if b, err := p2p.ParseAddrInfos(BuiltinBootstrap...); err == nil {
			add("builtin", b)
		}
	}
	for _, name := range n.cfg.P2P.BootstrapDNS {
		ais, err := dnsaddrs(ctx, n.cfg.P2P.Resolver, name)
		if err != nil {
			n.log.Warn("bootstrap DNS", "name", name, "err", err)
		}
		add("dns", ais)
	}
	return out, counts
}

// loadPeerCache reads the peer cache; a missing or unreadable one is empty.
func loadPeerCache(path string) []peer.AddrInfo {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var cps []cachedPeer
	if json.Unmarshal(b, &cps) != nil {
		return nil
	}
	var out []peer.AddrInfo
	for _, cp := range cps[:min(len(cps), maxCachedPeers)] {
		id, err := peer.Decode(cp.ID)
		if err != nil {
			continue
		}
		ai := peer.AddrInfo{ID: id}
		for _, a := range cp.Addrs {
			if infos, err := p2p.ParseAddrInfos(a + "/p2p/" + cp.ID); err == nil && len(infos) == 1 {
				ai.Addrs = append(ai.Addrs, infos[0].Addrs...)
			}
		}
		out = append(out, ai)
	}
	return out
}

// savePeerCache writes the connected peers, through a temporary file.
func (n *Node) savePeerCache() error {
	var cps []cachedPeer
	for _, ai := range n.host.ConnectedPeers(maxCachedPeers) {
		cp := cachedPeer{ID: ai.ID.String()}
		for _, a := range ai.Addrs {
			cp.Addrs = append(cp.Addrs, a.String())
		}
		cps = append(cps, cp)
	}
	if len(cps) == 0 {
		return nil // keep what an earlier run learned
	}
	b, _ := json.MarshalIndent(cps, "", " ")
	return writeSynced(peersFile(n.cfg.DataDir), b)
}

// peerCacheLoop saves the peer cache every cacheEvery and at the end.
func (n *Node) peerCacheLoop() error {
	t := time.NewTicker(cacheEvery)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			if err := n.savePeerCache(); err != nil {
				n.log.Warn("saving the peer cache", "err", err)
			}
			return nil
		case <-t.C:
			if err := n.savePeerCache(); err != nil {
				n.log.Warn("saving the peer cache", "err", err)
			}
		}
	}
}

// dnsaddrs reads the libp2p dnsaddr TXT records of name
// (_dnsaddr.<name>: "dnsaddr=/ip4/…/tcp/…/p2p/<id>").
func dnsaddrs(ctx context.Context, r *net.Resolver, name string) ([]peer.AddrInfo, error) {
	if r == nil {
		r = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	txts, err := r.LookupTXT(ctx, "_dnsaddr."+strings.TrimSuffix(name, "."))
	if err != nil {
		return nil, fmt.Errorf("TXT _dnsaddr.%s: %w", name, err)
	}
	var out []peer.AddrInfo
	for _, t := range txts {
		ma, ok := strings.CutPrefix(t, "dnsaddr=")
		if !ok {
			continue
		}
		if infos, err := p2p.ParseAddrInfos(ma); err == nil {
			out = append(out, infos...)
		}
	}
	return out, nil
}
