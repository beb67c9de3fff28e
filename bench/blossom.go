package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/node"
)

// BlossomConfig sizes a Blossom benchmark run.
type BlossomConfig struct {
	Size   int64 // bytes of each uploaded blob
	Rounds int   // uploads measured, each of fresh bytes; the best is reported
	// Dir holds the nodes' data directories and the files. Empty: a
	// temporary directory, removed afterwards.
	Dir      string
	Seed     uint64
	Progress io.Writer
}

// DefaultBlossomConfig is the full run: 256 MiB, 2 rounds.
func DefaultBlossomConfig() BlossomConfig {
	return BlossomConfig{Size: 256 << 20, Rounds: 2, Seed: 1}
}

// QuickBlossomConfig is the smoke run: 64 MiB, one round.
func QuickBlossomConfig() BlossomConfig {
	return BlossomConfig{Size: 64 << 20, Rounds: 1, Seed: 1}
}

// BlossomSettings are the sizes a Blossom run used.
type BlossomSettings struct {
	Size   int64 `json:"size"`
	Rounds int   `json:"rounds"`
}

// RunBlossom measures Blossom uploads on loopback, in this process: node
// A takes a PUT /upload of a blob of random bytes (streamed from a file,
// hashed, cut into chunks and shared, until its 201); node B, bootstrapped
// to A and holding nothing, resolves the descriptor's nevent and GETs the
// blob by sha256 through the swarm. The ceilings, measured around each
// upload: the same bytes copied to a file on the same disk through
// SHA-256 (what an upload must do at least), and an HTTP GET of the blob
// from A through SHA-256 (for B's GET).
func RunBlossom(ctx context.Context, cfg BlossomConfig) (*Report, error) {
	if cfg.Size <= 0 || cfg.Rounds <= 0 {
		return nil, errors.New("bench: blossom size and rounds must be positive")
	}
	prog := &progress{w: cfg.Progress, start: time.Now()}
	rep := nodeReport("blossom")
	rep.Blossom = &BlossomSettings{Size: cfg.Size, Rounds: cfg.Rounds}
	root, cleanup, err := workDir(cfg.Dir, "blossom")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	a, err := startBenchNode(filepath.Join(root, "a"), func(c *node.Config) { c.Blossom.Upload = "everyone" })
	if err != nil {
		return nil, err
	}
	defer stopNode(a)
	sk := nostr.GeneratePrivateKey()

	var best blossomRound
	for r := range cfg.Rounds {
		br, err := blossomOnce(ctx, root, r, cfg, a, sk, prog)
		if err != nil {
			return nil, err
		}
		prog.printf("round %d: write+hash %.0f MiB/s, upload %.0f MiB/s (%.2f); fetchable on B after %.0f ms; B's GET %.0f MiB/s, HTTP GET from A %.0f MiB/s (%.2f)",
			r, br.ceiling, br.upload, br.upload/br.ceiling, br.fetchable.Seconds()*1000, br.second, br.getCeiling, br.second/br.getCeiling)
		if r == 0 || br.upload/br.ceiling > best.upload/best.ceiling {
			best = br
		}
	}
	rep.add(Figure{Group: GroupCeiling, Key: "write_hash",
		Name:  "the same bytes copied to a file on the node's disk through SHA-256, fsync'd (mean of before and after)",
		Value: best.ceiling, Unit: "MiB/s"})
	rep.add(Figure{Group: GroupCeiling, Key: "http_get",
		Name:  "HTTP GET /<sha256> of the blob from A, SHA-256 on the receiver",
		Value: best.getCeiling, Unit: "MiB/s"})
	rep.add(Figure{Group: GroupResult, Key: "upload",
		Name:  "PUT /upload: body streamed to disk and hashed, then cut into chunks, stored and published, until 201",
		Value: best.upload, Unit: "MiB/s", Ceiling: "write + SHA-256", CeilingValue: best.ceiling, Ratio: best.upload / best.ceiling})
	rep.add(Figure{Group: GroupResult, Key: "second_get",
		Name:  "GET /<sha256> on B, which holds nothing: every chunk from A over libp2p",
		Value: best.second, Unit: "MiB/s", Ceiling: "HTTP GET from A + SHA-256", CeilingValue: best.getCeiling, Ratio: best.second / best.getCeiling})
	rep.add(Figure{Group: GroupContext, Key: "fetchable",
		Name:  "from the upload's 201 to B's first byte of GET /<sha256> (B resolves the descriptor's nevent, then pulls from the swarm)",
		Value: best.fetchable.Seconds() * 1000, Unit: "ms"})
	rep.Seconds = time.Since(rep.Started).Seconds()
	rep.Machine.LoadEnd = loadAverage()
	prog.printf("done")
	return rep, nil
}

type blossomRound struct {
	ceiling    float64 // MiB/s, write + hash, mean of before and after
	upload     float64 // MiB/s, PUT to 201
	fetchable  time.Duration
	second     float64 // MiB/s, B's whole GET
	getCeiling float64 // MiB/s, GET from A + hash
}

