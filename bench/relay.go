// Package bench measures cairn's relay on loopback and reports each figure
// as a ratio of a ceiling measured in the same run (signature checks per
// second on every core, durable store writes per second, a plain websocket
// server moving the same bytes), so that runs on a shared, noisy machine can
// still be compared: a neighbour that slows the relay slows its ceiling too.
//
// The caller's whole loop:
//
//	cfg := bench.DefaultConfig() // or QuickConfig for a CI smoke run
//	cfg.Progress = os.Stderr
//	rep, err := bench.RunRelay(ctx, cfg)
//	rep.WriteTable(os.Stdout)   // or rep.WriteJSON
//
// Clients and relay share one process and the machine's cores. The client
// side is kept cheap (events signed and encoded before the clock starts,
// replies counted rather than decoded) but is not free, so the figures
// understate a relay whose clients are elsewhere. Context figures give what
// varies less with the neighbours than a wall-clock rate: CPU time per
// event, time spent waiting for a CPU, and bytes written to disk per event.
package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/node"
	"github.com/cairn-nostr/cairn/store"
)

// RunRelay runs the relay benchmark: ceilings, ingest, fan-out, queries.
func RunRelay(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := (store.Options{Engine: cfg.Engine}).Validate(); err != nil {
		return nil, err
	}
	b := &run{cfg: cfg, prog: &progress{w: cfg.Progress, start: time.Now()}}
	b.rep = &Report{
		Started: time.Now(),
		Machine: Machine{
			CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
			OS: runtime.GOOS, Arch: runtime.GOARCH, Signatures: signatureBackend, Engine: engineName(cfg.Engine),
			LoadStart: loadAverage(),
		},
		Settings: Settings{
			Events: cfg.Events, Ingest: cfg.Ingest, IngestConns: cfg.IngestConns, Window: cfg.Window,
			Subscriptions: cfg.Subscriptions, SubsPerConn: cfg.SubsPerConn, FanoutRounds: cfg.FanoutRounds,
			QuerySamples: cfg.QuerySamples, StoreWriters: cfg.StoreWriters,
		},
	}
	var err error
	b.root = cfg.Dir
	if b.root == "" {
		if b.root, err = os.MkdirTemp("", "cairn-bench-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(b.root)
	} else if err := os.MkdirAll(b.root, 0o700); err != nil {
		return nil, err
	}
	b.corpus = newCorpus(cfg.Seed, cfg.Events, time.Now())

	for _, phase := range []func(context.Context) error{b.prepare, b.ceilings, b.relayPhases, b.queryPhase} {
		if err := phase(ctx); err != nil {
			return nil, err
		}
	}
	b.rep.Seconds = time.Since(b.rep.Started).Seconds()
	b.rep.Machine.LoadEnd = loadAverage()
	b.prog.printf("done")
	return b.rep, nil
}

// engineName is the engine store.Open picks for name.
func engineName(name string) string {
	switch {
	case name != "":
		return name
	case slices.Contains(store.Engines(), store.DefaultEngine):
		return store.DefaultEngine
	}
	return store.EngineBbolt
}

// run is one benchmark run's state, passed from phase to phase.
type run struct {
	cfg    Config
	prog   *progress
	rep    *Report
	root   string
	corpus *corpus

	ingestEvs               [][]*nostr.Event // one set per ingest run, and one for the big store
	ingestMsgs              [][][]byte       // the same, encoded as EVENT messages
	fanEphemeral, fanStored [][]byte
	fanRaw                  []byte // the JSON of a stored fan-out event

	verifyRate   float64
	verifyCPU    float64 // µs of CPU per signature check
	storeRate    float64 // the best of the store ceiling runs
	storeWriters int     // ... and its writer count
	singleSave   Latency
}

// signingKeys is how many authors sign the ingest events.
const signingKeys = 64

// prepare signs and encodes every event the clients will send, before any
// clock starts: signing is the client's cost, not the relay's.
func (b *run) prepare(ctx context.Context) error {
	cfg := b.cfg
	keys := make([]string, signingKeys)
	for i := range keys {
		keys[i] = nostr.GeneratePrivateKey()
	}
	sets := len(cfg.IngestConns) + 1 // the last is published into the query store
	n := cfg.Ingest * sets
	b.prog.printf("signing %s events (ingest and fan-out)", groupThousands(int64(n+2*cfg.FanoutRounds)))
	oldest := b.corpus.newest - int64(n+cfg.FanoutRounds) - 60
	evs, err := signedEvents(ctx, b.corpus, keys, n, oldest, cfg.Seed+1, nil)
	if err != nil {
		return err
	}
	for k := range sets {
		set := evs[k*cfg.Ingest : (k+1)*cfg.Ingest]
		msgs, err := eventMsgs(set)
		if err != nil {
			return err
		}
		b.ingestEvs = append(b.ingestEvs, set)
		b.ingestMsgs = append(b.ingestMsgs, msgs)
	}
	tagged := func(kind int) func(*nostr.Event) {
		return func(ev *nostr.Event) {
			ev.Kind = kind
			ev.Tags = nostr.Tags{{"t", fanoutTag}}
			ev.Content = "fan-out " + ev.Content
		}
	}
	stored, err := signedEvents(ctx, b.corpus, keys, cfg.FanoutRounds, oldest+int64(n), cfg.Seed+2, tagged(nostr.KindTextNote))
	if err != nil {
		return err
	}
	ephemeral, err := signedEvents(ctx, b.corpus, keys, cfg.FanoutRounds, oldest+int64(n), cfg.Seed+3, tagged(20001))
	if err != nil {
		return err
	}
	if b.fanStored, err = eventMsgs(stored); err != nil {
		return err
	}
	if b.fanEphemeral, err = eventMsgs(ephemeral); err != nil {
		return err
	}
	b.fanRaw, err = stored[0].MarshalJSON()
	return err
}

// ceilings measures what the machine does at best with no relay in front.
func (b *run) ceilings(ctx context.Context) (err error) {
	cfg := b.cfg
	verifyEvs := b.ingestEvs[0][:min(cfg.Ingest, 2000)]
	if b.verifyRate, b.verifyCPU, err = b.verify(ctx, verifyEvs); err != nil {
		return err
	}
	b.rep.add(Figure{Group: GroupCeiling, Key: "verify", Name: "Schnorr signature checks, all cores", Value: b.verifyRate, Unit: "checks/s"})
	b.rep.add(Figure{Group: GroupCeiling, Key: "verify_cpu", Name: "CPU time per signature check", Value: b.verifyCPU, Unit: "µs"})

	raws := make([][]byte, len(verifyEvs))
	for i, ev := range verifyEvs {
		raws[i], _ = ev.MarshalJSON()
	}
	b.prog.printf("ceiling: JSON decoding on %d cores for %s", runtime.GOMAXPROCS(0), cfg.CPUTime)
	decode, err := decodeRate(ctx, raws, cfg.CPUTime)
	if err != nil {
		return err
	}
	b.rep.add(Figure{Group: GroupCeiling, Key: "decode", Name: "event JSON decodes (go-nostr easyjson), all cores", Value: decode, Unit: "decodes/s"})

	// The store ceiling saves the events the relay will be sent (each run
	// into a fresh store): the same sizes, tags and time order.
	singles := b.ingestEvs[1][:min(50, cfg.Ingest)]
	for k, writers := range cfg.StoreWriters {
		b.prog.printf("ceiling: %s durable store writes from %d goroutines, then %d one at a time",
			groupThousands(int64(cfg.Ingest)), writers, len(singles))
		u, single, err := b.storeCeiling(ctx, b.ingestEvs[0], singles, writers)
		if err != nil {
			return err
		}
		rate := Rate(cfg.Ingest, u.wall)
		key, name := fmt.Sprintf("store_writes_%d", writers), fmt.Sprintf("durable store writes, %d writers, no relay", writers)
		b.rep.add(Figure{Group: GroupCeiling, Key: key, Name: name, Value: rate, Unit: "events/s"})
		b.addUsage(key, name, u, cfg.Ingest, 0)
		if rate > b.storeRate {
			b.storeRate, b.storeWriters = rate, writers
		}
		if k == 0 {
			b.singleSave = single
		}
	}
	b.rep.add(Figure{Group: GroupCeiling, Key: "store_save_p50", Name: "one durable store write alone, p50", Value: Millis(b.singleSave.P50), Unit: "ms"})
	return nil
}

// storeCeiling runs storeCeiling on a fresh store in a directory of its own.
func (b *run) storeCeiling(ctx context.Context, bulk, singles []*nostr.Event, writers int) (usage, Latency, error) {
	dir, err := os.MkdirTemp(b.root, "store-ceiling-")
	if err != nil {
		return usage{}, Latency{}, err
	}
	defer os.RemoveAll(dir)
	return storeCeiling(ctx, dir, b.cfg.Engine, bulk, singles, writers)
}

// verify measures the signature ceiling: checks per second, and CPU
// microseconds per check.
func (b *run) verify(ctx context.Context, evs []*nostr.Event) (float64, float64, error) {
	b.prog.printf("ceiling: signature checks on %d cores for %s", runtime.GOMAXPROCS(0), b.cfg.CPUTime)
	return verifyRate(ctx, evs, b.cfg.CPUTime)
}

// startNode starts a node on loopback with rate limits off.
func startNode(dir, engine string) (*node.Node, error) {
	cfg := node.DefaultConfig()
	cfg.DataDir = dir
	cfg.Listen = "127.0.0.1:0"
	cfg.StoreEngine = engine
	cfg.Version = "bench"
	cfg.Relay.EventsPerSecond = 0
	cfg.Relay.EventsPerSecondIP = 0
	// The relay alone is measured: libp2p on free loopback ports (never
	// the default 4848 a real node on this machine may hold), no DHT.
	cfg.P2P.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.P2P.DHT = false
	benchLocal(&cfg)
	n, err := node.New(cfg, nil)
	if err != nil {
		return nil, fmt.Errorf("creating the benchmark node: %w", err)
	}
	if err := n.Start(); err != nil {
		n.Stop(context.Background())
		return nil, fmt.Errorf("starting the benchmark node: %w", err)
	}
	return n, nil
}

func stopNode(n *node.Node) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return n.Stop(ctx)
}

