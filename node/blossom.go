package node

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip19"

	"github.com/cairn-nostr/cairn/blossom"
	"github.com/cairn-nostr/cairn/event"
	"github.com/cairn-nostr/cairn/media"
	"github.com/cairn-nostr/cairn/media/chunkmap"
	"github.com/cairn-nostr/cairn/swarm"
)

// The Blossom server (BUD-01/02/04/06/08/11/12): the decisions are
// package blossom's; this file moves the bytes. An upload streams into a
// temporary file under DATA_DIR/blossom/tmp while it is hashed, and is
// refused (the file removed) when its hash, size or type is not what was
// authorized; an accepted one becomes a share like `cairn share`'s
// (swarm.ShareExact then publishFile: chunks pinned "blossom", chunk map
// and kind 1063 signed by the node, root announced), with the bytes
// exactly as uploaded, so GET /<sha256> serves it here and any node that
// resolves its kind 1063 serves it from the swarm. Who uploaded what is
// in DATA_DIR/blossom/blossom.json, rewritten atomically on each change.

// PinBlossom is the pin reason of the chunks of Blossom uploads.
const PinBlossom = "blossom"

// blossomState is the node's Blossom side.
type blossomState struct {
	policy blossom.Policy
	dir    string
	mirror *http.Client
	// commit serializes what changes which blobs exist: an upload's
	// share and record, a delete. It is held for their whole duration
	// (a share takes seconds), so one blob is shared once and a delete
	// cannot drop what an upload is recording. mu guards recs and is held
	// only briefly: serving, listing and /api/status take it, never
	// commit. Lock order: commit, then mu.
	commit sync.Mutex
	mu     sync.Mutex
	recs   *blossom.Records
	// uploads counts blobs stored by upload or mirror in this run;
	// served the bytes of Blossom blobs served by GET.
	uploads atomic.Uint64
	served  atomic.Uint64
	// refused counts uploads and mirrors refused.
	refused atomic.Uint64
}

func (b *blossomState) recordsPath() string { return filepath.Join(b.dir, "blossom.json") }
func (b *blossomState) tmpDir() string      { return filepath.Join(b.dir, "tmp") }

// openBlossom loads the owner records and removes the temporary files a
// crash left.
func openBlossom(cfg Config, owner string) (*blossomState, error) {
	p, err := cfg.Blossom.policy(owner)
	if err != nil {
		return nil, err
	}
	b := &blossomState{policy: p, dir: BlossomDir(cfg.DataDir), recs: blossom.NewRecords(), mirror: mirrorClient(cfg.Blossom.MirrorLocal)}
	if err := os.RemoveAll(b.tmpDir()); err != nil {
		return nil, fmt.Errorf("clearing unfinished uploads: %w", err)
	}
	if err := os.MkdirAll(b.tmpDir(), 0o700); err != nil {
		return nil, fmt.Errorf("creating the blossom dir: %w", err)
	}
	raw, err := os.ReadFile(b.recordsPath())
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(raw, b.recs); err != nil {
			return nil, fmt.Errorf("reading %s: %w (move it aside to start with no Blossom records; the blobs stay in the blob store)", b.recordsPath(), err)
		}
	}
	return b, nil
}

// save writes the records through a temporary file, fsync'd and renamed
// into place: a crash leaves the old file or the new one. b.mu is held.
func (b *blossomState) save() error {
	raw, err := json.Marshal(b.recs)
	if err != nil {
		return err
	}
	if err := writeSynced(b.recordsPath(), raw); err != nil {
		return fmt.Errorf("saving the blossom records: %w", err)
	}
	return nil
}

