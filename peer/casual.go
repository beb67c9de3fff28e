package peer

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/relay/client"
	"github.com/cairn-nostr/cairn/superpeer"
)

// CasualConfig configures a Casual client.
type CasualConfig struct {
	URL      string          // the NIP-95 relay
	PubKey   string          // sent in PEER_REGISTER ("" for none)
	Channels NewPeerChannels // DataChannels through the relay
	// Wait is how long the client waits for super peers before taking
	// what is missing from the relay (superpeer.FallbackAfter, the spec's
	// 5 s).
	Wait time.Duration
	// SpotCheck is the share of peer answers compared with the relay's
	// answer for the same filter (0.1); Seed seeds the draws.
	SpotCheck float64
	Seed      uint64
	// MaxRequests is the PEER_REQUESTs sent per 10 s at most (20, the
	// relay's default limit, past which it bars the connection); loads
	// beyond it go to the relay alone.
	MaxRequests int
	// PerID asks for per-event offers only (the Nexus relay's way: the
	// relay names peers for every id and the client asks peers by id,
	// spot-checking them). By default the client asks cairn's whole
	// offers (a digest of the answer, fetched whole from one peer) and
	// takes per-id offers when the relay gives those instead.
	PerID  bool
	Logger *slog.Logger
}

// Casual is a NIP-95 casual client of one relay: Recent gets the recent
// events of a filter from the super peers the relay offers, verifies each
// (shape, id, signature, and that it is the event asked for), takes
// whatever a peer did not deliver from the relay, spot-checks peers
// against the relay's own answer (superpeer.Client decides when), and
// stops using a peer caught omitting or forging (Reports lists them).
//
//	c, err := peer.DialCasual(ctx, cfg)
//	defer c.Close()
//	res, err := c.Recent(ctx, nostr.Filter{Kinds: []int{1}, Limit: 20})
type Casual struct {
	cfg  CasualConfig
	log  *slog.Logger
	link *relayLink
	chs  PeerChannels

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex // one Recent at a time; guards the rest
	core     *superpeer.Client
	omu      sync.Mutex                    // guards open and dials (fetches run in parallel)
	open     map[string]PeerChannel        // by peer id
	dials    map[string]context.CancelFunc // dials under way, by peer id
	reports  []Report
	seq      int
	rng      *rand.Rand
	asked    []time.Time // PEER_REQUESTs sent in the relay's window
	perr     chan string // PEER_ERRORs, for the PEER_REQUEST waiting
	regErr   error
	register chan struct{}
}

// Report is a peer caught by a check.
type Report struct {
	Peer    string
	Reason  string
	Missing []string // ids the relay holds that the peer left out
}

// RecentResult is what Recent got and from where.
type RecentResult struct {
	// Events are the verified events, newest first, each as the JSON
	// received.
	Events []json.RawMessage
	// FromPeers and FromRelay count the events by source; PeerBytes and
	// RelayBytes are the bytes of the messages that carried them (the
	// relay's PEER_OFFER and spot checks included in RelayBytes).
	FromPeers, FromRelay  int
	PeerBytes, RelayBytes int64
	Offered               int // ids the relay offered peers for
	// Unreached lists the offered peers no channel could be opened to,
	// with why: they are not asked to account for anything.
	Unreached []string
	Checked   []string
	Reports   []Report
}

// DialCasual connects to the relay and registers (a casual client
// registers too, to be reachable for signaling; with no bandwidth and
// storage offered it is never promoted).
func DialCasual(ctx context.Context, cfg CasualConfig) (*Casual, error) {
	if cfg.URL == "" || cfg.Channels == nil {
		return nil, errors.New("casual client: a relay URL and DataChannels (Channels) are needed")
	}
	if cfg.Wait <= 0 {
		cfg.Wait = superpeer.FallbackAfter
	}
	if cfg.SpotCheck == 0 {
		cfg.SpotCheck = 0.1
	}
	if cfg.MaxRequests <= 0 {
		cfg.MaxRequests = superpeer.DefaultConfig().Limits[superpeer.VerbRequest]
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	link, err := dialRelayLink(ctx, cfg.URL, cfg.Logger)
	if err != nil {
		return nil, err
	}
	c := &Casual{cfg: cfg, log: cfg.Logger, link: link, done: make(chan struct{}),
		core: superpeer.NewClient(cfg.SpotCheck, cfg.Seed), open: map[string]PeerChannel{}, dials: map[string]context.CancelFunc{}, register: make(chan struct{}), perr: make(chan string, 1),
		rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x95))}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.chs = cfg.Channels(link.signalSender())
	go c.read()
	if err := link.register(ctx, cfg.PubKey, 0, 0); err != nil {
		c.Close()
		return nil, err
	}
	select {
	case <-c.register:
	case <-c.done:
		return nil, fmt.Errorf("relay %s closed the connection before PEER_REGISTERED", cfg.URL)
	case <-ctx.Done():
		c.Close()
		return nil, ctx.Err()
	}
	if c.regErr != nil {
		c.Close()
		return nil, c.regErr
	}
	return c, nil
}

