package sched

import (
	"errors"
	"fmt"
	"time"
)

// Config holds the scheduler's knobs. The zero value of every field means
// its default, so Config{} is a valid configuration; Validate reports a
// setting that cannot work.
type Config struct {
	// Window is how many chunks from the playhead on are fetched first, in
	// playback order, each from the peer expected to deliver it soonest.
	// Default 3; negative disables the window (plain rarest first).
	//
	// A chunk entering the window is needed (Window-1) chunk durations
	// later, and the best peer delivers it after its queue (up to its
	// depth) and its own transfer time. For smooth playback choose Window
	// so that (Window-1) x duration exceeds (depth+1) x chunk transfer time:
	// with 2-second chunks of 5 MiB and peers at 2 MiB/s, 5 (the
	// simulation stalls with 3, not with 5).
	Window int

	// MinDepth and MaxDepth bound how many requests may be outstanding at
	// one peer (its pipeline depth). Between them the depth grows with the
	// peer's measured rate: MinDepth + rate*DepthWindow/meanChunkSize.
	// A peer that just timed out gets depth 1 until it delivers again.
	// Defaults 2, 4 and 1 s.
	MinDepth    int
	MaxDepth    int
	DepthWindow time.Duration

	// MaxRequests bounds the requests outstanding over all peers.
	// Default 128: with 5 MiB chunks, enough for some 50 peers at depth 2.
	MaxRequests int

	// RequestRate and RequestBurst shape a token bucket per peer (kept as
	// a GCRA on integer nanoseconds). Defaults 10/s and 1: requests to one
	// peer are at least 100 ms apart, so Entropy's fixed one-second window
	// of 10 requests is never exceeded.
	RequestRate  float64
	RequestBurst int

	// Timeout is how long a request may go without its peer delivering
	// anything: its clock starts when it is sent or, if the peer delivered
	// something since, at the peer's latest delivery, so that pipelined
	// requests queued behind others are not timed out. Default 15 s
	// (Entropy's request timeout).
	Timeout time.Duration
	// AdaptiveTimeout replaces Timeout, once a peer's rate is measured, by
	// TimeoutFactor times the chunk's expected transfer time at that rate,
	// clamped to [MinTimeout, MaxTimeout]. Defaults 4, 5 s and 60 s (the
	// wire's idle timeout).
	AdaptiveTimeout bool
	TimeoutFactor   float64
	MinTimeout      time.Duration
	MaxTimeout      time.Duration

	// MaxStrikes failed verifications ban a peer for BanDuration; the ban
	// lifts by itself and resets the strikes. Defaults 3 and 30 min.
	MaxStrikes  int
	BanDuration time.Duration

	// Backoff is the first pause after a BUSY answer or a timeout; each
	// further one in a row doubles it, up to MaxBackoff. A delivered chunk
	// resets the ladder. Defaults 1 s and 30 s.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// CreditBackoff is the pause after an INSUFFICIENT_CREDIT refusal.
	// Default 5 min.
	CreditBackoff time.Duration

	// InitialRate (bytes/s) is assumed for a peer until its rate is
	// measured. Default 1 MiB/s.
	InitialRate float64
	// RateAlpha is the weight of the newest sample in a peer's rate
	// estimate (an exponentially weighted ratio of bytes over busy time).
	// Default 0.3.
	RateAlpha float64

	// EndgameCopies bounds how many peers may be asked for the same chunk
	// at once, in endgame and for window chunks stuck at a slow peer.
	// Default 2; 1 disables duplicate requests.
	EndgameCopies int

	// Seed seeds the tie-breaks between equally rare chunks.
	Seed uint64
	// InOrder breaks those ties by file order instead: for a download
	// written to a file as it arrives, whose chunks are then written and
	// hashed in order from memory. Seed is then unused.
	InOrder bool

	// Score, when set, orders peers of equal rate (before it is measured,
	// every peer's is InitialRate): the higher score is asked first,
	// ties by ID. The node scores by reputation (credit/rep). It is
	// called while scheduling and must be quick, must not block and must
	// not call the scheduler.
	Score func(PeerID) float64
}