func (n *Node) routeBlossom(mux *http.ServeMux) {
	mux.HandleFunc("PUT /upload", n.serveKeep(n.upload))
	mux.HandleFunc("HEAD /upload", n.serveUploadCheck)
	mux.HandleFunc("PUT /mirror", n.serveKeep(n.mirror))
	mux.HandleFunc("GET /list/{pubkey}", n.serveList)
	mux.HandleFunc("DELETE /{name}", n.serveDelete)
	mux.HandleFunc("OPTIONS /", func(w http.ResponseWriter, r *http.Request) {
		cors(w)
		w.Header().Set("Access-Control-Allow-Headers", "Authorization, *")
		w.Header().Set("Access-Control-Allow-Methods", "GET, HEAD, PUT, DELETE")
		w.Header().Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /.well-known/blossom", n.serveBlossomInfo)
}

// cors sets the headers every Blossom response carries (BUD-01).
func cors(w http.ResponseWriter) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Access-Control-Expose-Headers", "*")
}

// blossomError answers a refusal with its status and X-Reason, anything
// else as a 500.
func blossomError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	reason := err.Error()
	var r *blossom.Refusal
	if errors.As(err, &r) {
		code, reason = r.Status, r.Reason
	}
	cors(w)
	reason = strings.Map(func(c rune) rune {
		if c < 0x20 || c == 0x7f {
			return ' '
		}
		return c
	}, reason)
	w.Header().Set("X-Reason", reason)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	io.WriteString(w, reason+"\n")
}

func refusal(code int, format string, args ...any) error {
	return &blossom.Refusal{Status: code, Reason: fmt.Sprintf(format, args...)}
}

// authorize parses and checks the request's token for req.
func (n *Node) authorize(r *http.Request, req blossom.Request) (*blossom.Auth, error) {
	ev, err := blossom.ParseHeader(r.Header.Get("Authorization"))
	if err != nil {
		return nil, err
	}
	req.Host = r.Host
	return blossom.CheckAuth(ev, req, time.Now())
}

// mayGet checks a GET or HEAD of /<sha256> on a node with private blobs
// (--blossom-private-get): a t=get token naming this server or the blob
// (401 otherwise), from a pubkey the policy lets read (403). Without the
// flag anything may be read.
func (n *Node) mayGet(r *http.Request, sha string) error {
	p := n.blossom.policy
	if !p.PrivateGet {
		return nil
	}
	a, err := n.authorize(r, blossom.Request{Verb: blossom.VerbGet, SHA256: sha})
	if err != nil {
		return err
	}
	return p.MayRead(a.PubKey)
}

// headerSHA reads an optional sha256 header (X-SHA-256).
func headerSHA(r *http.Request) (string, error) {
	x := strings.ToLower(strings.TrimSpace(r.Header.Get("X-SHA-256")))
	if x != "" && !event.IsHex(x, 64) {
		return "", refusal(http.StatusBadRequest, "X-SHA-256 must be 64 hex digits, got %q", x)
	}
	return x, nil
}

// serveUploadCheck is HEAD /upload (BUD-06): would this upload be taken?
func (n *Node) serveUploadCheck(w http.ResponseWriter, r *http.Request) {
	if err := n.checkUpload(r); err != nil {
		blossomError(w, err)
		return
	}
	cors(w)
	w.WriteHeader(http.StatusOK)
}

func (n *Node) checkUpload(r *http.Request) error {
	sha, err := headerSHA(r)
	if err != nil {
		return err
	}
	if sha == "" {
		return refusal(http.StatusBadRequest, "X-SHA-256 header required: the sha256 of the blob to upload")
	}
	lenHeader := r.Header.Get("X-Content-Length")
	if lenHeader == "" {
		return refusal(http.StatusLengthRequired, "X-Content-Length header required: the blob's size in bytes")
	}
	size, err := strconv.ParseInt(lenHeader, 10, 64)
	if err != nil || size < 0 {
		return refusal(http.StatusBadRequest, "X-Content-Length %q is not a size in bytes", lenHeader)
	}
	a, err := n.authorize(r, blossom.Request{Verb: blossom.VerbUpload, SHA256: sha, NeedX: true})
	if err != nil {
		return err
	}
	return n.mayUpload(a.PubKey, sha, size, blossom.BaseType(r.Header.Get("X-Content-Type")))
}

// serveKeep answers PUT /upload and PUT /mirror: keep is upload or
// mirror; its descriptor comes with 201 when the blob is new, 200 when it
// was held already.
func (n *Node) serveKeep(keep func(*http.Request) (*blossom.Descriptor, bool, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d, created, err := keep(r)
		if err != nil {
			n.blossom.refused.Add(1)
			blossomError(w, err)
			return
		}
		cors(w)
		code := http.StatusOK
		if created {
			code = http.StatusCreated
		}
		writeJSON(w, code, d)
	}
}

