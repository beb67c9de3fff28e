package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/media/chunkmap"
	"github.com/cairn-nostr/cairn/node"
	"github.com/cairn-nostr/cairn/peer"
)

// TransferConfig sizes a transfer benchmark run. Start from
// DefaultTransferConfig or QuickTransferConfig.
type TransferConfig struct {
	Size      int64 // bytes of the random file
	ChunkSize int64 // the share's target chunk size; 0 means the default (5 MiB)
	Seeders   []int // seeder counts to measure, each against a fresh fetching node
	Rounds    int   // measurements of each seeder count; the best is reported
	// Dir holds the nodes' data directories and the files. Empty: a
	// temporary directory, removed afterwards.
	Dir      string
	Seed     uint64
	Progress io.Writer
	// GetProfiles, when set, is a directory that receives a CPU profile of
	// each get alone (get<seeders>-<round>.prof): from POST /api/get to
	// the output written, without the sharing and the ceilings around it.
	GetProfiles string
}

// DefaultTransferConfig is the full run: 256 MiB, 1 and 4 seeders.
func DefaultTransferConfig() TransferConfig {
	return TransferConfig{Size: 256 << 20, Seeders: []int{1, 4}, Rounds: 2, Seed: 1}
}

// QuickTransferConfig is the CI run: 64 MiB, 1 and 4 seeders, one round.
func QuickTransferConfig() TransferConfig {
	return TransferConfig{Size: 64 << 20, Seeders: []int{1, 4}, Rounds: 1, Seed: 1}
}

// Validate reports sizes that cannot work.
func (c TransferConfig) Validate() error {
	if c.Size <= 0 {
		return errors.New("bench: transfer size must be positive")
	}
	if c.Rounds <= 0 {
		return errors.New("bench: rounds must be positive")
	}
	if len(c.Seeders) == 0 {
		return errors.New("bench: no seeder counts")
	}
	for _, n := range c.Seeders {
		if n < 1 || n > 16 {
			return fmt.Errorf("bench: %d seeders: want 1 to 16", n)
		}
	}
	return nil
}

