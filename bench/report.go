package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"text/tabwriter"
	"time"
)

// Report is the outcome of a run: every figure, and the machine it ran on.
type Report struct {
	Bench    string            `json:"bench,omitempty"` // "" (relay), "transfer" or "blossom"
	Started  time.Time         `json:"started"`
	Seconds  float64           `json:"seconds"`
	Machine  Machine           `json:"machine"`
	Settings Settings          `json:"settings"`
	Transfer *TransferSettings `json:"transfer,omitempty"`
	Blossom  *BlossomSettings  `json:"blossom,omitempty"`
	Figures  []Figure          `json:"figures"`
}

// Machine describes where the figures were measured.
type Machine struct {
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	GoVersion  string `json:"go_version"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	Signatures string `json:"signatures"` // the Schnorr backend of this build
	Engine     string `json:"engine"`     // the store engine
	// LoadStart and LoadEnd are the load averages (1, 5, 15 min) when the
	// run started and ended: how busy the machine's other tenants were.
	LoadStart string `json:"load_start,omitempty"`
	LoadEnd   string `json:"load_end,omitempty"`
}

// Settings are the sizes the run used.
type Settings struct {
	Events        int   `json:"events"`
	Ingest        int   `json:"ingest"`
	IngestConns   []int `json:"ingest_conns"`
	Window        int   `json:"window"`
	Subscriptions int   `json:"subscriptions"`
	SubsPerConn   int   `json:"subs_per_conn"`
	FanoutRounds  int   `json:"fanout_rounds"`
	QuerySamples  int   `json:"query_samples"`
	StoreWriters  []int `json:"store_writers"`
}

// Figure groups.
const (
	GroupCeiling = "ceiling" // what this machine can do at best, measured in the run
	GroupResult  = "result"  // the relay, as a ratio of a ceiling
	GroupContext = "context" // figures that explain the others
)

// Figure is one measurement. For a result, Ratio is the fraction of its
// ceiling reached, 1 meaning "as fast as the ceiling": value/ceiling for a
// rate, ceiling/value for a latency.
type Figure struct {
	Group        string  `json:"group"`
	Key          string  `json:"key"`
	Name         string  `json:"name"`
	Value        float64 `json:"value"`
	Unit         string  `json:"unit"`
	Ceiling      string  `json:"ceiling,omitempty"` // what the ratio compares with
	CeilingValue float64 `json:"ceiling_value,omitempty"`
	Ratio        float64 `json:"ratio,omitempty"`
	Aim          string  `json:"aim,omitempty"`
	AimMet       *bool   `json:"aim_met,omitempty"`
}

// Figure returns the figure with key, or false.
func (r *Report) Figure(key string) (Figure, bool) {
	for _, f := range r.Figures {
		if f.Key == key {
			return f, true
		}
	}
	return Figure{}, false
}

func (r *Report) add(f Figure) { r.Figures = append(r.Figures, f) }

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report as aligned text.
func (r *Report) WriteTable(w io.Writer) error {
	m := r.Machine
	name := r.Bench
	if name == "" {
		name = "relay"
	}
	fmt.Fprintf(w, "cairn %s benchmark, %s, %.0f s\n", name, r.Started.Format(time.RFC3339), r.Seconds)
	fmt.Fprintf(w, "machine: %d CPUs (GOMAXPROCS %d), %s/%s, %s; signatures: %s; store engine: %s\n",
		m.CPUs, m.GOMAXPROCS, m.OS, m.Arch, m.GoVersion, m.Signatures, m.Engine)
	if m.LoadStart != "" {
		fmt.Fprintf(w, "load average: %s at the start, %s at the end\n", m.LoadStart, m.LoadEnd)
	}
	if b := r.Blossom; b != nil {
		fmt.Fprintf(w, "sizes: a %s-byte blob of random bytes, best of %d rounds\n\n", groupThousands(b.Size), b.Rounds)
	} else if t := r.Transfer; t != nil {
		fmt.Fprintf(w, "sizes: a %s-byte file in %d chunks, seeders %v, best of %d rounds\n\n",
			groupThousands(t.Size), t.Chunks, t.Seeders, t.Rounds)
	} else {
		s := r.Settings
		fmt.Fprintf(w, "sizes: query store %s events, ingest %s events per run, %s subscriptions (%d per connection), %d fan-out rounds, %d query samples\n\n",
			groupThousands(int64(s.Events)), groupThousands(int64(s.Ingest)), groupThousands(int64(s.Subscriptions)),
			s.SubsPerConn, s.FanoutRounds, s.QuerySamples)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	titles := map[string]string{GroupCeiling: "CEILINGS", GroupResult: "RESULTS", GroupContext: "CONTEXT"}
	for _, group := range []string{GroupCeiling, GroupResult, GroupContext} {
		fmt.Fprintf(tw, "%s\tvalue\tunit\tceiling\tratio\taim\t\n", titles[group])
		for _, f := range r.Figures {
			if f.Group != group {
				continue
			}
			ceiling, ratio, aim := "", "", f.Aim
			if f.Ceiling != "" {
				ceiling = formatValue(f.CeilingValue, f.Unit) + " (" + f.Ceiling + ")"
				ratio = fmt.Sprintf("%.2f", f.Ratio)
			}
			if f.AimMet != nil {
				aim += map[bool]string{true: ": met", false: ": MISSED"}[*f.AimMet]
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", f.Name, formatValue(f.Value, f.Unit), f.Unit, ceiling, ratio, aim)
		}
		fmt.Fprintf(tw, "\t\t\t\t\t\t\n")
	}
	return tw.Flush()
}

// progress writes timestamped progress lines.
type progress struct {
	w     io.Writer
	start time.Time
	mu    sync.Mutex
}

func (p *progress) printf(format string, args ...any) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "bench %6.1fs: %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

// every prints line(elapsed) every interval until the returned stop is called.
func (p *progress) every(interval time.Duration, line func(elapsed time.Duration) string) (stop func()) {
	if p.w == nil {
		return func() {}
	}
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				p.printf("%s", line(time.Since(start)))
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
