package p2p

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestUploadCap: a server capped at R bytes/s takes about size/R to serve
// size bytes, over several chunks and two concurrent clients, and an
// uncapped one is not slowed.
func TestUploadCap(t *testing.T) {
	const rate = 4 << 20
	srv := newHost(t, func(c *Config) { c.DHT = false; c.Limits.UploadBytesPerSecond = rate })
	cli1 := newHost(t, noDHT)
	cli2 := newHost(t, noDHT)
	connect(t, cli1, srv, TransportTCP)
	connect(t, cli2, srv, TransportTCP)
	var hashes [][32]byte
	for i := range 4 {
		data, _ := chunk(uint64(100+i), 1<<20)
		hashes = append(hashes, put(t, srv, data))
	}
	ctx := ctxTimeout(t, 30*time.Second)
	start := time.Now()
	errs := make(chan error, len(hashes))
	for i, h := range hashes {
		cli := cli1
		if i%2 == 1 {
			cli = cli2
		}
		go func() {
			_, err := cli.Fetch(ctx, srv.ID(), h, h)
			errs <- err
		}()
	}
	for range hashes {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	took := time.Since(start)
	sent := srv.Stats().Transports[TransportAll].BytesUp
	// The bucket starts full with a tenth of a second's worth.
	if least := time.Duration(float64(sent-rate/10) / rate * float64(time.Second)); took < least {
		t.Errorf("served %d bytes in %v at a cap of %d B/s, want at least %v", sent, took, rate, least)
	}
	t.Logf("served %d bytes in %v (%.2f MiB/s, cap %.2f MiB/s)", sent, took, float64(sent)/took.Seconds()/(1<<20), float64(rate)/(1<<20))
}

func TestUploadCapValidate(t *testing.T) {
	c := TestingConfig(t)
	c.Limits.UploadBytesPerSecond = -1
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "UploadBytesPerSecond") {
		t.Fatalf("negative cap: %v", err)
	}
	if newUploadLimiter(0) != nil {
		t.Fatal("a zero cap must be unlimited")
	}
	// A nil limiter never waits; a closed context ends a wait.
	if err := (*uploadLimiter)(nil).wait(context.Background(), 1<<30); err != nil {
		t.Fatal(err)
	}
	l := newUploadLimiter(1 << 10)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.wait(ctx, 1<<20); err == nil {
		t.Fatal("wait of 1 MiB at 1 KiB/s returned at once")
	}
}