// Close closes the channels and the relay connection.
func (c *Casual) Close() {
	c.cancel()
	c.omu.Lock()
	for id, ch := range c.open {
		ch.Close()
		delete(c.open, id)
	}
	c.omu.Unlock()
	c.chs.Close()
	c.link.conn.Close()
	<-c.done
}

// RelayBytesRead is every byte read from the relay so far.
func (c *Casual) RelayBytesRead() int64 { return c.link.read.Load() }

func (c *Casual) read() {
	defer close(c.done)
	var once sync.Once
	err := c.link.readLoop(c.ctx, func(verb string, msg []json.RawMessage) {
		switch verb {
		case superpeer.VerbRegistered:
			once.Do(func() {
				_, _, c.regErr = registered(msg)
				close(c.register)
			})
		case superpeer.VerbSignalFwd:
			if from, data, ok := signalRelay(msg); ok {
				c.chs.Signal(from, data)
			}
		case superpeer.VerbError:
			body := string(msg[min(1, len(msg)-1)])
			c.log.Debug("relay says", "body", body)
			var o struct {
				Message string `json:"message"`
			}
			json.Unmarshal(msg[min(1, len(msg)-1)], &o)
			if gone, ok := strings.CutPrefix(o.Message, superpeer.NoPeer); ok {
				// A PEER_SIGNAL to a peer that left: its dial ends now,
				// not at the wait's end.
				c.omu.Lock()
				if cancel := c.dials[gone]; cancel != nil {
					cancel()
				}
				c.omu.Unlock()
				return
			}
			select {
			case c.perr <- body:
			default:
			}
		}
	})
	c.log.Debug("relay connection ended", "err", err)
}

// offer is a PEER_OFFER answering a filter: per-id offers, or cairn's
// whole offer (Digest set).
type offer struct {
	Offers    map[string][]string `json:"offers"`
	Unoffered []string            `json:"unoffered"` // cairn's: matched, no peer offered
	superpeer.WholeOffer
}

// ids are every id the filter matched, offered ones first (sorted, so the
// draws are reproducible).
func (o offer) ids() []string {
	out := make([]string, 0, len(o.Offers)+len(o.Unoffered))
	for id := range o.Offers {
		out = append(out, id)
	}
	slices.Sort(out)
	return append(out, o.Unoffered...)
}

func (c *Casual) nextSub(prefix string) string {
	c.seq++
	return prefix + strconv.Itoa(c.seq)
}

