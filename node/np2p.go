package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/event"
	"github.com/cairn-nostr/cairn/np2p"
)

// A personal node also serves NostrP2P's client API (package np2p) on a
// port of its own, by default the HTTP port + 1 as NostrP2P puts it beside
// its overlay port: /publish goes through the owner-only policy and then
// the relay in process (stored, sent to followers), /req reads the store.
// With --private-reads it answers /req only on loopback (the API has no
// authentication).

// np2pAddr is where the API listens: PersonalConfig.NP2PListen, "off" for
// nowhere, or by default the HTTP listen host with its port + 1 (0 stays 0).
func (c *Config) np2pAddr() (string, error) {
	switch c.Personal.NP2PListen {
	case "off":
		return "", nil
	case "":
		host, port, err := net.SplitHostPort(c.Listen)
		if err != nil {
			return "", err
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return "", fmt.Errorf("listen port %q is not a number", port)
		}
		if p != 0 {
			p++
		}
		return net.JoinHostPort(host, strconv.Itoa(p)), nil
	}
	if _, _, err := net.SplitHostPort(c.Personal.NP2PListen); err != nil {
		return "", fmt.Errorf("--np2p-listen %q: want host:port (or off)", c.Personal.NP2PListen)
	}
	return c.Personal.NP2PListen, nil
}

// startNP2P listens and serves NostrP2P's API; Start calls it.
func (n *Node) startNP2P() error {
	addr, err := n.cfg.np2pAddr()
	if err != nil || addr == "" {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("NostrP2P's API on %s: %w (pass --np2p-listen with another address, or off)", addr, err)
	}
	p := n.personal
	h := np2p.Handler(np2p.Backend{
		Publish: func(ctx context.Context, ev *nostr.Event) error {
			if ok, why := p.pol.FromClient(ev); !ok {
				p.refused.Add(1)
				return fmt.Errorf("%w: %s", np2p.ErrRestricted, why)
			}
			return n.relay.Publish(ctx, ev)
		},
		Query:   n.queryLimited,
		Missing: n.askAuthor,
		MayRead: func(r *http.Request) (bool, string) {
			if !p.pol.PrivateReads {
				return true, ""
			}
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
				return true, ""
			}
			return false, "restricted: reads on this personal node are private, and NostrP2P's API has no authentication: use it from the node's machine, or the relay with NIP-42 AUTH"
		},
	})
	n.np2pLn = ln
	n.np2pSrv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return n.ctx },
	}
	n.group.Go(func() error {
		if err := n.np2pSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("NostrP2P's API: %w", err)
		}
		return nil
	})
	return nil
}

// queryLimited returns the stored events matching f, newest first, at
// most f.Limit (0: all).
func (n *Node) queryLimited(ctx context.Context, f nostr.Filter) ([]*nostr.Event, error) {
	var out []*nostr.Event
	err := n.store.Query(ctx, f, f.Limit, func(raw []byte) error {
		if ev, err := event.Decode(raw); err == nil {
			out = append(out, ev)
		}
		return nil
	})
	return out, err
}

// askAuthor asks the author's node, in the background, for a profile,
// follow list or post a NostrP2P client wanted and the node lacks, and
// stores what comes back (verified) for the client's next request; at
// most once an hour for the same thing (the core's Asks).
func (n *Node) askAuthor(f nostr.Filter) {
	if n.gossip == nil || len(f.Authors) != 1 {
		return
	}
	author := f.Authors[0]
	key := fmt.Sprint(author, f.Kinds, f.IDs)
	p := n.personal
	p.mu.Lock()
	ok := p.asks.Allow(key, time.Now())
	p.mu.Unlock()
	if !ok || author == p.pol.Owner {
		return
	}
	n.spawn(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		evs, err := n.gossip.Get(ctx, author, f)
		if err != nil {
			n.log.Debug("asking an author's node", "author", author, "err", err)
			return
		}
		for _, ev := range evs {
			if err := n.relay.Publish(ctx, ev); err != nil {
				n.log.Debug("storing what an author's node sent", "id", ev.ID, "err", err)
			}
		}
	})
}

// NP2PURL is the base URL of NostrP2P's API ("" when it is not served).
func (n *Node) NP2PURL() string {
	if n.np2pLn == nil {
		return ""
	}
	return "http://" + n.np2pLn.Addr().String()
}
