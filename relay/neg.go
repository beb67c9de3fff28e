package relay

import (
	"encoding/hex"
	"encoding/json"
	"errors"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip77/negentropy"
	"github.com/nbd-wtf/go-nostr/nip77/negentropy/storage/vector"

	"github.com/cairn-nostr/cairn/store"
)

// negSession is one NIP-77 reconciliation in progress on a connection.
type negSession struct {
	neg *negentropy.Negentropy
}

func (r *Relay) negFrameLimit() int {
	// NEG-MSG travels as hex inside a JSON message: keep a frame well under
	// the message limit.
	n := r.cfg.MaxMessageBytes/2 - 1024
	if n < 4096 {
		n = 4096
	}
	return n
}

// handleNegOpen: ["NEG-OPEN", subid, filter, initialMessage].
func (r *Relay) handleNegOpen(c *Conn, args []json.RawMessage) {
	if len(args) < 3 {
		c.Notice("invalid: NEG-OPEN takes a subscription id, a filter and an initial message")
		return
	}
	subID, err := parseSubID(args[0], r.cfg.MaxSubIDLength)
	if err != nil {
		c.Notice("invalid: " + err.Error())
		return
	}
	negErr := func(reason string) {
		r.reject(reason)
		c.enqueue(msgWithSub("NEG-ERR", subID, reason))
	}
	if r.cfg.Auth == AuthAll && !c.isAuthed() {
		negErr("auth-required: answer the AUTH challenge (NIP-42) first")
		return
	}
	if msg := r.rejectRead(c); msg != "" {
		negErr(msg)
		return
	}
	filter, err := parseFilter(args[1])
	if err != nil {
		negErr("invalid: " + err.Error())
		return
	}
	var msg string
	// Older drafts put an id size before the message: the message is last.
	if err := json.Unmarshal(args[len(args)-1], &msg); err != nil {
		negErr("invalid: the initial message must be a hex string")
		return
	}
	if _, open := c.negs[subID]; !open && len(c.negs) >= r.cfg.MaxSubscriptions {
		negErr("blocked: too many open negentropy sessions on this connection: NEG-CLOSE one first")
		return
	}
	vec := vector.New()
	filter.Limit, filter.LimitZero = 0, false // NIP-77 reconciles the whole filter
	err = r.store.IDs(c.ctx, filter, r.cfg.MaxNegRecords, func(ts nostr.Timestamp, id [32]byte) error {
		vec.Insert(ts, hex.EncodeToString(id[:]))
		return nil
	})
	if errors.Is(err, store.ErrTooMany) {
		negErr("blocked: more than " + itoa(int64(r.cfg.MaxNegRecords)) + " events match this filter; narrow it (e.g. with since/until) and reconcile in parts")
		return
	}
	if err != nil {
		if c.ctx.Err() == nil {
			negErr("error: could not read the events to reconcile; try again later")
		}
		return
	}
	vec.Seal()
	s := &negSession{neg: negentropy.New(vec, r.negFrameLimit())}
	c.negs[subID] = s
	r.negStep(c, subID, s, msg)
}

func (r *Relay) handleNegMsg(c *Conn, args []json.RawMessage) {
	if len(args) != 2 {
		c.Notice("invalid: NEG-MSG takes a subscription id and a message")
		return
	}
	subID, err := parseSubID(args[0], r.cfg.MaxSubIDLength)
	if err != nil {
		c.Notice("invalid: " + err.Error())
		return
	}
	s, ok := c.negs[subID]
	if !ok {
		r.reject("closed:")
		c.enqueue(msgWithSub("NEG-ERR", subID, "closed: no negentropy session with this id; send NEG-OPEN first"))
		return
	}
	var msg string
	if err := json.Unmarshal(args[1], &msg); err != nil {
		delete(c.negs, subID)
		c.enqueue(msgWithSub("NEG-ERR", subID, "invalid: the message must be a hex string"))
		return
	}
	r.negStep(c, subID, s, msg)
}

func (r *Relay) negStep(c *Conn, subID string, s *negSession, msg string) {
	out, err := reconcile(s.neg, msg)
	if err != nil {
		delete(c.negs, subID)
		r.reject("invalid:")
		c.enqueue(msgWithSub("NEG-ERR", subID, "invalid: "+err.Error()))
		return
	}
	c.enqueue(msgWithSub("NEG-MSG", subID, out))
}

// reconcile guards the library's decoder, which may panic on hostile input.
func reconcile(n *negentropy.Negentropy, msg string) (out string, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = errors.New("malformed negentropy message")
		}
	}()
	return n.Reconcile(msg)
}

func (r *Relay) handleNegClose(c *Conn, args []json.RawMessage) {
	if len(args) != 1 {
		c.Notice("invalid: NEG-CLOSE takes exactly one subscription id")
		return
	}
	subID, err := parseSubID(args[0], r.cfg.MaxSubIDLength)
	if err != nil {
		c.Notice("invalid: " + err.Error())
		return
	}
	delete(c.negs, subID)
}