// Recent returns the recent events matching f: from super peers where the
// relay offers them, from the relay for the rest and for anything a peer
// did not deliver within Wait or delivered wrong.
func (c *Casual) Recent(ctx context.Context, f nostr.Filter) (RecentResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var res RecentResult
	o, n, err := c.offer(ctx, f)
	res.RelayBytes += n
	if errors.Is(err, errNoOffer) {
		// No PEER_* today (paced, or refused): a plain REQ, as any client.
		c.log.Debug("no offer; asking the relay alone", "err", err)
		evs, n, err := c.query(ctx, f)
		res.RelayBytes += n
		if err != nil {
			return res, err
		}
		res.Events, res.FromRelay = ordered(evs), len(evs)
		return res, nil
	}
	if err != nil {
		return res, err
	}
	if o.Digest != "" {
		return c.recentWhole(ctx, f, o.WholeOffer, res)
	}
	// Which peer for which id: the first usable one offered, spreading ids
	// over peers.
	all := o.ids()
	load := map[string]int{}
	byPeer := map[string][]string{}
	for _, id := range all {
		peers := c.core.Usable(o.Offers[id])
		if len(peers) == 0 {
			continue
		}
		best := slices.MinFunc(peers, func(a, b string) int { return cmp.Compare(load[a], load[b]) })
		load[best]++
		byPeer[best] = append(byPeer[best], id)
		res.Offered++
	}
	got := map[string]json.RawMessage{}
	served := map[string][]string{}      // by peer: ids it delivered, verified
	forged := map[string]string{}        // by peer: what it served that failed the checks
	unreached := map[string]bool{}       // no channel: nothing to hold against the peer
	accountable := map[string][]string{} // by peer: ids asked before its last answer
	var gmu sync.Mutex
	var wg sync.WaitGroup
	wctx, cancel := context.WithTimeout(ctx, c.cfg.Wait)
	for p, ids := range byPeer {
		// In a random order each time: a peer that stops answering to hide
		// an event loses every id after it, whichever they are.
		c.rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		wg.Add(1)
		go func() {
			defer wg.Done()
			evs, bytes, reached, bad, err := c.fetchPeer(wctx, p, ids)
			// The channel is ordered and a super peer answers in order: an
			// id asked before the last one answered was left out; those
			// after it may only be slow, and are not held against it.
			last := -1
			for i, id := range ids {
				if evs[id] != nil {
					last = i
				}
			}
			gmu.Lock()
			defer gmu.Unlock()
			res.PeerBytes += bytes
			for id, raw := range evs {
				got[id] = raw
				served[p] = append(served[p], id)
			}
			accountable[p] = ids[:last+1]
			if bad != "" {
				forged[p] = bad
			}
			if !reached {
				unreached[p] = true
				res.Unreached = append(res.Unreached, fmt.Sprintf("%s: %v", p, err))
			}
			if err != nil {
				c.log.Debug("super peer", "peer", p, "err", err)
			}
		}()
	}
	wg.Wait()
	cancel()
	for p, id := range forged {
		v := c.core.Forged(p, id)
		res.Reports = append(res.Reports, Report{Peer: p, Reason: v.Reason})
	}
	res.FromPeers = len(got)
	// The rest from the relay, by id.
	var missing []string
	for _, id := range all {
		if got[id] == nil {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		evs, n, err := c.query(ctx, nostr.Filter{IDs: missing})
		res.RelayBytes += n
		if err != nil {
			return res, err
		}
		for _, id := range missing {
			if raw, ok := evs[id]; ok {
				got[id] = raw
				res.FromRelay++
			}
		}
	}
	// Spot checks: the relay's own answer for the same filter, one query
	// for every peer drawn.
	var check []string
	if len(byPeer) > 0 && c.core.ShouldCheck() { // one draw per answer set
		for p := range byPeer {
			if forged[p] == "" && !unreached[p] {
				check = append(check, p)
			}
		}
	}
	if len(check) > 0 {
		slices.Sort(check)
		res.Checked = check
		evs, n, err := c.query(ctx, f)
		res.RelayBytes += n
		if err != nil {
			return res, err
		}
		for _, p := range check {
			var relayHas []string
			for _, id := range accountable[p] {
				if _, ok := evs[id]; ok {
					relayHas = append(relayHas, id)
				}
			}
			if v := c.core.Compare(p, served[p], relayHas); v.Report {
				res.Reports = append(res.Reports, Report{Peer: p, Reason: v.Reason, Missing: v.Missing})
			}
		}
	}
	res.Events = ordered(got)
	c.report(ctx, res.Reports)
	return res, nil
}

// report records what checks caught, stops using those peers and tells the
// relay.
func (c *Casual) report(ctx context.Context, reports []Report) {
	if len(reports) > 0 {
		c.reports = append(c.reports, reports...)
		for _, r := range reports {
			c.drop(r.Peer)
			// Tell the relay (cairn's PEER_REPORT): it checks what it can
			// and demotes a peer enough clients report.
			ids := r.Missing[:min(len(r.Missing), superpeer.MaxStatsIDs)]
			if err := c.link.send(ctx, superpeer.VerbReport, superpeer.Report{Peer: r.Peer, Reason: r.Reason[:min(len(r.Reason), 200)], EventIDs: ids}); err != nil {
				c.log.Debug("reporting", "peer", r.Peer, "err", err)
			}
		}
	}
}

// errNoOffer: the relay gave no offer (the client paced itself, or the
// relay refused the PEER_REQUEST); the relay is asked alone.
var errNoOffer = errors.New("no offer")

// offer sends PEER_REQUEST for f and waits for the relay's PEER_OFFER. It
// keeps under the relay's limit on PEER_REQUESTs (MaxRequests per 10 s)
// rather than be barred, and a PEER_ERROR in answer is errNoOffer.
func (c *Casual) offer(ctx context.Context, f nostr.Filter) (offer, int64, error) {
	var o offer
	window := superpeer.DefaultConfig().Window
	now := time.Now()
	c.asked = slices.DeleteFunc(c.asked, func(t time.Time) bool { return now.Sub(t) >= window })
	if len(c.asked) >= c.cfg.MaxRequests {
		return o, 0, fmt.Errorf("%w: %d PEER_REQUESTs in %v already", errNoOffer, len(c.asked), window)
	}
	c.asked = append(c.asked, now)
	sub := c.nextSub("p")
	ch := c.link.route(sub)
	defer c.link.unroute(sub)
	for len(c.perr) > 0 { // stale refusals
		<-c.perr
	}
	var err error
	if c.cfg.PerID {
		err = c.link.send(ctx, superpeer.VerbRequest, sub, f)
	} else {
		err = c.link.send(ctx, superpeer.VerbRequest, sub, f, map[string]bool{"whole": true})
	}
	if err != nil {
		return o, 0, err
	}
	select {
	case msg := <-ch:
		if client.Str(msg[0]) != superpeer.VerbOffer || json.Unmarshal(msg[1], &o) != nil {
			return o, size(msg), fmt.Errorf("relay answered PEER_REQUEST with %s", msg[0])
		}
		return o, size(msg), nil
	case reason := <-c.perr:
		return o, 0, fmt.Errorf("%w: the relay says %s", errNoOffer, reason)
	case <-ctx.Done():
		return o, 0, ctx.Err()
	case <-c.done:
		return o, 0, errors.New("relay connection closed")
	}
}

// ordered lists events in NIP-01's order: newest first, the lowest id
// first on a tie.
func ordered(evs map[string]json.RawMessage) []json.RawMessage {
	type item struct {
		id      string
		created nostr.Timestamp
	}
	items := make([]item, 0, len(evs))
	for id, raw := range evs {
		var ts struct {
			CreatedAt nostr.Timestamp `json:"created_at"`
		}
		json.Unmarshal(raw, &ts) // checked already
		items = append(items, item{id, ts.CreatedAt})
	}
	slices.SortFunc(items, func(a, b item) int {
		if c := cmp.Compare(b.created, a.created); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	out := make([]json.RawMessage, 0, len(items))
	for _, it := range items {
		out = append(out, evs[it.id])
	}
	return out
}

// Reports lists every peer caught so far.
func (c *Casual) Reports() []Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.reports)
}

// query runs a REQ to EOSE and returns the events that pass the checks, by
// id, and the bytes read.
func (c *Casual) query(ctx context.Context, f nostr.Filter) (map[string]json.RawMessage, int64, error) {
	sub := c.nextSub("q")
	ch := c.link.route(sub)
	defer c.link.unroute(sub)
	if err := c.link.send(ctx, "REQ", sub, f); err != nil {
		return nil, 0, err
	}
	out := map[string]json.RawMessage{}
	var n int64
	for {
		select {
		case msg := <-ch:
			n += size(msg)
			switch client.Str(msg[0]) {
			case "EVENT":
				if len(msg) > 2 {
					if ev, err := decodeChecked(msg[2], ""); err == nil {
						out[ev.ID] = msg[2]
					}
				}
			case "EOSE":
				c.link.send(ctx, "CLOSE", sub)
				return out, n, nil
			case "CLOSED":
				return out, n, fmt.Errorf("relay closed the query: %s", msg[min(2, len(msg)-1)])
			}
		case <-ctx.Done():
			return out, n, ctx.Err()
		case <-c.done:
			return out, n, errors.New("relay connection closed")
		}
	}
}

// dial opens a channel to peerID, ended early when the relay says the
// peer is gone.
func (c *Casual) dial(ctx context.Context, peerID string) (PeerChannel, error) {
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.omu.Lock()
	c.dials[peerID] = cancel
	c.omu.Unlock()
	ch, err := c.chs.Dial(dctx, peerID)
	c.omu.Lock()
	delete(c.dials, peerID)
	if err == nil {
		c.open[peerID] = ch
	}
	c.omu.Unlock()
	if err != nil && ctx.Err() == nil && dctx.Err() != nil {
		err = fmt.Errorf("the relay says peer %s is gone: %w", peerID, err)
	}
	return ch, err
}

func (c *Casual) channel(peerID string) PeerChannel {
	c.omu.Lock()
	defer c.omu.Unlock()
	return c.open[peerID]
}

// drop closes and forgets the channel to peerID.
func (c *Casual) drop(peerID string) {
	c.omu.Lock()
	ch := c.open[peerID]
	delete(c.open, peerID)
	c.omu.Unlock()
	if ch != nil {
		ch.Close()
	}
}

// fetchPeer asks peer for ids over its channel (opened now if need be) and
// takes answers until every id came or ctx ends. Every event is checked;
// one that fails the checks ends the exchange and is returned as bad (its
// id, or "(unreadable)"); a genuine event not asked for now is ignored. reached: the requests
// went out and the channel stayed open until every answer came or ctx
// ended (a peer that is gone is not held to account, only one that stays
// and leaves requests unanswered).
func (c *Casual) fetchPeer(ctx context.Context, peerID string, ids []string) (out map[string]json.RawMessage, n int64, reached bool, bad string, err error) {
	out = map[string]json.RawMessage{}
	ch := c.channel(peerID)
	if ch == nil {
		if ch, err = c.dial(ctx, peerID); err != nil {
			return out, 0, false, "", err
		}
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
		if err := ch.Send(p2pRequest(id)); err != nil {
			c.drop(peerID)
			return out, 0, false, "", err
		}
	}
	for len(want) > 0 {
		b, err := ch.Recv(ctx)
		if err != nil {
			if ctx.Err() == nil { // the channel is gone: the peer left, it did not omit
				c.drop(peerID)
				return out, n, false, "", err
			}
			return out, n, true, "", err
		}
		n += int64(len(b))
		m, err := parseP2P(b)
		if err == nil && m.Type != P2PEvents {
			err = fmt.Errorf("a %s from a super peer", m.Type)
		}
		if err != nil {
			return out, n, true, "(unreadable)", fmt.Errorf("peer %s: %w", peerID, err)
		}
		ev, err := decodeChecked(m.Event, "")
		if err == nil && !want[ev.ID] {
			// A genuine event not asked for now: a late answer to an
			// earlier load on this channel, or a repeat. Not used.
			continue
		}
		if err != nil {
			id := "(unreadable)"
			if ev != nil {
				id = ev.ID
			}
			return out, n, true, id, fmt.Errorf("peer %s: %w", peerID, err)
		}
		delete(want, ev.ID)
		out[ev.ID] = m.Event
	}
	return out, n, true, "", nil
}

// RecheckAfter is how long after a super peer's answer that lacked events
// the client asks it for them again before it reports an omission: the
// time for a PEER_EVENT_NEW the relay sent before its offer to reach the
// peer.
const RecheckAfter = time.Second

// recentWhole takes a whole offer: the filter's answer (o.Count events
// since o.Since) from the first offered peer that gives it, checked event
// by event (signature, the filter) and as a set (o.Digest: nothing left
// out, nothing added), so every load is checked, not a sample. On any
// shortfall the client takes the answer from the relay; a peer that said
// it had sent everything (P2P_EOSE) yet left out events the relay holds,
// and still does not send them when asked again by id, is reported.
func (c *Casual) recentWhole(ctx context.Context, f nostr.Filter, o superpeer.WholeOffer, res RecentResult) (RecentResult, error) {
	if o.Count == 0 {
		return res, nil // the relay holds no recent event for f
	}
	pf := f
	since := nostr.Timestamp(o.Since)
	pf.Since, pf.Limit = &since, o.Count
	wctx, cancel := context.WithTimeout(ctx, c.cfg.Wait)
	defer cancel()
	var suspect string // a peer whose complete answer did not match
	var served map[string]json.RawMessage
	var answered time.Time
	for _, p := range c.core.Usable(o.Peers) {
		res.Offered = o.Count
		evs, n, st, err := c.fetchFilter(wctx, p, pf)
		res.PeerBytes += n
		switch {
		case st.bad != "":
			v := c.core.Forged(p, st.bad)
			res.Reports = append(res.Reports, Report{Peer: p, Reason: v.Reason})
			continue
		case !st.reached:
			res.Unreached = append(res.Unreached, fmt.Sprintf("%s: %v", p, err))
			continue
		case st.eose && len(evs) == o.Count && superpeer.Digest(slices.Collect(maps.Keys(evs))) == o.Digest:
			res.Checked = append(res.Checked, p)
			res.Events, res.FromPeers = ordered(evs), len(evs)
			c.report(ctx, res.Reports)
			return res, nil
		case st.eose:
			suspect, served, answered = p, evs, time.Now()
		default:
			c.log.Debug("super peer did not answer in time", "peer", p, "err", err)
		}
		break
	}
	// From the relay: the same filter.
	evs, n, err := c.query(ctx, pf)
	res.RelayBytes += n
	if err != nil {
		return res, err
	}
	res.Events, res.FromRelay = ordered(evs), len(evs)
	if suspect != "" {
		res.Checked = append(res.Checked, suspect)
		var missing []string
		for id := range evs {
			if served[id] == nil {
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 {
			// Asked again by id, RecheckAfter after its answer: an event
			// the relay pushed to the peer while it answered is there by
			// then; one still missing was left out.
			slices.Sort(missing)
			if wait := time.Until(answered.Add(RecheckAfter)); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return res, ctx.Err()
				}
			}
			actx, cancel := context.WithTimeout(ctx, c.cfg.Wait)
			again, _, st, _ := c.fetchFilter(actx, suspect, nostr.Filter{IDs: missing})
			cancel()
			ids := slices.Collect(maps.Keys(served))
			if st.eose {
				ids = append(ids, slices.Collect(maps.Keys(again))...)
			}
			if st.bad != "" {
				v := c.core.Forged(suspect, st.bad)
				res.Reports = append(res.Reports, Report{Peer: suspect, Reason: v.Reason})
			} else if v := c.core.Compare(suspect, ids, slices.Collect(maps.Keys(evs))); v.Report && st.eose {
				slices.Sort(v.Missing)
				res.Reports = append(res.Reports, Report{Peer: suspect, Reason: v.Reason, Missing: v.Missing})
			}
		}
	}
	c.report(ctx, res.Reports)
	return res, nil
}

// filterState is how a P2P_REQ exchange ended.
type filterState struct {
	reached bool   // the request went out and the channel stayed open
	eose    bool   // the peer said it sent everything
	bad     string // the id of an event that failed the checks, or "(unreadable)"
}

// fetchFilter asks peerID for f's answer with P2P_REQ (opening a channel
// if need be) and takes its events until P2P_EOSE or ctx ends. Each event
// is checked (shape, id, signature, f); one that fails ends the exchange
// (bad). Answers to other subscriptions (late, from an earlier load) are
// ignored.
func (c *Casual) fetchFilter(ctx context.Context, peerID string, f nostr.Filter) (out map[string]json.RawMessage, n int64, st filterState, err error) {
	out = map[string]json.RawMessage{}
	ch := c.channel(peerID)
	if ch == nil {
		if ch, err = c.dial(ctx, peerID); err != nil {
			return out, 0, st, err
		}
	}
	sub := c.nextSub("w")
	fj, _ := json.Marshal(f)
	req, _ := json.Marshal(p2pMsg{Type: P2PReq, Sub: sub, Filter: fj})
	if err := ch.Send(req); err != nil {
		c.drop(peerID)
		return out, 0, st, err
	}
	st.reached = true
	for {
		b, err := ch.Recv(ctx)
		if err != nil {
			if ctx.Err() == nil { // the channel is gone: the peer left
				c.drop(peerID)
				st.reached = false
			}
			return out, n, st, err
		}
		n += int64(len(b))
		m, err := parseP2P(b)
		if err == nil && m.Type != P2PEvents && m.Type != P2PEOSE {
			err = fmt.Errorf("a %s from a super peer", m.Type)
		}
		if err != nil {
			st.bad = "(unreadable)"
			return out, n, st, fmt.Errorf("peer %s: %w", peerID, err)
		}
		if m.Sub != sub {
			continue // a late answer to an earlier request
		}
		if m.Type == P2PEOSE {
			st.eose = true
			return out, n, st, nil
		}
		ev, err := decodeChecked(m.Event, "")
		if err == nil && !f.Matches(ev) {
			err = errors.New("an event outside the filter asked for")
		}
		if err != nil {
			st.bad = "(unreadable)"
			if ev != nil {
				st.bad = ev.ID
			}
			return out, n, st, fmt.Errorf("peer %s: %w", peerID, err)
		}
		out[ev.ID] = m.Event
	}
}
