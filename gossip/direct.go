package gossip

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/personal"
)

// DirectProtocol is the request/response protocol between personal nodes:
// a delivery of one event straight to the node of a user it names (a
// reply, mention or reaction), or a request for stored events (a profile,
// a follow list, a post by id).
const DirectProtocol = "/cairn/personal/1.0.0"

// MaxFrame bounds one message of DirectProtocol.
const MaxFrame = 1 << 20

// HomeKey is the DHT key under which the node of owner provides itself:
// the SHA-256 of "/cairn/home/1/" and the owner's pubkey in hex. Only the
// owner's own node provides it.
func HomeKey(owner string) [32]byte { return sha256.Sum256([]byte("/cairn/home/1/" + owner)) }

// request is one message of DirectProtocol from the asking side.
type request struct {
	// Deliver is an event for the receiving node's owner.
	Deliver *nostr.Event `json:"deliver,omitempty"`
	// Get is a filter for stored events.
	Get *nostr.Filter `json:"get,omitempty"`
}

// response answers a request. Owner is the answering node's owner, so the
// asking side knows whose node it reached.
type response struct {
	Owner  string         `json:"owner"`
	OK     bool           `json:"ok"`
	Reason string         `json:"reason,omitempty"`
	Events []*nostr.Event `json:"events,omitempty"`
}

// MaxServe is the most events one Get answers with.
const MaxServe = 100