// relayPhases runs the ingest runs and then the fan-out on one fresh node.
func (b *run) relayPhases(ctx context.Context) (err error) {
	cfg := b.cfg
	dir, err := os.MkdirTemp(b.root, "ingest-node-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	n, err := startNode(dir, cfg.Engine)
	if err != nil {
		return err
	}
	defer func() {
		if serr := stopNode(n); err == nil && serr != nil {
			err = serr
		}
	}()

	for k, conns := range cfg.IngestConns {
		b.prog.printf("ingest: %s signed events over %d connection(s), window %d", groupThousands(int64(cfg.Ingest)), conns, cfg.Window)
		res, verify, verifyCPU, err := b.ingestBetweenCeilings(ctx, n.RelayURL(), b.ingestMsgs[k], conns)
		if err != nil {
			return err
		}
		rate := Rate(res.accepted, res.elapsed)
		key := fmt.Sprintf("ingest_%d", conns)
		name := fmt.Sprintf("ingest, %d connection(s), OK true", conns)
		b.rep.add(Figure{Group: GroupResult, Key: key, Name: name, Value: rate, Unit: "events/s",
			Ceiling: "signature checks, just before and after", CeilingValue: verify, Ratio: RateRatio(rate, verify), Aim: "ratio >= 0.5", AimMet: met(RateRatio(rate, verify) >= 0.5)})
		b.rep.add(Figure{Group: GroupContext, Key: key + "_vs_store", Name: name + ", of the store ceiling", Value: rate, Unit: "events/s",
			Ceiling: fmt.Sprintf("store writes, %d writers", b.storeWriters), CeilingValue: b.storeRate, Ratio: RateRatio(rate, b.storeRate)})
		b.addUsage(key, fmt.Sprintf("ingest, %d connection(s)", conns), res.usage, res.accepted, verifyCPU)
	}

	b.prog.printf("fan-out: %s subscriptions over %d connections, %d rounds", groupThousands(int64(cfg.Subscriptions)), cfg.Subscriptions/cfg.SubsPerConn, cfg.FanoutRounds)
	fr, err := fanout(ctx, n.RelayURL(), b.fanEphemeral, b.fanStored, b.fanRaw, cfg.Subscriptions, cfg.SubsPerConn)
	if err != nil {
		return err
	}
	b.addFanout(fr)
	return nil
}

// ingestBetweenCeilings runs one ingest between two measures of the
// signature ceiling, and returns the ceiling as their mean (checks/s, and
// CPU µs per check): on a shared machine the load moves within seconds, and
// a ceiling taken minutes apart from the figure would say more about the
// neighbours than about the relay.
func (b *run) ingestBetweenCeilings(ctx context.Context, url string, msgs [][]byte, conns int) (ingestResult, float64, float64, error) {
	evs := b.ingestEvs[0][:min(b.cfg.Ingest, 2000)]
	before, beforeCPU, err := b.verify(ctx, evs)
	if err != nil {
		return ingestResult{}, 0, 0, err
	}
	res, err := b.ingest(ctx, url, msgs, conns)
	if err != nil {
		return res, 0, 0, err
	}
	after, afterCPU, err := b.verify(ctx, evs)
	return res, (before + after) / 2, (beforeCPU + afterCPU) / 2, err
}

// ingest runs one ingest; every event must be accepted.
func (b *run) ingest(ctx context.Context, url string, msgs [][]byte, conns int) (ingestResult, error) {
	res, err := ingest(ctx, url, msgs, conns, b.cfg.Window)
	if err != nil {
		return res, err
	}
	if res.refused > 0 {
		return res, fmt.Errorf("ingest over %d connections: the relay refused %d events, the first with %q", conns, res.refused, res.refusal)
	}
	return res, nil
}

// addUsage adds context figures on what a phase of n events used: CPU per
// event (against checkCPU, the CPU µs of a signature check, if not 0), CPU
// busy, time waiting for a CPU, and bytes written per event (store pages;
// sockets add about 1 KiB per ingested event).
func (b *run) addUsage(key, name string, u usage, n int, checkCPU float64) {
	f := Figure{Group: GroupContext, Key: key + "_cpu", Name: name + ": CPU per event (relay and clients)", Value: u.cpuPer(n), Unit: "µs"}
	if checkCPU > 0 && f.Value > 0 {
		f.Ceiling, f.CeilingValue, f.Ratio = "CPU per signature check", checkCPU, checkCPU/f.Value
	}
	b.rep.add(f)
	b.rep.add(Figure{Group: GroupContext, Key: key + "_busy", Name: name + ": CPU busy", Value: u.busy(), Unit: "% of cores"})
	if w := u.starved(); w >= 0 {
		b.rep.add(Figure{Group: GroupContext, Key: key + "_starved", Name: name + ": runnable, waiting for a CPU", Value: w, Unit: "% of cores"})
	}
	if w := u.writtenPer(n); w >= 0 {
		b.rep.add(Figure{Group: GroupContext, Key: key + "_written", Name: name + ": bytes written per event (write calls)", Value: w, Unit: "KiB"})
	}
}

func (b *run) addFanout(fr fanoutResult) {
	subs := b.cfg.Subscriptions
	raw, eph, sto, ok := Summarize(fr.raw), Summarize(fr.ephemeral), Summarize(fr.stored), Summarize(fr.storedOK)
	label := groupThousands(int64(subs)) + " subs"
	b.rep.add(Figure{Group: GroupCeiling, Key: "fanout_raw_p50", Name: "plain websocket fan-out, same messages, p50", Value: Millis(raw.P50), Unit: "ms"})
	b.rep.add(Figure{Group: GroupCeiling, Key: "fanout_raw_p99", Name: "plain websocket fan-out, same messages, p99", Value: Millis(raw.P99), Unit: "ms"})
	lat := func(key, name string, v, c time.Duration, ceiling string) {
		b.rep.add(Figure{Group: GroupResult, Key: key, Name: name, Value: Millis(v), Unit: "ms",
			Ceiling: ceiling, CeilingValue: Millis(c), Ratio: LatencyRatio(v, c)})
	}
	lat("fanout_ephemeral_p50", "fan-out to "+label+", ephemeral event, p50", eph.P50, raw.P50, "plain fan-out")
	lat("fanout_ephemeral_p99", "fan-out to "+label+", ephemeral event, p99", eph.P99, raw.P99, "plain fan-out")
	rawRate, ephRate := Rate(subs*raw.N, raw.Mean*time.Duration(raw.N)), Rate(subs*eph.N, eph.Mean*time.Duration(eph.N))
	b.rep.add(Figure{Group: GroupResult, Key: "fanout_deliveries", Name: "fan-out deliveries, ephemeral event", Value: ephRate, Unit: "deliveries/s",
		Ceiling: "plain fan-out", CeilingValue: rawRate, Ratio: RateRatio(ephRate, rawRate)})
	lat("fanout_stored_p50", "fan-out to "+label+", stored kind 1 event, p50", sto.P50, raw.P50+b.singleSave.P50, "plain fan-out + one durable write")
	lat("fanout_stored_p99", "fan-out to "+label+", stored kind 1 event, p99", sto.P99, raw.P99+b.singleSave.P99, "plain fan-out + one durable write")
	b.rep.add(Figure{Group: GroupContext, Key: "fanout_stored_ok_p50", Name: "stored kind 1 event: EVENT sent to OK received, p50", Value: Millis(ok.P50), Unit: "ms"})
	b.rep.add(Figure{Group: GroupContext, Key: "fanout_delivery_cost", Name: "relay time per delivery (ephemeral p50 / subs)", Value: float64(eph.P50) / float64(subs) / 1e3, Unit: "µs"})
}

// queryPhase fills (or reuses) the query store and times the queries.
func (b *run) queryPhase(ctx context.Context) (err error) {
	cfg := b.cfg
	dir := filepath.Join(b.root, fmt.Sprintf("query-%s-%d", engineName(cfg.Engine), cfg.Events))
	n, err := startNode(dir, cfg.Engine)
	if err != nil {
		return err
	}
	defer func() {
		if serr := stopNode(n); err == nil && serr != nil {
			err = serr
		}
	}()
	st := n.Store()
	if have := st.Stats().Events; have >= int64(cfg.Events) {
		b.prog.printf("query store: reusing %s events in %s", groupThousands(have), dir)
	} else {
		b.prog.printf("query store: filling %s events from %d goroutines into %s", groupThousands(int64(cfg.Events)), cfg.FillWriters, dir)
		u, err := fill(ctx, st, b.corpus, cfg.Events, cfg.FillWriters, cfg.Seed, b.prog)
		if err != nil {
			return err
		}
		// A new store is not empty: the node stores its own cairn-p2p
		// record at start. The rate counts the events filled here.
		name := fmt.Sprintf("query store fill, %d writers, to %s events", cfg.FillWriters, groupThousands(int64(cfg.Events)))
		b.rep.add(Figure{Group: GroupContext, Key: "fill", Name: name, Value: Rate(cfg.Events, u.wall), Unit: "events/s"})
		b.addUsage("fill", "query store fill", u, cfg.Events, 0)
	}
	if s := st.Stats(); s.Events > 0 {
		b.rep.add(Figure{Group: GroupContext, Key: "disk_per_event", Name: "query store size on disk per event", Value: float64(s.DiskBytes) / float64(s.Events), Unit: "bytes"})
	}

	shapes := queryShapes(b.corpus)
	b.prog.printf("queries: %d samples of each of %d shapes (store, relay, plain websocket)", cfg.QuerySamples, len(shapes))
	results, err := queries(ctx, st, n.RelayURL(), shapes, cfg.QuerySamples, min(20, cfg.QuerySamples), cfg.Seed+4)
	if err != nil {
		return err
	}
	for i, sh := range shapes {
		r := results[i]
		s, w, raw := Summarize(r.store), Summarize(r.ws), Summarize(r.raw)
		k := "query_" + sh.key
		b.rep.add(Figure{Group: GroupCeiling, Key: k + "_store_p50", Name: "store.Query, " + sh.name + ", p50", Value: Millis(s.P50), Unit: "ms"})
		b.rep.add(Figure{Group: GroupCeiling, Key: k + "_store_p99", Name: "store.Query, " + sh.name + ", p99", Value: Millis(s.P99), Unit: "ms"})
		b.rep.add(Figure{Group: GroupCeiling, Key: k + "_plain_p50", Name: "plain websocket, same response, " + sh.name + ", p50", Value: Millis(raw.P50), Unit: "ms"})
		c50, c99 := s.P50+raw.P50, s.P99+raw.P99
		b.rep.add(Figure{Group: GroupResult, Key: k + "_p50", Name: "REQ to EOSE, " + sh.name + ", p50", Value: Millis(w.P50), Unit: "ms",
			Ceiling: "store + plain websocket", CeilingValue: Millis(c50), Ratio: LatencyRatio(w.P50, c50), Aim: "p50 < 2 ms", AimMet: met(w.P50 < 2*time.Millisecond)})
		b.rep.add(Figure{Group: GroupResult, Key: k + "_p99", Name: "REQ to EOSE, " + sh.name + ", p99", Value: Millis(w.P99), Unit: "ms",
			Ceiling: "store + plain websocket", CeilingValue: Millis(c99), Ratio: LatencyRatio(w.P99, c99)})
		b.rep.add(Figure{Group: GroupContext, Key: k + "_events", Name: "events returned per query, " + sh.name, Value: float64(r.events) / float64(max(s.N, 1)), Unit: "events"})
	}

	// Ingest again, into the big store, between fresh signature ceilings.
	conns, size := slices.Max(cfg.IngestConns), st.Stats().Events
	b.prog.printf("ingest: %s signed events over %d connection(s) into the query store", groupThousands(int64(cfg.Ingest)), conns)
	res, verify, verifyCPU, err := b.ingestBetweenCeilings(ctx, n.RelayURL(), b.ingestMsgs[len(cfg.IngestConns)], conns)
	if err != nil {
		return err
	}
	rate := Rate(res.accepted, res.elapsed)
	name := fmt.Sprintf("ingest, %d connection(s), into the %s-event store", conns, groupThousands(size))
	b.rep.add(Figure{Group: GroupContext, Key: "ingest_big_store", Name: name,
		Value: rate, Unit: "events/s", Ceiling: "signature checks, just before and after", CeilingValue: verify, Ratio: RateRatio(rate, verify)})
	b.addUsage("ingest_big_store", "ingest into the big store", res.usage, res.accepted, verifyCPU)
	return nil
}

func met(ok bool) *bool { return &ok }
