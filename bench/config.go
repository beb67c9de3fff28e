package bench

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// Config sizes a relay benchmark run. Start from DefaultConfig or
// QuickConfig.
type Config struct {
	Events int // events in the query store
	Ingest int // events published per ingest run

	IngestConns []int // connection counts of the ingest runs
	Window      int   // EVENTs a client keeps outstanding per connection

	Subscriptions int // live subscriptions in the fan-out test
	SubsPerConn   int // subscriptions per connection (at most the relay's 32)
	FanoutRounds  int // events published, one at a time, in the fan-out test

	QuerySamples int // latency samples per query shape

	// StoreWriters are the goroutine counts of the store ceiling runs. The
	// store commits what is queued together, so more writers mean larger
	// commits: the relay has up to 256 EVENTs in flight per connection, and
	// its ceiling is the store at the same concurrency.
	StoreWriters []int
	FillWriters  int           // goroutines filling the query store
	CPUTime      time.Duration // how long each CPU ceiling (verify, decode) runs

	Engine string // store engine ("" = the store's default)
	// Dir holds the on-disk stores. Empty: a temporary directory, removed
	// afterwards. Given: the query store is kept there and reused by the next
	// run with the same engine and size, which skips the long fill.
	Dir string

	Seed     uint64
	Progress io.Writer // progress lines; nil discards them
}

// DefaultConfig is the full benchmark: a 1,000,000-event query store.
func DefaultConfig() Config {
	return Config{
		Events:        1_000_000,
		Ingest:        50_000,
		IngestConns:   []int{1, 64},
		Window:        1000,
		Subscriptions: 1000,
		SubsPerConn:   10,
		FanoutRounds:  50,
		QuerySamples:  500,
		StoreWriters:  []int{64, 1024},
		FillWriters:   512,
		CPUTime:       2 * time.Second,
		Seed:          1,
	}
}

// QuickConfig is a smoke run for CI: the same phases at small sizes.
func QuickConfig() Config {
	c := DefaultConfig()
	c.Events = 20_000
	c.Ingest = 5_000
	c.Subscriptions = 100
	c.FanoutRounds = 20
	c.QuerySamples = 100
	c.CPUTime = 300 * time.Millisecond
	return c
}

// maxSubsPerConn is the relay's default MaxSubscriptions.
const maxSubsPerConn = 32

// Validate reports settings that cannot run.
func (c Config) Validate() error {
	var errs []error
	pos := func(name string, v int) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive (got %d)", name, v))
		}
	}
	pos("events", c.Events)
	pos("ingest events", c.Ingest)
	pos("window", c.Window)
	pos("subscriptions", c.Subscriptions)
	pos("subscriptions per connection", c.SubsPerConn)
	pos("fan-out rounds", c.FanoutRounds)
	pos("query samples", c.QuerySamples)
	if len(c.StoreWriters) == 0 {
		errs = append(errs, errors.New("at least one store writer count is needed"))
	}
	for _, n := range c.StoreWriters {
		pos("store writers", n)
	}
	pos("fill writers", c.FillWriters)
	if len(c.IngestConns) == 0 {
		errs = append(errs, errors.New("at least one ingest connection count is needed"))
	}
	for _, n := range c.IngestConns {
		pos("ingest connections", n)
	}
	if c.SubsPerConn > maxSubsPerConn {
		errs = append(errs, fmt.Errorf("subscriptions per connection %d exceeds the relay's limit of %d", c.SubsPerConn, maxSubsPerConn))
	}
	if c.SubsPerConn > 0 && c.Subscriptions%c.SubsPerConn != 0 {
		errs = append(errs, fmt.Errorf("subscriptions (%d) must be a multiple of subscriptions per connection (%d)", c.Subscriptions, c.SubsPerConn))
	}
	if c.CPUTime <= 0 {
		errs = append(errs, errors.New("CPU ceiling time must be positive"))
	}
	return errors.Join(errs...)
}
