package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/cairn-nostr/cairn/event"
	"github.com/cairn-nostr/cairn/peer"
	"github.com/cairn-nostr/cairn/swarm"
)

// download is one get the node runs for /api/get or /api/pin: the core's
// download, and the file it writes once every chunk is stored.
type download struct {
	dl *peer.Download

	mu     sync.Mutex
	state  string // downloading, assembling, complete, failed
	err    string
	output string
}

// DownloadStatus is the JSON of a download in /api/downloads.
type DownloadStatus struct {
	Root          string           `json:"root"`
	SHA256        string           `json:"sha256,omitempty"`
	Title         string           `json:"title,omitempty"`
	MIME          string           `json:"mime,omitempty"`
	State         string           `json:"state"` // downloading, assembling, complete, failed
	Error         string           `json:"error,omitempty"`
	Output        string           `json:"output,omitempty"`
	Size          int64            `json:"size"`
	BytesDone     int64            `json:"bytes_done"`
	Received      int64            `json:"received"`
	Chunks        int              `json:"chunks"`
	ChunksDone    int              `json:"chunks_done"`
	ChunksStored  int              `json:"chunks_stored"`
	ChunksResumed int              `json:"chunks_resumed"`
	Peers         int              `json:"peers"`
	Active        int              `json:"active"`
	Rate          float64          `json:"rate"` // bytes per second
	ETASeconds    float64          `json:"eta_seconds"`
	Elapsed       float64          `json:"elapsed_seconds"`
	Transports    map[string]int64 `json:"transports,omitempty"`
}

func (g *download) status() DownloadStatus {
	p := g.dl.Progress()
	f := g.dl.File
	m := f.Map
	g.mu.Lock()
	defer g.mu.Unlock()
	return DownloadStatus{
		Root:          f.Root(),
		SHA256:        f.SHA256,
		Title:         m.Title,
		MIME:          m.MIME,
		State:         g.state,
		Error:         g.err,
		Output:        g.output,
		Size:          m.Size,
		BytesDone:     p.BytesDone,
		Received:      p.Received,
		Chunks:        p.Chunks,
		ChunksDone:    p.ChunksDone,
		ChunksStored:  p.ChunksStored,
		ChunksResumed: p.ChunksResumed,
		Peers:         p.Peers,
		Active:        p.Active,
		Rate:          p.Rate,
		ETASeconds:    p.ETA.Seconds(),
		Elapsed:       p.Elapsed.Seconds(),
		Transports:    p.Transports,
	}
}

// GetRequest is the body of POST /api/get.
type GetRequest struct {
	Ref string `json:"ref"`
	// Output, when set, is an absolute path the node writes the file to
	// once every chunk is stored.
	Output string `json:"output"`
}

func (n *Node) serveGet(w http.ResponseWriter, r *http.Request) {
	var req GetRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.Output != "" && !filepath.IsAbs(req.Output) {
		apiError(w, http.StatusBadRequest, fmt.Sprintf("output %q must be an absolute path", req.Output))
		return
	}
	it := n.resolveFor(w, r, req.Ref)
	if it == nil {
		return
	}
	dl, err := n.startGet(it, req.Output)
	if err != nil {
		downloadError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, dl.status())
}

// startGet starts (or joins) the download of f, writing it to output
// (when not empty) once complete.
func (n *Node) startGet(f *peer.File, output string) (*download, error) {
	dl, err := n.peer.Download(f)
	if err != nil {
		return nil, err
	}
	s := n.media
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.gets[f.Map.Root]; g != nil && g.dl == dl {
		g.mu.Lock()
		if output != "" {
			g.output = output
		}
		g.mu.Unlock()
		return g, nil
	}
	g := &download{dl: dl, state: "downloading", output: output}
	s.gets[f.Map.Root] = g
	n.spawn(func(ctx context.Context) { n.finishGet(ctx, g) })
	return g, nil
}

// outputWriter is the temporary file of a get's output, written while the
// download runs (swarm.FileWriter): each chunk is copied to its place once
// stored and the file's sha256 advances over the prefix written, so that
// little is left to do after the last chunk.
type outputWriter struct {
	output string
	f      *os.File
	done   chan struct{} // closed when writeOutput returns
	err    error         // why it stopped short; read after done
	sum    [32]byte      // the file's sha256, when err is nil
}

func newOutputWriter(out string) (*outputWriter, error) {
	f, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*.part")
	if err != nil {
		return nil, fmt.Errorf("writing %s: %w", out, err)
	}
	return &outputWriter{output: out, f: f, done: make(chan struct{})}, nil
}

// discard closes and removes the temporary file.
func (w *outputWriter) discard() {
	w.f.Close()
	os.Remove(w.f.Name())
}

