package node

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/cairn-nostr/cairn/relay"
)

// Config is everything a node needs. Start from DefaultConfig.
type Config struct {
	DataDir     string       // events, chunks and the key live here
	Listen      string       // host:port of the HTTP server (relay, web UI, API)
	KeyFile     string       // default: DataDir/key (created on first run)
	StoreEngine string       // "" for the default engine
	Relay       relay.Config // relay policy and limits
	Version     string
	// SweepInterval is how often expired (NIP-40) events are removed.
	SweepInterval Duration
}

// DefaultDataDir follows the XDG base directory spec: $XDG_DATA_HOME/cairn,
// else ~/.local/share/cairn.
func DefaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "cairn")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "cairn")
	}
	return "cairn-data"
}

// DefaultListen is a loopback address: a fresh node is private until its
// operator decides otherwise.
const DefaultListen = "127.0.0.1:7447"

// DefaultConfig returns a configuration that works on a fresh machine.
func DefaultConfig() Config {
	return Config{
		DataDir:       DefaultDataDir(),
		Listen:        DefaultListen,
		Relay:         relay.DefaultConfig(),
		SweepInterval: Duration(60e9),
	}
}

// Validate reports settings that cannot work.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data dir is empty: pass --data-dir"))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen address %q: want host:port, e.g. 127.0.0.1:7447", c.Listen))
	}
	if c.SweepInterval <= 0 {
		errs = append(errs, errors.New("sweep interval must be positive"))
	}
	if err := c.Relay.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("relay: %w", err))
	}
	return errors.Join(errs...)
}

// EventsDir is where the event store lives inside a data dir.
func EventsDir(dataDir string) string { return filepath.Join(dataDir, "events") }

func (c *Config) keyFile() string {
	if c.KeyFile != "" {
		return c.KeyFile
	}
	return filepath.Join(c.DataDir, "key")
}

// TestingConfig is a node for tests: loopback, port 0, a temporary data dir.
func TestingConfig(t testing.TB) Config {
	c := DefaultConfig()
	c.DataDir = t.TempDir()
	c.Listen = "127.0.0.1:0"
	c.Version = "test"
	return c
}
