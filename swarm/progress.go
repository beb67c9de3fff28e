package swarm

import (
	"time"

	"github.com/cairn-nostr/cairn/swarm/sched"
)

// Progress is a snapshot of a Download, for a progress bar and
// /api/status.
type Progress struct {
	// Chunks and Bytes are the content's; the Done ones are verified (a
	// chunk a transport hashed as it arrived counts before the blob store
	// has made it durable: see "Durability" in the package doc), Stored
	// those durable in the blob store, Resumed those found there at the
	// start.
	Chunks, ChunksDone, ChunksStored, ChunksResumed int
	Bytes, BytesDone                                int64
	// Received counts the bytes peers sent this download as they
	// arrived, including chunks still in flight, duplicates and corrupt
	// data; Wasted the bytes received but not used.
	Received, Wasted int64
	// Rate is the bytes received per second over the last few seconds;
	// ETA the bytes left at that rate (0 when unknown or done).
	Rate float64
	ETA  time.Duration
	// Elapsed is the time since the download started; FirstChunk the time
	// from the start to the first chunk it verified (0 until then).
	Elapsed, FirstChunk time.Duration
	// Peers is the number of peers, Active those with fetches in flight,
	// Banned those banned; Outstanding the fetches in flight.
	Peers, Active, Banned, Outstanding int
	// Transports counts verified bytes by transport name ("libp2p",
	// "webrtc", "http").
	Transports map[string]int64
	// Done: every chunk is verified. Err: why the download stopped
	// otherwise (ErrClosed, a blob store failure).
	Done bool
	Err  error
	// PeerStats is the scheduler's view of each peer.
	PeerStats []sched.PeerStats
}

// rateWindow is the span Progress.Rate is measured over.
const rateWindow = 5 * time.Second

// rateMeter keeps (time, bytes received) samples over the last rateWindow.
type rateMeter struct {
	samples []rateSample
}

type rateSample struct {
	t time.Time
	b int64
}

// add records a sample, dropping those no longer needed: it keeps the
// newest sample at least rateWindow old as the base.
func (m *rateMeter) add(t time.Time, b int64) {
	if n := len(m.samples); n > 0 && t.Sub(m.samples[n-1].t) < 100*time.Millisecond {
		return
	}
	m.samples = append(m.samples, rateSample{t, b})
	cut := t.Add(-rateWindow)
	k := 0
	for k+1 < len(m.samples) && !m.samples[k+1].t.After(cut) {
		k++
	}
	m.samples = m.samples[k:]
}

// rate is the rate from the oldest sample kept to (t, b).
func (m *rateMeter) rate(t time.Time, b int64) float64 {
	if len(m.samples) == 0 {
		return 0
	}
	base := m.samples[0]
	dt := t.Sub(base.t).Seconds()
	if dt <= 0 {
		return 0
	}
	return float64(b-base.b) / dt
}

// snapshot builds a Progress; loop goroutine only.
func (d *Download) snapshot() Progress {
	sp := d.s.Progress()
	now := time.Now()
	recv := d.received.Load()
	d.meter.add(now, recv)
	p := Progress{
		Chunks:        sp.Chunks,
		ChunksDone:    sp.ChunksDone,
		ChunksStored:  d.stored.Count(),
		ChunksResumed: d.resumed,
		Bytes:         sp.Bytes,
		BytesDone:     sp.BytesDone,
		Received:      recv,
		Wasted:        sp.Wasted,
		Elapsed:       now.Sub(d.started),
		FirstChunk:    d.firstChunk,
		Peers:         sp.Peers,
		Active:        sp.Active,
		Banned:        sp.Banned,
		Outstanding:   sp.Outstanding,
		Transports:    make(map[string]int64, len(d.byName)),
		Done:          sp.Done,
		PeerStats:     sp.PeerStats,
	}
	for k, v := range d.byName {
		p.Transports[k] = v
	}
	if !p.Done {
		p.Rate = d.meter.rate(now, recv)
		if left := p.Bytes - p.BytesDone; p.Rate > 0 && left > 0 {
			p.ETA = time.Duration(float64(left) / p.Rate * float64(time.Second))
		}
	}
	return p
}
