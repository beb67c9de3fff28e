package superpeer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cairn-nostr/cairn/event"
)

// Verbs of NIP-95 (the spec's and the Nexus relay's).
// NoPeer begins the relay's PEER_ERROR message for a PEER_SIGNAL to a
// peer id it does not know (the peer left): a client dialling that peer
// stops waiting.
const NoPeer = "invalid: no registered peer "

const (
	VerbRegister   = "PEER_REGISTER"
	VerbHeartbeat  = "PEER_HEARTBEAT"
	VerbRequest    = "PEER_REQUEST"
	VerbSignal     = "PEER_SIGNAL"
	VerbCacheHave  = "PEER_CACHE_HAVE"
	VerbStats      = "PEER_STATS"
	VerbReport     = "PEER_REPORT" // cairn's: a client caught a super peer
	VerbRegistered = "PEER_REGISTERED"
	VerbAck        = "PEER_HEARTBEAT_ACK"
	VerbOffer      = "PEER_OFFER"
	VerbSignalFwd  = "PEER_SIGNAL_RELAY"
	VerbStatsOK    = "PEER_STATS_OK"
	VerbPromoted   = "PEER_PROMOTED"
	VerbDemoted    = "PEER_DEMOTED"
	VerbEventNew   = "PEER_EVENT_NEW"
	VerbError      = "PEER_ERROR"
)

// Limits of what a message may carry.
const (
	MaxCacheHave   = 10_000 // event ids one peer may say it caches
	MaxRequestIDs  = 500    // event ids in one PEER_REQUEST
	MaxStatsIDs    = 100    // served ids one report may count
	MaxSignalBytes = 64 << 10
)

// ErrMalformed: a PEER_* message that cannot be read; the text says why.
var ErrMalformed = errors.New("malformed")

// Message is a parsed client-to-relay PEER_* message.
type Message interface{ Verb() string }

// Register is PEER_REGISTER: the spec's capabilities object or Nexus's,
// in the units the Nexus relay and its client library use: bandwidth in
// Mbit/s and storage in MB, numbers that may have a fraction.
type Register struct {
	Bandwidth float64 `json:"bandwidth"` // Mbit/s
	Storage   float64 `json:"storage"`   // MB
	PublicKey string  `json:"publicKey"`
	Lightning string  `json:"lightningAddress,omitempty"`
}

// Heartbeat is PEER_HEARTBEAT.
type Heartbeat struct{}

// Request is PEER_REQUEST: event ids (Nexus) or a subscription and a
// filter (the spec); the relay offers peers for the ids it knows match.
type Request struct {
	SubID    string
	EventIDs []string
	Filter   json.RawMessage // the spec's filter, for the relay to run
	// Whole is cairn's option {"whole":true} after the filter: the client
	// fetches the filter's whole answer from one super peer and checks it
	// against a digest, so the offer names peers and a digest instead of
	// every id (a WholeOffer).
	Whole bool
}

// Signal is PEER_SIGNAL: WebRTC signaling for another registered peer.
type Signal struct {
	Target string          `json:"target_peer"`
	Data   json.RawMessage `json:"signal_data"`
}

// CacheHave is PEER_CACHE_HAVE.
type CacheHave struct {
	EventIDs []string `json:"event_ids"`
}

// Report is PEER_REPORT, cairn's addition: a casual client caught a super
// peer leaving out events the relay holds (EventIDs: those it omitted, at
// most MaxStatsIDs) or serving a forged one (EventIDs empty).
type Report struct {
	Peer     string   `json:"peer_id"`
	Reason   string   `json:"reason"`
	EventIDs []string `json:"event_ids"`
}

// Stats is PEER_STATS.
type Stats struct {
	EventsServed     int64    `json:"events_served"`
	BytesTransferred int64    `json:"bytes_transferred"`
	PeersConnected   int      `json:"peers_connected"`
	EventIDsServed   []string `json:"event_ids_served"`
}

func (*Register) Verb() string  { return VerbRegister }
func (*Heartbeat) Verb() string { return VerbHeartbeat }
func (*Request) Verb() string   { return VerbRequest }
func (*Signal) Verb() string    { return VerbSignal }
func (*CacheHave) Verb() string { return VerbCacheHave }
func (*Stats) Verb() string     { return VerbStats }
func (*Report) Verb() string    { return VerbReport }

func malformed(verb, format string, a ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrMalformed, verb, fmt.Sprintf(format, a...))
}

// strictObject decodes an object into v, refusing unknown fields, wrong
// types and trailing data.
func strictObject(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the object")
	}
	return nil
}

func isObject(raw json.RawMessage) bool {
	b := bytes.TrimSpace(raw)
	return len(b) > 0 && b[0] == '{'
}

func checkIDs(verb string, ids []string, max int) error {
	if len(ids) > max {
		return malformed(verb, "%d event ids; at most %d", len(ids), max)
	}
	for _, id := range ids {
		if !event.IsHex(id, 64) {
			return malformed(verb, "event id %q is not 64 lowercase hex digits", id)
		}
	}
	return nil
}