// RunTransfer measures node-to-node downloads on loopback: seeders and a
// fetching node in this process, each a real node (relay, stores, HTTP,
// libp2p over loopback TCP, no DHT, no WebRTC), the fetch started as
// `cairn get -o` starts it (POST /api/get) and timed until the output file
// is written and checked. The ceiling, measured around every fetch, is a
// plain HTTP GET of the same file from a seeder's /<sha256> through
// SHA-256: what a verified download costs with nothing of the swarm in the
// way.
func RunTransfer(ctx context.Context, cfg TransferConfig) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	prog := &progress{w: cfg.Progress, start: time.Now()}
	rep := nodeReport("transfer")
	rep.Transfer = &TransferSettings{Size: cfg.Size, ChunkSize: cfg.ChunkSize, Seeders: cfg.Seeders, Rounds: cfg.Rounds}
	root, cleanup, err := workDir(cfg.Dir, "transfer")
	if err != nil {
		return nil, err
	}
	defer cleanup()

	most := 0
	for _, n := range cfg.Seeders {
		most = max(most, n)
	}
	path := filepath.Join(root, "file.bin")
	prog.printf("writing %d MiB of random bytes", cfg.Size>>20)
	if err := writeRandom(path, cfg.Size, cfg.Seed); err != nil {
		return nil, err
	}
	var seeders []*node.Node
	defer func() {
		for _, n := range seeders {
			stopNode(n)
		}
	}()
	var shared *node.ShareResult
	for i := range most {
		n, err := startTransferNode(filepath.Join(root, fmt.Sprintf("seeder%d", i)))
		if err != nil {
			return nil, err
		}
		seeders = append(seeders, n)
		res, err := n.Share(ctx, node.ShareRequest{Path: path, Title: "bench", ChunkSize: cfg.ChunkSize})
		if err != nil {
			return nil, fmt.Errorf("sharing on seeder %d: %w", i, err)
		}
		if shared != nil && res.Root != shared.Root {
			return nil, fmt.Errorf("seeder %d cut the file into another root", i)
		}
		shared = res
		prog.printf("seeder %d shares root %s", i, res.Root[:16])
	}
	m, err := mapOf(ctx, seeders[0], shared.Root)
	if err != nil {
		return nil, err
	}
	rep.Transfer.Chunks = len(m.Chunks)

	for _, k := range cfg.Seeders {
		var best transferRound
		for r := range cfg.Rounds {
			tr, err := transferOnce(ctx, root, fmt.Sprintf("get%d-%d", k, r), seeders[:k], m, shared, cfg.GetProfiles)
			if err != nil {
				return nil, err
			}
			prog.printf("%d seeder(s), round %d: ceiling %.0f MiB/s, transfer %.0f MiB/s (%.2f), end to end %.0f MiB/s (%.2f); CPU %.2f s/GiB, ceiling %.2f (%.2f)",
				k, r, tr.ceiling, tr.transfer, tr.transfer/tr.ceiling, tr.endToEnd, tr.endToEnd/tr.ceiling,
				tr.getCPU, tr.ceilingCPU, tr.ceilingCPU/tr.getCPU)
			if r == 0 || tr.endToEnd/tr.ceiling > best.endToEnd/best.ceiling {
				best = tr
			}
		}
		rep.add(Figure{Group: GroupCeiling, Key: fmt.Sprintf("ceiling_%d", k),
			Name:  fmt.Sprintf("HTTP GET /<sha256> from a seeder, SHA-256 on the receiver (around the %d-seeder get)", k),
			Value: best.ceiling, Unit: "MiB/s"})
		aim := ">= 0.7"
		rep.add(Figure{Group: GroupResult, Key: fmt.Sprintf("get_%d", k),
			Name:  fmt.Sprintf("cairn get -o, %d seeder(s), end to end", k),
			Value: best.endToEnd, Unit: "MiB/s", Ceiling: "HTTP GET + SHA-256", CeilingValue: best.ceiling,
			Ratio: best.endToEnd / best.ceiling, Aim: aim, AimMet: met(best.endToEnd/best.ceiling >= 0.7)})
		rep.add(Figure{Group: GroupResult, Key: fmt.Sprintf("transfer_%d", k),
			Name:  fmt.Sprintf("swarm transfer, %d seeder(s), first request to last chunk stored", k),
			Value: best.transfer, Unit: "MiB/s", Ceiling: "HTTP GET + SHA-256", CeilingValue: best.ceiling,
			Ratio: best.transfer / best.ceiling})
		rep.add(Figure{Group: GroupContext, Key: fmt.Sprintf("assemble_%d", k),
			Name:  fmt.Sprintf("after the last chunk: writing and checking the output, %d seeder(s)", k),
			Value: best.tail.Seconds() * 1000, Unit: "ms"})
		rep.add(Figure{Group: GroupContext, Key: fmt.Sprintf("cpu_%d", k),
			Name:  fmt.Sprintf("CPU per GiB of the get, whole process, %d seeder(s)", k),
			Value: best.getCPU, Unit: "s/GiB", Ceiling: "CPU per GiB of the HTTP GET", CeilingValue: best.ceilingCPU,
			Ratio: best.ceilingCPU / best.getCPU})
		rep.add(Figure{Group: GroupContext, Key: fmt.Sprintf("received_%d", k),
			Name:  fmt.Sprintf("bytes received per byte of the file (endgame and window duplicates), %d seeder(s)", k),
			Value: float64(best.received) / float64(m.Size), Unit: "x"})
		rep.add(Figure{Group: GroupContext, Key: fmt.Sprintf("peers_%d", k),
			Name:  fmt.Sprintf("peers the download used, %d seeder(s)", k),
			Value: float64(best.peers), Unit: "peers"})
	}
	rep.Seconds = time.Since(rep.Started).Seconds()
	rep.Machine.LoadEnd = loadAverage()
	prog.printf("done")
	return rep, nil
}

// TransferSettings are the sizes a transfer run used.
type TransferSettings struct {
	Size      int64 `json:"size"`
	ChunkSize int64 `json:"chunk_size,omitempty"`
	Chunks    int   `json:"chunks"`
	Seeders   []int `json:"seeders"`
	Rounds    int   `json:"rounds"`
}

type transferRound struct {
	ceiling  float64       // MiB/s, mean of the GETs before and after
	transfer float64       // MiB/s over the swarm's elapsed time
	endToEnd float64       // MiB/s from POST /api/get to the file written
	tail     time.Duration // from the swarm's end to the file written
	peers    int           // the most peers the download had at once
	received int64         // bytes received, duplicates and refused ones included
	// CPU seconds per GiB of the whole process (seeders and fetcher): the
	// ceiling's GET (mean of two) and the get. Steadier than wall clock
	// on a shared machine.
	ceilingCPU, getCPU float64
}

