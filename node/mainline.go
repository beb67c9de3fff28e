package node

import (
	"context"
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/cairn-nostr/cairn/p2p"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The Mainline DHT bootstrap layer. Public cairn nodes (--reachability
// public, or running the relay service) announce their HTTP port (BEP-5
// announce_peer) under one well-known infohash; a node whose other layers
// gave it no libp2p peer asks the Mainline DHT for that infohash and dials
// the libp2p addresses each answering node's /api/status names. The DHT
// is the node's own (`--bt-dht`): the public one by default, a private one
// with --bt-dht-bootstrap (tests).
var mainlineBootstrap = sha1.Sum([]byte("cairn/bootstrap/v1"))

const (
	mainlineEvery    = 30 * time.Minute // announce again (peers expire from DHT nodes)
	mainlineMaxAddrs = 8                // nodes asked for their status per round
)

// mainlineLoop waits for the DHT to know nodes, then announces (a public
// node) and looks for peers (a node with none), every mainlineEvery.
func (n *Node) mainlineLoop() {
	d := n.btFeed.dht
	announce := n.cfg.P2P.Reachability == "public" || n.cfg.P2P.RelayService
	tick := time.NewTicker(feedPoll)
	defer tick.Stop()
	next := time.Time{}
	for n.ctx.Err() == nil {
		if d.Nodes() > 0 && !time.Now().Before(next) {
			next = time.Now().Add(mainlineEvery)
			if announce {
				if err := d.Announce(n.ctx, mainlineBootstrap, n.httpPort()); err != nil {
					n.log.Debug("mainline bootstrap: announce", "err", err)
				}
			}
			if len(n.host.ConnectedPeers(1)) == 0 {
				n.mainlineFind()
			}
		}
		if len(n.host.ConnectedPeers(1)) == 0 && d.Nodes() > 0 && time.Until(next) > time.Minute {
			next = time.Now().Add(time.Minute) // still alone: look again soon
		}
		select {
		case <-n.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// httpPort is the port of the node's HTTP listener.
func (n *Node) httpPort() int {
	if n.ln == nil {
		return 0
	}
	_, p, _ := net.SplitHostPort(n.ln.Addr().String())
	port, _ := strconv.Atoi(p)
	return port
}

// mainlineFind asks the DHT for the announced nodes and dials those whose
// status names libp2p addresses.
func (n *Node) mainlineFind() {
	ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
	defer cancel()
	addrs, err := n.btFeed.dht.Peers(ctx, mainlineBootstrap)
	if err != nil {
		n.log.Debug("mainline bootstrap: get_peers", "err", err)
		return
	}
	own := n.ln.Addr().String()
	asked := 0
	for _, a := range addrs {
		if a == own || asked == mainlineMaxAddrs {
			continue
		}
		asked++
		ai, err := statusPeer(ctx, a)
		if err != nil {
			n.log.Debug("mainline bootstrap: status", "addr", a, "err", err)
			continue
		}
		if ai.ID == n.host.ID() {
			continue
		}
		if err := n.host.Connect(ctx, ai); err != nil {
			n.log.Debug("mainline bootstrap: connect", "peer", ai.ID, "err", err)
			continue
		}
		n.mainlineBoot.Add(1)
		n.log.Info("found a peer through the Mainline DHT", "peer", ai.ID, "via", a)
	}
}

// statusPeer reads the libp2p peer of the node whose HTTP address is addr
// (host:port) from its /api/status.
func statusPeer(ctx context.Context, addr string) (peer.AddrInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/api/status", nil)
	if err != nil {
		return peer.AddrInfo{}, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return peer.AddrInfo{}, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return peer.AddrInfo{}, fmt.Errorf("HTTP %d", res.StatusCode)
	}
	var st struct {
		P2P *struct {
			PeerID string   `json:"peer_id"`
			Addrs  []string `json:"addrs"`
		} `json:"p2p"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&st); err != nil {
		return peer.AddrInfo{}, err
	}
	if st.P2P == nil || len(st.P2P.Addrs) == 0 {
		return peer.AddrInfo{}, fmt.Errorf("no libp2p addresses in its status")
	}
	var full []string
	for _, a := range st.P2P.Addrs {
		full = append(full, a+"/p2p/"+st.P2P.PeerID)
	}
	ais, err := p2p.ParseAddrInfos(full...)
	if err != nil || len(ais) != 1 {
		return peer.AddrInfo{}, fmt.Errorf("its status names no usable libp2p peer: %v", err)
	}
	return ais[0], nil
}