// Parse reads a client's PEER_* message (args are the elements after the
// verb), in the spec's positional form or as Nexus's objects.
func Parse(verb string, args []json.RawMessage) (Message, error) {
	switch verb {
	case VerbRegister:
		if len(args) != 1 || !isObject(args[0]) {
			return nil, malformed(verb, "want one capabilities object")
		}
		var m Register
		if err := strictObject(args[0], &m); err != nil {
			return nil, malformed(verb, "%v", err)
		}
		if m.Bandwidth < 0 || m.Storage < 0 {
			return nil, malformed(verb, "bandwidth and storage cannot be negative")
		}
		if m.PublicKey != "" && !event.IsHex(m.PublicKey, 64) {
			return nil, malformed(verb, "publicKey is not 64 lowercase hex digits")
		}
		return &m, nil
	case VerbHeartbeat:
		if len(args) > 1 {
			return nil, malformed(verb, "takes no arguments")
		}
		return &Heartbeat{}, nil
	case VerbRequest:
		switch {
		case len(args) == 1 && isObject(args[0]): // Nexus
			var o struct {
				EventIDs []string `json:"event_ids"`
			}
			if err := strictObject(args[0], &o); err != nil {
				return nil, malformed(verb, "%v", err)
			}
			if len(o.EventIDs) == 0 {
				return nil, malformed(verb, "event_ids is empty")
			}
			if err := checkIDs(verb, o.EventIDs, MaxRequestIDs); err != nil {
				return nil, err
			}
			return &Request{EventIDs: o.EventIDs}, nil
		case len(args) == 2 && isObject(args[1]): // spec: sub id, filter
			var sub string
			if err := json.Unmarshal(args[0], &sub); err != nil || sub == "" || len(sub) > 64 {
				return nil, malformed(verb, "the subscription id must be a string of 1 to 64 characters")
			}
			return &Request{SubID: sub, Filter: args[1]}, nil
		case len(args) == 3 && isObject(args[1]) && isObject(args[2]): // spec + cairn's options
			var sub string
			if err := json.Unmarshal(args[0], &sub); err != nil || sub == "" || len(sub) > 64 {
				return nil, malformed(verb, "the subscription id must be a string of 1 to 64 characters")
			}
			var o struct {
				Whole bool `json:"whole"`
			}
			if err := strictObject(args[2], &o); err != nil {
				return nil, malformed(verb, "options: %v", err)
			}
			return &Request{SubID: sub, Filter: args[1], Whole: o.Whole}, nil
		}
		return nil, malformed(verb, `want {"event_ids":[...]}, or a subscription id and a filter (and cairn's options {"whole":true})`)
	case VerbSignal:
		if len(args) != 1 || !isObject(args[0]) || len(args[0]) > MaxSignalBytes {
			return nil, malformed(verb, "want one object {target_peer, signal_data} of at most 64 KiB")
		}
		var m Signal
		if err := strictObject(args[0], &m); err != nil || m.Target == "" || len(m.Data) == 0 {
			return nil, malformed(verb, "want target_peer and signal_data")
		}
		return &m, nil
	case VerbCacheHave:
		if len(args) != 1 || !isObject(args[0]) {
			return nil, malformed(verb, `want {"event_ids":[...]}`)
		}
		var m CacheHave
		if err := strictObject(args[0], &m); err != nil {
			return nil, malformed(verb, "%v", err)
		}
		if err := checkIDs(verb, m.EventIDs, MaxCacheHave); err != nil {
			return nil, err
		}
		return &m, nil
	case VerbStats:
		if len(args) != 1 || !isObject(args[0]) {
			return nil, malformed(verb, "want one stats object")
		}
		var m Stats
		if err := strictObject(args[0], &m); err != nil {
			return nil, malformed(verb, "%v", err)
		}
		if m.EventsServed < 0 || m.BytesTransferred < 0 || m.PeersConnected < 0 {
			return nil, malformed(verb, "counts cannot be negative")
		}
		if len(m.EventIDsServed) > MaxStatsIDs {
			m.EventIDsServed = m.EventIDsServed[:MaxStatsIDs] // only these count
		}
		if err := checkIDs(verb, m.EventIDsServed, MaxStatsIDs); err != nil {
			return nil, err
		}
		return &m, nil
	case VerbReport:
		if len(args) != 1 || !isObject(args[0]) {
			return nil, malformed(verb, "want one object {peer_id, reason, event_ids}")
		}
		var m Report
		if err := strictObject(args[0], &m); err != nil {
			return nil, malformed(verb, "%v", err)
		}
		if m.Peer == "" || len(m.Peer) > 64 || len(m.Reason) > 200 {
			return nil, malformed(verb, "peer_id is needed (at most 64 characters), reason at most 200")
		}
		if err := checkIDs(verb, m.EventIDs, MaxStatsIDs); err != nil {
			return nil, err
		}
		return &m, nil
	}
	return nil, fmt.Errorf("%w: unknown verb %q", ErrMalformed, verb)
}