// upload is PUT /upload (BUD-02).
func (n *Node) upload(r *http.Request) (*blossom.Descriptor, bool, error) {
	sha, err := headerSHA(r)
	if err != nil {
		return nil, false, err
	}
	a, err := n.authorize(r, blossom.Request{Verb: blossom.VerbUpload, SHA256: sha, NeedX: sha != ""})
	if err != nil {
		return nil, false, err
	}
	if len(a.X) == 0 {
		return nil, false, refusal(http.StatusUnauthorized, "authorization event has no x tag: it must name the blob's sha256")
	}
	typ := blossom.BaseType(r.Header.Get("Content-Type"))
	b := n.blossom
	if b.policy.MaxSize > 0 || b.policy.Quota > 0 {
		if r.ContentLength < 0 {
			return nil, false, refusal(http.StatusLengthRequired, "Content-Length required: this server limits blob sizes")
		}
	}
	declared := typ
	if declared == "application/octet-stream" {
		declared = "" // says nothing: typed once read
	}
	if err := n.mayUpload(a.PubKey, sha, r.ContentLength, declared); err != nil {
		return nil, false, err
	}
	if sha != "" {
		if d, ok, err := n.keepExisting(r.Context(), a.PubKey, sha); ok || err != nil {
			return d, false, err
		}
	}
	lim := n.uploadLimit(a.PubKey, sha)
	tmp, sum, size, err := n.receive(r.Context(), r.Body, r.ContentLength, lim)
	if err != nil {
		return nil, false, err
	}
	defer os.Remove(tmp)
	got := hex.EncodeToString(sum[:])
	if sha != "" && got != sha {
		return nil, false, refusal(http.StatusConflict, "the body's sha256 is %s, not the X-SHA-256 %s", got, sha)
	}
	if !a.Allows(got) {
		return nil, false, refusal(http.StatusConflict, "the body's sha256 %s is not one the authorization event's x tags name", got)
	}
	return n.keepBlob(r.Context(), a.PubKey, tmp, got, size, typ)
}

// mayUpload applies the policy before reading a body of size bytes (-1
// when unknown) and type typ ("" when unknown).
func (n *Node) mayUpload(pubkey, sha string, size int64, typ string) error {
	b := n.blossom
	b.mu.Lock()
	u := blossom.Upload{PubKey: pubkey, Size: size, Type: typ, Used: b.recs.Used(pubkey), Owned: sha != "" && b.recs.Owns(pubkey, sha)}
	b.mu.Unlock()
	if typ == "" {
		return b.policy.CheckSize(u) // typed once read
	}
	return b.policy.CheckUpload(u)
}

func (n *Node) uploadLimit(pubkey, sha string) int64 {
	b := n.blossom
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.policy.Limit(blossom.Upload{PubKey: pubkey, Used: b.recs.Used(pubkey), Owned: sha != "" && b.recs.Owns(pubkey, sha)})
}

// keepExisting answers an upload of a blob the node holds in full without
// reading it: pubkey becomes one of its owners.
func (n *Node) keepExisting(ctx context.Context, pubkey, sha string) (*blossom.Descriptor, bool, error) {
	b := n.blossom
	b.commit.Lock()
	defer b.commit.Unlock()
	b.mu.Lock()
	rec, held := b.recs.Held(sha)
	b.mu.Unlock()
	if !held {
		return nil, false, nil
	}
	if f := n.fileBySHA256(ctx, sha); f == nil || n.peer.Held(f.Map) < len(f.Map.Chunks) {
		return nil, false, nil // its chunks went: take the bytes again
	}
	rec.Uploaded = time.Now().Unix()
	rec, _, err := n.record(pubkey, rec)
	if err != nil {
		return nil, false, err
	}
	d := n.descriptor(ctx, rec)
	return &d, true, nil
}

// record adds pubkey's record of a blob and saves the records; a pubkey
// holding the blob already keeps its first record, which is returned.
// b.commit is held.
func (n *Node) record(pubkey string, rec blossom.Record) (blossom.Record, bool, error) {
	b := n.blossom
	b.mu.Lock()
	defer b.mu.Unlock()
	created := b.recs.Add(pubkey, rec)
	if created {
		if err := b.save(); err != nil {
			b.recs.Remove(pubkey, rec.SHA256)
			return rec, false, err
		}
	}
	rec, _ = b.recs.Get(pubkey, rec.SHA256)
	return rec, created, nil
}