// transferOnce starts a fresh fetching node, hands it what the seeders
// published (as a shared relay would), and times one get between two
// ceiling measurements.
func transferOnce(ctx context.Context, root, name string, seeders []*node.Node, m *chunkmap.Map, shared *node.ShareResult, profiles string) (transferRound, error) {
	var tr transferRound
	g, err := startTransferNode(filepath.Join(root, name))
	if err != nil {
		return tr, err
	}
	defer func() {
		stopNode(g)
		os.RemoveAll(filepath.Join(root, name))
	}()
	for i, s := range seeders {
		if err := copyEvents(ctx, s, g); err != nil {
			return tr, fmt.Errorf("seeder %d: %w", i, err)
		}
		// Every seeder announces: the file event the get resolves may be
		// any seeder's (each shared the file), so its author is not
		// always seeder 0.
		ev := peer.AnnouncementEvent(m, time.Now())
		if err := ev.Sign(s.Key().Secret); err != nil {
			return tr, err
		}
		if err := g.Relay().Publish(ctx, ev); err != nil {
			return tr, fmt.Errorf("announcing seeder %d: %w", i, err)
		}
	}
	size := float64(m.Size) / (1 << 20)
	before, cpuBefore, err := httpCeilingCPU(ctx, seeders[0].URL()+"/"+shared.SHA256, shared.SHA256)
	if err != nil {
		return tr, err
	}
	out := filepath.Join(root, name+".out")
	defer os.Remove(out)
	stopProfile, err := startProfile(profiles, name)
	if err != nil {
		return tr, err
	}
	defer stopProfile()
	start := time.Now()
	mark := markNow()
	st, err := postGet(ctx, g.URL(), shared.SHA256, out)
	if err != nil {
		return tr, err
	}
	for st.State != "complete" {
		if st.State == "failed" {
			return tr, fmt.Errorf("get failed: %s", st.Error)
		}
		select {
		case <-ctx.Done():
			return tr, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if st, err = downloadStatus(ctx, g.URL(), shared.Root); err != nil {
			return tr, err
		}
		tr.peers = max(tr.peers, st.Peers)
	}
	e2e := time.Since(start)
	getCPU := mark.usage().cpu
	stopProfile()
	tr.received = st.Received
	after, cpuAfter, err := httpCeilingCPU(ctx, seeders[0].URL()+"/"+shared.SHA256, shared.SHA256)
	if err != nil {
		return tr, err
	}
	transfer := time.Duration(st.Elapsed * float64(time.Second))
	tr.ceiling = size / ((before + after) / 2).Seconds()
	tr.transfer = size / transfer.Seconds()
	tr.endToEnd = size / e2e.Seconds()
	tr.tail = max(e2e-transfer, 0)
	gib := float64(m.Size) / (1 << 30)
	tr.ceilingCPU = (cpuBefore + cpuAfter).Seconds() / 2 / gib
	tr.getCPU = getCPU.Seconds() / gib
	return tr, nil
}

// startProfile starts a CPU profile into dir/name.prof; stop ends it and
// may be called more than once. With dir empty it does nothing.
func startProfile(dir, name string) (stop func(), err error) {
	if dir == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(dir, name+".prof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("profiling the get (is --cpu-profile set too? use one): %w", err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			f.Close()
		})
	}, nil
}

// httpCeiling times a GET of url through SHA-256 and checks the sum.
func httpCeiling(ctx context.Context, url, sha string) (time.Duration, error) {
	d, _, err := httpCeilingCPU(ctx, url, sha)
	return d, err
}

// httpCeilingCPU is httpCeiling also returning the process's CPU time.
func httpCeilingCPU(ctx context.Context, url, sha string) (time.Duration, time.Duration, error) {
	m := markNow()
	d, err := httpGetHashed(ctx, url, sha)
	return d, m.usage().cpu, err
}

func httpGetHashed(ctx context.Context, url, sha string) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return 0, fmt.Errorf("GET %s: %s", url, res.Status)
	}
	h := sha256.New()
	if _, err := io.CopyBuffer(h, res.Body, make([]byte, 256<<10)); err != nil {
		return 0, err
	}
	d := time.Since(start)
	if hex.EncodeToString(h.Sum(nil)) != sha {
		return 0, fmt.Errorf("GET %s: the body's sha256 differs", url)
	}
	return d, nil
}

func postGet(ctx context.Context, base, ref, out string) (node.DownloadStatus, error) {
	var st node.DownloadStatus
	body, _ := json.Marshal(node.GetRequest{Ref: ref, Output: out})
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/api/get", bytes.NewReader(body))
	if err != nil {
		return st, err
	}
	req.Header.Set("Content-Type", "application/json")
	return st, doJSON(req, &st)
}

func downloadStatus(ctx context.Context, base, root string) (node.DownloadStatus, error) {
	var st node.DownloadStatus
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/api/downloads/"+root, nil)
	if err != nil {
		return st, err
	}
	return st, doJSON(req, &st)
}