// Defaults.
const (
	DefaultWindow        = 3
	DefaultMinDepth      = 2
	DefaultMaxDepth      = 4
	DefaultDepthWindow   = time.Second
	DefaultMaxRequests   = 128
	DefaultRequestRate   = 10
	DefaultRequestBurst  = 1
	DefaultTimeout       = 15 * time.Second
	DefaultTimeoutFactor = 4
	DefaultMinTimeout    = 5 * time.Second
	DefaultMaxTimeout    = 60 * time.Second
	DefaultMaxStrikes    = 3
	DefaultBanDuration   = 30 * time.Minute
	DefaultBackoff       = time.Second
	DefaultMaxBackoff    = 30 * time.Second
	DefaultCreditBackoff = 5 * time.Minute
	DefaultInitialRate   = 1 << 20
	DefaultRateAlpha     = 0.3
	DefaultEndgameCopies = 2
)

// ErrConfig is wrapped by every Validate and New refusal.
var ErrConfig = errors.New("sched: invalid config")

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	def := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	defInt := func(p *int, d int) {
		if *p == 0 {
			*p = d
		}
	}
	defF := func(p *float64, d float64) {
		if *p == 0 {
			*p = d
		}
	}
	defInt(&c.Window, DefaultWindow)
	defInt(&c.MinDepth, DefaultMinDepth)
	defInt(&c.MaxDepth, max(DefaultMaxDepth, c.MinDepth))
	def(&c.DepthWindow, DefaultDepthWindow)
	defInt(&c.MaxRequests, DefaultMaxRequests)
	defF(&c.RequestRate, DefaultRequestRate)
	defInt(&c.RequestBurst, DefaultRequestBurst)
	def(&c.Timeout, DefaultTimeout)
	defF(&c.TimeoutFactor, DefaultTimeoutFactor)
	def(&c.MinTimeout, DefaultMinTimeout)
	def(&c.MaxTimeout, max(DefaultMaxTimeout, c.MinTimeout))
	defInt(&c.MaxStrikes, DefaultMaxStrikes)
	def(&c.BanDuration, DefaultBanDuration)
	def(&c.Backoff, DefaultBackoff)
	def(&c.MaxBackoff, max(DefaultMaxBackoff, c.Backoff))
	def(&c.CreditBackoff, DefaultCreditBackoff)
	defF(&c.InitialRate, DefaultInitialRate)
	defF(&c.RateAlpha, DefaultRateAlpha)
	defInt(&c.EndgameCopies, DefaultEndgameCopies)
	return c
}

// Validate reports a setting that cannot work, once defaults are applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	var bad []string
	check := func(ok bool, msg string, args ...any) {
		if !ok {
			bad = append(bad, fmt.Sprintf(msg, args...))
		}
	}
	check(c.MinDepth >= 1, "MinDepth %d < 1", c.MinDepth)
	check(c.MaxDepth >= c.MinDepth, "MaxDepth %d < MinDepth %d", c.MaxDepth, c.MinDepth)
	check(c.DepthWindow > 0, "DepthWindow %v <= 0", c.DepthWindow)
	check(c.MaxRequests >= 1, "MaxRequests %d < 1", c.MaxRequests)
	check(c.RequestRate > 0 && c.RequestRate <= 1e6, "RequestRate %g outside (0, 1e6]", c.RequestRate)
	check(c.RequestBurst >= 1, "RequestBurst %d < 1", c.RequestBurst)
	check(c.Timeout > 0, "Timeout %v <= 0", c.Timeout)
	check(c.TimeoutFactor > 0, "TimeoutFactor %g <= 0", c.TimeoutFactor)
	check(c.MinTimeout > 0 && c.MaxTimeout >= c.MinTimeout, "timeout bounds [%v, %v] invalid", c.MinTimeout, c.MaxTimeout)
	check(c.MaxStrikes >= 1, "MaxStrikes %d < 1", c.MaxStrikes)
	check(c.BanDuration > 0, "BanDuration %v <= 0", c.BanDuration)
	check(c.Backoff > 0 && c.MaxBackoff >= c.Backoff, "backoff bounds [%v, %v] invalid", c.Backoff, c.MaxBackoff)
	check(c.CreditBackoff > 0, "CreditBackoff %v <= 0", c.CreditBackoff)
	check(c.InitialRate > 0, "InitialRate %g <= 0", c.InitialRate)
	check(c.RateAlpha > 0 && c.RateAlpha <= 1, "RateAlpha %g outside (0, 1]", c.RateAlpha)
	check(c.EndgameCopies >= 1, "EndgameCopies %d < 1", c.EndgameCopies)
	if len(bad) > 0 {
		return fmt.Errorf("%w: %v", ErrConfig, bad)
	}
	return nil
}