// receive streams body into a new temporary file while hashing it. It
// refuses a body over lim bytes (0: no limit) or not of the declared
// length; the file is removed on any error.
func (n *Node) receive(ctx context.Context, body io.Reader, declared, lim int64) (path string, sum [32]byte, size int64, err error) {
	f, err := os.CreateTemp(n.blossom.tmpDir(), "upload-*.tmp")
	if err != nil {
		return "", sum, 0, err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	r := body
	if lim > 0 {
		r = io.LimitReader(body, lim+1)
	}
	bw := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	size, err = io.Copy(bw, ctxReader{ctx, r})
	if err == nil {
		err = bw.Flush()
	}
	switch {
	case err != nil:
		return "", sum, size, refusal(http.StatusBadRequest, "the upload ended after %d bytes: %v", size, err)
	case lim > 0 && size > lim:
		b := n.blossom
		if b.policy.MaxSize > 0 && size > b.policy.MaxSize {
			return "", sum, size, refusal(http.StatusRequestEntityTooLarge, "blob over this server's limit of %d bytes", b.policy.MaxSize)
		}
		return "", sum, size, refusal(http.StatusTooManyRequests, "blob over what is left of this pubkey's quota (%d bytes)", lim)
	case declared >= 0 && size != declared:
		return "", sum, size, refusal(http.StatusBadRequest, "the body has %d bytes, Content-Length said %d", size, declared)
	}
	h.Sum(sum[:0])
	return f.Name(), sum, size, nil
}

// keepBlob makes the verified blob at tmp (sha256 sha, size bytes, declared
// type typ or "") a share owned by pubkey, unless it is one already.
func (n *Node) keepBlob(ctx context.Context, pubkey, tmp, sha string, size int64, typ string) (*blossom.Descriptor, bool, error) {
	if typ == "" || typ == "application/octet-stream" {
		typ = sniff(tmp)
	}
	b := n.blossom
	b.commit.Lock()
	defer b.commit.Unlock()
	// The policy again, now that the type is known, and under commit so
	// that two uploads of one pubkey cannot both fit the same quota.
	b.mu.Lock()
	u := blossom.Upload{PubKey: pubkey, Size: size, Type: typ, Used: b.recs.Used(pubkey), Owned: b.recs.Owns(pubkey, sha)}
	_, held := b.recs.Held(sha)
	b.mu.Unlock()
	if err := b.policy.CheckUpload(u); err != nil {
		return nil, false, err
	}
	if f := n.fileBySHA256(ctx, sha); !held || f == nil || n.peer.Held(f.Map) < len(f.Map.Chunks) {
		if err := n.shareBlob(ctx, tmp, sha, typ); err != nil {
			return nil, false, err
		}
	}
	rec, created, err := n.record(pubkey, blossom.Record{SHA256: sha, Size: size, Type: typ, Uploaded: time.Now().Unix()})
	if err != nil {
		return nil, false, err
	}
	if created {
		b.uploads.Add(1)
		n.log.Info("blossom upload", "sha256", sha, "size", size, "type", typ, "pubkey", pubkey)
	}
	d := n.descriptor(ctx, rec)
	return &d, created, nil
}

// sniff types a file by its first bytes.
func sniff(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "application/octet-stream"
	}
	defer f.Close()
	buf := make([]byte, 512)
	k, _ := io.ReadFull(f, buf)
	return blossom.BaseType(http.DetectContentType(buf[:k]))
}