func doJSON(req *http.Request, into any) error {
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, res.Status, b)
	}
	return json.Unmarshal(b, into)
}

// copyEvents publishes every event the node from signed (its chunk maps,
// file events, addressing record) into to's relay.
func copyEvents(ctx context.Context, from, to *node.Node) error {
	f := nostr.Filter{Authors: []string{from.Key().Public}}
	var evs []*nostr.Event
	err := from.Store().Query(ctx, f, 1000, func(raw []byte) error {
		ev := new(nostr.Event)
		if err := json.Unmarshal(raw, ev); err != nil {
			return err
		}
		evs = append(evs, ev)
		return nil
	})
	if err != nil {
		return err
	}
	for _, ev := range evs {
		if err := to.Relay().Publish(ctx, ev); err != nil {
			return fmt.Errorf("copying kind %d: %w", ev.Kind, err)
		}
	}
	return nil
}

// mapOf reads the chunk map of root from n's store.
func mapOf(ctx context.Context, n *node.Node, root string) (*chunkmap.Map, error) {
	var m *chunkmap.Map
	f := nostr.Filter{Kinds: []int{chunkmap.KindChunkMap}, Authors: []string{n.Key().Public}}
	err := n.Store().Query(ctx, f, 100, func(raw []byte) error {
		ev := new(nostr.Event)
		if err := json.Unmarshal(raw, ev); err != nil {
			return err
		}
		if mm, err := chunkmap.Parse(ev); err == nil && hex.EncodeToString(mm.Root[:]) == root {
			m = mm
		}
		return nil
	})
	if err == nil && m == nil {
		err = fmt.Errorf("no chunk map of root %s in the seeder's store", root)
	}
	return m, err
}

// nodeReport is a report of the benchmark name, started now, with the
// machine described.
func nodeReport(name string) *Report {
	return &Report{
		Bench:   name,
		Started: time.Now(),
		Machine: Machine{
			CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
			OS: runtime.GOOS, Arch: runtime.GOARCH, Signatures: signatureBackend, Engine: engineName(""),
			LoadStart: loadAverage(),
		},
	}
}

// workDir is dir, created, or when dir is "" a temporary directory that
// cleanup removes.
func workDir(dir, name string) (root string, cleanup func(), err error) {
	if dir != "" {
		return dir, func() {}, os.MkdirAll(dir, 0o700)
	}
	if root, err = os.MkdirTemp("", "cairn-bench-"+name+"-"); err != nil {
		return "", nil, err
	}
	return root, func() { os.RemoveAll(root) }, nil
}

// startTransferNode starts a node on loopback: HTTP and libp2p TCP on free
// ports, no DHT, no WebRTC, no request limits on the relay, a credit grant
// no benchmark spends.
func startTransferNode(dir string) (*node.Node, error) { return startBenchNode(dir, nil) }

// benchLocal keeps a benchmark node on loopback and away from every
// public contact: no built-in bootstrap, DNS seeds or public DHT, its
// BitTorrent client and TURN server on free loopback ports.
func benchLocal(cfg *node.Config) {
	cfg.P2P.PublicBootstrap = false
	cfg.BT.Listen = "127.0.0.1:0"
	cfg.BT.DHTListen = "127.0.0.1:0"
	cfg.TURN.Listen = "127.0.0.1:0"
}

// startBenchNode is startTransferNode with edit applied to the config.
func startBenchNode(dir string, edit func(*node.Config)) (*node.Node, error) {
	cfg := node.DefaultConfig()
	cfg.DataDir = dir
	cfg.Listen = "127.0.0.1:0"
	cfg.Version = "bench"
	cfg.Relay.EventsPerSecond = 0
	cfg.Relay.EventsPerSecondIP = 0
	cfg.P2P.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.P2P.DHT = false
	benchLocal(&cfg)
	cfg.WebRTC.Enabled = false
	cfg.BlobQuota = 8 << 30
	// Receipts and the credit gate run as in any node, with a grant no
	// run spends: what they cost is in the figures, not a throttle.
	cfg.Credit.Grant = 1 << 50
	if edit != nil {
		edit(&cfg)
	}
	n, err := node.New(cfg, nil)
	if err != nil {
		return nil, fmt.Errorf("creating a benchmark node: %w", err)
	}
	if err := n.Start(); err != nil {
		n.Stop(context.Background())
		return nil, fmt.Errorf("starting a benchmark node: %w", err)
	}
	return n, nil
}

func writeRandom(path string, size int64, seed uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		n := min(int64(len(buf)), left)
		rng.Read(buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			f.Close()
			return err
		}
		left -= n
	}
	return f.Close()
}