// writeOutput copies g's chunks into w's file as they are stored, and
// keeps the download's playhead at the first chunk not yet written, so
// that chunks arrive close to file order and the hash keeps up.
func (n *Node) writeOutput(ctx context.Context, g *download, w *outputWriter) {
	defer close(w.done)
	sd := g.dl.Swarm()
	fw, err := swarm.NewFileWriter(g.dl.File.Map, n.blobs, w.f)
	if err != nil {
		w.err = err
		return
	}
	sd.SetTap(fw.Offer)
	defer sd.SetTap(nil)
	playhead, ended := -1, false
	for {
		changed := sd.Changed()
		complete, err := fw.Update(ctx)
		switch {
		case err != nil:
			w.err = err
			return
		case complete:
			w.sum = fw.Sum()
			return
		case ended:
			w.err = fmt.Errorf("the download ended with chunk %d not stored: %w", fw.Next(), swarm.ErrMissing)
			return
		}
		if next := fw.Next(); next != playhead {
			playhead = next
			sd.SetPlayhead(next)
		}
		select {
		case <-changed:
		case <-sd.Done():
			ended = true
		case <-ctx.Done():
			w.err = ctx.Err()
			return
		}
	}
}

// downloadError answers an error of starting a download.
func downloadError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, peer.ErrTooLarge):
		apiError(w, http.StatusInsufficientStorage, err.Error()+" (the node's quota is --blob-quota; `cairn unpin` unpins)")
	case errors.Is(err, peer.ErrStopped):
		apiError(w, http.StatusServiceUnavailable, "the node is stopping")
	default:
		apiError(w, http.StatusInternalServerError, err.Error())
	}
}

// finishGet writes g's output while it downloads, waits for the download,
// then puts the output in place.
func (n *Node) finishGet(ctx context.Context, g *download) {
	g.mu.Lock()
	out := g.output
	g.mu.Unlock()
	var w *outputWriter
	if out != "" {
		var err error
		if w, err = newOutputWriter(out); err != nil {
			w = nil // assembled at the end, which reports the error
		} else {
			go n.writeOutput(ctx, g, w) // waited for below
		}
	}
	var err error
	select {
	case <-g.dl.Done():
		err = g.dl.Err()
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err == nil {
		g.mu.Lock()
		g.state = "assembling"
		out := g.output
		g.mu.Unlock()
		if out != "" {
			err = n.finishOutput(ctx, g, w, out)
		}
	}
	if w != nil {
		<-w.done
		w.discard() // renamed into place already, or not wanted
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil {
		g.state, g.err = "failed", err.Error()
		if errors.Is(err, swarm.ErrClosed) || ctx.Err() != nil {
			g.err = "stopped before it completed; get it again to resume"
		}
		return
	}
	g.state = "complete"
}

// finishOutput puts the output file in place: the one written while the
// download ran, checked against its sha256, or else (no writer, another
// output asked for since, or the writer stopped short) assembled from the
// blob store.
func (n *Node) finishOutput(ctx context.Context, g *download, w *outputWriter, out string) error {
	if w == nil || w.output != out {
		return n.assemble(ctx, g.dl.File, out)
	}
	select {
	case <-w.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if w.err != nil {
		n.log.Warn("writing the output while downloading failed; assembling it", "output", out, "err", w.err)
		return n.assemble(ctx, g.dl.File, out)
	}
	if err := checkSum(g.dl.File, w.sum[:]); err != nil {
		return err
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	if err := os.Rename(w.f.Name(), out); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	return nil
}

func checkSum(it *peer.File, sum []byte) error {
	if it.SHA256 != "" {
		if got := hex.EncodeToString(sum); got != it.SHA256 {
			return fmt.Errorf("the assembled file's sha256 is %s, its file event says %s", got, it.SHA256)
		}
	}
	return nil
}

// assemble writes the file to out through a temporary file, checking its
// sha256 when a kind 1063 gave one.
func (n *Node) assemble(ctx context.Context, it *peer.File, out string) error {
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*.part")
	if err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	err = swarm.Assemble(ctx, io.MultiWriter(tmp, h), it.Map, n.blobs)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	if err := checkSum(it, h.Sum(nil)); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	return nil
}

func (n *Node) serveDownloads(w http.ResponseWriter, _ *http.Request) {
	out := []DownloadStatus{}
	for _, dl := range n.peer.Downloads() {
		out = append(out, n.getOf(dl).status())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Root < out[j].Root })
	writeJSON(w, http.StatusOK, out)
}

// getOf is the get of a core download: one started through the API, or a
// plain one (started by the core itself).
func (n *Node) getOf(dl *peer.Download) *download {
	n.media.mu.Lock()
	g := n.media.gets[dl.File.Map.Root]
	n.media.mu.Unlock()
	if g != nil && g.dl == dl {
		return g
	}
	state, msg := "downloading", ""
	select {
	case <-dl.Done():
		state = "complete"
		if err := dl.Err(); err != nil {
			state, msg = "failed", err.Error()
		}
	default:
	}
	return &download{dl: dl, state: state, err: msg}
}

func (n *Node) serveDownload(w http.ResponseWriter, r *http.Request) {
	s := r.PathValue("root")
	root, err := event.ParseHex32(s)
	if err != nil {
		apiError(w, http.StatusBadRequest, "want /api/downloads/<root, 64 lowercase hex characters>")
		return
	}
	dl := n.peer.DownloadOf(root)
	if dl == nil {
		apiError(w, http.StatusNotFound, "no download of this root in this run of the node; start one with POST /api/get")
		return
	}
	writeJSON(w, http.StatusOK, n.getOf(dl).status())
}