func blossomOnce(ctx context.Context, root string, r int, cfg BlossomConfig, a *node.Node, sk string, prog *progress) (blossomRound, error) {
	var br blossomRound
	mib := float64(cfg.Size) / (1 << 20)
	path := filepath.Join(root, fmt.Sprintf("blob%d.bin", r))
	prog.printf("round %d: writing %d MiB of random bytes", r, cfg.Size>>20)
	if err := writeRandom(path, cfg.Size, cfg.Seed+uint64(r)*7919); err != nil {
		return br, err
	}
	defer os.Remove(path)
	copyTo := filepath.Join(root, "a", "ceiling.tmp")
	defer os.Remove(copyTo)
	before, sha, err := writeHashed(path, copyTo)
	if err != nil {
		return br, err
	}
	prog.printf("round %d: uploading to A", r)
	start := time.Now()
	d, err := putUpload(ctx, a.URL(), sk, path, sha, cfg.Size)
	if err != nil {
		return br, err
	}
	up := time.Since(start)
	after, _, err := writeHashed(path, copyTo)
	if err != nil {
		return br, err
	}
	br.ceiling = mib / ((before + after) / 2).Seconds()
	br.upload = mib / up.Seconds()

	b, err := startBenchNode(filepath.Join(root, fmt.Sprintf("b%d", r)), func(c *node.Config) {
		for _, m := range a.Host().Addrs() {
			c.P2P.Bootstrap = append(c.P2P.Bootstrap, m.String())
		}
	})
	if err != nil {
		return br, err
	}
	defer func() {
		stopNode(b)
		os.RemoveAll(filepath.Join(root, fmt.Sprintf("b%d", r)))
	}()
	// B starts before the clock: a node that is already running is what
	// a viewer asks.
	done := time.Now()
	var e node.MediaEntry
	if err := postJSON(ctx, b.URL()+"/api/resolve", node.GetRequest{Ref: d.Nevent}, &e); err != nil {
		return br, fmt.Errorf("B resolving the upload: %w", err)
	}
	first, whole, err := getTimed(ctx, b.URL()+"/"+sha, sha)
	if err != nil {
		return br, fmt.Errorf("B's GET: %w", err)
	}
	br.fetchable = first.Sub(done)
	br.second = mib / whole.Seconds()
	g, err := httpCeiling(ctx, a.URL()+"/"+sha, sha)
	if err != nil {
		return br, err
	}
	br.getCeiling = mib / g.Seconds()
	return br, nil
}

// writeHashed copies src to dst through SHA-256 and fsyncs it, as an
// upload must at least do before its 201, and returns the time and the
// hex sum.
func writeHashed(src, dst string) (time.Duration, string, error) {
	start := time.Now()
	in, err := os.Open(src)
	if err != nil {
		return 0, "", err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return 0, "", err
	}
	h := sha256.New()
	_, err = io.CopyBuffer(io.MultiWriter(out, h), in, make([]byte, 1<<20))
	if err == nil {
		err = out.Sync() // the upload answers once its chunks are durable
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, "", err
	}
	return time.Since(start), hex.EncodeToString(h.Sum(nil)), nil
}

type uploadDescriptor struct {
	SHA256 string `json:"sha256"`
	Nevent string `json:"nevent"`
}

// putUpload PUTs the file to base's /upload with a kind 24242 token.
func putUpload(ctx context.Context, base, sk, path, sha string, size int64) (uploadDescriptor, error) {
	var d uploadDescriptor
	ev := nostr.Event{Kind: 24242, CreatedAt: nostr.Now(), Content: "cairn bench blossom",
		Tags: nostr.Tags{{"t", "upload"}, {"x", sha}, {"expiration", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)}}}
	if err := ev.Sign(sk); err != nil {
		return d, err
	}
	tok, _ := json.Marshal(ev)
	f, err := os.Open(path)
	if err != nil {
		return d, err
	}
	defer f.Close()
	req, err := http.NewRequestWithContext(ctx, "PUT", base+"/upload", f)
	if err != nil {
		return d, err
	}
	req.ContentLength = size
	req.Header.Set("Authorization", "Nostr "+base64.RawURLEncoding.EncodeToString(tok))
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("X-SHA-256", sha)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return d, err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusCreated {
		return d, fmt.Errorf("PUT /upload: %s: %s", res.Status, b)
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return d, err
	}
	if d.SHA256 != sha || d.Nevent == "" {
		return d, fmt.Errorf("PUT /upload answered %s", b)
	}
	return d, nil
}

func postJSON(ctx context.Context, url string, body, into any) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return doJSON(req, into)
}

// getTimed GETs url through SHA-256 and returns when its first body byte
// came and how long the whole took.
func getTimed(ctx context.Context, url, sha string) (time.Time, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return time.Time{}, 0, err
	}
	start := time.Now()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return time.Time{}, 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return time.Time{}, 0, fmt.Errorf("GET %s: %s", url, res.Status)
	}
	h := sha256.New()
	buf := make([]byte, 256<<10)
	k, err := io.ReadAtLeast(res.Body, buf, 1)
	first := time.Now()
	if err != nil {
		return first, 0, err
	}
	h.Write(buf[:k])
	if _, err := io.CopyBuffer(h, res.Body, buf); err != nil {
		return first, 0, err
	}
	d := time.Since(start)
	if hex.EncodeToString(h.Sum(nil)) != sha {
		return first, d, fmt.Errorf("GET %s: the body's sha256 differs", url)
	}
	return first, d, nil
}