// shareBlob cuts the blob at path as it is (keyframe-aligned for
// fragmented MP4 and WebM, fixed-size otherwise), pins its chunks
// PinBlossom and publishes its chunk map and kind 1063 (publishFile).
//
// A progressive MP4 (moov at the end, the usual phone video) cannot play
// while it downloads as it is, and its bytes must stay as uploaded: its
// fragmented remux is shared first as the blob's streaming rendition
// (chunks pinned PinBlossom, its own chunk map and kind 1063, both tagged
// ["remux-of", <blob sha256>]), then the blob, whose events carry
// ["stream", <rendition root>, <rendition sha256>]. The blob descriptor's
// nevent names the rendition's kind 1063 (descriptor).
func (n *Node) shareBlob(ctx context.Context, path, sha string, typ string) (err error) {
	var extra []nostr.Tag
	rendPath := filepath.Join(n.blossom.tmpDir(), sha+".stream.mp4")
	defer os.Remove(rendPath)
	rplan, ok, err := swarm.ShareRendition(ctx, path, n.blobs, media.Chunker{}, rendPath, PinBlossom)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		// Any bytes are a blob: one that looks like an MP4 and does not
		// remux is kept as it is, with no rendition.
		n.log.Warn("blossom: no streaming rendition, the blob is kept as it is", "sha256", sha, "err", err)
		ok, err = false, nil
	}
	if ok {
		rsum, rmi, err := hashAndTorrent(ctx, rendPath, sha+".stream.mp4")
		if err != nil {
			return err
		}
		rsha := hex.EncodeToString(rsum[:])
		// A blob that fails to share takes its rendition with it.
		defer func() {
			if err != nil {
				if derr := n.dropBlob(context.WithoutCancel(ctx), rsha); derr != nil {
					n.log.Warn("blossom: the rendition of a refused blob stays in part", "sha256", rsha, "err", derr)
				}
			}
		}()
		rm := rplan.Map()
		if rm.MIME == "" {
			rm.MIME = "video/mp4"
		}
		if _, _, _, err := n.publishFile(ctx, rm, n.publicHTTPURL()+"/"+rsha+".mp4", rsum, rmi, nostr.Tag{"remux-of", sha}); err != nil {
			return err
		}
		n.dropCached(rsha)
		extra = append(extra, nostr.Tag{"stream", hex.EncodeToString(rm.Root[:]), rsha})
	}
	plan, err := swarm.ShareExact(ctx, path, n.blobs, media.Chunker{}, PinBlossom)
	if err != nil {
		return err
	}
	var sum [32]byte
	hex.Decode(sum[:], []byte(sha))
	m := plan.Map()
	if m.MIME == "" { // a media type with codecs, from the container, is kept
		m.MIME = typ
	}
	fileURL := n.publicHTTPURL() + "/" + sha + blossom.Ext(typ)
	_, mi, err := hashAndTorrent(ctx, path, sha+blossom.Ext(typ))
	if err != nil {
		return err
	}
	if _, _, _, err := n.publishFile(ctx, m, fileURL, sum, mi, extra...); err != nil {
		return err
	}
	n.dropCached(sha)
	return nil
}

// ownFileEvent is the node's newest kind 1063 of the file with this
// sha256, or nil.
func (n *Node) ownFileEvent(ctx context.Context, sha string) *nostr.Event {
	var fileEv *nostr.Event
	n.home.st.Query(ctx, nostr.Filter{Kinds: []int{chunkmap.KindFileMetadata}, Authors: []string{n.key.Public}, Tags: nostr.TagMap{"x": {sha}}}, 1, func(raw []byte) error {
		if ev, err := event.Decode(raw); err == nil {
			fileEv = ev
		}
		return nil
	})
	return fileEv
}

// streamOf is the sha256 of the streaming rendition a blob's kind 1063
// names (its ["stream", root, sha256] tag), or "".
func streamOf(fileEv *nostr.Event) string {
	if fileEv == nil {
		return ""
	}
	if t := fileEv.Tags.GetFirst([]string{"stream", ""}); t != nil && len(*t) >= 3 && event.IsHex((*t)[2], 64) {
		return (*t)[2]
	}
	return ""
}

// dropCached forgets the cached file of sha.
func (n *Node) dropCached(sha string) {
	n.media.mu.Lock()
	delete(n.media.bySHA, sha)
	n.media.mu.Unlock()
}

// descriptor is rec's blob descriptor with the tags and nevent of the
// node's kind 1063 for it.
func (n *Node) descriptor(ctx context.Context, rec blossom.Record) blossom.Descriptor {
	fileEv := n.ownFileEvent(ctx, rec.SHA256)
	var tags [][]string
	nevent := ""
	if fileEv != nil {
		for _, t := range fileEv.Tags {
			tags = append(tags, []string(t))
		}
		// What /watch plays: the streaming rendition when the blob has one.
		watch := fileEv
		if s := streamOf(fileEv); s != "" {
			if ev := n.ownFileEvent(ctx, s); ev != nil {
				watch = ev
			}
		}
		nevent, _ = nip19.EncodeEvent(watch.ID, []string{n.publicRelayURL()}, n.key.Public)
	}
	d := blossom.NewDescriptor(n.publicHTTPURL(), rec, tags)
	d.Nevent = nevent
	return d
}

