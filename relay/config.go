package relay

import (
	"errors"
	"fmt"
	"time"
)

// AuthMode says when NIP-42 authentication is required.
type AuthMode string

const (
	AuthOff    AuthMode = "off"    // AUTH accepted but never required
	AuthWrites AuthMode = "writes" // EVENT requires an authenticated pubkey
	AuthAll    AuthMode = "all"    // EVENT, REQ, COUNT and NEG-OPEN require it
)

// Config is the relay's policy. The zero value is not valid: start from
// DefaultConfig and change what you need.
type Config struct {
	// Name, Description, Contact and PubKey fill the NIP-11 document.
	Name        string
	Description string
	Contact     string
	PubKey      string // hex; the node's own key
	Version     string

	// URL is the relay's public websocket URL, checked in NIP-42 AUTH events.
	// Empty means: accept the URL the client connected to (its Host header).
	URL string

	Auth             AuthMode
	MinPowDifficulty int // NIP-13: leading zero bits an event id must have; 0 = off

	MaxMessageBytes   int           // a larger message is refused (and drained); 4x closes the connection
	MaxSubscriptions  int           // open REQs per connection
	MaxFilters        int           // filters per REQ / COUNT
	MaxLimit          int           // cap on a filter's limit
	DefaultLimit      int           // limit applied to a filter without one
	MaxSubIDLength    int           // NIP-01 says 64
	MaxEventTags      int           // tags per event
	MaxContentLength  int           // bytes of content
	EventsPerSecond   float64       // per connection (burst = 2x); 0 = unlimited
	EventsPerSecondIP float64       // per remote IP, across its connections; 0 = unlimited
	IdleTimeout       time.Duration // close a connection with no message and no subscription for this long
	PingInterval      time.Duration // websocket ping; a peer that misses a pong is dropped
	MaxFutureSkew     time.Duration // refuse created_at further ahead than this
	MaxNegRecords     int           // NIP-77: most records one NEG-OPEN may reconcile
	SendQueue         int           // messages buffered per connection before a slow reader is dropped
	MaxPending        int           // EVENTs of one connection being verified/stored at once
}

// DefaultConfig returns limits that suit a personal or community relay on a
// small machine.
func DefaultConfig() Config {
	return Config{
		Name:              "cairn",
		Description:       "a cairn node: Nostr relay and peer-to-peer media layer",
		Auth:              AuthOff,
		MaxMessageBytes:   512 << 10,
		MaxSubscriptions:  32,
		MaxFilters:        16,
		MaxLimit:          5000,
		DefaultLimit:      500,
		MaxSubIDLength:    64,
		MaxEventTags:      2500,
		MaxContentLength:  256 << 10,
		EventsPerSecond:   200,
		EventsPerSecondIP: 1000,
		IdleTimeout:       10 * time.Minute,
		PingInterval:      30 * time.Second,
		MaxFutureSkew:     15 * time.Minute,
		MaxNegRecords:     1_000_000,
		SendQueue:         4096,
		MaxPending:        1024,
	}
}

// Validate reports the settings that cannot work, in words an operator can
// act on. It fills an empty Auth with AuthOff and lowers DefaultLimit to
// MaxLimit when it is above it.
func (c *Config) Validate() error {
	switch c.Auth {
	case AuthOff, AuthWrites, AuthAll:
	case "":
		c.Auth = AuthOff
	default:
		return fmt.Errorf("auth mode %q: use off, writes or all", c.Auth)
	}
	var errs []error
	pos := func(name string, v int) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive (got %d)", name, v))
		}
	}
	pos("max message bytes", c.MaxMessageBytes)
	pos("max subscriptions", c.MaxSubscriptions)
	pos("max filters", c.MaxFilters)
	pos("max limit", c.MaxLimit)
	pos("default limit", c.DefaultLimit)
	pos("max subscription id length", c.MaxSubIDLength)
	pos("max event tags", c.MaxEventTags)
	pos("max content length", c.MaxContentLength)
	pos("send queue", c.SendQueue)
	pos("max pending events", c.MaxPending)
	pos("max negentropy records", c.MaxNegRecords)
	if c.MaxMessageBytes > 0 && c.MaxMessageBytes < 4096 {
		errs = append(errs, fmt.Errorf("max message bytes %d is too small for ordinary events: use at least 4096", c.MaxMessageBytes))
	}
	if c.DefaultLimit > c.MaxLimit {
		// Lowering only the cap is a common change: the default follows it.
		c.DefaultLimit = c.MaxLimit
	}
	if c.MinPowDifficulty < 0 || c.MinPowDifficulty > 256 {
		errs = append(errs, fmt.Errorf("min pow difficulty %d: use 0 (off) to 256", c.MinPowDifficulty))
	}
	if c.EventsPerSecond < 0 || c.EventsPerSecondIP < 0 {
		errs = append(errs, errors.New("events per second cannot be negative (0 means unlimited)"))
	}
	if c.IdleTimeout <= 0 || c.PingInterval <= 0 {
		errs = append(errs, errors.New("idle timeout and ping interval must be positive durations"))
	}
	return errors.Join(errs...)
}