func writeFrame(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(b) > MaxFrame {
		return fmt.Errorf("a message of %d bytes is over the %d limit", len(b), MaxFrame)
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(b)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func readFrame(r io.Reader, v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > MaxFrame {
		return fmt.Errorf("a message of %d bytes is over the %d limit", n, MaxFrame)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// serveDirect answers one stream of DirectProtocol.
func (g *Node) serveDirect(s network.Stream) {
	defer s.Close()
	s.SetDeadline(time.Now().Add(30 * time.Second))
	var req request
	resp := response{Owner: g.cfg.Policy.Owner}
	if err := readFrame(bufio.NewReader(s), &req); err != nil {
		resp.Reason = "invalid: " + err.Error()
		writeFrame(s, resp)
		return
	}
	switch {
	case req.Deliver != nil:
		ev := req.Deliver
		if ok, why := g.cfg.Policy.FromDirect(ev); !ok {
			g.directRefused.Add(1)
			resp.Reason = why
			break
		}
		if err := g.cfg.Deliver(g.ctx, ev); err != nil {
			resp.Reason = "error: " + err.Error()
			break
		}
		g.directIn.Add(1)
		resp.OK = true
	case req.Get != nil:
		if g.cfg.Serve == nil {
			resp.Reason = "blocked: this node serves no requests"
			break
		}
		f := *req.Get
		if f.Limit <= 0 || f.Limit > MaxServe {
			f.Limit = MaxServe
		}
		evs, err := g.cfg.Serve(g.ctx, f)
		if err != nil {
			resp.Reason = "error: " + err.Error()
			break
		}
		if len(evs) > MaxServe {
			evs = evs[:MaxServe]
		}
		resp.OK, resp.Events = true, evs
		g.served.Add(1)
	default:
		resp.Reason = "invalid: a request carries deliver or get"
	}
	writeFrame(s, resp)
}

// ErrNoHome: no node of that user could be reached.
var ErrNoHome = errors.New("the user's node could not be reached")

// homes finds the nodes that provide owner's home key.
func (g *Node) homes(ctx context.Context, owner string) []peer.AddrInfo {
	if g.cfg.Finder == nil {
		return nil
	}
	fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	found, _ := g.cfg.Finder.FindProviders(fctx, HomeKey(owner), 4)
	return found
}

// ask sends req to the node of owner (found through the DHT) and returns
// its answer; only a node that says it is owner's counts.
func (g *Node) ask(ctx context.Context, owner string, req request) (response, error) {
	var errs []error
	for _, ai := range g.homes(ctx, owner) {
		if ai.ID == g.cfg.Host.ID() {
			continue
		}
		resp, err := g.askPeer(ctx, ai, req)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if resp.Owner != owner {
			errs = append(errs, fmt.Errorf("%s is the node of %.16s…, not of %.16s…", ai.ID, resp.Owner, owner))
			continue
		}
		return resp, nil
	}
	return response{}, fmt.Errorf("%w: %.16s…: %v", ErrNoHome, owner, errors.Join(errs...))
}

func (g *Node) askPeer(ctx context.Context, ai peer.AddrInfo, req request) (response, error) {
	var resp response
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if len(ai.Addrs) > 0 {
		if err := g.cfg.Host.Connect(ctx, ai); err != nil {
			return resp, err
		}
	}
	s, err := g.cfg.Host.NewStream(ctx, ai.ID, DirectProtocol)
	if err != nil {
		return resp, err
	}
	defer s.Close()
	if d, ok := ctx.Deadline(); ok {
		s.SetDeadline(d)
	}
	if err := writeFrame(s, req); err != nil {
		return resp, err
	}
	s.CloseWrite()
	if err := readFrame(bufio.NewReader(s), &resp); err != nil {
		return resp, err
	}
	return resp, nil
}

// Send delivers ev straight to the node of target. It succeeds once that
// node stored it.
func (g *Node) Send(ctx context.Context, target string, ev *nostr.Event) error {
	resp, err := g.ask(ctx, target, request{Deliver: ev})
	if err != nil {
		return err
	}
	if !resp.OK {
		return fmt.Errorf("the node of %.16s… refused it: %s", target, resp.Reason)
	}
	g.directOut.Add(1)
	return nil
}

// Get asks the node of author for the events matching f (at most
// MaxServe) and returns those whose id and signature hold and whose author
// is among f.Authors when f names authors. When no node of author answers,
// it asks up to MaxCarriers nodes that carry author (on author's topic:
// its peers there, then the topic's providers in the DHT) and merges what
// they hold; what a carrier sends is checked as an overlay message on
// author's topic is (personal.Policy.FromOverlay), a refused one counted.
func (g *Node) Get(ctx context.Context, author string, f nostr.Filter) ([]*nostr.Event, error) {
	resp, err := g.ask(ctx, author, request{Get: &f})
	if err == nil && !resp.OK {
		err = fmt.Errorf("the node of %.16s… refused the request: %s", author, resp.Reason)
	}
	if err == nil {
		return g.checked(author, f, resp.Events, nil), nil
	}
	seen := map[string]bool{}
	var out []*nostr.Event
	asked := 0
	for _, ai := range g.carriers(ctx, author) {
		if asked == MaxCarriers {
			break
		}
		r, cerr := g.askPeer(ctx, ai, request{Get: &f})
		if cerr != nil || !r.OK {
			continue
		}
		asked++
		out = g.checked(author, f, r.Events, seen, out...)
	}
	if asked == 0 {
		return nil, fmt.Errorf("%w, nor any node carrying them: %v", ErrNoHome, err)
	}
	return out, nil
}

// MaxCarriers is the most carriers of an author one Get asks.
const MaxCarriers = 3

// checked appends to out the events of evs that hold as author's (id,
// signature, author's topic) and match f, each once (seen may be nil).
func (g *Node) checked(author string, f nostr.Filter, evs []*nostr.Event, seen map[string]bool, out ...*nostr.Event) []*nostr.Event {
	for _, ev := range evs {
		if ev == nil || seen[ev.ID] {
			continue
		}
		if ev.PubKey != author {
			g.dropTopic.Add(1)
			continue
		}
		if ok, _ := g.cfg.Policy.FromOverlay(ev, personal.Topic(author)); !ok {
			g.dropSig.Add(1)
			continue
		}
		if !f.Matches(ev) {
			continue
		}
		if seen != nil {
			seen[ev.ID] = true
		}
		out = append(out, ev)
	}
	return out
}

// carriers are the nodes other than this one on author's topic: its peers
// there first, then the topic's providers in the DHT.
func (g *Node) carriers(ctx context.Context, author string) []peer.AddrInfo {
	topic := personal.Topic(author)
	self := g.cfg.Host.ID()
	var out []peer.AddrInfo
	have := map[peer.ID]bool{self: true}
	for _, p := range g.ps.ListPeers(topic) {
		if !have[p] {
			have[p] = true
			out = append(out, peer.AddrInfo{ID: p})
		}
	}
	if g.cfg.Finder != nil {
		fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		found, _ := g.cfg.Finder.FindProviders(fctx, TopicKey(topic), 2*MaxCarriers)
		cancel()
		for _, ai := range found {
			if !have[ai.ID] {
				have[ai.ID] = true
				out = append(out, ai)
			}
		}
	}
	return out
}