// serveList is GET /list/<pubkey> (BUD-12): the pubkey's blobs, newest
// first, with since/until and cursor/limit.
func (n *Node) serveList(w http.ResponseWriter, r *http.Request) {
	pk := r.PathValue("pubkey")
	if !event.IsHex(pk, 64) {
		blossomError(w, refusal(http.StatusBadRequest, "pubkey %q: want 64 lowercase hex digits", pk))
		return
	}
	q := r.URL.Query()
	num := func(name string) (int64, error) {
		s := q.Get(name)
		if s == "" {
			return 0, nil
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 0 {
			return 0, refusal(http.StatusBadRequest, "%s=%q is not a non-negative integer", name, s)
		}
		return v, nil
	}
	since, err1 := num("since")
	until, err2 := num("until")
	limit, err3 := num("limit")
	if err := errors.Join(err1, err2, err3); err != nil {
		blossomError(w, err)
		return
	}
	cursor := q.Get("cursor")
	n.blossom.mu.Lock()
	recs := n.blossom.recs.List(pk, since, until)
	n.blossom.mu.Unlock()
	if cursor != "" {
		for i, rec := range recs {
			if rec.SHA256 == cursor {
				recs = recs[i+1:]
				break
			}
		}
	}
	if limit > 0 && int64(len(recs)) > limit {
		recs = recs[:limit]
	}
	out := make([]blossom.Descriptor, 0, len(recs))
	for _, rec := range recs {
		out = append(out, blossom.NewDescriptor(n.publicHTTPURL(), rec, nil))
	}
	cors(w)
	writeJSON(w, http.StatusOK, out)
}

// blobName is <sha256>[.ext] in a path.
var blobName = regexp.MustCompile(`^([0-9a-f]{64})(\.[A-Za-z0-9]{1,10})?$`)

// serveDelete is DELETE /<sha256> (BUD-12): the signer stops owning the
// blob; the blob goes when no owner is left.
func (n *Node) serveDelete(w http.ResponseWriter, r *http.Request) {
	m := blobName.FindStringSubmatch(r.PathValue("name"))
	if m == nil {
		blossomError(w, refusal(http.StatusBadRequest, "DELETE /<sha256>: %q is not a sha256", r.PathValue("name")))
		return
	}
	sha := m[1]
	a, err := n.authorize(r, blossom.Request{Verb: blossom.VerbDelete, SHA256: sha, NeedX: true})
	if err != nil {
		blossomError(w, err)
		return
	}
	b := n.blossom
	b.commit.Lock()
	defer b.commit.Unlock()
	b.mu.Lock()
	rec, _ := b.recs.Get(a.PubKey, sha)
	removed, last := b.recs.Remove(a.PubKey, sha)
	var err2 error
	if removed {
		if err2 = b.save(); err2 != nil {
			b.recs.Add(a.PubKey, rec)
		}
	}
	b.mu.Unlock()
	switch {
	case !removed:
		blossomError(w, refusal(http.StatusNotFound, "blob %s is not one this pubkey uploaded here", sha))
		return
	case err2 != nil:
		blossomError(w, err2)
		return
	}
	if last {
		if err := n.dropBlob(r.Context(), sha); err != nil {
			n.log.Warn("blossom delete: the blob stays in part", "sha256", sha, "err", err)
		}
	}
	cors(w)
	writeJSON(w, http.StatusOK, map[string]string{"message": "deleted", "sha256": sha})
}

// dropBlob removes a blob no owner holds: its chunks are unpinned and,
// when nothing else pins them (a `cairn share`, a pin), deleted, with the
// node's chunk map and kind 1063 of it (NIP-09 deletion, signed by the
// node).
func (n *Node) dropBlob(ctx context.Context, sha string) error {
	// The blob's file is found before its rendition goes: the rendition's
	// deletion takes the blob's kind 1063 too (it names the rendition's
	// root).
	f := n.fileBySHA256(ctx, sha)
	var rendErr error
	if s := streamOf(n.ownFileEvent(ctx, sha)); s != "" && s != sha {
		rendErr = n.dropBlob(ctx, s)
	}
	defer n.dropCached(sha)
	if f == nil {
		return rendErr
	}
	stillUsed := false
	errs := []error{rendErr}
	for _, h := range f.Map.Chunks {
		if err := n.blobs.Unpin(h, PinBlossom); err != nil {
			errs = append(errs, err)
		}
		if len(n.blobs.Pins(h)) > 0 {
			stillUsed = true
		}
	}
	if stillUsed {
		return errors.Join(errs...)
	}
	for _, h := range f.Map.Chunks {
		if err := n.blobs.Delete(h); err != nil {
			errs = append(errs, err)
		}
	}
	del := nostr.Event{Kind: 5, CreatedAt: nostr.Now(), Content: "Blossom blob deleted by its last owner"}
	root := f.Root()
	n.home.st.Query(ctx, nostr.Filter{Kinds: []int{chunkmap.KindFileMetadata, chunkmap.KindChunkMap}, Authors: []string{n.key.Public}}, 0, func(raw []byte) error {
		ev, err := event.Decode(raw)
		if err != nil {
			return nil
		}
		if ev.Kind == chunkmap.KindChunkMap && ev.ID == f.Event.ID ||
			ev.Kind == chunkmap.KindFileMetadata && (ev.Tags.FindWithValue("x", sha) != nil || strings.Contains(string(raw), root)) {
			del.Tags = append(del.Tags, nostr.Tag{"e", ev.ID}, nostr.Tag{"k", strconv.Itoa(ev.Kind)})
		}
		return nil
	})
	if len(del.Tags) > 0 {
		if err := n.peer.PublishOwn(ctx, &del); err != nil {
			errs = append(errs, fmt.Errorf("publishing the deletion of its events: %w", err))
		}
	}
	return errors.Join(errs...)
}

// mirrorRequest is PUT /mirror's body (BUD-04).
type mirrorRequest struct {
	URL string `json:"url"`
}

// errLocalOrigin: a mirror URL led to an address the node does not fetch
// from (MirrorLocal is off).
var errLocalOrigin = errors.New("the mirror URL leads to a loopback, private or link-local address, which this node does not fetch from (--blossom-mirror-local allows it)")

// mirrorClient fetches mirrored blobs; its timeout bounds a whole fetch.
// Without local, every connection (redirects too) is refused unless its
// address, as resolved, is a public one.
func mirrorClient(local bool) *http.Client {
	d := &net.Dialer{Timeout: 30 * time.Second}
	if !local {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip := net.ParseIP(host)
			if ip == nil || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() ||
				ip.IsMulticast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() {
				return errLocalOrigin
			}
			return nil
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = d.DialContext
	tr.Proxy = nil // the check is of the origin's address, not a proxy's
	return &http.Client{Timeout: 10 * time.Minute, Transport: tr}
}

// mirror is PUT /mirror (BUD-04): fetch a blob from a URL, check its
// sha256 against the token's x tags, keep it as an upload.
func (n *Node) mirror(r *http.Request) (*blossom.Descriptor, bool, error) {
	a, err := n.authorize(r, blossom.Request{Verb: blossom.VerbUpload})
	if err != nil {
		return nil, false, err
	}
	if len(a.X) == 0 {
		return nil, false, refusal(http.StatusUnauthorized, "authorization event has no x tag: it must name the mirrored blob's sha256")
	}
	var req mirrorRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		return nil, false, refusal(http.StatusBadRequest, "body must be {\"url\": \"…\"}: %v", err)
	}
	u, err := url.Parse(req.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, false, refusal(http.StatusBadRequest, "url %q: want an http or https URL", req.URL)
	}
	// X-SHA-256 or the URL names the blob (BUD-01 paths do): one held
	// already is not fetched again.
	named, err := headerSHA(r)
	if err != nil {
		return nil, false, err
	}
	if m := blobName.FindStringSubmatch(pathBase(u.Path)); named == "" && m != nil {
		named = m[1]
	}
	if !a.Allows(named) {
		named = ""
	}
	if err := n.mayUpload(a.PubKey, named, -1, ""); err != nil {
		return nil, false, err
	}
	if named != "" {
		if d, ok, err := n.keepExisting(r.Context(), a.PubKey, named); ok || err != nil {
			return d, false, err
		}
	}
	greq, err := http.NewRequestWithContext(r.Context(), http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, false, refusal(http.StatusBadRequest, "url %q: %v", req.URL, err)
	}
	res, err := n.blossom.mirror.Do(greq)
	if errors.Is(err, errLocalOrigin) {
		return nil, false, refusal(http.StatusForbidden, "%v: %s", errLocalOrigin, u.Redacted())
	}
	if err != nil {
		return nil, false, refusal(http.StatusBadGateway, "fetching %s: %v", u.Redacted(), err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, false, refusal(http.StatusBadGateway, "fetching %s: the origin answered %s", u.Redacted(), res.Status)
	}
	typ := blossom.BaseType(res.Header.Get("Content-Type"))
	if err := n.mayUpload(a.PubKey, named, res.ContentLength, typ); err != nil {
		return nil, false, err
	}
	tmp, sum, size, err := n.receive(r.Context(), res.Body, res.ContentLength, n.uploadLimit(a.PubKey, named))
	if err != nil {
		var rf *blossom.Refusal
		if errors.As(err, &rf) && rf.Status == http.StatusBadRequest {
			rf.Status = http.StatusBadGateway // the origin's body, not the client's
		}
		return nil, false, err
	}
	defer os.Remove(tmp)
	got := hex.EncodeToString(sum[:])
	if !a.Allows(got) {
		return nil, false, refusal(http.StatusConflict, "the blob at %s has sha256 %s, which the authorization event's x tags do not name", u.Redacted(), got)
	}
	return n.keepBlob(r.Context(), a.PubKey, tmp, got, size, typ)
}

func pathBase(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[i+1:]
	}
	return p
}

// blossomInfo is GET /.well-known/blossom: the upload policy.
type blossomInfo struct {
	Upload    string   `json:"upload"` // everyone, owner or allowlist
	Owner     string   `json:"owner"`  // the node's pubkey
	Allowlist int      `json:"allowlist"`
	MaxSize   int64    `json:"max_size"` // 0: no limit
	Quota     int64    `json:"quota"`    // per pubkey; 0: no limit
	Types     []string `json:"types"`    // empty: any
	Endpoints []string `json:"endpoints"`
	// PrivateGet: GET and HEAD of blobs need a t=get token.
	PrivateGet bool `json:"private_get"`
}

func (n *Node) serveBlossomInfo(w http.ResponseWriter, _ *http.Request) {
	p := n.blossom.policy
	cors(w)
	writeJSON(w, http.StatusOK, blossomInfo{
		Upload: string(p.Mode), Owner: p.Owner, Allowlist: len(p.Allow), MaxSize: p.MaxSize, Quota: p.Quota,
		Types: append([]string{}, p.Types...), PrivateGet: p.PrivateGet,
		Endpoints: []string{"GET /<sha256>", "HEAD /<sha256>", "PUT /upload", "HEAD /upload", "GET /list/<pubkey>", "DELETE /<sha256>", "PUT /mirror"},
	})
}

// statusBlossom is the Blossom part of /api/status.
type statusBlossom struct {
	Upload string `json:"upload"`
	// Blobs and Bytes are what the owner records hold.
	Blobs int   `json:"blobs"`
	Bytes int64 `json:"bytes"`
	// Uploads counts blobs stored by upload or mirror in this run;
	// BytesServed the bytes of Blossom blobs served by GET.
	Uploads     uint64 `json:"uploads"`
	BytesServed uint64 `json:"bytes_served"`
	// Refused counts uploads and mirrors refused this run.
	Refused uint64 `json:"refused"`
}

func (n *Node) blossomStatus() statusBlossom {
	b := n.blossom
	b.mu.Lock()
	blobs, bytes := b.recs.Totals()
	b.mu.Unlock()
	return statusBlossom{Upload: string(b.policy.Mode), Blobs: blobs, Bytes: bytes, Uploads: b.uploads.Load(), BytesServed: b.served.Load(), Refused: b.refused.Load()}
}

// isBlossomBlob reports whether sha is a Blossom upload here.
func (n *Node) isBlossomBlob(sha string) bool {
	n.blossom.mu.Lock()
	defer n.blossom.mu.Unlock()
	_, ok := n.blossom.recs.Held(sha)
	return ok
}
